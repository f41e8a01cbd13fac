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
use mamis_domain::procedure::{JoinClasses, Request, held_at};
use mamis_domain::time::japan_date;
use mamis_domain::{AssociationCode, AssociationLevel, ClassCode, MemberClass, Membership};
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
    value: String,
    label: String,
    selected: bool,
}

fn pick(lang: Lang, ja: &str, en: &str) -> String {
    match lang {
        Lang::Ja => ja.to_owned(),
        Lang::En => en.to_owned(),
    }
}

fn class_opts(lang: Lang, classes: &[AssociationClass], chosen: &str) -> Vec<Opt> {
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
        "membership_procedures_open_key" => "membership-problem-open",
        _ if code.starts_with("evidence-") => "membership-problem-evidence-file",
        _ => return None,
    })
}

/// The doctor's memberships held today, or not-found for an account that is not a verified
/// doctor's (the use case decides).
async fn held<S: Store>(
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

fn wished(s: &str) -> Result<Option<NaiveDate>, &'static str> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse().map(Some).map_err(|_| "membership-problem-date")
}

// ---- 入会 -------------------------------------------------------------------------------------

/// Where the join form stands: the prefecture and county chosen so far.
#[derive(Debug, Default, Deserialize)]
pub struct JoinQuery {
    #[serde(default)]
    prefecture: String,
    #[serde(default)]
    county: String,
}

/// A county of the prefecture as the join form offers it.
pub struct CountyOpt {
    code: String,
    name: String,
    municipalities: String,
}

#[derive(Template)]
#[template(path = "membership/join.html")]
struct JoinView<'a> {
    c: Chrome<'a>,
    prefectures: Vec<Opt>,
    prefecture: String,
    prefecture_name: String,
    counties: Vec<CountyOpt>,
    county: String,
    county_name: String,
    county_held: bool,
    county_classes: Vec<Opt>,
    prefecture_classes: Vec<Opt>,
    jma_classes: Vec<Opt>,
    offer_county: bool,
    offer_prefecture: bool,
    offer_jma: bool,
    wished_on: String,
    error: Option<String>,
}

/// The join form as posted.
#[derive(Debug, Default, Deserialize)]
pub struct JoinForm {
    #[serde(default)]
    prefecture: String,
    #[serde(default)]
    county: String,
    #[serde(default)]
    county_class: String,
    #[serde(default)]
    prefecture_class: String,
    #[serde(default)]
    jma_class: String,
    #[serde(default)]
    wished_on: String,
}

#[allow(clippy::too_many_lines)]
async fn join_page<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    cur: &mamis_app::identity::sessions::Current,
    form: JoinForm,
    error: Option<&'static str>,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let t = |k: &str| cat.text(ctx.lang, k, &[]);
    let (_, ms) = held(st, cur).await?;
    let have = |l| ms.iter().find(|m| m.level() == l);
    let mut form = form;
    // a county member joins the levels above in their own county and prefecture
    if let Some(c) = have(AssociationLevel::County) {
        form.county = c.association.to_string();
        form.prefecture = c
            .association
            .prefecture_code()
            .map(|p| p.to_string())
            .unwrap_or_default();
    }
    let tree = mamis_app::registry::public_tree(&st.app).await?;
    let prefectures = tree
        .iter()
        .filter(|a| a.level() == AssociationLevel::Prefecture)
        .map(|a| Opt {
            value: a.code.to_string(),
            label: pick(ctx.lang, &a.name_ja, &a.name_en),
            selected: a.code.as_str() == form.prefecture,
        })
        .collect();
    let prefecture = AssociationCode::parse(&form.prefecture)
        .ok()
        .filter(|p| p.level() == AssociationLevel::Prefecture);
    let mut view = JoinView {
        c: ctx.chrome(cat),
        prefectures,
        prefecture: String::new(),
        prefecture_name: String::new(),
        counties: Vec::new(),
        county: String::new(),
        county_name: String::new(),
        county_held: have(AssociationLevel::County).is_some(),
        county_classes: Vec::new(),
        prefecture_classes: Vec::new(),
        jma_classes: Vec::new(),
        offer_county: have(AssociationLevel::County).is_none(),
        offer_prefecture: have(AssociationLevel::Prefecture).is_none(),
        offer_jma: have(AssociationLevel::Jma).is_none(),
        wished_on: form.wished_on.clone(),
        error: error.map(t),
    };
    if let Some(p) = prefecture {
        let choices = settings::join_choices(&st.app, &p).await?;
        view.prefecture = p.to_string();
        view.prefecture_name = pick(
            ctx.lang,
            &choices.prefecture.name_ja,
            &choices.prefecture.name_en,
        );
        view.counties = choices
            .counties
            .iter()
            .map(|c| CountyOpt {
                code: c.association.code.to_string(),
                name: pick(ctx.lang, &c.association.name_ja, &c.association.name_en),
                municipalities: c.municipalities.join("・"),
            })
            .collect();
        let chosen = choices
            .counties
            .iter()
            .find(|c| c.association.code.as_str() == form.county);
        if form.county == "unknown" || chosen.is_some() {
            view.county = form.county.clone();
            view.county_name = match chosen {
                Some(c) => pick(ctx.lang, &c.association.name_ja, &c.association.name_en),
                None => t("membership-unknown-county"),
            };
            // 「わからない」: the classes any county of the prefecture offers, checked once routed
            let county_classes: Vec<AssociationClass> = match chosen {
                Some(c) => c.classes.clone(),
                None => {
                    let mut all: Vec<AssociationClass> = Vec::new();
                    for c in choices.counties.iter().flat_map(|c| c.classes.iter()) {
                        if !all.iter().any(|a| a.code == c.code) {
                            all.push(c.clone());
                        }
                    }
                    all
                }
            };
            view.county_classes = class_opts(ctx.lang, &county_classes, &form.county_class);
            view.prefecture_classes = class_opts(
                ctx.lang,
                &choices.prefecture_classes,
                &form.prefecture_class,
            );
            view.jma_classes = class_opts(ctx.lang, &choices.jma_classes, &form.jma_class);
        }
    }
    html(page(view.render()))
}

/// `GET /mypage/membership/join`: the join form at the step its query reached.
pub async fn join_form<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(cur): CurrentUser,
    Query(q): Query<JoinQuery>,
) -> PageResult {
    let form = JoinForm {
        prefecture: q.prefecture,
        county: q.county,
        ..JoinForm::default()
    };
    join_page(&st, &ctx, &cur, form, None).await
}

fn class_code(s: &str) -> Result<Option<ClassCode>, &'static str> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    ClassCode::parse(t)
        .map(Some)
        .map_err(|_| "membership-problem-class")
}

fn join_request(f: &JoinForm) -> Result<Request, &'static str> {
    let prefecture = AssociationCode::parse(f.prefecture.trim())
        .ok()
        .filter(|p| p.level() == AssociationLevel::Prefecture)
        .ok_or("membership-problem-prefecture")?;
    let county = match f.county.trim() {
        "unknown" | "" => None,
        c => Some(AssociationCode::parse(c).map_err(|_| "membership-problem-outside-prefecture")?),
    };
    let jma = match f.jma_class.trim() {
        "" => None,
        c => Some(MemberClass::parse(c).map_err(|_| "membership-problem-class")?),
    };
    let classes = JoinClasses {
        county: class_code(&f.county_class)?,
        prefecture: class_code(&f.prefecture_class)?,
        jma,
    };
    if classes.county.is_none() && classes.prefecture.is_none() && classes.jma.is_none() {
        return Err("membership-problem-no-level");
    }
    Ok(Request::Join {
        prefecture,
        county,
        classes,
    })
}

/// `POST /mypage/membership/join`: files the join; back to the form with the reason when
/// refused.
pub async fn join<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(cur): CurrentUser,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<JoinForm>,
) -> PageResult {
    let parsed = join_request(&f).and_then(|r| Ok((r, wished(&f.wished_on)?)));
    let (request, wished_on) = match parsed {
        Ok(v) => v,
        Err(key) => return join_page(&st, &ctx, &cur, f, Some(key)).await,
    };
    let doctor = cur.account.doctor_id.ok_or(PageError(Failure::NotFound))?;
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
            Some(key) => join_page(&st, &ctx, &cur, f, Some(key)).await,
            None => Err(e.into()),
        },
    }
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
