//! The back office (事務局): the identity review queue of the staff member's nodes, and what staff
//! do with a claim — verify it against evidence, forward it, suspend or reactivate the account.
//! Handlers extract, call the binding use case with the staff principal, and render.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use mamis_app::AppError;
use mamis_app::identity::sessions::Current;
use mamis_app::identity::{self as id, IdentityError, binding};
use mamis_domain::{AssociationCode, IsekiNumber, Principal, Scope, Sex};
use mamis_store::{AccountStatus, IdentityClaim, RegistryStore, Store, Tx};
use serde::Deserialize;
use uuid::Uuid;

use crate::WebState;
use crate::shell::auth::{RequestOrigin, StaffUser};
use crate::shell::chrome::{Chrome, PageCtx, PageResult, association_options, page};
use crate::shell::confirm::{Confirm, is_confirmed};
use crate::shell::error::{Failure, PageError};
use crate::shell::i18n::{Catalogues, Lang};

/// Longest suspension reason kept in the audit record.
const MAX_REASON_CHARS: usize = 500;

/// What the staff member typed into one claim's forms, kept when the page comes back with a
/// message so nothing has to be typed twice.
#[derive(Debug, Default)]
struct Retry {
    account: Uuid,
    message: String,
    iseki: String,
    evidence: String,
    to: String,
    reason: String,
}

/// One waiting claim as the queue shows it.
pub struct ClaimRow {
    account: String,
    submitted: String,
    iseki: String,
    name: String,
    kana: String,
    birth_date: String,
    sex: String,
    membership: String,
    association: String,
    reason: String,
    suspended: bool,
    error: Option<String>,
    iseki_value: String,
    evidence_value: String,
    to_value: String,
    reason_value: String,
}

/// The queue of one grant node.
pub struct NodeQueue {
    code: String,
    name: String,
    claims: Vec<ClaimRow>,
}

#[derive(Template)]
#[template(path = "office/queue.html")]
struct OfficeView<'a> {
    c: Chrome<'a>,
    staff_name: String,
    nodes: Vec<NodeQueue>,
    error: Option<String>,
    /// Whether the client administration link is shown (JMA admins).
    admin: bool,
    /// Whether the certificate revocation link is shown (JMA staff and admins).
    certificates: bool,
    /// Whether the training sessions link is shown (staff who organise or approve sessions).
    training: bool,
    /// The associations a claim can be forwarded to, by code: (code, name（code）).
    forward_to: Vec<(String, String)>,
    /// The membership link with how many procedures wait for this staff member's associations;
    /// `None` for staff who decide none.
    membership: Option<String>,
}

/// The association nodes of the staff member's grants, without nodes another grant already
/// covers (their claims show in the wider queue).
fn grant_nodes(p: &Principal) -> Vec<AssociationCode> {
    let Principal::Staff { grants, .. } = p else {
        return Vec::new();
    };
    let mut codes: Vec<AssociationCode> = grants
        .iter()
        .filter_map(|g| match g.scope() {
            Scope::Association(c) => Some(c.clone()),
            Scope::Organisation(_) => None,
        })
        .collect();
    codes.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    codes.dedup();
    let all = codes.clone();
    codes.retain(|c| !all.iter().any(|o| o != c && o.contains(c)));
    codes
}

fn reason_key(reason: Option<&str>) -> &'static str {
    match reason {
        Some("no_match") => "office-reason-no-match",
        Some("already_bound") => "office-reason-already-bound",
        Some("not_me") => "office-reason-not-me",
        _ => "office-reason-other",
    }
}

fn row(
    cat: &Catalogues,
    lang: Lang,
    names: &std::collections::HashMap<String, String>,
    (c, status): (IdentityClaim, mamis_store::AccountStatus),
    retry: Option<&Retry>,
) -> ClaimRow {
    let sex = match c.sex {
        Sex::Male => "office-sex-male",
        Sex::Female => "office-sex-female",
    };
    let membership = if c.member {
        "office-member"
    } else {
        "office-non-member"
    };
    let retry = retry.filter(|r| r.account == c.account_id);
    ClaimRow {
        account: c.account_id.to_string(),
        submitted: id::jst(c.submitted_at),
        iseki: c.iseki.as_str().to_owned(),
        name: format!("{} {}", c.family_name, c.given_name),
        kana: format!("{} {}", c.family_kana.as_str(), c.given_kana.as_str()),
        birth_date: c.birth_date.format("%Y-%m-%d").to_string(),
        sex: cat.text(lang, sex, &[]),
        membership: cat.text(lang, membership, &[]),
        association: names.get(c.association.as_str()).map_or_else(
            || c.association.as_str().to_owned(),
            |n| format!("{n} ({})", c.association),
        ),
        suspended: status == mamis_store::AccountStatus::Suspended,
        reason: cat.text(lang, reason_key(c.review_reason.as_deref()), &[]),
        error: retry.map(|r| r.message.clone()),
        iseki_value: retry.map(|r| r.iseki.clone()).unwrap_or_default(),
        evidence_value: retry.map(|r| r.evidence.clone()).unwrap_or_default(),
        to_value: retry.map(|r| r.to.clone()).unwrap_or_default(),
        reason_value: retry.map(|r| r.reason.clone()).unwrap_or_default(),
    }
}

/// Maps a refusal that is not about the typed input to an error page (403 outside the subtree).
fn fail(e: IdentityError) -> PageError {
    match e {
        IdentityError::App(a) => PageError(a.into()),
        IdentityError::State(_) => PageError(Failure::Conflict),
        _ => PageError(Failure::BadRequest("invalid-value")),
    }
}

/// Renders the queues; with `retry`, as 422 with the message at the top and at the claim.
async fn render<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    who: &Current,
    staff: &Principal,
    retry: Option<Retry>,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let names: std::collections::HashMap<String, String> =
        mamis_app::registry::public_tree(&st.app)
            .await
            .map_err(|e| PageError(e.into()))?
            .into_iter()
            .map(|a| {
                (
                    a.code.to_string(),
                    if ctx.lang == Lang::Ja {
                        a.name_ja
                    } else {
                        a.name_en
                    },
                )
            })
            .collect();
    let mut seen = std::collections::HashSet::new();
    let mut nodes = Vec::new();
    for node in grant_nodes(staff) {
        let claims = match binding::queue_with_status(&st.app, staff, &node).await {
            Ok(v) => v,
            // a grant whose role verifies nothing has no queue
            Err(IdentityError::App(AppError::Forbidden)) => continue,
            Err(e) => return Err(fail(e)),
        };
        let claims = claims
            .into_iter()
            .filter(|(c, _)| seen.insert(c.account_id))
            .map(|c| row(cat, ctx.lang, &names, c, retry.as_ref()))
            .collect();
        nodes.push(NodeQueue {
            name: names.get(node.as_str()).cloned().unwrap_or_default(),
            code: node.as_str().to_owned(),
            claims,
        });
    }
    let forward_to = association_options(ctx.lang, &names, |code| code != "JMA");
    let membership = mamis_app::membership::waiting_count(&st.app, staff)
        .await
        .map_err(|e| PageError(e.into()))?
        .map(|n| {
            cat.message(
                ctx.lang,
                "office-nav-membership-count",
                &[(
                    "n",
                    crate::shell::i18n::Arg::Count(i64::try_from(n).unwrap_or(i64::MAX)),
                )],
            )
        });
    let view = OfficeView {
        forward_to,
        membership,
        c: ctx.chrome(cat),
        staff_name: who.account.display_name.clone(),
        nodes,
        error: retry.as_ref().map(|r| r.message.clone()),
        admin: mamis_app::authz::require(
            staff,
            mamis_domain::Action::ManageRoleGrants,
            &mamis_domain::Target::System,
        )
        .is_ok(),
        certificates: mamis_app::authz::require(
            staff,
            mamis_domain::Action::ManageCertificates,
            &mamis_domain::Target::System,
        )
        .is_ok(),
        training: mamis_app::training::can_use_training(staff),
    };
    let mut r = page(view.render()).map(Html::into_response)?;
    if retry.is_some() {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

fn account_id(raw: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(raw).map_err(|_| PageError(Failure::NotFound))
}

fn done() -> PageResult {
    Ok(Redirect::to("/office").into_response())
}

/// The review queue of every node the staff member's grants cover.
pub async fn office<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(who, staff): StaffUser,
) -> PageResult {
    // staff without an association (an organiser) have no queue: their page is the training list
    if grant_nodes(&staff).is_empty() && mamis_app::training::can_use_training(&staff) {
        return Ok(Redirect::to("/office/training").into_response());
    }
    render(&st, &ctx, &who, &staff, None).await
}

/// The verify form as posted.
#[derive(Debug, Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    iseki: String,
    #[serde(default)]
    evidence: String,
}

/// Why the typed 医籍登録番号 names no doctor.
enum NoDoctor {
    Malformed,
    Unknown,
}

/// Resolves a typed 医籍登録番号 to the doctor's id (`RegistryStore::doctor_by_iseki` in a read
/// transaction; the binding use case takes the id).
async fn doctor_of<S: Store>(
    st: &WebState<S>,
    iseki: &str,
) -> Result<Result<Uuid, NoDoctor>, PageError> {
    let Ok(iseki) = IsekiNumber::parse(iseki) else {
        return Ok(Err(NoDoctor::Malformed));
    };
    let found = async {
        let mut tx = st.app.store.read().await?;
        let d = tx.doctor_by_iseki(&iseki).await?;
        tx.rollback().await?;
        Ok::<_, mamis_store::StoreError>(d)
    }
    .await
    .map_err(|e| PageError(AppError::from(e).into()))?;
    Ok(found.map(|d| d.id).ok_or(NoDoctor::Unknown))
}

/// Binds the claim's account to the doctor with the typed 医籍登録番号, recording the evidence.
pub async fn verify<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(who, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(account): Path<String>,
    Form(f): Form<VerifyForm>,
) -> PageResult {
    let account = account_id(&account)?;
    let doctor = doctor_of(&st, &f.iseki).await?;
    // An unknown number still goes through the use case (with no doctor), so staff outside the
    // claim's subtree get 403 before learning whether the number is registered.
    let result = binding::verify(
        &st.app,
        &staff,
        account,
        doctor.as_ref().copied().unwrap_or(Uuid::nil()),
        &f.evidence,
        origin.client_addr,
    )
    .await;
    let key = match (result, &doctor) {
        (Ok(()), _) => return done(),
        (Err(IdentityError::State("evidence required")), _) => "office-error-evidence",
        (Err(IdentityError::App(AppError::NotFound)), Err(NoDoctor::Malformed)) => {
            "office-error-iseki-format"
        }
        (Err(IdentityError::App(AppError::NotFound)), Err(NoDoctor::Unknown)) => {
            "office-error-iseki-unknown"
        }
        (Err(IdentityError::State(_)), _) => "office-error-already-bound",
        (Err(e), _) => return Err(fail(e)),
    };
    let retry = Retry {
        account,
        message: st.shared.catalogues.text(ctx.lang, key, &[]),
        iseki: f.iseki,
        evidence: f.evidence,
        ..Retry::default()
    };
    render(&st, &ctx, &who, &staff, Some(retry)).await
}

/// The forward form as posted.
#[derive(Debug, Deserialize)]
pub struct ForwardForm {
    #[serde(default)]
    to: String,
}

/// Sends the claim to another association's queue.
pub async fn forward<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(who, staff): StaffUser,
    Path(account): Path<String>,
    Form(f): Form<ForwardForm>,
) -> PageResult {
    let account = account_id(&account)?;
    // the association is chosen from a list; anything else was not one of its entries
    let key = match AssociationCode::parse(&f.to) {
        Err(_) => "office-error-forward-choose",
        Ok(to) => match binding::forward(&st.app, &staff, account, &to).await {
            Ok(()) => return done(),
            Err(IdentityError::Invalid(_)) => "office-error-forward-choose",
            Err(e) => return Err(fail(e)),
        },
    };
    let retry = Retry {
        account,
        message: st.shared.catalogues.text(ctx.lang, key, &[]),
        to: f.to,
        ..Retry::default()
    };
    render(&st, &ctx, &who, &staff, Some(retry)).await
}

/// The suspend / unsuspend form as posted.
#[derive(Debug, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    reason: String,
    /// `1` on the suspension's confirmation step.
    #[serde(default)]
    confirmed: Option<String>,
}

async fn set_status<S: Store>(
    st: WebState<S>,
    ctx: PageCtx,
    who: Current,
    staff: Principal,
    account: String,
    status: AccountStatus,
    f: StatusForm,
) -> PageResult {
    let account = account_id(&account)?;
    let reason = f.reason.trim();
    let asks = status == AccountStatus::Suspended && !is_confirmed(f.confirmed.as_deref());
    if !reason.is_empty() && reason.chars().count() <= MAX_REASON_CHARS && asks {
        let acc = binding::account_for_status(&st.app, &staff, account)
            .await
            .map_err(fail)?;
        let cat = &st.shared.catalogues;
        let t = |k: &str| cat.text(ctx.lang, k, &[]);
        return Confirm {
            c: ctx.chrome(cat),
            title: t("office-suspend-confirm-title"),
            lead: vec![t("office-suspend-confirm-lead")],
            facts: vec![
                (t("office-name"), acc.display_name.clone()),
                (t("office-suspend-confirm-email"), acc.email.clone()),
                (t("office-account-reason"), reason.to_owned()),
            ],
            action: format!("/office/accounts/{account}/suspend"),
            fields: vec![("reason".to_owned(), reason.to_owned())],
            submit: t("office-suspend-submit"),
            cancel: ("/office".to_owned(), t("confirm-cancel")),
            possible: true,
        }
        .respond();
    }
    if !reason.is_empty() && reason.chars().count() <= MAX_REASON_CHARS {
        binding::set_account_status(&st.app, &staff, account, status, reason)
            .await
            .map_err(fail)?;
        return done();
    }
    let retry = Retry {
        account,
        message: st
            .shared
            .catalogues
            .text(ctx.lang, "office-error-reason", &[]),
        reason: f.reason,
        ..Retry::default()
    };
    render(&st, &ctx, &who, &staff, Some(retry)).await
}

/// Suspends the account (its sessions end at once).
pub async fn suspend<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(who, staff): StaffUser,
    Path(account): Path<String>,
    Form(f): Form<StatusForm>,
) -> PageResult {
    set_status(st, ctx, who, staff, account, AccountStatus::Suspended, f).await
}

/// Reactivates a suspended account.
pub async fn unsuspend<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(who, staff): StaffUser,
    Path(account): Path<String>,
    Form(f): Form<StatusForm>,
) -> PageResult {
    set_status(st, ctx, who, staff, account, AccountStatus::Active, f).await
}
