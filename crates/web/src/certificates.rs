//! My Page ⑤ (the printable PDFs: 日医生涯教育認定証, 学習単位取得証, 受講証明書), the public
//! verification page `/verify` (no login), and the back office's revocation form with the list
//! of open review items (JMA staff). Handlers extract, call one use case of
//! [`mamis_app::cme::certificates`] or [`mamis_app::cme::documents`], and render.
//!
//! Rate limit of `/verify`: an in-memory token bucket per client address (IPv6 per /64) in the
//! web state, 30 lookups refilled at 30 a minute. The login throttle (`lock_throttle`) does not
//! fit: it counts failures with doubling waits and costs a store write per attempt, which would
//! turn a public page into a write amplifier. The bucket is per server process; what keeps the
//! register from being walked is the 80-bit code, the limit only keeps guessing expensive.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use mamis_app::AppError;
use mamis_app::cme::Summary;
use mamis_app::cme::certificates::{self, Period, REVOKE_CATEGORIES, Validity, Verification};
use mamis_app::cme::documents::{self, DocumentError, Printed};
use mamis_domain::{FiscalYear, Principal, Timestamp};
use mamis_store::Store;
use serde::Deserialize;

use crate::WebState;
use crate::auth::{CurrentUser, RequestOrigin, StaffUser};
use crate::cme::{Fmt, NavItem, doctor_principal, html, nav, own_summary, query_pairs, unverified};
use crate::error::{Failure, PageError};
use crate::i18n::Lang;
use crate::middleware::lang_of;
use crate::pages::{Chrome, PageCtx, page};

type PageResult = Result<Response, PageError>;

/// The routes of My Page ⑤, the verification page and the office's certificate page.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/mypage/cme/documents", get(documents_page::<S>))
        .route(
            "/mypage/cme/documents/certificate/{file}",
            get(certificate_pdf::<S>),
        )
        .route("/mypage/cme/documents/annual/{file}", get(annual_pdf::<S>))
        .route(
            "/mypage/cme/documents/attendance.pdf",
            post(attendance_pdf::<S>),
        )
        .route("/verify", get(verify_form::<S>))
        .route("/verify/{number}", get(verify::<S>))
        .route("/office/certificates", get(office_page::<S>))
        .route("/office/certificates/revoke", post(office_revoke::<S>))
}

// ---------------------------------------------------------------- the rate limit

/// Lookups a client may make at once.
const BURST: f64 = 30.0;
/// Lookups regained per second (30 a minute).
const PER_SECOND: f64 = 0.5;
/// Addresses remembered before full buckets are forgotten (bounds memory under a spread attack).
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Timestamp,
}

impl Bucket {
    fn refilled(self, now: Timestamp) -> f64 {
        let secs = (now - self.at).num_milliseconds().max(0) as f64 / 1000.0;
        (self.tokens + secs * PER_SECOND).min(BURST)
    }
}

/// Per-address token buckets of the public verification page (timed by the app clock, so tests
/// can move it).
#[derive(Debug, Default)]
pub(crate) struct VerifyLimiter {
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

/// One bucket per IPv4 address, and per /64 for IPv6 (one host usually holds a whole /64).
fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
        }
    }
}

impl VerifyLimiter {
    /// Takes one lookup for `ip`; `Err(seconds)` says how long to wait when none is left.
    fn take(&self, ip: IpAddr, now: Timestamp) -> Result<(), u64> {
        let mut m = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if m.len() >= MAX_KEYS {
            m.retain(|_, b| b.refilled(now) < BURST);
            if m.len() >= MAX_KEYS {
                m.clear();
            }
        }
        let b = m.entry(bucket_key(ip)).or_insert(Bucket {
            tokens: BURST,
            at: now,
        });
        let tokens = b.refilled(now);
        if tokens >= 1.0 {
            *b = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            Ok(())
        } else {
            *b = Bucket { tokens, at: now };
            Err(((1.0 - tokens) / PER_SECOND).ceil().max(1.0) as u64)
        }
    }
}

// ---------------------------------------------------------------- My Page ⑤

/// One issued or imported 認定証.
struct CertRow {
    number: String,
    range: String,
    issued: String,
    valid_until: String,
    status: String,
    class: &'static str,
    /// The download, for certificates MAMIS issued (prior-system ones were printed on paper).
    href: Option<String>,
    download_label: String,
}

/// One closed fiscal year's 学習単位取得証.
struct AnnualRow {
    href: String,
    label: String,
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
#[template(path = "mycme_documents.html")]
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
                (Some(r), _) => (
                    f.t(
                        "certificates-status-revoked",
                        &[("date", &f.date(mamis_domain::time::japan_date(r.at)))],
                    ),
                    "revoked",
                ),
                (None, Some(u)) if u < today => {
                    (f.t("certificates-status-expired", &[]), "expired")
                }
                (None, _) if c.origin != "mamis" => {
                    (f.t("certificates-status-paper", &[]), "paper")
                }
                (None, _) => (f.t("certificates-status-valid", &[]), "valid"),
            };
            let href = (c.origin == "mamis")
                .then(|| format!("/mypage/cme/documents/certificate/{}.pdf", c.number));
            CertRow {
                download_label: f.t("certificates-download-label", &[("number", &c.number)]),
                number: c.number.clone(),
                range: f.range(c.from_fy, c.to_fy),
                issued: f.date(c.issued_on),
                valid_until: c.valid_until.map(|u| f.date(u)).unwrap_or_default(),
                status,
                class,
                href,
            }
        })
        .collect()
}

fn annual_rows(f: &Fmt<'_>, s: &Summary) -> Vec<AnnualRow> {
    s.standing
        .years
        .iter()
        .rev()
        .filter(|(fy, y)| **fy < s.standing.current_fy && y.half_units.is_positive())
        .map(|(fy, _)| AnnualRow {
            href: format!("/mypage/cme/documents/annual/{}.pdf", fy.year()),
            label: f.t(
                "certificates-annual-link",
                &[("year", &fy.year().to_string())],
            ),
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
    let Some(s) = own_summary(st, u).await? else {
        return unverified(st, ctx);
    };
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let view = DocumentsView {
        c: ctx.chrome(cat),
        nav: nav(&f, "/mypage/cme/documents"),
        certificates: cert_rows(&f, &s),
        annual: annual_rows(&f, &s),
        form,
        today: s.standing.today.to_string(),
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
    let who = doctor_principal(&u);
    if crate::cme::own_doctor(&u).is_none() {
        return unverified(&st, &ctx);
    }
    Ok(pdf_response(
        documents::certificate_pdf(&st.app, &who, number).await?,
    ))
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
    let who = doctor_principal(&u);
    let Some(doctor) = crate::cme::own_doctor(&u) else {
        return unverified(&st, &ctx);
    };
    Ok(pdf_response(
        documents::annual_units_pdf(&st.app, &who, doctor, fy).await?,
    ))
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
    let who = doctor_principal(&u);
    let Some(doctor) = crate::cme::own_doctor(&u) else {
        return unverified(&st, &ctx);
    };
    let (key, status) = match parse_attendance(&f) {
        Err(key) => (key, StatusCode::BAD_REQUEST),
        Ok((from, to, elearning_only)) => {
            match documents::attendance_pdf(&st.app, &who, doctor, from, to, elearning_only).await {
                Ok(p) => return Ok(pdf_response(p)),
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

// ---------------------------------------------------------------- /verify

/// Longest number or code looked up (longer ones cannot exist; they are not found).
const MAX_LOOKUP: usize = 64;

/// The answer for a number and code that matched.
struct Found {
    class: &'static str,
    status: String,
    status_detail: String,
    reason: Option<String>,
    kind: String,
    number: String,
    period: String,
    issued: String,
    valid_until: Option<String>,
    holder: String,
}

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyView<'a> {
    c: Chrome<'a>,
    title: String,
    /// The same page in the other language.
    lang_href: String,
    found: Option<Found>,
    /// Not found, or wait: the one paragraph under the title.
    message: Option<String>,
    /// Whether the form to type a number and code is shown.
    show_form: bool,
}

fn found(f: &Fmt<'_>, v: &Verification) -> Found {
    let (class, status, status_detail, reason, valid_until) = match &v.validity {
        Validity::Valid(until) => (
            "valid",
            f.t("certificates-verify-valid", &[]),
            match until {
                Some(u) => f.t("certificates-verify-valid-until", &[("date", &f.date(*u))]),
                None => f.t("certificates-verify-valid-no-expiry", &[]),
            },
            None,
            *until,
        ),
        Validity::Expired(u) => (
            "expired",
            f.t("certificates-verify-expired", &[]),
            f.t("certificates-verify-expired-on", &[("date", &f.date(*u))]),
            None,
            Some(*u),
        ),
        Validity::Revoked(d, category) => (
            "revoked",
            f.t("certificates-verify-revoked", &[]),
            f.t("certificates-verify-revoked-on", &[("date", &f.date(*d))]),
            Some(f.t(&category_key(category), &[])),
            None,
        ),
    };
    let period = match &v.period {
        Period::Years(from, to) if from == to => f.fy(*from),
        Period::Years(from, to) => f.range(*from, *to),
        Period::Dates(from, to) => f.t(
            "certificates-date-range",
            &[("from", &f.date(*from)), ("to", &f.date(*to))],
        ),
    };
    Found {
        class,
        status,
        status_detail,
        reason,
        kind: f.t(
            &format!("certificates-kind-{}", v.kind.replace('_', "-")),
            &[],
        ),
        number: v.number.clone(),
        period,
        issued: f.date(v.issued_on),
        // a revoked certificate's former validity is no longer worth showing
        valid_until: valid_until
            .filter(|_| v.kind == "cme_certificate")
            .map(|u| f.date(u)),
        holder: v.holder.clone(),
    }
}

/// The message key of a public reason category.
fn category_key(category: &str) -> String {
    format!("certificates-category-{}", category.replace('_', "-"))
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The language of a verification page: `?lang=` (the page's own switch, which needs no form
/// and so no CSRF token), else the language cookie.
fn verify_lang(headers: &HeaderMap, pairs: &[(String, String)]) -> Lang {
    pairs
        .iter()
        .find(|(k, _)| k == "lang")
        .and_then(|(_, v)| Lang::parse(v))
        .unwrap_or_else(|| lang_of(headers))
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .unwrap_or("")
}

/// Renders a verification page: standalone (no header forms, no CSRF token, no account), so a
/// "not found" body depends on nothing but the language. Never indexed, never cached.
fn verify_response<S: Store>(
    st: &WebState<S>,
    lang: Lang,
    status: StatusCode,
    make: impl FnOnce(&Fmt<'_>) -> (String, String, Option<Found>, Option<String>, bool),
) -> PageResult {
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, lang);
    let (title, lang_href, found, message, show_form) = make(&f);
    let view = VerifyView {
        c: Chrome::new(cat, lang, String::new(), String::new()),
        title,
        lang_href,
        found,
        message,
        show_form,
    };
    let mut r = html(page(view.render()))?;
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        HeaderName::from_static("x-robots-tag"),
        HeaderValue::from_static("noindex, nofollow"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// The client's address for the rate limit (all unknown clients share one bucket).
fn client_ip(origin: &mamis_app::identity::sessions::Origin) -> IpAddr {
    origin
        .client_addr
        .as_deref()
        .and_then(|a| a.parse().ok())
        .unwrap_or(IpAddr::from([0u8, 0, 0, 0]))
}

/// 429 with `Retry-After`, in the verification page's layout.
fn limited<S: Store>(st: &WebState<S>, lang: Lang, wait: u64) -> PageResult {
    let mut r = verify_response(st, lang, StatusCode::TOO_MANY_REQUESTS, |f| {
        (
            f.t("certificates-verify-limited-title", &[]),
            format!("/verify?lang={}", lang.other().tag()),
            None,
            Some(f.t(
                "certificates-verify-limited-body",
                &[("seconds", &wait.to_string())],
            )),
            false,
        )
    })?;
    if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Ok(r)
}

/// The public answer for `/verify/{number}?c={code}`: valid, expired or revoked, with type,
/// period, issue date and the masked holder. An unknown number and a wrong or missing code get
/// the same 404 page, byte for byte.
pub async fn verify<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    RequestOrigin(origin): RequestOrigin,
    Path(number): Path<String>,
    RawQuery(q): RawQuery,
) -> PageResult {
    let pairs = query_pairs(q.as_deref()).unwrap_or_default();
    let lang = verify_lang(&headers, &pairs);
    if let Err(wait) = st
        .shared
        .verify_limit
        .take(client_ip(&origin), st.app.now())
    {
        return limited(&st, lang, wait);
    }
    let code = param(&pairs, "c");
    let answer = if number.len() <= MAX_LOOKUP && code.len() <= MAX_LOOKUP {
        certificates::verify(&st.app, &number, code).await?
    } else {
        None
    };
    match answer {
        Some(v) => {
            let other = format!(
                "/verify/{}?c={}&lang={}",
                enc(&v.number),
                enc(code),
                lang.other().tag()
            );
            verify_response(&st, lang, StatusCode::OK, |f| {
                (
                    f.t("certificates-verify-title", &[]),
                    other,
                    Some(found(f, &v)),
                    None,
                    false,
                )
            })
        }
        None => not_found(&st, lang),
    }
}

/// The one "not found" page: nothing in it comes from the request but the language.
fn not_found<S: Store>(st: &WebState<S>, lang: Lang) -> PageResult {
    verify_response(st, lang, StatusCode::NOT_FOUND, |f| {
        (
            f.t("certificates-verify-not-found-title", &[]),
            format!("/verify?lang={}", lang.other().tag()),
            None,
            Some(f.t("certificates-verify-not-found-body", &[])),
            true,
        )
    })
}

/// `/verify`: the form for a number and code typed from a printed document; a filled form goes
/// on to `/verify/{number}?c=`.
pub async fn verify_form<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> PageResult {
    let pairs = query_pairs(q.as_deref()).unwrap_or_default();
    let lang = verify_lang(&headers, &pairs);
    let number: String = param(&pairs, "number")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let code = param(&pairs, "c");
    if !number.is_empty() && !code.is_empty() {
        let to = format!("/verify/{number}?c={}&lang={}", enc(code), lang.tag());
        return Ok(Redirect::to(&to).into_response());
    }
    verify_response(&st, lang, StatusCode::OK, |f| {
        (
            f.t("certificates-verify-title", &[]),
            format!("/verify?lang={}", lang.other().tag()),
            None,
            Some(f.t("certificates-verify-lead", &[])),
            true,
        )
    })
}

// ---------------------------------------------------------------- the office

/// One open review item.
struct ReviewRow {
    number: String,
    opened: String,
    reason: String,
}

/// A reason category's option.
struct CategoryChoice {
    value: &'static str,
    label: String,
    selected: bool,
}

/// The revocation form as typed, and why it was refused.
#[derive(Debug, Default)]
struct RevokeRetry {
    number: String,
    category: String,
    reason: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "office_certificates.html")]
struct OfficeView<'a> {
    c: Chrome<'a>,
    done: Option<String>,
    form: RevokeRetry,
    categories: Vec<CategoryChoice>,
    reviews: Vec<ReviewRow>,
}

/// Open review items shown at most.
const REVIEWS_SHOWN: u32 = 200;

/// Renders the office page (403 for staff who may not manage certificates).
async fn render_office<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    staff: &Principal,
    form: RevokeRetry,
    done: Option<String>,
    status: StatusCode,
) -> PageResult {
    let reviews = certificates::reviews(&st.app, staff, REVIEWS_SHOWN).await?;
    let cat = &st.shared.catalogues;
    let view = OfficeView {
        c: ctx.chrome(cat),
        done,
        categories: REVOKE_CATEGORIES
            .into_iter()
            .map(|value| CategoryChoice {
                value,
                label: cat.text(ctx.lang, &category_key(value), &[]),
                selected: form.category == value,
            })
            .collect(),
        form,
        reviews: reviews
            .into_iter()
            .map(|r| ReviewRow {
                number: r.number,
                opened: mamis_app::identity::jst(r.opened_at),
                reason: r.reason,
            })
            .collect(),
    };
    let mut r = html(page(view.render()))?;
    *r.status_mut() = status;
    Ok(r)
}

/// Whether `s` looks like a printed number (`N2026-000001`), so only those are echoed back.
fn is_number(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 12
        && b[0].is_ascii_uppercase()
        && b[1..5].iter().all(u8::is_ascii_digit)
        && b[5] == b'-'
        && b[6..].iter().all(u8::is_ascii_digit)
}

/// `/office/certificates`: the revocation form and the open review items (JMA staff).
pub async fn office_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RawQuery(q): RawQuery,
) -> PageResult {
    let pairs = query_pairs(q.as_deref()).unwrap_or_default();
    let done = Some(param(&pairs, "revoked"))
        .filter(|n| is_number(n))
        .map(|n| {
            st.shared
                .catalogues
                .text(ctx.lang, "certificates-revoked-notice", &[("number", n)])
        });
    render_office(
        &st,
        &ctx,
        &staff,
        RevokeRetry::default(),
        done,
        StatusCode::OK,
    )
    .await
}

/// The revocation form as posted.
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    number: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    reason: String,
}

/// Longest revocation reason (the app's limit, checked here to say so on the form).
const MAX_REASON_CHARS: usize = 500;

/// The number, category and reason of the form, or the message key saying what to fix.
fn parse_revoke(f: &RevokeForm) -> Result<(String, &'static str, &str), &'static str> {
    let number = f.number.trim().to_ascii_uppercase();
    if number.is_empty() {
        return Err("certificates-revoke-error-number");
    }
    let category = REVOKE_CATEGORIES
        .into_iter()
        .find(|c| *c == f.category)
        .ok_or("certificates-revoke-error-category")?;
    let reason = f.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err("certificates-revoke-error-reason");
    }
    Ok((number, category, reason))
}

/// What the revocation form says when the app refuses; other failures (403 …) are pages.
fn revoke_refusal(e: AppError) -> Result<(&'static str, StatusCode), PageError> {
    match e {
        AppError::NotFound => Ok(("certificates-revoke-error-unknown", StatusCode::NOT_FOUND)),
        // category and reason are checked before the call: the one conflict left
        AppError::Conflict(_) => Ok(("certificates-revoke-error-already", StatusCode::CONFLICT)),
        e => Err(e.into()),
    }
}

/// Revokes a certificate or document by number; the app audits it and mails the holder.
/// Refusals come back on the form with what was typed.
pub async fn office_revoke<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<RevokeForm>,
) -> PageResult {
    let (key, status) = match parse_revoke(&f) {
        Err(key) => (key, StatusCode::UNPROCESSABLE_ENTITY),
        Ok((number, category, reason)) => {
            let client = origin.client_addr;
            match certificates::revoke(&st.app, &staff, &number, category, reason, client).await {
                Ok(()) => {
                    let to = format!("/office/certificates?revoked={}", enc(&number));
                    return Ok(Redirect::to(&to).into_response());
                }
                Err(e) => revoke_refusal(e)?,
            }
        }
    };
    let retry = RevokeRetry {
        error: Some(st.shared.catalogues.text(ctx.lang, key, &[])),
        number: f.number,
        category: f.category,
        reason: f.reason,
    };
    render_office(&st, &ctx, &staff, retry, None, status).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_780_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn the_bucket_allows_a_burst_then_one_lookup_every_two_seconds() {
        let l = VerifyLimiter::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..30 {
            assert_eq!(l.take(ip, at(0)), Ok(()));
        }
        assert_eq!(l.take(ip, at(0)), Err(2));
        assert_eq!(l.take(ip, at(1)), Err(1));
        assert_eq!(l.take(ip, at(2)), Ok(()));
        assert_eq!(l.take(ip, at(2)), Err(2));
        // another address has its own bucket; a full minute refills it all
        assert_eq!(l.take("192.0.2.8".parse().unwrap(), at(2)), Ok(()));
        for _ in 0..30 {
            assert_eq!(l.take(ip, at(62)), Ok(()));
        }
        assert!(l.take(ip, at(62)).is_err());
    }

    #[test]
    fn ipv6_addresses_share_their_64() {
        let l = VerifyLimiter::default();
        for i in 0..30u16 {
            let ip = IpAddr::from([0x2001, 0xdb8, 1, 2, 0, 0, 0, i]);
            assert_eq!(l.take(ip, at(0)), Ok(()));
        }
        let other_host = IpAddr::from([0x2001, 0xdb8, 1, 2, 9, 9, 9, 9]);
        assert!(l.take(other_host, at(0)).is_err());
        let other_net = IpAddr::from([0x2001, 0xdb8, 1, 3, 0, 0, 0, 1]);
        assert_eq!(l.take(other_net, at(0)), Ok(()));
    }

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

    #[test]
    fn revocation_forms_parse_or_name_the_problem() {
        let form = |number: &str, category: &str, reason: &str| RevokeForm {
            number: number.into(),
            category: category.into(),
            reason: reason.into(),
        };
        assert_eq!(
            parse_revoke(&form(" n2026-000001 ", "fraud", " 二重登録 ")),
            Ok(("N2026-000001".to_owned(), "fraud", "二重登録"))
        );
        for (f, key) in [
            (form("", "error", "x"), "certificates-revoke-error-number"),
            (
                form("N1", "misc", "x"),
                "certificates-revoke-error-category",
            ),
            (
                form("N1", "error", "  "),
                "certificates-revoke-error-reason",
            ),
            (
                form("N1", "error", &"あ".repeat(501)),
                "certificates-revoke-error-reason",
            ),
        ] {
            assert_eq!(parse_revoke(&f), Err(key), "{f:?}");
        }
    }

    #[test]
    fn only_printed_numbers_are_echoed() {
        assert!(is_number("N2026-000001"));
        assert!(is_number("U2027-123456"));
        for s in [
            "",
            "n2026-000001",
            "N2026-00001",
            "N2026_000001",
            "<b>2026-000001",
        ] {
            assert!(!is_number(s), "{s}");
        }
    }
}
