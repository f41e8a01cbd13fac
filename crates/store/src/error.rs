use thiserror::Error;

/// What went wrong in the store, without any database-driver type.
#[derive(Debug, Clone, Error)]
pub enum StoreError {
    /// A uniqueness or foreign-key rule refused the change; the constraint name says which.
    #[error("conflict on {constraint}")]
    Conflict {
        /// The constraint, named alike on both backends (e.g. `doctors_iseki_key`, `foreign_key`).
        constraint: String,
    },
    /// The database could not be reached or timed out.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Another writer held the database past the busy timeout (a bulk import or apply): the
    /// write was not made; retrying shortly will do.
    #[error("database busy: {0}")]
    Busy(String),
    /// A stored value no longer parses into its domain type.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// Anything else; logged, never shown.
    #[error("database error: {0}")]
    Other(String),
}

impl StoreError {
    /// Whether this is a conflict on the named constraint.
    pub fn is_conflict_on(&self, name: &str) -> bool {
        matches!(self, StoreError::Conflict { constraint } if constraint == name)
    }
}

/// Refuses a batch that names one key twice: the batched throttle statements would update a row
/// twice, which PostgreSQL refuses and SQLite would apply in order, so both refuse it alike.
pub fn distinct_keys<'a>(keys: impl Iterator<Item = &'a str>) -> Result<(), StoreError> {
    let mut seen = std::collections::HashSet::new();
    for k in keys {
        if !seen.insert(k) {
            return Err(StoreError::Other(format!(
                "key {k} given twice in one batch"
            )));
        }
    }
    Ok(())
}
