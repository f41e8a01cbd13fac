//! The doctor's side of training over HTTP, on both backends: the venue link (expired codes, a
//! ticket replayed from another browser, unverified accounts), check-in and check-out with My
//! Page ②, the personal QR code the desk scans, and the training API (sessions, attendee-list
//! uploads, its OpenAPI description).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use mamis_api_types as dto;
use mamis_app::tokens;
use mamis_app::training::capture::{self, DeskCaptured, DeskInput, Origin};
use mamis_app::training::{self, ItemInput, SessionInput};
use mamis_domain::training::{ItemKind, Venue};
use mamis_domain::{Association, AssociationCode, Principal, Role, RoleGrant, Scope};
use mamis_store::conformance::sample_doctor;
use mamis_store::{
    AccessStore, Account, AccountKind, Doctor, LedgerStore, Organiser, RegistryStore, Store,
    TrainingSession, TrainingStore, Tx, Verification,
};
use mamis_testkit::{TestApp, app_test, attr, html, password_login, texts};
use reqwest::cookie::Jar;
use uuid::Uuid;

pub(super) const PASSWORD: &str = "Venue-pass-2026-keyaki";
pub(super) const DOCTOR: &str = "venue-doctor@example.jp";
const UNVERIFIED: &str = "venue-review@example.jp";
const TITLE: &str = "千代田区医師会 学術講演会「感染症のトピックス」";

fn job() -> Principal {
    Principal::Job {
        kind: "test".into(),
    }
}

fn code(s: &str) -> AssociationCode {
    AssociationCode::parse(s).unwrap()
}

fn jst(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{s}+09:00"))
        .unwrap()
        .with_timezone(&Utc)
}

/// Chiyoda and Chuo, a verified doctor (sample doctor 1) and an account awaiting review, both
/// with [`PASSWORD`].
pub(super) async fn seed<S: Store>(t: &TestApp<S>) -> Doctor {
    let now = t.app.now();
    let hash = t.app.hasher.hash(PASSWORD.to_owned()).await.unwrap();
    let d = sample_doctor(1);
    let mut tx = t.app.store.write().await.unwrap();
    for (c, ja) in [("P13-0001", "千代田区医師会"), ("P13-0002", "中央区医師会")] {
        tx.upsert_association(&Association {
            code: code(c),
            name_ja: ja.into(),
            name_en: c.into(),
        })
        .await
        .unwrap();
    }
    tx.insert_doctor(&d).await.unwrap();
    for (n, email, doctor, v) in [
        (1u128, DOCTOR, Some(d.id), Verification::Verified),
        (2, UNVERIFIED, None, Verification::Review),
    ] {
        let mut acc = Account::new(
            Uuid::from_u128(0x7E40 + n),
            email,
            "",
            AccountKind::Doctor,
            now,
        );
        acc.password_hash = Some(hash.clone());
        acc.doctor_id = doctor;
        acc.verification = v;
        tx.insert_account(&acc).await.unwrap();
    }
    tx.commit().await.unwrap();
    d
}

/// Chiyoda's session on the test clock's day, 09:00–12:00, with a 60-minute talk under code 10
/// from 09:00 and a break.
async fn session<S: Store>(t: &TestApp<S>) -> TrainingSession {
    training::create(
        &t.app,
        &job(),
        SessionInput {
            organiser: Organiser::Association(code("P13-0001")),
            title: TITLE.into(),
            venue: Venue::InPerson("千代田区医師会館".into()),
            start: jst("2026-06-01T09:00:00"),
            end: jst("2026-06-01T12:00:00"),
            expected_headcount: Some(40),
            desk_scan_only: false,
            grace_minutes: 5,
            items: vec![
                ItemInput {
                    id: None,
                    title: "感染症診療の最近の話題".into(),
                    start: jst("2026-06-01T09:00:00"),
                    minutes: 60,
                    kind: ItemKind::single(10, 60),
                },
                ItemInput {
                    id: None,
                    title: "休憩".into(),
                    start: jst("2026-06-01T10:00:00"),
                    minutes: 10,
                    kind: ItemKind::NonCredit(mamis_domain::training::NonCreditKind::Break),
                },
            ],
        },
        None,
    )
    .await
    .unwrap()
}

/// The path the venue screen's QR code shows now.
async fn venue_path<S: Store>(t: &TestApp<S>, s: &TrainingSession) -> String {
    let c = capture::venue_code(&t.app, &job(), s.id).await.unwrap();
    format!("/t/{}", c.token)
}

/// A browser with a jar the test can add cookies to, logged in as `email`.
async fn doctor_browser<S: Store>(t: &TestApp<S>, email: &str) -> (reqwest::Client, Arc<Jar>) {
    let jar = Arc::new(Jar::default());
    let ua = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (r, _) = password_login(t, &ua, email, PASSWORD).await;
    assert_eq!(r.status(), 303, "{email} logs in");
    (ua, jar)
}

async fn get<S: Store>(t: &TestApp<S>, ua: &reqwest::Client, path: &str) -> reqwest::Response {
    ua.get(t.url(path)).send().await.unwrap()
}

async fn page(r: reqwest::Response) -> (u16, scraper::Html) {
    let status = r.status().as_u16();
    (status, html(&r.text().await.unwrap()))
}

/// Presses the check-in button as the page offers it (its CSRF token, same origin).
pub(super) async fn press<S: Store>(t: &TestApp<S>, ua: &reqwest::Client) -> (u16, scraper::Html) {
    let (_, doc) = page(get(t, ua, "/t/check-in").await).await;
    let csrf = attr(&doc, "input[name=csrf]", "value").unwrap();
    page(
        ua.post(t.url("/t/check-in"))
            .header("origin", &t.base_url)
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

pub(super) async fn presence<S: Store>(
    t: &TestApp<S>,
    s: &TrainingSession,
) -> Vec<mamis_store::PresenceRow> {
    let mut tx = t.app.store.read().await.unwrap();
    let v = tx.presence_of(s.id).await.unwrap();
    tx.rollback().await.unwrap();
    v
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

// ---------------------------------------------------------------- the venue link

async fn expired_link<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let s = session(&t).await;
    let (ua, _) = doctor_browser(&t, DOCTOR).await;
    let path = venue_path(&t, &s).await;
    t.clock.advance(Duration::seconds(40));
    let r = get(&t, &ua, &path).await;
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("mamis_venue=")),
        "no ticket for an expired code"
    );
    let (status, doc) = page(r).await;
    assert_eq!(status, 410);
    assert_eq!(
        attr(&doc, "#checkin-refused", "data-reason").as_deref(),
        Some("expired")
    );
    assert!(
        texts(&doc, "#checkin-refused")[0].contains("画面のQRコードをもう一度読み取ってください"),
        "{:?}",
        texts(&doc, "#checkin-refused")
    );
    // nothing to complete either
    let (status, doc) = page(get(&t, &ua, "/t/check-in").await).await;
    assert_eq!(status, 410);
    assert_eq!(
        attr(&doc, "#checkin-refused", "data-reason").as_deref(),
        Some("ticket")
    );
    assert!(presence(&t, &s).await.is_empty());
}
app_test!(
    a_venue_link_opened_40_s_late_shows_the_expired_page,
    expired_link
);

async fn check_in_and_out<S: Store>(t: TestApp<S>) {
    let d = seed(&t).await;
    let s = session(&t).await;
    // not logged in yet: the link keeps the ticket and sends the phone to the login page
    let jar = Arc::new(Jar::default());
    let ua = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = get(&t, &ua, &venue_path(&t, &s).await).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login?next=%2Ft%2Fcheck-in");
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .collect();
    let ticket = cookies
        .iter()
        .find(|c| c.starts_with("mamis_venue="))
        .expect("the ticket cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Max-Age=600", "Path=/"] {
        assert!(ticket.contains(attr), "{ticket}");
    }
    assert!(cookies.iter().any(|c| c.starts_with("mamis_device=")));
    let (r, _) = password_login(&t, &ua, DOCTOR, PASSWORD).await;
    assert_eq!(r.status(), 303);
    // the page names the session and offers one button
    let (status, doc) = page(get(&t, &ua, "/t/check-in").await).await;
    assert_eq!(status, 200);
    assert_eq!(texts(&doc, "#checkin-session"), [TITLE]);
    assert_eq!(texts(&doc, "button#checkin-submit").len(), 1);
    let (status, doc) = press(&t, &ua).await;
    assert_eq!(status, 200);
    assert_eq!(
        attr(&doc, "#checkin-result", "data-result").as_deref(),
        Some("checked-in")
    );
    assert_eq!(texts(&doc, "h1"), ["チェックインしました（09:00）"]);
    assert!(texts(&doc, "#checkin-how-to-leave")[0].contains("もう一度読み取って"));
    let rows_now = presence(&t, &s).await;
    assert_eq!(rows_now.len(), 1);
    assert!(rows_now[0].out_at.is_none() && rows_now[0].device.is_some());
    // the ticket is single use: pressing again asks for a new scan
    let (status, doc) = page(get(&t, &ua, "/t/check-in").await).await;
    assert_eq!(status, 410);
    assert_eq!(
        attr(&doc, "#checkin-refused", "data-reason").as_deref(),
        Some("ticket")
    );

    // My Page ② while in the room
    let (_, doc) = page(get(&t, &ua, "/mypage/cme/training").await).await;
    let a = rows(&doc, "#training-attendances");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0][0], "2026年6月1日");
    assert_eq!(a[0][1], TITLE);
    assert_eq!(a[0][2], "千代田区医師会館");
    assert!(
        a[0][3].contains("09:00") && a[0][3].contains("在室中"),
        "{a:?}"
    );
    assert!(a[0][4].contains("在室中"), "{a:?}");
    assert_eq!(
        attr(&doc, "a#personal-qr-link", "href").as_deref(),
        Some("/mypage/cme/training/qr")
    );

    // after the talk the same phone scans again (logging in again: the session idled out)
    t.clock.set(jst("2026-06-01T10:05:00"));
    let r = get(&t, &ua, &venue_path(&t, &s).await).await;
    assert_eq!(r.status(), 303);
    let (r, _) = password_login(&t, &ua, DOCTOR, PASSWORD).await;
    assert_eq!(r.status(), 303);
    let (status, doc) = press(&t, &ua).await;
    assert_eq!(status, 200);
    assert_eq!(
        texts(&doc, "h1"),
        ["退室を記録しました（10:05）。単位はマイページ②に反映されます"]
    );
    assert_eq!(
        attr(&doc, "a#checkin-to-my-training", "href").as_deref(),
        Some("/mypage/cme/training")
    );
    let (_, doc) = page(get(&t, &ua, "/mypage/cme/training").await).await;
    let a = rows(&doc, "#training-attendances");
    assert!(a[0][3].contains("09:00〜10:05"), "{a:?}");
    assert_eq!(a[0][4], "単位 1 を記録しました（下の一覧）。");
    let credits = rows(&doc, "#cme-training");
    assert_eq!(credits.len(), 1);
    assert!(credits[0][3].starts_with("10"), "{credits:?}");
    assert_eq!(credits[0][4], "1");
    assert!(credits[0][5].contains(TITLE));
    let mut tx = t.app.store.read().await.unwrap();
    assert_eq!(
        tx.ledger_of(d.id, mamis_app::cme::PROGRAMME)
            .await
            .unwrap()
            .len(),
        1
    );
    tx.rollback().await.unwrap();

    // when the organiser closes the session with someone still in, ② says so
    t.clock.set(jst("2026-06-01T10:20:00"));
    let r = get(&t, &ua, &venue_path(&t, &s).await).await;
    assert_eq!(r.status(), 303);
    let (r, _) = password_login(&t, &ua, DOCTOR, PASSWORD).await;
    assert_eq!(r.status(), 303);
    assert_eq!(press(&t, &ua).await.0, 200);
    training::close(&t.app, &job(), s.id, None).await.unwrap();
    let (_, doc) = page(get(&t, &ua, "/mypage/cme/training").await).await;
    let a = rows(&doc, "#training-attendances");
    assert!(a[0][3].contains("閉会時退室"), "{a:?}");
    // a venue code of the closed session (as a photo taken before) says it has ended
    let token = mamis_domain::training::venue_token(
        mamis_testkit::SECRET_KEY.as_bytes(),
        s.id,
        mamis_domain::training::venue_step(t.app.now()),
    );
    let (status, doc) = page(get(&t, &ua, &format!("/t/{token}")).await).await;
    assert_eq!(status, 409);
    assert_eq!(
        attr(&doc, "#checkin-refused", "data-reason").as_deref(),
        Some("closed")
    );
    // and a forged one like an expired one
    let (status, doc) = page(get(&t, &ua, "/t/AAAA").await).await;
    assert_eq!(status, 410);
    assert_eq!(
        attr(&doc, "#checkin-refused", "data-reason").as_deref(),
        Some("expired")
    );
}
app_test!(
    check_in_and_out_with_the_venue_link_credit_my_page,
    check_in_and_out
);

async fn replayed_ticket<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let s = session(&t).await;
    let (phone, _) = doctor_browser(&t, DOCTOR).await;
    let r = get(&t, &phone, &venue_path(&t, &s).await).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/t/check-in");
    let ticket = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("mamis_venue="))
        .unwrap();
    let value = ticket.split(';').next().unwrap().to_owned();
    // the same doctor on another browser (its own device cookie), given the ticket
    let (other, jar) = doctor_browser(&t, DOCTOR).await;
    jar.add_cookie_str(&format!("{value}; Path=/"), &t.base_url.parse().unwrap());
    let (status, doc) = press(&t, &other).await;
    assert_eq!(status, 410);
    assert_eq!(
        attr(&doc, "#checkin-refused", "data-reason").as_deref(),
        Some("ticket")
    );
    assert!(presence(&t, &s).await.is_empty(), "not checked in");
    // the browser that opened the link still can
    let (status, doc) = press(&t, &phone).await;
    assert_eq!(status, 200, "{:?}", texts(&doc, "main"));
    assert_eq!(presence(&t, &s).await.len(), 1);
    // …and checking out from the other browser is refused
    let r = get(&t, &other, &venue_path(&t, &s).await).await;
    assert_eq!(r.status(), 303);
    let (status, doc) = press(&t, &other).await;
    assert_eq!(status, 409);
    assert_eq!(
        attr(&doc, "#checkin-refused", "data-reason").as_deref(),
        Some("other-browser")
    );
    assert!(presence(&t, &s).await[0].out_at.is_none());
}
app_test!(
    a_ticket_replayed_from_another_browser_is_refused,
    replayed_ticket
);

async fn unverified<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let s = session(&t).await;
    let (ua, _) = doctor_browser(&t, UNVERIFIED).await;
    let r = get(&t, &ua, &venue_path(&t, &s).await).await;
    assert_eq!(r.status(), 303);
    let (status, doc) = page(get(&t, &ua, "/t/check-in").await).await;
    assert_eq!(status, 403);
    assert_eq!(texts(&doc, "h1"), ["本人確認が必要です"]);
    assert!(texts(&doc, "#checkin-refused")[0].contains("MAMIS_ID の本人確認"));
    assert_eq!(
        attr(&doc, "a#checkin-refused-link", "href").as_deref(),
        Some("/mypage/identity")
    );
    assert!(texts(&doc, "button#checkin-submit").is_empty());
    // posting anyway changes nothing
    let csrf = attr(&doc, "input[name=csrf]", "value").unwrap();
    let r = ua
        .post(t.url("/t/check-in"))
        .header("origin", &t.base_url)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(presence(&t, &s).await.is_empty());
    // nor is there a personal code
    let (status, _) = page(get(&t, &ua, "/mypage/cme/training/qr").await).await;
    assert_eq!(status, 403);
}
app_test!(
    an_unverified_doctor_is_told_to_verify_the_mamis_id,
    unverified
);

async fn personal_qr<S: Store>(t: TestApp<S>) {
    let d = seed(&t).await;
    let s = session(&t).await;
    let (ua, _) = doctor_browser(&t, DOCTOR).await;
    let (_, doc) = page(get(&t, &ua, "/mypage/cme/training").await).await;
    assert_eq!(texts(&doc, "#training-attendances-empty").len(), 1);
    let r = get(&t, &ua, "/mypage/cme/training/qr").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["refresh"], "100");
    let (_, doc) = page(r).await;
    assert_eq!(texts(&doc, "#personal-qr svg").len(), 1);
    assert!(texts(&doc, "#personal-qr-expiry")[0].contains("09:02:00"));
    assert_eq!(
        attr(&doc, "a#personal-qr-reload", "href").as_deref(),
        Some("/mypage/cme/training/qr")
    );
    let code = texts(&doc, "#personal-code").remove(0);
    assert!(code.starts_with("MAMIS-P1."), "{code}");
    // the desk scans it: the doctor is in
    let r = capture::desk_scan(
        &t.app,
        &job(),
        s.id,
        DeskInput::Code(code.clone()),
        Origin::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.captured, DeskCaptured::CheckedIn);
    assert_eq!(r.iseki, d.iseki);
    // two minutes later the same code is refused; the page shows a fresh one
    t.clock.advance(Duration::seconds(121));
    assert!(
        capture::desk_scan(
            &t.app,
            &job(),
            s.id,
            DeskInput::Code(code),
            Origin::default()
        )
        .await
        .is_err()
    );
    let (_, doc) = page(get(&t, &ua, "/mypage/cme/training/qr").await).await;
    let fresh = texts(&doc, "#personal-code").remove(0);
    let r = capture::desk_scan(
        &t.app,
        &job(),
        s.id,
        DeskInput::Code(fresh),
        Origin::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.captured, DeskCaptured::CheckedOut);
}
app_test!(
    the_personal_qr_page_shows_a_code_the_desk_can_scan,
    personal_qr
);

// ---------------------------------------------------------------- the API

async fn token<S: Store>(t: &TestApp<S>, scope: &str) -> String {
    let g = RoleGrant::new(Role::CountyStaff, Scope::Association(code(scope))).unwrap();
    tokens::create(&t.app, &job(), "training test", g)
        .await
        .unwrap()
        .secret
}

async fn problem(r: reqwest::Response, status: u16) -> dto::Problem {
    assert_eq!(r.status(), status);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    r.json().await.unwrap()
}

fn new_session(organiser: &str) -> serde_json::Value {
    serde_json::json!({
        "organiser": organiser,
        "title": "糖尿病診療アップデート",
        "venue": {"kind": "hybrid", "place": "千代田区医師会館"},
        "start": "2026-06-10T19:00:00+09:00",
        "end": "2026-06-10T21:00",
        "expected_headcount": 80,
        "items": [
            {"title": "開会挨拶", "start": "2026-06-10T19:00:00+09:00", "minutes": 5, "kind": "greeting"},
            {"title": "インスリン治療", "start": "2026-06-10T19:05:00+09:00", "minutes": 90, "kind": "credit",
             "parts": [{"code": 76, "minutes": 60}, {"code": 12, "minutes": 30}]}
        ]
    })
}

async fn api_sessions<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let s = session(&t).await;
    let chiyoda = token(&t, "P13-0001").await;
    let post = |body: serde_json::Value, tok: Option<String>, lang: &'static str| {
        let mut r = t
            .client
            .post(t.url("/api/v1/training/sessions"))
            .header("accept-language", lang)
            .json(&body);
        if let Some(tok) = tok {
            r = r.bearer_auth(tok);
        }
        r.send()
    };
    let r = post(new_session("P13-0001"), Some(chiyoda.clone()), "ja")
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: dto::TrainingSession = r.json().await.unwrap();
    assert_eq!(created.organiser, "P13-0001");
    assert_eq!(created.venue.kind, "hybrid");
    assert_eq!(created.start, "2026-06-10T10:00:00Z");
    assert_eq!(
        created.end, "2026-06-10T12:00:00Z",
        "Japan time without offset"
    );
    assert_eq!((created.grace_minutes, created.desk_scan_only), (5, false));
    assert!(created.approval.is_none() && created.closed_at.is_none());

    let r = t
        .api_get(
            "/api/v1/training/sessions?organiser=P13-0001&limit=10",
            &chiyoda,
        )
        .await;
    assert_eq!(r.status(), 200);
    let list: dto::TrainingSessionsPage = r.json().await.unwrap();
    assert_eq!((list.organiser.as_str(), list.limit), ("P13-0001", 10));
    let ids: Vec<&str> = list.sessions.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(ids, [created.id.clone(), s.id.to_string()], "latest first");
    assert_eq!(list.sessions[1].title, TITLE);
    assert_eq!(
        list.sessions[1].venue.place.as_deref(),
        Some("千代田区医師会館")
    );

    // another county's sessions: neither listed nor created
    let p = problem(
        t.api_get("/api/v1/training/sessions?organiser=P13-0002", &chiyoda)
            .await,
        403,
    )
    .await;
    assert_eq!(p.code, "forbidden");
    problem(
        post(new_session("P13-0002"), Some(chiyoda.clone()), "ja")
            .await
            .unwrap(),
        403,
    )
    .await;
    problem(
        post(new_session("P13-0001"), None, "ja").await.unwrap(),
        401,
    )
    .await;
    // malformed input names the field
    let p = problem(t.api_get("/api/v1/training/sessions", &chiyoda).await, 400).await;
    assert!(p.detail.contains("organiser"), "{}", p.detail);
    // a page size that is a number outside 1–200 is 422, one that is no number 400
    for (q, status) in [("limit=0", 422), ("limit=201", 422), ("limit=ten", 400)] {
        let p = problem(
            t.api_get(
                &format!("/api/v1/training/sessions?organiser=P13-0001&{q}"),
                &chiyoda,
            )
            .await,
            status,
        )
        .await;
        assert_eq!(p.code, "bad-limit", "{q}");
    }
    // whole numbers written with a fraction of zero are integers as JSON Schema counts them
    let mut floats = new_session("P13-0001");
    floats["expected_headcount"] = serde_json::json!(40.0);
    floats["grace_minutes"] = serde_json::json!(10.0);
    let r = post(floats, Some(chiyoda.clone()), "ja").await.unwrap();
    assert_eq!(r.status(), 201);
    let made: dto::TrainingSession = r.json().await.unwrap();
    assert_eq!(
        (made.expected_headcount, made.grace_minutes),
        (Some(40), 10)
    );
    let mut fraction = new_session("P13-0001");
    fraction["grace_minutes"] = serde_json::json!(10.5);
    let p = problem(
        post(fraction, Some(chiyoda.clone()), "ja").await.unwrap(),
        400,
    )
    .await;
    assert_eq!(p.code, "bad-json");
    let mut bad = new_session("P13-0001");
    bad["colour"] = "red".into();
    let p = problem(post(bad, Some(chiyoda.clone()), "ja").await.unwrap(), 400).await;
    assert_eq!(p.code, "bad-json");
    assert!(p.detail.contains("colour"), "{}", p.detail);
    // a programme the rules refuse: 422 with the items named, Japanese first
    let mut overlap = new_session("P13-0001");
    overlap["items"][0]["minutes"] = 30.into();
    let p = problem(
        post(overlap.clone(), Some(chiyoda.clone()), "ja")
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(p.code, "items-overlap");
    assert_eq!(
        p.detail,
        "1 番目と 2 番目の演題の時間が重なっています。並行するプログラムは別の研修会として登録してください。"
    );
    let p = problem(
        post(overlap, Some(chiyoda.clone()), "en-GB,en;q=0.8")
            .await
            .unwrap(),
        422,
    )
    .await;
    assert!(
        p.detail.starts_with("Items 1 and 2 overlap"),
        "{}",
        p.detail
    );
    let mut split = new_session("P13-0001");
    split["items"][1]["parts"][1]["minutes"] = 20.into();
    let p = problem(post(split, Some(chiyoda.clone()), "ja").await.unwrap(), 422).await;
    assert_eq!(p.code, "split-part-minutes");
    let mut grace = new_session("P13-0001");
    grace["grace_minutes"] = 45.into();
    let p = problem(post(grace, Some(chiyoda), "ja").await.unwrap(), 422).await;
    assert_eq!(p.code, "grace");
}
app_test!(
    the_training_api_lists_and_creates_its_organisers_sessions,
    api_sessions
);

async fn upload<S: Store>(
    t: &TestApp<S>,
    token: &str,
    id: &str,
    dry_run: bool,
    body: &str,
) -> reqwest::Response {
    t.client
        .post(t.url(&format!(
            "/api/v1/training/sessions/{id}/attendance?dry_run={dry_run}"
        )))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn api_attendance<S: Store>(t: TestApp<S>) {
    let d = seed(&t).await;
    let s = session(&t).await;
    let id = s.id.to_string();
    let chiyoda = token(&t, "P13-0001").await;
    let csv = format!(
        "医籍登録番号,氏名カナ,生年月日,入室,退室\n{},{} {},{},9:00,10:30\n999999,スズキ ハナコ,1990/1/2,,\n",
        d.iseki.as_str(),
        d.family_kana.as_str(),
        d.given_kana.as_str(),
        d.birth_date,
    );
    let ledger = || async {
        let mut tx = t.app.store.read().await.unwrap();
        let v = tx.ledger_of(d.id, mamis_app::cme::PROGRAMME).await.unwrap();
        tx.rollback().await.unwrap();
        v
    };
    // a dry run shows the difference and writes nothing
    let r = upload(&t, &chiyoda, &id, true, &csv).await;
    assert_eq!(r.status(), 200);
    let plan: dto::TrainingImportResult = r.json().await.unwrap();
    assert_eq!(plan.encoding, "UTF-8");
    assert_eq!(
        (plan.rows, plan.added, plan.removed, plan.unchanged),
        (2, 2, 0, 0)
    );
    assert_eq!((plan.attendees, plan.pending), (2, 1));
    assert!(!plan.applied);
    assert_eq!(plan.added_lines.len(), 2);
    assert_eq!(plan.added_lines[0].iseki_number, d.iseki.as_str());
    assert_eq!(plan.added_lines[0].check_in, "2026-06-01T00:00:00Z");
    assert!(plan.added_lines[1].pending);
    assert!(presence(&t, &s).await.is_empty());
    assert!(ledger().await.is_empty());
    // applied: the doctor is credited, the unknown number waits
    let r = upload(&t, &chiyoda, &id, false, &csv).await;
    assert_eq!(r.status(), 200);
    let plan: dto::TrainingImportResult = r.json().await.unwrap();
    assert!(plan.applied);
    assert_eq!((plan.added, plan.credited, plan.reversed), (2, 1, 0));
    assert_eq!(presence(&t, &s).await.len(), 2);
    assert_eq!(ledger().await.len(), 1);
    // the same file again changes nothing
    let r = upload(&t, &chiyoda, &id, false, &csv).await;
    let plan: dto::TrainingImportResult = r.json().await.unwrap();
    assert_eq!(
        (plan.added, plan.removed, plan.unchanged, plan.credited),
        (0, 0, 2, 0)
    );
    assert_eq!(ledger().await.len(), 1);

    // a malformed file: 422, every wrong line named, nothing written
    let bad = "医籍登録番号,生年月日\nabc,1980-01-01\n123456,1980-02-30\n";
    let r = upload(&t, &chiyoda, &id, false, bad).await;
    assert_eq!(r.status(), 422);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let refused: dto::TrainingImportRefusal = r.json().await.unwrap();
    assert_eq!(refused.code, "attendee-list-refused");
    assert_eq!(refused.total_problems, 2);
    assert!(refused.detail.contains("2 件の問題"), "{}", refused.detail);
    let lines: Vec<(u64, &str, Option<&str>)> = refused
        .problems
        .iter()
        .map(|p| (p.line, p.code.as_str(), p.column.as_deref()))
        .collect();
    assert_eq!(lines[0].0, 2);
    assert_eq!(lines[0].1, "bad_iseki");
    assert_eq!((lines[1].0, lines[1].1), (3, "bad_date"));
    assert_eq!(lines[1].2, Some("生年月日"));
    assert!(!refused.problems[1].message.is_empty());
    assert_eq!(presence(&t, &s).await.len(), 2);

    // another county's token does not find the session; no token, no upload
    let chuo = token(&t, "P13-0002").await;
    problem(upload(&t, &chuo, &id, true, &csv).await, 404).await;
    let r = t
        .client
        .post(t.url(&format!("/api/v1/training/sessions/{id}/attendance")))
        .body(csv.clone())
        .send()
        .await
        .unwrap();
    problem(r, 401).await;
    // a JSON body is not an attendee list
    let r = t
        .client
        .post(t.url(&format!("/api/v1/training/sessions/{id}/attendance")))
        .bearer_auth(&chiyoda)
        .json(&serde_json::json!({"rows": []}))
        .send()
        .await
        .unwrap();
    problem(r, 415).await;
    let p = problem(upload(&t, &chiyoda, "not-a-uuid", true, &csv).await, 400).await;
    assert_eq!(p.code, "bad-session-id");
}
app_test!(
    attendee_lists_upload_through_the_api_as_a_difference,
    api_attendance
);

async fn openapi<S: Store>(t: TestApp<S>) {
    let doc: serde_json::Value = t.get("/api/v1/openapi.json").await.json().await.unwrap();
    assert!(doc["paths"]["/api/v1/training/sessions"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/training/sessions"]["post"].is_object());
    let upload = &doc["paths"]["/api/v1/training/sessions/{id}/attendance"]["post"];
    assert!(
        upload["requestBody"]["content"]["text/csv"].is_object(),
        "{upload}"
    );
    assert!(upload["responses"]["422"].is_object());
    assert!(doc["components"]["schemas"]["TrainingImportResult"].is_object());
}
app_test!(the_openapi_document_describes_the_training_api, openapi);
