//! 出席者名簿 — the attendee list an organiser uploads for one training session (研修会), read
//! into rows with a line-by-line problem report, and the organiser's CSV export of who attended.
//! Nothing here touches the database: a list with any problem is written by no caller
//! (all-or-nothing), so the report names every wrong line (the first [`MAX_REPORTED`], plus
//! the total).
//!
//! The export's columns are accepted on upload, so an organiser can download the list, correct
//! it in a spreadsheet and upload it again.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use csv::StringRecord;
use mamis_domain::dates::{self, DateError};
use mamis_domain::time::{japan, japan_date, to_japan};
use mamis_domain::{IsekiNumber, Timestamp, names};
use mamis_store::PresenceChannel;

use crate::sheet::{Line, Sheet};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

/// Largest file accepted (20 MB): a national society's session fits many times over, and the
/// whole file is held in memory while it is read.
pub const MAX_BYTES: usize = 20 * 1024 * 1024;
/// Most data lines read; past this the file is refused at once, so junk cannot keep a worker busy.
pub const MAX_ROWS: u64 = 200_000;
/// Problems listed in full; beyond this only the total is counted, so memory stays bounded.
pub const MAX_REPORTED: usize = 1_000;

/// What is wrong, as data, so the web layer renders it in the user's language (ja/en) via Fluent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// The file is over [`MAX_BYTES`] and was not read (line 0).
    TooLarge {
        /// The limit in MB.
        max_mb: u64,
    },
    /// More than [`MAX_ROWS`] data lines: reading stopped at the first line beyond.
    TooManyRows {
        /// The limit in data lines.
        max: u64,
    },
    /// Neither UTF-8 nor CP932 (line 0).
    Unreadable,
    /// No header line (line 0).
    Empty,
    /// The CSV reader failed here; the rest of the file was not read.
    BrokenCsv,
    /// A quote opened on this line is never closed; the rest of the file was not read.
    UnclosedQuote,
    /// The session has not begun: a list is uploaded once it has (line 0).
    NotBegun,
    /// A header name that is no column of the list, so a wrong file is refused.
    UnknownColumn {
        /// The header as spelled in the file (NFKC, trimmed).
        name: String,
    },
    /// A column given twice (or the kana given both whole and split).
    RepeatedColumn {
        /// The header as spelled in the file (NFKC, trimmed).
        name: String,
    },
    /// A required column is missing.
    MissingColumn {
        /// Both names of the column, e.g. `医籍登録番号|iseki_number`.
        name: String,
    },
    /// A line with more or fewer cells than the header.
    WrongWidth {
        /// Cells in the header.
        expected: usize,
        /// Cells on the line.
        found: usize,
    },
    /// The 医籍登録番号 is missing or not 1–7 digits.
    BadIseki,
    /// The kana are not katakana (ー, ・ and spaces allowed).
    BadKana,
    /// The birth date is not a real past date in one of the accepted forms.
    BadDate,
    /// The birth date is a bare number: Excel's day count (format the column as a date).
    ExcelDate,
    /// The birth date is before 1900.
    BirthBefore1900,
    /// The channel (経路) is none of 名簿, 会場QR, 受付, 個人QR.
    BadChannel,
    /// This line gives another name or birth date than an earlier line for the same number.
    Contradicts {
        /// The earlier line.
        first: u64,
    },
    /// A 会場QR, 受付 or 個人QR line that matches no recorded capture: a list neither edits
    /// nor adds such captures (they are corrected on the session page).
    CaptureChanged,
    /// A recorded 会場QR, 受付 or 個人QR capture is missing from an export that lists later
    /// captures: deleted from the file, which cannot withdraw it (line 0).
    CaptureMissing {
        /// Whose capture.
        iseki: String,
        /// Its 入室, Japan time, as the export writes it.
        at: String,
    },
    /// A check-in or check-out time that cannot be read.
    BadTime,
    /// Only one of 入室 and 退室 is given.
    OnlyOneTime,
    /// 退室 is before 入室.
    OutBeforeIn,
    /// The time in the room does not overlap the session.
    OutsideSession,
    /// The kana or birth date differ from the register's; found by the import, which reads the
    /// register (`parse` never reports it).
    RegisterMismatch {
        /// The register's kana for the number, when the kana differ (shown so the organiser
        /// can correct the cell); never the birth date.
        register: Option<String>,
    },
}

/// One thing wrong with an attendee list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based physical line of the file (the header is line 1); 0 for the file as a whole.
    pub line: u64,
    /// The column at fault, spelled as in the file's header, when one cell is at fault.
    pub column: Option<String>,
    /// What is wrong.
    pub kind: ProblemKind,
}

impl Problem {
    /// Fluent message id, e.g. "attendees-problem-bad-date"; one per ProblemKind variant.
    pub fn message_id(&self) -> &'static str {
        match self.kind {
            ProblemKind::TooLarge { .. } => "attendees-problem-too-large",
            ProblemKind::TooManyRows { .. } => "attendees-problem-too-many-rows",
            ProblemKind::Unreadable => "attendees-problem-unreadable",
            ProblemKind::Empty => "attendees-problem-empty",
            ProblemKind::BrokenCsv => "attendees-problem-broken-csv",
            ProblemKind::UnclosedQuote => "attendees-problem-unclosed-quote",
            ProblemKind::NotBegun => "attendees-problem-not-begun",
            ProblemKind::ExcelDate => "attendees-problem-excel-date",
            ProblemKind::BirthBefore1900 => "attendees-problem-birth-before-1900",
            ProblemKind::BadChannel => "attendees-problem-bad-channel",
            ProblemKind::Contradicts { .. } => "attendees-problem-contradicts",
            ProblemKind::CaptureChanged => "attendees-problem-capture-changed",
            ProblemKind::CaptureMissing { .. } => "attendees-problem-capture-missing",
            ProblemKind::UnknownColumn { .. } => "attendees-problem-unknown-column",
            ProblemKind::RepeatedColumn { .. } => "attendees-problem-repeated-column",
            ProblemKind::MissingColumn { .. } => "attendees-problem-missing-column",
            ProblemKind::WrongWidth { .. } => "attendees-problem-wrong-width",
            ProblemKind::BadIseki => "attendees-problem-bad-iseki",
            ProblemKind::BadKana => "attendees-problem-bad-kana",
            ProblemKind::BadDate => "attendees-problem-bad-date",
            ProblemKind::BadTime => "attendees-problem-bad-time",
            ProblemKind::OnlyOneTime => "attendees-problem-only-one-time",
            ProblemKind::OutBeforeIn => "attendees-problem-out-before-in",
            ProblemKind::OutsideSession => "attendees-problem-outside-session",
            ProblemKind::RegisterMismatch { register: None } => {
                "attendees-problem-register-mismatch"
            }
            ProblemKind::RegisterMismatch { register: Some(_) } => {
                "attendees-problem-register-kana"
            }
        }
    }

    /// The arguments of [`Problem::args`] that are counts: rendered as Fluent numbers, so
    /// `[one]` / `*[other]` variants select on them.
    pub const COUNT_ARGS: [&'static str; 5] = ["max_mb", "max", "expected", "found", "first"];

    /// The Fluent arguments (name → value as String), so messages can show limits and names.
    pub fn args(&self) -> Vec<(&'static str, String)> {
        match &self.kind {
            ProblemKind::TooLarge { max_mb } => vec![("max_mb", max_mb.to_string())],
            ProblemKind::TooManyRows { max } => vec![("max", max.to_string())],
            ProblemKind::UnknownColumn { name }
            | ProblemKind::RepeatedColumn { name }
            | ProblemKind::MissingColumn { name } => vec![("name", name.clone())],
            ProblemKind::WrongWidth { expected, found } => vec![
                ("expected", expected.to_string()),
                ("found", found.to_string()),
            ],
            ProblemKind::Contradicts { first } => vec![("first", first.to_string())],
            ProblemKind::CaptureMissing { iseki, at } => {
                vec![("iseki", iseki.clone()), ("date", at.clone())]
            }
            ProblemKind::RegisterMismatch {
                register: Some(kana),
            } => vec![("name", kana.clone())],
            _ => Vec::new(),
        }
    }

    /// English text for logs and the CLI (the line and column are given beside it).
    pub fn english(&self) -> String {
        match &self.kind {
            ProblemKind::TooLarge { max_mb } => {
                format!("the file is larger than {max_mb} MB; split it and upload the parts")
            }
            ProblemKind::TooManyRows { max } => format!(
                "the file has more than {max} data lines and was not read further; split it"
            ),
            ProblemKind::Unreadable => "the file is neither UTF-8 nor CP932 (Shift_JIS); save it \
                 as CSV UTF-8 and try again"
                .into(),
            ProblemKind::Empty => format!(
                "the file is empty; its first line must be the header, with at least {}",
                ISEKI.label()
            ),
            ProblemKind::BrokenCsv => "unreadable CSV; the rest of the file was not read".into(),
            ProblemKind::UnclosedQuote => "a quote (\") opened on this line is never closed, so \
                 the rest of the file was read as one cell; close the quote or remove it"
                .into(),
            ProblemKind::NotBegun => "the session has not begun; upload its attendee list once \
                 it has started"
                .into(),
            ProblemKind::ExcelDate => "a number, not a date: format the column as Date \
                 (yyyy/m/d) or Text in Excel and save again"
                .into(),
            ProblemKind::BirthBefore1900 => "the birth date is before 1900".into(),
            ProblemKind::BadChannel => {
                "not a channel: 名簿, 会場QR, 受付 or 個人QR (or leave it empty)".into()
            }
            ProblemKind::Contradicts { first } => format!(
                "gives another name or birth date for this 医籍登録番号 than line {first}; \
                 correct one of the two lines"
            ),
            ProblemKind::CaptureChanged => "this 会場QR, 受付 or 個人QR line matches no recorded \
                 capture; a list cannot add or edit those: correct them on the session page, or \
                 restore the line as exported"
                .into(),
            ProblemKind::CaptureMissing { iseki, at } => format!(
                "the capture of {iseki} at {at} (会場QR, 受付 or 個人QR) is missing from the file; \
                 a list cannot withdraw it: withdraw it on the session page, or restore the line"
            ),
            ProblemKind::UnknownColumn { name } => format!(
                "unknown column '{name}'; the columns are {}",
                COLUMNS
                    .iter()
                    .map(|c| c.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ProblemKind::RepeatedColumn { name } => format!(
                "column '{name}' repeats a column already given (氏名カナ replaces 氏カナ and \
                 名カナ); keep one"
            ),
            ProblemKind::MissingColumn { name } => format!("the header has no column {name}"),
            ProblemKind::WrongWidth { expected, found } => format!(
                "the line has {} but the header {expected}; check for a missing or extra comma",
                if *found == 1 {
                    "1 cell".to_owned()
                } else {
                    format!("{found} cells")
                }
            ),
            ProblemKind::BadIseki => "not a 医籍登録番号 (1 to 7 digits, e.g. 123456)".into(),
            ProblemKind::BadKana => "not kana (katakana or hiragana, family and given name \
                 separated by a space, e.g. ヤマダ タロウ)"
                .into(),
            ProblemKind::BadDate => "not a past date as YYYY-MM-DD, YYYY/M/D, YYYY年M月D日 or \
                 和暦 such as S50.4.1 (e.g. 1975-04-01)"
                .into(),
            ProblemKind::BadTime => {
                "not a time (HH:MM, HH:MM:SS or YYYY-MM-DD HH:MM, Japan time)".into()
            }
            ProblemKind::OnlyOneTime => "入室 (check-in) and 退室 (check-out) go together: give \
                 both, or neither for the whole session"
                .into(),
            ProblemKind::OutBeforeIn => "退室 (check-out) is before 入室 (check-in)".into(),
            ProblemKind::OutsideSession => {
                "the time from 入室 to 退室 does not overlap the session".into()
            }
            ProblemKind::RegisterMismatch { register: None } => "differs from the register for \
                 this 医籍登録番号; check the number, or correct the cell"
                .into(),
            ProblemKind::RegisterMismatch {
                register: Some(kana),
            } => format!(
                "the register has {kana} for this 医籍登録番号; check the number, or correct \
                 the cell"
            ),
        }
    }
}

/// One attendee as the list gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttendeeRow {
    /// Physical line of the file, so later checks (e.g. an unknown doctor) can name it.
    pub line: u64,
    /// Whom the line is about.
    pub iseki: IsekiNumber,
    /// Family name in katakana, NFKC-normalised (half-width kana become full-width).
    pub family_kana: Option<String>,
    /// Given name in katakana, NFKC-normalised.
    pub given_kana: Option<String>,
    /// Birth date, to tell doctors apart when the register is checked.
    pub birth_date: Option<NaiveDate>,
    /// [in, out]; a row without times means the whole session: (session.start, session.end).
    pub in_at: Timestamp,
    /// End of the time in the room (see `in_at`); not clipped to the session.
    pub out_at: Timestamp,
}

/// A line recording a capture of another channel (会場QR, 受付, 個人QR), as the session's export
/// writes it: matched against what was recorded, never written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureLine {
    /// Physical line of the file.
    pub line: u64,
    /// Whom the line is about.
    pub iseki: IsekiNumber,
    /// The channel named on the line.
    pub channel: PresenceChannel,
    /// 入室.
    pub in_at: Timestamp,
    /// 退室; none while the doctor is still in the room.
    pub out_at: Option<Timestamp>,
}

/// What reading a list found: the rows and, if any, what is wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttendeeList {
    /// The encoding the file was read in (`UTF-8` or `CP932`), empty if it could not be read.
    pub encoding: &'static str,
    /// Data lines read (blank lines are skipped).
    pub rows: u64,
    /// The good rows in file order; exact duplicates (same iseki, kana, birth date, in, out) once.
    pub entries: Vec<AttendeeRow>,
    /// The first [`MAX_REPORTED`] problems, in line order.
    pub problems: Vec<Problem>,
    /// How many problems there were in all; any problem means nothing is to be written.
    pub total_problems: u64,
    /// Lines of other channels' captures (see [`CaptureLine`]).
    pub captures: Vec<CaptureLine>,
    /// Header names that are no column of the list: their cells are ignored (e.g. 備考).
    pub ignored_columns: Vec<String>,
}

impl AttendeeList {
    /// Whether the list may be written (it had no problem: all-or-nothing).
    pub fn ok(&self) -> bool {
        self.total_problems == 0
    }

    /// Counts a problem, keeping it only while fewer than [`MAX_REPORTED`] are kept.
    /// A problem of the whole file, listed first even when the report is full: the reader
    /// must see why reading stopped before the row problems.
    fn add_first(&mut self, line: u64, kind: ProblemKind) {
        self.total_problems += 1;
        self.problems.truncate(MAX_REPORTED - 1);
        self.problems.insert(
            0,
            Problem {
                line,
                column: None,
                kind,
            },
        );
    }

    /// Counts a problem (see [`AttendeeList::add_first`] for problems of the whole file).
    pub fn add(&mut self, line: u64, column: Option<&str>, kind: ProblemKind) {
        self.total_problems += 1;
        if self.problems.len() < MAX_REPORTED {
            self.problems.push(Problem {
                line,
                column: column.map(str::to_owned),
                kind,
            });
        }
    }
}

/// A column of the list, named in Japanese or English.
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
const NAME_KANA: Column = Column {
    ja: "氏名カナ",
    en: "name_kana",
};
const FAMILY_KANA: Column = Column {
    ja: "氏カナ",
    en: "family_kana",
};
const GIVEN_KANA: Column = Column {
    ja: "名カナ",
    en: "given_kana",
};
const BIRTH_DATE: Column = Column {
    ja: "生年月日",
    en: "birth_date",
};
const CHECK_IN: Column = Column {
    ja: "入室",
    en: "check_in",
};
const CHECK_OUT: Column = Column {
    ja: "退室",
    en: "check_out",
};
const NAME: Column = Column {
    ja: "氏名",
    en: "name",
};
const LEFT_AT_END: Column = Column {
    ja: "閉会時退室",
    en: "left_at_end",
};
const CHANNEL: Column = Column {
    ja: "経路",
    en: "channel",
};
const DEVICE: Column = Column {
    ja: "端末",
    en: "device",
};
const CLIENT_ADDR: Column = Column {
    ja: "接続元",
    en: "client_addr",
};
const PENDING: Column = Column {
    ja: "保留",
    en: "pending",
};

/// Every column `parse` accepts; the last six are the export's and are ignored on upload.
const COLUMNS: [Column; 13] = [
    ISEKI,
    NAME_KANA,
    FAMILY_KANA,
    GIVEN_KANA,
    BIRTH_DATE,
    CHECK_IN,
    CHECK_OUT,
    NAME,
    LEFT_AT_END,
    CHANNEL,
    DEVICE,
    CLIENT_ADDR,
    PENDING,
];

/// The export's columns, in order: the first five are what an upload reads.
const EXPORT_COLUMNS: [Column; 10] = [
    ISEKI,
    NAME,
    NAME_KANA,
    CHECK_IN,
    CHECK_OUT,
    LEFT_AT_END,
    CHANNEL,
    DEVICE,
    CLIENT_ADDR,
    PENDING,
];

/// NFKC (full-width digits, colons and half-width kana become standard) and trimmed; cells
/// already in NFKC (ASCII, full-width kana) are only trimmed, without copying.
fn norm(s: &str) -> Cow<'_, str> {
    if s.is_ascii() || is_nfkc_quick(s.chars()) == IsNormalized::Yes {
        Cow::Borrowed(s.trim())
    } else {
        Cow::Owned(s.nfkc().collect::<String>().trim().to_owned())
    }
}

/// Drops the apostrophe spreadsheets use to keep digits as text ('0123456, '1975/4/1).
fn unquote(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) => rest.strip_suffix('\'').unwrap_or(rest).trim(),
        None => s,
    }
}

/// Reads the bytes as UTF-8 (with or without BOM) without copying, else as CP932.
fn decode<'a>(bytes: &'a [u8], list: &mut AttendeeList) -> Option<Cow<'a, str>> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // NUL bytes mean UTF-16 without a BOM: `legacy::decode` names that.
    if let Ok(s) = std::str::from_utf8(body)
        && !s.contains('\0')
    {
        list.encoding = "UTF-8";
        return Some(Cow::Borrowed(s));
    }
    match crate::identity::legacy::decode(bytes) {
        Ok((s, encoding)) => {
            list.encoding = encoding;
            Some(Cow::Owned(s))
        }
        Err(_) => {
            list.add(0, None, ProblemKind::Unreadable);
            None
        }
    }
}

/// Where each known column sits in the file, and how the file spells each header.
struct Header {
    /// File position of each of [`COLUMNS`].
    at: [Option<usize>; COLUMNS.len()],
    /// The file's header names (NFKC, trimmed), by file position.
    spelled: Vec<String>,
    width: usize,
}

impl Header {
    fn index(&self, c: Column) -> Option<usize> {
        let k = COLUMNS.iter().position(|x| *x == c)?;
        self.at[k]
    }

    fn name(&self, at: usize) -> &str {
        self.spelled.get(at).map_or("", String::as_str)
    }
}

/// Reads the first non-blank record as the header and maps it onto [`COLUMNS`]; unknown and
/// repeated names and missing columns are problems, and then no line is read.
fn read_header(sheet: &mut Sheet<'_>, list: &mut AttendeeList) -> Option<Header> {
    let mut record = StringRecord::new();
    let line = loop {
        match sheet.next(&mut record) {
            Line::Blank => {}
            Line::Data(line) => break line,
            Line::End => {
                list.add(0, None, ProblemKind::Empty);
                return None;
            }
            Line::UnclosedQuote(line) => {
                list.add(line, None, ProblemKind::UnclosedQuote);
                return None;
            }
            Line::Broken { line, .. } => {
                list.add(line, None, ProblemKind::BrokenCsv);
                return None;
            }
        }
    };
    let mut header = Header {
        at: [None; COLUMNS.len()],
        spelled: Vec::with_capacity(record.len()),
        width: crate::sheet::width(&record),
    };
    let before = list.total_problems;
    for (i, raw) in record.iter().enumerate() {
        let name = norm(raw.trim_start_matches('\u{feff}')).into_owned();
        match COLUMNS.iter().position(|c| c.matches(&name)) {
            // Spreadsheets leave unnamed columns at the right; their cells are ignored.
            None if name.is_empty() => {}
            // A column of the organiser's own (備考, 所属 …): ignored, and named in the preview.
            None => list.ignored_columns.push(name.clone()),
            Some(k) if header.at[k].is_some() => list.add(
                line,
                Some(&name),
                ProblemKind::RepeatedColumn { name: name.clone() },
            ),
            Some(k) => header.at[k] = Some(i),
        }
        header.spelled.push(name);
    }
    // The kana come whole (氏名カナ) or split (氏カナ, 名カナ), not both.
    if header.index(NAME_KANA).is_some() {
        for c in [FAMILY_KANA, GIVEN_KANA] {
            if let Some(at) = header.index(c) {
                let name = header.name(at);
                list.add(
                    line,
                    Some(name),
                    ProblemKind::RepeatedColumn {
                        name: name.to_owned(),
                    },
                );
            }
        }
    }
    let missing = |c: Column| header.index(c).is_none();
    let mut required = vec![ISEKI];
    // 入室 and 退室 go together.
    match (missing(CHECK_IN), missing(CHECK_OUT)) {
        (true, false) => required.push(CHECK_IN),
        (false, true) => required.push(CHECK_OUT),
        _ => {}
    }
    for c in required {
        if missing(c) {
            list.add(
                line,
                Some(c.ja),
                ProblemKind::MissingColumn { name: c.label() },
            );
        }
    }
    (list.total_problems == before).then_some(header)
}

/// The session the list is for, and what reading its times needs.
struct Session {
    start: Timestamp,
    end: Timestamp,
    /// The Japan date and time of day the session starts.
    day: NaiveDate,
    start_time: NaiveTime,
    /// Whether it ends on a later Japan date (an evening session past midnight).
    spans_days: bool,
}

impl Session {
    fn new(start: Timestamp, end: Timestamp) -> Self {
        let day = japan_date(start);
        Self {
            start,
            end,
            day,
            start_time: to_japan(start).time(),
            spans_days: japan_date(end) > day,
        }
    }

    /// A time of day on the session's day, or the next day for a session past midnight.
    fn on_session_day(&self, t: NaiveTime) -> Option<Timestamp> {
        let day = if self.spans_days && t < self.start_time {
            self.day.succ_opt()?
        } else {
            self.day
        };
        in_japan(day.and_time(t))
    }
}

/// The instant of a Japan wall-clock time.
fn in_japan(t: NaiveDateTime) -> Option<Timestamp> {
    t.and_local_timezone(japan())
        .single()
        .map(|t| t.with_timezone(&Utc))
}

fn digits(s: &str, min: usize, max: usize) -> Option<u32> {
    (s.len() >= min && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// YYYY-MM-DD, YYYY/M/D (month and day of one or two digits) or YYYYMMDD, a real date.
fn parse_date(v: &str) -> Option<NaiveDate> {
    let (y, m, d) = if v.len() == 8 && v.bytes().all(|b| b.is_ascii_digit()) {
        (&v[..4], &v[4..6], &v[6..])
    } else {
        let sep = if v.contains('/') { '/' } else { '-' };
        let mut parts = v.split(sep);
        let ymd = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        ymd
    };
    NaiveDate::from_ymd_opt(
        i32::try_from(digits(y, 4, 4)?).ok()?,
        digits(m, 1, 2)?,
        digits(d, 1, 2)?,
    )
}

/// H:MM, HH:MM or HH:MM:SS.
fn parse_time(v: &str) -> Option<NaiveTime> {
    let mut parts = v.split(':');
    let h = digits(parts.next()?, 1, 2)?;
    let m = digits(parts.next()?, 2, 2)?;
    let s = match parts.next() {
        Some(s) => digits(s, 2, 2)?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    NaiveTime::from_hms_opt(h, m, s)
}

/// A check-in or check-out: RFC 3339 with offset, a Japan date and time, or a Japan time of day
/// on the session's day.
fn parse_instant(v: &str, session: &Session) -> Option<Timestamp> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(t.with_timezone(&Utc));
    }
    match v.split_once(['T', ' ']) {
        Some((d, t)) => in_japan(parse_date(d)?.and_time(parse_time(t.trim_start())?)),
        None => session.on_session_day(parse_time(v)?),
    }
}

/// A kana cell folded by the one name normaliser (hiragana and half-width kana accepted) and cut
/// into words; `Err` when a character is not kana, `Ok(None)` when the cell is empty.
fn kana_words(v: &str) -> Result<Option<Vec<String>>, ()> {
    let folded = names::fold_kana(v);
    if folded.is_empty() {
        return Ok(None);
    }
    if !names::is_kana_text(&folded) {
        return Err(());
    }
    Ok(Some(folded.split(' ').map(str::to_owned).collect()))
}

/// A channel as the export writes it (会場QR, 受付, 個人QR, 名簿 or their English words) or as
/// stored (venue_qr …); `None` when unknown.
fn parse_channel(v: &str) -> Option<PresenceChannel> {
    let v = v.trim();
    if v.is_empty() {
        return Some(PresenceChannel::List);
    }
    [
        PresenceChannel::List,
        PresenceChannel::VenueQr,
        PresenceChannel::Desk,
        PresenceChannel::PersonalQr,
    ]
    .into_iter()
    .find(|&c| {
        v == channel_word(c, true)
            || v.eq_ignore_ascii_case(channel_word(c, false))
            || v.eq_ignore_ascii_case(c.as_str())
    })
}

/// The word the export writes for a channel.
pub fn channel_word(c: PresenceChannel, ja: bool) -> &'static str {
    match (c, ja) {
        (PresenceChannel::VenueQr, true) => "会場QR",
        (PresenceChannel::PersonalQr, true) => "個人QR",
        (PresenceChannel::Desk, true) => "受付",
        (PresenceChannel::List, true) => "名簿",
        (PresenceChannel::VenueQr, false) => "venue QR",
        (PresenceChannel::PersonalQr, false) => "personal QR",
        (PresenceChannel::Desk, false) => "desk",
        (PresenceChannel::List, false) => "list",
    }
}

/// A cell of `rec` under column `c`, normalised; empty when the column is absent.
fn cell<'r>(rec: &'r StringRecord, header: &Header, c: Column) -> (Cow<'r, str>, Option<usize>) {
    match header.index(c) {
        Some(at) => (norm(rec.get(at).unwrap_or("")), Some(at)),
        None => (Cow::Borrowed(""), None),
    }
}

/// What a good line is.
enum Parsed {
    /// An attendance of the list channel.
    Row(AttendeeRow),
    /// Another channel's capture, to be matched.
    Capture(CaptureLine),
}

/// Checks one data line; every problem found is added, and a line returned only without any.
/// The kana key and birth date are returned too, for the check across lines.
fn read_row(
    rec: &StringRecord,
    line: u64,
    header: &Header,
    session: &Session,
    list: &mut AttendeeList,
) -> Option<(Parsed, Option<String>, Option<NaiveDate>)> {
    if !crate::sheet::fits(rec, header.width) {
        list.add(
            line,
            None,
            ProblemKind::WrongWidth {
                expected: header.width,
                found: crate::sheet::width(rec).max(rec.len().min(header.width)),
            },
        );
        return None;
    }
    let before = list.total_problems;
    let col = |at: Option<usize>| at.map(|at| header.name(at));

    let (v, at) = cell(rec, header, ISEKI);
    let iseki = IsekiNumber::parse(unquote(&v)).ok();
    if iseki.is_none() {
        list.add(line, col(at), ProblemKind::BadIseki);
    }

    let (mut family_kana, mut given_kana) = (None, None);
    let (v, at) = cell(rec, header, NAME_KANA);
    match kana_words(&v) {
        Ok(Some(words)) => {
            let mut words = words.into_iter();
            family_kana = words.next();
            given_kana = Some(words.collect::<Vec<_>>().join(" ")).filter(|g| !g.is_empty());
        }
        Ok(None) => {}
        Err(()) => list.add(line, col(at), ProblemKind::BadKana),
    }
    for (c, slot) in [
        (FAMILY_KANA, &mut family_kana),
        (GIVEN_KANA, &mut given_kana),
    ] {
        let (v, at) = cell(rec, header, c);
        match kana_words(&v) {
            Ok(Some(words)) => *slot = Some(words.join(" ")),
            Ok(None) => {}
            Err(()) => list.add(line, col(at), ProblemKind::BadKana),
        }
    }

    let (v, at) = cell(rec, header, BIRTH_DATE);
    let v = unquote(&v);
    let birth_date = if v.is_empty() {
        None
    } else {
        match dates::parse_birth_date(v, session.day) {
            Ok(d) => Some(d),
            Err(e) => {
                let kind = match e {
                    DateError::ExcelSerial => ProblemKind::ExcelDate,
                    DateError::Before1900 => ProblemKind::BirthBefore1900,
                    DateError::NotADate | DateError::Future => ProblemKind::BadDate,
                };
                list.add(line, col(at), kind);
                None
            }
        }
    };

    let (v, at) = cell(rec, header, CHANNEL);
    let channel = parse_channel(&v);
    if channel.is_none() {
        list.add(line, col(at), ProblemKind::BadChannel);
    }
    let capture = channel.filter(|&c| c != PresenceChannel::List);

    let (vi, ai) = cell(rec, header, CHECK_IN);
    let (vo, ao) = cell(rec, header, CHECK_OUT);
    let (vi, vo) = (unquote(&vi), unquote(&vo));
    let in_at = (!vi.is_empty()).then(|| parse_instant(vi, session));
    let out_at = (!vo.is_empty()).then(|| parse_instant(vo, session));
    if in_at == Some(None) {
        list.add(line, col(ai), ProblemKind::BadTime);
    }
    if out_at == Some(None) {
        list.add(line, col(ao), ProblemKind::BadTime);
    }
    let times = match (in_at, out_at, capture) {
        (Some(Some(i)), Some(Some(o)), _) if o < i => {
            list.add(line, col(ao), ProblemKind::OutBeforeIn);
            None
        }
        // A capture may still be open: the doctor is in the room as the list is exported.
        (Some(Some(i)), None, Some(_)) => Some((i, None)),
        (Some(Some(i)), Some(Some(o)), _) if !(i < session.end && o > session.start) => {
            list.add(line, None, ProblemKind::OutsideSession);
            None
        }
        (Some(Some(i)), Some(Some(o)), _) => Some((i, Some(o))),
        (None, None, None) => Some((session.start, Some(session.end))),
        (None, None, Some(_)) | (Some(_), None, Some(_)) | (None, Some(_), Some(_)) => {
            list.add(line, col(ai), ProblemKind::OnlyOneTime);
            None
        }
        (Some(_), None, None) => {
            list.add(line, col(ao), ProblemKind::OnlyOneTime);
            None
        }
        (None, Some(_), None) => {
            list.add(line, col(ai), ProblemKind::OnlyOneTime);
            None
        }
        _ => None,
    };

    if list.total_problems != before {
        return None;
    }
    let ((in_at, out_at), iseki) = (times?, iseki?);
    let key = match (&family_kana, &given_kana) {
        (None, None) => None,
        (f, g) => Some(names::kana_key(&format!(
            "{}{}",
            f.as_deref().unwrap_or(""),
            g.as_deref().unwrap_or("")
        ))),
    };
    let parsed = match capture {
        Some(channel) => Parsed::Capture(CaptureLine {
            line,
            iseki,
            channel,
            in_at,
            out_at,
        }),
        None => Parsed::Row(AttendeeRow {
            line,
            iseki,
            family_kana,
            given_kana,
            birth_date,
            in_at,
            out_at: out_at?,
        }),
    };
    Some((parsed, key, birth_date))
}

/// Keeps the first of rows that agree in everything but the line.
fn dedup(entries: &mut Vec<AttendeeRow>) {
    let keep: Vec<bool> = {
        let mut seen = HashSet::with_capacity(entries.len());
        entries
            .iter()
            .map(|r| {
                seen.insert((
                    &r.iseki,
                    &r.family_kana,
                    &r.given_kana,
                    r.birth_date,
                    r.in_at,
                    r.out_at,
                ))
            })
            .collect()
    };
    let mut keep = keep.into_iter();
    entries.retain(|_| keep.next().unwrap_or(true));
}

/// Parses `bytes` as the attendee list of a session running from `start` to `end`.
pub fn parse(bytes: &[u8], start: Timestamp, end: Timestamp) -> AttendeeList {
    let mut list = AttendeeList::default();
    if bytes.len() > MAX_BYTES {
        list.add(
            0,
            None,
            ProblemKind::TooLarge {
                max_mb: (MAX_BYTES >> 20) as u64,
            },
        );
        return list;
    }
    let Some(text) = decode(bytes, &mut list) else {
        return list;
    };
    let mut sheet = Sheet::new(&text, false);
    let Some(header) = read_header(&mut sheet, &mut list) else {
        return list;
    };
    let session = Session::new(start, end);
    let mut rec = StringRecord::new();
    // The first line of each number with its kana key and birth date.
    let mut people: HashMap<IsekiNumber, (u64, Option<String>, Option<NaiveDate>)> = HashMap::new();
    loop {
        match sheet.next(&mut rec) {
            Line::End => break,
            Line::Blank => {}
            Line::UnclosedQuote(line) => {
                list.add(line, None, ProblemKind::UnclosedQuote);
                break;
            }
            Line::Broken { line, .. } => {
                list.add(line, None, ProblemKind::BrokenCsv);
                break;
            }
            Line::Data(line) => {
                if list.rows >= MAX_ROWS {
                    list.add_first(line, ProblemKind::TooManyRows { max: MAX_ROWS });
                    break;
                }
                list.rows += 1;
                let Some((parsed, key, birth)) = read_row(&rec, line, &header, &session, &mut list)
                else {
                    continue;
                };
                let iseki = match &parsed {
                    Parsed::Row(r) => &r.iseki,
                    Parsed::Capture(c) => &c.iseki,
                };
                // Two lines for one number must not disagree on who it is.
                match people.get_mut(iseki) {
                    None => {
                        people.insert(iseki.clone(), (line, key, birth));
                    }
                    Some((first, k, b)) => {
                        let kana_differs = matches!((&*k, &key), (Some(a), Some(b)) if a != b);
                        let birth_differs = matches!((*b, birth), (Some(a), Some(b)) if a != b);
                        if kana_differs || birth_differs {
                            list.add(line, None, ProblemKind::Contradicts { first: *first });
                            continue;
                        }
                        if k.is_none() {
                            *k = key;
                        }
                        if b.is_none() {
                            *b = birth;
                        }
                    }
                }
                match parsed {
                    Parsed::Row(row) => list.entries.push(row),
                    Parsed::Capture(c) => list.captures.push(c),
                }
            }
        }
    }
    dedup(&mut list.entries);
    list
}

/// One attendance as the organiser's export shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    /// 医籍登録番号.
    pub iseki: String,
    /// Name as the register holds it.
    pub name: String,
    /// Kana, family and given separated by a space.
    pub kana: String,
    /// 入室.
    pub in_at: Timestamp,
    /// 退室, if the attendee was seen leaving.
    pub out_at: Option<Timestamp>,
    /// Whether the attendee was still there when the session closed.
    pub left_at_end: bool,
    /// How the attendance was recorded (e.g. QR code, organiser's list).
    pub channel: &'static str,
    /// The device that recorded it.
    pub device: Option<String>,
    /// The address it was recorded from.
    pub client_addr: Option<String>,
    /// Whether the attendance still awaits a decision.
    pub pending: bool,
}

/// Keeps spreadsheet programs from running a cell as a formula (CSV injection).
fn safe(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// `YYYY-MM-DD HH:MM:SS` in Japan time, a form `parse` reads back.
fn japan_time(t: Timestamp) -> String {
    to_japan(t).format("%Y-%m-%d %H:%M:%S").to_string()
}

fn write_export(rows: &[ExportRow], ja: bool) -> csv::Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(b"\xEF\xBB\xBF".to_vec());
    w.write_record(EXPORT_COLUMNS.map(|c| if ja { c.ja } else { c.en }))?;
    let yes_no = |b: bool| match (b, ja) {
        (true, true) => "はい",
        (false, true) => "いいえ",
        (true, false) => "yes",
        (false, false) => "no",
    };
    for r in rows {
        w.write_record([
            safe(&r.iseki),
            safe(&r.name),
            safe(&r.kana),
            japan_time(r.in_at),
            r.out_at.map(japan_time).unwrap_or_default(),
            yes_no(r.left_at_end).to_owned(),
            safe(PresenceChannel::parse(r.channel).map_or(r.channel, |c| channel_word(c, ja))),
            safe(r.device.as_deref().unwrap_or("")),
            safe(r.client_addr.as_deref().unwrap_or("")),
            yes_no(r.pending).to_owned(),
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// UTF-8 with BOM (Excel opens it), CRLF, Japanese headers when `ja` else English; times as
/// `YYYY-MM-DD HH:MM:SS` Japan time. The first five columns (医籍登録番号, 氏名, 氏名カナ, 入室,
/// 退室 / iseki_number, name, name_kana, check_in, check_out) come first and every column is
/// one `parse` accepts, so the export can be edited and re-uploaded. Channels are written in
/// words (会場QR, 受付, 個人QR, 名簿); a row of another channel than 名簿 re-uploads as itself,
/// open or not: matched against the recorded capture, never written.
pub fn export_csv(rows: &[ExportRow], ja: bool) -> Vec<u8> {
    // Writing to memory cannot fail.
    write_export(rows, ja).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A Japan wall-clock time as an instant.
    fn jst(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Timestamp {
        japan()
            .with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .map(|t| t.with_timezone(&Utc))
            .unwrap()
    }

    /// The session of most tests: 2024-06-01 13:00–16:00 Japan time.
    fn session() -> (Timestamp, Timestamp) {
        (jst(2024, 6, 1, 13, 0, 0), jst(2024, 6, 1, 16, 0, 0))
    }

    fn read(text: &str) -> AttendeeList {
        let (s, e) = session();
        parse(text.as_bytes(), s, e)
    }

    fn kinds(list: &AttendeeList) -> Vec<(u64, Option<&str>, ProblemKind)> {
        list.problems
            .iter()
            .map(|p| (p.line, p.column.as_deref(), p.kind.clone()))
            .collect()
    }

    fn iseki(s: &str) -> IsekiNumber {
        IsekiNumber::parse(s).unwrap()
    }

    #[test]
    fn japanese_header_utf8_with_bom() {
        let text = "\u{feff}医籍登録番号,氏名カナ,生年月日,入室,退室\r\n\
                    123456,ヤマダ タロウ,1975-04-01,13:05,14:30\r\n\
                    第0234567号,スズキ,,,\r\n";
        let list = read(text);
        assert!(list.ok(), "{:?}", list.problems);
        assert_eq!(list.encoding, "UTF-8");
        assert_eq!(list.rows, 2);
        assert_eq!(list.entries.len(), 2);
        let a = &list.entries[0];
        assert_eq!(a.line, 2);
        assert_eq!(a.iseki, iseki("123456"));
        assert_eq!(a.family_kana.as_deref(), Some("ヤマダ"));
        assert_eq!(a.given_kana.as_deref(), Some("タロウ"));
        assert_eq!(a.birth_date, NaiveDate::from_ymd_opt(1975, 4, 1));
        assert_eq!(a.in_at, jst(2024, 6, 1, 13, 5, 0));
        assert_eq!(a.out_at, jst(2024, 6, 1, 14, 30, 0));
        let b = &list.entries[1];
        assert_eq!(b.line, 3);
        assert_eq!(b.iseki, iseki("234567"));
        assert_eq!(b.family_kana.as_deref(), Some("スズキ"));
        assert_eq!(b.given_kana, None);
        assert_eq!(b.birth_date, None);
        assert_eq!((b.in_at, b.out_at), session());
    }

    #[test]
    fn english_header_any_case_and_export_columns_ignored() {
        let text = "ISEKI_NUMBER, Name ,Family_Kana,given_kana,Birth_Date,Check_In,CHECK_OUT,\
                    left_at_end,channel,device,client_addr,pending\n\
                    7654321,山田 太郎,ヤマダ,タロウ,1980/1/2,13:00,16:00,yes,list,iPhone,192.0.2.1,no\n";
        let list = read(text);
        assert!(list.ok(), "{:?}", list.problems);
        let a = &list.entries[0];
        assert_eq!(a.iseki, iseki("7654321"));
        assert_eq!(a.family_kana.as_deref(), Some("ヤマダ"));
        assert_eq!(a.given_kana.as_deref(), Some("タロウ"));
        assert_eq!(a.birth_date, NaiveDate::from_ymd_opt(1980, 1, 2));
        assert_eq!((a.in_at, a.out_at), session());
    }

    #[test]
    fn cp932_with_full_width_digits() {
        let text = "医籍登録番号,氏名カナ,生年月日\r\n１２３４５６,ﾔﾏﾀﾞ ﾀﾛｳ,１９７５／４／１\r\n";
        let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
        assert!(!unmappable);
        assert!(
            std::str::from_utf8(&bytes).is_err(),
            "the test needs non-UTF-8 bytes"
        );
        let (s, e) = session();
        let list = parse(&bytes, s, e);
        assert!(list.ok(), "{:?}", list.problems);
        assert_eq!(list.encoding, "CP932");
        let a = &list.entries[0];
        assert_eq!(a.iseki, iseki("123456"));
        assert_eq!(a.family_kana.as_deref(), Some("ヤマダ"));
        assert_eq!(a.given_kana.as_deref(), Some("タロウ"));
        assert_eq!(a.birth_date, NaiveDate::from_ymd_opt(1975, 4, 1));
    }

    #[test]
    fn unreadable_and_empty_files() {
        let (s, e) = session();
        // 0x82 opens a two-byte character that a space cannot end.
        let list = parse(b"\x82 ,\x82 \n", s, e);
        assert_eq!(list.encoding, "");
        assert_eq!(kinds(&list), vec![(0, None, ProblemKind::Unreadable)]);
        for text in ["", "\n\n", " , \r\n"] {
            let list = read(text);
            assert_eq!(
                kinds(&list),
                vec![(0, None, ProblemKind::Empty)],
                "{text:?}"
            );
            assert!(!list.ok());
        }
    }

    #[test]
    fn birth_date_forms_agree() {
        let text = "医籍登録番号,生年月日\n\
                    1,1975-04-01\n2,1975/4/1\n3,19750401\n4,１９７５０４０１\n\
                    5,＇１９７５０４０１＇\n6,1975/04/01\n7,'1975-04-01\n";
        let list = read(text);
        assert!(list.ok(), "{:?}", list.problems);
        assert_eq!(list.entries.len(), 7);
        for a in &list.entries {
            assert_eq!(
                a.birth_date,
                NaiveDate::from_ymd_opt(1975, 4, 1),
                "line {}",
                a.line
            );
        }
    }

    #[test]
    fn impossible_or_future_birth_date_is_bad_date() {
        let text = "医籍登録番号,Birth_Date\n\
                    1,1975-02-30\n2,2024-06-02\n3,1975-4\n4,75/4/1\n5,1975.04.01\n6,2024-06-01\n\
                    7,27485\n8,1899-12-31\n";
        let list = read(text);
        let mut want: Vec<_> = (2..=5)
            .map(|l| (l, Some("Birth_Date"), ProblemKind::BadDate))
            .collect();
        want.push((8, Some("Birth_Date"), ProblemKind::ExcelDate));
        want.push((9, Some("Birth_Date"), ProblemKind::BirthBefore1900));
        assert_eq!(kinds(&list), want);
        assert_eq!(list.total_problems, 6);
        // 1975.04.01 reads, and so does a birth on the session's day.
        let lines: Vec<u64> = list.entries.iter().map(|r| r.line).collect();
        assert_eq!(lines, [6, 7]);
    }

    #[test]
    fn times_of_day_are_japan_time_on_the_session_day() {
        let text =
            "医籍登録番号,入室,退室\n1,13:05,14:30\n2,9:30,１３：１０：０５\n3,13:00:00,16:00\n";
        let list = read(text);
        assert!(list.ok(), "{:?}", list.problems);
        let t: Vec<_> = list.entries.iter().map(|r| (r.in_at, r.out_at)).collect();
        assert_eq!(
            t,
            vec![
                (jst(2024, 6, 1, 13, 5, 0), jst(2024, 6, 1, 14, 30, 0)),
                (jst(2024, 6, 1, 9, 30, 0), jst(2024, 6, 1, 13, 10, 5)),
                session(),
            ]
        );
        // 13:05 JST is 04:05 UTC.
        assert_eq!(
            list.entries[0].in_at,
            Utc.with_ymd_and_hms(2024, 6, 1, 4, 5, 0).unwrap()
        );
    }

    #[test]
    fn full_date_time_forms() {
        let text = "医籍登録番号,入室,退室\n\
                    1,2024-06-01 13:05,2024-06-01 14:30:15\n\
                    1,2024/6/1 13:05,2024/6/1 14:30:15\n\
                    1,2024-06-01T13:05,2024-06-01T14:30:15\n\
                    1,2024-06-01T04:05:00Z,2024-06-01T14:30:15+09:00\n\
                    1,２０２４－０６－０１　１３：０５,2024-06-01 14:30:15\n";
        let list = read(text);
        assert!(list.ok(), "{:?}", list.problems);
        assert_eq!(
            list.entries.len(),
            1,
            "all five lines are the same attendance"
        );
        let a = &list.entries[0];
        assert_eq!(a.line, 2);
        assert_eq!(a.in_at, jst(2024, 6, 1, 13, 5, 0));
        assert_eq!(a.out_at, jst(2024, 6, 1, 14, 30, 15));
    }

    #[test]
    fn evening_session_past_midnight_reads_early_times_as_the_next_day() {
        let (s, e) = (jst(2024, 6, 1, 22, 0, 0), jst(2024, 6, 2, 1, 0, 0));
        let list = parse("医籍登録番号,入室,退室\n1,22:10,0:30\n".as_bytes(), s, e);
        assert!(list.ok(), "{:?}", list.problems);
        assert_eq!(list.entries[0].in_at, jst(2024, 6, 1, 22, 10, 0));
        assert_eq!(list.entries[0].out_at, jst(2024, 6, 2, 0, 30, 0));
        // The same times on a daytime session: 0:30 is that morning, before 22:10.
        let (s, e) = session();
        let list = parse("医籍登録番号,入室,退室\n1,13:10,0:30\n".as_bytes(), s, e);
        assert_eq!(
            kinds(&list),
            vec![(2, Some("退室"), ProblemKind::OutBeforeIn)]
        );
    }

    #[test]
    fn time_problems() {
        let text = "医籍登録番号,入室,退室\n\
                    1,13:05,\n\
                    2,,14:00\n\
                    3,14:30,13:05\n\
                    4,08:00,09:00\n\
                    5,16:00,17:00\n\
                    6,1305,14:00\n\
                    7,13:05,25:00\n\
                    8,13:5,14:00\n\
                    9,12:00,13:00:01\n";
        let list = read(text);
        assert_eq!(
            kinds(&list),
            vec![
                (2, Some("退室"), ProblemKind::OnlyOneTime),
                (3, Some("入室"), ProblemKind::OnlyOneTime),
                (4, Some("退室"), ProblemKind::OutBeforeIn),
                (5, None, ProblemKind::OutsideSession),
                (6, None, ProblemKind::OutsideSession),
                (7, Some("入室"), ProblemKind::BadTime),
                (8, Some("退室"), ProblemKind::BadTime),
                (9, Some("入室"), ProblemKind::BadTime),
            ]
        );
        assert_eq!(list.rows, 9);
        // Overlapping by one second is attendance.
        assert_eq!(list.entries.len(), 1);
        assert_eq!(list.entries[0].line, 10);
    }

    #[test]
    fn no_times_means_the_whole_session() {
        let list = read("医籍登録番号\n1\n");
        assert!(list.ok());
        assert_eq!((list.entries[0].in_at, list.entries[0].out_at), session());
        let list = read("医籍登録番号,入室,退室\n1,,\n");
        assert!(list.ok());
        assert_eq!((list.entries[0].in_at, list.entries[0].out_at), session());
    }

    #[test]
    fn wrong_columns_are_refused() {
        let list = read("foo,bar\n1,2\n3,4\n");
        assert_eq!(list.ignored_columns, ["foo", "bar"]);
        assert_eq!(
            kinds(&list),
            vec![(
                1,
                Some("医籍登録番号"),
                ProblemKind::MissingColumn {
                    name: "医籍登録番号|iseki_number".into()
                }
            ),]
        );
        assert!(!list.ok());
        assert_eq!(list.rows, 0);
    }

    #[test]
    fn repeated_and_unpaired_columns_are_refused() {
        let list =
            read("医籍登録番号,iseki_number,氏名カナ,氏カナ,入室\n1,1,ヤマダ,ヤマダ,13:00\n");
        assert_eq!(
            kinds(&list),
            vec![
                (
                    1,
                    Some("iseki_number"),
                    ProblemKind::RepeatedColumn {
                        name: "iseki_number".into()
                    }
                ),
                (
                    1,
                    Some("氏カナ"),
                    ProblemKind::RepeatedColumn {
                        name: "氏カナ".into()
                    }
                ),
                (
                    1,
                    Some("退室"),
                    ProblemKind::MissingColumn {
                        name: "退室|check_out".into()
                    }
                ),
            ]
        );
        // A header spelled in full-width letters is still the same column.
        let list = read("ｉｓｅｋｉ＿ｎｕｍｂｅｒ,\n1,\n");
        assert!(list.ok(), "{:?}", list.problems);
        assert_eq!(list.entries[0].iseki, iseki("1"));
    }

    #[test]
    fn lines_are_counted_physically() {
        // 1 blank, 2 header, 3 good, 4 blank, 5 bad, 6 empty cells, 7 blank, 8 bad.
        let text =
            "\n医籍登録番号,生年月日\r\n1,1975-04-01\r\n\r\n2,1975-02-30\n,\n\n\"3\",1975-13-01";
        let list = read(text);
        assert_eq!(
            kinds(&list),
            vec![
                (5, Some("生年月日"), ProblemKind::BadDate),
                (8, Some("生年月日"), ProblemKind::BadDate),
            ]
        );
        assert_eq!(list.rows, 3);
        assert_eq!(list.entries[0].line, 3);
    }

    #[test]
    fn a_quoted_cell_over_two_lines_keeps_later_lines_right() {
        let text = "医籍登録番号,氏名\n1,\"山田\n太郎\"\nx,\n";
        let list = read(text);
        assert_eq!(
            kinds(&list),
            vec![(4, Some("医籍登録番号"), ProblemKind::BadIseki)]
        );
    }

    #[test]
    fn cell_problems_name_line_and_column() {
        let text = "医籍登録番号,氏名カナ\n\
                    12345678,ヤマダ\n\
                    ,ヤマダ\n\
                    1,やまだ\n\
                    2,山田\n\
                    3\n\
                    4,ヤマダ,タロウ\n\
                    5,ヤマダ・ヲ ヴァー ジョン\n";
        let list = read(text);
        assert_eq!(
            kinds(&list),
            vec![
                (2, Some("医籍登録番号"), ProblemKind::BadIseki),
                (3, Some("医籍登録番号"), ProblemKind::BadIseki),
                // line 4 (hiragana) is folded to katakana, not refused
                (5, Some("氏名カナ"), ProblemKind::BadKana),
                (
                    6,
                    None,
                    ProblemKind::WrongWidth {
                        expected: 2,
                        found: 1
                    }
                ),
                (
                    7,
                    None,
                    ProblemKind::WrongWidth {
                        expected: 2,
                        found: 3
                    }
                ),
            ]
        );
        // The hiragana line is a row, folded to katakana.
        assert_eq!(list.entries[0].line, 4);
        assert_eq!(list.entries[0].family_kana.as_deref(), Some("ヤマダ"));
        let a = &list.entries[1];
        assert_eq!(a.family_kana.as_deref(), Some("ヤマダ・ヲ"));
        assert_eq!(a.given_kana.as_deref(), Some("ヴァー ジョン"));
    }

    #[test]
    fn kana_are_normalised_and_split() {
        let text = "医籍登録番号,氏名カナ\n1,ﾔﾏﾀﾞ\n2,ヤマダ　タロウ\n3,ﾔﾏﾀﾞ  ﾀﾛｳ\n4,\n";
        let list = read(text);
        assert!(list.ok(), "{:?}", list.problems);
        let names: Vec<_> = list
            .entries
            .iter()
            .map(|r| (r.family_kana.as_deref(), r.given_kana.as_deref()))
            .collect();
        assert_eq!(
            names,
            vec![
                (Some("ヤマダ"), None),
                (Some("ヤマダ"), Some("タロウ")),
                (Some("ヤマダ"), Some("タロウ")),
                (None, None),
            ]
        );
    }

    #[test]
    fn exact_duplicates_are_kept_once() {
        let text = "医籍登録番号,氏名カナ,入室,退室\n\
                    1,ヤマダ,13:00,14:00\n\
                    0001,ﾔﾏﾀﾞ,13:00:00,14:00\n\
                    1,ヤマダ,13:00,14:01\n\
                    2,ヤマダ,13:00,14:00\n\
                    1,ヤマダ,13:00,14:00\n";
        let list = read(text);
        assert!(list.ok(), "{:?}", list.problems);
        assert_eq!(list.rows, 5);
        let lines: Vec<u64> = list.entries.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 4, 5]);
    }

    #[test]
    fn too_large_is_refused_unread() {
        let mut bytes = "医籍登録番号\n".as_bytes().to_vec();
        bytes.resize(MAX_BYTES + 1, b'\n');
        let (s, e) = session();
        let list = parse(&bytes, s, e);
        assert_eq!(
            kinds(&list),
            vec![(0, None, ProblemKind::TooLarge { max_mb: 20 })]
        );
        assert_eq!(list.encoding, "");
        assert_eq!(list.rows, 0);
        // Exactly the limit is read.
        bytes.truncate(MAX_BYTES);
        assert!(parse(&bytes, s, e).ok());
    }

    #[test]
    fn only_the_first_problems_are_kept() {
        let mut text = String::from("医籍登録番号\n");
        for _ in 0..1_500 {
            text.push_str("x\n");
        }
        let list = read(&text);
        assert_eq!(list.problems.len(), MAX_REPORTED);
        assert_eq!(list.total_problems, 1_500);
        assert_eq!(list.rows, 1_500);
        assert_eq!(list.problems[0].line, 2);
        assert_eq!(list.problems[MAX_REPORTED - 1].line, 1_001);
        assert!(list.problems.windows(2).all(|w| w[0].line < w[1].line));
    }

    /// The header and a million junk lines (about 2 MB).
    fn junk() -> Vec<u8> {
        let mut bytes = "医籍登録番号\n".as_bytes().to_vec();
        for _ in 0..1_000_000 {
            bytes.extend_from_slice(b"x\n");
        }
        bytes
    }

    /// The header and [`MAX_ROWS`] good lines.
    fn valid_rows() -> Vec<u8> {
        let mut text = String::from("医籍登録番号,氏名カナ,生年月日,入室,退室\n");
        for i in 1..=MAX_ROWS {
            text.push_str(&format!("{i},ヤマダ タロウ,1975-04-01,13:05,14:30\n"));
        }
        text.into_bytes()
    }

    #[test]
    fn a_million_junk_lines_stop_at_the_limit() {
        let bytes = junk();
        let (s, e) = session();
        let started = std::time::Instant::now();
        let list = parse(&bytes, s, e);
        let took = started.elapsed();
        assert_eq!(list.rows, MAX_ROWS);
        assert_eq!(list.total_problems, MAX_ROWS + 1);
        assert_eq!(list.problems.len(), MAX_REPORTED);
        // Reading stopped at once; the limit is listed first, then the first bad lines.
        assert_eq!(
            list.problems[0].kind,
            ProblemKind::TooManyRows { max: MAX_ROWS }
        );
        assert_eq!(list.problems[0].line, MAX_ROWS + 2);
        assert_eq!(list.problems[1].line, 2);
        let last = list.problems.last().unwrap();
        assert_eq!(last.line, MAX_REPORTED as u64);
        assert!(list.entries.is_empty());
        assert!(took.as_secs() < 30, "took {took:?}");
        // The TooManyRows problem itself, when it is among the kept ones.
        let small = {
            let mut b = "医籍登録番号\n".as_bytes().to_vec();
            for i in 1..=MAX_ROWS + 5 {
                b.extend_from_slice(format!("{i}\n").as_bytes());
            }
            b
        };
        let list = parse(&small, s, e);
        assert_eq!(list.rows, MAX_ROWS);
        assert_eq!(
            kinds(&list),
            vec![(
                MAX_ROWS + 2,
                None,
                ProblemKind::TooManyRows { max: MAX_ROWS }
            )]
        );
        assert_eq!(list.entries.len(), MAX_ROWS as usize);
    }

    #[test]
    fn two_hundred_thousand_rows_parse() {
        let bytes = valid_rows();
        let (s, e) = session();
        let list = parse(&bytes, s, e);
        assert!(list.ok(), "{:?}", list.problems.first());
        assert_eq!(list.entries.len(), MAX_ROWS as usize);
        assert_eq!(list.entries[MAX_ROWS as usize - 1].line, MAX_ROWS + 1);
    }

    // Peak memory. The crate forbids unsafe code, so no counting global allocator can be
    // declared here; instead each case runs alone in a child process of this test binary, which
    // reports its peak resident memory (VmHWM) — an upper bound of what it allocated.

    /// Set in the child process, so the ignored cases below run only there.
    const CHILD: &str = "MAMIS_ATTENDEES_PEAK_CHILD";
    const PEAK_LIMIT_KB: u64 = 256 * 1024;

    /// Runs the ignored test `name` of this module in a process of its own and returns its
    /// peak resident memory in kB.
    #[cfg(target_os = "linux")]
    fn peak_kb_of(name: &str) -> u64 {
        let module = module_path!();
        let module = module.split_once("::").map_or(module, |(_, rest)| rest);
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                &format!("{module}::{name}"),
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
            .lines()
            .find_map(|l| l.split_once("peak_kb=").map(|(_, v)| v))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("the child reported no peak: {stdout}"))
    }

    /// This process's peak resident memory in kB.
    #[cfg(target_os = "linux")]
    fn own_peak_kb() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn peak_memory_stays_bounded() {
        for name in ["peak_child_junk", "peak_child_valid_rows"] {
            let kb = peak_kb_of(name);
            assert!(kb > 0 && kb < PEAK_LIMIT_KB, "{name}: peak {kb} kB");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    #[ignore = "run by peak_memory_stays_bounded in a process of its own"]
    fn peak_child_junk() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        let bytes = junk();
        let (s, e) = session();
        let list = parse(&bytes, s, e);
        assert_eq!(list.rows, MAX_ROWS);
        println!("peak_kb={}", own_peak_kb());
    }

    #[cfg(target_os = "linux")]
    #[test]
    #[ignore = "run by peak_memory_stays_bounded in a process of its own"]
    fn peak_child_valid_rows() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        let bytes = valid_rows();
        let (s, e) = session();
        let list = parse(&bytes, s, e);
        assert_eq!(list.entries.len(), MAX_ROWS as usize);
        println!("peak_kb={}", own_peak_kb());
    }

    fn export_rows() -> Vec<ExportRow> {
        vec![
            ExportRow {
                iseki: "123456".into(),
                name: "山田 太郎".into(),
                kana: "ヤマダ タロウ".into(),
                in_at: jst(2024, 6, 1, 13, 5, 7),
                out_at: Some(jst(2024, 6, 1, 15, 59, 0)),
                left_at_end: false,
                channel: "venue_qr",
                device: Some("=HYPERLINK(\"x\"), \"Mobile\"".into()),
                client_addr: Some("192.0.2.1".into()),
                pending: true,
            },
            ExportRow {
                iseki: "7".into(),
                name: "鈴木,花子".into(),
                kana: "スズキ".into(),
                in_at: jst(2024, 6, 1, 12, 50, 0),
                out_at: Some(jst(2024, 6, 1, 16, 0, 0)),
                left_at_end: true,
                channel: "list",
                device: None,
                client_addr: None,
                pending: false,
            },
        ]
    }

    #[test]
    fn export_round_trips_through_parse() {
        let rows = export_rows();
        let (s, e) = session();
        for ja in [true, false] {
            let bytes = export_csv(&rows, ja);
            assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
            let text = std::str::from_utf8(&bytes[3..]).unwrap();
            let header = if ja {
                "医籍登録番号,氏名,氏名カナ,入室,退室,閉会時退室,経路,端末,接続元,保留\r\n"
            } else {
                "iseki_number,name,name_kana,check_in,check_out,left_at_end,channel,device,\
                 client_addr,pending\r\n"
            };
            assert!(text.starts_with(header), "{text}");
            assert!(text.contains("2024-06-01 13:05:07,2024-06-01 15:59:00"));
            assert_eq!(text.matches("\r\n").count(), 3);
            // The user-agent cannot run as a formula in a spreadsheet.
            assert!(text.contains("\"'=HYPERLINK("), "{text}");

            let list = parse(&bytes, s, e);
            assert!(list.ok(), "{ja}: {:?}", list.problems);
            assert_eq!(list.encoding, "UTF-8");
            // The QR capture comes back as a capture line, channel in words, not as a row.
            assert!(
                text.contains(if ja { ",会場QR," } else { ",venue QR," }),
                "{text}"
            );
            assert!(!text.contains("venue_qr"), "{text}");
            assert_eq!(list.captures.len(), 1);
            assert_eq!(list.captures[0].channel, PresenceChannel::VenueQr);
            assert_eq!(list.captures[0].in_at, rows[0].in_at);
            let back: Vec<_> = list
                .entries
                .iter()
                .map(|r| {
                    (
                        r.iseki.to_string(),
                        r.family_kana.clone(),
                        r.given_kana.clone(),
                        r.in_at,
                        r.out_at,
                    )
                })
                .collect();
            let want: Vec<_> = rows
                .iter()
                .filter(|r| r.channel == "list")
                .map(|r| {
                    let mut k = r.kana.split(' ');
                    (
                        r.iseki.clone(),
                        k.next().map(str::to_owned),
                        k.next().map(str::to_owned),
                        r.in_at,
                        r.out_at.unwrap(),
                    )
                })
                .collect();
            assert_eq!(back, want);
        }
    }

    #[test]
    fn open_captures_read_back_and_open_list_rows_ask_for_a_check_out() {
        let mut rows = export_rows();
        rows[0].out_at = None;
        let (s, e) = session();
        let list = parse(&export_csv(&rows, true), s, e);
        assert!(list.ok(), "{:?}", list.problems);
        assert_eq!(list.captures[0].out_at, None);
        rows[1].out_at = None;
        let list = parse(&export_csv(&rows, true), s, e);
        assert_eq!(
            kinds(&list),
            vec![(3, Some("退室"), ProblemKind::OnlyOneTime)]
        );
    }

    #[test]
    fn contradicting_lines_name_both() {
        let text = "医籍登録番号,氏名カナ,生年月日,入室,退室\n\
                    1,カトウ ユウト,1980-01-02,13:00,14:00\n\
                    1,かとうゆうと,S55.1.2,15:00,16:00\n\
                    2,ヤマダ タロウ,,13:00,14:00\n\
                    2,ヤマダ ジロウ,,15:00,16:00\n\
                    3,,1980-01-02,13:00,14:00\n\
                    3,,1980-01-03,15:00,16:00\n";
        let list = read(text);
        assert_eq!(
            kinds(&list),
            vec![
                (5, None, ProblemKind::Contradicts { first: 4 }),
                (7, None, ProblemKind::Contradicts { first: 6 }),
            ]
        );
        assert!(
            list.problems[0].english().contains("line 4"),
            "{:?}",
            list.problems[0].english()
        );
    }

    #[test]
    fn unknown_and_trailing_empty_columns_are_ignored() {
        let text = "医籍登録番号,氏名カナ,備考,,\n1,ヤマダ タロウ,遅刻,,\n2,ヤマダ ハナコ,,,\n\n";
        let list = read(text);
        assert!(list.ok(), "{:?}", list.problems);
        assert_eq!(list.ignored_columns, ["備考"]);
        assert_eq!(list.entries.len(), 2);
        let list = read("医籍登録番号,氏名カナ\n1,\"ヤマダ\n2,ヤマダ\n");
        assert_eq!(kinds(&list), vec![(2, None, ProblemKind::UnclosedQuote)]);
    }

    #[test]
    fn every_kind_has_its_own_message_and_args() {
        let all = [
            ProblemKind::TooLarge { max_mb: 20 },
            ProblemKind::TooManyRows { max: MAX_ROWS },
            ProblemKind::Unreadable,
            ProblemKind::Empty,
            ProblemKind::BrokenCsv,
            ProblemKind::UnknownColumn { name: "foo".into() },
            ProblemKind::RepeatedColumn {
                name: "入室".into(),
            },
            ProblemKind::MissingColumn {
                name: ISEKI.label(),
            },
            ProblemKind::WrongWidth {
                expected: 5,
                found: 3,
            },
            ProblemKind::BadIseki,
            ProblemKind::BadKana,
            ProblemKind::BadDate,
            ProblemKind::BadTime,
            ProblemKind::OnlyOneTime,
            ProblemKind::OutBeforeIn,
            ProblemKind::OutsideSession,
            ProblemKind::RegisterMismatch { register: None },
            ProblemKind::RegisterMismatch {
                register: Some("カトウ ユウト".into()),
            },
            ProblemKind::UnclosedQuote,
            ProblemKind::NotBegun,
            ProblemKind::ExcelDate,
            ProblemKind::BirthBefore1900,
            ProblemKind::BadChannel,
            ProblemKind::Contradicts { first: 3 },
            ProblemKind::CaptureChanged,
            ProblemKind::CaptureMissing {
                iseki: "123456".into(),
                at: "2024-06-01 13:05:07".into(),
            },
        ];
        let problems: Vec<Problem> = all
            .into_iter()
            .map(|kind| Problem {
                line: 1,
                column: None,
                kind,
            })
            .collect();
        let ids: HashSet<_> = problems.iter().map(Problem::message_id).collect();
        assert_eq!(ids.len(), problems.len());
        assert!(ids.iter().all(|id| id.starts_with("attendees-problem-")));
        assert!(problems.iter().all(|p| !p.english().is_empty()));
        assert_eq!(problems[0].args(), vec![("max_mb", "20".to_owned())]);
        assert_eq!(problems[1].args(), vec![("max", "200000".to_owned())]);
        assert_eq!(problems[5].args(), vec![("name", "foo".to_owned())]);
        assert_eq!(
            problems[7].args(),
            vec![("name", "医籍登録番号|iseki_number".to_owned())]
        );
        assert_eq!(
            problems[8].args(),
            vec![("expected", "5".to_owned()), ("found", "3".to_owned())]
        );
        assert!(problems[9].args().is_empty());
        assert_eq!(problems[11].message_id(), "attendees-problem-bad-date");
        assert!(problems[8].english().contains("3 cells but the header 5"));
    }
}
