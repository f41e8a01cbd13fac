//! Rows the store reads and writes, built from domain types.

use chrono::NaiveDate;
use mamis_domain::{AssociationCode, IsekiNumber, KanaName, MemberId, RoleGrant, Sex, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A doctor of the national register as MAMIS holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doctor {
    /// MAMIS's internal key; the public identifiers are the 医籍登録番号 and the member ID.
    pub id: Uuid,
    /// 医籍登録番号.
    pub iseki: IsekiNumber,
    /// 氏 in kanji as registered; for display, while identity matching uses the kana name.
    pub family_name: String,
    /// 名 in kanji as registered; for display, while identity matching uses the kana name.
    pub given_name: String,
    /// 氏カナ — part of the kana name that, with 医籍登録番号 and birth date, matches identities.
    pub family_kana: KanaName,
    /// 名カナ — part of the kana name that, with 医籍登録番号 and birth date, matches identities.
    pub given_kana: KanaName,
    /// 生年月日 — with 医籍登録番号 and kana name, the identity-matching key.
    pub birth_date: NaiveDate,
    /// 性別 as recorded on the licence.
    pub sex: Sex,
    /// The contact address on file, used for binding notices; not a login.
    pub contact_email: Option<String>,
    /// 日医会員ID, for JMA members.
    pub member_id: Option<MemberId>,
    /// Where a non-member works, placing them in a prefecture's scope.
    pub home_prefecture: Option<AssociationCode>,
    /// When the doctor was entered in MAMIS (not the date of registration as a doctor).
    pub created_at: Timestamp,
}

/// A login account; staff are accounts that hold role grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The account's identity; role grants and audit records (`account:<id>`) refer to it.
    pub id: Uuid,
    /// The account holder's address; unique regardless of case (stored lower-cased).
    pub email: String,
    /// How the person is named on pages (e.g. 事務局 花子); not an identifier.
    pub display_name: String,
    /// When the account was opened.
    pub created_at: Timestamp,
}

/// An API token as stored: the SHA-256 of its secret, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Public handle for listing and revoking the token; it authenticates nothing.
    pub id: Uuid,
    /// Label given at creation, saying which system uses the token (e.g. 県システム).
    pub name: String,
    /// The one role grant the token acts with, checked through the same rule table as staff.
    pub grant: RoleGrant,
    /// Hex SHA-256 of the secret; the lookup key when a bearer secret is presented.
    pub token_hash: String,
    /// When the token was issued.
    pub created_at: Timestamp,
    /// When the token was revoked, from which instant it authenticates nothing; `None` while valid.
    pub revoked_at: Option<Timestamp>,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for `run_at`: new, or scheduled again after a failed attempt.
    Queued,
    /// Claimed by a worker and leased until `locked_until`; claimable again once that has passed.
    Running,
    /// Finished successfully; the row stays, so its idempotency key keeps deduplicating.
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
    /// Chosen by the caller; when the idempotency key was already used, the existing job's id wins.
    pub id: Uuid,
    /// Selects the handler that runs the job (e.g. `mail.send`).
    pub kind: String,
    /// The handler's input, as JSON, handed to it unchanged on every attempt.
    pub payload: serde_json::Value,
    /// Same key, same job: a second enqueue is a no-op.
    pub idempotency_key: Option<String>,
    /// Earliest instant the job may be claimed.
    pub run_at: Timestamp,
    /// Attempts allowed before the job is parked as dead.
    pub max_attempts: i32,
}

/// The outcome of an enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// The key was unused (or there was none): a new job was stored under this id.
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
    /// The job's identity, as given at enqueue.
    pub id: Uuid,
    /// Selects the handler that runs the job (e.g. `mail.send`).
    pub kind: String,
    /// The handler's input, as JSON, exactly as enqueued.
    pub payload: serde_json::Value,
    /// The enqueuer's deduplication key; enqueuing it again yields this job, even once finished.
    pub idempotency_key: Option<String>,
    /// Where the job stands in its life cycle.
    pub status: JobStatus,
    /// Claims so far, counted at claim time, so a run cut short by a crash still uses one.
    pub attempts: i32,
    /// Attempts allowed; when the last one fails the job is parked as dead.
    pub max_attempts: i32,
    /// Earliest instant the job may be claimed; each retry moves it on by the back-off.
    pub run_at: Timestamp,
    /// End of the current lease while running; after it another worker may take the job over.
    pub locked_until: Option<Timestamp>,
    /// Changes at every claim, so a worker whose lease expired cannot complete the job.
    pub lease: Option<Uuid>,
    /// Why the latest attempt failed, for operators; cleared when the job completes.
    pub last_error: Option<String>,
    /// When the job was enqueued.
    pub created_at: Timestamp,
}

/// Where a mail stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailStatus {
    /// Not sent yet: waiting for its job, for a retry, or, without an SMTP relay, for an operator.
    Pending,
    /// Accepted by the SMTP relay; the send job will not send it again.
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
    /// Identity; also the Message-ID's local part and the send job's idempotency key (`mail:<id>`).
    pub id: Uuid,
    /// Recipient address, e.g. a doctor's contact address on file.
    pub to_addr: String,
    /// Subject line in its final, localised form.
    pub subject: String,
    /// Body, sent as `text/plain`.
    pub body_text: String,
    /// Whether the mail still has to go out.
    pub status: MailStatus,
    /// Delivery attempts so far, failed or successful (a mail sent at the first try shows 1).
    pub attempts: i32,
    /// Why the latest failed attempt failed, for `mamis mail list`; kept after a later success.
    pub last_error: Option<String>,
    /// When the mail was queued, i.e. the instant of the change that caused it.
    pub created_at: Timestamp,
    /// When the relay accepted the mail; `None` while pending.
    pub sent_at: Option<Timestamp>,
}

/// The last row of the audit chain (seq 0 and an empty MAC before the first row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    /// Sequence number of the last row; the next append must carry this plus one.
    pub seq: i64,
    /// MAC of the last row, which the next row must carry as `prev_mac`.
    pub mac: String,
}

/// One audit record. `details` is JSON text kept byte-for-byte, since the MAC covers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRow {
    /// Position in the chain, from 1 without gaps; a gap shows a removed row.
    pub seq: i64,
    /// When it happened, to the microsecond: what both databases keep and the MAC covers.
    pub at: Timestamp,
    /// Who acted, by audit name (`account:<id>`, `api_token:<id>`, `job:<kind>`).
    pub actor: String,
    /// A dotted verb, e.g. `doctor.view`, `api_token.create`.
    pub action: String,
    /// What it was done to, e.g. `association:P13-0001`.
    pub target: String,
    /// Where the request came from; `None` for actions without a request (CLI, jobs).
    pub client_addr: Option<String>,
    /// Structured details as JSON text, never re-serialised, so the MAC still verifies.
    pub details: String,
    /// MAC of the previous row (empty for the first), which links the chain.
    pub prev_mac: String,
    /// Hex HMAC-SHA256 of this row and `prev_mac` under `MAMIS_AUDIT_KEY`, held outside the DB.
    pub mac: String,
}
