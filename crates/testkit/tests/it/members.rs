//! The member back office through the app layer on both backends: search with name folding
//! inside the staff member's subtree, the member's record (not found outside the subtree, every
//! view audited), exports in UTF-8 with BOM and CP932 (〓 counted), register imports (all or
//! nothing with a line report, idempotent, conflicts with both values), statistics.

use chrono::NaiveDate;
use mamis_app::AppError;
use mamis_app::members::export::{self, Column, Encoding};
use mamis_app::members::import::import_register;
use mamis_app::members::{self, SearchError, SearchInput, stats};
use mamis_domain::{
    AssociationCode, AssociationLevel, ClassCode, IsekiNumber, KanaName, MemberId, Membership,
    Principal, Role, RoleGrant, Scope, Sex,
};
use mamis_store::{
    AccessStore, Account, AccountKind, AssociationClass, AuditStore, Doctor, DoctorProfile,
    MemberStatus, MembershipStore, RegistryStore, Store, Tx,
};
use mamis_testkit::{TestApp, app_test};
use uuid::Uuid;

fn code(s: &str) -> AssociationCode {
    AssociationCode::parse(s).unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

pub async fn staff<S: Store>(t: &TestApp<S>, node: &str) -> Principal {
    let role = match code(node).level() {
        AssociationLevel::Jma => Role::JmaStaff,
        AssociationLevel::Prefecture => Role::PrefectureStaff,
        AssociationLevel::County => Role::CountyStaff,
    };
    let grant = RoleGrant::new(role, Scope::Association(code(node))).unwrap();
    let acc = Account::new(
        Uuid::now_v7(),
        &format!("members-{}@example.jp", node.to_lowercase()),
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

/// Two counties of Tokyo and one of Osaka, with the classes `regular` and `resident`.
pub async fn seed<S: Store>(t: &TestApp<S>) {
    let mut tx = t.app.store.write().await.unwrap();
    for (c, ja) in [
        ("P13-0001", "千代田区医師会"),
        ("P13-0002", "中央区医師会"),
        ("P27-0001", "大阪市北区医師会"),
    ] {
        tx.upsert_association(&mamis_domain::Association {
            code: code(c),
            name_ja: ja.into(),
            name_en: c.into(),
        })
        .await
        .unwrap();
    }
    for node in ["P13-0001", "P13-0002", "P27-0001", "P13", "P27"] {
        for (pos, c) in ["regular", "resident"].iter().enumerate() {
            tx.upsert_association_class(&AssociationClass {
                association: code(node),
                code: ClassCode::parse(c).unwrap(),
                name_ja: (*c).into(),
                name_en: (*c).into(),
                position: pos as i32,
                retired: false,
            })
            .await
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
}

/// A doctor with memberships (association, class, joined, left) and a workplace.
pub async fn doctor<S: Store>(
    t: &TestApp<S>,
    n: u32,
    names: (&str, &str, &str, &str),
    ms: &[(&str, &str, &str, Option<&str>)],
    workplace: Option<(&str, &str)>,
) -> Uuid {
    let id = Uuid::from_u128(0x1900 + u128::from(n));
    let mut tx = t.app.store.write().await.unwrap();
    tx.insert_doctor(&Doctor {
        id,
        iseki: IsekiNumber::parse(&(190_000 + n).to_string()).unwrap(),
        family_name: names.0.into(),
        given_name: names.1.into(),
        family_kana: KanaName::normalise(names.2).unwrap(),
        given_kana: KanaName::normalise(names.3).unwrap(),
        birth_date: day("1980-05-05"),
        sex: Sex::Female,
        contact_email: None,
        member_id: ms
            .iter()
            .any(|m| m.0 == "JMA")
            .then(|| MemberId::parse(&format!("13{:08}", n)).unwrap()),
        home_prefecture: None,
        created_at: t.app.now(),
    })
    .await
    .unwrap();
    for (a, c, j, l) in ms {
        tx.insert_membership(
            id,
            &Membership {
                association: code(a),
                class: ClassCode::parse(c).unwrap(),
                joined_on: day(j),
                left_on: l.map(day),
            },
        )
        .await
        .unwrap();
    }
    if let Some((w, m)) = workplace {
        tx.upsert_doctor_profile(&DoctorProfile {
            doctor_id: id,
            workplace_name: Some(w.into()),
            workplace_address: None,
            workplace_municipality: Some(m.into()),
            home_address: None,
            phone: None,
            graduation_year: None,
            resident: false,
            updated_at: t.app.now(),
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    id
}

fn q(s: &str) -> SearchInput {
    SearchInput {
        q: s.into(),
        ..SearchInput::default()
    }
}

async fn names<S: Store>(t: &TestApp<S>, who: &Principal, input: SearchInput) -> Vec<String> {
    let found = members::search(&t.app, who, &input, None).await.unwrap();
    assert_eq!(found.page.total as usize, found.page.hits.len());
    found
        .page
        .hits
        .iter()
        .map(|h| format!("{}{}", h.doctor.family_name, h.doctor.given_name))
        .collect()
}

async fn search_folds_and_scopes<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let chiyoda = "P13-0001";
    doctor(
        &t,
        1,
        ("髙橋", "花子", "タカハシ", "ハナコ"),
        &[
            (chiyoda, "regular", "2020-04-01", None),
            ("P13", "regular", "2020-04-01", None),
        ],
        Some(("神田駅前クリニック", "千代田区")),
    )
    .await;
    doctor(
        &t,
        2,
        ("高橋", "健", "タカハシ", "ケン"),
        &[(chiyoda, "resident", "2024-04-01", None)],
        Some(("丸の内総合病院", "千代田区")),
    )
    .await;
    doctor(
        &t,
        3,
        ("渡邉", "太郎", "ワタナベ", "タロウ"),
        &[(chiyoda, "regular", "2010-04-01", Some("2025-04-01"))],
        None,
    )
    .await;
    let other = doctor(
        &t,
        4,
        ("高橋", "誠", "タカハシ", "マコト"),
        &[("P13-0002", "regular", "2015-04-01", None)],
        None,
    )
    .await;
    doctor(
        &t,
        5,
        ("大阪", "一郎", "オオサカ", "イチロウ"),
        &[
            ("P27-0001", "regular", "2015-04-01", None),
            ("JMA", "A1", "2015-04-01", None),
        ],
        None,
    )
    .await;
    let county = staff(&t, chiyoda).await;
    let tokyo = staff(&t, "P13").await;
    let jma = staff(&t, "JMA").await;

    // the folding cases: hiragana, half-width, spaces, kanji variants — in the subtree only
    let cases: &[(&str, &[&str])] = &[
        ("たかはし", &["高橋健", "髙橋花子"]),
        ("ﾀｶﾊｼ ﾊﾅｺ", &["髙橋花子"]),
        ("タカハシ　ケ", &["高橋健"]),
        ("高橋", &["高橋健", "髙橋花子"]),
        ("髙橋花", &["髙橋花子"]),
        ("渡辺", &["渡邉太郎"]),
        ("わたなべたろう", &["渡邉太郎"]),
        ("190001", &["髙橋花子"]),
        ("１９０００２", &["高橋健"]),
        ("やまだ", &[]),
    ];
    for (typed, want) in cases {
        let mut input = q(typed);
        input.sort = "name".into();
        let got = names(&t, &county, input).await;
        let mut want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
        want.sort();
        let mut got_sorted = got.clone();
        got_sorted.sort();
        assert_eq!(got_sorted, want, "{typed}");
    }
    // the prefecture sees both counties; the JMA everyone
    assert_eq!(names(&t, &tokyo, q("たかはし")).await.len(), 3);
    assert_eq!(names(&t, &jma, q("")).await.len(), 5);
    assert_eq!(names(&t, &jma, q("1300000005")).await, ["大阪一郎"]);
    // filters
    let filtered = |f: fn(&mut SearchInput)| {
        let mut i = q("");
        f(&mut i);
        i
    };
    assert_eq!(
        names(&t, &county, filtered(|i| i.status = "former".into())).await,
        ["渡邉太郎"]
    );
    assert_eq!(
        names(&t, &county, filtered(|i| i.status = "member".into()))
            .await
            .len(),
        2
    );
    assert_eq!(
        names(&t, &county, filtered(|i| i.class = "resident".into())).await,
        ["高橋健"]
    );
    assert_eq!(
        names(&t, &county, filtered(|i| i.workplace = "駅前".into())).await,
        ["髙橋花子"]
    );
    assert_eq!(
        names(&t, &tokyo, filtered(|i| i.level = "prefecture".into())).await,
        ["髙橋花子"]
    );
    assert!(
        names(&t, &county, filtered(|i| i.level = "prefecture".into()))
            .await
            .is_empty(),
        "the county's staff do not search the prefecture's memberships"
    );
    assert_eq!(
        names(
            &t,
            &county,
            filtered(|i| {
                i.joined_from = "2021-01-01".into();
                i.joined_to = "令和7年1月1日".into();
            })
        )
        .await,
        ["高橋健"]
    );
    // paging: counted over every page, sorted, no overlap
    let mut page1 = q("");
    page1.per_page = 2;
    page1.sort = "iseki".into();
    let found = members::search(&t.app, &county, &page1, None)
        .await
        .unwrap();
    assert_eq!(found.page.total, 3);
    assert_eq!(found.page.hits.len(), 2);
    page1.page = 2;
    let found2 = members::search(&t.app, &county, &page1, None)
        .await
        .unwrap();
    assert_eq!(found2.page.hits.len(), 1);
    assert_eq!(found2.page.hits[0].doctor.iseki.as_str(), "190003");
    // bad input is named field by field, nothing searched
    let mut bad = q("12345678");
    bad.status = "alive".into();
    bad.joined_from = "2025-13-01".into();
    match members::search(&t.app, &county, &bad, None).await {
        Err(SearchError::Fields(f)) => {
            let fields: Vec<&str> = f.iter().map(|e| e.field).collect();
            assert_eq!(fields, ["q", "status", "joined_from"]);
        }
        other => panic!("{other:?}"),
    }
    // a doctor is not a staff member
    let doc = Principal::Doctor {
        account_id: Uuid::now_v7(),
        doctor_id: None,
    };
    assert!(matches!(
        members::search(&t.app, &doc, &q(""), None).await,
        Err(SearchError::App(AppError::Forbidden))
    ));
    // county A's staff get not-found for county B's member; the view of their own is audited
    assert!(matches!(
        members::record(&t.app, &county, other, None).await,
        Err(AppError::NotFound)
    ));
    let mine = Uuid::from_u128(0x1901);
    let before = audit_count(&t, "doctor.view").await;
    let r = members::record(&t.app, &county, mine, Some("192.0.2.9".into()))
        .await
        .unwrap();
    assert_eq!(r.doctor.family_name, "髙橋");
    assert_eq!(r.memberships.len(), 2);
    assert_eq!(
        r.profile.unwrap().workplace_name.as_deref(),
        Some("神田駅前クリニック")
    );
    members::record(&t.app, &tokyo, mine, None).await.unwrap();
    let rows = audit_rows(&t, "doctor.view").await;
    assert_eq!(rows.len(), before + 2, "one audit record per view");
    let Principal::Staff { account_id, .. } = &county else {
        unreachable!()
    };
    let first = &rows[before];
    assert_eq!(first.actor, format!("account:{account_id}"));
    assert_eq!(first.target, format!("doctor:{mine}"));
    assert_eq!(first.client_addr.as_deref(), Some("192.0.2.9"));
    // the refused view wrote nothing
    assert!(rows.iter().all(|r| r.target != format!("doctor:{other}")));
}
app_test!(
    search_folds_names_inside_the_subtree,
    search_folds_and_scopes
);

async fn audit_rows<S: Store>(t: &TestApp<S>, action: &str) -> Vec<mamis_store::AuditRow> {
    let mut tx = t.app.store.read().await.unwrap();
    let rows = tx.audit_rows(0, 100_000).await.unwrap();
    tx.rollback().await.unwrap();
    rows.into_iter().filter(|r| r.action == action).collect()
}

async fn audit_count<S: Store>(t: &TestApp<S>, action: &str) -> usize {
    audit_rows(t, action).await.len()
}

/// A register line for `n` (CSV, Japanese header order below).
fn line(n: u32, family: &str, joined: &str) -> String {
    format!(
        "{},{family},花子,タカハシ,はなこ,1980-05-05,女,regular,{joined},,城東クリニック,千代田区,2006-04-20\r\n",
        500_000 + n
    )
}

const HEADER: &str = "医籍登録番号,氏,名,氏カナ,名カナ,生年月日,性別,会員種別,入会日,退会日,勤務先,市区町村,医籍登録年月日\r\n";

fn cp932(text: &str) -> Vec<u8> {
    let (b, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(!unmappable);
    b.into_owned()
}

async fn import_is_all_or_nothing<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let county = staff(&t, "P13-0001").await;
    let assoc = code("P13-0001");
    const N: u32 = 20_000;
    // ten bad rows spread over the file: each is reported on its own line
    let bad_at: [u32; 10] = [
        3, 1_500, 4_000, 7_777, 9_000, 11_111, 13_000, 15_555, 18_000, 19_999,
    ];
    let mut text = String::from(HEADER);
    for n in 0..N {
        if bad_at.contains(&n) {
            text.push_str(&line(n, "高橋", "2020-13-01"));
        } else {
            text.push_str(&line(n, "高橋", "2020-04-01"));
        }
    }
    let report = import_register(&t.app, &county, &assoc, &cp932(&text), None)
        .await
        .unwrap();
    assert_eq!(report.encoding, "CP932");
    assert_eq!(report.rows, u64::from(N));
    assert!(!report.applied());
    assert_eq!(report.total_problems, 10);
    let lines: Vec<u64> = report.problems.iter().map(|p| p.line).collect();
    let want: Vec<u64> = bad_at.iter().map(|n| u64::from(*n) + 2).collect();
    assert_eq!(lines, want);
    assert!(
        report
            .problems
            .iter()
            .all(|p| p.key == "members-import-bad-date"
                && p.column.as_deref() == Some("入会日")
                && p.value.as_deref() == Some("2020-13-01"))
    );
    assert_eq!(report.created, 0);
    let mut tx = t.app.store.read().await.unwrap();
    assert_eq!(tx.count_doctors().await.unwrap(), 0, "nothing written");
    tx.rollback().await.unwrap();

    // fixed, it imports
    let fixed = text.replace("2020-13-01", "2020-04-01");
    let report = import_register(&t.app, &county, &assoc, &cp932(&fixed), None)
        .await
        .unwrap();
    assert!(report.applied(), "{:?}", report.problems.first());
    assert_eq!(report.created, u64::from(N));
    assert_eq!(report.joined, u64::from(N));
    let mut tx = t.app.store.read().await.unwrap();
    assert_eq!(tx.count_doctors().await.unwrap(), u64::from(N));
    let d = tx
        .doctor_by_iseki(&IsekiNumber::parse("500042").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.given_kana.as_str(), "ハナコ");
    let lic = tx.licence_dates(&[d.id]).await.unwrap();
    assert_eq!(lic, [(d.id, day("2006-04-20"))]);
    let ms = tx.memberships_of(d.id).await.unwrap();
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].association, assoc);
    tx.rollback().await.unwrap();
    let audit_before = audit_count(&t, "register.import").await;
    assert_eq!(audit_before, 1);

    // the same file again changes nothing
    let again = import_register(&t.app, &county, &assoc, &cp932(&fixed), None)
        .await
        .unwrap();
    assert!(again.applied());
    assert_eq!(
        (
            again.created,
            again.updated,
            again.joined,
            again.ended,
            again.unchanged
        ),
        (0, 0, 0, 0, u64::from(N))
    );
    let mut tx = t.app.store.read().await.unwrap();
    assert_eq!(tx.count_doctors().await.unwrap(), u64::from(N));
    tx.rollback().await.unwrap();

    // a UTF-8 file with English headers ends one membership and corrects a workplace
    let en = "iseki_number,family_name,given_name,family_kana,given_kana,birth_date,sex,class,joined_on,left_on,workplace\n\
              500001,高橋,花子,タカハシ,ハナコ,1980-05-05,female,regular,2020-04-01,2026-03-31,城東クリニック\n\
              500002,高橋,花子,タカハシ,ハナコ,1980-05-05,female,regular,2020-04-01,,城西病院\n";
    let r = import_register(&t.app, &county, &assoc, en.as_bytes(), None)
        .await
        .unwrap();
    assert!(r.applied(), "{:?}", r.problems);
    assert_eq!((r.ended, r.updated, r.unchanged), (1, 1, 0));
}
app_test!(
    a_register_import_is_all_or_nothing_and_idempotent,
    import_is_all_or_nothing
);

async fn import_conflicts_show_both_values<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    doctor(
        &t,
        1,
        ("髙橋", "花子", "タカハシ", "ハナコ"),
        &[("P13-0002", "regular", "2018-04-01", None)],
        None,
    )
    .await;
    doctor(
        &t,
        2,
        ("高橋", "健", "タカハシ", "ケン"),
        &[("P13-0001", "regular", "2019-04-01", None)],
        None,
    )
    .await;
    let county = staff(&t, "P13-0001").await;
    let assoc = code("P13-0001");
    let text = format!(
        "{HEADER}\
         190001,髙橋,花子,タカハシ,ハナコ,1980-05-05,女,regular,2020-04-01,,,,\r\n\
         190002,高橋,健,タカハシ,ケン,1981-01-01,女,resident,2019-04-01,,,,\r\n\
         190003,新人,一,シンジン,ハジメ,1990-01-01,男,gold,2024-04-01,,,,\r\n\
         190003,新人,一,シンジン,ハジメ,1990-01-01,男,regular,2024-04-01,,,,\r\n"
    );
    let r = import_register(&t.app, &county, &assoc, text.as_bytes(), None)
        .await
        .unwrap();
    assert!(!r.applied());
    let got: Vec<(u64, &str, Option<&str>, Option<&str>)> = r
        .problems
        .iter()
        .map(|p| (p.line, p.key, p.value.as_deref(), p.register.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (
                2,
                "members-import-other-member",
                Some("P13-0001 2020-04-01"),
                Some("P13-0002 2018-04-01")
            ),
            (
                3,
                "members-import-birth-differs",
                Some("1981-01-01"),
                Some("1980-05-05")
            ),
            (
                3,
                "members-import-class-differs",
                Some("resident"),
                Some("regular")
            ),
            (4, "members-import-bad-class", Some("gold"), None),
            (5, "members-import-duplicate", Some("190003"), Some("4")),
        ]
    );
    // county B may not import into county A
    let other = staff(&t, "P13-0002").await;
    assert!(matches!(
        import_register(&t.app, &other, &assoc, text.as_bytes(), None).await,
        Err(AppError::Forbidden)
    ));
    // a header without the required columns is refused before any line
    let r = import_register(
        &t.app,
        &county,
        &assoc,
        "氏,名,favourite\n山田,太郎,x\n".as_bytes(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.problems[0].line, 1);
    assert!(
        r.problems
            .iter()
            .any(|p| p.key == "members-import-header-unknown")
    );
    assert!(
        r.problems
            .iter()
            .any(|p| p.key == "members-import-header-missing")
    );
}
app_test!(
    register_conflicts_are_refused_with_both_values,
    import_conflicts_show_both_values
);

async fn exports_count_geta<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    doctor(
        &t,
        1,
        ("𠮷田", "花子", "ヨシダ", "ハナコ"),
        &[("P13-0001", "regular", "2020-04-01", None)],
        Some(("神田クリニック", "千代田区")),
    )
    .await;
    doctor(
        &t,
        2,
        ("吉田", "𠮷", "ヨシダ", "ヨシ"),
        &[("P13-0001", "resident", "2021-04-01", None)],
        None,
    )
    .await;
    doctor(
        &t,
        3,
        ("山田", "太郎", "ヤマダ", "タロウ"),
        &[("P13-0001", "regular", "2021-04-01", None)],
        None,
    )
    .await;
    let county = staff(&t, "P13-0001").await;
    let mut input = q("");
    input.sort = "iseki".into();
    let cols = Column::ALL;
    let f = export::export(&t.app, &county, &input, &cols, Encoding::Cp932, None)
        .await
        .unwrap();
    assert_eq!(f.rows, 3);
    assert_eq!(f.replaced, 2);
    assert_eq!(
        f.replaced_lines,
        [(2, "190001".to_owned()), (3, "190002".to_owned())]
    );
    let (text, _, bad) = encoding_rs::SHIFT_JIS.decode(&f.bytes);
    assert!(!bad);
    assert!(text.contains("〓田,花子"));
    assert!(text.contains("吉田,〓"));
    assert!(text.starts_with("医籍登録番号,会員ID,氏,名"));
    let utf = export::export(&t.app, &county, &input, &cols, Encoding::Utf8Bom, None)
        .await
        .unwrap();
    assert!(utf.bytes.starts_with(b"\xEF\xBB\xBF"));
    assert_eq!(utf.replaced, 0);
    let text = std::str::from_utf8(&utf.bytes[3..]).unwrap();
    assert!(text.contains("𠮷田,花子"));
    assert_eq!(text.lines().count(), 4);
    assert_eq!(audit_count(&t, "doctor.export").await, 2);
    // the county's own export reads back into its register unchanged
    let r = import_register(&t.app, &county, &code("P13-0001"), &utf.bytes, None)
        .await
        .unwrap();
    assert!(r.applied(), "{:?}", r.problems);
    assert_eq!(r.unchanged, 3);
    // chosen columns only
    let few = export::export(
        &t.app,
        &county,
        &input,
        &[Column::Iseki, Column::Status],
        Encoding::Utf8Bom,
        None,
    )
    .await
    .unwrap();
    let text = std::str::from_utf8(&few.bytes[3..]).unwrap();
    assert_eq!(text.lines().next(), Some("医籍登録番号,状態"));
    assert_eq!(text.lines().nth(1), Some("190001,member"));
}
app_test!(
    exports_write_geta_for_what_cp932_cannot_hold,
    exports_count_geta
);

async fn statistics_as_of<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let c = "P13-0001";
    doctor(
        &t,
        1,
        ("一", "一", "イチ", "イチ"),
        &[(c, "regular", "2020-04-01", None)],
        None,
    )
    .await;
    doctor(
        &t,
        2,
        ("二", "二", "ニ", "ニ"),
        &[(c, "resident", "2026-05-01", None)],
        None,
    )
    .await;
    doctor(
        &t,
        3,
        ("三", "三", "サン", "サン"),
        &[(c, "regular", "2010-04-01", Some("2026-07-01"))],
        None,
    )
    .await;
    doctor(
        &t,
        4,
        ("四", "四", "ヨン", "ヨン"),
        &[
            ("P13-0002", "regular", "2010-04-01", Some("2026-09-01")),
            (c, "regular", "2026-09-01", None),
        ],
        None,
    )
    .await;
    doctor(
        &t,
        5,
        ("五", "五", "ゴ", "ゴ"),
        &[(c, "regular", "2027-01-01", None)],
        None,
    )
    .await;
    let county = staff(&t, c).await;
    let s = stats::statistics(&t.app, &county, &code(c), day("2026-12-01"))
        .await
        .unwrap();
    assert_eq!(s.classes, ["regular", "resident"]);
    assert_eq!(s.associations.len(), 1);
    assert_eq!(s.associations[0].total, 3);
    assert_eq!(
        s.associations[0].classes,
        [("regular".to_owned(), 2), ("resident".to_owned(), 1)]
    );
    let month = |m: &str| {
        *s.months
            .iter()
            .find(|r| r.month == Some(day(&format!("{m}-01"))))
            .unwrap()
    };
    assert_eq!(s.months.len(), 12);
    assert_eq!(s.months[0].month, Some(day("2026-01-01")));
    assert_eq!(month("2026-05").joins, 1);
    assert_eq!(month("2026-07").withdrawals, 1);
    assert_eq!(month("2026-09").transfers_in, 1);
    assert_eq!(month("2026-09").joins, 0);
    // the sending county sees the transfer out
    let chuo = staff(&t, "P13-0002").await;
    let s2 = stats::statistics(&t.app, &chuo, &code("P13-0002"), day("2026-12-01"))
        .await
        .unwrap();
    let sep = s2
        .months
        .iter()
        .find(|r| r.month == Some(day("2026-09-01")))
        .unwrap();
    assert_eq!((sep.transfers_out, sep.withdrawals), (1, 0));
    // outside the subtree: not found
    assert!(matches!(
        stats::statistics(&t.app, &county, &code("P13-0002"), day("2026-12-01")).await,
        Err(AppError::NotFound)
    ));
    let csv = String::from_utf8(stats::to_csv(&s).unwrap()).unwrap();
    assert!(csv.contains("P13-0001,千代田区医師会,2,1,3"));
    assert!(csv.contains("2026-09,0,1,0,0"));
}
app_test!(statistics_count_as_of_a_date, statistics_as_of);

/// The status filter against a naive model: for random memberships, a doctor is a member when
/// one in scope holds today, former when one did and none holds, and nothing otherwise.
async fn status_matches_model<S: Store>(t: TestApp<S>) {
    use mamis_app::demo::Rng;
    seed(&t).await;
    let today = mamis_domain::time::japan_date(t.app.now());
    let mut rng = Rng::new(7);
    let mut model = Vec::new();
    for n in 0..40u32 {
        let mut ms = Vec::new();
        for a in ["P13-0001", "P13-0002"] {
            if rng.chance(600) {
                let joined = today - chrono::Duration::days(1 + rng.below(900) as i64);
                let left = rng
                    .chance(500)
                    .then(|| joined + chrono::Duration::days(1 + rng.below(900) as i64));
                ms.push((a, joined, left));
            }
        }
        // one open membership per level: keep the model's input valid
        if ms.len() == 2 && ms.iter().all(|m| m.2.is_none_or(|l| l > today)) {
            ms.pop();
        }
        let owned: Vec<(String, String, Option<String>)> = ms
            .iter()
            .map(|(a, j, l)| (a.to_string(), j.to_string(), l.map(|l| l.to_string())))
            .collect();
        let refs: Vec<(&str, &str, &str, Option<&str>)> = owned
            .iter()
            .map(|(a, j, l)| (a.as_str(), "regular", j.as_str(), l.as_deref()))
            .collect();
        if refs.len() == 2 && refs[0].3.is_none() && refs[1].3.is_none() {
            continue;
        }
        doctor(&t, 100 + n, ("名", "前", "ナ", "マエ"), &refs, None).await;
        let inside: Vec<_> = ms.iter().filter(|m| m.0 == "P13-0001").collect();
        let naive = if inside
            .iter()
            .any(|m| m.1 <= today && m.2.is_none_or(|l| l > today))
        {
            Some(MemberStatus::Member)
        } else if !inside.is_empty() {
            Some(MemberStatus::Former)
        } else {
            None
        };
        model.push((190_000 + 100 + n, naive));
    }
    let county = staff(&t, "P13-0001").await;
    for (status, want) in [
        ("member", Some(MemberStatus::Member)),
        ("former", Some(MemberStatus::Former)),
    ] {
        let mut input = q("");
        input.status = status.into();
        input.per_page = 200;
        let found = members::search(&t.app, &county, &input, None)
            .await
            .unwrap();
        let mut got: Vec<u32> = found
            .page
            .hits
            .iter()
            .map(|h| h.doctor.iseki.as_str().parse().unwrap())
            .collect();
        got.sort();
        let expected: Vec<u32> = model
            .iter()
            .filter(|(_, s)| *s == want)
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(got, expected, "{status}");
    }
}
app_test!(
    the_status_filter_matches_a_naive_model,
    status_matches_model
);
