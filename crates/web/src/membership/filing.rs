//! The doctor's filing forms on My Page: 入会 (the prefecture, then the county of the workplace
//! found by its municipalities or 「わからない」, then a class per level applied for), 異動 (the
//! receiving county, then its classes), a class change per association held, and 退会 (the
//! lowest level left, confirmed first). Each posts one `mamis_app::membership::file` call; a
//! refusal comes back on the same form with its reason in the doctor's language.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect};
use chrono::NaiveDate;
use mamis_app::AppError;
use mamis_app::membership::{self, settings};
use mamis_domain::procedure::{Request, held_at};
use mamis_domain::time::japan_date;
use mamis_domain::{AssociationCode, AssociationLevel, ClassCode, Membership};
use mamis_store::{AssociationClass, Store};
use serde::Deserialize;
use std::collections::HashMap;

use crate::WebState;
use crate::shell::auth::{CurrentUser, RequestOrigin};
use crate::shell::chrome::{Chrome, PageCtx, PageResult, html, page};
use crate::shell::confirm::{Confirm, is_confirmed};
use crate::shell::error::{Failure, PageError};
use crate::shell::i18n::Lang;

/// One choice of a select or radio group.
pub struct Opt {
    pub(super) value: String,
    pub(super) label: String,
    pub(super) selected: bool,
}

pub(super) fn pick(lang: Lang, ja: &str, en: &str) -> String {
    match lang {
        Lang::Ja => ja.to_owned(),
        Lang::En => en.to_owned(),
    }
}

pub(super) fn class_opts(lang: Lang, classes: &[AssociationClass], chosen: &str) -> Vec<Opt> {
    classes
        .iter()
        .map(|c| Opt {
            value: c.code.to_string(),
            label: pick(lang, &c.name_ja, &c.name_en),
            selected: c.code.as_str() == chosen,
        })
        .collect()
}

/// The message key of a refused filing (the app's conflict codes), for the form's error box.
pub(super) fn refusal_key(e: &AppError) -> Option<&'static str> {
    let AppError::Conflict(c) = e else {
        return None;
    };
    let code = c.split(':').next().unwrap_or_default();
    Some(match code {
        "procedure-already-member" => "membership-problem-already-member",
        "procedure-not-member" => "membership-problem-not-member",
        "procedure-levels-not-nested" => "membership-problem-levels",
        "procedure-outside-prefecture" => "membership-problem-outside-prefecture",
        "procedure-same-county" => "membership-problem-same-county",
        "procedure-nothing-to-change" => "membership-problem-nothing",
        "procedure-register" => "membership-problem-register",
        "class-not-offered" => "membership-problem-class",
        "evidence-required" => "membership-problem-evidence",
        "membership_procedures_open_key" | "membership_procedures_applicant_open_key" => {
            "membership-problem-open"
        }
        "applicant-identity-first" => "membership-problem-identity-first",
        "applicant-claims-a-record" => "membership-problem-claims-a-record",
        "applicant-record-differs" => "membership-problem-record-differs",
        "applicant-record-bound" => "membership-problem-record-bound",
        _ if code.starts_with("evidence-") => "membership-problem-evidence-file",
        _ => return None,
    })
}

/// The doctor's memberships held today, or not-found for an account that is not a verified
/// doctor's (the use case decides).
pub(super) async fn held<S: Store>(
    st: &WebState<S>,
    cur: &mamis_app::identity::sessions::Current,
) -> Result<(uuid::Uuid, Vec<Membership>), PageError> {
    let doctor = cur.account.doctor_id.ok_or(PageError(Failure::NotFound))?;
    let (_, ms, _) = membership::member(&st.app, &cur.doctor_principal(), doctor, None).await?;
    let today = japan_date(st.app.now());
    let open: Vec<Membership> = [
        AssociationLevel::County,
        AssociationLevel::Prefecture,
        AssociationLevel::Jma,
    ]
    .into_iter()
    .filter_map(|l| held_at(&ms, l, today).cloned())
    .collect();
    Ok((doctor, open))
}

pub(super) fn wished(s: &str) -> Result<Option<NaiveDate>, &'static str> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse().map(Some).map_err(|_| "membership-problem-date")
}

pub(super) fn class_code(s: &str) -> Result<Option<ClassCode>, &'static str> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    ClassCode::parse(t)
        .map(Some)
        .map_err(|_| "membership-problem-class")
}

// ---- 異動 -------------------------------------------------------------------------------------

/// A group of counties under their prefecture, for the transfer form's select.
pub struct CountyGroup {
    label: String,
    options: Vec<Opt>,
}

#[derive(Template)]
#[template(path = "membership/transfer.html")]
struct TransferView<'a> {
    c: Chrome<'a>,
    current: String,
    groups: Vec<CountyGroup>,
    county: String,
    county_name: String,
    county_classes: Vec<Opt>,
    prefecture_classes: Vec<Opt>,
    wished_on: String,
    error: Option<String>,
}

/// The transfer form as posted (or its first step's query).
#[derive(Debug, Default, Deserialize)]
pub struct TransferForm {
    #[serde(default)]
    county: String,
    #[serde(default)]
    county_class: String,
    #[serde(default)]
    prefecture_class: String,
    #[serde(default)]
    wished_on: String,
}

async fn transfer_page<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    cur: &mamis_app::identity::sessions::Current,
    f: TransferForm,
    error: Option<&'static str>,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let t = |k: &str| cat.text(ctx.lang, k, &[]);
    let (_, ms) = held(st, cur).await?;
    let Some(from) = ms.iter().find(|m| m.level() == AssociationLevel::County) else {
        return Err(PageError(Failure::Because(
            Box::new(Failure::Conflict),
            "membership-problem-not-member",
        )));
    };
    let tree = mamis_app::registry::public_tree(&st.app).await?;
    let name_of = |code: &AssociationCode| {
        tree.iter()
            .find(|a| &a.code == code)
            .map(|a| pick(ctx.lang, &a.name_ja, &a.name_en))
            .unwrap_or_else(|| code.to_string())
    };
    let groups = tree
        .iter()
        .filter(|p| p.level() == AssociationLevel::Prefecture)
        .map(|p| CountyGroup {
            label: pick(ctx.lang, &p.name_ja, &p.name_en),
            options: tree
                .iter()
                .filter(|c| {
                    c.level() == AssociationLevel::County
                        && p.code.contains(&c.code)
                        && c.code != from.association
                })
                .map(|c| Opt {
                    value: c.code.to_string(),
                    label: pick(ctx.lang, &c.name_ja, &c.name_en),
                    selected: c.code.as_str() == f.county,
                })
                .collect(),
        })
        .filter(|g| !g.options.is_empty())
        .collect();
    let mut view = TransferView {
        c: ctx.chrome(cat),
        current: name_of(&from.association),
        groups,
        county: String::new(),
        county_name: String::new(),
        county_classes: Vec::new(),
        prefecture_classes: Vec::new(),
        wished_on: f.wished_on.clone(),
        error: error.map(t),
    };
    let to = AssociationCode::parse(f.county.trim())
        .ok()
        .filter(|c| c.level() == AssociationLevel::County && c != &from.association);
    if let Some(to) = to
        && let Some(p) = to.prefecture_code()
    {
        let choices = settings::join_choices(&st.app, &p).await?;
        if let Some(c) = choices.counties.iter().find(|c| c.association.code == to) {
            view.county = to.to_string();
            view.county_name = name_of(&to);
            view.county_classes = class_opts(ctx.lang, &c.classes, &f.county_class);
            let moves_prefecture = !p.contains(&from.association);
            let pref_member = ms.iter().any(|m| m.level() == AssociationLevel::Prefecture);
            if moves_prefecture && pref_member {
                view.prefecture_classes =
                    class_opts(ctx.lang, &choices.prefecture_classes, &f.prefecture_class);
            }
        }
    }
    html(page(view.render()))
}

/// `GET /mypage/membership/transfer`: the receiving county, then its classes.
pub async fn transfer_form<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(cur): CurrentUser,
    Query(q): Query<TransferForm>,
) -> PageResult {
    transfer_page(&st, &ctx, &cur, q, None).await
}

/// `POST /mypage/membership/transfer`: files the transfer with the receiving county.
pub async fn transfer<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(cur): CurrentUser,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<TransferForm>,
) -> PageResult {
    let (doctor, ms) = held(&st, &cur).await?;
    let parsed = (|| {
        let from = ms
            .iter()
            .find(|m| m.level() == AssociationLevel::County)
            .ok_or("membership-problem-not-member")?;
        let to = AssociationCode::parse(f.county.trim())
            .ok()
            .filter(|c| c.level() == AssociationLevel::County)
            .ok_or("membership-problem-county")?;
        let county_class = class_code(&f.county_class)?.ok_or("membership-problem-class")?;
        let prefecture_class = class_code(&f.prefecture_class)?;
        Ok::<_, &'static str>((
            Request::Transfer {
                from_county: from.association.clone(),
                to_county: to,
                county_class,
                prefecture_class,
            },
            wished(&f.wished_on)?,
        ))
    })();
    let (request, wished_on) = match parsed {
        Ok(v) => v,
        Err(key) => return transfer_page(&st, &ctx, &cur, f, Some(key)).await,
    };
    match membership::file(
        &st.app,
        &cur.doctor_principal(),
        doctor,
        request,
        wished_on,
        Vec::new(),
        origin.client_addr,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/mypage/membership?filed=1").into_response()),
        Err(e) => match refusal_key(&e) {
            Some(key) => transfer_page(&st, &ctx, &cur, f, Some(key)).await,
            None => Err(e.into()),
        },
    }
}

// ---- 種別変更 ---------------------------------------------------------------------------------

/// One membership held, with the classes its association offers.
pub struct HeldClass {
    association: String,
    name: String,
    current: String,
    options: Vec<Opt>,
}

#[derive(Template)]
#[template(path = "membership/class_change.html")]
struct ClassView<'a> {
    c: Chrome<'a>,
    rows: Vec<HeldClass>,
    error: Option<String>,
}

async fn class_page<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    cur: &mamis_app::identity::sessions::Current,
    chosen: &HashMap<String, String>,
    error: Option<&'static str>,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let (_, ms) = held(st, cur).await?;
    let tree = mamis_app::registry::public_tree(&st.app).await?;
    let mut rows = Vec::new();
    for m in &ms {
        let classes = settings::offered_classes(&st.app, &m.association).await?;
        let key = format!("class_{}", m.association);
        let want = chosen.get(&key).map_or(m.class.as_str(), String::as_str);
        let current = classes.iter().find(|c| c.code == m.class).map_or_else(
            || m.class.to_string(),
            |c| pick(ctx.lang, &c.name_ja, &c.name_en),
        );
        rows.push(HeldClass {
            association: m.association.to_string(),
            name: tree
                .iter()
                .find(|a| a.code == m.association)
                .map(|a| pick(ctx.lang, &a.name_ja, &a.name_en))
                .unwrap_or_default(),
            current,
            options: class_opts(ctx.lang, &classes, want),
        });
    }
    html(page(
        ClassView {
            c: ctx.chrome(cat),
            rows,
            error: error.map(|k| cat.text(ctx.lang, k, &[])),
        }
        .render(),
    ))
}

/// `GET /mypage/membership/class`: a class select per membership held.
pub async fn class_form<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(cur): CurrentUser,
) -> PageResult {
    class_page(&st, &ctx, &cur, &HashMap::new(), None).await
}

/// `POST /mypage/membership/class`: files the classes that differ from those held.
pub async fn class_change<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(cur): CurrentUser,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<HashMap<String, String>>,
) -> PageResult {
    let (doctor, ms) = held(&st, &cur).await?;
    let mut changes = Vec::new();
    for m in &ms {
        let Some(v) = f.get(&format!("class_{}", m.association)) else {
            continue;
        };
        match class_code(v) {
            Ok(Some(c)) if c != m.class => changes.push((m.association.clone(), c)),
            Ok(_) => {}
            Err(k) => return class_page(&st, &ctx, &cur, &f, Some(k)).await,
        }
    }
    if changes.is_empty() {
        return class_page(&st, &ctx, &cur, &f, Some("membership-problem-nothing")).await;
    }
    match membership::file(
        &st.app,
        &cur.doctor_principal(),
        doctor,
        Request::ClassChange { changes },
        None,
        Vec::new(),
        origin.client_addr,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/mypage/membership?filed=1").into_response()),
        Err(e) => match refusal_key(&e) {
            Some(key) => class_page(&st, &ctx, &cur, &f, Some(key)).await,
            None => Err(e.into()),
        },
    }
}

// ---- 退会 -------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "membership/withdraw.html")]
struct WithdrawView<'a> {
    c: Chrome<'a>,
    levels: Vec<Opt>,
    wished_on: String,
    error: Option<String>,
}

/// The withdrawal form as posted.
#[derive(Debug, Default, Deserialize)]
pub struct WithdrawForm {
    #[serde(default)]
    from: String,
    #[serde(default)]
    wished_on: String,
    confirmed: Option<String>,
}

fn level_of(s: &str) -> Option<AssociationLevel> {
    match s {
        "county" => Some(AssociationLevel::County),
        "prefecture" => Some(AssociationLevel::Prefecture),
        "jma" => Some(AssociationLevel::Jma),
        _ => None,
    }
}

fn level_key(l: AssociationLevel) -> &'static str {
    match l {
        AssociationLevel::County => "membership-withdraw-from-county",
        AssociationLevel::Prefecture => "membership-withdraw-from-prefecture",
        AssociationLevel::Jma => "membership-withdraw-from-jma",
    }
}

async fn withdraw_page<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    cur: &mamis_app::identity::sessions::Current,
    f: &WithdrawForm,
    error: Option<&'static str>,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let (_, ms) = held(st, cur).await?;
    let levels = ms
        .iter()
        .map(|m| {
            let l = m.level();
            Opt {
                value: l.as_str().to_owned(),
                label: cat.text(ctx.lang, level_key(l), &[]),
                selected: f.from == l.as_str(),
            }
        })
        .collect();
    html(page(
        WithdrawView {
            c: ctx.chrome(cat),
            levels,
            wished_on: f.wished_on.clone(),
            error: error.map(|k| cat.text(ctx.lang, k, &[])),
        }
        .render(),
    ))
}

/// `GET /mypage/membership/withdraw`: the lowest level to leave (everything above goes too).
pub async fn withdraw_form<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(cur): CurrentUser,
) -> PageResult {
    withdraw_page(&st, &ctx, &cur, &WithdrawForm::default(), None).await
}

/// `POST /mypage/membership/withdraw`: asks once what will end, then files the withdrawal.
pub async fn withdraw<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(cur): CurrentUser,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<WithdrawForm>,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let t = |k: &str| cat.text(ctx.lang, k, &[]);
    let (doctor, _) = held(&st, &cur).await?;
    let Some(from) = level_of(&f.from) else {
        return withdraw_page(
            &st,
            &ctx,
            &cur,
            &f,
            Some("membership-problem-withdraw-level"),
        )
        .await;
    };
    let wished_on = match wished(&f.wished_on) {
        Ok(w) => w,
        Err(k) => return withdraw_page(&st, &ctx, &cur, &f, Some(k)).await,
    };
    if !is_confirmed(f.confirmed.as_deref()) {
        return Confirm {
            c: ctx.chrome(cat),
            title: t("membership-withdraw-confirm-title"),
            lead: vec![t("membership-withdraw-confirm-lead")],
            facts: vec![
                (t("membership-withdraw-from"), t(level_key(from))),
                (
                    t("membership-wished-on"),
                    wished_on.map_or_else(|| t("membership-wished-on-default"), |d| d.to_string()),
                ),
            ],
            action: "/mypage/membership/withdraw".into(),
            fields: vec![
                ("from".into(), f.from.clone()),
                ("wished_on".into(), f.wished_on.clone()),
            ],
            submit: t("membership-withdraw-submit"),
            cancel: ("/mypage/membership".into(), t("confirm-cancel")),
            possible: true,
        }
        .respond();
    }
    match membership::file(
        &st.app,
        &cur.doctor_principal(),
        doctor,
        Request::Withdrawal { from },
        wished_on,
        Vec::new(),
        origin.client_addr,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/mypage/membership?filed=1").into_response()),
        Err(e) => match refusal_key(&e) {
            Some(key) => withdraw_page(&st, &ctx, &cur, &f, Some(key)).await,
            None => Err(e.into()),
        },
    }
}
