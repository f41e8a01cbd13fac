//! Staff typing in a paper form (入会・異動・種別変更・退会届) for a doctor: the doctor is found
//! by 医籍登録番号 and birth date as printed on the form, then one of the procedure forms is
//! filed for them at the staff member's association. The procedure then runs as if the doctor
//! had filed it on My Page.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect};
use mamis_app::membership::{self, settings};
use mamis_domain::procedure::{JoinClasses, Request, held_at};
use mamis_domain::time::japan_date;
use mamis_domain::{AssociationCode, AssociationLevel, IsekiNumber, MemberClass, Principal};
use mamis_store::Store;
use serde::Deserialize;
use uuid::Uuid;

use super::filing::{Opt, class_code, class_opts, pick, refusal_key, wished};
use crate::WebState;
use crate::shell::auth::{RequestOrigin, StaffUser};
use crate::shell::chrome::{Chrome, PageCtx, PageResult, html, page};
use crate::shell::error::{Failure, PageError};

/// One membership the doctor holds, as the page lists it.
pub struct HeldRow {
    association: String,
    name: String,
    class: String,
    options: Vec<Opt>,
    level: &'static str,
}

#[derive(Template)]
#[template(path = "membership/paper.html")]
struct PaperView<'a> {
    c: Chrome<'a>,
    iseki: String,
    birth_date: String,
    doctor: Option<(String, String)>,
    held: Vec<HeldRow>,
    /// The staff member's county (a join or an incoming transfer is filed there).
    county: String,
    county_name: String,
    county_classes: Vec<Opt>,
    prefecture_classes: Vec<Opt>,
    jma_classes: Vec<Opt>,
    can_join: bool,
    can_transfer: bool,
    error: Option<String>,
}

/// The lookup: the two facts printed on every paper form.
#[derive(Debug, Default, Deserialize)]
pub struct Lookup {
    #[serde(default)]
    iseki: String,
    #[serde(default)]
    birth_date: String,
}

/// The staff member's own county, where paper joins and incoming transfers are filed.
fn own_county(staff: &Principal) -> Option<AssociationCode> {
    membership::staff_nodes(staff)
        .into_iter()
        .find(|n| n.level() == AssociationLevel::County)
}

async fn render<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    staff: &Principal,
    q: &Lookup,
    client_addr: Option<String>,
    error: Option<&'static str>,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let t = |k: &str| cat.text(ctx.lang, k, &[]);
    let mut view = PaperView {
        c: ctx.chrome(cat),
        iseki: q.iseki.clone(),
        birth_date: q.birth_date.clone(),
        doctor: None,
        held: Vec::new(),
        county: String::new(),
        county_name: String::new(),
        county_classes: Vec::new(),
        prefecture_classes: Vec::new(),
        jma_classes: Vec::new(),
        can_join: false,
        can_transfer: false,
        error: error.map(t),
    };
    if q.iseki.trim().is_empty() && q.birth_date.trim().is_empty() {
        return html(page(view.render()));
    }
    let (Ok(iseki), Ok(birth)) = (
        IsekiNumber::parse(q.iseki.trim()),
        q.birth_date.trim().parse::<chrono::NaiveDate>(),
    ) else {
        view.error = Some(t("membership-paper-lookup-invalid"));
        return html(page(view.render()));
    };
    let (doctor, ms) =
        match membership::paper_subject(&st.app, staff, &iseki, birth, client_addr).await {
            Ok(v) => v,
            Err(mamis_app::AppError::NotFound) => {
                view.error = Some(t("membership-paper-not-found"));
                return html(page(view.render()));
            }
            Err(e) => return Err(e.into()),
        };
    let tree = mamis_app::registry::public_tree(&st.app).await?;
    let name_of = |code: &AssociationCode| {
        tree.iter().find(|a| &a.code == code).map_or_else(
            || code.to_string(),
            |a| pick(ctx.lang, &a.name_ja, &a.name_en),
        )
    };
    view.doctor = Some((
        doctor.id.to_string(),
        format!(
            "{} {}（{} {}） {}",
            doctor.family_name,
            doctor.given_name,
            doctor.family_kana.as_str(),
            doctor.given_kana.as_str(),
            doctor.iseki
        ),
    ));
    let today = japan_date(st.app.now());
    for l in [
        AssociationLevel::County,
        AssociationLevel::Prefecture,
        AssociationLevel::Jma,
    ] {
        if let Some(m) = held_at(&ms, l, today) {
            let classes = settings::offered_classes(&st.app, &m.association).await?;
            view.held.push(HeldRow {
                association: m.association.to_string(),
                name: name_of(&m.association),
                class: m.class.to_string(),
                options: class_opts(ctx.lang, &classes, m.class.as_str()),
                level: l.as_str(),
            });
        }
    }
    if let Some(county) = own_county(staff) {
        let held_county = held_at(&ms, AssociationLevel::County, today);
        view.can_join = held_county.is_none();
        view.can_transfer = held_county.is_some_and(|m| m.association != county);
        view.county_name = name_of(&county);
        view.county_classes = class_opts(
            ctx.lang,
            &settings::offered_classes(&st.app, &county).await?,
            "",
        );
        if let Some(p) = county.prefecture_code() {
            view.prefecture_classes =
                class_opts(ctx.lang, &settings::offered_classes(&st.app, &p).await?, "");
        }
        view.jma_classes = class_opts(
            ctx.lang,
            &settings::offered_classes(&st.app, &AssociationCode::jma()).await?,
            "",
        );
        view.county = county.to_string();
    }
    html(page(view.render()))
}

/// `GET /office/membership/paper`: the lookup, then the doctor and the forms.
pub async fn show<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Query(q): Query<Lookup>,
) -> PageResult {
    render(&st, &ctx, &staff, &q, origin.client_addr, None).await
}

/// A paper form as typed in: the doctor, which procedure, and its fields.
#[derive(Debug, Default, Deserialize)]
pub struct PaperForm {
    doctor: Uuid,
    iseki: String,
    birth_date: String,
    kind: String,
    #[serde(default)]
    county_class: String,
    #[serde(default)]
    prefecture_class: String,
    #[serde(default)]
    jma_class: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    wished_on: String,
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

/// `POST /office/membership/paper`: files the procedure for the doctor.
pub async fn file<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<PaperForm>,
) -> PageResult {
    let lookup = Lookup {
        iseki: f.iseki.clone(),
        birth_date: f.birth_date.clone(),
    };
    let back = |key: &'static str| render(&st, &ctx, &staff, &lookup, None, Some(key));
    let county = own_county(&staff);
    let request = (|| -> Result<Request, &'static str> {
        match f.kind.as_str() {
            "join" => {
                let county = county.clone().ok_or("membership-paper-county-only")?;
                let jma = match f.jma_class.trim() {
                    "" => None,
                    c => Some(MemberClass::parse(c).map_err(|_| "membership-problem-class")?),
                };
                let classes = JoinClasses {
                    county: class_code(&f.county_class)?,
                    prefecture: class_code(&f.prefecture_class)?,
                    jma,
                };
                if classes.county.is_none() && classes.prefecture.is_none() && classes.jma.is_none()
                {
                    return Err("membership-problem-no-level");
                }
                Ok(Request::Join {
                    prefecture: county
                        .prefecture_code()
                        .ok_or("membership-paper-county-only")?,
                    county: Some(county),
                    classes,
                })
            }
            "transfer" => {
                let to = county.clone().ok_or("membership-paper-county-only")?;
                let from = f
                    .rest
                    .get("from_county")
                    .and_then(|c| AssociationCode::parse(c).ok())
                    .ok_or("membership-problem-not-member")?;
                Ok(Request::Transfer {
                    from_county: from,
                    to_county: to,
                    county_class: class_code(&f.county_class)?.ok_or("membership-problem-class")?,
                    prefecture_class: class_code(&f.prefecture_class)?,
                })
            }
            "class" => {
                let changes: Vec<_> = f
                    .rest
                    .iter()
                    .filter_map(|(k, v)| {
                        let a = AssociationCode::parse(k.strip_prefix("class_")?).ok()?;
                        let c = class_code(v).ok()??;
                        (f.rest.get(&format!("held_{a}")) != Some(v)).then_some((a, c))
                    })
                    .collect();
                if changes.is_empty() {
                    return Err("membership-problem-nothing");
                }
                Ok(Request::ClassChange { changes })
            }
            "withdrawal" => Ok(Request::Withdrawal {
                from: match f.from.as_str() {
                    "county" => AssociationLevel::County,
                    "prefecture" => AssociationLevel::Prefecture,
                    "jma" => AssociationLevel::Jma,
                    _ => return Err("membership-problem-withdraw-level"),
                },
            }),
            _ => Err("invalid-value"),
        }
    })();
    let request = match request {
        Ok(r) => r,
        Err(k) => return back(k).await,
    };
    let wished_on = match wished(&f.wished_on) {
        Ok(w) => w,
        Err(k) => return back(k).await,
    };
    match membership::file(
        &st.app,
        &staff,
        f.doctor,
        request,
        wished_on,
        Vec::new(),
        origin.client_addr,
    )
    .await
    {
        Ok(id) => Ok(Redirect::to(&format!("/office/membership/{id}")).into_response()),
        Err(mamis_app::AppError::NotFound) => Err(PageError(Failure::NotFound)),
        Err(e) => match refusal_key(&e) {
            Some(k) => back(k).await,
            None => Err(e.into()),
        },
    }
}

/// The record of a death, as typed in from the notice the association received.
#[derive(Debug, Default, Deserialize)]
pub struct DeathForm {
    doctor: Uuid,
    iseki: String,
    birth_date: String,
    #[serde(default)]
    died_on: String,
    confirmed: Option<String>,
}

/// `POST /office/membership/paper/death`: asks once what will happen, then records the death
/// (memberships end the day after, open procedures are cancelled, the MAMIS_ID is suspended;
/// the CME ledger and certificates are kept).
pub async fn death<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<DeathForm>,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let t = |k: &str| cat.text(ctx.lang, k, &[]);
    let lookup = Lookup {
        iseki: f.iseki.clone(),
        birth_date: f.birth_date.clone(),
    };
    let Ok(died_on) = f.died_on.trim().parse::<chrono::NaiveDate>() else {
        return render(
            &st,
            &ctx,
            &staff,
            &lookup,
            None,
            Some("membership-problem-date"),
        )
        .await;
    };
    if died_on > japan_date(st.app.now()) {
        return render(
            &st,
            &ctx,
            &staff,
            &lookup,
            None,
            Some("membership-death-future"),
        )
        .await;
    }
    if !crate::shell::confirm::is_confirmed(f.confirmed.as_deref()) {
        return crate::shell::confirm::Confirm {
            c: ctx.chrome(cat),
            title: t("membership-death-confirm-title"),
            lead: vec![t("membership-death-confirm-lead")],
            facts: vec![
                (t("field-iseki"), f.iseki.clone()),
                (t("membership-death-date"), died_on.to_string()),
            ],
            action: "/office/membership/paper/death".into(),
            fields: vec![
                ("doctor".into(), f.doctor.to_string()),
                ("iseki".into(), f.iseki.clone()),
                ("birth_date".into(), f.birth_date.clone()),
                ("died_on".into(), f.died_on.clone()),
            ],
            submit: t("membership-death-submit"),
            cancel: (
                format!(
                    "/office/membership/paper?iseki={}&birth_date={}",
                    f.iseki.trim(),
                    f.birth_date.trim()
                ),
                t("confirm-cancel"),
            ),
            possible: true,
        }
        .respond();
    }
    match membership::record_death(&st.app, &staff, f.doctor, died_on, origin.client_addr).await {
        Ok(()) => Ok(Redirect::to(&format!(
            "/office/membership/paper?iseki={}&birth_date={}&recorded=1",
            f.iseki.trim(),
            f.birth_date.trim()
        ))
        .into_response()),
        Err(mamis_app::AppError::Conflict(_)) => {
            render(
                &st,
                &ctx,
                &staff,
                &lookup,
                None,
                Some("membership-problem-register"),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
