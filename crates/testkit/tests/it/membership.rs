//! Membership procedures through the app layer on both backends: a join through county,
//! prefecture and JMA (member ID from the range), a routed join returned and answered, a
//! transfer Tokyo → Osaka whose sending side lapses, and the scope rule — county B's staff get
//! not-found for county A's members and procedures, except an incoming transfer or a routed join.

use chrono::{Duration, NaiveDate};
use mamis_app::AppError;
use mamis_app::membership::{self, DoctorAct, NewEvidence, StaffAct};
use mamis_domain::procedure::{JoinClasses, ProcedureStatus, Request};
use mamis_domain::{
    Association, AssociationCode, AssociationLevel, ClassCode, IsekiNumber, KanaName, MemberClass,
    MemberId, Membership, Principal, Role, RoleGrant, Scope, Sex,
};
use mamis_store::{
    AccessStore, Account, AccountKind, AuditStore, Doctor, JobStatus, JobStore, MembershipStore,
    OutboxStore, RegistryStore, Store, Tx, Verification,
};
use mamis_testkit::{TestApp, app_test};
use uuid::Uuid;

pub(crate) fn code(s: &str) -> AssociationCode {
    AssociationCode::parse(s).unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

pub(crate) fn class(s: &str) -> ClassCode {
    ClassCode::parse(s).unwrap()
}

/// Staff of one association, with a mailbox on file.
pub(crate) async fn staff<S: Store>(t: &TestApp<S>, node: &str) -> Principal {
    let role = match code(node).level() {
        AssociationLevel::Jma => Role::JmaStaff,
        AssociationLevel::Prefecture => Role::PrefectureStaff,
        AssociationLevel::County => Role::CountyStaff,
    };
    let grant = RoleGrant::new(role, Scope::Association(code(node))).unwrap();
    let acc = Account::new(
        Uuid::now_v7(),
        &format!("staff-{}@example.jp", node.to_lowercase()),
        node,
        AccountKind::Staff,
        t.app.now(),
    );
    let mut tx = t.app.store.write().await.unwrap();
    tx.insert_account(&acc).await.unwrap();
    tx.insert_role_grant(acc.id, &grant, t.app.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    Principal::Staff {
        account_id: acc.id,
        grants: vec![grant],
    }
}

/// A doctor with a My Page account and the given memberships.
pub(crate) async fn doctor<S: Store>(
    t: &TestApp<S>,
    n: u32,
    ms: &[(&str, &str)],
    member_id: Option<&str>,
) -> (Uuid, Principal) {
    let id = Uuid::from_u128(0x1800 + u128::from(n));
    let acc = Account::new(
        Uuid::now_v7(),
        &format!("doctor{n}@example.jp"),
        "医師",
        AccountKind::Doctor,
        t.app.now(),
    );
    let mut tx = t.app.store.write().await.unwrap();
    tx.insert_doctor(&Doctor {
        id,
        iseki: IsekiNumber::parse(&(180_000 + n).to_string()).unwrap(),
        family_name: "手続".into(),
        given_name: format!("花子{n}"),
        family_kana: KanaName::normalise("テツヅキ").unwrap(),
        given_kana: KanaName::normalise("ハナコ").unwrap(),
        birth_date: day("1998-04-02"),
        sex: Sex::Female,
        contact_email: Some(format!("doctor{n}@example.jp")),
        member_id: member_id.map(|m| MemberId::parse(m).unwrap()),
        home_prefecture: None,
        created_at: t.app.now(),
    })
    .await
    .unwrap();
    for (c, k) in ms {
        tx.insert_membership(
            id,
            &Membership {
                association: code(c),
                class: class(k),
                joined_on: day("2020-04-01"),
                left_on: None,
            },
        )
        .await
        .unwrap();
    }
    let mut acc = acc;
    acc.doctor_id = Some(id);
    acc.verification = Verification::Verified;
    tx.insert_account(&acc).await.unwrap();
    tx.commit().await.unwrap();
    (
        id,
        Principal::Doctor {
            account_id: acc.id,
            doctor_id: Some(id),
        },
    )
}

pub(crate) async fn seed<S: Store>(t: &TestApp<S>) {
    let mut tx = t.app.store.write().await.unwrap();
    for (c, ja) in [
        ("P13-0001", "千代田区医師会"),
        ("P13-0002", "中央区医師会"),
        ("P27-0001", "大阪市医師会"),
    ] {
        tx.upsert_association(&Association {
            code: code(c),
            name_ja: ja.into(),
            name_en: c.into(),
        })
        .await
        .unwrap();
    }
    // the classes the tests ask for, offered by every association below the JMA
    for node in ["P13-0001", "P13-0002", "P27-0001", "P13", "P27"] {
        for (pos, c) in ["regular", "general", "senior", "moved"]
            .into_iter()
            .enumerate()
        {
            tx.upsert_association_class(&mamis_store::AssociationClass {
                association: code(node),
                code: class(c),
                name_ja: c.into(),
                name_en: c.into(),
                position: i32::try_from(pos).unwrap(),
                retired: false,
            })
            .await
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
}

fn not_found<T: std::fmt::Debug>(r: Result<T, AppError>) {
    assert!(matches!(r, Err(AppError::NotFound)), "{r:?}");
}

pub(crate) async fn audited<S: Store>(t: &TestApp<S>, action: &str) -> usize {
    let mut tx = t.app.store.read().await.unwrap();
    let n = tx
        .audit_rows(0, 10_000)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.action == action)
        .count();
    tx.rollback().await.unwrap();
    n
}

async fn join_through_three_levels<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let (chiyoda, chuo, tokyo, jma) = (
        staff(&t, "P13-0001").await,
        staff(&t, "P13-0002").await,
        staff(&t, "P13").await,
        staff(&t, "JMA").await,
    );
    let (d, me) = doctor(&t, 1, &[], None).await;
    let req = Request::Join {
        prefecture: code("P13"),
        county: Some(code("P13-0001")),
        classes: JoinClasses {
            county: Some(class("regular")),
            prefecture: Some(class("regular")),
            jma: Some(MemberClass::C),
        },
    };
    let licence = NewEvidence {
        file_name: "免許証.png".into(),
        content_type: "image/png".into(),
        bytes: b"\x89PNG\r\n\x1a\n licence copy".to_vec(),
    };
    let bad = NewEvidence {
        content_type: "text/html".into(),
        ..licence.clone()
    };
    // a class the county does not offer is refused
    let unknown = Request::Join {
        prefecture: code("P13"),
        county: Some(code("P13-0001")),
        classes: JoinClasses {
            county: Some(class("platinum")),
            prefecture: None,
            jma: None,
        },
    };
    let r = membership::file(&t.app, &me, d, unknown, None, vec![], None).await;
    assert!(
        matches!(r, Err(AppError::Conflict(ref c)) if c.starts_with("class-not-offered")),
        "{r:?}"
    );
    // a refused evidence file refuses the filing: nothing is stored
    let r = membership::file(&t.app, &me, d, req.clone(), None, vec![bad], None).await;
    assert!(
        matches!(r, Err(AppError::Conflict(ref c)) if c == "evidence-type"),
        "{r:?}"
    );
    let id = membership::file(&t.app, &me, d, req.clone(), None, vec![licence], None)
        .await
        .unwrap();
    // one open membership procedure at a time
    let again = membership::file(&t.app, &me, d, req, None, vec![], None).await;
    assert!(matches!(again, Err(AppError::Conflict(_))), "{again:?}");

    // county B's staff: not found, for the procedure, the doctor and any act
    not_found(membership::procedure(&t.app, &chuo, id, None).await);
    not_found(membership::member(&t.app, &chuo, d, None).await);
    not_found(membership::act(&t.app, &chuo, id, StaffAct::Approve, None).await);
    assert!(
        membership::queue(&t.app, &chuo, 50)
            .await
            .unwrap()
            .is_empty()
    );
    // the prefecture sees it but has nothing to do yet
    assert!(matches!(
        membership::act(&t.app, &tokyo, id, StaffAct::Approve, None).await,
        Err(AppError::Forbidden)
    ));
    let q = membership::queue(&t.app, &chiyoda, 50).await.unwrap();
    assert_eq!(q.iter().map(|(p, _)| p.id).collect::<Vec<_>>(), [id]);
    assert_eq!(q[0].1, "手続 花子1", "the queue names who is waiting");
    let view = membership::procedure(&t.app, &chiyoda, id, None)
        .await
        .unwrap();
    let mut tx = t.app.store.read().await.unwrap();
    let ev = tx.evidence_of(id).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(ev.len(), 1);
    let bytes = membership::EvidenceStore::new(&t.app.config.membership.evidence_dir)
        .read(&ev[0])
        .await
        .unwrap();
    assert_eq!(bytes, b"\x89PNG\r\n\x1a\n licence copy");
    assert_eq!(view.events.len(), 1);

    membership::act(&t.app, &chiyoda, id, StaffAct::Approve, None)
        .await
        .unwrap();
    assert!(
        membership::queue(&t.app, &chiyoda, 50)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        membership::queue(&t.app, &tokyo, 50).await.unwrap().len(),
        1
    );
    membership::act(&t.app, &tokyo, id, StaffAct::Approve, None)
        .await
        .unwrap();
    let mut tx = t.app.store.read().await.unwrap();
    assert!(
        tx.memberships_of(d).await.unwrap().is_empty(),
        "nothing before the last approval"
    );
    tx.rollback().await.unwrap();
    let done = membership::act(&t.app, &jma, id, StaffAct::Approve, None)
        .await
        .unwrap();
    assert_eq!(done.row.status, ProcedureStatus::Completed);
    // approved on 2026-06-01 (Japan): the first day of the next month
    assert_eq!(done.row.effective_on, Some(day("2026-07-01")));
    let mut tx = t.app.store.read().await.unwrap();
    let doc = tx.doctor(d).await.unwrap().unwrap();
    let ms = tx.memberships_of(d).await.unwrap();
    let mails = tx.mails(100).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(
        doc.member_id,
        Some(t.app.config.membership.member_ids.0.clone())
    );
    assert_eq!(ms.len(), 3);
    assert!(
        ms.iter()
            .all(|m| m.joined_on == day("2026-07-01") && m.left_on.is_none())
    );
    assert!(
        ms.iter()
            .all(|m| !m.active_on(day("2026-06-30")) && m.active_on(day("2026-07-01")))
    );
    // staff of each level got a mail when the item reached them
    for who in [
        "staff-p13-0001@example.jp",
        "staff-p13@example.jp",
        "staff-jma@example.jp",
    ] {
        assert!(mails.iter().any(|m| m.to_addr == who), "{who}");
    }
    assert!(
        !mails
            .iter()
            .any(|m| m.to_addr == "staff-p13-0002@example.jp")
    );
    assert_eq!(audited(&t, "membership.step").await, 3);
    assert_eq!(audited(&t, "membership.member_id_assign").await, 1);
}
app_test!(
    join_through_three_levels_assigns_the_member_id,
    join_through_three_levels
);

async fn routed_join<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let (chiyoda, chuo, tokyo) = (
        staff(&t, "P13-0001").await,
        staff(&t, "P13-0002").await,
        staff(&t, "P13").await,
    );
    let (d, me) = doctor(&t, 2, &[], None).await;
    let req = Request::Join {
        prefecture: code("P13"),
        county: None,
        classes: JoinClasses {
            county: Some(class("regular")),
            prefecture: None,
            jma: None,
        },
    };
    let id = membership::file(&t.app, &me, d, req, None, vec![], None)
        .await
        .unwrap();
    not_found(membership::procedure(&t.app, &chuo, id, None).await);
    // a county that does not offer the class asked for cannot take it
    let mut tx = t.app.store.write().await.unwrap();
    tx.upsert_association(&Association {
        code: code("P13-0003"),
        name_ja: "港区医師会".into(),
        name_en: "P13-0003".into(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let r = membership::act(&t.app, &tokyo, id, StaffAct::Route(code("P13-0003")), None).await;
    assert!(
        matches!(r, Err(AppError::Conflict(ref c)) if c.starts_with("class-not-offered")),
        "{r:?}"
    );
    membership::act(&t.app, &tokyo, id, StaffAct::Route(code("P13-0002")), None)
        .await
        .unwrap();
    // routed to county B: now B sees the joiner, A still does not
    membership::procedure(&t.app, &chuo, id, None)
        .await
        .unwrap();
    membership::member(&t.app, &chuo, d, None).await.unwrap();
    not_found(membership::procedure(&t.app, &chiyoda, id, None).await);
    not_found(membership::member(&t.app, &chiyoda, d, None).await);
    let v = membership::act(
        &t.app,
        &chuo,
        id,
        StaffAct::Return("勤務先の住所を確認してください".into()),
        None,
    )
    .await
    .unwrap();
    assert!(v.row.due.is_empty(), "waits for the doctor");
    let mut tx = t.app.store.read().await.unwrap();
    assert!(
        tx.memberships_of(d).await.unwrap().is_empty(),
        "a return writes nothing"
    );
    tx.rollback().await.unwrap();
    // another doctor cannot answer it, nor can an account whose claim on this doctor's record
    // still waits for staff review
    let (_, other) = doctor(&t, 3, &[], None).await;
    not_found(
        membership::doctor_act(&t.app, &other, id, DoctorAct::Answer("x".into()), None).await,
    );
    let mut claimant = Account::new(
        Uuid::now_v7(),
        "claimant@example.jp",
        "",
        AccountKind::Doctor,
        t.app.now(),
    );
    claimant.doctor_id = Some(d);
    claimant.verification = Verification::Review;
    let mut tx = t.app.store.write().await.unwrap();
    tx.insert_account(&claimant).await.unwrap();
    tx.commit().await.unwrap();
    let in_review = Principal::Doctor {
        account_id: claimant.id,
        doctor_id: Some(d),
    };
    not_found(membership::doctor_act(&t.app, &in_review, id, DoctorAct::Cancel, None).await);
    not_found(membership::procedure(&t.app, &in_review, id, None).await);
    not_found(membership::member(&t.app, &in_review, d, None).await);
    membership::doctor_act(
        &t.app,
        &me,
        id,
        DoctorAct::Answer("訂正しました".into()),
        None,
    )
    .await
    .unwrap();
    let v = membership::act(&t.app, &chuo, id, StaffAct::Approve, None)
        .await
        .unwrap();
    assert_eq!(v.row.status, ProcedureStatus::Completed);
    let mut tx = t.app.store.read().await.unwrap();
    let ms = tx.memberships_of(d).await.unwrap();
    let doc = tx.doctor(d).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].association, code("P13-0002"));
    assert_eq!(doc.member_id, None, "no JMA membership, no member ID");
}
app_test!(a_routed_join_is_returned_answered_and_approved, routed_join);

async fn transfer<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let (chiyoda, chuo, tokyo, osaka_city, osaka, jma) = (
        staff(&t, "P13-0001").await,
        staff(&t, "P13-0002").await,
        staff(&t, "P13").await,
        staff(&t, "P27-0001").await,
        staff(&t, "P27").await,
        staff(&t, "JMA").await,
    );
    let (d, me) = doctor(
        &t,
        4,
        &[("P13-0001", "regular"), ("P13", "regular"), ("JMA", "B")],
        Some("1300000004"),
    )
    .await;
    // before any transfer, Osaka's staff do not see a Tokyo member
    not_found(membership::member(&t.app, &osaka_city, d, None).await);
    let req = Request::Transfer {
        from_county: code("P13-0001"),
        to_county: code("P27-0001"),
        county_class: class("general"),
        prefecture_class: Some(class("general")),
    };
    let id = membership::file(&t.app, &me, d, req, None, vec![], None)
        .await
        .unwrap();
    // the incoming transfer opens the doctor to the receiving county; others still see nothing
    membership::member(&t.app, &osaka_city, d, None)
        .await
        .unwrap();
    not_found(membership::member(&t.app, &chuo, d, None).await);
    not_found(membership::procedure(&t.app, &chuo, id, None).await);
    assert_eq!(
        membership::queue(&t.app, &osaka_city, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        membership::queue(&t.app, &chiyoda, 10).await.unwrap().len(),
        1,
        "to acknowledge"
    );
    membership::act(&t.app, &osaka_city, id, StaffAct::Approve, None)
        .await
        .unwrap();
    membership::act(&t.app, &chiyoda, id, StaffAct::Acknowledge, None)
        .await
        .unwrap();
    membership::act(&t.app, &osaka, id, StaffAct::Approve, None)
        .await
        .unwrap();
    // Tokyo's prefecture never acknowledges: after the configured days it lapses, by the job
    // queued at filing for then
    let mut tx = t.app.store.read().await.unwrap();
    let jobs = tx.jobs_with_status(JobStatus::Queued, 100).await.unwrap();
    tx.rollback().await.unwrap();
    let lapse: Vec<_> = jobs
        .iter()
        .filter(|j| j.kind == membership::LAPSE_KIND)
        .collect();
    assert_eq!(lapse.len(), 1);
    assert_eq!(
        lapse[0].run_at,
        t.app.now() + Duration::days(t.app.config.membership.acknowledge_days)
    );
    assert_eq!(membership::lapse_acknowledgements(&t.app).await.unwrap(), 0);
    t.clock
        .advance(Duration::days(t.app.config.membership.acknowledge_days) + Duration::minutes(1));
    assert_eq!(membership::lapse_acknowledgements(&t.app).await.unwrap(), 1);
    let v = membership::procedure(&t.app, &tokyo, id, None)
        .await
        .unwrap();
    assert_eq!(v.row.status, ProcedureStatus::Completed);
    let e = v.row.effective_on.unwrap();
    assert_eq!(e, day("2026-07-01"));
    let mut tx = t.app.store.read().await.unwrap();
    let ms = tx.memberships_of(d).await.unwrap();
    let doc = tx.doctor(d).await.unwrap().unwrap();
    let mails = tx.mails(100).await.unwrap();
    tx.rollback().await.unwrap();
    let held = |on: NaiveDate| {
        let mut v: Vec<String> = ms
            .iter()
            .filter(|m| m.active_on(on))
            .map(|m| m.association.to_string())
            .collect();
        v.sort();
        v
    };
    // no gap and no overlap: the day before in Tokyo, the day itself in Osaka, JMA throughout
    assert_eq!(held(e - Duration::days(1)), ["JMA", "P13", "P13-0001"]);
    assert_eq!(held(e), ["JMA", "P27", "P27-0001"]);
    assert_eq!(
        ms.iter()
            .filter(|m| m.association.level() == AssociationLevel::Jma)
            .count(),
        1
    );
    assert_eq!(doc.member_id.unwrap().as_str(), "1300000004");
    assert!(
        mails
            .iter()
            .any(|m| m.to_addr == "staff-jma@example.jp" && m.subject.contains("異動"))
    );
    // the JMA saw it all along (national scope), and the view is audited
    membership::member(&t.app, &jma, d, None).await.unwrap();
    assert!(audited(&t, "doctor.view").await >= 1);
}
app_test!(
    a_transfer_tokyo_to_osaka_leaves_no_gap_and_keeps_the_member_id,
    transfer
);

async fn profile_and_death<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let (chiyoda, chuo) = (staff(&t, "P13-0001").await, staff(&t, "P13-0002").await);
    let (d, me) = doctor(&t, 5, &[("P13-0001", "regular"), ("P13", "regular")], None).await;
    let profile = mamis_store::DoctorProfile {
        doctor_id: d,
        workplace_name: Some("千代田病院".into()),
        workplace_address: Some("東京都千代田区1-1".into()),
        workplace_municipality: Some("千代田区".into()),
        home_address: None,
        phone: None,
        graduation_year: Some(2024),
        resident: true,
        updated_at: t.app.now(),
    };
    membership::update_profile(&t.app, &me, profile.clone(), None)
        .await
        .unwrap();
    not_found(membership::update_profile(&t.app, &chuo, profile.clone(), None).await);
    let (_, _, got) = membership::member(&t.app, &chiyoda, d, None).await.unwrap();
    assert_eq!(got.unwrap().workplace_name.as_deref(), Some("千代田病院"));
    assert_eq!(audited(&t, "doctor.profile_update").await, 1);
    // county staff type in a paper class change for their member; county B cannot
    let change = Request::ClassChange {
        changes: vec![(code("P13-0001"), class("senior"))],
    };
    not_found(membership::file(&t.app, &chuo, d, change.clone(), None, vec![], None).await);
    let paper = membership::file(&t.app, &chiyoda, d, change, None, vec![], None)
        .await
        .unwrap();
    let seen = membership::procedure(&t.app, &me, paper, None)
        .await
        .unwrap();
    assert_eq!(
        seen.row.status,
        ProcedureStatus::Open,
        "the doctor sees it on My Page"
    );
    not_found(membership::record_death(&t.app, &chuo, d, day("2026-05-30"), None).await);
    membership::record_death(&t.app, &chiyoda, d, day("2026-05-30"), None)
        .await
        .unwrap();
    let mut tx = t.app.store.read().await.unwrap();
    let ms = tx.memberships_of(d).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(ms.iter().all(|m| m.left_on == Some(day("2026-05-31"))));
    let v = membership::procedure(&t.app, &chiyoda, paper, None)
        .await
        .unwrap();
    assert_eq!(
        v.row.status,
        ProcedureStatus::Cancelled,
        "open procedures end with the death"
    );
    assert!(v.row.due.is_empty());
}
app_test!(
    profile_changes_are_immediate_and_death_ends_memberships,
    profile_and_death
);

async fn demo_procedures<S: Store>(t: TestApp<S>) {
    let logins = mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    // six procedures to look at, then where to try a new resident's join and the paper forms
    assert_eq!(logins.membership.len(), 8, "{:?}", logins.membership);
    assert!(
        logins.membership[6]
            .1
            .starts_with("unverified@demo.mamis.jp")
    );
    assert!(logins.membership[7].1.contains("/office/membership/paper"));
    assert!(
        logins
            .accounts
            .iter()
            .any(|a| a.1 == "osaka-kita@demo.mamis.jp")
    );
    let queue_of = |node: &str, id: u128, role| Principal::Staff {
        account_id: Uuid::from_u128(id),
        grants: vec![RoleGrant::new(role, Scope::Association(code(node))).unwrap()],
    };
    // a join waits at each level, the class change at the county, the transfer at Osaka
    let chiyoda = membership::queue(
        &t.app,
        &queue_of("P13-0001", 0xD0_1002, Role::CountyStaff),
        50,
    )
    .await
    .unwrap();
    let kinds = |v: &[(mamis_store::ProcedureRow, String)]| {
        let mut k: Vec<&str> = v.iter().map(|(p, _)| p.kind.as_str()).collect();
        k.sort();
        k
    };
    assert_eq!(kinds(&chiyoda), ["class_change", "join", "transfer"]);
    let tokyo = membership::queue(
        &t.app,
        &queue_of("P13", 0xD0_1001, Role::PrefectureStaff),
        50,
    )
    .await
    .unwrap();
    assert_eq!(kinds(&tokyo), ["join", "transfer"]);
    let jma = membership::queue(&t.app, &queue_of("JMA", 0xD0_1003, Role::JmaStaff), 50)
        .await
        .unwrap();
    assert_eq!(kinds(&jma), ["join"]);
    let osaka = membership::queue(
        &t.app,
        &queue_of("P27-0001", 0xD0_1802, Role::CountyStaff),
        50,
    )
    .await
    .unwrap();
    assert_eq!(kinds(&osaka), ["transfer"]);
}
app_test!(
    the_demo_has_a_procedure_waiting_at_every_level,
    demo_procedures
);

async fn office_pages<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let grant =
        |node: &str| RoleGrant::new(Role::CountyStaff, Scope::Association(code(node))).unwrap();
    let (chiyoda, _) = mamis_testkit::staff_user(
        &t,
        "c1@example.jp",
        "Chiyoda-pass-2026-kaede",
        grant("P13-0001"),
    )
    .await;
    let (chuo, _) = mamis_testkit::staff_user(
        &t,
        "c2@example.jp",
        "Chuo-pass-2026-kaede",
        grant("P13-0002"),
    )
    .await;
    let (d, me) = doctor(&t, 6, &[], None).await;
    let req = Request::Join {
        prefecture: code("P13"),
        county: Some(code("P13-0001")),
        classes: JoinClasses {
            county: Some(class("regular")),
            prefecture: None,
            jma: None,
        },
    };
    let id = membership::file(&t.app, &me, d, req, None, vec![], None)
        .await
        .unwrap();
    let get = |ua: &reqwest::Client, path: String| {
        let ua = ua.clone();
        let url = t.url(&path);
        async move {
            let r = ua.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };
    let (status, body) = get(&chiyoda, "/office/membership".into()).await;
    assert_eq!(status, 200);
    let doc = mamis_testkit::html(&body);
    assert_eq!(
        mamis_testkit::texts(&doc, &format!("#procedure-{id} a")),
        ["入会"]
    );
    let (status, body) = get(&chuo, "/office/membership".into()).await;
    assert_eq!(status, 200);
    assert!(body.contains("処理待ちの手続きはありません"));
    // the office home counts what waits for each staff member's association
    let (_, body) = get(&chiyoda, "/office".into()).await;
    assert_eq!(
        mamis_testkit::texts(&mamis_testkit::html(&body), "#office-nav-membership"),
        ["会員手続き（処理待ち 1件）"]
    );
    let (_, body) = get(&chuo, "/office".into()).await;
    assert_eq!(
        mamis_testkit::texts(&mamis_testkit::html(&body), "#office-nav-membership"),
        ["会員手続き（処理待ち 0件）"]
    );
    // the site header counts it on every page, with words for a screen reader
    let (_, body) = get(&chiyoda, "/office/membership".into()).await;
    let doc = mamis_testkit::html(&body);
    assert_eq!(mamis_testkit::texts(&doc, "#site-nav #nav-waiting"), ["1"]);
    assert_eq!(
        mamis_testkit::attr(&doc, "#nav-waiting", "aria-label").as_deref(),
        Some("処理待ち 1件")
    );
    let (_, body) = get(&chuo, "/office/membership".into()).await;
    assert!(mamis_testkit::texts(&mamis_testkit::html(&body), "#nav-waiting").is_empty());
    // county B: the procedure does not exist for them
    assert_eq!(get(&chuo, format!("/office/membership/{id}")).await.0, 404);
    let (status, body) = get(&chiyoda, format!("/office/membership/{id}")).await;
    assert_eq!(status, 200);
    let doc = mamis_testkit::html(&body);
    assert_eq!(
        mamis_testkit::texts(&doc, "#doctor"),
        ["手続 花子6 (180006)"]
    );
    let csrf = mamis_testkit::attr(&doc, "#return-form input[name=csrf]", "value").unwrap();
    let post = |ua: &reqwest::Client, form: Vec<(&'static str, String)>| {
        let ua = ua.clone();
        let url = t.url(&format!("/office/membership/{id}/act"));
        let origin = t.base_url.clone();
        async move {
            ua.post(url)
                .header("origin", origin)
                .form(&form)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let chuo_csrf = {
        let (_, body) = get(&chuo, "/office/membership".into()).await;
        mamis_testkit::attr(&mamis_testkit::html(&body), "input[name=csrf]", "value")
            .unwrap_or_default()
    };
    assert_eq!(
        post(
            &chuo,
            vec![("csrf", chuo_csrf), ("action", "approve".into())]
        )
        .await,
        404
    );
    // without the form's token the request is refused before anything happens
    assert_eq!(
        post(&chiyoda, vec![("action", "approve".into())]).await,
        403
    );
    assert_eq!(
        post(
            &chiyoda,
            vec![
                ("csrf", csrf.clone()),
                ("action", "return".into()),
                ("reason", " ".into())
            ]
        )
        .await,
        400
    );
    assert_eq!(
        post(
            &chiyoda,
            vec![
                ("csrf", csrf.clone()),
                ("action", "return".into()),
                ("reason", "勤務先を確認してください".into())
            ]
        )
        .await,
        303
    );
    let (_, body) = get(&chiyoda, format!("/office/membership/{id}")).await;
    let doc = mamis_testkit::html(&body);
    assert_eq!(mamis_testkit::texts(&doc, "#steps .state"), ["差戻し中"]);
    assert!(body.contains("勤務先を確認してください"));
    assert!(
        mamis_testkit::attr(&doc, "#approve", "id").is_none(),
        "nothing to approve while returned"
    );
    membership::doctor_act(
        &t.app,
        &me,
        id,
        DoctorAct::Answer("確認しました".into()),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        post(&chiyoda, vec![("csrf", csrf), ("action", "approve".into())]).await,
        303
    );
    let (_, body) = get(&chiyoda, format!("/office/membership/{id}")).await;
    let doc = mamis_testkit::html(&body);
    assert_eq!(mamis_testkit::texts(&doc, "#status"), ["完了"]);
    assert_eq!(mamis_testkit::texts(&doc, "#effective"), ["2026-07-01"]);
}
app_test!(office_pages_list_show_and_decide_within_scope, office_pages);

async fn mypage_pages<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let chiyoda = staff(&t, "P13-0001").await;
    let (d, me) = doctor(&t, 7, &[], None).await;
    let Principal::Doctor { account_id, .. } = &me else {
        unreachable!()
    };
    let password = "Doctor-pass-2026-hinoki";
    let hash = t.app.hasher.hash(password.to_owned()).await.unwrap();
    let mut tx = t.app.store.write().await.unwrap();
    mamis_store::IdentityStore::set_password_hash(&mut tx, *account_id, &hash)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let ua = mamis_testkit::browser();
    let (r, _) = mamis_testkit::password_login(&t, &ua, "doctor7@example.jp", password).await;
    assert_eq!(r.status(), 303);
    let page = |ua: &reqwest::Client| {
        let ua = ua.clone();
        let url = t.url("/mypage/membership");
        async move { ua.get(url).send().await.unwrap().text().await.unwrap() }
    };
    assert!(page(&ua).await.contains("手続きはまだありません"));
    let req = Request::Join {
        prefecture: code("P13"),
        county: Some(code("P13-0001")),
        classes: JoinClasses {
            county: Some(class("regular")),
            prefecture: None,
            jma: None,
        },
    };
    let id = membership::file(&t.app, &me, d, req, None, vec![], None)
        .await
        .unwrap();
    membership::act(
        &t.app,
        &chiyoda,
        id,
        StaffAct::Return("勤務先を記入してください".into()),
        None,
    )
    .await
    .unwrap();
    let body = page(&ua).await;
    let doc = mamis_testkit::html(&body);
    let returned = mamis_testkit::texts(&doc, &format!("#procedure-{id} .returned"));
    assert_eq!(returned.len(), 1);
    assert!(
        returned[0].contains("勤務先を記入してください"),
        "{returned:?}"
    );
    assert!(
        mamis_testkit::texts(&doc, &format!("#procedure-{id} .drop")).is_empty(),
        "the county cannot be dropped"
    );
    let csrf = mamis_testkit::attr(&doc, "input[name=csrf]", "value").unwrap();
    let post = |form: Vec<(&'static str, String)>| {
        let ua = ua.clone();
        let url = t.url(&format!("/mypage/membership/{id}/act"));
        let origin = t.base_url.clone();
        async move {
            ua.post(url)
                .header("origin", origin)
                .form(&form)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        post(vec![
            ("csrf", csrf.clone()),
            ("action", "answer".into()),
            ("reply", "".into())
        ])
        .await,
        400
    );
    assert_eq!(
        post(vec![
            ("csrf", csrf.clone()),
            ("action", "answer".into()),
            ("reply", "千代田病院です".into())
        ])
        .await,
        303
    );
    let v = membership::procedure(&t.app, &chiyoda, id, None)
        .await
        .unwrap();
    assert_eq!(v.row.due.len(), 1, "due at the county again");
    // another browser without a session cannot act
    let stranger = mamis_testkit::browser();
    let r = stranger
        .post(t.url(&format!("/mypage/membership/{id}/act")))
        .header("origin", &t.base_url)
        .form(&[("csrf", csrf.as_str()), ("action", "cancel")])
        .send()
        .await
        .unwrap();
    assert_ne!(r.status().as_u16(), 303);
    assert_eq!(
        post(vec![("csrf", csrf), ("action", "cancel".into())]).await,
        303
    );
    let doc = mamis_testkit::html(&page(&ua).await);
    assert_eq!(
        mamis_testkit::texts(&doc, &format!("#procedure-{id} .status")),
        ["取下げ"]
    );
}
app_test!(
    mypage_shows_a_return_and_takes_the_answer_and_withdrawal,
    mypage_pages
);
