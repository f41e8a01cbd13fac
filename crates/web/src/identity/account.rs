//! The account pages of a logged-in user: password, sessions, TOTP and address change.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect};
use mamis_app::identity::{self as id, IdentityError, recovery, registration, sessions, totp};
use mamis_store::{AccountKind, Store};
use serde::Deserialize;

use super::registration::{EmailForm, email_form};
use super::{TokenForm, TokenQuery, confirm_page, fail, link_invalid, message, notice};
use crate::WebState;
use crate::shell::auth::CurrentUser;
use crate::shell::chrome::{Chrome, Notice, PageCtx, PageResult, html, page};

#[derive(Template)]
#[template(path = "identity/password.html")]
struct PasswordView<'a> {
    c: Chrome<'a>,
    title: String,
    action: &'static str,
    token: Option<String>,
    ask_current: bool,
    ask_code: bool,
    error: Option<String>,
}

/// What a password form asks besides the new password.
#[derive(Clone, Copy, Default)]
pub(super) struct Asks {
    pub(super) current: bool,
    pub(super) code: bool,
}

pub(super) fn password_form<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    title: &str,
    action: &'static str,
    token: Option<String>,
    asks: Asks,
    error: Option<String>,
) -> PageResult {
    let view = PasswordView {
        c: ctx.chrome(&st.shared.catalogues),
        title: st.shared.catalogues.text(ctx.lang, title, &[]),
        action,
        token,
        ask_current: asks.current,
        ask_code: asks.code,
        error,
    };
    html(page(view.render()))
}

/// The password form (first password during registration, or a change).
pub async fn password_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
) -> PageResult {
    let asks = Asks {
        current: u.account.password_hash.is_some(),
        code: false,
    };
    password_form(
        &st,
        &ctx,
        "password-title",
        "/mypage/password",
        None,
        asks,
        None,
    )
}

/// The password form as posted.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    pub(super) current: String,
    #[serde(default)]
    pub(super) password: String,
    #[serde(default)]
    pub(super) token: String,
    #[serde(default)]
    pub(super) code: String,
}

/// Sets or changes the password.
pub async fn password_submit<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    let result = if u.account.password_hash.is_some() {
        recovery::change_password(
            &st.app,
            &u.account,
            &f.current,
            &f.password,
            &u.session.id_hash,
        )
        .await
    } else {
        registration::set_password(&st.app, &u.account, &f.password).await
    };
    match result {
        Ok(()) => Ok(Redirect::to("/mypage").into_response()),
        Err(e) => {
            let cat = &st.shared.catalogues;
            let msg = match &e {
                IdentityError::LoginFailed => {
                    Some(cat.text(ctx.lang, "password-current-wrong", &[]))
                }
                other => message(cat, ctx.lang, other),
            }
            .ok_or_else(|| fail(e))?;
            let asks = Asks {
                current: u.account.password_hash.is_some(),
                code: false,
            };
            let mut r = password_form(
                &st,
                &ctx,
                "password-title",
                "/mypage/password",
                None,
                asks,
                Some(msg),
            )?;
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
    }
}

/// One row of the session list.
pub struct SessionRow {
    id: String,
    started: String,
    last_seen: String,
    from: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "identity/sessions.html")]
struct SessionsView<'a> {
    c: Chrome<'a>,
    rows: Vec<SessionRow>,
}

/// The account's live sessions.
pub async fn sessions_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
) -> PageResult {
    let list = sessions::list(&st.app, u.account.id).await.map_err(fail)?;
    let rows = list
        .into_iter()
        .map(|s| SessionRow {
            current: s.id_hash == u.session.id_hash,
            started: id::jst(s.created_at),
            last_seen: id::jst(s.last_seen_at),
            from: format!(
                "{} {}",
                s.client_addr.unwrap_or_default(),
                s.user_agent
                    .unwrap_or_default()
                    .chars()
                    .take(60)
                    .collect::<String>()
            ),
            id: s.id_hash,
        })
        .collect();
    html(page(
        SessionsView {
            c: ctx.chrome(&st.shared.catalogues),
            rows,
        }
        .render(),
    ))
}

/// Which session to end.
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    id: String,
}

/// Ends one of the account's other sessions.
pub async fn sessions_revoke<S: Store>(
    State(st): State<WebState<S>>,
    CurrentUser(u): CurrentUser,
    Form(f): Form<RevokeForm>,
) -> PageResult {
    sessions::revoke_own(&st.app, u.account.id, &f.id)
        .await
        .map_err(fail)?;
    Ok(Redirect::to("/mypage/sessions").into_response())
}

// ---------------------------------------------------------------- TOTP

#[derive(Template)]
#[template(path = "identity/totp.html")]
struct TotpView<'a> {
    c: Chrome<'a>,
    staff: bool,
    qr_svg: String,
    secret: String,
    sealed: String,
    error: Option<String>,
}

fn totp_view<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    u: &sessions::Current,
    error: Option<String>,
) -> PageResult {
    let e = totp::begin(&st.app, &u.account).map_err(fail)?;
    let view = TotpView {
        c: ctx.chrome(&st.shared.catalogues),
        staff: u.account.kind == AccountKind::Staff,
        qr_svg: e.qr_svg,
        secret: e.secret_base32,
        sealed: e.sealed,
        error,
    };
    html(page(view.render()))
}

/// TOTP enrolment (QR code and manual key).
pub async fn totp_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
) -> PageResult {
    if u.account.totp_secret.is_some() {
        return notice(
            &st,
            &ctx,
            "totp-title",
            &["totp-enabled"],
            Some(("/mypage", "mypage-title")),
        );
    }
    totp_view(&st, &ctx, &u, None)
}

/// The enrolment form as posted.
#[derive(Debug, Deserialize)]
pub struct TotpForm {
    #[serde(default)]
    sealed: String,
    #[serde(default)]
    code: String,
}

#[derive(Template)]
#[template(path = "identity/recovery_codes.html")]
struct CodesView<'a> {
    c: Chrome<'a>,
    codes: Vec<String>,
    next: &'static str,
}

/// Confirms enrolment with a first code and shows the recovery codes once.
pub async fn totp_submit<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
    Form(f): Form<TotpForm>,
) -> PageResult {
    match totp::confirm(&st.app, &u.account, &f.sealed, &f.code).await {
        Ok(codes) => {
            let next = if u.account.kind == AccountKind::Staff {
                "/office"
            } else {
                "/mypage"
            };
            html(page(
                CodesView {
                    c: ctx.chrome(&st.shared.catalogues),
                    codes,
                    next,
                }
                .render(),
            ))
        }
        Err(IdentityError::SecondFactorFailed | IdentityError::LinkInvalid) => {
            let msg = st.shared.catalogues.text(ctx.lang, "totp-failed", &[]);
            totp_view(&st, &ctx, &u, Some(msg))
        }
        Err(e) => Err(fail(e)),
    }
}

// ---------------------------------------------------------------- e-mail change

/// The address-change form.
pub async fn email_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(_u): CurrentUser,
) -> PageResult {
    email_form(&st, &ctx, "email", String::new(), None)
}

/// Sends the confirmation to the new address.
pub async fn email_submit<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
    Form(f): Form<EmailForm>,
) -> PageResult {
    match recovery::request_email_change(&st.app, &u.account, &f.email, &f.password).await {
        Ok(()) => notice(
            &st,
            &ctx,
            "email-title",
            &["email-sent"],
            Some(("/mypage", "mypage-title")),
        ),
        Err(e) => {
            let cat = &st.shared.catalogues;
            let msg = match &e {
                IdentityError::LoginFailed => {
                    Some(cat.text(ctx.lang, "password-current-wrong", &[]))
                }
                other => message(cat, ctx.lang, other),
            }
            .ok_or_else(|| fail(e))?;
            email_form(&st, &ctx, "email", f.email, Some(msg))
        }
    }
}

/// The link from the new address.
pub async fn email_confirm_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    Query(q): Query<TokenQuery>,
) -> PageResult {
    confirm_page(
        &st,
        &ctx,
        "email-title",
        "link-continue-lead",
        "/mypage/email/confirm",
        &q.token,
        "link-continue-submit",
    )
}

/// Makes the new address the MAMIS_ID.
pub async fn email_confirm<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    Form(f): Form<TokenForm>,
) -> PageResult {
    match recovery::confirm_email_change(&st.app, &f.token).await {
        Ok(email) => {
            let cat = &st.shared.catalogues;
            let view = Notice {
                c: ctx.chrome(cat),
                title: cat.text(ctx.lang, "email-title", &[]),
                body: vec![cat.text(ctx.lang, "email-changed", &[("email", &email)])],
                link: Some(("/mypage".into(), cat.text(ctx.lang, "mypage-title", &[]))),
            };
            html(page(view.render()))
        }
        Err(IdentityError::LinkInvalid) => link_invalid(&st, &ctx),
        Err(IdentityError::State(_)) => notice(
            &st,
            &ctx,
            "email-title",
            &["email-taken"],
            Some(("/mypage/email", "email-title")),
        ),
        Err(e) => Err(fail(e)),
    }
}
