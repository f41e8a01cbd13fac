//! The page chrome every HTML page shares: the base layout's context (language, CSRF token,
//! path, who is logged in), rendering with logged template errors, the tab bar of My Page's CME
//! section (its tabs belong to three capabilities), and the notice for accounts that are not a
//! verified doctor's.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use mamis_store::Store;

use crate::WebState;
use crate::shell::csrf::CsrfToken;
use crate::shell::error::{Failure, PageError};
use crate::shell::fmt::Fmt;
use crate::shell::i18n::{Catalogues, Lang};
use crate::shell::middleware::lang_of;

/// What a page handler answers: the page, or the error page the error layer renders.
pub type PageResult = Result<Response, PageError>;

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
        let crate::shell::auth::MaybeUser(user) =
            <crate::shell::auth::MaybeUser as axum::extract::FromRequestParts<WebState<S>>>::from_request_parts(parts, st).await?;
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

/// A rendered page as a response (handlers that set a status or headers continue from it).
pub fn html(r: Result<Html<String>, PageError>) -> PageResult {
    r.map(IntoResponse::into_response)
}

/// A tab of My Page's CME section.
pub(crate) struct NavItem {
    pub(crate) href: &'static str,
    pub(crate) label: String,
    pub(crate) current: bool,
}

/// The tabs of My Page's CME section, ①–⑤ (① ② ③ ④ are the cme capability's pages, ⑤ the
/// certificates'), with the page at `current` marked.
pub(crate) fn nav(f: &Fmt<'_>, current: &str) -> Vec<NavItem> {
    [
        ("/mypage/cme", "mycme-status-title"),
        ("/mypage/cme/training", "mycme-training-title"),
        ("/mypage/cme/learning", "mycme-learning-title"),
        ("/mypage/cme/records", "mycme-records-title"),
        ("/mypage/cme/documents", "certificates-documents-title"),
    ]
    .into_iter()
    .map(|(href, key)| NavItem {
        href,
        label: f.t(key, &[]),
        current: href == current,
    })
    .collect()
}

/// A page that only tells something: a title, paragraphs and an optional link onward.
#[derive(Template)]
#[template(path = "shell/notice.html")]
pub struct Notice<'a> {
    /// The layout context.
    pub c: Chrome<'a>,
    /// The heading.
    pub title: String,
    /// The paragraphs.
    pub body: Vec<String>,
    /// Where to go next: the link's target and its text.
    pub link: Option<(String, String)>,
}

/// Accounts that are not a verified doctor's see why, not data.
pub(crate) fn unverified<S: Store>(st: &WebState<S>, ctx: &PageCtx) -> PageResult {
    let cat = &st.shared.catalogues;
    let view = Notice {
        c: ctx.chrome(cat),
        title: cat.text(ctx.lang, "mycme-unverified-title", &[]),
        body: vec![cat.text(ctx.lang, "mycme-unverified-body", &[])],
        link: Some((
            "/mypage".to_owned(),
            cat.text(ctx.lang, "mycme-back-to-mypage", &[]),
        )),
    };
    let mut r = html(page(view.render()))?;
    *r.status_mut() = StatusCode::FORBIDDEN;
    Ok(r)
}
