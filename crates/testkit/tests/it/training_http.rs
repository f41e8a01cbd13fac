//! The back office's training pages over HTTP, on both backends: the create form (split items,
//! refusals at their rows, CSRF), another county's session kept out of sight, attendee-list
//! uploads (preview, confirm, re-upload, malformed files, the export read back, a file over the
//! limit), desk scans as JSON, the rotating venue code, and prefecture approvals.

use chrono::{DateTime, Duration, Utc};
use mamis_app::training::{self, ItemInput, SessionInput};
use mamis_domain::training::{CodePart, ItemKind, NonCreditKind, Venue};
use mamis_domain::{Association, AssociationCode, Organisation, Principal, Role, RoleGrant, Scope};
use mamis_store::conformance::sample_doctor;
use mamis_store::{
    AccessStore, Account, AccountKind, Doctor, Organiser, RegistryStore, Store, TrainingSession,
    Tx, Verification,
};
use mamis_testkit::{TestApp, app_test, attr, html, staff_user, texts};
use uuid::Uuid;

const PASSWORD: &str = "Training-staff-2026-hinoki";
const ORG: Uuid = Uuid::from_u128(0x0A12);

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

fn grant(role: Role, scope: &str) -> RoleGrant {
    RoleGrant::new(role, Scope::Association(code(scope))).unwrap()
}

/// Chiyoda and Minato (two counties of Tokyo) and an outside organisation in Tokyo.
async fn setup<S: Store>(t: &TestApp<S>) {
    let mut tx = t.app.store.write().await.unwrap();
    for (c, ja) in [("P13-0001", "千代田区医師会"), ("P13-0002", "港区医師会")] {
        tx.upsert_association(&Association {
            code: code(c),
            name_ja: ja.into(),
            name_en: format!("{c} association"),
        })
        .await
        .unwrap();
    }
    tx.insert_organisation(
        &Organisation {
            id: ORG,
            name: "東京内科学会".into(),
            prefecture: code("P13"),
        },
        t.app.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// A doctor in the register with a verified MAMIS_ID.
async fn verified<S: Store>(t: &TestApp<S>, n: u32) -> Doctor {
    let d = sample_doctor(n);
    let mut acc = Account::new(
        Uuid::from_u128(0xACD0 + u128::from(n)),
        &format!("training-http-{n}@example.jp"),
        "",
        AccountKind::Doctor,
        t.app.now(),
    );
    acc.doctor_id = Some(d.id);
    acc.verification = Verification::Verified;
    let mut tx = t.app.store.write().await.unwrap();
    tx.insert_doctor(&d).await.unwrap();
    tx.insert_account(&acc).await.unwrap();
    tx.commit().await.unwrap();
    d
}

/// The test clock's day, 09:00–12:00: a greeting, a 60-minute talk (code 10) and a 90-minute
/// talk split 30/60 (codes 11 and 12).
fn input(organiser: Organiser, desk_scan_only: bool) -> SessionInput {
    SessionInput {
        organiser,
        title: "学術講演会「高血圧」".into(),
        venue: Venue::InPerson("医師会館".into()),
        start: jst("2026-06-01T09:00:00"),
        end: jst("2026-06-01T12:00:00"),
        expected_headcount: Some(50),
        desk_scan_only,
        grace_minutes: 5,
        items: vec![
            ItemInput {
                id: None,
                title: "開会挨拶".into(),
                start: jst("2026-06-01T09:00:00"),
                minutes: 10,
                kind: ItemKind::NonCredit(NonCreditKind::Greeting),
            },
            ItemInput {
                id: None,
                title: "講演1".into(),
                start: jst("2026-06-01T09:10:00"),
                minutes: 60,
                kind: ItemKind::single(10, 60),
            },
            ItemInput {
                id: None,
                title: "講演2".into(),
                start: jst("2026-06-01T10:10:00"),
                minutes: 90,
                kind: ItemKind::Credit {
                    parts: vec![
                        CodePart {
                            code: 11,
                            minutes: 30,
                        },
                        CodePart {
                            code: 12,
                            minutes: 60,
                        },
                    ],
                },
            },
        ],
    }
}

async fn session<S: Store>(
    t: &TestApp<S>,
    organiser: Organiser,
    desk_only: bool,
) -> TrainingSession {
    training::create(&t.app, &job(), input(organiser, desk_only), None)
        .await
        .unwrap()
}

async fn get<S: Store>(t: &TestApp<S>, ua: &reqwest::Client, path: &str) -> (u16, scraper::Html) {
    let r = ua.get(t.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    (status, html(&r.text().await.unwrap()))
}

/// A form post as the browser sends it (same origin).
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

/// The CSRF token of the browser, from any page with a form.
async fn csrf<S: Store>(t: &TestApp<S>, ua: &reqwest::Client) -> String {
    let (_, doc) = get(t, ua, "/office").await;
    attr(&doc, "input[name=csrf]", "value").unwrap()
}

/// Switches the browser's page language with the header's switch.
async fn switch_lang<S: Store>(t: &TestApp<S>, ua: &reqwest::Client, token: &str, lang: &str) {
    let r = post(
        t,
        ua,
        "/lang",
        &[("csrf", token), ("lang", lang), ("next", "/office")],
    )
    .await;
    assert_eq!(r.status(), 303);
}

fn one(doc: &scraper::Html, selector: &str) -> String {
    let v = texts(doc, selector);
    assert_eq!(v.len(), 1, "{selector}: {v:?}");
    v[0].clone()
}

// ---------------------------------------------------------------- the create form

async fn create_form<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let (ua, _) = staff_user(
        &t,
        "chiyoda-training@example.jp",
        PASSWORD,
        grant(Role::CountyStaff, "P13-0001"),
    )
    .await;
    let (_, doc) = get(&t, &ua, "/office").await;
    assert_eq!(
        attr(&doc, "#office-nav-training", "href").as_deref(),
        Some("/office/training")
    );
    let (status, doc) = get(&t, &ua, "/office/training").await;
    assert_eq!(status, 200);
    assert_eq!(
        attr(&doc, "a.new-session", "href").as_deref(),
        Some("/office/training/new?organiser=P13-0001")
    );
    assert!(
        texts(&doc, "#training-approvals-link").is_empty(),
        "a county approves nothing"
    );
    let (status, doc) = get(&t, &ua, "/office/training/new?organiser=P13-0001").await;
    assert_eq!(status, 200);
    assert_eq!(texts(&doc, "tr.programme-row").len(), 10);
    let token = attr(&doc, "#session-form input[name=csrf]", "value").unwrap();
    let mut form = vec![
        ("csrf", token.as_str()),
        ("organiser", "P13-0001"),
        ("title", "千代田区医師会 学術講演会"),
        ("venue_kind", "in_person"),
        ("place", "千代田区医師会館"),
        ("date", "2026-06-10"),
        ("start", "14:00"),
        ("end", "16:00"),
        ("headcount", "80"),
        ("grace", "5"),
        ("item-0-title", "開会挨拶"),
        ("item-0-start", "14:00"),
        ("item-0-minutes", "10"),
        ("item-0-kind", "greeting"),
        ("item-0-codes", ""),
        ("item-1-title", "高血圧の最新治療"),
        ("item-1-start", "14:10"),
        ("item-1-minutes", "90"),
        ("item-1-kind", "credit"),
        ("item-1-codes", "11:45 12:45"),
    ];
    // without the token: refused, nothing created
    let without: Vec<(&str, &str)> = form.iter().copied().filter(|(k, _)| *k != "csrf").collect();
    let r = post(&t, &ua, "/office/training/new", &without).await;
    assert_eq!(r.status(), 403);
    // a 45/45 split: the form comes back with the message at its row, in Japanese
    let r = post(&t, &ua, "/office/training/new", &form).await;
    assert_eq!(r.status(), 422);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(
        one(&doc, "#row-2-error"),
        "分割した各コードの時間は30分単位にしてください（45分は単位になりません）。例: 90分の演題なら「11:30 12:60」。"
    );
    assert!(texts(&doc, "#row-1-error").is_empty());
    assert_eq!(
        attr(&doc, "input[name=item-1-codes]", "value").as_deref(),
        Some("11:45 12:45"),
        "what was typed comes back"
    );
    assert_eq!(
        attr(&doc, "#title", "value").as_deref(),
        Some("千代田区医師会 学術講演会")
    );
    let (_, doc) = get(&t, &ua, "/office/training").await;
    assert_eq!(
        texts(&doc, "a.session-link").len(),
        0,
        "nothing was created"
    );
    // 30/60: created, and its page shows the units of each part
    form.retain(|(k, _)| *k != "item-1-codes");
    form.push(("item-1-codes", "11:30 12:60"));
    let r = post(&t, &ua, "/office/training/new", &form).await;
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with("/office/training/"), "{to}");
    let (status, doc) = get(&t, &ua, &to).await;
    assert_eq!(status, 200);
    assert_eq!(one(&doc, "#session-title"), "千代田区医師会 学術講演会");
    assert_eq!(one(&doc, "#session-when"), "2026年6月10日 14:00–16:00");
    assert_eq!(
        texts(&doc, "#programme tr.credit td.units"),
        vec!["0.5 単位", "1 単位"]
    );
    assert_eq!(
        texts(&doc, "#programme tr.non-credit td.units"),
        vec!["単位なし"]
    );
    assert_eq!(one(&doc, "#total-units"), "1.5 単位");
    assert_eq!(one(&doc, "#session-approval"), "医師会主催（承認不要）");
    assert!(texts(&doc, "#unapproved-notice").is_empty());
    let (_, doc) = get(&t, &ua, "/office/training").await;
    assert_eq!(
        texts(&doc, "a.session-link"),
        vec!["千代田区医師会 学術講演会"]
    );
    // the same page in English
    switch_lang(&t, &ua, &token, "en").await;
    let (_, doc) = get(&t, &ua, &to).await;
    assert_eq!(one(&doc, "#session-when"), "June 10, 2026 14:00–16:00");
    assert_eq!(one(&doc, "#total-units"), "1.5 units");
    assert_eq!(
        texts(&doc, "#programme tr.non-credit .tag"),
        vec!["Greeting"]
    );
    switch_lang(&t, &ua, &token, "ja").await;
    // another county's form is refused by the use case
    form.retain(|(k, _)| *k != "organiser");
    form.push(("organiser", "P13-0002"));
    let r = post(&t, &ua, "/office/training/new", &form).await;
    assert_eq!(r.status(), 403);
}
app_test!(the_create_form_checks_splits_and_shows_units, create_form);

// ---------------------------------------------------------------- another county

async fn other_county<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let minato = session(&t, Organiser::Association(code("P13-0002")), false).await;
    let (ua, _) = staff_user(
        &t,
        "chiyoda-nosy@example.jp",
        PASSWORD,
        grant(Role::CountyStaff, "P13-0001"),
    )
    .await;
    for path in ["", "/attendees.csv", "/desk", "/venue"] {
        let (status, _) = get(&t, &ua, &format!("/office/training/{}{path}", minato.id)).await;
        assert_eq!(status, 404, "{path}");
    }
    let r = ua
        .get(t.url(&format!("/office/training/{}/venue.json", minato.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let token = csrf(&t, &ua).await;
    let r = ua
        .post(t.url(&format!("/office/training/{}/desk", minato.id)))
        .header("origin", &t.base_url)
        .header("accept", "application/json")
        .form(&[("csrf", token.as_str()), ("iseki", "123456")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("見つかりません"));
    // a malformed id is no session either
    let (status, _) = get(&t, &ua, "/office/training/not-a-session").await;
    assert_eq!(status, 404);
}
app_test!(
    county_staff_cannot_open_another_countys_session,
    other_county
);

// ---------------------------------------------------------------- attendee lists

/// A multipart body with one file part, as a browser's form sends it.
fn multipart(file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----mamis-training-http-7d1f";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nignored\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"list.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Uploads a file as `upload.js` does (the token in the header).
async fn upload<S: Store>(
    t: &TestApp<S>,
    ua: &reqwest::Client,
    token: &str,
    s: &TrainingSession,
    file: &[u8],
) -> (u16, scraper::Html) {
    let (content_type, body) = multipart(file);
    let r = ua
        .post(t.url(&format!("/office/training/{}/attendees", s.id)))
        .header("origin", &t.base_url)
        .header("x-csrf-token", token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, html(&r.text().await.unwrap()))
}

fn counts(doc: &scraper::Html) -> [String; 5] {
    ["added", "removed", "unchanged", "attendees", "pending"]
        .map(|k| one(doc, &format!("#count-{k}")))
}

async fn attendee_lists<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let s = session(&t, Organiser::Association(code("P13-0001")), false).await;
    let a = verified(&t, 1).await;
    let b = verified(&t, 2).await;
    let (ua, _) = staff_user(
        &t,
        "chiyoda-lists@example.jp",
        PASSWORD,
        grant(Role::CountyStaff, "P13-0001"),
    )
    .await;
    let token = csrf(&t, &ua).await;
    let page = format!("/office/training/{}", s.id);
    let list = format!(
        "医籍登録番号,氏名カナ,入室,退室,備考\r\n{},ヤマダ タロウ,09:00,12:00,\r\n{},ヤマダ タロウ,09:05,10:30,遅刻\r\n",
        a.iseki.as_str(),
        b.iseki.as_str()
    );

    // preview: the difference, nothing written
    let (status, doc) = upload(&t, &ua, &token, &s, list.as_bytes()).await;
    assert_eq!(status, 200);
    assert_eq!(one(&doc, "#upload-heading"), "出席者名簿の確認");
    assert_eq!(one(&doc, "#upload-encoding"), "UTF-8");
    assert_eq!(one(&doc, "#upload-rows"), "2");
    assert_eq!(counts(&doc), ["2", "0", "0", "2", "0"].map(String::from));
    assert_eq!(
        texts(&doc, "#added-lines th.iseki"),
        vec![a.iseki.as_str(), b.iseki.as_str()]
    );
    // names beside numbers, and the organiser's own column ignored and named
    assert_eq!(
        texts(&doc, "#added-lines td.name"),
        vec![
            format!("{} {}", a.family_name, a.given_name),
            format!("{} {}", b.family_name, b.given_name)
        ]
    );
    assert_eq!(one(&doc, "#upload-ignored-columns"), "備考");
    let staging = attr(&doc, "#confirm-form input[name=staging]", "value").unwrap();
    let (_, doc) = get(&t, &ua, &page).await;
    assert!(
        texts(&doc, "tr.attendee").is_empty(),
        "a preview writes nothing"
    );

    // confirm: applied and credited; the list shows both
    let r = post(
        &t,
        &ua,
        &format!("/office/training/{}/attendees/confirm", s.id),
        &[("csrf", token.as_str()), ("staging", staging.as_str())],
    )
    .await;
    assert_eq!(r.status(), 200);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(one(&doc, "#upload-heading"), "出席者名簿を反映しました");
    assert_eq!(counts(&doc), ["2", "0", "0", "2", "0"].map(String::from));
    // A: the whole programme (codes 10, 11, 12); B: talk 1 only (code 10)
    assert_eq!(one(&doc, "#count-credited"), "4");
    let (_, doc) = get(&t, &ua, &page).await;
    assert_eq!(
        texts(&doc, "tr.attendee th.iseki"),
        vec![a.iseki.as_str(), b.iseki.as_str()]
    );
    assert_eq!(
        texts(&doc, &format!("#attendee-{} .span", b.iseki.as_str())),
        vec!["09:05 – 10:30"]
    );
    assert_eq!(
        texts(&doc, &format!("#attendee-{} .channel", a.iseki.as_str())),
        vec!["（名簿）"]
    );

    // the staging id is used up
    let r = post(
        &t,
        &ua,
        &format!("/office/training/{}/attendees/confirm", s.id),
        &[("csrf", token.as_str()), ("staging", staging.as_str())],
    )
    .await;
    assert_eq!(r.status(), 410);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(
        one(&doc, "#upload-message"),
        "この確認画面は期限切れか、すでに反映済みです。名簿をもう一度アップロードしてください。"
    );

    // the same file again: nothing to apply
    let (status, doc) = upload(&t, &ua, &token, &s, list.as_bytes()).await;
    assert_eq!(status, 200);
    assert_eq!(counts(&doc), ["0", "0", "2", "2", "0"].map(String::from));
    assert!(texts(&doc, "#upload-noop").len() == 1);
    assert!(attr(&doc, "#confirm-form", "action").is_none());

    // a malformed file: every bad line named, in Japanese, and nothing written
    let bad = format!(
        "医籍登録番号,氏名カナ,入室,退室\n{},ヤマダ タロウ,09:00,12:00\nabc,ヤマダ タロウ,09:00,12:00\n{},yamada,09:00,\n",
        a.iseki.as_str(),
        b.iseki.as_str()
    );
    let (status, doc) = upload(&t, &ua, &token, &s, bad.as_bytes()).await;
    assert_eq!(status, 422);
    assert_eq!(one(&doc, "#upload-heading"), "出席者名簿に問題があります");
    assert_eq!(texts(&doc, "#problems td.line"), vec!["3", "4", "4"]);
    assert_eq!(
        texts(&doc, "#problems td.column"),
        vec!["医籍登録番号", "氏名カナ", "退室"]
    );
    let messages = texts(&doc, "#problems td.message");
    assert_eq!(
        messages[0],
        "医籍登録番号ではありません（1〜7桁の数字、例: 123456）。"
    );
    assert!(
        messages[1].starts_with("カナではありません"),
        "{messages:?}"
    );
    assert_eq!(one(&doc, "#problems-total"), "3");
    assert!(attr(&doc, "#confirm-form", "action").is_none());
    let (_, doc) = get(&t, &ua, &page).await;
    assert_eq!(texts(&doc, "tr.attendee").len(), 2, "nothing changed");

    // the export (Japanese headers) read back is a no-op
    let r = ua
        .get(t.url(&format!("/office/training/{}/attendees.csv", s.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"attendees-20260601-"),
        "{disposition}"
    );
    let exported = r.bytes().await.unwrap();
    let text = String::from_utf8(exported.to_vec()).unwrap();
    assert!(
        text.starts_with("\u{feff}医籍登録番号,氏名,氏名カナ,入室,退室"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 3);
    switch_lang(&t, &ua, &token, "en").await;
    let r = ua
        .get(t.url(&format!("/office/training/{}/attendees.csv", s.id)))
        .send()
        .await
        .unwrap();
    let english = r.text().await.unwrap();
    switch_lang(&t, &ua, &token, "ja").await;
    assert!(
        english.starts_with("\u{feff}iseki_number,name,name_kana,check_in,check_out"),
        "{english}"
    );
    let (status, doc) = upload(&t, &ua, &token, &s, &exported).await;
    assert_eq!(status, 200, "{:?}", texts(&doc, "#problems td.message"));
    assert_eq!(counts(&doc), ["0", "0", "2", "2", "0"].map(String::from));

    // without the header token a multipart post is refused
    let (content_type, body) = multipart(list.as_bytes());
    let r = ua
        .post(t.url(&format!("/office/training/{}/attendees", s.id)))
        .header("origin", &t.base_url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a wrong token in the form field");

    // without script the form's first field carries the token, and the preview comes back
    let (content_type, body) = multipart(list.as_bytes());
    let body = String::from_utf8(body)
        .unwrap()
        .replacen("ignored", &token, 1)
        .into_bytes();
    let r = ua
        .post(t.url(&format!("/office/training/{}/attendees", s.id)))
        .header("origin", &t.base_url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(
        one(&doc, "#count-added"),
        "0",
        "the list was applied before"
    );

    // a file over 20 MB gets the page saying so, not a reset connection
    let mut huge = b"iseki_number\n".to_vec();
    huge.resize(22 * 1024 * 1024, b'1');
    let (status, doc) = upload(&t, &ua, &token, &s, &huge).await;
    assert_eq!(status, 413);
    assert_eq!(
        one(&doc, "#upload-message"),
        "ファイルが20MBを超えています。ファイルを分けてアップロードしてください。"
    );
}
app_test!(
    attendee_lists_are_previewed_confirmed_and_read_back,
    attendee_lists
);

// ---------------------------------------------------------------- the desk

async fn desk<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let s = session(&t, Organiser::Association(code("P13-0001")), true).await;
    let d = verified(&t, 1).await;
    let (ua, _) = staff_user(
        &t,
        "chiyoda-desk@example.jp",
        PASSWORD,
        grant(Role::CountyStaff, "P13-0001"),
    )
    .await;
    let path = format!("/office/training/{}/desk", s.id);
    let r = ua.get(t.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["permissions-policy"],
        "camera=(self), microphone=(), geolocation=()"
    );
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("mamis_device=")),
        "the tablet gets its device id"
    );
    let doc = html(&r.text().await.unwrap());
    let token = attr(&doc, "#desk", "data-csrf").unwrap();
    assert_eq!(
        attr(&doc, "#desk", "data-post").as_deref(),
        Some(path.as_str())
    );
    assert!(attr(&doc, "#desk-code", "autofocus").is_some());
    // every other page keeps the camera off
    let r = ua.get(t.url("/office/training")).send().await.unwrap();
    assert_eq!(
        r.headers()["permissions-policy"],
        "camera=(), microphone=(), geolocation=()"
    );

    let scan = |field: &'static str, value: String| {
        let ua = ua.clone();
        let url = t.url(&path);
        let origin = t.base_url.clone();
        let token = token.clone();
        async move {
            let r = ua
                .post(url)
                .header("origin", origin)
                .header("accept", "application/json")
                .header("x-csrf-token", &token)
                .form(&[(field, value.as_str())])
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let location = r.headers().get("location").cloned();
            let body = r.text().await.unwrap();
            let json = serde_json::from_str::<serde_json::Value>(&body)
                .unwrap_or_else(|e| panic!("{status} {location:?} {e}: {body}"));
            (status, json)
        }
    };
    let hms = |t: chrono::DateTime<chrono::Utc>| {
        mamis_domain::time::to_japan(t)
            .format("%H:%M:%S")
            .to_string()
    };
    let first_at = t.app.now();
    let (status, j) = scan("iseki", d.iseki.as_str().to_owned()).await;
    assert_eq!(status, 200, "{j}");
    assert_eq!(j["result"], "checked_in");
    assert_eq!(j["name"], "山田 太郎1");
    assert_eq!(j["iseki"], d.iseki.as_str());
    assert_eq!(j["pending"], false);
    assert_eq!(j["class"], "desk-ok");
    assert_eq!(
        j["message"],
        format!("入室: 山田 太郎1（{}）", d.iseki.as_str())
    );
    // the answer carries the live count the page shows instead of reloading
    assert_eq!(j["live"], "現在の在室者: 1 名 / 予定 50 名");
    // the same doctor again 30 s later: 「記録済み」, nothing changed, still in the room
    t.clock.advance(Duration::seconds(30));
    let (status, j) = scan("iseki", d.iseki.as_str().to_owned()).await;
    assert_eq!(status, 200, "{j}");
    assert_eq!(j["result"], "already_recorded");
    assert_eq!(j["class"], "desk-same");
    assert_eq!(
        j["message"],
        format!(
            "記録済み: 山田 太郎1（{}）は {} に記録しています。続けて読み取ったため、今回は何も変更していません。",
            d.iseki.as_str(),
            hms(first_at)
        )
    );
    assert_eq!(j["live"], "現在の在室者: 1 名 / 予定 50 名");
    t.clock
        .advance(Duration::minutes(20) - Duration::seconds(30));
    let (_, j) = scan("iseki", d.iseki.as_str().to_owned()).await;
    assert_eq!(j["result"], "checked_out");
    assert_eq!(j["live"], "現在の在室者: 0 名 / 予定 50 名");
    // a number not in the register is still kept as pending attendance, with an amber warning
    let pending_at = t.app.now();
    let (status, j) = scan("iseki", "第９９９９９９号".to_owned()).await;
    assert_eq!(status, 200, "{j}");
    assert_eq!(j["result"], "checked_in");
    assert_eq!(j["iseki"], "999999");
    assert_eq!(j["pending"], true);
    assert_eq!(j["in_register"], false);
    assert_eq!(j["class"], "desk-warn");
    assert_eq!(
        j["message"],
        "入室（保留）: 医籍登録番号 999999 は名簿にありません。番号が正しいか確認してください。保留として記録し、この番号で MAMIS_ID が確認されると単位が付きます。"
    );
    assert_eq!(j["live"], "現在の在室者: 1 名 / 予定 50 名");
    // an empty submit asks for what is missing, field by field
    let (status, j) = scan("code", String::new()).await;
    assert_eq!(status, 422);
    assert_eq!(
        j["error"],
        "個人QRコードが読み取られていません。医師のマイページの個人QRコードを読み取るか、下の欄に医籍登録番号を入力してください。"
    );
    let (status, j) = scan("iseki", "  ".to_owned()).await;
    assert_eq!(status, 422);
    assert_eq!(
        j["error"],
        "医籍登録番号が入力されていません。医籍登録番号（数字）を入力してください。"
    );
    // refusals come back as JSON errors
    let (status, j) = scan("iseki", "12345678".to_owned()).await;
    assert_eq!(status, 422);
    assert!(j["error"].as_str().unwrap().contains("医籍登録番号"), "{j}");
    let (status, j) = scan("code", "MAMIS-P1.forged".to_owned()).await;
    assert_eq!(status, 422);
    assert_eq!(
        j["error"],
        "個人QRコードが無効か期限切れです。医師にマイページのQRコードを再表示してもらってください。"
    );
    // without JavaScript the page comes back with the result: at once, 「記録済み」
    let no_js = |number: &'static str| {
        let (t, ua, path, token) = (&t, &ua, &path, &token);
        async move {
            let r = post(t, ua, path, &[("csrf", token.as_str()), ("iseki", number)]).await;
            assert_eq!(r.status(), 200);
            assert_eq!(
                r.headers()["permissions-policy"],
                "camera=(self), microphone=(), geolocation=()"
            );
            html(&r.text().await.unwrap())
        }
    };
    let doc = no_js("999999").await;
    assert_eq!(
        one(&doc, "#desk-result.desk-same"),
        format!(
            "記録済み: 医籍登録番号 999999 は {} に記録しています。続けて読み取ったため、今回は何も変更していません。",
            hms(pending_at)
        )
    );
    assert_eq!(one(&doc, "#live-count"), "現在の在室者: 1 名 / 予定 50 名");
    t.clock.advance(Duration::seconds(61));
    let doc = no_js("999999").await;
    assert_eq!(
        one(&doc, "#desk-result.desk-warn"),
        "退室（保留）: 医籍登録番号 999999 は名簿にありません。番号が正しいか確認してください。保留として記録しています。"
    );
    assert_eq!(one(&doc, "#live-count"), "現在の在室者: 0 名 / 予定 50 名");
    // the empty-field messages in English too
    switch_lang(&t, &ua, &token, "en").await;
    let (status, j) = scan("code", String::new()).await;
    assert_eq!(status, 422);
    assert_eq!(
        j["error"],
        "No personal QR code was read. Scan the personal QR code on the doctor's My Page, or type the medical register number below."
    );
    let (_, j) = scan("iseki", String::new()).await;
    assert_eq!(
        j["error"],
        "No medical register number was typed. Type the medical register number (digits)."
    );
    switch_lang(&t, &ua, &token, "ja").await;
    // the session page: the doctor's interval by the desk, the pending number flagged
    let (_, doc) = get(&t, &ua, &format!("/office/training/{}", s.id)).await;
    assert_eq!(
        texts(&doc, &format!("#attendee-{} .span", d.iseki.as_str())),
        vec!["09:00 – 09:20"]
    );
    assert_eq!(
        texts(&doc, &format!("#attendee-{} .channel", d.iseki.as_str())),
        vec!["（受付入力）"]
    );
    // (both were scanned on the one desk tablet, which the app flags as a shared device)
    assert_eq!(
        texts(&doc, "#attendee-999999 .flags .flag-pending"),
        vec!["保留（MAMIS_ID未確認）"]
    );
    assert!(
        texts(
            &doc,
            &format!("#attendee-{} .flag-pending", d.iseki.as_str())
        )
        .is_empty()
    );
    // a desk-only session has no venue screen
    assert!(texts(&doc, "#venue-screen-link").is_empty());
    let (status, doc) = get(&t, &ua, &format!("/office/training/{}/venue", s.id)).await;
    assert_eq!(status, 200);
    assert_eq!(
        one(&doc, "#venue-message"),
        "この研修会は受付スキャンのみで出席を記録します。会場QRコードは表示されません。"
    );
    assert!(attr(&doc, "#venue-link", "href").is_none());
    // removing the doctor's interval takes them off the list
    let action = attr(
        &doc_of(&t, &ua, &format!("/office/training/{}", s.id)).await,
        &format!("#attendee-{} form.remove", d.iseki.as_str()),
        "action",
    )
    .unwrap();
    // the first post asks, naming the attendee; the list is unchanged until confirmed
    let r = post(
        &t,
        &ua,
        &action,
        &[("csrf", token.as_str()), ("reason", "重複して記録したため")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let asked = html(&r.text().await.unwrap());
    assert_eq!(
        one(&asked, "#confirm-title"),
        "この出席記録を取り消しますか"
    );
    let facts = texts(&asked, "#confirm-facts dd");
    assert!(facts.contains(&d.iseki.as_str().to_owned()), "{facts:?}");
    assert!(
        facts.contains(&"重複して記録したため".to_owned()),
        "{facts:?}"
    );
    let (_, doc) = get(&t, &ua, &format!("/office/training/{}", s.id)).await;
    assert_eq!(
        texts(&doc, &format!("#attendee-{}", d.iseki.as_str())).len(),
        1
    );
    let r = post(
        &t,
        &ua,
        &action,
        &[
            ("csrf", token.as_str()),
            ("reason", "重複して記録したため"),
            ("confirmed", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, doc) = get(&t, &ua, &format!("/office/training/{}?removed=1", s.id)).await;
    assert!(texts(&doc, &format!("#attendee-{}", d.iseki.as_str())).is_empty());
    assert_eq!(texts(&doc, "tr.attendee th.iseki"), vec!["999999"]);
}
app_test!(
    desk_scans_toggle_in_and_out_and_keep_unknown_numbers_pending,
    desk
);

async fn doc_of<S: Store>(t: &TestApp<S>, ua: &reqwest::Client, path: &str) -> scraper::Html {
    get(t, ua, path).await.1
}

// ---------------------------------------------------------------- the venue screen

async fn venue<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let s = session(&t, Organiser::Association(code("P13-0001")), false).await;
    let (ua, _) = staff_user(
        &t,
        "chiyoda-venue@example.jp",
        PASSWORD,
        grant(Role::CountyStaff, "P13-0001"),
    )
    .await;
    let (status, doc) = get(&t, &ua, &format!("/office/training/{}/venue", s.id)).await;
    assert_eq!(status, 200);
    assert_eq!(one(&doc, "#venue-title"), "学術講演会「高血圧」");
    let href = attr(&doc, "#venue-link", "href").unwrap();
    assert!(href.starts_with(&format!("{}/t/", t.base_url)), "{href}");
    assert_eq!(one(&doc, "#venue-link"), href);
    assert_eq!(texts(&doc, "#venue-qr svg").len(), 1);
    let json = |ua: reqwest::Client, url: String| async move {
        let r = ua.get(url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "no-store");
        r.json::<serde_json::Value>().await.unwrap()
    };
    let url = t.url(&format!("/office/training/{}/venue.json", s.id));
    let first = json(ua.clone(), url.clone()).await;
    let link = first["url"].as_str().unwrap().to_owned();
    assert!(link.contains("/t/"), "{link}");
    assert_eq!(link, href, "the same code within its 10 seconds");
    assert!(first["svg"].as_str().unwrap().starts_with("<svg"));
    assert!(
        DateTime::parse_from_rfc3339(first["next_at"].as_str().unwrap()).unwrap() > t.app.now()
    );
    t.clock.advance(Duration::seconds(10));
    let next = json(ua.clone(), url.clone()).await;
    let moved = next["url"].as_str().unwrap();
    assert!(moved.contains("/t/"));
    assert_ne!(moved, link, "the code rotates");
    // a session days ahead shows no code yet
    let mut later = input(Organiser::Association(code("P13-0001")), false);
    later.start = jst("2026-06-05T09:00:00");
    later.end = jst("2026-06-05T12:00:00");
    for (i, item) in later.items.iter_mut().enumerate() {
        item.start = jst([
            "2026-06-05T09:00:00",
            "2026-06-05T09:10:00",
            "2026-06-05T10:10:00",
        ][i]);
    }
    let later = training::create(&t.app, &job(), later, None).await.unwrap();
    let r = ua
        .get(t.url(&format!("/office/training/{}/venue.json", later.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["error"],
        "出席は研修会の開始1時間前から終了1時間後まで記録できます。"
    );
    // the scripts the pages load are served, with their types
    for (path, ty) in [
        ("/static/venue.js", "text/javascript; charset=utf-8"),
        ("/static/desk.js", "text/javascript; charset=utf-8"),
        ("/static/upload.js", "text/javascript; charset=utf-8"),
        ("/static/vendor/jsQR.js", "text/javascript; charset=utf-8"),
        ("/static/training.css", "text/css; charset=utf-8"),
    ] {
        let r = reqwest::get(t.url(path)).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], ty, "{path}");
        assert_eq!(
            r.headers()["cache-control"],
            "public, max-age=3600",
            "{path}"
        );
    }
}
app_test!(the_venue_code_rotates_every_10_seconds, venue);

// ---------------------------------------------------------------- approvals

async fn approvals<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let s = session(&t, Organiser::Organisation(ORG), false).await;
    // the organiser sees that nothing is credited yet
    let (organiser, _) = staff_user(
        &t,
        "naika-organiser@example.jp",
        PASSWORD,
        RoleGrant::new(Role::Organiser, Scope::Organisation(ORG)).unwrap(),
    )
    .await;
    let (status, doc) = get(&t, &organiser, "/office/training").await;
    assert_eq!(status, 200);
    assert_eq!(texts(&doc, "a.session-link"), vec!["学術講演会「高血圧」"]);
    assert_eq!(texts(&doc, "td.approval-waiting"), vec!["承認待ち"]);
    let (_, doc) = get(&t, &organiser, &format!("/office/training/{}", s.id)).await;
    assert!(one(&doc, "#unapproved-notice").contains("承認されるまで"));
    assert_eq!(one(&doc, "#session-organiser"), "東京内科学会");
    let (status, _) = get(&t, &organiser, "/office/training/approvals").await;
    assert_eq!(status, 403);

    // Osaka's staff see nothing of Tokyo's, and cannot approve it
    let (osaka, _) = staff_user(
        &t,
        "osaka-approver@example.jp",
        PASSWORD,
        grant(Role::PrefectureStaff, "P27"),
    )
    .await;
    let (status, doc) = get(&t, &osaka, "/office/training/approvals").await;
    assert_eq!(status, 200);
    assert_eq!(texts(&doc, "#approvals-empty").len(), 1);
    let token = csrf(&t, &osaka).await;
    let r = post(
        &t,
        &osaka,
        &format!("/office/training/{}/approve", s.id),
        &[("csrf", token.as_str())],
    )
    .await;
    assert_eq!(r.status(), 403);

    // Tokyo's staff find it in their queue, with its programme, and approve it
    let (tokyo, _) = staff_user(
        &t,
        "tokyo-approver@example.jp",
        PASSWORD,
        grant(Role::PrefectureStaff, "P13"),
    )
    .await;
    let (_, doc) = get(&t, &tokyo, "/office/training").await;
    assert_eq!(
        attr(&doc, "#training-approvals-link", "href").as_deref(),
        Some("/office/training/approvals")
    );
    let (status, doc) = get(&t, &tokyo, "/office/training/approvals").await;
    assert_eq!(status, 200);
    let card = format!("#awaiting-{}", s.id);
    assert_eq!(one(&doc, &format!("{card} .organiser")), "東京内科学会");
    assert_eq!(one(&doc, &format!("{card} .total-units")), "2.5 単位");
    let token = attr(
        &doc,
        &format!("{card} form.approve input[name=csrf]"),
        "value",
    )
    .unwrap();
    let action = attr(&doc, &format!("{card} form.approve"), "action").unwrap();
    // the first post asks, naming the session and its units; nothing is approved yet
    let r = post(&t, &tokyo, &action, &[("csrf", token.as_str())]).await;
    assert_eq!(r.status(), 200);
    let asked = html(&r.text().await.unwrap());
    assert_eq!(one(&asked, "#confirm-title"), "この研修会を承認しますか");
    assert!(texts(&asked, "#confirm-facts dd").contains(&"東京内科学会".to_owned()));
    assert!(texts(&asked, "#confirm-facts dd").contains(&"2.5 単位".to_owned()));
    let (_, still) = get(&t, &tokyo, "/office/training/approvals").await;
    assert_eq!(texts(&still, &card).len(), 1, "asking approves nothing");
    let r = post(
        &t,
        &tokyo,
        &action,
        &[("csrf", token.as_str()), ("confirmed", "1")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(to, "/office/training/approvals?approved=P13-2026-00001");
    let (_, doc) = get(&t, &tokyo, &to).await;
    assert_eq!(
        one(&doc, "#approved-notice"),
        "承認しました。承認番号: P13-2026-00001"
    );
    assert!(texts(&doc, &card).is_empty(), "no longer waiting");
    let (_, doc) = get(&t, &organiser, &format!("/office/training/{}", s.id)).await;
    assert_eq!(one(&doc, "#session-approval"), "承認番号 P13-2026-00001");
    assert!(texts(&doc, "#unapproved-notice").is_empty());
    // approving again says why not
    let r = post(&t, &tokyo, &action, &[("csrf", token.as_str())]).await;
    assert_eq!(r.status(), 409);
    let doc = html(&r.text().await.unwrap());
    assert!(
        texts(&doc, "p.error")
            .iter()
            .any(|p| p.starts_with("この研修会は承認待ちではありません")),
        "{:?}",
        texts(&doc, "p.error")
    );
}
app_test!(
    prefecture_staff_approve_outside_sessions_of_their_prefecture,
    approvals
);

// ---------------------------------------------------------------- in Chromium

/// A staff account enrolled with a TOTP secret the test keeps, for logging in in a browser.
async fn staff_with_secret<S: Store>(t: &TestApp<S>, email: &str, grant: RoleGrant) -> Vec<u8> {
    use mamis_app::identity::{recovery, sessions::Origin, totp};
    use mamis_domain::identity::totp as rfc6238;
    let link = recovery::create_staff(&t.app, &job(), email, "受付 担当", grant)
        .await
        .unwrap();
    let token = link.split("token=").nth(1).unwrap();
    recovery::enrol_staff(&t.app, token, PASSWORD, &Origin::default())
        .await
        .unwrap();
    let mut tx = t.app.store.read().await.unwrap();
    let acc = mamis_store::IdentityStore::account_by_email(&mut tx, email)
        .await
        .unwrap()
        .unwrap();
    tx.rollback().await.unwrap();
    let e = totp::begin(&t.app, &acc).unwrap();
    let secret = mamis_testkit::base32_decode(&e.secret_base32);
    let code = rfc6238::code(&secret, rfc6238::step_of(t.app.now()));
    totp::confirm(&t.app, &acc, &e.sealed, &code).await.unwrap();
    t.clock.advance(Duration::seconds(30));
    secret
}

/// The upload, the desk and the venue screen through their scripts in Chromium: the file is
/// sent by `upload.js` and confirmed, a typed number and a scanned code are posted by
/// `desk.js`, and `venue.js` swaps the link when the code rotates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_training_scripts_work_in_chromium() {
    use fantoccini::{Client, Locator};
    use mamis_domain::identity::totp as rfc6238;
    use mamis_testkit::browser::{self, Browser};
    if !browser::available() {
        return;
    }
    let t = mamis_testkit::spawn_sqlite().await;
    setup(&t).await;
    let s = session(&t, Organiser::Association(code("P13-0001")), false).await;
    let a = verified(&t, 1).await;
    let b_doc = verified(&t, 2).await;
    let email = "chiyoda-browser@example.jp";
    let secret = staff_with_secret(&t, email, grant(Role::CountyStaff, "P13-0001")).await;
    let list = std::env::temp_dir().join(format!("mamis-list-{}.csv", Uuid::new_v4().simple()));
    std::fs::write(
        &list,
        format!(
            "医籍登録番号,氏名カナ\n{},ヤマダ タロウ\n",
            a.iseki.as_str()
        ),
    )
    .unwrap();

    let b = Browser::start().await;
    let c = &b.client;
    async fn fill(c: &Client, id: &str, value: &str) {
        let e = c.find(Locator::Id(id)).await.unwrap();
        e.clear().await.unwrap();
        e.send_keys(value).await.unwrap();
    }
    async fn click(c: &Client, id: &str) {
        c.find(Locator::Id(id))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    async fn text(c: &Client, css: &str) -> String {
        c.wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
    c.goto(&t.url("/office")).await.unwrap();
    fill(c, "email", email).await;
    fill(c, "password", PASSWORD).await;
    click(c, "login-submit").await;
    c.wait()
        .for_element(Locator::Id("code-submit"))
        .await
        .unwrap();
    fill(
        c,
        "code",
        &rfc6238::code(&secret, rfc6238::step_of(t.app.now())),
    )
    .await;
    click(c, "code-submit").await;
    c.wait()
        .for_element(Locator::Id("office-nav-training"))
        .await
        .unwrap();

    // upload.js sends the file with the token; the preview replaces the page; confirm applies
    c.goto(&t.url(&format!("/office/training/{}", s.id)))
        .await
        .unwrap();
    c.find(Locator::Id("upload-file"))
        .await
        .unwrap()
        .send_keys(&list.display().to_string())
        .await
        .unwrap();
    click(c, "upload-submit").await;
    assert_eq!(text(c, "#count-added").await, "1");
    click(c, "confirm-submit").await;
    assert_eq!(
        text(c, "#upload-applied").await,
        "名簿の内容を反映しました。"
    );
    let _ = std::fs::remove_file(&list);

    // desk.js, on a desk tablet (1280×900) and on a phone (390×844): empty submits ask for a
    // code, a typed number not in the register is kept pending (amber), the doctor's personal
    // code as a USB scanner types it checks them in, the same doctor again answers 「記録済み」,
    // and the live count follows every scan without the page being loaded again
    let c_doc = verified(&t, 3).await;
    let desk_path = t.url(&format!("/office/training/{}/desk", s.id));
    let desk_cases = [
        ((1280, 900), &b_doc, 2_u128, "999999"),
        ((390, 844), &c_doc, 3_u128, "999998"),
    ];
    for ((w, h), doc, account, stranger) in desk_cases {
        c.set_window_size(w, h).await.unwrap();
        c.goto(&desk_path).await.unwrap();
        let inner = c.execute("return window.innerWidth", vec![]).await.unwrap();
        assert!(inner.as_u64().unwrap() <= u64::from(w), "{w}: {inner}");
        // a marker that a page load would wipe
        c.execute("window.deskMarker = 'same page'; return null", vec![])
            .await
            .unwrap();
        let live = |n: usize| format!("現在の在室者: {n} 名 / 予定 50 名");
        let count = text(c, "#live-count").await;
        let before: usize = count
            .trim_start_matches("現在の在室者: ")
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(count, live(before));
        async fn result(c: &Client, class: &str, wanted: &str) {
            c.wait()
                .for_element(Locator::XPath(&format!(
                    "//div[@id='desk-result' and contains(@class, '{class}') and text()='{wanted}']"
                )))
                .await
                .unwrap_or_else(|e| panic!("{class} {wanted}: {e}"));
        }
        async fn submit_iseki(c: &Client, value: &str) {
            let e = c.find(Locator::Id("desk-iseki")).await.unwrap();
            e.clear().await.unwrap();
            e.send_keys(&format!("{value}\u{E007}")).await.unwrap();
        }
        // empty submits
        c.find(Locator::Id("desk-code"))
            .await
            .unwrap()
            .send_keys("\u{E007}")
            .await
            .unwrap();
        result(
            c,
            "desk-ng",
            "個人QRコードが読み取られていません。医師のマイページの個人QRコードを読み取るか、下の欄に医籍登録番号を入力してください。",
        )
        .await;
        c.find(Locator::Css("#desk-iseki-form button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        result(
            c,
            "desk-ng",
            "医籍登録番号が入力されていません。医籍登録番号（数字）を入力してください。",
        )
        .await;
        // a number not in the register: recorded as pending, amber
        submit_iseki(c, stranger).await;
        result(
            c,
            "desk-warn",
            &format!(
                "入室（保留）: 医籍登録番号 {stranger} は名簿にありません。番号が正しいか確認してください。保留として記録し、この番号で MAMIS_ID が確認されると単位が付きます。"
            ),
        )
        .await;
        assert_eq!(text(c, "#live-count").await, live(before + 1));
        // the doctor's personal code through the scanner field
        let who = Principal::Doctor {
            account_id: Uuid::from_u128(0xACD0 + account),
            doctor_id: Some(doc.id),
        };
        let personal = mamis_app::training::capture::personal_code(&t.app, &who)
            .await
            .unwrap();
        c.find(Locator::Id("desk-code"))
            .await
            .unwrap()
            .send_keys(&format!("{personal}\u{E007}"))
            .await
            .unwrap();
        let name = format!("山田 太郎{account}（{}）", doc.iseki.as_str());
        result(c, "desk-ok", &format!("入室: {name}")).await;
        assert_eq!(text(c, "#live-count").await, live(before + 2));
        // the same doctor again 20 s later, typed by hand: 「記録済み」, the count unchanged
        t.clock.advance(Duration::seconds(20));
        submit_iseki(c, doc.iseki.as_str()).await;
        let at = mamis_domain::time::to_japan(t.app.now() - Duration::seconds(20))
            .format("%H:%M:%S")
            .to_string();
        result(
            c,
            "desk-same",
            &format!(
                "記録済み: {name}は {at} に記録しています。続けて読み取ったため、今回は何も変更していません。"
            ),
        )
        .await;
        assert_eq!(text(c, "#live-count").await, live(before + 2));
        // no page was loaded in between
        assert_eq!(
            c.execute("return window.deskMarker || null", vec![])
                .await
                .unwrap(),
            serde_json::json!("same page")
        );
        // the desk's answer fits the screen
        let fits = c
            .execute(
                "return ['desk-result', 'desk-code', 'desk-iseki', 'live-count'].every(function (id) { \
                   var r = document.getElementById(id).getBoundingClientRect(); \
                   return r.left >= 0 && r.right <= window.innerWidth; })",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(fits, serde_json::json!(true), "{w}×{h}");
        t.clock.advance(Duration::seconds(61));
    }
    c.set_window_size(1280, 900).await.unwrap();

    // venue.js swaps the link once the code has rotated
    c.goto(&t.url(&format!("/office/training/{}/venue", s.id)))
        .await
        .unwrap();
    let first = c
        .find(Locator::Id("venue-link"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(first.starts_with(&format!("{}/t/", t.base_url)), "{first}");
    t.clock.advance(Duration::seconds(10));
    let moved = c
        .wait()
        .at_most(std::time::Duration::from_secs(15))
        .for_element(Locator::Css(&format!(
            "#venue-link:not([href=\"{first}\"])"
        )))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(moved.starts_with(&format!("{}/t/", t.base_url)), "{moved}");
    b.close().await;
}
