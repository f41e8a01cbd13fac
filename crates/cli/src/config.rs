//! Configuration: defaults → optional TOML file → `MAMIS_*` environment → `*_FILE` secrets →
//! command-line flags. Everything is validated before anything starts, and every problem is one
//! line saying what is wrong and how to fix it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::Provider;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Keys read from the environment (`MAMIS_` + upper-case key).
const KEYS: [&str; 32] = [
    "bind",
    "database_url",
    "base_url",
    "secret_key",
    "audit_key",
    "smtp_url",
    "mail_from",
    "trusted_proxies",
    "metrics_allow",
    "database_connect_seconds",
    "sqlite_busy_seconds",
    "audit_checkpoint_minutes",
    "verify_per_minute",
    "mail_per_address_per_hour",
    "mail_per_recipient_per_hour",
    "upload_previews_per_organiser",
    "upload_previews_per_association",
    "upload_preview_minutes",
    "log_format",
    "job_lease_seconds",
    "legacy_login_until",
    "session_idle_minutes",
    "session_absolute_hours",
    "oidc_access_token_seconds",
    "oidc_refresh_idle_days",
    "oidc_refresh_absolute_days",
    "oidc_code_seconds",
    "member_id_first",
    "member_id_last",
    "transfer_acknowledge_days",
    "evidence_dir",
    "membership_remind_days",
];

/// Keys whose value may come from a file named by `MAMIS_<KEY>_FILE` (container secrets).
const FILE_KEYS: [&str; 4] = ["secret_key", "audit_key", "database_url", "smtp_url"];

/// The configuration as read, before validation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub bind: String,
    pub database_url: String,
    pub base_url: Option<String>,
    pub secret_key: Option<String>,
    pub audit_key: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub trusted_proxies: String,
    pub metrics_allow: String,
    pub database_connect_seconds: u64,
    pub sqlite_busy_seconds: u64,
    pub audit_checkpoint_minutes: u64,
    pub verify_per_minute: u64,
    pub mail_per_address_per_hour: u64,
    pub mail_per_recipient_per_hour: u64,
    pub upload_previews_per_organiser: u64,
    pub upload_previews_per_association: u64,
    pub upload_preview_minutes: u64,
    pub log_format: String,
    pub job_lease_seconds: u64,
    pub legacy_login_until: String,
    pub session_idle_minutes: u64,
    pub session_absolute_hours: u64,
    pub oidc_access_token_seconds: u64,
    pub oidc_refresh_idle_days: u64,
    pub oidc_refresh_absolute_days: u64,
    pub oidc_code_seconds: u64,
    pub member_id_first: String,
    pub member_id_last: String,
    pub transfer_acknowledge_days: u64,
    pub membership_remind_days: u64,
    pub evidence_dir: String,
}

impl Default for Raw {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            database_url: "sqlite://mamis.db".into(),
            base_url: None,
            secret_key: None,
            audit_key: None,
            smtp_url: None,
            mail_from: "MAMIS <no-reply@mamis.invalid>".into(),
            trusted_proxies: String::new(),
            metrics_allow: "127.0.0.1/32, ::1/128".into(),
            database_connect_seconds: 5,
            sqlite_busy_seconds: 30,
            audit_checkpoint_minutes: 60,
            verify_per_minute: 30,
            mail_per_address_per_hour: 20,
            mail_per_recipient_per_hour: 5,
            upload_previews_per_organiser: 3,
            upload_previews_per_association: 10,
            upload_preview_minutes: 30,
            log_format: "text".into(),
            job_lease_seconds: 300,
            legacy_login_until: "2026-04-01T00:00:00+09:00".into(),
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            oidc_access_token_seconds: 300,
            oidc_refresh_idle_days: 30,
            oidc_refresh_absolute_days: 180,
            oidc_code_seconds: 60,
            member_id_first: "9000000000".into(),
            member_id_last: "9999999999".into(),
            transfer_acknowledge_days: 14,
            membership_remind_days: 7,
            evidence_dir: "mamis-evidence".into(),
        }
    }
}

/// Flags that override everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub bind: Option<String>,
    pub database_url: Option<String>,
    pub base_url: Option<String>,
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_url: String,
    pub db_kind: DbKind,
    pub base_url: url::Url,
    pub secret_key: Option<String>,
    pub audit_key: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub trusted_proxies: Vec<mamis_web::IpNet>,
    /// Addresses that may read `/metrics` (`MAMIS_METRICS_ALLOW`; loopback by default).
    pub metrics_allow: Vec<mamis_web::IpNet>,
    /// How long the first connection to PostgreSQL may take (`MAMIS_DATABASE_CONNECT_SECONDS`).
    pub database_connect: std::time::Duration,
    /// How long a SQLite write waits for another writer before answering busy
    /// (`MAMIS_SQLITE_BUSY_SECONDS`).
    pub sqlite_busy: std::time::Duration,
    /// How often `serve` writes the audit chain's head to the log (`MAMIS_AUDIT_CHECKPOINT_MINUTES`).
    pub audit_checkpoint: std::time::Duration,
    /// Rate limits shared by every server (`MAMIS_VERIFY_PER_MINUTE`, `MAMIS_MAIL_PER_*`).
    pub limits: mamis_app::limits::Limits,
    /// Previewed attendee lists waiting (`MAMIS_UPLOAD_PREVIEWS_*`, `MAMIS_UPLOAD_PREVIEW_MINUTES`).
    pub previews: mamis_app::training::previews::PreviewLimits,
    /// Membership procedures (`MAMIS_MEMBER_ID_FIRST`/`_LAST`, `MAMIS_TRANSFER_ACKNOWLEDGE_DAYS`,
    /// `MAMIS_EVIDENCE_DIR`).
    pub membership: mamis_app::membership::Settings,
    pub log_json: bool,
    pub job_lease_seconds: u64,
    /// When legacy CME logins stop (`MAMIS_LEGACY_LOGIN_UNTIL`).
    pub legacy_until: chrono::DateTime<chrono::Utc>,
    /// Session idle and absolute lifetimes.
    pub sessions: mamis_domain::identity::SessionPolicy,
    /// The OpenID Provider's token lifetimes.
    pub oidc: mamis_app::oidc::provider::Lifetimes,
    pub source_file: Option<PathBuf>,
}

/// A configuration problem, already phrased for the operator.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// Reads every source in order and validates the result.
pub fn load(
    file: Option<&Path>,
    env: &[(String, String)],
    o: &Overrides,
) -> Result<Config, ConfigError> {
    let mut fig = Figment::from(Serialized::defaults(Raw::default()));
    if let Some(path) = file {
        if !path.is_file() {
            return err(format!(
                "configuration file {} does not exist; create it or drop --config / MAMIS_CONFIG",
                path.display()
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(format!(
                "cannot read configuration file {}: {e}",
                path.display()
            ))
        })?;
        if let Err(e) = check_toml(&text) {
            return err(format!(
                "configuration file {} is not valid TOML: {e}",
                path.display()
            ));
        }
        fig = fig.merge(Toml::file_exact(path));
    }
    // The environment is passed in (not read here) so tests can supply their own. Only the
    // numeric keys are parsed; everything else stays text (a secret may look like anything).
    let mut from_env = std::collections::BTreeMap::new();
    for key in KEYS {
        let var = format!("MAMIS_{}", key.to_uppercase());
        if let Some((_, v)) = env.iter().find(|(k, _)| *k == var) {
            let numeric = key.starts_with("oidc_")
                || matches!(
                    key,
                    "job_lease_seconds"
                        | "session_idle_minutes"
                        | "session_absolute_hours"
                        | "database_connect_seconds"
                        | "sqlite_busy_seconds"
                        | "audit_checkpoint_minutes"
                        | "verify_per_minute"
                        | "mail_per_address_per_hour"
                        | "mail_per_recipient_per_hour"
                        | "upload_previews_per_organiser"
                        | "upload_previews_per_association"
                        | "upload_preview_minutes"
                );
            let value: figment::value::Value = if numeric {
                // say which variable is wrong (figment would name the map that carried it)
                let n: u64 = v.trim().parse().map_err(|_| {
                    ConfigError(format!("{var} ({key}) must be a whole number, not '{v}'"))
                })?;
                n.into()
            } else {
                v.as_str().into()
            };
            from_env.insert(key.to_owned(), value);
        }
    }
    fig = fig.merge(Serialized::globals(from_env));
    let mut raw: Raw = fig
        .extract()
        .map_err(|e| ConfigError(describe_figment(&e)))?;

    for key in FILE_KEYS {
        let var = format!("MAMIS_{}_FILE", key.to_uppercase());
        if let Some((_, path)) = env.iter().find(|(k, _)| *k == var) {
            let value = std::fs::read_to_string(path).map_err(|e| {
                ConfigError(format!("{var} names {path}, which cannot be read: {e}"))
            })?;
            let value = value.trim().to_owned();
            match key {
                "secret_key" => raw.secret_key = Some(value),
                "audit_key" => raw.audit_key = Some(value),
                "database_url" => raw.database_url = value,
                _ => raw.smtp_url = Some(value),
            }
        }
    }
    if let Some(b) = &o.bind {
        raw.bind = b.clone();
    }
    if let Some(d) = &o.database_url {
        raw.database_url = d.clone();
    }
    if let Some(b) = &o.base_url {
        raw.base_url = Some(b.clone());
    }
    validate(raw, file.map(Path::to_path_buf))
}

fn check_toml(text: &str) -> Result<(), String> {
    // figment's Toml provider reports syntax errors lazily; parse once here for a precise line,
    // folded into one line ("… at line 2, column 3: invalid key").
    Toml::string(text).data().map(|_| ()).map_err(|e| {
        let msg = e.to_string();
        let mut lines = msg.lines().map(str::trim).filter(|l| !l.is_empty());
        let first = lines.next().unwrap_or_default().to_owned();
        let last = lines
            .rev()
            .find(|l| !l.starts_with('|') && !l.chars().next().is_some_and(|c| c.is_ascii_digit()));
        match last {
            Some(l) => format!("{first}: {l}"),
            None => first,
        }
    })
}

fn describe_figment(e: &figment::Error) -> String {
    let key = e.path.join(".");
    let source = e
        .metadata
        .as_ref()
        .map(|m| m.name.to_string())
        .unwrap_or_else(|| "configuration".into());
    if key.is_empty() {
        format!("invalid configuration ({source}): {}", e.kind)
    } else {
        format!("invalid value for '{key}' (from {source}): {}", e.kind)
    }
}

fn validate(raw: Raw, source_file: Option<PathBuf>) -> Result<Config, ConfigError> {
    let bind: SocketAddr = raw.bind.parse().map_err(|_| {
        ConfigError(format!(
            "bind address '{}' is not IP:PORT; use e.g. --bind 127.0.0.1:8080 (MAMIS_BIND)",
            raw.bind
        ))
    })?;
    let db = url::Url::parse(&raw.database_url).map_err(|e| {
        ConfigError(format!(
            "database URL '{}' cannot be parsed ({e}); use sqlite://mamis.db or postgres://user@host/db (MAMIS_DATABASE_URL)",
            mask_password(&raw.database_url)
        ))
    })?;
    let db_kind = match db.scheme() {
        "sqlite" => DbKind::Sqlite,
        "postgres" | "postgresql" => DbKind::Postgres,
        other => {
            return err(format!(
                "database URL scheme '{other}' is not supported; use sqlite://PATH or postgres://user@host/db"
            ));
        }
    };
    let base_text = raw
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{bind}"));
    let base_url = url::Url::parse(&base_text).map_err(|e| {
        ConfigError(format!("base URL '{base_text}' cannot be parsed ({e}); use e.g. --base-url https://mamis.example.jp"))
    })?;
    if !matches!(base_url.scheme(), "http" | "https") || base_url.host_str().is_none() {
        return err(format!(
            "base URL '{base_text}' must be http:// or https:// with a host"
        ));
    }
    if base_url.query().is_some() || base_url.fragment().is_some() {
        return err(format!(
            "base URL '{base_text}' must not carry a query or fragment"
        ));
    }
    for (name, v) in [
        ("MAMIS_SECRET_KEY", &raw.secret_key),
        ("MAMIS_AUDIT_KEY", &raw.audit_key),
    ] {
        if let Some(k) = v
            && k.chars().count() < 32
        {
            return err(format!(
                "{name} is too short ({} characters); use at least 32 random characters, e.g. `openssl rand -hex 32`",
                k.chars().count()
            ));
        }
    }
    if let Some(s) = &raw.smtp_url {
        mamis_app::mail::check_smtp_url(s).map_err(ConfigError)?;
    }
    let trusted_proxies = mamis_web::parse_trusted_proxies(&raw.trusted_proxies)
        .map_err(|e| ConfigError(format!("MAMIS_TRUSTED_PROXIES: {e}")))?;
    let metrics_allow = mamis_web::parse_trusted_proxies(&raw.metrics_allow)
        .map_err(|e| ConfigError(format!("MAMIS_METRICS_ALLOW: {e}")))?;
    if !(1..=120).contains(&raw.database_connect_seconds) {
        return err(format!(
            "database_connect_seconds must be 1–120, not {} (MAMIS_DATABASE_CONNECT_SECONDS)",
            raw.database_connect_seconds
        ));
    }
    if !(1..=300).contains(&raw.sqlite_busy_seconds) {
        return err(format!(
            "sqlite_busy_seconds must be 1–300, not {} (MAMIS_SQLITE_BUSY_SECONDS)",
            raw.sqlite_busy_seconds
        ));
    }
    if !(1..=24 * 60).contains(&raw.audit_checkpoint_minutes) {
        return err(format!(
            "audit_checkpoint_minutes must be 1–1440, not {} (MAMIS_AUDIT_CHECKPOINT_MINUTES)",
            raw.audit_checkpoint_minutes
        ));
    }
    let limit = |value: u64, max: u64, var: &str, per: chrono::Duration| {
        if (1..=max).contains(&value) {
            Ok(mamis_app::limits::Limit {
                max: u32::try_from(value).unwrap_or(u32::MAX),
                per,
            })
        } else {
            Err(ConfigError(format!("{var} must be 1–{max}, not {value}")))
        }
    };
    let limits = mamis_app::limits::Limits {
        verify_per_address: limit(
            raw.verify_per_minute,
            10_000,
            "MAMIS_VERIFY_PER_MINUTE",
            chrono::Duration::minutes(1),
        )?,
        mail_per_address: limit(
            raw.mail_per_address_per_hour,
            10_000,
            "MAMIS_MAIL_PER_ADDRESS_PER_HOUR",
            chrono::Duration::hours(1),
        )?,
        mail_per_recipient: limit(
            raw.mail_per_recipient_per_hour,
            1_000,
            "MAMIS_MAIL_PER_RECIPIENT_PER_HOUR",
            chrono::Duration::hours(1),
        )?,
    };
    let bounded = |value: u64, max: u64, var: &str| {
        if (1..=max).contains(&value) {
            Ok(u32::try_from(value).unwrap_or(u32::MAX))
        } else {
            Err(ConfigError(format!("{var} must be 1–{max}, not {value}")))
        }
    };
    let previews = mamis_app::training::previews::PreviewLimits {
        per_organiser: bounded(
            raw.upload_previews_per_organiser,
            100,
            "MAMIS_UPLOAD_PREVIEWS_PER_ORGANISER",
        )?,
        per_association: bounded(
            raw.upload_previews_per_association,
            1_000,
            "MAMIS_UPLOAD_PREVIEWS_PER_ASSOCIATION",
        )?,
        minutes: bounded(
            raw.upload_preview_minutes,
            24 * 60,
            "MAMIS_UPLOAD_PREVIEW_MINUTES",
        )?,
    };
    if db_kind == DbKind::Sqlite {
        let rest = raw
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| raw.database_url.strip_prefix("sqlite:"))
            .unwrap_or_default();
        if rest.split('?').next().unwrap_or_default().trim().is_empty() {
            return err(format!(
                "database URL '{}' names no SQLite file; use e.g. sqlite://mamis.db (MAMIS_DATABASE_URL)",
                raw.database_url
            ));
        }
    }
    let log_json = match raw.log_format.as_str() {
        "text" => false,
        "json" => true,
        other => {
            return err(format!(
                "log format '{other}' is unknown; use text or json (MAMIS_LOG_FORMAT)"
            ));
        }
    };
    if raw.job_lease_seconds == 0 {
        return err("job_lease_seconds must be at least 1");
    }
    let legacy_until = chrono::DateTime::parse_from_rfc3339(raw.legacy_login_until.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| {
            ConfigError(format!(
                "legacy login cut-over '{}' is not an RFC 3339 instant; use e.g. 2026-04-01T00:00:00+09:00 (MAMIS_LEGACY_LOGIN_UNTIL)",
                raw.legacy_login_until
            ))
        })?;
    if !(1..=24 * 60).contains(&raw.session_idle_minutes)
        || !(1..=24 * 30).contains(&raw.session_absolute_hours)
    {
        return err("session_idle_minutes must be 1–1440 and session_absolute_hours 1–720");
    }
    let sessions = mamis_domain::identity::SessionPolicy {
        idle: chrono::Duration::minutes(i64::try_from(raw.session_idle_minutes).unwrap_or(30)),
        absolute: chrono::Duration::hours(i64::try_from(raw.session_absolute_hours).unwrap_or(12)),
    };
    let secs = |v: u64| chrono::Duration::seconds(i64::try_from(v).unwrap_or(i64::MAX / 1000));
    let oidc = mamis_app::oidc::provider::Lifetimes {
        access: secs(raw.oidc_access_token_seconds),
        refresh_idle: secs(raw.oidc_refresh_idle_days.saturating_mul(86_400)),
        refresh_absolute: secs(raw.oidc_refresh_absolute_days.saturating_mul(86_400)),
        code: secs(raw.oidc_code_seconds),
    };
    oidc.check().map_err(|e| {
        ConfigError(format!(
            "{e} (MAMIS_OIDC_ACCESS_TOKEN_SECONDS, MAMIS_OIDC_REFRESH_IDLE_DAYS, MAMIS_OIDC_REFRESH_ABSOLUTE_DAYS, MAMIS_OIDC_CODE_SECONDS)"
        ))
    })?;
    let member_id = |v: &str, var: &str| {
        mamis_domain::MemberId::parse(v.trim())
            .map_err(|_| ConfigError(format!("{var} must be a 10-digit member ID, not '{v}'")))
    };
    let first = member_id(&raw.member_id_first, "MAMIS_MEMBER_ID_FIRST")?;
    let last = member_id(&raw.member_id_last, "MAMIS_MEMBER_ID_LAST")?;
    if first > last {
        return err("MAMIS_MEMBER_ID_FIRST must not be above MAMIS_MEMBER_ID_LAST");
    }
    if !(1..=365).contains(&raw.transfer_acknowledge_days) {
        return err(format!(
            "transfer_acknowledge_days must be 1–365, not {} (MAMIS_TRANSFER_ACKNOWLEDGE_DAYS)",
            raw.transfer_acknowledge_days
        ));
    }
    if !(1..=90).contains(&raw.membership_remind_days) {
        return err(format!(
            "membership_remind_days must be 1–90, not {} (MAMIS_MEMBERSHIP_REMIND_DAYS)",
            raw.membership_remind_days
        ));
    }
    if raw.evidence_dir.trim().is_empty() {
        return err("evidence_dir must name a directory (MAMIS_EVIDENCE_DIR)");
    }
    let membership = mamis_app::membership::Settings {
        member_ids: (first, last),
        acknowledge_days: i64::try_from(raw.transfer_acknowledge_days).unwrap_or(14),
        remind_days: i64::try_from(raw.membership_remind_days).unwrap_or(7),
        evidence_dir: PathBuf::from(raw.evidence_dir.trim()),
    };
    Ok(Config {
        bind,
        database_url: raw.database_url,
        db_kind,
        base_url,
        secret_key: raw.secret_key,
        audit_key: raw.audit_key,
        smtp_url: raw.smtp_url,
        mail_from: raw.mail_from,
        trusted_proxies,
        metrics_allow,
        database_connect: std::time::Duration::from_secs(raw.database_connect_seconds),
        sqlite_busy: std::time::Duration::from_secs(raw.sqlite_busy_seconds),
        audit_checkpoint: std::time::Duration::from_secs(raw.audit_checkpoint_minutes * 60),
        limits,
        previews,
        log_json,
        job_lease_seconds: raw.job_lease_seconds,
        legacy_until,
        sessions,
        oidc,
        membership,
        source_file,
    })
}

/// Hides a password inside a URL for printing.
pub fn mask_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

impl Config {
    /// The effective configuration with secrets masked (`mamis config`).
    pub fn describe(&self) -> String {
        let secret = |v: &Option<String>| {
            if v.is_some() {
                "\"***\" (set)"
            } else {
                "(not set)"
            }
        };
        let nets: Vec<String> = self.trusted_proxies.iter().map(|n| n.to_string()).collect();
        format!(
            "# effective configuration{}\n\
             bind = \"{}\"\n\
             database_url = \"{}\"\n\
             base_url = \"{}\"\n\
             secret_key = {}\n\
             audit_key = {}\n\
             smtp_url = {}\n\
             mail_from = \"{}\"\n\
             trusted_proxies = \"{}\"\n\
             log_format = \"{}\"\n\
             job_lease_seconds = {}\n\
             legacy_login_until = \"{}\"\n\
             session_idle_minutes = {}\n\
             session_absolute_hours = {}\n\
             oidc_access_token_seconds = {}\n\
             oidc_refresh_idle_days = {}\n\
             oidc_refresh_absolute_days = {}\n\
             oidc_code_seconds = {}\n",
            self.source_file
                .as_ref()
                .map(|p| format!(" (file: {})", p.display()))
                .unwrap_or_default(),
            self.bind,
            mask_password(&self.database_url),
            self.base_url.as_str().trim_end_matches('/'),
            secret(&self.secret_key),
            secret(&self.audit_key),
            self.smtp_url
                .as_deref()
                .map(|u| format!("\"{}\"", mask_password(u)))
                .unwrap_or_else(|| "(not set)".into()),
            self.mail_from,
            nets.join(","),
            if self.log_json { "json" } else { "text" },
            self.job_lease_seconds,
            self.legacy_until.to_rfc3339(),
            self.sessions.idle.num_minutes(),
            self.sessions.absolute.num_hours(),
            self.oidc.access.num_seconds(),
            self.oidc.refresh_idle.num_days(),
            self.oidc.refresh_absolute.num_days(),
            self.oidc.code.num_seconds(),
        )
    }

    /// The SQLite file path, when the database is SQLite and on disk.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        if self.db_kind != DbKind::Sqlite {
            return None;
        }
        let rest = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or(rest);
        (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults() {
        let c = load(None, &[], &Overrides::default()).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.db_kind, DbKind::Sqlite);
        assert_eq!(c.base_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(c.sqlite_path().unwrap(), PathBuf::from("mamis.db"));
        assert_eq!(c.oidc, mamis_app::oidc::provider::Lifetimes::default());
        assert_eq!(c.oidc.access, chrono::Duration::minutes(5));
    }

    #[test]
    fn oidc_lifetimes_are_configurable() {
        let e = env(&[
            ("MAMIS_OIDC_ACCESS_TOKEN_SECONDS", "120"),
            ("MAMIS_OIDC_REFRESH_IDLE_DAYS", "7"),
            ("MAMIS_OIDC_REFRESH_ABSOLUTE_DAYS", "90"),
            ("MAMIS_OIDC_CODE_SECONDS", "30"),
        ]);
        let c = load(None, &e, &Overrides::default()).unwrap();
        assert_eq!(c.oidc.access, chrono::Duration::seconds(120));
        assert_eq!(c.oidc.refresh_idle, chrono::Duration::days(7));
        assert_eq!(c.oidc.refresh_absolute, chrono::Duration::days(90));
        assert_eq!(c.oidc.code, chrono::Duration::seconds(30));
        assert!(c.describe().contains("oidc_access_token_seconds = 120"));
    }

    #[test]
    fn env_then_flags_win() {
        let e = env(&[
            ("MAMIS_BIND", "127.0.0.1:9000"),
            ("MAMIS_DATABASE_URL", "postgres://u:pw@h/db"),
            ("MAMIS_TEST_POSTGRES_URL", "ignored"),
        ]);
        let c = load(None, &e, &Overrides::default()).unwrap();
        assert_eq!(c.bind.port(), 9000);
        assert_eq!(c.db_kind, DbKind::Postgres);
        assert!(c.describe().contains("postgres://u:***@h/db"));
        let c = load(
            None,
            &e,
            &Overrides {
                bind: Some("127.0.0.1:9100".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.bind.port(), 9100);
    }

    #[test]
    fn bad_values_are_explained() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("MAMIS_DATABASE_URL", "mysql://x")],
                "scheme 'mysql' is not supported",
            ),
            (&[("MAMIS_DATABASE_URL", "::nonsense")], "cannot be parsed"),
            (&[("MAMIS_BIND", "localhost")], "is not IP:PORT"),
            (&[("MAMIS_BASE_URL", "ftp://x")], "must be http"),
            (&[("MAMIS_SECRET_KEY", "short")], "too short"),
            (&[("MAMIS_LOG_FORMAT", "xml")], "log format 'xml'"),
            (&[("MAMIS_SMTP_URL", "smtps://mail")], "not supported"),
            (
                &[("MAMIS_TRUSTED_PROXIES", "10.0.0.0/99")],
                "MAMIS_TRUSTED_PROXIES",
            ),
            (&[("MAMIS_JOB_LEASE_SECONDS", "soon")], "job_lease_seconds"),
            (
                &[("MAMIS_OIDC_CODE_SECONDS", "-5")],
                "MAMIS_OIDC_CODE_SECONDS (oidc_code_seconds) must be a whole number, not '-5'",
            ),
            (
                &[("MAMIS_SESSION_IDLE_MINUTES", "99999999999999999999999")],
                "MAMIS_SESSION_IDLE_MINUTES",
            ),
            (
                &[("MAMIS_UPLOAD_PREVIEWS_PER_ORGANISER", "0")],
                "MAMIS_UPLOAD_PREVIEWS_PER_ORGANISER must be 1–100, not 0",
            ),
            (
                &[("MAMIS_UPLOAD_PREVIEW_MINUTES", "1441")],
                "MAMIS_UPLOAD_PREVIEW_MINUTES must be 1–1440, not 1441",
            ),
            (
                &[("MAMIS_DATABASE_URL", "sqlite://")],
                "names no SQLite file",
            ),
            (
                &[("MAMIS_DATABASE_URL", "sqlite://?mode=rwc")],
                "names no SQLite file",
            ),
            (
                &[("MAMIS_METRICS_ALLOW", "everyone")],
                "MAMIS_METRICS_ALLOW",
            ),
            (
                &[("MAMIS_VERIFY_PER_MINUTE", "0")],
                "MAMIS_VERIFY_PER_MINUTE must be 1–10000",
            ),
            (
                &[("MAMIS_DATABASE_CONNECT_SECONDS", "0")],
                "MAMIS_DATABASE_CONNECT_SECONDS",
            ),
            (
                &[("MAMIS_LEGACY_LOGIN_UNTIL", "next april")],
                "MAMIS_LEGACY_LOGIN_UNTIL",
            ),
            (
                &[("MAMIS_SESSION_IDLE_MINUTES", "0")],
                "session_idle_minutes",
            ),
            (
                &[("MAMIS_AUDIT_KEY_FILE", "/nonexistent/key")],
                "cannot be read",
            ),
            (
                &[("MAMIS_OIDC_CODE_SECONDS", "600")],
                "authorization code lifetime must be 10–60 seconds",
            ),
            (
                &[("MAMIS_OIDC_ACCESS_TOKEN_SECONDS", "86400")],
                "access token lifetime must be 60–3600 seconds",
            ),
            (
                &[
                    ("MAMIS_OIDC_REFRESH_IDLE_DAYS", "90"),
                    ("MAMIS_OIDC_REFRESH_ABSOLUTE_DAYS", "60"),
                ],
                "at most the absolute one",
            ),
        ];
        for (vars, needle) in cases {
            let e = load(None, &env(vars), &Overrides::default()).unwrap_err();
            assert!(e.0.contains(needle), "{vars:?}: {e}");
            assert!(!e.0.contains('\n'), "one line: {e}");
            assert!(
                !e.0.contains("alloc::") && !e.0.contains("BTreeMap"),
                "names no Rust type: {e}"
            );
        }
    }

    #[test]
    fn secrets_come_from_files_and_are_masked() {
        let dir = std::env::temp_dir().join(format!("mamis-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("audit");
        std::fs::write(&f, "0123456789abcdef0123456789abcdef\n").unwrap();
        let c = load(
            None,
            &env(&[("MAMIS_AUDIT_KEY_FILE", f.to_str().unwrap())]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            c.audit_key.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        let d = c.describe();
        assert!(d.contains("audit_key = \"***\" (set)") && !d.contains("0123456789abcdef"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn toml_file() {
        let dir = std::env::temp_dir().join(format!("mamis-toml-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.toml");
        std::fs::write(&good, "bind = \"127.0.0.1:7000\"\nlog_format = \"json\"\n").unwrap();
        let c = load(
            Some(&good),
            &env(&[("MAMIS_LOG_FORMAT", "text")]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            (c.bind.port(), c.log_json),
            (7000, false),
            "environment overrides the file"
        );
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "bind = \"127.0.0.1:7000\"\nthis is not toml\n").unwrap();
        let e = load(Some(&bad), &[], &Overrides::default()).unwrap_err();
        assert!(e.0.contains("not valid TOML"), "{e}");
        let unknown = dir.join("unknown.toml");
        std::fs::write(&unknown, "bnd = \"x\"\n").unwrap();
        assert!(load(Some(&unknown), &[], &Overrides::default()).is_err());
        assert!(
            load(Some(&dir.join("missing.toml")), &[], &Overrides::default())
                .unwrap_err()
                .0
                .contains("does not exist")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
