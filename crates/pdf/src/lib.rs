//! A4 PDFs of the three CME documents — 学習単位取得証, 日医生涯教育認定証 and 受講証明書 — with
//! the IPAex Mincho font embedded (subset; IPAmj Mincho for the characters it lacks) and a QR code of the public verification URL.
//!
//! [`render`] is a pure function of its input: no clock, no random ids, so the same
//! [`Certificate`] always gives the same bytes (the metadata dates come from `issued_on`).
//! The output is PDF/A-2b, checked by krilla's validator on every render.
//!
//! Which records a document lists (e-learning only, journal-quiz credits excluded, …) is decided
//! by the caller; this crate checks only what it can see: dates and printable characters.

mod layout;
mod qr;
mod typeset;
mod wareki;

use chrono::NaiveDate;

pub use wareki::{date_ja, fiscal_year_ja, units_text};

/// The doctor a document is about, as printed in its holder block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// 氏名 — full name as registered, e.g. "山田 太郎".
    pub name: String,
    /// フリガナ — reading in katakana, e.g. "ヤマダ タロウ".
    pub kana: String,
    /// 医籍登録番号 — national medical register number.
    pub iseki: String,
}

/// One curriculum code (カリキュラムコード) line of a 学習単位取得証.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeLine {
    /// Curriculum code number (0–84 in the JMA table).
    pub code: u16,
    /// Curriculum code name, e.g. "医療倫理".
    pub name: String,
    /// Units earned under this code, in half units (121 = 60.5 units).
    pub half_units: i64,
}

/// One attendance record (受講記録) of a 受講証明書.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttendanceLine {
    /// Day of attendance; must lie inside the document's period.
    pub date: NaiveDate,
    /// Course or lecture title.
    pub title: String,
    /// Kind of record as printed, e.g. "研修会" or "e-ラーニング".
    pub source_label: String,
    /// Curriculum code of the record.
    pub code: u16,
    /// Units of the record, in half units.
    pub half_units: i64,
}

/// What a certificate certifies; each variant is one of the three documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    /// 学習単位取得証 — units and curriculum codes earned in one fiscal year.
    AnnualUnits {
        /// Fiscal year (April–March) named by its starting calendar year.
        fiscal_year: i32,
        /// Total units of the year, in half units.
        half_units: i64,
        /// Per-code breakdown, printed in the given order.
        codes: Vec<CodeLine>,
    },
    /// 日医生涯教育認定証 — the three-year certificate.
    CmeCertificate {
        /// First fiscal year of the window.
        from_fy: i32,
        /// Last fiscal year of the window (inclusive).
        to_fy: i32,
        /// Units earned in the window, in half units.
        half_units: i64,
        /// Number of distinct curriculum codes earned in the window.
        codes: u32,
        /// 有効期限 — last day the certificate is valid.
        valid_until: NaiveDate,
    },
    /// A certified-doctor programme's certificate (認定産業医, 健康スポーツ医, かかりつけ医の修了証)
    /// or, where the JMA issues paper, the record of that certification.
    ProgrammeRecord {
        /// Title as printed, e.g. "日本医師会認定産業医 認定記録".
        title: String,
        /// The programme's name, e.g. "日本医師会認定産業医".
        programme: String,
        /// First day of validity.
        valid_from: NaiveDate,
        /// Last day of validity.
        valid_until: NaiveDate,
        /// The JMA issues the paper certificate: this PDF is only a record of certification.
        record_only: bool,
    },
    /// 受講証明書 — attendance over a chosen past period.
    Attendance {
        /// First day of the period.
        from: NaiveDate,
        /// Last day of the period; not after the issue date.
        to: NaiveDate,
        /// Whether the caller selected e-learning records only (printed as the scope).
        elearning_only: bool,
        /// Records, printed in the given order, paginated as needed.
        lines: Vec<AttendanceLine>,
        /// 受講件数 — how many attendances the lines make up, counted by the caller: one per
        /// training session attended and one per e-learning content passed (a session's lines
        /// for several curriculum codes are one attendance). At most the number of lines, and
        /// at least one when there are lines.
        attended: u32,
    },
}

/// Everything printed on one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// 証明書番号 — the public number that the verification page looks up.
    pub number: String,
    /// 発行日 — also the PDF's metadata date, which keeps the bytes reproducible.
    pub issued_on: NaiveDate,
    /// Issuer line, e.g. "公益社団法人 日本医師会".
    pub issuer: String,
    /// `BASE_URL/verify/{number}?c={code}`, printed and encoded in the QR code.
    pub verify_url: String,
    /// The doctor.
    pub holder: Holder,
    /// Which document and its details.
    pub document: Document,
}

/// Why a document could not be rendered; every case is a problem of the input except `Font`
/// and `Pdf`.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// A character has no glyph in either embedded font (IPAex Mincho, then IPAmj Mincho for
    /// 𠮷 and variation sequences). Nothing is substituted: a certificate must not misprint a
    /// name.
    #[error("no font has a glyph for {ch:?} (U+{:04X}) in {field}", u32::from(*ch))]
    MissingGlyph {
        /// Which input field holds the character.
        field: &'static str,
        /// The character.
        ch: char,
    },
    /// Dates or periods that cannot be certified (future period, line outside its period, …).
    #[error("invalid document input: {0}")]
    Invalid(&'static str),
    /// The verification URL is too long for a QR code.
    #[error("the verification URL does not fit in a QR code: {0}")]
    Qr(#[from] qrcode::types::QrError),
    /// The embedded font could not be parsed (a broken build, not bad input).
    #[error("the embedded font could not be read")]
    Font,
    /// krilla refused to write the PDF (including PDF/A validation failures).
    #[error("PDF serialisation failed: {0}")]
    Pdf(String),
}

/// Renders one document as A4 PDF bytes; identical input gives identical bytes.
pub fn render(c: &Certificate) -> Result<Vec<u8>, PdfError> {
    layout::check(c)?;
    let pages = layout::compose(c)?;
    typeset::emit(&pages, &layout::metadata(c)?)
}
