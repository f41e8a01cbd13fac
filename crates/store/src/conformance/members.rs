//! Conformance cases of the member back office's reads (issue 19): search keys written on insert
//! and rename, prefix ranges, scope, filters, counts and paging; class counts and flows.

use chrono::NaiveDate;
use mamis_domain::procedure::DueAction;
use mamis_domain::*;
use uuid::Uuid;

use super::{sample_doctor, with_counties};
use crate::*;

fn code(s: &str) -> AssociationCode {
    AssociationCode::parse(s).unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn m(c: &str, from: &str, to: Option<&str>) -> Membership {
    Membership {
        association: code(c),
        class: ClassCode::parse("regular").unwrap(),
        joined_on: day(from),
        left_on: to.map(day),
    }
}

async fn ids<S: Store>(s: &S, q: &MemberQuery) -> (u64, Vec<u32>) {
    let mut tx = s.read().await.unwrap();
    let page = tx.search_members(q).await.unwrap();
    tx.rollback().await.unwrap();
    let ns = page
        .hits
        .iter()
        .map(|h| h.doctor.iseki.as_str().parse::<u32>().unwrap() - 100_000)
        .collect();
    (page.total, ns)
}

/// Folded keys are written by insert and rename and matched as prefixes; the scope, status and
/// membership filters, the count and the pages agree on both backends.
pub async fn member_search_prefixes_scope_and_pages<S: Store>(s: S) {
    with_counties(&s).await;
    let today = day("2026-06-01");
    let mut tx = s.write().await.unwrap();
    let names = [
        ("髙橋", "花子", "タカハシ", "ハナコ"),
        ("高橋", "健", "タカハシ", "ケン"),
        ("高田", "誠", "タカダ", "マコト"),
        ("渡邉", "一", "ワタナベ", "ハジメ"),
    ];
    let mut docs = Vec::new();
    for (n, (f, g, fk, gk)) in names.iter().enumerate() {
        let mut d = sample_doctor(n as u32 + 1);
        d.family_name = (*f).into();
        d.given_name = (*g).into();
        d.family_kana = KanaName::normalise(fk).unwrap();
        d.given_kana = KanaName::normalise(gk).unwrap();
        docs.push(d);
    }
    tx.insert_doctors(&docs).await.unwrap();
    tx.insert_memberships(&[
        (docs[0].id, m("P13-0001", "2020-04-01", None)),
        (docs[1].id, m("P13-0001", "2024-04-01", None)),
        (docs[2].id, m("P13-0001", "2010-04-01", Some("2025-04-01"))),
        (docs[3].id, m("P13-0002", "2015-04-01", None)),
    ])
    .await
    .unwrap();
    tx.upsert_doctor_profile(&DoctorProfile {
        doctor_id: docs[0].id,
        workplace_name: Some("神田駅前クリニック".into()),
        workplace_address: None,
        workplace_municipality: Some("千代田区".into()),
        home_address: None,
        phone: None,
        graduation_year: None,
        resident: false,
        updated_at: docs[0].created_at,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let county = Some(vec![code("P13-0001")]);
    let mut q = MemberQuery::new(county.clone(), today);
    q.sort = MemberSort::Iseki;
    q.name_prefix = Some(names::name_key("たかはし"));
    assert_eq!(ids(&s, &q).await, (2, vec![1, 2]));
    q.name_prefix = Some(names::name_key("高"));
    assert_eq!(ids(&s, &q).await, (3, vec![1, 2, 3]));
    q.name_prefix = Some(names::name_key("タカ"));
    q.status = Some(MemberStatus::Former);
    assert_eq!(ids(&s, &q).await, (1, vec![3]));
    q.status = Some(MemberStatus::Member);
    q.limit = 1;
    q.offset = 1;
    assert_eq!(ids(&s, &q).await, (2, vec![2]), "counted over every page");
    let mut q = MemberQuery::new(county.clone(), today);
    q.workplace = Some("駅前".into());
    assert_eq!(ids(&s, &q).await, (1, vec![1]));
    q.workplace = None;
    q.municipality = Some("千代田区".into());
    assert_eq!(ids(&s, &q).await, (1, vec![1]));
    // another county's doctor is outside; the whole register sees everyone
    let mut q = MemberQuery::new(county.clone(), today);
    q.name_prefix = Some(names::name_key("わたなべ"));
    assert_eq!(ids(&s, &q).await, (0, vec![]));
    q.scope = None;
    assert_eq!(ids(&s, &q).await, (1, vec![4]));
    // a rename rewrites the keys
    let mut tx = s.write().await.unwrap();
    assert!(
        tx.rename_doctor(
            docs[3].id,
            &DoctorNames {
                family_name: "佐藤".into(),
                given_name: "一".into(),
                family_kana: KanaName::normalise("サトウ").unwrap(),
                given_kana: KanaName::normalise("ハジメ").unwrap(),
            },
        )
        .await
        .unwrap()
    );
    tx.commit().await.unwrap();
    assert_eq!(ids(&s, &q).await, (0, vec![]));
    q.name_prefix = Some(names::name_key("さとう"));
    assert_eq!(ids(&s, &q).await, (1, vec![4]));
    // a prefecture's staff: the name searched in the prefectures' key table, then the exact
    // scope; a doctor connected by home prefecture or by a procedure party alone is found there
    let staff = Account::new(
        Uuid::from_u128(0xA1),
        "staff@example.jp",
        "事務局",
        AccountKind::Staff,
        docs[0].created_at,
    );
    let mut home = sample_doctor(5);
    home.family_name = "高橋".into();
    home.family_kana = KanaName::normalise("タカハシ").unwrap();
    home.home_prefecture = Some(code("P27"));
    let mut party = sample_doctor(6);
    party.family_name = "高橋".into();
    party.family_kana = KanaName::normalise("タカハシ").unwrap();
    let mut tx = s.write().await.unwrap();
    tx.insert_account(&staff).await.unwrap();
    tx.insert_doctors(&[home.clone(), party.clone()])
        .await
        .unwrap();
    tx.insert_procedure(&super::membership::procedure(
        6,
        party.id,
        staff.id,
        "2026-05-02T00:00:00Z",
        &[("P27-0001", DueAction::Approve, "2026-05-02T00:00:00Z")],
    ))
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut q = MemberQuery::new(Some(vec![code("P13")]), today);
    q.sort = MemberSort::Iseki;
    q.name_prefix = Some(names::name_key("たかはし"));
    assert_eq!(ids(&s, &q).await, (2, vec![1, 2]));
    q.name_prefix = Some(names::name_key("高"));
    assert_eq!(ids(&s, &q).await, (3, vec![1, 2, 3]));
    q.name_prefix = Some(names::name_key("わたなべ"));
    assert_eq!(
        ids(&s, &q).await,
        (0, vec![]),
        "the rename reached the key table"
    );
    q.name_prefix = Some(names::name_key("さと"));
    assert_eq!(ids(&s, &q).await, (1, vec![4]));
    q.scope = Some(vec![code("P27")]);
    q.name_prefix = Some(names::name_key("たかはし"));
    assert_eq!(ids(&s, &q).await, (2, vec![5, 6]));
    // a prefecture and a county of another: the other county's doctors stay outside
    q.scope = Some(vec![code("P27"), code("P13-0002")]);
    q.name_prefix = Some(names::name_key("た"));
    assert_eq!(ids(&s, &q).await, (2, vec![5, 6]));
    q.name_prefix = Some(names::name_key("さ"));
    assert_eq!(ids(&s, &q).await, (1, vec![4]));
    q.scope = Some(vec![code("P27"), code("P13-0001")]);
    q.name_prefix = Some(names::name_key("たか"));
    assert_eq!(ids(&s, &q).await, (5, vec![1, 2, 3, 5, 6]));
    q.status = Some(MemberStatus::Member);
    assert_eq!(ids(&s, &q).await, (2, vec![1, 2]));
    // bulk reads and scope
    let mut tx = s.read().await.unwrap();
    let all: Vec<Uuid> = docs.iter().map(|d| d.id).collect();
    assert_eq!(tx.memberships_of_doctors(&all).await.unwrap().len(), 4);
    assert_eq!(tx.profiles_of_doctors(&all).await.unwrap().len(), 1);
    assert!(
        tx.doctor_in_scope(docs[2].id, &[code("P13-0001")])
            .await
            .unwrap()
    );
    assert!(
        !tx.doctor_in_scope(docs[3].id, &[code("P13-0001")])
            .await
            .unwrap()
    );
    tx.rollback().await.unwrap();
}

/// Counts per class on a day, and starts and ends classified as joins, transfers and withdrawals.
pub async fn member_counts_and_flows<S: Store>(s: S) {
    with_counties(&s).await;
    let mut tx = s.write().await.unwrap();
    let docs: Vec<Doctor> = (1..=3).map(sample_doctor).collect();
    tx.insert_doctors(&docs).await.unwrap();
    tx.insert_memberships(&[
        (docs[0].id, m("P13-0001", "2020-04-01", None)),
        (docs[1].id, m("P13-0002", "2010-04-01", Some("2026-09-01"))),
        (docs[1].id, m("P13-0001", "2026-09-01", None)),
        (docs[2].id, m("P13-0001", "2010-04-01", Some("2026-07-01"))),
    ])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut tx = s.read().await.unwrap();
    let counts = tx
        .class_counts(
            Some(&[code("P13-0001"), code("P13-0002")]),
            day("2026-08-01"),
        )
        .await
        .unwrap();
    let got: Vec<(String, u64)> = counts
        .iter()
        .map(|c| (c.association.to_string(), c.members))
        .collect();
    assert_eq!(got, [("P13-0001".into(), 1), ("P13-0002".into(), 1)]);
    let flows = tx
        .membership_flows(None, day("2026-01-01"), day("2026-12-01"))
        .await
        .unwrap();
    let got: Vec<(String, String, FlowKind)> = flows
        .iter()
        .map(|f| (f.association.to_string(), f.day.to_string(), f.kind))
        .collect();
    assert_eq!(
        got,
        [
            ("P13-0001".into(), "2026-07-01".into(), FlowKind::Withdrawal),
            ("P13-0001".into(), "2026-09-01".into(), FlowKind::TransferIn),
            (
                "P13-0002".into(),
                "2026-09-01".into(),
                FlowKind::TransferOut
            ),
        ]
    );
    tx.rollback().await.unwrap();
}
