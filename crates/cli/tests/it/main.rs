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
