//! Public HTML pages: home, placeholders for capabilities still to come, the language switch,
//! the stylesheet and the 404 page.

use askama::Template;
use axum::extract::{Form, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use mamis_store::Store;
use serde::Deserialize;

use crate::WebState;
use crate::csrf::CsrfToken;
use crate::error::{Failure, PageError};
use crate::i18n::{Catalogues, Lang};
use crate::middleware::{LANG_COOKIE, lang_of};

/// What the base layout needs: language, CSRF token, current path and the catalogue.
pub struct Chrome<'a> {
    cat: &'a Catalogues,
    /// The page's language.
    pub lang: Lang,
    /// The CSRF token every form carries.
    pub csrf: String,
    /// The current path (the language switch returns here).
    pub path: String,
    /// The logged-in MAMIS_ID, shown in the header with a logout button.
    pub user: Option<String>,
}

impl<'a> Chrome<'a> {
    /// The layout context of one page.
    pub fn new(cat: &'a Catalogues, lang: Lang, csrf: String, path: String) -> Self {
        Self {
            cat,
            lang,
            csrf,
            path,
            user: None,
        }
    }
    /// A message in the page's language.
    pub fn t(&self, key: &str) -> String {
        self.cat.text(self.lang, key, &[])
    }
    /// `<html lang>`.
    pub fn lang_tag(&self) -> &'static str {
        self.lang.tag()
    }
    /// The language the switch offers.
    pub fn other_tag(&self) -> &'static str {
        self.lang.other().tag()
    }
}

/// Extracted for every page: language (cookie), CSRF token, path and the logged-in account.
pub struct PageCtx {
    pub(crate) lang: Lang,
    pub(crate) csrf: String,
    pub(crate) path: String,
    pub(crate) user: Option<String>,
}

impl<S: Store> axum::extract::FromRequestParts<WebState<S>> for PageCtx {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        st: &WebState<S>,
    ) -> Result<Self, Self::Rejection> {
        let crate::auth::MaybeUser(user) =
            <crate::auth::MaybeUser as axum::extract::FromRequestParts<WebState<S>>>::from_request_parts(parts, st).await?;
        Ok(Self {
            lang: lang_of(&parts.headers),
            csrf: parts
                .extensions
                .get::<CsrfToken>()
                .map(|t| t.0.clone())
                .unwrap_or_default(),
            // The language switch returns to this path with a GET; /logout has none.
            path: match parts.uri.path() {
                "/logout" => "/".to_owned(),
                p => p.to_owned(),
            },
            user: user.map(|u| u.account.email),
        })
    }
}

impl PageCtx {
    /// The layout context for a template.
    pub(crate) fn chrome<'a>(&self, cat: &'a Catalogues) -> Chrome<'a> {
        let mut c = Chrome::new(cat, self.lang, self.csrf.clone(), self.path.clone());
        c.user = self.user.clone();
        c
    }
}

/// Renders a template or logs why it could not.
pub(crate) fn page(r: Result<String, askama::Error>) -> Result<Html<String>, PageError> {
    r.map(Html).map_err(|e| {
        tracing::error!(error = %e, "template");
        PageError(Failure::Internal)
    })
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomeView<'a> {
    c: Chrome<'a>,
}

/// The home page: what MAMIS is, and the ways in.
pub async fn home<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
) -> Result<Html<String>, PageError> {
    page(
        HomeView {
            c: ctx.chrome(&st.shared.catalogues),
        }
        .render(),
    )
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
    let next = if f.next.starts_with('/') && !f.next.starts_with("//") && !f.next.contains('\\') {
        f.next
    } else {
        "/".into()
    };
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
        include_str!("../static/mamis.css"),
    )
}

/// Every unknown path: a JSON problem under `/api/`, the localised 404 page elsewhere.
pub async fn not_found(req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        crate::error::ApiError(Failure::NotFound).into_response()
    } else {
        let mut r = PageError(Failure::NotFound).into_response();
        *r.status_mut() = StatusCode::NOT_FOUND;
        r
    }
}
