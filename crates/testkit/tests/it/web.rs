use mamis_store::Store;
use mamis_testkit::{TestApp, app_test, attr, html, texts};

async fn home_is_japanese_then_english<S: Store>(t: TestApp<S>) {
    let r = t.get("/").await;
    assert_eq!(r.status(), 200);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(attr(&doc, "html", "lang").as_deref(), Some("ja"));
    assert_eq!(texts(&doc, "h1"), ["MAMIS へようこそ"]);
    let csrf = attr(&doc, "form.lang input[name=csrf]", "value").unwrap();

    let r = t
        .client
        .post(t.url("/lang"))
        .header("origin", &t.base_url)
        .form(&[("csrf", csrf.as_str()), ("lang", "en"), ("next", "/cme")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/cme");

    let doc = html(&t.get("/").await.text().await.unwrap());
    assert_eq!(attr(&doc, "html", "lang").as_deref(), Some("en"));
    assert_eq!(texts(&doc, "h1"), ["Welcome to MAMIS"]);
    // the choice persists on other pages
    let doc = html(&t.get("/register").await.text().await.unwrap());
    assert_eq!(texts(&doc, "h1"), ["Register for My Page"]);
}
app_test!(home_switches_language, home_is_japanese_then_english);

async fn csrf_refusals<S: Store>(t: TestApp<S>) {
    let doc = html(&t.get("/").await.text().await.unwrap());
    let csrf = attr(&doc, "form.lang input[name=csrf]", "value").unwrap();
    // no token
    let r = t
        .client
        .post(t.url("/lang"))
        .form(&[("lang", "en")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let page = html(&r.text().await.unwrap());
    assert_eq!(texts(&page, "h1"), ["フォームの有効期限が切れました"]);
    // wrong token
    let r = t
        .client
        .post(t.url("/lang"))
        .form(&[("lang", "en"), ("csrf", "x".repeat(43).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // right token, but the browser says the request comes from another site
    let r = t
        .client
        .post(t.url("/lang"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("lang", "en"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // another origin
    let r = t
        .client
        .post(t.url("/lang"))
        .header("origin", "http://evil.example")
        .form(&[("lang", "en"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // none of the refusals changed the language
    let doc = html(&t.get("/").await.text().await.unwrap());
    assert_eq!(attr(&doc, "html", "lang").as_deref(), Some("ja"));
    // an absolute next is not followed (no open redirect)
    let r = t
        .client
        .post(t.url("/lang"))
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("lang", "en"),
            ("csrf", csrf.as_str()),
            ("next", "//evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
}
app_test!(csrf_is_enforced, csrf_refusals);

async fn headers_and_errors<S: Store>(t: TestApp<S>) {
    let r = t.get("/").await;
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe-inline")
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert!(
        h.get("strict-transport-security").is_none(),
        "no HSTS on plain http"
    );
    assert!(h.get("x-request-id").is_some());
    let cookie = h["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));

    let r = t.get("/no/such/page").await;
    assert_eq!(r.status(), 404);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "h1"), ["ページが見つかりません"]);
    let r = t
        .client
        .get(t.url("/no/such/page"))
        .header("cookie", "mamis_lang=en")
        .send()
        .await
        .unwrap();
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "h1"), ["Page not found"]);
    assert_eq!(
        t.get("/api/v1/nothing").await.headers()["content-type"],
        "application/problem+json"
    );
}
app_test!(security_headers_and_error_pages, headers_and_errors);

async fn operations<S: Store>(t: TestApp<S>) {
    assert_eq!(t.get("/healthz").await.status(), 200);
    assert_eq!(t.get("/readyz").await.status(), 200);
    t.get("/healthz").await;
    let m = t.get("/metrics").await.text().await.unwrap();
    assert!(
        m.contains("mamis_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("mamis_http_request_duration_seconds_count{method=\"GET\",route=\"/readyz\"} 1")
    );
}
app_test!(health_ready_and_metrics, operations);

#[tokio::test]
async fn metrics_answer_only_the_allowed_addresses() {
    // this server lets only 10.0.0.0/8 read /metrics; the test client comes from 127.0.0.1
    let t = mamis_testkit::spawn_sqlite_web(mamis_web::WebConfig {
        metrics_allow: vec!["10.0.0.0/8".parse().unwrap()],
        ..Default::default()
    })
    .await;
    let r = t.get("/metrics").await;
    assert_eq!(r.status(), 403);
    assert!(
        !r.text()
            .await
            .unwrap()
            .contains("mamis_http_requests_total")
    );
    assert_eq!(t.get("/healthz").await.status(), 200);
    // the default allows loopback
    let t = mamis_testkit::spawn_sqlite().await;
    let r = t.get("/metrics").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("mamis_http_requests_total")
    );
}
