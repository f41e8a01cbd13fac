//! MAMIS_ID identity: registration with safe binding to the register, password and TOTP login
//! with throttling, sessions, recovery, staff verification, and the legacy CME login until the
//! cut-over.

pub mod binding;
pub mod crypto;
pub mod legacy;
pub mod login;
pub mod mail_requests;
pub mod passwords;
pub mod recovery;
pub mod registration;
pub mod sessions;
pub mod totp;

use mamis_domain::identity::PasswordProblem;
use mamis_domain::{DomainError, Timestamp};
use mamis_store::StoreError;

use crate::AppError;

/// Why an identity step was refused, phrased for the person at the form. Variants that could
/// reveal whether an account exists collapse into [`IdentityError::LoginFailed`].
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Wrong password, unknown account, or an account that must wait: one message for all.
    #[error("login failed")]
    LoginFailed,
    /// The account is suspended by staff (said only after the right password).
    #[error("account suspended")]
    Suspended,
    /// The second-factor code or recovery code was not accepted.
    #[error("second factor refused")]
    SecondFactorFailed,
    /// A link is unknown, used or expired.
    #[error("link invalid or expired")]
    LinkInvalid,
    /// A new password breaks the policy.
    #[error("password refused: {0:?}")]
    Password(PasswordProblem),
    /// A typed value does not parse.
    #[error("invalid input: {0}")]
    Invalid(#[from] DomainError),
    /// The step does not fit the account's state (e.g. identity already verified).
    #[error("not possible in this state: {0}")]
    State(&'static str),
    /// The legacy login ended at the cut-over; the handler looked nothing up.
    #[error("legacy login ended")]
    LegacyEnded,
    /// Anything else.
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<StoreError> for IdentityError {
    fn from(e: StoreError) -> Self {
        IdentityError::App(e.into())
    }
}

/// Shorthand for identity results.
pub type IdResult<T> = Result<T, IdentityError>;

/// How long a registration or e-mail-change link works.
pub const LINK_TTL: chrono::Duration = chrono::Duration::hours(24);
/// How long a password-reset link works.
pub const RESET_TTL: chrono::Duration = chrono::Duration::hours(1);
/// How long a staff enrolment link works.
pub const ENROL_TTL: chrono::Duration = chrono::Duration::hours(72);

/// The link a mail carries: `BASE/path?token=SECRET`.
pub fn link(base: &url::Url, path: &str, secret: &str) -> String {
    format!(
        "{}{path}?token={secret}",
        base.as_str().trim_end_matches('/')
    )
}

/// Formats an instant for mail and pages (Japan time).
pub fn jst(t: Timestamp) -> String {
    mamis_domain::time::to_japan(t)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}
