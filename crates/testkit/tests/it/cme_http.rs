//! My Page ①–④ and the CME ledger API over HTTP: what a verified doctor sees (gauge, explanation,
//! code grid, records with filters), what others are told, and the staff API's scope, audit,
//! adjustments and reversals.

use chrono::NaiveDate;
use mamis_api_types as dto;
use mamis_app::cme::{NewCredit, credit};
use mamis_app::tokens;
use mamis_domain::{
    Association, AssociationCode, HalfUnits, IsekiNumber, KanaName, MemberClass, MemberId,
    Membership, Principal, Role, RoleGrant, Scope, Sex, Source,
};
use mamis_store::{
    AccessStore, Account, AccountKind, AuditStore, Doctor, RegistryStore, Store, Tx, Verification,
};
use mamis_testkit::{TestApp, app_test, attr, html, password_login, texts};
use uuid::Uuid;

const PASSWORD: &str = "Cme-pass-2026-hinoki";
/// Doctor A: JMA member in Chiyoda (P13-0001), 56 of 60 in FY2024–2026.
const MEMBER: &str = "cme-member@example.jp";
const MEMBER_ISEKI: &str = "710001";
/// Doctor B: not a JMA member, in Chuo (P13-0002).
const NON_MEMBER: &str = "cme-nonmember@example.jp";
const NON_MEMBER_ISEKI: &str = "710002";
/// An account still waiting for identity review.
const UNVERIFIED: &str = "cme-review@example.jp";

fn code(s: &str) -> AssociationCode {
    AssociationCode::parse(s).unwrap()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn doctor(
    n: u128,
    iseki: &str,
    family: &str,
    member_id: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Doctor {
    Doctor {
        id: Uuid::from_u128(0xC3E0 + n),
        iseki: IsekiNumber::parse(iseki).unwrap(),
        family_name: family.into(),
        given_name: "太郎".into(),
        family_kana: KanaName::normalise("タンイ").unwrap(),
        given_kana: KanaName::normalise("タロウ").unwrap(),
        birth_date: day(1978, 5, 17),
        sex: Sex::Male,
        contact_email: None,
        member_id: member_id.map(|m| MemberId::parse(m).unwrap()),
        home_prefecture: None,
        created_at: now,
    }
}

/// Two doctors, three accounts and the ledger of the tests:
///
/// | doctor | FY   | source       | codes   | units each |
/// |--------|------|--------------|---------|------------|
/// | A      | 2024 | prior_system | 50–55   | 3.5        |
/// | A      | 2025 | training     | 56–60   | 2          |
/// | A      | 2026 | training     | 61, 62  | 2.5        |
/// | A      | 2026 | e_learning   | 63      | 2.5        |
/// | A      | 2026 | journal_quiz | 64      | 2.5        |
/// | B      | 2025 | training     | 12      | 1          |
///
/// A's window FY2024–2026 on 2026-06-01: 41 units + 15 codes = 56, 4 short of 60.
async fn seed<S: Store>(t: &TestApp<S>) -> (Uuid, Uuid) {
    let now = t.app.now();
    let hash = t.app.hasher.hash(PASSWORD.to_owned()).await.unwrap();
    let a = doctor(1, MEMBER_ISEKI, "単位", Some("8100000001"), now);
    let b = doctor(2, NON_MEMBER_ISEKI, "非会員", None, now);
    let mut tx = t.app.store.write().await.unwrap();
    for (c, ja, en) in [
        ("P13-0001", "千代田区医師会", "Chiyoda Medical Association"),
        ("P13-0002", "中央区医師会", "Chuo Medical Association"),
    ] {
        tx.upsert_association(&Association {
            code: code(c),
            name_ja: ja.into(),
            name_en: en.into(),
        })
        .await
        .unwrap();
    }
    tx.insert_doctor(&a).await.unwrap();
    tx.insert_doctor(&b).await.unwrap();
    let m = |c: &str| Membership {
        association: code(c),
        class: MemberClass::A1.into(),
        joined_on: day(2010, 4, 1),
        left_on: None,
    };
    tx.insert_memberships(&[
        (a.id, m("P13-0001")),
        (a.id, m("P13")),
        (a.id, m("JMA")),
        (b.id, m("P13-0002")),
        (b.id, m("P13")),
    ])
    .await
    .unwrap();
    for (n, email, d, v) in [
        (1u128, MEMBER, Some(a.id), Verification::Verified),
        (2, NON_MEMBER, Some(b.id), Verification::Verified),
        (3, UNVERIFIED, None, Verification::Review),
    ] {
        let mut acc = Account::new(
            Uuid::from_u128(0xC3A0 + n),
            email,
            "",
            AccountKind::Doctor,
            now,
        );
        acc.password_hash = Some(hash.clone());
        acc.doctor_id = d;
        acc.verification = v;
        tx.insert_account(&acc).await.unwrap();
    }
    let mut credits = Vec::new();
    let mut add = |d: Uuid,
                   date: NaiveDate,
                   source: Source,
                   codes: std::ops::RangeInclusive<u16>,
                   half: i64,
                   note: Option<&str>| {
        for c in codes {
            credits.push(NewCredit {
                doctor: d,
                date,
                source,
                code: c,
                half_units: HalfUnits::new(half),
                origin_key: format!("test:{d}:{date}:{c}"),
                note: note.map(str::to_owned),
            });
        }
    };
    add(
        a.id,
        day(2025, 3, 31),
        Source::PriorSystem,
        50..=55,
        7,
        None,
    );
    add(
        a.id,
        day(2025, 11, 8),
        Source::Training,
        56..=60,
        4,
        Some("港区医師会 学術講演会「糖尿病と脂質異常症」"),
    );
    add(
        a.id,
        day(2026, 5, 23),
        Source::Training,
        61..=62,
        5,
        Some("千代田区医師会 学術講演会「感染症のトピックス」"),
    );
    add(
        a.id,
        day(2026, 4, 20),
        Source::ELearning,
        63..=63,
        5,
        Some("日医e-ラーニング コンテンツ"),
    );
    add(
        a.id,
        day(2026, 5, 1),
        Source::JournalQuiz,
        64..=64,
        5,
        Some("日本医師会雑誌 2026年5月号 問題解答"),
    );
    add(
        b.id,
        day(2025, 7, 5),
        Source::Training,
        12..=12,
        2,
        Some("中央区医師会 学術講演会"),
    );
    let done = credit(&mut tx, &credits, "job:test", now).await.unwrap();
    assert_eq!(done.written, 16);
    tx.commit().await.unwrap();
    (a.id, b.id)
}

/// A browser logged in through /login as `email`.
async fn doctor_browser<S: Store>(t: &TestApp<S>, email: &str) -> reqwest::Client {
    let ua = mamis_testkit::browser();
    let (r, _) = password_login(t, &ua, email, PASSWORD).await;
    assert_eq!(r.status(), 303, "{email} logs in");
    ua
}

/// The language switch in the page header, as a person would use it.
async fn switch_to_english<S: Store>(t: &TestApp<S>, ua: &reqwest::Client) {
    let (_, doc) = get(t, ua, "/mypage").await;
    let csrf = attr(&doc, "input[name=csrf]", "value").unwrap();
    let r = ua
        .post(t.url("/lang"))
        .header("origin", &t.base_url)
        .form(&[("csrf", csrf.as_str()), ("lang", "en"), ("next", "/mypage")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

async fn get<S: Store>(t: &TestApp<S>, ua: &reqwest::Client, path: &str) -> (u16, scraper::Html) {
    let r = ua.get(t.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    (status, html(&r.text().await.unwrap()))
}

fn earned(doc: &scraper::Html) -> Vec<u16> {
    let sel = scraper::Selector::parse("#cme-code-grid .cc.earned").unwrap();
    doc.select(&sel)
        .map(|e| e.value().attr("data-code").unwrap().parse().unwrap())
        .collect()
}

fn rows(doc: &scraper::Html, table: &str) -> Vec<Vec<String>> {
    let tr = scraper::Selector::parse(&format!("{table} tbody tr")).unwrap();
    let cell = scraper::Selector::parse("th, td").unwrap();
    doc.select(&tr)
        .map(|r| {
            r.select(&cell)
                .map(|c| c.text().collect::<String>().trim().to_owned())
                .collect()
        })
        .collect()
}

async fn my_page_shows_the_ledger<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let a = doctor_browser(&t, MEMBER).await;

    // My Page: the card sums up the window and links to the four pages
    let (_, doc) = get(&t, &a, "/mypage").await;
    assert_eq!(
        texts(&doc, "#mypage-cme-summary"),
        ["認定に向けた期間 2024年度〜2026年度：56 / 60"]
    );
    assert_eq!(texts(&doc, "#mypage-cme a").len(), 5, "①–④ and ⑤");

    // ① the gauge, the explanation, the what-if and the grid
    let (status, doc) = get(&t, &a, "/mypage/cme").await;
    assert_eq!(status, 200);
    assert_eq!(attr(&doc, "svg#cme-gauge", "role").as_deref(), Some("img"));
    let label = attr(&doc, "svg#cme-gauge", "aria-label").unwrap();
    assert!(label.contains("56 / 60"), "{label}");
    assert_eq!(texts(&doc, "#cme-gauge-text"), ["56 / 60"]);
    assert_eq!(texts(&doc, "svg#cme-gauge .gauge-total"), ["56 / 60"]);
    assert_eq!(
        attr(&doc, "svg#cme-gauge .gauge-fill", "stroke-dasharray").as_deref(),
        Some("93 100")
    );
    assert_eq!(
        texts(&doc, "#cme-explanation"),
        ["2024年度〜2026年度：単位 41 ＋ コード数 15 ＝ 56。認定まであと 4。"]
    );
    assert_eq!(
        texts(&doc, "#cme-what-if"),
        [
            "最も少ない取得で60に達する方法: まだ取得していないカリキュラムコード3個で0.5単位ずつ、合計1.5単位を取得します（新しいコードは0.5単位でコードの1と合わせて1.5加算されます）。取得済みのコードだけで取得する場合は4単位が必要です。"
        ]
    );
    assert_eq!(texts(&doc, "#cme-code-grid .cc").len(), 84);
    assert_eq!(earned(&doc), (50..=64).collect::<Vec<u16>>());
    // readable without colour: the mark and the words are in the cells
    let cell = texts(&doc, "#cme-code-grid .cc[data-code='50']").remove(0);
    assert!(cell.contains('✓') && cell.contains("取得済み"), "{cell}");
    let cell = texts(&doc, "#cme-code-grid .cc[data-code='12']").remove(0);
    assert!(cell.contains("未取得"), "{cell}");
    assert!(
        attr(&doc, "#cme-code-grid .cc[data-code='0']", "title")
            .unwrap()
            .starts_with("0 ")
    );
    // the years, newest first: year, units, codes, units + codes, by source
    let years = rows(&doc, "#cme-years");
    assert_eq!(
        years.iter().map(|r| r[..4].to_vec()).collect::<Vec<_>>(),
        [
            ["2026年度", "10", "4", "14"],
            ["2025年度", "10", "5", "15"],
            ["2024年度", "21", "6", "27"],
        ]
    );
    assert!(years[0][4].contains("研修会: 5"), "{:?}", years[0]);
    // FY2024 is the prior system's (its totals instead of a decision date); the decision of
    // FY2025 judges FY2023–2025 on 1 December 2026, that of FY2026 FY2024–2026 a year later
    assert_eq!(
        rows(&doc, "#cme-windows"),
        [
            ["2024年度", "旧制度で判定", "21", "6", "27", "2024年度: 27"],
            [
                "2023年度〜2025年度",
                "判定前",
                "31",
                "11",
                "42",
                "2026年12月1日"
            ],
            [
                "2024年度〜2026年度",
                "判定前",
                "41",
                "15",
                "56",
                "2027年12月1日"
            ]
        ]
    );
    assert_eq!(texts(&doc, "#cme-certificates-empty").len(), 1);

    // ② training attendance, newest first, with the session's title
    let (_, doc) = get(&t, &a, "/mypage/cme/training").await;
    let training = rows(&doc, "#cme-training");
    assert_eq!(training.len(), 7);
    assert_eq!(training[0][0], "2026年5月23日");
    assert_eq!(training[0][1], "2026年度");
    assert_eq!(training[0][4], "2.5");
    assert!(training[0][5].contains("感染症のトピックス"));

    // ③ the member sees e-learning and journal quiz units and their yearly totals
    let (_, doc) = get(&t, &a, "/mypage/cme/learning").await;
    assert_eq!(rows(&doc, "#cme-learning").len(), 2);
    assert_eq!(
        rows(&doc, "#cme-learning-years"),
        [["2026年度", "2.5", "2.5"]]
    );
    assert!(texts(&doc, "#cme-members-only").is_empty());

    // ④ every record, with totals per year and code
    let (status, doc) = get(&t, &a, "/mypage/cme/records").await;
    assert_eq!(status, 200);
    assert_eq!(rows(&doc, "#cme-records").len(), 15);
    assert_eq!(texts(&doc, "#cme-records-sum .units"), ["41"]);
    assert_eq!(
        rows(&doc, "#cme-record-years"),
        [
            ["2026年度", "10", "4", "14"],
            ["2025年度", "10", "5", "15"],
            ["2024年度", "21", "6", "27"],
        ]
    );
    let codes = rows(&doc, "#cme-record-codes");
    assert_eq!(codes.len(), 15);
    assert!(codes[0][0].starts_with("50 "), "{:?}", codes[0]);
    assert_eq!(codes[0][1], "3.5");
    assert_eq!(codes[0][2], "2024年度");
    assert_eq!(earned(&doc), (50..=64).collect::<Vec<u16>>());

    // filters
    for (q, n, sum) in [
        ("?fy=2025", 5, "10"),
        ("?source=training", 7, "15"),
        ("?fy=2026&source=training", 2, "5"),
        ("?code=61", 1, "2.5"),
        ("?fy=&code=&source=", 15, "41"),
        ("?code=12", 0, ""),
    ] {
        let (status, doc) = get(&t, &a, &format!("/mypage/cme/records{q}")).await;
        assert_eq!(status, 200, "{q}");
        assert_eq!(rows(&doc, "#cme-records").len(), n, "{q}");
        if n > 0 {
            assert_eq!(texts(&doc, "#cme-records-sum .units"), [sum], "{q}");
        } else {
            assert_eq!(texts(&doc, "#cme-records-empty").len(), 1, "{q}");
        }
    }
    let (_, doc) = get(&t, &a, "/mypage/cme/records?fy=2025").await;
    assert_eq!(
        attr(&doc, "#cme-filter-fy option[selected]", "value").as_deref(),
        Some("2025")
    );
    assert_eq!(
        rows(&doc, "#cme-record-years"),
        [["2025年度", "10", "5", "15"]]
    );

    // a bad filter is explained on the page, in the page's language
    for (q, msg) in [
        (
            "?fy=abc",
            "年度（fy）は 2025 のように西暦4桁で指定してください。",
        ),
        (
            "?code=99",
            "カリキュラムコード（code）は 0〜83 の番号で指定してください。",
        ),
        (
            "?source=lecture",
            "取得方法（source）は training、e_learning、journal_quiz、declaration、staff_adjustment、prior_system のいずれかで指定してください。",
        ),
        (
            "?year=2025",
            "絞り込みに使えるのは年度（fy）、カリキュラムコード（code）、取得方法（source）だけです。アドレスを確認してください。",
        ),
    ] {
        let (status, doc) = get(&t, &a, &format!("/mypage/cme/records{q}")).await;
        assert_eq!(status, 400, "{q}");
        assert_eq!(texts(&doc, "#cme-filter-error"), [msg], "{q}");
        assert!(texts(&doc, "#cme-records").is_empty(), "{q}");
    }
    switch_to_english(&t, &a).await;
    let (status, doc) = get(&t, &a, "/mypage/cme/records?fy=abc").await;
    assert_eq!(status, 400);
    assert_eq!(
        texts(&doc, "#cme-filter-error"),
        ["Give the fiscal year (fy) as a four-digit year such as 2025."]
    );

    // English pages: the same numbers in English words
    let (_, doc) = get(&t, &a, "/mypage/cme").await;
    assert_eq!(
        texts(&doc, "#cme-explanation"),
        ["FY2024–FY2026: 41 units + 15 codes = 56. 4 more to reach the certificate."]
    );
    // the cheapest way, in words, with the plural rules of English
    assert_eq!(
        texts(&doc, "#cme-what-if"),
        [
            "The least that brings you to 60: 0.5 units in each of three curriculum codes you have not earned yet, 1.5 units in all (a new code adds 1 for the code on top of its units). In codes you have already earned you would need 4 units."
        ]
    );
}
app_test!(
    my_page_shows_the_ledger_to_its_doctor,
    my_page_shows_the_ledger
);

async fn others_are_told_why<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    // an account waiting for review: the notice on every page, no data
    let u = doctor_browser(&t, UNVERIFIED).await;
    for path in [
        "/mypage/cme",
        "/mypage/cme/training",
        "/mypage/cme/learning",
        "/mypage/cme/records",
    ] {
        let (status, doc) = get(&t, &u, path).await;
        assert_eq!(status, 403, "{path}");
        assert_eq!(texts(&doc, "h1"), ["本人確認が済んでいません"], "{path}");
        assert!(
            texts(&doc, "#cme-gauge, #cme-code-grid, table").is_empty(),
            "{path}"
        );
        assert_eq!(attr(&doc, "a.button", "href").as_deref(), Some("/mypage"));
    }
    let (_, doc) = get(&t, &u, "/mypage").await;
    assert!(texts(&doc, "#mypage-cme-summary").is_empty());
    assert_eq!(
        texts(&doc, "#mypage-cme p"),
        ["本人確認が済むと、単位の取得状況や記録をご覧になれます。"]
    );

    // a non-member: ③ explains the methods are for members, and shows no data
    let b = doctor_browser(&t, NON_MEMBER).await;
    let (status, doc) = get(&t, &b, "/mypage/cme/learning").await;
    assert_eq!(status, 200);
    assert!(texts(&doc, "#cme-members-only")[0].contains("日本医師会の会員の方だけが利用できる"));
    assert!(texts(&doc, "#cme-learning, #cme-learning-years").is_empty());
    // …but sees their own training and status
    let (_, doc) = get(&t, &b, "/mypage/cme").await;
    assert_eq!(earned(&doc), [12]);
    assert_eq!(rows(&doc, "#cme-training").len(), 0);
    let (_, doc) = get(&t, &b, "/mypage/cme/training").await;
    assert_eq!(rows(&doc, "#cme-training").len(), 1);

    // nobody logged in: sent to the login page
    let r = mamis_testkit::browser()
        .get(t.url("/mypage/cme/records"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login?next=")
    );
}
app_test!(others_see_a_notice_not_data, others_are_told_why);

// ---------------------------------------------------------------- API

async fn token<S: Store>(t: &TestApp<S>, role: Role, scope: &str) -> String {
    let g = RoleGrant::new(role, Scope::Association(code(scope))).unwrap();
    let job = Principal::Job {
        kind: "test".into(),
    };
    tokens::create(&t.app, &job, "cme test", g)
        .await
        .unwrap()
        .secret
}

async fn problem(r: reqwest::Response, status: u16) -> dto::Problem {
    assert_eq!(r.status(), status);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    r.json().await.unwrap()
}

async fn post<S: Store>(
    t: &TestApp<S>,
    path: &str,
    token: Option<&str>,
    body: serde_json::Value,
) -> reqwest::Response {
    let mut r = t.client.post(t.url(path)).json(&body);
    if let Some(tok) = token {
        r = r.bearer_auth(tok);
    }
    r.send().await.unwrap()
}

async fn summary_of<S: Store>(t: &TestApp<S>, token: &str) -> dto::CmeSummary {
    let r = t
        .api_get(
            &format!("/api/v1/doctors/{MEMBER_ISEKI}/cme/summary"),
            token,
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn own_session_reads<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let a = doctor_browser(&t, MEMBER).await;
    let r = a.get(t.url("/api/v1/me/cme/summary")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let s: dto::CmeSummary = r.json().await.unwrap();
    assert_eq!(s.doctor.iseki_number, MEMBER_ISEKI);
    assert!(s.jma_member);
    assert_eq!(s.as_of, "2026-06-01");
    assert_eq!(s.threshold, 60);
    assert_eq!(
        s.years
            .iter()
            .map(|y| (y.fiscal_year, y.units.as_str(), y.codes.len()))
            .collect::<Vec<_>>(),
        [(2026, "10", 4), (2025, "10", 5), (2024, "21", 6)]
    );
    let next = s.next_window.unwrap();
    assert_eq!(
        (next.window.from_fiscal_year, next.window.to_fiscal_year),
        (2024, 2026)
    );
    assert_eq!(next.window.status, "pending");
    assert_eq!(
        (
            next.window.units.as_str(),
            next.window.codes,
            next.window.total.as_str()
        ),
        ("41", 15, "56")
    );
    assert_eq!(next.shortfall, "4");
    assert_eq!(next.missing_codes.len(), 84 - 15);
    // 4 short: 0.5 unit in each of three new codes (3 × 1.5 = 4.5) is the least, 1.5 units
    let w = next.what_if.unwrap();
    assert_eq!(
        (
            w.units.as_str(),
            w.new_codes,
            w.extra_units.as_str(),
            w.units_in_earned_codes.as_str()
        ),
        ("1.5", 3, "0", "4")
    );

    let r = a
        .get(t.url("/api/v1/me/cme/ledger?fy=2026&source=training"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let l: dto::CmeLedger = r.json().await.unwrap();
    assert_eq!(l.entries.len(), 2);
    assert!(
        l.entries
            .iter()
            .all(|e| e.source == "training" && e.units == "2.5")
    );
    assert_eq!(l.entries[0].created_by, "job:test");
    let all: dto::CmeLedger = a
        .get(t.url("/api/v1/me/cme/ledger"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.entries.len(), 15);
    let p = problem(
        a.get(t.url("/api/v1/me/cme/ledger?fy=abc"))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(p.detail.contains("fy"), "{}", p.detail);
    let p = problem(
        a.get(t.url("/api/v1/me/cme/ledger?limit=5"))
            .header("accept-language", "en")
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(p.detail.contains("fiscal year (fy)"), "{}", p.detail);

    // no session: 401; an account not yet verified: 403
    let p = problem(
        mamis_testkit::browser()
            .get(t.url("/api/v1/me/cme/summary"))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    assert!(p.detail.contains("マイページにログイン"), "{}", p.detail);
    let u = doctor_browser(&t, UNVERIFIED).await;
    for path in ["/api/v1/me/cme/summary", "/api/v1/me/cme/ledger"] {
        let p = problem(u.get(t.url(path)).send().await.unwrap(), 403).await;
        assert_eq!(p.code, "forbidden");
        assert!(p.detail.contains("本人確認"), "{}", p.detail);
    }
}
app_test!(own_session_reads_summary_and_ledger, own_session_reads);

async fn staff_tokens<S: Store>(t: TestApp<S>) {
    let (a_id, _) = seed(&t).await;
    let chiyoda = token(&t, Role::CountyStaff, "P13-0001").await;

    // a county token reads a doctor of its county, and the view is audited…
    let s = summary_of(&t, &chiyoda).await;
    assert_eq!(s.next_window.unwrap().window.total, "56");
    let r = t
        .api_get(
            &format!("/api/v1/doctors/{MEMBER_ISEKI}/cme/ledger?code=61"),
            &chiyoda,
        )
        .await;
    assert_eq!(r.status(), 200);
    let l: dto::CmeLedger = r.json().await.unwrap();
    assert_eq!(l.entries.len(), 1);
    let mut tx = t.app.store.read().await.unwrap();
    let audit = tx.audit_rows(0, 10_000).await.unwrap();
    tx.rollback().await.unwrap();
    let views: Vec<_> = audit.iter().filter(|r| r.action == "cme.view").collect();
    assert_eq!(views.len(), 2);
    assert!(views.iter().all(|r| r.target == format!("doctor:{a_id}")
        && r.actor.starts_with("api_token:")
        && r.client_addr.is_some()));

    // …but not one outside it
    for path in [
        format!("/api/v1/doctors/{NON_MEMBER_ISEKI}/cme/summary"),
        format!("/api/v1/doctors/{NON_MEMBER_ISEKI}/cme/ledger"),
    ] {
        let p = problem(t.api_get(&path, &chiyoda).await, 403).await;
        assert_eq!(p.code, "forbidden");
    }
    // an unknown number looks exactly like a doctor outside the scope (no probing the register)…
    let p = problem(
        t.api_get("/api/v1/doctors/7777777/cme/summary", &chiyoda)
            .await,
        403,
    )
    .await;
    assert_eq!(p.code, "forbidden");
    // …while a national token is told it does not exist
    let national = token(&t, Role::JmaStaff, "JMA").await;
    problem(
        t.api_get("/api/v1/doctors/7777777/cme/summary", &national)
            .await,
        404,
    )
    .await;
    let p = problem(
        t.api_get("/api/v1/doctors/not-a-number/cme/summary", &chiyoda)
            .await,
        400,
    )
    .await;
    assert!(p.detail.contains("医籍登録番号"), "{}", p.detail);
    problem(
        t.api_get(
            &format!("/api/v1/doctors/{MEMBER_ISEKI}/cme/ledger?source=x"),
            &chiyoda,
        )
        .await,
        400,
    )
    .await;
    problem(
        t.client
            .get(t.url(&format!("/api/v1/doctors/{MEMBER_ISEKI}/cme/summary")))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    // the county cannot correct a doctor of another county
    let p = problem(
        post(
            &t,
            &format!("/api/v1/doctors/{NON_MEMBER_ISEKI}/cme/adjustments"),
            Some(&chiyoda),
            serde_json::json!({"date": "2026-05-01", "code": 12, "units": 1, "reason": "補正"}),
        )
        .await,
        403,
    )
    .await;
    assert_eq!(p.code, "forbidden");
}
app_test!(staff_tokens_read_within_their_scope, staff_tokens);

async fn adjust_and_reverse<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let jma = token(&t, Role::JmaStaff, "JMA").await;
    let adjust = format!("/api/v1/doctors/{MEMBER_ISEKI}/cme/adjustments");

    // malformed input: 400; well-formed values outside what is allowed: 422 (issue 14); the
    // detail names the field either way
    for (body, field, status) in [
        (
            serde_json::json!({"date": "2026-05-01", "code": 12, "units": "0", "reason": "補正"}),
            "units",
            422,
        ),
        (
            serde_json::json!({"date": "2026-05-01", "code": 12, "units": 0.3, "reason": "補正"}),
            "units",
            400,
        ),
        (
            serde_json::json!({"date": "2026-05-01", "code": 12, "units": "101", "reason": "補正"}),
            "units",
            422,
        ),
        (
            serde_json::json!({"date": "2026-05-01", "code": 84, "units": 1, "reason": "補正"}),
            "code",
            422,
        ),
        (
            serde_json::json!({"date": "2026-05-01", "code": "12", "units": 1, "reason": "補正"}),
            "code",
            400,
        ),
        (
            serde_json::json!({"date": "2026-05-01", "code": 12, "units": 1, "reason": "  "}),
            "reason",
            422,
        ),
        (
            serde_json::json!({"date": "2026-05-01", "code": 12, "units": 1}),
            "reason",
            400,
        ),
        (
            serde_json::json!({"date": "2027-01-01", "code": 12, "units": 1, "reason": "補正"}),
            "date",
            422,
        ),
        (
            serde_json::json!({"date": "1 May", "code": 12, "units": 1, "reason": "補正"}),
            "date",
            400,
        ),
        (
            serde_json::json!({"date": "2026-05-01", "code": 12, "units": 1, "reason": "補正", "fy": 2026}),
            "項目",
            400,
        ),
    ] {
        let p = problem(post(&t, &adjust, Some(&jma), body.clone()).await, status).await;
        assert!(p.detail.contains(field), "{body}: {}", p.detail);
        assert_eq!(
            p.code,
            if status == 400 {
                "bad-request"
            } else {
                "unprocessable"
            },
            "{body}"
        );
    }
    // a JSON number without fraction is an integer as the OpenAPI document's schema counts:
    // `12.0` passes the code check and the request is refused only for its empty reason
    let p = problem(
        post(
            &t,
            &adjust,
            Some(&jma),
            serde_json::json!({"date": "2026-05-01", "code": 12.0, "units": 1, "reason": " "}),
        )
        .await,
        422,
    )
    .await;
    assert!(p.detail.contains("reason"), "{}", p.detail);
    // the ledger's filters: a number out of range is 422, text is 400
    for (q, status) in [
        ("fy=1800", 422),
        ("code=99", 422),
        ("fy=abc", 400),
        ("code=x", 400),
    ] {
        let r = t
            .api_get(
                &format!("/api/v1/doctors/{MEMBER_ISEKI}/cme/ledger?{q}"),
                &jma,
            )
            .await;
        problem(r, status).await;
    }
    let p = problem(
        t.client
            .post(t.url(&adjust))
            .bearer_auth(&jma)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(p.detail.contains("JSON"), "{}", p.detail);

    // a doctor's own session cannot write, even to their own ledger
    let a = doctor_browser(&t, MEMBER).await;
    let p = problem(
        a.post(t.url(&adjust))
            .json(&serde_json::json!({"date": "2026-05-01", "code": 12, "units": 1, "reason": "自分で"}))
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    assert!(p.detail.contains("API トークン"), "{}", p.detail);
    // no credentials at all: 401
    problem(
        post(
            &t,
            &adjust,
            None,
            serde_json::json!({"date": "2026-05-01", "code": 12, "units": 1, "reason": "r"}),
        )
        .await,
        401,
    )
    .await;

    // JMA staff adjusts: 201 with the entry, and the summary moves
    let r = post(
        &t,
        &adjust,
        Some(&jma),
        serde_json::json!({"date": "2026-05-01", "code": 12, "units": "1.5", "reason": "出席記録の漏れを補正"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let e: dto::CmeEntry = r.json().await.unwrap();
    assert_eq!(
        (
            e.source.as_str(),
            e.code,
            e.units.as_str(),
            e.fiscal_year,
            e.date.as_str()
        ),
        ("staff_adjustment", 12, "1.5", 2026, "2026-05-01")
    );
    assert_eq!(e.note.as_deref(), Some("出席記録の漏れを補正"));
    assert!(e.created_by.starts_with("api_token:"));
    let next = summary_of(&t, &jma).await.next_window.unwrap();
    assert_eq!(
        (next.window.total.as_str(), next.shortfall.as_str()),
        ("58.5", "1.5")
    );
    assert!(!next.missing_codes.contains(&12));
    // a number works as well as a string
    let r = post(
        &t,
        &adjust,
        Some(&jma),
        serde_json::json!({"date": "2025-06-01", "code": 13, "units": 0.5, "reason": "補正"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let half: dto::CmeEntry = r.json().await.unwrap();
    assert_eq!((half.units.as_str(), half.fiscal_year), ("0.5", 2025));

    // the doctor sees the correction on ④
    let (_, doc) = get(&t, &a, "/mypage/cme/records?code=12").await;
    let shown = rows(&doc, "#cme-records");
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0][2], "医師会事務局による補正");
    assert_eq!(shown[0][4], "1.5");

    // reversal: 201, a second time 409, a reversal of the reversal 400
    let reverse = format!("/api/v1/cme/entries/{}/reversal", e.id);
    let r = post(
        &t,
        &reverse,
        Some(&jma),
        serde_json::json!({"reason": "重複のため取消"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let rev: dto::CmeEntry = r.json().await.unwrap();
    assert_eq!(rev.reverses.as_deref(), Some(e.id.as_str()));
    assert_eq!(
        (rev.units.as_str(), rev.code, rev.fiscal_year),
        ("-1.5", 12, 2026)
    );
    let p = problem(
        post(
            &t,
            &reverse,
            Some(&jma),
            serde_json::json!({"reason": "もう一度"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(p.code, "conflict");
    assert!(
        p.detail.contains("すでに取り消されています"),
        "{}",
        p.detail
    );
    let p = problem(
        post(
            &t,
            &format!("/api/v1/cme/entries/{}/reversal", rev.id),
            Some(&jma),
            serde_json::json!({"reason": "取消の取消"}),
        )
        .await,
        400,
    )
    .await;
    assert!(
        p.detail.contains("取消の記録は取り消せません"),
        "{}",
        p.detail
    );
    problem(
        post(&t, &reverse, Some(&jma), serde_json::json!({})).await,
        400,
    )
    .await;
    problem(
        post(
            &t,
            "/api/v1/cme/entries/not-a-uuid/reversal",
            Some(&jma),
            serde_json::json!({"reason": "r"}),
        )
        .await,
        400,
    )
    .await;
    problem(
        post(
            &t,
            &format!("/api/v1/cme/entries/{}/reversal", Uuid::new_v4()),
            Some(&jma),
            serde_json::json!({"reason": "r"}),
        )
        .await,
        404,
    )
    .await;
    // the doctor's session cannot reverse either
    problem(
        a.post(t.url(&format!("/api/v1/cme/entries/{}/reversal", half.id)))
            .json(&serde_json::json!({"reason": "r"}))
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;

    // the reversed code no longer counts: 41 + 0.5 units, 15 + 1 codes (13 came with the 0.5)
    let next = summary_of(&t, &jma).await.next_window.unwrap();
    assert_eq!(next.window.total, "57.5");
    assert!(next.missing_codes.contains(&12));
    let l: dto::CmeLedger = t
        .api_get(
            &format!("/api/v1/doctors/{MEMBER_ISEKI}/cme/ledger?code=12"),
            &jma,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l.entries.len(), 2);
    assert_eq!(l.entries[0].reversed_by.as_deref(), Some(rev.id.as_str()));
    assert_eq!(l.entries[1].reverses.as_deref(), Some(e.id.as_str()));
    // ④ shows the reversal with its reason, and the grid no longer marks 12
    let (_, doc) = get(&t, &a, "/mypage/cme/records?code=12").await;
    let shown = rows(&doc, "#cme-records");
    assert_eq!(shown.len(), 2);
    assert_eq!(shown[0][4], "-1.5");
    assert!(
        shown[0][5].contains("取消") && shown[0][5].contains("重複のため取消"),
        "{:?}",
        shown[0]
    );
    assert!(shown[1][5].contains("取消済み"), "{:?}", shown[1]);
    assert!(!earned(&doc).contains(&12));

    // both changes are audited
    let mut tx = t.app.store.read().await.unwrap();
    let audit = tx.audit_rows(0, 10_000).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(audit.iter().filter(|r| r.action == "cme.adjust").count(), 2);
    assert_eq!(
        audit.iter().filter(|r| r.action == "cme.reverse").count(),
        1
    );
}
app_test!(staff_adjust_and_reverse_through_the_api, adjust_and_reverse);

/// Issue 15: an adjustment is accepted while the net of its (doctor, FY, code) stays ≥ 0; a
/// negative one beyond that is refused (422 problem+json listing the nets by source) and
/// writes nothing.
async fn negative_adjustments<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let jma = token(&t, Role::JmaStaff, "JMA").await;
    let adjust = format!("/api/v1/doctors/{MEMBER_ISEKI}/cme/adjustments");
    let ledger_61 = format!("/api/v1/doctors/{MEMBER_ISEKI}/cme/ledger?code=61");
    // code 61 in FY2026: training 2.5; a staff adjustment adds 1 → net 3.5
    let r = post(
        &t,
        &adjust,
        Some(&jma),
        serde_json::json!({"date": "2026-05-01", "code": 61, "units": 1, "reason": "補正"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let r = post(
        &t,
        &adjust,
        Some(&jma),
        serde_json::json!({"date": "2026-05-02", "code": 61, "units": "-4", "reason": "減算"}),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: dto::CmeAdjustmentRefusal = r.json().await.unwrap();
    assert_eq!(
        (p.status, p.code.as_str(), p.fiscal_year, p.curriculum_code),
        (422, "negative-net", 2026, 61)
    );
    assert_eq!((p.net.as_str(), p.requested.as_str()), ("3.5", "-4"));
    let nets: Vec<(&str, &str)> = p
        .nets
        .iter()
        .map(|n| (n.source.as_str(), n.units.as_str()))
        .collect();
    assert_eq!(nets, [("training", "2.5"), ("staff_adjustment", "1")]);
    assert!(
        p.detail.contains("2026年度") && p.detail.contains("研修会 2.5"),
        "{}",
        p.detail
    );
    let l: dto::CmeLedger = t.api_get(&ledger_61, &jma).await.json().await.unwrap();
    assert_eq!(l.entries.len(), 2, "nothing written");
    // in English on request
    let r = t
        .client
        .post(t.url(&adjust))
        .bearer_auth(&jma)
        .header("accept-language", "en")
        .json(&serde_json::json!({"date": "2026-05-02", "code": 61, "units": "-4", "reason": "r"}))
        .send()
        .await
        .unwrap();
    let p: dto::CmeAdjustmentRefusal = r.json().await.unwrap();
    assert!(p.detail.contains("below zero"), "{}", p.detail);
    // down to exactly zero is accepted
    let r = post(
        &t,
        &adjust,
        Some(&jma),
        serde_json::json!({"date": "2026-05-02", "code": 61, "units": "-3.5", "reason": "減算"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let l: dto::CmeLedger = t.api_get(&ledger_61, &jma).await.json().await.unwrap();
    assert_eq!(l.entries.len(), 3);
    // a code with nothing in that year: no net to take from
    let r = post(
        &t,
        &adjust,
        Some(&jma),
        serde_json::json!({"date": "2025-06-01", "code": 0, "units": "-0.5", "reason": "減算"}),
    )
    .await;
    assert_eq!(r.status(), 422);
    let p: dto::CmeAdjustmentRefusal = r.json().await.unwrap();
    assert_eq!(
        (p.net.as_str(), p.nets.len(), p.fiscal_year),
        ("0", 0, 2025)
    );
}
app_test!(
    negative_adjustments_are_refused_with_the_nets,
    negative_adjustments
);
