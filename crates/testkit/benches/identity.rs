//! Identity benchmark (not a test): password logins per second through HTTP against the raw
//! argon2id verification rate of this machine, and My Page latency during a login storm.
//!
//! `cargo bench -p mamis-testkit --bench identity` (MAMIS_BENCH_SECS, default 10, per phase).
//! Everything runs on 127.0.0.1; figures depend on the machine, so compare the ratios.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2_free::raw_rate;
use mamis_app::identity::passwords::Cost;
use mamis_store::{AccessStore, Account, AccountKind, Store, Tx};

mod argon2_free {
    //! The raw rate, measured with the app's own hasher so both sides use the same code path.
    use super::*;
    use mamis_app::identity::passwords::Hasher;

    pub async fn raw_rate(secs: u64, parallel: usize) -> f64 {
        let h = Arc::new(Hasher::new(Cost::OWASP, parallel).unwrap());
        let phc = h.hash("benchmark password 2026".into()).await.unwrap();
        let done = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..parallel * 2 {
            let (h, phc, done, stop) = (h.clone(), phc.clone(), done.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    h.verify(Some(phc.clone()), "benchmark password 2026".into())
                        .await
                        .unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
    }
}

fn csrf_of(html: &str) -> String {
    let i = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    html[i..i + 43].to_owned()
}

async fn logged_in_client(base: &str, email: &str) -> reqwest::Client {
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    login(&c, base, email).await;
    c
}

async fn login(c: &reqwest::Client, base: &str, email: &str) -> bool {
    let page = c
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let r = c
        .post(format!("{base}/login"))
        .header("origin", base)
        .form(&[
            ("email", email),
            ("password", "benchmark password 2026"),
            ("csrf", &csrf),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap();
    r.status() == 303
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let secs: u64 = std::env::var("MAMIS_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let cores = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(2);
    println!("machine: {cores} cores; argon2id m=19 MiB t=2 p=1 (OWASP); {secs} s per phase");

    let raw = raw_rate(secs, cores).await;
    println!("raw argon2id verifications:   {raw:8.1} /s");

    let t = mamis_testkit::spawn_sqlite_with(|c| {
        c.password_cost = Cost::OWASP;
        c.hash_parallelism = cores;
    })
    .await;
    let hash = t
        .app
        .hasher
        .hash("benchmark password 2026".into())
        .await
        .unwrap();
    let clients = cores * 4;
    let mut tx = t.app.store.write().await.unwrap();
    for i in 0..=clients {
        let mut a = Account::new(
            uuid::Uuid::now_v7(),
            &format!("bench{i}@example.jp"),
            "",
            AccountKind::Doctor,
            t.app.now(),
        );
        a.password_hash = Some(hash.clone());
        tx.insert_account(&a).await.unwrap();
    }
    tx.commit().await.unwrap();
    let base = t.base_url.clone();

    // App level: the login use case without HTTP (throttle, verify, session, audit).
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..clients {
        let (app, stop, done) = (t.app.clone(), stop.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let origin = mamis_app::identity::sessions::Origin {
                client_addr: Some("127.0.0.1".into()),
                user_agent: None,
            };
            while !stop.load(Ordering::Relaxed) {
                let r = mamis_app::identity::login::password(
                    &app,
                    &format!("bench{i}@example.jp"),
                    "benchmark password 2026",
                    &origin,
                )
                .await;
                assert!(
                    matches!(
                        r,
                        Ok(mamis_app::identity::login::LoginOutcome::LoggedIn { .. })
                    ),
                    "{r:?}"
                );
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let app_rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    println!(
        "app-level password logins:    {app_rate:8.1} /s  (ratio {:.2})",
        app_rate / raw
    );

    // My Page reader: one logged-in doctor reloading My Page throughout the storm.
    let reader = logged_in_client(&base, &format!("bench{clients}@example.jp")).await;
    let stop = Arc::new(AtomicBool::new(false));
    let reader_task = {
        let (stop, base) = (stop.clone(), base.clone());
        tokio::spawn(async move {
            let mut lat = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let s = Instant::now();
                let r = reader.get(format!("{base}/mypage")).send().await.unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap();
                lat.push(s.elapsed());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            lat
        })
    };

    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut storm = Vec::new();
    for i in 0..clients {
        let (stop, base, ok, failed) = (stop.clone(), base.clone(), ok.clone(), failed.clone());
        storm.push(tokio::spawn(async move {
            let c = reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            while !stop.load(Ordering::Relaxed) {
                if login(&c, &base, &format!("bench{i}@example.jp")).await {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for s in storm {
        s.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut lat = reader_task.await.unwrap();
    lat.sort();
    let logins = ok.load(Ordering::Relaxed) as f64 / elapsed;
    println!(
        "HTTP password logins:         {logins:8.1} /s  ({} failed; {clients} concurrent clients)",
        failed.load(Ordering::Relaxed)
    );
    println!(
        "ratio logins / raw:           {:8.2}  (target >= 0.90)",
        logins / raw
    );
    println!(
        "My Page during the storm:     p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} requests (target p99 < 50 ms)",
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        lat.len()
    );
}
