//! CME benchmark (not a test): latency of a doctor's My Page summary (`cme::summary`: the
//! account check, the doctor, memberships, the whole ledger and the certificates read from the
//! store, then the rules engine) on a national-size ledger.
//!
//! `cargo bench -p mamis-testkit --bench cme`
//! - `MAMIS_BENCH_SQLITE_URL` / `MAMIS_BENCH_PG_URL`: an existing database loaded with
//!   `mamis demo --doctors 340000 --ledger-entries 88` (about 30 million entries; migrated to
//!   the current schema first); without them
//!   `MAMIS_BENCH_DOCTORS` doctors (default 20,000) × 88 entries are generated into fresh ones.
//! - `MAMIS_BENCH_SECS` (default 10) per backend, `MAMIS_BENCH_CONNS` concurrent readers (4).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mamis_app::cme;
use mamis_domain::Principal;
use mamis_store::{
    AccessStore, Account, AccountKind, IdentityStore, LedgerStore, RegistryStore, Store, Tx,
    Verification,
};
use mamis_testkit::TestApp;
use uuid::Uuid;

const SAMPLE: usize = 500;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Verified doctor accounts bound to `SAMPLE` doctors spread over the register.
async fn sample_accounts<S: Store>(t: &TestApp<S>) -> Vec<(Principal, Uuid)> {
    let mut tx = t.app.store.read().await.unwrap();
    let total = tx.count_doctors().await.unwrap();
    let stride = (total / SAMPLE as u64).max(1) as u32;
    let mut picked = Vec::new();
    let mut after = None;
    while picked.len() < SAMPLE {
        let page = tx.doctors_page(after, stride).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        picked.push(last.id);
    }
    tx.rollback().await.unwrap();
    let now = t.app.now();
    let mut out = Vec::new();
    let mut tx = t.app.store.write().await.unwrap();
    for d in picked {
        // a data set used before keeps the accounts bound then
        if let Some(a) = tx.verified_account_of(d).await.unwrap() {
            out.push((
                Principal::Doctor {
                    account_id: a.id,
                    doctor_id: Some(d),
                },
                d,
            ));
            continue;
        }
        let id = Uuid::new_v4();
        let mut acc = Account::new(
            id,
            &format!("bench-{}@example.jp", id.simple()),
            "",
            AccountKind::Doctor,
            now,
        );
        acc.doctor_id = Some(d);
        acc.verification = Verification::Verified;
        tx.insert_account(&acc).await.unwrap();
        out.push((
            Principal::Doctor {
                account_id: id,
                doctor_id: Some(d),
            },
            d,
        ));
    }
    tx.commit().await.unwrap();
    out
}

async fn run<S: Store>(label: &str, t: TestApp<S>, secs: u64, conns: usize) {
    let mut tx = t.app.store.read().await.unwrap();
    let doctors = tx.count_doctors().await.unwrap();
    let entries = tx.count_ledger_entries().await.unwrap();
    tx.rollback().await.unwrap();
    let who = Arc::new(sample_accounts(&t).await);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..conns {
        let (app, who, stop) = (t.app.clone(), who.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = c * 7919;
            let mut rows = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let (p, d) = &who[i % who.len()];
                let t0 = Instant::now();
                let s = cme::summary(&app, p, *d, None).await.unwrap();
                lat.push(t0.elapsed());
                rows += s.entries.len();
                i += 1;
            }
            (lat, rows)
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    let mut rows = 0;
    for task in tasks {
        let (l, r) = task.await.unwrap();
        lat.extend(l);
        rows += r;
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "{label}: {doctors} doctors, {entries} ledger entries; {} summaries in {elapsed:.1} s \
         ({:.0}/s, {conns} concurrent), {:.1} entries each; p50 {:?}, p99 {:?}, max {:?}",
        lat.len(),
        lat.len() as f64 / elapsed,
        rows as f64 / lat.len() as f64,
        pct(0.50),
        pct(0.99),
        lat[lat.len() - 1],
    );
}

async fn generate<S: Store>(t: &TestApp<S>, doctors: u64) {
    let t0 = Instant::now();
    mamis_app::demo::generate_national(&t.app.store, doctors, 1, |_| {})
        .await
        .unwrap();
    let n = mamis_app::demo::generate_ledger(&t.app.store, 88, 1, |_| {})
        .await
        .unwrap();
    println!(
        "generated {doctors} doctors and {n} entries in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let secs = env_u64("MAMIS_BENCH_SECS", 10);
    let conns = env_u64("MAMIS_BENCH_CONNS", 4) as usize;
    let doctors = env_u64("MAMIS_BENCH_DOCTORS", 20_000);
    match std::env::var("MAMIS_BENCH_SQLITE_URL") {
        Ok(url) => {
            let store = mamis_store_sqlite::SqliteStore::connect(&url)
                .await
                .unwrap();
            run("sqlite", mamis_testkit::spawn_on(store).await, secs, conns).await;
        }
        Err(_) => {
            let t = mamis_testkit::spawn_sqlite().await;
            generate(&t, doctors).await;
            run("sqlite", t, secs, conns).await;
        }
    }
    match std::env::var("MAMIS_BENCH_PG_URL") {
        Ok(url) => {
            let store = mamis_store_postgres::PgStore::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            run(
                "postgres",
                mamis_testkit::spawn_on(store).await,
                secs,
                conns,
            )
            .await;
        }
        Err(_) => match mamis_testkit::spawn_postgres().await {
            Some(t) => {
                generate(&t, doctors).await;
                run("postgres", t, secs, conns).await;
            }
            None => println!("postgres: not reachable, skipped"),
        },
    }
}
