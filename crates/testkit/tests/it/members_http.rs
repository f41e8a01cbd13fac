//! The member back office over HTTP on both backends (pages, export download, import upload,
//! statistics, the scoped API) and in real Chromium: a search typed in hiragana finds a doctor
//! registered in katakana, and the member page shows the procedure timeline.

use fantoccini::{Client, Locator};
use mamis_app::demo;
use mamis_domain::identity::totp as rfc6238;
use mamis_domain::{AssociationCode, Role, RoleGrant, Scope};
use mamis_store::{MembershipStore, Store, Tx};
use mamis_testkit::browser::{self, Browser};
use mamis_testkit::{TestApp, app_test, base32_decode, html, spawn_sqlite, staff_user, texts};

use crate::members::{doctor, seed};

fn grant(role: Role, node: &str) -> RoleGrant {
    RoleGrant::new(
        role,
        Scope::Association(AssociationCode::parse(node).unwrap()),
    )
    .unwrap()
}

async fn pages_and_api<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let mine = doctor(
        &t,
        1,
        ("髙橋", "花子", "タカハシ", "ハナコ"),
        &[("P13-0001", "regular", "2020-04-01", None)],
        Some(("神田駅前クリニック", "千代田区")),
    )
    .await;
    doctor(
        &t,
        2,
        ("𠮷田", "健", "ヨシダ", "ケン"),
        &[("P13-0001", "regular", "2021-04-01", None)],
        None,
    )
    .await;
    let theirs = doctor(
        &t,
        3,
        ("高橋", "誠", "タカハシ", "マコト"),
        &[("P13-0002", "regular", "2015-04-01", None)],
        None,
    )
    .await;
    let (ua, _) = staff_user(
        &t,
        "chiyoda-members@example.jp",
        "correct horse battery staple 19",
        grant(Role::CountyStaff, "P13-0001"),
    )
    .await;
    let get = |path: String| {
        let ua = ua.clone();
        let url = t.url(&path);
        async move { ua.get(url).send().await.unwrap() }
    };
    // search: hiragana finds the katakana registration, not the other county's 高橋
    let r = get("/office/members?q=%E3%81%9F%E3%81%8B%E3%81%AF%E3%81%97".into()).await;
    assert_eq!(r.status(), 200);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "#members-total"), ["1"]);
    assert_eq!(texts(&doc, "#members-results td.iseki"), ["190001"]);
    // a bad field comes back named, in Japanese, with 400
    let r = get("/office/members?joined_from=2025-02-30".into()).await;
    assert_eq!(r.status(), 400);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "#error-summary li").len(), 1);
    assert!(texts(&doc, "#members-joined-from-error")[0].contains("日付を読み取れません"));
    // the member page, and not-found for another county's member
    let r = get(format!("/office/members/{mine}")).await;
    assert_eq!(r.status(), 200);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "#member-name"), ["髙橋 花子"]);
    assert_eq!(get(format!("/office/members/{theirs}")).await.status(), 404);
    assert_eq!(get("/office/members/not-a-uuid".into()).await.status(), 404);
    // export: the report counts 〓, the CP932 file carries it
    let r = get("/office/members/export?encoding=cp932&cols=iseki_number&cols=family_name".into())
        .await;
    assert_eq!(r.status(), 200);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "#export-replaced"), ["1"]);
    assert_eq!(texts(&doc, "#export-rows"), ["2"]);
    let href = mamis_testkit::attr(&doc, "#export-download", "href").unwrap();
    let r = get(href).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-mamis-replaced-characters"], "1");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("shift_jis")
    );
    let bytes = r.bytes().await.unwrap();
    let (text, _, _) = encoding_rs::SHIFT_JIS.decode(&bytes);
    assert!(text.contains("190002,〓田"), "{text}");
    assert_eq!(
        get("/office/members/export?encoding=ebcdic&cols=iseki_number".into())
            .await
            .status(),
        400
    );
    // statistics: the table, two server-rendered charts and the CSV
    let r = get("/office/members/stats?node=P13-0001&day=2026-06-01".into()).await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    let doc = html(&body);
    assert_eq!(texts(&doc, "#stats-row-P13-0001 td.total"), ["2"]);
    assert_eq!(
        doc.select(&scraper::Selector::parse("figure svg").unwrap())
            .count(),
        2
    );
    assert_eq!(
        get("/office/members/stats?node=P13-0002".into())
            .await
            .status(),
        404
    );
    let r = get("/office/members/stats.csv?node=P13-0001&day=2026-06-01".into()).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("P13-0001,千代田区医師会,2,2")
    );
    // import: a refused file lists its lines in Japanese; nothing written
    let page = get("/office/members/import".into())
        .await
        .text()
        .await
        .unwrap();
    let csrf = mamis_testkit::attr(&html(&page), "input[name=csrf]", "value").unwrap();
    let post = |csv: &'static str| {
        let ua = ua.clone();
        let url = t.url("/office/members/import");
        let origin = t.base_url.clone();
        let csrf = csrf.clone();
        async move {
            let boundary = "MembersBoundary19";
            let mut body = Vec::new();
            for (name, value) in [("csrf", csrf.as_str()), ("association", "P13-0001")] {
                body.extend_from_slice(
                    format!(
                        "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                    )
                    .as_bytes(),
                );
            }
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.csv\"\r\nContent-Type: text/csv\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(csv.as_bytes());
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            ua.post(url)
                .header("origin", origin)
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let r = post("医籍登録番号,氏,名,氏カナ,名カナ,生年月日,性別,会員種別,入会日\n700001,新,一,シン,ハジメ,1990-01-01,男,regular,2024-04-31\n").await;
    assert_eq!(r.status(), 422);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "#import-problems td.line"), ["2"]);
    assert!(texts(&doc, "#import-problems td.message")[0].contains("2024-04-31"));
    let r = post("医籍登録番号,氏,名,氏カナ,名カナ,生年月日,性別,会員種別,入会日\n700001,新,一,シン,ハジメ,1990-01-01,男,regular,2024-04-01\n").await;
    assert_eq!(r.status(), 200);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "#import-created"), ["1"]);

    // the API under a county token: search and one member, scoped
    let token = mamis_app::tokens::create(
        &t.app,
        &mamis_domain::Principal::Job {
            kind: "test".into(),
        },
        "county system",
        grant(Role::CountyStaff, "P13-0001"),
    )
    .await
    .unwrap()
    .secret;
    let r = t
        .api_get("/api/v1/members?q=%E3%82%88%E3%81%97%E3%81%A0", &token)
        .await;
    assert_eq!(r.status(), 200);
    let page: mamis_api_types::MemberSearchPage = r.json().await.unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.members[0].member.family_name, "𠮷田");
    assert_eq!(page.members[0].status, "member");
    let r = t.api_get(&format!("/api/v1/members/{mine}"), &token).await;
    assert_eq!(r.status(), 200);
    let rec: mamis_api_types::MemberRecord = r.json().await.unwrap();
    assert_eq!(rec.memberships.len(), 1);
    assert_eq!(rec.workplace.as_deref(), Some("神田駅前クリニック"));
    assert_eq!(
        t.api_get(&format!("/api/v1/members/{theirs}"), &token)
            .await
            .status(),
        404
    );
    assert_eq!(
        t.api_get("/api/v1/members?status=alive", &token)
            .await
            .status(),
        400
    );
    assert_eq!(
        t.api_get("/api/v1/members?colour=red", &token)
            .await
            .status(),
        400
    );
    assert_eq!(t.get("/api/v1/members").await.status(), 401);
}
app_test!(member_office_pages_and_api, pages_and_api);

async fn fill(c: &Client, id: &str, value: &str) {
    let e = c.wait().for_element(Locator::Id(id)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn click(c: &Client, id: &str) {
    c.wait()
        .for_element(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Katakana as the hiragana a person types.
fn hiragana(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'ァ'..='ヶ' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
            _ => c,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hiragana_search_finds_katakana_and_the_page_shows_the_timeline_in_chromium() {
    if !browser::available() {
        return;
    }
    let t = spawn_sqlite().await;
    let logins = demo::seed_demo(&t.app).await.unwrap().unwrap();
    let chiyoda = logins
        .accounts
        .iter()
        .find(|a| a.1 == "chiyoda@demo.mamis.jp")
        .unwrap()
        .clone();
    // a doctor with a procedure 千代田区 has a part in, registered in katakana
    let county = AssociationCode::parse("P13-0001").unwrap();
    let mut tx = t.app.store.read().await.unwrap();
    let procedure = tx
        .procedure_queue(std::slice::from_ref(&county), 50)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.doctor_id.is_some())
        .expect("the demo has a procedure of a registered doctor waiting at 千代田区");
    let doctor = procedure.doctor_id.expect("found above with a doctor");
    let d = mamis_store::RegistryStore::doctor(&mut tx, doctor)
        .await
        .unwrap()
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(
        d.family_kana
            .as_str()
            .chars()
            .all(|c| ('ァ'..='ヶ').contains(&c) || c == 'ー')
    );
    let typed = hiragana(d.family_kana.as_str());
    assert_ne!(typed, d.family_kana.as_str());

    let b = Browser::start().await;
    let c = &b.client;
    c.goto(&t.url("/login")).await.unwrap();
    fill(c, "email", &chiyoda.1).await;
    fill(c, "password", &chiyoda.2).await;
    click(c, "login-submit").await;
    t.clock.advance(chrono::Duration::seconds(31));
    let secret = base32_decode(chiyoda.3.as_ref().unwrap());
    let code = rfc6238::code(&secret, rfc6238::step_of(t.app.now()));
    fill(c, "code", &code).await;
    click(c, "code-submit").await;
    c.wait().for_element(Locator::Id("logout")).await.unwrap();

    c.goto(&t.url("/office/members")).await.unwrap();
    fill(c, "members-q", &typed).await;
    click(c, "members-search-submit").await;
    c.wait()
        .for_element(Locator::Id("members-results"))
        .await
        .unwrap();
    let link = c
        .find(Locator::Css(&format!("a[href='/office/members/{}']", d.id)))
        .await
        .expect("the katakana registration is among the results");
    let kana_shown = c
        .find(Locator::Css("#members-results .kana"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        kana_shown.starts_with(
            &typed
                .chars()
                .take(1)
                .map(|ch| char::from_u32(ch as u32 + 0x60).unwrap())
                .collect::<String>()
        ),
        "{kana_shown}"
    );
    link.click().await.unwrap();
    let timeline = c
        .wait()
        .for_element(Locator::Id(&format!("procedure-{}", procedure.id)))
        .await
        .unwrap();
    let text = timeline.text().await.unwrap();
    assert!(text.contains("処理中"), "{text}");
    let events = c
        .find_all(Locator::Css(&format!(
            "#procedure-{} .events li",
            procedure.id
        )))
        .await
        .unwrap();
    assert!(!events.is_empty(), "the history is listed");
    assert_eq!(
        c.find(Locator::Id("member-name"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        format!("{} {}", d.family_name, d.given_name)
    );
    b.close().await;
}
