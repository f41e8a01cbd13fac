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

/// Whether an account belongs to a doctor (My Page) or to association staff (back office).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// A doctor's MAMIS_ID.
    Doctor,
    /// Association staff: must enrol TOTP before anything else.
    Staff,
}

impl AccountKind {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Doctor => "doctor",
            Self::Staff => "staff",
        }
    }
    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Doctor, Self::Staff]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// Whether an account may log in at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Normal.
    Active,
    /// Suspended by staff of the holder's association; login refused until unsuspended.
    Suspended,
}

impl AccountStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }
    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Suspended]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// How far a doctor's account is bound to a doctor record of the register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// No binding yet (identity data not given, or not matched).
    Unverified,
    /// Waiting for staff of the chosen association to verify against evidence.
    Review,
    /// Bound: the account speaks for the doctor record (at most one per record).
    Verified,
    /// The record's holder said "this was not me": the binding is held for staff review.
    Suspended,
}

impl Verification {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unverified => "unverified",
            Self::Review => "review",
            Self::Verified => "verified",
            Self::Suspended => "suspended",
        }
    }
    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Unverified,
            Self::Review,
            Self::Verified,
            Self::Suspended,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// A login account: a doctor's MAMIS_ID or a staff account (staff hold role grants).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The immutable subject; role grants, sessions and audit records (`account:<id>`) refer to it.
    pub id: Uuid,
    /// The MAMIS_ID (an e-mail address), unique regardless of case (stored lower-cased).
    pub email: String,
    /// How the person is named on pages (e.g. 事務局 花子); not an identifier.
    pub display_name: String,
    /// Doctor or staff.
    pub kind: AccountKind,
    /// Active or suspended.
    pub status: AccountStatus,
    /// The argon2id PHC string; `None` until a password is set (registration, staff enrolment).
    pub password_hash: Option<String>,
    /// The doctor record the account is bound to (or claimed for, while in review).
    pub doctor_id: Option<Uuid>,
    /// The state of that binding.
    pub verification: Verification,
    /// The TOTP seed, AES-256-GCM-encrypted under `MAMIS_SECRET_KEY` (base64 nonce ‖ ciphertext).
    pub totp_secret: Option<String>,
    /// The last TOTP step accepted, so a code works only once.
    pub totp_last_step: Option<i64>,
    /// When the account was opened.
    pub created_at: Timestamp,
}

impl Account {
    /// A new active account without password, binding or second factor.
    pub fn new(
        id: Uuid,
        email: &str,
        display_name: &str,
        kind: AccountKind,
        created_at: Timestamp,
    ) -> Self {
        Self {
            id,
            email: email.to_lowercase(),
            display_name: display_name.to_owned(),
            kind,
            status: AccountStatus::Active,
            password_hash: None,
            doctor_id: None,
            verification: Verification::Unverified,
            totp_secret: None,
            totp_last_step: None,
            created_at,
        }
    }
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

/// What a registering doctor says about themselves; kept for matching and for staff review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityClaim {
    /// The account making the claim.
    pub account_id: Uuid,
    /// 医籍登録番号 as entered (normalised).
    pub iseki: IsekiNumber,
    /// Family name in kanji as entered.
    pub family_name: String,
    /// Given name in kanji as entered.
    pub given_name: String,
    /// Family name in kana (normalised), part of the matching key.
    pub family_kana: KanaName,
    /// Given name in kana (normalised), part of the matching key.
    pub given_kana: KanaName,
    /// 生年月日, part of the matching key.
    pub birth_date: NaiveDate,
    /// As on the licence.
    pub sex: Sex,
    /// The county association for members, or the prefecture of work for non-members: the node
    /// whose staff verify the claim when matching fails.
    pub association: AssociationCode,
    /// Whether the doctor says they are a member (of `association`).
    pub member: bool,
    /// Failed automatic matches so far (after 3 the claim goes to staff).
    pub failed_matches: i32,
    /// Where the claim waits for staff (`None` when not queued); staff may forward it.
    pub review_node: Option<AssociationCode>,
    /// Why it is queued (`no_match`, `already_bound`, `not_me`), for the staff queue.
    pub review_reason: Option<String>,
    /// When the claim was last submitted.
    pub submitted_at: Timestamp,
}

/// What a single-use e-mail link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenPurpose {
    /// Registration: proves the address before an account exists.
    Register,
    /// Password reset.
    Reset,
    /// Change of MAMIS_ID: proves the new address.
    EmailChange,
    /// Staff enrolment link printed by `mamis staff create`.
    StaffEnrol,
    /// "This was not me" link in a binding notice.
    NotMe,
}

impl TokenPurpose {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Reset => "reset",
            Self::EmailChange => "email_change",
            Self::StaffEnrol => "staff_enrol",
            Self::NotMe => "not_me",
        }
    }
    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Register,
            Self::Reset,
            Self::EmailChange,
            Self::StaffEnrol,
            Self::NotMe,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// A single-use, expiring link sent by mail; stored only as the SHA-256 of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailToken {
    /// SHA-256 (hex) of the secret in the link.
    pub token_hash: String,
    /// What the link does.
    pub purpose: TokenPurpose,
    /// The account it acts on (none for registration).
    pub account_id: Option<Uuid>,
    /// The address the link was sent to.
    pub email: String,
    /// When the link stops working.
    pub expires_at: Timestamp,
    /// When it was used (links work once).
    pub used_at: Option<Timestamp>,
    /// When it was issued.
    pub created_at: Timestamp,
}

/// A My Page / back-office session: the cookie holds a random id, the row holds its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 (hex) of the cookie value.
    pub id_hash: String,
    /// Whose session it is.
    pub account_id: Uuid,
    /// Login time (the absolute timeout counts from here).
    pub created_at: Timestamp,
    /// Last request (the idle timeout counts from here).
    pub last_seen_at: Timestamp,
    /// Where the login came from, shown in the session list.
    pub client_addr: Option<String>,
    /// The browser, shown in the session list.
    pub user_agent: Option<String>,
    /// When it was ended by logout, revocation or a password change.
    pub revoked_at: Option<Timestamp>,
}

/// A CME-portal session: a MAMIS_ID login, or a legacy member-ID login until the cut-over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortalSubject {
    /// Logged in with MAMIS_ID (OIDC `sub` = account id).
    Mamis(Uuid),
    /// Logged in with the legacy 10-digit member ID.
    Legacy(MemberId),
}

/// A CME-portal session row (own cookie, own table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSession {
    /// SHA-256 (hex) of the cookie value.
    pub id_hash: String,
    /// Who is logged in.
    pub subject: PortalSubject,
    /// Login time.
    pub created_at: Timestamp,
    /// Last request.
    pub last_seen_at: Timestamp,
    /// When it was ended.
    pub revoked_at: Option<Timestamp>,
}

/// A legacy CME-portal credential (従来のユーザーID), imported from the old system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyCredential {
    /// The 10-digit member ID that was the login name.
    pub member_id: MemberId,
    /// The birth date, whose YYMMDD form is the initial password.
    pub birth_date: NaiveDate,
    /// A PHC hash when the member ever changed the password; `None` means the birth date.
    pub password_hash: Option<String>,
    /// Set when a verified MAMIS_ID of the same member retires the credential.
    pub retired_at: Option<Timestamp>,
    /// When it was imported.
    pub imported_at: Timestamp,
}

/// An OpenID Provider signing key. The private half is sealed (AES-256-GCM under a key derived
/// from `MAMIS_SECRET_KEY`); the public half is the JWK published in the JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// RFC 7638 thumbprint of the public key, the `kid` of tokens it signs.
    pub kid: String,
    /// `RS256` or `ES256`.
    pub alg: String,
    /// The sealed PKCS#8 private key.
    pub private_key: String,
    /// The public JWK as JSON text.
    pub public_jwk: String,
    /// When the key was made.
    pub created_at: Timestamp,
    /// When it stopped signing; it stays published until every token it signed has expired.
    pub retired_at: Option<Timestamp>,
}

/// A relying party registered with the OpenID Provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcClient {
    /// The `client_id`.
    pub id: String,
    /// Shown on the consent page and in the client list.
    pub name: String,
    /// SHA-256 (hex) of the client secret; `None` for public clients (PKCE only).
    pub secret_hash: Option<String>,
    /// Exact redirect URIs (no prefix or wildcard matching).
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return to.
    pub post_logout_redirect_uris: Vec<String>,
    /// First-party clients (run by the associations) skip consent.
    pub first_party: bool,
    /// Scopes the client may receive; others are ignored.
    pub scopes: Vec<String>,
    /// Whether the client may receive the 医籍登録番号 (`iseki` scope).
    pub allow_iseki: bool,
    /// `RS256` (default) or `ES256` for its ID tokens.
    pub id_token_alg: String,
    /// Disabled clients cannot start flows or use tokens.
    pub disabled: bool,
    /// When it was registered.
    pub created_at: Timestamp,
}

/// An authorization code: single use, short-lived, bound to client, redirect URI, PKCE
/// challenge and nonce. Stored as the SHA-256 of the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    /// SHA-256 (hex) of the code.
    pub code_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Who authorised it.
    pub account_id: Uuid,
    /// The redirect URI of the request (must match at the token endpoint).
    pub redirect_uri: String,
    /// The S256 PKCE challenge.
    pub code_challenge: String,
    /// The client's nonce, echoed in the ID token.
    pub nonce: Option<String>,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// When the user last authenticated (`auth_time`).
    pub auth_time: Timestamp,
    /// How they authenticated (`amr`, space-separated, e.g. `pwd otp`).
    pub amr: String,
    /// When the code stops working.
    pub expires_at: Timestamp,
    /// When it was exchanged (a second exchange revokes what the first issued).
    pub used_at: Option<Timestamp>,
    /// When it was issued.
    pub created_at: Timestamp,
}

/// Access or refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Opaque bearer token for userinfo and resource servers (minutes).
    Access,
    /// Opaque token for new access tokens; rotated at every use.
    Refresh,
}

impl TokenKind {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }
    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Access, Self::Refresh]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// An issued token, stored as the SHA-256 of its 256-bit value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcToken {
    /// SHA-256 (hex) of the token.
    pub token_hash: String,
    /// Access or refresh.
    pub kind: TokenKind,
    /// The client it belongs to.
    pub client_id: String,
    /// The account it speaks for.
    pub account_id: Uuid,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The code that started the grant (a reused code revokes its tokens).
    pub code_hash: Option<String>,
    /// The grant's chain: every token descending from one code shares it (reuse revokes it).
    pub family: Uuid,
    /// When this token stops working (idle limit for refresh tokens).
    pub expires_at: Timestamp,
    /// The chain's absolute end (refresh tokens).
    pub family_expires_at: Timestamp,
    /// The original authentication, carried into refreshed ID tokens.
    pub auth_time: Timestamp,
    /// How the user authenticated.
    pub amr: String,
    /// When a refresh token was exchanged (rotation).
    pub used_at: Option<Timestamp>,
    /// When it was revoked.
    pub revoked_at: Option<Timestamp>,
    /// When it was issued.
    pub created_at: Timestamp,
}

/// What `/userinfo` needs about a bearer token, read in one statement so a request costs one
/// round trip: the token, and its client, account, bound doctor and memberships as they are now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bearer {
    /// The token (access or refresh; the caller judges).
    pub token: BearerToken,
    /// Whether the client exists and is not disabled.
    pub client_live: bool,
    /// Whether the client may receive the 医籍登録番号.
    pub client_allow_iseki: bool,
    /// The account, if it still exists.
    pub account: Option<BearerAccount>,
    /// The doctor record the account is bound to (whatever the binding's state).
    pub doctor: Option<BearerDoctor>,
    /// That doctor's memberships, past ones too, by joining date then association.
    pub memberships: Vec<mamis_domain::Membership>,
}

/// The token fields `/userinfo` judges a bearer by: only these are read, since every column
/// and plan node more costs PostgreSQL time on the busiest read there is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerToken {
    /// Access or refresh.
    pub kind: TokenKind,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// When it expires.
    pub expires_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

impl BearerToken {
    /// Builds it from the stored kind.
    pub fn from_stored(
        kind: &str,
        scope: String,
        expires_at: Timestamp,
        revoked_at: Option<Timestamp>,
    ) -> Result<Self, crate::StoreError> {
        Ok(Self {
            kind: TokenKind::parse(kind)
                .ok_or_else(|| crate::StoreError::Corrupt(format!("token kind {kind}")))?,
            scope,
            expires_at,
            revoked_at,
        })
    }
}

/// The doctor fields a bearer token's claims come from (names, 医籍登録番号, and the home
/// prefecture that stands in for a prefecture membership).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerDoctor {
    /// The 医籍登録番号.
    pub iseki: IsekiNumber,
    /// Family name.
    pub family_name: String,
    /// Given name.
    pub given_name: String,
    /// Family name in katakana.
    pub family_kana: KanaName,
    /// Given name in katakana.
    pub given_kana: KanaName,
    /// The prefecture the doctor belongs to when no prefectural membership says so.
    pub home_prefecture: Option<AssociationCode>,
}

impl BearerDoctor {
    /// Builds it from the stored text forms (both backends read them as text).
    pub fn from_stored(
        iseki: &str,
        family_name: String,
        given_name: String,
        family_kana: &str,
        given_kana: &str,
        home_prefecture: Option<&str>,
    ) -> Result<Self, crate::StoreError> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            crate::StoreError::Corrupt(format!("{what}: {e}"))
        };
        Ok(Self {
            iseki: IsekiNumber::parse(iseki).map_err(|e| corrupt("iseki", &e))?,
            family_name,
            given_name,
            family_kana: KanaName::normalise(family_kana).map_err(|e| corrupt("kana", &e))?,
            given_kana: KanaName::normalise(given_kana).map_err(|e| corrupt("kana", &e))?,
            home_prefecture: home_prefecture
                .map(AssociationCode::parse)
                .transpose()
                .map_err(|e| corrupt("home prefecture", &e))?,
        })
    }
}

impl From<&Doctor> for BearerDoctor {
    fn from(d: &Doctor) -> Self {
        Self {
            iseki: d.iseki.clone(),
            family_name: d.family_name.clone(),
            given_name: d.given_name.clone(),
            family_kana: d.family_kana.clone(),
            given_kana: d.given_kana.clone(),
            home_prefecture: d.home_prefecture.clone(),
        }
    }
}

/// The account fields a bearer token's claims come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerAccount {
    /// The subject.
    pub id: Uuid,
    /// The MAMIS_ID.
    pub email: String,
    /// The display name (claims `name` for accounts without a verified doctor).
    pub display_name: String,
    /// Active or suspended.
    pub status: AccountStatus,
    /// The binding's state.
    pub verification: Verification,
}

impl BearerAccount {
    /// Builds it from the stored forms of status and verification (both backends read them as
    /// text).
    pub fn from_stored(
        id: Uuid,
        email: String,
        display_name: String,
        status: &str,
        verification: &str,
    ) -> Result<Self, crate::StoreError> {
        let corrupt = |what: &str, v: &str| crate::StoreError::Corrupt(format!("{what} {v}"));
        Ok(Self {
            id,
            email,
            display_name,
            status: AccountStatus::parse(status)
                .ok_or_else(|| corrupt("account status", status))?,
            verification: Verification::parse(verification)
                .ok_or_else(|| corrupt("verification", verification))?,
        })
    }
}

/// Whether a grant gets a refresh token: first-party clients always, others with
/// `offline_access` (the backends' one-step rotation states the same rule in SQL).
pub fn wants_refresh(first_party: bool, scope: &str) -> bool {
    first_party || scope.split_whitespace().any(|s| s == "offline_access")
}

/// A refresh-token rotation done in one step (one statement on PostgreSQL), client
/// authentication included, so that the usual grant is one round trip: the presented token is
/// marked used and the new tokens are stored, taking its account, scope, chain, chain end,
/// authentication time and `amr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// SHA-256 (hex) of the presented refresh token.
    pub presented: String,
    /// The client as it names itself; a token of another client is not rotated.
    pub client_id: String,
    /// SHA-256 (hex) of the secret the client presented: nothing is rotated unless the client
    /// is enabled and has no secret or this one (what the token endpoint's client check asks).
    pub client_secret: Option<String>,
    /// Now.
    pub now: Timestamp,
    /// SHA-256 (hex) of the new access token.
    pub access_hash: String,
    /// When the new access token expires.
    pub access_expires_at: Timestamp,
    /// SHA-256 (hex) of the new refresh token.
    pub refresh_hash: String,
    /// The refresh idle limit from now; the new token expires then or at the chain's end,
    /// whichever comes first.
    pub refresh_idle_until: Timestamp,
}

/// What a [`Rotation`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// The presented token as it was before (used_at still empty).
    pub old: OidcToken,
    /// Whether a new refresh token was stored (first-party client or `offline_access`).
    pub refreshed: bool,
}

/// Decodes memberships a backend aggregated into a JSON array of
/// `[association, class, joined_on, left_on]` (dates `YYYY-MM-DD`), sorted as
/// `memberships_of` sorts them.
pub fn memberships_from_json(
    json: &str,
) -> Result<Vec<mamis_domain::Membership>, crate::StoreError> {
    use mamis_domain::ClassCode;
    let bad = |e: &dyn std::fmt::Display| crate::StoreError::Corrupt(format!("memberships: {e}"));
    let rows: Vec<(String, String, String, Option<String>)> =
        serde_json::from_str(json).map_err(|e| bad(&e))?;
    let date = |s: &str| {
        s.get(..10)
            .unwrap_or(s)
            .parse::<NaiveDate>()
            .map_err(|e| bad(&e))
    };
    let mut out = rows
        .into_iter()
        .map(|(a, c, j, l)| {
            Ok(mamis_domain::Membership {
                association: AssociationCode::parse(&a).map_err(|e| bad(&e))?,
                class: ClassCode::parse(&c).map_err(|e| bad(&e))?,
                joined_on: date(&j)?,
                left_on: l.as_deref().map(date).transpose()?,
            })
        })
        .collect::<Result<Vec<_>, crate::StoreError>>()?;
    sort_memberships(&mut out);
    Ok(out)
}

/// Puts a doctor's memberships in the order `memberships_of` gives: by joining date, then
/// association.
pub fn sort_memberships(ms: &mut [mamis_domain::Membership]) {
    ms.sort_by(|x, y| (x.joined_on, &x.association).cmp(&(y.joined_on, &y.association)));
}

/// A user's consent to a third-party client for a set of scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// Who consented.
    pub account_id: Uuid,
    /// To which client.
    pub client_id: String,
    /// The scopes, space-separated and sorted.
    pub scope: String,
    /// When.
    pub granted_at: Timestamp,
}

/// Migration progress of one county association: how its current JMA members stand in the move
/// from the legacy CME login to MAMIS_ID (the migration dashboard counts these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationCounts {
    /// The county association the members belong to (their active county membership).
    pub county: AssociationCode,
    /// The prefecture above it, so the dashboard can total per prefecture without parsing.
    pub prefecture: AssociationCode,
    /// Members whose record is bound to a verified MAMIS_ID: moved.
    pub verified: u64,
    /// Members without a verified MAMIS_ID who still hold an unretired legacy credential.
    pub legacy_only: u64,
    /// Members with neither: they have no working login at all after the cut-over.
    pub neither: u64,
}

/// A current JMA member not yet moved to MAMIS_ID (no verified account), for the CSV export
/// and the reminder mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnmovedMember {
    /// The doctor record; the paging key and part of the reminder's idempotency key.
    pub doctor_id: Uuid,
    /// 日医会員ID, by which the associations know the member (the legacy login name).
    pub member_id: Option<MemberId>,
    /// 氏 in kanji, for the export and the mail's salutation.
    pub family_name: String,
    /// 名 in kanji, for the export and the mail's salutation.
    pub given_name: String,
    /// The register's contact address; `None` means a postal reminder is needed.
    pub contact_email: Option<String>,
    /// The county association of the member's active county membership.
    pub county: AssociationCode,
    /// Whether an unretired legacy credential exists (legacy only) or not (neither).
    pub legacy: bool,
}

/// A certificate (日医生涯教育認定証) as the register holds it: issued by MAMIS or imported from
/// the system before it. Its fiscal years are consumed: no later window may use them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRecord {
    /// Internal key.
    pub id: Uuid,
    /// The printed certificate number, unique across programmes.
    pub number: String,
    /// The holder.
    pub doctor: Uuid,
    /// The programme whose rules decided it.
    pub programme: mamis_domain::Programme,
    /// First fiscal year of the window it consumes.
    pub from_fy: mamis_domain::FiscalYear,
    /// Last fiscal year of the window it consumes.
    pub to_fy: mamis_domain::FiscalYear,
    /// The date printed as its issue date (Japan date).
    pub issued_on: NaiveDate,
    /// Where it came from: `mamis` or `prior_system`.
    pub origin: String,
    /// When the record was written.
    pub created_at: Timestamp,
    /// The 80-bit random code printed with the number (base32); without it the public
    /// verification page answers "not found". `None` for prior-system certificates.
    pub verification_code: Option<String>,
    /// Last day of validity; `None` for prior-system certificates.
    pub valid_until: Option<NaiveDate>,
    /// Units and distinct codes counted when the window was decided (what the PDF prints);
    /// later ledger changes never alter them.
    pub counted: Option<(mamis_domain::HalfUnits, u32)>,
    /// Set once staff revoke the certificate.
    pub revocation: Option<Revocation>,
}

/// Why and when staff revoked a certificate or document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// When.
    pub at: Timestamp,
    /// The reason category shown publicly (`error`, `fraud`, `holder_request`, `other`).
    pub category: String,
    /// The staff member's words, kept for the record and the holder's mail.
    pub reason: String,
    /// Who (`account:…`).
    pub by: String,
}

/// A printed document other than the 認定証: 学習単位取得証 or 受講証明書. Each download with the
/// same content reuses its number; different content gets a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentRecord {
    /// Internal key.
    pub id: Uuid,
    /// The printed number, unique.
    pub number: String,
    /// `annual_units` (学習単位取得証) or `attendance` (受講証明書).
    pub kind: String,
    /// The holder.
    pub doctor: Uuid,
    /// The programme.
    pub programme: mamis_domain::Programme,
    /// What was printed, as JSON text (byte-exact, so the PDF can be rebuilt identically).
    pub content: String,
    /// SHA-256 of the content: the same content for the same doctor and kind reuses the record.
    pub content_key: String,
    /// The 80-bit random code printed with the number (base32).
    pub verification_code: String,
    /// The printed issue date.
    pub issued_on: NaiveDate,
    /// Set once staff revoke it.
    pub revocation: Option<Revocation>,
    /// When the record was written.
    pub created_at: Timestamp,
}

/// A decision run for the windows ending in one fiscal year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRun {
    /// The programme.
    pub programme: mamis_domain::Programme,
    /// The last fiscal year of the windows decided.
    pub fiscal_year: mamis_domain::FiscalYear,
    /// When the first run started.
    pub started_at: Timestamp,
    /// When a run went through every doctor; windows ending in the next year wait for this.
    pub completed_at: Option<Timestamp>,
    /// Certificates issued by the runs so far.
    pub issued: u64,
}

/// One recorded decision: the window ending in `fiscal_year` judged for one doctor, so a run and
/// each later re-decision leave a trace per doctor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CmeDecision {
    /// The programme.
    pub programme: mamis_domain::Programme,
    /// The doctor.
    pub doctor: Uuid,
    /// The decision's year: the window's last year.
    pub fiscal_year: mamis_domain::FiscalYear,
    /// The window's first year.
    pub from_fy: mamis_domain::FiscalYear,
    /// `achieved`, `fell_short`, `consumed` or `before_licence`.
    pub outcome: String,
    /// Units + codes counted over the window, in half-points.
    pub total_half: i64,
    /// When it was decided (or last re-decided).
    pub decided_at: Timestamp,
}

/// A staff review item: a ledger change would push an issued certificate's window below the
/// threshold. The certificate stands; staff decide whether to revoke it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateReview {
    /// Internal key.
    pub id: Uuid,
    /// The certificate concerned.
    pub certificate: Uuid,
    /// Its number (for the list).
    pub number: String,
    /// The holder.
    pub doctor: Uuid,
    /// When it was opened.
    pub opened_at: Timestamp,
    /// What changed, in words for staff (window total now and at issue).
    pub reason: String,
    /// When staff closed it.
    pub resolved_at: Option<Timestamp>,
}

/// A ledger entry together with whether a reversal already cancels it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginEntry {
    /// The entry.
    pub entry: mamis_domain::LedgerEntry,
    /// Whether some entry reverses it.
    pub reversed: bool,
}

/// Who organises a training session (研修会): an association node (JMA, prefecture or county)
/// or an outside [`mamis_domain::Organisation`], whose sessions need its prefecture's approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Organiser {
    /// A 医師会 node; its sessions need no approval.
    Association(AssociationCode),
    /// An outside organisation (学会, hospital, company); approved by its prefecture's staff.
    Organisation(Uuid),
}

/// The prefecture's approval of an outside organiser's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionApproval {
    /// The approval number issued (承認番号), unique across sessions.
    pub number: String,
    /// When staff approved.
    pub at: Timestamp,
    /// Who approved (`account:…`).
    pub by: String,
}

/// An uploaded attendee list between its preview and its organiser's confirmation, kept in the
/// database so that any server behind the load balancer can confirm it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPreview {
    /// The staging id the confirmation form carries.
    pub id: Uuid,
    /// The session the list is for.
    pub session: Uuid,
    /// The staff account that uploaded it; only it may confirm.
    pub account: Uuid,
    /// The session's organiser (association code or organisation id): the per-association cap.
    pub owner: String,
    /// The file as uploaded.
    pub content: Vec<u8>,
    /// When it was previewed; it expires after the configured minutes.
    pub created_at: Timestamp,
}

/// 研修会 — a training session as stored; the app rebuilds a [`mamis_domain::training::Session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingSession {
    /// Identity; venue QR tokens name it.
    pub id: Uuid,
    /// The organising body.
    pub organiser: Organiser,
    /// The title as printed on the flyer.
    pub title: String,
    /// Where it takes place.
    pub venue: mamis_domain::training::Venue,
    /// When doors open for presence capture.
    pub start: Timestamp,
    /// The scheduled end (after `start`).
    pub end: Timestamp,
    /// The organiser's estimate, at least one when given.
    pub expected_headcount: Option<u32>,
    /// When it was registered.
    pub created_at: Timestamp,
    /// Set once the prefecture approves an outside organiser's session; always `None` for an
    /// association's own sessions.
    pub approval: Option<SessionApproval>,
    /// When the organiser closed the session (no more presence; credits are computed).
    pub closed_at: Option<Timestamp>,
    /// The organiser refuses venue-QR self check-in: only desk scans and lists count.
    pub desk_scan_only: bool,
    /// Minutes (0–30) of an item's start and end a doctor may miss and still be credited.
    pub grace_minutes: u32,
}

/// 演題 — one programme item as stored, in the session's order; the app rebuilds a
/// [`mamis_domain::training::ProgrammeItem`] (which checks it against the rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItem {
    /// Identity; part of every credit's origin key, so kept across programme edits.
    pub id: Uuid,
    /// The title as printed on the programme.
    pub title: String,
    /// When the item starts.
    pub start: Timestamp,
    /// Its length in minutes (1–1440).
    pub minutes: u32,
    /// Credit (with its code parts in the organiser's order) or a non-credit slot.
    pub kind: mamis_domain::training::ItemKind,
    /// The catalogue version the codes belong to.
    pub catalogue_version: String,
}

/// How a stretch of presence was captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PresenceChannel {
    /// The doctor scanned the venue's rotating QR code.
    VenueQr,
    /// Desk staff scanned the doctor's personal QR code.
    PersonalQr,
    /// Desk staff entered the doctor by hand.
    Desk,
    /// An attendee list the organiser uploaded (or a web lecture's join/leave log).
    List,
}

impl PresenceChannel {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VenueQr => "venue_qr",
            Self::PersonalQr => "personal_qr",
            Self::Desk => "desk",
            Self::List => "list",
        }
    }

    /// Reads the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::VenueQr, Self::PersonalQr, Self::Desk, Self::List]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// Whose presence a row records.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PresenceSubject {
    /// A doctor with a MAMIS record.
    Doctor(Uuid),
    /// A 医籍登録番号 without a verified MAMIS_ID (or not in the register), held as a
    /// [`PendingAttendance`] of the same session until it can be credited.
    Pending(IsekiNumber),
}

/// One interval [in, out] of presence at a session. Rows are evidence: never deleted, only
/// marked removed (e.g. dropped from a re-uploaded attendee list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceRow {
    /// Identity.
    pub id: Uuid,
    /// The session.
    pub session: Uuid,
    /// Whose presence.
    pub subject: PresenceSubject,
    /// Arrival.
    pub in_at: Timestamp,
    /// Departure; `None` while open (at most one open row per session and subject).
    pub out_at: Option<Timestamp>,
    /// Closed by the organiser closing the session, not by the doctor leaving.
    pub left_at_end: bool,
    /// How it was captured.
    pub channel: PresenceChannel,
    /// The scanning device (desk tablet, phone), when known.
    pub device: Option<String>,
    /// The client's network address, when known.
    pub client_addr: Option<String>,
    /// When the row was written.
    pub created_at: Timestamp,
    /// When it was withdrawn; removed rows are kept but no longer listed.
    pub removed_at: Option<Timestamp>,
}

/// Attendance of a 医籍登録番号 without a verified MAMIS_ID at one session, with the kana name
/// and birth date as given; its intervals are the session's [`PresenceRow`]s with subject
/// [`PresenceSubject::Pending`]. Credited once a MAMIS_ID is verified for that number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAttendance {
    /// Identity.
    pub id: Uuid,
    /// The session.
    pub session: Uuid,
    /// 医籍登録番号 as given.
    pub iseki: IsekiNumber,
    /// 氏カナ as given, if any.
    pub family_kana: Option<String>,
    /// 名カナ as given, if any.
    pub given_kana: Option<String>,
    /// 生年月日 as given, if any.
    pub birth_date: Option<NaiveDate>,
    /// When the first presence of this number was recorded.
    pub created_at: Timestamp,
    /// The doctor credited and when, once done.
    pub credited: Option<(Uuid, Timestamp)>,
}

/// A register entry found for a 医籍登録番号 and whether a verified MAMIS_ID holds it: an
/// attendee list resolves its numbers in one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterMatch {
    /// The doctor registered under the number.
    pub doctor: Doctor,
    /// The account bound to that doctor with verification `verified`, if any: attendance is
    /// then credited to the doctor, otherwise held as pending.
    pub verified_account: Option<Uuid>,
}

/// What the membership procedures need of a doctor beyond the identity record; associations see
/// it, and dues systems read the resident flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoctorProfile {
    /// The doctor it belongs to.
    pub doctor_id: Uuid,
    /// 医療機関名 — applications go to the county of the workplace.
    pub workplace_name: Option<String>,
    /// The workplace's address.
    pub workplace_address: Option<String>,
    /// The workplace's municipality (市区町村), which names its county association.
    pub workplace_municipality: Option<String>,
    /// 自宅住所, for the associations' mailings.
    pub home_address: Option<String>,
    /// A telephone number the association may call.
    pub phone: Option<String>,
    /// 卒業年 — the resident fee waiver runs to the fifth year after graduation.
    pub graduation_year: Option<i32>,
    /// 研修医 — kept for dues systems; classes A2(C) and C are residents' classes.
    pub resident: bool,
    /// When it last changed (changes are audited; this shows staff how fresh it is).
    pub updated_at: Timestamp,
}

/// A class an association offers: the JMA's five at the national level, each county's and
/// prefecture's own below it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssociationClass {
    /// The association offering it.
    pub association: AssociationCode,
    /// Its code, stored on memberships.
    pub code: mamis_domain::ClassCode,
    /// Japanese name shown to doctors and staff.
    pub name_ja: String,
    /// English name.
    pub name_en: String,
    /// Display order.
    pub position: i32,
    /// No longer offered to new members; memberships holding it keep it.
    pub retired: bool,
}

/// One association whose action is due on a procedure; queues list these oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcedureDue {
    /// The association that has to act.
    pub association: AssociationCode,
    /// What it has to do.
    pub action: mamis_domain::procedure::DueAction,
    /// Since when it waits: queue order and the acknowledgement lapse count from it.
    pub since: Timestamp,
}

/// A stored procedure: the domain state machine as JSON with the columns queues, locks and
/// scopes need beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcedureRow {
    /// Internal key.
    pub id: Uuid,
    /// The doctor it concerns; `None` only for a new resident's join until the county's
    /// approval finds or creates their record.
    pub doctor_id: Option<Uuid>,
    /// The MAMIS_ID account of a doctor not yet in the register who filed it (their join).
    pub applicant: Option<Uuid>,
    /// Which procedure.
    pub kind: mamis_domain::procedure::ProcedureKind,
    /// Open, completed or cancelled.
    pub status: mamis_domain::procedure::ProcedureStatus,
    /// The domain state (JSON, read back by the app).
    pub state: String,
    /// The account that filed it: the doctor, or county staff typing in a paper form.
    pub filed_by: Uuid,
    /// When it was filed.
    pub filed_at: Timestamp,
    /// When it last moved.
    pub updated_at: Timestamp,
    /// The date its changes take effect, once known.
    pub effective_on: Option<NaiveDate>,
    /// Who must act next (empty when it waits for the doctor or is closed).
    pub due: Vec<ProcedureDue>,
    /// Every association it concerns; their staff may see it and its doctor.
    pub parties: Vec<AssociationCode>,
}

/// One step of a procedure's history (append-only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcedureEvent {
    /// The procedure.
    pub procedure_id: Uuid,
    /// Position in its history, from 1.
    pub seq: i32,
    /// When it happened.
    pub at: Timestamp,
    /// Who acted; `None` for the system (an acknowledgement that lapsed).
    pub actor: Option<Uuid>,
    /// What happened (JSON of the domain event).
    pub event: String,
}

/// An evidence file of a procedure; the bytes sit in the evidence directory under `storage_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Internal key.
    pub id: Uuid,
    /// The procedure it supports.
    pub procedure_id: Uuid,
    /// The name the uploader gave it.
    pub file_name: String,
    /// Its media type as checked on upload.
    pub content_type: String,
    /// Its size in bytes.
    pub size: i64,
    /// SHA-256 of the bytes (hex), so a changed file on disk is detected.
    pub sha256: String,
    /// Where the bytes are, relative to the evidence directory.
    pub storage_key: String,
    /// Who uploaded it.
    pub uploaded_by: Uuid,
    /// When.
    pub uploaded_at: Timestamp,
}

/// A doctor's names as a name change sets them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoctorNames {
    /// 氏 in kanji.
    pub family_name: String,
    /// 名 in kanji.
    pub given_name: String,
    /// 氏カナ.
    pub family_kana: KanaName,
    /// 名カナ.
    pub given_kana: KanaName,
}
