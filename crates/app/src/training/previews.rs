//! Previewed attendee lists between the preview and the organiser's confirmation, kept in the
//! store so that any of several servers can confirm what another previewed. Bounded per
//! organiser (their oldest gives way), per association (further previews are refused until one
//! is confirmed or expires) and in time.

use chrono::Duration;
use mamis_domain::Principal;
use mamis_store::{Organiser, Store, TrainingStore, Tx, UploadPreview};
use uuid::Uuid;

use super::{TrainingError, TrainingResult, managed_session};
use crate::App;

/// How many previews may wait, and for how long (`MAMIS_UPLOAD_PREVIEWS_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviewLimits {
    /// Previews one staff member may have waiting; a further upload replaces their oldest.
    pub per_organiser: u32,
    /// Previews waiting for one association's (or organisation's) sessions in all.
    pub per_association: u32,
    /// Minutes a preview waits for its confirmation.
    pub minutes: u32,
}

impl Default for PreviewLimits {
    fn default() -> Self {
        Self {
            per_organiser: 3,
            per_association: 10,
            minutes: 30,
        }
    }
}

/// The per-association cap's key: the session's organiser.
fn owner(o: &Organiser) -> String {
    match o {
        Organiser::Association(c) => c.to_string(),
        Organiser::Organisation(id) => id.to_string(),
    }
}

/// Keeps a previewed file for `account`'s confirmation on `session`; returns the staging id.
/// Expired previews go first; then the account's oldest beyond its cap; a full association
/// refuses with [`TrainingError::TooManyPreviews`] and keeps nothing.
pub async fn keep<S: Store>(
    app: &App<S>,
    who: &Principal,
    account: Uuid,
    session: Uuid,
    content: Vec<u8>,
) -> TrainingResult<Uuid> {
    let now = app.now();
    let limits = app.config.previews;
    let mut tx = app.store.write().await?;
    let s = managed_session(&mut tx, who, session).await?;
    tx.purge_upload_previews(now - Duration::minutes(i64::from(limits.minutes)))
        .await?;
    let owner = owner(&s.organiser);
    let (mine, theirs) = tx.upload_previews_of(account, &owner).await?;
    let cap = usize::try_from(limits.per_organiser).unwrap_or(usize::MAX);
    let excess = (mine.len() + 1).saturating_sub(cap);
    let mut waiting = theirs.len();
    for id in mine.iter().take(excess) {
        tx.delete_upload_preview(*id).await?;
        if theirs.contains(id) {
            waiting -= 1;
        }
    }
    if waiting >= usize::try_from(limits.per_association).unwrap_or(usize::MAX) {
        tx.rollback().await?;
        return Err(TrainingError::TooManyPreviews);
    }
    let id = Uuid::new_v4();
    tx.insert_upload_preview(&UploadPreview {
        id,
        session,
        account,
        owner,
        content,
        created_at: now,
    })
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Takes the previewed file once: `None` when unknown, already confirmed, expired, or someone
/// else's (then nothing is consumed).
pub async fn take<S: Store>(
    app: &App<S>,
    account: Uuid,
    session: Uuid,
    id: Uuid,
) -> TrainingResult<Option<Vec<u8>>> {
    let now = app.now();
    let ttl = Duration::minutes(i64::from(app.config.previews.minutes));
    let mut tx = app.store.write().await?;
    let taken = tx.take_upload_preview(id, session, account).await?;
    tx.commit().await?;
    Ok(taken
        .filter(|p| now - p.created_at < ttl)
        .map(|p| p.content))
}
