//! Certified-doctor programmes through the use cases, on both backends: one session crediting
//! CME codes and 産業医 units once each; applications along the route with 研修手帳 units,
//! fees and returns; certificates, renewal dates and `/verify`; reminders once with two servers.

use chrono::{Duration, NaiveDate};
use mamis_app::membership::NewEvidence;
use mamis_app::programmes::ProgrammeError;
use mamis_app::programmes::applications::{self, ApplyInput, Decision};
use mamis_app::programmes::certificates;
use mamis_app::programmes::credit::{self, PaperUnits, PartInput};
use mamis_app::programmes::progress::{self, Standing};
use mamis_app::training;
use mamis_domain::programmes::{CertifiedProgramme, LineKey, ProgrammeEntry};
use mamis_domain::{HalfUnits, MemberClass, Membership, Role, Source};
use mamis_store::programmes::{ApplicationKind, ApplicationStatus, Fee};
use mamis_store::{ProgrammeStore, RegistryStore, Store, Tx};
use mamis_testkit::{TestApp, app_test};
use uuid::Uuid;

use crate::training::{WHOLE, chiyoda_session, job, jst, net, setup, staff, venue, verified};

const SAN: CertifiedProgramme = CertifiedProgramme::Sangyoui;

async fn entries<S: Store>(t: &TestApp<S>, d: Uuid) -> Vec<ProgrammeEntry> {
    let mut tx = t.app.store.read().await.unwrap();
    let v = tx.programme_entries_of(d).await.unwrap();
    tx.rollback().await.unwrap();
    v
}

/// Every file under `dir` (none when it does not exist yet).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .flat_map(|e| {
            let p = e.path();
            if p.is_dir() { walk(&p) } else { vec![p] }
        })
        .collect()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

async fn one_session_credits_each_once<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let s = chiyoda_session(&t).await;
    let items = training::view(&t.app, &job(), s.id, None)
        .await
        .unwrap()
        .items;
    let id = |title: &str| items.iter().find(|i| i.title == title).unwrap().id;
    // 講演1 (60 min, code 10) also credits 産業医 基礎 実地; 講演2 (90 min, codes 11/12) 前期;
    // the 10-minute greeting names 産業医 too but earns nothing.
    let parts = vec![
        PartInput {
            item: id("講演1"),
            programme: SAN,
            category: "kiso_jitchi".into(),
            web_session: false,
            lecture: None,
        },
        PartInput {
            item: id("講演2"),
            programme: SAN,
            category: "kiso_zenki".into(),
            web_session: false,
            lecture: None,
        },
        PartInput {
            item: id("開会挨拶"),
            programme: SAN,
            category: "kiso_zenki".into(),
            web_session: false,
            lecture: None,
        },
    ];
    // another county's staff cannot see the session; an unknown category is refused
    let other = staff(Role::CountyStaff, "P27-0001");
    let e = credit::set_item_programmes(&t.app, &other, s.id, parts.clone(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(e, ProgrammeError::App(mamis_app::AppError::NotFound)),
        "{e}"
    );
    let mut bad = parts.clone();
    bad[0].category = "kiso_nope".into();
    let e = credit::set_item_programmes(&t.app, &job(), s.id, bad, None)
        .await
        .unwrap_err();
    assert!(matches!(e, ProgrammeError::UnknownCategory(_)), "{e}");
    let county = staff(Role::CountyStaff, "P13-0001");
    credit::set_item_programmes(&t.app, &county, s.id, parts, None)
        .await
        .unwrap();

    let (d, who) = verified(&t, 1).await;
    t.clock.set(jst("2026-06-01T08:55:00"));
    venue(&t, &s, &who, "phone").await.unwrap();
    t.clock.set(jst("2026-06-01T12:01:00"));
    venue(&t, &s, &who, "phone").await.unwrap();
    t.clock.set(jst("2026-06-01T12:10:00"));
    training::close(&t.app, &job(), s.id, None).await.unwrap();

    // CME: every code once
    assert_eq!(net(&t, d.id).await, WHOLE.to_vec());
    let cme_count = crate::training::ledger(&t, d.id).await.len();
    assert_eq!(cme_count, 3);
    // 産業医: one entry per item that earns something, each with its own origin key
    let es = entries(&t, d.id).await;
    let mut got: Vec<(String, i64, Source)> = es
        .iter()
        .map(|e| (e.category.clone(), e.half_units.get(), e.source))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("kiso_jitchi".into(), 2, Source::Training),
            ("kiso_zenki".into(), 3, Source::Training),
        ]
    );
    assert!(
        es.iter()
            .all(|e| e.programme == SAN && e.date == day("2026-06-01"))
    );

    // settling again (a second channel, a re-run) writes nothing more in either ledger
    let mut tx = t.app.store.write().await.unwrap();
    let again = training::settle(&mut tx, &s, None, "test", t.app.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((again.written, again.reversed), (0, 0));
    assert_eq!(crate::training::ledger(&t, d.id).await.len(), cme_count);
    assert_eq!(entries(&t, d.id).await.len(), 2);

    // the doctor's My Page picture counts them
    let p = progress::mine(&t.app, &who).await.unwrap();
    let san = p.iter().find(|p| p.programme == SAN).unwrap();
    assert!(san.active);
    let line = |k: &str| {
        san.assessment
            .lines
            .iter()
            .find(|l| l.key == LineKey::Category(k.into()))
            .unwrap()
            .clone()
    };
    assert_eq!(line("kiso_jitchi").have, 2);
    assert_eq!(line("kiso_zenki").have, 3);
    assert!(!san.assessment.met);
}
app_test!(
    one_session_credits_cme_codes_and_sangyoui_units_once_each,
    one_session_credits_each_once
);

/// Credits a doctor's 産業医 basic training directly, as settled sessions would.
async fn credit_units<S: Store>(t: &TestApp<S>, d: Uuid, cat: &str, date: &str, units: i64) {
    let e = ProgrammeEntry {
        id: Uuid::new_v4(),
        doctor: d,
        programme: SAN,
        category: cat.into(),
        date: day(date),
        half_units: HalfUnits::new(units * 2),
        web_session: false,
        lecture: None,
        source: Source::Training,
        origin_key: format!("test:{}", Uuid::new_v4()),
        generation: 0,
        reverses: None,
        rules_version: "2026.1".into(),
        created_by: "test".into(),
        created_at: t.app.now(),
        note: None,
    };
    let mut tx = t.app.store.write().await.unwrap();
    tx.insert_programme_entries(&[e]).await.unwrap();
    tx.commit().await.unwrap();
}

async fn member_of_chiyoda<S: Store>(t: &TestApp<S>, d: Uuid) {
    let mut tx = t.app.store.write().await.unwrap();
    for c in ["P13-0001", "P13"] {
        tx.insert_membership(
            d,
            &Membership {
                association: mamis_domain::AssociationCode::parse(c).unwrap(),
                class: MemberClass::A1.into(),
                joined_on: day("2020-04-01"),
                left_on: None,
            },
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

async fn route_and_renewal<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let (d, who) = verified(&t, 1).await;
    member_of_chiyoda(&t, d.id).await;
    credit_units(&t, d.id, "kiso_zenki", "2025-05-01", 14).await;
    credit_units(&t, d.id, "kiso_jitchi", "2025-06-01", 9).await;
    credit_units(&t, d.id, "kiso_kouki", "2025-07-01", 26).await;

    // one 実地 unit short: no application, unless staff will add 研修手帳 units
    let p = progress::mine(&t.app, &who).await.unwrap();
    let san = p.iter().find(|p| p.programme == SAN).unwrap();
    assert!(!san.can_apply());
    assert_eq!(san.standing, Standing::None);
    let missing: Vec<(LineKey, i64)> = san
        .assessment
        .lines
        .iter()
        .filter(|l| !l.met())
        .map(|l| (l.key.clone(), l.missing()))
        .collect();
    assert_eq!(
        missing,
        vec![
            (LineKey::Total, 2),
            (LineKey::Category("kiso_jitchi".into()), 2)
        ]
    );
    let e = applications::apply(&t.app, &who, SAN, ApplyInput::default(), None)
        .await
        .unwrap_err();
    assert!(matches!(e, ProgrammeError::NotMet), "{e}");
    // the scan of the 研修手帳 pages goes with it; a file that is not what it claims refuses
    // the whole application and leaves nothing behind
    let scan = NewEvidence {
        file_name: "研修手帳p12.pdf".into(),
        content_type: "application/pdf".into(),
        bytes: b"%PDF-1.4 page 12, stamp of the Tokyo association".to_vec(),
    };
    let fake = NewEvidence {
        file_name: "photo.png".into(),
        content_type: "image/png".into(),
        bytes: b"MZ not a picture".to_vec(),
    };
    let paper = |files: Vec<NewEvidence>| ApplyInput {
        evidence: Some("研修手帳を県医師会へ郵送しました".into()),
        declared_activity: false,
        paper_units_pending: true,
        files,
    };
    let e = applications::apply(&t.app, &who, SAN, paper(vec![scan.clone(), fake]), None)
        .await
        .unwrap_err();
    assert!(matches!(e, ProgrammeError::EvidenceFile), "{e}");
    let e = applications::apply(&t.app, &who, SAN, paper(vec![scan.clone(); 6]), None)
        .await
        .unwrap_err();
    assert!(matches!(e, ProgrammeError::EvidenceFile), "{e}");
    let mut tx = t.app.store.read().await.unwrap();
    assert!(tx.applications_of(d.id).await.unwrap().is_empty());
    tx.rollback().await.unwrap();
    let on_disk = || {
        walk(&t.app.config.membership.evidence_dir)
            .into_iter()
            .filter(|p| p.extension().is_none_or(|e| e != "part"))
            .count()
    };
    assert_eq!(on_disk(), 0, "the refused application left a file");
    let a = applications::apply(&t.app, &who, SAN, paper(vec![scan.clone()]), None)
        .await
        .unwrap();
    assert_eq!(on_disk(), 1);
    assert_eq!(a.kind, ApplicationKind::New);
    assert_eq!(
        a.route.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        ["P13", "JMA"]
    );
    let e = applications::apply(&t.app, &who, SAN, ApplyInput::default(), None)
        .await
        .unwrap_err();
    assert!(matches!(e, ProgrammeError::AlreadyOpen), "{e}");

    // the county is not on the 産業医 route; another prefecture sees nothing
    let county = staff(Role::CountyStaff, "P13-0001");
    let osaka = staff(Role::PrefectureStaff, "P27");
    let tokyo = staff(Role::PrefectureStaff, "P13");
    let jma = staff(Role::JmaStaff, "JMA");
    for who in [&county, &osaka] {
        let e = applications::review(&t.app, who, a.id, None)
            .await
            .unwrap_err();
        assert!(
            matches!(e, ProgrammeError::App(mamis_app::AppError::NotFound)),
            "{e}"
        );
    }
    let q = applications::queue(
        &t.app,
        &tokyo,
        &mamis_domain::AssociationCode::parse("P13").unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(q.len(), 1);
    // the reviewer sees the file and reads it back byte for byte (audited); the applicant sees
    // its list; another prefecture and another doctor do not find it
    let review = applications::review(&t.app, &tokyo, a.id, None)
        .await
        .unwrap();
    assert_eq!(review.files.len(), 1);
    assert_eq!(review.files[0].file_name, "研修手帳p12.pdf");
    let fid = review.files[0].id;
    let before = crate::membership::audited(&t, "programmes.evidence_view").await;
    let (meta, bytes) = applications::file(&t.app, &tokyo, a.id, fid, None)
        .await
        .unwrap();
    assert_eq!(bytes, scan.bytes);
    assert_eq!(meta.content_type, "application/pdf");
    assert_eq!(
        crate::membership::audited(&t, "programmes.evidence_view").await,
        before + 1
    );
    assert_eq!(
        applications::files(&t.app, &who, a.id).await.unwrap().len(),
        1
    );
    let other = mamis_domain::Principal::Doctor {
        account_id: Uuid::new_v4(),
        doctor_id: Some(Uuid::new_v4()),
    };
    for w in [&osaka, &other] {
        let e = applications::file(&t.app, w, a.id, fid, None)
            .await
            .unwrap_err();
        assert!(
            matches!(e, ProgrammeError::App(mamis_app::AppError::NotFound)),
            "{e}"
        );
    }
    assert_eq!(
        crate::membership::audited(&t, "programmes.evidence_view").await,
        before + 1
    );
    // JMA cannot approve before the prefecture
    let e = applications::decide(
        &t.app,
        &jma,
        a.id,
        a.updated_at,
        Decision::Approve {
            fee: None,
            practical_approved: false,
        },
        None,
    )
    .await;
    assert!(
        e.is_ok(),
        "JMA staff act nationally, so they may decide any step"
    );
    // (that forwarded it to the JMA step)
    let e = applications::decide(
        &t.app,
        &tokyo,
        a.id,
        a.updated_at,
        Decision::Approve {
            fee: None,
            practical_approved: false,
        },
        None,
    )
    .await
    .unwrap_err();
    // the prefecture no longer acts on it
    assert!(
        matches!(e, ProgrammeError::App(mamis_app::AppError::NotFound)),
        "{e}"
    );
    // a second decision from the state first seen is stale, even within the same instant
    let e = applications::decide(
        &t.app,
        &jma,
        a.id,
        a.updated_at,
        Decision::Approve {
            fee: Some(Fee::Paid),
            practical_approved: false,
        },
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ProgrammeError::Stale), "{e}");

    let r = applications::review(&t.app, &jma, a.id, None)
        .await
        .unwrap();
    assert_eq!(r.application.step, 1);
    // paper units: page and stamp noted, before April 2025 only
    let paper = |date: &str, page: &str| PaperUnits {
        category: "kiso_jitchi".into(),
        half_units: HalfUnits::new(2),
        date: day(date),
        page: page.into(),
        stamp: "神奈川県医師会".into(),
    };
    let e = applications::add_paper_units(&t.app, &jma, a.id, paper("2025-04-01", "3"), None)
        .await
        .unwrap_err();
    assert!(matches!(e, ProgrammeError::PaperDate), "{e}");
    let e = applications::add_paper_units(&t.app, &jma, a.id, paper("2024-10-01", " "), None)
        .await
        .unwrap_err();
    assert!(matches!(e, ProgrammeError::PaperPageStamp), "{e}");
    applications::add_paper_units(&t.app, &jma, a.id, paper("2024-10-01", "3"), None)
        .await
        .unwrap();
    let r = applications::review(&t.app, &jma, a.id, None)
        .await
        .unwrap();
    assert!(r.progress.assessment.met);
    assert!(r.entries.iter().any(|e| e.source == Source::PriorSystem
        && e.note.as_deref() == Some("研修手帳 p.3 印 神奈川県医師会")));
    // the fee must be recorded at the last step
    let e = applications::decide(
        &t.app,
        &jma,
        a.id,
        r.application.updated_at,
        Decision::Approve {
            fee: None,
            practical_approved: false,
        },
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ProgrammeError::FeeRequired), "{e}");
    t.clock.set(jst("2026-06-10T10:00:00"));
    let done = applications::decide(
        &t.app,
        &jma,
        a.id,
        r.application.updated_at,
        Decision::Approve {
            fee: Some(Fee::Paid),
            practical_approved: false,
        },
        None,
    )
    .await
    .unwrap();
    assert_eq!(done.status, ApplicationStatus::Approved);
    let p = progress::mine(&t.app, &who).await.unwrap();
    let san = p.iter().find(|p| p.programme == SAN).unwrap();
    let cert = san.certificate.clone().unwrap();
    assert_eq!(cert.number, "SAN-2026-000001");
    assert_eq!(
        (cert.valid_from, cert.valid_until),
        (day("2026-06-10"), day("2031-06-09"))
    );
    assert_eq!(san.standing, Standing::Valid(day("2031-06-09")));
    assert_eq!(san.target, ApplicationKind::Renewal);

    // /verify answers with the programme, the period and its validity
    let v = mamis_app::cme::certificates::verify(&t.app, &cert.number, &cert.verification_code)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.kind, "sangyoui");
    assert_eq!(
        v.validity,
        mamis_app::cme::certificates::Validity::Valid(Some(day("2031-06-09")))
    );
    assert!(
        mamis_app::cme::certificates::verify(&t.app, &cert.number, "WRONGCODE")
            .await
            .unwrap()
            .is_none()
    );

    // the PDF is labelled a record of certification (the JMA issues the paper certificate)
    let (file, pdf) = certificates::record_pdf(&t.app, &who, &cert.number)
        .await
        .unwrap();
    assert_eq!(file, "SAN-2026-000001.pdf");
    assert!(pdf.starts_with(b"%PDF"));
    if let Some(text) = crate::certificates_http::pdf_text(&pdf) {
        for needle in [
            "日本医師会認定産業医認定の記録",
            "認定証ではありません",
            "SAN-2026-000001",
            "2031年6月9日",
            &d.family_name,
        ] {
            assert!(text.contains(needle), "{needle} missing in {text}");
        }
    }
    let (_, other) = verified(&t, 2).await;
    let e = certificates::record_pdf(&t.app, &other, &cert.number)
        .await
        .unwrap_err();
    assert!(
        matches!(e, ProgrammeError::App(mamis_app::AppError::NotFound)),
        "{e}"
    );

    // renewal: 20 units in the 5 years ending on the expiry day, ≥ 1 of 更新, 実地, 専門
    t.clock.set(jst("2031-04-01T10:00:00"));
    let p = progress::mine(&t.app, &who).await.unwrap();
    let san = p.iter().find(|p| p.programme == SAN).unwrap();
    assert_eq!(san.standing, Standing::RenewalDue(day("2031-06-09")));
    credit_units(&t, d.id, "koushin", "2027-01-01", 1).await;
    credit_units(&t, d.id, "shogai_jitchi", "2028-01-01", 1).await;
    credit_units(&t, d.id, "senmon", "2030-01-01", 18).await;
    let a2 = applications::apply(&t.app, &who, SAN, ApplyInput::default(), None)
        .await
        .unwrap();
    assert_eq!(a2.kind, ApplicationKind::Renewal);
    // a return needs a reason, then the doctor may apply again
    let e = applications::decide(
        &t.app,
        &tokyo,
        a2.id,
        a2.updated_at,
        Decision::Return { reason: " ".into() },
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ProgrammeError::ReasonRequired), "{e}");
    let ret = applications::decide(
        &t.app,
        &tokyo,
        a2.id,
        a2.updated_at,
        Decision::Return {
            reason: "証憑が不鮮明です".into(),
        },
        None,
    )
    .await
    .unwrap();
    assert_eq!(ret.status, ApplicationStatus::Returned);
    let a3 = applications::apply(&t.app, &who, SAN, ApplyInput::default(), None)
        .await
        .unwrap();
    let a3 = applications::decide(
        &t.app,
        &tokyo,
        a3.id,
        a3.updated_at,
        Decision::Approve {
            fee: None,
            practical_approved: false,
        },
        None,
    )
    .await
    .unwrap();
    // approved by the JMA after the old expiry: still valid from the day after it
    t.clock.set(jst("2031-07-01T10:00:00"));
    applications::decide(
        &t.app,
        &jma,
        a3.id,
        a3.updated_at,
        Decision::Approve {
            fee: Some(Fee::Waived),
            practical_approved: false,
        },
        None,
    )
    .await
    .unwrap();
    let p = progress::mine(&t.app, &who).await.unwrap();
    let san = p.iter().find(|p| p.programme == SAN).unwrap();
    let renewed = san.certificate.clone().unwrap();
    assert_eq!(renewed.number, "SAN-2031-000001");
    assert_eq!(
        (renewed.valid_from, renewed.valid_until),
        (day("2031-06-10"), day("2036-06-09"))
    );

    // after expiry only a new application is possible
    t.clock.set(jst("2036-06-10T10:00:00"));
    let p = progress::mine(&t.app, &who).await.unwrap();
    let san = p.iter().find(|p| p.programme == SAN).unwrap();
    assert_eq!(san.standing, Standing::Expired(day("2036-06-09")));
    assert_eq!(san.target, ApplicationKind::New);
}
app_test!(
    sangyoui_application_route_certificate_and_renewal,
    route_and_renewal
);

/// Drains the workers at the same time, as servers' workers run.
async fn drain_all<S: Store>(ws: &[mamis_app::jobs::Worker<S>]) {
    match ws {
        [a] => {
            a.drain().await.unwrap();
        }
        [a, b] => {
            let (x, y) = tokio::join!(a.drain(), b.drain());
            x.unwrap();
            y.unwrap();
        }
        _ => unreachable!(),
    }
}

async fn reminders_once<S: Store>(t: &TestApp<S>, second: Option<&TestApp<S>>) {
    setup(t).await;
    let (d, _) = verified(t, 1).await;
    // a certificate expiring in 4 months and one far off
    let mut tx = t.app.store.write().await.unwrap();
    for (n, until) in [
        ("SAN-2021-000001", "2026-10-01"),
        ("SAN-2025-000002", "2030-03-31"),
    ] {
        let until = day(until);
        tx.insert_programme_certificate(&mamis_store::programmes::ProgrammeCertificate {
            id: Uuid::new_v4(),
            number: n.into(),
            doctor: d.id,
            programme: SAN,
            valid_from: until - Duration::days(365 * 5),
            valid_until: until,
            issued_on: until - Duration::days(365 * 5),
            application: None,
            verification_code: "X".into(),
            created_at: t.app.now(),
            revoked_at: None,
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let servers: Vec<&TestApp<S>> = std::iter::once(t).chain(second).collect();
    for s in &servers {
        certificates::schedule(&s.app).await.unwrap();
    }
    let workers: Vec<_> = servers.iter().map(|s| s.worker(vec![])).collect();
    drain_all(&workers).await;
    let reminders = |mails: Vec<mamis_store::OutboxMail>| {
        mails
            .into_iter()
            .filter(|m| m.subject.contains("有効期限"))
            .collect::<Vec<_>>()
    };
    let mails = reminders(t.mails().await);
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].subject.contains("4か月前"));
    assert!(mails[0].body_text.contains("SAN-2021-000001"));
    assert!(mails[0].body_text.contains("2026-10-01"));
    // next day's scans (both servers again) mail nothing new; a month before expiry, once more
    for s in &servers {
        s.clock.set(jst("2026-06-02T09:00:00"));
        certificates::scan(&s.app, day("2026-06-02")).await.unwrap();
    }
    drain_all(&workers).await;
    assert_eq!(reminders(t.mails().await).len(), 1);
    for s in &servers {
        s.clock.set(jst("2026-09-05T09:00:00"));
        certificates::scan(&s.app, day("2026-09-05")).await.unwrap();
    }
    drain_all(&workers).await;
    let mails = reminders(t.mails().await);
    assert_eq!(mails.len(), 2);
    assert!(mails.iter().any(|m| m.subject.contains("1か月前")));
}

async fn reminders_single<S: Store>(t: TestApp<S>) {
    reminders_once(&t, None).await;
}
app_test!(renewal_reminders_are_mailed_once_each, reminders_single);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_expiring_in_4_months_mails_once_with_two_servers() {
    if !mamis_testkit::backend_selected("postgres") {
        return;
    }
    let Some(t) = mamis_testkit::spawn_postgres().await else {
        return;
    };
    let second = t.second_server().await;
    reminders_once(&t, Some(&second)).await;
}

/// The demo's programme stories: one 実地 unit short of the new 産業医 certificate, a renewal due
/// in 3 months (one unit short: web-session units beyond 5 do not count), and a かかりつけ医
/// applicant with a valid CME certificate who can apply.
async fn demo_stories<S: Store>(t: TestApp<S>) {
    use mamis_store::AccessStore;
    t.clock.set(jst("2026-12-03T10:00:00"));
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let principal = |id: u128| {
        let app = t.app.clone();
        async move {
            let mut tx = app.store.read().await.unwrap();
            let acc = tx.account(Uuid::from_u128(id)).await.unwrap().unwrap();
            tx.rollback().await.unwrap();
            mamis_domain::Principal::Doctor {
                account_id: acc.id,
                doctor_id: acc.doctor_id,
            }
        }
    };
    let member = principal(0xD0_2000).await;
    let non_member = principal(0xD0_2001).await;
    let history = principal(0xD0_2003).await;
    let of = |v: Vec<progress::ProgrammeProgress>, p: CertifiedProgramme| {
        v.into_iter().find(|x| x.programme == p).unwrap()
    };
    // one 実地 unit short
    let s = of(progress::mine(&t.app, &history).await.unwrap(), SAN);
    let short: Vec<_> = s
        .assessment
        .lines
        .iter()
        .filter(|l| !l.met())
        .map(|l| (l.key.clone(), l.missing()))
        .collect();
    assert_eq!(
        short,
        vec![
            (LineKey::Total, 2),
            (LineKey::Category("kiso_jitchi".into()), 2)
        ]
    );
    // renewal due in 3 months, one unit short because only 5 of the 7 web units count
    let r = of(progress::mine(&t.app, &non_member).await.unwrap(), SAN);
    assert_eq!(r.standing, Standing::RenewalDue(day("2027-03-03")));
    assert_eq!(r.target, ApplicationKind::Renewal);
    let total = r
        .assessment
        .lines
        .iter()
        .find(|l| l.key == LineKey::Total)
        .unwrap();
    assert_eq!((total.have, total.need), (38, 40));
    // かかりつけ医: the member holds the CME certificate the demo decided, and may apply
    let k = of(
        progress::mine(&t.app, &member).await.unwrap(),
        CertifiedProgramme::Kakaritsuke,
    );
    assert!(k.assessment.met, "{:?}", k.assessment.lines);
    assert!(k.can_apply());
    let a = applications::apply(
        &t.app,
        &member,
        CertifiedProgramme::Kakaritsuke,
        ApplyInput::default(),
        None,
    )
    .await
    .unwrap();
    // members apply through their county, then the prefecture runs it
    assert_eq!(a.route.len(), 2);
    assert_eq!(a.route[0].level(), mamis_domain::AssociationLevel::County);
}
app_test!(demo_programme_stories, demo_stories);

/// The dated programme-history CSV: a bad line refuses the whole file with its line number and
/// column; a good file writes once, and a re-run changes nothing.
async fn history_import<S: Store>(t: TestApp<S>) {
    use mamis_app::programmes::history::import_history;
    setup(&t).await;
    let (d, _) = verified(&t, 1).await;
    let header = "医籍登録番号,制度,カテゴリ,日付,単位,ページ,押印\n";
    let bad = format!(
        "{header}100001,sangyoui,kiso_zenki,2024-10-01,14,3,東京都医師会\n\n100001,sangyoui,kiso_jitchi,2025-04-01,1,4,東京都医師会\n100001,sangyoui,kiso_nope,2024-10-01,1,4,印\n"
    );
    let r = import_history(&t.app, &job(), bad.as_bytes())
        .await
        .unwrap();
    assert!(!r.applied());
    let lines: Vec<(u64, Option<String>)> = r
        .problems
        .iter()
        .map(|p| (p.line, p.column.clone()))
        .collect();
    assert_eq!(
        lines,
        vec![(4, Some("日付".into())), (5, Some("カテゴリ".into()))]
    );
    assert!(entries(&t, d.id).await.is_empty(), "nothing written");
    let good = format!(
        "{header}100001,sangyoui,kiso_zenki,2024-10-01,14,3,東京都医師会\n100001,sangyoui,kiso_jitchi,2024/11/2,9.5,4,東京都医師会\n"
    );
    let r = import_history(&t.app, &job(), good.as_bytes())
        .await
        .unwrap();
    assert!(r.applied(), "{:?}", r.problems);
    assert_eq!((r.rows, r.written, r.unchanged), (2, 2, 0));
    let es = entries(&t, d.id).await;
    assert!(es.iter().all(|e| e.source == Source::PriorSystem));
    assert_eq!(
        es.iter().map(|e| e.half_units.get()).collect::<Vec<_>>(),
        vec![28, 19]
    );
    assert_eq!(es[0].note.as_deref(), Some("研修手帳 p.3 印 東京都医師会"));
    let r = import_history(&t.app, &job(), good.as_bytes())
        .await
        .unwrap();
    assert_eq!((r.written, r.unchanged), (0, 2));
    assert_eq!(entries(&t, d.id).await.len(), 2);
    // another prefecture's staff cannot import for this doctor: the line is refused
    let osaka = staff(Role::PrefectureStaff, "P27");
    let r = import_history(&t.app, &osaka, good.as_bytes())
        .await
        .unwrap();
    assert_eq!(r.total_problems, 2);
}
app_test!(
    programme_history_csv_is_all_or_nothing_and_idempotent,
    history_import
);
