//! Member back office benchmark (not a test): latency of `members::search` (scope expansion,
//! count, one page, the page's memberships and the audit record, in one write transaction) at
//! national size, and the time of a prefecture's CP932 export.
//!
//! `cargo bench -p mamis-testkit --bench members`
//! - `MAMIS_BENCH_SQLITE_URL` / `MAMIS_BENCH_PG_URL`: an existing database loaded with
//!   `mamis demo --doctors 340000` (migrated to the current schema first); without them
//!   `MAMIS_BENCH_DOCTORS` doctors (default 340,000) are generated into fresh ones.
//! - `MAMIS_BENCH_SEARCHES` searches per backend (default 1,000), one at a time.
//!
//! The workload: staff of a county (45 %), of a prefecture (35 %) or of the JMA (20 %) type
//! 2–4 kana of a registered doctor's name in hiragana (50 %), the kanji family name (15 %), a
//! member ID (15 %) or a 医籍登録番号 (10 %); county staff also list all their members
//! (10 %, no term). Acceptance: p99 < 50 ms on both backends; the export of the largest
//! prefecture's current members in CP932 < 5 s.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use mamis_app::demo::Rng;
use mamis_app::members::export::{self, Column, Encoding};
use mamis_app::members::{self, SearchInput};
use mamis_domain::{AssociationCode, AssociationLevel, Principal, Role, RoleGrant, Scope};
use mamis_store::{Doctor, MemberStore, RegistryStore, Store, Tx};
use mamis_testkit::TestApp;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time of this process in nanoseconds, summed over its threads (`/proc/self/task/*/schedstat`):
/// on a machine shared with other work the wall clock also counts waiting for a core, so both
/// are reported. The SQLite engine runs in this process; PostgreSQL's server does not.
fn cpu_ns() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
        .filter_map(|s| {
            s.split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        })
        .sum()
}

fn staff(node: &AssociationCode) -> Principal {
    let role = match node.level() {
        AssociationLevel::Jma => Role::JmaStaff,
        AssociationLevel::Prefecture => Role::PrefectureStaff,
        AssociationLevel::County => Role::CountyStaff,
    };
    Principal::Staff {
        account_id: uuid::Uuid::nil(),
        grants: vec![RoleGrant::new(role, Scope::Association(node.clone())).unwrap()],
    }
}

fn hiragana(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'ァ'..='ヶ' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// Doctors picked at random over the register (ids are random, so the doctor after a random
/// id is a uniform pick), with their current county (members only).
async fn sample<S: Store>(t: &TestApp<S>) -> Vec<(Doctor, AssociationCode)> {
    let mut rng = Rng::new(7);
    let mut tx = t.app.store.read().await.unwrap();
    let mut out = Vec::new();
    for _ in 0..1_000 {
        if out.len() == 400 {
            break;
        }
        let Some(d) = tx.doctors_page(Some(rng.uuid()), 1).await.unwrap().pop() else {
            continue;
        };
        let county = tx
            .memberships_of(d.id)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.level() == AssociationLevel::County && m.left_on.is_none())
            .map(|m| m.association);
        if let Some(c) = county {
            out.push((d, c));
        }
    }
    tx.rollback().await.unwrap();
    out
}

async fn run<S: Store>(label: &str, t: TestApp<S>, searches: u64) {
    let mut tx = t.app.store.read().await.unwrap();
    let doctors = tx.count_doctors().await.unwrap();
    tx.rollback().await.unwrap();
    let picks = sample(&t).await;
    assert!(
        !picks.is_empty(),
        "the register has no current county members"
    );
    let mut rng = Rng::new(19);
    let mut lat = Vec::new();
    let mut cpu = Vec::new();
    let mut hits = 0u64;
    let mut slowest = (Duration::ZERO, String::new());
    for _ in 0..searches {
        let (d, county) = &picks[rng.below(picks.len() as u64) as usize];
        let scope = match rng.below(100) {
            0..45 => county.clone(),
            45..80 => county.prefecture_code().unwrap(),
            _ => AssociationCode::jma(),
        };
        let kana = format!("{}{}", d.family_kana, d.given_kana);
        let q = match rng.below(100) {
            0..50 => {
                let n = 2 + rng.below(3) as usize;
                hiragana(&kana.chars().take(n).collect::<String>())
            }
            50..65 => d.family_name.clone(),
            65..80 => d
                .member_id
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_else(|| d.iseki.to_string()),
            80..90 => d.iseki.to_string(),
            _ if scope.level() == AssociationLevel::County => String::new(),
            _ => hiragana(&kana.chars().take(3).collect::<String>()),
        };
        let input = SearchInput {
            q: q.clone(),
            ..SearchInput::default()
        };
        let who = staff(&scope);
        let c0 = cpu_ns();
        let t0 = Instant::now();
        let found = members::search(&t.app, &who, &input, None).await.unwrap();
        let e = t0.elapsed();
        cpu.push(Duration::from_nanos(cpu_ns().saturating_sub(c0)));
        hits += found.page.total;
        if e > slowest.0 {
            slowest = (e, format!("{scope} q={q:?} total={}", found.page.total));
        }
        lat.push(e);
    }
    lat.sort();
    cpu.sort();
    let pct = |v: &[Duration], p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    println!(
        "{label}: {doctors} doctors; {} searches, {:.0} matches on average; wall p50 {:?}, p95 {:?}, \
         p99 {:?}, max {:?} ({}); this process's CPU p50 {:?}, p99 {:?}",
        lat.len(),
        hits as f64 / lat.len() as f64,
        pct(&lat, 0.50),
        pct(&lat, 0.95),
        pct(&lat, 0.99),
        slowest.0,
        slowest.1,
        pct(&cpu, 0.50),
        pct(&cpu, 0.99),
    );

    // the export of the prefecture with the most current members, in CP932
    let mut tx = t.app.store.read().await.unwrap();
    let counts = tx.class_counts(None, t.clock_date()).await.unwrap();
    tx.rollback().await.unwrap();
    let mut best = (0u64, AssociationCode::jma());
    for p in 1..=47u8 {
        let code = AssociationCode::parse(&format!("P{p:02}")).unwrap();
        let n: u64 = counts
            .iter()
            .filter(|c| c.association == code)
            .map(|c| c.members)
            .sum();
        if n > best.0 {
            best = (n, code);
        }
    }
    let who = staff(&best.1);
    let input = SearchInput {
        status: "member".into(),
        level: "prefecture".into(),
        ..SearchInput::default()
    };
    for round in 0..3 {
        let c0 = cpu_ns();
        let t0 = Instant::now();
        let f = export::export(&t.app, &who, &input, &Column::ALL, Encoding::Cp932, None)
            .await
            .unwrap();
        println!(
            "{label}: export {} ({round}): {} rows, {} bytes CP932, {} characters as 〓, in {:?} \
             (this process's CPU {:?})",
            best.1,
            f.rows,
            f.bytes.len(),
            f.replaced,
            t0.elapsed(),
            Duration::from_nanos(cpu_ns().saturating_sub(c0)),
        );
    }
}

async fn generate<S: Store>(t: &TestApp<S>, doctors: u64) {
    let t0 = Instant::now();
    mamis_app::demo::generate_national(&t.app.store, doctors, 1, |_| {})
        .await
        .unwrap();
    println!(
        "generated {doctors} doctors in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let doctors = env_u64("MAMIS_BENCH_DOCTORS", 340_000);
    let searches = env_u64("MAMIS_BENCH_SEARCHES", 1_000);
    match std::env::var("MAMIS_BENCH_SQLITE_URL") {
        Ok(url) => {
            let store = mamis_store_sqlite::SqliteStore::connect(&url)
                .await
                .unwrap();
            store.migrate().await.unwrap();
            run("sqlite", mamis_testkit::spawn_on(store).await, searches).await;
        }
        Err(_) => {
            let t = mamis_testkit::spawn_sqlite().await;
            generate(&t, doctors).await;
            run("sqlite", t, searches).await;
        }
    }
    match std::env::var("MAMIS_BENCH_PG_URL") {
        Ok(url) => {
            let store = mamis_store_postgres::PgStore::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            run("postgres", mamis_testkit::spawn_on(store).await, searches).await;
        }
        Err(_) => match mamis_testkit::spawn_postgres().await {
            Some(t) => {
                generate(&t, doctors).await;
                // what autovacuum does within a minute or two of a bulk insert (statistics and
                // the visibility map); right after the insert the planner knows no row counts
                let t0 = Instant::now();
                sqlx::query("VACUUM ANALYZE")
                    .execute(t.app.store.pool())
                    .await
                    .unwrap();
                println!(
                    "postgres: VACUUM ANALYZE in {:.1} s",
                    t0.elapsed().as_secs_f64()
                );
                run("postgres", t, searches).await;
            }
            None => println!("postgres: not reachable, skipped"),
        },
    }
}
