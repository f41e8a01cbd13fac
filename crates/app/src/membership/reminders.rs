//! Reminders to the staff of an association whose action on a procedure has waited: the first
//! after the configured days, then weekly while it still waits. Each item due queues a job for
//! the day its first reminder falls due; the job mails every reminder due by then (any server
//! may run it: items are marked in the same transaction, so none is mailed twice) and queues
//! the next week's run for what it reminded.

use chrono::Duration;
use mamis_domain::{AssociationCode, Principal, Timestamp};
use mamis_store::{AccessStore, Job, JobStore, MembershipStore, NewJob, Store, Tx};
use serde_json::json;
use uuid::Uuid;

use crate::audit::Entry;
use crate::jobs::{BoxFuture, JobHandler};
use crate::mail::{self, Outgoing};
use crate::{App, AppError};

/// The job kind that mails the reminders due.
pub const REMIND_KIND: &str = "membership.remind";

/// Days between a reminder and the next while the item still waits.
pub const REPEAT_DAYS: i64 = 7;

/// Queues the reminder run for an item that starts waiting at `since` (one run per item and
/// day; a run that finds it handled sends nothing for it).
pub(super) async fn schedule<T: JobStore + Send>(
    tx: &mut T,
    now: Timestamp,
    at: Timestamp,
    procedure: Uuid,
    association: &AssociationCode,
) -> Result<(), AppError> {
    tx.enqueue_job(
        &NewJob {
            id: Uuid::now_v7(),
            kind: REMIND_KIND.into(),
            payload: json!({ "procedure": procedure, "association": association.as_str() }),
            idempotency_key: Some(format!(
                "{REMIND_KIND}:{procedure}:{association}:{}",
                at.format("%Y%m%d")
            )),
            run_at: at,
            max_attempts: 10,
        },
        now,
    )
    .await?;
    Ok(())
}

/// Mails every reminder due now and queues the next week's run for each; returns how many
/// items were reminded.
pub async fn send_reminders<S: Store>(app: &App<S>) -> Result<usize, AppError> {
    let now = app.now();
    let first = now - Duration::days(app.config.membership.remind_days);
    let again = now - Duration::days(REPEAT_DAYS);
    let actor = Principal::Job {
        kind: REMIND_KIND.into(),
    };
    let mut sent = 0;
    loop {
        let mut tx = app.store.write().await?;
        let batch = tx.reminders_due(first, again, 50).await?;
        if batch.is_empty() {
            tx.rollback().await?;
            return Ok(sent);
        }
        for (procedure, association, since) in batch {
            let days = (now - since).num_days();
            for to in tx.staff_emails(std::slice::from_ref(&association)).await? {
                mail::queue(
                    &mut tx,
                    now,
                    Outgoing {
                        to,
                        subject: format!(
                            "【MAMIS】会員手続きが {days} 日間処理を待っています / A membership procedure has waited {days} days"
                        ),
                        body_text: format!(
                            "会員手続き {procedure} が {days} 日前から貴会の処理を待っています。MAMIS の事務局画面の会員手続き一覧から開いてください。処理されるまで毎週お知らせします。\n\n\
                             Membership procedure {procedure} has waited {days} days for your association. \
                             Open it from the membership procedures list in the MAMIS office pages. \
                             You will be reminded weekly until it is handled.\n"
                        ),
                    },
                )
                .await?;
            }
            tx.mark_reminded(procedure, &association, now).await?;
            schedule(
                &mut tx,
                now,
                now + Duration::days(REPEAT_DAYS),
                procedure,
                &association,
            )
            .await?;
            app.audit(
                &mut tx,
                Entry {
                    actor: &actor,
                    action: "membership.remind",
                    target: format!("procedure:{procedure}"),
                    client_addr: None,
                    details: json!({ "association": association.as_str(), "waiting_days": days }),
                },
            )
            .await?;
            sent += 1;
        }
        tx.commit().await?;
    }
}

/// Runs [`send_reminders`] when a reminder falls due.
#[derive(Debug, Clone, Copy, Default)]
pub struct RemindJob;

impl<S: Store> JobHandler<S> for RemindJob {
    fn kind(&self) -> &'static str {
        REMIND_KIND
    }

    fn run<'a>(&'a self, app: &'a App<S>, _job: &'a Job) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            send_reminders(app)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}
