use mamis_domain::DomainError;
use mamis_store::StoreError;

/// Why a use case refused or failed. The web layer maps each variant to one HTTP status and one
/// message key; internals (`Internal`) are logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("authentication required")]
    Unauthenticated,
    #[error("not allowed")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("invalid input: {0}")]
    Invalid(#[from] DomainError),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { constraint } => AppError::Conflict(constraint),
            StoreError::Unavailable(m) => AppError::Unavailable(m),
            StoreError::Corrupt(m) | StoreError::Other(m) => AppError::Internal(m),
        }
    }
}
