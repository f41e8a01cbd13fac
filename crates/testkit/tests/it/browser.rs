use fantoccini::Locator;
use mamis_testkit::browser::{self, Browser};

/// The first browser test: a visitor switches the home page to English, and it stays English.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn language_switch_in_chromium() {
    if !browser::available() {
        return;
    }
    let t = mamis_testkit::spawn_sqlite().await;
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
    c.goto(&t.url("/cme")).await.unwrap();
    assert_eq!(
        c.find(Locator::Css("h1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "CME on-line is coming soon"
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
        .for_element(Locator::XPath("//h1[contains(text(), '準備中')]"))
        .await
        .unwrap();
    b.close().await;
}
