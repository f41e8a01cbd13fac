//! MAMIS use cases over the store traits: authorization, audit chain, jobs, mail outbox,
//! API tokens, the registry and demo data. No HTTP types; every instant comes from the clock.

pub mod audit;
pub mod authz;
pub mod cme;
pub mod demo;
mod error;
pub mod identity;
pub mod jobs;
pub mod learning;
pub mod limits;
pub mod mail;
pub mod members;
pub mod membership;
pub mod migration;
pub mod oidc;
pub mod portal;
pub mod programmes;
pub mod registry;
mod sheet;
pub mod tokens;
pub mod training;

pub use error::AppError;

use mamis_domain::{Clock, Timestamp};
use mamis_store::Store;
use std::sync::Arc;

/// A secret byte string that never prints itself.
#[derive(Clone)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    /// Wraps key material.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Arc::from(bytes.into().into_boxed_slice()))
    }
    /// The bytes, for the one place that uses them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Settings the use cases need (the CLI builds them from the validated configuration).
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// The public base URL (issuer, links in mail).
    pub base_url: url::Url,
    /// Key of the audit chain's HMAC; kept outside the database.
    pub audit_key: Secret,
    /// Key for signing cookies and tokens.
    pub secret_key: Secret,
    /// SMTP relay; without one, mail stays in the outbox.
    pub smtp_url: Option<String>,
    /// Sender address of outgoing mail.
    pub mail_from: String,
    /// How long a claimed job is leased before another worker may take it.
    pub job_lease: chrono::Duration,
    /// argon2id cost (OWASP in production, the cheapest in tests).
    pub password_cost: identity::passwords::Cost,
    /// How many password hashes may run at once (each OWASP hash holds 19 MiB).
    pub hash_parallelism: usize,
    /// Idle and absolute session lifetimes.
    pub sessions: mamis_domain::identity::SessionPolicy,
    /// The instant legacy CME logins stop (`MAMIS_LEGACY_LOGIN_UNTIL`).
    pub legacy_until: Timestamp,
    /// The OpenID Provider's token lifetimes.
    pub oidc: oidc::provider::Lifetimes,
    /// Rate limits shared by every server (`/verify`, reset and registration mail).
    pub limits: limits::Limits,
    /// How many previewed attendee lists may wait, and for how long.
    pub previews: training::previews::PreviewLimits,
    /// Membership procedures: member-ID range, acknowledgement lapse, evidence directory.
    pub membership: membership::Settings,
}

/// Everything a use case needs: the store, the clock and the settings. Cheap to clone.
#[derive(Clone, Debug)]
pub struct App<S: Store> {
    /// The database every use case reads and writes through, SQLite or PostgreSQL alike.
    pub store: S,
    /// The only source of the current instant (a `FakeClock` under test); read via [`App::now`].
    pub clock: Arc<dyn Clock>,
    /// The validated settings, shared by every clone of the context.
    pub config: Arc<AppConfig>,
    /// The bounded password hasher shared by every request.
    pub hasher: Arc<identity::passwords::Hasher>,
    /// The parsed signing keys, so a token response does not read and parse its key.
    pub signers: Arc<oidc::keys::SignerCache>,
}

impl<S: Store> App<S> {
    /// Builds the context (and the password hasher for the configured cost).
    pub fn new(store: S, clock: Arc<dyn Clock>, config: AppConfig) -> Result<Self, AppError> {
        config.oidc.check().map_err(AppError::Conflict)?;
        let hasher =
            identity::passwords::Hasher::new(config.password_cost, config.hash_parallelism)?;
        Ok(Self {
            store,
            clock,
            config: Arc::new(config),
            hasher: Arc::new(hasher),
            signers: Arc::default(),
        })
    }

    /// Appends an audit record at [`App::now`] inside the caller's transaction.
    pub async fn audit<T: mamis_store::AuditStore + Send>(
        &self,
        tx: &mut T,
        entry: audit::Entry<'_>,
    ) -> Result<i64, mamis_store::StoreError> {
        audit::record(tx, &self.config.audit_key, self.now(), entry).await
    }

    /// Now, truncated to microseconds: both databases keep exactly that, so values read back
    /// compare equal to what was written (the audit MAC depends on it).
    pub fn now(&self) -> Timestamp {
        truncate_micros(self.clock.now())
    }
}

/// Drops sub-microsecond precision.
pub fn truncate_micros(t: Timestamp) -> Timestamp {
    chrono::DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}
