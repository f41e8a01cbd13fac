//! Login with the second factor, and logout.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use mamis_app::identity::{IdentityError, login, sessions};
use mamis_app::oidc::provider;
use mamis_store::{AccountKind, Store};
use serde::Deserialize;

use super::{fail, message, notice};
use crate::WebState;
use crate::shell::auth::{
    RequestOrigin, clear_cookie, mfa_cookie, safe_next, session_cookie, set_cookie,
};
use crate::shell::chrome::{Chrome, PageCtx, PageResult, html, page};
use crate::shell::middleware::{FormActionOrigin, cookie};

#[derive(Template)]
#[template(path = "identity/login.html")]
struct LoginView<'a> {
    c: Chrome<'a>,
    next: String,
    email: String,
    error: Option<String>,
}

/// `?next=` after login.
#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// The login form.
pub async fn login_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    Query(q): Query<NextQuery>,
) -> PageResult {
    let next = safe_next(q.next.as_deref(), "");
    let view = LoginView {
        c: ctx.chrome(&st.shared.catalogues),
        next: next.clone(),
        email: String::new(),
        error: None,
    };
    allow_return(&st, &next, html(page(view.render()))?).await
}

/// Lets the page's form go on to the OpenID client that `next` returns to: the login POST
/// redirects to the authorization endpoint, which redirects to the client, and the browser
/// holds that whole chain to the form page's CSP `form-action`.
async fn allow_return<S: Store>(st: &WebState<S>, next: &str, mut r: Response) -> PageResult {
    if let Some(o) = provider::login_return_origin(&st.app, next).await? {
        r.extensions_mut().insert(FormActionOrigin(o));
    }
    Ok(r)
}

/// The login form as posted.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

fn after_login(kind: AccountKind, next: &str) -> String {
    let default = if kind == AccountKind::Staff {
        "/office"
    } else {
        "/mypage"
    };
    safe_next(Some(next).filter(|n| !n.is_empty()), default)
}

/// Checks the password; opens a session or asks for the second factor.
pub async fn login_submit<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<LoginForm>,
) -> PageResult {
    let https = st.shared.https;
    match login::password(&st.app, &f.email, &f.password, &origin).await {
        Ok(login::LoginOutcome::LoggedIn { cookie, account }) => {
            // A new session id at every login; whatever session this browser had ends.
            if let Some(old) = crate::shell::middleware::cookie(&headers, session_cookie(https)) {
                sessions::close(&st.app, &old).await.map_err(fail)?;
            }
            let mut r = Redirect::to(&after_login(account.kind, &f.next)).into_response();
            set_cookie(&mut r, https, session_cookie(https), &cookie, None);
            Ok(r)
        }
        Ok(login::LoginOutcome::SecondFactor { pending }) => {
            let mut r =
                Redirect::to(&format!("/login/totp?next={}", next_param(&f.next))).into_response();
            set_cookie(&mut r, https, mfa_cookie(https), &pending, Some(300));
            Ok(r)
        }
        Err(e) => {
            let msg = message(&st.shared.catalogues, ctx.lang, &e).ok_or_else(|| fail(e))?;
            let view = LoginView {
                c: ctx.chrome(&st.shared.catalogues),
                next: f.next.clone(),
                email: f.email,
                error: Some(msg),
            };
            let mut r = html(page(view.render()))?;
            *r.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
            allow_return(&st, &safe_next(Some(&f.next), ""), r).await
        }
    }
}

#[derive(Template)]
#[template(path = "identity/code.html")]
struct CodeView<'a> {
    c: Chrome<'a>,
    error: Option<String>,
    /// Where the login continues, form-urlencoded for the form's action (kept across the step).
    next: String,
}

/// `next` as the second-factor form carries it in its action's query.
fn next_param(next: &str) -> String {
    url::form_urlencoded::byte_serialize(next.as_bytes()).collect()
}

/// The second-factor form.
pub async fn totp_login_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    Query(q): Query<NextQuery>,
) -> PageResult {
    let next = safe_next(q.next.as_deref(), "");
    let r = html(page(
        CodeView {
            c: ctx.chrome(&st.shared.catalogues),
            error: None,
            next: next_param(&next),
        }
        .render(),
    ))?;
    allow_return(&st, &next, r).await
}

/// The second-factor form as posted.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// Completes a login with a TOTP or recovery code.
pub async fn totp_login_submit<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
    RequestOrigin(origin): RequestOrigin,
    Query(q): Query<NextQuery>,
    Form(f): Form<CodeForm>,
) -> PageResult {
    let https = st.shared.https;
    let Some(pending) = cookie(&headers, mfa_cookie(https)) else {
        return Ok(Redirect::to("/login").into_response());
    };
    match login::second_factor(&st.app, &pending, &f.code, &origin).await {
        Ok(login::LoginOutcome::LoggedIn { cookie, account }) => {
            if let Some(old) = crate::shell::middleware::cookie(&headers, session_cookie(https)) {
                sessions::close(&st.app, &old).await.map_err(fail)?;
            }
            let mut r = Redirect::to(&after_login(account.kind, q.next.as_deref().unwrap_or("")))
                .into_response();
            set_cookie(&mut r, https, session_cookie(https), &cookie, None);
            clear_cookie(&mut r, https, mfa_cookie(https));
            Ok(r)
        }
        Ok(login::LoginOutcome::SecondFactor { .. }) | Err(IdentityError::LinkInvalid) => {
            Ok(Redirect::to("/login").into_response())
        }
        Err(e) => {
            let msg = message(&st.shared.catalogues, ctx.lang, &e).ok_or_else(|| fail(e))?;
            let next = safe_next(q.next.as_deref(), "");
            let mut r = html(page(
                CodeView {
                    c: ctx.chrome(&st.shared.catalogues),
                    error: Some(msg),
                    next: next_param(&next),
                }
                .render(),
            ))?;
            *r.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
            allow_return(&st, &next, r).await
        }
    }
}

/// Ends the session.
pub async fn logout<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
) -> PageResult {
    let https = st.shared.https;
    if let Some(c) = cookie(&headers, session_cookie(https)) {
        sessions::close(&st.app, &c).await.map_err(fail)?;
    }
    let ctx = ctx.signed_out();
    let mut r = notice(&st, &ctx, "logged-out", &[], Some(("/login", "nav-login")))?;
    clear_cookie(&mut r, https, session_cookie(https));
    Ok(r)
}
