//! The staff page where an association keeps what its procedures follow: its own classes
//! (added, renamed, reordered, retired), its effective-date rule, and — for a county — the
//! municipalities it covers, which the join form shows doctors.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect};
use mamis_app::AppError;
use mamis_app::membership::settings;
use mamis_domain::procedure::EffectiveRule;
use mamis_domain::{AssociationCode, AssociationLevel, ClassCode};
use mamis_store::{AssociationClass, Store};
use serde::Deserialize;

use crate::WebState;
use crate::shell::auth::{RequestOrigin, StaffUser};
use crate::shell::chrome::{Chrome, PageCtx, PageResult, association_options, html, page};
use crate::shell::error::{Failure, PageError};
use crate::shell::i18n::Lang;

/// One class row of the page.
pub struct ClassRow {
    code: String,
    name_ja: String,
    name_en: String,
    position: i32,
    retired: bool,
}

/// One effective-date rule choice.
pub struct RuleOpt {
    value: &'static str,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "membership/settings.html")]
struct SettingsView<'a> {
    c: Chrome<'a>,
    choices: Vec<(String, String)>,
    node: String,
    name: String,
    classes: Vec<ClassRow>,
    rules: Vec<RuleOpt>,
    county: bool,
    municipalities: String,
    error: Option<String>,
    saved: bool,
}

/// Which association, and whether something was just saved.
#[derive(Debug, Default, Deserialize)]
pub struct NodeQuery {
    #[serde(default)]
    association: String,
    #[serde(default)]
    saved: Option<String>,
}

fn rule_key(r: EffectiveRule) -> &'static str {
    match r {
        EffectiveRule::FirstOfNextMonth => "membership-rule-first-of-next-month",
        EffectiveRule::NextDay => "membership-rule-next-day",
        EffectiveRule::FirstOfNextFiscalYear => "membership-rule-first-of-next-fiscal-year",
    }
}

async fn render<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    staff: &mamis_domain::Principal,
    node: Option<AssociationCode>,
    error: Option<&'static str>,
    saved: bool,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let t = |k: &str| cat.text(ctx.lang, k, &[]);
    let scope = mamis_app::membership::staff_nodes(staff);
    let node = node
        .or_else(|| scope.first().cloned())
        .ok_or(PageError(Failure::Forbidden))?;
    let s = settings::settings(&st.app, staff, &node).await?;
    let names = mamis_app::registry::public_tree(&st.app)
        .await?
        .into_iter()
        .map(|a| {
            let n = match ctx.lang {
                Lang::Ja => a.name_ja,
                Lang::En => a.name_en,
            };
            (a.code.to_string(), n)
        })
        .collect();
    let choices = association_options(ctx.lang, &names, |code| {
        AssociationCode::parse(code).is_ok_and(|c| scope.iter().any(|g| g.contains(&c)))
    });
    let view = SettingsView {
        c: ctx.chrome(cat),
        choices,
        node: node.to_string(),
        name: match ctx.lang {
            Lang::Ja => s.association.name_ja.clone(),
            Lang::En => s.association.name_en.clone(),
        },
        classes: s
            .classes
            .iter()
            .map(|c| ClassRow {
                code: c.code.to_string(),
                name_ja: c.name_ja.clone(),
                name_en: c.name_en.clone(),
                position: c.position,
                retired: c.retired,
            })
            .collect(),
        rules: EffectiveRule::ALL
            .into_iter()
            .map(|r| RuleOpt {
                value: r.as_str(),
                label: t(rule_key(r)),
                selected: r == s.rule,
            })
            .collect(),
        county: node.level() == AssociationLevel::County,
        municipalities: s.municipalities.join("\n"),
        error: error.map(t),
        saved,
    };
    html(page(view.render()))
}

fn node_of(s: &str) -> Result<Option<AssociationCode>, PageError> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    AssociationCode::parse(t)
        .map(Some)
        .map_err(|_| PageError(Failure::BadRequest("membership-error-county")))
}

/// `GET /office/membership/settings`: one association's classes, rule and municipalities.
pub async fn show<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    Query(q): Query<NodeQuery>,
) -> PageResult {
    let node = node_of(&q.association)?;
    render(&st, &ctx, &staff, node, None, q.saved.is_some()).await
}

/// The class form: one row, new or changed.
#[derive(Debug, Default, Deserialize)]
pub struct ClassForm {
    association: String,
    code: String,
    #[serde(default)]
    name_ja: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    position: String,
    #[serde(default)]
    retired: Option<String>,
}

fn back(node: &AssociationCode) -> axum::response::Response {
    Redirect::to(&format!(
        "/office/membership/settings?association={node}&saved=1"
    ))
    .into_response()
}

fn problem(e: &AppError) -> Option<&'static str> {
    match e {
        AppError::Conflict(c) => Some(match c.as_str() {
            "class-name" => "membership-settings-class-name",
            "class-position" => "membership-settings-class-position",
            "municipality-name" => "membership-settings-municipality",
            "municipalities-county-only" => "membership-settings-county-only",
            _ => return None,
        }),
        _ => None,
    }
}

/// `POST /office/membership/settings/class`: adds or changes one class.
pub async fn save_class<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<ClassForm>,
) -> PageResult {
    let node = node_of(&f.association)?
        .ok_or(PageError(Failure::BadRequest("membership-error-county")))?;
    let Ok(code) = ClassCode::parse(f.code.trim()) else {
        return render(
            &st,
            &ctx,
            &staff,
            Some(node),
            Some("membership-settings-class-code"),
            false,
        )
        .await;
    };
    let Ok(position) = f.position.trim().parse::<i32>() else {
        return render(
            &st,
            &ctx,
            &staff,
            Some(node),
            Some("membership-settings-class-position"),
            false,
        )
        .await;
    };
    let class = AssociationClass {
        association: node.clone(),
        code,
        name_ja: f.name_ja,
        name_en: f.name_en,
        position,
        retired: f.retired.is_some(),
    };
    match settings::save_class(&st.app, &staff, class, origin.client_addr).await {
        Ok(()) => Ok(back(&node)),
        Err(e) => match problem(&e) {
            Some(k) => render(&st, &ctx, &staff, Some(node), Some(k), false).await,
            None => Err(e.into()),
        },
    }
}

/// The rule form.
#[derive(Debug, Default, Deserialize)]
pub struct RuleForm {
    association: String,
    rule: String,
}

/// `POST /office/membership/settings/rule`: sets the effective-date rule.
pub async fn set_rule<S: Store>(
    State(st): State<WebState<S>>,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<RuleForm>,
) -> PageResult {
    let node = node_of(&f.association)?
        .ok_or(PageError(Failure::BadRequest("membership-error-county")))?;
    let rule = EffectiveRule::parse(f.rule.trim())
        .map_err(|_| PageError(Failure::BadRequest("invalid-value")))?;
    settings::set_rule(&st.app, &staff, &node, rule, origin.client_addr).await?;
    Ok(back(&node))
}

/// The municipalities form: one per line.
#[derive(Debug, Default, Deserialize)]
pub struct MunicipalitiesForm {
    association: String,
    #[serde(default)]
    municipalities: String,
}

/// `POST /office/membership/settings/municipalities`: replaces the county's list.
pub async fn set_municipalities<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<MunicipalitiesForm>,
) -> PageResult {
    let node = node_of(&f.association)?
        .ok_or(PageError(Failure::BadRequest("membership-error-county")))?;
    let names: Vec<String> = f
        .municipalities
        .lines()
        .flat_map(|l| l.split(['、', ',']))
        .map(str::to_owned)
        .collect();
    match settings::set_municipalities(&st.app, &staff, &node, &names, origin.client_addr).await {
        Ok(()) => Ok(back(&node)),
        Err(e) => match problem(&e) {
            Some(k) => render(&st, &ctx, &staff, Some(node), Some(k), false).await,
            None => Err(e.into()),
        },
    }
}
