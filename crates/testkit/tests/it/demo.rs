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
    // one issued and one revoked certificate, each with its verification URL
    assert_eq!(logins.certificates.len(), 2);
    assert!(logins.certificates.iter().all(|(_, url)| {
        url.starts_with(&format!("{}/verify/N2026-", t.base_url)) && url.contains("?c=")
    }));
    assert!(
        logins
            .certificates
            .iter()
            .any(|(w, _)| w.starts_with("revoked"))
    );
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

/// The demo's CME ledger shows what the README promises: the member's FY2023–2025 window
/// reaches 60, the non-member stands 4 short in FY2024–2026, and the third doctor's imported
/// certificate consumes FY2019–2021; the national generator writes the entries it is asked for.
async fn demo_cme_standings<S: Store>(t: TestApp<S>) {
    use mamis_app::cme;
    use mamis_domain::rules::WindowStatus;
    use mamis_domain::{Principal, Source};
    use mamis_store::{AccessStore, LedgerStore, Tx};
    t.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-11-30T10:00:00+09:00")
            .unwrap()
            .with_timezone(&chrono::Utc),
    );
    demo::seed_demo(&t.app).await.unwrap().unwrap();
    let standing = |id: u128| {
        let app = t.app.clone();
        async move {
            let mut tx = app.store.read().await.unwrap();
            let acc = tx
                .account(uuid::Uuid::from_u128(id))
                .await
                .unwrap()
                .unwrap();
            tx.rollback().await.unwrap();
            let who = Principal::Doctor {
                account_id: acc.id,
                doctor_id: acc.doctor_id,
            };
            cme::summary(&app, &who, acc.doctor_id.unwrap(), None)
                .await
                .unwrap()
        }
    };
    let rules = mamis_domain::rules::Rules::embedded(cme::PROGRAMME);

    let member = standing(0xD0_2000).await;
    let years: Vec<i32> = member.standing.years.keys().map(|y| y.year()).collect();
    assert_eq!(
        years,
        (2020..=2026).collect::<Vec<_>>(),
        "seven fiscal years"
    );
    // FY2023–2025 reached 76 and was decided by the demo's operator run: certified, and the
    // next window starts in FY2026
    let certified = member
        .standing
        .windows
        .iter()
        .find(|w| w.status == WindowStatus::Certified)
        .unwrap();
    assert_eq!((certified.from.year(), certified.to.year()), (2023, 2025));
    assert_eq!(certified.total_half(), 2 * 76);
    assert!(certified.reaches(rules));
    let next = member.standing.next_window().unwrap();
    assert_eq!((next.from.year(), next.to.year()), (2026, 2028));
    for s in [Source::Training, Source::ELearning, Source::JournalQuiz] {
        assert!(member.entries.iter().any(|e| e.source == s), "{s}");
    }
    assert!(member.jma_member);

    let non_member = standing(0xD0_2001).await;
    let x = non_member.standing.next_window().unwrap().explain(rules);
    assert_eq!((x.from.year(), x.to.year()), (2024, 2026));
    assert_eq!(
        (x.total_half, x.shortfall_half),
        (112, 8),
        "56 of 60, 4 short"
    );
    assert!(!non_member.jma_member);

    let history = standing(0xD0_2003).await;
    let w = &history.standing.windows[0];
    assert_eq!(
        (w.from.year(), w.to.year(), w.status),
        (2019, 2021, WindowStatus::Certified)
    );
    assert_eq!(history.certificates.len(), 1);
    assert!(
        history
            .entries
            .iter()
            .any(|e| e.source == Source::PriorSystem)
    );

    // the demo's certificates: the member's FY2023–2025 window issued, a fourth member's revoked
    let logins_again = demo::seed_demo(&t.app).await.unwrap();
    assert!(logins_again.is_none());
    let member_certs = &member_after(&t).await;
    assert_eq!(member_certs.len(), 1);
    assert_eq!(
        (member_certs[0].from_fy.year(), member_certs[0].to_fy.year()),
        (2023, 2025)
    );

    // the national generator: 200 doctors × 5 entries
    let other = mamis_testkit::spawn_sqlite().await;
    demo::generate_national(&other.app.store, 200, 3, |_| {})
        .await
        .unwrap();
    let n = demo::generate_ledger(&other.app.store, 5, 3, |_| {})
        .await
        .unwrap();
    assert_eq!(n, 1_000);
    let mut tx = other.app.store.read().await.unwrap();
    assert_eq!(tx.count_ledger_entries().await.unwrap(), 1_000);
    tx.rollback().await.unwrap();
}
app_test!(demo_cme_ledger_tells_three_stories, demo_cme_standings);

async fn member_after<S: Store>(t: &TestApp<S>) -> Vec<mamis_store::CertificateRecord> {
    use mamis_store::{AccessStore, LedgerStore, Tx};
    let mut tx = t.app.store.read().await.unwrap();
    let acc = tx
        .account(uuid::Uuid::from_u128(0xD0_2000))
        .await
        .unwrap()
        .unwrap();
    let v = tx
        .certificates_of(acc.doctor_id.unwrap(), mamis_app::cme::PROGRAMME)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    v
}

/// The demo's training: the past session credited the member and holds a pending number, and
/// the outside session waits for Tokyo's approval.
async fn demo_training_stories<S: Store>(t: TestApp<S>) {
    use mamis_store::{Organiser, PresenceSubject, TrainingStore};
    let logins = demo::seed_demo(&t.app).await.unwrap().unwrap();
    assert_eq!(logins.training.len(), 3);
    let past = uuid::Uuid::from_u128(0xD0_3000);
    assert!(logins.training[0].1.ends_with(&past.to_string()));
    let mut tx = t.app.store.read().await.unwrap();
    let s = tx.training_session(past).await.unwrap().unwrap();
    assert!(s.closed_at.is_some());
    let rows = tx.presence_of(past).await.unwrap();
    let pending: Vec<_> = rows
        .iter()
        .filter_map(|r| match &r.subject {
            PresenceSubject::Pending(n) => Some(n.clone()),
            PresenceSubject::Doctor(_) => None,
        })
        .collect();
    assert_eq!(pending.len(), 1);
    assert_eq!(tx.pending_for_iseki(&pending[0]).await.unwrap().len(), 1);
    assert!(
        logins.training[1].0.contains(pending[0].as_str()),
        "the console names the pending number"
    );
    let waiting = tx
        .sessions_awaiting_approval(&mamis_domain::AssociationCode::parse("P13").unwrap())
        .await
        .unwrap();
    assert_eq!(waiting.len(), 1);
    assert!(matches!(waiting[0].organiser, Organiser::Organisation(_)));
    tx.rollback().await.unwrap();
    // the member's attendance is credited: 0.5 + 1 + 0.5 units from the session's items
    let member = rows
        .iter()
        .find_map(|r| match r.subject {
            PresenceSubject::Doctor(d) => Some(d),
            PresenceSubject::Pending(_) => None,
        })
        .unwrap();
    let mut tx = t.app.store.read().await.unwrap();
    let d = tx.doctor(member).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    let mine = mamis_app::training::my_attendance(&t.app, &d)
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].credited, mamis_domain::HalfUnits::new(4));
}
app_test!(
    demo_training_shows_credit_pending_and_approval,
    demo_training_stories
);
