//! Issue 21 in real Chromium: a member fails a content's self-assessment, passes on retry (the
//! credit on My Page ③ the next day), answers a quiz and sees the result only after its
//! publication date; a non-member is refused every members-only URL, including direct links to
//! an assessment and to an article.

use fantoccini::{Client, Locator};
use mamis_app::learning::{ArticleDoc, Doc, Draft, authoring};
use mamis_testkit::browser::{self, Browser};
use mamis_testkit::{TestApp, spawn_sqlite};

use crate::learning::{author, content_draft, day, jst, member, quiz_doc, quiz_draft};
use crate::learning_http::{PASSWORD, account};

/// Opens `url`; when the provider's login form appears, logs in and waits to come back to
/// the page with `landed` (a CSS selector).
async fn open_as<S: mamis_store::Store>(
    t: &TestApp<S>,
    c: &Client,
    url: &str,
    email: &str,
    landed: &str,
) {
    c.goto(&t.url(url)).await.unwrap();
    if c.find(Locator::Id("login-submit")).await.is_ok() {
        let e = c.find(Locator::Id("email")).await.unwrap();
        e.send_keys(email).await.unwrap();
        c.find(Locator::Id("password"))
            .await
            .unwrap()
            .send_keys(PASSWORD)
            .await
            .unwrap();
        browser::press(c, "#login-submit").await;
    }
    c.wait()
        .for_element(Locator::Css(landed))
        .await
        .unwrap_or_else(|e| panic!("{landed} at {url}: {e}"));
}

/// Marks choice `v` (0-based) of every question.
async fn answer(c: &Client, choices: &[usize]) {
    for (i, v) in choices.iter().enumerate() {
        browser::press(c, &format!("input[name=q{i}][value='{v}']")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_learn_and_non_members_are_refused_in_chromium() {
    if !browser::available() {
        return;
    }
    let t = spawn_sqlite().await;
    t.clock.set(jst("2026-06-10T10:00:00"));
    let a = member(&t, 1, None).await;
    account(&t, a, "member21@example.jp").await;
    let n = member(&t, 2, Some("2026-06-01")).await;
    account(&t, n, "nonmember21@example.jp").await;
    // a quiz whose deadline is today and whose answers are published tomorrow
    let mut q = quiz_draft(None, "2026-06", quiz_doc());
    q.deadline = Some(day("2026-06-10"));
    q.answers_on = Some(day("2026-06-11"));
    let (set, _) = authoring::save(&t.app, &author(), q).await.unwrap();
    let (content, _) = authoring::save(&t.app, &author(), content_draft(74, "院内感染対策"))
        .await
        .unwrap();
    let (art, _) = authoring::save(
        &t.app,
        &author(),
        Draft {
            item: None,
            issue: Some("2026-06".into()),
            title: "高血圧の新しい指針".into(),
            published_on: Some(day("2026-06-01")),
            deadline: None,
            answers_on: None,
            doc: Doc::Article(ArticleDoc {
                authors: "日医 太郎".into(),
                text: "会員だけが読める本文。".into(),
            }),
            slides: None,
        },
    )
    .await
    .unwrap();

    let b = Browser::start().await;
    let c = &b.client;

    // a member opens the assessment by its link: the portal login, then the form
    let assessment = format!("/cme/elearning/{content}/assessment");
    open_as(
        &t,
        c,
        &assessment,
        "member21@example.jp",
        "#assessment-form",
    )
    .await;
    // 3 of 5 (60 %): not enough
    answer(c, &[1, 1, 1, 0, 0]).await;
    browser::press(c, "#assessment-submit").await;
    let r = browser::text(c, "#assessment-result").await;
    assert!(r.contains("80% に達しませんでした"), "{r}");
    // retry: 4 of 5 (80 %) passes and locks the content
    answer(c, &[1, 1, 1, 1, 0]).await;
    browser::press(c, "#assessment-submit").await;
    // the failed attempt's page also has a result: wait for the lock, which only the passed
    // attempt's page shows, before reading it (else the old page's result goes stale mid-read)
    c.wait()
        .for_element(Locator::Id("assessment-locked"))
        .await
        .unwrap();
    let r = browser::text(c, "#assessment-result").await;
    assert!(
        r.contains("修了しました") && r.contains("2026年6月11日"),
        "{r}"
    );

    // the quiz: answered once, no result before publication
    open_as(
        &t,
        c,
        &format!("/cme/quiz/{set}"),
        "member21@example.jp",
        "#quiz-form",
    )
    .await;
    answer(c, &[0, 0, 0, 1, 0]).await;
    browser::press(c, "#quiz-submit").await;
    browser::text(c, "#quiz-waiting").await;
    let page = c.source().await.unwrap();
    assert!(!page.contains("quiz-result") && !page.contains("key-mark"));

    // the next day: the publication job and the e-learning credit run
    t.clock.set(jst("2026-06-11T09:00:00"));
    t.worker(vec![]).drain().await.unwrap();
    open_as(
        &t,
        c,
        &format!("/cme/quiz/{set}"),
        "member21@example.jp",
        "#quiz-result",
    )
    .await;
    let r = browser::text(c, "#quiz-result").await;
    assert!(
        r.contains("5問中 3問正解") && r.contains("単位を取得しました"),
        "{r}"
    );
    assert!(c.source().await.unwrap().contains("key-mark"));
    // My Page ③: the e-learning credit, marked 専門医共通講習, and the quiz credit
    open_as(
        &t,
        c,
        "/mypage/cme/learning",
        "member21@example.jp",
        "#cme-learning-years",
    )
    .await;
    let page = c.source().await.unwrap();
    assert!(
        page.contains("院内感染対策") && page.contains("専門医共通講習"),
        "{page}"
    );
    assert!(page.contains("日医雑誌 2026-06 問題"), "{page}");

    // a non-member: refused on the article and the assessment links, pointed to joining
    c.delete_all_cookies().await.unwrap();
    open_as(
        &t,
        c,
        &format!("/cme/journal/{art}"),
        "nonmember21@example.jp",
        "#learning-refused-action",
    )
    .await;
    for u in [
        format!("/cme/journal/{art}"),
        assessment,
        format!("/cme/quiz/{set}"),
    ] {
        c.goto(&t.url(&u)).await.unwrap();
        let href = c
            .wait()
            .for_element(Locator::Id("learning-refused-action"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap();
        assert_eq!(href.as_deref(), Some("/mypage/membership"), "{u}");
        let page = c.source().await.unwrap();
        assert!(!page.contains("会員だけが読める本文") && !page.contains("assessment-form"));
    }
    b.close().await;
}
