//! Conformance cases of the membership store: the 0013 register model (classes per association,
//! one open membership per level), member IDs from a range, profiles, and procedures with their
//! queues, parties, history and evidence.

use chrono::{DateTime, NaiveDate, Utc};
use mamis_domain::procedure::{DueAction, EffectiveRule, ProcedureKind, ProcedureStatus};
use mamis_domain::*;
use uuid::Uuid;

use super::{sample_doctor, with_counties};
use crate::*;

fn t(s: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn code(s: &str) -> AssociationCode {
    AssociationCode::parse(s).unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn m(c: &str, class: &str, from: &str, to: Option<&str>) -> Membership {
    Membership {
        association: code(c),
        class: ClassCode::parse(class).unwrap(),
        joined_on: day(from),
        left_on: to.map(day),
    }
}

/// The JMA's five classes are seeded in order, counties configure their own, and memberships keep
/// a county's own class; a doctor holds one open membership per level and ends it once.
pub async fn membership_classes_per_association_and_one_open_per_level<S: Store>(s: S) {
    with_counties(&s).await;
    let mut tx = s.write().await.unwrap();
    let jma: Vec<String> = tx
        .association_classes(&AssociationCode::jma())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.code.to_string())
        .collect();
    assert_eq!(jma, ["A1", "A2B", "A2C", "B", "C"]);
    let chiyoda = code("P13-0001");
    for (pos, (c, ja)) in [("regular", "一般会員"), ("senior", "高齢会員")]
        .into_iter()
        .enumerate()
    {
        tx.upsert_association_class(&AssociationClass {
            association: chiyoda.clone(),
            code: ClassCode::parse(c).unwrap(),
            name_ja: ja.into(),
            name_en: c.into(),
            position: i32::try_from(2 - pos).unwrap(),
            retired: false,
        })
        .await
        .unwrap();
    }
    // renaming and retiring is an upsert of the same code
    tx.upsert_association_class(&AssociationClass {
        association: chiyoda.clone(),
        code: ClassCode::parse("senior").unwrap(),
        name_ja: "シニア会員".into(),
        name_en: "senior".into(),
        position: 1,
        retired: true,
    })
    .await
    .unwrap();
    let classes = tx.association_classes(&chiyoda).await.unwrap();
    assert_eq!(
        classes
            .iter()
            .map(|c| (c.code.as_str(), c.name_ja.as_str(), c.retired))
            .collect::<Vec<_>>(),
        [
            ("senior", "シニア会員", true),
            ("regular", "一般会員", false)
        ]
    );
    assert!(
        tx.association_classes(&code("P27-0001"))
            .await
            .unwrap()
            .is_empty()
    );

    let d = sample_doctor(1);
    tx.insert_doctor(&d).await.unwrap();
    tx.insert_memberships(&[
        (d.id, m("P13-0001", "regular", "2020-04-01", None)),
        (d.id, m("P13", "regular", "2020-04-01", None)),
        (d.id, m("JMA", "B", "2020-04-01", None)),
    ])
    .await
    .unwrap();
    let got = tx.memberships_of(d.id).await.unwrap();
    assert_eq!(
        got.iter()
            .find(|x| x.association == chiyoda)
            .map(|x| x.class.as_str()),
        Some("regular")
    );
    assert_eq!(
        got.iter()
            .find(|x| x.association.level() == AssociationLevel::Jma)
            .and_then(|x| x.class.jma_class()),
        Some(MemberClass::B)
    );
    // a second open county membership is refused by the schema
    let err = tx
        .insert_membership(d.id, &m("P13-0002", "regular", "2024-04-01", None))
        .await
        .unwrap_err();
    assert!(err.is_conflict_on("memberships_open_key"), "{err:?}");
    tx.rollback().await.unwrap();

    let mut tx = s.write().await.unwrap();
    tx.insert_doctor(&d).await.unwrap();
    tx.insert_membership(d.id, &m("P13-0001", "regular", "2020-04-01", None))
        .await
        .unwrap();
    // a membership that ends on or before its start is refused
    assert!(
        tx.insert_membership(
            d.id,
            &m("P13-0002", "regular", "2024-04-01", Some("2024-04-01"))
        )
        .await
        .is_err()
    );
    tx.rollback().await.unwrap();

    let mut tx = s.write().await.unwrap();
    tx.insert_doctor(&d).await.unwrap();
    tx.insert_membership(d.id, &m("P13-0001", "regular", "2020-04-01", None))
        .await
        .unwrap();
    // ending frees the level: the transfer's new county starts the day the old one ends
    assert!(
        tx.end_membership(d.id, &chiyoda, day("2020-04-01"), day("2026-07-01"))
            .await
            .unwrap()
    );
    assert!(
        !tx.end_membership(d.id, &chiyoda, day("2020-04-01"), day("2026-08-01"))
            .await
            .unwrap(),
        "a later end does not move an earlier one"
    );
    assert!(
        tx.end_membership(d.id, &chiyoda, day("2020-04-01"), day("2026-06-01"))
            .await
            .unwrap(),
        "an earlier end does (a withdrawal brought forward)"
    );
    assert!(
        !tx.end_membership(d.id, &chiyoda, day("2019-04-01"), day("2026-06-01"))
            .await
            .unwrap(),
        "no such membership"
    );
    tx.insert_membership(d.id, &m("P13-0002", "regular", "2026-06-01", None))
        .await
        .unwrap();
    let got = tx.memberships_of(d.id).await.unwrap();
    assert_eq!(got[0].left_on, Some(day("2026-06-01")));
    assert_eq!(got[1].association, code("P13-0002"));
    tx.commit().await.unwrap();
}

/// Member IDs come from the configured range in order, skip nothing used, are given once, and
/// run out at the range's end.
pub async fn member_ids_come_from_the_configured_range<S: Store>(s: S) {
    let mut tx = s.write().await.unwrap();
    let (first, last) = (
        MemberId::parse("1300000001").unwrap(),
        MemberId::parse("1300000003").unwrap(),
    );
    let mut ds: Vec<_> = (1..=5).map(sample_doctor).collect();
    // an imported member outside the range does not count
    ds[4].member_id = Some(MemberId::parse("2700000009").unwrap());
    tx.insert_doctors(&ds).await.unwrap();
    let mut given = Vec::new();
    for d in &ds[..3] {
        let next = tx.next_member_id(&first, &last).await.unwrap().unwrap();
        assert!(tx.set_member_id(d.id, &next).await.unwrap());
        given.push(next.to_string());
    }
    assert_eq!(given, ["1300000001", "1300000002", "1300000003"]);
    assert_eq!(tx.next_member_id(&first, &last).await.unwrap(), None);
    // a doctor who has an ID keeps it
    assert!(
        !tx.set_member_id(ds[0].id, &MemberId::parse("1300000099").unwrap())
            .await
            .unwrap()
    );
    assert_eq!(
        tx.doctor(ds[0].id).await.unwrap().unwrap().member_id,
        Some(first.clone())
    );
    tx.commit().await.unwrap();
    // the same ID twice is a conflict
    let mut tx = s.write().await.unwrap();
    let err = tx.set_member_id(ds[3].id, &first).await.unwrap_err();
    assert!(err.is_conflict_on("doctors_member_id_key"), "{err:?}");
    tx.rollback().await.unwrap();
    let mut tx = s.read().await.unwrap();
    assert_eq!(
        tx.next_member_id(
            &MemberId::parse("2700000000").unwrap(),
            &MemberId::parse("2799999999").unwrap()
        )
        .await
        .unwrap(),
        Some(MemberId::parse("2700000010").unwrap())
    );
    tx.rollback().await.unwrap();
}

/// Profiles are written whole and read back; a name change rewrites the names only; effective
/// rules are configured per association.
pub async fn profiles_names_and_rules_round_trip<S: Store>(s: S) {
    with_counties(&s).await;
    let mut tx = s.write().await.unwrap();
    let d = sample_doctor(1);
    tx.insert_doctor(&d).await.unwrap();
    assert_eq!(tx.doctor_profile(d.id).await.unwrap(), None);
    let mut p = DoctorProfile {
        doctor_id: d.id,
        workplace_name: Some("千代田病院".into()),
        workplace_address: Some("東京都千代田区1-1".into()),
        workplace_municipality: Some("千代田区".into()),
        home_address: None,
        phone: Some("03-0000-0000".into()),
        graduation_year: Some(2024),
        resident: true,
        updated_at: t("2026-05-01T01:02:03.456789Z"),
    };
    tx.upsert_doctor_profile(&p).await.unwrap();
    assert_eq!(tx.doctor_profile(d.id).await.unwrap().as_ref(), Some(&p));
    p.resident = false;
    p.workplace_name = None;
    p.home_address = Some("東京都港区2-2".into());
    p.updated_at = t("2026-06-01T00:00:00Z");
    tx.upsert_doctor_profile(&p).await.unwrap();
    assert_eq!(tx.doctor_profile(d.id).await.unwrap().as_ref(), Some(&p));

    let names = DoctorNames {
        family_name: "佐藤".into(),
        given_name: "花子".into(),
        family_kana: KanaName::normalise("サトウ").unwrap(),
        given_kana: KanaName::normalise("ハナコ").unwrap(),
    };
    assert!(tx.rename_doctor(d.id, &names).await.unwrap());
    assert!(!tx.rename_doctor(Uuid::from_u128(9), &names).await.unwrap());
    let got = tx.doctor(d.id).await.unwrap().unwrap();
    assert_eq!(
        (got.family_name.as_str(), got.given_kana.as_str()),
        ("佐藤", "ハナコ")
    );
    assert_eq!(got.iseki, d.iseki, "the register number never changes");

    let (tokyo, chiyoda, osaka) = (code("P13"), code("P13-0001"), code("P27-0001"));
    tx.set_effective_rule(&chiyoda, EffectiveRule::NextDay)
        .await
        .unwrap();
    tx.set_effective_rule(&tokyo, EffectiveRule::NextDay)
        .await
        .unwrap();
    tx.set_effective_rule(&tokyo, EffectiveRule::FirstOfNextFiscalYear)
        .await
        .unwrap();
    assert_eq!(
        tx.effective_rules(&[osaka, chiyoda.clone(), tokyo.clone()])
            .await
            .unwrap(),
        [
            (tokyo, EffectiveRule::FirstOfNextFiscalYear),
            (chiyoda, EffectiveRule::NextDay)
        ]
    );
    assert!(tx.effective_rules(&[]).await.unwrap().is_empty());
    tx.commit().await.unwrap();
}

pub(super) fn procedure(
    id: u128,
    doctor: Uuid,
    by: Uuid,
    filed: &str,
    due: &[(&str, DueAction, &str)],
) -> ProcedureRow {
    ProcedureRow {
        id: Uuid::from_u128(id),
        doctor_id: Some(doctor),
        applicant: None,
        kind: ProcedureKind::Join,
        status: ProcedureStatus::Open,
        state: format!("{{\"n\":{id}}}"),
        filed_by: by,
        filed_at: t(filed),
        updated_at: t(filed),
        effective_on: None,
        due: due
            .iter()
            .map(|(a, action, since)| ProcedureDue {
                association: code(a),
                action: *action,
                since: t(since),
            })
            .collect(),
        parties: {
            let mut ps: Vec<_> = due.iter().map(|(a, _, _)| code(a)).collect();
            ps.sort();
            ps
        },
    }
}

/// Queues list the open procedures due at the given associations, oldest wait first; parties
/// decide who else may see a doctor; one open membership procedure per doctor; history is
/// append-only in order; evidence is listed per procedure.
pub async fn procedures_queue_oldest_first_with_parties_and_history<S: Store>(s: S) {
    with_counties(&s).await;
    let mut tx = s.write().await.unwrap();
    let staff = Account::new(
        Uuid::from_u128(0xA1),
        "staff@example.jp",
        "事務局",
        AccountKind::Staff,
        t("2026-04-01T00:00:00Z"),
    );
    tx.insert_account(&staff).await.unwrap();
    let ds: Vec<_> = (1..=3).map(sample_doctor).collect();
    tx.insert_doctors(&ds).await.unwrap();
    let a = procedure(
        1,
        ds[0].id,
        staff.id,
        "2026-05-02T00:00:00Z",
        &[("P13-0001", DueAction::Approve, "2026-05-02T00:00:00Z")],
    );
    let b = procedure(
        2,
        ds[1].id,
        staff.id,
        "2026-05-01T00:00:00Z",
        &[("P13-0001", DueAction::Approve, "2026-05-01T00:00:00Z")],
    );
    // a transfer into Osaka: Osaka approves, Chiyoda acknowledges
    let mut c = procedure(
        3,
        ds[2].id,
        staff.id,
        "2026-04-20T00:00:00Z",
        &[
            ("P27-0001", DueAction::Approve, "2026-04-20T00:00:00Z"),
            ("P13-0002", DueAction::Acknowledge, "2026-04-21T00:00:00Z"),
        ],
    );
    c.kind = ProcedureKind::Transfer;
    for p in [&a, &b, &c] {
        tx.insert_procedure(p).await.unwrap();
    }
    let ids = |v: Vec<ProcedureRow>| v.into_iter().map(|p| p.id.as_u128()).collect::<Vec<_>>();
    assert_eq!(
        ids(tx.procedure_queue(&[code("P13-0001")], 10).await.unwrap()),
        [2, 1]
    );
    assert_eq!(
        ids(tx
            .procedure_queue(&[code("P13-0001"), code("P27-0001")], 2)
            .await
            .unwrap()),
        [3, 2]
    );
    assert!(
        tx.procedure_queue(&[code("P13")], 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(tx.procedure_queue(&[], 10).await.unwrap().is_empty());
    let got = tx.procedure(Uuid::from_u128(3)).await.unwrap().unwrap();
    assert_eq!(got, c, "due actions and parties come back as written");
    assert_eq!(
        ids(tx
            .lapsed_acknowledgements(t("2026-04-21T00:00:00Z"), 10)
            .await
            .unwrap()),
        [3]
    );
    assert!(
        tx.lapsed_acknowledgements(t("2026-04-20T23:59:59Z"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        tx.doctor_has_party(ds[2].id, &[code("P27-0001")])
            .await
            .unwrap()
    );
    assert!(
        !tx.doctor_has_party(ds[0].id, &[code("P27-0001")])
            .await
            .unwrap()
    );

    tx.commit().await.unwrap();
    // a second open membership procedure for the same doctor is refused
    let mut tx = s.write().await.unwrap();
    let dup = procedure(4, ds[0].id, staff.id, "2026-05-03T00:00:00Z", &[]);
    let err = tx.insert_procedure(&dup).await.unwrap_err();
    assert!(
        err.is_conflict_on("membership_procedures_open_key"),
        "{err:?}"
    );
    tx.rollback().await.unwrap();

    let mut tx = s.write().await.unwrap();
    // a name change may run beside it
    let mut name = procedure(5, ds[0].id, staff.id, "2026-05-03T00:00:00Z", &[]);
    name.kind = ProcedureKind::NameChange;
    tx.insert_procedure(&name).await.unwrap();
    // approving moves the item to the prefecture's queue; closing removes it from all queues
    let mut moved = a.clone();
    moved.due = vec![ProcedureDue {
        association: code("P13"),
        action: DueAction::Approve,
        since: t("2026-05-05T00:00:00Z"),
    }];
    moved.parties.insert(0, code("P13"));
    moved.updated_at = t("2026-05-05T00:00:00Z");
    assert!(tx.update_procedure(&moved).await.unwrap());
    assert_eq!(
        ids(tx.procedure_queue(&[code("P13")], 10).await.unwrap()),
        [1]
    );
    assert_eq!(
        ids(tx.procedure_queue(&[code("P13-0001")], 10).await.unwrap()),
        [2]
    );
    let mut done = moved.clone();
    done.status = ProcedureStatus::Completed;
    done.due.clear();
    done.effective_on = Some(day("2026-06-01"));
    assert!(tx.update_procedure(&done).await.unwrap());
    assert!(
        tx.procedure_queue(&[code("P13")], 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        tx.procedure(Uuid::from_u128(1)).await.unwrap(),
        Some(done.clone())
    );
    let mut ghost = done.clone();
    ghost.id = Uuid::from_u128(99);
    assert!(!tx.update_procedure(&ghost).await.unwrap());
    // with the first closed, the doctor may file again
    tx.insert_procedure(&dup).await.unwrap();
    assert_eq!(
        ids(tx.procedures_of_doctor(ds[0].id).await.unwrap()),
        [4, 5, 1]
    );

    for (seq, actor) in [(1, Some(staff.id)), (2, None)] {
        tx.append_procedure_event(&ProcedureEvent {
            procedure_id: a.id,
            seq,
            at: t("2026-05-05T00:00:00.000001Z"),
            actor,
            event: format!("{{\"seq\":{seq}}}"),
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = s.write().await.unwrap();
    let again = tx
        .append_procedure_event(&ProcedureEvent {
            procedure_id: a.id,
            seq: 2,
            at: t("2026-05-06T00:00:00Z"),
            actor: None,
            event: "{}".into(),
        })
        .await
        .unwrap_err();
    assert!(again.is_conflict_on("procedure_events_pkey"), "{again:?}");
    tx.rollback().await.unwrap();

    let mut tx = s.write().await.unwrap();
    let evs = tx.procedure_events(a.id).await.unwrap();
    assert_eq!(evs.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(evs[0].actor, Some(staff.id));
    assert_eq!(evs[1].at, t("2026-05-05T00:00:00.000001Z"));
    let ev = Evidence {
        id: Uuid::from_u128(0xE1),
        procedure_id: a.id,
        file_name: "免許証.pdf".into(),
        content_type: "application/pdf".into(),
        size: 1234,
        sha256: "ab".repeat(32),
        storage_key: "00/e1".into(),
        uploaded_by: staff.id,
        uploaded_at: t("2026-05-02T00:00:00Z"),
    };
    tx.insert_evidence(&ev).await.unwrap();
    assert_eq!(tx.evidence_of(a.id).await.unwrap(), [ev]);
    assert!(tx.evidence_of(b.id).await.unwrap().is_empty());
    tx.commit().await.unwrap();
}

/// Counties list the municipalities they cover (replaced whole; a county without any appears
/// once); the navigation counts open procedures waiting per association; reminders come due
/// after the first wait, again after the repeat interval, and a reminder survives the procedure
/// moving while the same action keeps waiting.
pub async fn municipalities_counts_and_reminders<S: Store>(s: S) {
    with_counties(&s).await;
    let mut tx = s.write().await.unwrap();
    tx.set_county_municipalities(&code("P13-0001"), &["千代田区".into(), "神田".into()])
        .await
        .unwrap();
    tx.set_county_municipalities(&code("P13-0002"), &["中央区".into()])
        .await
        .unwrap();
    tx.set_county_municipalities(&code("P13-0002"), &["中央区".into(), "月島".into()])
        .await
        .unwrap();
    let tokyo = tx.county_municipalities(&code("P13")).await.unwrap();
    assert_eq!(
        tokyo
            .iter()
            .map(|(c, m)| (c.as_str(), m.as_str()))
            .collect::<Vec<_>>(),
        [
            ("P13-0001", "千代田区"),
            ("P13-0001", "神田"),
            ("P13-0002", "中央区"),
            ("P13-0002", "月島"),
        ]
    );
    let osaka = tx.county_municipalities(&code("P27")).await.unwrap();
    assert_eq!(osaka, [(code("P27-0001"), String::new())]);

    let staff = Account::new(
        Uuid::from_u128(0xA2),
        "staff2@example.jp",
        "事務局",
        AccountKind::Staff,
        t("2026-04-01T00:00:00Z"),
    );
    tx.insert_account(&staff).await.unwrap();
    let ds: Vec<_> = (11..=12).map(sample_doctor).collect();
    tx.insert_doctors(&ds).await.unwrap();
    let a = procedure(
        11,
        ds[0].id,
        staff.id,
        "2026-05-01T00:00:00Z",
        &[("P13-0001", DueAction::Approve, "2026-05-01T00:00:00Z")],
    );
    let b = procedure(
        12,
        ds[1].id,
        staff.id,
        "2026-05-05T00:00:00Z",
        &[
            ("P13-0001", DueAction::Approve, "2026-05-05T00:00:00Z"),
            ("P27-0001", DueAction::Approve, "2026-05-05T00:00:00Z"),
        ],
    );
    tx.insert_procedure(&a).await.unwrap();
    tx.insert_procedure(&b).await.unwrap();
    assert_eq!(
        tx.procedure_due_count(&[code("P13-0001")]).await.unwrap(),
        2
    );
    assert_eq!(
        tx.procedure_due_count(&[code("P13-0001"), code("P27-0001")])
            .await
            .unwrap(),
        2,
        "a procedure waiting at two of one's associations counts once"
    );
    assert_eq!(
        tx.procedure_due_count(&[code("P13-0002")]).await.unwrap(),
        0
    );
    assert_eq!(tx.procedure_due_count(&[]).await.unwrap(), 0);

    let due = |v: Vec<(Uuid, AssociationCode, Timestamp)>| {
        v.into_iter()
            .map(|(p, a, _)| (p.as_u128(), a.to_string()))
            .collect::<Vec<_>>()
    };
    // waited since 05-01 only: the first reminder of a
    let first = t("2026-05-04T00:00:00Z");
    assert_eq!(
        due(tx.reminders_due(first, first, 10).await.unwrap()),
        [(11, "P13-0001".to_owned())]
    );
    tx.mark_reminded(
        Uuid::from_u128(11),
        &code("P13-0001"),
        t("2026-05-04T00:00:00Z"),
    )
    .await
    .unwrap();
    // the procedure moves (b's Osaka step done) while a keeps waiting: a's reminder stays noted
    let mut a2 = tx.procedure(Uuid::from_u128(11)).await.unwrap().unwrap();
    a2.updated_at = t("2026-05-06T00:00:00Z");
    assert!(tx.update_procedure(&a2).await.unwrap());
    let week_later = t("2026-05-10T00:00:00Z");
    assert_eq!(
        due(tx
            .reminders_due(week_later, t("2026-05-03T00:00:00Z"), 10)
            .await
            .unwrap()),
        [(12, "P13-0001".to_owned()), (12, "P27-0001".to_owned())],
        "a was reminded on 05-04, after the repeat cut-off"
    );
    assert_eq!(
        due(tx
            .reminders_due(week_later, t("2026-05-04T00:00:00Z"), 1)
            .await
            .unwrap()),
        [(11, "P13-0001".to_owned())],
        "oldest first, and a is due again once its reminder is older than the cut-off"
    );
    tx.commit().await.unwrap();
}
