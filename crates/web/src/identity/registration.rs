//! Registration: the e-mail step, the link, and the identity data that binds the doctor record.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect};
use mamis_app::identity::{IdentityError, registration};
use mamis_store::{Store, Verification};
use serde::Deserialize;

use super::{TokenForm, TokenQuery, confirm_page, fail, link_invalid, message, notice};
use crate::WebState;
use crate::shell::auth::{CurrentUser, RequestOrigin, session_cookie, set_cookie};
use crate::shell::chrome::{Chrome, ErrorSummary, PageCtx, PageResult, html, page};
use crate::shell::error::PageError;
use crate::shell::i18n::Lang;

#[derive(Template)]
#[template(path = "identity/email_form.html")]
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

pub(super) fn email_form<S: Store>(
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
    pub(super) email: String,
    #[serde(default)]
    pub(super) password: String,
}

/// Registration step 1.
pub async fn register_page<S: Store>(State(st): State<WebState<S>>, ctx: PageCtx) -> PageResult {
    email_form(&st, &ctx, "register", String::new(), None)
}

/// Sends the registration link; the answer never tells whether the address is known.
pub async fn register_submit<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<EmailForm>,
) -> PageResult {
    if let Some(r) = super::mail_limited(&st, &ctx, "register", &f.email, &origin).await? {
        return Ok(r);
    }
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
#[template(path = "identity/identity.html")]
struct IdentityView<'a> {
    c: Chrome<'a>,
    summary: Option<ErrorSummary>,
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

const IDENTITY_FIELDS: [(&str, &str); 10] = [
    ("iseki", "field-iseki"),
    ("family_name", "field-family-name"),
    ("given_name", "field-given-name"),
    ("family_kana", "field-family-kana"),
    ("given_kana", "field-given-kana"),
    ("birth_date", "field-birth-date"),
    ("licensed_on", "field-licensed-on"),
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
        "licensed_on" => f.licensed_on.clone(),
        "sex" => f.sex.clone(),
        "membership" => f.membership.clone(),
        _ => f.association.clone(),
    };
    let fields: Vec<FieldView> = IDENTITY_FIELDS
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
    let summary = ErrorSummary::of(
        cat,
        ctx.lang,
        fields
            .iter()
            .filter_map(|f| {
                f.error
                    .as_ref()
                    .map(|e| (f.name.to_owned(), f.label.clone(), e.clone()))
            })
            .collect(),
    );
    html(page(
        IdentityView {
            c: ctx.chrome(cat),
            summary,
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
    #[serde(default)]
    licensed_on: String,
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
            licensed_on: p.licensed_on,
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
    // 性別 is the doctor's to choose: nothing is pre-selected
    let empty = registration::IdentityForm {
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
