//! What belongs to no page: the stylesheet and other embedded static files, the language switch,
//! and the answer for unknown paths.

use axum::Router;
use axum::extract::{Form, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use mamis_store::Store;
use serde::Deserialize;

use crate::WebState;
use crate::shell::error::{Failure, PageError};
use crate::shell::i18n::Lang;
use crate::shell::middleware::LANG_COOKIE;

/// The shell's own routes: the stylesheet and the language switch.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/lang", post(switch_lang::<S>))
        .route("/static/mamis.css", get(stylesheet))
        .route(
            "/static/mamis.js",
            get(|| asset(JS, include_str!("../../static/mamis.js"))),
        )
        .route("/static/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon))
}

/// The content type of the scripts.
pub const JS: &str = "text/javascript; charset=utf-8";

/// A static file embedded in the binary, cached for an hour like the stylesheet.
pub async fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// The language switch form.
#[derive(Debug, Deserialize)]
pub struct LangForm {
    lang: String,
    #[serde(default)]
    next: String,
}

/// Stores the chosen language for a year and returns to the page the visitor was on.
pub async fn switch_lang<S: Store>(
    State(_st): State<WebState<S>>,
    Form(f): Form<LangForm>,
) -> Result<Response, PageError> {
    let lang = Lang::parse(&f.lang).ok_or(PageError(Failure::BadRequest("invalid-value")))?;
    // Only local paths: an open redirect would turn the switch into a phishing helper.
    let next = crate::shell::auth::safe_next(Some(&f.next), "/");
    let mut resp = Redirect::to(&next).into_response();
    let c = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.tag()
    );
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// The stylesheet, embedded in the binary.
pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/mamis.css"),
    )
}

/// The site icon (browsers also ask for `/favicon.ico`; an SVG answers both).
pub async fn favicon() -> Response {
    asset("image/svg+xml", include_str!("../../static/favicon.svg")).await
}

/// Every unknown path: a JSON problem under `/api/`, the localised 404 page elsewhere.
pub async fn not_found(req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        crate::shell::error::ApiError(Failure::NotFound).into_response()
    } else {
        let mut r = PageError(Failure::NotFound).into_response();
        *r.status_mut() = StatusCode::NOT_FOUND;
        r
    }
}
