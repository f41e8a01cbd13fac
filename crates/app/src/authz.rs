//! The one authorization gate: every use case calls [`require`] before touching data.

use mamis_domain::{Action, Principal, Target};

use crate::AppError;

/// Refuses unless the rule table lets `principal` perform `action` on `target`.
pub fn require(principal: &Principal, action: Action, target: &Target<'_>) -> Result<(), AppError> {
    if principal.permits(action, target) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}
