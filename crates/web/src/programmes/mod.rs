//! 認定医・研修制度 — the certified-doctor programmes' pages: the doctor's progress, applications
//! and certificates on My Page; the office's application queues, reviews, 研修手帳 units and
//! rosters with CSV export.

mod files;
mod lectures;
mod mypage;
mod office;
mod sessions;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use mamis_app::programmes::ProgrammeError;
use mamis_app::programmes::progress::ProgrammeProgress;
use mamis_domain::HalfUnits;
use mamis_domain::programmes::{CertifiedProgramme, Line, LineKey, LineMeasure};
use mamis_store::Store;

use crate::WebState;
use crate::shell::error::{Failure, PageError};
use crate::shell::fmt::Fmt;
use crate::shell::i18n::Lang;

pub(crate) use mypage::{ProgrammeCard, mypage_card};

/// The routes of the programmes capability.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/mypage/programmes", get(mypage::mine::<S>))
        .route(
            "/mypage/programmes/{programme}/apply",
            post(files::apply::<S>).layer(DefaultBodyLimit::max(files::APPLY_FORM_LIMIT)),
        )
        .route(
            "/mypage/programmes/record/{number}",
            get(mypage::record::<S>),
        )
        .route("/office/programmes", get(office::queue::<S>))
        .route(
            "/office/programmes/applications/{id}",
            get(office::application::<S>),
        )
        .route(
            "/office/programmes/applications/{id}/files/{file}",
            get(files::download::<S>),
        )
        .route(
            "/office/programmes/applications/{id}/decide",
            post(office::decide::<S>),
        )
        .route(
            "/office/programmes/applications/{id}/paper",
            post(office::paper::<S>),
        )
        .route("/office/programmes/roster", get(office::roster::<S>))
        .route(
            "/office/programmes/sessions/{id}",
            get(sessions::show::<S>).post(sessions::save::<S>),
        )
        .route(
            "/office/programmes/lectures",
            get(lectures::list::<S>).post(lectures::put::<S>),
        )
}

impl From<ProgrammeError> for PageError {
    fn from(e: ProgrammeError) -> Self {
        let bad = |k| PageError(Failure::Unprocessable(k));
        match e {
            ProgrammeError::App(e) => e.into(),
            ProgrammeError::UnknownCategory(_) => bad("programmes-error-category"),
            ProgrammeError::LectureKey => bad("programmes-error-lecture"),
            ProgrammeError::LectureTitle => bad("programmes-error-lecture-title"),
            ProgrammeError::LectureGroup => bad("programmes-error-lecture-group"),
            ProgrammeError::DuplicatePart => bad("programmes-error-duplicate-part"),
            ProgrammeError::SessionClosed => PageError(Failure::Because(
                Box::new(Failure::Conflict),
                "programmes-error-closed",
            )),
            ProgrammeError::PaperUnits => bad("programmes-error-paper-units"),
            ProgrammeError::PaperDate => bad("programmes-error-paper-date"),
            ProgrammeError::PaperPageStamp => bad("programmes-error-paper-page"),
            ProgrammeError::NotMet => bad("programmes-error-not-met"),
            ProgrammeError::AlreadyOpen => PageError(Failure::Because(
                Box::new(Failure::Conflict),
                "programmes-error-open",
            )),
            ProgrammeError::NoRoute => bad("programmes-error-route"),
            ProgrammeError::ReasonRequired => bad("programmes-error-reason"),
            ProgrammeError::Stale => PageError(Failure::Because(
                Box::new(Failure::Conflict),
                "programmes-error-stale",
            )),
            ProgrammeError::NotOpen => PageError(Failure::Because(
                Box::new(Failure::Conflict),
                "programmes-error-not-open",
            )),
            ProgrammeError::FeeRequired => bad("programmes-error-fee"),
            ProgrammeError::EvidenceTooLong => bad("programmes-error-evidence"),
            ProgrammeError::EvidenceFile => bad("programmes-error-file"),
        }
    }
}

/// Percent-encodes a query value.
pub(crate) fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The programme's name in the page's language.
pub(crate) fn programme_name(f: &Fmt<'_>, p: CertifiedProgramme) -> String {
    f.t(
        &format!("programmes-name-{}", p.as_str().replace('_', "-")),
        &[],
    )
}

/// A category's name in the page's language, from the programme's rules file.
pub(crate) fn category_name(lang: Lang, p: CertifiedProgramme, key: &str) -> String {
    p.rules().category(key).map_or_else(
        || key.to_owned(),
        |c| match lang {
            Lang::Ja => c.ja.clone(),
            Lang::En => c.en.clone(),
        },
    )
}

/// One line of the picture, ready to show.
pub struct LineRow {
    /// What it measures.
    pub label: String,
    /// Held.
    pub have: String,
    /// Needed.
    pub need: String,
    /// Missing (empty when met).
    pub missing: String,
    /// Met.
    pub met: bool,
    /// 0–100, for the bar.
    pub pct: i64,
}

fn amount(m: LineMeasure, v: i64, f: &Fmt<'_>) -> String {
    match m {
        LineMeasure::HalfUnits => HalfUnits::new(v).to_string(),
        LineMeasure::Count => v.to_string(),
        LineMeasure::Flag if v > 0 => f.t("programmes-flag-yes", &[]),
        LineMeasure::Flag => f.t("programmes-flag-no", &[]),
    }
}

/// The rows of an assessment.
pub(crate) fn line_rows(
    f: &Fmt<'_>,
    lang: Lang,
    p: CertifiedProgramme,
    lines: &[Line],
) -> Vec<LineRow> {
    lines
        .iter()
        .map(|l| {
            let label = match &l.key {
                LineKey::Total => f.t("programmes-line-total", &[]),
                LineKey::Category(k) => category_name(lang, p, k),
                LineKey::Course(k) => f.t(
                    "programmes-line-course",
                    &[("name", &category_name(lang, p, k))],
                ),
                LineKey::CmeCertificate => f.t("programmes-line-cme-certificate", &[]),
                LineKey::Lectures => f.t("programmes-line-lectures", &[]),
                LineKey::LectureGroup(g) => f.t("programmes-line-group", &[("n", &g.to_string())]),
                LineKey::Activities => f.t("programmes-line-activities", &[]),
                LineKey::Declaration => f.t("programmes-line-declaration", &[]),
                LineKey::PresidentApproval => f.t("programmes-line-approval", &[]),
                LineKey::CmeUnits => f.t("programmes-line-cme-units", &[]),
            };
            let pct = if l.need <= 0 {
                100
            } else {
                (l.have.max(0) * 100 / l.need).min(100)
            };
            LineRow {
                label,
                have: amount(l.measure, l.have, f),
                need: amount(l.measure, l.need, f),
                missing: if l.met() {
                    String::new()
                } else {
                    amount(l.measure, l.missing(), f)
                },
                met: l.met(),
                pct,
            }
        })
        .collect()
}

/// The standing of a programme in words and a CSS class.
pub(crate) fn standing_words(f: &Fmt<'_>, p: &ProgrammeProgress) -> (String, &'static str) {
    use mamis_app::programmes::progress::Standing;
    match p.standing {
        Standing::None => (f.t("programmes-standing-none", &[]), "none"),
        Standing::Valid(u) => (
            f.t("programmes-standing-valid", &[("date", &f.date(u))]),
            "valid",
        ),
        Standing::RenewalDue(u) => (
            f.t("programmes-standing-due", &[("date", &f.date(u))]),
            "due",
        ),
        Standing::Expired(u) => (
            f.t("programmes-standing-expired", &[("date", &f.date(u))]),
            "expired",
        ),
    }
}
