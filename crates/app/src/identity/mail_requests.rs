//! Reset and registration mail asked for by address: the request only queues a job with the
//! address, the same step whether or not the address has a MAMIS_ID, so neither the answer nor
//! the work done before it tells known addresses apart. The job, off the request path, looks the
//! address up and writes the mail that fits (PRODUCT §2: registration and reset never reveal
//! whether an address is known).

use mamis_domain::identity::Email;
use mamis_store::{Job, Store, Tx};

use super::{IdResult, recovery, registration};
use crate::App;
use crate::jobs::{BoxFuture, JobHandler, enqueue};

/// The job kind that writes a password-reset mail for an address.
pub const RESET_KIND: &str = "identity.reset_mail";
/// The job kind that writes a registration mail for an address.
pub const REGISTER_KIND: &str = "identity.register_mail";

/// Queues the job of `kind` for `email`: one job, whatever the address.
pub(super) async fn queue<S: Store>(app: &App<S>, kind: &str, email: &Email) -> IdResult<()> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    enqueue(
        &mut tx,
        now,
        kind,
        serde_json::json!({ "email": email.as_str() }),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn address(job: &Job) -> Result<Email, String> {
    job.payload
        .get("email")
        .and_then(|v| v.as_str())
        .and_then(|s| Email::parse(s).ok())
        .ok_or_else(|| "payload without a valid email".to_owned())
}

/// Writes the reset mail of a queued request (nothing for an unknown address).
#[derive(Debug, Clone, Copy, Default)]
pub struct ResetMailJob;

impl<S: Store> JobHandler<S> for ResetMailJob {
    fn kind(&self) -> &'static str {
        RESET_KIND
    }

    fn run<'a>(&'a self, app: &'a App<S>, job: &'a Job) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let email = address(job)?;
            recovery::write_reset_mail(app, &email)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// Writes the registration mail of a queued request (a link for a new address, a "you already
/// have a MAMIS_ID" notice for a known one).
#[derive(Debug, Clone, Copy, Default)]
pub struct RegisterMailJob;

impl<S: Store> JobHandler<S> for RegisterMailJob {
    fn kind(&self) -> &'static str {
        REGISTER_KIND
    }

    fn run<'a>(&'a self, app: &'a App<S>, job: &'a Job) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let email = address(job)?;
            registration::write_registration_mail(app, &email)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
