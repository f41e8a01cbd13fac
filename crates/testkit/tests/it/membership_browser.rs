//! Membership procedures as doctors and staff meet them, in real Chromium on the demo data:
//! a join through county, prefecture and JMA with a return answered on the way (the member ID
//! assigned, the CME portal's members-only area open from the effective date), a transfer
//! Tokyo → Osaka approved by the receiving side and acknowledged by the sending side, a
//! withdrawal that closes the portal's members-only area at its next check, and a new resident
//! without a register record who joins with a licence copy and is verified by the county.

use chrono::{DateTime, Utc};
use fantoccini::{Client, Locator};
use mamis_app::demo;
use mamis_domain::procedure::ProcedureStatus;
use mamis_domain::{AssociationCode, AssociationLevel};
use mamis_store::{IdentityStore, MembershipStore, RegistryStore, Store, Tx, Verification};
use mamis_testkit::browser::{self, Browser, choose, click, fill, login, text, wait_gone};
use mamis_testkit::{TestApp, spawn_sqlite};
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

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The doctor bound to a demo account.
async fn doctor_of<S: Store>(t: &TestApp<S>, email: &str) -> Uuid {
    let mut tx = t.app.store.read().await.unwrap();
    let acc = tx.account_by_email(email).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    acc.doctor_id.unwrap()
}

/// The doctor's newest procedure.
async fn newest<S: Store>(t: &TestApp<S>, doctor: Uuid) -> mamis_store::ProcedureRow {
    let mut tx = t.app.store.read().await.unwrap();
    let p = tx.procedures_of_doctor(doctor).await.unwrap().remove(0);
    tx.rollback().await.unwrap();
    p
}

/// The county the doctor belongs to today.
async fn county_of<S: Store>(t: &TestApp<S>, doctor: Uuid) -> AssociationCode {
    let mut tx = t.app.store.read().await.unwrap();
    let ms = tx.memberships_of(doctor).await.unwrap();
    tx.rollback().await.unwrap();
    let today = mamis_domain::time::japan_date(t.app.now());
    mamis_domain::procedure::held_at(&ms, AssociationLevel::County, today)
        .unwrap()
        .association
        .clone()
}

/// Staff open a procedure from its page and press one of its buttons (approve, acknowledge).
async fn decide<S: Store>(t: &TestApp<S>, c: &Client, who: &Login, id: Uuid, button: &str) {
    login(t, c, who).await;
    // the queue lists it for them
    c.goto(&t.url("/office/membership")).await.unwrap();
    c.wait()
        .for_element(Locator::Css(&format!("#procedure-{id} a")))
        .await
        .unwrap_or_else(|_| panic!("{} does not see {id} in the queue", who.1))
        .click()
        .await
        .unwrap();
    click(c, button).await;
    // the action is done: nothing more is due from this association
    wait_gone(c, &format!("#{button}")).await;
    c.wait().for_element(Locator::Id("status")).await.unwrap();
}

/// The portal's members-only page as the browser sees it after logging in through it.
async fn portal_quiz<S: Store>(t: &TestApp<S>, c: &Client, who: &Login) -> String {
    c.goto(&t.url("/cme/members/quiz")).await.unwrap();
    // the portal sends a visitor through the MAMIS_ID login and back
    if c.find(Locator::Id("login-submit")).await.is_ok() {
        fill(c, "email", &who.1).await;
        fill(c, "password", &who.2).await;
        click(c, "login-submit").await;
    }
    c.wait()
        .for_element(Locator::Css("#cme-members-content, #cme-members-refused"))
        .await
        .unwrap()
        .attr("id")
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_procedures_run_through_the_pages_in_chromium() {
    if !browser::available() {
        return;
    }
    let t = spawn_sqlite().await;
    let logins = demo::seed_demo(&t.app).await.unwrap().unwrap();
    let b = Browser::start().await;
    let c = &b.client;
    let staff = |email: &str| account(&logins, email);
    let (chiyoda, tokyo, jma) = (
        staff("chiyoda@demo.mamis.jp"),
        staff("tokyo@demo.mamis.jp"),
        staff("jma-staff@demo.mamis.jp"),
    );
    let county_staff = |code: &AssociationCode| match code.as_str() {
        "P13-0001" => staff("chiyoda@demo.mamis.jp"),
        "P13-0002" => staff("chuo@demo.mamis.jp"),
        "P27-0001" => staff("osaka-kita@demo.mamis.jp"),
        "P13" => staff("tokyo@demo.mamis.jp"),
        "P27" => staff("osaka@demo.mamis.jp"),
        other => panic!("no demo staff for {other}"),
    };
    // of the demo's two members with a MAMIS_ID, the one in Tokyo moves to Osaka, the other leaves
    let mut members = Vec::new();
    for email in ["member@demo.mamis.jp", "history@demo.mamis.jp"] {
        let id = doctor_of(&t, email).await;
        members.push((account(&logins, email), id, county_of(&t, id).await));
    }
    members.sort_by_key(|(_, _, county)| county.prefecture_code().unwrap().as_str() != "P13");
    let [(mover, mover_id, from), (leaver, leaver_id, leaver_county)] =
        <[_; 2]>::try_from(members).unwrap();

    // ---- a join through three levels, returned once and answered --------------------------
    let joiner = account(&logins, "nonmember@demo.mamis.jp");
    let joiner_id = doctor_of(&t, &joiner.1).await;
    login(&t, c, &joiner).await;
    c.goto(&t.url("/mypage")).await.unwrap();
    click(c, "mypage-membership-link").await;
    click(c, "apply-join").await;
    choose(c, "prefecture", "P13").await;
    click(c, "join-prefecture-next").await;
    c.wait()
        .for_element(Locator::Css("#join-county input[value='P13-0001']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(c, "join-county-next").await;
    assert_eq!(text(c, "#join-county-name").await, "千代田区医師会");
    choose(c, "county_class", "regular").await;
    choose(c, "prefecture_class", "regular").await;
    choose(c, "jma_class", "B").await;
    click(c, "join-submit").await;
    c.wait()
        .for_element(Locator::Id("membership-filed"))
        .await
        .unwrap();
    let join = newest(&t, joiner_id).await.id;
    // Chiyoda returns it with a reason the doctor sees and answers
    login(&t, c, &chiyoda).await;
    c.goto(&t.url(&format!("/office/membership/{join}")))
        .await
        .unwrap();
    fill(c, "reason", "勤務先の医療機関名を教えてください").await;
    click(c, "return").await;
    wait_gone(c, "#return").await;
    assert_eq!(text(c, "#steps .state").await, "差戻し中");
    login(&t, c, &joiner).await;
    c.goto(&t.url("/mypage/membership")).await.unwrap();
    let returned = text(c, &format!("#procedure-{join} .returned")).await;
    assert!(
        returned.contains("勤務先の医療機関名を教えてください"),
        "{returned}"
    );
    fill(c, &format!("reply-{join}"), "千代田中央病院です").await;
    c.find(Locator::Css(&format!("#procedure-{join} button.answer")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_gone(c, &format!("#procedure-{join} button.answer")).await;
    decide(&t, c, &chiyoda, join, "approve").await;
    decide(&t, c, &tokyo, join, "approve").await;
    decide(&t, c, &jma, join, "approve").await;
    assert_eq!(text(c, "#status").await, "完了");
    let effective = text(c, "#effective").await;
    assert_eq!(effective, "2026-07-01");
    let mut tx = t.app.store.read().await.unwrap();
    let d = tx.doctor(joiner_id).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    let member_id = d.member_id.expect("a JMA member ID");
    assert_eq!(member_id.as_str().len(), 10);

    // ---- a transfer Tokyo → Osaka -----------------------------------------------------------
    assert_eq!(from.prefecture_code().unwrap().as_str(), "P13");
    login(&t, c, &mover).await;
    c.goto(&t.url("/mypage/membership")).await.unwrap();
    click(c, "apply-transfer").await;
    choose(c, "county", "P27-0001").await;
    click(c, "transfer-county-next").await;
    assert_eq!(text(c, "#transfer-to").await, "大阪市北区医師会");
    choose(c, "county_class", "regular").await;
    choose(c, "prefecture_class", "regular").await;
    click(c, "transfer-submit").await;
    c.wait()
        .for_element(Locator::Id("membership-filed"))
        .await
        .unwrap();
    let transfer = newest(&t, mover_id).await.id;
    decide(
        &t,
        c,
        &staff("osaka-kita@demo.mamis.jp"),
        transfer,
        "approve",
    )
    .await;
    decide(&t, c, &staff("osaka@demo.mamis.jp"), transfer, "approve").await;
    decide(&t, c, &county_staff(&from), transfer, "acknowledge").await;
    decide(&t, c, &tokyo, transfer, "acknowledge").await;
    assert_eq!(text(c, "#status").await, "完了");
    assert_eq!(text(c, "#effective").await, "2026-07-01");

    // ---- a withdrawal; the portal's members area is open until it takes effect -------------
    login(&t, c, &leaver).await;
    assert_eq!(portal_quiz(&t, c, &leaver).await, "cme-members-content");
    c.goto(&t.url("/mypage/membership")).await.unwrap();
    click(c, "apply-withdraw").await;
    click(c, "from-county").await;
    click(c, "withdraw-submit").await;
    // the confirmation says what ends; nothing is filed before it is confirmed
    c.wait()
        .for_element(Locator::Id("confirm-submit"))
        .await
        .unwrap();
    assert!(newest_or_none(&t, leaver_id).await.is_none());
    c.find(Locator::Id("confirm-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Id("membership-filed"))
        .await
        .unwrap();
    let withdrawal = newest(&t, leaver_id).await.id;
    decide(&t, c, &county_staff(&leaver_county), withdrawal, "approve").await;
    let leaver_prefecture = leaver_county.prefecture_code().unwrap();
    decide(
        &t,
        c,
        &county_staff(&leaver_prefecture),
        withdrawal,
        "approve",
    )
    .await;
    decide(&t, c, &jma, withdrawal, "approve").await;
    assert_eq!(text(c, "#effective").await, "2026-07-01");
    login(&t, c, &leaver).await;
    assert_eq!(
        portal_quiz(&t, c, &leaver).await,
        "cme-members-content",
        "still a member until the effective date"
    );

    // ---- a new resident without a register record ------------------------------------------
    let resident = account(&logins, "unverified@demo.mamis.jp");
    login(&t, c, &resident).await;
    c.goto(&t.url("/mypage")).await.unwrap();
    click(c, "mypage-membership-link").await;
    click(c, "apply-join").await;
    choose(c, "prefecture", "P13").await;
    click(c, "join-prefecture-next").await;
    c.wait()
        .for_element(Locator::Css("#join-county input[value='P13-0001']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(c, "join-county-next").await;
    assert!(text(c, "#join-applicant-note").await.contains("医師免許証"));
    choose(c, "county_class", "resident").await;
    let licence = std::env::temp_dir().join(format!("menkyo-{}.png", Uuid::new_v4().simple()));
    std::fs::write(&licence, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR licence copy").unwrap();
    c.find(Locator::Id("licence"))
        .await
        .unwrap()
        .send_keys(&licence.display().to_string())
        .await
        .unwrap();
    click(c, "join-submit").await;
    c.wait()
        .for_element(Locator::Id("membership-filed"))
        .await
        .unwrap();
    let _ = std::fs::remove_file(&licence);
    let mut tx = t.app.store.read().await.unwrap();
    let resident_acc = tx.account_by_email(&resident.1).await.unwrap().unwrap();
    let applied = tx
        .procedures_of_applicant(resident_acc.id)
        .await
        .unwrap()
        .remove(0);
    let evidence = tx.evidence_of(applied.id).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(evidence.len(), 1);
    login(&t, c, &chiyoda).await;
    c.goto(&t.url(&format!("/office/membership/{}", applied.id)))
        .await
        .unwrap();
    assert!(text(c, "#request").await.contains("医籍情報未登録"));
    click(c, "approve").await;
    wait_gone(c, "#approve").await;
    let mut tx = t.app.store.read().await.unwrap();
    let resident_acc = tx.account_by_email(&resident.1).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(resident_acc.verification, Verification::Verified);
    let resident_doctor = resident_acc.doctor_id.unwrap();
    assert_eq!(newest(&t, resident_doctor).await.id, applied.id);

    // ---- from the effective date ------------------------------------------------------------
    // five minutes before midnight the leaver still reads the members' area; the portal's next
    // check after midnight (its five-minute access token renewed) closes it in the same session
    t.clock.set(at("2026-06-30T23:55:00+09:00"));
    login(&t, c, &leaver).await;
    assert_eq!(portal_quiz(&t, c, &leaver).await, "cme-members-content");
    t.clock.set(at("2026-07-01T00:06:00+09:00"));
    c.goto(&t.url("/cme/members/quiz")).await.unwrap();
    assert!(
        c.find(Locator::Id("login-submit")).await.is_err(),
        "the same portal session, not a new login"
    );
    assert_eq!(
        c.wait()
            .for_element(Locator::Css("#cme-members-content, #cme-members-refused"))
            .await
            .unwrap()
            .attr("id")
            .await
            .unwrap()
            .as_deref(),
        Some("cme-members-refused"),
        "the withdrawn member is refused at the next check"
    );
    login(&t, c, &joiner).await;
    assert_eq!(
        portal_quiz(&t, c, &joiner).await,
        "cme-members-content",
        "the new member is admitted"
    );
    let mut tx = t.app.store.read().await.unwrap();
    let ms = tx.memberships_of(mover_id).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(county_of(&t, mover_id).await.as_str(), "P27-0001");
    let jma_rows: Vec<_> = ms
        .iter()
        .filter(|m| m.level() == AssociationLevel::Jma)
        .collect();
    assert_eq!(jma_rows.len(), 1, "the JMA membership is untouched");
    assert_eq!(
        newest(&t, mover_id).await.status,
        ProcedureStatus::Completed
    );
    // ---- the new pages fit a phone -----------------------------------------------------------
    c.set_window_size(390, 844).await.unwrap();
    for path in [
        "/mypage/membership",
        "/mypage/membership/join?prefecture=P13",
        "/mypage/membership/join?prefecture=P13&county=P13-0001",
        "/mypage/membership/class",
        "/mypage/membership/withdraw",
        "/mypage/membership/name",
        "/mypage/profile",
    ] {
        fits(&t, c, path).await;
    }
    login(&t, c, &chiyoda).await;
    for path in [
        "/office/membership".to_owned(),
        "/office/membership/settings".to_owned(),
        format!("/office/membership/{join}"),
    ] {
        fits(&t, c, &path).await;
    }
    b.close().await;
}

/// Nothing on the page is wider than the window.
async fn fits<S: Store>(t: &TestApp<S>, c: &Client, path: &str) {
    c.goto(&t.url(path)).await.unwrap();
    c.wait().for_element(Locator::Css("main h1")).await.unwrap();
    let v = c
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth, \
             [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5).map(e => e.tagName + '#' + e.id).slice(0, 5)];",
            vec![],
        )
        .await
        .unwrap();
    let scroll = v[0].as_f64().unwrap();
    let inner = v[1].as_f64().unwrap();
    assert!(scroll <= inner, "{path}: {scroll} > {inner}: {:?}", v[2]);
}

async fn newest_or_none<S: Store>(t: &TestApp<S>, doctor: Uuid) -> Option<Uuid> {
    let mut tx = t.app.store.read().await.unwrap();
    let p = tx.procedures_of_doctor(doctor).await.unwrap();
    tx.rollback().await.unwrap();
    p.first().map(|p| p.id)
}
