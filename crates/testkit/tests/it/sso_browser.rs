//! Single sign-on to a third-party client in real Chromium: the code must reach a client on
//! another origin after the login, consent and second-factor forms (their CSP `form-action`
//! governs the redirects that follow a form's submission, which an HTTP client never checks).

use std::sync::{Arc, Mutex};

use fantoccini::{Client, Locator};
use mamis_app::identity::totp;
use mamis_app::oidc::keys::{self, Alg};
use mamis_app::oidc::provider::{self, NewClient};
use mamis_domain::Principal;
use mamis_domain::identity::totp as rfc6238;
use mamis_store::{IdentityStore, Store, Tx};
use mamis_testkit::browser::{self, Browser, click, fill};
use mamis_testkit::{TestApp, base32_decode, spawn_sqlite};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A relying party's redirect endpoint on another port of 127.0.0.1: records the request
/// targets it is sent to and answers a plain page.
struct Listener {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Listener {
    async fn start() -> Listener {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 2048];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf);
                    // the browser also asks for /favicon.ico: only the callback counts
                    if let Some(target) = head
                        .split_whitespace()
                        .nth(1)
                        .filter(|t| t.starts_with("/cb"))
                    {
                        log.lock().unwrap().push(target.to_owned());
                    }
                    let body = "<!doctype html><title>rp</title><h1 id=rp>back at the client</h1>";
                    let _ = s
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                                body.len()
                            )
                            .as_bytes(),
                        )
                        .await;
                });
            }
        });
        Listener { port, seen }
    }

    fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/cb", self.port)
    }

    /// Waits (bounded) until the client has been sent a request, and returns its query pairs.
    async fn next_callback(&self, c: &Client) -> Vec<(String, String)> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(t) = self.seen.lock().unwrap().pop() {
                let u = url::Url::parse(&format!("http://x{t}")).unwrap();
                return u.query_pairs().into_owned().collect();
            }
            if std::time::Instant::now() >= deadline {
                panic!(
                    "the client received nothing within 10 s; the browser is at {}: {}",
                    c.current_url().await.unwrap(),
                    c.source().await.unwrap()
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

fn get<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

async fn client<S: Store>(t: &TestApp<S>, redirect: &str, public: bool) -> String {
    let (c, _) = provider::create_client(
        &t.app,
        &Principal::Job {
            kind: "test".into(),
        },
        NewClient {
            name: "外部連携サービス".into(),
            redirect_uris: vec![redirect.into()],
            post_logout_redirect_uris: vec![],
            public,
            first_party: false,
            scopes: vec![],
            allow_iseki: false,
            id_token_alg: Alg::Rs256,
        },
    )
    .await
    .unwrap();
    c.id
}

fn authorize_url<S: Store>(t: &TestApp<S>, client_id: &str, redirect: &str, state: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect),
            ("scope", "openid profile"),
            ("state", state),
            ("nonce", "n-0123456789"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    t.url(&format!("/oauth2/authorize?{q}"))
}

async fn login(c: &Client, email: &str, password: &str) {
    fill(c, "email", email).await;
    fill(c, "password", password).await;
    click(c, "login-submit").await;
}

#[tokio::test]
async fn single_sign_on_reaches_a_client_on_another_origin_in_chromium() {
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
    keys::ensure(&t.app).await.unwrap();
    let rp = Listener::start().await;
    let confidential = client(&t, &rp.redirect_uri(), false).await;

    // 1. login, then consent (許可する): both forms end at the client
    let b = Browser::start().await;
    let c = &b.client;
    c.goto(&authorize_url(
        &t,
        &confidential,
        &rp.redirect_uri(),
        "st-first",
    ))
    .await
    .unwrap();
    login(c, &email, &password).await;
    click(c, "consent-allow").await;
    let q = rp.next_callback(c).await;
    assert!(get(&q, "code").is_some_and(|v| v.len() > 20), "{q:?}");
    assert_eq!(get(&q, "state"), Some("st-first"));

    // 2. consent already given: the login POST itself leads on to the client
    c.goto(&t.url("/mypage")).await.unwrap();
    click(c, "logout").await;
    c.wait()
        .for_element(Locator::Id("login-link"))
        .await
        .unwrap();
    c.goto(&authorize_url(
        &t,
        &confidential,
        &rp.redirect_uri(),
        "st-again",
    ))
    .await
    .unwrap();
    login(c, &email, &password).await;
    let q = rp.next_callback(c).await;
    assert!(get(&q, "code").is_some(), "{q:?}");
    assert_eq!(get(&q, "state"), Some("st-again"));

    // 3. with a second factor: the TOTP form ends at the client
    let mut tx = t.app.store.read().await.unwrap();
    let acc = tx.account_by_email(&email).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    let e = totp::begin(&t.app, &acc).unwrap();
    let secret = base32_decode(&e.secret_base32);
    let code = rfc6238::code(&secret, rfc6238::step_of(t.app.now()));
    totp::confirm(&t.app, &acc, &e.sealed, &code).await.unwrap();
    t.clock.advance(chrono::Duration::seconds(30));
    c.goto(&t.url("/mypage")).await.unwrap();
    click(c, "logout").await;
    c.wait()
        .for_element(Locator::Id("login-link"))
        .await
        .unwrap();
    c.goto(&authorize_url(
        &t,
        &confidential,
        &rp.redirect_uri(),
        "st-totp",
    ))
    .await
    .unwrap();
    login(c, &email, &password).await;
    fill(
        c,
        "code",
        &rfc6238::code(&secret, rfc6238::step_of(t.app.now())),
    )
    .await;
    click(c, "code-submit").await;
    let q = rp.next_callback(c).await;
    assert!(get(&q, "code").is_some(), "{q:?}");
    assert_eq!(get(&q, "state"), Some("st-totp"));
    b.close().await;

    // 4. a public native client registered on port 9 is reached on the port it listens on
    let native = client(&t, "http://127.0.0.1:9/cb", true).await;
    let b = Browser::start().await;
    let c = &b.client;
    t.clock.advance(chrono::Duration::seconds(30));
    c.goto(&authorize_url(&t, &native, &rp.redirect_uri(), "st-native"))
        .await
        .unwrap();
    login(c, &email, &password).await;
    fill(
        c,
        "code",
        &rfc6238::code(&secret, rfc6238::step_of(t.app.now())),
    )
    .await;
    click(c, "code-submit").await;
    click(c, "consent-allow").await;
    let q = rp.next_callback(c).await;
    assert!(get(&q, "code").is_some(), "{q:?}");
    assert_eq!(get(&q, "state"), Some("st-native"));
    b.close().await;
}

/// RP-Initiated Logout §2 in Chromium: `GET /oauth2/logout` without `id_token_hint` only asks;
/// the confirmation form's POST ends the session and, with a registered post-logout URI of a
/// client on another port of 127.0.0.1, the browser arrives there with `state` (the page's CSP
/// `form-action` names exactly that origin). Without a client, the same confirmation ends the
/// session on a page of our own.
#[tokio::test]
async fn logout_confirmation_ends_the_session_and_returns_to_the_client_in_chromium() {
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
    keys::ensure(&t.app).await.unwrap();
    let rp = Listener::start().await;
    let after_logout = format!("http://127.0.0.1:{}/cb-logged-out", rp.port);
    let (rp_client, _) = provider::create_client(
        &t.app,
        &Principal::Job {
            kind: "test".into(),
        },
        NewClient {
            name: "外部連携サービス".into(),
            redirect_uris: vec![rp.redirect_uri()],
            post_logout_redirect_uris: vec![after_logout.clone()],
            public: false,
            first_party: false,
            scopes: vec![],
            allow_iseki: false,
            id_token_alg: Alg::Rs256,
        },
    )
    .await
    .unwrap();

    let b = Browser::start().await;
    let c = &b.client;
    let logged_in = |c: &Client| {
        let c = c.clone();
        let url = t.url("/mypage");
        async move {
            c.goto(&url).await.unwrap();
            c.find(Locator::Id("logout")).await.is_ok()
        }
    };
    c.goto(&t.url("/login")).await.unwrap();
    login(c, &email, &password).await;
    c.wait().for_element(Locator::Id("logout")).await.unwrap();

    // 1. a client's logout link: a page that asks, nothing ended yet
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", rp_client.id.as_str()),
            ("post_logout_redirect_uri", after_logout.as_str()),
            ("state", "bye-1"),
        ])
        .finish();
    let ask = t.url(&format!("/oauth2/logout?{q}"));
    c.goto(&ask).await.unwrap();
    c.wait()
        .for_element(Locator::Id("oidc-logout-confirm"))
        .await
        .unwrap();
    assert!(
        rp.seen.lock().unwrap().is_empty(),
        "nothing sent to the client yet"
    );
    assert!(logged_in(c).await, "asking ends nothing");
    c.goto(&ask).await.unwrap();
    click(c, "oidc-logout-confirm").await;
    let back = rp.next_callback(c).await;
    assert_eq!(get(&back, "state"), Some("bye-1"), "{back:?}");
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&after_logout),
        "the browser arrived at the client"
    );
    assert!(!logged_in(c).await, "the session ended");

    // 2. without a client: the same confirmation, ending on our own page
    c.goto(&t.url("/login")).await.unwrap();
    login(c, &email, &password).await;
    c.wait().for_element(Locator::Id("logout")).await.unwrap();
    c.goto(&t.url("/oauth2/logout")).await.unwrap();
    click(c, "oidc-logout-confirm").await;
    c.wait()
        .for_element(Locator::Id("login-link"))
        .await
        .unwrap();
    assert!(!logged_in(c).await, "the session ended");
    assert!(
        rp.seen.lock().unwrap().is_empty(),
        "the client is not involved"
    );
    b.close().await;
}
