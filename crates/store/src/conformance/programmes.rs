//! Conformance cases of the certified-doctor programmes' tables.

use super::*;
use crate::programmes::*;
use mamis_domain::programmes::{CertifiedProgramme, ProgrammeEntry};

fn p_entry(doctor: Uuid, key: &str, category: &str, date: &str) -> ProgrammeEntry {
    ProgrammeEntry {
        id: Uuid::new_v4(),
        doctor,
        programme: CertifiedProgramme::Sangyoui,
        category: category.into(),
        date: day(date),
        half_units: HalfUnits::new(3),
        web_session: true,
        lecture: Some("L1".into()),
        source: Source::Training,
        origin_key: key.into(),
        generation: 0,
        reverses: None,
        rules_version: "2026.1".into(),
        created_by: "job:test".into(),
        created_at: t("2026-05-01T01:02:03.000004Z"),
        note: Some("第1回 産業医研修会".into()),
    }
}

async fn p_doctors<S: Store>(s: &S, ns: &[u32]) -> Vec<Uuid> {
    let ds: Vec<_> = ns.iter().map(|n| sample_doctor(*n)).collect();
    let mut tx = s.write().await.unwrap();
    tx.insert_doctors(&ds).await.unwrap();
    tx.commit().await.unwrap();
    ds.iter().map(|d| d.id).collect()
}

fn conflict_name<T: std::fmt::Debug>(r: StoreResult<T>) -> String {
    match r {
        Err(StoreError::Conflict { constraint }) => constraint,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// Programme entries read back field for field in (programme, date) order; an origin key and
/// generation is stored once (the whole call refused), a reversal once, and lookups by origin
/// see which entries are reversed.
pub async fn programme_entries_are_credited_once_per_origin<S: Store>(s: S) {
    let d = p_doctors(&s, &[1]).await[0];
    let a = p_entry(d, "training:a", "kiso_jitchi", "2026-05-02");
    let mut b = p_entry(d, "training:b", "kiso_zenki", "2026-05-01");
    b.web_session = false;
    b.lecture = None;
    b.note = None;
    let mut tx = s.write().await.unwrap();
    tx.insert_programme_entries(&[a.clone(), b.clone()])
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut again = p_entry(d, "training:a", "kiso_jitchi", "2026-05-02");
    again.id = Uuid::new_v4();
    let fresh = p_entry(d, "training:c", "kiso_kouki", "2026-05-03");
    let mut tx = s.write().await.unwrap();
    let e = tx.insert_programme_entries(&[fresh.clone(), again]).await;
    assert_eq!(conflict_name(e), "programme_entries_origin_key");
    tx.rollback().await.unwrap();

    let rev = a.reversal(
        Uuid::new_v4(),
        "account:x".into(),
        t("2026-06-01T00:00:00Z"),
    );
    let rev2 = a.reversal(
        Uuid::new_v4(),
        "account:x".into(),
        t("2026-06-01T00:00:00Z"),
    );
    let mut tx = s.write().await.unwrap();
    tx.insert_programme_entries(std::slice::from_ref(&rev))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = s.write().await.unwrap();
    let mut rev2 = rev2;
    rev2.origin_key = "reverse:again".into();
    let e = tx.insert_programme_entries(&[rev2]).await;
    assert_eq!(conflict_name(e), "programme_entries_reverses_key");
    tx.rollback().await.unwrap();

    let mut tx = s.read().await.unwrap();
    let all = tx.programme_entries_of(d).await.unwrap();
    assert_eq!(all, vec![b.clone(), a.clone(), rev.clone()]);
    let by = tx
        .programme_entries_by_origin(
            CertifiedProgramme::Sangyoui,
            &[
                "training:a".into(),
                "training:b".into(),
                "training:c".into(),
            ],
        )
        .await
        .unwrap();
    assert_eq!(by.len(), 2);
    assert_eq!((by[0].entry.id, by[0].reversed), (a.id, true));
    assert_eq!((by[1].entry.id, by[1].reversed), (b.id, false));
    // the same key in another programme is another credit
    let none = tx
        .programme_entries_by_origin(CertifiedProgramme::SportsDoctor, &["training:a".into()])
        .await
        .unwrap();
    assert!(none.is_empty());
}

/// A session's programme parts are replaced as a whole; designated lectures are upserted.
pub async fn item_programmes_and_lectures_round_trip<S: Store>(s: S) {
    let own = Organiser::Association(code("P13"));
    let session = training_session(7, own, "2026-06-01T01:00:00Z");
    let item = Uuid::new_v4();
    let parts = vec![
        ItemProgramme {
            session: session.id,
            item,
            programme: CertifiedProgramme::Kakaritsuke,
            category: "ouyou".into(),
            web_session: false,
            lecture: Some("K-01".into()),
        },
        ItemProgramme {
            session: session.id,
            item,
            programme: CertifiedProgramme::Sangyoui,
            category: "koushin".into(),
            web_session: true,
            lecture: None,
        },
    ];
    let mut tx = s.write().await.unwrap();
    tx.insert_training_session(&session).await.unwrap();
    tx.replace_item_programmes(session.id, &parts)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = s.write().await.unwrap();
    let mut got = tx.item_programmes(session.id).await.unwrap();
    got.sort_by_key(|p| p.programme);
    let mut want = parts.clone();
    want.sort_by_key(|p| p.programme);
    assert_eq!(got, want);
    tx.replace_item_programmes(session.id, &parts[1..])
        .await
        .unwrap();
    assert_eq!(tx.item_programmes(session.id).await.unwrap(), parts[1..]);
    let mut l = DesignatedLecture {
        key: "K-01".into(),
        title: "かかりつけ医の倫理".into(),
        group: Some(1),
        retired: false,
        updated_at: t("2026-04-01T00:00:00Z"),
    };
    tx.put_designated_lecture(&l).await.unwrap();
    l.retired = true;
    l.group = None;
    tx.put_designated_lecture(&l).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = s.read().await.unwrap();
    assert_eq!(tx.designated_lectures().await.unwrap(), vec![l]);
}

fn application(doctor: Uuid, route: &[&str], at: &str) -> ApplicationRecord {
    ApplicationRecord {
        id: Uuid::new_v4(),
        doctor,
        programme: CertifiedProgramme::Sangyoui,
        kind: ApplicationKind::New,
        status: ApplicationStatus::Open,
        route: route.iter().map(|c| code(c)).collect(),
        step: 0,
        renews: None,
        evidence: Some("研修手帳 p.3".into()),
        declared_activity: false,
        practical_approved: true,
        fee: None,
        return_reason: None,
        certificate: None,
        created_at: t(at),
        updated_at: t(at),
    }
}

/// One open application per doctor and programme; moves only from the state last seen; queues
/// by the acting association's subtree; certificates by number, expiry window and roster.
pub async fn programme_applications_and_certificates<S: Store>(s: S) {
    with_counties(&s).await;
    let ds = p_doctors(&s, &[1, 2, 3]).await;
    let a = application(ds[0], &["P13", "JMA"], "2026-06-01T00:00:00Z");
    let b = application(ds[1], &["P13-0001", "P13"], "2026-06-02T00:00:00Z");
    let mut tx = s.write().await.unwrap();
    tx.insert_application(&a).await.unwrap();
    tx.insert_application(&b).await.unwrap();
    let dup = application(ds[0], &["P13", "JMA"], "2026-06-03T00:00:00Z");
    let e = tx.insert_application(&dup).await;
    assert_eq!(conflict_name(e), "programme_applications_open_key");
    tx.rollback().await.unwrap();
    let mut tx = s.write().await.unwrap();
    tx.insert_application(&a).await.unwrap();
    tx.insert_application(&b).await.unwrap();
    tx.insert_memberships(&[(ds[0], membership("P13-0001", "2020-04-01", None))])
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.write().await.unwrap();
    let ids = |v: Vec<ApplicationRecord>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        ids(tx.applications_acting_in(&code("P13")).await.unwrap()),
        vec![a.id, b.id]
    );
    assert_eq!(
        ids(tx.applications_acting_in(&code("P13-0001")).await.unwrap()),
        vec![b.id]
    );
    assert!(
        tx.applications_acting_in(&code("P27"))
            .await
            .unwrap()
            .is_empty()
    );
    // a moves to the JMA; a second reviewer who saw the old state cannot move it again
    let mut moved = a.clone();
    moved.step = 1;
    moved.fee = Some(Fee::Waived);
    moved.updated_at = t("2026-06-05T00:00:00Z");
    assert!(tx.update_application(&moved, a.updated_at).await.unwrap());
    assert!(!tx.update_application(&moved, a.updated_at).await.unwrap());
    assert_eq!(tx.application(a.id).await.unwrap(), Some(moved.clone()));
    assert_eq!(
        ids(tx.applications_acting_in(&code("JMA")).await.unwrap()),
        vec![a.id, b.id]
    );
    assert_eq!(
        ids(tx.applications_acting_in(&code("P13")).await.unwrap()),
        vec![b.id]
    );

    let cert = ProgrammeCertificate {
        id: Uuid::new_v4(),
        number: "SAN-2026-000001".into(),
        doctor: ds[0],
        programme: CertifiedProgramme::Sangyoui,
        valid_from: day("2026-06-05"),
        valid_until: day("2031-06-04"),
        issued_on: day("2026-06-05"),
        application: Some(a.id),
        verification_code: "ABCD-EFGH".into(),
        created_at: t("2026-06-05T00:00:00Z"),
        revoked_at: None,
    };
    tx.insert_programme_certificate(&cert).await.unwrap();
    let mut other = cert.clone();
    other.id = Uuid::new_v4();
    other.doctor = ds[2];
    other.valid_until = day("2026-10-04");
    other.application = None;
    let e = tx.insert_programme_certificate(&other).await;
    assert_eq!(conflict_name(e), "programme_certificates_number_key");
    tx.rollback().await.unwrap();

    let mut tx = s.write().await.unwrap();
    tx.insert_programme_certificate(&cert).await.unwrap();
    other.number = "SAN-2026-000002".into();
    tx.insert_programme_certificate(&other).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = s.read().await.unwrap();
    assert_eq!(
        tx.programme_certificate_by_number("SAN-2026-000001")
            .await
            .unwrap(),
        Some(cert.clone())
    );
    assert_eq!(
        tx.programme_certificates_of(ds[0]).await.unwrap(),
        vec![cert.clone()]
    );
    let soon = tx
        .programme_certificates_expiring(day("2026-10-04"), day("2026-10-31"))
        .await
        .unwrap();
    assert_eq!(soon, vec![other.clone()]);
    assert!(
        tx.programme_certificates_expiring(day("2026-10-05"), day("2031-06-03"))
            .await
            .unwrap()
            .is_empty()
    );
    let roster = tx
        .programme_roster(CertifiedProgramme::Sangyoui, &code("P13"))
        .await
        .unwrap();
    assert_eq!(roster.len(), 1, "only the member of a P13 county");
    assert_eq!(roster[0].certificate.number, "SAN-2026-000001");
    assert_eq!(roster[0].name, "山田 太郎1");
    let all = tx
        .programme_roster(CertifiedProgramme::Sangyoui, &code("JMA"))
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].certificate.number, "SAN-2026-000002");
}

/// An application's evidence files come back whole, oldest first, and only for it; a file of an
/// application that does not exist is refused by the database.
pub async fn application_files_round_trip<S: Store>(s: S) {
    with_counties(&s).await;
    let ds = p_doctors(&s, &[1, 2]).await;
    let a = application(ds[0], &["P13", "JMA"], "2026-06-01T00:00:00Z");
    let b = application(ds[1], &["P13", "JMA"], "2026-06-01T00:00:00Z");
    let doctor = Account::new(
        Uuid::from_u128(0xA9),
        "doctor@example.jp",
        "医師",
        AccountKind::Doctor,
        t("2026-04-01T00:00:00Z"),
    );
    let file = |n: u128, at: &str| Evidence {
        id: Uuid::from_u128(n),
        procedure_id: a.id,
        file_name: format!("研修手帳-{n}.pdf"),
        content_type: "application/pdf".into(),
        size: 2048,
        sha256: "cd".repeat(32),
        storage_key: format!("{}/{n}", a.id),
        uploaded_by: doctor.id,
        uploaded_at: t(at),
    };
    let later = file(0xF2, "2026-06-01T00:00:02Z");
    let first = file(0xF1, "2026-06-01T00:00:01Z");
    let mut tx = s.write().await.unwrap();
    tx.insert_account(&doctor).await.unwrap();
    tx.insert_application(&a).await.unwrap();
    tx.insert_application(&b).await.unwrap();
    tx.insert_application_file(&later).await.unwrap();
    tx.insert_application_file(&first).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.write().await.unwrap();
    assert_eq!(tx.application_files(a.id).await.unwrap(), [first, later]);
    assert!(tx.application_files(b.id).await.unwrap().is_empty());
    let mut orphan = file(0xF3, "2026-06-01T00:00:03Z");
    orphan.procedure_id = Uuid::from_u128(0xDEAD);
    assert!(tx.insert_application_file(&orphan).await.is_err());
    tx.rollback().await.unwrap();
}
