//! Real Chromium, driven through chromedriver (Debian `chromium` + `chromium-driver`), for the
//! few flows that must be seen in a browser.

use std::process::Stdio;

use fantoccini::{Client, ClientBuilder};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Where Debian installs the driver and the browser.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A headless browser session; the driver process dies with it.
pub struct Browser {
    /// The WebDriver session the test drives (navigate, find, click).
    pub client: Client,
    _driver: Child,
    profile: std::path::PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Whether the browser test can run here. Outside CI a missing browser skips loudly; in CI
/// (`CI=true`) it fails, since `.ci/run` installs it.
pub fn available() -> bool {
    let ok = std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists();
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "chromium / chromium-driver are not installed; .ci/run installs them (apt-get install chromium chromium-driver)"
            );
        }
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED (browser test): {CHROMEDRIVER} or {CHROMIUM} missing — apt-get install chromium chromium-driver"
        );
    }
    ok
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless Chromium session.
    pub async fn start() -> Browser {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        // Wait for the driver's own readiness line instead of sleeping.
        let out = driver.stdout.take().unwrap();
        let mut lines = BufReader::new(out).lines();
        loop {
            match lines.next_line().await.unwrap() {
                Some(l) if l.contains("started successfully") => break,
                Some(_) => continue,
                None => panic!("chromedriver exited before it was ready"),
            }
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let profile =
            std::env::temp_dir().join(format!("mamis-chromium-{}", uuid::Uuid::new_v4().simple()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--disable-quic", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("open a Chromium session");
        Browser {
            client,
            _driver: driver,
            profile,
        }
    }

    /// Ends the session cleanly.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// Types into the field with this id once it is on the page (what was there is cleared).
pub async fn fill(c: &Client, id: &str, value: &str) {
    let e = c
        .wait()
        .for_element(fantoccini::Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no #{id}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

/// Clicks the element with this id once it is on the page.
pub async fn click(c: &Client, id: &str) {
    c.wait()
        .for_element(fantoccini::Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no #{id}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Clicks the first element matching `css` once there is one (for what has no id: a button
/// of a list row, an option).
pub async fn press(c: &Client, css: &str) {
    c.wait()
        .for_element(fantoccini::Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// The text of the first element matching `css`, once there is one.
pub async fn text(c: &Client, css: &str) -> String {
    c.wait()
        .for_element(fantoccini::Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Chooses the option with this value in the select with this id.
pub async fn choose(c: &Client, id: &str, value: &str) {
    c.wait()
        .for_element(fantoccini::Locator::Css(&format!(
            "#{id} option[value='{value}']"
        )))
        .await
        .unwrap_or_else(|e| panic!("no option {value} in #{id}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Logs in from the login page as a person would, after clearing the browser's cookies; staff
/// (a TOTP secret given) answer the second step with a fresh code of their secret.
pub async fn login<S: mamis_store::Store>(
    t: &crate::TestApp<S>,
    c: &Client,
    account: &(String, String, String, Option<String>),
) {
    use mamis_domain::identity::totp as rfc6238;
    c.goto(&t.url("/login")).await.unwrap();
    c.delete_all_cookies().await.unwrap();
    c.goto(&t.url("/login")).await.unwrap();
    fill(c, "email", &account.1).await;
    fill(c, "password", &account.2).await;
    click(c, "login-submit").await;
    if let Some(secret) = &account.3 {
        t.clock.advance(chrono::Duration::seconds(31));
        let code = rfc6238::code(&crate::base32_decode(secret), rfc6238::step_of(t.app.now()));
        fill(c, "code", &code).await;
        click(c, "code-submit").await;
    }
    c.wait()
        .for_element(fantoccini::Locator::Id("logout"))
        .await
        .unwrap();
}

/// Waits (bounded, 10 s) until nothing matches `css`: the page that follows a form submission
/// has loaded (navigating on before it does would abort the post).
pub async fn wait_gone(c: &Client, css: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while c.find(fantoccini::Locator::Css(css)).await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "{css} is still shown after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
