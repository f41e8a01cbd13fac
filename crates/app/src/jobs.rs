//! Background jobs: enqueued in the same transaction as the change that causes them, claimed
//! with a lease by any server, retried with back-off, and parked as dead after the last attempt.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use mamis_domain::Timestamp;
use mamis_store::{Enqueued, Job, JobStore, NewJob, Store, StoreError, Tx};
use uuid::Uuid;

use crate::{App, AppError};

/// Attempts before a job is parked as dead, unless the enqueuer says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 8;

/// Enqueues a job in the caller's transaction: if that transaction rolls back, the job never
/// existed. A repeated `idempotency_key` yields the existing job.
pub async fn enqueue<T: JobStore + Send>(
    tx: &mut T,
    now: Timestamp,
    kind: &str,
    payload: serde_json::Value,
    idempotency_key: Option<String>,
) -> Result<Enqueued, StoreError> {
    let job = NewJob {
        id: Uuid::now_v7(),
        kind: kind.to_owned(),
        payload,
        idempotency_key,
        run_at: now,
        max_attempts: DEFAULT_MAX_ATTEMPTS,
    };
    tx.enqueue_job(&job, now).await
}

/// Delay before the attempt after `attempts`: 10 s doubling, at most an hour.
pub fn backoff(attempts: i32) -> chrono::Duration {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    chrono::Duration::seconds((10i64 << exp).min(3_600))
}

/// A boxed future, for handlers kept in a map by kind.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs jobs of one kind. An `Err` is retried with back-off until the attempts run out.
pub trait JobHandler<S: Store>: Send + Sync {
    /// The kind this handler runs.
    fn kind(&self) -> &'static str;
    /// Does the work; must be safe to run again after a crash (at-least-once delivery).
    fn run<'a>(&'a self, app: &'a App<S>, job: &'a Job) -> BoxFuture<'a, Result<(), String>>;
}

/// What one `run_once` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// Nothing was due.
    Idle,
    /// A job ran and succeeded.
    Done(Uuid),
    /// A job failed and will be retried at the given instant.
    Retry(Uuid, Timestamp),
    /// A job failed for the last time (or has no handler) and is dead.
    Dead(Uuid),
    /// Another worker took the job over while it ran (lease expired); its result was discarded.
    LeaseLost(Uuid),
}

/// Claims and runs jobs. Any number of workers on any number of servers may run at once.
#[derive(Clone)]
pub struct Worker<S: Store> {
    app: App<S>,
    handlers: Arc<HashMap<&'static str, Arc<dyn JobHandler<S>>>>,
}

impl<S: Store> Worker<S> {
    /// A worker running the given handlers.
    pub fn new(app: App<S>, handlers: Vec<Arc<dyn JobHandler<S>>>) -> Self {
        let handlers = handlers.into_iter().map(|h| (h.kind(), h)).collect();
        Self {
            app,
            handlers: Arc::new(handlers),
        }
    }

    /// Claims one due job and runs it to an outcome. Tests call this instead of sleeping.
    pub async fn run_once(&self) -> Result<Ran, AppError> {
        let now = self.app.now();
        let mut tx = self.app.store.write().await?;
        let claimed = tx.claim_job(now, self.app.config.job_lease).await?;
        tx.commit().await?;
        let Some(job) = claimed else {
            return Ok(Ran::Idle);
        };
        let Some(lease) = job.lease else {
            return Err(AppError::Internal("claimed job without lease".into()));
        };

        let outcome = if job.attempts > job.max_attempts {
            Err(format!("gave up after {} attempts", job.max_attempts))
        } else {
            match self.handlers.get(job.kind.as_str()) {
                Some(h) => h.run(&self.app, &job).await,
                None => Err(format!("no handler for job kind {}", job.kind)),
            }
        };

        let now = self.app.now();
        let mut tx = self.app.store.write().await?;
        let (kept, ran) = match outcome {
            Ok(()) => (
                tx.complete_job(job.id, lease, now).await?,
                Ran::Done(job.id),
            ),
            Err(e) => {
                let final_attempt = job.attempts >= job.max_attempts
                    || !self.handlers.contains_key(job.kind.as_str());
                if final_attempt {
                    tracing::error!(job = %job.id, kind = %job.kind, error = %e, "job is dead");
                    (
                        tx.fail_job(job.id, lease, &e, None).await?,
                        Ran::Dead(job.id),
                    )
                } else {
                    let at = now + backoff(job.attempts);
                    tracing::warn!(job = %job.id, kind = %job.kind, error = %e, retry_at = %at, "job failed");
                    (
                        tx.fail_job(job.id, lease, &e, Some(at)).await?,
                        Ran::Retry(job.id, at),
                    )
                }
            }
        };
        tx.commit().await?;
        Ok(if kept { ran } else { Ran::LeaseLost(job.id) })
    }

    /// Runs every due job until none is left; returns how many ran.
    pub async fn drain(&self) -> Result<usize, AppError> {
        let mut n = 0;
        while self.run_once().await? != Ran::Idle {
            n += 1;
        }
        Ok(n)
    }

    /// Polls until `shutdown` resolves; the loop of `mamis serve`.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.run_once().await {
                Ok(Ran::Idle) => {}
                Ok(_) => continue,
                Err(e) => tracing::error!(error = %e, "job worker"),
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let secs: Vec<i64> = (1..=10).map(|a| backoff(a).num_seconds()).collect();
        assert_eq!(secs, [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]);
        assert_eq!(backoff(100).num_seconds(), 3600);
        assert_eq!(backoff(0).num_seconds(), 10);
    }
}
