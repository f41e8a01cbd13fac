//! My Page ⑤: the printable PDFs (日医生涯教育認定証, 学習単位取得証, 受講証明書). Handlers call one
//! use case of [`mamis_app::cme::certificates`] or [`mamis_app::cme::documents`] and render.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use mamis_app::cme::Summary;
use mamis_app::cme::documents::{
    self, DocumentError, DocumentsOverview, Download, Printed, RevokedNotice,
};
use mamis_domain::FiscalYear;
use mamis_store::Store;
use serde::Deserialize;

use crate::WebState;
use crate::shell::auth::CurrentUser;
use crate::shell::chrome::{Chrome, NavItem, PageCtx, PageResult, html, nav, page, unverified};
use crate::shell::error::{Failure, PageError};
use crate::shell::fmt::Fmt;

use super::verify::category_key;

/// One issued or imported 認定証.
struct CertRow {
    number: String,
    range: String,
    issued: String,
    valid_until: String,
    status: String,
    class: &'static str,
    /// For a revoked certificate: when, and the reason category, as `/verify` shows them.
    revoked: Option<String>,
    /// The download, for valid or expired certificates MAMIS issued (prior-system ones were
    /// printed on paper; a revoked one is never offered again).
    href: Option<String>,
    download_label: String,
}

/// One closed fiscal year's 学習単位取得証: its download, or — revoked — when and why.
struct AnnualRow {
    href: Option<String>,
    label: String,
    revoked: Option<String>,
}

/// The 受講証明書 form as typed, and why it was refused.
#[derive(Debug, Default)]
struct AttendanceRetry {
    from: String,
    to: String,
    elearning_only: bool,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "certificates/documents.html")]
struct DocumentsView<'a> {
    c: Chrome<'a>,
    nav: Vec<NavItem>,
    certificates: Vec<CertRow>,
    annual: Vec<AnnualRow>,
    form: AttendanceRetry,
    today: String,
}

fn cert_rows(f: &Fmt<'_>, s: &Summary) -> Vec<CertRow> {
    let today = s.standing.today;
    s.certificates
        .iter()
        .rev()
        .map(|c| {
            let (status, class) = match (&c.revocation, c.valid_until) {
                (Some(_), _) => (f.t("certificates-status-revoked", &[]), "revoked"),
                (None, Some(u)) if u < today => {
                    (f.t("certificates-status-expired", &[]), "expired")
                }
                (None, _) if c.origin != "mamis" => {
                    (f.t("certificates-status-paper", &[]), "paper")
                }
                (None, _) => (f.t("certificates-status-valid", &[]), "valid"),
            };
            let revoked = c
                .revocation
                .as_ref()
                .map(|r| revoked_detail(f, mamis_domain::time::japan_date(r.at), &r.category));
            let href = (c.origin == "mamis" && c.revocation.is_none())
                .then(|| format!("/mypage/cme/documents/certificate/{}.pdf", c.number));
            CertRow {
                download_label: f.t("certificates-download-label", &[("number", &c.number)]),
                number: c.number.clone(),
                range: f.range(c.from_fy, c.to_fy),
                issued: f.date(c.issued_on),
                valid_until: c.valid_until.map(|u| f.date(u)).unwrap_or_default(),
                status,
                class,
                revoked,
                href,
            }
        })
        .collect()
}

/// 「{ $date }に取り消し（理由: …）」, as `/verify` names the date and the category.
fn revoked_detail(f: &Fmt<'_>, on: chrono::NaiveDate, category: &str) -> String {
    f.t(
        "certificates-revoked-detail",
        &[
            ("date", &f.date(on)),
            ("detail", &f.t(&category_key(category), &[])),
        ],
    )
}

fn annual_rows(f: &Fmt<'_>, o: &DocumentsOverview) -> Vec<AnnualRow> {
    let s = &o.summary;
    s.standing
        .years
        .iter()
        .rev()
        .filter(|(fy, y)| **fy < s.standing.current_fy && y.half_units.is_positive())
        .map(|(fy, _)| {
            let revoked = o.revoked_annual.get(fy);
            AnnualRow {
                href: revoked
                    .is_none()
                    .then(|| format!("/mypage/cme/documents/annual/{}.pdf", fy.year())),
                label: f.t(
                    if revoked.is_some() {
                        "certificates-annual-name"
                    } else {
                        "certificates-annual-link"
                    },
                    &[("year", &fy.year().to_string())],
                ),
                revoked: revoked.map(|r| revoked_detail(f, r.on, &r.category)),
            }
        })
        .collect()
}

/// Renders ⑤ for the session's doctor; `form` carries a refused 受講証明書 request.
async fn render_documents<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    u: &mamis_app::identity::sessions::Current,
    form: AttendanceRetry,
    status: StatusCode,
) -> PageResult {
    let Some(o) = documents::overview(&st.app, u).await? else {
        return unverified(st, ctx);
    };
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let view = DocumentsView {
        c: ctx.chrome(cat),
        nav: nav(&f, "/mypage/cme/documents"),
        certificates: cert_rows(&f, &o.summary),
        annual: annual_rows(&f, &o),
        form,
        today: o.summary.standing.today.to_string(),
    };
    let mut r = html(page(view.render()))?;
    *r.status_mut() = status;
    Ok(r)
}

/// ⑤ the printable documents: issued certificates, one 学習単位取得証 per closed year with
/// credits, and the 受講証明書 form.
pub async fn documents_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
) -> PageResult {
    render_documents(&st, &ctx, &u, AttendanceRetry::default(), StatusCode::OK).await
}

/// The download of a rendered document: never cached (it carries personal data).
fn pdf_response(p: Printed) -> Response {
    let name: String = p
        .filename
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    let mut r = p.pdf.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[derive(Template)]
#[template(path = "certificates/revoked.html")]
struct RevokedView<'a> {
    c: Chrome<'a>,
    body: String,
}

/// A revoked certificate's or document's download: 410 Gone, with a page saying when and why
/// (the reason category `/verify` shows), in the site's layout.
fn revoked_page<S: Store>(st: &WebState<S>, ctx: &PageCtx, r: &RevokedNotice) -> PageResult {
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let view = RevokedView {
        c: ctx.chrome(cat),
        body: f.t(
            "certificates-revoked-page-body",
            &[
                (
                    "kind",
                    &f.t(
                        &format!("certificates-kind-{}", r.kind.replace('_', "-")),
                        &[],
                    ),
                ),
                ("number", &r.number),
                ("date", &f.date(r.on)),
                ("detail", &f.t(&category_key(&r.category), &[])),
            ],
        ),
    };
    let mut resp = html(page(view.render()))?;
    *resp.status_mut() = StatusCode::GONE;
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The PDF, or the page saying it was revoked.
fn download<S: Store>(st: &WebState<S>, ctx: &PageCtx, d: Download) -> PageResult {
    match d {
        Download::Pdf(p) => Ok(pdf_response(p)),
        Download::Revoked(r) => revoked_page(st, ctx, &r),
    }
}

/// `N2026-000001.pdf` → `N2026-000001`; anything else is not a document of ours.
fn pdf_stem(file: &str) -> Result<&str, PageError> {
    file.strip_suffix(".pdf")
        .filter(|s| !s.is_empty())
        .ok_or(PageError(Failure::NotFound))
}

/// The PDF of one of the doctor's own 認定証 (another doctor's number is refused by the app).
pub async fn certificate_pdf<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
    Path(file): Path<String>,
) -> PageResult {
    let number = pdf_stem(&file)?;
    let who = u.doctor_principal();
    if u.verified_doctor().is_none() {
        return unverified(&st, &ctx);
    }
    let d = documents::certificate_pdf(&st.app, &who, number).await?;
    download(&st, &ctx, d)
}

/// The 学習単位取得証 of a closed fiscal year. A GET that may write: the first download records
/// the document (its number and code), later ones find the same content and reuse that record,
/// so repeating the request changes nothing — idempotent, as a GET must be.
pub async fn annual_pdf<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
    Path(file): Path<String>,
) -> PageResult {
    let fy = pdf_stem(&file)?
        .parse::<i32>()
        .ok()
        .and_then(|y| FiscalYear::new(y).ok())
        .ok_or(PageError(Failure::NotFound))?;
    let who = u.doctor_principal();
    let Some(doctor) = u.verified_doctor() else {
        return unverified(&st, &ctx);
    };
    let d = documents::annual_units_pdf(&st.app, &who, doctor, fy).await?;
    download(&st, &ctx, d)
}

/// The 受講証明書 form as posted.
#[derive(Debug, Deserialize)]
pub struct AttendanceForm {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    scope: String,
}

/// A `YYYY-MM-DD` date as typed (or as a date input sends it).
fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    (s.len() == 10)
        .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .flatten()
}

/// The period and scope of the form, or the message key saying what to fix.
fn parse_attendance(f: &AttendanceForm) -> Result<(NaiveDate, NaiveDate, bool), &'static str> {
    if f.from.trim().is_empty() || f.to.trim().is_empty() {
        return Err("certificates-error-dates-missing");
    }
    let (Some(from), Some(to)) = (parse_date(&f.from), parse_date(&f.to)) else {
        return Err("certificates-error-date-format");
    };
    let elearning_only = match f.scope.as_str() {
        "elearning" => true,
        "all" => false,
        _ => return Err("certificates-error-scope"),
    };
    Ok((from, to, elearning_only))
}

/// What the 受講証明書 form says when the app cannot print the period; other failures are pages.
fn attendance_refusal(e: DocumentError) -> Result<(&'static str, StatusCode), PageError> {
    match e {
        DocumentError::FuturePeriod => Ok(("certificates-error-future", StatusCode::BAD_REQUEST)),
        DocumentError::ReversedPeriod => {
            Ok(("certificates-error-reversed", StatusCode::BAD_REQUEST))
        }
        DocumentError::NothingToPrint => Ok((
            "certificates-error-nothing-attendance",
            StatusCode::NOT_FOUND,
        )),
        e => Err(e.into()),
    }
}

/// Creates (or finds) the 受講証明書 for the posted period and sends its PDF; a period that
/// cannot be printed brings the form back with the reason (400, or 404 when nothing is recorded).
pub async fn attendance_pdf<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
    Form(f): Form<AttendanceForm>,
) -> PageResult {
    let who = u.doctor_principal();
    let Some(doctor) = u.verified_doctor() else {
        return unverified(&st, &ctx);
    };
    let (key, status) = match parse_attendance(&f) {
        Err(key) => (key, StatusCode::BAD_REQUEST),
        Ok((from, to, elearning_only)) => {
            match documents::attendance_pdf(&st.app, &who, doctor, from, to, elearning_only).await {
                Ok(d) => return download(&st, &ctx, d),
                Err(e) => attendance_refusal(e)?,
            }
        }
    };
    let retry = AttendanceRetry {
        elearning_only: f.scope == "elearning",
        from: f.from,
        to: f.to,
        error: Some(st.shared.catalogues.text(ctx.lang, key, &[])),
    };
    render_documents(&st, &ctx, &u, retry, status).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attendance_forms_parse_or_name_the_problem() {
        let form = |from: &str, to: &str, scope: &str| AttendanceForm {
            from: from.into(),
            to: to.into(),
            scope: scope.into(),
        };
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            parse_attendance(&form("2025-04-01", " 2026-03-31 ", "all")),
            Ok((d("2025-04-01"), d("2026-03-31"), false))
        );
        assert_eq!(
            parse_attendance(&form("2025-04-01", "2026-03-31", "elearning")),
            Ok((d("2025-04-01"), d("2026-03-31"), true))
        );
        for (f, key) in [
            (
                form("", "2026-03-31", "all"),
                "certificates-error-dates-missing",
            ),
            (
                form("2025-04-01", " ", "all"),
                "certificates-error-dates-missing",
            ),
            (
                form("2025/04/01", "2026-03-31", "all"),
                "certificates-error-date-format",
            ),
            (
                form("2025-4-1", "2026-03-31", "all"),
                "certificates-error-date-format",
            ),
            (
                form("2025-02-30", "2026-03-31", "all"),
                "certificates-error-date-format",
            ),
            (
                form("2025-04-01", "2026-03-31", ""),
                "certificates-error-scope",
            ),
            (
                form("2025-04-01", "2026-03-31", "journal"),
                "certificates-error-scope",
            ),
        ] {
            assert_eq!(parse_attendance(&f), Err(key), "{f:?}");
        }
    }
}
