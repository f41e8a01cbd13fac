//! The single mapping from app errors to HTTP: localised HTML pages for people, RFC 9457
//! `application/problem+json` for the API. Internals are logged with the request id, never shown.

use askama::Template;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mamis_app::AppError;
use mamis_app::cme::documents::DocumentError;
use mamis_app::cme::{CreditError, CreditInputError};
use mamis_app::training::TrainingError;
use mamis_store::Store;

use crate::WebState;
use crate::shell::chrome::Chrome;
use crate::shell::i18n::{Lang, domain_error_key};
use crate::shell::middleware::{RequestId, lang_of};

/// What went wrong, as far as a user may know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    NotFound,
    Forbidden,
    Unauthenticated,
    /// A message key explaining the bad input.
    BadRequest(&'static str),
    /// Well-formed input outside what is allowed (a range, a length, a code not in the
    /// catalogue, a date in the future): 422, with the message key saying what is allowed.
    Unprocessable(&'static str),
    Conflict,
    Unavailable,
    /// Another writer held the database (a bulk import): retry after `Retry-After` seconds.
    Busy,
    Internal,
    Csrf,
    /// The wrapped failure, with a message key saying specifically why (a 401 for a missing
    /// My Page login, a 409 for an entry already reversed) where the generic text would mislead.
    Because(Box<Failure>, &'static str),
}

impl Failure {
    fn status(&self) -> StatusCode {
        match self {
            Failure::NotFound => StatusCode::NOT_FOUND,
            Failure::Forbidden | Failure::Csrf => StatusCode::FORBIDDEN,
            Failure::Unauthenticated => StatusCode::UNAUTHORIZED,
            Failure::BadRequest(_) => StatusCode::BAD_REQUEST,
            Failure::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Failure::Conflict => StatusCode::CONFLICT,
            Failure::Unavailable | Failure::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Failure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Failure::Because(f, _) => f.status(),
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Failure::NotFound => "not-found",
            Failure::Forbidden => "forbidden",
            Failure::Unauthenticated => "unauthenticated",
            Failure::BadRequest(_) => "bad-request",
            Failure::Unprocessable(_) => "unprocessable",
            Failure::Conflict => "conflict",
            Failure::Unavailable => "unavailable",
            Failure::Busy => "busy",
            Failure::Internal => "internal",
            Failure::Csrf => "csrf",
            Failure::Because(f, _) => f.slug(),
        }
    }
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Unauthenticated => Failure::Unauthenticated,
            AppError::Forbidden => Failure::Forbidden,
            AppError::NotFound => Failure::NotFound,
            AppError::Invalid(d) => Failure::BadRequest(domain_error_key(&d)),
            AppError::Conflict(_) => Failure::Conflict,
            AppError::Busy(m) => {
                tracing::warn!(error = %m, "database busy");
                Failure::Busy
            }
            AppError::Unavailable(m) => {
                tracing::error!(error = %m, "store unavailable");
                Failure::Unavailable
            }
            AppError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                Failure::Internal
            }
        }
    }
}

impl From<CreditError> for Failure {
    fn from(e: CreditError) -> Self {
        match e {
            CreditError::App(a) => a.into(),
            CreditError::Input(i @ CreditInputError::AlreadyReversed) => {
                Failure::Because(Box::new(Failure::Conflict), credit_input_key(i))
            }
            CreditError::Input(
                i @ (CreditInputError::ZeroAmount
                | CreditInputError::BadAmount
                | CreditInputError::UnknownCode
                | CreditInputError::BadReason
                | CreditInputError::FutureDate),
            ) => Failure::Unprocessable(credit_input_key(i)),
            CreditError::Input(i) => Failure::BadRequest(credit_input_key(i)),
        }
    }
}

impl From<DocumentError> for Failure {
    fn from(e: DocumentError) -> Self {
        match e {
            DocumentError::App(a) => a.into(),
            DocumentError::NothingToPrint => {
                Failure::Because(Box::new(Failure::NotFound), "certificates-error-nothing")
            }
            DocumentError::PriorSystem => Failure::Because(
                Box::new(Failure::NotFound),
                "certificates-error-prior-system",
            ),
            DocumentError::YearNotClosed => {
                Failure::BadRequest("certificates-error-year-not-closed")
            }
            DocumentError::FuturePeriod => Failure::BadRequest("certificates-error-future"),
            DocumentError::ReversedPeriod => Failure::BadRequest("certificates-error-reversed"),
            DocumentError::Pdf(m) => {
                tracing::error!(error = %m, "pdf rendering");
                Failure::Internal
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Flavour {
    Page,
    Problem,
}

#[derive(Debug, Clone)]
struct Pending(Failure, Flavour);

/// An HTML handler's error: rendered as a localised page.
#[derive(Debug)]
pub struct PageError(pub Failure);

/// An API handler's error: rendered as problem+json.
#[derive(Debug)]
pub struct ApiError(pub Failure);

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        Self(e.into())
    }
}
impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        Self(e.into())
    }
}

impl From<DocumentError> for PageError {
    fn from(e: DocumentError) -> Self {
        Self(e.into())
    }
}

impl From<CreditError> for ApiError {
    fn from(e: CreditError) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut r = self.0.status().into_response();
        r.extensions_mut().insert(Pending(self.0, Flavour::Page));
        r
    }
}
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = self.0.status().into_response();
        if self.0 == Failure::Unauthenticated {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mamis\""),
            );
        }
        r.extensions_mut().insert(Pending(self.0, Flavour::Problem));
        r
    }
}

#[derive(Template)]
#[template(path = "shell/error.html")]
struct ErrorView<'a> {
    c: Chrome<'a>,
    title: String,
    body: String,
}

/// The language an API client asked for (Japanese unless English comes first).
fn api_lang(headers: &HeaderMap) -> Lang {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|first| {
            if first.trim().to_ascii_lowercase().starts_with("en") {
                Lang::En
            } else {
                Lang::Ja
            }
        })
        .unwrap_or_default()
}

/// Renders whatever error a handler (or the CSRF check) left pending on the response.
pub async fn render<S: Store>(State(st): State<WebState<S>>, req: Request, next: Next) -> Response {
    let lang = lang_of(req.headers());
    let api_language = api_lang(req.headers());
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let path = req.uri().path().to_owned();
    let csrf = req
        .extensions()
        .get::<crate::shell::csrf::CsrfToken>()
        .map(|t| t.0.clone())
        .unwrap_or_default();
    // error pages keep the logged-in header, so the session cookie is kept for them
    let cookies: HeaderMap = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .map(|v| (header::COOKIE, v.clone()))
        .collect();
    let resp = next.run(req).await;
    let Some(Pending(failure, flavour)) = resp.extensions().get::<Pending>().cloned() else {
        return resp;
    };
    let cat = &st.shared.catalogues;
    let mut out = match flavour {
        Flavour::Problem => problem(&st, api_language, &failure, &request_id),
        Flavour::Page => {
            let key = failure.slug();
            let body = match &failure {
                Failure::BadRequest(k) | Failure::Unprocessable(k) | Failure::Because(_, k) => {
                    cat.text(lang, k, &[])
                }
                _ => cat.text(
                    lang,
                    &format!("error-{key}-body"),
                    &[("request_id", &request_id)],
                ),
            };
            let mut c = Chrome::new(cat, lang, csrf, path);
            (c.user, c.audience) = crate::shell::chrome::viewer_of_headers(&st, &cookies).await;
            let view = ErrorView {
                c,
                title: cat.text(lang, &format!("error-{key}-title"), &[]),
                body,
            };
            match view.render() {
                Ok(html) => (failure.status(), axum::response::Html(html)).into_response(),
                Err(e) => {
                    tracing::error!(error = %e, "error page template");
                    failure.status().into_response()
                }
            }
        }
    };
    for (k, v) in resp.headers() {
        if k == header::WWW_AUTHENTICATE || k == header::SET_COOKIE {
            out.headers_mut().append(k, v.clone());
        }
    }
    if failure == Failure::Busy {
        out.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(BUSY_RETRY_AFTER_SECONDS),
        );
    }
    out
}

fn problem<S: Store>(st: &WebState<S>, lang: Lang, f: &Failure, request_id: &str) -> Response {
    let cat = &st.shared.catalogues;
    let detail = match f {
        Failure::BadRequest(k) => {
            let d = cat.text(lang, k, &[]);
            cat.text(lang, "problem-bad-request", &[("detail", &d)])
        }
        Failure::Unprocessable(k) => {
            let d = cat.text(lang, k, &[]);
            cat.text(lang, "problem-unprocessable", &[("detail", &d)])
        }
        Failure::Csrf => cat.text(lang, "error-csrf-body", &[]),
        Failure::Because(_, k) => cat.text(lang, k, &[]),
        other => cat.text(
            lang,
            &format!("problem-{}", other.slug()),
            &[("request_id", request_id)],
        ),
    };
    let status = f.status();
    let body = serde_json::json!({
        "type": format!("{}/problems/{}", st.app.config.base_url.as_str().trim_end_matches('/'), f.slug()),
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "detail": detail,
        "code": f.slug(),
        "request_id": request_id,
    });
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    r
}

/// How long a client should wait before retrying a write refused because the database was busy.
const BUSY_RETRY_AFTER_SECONDS: &str = "5";

/// The message key of a refused adjustment or reversal; each names the field to fix.
pub fn credit_input_key(e: CreditInputError) -> &'static str {
    match e {
        CreditInputError::ZeroAmount => "mycme-credit-zero",
        CreditInputError::BadAmount => "mycme-credit-bad-amount",
        CreditInputError::UnknownCode => "mycme-credit-unknown-code",
        CreditInputError::BadReason => "mycme-credit-bad-reason",
        CreditInputError::FutureDate => "mycme-credit-future-date",
        CreditInputError::ReversalOfReversal => "mycme-credit-reversal-of-reversal",
        CreditInputError::AlreadyReversed => "mycme-credit-already-reversed",
    }
}

/// The error page of a training failure that is not the doctor's to fix.
pub fn training_page_error(e: TrainingError) -> PageError {
    match e {
        TrainingError::App(a) => a.into(),
        other => {
            tracing::error!(error = %other, "unexpected training failure on a doctor's page");
            PageError(Failure::Internal)
        }
    }
}
