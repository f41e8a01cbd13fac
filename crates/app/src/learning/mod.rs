//! 生涯教育 on-line's own learning: the 日医雑誌 quiz (問題解答), 日医e-ラーニング and 日医雑誌
//! on-line, authored by JMA staff (drafts, versions, publication dates), answered by members
//! (checked on every request) and credited through [`crate::cme::credit`] once per origin key;
//! and the public calendar of credit-awarding sessions with My Page ①'s suggestions.

pub mod authoring;
pub mod calendar;
pub mod demo;
pub mod elearning;
pub mod postcards;
pub mod quiz;

use chrono::NaiveDate;
use mamis_domain::learning::{Question, QuizCredit, QuizDates};
use mamis_domain::time::japan_date;
use mamis_domain::{AssociationLevel, Timestamp};
use mamis_store::{
    AccessStore, LearningKind, LearningStore, LearningVersion, PortalSubject, RegistryStore, Store,
    Tx, Verification,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{App, AppError};

pub use authoring::{Draft, SaveError, save};
pub use elearning::{AttemptError, AttemptOutcome, CreditJob};
pub use quiz::{AnswerError, PublishJob};

/// A quiz set's document (kept as the version's JSON body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuizDoc {
    /// What the set is about (the feature topic).
    pub intro: String,
    /// The questions with keys and explanations.
    pub questions: Vec<Question>,
    /// What a pass earns.
    pub credits: Vec<QuizCredit>,
}

/// An e-learning content's document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentDoc {
    /// The lesson text.
    pub text: String,
    /// A video link (https), if any.
    pub video_url: Option<String>,
    /// The slides PDF's SHA-256, if any (served from `learning_files`).
    pub slides: Option<String>,
    /// The one code a pass earns.
    pub code: u16,
    /// Also counts as 専門医共通講習.
    pub specialist_common: bool,
    /// The self-assessment.
    pub questions: Vec<Question>,
}

/// A journal article's document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleDoc {
    /// Authors as printed.
    pub authors: String,
    /// The article text (paragraphs separated by blank lines).
    pub text: String,
}

/// An item's document, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Doc {
    /// A quiz set.
    Quiz(QuizDoc),
    /// An e-learning content.
    Content(ContentDoc),
    /// An article.
    Article(ArticleDoc),
}

/// The newest version of an item with its document read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The stored version.
    pub version: LearningVersion,
    /// Its document.
    pub doc: Doc,
}

impl Item {
    /// Reads a stored version's body (a defect if it does not parse: only this module writes it).
    pub fn from_version(v: LearningVersion) -> Result<Self, AppError> {
        let bad = |e: serde_json::Error| AppError::Internal(format!("learning body: {e}"));
        let doc = match v.kind {
            LearningKind::Quiz => Doc::Quiz(serde_json::from_str(&v.body).map_err(bad)?),
            LearningKind::Content => Doc::Content(serde_json::from_str(&v.body).map_err(bad)?),
            LearningKind::Article => Doc::Article(serde_json::from_str(&v.body).map_err(bad)?),
        };
        Ok(Self { version: v, doc })
    }

    /// Whether members can see it on `today` (published, and the day has come).
    pub fn is_open(&self, today: NaiveDate) -> bool {
        self.version.published_on.is_some_and(|d| d <= today)
    }

    /// A quiz set's dates (`None` for other kinds or a draft).
    pub fn quiz_dates(&self) -> Option<QuizDates> {
        Some(QuizDates {
            opens_on: self.version.published_on?,
            deadline: self.version.deadline?,
            answers_on: self.version.answers_on?,
        })
    }

    /// The quiz document, if this is a quiz set.
    pub fn quiz(&self) -> Option<&QuizDoc> {
        match &self.doc {
            Doc::Quiz(q) => Some(q),
            _ => None,
        }
    }

    /// The content document, if this is an e-learning content.
    pub fn content(&self) -> Option<&ContentDoc> {
        match &self.doc {
            Doc::Content(c) => Some(c),
            _ => None,
        }
    }

    /// The article document, if this is an article.
    pub fn article(&self) -> Option<&ArticleDoc> {
        match &self.doc {
            Doc::Article(a) => Some(a),
            _ => None,
        }
    }
}

/// The Japan date of an instant (what "today" means for deadlines and publication).
pub fn today<S: Store>(app: &App<S>) -> NaiveDate {
    japan_date(app.now())
}

/// The instant a Japan day starts (jobs due "on" a date run from then).
pub fn day_start(d: NaiveDate) -> Timestamp {
    use chrono::TimeZone;
    mamis_domain::time::japan()
        .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
        .single()
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_default()
}

/// The items of a kind open to members today, newest issue first.
pub async fn open_items<S: Store>(app: &App<S>, kind: LearningKind) -> Result<Vec<Item>, AppError> {
    let today = today(app);
    let mut tx = app.store.read().await?;
    let rows = tx.learning_items(kind).await?;
    tx.rollback().await?;
    let mut out = Vec::new();
    for v in rows {
        let item = Item::from_version(v)?;
        if item.is_open(today) {
            out.push(item);
        }
    }
    Ok(out)
}

/// One item of a kind open to members today; `NotFound` for drafts, future items, other kinds.
pub async fn open_item<S: Store>(
    app: &App<S>,
    kind: LearningKind,
    id: Uuid,
) -> Result<Item, AppError> {
    let mut tx = app.store.read().await?;
    let v = tx.learning_item(id).await?;
    tx.rollback().await?;
    let item = v
        .filter(|v| v.kind == kind)
        .map(Item::from_version)
        .transpose()?
        .ok_or(AppError::NotFound)?;
    if !item.is_open(today(app)) {
        return Err(AppError::NotFound);
    }
    Ok(item)
}

/// Whether the doctor holds an active JMA membership on `day` in the register.
pub async fn jma_member_on<T: RegistryStore + Send>(
    tx: &mut T,
    doctor: Uuid,
    day: NaiveDate,
) -> Result<bool, AppError> {
    Ok(tx
        .memberships_of(doctor)
        .await?
        .iter()
        .any(|m| m.association.level() == AssociationLevel::Jma && m.active_on(day)))
}

/// Who is behind a portal request, decided now (membership is checked on every request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// No portal session: log in first.
    Login,
    /// The provider no longer accepts the session: log in again.
    LoginAgain,
    /// A MAMIS_ID not yet verified as a doctor of the register.
    Unverified,
    /// Logged in, not a JMA member today: shown how to join, never the content.
    NotMember,
    /// An active JMA member: the doctor of the register.
    Member {
        /// The doctor.
        doctor: Uuid,
        /// Who acts, as ledger and answer rows name them (`account:…` or `member:…`).
        actor: String,
    },
}

/// Decides the gate for a portal cookie: the provider's answer (refreshed within five minutes)
/// and the register's membership today must both say "member", so a withdrawn membership
/// closes the areas at the next request.
pub async fn gate<S: Store>(
    app: &App<S>,
    http: &reqwest::Client,
    cookie: Option<&str>,
) -> Result<Gate, AppError> {
    use crate::portal::rp::{self, Access};
    let Some(cookie) = cookie else {
        return Ok(Gate::Login);
    };
    let session = crate::identity::sessions::current_portal(app, cookie)
        .await
        .map_err(|e| match e {
            crate::identity::IdentityError::App(a) => a,
            other => AppError::Internal(other.to_string()),
        })?;
    let Some(session) = session else {
        return Ok(Gate::Login);
    };
    match rp::access(app, http, cookie, &session).await? {
        Access::LoginAgain => return Ok(Gate::LoginAgain),
        Access::Unverified => return Ok(Gate::Unverified),
        Access::NotMember => return Ok(Gate::NotMember),
        Access::Member => {}
    }
    let mut tx = app.store.read().await?;
    let (doctor, actor) = match &session.subject {
        PortalSubject::Mamis(account) => {
            let a = tx.account(*account).await?;
            match a.filter(|a| a.verification == Verification::Verified) {
                Some(a) => (a.doctor_id, format!("account:{}", a.id)),
                None => (None, String::new()),
            }
        }
        PortalSubject::Legacy(m) => (
            tx.doctor_by_member_id(m).await?.map(|d| d.id),
            format!("member:{}", m.as_str()),
        ),
    };
    let Some(doctor) = doctor else {
        tx.rollback().await?;
        return Ok(Gate::Unverified);
    };
    let member = jma_member_on(&mut tx, doctor, today(app)).await?;
    tx.rollback().await?;
    Ok(if member {
        Gate::Member { doctor, actor }
    } else {
        Gate::NotMember
    })
}

/// The contents flagged 専門医共通講習, for My Page ③'s marks on e-learning credits.
pub async fn specialist_contents<S: Store>(app: &App<S>) -> Result<Vec<Uuid>, AppError> {
    let mut tx = app.store.read().await?;
    let rows = tx.learning_items(LearningKind::Content).await?;
    tx.rollback().await?;
    let mut out = Vec::new();
    for v in rows {
        let id = v.item_id;
        if let Doc::Content(c) = Item::from_version(v)?.doc
            && c.specialist_common
        {
            out.push(id);
        }
    }
    Ok(out)
}

/// Whether a ledger origin key is an e-learning credit of a content flagged 専門医共通講習.
pub fn is_specialist_key(key: &str, flagged: &[Uuid]) -> bool {
    key.strip_prefix("elearning:")
        .and_then(|rest| rest.split(':').next())
        .and_then(|id| Uuid::parse_str(id).ok())
        .is_some_and(|id| flagged.contains(&id))
}

/// Staff need the JMA's catalogue right to author: the national catalogue of learning is the
/// JMA's, like the curriculum codes.
pub(crate) fn require_author(who: &mamis_domain::Principal) -> Result<(), AppError> {
    crate::authz::require(
        who,
        mamis_domain::Action::EditCatalogue,
        &mamis_domain::Target::System,
    )
}
