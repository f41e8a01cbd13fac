//! The migration dashboard through HTTP as staff see it: counts per county within each staff
//! member's subtree, the CSV of members not yet moved, and the reminder mail sent once.

use mamis_app::AppError;
use mamis_app::migration;
use mamis_domain::{
    Association, AssociationCode, IsekiNumber, KanaName, MemberClass, MemberId, Membership,
    Principal, Role, RoleGrant, Scope, Sex,
};
use mamis_store::{
    AccessStore, Account, AccountKind, AuditStore, Doctor, IdentityStore, LegacyCredential,
    RegistryStore, Store, Tx, Verification,
};
use mamis_testkit::{TestApp, app_test, attr, html, texts};
use uuid::Uuid;

const STAFF_PASSWORD: &str = "Migration-pass-2026-kaede";

fn code(s: &str) -> AssociationCode {
    AssociationCode::parse(s).unwrap()
}

fn member_id(n: u32) -> MemberId {
    MemberId::parse(&format!("{:010}", 8_000_000 + n)).unwrap()
}

fn doctor_id(n: u32) -> Uuid {
    Uuid::from_u128(0x7700 + u128::from(n))
}

/// The register of the tests:
///
/// | n | county   | JMA member | state                              | contact |
/// |---|----------|------------|------------------------------------|---------|
/// | 1 | P13-0001 | yes        | verified MAMIS_ID (+ old credential)| yes     |
/// | 2 | P13-0001 | yes        | legacy only                        | yes     |
/// | 3 | P13-0001 | yes        | neither (account in review)        | yes     |
/// | 4 | P13-0001 | yes        | neither                            | no      |
/// | 5 | P13-0001 | left 2026-04 | (not counted)                    | yes     |
/// | 6 | P13-0002 | yes        | legacy only                        | yes     |
/// | 7 | P13-0002 | yes        | neither                            | no      |
/// | 8 | P27-0001 | yes        | verified MAMIS_ID                  | yes     |
/// | 9 | P27-0001 | yes        | neither                            | yes     |
/// |10 | —        | no         | (non-member with old credential)   | yes     |
async fn seed<S: Store>(t: &TestApp<S>) {
    let now = t.app.now();
    let mut tx = t.app.store.write().await.unwrap();
    for (c, ja, en) in [
        ("P13-0001", "千代田区医師会", "Chiyoda Medical Association"),
        ("P13-0002", "中央区医師会", "Chuo Medical Association"),
        ("P27-0001", "大阪市医師会", "Osaka City Medical Association"),
    ] {
        tx.upsert_association(&Association {
            code: code(c),
            name_ja: ja.into(),
            name_en: en.into(),
        })
        .await
        .unwrap();
    }
    let rows = [
        (1, Some("P13-0001"), Some(None), true),
        (2, Some("P13-0001"), Some(None), true),
        (3, Some("P13-0001"), Some(None), true),
        (4, Some("P13-0001"), Some(None), false),
        (5, Some("P13-0001"), Some(Some("2026-04-01")), true),
        (6, Some("P13-0002"), Some(None), true),
        (7, Some("P13-0002"), Some(None), false),
        (8, Some("P27-0001"), Some(None), true),
        (9, Some("P27-0001"), Some(None), true),
        (10, None, None, true),
    ];
    let joined: chrono::NaiveDate = "2020-04-01".parse().unwrap();
    for (n, county, jma, email) in rows {
        tx.insert_doctor(&Doctor {
            id: doctor_id(n),
            iseki: IsekiNumber::parse(&(600_000 + n).to_string()).unwrap(),
            family_name: "移行".into(),
            given_name: format!("太郎{n}"),
            family_kana: KanaName::normalise("イコウ").unwrap(),
            given_kana: KanaName::normalise("タロウ").unwrap(),
            birth_date: "1975-01-09".parse().unwrap(),
            sex: Sex::Male,
            contact_email: email.then(|| format!("member{n}@example.jp")),
            member_id: Some(member_id(n)),
            home_prefecture: None,
            created_at: now,
        })
        .await
        .unwrap();
        let m = |c: AssociationCode, left: Option<&str>| Membership {
            association: c,
            class: MemberClass::B.into(),
            joined_on: joined,
            left_on: left.map(|l| l.parse().unwrap()),
        };
        if let Some(c) = county {
            let c = code(c);
            let pref = c.prefecture_code().unwrap();
            tx.insert_memberships(&[(doctor_id(n), m(c, None)), (doctor_id(n), m(pref, None))])
                .await
                .unwrap();
        }
        if let Some(left) = jma {
            tx.insert_membership(doctor_id(n), &m(AssociationCode::jma(), left))
                .await
                .unwrap();
        }
    }
    for (n, v) in [
        (1, Verification::Verified),
        (3, Verification::Review),
        (8, Verification::Verified),
    ] {
        let mut a = Account::new(
            Uuid::new_v4(),
            &format!("mamis{n}@example.jp"),
            "",
            AccountKind::Doctor,
            now,
        );
        a.doctor_id = Some(doctor_id(n));
        a.verification = v;
        tx.insert_account(&a).await.unwrap();
    }
    let creds: Vec<LegacyCredential> = [1, 2, 6, 10]
        .into_iter()
        .map(|n| LegacyCredential {
            member_id: member_id(n),
            birth_date: "1975-01-09".parse().unwrap(),
            password_hash: None,
            retired_at: None,
            imported_at: now,
        })
        .collect();
    tx.upsert_legacy_credentials(&creds).await.unwrap();
    tx.commit().await.unwrap();
}

fn csrf_of(body: &str) -> String {
    attr(&html(body), "input[name=csrf]", "value").unwrap()
}

async fn post<S: Store>(
    t: &TestApp<S>,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client
        .post(t.url(path))
        .header("origin", &t.base_url)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// A staff account with password and TOTP, logged in through /login and /login/totp in its own
/// browser; also returns its principal for calls to the use cases.
async fn staff<S: Store>(
    t: &TestApp<S>,
    email: &str,
    role: Role,
    node: &str,
) -> (reqwest::Client, Principal) {
    let grant = RoleGrant::new(role, Scope::Association(code(node))).unwrap();
    mamis_testkit::staff_user(t, email, STAFF_PASSWORD, grant).await
}

async fn page<S: Store>(t: &TestApp<S>, c: &reqwest::Client, path: &str) -> (u16, String) {
    let r = c.get(t.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// `[verified, share, legacy, share, neither, share, total]` of a table row.
fn row(doc: &scraper::Html, id: &str) -> Vec<String> {
    [
        "verified",
        "verified-pct",
        "legacy",
        "legacy-pct",
        "neither",
        "neither-pct",
        "total",
    ]
    .iter()
    .map(|c| texts(doc, &format!("#{id} .{c}")).join("|"))
    .collect()
}

fn v(cells: [&str; 7]) -> Vec<String> {
    cells.iter().map(|s| s.to_string()).collect()
}

async fn dashboard_counts_within_each_scope<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let (chiyoda, chiyoda_p) =
        staff(&t, "m-chiyoda@example.jp", Role::CountyStaff, "P13-0001").await;
    let (chuo, _) = staff(&t, "m-chuo@example.jp", Role::CountyStaff, "P13-0002").await;
    let (tokyo, _) = staff(&t, "m-tokyo@example.jp", Role::PrefectureStaff, "P13").await;
    let (jma, jma_p) = staff(&t, "m-jma@example.jp", Role::JmaStaff, "JMA").await;

    // nobody logged in: the login page first
    let r = t.get("/office/migration").await;
    assert_eq!(r.status(), 303);

    // county staff: their county only, by default
    let (status, body) = page(&t, &chiyoda, "/office/migration").await;
    assert_eq!(status, 200);
    let doc = html(&body);
    assert_eq!(texts(&doc, "h1"), ["移行状況:MAMIS_ID への移行"]);
    assert_eq!(
        texts(&doc, "#migration-node-title"),
        ["千代田区医師会（P13-0001）"]
    );
    assert_eq!(texts(&doc, "#migration-day"), ["2026-06-01"]);
    assert_eq!(
        row(&doc, "migration-row-P13-0001"),
        v(["1", "25.0%", "1", "25.0%", "2", "50.0%", "4"])
    );
    assert_eq!(
        texts(&doc, "#migration-row-P13-0001 .name"),
        ["千代田区医師会"]
    );
    assert!(texts(&doc, "#migration-row-P13-0002").is_empty());
    assert!(texts(&doc, "#migration-row-P27-0001").is_empty());
    assert_eq!(
        attr(&doc, "#migration-csv", "href").as_deref(),
        Some("/office/migration.csv?node=P13-0001")
    );
    // outside their county: refused, whether the county, the prefecture or another county
    for node in ["P13-0002", "P13", "JMA", "P27-0001"] {
        let (status, body) = page(&t, &chiyoda, &format!("/office/migration?node={node}")).await;
        assert_eq!(status, 403, "{node}");
        assert_eq!(texts(&html(&body), "h1"), ["この操作は許可されていません"]);
    }
    let (status, _) = page(&t, &chuo, "/office/migration?node=P13-0001").await;
    assert_eq!(status, 403);
    let (status, body) = page(&t, &chuo, "/office/migration").await;
    assert_eq!(status, 200);
    assert_eq!(
        row(&html(&body), "migration-row-P13-0002"),
        v(["0", "0.0%", "1", "50.0%", "1", "50.0%", "2"])
    );

    // prefecture staff: their counties and the prefecture's total
    let (status, body) = page(&t, &tokyo, "/office/migration").await;
    assert_eq!(status, 200);
    let doc = html(&body);
    assert_eq!(
        row(&doc, "migration-row-P13-0001"),
        v(["1", "25.0%", "1", "25.0%", "2", "50.0%", "4"])
    );
    assert_eq!(
        row(&doc, "migration-row-P13-0002"),
        v(["0", "0.0%", "1", "50.0%", "1", "50.0%", "2"])
    );
    assert_eq!(
        row(&doc, "migration-total-P13"),
        v(["1", "16.7%", "2", "33.3%", "3", "50.0%", "6"])
    );
    assert!(texts(&doc, "#migration-row-P27-0001").is_empty());
    assert_eq!(texts(&doc, "#migration-h-P13"), ["東京都医師会（P13）"]);
    let (status, _) = page(&t, &tokyo, "/office/migration?node=P27").await;
    assert_eq!(status, 403);
    // drilling down into one of their counties
    let (status, body) = page(&t, &tokyo, "/office/migration?node=p13-0002").await;
    assert_eq!(status, 200);
    let doc = html(&body);
    assert!(texts(&doc, "#migration-row-P13-0001").is_empty());
    assert_eq!(texts(&doc, "#migration-row-P13-0002 .total"), ["2"]);

    // JMA staff: everything, per prefecture, with the national total
    let (status, body) = page(&t, &jma, "/office/migration").await;
    assert_eq!(status, 200);
    let doc = html(&body);
    assert_eq!(
        row(&doc, "migration-pref-P13"),
        v(["1", "16.7%", "2", "33.3%", "3", "50.0%", "6"])
    );
    assert_eq!(
        row(&doc, "migration-pref-P27"),
        v(["1", "50.0%", "0", "0.0%", "1", "50.0%", "2"])
    );
    assert_eq!(
        row(&doc, "migration-row-P27-0001"),
        v(["1", "50.0%", "0", "0.0%", "1", "50.0%", "2"])
    );
    assert_eq!(
        row(&doc, "migration-total"),
        v(["2", "25.0%", "2", "25.0%", "4", "50.0%", "8"])
    );
    // a prefecture without members
    let (status, body) = page(&t, &jma, "/office/migration?node=P01").await;
    assert_eq!(status, 200);
    assert_eq!(texts(&html(&body), "#migration-empty").len(), 1);

    // bad input: an unknown code and a malformed one, each with its own message
    let (status, body) = page(&t, &jma, "/office/migration?node=P13-0099").await;
    assert_eq!(status, 404);
    let doc = html(&body);
    assert_eq!(
        texts(&doc, "#migration-error"),
        ["この医師会コードの医師会は登録されていません。コードを確認してください。"]
    );
    // the associations are chosen from a list of those in scope: an unknown code is not offered
    assert!(texts(&doc, "#migration-node option[value='P13-0099']").is_empty());
    assert_eq!(
        texts(&doc, "#migration-node option[value='P13-0001']"),
        ["千代田区医師会（P13-0001）"]
    );
    let (status, body) = page(&t, &jma, "/office/migration?node=Tokyo").await;
    assert_eq!(status, 400);
    assert_eq!(
        texts(&html(&body), "#migration-error"),
        ["医師会コードは JMA、P01〜P47、または P13-0001 の形式で入力してください。"]
    );
    // outside one's scope, an unknown code is refused before it is looked up
    let (status, _) = page(&t, &chiyoda, "/office/migration?node=P13-0099").await;
    assert_eq!(status, 403);

    // the use case itself
    assert!(matches!(
        migration::dashboard(&t.app, &jma_p, &code("P13-0099")).await,
        Err(AppError::NotFound)
    ));
    assert!(matches!(
        migration::dashboard(&t.app, &chiyoda_p, &code("P13")).await,
        Err(AppError::Forbidden)
    ));
    let d = migration::dashboard(&t.app, &jma_p, &AssociationCode::jma())
        .await
        .unwrap();
    assert_eq!(
        d.prefectures
            .iter()
            .map(|p| (p.code.to_string(), p.counties.len(), p.progress.total()))
            .collect::<Vec<_>>(),
        [("P13".to_owned(), 2, 6), ("P27".to_owned(), 1, 2)]
    );
    // in English (the language switch sets the cookie in this browser)
    let csrf = csrf_of(&page(&t, &jma, "/office/migration").await.1);
    let r = post(
        &t,
        &jma,
        "/lang",
        &[
            ("csrf", &csrf),
            ("lang", "en"),
            ("next", "/office/migration"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, body) = page(&t, &jma, "/office/migration?node=P13").await;
    let doc = html(&body);
    assert_eq!(
        texts(&doc, "h1"),
        ["Migration progress: moving to MAMIS_ID"]
    );
    assert_eq!(
        texts(&doc, "#migration-row-P13-0001 .name"),
        ["Chiyoda Medical Association"]
    );
    assert!(texts(&doc, "th").contains(&"Legacy ID only".to_owned()));
    assert_eq!(
        texts(&doc, "#migration-row-P13-0001 .verified-pct"),
        ["25.0%"]
    );
}
app_test!(migration_dashboard, dashboard_counts_within_each_scope);

async fn audit_actions<S: Store>(t: &TestApp<S>, action: &str) -> Vec<mamis_store::AuditRow> {
    let mut tx = t.app.store.read().await.unwrap();
    let rows = tx.audit_rows(0, 10_000).await.unwrap();
    tx.rollback().await.unwrap();
    rows.into_iter().filter(|r| r.action == action).collect()
}

async fn csv_lists_members_not_yet_moved<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let (chiyoda, chiyoda_p) =
        staff(&t, "c-chiyoda@example.jp", Role::CountyStaff, "P13-0001").await;
    let (chuo, _) = staff(&t, "c-chuo@example.jp", Role::CountyStaff, "P13-0002").await;

    let r = chiyoda
        .get(t.url("/office/migration.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"mamis-migration-P13-0001-20260601.csv\""
    );
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "UTF-8 BOM");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines,
        [
            "会員ID / Member ID,氏名 / Name,都道府県医師会 / Prefecture,郡市区等医師会コード / County code,郡市区等医師会 / County association,状況 / Status,連絡先メール / Contact e-mail,メール送付可 / Contact address on file",
            "0008000002,移行 太郎2,東京都医師会,P13-0001,千代田区医師会,従来IDのみ / Legacy ID only,member2@example.jp,あり / yes",
            "0008000003,移行 太郎3,東京都医師会,P13-0001,千代田区医師会,未移行・従来IDなし / Neither,member3@example.jp,あり / yes",
            "0008000004,移行 太郎4,東京都医師会,P13-0001,千代田区医師会,未移行・従来IDなし / Neither,,なし / no",
        ]
    );

    // personal data: the export is audited, with where it went
    let audited = audit_actions(&t, "migration.export").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].target, "association:P13-0001");
    assert!(audited[0].actor.starts_with("account:"));
    assert!(audited[0].client_addr.is_some());
    let details: serde_json::Value = serde_json::from_str(&audited[0].details).unwrap();
    assert_eq!(details["rows"], 3);
    assert_eq!(details["without_address"], 1);

    // another county's staff: refused, and nothing is audited
    let r = chuo
        .get(t.url("/office/migration.csv?node=P13-0001"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(audit_actions(&t, "migration.export").await.len(), 1);
    // a malformed code
    let r = chiyoda
        .get(t.url("/office/migration.csv?node=13-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // the use case: every row of the subtree
    let jma = Principal::Job {
        kind: "test".into(),
    };
    let all = migration::export_csv(&t.app, &jma, &AssociationCode::jma(), None)
        .await
        .unwrap();
    assert!(all.starts_with('\u{feff}'));
    assert_eq!(all.lines().count(), 1 + 6);
    assert!(matches!(
        migration::export_csv(&t.app, &chiyoda_p, &code("P13-0002"), None).await,
        Err(AppError::Forbidden)
    ));
}
app_test!(migration_csv_export, csv_lists_members_not_yet_moved);

/// A doctor who becomes a JMA member of P13-0002 with a contact address, after the first runs.
async fn join_chuo_member<S: Store>(t: &TestApp<S>, n: u32) {
    let now = t.app.now();
    let mut tx = t.app.store.write().await.unwrap();
    tx.insert_doctor(&Doctor {
        id: doctor_id(n),
        iseki: IsekiNumber::parse(&(600_000 + n).to_string()).unwrap(),
        family_name: "移行".into(),
        given_name: format!("太郎{n}"),
        family_kana: KanaName::normalise("イコウ").unwrap(),
        given_kana: KanaName::normalise("タロウ").unwrap(),
        birth_date: "1975-01-09".parse().unwrap(),
        sex: Sex::Male,
        contact_email: Some(format!("member{n}@example.jp")),
        member_id: Some(member_id(n)),
        home_prefecture: None,
        created_at: now,
    })
    .await
    .unwrap();
    for c in ["P13-0002", "P13", "JMA"] {
        let m = Membership {
            association: code(c),
            class: MemberClass::B.into(),
            joined_on: t.clock_date(),
            left_on: None,
        };
        tx.insert_membership(doctor_id(n), &m).await.unwrap();
    }
    tx.commit().await.unwrap();
}

async fn remind_mails_each_member_once<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let (tokyo, _) = staff(&t, "r-tokyo@example.jp", Role::PrefectureStaff, "P13").await;
    let (chuo, chuo_p) = staff(&t, "r-chuo@example.jp", Role::CountyStaff, "P13-0002").await;
    let (jma, _) = staff(&t, "r-jma@example.jp", Role::JmaStaff, "JMA").await;
    let before = t.mails().await.len();

    let (_, body) = page(&t, &tokyo, "/office/migration?node=P13").await;
    let doc = html(&body);
    assert_eq!(
        attr(&doc, "#migration-remind-form input[name=node]", "value").as_deref(),
        Some("P13")
    );
    let csrf = csrf_of(&body);

    // without the CSRF token: refused, nothing sent
    let r = post(&t, &tokyo, "/office/migration/remind", &[("node", "P13")]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(t.mails().await.len(), before);

    // another county's staff cannot remind a county outside their scope
    let chuo_csrf = csrf_of(&page(&t, &chuo, "/office/migration").await.1);
    let r = post(
        &t,
        &chuo,
        "/office/migration/remind",
        &[("csrf", &chuo_csrf), ("node", "P13-0001")],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(t.mails().await.len(), before);

    // the first post asks, saying how many members are waiting; nothing is queued yet
    let queued = |body: &str| texts(&html(body), "#migration-remind-queued").len();
    let r = post(
        &t,
        &tokyo,
        "/office/migration/remind",
        &[("csrf", &csrf), ("node", "P13")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let asked = html(&r.text().await.unwrap());
    assert_eq!(
        texts(&asked, "#confirm-title"),
        ["移行の案内メールを送りますか"]
    );
    assert!(texts(&asked, "#migration-remind-queued").is_empty());
    assert_eq!(
        attr(&asked, "#confirm-form input[name=node]", "value").as_deref(),
        Some("P13")
    );
    t.worker(vec![]).drain().await.unwrap();
    assert_eq!(t.mails().await.len(), before, "asking mails nobody");

    // confirmed, the page queues the run and says so; a worker mails
    let r = post(
        &t,
        &tokyo,
        "/office/migration/remind",
        &[("csrf", &csrf), ("node", "P13"), ("confirmed", "1")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(queued(&r.text().await.unwrap()), 1);
    assert_eq!(
        t.mails().await.len(),
        before,
        "nothing sent before the worker runs"
    );
    t.worker(vec![]).drain().await.unwrap();
    let mails = t.mails().await;
    assert_eq!(mails.len(), before + 3);
    let mut to: Vec<&str> = mails[..3].iter().map(|m| m.to_addr.as_str()).collect();
    to.sort();
    assert_eq!(
        to,
        [
            "member2@example.jp",
            "member3@example.jp",
            "member6@example.jp"
        ]
    );
    let m = mails
        .iter()
        .find(|m| m.to_addr == "member2@example.jp")
        .unwrap();
    assert_eq!(
        m.subject,
        "【MAMIS】MAMIS_ID への移行のお願い / Please move to MAMIS_ID"
    );
    assert!(m.body_text.starts_with("移行 太郎2 先生"));
    assert!(
        m.body_text
            .contains(&format!("{}register", t.app.config.base_url))
    );
    assert!(
        m.body_text
            .contains("2026-04-01 00:00（日本時間）をもって使えなくなりました")
    );
    assert!(
        m.body_text
            .contains("stopped working on 2026-04-01 00:00 (Japan time)")
    );

    // run twice, mailed once: the second run only counts
    let r = post(
        &t,
        &tokyo,
        "/office/migration/remind",
        &[("csrf", &csrf), ("node", "P13"), ("confirmed", "1")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(queued(&r.text().await.unwrap()), 1);
    t.worker(vec![]).drain().await.unwrap();
    assert_eq!(t.mails().await.len(), before + 3);

    // the send jobs run (no relay in tests: the mail stays in the outbox); a run afterwards,
    // on a wider node, mails only the member not reminded yet
    t.worker(vec![]).drain().await.unwrap();
    let r = post(
        &t,
        &jma,
        "/office/migration/remind",
        &[
            (
                "csrf",
                &csrf_of(&page(&t, &jma, "/office/migration").await.1),
            ),
            ("node", "JMA"),
            ("confirmed", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(queued(&r.text().await.unwrap()), 1);
    t.worker(vec![]).drain().await.unwrap();
    let mails = t.mails().await;
    assert_eq!(mails.len(), before + 4);
    assert_eq!(mails[0].to_addr, "member9@example.jp");
    // nobody got two reminders
    let mut addrs: Vec<&str> = mails.iter().map(|m| m.to_addr.as_str()).collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), mails.len());

    // a member who joins now, reminded by two runs at once: mailed once
    join_chuo_member(&t, 11).await;
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (app, who) = (t.app.clone(), chuo_p.clone());
            tokio::spawn(async move {
                migration::remind(&app, &who, &code("P13-0002"), None)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut reports = Vec::new();
    for r in runs {
        reports.push(r.await.unwrap());
    }
    assert_eq!(reports.iter().map(|r| r.queued).sum::<u64>(), 1);
    assert_eq!(
        reports.iter().map(|r| r.already_reminded).sum::<u64>(),
        1 + 2,
        "member 6 twice, member 11 by the run that lost"
    );
    assert!(reports.iter().all(|r| r.without_address == 1));
    let mails = t.mails().await;
    assert_eq!(mails.len(), before + 5);
    assert_eq!(
        mails
            .iter()
            .filter(|m| m.to_addr == "member11@example.jp")
            .count(),
        1
    );
    assert!(matches!(
        migration::remind(&t.app, &chuo_p, &code("P13-0001"), None).await,
        Err(AppError::Forbidden)
    ));
    // an unknown node under one's scope is a clear error, not an empty success
    let job = Principal::Job {
        kind: "test".into(),
    };
    assert!(matches!(
        migration::remind(&t.app, &job, &code("P13-0099"), None).await,
        Err(AppError::NotFound)
    ));
    let r = post(
        &t,
        &jma,
        "/office/migration/remind",
        &[
            (
                "csrf",
                &csrf_of(&page(&t, &jma, "/office/migration").await.1),
            ),
            ("node", "P13-0099"),
            ("confirmed", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        texts(&html(&r.text().await.unwrap()), "#migration-error"),
        ["この医師会コードの医師会は登録されていません。コードを確認してください。"]
    );

    // each request is audited under the staff member, each run names whom it mailed
    let requests = audit_actions(&t, "migration.remind_request").await;
    assert_eq!(requests.len(), 3, "the three accepted button presses");
    assert!(requests.iter().all(|r| r.actor.starts_with("account:")));
    assert_eq!(requests[0].target, "association:P13");
    let audited = audit_actions(&t, "migration.remind").await;
    assert!(audited.len() >= 3);
    assert_eq!(audited[0].actor, "job:migration.remind");
    let first: serde_json::Value = serde_json::from_str(&audited[0].details).unwrap();
    assert_eq!(first["mailed"].as_array().unwrap().len(), 3);
    assert_eq!(first["without_address"], 2);
}
app_test!(migration_remind, remind_mails_each_member_once);
