//! Flows a person goes through, in real Chromium against a testkit server whose clock the test
//! moves.

use fantoccini::{Client, Locator};
use mamis_domain::identity::totp;
use mamis_store::{RegistryStore, Store, Tx};
use mamis_testkit::browser::{self, Browser};
use mamis_testkit::{TestApp, spawn_sqlite};

/// The language switch: the home page goes to English, and stays English.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn language_switch_in_chromium() {
    if !browser::available() {
        return;
    }
    let t = spawn_sqlite().await;
    let b = Browser::start().await;
    let c = &b.client;
    c.goto(&t.url("/")).await.unwrap();
    let h1 = c
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(h1, "MAMIS へようこそ");
    assert_eq!(
        c.find(Locator::Css("html"))
            .await
            .unwrap()
            .attr("lang")
            .await
            .unwrap()
            .as_deref(),
        Some("ja")
    );

    c.find(Locator::Id("lang-switch"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let h1 = c
        .wait()
        .for_element(Locator::XPath("//h1[text()='Welcome to MAMIS']"))
        .await
        .unwrap();
    assert_eq!(h1.text().await.unwrap(), "Welcome to MAMIS");

    // persists across navigation and reloads
    c.goto(&t.url("/register")).await.unwrap();
    assert_eq!(
        c.find(Locator::Css("h1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "Register for My Page"
    );
    c.refresh().await.unwrap();
    assert_eq!(
        c.find(Locator::Css("html"))
            .await
            .unwrap()
            .attr("lang")
            .await
            .unwrap()
            .as_deref(),
        Some("en")
    );

    // and back to Japanese
    c.find(Locator::Id("lang-switch"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::XPath("//h1[text()='マイページ登録']"))
        .await
        .unwrap();
    b.close().await;
}

/// The `token=` of the newest mail's link to `path`, once the queued mail requests have run.
async fn link_in_mail<S: Store>(t: &TestApp<S>, to: &str, path: &str) -> String {
    t.worker(vec![]).drain().await.unwrap();
    let mails = t.mails().await;
    let m = mails
        .iter()
        .find(|m| m.to_addr == to && m.body_text.contains(path))
        .expect("a mail with the link");
    let start = m.body_text.find(path).unwrap();
    m.body_text[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

async fn fill(c: &Client, id: &str, value: &str) {
    let Ok(e) = c.find(Locator::Id(id)).await else {
        panic!(
            "no #{id} on {}: {}",
            c.current_url().await.unwrap(),
            c.source().await.unwrap()
        );
    };
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

/// Waits (bounded, like WebDriver's own waits) until no element has this id, i.e. the browser
/// has loaded the page that follows a form submission.
async fn wait_gone(c: &Client, id: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while c.find(Locator::Id(id)).await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "#{id} is still shown after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Logs out and waits for the confirmation page (navigating on before it loads would race).
async fn logout(c: &Client) {
    click(c, "logout").await;
    c.wait()
        .for_element(Locator::Id("login-link"))
        .await
        .unwrap();
}

async fn click(c: &Client, id: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn h1(c: &Client) -> String {
    c.find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn base32_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buf, mut bits, mut out) = (0u32, 0, Vec::new());
    for ch in s.bytes() {
        let v = A.iter().position(|a| *a == ch).unwrap() as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

/// Registration as a doctor does it: e-mail → mail link → identity data → password → My Page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_to_my_page() {
    if !browser::available() {
        return;
    }
    let t = spawn_sqlite().await;
    mamis_app::demo::seed_demo(&t.app).await.unwrap();
    // a member of P13-0001 without an account yet
    let mut tx = t.app.store.read().await.unwrap();
    let doctors = tx
        .members_of(
            &mamis_domain::AssociationCode::parse("P13-0002").unwrap(),
            t.clock_date(),
            50,
            0,
        )
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let d = doctors
        .iter()
        .find(|d| d.member_id.is_some())
        .expect("a member")
        .clone();

    let b = Browser::start().await;
    let c = &b.client;
    c.goto(&t.url("/register")).await.unwrap();
    fill(c, "email", "Sato.Doctor@Example.JP").await;
    click(c, "email-submit").await;
    c.wait()
        .for_element(Locator::XPath("//h1[text()='メールをご確認ください']"))
        .await
        .unwrap();

    let link = link_in_mail(&t, "sato.doctor@example.jp", "/register/continue").await;
    c.goto(&link).await.unwrap();
    click(c, "confirm").await;
    c.wait()
        .for_element(Locator::Id("identity-submit"))
        .await
        .unwrap();
    assert_eq!(h1(c).await, "本人確認のための情報");

    fill(c, "iseki", &format!("第{}号", d.iseki)).await;
    fill(c, "family_name", &d.family_name).await;
    fill(c, "given_name", &d.given_name).await;
    // hiragana and a space: the kana normaliser matches them to the katakana on record
    fill(c, "family_kana", &hiragana(d.family_kana.as_str())).await;
    fill(c, "given_kana", &format!(" {}", d.given_kana)).await;
    fill(
        c,
        "birth_date",
        &d.birth_date.format("%Y/%m/%d").to_string(),
    )
    .await;
    // 性別 is chosen by the doctor (nothing is pre-selected)
    let sex = match d.sex {
        mamis_domain::Sex::Male => "male",
        mamis_domain::Sex::Female => "female",
    };
    c.find(Locator::Css(&format!("select#sex option[value='{sex}']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // the association is chosen from the list, by name
    c.find(Locator::Css("select#association option[value='P13-0002']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let chosen = c
        .find(Locator::Css("select#association option:checked"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(chosen, "中央区医師会");
    click(c, "identity-submit").await;
    c.wait()
        .for_element(Locator::Id("password-submit"))
        .await
        .unwrap();

    // the policy explains itself
    fill(
        c,
        "password",
        &d.birth_date.format("%y%m%d-sakura").to_string(),
    )
    .await;
    click(c, "password-submit").await;
    let err = c
        .wait()
        .for_element(Locator::Id("form-error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(err.contains("生年月日"), "{err}");
    fill(c, "password", "kyoto-sakura-2026-spring").await;
    click(c, "password-submit").await;
    let status = c
        .wait()
        .for_element(Locator::Id("verification-status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(status, "本人確認済み");
    assert_eq!(h1(c).await, "マイページ");
    // the binding was announced to the contact address on file
    assert!(
        t.mails()
            .await
            .iter()
            .any(|m| Some(&m.to_addr) == d.contact_email.as_ref()
                && m.body_text.contains("/not-me?token="))
    );

    // log out and in again
    logout(c).await;
    c.goto(&t.url("/login")).await.unwrap();
    fill(c, "email", "sato.doctor@example.jp").await;
    fill(c, "password", "kyoto-sakura-2026-spring").await;
    click(c, "login-submit").await;
    c.wait()
        .for_element(Locator::Id("verification-status"))
        .await
        .unwrap();
    b.close().await;
}

fn hiragana(katakana: &str) -> String {
    katakana
        .chars()
        .map(|c| {
            if ('\u{30A1}'..='\u{30F6}').contains(&c) {
                char::from_u32(c as u32 - 0x60).unwrap()
            } else {
                c
            }
        })
        .collect()
}

/// TOTP enrolment on My Page, then a login that asks for the code, then a password reset that
/// asks for it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_enrolment_login_and_reset() {
    if !browser::available() {
        return;
    }
    let t = spawn_sqlite().await;
    let logins = mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let (_, email, password, _) = logins
        .accounts
        .iter()
        .find(|a| a.0 == "verified member")
        .unwrap()
        .clone();
    let b = Browser::start().await;
    let c = &b.client;
    c.goto(&t.url("/login")).await.unwrap();
    fill(c, "email", &email).await;
    fill(c, "password", &password).await;
    click(c, "login-submit").await;
    c.wait()
        .for_element(Locator::Id("verification-status"))
        .await
        .unwrap();

    c.goto(&t.url("/mypage/totp")).await.unwrap();
    let secret = base32_decode(
        &c.find(Locator::Id("totp-secret"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert!(
        c.find(Locator::Css(".qr svg")).await.is_ok(),
        "the QR code is drawn"
    );
    let code = |at| totp::code(&secret, totp::step_of(at));
    fill(c, "code", "000000").await;
    click(c, "totp-submit").await;
    c.wait()
        .for_element(Locator::Id("form-error"))
        .await
        .unwrap();
    // a new secret is offered after a failure
    let secret = base32_decode(
        &c.find(Locator::Id("totp-secret"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    fill(c, "code", &totp::code(&secret, totp::step_of(t.app.now()))).await;
    click(c, "totp-submit").await;
    let codes = c
        .wait()
        .for_element(Locator::Id("recovery-codes"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(codes.lines().count(), 10);
    let _ = code;

    // log out; logging in now asks for the second factor
    c.goto(&t.url("/mypage")).await.unwrap();
    logout(c).await;
    t.clock.advance(chrono::Duration::seconds(60));
    c.goto(&t.url("/login")).await.unwrap();
    fill(c, "email", &email).await;
    fill(c, "password", &password).await;
    click(c, "login-submit").await;
    c.wait()
        .for_element(Locator::Id("code-submit"))
        .await
        .unwrap();
    fill(c, "code", &totp::code(&secret, totp::step_of(t.app.now()))).await;
    click(c, "code-submit").await;
    c.wait()
        .for_element(Locator::Id("verification-status"))
        .await
        .unwrap();
    logout(c).await;

    // reset: the link alone is not enough
    c.goto(&t.url("/reset")).await.unwrap();
    fill(c, "email", &email).await;
    click(c, "email-submit").await;
    c.wait()
        .for_element(Locator::XPath("//h1[text()='メールをご確認ください']"))
        .await
        .unwrap();
    let link = link_in_mail(&t, &email, "/reset/continue").await;
    c.goto(&link).await.unwrap();
    fill(c, "password", "a-brand-new-password-2026").await;
    fill(c, "code", "123456").await;
    click(c, "password-submit").await;
    let err = c
        .wait()
        .for_element(Locator::Id("form-error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(err.contains("コード"), "{err}");
    t.clock.advance(chrono::Duration::seconds(60));
    fill(c, "password", "a-brand-new-password-2026").await;
    fill(c, "code", &totp::code(&secret, totp::step_of(t.app.now()))).await;
    click(c, "password-submit").await;
    c.wait()
        .for_element(Locator::XPath(
            "//p[contains(text(), 'パスワードを再設定しました')]",
        ))
        .await
        .unwrap();
    // the new password works
    t.clock.advance(chrono::Duration::seconds(60));
    c.goto(&t.url("/login")).await.unwrap();
    fill(c, "email", &email).await;
    fill(c, "password", "a-brand-new-password-2026").await;
    click(c, "login-submit").await;
    c.wait()
        .for_element(Locator::Id("code-submit"))
        .await
        .unwrap();
    b.close().await;
    // a mail check: the doctor was not told anything about other accounts
    let mut tx = t.app.store.read().await.unwrap();
    assert!(tx.count_doctors().await.unwrap() > 0);
}

/// County staff log in with their second factor, find the unmatched account in the office queue,
/// and verify it against a register record after checking evidence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_verify_an_unmatched_account() {
    if !browser::available() {
        return;
    }
    let t = spawn_sqlite().await;
    let logins = mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let (_, email, password, secret) = logins
        .accounts
        .iter()
        .find(|a| a.0.starts_with("county_staff"))
        .unwrap()
        .clone();
    let secret = base32_decode(&secret.unwrap());
    // the demo's waiting account, and a free record of the county to bind it to
    let mut tx = t.app.store.read().await.unwrap();
    use mamis_store::{IdentityStore, RegistryStore};
    let waiting = tx
        .account_by_email("unverified@demo.mamis.jp")
        .await
        .unwrap()
        .unwrap();
    let members = tx
        .members_of(
            &mamis_domain::AssociationCode::parse("P13-0001").unwrap(),
            t.clock_date(),
            100,
            0,
        )
        .await
        .unwrap();
    let mut record = None;
    for d in members {
        if tx.verified_account_of(d.id).await.unwrap().is_none() {
            record = Some(d);
            break;
        }
    }
    tx.rollback().await.unwrap();
    let record = record.unwrap();

    let b = Browser::start().await;
    let c = &b.client;
    c.goto(&t.url("/office")).await.unwrap();
    // not logged in: the office sends us to the login page and back
    fill(c, "email", &email).await;
    fill(c, "password", &password).await;
    click(c, "login-submit").await;
    c.wait()
        .for_element(Locator::Id("code-submit"))
        .await
        .unwrap();
    fill(c, "code", &totp::code(&secret, totp::step_of(t.app.now()))).await;
    click(c, "code-submit").await;
    let card = format!("claim-{}", waiting.id);
    c.wait().for_element(Locator::Id(&card)).await.unwrap();
    fill(c, &format!("iseki-{}", waiting.id), record.iseki.as_str()).await;
    fill(
        c,
        &format!("evidence-{}", waiting.id),
        "医師免許証の写しと顔写真付き身分証を確認",
    )
    .await;
    c.find(Locator::Css(&format!("#{card} form.verify button")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // the office page comes back without the claim (the old page is still there until then)
    wait_gone(c, &card).await;
    c.find(Locator::Id("office-staff")).await.unwrap();
    let mut tx = t.app.store.read().await.unwrap();
    use mamis_store::AccessStore;
    let acc = tx.account(waiting.id).await.unwrap().unwrap();
    assert_eq!(
        (acc.verification, acc.doctor_id),
        (mamis_store::Verification::Verified, Some(record.id))
    );
    b.close().await;
}

/// The legacy CME login works until the cut-over, its session ends when the clock passes it,
/// and from then on the login shows the refusal page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_login_until_the_cut_over() {
    if !browser::available() {
        return;
    }
    let t = spawn_sqlite().await;
    let logins = mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let (_, member_id, password) = logins.legacy[0].clone();
    let cutover = mamis_domain::identity::LegacyCutover::default_instant();
    t.clock.set(cutover - chrono::Duration::hours(30));

    let b = Browser::start().await;
    let c = &b.client;
    c.goto(&t.url("/cme")).await.unwrap();
    c.find(Locator::Id("cme-legacy-login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Id("cme-legacy-submit"))
        .await
        .unwrap();
    fill(c, "member_id", &member_id).await;
    fill(c, "password", "000000").await;
    click(c, "cme-legacy-submit").await;
    c.wait()
        .for_element(Locator::Id("form-error"))
        .await
        .unwrap();
    fill(c, "member_id", &member_id).await;
    fill(c, "password", &password).await;
    click(c, "cme-legacy-submit").await;
    let countdown = c
        .wait()
        .for_element(Locator::Id("cme-countdown"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        countdown.contains('1') && countdown.contains('6'),
        "1 day 6 hours left: {countdown}"
    );
    assert!(
        c.find(Locator::Id("cme-register-link")).await.is_ok(),
        "shows how to create a MAMIS_ID"
    );

    // the clock passes the cut-over: the session is gone and the login is closed
    t.clock.set(cutover);
    c.refresh().await.unwrap();
    assert!(c.find(Locator::Id("cme-legacy-session")).await.is_err());
    c.goto(&t.url("/cme/login/legacy")).await.unwrap();
    c.wait()
        .for_element(Locator::Id("cme-ended"))
        .await
        .unwrap();
    assert!(
        c.find(Locator::Id("member_id")).await.is_err(),
        "no form any more"
    );
    assert!(
        c.find(Locator::Id("cme-ended-login")).await.is_ok(),
        "points to MAMIS_ID login"
    );
    b.close().await;
}

/// My Page ① and ④ of the demo non-member, who stands at 56 of 60 in FY2024–2026: the gauge,
/// the explanation with its what-if, the code grid and the record lists, in Chromium.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_page_cme_status_and_records() {
    if !browser::available() {
        return;
    }
    let t = spawn_sqlite().await;
    t.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-11-30T10:00:00+09:00")
            .unwrap()
            .with_timezone(&chrono::Utc),
    );
    let logins = mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let (_, email, password, _) = logins
        .accounts
        .iter()
        .find(|a| a.0 == "verified non-member")
        .unwrap()
        .clone();
    let b = Browser::start().await;
    let c = &b.client;
    c.goto(&t.url("/login")).await.unwrap();
    fill(c, "email", &email).await;
    fill(c, "password", &password).await;
    click(c, "login-submit").await;
    c.wait()
        .for_element(Locator::Id("verification-status"))
        .await
        .unwrap();

    // ① status: the gauge says 56 of 60, the explanation names the window and the gap.
    c.goto(&t.url("/mypage/cme")).await.unwrap();
    let gauge = c.find(Locator::Css("svg#cme-gauge")).await.unwrap();
    let label = gauge.attr("aria-label").await.unwrap().unwrap_or_default();
    assert!(label.contains("56") && label.contains("60"), "{label}");
    let explanation = c
        .find(Locator::Id("cme-explanation"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in ["2024", "2026", "56", "4"] {
        assert!(explanation.contains(needle), "{needle} in {explanation}");
    }
    let cells = c
        .find_all(Locator::Css("#cme-code-grid .cc"))
        .await
        .unwrap();
    assert_eq!(cells.len(), 84);
    let earned = c
        .find_all(Locator::Css("#cme-code-grid .cc.earned"))
        .await
        .unwrap();
    assert_eq!(
        earned.len(),
        15,
        "six prior-system, five and four training codes"
    );

    // ④ records: every entry listed, then filtered to FY2026 by the form.
    c.goto(&t.url("/mypage/cme/records")).await.unwrap();
    let rows = c
        .find_all(Locator::Css("#cme-records tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 15);
    let years = c
        .find(Locator::Id("cme-record-years"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(years.contains("2024") && years.contains("2026"), "{years}");
    let per_code = c
        .find_all(Locator::Css("#cme-record-codes tbody tr"))
        .await
        .unwrap();
    assert_eq!(per_code.len(), 15, "one total per earned code");
    assert_eq!(
        c.find_all(Locator::Css("#cme-code-grid .cc.earned"))
            .await
            .unwrap()
            .len(),
        15
    );
    c.goto(&t.url("/mypage/cme/records?fy=2026")).await.unwrap();
    let rows = c
        .find_all(Locator::Css("#cme-records tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 4);
    b.close().await;
}

/// Training attendance with the venue QR code: the organiser's venue screen shows the link, the
/// doctor's phone opens it, logs in, checks in; after the talk a fresh code from the screen
/// checks out in the same browser, and My Page ② shows the credit. The ticket is bound to the
/// browser that opened the link: copied into another browser it completes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn venue_check_in_and_out_in_chromium() {
    use crate::training_doctor_http::{DOCTOR, PASSWORD, presence, press, seed};
    use mamis_app::training::{self, ItemInput, SessionInput};
    use mamis_domain::training::{ItemKind, Venue};
    use mamis_domain::{AssociationCode, Role, RoleGrant, Scope};
    use mamis_store::Organiser;

    if !browser::available() {
        return;
    }
    let t = spawn_sqlite().await;
    seed(&t).await;
    let jst = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(&format!("{s}+09:00"))
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let chiyoda = AssociationCode::parse("P13-0001").unwrap();
    let (staff, organiser) = mamis_testkit::staff_user(
        &t,
        "training-staff@example.jp",
        "Chiyoda-staff-2026-sakura",
        RoleGrant::new(Role::CountyStaff, Scope::Association(chiyoda.clone())).unwrap(),
    )
    .await;
    let title = "学術講演会「高血圧治療の新常識」";
    let s = training::create(
        &t.app,
        &organiser,
        SessionInput {
            organiser: Organiser::Association(chiyoda),
            title: title.into(),
            venue: Venue::InPerson("千代田区医師会館 講堂".into()),
            start: jst("2026-06-01T09:00:00"),
            end: jst("2026-06-01T11:00:00"),
            expected_headcount: None,
            desk_scan_only: false,
            grace_minutes: 5,
            items: vec![ItemInput {
                id: None,
                title: "高血圧治療ガイドラインの改訂".into(),
                start: jst("2026-06-01T09:00:00"),
                minutes: 60,
                kind: ItemKind::single(74, 60),
            }],
        },
        None,
    )
    .await
    .unwrap();
    // what the venue screen links to right now
    let venue_link = || async {
        let page = staff
            .get(t.url(&format!("/office/training/{}/venue", s.id)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let href = mamis_testkit::attr(&mamis_testkit::html(&page), "a#venue-link", "href")
            .expect("the venue screen shows the link");
        assert!(href.starts_with(&format!("{}/t/", t.base_url)), "{href}");
        href
    };

    let b = Browser::start().await;
    let c = &b.client;
    c.goto(&venue_link().await).await.unwrap();
    // not logged in on this phone: the login page, then back to the check-in button
    fill(c, "email", DOCTOR).await;
    fill(c, "password", PASSWORD).await;
    click(c, "login-submit").await;
    let shown = c
        .wait()
        .for_element(Locator::Id("checkin-session"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(shown, title);
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/t/check-in")
    );

    // the ticket copied into another browser (its own device id) completes nothing
    let ticket = c.get_named_cookie("mamis_venue").await.unwrap();
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let other = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (r, _) = mamis_testkit::password_login(&t, &other, DOCTOR, PASSWORD).await;
    assert_eq!(r.status(), 303);
    jar.add_cookie_str(
        &format!("mamis_venue={}; Path=/", ticket.value()),
        &t.base_url.parse().unwrap(),
    );
    let (status, _) = press(&t, &other).await;
    assert_eq!(status, 410);
    assert!(presence(&t, &s).await.is_empty(), "not checked in");

    click(c, "checkin-submit").await;
    let result = c
        .wait()
        .for_element(Locator::Id("checkin-result"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(result, "チェックインしました（09:00）");
    assert!(c.find(Locator::Id("checkin-how-to-leave")).await.is_ok());

    // the talk goes on; the doctor glances at My Page ② now and then (keeping the login alive)
    for at in ["2026-06-01T09:25:00", "2026-06-01T09:50:00"] {
        t.clock.set(jst(at));
        c.goto(&t.url("/mypage/cme/training")).await.unwrap();
        let status = c
            .find(Locator::Css("#training-attendances td.status"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(status.contains("在室中"), "{status}");
        let r = staff.get(t.url("/office/training")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }

    // after the talk: a fresh code from the screen, scanned with the same phone
    t.clock.set(jst("2026-06-01T10:05:00"));
    c.goto(&venue_link().await).await.unwrap();
    c.wait()
        .for_element(Locator::Id("checkin-submit"))
        .await
        .unwrap();
    click(c, "checkin-submit").await;
    let result = c
        .wait()
        .for_element(Locator::Id("checkin-result"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        result,
        "退室を記録しました（10:05）。単位はマイページ②に反映されます"
    );
    click(c, "checkin-to-my-training").await;
    let credit = c
        .wait()
        .for_element(Locator::Css("#cme-training tbody tr"))
        .await
        .unwrap();
    let code = credit
        .find(Locator::Css("td.code"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(code.starts_with("74"), "{code}");
    let units = credit
        .find(Locator::Css("td.units"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(units, "1");
    let note = credit
        .find(Locator::Css("td.note"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(note.contains(title), "{note}");
    let intervals = c
        .find(Locator::Css("#training-attendances td.intervals"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(intervals.contains("09:00〜10:05"), "{intervals}");
    b.close().await;
}
