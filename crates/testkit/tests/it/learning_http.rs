//! Issue 21 over HTTP on both backends: every members-only URL refuses non-members (with the
//! way to join) and anonymous visitors (to the portal login); a withdrawn membership closes the
//! areas at the next request; the public calendar (search, bad queries, session page, feed);
//! office authoring by JMA staff only; My Page ① suggestions and ③'s 専門医共通講習 mark.

use mamis_app::learning::authoring;
use mamis_domain::{AssociationCode, Role, RoleGrant, Scope};
use mamis_store::{
    AccessStore, Account, AccountKind, MembershipStore, RegistryStore, Store, Tx, Verification,
};
use mamis_testkit::{TestApp, app_test, attr, html, staff_user, texts};
use uuid::Uuid;

use crate::learning::{author, content_draft, jst, member, quiz_doc, quiz_draft};

pub(crate) const PASSWORD: &str = "learning-password-2026";

const CT: &str = "multipart/form-data; boundary=mamis-learning-boundary";

/// A multipart body of text fields (the CSRF token first, as forms send it).
pub(crate) fn multipart(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!(
                "--mamis-learning-boundary\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(b"--mamis-learning-boundary--\r\n");
    body
}

/// A verified MAMIS_ID for a doctor.
pub(crate) async fn account<S: Store>(t: &TestApp<S>, doctor: Uuid, email: &str) {
    let mut acc = Account::new(Uuid::new_v4(), email, "", AccountKind::Doctor, t.app.now());
    acc.password_hash = Some(t.app.hasher.hash(PASSWORD.to_owned()).await.unwrap());
    acc.doctor_id = Some(doctor);
    acc.verification = Verification::Verified;
    let mut tx = t.app.store.write().await.unwrap();
    tx.insert_account(&acc).await.unwrap();
    tx.commit().await.unwrap();
}

/// Logs in to the portal with MAMIS_ID starting from `start`, following every redirect by hand
/// and filling the provider's login form once; returns the first non-redirect answer after.
pub(crate) async fn portal_login<S: Store>(
    t: &TestApp<S>,
    c: &reqwest::Client,
    start: &str,
    email: &str,
) -> reqwest::Response {
    let mut next = t.url(start);
    let mut logged_in = false;
    for _ in 0..12 {
        let r = c.get(&next).send().await.unwrap();
        if r.status() == 200 && !logged_in {
            let page = r.text().await.unwrap();
            let doc = html(&page);
            let nxt = attr(&doc, "form[action='/login'] input[name=next]", "value")
                .unwrap_or_else(|| panic!("no login form at {next}: {page}"));
            let csrf = attr(&doc, "input[name=csrf]", "value").unwrap();
            let r = c
                .post(t.url("/login"))
                .header("origin", &t.base_url)
                .form(&[
                    ("email", email),
                    ("password", PASSWORD),
                    ("csrf", csrf.as_str()),
                    ("next", nxt.as_str()),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 303);
            logged_in = true;
            next = t.url(r.headers()["location"].to_str().unwrap());
            continue;
        }
        if r.status() != 303 {
            return r;
        }
        let loc = r.headers()["location"].to_str().unwrap().to_owned();
        next = if loc.starts_with('/') {
            t.url(&loc)
        } else {
            loc
        };
        assert!(next.starts_with(&t.base_url), "left the server: {next}");
    }
    panic!("the portal login did not finish");
}

async fn refusals<S: Store>(t: TestApp<S>) {
    t.clock.set(jst("2026-06-10T10:00:00"));
    let a = member(&t, 1, None).await;
    let n = member(&t, 2, Some("2026-06-01")).await;
    account(&t, a, "member21@example.jp").await;
    account(&t, n, "nonmember21@example.jp").await;
    let (set, _) = authoring::save(&t.app, &author(), quiz_draft(None, "2026-06", quiz_doc()))
        .await
        .unwrap();
    let mut d = content_draft(74, "院内感染対策");
    d.slides = Some(b"%PDF-1.4 demo slides".to_vec());
    let (content, _) = authoring::save(&t.app, &author(), d).await.unwrap();
    let article = mamis_app::learning::Draft {
        item: None,
        issue: Some("2026-06".into()),
        title: "高血圧の新しい指針".into(),
        published_on: Some("2026-06-01".parse().unwrap()),
        deadline: None,
        answers_on: None,
        doc: mamis_app::learning::Doc::Article(mamis_app::learning::ArticleDoc {
            authors: "日医 太郎".into(),
            text: "会員だけが読める本文。".into(),
        }),
        slides: None,
    };
    let (art, _) = authoring::save(&t.app, &author(), article).await.unwrap();
    let members_only = [
        format!("/cme/quiz/{set}"),
        format!("/cme/elearning/{content}"),
        format!("/cme/elearning/{content}/assessment"),
        format!("/cme/elearning/{content}/slides"),
        format!("/cme/journal/{art}"),
    ];

    // anonymous: to the portal login, with the way back
    for u in &members_only {
        let r = t.client.get(t.url(u)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{u}");
        let loc = r.headers()["location"].to_str().unwrap();
        assert!(loc.starts_with("/cme/login?next=%2Fcme%2F"), "{loc}");
    }
    // the lists are public: titles, no links, a notice
    let page = t
        .client
        .get(t.url("/cme/journal"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("高血圧の新しい指針") && !page.contains("会員だけが読める本文"));
    assert!(!page.contains(&format!("/cme/journal/{art}")));

    // a non-member: refused on every members-only URL, pointed to joining; never the text
    let c = mamis_testkit::browser();
    let r = portal_login(
        &t,
        &c,
        &format!("/cme/journal/{art}"),
        "nonmember21@example.jp",
    )
    .await;
    assert_eq!(r.status(), 403);
    for u in &members_only {
        let r = c.get(t.url(u)).send().await.unwrap();
        assert_eq!(r.status(), 403, "{u}");
        let page = r.text().await.unwrap();
        let doc = html(&page);
        assert_eq!(
            attr(&doc, "#learning-refused-action", "href").as_deref(),
            Some("/mypage/membership"),
            "{u}"
        );
        assert!(!page.contains("会員だけが読める本文") && !page.contains("%PDF"));
        assert!(
            !page.contains("正解は 1 番"),
            "no question text for non-members"
        );
    }
    let csrf = c
        .get(t.url("/cme"))
        .send()
        .await
        .unwrap()
        .cookies()
        .find(|k| k.name() == "mamis_csrf")
        .map(|k| k.value().to_owned());
    let r = c
        .post(t.url(&format!("/cme/elearning/{content}/assessment")))
        .header("origin", &t.base_url)
        .form(&[("csrf", csrf.unwrap_or_default().as_str()), ("q0", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no attempt by a non-member");
    let page = c
        .get(t.url("/cme/journal"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        attr(&html(&page), "#learning-gate-action", "href").as_deref(),
        Some("/mypage/membership")
    );

    // a member reads; then the JMA membership is withdrawn: closed at the next request
    let m = mamis_testkit::browser();
    let r = portal_login(
        &t,
        &m,
        &format!("/cme/journal/{art}"),
        "member21@example.jp",
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("会員だけが読める本文"));
    let slides = m.get(t.url(&members_only[3])).send().await.unwrap();
    assert_eq!(slides.status(), 200);
    assert_eq!(slides.headers()["content-type"], "application/pdf");
    let mut tx = t.app.store.write().await.unwrap();
    assert!(
        tx.end_membership(
            a,
            &AssociationCode::jma(),
            "2010-04-01".parse().unwrap(),
            "2026-06-10".parse().unwrap()
        )
        .await
        .unwrap()
    );
    tx.commit().await.unwrap();
    let r = m
        .get(t.url(&format!("/cme/journal/{art}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(!r.text().await.unwrap().contains("会員だけが読める本文"));
}
app_test!(
    members_only_urls_refuse_non_members_and_close_at_once,
    refusals
);

async fn calendar_pages<S: Store>(t: TestApp<S>) {
    t.clock.set(jst("2026-06-10T10:00:00"));
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let page = t
        .client
        .get(t.url("/calendar"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let doc = html(&page);
    assert_eq!(
        doc.select(&scraper::Selector::parse("#calendar-results tbody tr").unwrap())
            .count(),
        30
    );
    // P13 associations on site: every third session is online only
    let page = t
        .client
        .get(t.url("/calendar?prefecture=P13&mode=onsite&code=74"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rows = texts(&html(&page), "#calendar-results tbody tr .credits");
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r.contains("CC74")), "{rows:?}");
    // bad queries are named, in Japanese first
    let r = t
        .client
        .get(t.url("/calendar?prefecture=P99&code=99&mode=x&from=2026-13-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let page = r.text().await.unwrap();
    for m in [
        "都道府県を一覧から選んでください",
        "カリキュラムコードは",
        "形式を一覧から",
        "日付は",
    ] {
        assert!(page.contains(m), "{m}");
    }
    let r = t
        .client
        .get(t.url("/calendar.ics?prefecture=P27"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let ics = r.text().await.unwrap();
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.ends_with("END:VCALENDAR\r\n"));
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 10);
    assert!(ics.lines().all(|l| l.len() <= 76));
    assert_eq!(
        t.client
            .get(t.url("/calendar.ics?mode=x"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    // a session's page lists its programme with units and codes
    let listed = attr(
        &html(
            &t.client
                .get(t.url("/calendar"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        ),
        "#calendar-results tbody tr a",
        "href",
    )
    .unwrap();
    let page = t
        .client
        .get(t.url(&listed))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(texts(&html(&page), "#session-programme .credits")[0].starts_with("CC"));
    assert_eq!(
        t.client
            .get(t.url(&format!("/calendar/sessions/{}", Uuid::new_v4())))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}
app_test!(calendar_searches_feeds_and_session_pages, calendar_pages);

async fn office_authoring<S: Store>(t: TestApp<S>) {
    t.clock.set(jst("2026-06-10T10:00:00"));
    let jma = RoleGrant::new(Role::JmaStaff, Scope::Association(AssociationCode::jma())).unwrap();
    let (c, _) = staff_user(&t, "author21@example.jp", "author-password-2026", jma).await;
    let page = c
        .get(t.url("/office/learning/new/quiz"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csrf = attr(
        &html(&page.text().await.unwrap()),
        "input[name=csrf]",
        "value",
    )
    .unwrap();
    let form = |title: &str, questions: &str| {
        multipart(&[
            ("csrf", csrf.as_str()),
            ("title", title),
            ("issue", "2026-06"),
            ("published_on", ""),
            ("deadline", "2026-06-30"),
            ("answers_on", "2026-07-15"),
            ("credits", "74:1, 80:0.5"),
            ("intro", "特集"),
            ("questions", questions),
        ])
    };
    // a bad markup line and a missing title are named on the form
    let r = c
        .post(t.url("/office/learning/new/quiz"))
        .header("origin", &t.base_url)
        .header("content-type", CT)
        .body(form("", "? 問\n- a\nwhat"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("問題の 3 行目が書式に合っていません"),
        "{page}"
    );
    let r = c
        .post(t.url("/office/learning/new/quiz"))
        .header("origin", &t.base_url)
        .header("content-type", CT)
        .body(form("6月号 問題", "? 問\n- a\n* b\n> 解説"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let edit = r.headers()["location"].to_str().unwrap().to_owned();
    let page = c
        .get(t.url(&edit))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let doc = html(&page);
    assert_eq!(texts(&doc, "#learning-versions li").len(), 1);
    assert!(
        texts(&doc, "#learning-preview .key-mark").len() == 1,
        "the preview shows the key"
    );
    let list = c
        .get(t.url("/office/learning"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(texts(&html(&list), "#learning-quiz-items .state")[0].contains("下書き"));
    // a second save is version 2
    let r = c
        .post(t.url(&edit))
        .header("origin", &t.base_url)
        .header("content-type", CT)
        .body(form("6月号 問題（訂正）", "? 問\n* a\n- b\n> 解説"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = c
        .get(t.url(&edit))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(texts(&html(&page), "#learning-versions li").len(), 2);

    // county staff do not author
    let county = RoleGrant::new(
        Role::CountyStaff,
        Scope::Association(AssociationCode::parse("P13-0001").unwrap()),
    )
    .unwrap();
    let mut tx = t.app.store.write().await.unwrap();
    tx.upsert_association(&mamis_domain::Association {
        code: AssociationCode::parse("P13-0001").unwrap(),
        name_ja: "千代田区医師会".into(),
        name_en: "Chiyoda".into(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let (cc, _) = staff_user(&t, "county21@example.jp", "county-password-2026", county).await;
    for u in [
        "/office/learning",
        "/office/learning/new/quiz",
        "/office/learning/postcards",
    ] {
        assert_eq!(cc.get(t.url(u)).send().await.unwrap().status(), 403, "{u}");
    }
}
app_test!(
    office_authoring_keeps_versions_for_jma_staff_only,
    office_authoring
);

async fn mypage_cards<S: Store>(t: TestApp<S>) {
    t.clock.set(jst("2026-06-10T10:00:00"));
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let c = mamis_testkit::browser();
    mamis_testkit::password_login(&t, &c, "member@demo.mamis.jp", "mamis-demo-doctor-1").await;
    let page = c
        .get(t.url("/mypage/cme"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let doc = html(&page);
    let sessions = texts(&doc, "#cme-suggest-sessions li");
    assert_eq!(sessions.len(), 5, "{page}");
    assert_eq!(texts(&doc, "#cme-suggest-contents li").len(), 3);
    // ③: the demo member's journal-quiz credit of the published set
    let page = c
        .get(t.url("/mypage/cme/learning"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("問題"), "{page}");
}
app_test!(mypage_suggests_sessions_and_contents, mypage_cards);
