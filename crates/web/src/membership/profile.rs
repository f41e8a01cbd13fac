//! The doctor's own record on My Page: workplace, address, phone, graduation year and resident
//! flag (changed at once, audited, seen by their associations), and the name change, which is
//! a procedure and needs a document proving the new name (a PDF, JPEG or PNG).

use askama::Template;
use axum::extract::{Form, Multipart, State};
use axum::response::{IntoResponse, Redirect};
use mamis_app::membership;
use mamis_domain::KanaName;
use mamis_domain::procedure::{NewNames, Request};
use mamis_store::{DoctorProfile, Store};
use serde::Deserialize;

use super::filing::refusal_key;
use crate::WebState;
use crate::shell::auth::{CurrentUser, RequestOrigin};
use crate::shell::chrome::{Chrome, ErrorSummary, PageCtx, PageResult, html, page};
use crate::shell::error::{Failure, PageError};

/// One field of the profile form.
pub struct Field {
    name: &'static str,
    label: String,
    value: String,
    error: Option<String>,
    hint: Option<String>,
}

#[derive(Template)]
#[template(path = "membership/profile.html")]
struct ProfileView<'a> {
    c: Chrome<'a>,
    fields: Vec<Field>,
    resident: bool,
    summary: Option<ErrorSummary>,
    saved: bool,
}

/// The profile form as posted.
#[derive(Debug, Default, Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    workplace_name: String,
    #[serde(default)]
    workplace_address: String,
    #[serde(default)]
    workplace_municipality: String,
    #[serde(default)]
    home_address: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    graduation_year: String,
    #[serde(default)]
    resident: Option<String>,
}

const FIELDS: [&str; 6] = [
    "workplace_name",
    "workplace_address",
    "workplace_municipality",
    "home_address",
    "phone",
    "graduation_year",
];

fn value<'f>(f: &'f ProfileForm, name: &str) -> &'f str {
    match name {
        "workplace_name" => &f.workplace_name,
        "workplace_address" => &f.workplace_address,
        "workplace_municipality" => &f.workplace_municipality,
        "home_address" => &f.home_address,
        "phone" => &f.phone,
        _ => &f.graduation_year,
    }
}

/// Checks every field at once: (field, message key) per problem.
fn problems(f: &ProfileForm, this_year: i32) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    for name in FIELDS {
        let v = value(f, name).trim();
        let max = if name.ends_with("address") { 200 } else { 100 };
        if v.chars().count() > max || v.chars().any(char::is_control) {
            out.push((name, "membership-profile-too-long"));
        }
    }
    let phone = f.phone.trim();
    if !phone.is_empty()
        && !phone
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | ' ' | '(' | ')'))
    {
        out.push(("phone", "membership-profile-phone-invalid"));
    }
    let y = f.graduation_year.trim();
    if !y.is_empty()
        && !y
            .parse::<i32>()
            .is_ok_and(|y| (1930..=this_year).contains(&y))
    {
        out.push(("graduation_year", "membership-profile-year"));
    }
    out
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn render_profile<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    f: &ProfileForm,
    errs: &[(&'static str, &'static str)],
    saved: bool,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let t = |k: &str| cat.text(ctx.lang, k, &[]);
    let fields: Vec<Field> = FIELDS
        .into_iter()
        .map(|name| Field {
            name,
            label: t(&format!("membership-profile-{}", name.replace('_', "-"))),
            value: value(f, name).to_owned(),
            error: errs.iter().find(|(n, _)| *n == name).map(|(_, k)| t(k)),
            hint: (name == "workplace_municipality")
                .then(|| t("membership-profile-municipality-hint")),
        })
        .collect();
    let summary = ErrorSummary::of(
        cat,
        ctx.lang,
        fields
            .iter()
            .filter_map(|fl| {
                fl.error
                    .clone()
                    .map(|e| (fl.name.to_owned(), fl.label.clone(), e))
            })
            .collect(),
    );
    html(page(
        ProfileView {
            c: ctx.chrome(cat),
            fields,
            resident: f.resident.is_some(),
            summary,
            saved,
        }
        .render(),
    ))
}

/// The query of the profile page: `saved=1` after a change.
#[derive(Debug, Default, Deserialize)]
pub struct SavedQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /mypage/profile`: the record as it stands.
pub async fn profile_form<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(cur): CurrentUser,
    axum::extract::Query(q): axum::extract::Query<SavedQuery>,
) -> PageResult {
    let doctor = cur.account.doctor_id.ok_or(PageError(Failure::NotFound))?;
    let (_, _, p) = membership::member(&st.app, &cur.doctor_principal(), doctor, None).await?;
    let f = p.map_or_else(ProfileForm::default, |p| ProfileForm {
        workplace_name: p.workplace_name.unwrap_or_default(),
        workplace_address: p.workplace_address.unwrap_or_default(),
        workplace_municipality: p.workplace_municipality.unwrap_or_default(),
        home_address: p.home_address.unwrap_or_default(),
        phone: p.phone.unwrap_or_default(),
        graduation_year: p.graduation_year.map(|y| y.to_string()).unwrap_or_default(),
        resident: p.resident.then(|| "1".to_owned()),
    });
    render_profile(&st, &ctx, &f, &[], q.saved.is_some())
}

/// `POST /mypage/profile`: saves the record at once (audited with before and after).
pub async fn profile<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(cur): CurrentUser,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<ProfileForm>,
) -> PageResult {
    let doctor = cur.account.doctor_id.ok_or(PageError(Failure::NotFound))?;
    let this_year = chrono::Datelike::year(&mamis_domain::time::japan_date(st.app.now()));
    let errs = problems(&f, this_year);
    if !errs.is_empty() {
        return render_profile(&st, &ctx, &f, &errs, false);
    }
    let p = DoctorProfile {
        doctor_id: doctor,
        workplace_name: opt(&f.workplace_name),
        workplace_address: opt(&f.workplace_address),
        workplace_municipality: opt(&f.workplace_municipality),
        home_address: opt(&f.home_address),
        phone: opt(&f.phone),
        graduation_year: f.graduation_year.trim().parse().ok(),
        resident: f.resident.is_some(),
        updated_at: st.app.now(),
    };
    membership::update_profile(&st.app, &cur.doctor_principal(), p, origin.client_addr).await?;
    Ok(Redirect::to("/mypage/profile?saved=1").into_response())
}

// ---- 氏名の変更 -------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "membership/name_change.html")]
struct NameView<'a> {
    c: Chrome<'a>,
    current: String,
    fields: Vec<Field>,
    evidence_error: Option<String>,
    summary: Option<ErrorSummary>,
}

const NAME_FIELDS: [&str; 4] = ["family_name", "given_name", "family_kana", "given_kana"];

async fn render_name<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    cur: &mamis_app::identity::sessions::Current,
    values: &[String; 4],
    errs: &[(&'static str, &'static str)],
) -> PageResult {
    let cat = &st.shared.catalogues;
    let t = |k: &str| cat.text(ctx.lang, k, &[]);
    let doctor = cur.account.doctor_id.ok_or(PageError(Failure::NotFound))?;
    let (d, _, _) = membership::member(&st.app, &cur.doctor_principal(), doctor, None).await?;
    let fields: Vec<Field> = NAME_FIELDS
        .iter()
        .zip(values.iter())
        .map(|(name, v)| Field {
            name,
            label: t(&format!("membership-name-{}", name.replace('_', "-"))),
            value: v.clone(),
            error: errs.iter().find(|(n, _)| n == name).map(|(_, k)| t(k)),
            hint: None,
        })
        .collect();
    let evidence_error = errs
        .iter()
        .find(|(n, _)| *n == "evidence")
        .map(|(_, k)| t(k));
    let mut items: Vec<(String, String, String)> = fields
        .iter()
        .filter_map(|fl| {
            fl.error
                .clone()
                .map(|e| (fl.name.to_owned(), fl.label.clone(), e))
        })
        .collect();
    if let Some(e) = &evidence_error {
        items.push(("evidence".into(), t("membership-name-evidence"), e.clone()));
    }
    html(page(
        NameView {
            c: ctx.chrome(cat),
            current: format!(
                "{} {}（{} {}）",
                d.family_name,
                d.given_name,
                d.family_kana.as_str(),
                d.given_kana.as_str()
            ),
            fields,
            evidence_error,
            summary: ErrorSummary::of(cat, ctx.lang, items),
        }
        .render(),
    ))
}

/// `GET /mypage/membership/name`: the new names and the document proving them.
pub async fn name_form<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(cur): CurrentUser,
) -> PageResult {
    render_name(&st, &ctx, &cur, &Default::default(), &[]).await
}

/// `POST /mypage/membership/name` (multipart): files the name change with its evidence.
pub async fn name_change<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(cur): CurrentUser,
    RequestOrigin(origin): RequestOrigin,
    mp: Multipart,
) -> PageResult {
    let mut posted =
        super::upload::read(mp, "evidence", "membership-problem-evidence-file").await?;
    let values: [String; 4] = NAME_FIELDS.map(|n| posted.get(n));
    let file = posted.files.pop();
    let mut errs: Vec<(&'static str, &'static str)> = Vec::new();
    for (i, name) in NAME_FIELDS.iter().enumerate() {
        let v = values[i].trim();
        if v.is_empty() {
            errs.push((name, "field-required"));
        } else if v.chars().count() > 60 || v.chars().any(char::is_control) {
            errs.push((name, "invalid-name"));
        }
    }
    let kana = |i: usize| KanaName::normalise(values[i].trim()).ok();
    for i in [2, 3] {
        if kana(i).is_none() && !values[i].trim().is_empty() {
            errs.push((NAME_FIELDS[i], "invalid-kana"));
        }
    }
    if file.is_none() {
        errs.push(("evidence", "membership-problem-evidence"));
    }
    let (Some(family_kana), Some(given_kana), Some(evidence), true) =
        (kana(2), kana(3), file, errs.is_empty())
    else {
        return render_name(&st, &ctx, &cur, &values, &errs).await;
    };
    let doctor = cur.account.doctor_id.ok_or(PageError(Failure::NotFound))?;
    let request = Request::NameChange(NewNames {
        family_name: values[0].trim().to_owned(),
        given_name: values[1].trim().to_owned(),
        family_kana,
        given_kana,
    });
    match membership::file(
        &st.app,
        &cur.doctor_principal(),
        doctor,
        request,
        None,
        vec![evidence],
        origin.client_addr,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/mypage/membership?filed=1").into_response()),
        Err(e) => match refusal_key(&e) {
            Some(key) => {
                let field = if key.starts_with("membership-problem-evidence") {
                    "evidence"
                } else {
                    "family_name"
                };
                render_name(&st, &ctx, &cur, &values, &[(field, key)]).await
            }
            None => Err(e.into()),
        },
    }
}
