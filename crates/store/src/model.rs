//! Rows the store reads and writes, built from domain types.

use chrono::NaiveDate;
use mamis_domain::{AssociationCode, IsekiNumber, KanaName, MemberId, RoleGrant, Sex, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A doctor of the national register as MAMIS holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doctor {
    pub id: Uuid,
    /// 医籍登録番号.
    pub iseki: IsekiNumber,
    pub family_name: String,
    pub given_name: String,
    pub family_kana: KanaName,
    pub given_kana: KanaName,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    /// The contact address on file, used for binding notices; not a login.
    pub contact_email: Option<String>,
    /// 日医会員ID, for JMA members.
    pub member_id: Option<MemberId>,
    /// Where a non-member works, placing them in a prefecture's scope.
    pub home_prefecture: Option<AssociationCode>,
    pub created_at: Timestamp,
}

/// A login account; staff are accounts that hold role grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub created_at: Timestamp,
}

/// An API token as stored: the SHA-256 of its secret, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub grant: RoleGrant,
    pub token_hash: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    /// Gave up after its last attempt; kept for an operator.
    Dead,
}

impl JobStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }
    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Done, Self::Dead]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub id: Uuid,
    pub kind: String,
    pub payload: serde_json::Value,
    /// Same key, same job: a second enqueue is a no-op.
    pub idempotency_key: Option<String>,
    pub run_at: Timestamp,
    pub max_attempts: i32,
}

/// The outcome of an enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    Created(Uuid),
    /// The idempotency key was already used by this job.
    Duplicate(Uuid),
}

impl Enqueued {
    /// The id of the job that will run.
    pub fn id(self) -> Uuid {
        match self {
            Enqueued::Created(id) | Enqueued::Duplicate(id) => id,
        }
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: Uuid,
    pub kind: String,
    pub payload: serde_json::Value,
    pub idempotency_key: Option<String>,
    pub status: JobStatus,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: Timestamp,
    pub locked_until: Option<Timestamp>,
    /// Changes at every claim, so a worker whose lease expired cannot complete the job.
    pub lease: Option<Uuid>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
}

/// Where a mail stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailStatus {
    Pending,
    Sent,
}

impl MailStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
        }
    }
    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Sent]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A mail in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxMail {
    pub id: Uuid,
    pub to_addr: String,
    pub subject: String,
    pub body_text: String,
    pub status: MailStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

/// The last row of the audit chain (seq 0 and an empty MAC before the first row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    pub seq: i64,
    pub mac: String,
}

/// One audit record. `details` is JSON text kept byte-for-byte, since the MAC covers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRow {
    pub seq: i64,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub client_addr: Option<String>,
    pub details: String,
    pub prev_mac: String,
    pub mac: String,
}
