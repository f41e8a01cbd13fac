//! The legacy CME-portal login (従来のユーザーID: 10-digit member ID + password, initially the
//! birth date as YYMMDD) until the cut-over, and the import of its credentials. After the
//! cut-over nothing is looked up: every attempt gets the same answer.

use chrono::NaiveDate;
use mamis_domain::identity::{LegacyCutover, legacy_birth_date_matches};
use mamis_domain::{MemberId, Principal};
use mamis_store::{IdentityStore, LegacyCredential, PortalSubject, Store, Tx};

use super::crypto::sha256_hex;
use super::passwords::legacy_scheme_supported;
use super::sessions::{self, Origin};
use super::{IdResult, IdentityError};
use crate::audit::Entry;
use crate::{App, AppError};

/// Problems reported in full; beyond this only the total is counted.
pub const MAX_REPORTED: usize = 1_000;
/// Largest import accepted.
pub const MAX_BYTES: usize = 64 * 1024 * 1024;

/// One line that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    /// 1-based line number in the file (the header is line 1).
    pub line: usize,
    /// What is wrong, in English (the CLI's language).
    pub message: String,
}

/// The result of an import: applied entirely, or not at all with the reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows imported (0 when refused).
    pub imported: usize,
    /// The first [`MAX_REPORTED`] problems.
    pub problems: Vec<LineProblem>,
    /// How many problems there were in all.
    pub total_problems: usize,
    /// The encoding the file was read in.
    pub encoding: &'static str,
}

/// Decodes UTF-8 (with or without BOM), else CP932 (Shift_JIS as Excel writes it in Japan).
pub fn decode(bytes: &[u8]) -> Result<(String, &'static str), String> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(s) = std::str::from_utf8(body) {
        return Ok((s.to_owned(), "UTF-8"));
    }
    let (text, _, had_errors) = encoding_rs::SHIFT_JIS.decode(bytes);
    if had_errors {
        return Err(
            "the file is neither UTF-8 nor CP932 (Shift_JIS); save it as UTF-8 CSV and try again"
                .into(),
        );
    }
    Ok((text.into_owned(), "CP932"))
}

fn parse_birth(s: &str) -> Option<NaiveDate> {
    super::registration::parse_date(s)
        .filter(|d| d.format("%Y-%m-%d").to_string() == s.trim() || !s.contains('/'))
}

/// Parses a legacy credential file (`member_id,birth_date[,password_hash]`) completely before
/// anything is written.
pub fn parse(
    bytes: &[u8],
    now: mamis_domain::Timestamp,
) -> Result<(Vec<LegacyCredential>, &'static str), ImportReport> {
    let refuse = |msg: String, encoding| ImportReport {
        imported: 0,
        problems: vec![LineProblem {
            line: 1,
            message: msg,
        }],
        total_problems: 1,
        encoding,
    };
    if bytes.len() > MAX_BYTES {
        return Err(refuse(
            format!("the file is larger than {} MB", MAX_BYTES >> 20),
            "-",
        ));
    }
    let (text, encoding) = decode(bytes).map_err(|m| refuse(m, "-"))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|h| h.trim().to_ascii_lowercase()).collect(),
        Err(e) => return Err(refuse(format!("cannot read the header: {e}"), encoding)),
    };
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(mi), Some(bi)) = (col("member_id"), col("birth_date")) else {
        return Err(refuse(
            format!(
                "the header must be member_id,birth_date[,password_hash]; found: {}",
                headers.join(",")
            ),
            encoding,
        ));
    };
    let hi = col("password_hash");
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut total = 0usize;
    let mut seen = std::collections::HashSet::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let mut problem = |m: String| {
            total += 1;
            if problems.len() < MAX_REPORTED {
                problems.push(LineProblem { line, message: m });
            }
        };
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                problem(format!("unreadable CSV: {e}"));
                continue;
            }
        };
        let member = rec.get(mi).unwrap_or("").trim();
        let birth = rec.get(bi).unwrap_or("").trim();
        let hash = hi
            .and_then(|h| rec.get(h))
            .map(str::trim)
            .filter(|h| !h.is_empty());
        let member_id = match MemberId::parse(member) {
            Ok(m) => m,
            Err(_) => {
                problem(format!("member_id '{member}' is not 10 digits"));
                continue;
            }
        };
        let Some(birth_date) = parse_birth(birth) else {
            problem(format!(
                "birth_date '{birth}' is not a date (YYYY-MM-DD or YYYYMMDD)"
            ));
            continue;
        };
        if let Some(h) = hash
            && !legacy_scheme_supported(h)
        {
            let scheme: String = h.chars().take(16).collect();
            problem(format!(
                "password_hash '{scheme}…' uses an unsupported scheme (use $argon2id$, $2b$ or $pbkdf2-sha256$)"
            ));
            continue;
        }
        if !seen.insert(member_id.clone()) {
            problem(format!("member_id {member_id} appears more than once"));
            continue;
        }
        out.push(LegacyCredential {
            member_id,
            birth_date,
            password_hash: hash.map(str::to_owned),
            retired_at: None,
            imported_at: now,
        });
    }
    if total > 0 {
        return Err(ImportReport {
            imported: 0,
            problems,
            total_problems: total,
            encoding,
        });
    }
    Ok((out, encoding))
}

/// Imports a legacy credential file all-or-nothing, in one transaction (safe while `serve` runs).
pub async fn import<S: Store>(
    app: &App<S>,
    actor: &Principal,
    bytes: &[u8],
) -> Result<ImportReport, ImportReport> {
    let now = app.now();
    let (creds, encoding) = parse(bytes, now)?;
    let fail = |e: AppError| ImportReport {
        imported: 0,
        problems: vec![LineProblem {
            line: 0,
            message: format!("database: {e}"),
        }],
        total_problems: 1,
        encoding,
    };
    let run = async {
        let mut tx = app.store.write().await?;
        tx.upsert_legacy_credentials(&creds).await?;
        app.audit(
            &mut tx,
            Entry::new(actor, "legacy.import", "legacy_credentials")
                .details(serde_json::json!({ "rows": creds.len(), "encoding": encoding })),
        )
        .await?;
        tx.commit().await?;
        Ok::<_, AppError>(())
    };
    run.await.map_err(fail)?;
    Ok(ImportReport {
        imported: creds.len(),
        problems: vec![],
        total_problems: 0,
        encoding,
    })
}

/// A successful legacy login.
#[derive(Debug, Clone)]
pub struct LegacyLogin {
    /// The portal session cookie value.
    pub cookie: String,
    /// The member logged in.
    pub member_id: MemberId,
}

/// Logs in with the legacy member ID until the cut-over. From the cut-over on it returns
/// [`IdentityError::LegacyEnded`] before looking at its input or the database.
pub async fn login<S: Store>(
    app: &App<S>,
    member_id: &str,
    password: &str,
    origin: &Origin,
) -> IdResult<LegacyLogin> {
    if !LegacyCutover(app.config.legacy_until).accepts(app.now()) {
        return Err(IdentityError::LegacyEnded);
    }
    let Ok(member) = MemberId::parse(member_id) else {
        return Err(IdentityError::LoginFailed);
    };
    if password.is_empty() || password.len() > mamis_domain::identity::MAX_PASSWORD_BYTES {
        return Err(IdentityError::LoginFailed);
    }
    let key = format!("legacy:{}", sha256_hex(member.as_str()));
    if !super::login::admit(app, &key, origin, None).await? {
        return Err(IdentityError::LoginFailed);
    }
    let mut tx = app.store.read().await?;
    let cred = tx.legacy_credential(&member).await?;
    tx.rollback().await?;
    // Exactly one password hashing whatever the member ID names (a changed password, the
    // initial birth-date password, or nothing), so the answer's timing does not tell which.
    let ok = match &cred {
        Some(c) if c.retired_at.is_none() => match &c.password_hash {
            Some(h) => {
                app.hasher
                    .verify_legacy(h.clone(), password.to_owned())
                    .await?
            }
            None => {
                let _ = app.hasher.verify(None, password.to_owned()).await?;
                legacy_birth_date_matches(c.birth_date, password)
            }
        },
        // unknown or retired: the same work, never a success
        _ => {
            let _ = app.hasher.verify(None, password.to_owned()).await?;
            false
        }
    };
    if !ok {
        return Err(IdentityError::LoginFailed);
    }
    super::login::forgive(app, &key, origin).await?;
    let now = app.now();
    let mut tx = app.store.write().await?;
    let cookie = sessions::open_portal(&mut tx, PortalSubject::Legacy(member.clone()), now).await?;
    let who = Principal::Job {
        kind: "legacy-login".into(),
    };
    app.audit(
        &mut tx,
        Entry::new(&who, "portal.legacy_login", format!("member:{member}"))
            .from(origin.client_addr.clone()),
    )
    .await?;
    tx.commit().await?;
    Ok(LegacyLogin {
        cookie,
        member_id: member,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> mamis_domain::Timestamp {
        chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap()
    }

    #[test]
    fn good_file_in_both_encodings() {
        let csv = "member_id,birth_date,password_hash\n0123456789,1970-01-02,\n1234567890,19800517,$2b$12$abcdefghijklmnopqrstuu\n";
        let (rows, enc) = parse(csv.as_bytes(), now()).unwrap();
        assert_eq!((rows.len(), enc), (2, "UTF-8"));
        assert_eq!(
            rows[1].birth_date,
            NaiveDate::from_ymd_opt(1980, 5, 17).unwrap()
        );
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), csv.as_bytes()].concat();
        assert_eq!(parse(&with_bom, now()).unwrap().0.len(), 2);
        let (sjis, _, _) = encoding_rs::SHIFT_JIS
            .encode("member_id,birth_date\n０１２３４５６７８９,1970-01-02\n");
        let (rows, enc) = parse(&sjis, now()).unwrap();
        assert_eq!((rows[0].member_id.as_str(), enc), ("0123456789", "CP932"));
    }

    #[test]
    fn every_bad_line_is_reported_and_nothing_is_returned() {
        let csv = "member_id,birth_date,password_hash\n123,1970-01-02,\n0123456789,1970-13-02,\n0123456780,1970-01-02,$md5$x\n0123456789,1970-01-02,\n0123456789,1970-01-02,\n";
        let r = parse(csv.as_bytes(), now()).unwrap_err();
        assert_eq!(r.total_problems, 4);
        let lines: Vec<usize> = r.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [2, 3, 4, 6]);
        assert!(r.problems[2].message.contains("unsupported scheme"));
        assert!(r.problems[3].message.contains("more than once"));
    }

    #[test]
    fn header_and_encoding_errors() {
        let r = parse(b"id,birthday\n0123456789,1970-01-02\n", now()).unwrap_err();
        assert!(r.problems[0].message.contains("member_id,birth_date"));
        let r = parse(&[0x82, 0xFF, 0xFE, 0x00, 0x81], now()).unwrap_err();
        assert!(r.problems[0].message.contains("neither UTF-8 nor CP932"));
    }

    #[test]
    fn only_the_first_thousand_problems_are_listed() {
        let mut csv = String::from("member_id,birth_date\n");
        for _ in 0..1_500 {
            csv.push_str("x,y\n");
        }
        let r = parse(csv.as_bytes(), now()).unwrap_err();
        assert_eq!((r.problems.len(), r.total_problems), (1_000, 1_500));
    }
}
