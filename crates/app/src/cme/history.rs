//! 過去の履歴 — what the system before MAMIS knew: credits of the fiscal years before MAMIS
//! (ledger entries of source `prior_system`) and the certificates the JMA already issued, whose
//! fiscal years stay consumed. Both imports are all-or-nothing: the whole file is checked and
//! written inside one write transaction, rolled back if any line is wrong, and the report names
//! every wrong line (the first [`MAX_REPORTED`] of them, plus the total).
//!
//! Re-running a file changes nothing: a credit's origin key is `prior:{iseki}:{fy}:{code}` and a
//! certificate's number is unique, so what is already recorded counts as unchanged.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry as Slot;

use chrono::NaiveDate;
use csv::StringRecord;
use mamis_domain::curriculum::Catalogue;
use mamis_domain::rules::Rules;
use mamis_domain::time::japan_date;
use mamis_domain::{
    Action, AssociationCode, FiscalYear, HalfUnits, IsekiNumber, LedgerEntry, Principal, Source,
    Target, Timestamp,
};
use mamis_store::{CertificateRecord, RegistryStore, Store, StoreError, Tx};
use serde_json::json;
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use super::PROGRAMME;
use crate::audit::Entry;
use crate::authz::require;
use crate::identity::legacy;
use crate::sheet::{Line, Sheet};
use crate::{App, AppError};

/// Problems listed in full; beyond this only the total is counted.
pub const MAX_REPORTED: usize = 1_000;
/// Largest file accepted: a national history of some ten million lines fits.
pub const MAX_BYTES: usize = 1 << 30;
/// Who the ledger names as the writer of imported credits.
pub const CREATED_BY: &str = "import:prior-system";
/// Lines checked and written per step inside the one transaction, so memory and statement sizes
/// stay bounded however long the file is.
const CHUNK: usize = 1_000;
/// FY2016 introduced the 2016 curriculum, the only catalogue MAMIS holds (codes 0–83); credits of
/// earlier years were recorded under older catalogues and cannot be checked.
const FIRST_HISTORY_FY: i32 = 2016;
/// Largest amount of one line (one doctor, fiscal year and code): 200 units.
const MAX_HALF_UNITS: i64 = 400;
/// Longest certificate number accepted.
const MAX_NUMBER_CHARS: usize = 40;
/// `CertificateRecord::origin` of imported certificates.
const ORIGIN: &str = "prior_system";

/// One thing wrong with an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based physical line of the file (the header is line 1); 0 for the file as a whole.
    pub line: u64,
    /// The column at fault, spelled as in the file's header, when one cell is at fault.
    pub column: Option<String>,
    /// What is wrong and what to do, in English (the CLI's language).
    pub message: String,
}

/// What an import did: the file applied entirely, or — with any problem — not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryReport {
    /// The encoding the file was read in (`UTF-8` or `CP932`), empty if it could not be read.
    pub encoding: &'static str,
    /// Data lines read (blank lines are skipped).
    pub rows: u64,
    /// Entries or certificates written (0 when the file was refused).
    pub written: u64,
    /// Lines already recorded with the same content, left as they are.
    pub unchanged: u64,
    /// Doctors whose 医籍登録年月日 the file filled in (the register had none).
    pub licences: u64,
    /// The first [`MAX_REPORTED`] problems, in line order.
    pub problems: Vec<Problem>,
    /// How many problems there were in all; any problem means nothing was written.
    pub total_problems: u64,
}

impl HistoryReport {
    /// Whether the file was applied (it had no problem).
    pub fn applied(&self) -> bool {
        self.total_problems == 0
    }

    fn add(&mut self, p: Problem) {
        self.total_problems += 1;
        if self.problems.len() < MAX_REPORTED {
            self.problems.push(p);
        }
    }

    fn add_all(&mut self, mut ps: Vec<Problem>) {
        ps.sort_by_key(|p| p.line);
        for p in ps {
            self.add(p);
        }
    }
}

fn problem(line: u64, column: Option<&str>, message: String) -> Problem {
    Problem {
        line,
        column: column.map(str::to_owned),
        message,
    }
}

/// The problem of a CSV the reader could not read on: the rest of the file is unread.
fn unclosed_quote(line: u64) -> Problem {
    problem(
        line,
        None,
        "a quote (\") opened on this line is never closed, so the rest of the file was read as \
         one cell and not imported; close the quote or remove it"
            .to_owned(),
    )
}

fn broken(line: u64, error: &str) -> Problem {
    problem(
        line,
        None,
        format!("unreadable CSV, the rest of the file was not read: {error}"),
    )
}

/// A column of an import file, named in Japanese or English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Column {
    ja: &'static str,
    en: &'static str,
}

impl Column {
    fn matches(self, name: &str) -> bool {
        name == self.ja || name.eq_ignore_ascii_case(self.en)
    }

    fn label(self) -> String {
        format!("{}|{}", self.ja, self.en)
    }
}

const ISEKI: Column = Column {
    ja: "医籍登録番号",
    en: "iseki_number",
};
const FISCAL_YEAR: Column = Column {
    ja: "年度",
    en: "fiscal_year",
};
const CODE: Column = Column {
    ja: "カリキュラムコード",
    en: "code",
};
const UNITS: Column = Column {
    ja: "単位",
    en: "units",
};
const HALF_UNITS: Column = Column {
    ja: "半単位",
    en: "half_units",
};
const NUMBER: Column = Column {
    ja: "証書番号",
    en: "number",
};
const FROM_FY: Column = Column {
    ja: "開始年度",
    en: "from_fy",
};
const TO_FY: Column = Column {
    ja: "終了年度",
    en: "to_fy",
};
const ISSUED_ON: Column = Column {
    ja: "発行日",
    en: "issued_on",
};

/// 医籍登録年月日, optional in the ledger file: no CME window starts before its fiscal year.
const LICENSED_ON: Column = Column {
    ja: "医籍登録年月日",
    en: "licensed_on",
};

const LEDGER_COLUMNS: [Column; 6] = [ISEKI, FISCAL_YEAR, CODE, UNITS, HALF_UNITS, LICENSED_ON];
const CERTIFICATE_COLUMNS: [Column; 5] = [NUMBER, ISEKI, FROM_FY, TO_FY, ISSUED_ON];

/// NFKC (full-width digits and letters become ASCII) and trimmed; ASCII cells are only trimmed.
fn norm(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        Cow::Borrowed(s.trim())
    } else {
        Cow::Owned(s.nfkc().collect::<String>().trim().to_owned())
    }
}

/// Reads the bytes as UTF-8 (with or without BOM) without copying, else as CP932.
fn decode<'a>(bytes: &'a [u8], report: &mut HistoryReport) -> Option<Cow<'a, str>> {
    if bytes.len() > MAX_BYTES {
        report.add(problem(
            0,
            None,
            format!(
                "the file is larger than {} MB; split it by fiscal year and import the parts",
                MAX_BYTES >> 20
            ),
        ));
        return None;
    }
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // NUL bytes mean UTF-16 without a BOM: `legacy::decode` names that.
    if let Ok(s) = std::str::from_utf8(body)
        && !s.contains('\0')
    {
        report.encoding = "UTF-8";
        return Some(Cow::Borrowed(s));
    }
    match legacy::decode(bytes) {
        Ok((s, encoding)) => {
            report.encoding = encoding;
            Some(Cow::Owned(s))
        }
        Err(m) => {
            report.add(problem(0, None, m));
            None
        }
    }
}

/// Where each known column sits in the file, and how the header spells it.
struct Header {
    at: Vec<Option<usize>>,
    names: Vec<String>,
    width: usize,
}

impl Header {
    fn index(&self, columns: &[Column], c: Column) -> Option<usize> {
        let k = columns.iter().position(|x| *x == c)?;
        self.at.get(k).copied().flatten()
    }

    fn name(&self, columns: &[Column], c: Column) -> String {
        columns
            .iter()
            .position(|x| *x == c)
            .and_then(|k| self.names.get(k))
            .cloned()
            .unwrap_or_else(|| c.en.to_owned())
    }
}

/// Maps the header onto `columns`; unknown and repeated names are problems, as is every column
/// of `required` that is missing.
fn read_header(
    sheet: &mut Sheet<'_>,
    columns: &[Column],
    required: &[Column],
    report: &mut HistoryReport,
) -> Option<Header> {
    let expected = || {
        required
            .iter()
            .map(|c| c.label())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let record = match sheet.reader().headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            report.add(problem(1, None, format!("cannot read the header: {e}")));
            return None;
        }
    };
    if record.iter().all(|c| c.trim().is_empty()) {
        report.add(problem(
            1,
            None,
            format!(
                "the file is empty; its first line must be the header: {}",
                expected()
            ),
        ));
        return None;
    }
    // Empty columns at the right, as spreadsheets leave them, are no columns.
    let width = crate::sheet::width(&record);
    let mut header = Header {
        at: vec![None; columns.len()],
        names: columns.iter().map(|c| c.en.to_owned()).collect(),
        width,
    };
    let mut problems = Vec::new();
    for (i, raw) in record.iter().take(width).enumerate() {
        let name = norm(raw);
        match columns.iter().position(|c| c.matches(&name)) {
            None if name.is_empty() => problems.push(problem(
                1,
                None,
                format!(
                    "column {} of the header has no name; remove it or name it",
                    i + 1
                ),
            )),
            None => problems.push(problem(
                1,
                Some(&name),
                format!(
                    "unknown column '{name}'; the columns are {}",
                    columns
                        .iter()
                        .map(|c| c.label())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            Some(k) if header.at[k].is_some() => problems.push(problem(
                1,
                Some(&name),
                format!(
                    "column {} appears more than once; keep one",
                    columns[k].label()
                ),
            )),
            Some(k) => {
                header.at[k] = Some(i);
                header.names[k] = name.into_owned();
            }
        }
    }
    for c in required {
        if header.index(columns, *c).is_none() {
            problems.push(problem(
                1,
                Some(c.ja),
                format!("the header has no column {}", c.label()),
            ));
        }
    }
    if problems.is_empty() {
        Some(header)
    } else {
        report.add_all(problems);
        None
    }
}

fn cell<'r>(rec: &'r StringRecord, at: usize) -> Cow<'r, str> {
    norm(rec.get(at).unwrap_or(""))
}

fn width_problem(line: u64, header: &Header, found: usize) -> Problem {
    problem(
        line,
        None,
        format!(
            "the line has {found} cells but the header {}; check for a missing or extra comma",
            header.width
        ),
    )
}

fn parse_iseki(v: &str, line: u64, col: &str, out: &mut Vec<Problem>) -> Option<IsekiNumber> {
    match IsekiNumber::parse(v) {
        Ok(i) => Some(i),
        Err(_) => {
            out.push(problem(
                line,
                Some(col),
                format!("'{v}' is not a 医籍登録番号 (1 to 7 digits, e.g. 123456)"),
            ));
            None
        }
    }
}

fn parse_fiscal_year(v: &str, line: u64, col: &str, out: &mut Vec<Problem>) -> Option<FiscalYear> {
    let digits = v.strip_suffix("年度").unwrap_or(v);
    let fy =
        (!digits.is_empty() && digits.len() <= 4 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse::<i32>().ok())
            .flatten()
            .and_then(|y| FiscalYear::new(y).ok());
    if fy.is_none() {
        out.push(problem(
            line,
            Some(col),
            format!("'{v}' is not a fiscal year (the year it starts in, e.g. 2023)"),
        ));
    }
    fy
}

/// Units as written (`1`, `1.5`, `2.0`) in half-units; `None` unless a multiple of 0.5.
fn parse_units(v: &str) -> Option<i64> {
    let (whole, frac) = v.split_once('.').unwrap_or((v, ""));
    if whole.is_empty()
        || whole.len() > 6
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let half = match frac.trim_end_matches('0') {
        "" => 0,
        "5" => 1,
        _ => return None,
    };
    Some(whole.parse::<i64>().ok()? * 2 + half)
}

fn parse_half_units(v: &str) -> Option<i64> {
    if v.is_empty() || v.len() > 6 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// The fixed context of one import.
struct Context {
    rules: &'static Rules,
    now: Timestamp,
    today: NaiveDate,
}

impl Context {
    /// Checks that `who` may import national history (the JMA's register) and fixes the instant.
    fn for_import<S: Store>(app: &App<S>, who: &Principal) -> Result<Self, AppError> {
        require(
            who,
            Action::EditCredits,
            &Target::Association(&AssociationCode::jma()),
        )?;
        let now = app.now();
        Ok(Self {
            rules: Rules::embedded(PROGRAMME),
            now,
            today: japan_date(now),
        })
    }
}

/// The doctor with this 医籍登録番号, looked up once per import.
async fn doctor_of<T: RegistryStore + Send>(
    tx: &mut T,
    cache: &mut HashMap<IsekiNumber, Option<Uuid>>,
    iseki: &IsekiNumber,
) -> Result<Option<Uuid>, StoreError> {
    if let Some(d) = cache.get(iseki) {
        return Ok(*d);
    }
    let d = tx.doctor_by_iseki(iseki).await?.map(|d| d.id);
    cache.insert(iseki.clone(), d);
    Ok(d)
}

fn no_doctor(line: u64, col: &str, iseki: &IsekiNumber) -> Problem {
    problem(
        line,
        Some(col),
        format!(
            "no doctor with 医籍登録番号 {iseki} is in the register; register the doctor first or remove the line"
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Ledger history
// ---------------------------------------------------------------------------------------------

/// Where the ledger file's columns are.
struct LedgerColumns {
    iseki: (usize, String),
    fiscal_year: (usize, String),
    code: (usize, String),
    /// The amount column and whether it holds half-units (else units).
    amount: (usize, String, bool),
    /// The optional 医籍登録年月日 column.
    licensed_on: Option<(usize, String)>,
}

fn ledger_columns(header: &Header, report: &mut HistoryReport) -> Option<LedgerColumns> {
    let at = |c: Column| {
        header
            .index(&LEDGER_COLUMNS, c)
            .map(|i| (i, header.name(&LEDGER_COLUMNS, c)))
    };
    let amount = match (at(UNITS), at(HALF_UNITS)) {
        (Some((i, n)), None) => (i, n, false),
        (None, Some((i, n))) => (i, n, true),
        (Some(_), Some(_)) => {
            report.add(problem(
                1,
                None,
                format!(
                    "the header has both {} and {}; keep exactly one of them",
                    UNITS.label(),
                    HALF_UNITS.label()
                ),
            ));
            return None;
        }
        (None, None) => {
            report.add(problem(
                1,
                None,
                format!(
                    "the header has no amount column; add {} (e.g. 1.5) or {} (e.g. 3)",
                    UNITS.label(),
                    HALF_UNITS.label()
                ),
            ));
            return None;
        }
    };
    Some(LedgerColumns {
        iseki: at(ISEKI)?,
        fiscal_year: at(FISCAL_YEAR)?,
        code: at(CODE)?,
        amount,
        licensed_on: at(LICENSED_ON),
    })
}

/// A ledger line whose cells are well-formed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LedgerRow {
    line: u64,
    iseki: IsekiNumber,
    fiscal_year: FiscalYear,
    code: u16,
    half_units: HalfUnits,
    /// 医籍登録年月日 as the line gives it (an empty cell: unknown).
    licensed_on: Option<NaiveDate>,
}

impl LedgerRow {
    fn origin_key(&self) -> String {
        format!(
            "prior:{}:{}:{}",
            self.iseki,
            self.fiscal_year.year(),
            self.code
        )
    }

    /// The (医籍登録番号, fiscal year, code) packed into one word, for the file's duplicate check
    /// (a 7-digit number fits 24 bits; fiscal years and codes fit 16).
    fn dedup_key(&self) -> u64 {
        let iseki: u64 = self.iseki.as_str().parse().unwrap_or(u64::MAX >> 32);
        (iseki << 32) | ((self.fiscal_year.year() as u64 & 0xFFFF) << 16) | u64::from(self.code)
    }
}

/// Checks a ledger line's cells on their own (no database).
fn parse_ledger_row(
    rec: &StringRecord,
    line: u64,
    header: &Header,
    cols: &LedgerColumns,
    rules: &Rules,
    today: NaiveDate,
) -> Result<LedgerRow, Vec<Problem>> {
    if !crate::sheet::fits(rec, header.width) {
        let found = crate::sheet::width(rec).max(rec.len().min(header.width));
        return Err(vec![width_problem(line, header, found)]);
    }
    let mut out = Vec::new();
    let iseki = parse_iseki(&cell(rec, cols.iseki.0), line, &cols.iseki.1, &mut out);

    let fy_text = cell(rec, cols.fiscal_year.0);
    let fy_col = cols.fiscal_year.1.as_str();
    let fiscal_year = match parse_fiscal_year(&fy_text, line, fy_col, &mut out) {
        Some(fy) if fy >= rules.mamis_start => {
            out.push(problem(
                line,
                Some(fy_col),
                format!(
                    "{fy} and later are recorded in MAMIS itself; history ends with {}",
                    rules.mamis_start.prev()
                ),
            ));
            None
        }
        Some(fy) if fy.year() < FIRST_HISTORY_FY => {
            out.push(problem(
                line,
                Some(fy_col),
                format!(
                    "{fy} is before FY{FIRST_HISTORY_FY}, the first year of the 2016 curriculum whose codes MAMIS holds; leave earlier years out"
                ),
            ));
            None
        }
        other => other,
    };

    let code_text = cell(rec, cols.code.0);
    let digits = code_text
        .strip_prefix("CC")
        .or_else(|| code_text.strip_prefix("cc"))
        .unwrap_or(&code_text);
    let code =
        (!digits.is_empty() && digits.len() <= 3 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse::<i64>().ok())
            .flatten()
            .and_then(|n| {
                Catalogue::embedded()
                    .parse(&rules.catalogue_version, n)
                    .ok()
            })
            .map(|c| c.number());
    if code.is_none() {
        let (lo, hi) = code_range(rules);
        out.push(problem(
            line,
            Some(&cols.code.1),
            format!(
                "'{code_text}' is not a curriculum code of the {} catalogue ({lo}–{hi})",
                rules.catalogue_version
            ),
        ));
    }

    let (at, ref name, half) = cols.amount;
    let amount_text = cell(rec, at);
    let parsed = if half {
        parse_half_units(&amount_text)
    } else {
        parse_units(&amount_text)
    };
    let half_units = parsed
        .filter(|h| (1..=MAX_HALF_UNITS).contains(h))
        .map(HalfUnits::new);
    if half_units.is_none() {
        let message = if half {
            format!(
                "'{amount_text}' is not a whole number of half-units from 1 to {MAX_HALF_UNITS}"
            )
        } else {
            format!(
                "'{amount_text}' is not a positive multiple of 0.5 units up to {} (e.g. 1.5)",
                MAX_HALF_UNITS / 2
            )
        };
        out.push(problem(line, Some(name), message));
    }

    let licensed_on = cols
        .licensed_on
        .as_ref()
        .and_then(|(at, name)| parse_licence(&cell(rec, *at), line, name, today, &mut out));

    match (iseki, fiscal_year, code, half_units) {
        (Some(iseki), Some(fiscal_year), Some(code), Some(half_units)) if out.is_empty() => {
            Ok(LedgerRow {
                line,
                iseki,
                fiscal_year,
                code,
                half_units,
                licensed_on,
            })
        }
        _ => Err(out),
    }
}

/// A 医籍登録年月日 cell: empty is unknown; otherwise a date in any accepted form, not in the
/// future.
fn parse_licence(
    v: &str,
    line: u64,
    col: &str,
    today: NaiveDate,
    out: &mut Vec<Problem>,
) -> Option<NaiveDate> {
    if v.is_empty() {
        return None;
    }
    match mamis_domain::dates::parse_date(v) {
        Ok(d) if d <= today => Some(d),
        Ok(d) => {
            out.push(problem(
                line,
                Some(col),
                format!("{d} is in the future; enter the day of entry in the medical register, or leave the cell empty if unknown"),
            ));
            None
        }
        Err(e) => {
            out.push(problem(line, Some(col), format!("'{v}': {e}")));
            None
        }
    }
}

fn code_range(rules: &Rules) -> (u16, u16) {
    let mut codes = Catalogue::embedded()
        .entries(&rules.catalogue_version)
        .map(|e| e.number);
    let lo = codes.next().unwrap_or(0);
    (lo, codes.last().unwrap_or(lo))
}

/// The state of one ledger import between chunks.
struct LedgerRun<'c> {
    ctx: &'c Context,
    cols: &'c LedgerColumns,
    doctors: HashMap<IsekiNumber, Option<Uuid>>,
    /// (医籍登録番号, fiscal year, code) → the line that first named it.
    seen: HashMap<u64, u64>,
    /// 医籍登録番号 → the 医籍登録年月日 the file gives it and the line that first did.
    licences: HashMap<IsekiNumber, (NaiveDate, u64)>,
    rows: Vec<LedgerRow>,
    problems: Vec<Problem>,
}

impl LedgerRun<'_> {
    /// Whether `row` names a 医籍登録年月日 other than an earlier line of the same doctor (the
    /// problem is recorded).
    fn licence_disagrees(&mut self, row: &LedgerRow) -> bool {
        let Some(day) = row.licensed_on else {
            return false;
        };
        match self.licences.get(&row.iseki) {
            Some(&(first, line)) if first != day => {
                let col = self.cols.licensed_on.as_ref().map(|c| c.1.as_str());
                self.problems.push(problem(
                    row.line,
                    col,
                    format!(
                        "{day} differs from the 医籍登録年月日 {first} on line {line} for the same doctor; give one date"
                    ),
                ));
                true
            }
            Some(_) => false,
            None => {
                self.licences.insert(row.iseki.clone(), (day, row.line));
                false
            }
        }
    }

    /// The doctors of `found` whose line gives a 医籍登録年月日 the register lacks; a date that
    /// contradicts the register's is a problem (the register is corrected there, not by
    /// history).
    async fn licences_to_set<T: Tx>(
        &mut self,
        tx: &mut T,
        found: &[(String, Uuid, LedgerRow)],
    ) -> Result<Vec<(Uuid, NaiveDate)>, StoreError> {
        let mut given: Vec<(Uuid, NaiveDate, u64)> = found
            .iter()
            .filter_map(|(_, d, row)| row.licensed_on.map(|l| (*d, l, row.line)))
            .collect();
        if given.is_empty() {
            return Ok(Vec::new());
        }
        given.sort_by_key(|g| (g.0, g.2));
        given.dedup_by_key(|g| g.0);
        let ids: Vec<Uuid> = given.iter().map(|g| g.0).collect();
        let known: HashMap<Uuid, NaiveDate> = tx.licence_dates(&ids).await?.into_iter().collect();
        let col = self.cols.licensed_on.as_ref().map(|c| c.1.clone());
        let mut set = Vec::new();
        for (doctor, day, line) in given {
            match known.get(&doctor) {
                None => set.push((doctor, day)),
                Some(&k) if k == day => {}
                Some(&k) => self.problems.push(problem(
                    line,
                    col.as_deref(),
                    format!(
                        "{day} differs from the register's 医籍登録年月日 {k}; correct the register or leave the cell empty"
                    ),
                )),
            }
        }
        Ok(set)
    }

    /// Checks the buffered lines against the database and, while the file is still clean,
    /// writes them.
    async fn flush<T: Tx>(
        &mut self,
        tx: &mut T,
        report: &mut HistoryReport,
    ) -> Result<(), StoreError> {
        let rows = std::mem::take(&mut self.rows);
        let mut found = Vec::with_capacity(rows.len());
        for row in rows {
            match doctor_of(tx, &mut self.doctors, &row.iseki).await? {
                Some(d) => found.push((row.origin_key(), d, row)),
                None => self
                    .problems
                    .push(no_doctor(row.line, &self.cols.iseki.1, &row.iseki)),
            }
        }
        let keys: Vec<String> = found.iter().map(|(k, _, _)| k.clone()).collect();
        let known = if keys.is_empty() {
            Vec::new()
        } else {
            tx.ledger_by_origin(PROGRAMME, &keys).await?
        };
        // Rows come in generation order: the last one of a key is its latest generation.
        let mut latest = HashMap::new();
        for k in &known {
            latest.insert(k.entry.origin_key.as_str(), k);
        }
        let rules = self.ctx.rules;
        let mut fresh = Vec::new();
        for (key, doctor, row) in &found {
            let generation = match latest.get(key.as_str()) {
                Some(k) if !k.reversed => {
                    if k.entry.half_units == row.half_units {
                        report.unchanged += 1;
                    } else {
                        self.problems.push(problem(
                            row.line,
                            Some(&self.cols.amount.1),
                            format!(
                                "the amount {} differs from the value imported earlier: {} units; reverse that entry first if the new amount is right",
                                row.half_units, k.entry.half_units
                            ),
                        ));
                    }
                    continue;
                }
                // reversed by staff: the corrected amount is credited again
                Some(k) => k.entry.generation + 1,
                None => 0,
            };
            fresh.push(LedgerEntry {
                id: Uuid::new_v4(),
                doctor: *doctor,
                programme: PROGRAMME,
                fiscal_year: row.fiscal_year,
                date: row.fiscal_year.last_day(),
                source: Source::PriorSystem,
                catalogue_version: rules.catalogue_version.clone(),
                code: row.code,
                half_units: row.half_units,
                origin_key: key.clone(),
                generation,
                reverses: None,
                rules_version: rules.version.clone(),
                created_by: CREATED_BY.to_owned(),
                created_at: self.ctx.now,
                note: None,
            });
        }
        let licences = self.licences_to_set(tx, &found).await?;
        report.add_all(std::mem::take(&mut self.problems));
        if report.applied() && !licences.is_empty() {
            let mut changed = Vec::with_capacity(licences.len());
            for &(doctor, day) in &licences {
                tx.set_licence_date(doctor, Some(day)).await?;
                changed.push((doctor, FiscalYear::of_date(day)));
            }
            report.licences += licences.len() as u64;
            // a licence year can rule out windows already decided: they are decided again
            super::certificates::late_change(tx, &changed, self.ctx.now).await?;
        }
        if report.applied() && !fresh.is_empty() {
            tx.insert_ledger_entries(&fresh).await?;
            report.written += fresh.len() as u64;
            // history dated inside an already decided window is re-decided by a job
            let mut changed: Vec<(Uuid, FiscalYear)> =
                fresh.iter().map(|e| (e.doctor, e.fiscal_year)).collect();
            changed.sort();
            changed.dedup();
            super::certificates::late_change(tx, &changed, self.ctx.now).await?;
        }
        Ok(())
    }
}

/// Imports credits of the fiscal years before MAMIS (`医籍登録番号, 年度, カリキュラムコード,
/// 単位|半単位`, optionally `医籍登録年月日`, UTF-8 or CP932) as `prior_system` ledger entries
/// dated 31 March of their year; a 医籍登録年月日 fills in the register's where it has none.
/// All or nothing: any problem leaves the ledger untouched and is reported by line.
pub async fn import_ledger_history<S: Store>(
    app: &App<S>,
    who: &Principal,
    bytes: &[u8],
) -> Result<HistoryReport, AppError> {
    let ctx = Context::for_import(app, who)?;
    let mut report = HistoryReport::default();
    let Some(text) = decode(bytes, &mut report) else {
        return Ok(report);
    };
    let mut sheet = Sheet::new(&text, true);
    let Some(header) = read_header(
        &mut sheet,
        &LEDGER_COLUMNS,
        &[ISEKI, FISCAL_YEAR, CODE],
        &mut report,
    ) else {
        return Ok(report);
    };
    let Some(cols) = ledger_columns(&header, &mut report) else {
        return Ok(report);
    };
    let mut run = LedgerRun {
        ctx: &ctx,
        cols: &cols,
        doctors: HashMap::new(),
        seen: HashMap::new(),
        licences: HashMap::new(),
        rows: Vec::with_capacity(CHUNK),
        problems: Vec::new(),
    };
    let mut tx = app.store.write().await?;
    let mut rec = StringRecord::new();
    let mut in_chunk = 0;
    loop {
        let line = match sheet.next(&mut rec) {
            Line::End => break,
            Line::Blank => continue,
            Line::UnclosedQuote(line) => {
                run.problems.push(unclosed_quote(line));
                break;
            }
            Line::Broken { line, error } => {
                run.problems.push(broken(line, &error));
                break;
            }
            Line::Data(line) => line,
        };
        report.rows += 1;
        in_chunk += 1;
        match parse_ledger_row(&rec, line, &header, &cols, ctx.rules, ctx.today) {
            Err(ps) => run.problems.extend(ps),
            Ok(row) if run.licence_disagrees(&row) => {}
            Ok(row) => match run.seen.get(&row.dedup_key()) {
                Some(first) => run.problems.push(problem(
                    line,
                    None,
                    format!(
                        "duplicate of line {first} (same 医籍登録番号, fiscal year and code); merge the two lines into one"
                    ),
                )),
                None => {
                    run.seen.insert(row.dedup_key(), line);
                    run.rows.push(row);
                }
            },
        }
        if in_chunk == CHUNK {
            run.flush(&mut tx, &mut report).await?;
            in_chunk = 0;
        }
    }
    run.flush(&mut tx, &mut report).await?;
    finish(
        app,
        tx,
        who,
        report,
        "cme.import_history",
        format!("ledger:{PROGRAMME}"),
    )
    .await
}

/// Ends an import: a refused file rolls everything back; an accepted one is audited with its
/// counts and committed.
async fn finish<S: Store>(
    app: &App<S>,
    mut tx: S::Tx,
    who: &Principal,
    mut report: HistoryReport,
    action: &str,
    target: String,
) -> Result<HistoryReport, AppError> {
    if !report.applied() {
        tx.rollback().await?;
        report.written = 0;
        return Ok(report);
    }
    app.audit(
        &mut tx,
        Entry::new(who, action, target).details(json!({
            "rows": report.rows, "written": report.written, "unchanged": report.unchanged,
            "encoding": report.encoding,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// Certificate history
// ---------------------------------------------------------------------------------------------

/// Where the certificate file's columns are.
struct CertificateColumns {
    number: (usize, String),
    iseki: (usize, String),
    from_fy: (usize, String),
    to_fy: (usize, String),
    issued_on: (usize, String),
}

fn certificate_columns(header: &Header) -> Option<CertificateColumns> {
    let at = |c: Column| {
        header
            .index(&CERTIFICATE_COLUMNS, c)
            .map(|i| (i, header.name(&CERTIFICATE_COLUMNS, c)))
    };
    Some(CertificateColumns {
        number: at(NUMBER)?,
        iseki: at(ISEKI)?,
        from_fy: at(FROM_FY)?,
        to_fy: at(TO_FY)?,
        issued_on: at(ISSUED_ON)?,
    })
}

/// A certificate line whose cells are well-formed and consistent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CertificateRow {
    line: u64,
    number: String,
    iseki: IsekiNumber,
    from_fy: FiscalYear,
    to_fy: FiscalYear,
    issued_on: NaiveDate,
}

/// Checks a certificate line's cells on their own (no database).
fn parse_certificate_row(
    rec: &StringRecord,
    line: u64,
    header: &Header,
    cols: &CertificateColumns,
    ctx: &Context,
) -> Result<CertificateRow, Vec<Problem>> {
    if !crate::sheet::fits(rec, header.width) {
        let found = crate::sheet::width(rec).max(rec.len().min(header.width));
        return Err(vec![width_problem(line, header, found)]);
    }
    let rules = ctx.rules;
    let mut out = Vec::new();
    let number = cell(rec, cols.number.0).into_owned();
    let number_ok = !number.is_empty()
        && number.chars().count() <= MAX_NUMBER_CHARS
        && number
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !number_ok {
        out.push(problem(
            line,
            Some(&cols.number.1),
            format!(
                "'{number}' is not a certificate number (1 to {MAX_NUMBER_CHARS} letters, digits or hyphens)"
            ),
        ));
    }
    let iseki = parse_iseki(&cell(rec, cols.iseki.0), line, &cols.iseki.1, &mut out);
    let from_fy = parse_fiscal_year(&cell(rec, cols.from_fy.0), line, &cols.from_fy.1, &mut out);
    let to_fy = parse_fiscal_year(&cell(rec, cols.to_fy.0), line, &cols.to_fy.1, &mut out);
    let issued_text = cell(rec, cols.issued_on.0);
    let issued_on = match mamis_domain::dates::parse_date(&issued_text) {
        Ok(d) => Some(d),
        Err(e) => {
            out.push(problem(
                line,
                Some(&cols.issued_on.1),
                format!("'{issued_text}': {e}"),
            ));
            None
        }
    };
    if let (Some(from), Some(to)) = (from_fy, to_fy) {
        let window = i32::from(rules.certificate.window_years);
        let years = to.year() - from.year() + 1;
        if to < from {
            out.push(problem(
                line,
                Some(&cols.to_fy.1),
                format!(
                    "the window ends ({to}) before it starts ({from}); a certificate covers {window} consecutive fiscal years"
                ),
            ));
        } else if years != window {
            let span = if years == 1 {
                "one fiscal year".to_owned()
            } else {
                format!("{years} fiscal years")
            };
            out.push(problem(
                line,
                Some(&cols.to_fy.1),
                format!(
                    "{from}–{to} is {span}; a certificate covers {window} consecutive fiscal years"
                ),
            ));
        } else if to >= rules.mamis_start {
            out.push(problem(
                line,
                Some(&cols.to_fy.1),
                format!(
                    "windows ending in {} or later are decided by MAMIS itself; history ends with windows ending in {}",
                    rules.mamis_start,
                    rules.mamis_start.prev()
                ),
            ));
        }
        if let Some(d) = issued_on
            && d < from.first_day()
        {
            out.push(problem(
                line,
                Some(&cols.issued_on.1),
                format!(
                    "issue date {d} is before the window starts ({from} begins {})",
                    from.first_day()
                ),
            ));
        }
    }
    if let Some(d) = issued_on
        && d > ctx.today
    {
        out.push(problem(
            line,
            Some(&cols.issued_on.1),
            format!("issue date {d} is in the future"),
        ));
    }
    match (iseki, from_fy, to_fy, issued_on) {
        (Some(iseki), Some(from_fy), Some(to_fy), Some(issued_on)) if out.is_empty() => {
            Ok(CertificateRow {
                line,
                number,
                iseki,
                from_fy,
                to_fy,
                issued_on,
            })
        }
        _ => Err(out),
    }
}

/// A certificate a doctor already holds: recorded before, or earlier in the file.
struct Held {
    number: String,
    from_fy: FiscalYear,
    to_fy: FiscalYear,
    /// The file line that brings it; `None` when it is already recorded.
    line: Option<u64>,
}

/// The state of one certificate import.
struct CertificateRun<'c> {
    ctx: &'c Context,
    cols: &'c CertificateColumns,
    doctors: HashMap<IsekiNumber, Option<Uuid>>,
    /// Number → the line that first named it.
    numbers: HashMap<String, u64>,
    held: HashMap<Uuid, Vec<Held>>,
    pending: Vec<CertificateRecord>,
}

impl CertificateRun<'_> {
    /// Checks a well-formed line against the database and the file so far; returns the record to
    /// write, `Ok(None)` when it is already recorded as it is, or the problem.
    async fn check<T: Tx>(
        &mut self,
        tx: &mut T,
        row: CertificateRow,
    ) -> Result<Result<Option<CertificateRecord>, Problem>, StoreError> {
        let line = row.line;
        if let Some(first) = self.numbers.get(&row.number) {
            return Ok(Err(problem(
                line,
                Some(&self.cols.number.1),
                format!(
                    "certificate number {} is also on line {first}; a number names one certificate",
                    row.number
                ),
            )));
        }
        self.numbers.insert(row.number.clone(), line);
        let Some(doctor) = doctor_of(tx, &mut self.doctors, &row.iseki).await? else {
            return Ok(Err(no_doctor(line, &self.cols.iseki.1, &row.iseki)));
        };
        if let Some(c) = tx.certificate_by_number(&row.number).await? {
            let same = c.doctor == doctor
                && c.programme == PROGRAMME
                && c.from_fy == row.from_fy
                && c.to_fy == row.to_fy
                && c.issued_on == row.issued_on;
            if same {
                return Ok(Ok(None));
            }
            let holder = if c.doctor == doctor {
                "this doctor"
            } else {
                "another doctor"
            };
            return Ok(Err(problem(
                line,
                Some(&self.cols.number.1),
                format!(
                    "certificate number {} is already recorded differently ({holder}, {}–{}, issued {}); correct the line or leave it out",
                    row.number, c.from_fy, c.to_fy, c.issued_on
                ),
            )));
        }
        if let Slot::Vacant(slot) = self.held.entry(doctor) {
            let recorded = tx
                .certificates_of(doctor, PROGRAMME)
                .await?
                .into_iter()
                .map(|c| Held {
                    number: c.number,
                    from_fy: c.from_fy,
                    to_fy: c.to_fy,
                    line: None,
                })
                .collect();
            slot.insert(recorded);
        }
        let held = self.held.entry(doctor).or_default();
        if let Some(h) = held
            .iter()
            .find(|h| h.from_fy <= row.to_fy && row.from_fy <= h.to_fy)
        {
            let whence = match h.line {
                Some(l) => format!("on line {l}"),
                None => "already recorded".to_owned(),
            };
            return Ok(Err(problem(
                line,
                Some(&self.cols.from_fy.1),
                format!(
                    "{}–{} overlap certificate {} ({}–{}, {whence}); a fiscal year counts toward one certificate only",
                    row.from_fy, row.to_fy, h.number, h.from_fy, h.to_fy
                ),
            )));
        }
        held.push(Held {
            number: row.number.clone(),
            from_fy: row.from_fy,
            to_fy: row.to_fy,
            line: Some(line),
        });
        Ok(Ok(Some(CertificateRecord {
            id: Uuid::new_v4(),
            number: row.number,
            doctor,
            programme: PROGRAMME,
            from_fy: row.from_fy,
            to_fy: row.to_fy,
            issued_on: row.issued_on,
            origin: ORIGIN.to_owned(),
            created_at: self.ctx.now,
            verification_code: None,
            valid_until: None,
            counted: None,
            revocation: None,
        })))
    }

    /// Writes the buffered certificates while the file is still clean.
    async fn flush<T: Tx>(
        &mut self,
        tx: &mut T,
        report: &mut HistoryReport,
    ) -> Result<(), StoreError> {
        let pending = std::mem::take(&mut self.pending);
        if report.applied() && !pending.is_empty() {
            tx.insert_certificates(&pending).await?;
            report.written += pending.len() as u64;
        }
        Ok(())
    }
}

/// Imports the certificates the JMA issued before MAMIS (`証書番号, 医籍登録番号, 開始年度,
/// 終了年度, 発行日`, UTF-8 or CP932); their fiscal years are consumed like those of certificates
/// MAMIS issues. All or nothing: any problem leaves the register untouched and is reported by line.
pub async fn import_certificate_history<S: Store>(
    app: &App<S>,
    who: &Principal,
    bytes: &[u8],
) -> Result<HistoryReport, AppError> {
    let ctx = Context::for_import(app, who)?;
    let mut report = HistoryReport::default();
    let Some(text) = decode(bytes, &mut report) else {
        return Ok(report);
    };
    let mut sheet = Sheet::new(&text, true);
    let Some(header) = read_header(
        &mut sheet,
        &CERTIFICATE_COLUMNS,
        &CERTIFICATE_COLUMNS,
        &mut report,
    ) else {
        return Ok(report);
    };
    let Some(cols) = certificate_columns(&header) else {
        return Ok(report);
    };
    let mut run = CertificateRun {
        ctx: &ctx,
        cols: &cols,
        doctors: HashMap::new(),
        numbers: HashMap::new(),
        held: HashMap::new(),
        pending: Vec::with_capacity(CHUNK),
    };
    let mut tx = app.store.write().await?;
    let mut rec = StringRecord::new();
    loop {
        let line = match sheet.next(&mut rec) {
            Line::End => break,
            Line::Blank => continue,
            Line::UnclosedQuote(line) => {
                report.add(unclosed_quote(line));
                break;
            }
            Line::Broken { line, error } => {
                report.add(broken(line, &error));
                break;
            }
            Line::Data(line) => line,
        };
        report.rows += 1;
        let row = match parse_certificate_row(&rec, line, &header, &cols, &ctx) {
            Ok(row) => row,
            Err(ps) => {
                report.add_all(ps);
                continue;
            }
        };
        match run.check(&mut tx, row).await? {
            Ok(Some(record)) => run.pending.push(record),
            Ok(None) => report.unchanged += 1,
            Err(p) => report.add(p),
        }
        if run.pending.len() == CHUNK {
            run.flush(&mut tx, &mut report).await?;
        }
    }
    run.flush(&mut tx, &mut report).await?;
    finish(
        app,
        tx,
        who,
        report,
        "certificates.import_history",
        format!("certificates:{PROGRAMME}"),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            rules: Rules::embedded(PROGRAMME),
            now: chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap(),
            today: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
        }
    }

    fn header_of(
        text: &str,
        columns: &[Column],
        required: &[Column],
    ) -> (Option<Header>, HistoryReport) {
        let mut report = HistoryReport::default();
        let mut sheet = Sheet::new(text, true);
        let h = read_header(&mut sheet, columns, required, &mut report);
        (h, report)
    }

    fn ledger_rows(text: &str) -> Vec<Result<LedgerRow, Vec<Problem>>> {
        let mut report = HistoryReport::default();
        let mut sheet = Sheet::new(text, true);
        let header = read_header(
            &mut sheet,
            &LEDGER_COLUMNS,
            &[ISEKI, FISCAL_YEAR, CODE],
            &mut report,
        )
        .unwrap();
        let cols = ledger_columns(&header, &mut report).unwrap();
        let mut rec = StringRecord::new();
        let mut out = Vec::new();
        loop {
            match sheet.next(&mut rec) {
                Line::Data(line) => {
                    let c = ctx();
                    out.push(parse_ledger_row(
                        &rec, line, &header, &cols, c.rules, c.today,
                    ));
                }
                Line::Blank => {}
                Line::End | Line::Broken { .. } | Line::UnclosedQuote(_) => break,
            }
        }
        out
    }

    #[test]
    fn trailing_empty_columns_are_ignored() {
        let rows = ledger_rows(
            "iseki_number,fiscal_year,code,units,,\n123456,2020,10,1,,\n123457,2020,10,1,,,\n",
        );
        assert!(rows[0].is_ok(), "{:?}", rows[0]);
        assert!(rows[1].is_ok(), "{:?}", rows[1]);
        let rows = ledger_rows("iseki_number,fiscal_year,code,units\n123456,2020,10,1,x\n");
        assert!(
            rows[0].is_err(),
            "a filled cell beyond the header is still wrong"
        );
    }

    #[test]
    fn units_are_multiples_of_a_half() {
        assert_eq!(parse_units("1.5"), Some(3));
        assert_eq!(parse_units("2"), Some(4));
        assert_eq!(parse_units("2.50"), Some(5));
        assert_eq!(parse_units("0.0"), Some(0));
        for bad in ["0.3", "1.25", "-1", "", ".5", "1,5", "1e2", "abc"] {
            assert_eq!(parse_units(bad), None, "{bad}");
        }
        assert_eq!(parse_half_units("3"), Some(3));
        assert_eq!(parse_half_units("1.5"), None);
    }

    #[test]
    fn headers_in_either_language_any_order() {
        let (h, r) = header_of(
            "Half_Units,カリキュラムコード,FISCAL_YEAR,医籍登録番号\n",
            &LEDGER_COLUMNS,
            &[ISEKI, FISCAL_YEAR, CODE],
        );
        assert!(r.applied(), "{r:?}");
        let h = h.unwrap();
        assert_eq!(h.index(&LEDGER_COLUMNS, ISEKI), Some(3));
        assert_eq!(h.name(&LEDGER_COLUMNS, HALF_UNITS), "Half_Units");
    }

    #[test]
    fn bad_headers_name_the_column() {
        let (h, r) = header_of(
            "医籍登録番号,年度,年度,note\n",
            &LEDGER_COLUMNS,
            &[ISEKI, FISCAL_YEAR, CODE],
        );
        assert!(h.is_none());
        let msgs: Vec<&str> = r.problems.iter().map(|p| p.message.as_str()).collect();
        assert!(
            msgs[0].contains("年度|fiscal_year appears more than once"),
            "{msgs:?}"
        );
        assert!(msgs[1].starts_with("unknown column 'note'"), "{msgs:?}");
        assert!(
            msgs[2].contains("no column カリキュラムコード|code"),
            "{msgs:?}"
        );
        assert!(r.problems.iter().all(|p| p.line == 1));

        let mut report = HistoryReport::default();
        let mut sheet = Sheet::new("iseki_number,fiscal_year,code,units,half_units\n", true);
        let h = read_header(&mut sheet, &LEDGER_COLUMNS, &[], &mut report).unwrap();
        assert!(ledger_columns(&h, &mut report).is_none());
        assert!(report.problems[0].message.contains("keep exactly one"));

        let (_, r) = header_of("", &CERTIFICATE_COLUMNS, &CERTIFICATE_COLUMNS);
        assert!(r.problems[0].message.contains("the file is empty"));
    }

    #[test]
    fn ledger_cells_are_checked_and_normalised() {
        let rows = ledger_rows(concat!(
            "医籍登録番号,年度,カリキュラムコード,単位\n",
            "第１２３４５６号,２０２３年度,ＣＣ７４,１．５\n",
            "\n",
            "x,2025,84,0.3\n",
            "1,2015,1,201\n",
            "1,2020\n",
            "\r\n",
            "\"100001\",\"2020\",\"1\",\"1\"\n",
        ));
        assert_eq!(
            rows[0].as_ref().unwrap(),
            &LedgerRow {
                line: 2,
                iseki: IsekiNumber::parse("123456").unwrap(),
                fiscal_year: FiscalYear::new(2023).unwrap(),
                code: 74,
                half_units: HalfUnits::new(3),
                licensed_on: None,
            }
        );
        let bad = rows[1].as_ref().unwrap_err();
        assert_eq!(bad.len(), 4);
        assert!(bad.iter().all(|p| p.line == 4), "{bad:?}");
        assert!(bad[0].message.contains("not a 医籍登録番号"));
        assert!(
            bad[1]
                .message
                .starts_with("FY2025 and later are recorded in MAMIS itself")
        );
        assert!(bad[1].message.ends_with("history ends with FY2024"));
        assert_eq!(bad[2].column.as_deref(), Some("カリキュラムコード"));
        assert!(bad[2].message.contains("(0–83)"), "{}", bad[2].message);
        assert!(
            bad[3]
                .message
                .contains("'0.3' is not a positive multiple of 0.5")
        );
        let bad = rows[2].as_ref().unwrap_err();
        assert!(bad[0].message.contains("before FY2016"));
        assert!(bad[1].message.contains("'201'"));
        let bad = rows[3].as_ref().unwrap_err();
        assert!(bad[0].message.contains("2 cells but the header 4"));
        assert_eq!(bad[0].line, 6);
        // blank lines count: the quoted line is the file's eighth
        assert_eq!(rows[4].as_ref().unwrap().line, 8);
    }

    #[test]
    fn origin_and_dedup_keys() {
        let row = LedgerRow {
            line: 2,
            iseki: IsekiNumber::parse("9999999").unwrap(),
            fiscal_year: FiscalYear::new(2024).unwrap(),
            code: 83,
            half_units: HalfUnits::new(1),
            licensed_on: None,
        };
        assert_eq!(row.origin_key(), "prior:9999999:2024:83");
        let mut other = row.clone();
        other.code = 82;
        assert_ne!(row.dedup_key(), other.dedup_key());
        other.code = 83;
        other.iseki = IsekiNumber::parse("9999998").unwrap();
        assert_ne!(row.dedup_key(), other.dedup_key());
    }

    #[test]
    fn certificate_cells_are_checked() {
        let text = concat!(
            "number,iseki_number,from_fy,to_fy,issued_on\n",
            "Ｃ－２０１９－１,123456,2019,2021,2022/12/1\n",
            "C 1,123456,2020,2021,2021-12-01\n",
            "C-3,123456,2023,2025,2026-07-01\n",
            "C-4,123456,2020,2022,2019-01-01\n",
        );
        let mut report = HistoryReport::default();
        let mut sheet = Sheet::new(text, true);
        let header = read_header(
            &mut sheet,
            &CERTIFICATE_COLUMNS,
            &CERTIFICATE_COLUMNS,
            &mut report,
        )
        .unwrap();
        let cols = certificate_columns(&header).unwrap();
        let mut rec = StringRecord::new();
        let mut got = Vec::new();
        while let Line::Data(line) = sheet.next(&mut rec) {
            got.push(parse_certificate_row(&rec, line, &header, &cols, &ctx()));
        }
        let ok = got[0].as_ref().unwrap();
        assert_eq!(ok.number, "C-2019-1");
        assert_eq!(ok.issued_on, NaiveDate::from_ymd_opt(2022, 12, 1).unwrap());
        let msgs = |i: usize| -> Vec<String> {
            got[i]
                .as_ref()
                .unwrap_err()
                .iter()
                .map(|p| p.message.clone())
                .collect()
        };
        let m = msgs(1);
        assert!(m[0].contains("not a certificate number"), "{m:?}");
        assert!(m[1].contains("is 2 fiscal years"), "{m:?}");
        let m = msgs(2);
        assert!(m[0].contains("decided by MAMIS itself"), "{m:?}");
        assert!(m[1].contains("in the future"), "{m:?}");
        let m = msgs(3);
        assert!(m[0].contains("before the window starts"), "{m:?}");
    }

    #[test]
    fn decoding_borrows_utf8_and_reads_cp932() {
        let mut r = HistoryReport::default();
        let text = decode("\u{FEFF}年度\n".as_bytes(), &mut r).unwrap();
        assert!(matches!(text, Cow::Borrowed("年度\n")));
        assert_eq!(r.encoding, "UTF-8");
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("年度\n");
        let mut r = HistoryReport::default();
        assert_eq!(decode(&sjis, &mut r).unwrap(), "年度\n");
        assert_eq!(r.encoding, "CP932");
        let mut r = HistoryReport::default();
        assert!(decode(&[0x82, 0xFF, 0xFE, 0x00, 0x81], &mut r).is_none());
        assert_eq!(r.problems[0].line, 0);
    }
}
