//! The CME portal's own learning (journal quiz, e-learning, journal articles) and the session
//! calendar: rows and the store operations both backends implement.

use chrono::NaiveDate;
use mamis_domain::{AssociationCode, Timestamp};
use std::future::Future;
use uuid::Uuid;

use crate::{StoreError, StoreResult};

/// What an authored item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LearningKind {
    /// A 日医雑誌 question set (問題解答).
    Quiz,
    /// A 日医e-ラーニング content with its self-assessment.
    Content,
    /// A 日医雑誌 on-line article.
    Article,
}

impl LearningKind {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Quiz => "quiz",
            Self::Content => "content",
            Self::Article => "article",
        }
    }

    /// Reads the stored form.
    pub fn parse(s: &str) -> StoreResult<Self> {
        match s {
            "quiz" => Ok(Self::Quiz),
            "content" => Ok(Self::Content),
            "article" => Ok(Self::Article),
            other => Err(StoreError::Corrupt(format!("learning kind {other}"))),
        }
    }
}

/// One saved version of an item. Versions are never changed: an edit after publication is a
/// new version, and what members were marked against stays readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearningVersion {
    /// The item (stable across versions; origin keys name it).
    pub item_id: Uuid,
    /// 1, 2, …
    pub version: i32,
    /// Quiz set, content or article.
    pub kind: LearningKind,
    /// The journal issue (`2026-04`, `2026-S1`) of a quiz set or article.
    pub issue: Option<String>,
    /// The heading members see.
    pub title: String,
    /// The kind's JSON document (questions, keys, explanations, credits, text, links).
    pub body: String,
    /// The day it opens to members; `None` while a draft.
    pub published_on: Option<NaiveDate>,
    /// A quiz set's last day for answers.
    pub deadline: Option<NaiveDate>,
    /// A quiz set's publication date of the key and results.
    pub answers_on: Option<NaiveDate>,
    /// Who saved it (`account:…`).
    pub saved_by: String,
    /// When.
    pub saved_at: Timestamp,
}

/// How a quiz answer arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnswerChannel {
    /// On the portal.
    Web,
    /// On the journal's postcard, imported by staff.
    Postcard,
}

impl AnswerChannel {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Postcard => "postcard",
        }
    }

    /// Reads the stored form.
    pub fn parse(s: &str) -> StoreResult<Self> {
        match s {
            "web" => Ok(Self::Web),
            "postcard" => Ok(Self::Postcard),
            other => Err(StoreError::Corrupt(format!("answer channel {other}"))),
        }
    }
}

/// A doctor's one answer to a quiz set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuizAnswerRow {
    /// The set.
    pub set_id: Uuid,
    /// Who answered.
    pub doctor_id: Uuid,
    /// Web or postcard.
    pub channel: AnswerChannel,
    /// JSON: one list of 0-based choices per question.
    pub answers: String,
    /// The answer day (a card's received date); the credit is dated on it.
    pub answered_on: NaiveDate,
    /// Who recorded it (`account:…`, `import:…`).
    pub recorded_by: String,
    /// When.
    pub recorded_at: Timestamp,
}

/// One self-assessment of an e-learning content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow {
    /// Identity.
    pub id: Uuid,
    /// The content.
    pub content_id: Uuid,
    /// The content version answered.
    pub version: i32,
    /// Who.
    pub doctor_id: Uuid,
    /// Questions right.
    pub correct: u32,
    /// Questions asked (≥ 1).
    pub total: u32,
    /// Whether it reached 80 %.
    pub passed: bool,
    /// Japan date of the attempt (the credit's date).
    pub answered_on: NaiveDate,
    /// When.
    pub at: Timestamp,
}

/// What the public calendar is asked for. Only sessions that award credit are listed: an
/// association's own, or an outside organisation's once approved, with at least one code.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CalendarQuery {
    /// Sessions starting at or after.
    pub from: Option<Timestamp>,
    /// Sessions starting before.
    pub to: Option<Timestamp>,
    /// In this prefecture (organiser's association under it, or an organisation it approves).
    pub prefecture: Option<AssociationCode>,
    /// Carrying one of these codes (empty: any).
    pub codes: Vec<u16>,
    /// `Some(true)`: online or hybrid; `Some(false)`: in person or hybrid.
    pub online: Option<bool>,
    /// Organiser name contains this text.
    pub organiser: Option<String>,
    /// Page size.
    pub limit: u32,
    /// Rows skipped.
    pub offset: u32,
}

/// One calendar line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarRow {
    /// The session.
    pub session: Uuid,
    /// Its title.
    pub title: String,
    /// The organiser's name (association name in Japanese, or the organisation's).
    pub organiser: String,
    /// The prefecture it belongs to (`None` for the JMA's own).
    pub prefecture: Option<String>,
    /// `in_person`, `online` or `hybrid`.
    pub venue_kind: String,
    /// The place, unless online.
    pub place: Option<String>,
    /// Start.
    pub start: Timestamp,
    /// End.
    pub end: Timestamp,
}

/// A code part of a listed session's programme: (session, code, minutes).
pub type CalendarPart = (Uuid, u16, u32);

/// Authored items, answers, attempts, slide files and the calendar.
pub trait LearningStore {
    /// Saves a version; false (nothing written) when that (item, version) exists, so two
    /// editors saving at once cannot both become version n.
    fn insert_learning_version(
        &mut self,
        v: &LearningVersion,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// The newest version of an item.
    fn learning_item(
        &mut self,
        id: Uuid,
    ) -> impl Future<Output = StoreResult<Option<LearningVersion>>> + Send;
    /// Every version of an item, oldest first.
    fn learning_versions(
        &mut self,
        id: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<LearningVersion>>> + Send;
    /// The newest version of every item of a kind, newest issue first (then title, id).
    fn learning_items(
        &mut self,
        kind: LearningKind,
    ) -> impl Future<Output = StoreResult<Vec<LearningVersion>>> + Send;
    /// Records an answer; false (nothing written) when the doctor already answered the set,
    /// on either channel.
    fn insert_quiz_answer(
        &mut self,
        a: &QuizAnswerRow,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Every answer to a set, by doctor id.
    fn quiz_answers_of_set(
        &mut self,
        set: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<QuizAnswerRow>>> + Send;
    /// A doctor's answers, by set id.
    fn quiz_answers_of_doctor(
        &mut self,
        doctor: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<QuizAnswerRow>>> + Send;
    /// Records an attempt; false (nothing written) for a passing attempt when the doctor has
    /// already passed the content (it is locked).
    fn insert_attempt(&mut self, a: &AttemptRow) -> impl Future<Output = StoreResult<bool>> + Send;
    /// One attempt.
    fn attempt(&mut self, id: Uuid)
    -> impl Future<Output = StoreResult<Option<AttemptRow>>> + Send;
    /// A doctor's attempts, oldest first.
    fn attempts_of(
        &mut self,
        doctor: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<AttemptRow>>> + Send;
    /// Keeps a file under its SHA-256 (a second put of the same hash changes nothing).
    fn put_learning_file(
        &mut self,
        sha256: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// A file by its SHA-256: (content type, bytes).
    fn learning_file(
        &mut self,
        sha256: &str,
    ) -> impl Future<Output = StoreResult<Option<(String, Vec<u8>)>>> + Send;
    /// One page of the calendar, by start then id.
    fn calendar_search(
        &mut self,
        q: &CalendarQuery,
    ) -> impl Future<Output = StoreResult<Vec<CalendarRow>>> + Send;
    /// The code parts of these sessions' credit items, by session, item position and part.
    /// No ids, no query.
    fn calendar_parts(
        &mut self,
        sessions: &[Uuid],
    ) -> impl Future<Output = StoreResult<Vec<CalendarPart>>> + Send;
}
