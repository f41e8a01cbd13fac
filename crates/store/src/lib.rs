//! The store traits every backend implements, the errors they return, and (feature `testkit`)
//! the conformance suite that both backends must pass.
//!
//! Every operation runs inside a [`Tx`]: a change, the jobs it causes and its audit record commit
//! or roll back together. No instant is read from the database's clock; callers pass `now`.

mod error;
pub mod learning;
pub mod members;
pub mod model;
pub mod programmes;

#[cfg(feature = "testkit")]
pub mod conformance;

pub use error::{StoreError, distinct_keys};
pub use learning::*;
pub use members::*;
pub use model::*;
pub use programmes::ProgrammeStore;

use chrono::NaiveDate;
use mamis_domain::identity::Throttle;
use mamis_domain::procedure::EffectiveRule;
use mamis_domain::{
    Association, AssociationCode, IsekiNumber, MemberId, Membership, Organisation, RoleGrant,
    Timestamp, curriculum::CatalogueEntry,
};
use std::future::Future;
use uuid::Uuid;

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Which database a store runs on (for logs, `/readyz` and the conformance report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file, for a single server process.
    Sqlite,
    /// PostgreSQL, which any number of `mamis serve` processes may share.
    Postgres,
}

/// A database holding MAMIS data. Cheap to clone; shared by every request and worker.
pub trait Store: Clone + Send + Sync + 'static {
    /// The transaction type of this backend.
    type Tx: Tx;

    /// Starts a transaction that will write (SQLite: `BEGIN IMMEDIATE`, so writers queue
    /// instead of failing on upgrade).
    fn write(&self) -> impl Future<Output = StoreResult<Self::Tx>> + Send;

    /// Starts a read-only transaction with a consistent snapshot.
    fn read(&self) -> impl Future<Output = StoreResult<Self::Tx>> + Send;

    /// For the hottest reads (userinfo, client authentication), which make one or two
    /// statements and never write: on PostgreSQL a connection outside any transaction, so each
    /// statement is its own snapshot and `BEGIN`/`ROLLBACK` cost no round trips; elsewhere
    /// [`Store::read`]. Writing through it is a bug: nothing would be rolled back.
    fn snapshot(&self) -> impl Future<Output = StoreResult<Self::Tx>> + Send {
        self.read()
    }

    /// For the hottest write (the refresh rotation), which is one atomic statement on
    /// PostgreSQL: there a connection outside any transaction, so the statement commits by
    /// itself and `BEGIN`/`COMMIT` cost no round trips; elsewhere [`Store::write`] (call
    /// `commit` either way). Only a [`Tx`] method documented as one statement on PostgreSQL may
    /// run through it: a second statement would not be atomic with the first.
    fn write_single(&self) -> impl Future<Output = StoreResult<Self::Tx>> + Send {
        self.write()
    }

    /// Userinfo's read of a bearer token ([`OidcStore::bearer`]), the hottest read of all: by
    /// default one statement on a [`Store::snapshot`]; SQLite reads it on the calling thread.
    fn bearer(&self, hash: &str) -> impl Future<Output = StoreResult<Option<Bearer>>> + Send {
        bearer_on_snapshot(self, hash)
    }

    /// Checks that the database answers (for `/readyz`).
    fn ping(&self) -> impl Future<Output = StoreResult<()>> + Send;

    /// The backend kind.
    fn backend(&self) -> Backend;
}

/// [`Store::bearer`]'s default, and what a backend that reads it otherwise falls back to.
pub async fn bearer_on_snapshot<S: Store>(store: &S, hash: &str) -> StoreResult<Option<Bearer>> {
    let mut tx = store.snapshot().await?;
    let found = tx.bearer(hash).await?;
    tx.rollback().await?;
    Ok(found)
}

/// One transaction, offering every capability's operations.
pub trait Tx:
    Send
    + RegistryStore
    + AccessStore
    + IdentityStore
    + OidcStore
    + JobStore
    + OutboxStore
    + AuditStore
    + CatalogueStore
    + LedgerStore
    + CertificateStore
    + TrainingStore
    + MembershipStore
    + MemberStore
    + ProgrammeStore
    + LearningStore
{
    /// Makes every change of the transaction durable at once.
    fn commit(self) -> impl Future<Output = StoreResult<()>> + Send;
    /// Discards every change of the transaction.
    fn rollback(self) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Associations, organisations, doctors and memberships.
pub trait RegistryStore {
    /// Inserts an association or corrects its names.
    fn upsert_association(
        &mut self,
        a: &Association,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// One association.
    fn association(
        &mut self,
        code: &AssociationCode,
    ) -> impl Future<Output = StoreResult<Option<Association>>> + Send;
    /// The node and everything below it, in code order.
    fn associations_under(
        &mut self,
        code: &AssociationCode,
    ) -> impl Future<Output = StoreResult<Vec<Association>>> + Send;
    /// Registers an outside organiser.
    fn insert_organisation(
        &mut self,
        o: &Organisation,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// One organiser: the app needs its prefecture to authorise staff on its sessions.
    fn organisation(
        &mut self,
        id: Uuid,
    ) -> impl Future<Output = StoreResult<Option<Organisation>>> + Send;
    /// Organisers registered under a prefecture.
    fn organisations_in(
        &mut self,
        prefecture: &AssociationCode,
    ) -> impl Future<Output = StoreResult<Vec<Organisation>>> + Send;
    /// Adds a doctor; a second doctor with the same 医籍登録番号 or member ID is a conflict.
    fn insert_doctor(&mut self, d: &Doctor) -> impl Future<Output = StoreResult<()>> + Send;
    /// Adds many doctors at once (imports and demo data), in as few statements as the backend allows.
    fn insert_doctors(&mut self, ds: &[Doctor]) -> impl Future<Output = StoreResult<()>> + Send;
    /// One doctor.
    fn doctor(&mut self, id: Uuid) -> impl Future<Output = StoreResult<Option<Doctor>>> + Send;
    /// The doctor with this JMA member ID.
    fn doctor_by_member_id(
        &mut self,
        member: &MemberId,
    ) -> impl Future<Output = StoreResult<Option<Doctor>>> + Send;
    /// The doctor with this 医籍登録番号.
    fn doctor_by_iseki(
        &mut self,
        iseki: &IsekiNumber,
    ) -> impl Future<Output = StoreResult<Option<Doctor>>> + Send;
    /// Doctors in id order after `after`, for exports and content hashes.
    fn doctors_page(
        &mut self,
        after: Option<Uuid>,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<Doctor>>> + Send;
    /// How many doctors are registered.
    fn count_doctors(&mut self) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Sets (or clears) a doctor's 医籍登録年月日; false when the doctor does not exist. No
    /// CME window starts before the fiscal year of this date.
    fn set_licence_date(
        &mut self,
        doctor: Uuid,
        licensed_on: Option<NaiveDate>,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// The known 医籍登録年月日 of these doctors (unknown ones are left out), in doctor order.
    fn licence_dates(
        &mut self,
        doctors: &[Uuid],
    ) -> impl Future<Output = StoreResult<Vec<(Uuid, NaiveDate)>>> + Send;
    /// Records a membership.
    fn insert_membership(
        &mut self,
        doctor: Uuid,
        m: &Membership,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Records many memberships at once.
    fn insert_memberships(
        &mut self,
        ms: &[(Uuid, Membership)],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// A doctor's memberships, oldest first.
    fn memberships_of(
        &mut self,
        doctor: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<Membership>>> + Send;
    /// Memberships in (doctor, association, joined) order after `after`, for exports and hashes.
    fn memberships_page(
        &mut self,
        after: Option<(Uuid, String, NaiveDate)>,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<(Uuid, Membership)>>> + Send;
    /// Doctors with a membership of `association` active on `day`, by 医籍登録番号.
    fn members_of(
        &mut self,
        association: &AssociationCode,
        day: NaiveDate,
        limit: u32,
        offset: u64,
    ) -> impl Future<Output = StoreResult<Vec<Doctor>>> + Send;
    /// Migration progress under `node` (the JMA: everywhere): one row per county association, in
    /// code order, counting the doctors with a JMA membership active on `day`, placed by their
    /// county membership active that day, as verified MAMIS_ID / legacy credential only / neither.
    fn migration_progress(
        &mut self,
        node: &AssociationCode,
        day: NaiveDate,
    ) -> impl Future<Output = StoreResult<Vec<MigrationCounts>>> + Send;
    /// The current JMA members under `node` without a verified MAMIS_ID, in doctor-id order
    /// after `after` (exports and reminders walk them page by page).
    fn unmoved_members(
        &mut self,
        node: &AssociationCode,
        day: NaiveDate,
        after: Option<Uuid>,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<UnmovedMember>>> + Send;
}

/// What membership procedures read and write: doctor profiles, per-association classes and
/// rules, member IDs, procedures with their queues, history and evidence.
pub trait MembershipStore {
    /// A doctor's profile, if one was ever entered.
    fn doctor_profile(
        &mut self,
        doctor: Uuid,
    ) -> impl Future<Output = StoreResult<Option<DoctorProfile>>> + Send;
    /// Writes a doctor's profile whole (workplace and address changes are immediate).
    fn upsert_doctor_profile(
        &mut self,
        p: &DoctorProfile,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Corrects a doctor's names (an approved name change); false when the doctor does not exist.
    fn rename_doctor(
        &mut self,
        doctor: Uuid,
        names: &DoctorNames,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// The classes an association offers (retired ones too), in display order.
    fn association_classes(
        &mut self,
        association: &AssociationCode,
    ) -> impl Future<Output = StoreResult<Vec<AssociationClass>>> + Send;
    /// Adds a class to an association or corrects its names, order or retirement.
    fn upsert_association_class(
        &mut self,
        c: &AssociationClass,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The effective-date rule of each association given that configured one, in code order.
    fn effective_rules(
        &mut self,
        associations: &[AssociationCode],
    ) -> impl Future<Output = StoreResult<Vec<(AssociationCode, EffectiveRule)>>> + Send;
    /// Configures an association's effective-date rule.
    fn set_effective_rule(
        &mut self,
        association: &AssociationCode,
        rule: EffectiveRule,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The next free member ID of the range `[first, last]`: one above the highest used in it,
    /// or `first`; `None` when the range is used up. PostgreSQL serialises callers until commit.
    fn next_member_id(
        &mut self,
        first: &MemberId,
        last: &MemberId,
    ) -> impl Future<Output = StoreResult<Option<MemberId>>> + Send;
    /// Gives a doctor a member ID; false when the doctor already has one (a rejoiner keeps it).
    fn set_member_id(
        &mut self,
        doctor: Uuid,
        member: &MemberId,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Ends a membership on `left_on` (exclusive); false when no such membership is open on
    /// that day or it already ends earlier.
    fn end_membership(
        &mut self,
        doctor: Uuid,
        association: &AssociationCode,
        joined_on: NaiveDate,
        left_on: NaiveDate,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Stores a new procedure with its due actions and parties.
    fn insert_procedure(
        &mut self,
        p: &ProcedureRow,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Rewrites a procedure's status, state, effective date, due actions and parties; false when
    /// it does not exist. Two writers of one procedure at once are caught by the history's next
    /// `seq` (`procedure_events_pkey`): the second transaction fails and writes nothing.
    fn update_procedure(
        &mut self,
        p: &ProcedureRow,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// One procedure.
    fn procedure(
        &mut self,
        id: Uuid,
    ) -> impl Future<Output = StoreResult<Option<ProcedureRow>>> + Send;
    /// A doctor's procedures, newest first.
    fn procedures_of_doctor(
        &mut self,
        doctor: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<ProcedureRow>>> + Send;
    /// The procedures an account filed before it had a register record (a new resident's
    /// join), newest first; once bound they are the doctor's too.
    fn procedures_of_applicant(
        &mut self,
        account: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<ProcedureRow>>> + Send;
    /// The open procedures waiting for one of `associations`, oldest wait first.
    fn procedure_queue(
        &mut self,
        associations: &[AssociationCode],
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<ProcedureRow>>> + Send;
    /// Open procedures with an acknowledgement due since before `cutoff` (they lapse).
    fn lapsed_acknowledgements(
        &mut self,
        cutoff: Timestamp,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<ProcedureRow>>> + Send;
    /// Whether any procedure of the doctor names one of `associations` as a party (the
    /// exception that lets county B see county A's doctor: an incoming transfer or routed join).
    fn doctor_has_party(
        &mut self,
        doctor: Uuid,
        associations: &[AssociationCode],
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Appends to a procedure's history; its `seq` must follow the last one.
    fn append_procedure_event(
        &mut self,
        e: &ProcedureEvent,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// A procedure's history in order.
    fn procedure_events(
        &mut self,
        procedure: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<ProcedureEvent>>> + Send;
    /// Records an evidence file (its bytes are already on disk).
    fn insert_evidence(&mut self, e: &Evidence) -> impl Future<Output = StoreResult<()>> + Send;
    /// A procedure's evidence, oldest first.
    fn evidence_of(
        &mut self,
        procedure: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<Evidence>>> + Send;
    /// The counties under a prefecture with each municipality they cover, in code then name
    /// order (a county without any listed appears once with an empty name): the join form lets
    /// the doctor find the county of their workplace.
    fn county_municipalities(
        &mut self,
        prefecture: &AssociationCode,
    ) -> impl Future<Output = StoreResult<Vec<(AssociationCode, String)>>> + Send;
    /// Replaces the municipalities a county covers.
    fn set_county_municipalities(
        &mut self,
        county: &AssociationCode,
        names: &[String],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// How many open procedures wait for one of these associations (the navigation's count).
    fn procedure_due_count(
        &mut self,
        associations: &[AssociationCode],
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Items waiting since `first_before` or earlier that were never reminded, or were last
    /// reminded at `again_before` or earlier, oldest first: (procedure, association, since).
    fn reminders_due(
        &mut self,
        first_before: Timestamp,
        again_before: Timestamp,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<(Uuid, AssociationCode, Timestamp)>>> + Send;
    /// Notes that the staff of an association were reminded of an item at `at`.
    fn mark_reminded(
        &mut self,
        procedure: Uuid,
        association: &AssociationCode,
        at: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Accounts, role grants and API tokens.
pub trait AccessStore {
    /// Creates an account.
    fn insert_account(&mut self, a: &Account) -> impl Future<Output = StoreResult<()>> + Send;
    /// One account.
    fn account(&mut self, id: Uuid) -> impl Future<Output = StoreResult<Option<Account>>> + Send;
    /// Grants a role.
    fn insert_role_grant(
        &mut self,
        account: Uuid,
        g: &RoleGrant,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Grants held by an account.
    fn grants_of(
        &mut self,
        account: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<RoleGrant>>> + Send;
    /// Addresses of active staff accounts holding a grant on one of `nodes` (alerts to the
    /// associations concerned), sorted.
    fn staff_emails(
        &mut self,
        nodes: &[AssociationCode],
    ) -> impl Future<Output = StoreResult<Vec<String>>> + Send;
    /// Stores a new API token (only its hash).
    fn insert_api_token(&mut self, t: &ApiToken) -> impl Future<Output = StoreResult<()>> + Send;
    /// Finds a token by the SHA-256 of its secret.
    fn api_token_by_hash(
        &mut self,
        hash: &str,
    ) -> impl Future<Output = StoreResult<Option<ApiToken>>> + Send;
    /// All tokens, newest first.
    fn api_tokens(&mut self) -> impl Future<Output = StoreResult<Vec<ApiToken>>> + Send;
    /// Revokes a token; false when it does not exist or was already revoked.
    fn revoke_api_token(
        &mut self,
        id: Uuid,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// The background-job queue.
pub trait JobStore {
    /// Enqueues a job. With an idempotency key already used, nothing is added and the existing
    /// job's id is returned.
    fn enqueue_job(
        &mut self,
        job: &NewJob,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Enqueued>> + Send;
    /// Leases the next due job (queued and due, or running with an expired lease) until
    /// `now + lease`, counting an attempt.
    fn claim_job(
        &mut self,
        now: Timestamp,
        lease: chrono::Duration,
    ) -> impl Future<Output = StoreResult<Option<Job>>> + Send;
    /// Marks a leased job done; false when the lease was lost to another worker.
    fn complete_job(
        &mut self,
        id: Uuid,
        lease: Uuid,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Records a failure: retried at `retry_at`, or dead when `None`; false when the lease was lost.
    fn fail_job(
        &mut self,
        id: Uuid,
        lease: Uuid,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// One job.
    fn job(&mut self, id: Uuid) -> impl Future<Output = StoreResult<Option<Job>>> + Send;
    /// Jobs with a status, oldest first.
    fn jobs_with_status(
        &mut self,
        status: JobStatus,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<Job>>> + Send;
}

/// The mail outbox: mail is written with the change that causes it and sent later.
pub trait OutboxStore {
    /// Queues a mail.
    fn insert_mail(&mut self, m: &OutboxMail) -> impl Future<Output = StoreResult<()>> + Send;
    /// One mail.
    fn mail(&mut self, id: Uuid) -> impl Future<Output = StoreResult<Option<OutboxMail>>> + Send;
    /// Mail, newest first.
    fn mails(&mut self, limit: u32) -> impl Future<Output = StoreResult<Vec<OutboxMail>>> + Send;
    /// Marks a mail sent.
    fn mark_mail_sent(
        &mut self,
        id: Uuid,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Records a failed attempt.
    fn mark_mail_failed(
        &mut self,
        id: Uuid,
        error: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

/// The tamper-evident audit chain.
pub trait AuditStore {
    /// Reads and locks the head of the chain, so appends are serialised.
    fn lock_audit_head(&mut self) -> impl Future<Output = StoreResult<AuditHead>> + Send;
    /// Appends a row (its `seq` must be head + 1) and moves the head to it.
    fn append_audit(&mut self, row: &AuditRow) -> impl Future<Output = StoreResult<()>> + Send;
    /// Rows in order after `after_seq`.
    fn audit_rows(
        &mut self,
        after_seq: i64,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<AuditRow>>> + Send;
}

/// The curriculum-code table (names correctable by JMA admins; codes fixed).
pub trait CatalogueStore {
    /// Entries of a version in code order, with current names.
    fn curriculum_entries(
        &mut self,
        version: &str,
    ) -> impl Future<Output = StoreResult<Vec<CatalogueEntry>>> + Send;
    /// Corrects a code's names; false when the code does not exist.
    fn rename_curriculum_code(
        &mut self,
        version: &str,
        number: u16,
        name_ja: &str,
        name_en: &str,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// MAMIS_ID accounts beyond the basics: passwords, bindings, claims, links, sessions, throttles,
/// second factors and the legacy CME credentials.
pub trait IdentityStore {
    /// The account with this MAMIS_ID (case-insensitive).
    fn account_by_email(
        &mut self,
        email: &str,
    ) -> impl Future<Output = StoreResult<Option<Account>>> + Send;
    /// Replaces the password hash (registration, change, reset, rehash on login).
    fn set_password_hash(
        &mut self,
        id: Uuid,
        hash: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Suspends or reactivates an account.
    fn set_account_status(
        &mut self,
        id: Uuid,
        status: AccountStatus,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Sets the binding; a second *verified* account for one doctor is a conflict on
    /// `accounts_verified_doctor_key`.
    fn set_binding(
        &mut self,
        id: Uuid,
        doctor: Option<Uuid>,
        v: Verification,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The verified account bound to a doctor record, if any.
    fn verified_account_of(
        &mut self,
        doctor: Uuid,
    ) -> impl Future<Output = StoreResult<Option<Account>>> + Send;
    /// Where to mail each of these doctors, in one read instead of two per doctor (the decision
    /// run tells every new holder): the verified account's MAMIS_ID, else the register's contact
    /// address. Doctors with neither, and unknown ids, are left out.
    fn holder_addresses(
        &mut self,
        doctors: &[Uuid],
    ) -> impl Future<Output = StoreResult<Vec<(Uuid, String)>>> + Send;
    /// Changes the MAMIS_ID; a taken address is a conflict on `accounts_email_key`.
    fn set_email(&mut self, id: Uuid, email: &str) -> impl Future<Output = StoreResult<()>> + Send;
    /// Stores (or clears) the encrypted TOTP seed and forgets the last step.
    fn set_totp_secret(
        &mut self,
        id: Uuid,
        secret: Option<&str>,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Records an accepted TOTP step; false when a step at or after it was already used (replay).
    fn advance_totp_step(
        &mut self,
        id: Uuid,
        step: i64,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Replaces the account's recovery codes (hashes only).
    fn replace_recovery_codes(
        &mut self,
        id: Uuid,
        hashes: &[String],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Uses a recovery code once; false when unknown or already used.
    fn use_recovery_code(
        &mut self,
        id: Uuid,
        hash: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// How many unused recovery codes remain.
    fn recovery_codes_left(&mut self, id: Uuid) -> impl Future<Output = StoreResult<u32>> + Send;

    /// Stores or replaces an account's identity claim.
    fn put_claim(&mut self, c: &IdentityClaim) -> impl Future<Output = StoreResult<()>> + Send;
    /// The account's claim.
    fn claim_of(
        &mut self,
        account: Uuid,
    ) -> impl Future<Output = StoreResult<Option<IdentityClaim>>> + Send;
    /// Claims queued at `node` or anywhere below it, oldest first.
    fn claims_in_review(
        &mut self,
        node: &AssociationCode,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<IdentityClaim>>> + Send;
    /// Counts one failed match for a 医籍登録番号 on a Japan day and returns the day's total.
    fn bump_match_failures(
        &mut self,
        iseki: &IsekiNumber,
        day: NaiveDate,
    ) -> impl Future<Output = StoreResult<i64>> + Send;

    /// Stores a new single-use link.
    fn insert_email_token(
        &mut self,
        t: &EmailToken,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Spends a link: returns it if it exists, has this purpose, is unexpired and unused, and
    /// marks it used in the same statement (so it works exactly once).
    fn use_email_token(
        &mut self,
        hash: &str,
        purpose: TokenPurpose,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Option<EmailToken>>> + Send;

    /// Stores a new session.
    fn insert_session(&mut self, s: &Session) -> impl Future<Output = StoreResult<()>> + Send;
    /// A session by the hash of its cookie (revoked ones included; the caller checks).
    fn session(
        &mut self,
        id_hash: &str,
    ) -> impl Future<Output = StoreResult<Option<Session>>> + Send;
    /// Records a request on the session.
    fn touch_session(
        &mut self,
        id_hash: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Ends one session; false when it was already ended or does not exist.
    fn revoke_session(
        &mut self,
        id_hash: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Ends every live session of an account except `keep`; returns how many ended.
    fn revoke_sessions_of(
        &mut self,
        account: Uuid,
        keep: Option<&str>,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// The account's live (unrevoked) sessions, newest first.
    fn sessions_of(
        &mut self,
        account: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<Session>>> + Send;

    /// Stores a new portal session.
    fn insert_portal_session(
        &mut self,
        s: &PortalSession,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// A portal session by the hash of its cookie.
    fn portal_session(
        &mut self,
        id_hash: &str,
    ) -> impl Future<Output = StoreResult<Option<PortalSession>>> + Send;
    /// Records a request on the portal session.
    fn touch_portal_session(
        &mut self,
        id_hash: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The relying-party state the CME portal keeps with a portal session (sealed by the app).
    fn portal_rp_state(
        &mut self,
        id_hash: &str,
    ) -> impl Future<Output = StoreResult<Option<String>>> + Send;
    /// Replaces that state.
    fn set_portal_rp_state(
        &mut self,
        id_hash: &str,
        state: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Ends a portal session.
    fn revoke_portal_session(
        &mut self,
        id_hash: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Reads a throttle key for update, creating it fresh at `now` if absent. Inside a write
    /// transaction this serialises concurrent attempts on the same key.
    fn lock_throttle(
        &mut self,
        key: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Throttle>> + Send;
    /// Stores a throttle key's new state.
    fn put_throttle(
        &mut self,
        key: &str,
        t: &Throttle,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Forgets a throttle key (successful login, completed reset).
    fn clear_throttle(&mut self, key: &str) -> impl Future<Output = StoreResult<()>> + Send;
    /// [`lock_throttle`](Self::lock_throttle) for several distinct keys, returned in the order
    /// given and locked in that order (one round trip on PostgreSQL: a login counts its name and
    /// its address together). Callers keep one order, so two attempts cannot deadlock.
    fn lock_throttles(
        &mut self,
        keys: &[&str],
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Vec<Throttle>>> + Send;
    /// [`put_throttle`](Self::put_throttle) for several distinct keys in one go.
    fn put_throttles(
        &mut self,
        states: &[(&str, Throttle)],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// After a success: forgets `clear` and takes one counted failure back from `take_back`
    /// (never below zero; an absent key stays absent), in one statement where possible.
    fn forgive_throttles(
        &mut self,
        clear: &str,
        take_back: Option<&str>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Inserts or replaces legacy credentials (an import), in as few statements as possible.
    fn upsert_legacy_credentials(
        &mut self,
        cs: &[LegacyCredential],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The legacy credential of a member ID.
    fn legacy_credential(
        &mut self,
        member: &MemberId,
    ) -> impl Future<Output = StoreResult<Option<LegacyCredential>>> + Send;
    /// Retires a member's legacy credential; false when absent or already retired.
    fn retire_legacy_credential(
        &mut self,
        member: &MemberId,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// The OpenID Provider's state shared by every server: signing keys (clients, codes and tokens
/// follow with the provider).
pub trait OidcStore {
    /// Stores a new signing key.
    fn insert_signing_key(
        &mut self,
        k: &SigningKey,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Every signing key, newest first (retired ones too).
    fn signing_keys(&mut self) -> impl Future<Output = StoreResult<Vec<SigningKey>>> + Send;
    /// Stops a key signing; false when it was already retired or does not exist.
    fn retire_signing_key(
        &mut self,
        kid: &str,
        at: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Registers a client; a taken id is a conflict on `oidc_clients_pkey`.
    fn insert_client(&mut self, c: &OidcClient) -> impl Future<Output = StoreResult<()>> + Send;
    /// One client.
    fn client(&mut self, id: &str) -> impl Future<Output = StoreResult<Option<OidcClient>>> + Send;
    /// Every client, by name.
    fn clients(&mut self) -> impl Future<Output = StoreResult<Vec<OidcClient>>> + Send;
    /// Replaces a client's settings (not its id or creation time); false when it does not exist.
    fn update_client(&mut self, c: &OidcClient) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Stores a new authorization code.
    fn insert_code(&mut self, c: &AuthCode) -> impl Future<Output = StoreResult<()>> + Send;
    /// Marks a code used and returns it as it was before (so a caller sees a reuse as
    /// `used_at: Some`); `None` when unknown.
    fn take_code(
        &mut self,
        hash: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Option<AuthCode>>> + Send;

    /// Stores a new token.
    fn insert_token(&mut self, t: &OidcToken) -> impl Future<Output = StoreResult<()>> + Send;
    /// A token by its hash (used or revoked ones too; the caller judges).
    fn token(&mut self, hash: &str) -> impl Future<Output = StoreResult<Option<OidcToken>>> + Send;
    /// The token with what `/userinfo` needs, in one statement; `None` when unknown.
    fn bearer(&mut self, hash: &str) -> impl Future<Output = StoreResult<Option<Bearer>>> + Send;
    /// Rotates a live refresh token of the authenticated client whose account is active, in one
    /// step; `None` (and nothing written) when the client is unknown, disabled or its secret
    /// wrong, or the token is unknown, of another client, used, revoked, expired, or its account
    /// is not active: the caller then finds out which, on its slow path. A first-party client
    /// gets a new refresh token whatever the scope ([`wants_refresh`]).
    /// One statement on PostgreSQL, so it may run through [`Store::write_single`].
    fn rotate_refresh(
        &mut self,
        r: &Rotation,
    ) -> impl Future<Output = StoreResult<Option<Rotated>>> + Send;
    /// Marks a refresh token used; false when it already was (a reuse).
    fn use_refresh_token(
        &mut self,
        hash: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Revokes every live token of a grant chain; returns how many.
    fn revoke_family(
        &mut self,
        family: Uuid,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Revokes every live token an authorization code led to; returns how many.
    fn revoke_by_code(
        &mut self,
        code_hash: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Revokes the live tokens of an account (of one kind, or all); returns how many.
    fn revoke_tokens_of(
        &mut self,
        account: Uuid,
        kind: Option<TokenKind>,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<u64>> + Send;

    /// The account's consent to a client, if any.
    fn consent(
        &mut self,
        account: Uuid,
        client: &str,
    ) -> impl Future<Output = StoreResult<Option<Consent>>> + Send;
    /// Records or replaces a consent.
    fn put_consent(&mut self, c: &Consent) -> impl Future<Output = StoreResult<()>> + Send;
}

/// The CME ledger (append-only) and the certificates that consume its fiscal years.
pub trait LedgerStore {
    /// Appends entries in one statement per chunk. A second entry with the same (programme,
    /// origin key, generation), or a second reversal of one entry, is a `Conflict` and nothing of
    /// the call is kept.
    fn insert_ledger_entries(
        &mut self,
        entries: &[mamis_domain::LedgerEntry],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// One entry.
    fn ledger_entry(
        &mut self,
        id: Uuid,
    ) -> impl Future<Output = StoreResult<Option<mamis_domain::LedgerEntry>>> + Send;
    /// A doctor's entries of one programme in (date, created_at, id) order.
    fn ledger_of(
        &mut self,
        doctor: Uuid,
        programme: mamis_domain::Programme,
    ) -> impl Future<Output = StoreResult<Vec<mamis_domain::LedgerEntry>>> + Send;
    /// Holds a doctor's ledger for this write transaction: a second writer checking the same
    /// doctor's nets (adjustments, reversals) waits until this one ends, so two checks cannot
    /// both pass on the same nets. PostgreSQL locks the doctor's row; SQLite's single writer
    /// already serialises write transactions.
    fn lock_ledger_of(&mut self, doctor: Uuid) -> impl Future<Output = StoreResult<()>> + Send;
    /// Every generation of the entries with these origin keys, each with whether it is
    /// reversed, in (origin key, generation) order.
    fn ledger_by_origin(
        &mut self,
        programme: mamis_domain::Programme,
        keys: &[String],
    ) -> impl Future<Output = StoreResult<Vec<OriginEntry>>> + Send;
    /// How many entries the ledger holds (demo checks and benchmarks).
    fn count_ledger_entries(&mut self) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Records certificates; a duplicate number or a second certificate of a doctor and
    /// programme starting in the same fiscal year is a `Conflict`.
    fn insert_certificates(
        &mut self,
        certificates: &[CertificateRecord],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// A doctor's certificates of one programme, oldest window first.
    fn certificates_of(
        &mut self,
        doctor: Uuid,
        programme: mamis_domain::Programme,
    ) -> impl Future<Output = StoreResult<Vec<CertificateRecord>>> + Send;
    /// The certificate with this number.
    fn certificate_by_number(
        &mut self,
        number: &str,
    ) -> impl Future<Output = StoreResult<Option<CertificateRecord>>> + Send;
}

/// Certificate numbers, issued documents, decision runs, revocations and review items.
pub trait CertificateStore {
    /// Locks the number series `series` of calendar year `year` until the transaction ends and
    /// returns its next number (1 for a new series). Holding the lock while inserting, then
    /// [`CertificateStore::set_next_number`], gives gap-free numbers across servers.
    fn lock_number_series(
        &mut self,
        series: &str,
        year: i32,
    ) -> impl Future<Output = StoreResult<i64>> + Send;
    /// Stores the next number of a series locked in this transaction.
    fn set_next_number(
        &mut self,
        series: &str,
        year: i32,
        next: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The ledgers of many doctors in one read, in (doctor, date, created_at, id) order.
    fn ledger_of_doctors(
        &mut self,
        programme: mamis_domain::Programme,
        doctors: &[Uuid],
    ) -> impl Future<Output = StoreResult<Vec<mamis_domain::LedgerEntry>>> + Send;
    /// The net sums per (doctor, fiscal year, source, code) of many doctors' lines in `years`,
    /// and which of them have any line at all: the decision run's read, a few integers per
    /// key instead of every line with its strings.
    fn ledger_sums_of_doctors(
        &mut self,
        programme: mamis_domain::Programme,
        doctors: &[Uuid],
        years: std::ops::RangeInclusive<mamis_domain::FiscalYear>,
    ) -> impl Future<Output = StoreResult<mamis_domain::LedgerSums>> + Send;
    /// The certificates of many doctors, in (doctor, from_fy) order.
    fn certificates_of_doctors(
        &mut self,
        programme: mamis_domain::Programme,
        doctors: &[Uuid],
    ) -> impl Future<Output = StoreResult<Vec<CertificateRecord>>> + Send;
    /// Revokes a certificate; false when it does not exist or is already revoked.
    fn revoke_certificate(
        &mut self,
        number: &str,
        revocation: &Revocation,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Records a printed document; a second one with the same (doctor, kind, content key) or
    /// number is a `Conflict` (`cme_documents_content_key`, `cme_documents_number_key`).
    fn insert_document(
        &mut self,
        d: &DocumentRecord,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The document with this number.
    fn document_by_number(
        &mut self,
        number: &str,
    ) -> impl Future<Output = StoreResult<Option<DocumentRecord>>> + Send;
    /// The document of a doctor with this kind and content key.
    fn document_by_key(
        &mut self,
        doctor: Uuid,
        kind: &str,
        content_key: &str,
    ) -> impl Future<Output = StoreResult<Option<DocumentRecord>>> + Send;
    /// A doctor's documents, newest first.
    fn documents_of(
        &mut self,
        doctor: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<DocumentRecord>>> + Send;
    /// Revokes a document; false when it does not exist or is already revoked.
    fn revoke_document(
        &mut self,
        number: &str,
        revocation: &Revocation,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// The decision run of a programme's windows ending in `fiscal_year`.
    fn certificate_run(
        &mut self,
        programme: mamis_domain::Programme,
        fiscal_year: mamis_domain::FiscalYear,
    ) -> impl Future<Output = StoreResult<Option<CertificateRun>>> + Send;
    /// Inserts or replaces a decision run's row.
    fn put_certificate_run(
        &mut self,
        run: &CertificateRun,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Opens a review item; false (nothing written) when the certificate already has an open one.
    fn open_certificate_review(
        &mut self,
        review: &CertificateReview,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Open review items, oldest first.
    fn open_certificate_reviews(
        &mut self,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<CertificateReview>>> + Send;
    /// The fiscal years whose decision run went through every doctor, oldest first: late
    /// changes in their windows are re-decided.
    fn decided_years(
        &mut self,
        programme: mamis_domain::Programme,
    ) -> impl Future<Output = StoreResult<Vec<mamis_domain::FiscalYear>>> + Send;
    /// Records decisions, replacing an earlier decision of the same (programme, doctor, year).
    fn put_cme_decisions(
        &mut self,
        decisions: &[CmeDecision],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// A doctor's recorded decisions, by fiscal year.
    fn cme_decisions_of(
        &mut self,
        doctor: Uuid,
        programme: mamis_domain::Programme,
    ) -> impl Future<Output = StoreResult<Vec<CmeDecision>>> + Send;
}

/// 研修管理 — training sessions, their programmes, presence and pending attendance.
pub trait TrainingStore {
    /// Registers a session; a reused id is a `Conflict` (`training_sessions_pkey`), an unknown
    /// organiser a `Conflict` (`foreign_key`).
    fn insert_training_session(
        &mut self,
        s: &TrainingSession,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// One session, for its page and every capture (which checks it is open).
    fn training_session(
        &mut self,
        id: Uuid,
    ) -> impl Future<Output = StoreResult<Option<TrainingSession>>> + Send;
    /// The sessions named (unknown ids skipped, repeats listed once), by start then id: My
    /// Page shows the sessions of a doctor's attendances in one read. No ids, no query.
    fn training_sessions_by_ids(
        &mut self,
        ids: &[Uuid],
    ) -> impl Future<Output = StoreResult<Vec<TrainingSession>>> + Send;
    /// An organiser's sessions, latest start first (then id), one page: its staff's list.
    fn training_sessions_of(
        &mut self,
        organiser: &Organiser,
        limit: u32,
        offset: u32,
    ) -> impl Future<Output = StoreResult<Vec<TrainingSession>>> + Send;
    /// One session, locked until the transaction ends (PostgreSQL `FOR UPDATE`; SQLite's write
    /// transaction already holds the database's single write lock): two attendee-list applies
    /// to one session run one after the other, the second seeing the first's rows.
    fn lock_training_session(
        &mut self,
        id: Uuid,
    ) -> impl Future<Output = StoreResult<Option<TrainingSession>>> + Send;
    /// Keeps a previewed attendee list until its confirmation.
    fn insert_upload_preview(
        &mut self,
        p: &UploadPreview,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Deletes the previews created before `before` (expired); returns how many.
    fn purge_upload_previews(
        &mut self,
        before: Timestamp,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// The ids of an account's previews and of an owner's, oldest first: the caps are counted
    /// from them.
    fn upload_previews_of(
        &mut self,
        account: Uuid,
        owner: &str,
    ) -> impl Future<Output = StoreResult<(Vec<Uuid>, Vec<Uuid>)>> + Send;
    /// Deletes one preview (an organiser's oldest, replaced by a new upload); false when gone.
    fn delete_upload_preview(&mut self, id: Uuid)
    -> impl Future<Output = StoreResult<bool>> + Send;
    /// Takes a preview once: deletes and returns it when it exists for this session and
    /// account; `None` (and nothing deleted) otherwise.
    fn take_upload_preview(
        &mut self,
        id: Uuid,
        session: Uuid,
        account: Uuid,
    ) -> impl Future<Output = StoreResult<Option<UploadPreview>>> + Send;
    /// Outside organisations' sessions in `prefecture` not yet approved, by start then id: the
    /// prefecture staff's approval queue.
    fn sessions_awaiting_approval(
        &mut self,
        prefecture: &AssociationCode,
    ) -> impl Future<Output = StoreResult<Vec<TrainingSession>>> + Send;
    /// Approves an outside organisation's session once; false when it does not exist, is an
    /// association's own or is already approved. A reused number is a `Conflict`
    /// (`training_sessions_approval_number_key`).
    fn approve_training_session(
        &mut self,
        id: Uuid,
        approval: &SessionApproval,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Closes a session once; false when it does not exist or is already closed. Open
    /// intervals are closed by the caller ([`TrainingStore::set_presence_out`]).
    fn close_training_session(
        &mut self,
        id: Uuid,
        at: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Replaces a session's whole programme (items in the given order); false and nothing
    /// changed when the session does not exist or is closed, since credits name item ids from
    /// then on. Presence does not block it: intervals are independent of items, and keeping
    /// an item's id keeps its origin keys.
    fn replace_programme_items(
        &mut self,
        session: Uuid,
        items: &[StoredItem],
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// A session's programme in the order it was given.
    fn programme_items(
        &mut self,
        session: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<StoredItem>>> + Send;
    /// Records an interval. A second open interval of the same session and subject is a
    /// `Conflict` (`presence_open_key`): concurrent scans cannot open two. A pending subject
    /// needs its [`PendingAttendance`] first (`foreign_key`).
    fn insert_presence(
        &mut self,
        row: &PresenceRow,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Records many intervals in as few statements as the backend allows (list uploads), with
    /// the conflicts of [`TrainingStore::insert_presence`]; nothing of a failed call is kept
    /// once the transaction rolls back. No rows, no query.
    fn insert_presences(
        &mut self,
        rows: &[PresenceRow],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// A session's presence not removed, by subject (doctors by id, then pending numbers),
    /// then in_at and id: what credits are computed from.
    fn presence_of(
        &mut self,
        session: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<PresenceRow>>> + Send;
    /// Every presence row not removed whose subject is `Doctor(doctor)` or `Pending(iseki)`,
    /// across all sessions, by in_at then id: My Page lists a doctor's attendances, including
    /// those captured before their MAMIS_ID was verified.
    fn presence_of_doctor(
        &mut self,
        doctor: Uuid,
        iseki: &IsekiNumber,
    ) -> impl Future<Output = StoreResult<Vec<PresenceRow>>> + Send;
    /// How many presence rows of the session are open (not removed, no `out_at`): the
    /// organiser's live count.
    fn open_presence_count(
        &mut self,
        session: Uuid,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// The subject's open interval at the session, if any: a scan then means "leaving".
    fn open_presence(
        &mut self,
        session: Uuid,
        subject: &PresenceSubject,
    ) -> impl Future<Output = StoreResult<Option<PresenceRow>>> + Send;
    /// Closes an open interval; false (nothing changed) when it does not exist, is closed or
    /// removed, or `out_at` is before its arrival.
    fn set_presence_out(
        &mut self,
        id: Uuid,
        out_at: Timestamp,
        left_at_end: bool,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Withdraws an interval (kept as evidence, no longer listed); false when it does not
    /// exist or is already removed.
    fn remove_presence(
        &mut self,
        id: Uuid,
        at: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Withdraws many intervals at once (a re-uploaded list drops them); returns how many were
    /// not yet removed. No ids, no query.
    fn remove_presences(
        &mut self,
        ids: &[Uuid],
        at: Timestamp,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Records that a number without a verified MAMIS_ID attended a session; false (nothing
    /// written) when the session already has one for that number, whose details are kept.
    fn insert_pending_attendance(
        &mut self,
        p: &PendingAttendance,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Records many pending attendances at once (list uploads), skipping those whose session
    /// already has one for the number (its details are kept); returns how many were written.
    /// None given, no query.
    fn insert_pending_attendances(
        &mut self,
        ps: &[PendingAttendance],
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// The doctors with these ids (unknown ids skipped), in id order: the organiser's list
    /// names its attendees in one read.
    fn doctors_by_ids(
        &mut self,
        ids: &[Uuid],
    ) -> impl Future<Output = StoreResult<Vec<Doctor>>> + Send;
    /// The register entries of these 医籍登録番号 (unknown numbers skipped), by number, each with
    /// the verified account bound to it: an attendee list resolves its numbers in one read.
    fn register_matches(
        &mut self,
        numbers: &[IsekiNumber],
    ) -> impl Future<Output = StoreResult<Vec<RegisterMatch>>> + Send;
    /// The uncredited attendances of a number, by created_at then id: what to credit once a
    /// MAMIS_ID is verified for it.
    fn pending_for_iseki(
        &mut self,
        iseki: &IsekiNumber,
    ) -> impl Future<Output = StoreResult<Vec<PendingAttendance>>> + Send;
    /// Every pending attendance of a session, credited or not, by number then id: the
    /// organiser's list shows their kana and birth date.
    fn pending_of_session(
        &mut self,
        session: Uuid,
    ) -> impl Future<Output = StoreResult<Vec<PendingAttendance>>> + Send;
    /// Marks attendances credited to `doctor`; returns how many were still uncredited (a
    /// repeated call credits nothing twice).
    fn mark_pending_credited(
        &mut self,
        ids: &[Uuid],
        doctor: Uuid,
        at: Timestamp,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
}
