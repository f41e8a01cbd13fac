//! The page chrome every HTML page shares: the base layout's context (language, CSRF token,
//! path, who is logged in), rendering with logged template errors, the tab bar of My Page's CME
//! section (its tabs belong to three capabilities), and the notice for accounts that are not a
//! verified doctor's.

use askama::Template;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use mamis_app::identity::sessions::{self, Current};
use mamis_domain::{Principal, Scope};
use mamis_store::{AccountKind, Store};

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
    /// The logged-in account's name, shown in the header with a logout button.
    pub user: Option<String>,
    /// Who is looking, so the header offers only links they may follow.
    pub audience: Audience,
}

/// `name（code）` in Japanese, `name (code)` in English.
pub fn bracketed(lang: Lang, name: &str, code: &str) -> String {
    match lang {
        Lang::Ja => format!("{name}（{code}）"),
        Lang::En => format!("{name} ({code})"),
    }
}

/// The options of an association select: the `names` (code → name) that `keep` accepts, as
/// (code, name（code）) in code order.
pub fn association_options(
    lang: Lang,
    names: &std::collections::HashMap<String, String>,
    keep: impl Fn(&str) -> bool,
) -> Vec<(String, String)> {
    let mut options: Vec<(String, String)> = names
        .iter()
        .filter(|(code, _)| keep(code))
        .map(|(code, name)| (code.clone(), bracketed(lang, name, code)))
        .collect();
    options.sort();
    options
}

/// Who is looking at a page, as far as the header's links are concerned: each kind sees only
/// the places it may enter (a doctor is not offered 事務局; an organiser's 事務局 is the training list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Audience {
    /// Not logged in.
    #[default]
    Visitor,
    /// A doctor's MAMIS_ID.
    Doctor,
    /// Staff, with the back-office page their grants land on (`None`: no grant reaches one)
    /// and how many procedures wait for their associations (shown on the 事務局 link).
    Staff(Option<&'static str>, u64),
}

/// One link of the site header.
pub struct HeaderLink {
    /// Where it leads.
    pub href: &'static str,
    /// Its text.
    pub label: String,
    /// Whether the current page is under it (`aria-current`).
    pub current: bool,
    /// A count of work waiting behind it: the number, and the words a screen reader says.
    pub badge: Option<(String, String)>,
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
            audience: Audience::Visitor,
        }
    }
    /// The header's links for this audience, the current one marked.
    pub fn links(&self) -> Vec<HeaderLink> {
        let mut links: Vec<(&'static str, &str)> = vec![("/", "nav-home")];
        match self.audience {
            Audience::Visitor => {}
            Audience::Doctor => links.push(("/mypage", "nav-mypage")),
            Audience::Staff(office, _) => {
                links.push(("/mypage", "nav-account"));
                if let Some(o) = office {
                    links.push((o, "nav-office"));
                }
            }
        }
        // the CME portal is a doctor's place; staff work in the back office
        if !matches!(self.audience, Audience::Staff(..)) {
            links.push(("/cme", "nav-cme"));
        }
        let waiting = match self.audience {
            Audience::Staff(_, n) if n > 0 => Some(n),
            _ => None,
        };
        let mut out: Vec<HeaderLink> = links
            .into_iter()
            .map(|(href, key)| HeaderLink {
                href,
                label: self.t(key),
                current: false,
                badge: waiting.filter(|_| key == "nav-office").map(|n| {
                    (
                        n.to_string(),
                        self.cat.message(
                            self.lang,
                            "nav-office-waiting",
                            &[(
                                "n",
                                crate::shell::i18n::Arg::Count(
                                    i64::try_from(n).unwrap_or(i64::MAX),
                                ),
                            )],
                        ),
                    )
                }),
            })
            .collect();
        // the longest matching prefix is the current section
        let best = out
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                self.path == l.href
                    || (l.href != "/" && self.path.starts_with(&format!("{}/", l.href)))
            })
            .max_by_key(|(_, l)| l.href.len())
            .map(|(i, _)| i);
        if let Some(i) = best {
            out[i].current = true;
        }
        out
    }
    /// A message in the page's language.
    pub fn t(&self, key: &str) -> String {
        self.cat.text(self.lang, key, &[])
    }
    /// Whether a doctor is looking (pages leave out what only staff may open).
    pub fn is_doctor(&self) -> bool {
        self.audience == Audience::Doctor
    }
    /// A name with its code or note in brackets: full-width in Japanese, `name (code)` in English.
    pub fn named(&self, name: &str, code: &str) -> String {
        bracketed(self.lang, name, code)
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
    pub(crate) audience: Audience,
}

impl<S: Store> axum::extract::FromRequestParts<WebState<S>> for PageCtx {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        st: &WebState<S>,
    ) -> Result<Self, Self::Rejection> {
        let crate::shell::auth::MaybeUser(user) =
            <crate::shell::auth::MaybeUser as axum::extract::FromRequestParts<WebState<S>>>::from_request_parts(parts, st).await?;
        let (user, audience) = viewer(st, user.as_ref()).await;
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
            user,
            audience,
        })
    }
}

/// The header's name and audience of whoever holds the session (one grant lookup for staff).
pub(crate) async fn viewer<S: Store>(
    st: &WebState<S>,
    current: Option<&Current>,
) -> (Option<String>, Audience) {
    let Some(c) = current else {
        return (None, Audience::Visitor);
    };
    let a = &c.account;
    let name = if a.display_name.trim().is_empty() {
        a.email.clone()
    } else {
        a.display_name.clone()
    };
    let audience = match a.kind {
        AccountKind::Doctor => Audience::Doctor,
        AccountKind::Staff => {
            match mamis_app::identity::recovery::staff_principal(&st.app, a).await {
                Ok(p) => {
                    // what waits for their associations; a failed count leaves the link bare
                    let waiting = mamis_app::membership::waiting_count(&st.app, &p)
                        .await
                        .unwrap_or_else(|e| {
                            tracing::warn!(error = %e, "waiting count for the header");
                            None
                        })
                        .unwrap_or(0);
                    Audience::Staff(office_landing(&p), waiting)
                }
                Err(e) => {
                    tracing::error!(error = %e, "grant lookup for the header");
                    Audience::Staff(None, 0)
                }
            }
        }
    };
    (Some(name), audience)
}

/// The same for a request the page handler did not finish (error pages keep the header).
pub(crate) async fn viewer_of_headers<S: Store>(
    st: &WebState<S>,
    headers: &HeaderMap,
) -> (Option<String>, Audience) {
    let cookie = crate::shell::middleware::cookie(
        headers,
        crate::shell::auth::session_cookie(st.shared.https),
    );
    let current = match cookie {
        Some(v) => sessions::current(&st.app, &v).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "session lookup for an error page");
            None
        }),
        None => None,
    };
    viewer(st, current.as_ref()).await
}

/// The back-office page a staff member's grants land on: the identity queue for association
/// staff, the training list for an organiser; none for staff whose grants reach neither.
pub fn office_landing(p: &Principal) -> Option<&'static str> {
    let Principal::Staff { grants, .. } = p else {
        return None;
    };
    if grants
        .iter()
        .any(|g| matches!(g.scope(), Scope::Association(_)))
    {
        Some("/office")
    } else if mamis_app::training::can_use_training(p) {
        Some("/office/training")
    } else {
        None
    }
}

impl PageCtx {
    /// The layout context for a template.
    pub(crate) fn chrome<'a>(&self, cat: &'a Catalogues) -> Chrome<'a> {
        let mut c = Chrome::new(cat, self.lang, self.csrf.clone(), self.path.clone());
        c.user = self.user.clone();
        c.audience = self.audience;
        c
    }

    /// This context after the session ended (the page rendered by logout or a fresh login form).
    pub(crate) fn signed_out(self) -> Self {
        Self {
            user: None,
            audience: Audience::Visitor,
            ..self
        }
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

/// The box at the top of a form that came back with problems: it takes the focus (the page's
/// script focuses it), says how many, and links each problem to its field.
pub struct ErrorSummary {
    /// 「入力内容を確認してください」.
    pub title: String,
    /// How many problems, in words.
    pub count: String,
    /// Each problem: the field's id and the text (label: message).
    pub items: Vec<(String, String)>,
}

impl ErrorSummary {
    /// The summary of `items` (field id, label, message); `None` when there is nothing wrong.
    pub fn of(cat: &Catalogues, lang: Lang, items: Vec<(String, String, String)>) -> Option<Self> {
        if items.is_empty() {
            return None;
        }
        let n = i64::try_from(items.len()).unwrap_or(i64::MAX);
        Some(Self {
            title: cat.text(lang, "form-error-summary", &[]),
            count: cat.message(
                lang,
                "form-error-count",
                &[("n", crate::shell::i18n::Arg::Count(n))],
            ),
            items: items
                .into_iter()
                .map(|(id, label, message)| (id, format!("{label}: {message}")))
                .collect(),
        })
    }
}
