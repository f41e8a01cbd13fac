//! The test harness: a real MAMIS server in-process on `127.0.0.1:0`, on SQLite or PostgreSQL,
//! with a settable clock, the mail outbox as captured mail, typed helpers, and a Chromium
//! driver for browser tests. Test support code: panics here are test failures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod browser;

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use mamis_app::jobs::{JobHandler, Worker};
use mamis_app::{App, AppConfig, Secret, mail};
use mamis_domain::time::FakeClock;
use mamis_store::{OutboxMail, Store};
use mamis_store_postgres::PgStore;
use mamis_store_postgres::testdb::TestDatabase;
use mamis_store_sqlite::SqliteStore;
use tokio::sync::oneshot;

/// The audit key every test server uses.
pub const AUDIT_KEY: &str = "test-audit-key-0123456789abcdef0123456789";
/// The secret key every test server uses.
pub const SECRET_KEY: &str = "test-secret-key-0123456789abcdef012345678";

/// Where every test clock starts: 2026-06-01 09:00 Japan time.
pub fn start_instant() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T09:00:00+09:00")
        .unwrap()
        .with_timezone(&Utc)
}

/// Raw SQL under the store, for tests that must tamper with what the app wrote.
pub trait RawSql {
    /// Runs one statement.
    fn exec(&self, sql: &'static str) -> impl std::future::Future<Output = ()> + Send;
}

impl RawSql for SqliteStore {
    async fn exec(&self, sql: &'static str) {
        sqlx::query(sql).execute(self.pool()).await.unwrap();
    }
}

impl RawSql for PgStore {
    async fn exec(&self, sql: &'static str) {
        sqlx::query(sql).execute(self.pool()).await.unwrap();
    }
}

enum Guard {
    Dir(std::path::PathBuf),
    Pg(TestDatabase),
}

/// A running server and everything a test needs to drive and observe it.
pub struct TestApp<S: Store> {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub base_url: String,
    /// The server's clock; moving it moves time for the server.
    pub clock: FakeClock,
    /// The app context the server runs on (same store, same clock).
    pub app: App<S>,
    /// A client that keeps cookies and does not follow redirects.
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    guard: Option<Guard>,
}

impl<S: Store> Drop for TestApp<S> {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(Guard::Dir(d)) = &self.guard {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

async fn start<S: Store>(
    store: S,
    guard: Option<Guard>,
    edit: impl FnOnce(&mut AppConfig),
) -> TestApp<S> {
    start_web(store, guard, edit, mamis_web::WebConfig::default()).await
}

async fn start_web<S: Store>(
    store: S,
    guard: Option<Guard>,
    edit: impl FnOnce(&mut AppConfig),
    web_config: mamis_web::WebConfig,
) -> TestApp<S> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base_url = format!("http://{addr}");
    let clock = FakeClock::new(start_instant());
    let mut config = AppConfig {
        base_url: url::Url::parse(&base_url).unwrap(),
        audit_key: Secret::new(AUDIT_KEY.as_bytes().to_vec()),
        secret_key: Secret::new(SECRET_KEY.as_bytes().to_vec()),
        smtp_url: None,
        mail_from: "MAMIS <no-reply@mamis.invalid>".into(),
        job_lease: chrono::Duration::seconds(60),
        password_cost: mamis_app::identity::passwords::Cost::TEST,
        hash_parallelism: 4,
        sessions: mamis_domain::identity::SessionPolicy::default(),
        legacy_until: mamis_domain::identity::LegacyCutover::default_instant(),
        oidc: Default::default(),
        limits: Default::default(),
        previews: Default::default(),
        membership: mamis_app::membership::Settings {
            evidence_dir: std::env::temp_dir()
                .join(format!("mamis-evidence-{}", uuid::Uuid::new_v4())),
            ..Default::default()
        },
    };
    edit(&mut config);
    let app = App::new(store, Arc::new(clock.clone()), config).unwrap();
    // as `mamis serve` does at start: signing keys and the portal's client registration
    mamis_app::oidc::keys::ensure(&app).await.unwrap();
    mamis_app::portal::rp::ensure_client(&app).await.unwrap();
    let web = mamis_web::WebState::new(app.clone(), web_config).unwrap();
    let router = mamis_web::router(web);
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = rx.await;
        })
        .await;
    });
    TestApp {
        base_url,
        clock,
        app,
        client: browser(),
        shutdown: Some(tx),
        guard,
    }
}

/// A server on a fresh SQLite file.
pub async fn spawn_sqlite() -> TestApp<SqliteStore> {
    let dir = std::env::temp_dir().join(format!("mamis-testkit-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::connect(&format!("sqlite://{}", dir.join("t.db").display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    start(store, Some(Guard::Dir(dir)), |_| {}).await
}

/// A server on a fresh SQLite file with adjusted settings (benchmarks: production hashing cost).
pub async fn spawn_sqlite_with(edit: impl FnOnce(&mut AppConfig)) -> TestApp<SqliteStore> {
    let dir = std::env::temp_dir().join(format!("mamis-testkit-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::connect(&format!("sqlite://{}", dir.join("t.db").display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    start(store, Some(Guard::Dir(dir)), edit).await
}

/// A server on a fresh SQLite file with its own HTTP-layer settings (trusted proxies, the
/// `/metrics` allow-list).
pub async fn spawn_sqlite_web(web: mamis_web::WebConfig) -> TestApp<SqliteStore> {
    let dir = std::env::temp_dir().join(format!("mamis-testkit-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::connect(&format!("sqlite://{}", dir.join("t.db").display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    start_web(store, Some(Guard::Dir(dir)), |_| {}, web).await
}

/// A server on a fresh PostgreSQL database cloned from the migrated template; `None` (reported
/// loudly) when PostgreSQL is unreachable outside CI. In CI an unreachable server fails the test.
pub async fn spawn_postgres() -> Option<TestApp<PgStore>> {
    let db = match TestDatabase::create().await {
        Ok(Some(db)) => db,
        Ok(None) => return None,
        Err(e) => panic!("{e}"),
    };
    let store = db.store.clone();
    Some(start(store, Some(Guard::Pg(db)), |_| {}).await)
}

impl TestApp<PgStore> {
    /// A second server on this server's database — its own pool, process state and clock — as
    /// a second `mamis serve` behind a load balancer would be.
    pub async fn second_server(&self) -> TestApp<PgStore> {
        let Some(Guard::Pg(db)) = &self.guard else {
            panic!("second_server needs a server started by spawn_postgres");
        };
        let store = PgStore::connect(&db.url).await.unwrap();
        start(store, None, |_| {}).await
    }
}

/// A server on an existing, already migrated database that it leaves in place when dropped
/// (benchmarks on a data set loaded once by `mamis demo`).
pub async fn spawn_on<S: Store>(store: S) -> TestApp<S> {
    start(store, None, |_| {}).await
}

impl<S: Store> TestApp<S> {
    /// An absolute URL on the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Today in Japan by the server's clock.
    pub fn clock_date(&self) -> chrono::NaiveDate {
        mamis_domain::time::japan_date(self.app.now())
    }

    /// GET a path with the cookie-keeping client.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// GET an API path with a bearer token.
    pub async fn api_get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// The mail outbox, newest first: the captured mail of this server.
    pub async fn mails(&self) -> Vec<OutboxMail> {
        mail::list(&self.app.store, 1_000).await.unwrap()
    }

    /// A worker running the given handlers plus the standard ones.
    pub fn worker(&self, mut handlers: Vec<Arc<dyn JobHandler<S>>>) -> Worker<S> {
        handlers.push(Arc::new(mail::SendMail));
        handlers.push(Arc::new(mamis_app::identity::mail_requests::ResetMailJob));
        handlers.push(Arc::new(
            mamis_app::identity::mail_requests::RegisterMailJob,
        ));
        handlers.push(Arc::new(mamis_app::migration::RemindJob));
        handlers.push(Arc::new(mamis_app::cme::certificates::DecideJob));
        handlers.push(Arc::new(mamis_app::cme::certificates::RedecideJob));
        handlers.push(Arc::new(mamis_app::membership::LapseJob));
        handlers.push(Arc::new(mamis_app::membership::RemindJob));
        handlers.push(Arc::new(mamis_app::programmes::certificates::ScanJob));
        handlers.push(Arc::new(mamis_app::programmes::certificates::RemindJob));
        handlers.push(Arc::new(mamis_app::learning::PublishJob));
        handlers.push(Arc::new(mamis_app::learning::CreditJob));
        Worker::new(self.app.clone(), handlers)
    }
}

/// Whether `MAMIS_TEST_BACKENDS` (comma-separated, default `sqlite,postgres`) selects `backend`;
/// a deselected backend is reported as skipped.
pub fn backend_selected(backend: &str) -> bool {
    let chosen = std::env::var("MAMIS_TEST_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let on = chosen
        .split(',')
        .any(|b| b.trim().eq_ignore_ascii_case(backend));
    if !on {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED ({backend} not in MAMIS_TEST_BACKENDS={chosen})"
        );
    }
    on
}

/// Runs an async test body on each backend the environment selects (both by default): expands
/// to a module with one test per backend, so the output names both. `$body` is a generic
/// `async fn(TestApp<S>)`.
#[macro_export]
macro_rules! app_test {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if $crate::backend_selected("sqlite") {
                    super::$body($crate::spawn_sqlite().await).await;
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::backend_selected("postgres") {
                    if let Some(app) = $crate::spawn_postgres().await {
                        super::$body(app).await;
                    }
                }
            }
        }
    };
}

/// Decodes an RFC 4648 base32 TOTP secret as an authenticator app would (the demo and the
/// enrolment page show secrets this way).
pub fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0, Vec::new());
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// A staff account enrolled as a person would be (the one-time link, a password, TOTP), then
/// logged in through the pages; returns its browser and its principal for use-case calls.
/// Moves the clock 30 s so the login's TOTP code is a fresh one.
pub async fn staff_user<S: Store>(
    t: &TestApp<S>,
    email: &str,
    password: &str,
    grant: mamis_domain::RoleGrant,
) -> (reqwest::Client, mamis_domain::Principal) {
    use mamis_app::identity::{recovery, sessions::Origin, totp};
    use mamis_domain::identity::totp as rfc6238;
    use mamis_store::{IdentityStore, Tx};
    let job = mamis_domain::Principal::Job {
        kind: "test".into(),
    };
    let link = recovery::create_staff(&t.app, &job, email, "事務局 担当", grant.clone())
        .await
        .unwrap();
    let token = link.split("token=").nth(1).unwrap();
    recovery::enrol_staff(&t.app, token, password, &Origin::default())
        .await
        .unwrap();
    let mut tx = t.app.store.read().await.unwrap();
    let acc = tx.account_by_email(email).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    let e = totp::begin(&t.app, &acc).unwrap();
    let secret = base32_decode(&e.secret_base32);
    let code = rfc6238::code(&secret, rfc6238::step_of(t.app.now()));
    totp::confirm(&t.app, &acc, &e.sealed, &code).await.unwrap();
    t.clock.advance(chrono::Duration::seconds(30));
    let browser = staff_login(t, email, password, &secret).await;
    let principal = mamis_domain::Principal::Staff {
        account_id: acc.id,
        grants: vec![grant],
    };
    (browser, principal)
}

/// A fresh browser: its own cookie jar, redirects not followed (tests read each one).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Submits the login form in `ua` as a person would (the page's CSRF token, no `next`);
/// returns the form's response and the token, which later forms of the same browser reuse.
pub async fn password_login<S: Store>(
    t: &TestApp<S>,
    ua: &reqwest::Client,
    email: &str,
    password: &str,
) -> (reqwest::Response, String) {
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
            ("email", email),
            ("password", password),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap();
    (r, csrf)
}

/// A browser logged in as a staff account through `/login` and `/login/totp`, as a person
/// would; lands on `/office`.
pub async fn staff_login<S: Store>(
    t: &TestApp<S>,
    email: &str,
    password: &str,
    totp_secret: &[u8],
) -> reqwest::Client {
    use mamis_domain::identity::totp as rfc6238;
    let ua = browser();
    let (r, csrf) = password_login(t, &ua, email, password).await;
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with("/login/totp"), "{to}");
    let code = rfc6238::code(totp_secret, rfc6238::step_of(t.app.now()));
    let r = ua
        .post(t.url(&to))
        .header("origin", &t.base_url)
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/office");
    ua
}

/// Parses an HTML page for assertions on what a person sees.
pub fn html(text: &str) -> scraper::Html {
    scraper::Html::parse_document(text)
}

/// The text of every element matching `selector`, trimmed.
pub fn texts(doc: &scraper::Html, selector: &str) -> Vec<String> {
    let sel = scraper::Selector::parse(selector).unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

/// The value of `attr` on the first element matching `selector`.
pub fn attr(doc: &scraper::Html, selector: &str, attr: &str) -> Option<String> {
    let sel = scraper::Selector::parse(selector).unwrap();
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr(attr))
        .map(str::to_owned)
}
