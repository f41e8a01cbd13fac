//! 日医e-ラーニング: a member takes a content's self-assessment as often as needed below 80 %;
//! a pass locks the content and earns 1 unit and its code, written by a job the next day
//! (dated on the pass) so the credit is visible, and certifiable, from the next day.

use std::collections::BTreeSet;

use mamis_domain::learning::{self as rules, Score};
use mamis_domain::{HalfUnits, Source};
use mamis_store::{AttemptRow, Job, JobStore, LearningKind, LearningStore, NewJob, Store, Tx};
use serde_json::json;
use uuid::Uuid;

use super::{Item, jma_member_on, today};
use crate::cme::{self, NewCredit};
use crate::jobs::{BoxFuture, JobHandler};
use crate::{App, AppError};

/// The credit job's kind.
pub const CREDIT_JOB: &str = "learning.elearning_credit";

/// One content is worth one unit.
const CONTENT_UNITS: HalfUnits = HalfUnits::new(2);

/// Why an attempt was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    /// The doctor passed this content already; it is locked.
    #[error("already passed")]
    Locked,
    /// Not a JMA member today.
    #[error("not a member")]
    NotMember,
    /// An answer names a choice the question does not have.
    #[error(transparent)]
    Invalid(#[from] rules::LearningError),
    /// Store, not found and the like.
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<mamis_store::StoreError> for AttemptError {
    fn from(e: mamis_store::StoreError) -> Self {
        Self::App(e.into())
    }
}

/// What an attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// The score.
    pub score: Score,
    /// Whether it reached 80 % (the content is now locked).
    pub passed: bool,
    /// The day the credit becomes visible, when passed.
    pub visible_from: Option<chrono::NaiveDate>,
}

/// Marks a member's self-assessment in one write transaction: membership today, not yet
/// passed, the attempt kept; a pass queues the credit for the next day.
pub async fn attempt<S: Store>(
    app: &App<S>,
    doctor: Uuid,
    content: Uuid,
    answers: Vec<BTreeSet<u8>>,
) -> Result<AttemptOutcome, AttemptError> {
    let now = app.now();
    let day = today(app);
    let mut tx = app.store.write().await?;
    let item = tx
        .learning_item(content)
        .await?
        .filter(|v| v.kind == LearningKind::Content)
        .map(Item::from_version)
        .transpose()?
        .filter(|i| i.is_open(day))
        .ok_or(AppError::NotFound)?;
    let Some(doc) = item.content() else {
        return Err(AppError::NotFound.into());
    };
    rules::validate_answers(&doc.questions, &answers)?;
    if !jma_member_on(&mut tx, doctor, day).await? {
        return Err(AttemptError::NotMember);
    }
    if tx
        .attempts_of(doctor)
        .await?
        .iter()
        .any(|a| a.content_id == content && a.passed)
    {
        return Err(AttemptError::Locked);
    }
    let score = Score::mark(&doc.questions, &answers);
    let passed = rules::content_passes(score);
    let row = AttemptRow {
        id: Uuid::now_v7(),
        content_id: content,
        version: item.version.version,
        doctor_id: doctor,
        correct: score.correct,
        total: score.total,
        passed,
        answered_on: day,
        at: now,
    };
    if !tx.insert_attempt(&row).await? {
        tx.rollback().await?;
        return Err(AttemptError::Locked);
    }
    let visible_from = passed.then(|| rules::content_visible_from(day));
    if let Some(from) = visible_from {
        tx.enqueue_job(
            &NewJob {
                id: Uuid::now_v7(),
                kind: CREDIT_JOB.into(),
                payload: json!({ "attempt": row.id }),
                idempotency_key: Some(format!("{CREDIT_JOB}:{}", row.id)),
                run_at: super::day_start(from),
                max_attempts: crate::jobs::DEFAULT_MAX_ATTEMPTS,
            },
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(AttemptOutcome {
        score,
        passed,
        visible_from,
    })
}

/// Writes a passed attempt's credit (once per content and doctor), dated on the pass.
pub async fn credit<S: Store>(app: &App<S>, attempt: Uuid) -> Result<u64, AppError> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    let Some(a) = tx.attempt(attempt).await?.filter(|a| a.passed) else {
        tx.rollback().await?;
        return Ok(0);
    };
    if today(app) < rules::content_visible_from(a.answered_on) {
        tx.rollback().await?;
        return Err(AppError::Conflict("not before the next day".into()));
    }
    let item = tx
        .learning_item(a.content_id)
        .await?
        .map(Item::from_version)
        .transpose()?
        .ok_or(AppError::NotFound)?;
    let Some(doc) = item.content() else {
        return Err(AppError::NotFound);
    };
    let credit = NewCredit {
        doctor: a.doctor_id,
        date: a.answered_on,
        source: Source::ELearning,
        code: doc.code,
        half_units: CONTENT_UNITS,
        origin_key: rules::content_origin_key(a.content_id, a.doctor_id),
        note: Some(item.version.title.clone()),
    };
    let done = cme::credit(&mut tx, &[credit], &format!("job:{CREDIT_JOB}"), now).await?;
    tx.commit().await?;
    Ok(done.written)
}

/// Runs [`credit`] for the job's attempt.
pub struct CreditJob;

impl<S: Store> JobHandler<S> for CreditJob {
    fn kind(&self) -> &'static str {
        CREDIT_JOB
    }

    fn run<'a>(&'a self, app: &'a App<S>, job: &'a Job) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let attempt = job
                .payload
                .get("attempt")
                .and_then(|v| v.as_str())
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or_else(|| "payload without attempt".to_owned())?;
            credit(app, attempt)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

/// What a member sees of one content.
#[derive(Debug, Clone)]
pub struct ContentView {
    /// The content at its newest version.
    pub item: Item,
    /// The member's attempts at it, oldest first.
    pub attempts: Vec<AttemptRow>,
}

impl ContentView {
    /// The passing attempt, if any (the content is then locked).
    pub fn passed(&self) -> Option<&AttemptRow> {
        self.attempts.iter().find(|a| a.passed)
    }
}

/// One content with the member's attempts.
pub async fn view<S: Store>(
    app: &App<S>,
    doctor: Uuid,
    content: Uuid,
) -> Result<ContentView, AppError> {
    let item = super::open_item(app, LearningKind::Content, content).await?;
    let mut tx = app.store.read().await?;
    let attempts = tx
        .attempts_of(doctor)
        .await?
        .into_iter()
        .filter(|a| a.content_id == content)
        .collect();
    tx.rollback().await?;
    Ok(ContentView { item, attempts })
}

/// The contents a doctor has passed (ids), for the list's marks.
pub async fn passed_contents<S: Store>(app: &App<S>, doctor: Uuid) -> Result<Vec<Uuid>, AppError> {
    let mut tx = app.store.read().await?;
    let out = tx
        .attempts_of(doctor)
        .await?
        .into_iter()
        .filter(|a| a.passed)
        .map(|a| a.content_id)
        .collect();
    tx.rollback().await?;
    Ok(out)
}
