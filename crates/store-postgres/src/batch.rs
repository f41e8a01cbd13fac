//! Userinfo's reads, gathered while PostgreSQL is busy.
//!
//! Under load most of a userinfo request's cost on PostgreSQL is per statement, not per token:
//! executor start-up for the joined index scans, the socket round trip, waking a backend
//! (`perf`, docs/benchmarks.md). So at most [`IN_FLIGHT`] bearer reads run at once, and the
//! requests that arrive meanwhile wait for the next one, which reads all their tokens in one
//! statement. An idle server reads each token at once, as before.
//!
//! Every answer is read after its request arrived, so it is as fresh as a read of its own. A
//! request whose answer cannot come from here (the dispatcher is gone with its runtime) reads on
//! its own.

use std::sync::Arc;

use mamis_store::{Bearer, StoreResult};
use sqlx::PgPool;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::convert::db_err;
use crate::oidc::read_bearers;

/// Bearer reads running at once; more requests wait and go together in the next one.
const IN_FLIGHT: usize = 2;
/// Tokens per statement at most.
const MAX_BATCH: usize = 64;

type Answer = StoreResult<Option<Bearer>>;

struct Ask {
    hash: String,
    reply: oneshot::Sender<Answer>,
}

/// The queue of waiting bearer reads; cloned with the store.
#[derive(Clone, Debug)]
pub(crate) struct BearerBatches {
    asks: mpsc::UnboundedSender<Ask>,
}

impl BearerBatches {
    /// Starts the dispatcher on the current runtime; it ends when every clone is dropped.
    pub(crate) fn start(pool: PgPool) -> Self {
        let (asks, queue) = mpsc::unbounded_channel();
        tokio::spawn(dispatch(pool, queue));
        Self { asks }
    }

    /// The token's bearer, or `None` when the dispatcher cannot answer (read on your own then).
    pub(crate) async fn bearer(&self, hash: &str) -> Option<Answer> {
        let (reply, answer) = oneshot::channel();
        self.asks
            .send(Ask {
                hash: hash.to_owned(),
                reply,
            })
            .ok()?;
        answer.await.ok()
    }
}

async fn dispatch(pool: PgPool, mut queue: mpsc::UnboundedReceiver<Ask>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
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
        let pool = pool.clone();
        tokio::spawn(async move {
            answer(&pool, batch).await;
            drop(slot);
        });
    }
}

async fn answer(pool: &PgPool, batch: Vec<Ask>) {
    let found = match pool.acquire().await {
        Ok(mut conn) => {
            let hashes: Vec<&str> = batch.iter().map(|a| a.hash.as_str()).collect();
            read_bearers(&mut conn, &hashes).await
        }
        Err(e) => Err(db_err(e)),
    };
    match found {
        Ok(found) => {
            for ask in batch {
                // A request that went away no longer listens.
                let _ = ask.reply.send(found.get(&ask.hash).cloned().transpose());
            }
        }
        Err(e) => {
            for ask in batch {
                let _ = ask.reply.send(Err(e.clone()));
            }
        }
    }
}
