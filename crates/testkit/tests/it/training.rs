//! Training management through the use cases, on both backends: the venue code's age, device
//! flags, approval of outside sessions, crediting once across channels, reversals of removed
//! attendance, pending attendance credited at verification, and attendee-list imports (CP932,
//! re-uploads, corrections, malformed files).

use chrono::{DateTime, Duration, Utc};
use mamis_app::cme::PROGRAMME;
use mamis_app::identity::registration::{self, IdentityForm, IdentityOutcome};
use mamis_app::identity::sessions::Origin as LoginOrigin;
use mamis_app::training::attendees::ProblemKind;
use mamis_app::training::capture::{self, Captured, DeskCaptured, DeskInput, Origin, Pending};
use mamis_app::training::{self, ItemInput, SessionInput, TrainingError, import};
use mamis_domain::training::{CodePart, ItemKind, NonCreditKind, Venue};
use mamis_domain::{
    Association, AssociationCode, LedgerEntry, Organisation, Principal, Role, RoleGrant, Scope,
};
use mamis_store::conformance::sample_doctor;
use mamis_store::{
    AccessStore, Account, AccountKind, Doctor, LedgerStore, Organiser, RegistryStore, Store,
    TrainingSession, TrainingStore, Tx, Verification,
};
use mamis_testkit::{TestApp, app_test};
use uuid::Uuid;

pub(crate) fn job() -> Principal {
    Principal::Job {
        kind: "test".into(),
    }
}

fn code(s: &str) -> AssociationCode {
    AssociationCode::parse(s).unwrap()
}

pub(crate) fn staff(role: Role, scope: &str) -> Principal {
    Principal::Staff {
        account_id: Uuid::new_v4(),
        grants: vec![RoleGrant::new(role, Scope::Association(code(scope))).unwrap()],
    }
}

pub(crate) fn jst(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{s}+09:00"))
        .unwrap()
        .with_timezone(&Utc)
}

const ORG: Uuid = Uuid::from_u128(0x0A11);

pub(crate) async fn setup<S: Store>(t: &TestApp<S>) {
    let mut tx = t.app.store.write().await.unwrap();
    tx.upsert_association(&Association {
        code: code("P13-0001"),
        name_ja: "千代田区医師会".into(),
        name_en: "Chiyoda".into(),
    })
    .await
    .unwrap();
    tx.insert_organisation(
        &Organisation {
            id: ORG,
            name: "東京内科学会".into(),
            prefecture: code("P13"),
        },
        t.app.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// A doctor in the register with a verified MAMIS_ID; returns the doctor and their principal.
pub(crate) async fn verified<S: Store>(t: &TestApp<S>, n: u32) -> (Doctor, Principal) {
    let d = sample_doctor(n);
    let account = Uuid::from_u128(0xACC0 + u128::from(n));
    let mut acc = Account::new(
        account,
        &format!("d{n}@example.jp"),
        "",
        AccountKind::Doctor,
        t.app.now(),
    );
    acc.doctor_id = Some(d.id);
    acc.verification = Verification::Verified;
    let mut tx = t.app.store.write().await.unwrap();
    tx.insert_doctor(&d).await.unwrap();
    tx.insert_account(&acc).await.unwrap();
    tx.commit().await.unwrap();
    (
        d.clone(),
        Principal::Doctor {
            account_id: account,
            doctor_id: Some(d.id),
        },
    )
}

/// 2026-06-01 (the test clock's day) 09:00–12:00: a 60-minute talk (code 10), a 90-minute talk
/// split 30/60 (codes 11 and 12) and a 10-minute greeting... in that order.
fn input(organiser: Organiser) -> SessionInput {
    SessionInput {
        organiser,
        title: "学術講演会".into(),
        venue: Venue::InPerson("医師会館".into()),
        start: jst("2026-06-01T09:00:00"),
        end: jst("2026-06-01T12:00:00"),
        expected_headcount: Some(50),
        desk_scan_only: false,
        grace_minutes: 5,
        items: vec![
            ItemInput {
                id: None,
                title: "開会挨拶".into(),
                start: jst("2026-06-01T09:00:00"),
                minutes: 10,
                kind: ItemKind::NonCredit(NonCreditKind::Greeting),
            },
            ItemInput {
                id: None,
                title: "講演1".into(),
                start: jst("2026-06-01T09:10:00"),
                minutes: 60,
                kind: ItemKind::single(10, 60),
            },
            ItemInput {
                id: None,
                title: "講演2".into(),
                start: jst("2026-06-01T10:10:00"),
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
    }
}

pub(crate) async fn chiyoda_session<S: Store>(t: &TestApp<S>) -> TrainingSession {
    training::create(
        &t.app,
        &job(),
        input(Organiser::Association(code("P13-0001"))),
        None,
    )
    .await
    .unwrap()
}

pub(crate) async fn ledger<S: Store>(t: &TestApp<S>, d: Uuid) -> Vec<LedgerEntry> {
    let mut tx = t.app.store.read().await.unwrap();
    let v = tx.ledger_of(d, PROGRAMME).await.unwrap();
    tx.rollback().await.unwrap();
    v
}

/// Net half-units per code of a doctor's ledger, codes with nothing left out.
pub(crate) async fn net<S: Store>(t: &TestApp<S>, d: Uuid) -> Vec<(u16, i64)> {
    let mut by = std::collections::BTreeMap::new();
    for e in ledger(t, d).await {
        *by.entry(e.code).or_insert(0) += e.half_units.get();
    }
    by.into_iter().filter(|(_, v)| *v != 0).collect()
}

/// What the whole programme earns: code 10 → 1 unit, 11 → 0.5, 12 → 1 (in half-units).
pub(crate) const WHOLE: [(u16, i64); 3] = [(10, 2), (11, 1), (12, 2)];

pub(crate) fn at_device(device: &str) -> Origin {
    Origin {
        device: Some(device.into()),
        client_addr: Some("192.0.2.50".into()),
    }
}

/// A browser opens the venue link and completes it after logging in.
pub(crate) async fn venue<S: Store>(
    t: &TestApp<S>,
    s: &TrainingSession,
    who: &Principal,
    device: &str,
) -> Result<Captured, TrainingError> {
    let code = capture::venue_code(&t.app, &job(), s.id).await?;
    let (sealed, _) = capture::open_venue_link(&t.app, &code.token, device).await?;
    capture::complete_venue(&t.app, who, &sealed, at_device(device))
        .await
        .map(|(c, _)| c)
}

async fn venue_age<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let s = chiyoda_session(&t).await;
    let code = capture::venue_code(&t.app, &job(), s.id).await.unwrap();
    t.clock.advance(Duration::seconds(40));
    let e = capture::open_venue_link(&t.app, &code.token, "phone-1")
        .await
        .unwrap_err();
    assert!(matches!(e, TrainingError::VenueCodeExpired), "{e}");
    let code = capture::venue_code(&t.app, &job(), s.id).await.unwrap();
    t.clock.advance(Duration::seconds(25));
    let (sealed, _) = capture::open_venue_link(&t.app, &code.token, "phone-1")
        .await
        .unwrap();
    // the pending check-in lives 10 minutes, in the browser that opened it only
    let (_, who) = verified(&t, 1).await;
    let e = capture::complete_venue(&t.app, &who, &sealed, at_device("phone-2"))
        .await
        .unwrap_err();
    assert!(matches!(e, TrainingError::CheckInExpired), "{e}");
    t.clock.advance(Duration::minutes(11));
    let e = capture::complete_venue(&t.app, &who, &sealed, at_device("phone-1"))
        .await
        .unwrap_err();
    assert!(matches!(e, TrainingError::CheckInExpired), "{e}");
    // a forged token is refused like an old one
    let e = capture::open_venue_link(&t.app, "AAAA", "phone-1")
        .await
        .unwrap_err();
    assert!(matches!(e, TrainingError::VenueCodeExpired), "{e}");
}
app_test!(a_venue_link_opened_40_s_after_display_is_refused, venue_age);

async fn device_flags<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let s = chiyoda_session(&t).await;
    let (a, who_a) = verified(&t, 1).await;
    let (b, who_b) = verified(&t, 2).await;
    let (c, who_c) = verified(&t, 3).await;
    assert_eq!(
        venue(&t, &s, &who_a, "shared-phone").await.unwrap(),
        Captured::CheckedIn
    );
    assert_eq!(
        venue(&t, &s, &who_b, "shared-phone").await.unwrap(),
        Captured::CheckedIn
    );
    // C uses a phone of their own, but the venue's address like everyone
    assert_eq!(
        venue(&t, &s, &who_c, "own-phone").await.unwrap(),
        Captured::CheckedIn
    );
    let v = training::view(&t.app, &job(), s.id, None).await.unwrap();
    assert_eq!(v.live, 3);
    let flag = |d: &Doctor| {
        v.attendees
            .iter()
            .find(|x| x.iseki == d.iseki)
            .unwrap()
            .shared_device
    };
    assert!(flag(&a) && flag(&b));
    assert!(
        v.shared
            .iter()
            .any(|(k, n)| k == "device:shared-phone" && *n == 2),
        "{:?}",
        v.shared
    );
    // C shares only the venue address with the others
    assert!(
        v.shared
            .iter()
            .any(|(k, n)| k == "addr:192.0.2.50" && *n == 3)
    );
    assert!(flag(&c), "an address shared by three is flagged too");
    // check-out must come from the browser that checked in
    let e = venue(&t, &s, &who_c, "shared-phone").await.unwrap_err();
    assert!(matches!(e, TrainingError::OtherBrowser), "{e}");
    // closing marks the still-open doctors "left at end" and flags them as without check-out
    t.clock.set(jst("2026-06-01T12:10:00"));
    training::close(&t.app, &job(), s.id, None).await.unwrap();
    let v = training::view(&t.app, &job(), s.id, None).await.unwrap();
    assert_eq!(v.live, 0);
    assert!(v.attendees.iter().all(|x| x.no_checkout));
    assert!(
        v.attendees
            .iter()
            .flat_map(|x| &x.intervals)
            .all(|r| r.left_at_end && r.out_at == Some(jst("2026-06-01T12:00:00")))
    );
    // the session's close credits them (presence covered everything up to the end)
    assert_eq!(net(&t, a.id).await, WHOLE.to_vec());
}
app_test!(one_device_used_for_two_doctors_is_flagged, device_flags);

async fn approval<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let s = training::create(&t.app, &job(), input(Organiser::Organisation(ORG)), None)
        .await
        .unwrap();
    let (d, who) = verified(&t, 1).await;
    let organiser = Principal::Staff {
        account_id: Uuid::new_v4(),
        grants: vec![RoleGrant::new(Role::Organiser, Scope::Organisation(ORG)).unwrap()],
    };
    t.clock.set(jst("2026-06-01T08:55:00"));
    let personal = capture::personal_code(&t.app, &who).await.unwrap();
    let r = capture::desk_scan(
        &t.app,
        &organiser,
        s.id,
        DeskInput::Code(personal),
        at_device("desk"),
    )
    .await
    .unwrap();
    assert_eq!(r.captured, DeskCaptured::CheckedIn);
    t.clock.set(jst("2026-06-01T11:58:00"));
    let personal = capture::personal_code(&t.app, &who).await.unwrap();
    let r = capture::desk_scan(
        &t.app,
        &organiser,
        s.id,
        DeskInput::Code(personal),
        at_device("desk"),
    )
    .await
    .unwrap();
    assert_eq!(r.captured, DeskCaptured::CheckedOut);
    assert!(ledger(&t, d.id).await.is_empty(), "unapproved: no credit");
    // the organiser cannot approve; another prefecture cannot; a county cannot
    for who in [
        organiser.clone(),
        staff(Role::PrefectureStaff, "P27"),
        staff(Role::CountyStaff, "P13-0001"),
    ] {
        let e = training::approve(&t.app, &who, s.id, None)
            .await
            .unwrap_err();
        assert!(
            matches!(e, TrainingError::App(mamis_app::AppError::Forbidden)),
            "{e}"
        );
    }
    let tokyo = staff(Role::PrefectureStaff, "P13");
    let queue = training::awaiting_approval(&t.app, &tokyo, &code("P13"))
        .await
        .unwrap();
    assert_eq!(queue.iter().map(|x| x.id).collect::<Vec<_>>(), vec![s.id]);
    let a = training::approve(&t.app, &tokyo, s.id, None).await.unwrap();
    assert_eq!(a.number, "P13-2026-00001");
    // the kept capture is credited, dated the session's day
    assert_eq!(net(&t, d.id).await, WHOLE.to_vec());
    assert!(
        ledger(&t, d.id)
            .await
            .iter()
            .all(|e| e.date.to_string() == "2026-06-01")
    );
    let e = training::approve(&t.app, &tokyo, s.id, None)
        .await
        .unwrap_err();
    assert!(matches!(e, TrainingError::NotAwaitingApproval), "{e}");
    // the next approval in the prefecture takes the next number
    let s2 = training::create(&t.app, &job(), input(Organiser::Organisation(ORG)), None)
        .await
        .unwrap();
    let a2 = training::approve(&t.app, &tokyo, s2.id, None)
        .await
        .unwrap();
    assert_eq!(a2.number, "P13-2026-00002");
}
app_test!(
    an_unapproved_outside_session_credits_its_captures_on_approval,
    approval
);

fn csv_whole_session(rows: &[&Doctor]) -> String {
    let mut s = String::from("医籍登録番号,氏名カナ,生年月日\n");
    for d in rows {
        s.push_str(&format!(
            "{},{} {},{}\n",
            d.iseki.as_str(),
            d.family_kana.as_str(),
            d.given_kana.as_str(),
            d.birth_date
        ));
    }
    s
}

async fn once_across_channels<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let s = chiyoda_session(&t).await;
    let (d, who) = verified(&t, 1).await;
    t.clock.set(jst("2026-06-01T08:58:00"));
    venue(&t, &s, &who, "phone").await.unwrap();
    t.clock.set(jst("2026-06-01T12:01:00"));
    assert_eq!(
        venue(&t, &s, &who, "phone").await.unwrap(),
        Captured::CheckedOut
    );
    assert_eq!(net(&t, d.id).await, WHOLE.to_vec());
    let plan = import::import(
        &t.app,
        &job(),
        s.id,
        csv_whole_session(&[&d]).as_bytes(),
        true,
        None,
    )
    .await
    .unwrap();
    assert!(plan.ok() && plan.applied, "{:?}", plan.list.problems);
    assert_eq!(plan.added, 1);
    assert_eq!(
        plan.settled.written, 0,
        "already credited by the venue code"
    );
    assert_eq!(ledger(&t, d.id).await.len(), 3, "one entry per code part");
    assert_eq!(net(&t, d.id).await, WHOLE.to_vec());
}
app_test!(
    a_doctor_captured_by_qr_and_csv_is_credited_once,
    once_across_channels
);

async fn removal<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let s = chiyoda_session(&t).await;
    let (d, _) = verified(&t, 1).await;
    let desk = |at: &str| {
        let app = t.app.clone();
        let clock = t.clock.clone();
        let at = jst(at);
        let d = d.clone();
        let sid = s.id;
        async move {
            clock.set(at);
            capture::desk_scan(
                &app,
                &job(),
                sid,
                DeskInput::Iseki(d.iseki),
                at_device("desk"),
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(
        desk("2026-06-01T09:03:00").await.captured,
        DeskCaptured::CheckedIn
    );
    // left during the split talk: only talk 1 is covered
    assert_eq!(
        desk("2026-06-01T10:30:00").await.captured,
        DeskCaptured::CheckedOut
    );
    assert_eq!(net(&t, d.id).await, vec![(10, 2)]);
    let v = training::view(&t.app, &job(), s.id, None).await.unwrap();
    let row = v.attendees[0].intervals[0].id;
    capture::remove(&t.app, &job(), s.id, row, Some("wrong scan"), None)
        .await
        .unwrap();
    assert!(net(&t, d.id).await.is_empty(), "credits reversed");
    let entries = ledger(&t, d.id).await;
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().any(|e| e.reverses.is_some()));
    // the removed interval is gone from the organiser's list
    let v = training::view(&t.app, &job(), s.id, None).await.unwrap();
    assert!(v.attendees.is_empty());
}
app_test!(a_removed_attendance_reverses_its_credits, removal);

/// Everything a desk scan could change: the session's presence rows (withdrawn ones too, via
/// the doctor's), its pending numbers, the doctor's ledger and the audit chain's length.
async fn desk_state<S: Store>(
    t: &TestApp<S>,
    s: &TrainingSession,
    d: &Doctor,
) -> (
    Vec<mamis_store::PresenceRow>,
    usize,
    Vec<LedgerEntry>,
    usize,
) {
    use mamis_store::AuditStore;
    let mut tx = t.app.store.read().await.unwrap();
    let rows = tx.presence_of(s.id).await.unwrap();
    let pending = tx.pending_of_session(s.id).await.unwrap().len();
    let audit = tx.audit_rows(0, 100_000).await.unwrap().len();
    tx.rollback().await.unwrap();
    (rows, pending, ledger(t, d.id).await, audit)
}

/// Issue 13: a desk scan within 60 s of the same attendee's last desk capture answers
/// 「記録済み」 and changes nothing — at 59 s and at 60 s — while 61 s checks out as before; the
/// checkout is a desk capture too, and the rule holds for a number kept pending.
async fn desk_repeats<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let s = chiyoda_session(&t).await;
    let (d, _) = verified(&t, 1).await;
    let t0 = jst("2026-06-01T09:03:00");
    let scan = |at: DateTime<Utc>, input: DeskInput| {
        let app = t.app.clone();
        let clock = t.clock.clone();
        let sid = s.id;
        async move {
            clock.set(at);
            capture::desk_scan(&app, &job(), sid, input, at_device("desk"))
                .await
                .unwrap()
        }
    };
    let typed = || DeskInput::Iseki(d.iseki.clone());
    let first = scan(t0, typed()).await;
    assert_eq!(first.captured, DeskCaptured::CheckedIn);
    assert_eq!((first.live, first.expected), (1, Some(50)));
    let before = desk_state(&t, &s, &d).await;
    for (after, captured) in [
        (59, DeskCaptured::AlreadyRecorded),
        (60, DeskCaptured::AlreadyRecorded),
        (61, DeskCaptured::CheckedOut),
    ] {
        let r = scan(t0 + Duration::seconds(after), typed()).await;
        assert_eq!(r.captured, captured, "{after} s after the check-in");
        if captured == DeskCaptured::AlreadyRecorded {
            assert_eq!(r.recorded_at, Some(t0), "{after} s");
            assert_eq!(r.live, 1, "still in the room");
            assert_eq!(
                desk_state(&t, &s, &d).await,
                before,
                "{after} s: nothing changed"
            );
        } else {
            assert_eq!(r.live, 0);
        }
    }
    // the check-out at 61 s is the last desk capture now: 30 s later is the same scan again
    let out_at = t0 + Duration::seconds(61);
    let after_out = desk_state(&t, &s, &d).await;
    let r = scan(out_at + Duration::seconds(30), typed()).await;
    assert_eq!(r.captured, DeskCaptured::AlreadyRecorded);
    assert_eq!(r.recorded_at, Some(out_at));
    assert_eq!(desk_state(&t, &s, &d).await, after_out);
    // later scans toggle as they always did
    let r = scan(out_at + Duration::seconds(61), typed()).await;
    assert_eq!(r.captured, DeskCaptured::CheckedIn);
    assert_eq!(r.live, 1);

    // a number not in the register: kept as pending, and repeats the same way
    let stranger = mamis_domain::IsekiNumber::parse("7654321").unwrap();
    let r = scan(
        t0 + Duration::minutes(5),
        DeskInput::Iseki(stranger.clone()),
    )
    .await;
    assert_eq!(r.captured, DeskCaptured::CheckedIn);
    assert_eq!(r.pending, Some(Pending::NotInRegister));
    assert_eq!(r.live, 2);
    let r = scan(
        t0 + Duration::minutes(5) + Duration::seconds(20),
        DeskInput::Iseki(stranger),
    )
    .await;
    assert_eq!(r.captured, DeskCaptured::AlreadyRecorded);
    assert_eq!(r.pending, Some(Pending::NotInRegister));
    let mut tx = t.app.store.read().await.unwrap();
    assert_eq!(tx.pending_of_session(s.id).await.unwrap().len(), 1);
    tx.rollback().await.unwrap();
}
app_test!(
    a_desk_scan_within_60_s_of_the_last_is_already_recorded,
    desk_repeats
);

/// Issue 13: the 受講証明書's 受講件数 is one per session attended plus one per e-learning
/// content passed, not one per code line. Two sessions on one day under one title (morning and
/// afternoon, three code lines each) are two attendances; with an e-learning content, three —
/// read back from the PDF's text.
async fn attendance_count<S: Store>(t: TestApp<S>) {
    use mamis_app::cme::{self, NewCredit, documents};
    use mamis_domain::{HalfUnits, Source};
    setup(&t).await;
    let morning = chiyoda_session(&t).await;
    let mut pm = input(Organiser::Association(code("P13-0001")));
    let later = Duration::hours(5);
    pm.start += later;
    pm.end += later;
    for item in &mut pm.items {
        item.start += later;
    }
    let afternoon = training::create(&t.app, &job(), pm, None).await.unwrap();
    assert_eq!(morning.title, afternoon.title);
    let (d, who) = verified(&t, 1).await;
    for (s, at) in [
        (&morning, "2026-06-01T08:58:00"),
        (&morning, "2026-06-01T12:01:00"),
        (&afternoon, "2026-06-01T13:58:00"),
        (&afternoon, "2026-06-01T17:01:00"),
    ] {
        t.clock.set(jst(at));
        capture::desk_scan(
            &t.app,
            &job(),
            s.id,
            DeskInput::Iseki(d.iseki.clone()),
            at_device("desk"),
        )
        .await
        .unwrap();
    }
    let mut tx = t.app.store.write().await.unwrap();
    cme::credit(
        &mut tx,
        &[NewCredit {
            doctor: d.id,
            date: "2026-06-01".parse().unwrap(),
            source: Source::ELearning,
            code: 20,
            half_units: HalfUnits::new(2),
            origin_key: format!("elearning:content-7:{}", d.id),
            note: Some("日医e-ラーニング「感染症対策」".into()),
        }],
        "job:test",
        t.app.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let day = "2026-06-01".parse().unwrap();
    assert_eq!(
        ledger(&t, d.id).await.len(),
        7,
        "six code lines and one content"
    );
    t.clock.set(jst("2026-06-02T10:00:00"));
    let printed = documents::attendance_pdf(&t.app, &who, d.id, day, day, false)
        .await
        .unwrap()
        .into_pdf()
        .unwrap();
    let only_el = documents::attendance_pdf(&t.app, &who, d.id, day, day, true)
        .await
        .unwrap()
        .into_pdf()
        .unwrap();
    let Some(text) = crate::certificates_http::pdf_text(&printed.pdf) else {
        return;
    };
    // 2 × (1 + 0.5 + 1) units from the sessions, 1 from the content
    assert!(text.contains("受講証明書"), "{text}");
    assert!(text.contains("3件合計6.0単位"), "{text}");
    assert!(!text.contains("7件"), "{text}");
    let text = crate::certificates_http::pdf_text(&only_el.pdf).unwrap();
    assert!(text.contains("1件合計1.0単位"), "{text}");
}
app_test!(
    the_attendance_certificate_counts_sessions_and_contents,
    attendance_count
);

async fn pending<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let s = chiyoda_session(&t).await;
    // in the register, but without any MAMIS_ID
    let d = sample_doctor(7);
    {
        let mut tx = t.app.store.write().await.unwrap();
        tx.insert_doctor(&d).await.unwrap();
        tx.commit().await.unwrap();
    }
    // and a number nobody holds yet
    let csv = format!(
        "{}医籍登録番号,氏名カナ,生年月日,入室,退室\n{},,{},9:05,12:00\n999999,スズキ ハナコ,1990/1/2,,\n",
        '\u{feff}',
        d.iseki.as_str(),
        d.birth_date.format("%Y%m%d"),
    );
    let plan = import::import(&t.app, &job(), s.id, csv.as_bytes(), true, None)
        .await
        .unwrap();
    assert!(plan.ok(), "{:?}", plan.list.problems);
    assert_eq!((plan.attendees, plan.pending), (2, 2));
    assert_eq!(plan.settled.written, 0);
    // months later the doctor registers a MAMIS_ID and matches the register
    t.clock.set(jst("2026-11-20T10:00:00"));
    let mut acc = Account::new(
        Uuid::from_u128(0xBEEF),
        "late@example.jp",
        "",
        AccountKind::Doctor,
        t.app.now(),
    );
    acc.verification = Verification::Unverified;
    {
        let mut tx = t.app.store.write().await.unwrap();
        tx.insert_account(&acc).await.unwrap();
        tx.commit().await.unwrap();
    }
    let data = registration::parse_identity(&IdentityForm {
        iseki: d.iseki.as_str().to_owned(),
        family_name: d.family_name.clone(),
        given_name: d.given_name.clone(),
        family_kana: d.family_kana.as_str().to_owned(),
        given_kana: d.given_kana.as_str().to_owned(),
        birth_date: d.birth_date.to_string(),
        sex: d.sex.as_str().to_owned(),
        membership: "non_member".into(),
        association: "P13".into(),
        licensed_on: String::new(),
    })
    .unwrap();
    let outcome = registration::submit_identity(&t.app, &acc, data, &LoginOrigin::default())
        .await
        .unwrap();
    assert_eq!(outcome, IdentityOutcome::Verified);
    assert_eq!(net(&t, d.id).await, WHOLE.to_vec());
    let entries = ledger(&t, d.id).await;
    assert!(
        entries
            .iter()
            .all(|e| e.date.to_string() == "2026-06-01" && e.fiscal_year.year() == 2026),
        "original dates and fiscal year"
    );
    let mut tx = t.app.store.read().await.unwrap();
    assert!(tx.pending_for_iseki(&d.iseki).await.unwrap().is_empty());
    tx.rollback().await.unwrap();
    // the organiser's list no longer shows the number as pending; the unknown one still is
    let v = training::view(&t.app, &job(), s.id, None).await.unwrap();
    let pending_of = |n: &str| {
        v.attendees
            .iter()
            .find(|a| a.iseki.as_str() == n)
            .unwrap()
            .pending
    };
    assert!(!pending_of(d.iseki.as_str()));
    assert!(pending_of("999999"));
    // the doctor's My Page ② lists the attendance captured before verification
    let mine = training::my_attendance(&t.app, &d).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].session.id, s.id);
}
app_test!(
    pending_attendance_turns_into_credits_when_the_mamis_id_is_verified,
    pending
);

async fn csv_cp932<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let s = chiyoda_session(&t).await;
    let (a, _) = verified(&t, 1).await;
    let (b, _) = verified(&t, 2).await;
    let wide = |s: &str| -> String {
        s.chars()
            .map(|c| {
                c.to_digit(10)
                    .map_or(c, |v| char::from_u32(0xFF10 + v).unwrap())
            })
            .collect()
    };
    let text = format!(
        "医籍登録番号,氏名カナ,生年月日,入室,退室\r\n{},ﾔﾏﾀﾞ ﾀﾛｳ,{},,\r\n{},ヤマダ　タロウ,{},09:00,10:20\r\n",
        wide(a.iseki.as_str()),
        wide("1980/5/17"),
        wide(b.iseki.as_str()),
        "19800517",
    );
    let (bytes, _, bad) = encoding_rs::SHIFT_JIS.encode(&text);
    assert!(!bad);
    let plan = import::import(&t.app, &job(), s.id, &bytes, false, None)
        .await
        .unwrap();
    assert!(plan.ok(), "{:?}", plan.list.problems);
    assert_eq!(plan.list.encoding, "CP932");
    assert_eq!((plan.added, plan.removed), (2, 0));
    assert!(
        ledger(&t, a.id).await.is_empty(),
        "a preview writes nothing"
    );
    let plan = import::import(&t.app, &job(), s.id, &bytes, true, None)
        .await
        .unwrap();
    assert!(plan.applied);
    assert_eq!(net(&t, a.id).await, WHOLE.to_vec());
    assert_eq!(net(&t, b.id).await, vec![(10, 2)]);
    // the same file again changes nothing
    let again = import::import(&t.app, &job(), s.id, &bytes, true, None)
        .await
        .unwrap();
    assert!(
        again.is_noop(),
        "{} added {} removed",
        again.added,
        again.removed
    );
    assert_eq!(again.unchanged, 2);
    assert_eq!(ledger(&t, a.id).await.len(), 3);
    // a corrected file: A dropped, B stayed longer
    let corrected = format!(
        "iseki_number,check_in,check_out\n{},9:00,12:00\n",
        b.iseki.as_str()
    );
    let plan = import::import(&t.app, &job(), s.id, corrected.as_bytes(), true, None)
        .await
        .unwrap();
    assert!(plan.ok(), "{:?}", plan.list.problems);
    assert_eq!((plan.added, plan.removed, plan.unchanged), (1, 2, 0));
    let removed: Vec<&str> = plan
        .removed_lines
        .iter()
        .map(|l| l.iseki.as_str())
        .collect();
    assert!(removed.contains(&a.iseki.as_str()) && removed.contains(&b.iseki.as_str()));
    assert!(net(&t, a.id).await.is_empty(), "A's credits reversed");
    assert_eq!(net(&t, b.id).await, WHOLE.to_vec());
}
app_test!(
    a_cp932_list_imports_and_re_uploads_apply_only_their_difference,
    csv_cp932
);

async fn csv_refusals<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let s = chiyoda_session(&t).await;
    let (a, _) = verified(&t, 1).await;
    let cases: Vec<(Vec<u8>, ProblemKind)> = vec![
        (
            // unknown columns are ignored, so this file lacks the number's column
            b"foo,when\nx,y\n".to_vec(),
            ProblemKind::MissingColumn {
                name: "医籍登録番号|iseki_number".into(),
            },
        ),
        (
            format!("iseki_number,birth_date\n{},1980-02-30\n", a.iseki.as_str()).into_bytes(),
            ProblemKind::BadDate,
        ),
        (
            // contradicts the register: same number, another birth date
            format!("iseki_number,birth_date\n{},1981-05-17\n", a.iseki.as_str()).into_bytes(),
            ProblemKind::RegisterMismatch { register: None },
        ),
        (
            {
                let mut junk = b"iseki_number\n".to_vec();
                junk.extend(std::iter::repeat_n(b"x\n".as_slice(), 1_000_000).flatten());
                junk
            },
            ProblemKind::TooManyRows { max: 200_000 },
        ),
    ];
    for (bytes, kind) in cases {
        let plan = import::import(&t.app, &job(), s.id, &bytes, true, None)
            .await
            .unwrap();
        assert!(!plan.ok() && !plan.applied);
        assert!(
            plan.list.problems.iter().any(|p| p.kind == kind),
            "{kind:?} not in {:?}",
            &plan.list.problems[..plan.list.problems.len().min(3)]
        );
        let mut tx = t.app.store.read().await.unwrap();
        assert!(
            tx.presence_of(s.id).await.unwrap().is_empty(),
            "nothing written"
        );
        tx.rollback().await.unwrap();
    }
    assert!(ledger(&t, a.id).await.is_empty());
    // another organiser's staff cannot even see the session
    let e = import::import(
        &t.app,
        &staff(Role::CountyStaff, "P13-0002"),
        s.id,
        b"iseki_number\n1\n",
        true,
        None,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, TrainingError::App(mamis_app::AppError::NotFound)),
        "{e}"
    );
}
app_test!(malformed_attendee_lists_are_refused_whole, csv_refusals);

/// Issue 15: attendance withdrawn after the window holding it was certified opens a review
/// item; the certificate itself never changes.
async fn withdrawn_after_certification<S: Store>(t: TestApp<S>) {
    use mamis_app::cme::{self, NewCredit, certificates};
    use mamis_domain::{FiscalYear, HalfUnits, Source};
    setup(&t).await;
    let s = chiyoda_session(&t).await;
    let (d, _) = verified(&t, 1).await;
    // the session earns code 10 (1 unit + 1 code = 2); 29 more codes at 1 unit in FY2026 = 58
    t.clock.set(jst("2026-06-01T09:03:00"));
    capture::desk_scan(
        &t.app,
        &job(),
        s.id,
        DeskInput::Iseki(d.iseki.clone()),
        at_device("desk"),
    )
    .await
    .unwrap();
    t.clock.set(jst("2026-06-01T10:30:00"));
    capture::desk_scan(
        &t.app,
        &job(),
        s.id,
        DeskInput::Iseki(d.iseki.clone()),
        at_device("desk"),
    )
    .await
    .unwrap();
    assert_eq!(net(&t, d.id).await, vec![(10, 2)]);
    let credits: Vec<NewCredit> = (40..69)
        .map(|c| NewCredit {
            doctor: d.id,
            date: "2026-05-10".parse().unwrap(),
            source: Source::Declaration,
            code: c,
            half_units: HalfUnits::new(2),
            origin_key: format!("test:decl:{c}"),
            note: None,
        })
        .collect();
    let mut tx = t.app.store.write().await.unwrap();
    cme::credit(&mut tx, &credits, "test", t.app.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // decided in order a year and a half later: FY2024–2026 reaches exactly 60
    t.clock.set(jst("2027-12-02T09:00:00"));
    for y in [2025, 2026] {
        certificates::decide(&t.app, &job(), FiscalYear::new(y).unwrap(), |_, _| {
            std::ops::ControlFlow::Continue(())
        })
        .await
        .unwrap();
    }
    let mut tx = t.app.store.read().await.unwrap();
    let before = tx.certificates_of(d.id, PROGRAMME).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].to_fy.year(), 2026);
    assert!(
        certificates::reviews(&t.app, &job(), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // the organiser withdraws the attendance
    let v = training::view(&t.app, &job(), s.id, None).await.unwrap();
    let row = v.attendees[0].intervals[0].id;
    capture::remove(&t.app, &job(), s.id, row, Some("wrong scan"), None)
        .await
        .unwrap();
    assert_eq!(
        net(&t, d.id).await.len(),
        29,
        "the session's credit is reversed"
    );
    t.worker(vec![]).drain().await.unwrap();
    let open = certificates::reviews(&t.app, &job(), 10).await.unwrap();
    assert_eq!(open.len(), 1, "one review item");
    assert_eq!(open[0].number, before[0].number);
    assert!(open[0].reason.contains("58"), "{}", open[0].reason);
    let mut tx = t.app.store.read().await.unwrap();
    let after = tx.certificates_of(d.id, PROGRAMME).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(after, before, "the certificate stands");
}
app_test!(
    attendance_withdrawn_after_certification_opens_a_review,
    withdrawn_after_certification
);
