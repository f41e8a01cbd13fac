use mamis_domain::DomainError;
use mamis_store::StoreError;

/// Why a use case refused or failed. The web layer maps each variant to one HTTP status and one
/// message key; internals (`Internal`) are logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No valid credential came (missing, unknown or revoked token): authenticate and retry.
    #[error("authentication required")]
    Unauthenticated,
    /// The caller is known, but no grant of theirs allows this action on this target.
    #[error("not allowed")]
    Forbidden,
    /// The association, token or other target named in the request does not exist.
    #[error("not found")]
    NotFound,
    /// The input broke a domain rule; the `DomainError` says which, so the user can correct it.
    #[error("invalid input: {0}")]
    Invalid(#[from] DomainError),
    /// The change clashes with stored data (e.g. a second 医籍登録番号); names the constraint or reason.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database could not be reached or timed out; transient: retry, and operators check it.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Another writer (a bulk import or apply) held the database past the busy timeout; nothing
    /// was written, and retrying after a short wait will do.
    #[error("database busy: {0}")]
    Busy(String),
    /// A defect or corrupt data; the text is logged, users see a generic error and the request id.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { constraint } => AppError::Conflict(constraint),
            StoreError::Unavailable(m) => AppError::Unavailable(m),
            StoreError::Busy(m) => AppError::Busy(m),
            StoreError::Corrupt(m) | StoreError::Other(m) => AppError::Internal(m),
        }
    }
}
