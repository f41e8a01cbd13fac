//! The legacy CME-portal login (従来のユーザーID: 10-digit member ID + password, initially the
//! birth date as YYMMDD) until the cut-over, and the import of its credentials. After the
//! cut-over nothing is looked up: every attempt gets the same answer.

use mamis_domain::dates;
use mamis_domain::identity::{LegacyCutover, legacy_birth_date_matches};
use mamis_domain::{MemberId, Principal};
use mamis_store::{IdentityStore, LegacyCredential, PortalSubject, Store, Tx};

use super::crypto::sha256_hex;
use super::passwords::legacy_scheme_supported;
use super::sessions::{self, Origin};
use super::{IdResult, IdentityError};
use crate::audit::Entry;
use crate::sheet::{Line, Sheet};
use crate::{App, AppError};

/// Problems reported in full; beyond this only the total is counted.
pub const MAX_REPORTED: usize = 1_000;
/// Largest import accepted.
pub const MAX_BYTES: usize = 64 * 1024 * 1024;

/// One line that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    /// 1-based physical line number in the file (the header is line 1, blank lines and lines
    /// inside multi-line cells counted); 0 for the file as a whole.
    pub line: usize,
    /// What is wrong, in English (the CLI's language).
    pub message: String,
}

/// A credential that replaced an existing one (only with `replace`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaced {
    /// The line of the file.
    pub line: usize,
    /// Whose credential was replaced.
    pub member_id: MemberId,
}

/// The result of an import: applied entirely, or not at all with the reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows imported (0 when refused): new and replaced credentials.
    pub imported: usize,
    /// Rows equal to the stored credential, left as they were.
    pub unchanged: usize,
    /// Rows that replaced an existing credential (the first [`MAX_REPORTED`]).
    pub replaced: Vec<Replaced>,
    /// How many rows replaced an existing credential in all.
    pub total_replaced: usize,
    /// The first [`MAX_REPORTED`] problems.
    pub problems: Vec<LineProblem>,
    /// How many problems there were in all.
    pub total_problems: usize,
    /// The encoding the file was read in ("UTF-8", "UTF-8 with BOM", "UTF-16 LE", "UTF-16 BE",
    /// "CP932"), "-" when it could not be read.
    pub encoding: &'static str,
}

impl ImportReport {
    fn refused(problems: Vec<LineProblem>, total: usize, encoding: &'static str) -> Self {
        Self {
            imported: 0,
            unchanged: 0,
            replaced: Vec::new(),
            total_replaced: 0,
            problems,
            total_problems: total,
            encoding,
        }
    }
}

/// Decodes what Excel and other tools write: UTF-8 (with or without BOM), UTF-16 LE or BE with
/// a BOM, else CP932 (Shift_JIS as Excel writes it in Japan); returns the text and the name of
/// the encoding found. UTF-16 without a BOM (NUL bytes everywhere) is refused by name rather
/// than read as a header full of NUL characters.
pub fn decode(bytes: &[u8]) -> Result<(String, &'static str), String> {
    let utf16 = |enc: &'static encoding_rs::Encoding, body: &[u8], name: &'static str| {
        let (text, had_errors) = enc.decode_without_bom_handling(body);
        if had_errors {
            Err(format!(
                "the file starts as {name} but is not valid {name}; save it as CSV UTF-8 and try again"
            ))
        } else {
            Ok((text.into_owned(), name))
        }
    };
    if let Some(body) = bytes.strip_prefix(b"\xFF\xFE") {
        return utf16(encoding_rs::UTF_16LE, body, "UTF-16 LE");
    }
    if let Some(body) = bytes.strip_prefix(b"\xFE\xFF") {
        return utf16(encoding_rs::UTF_16BE, body, "UTF-16 BE");
    }
    if bytes.contains(&0) {
        return Err(
            "the file contains NUL bytes, as UTF-16 without a byte-order mark does; \
                    save it as CSV UTF-8 (or UTF-16 with BOM) and try again"
                .into(),
        );
    }
    if let Some(body) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return match std::str::from_utf8(body) {
            Ok(s) => Ok((s.to_owned(), "UTF-8 with BOM")),
            Err(_) => Err(
                "the file starts as UTF-8 (BOM) but is not valid UTF-8; save it as CSV UTF-8 and try again"
                    .into(),
            ),
        };
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok((s.to_owned(), "UTF-8"));
    }
    let (text, _, had_errors) = encoding_rs::SHIFT_JIS.decode(bytes);
    if had_errors {
        return Err(
            "the file is neither UTF-8, UTF-16 with BOM nor CP932 (Shift_JIS); save it as UTF-8 CSV and try again"
                .into(),
        );
    }
    Ok((text.into_owned(), "CP932"))
}

/// One credential of the file with its line.
pub type Row = (usize, LegacyCredential);

fn line_no(l: u64) -> usize {
    usize::try_from(l).unwrap_or(usize::MAX)
}

/// Parses a legacy credential file (`member_id,birth_date[,password_hash]`) completely before
/// anything is written; birth dates in every form of [`mamis_domain::dates`], not in the
/// future and not before 1900.
pub fn parse(
    bytes: &[u8],
    now: mamis_domain::Timestamp,
) -> Result<(Vec<Row>, &'static str), ImportReport> {
    let refuse = |line: usize, msg: String, encoding| {
        ImportReport::refused(vec![LineProblem { line, message: msg }], 1, encoding)
    };
    if bytes.len() > MAX_BYTES {
        return Err(refuse(
            0,
            format!("the file is larger than {} MB", MAX_BYTES >> 20),
            "-",
        ));
    }
    let (text, encoding) = decode(bytes).map_err(|m| refuse(0, m, "-"))?;
    let today = mamis_domain::time::japan_date(now);
    let mut sheet = Sheet::new(&text, false);
    let mut rec = csv::StringRecord::new();
    let header_line = loop {
        match sheet.next(&mut rec) {
            Line::Blank => {}
            Line::Data(l) => break line_no(l),
            Line::End => {
                return Err(refuse(
                    0,
                    "the file is empty; its first line must be member_id,birth_date[,password_hash]"
                        .into(),
                    encoding,
                ));
            }
            Line::UnclosedQuote(l) => {
                return Err(refuse(
                    line_no(l),
                    "a quote (\") opened on this line is never closed".into(),
                    encoding,
                ));
            }
            Line::Broken { line, error } => {
                return Err(refuse(
                    line_no(line),
                    format!("cannot read the header: {error}"),
                    encoding,
                ));
            }
        }
    };
    let headers: Vec<String> = rec
        .iter()
        .take(crate::sheet::width(&rec))
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(mi), Some(bi)) = (col("member_id"), col("birth_date")) else {
        return Err(refuse(
            header_line,
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
    let mut seen = std::collections::HashMap::new();
    let mut add = |line: usize, m: String| {
        total += 1;
        if problems.len() < MAX_REPORTED {
            problems.push(LineProblem { line, message: m });
        }
    };
    loop {
        let line = match sheet.next(&mut rec) {
            Line::End => break,
            Line::Blank => continue,
            Line::Data(l) => line_no(l),
            Line::UnclosedQuote(l) => {
                add(
                    line_no(l),
                    "a quote (\") opened on this line is never closed, so the rest of the file \
                     was read as one cell; close the quote or remove it"
                        .into(),
                );
                break;
            }
            Line::Broken { line, error } => {
                add(line_no(line), format!("unreadable CSV: {error}"));
                break;
            }
        };
        if crate::sheet::width(&rec) > headers.len() {
            add(
                line,
                format!(
                    "the line has {} cells but the header {}; check for a missing or extra comma",
                    crate::sheet::width(&rec),
                    headers.len()
                ),
            );
            continue;
        }
        let member = rec.get(mi).unwrap_or("").trim();
        let birth = rec.get(bi).unwrap_or("").trim();
        let hash = hi
            .and_then(|h| rec.get(h))
            .map(str::trim)
            .filter(|h| !h.is_empty());
        let member_id = match MemberId::parse(member) {
            Ok(m) => m,
            Err(_) => {
                add(line, format!("member_id '{member}' is not 10 digits"));
                continue;
            }
        };
        let birth_date = match dates::parse_birth_date(birth, today) {
            Ok(d) => d,
            Err(e) => {
                add(line, format!("birth_date '{birth}': {e}"));
                continue;
            }
        };
        if let Some(h) = hash
            && !legacy_scheme_supported(h)
        {
            let scheme: String = h.chars().take(16).collect();
            add(
                line,
                format!(
                    "password_hash '{scheme}…' uses an unsupported scheme (use $argon2id$, $2b$ or $pbkdf2-sha256$)"
                ),
            );
            continue;
        }
        if let Some(first) = seen.get(&member_id) {
            add(
                line,
                format!("member_id {member_id} appears more than once (first on line {first})"),
            );
            continue;
        }
        seen.insert(member_id.clone(), line);
        out.push((
            line,
            LegacyCredential {
                member_id,
                birth_date,
                password_hash: hash.map(str::to_owned),
                retired_at: None,
                imported_at: now,
            },
        ));
    }
    if total > 0 {
        return Err(ImportReport::refused(problems, total, encoding));
    }
    Ok((out, encoding))
}

/// Imports a legacy credential file all-or-nothing, in one transaction (safe while `serve` runs).
/// A row for a member who already has a different credential is refused unless `replace` is
/// given, and then reported as replaced; a row equal to the stored credential is unchanged.
pub async fn import<S: Store>(
    app: &App<S>,
    actor: &Principal,
    bytes: &[u8],
    replace: bool,
) -> Result<ImportReport, ImportReport> {
    let now = app.now();
    let (rows, encoding) = parse(bytes, now)?;
    let fail = |e: AppError| {
        ImportReport::refused(
            vec![LineProblem {
                line: 0,
                message: format!("database: {e}"),
            }],
            1,
            encoding,
        )
    };
    let mut tx = app.store.write().await.map_err(|e| fail(e.into()))?;
    let mut report = ImportReport::refused(Vec::new(), 0, encoding);
    let mut write = Vec::with_capacity(rows.len());
    for (line, cred) in rows {
        let stored = tx
            .legacy_credential(&cred.member_id)
            .await
            .map_err(|e| fail(e.into()))?;
        match stored {
            None => write.push(cred),
            Some(old)
                if old.birth_date == cred.birth_date
                    && old.password_hash == cred.password_hash
                    && old.retired_at.is_none() =>
            {
                report.unchanged += 1;
            }
            Some(_) if replace => {
                report.total_replaced += 1;
                if report.replaced.len() < MAX_REPORTED {
                    report.replaced.push(Replaced {
                        line,
                        member_id: cred.member_id.clone(),
                    });
                }
                write.push(cred);
            }
            Some(_) => {
                report.total_problems += 1;
                if report.problems.len() < MAX_REPORTED {
                    report.problems.push(LineProblem {
                        line,
                        message: format!(
                            "member_id {} already has a legacy credential; run the import with \
                             --replace to replace it",
                            cred.member_id
                        ),
                    });
                }
            }
        }
    }
    if report.total_problems > 0 {
        let _ = tx.rollback().await;
        report.total_replaced = 0;
        report.replaced.clear();
        report.unchanged = 0;
        return Err(report);
    }
    let run = async {
        tx.upsert_legacy_credentials(&write).await?;
        app.audit(
            &mut tx,
            Entry::new(actor, "legacy.import", "legacy_credentials").details(serde_json::json!({
                "rows": write.len(),
                "unchanged": report.unchanged,
                "replaced": report.total_replaced,
                "replaced_members": report.replaced.iter().map(|r| r.member_id.as_str()).collect::<Vec<_>>(),
                "encoding": encoding,
            })),
        )
        .await?;
        tx.commit().await?;
        Ok::<_, AppError>(())
    };
    run.await.map_err(fail)?;
    report.imported = write.len();
    Ok(report)
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
    use chrono::NaiveDate;

    fn now() -> mamis_domain::Timestamp {
        chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn good_file_in_every_encoding() {
        let csv = "member_id,birth_date,password_hash\n0123456789,1970-01-02,\n1234567890,19800517,$2b$12$abcdefghijklmnopqrstuu\n";
        let (rows, enc) = parse(csv.as_bytes(), now()).unwrap();
        assert_eq!((rows.len(), enc), (2, "UTF-8"));
        assert_eq!(rows[1].1.birth_date, d(1980, 5, 17));
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), csv.as_bytes()].concat();
        assert_eq!(parse(&with_bom, now()).unwrap().1, "UTF-8 with BOM");
        let (sjis, _, _) = encoding_rs::SHIFT_JIS
            .encode("member_id,birth_date\n０１２３４５６７８９,1970-01-02\n");
        let (rows, enc) = parse(&sjis, now()).unwrap();
        assert_eq!((rows[0].1.member_id.as_str(), enc), ("0123456789", "CP932"));
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(csv.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(csv.encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(parse(&le, now()).unwrap().1, "UTF-16 LE");
        assert_eq!(parse(&be, now()).unwrap().1, "UTF-16 BE");
        assert_eq!(parse(&be, now()).unwrap().0[1].1.birth_date, d(1980, 5, 17));
        // Without a BOM, UTF-16 is named instead of read as NUL characters.
        let bare: Vec<u8> = csv.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let r = parse(&bare, now()).unwrap_err();
        assert!(r.problems[0].message.contains("UTF-16"), "{r:?}");
    }

    #[test]
    fn dates_as_people_type_them() {
        let csv = "member_id,birth_date\n0000000001,1970/5/6\n0000000002,S45.5.6\n0000000003,昭和45年5月6日\n0000000004,1970年5月6日\n";
        let (rows, _) = parse(csv.as_bytes(), now()).unwrap();
        assert!(rows.iter().all(|r| r.1.birth_date == d(1970, 5, 6)));
        let csv = "member_id,birth_date\n0000000001,2099-01-01\n0000000002,1899-12-31\n0000000003,25694\n";
        let r = parse(csv.as_bytes(), now()).unwrap_err();
        let m: Vec<&str> = r.problems.iter().map(|p| p.message.as_str()).collect();
        assert!(m[0].contains("in the future"), "{m:?}");
        assert!(m[1].contains("before 1900"), "{m:?}");
        assert!(m[2].contains("format the column"), "{m:?}");
    }

    #[test]
    fn every_bad_line_is_reported_with_its_physical_line() {
        let csv = "member_id,birth_date,password_hash\n\n123,1970-01-02,\n0123456789,1970-13-02,\n0123456780,1970-01-02,\"$md5$x\nstill the cell\"\n0123456789,1970-01-02,\n\n0123456789,1970-01-02,\n";
        let r = parse(csv.as_bytes(), now()).unwrap_err();
        assert_eq!(r.total_problems, 4);
        let lines: Vec<usize> = r.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [3, 4, 5, 9]);
        assert!(r.problems[2].message.contains("unsupported scheme"));
        assert!(
            r.problems[3]
                .message
                .contains("more than once (first on line 7)"),
            "{r:?}"
        );
    }

    #[test]
    fn unclosed_quotes_and_trailing_columns() {
        let csv = "member_id,birth_date,,\n0123456789,1970-01-02,,\n0123456788,\"1970-01-02\n0123456787,1970-01-02\n";
        let r = parse(csv.as_bytes(), now()).unwrap_err();
        assert_eq!(r.total_problems, 1, "{r:?}");
        assert_eq!(r.problems[0].line, 3);
        assert!(r.problems[0].message.contains("never closed"), "{r:?}");
        let ok = "member_id,birth_date,,\n0123456789,1970-01-02,,\n";
        assert_eq!(parse(ok.as_bytes(), now()).unwrap().0.len(), 1);
    }

    #[test]
    fn header_and_encoding_errors() {
        let r = parse(b"id,birthday\n0123456789,1970-01-02\n", now()).unwrap_err();
        assert!(r.problems[0].message.contains("member_id,birth_date"));
        let r = parse(&[0x82, 0xFF, 0xFE, 0x01, 0x81], now()).unwrap_err();
        assert!(r.problems[0].message.contains("neither UTF-8"), "{r:?}");
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
