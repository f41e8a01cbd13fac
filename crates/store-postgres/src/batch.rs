//! The hottest statements, gathered while PostgreSQL is busy: userinfo's bearer reads and the
//! refresh grants' rotations.
//!
//! Under load most of a userinfo request's cost on PostgreSQL is per statement, not per token:
//! executor start-up for the joined index scans, the socket round trip, waking a backend
//! (`perf`, docs/benchmarks.md); a rotation adds its commit's WAL flush. So at most a few such
//! statements run at once, and the requests that arrive meanwhile wait for the next one, which
//! serves all of them (`= ANY($1)`, `unnest`). An idle server runs each request at once, as
//! before.
//!
//! Every answer is made after its request arrived, so a read is as fresh as a read of its own,
//! and a rotation is as durable: its response is sent after the statement holding it committed.
//! A request that cannot be handed over (the dispatcher is gone with its runtime) runs on its
//! own.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use mamis_store::{Bearer, Rotated, Rotation, StoreError, StoreResult};
use sqlx::PgPool;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::convert::db_err;
use crate::oidc::{read_bearers, rotate_many};

/// Bearer reads running at once; more requests wait and go together in the next one.
const BEARER_IN_FLIGHT: usize = 2;
/// Rotations running at once: more than reads, as each also waits for its WAL flush.
const ROTATION_IN_FLIGHT: usize = 3;
/// Requests per statement at most.
const MAX_BATCH: usize = 64;

type Ask<Q, A> = (Q, oneshot::Sender<A>);

/// A queue of requests answered together; cloned with the store.
pub(crate) struct Gather<Q, A> {
    asks: mpsc::UnboundedSender<Ask<Q, A>>,
}

impl<Q, A> Clone for Gather<Q, A> {
    fn clone(&self) -> Self {
        Self {
            asks: self.asks.clone(),
        }
    }
}

impl<Q, A> fmt::Debug for Gather<Q, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather").finish_non_exhaustive()
    }
}

impl<Q: Send + 'static, A: Send + 'static> Gather<Q, A> {
    /// Starts the dispatcher on the current runtime; it ends when every clone is dropped.
    /// `run` answers a batch in its order.
    fn start<F, Fut>(in_flight: usize, run: F) -> Self
    where
        F: Fn(Vec<Q>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<A>> + Send + 'static,
    {
        let (asks, queue) = mpsc::unbounded_channel();
        tokio::spawn(dispatch(in_flight, queue, run));
        Self { asks }
    }
}

impl<Q: Send + 'static, T: Send + 'static> Gather<Q, StoreResult<T>> {
    /// The answer; `None` only when the dispatcher is gone, so the request never ran (run it on
    /// your own then). An answer lost after the request was handed over is an error, not a
    /// second run: a rotation may have been made.
    pub(crate) async fn ask(&self, q: Q) -> Option<StoreResult<T>> {
        let (reply, answer) = oneshot::channel();
        self.asks.send((q, reply)).ok()?;
        Some(answer.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "a gathered statement's answer was lost".into(),
            ))
        }))
    }
}

async fn dispatch<Q, A, F, Fut>(
    in_flight: usize,
    mut queue: mpsc::UnboundedReceiver<Ask<Q, A>>,
    run: F,
) where
    Q: Send + 'static,
    A: Send + 'static,
    F: Fn(Vec<Q>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<A>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(in_flight));
    while let Some(first) = queue.recv().await {
        // Waiting for a slot is what lets the next requests gather behind this one.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(ask) => batch.push(ask),
                Err(_) => break,
            }
        }
        let (qs, replies): (Vec<Q>, Vec<oneshot::Sender<A>>) = batch.into_iter().unzip();
        let answers = run(qs);
        tokio::spawn(async move {
            // `run` answers every request of the batch, in its order.
            for (reply, a) in replies.into_iter().zip(answers.await) {
                // A request that went away no longer listens.
                let _ = reply.send(a);
            }
            drop(slot);
        });
    }
}

/// Userinfo's bearer reads.
pub(crate) type BearerBatches = Gather<String, StoreResult<Option<Bearer>>>;
/// The refresh grants' rotations, each committed by the statement that makes it.
pub(crate) type RotationBatches = Gather<Rotation, StoreResult<Option<Rotated>>>;

/// Reads each batch's tokens in one statement.
pub(crate) fn bearers(pool: PgPool) -> BearerBatches {
    Gather::start(BEARER_IN_FLIGHT, move |hashes: Vec<String>| {
        let pool = pool.clone();
        async move {
            let found = match pool.acquire().await {
                Ok(mut conn) => {
                    let keys: Vec<&str> = hashes.iter().map(String::as_str).collect();
                    read_bearers(&mut conn, &keys).await
                }
                Err(e) => Err(db_err(e)),
            };
            match found {
                Ok(found) => hashes
                    .iter()
                    .map(|h| found.get(h).cloned().transpose())
                    .collect(),
                Err(e) => hashes.iter().map(|_| Err(e.clone())).collect(),
            }
        }
    })
}

/// Rotates each batch in one statement outside any transaction, which commits it; should that
/// statement fail, each rotation is tried in a statement of its own, so that one request's
/// failure is never another's.
pub(crate) fn rotations(pool: PgPool) -> RotationBatches {
    Gather::start(ROTATION_IN_FLIGHT, move |rs: Vec<Rotation>| {
        let pool = pool.clone();
        async move {
            let mut conn = match pool.acquire().await {
                Ok(conn) => conn,
                Err(e) => {
                    let e = db_err(e);
                    return rs.iter().map(|_| Err(e.clone())).collect();
                }
            };
            match rotate_many(&mut conn, &rs).await {
                Ok(done) => done.into_iter().map(Ok).collect(),
                Err(e) if rs.len() == 1 => vec![Err(e)],
                Err(_) => {
                    let mut each = Vec::with_capacity(rs.len());
                    for r in &rs {
                        each.push(
                            rotate_many(&mut conn, std::slice::from_ref(r))
                                .await
                                .map(|mut one| one.pop().flatten()),
                        );
                    }
                    each
                }
            }
        }
    })
}
