//! `/office/members/{id}`: a member's whole record on one page — identity, contact, workplace,
//! memberships per level, the timeline of procedures with their evidence, the CME summary and
//! certificates. Outside the viewer's subtree: not found. Every view is audited by the use case.

use askama::Template;
use axum::extract::{Path, State};
use mamis_app::identity::jst;
use mamis_app::members::{self, Record};
use mamis_domain::AssociationLevel;
use mamis_domain::procedure::{ProcedureKind, ProcedureStatus};
use mamis_store::Store;
use uuid::Uuid;

use super::pick;
use crate::WebState;
use crate::shell::auth::{RequestOrigin, StaffUser};
use crate::shell::chrome::{Chrome, PageCtx, PageResult, html, page};
use crate::shell::error::{Failure, PageError};
use crate::shell::i18n::{Catalogues, Lang};

struct MembershipRow {
    association: String,
    level: String,
    class: String,
    joined: String,
    left: String,
    current: bool,
}

struct EventRow {
    at: String,
    what: String,
}

struct ProcedureBlock {
    id: String,
    kind: String,
    status: String,
    filed: String,
    effective: String,
    parties: String,
    events: Vec<EventRow>,
    evidence: Vec<String>,
}

struct CertificateRow {
    number: String,
    window: String,
    issued: String,
    revoked: bool,
}

#[derive(Template)]
#[template(path = "members/record.html")]
struct RecordView<'a> {
    c: Chrome<'a>,
    name: String,
    kana: String,
    /// (label, value) pairs of the identity and contact sections.
    identity: Vec<(String, String)>,
    contact: Vec<(String, String)>,
    memberships: Vec<MembershipRow>,
    procedures: Vec<ProcedureBlock>,
    cme_years: Vec<(String, String)>,
    certificates: Vec<CertificateRow>,
}

fn kind_key(k: ProcedureKind) -> &'static str {
    match k {
        ProcedureKind::Join => "members-kind-join",
        ProcedureKind::Transfer => "members-kind-transfer",
        ProcedureKind::ClassChange => "members-kind-class-change",
        ProcedureKind::NameChange => "members-kind-name-change",
        ProcedureKind::Withdrawal => "members-kind-withdrawal",
    }
}

fn procedure_status_key(s: ProcedureStatus) -> &'static str {
    match s {
        ProcedureStatus::Open => "members-procedure-open",
        ProcedureStatus::Completed => "members-procedure-completed",
        ProcedureStatus::Cancelled => "members-procedure-cancelled",
    }
}

fn level_key(l: AssociationLevel) -> &'static str {
    match l {
        AssociationLevel::Jma => "members-level-jma",
        AssociationLevel::Prefecture => "members-level-prefecture",
        AssociationLevel::County => "members-level-county",
    }
}

/// The name of a history event: its action's variant, or "filed".
fn event_name(json: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return String::new();
    };
    let action = v.get("action").and_then(|a| {
        a.as_object()
            .and_then(|o| o.keys().next().cloned())
            .or_else(|| a.as_str().map(str::to_owned))
    });
    action
        .or_else(|| v.get("filed").map(|_| "Filed".to_owned()))
        .or_else(|| v.as_object().and_then(|o| o.keys().next().cloned()))
        .or_else(|| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn view<'a>(
    c: Chrome<'a>,
    cat: &Catalogues,
    lang: Lang,
    r: Record,
    today: chrono::NaiveDate,
) -> RecordView<'a> {
    let t = |k: &str| cat.text(lang, k, &[]);
    let d = &r.doctor;
    let name_of = |code: &mamis_domain::AssociationCode| {
        r.associations.iter().find(|a| a.code == *code).map_or_else(
            || code.to_string(),
            |a| format!("{}（{}）", pick(lang, &a.name_ja, &a.name_en), a.code),
        )
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let identity = vec![
        (t("members-col-iseki"), d.iseki.to_string()),
        (
            t("members-col-member-id"),
            d.member_id
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_default(),
        ),
        (t("members-birth-date"), d.birth_date.to_string()),
        (
            t("members-sex"),
            t(if d.sex.as_str() == "male" {
                "members-sex-male"
            } else {
                "members-sex-female"
            }),
        ),
        (
            t("members-licensed-on"),
            r.licensed_on.map(|l| l.to_string()).unwrap_or_default(),
        ),
    ];
    let p = r.profile.clone().unwrap_or(mamis_store::DoctorProfile {
        doctor_id: d.id,
        workplace_name: None,
        workplace_address: None,
        workplace_municipality: None,
        home_address: None,
        phone: None,
        graduation_year: None,
        resident: false,
        updated_at: d.created_at,
    });
    let contact = vec![
        (t("members-email"), opt(&d.contact_email)),
        (t("members-phone"), opt(&p.phone)),
        (t("members-home-address"), opt(&p.home_address)),
        (t("members-col-workplace"), opt(&p.workplace_name)),
        (t("members-workplace-address"), opt(&p.workplace_address)),
        (
            t("members-field-municipality"),
            opt(&p.workplace_municipality),
        ),
        (
            t("members-graduation-year"),
            p.graduation_year.map(|y| y.to_string()).unwrap_or_default(),
        ),
        (
            t("members-resident"),
            t(if p.resident {
                "members-yes"
            } else {
                "members-no"
            }),
        ),
    ];
    let memberships = r
        .memberships
        .iter()
        .map(|m| MembershipRow {
            association: name_of(&m.association),
            level: t(level_key(m.level())),
            class: m.class.to_string(),
            joined: m.joined_on.to_string(),
            left: m.left_on.map(|l| l.to_string()).unwrap_or_default(),
            current: m.joined_on <= today && m.left_on.is_none_or(|l| l > today),
        })
        .collect();
    let procedures = r
        .procedures
        .iter()
        .map(|p| ProcedureBlock {
            id: p.row.id.to_string(),
            kind: t(kind_key(p.row.kind)),
            status: t(procedure_status_key(p.row.status)),
            filed: jst(p.row.filed_at),
            effective: p
                .row
                .effective_on
                .map(|d| d.to_string())
                .unwrap_or_default(),
            parties: p
                .row
                .parties
                .iter()
                .map(&name_of)
                .collect::<Vec<_>>()
                .join("、"),
            events: p
                .events
                .iter()
                .map(|e| EventRow {
                    at: jst(e.at),
                    what: event_name(&e.event),
                })
                .collect(),
            evidence: p
                .evidence
                .iter()
                .map(|e| format!("{} ({} B)", e.file_name, e.size))
                .collect(),
        })
        .collect();
    let cme_years = r
        .cme_years
        .iter()
        .map(|(fy, half)| {
            (
                cat.text(lang, "members-fy", &[("year", &fy.to_string())]),
                format!("{}.{}", half / 2, if half % 2 == 0 { 0 } else { 5 }),
            )
        })
        .collect();
    let certificates = r
        .certificates
        .iter()
        .map(|c| CertificateRow {
            number: c.number.clone(),
            window: format!("FY{}–FY{}", c.from_fy.year(), c.to_fy.year()),
            issued: c.issued_on.to_string(),
            revoked: c.revocation.is_some(),
        })
        .collect();
    RecordView {
        c,
        name: format!("{} {}", d.family_name, d.given_name),
        kana: format!("{} {}", d.family_kana, d.given_kana),
        identity,
        contact,
        memberships,
        procedures,
        cme_years,
        certificates,
    }
}

/// One member's page (audited); a malformed id or a doctor outside the subtree: not found.
pub async fn record<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
) -> PageResult {
    let id = Uuid::parse_str(&id).map_err(|_| PageError(Failure::NotFound))?;
    let r = members::record(&st.app, &staff, id, origin.client_addr).await?;
    let cat = &st.shared.catalogues;
    let today = mamis_domain::time::japan_date(st.app.now());
    html(page(
        view(ctx.chrome(cat), cat, ctx.lang, r, today).render(),
    ))
}
