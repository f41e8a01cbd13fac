//! OpenID Provider benchmark (not a test): refresh-token grants per second (each connection keeps
//! one rotating chain) and userinfo requests per second, over HTTP on 127.0.0.1, on SQLite and —
//! when it is reachable — PostgreSQL.
//!
//! `cargo bench -p mamis-testkit --bench oidc` (MAMIS_BENCH_SECS, default 10, per phase).
//! Figures depend on the machine; the printout names its core count.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mamis_app::oidc::keys::{self, Alg};
use mamis_app::oidc::provider::{self, NewClient};
use mamis_domain::Principal;
use mamis_store::Store;
use mamis_testkit::TestApp;
use openidconnect::PkceCodeChallenge;

const REDIRECT: &str = "http://127.0.0.1:9/cb";

fn param(location: &str, key: &str) -> Option<String> {
    url::Url::parse(location)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// One chain: a fresh authorization (the browser's session is already logged in, the client is
/// first-party so no consent page) exchanged for an access and a refresh token.
async fn chain<S: Store>(
    t: &TestApp<S>,
    ua: &reqwest::Client,
    http: &reqwest::Client,
    (id, secret): (&str, &str),
) -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut auth = url::Url::parse(&t.url("/oauth2/authorize")).unwrap();
    auth.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid profile email mamis offline_access")
        .append_pair("state", "bench-state")
        .append_pair("nonce", "bench-nonce")
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    let r = ua.get(auth.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let code = param(&location, "code").unwrap_or_else(|| panic!("no code in {location}"));
    let body: serde_json::Value = http
        .post(t.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.secret().as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn run<S: Store>(label: &str, t: TestApp<S>, secs: u64, conns: usize) {
    let logins = mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    keys::ensure(&t.app).await.unwrap();
    let (_, email, password, _) = logins
        .accounts
        .iter()
        .find(|a| a.0 == "verified member")
        .unwrap()
        .clone();
    let (client, secret) = provider::create_client(
        &t.app,
        &Principal::Job {
            kind: "bench".into(),
        },
        NewClient {
            name: "ベンチマーク".into(),
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec![],
            public: false,
            first_party: true,
            scopes: vec![],
            allow_iseki: false,
            id_token_alg: Alg::Rs256,
        },
    )
    .await
    .unwrap();
    let secret = secret.unwrap();
    let id = client.id.clone();

    let ua = mamis_testkit::browser();
    let (r, _) = mamis_testkit::password_login(&t, &ua, &email, &password).await;
    assert_eq!(r.status(), 303);

    let mut chains = Vec::new();
    for _ in 0..conns {
        // one HTTP connection per chain, as a service's own connection pool would hold
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        let (access, refresh) = chain(&t, &ua, &http, (&id, &secret)).await;
        chains.push((http, access, refresh));
    }

    // refresh-token grants: each connection rotates its own chain as fast as it can
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (http, access, refresh) in chains {
        let (stop, done, url, id, secret) = (
            stop.clone(),
            done.clone(),
            t.url("/oauth2/token"),
            id.clone(),
            secret.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut refresh = refresh;
            let mut access = access;
            while !stop.load(Ordering::Relaxed) {
                let r = http
                    .post(&url)
                    .basic_auth(&id, Some(&secret))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", refresh.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                assert_eq!(status, 200, "{body}");
                refresh = body["refresh_token"].as_str().unwrap().to_owned();
                access = body["access_token"].as_str().unwrap().to_owned();
                done.fetch_add(1, Ordering::Relaxed);
            }
            (http, access)
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut held = Vec::new();
    for task in tasks {
        held.push(task.await.unwrap());
    }
    let grants = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();

    // userinfo: each connection re-reads the registry through its latest access token
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut lat_tasks = Vec::new();
    let start = Instant::now();
    for (http, access) in held {
        let (stop, done, url) = (stop.clone(), done.clone(), t.url("/userinfo"));
        lat_tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let s = Instant::now();
                let r = http.get(&url).bearer_auth(&access).send().await.unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap();
                lat.push(s.elapsed());
                done.fetch_add(1, Ordering::Relaxed);
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for task in lat_tasks {
        lat.extend(task.await.unwrap());
    }
    let infos = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    lat.sort();
    let p99 = lat
        .get(((lat.len() as f64 - 1.0) * 0.99).round() as usize)
        .copied()
        .unwrap_or_default();
    println!("{label:<10} refresh-token grants: {grants:8.1} /s  ({conns} rotating chains)");
    println!(
        "{label:<10} userinfo requests:    {infos:8.1} /s  (p99 {:.1} ms)",
        p99.as_secs_f64() * 1e3
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let secs: u64 = std::env::var("MAMIS_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let cores = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(2);
    let conns = cores * 4;
    println!("machine: {cores} cores; {conns} connections; {secs} s per phase");
    run("sqlite", mamis_testkit::spawn_sqlite().await, secs, conns).await;
    match mamis_testkit::spawn_postgres().await {
        Some(t) => run("postgres", t, secs, conns).await,
        None => println!("postgres   skipped (not reachable)"),
    }
}
