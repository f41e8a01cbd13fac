//! The OpenID Provider as an independent client sees it: the `openidconnect` crate runs
//! discovery → authorize (through the real login form) → token → ID-token verification against
//! the JWKS → userinfo → refresh → logout; then the protocol's failure cases over raw HTTP.

use mamis_app::oidc::keys::{self, Alg};
use mamis_app::oidc::provider::{self, NewClient};
use mamis_domain::Principal;
use mamis_store::Store;
use mamis_testkit::{TestApp, app_test, attr, html};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

const REDIRECT: &str = "http://127.0.0.1:9/cb";

fn system() -> Principal {
    Principal::Job {
        kind: "test".into(),
    }
}

async fn client<S: Store>(
    t: &TestApp<S>,
    first_party: bool,
    public: bool,
    allow_iseki: bool,
) -> (String, Option<String>) {
    let (c, secret) = provider::create_client(
        &t.app,
        &system(),
        NewClient {
            name: "テスト連携サービス".into(),
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec!["http://127.0.0.1:9/bye".into()],
            public,
            first_party,
            scopes: vec![],
            allow_iseki,
            id_token_alg: Alg::Rs256,
        },
    )
    .await
    .unwrap();
    (c.id, secret)
}

fn query_of(location: &str) -> Vec<(String, String)> {
    let u = url::Url::parse(location).unwrap();
    u.query_pairs().into_owned().collect()
}

fn param(q: &[(String, String)], k: &str) -> Option<String> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

/// Follows an authorization URL through the login form (and consent when asked) to the client's
/// redirect; returns the redirect's query.
async fn user_agent_authorize<S: Store>(
    t: &TestApp<S>,
    ua: &reqwest::Client,
    auth_url: &str,
    email: &str,
    password: &str,
    consent: bool,
) -> Vec<(String, String)> {
    let mut next = auth_url.to_owned();
    for _ in 0..6 {
        if next.starts_with(REDIRECT) {
            return query_of(&next);
        }
        let r = ua.get(&next).send().await.unwrap();
        if r.status() == 200 {
            let page = r.text().await.unwrap();
            let doc = html(&page);
            let csrf = attr(&doc, "input[name=csrf]", "value").unwrap();
            if page.contains("id=\"consent-allow\"") {
                assert!(consent, "no consent page expected here");
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
                form.push(("decision".into(), "allow".into()));
                let r = ua
                    .post(t.url("/oauth2/consent"))
                    .header("origin", &t.base_url)
                    .form(&form)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 303);
                next = r.headers()["location"].to_str().unwrap().to_owned();
                continue;
            }
            // the login form
            let nxt = attr(&doc, "form[action='/login'] input[name=next]", "value").unwrap();
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
            if next.starts_with('/') {
                next = t.url(&next);
            }
            continue;
        }
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
        let loc = r.headers()["location"].to_str().unwrap().to_owned();
        if loc.starts_with(REDIRECT) {
            return query_of(&loc);
        }
        next = if loc.starts_with('/') {
            t.url(&loc)
        } else {
            loc
        };
    }
    panic!("the flow did not reach the client's redirect URI");
}

async fn independent_client<S: Store>(t: TestApp<S>) {
    let logins = mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let (_, email, password, _) = logins
        .accounts
        .iter()
        .find(|a| a.0 == "verified member")
        .unwrap()
        .clone();
    keys::ensure(&t.app).await.unwrap();
    let (id, secret) = client(&t, false, false, false).await;

    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let meta =
        CoreProviderMetadata::discover_async(IssuerUrl::new(t.base_url.clone()).unwrap(), &http)
            .await
            .unwrap();
    let rp = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(id.clone()),
        secret.map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("mamis".into()))
        .add_scope(Scope::new("iseki".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    let ua = mamis_testkit::browser();
    let q = user_agent_authorize(&t, &ua, auth_url.as_str(), &email, &password, true).await;
    assert_eq!(param(&q, "state").as_deref(), Some(state.secret().as_str()));
    assert_eq!(param(&q, "iss").as_deref(), Some(t.base_url.as_str()));
    let code = param(&q, "code").expect("a code");

    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    // verify the ID token against the JWKS at the server's (fake) time
    let now = t.app.now();
    let verifier = rp.id_token_verifier().set_time_fn(move || now);
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token.claims(&verifier, &nonce).unwrap();
    assert_eq!(claims.issuer().as_str(), t.base_url);
    assert!(claims.auth_time().is_some());
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&at_hash));

    let info: CoreUserInfoClaims = rp
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(info.subject(), claims.subject());
    assert_eq!(info.email().map(|e| e.as_str()), Some(email.as_str()));
    let raw: serde_json::Value = reqwest::Client::new()
        .get(t.url("/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(raw["jma_member"], true, "{raw}");
    assert!(raw["member_class"].is_string() && raw["prefecture_association"].is_string());
    assert_eq!(raw["verification"], "verified");
    assert!(
        raw.get("iseki_number").is_none(),
        "not for a client without the iseki permission"
    );
    assert!(raw["name_kana"].as_str().unwrap().contains(' '));

    // refresh: a new access token works, the old refresh token is spent
    let refresh = tokens
        .refresh_token()
        .expect("offline_access gives a refresh token")
        .clone();
    let refreshed = rp
        .exchange_refresh_token(&refresh)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_ne!(
        refreshed.access_token().secret(),
        tokens.access_token().secret()
    );
    assert!(refreshed.refresh_token().is_some(), "rotation");
    assert!(
        refreshed.id_token().is_none(),
        "no ID token at a refresh (OIDC Core §12.2), and the client library accepts that"
    );
    let again: CoreUserInfoClaims = rp
        .user_info(refreshed.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(again.subject(), claims.subject());

    // RP-initiated logout returns to the registered address and ends the MAMIS session
    let discovery: serde_json::Value = reqwest::Client::new()
        .get(t.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut logout = url::Url::parse(discovery["end_session_endpoint"].as_str().unwrap()).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", &id_token.to_string())
        .append_pair("post_logout_redirect_uri", "http://127.0.0.1:9/bye")
        .append_pair("state", "bye-state");
    let r = ua.get(logout.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "http://127.0.0.1:9/bye?state=bye-state"
    );
    let r = ua.get(t.url("/mypage")).send().await.unwrap();
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login"),
        "logged out of MAMIS too"
    );
}
app_test!(openidconnect_client_runs_the_whole_flow, independent_client);
