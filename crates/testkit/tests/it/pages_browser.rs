//! The pages as people meet them, in real Chromium at a phone's width (390×844) and a desktop's
//! (1280×900): layout that fits, links by role, confirmations, error pages that keep the header,
//! form errors that take the focus, and field borders that can be seen.

use fantoccini::{Client, Locator};
use mamis_app::demo;
use mamis_app::training::{self, ItemInput, SessionInput, capture};
use mamis_domain::training::{ItemKind, Venue};
use mamis_domain::{AssociationCode, Principal};
use mamis_store::{AccessStore, Account, AccountKind, Organiser, Store, Tx};
use mamis_testkit::browser::{self, Browser, click, fill, login, text};
use mamis_testkit::{TestApp, spawn_sqlite, spawn_sqlite_with};

/// What the layout check measures on the current page.
#[derive(Debug, serde::Deserialize)]
struct Layout {
    scroll_width: f64,
    inner_width: f64,
    header_height: f64,
    /// Visible table cells narrower than 4 em: (width in em, text).
    narrow_cells: Vec<(f64, String)>,
    /// Table cells laid out as table cells (a desktop table keeps its columns).
    table_cells: usize,
    /// Whether the menu button is shown.
    menu_button: bool,
    /// Elements reaching past the right edge (for the failure message).
    overflowing: Vec<String>,
    /// Header links laid out on more than one line (a word broken inside itself).
    broken_links: Vec<String>,
}

const MEASURE: &str = r#"
const em = parseFloat(getComputedStyle(document.documentElement).fontSize);
const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).display !== 'none';
const cells = [...document.querySelectorAll('main th, main td')].filter(shown);
const button = document.getElementById('menu-toggle');
const links = [...document.querySelectorAll('#site-nav a, header.site button')].filter(shown);
const lineHeight = (e) => parseFloat(getComputedStyle(e).lineHeight) || em * 1.7;
return JSON.stringify({
  scroll_width: document.documentElement.scrollWidth,
  inner_width: window.innerWidth,
  header_height: document.querySelector('header.site').getBoundingClientRect().height,
  narrow_cells: cells.map(c => [c.getBoundingClientRect().width / em, c.textContent.trim().slice(0, 30)])
                     .filter(([w, _]) => w < 4),
  table_cells: cells.filter(c => getComputedStyle(c).display === 'table-cell').length,
  menu_button: !!button && shown(button),
  overflowing: [...document.querySelectorAll('body *')].filter(shown)
                 .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
                 .map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 8),
  broken_links: links.filter(l => l.getClientRects().length > 1 || l.getBoundingClientRect().height > lineHeight(l) * 1.5 + 16)
                     .map(l => l.textContent.trim()),
});
"#;

async fn measure(c: &Client) -> Layout {
    let v = c.execute(MEASURE, vec![]).await.unwrap();
    serde_json::from_str(v.as_str().unwrap()).unwrap()
}

async fn phone(c: &Client) {
    c.set_window_size(390, 844).await.unwrap();
}

async fn desktop(c: &Client) {
    c.set_window_size(1280, 900).await.unwrap();
}

/// At 390 px: nothing wider than the screen, a header under 80 px with the menu closed, no
/// table cell under 4 em; at 1280 px the header shows its links and tables keep their columns.
async fn check_both_sizes(c: &Client, url: &str, has_table: bool) {
    let l = fits_a_phone(c, url).await;
    assert!(
        (l.inner_width - 390.0).abs() < 1.0,
        "{url}: viewport {}",
        l.inner_width
    );
    assert!(l.menu_button, "{url}: the menu button on a phone");
    assert!(l.broken_links.is_empty(), "{url}: {:?}", l.broken_links);
    // the menu opens and shows the links
    click(c, "menu-toggle").await;
    let nav = c.find(Locator::Id("site-nav")).await.unwrap();
    assert!(nav.is_displayed().await.unwrap(), "{url}: menu opens");
    assert_eq!(
        c.find(Locator::Id("menu-toggle"))
            .await
            .unwrap()
            .attr("aria-expanded")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );

    desktop(c).await;
    c.goto(url).await.unwrap();
    let l = measure(c).await;
    assert!(l.scroll_width <= l.inner_width, "{url}: desktop overflow");
    assert!(!l.menu_button, "{url}: no menu button on a desktop");
    assert!(
        c.find(Locator::Id("site-nav"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap()
    );
    assert!(l.broken_links.is_empty(), "{url}: {:?}", l.broken_links);
    if has_table {
        assert!(l.table_cells > 0, "{url}: the desktop keeps table columns");
    }
}

/// The other pages at a phone's width: nothing wider than the screen, no cramped table cell.
async fn fits_a_phone(c: &Client, url: &str) -> Layout {
    phone(c).await;
    c.goto(url).await.unwrap();
    let l = measure(c).await;
    assert!(
        l.scroll_width <= l.inner_width,
        "{url}: {} wider than {}: {:?}",
        l.scroll_width,
        l.inner_width,
        l.overflowing
    );
    assert!(l.header_height < 80.0, "{url}: header {}", l.header_height);
    assert!(l.narrow_cells.is_empty(), "{url}: {:?}", l.narrow_cells);
    l
}

fn account(logins: &demo::DemoLogins, email: &str) -> (String, String, String, Option<String>) {
    logins
        .accounts
        .iter()
        .find(|a| a.1 == email)
        .unwrap_or_else(|| panic!("demo account {email}"))
        .clone()
}

/// WCAG contrast ratio of two `rgb(…)` colours.
fn contrast(a: &str, b: &str) -> f64 {
    fn lum(c: &str) -> f64 {
        let v: Vec<f64> = c
            .trim_start_matches("rgba(")
            .trim_start_matches("rgb(")
            .trim_end_matches(')')
            .split(',')
            .take(3)
            .map(|x| x.trim().parse::<f64>().unwrap() / 255.0)
            .map(|x| {
                if x <= 0.03928 {
                    x / 12.92
                } else {
                    ((x + 0.055) / 1.055).powf(2.4)
                }
            })
            .collect();
        0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]
    }
    let (x, y) = (lum(a), lum(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_fit_a_phone_and_work_by_role_in_chromium() {
    if !browser::available() {
        return;
    }
    let t = spawn_sqlite().await;
    let logins = demo::seed_demo(&t.app).await.unwrap().unwrap();
    let member = account(&logins, "member@demo.mamis.jp");
    let chiyoda = account(&logins, "chiyoda@demo.mamis.jp");
    let admin = account(&logins, "jma-admin@demo.mamis.jp");
    // an open session of 千代田区医師会 now, for the venue check-in
    let now = t.app.now();
    let job = Principal::Job {
        kind: "test".into(),
    };
    let start = now - chrono::Duration::minutes(10);
    let s = training::create(
        &t.app,
        &job,
        SessionInput {
            organiser: Organiser::Association(AssociationCode::parse("P13-0001").unwrap()),
            title: "学術講演会「スマートフォンでの受付」".into(),
            venue: Venue::InPerson("医師会館 大ホール".into()),
            start,
            end: now + chrono::Duration::hours(2),
            expected_headcount: Some(30),
            desk_scan_only: false,
            grace_minutes: 5,
            items: vec![ItemInput {
                id: None,
                title: "講演".into(),
                start,
                minutes: 60,
                kind: ItemKind::single(10, 60),
            }],
        },
        None,
    )
    .await
    .unwrap();

    let b = Browser::start().await;
    let c = &b.client;

    // the login page, logged out
    check_both_sizes(c, &t.url("/login"), false).await;
    let links = |c: &'_ Client| {
        let c = c.clone();
        async move {
            let mut out = Vec::new();
            for a in c.find_all(Locator::Css("#site-nav a")).await.unwrap() {
                out.push(a.attr("href").await.unwrap().unwrap_or_default());
            }
            out
        }
    };

    // a doctor: My Page ① fits a phone; the header offers no 事務局
    desktop(c).await;
    login(&t, c, &member).await;
    check_both_sizes(c, &t.url("/mypage/cme"), true).await;
    assert_eq!(links(c).await, ["/", "/mypage", "/cme"]);
    c.goto(&t.url("/")).await.unwrap();
    let offered = c
        .execute(
            "return [...document.querySelectorAll('a')].map(a => a.getAttribute('href'))",
            vec![],
        )
        .await
        .unwrap();
    let offered: Vec<String> = serde_json::from_value(offered).unwrap();
    assert!(
        !offered.iter().any(|h| h.starts_with("/office")),
        "a doctor is offered no back-office link: {offered:?}"
    );
    for path in [
        "/",
        "/mypage",
        "/mypage/cme/training",
        "/mypage/cme/learning",
        "/mypage/cme/records",
        "/mypage/cme/documents",
        "/mypage/sessions",
        "/mypage/membership",
        "/cme",
    ] {
        fits_a_phone(c, &t.url(path)).await;
    }
    // a new password can be shown before it is saved
    desktop(c).await;
    c.goto(&t.url("/mypage/password")).await.unwrap();
    let reveal = c
        .wait()
        .for_element(Locator::Css("#password + button.reveal"))
        .await
        .unwrap();
    assert_eq!(reveal.text().await.unwrap(), "表示する");
    reveal.click().await.unwrap();
    let kind = c
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .attr("type")
        .await
        .unwrap();
    assert_eq!(kind.as_deref(), Some("text"));
    assert_eq!(reveal.text().await.unwrap(), "隠す");
    // the venue check-in, on the doctor's phone
    let code = capture::venue_code(&t.app, &job, s.id).await.unwrap();
    phone(c).await;
    c.goto(&t.url(&format!("/t/{}", code.token))).await.unwrap();
    let at = c.current_url().await.unwrap();
    check_both_sizes(c, at.as_str(), false).await;
    // a 404 keeps the logged-in header
    c.goto(&t.url("/no-such-page")).await.unwrap();
    assert_eq!(text(c, "h1").await, "ページが見つかりません");
    assert!(!text(c, "#who").await.is_empty());
    assert!(c.find(Locator::Id("logout")).await.is_ok());
    assert_eq!(links(c).await, ["/", "/mypage", "/cme"]);

    // the identity form's error summary takes the focus and links each field (a new doctor's
    // account, which has not submitted the form yet)
    let fresh = (
        "new doctor".to_owned(),
        "new-doctor@example.jp".to_owned(),
        "Pages-test-2026-keyaki".to_owned(),
        None,
    );
    {
        let hash = t.app.hasher.hash(fresh.2.clone()).await.unwrap();
        let mut acc = Account::new(
            uuid::Uuid::from_u128(0x9A9E5),
            &fresh.1,
            "",
            AccountKind::Doctor,
            t.app.now(),
        );
        acc.password_hash = Some(hash);
        let mut tx = t.app.store.write().await.unwrap();
        tx.insert_account(&acc).await.unwrap();
        tx.commit().await.unwrap();
    }
    login(&t, c, &fresh).await;
    c.goto(&t.url("/mypage/identity")).await.unwrap();
    // 性別 is not chosen for the doctor
    let sex = c
        .execute("return document.getElementById('sex').value", vec![])
        .await
        .unwrap();
    assert_eq!(sex.as_str(), Some(""));
    fill(c, "iseki", "123456").await;
    click(c, "identity-submit").await;
    c.wait()
        .for_element(Locator::Id("error-summary"))
        .await
        .unwrap();
    let focused = c
        .execute("return document.activeElement.id", vec![])
        .await
        .unwrap();
    assert_eq!(focused.as_str(), Some("error-summary"));
    let mut hrefs = Vec::new();
    for a in c.find_all(Locator::Css("#error-summary a")).await.unwrap() {
        hrefs.push(a.attr("href").await.unwrap().unwrap_or_default());
    }
    assert!(hrefs.contains(&"#family_name".to_owned()), "{hrefs:?}");
    assert!(hrefs.contains(&"#sex".to_owned()), "{hrefs:?}");
    assert!(!hrefs.contains(&"#iseki".to_owned()), "{hrefs:?}");
    let family = c.find(Locator::Id("family_name")).await.unwrap();
    assert_eq!(
        family.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    assert_eq!(
        family.attr("aria-describedby").await.unwrap().as_deref(),
        Some("family_name-error")
    );
    assert_eq!(
        text(c, "#family_name-error").await,
        "入力してください（必須）。",
        "an empty 氏 says it is required"
    );
    // the summary's link takes the focus to its field
    c.find(Locator::Css("#error-summary a[href='#family_name']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let focused = c
        .execute("return document.activeElement.id", vec![])
        .await
        .unwrap();
    assert_eq!(focused.as_str(), Some("family_name"));

    // input borders and the focus ring reach 3:1 against the page
    c.goto(&t.url("/login")).await.unwrap();
    let colours = c
        .execute(
            "const e = document.getElementById('email'); e.focus();
             const s = getComputedStyle(e);
             const card = getComputedStyle(document.body).backgroundColor;
             return [s.borderTopColor, s.outlineColor, card, getComputedStyle(e).backgroundColor];",
            vec![],
        )
        .await
        .unwrap();
    let v: Vec<String> = serde_json::from_value(colours).unwrap();
    for bg in [&v[2], &v[3]] {
        assert!(contrast(&v[0], bg) >= 3.0, "border {} on {bg}", v[0]);
        assert!(contrast(&v[1], bg) >= 3.0, "focus ring {} on {bg}", v[1]);
    }

    // staff: the session page fits a phone; an organiser-less county member of staff lands on
    // the back office and sees no prefecture-wide approvals link
    desktop(c).await;
    login(&t, c, &chiyoda).await;
    assert_eq!(links(c).await, ["/", "/mypage", "/office"]);
    check_both_sizes(c, &t.url(&format!("/office/training/{}", s.id)), true).await;
    for path in [
        "/office",
        "/office/training",
        "/office/migration",
        "/office/membership",
        "/office/training/new",
    ] {
        fits_a_phone(c, &t.url(path)).await;
    }
    desktop(c).await;
    c.goto(&t.url("/office/training")).await.unwrap();
    assert!(
        c.find(Locator::Id("training-approvals-link"))
            .await
            .is_err(),
        "a county approves nothing"
    );

    // revoking a certificate: the second step names the holder of the number typed
    login(&t, c, &admin).await;
    let (_, url) = logins
        .certificates
        .iter()
        .find(|(w, _)| !w.starts_with("revoked"))
        .unwrap();
    let number = url
        .split("/verify/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    for path in ["/office/certificates", "/office/clients"] {
        fits_a_phone(c, &t.url(path)).await;
    }
    desktop(c).await;
    c.goto(&t.url("/office/certificates")).await.unwrap();
    fill(c, "revoke-number", &number).await;
    c.find(Locator::Css("#revoke-category option[value=error]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    fill(c, "revoke-reason", "発行内容の確認のため").await;
    click(c, "revoke-submit").await;
    assert_eq!(
        text(c, "#confirm-title").await,
        "この証明書を取り消しますか"
    );
    let facts = text(c, "#confirm-facts").await;
    assert!(facts.contains(&number), "{facts}");
    assert!(facts.contains("氏名"), "{facts}");
    let danger = c
        .execute(
            "const b = getComputedStyle(document.getElementById('confirm-submit')).backgroundColor;
             return [b, getComputedStyle(document.querySelector('#confirm-cancel')).color];",
            vec![],
        )
        .await
        .unwrap();
    let d: Vec<String> = serde_json::from_value(danger).unwrap();
    assert_ne!(
        d[0], d[1],
        "the danger button is styled apart from the way back"
    );
    // confirming revokes
    click(c, "confirm-submit").await;
    assert!(text(c, "#revoke-done").await.contains(&number));

    // in English too, the phone header stays one row under its menu
    phone(c).await;
    c.goto(&t.url("/")).await.unwrap();
    click(c, "menu-toggle").await;
    click(c, "lang-switch").await;
    c.wait()
        .for_element(Locator::XPath("//html[@lang='en']"))
        .await
        .unwrap();
    for path in ["/", "/office", "/office/certificates", "/login"] {
        fits_a_phone(c, &t.url(path)).await;
    }
    b.close().await;
}

/// A page of the server, parsed.
async fn page_of<S: mamis_store::Store>(t: &TestApp<S>, path: &str) -> scraper::Html {
    let body = reqwest::get(t.url(path))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    mamis_testkit::html(&body)
}

/// Every cut-over text takes the configured date and the clock's tense.
#[tokio::test]
async fn the_home_page_dates_the_cut_over_from_the_configuration() {
    let until = chrono::DateTime::parse_from_rfc3339("2031-04-01T00:00:00+09:00")
        .unwrap()
        .to_utc();
    let t = spawn_sqlite_with(|c| c.legacy_until = until).await;
    let said = mamis_testkit::texts(&page_of(&t, "/").await, "#home-cutover").join("");
    assert!(said.contains("2031年4月1日"), "{said}");
    assert!(said.contains("終了します"), "{said}");
    assert!(!said.contains("終了しました"), "{said}");
    let doc = page_of(&t, "/cme").await;
    let news = mamis_testkit::texts(&doc, "#cme-news-unify").join("");
    assert!(news.contains("2031年4月1日から"), "{news}");
    assert!(news.contains("使えなくなります"), "{news}");
    let title = mamis_testkit::texts(&doc, "title");
    assert_eq!(title.join("").matches('<').count(), 0);
    assert!(title[0].contains("生涯教育 on-line — "), "{title:?}");

    // with the default cut-over, the same text says it ended or ends by the test clock
    let t = spawn_sqlite().await;
    let said = mamis_testkit::texts(&page_of(&t, "/").await, "#home-cutover").join("");
    let tense = if t.app.now() >= t.app.config.legacy_until {
        "終了しました"
    } else {
        "終了します"
    };
    assert!(said.contains(tense), "{said}");
}
