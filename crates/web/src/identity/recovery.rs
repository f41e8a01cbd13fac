//! Password reset, "this was not me", and staff enrolment.

use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect};
use mamis_app::identity::{IdentityError, binding, recovery};
use mamis_store::Store;

use super::account::{Asks, PasswordForm, password_form};
use super::registration::{EmailForm, email_form};
use super::{
    TokenForm, TokenQuery, confirm_page, fail, link_invalid, mail_limited, message, notice,
};
use crate::WebState;
use crate::shell::auth::{RequestOrigin, clear_cookie, session_cookie, set_cookie};
use crate::shell::chrome::{PageCtx, PageResult};

/// Reset step 1.
pub async fn reset_page<S: Store>(State(st): State<WebState<S>>, ctx: PageCtx) -> PageResult {
    email_form(&st, &ctx, "reset", String::new(), None)
}

/// Sends the reset link; the answer never tells whether the address is known.
pub async fn reset_submit<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<EmailForm>,
) -> PageResult {
    if let Some(r) = mail_limited(&st, &ctx, "reset", &f.email, &origin).await? {
        return Ok(r);
    }
    match recovery::request_reset(&st.app, &f.email).await {
        Ok(()) => notice(&st, &ctx, "register-sent-title", &["reset-sent-body"], None),
        Err(e) => {
            let msg = message(&st.shared.catalogues, ctx.lang, &e).ok_or_else(|| fail(e))?;
            email_form(&st, &ctx, "reset", f.email, Some(msg))
        }
    }
}

fn reset_form<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    token: String,
    ask_code: bool,
    error: Option<String>,
) -> PageResult {
    let asks = Asks {
        current: false,
        code: ask_code,
    };
    password_form(
        st,
        ctx,
        "reset-continue-title",
        "/reset/continue",
        Some(token),
        asks,
        error,
    )
}

/// The link from the reset mail: the new-password form (with the second factor when enrolled).
pub async fn reset_continue_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    Query(q): Query<TokenQuery>,
) -> PageResult {
    match recovery::reset_needs_second_factor(&st.app, &q.token).await {
        Ok(ask_code) => reset_form(&st, &ctx, q.token, ask_code, None),
        Err(IdentityError::LinkInvalid) => link_invalid(&st, &ctx),
        Err(e) => Err(fail(e)),
    }
}

/// Sets the new password; every session ends.
pub async fn reset_continue<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    let code = (!f.code.is_empty()).then_some(f.code.as_str());
    match recovery::complete_reset(&st.app, &f.token, &f.password, code).await {
        Ok(()) => {
            let ctx = ctx.signed_out();
            let https = st.shared.https;
            let mut r = notice(
                &st,
                &ctx,
                "reset-continue-title",
                &["reset-done"],
                Some(("/login", "nav-login")),
            )?;
            clear_cookie(&mut r, https, session_cookie(https));
            Ok(r)
        }
        Err(IdentityError::LinkInvalid) => link_invalid(&st, &ctx),
        Err(e) => {
            let msg = message(&st.shared.catalogues, ctx.lang, &e).ok_or_else(|| fail(e))?;
            let ask = recovery::reset_needs_second_factor(&st.app, &f.token)
                .await
                .unwrap_or(true);
            let mut r = reset_form(&st, &ctx, f.token, ask, Some(msg))?;
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
    }
}

// ---------------------------------------------------------------- not me, staff enrolment

/// The "this was not me" link: a button.
pub async fn not_me_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    Query(q): Query<TokenQuery>,
) -> PageResult {
    confirm_page(
        &st,
        &ctx,
        "not-me-title",
        "not-me-lead",
        "/not-me",
        &q.token,
        "not-me-submit",
    )
}

/// Suspends the binding the doctor did not make.
pub async fn not_me<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<TokenForm>,
) -> PageResult {
    match binding::not_me(&st.app, &f.token, origin.client_addr).await {
        Ok(()) => notice(&st, &ctx, "not-me-title", &["not-me-done"], None),
        Err(IdentityError::LinkInvalid) => link_invalid(&st, &ctx),
        Err(e) => Err(fail(e)),
    }
}

/// The staff enrolment link: set a password.
pub async fn enrol_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    Query(q): Query<TokenQuery>,
) -> PageResult {
    password_form(
        &st,
        &ctx,
        "enrol-title",
        "/staff/enrol",
        Some(q.token),
        Asks::default(),
        None,
    )
}

/// Sets the staff password, logs in, and continues to TOTP enrolment.
pub async fn enrol_submit<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    let https = st.shared.https;
    match recovery::enrol_staff(&st.app, &f.token, &f.password, &origin).await {
        Ok(cookie) => {
            let mut r = Redirect::to("/mypage/totp").into_response();
            set_cookie(&mut r, https, session_cookie(https), &cookie, None);
            Ok(r)
        }
        Err(IdentityError::LinkInvalid) => link_invalid(&st, &ctx),
        Err(e) => {
            let msg = message(&st.shared.catalogues, ctx.lang, &e).ok_or_else(|| fail(e))?;
            password_form(
                &st,
                &ctx,
                "enrol-title",
                "/staff/enrol",
                Some(f.token),
                Asks::default(),
                Some(msg),
            )
        }
    }
}
