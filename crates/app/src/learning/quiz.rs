//! 日医雑誌 quiz (問題解答): one answer per doctor and set (web or postcard), by a JMA member at
//! the time of answering; on the set's publication date a job marks every answer against the
//! newest key and credits the passes (dated on the answer day) once per origin key. Before
//! that date nothing is shown or credited; a corrected key runs the job again, which can only
//! add credits.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use mamis_domain::learning::{self as rules, Score};
use mamis_domain::{HalfUnits, Principal, Source};
use mamis_store::{
    AnswerChannel, Job, LearningKind, LearningStore, LedgerStore, QuizAnswerRow, Store, Tx,
};
use uuid::Uuid;

use super::{Item, QuizDoc, jma_member_on, today};
use crate::cme::{self, NewCredit, PROGRAMME};
use crate::jobs::{BoxFuture, JobHandler};
use crate::{App, AppError};

/// The publication job's kind.
pub const PUBLISH_JOB: &str = "learning.quiz_publish";

/// Why an answer was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The set is not open (before its opening day or after its deadline).
    #[error("the set is not open for answers")]
    Closed,
    /// The doctor already answered this set (on the web or by postcard).
    #[error("already answered")]
    AlreadyAnswered,
    /// Not a JMA member on the answer day.
    #[error("not a member")]
    NotMember,
    /// An answer names a choice the question does not have.
    #[error(transparent)]
    Invalid(#[from] rules::LearningError),
    /// Store, not found and the like.
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<mamis_store::StoreError> for AnswerError {
    fn from(e: mamis_store::StoreError) -> Self {
        Self::App(e.into())
    }
}

/// Encodes answers as stored (lists of 0-based choices).
pub fn encode(answers: &[BTreeSet<u8>]) -> String {
    serde_json::to_string(answers).unwrap_or_else(|_| "[]".into())
}

/// Reads stored answers.
pub fn decode(s: &str) -> Result<Vec<BTreeSet<u8>>, AppError> {
    serde_json::from_str(s).map_err(|e| AppError::Internal(format!("quiz answers: {e}")))
}

/// Records a member's web answer to an open set, in one write transaction that checks the
/// dates, the membership today and that the doctor has not answered before.
pub async fn answer<S: Store>(
    app: &App<S>,
    doctor: Uuid,
    actor: &str,
    set: Uuid,
    answers: Vec<BTreeSet<u8>>,
) -> Result<(), AnswerError> {
    let now = app.now();
    let day = today(app);
    let mut tx = app.store.write().await?;
    let item = tx
        .learning_item(set)
        .await?
        .filter(|v| v.kind == LearningKind::Quiz)
        .map(Item::from_version)
        .transpose()?
        .ok_or(AppError::NotFound)?;
    let (Some(dates), Some(doc)) = (item.quiz_dates(), item.quiz()) else {
        return Err(AppError::NotFound.into());
    };
    if !item.is_open(day) {
        return Err(AppError::NotFound.into());
    }
    if !dates.accepts(day) {
        return Err(AnswerError::Closed);
    }
    rules::validate_answers(&doc.questions, &answers)?;
    if !jma_member_on(&mut tx, doctor, day).await? {
        return Err(AnswerError::NotMember);
    }
    let mut padded = answers;
    padded.resize(doc.questions.len(), BTreeSet::new());
    let row = QuizAnswerRow {
        set_id: set,
        doctor_id: doctor,
        channel: AnswerChannel::Web,
        answers: encode(&padded),
        answered_on: day,
        recorded_by: actor.to_owned(),
        recorded_at: now,
    };
    if !tx.insert_quiz_answer(&row).await? {
        tx.rollback().await?;
        return Err(AnswerError::AlreadyAnswered);
    }
    tx.commit().await?;
    Ok(())
}

/// What a member sees of one set.
#[derive(Debug, Clone)]
pub struct QuizView {
    /// The set at its newest version.
    pub item: Item,
    /// The member's answer, if any.
    pub answer: Option<QuizAnswerRow>,
    /// Whether key, explanations and the score may be shown (publication date reached).
    pub published: bool,
    /// Whether answers are accepted today.
    pub open: bool,
    /// The member's score, only once published.
    pub score: Option<Score>,
}

/// One set as a member sees it today: the score only from the publication date on.
pub async fn view<S: Store>(app: &App<S>, doctor: Uuid, set: Uuid) -> Result<QuizView, AppError> {
    let item = super::open_item(app, LearningKind::Quiz, set).await?;
    let day = today(app);
    let mut tx = app.store.read().await?;
    let answer = tx
        .quiz_answers_of_doctor(doctor)
        .await?
        .into_iter()
        .find(|a| a.set_id == set);
    tx.rollback().await?;
    let dates = item.quiz_dates().ok_or(AppError::NotFound)?;
    let published = dates.published(day);
    let score = match (&answer, item.quiz(), published) {
        (Some(a), Some(doc), true) => Some(Score::mark(&doc.questions, &decode(&a.answers)?)),
        _ => None,
    };
    Ok(QuizView {
        open: dates.accepts(day),
        item,
        answer,
        published,
        score,
    })
}

/// The credits a set's answers earn under its newest key.
pub(crate) fn credits_for(
    set: Uuid,
    title: &str,
    doc: &QuizDoc,
    answers: &[QuizAnswerRow],
) -> Result<Vec<NewCredit>, AppError> {
    let mut out = Vec::new();
    for a in answers {
        let score = Score::mark(&doc.questions, &decode(&a.answers)?);
        for c in rules::quiz_credits(score, &doc.credits) {
            out.push(NewCredit {
                doctor: a.doctor_id,
                date: a.answered_on,
                source: Source::JournalQuiz,
                code: c.code,
                half_units: c.half_units,
                origin_key: rules::quiz_origin_key(set, c.code, a.doctor_id),
                note: Some(title.to_owned()),
            });
        }
    }
    Ok(out)
}

/// Marks and credits a published set in one write transaction; nothing before its publication
/// date. Returns how many entries were written. Safe to run any number of times.
pub async fn publish<S: Store>(app: &App<S>, set: Uuid) -> Result<u64, AppError> {
    let now = app.now();
    let day = today(app);
    let mut tx = app.store.write().await?;
    let Some(item) = tx
        .learning_item(set)
        .await?
        .filter(|v| v.kind == LearningKind::Quiz)
        .map(Item::from_version)
        .transpose()?
    else {
        tx.rollback().await?;
        return Ok(0);
    };
    let (Some(dates), Some(doc)) = (item.quiz_dates(), item.quiz()) else {
        tx.rollback().await?;
        return Ok(0);
    };
    if !dates.published(day) {
        // a later version moved the date; its own job runs then
        tx.rollback().await?;
        return Ok(0);
    }
    let answers = tx.quiz_answers_of_set(set).await?;
    let credits = credits_for(set, &item.version.title, doc, &answers)?;
    let done = cme::credit(&mut tx, &credits, &format!("job:{PUBLISH_JOB}"), now).await?;
    tx.commit().await?;
    Ok(done.written)
}

/// Runs [`publish`] for the job's set.
pub struct PublishJob;

impl<S: Store> JobHandler<S> for PublishJob {
    fn kind(&self) -> &'static str {
        PUBLISH_JOB
    }

    fn run<'a>(&'a self, app: &'a App<S>, job: &'a Job) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let set = job
                .payload
                .get("set")
                .and_then(|v| v.as_str())
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or_else(|| "payload without set".to_owned())?;
            publish(app, set)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

/// A member's quiz history: each answered set with its score once published.
#[derive(Debug, Clone)]
pub struct Answered {
    /// The set.
    pub item: Item,
    /// The answer day.
    pub answered_on: NaiveDate,
    /// The channel.
    pub channel: AnswerChannel,
    /// The score, once published.
    pub score: Option<Score>,
    /// Units the set awards on a pass (shown once published).
    pub units: HalfUnits,
}

/// Every set a doctor answered, newest issue first.
pub async fn answered<S: Store>(app: &App<S>, doctor: Uuid) -> Result<Vec<Answered>, AppError> {
    let day = today(app);
    let mut tx = app.store.read().await?;
    let answers = tx.quiz_answers_of_doctor(doctor).await?;
    let mut out = Vec::new();
    for a in answers {
        let Some(item) = tx
            .learning_item(a.set_id)
            .await?
            .map(Item::from_version)
            .transpose()?
        else {
            continue;
        };
        let (Some(dates), Some(doc)) = (item.quiz_dates(), item.quiz()) else {
            continue;
        };
        let score = dates
            .published(day)
            .then(|| decode(&a.answers).map(|x| Score::mark(&doc.questions, &x)))
            .transpose()?;
        let units = doc.credits.iter().map(|c| c.half_units).sum();
        out.push(Answered {
            answered_on: a.answered_on,
            channel: a.channel,
            score,
            units,
            item,
        });
    }
    tx.rollback().await?;
    out.sort_by(|a, b| b.item.version.issue.cmp(&a.item.version.issue));
    Ok(out)
}

/// Whether the ledger holds this doctor's credit of a set (for tests and the result page).
pub async fn credited<S: Store>(app: &App<S>, doctor: Uuid, set: Uuid) -> Result<bool, AppError> {
    let mut tx = app.store.read().await?;
    let entries = tx.ledger_of(doctor, PROGRAMME).await?;
    tx.rollback().await?;
    let prefix = format!("quiz:{set}:");
    Ok(entries
        .iter()
        .any(|e| e.origin_key.starts_with(&prefix) && !e.is_reversal()))
}

/// Who recorded a postcard answer (`import:` + the staff member).
pub(crate) fn postcard_actor(who: &Principal) -> String {
    format!("import:{}", who.audit_name())
}
