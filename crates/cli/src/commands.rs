//! The subcommands, wired generically over the store so each runs on SQLite or PostgreSQL.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use mamis_app::audit::{self, Verification};
use mamis_app::jobs::{JobHandler, Worker};
use mamis_app::{App, AppConfig, Secret, demo, mail, tokens};
use mamis_domain::time::to_japan;
use mamis_domain::{AssociationCode, Principal, Role, RoleGrant, Scope, SystemClock};
use mamis_store::Store;
use mamis_store_postgres::PgStore;
use mamis_store_sqlite::SqliteStore;
use tokio::net::TcpListener;

use crate::config::{self, Config, DbKind, Overrides};
use crate::{
    AuditCmd, CertificatesCmd, Cli, ClientCmd, Cmd, KeysCmd, LedgerCmd, LegacyCmd, MailCmd,
    ProgrammesCmd, StaffCmd, TokenCmd,
};

fn env_vars() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("MAMIS_"))
        .collect()
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let overrides = match &cli.cmd {
        Cmd::Serve { bind, base_url, .. } => Overrides {
            bind: bind.clone(),
            database_url: cli.database_url.clone(),
            base_url: base_url.clone(),
        },
        _ => Overrides {
            database_url: cli.database_url.clone(),
            ..Default::default()
        },
    };
    if let Cmd::Openapi = cli.cmd {
        println!("{}", mamis_web::openapi_json().map_err(|e| anyhow!("{e}"))?);
        return Ok(ExitCode::SUCCESS);
    }
    let cfg =
        config::load(cli.config.as_deref(), &env_vars(), &overrides).map_err(|e| anyhow!("{e}"))?;
    if let Cmd::Config = cli.cmd {
        print!("{}", cfg.describe());
        return Ok(ExitCode::SUCCESS);
    }
    let demo_mode = matches!(cli.cmd, Cmd::Serve { demo: true, .. });
    if demo_mode {
        refuse_public_demo(&cfg)?;
    }
    match cfg.db_kind {
        DbKind::Sqlite => {
            let store = open_sqlite(&cfg).await?;
            let r = dispatch(store.clone(), &cfg, cli.cmd).await;
            store.close().await;
            r
        }
        DbKind::Postgres => {
            let store = tokio::time::timeout(cfg.database_connect, PgStore::connect(&cfg.database_url))
                .await
                .map_err(|_| {
                    anyhow!(
                        "cannot connect to PostgreSQL at {}: no answer within {} s; check that it runs and the URL is right (MAMIS_DATABASE_URL, MAMIS_DATABASE_CONNECT_SECONDS)",
                        config::mask_password(&cfg.database_url),
                        cfg.database_connect.as_secs()
                    )
                })?
                .map_err(|e| {
                    anyhow!(
                        "cannot connect to PostgreSQL at {}: {e}; check that it runs and the URL is right (MAMIS_DATABASE_URL)",
                        config::mask_password(&cfg.database_url)
                    )
                })?;
            store
                .migrate()
                .await
                .map_err(|e| anyhow!("migrating PostgreSQL failed: {e}"))?;
            let r = dispatch(store.clone(), &cfg, cli.cmd).await;
            store.close().await;
            r
        }
    }
}

fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

fn refuse_public_demo(cfg: &Config) -> anyhow::Result<()> {
    let loopback = cfg.base_url.host().as_ref().is_some_and(is_loopback_host);
    if !loopback {
        bail!(
            "--demo seeds publicly known logins, so it only runs with a loopback base URL (127.0.0.1, localhost, [::1]); got {}",
            cfg.base_url
        );
    }
    if !cfg.bind.ip().is_loopback() {
        bail!(
            "--demo only listens on a loopback address; got --bind {}",
            cfg.bind
        );
    }
    Ok(())
}

async fn open_sqlite(cfg: &Config) -> anyhow::Result<SqliteStore> {
    if let Some(path) = cfg.sqlite_path() {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if !dir.is_dir() {
            bail!(
                "the directory {} for the SQLite database does not exist; create it or choose another --database-url",
                dir.display()
            );
        }
    }
    let store = SqliteStore::connect_with_busy(&cfg.database_url, cfg.sqlite_busy).await.map_err(|e| {
        anyhow!(
            "cannot open the SQLite database {}: {e}; check that the file and its directory are writable, or choose another --database-url",
            cfg.database_url
        )
    })?;
    store.migrate().await.map_err(|e| {
        anyhow!("cannot migrate the SQLite database {}: {e}; is the file writable and not from a newer MAMIS?", cfg.database_url)
    })?;
    Ok(store)
}

/// With `--demo` and no key configured, a random key is generated once into the data directory
/// (next to the SQLite file) and reused on later starts; otherwise a missing key is an error.
fn key(
    cfg: &Config,
    value: &Option<String>,
    name: &str,
    demo_mode: bool,
) -> anyhow::Result<Secret> {
    match (value, demo_mode) {
        (Some(k), _) => Ok(Secret::new(k.as_bytes().to_vec())),
        (None, true) => {
            let dir = cfg
                .sqlite_path()
                .and_then(|p| p.parent().map(std::path::Path::to_path_buf))
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or_else(|| std::path::PathBuf::from("."));
            let file = dir.join(format!(".{}", name.to_ascii_lowercase().replace('_', "-")));
            if let Ok(k) = std::fs::read_to_string(&file) {
                return Ok(Secret::new(k.trim().as_bytes().to_vec()));
            }
            let (k, _) = mamis_app::identity::crypto::new_secret();
            write_private(&file, &k)
                .with_context(|| format!("cannot write the demo key {}", file.display()))?;
            println!(
                "Generated {name} for the demo into {} (use {name}_FILE to reuse it).",
                file.display()
            );
            Ok(Secret::new(k.into_bytes()))
        }
        (None, false) => Err(anyhow!(
            "{name} is not set; set it (or {name}_FILE) to at least 32 random characters, e.g. `openssl rand -hex 32`, and keep it outside the database"
        )),
    }
}

fn write_private(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(content.as_bytes())
}

fn audit_key(cfg: &Config, demo_mode: bool) -> anyhow::Result<Secret> {
    key(cfg, &cfg.audit_key, "MAMIS_AUDIT_KEY", demo_mode)
}

fn keys(cfg: &Config, demo_mode: bool) -> anyhow::Result<(Secret, Secret)> {
    Ok((
        key(cfg, &cfg.secret_key, "MAMIS_SECRET_KEY", demo_mode)?,
        audit_key(cfg, demo_mode)?,
    ))
}

fn app_for<S: Store>(
    store: S,
    cfg: &Config,
    secret_key: Secret,
    audit_key: Secret,
) -> anyhow::Result<App<S>> {
    let parallel = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(2);
    App::new(
        store,
        Arc::new(SystemClock),
        AppConfig {
            base_url: cfg.base_url.clone(),
            audit_key,
            secret_key,
            smtp_url: cfg.smtp_url.clone(),
            mail_from: cfg.mail_from.clone(),
            job_lease: chrono::Duration::seconds(
                i64::try_from(cfg.job_lease_seconds).unwrap_or(300),
            ),
            password_cost: mamis_app::identity::passwords::Cost::OWASP,
            hash_parallelism: parallel,
            sessions: cfg.sessions,
            legacy_until: cfg.legacy_until,
            oidc: cfg.oidc,
            limits: cfg.limits,
            previews: cfg.previews,
            membership: cfg.membership.clone(),
        },
    )
    .map_err(|e| anyhow!("{e}"))
}

fn cli_principal() -> Principal {
    let user = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    Principal::Job {
        kind: format!("cli:{user}"),
    }
}

async fn dispatch<S: Store>(store: S, cfg: &Config, cmd: Cmd) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Serve { demo, .. } => serve(store, cfg, demo).await,
        Cmd::Migrate => {
            println!(
                "database is migrated: {}",
                config::mask_password(&cfg.database_url)
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Config | Cmd::Openapi => Ok(ExitCode::SUCCESS),
        Cmd::Demo {
            doctors,
            seed,
            ledger_entries,
        } => generate(store, cfg, doctors, seed, ledger_entries).await,
        Cmd::Token { cmd } => {
            let (sk, ak) = keys(cfg, false)?;
            let app = app_for(store, cfg, sk, ak)?;
            token(app, cmd).await
        }
        Cmd::Staff {
            cmd:
                StaffCmd::Create {
                    role,
                    scope,
                    email,
                    name,
                },
        } => {
            let (sk, ak) = keys(cfg, false)?;
            let app = app_for(store, cfg, sk, ak)?;
            let grant = mamis_app::identity::recovery::parse_grant(&role, &scope)
                .map_err(|e| anyhow!("{e}"))?;
            let link = mamis_app::identity::recovery::create_staff(
                &app,
                &cli_principal(),
                &email,
                &name,
                grant,
            )
            .await
            .map_err(|e| anyhow!("cannot create the staff account: {e}"))?;
            println!(
                "staff account {email} created. Send this one-time enrolment link (valid 72 hours):\n{link}"
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Legacy {
            cmd: LegacyCmd::Import { file, replace },
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let (sk, ak) = keys(cfg, false)?;
            let app = app_for(store, cfg, sk, ak)?;
            let report =
                mamis_app::identity::legacy::import(&app, &cli_principal(), &bytes, replace).await;
            let (Ok(r) | Err(r)) = &report;
            println!("{}: read as {}", file.display(), r.encoding);
            match &report {
                Ok(r) => {
                    println!(
                        "imported {}, {} unchanged, {} replaced",
                        count(r.imported, "legacy credential", "legacy credentials"),
                        r.unchanged,
                        r.total_replaced
                    );
                    for x in &r.replaced {
                        println!(
                            "line {}: replaced the credential of {}",
                            x.line, x.member_id
                        );
                    }
                    if r.total_replaced > r.replaced.len() {
                        println!(
                            "… and {} more",
                            count(
                                r.total_replaced - r.replaced.len(),
                                "replaced credential",
                                "replaced credentials"
                            )
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(r) => {
                    for p in &r.problems {
                        match p.line {
                            0 => println!("file: {}", p.message),
                            line => println!("line {line}: {}", p.message),
                        }
                    }
                    if r.total_problems > r.problems.len() {
                        println!(
                            "… and {}",
                            count(
                                r.total_problems - r.problems.len(),
                                "more problem",
                                "more problems"
                            )
                        );
                    }
                    println!(
                        "nothing was imported: {} in {}",
                        count(r.total_problems, "problem", "problems"),
                        file.display()
                    );
                    Ok(ExitCode::from(2))
                }
            }
        }
        Cmd::Ledger {
            cmd: LedgerCmd::ImportHistory { file },
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let (sk, ak) = keys(cfg, false)?;
            let app = app_for(store, cfg, sk, ak)?;
            let r = mamis_app::cme::history::import_ledger_history(&app, &cli_principal(), &bytes)
                .await
                .map_err(|e| anyhow!("cannot import {}: {e}", file.display()))?;
            Ok(history_report(&r, &file, "ledger entries"))
        }
        Cmd::Programmes {
            cmd: ProgrammesCmd::ImportHistory { file },
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let (sk, ak) = keys(cfg, false)?;
            let app = app_for(store, cfg, sk, ak)?;
            let r = mamis_app::programmes::history::import_history(&app, &cli_principal(), &bytes)
                .await
                .map_err(|e| anyhow!("cannot import {}: {e}", file.display()))?;
            Ok(history_report(&r, &file, "programme entries"))
        }
        Cmd::Certificates {
            cmd: CertificatesCmd::Issue { fiscal_year },
        } => {
            let fy = mamis_domain::FiscalYear::new(fiscal_year).map_err(|e| anyhow!("{e}"))?;
            let (sk, ak) = keys(cfg, false)?;
            let app = app_for(store, cfg, sk, ak)?;
            let tty = std::io::stderr().is_terminal();
            let started = Instant::now();
            let r =
                mamis_app::cme::certificates::decide(&app, &cli_principal(), fy, |done, all| {
                    if tty {
                        let pct = done * 100 / all.max(1);
                        let bar = "#".repeat(usize::try_from(pct / 4).unwrap_or(0));
                        eprint!("\r[{bar:<25}] {done}/{all} doctors ({pct}%)");
                        let _ = std::io::stderr().flush();
                    }
                    std::ops::ControlFlow::Continue(())
                })
                .await
                .map_err(|e| anyhow!("cannot decide FY{fiscal_year}: {e}"))?;
            if tty {
                eprintln!();
            }
            if r.empty_ledger {
                println!(
                    "FY{fiscal_year}: the CME ledger is empty; nothing decided (the year stays undecided until credits or history arrive)"
                );
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "FY{fiscal_year}: {} doctors looked at, {} certificates issued in {:.1} s",
                r.doctors,
                r.issued,
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Certificates {
            cmd: CertificatesCmd::ImportHistory { file },
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let (sk, ak) = keys(cfg, false)?;
            let app = app_for(store, cfg, sk, ak)?;
            let r =
                mamis_app::cme::history::import_certificate_history(&app, &cli_principal(), &bytes)
                    .await
                    .map_err(|e| anyhow!("cannot import {}: {e}", file.display()))?;
            Ok(history_report(&r, &file, "certificates"))
        }
        Cmd::Client { cmd } => {
            let (sk, ak) = keys(cfg, false)?;
            let app = app_for(store, cfg, sk, ak)?;
            match cmd {
                ClientCmd::Create {
                    name,
                    redirect_uris,
                    post_logout_redirect_uris,
                    public,
                    first_party,
                    scopes,
                    allow_iseki,
                    alg,
                } => {
                    let alg = mamis_app::oidc::keys::Alg::parse(&alg)
                        .ok_or_else(|| anyhow!("--alg must be RS256 or ES256"))?;
                    let new = mamis_app::oidc::provider::NewClient {
                        name,
                        redirect_uris,
                        post_logout_redirect_uris,
                        public,
                        first_party,
                        scopes: scopes
                            .split([' ', ','])
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect(),
                        allow_iseki,
                        id_token_alg: alg,
                    };
                    let (client, secret) =
                        mamis_app::oidc::provider::create_client(&app, &cli_principal(), new)
                            .await
                            .map_err(|e| anyhow!("cannot create the client: {e}"))?;
                    println!("client_id     {}", client.id);
                    match secret {
                        Some(s) => println!("client_secret {s}   (shown only now)"),
                        None => println!("public client: no secret; PKCE (S256) is required"),
                    }
                }
                ClientCmd::List => {
                    let mut tx = app.store.read().await.map_err(|e| anyhow!("{e}"))?;
                    for c in mamis_store::OidcStore::clients(&mut tx)
                        .await
                        .map_err(|e| anyhow!("{e}"))?
                    {
                        let kind = if c.secret_hash.is_some() {
                            "confidential"
                        } else {
                            "public"
                        };
                        let party = if c.first_party {
                            "first-party"
                        } else {
                            "third-party"
                        };
                        let state = if c.disabled { "disabled" } else { "enabled" };
                        println!(
                            "{}  {kind:<12}  {party:<11}  {state:<8}  {}  {}",
                            c.id,
                            c.name,
                            c.redirect_uris.join(" ")
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Keys { cmd } => {
            let (sk, ak) = keys(cfg, false)?;
            let app = app_for(store, cfg, sk, ak)?;
            if let KeysCmd::Rotate = cmd {
                let made = mamis_app::oidc::keys::rotate(&app, &cli_principal()).await?;
                println!("now signing with {}", made.join(", "));
            }
            let mut tx = app.store.read().await.map_err(|e| anyhow!("{e}"))?;
            let all = mamis_store::OidcStore::signing_keys(&mut tx)
                .await
                .map_err(|e| anyhow!("{e}"))?;
            for k in all {
                let state = match k.retired_at {
                    None => "active".to_owned(),
                    Some(r) => format!("retired {}", to_japan(r).format("%Y-%m-%d %H:%M")),
                };
                println!(
                    "{}  {}  {:<22}  created {}",
                    k.kid,
                    k.alg,
                    state,
                    to_japan(k.created_at).format("%Y-%m-%d %H:%M")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Audit {
            cmd: AuditCmd::Verify { expect_head },
        } => {
            let ak = audit_key(cfg, false)?;
            let expect = expect_head
                .map(|h| {
                    h.parse::<audit::Checkpoint>()
                        .map_err(|e| anyhow!("--expect-head: {e}"))
                })
                .transpose()?;
            match audit::verify_reaching(&store, &ak, expect.as_ref()).await? {
                Verification::Intact { rows } => {
                    println!("audit chain intact: {rows} rows verified");
                    Ok(ExitCode::SUCCESS)
                }
                Verification::Broken { seq, reason } => {
                    println!(
                        "audit chain BROKEN at row {seq}: {reason:?}; rows from {seq} on are not proven"
                    );
                    Ok(ExitCode::from(2))
                }
            }
        }
        Cmd::Mail {
            cmd: MailCmd::List { limit },
        } => {
            let mails = mail::list(&store, limit).await?;
            if mails.is_empty() {
                println!("the outbox is empty");
            }
            for m in mails {
                println!(
                    "{}  {}  {:<7}  {}  {}",
                    m.id,
                    to_japan(m.created_at).format("%Y-%m-%d %H:%M:%S JST"),
                    m.status.as_str(),
                    m.to_addr,
                    m.subject
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Mail {
            cmd: MailCmd::Show { id },
        } => {
            let unknown = || anyhow!("no mail has the id '{id}'; `mamis mail list` shows the ids");
            let uuid = uuid::Uuid::parse_str(id.trim()).map_err(|_| unknown())?;
            let m = mail::show(&store, uuid).await?.ok_or_else(unknown)?;
            print!("{}", mail_text(&m, &cfg.mail_from));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Migration {
            cmd: crate::MigrationCmd::Remind { node },
        } => {
            let code = AssociationCode::parse(&node).map_err(|_| {
                anyhow!("--node '{node}' is not an association code; use JMA, P13 or P13-0001")
            })?;
            let (sk, ak) = keys(cfg, false)?;
            let app = app_for(store, cfg, sk, ak)?;
            let r = mamis_app::migration::remind(&app, &cli_principal(), &code, None)
                .await
                .map_err(|e| match e {
                    mamis_app::AppError::NotFound => anyhow!("no association has the code {code}"),
                    e => anyhow!("cannot send the reminders: {e}"),
                })?;
            println!(
                "reminders queued: {} (sent by `mamis serve`), without contact address (postal mail needed): {}, already reminded: {}",
                r.queued, r.without_address, r.already_reminded
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints a history import's report; exit 2 when the file was refused (nothing was written).
fn history_report(
    r: &mamis_app::cme::history::HistoryReport,
    file: &std::path::Path,
    what: &str,
) -> ExitCode {
    let encoding = if r.encoding.is_empty() {
        "encoding unknown"
    } else {
        r.encoding
    };
    println!(
        "{}: {} read ({encoding}), {} {what} written, {} unchanged",
        file.display(),
        count(r.rows, "line", "lines"),
        r.written,
        r.unchanged
    );
    if r.licences > 0 {
        println!(
            "医籍登録年月日 filled in for {}",
            count(r.licences, "doctor", "doctors")
        );
    }
    for p in &r.problems {
        match (p.line, &p.column) {
            (0, _) => println!("file: {}", p.message),
            (line, Some(column)) => println!("line {line} ({column}): {}", p.message),
            (line, None) => println!("line {line}: {}", p.message),
        }
    }
    let kept = r.problems.len() as u64;
    if r.total_problems > kept {
        println!(
            "… and {}",
            count(r.total_problems - kept, "more problem", "more problems")
        );
    }
    if r.applied() {
        ExitCode::SUCCESS
    } else {
        println!(
            "nothing was imported: {}; correct the file and run the import again",
            count(r.total_problems, "problem", "problems")
        );
        ExitCode::from(2)
    }
}

async fn token<S: Store>(app: App<S>, cmd: TokenCmd) -> anyhow::Result<ExitCode> {
    let actor = cli_principal();
    match cmd {
        TokenCmd::Create { role, scope, name } => {
            let role = Role::parse(&role).map_err(|_| {
                anyhow!("unknown role '{role}'; use jma_admin, jma_staff, prefecture_staff, county_staff or organiser")
            })?;
            let scope = if role == Role::Organiser {
                Scope::Organisation(
                    uuid::Uuid::parse_str(&scope).map_err(|_| {
                        anyhow!("organiser tokens take an organisation id as --scope")
                    })?,
                )
            } else {
                Scope::Association(AssociationCode::parse(&scope).map_err(|_| {
                    anyhow!("scope '{scope}' is not an association code (JMA, P01–P47 or P13-0001)")
                })?)
            };
            let grant = RoleGrant::new(role, scope).map_err(|_| {
                anyhow!("role {} cannot be granted on that scope: JMA roles on JMA, prefecture_staff on Pnn, county_staff on Pnn-nnnn", role.as_str())
            })?;
            let created = tokens::create(&app, &actor, &name, grant).await?;
            println!(
                "token {} created. Its secret is shown only now:\n{}",
                created.id, created.secret
            );
        }
        TokenCmd::List => {
            for t in tokens::list(&app, &actor).await? {
                let scope = match t.grant.scope() {
                    Scope::Association(c) => c.to_string(),
                    Scope::Organisation(id) => id.to_string(),
                };
                let state = t
                    .revoked_at
                    .map(|r| format!("revoked {}", to_japan(r).format("%Y-%m-%d %H:%M")))
                    .unwrap_or("active".into());
                println!(
                    "{}  {:<16}  {:<9}  {:<8}  {}",
                    t.id,
                    t.grant.role().as_str(),
                    scope,
                    state,
                    t.name
                );
            }
        }
        TokenCmd::Revoke { id } => {
            let id = uuid::Uuid::parse_str(&id)
                .map_err(|_| anyhow!("'{id}' is not a token id; see `mamis token list`"))?;
            tokens::revoke(&app, &actor, id)
                .await
                .map_err(|e| match e {
                    mamis_app::AppError::NotFound => anyhow!("no active token {id}"),
                    other => anyhow!("{other}"),
                })?;
            println!("token {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn generate<S: Store>(
    store: S,
    cfg: &Config,
    doctors: u64,
    seed: u64,
    ledger_entries: u32,
) -> anyhow::Result<ExitCode> {
    if let Some(path) = cfg.sqlite_path() {
        // Measured: about 1.2 KB per doctor with memberships and indexes, and about 0.25 KB per
        // ledger entry with its indexes; double it for the WAL.
        let needed = doctors
            .saturating_mul(2_500 + 500 * u64::from(ledger_entries))
            .saturating_add(64 << 20);
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let free = fs4::available_space(dir)
            .with_context(|| format!("cannot read free space of {}", dir.display()))?;
        if free < needed {
            bail!(
                "not enough free disk space in {}: {} MB free, about {} MB needed for {doctors} doctors",
                dir.display(),
                free >> 20,
                needed >> 20
            );
        }
    }
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    demo::generate_national(&store, doctors, seed, |done| {
        if tty {
            let pct = done * 100 / doctors.max(1);
            let bar = "#".repeat(usize::try_from(pct / 4).unwrap_or(0));
            eprint!("\r[{bar:<25}] {done}/{doctors} doctors ({pct}%)");
            let _ = std::io::stderr().flush();
        }
    })
    .await
    .map_err(|e| anyhow!("{e}"))?;
    if tty {
        eprintln!();
    }
    if ledger_entries > 0 {
        let written = demo::generate_ledger(&store, ledger_entries, seed, |done| {
            if tty {
                let pct = done * 100 / doctors.max(1);
                let bar = "#".repeat(usize::try_from(pct / 4).unwrap_or(0));
                eprint!("\r[{bar:<25}] ledger of {done}/{doctors} doctors ({pct}%)");
                let _ = std::io::stderr().flush();
            }
        })
        .await
        .map_err(|e| anyhow!("{e}"))?;
        if tty {
            eprintln!();
        }
        println!("wrote {written} ledger entries");
    }
    let generated = started.elapsed();
    let hash = demo::content_hash(&store).await?;
    println!(
        "generated {doctors} doctors (seed {seed}) in {:.1} s",
        generated.as_secs_f64()
    );
    println!("content hash: {hash}");
    Ok(ExitCode::SUCCESS)
}

async fn serve<S: Store>(store: S, cfg: &Config, demo_mode: bool) -> anyhow::Result<ExitCode> {
    init_tracing(cfg.log_json);
    let (sk, ak) = keys(cfg, demo_mode)?;
    let listener = TcpListener::bind(cfg.bind).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow!("cannot listen on {}: the address is already in use; stop the other process or choose another address with --bind (MAMIS_BIND)", cfg.bind)
        } else {
            anyhow!("cannot listen on {}: {e}; choose another address with --bind (MAMIS_BIND)", cfg.bind)
        }
    })?;
    let app = app_for(store, cfg, sk, ak)?;
    let made = mamis_app::oidc::keys::ensure(&app)
        .await
        .map_err(|e| anyhow!("cannot prepare signing keys: {e}"))?;
    if !made.is_empty() {
        tracing::info!(kids = ?made, "generated OpenID signing keys");
    }
    mamis_app::portal::rp::ensure_client(&app)
        .await
        .map_err(|e| anyhow!("cannot register the CME portal client: {e}"))?;
    mamis_app::cme::certificates::schedule(&app)
        .await
        .map_err(|e| anyhow!("cannot schedule the certificate decisions: {e}"))?;
    mamis_app::programmes::certificates::schedule(&app)
        .await
        .map_err(|e| anyhow!("cannot schedule the programme reminders: {e}"))?;
    if demo_mode {
        match demo::seed_demo(&app).await? {
            Some(logins) => {
                println!("Demo data seeded. Log in at {}login with:", cfg.base_url);
                for (who, email, password, totp) in &logins.accounts {
                    let second = totp
                        .as_deref()
                        .map(|t| format!("  TOTP secret {t}"))
                        .unwrap_or_default();
                    println!("  {who:<32} {email:<28} password {password}{second}");
                }
                for (who, member, password) in &logins.legacy {
                    let state = if chrono::Utc::now() < cfg.legacy_until {
                        format!("until the cut-over at {}", cfg.legacy_until.to_rfc3339())
                    } else {
                        "the cut-over has passed, so it shows the refusal page".to_owned()
                    };
                    println!(
                        "  {who:<32} member ID {member}  password {password}  at {}cme/login/legacy ({state})",
                        cfg.base_url
                    );
                }
                println!(
                    "OpenID clients (discovery at {}.well-known/openid-configuration):",
                    cfg.base_url
                );
                for (what, id, secret, redirect) in &logins.clients {
                    let secret = secret
                        .as_deref()
                        .map(|s| format!("  secret {s}"))
                        .unwrap_or_default();
                    println!("  {what:<40} client_id {id}{secret}  redirect {redirect}");
                }
                println!("Certificates on the public verification page (no login):");
                for (what, url) in &logins.certificates {
                    println!("  {what:<48} {url}");
                }
                println!("Training (研修会), log in as the staff named:");
                for (what, path) in &logins.training {
                    println!(
                        "  {what}\n      {}{}",
                        cfg.base_url,
                        path.trim_start_matches('/')
                    );
                }
                println!("Membership procedures (会員手続き), in the staff queues named:");
                for (what, where_) in &logins.membership {
                    println!("  {what} {where_}");
                }
                println!("Member back office (会員管理):");
                for (what, path) in &logins.members {
                    println!(
                        "  {what}\n      {}{}",
                        cfg.base_url,
                        path.trim_start_matches('/')
                    );
                }
                println!("CME portal learning and the session calendar:");
                for (what, path) in &logins.learning {
                    println!(
                        "  {what}\n      {}{}",
                        cfg.base_url,
                        path.trim_start_matches('/')
                    );
                }
                println!("API tokens:");
                for (who, secret) in &logins.api_tokens {
                    println!("  {who:<28} {secret}");
                }
                if let Some((_, secret)) = logins.api_tokens.get(2) {
                    println!(
                        "  e.g. curl -H 'Authorization: Bearer {secret}' {}api/v1/associations/P13-0001/members",
                        cfg.base_url
                    );
                }
            }
            None => println!(
                "The database already holds data; demo data was not added (the demo logins of the first run still work)."
            ),
        }
        println!("Demo keys are in use: never expose this instance.");
    }
    let web = mamis_web::WebState::new(
        app.clone(),
        mamis_web::WebConfig {
            trusted_proxies: cfg.trusted_proxies.clone(),
            metrics_allow: cfg.metrics_allow.clone(),
        },
    )
    .map_err(|e| anyhow!("{e}"))?;
    let router = mamis_web::router(web);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let handlers: Vec<Arc<dyn JobHandler<S>>> = vec![
        Arc::new(mail::SendMail),
        Arc::new(mamis_app::identity::mail_requests::ResetMailJob),
        Arc::new(mamis_app::identity::mail_requests::RegisterMailJob),
        Arc::new(mamis_app::migration::RemindJob),
        Arc::new(mamis_app::cme::certificates::DecideJob),
        Arc::new(mamis_app::cme::certificates::RedecideJob),
        Arc::new(mamis_app::membership::LapseJob),
        Arc::new(mamis_app::membership::RemindJob),
        Arc::new(mamis_app::programmes::certificates::ScanJob),
        Arc::new(mamis_app::programmes::certificates::RemindJob),
        Arc::new(mamis_app::learning::PublishJob),
        Arc::new(mamis_app::learning::CreditJob),
    ];
    let checkpoints = tokio::spawn(audit_checkpoints(
        app.store.clone(),
        cfg.audit_checkpoint,
        stop_rx.clone(),
    ));
    let worker = tokio::spawn(Worker::new(app, handlers).run(stop_rx.clone()));
    println!(
        "MAMIS is serving {} (listening on {})",
        cfg.base_url, cfg.bind
    );
    tracing::info!(bind = %cfg.bind, base_url = %cfg.base_url, "serving");
    let mut shutdown_rx = stop_rx;
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = shutdown_rx.changed() => {}
        }
    })
    .await
    .context("HTTP server")?;
    let _ = stop_tx.send(true);
    let _ = worker.await;
    let _ = checkpoints.await;
    println!("MAMIS stopped");
    Ok(ExitCode::SUCCESS)
}

/// Writes the audit chain's committed head to the log at start and then at every interval: an
/// operator who keeps these lines can prove later, with `mamis audit verify --expect-head
/// SEQ:MAC`, that the chain was not shortened (newest rows removed with the head) since.
async fn audit_checkpoints<S: Store>(
    store: S,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => match audit::head(&store).await {
                Ok(h) => tracing::info!(head = %h, "audit checkpoint"),
                Err(e) => tracing::warn!(error = %e, "audit checkpoint: the head could not be read"),
            },
            _ = stop.changed() => break,
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}

fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("MAMIS_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // Colour codes only for a person at a terminal: journald, files and log collectors get
    // plain lines (and the formatting costs less per request).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// "1 problem", "3 problems": English counts for the CLI's reports.
fn count<N: TryInto<u64>>(n: N, one: &str, many: &str) -> String {
    let n: u64 = n.try_into().unwrap_or(u64::MAX);
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A mail as `mamis mail show` prints it: the headers it is (or will be) sent with, the outbox
/// state, a blank line, then the body as is.
fn mail_text(m: &mamis_store::OutboxMail, from: &str) -> String {
    let mut out = String::new();
    let mut header = |name: &str, value: &str| {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push('\n');
    };
    header("Id", &m.id.to_string());
    header(
        "Date",
        &to_japan(m.created_at)
            .format("%Y-%m-%d %H:%M:%S JST")
            .to_string(),
    );
    header("From", from);
    header("To", &m.to_addr);
    header("Subject", &m.subject);
    let status = match (m.sent_at, &m.last_error) {
        (Some(at), _) => format!("sent {}", to_japan(at).format("%Y-%m-%d %H:%M:%S JST")),
        (None, Some(e)) => format!("pending ({} attempts; last error: {e})", m.attempts),
        (None, None) => "pending".to_owned(),
    };
    header("Status", &status);
    out.push('\n');
    out.push_str(&m.body_text);
    if !m.body_text.ends_with('\n') {
        out.push('\n');
    }
    out
}
