//! The join form on My Page: the prefecture, then the county of the workplace found by its
//! municipalities or 「わからない」, then a class per level applied for. A doctor already in the
//! register posts it as a form; a new resident whose MAMIS_ID is not bound to a record yet
//! (nothing in the register to bind to) posts it with a copy of their licence, and the county's
//! approval verifies them.

use askama::Template;
use axum::extract::{Form, Multipart, Query, State};
use axum::response::{IntoResponse, Redirect};
use mamis_app::membership::{self, settings};
use mamis_domain::procedure::{JoinClasses, Request};
use mamis_domain::{AssociationCode, AssociationLevel, MemberClass, Membership};
use mamis_store::{AccountKind, AssociationClass, Store, Verification};
use serde::Deserialize;

use super::filing::{Opt, class_code, class_opts, held, pick, refusal_key, wished};
use crate::WebState;
use crate::shell::auth::{CurrentUser, RequestOrigin};
use crate::shell::chrome::{Chrome, PageCtx, PageResult, html, page};
use crate::shell::error::{Failure, PageError};

/// Who is joining: a doctor of the register with the memberships they hold, or a new resident
/// applying with their licence (`true`); anyone else is not offered the form.
async fn joiner<S: Store>(
    st: &WebState<S>,
    cur: &mamis_app::identity::sessions::Current,
) -> Result<(Vec<Membership>, bool), PageError> {
    let a = &cur.account;
    if a.verification == Verification::Verified {
        let (_, ms) = held(st, cur).await?;
        Ok((ms, false))
    } else if a.kind == AccountKind::Doctor && a.doctor_id.is_none() {
        Ok((Vec::new(), true))
    } else {
        Err(PageError(Failure::NotFound))
    }
}

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
    /// A new resident: the form carries the licence copy and posts to the applicant route.
    applicant: bool,
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
    let (ms, applicant) = joiner(st, cur).await?;
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
        applicant,
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

/// `POST /mypage/membership/apply` (multipart): a new resident's join with their licence copy.
pub async fn apply<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(cur): CurrentUser,
    RequestOrigin(origin): RequestOrigin,
    mp: Multipart,
) -> PageResult {
    let mut posted = super::upload::read(mp, "licence", "membership-problem-evidence-file").await?;
    let f = JoinForm {
        prefecture: posted.get("prefecture"),
        county: posted.get("county"),
        county_class: posted.get("county_class"),
        prefecture_class: posted.get("prefecture_class"),
        jma_class: posted.get("jma_class"),
        wished_on: posted.get("wished_on"),
    };
    let licence = posted.files.pop();
    let parsed = join_request(&f).and_then(|r| Ok((r, wished(&f.wished_on)?)));
    let (request, wished_on) = match parsed {
        Ok(v) => v,
        Err(key) => return join_page(&st, &ctx, &cur, f, Some(key)).await,
    };
    let Some(licence) = licence else {
        return join_page(&st, &ctx, &cur, f, Some("membership-problem-licence")).await;
    };
    match membership::apply_unregistered(
        &st.app,
        &cur.doctor_principal(),
        request,
        wished_on,
        vec![licence],
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
