//! Authoring by JMA staff: quiz sets, contents and articles saved as drafts or with a
//! publication date; every save is a new version; after publication what decides a credit
//! (a set's credits and question shape, a content's code) no longer changes, so no credit
//! already earned changes either — a corrected key can only add credits.

use chrono::NaiveDate;
use mamis_domain::curriculum::Catalogue;
use mamis_domain::learning::{self as rules, JournalIssue, LearningError};
use mamis_domain::rules::Rules;
use mamis_domain::{Principal, Timestamp};
use mamis_store::{JobStore, LearningKind, LearningStore, LearningVersion, NewJob, Store, Tx};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Doc, Item, today};
use crate::audit::{self, Entry};
use crate::cme::PROGRAMME;
use crate::{App, AppError};

/// Longest title accepted.
const MAX_TITLE: usize = 200;
/// Largest slide file accepted (10 MiB).
pub const MAX_SLIDES: usize = 10 * 1024 * 1024;

/// What an author submits.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The item edited; `None` creates one.
    pub item: Option<Uuid>,
    /// The journal issue (quiz sets and articles).
    pub issue: Option<String>,
    /// The heading.
    pub title: String,
    /// The opening day; `None` keeps it a draft members cannot see.
    pub published_on: Option<NaiveDate>,
    /// A quiz set's deadline.
    pub deadline: Option<NaiveDate>,
    /// A quiz set's publication date of key and results.
    pub answers_on: Option<NaiveDate>,
    /// The document (its kind is the item's kind).
    pub doc: Doc,
    /// A new slide PDF for a content (replaces the previous one).
    pub slides: Option<Vec<u8>>,
}

/// What is wrong with a draft, field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Title empty or too long.
    Title,
    /// Issue missing or malformed, or a special issue for a quiz.
    Issue(LearningError),
    /// Deadline and publication dates missing or out of order.
    Dates,
    /// A question is malformed.
    Questions(LearningError),
    /// Credits malformed.
    Credits,
    /// A code that is not in the current catalogue.
    UnknownCode(u16),
    /// The video link is not an https URL.
    VideoUrl,
    /// The slides are not a PDF or are too large.
    Slides,
    /// After publication, credits (or a content's code) cannot change.
    CreditsFrozen,
    /// After publication, a set's number of questions and choices cannot change (answers are
    /// marked against it).
    ShapeFrozen,
    /// The item is of another kind.
    KindChanged,
}

/// Why a save did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The draft has problems; nothing was written.
    #[error("invalid draft")]
    Invalid(Vec<Problem>),
    /// Forbidden, not found, conflict (another editor saved the same version first).
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<mamis_store::StoreError> for SaveError {
    fn from(e: mamis_store::StoreError) -> Self {
        Self::App(e.into())
    }
}

fn kind_of(doc: &Doc) -> LearningKind {
    match doc {
        Doc::Quiz(_) => LearningKind::Quiz,
        Doc::Content(_) => LearningKind::Content,
        Doc::Article(_) => LearningKind::Article,
    }
}

fn known_code(code: u16) -> bool {
    let version = &Rules::embedded(PROGRAMME).catalogue_version;
    Catalogue::embedded()
        .parse(version, i64::from(code))
        .is_ok()
}

/// Checks a draft against the rules and the published version before it.
fn check(d: &Draft, previous: Option<&Item>, today: NaiveDate) -> Vec<Problem> {
    let mut p = Vec::new();
    let title = d.title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE {
        p.push(Problem::Title);
    }
    let kind = kind_of(&d.doc);
    if previous.is_some_and(|x| x.version.kind != kind) {
        p.push(Problem::KindChanged);
    }
    if matches!(kind, LearningKind::Quiz | LearningKind::Article) {
        match d.issue.as_deref().map(JournalIssue::parse) {
            None => p.push(Problem::Issue(LearningError::Issue)),
            Some(Err(e)) => p.push(Problem::Issue(e)),
            Some(Ok(i)) if kind == LearningKind::Quiz && i.is_special() => {
                p.push(Problem::Issue(LearningError::SpecialIssue));
            }
            Some(Ok(_)) => {}
        }
    }
    let published = previous.is_some_and(|x| x.is_open(today));
    match &d.doc {
        Doc::Quiz(q) => {
            let dates_ok = match (d.deadline, d.answers_on) {
                (Some(deadline), Some(answers_on)) => rules::QuizDates {
                    opens_on: d.published_on.unwrap_or(deadline),
                    deadline,
                    answers_on,
                }
                .validate()
                .is_ok(),
                _ => false,
            };
            if !dates_ok {
                p.push(Problem::Dates);
            }
            if let Err(e) = rules::validate_questions(&q.questions) {
                p.push(Problem::Questions(e));
            }
            if rules::validate_credits(&q.credits).is_err() {
                p.push(Problem::Credits);
            }
            for c in &q.credits {
                if !known_code(c.code) {
                    p.push(Problem::UnknownCode(c.code));
                }
            }
            if let Some(old) = previous.and_then(Item::quiz).filter(|_| published) {
                if old.credits != q.credits {
                    p.push(Problem::CreditsFrozen);
                }
                let shape = |qs: &[rules::Question]| -> Vec<(usize, rules::QuestionKind)> {
                    qs.iter().map(|x| (x.choices.len(), x.kind)).collect()
                };
                if shape(&old.questions) != shape(&q.questions) {
                    p.push(Problem::ShapeFrozen);
                }
            }
        }
        Doc::Content(c) => {
            if let Err(e) = rules::validate_questions(&c.questions) {
                p.push(Problem::Questions(e));
            }
            if !known_code(c.code) {
                p.push(Problem::UnknownCode(c.code));
            }
            if let Some(v) = &c.video_url
                && !url::Url::parse(v).is_ok_and(|u| u.scheme() == "https" && u.host().is_some())
            {
                p.push(Problem::VideoUrl);
            }
            if let Some(s) = &d.slides
                && (!s.starts_with(b"%PDF-") || s.len() > MAX_SLIDES)
            {
                p.push(Problem::Slides);
            }
            if let Some(old) = previous.and_then(Item::content).filter(|_| published)
                && (old.code != c.code || old.specialist_common != c.specialist_common)
            {
                p.push(Problem::CreditsFrozen);
            }
        }
        Doc::Article(_) => {}
    }
    p
}

/// Saves a draft as the item's next version, in one transaction with its audit record and, for
/// a quiz set with a publication date, the job that credits it on that date (at once when the
/// date has passed: a corrected key). Returns the item id and the version written.
pub async fn save<S: Store>(
    app: &App<S>,
    who: &Principal,
    mut draft: Draft,
) -> Result<(Uuid, i32), SaveError> {
    super::require_author(who)?;
    let now = app.now();
    let today = today(app);
    let mut tx = app.store.write().await?;
    let previous = match draft.item {
        Some(id) => Some(
            tx.learning_item(id)
                .await?
                .map(Item::from_version)
                .transpose()?
                .ok_or(AppError::NotFound)?,
        ),
        None => None,
    };
    let problems = check(&draft, previous.as_ref(), today);
    if !problems.is_empty() {
        tx.rollback().await?;
        return Err(SaveError::Invalid(problems));
    }
    if let (Doc::Content(c), Some(bytes)) = (&mut draft.doc, draft.slides.take()) {
        let sha = hex::encode(Sha256::digest(&bytes));
        tx.put_learning_file(&sha, "application/pdf", &bytes)
            .await?;
        c.slides = Some(sha);
    } else if let (Doc::Content(c), Some(Doc::Content(old))) =
        (&mut draft.doc, previous.as_ref().map(|p| &p.doc))
        && c.slides.is_none()
    {
        c.slides = old.slides.clone();
    }
    let id = draft.item.unwrap_or_else(Uuid::now_v7);
    let version = previous.as_ref().map_or(1, |p| p.version.version + 1);
    let kind = kind_of(&draft.doc);
    let body = match &draft.doc {
        Doc::Quiz(q) => serde_json::to_string(q),
        Doc::Content(c) => serde_json::to_string(c),
        Doc::Article(a) => serde_json::to_string(a),
    }
    .map_err(|e| AppError::Internal(e.to_string()))?;
    let quiz = kind == LearningKind::Quiz;
    let row = LearningVersion {
        item_id: id,
        version,
        kind,
        issue: draft
            .issue
            .as_deref()
            .and_then(|i| JournalIssue::parse(i).ok())
            .map(JournalIssue::as_string),
        title: draft.title.trim().to_owned(),
        body,
        published_on: draft.published_on,
        deadline: draft.deadline.filter(|_| quiz),
        answers_on: draft.answers_on.filter(|_| quiz),
        saved_by: who.audit_name(),
        saved_at: now,
    };
    if !tx.insert_learning_version(&row).await? {
        tx.rollback().await?;
        return Err(AppError::Conflict("learning_versions_pkey".into()).into());
    }
    if let (true, Some(_), Some(answers_on)) = (quiz, row.published_on, row.answers_on) {
        schedule_publication(&mut tx, id, version, answers_on, now).await?;
    }
    audit::record(
        &mut tx,
        &app.config.audit_key,
        now,
        Entry {
            details: json!({
                "kind": kind.as_str(),
                "version": version,
                "published_on": row.published_on,
            }),
            ..Entry::new(who, "learning.save", format!("learning:{id}"))
        },
    )
    .await?;
    tx.commit().await?;
    Ok((id, version))
}

/// Queues the quiz publication job for a version: on its publication day, or now when that day
/// has passed (a corrected key after publication).
pub(crate) async fn schedule_publication<T: JobStore + Send>(
    tx: &mut T,
    set: Uuid,
    version: i32,
    answers_on: NaiveDate,
    now: Timestamp,
) -> Result<(), mamis_store::StoreError> {
    let run_at = super::day_start(answers_on).max(now);
    tx.enqueue_job(
        &NewJob {
            id: Uuid::now_v7(),
            kind: super::quiz::PUBLISH_JOB.into(),
            payload: json!({ "set": set }),
            idempotency_key: Some(format!("{}:{set}:{version}", super::quiz::PUBLISH_JOB)),
            run_at,
            max_attempts: crate::jobs::DEFAULT_MAX_ATTEMPTS,
        },
        now,
    )
    .await?;
    Ok(())
}

/// Every item of a kind at its newest version, drafts included, for the office list.
pub async fn list<S: Store>(
    app: &App<S>,
    who: &Principal,
    kind: LearningKind,
) -> Result<Vec<Item>, AppError> {
    super::require_author(who)?;
    let mut tx = app.store.read().await?;
    let rows = tx.learning_items(kind).await?;
    tx.rollback().await?;
    rows.into_iter().map(Item::from_version).collect()
}

/// An item's versions, oldest first, for the office page (preview and history).
pub async fn versions<S: Store>(
    app: &App<S>,
    who: &Principal,
    id: Uuid,
) -> Result<Vec<Item>, AppError> {
    super::require_author(who)?;
    let mut tx = app.store.read().await?;
    let rows = tx.learning_versions(id).await?;
    tx.rollback().await?;
    if rows.is_empty() {
        return Err(AppError::NotFound);
    }
    rows.into_iter().map(Item::from_version).collect()
}
