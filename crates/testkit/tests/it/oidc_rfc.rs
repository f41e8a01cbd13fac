//! The OpenID edge cases of the security review, each against the RFC the certified peer
//! follows, and the redirects and caching every login page must get right.

use mamis_app::oidc::keys::Alg;
use mamis_app::oidc::provider::{self, NewClient};
use mamis_domain::Principal;
use mamis_store::Store;
use mamis_testkit::{TestApp, app_test, attr, browser, html, password_login};
use serde_json::Value;

use super::oidc_cases::setup;

const REDIRECT: &str = "http://127.0.0.1:9/cb";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

async fn client<S: Store>(t: &TestApp<S>, public: bool) -> (String, Option<String>) {
    let (c, secret) = provider::create_client(
        &t.app,
        &Principal::Job {
            kind: "test".into(),
        },
        NewClient {
            name: "テスト連携サービス".into(),
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec!["http://127.0.0.1:9/bye".into()],
            public,
            first_party: false,
            scopes: vec![],
            allow_iseki: false,
            id_token_alg: Alg::Rs256,
        },
    )
    .await
    .unwrap();
    (c.id, secret)
}

fn authorize<S: Store>(
    t: &TestApp<S>,
    extra: &[(&str, &str)],
    client_id: &str,
    redirect: &str,
) -> String {
    let mut u = url::Url::parse(&t.url("/oauth2/authorize")).unwrap();
    u.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("scope", "openid"),
        ("state", "st-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    u.query_pairs_mut().extend_pairs(extra);
    u.into()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn rfc_edges<S: Store>(t: TestApp<S>) {
    let (email, password) = setup(&t).await;
    let (cid, secret) = client(&t, false).await;
    let ua = browser();
    let (r, csrf) = password_login(&t, &ua, &email, &password).await;
    assert_eq!(r.status(), 303);

    // OIDC Core §6: request objects are refused by redirect, with their own error codes
    for (param, error) in [
        ("request", "request_not_supported"),
        ("request_uri", "request_uri_not_supported"),
    ] {
        let r = ua
            .get(authorize(&t, &[(param, "x")], &cid, REDIRECT))
            .send()
            .await
            .unwrap();
        let to = location(&r);
        assert!(to.starts_with(REDIRECT), "{param}: {to}");
        let q: Vec<(String, String)> = url::Url::parse(&to)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        assert!(q.contains(&("error".into(), error.into())), "{q:?}");
        assert!(q.contains(&("state".into(), "st-1".into())), "{q:?}");
    }
    let d: Value = t
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["request_uri_parameter_supported"], false);
    assert_eq!(d["request_parameter_supported"], false);
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);

    // RFC 6749 §3.1: a repeated parameter is an error page at /authorize, never a redirect
    let r = ua
        .get(authorize(&t, &[("client_id", "other")], &cid, REDIRECT))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(location(&r).is_empty());
    assert!(r.text().await.unwrap().contains("同じ項目が二度"));

    // … and invalid_request at the token endpoint, as is a missing grant_type
    let rp = reqwest::Client::new();
    for form in [
        vec![("code", "x")],
        vec![
            ("grant_type", "authorization_code"),
            ("grant_type", "refresh_token"),
        ],
    ] {
        let r = rp
            .post(t.url("/oauth2/token"))
            .basic_auth(&cid, secret.as_deref())
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{form:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{form:?}");
    }

    // RFC 7009 §2.1: the token parameter is required
    let r = rp
        .post(t.url("/oauth2/revoke"))
        .basic_auth(&cid, secret.as_deref())
        .form(&[("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    // RP-Initiated Logout §2: without id_token_hint the user is asked first
    let r = ua.get(t.url("/oauth2/logout")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(
        attr(&html(&page), "form[action='/oauth2/logout'] button", "id").is_some(),
        "{page}"
    );
    assert_eq!(
        ua.get(t.url("/mypage")).send().await.unwrap().status(),
        200,
        "still logged in"
    );
    let r = ua
        .post(t.url("/oauth2/logout"))
        .header("origin", &t.base_url)
        .form(&[
            ("csrf", csrf.as_str()),
            ("client_id", cid.as_str()),
            ("post_logout_redirect_uri", "http://127.0.0.1:9/bye"),
            ("state", "s-9"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "http://127.0.0.1:9/bye?state=s-9");
    assert_eq!(
        ua.get(t.url("/mypage")).send().await.unwrap().status(),
        303,
        "logged out"
    );
}
app_test!(openid_edge_cases_follow_their_rfcs, rfc_edges);

async fn loopback<S: Store>(t: TestApp<S>) {
    let (email, password) = setup(&t).await;
    let (public, _) = client(&t, true).await;
    let (confidential, _) = client(&t, false).await;
    let ua = browser();
    password_login(&t, &ua, &email, &password).await;
    let shown = |r: &reqwest::Response| r.status() == 200;
    // RFC 8252 §7.3: a native (public) client's loopback URI matches on any port …
    for uri in ["http://127.0.0.1:51234/cb", "http://127.0.0.1/cb"] {
        let r = ua
            .get(authorize(&t, &[], &public, uri))
            .send()
            .await
            .unwrap();
        assert!(shown(&r), "{uri}: {}", r.status());
        let page = r.text().await.unwrap();
        assert!(page.contains("consent-allow"), "{uri}");
    }
    // … and on nothing else: path, query, host and scheme exact; confidential clients exact
    for (client, uri) in [
        (&public, "http://127.0.0.1:51234/cb2"),
        (&public, "http://127.0.0.1:51234/cb?x=1"),
        (&public, "http://localhost:51234/cb"),
        (&public, "http://[::1]:51234/cb"),
        (&public, "https://127.0.0.1:51234/cb"),
        (&confidential, "http://127.0.0.1:51234/cb"),
    ] {
        let r = ua
            .get(authorize(&t, &[], client, uri))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{uri}");
        assert!(location(&r).is_empty(), "{uri}");
    }
}
app_test!(native_clients_use_any_loopback_port, loopback);

async fn redirects_and_caching<S: Store>(t: TestApp<S>) {
    let (email, password) = setup(&t).await;
    // `next` never leaves the site: a tab, a newline or an encoded slash fall back to My Page
    for next in [
        "/\t/evil.example/x",
        "/x\ny",
        "/%2F/evil.example",
        "//evil.example",
    ] {
        let ua = browser();
        let page = ua
            .get(t.url("/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = attr(&html(&page), "input[name=csrf]", "value").unwrap();
        let r = ua
            .post(t.url("/login"))
            .header("origin", &t.base_url)
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", email.as_str()),
                ("password", password.as_str()),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{next:?}");
        assert_eq!(location(&r), "/mypage", "{next:?}");
    }
    let r = browser()
        .get(t.url("/login?next=%2F%09%2Fevil.example%2Fx"))
        .send()
        .await
        .unwrap();
    let page = r.text().await.unwrap();
    assert_eq!(
        attr(
            &html(&page),
            "form[action='/login'] input[name=next]",
            "value"
        )
        .as_deref(),
        Some("")
    );

    // answers to a logged-in browser are never cached; static files still are
    let ua = browser();
    password_login(&t, &ua, &email, &password).await;
    for path in [
        "/mypage",
        "/mypage/cme",
        "/",
        "/api/v1/me/cme/summary",
        "/no-such-page",
    ] {
        let r = ua.get(t.url(path)).send().await.unwrap();
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
    }
    let r = ua.get(t.url("/static/mamis.css")).send().await.unwrap();
    assert_eq!(r.headers()["cache-control"], "public, max-age=3600");
    // an unknown path under /static/ is a page, not a static file
    let r = ua.get(t.url("/static/no-such-file")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["cache-control"], "no-store");
    // a login waiting for its second factor, and an API token, are personal too
    let r = browser()
        .get(t.url("/login"))
        .header("cookie", "mamis_mfa=pending-login")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    for path in ["/api/v1/associations", "/api/v1/openapi.json"] {
        let r = browser()
            .get(t.url(path))
            .bearer_auth("not-a-valid-token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
    }
    let r = browser().get(t.url("/")).send().await.unwrap();
    assert!(
        r.headers()
            .get("cache-control")
            .is_none_or(|v| v != "no-store")
    );
}
app_test!(
    redirects_stay_local_and_personal_answers_are_not_cached,
    redirects_and_caching
);
