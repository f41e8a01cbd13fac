//! Rate limits shared by every server: two servers on one PostgreSQL allow together what one
//! allows, and the current-password checks of logged-in pages follow the login's lockout.

use mamis_store::Store;
use mamis_testkit::{TestApp, app_test, attr, browser, html, password_login, spawn_postgres};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_the_verify_and_mail_limits() {
    if !mamis_testkit::backend_selected("postgres") {
        return;
    }
    let Some(a) = spawn_postgres().await else {
        return;
    };
    let b = a.second_server().await;
    // 31 lookups from one address within one second, alternating between the servers
    let ua = reqwest::Client::new();
    let mut limited = 0;
    let mut answered = 0;
    for i in 0..31 {
        let server = if i % 2 == 0 { &a } else { &b };
        let r = ua
            .get(server.url(&format!("/verify/N2026-{i:06}?c=abc")))
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            429 => {
                assert!(r.headers().contains_key("retry-after"));
                limited += 1;
            }
            404 => answered += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        answered, 30,
        "the configured 30 a minute, across both servers"
    );
    assert_eq!(limited, 1);

    // reset mail to one address: 5 an hour, whichever server is asked
    let (ua_a, ua_b) = (browser(), browser());
    let mut refused = 0;
    for i in 0..7 {
        let (server, ua) = if i % 2 == 0 { (&a, &ua_a) } else { (&b, &ua_b) };
        let page = ua
            .get(server.url("/reset"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = attr(&html(&page), "input[name=csrf]", "value").unwrap();
        let r = ua
            .post(server.url("/reset"))
            .header("origin", &server.base_url)
            .form(&[("csrf", csrf.as_str()), ("email", "Target@Example.jp")])
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            refused += 1;
            let text = r.text().await.unwrap();
            assert!(text.contains("もう一度お試しください"), "{text}");
        } else {
            assert_eq!(r.status(), 200);
        }
    }
    assert_eq!(refused, 2, "the sixth and seventh request of the hour");
}

async fn current_password_checks<S: Store>(t: TestApp<S>) {
    let logins = mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let (_, email, password, _) = logins
        .accounts
        .iter()
        .find(|a| a.0 == "verified member")
        .unwrap()
        .clone();
    let ua = browser();
    let (_, csrf) = password_login(&t, &ua, &email, &password).await;
    let change = |current: String| {
        let ua = ua.clone();
        let csrf = csrf.clone();
        let url = t.url("/mypage/email");
        let origin = t.base_url.clone();
        async move {
            ua.post(url)
                .header("origin", origin)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("email", "new.address@example.jp"),
                    ("password", current.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    async fn sent<S: Store>(t: &TestApp<S>) -> usize {
        t.mails()
            .await
            .iter()
            .filter(|m| m.to_addr == "new.address@example.jp")
            .count()
    }
    // five wrong guesses are checked; then the right password waits like a login would
    for _ in 0..5 {
        let r = change("wrong-password-1".into()).await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(sent(&t).await, 0);
    change(password.clone()).await;
    assert_eq!(
        sent(&t).await,
        0,
        "the sixth check waits, even with the right password"
    );
    t.clock.advance(chrono::Duration::minutes(2));
    change(password.clone()).await;
    assert_eq!(
        sent(&t).await,
        1,
        "after the wait the right password is checked"
    );
}
app_test!(
    current_password_checks_follow_the_login_lockout,
    current_password_checks
);
