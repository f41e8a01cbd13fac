use mamis_app::Secret;
use mamis_app::audit::{self, BrokenReason, Entry, Verification};
use mamis_domain::Principal;
use mamis_store::{Store, Tx};
use mamis_testkit::{AUDIT_KEY, RawSql, TestApp, app_test};

async fn write_rows<S: Store>(t: &TestApp<S>, n: usize) {
    let who = Principal::Job {
        kind: "test".into(),
    };
    for i in 0..n {
        let mut tx = t.app.store.write().await.unwrap();
        let e = Entry {
            actor: &who,
            action: "doctor.view",
            target: format!("doctor:{i}"),
            client_addr: Some("192.0.2.10".into()),
            details: serde_json::json!({ "i": i, "名前": "山田" }),
        };
        audit::record(&mut tx, &t.app.config.audit_key, t.app.now(), e)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        t.clock.advance(chrono::Duration::milliseconds(1_234));
    }
}

async fn chain<S: Store + RawSql>(t: TestApp<S>) {
    let key = Secret::new(AUDIT_KEY.as_bytes().to_vec());
    assert_eq!(
        audit::verify(&t.app.store, &key).await.unwrap(),
        Verification::Intact { rows: 0 }
    );
    write_rows(&t, 5).await;
    assert_eq!(
        audit::verify(&t.app.store, &key).await.unwrap(),
        Verification::Intact { rows: 5 }
    );
    // a different key proves nothing
    let other = Secret::new(b"another-key-another-key-another-key".to_vec());
    assert!(matches!(
        audit::verify(&t.app.store, &other).await.unwrap(),
        Verification::Broken { seq: 1, .. }
    ));
    // someone edits row 3 directly in the database
    t.app
        .store
        .exec("UPDATE audit_log SET target = 'doctor:999' WHERE seq = 3")
        .await;
    assert_eq!(
        audit::verify(&t.app.store, &key).await.unwrap(),
        Verification::Broken {
            seq: 3,
            reason: BrokenReason::MacMismatch
        }
    );
}

mod audit_chain_verifies_and_names_the_edited_row {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        if mamis_testkit::backend_selected("sqlite") {
            super::chain(mamis_testkit::spawn_sqlite().await).await;
        }
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if mamis_testkit::backend_selected("postgres")
            && let Some(t) = mamis_testkit::spawn_postgres().await
        {
            super::chain(t).await;
        }
    }
}

async fn concurrent<S: Store>(t: TestApp<S>) {
    // appends from many tasks at once still form one unbroken chain
    let mut tasks = Vec::new();
    for i in 0..8 {
        let app = t.app.clone();
        tasks.push(tokio::spawn(async move {
            let who = Principal::Job {
                kind: format!("w{i}"),
            };
            for j in 0..10 {
                let mut tx = app.store.write().await.unwrap();
                let e = Entry {
                    actor: &who,
                    action: "x",
                    target: format!("{i}/{j}"),
                    client_addr: None,
                    details: serde_json::json!({}),
                };
                audit::record(&mut tx, &app.config.audit_key, app.now(), e)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        audit::verify(&t.app.store, &t.app.config.audit_key)
            .await
            .unwrap(),
        Verification::Intact { rows: 80 }
    );
}
app_test!(concurrent_appends_keep_one_chain, concurrent);

async fn verify_while_writing<S: Store>(t: TestApp<S>) {
    // a server keeps appending while the chain is verified: every run sees an intact chain
    // (reading rows first and the head last reported tampering under read-committed isolation)
    write_rows(&t, 20).await;
    let app = t.app.clone();
    let writer = tokio::spawn(async move {
        let who = Principal::Job {
            kind: "writer".into(),
        };
        for j in 0..300 {
            let mut tx = app.store.write().await.unwrap();
            let e = Entry {
                actor: &who,
                action: "x",
                target: format!("w/{j}"),
                client_addr: None,
                details: serde_json::json!({ "j": j }),
            };
            audit::record(&mut tx, &app.config.audit_key, app.now(), e)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    });
    let mut runs = 0;
    while !writer.is_finished() || runs < 3 {
        let v = audit::verify(&t.app.store, &t.app.config.audit_key)
            .await
            .unwrap();
        assert!(
            matches!(v, Verification::Intact { rows } if rows >= 20),
            "run {runs}: {v:?}"
        );
        runs += 1;
    }
    writer.await.unwrap();
    assert_eq!(
        audit::verify(&t.app.store, &t.app.config.audit_key)
            .await
            .unwrap(),
        Verification::Intact { rows: 320 }
    );
}
app_test!(
    verification_while_the_server_writes_sees_an_intact_chain,
    verify_while_writing
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_shortened_since_a_checkpoint_is_detected() {
    let t = mamis_testkit::spawn_sqlite().await;
    let key = &t.app.config.audit_key;
    write_rows(&t, 5).await;
    let checkpoint = audit::head(&t.app.store).await.unwrap();
    assert_eq!(checkpoint.seq, 5);
    let logged: audit::Checkpoint = checkpoint.to_string().parse().unwrap();
    assert_eq!(logged, checkpoint, "the log line reads back");
    write_rows(&t, 2).await;
    assert_eq!(
        audit::verify_reaching(&t.app.store, key, Some(&logged))
            .await
            .unwrap(),
        Verification::Intact { rows: 7 }
    );
    // someone with the database's keys removes the newest rows and moves the head back
    t.app.store.exec("DROP TRIGGER audit_log_no_delete").await;
    t.app
        .store
        .exec("DELETE FROM audit_log WHERE seq > 3")
        .await;
    t.app
        .store
        .exec("UPDATE audit_head SET seq = 3, mac = (SELECT mac FROM audit_log WHERE seq = 3)")
        .await;
    // the chain alone still looks whole …
    assert_eq!(
        audit::verify(&t.app.store, key).await.unwrap(),
        Verification::Intact { rows: 3 }
    );
    // … but it no longer reaches the logged head
    assert_eq!(
        audit::verify_reaching(&t.app.store, key, Some(&logged))
            .await
            .unwrap(),
        Verification::Broken {
            seq: 4,
            reason: BrokenReason::Shortened
        }
    );
    for bad in ["5", "x:ab", "-1:00", &format!("5:{}", "g".repeat(64))] {
        assert!(bad.parse::<audit::Checkpoint>().is_err(), "{bad}");
    }
}
