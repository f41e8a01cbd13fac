//! Issue 15, on both backends: decisions recorded per doctor, an empty ledger deciding nothing,
//! and late changes re-decided by a job — history imported after a run is certified exactly
//! once even with two servers working the queue at the same time.

use std::ops::ControlFlow;
use std::sync::Arc;

use mamis_app::cme::history::import_ledger_history;
use mamis_app::cme::{self, NewCredit, PROGRAMME, certificates};
use mamis_app::jobs::{JobHandler, Worker};
use mamis_app::{App, mail};
use mamis_domain::{FiscalYear, HalfUnits, Principal, Source};
use mamis_store::conformance::sample_doctor;
use mamis_store::{
    AuditStore, CertificateRecord, CertificateStore, LedgerStore, RegistryStore, Store, Tx,
};
use mamis_testkit::{TestApp, app_test};
use uuid::Uuid;

fn job() -> Principal {
    Principal::Job {
        kind: "cli:test".into(),
    }
}

fn fy(y: i32) -> FiscalYear {
    FiscalYear::new(y).unwrap()
}

fn jst(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(&format!("{s}+09:00"))
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// Prior-system history of doctor 1 (100001): FY2023 codes 0–14 and FY2024 codes 15–19, two
/// units each: 40 units + 20 codes = exactly 60 over FY2023–2025.
fn history() -> String {
    let mut s = String::from("医籍登録番号,年度,カリキュラムコード,単位\n");
    for c in 0..20 {
        let y = if c < 15 { 2023 } else { 2024 };
        s.push_str(&format!("100001,{y},{c},2\n"));
    }
    s
}

async fn seed<S: Store>(t: &TestApp<S>, with_other_credit: bool) -> (Uuid, Uuid) {
    let (a, b) = (sample_doctor(1), sample_doctor(2));
    let mut tx = t.app.store.write().await.unwrap();
    tx.insert_doctor(&a).await.unwrap();
    tx.insert_doctor(&b).await.unwrap();
    if with_other_credit {
        cme::credit(
            &mut tx,
            &[NewCredit {
                doctor: b.id,
                date: "2025-07-05".parse().unwrap(),
                source: Source::Training,
                code: 12,
                half_units: HalfUnits::new(2),
                origin_key: "test:b:12".into(),
                note: None,
            }],
            "test",
            t.app.now(),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    (a.id, b.id)
}

async fn certificates_of<S: Store>(t: &TestApp<S>, d: Uuid) -> Vec<CertificateRecord> {
    let mut tx = t.app.store.read().await.unwrap();
    let v = tx.certificates_of(d, PROGRAMME).await.unwrap();
    tx.rollback().await.unwrap();
    v
}

async fn decided<S: Store>(t: &TestApp<S>) -> Vec<FiscalYear> {
    let mut tx = t.app.store.read().await.unwrap();
    let v = tx.decided_years(PROGRAMME).await.unwrap();
    tx.rollback().await.unwrap();
    v
}

async fn outcomes<S: Store>(t: &TestApp<S>, d: Uuid) -> Vec<(i32, String)> {
    let mut tx = t.app.store.read().await.unwrap();
    let v = tx.cme_decisions_of(d, PROGRAMME).await.unwrap();
    tx.rollback().await.unwrap();
    v.into_iter()
        .map(|x| (x.fiscal_year.year(), x.outcome))
        .collect()
}

fn handlers<S: Store>() -> Vec<Arc<dyn JobHandler<S>>> {
    vec![
        Arc::new(mail::SendMail),
        Arc::new(certificates::DecideJob),
        Arc::new(certificates::RedecideJob),
    ]
}

/// `serve` starting on an empty ledger after the FY2025 decision date records nothing: the
/// year stays undecided; history imported later is decided by the run it queues.
async fn empty_ledger<S: Store>(t: TestApp<S>) {
    t.clock.set(jst("2026-12-02T09:00:00"));
    let (a, _) = seed(&t, false).await;
    certificates::schedule(&t.app).await.unwrap();
    let worker = t.worker(vec![]);
    worker.drain().await.unwrap();
    assert!(
        decided(&t).await.is_empty(),
        "no year decided on an empty ledger"
    );
    assert!(outcomes(&t, a).await.is_empty());
    // an operator's run says why and records nothing either
    let r = certificates::decide(&t.app, &job(), fy(2025), |_, _| ControlFlow::Continue(()))
        .await
        .unwrap();
    assert!(r.empty_ledger && !r.completed);
    assert!(decided(&t).await.is_empty());

    let report = import_ledger_history(&t.app, &job(), history().as_bytes())
        .await
        .unwrap();
    assert!(report.applied(), "{:?}", report.problems);
    worker.drain().await.unwrap();
    assert_eq!(decided(&t).await, [fy(2025)]);
    let certs = certificates_of(&t, a).await;
    assert_eq!(certs.len(), 1);
    assert_eq!((certs[0].from_fy, certs[0].to_fy), (fy(2023), fy(2025)));
    assert_eq!(outcomes(&t, a).await, [(2025, "achieved".to_owned())]);
    // the daily retry queued by the empty run changes nothing the next day
    t.clock.set(jst("2026-12-03T09:00:00"));
    worker.drain().await.unwrap();
    assert_eq!(certificates_of(&t, a).await.len(), 1);
}
app_test!(an_empty_ledger_decides_nothing, empty_ledger);

/// FY2025 is decided (doctor 1 has no entries then: no decision recorded for them); history
/// imported afterwards puts their FY2023–2025 window at 60: the re-decision job certifies it on
/// the re-decision date, numbered in that year's series, mailed and audited — once, although two
/// servers work the queue and both also re-decide the doctor directly at the same time.
async fn history_after_a_run<S: Store>(t: TestApp<S>) {
    t.clock.set(jst("2026-12-01T00:30:00"));
    let (a, b) = seed(&t, true).await;
    certificates::schedule(&t.app).await.unwrap();
    t.worker(vec![]).drain().await.unwrap();
    assert_eq!(decided(&t).await, [fy(2025)]);
    assert!(outcomes(&t, a).await.is_empty(), "no entries, no decision");
    assert_eq!(outcomes(&t, b).await, [(2025, "fell_short".to_owned())]);

    t.clock.set(jst("2027-01-12T10:00:00"));
    let report = import_ledger_history(&t.app, &job(), history().as_bytes())
        .await
        .unwrap();
    assert!(report.applied(), "{:?}", report.problems);
    assert!(
        certificates_of(&t, a).await.is_empty(),
        "the job decides, not the import"
    );

    // a second server on the same database and clock
    let app2 = App::new(
        t.app.store.clone(),
        Arc::new(t.clock.clone()),
        (*t.app.config).clone(),
    )
    .unwrap();
    let w1 = Worker::new(t.app.clone(), handlers());
    let w2 = Worker::new(app2.clone(), handlers());
    let (r1, r2, d1, d2) = tokio::join!(
        w1.drain(),
        w2.drain(),
        certificates::redecide(&app2, a),
        certificates::redecide(&t.app, a),
    );
    r1.unwrap();
    r2.unwrap();
    assert!(
        d1.unwrap() + d2.unwrap() <= 1,
        "at most one of the direct re-decisions issues"
    );

    let certs = certificates_of(&t, a).await;
    assert_eq!(certs.len(), 1, "issued once");
    let c = &certs[0];
    assert_eq!((c.from_fy, c.to_fy), (fy(2023), fy(2025)));
    assert_eq!(c.issued_on, "2027-01-12".parse().unwrap());
    assert_eq!(
        c.number,
        certificates::format_number(certificates::SERIES, 2027, 1)
    );
    assert_eq!(c.valid_until, Some("2030-01-11".parse().unwrap()));
    assert_eq!(c.counted, Some((HalfUnits::new(80), 20)));
    assert_eq!(outcomes(&t, a).await, [(2025, "achieved".to_owned())]);
    let mails: Vec<_> = t
        .mails()
        .await
        .into_iter()
        .filter(|m| m.to_addr == "doctor1@example.jp")
        .collect();
    assert_eq!(mails.len(), 1, "mailed once");
    assert!(
        mails[0].body_text.contains(&c.number),
        "{}",
        mails[0].body_text
    );
    let mut tx = t.app.store.read().await.unwrap();
    let issues: Vec<_> = tx
        .audit_rows(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "certificates.issue")
        .collect();
    tx.rollback().await.unwrap();
    assert_eq!(issues.len(), 1, "audited once");
    assert!(
        issues[0].details.contains(&a.to_string()),
        "{}",
        issues[0].details
    );

    // the same file again: nothing new, nothing re-issued
    let again = import_ledger_history(&t.app, &job(), history().as_bytes())
        .await
        .unwrap();
    assert_eq!((again.written, again.unchanged), (0, 20));
    w1.drain().await.unwrap();
    assert_eq!(certificates_of(&t, a).await.len(), 1);
    assert!(certificates_of(&t, b).await.is_empty());
}
app_test!(
    history_imported_after_a_run_is_certified_once_by_the_job,
    history_after_a_run
);

/// The regular decision run (queued for 1 December by `serve`) mails and audits the certificates
/// it issues exactly as a re-decision does: the holder gets one mail naming the number, and the
/// `certificates.issue` audit record names the doctor.
async fn regular_run_mails<S: Store>(t: TestApp<S>) {
    t.clock.set(jst("2026-11-20T09:00:00"));
    let (a, b) = seed(&t, true).await;
    let report = import_ledger_history(&t.app, &job(), history().as_bytes())
        .await
        .unwrap();
    assert!(report.applied(), "{:?}", report.problems);
    certificates::schedule(&t.app).await.unwrap();
    let worker = t.worker(vec![]);
    worker.drain().await.unwrap();
    assert!(decided(&t).await.is_empty(), "not before 1 December");

    t.clock.set(jst("2026-12-01T00:30:00"));
    worker.drain().await.unwrap();
    assert_eq!(decided(&t).await, [fy(2025)]);
    let certs = certificates_of(&t, a).await;
    assert_eq!(certs.len(), 1);
    let c = &certs[0];
    assert_eq!((c.from_fy, c.to_fy), (fy(2023), fy(2025)));
    assert_eq!(c.issued_on, "2026-12-01".parse().unwrap());
    let mails: Vec<_> = t
        .mails()
        .await
        .into_iter()
        .filter(|m| m.to_addr == "doctor1@example.jp")
        .collect();
    assert_eq!(mails.len(), 1, "the holder is mailed once");
    assert!(
        mails[0].body_text.contains(&c.number),
        "{}",
        mails[0].body_text
    );
    assert!(
        !t.mails()
            .await
            .iter()
            .any(|m| m.to_addr == "doctor2@example.jp"),
        "a doctor who fell short gets no certificate mail"
    );
    let mut tx = t.app.store.read().await.unwrap();
    let issues: Vec<_> = tx
        .audit_rows(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "certificates.issue")
        .collect();
    tx.rollback().await.unwrap();
    assert_eq!(issues.len(), 1, "audited once");
    assert!(
        issues[0].details.contains(&a.to_string()) && !issues[0].details.contains(&b.to_string()),
        "{}",
        issues[0].details
    );
}
app_test!(
    the_regular_run_mails_and_audits_what_it_issues,
    regular_run_mails
);

/// No window starts before the fiscal year of the licence (医籍登録年月日, from the register or
/// the identity form); an unknown date restricts nothing. 65 in FY2025 alone: certified for
/// FY2023–2025 unless the licence is in FY2024.
async fn licence_year<S: Store>(t: TestApp<S>) {
    use mamis_app::identity::registration::{IdentityForm, parse_identity};
    let ds: Vec<_> = (3..=5).map(sample_doctor).collect();
    let mut tx = t.app.store.write().await.unwrap();
    let mut credits = Vec::new();
    for d in &ds {
        tx.insert_doctor(d).await.unwrap();
        for c in 0..13u16 {
            credits.push(NewCredit {
                doctor: d.id,
                date: "2025-09-01".parse().unwrap(),
                source: Source::Training,
                code: c,
                half_units: HalfUnits::new(8),
                origin_key: format!("test:{}:{c}", d.id),
                note: None,
            });
        }
    }
    tx.set_licence_date(ds[0].id, Some("2024-05-01".parse().unwrap()))
        .await
        .unwrap();
    tx.set_licence_date(ds[2].id, Some("1990-04-20".parse().unwrap()))
        .await
        .unwrap();
    cme::credit(&mut tx, &credits, "test", t.app.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    certificates::decide(&t.app, &job(), fy(2025), |_, _| ControlFlow::Continue(()))
        .await
        .unwrap();
    assert!(certificates_of(&t, ds[0].id).await.is_empty());
    assert_eq!(
        outcomes(&t, ds[0].id).await,
        [(2025, "before_licence".to_owned())]
    );
    for d in &ds[1..] {
        let c = certificates_of(&t, d.id).await;
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].from_fy, c[0].to_fy), (fy(2023), fy(2025)));
        assert_eq!(outcomes(&t, d.id).await, [(2025, "achieved".to_owned())]);
    }
    // the licensed doctor's summary shows no window before FY2024
    let s = cme::summary(&t.app, &job(), ds[0].id, None).await.unwrap();
    assert!(
        s.standing.windows.iter().all(|w| w.from >= fy(2024)),
        "{:?}",
        s.standing.windows
    );

    // the identity form's optional field: empty is unknown, a bad or pre-birth date is refused
    let form = |l: &str| IdentityForm {
        iseki: "100003".into(),
        family_name: "山田".into(),
        given_name: "太郎".into(),
        family_kana: "ヤマダ".into(),
        given_kana: "タロウ".into(),
        birth_date: "1980-05-17".into(),
        sex: "male".into(),
        membership: "member".into(),
        association: "P13-0001".into(),
        licensed_on: l.into(),
    };
    assert!(parse_identity(&form("")).is_ok());
    assert!(parse_identity(&form("２００６/４/２０")).is_ok());
    for bad in ["abc", "1979-04-01"] {
        let e = parse_identity(&form(bad)).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(
            (e[0].field, e[0].key),
            ("licensed_on", "invalid-licence-date")
        );
    }
}
app_test!(no_window_starts_before_the_licence_year, licence_year);

/// Two negative adjustments of the same (doctor, fiscal year, code) at the same time cannot both
/// pass the "net stays ≥ 0" check: on PostgreSQL the second waits for the first's row lock and
/// then sees its entry; SQLite's single writer serialises them. Eight codes, each with a net of
/// one unit and two concurrent −1 adjustments: exactly one of each pair is written.
async fn concurrent_negative_adjustments<S: Store>(t: TestApp<S>) {
    t.clock.set(jst("2026-01-10T09:00:00"));
    let (a, _) = seed(&t, false).await;
    let codes: Vec<u16> = (0..8).collect();
    let mut tx = t.app.store.write().await.unwrap();
    let credits: Vec<NewCredit> = codes
        .iter()
        .map(|&code| NewCredit {
            doctor: a,
            date: "2025-07-05".parse().unwrap(),
            source: Source::Training,
            code,
            half_units: HalfUnits::new(2),
            origin_key: format!("test:a:{code}"),
            note: None,
        })
        .collect();
    cme::credit(&mut tx, &credits, "test", t.app.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let staff = Principal::Staff {
        account_id: Uuid::new_v4(),
        grants: vec![
            mamis_domain::RoleGrant::new(
                mamis_domain::Role::JmaStaff,
                mamis_domain::Scope::Association(mamis_domain::AssociationCode::jma()),
            )
            .unwrap(),
        ],
    };
    let minus_one = |code: u16| cme::Adjustment {
        date: "2025-08-01".parse().unwrap(),
        code,
        half_units: HalfUnits::new(-2),
        reason: "二重計上の補正".into(),
    };
    for &code in &codes {
        let (x, y) = tokio::join!(
            cme::adjust(&t.app, &staff, a, minus_one(code), None),
            cme::adjust(&t.app, &staff, a, minus_one(code), None),
        );
        let refused = [&x, &y]
            .iter()
            .filter(|r| matches!(r, Err(cme::AdjustError::NegativeNet(_))))
            .count();
        assert!(
            x.is_ok() != y.is_ok() && refused == 1,
            "code {code}: exactly one passes, the other is refused for its net: {x:?} / {y:?}"
        );
    }
    let mut tx = t.app.store.read().await.unwrap();
    let entries = tx.ledger_of(a, PROGRAMME).await.unwrap();
    tx.rollback().await.unwrap();
    for &code in &codes {
        let net: i64 = entries
            .iter()
            .filter(|e| e.code == code)
            .map(|e| e.half_units.get())
            .sum();
        assert_eq!(net, 0, "code {code}: the net ends at zero, never below");
    }
}
app_test!(
    concurrent_negative_adjustments_cannot_both_pass,
    concurrent_negative_adjustments
);
