//! PostgreSQL backend of the MAMIS store: for production, where several `mamis serve`
//! processes share one database.
//!
//! Transactions are plain `BEGIN` (READ COMMITTED); the job queue claims with
//! `FOR UPDATE SKIP LOCKED` and the audit chain serialises appends by locking its head row, so
//! any number of servers can work on the same database. No statement reads the database clock.

mod batch;
mod certificates;
mod convert;
mod identity;
mod learning;
mod ledger;
mod members;
mod membership;
mod oidc;
mod programmes;
mod store;
pub mod testdb;
mod training;

pub use store::{PgStore, PgTx};
