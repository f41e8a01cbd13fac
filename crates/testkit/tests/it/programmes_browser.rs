//! The 産業医 story in real Chromium: a doctor earns the basic training's units at training
//! sessions (desk scans of the personal QR code), applies on My Page, the prefecture forwards
//! and the JMA approves with the fee recorded, the doctor sees the record on My Page, and
//! `/verify` shows it valid with its expiry.

use chrono::Duration;
use fantoccini::Locator;
use mamis_app::demo;
use mamis_app::programmes::credit::{self, PartInput};
use mamis_app::training::capture::{self, DeskInput, Origin};
use mamis_app::training::{self, ItemInput, SessionInput};
use mamis_domain::identity::totp as rfc6238;
use mamis_domain::programmes::CertifiedProgramme;
use mamis_domain::training::{ItemKind, Venue};
use mamis_domain::{AssociationCode, Principal};
use mamis_store::{IdentityStore, Organiser, Store, Tx};
use mamis_testkit::browser::{self, Browser};
use mamis_testkit::{TestApp, base32_decode, spawn_sqlite};
use uuid::Uuid;

type Login = (String, String, String, Option<String>);

fn account(logins: &demo::DemoLogins, email: &str) -> Login {
    logins
        .accounts
        .iter()
        .find(|a| a.1 == email)
        .unwrap_or_else(|| panic!("demo account {email}"))
        .clone()
}

/// Enrols a staff account as a person would (link, password, TOTP) and returns its login.
async fn enrol<S: Store>(t: &TestApp<S>, email: &str, grant: mamis_domain::RoleGrant) -> Login {
    use mamis_app::identity::{recovery, sessions::Origin as LoginOrigin, totp};
    let job = Principal::Job {
        kind: "test".into(),
    };
    let password = "prefecture-staff-pass-2026";
    let link = recovery::create_staff(&t.app, &job, email, "事務局 担当", grant)
        .await
        .unwrap();
    let token = link.split("token=").nth(1).unwrap();
    recovery::enrol_staff(&t.app, token, password, &LoginOrigin::default())
        .await
        .unwrap();
    let mut tx = t.app.store.read().await.unwrap();
    let acc = tx.account_by_email(email).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    let e = totp::begin(&t.app, &acc).unwrap();
    let code = rfc6238::code(
        &base32_decode(&e.secret_base32),
        rfc6238::step_of(t.app.now()),
    );
    totp::confirm(&t.app, &acc, &e.sealed, &code).await.unwrap();
    (
        "prefecture staff".into(),
        email.into(),
        password.into(),
        Some(e.secret_base32.clone()),
    )
}

/// One session of the organiser with one item crediting `minutes` of 産業医 `category`; the
/// doctor's personal QR code is scanned at the desk on arrival and departure, then it closes.
async fn attend<S: Store>(t: &TestApp<S>, doctor: &Principal, category: &str, minutes: u32) {
    let job = Principal::Job {
        kind: "test".into(),
    };
    let start = t.app.now() + Duration::minutes(10);
    let end = start + Duration::minutes(i64::from(minutes));
    let s = training::create(
        &t.app,
        &job,
        SessionInput {
            organiser: Organiser::Association(AssociationCode::parse("P13-0001").unwrap()),
            title: format!("産業医研修会({category})"),
            venue: Venue::InPerson("医師会館".into()),
            start,
            end,
            expected_headcount: Some(40),
            desk_scan_only: false,
            grace_minutes: 5,
            items: vec![ItemInput {
                id: None,
                title: "産業医学講義".into(),
                start,
                minutes,
                kind: ItemKind::single(10, minutes),
            }],
        },
        None,
    )
    .await
    .unwrap();
    let item = training::view(&t.app, &job, s.id, None)
        .await
        .unwrap()
        .items[0]
        .id;
    credit::set_item_programmes(
        &t.app,
        &job,
        s.id,
        vec![PartInput {
            item,
            programme: CertifiedProgramme::Sangyoui,
            category: category.into(),
            web_session: false,
            lecture: None,
        }],
        None,
    )
    .await
    .unwrap();
    let desk = Origin {
        device: Some("desk".into()),
        client_addr: Some("192.0.2.9".into()),
    };
    t.clock.set(start - Duration::minutes(2));
    let code = capture::personal_code(&t.app, doctor).await.unwrap();
    capture::desk_scan(&t.app, &job, s.id, DeskInput::Code(code), desk.clone())
        .await
        .unwrap();
    t.clock.set(end + Duration::minutes(2));
    let code = capture::personal_code(&t.app, doctor).await.unwrap();
    capture::desk_scan(&t.app, &job, s.id, DeskInput::Code(code), desk)
        .await
        .unwrap();
    training::close(&t.app, &job, s.id, None).await.unwrap();
    t.clock.advance(Duration::hours(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doctor_earns_sangyoui_units_applies_and_is_certified_in_chromium() {
    if !browser::available() {
        return;
    }
    let t = spawn_sqlite().await;
    let logins = demo::seed_demo(&t.app).await.unwrap().unwrap();
    let member = account(&logins, "member@demo.mamis.jp");
    let jma = account(&logins, "jma-staff@demo.mamis.jp");
    let doctor = {
        let mut tx = t.app.store.read().await.unwrap();
        let acc = tx.account_by_email(&member.1).await.unwrap().unwrap();
        tx.rollback().await.unwrap();
        Principal::Doctor {
            account_id: acc.id,
            doctor_id: acc.doctor_id,
        }
    };
    // the basic training: 前期 14 h, 実地 10 h, 後期 26 h (two days of 13 h)
    attend(&t, &doctor, "kiso_zenki", 14 * 60).await;
    attend(&t, &doctor, "kiso_jitchi", 10 * 60).await;
    attend(&t, &doctor, "kiso_kouki", 13 * 60).await;
    attend(&t, &doctor, "kiso_kouki", 13 * 60).await;

    let b = Browser::start().await;
    let c = &b.client;

    // the doctor sees the programme on My Page, met, and applies
    browser::login(&t, c, &member).await;
    c.goto(&t.url("/mypage")).await.unwrap();
    let card = browser::text(c, "#mypage-programmes").await;
    assert!(card.contains("日本医師会認定産業医"), "{card}");
    browser::press(c, "#mypage-programmes-link").await;
    let section = browser::text(c, "#programme-sangyoui").await;
    assert!(section.contains("認定はありません"), "{section}");
    let short = c
        .find_all(Locator::Css("#programme-sangyoui tr.short"))
        .await
        .unwrap();
    assert!(short.is_empty(), "every line met: {section}");
    // an activity report goes with the application, chosen in the form's file input
    let dir = std::env::temp_dir().join(format!("mamis-programme-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("katsudo-houkoku.pdf");
    std::fs::write(&report, b"%PDF-1.4 activity report").unwrap();
    c.find(Locator::Css("#files-sangyoui"))
        .await
        .unwrap()
        .send_keys(report.to_str().unwrap())
        .await
        .unwrap();
    browser::press(c, "#programme-sangyoui .apply-button").await;
    let section = browser::text(c, "#programme-sangyoui .application").await;
    // the demo member belongs to a county of Osaka (P27): the route starts there
    assert!(section.contains("審査中(P27)"), "{section}");

    // another prefecture's staff does not see it; Osaka's forwards it to the JMA
    let tokyo = account(&logins, "tokyo@demo.mamis.jp");
    browser::login(&t, c, &tokyo).await;
    c.goto(&t.url("/office/programmes")).await.unwrap();
    c.wait()
        .for_element(Locator::Id("programmes-queue-empty"))
        .await
        .unwrap();
    let osaka = enrol(
        &t,
        "osaka@example.jp",
        mamis_domain::RoleGrant::new(
            mamis_domain::Role::PrefectureStaff,
            mamis_domain::Scope::Association(AssociationCode::parse("P27").unwrap()),
        )
        .unwrap(),
    )
    .await;
    browser::login(&t, c, &osaka).await;
    c.goto(&t.url("/office/programmes")).await.unwrap();
    browser::press(c, "#programmes-queue a.open-application").await;
    let route = browser::text(c, ".route").await;
    assert_eq!(route, "[P27] → JMA");
    assert_eq!(
        browser::text(c, ".evidence-files a").await,
        "katsudo-houkoku.pdf",
        "the reviewer sees the report the doctor attached"
    );
    browser::press(c, "button.approve").await;
    c.wait()
        .for_element(Locator::Id("programmes-queue-empty"))
        .await
        .unwrap();

    // the JMA approves with the fee paid: the certificate is issued
    browser::login(&t, c, &jma).await;
    c.goto(&t.url("/office/programmes")).await.unwrap();
    browser::press(c, "#programmes-queue a.open-application").await;
    assert_eq!(browser::text(c, ".route").await, "P27 → [JMA]");
    browser::press(c, "#fee option[value=paid]").await;
    browser::press(c, "button.approve").await;
    c.wait()
        .for_element(Locator::Id("programmes-queue-empty"))
        .await
        .unwrap();

    // the doctor sees the record, with the note that the JMA issues the paper certificate
    browser::login(&t, c, &member).await;
    c.goto(&t.url("/mypage/programmes")).await.unwrap();
    let number = browser::text(c, "#programme-sangyoui .number").await;
    let today = t.clock_date();
    assert_eq!(
        number,
        format!("SAN-{}-000001", chrono::Datelike::year(&today))
    );
    let valid = browser::text(c, "#programme-sangyoui .valid").await;
    let until = CertifiedProgramme::Sangyoui.rules().valid_until(today);
    let (y, m, d) = (
        chrono::Datelike::year(&until),
        chrono::Datelike::month(&until),
        chrono::Datelike::day(&until),
    );
    assert!(valid.contains(&format!("{y}年{m}月{d}日")), "{valid}");
    let standing = browser::text(c, "#programme-sangyoui .standing").await;
    assert!(standing.contains("有効"), "{standing}");
    assert!(
        browser::text(c, "#programme-sangyoui .notice")
            .await
            .contains("認定の記録")
    );

    // /verify, logged out, shows it valid with its expiry
    let href = c
        .find(Locator::Css("#programme-sangyoui a.verify-link"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    c.delete_all_cookies().await.unwrap();
    c.goto(&t.url(&href)).await.unwrap();
    let status = c
        .find(Locator::Id("verify-status"))
        .await
        .unwrap()
        .attr("data-status")
        .await
        .unwrap();
    assert_eq!(status.as_deref(), Some("valid"));
    assert!(browser::text(c, "#verify-kind").await.contains("産業医"));
    assert_eq!(browser::text(c, "#verify-number").await, number);
    let until_text = browser::text(c, "#verify-valid-until").await;
    assert!(
        until_text.contains(&format!("{y}年{m}月{d}日")),
        "{until_text}"
    );
    b.close().await;
}
