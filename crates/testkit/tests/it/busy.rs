//! While a bulk write holds SQLite (a history import is one long write transaction), pages that
//! only read are served, and a write waits up to the busy timeout, then answers 503 with
//! `Retry-After` and says the database is busy — nothing half-written.

use std::time::Duration;

use mamis_app::cme::history::import_ledger_history;
use mamis_domain::Principal;
use mamis_store::conformance::sample_doctor;
use mamis_store::{AccessStore, Account, AccountKind, RegistryStore, Store, Tx, Verification};
use mamis_store_sqlite::SqliteStore;
use mamis_testkit::{browser, html, password_login, spawn_on, texts};
use uuid::Uuid;

const PASSWORD: &str = "Busy-import-2026-kunugi";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bulk_import_leaves_reads_served_and_refuses_writes_with_retry_after() {
    let path = std::env::temp_dir().join(format!("mamis-busy-{}.db", Uuid::new_v4().simple()));
    let store = SqliteStore::connect_with_busy(
        &format!("sqlite://{}", path.display()),
        Duration::from_millis(300),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let t = spawn_on(store).await;

    // doctors in the register, one with a MAMIS_ID
    let doctors: Vec<_> = (1..=200).map(sample_doctor).collect();
    let hash = t.app.hasher.hash(PASSWORD.to_owned()).await.unwrap();
    let mut acc = Account::new(
        Uuid::new_v4(),
        "busy-doctor@example.jp",
        "",
        AccountKind::Doctor,
        t.app.now(),
    );
    acc.password_hash = Some(hash);
    acc.doctor_id = Some(doctors[0].id);
    acc.verification = Verification::Verified;
    let mut tx = t.app.store.write().await.unwrap();
    for d in &doctors {
        tx.insert_doctor(d).await.unwrap();
    }
    tx.insert_account(&acc).await.unwrap();
    tx.commit().await.unwrap();
    let reader = browser();
    let (r, _) = password_login(&t, &reader, &acc.email, PASSWORD).await;
    assert_eq!(r.status(), 303);

    // the database held by a writer, as an import holds it for its whole file
    let held = t.app.store.write().await.unwrap();
    let r = reader.get(t.url("/mypage")).send().await.unwrap();
    assert_eq!(r.status(), 200, "a page that only reads is served");
    let r = reader.get(t.url("/mypage/cme")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let writer = browser();
    let (r, _) = password_login(&t, &writer, &acc.email, PASSWORD).await;
    assert_eq!(r.status(), 503, "a write gives up after the busy timeout");
    assert_eq!(r.headers()["retry-after"], "5");
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "h1"), ["ただいま混み合っています"]);
    assert!(
        texts(&doc, "p.error")[0].contains("何も保存されていません"),
        "{:?}",
        texts(&doc, "p.error")
    );
    // the API says so too, as problem+json
    let r = reqwest::Client::new()
        .get(t.url("/api/v1/associations"))
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 500);
    held.rollback().await.unwrap();
    let (r, _) = password_login(&t, &writer, &acc.email, PASSWORD).await;
    assert_eq!(
        r.status(),
        303,
        "once the writer is done, the login goes through"
    );

    // a real history import running while a doctor reads and another logs in
    let mut file = String::from("医籍登録番号,年度,カリキュラムコード,半単位\n");
    for d in &doctors {
        for fy in 2016..=2024 {
            for code in 1..=40 {
                file.push_str(&format!("{},{fy},{code},1\n", d.iseki.as_str()));
            }
        }
    }
    let app = t.app.clone();
    let import = tokio::spawn(async move {
        let job = Principal::Job {
            kind: "test".into(),
        };
        import_ledger_history(&app, &job, file.as_bytes()).await
    });
    let r = reader.get(t.url("/mypage")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let late = browser();
    let (r, _) = password_login(&t, &late, &acc.email, PASSWORD).await;
    match r.status().as_u16() {
        303 => {}
        503 => assert_eq!(r.headers()["retry-after"], "5"),
        other => panic!("a login during the import answered {other}"),
    }
    let report = import.await.unwrap().unwrap();
    assert_eq!(report.rows, 200 * 9 * 40);
    assert!(report.applied(), "{:?}", report.problems.first());
    let _ = std::fs::remove_file(&path);
}
