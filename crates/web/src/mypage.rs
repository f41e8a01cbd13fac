//! MAMIS_ID pages: login (with the second factor), logout, registration with identity binding,
//! My Page with sessions, password, TOTP and address change, password reset, "this was not me",
//! and staff enrolment. Handlers extract, call one identity use case, and render.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use mamis_app::identity::{
    self as id, IdentityError, binding, login, recovery, registration, sessions, totp,
};
use mamis_domain::identity::PasswordProblem;
use mamis_store::{AccountKind, Store, Verification};
use serde::Deserialize;

use crate::WebState;
use crate::auth::{
    CurrentUser, RequestOrigin, clear_cookie, mfa_cookie, safe_next, session_cookie, set_cookie,
};
use crate::error::{Failure, PageError};
use crate::i18n::{Catalogues, Lang, domain_error_key};
use crate::middleware::cookie;
use crate::pages::{Chrome, PageCtx, page};

type PageResult = Result<Response, PageError>;

fn html(r: Result<Html<String>, PageError>) -> PageResult {
    r.map(IntoResponse::into_response)
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

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticeView<'a> {
    c: Chrome<'a>,
    title: String,
    body: Vec<String>,
    link: Option<(String, String)>,
}

fn notice<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    title: &str,
    body: &[&str],
    link: Option<(&str, &str)>,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let view = NoticeView {
        c: ctx.chrome(cat),
        title: cat.text(ctx.lang, title, &[]),
        body: body.iter().map(|k| cat.text(ctx.lang, k, &[])).collect(),
        link: link.map(|(h, k)| (h.to_owned(), cat.text(ctx.lang, k, &[]))),
    };
    html(page(view.render()))
}

#[derive(Template)]
#[template(path = "confirm.html")]
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

// ---------------------------------------------------------------- login

#[derive(Template)]
#[template(path = "login.html")]
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
    let view = LoginView {
        c: ctx.chrome(&st.shared.catalogues),
        next: safe_next(q.next.as_deref(), ""),
        email: String::new(),
        error: None,
    };
    html(page(view.render()))
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
            if let Some(old) = crate::middleware::cookie(&headers, session_cookie(https)) {
                sessions::close(&st.app, &old).await.map_err(fail)?;
            }
            let mut r = Redirect::to(&after_login(account.kind, &f.next)).into_response();
            set_cookie(&mut r, https, session_cookie(https), &cookie, None);
            Ok(r)
        }
        Ok(login::LoginOutcome::SecondFactor { pending }) => {
            let mut r = Redirect::to(&format!(
                "/login/totp?next={}",
                url::form_urlencoded::byte_serialize(f.next.as_bytes()).collect::<String>()
            ))
            .into_response();
            set_cookie(&mut r, https, mfa_cookie(https), &pending, Some(300));
            Ok(r)
        }
        Err(e) => {
            let msg = message(&st.shared.catalogues, ctx.lang, &e).ok_or_else(|| fail(e))?;
            let view = LoginView {
                c: ctx.chrome(&st.shared.catalogues),
                next: f.next,
                email: f.email,
                error: Some(msg),
            };
            let mut r = html(page(view.render()))?;
            *r.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
            Ok(r)
        }
    }
}

#[derive(Template)]
#[template(path = "code.html")]
struct CodeView<'a> {
    c: Chrome<'a>,
    error: Option<String>,
}

/// The second-factor form.
pub async fn totp_login_page<S: Store>(State(st): State<WebState<S>>, ctx: PageCtx) -> PageResult {
    html(page(
        CodeView {
            c: ctx.chrome(&st.shared.catalogues),
            error: None,
        }
        .render(),
    ))
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
            if let Some(old) = crate::middleware::cookie(&headers, session_cookie(https)) {
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
            let mut r = html(page(
                CodeView {
                    c: ctx.chrome(&st.shared.catalogues),
                    error: Some(msg),
                }
                .render(),
            ))?;
            *r.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
            Ok(r)
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
    let ctx = PageCtx { user: None, ..ctx };
    let mut r = notice(&st, &ctx, "logged-out", &[], Some(("/login", "nav-login")))?;
    clear_cookie(&mut r, https, session_cookie(https));
    Ok(r)
}

// ---------------------------------------------------------------- registration

#[derive(Template)]
#[template(path = "email_form.html")]
struct EmailFormView<'a> {
    c: Chrome<'a>,
    title: String,
    lead: String,
    action: &'static str,
    submit: String,
    email: String,
    with_password: bool,
    error: Option<String>,
}

fn email_form<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    which: &str,
    email: String,
    error: Option<String>,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let (title, lead, action, submit, with_password) = match which {
        "register" => (
            "register-title",
            "register-lead",
            "/register",
            "register-submit",
            false,
        ),
        "reset" => ("reset-title", "reset-lead", "/reset", "reset-submit", false),
        _ => (
            "email-title",
            "email-lead",
            "/mypage/email",
            "email-submit",
            true,
        ),
    };
    let view = EmailFormView {
        c: ctx.chrome(cat),
        title: cat.text(ctx.lang, title, &[]),
        lead: cat.text(ctx.lang, lead, &[]),
        action,
        submit: cat.text(ctx.lang, submit, &[]),
        email,
        with_password,
        error,
    };
    html(page(view.render()))
}

/// An e-mail form as posted.
#[derive(Debug, Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// Registration step 1.
pub async fn register_page<S: Store>(State(st): State<WebState<S>>, ctx: PageCtx) -> PageResult {
    email_form(&st, &ctx, "register", String::new(), None)
}

/// Sends the registration link; the answer never tells whether the address is known.
pub async fn register_submit<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    Form(f): Form<EmailForm>,
) -> PageResult {
    match registration::start(&st.app, &f.email).await {
        Ok(()) => notice(
            &st,
            &ctx,
            "register-sent-title",
            &["register-sent-body"],
            None,
        ),
        Err(e) => {
            let msg = message(&st.shared.catalogues, ctx.lang, &e).ok_or_else(|| fail(e))?;
            email_form(&st, &ctx, "register", f.email, Some(msg))
        }
    }
}

/// The link from the registration mail: a button, so prefetching does not spend it.
pub async fn register_continue_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    Query(q): Query<TokenQuery>,
) -> PageResult {
    confirm_page(
        &st,
        &ctx,
        "link-continue-title",
        "link-continue-lead",
        "/register/continue",
        &q.token,
        "link-continue-submit",
    )
}

/// Registration step 2: spends the link, creates the account, logs it in.
pub async fn register_continue<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<TokenForm>,
) -> PageResult {
    let https = st.shared.https;
    match registration::confirm(&st.app, &f.token, &origin).await {
        Ok(cookie) => {
            let mut r = Redirect::to("/mypage/identity").into_response();
            set_cookie(&mut r, https, session_cookie(https), &cookie, None);
            Ok(r)
        }
        Err(IdentityError::LinkInvalid) => link_invalid(&st, &ctx),
        Err(e) => Err(fail(e)),
    }
}

/// One field of the identity form.
pub struct FieldView {
    name: &'static str,
    label: String,
    value: String,
    error: Option<String>,
}

/// One choice of association.
pub struct AssocOption {
    code: String,
    name: String,
}

/// Associations grouped for the select: prefectures (for non-members), then each prefecture's
/// county associations (for members).
pub struct AssocGroup {
    label: String,
    options: Vec<AssocOption>,
}

#[derive(Template)]
#[template(path = "identity.html")]
struct IdentityView<'a> {
    c: Chrome<'a>,
    fields: Vec<FieldView>,
    groups: Vec<AssocGroup>,
    message: Option<String>,
}

async fn association_groups<S: Store>(
    st: &WebState<S>,
    lang: Lang,
) -> Result<Vec<AssocGroup>, PageError> {
    use mamis_domain::AssociationLevel;
    let all = mamis_app::registry::public_tree(&st.app)
        .await
        .map_err(|e| PageError(e.into()))?;
    let cat = &st.shared.catalogues;
    let name = |a: &mamis_domain::Association| {
        if lang == Lang::Ja {
            a.name_ja.clone()
        } else {
            a.name_en.clone()
        }
    };
    let mut groups = vec![AssocGroup {
        label: cat.text(lang, "association-group-prefectures", &[]),
        options: all
            .iter()
            .filter(|a| a.level() == AssociationLevel::Prefecture)
            .map(|a| AssocOption {
                code: a.code.to_string(),
                name: name(a),
            })
            .collect(),
    }];
    for p in all
        .iter()
        .filter(|a| a.level() == AssociationLevel::Prefecture)
    {
        let options: Vec<AssocOption> = all
            .iter()
            .filter(|a| a.level() == AssociationLevel::County && p.code.contains(&a.code))
            .map(|a| AssocOption {
                code: a.code.to_string(),
                name: name(a),
            })
            .collect();
        if !options.is_empty() {
            groups.push(AssocGroup {
                label: cat.text(
                    lang,
                    "association-group-counties",
                    &[("prefecture", &name(p))],
                ),
                options,
            });
        }
    }
    Ok(groups)
}

const IDENTITY_FIELDS: [(&str, &str); 9] = [
    ("iseki", "field-iseki"),
    ("family_name", "field-family-name"),
    ("given_name", "field-given-name"),
    ("family_kana", "field-family-kana"),
    ("given_kana", "field-given-kana"),
    ("birth_date", "field-birth-date"),
    ("sex", "field-sex"),
    ("membership", "field-membership"),
    ("association", "field-association"),
];

async fn identity_view<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    f: &registration::IdentityForm,
    errors: &[registration::FieldError],
    message: Option<String>,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let value = |n: &str| match n {
        "iseki" => f.iseki.clone(),
        "family_name" => f.family_name.clone(),
        "given_name" => f.given_name.clone(),
        "family_kana" => f.family_kana.clone(),
        "given_kana" => f.given_kana.clone(),
        "birth_date" => f.birth_date.clone(),
        "sex" => f.sex.clone(),
        "membership" => f.membership.clone(),
        _ => f.association.clone(),
    };
    let fields = IDENTITY_FIELDS
        .iter()
        .map(|(name, label)| FieldView {
            name,
            label: cat.text(ctx.lang, label, &[]),
            value: value(name),
            error: errors
                .iter()
                .find(|e| e.field == *name)
                .map(|e| cat.text(ctx.lang, e.key, &[])),
        })
        .collect();
    let groups = association_groups(st, ctx.lang).await?;
    html(page(
        IdentityView {
            c: ctx.chrome(cat),
            fields,
            groups,
            message,
        }
        .render(),
    ))
}

/// The identity form as posted.
#[derive(Debug, Deserialize, Default)]
pub struct IdentityPost {
    #[serde(default)]
    iseki: String,
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    family_kana: String,
    #[serde(default)]
    given_kana: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    sex: String,
    #[serde(default)]
    membership: String,
    #[serde(default)]
    association: String,
}

impl From<IdentityPost> for registration::IdentityForm {
    fn from(p: IdentityPost) -> Self {
        Self {
            iseki: p.iseki,
            family_name: p.family_name,
            given_name: p.given_name,
            family_kana: p.family_kana,
            given_kana: p.given_kana,
            birth_date: p.birth_date,
            sex: p.sex,
            membership: p.membership,
            association: p.association,
        }
    }
}

/// Registration step 3: the identity form.
pub async fn identity_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
) -> PageResult {
    let msg = match u.account.verification {
        Verification::Verified => return Ok(Redirect::to("/mypage").into_response()),
        Verification::Review | Verification::Suspended => {
            Some(st.shared.catalogues.text(ctx.lang, "identity-review", &[]))
        }
        Verification::Unverified => None,
    };
    let empty = registration::IdentityForm {
        sex: "male".into(),
        membership: "member".into(),
        ..Default::default()
    };
    identity_view(&st, &ctx, &empty, &[], msg).await
}

/// Matches the identity data against the register.
pub async fn identity_submit<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
    RequestOrigin(origin): RequestOrigin,
    Form(p): Form<IdentityPost>,
) -> PageResult {
    let form: registration::IdentityForm = p.into();
    let data = match registration::parse_identity(&form) {
        Ok(d) => d,
        Err(errors) => {
            let mut r = identity_view(&st, &ctx, &form, &errors, None).await?;
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(r);
        }
    };
    let cat = &st.shared.catalogues;
    match registration::submit_identity(&st.app, &u.account, data, &origin).await {
        Ok(registration::IdentityOutcome::Verified) => {
            Ok(Redirect::to("/mypage/password").into_response())
        }
        Ok(registration::IdentityOutcome::Review) => {
            identity_view(
                &st,
                &ctx,
                &form,
                &[],
                Some(cat.text(ctx.lang, "identity-review", &[])),
            )
            .await
        }
        Ok(registration::IdentityOutcome::NotMatched { attempts_left }) => {
            let m = cat.text(
                ctx.lang,
                "identity-not-matched",
                &[("attempts", &attempts_left.to_string())],
            );
            identity_view(&st, &ctx, &form, &[], Some(m)).await
        }
        Err(IdentityError::Invalid(_)) => {
            let err = [registration::FieldError {
                field: "association",
                key: "invalid-association-code",
            }];
            identity_view(&st, &ctx, &form, &err, None).await
        }
        Err(e) => Err(fail(e)),
    }
}

// ---------------------------------------------------------------- password

#[derive(Template)]
#[template(path = "password.html")]
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
struct Asks {
    current: bool,
    code: bool,
}

fn password_form<S: Store>(
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
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    code: String,
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

// ---------------------------------------------------------------- My Page

#[derive(Template)]
#[template(path = "mypage.html")]
struct MyPageView<'a> {
    c: Chrome<'a>,
    status: String,
    status_class: &'static str,
    verified: bool,
    email: String,
    totp: bool,
    cme: Option<crate::cme::CmeCard>,
}

/// My Page: where the doctor stands, and the account settings. Registration steps come first.
pub async fn mypage<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
) -> PageResult {
    let a = &u.account;
    if a.kind == AccountKind::Doctor
        && a.verification == Verification::Unverified
        && a.password_hash.is_none()
    {
        return Ok(Redirect::to("/mypage/identity").into_response());
    }
    if a.password_hash.is_none() {
        return Ok(Redirect::to("/mypage/password").into_response());
    }
    let (key, class) = match a.verification {
        Verification::Verified => ("mypage-status-verified", "verified"),
        Verification::Review => ("mypage-status-review", "review"),
        Verification::Suspended => ("mypage-status-suspended", "suspended"),
        Verification::Unverified => ("mypage-status-unverified", "unverified"),
    };
    let cme = crate::cme::mypage_card(&st, ctx.lang, &u).await?;
    let cat = &st.shared.catalogues;
    let view = MyPageView {
        c: ctx.chrome(cat),
        cme,
        status: cat.text(ctx.lang, key, &[]),
        status_class: class,
        verified: a.verification == Verification::Verified,
        email: a.email.clone(),
        totp: a.totp_secret.is_some(),
    };
    html(page(view.render()))
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
#[template(path = "sessions.html")]
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
#[template(path = "totp.html")]
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
#[template(path = "recovery_codes.html")]
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

// ---------------------------------------------------------------- reset

/// Reset step 1.
pub async fn reset_page<S: Store>(State(st): State<WebState<S>>, ctx: PageCtx) -> PageResult {
    email_form(&st, &ctx, "reset", String::new(), None)
}

/// Sends the reset link; the answer never tells whether the address is known.
pub async fn reset_submit<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    Form(f): Form<EmailForm>,
) -> PageResult {
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
            let ctx = PageCtx { user: None, ..ctx };
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
            let view = NoticeView {
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
