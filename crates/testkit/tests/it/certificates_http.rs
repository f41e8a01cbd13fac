//! Certificates over HTTP: My Page ⑤ downloads (認定証, 学習単位取得証, 受講証明書), the public
//! verification page (valid, revoked, expired; one "not found" for every miss; the rate limit),
//! and the office's revocation form and review list, on both backends; and a demo doctor
//! downloading the three PDFs in Chromium.

use std::ops::ControlFlow;

use chrono::NaiveDate;
use mamis_app::cme::{self, NewCredit, certificates};
use mamis_domain::{
    Association, AssociationCode, FiscalYear, HalfUnits, IsekiNumber, KanaName, MemberClass,
    Membership, Principal, Role, RoleGrant, Scope, Sex, Source,
};
use mamis_store::{
    AccessStore, Account, AccountKind, CertificateRecord, CertificateStore, Doctor, LedgerStore,
    RegistryStore, Store, Tx, Verification,
};
use mamis_testkit::{TestApp, app_test, attr, html, password_login, staff_user, texts};
use uuid::Uuid;

const PASSWORD: &str = "Cert-pass-2026-keyaki";
const STAFF_PASSWORD: &str = "Cert-staff-2026-kusunoki";
/// Doctor A (証明 花子): certificate FY2023–2025, attendance in FY2025 and FY2026.
const HOLDER: &str = "cert-holder@example.jp";
/// Doctor B (期限 次郎): certificate FY2023–2025 as well.
const OTHER: &str = "cert-other@example.jp";

fn code(s: &str) -> AssociationCode {
    AssociationCode::parse(s).unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn japan(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn job() -> Principal {
    Principal::Job {
        kind: "test".into(),
    }
}

fn doctor(n: u128, family: &str, given: &str, now: chrono::DateTime<chrono::Utc>) -> Doctor {
    Doctor {
        id: Uuid::from_u128(0xCE00 + n),
        iseki: IsekiNumber::parse(&(730_000 + n).to_string()).unwrap(),
        family_name: family.into(),
        given_name: given.into(),
        family_kana: KanaName::normalise("ショウメイ").unwrap(),
        given_kana: KanaName::normalise("ハナコ").unwrap(),
        birth_date: day("1975-09-12"),
        sex: Sex::Female,
        contact_email: None,
        member_id: None,
        home_prefecture: None,
        created_at: now,
    }
}

/// Two verified doctors in Chiyoda (P13-0001), each reaching 60 in FY2023–2025 (20 codes of
/// prior-system credit in FY2023, 10 codes of training in FY2025, 1 unit each). A also took
/// e-learning in FY2025 and training in FY2026 (the current year on the test clock). Then the
/// windows ending in FY2025 are decided: both get a certificate issued 2026-06-01.
async fn seed<S: Store>(t: &TestApp<S>) -> (Uuid, Uuid) {
    let now = t.app.now();
    let hash = t.app.hasher.hash(PASSWORD.to_owned()).await.unwrap();
    let a = doctor(1, "証明", "花子", now);
    let b = doctor(2, "期限", "次郎", now);
    let mut tx = t.app.store.write().await.unwrap();
    tx.upsert_association(&Association {
        code: code("P13-0001"),
        name_ja: "千代田区医師会".into(),
        name_en: "Chiyoda Medical Association".into(),
    })
    .await
    .unwrap();
    let mut credits = Vec::new();
    for (n, (d, email)) in [(&a, HOLDER), (&b, OTHER)].into_iter().enumerate() {
        tx.insert_doctor(d).await.unwrap();
        for c in ["P13-0001", "P13"] {
            tx.insert_memberships(&[(
                d.id,
                Membership {
                    association: code(c),
                    class: MemberClass::A1.into(),
                    joined_on: day("2010-04-01"),
                    left_on: None,
                },
            )])
            .await
            .unwrap();
        }
        let mut acc = Account::new(
            Uuid::from_u128(0xCEA0 + n as u128),
            email,
            "",
            AccountKind::Doctor,
            now,
        );
        acc.password_hash = Some(hash.clone());
        acc.doctor_id = Some(d.id);
        acc.verification = Verification::Verified;
        tx.insert_account(&acc).await.unwrap();
        for c in 0..30u16 {
            let (date, source, note) = if c < 20 {
                (day("2024-03-31"), Source::PriorSystem, None)
            } else {
                (
                    day("2025-10-04"),
                    Source::Training,
                    Some("千代田区医師会 学術講演会「高血圧の最新治療」".to_owned()),
                )
            };
            credits.push(NewCredit {
                doctor: d.id,
                date,
                source,
                code: c,
                half_units: HalfUnits::new(2),
                origin_key: format!("cert-test:{n}:{c}"),
                note,
            });
        }
    }
    for (date, source, c, note) in [
        (
            "2025-11-20",
            Source::ELearning,
            40,
            "日医e-ラーニング「感染症対策」",
        ),
        (
            "2026-05-16",
            Source::Training,
            41,
            "千代田区医師会 学術講演会「在宅医療」",
        ),
    ] {
        credits.push(NewCredit {
            doctor: a.id,
            date: day(date),
            source,
            code: c,
            half_units: HalfUnits::new(2),
            origin_key: format!("cert-test:extra:{c}"),
            note: Some(note.into()),
        });
    }
    cme::credit(&mut tx, &credits, "job:test", now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let fy = FiscalYear::new(2025).unwrap();
    let report = certificates::decide(&t.app, &job(), fy, |_, _| ControlFlow::Continue(()))
        .await
        .unwrap();
    assert_eq!(report.issued, 2);
    (a.id, b.id)
}

/// The one MAMIS certificate of `doctor`.
async fn certificate_of<S: Store>(t: &TestApp<S>, doctor: Uuid) -> CertificateRecord {
    let mut tx = t.app.store.read().await.unwrap();
    let mut v = tx.certificates_of(doctor, cme::PROGRAMME).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(v.len(), 1);
    v.remove(0)
}

/// A browser logged in through /login as `email`.
async fn doctor_browser<S: Store>(t: &TestApp<S>, email: &str) -> (reqwest::Client, String) {
    let ua = mamis_testkit::browser();
    let (r, csrf) = password_login(t, &ua, email, PASSWORD).await;
    assert_eq!(r.status(), 303, "{email} logs in");
    (ua, csrf)
}

async fn get<S: Store>(t: &TestApp<S>, ua: &reqwest::Client, path: &str) -> (u16, scraper::Html) {
    let r = ua.get(t.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    (status, html(&r.text().await.unwrap()))
}

/// A form post as the browser would send it (same origin, the page's token).
async fn post<S: Store>(
    t: &TestApp<S>,
    ua: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    ua.post(t.url(path))
        .header("origin", &t.base_url)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// A PDF download: its file name and bytes (after checking the headers every download has).
async fn pdf(r: reqwest::Response) -> (String, Vec<u8>) {
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    let name = disposition
        .strip_prefix("attachment; filename=\"")
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{disposition}"))
        .to_owned();
    let body = r.bytes().await.unwrap().to_vec();
    assert!(body.starts_with(b"%PDF-"), "{name} is a PDF");
    (name, body)
}

fn verify_path(number: &str, code: &str) -> String {
    format!("/verify/{number}?c={code}")
}

/// The verification page as anyone sees it: status, body text and the parsed page.
async fn verify<S: Store>(t: &TestApp<S>, path: &str) -> (u16, String, scraper::Html) {
    let r = mamis_testkit::browser()
        .get(t.url(path))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    let doc = html(&body);
    (status, body, doc)
}

fn one(doc: &scraper::Html, selector: &str) -> String {
    let v = texts(doc, selector);
    assert_eq!(v.len(), 1, "{selector}: {v:?}");
    v[0].clone()
}

// ---------------------------------------------------------------- /verify

async fn verification_story<S: Store>(t: TestApp<S>) {
    let (a, b) = seed(&t).await;
    let ca = certificate_of(&t, a).await;
    let cb = certificate_of(&t, b).await;
    let code_a = ca.verification_code.clone().unwrap();
    let code_b = cb.verification_code.clone().unwrap();
    assert_eq!(ca.valid_until, Some(day("2029-05-31")));

    // valid: type, period, issue date, validity, masked holder; never indexed or cached
    let (status, _, doc) = verify(&t, &verify_path(&ca.number, &code_a)).await;
    assert_eq!(status, 200);
    assert_eq!(
        attr(&doc, "#verify-status", "data-status").as_deref(),
        Some("valid")
    );
    assert_eq!(one(&doc, "#verify-status"), "有効");
    assert_eq!(
        one(&doc, "#verify-status-detail"),
        "この証明書は有効です（2029年5月31日まで）。"
    );
    assert_eq!(one(&doc, "#verify-kind"), "日医生涯教育認定証");
    assert_eq!(one(&doc, "#verify-number"), ca.number);
    assert_eq!(one(&doc, "#verify-period"), "2023年度〜2025年度");
    assert_eq!(one(&doc, "#verify-issued"), "2026年6月1日");
    assert_eq!(one(&doc, "#verify-valid-until"), "2029年5月31日");
    assert_eq!(one(&doc, "#verify-holder"), "証○ 花○");
    assert!(texts(&doc, "#verify-reason").is_empty());
    assert_eq!(
        attr(&doc, "meta[name=robots]", "content").as_deref(),
        Some("noindex, nofollow")
    );
    // the code as printed (grouped, lower case) works too
    let spaced = format!("{}-{}", &code_a[..8], &code_a[8..]).to_lowercase();
    let (status, _, _) = verify(&t, &verify_path(&ca.number, &spaced)).await;
    assert_eq!(status, 200);

    // English, through the page's own switch
    let (_, _, doc) = verify(&t, &verify_path(&ca.number, &code_a)).await;
    let en = attr(&doc, "#lang-switch", "href").unwrap();
    let (status, _, doc) = verify(&t, &en).await;
    assert_eq!(status, 200);
    assert_eq!(one(&doc, "#verify-status"), "Valid");
    assert_eq!(one(&doc, "#verify-period"), "FY2023–FY2025");
    assert_eq!(
        one(&doc, "#verify-kind"),
        "JMA CME certificate (日医生涯教育認定証)"
    );
    assert_eq!(one(&doc, "#verify-valid-until"), "May 31, 2029");

    // the manual form leads to the same answer
    let r = mamis_testkit::browser()
        .get(t.url(&format!(
            "/verify?number={}&c={code_a}",
            ca.number.to_lowercase()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    let (status, _, doc) = verify(&t, &to).await;
    assert_eq!(status, 200);
    assert_eq!(one(&doc, "#verify-number"), ca.number);

    // JMA staff revoke A's certificate through the office form
    let (jma, _) = staff_user(
        &t,
        "cert-jma@example.jp",
        STAFF_PASSWORD,
        RoleGrant::new(Role::JmaStaff, Scope::Association(code("JMA"))).unwrap(),
    )
    .await;
    let (_, doc) = get(&t, &jma, "/office").await;
    assert_eq!(
        attr(&doc, "#office-nav-certificates", "href").as_deref(),
        Some("/office/certificates")
    );
    let (status, doc) = get(&t, &jma, "/office/certificates").await;
    assert_eq!(status, 200);
    let csrf = attr(&doc, "#revoke-form input[name=csrf]", "value").unwrap();
    // the first post only asks: whose certificate the typed number is, and nothing changes yet
    let typed = ca.number.to_lowercase();
    let r = post(
        &t,
        &jma,
        "/office/certificates/revoke",
        &[
            ("csrf", csrf.as_str()),
            ("number", typed.as_str()),
            ("category", "error"),
            ("reason", "研修会の出席が二重に登録されていたため"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(one(&doc, "#confirm-title"), "この証明書を取り消しますか");
    let facts = texts(&doc, "#confirm-facts dd");
    assert!(facts.contains(&ca.number), "{facts:?}");
    assert!(facts.contains(&"証明 花子".to_owned()), "{facts:?}");
    assert!(facts.contains(&"発行内容の誤り".to_owned()), "{facts:?}");
    assert_eq!(
        attr(&doc, "#confirm-form input[name=confirmed]", "value").as_deref(),
        Some("1")
    );
    let (_, _, before) = verify(&t, &verify_path(&ca.number, &code_a)).await;
    assert_eq!(
        attr(&before, "#verify-status", "data-status").as_deref(),
        Some("valid"),
        "asking revokes nothing"
    );
    assert!(
        t.mails()
            .await
            .iter()
            .all(|m| m.to_addr != HOLDER || !m.subject.contains("取り消されました")),
        "asking tells the holder nothing"
    );
    let r = post(
        &t,
        &jma,
        "/office/certificates/revoke",
        &[
            ("csrf", csrf.as_str()),
            ("number", ca.number.as_str()),
            ("category", "error"),
            ("reason", "研修会の出席が二重に登録されていたため"),
            ("confirmed", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let back = r.headers()["location"].to_str().unwrap().to_owned();
    let (_, doc) = get(&t, &jma, &back).await;
    assert_eq!(
        one(&doc, "#revoke-done"),
        format!("{} を取り消しました。", ca.number)
    );

    let (status, _, doc) = verify(&t, &verify_path(&ca.number, &code_a)).await;
    assert_eq!(status, 200);
    assert_eq!(
        attr(&doc, "#verify-status", "data-status").as_deref(),
        Some("revoked")
    );
    assert_eq!(one(&doc, "#verify-status"), "取り消し済み");
    assert_eq!(
        one(&doc, "#verify-status-detail"),
        "この証明書は 2026年6月1日 に取り消されています。"
    );
    assert_eq!(one(&doc, "#verify-reason"), "発行内容の誤り");
    // the staff member's own words stay private
    assert!(!doc.html().contains("二重に登録"));
    let mails = t.mails().await;
    let mail = mails
        .iter()
        .find(|m| m.to_addr == HOLDER)
        .expect("the holder is told");
    assert!(
        mail.subject.contains("取り消されました"),
        "{}",
        mail.subject
    );
    assert!(mail.body_text.contains(&ca.number));

    // revoking again: the form says so
    let r = post(
        &t,
        &jma,
        "/office/certificates/revoke",
        &[
            ("csrf", csrf.as_str()),
            ("number", ca.number.as_str()),
            ("category", "fraud"),
            ("reason", "再度"),
            ("confirmed", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 409);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(
        one(&doc, "#revoke-error"),
        "この証明書はすでに取り消されています。"
    );
    assert_eq!(
        attr(&doc, "#revoke-number", "value").as_deref(),
        Some(ca.number.as_str())
    );

    // B's certificate, once its validity has ended
    t.clock.set(japan("2029-06-01T09:00:00+09:00"));
    let (status, _, doc) = verify(&t, &verify_path(&cb.number, &code_b)).await;
    assert_eq!(status, 200);
    assert_eq!(
        attr(&doc, "#verify-status", "data-status").as_deref(),
        Some("expired")
    );
    assert_eq!(one(&doc, "#verify-status"), "有効期限切れ");
    assert_eq!(
        one(&doc, "#verify-status-detail"),
        "この証明書の有効期限は 2029年5月31日 で終了しています。"
    );
    assert_eq!(one(&doc, "#verify-holder"), "期○ 次○");

    // a wrong code, a missing code, another certificate's code and an unknown number: the same
    // 404, byte for byte, from an anonymous browser and from a logged-in one alike
    let wrong = "AAAAAAAAAAAAAAAA";
    let (s1, unknown, _) = verify(&t, &verify_path("N2026-999999", &code_b)).await;
    let (s2, bad_code, _) = verify(&t, &verify_path(&cb.number, wrong)).await;
    let (s3, no_code, _) = verify(&t, &format!("/verify/{}", cb.number)).await;
    let (s4, crossed, _) = verify(&t, &verify_path(&cb.number, &code_a)).await;
    let r = jma
        .get(t.url(&verify_path(&cb.number, wrong)))
        .send()
        .await
        .unwrap();
    let s5 = r.status().as_u16();
    let logged_in = r.text().await.unwrap();
    assert_eq!([s1, s2, s3, s4, s5], [404; 5]);
    assert_eq!(unknown, bad_code);
    assert_eq!(unknown, no_code);
    assert_eq!(unknown, crossed);
    assert_eq!(unknown, logged_in);
    let doc = html(&unknown);
    assert_eq!(one(&doc, "h1"), "証明書が見つかりません");
    assert!(!unknown.contains(&cb.number) && !unknown.contains("N2026-999999"));
    assert!(!unknown.contains(wrong) && !unknown.contains(&code_b));
    assert_eq!(
        attr(&doc, "meta[name=robots]", "content").as_deref(),
        Some("noindex, nofollow")
    );

    // the rate limit: 30 lookups a minute per address, counted in the store (6 made at this
    // instant, which opened the window), then a wait until the window ends
    let mut admitted = 6;
    let limited = loop {
        let r = mamis_testkit::browser()
            .get(t.url(&verify_path(&cb.number, &code_b)))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            break r;
        }
        assert_eq!(r.status(), 200);
        admitted += 1;
        assert!(admitted <= 30, "no limit");
    };
    assert_eq!(admitted, 30);
    assert_eq!(limited.headers()["retry-after"], "60");
    let doc = html(&limited.text().await.unwrap());
    assert_eq!(
        one(&doc, "#verify-message"),
        "短い時間に多くの確認が行われました。60秒ほど待ってから、もう一度お試しください。"
    );
    t.clock.advance(chrono::Duration::seconds(59));
    let (status, _, _) = verify(&t, &verify_path(&cb.number, &code_b)).await;
    assert_eq!(status, 429, "the window is not over yet");
    t.clock.advance(chrono::Duration::seconds(1));
    let (status, _, _) = verify(&t, &verify_path(&cb.number, &code_b)).await;
    assert_eq!(status, 200);
}
app_test!(
    verify_shows_valid_revoked_and_expired_and_one_not_found,
    verification_story
);

// ---------------------------------------------------------------- My Page ⑤

async fn downloads<S: Store>(t: TestApp<S>) {
    let (a, b) = seed(&t).await;
    let ca = certificate_of(&t, a).await;
    let cb = certificate_of(&t, b).await;
    let (ua, csrf) = doctor_browser(&t, HOLDER).await;

    let (status, doc) = get(&t, &ua, "/mypage/cme").await;
    assert_eq!(status, 200);
    assert_eq!(
        attr(&doc, "#cme-nav a[href='/mypage/cme/documents']", "href").as_deref(),
        Some("/mypage/cme/documents")
    );

    // the page: the certificate with its download, one link per closed year with credits
    let (status, doc) = get(&t, &ua, "/mypage/cme/documents").await;
    assert_eq!(status, 200);
    let row = format!("#doc-certificates tr[data-number='{}']", ca.number);
    assert_eq!(one(&doc, &format!("{row} .window")), "2023年度〜2025年度");
    assert_eq!(one(&doc, &format!("{row} .issued")), "2026年6月1日");
    assert_eq!(one(&doc, &format!("{row} .valid-until")), "2029年5月31日");
    assert_eq!(one(&doc, &format!("{row} .status")), "有効");
    let href = attr(&doc, &format!("{row} a.doc-download"), "href").unwrap();
    assert_eq!(
        href,
        format!("/mypage/cme/documents/certificate/{}.pdf", ca.number)
    );
    let annual: Vec<String> = {
        let sel = scraper::Selector::parse("#doc-annual a").unwrap();
        doc.select(&sel)
            .map(|e| e.value().attr("href").unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        annual,
        [
            "/mypage/cme/documents/annual/2025.pdf",
            "/mypage/cme/documents/annual/2023.pdf"
        ]
    );
    assert_eq!(
        texts(&doc, "#doc-annual a"),
        [
            "2025年度の学習単位取得証（PDF）",
            "2023年度の学習単位取得証（PDF）"
        ]
    );

    // the certificate
    let (name, cert) = pdf(ua.get(t.url(&href)).send().await.unwrap()).await;
    assert_eq!(name, format!("{}.pdf", ca.number));
    pdf_text_contains(&cert, &[ca.number.as_str(), "証明花子"]);

    // the annual certificate: the same bytes and number every time
    let (name, first) = pdf(ua.get(t.url(&annual[0])).send().await.unwrap()).await;
    let (again, second) = pdf(ua.get(t.url(&annual[0])).send().await.unwrap()).await;
    assert!(name.starts_with('U'), "{name}");
    assert_eq!(name, again);
    assert_eq!(first, second);
    pdf_text_contains(&first, &[name.trim_end_matches(".pdf"), "証明花子"]);
    let number = name.trim_end_matches(".pdf").to_owned();

    // a year not closed, a year without credits, a malformed year
    let (status, doc) = get(&t, &ua, "/mypage/cme/documents/annual/2026.pdf").await;
    assert_eq!(status, 400);
    assert_eq!(
        one(&doc, "p.error"),
        "この年度はまだ終わっていません。学習単位取得証は、年度が終わった翌日（4月1日）からダウンロードできます。"
    );
    let (status, doc) = get(&t, &ua, "/mypage/cme/documents/annual/2024.pdf").await;
    assert_eq!(status, 404);
    assert!(one(&doc, "p.error").starts_with("この年度に証明できる単位の記録がありません。"));
    let (status, _) = get(&t, &ua, "/mypage/cme/documents/annual/20x5.pdf").await;
    assert_eq!(status, 404);

    // the attendance certificate through the form
    let attendance = |from: &'static str, to: &'static str, scope: &'static str| {
        let ua = ua.clone();
        let csrf = csrf.clone();
        let t = &t;
        async move {
            post(
                t,
                &ua,
                "/mypage/cme/documents/attendance.pdf",
                &[
                    ("csrf", csrf.as_str()),
                    ("from", from),
                    ("to", to),
                    ("scope", scope),
                ],
            )
            .await
        }
    };
    let (name, body) = pdf(attendance("2025-04-01", "2026-05-31", "all").await).await;
    assert!(name.starts_with('A'), "{name}");
    // 受講件数: the 2025-10-04 session's ten code lines are one attendance, plus the
    // e-learning content and the 2026-05-16 session: 3, over 12 lines of 1 unit
    pdf_text_contains(
        &body,
        &[
            name.trim_end_matches(".pdf"),
            "在宅医療",
            "3 件　合計 12.0 単位",
        ],
    );
    assert!(
        pdf_text(&body).is_none_or(|text| !text.contains("12件")),
        "one per line"
    );
    let (name_el, body_el) = pdf(attendance("2025-04-01", "2026-05-31", "elearning").await).await;
    assert_ne!(name, name_el, "other content, another number");
    pdf_text_contains(&body_el, &["1 件　合計 1.0 単位"]);

    // what the form says when it cannot print
    for (from, to, scope, status, message) in [
        (
            "2026-04-01",
            "2026-12-31",
            "all",
            400,
            "終了日に未来の日付は指定できません。今日までの日付を入力してください。",
        ),
        (
            "2026-03-31",
            "2025-04-01",
            "all",
            400,
            "開始日が終了日より後になっています。開始日と終了日を確認してください。",
        ),
        (
            "2025/04/01",
            "2026-03-31",
            "all",
            400,
            "日付は 2025-04-01 のように「年-月-日」の形式で、実在する日付を入力してください。",
        ),
        (
            "",
            "2026-03-31",
            "all",
            400,
            "開始日と終了日の両方を入力してください。",
        ),
        (
            "2026-04-01",
            "2026-05-31",
            "elearning",
            404,
            "指定した期間に証明できる研修会の出席や日医e-ラーニングの受講の記録がありません。期間や証明する内容を変えてお試しください。",
        ),
    ] {
        let r = attendance(from, to, scope).await;
        assert_eq!(r.status(), status, "{from} {to} {scope}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let doc = html(&r.text().await.unwrap());
        assert_eq!(one(&doc, "#doc-attendance-error"), message, "{from} {to}");
        // what was typed is still there
        assert_eq!(attr(&doc, "#doc-from", "value").as_deref(), Some(from));
        assert_eq!(attr(&doc, "#doc-to", "value").as_deref(), Some(to));
    }
    // without the page's token the form is refused
    let r = ua
        .post(t.url("/mypage/cme/documents/attendance.pdf"))
        .header("origin", &t.base_url)
        .form(&[
            ("from", "2025-04-01"),
            ("to", "2026-03-31"),
            ("scope", "all"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // another doctor's certificate, an unknown number: no PDF
    let r = ua
        .get(t.url(&format!(
            "/mypage/cme/documents/certificate/{}.pdf",
            cb.number
        )))
        .send()
        .await
        .unwrap();
    assert!([403, 404].contains(&r.status().as_u16()), "{}", r.status());
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let (status, _) = get(
        &t,
        &ua,
        "/mypage/cme/documents/certificate/N2026-999999.pdf",
    )
    .await;
    assert_eq!(status, 404);

    // the annual document's number answers on the verification page
    let mut tx = t.app.store.read().await.unwrap();
    let rec = tx.document_by_number(&number).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    let (status, _, doc) = verify(&t, &verify_path(&number, &rec.verification_code)).await;
    assert_eq!(status, 200);
    assert_eq!(one(&doc, "#verify-kind"), "学習単位取得証");
    assert_eq!(one(&doc, "#verify-period"), "2025年度");
    assert!(texts(&doc, "#verify-valid-until").is_empty());

    // once that 学習単位取得証 is revoked, its year's link answers 410 with a page, not the PDF
    certificates::revoke(&t.app, &job(), &number, "error", "集計の誤り", None)
        .await
        .unwrap();
    let r = ua.get(t.url(&annual[0])).send().await.unwrap();
    assert_eq!(r.status(), 410);
    let page = html(&r.text().await.unwrap());
    assert_eq!(
        one(&page, "#revoked-body"),
        format!(
            "学習単位取得証 {number} は 2026年6月1日 に取り消されたため、PDF はダウンロードできません（取り消しの理由: 発行内容の誤り）。ご不明な点は所属の医師会にお問い合わせください。"
        )
    );
    // and ⑤ no longer offers that year's link, saying why; the other year keeps its own
    let (_, doc) = get(&t, &ua, "/mypage/cme/documents").await;
    let links: Vec<String> = {
        let sel = scraper::Selector::parse("#doc-annual a").unwrap();
        doc.select(&sel)
            .map(|e| e.value().attr("href").unwrap().to_owned())
            .collect()
    };
    assert_eq!(links, ["/mypage/cme/documents/annual/2023.pdf"]);
    assert_eq!(
        texts(&doc, "#doc-annual li"),
        [
            "2025年度の学習単位取得証 取り消し済み 2026年6月1日に取り消し（理由: 発行内容の誤り）",
            "2023年度の学習単位取得証（PDF）"
        ]
    );

    // someone not logged in is sent to log in
    let r = mamis_testkit::browser()
        .get(t.url("/mypage/cme/documents/annual/2025.pdf"))
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
app_test!(a_doctor_downloads_the_three_pdfs_from_my_page, downloads);

/// The PDF's text as laid out, without whitespace (the layout may space a name), when `pdftotext` is
/// installed; it is required in CI, and elsewhere its absence skips loudly (`None`).
pub(crate) fn pdf_text(pdf: &[u8]) -> Option<String> {
    let present = std::process::Command::new("pdftotext")
        .arg("-v")
        .output()
        .is_ok();
    if !present {
        assert!(
            std::env::var("CI").is_err(),
            "pdftotext is required in CI (apt-get install poppler-utils)"
        );
        eprintln!("SKIPPED (pdf text): pdftotext missing — apt-get install poppler-utils");
        return None;
    }
    let path = std::env::temp_dir().join(format!("mamis-cert-{}.pdf", Uuid::new_v4().simple()));
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        // as laid out: a label's value stays on its line
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&path)
        .arg("-")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "pdftotext failed");
    Some(
        String::from_utf8_lossy(&out.stdout)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect(),
    )
}

/// When `pdftotext` is installed (required in CI), the PDF's text holds each of `needles`
/// (whitespace ignored, as the layout may space a name).
fn pdf_text_contains(pdf: &[u8], needles: &[&str]) {
    let Some(text) = pdf_text(pdf) else {
        return;
    };
    for n in needles {
        let n: String = n.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(text.contains(&n), "{n} not in the PDF text: {text}");
    }
}

// ---------------------------------------------------------------- the office

async fn office<S: Store>(t: TestApp<S>) {
    let (a, _) = seed(&t).await;
    let ca = certificate_of(&t, a).await;

    // county staff: no link, no page, no revocation
    let (county, _) = staff_user(
        &t,
        "cert-county@example.jp",
        STAFF_PASSWORD,
        RoleGrant::new(Role::CountyStaff, Scope::Association(code("P13-0001"))).unwrap(),
    )
    .await;
    let (_, doc) = get(&t, &county, "/office").await;
    assert!(texts(&doc, "#office-nav-certificates").is_empty());
    let (status, doc) = get(&t, &county, "/office/certificates").await;
    assert_eq!(status, 403);
    let csrf = attr(&doc, "input[name=csrf]", "value").unwrap();
    let r = post(
        &t,
        &county,
        "/office/certificates/revoke",
        &[
            ("csrf", csrf.as_str()),
            ("number", ca.number.as_str()),
            ("category", "error"),
            ("reason", "誤り"),
            ("confirmed", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
    // a doctor is no staff member
    let (doc_ua, _) = doctor_browser(&t, HOLDER).await;
    let (status, _) = get(&t, &doc_ua, "/office/certificates").await;
    assert_eq!(status, 403);

    // JMA staff: a later reversal pushed A's window below 60, so it waits for review
    let (jma, jma_p) = staff_user(
        &t,
        "cert-jma2@example.jp",
        STAFF_PASSWORD,
        RoleGrant::new(Role::JmaStaff, Scope::Association(code("JMA"))).unwrap(),
    )
    .await;
    // (62 at issue: two training entries reversed leave 58)
    let mut tx = t.app.store.read().await.unwrap();
    let entries = tx.ledger_of(a, cme::PROGRAMME).await.unwrap();
    tx.rollback().await.unwrap();
    for e in entries
        .iter()
        .filter(|e| e.source == Source::Training && [20, 21].contains(&e.code))
    {
        cme::reverse(&t.app, &jma_p, e.id, "出席の記録誤り", None)
            .await
            .unwrap();
    }
    let (status, doc) = get(&t, &jma, "/office/certificates").await;
    assert_eq!(status, 200);
    assert_eq!(
        texts(&doc, "#reviews tbody tr .number"),
        [ca.number.as_str()]
    );
    assert!(one(&doc, "#reviews tbody tr .reason").contains("FY2023–FY2025"));
    assert_eq!(
        texts(&doc, "#revoke-category option"),
        [
            "選んでください",
            "発行内容の誤り",
            "不正な単位の取得",
            "名義人からの申し出",
            "その他の理由"
        ]
    );
    let csrf = attr(&doc, "#revoke-form input[name=csrf]", "value").unwrap();

    // refusals come back on the form with what was typed
    for (number, category, reason, status, message) in [
        (
            ca.number.as_str(),
            "error",
            "  ",
            422,
            "理由を1〜500文字で入力してください。",
        ),
        (
            ca.number.as_str(),
            "",
            "理由",
            422,
            "理由の区分を選んでください。",
        ),
        (
            "",
            "error",
            "理由",
            422,
            "取り消す証明書の番号を入力してください（例: N2026-000001）。",
        ),
        (
            "N2026-999999",
            "error",
            "理由",
            404,
            "この番号の証明書は見つかりません。番号を確認してください。",
        ),
    ] {
        let r = post(
            &t,
            &jma,
            "/office/certificates/revoke",
            &[
                ("csrf", csrf.as_str()),
                ("number", number),
                ("category", category),
                ("reason", reason),
            ],
        )
        .await;
        assert_eq!(r.status(), status, "{number} {category} {reason}");
        let doc = html(&r.text().await.unwrap());
        assert_eq!(one(&doc, "#revoke-error"), message);
        assert_eq!(
            attr(&doc, "#revoke-number", "value").as_deref(),
            Some(number)
        );
        assert_eq!(one(&doc, "#revoke-reason"), reason.trim());
    }

    // the revocation, then a second one
    let form = [
        ("csrf", csrf.as_str()),
        ("number", ca.number.as_str()),
        ("category", "fraud"),
        ("reason", "単位の不正な取得が判明したため"),
        ("confirmed", "1"),
    ];
    let r = post(&t, &jma, "/office/certificates/revoke", &form).await;
    assert_eq!(r.status(), 303);
    let r = post(&t, &jma, "/office/certificates/revoke", &form).await;
    assert_eq!(r.status(), 409);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(
        one(&doc, "#revoke-error"),
        "この証明書はすでに取り消されています。"
    );
    let mut tx = t.app.store.read().await.unwrap();
    let c = tx.certificate_by_number(&ca.number).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    let rev = c.revocation.unwrap();
    assert_eq!(rev.category, "fraud");
    assert_eq!(rev.reason, "単位の不正な取得が判明したため");

    // My Page ⑤ lists it as revoked, with the date and the reason category /verify shows, and
    // offers no PDF any more
    let (_, doc) = get(&t, &doc_ua, "/mypage/cme/documents").await;
    let row = format!("#doc-certificates tr[data-number='{}']", ca.number);
    assert_eq!(
        one(&doc, &format!("{row} .doc-status-revoked")),
        "取り消し済み"
    );
    assert_eq!(
        one(&doc, &format!("{row} .doc-revoked-detail")),
        "2026年6月1日に取り消し（理由: 不正な単位の取得）"
    );
    assert!(texts(&doc, &format!("{row} a.doc-download")).is_empty());
    assert!(
        texts(&doc, &format!("{row} a")).is_empty(),
        "no link at all"
    );
    assert_eq!(
        one(&doc, &format!("{row} .doc-revoked")),
        "取り消されたため PDF はありません"
    );
    let code = c.verification_code.clone().unwrap();
    let (status, _, vdoc) = verify(&t, &format!("/verify/{}?c={code}", ca.number)).await;
    assert_eq!(status, 200);
    assert_eq!(one(&vdoc, "#verify-reason"), "不正な単位の取得");
    assert!(one(&vdoc, "#verify-status-detail").contains("2026年6月1日"));
    // asked for directly, its PDF is gone: 410 with a page saying when and why
    let r = doc_ua
        .get(t.url(&format!(
            "/mypage/cme/documents/certificate/{}.pdf",
            ca.number
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{:?}",
        r.headers()
    );
    let page = html(&r.text().await.unwrap());
    assert_eq!(
        one(&page, "#revoked-title"),
        "この証明書は取り消されています"
    );
    assert_eq!(
        one(&page, "#revoked-body"),
        format!(
            "日医生涯教育認定証 {} は 2026年6月1日 に取り消されたため、PDF はダウンロードできません（取り消しの理由: 不正な単位の取得）。ご不明な点は所属の医師会にお問い合わせください。",
            ca.number
        )
    );
    assert_eq!(
        attr(&page, "#revoked-back", "href").as_deref(),
        Some("/mypage/cme/documents")
    );
}
app_test!(office_revokes_and_lists_reviews_for_jma_staff_only, office);

// ---------------------------------------------------------------- Chromium

/// A demo doctor finds My Page ⑤ and downloads each of the three PDFs (fetched from inside the
/// page, with the page's cookies, to see what the browser receives).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_doctor_downloads_the_pdfs_in_chromium() {
    use fantoccini::Locator;
    use mamis_testkit::browser::{self, Browser};
    if !browser::available() {
        return;
    }
    let t = mamis_testkit::spawn_sqlite().await;
    let logins = mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let (_, email, password, _) = logins
        .accounts
        .iter()
        .find(|a| a.1 == "member@demo.mamis.jp")
        .unwrap()
        .clone();
    let b = Browser::start().await;
    let c = &b.client;
    c.goto(&t.url("/login")).await.unwrap();
    c.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys(&email)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(&password)
        .await
        .unwrap();
    c.find(Locator::Id("login-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Id("verification-status"))
        .await
        .unwrap();

    // through the CME pages' navigation to ⑤
    c.goto(&t.url("/mypage/cme")).await.unwrap();
    c.find(Locator::Css("#cme-nav a[href='/mypage/cme/documents']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Id("doc-attendance-form"))
        .await
        .unwrap();

    // what a download link and the form fetch, with the browser's own cookies
    const FETCH: &str = r#"
        const [url, form, done] = arguments;
        (async () => {
            const init = form ? { method: "POST", body: new URLSearchParams(form) } : {};
            const r = await fetch(url, init);
            const bytes = new Uint8Array(await r.arrayBuffer());
            return [r.status, r.headers.get("content-type") || "",
                    r.headers.get("content-disposition") || "",
                    String.fromCharCode(...bytes.slice(0, 5)), bytes.length];
        })().then(done, e => done([0, String(e), "", "", 0]));
    "#;
    let fetch = |url: String, form: serde_json::Value| async move {
        let v = c
            .execute_async(FETCH, vec![serde_json::json!(url), form])
            .await
            .unwrap();
        let a = v.as_array().unwrap().clone();
        assert_eq!(a[0], 200, "{url}: {a:?}");
        assert_eq!(a[1], "application/pdf", "{url}");
        assert!(
            a[2].as_str()
                .unwrap()
                .starts_with("attachment; filename=\""),
            "{url}: {a:?}"
        );
        assert_eq!(a[3], "%PDF-", "{url}");
        a[2].as_str().unwrap().to_owned()
    };

    // 1. the certificate: the link is there and names the PDF (not clicked: a headless download
    // would land in the home directory)
    let link = c
        .find(Locator::Css("#doc-certificates a.doc-download"))
        .await
        .unwrap();
    assert!(link.is_displayed().await.unwrap());
    let href = link.attr("href").await.unwrap().unwrap();
    assert!(href.ends_with(".pdf"), "{href}");
    let d = fetch(href, serde_json::Value::Null).await;
    assert!(d.contains("filename=\"N"), "{d}");

    // 2. an annual certificate
    let link = c
        .find(Locator::Css("#doc-annual a.doc-download"))
        .await
        .unwrap();
    assert!(link.is_displayed().await.unwrap());
    let href = link.attr("href").await.unwrap().unwrap();
    let d = fetch(href, serde_json::Value::Null).await;
    assert!(d.contains("filename=\"U"), "{d}");

    // 3. the attendance certificate: the form as filled in, posted with its own token
    let csrf = c
        .find(Locator::Css("#doc-attendance-form input[name=csrf]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    let today = t.clock_date();
    let from = today - chrono::Duration::days(2 * 365);
    let d = fetch(
        "/mypage/cme/documents/attendance.pdf".to_owned(),
        serde_json::json!({
            "csrf": csrf,
            "from": from.to_string(),
            "to": today.to_string(),
            "scope": "all",
        }),
    )
    .await;
    assert!(d.contains("filename=\"A"), "{d}");
    // the page itself stayed where it was
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/mypage/cme/documents")
    );
    b.close().await;
}
