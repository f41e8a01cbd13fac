//! The back office (identity review queue and its actions) and the CME portal with the legacy
//! login before and after the cut-over, through HTTP as a person sees them.

use chrono::{DateTime, Utc};
use mamis_app::identity::sessions::Origin;
use mamis_app::identity::{legacy, registration};
use mamis_domain::{AssociationCode, Principal, Role, RoleGrant, Scope};
use mamis_store::{AccessStore, Account, IdentityStore, RegistryStore, Store, Tx, Verification};
use mamis_testkit::{TestApp, app_test, attr, html, texts};
use uuid::Uuid;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn csrf_of(body: &str) -> String {
    attr(&html(body), "input[name=csrf]", "value").unwrap()
}

/// The page with the values of its CSRF inputs removed (the only per-request difference allowed).
fn without_csrf(body: &str) -> String {
    const MARK: &str = "name=\"csrf\" value=\"";
    let mut out = String::new();
    let mut rest = body;
    while let Some(i) = rest.find(MARK) {
        out.push_str(&rest[..i + MARK.len()]);
        rest = &rest[i + MARK.len()..];
        let end = rest.find('"').unwrap();
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
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

// ---------------------------------------------------------------- CME portal, legacy login

const MEMBER: &str = "0123456789";
const BIRTH_PASSWORD: &str = "750109";

async fn legacy_login_until_the_cutover<S: Store>(t: TestApp<S>) {
    let csv = format!("member_id,birth_date\n{MEMBER},1975-01-09\n");
    let job = Principal::Job {
        kind: "test".into(),
    };
    let report = legacy::import(&t.app, &job, csv.as_bytes(), false)
        .await
        .unwrap();
    assert_eq!(report.imported, 1);
    // a day and a half before the cut-over (2026-04-01 00:00 Japan time)
    t.clock.set(at("2026-03-30T12:00:00+09:00"));

    let page = t.get("/cme").await.text().await.unwrap();
    let doc = html(&page);
    assert_eq!(texts(&doc, "h1"), ["日本医師会生涯教育 on-line"]);
    // "log in with MAMIS_ID" starts the portal's OpenID flow
    assert_eq!(
        attr(&doc, "#cme-mamis-login", "href").as_deref(),
        Some("/cme/login")
    );
    assert_eq!(
        attr(&doc, "#cme-legacy-login", "href").as_deref(),
        Some("/cme/login/legacy")
    );
    assert!(texts(&doc, "#cme-news h3")[0].contains("MAMIS_ID に一元化"));

    let r = t.get("/cme/login/legacy").await;
    assert_eq!(r.status(), 200);
    let form = r.text().await.unwrap();
    let doc = html(&form);
    assert_eq!(
        attr(&doc, "label[for=member_id]", "for").as_deref(),
        Some("member_id")
    );
    assert_eq!(
        attr(&doc, "label[for=password]", "for").as_deref(),
        Some("password")
    );
    let csrf = csrf_of(&form);

    // the right birth-date password opens a portal session
    let r = post(
        &t,
        &t.client,
        "/cme/login/legacy",
        &[
            ("csrf", &csrf),
            ("member_id", MEMBER),
            ("password", BIRTH_PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/cme");
    let doc = html(&t.get("/cme").await.text().await.unwrap());
    assert_eq!(
        texts(&doc, "#cme-legacy-session h2"),
        ["従来のユーザーIDでログイン中"]
    );
    assert_eq!(texts(&doc, "#cme-member-id"), [MEMBER]);
    assert_eq!(texts(&doc, "#cme-countdown"), ["あと 1 日 12 時間"]);
    assert_eq!(
        texts(&doc, "#cme-cutover"),
        ["2026-04-01 00:00（日本時間）"]
    );
    assert_eq!(
        attr(&doc, "#cme-register-link", "href").as_deref(),
        Some("/register")
    );
    assert!(texts(&doc, "#cme-logout").len() == 1);

    // every failure reads the same
    let failed = "ユーザーIDまたはパスワードが正しくないか、しばらく待つ必要があります。入力を確認し、時間をおいてもう一度お試しください。";
    for (id, pw) in [
        (MEMBER, "750110"),
        ("9999999999", BIRTH_PASSWORD),
        ("12-34", "x"),
    ] {
        let r = post(
            &t,
            &t.client,
            "/cme/login/legacy",
            &[("csrf", &csrf), ("member_id", id), ("password", pw)],
        )
        .await;
        assert_eq!(r.status(), 401);
        let doc = html(&r.text().await.unwrap());
        assert_eq!(texts(&doc, "#form-error"), [failed]);
    }

    // logout ends the portal session
    let r = post(&t, &t.client, "/cme/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    let doc = html(&t.get("/cme").await.text().await.unwrap());
    assert!(texts(&doc, "#cme-legacy-session").is_empty());
    // log in again: this session is ended by the cut-over itself
    let r = post(
        &t,
        &t.client,
        "/cme/login/legacy",
        &[
            ("csrf", &csrf),
            ("member_id", MEMBER),
            ("password", BIRTH_PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);

    t.clock.set(at("2026-04-01T00:00:00+09:00"));
    let doc = html(&t.get("/cme").await.text().await.unwrap());
    assert!(texts(&doc, "#cme-legacy-session").is_empty());
    assert!(texts(&doc, "#cme-legacy-login").is_empty());
    assert_eq!(texts(&doc, "#cme-legacy-closed").len(), 1);

    let hashed = t.app.hasher.calls();
    let mut seen: Vec<(u16, String)> = Vec::new();
    for (id, pw) in [
        (MEMBER, BIRTH_PASSWORD),
        (MEMBER, "750110"),
        ("9999999999", BIRTH_PASSWORD),
        ("12-34<b>", "x"),
    ] {
        let r = post(
            &t,
            &t.client,
            "/cme/login/legacy",
            &[("csrf", &csrf), ("member_id", id), ("password", pw)],
        )
        .await;
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert!(
            !body.contains(id) && !body.contains("12-34"),
            "input echoed"
        );
        seen.push((status, without_csrf(&body)));
    }
    assert_eq!(
        t.app.hasher.calls(),
        hashed,
        "nothing was looked up or hashed"
    );
    assert!(seen.iter().all(|s| s == &seen[0]), "the refusals differ");
    assert_eq!(seen[0].0, 410);
    let doc = html(&seen[0].1);
    assert_eq!(texts(&doc, "h1"), ["従来のユーザーIDは使えなくなりました"]);
    assert_eq!(
        attr(&doc, "#cme-ended-login", "href").as_deref(),
        Some("/login?next=/cme")
    );
    assert_eq!(
        attr(&doc, "#cme-ended-register", "href").as_deref(),
        Some("/register")
    );
    // the form itself is the same refusal now
    let r = t.get("/cme/login/legacy").await;
    assert_eq!(r.status(), 410);
    assert_eq!(without_csrf(&r.text().await.unwrap()), seen[0].1);
    // and in English
    let r = t
        .client
        .get(t.url("/cme/login/legacy"))
        .header("cookie", "mamis_lang=en")
        .send()
        .await
        .unwrap();
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "h1"), ["The old user ID can no longer be used"]);
}
app_test!(legacy_login_and_cutover, legacy_login_until_the_cutover);

// ---------------------------------------------------------------- back office

const STAFF_PASSWORD: &str = "Office-pass-2026-kiri";

async fn account_by_email<S: Store>(t: &TestApp<S>, email: &str) -> Account {
    let mut tx = t.app.store.read().await.unwrap();
    let a = tx.account_by_email(email).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    a
}

async fn account<S: Store>(t: &TestApp<S>, id: Uuid) -> Account {
    let mut tx = t.app.store.read().await.unwrap();
    let a = tx.account(id).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    a
}

/// A staff account with a password and TOTP, logged in through the pages in its own browser.
async fn staff_browser<S: Store>(
    t: &TestApp<S>,
    email: &str,
    role: Role,
    node: &str,
) -> reqwest::Client {
    let grant = RoleGrant::new(
        role,
        Scope::Association(AssociationCode::parse(node).unwrap()),
    )
    .unwrap();
    mamis_testkit::staff_user(t, email, STAFF_PASSWORD, grant)
        .await
        .0
}

/// A doctor registers through the app and fails the automatic match three times; returns the
/// account id of the claim now waiting at P13-0001.
async fn unmatched_claim<S: Store>(t: &TestApp<S>) -> Uuid {
    let email = "unmatched@example.jp";
    registration::start(&t.app, email).await.unwrap();
    t.worker(vec![]).drain().await.unwrap();
    let mails = t.mails().await;
    let body = &mails[0].body_text;
    let token: String = body
        .split("token=")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    registration::confirm(&t.app, &token, &Origin::default())
        .await
        .unwrap();
    let acc = account_by_email(t, email).await;
    let form = registration::IdentityForm {
        iseki: "7000001".into(),
        family_name: "照合".into(),
        given_name: "失敗".into(),
        family_kana: "ショウゴウ".into(),
        given_kana: "シッパイ".into(),
        birth_date: "1980-05-17".into(),
        sex: "female".into(),
        membership: "member".into(),
        association: "P13-0001".into(),
        licensed_on: String::new(),
    };
    let mut last = None;
    for _ in 0..3 {
        let data = registration::parse_identity(&form).unwrap();
        last = Some(
            registration::submit_identity(&t.app, &acc, data, &Origin::default())
                .await
                .unwrap(),
        );
    }
    assert!(matches!(last, Some(registration::IdentityOutcome::Review)));
    acc.id
}

/// 医籍登録番号 of a doctor in the register whom no account holds yet.
/// A doctor of P13-0001 without a MAMIS_ID (staff may only bind records in their own scope).
async fn free_iseki<S: Store>(t: &TestApp<S>) -> String {
    let mut tx = t.app.store.read().await.unwrap();
    let county = mamis_domain::AssociationCode::parse("P13-0001").unwrap();
    let doctors = tx
        .members_of(&county, t.clock_date(), 100, 0)
        .await
        .unwrap();
    let mut found = None;
    for d in doctors.iter().rev() {
        if tx.verified_account_of(d.id).await.unwrap().is_none() {
            found = Some(d.iseki.as_str().to_owned());
            break;
        }
    }
    tx.rollback().await.unwrap();
    found.unwrap()
}

async fn office_verifies_a_claim<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap();
    let claim = unmatched_claim(&t).await;
    let iseki = free_iseki(&t).await;
    let chiyoda = staff_browser(
        &t,
        "office-chiyoda@example.jp",
        Role::CountyStaff,
        "P13-0001",
    )
    .await;
    let chuo = staff_browser(&t, "office-chuo@example.jp", Role::CountyStaff, "P13-0002").await;

    // nobody logged in: the login page first
    let r = t.get("/office").await;
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );

    let r = chiyoda.get(t.url("/office")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let doc = html(&page);
    let card = format!("#claim-{claim}");
    assert_eq!(texts(&doc, &format!("{card} .iseki")), ["7000001"]);
    assert_eq!(texts(&doc, &format!("{card} .name")), ["照合 失敗"]);
    assert_eq!(
        texts(&doc, &format!("{card} .kana")),
        ["ショウゴウ シッパイ"]
    );
    assert_eq!(texts(&doc, &format!("{card} .birth-date")), ["1980-05-17"]);
    assert_eq!(texts(&doc, &format!("{card} .sex")), ["女性"]);
    assert_eq!(texts(&doc, &format!("{card} .membership")), ["会員"]);
    assert_eq!(
        texts(&doc, &format!("{card} .association")),
        ["千代田区医師会 (P13-0001)"]
    );
    assert_eq!(
        texts(&doc, "h2#queue-P13-0001"),
        ["確認待ち: 千代田区医師会（P13-0001）"]
    );
    assert_eq!(
        texts(&doc, &format!("{card} .reason")),
        ["自動照合で3回一致しなかった"]
    );
    assert_eq!(
        texts(&doc, &format!("{card} .submitted")),
        ["2026-06-01 09:00"]
    );
    let label = format!("{card} label[for=evidence-{claim}]");
    assert_eq!(
        texts(&doc, &label),
        ["確認した資料（例: 医師免許証の写しを確認）"]
    );
    let csrf = csrf_of(&page);
    let verify = format!("/office/identity/{claim}/verify");

    // staff of another county: the claim is outside their subtree
    let other = chuo
        .get(t.url("/office"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!other.contains(&claim.to_string()));
    let r = post(
        &t,
        &chuo,
        &verify,
        &[
            ("csrf", &csrf_of(&other)),
            ("iseki", &iseki),
            ("evidence", "医師免許証の写しを確認"),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "h1"), ["この操作は許可されていません"]);

    // no evidence
    let r = post(
        &t,
        &chiyoda,
        &verify,
        &[("csrf", &csrf), ("iseki", &iseki), ("evidence", "  ")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let doc = html(&r.text().await.unwrap());
    let msg = "確認した資料を入力してください（500文字まで）。";
    assert_eq!(texts(&doc, "#office-error"), [msg]);
    assert_eq!(texts(&doc, &format!("#claim-{claim}-error")), [msg]);
    assert_eq!(
        attr(&doc, &format!("#iseki-{claim}"), "value"),
        Some(iseki.clone())
    );

    // a number nobody holds
    let r = post(
        &t,
        &chiyoda,
        &verify,
        &[
            ("csrf", &csrf),
            ("iseki", "6999999"),
            ("evidence", "医師免許証の写しを確認"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(
        texts(&doc, "#office-error"),
        ["この医籍登録番号の医師は登録されていません。番号を確認してください。"]
    );

    // a bad forwarding code
    let r = post(
        &t,
        &chiyoda,
        &format!("/office/identity/{claim}/forward"),
        &[("csrf", &csrf), ("to", "Tokyo")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(
        texts(&doc, "#office-error"),
        ["回付先の医師会を一覧から選んでください。"]
    );

    assert_eq!(account(&t, claim).await.verification, Verification::Review);
    let r = post(
        &t,
        &chiyoda,
        &verify,
        &[
            ("csrf", &csrf),
            ("iseki", &iseki),
            ("evidence", "医師免許証の写しを確認"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/office");
    let acc = account(&t, claim).await;
    assert_eq!(acc.verification, Verification::Verified);
    assert!(acc.doctor_id.is_some());
    let page = chiyoda
        .get(t.url("/office"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains(&claim.to_string()),
        "verified claims leave the queue"
    );
}
app_test!(office_identity_review, office_verifies_a_claim);
