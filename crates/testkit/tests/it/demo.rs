use mamis_app::demo;
use mamis_store::{RegistryStore, Store, Tx};
use mamis_testkit::{TestApp, app_test};

async fn same_seed_same_content<S: Store>(t: TestApp<S>) {
    demo::generate_national(&t.app.store, 3_000, 7, |_| {})
        .await
        .unwrap();
    let first = demo::content_hash(&t.app.store).await.unwrap();
    let mut tx = t.app.store.read().await.unwrap();
    assert_eq!(tx.count_doctors().await.unwrap(), 3_000);
    tx.rollback().await.unwrap();
    // a second database with the same seed holds the same content (on either backend)
    let other = mamis_testkit::spawn_sqlite().await;
    demo::generate_national(&other.app.store, 3_000, 7, |_| {})
        .await
        .unwrap();
    assert_eq!(demo::content_hash(&other.app.store).await.unwrap(), first);
    // another seed does not
    let third = mamis_testkit::spawn_sqlite().await;
    demo::generate_national(&third.app.store, 3_000, 8, |_| {})
        .await
        .unwrap();
    assert_ne!(demo::content_hash(&third.app.store).await.unwrap(), first);
    // and the generator refuses a database that already has doctors
    assert!(
        demo::generate_national(&t.app.store, 10, 7, |_| {})
            .await
            .is_err()
    );
}
app_test!(national_data_is_reproducible, same_seed_same_content);

async fn demo_seeds_once<S: Store>(t: TestApp<S>) {
    let logins = demo::seed_demo(&t.app).await.unwrap().unwrap();
    assert_eq!(logins.api_tokens.len(), 3);
    assert!(
        demo::seed_demo(&t.app).await.unwrap().is_none(),
        "a second start adds nothing"
    );
    // the printed tokens work
    for (_, secret) in &logins.api_tokens {
        assert!(
            mamis_app::tokens::authenticate(&t.app, secret)
                .await
                .is_ok()
        );
    }
}
app_test!(
    demo_data_is_seeded_once_and_its_logins_work,
    demo_seeds_once
);
