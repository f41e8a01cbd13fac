//! SQLite backend of the MAMIS store: the embedded default, one process per database file.
//!
//! WAL mode, foreign keys on, writers start with `BEGIN IMMEDIATE` so they queue rather than
//! fail when upgrading a read lock. Several `mamis serve` processes must use PostgreSQL instead.

mod certificates;
mod convert;
mod direct;
mod identity;
mod learning;
mod ledger;
mod members;
mod membership;
mod oidc;
mod programmes;
mod store;
mod training;

pub use store::{SqliteStore, SqliteTx};
