//! Attendee-list benchmark (not a test): importing a 100,000-row 出席者名簿 for one session —
//! a national congress — on SQLite and PostgreSQL. Half the rows are doctors with a verified
//! MAMIS_ID (credited at once: three code parts each), half are numbers without one (kept as
//! pending attendance). Measures the preview, the apply (with its credits) and a re-upload of
//! the same file (which changes nothing), and prints the process's peak memory.
//!
//! `cargo bench -p mamis-testkit --bench training`
//! - `MAMIS_BENCH_ROWS` (default 100,000).
//! - PostgreSQL runs where `MAMIS_TEST_POSTGRES_URL` (or the default local server) answers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::time::Instant;

use chrono::{DateTime, Utc};
use mamis_app::training::{self, ItemInput, SessionInput, import};
use mamis_domain::training::{CodePart, ItemKind, Venue};
use mamis_domain::{Association, AssociationCode, Principal};
use mamis_store::{
    AccessStore, Account, AccountKind, LedgerStore, Organiser, RegistryStore, Store, Tx,
    Verification,
};
use mamis_testkit::TestApp;
use uuid::Uuid;

fn jst(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{s}+09:00"))
        .unwrap()
        .with_timezone(&Utc)
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resets the peak (VmHWM) to the current resident size, so a step's own peak can be read.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn run<S: Store>(label: &str, t: TestApp<S>, rows: u32) {
    let job = Principal::Job {
        kind: "bench".into(),
    };
    let verified = rows / 2;
    let t0 = Instant::now();
    {
        let mut tx = t.app.store.write().await.unwrap();
        tx.upsert_association(&Association {
            code: AssociationCode::parse("P13-0001").unwrap(),
            name_ja: "千代田区医師会".into(),
            name_en: "Chiyoda".into(),
        })
        .await
        .unwrap();
        let mut doctors = Vec::new();
        for n in 0..verified {
            let mut d = mamis_store::conformance::sample_doctor(n);
            d.id = Uuid::from_u128(0xB0_0000_0000 + u128::from(n));
            d.iseki = mamis_domain::IsekiNumber::parse(&(1_000_000 + n).to_string()).unwrap();
            d.member_id = None;
            d.contact_email = None;
            doctors.push(d);
        }
        for chunk in doctors.chunks(2_000) {
            tx.insert_doctors(chunk).await.unwrap();
        }
        for d in &doctors {
            let mut acc = Account::new(
                Uuid::new_v4(),
                &format!("b{}@example.jp", d.iseki.as_str()),
                "",
                AccountKind::Doctor,
                t.app.now(),
            );
            acc.doctor_id = Some(d.id);
            acc.verification = Verification::Verified;
            tx.insert_account(&acc).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    let setup = t0.elapsed();
    let s = training::create(
        &t.app,
        &job,
        SessionInput {
            organiser: Organiser::Association(AssociationCode::parse("P13-0001").unwrap()),
            title: "全国学術大会".into(),
            venue: Venue::InPerson("国際会議場".into()),
            start: jst("2026-06-01T09:00:00"),
            end: jst("2026-06-01T12:00:00"),
            expected_headcount: Some(rows),
            desk_scan_only: false,
            grace_minutes: 5,
            items: vec![
                ItemInput {
                    id: None,
                    title: "講演1".into(),
                    start: jst("2026-06-01T09:00:00"),
                    minutes: 60,
                    kind: ItemKind::single(10, 60),
                },
                ItemInput {
                    id: None,
                    title: "講演2".into(),
                    start: jst("2026-06-01T10:00:00"),
                    minutes: 90,
                    kind: ItemKind::Credit {
                        parts: vec![
                            CodePart {
                                code: 11,
                                minutes: 30,
                            },
                            CodePart {
                                code: 12,
                                minutes: 60,
                            },
                        ],
                    },
                },
            ],
        },
        None,
    )
    .await
    .unwrap();
    let mut csv = String::from("医籍登録番号,氏名カナ,生年月日,入室,退室\n");
    for n in 0..rows {
        if n < verified {
            let _ = writeln!(csv, "{},ヤマダ タロウ,1980-05-17,8:55,11:40", 1_000_000 + n);
        } else {
            let _ = writeln!(csv, "{},スズキ ハナコ,19900102,,", 2_000_000 + n);
        }
    }
    let bytes = csv.into_bytes();
    let mb = bytes.len() as f64 / 1e6;

    let t1 = Instant::now();
    let preview = import::import(&t.app, &job, s.id, &bytes, false, None)
        .await
        .unwrap();
    let preview_t = t1.elapsed();
    assert!(preview.ok(), "{:?}", &preview.list.problems[..1]);
    assert_eq!(preview.added, u64::from(rows));

    let before = rss_mb();
    reset_peak();
    let t2 = Instant::now();
    let applied = import::import(&t.app, &job, s.id, &bytes, true, None)
        .await
        .unwrap();
    let apply_t = t2.elapsed();
    let apply_peak = peak_rss_mb();
    assert!(applied.applied);
    assert_eq!(applied.pending, u64::from(rows - verified));
    assert_eq!(applied.settled.written, 3 * u64::from(verified));

    let t3 = Instant::now();
    let again = import::import(&t.app, &job, s.id, &bytes, true, None)
        .await
        .unwrap();
    let again_t = t3.elapsed();
    assert!(again.is_noop());
    let mut tx = t.app.store.read().await.unwrap();
    let entries = tx.count_ledger_entries().await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(entries, 3 * u64::from(verified));
    println!(
        "{label}: {rows} rows ({mb:.1} MB; {verified} verified doctors, {} pending numbers), \
         setup {setup:.1?}; preview {preview_t:.2?}, apply {apply_t:.2?} ({} credits written), \
         re-upload {again_t:.2?} (no change); resident {before:.0} MB before the apply, \
         peak {apply_peak:.0} MB during it (+{:.0} MB)",
        rows - verified,
        applied.settled.written,
        apply_peak - before,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows = std::env::var("MAMIS_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    run("sqlite", mamis_testkit::spawn_sqlite().await, rows).await;
    match mamis_testkit::spawn_postgres().await {
        Some(t) => run("postgres", t, rows).await,
        None => println!("postgres: no server, skipped"),
    }
}
