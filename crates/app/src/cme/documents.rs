//! My Page ⑤: the printable PDFs — 日医生涯教育認定証 (per issued certificate), 学習単位取得証 (per
//! closed fiscal year) and 受講証明書 (a chosen past period; journal-quiz credits excluded). Each
//! carries a number and a verification code; the same content for the same doctor reuses its
//! number, so downloading twice gives the same document.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::NaiveDate;
use mamis_domain::curriculum::Catalogue;
use mamis_domain::rules::{Rules, YearTotals, year_totals};
use mamis_domain::time::japan_date;
use mamis_domain::training::origin_item;
use mamis_domain::{Action, FiscalYear, LedgerEntry, Principal, Source};
use mamis_store::{
    CertificateStore, Doctor, DocumentRecord, LedgerStore, RegistryStore, Store, Tx,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::certificates::{Period, format_number, new_verification_code};
use super::{PROGRAMME, authorize};
use crate::audit::Entry;
use crate::{App, AppError};

/// Number series of the 学習単位取得証: `U2026-000001`.
pub const SERIES_ANNUAL: &str = "U";
/// Number series of the 受講証明書: `A2026-000001`.
pub const SERIES_ATTENDANCE: &str = "A";
/// The issuer printed on every document.
pub const ISSUER: &str = "公益社団法人 日本医師会";

/// Why a document cannot be printed; each maps to one message on My Page.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The fiscal year has not ended, so its 学習単位取得証 cannot be issued yet.
    #[error("the fiscal year has not ended")]
    YearNotClosed,
    /// Nothing was recorded for what was asked.
    #[error("nothing is recorded for that")]
    NothingToPrint,
    /// The period ends in the future (only past attendance can be certified).
    #[error("the period must not end in the future")]
    FuturePeriod,
    /// The period starts after it ends.
    #[error("the period starts after it ends")]
    ReversedPeriod,
    /// The certificate was imported from the prior system and has no MAMIS print.
    #[error("this certificate was issued on paper by the prior system")]
    PriorSystem,
    /// The PDF could not be produced (a defect; logged).
    #[error("pdf: {0}")]
    Pdf(String),
    /// Authorization, storage and the rest.
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<mamis_store::StoreError> for DocumentError {
    fn from(e: mamis_store::StoreError) -> Self {
        Self::App(e.into())
    }
}

/// A rendered document.
#[derive(Debug, Clone)]
pub struct Printed {
    /// The printed number.
    pub number: String,
    /// A file name for the download.
    pub filename: String,
    /// The PDF.
    pub pdf: Vec<u8>,
}

/// A revoked certificate or document, as its holder is told instead of getting the PDF: the
/// date and the reason category the verification page shows (the staff member's own words go
/// to the holder's mail, not here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedNotice {
    /// The printed number.
    pub number: String,
    /// `cme_certificate`, `annual_units` or `attendance`.
    pub kind: String,
    /// The day of the revocation in Japan.
    pub on: NaiveDate,
    /// The public reason category (`error`, `fraud`, `holder_request`, `other`).
    pub category: String,
}

impl RevokedNotice {
    fn of(number: &str, kind: &str, r: &mamis_store::Revocation) -> Self {
        Self {
            number: number.to_owned(),
            kind: kind.to_owned(),
            on: japan_date(r.at),
            category: r.category.clone(),
        }
    }
}

/// What a download request gets: the PDF, or — once revoked — no PDF but the revocation, so
/// a revoked number is never printed again.
#[derive(Debug, Clone)]
pub enum Download {
    /// The rendered document.
    Pdf(Printed),
    /// The document was revoked.
    Revoked(RevokedNotice),
}

impl Download {
    /// The PDF, or the revocation that replaced it.
    pub fn into_pdf(self) -> Result<Printed, RevokedNotice> {
        match self {
            Download::Pdf(p) => Ok(p),
            Download::Revoked(r) => Err(r),
        }
    }
}

/// The public verification URL printed as the QR code.
pub fn verify_url(base: &url::Url, number: &str, code: &str) -> String {
    let mut u = base.clone();
    u.set_path(&format!("{}verify/{number}", base.path()));
    u.set_query(Some(&format!("c={code}")));
    u.to_string()
}

/// The period a stored document covers (for the verification page).
pub fn period_of(kind: &str, content: &Value) -> Option<Period> {
    match kind {
        "annual_units" => {
            let y = i32::try_from(content.get("fiscal_year")?.as_i64()?).ok()?;
            let fy = FiscalYear::new(y).ok()?;
            Some(Period::Years(fy, fy))
        }
        "attendance" => {
            let d = |k: &str| content.get(k)?.as_str()?.parse::<NaiveDate>().ok();
            Some(Period::Dates(d("from")?, d("to")?))
        }
        _ => None,
    }
}

fn holder(d: &Doctor) -> mamis_pdf::Holder {
    mamis_pdf::Holder {
        name: format!("{} {}", d.family_name, d.given_name),
        kana: format!("{} {}", d.family_kana, d.given_kana),
        iseki: d.iseki.to_string(),
    }
}

fn code_name(rules: &Rules, code: u16) -> String {
    Catalogue::embedded()
        .entries(&rules.catalogue_version)
        .find(|e| e.number == code)
        .map(|e| e.name_ja.clone())
        .unwrap_or_default()
}

fn render(c: &mamis_pdf::Certificate) -> Result<Vec<u8>, DocumentError> {
    mamis_pdf::render(c).map_err(|e| DocumentError::Pdf(e.to_string()))
}

/// The PDF of an issued 日医生涯教育認定証, or its revocation once revoked.
pub async fn certificate_pdf<S: Store>(
    app: &App<S>,
    who: &Principal,
    number: &str,
) -> Result<Download, DocumentError> {
    let today = japan_date(app.now());
    let mut tx = app.store.read().await?;
    let c = tx
        .certificate_by_number(number)
        .await?
        .ok_or(AppError::NotFound)?;
    let d = tx.doctor(c.doctor).await?.ok_or(AppError::NotFound)?;
    authorize(&mut tx, who, &d, Action::ViewDoctors, today).await?;
    tx.rollback().await?;
    if let Some(r) = &c.revocation {
        return Ok(Download::Revoked(RevokedNotice::of(
            &c.number,
            "cme_certificate",
            r,
        )));
    }
    let (Some(code), Some(valid_until), Some((half_units, codes))) =
        (&c.verification_code, c.valid_until, c.counted)
    else {
        return Err(DocumentError::PriorSystem);
    };
    let pdf = render(&mamis_pdf::Certificate {
        number: c.number.clone(),
        issued_on: c.issued_on,
        issuer: ISSUER.into(),
        verify_url: verify_url(&app.config.base_url, &c.number, code),
        holder: holder(&d),
        document: mamis_pdf::Document::CmeCertificate {
            from_fy: c.from_fy.year(),
            to_fy: c.to_fy.year(),
            half_units: half_units.get(),
            codes,
            valid_until,
        },
    })?;
    Ok(Download::Pdf(Printed {
        filename: format!("{}.pdf", c.number),
        number: c.number,
        pdf,
    }))
}

/// Finds the document with this content or records a new one (numbered under the series lock).
async fn record<S: Store>(
    app: &App<S>,
    who: &Principal,
    doctor: Uuid,
    kind: &str,
    series: &str,
    content: &Value,
) -> Result<DocumentRecord, DocumentError> {
    let now = app.now();
    let today = japan_date(now);
    let text = content.to_string();
    let key = content_key(content);
    let mut tx = app.store.write().await?;
    if let Some(d) = tx.document_by_key(doctor, kind, &key).await? {
        tx.rollback().await?;
        return Ok(d);
    }
    let year = chrono::Datelike::year(&today);
    let n = tx.lock_number_series(series, year).await?;
    let d = DocumentRecord {
        id: Uuid::new_v4(),
        number: format_number(series, year, n),
        kind: kind.to_owned(),
        doctor,
        programme: PROGRAMME,
        content: text,
        content_key: key,
        verification_code: new_verification_code(),
        issued_on: today,
        revocation: None,
        created_at: now,
    };
    tx.insert_document(&d).await?;
    tx.set_next_number(series, year, n + 1).await?;
    app.audit(
        &mut tx,
        Entry::new(who, "document.issue", format!("doctor:{doctor}"))
            .details(json!({ "number": d.number, "kind": kind })),
    )
    .await?;
    tx.commit().await?;
    Ok(d)
}

/// What a 学習単位取得証 records of its year: the same totals always give the same content,
/// hence the same number.
fn annual_content(fiscal_year: FiscalYear, y: &YearTotals) -> Value {
    let codes: Vec<Value> = y
        .per_code
        .iter()
        .map(|(c, h)| json!([c, h.get()]))
        .collect();
    json!({
        "fiscal_year": fiscal_year.year(),
        "half_units": y.half_units.get(),
        "codes": codes,
    })
}

fn content_key(content: &Value) -> String {
    hex::encode(Sha256::digest(content.to_string().as_bytes()))
}

/// What My Page ⑤ lists: the doctor's summary (certificates, closed years with credits) and the
/// closed years whose 学習単位取得証 — the one a download would print today — was revoked, so
/// the page does not offer it.
#[derive(Debug, Clone)]
pub struct DocumentsOverview {
    /// The doctor's standing, certificates and ledger.
    pub summary: super::Summary,
    /// Per closed fiscal year, the revocation of its 学習単位取得証.
    pub revoked_annual: BTreeMap<FiscalYear, RevokedNotice>,
}

/// ⑤ for the logged-in doctor; `None` without a verified MAMIS_ID.
pub async fn overview<S: Store>(
    app: &App<S>,
    current: &crate::identity::sessions::Current,
) -> Result<Option<DocumentsOverview>, DocumentError> {
    let Some(summary) = super::own_summary(app, current).await? else {
        return Ok(None);
    };
    let doctor = summary.doctor.id;
    let current_fy = summary.standing.current_fy;
    let mut revoked_annual = BTreeMap::new();
    let mut tx = app.store.read().await?;
    for (fy, y) in year_totals(summary.rules, &summary.entries) {
        if fy >= current_fy || !y.half_units.is_positive() {
            continue;
        }
        let key = content_key(&annual_content(fy, &y));
        if let Some(d) = tx.document_by_key(doctor, "annual_units", &key).await?
            && let Some(r) = &d.revocation
        {
            revoked_annual.insert(fy, RevokedNotice::of(&d.number, &d.kind, r));
        }
    }
    tx.rollback().await?;
    Ok(Some(DocumentsOverview {
        summary,
        revoked_annual,
    }))
}

/// The 学習単位取得証 of a closed fiscal year.
pub async fn annual_units_pdf<S: Store>(
    app: &App<S>,
    who: &Principal,
    doctor: Uuid,
    fiscal_year: FiscalYear,
) -> Result<Download, DocumentError> {
    let rules = Rules::embedded(PROGRAMME);
    let today = japan_date(app.now());
    if fiscal_year >= FiscalYear::of_date(today) {
        return Err(DocumentError::YearNotClosed);
    }
    let mut tx = app.store.read().await?;
    let d = tx.doctor(doctor).await?.ok_or(AppError::NotFound)?;
    authorize(&mut tx, who, &d, Action::ViewDoctors, today).await?;
    let entries = tx.ledger_of(doctor, PROGRAMME).await?;
    tx.rollback().await?;
    let years = year_totals(rules, &entries);
    let y = years
        .get(&fiscal_year)
        .filter(|y| y.half_units.is_positive())
        .ok_or(DocumentError::NothingToPrint)?;
    let content = annual_content(fiscal_year, y);
    let rec = record(app, who, doctor, "annual_units", SERIES_ANNUAL, &content).await?;
    if let Some(r) = &rec.revocation {
        return Ok(Download::Revoked(RevokedNotice::of(
            &rec.number,
            &rec.kind,
            r,
        )));
    }
    let pdf = render(&mamis_pdf::Certificate {
        number: rec.number.clone(),
        issued_on: rec.issued_on,
        issuer: ISSUER.into(),
        verify_url: verify_url(&app.config.base_url, &rec.number, &rec.verification_code),
        holder: holder(&d),
        document: mamis_pdf::Document::AnnualUnits {
            fiscal_year: fiscal_year.year(),
            half_units: y.half_units.get(),
            codes: y
                .per_code
                .iter()
                .map(|(c, h)| mamis_pdf::CodeLine {
                    code: *c,
                    name: code_name(rules, *c),
                    half_units: h.get(),
                })
                .collect(),
        },
    })?;
    Ok(Download::Pdf(Printed {
        filename: format!("{}.pdf", rec.number),
        number: rec.number,
        pdf,
    }))
}

/// The entries a 受講証明書 attests: training and e-learning (or e-learning only) dated within
/// the period, without reversed entries or reversals; journal-quiz credits never.
pub fn attendance_lines(
    entries: &[LedgerEntry],
    from: NaiveDate,
    to: NaiveDate,
    elearning_only: bool,
) -> Vec<&LedgerEntry> {
    let reversed: HashSet<Uuid> = entries.iter().filter_map(|e| e.reverses).collect();
    entries
        .iter()
        .filter(|e| !e.is_reversal() && !reversed.contains(&e.id))
        .filter(|e| match e.source {
            Source::ELearning => true,
            Source::Training => !elearning_only,
            _ => false,
        })
        .filter(|e| from <= e.date && e.date <= to)
        .collect()
}

/// 受講件数 of a 受講証明書: one per training session attended plus one per e-learning content
/// passed, however many lines (one per programme item, part and curriculum code) each made. A
/// training line whose item `session_of` knows counts as that session; one whose item is not
/// known (imported history, demo data) as its day and title, which a session's lines share
/// (the title is the session's). An e-learning line counts as its origin key: one content.
pub fn attendance_count(lines: &[&LedgerEntry], session_of: &HashMap<Uuid, Uuid>) -> u32 {
    #[derive(PartialEq, Eq, Hash)]
    enum Attended<'a> {
        Session(Uuid),
        Day(NaiveDate, Option<&'a str>),
        Content(&'a str),
    }
    let attended: HashSet<Attended<'_>> = lines
        .iter()
        .map(|e| match e.source {
            Source::Training => match origin_item(&e.origin_key).and_then(|i| session_of.get(&i)) {
                Some(s) => Attended::Session(*s),
                None => Attended::Day(e.date, e.note.as_deref()),
            },
            _ => Attended::Content(e.origin_key.as_str()),
        })
        .collect();
    u32::try_from(attended.len()).unwrap_or(u32::MAX)
}

/// The session of each programme item of the sessions where the doctor (or their number, while
/// pending) was present.
async fn item_sessions<T: Tx>(
    tx: &mut T,
    d: &Doctor,
) -> Result<HashMap<Uuid, Uuid>, DocumentError> {
    let sessions: BTreeSet<Uuid> = tx
        .presence_of_doctor(d.id, &d.iseki)
        .await?
        .into_iter()
        .map(|r| r.session)
        .collect();
    let mut of = HashMap::new();
    for s in sessions {
        for item in tx.programme_items(s).await? {
            of.insert(item.id, s);
        }
    }
    Ok(of)
}

/// A 受講証明書 for a past period.
pub async fn attendance_pdf<S: Store>(
    app: &App<S>,
    who: &Principal,
    doctor: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    elearning_only: bool,
) -> Result<Download, DocumentError> {
    let rules = Rules::embedded(PROGRAMME);
    let today = japan_date(app.now());
    if to > today {
        return Err(DocumentError::FuturePeriod);
    }
    if from > to {
        return Err(DocumentError::ReversedPeriod);
    }
    let mut tx = app.store.read().await?;
    let d = tx.doctor(doctor).await?.ok_or(AppError::NotFound)?;
    authorize(&mut tx, who, &d, Action::ViewDoctors, today).await?;
    let entries = tx.ledger_of(doctor, PROGRAMME).await?;
    let lines = attendance_lines(&entries, from, to, elearning_only);
    if lines.is_empty() {
        tx.rollback().await?;
        return Err(DocumentError::NothingToPrint);
    }
    let session_of = if lines.iter().any(|e| e.source == Source::Training) {
        item_sessions(&mut tx, &d).await?
    } else {
        HashMap::new()
    };
    tx.rollback().await?;
    let attended = attendance_count(&lines, &session_of);
    let label = |s: Source| match s {
        Source::ELearning => "日医e-ラーニング",
        _ => "研修会",
    };
    let content = json!({
        "from": from.to_string(),
        "to": to.to_string(),
        "elearning_only": elearning_only,
        "attended": attended,
        "lines": lines.iter().map(|e| json!({
            "date": e.date.to_string(),
            "title": e.note.clone().unwrap_or_default(),
            "source": e.source.as_str(),
            "code": e.code,
            "half_units": e.half_units.get(),
        })).collect::<Vec<_>>(),
    });
    let rec = record(app, who, doctor, "attendance", SERIES_ATTENDANCE, &content).await?;
    if let Some(r) = &rec.revocation {
        return Ok(Download::Revoked(RevokedNotice::of(
            &rec.number,
            &rec.kind,
            r,
        )));
    }
    let pdf = render(&mamis_pdf::Certificate {
        number: rec.number.clone(),
        issued_on: rec.issued_on,
        issuer: ISSUER.into(),
        verify_url: verify_url(&app.config.base_url, &rec.number, &rec.verification_code),
        holder: holder(&d),
        document: mamis_pdf::Document::Attendance {
            from,
            to,
            elearning_only,
            lines: lines
                .iter()
                .map(|e| mamis_pdf::AttendanceLine {
                    date: e.date,
                    title: e
                        .note
                        .clone()
                        .unwrap_or_else(|| format!("CC{} {}", e.code, code_name(rules, e.code))),
                    source_label: label(e.source).into(),
                    code: e.code,
                    half_units: e.half_units.get(),
                })
                .collect(),
            attended,
        },
    })?;
    Ok(Download::Pdf(Printed {
        filename: format!("{}.pdf", rec.number),
        number: rec.number,
        pdf,
    }))
}
