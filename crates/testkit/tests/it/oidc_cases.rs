//! The OpenID Provider's protocol edge cases over raw HTTP: PKCE enforcement, code and refresh
//! token replay, redirect URI and client authentication checks, code and access token lifetimes,
//! the `iseki` permission, consent, key rotation and token endpoint hygiene. Every token request
//! is a hand-made form POST so each parameter is under the test's control.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use mamis_app::oidc::keys::{self, Alg};
use mamis_app::oidc::provider::{self, ACCESS_TTL, CODE_TTL, NewClient};
use mamis_domain::Principal;
use mamis_store::{AccessStore, OidcStore, RegistryStore, Store, Tx};
use mamis_testkit::{TestApp, app_test, attr, html, texts};
use openidconnect::{PkceCodeChallenge, PkceCodeVerifier};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// The registered redirect URI every client here uses.
const REDIRECT: &str = "http://127.0.0.1:9/cb";
/// A second registered redirect URI (for token-endpoint mismatch).
const REDIRECT2: &str = "http://127.0.0.1:9/cb2";
/// Anything under this is "back at the client".
const CLIENT_ORIGIN: &str = "http://127.0.0.1:9/";
const STATE: &str = "st-0123456789";
const NONCE: &str = "n-0123456789";

fn system() -> Principal {
    Principal::Job {
        kind: "test".into(),
    }
}

/// Seeds the demo data and the signing keys; returns the verified member's login.
pub(crate) async fn setup<S: Store>(t: &TestApp<S>) -> (String, String) {
    let logins = mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let (_, email, password, _) = logins
        .accounts
        .iter()
        .find(|a| a.0 == "verified member")
        .unwrap()
        .clone();
    keys::ensure(&t.app).await.unwrap();
    (email, password)
}

#[derive(Debug, Clone, Copy, Default)]
struct Kind {
    first_party: bool,
    public: bool,
    allow_iseki: bool,
}

/// Registers a client (redirect URIs: [`REDIRECT`], [`REDIRECT2`]); returns its id and secret.
async fn client<S: Store>(t: &TestApp<S>, kind: Kind) -> (String, Option<String>) {
    let (c, secret) = provider::create_client(
        &t.app,
        &system(),
        NewClient {
            name: "テスト連携サービス".into(),
            redirect_uris: vec![REDIRECT.into(), REDIRECT2.into()],
            post_logout_redirect_uris: vec!["http://127.0.0.1:9/bye".into()],
            public: kind.public,
            first_party: kind.first_party,
            scopes: vec![],
            allow_iseki: kind.allow_iseki,
            id_token_alg: Alg::Rs256,
        },
    )
    .await
    .unwrap();
    (c.id, secret)
}

fn confidential_third_party() -> Kind {
    Kind::default()
}

/// A fresh S256 pair: (challenge, verifier).
fn pkce() -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    (challenge.as_str().to_owned(), verifier.secret().clone())
}

fn query_of(location: &str) -> Vec<(String, String)> {
    let u = url::Url::parse(location).unwrap();
    u.query_pairs().into_owned().collect()
}

fn param(q: &[(String, String)], k: &str) -> Option<String> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

/// The usual authorization request parameters (S256 PKCE, state, nonce, [`REDIRECT`]).
fn std_params<'a>(
    client_id: &'a str,
    scope: &'a str,
    challenge: &'a str,
) -> Vec<(&'static str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", STATE),
        ("nonce", NONCE),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

/// `params` with `key` replaced by `value` (or removed when `None`).
fn with<'a>(
    mut params: Vec<(&'static str, &'a str)>,
    key: &'static str,
    value: Option<&'a str>,
) -> Vec<(&'static str, &'a str)> {
    params.retain(|(k, _)| *k != key);
    if let Some(v) = value {
        params.push((key, v));
    }
    params
}

fn auth_url<S: Store>(t: &TestApp<S>, params: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(&t.url("/oauth2/authorize")).unwrap();
    u.query_pairs_mut().extend_pairs(params);
    u.into()
}

/// The hidden fields of the consent form plus the decision.
fn consent_form(page: &str, decision: &str) -> Vec<(String, String)> {
    let doc = html(page);
    let sel = scraper::Selector::parse("form.consent input[type=hidden]").unwrap();
    let mut form: Vec<(String, String)> = doc
        .select(&sel)
        .map(|e| {
            (
                e.value().attr("name").unwrap().to_owned(),
                e.value().attr("value").unwrap_or("").to_owned(),
            )
        })
        .collect();
    form.push(("decision".into(), decision.into()));
    form
}

/// What following an authorization request led to.
struct Outcome {
    /// The query of the redirect back to the client.
    query: Vec<(String, String)>,
    /// Whether a consent page was shown on the way.
    consent_shown: bool,
}

/// Follows an authorization URL through the login form (when asked) and the consent page (when
/// shown, answering `decision`) to the client's redirect.
async fn drive<S: Store>(
    t: &TestApp<S>,
    ua: &reqwest::Client,
    auth_url: &str,
    (email, password): (&str, &str),
    decision: &str,
) -> Outcome {
    let mut next = auth_url.to_owned();
    let mut consent_shown = false;
    for _ in 0..8 {
        if next.starts_with(CLIENT_ORIGIN) {
            return Outcome {
                query: query_of(&next),
                consent_shown,
            };
        }
        let r = ua.get(&next).send().await.unwrap();
        let status = r.status();
        if status == 200 {
            let page = r.text().await.unwrap();
            if page.contains("id=\"consent-allow\"") {
                consent_shown = true;
                let r = ua
                    .post(t.url("/oauth2/consent"))
                    .header("origin", &t.base_url)
                    .form(&consent_form(&page, decision))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 303);
                next = r.headers()["location"].to_str().unwrap().to_owned();
                continue;
            }
            let doc = html(&page);
            let csrf = attr(&doc, "input[name=csrf]", "value").unwrap();
            let nxt = attr(&doc, "form[action='/login'] input[name=next]", "value")
                .unwrap_or_else(|| panic!("neither consent nor login page: {page}"));
            let r = ua
                .post(t.url("/login"))
                .header("origin", &t.base_url)
                .form(&[
                    ("email", email),
                    ("password", password),
                    ("csrf", csrf.as_str()),
                    ("next", nxt.as_str()),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 303);
            next = r.headers()["location"].to_str().unwrap().to_owned();
        } else {
            assert_eq!(status, 303, "{}", r.text().await.unwrap_or_default());
            next = r.headers()["location"].to_str().unwrap().to_owned();
        }
        if next.starts_with('/') {
            next = t.url(&next);
        }
    }
    panic!("the flow did not reach the client's redirect URI");
}

/// Runs a full authorization with a fresh PKCE pair (allowing consent); returns (code, verifier).
async fn authorize_code<S: Store>(
    t: &TestApp<S>,
    ua: &reqwest::Client,
    creds: (&str, &str),
    client_id: &str,
    scope: &str,
) -> (String, String) {
    let (challenge, verifier) = pkce();
    let url = auth_url(t, &std_params(client_id, scope, &challenge));
    let out = drive(t, ua, &url, creds, "allow").await;
    assert_eq!(param(&out.query, "state").as_deref(), Some(STATE));
    assert_eq!(
        param(&out.query, "iss").as_deref(),
        Some(t.base_url.as_str())
    );
    let code =
        param(&out.query, "code").unwrap_or_else(|| panic!("a code expected, got {:?}", out.query));
    (code, verifier)
}

/// A token endpoint response.
struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Resp {
    fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    fn str(&self, k: &str) -> String {
        self.body[k]
            .as_str()
            .unwrap_or_else(|| panic!("no {k} in {}", self.body))
            .to_owned()
    }
}

/// POSTs `form` to the token endpoint, with HTTP Basic client authentication when `basic`.
async fn token_req<S: Store>(
    t: &TestApp<S>,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> Resp {
    let mut rb = reqwest::Client::new()
        .post(t.url("/oauth2/token"))
        .form(form);
    if let Some((id, secret)) = basic {
        rb = rb.basic_auth(id, Some(secret));
    }
    let r = rb.send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Resp {
        status,
        headers,
        body,
    }
}

/// HTTP Basic credentials (client id, secret).
type Basic<'a> = Option<(&'a str, &'a str)>;
/// Form fields.
type Form<'a> = Vec<(&'static str, &'a str)>;

/// Client authentication for token requests: Basic for a confidential client, `client_id` in the
/// form for a public one.
fn auth_of<'a>(id: &'a str, secret: Option<&'a str>) -> (Basic<'a>, Form<'a>) {
    match secret {
        Some(s) => (Some((id, s)), vec![]),
        None => (None, vec![("client_id", id)]),
    }
}

async fn exchange_at<S: Store>(
    t: &TestApp<S>,
    (id, secret): (&str, Option<&str>),
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Resp {
    let (basic, mut form) = auth_of(id, secret);
    form.extend([
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ]);
    token_req(t, basic, &form).await
}

async fn exchange<S: Store>(
    t: &TestApp<S>,
    client: (&str, Option<&str>),
    code: &str,
    verifier: &str,
) -> Resp {
    exchange_at(t, client, code, verifier, REDIRECT).await
}

async fn refresh<S: Store>(t: &TestApp<S>, (id, secret): (&str, Option<&str>), rt: &str) -> Resp {
    let (basic, mut form) = auth_of(id, secret);
    form.extend([("grant_type", "refresh_token"), ("refresh_token", rt)]);
    token_req(t, basic, &form).await
}

async fn userinfo<S: Store>(t: &TestApp<S>, access: &str) -> (StatusCode, Option<Value>) {
    let r = reqwest::Client::new()
        .get(t.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.json().await.ok();
    (status, body)
}

fn assert_invalid_grant(r: &Resp, what: &str) {
    assert_eq!(r.status, 400, "{what}: {}", r.body);
    assert_eq!(r.error(), "invalid_grant", "{what}: {}", r.body);
    assert!(
        r.body.get("access_token").is_none() && r.body.get("id_token").is_none(),
        "{what}: nothing issued: {}",
        r.body
    );
}

fn assert_refused_page(status: StatusCode, headers: &HeaderMap, what: &str) {
    assert_eq!(status, 400, "{what}");
    assert!(headers.get("location").is_none(), "{what}: no redirect");
}

fn jwt_header(token: &str) -> Value {
    let h = token.split('.').next().unwrap();
    serde_json::from_slice(&B64.decode(h).unwrap()).unwrap()
}

// ------------------------------------------------------------------------------------- 1. PKCE

async fn pkce_is_required<S: Store>(t: TestApp<S>) {
    let (email, password) = setup(&t).await;
    let creds = (email.as_str(), password.as_str());
    let (id, _) = client(&t, confidential_third_party()).await;
    let ua = mamis_testkit::browser();
    // a live session and consent, so only PKCE stands between the request and a code
    authorize_code(&t, &ua, creds, &id, "openid profile").await;

    let (challenge, verifier) = pkce();
    let base = std_params(&id, "openid profile", &challenge);
    let cases: Vec<(&str, Vec<(&'static str, &str)>)> = vec![
        (
            "no code_challenge",
            with(
                with(base.clone(), "code_challenge", None),
                "code_challenge_method",
                None,
            ),
        ),
        (
            "code_challenge without a method (plain by default)",
            with(base.clone(), "code_challenge_method", None),
        ),
        (
            "method plain",
            with(
                with(base.clone(), "code_challenge", Some(verifier.as_str())),
                "code_challenge_method",
                Some("plain"),
            ),
        ),
        (
            "method plain with an S256-looking challenge",
            with(base.clone(), "code_challenge_method", Some("plain")),
        ),
        (
            "a too short challenge",
            with(base.clone(), "code_challenge", Some("abc")),
        ),
    ];
    for (what, params) in cases {
        let r = ua.get(auth_url(&t, &params)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{what}");
        let loc = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(loc.starts_with(REDIRECT), "{what}: {loc}");
        let q = query_of(&loc);
        assert_eq!(
            param(&q, "error").as_deref(),
            Some("invalid_request"),
            "{what}"
        );
        assert_eq!(param(&q, "state").as_deref(), Some(STATE), "{what}");
        assert_eq!(
            param(&q, "iss").as_deref(),
            Some(t.base_url.as_str()),
            "{what}"
        );
        assert!(param(&q, "code").is_none(), "{what}: no code");
    }
}
app_test!(pkce_missing_or_plain_is_invalid_request, pkce_is_required);

// ---------------------------------------------------------------------------- 2. PKCE mismatch

/// Observed: a wrong `code_verifier` is refused with `invalid_grant` and issues nothing, but it
/// does not spend the code (the token endpoint's transaction is dropped on that error path, so
/// `take_code`'s `used_at` is rolled back): the right verifier afterwards still gets tokens, once.
async fn pkce_mismatch<S: Store>(t: TestApp<S>) {
    let (email, password) = setup(&t).await;
    let creds = (email.as_str(), password.as_str());
    let (id, secret) = client(&t, confidential_third_party()).await;
    let c = (id.as_str(), secret.as_deref());
    let ua = mamis_testkit::browser();
    let (code, verifier) = authorize_code(&t, &ua, creds, &id, "openid profile").await;

    let (_, wrong) = pkce();
    let r = exchange(&t, c, &code, &wrong).await;
    assert_invalid_grant(&r, "wrong verifier");
    let r = exchange(&t, c, &code, "").await;
    assert_invalid_grant(&r, "empty verifier");
    let (basic, mut form) = auth_of(c.0, c.1);
    form.extend([
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ]);
    let r = token_req(&t, basic, &form).await;
    assert_invalid_grant(&r, "no verifier");
    // the challenge itself as the verifier (a `plain` downgrade) is refused too
    let challenge =
        PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.clone()));
    let r = exchange(&t, c, &code, challenge.as_str()).await;
    assert_invalid_grant(&r, "challenge as verifier");

    // the first refusal spent the code: a code is single-use, whoever presents it
    let r = exchange(&t, c, &code, &verifier).await;
    assert_invalid_grant(&r, "right verifier after a refused attempt");
    // and a fresh code with the right verifier works
    let (code, verifier) = authorize_code(&t, &ua, creds, &id, "openid profile").await;
    let ok = exchange(&t, c, &code, &verifier).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let access = ok.str("access_token");
    assert_eq!(userinfo(&t, &access).await.0, 200);
}
app_test!(
    pkce_mismatch_is_invalid_grant_and_spends_the_code,
    pkce_mismatch
);

// ------------------------------------------------------------------------------ 3. code replay

async fn code_replay<S: Store>(t: TestApp<S>) {
    let (email, password) = setup(&t).await;
    let creds = (email.as_str(), password.as_str());
    let (id, secret) = client(&t, confidential_third_party()).await;
    let c = (id.as_str(), secret.as_deref());
    let ua = mamis_testkit::browser();
    let (code, verifier) =
        authorize_code(&t, &ua, creds, &id, "openid profile offline_access").await;

    let first = exchange(&t, c, &code, &verifier).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let access = first.str("access_token");
    let rt = first.str("refresh_token");
    assert_eq!(userinfo(&t, &access).await.0, 200);

    let second = exchange(&t, c, &code, &verifier).await;
    assert_invalid_grant(&second, "replayed code");

    let (status, _) = userinfo(&t, &access).await;
    assert_eq!(status, 401, "the first exchange's access token is revoked");
    let r = refresh(&t, c, &rt).await;
    assert_invalid_grant(&r, "the first exchange's refresh token is revoked");
}
app_test!(reused_code_is_refused_and_revokes_its_tokens, code_replay);

/// Two exchanges of one code at the same time: exactly one gets tokens, and the other (seeing a
/// replay) revokes them.
async fn concurrent_code_replay<S: Store>(t: TestApp<S>) {
    let (email, password) = setup(&t).await;
    let creds = (email.as_str(), password.as_str());
    let (id, secret) = client(&t, confidential_third_party()).await;
    let c = (id.as_str(), secret.as_deref());
    let ua = mamis_testkit::browser();
    let (code, verifier) =
        authorize_code(&t, &ua, creds, &id, "openid profile offline_access").await;
    let (a, b) = tokio::join!(
        exchange(&t, c, &code, &verifier),
        exchange(&t, c, &code, &verifier)
    );
    let (won, lost) = if a.status == 200 { (a, b) } else { (b, a) };
    assert_eq!(won.status, 200, "{}", won.body);
    assert_invalid_grant(&lost, "the concurrent replay");
    assert_eq!(userinfo(&t, &won.str("access_token")).await.0, 401);
    let r = refresh(&t, c, &won.str("refresh_token")).await;
    assert_invalid_grant(&r, "the winner's refresh token is revoked");
}
app_test!(
    concurrent_code_replay_issues_once_and_revokes,
    concurrent_code_replay
);

// ---------------------------------------------------------------------------- 4. redirect URIs

async fn redirect_uris<S: Store>(t: TestApp<S>) {
    let (email, password) = setup(&t).await;
    let creds = (email.as_str(), password.as_str());
    let (id, secret) = client(&t, confidential_third_party()).await;
    let c = (id.as_str(), secret.as_deref());
    let ua = mamis_testkit::browser();
    // with a live session and consent
    let (code0, v0) = authorize_code(&t, &ua, creds, &id, "openid").await;
    assert_eq!(exchange(&t, c, &code0, &v0).await.status, 200);

    let (challenge, _) = pkce();
    for bad in [
        "http://127.0.0.1:9/other",
        "http://127.0.0.1:9/cb/",
        "http://127.0.0.1:9/cb?x=1",
        "http://127.0.0.1:9/CB",
        "https://evil.example/cb",
        "",
    ] {
        let params = with(
            std_params(&id, "openid", &challenge),
            "redirect_uri",
            Some(bad),
        );
        let r = ua.get(auth_url(&t, &params)).send().await.unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        assert_refused_page(status, &headers, bad);
        let page = r.text().await.unwrap();
        assert!(
            page.contains("戻り先アドレス") || page.contains("return address"),
            "{bad}: the page says why"
        );
    }
    // no redirect_uri at all
    let params = with(std_params(&id, "openid", &challenge), "redirect_uri", None);
    let r = ua.get(auth_url(&t, &params)).send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    assert_refused_page(status, &headers, "missing redirect_uri");

    // at the token endpoint the redirect_uri must equal the authorization request's
    let (code, verifier) = authorize_code(&t, &ua, creds, &id, "openid").await;
    let r = exchange_at(&t, c, &code, &verifier, REDIRECT2).await;
    assert_invalid_grant(&r, "another registered redirect_uri");
    let r = exchange_at(&t, c, &code, &verifier, "http://127.0.0.1:9/other").await;
    assert_invalid_grant(&r, "an unregistered redirect_uri");
    let (basic, mut form) = auth_of(c.0, c.1);
    form.extend([
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", verifier.as_str()),
    ]);
    let r = token_req(&t, basic, &form).await;
    assert_invalid_grant(&r, "no redirect_uri");
    // the refused attempts spent the code
    let r = exchange(&t, c, &code, &verifier).await;
    assert_invalid_grant(&r, "right redirect_uri after a refused attempt");
}
app_test!(redirect_uri_mismatch_is_refused, redirect_uris);

// ------------------------------------------------------------------------------ 5. expired code

async fn expired_code<S: Store>(t: TestApp<S>) {
    let (email, password) = setup(&t).await;
    let creds = (email.as_str(), password.as_str());
    let (id, secret) = client(&t, confidential_third_party()).await;
    let c = (id.as_str(), secret.as_deref());
    let ua = mamis_testkit::browser();

    // just inside the lifetime it works
    let (code, verifier) = authorize_code(&t, &ua, creds, &id, "openid").await;
    t.clock.advance(CODE_TTL - chrono::Duration::seconds(1));
    let r = exchange(&t, c, &code, &verifier).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let (code, verifier) = authorize_code(&t, &ua, creds, &id, "openid").await;
    t.clock.advance(CODE_TTL + chrono::Duration::seconds(1));
    let r = exchange(&t, c, &code, &verifier).await;
    assert_invalid_grant(&r, "expired code");
    // and it stays dead if the clock were set back
    t.clock.advance(-(CODE_TTL + chrono::Duration::seconds(1)));
    let r = exchange(&t, c, &code, &verifier).await;
    assert_invalid_grant(&r, "expired code, once refused");
}
app_test!(expired_code_is_invalid_grant, expired_code);

// ----------------------------------------------------------------------- 6. refresh token reuse

async fn refresh_reuse<S: Store>(t: TestApp<S>) {
    let (email, password) = setup(&t).await;
    let creds = (email.as_str(), password.as_str());
    let (id, secret) = client(&t, confidential_third_party()).await;
    let c = (id.as_str(), secret.as_deref());
    let ua = mamis_testkit::browser();
    let (code, verifier) =
        authorize_code(&t, &ua, creds, &id, "openid profile offline_access").await;
    let first = exchange(&t, c, &code, &verifier).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let (a0, r0) = (first.str("access_token"), first.str("refresh_token"));

    let second = refresh(&t, c, &r0).await;
    assert_eq!(second.status, 200, "{}", second.body);
    let (a1, r1) = (second.str("access_token"), second.str("refresh_token"));
    assert_ne!(r1, r0, "rotation");
    assert_ne!(a1, a0);
    assert_eq!(userinfo(&t, &a1).await.0, 200);
    // OIDC Core §12.2: a refresh answer may leave the ID token out; MAMIS always does, and
    // keeps the rest of a token response.
    assert!(second.body.get("id_token").is_none(), "{}", second.body);
    assert_eq!(second.body["token_type"], "Bearer");
    assert!(second.body["expires_in"].as_i64().is_some_and(|s| s > 0));
    assert_eq!(second.body["scope"], first.body["scope"]);
    assert!(first.body["id_token"].is_string(), "a login has one");

    let reuse = refresh(&t, c, &r0).await;
    assert_invalid_grant(&reuse, "the rotated-away refresh token");
    let r = refresh(&t, c, &r1).await;
    assert_invalid_grant(&r, "the new refresh token of the chain is revoked");
    assert_eq!(
        userinfo(&t, &a1).await.0,
        401,
        "the new access token is revoked"
    );
    assert_eq!(
        userinfo(&t, &a0).await.0,
        401,
        "the first access token is revoked"
    );
}
app_test!(refresh_token_reuse_revokes_the_chain, refresh_reuse);

/// Two refreshes with one token at the same time: one rotates, the other is a reuse that ends
/// the chain.
async fn concurrent_refresh<S: Store>(t: TestApp<S>) {
    let (email, password) = setup(&t).await;
    let creds = (email.as_str(), password.as_str());
    let (id, secret) = client(&t, confidential_third_party()).await;
    let c = (id.as_str(), secret.as_deref());
    let ua = mamis_testkit::browser();
    let (code, verifier) = authorize_code(&t, &ua, creds, &id, "openid offline_access").await;
    let first = exchange(&t, c, &code, &verifier).await;
    let r0 = first.str("refresh_token");
    let (a, b) = tokio::join!(refresh(&t, c, &r0), refresh(&t, c, &r0));
    let (won, lost) = if a.status == 200 { (a, b) } else { (b, a) };
    assert_eq!(won.status, 200, "{}", won.body);
    assert_invalid_grant(&lost, "the concurrent reuse");
    assert_eq!(userinfo(&t, &won.str("access_token")).await.0, 401);
    let r = refresh(&t, c, &won.str("refresh_token")).await;
    assert_invalid_grant(&r, "the winner's refresh token is revoked");
}
app_test!(concurrent_refresh_reuse_ends_the_chain, concurrent_refresh);

/// More rotating chains than database connections, refreshed all at once, twice: every grant
/// succeeds. (The token endpoint once read the signing key on a second connection while holding
/// the write lock; with the pool full of waiting writers that deadlocked until a timeout.)
async fn many_chains_at_once<S: Store>(t: TestApp<S>) {
    let (email, password) = setup(&t).await;
    let creds = (email.as_str(), password.as_str());
    let (id, secret) = client(&t, confidential_third_party()).await;
    let c = (id.as_str(), secret.as_deref());
    let ua = mamis_testkit::browser();
    let mut chains = Vec::new();
    for _ in 0..16 {
        let (code, verifier) = authorize_code(&t, &ua, creds, &id, "openid offline_access").await;
        let r = exchange(&t, c, &code, &verifier).await;
        assert_eq!(r.status, 200, "{}", r.body);
        chains.push(r.str("refresh_token"));
    }
    for round in 0..2 {
        let results = futures_join_all(chains.iter().map(|rt| refresh(&t, c, rt))).await;
        chains = results
            .into_iter()
            .map(|r| {
                assert_eq!(r.status, 200, "round {round}: {}", r.body);
                r.str("refresh_token")
            })
            .collect();
    }
}
app_test!(
    more_chains_than_connections_refresh_at_once,
    many_chains_at_once
);

/// Runs futures concurrently on this task and collects their outputs in order.
async fn futures_join_all<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in fs {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

// --------------------------------------------------------------------------- 7. client checks

async fn client_auth<S: Store>(t: TestApp<S>) {
    let (email, password) = setup(&t).await;
    let creds = (email.as_str(), password.as_str());
    let (id, secret) = client(&t, confidential_third_party()).await;
    let secret = secret.unwrap();
    let ua = mamis_testkit::browser();

    // authorize with an unknown client: a page, no redirect
    let (challenge, _) = pkce();
    let r = ua
        .get(auth_url(&t, &std_params("c_unknown", "openid", &challenge)))
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    assert_refused_page(status, &headers, "unknown client");
    let page = r.text().await.unwrap();
    assert!(page.contains("登録されていない") || page.contains("not registered"));

    let (code, verifier) = authorize_code(&t, &ua, creds, &id, "openid").await;
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let with_form = |extra: &[(&'static str, &'static str)]| {
        let mut f: Vec<(&str, &str)> = grant.to_vec();
        f.extend_from_slice(extra);
        f
    };
    let invalid_client = |r: &Resp, what: &str| {
        assert_eq!(r.status, 401, "{what}: {}", r.body);
        assert_eq!(r.error(), "invalid_client", "{what}");
        assert!(
            r.headers.get("www-authenticate").is_some(),
            "{what}: WWW-Authenticate"
        );
        assert_eq!(r.headers["cache-control"], "no-store", "{what}");
    };

    let r = token_req(&t, None, &with_form(&[("client_id", "c_unknown")])).await;
    invalid_client(&r, "unknown client_id in the form");
    let r = token_req(&t, Some(("c_unknown", "whatever")), &grant).await;
    invalid_client(&r, "unknown client_id over Basic");
    let r = token_req(&t, Some((&id, "wrong-secret")), &grant).await;
    invalid_client(&r, "wrong secret over Basic");
    let mut f = grant.to_vec();
    f.extend([
        ("client_id", id.as_str()),
        ("client_secret", "wrong-secret"),
    ]);
    let r = token_req(&t, None, &f).await;
    invalid_client(&r, "wrong secret in the form");
    let mut f = grant.to_vec();
    f.push(("client_id", id.as_str()));
    let r = token_req(&t, None, &f).await;
    invalid_client(&r, "confidential client without a secret");
    let r = token_req(&t, None, &grant).await;
    invalid_client(&r, "no client authentication at all");

    // failed client authentication did not touch the code: client_secret_post now works
    let mut f = grant.to_vec();
    f.extend([
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ]);
    let r = token_req(&t, None, &f).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // a code of one client cannot be redeemed by another
    let (other, other_secret) = client(&t, confidential_third_party()).await;
    let (code, verifier) = authorize_code(&t, &ua, creds, &id, "openid").await;
    let r = exchange(
        &t,
        (other.as_str(), other_secret.as_deref()),
        &code,
        &verifier,
    )
    .await;
    assert_invalid_grant(&r, "another client's code");
    // the other client's attempt spent the code; its own client must start again
    let r = exchange(&t, (id.as_str(), Some(secret.as_str())), &code, &verifier).await;
    assert_invalid_grant(&r, "code spent by another client's attempt");
    // a refresh token cannot be used by another client either (and does not end its chain)
    let (code, verifier) = authorize_code(&t, &ua, creds, &id, "openid offline_access").await;
    let r = exchange(&t, (id.as_str(), Some(secret.as_str())), &code, &verifier).await;
    let rt = r.str("refresh_token");
    let r = refresh(&t, (other.as_str(), other_secret.as_deref()), &rt).await;
    assert_invalid_grant(&r, "another client's refresh token");
    let r = refresh(&t, (id.as_str(), Some(secret.as_str())), &rt).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // a public client authenticates with its client_id alone
    let (public, none) = client(
        &t,
        Kind {
            public: true,
            ..Kind::default()
        },
    )
    .await;
    assert!(none.is_none());
    let (code, verifier) = authorize_code(&t, &ua, creds, &public, "openid").await;
    let r = exchange(&t, (public.as_str(), None), &code, &verifier).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // a disabled client is unknown everywhere, and its live tokens stop working
    let (code, verifier) = authorize_code(&t, &ua, creds, &id, "openid offline_access").await;
    let live = exchange(&t, (id.as_str(), Some(secret.as_str())), &code, &verifier).await;
    assert_eq!(userinfo(&t, &live.str("access_token")).await.0, 200);
    let (code, verifier) = authorize_code(&t, &ua, creds, &id, "openid").await;
    let mut tx = t.app.store.write().await.unwrap();
    let mut row = tx.client(&id).await.unwrap().unwrap();
    row.disabled = true;
    assert!(tx.update_client(&row).await.unwrap());
    tx.commit().await.unwrap();
    let r = ua
        .get(auth_url(&t, &std_params(&id, "openid", &challenge)))
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    assert_refused_page(status, &headers, "disabled client");
    let r = exchange(&t, (id.as_str(), Some(secret.as_str())), &code, &verifier).await;
    invalid_client(&r, "disabled client");
    let r = refresh(
        &t,
        (id.as_str(), Some(secret.as_str())),
        &live.str("refresh_token"),
    )
    .await;
    invalid_client(&r, "disabled client refreshing");
    assert_eq!(userinfo(&t, &live.str("access_token")).await.0, 401);
}
app_test!(unknown_client_and_bad_client_auth_are_refused, client_auth);

// ------------------------------------------------------------------------------------- 8. iseki

async fn iseki<S: Store>(t: TestApp<S>) {
    let (email, password) = setup(&t).await;
    let creds = (email.as_str(), password.as_str());
    let ua = mamis_testkit::browser();
    let scope = "openid profile iseki";

    let (plain, plain_secret) = client(&t, confidential_third_party()).await;
    let (code, verifier) = authorize_code(&t, &ua, creds, &plain, scope).await;
    let r = exchange(
        &t,
        (plain.as_str(), plain_secret.as_deref()),
        &code,
        &verifier,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        !r.str("scope").split(' ').any(|s| s == "iseki"),
        "iseki not granted: {}",
        r.body
    );
    let (status, info) = userinfo(&t, &r.str("access_token")).await;
    assert_eq!(status, 200);
    let info = info.unwrap();
    assert!(info.get("iseki_number").is_none(), "{info}");

    let (allowed, allowed_secret) = client(
        &t,
        Kind {
            allow_iseki: true,
            ..Kind::default()
        },
    )
    .await;
    let (code, verifier) = authorize_code(&t, &ua, creds, &allowed, scope).await;
    let r = exchange(
        &t,
        (allowed.as_str(), allowed_secret.as_deref()),
        &code,
        &verifier,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.str("scope").split(' ').any(|s| s == "iseki"),
        "{}",
        r.body
    );
    let (status, info) = userinfo(&t, &r.str("access_token")).await;
    assert_eq!(status, 200);
    let info = info.unwrap();

    // the doctor's 医籍登録番号 from the registry
    let sub: uuid::Uuid = info["sub"].as_str().unwrap().parse().unwrap();
    let mut tx = t.app.store.read().await.unwrap();
    let account = tx.account(sub).await.unwrap().unwrap();
    let doctor = tx
        .doctor(account.doctor_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(
        info["iseki_number"].as_str(),
        Some(doctor.iseki.to_string().as_str()),
        "{info}"
    );

    // without asking for the scope, even the allowed client gets none
    let (code, verifier) = authorize_code(&t, &ua, creds, &allowed, "openid profile").await;
    let r = exchange(
        &t,
        (allowed.as_str(), allowed_secret.as_deref()),
        &code,
        &verifier,
    )
    .await;
    let info = userinfo(&t, &r.str("access_token")).await.1.unwrap();
    assert!(info.get("iseki_number").is_none(), "{info}");
}
app_test!(iseki_number_only_for_allowed_clients, iseki);

// ----------------------------------------------------------------------------------- 9. consent

async fn consent<S: Store>(t: TestApp<S>) {
    let (email, password) = setup(&t).await;
    let creds = (email.as_str(), password.as_str());
    let ua = mamis_testkit::browser();
    let (third, _) = client(&t, confidential_third_party()).await;
    let (first, _) = client(
        &t,
        Kind {
            first_party: true,
            ..Kind::default()
        },
    )
    .await;

    let run = async |client_id: &str, scope: &str, decision: &str| {
        let (challenge, _) = pkce();
        let url = auth_url(&t, &std_params(client_id, scope, &challenge));
        drive(&t, &ua, &url, creds, decision).await
    };

    // prompt=none without a session: login_required
    let (challenge, _) = pkce();
    let params = with(
        std_params(&third, "openid", &challenge),
        "prompt",
        Some("none"),
    );
    let r = mamis_testkit::browser()
        .get(auth_url(&t, &params))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let q = query_of(r.headers()["location"].to_str().unwrap());
    assert_eq!(param(&q, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&q, "state").as_deref(), Some(STATE));
    assert!(param(&q, "code").is_none());

    // a first-party client never asks (and logs the user agent in)
    let o = run(&first, "openid profile email", "allow").await;
    assert!(!o.consent_shown, "first party: no consent page");
    assert!(param(&o.query, "code").is_some());
    let o = run(&first, "openid profile email mamis", "allow").await;
    assert!(!o.consent_shown);
    assert!(param(&o.query, "code").is_some());

    // prompt=none with a session but without consent: consent_required
    let params = with(
        std_params(&third, "openid profile", &challenge),
        "prompt",
        Some("none"),
    );
    let r = ua.get(auth_url(&t, &params)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let q = query_of(r.headers()["location"].to_str().unwrap());
    assert_eq!(param(&q, "error").as_deref(), Some("consent_required"));
    assert_eq!(param(&q, "state").as_deref(), Some(STATE));
    assert_eq!(param(&q, "iss").as_deref(), Some(t.base_url.as_str()));
    assert!(param(&q, "code").is_none());

    // deny: access_denied, no code, and still no consent stored
    let o = run(&third, "openid profile", "deny").await;
    assert!(o.consent_shown);
    assert_eq!(param(&o.query, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&o.query, "state").as_deref(), Some(STATE));
    assert_eq!(param(&o.query, "iss").as_deref(), Some(t.base_url.as_str()));
    assert!(param(&o.query, "code").is_none());

    // a third-party client asks the first time ...
    let o = run(&third, "openid profile", "allow").await;
    assert!(o.consent_shown, "third party: consent the first time");
    assert!(param(&o.query, "code").is_some());
    // ... not the second time for the same scopes ...
    let o = run(&third, "openid profile", "allow").await;
    assert!(!o.consent_shown, "no consent page for consented scopes");
    assert!(param(&o.query, "code").is_some());
    // ... nor for fewer, and prompt=none now succeeds ...
    let o = run(&third, "openid", "allow").await;
    assert!(!o.consent_shown, "a subset of consented scopes");
    let r = ua.get(auth_url(&t, &params)).send().await.unwrap();
    let q = query_of(r.headers()["location"].to_str().unwrap());
    assert!(
        param(&q, "code").is_some(),
        "prompt=none after consent: {q:?}"
    );
    // ... but again when a new scope is asked for
    let o = run(&third, "openid profile email", "allow").await;
    assert!(o.consent_shown, "a new scope needs consent again");
    assert!(param(&o.query, "code").is_some());
    let o = run(&third, "openid profile email", "allow").await;
    assert!(!o.consent_shown);
    // prompt=consent forces the page
    let (challenge, _) = pkce();
    let params = with(
        std_params(&third, "openid profile", &challenge),
        "prompt",
        Some("consent"),
    );
    let o = drive(&t, &ua, &auth_url(&t, &params), creds, "allow").await;
    assert!(o.consent_shown, "prompt=consent");
}
app_test!(consent_is_asked_once_per_scope_set, consent);

// ------------------------------------------------------------------------------ 10. key rotation

async fn key_rotation<S: Store>(t: TestApp<S>) {
    let (email, password) = setup(&t).await;
    let creds = (email.as_str(), password.as_str());
    let (id, secret) = client(&t, confidential_third_party()).await;
    let c = (id.as_str(), secret.as_deref());
    let ua = mamis_testkit::browser();

    let (code, verifier) = authorize_code(&t, &ua, creds, &id, "openid").await;
    let r = exchange(&t, c, &code, &verifier).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let before = r.str("id_token");
    let old_kid = jwt_header(&before)["kid"].as_str().unwrap().to_owned();
    let claims = keys::verify(&keys::jwks(&t.app).await.unwrap(), &before).unwrap();
    assert_eq!(claims["aud"], id.as_str());
    assert_eq!(claims["nonce"], NONCE);

    let rotated = keys::rotate(&t.app, &system()).await.unwrap();
    assert!(!rotated.contains(&old_kid));

    let jwks = keys::jwks(&t.app).await.unwrap();
    let claims = keys::verify(&jwks, &before).expect("a pre-rotation ID token still verifies");
    assert_eq!(claims["iss"], t.base_url.as_str());
    // the JWKS served over HTTP publishes the old kid too
    let served: Value = t.get("/jwks.json").await.json().await.unwrap();
    assert!(
        served["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == old_kid.as_str())
    );
    keys::verify(&served, &before).unwrap();

    let (code, verifier) = authorize_code(&t, &ua, creds, &id, "openid").await;
    let r = exchange(&t, c, &code, &verifier).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let after = r.str("id_token");
    let header = jwt_header(&after);
    assert_eq!(header["alg"], "RS256");
    let new_kid = header["kid"].as_str().unwrap();
    assert_ne!(new_kid, old_kid);
    assert!(
        rotated.iter().any(|k| k == new_kid),
        "{new_kid} is a new key"
    );
    keys::verify(&jwks, &after).unwrap();
}
app_test!(key_rotation_keeps_old_id_tokens_verifiable, key_rotation);

// --------------------------------------------------------------------- 11. access token lifetime

async fn access_lifetime<S: Store>(t: TestApp<S>) {
    let (email, password) = setup(&t).await;
    let creds = (email.as_str(), password.as_str());
    let (id, secret) = client(&t, confidential_third_party()).await;
    let c = (id.as_str(), secret.as_deref());
    let ua = mamis_testkit::browser();
    let (code, verifier) = authorize_code(&t, &ua, creds, &id, "openid profile").await;
    let r = exchange(&t, c, &code, &verifier).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["expires_in"], ACCESS_TTL.num_seconds());
    assert_eq!(r.body["token_type"], "Bearer");
    let access = r.str("access_token");

    t.clock.advance(ACCESS_TTL - chrono::Duration::seconds(1));
    assert_eq!(
        userinfo(&t, &access).await.0,
        200,
        "just inside the lifetime"
    );
    t.clock.advance(chrono::Duration::seconds(2));
    let resp = reqwest::Client::new()
        .get(t.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "5 min + 1 s later");
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}
app_test!(access_token_expires_after_five_minutes, access_lifetime);

// ------------------------------------------------------------------- 12. token endpoint hygiene

async fn hygiene<S: Store>(t: TestApp<S>) {
    let (email, password) = setup(&t).await;
    let creds = (email.as_str(), password.as_str());
    let (id, secret) = client(&t, confidential_third_party()).await;
    let c = (id.as_str(), secret.as_deref());
    let ua = mamis_testkit::browser();

    let (code, verifier) =
        authorize_code(&t, &ua, creds, &id, "openid profile offline_access").await;
    let ok = exchange(&t, c, &code, &verifier).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.headers["cache-control"], "no-store");
    assert_eq!(ok.headers["pragma"], "no-cache");
    assert!(
        ok.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let r = refresh(&t, c, &ok.str("refresh_token")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["cache-control"], "no-store");

    let err = exchange(&t, c, "no-such-code", &verifier).await;
    assert_invalid_grant(&err, "unknown code");
    assert_eq!(err.headers["cache-control"], "no-store");

    let (basic, _) = auth_of(c.0, c.1);
    for grant in ["password", "client_credentials", "implicit"] {
        let r = token_req(&t, basic, &[("grant_type", grant)]).await;
        assert_eq!(r.status, 400, "{grant}: {}", r.body);
        assert_eq!(r.error(), "unsupported_grant_type", "{grant}");
        assert_eq!(r.headers["cache-control"], "no-store");
    }
    // an empty grant_type is a missing one: RFC 6749 §5.2 invalid_request
    let r = token_req(&t, basic, &[("grant_type", "")]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error(), "invalid_request");

    let (_, info) = userinfo(&t, &ok.str("access_token")).await;
    assert!(info.is_some());

    let d: Value = t
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], t.base_url.as_str());
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(d["token_endpoint"], t.url("/oauth2/token").as_str());
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
}
app_test!(token_endpoint_hygiene_and_discovery, hygiene);

// ------------------------------------------------------- 13. client administration (office pages)

async fn client_admin<S: Store>(t: TestApp<S>) {
    let logins = mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    keys::ensure(&t.app).await.unwrap();
    let login = |label: &str| {
        let a = logins
            .accounts
            .iter()
            .find(|a| a.0.starts_with(label))
            .unwrap();
        (a.1.clone(), a.2.clone(), a.3.clone().unwrap_or_default())
    };
    let member = login("verified member");
    let creds = (member.0.as_str(), member.1.as_str());
    let (id, secret) = client(&t, confidential_third_party()).await;
    let c = (id.as_str(), secret.as_deref());
    let ua = mamis_testkit::browser();
    let (code, verifier) =
        authorize_code(&t, &ua, creds, &id, "openid profile offline_access").await;
    let tokens = exchange(&t, c, &code, &verifier).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let access = tokens.str("access_token");
    assert_eq!(userinfo(&t, &access).await.0, 200);

    // JMA staff (not admin) may not see the client list
    let a = login("jma_staff");
    let staff =
        mamis_testkit::staff_login(&t, &a.0, &a.1, &mamis_testkit::base32_decode(&a.2)).await;
    let office = staff
        .get(t.url("/office"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let doc = html(&office);
    assert!(attr(&doc, "#office-nav-migration", "href").is_some());
    assert_eq!(attr(&doc, "#office-nav-clients", "href"), None);
    let r = staff.get(t.url("/office/clients")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = staff
        .get(t.url(&format!("/office/clients/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let a = login("jma_admin");
    let admin =
        mamis_testkit::staff_login(&t, &a.0, &a.1, &mamis_testkit::base32_decode(&a.2)).await;
    let office = admin
        .get(t.url("/office"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        attr(&html(&office), "#office-nav-clients", "href").as_deref(),
        Some("/office/clients")
    );
    let page = admin
        .get(t.url("/office/clients"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("/office/clients/{id}")), "{page}");
    let url = t.url(&format!("/office/clients/{id}"));
    let page = admin.get(&url).send().await.unwrap().text().await.unwrap();
    let doc = html(&page);
    let csrf = attr(&doc, "input[name=csrf]", "value").unwrap();
    assert_eq!(
        attr(&doc, "#name", "value").as_deref(),
        Some("テスト連携サービス")
    );

    // a redirect URI that is not https (nor loopback) is refused on the form, nothing saved
    let r = admin
        .post(&url)
        .header("origin", &t.base_url)
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "改名"),
            ("redirect_uris", "http://evil.example/cb"),
            ("alg", "RS256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert_eq!(texts(&html(&page), "#form-error").len(), 1, "{page}");
    let mut tx = t.app.store.read().await.unwrap();
    let stored = tx.client(&id).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(stored.name, "テスト連携サービス");
    assert!(!stored.disabled);

    // without the CSRF token the change is refused
    let r = admin
        .post(&url)
        .header("origin", &t.base_url)
        .form(&[
            ("name", "x"),
            ("redirect_uris", REDIRECT),
            ("disabled", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // disabling: the client's access token stops working at once, and the change is audited
    let r = admin
        .post(&url)
        .header("origin", &t.base_url)
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "テスト連携サービス"),
            ("redirect_uris", &format!("{REDIRECT}\n{REDIRECT2}")),
            ("alg", "ES256"),
            ("disabled", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/office/clients");
    assert_eq!(userinfo(&t, &access).await.0, 401);
    let refreshed = refresh(&t, c, &tokens.str("refresh_token")).await;
    assert!(refreshed.status.is_client_error(), "{}", refreshed.body);
    let mut tx = t.app.store.read().await.unwrap();
    let stored = tx.client(&id).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    assert!(stored.disabled);
    assert_eq!(stored.id_token_alg, "ES256");
    assert_eq!(stored.redirect_uris, [REDIRECT, REDIRECT2]);
    let mut tx = t.app.store.read().await.unwrap();
    let rows = mamis_store::AuditStore::audit_rows(&mut tx, 0, 10_000)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let edits: Vec<_> = rows
        .iter()
        .filter(|r| r.action == "oidc.client_edit")
        .collect();
    assert_eq!(edits.len(), 1, "the refused attempts leave no edit record");
    assert_eq!(edits[0].target, format!("client:{id}"));
    assert!(edits[0].actor.starts_with("account:"));
    let d: Value = serde_json::from_str(&edits[0].details).unwrap();
    assert_eq!(d["before"]["disabled"], false);
    assert_eq!(d["after"]["disabled"], true);
}
app_test!(
    jma_admin_disables_a_client_and_its_tokens_stop,
    client_admin
);

/// A deployment's configured access-token lifetime is what the token endpoint grants and enforces.
#[tokio::test]
async fn configured_access_lifetime_is_used() {
    let t = mamis_testkit::spawn_sqlite_with(|c| {
        c.oidc.access = chrono::Duration::seconds(120);
    })
    .await;
    let (email, password) = setup(&t).await;
    let (id, secret) = client(&t, confidential_third_party()).await;
    let c = (id.as_str(), secret.as_deref());
    let ua = mamis_testkit::browser();
    let (code, verifier) = authorize_code(&t, &ua, (&email, &password), &id, "openid").await;
    let r = exchange(&t, c, &code, &verifier).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["expires_in"], 120);
    let access = r.str("access_token");
    t.clock.advance(chrono::Duration::seconds(119));
    assert_eq!(userinfo(&t, &access).await.0, 200);
    t.clock.advance(chrono::Duration::seconds(2));
    assert_eq!(userinfo(&t, &access).await.0, 401);
}

/// The demo's OpenID clients are the same on every fresh demo database, and the printed
/// credentials are the ones the token endpoint accepts.
async fn demo_clients<S: Store>(t: TestApp<S>) {
    let logins = mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    keys::ensure(&t.app).await.unwrap();
    let ids: Vec<&str> = logins.clients.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(ids, ["demo-web-service", "demo-native-app"]);
    let web = &logins.clients[0];
    let secret = web.2.as_deref().unwrap();
    assert!(
        logins.clients[1].2.is_none(),
        "the public client has no secret"
    );
    // authenticated: the refusal is about the grant, not the client
    let r = refresh(&t, (&web.1, Some(secret)), "no-such-token").await;
    assert_eq!(r.error(), "invalid_grant", "{}", r.body);
    let r = refresh(&t, (&web.1, Some("wrong-secret")), "no-such-token").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error(), "invalid_client");
}
app_test!(demo_clients_are_stable_and_work, demo_clients);

/// Unknown scopes are ignored, not refused: the grant holds the known ones only.
async fn unknown_scopes<S: Store>(t: TestApp<S>) {
    let (email, password) = setup(&t).await;
    let (id, secret) = client(&t, confidential_third_party()).await;
    let ua = mamis_testkit::browser();
    let (code, verifier) = authorize_code(
        &t,
        &ua,
        (&email, &password),
        &id,
        "openid made_up profile x-legacy",
    )
    .await;
    let r = exchange(&t, (&id, secret.as_deref()), &code, &verifier).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["scope"], "openid profile");
    let (_, info) = userinfo(&t, &r.str("access_token")).await;
    assert!(info.unwrap().get("name").is_some(), "profile claims served");
}
app_test!(unknown_scopes_are_ignored, unknown_scopes);

// ------------------------------------------------------- 99. three servers behind one address

/// Three servers on one PostgreSQL, taken in turn as a load balancer would: logins, My Page
/// with a session made on another server, refresh grants rotating across all three, and
/// `/verify` within its limit — no request fails because another server served the last one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_on_one_database_serve_in_turn() {
    if !mamis_testkit::backend_selected("postgres") {
        return;
    }
    let Some(a) = mamis_testkit::spawn_postgres().await else {
        return;
    };
    let b = a.second_server().await;
    let c = a.second_server().await;
    let servers = [&a, &b, &c];
    let logins = mamis_app::demo::seed_demo(&a.app).await.unwrap().unwrap();
    keys::ensure(&a.app).await.unwrap();
    let (_, email, password, _) = logins
        .accounts
        .iter()
        .find(|x| x.0 == "verified member")
        .unwrap()
        .clone();

    // a login on each server; its session serves My Page on the next one
    for (i, s) in servers.iter().enumerate() {
        let ua = mamis_testkit::browser();
        let (r, _) = mamis_testkit::password_login(*s, &ua, &email, &password).await;
        assert_eq!(r.status(), 303, "login on server {i}");
        let next = servers[(i + 1) % 3];
        let r = ua.get(next.url("/mypage")).send().await.unwrap();
        assert_eq!(r.status(), 200, "My Page on server {}", (i + 1) % 3);
        assert!(r.text().await.unwrap().contains("id=\"logout\""));
    }

    // refresh grants: each rotation on the next server
    let (id, secret) = client(&a, confidential_third_party()).await;
    let creds = (email.as_str(), password.as_str());
    let ua = mamis_testkit::browser();
    let (code, verifier) =
        authorize_code(&a, &ua, creds, &id, "openid profile offline_access").await;
    let first = exchange(&a, (&id, secret.as_deref()), &code, &verifier).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let mut rt = first.str("refresh_token");
    for i in 0..9 {
        let s = servers[i % 3];
        let r = refresh(s, (&id, secret.as_deref()), &rt).await;
        assert_eq!(r.status, 200, "refresh {i}: {}", r.body);
        let (status, _) = userinfo(servers[(i + 1) % 3], &r.str("access_token")).await;
        assert_eq!(status, StatusCode::OK, "userinfo after refresh {i}");
        rt = r.str("refresh_token");
    }

    // /verify within its limit (30 a minute from one address, all servers together)
    let (_, url) = &logins.certificates[0];
    let path = url.split_once("127.0.0.1").unwrap().1;
    let path = &path[path.find('/').unwrap()..];
    for i in 0..12 {
        let r = reqwest::get(servers[i % 3].url(path)).await.unwrap();
        assert_eq!(r.status(), 200, "verify {i} on server {}", i % 3);
    }
}
