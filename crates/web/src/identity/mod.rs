//! MAMIS_ID pages: login (with the second factor), logout, registration with identity binding,
//! the account pages (sessions, password, TOTP, address change), password reset, "this was not
//! me", and staff enrolment. Handlers extract, call one identity use case, and render.

mod account;
mod login;
mod recovery;
mod registration;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use mamis_app::identity::IdentityError;
use mamis_app::identity::sessions::Origin;
use mamis_app::limits;
use mamis_domain::identity::PasswordProblem;
use mamis_store::Store;
use serde::Deserialize;

use crate::WebState;
use crate::shell::chrome::{Chrome, Notice, PageCtx, PageResult, html, page};
use crate::shell::error::{Failure, PageError};
use crate::shell::i18n::{Arg, Catalogues, Lang, domain_error_key};

/// The routes of the MAMIS_ID pages.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route(
            "/login",
            get(login::login_page::<S>).post(login::login_submit::<S>),
        )
        .route(
            "/login/totp",
            get(login::totp_login_page::<S>).post(login::totp_login_submit::<S>),
        )
        .route("/logout", post(login::logout::<S>))
        .route(
            "/register",
            get(registration::register_page::<S>).post(registration::register_submit::<S>),
        )
        .route(
            "/register/continue",
            get(registration::register_continue_page::<S>)
                .post(registration::register_continue::<S>),
        )
        .route(
            "/mypage/identity",
            get(registration::identity_page::<S>).post(registration::identity_submit::<S>),
        )
        .route(
            "/mypage/password",
            get(account::password_page::<S>).post(account::password_submit::<S>),
        )
        .route("/mypage/sessions", get(account::sessions_page::<S>))
        .route(
            "/mypage/sessions/revoke",
            post(account::sessions_revoke::<S>),
        )
        .route(
            "/mypage/totp",
            get(account::totp_page::<S>).post(account::totp_submit::<S>),
        )
        .route(
            "/mypage/email",
            get(account::email_page::<S>).post(account::email_submit::<S>),
        )
        .route(
            "/mypage/email/confirm",
            get(account::email_confirm_page::<S>).post(account::email_confirm::<S>),
        )
        .route(
            "/reset",
            get(recovery::reset_page::<S>).post(recovery::reset_submit::<S>),
        )
        .route(
            "/reset/continue",
            get(recovery::reset_continue_page::<S>).post(recovery::reset_continue::<S>),
        )
        .route(
            "/not-me",
            get(recovery::not_me_page::<S>).post(recovery::not_me::<S>),
        )
        .route(
            "/staff/enrol",
            get(recovery::enrol_page::<S>).post(recovery::enrol_submit::<S>),
        )
}

/// The message for an identity refusal; `None` for failures that become error pages.
fn message(cat: &Catalogues, lang: Lang, e: &IdentityError) -> Option<String> {
    let key = match e {
        IdentityError::LoginFailed => "login-failed",
        IdentityError::Suspended => "login-suspended",
        IdentityError::SecondFactorFailed => "totp-failed",
        IdentityError::Password(p) => match p {
            PasswordProblem::TooShort => "password-too-short",
            PasswordProblem::TooLong => "password-too-long",
            PasswordProblem::ContainsBirthDate => "password-birth-date",
            PasswordProblem::ContainsMemberId => "password-member-id",
            PasswordProblem::ContainsEmail => "password-email",
            PasswordProblem::Common => "password-common",
        },
        IdentityError::Invalid(d) => match d {
            mamis_domain::DomainError::InvalidEmail => "invalid-email",
            other => domain_error_key(other),
        },
        IdentityError::State("address taken") => "email-taken",
        _ => return None,
    };
    Some(cat.text(lang, key, &[]))
}

/// Maps what cannot be shown on the form itself to an error page.
fn fail(e: IdentityError) -> PageError {
    match e {
        IdentityError::App(a) => PageError(a.into()),
        IdentityError::State(_) => PageError(Failure::Conflict),
        _ => PageError(Failure::BadRequest("invalid-value")),
    }
}

fn notice<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    title: &str,
    body: &[&str],
    link: Option<(&str, &str)>,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let view = Notice {
        c: ctx.chrome(cat),
        title: cat.text(ctx.lang, title, &[]),
        body: body.iter().map(|k| cat.text(ctx.lang, k, &[])).collect(),
        link: link.map(|(h, k)| (h.to_owned(), cat.text(ctx.lang, k, &[]))),
    };
    html(page(view.render()))
}

#[derive(Template)]
#[template(path = "identity/confirm.html")]
struct ConfirmView<'a> {
    c: Chrome<'a>,
    title: String,
    lead: String,
    action: String,
    token: String,
    submit: String,
}

/// A link from a mail opens a page with a button; the POST does the work, so mail scanners that
/// prefetch links cannot spend them.
fn confirm_page<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    title: &str,
    lead: &str,
    action: &str,
    token: &str,
    submit: &str,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let view = ConfirmView {
        c: ctx.chrome(cat),
        title: cat.text(ctx.lang, title, &[]),
        lead: cat.text(ctx.lang, lead, &[]),
        action: action.to_owned(),
        token: token.to_owned(),
        submit: cat.text(ctx.lang, submit, &[]),
    };
    html(page(view.render()))
}

fn link_invalid<S: Store>(st: &WebState<S>, ctx: &PageCtx) -> PageResult {
    notice(
        st,
        ctx,
        "link-invalid-title",
        &["link-invalid-body"],
        Some(("/", "pending-back")),
    )
}

/// Counts a request for a reset or registration mail against the limits shared by every server
/// (per client address and per recipient); when one is full, the form again with the wait
/// (429 and `Retry-After`). Known and unknown addresses count alike, so the answer says nothing
/// about whether an address has a MAMIS_ID.
async fn mail_limited<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    which: &str,
    email: &str,
    origin: &Origin,
) -> Result<Option<Response>, PageError> {
    let l = st.app.config.limits;
    let mut keys = vec![(
        format!(
            "mail-from:{}",
            origin.client_addr.as_deref().unwrap_or("unknown")
        ),
        l.mail_per_address,
    )];
    let recipient = email.trim().to_lowercase();
    if !recipient.is_empty() {
        keys.push((format!("mail-to:{recipient}"), l.mail_per_recipient));
    }
    let Err(until) = limits::take(&st.app, &keys).await? else {
        return Ok(None);
    };
    let seconds = (until - st.app.now()).num_seconds().max(1);
    let minutes = (seconds + 59) / 60;
    let msg = st.shared.catalogues.message(
        ctx.lang,
        "mail-limited",
        &[("minutes", Arg::Count(minutes))],
    );
    let mut r = registration::email_form(st, ctx, which, email.to_owned(), Some(msg))?;
    *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Ok(Some(r))
}

/// `?token=` of links from mail.
#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// A form carrying only a token.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
}
