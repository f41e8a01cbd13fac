//! The `mamis` binary as an operator meets it: bad configuration explained in one line, the
//! audit chain verified and a tampered row named, reproducible demo data, tokens.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Output};

const AUDIT_KEY: &str = "cli-test-audit-key-0123456789abcdef0123";
const SECRET_KEY: &str = "cli-test-secret-key-0123456789abcdef012";

struct Dir(PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
fn tempdir() -> Dir {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "mamis-cli-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&d).unwrap();
    Dir(d)
}

fn mamis(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mamis"));
    for (k, _) in std::env::vars() {
        if k.starts_with("MAMIS_") {
            c.env_remove(k);
        }
    }
    c.args(args).envs(env.iter().copied()).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The failure is one line on stderr, prefixed `mamis:`, with a non-zero exit and no panic.
fn one_line_error(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "should fail: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, got: {err}");
    assert!(lines[0].starts_with("mamis: "), "{err}");
    assert!(lines[0].contains(needle), "expected '{needle}' in: {err}");
}

fn db(dir: &Dir) -> String {
    format!("sqlite://{}", dir.0.join("m.db").display())
}

#[test]
fn bad_configuration_is_one_clear_line() {
    let d = tempdir();
    let url = db(&d);
    one_line_error(
        &mamis(&["serve", "--database-url", "::not a url"], &[]),
        "cannot be parsed",
    );
    one_line_error(
        &mamis(&["serve", "--database-url", "mysql://db/mamis"], &[]),
        "scheme 'mysql' is not supported",
    );
    one_line_error(
        &mamis(&["serve", "--bind", "everywhere"], &[]),
        "is not IP:PORT",
    );
    one_line_error(
        &mamis(
            &["serve", "--database-url", &url, "--base-url", "ftp://x"],
            &[],
        ),
        "must be http",
    );
    // unwritable database paths
    one_line_error(
        &mamis(
            &["migrate", "--database-url", "sqlite:///no/such/dir/m.db"],
            &[],
        ),
        "does not exist",
    );
    one_line_error(
        &mamis(
            &["migrate", "--database-url", "sqlite:///proc/mamis.db"],
            &[],
        ),
        "cannot open the SQLite database",
    );
    // malformed TOML
    let toml = d.0.join("bad.toml");
    std::fs::write(&toml, "bind = \"127.0.0.1:1\"\n[[[oops\n").unwrap();
    one_line_error(
        &mamis(&["--config", toml.to_str().unwrap(), "config"], &[]),
        "not valid TOML",
    );
    let unknown = d.0.join("unknown.toml");
    std::fs::write(&unknown, "colour = \"blue\"\n").unwrap();
    one_line_error(
        &mamis(&["--config", unknown.to_str().unwrap(), "config"], &[]),
        "colour",
    );
    // missing secrets
    one_line_error(
        &mamis(
            &["serve", "--database-url", &url, "--bind", "127.0.0.1:0"],
            &[("MAMIS_AUDIT_KEY", AUDIT_KEY)],
        ),
        "MAMIS_SECRET_KEY is not set",
    );
    one_line_error(
        &mamis(&["audit", "verify", "--database-url", &url], &[]),
        "MAMIS_AUDIT_KEY is not set",
    );
    one_line_error(
        &mamis(
            &["serve", "--database-url", &url],
            &[("MAMIS_SECRET_KEY", "tooshort")],
        ),
        "too short",
    );
    one_line_error(
        &mamis(
            &["serve", "--database-url", &url],
            &[("MAMIS_SECRET_KEY_FILE", "/no/such/secret")],
        ),
        "cannot be read",
    );
}

#[test]
fn port_in_use_is_explained() {
    let d = tempdir();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = taken.local_addr().unwrap().to_string();
    let o = mamis(
        &[
            "serve",
            "--demo",
            "--bind",
            &bind,
            "--database-url",
            &db(&d),
        ],
        &[],
    );
    one_line_error(&o, "already in use");
}

#[test]
fn demo_refuses_a_public_address() {
    let d = tempdir();
    let o = mamis(
        &[
            "serve",
            "--demo",
            "--base-url",
            "https://mamis.example.jp",
            "--database-url",
            &db(&d),
        ],
        &[],
    );
    one_line_error(&o, "loopback");
    let o = mamis(
        &[
            "serve",
            "--demo",
            "--bind",
            "0.0.0.0:0",
            "--base-url",
            "http://127.0.0.1:8080",
            "--database-url",
            &db(&d),
        ],
        &[],
    );
    one_line_error(&o, "loopback");
}

#[test]
fn config_masks_secrets() {
    let o = mamis(
        &["config"],
        &[
            ("MAMIS_SECRET_KEY", SECRET_KEY),
            (
                "MAMIS_DATABASE_URL",
                "postgres://mamis:hunter2hunter2@db.internal/mamis",
            ),
        ],
    );
    let out = stdout(&o);
    assert!(o.status.success());
    assert!(
        out.contains("secret_key = \"***\" (set)") && out.contains("audit_key = (not set)"),
        "{out}"
    );
    assert!(
        !out.contains(SECRET_KEY) && !out.contains("hunter2"),
        "{out}"
    );
}

#[tokio::test]
async fn audit_verify_names_the_tampered_row() {
    let d = tempdir();
    let url = db(&d);
    let env = [
        ("MAMIS_AUDIT_KEY", AUDIT_KEY),
        ("MAMIS_SECRET_KEY", SECRET_KEY),
        ("MAMIS_DATABASE_URL", url.as_str()),
    ];
    let o = mamis(&["audit", "verify"], &env);
    assert_eq!(stdout(&o).trim(), "audit chain intact: 0 rows verified");
    for scope in ["P13-0001", "P27", "JMA"] {
        let role = match scope.len() {
            3 if scope != "JMA" => "prefecture_staff",
            3 => "jma_admin",
            _ => "county_staff",
        };
        let o = mamis(
            &[
                "token", "create", "--role", role, "--scope", scope, "--name", "test",
            ],
            &env,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(stdout(&o).contains("mamis_"), "the secret is shown once");
    }
    let o = mamis(&["audit", "verify"], &env);
    assert!(o.status.success());
    assert_eq!(stdout(&o).trim(), "audit chain intact: 3 rows verified");

    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE audit_log SET details = '{\"name\":\"forged\"}' WHERE seq = 2")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let o = mamis(&["audit", "verify"], &env);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("BROKEN at row 2"), "{}", stdout(&o));
}

#[test]
fn tokens_are_listed_and_revoked() {
    let d = tempdir();
    let url = db(&d);
    let env = [
        ("MAMIS_AUDIT_KEY", AUDIT_KEY),
        ("MAMIS_SECRET_KEY", SECRET_KEY),
        ("MAMIS_DATABASE_URL", url.as_str()),
    ];
    one_line_error(
        &mamis(
            &[
                "token",
                "create",
                "--role",
                "county_staff",
                "--scope",
                "P13",
            ],
            &env,
        ),
        "cannot be granted",
    );
    one_line_error(
        &mamis(
            &["token", "create", "--role", "boss", "--scope", "P13"],
            &env,
        ),
        "unknown role",
    );
    let o = mamis(
        &[
            "token",
            "create",
            "--role",
            "county_staff",
            "--scope",
            "P13-0001",
            "--name",
            "千代田区システム",
        ],
        &env,
    );
    let id = stdout(&o).split_whitespace().nth(1).unwrap().to_owned();
    let list = stdout(&mamis(&["token", "list"], &env));
    assert!(
        list.contains(&id) && list.contains("active") && list.contains("千代田区システム"),
        "{list}"
    );
    assert!(!list.contains("mamis_"), "secrets are never listed");
    assert!(mamis(&["token", "revoke", &id], &env).status.success());
    assert!(stdout(&mamis(&["token", "list"], &env)).contains("revoked"));
    one_line_error(&mamis(&["token", "revoke", &id], &env), "no active token");
}

#[test]
fn demo_generation_is_reproducible() {
    let hash = |seed: &str| {
        let d = tempdir();
        let o = mamis(
            &[
                "demo",
                "--doctors",
                "2000",
                "--seed",
                seed,
                "--database-url",
                &db(&d),
            ],
            &[],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        stdout(&o)
            .lines()
            .find_map(|l| l.strip_prefix("content hash: ").map(str::to_owned))
            .unwrap()
    };
    let a = hash("1");
    assert_eq!(a.len(), 64);
    assert_eq!(hash("1"), a);
    assert_ne!(hash("2"), a);
}

#[test]
fn mail_list_on_an_empty_outbox() {
    let d = tempdir();
    let o = mamis(&["mail", "list", "--database-url", &db(&d)], &[]);
    assert!(o.status.success());
    assert_eq!(stdout(&o).trim(), "the outbox is empty");
}

/// The action and hidden fields of the page's first POST form with a field named `field`, as a
/// browser would post them.
fn form_of(html: &str, field: &str) -> (String, Vec<(String, String)>) {
    let doc = scraper::Html::parse_document(html);
    let forms = scraper::Selector::parse("form[method=post]").unwrap();
    let named = scraper::Selector::parse(&format!("[name={field}]")).unwrap();
    let hidden = scraper::Selector::parse("input[type=hidden]").unwrap();
    let form = doc
        .select(&forms)
        .find(|f| f.select(&named).next().is_some())
        .unwrap_or_else(|| panic!("no form with {field} in {html}"));
    let fields = form
        .select(&hidden)
        .map(|i| {
            (
                i.value().attr("name").unwrap().to_owned(),
                i.value().attr("value").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (form.value().attr("action").unwrap().to_owned(), fields)
}

/// `mamis` run in `dir`, as a person would in the directory where they started the demo.
fn mamis_in(dir: &Dir, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mamis"));
    for (k, _) in std::env::vars() {
        if k.starts_with("MAMIS_") {
            c.env_remove(k);
        }
    }
    c.current_dir(&dir.0).args(args).output().unwrap()
}

/// The README's demo steps, taken literally: `serve --demo` in an empty directory (the SQLite
/// file and the generated keys land there; a free loopback port instead of 8080), register a new
/// MAMIS_ID on the site, find its mail with `mail list`, print it with `mail show ID`, follow the
/// link in it, and finish: set a password and log in with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_demo_registration_is_followed_through_mail_show() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let d = tempdir();
    let bind = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let base = format!("http://{bind}");
    let mut serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_mamis"));
    for (k, _) in std::env::vars() {
        if k.starts_with("MAMIS_") {
            serve.env_remove(k);
        }
    }
    let mut server = serve
        .current_dir(&d.0)
        .args(["serve", "--demo", "--bind", &bind])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // the console says when it serves; until then it prints the demo logins
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let mut console = String::new();
    let ready = tokio::time::timeout(std::time::Duration::from_secs(180), async {
        while let Some(l) = lines.next_line().await.unwrap() {
            console.push_str(&l);
            console.push('\n');
            if l.starts_with("MAMIS is serving") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ready.ok(), Some(true), "the demo did not start:\n{console}");
    assert!(
        console.contains(&format!("Log in at {base}/login")),
        "{console}"
    );
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    assert!(
        d.0.join("mamis.db").exists(),
        "the SQLite file in the current directory"
    );

    // register a new MAMIS_ID on the site
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: String| {
        let browser = browser.clone();
        let url = if path.starts_with("http") {
            path
        } else {
            format!("{base}{path}")
        };
        async move {
            let r = browser.get(&url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let post = |action: String, fields: Vec<(String, String)>| {
        let browser = browser.clone();
        let base = base.clone();
        async move {
            browser
                .post(format!("{base}{action}"))
                .header("origin", &base)
                .form(&fields)
                .send()
                .await
                .unwrap()
        }
    };
    let email = "readme.visitor@example.jp";
    let (status, page) = get("/register".into()).await;
    assert_eq!(status, 200);
    let (action, mut fields) = form_of(&page, "email");
    fields.push(("email".into(), email.into()));
    let r = post(action, fields).await;
    assert_eq!(r.status(), 200, "the 'mail sent' notice");

    // `mamis mail list`: one line per mail, the id first (the server's job worker writes the
    // mail moments after the request, as a visitor would find it)
    let mut tries = 0;
    let (list_out, line) = loop {
        let list = mamis_in(&d, &["mail", "list"]);
        let list_out = stdout(&list);
        assert!(list.status.success(), "{list_out}");
        if let Some(line) = list_out
            .lines()
            .find(|l| l.contains(email))
            .map(str::to_owned)
        {
            break (list_out, line);
        }
        tries += 1;
        assert!(tries < 100, "no mail to {email}:\n{list_out}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(list_out.lines().count() > 1, "{list_out}");
    let id = line.split_whitespace().next().unwrap().to_owned();
    assert_eq!(id.len(), 36, "{line}");

    // `mamis mail show ID`: the whole message, headers then body with the link
    let show = mamis_in(&d, &["mail", "show", &id]);
    let text = stdout(&show);
    assert!(show.status.success(), "{text}");
    let (headers, body) = text.split_once("\n\n").unwrap();
    assert!(
        headers.lines().any(|h| h == format!("Id: {id}")),
        "{headers}"
    );
    assert!(
        headers.lines().any(|h| h == format!("To: {email}")),
        "{headers}"
    );
    assert!(
        headers.lines().any(|h| h.starts_with("Subject: ")),
        "{headers}"
    );
    assert!(
        headers.lines().any(|h| h.starts_with("From: ")),
        "{headers}"
    );
    let prefix = format!("{base}/register/continue?token=");
    let link = body
        .split_whitespace()
        .find(|w| w.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no registration link in:\n{text}"))
        .to_owned();
    // an unknown id is one clear line
    one_line_error(
        &mamis_in(
            &d,
            &["mail", "show", "00000000-0000-0000-0000-000000000000"],
        ),
        "mamis mail list",
    );

    // follow the link: a button (so mail scanners do not spend it), then the account
    let (status, page) = get(link).await;
    assert_eq!(status, 200);
    let (action, fields) = form_of(&page, "token");
    let r = post(action, fields).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/mypage/identity");
    let (status, _) = get("/mypage/identity".into()).await;
    assert_eq!(status, 200, "logged in as the new account");
    // finish: a password, then a login with it in a fresh browser
    let password = "readme-demo-passphrase-7";
    let (status, page) = get("/mypage/password".into()).await;
    assert_eq!(status, 200);
    let (action, mut fields) = form_of(&page, "password");
    fields.push(("password".into(), password.into()));
    let r = post(action, fields).await;
    assert_eq!(r.status(), 303, "password set");
    let fresh = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = fresh
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (action, mut fields) = form_of(&page, "password");
    fields.push(("email".into(), email.into()));
    fields.push(("password".into(), password.into()));
    let r = fresh
        .post(format!("{base}{action}"))
        .header("origin", &base)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "logged in with the new password");
    assert_ne!(r.headers()["location"], "/login");
    server.kill().await.unwrap();
}

#[test]
fn legacy_import_is_all_or_nothing_with_a_line_report() {
    let d = tempdir();
    let url = db(&d);
    let env = [
        ("MAMIS_AUDIT_KEY", AUDIT_KEY),
        ("MAMIS_SECRET_KEY", SECRET_KEY),
        ("MAMIS_DATABASE_URL", url.as_str()),
    ];
    let bad = d.0.join("bad.csv");
    std::fs::write(&bad, "member_id,birth_date,password_hash\n0123456789,1970-01-02,\n123,1970-01-02,\n0123456788,19700230,\n0123456787,1970-01-02,$md5$abc\n").unwrap();
    let o = mamis(&["legacy", "import", bad.to_str().unwrap()], &env);
    assert_eq!(o.status.code(), Some(2));
    let out = stdout(&o);
    assert!(
        out.contains("line 3: member_id '123' is not 10 digits"),
        "{out}"
    );
    assert!(out.contains("line 4: birth_date"), "{out}");
    assert!(out.contains("line 5: password_hash"), "{out}");
    assert!(out.contains("nothing was imported: 3 problems in"), "{out}");
    assert!(
        out.starts_with("bad.csv: read as UTF-8") || out.contains(": read as UTF-8\n"),
        "{out}"
    );

    // one problem is "1 problem"; a birth date in the future is refused
    let one = d.0.join("one.csv");
    std::fs::write(&one, "member_id,birth_date\n0123456789,2099-01-01\n").unwrap();
    let out = stdout(&mamis(&["legacy", "import", one.to_str().unwrap()], &env));
    assert!(
        out.contains("line 2: birth_date '2099-01-01': the birth date is in the future"),
        "{out}"
    );
    assert!(out.contains("nothing was imported: 1 problem in"), "{out}");

    let missing = d.0.join("missing.csv");
    std::fs::write(&missing, "id,birthday\n0123456789,1970-01-02\n").unwrap();
    assert!(
        stdout(&mamis(
            &["legacy", "import", missing.to_str().unwrap()],
            &env
        ))
        .contains("member_id,birth_date")
    );

    // CP932 (Shift_JIS, as Excel saves it) with full-width digits
    let good = d.0.join("good.csv");
    let mut bytes = b"member_id,birth_date\r\n".to_vec();
    bytes.extend([
        0x82, 0x4F, 0x82, 0x50, 0x82, 0x51, 0x82, 0x52, 0x82, 0x53, 0x82, 0x54, 0x82, 0x55, 0x82,
        0x56, 0x82, 0x57, 0x82, 0x58,
    ]); // ０１２３４５６７８９
    bytes.extend(b",1970-01-02\r\n1234567890,19800517\r\n");
    std::fs::write(&good, bytes).unwrap();
    let o = mamis(&["legacy", "import", good.to_str().unwrap()], &env);
    assert!(o.status.success(), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("good.csv: read as CP932\n"), "{out}");
    assert!(
        out.contains("imported 2 legacy credentials, 0 unchanged, 0 replaced"),
        "{out}"
    );

    // a changed birth date replaces a credential only with --replace, and is reported
    let change = d.0.join("change.csv");
    std::fs::write(&change, "member_id,birth_date\n\n1234567890,S55.5.18\n").unwrap();
    let o = mamis(&["legacy", "import", change.to_str().unwrap()], &env);
    assert_eq!(o.status.code(), Some(2));
    let out = stdout(&o);
    assert!(out.contains("line 3: member_id 1234567890 already has a legacy credential; run the import with --replace"), "{out}");
    let o = mamis(
        &["legacy", "import", "--replace", change.to_str().unwrap()],
        &env,
    );
    assert!(o.status.success(), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("imported 1 legacy credential, 0 unchanged, 1 replaced"),
        "{out}"
    );
    assert!(
        out.contains("line 3: replaced the credential of 1234567890"),
        "{out}"
    );
}

#[test]
fn staff_create_prints_an_enrolment_link() {
    let d = tempdir();
    let url = db(&d);
    let env = [
        ("MAMIS_AUDIT_KEY", AUDIT_KEY),
        ("MAMIS_SECRET_KEY", SECRET_KEY),
        ("MAMIS_DATABASE_URL", url.as_str()),
    ];
    let o = mamis(
        &[
            "staff",
            "create",
            "--role",
            "prefecture_staff",
            "--scope",
            "P13",
            "--email",
            "Staff@Tokyo.Example.JP",
        ],
        &env,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout(&o).contains("http://127.0.0.1:8080/staff/enrol?token="),
        "{}",
        stdout(&o)
    );
    one_line_error(
        &mamis(
            &[
                "staff",
                "create",
                "--role",
                "county_staff",
                "--scope",
                "P13",
                "--email",
                "x@example.jp",
            ],
            &env,
        ),
        "cannot be granted",
    );
    one_line_error(
        &mamis(
            &[
                "staff",
                "create",
                "--role",
                "prefecture_staff",
                "--scope",
                "P13",
                "--email",
                "staff@tokyo.example.jp",
            ],
            &env,
        ),
        "address taken",
    );
    one_line_error(
        &mamis(
            &[
                "staff",
                "create",
                "--role",
                "county_staff",
                "--scope",
                "P13-0999",
                "--email",
                "y@example.jp",
            ],
            &env,
        ),
        "association",
    );
}

#[test]
fn keys_rotate_and_list() {
    let d = tempdir();
    let url = db(&d);
    let env = [
        ("MAMIS_AUDIT_KEY", AUDIT_KEY),
        ("MAMIS_SECRET_KEY", SECRET_KEY),
        ("MAMIS_DATABASE_URL", url.as_str()),
    ];
    let o = mamis(&["keys", "rotate"], &env);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout(&o).starts_with("now signing with "),
        "{}",
        stdout(&o)
    );
    let o = mamis(&["keys", "rotate"], &env);
    let list = stdout(&mamis(&["keys", "list"], &env));
    assert_eq!(
        list.lines().filter(|l| l.contains(" active ")).count(),
        2,
        "{list}"
    );
    assert_eq!(
        list.lines().filter(|l| l.contains("retired")).count(),
        2,
        "{list}"
    );
    assert!(list.contains("RS256") && list.contains("ES256"));
    assert!(o.status.success());
    one_line_error(
        &mamis(&["keys", "rotate"], &[("MAMIS_DATABASE_URL", url.as_str())]),
        "MAMIS_SECRET_KEY is not set",
    );
}

#[test]
fn an_empty_sqlite_path_and_a_silent_postgres_are_one_clear_line() {
    one_line_error(
        &mamis(&["serve", "--database-url", "sqlite://"], &[]),
        "names no SQLite file",
    );
    // a loopback port that accepts and never answers, as a stuck server or a firewall would
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut held = Vec::new();
        if let Ok((s, _)) = silent.accept() {
            held.push(s);
            std::thread::sleep(std::time::Duration::from_secs(5));
        }
    });
    let url = format!("postgres://postgres@127.0.0.1:{port}/mamis");
    one_line_error(
        &mamis(
            &["serve", "--database-url", &url],
            &[
                ("MAMIS_DATABASE_CONNECT_SECONDS", "1"),
                ("MAMIS_SECRET_KEY", AUDIT_KEY),
                ("MAMIS_AUDIT_KEY", AUDIT_KEY),
            ],
        ),
        "no answer within 1 s",
    );
    held.join().unwrap();
}
