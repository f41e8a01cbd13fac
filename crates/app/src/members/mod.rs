//! The member back office (issue 19): search across the staff member's subtree, one member's
//! whole record, CSV exports and register imports, statistics as of a date.
//!
//! Scope: staff and tokens reach the doctors who belong or belonged to an association of their
//! grants' subtrees, who have a procedure with a party there, or (non-members) whose home
//! prefecture lies there; anyone else is not found. National roles reach the whole register.
//! Every view of personal data is an audit record naming the viewer, in the transaction that
//! reads it.

pub mod demo;
pub mod export;
pub mod import;
pub mod stats;

use chrono::NaiveDate;
use mamis_domain::authz::{ScopeRule, rule};
use mamis_domain::names::name_key;
use mamis_domain::procedure::ProcedureStatus;
use mamis_domain::time::japan_date;
use mamis_domain::{
    Action, Association, AssociationCode, AssociationLevel, IsekiNumber, MemberId, Membership,
    Principal, Scope,
};
use mamis_store::{
    CertificateRecord, CertificateStore, Doctor, DoctorProfile, Evidence, LedgerStore, MemberPage,
    MemberQuery, MemberSort, MemberStatus, MemberStore, MembershipStore, ProcedureEvent,
    ProcedureRow, RegistryStore, Store, Tx,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::Entry;
use crate::{App, AppError};

/// Largest page of a search (the export reads every match instead).
pub const MAX_PAGE: u32 = 200;
/// Most rows one export writes: a prefecture's register fits many times over.
pub const MAX_EXPORT: u32 = 100_000;

/// What a staff member typed into the search form, before checking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchInput {
    /// A name prefix (kanji or kana in any width), a member ID or a 医籍登録番号.
    pub q: String,
    /// Part of the workplace's name.
    pub workplace: String,
    /// The workplace's municipality.
    pub municipality: String,
    /// `jma`, `prefecture` or `county`.
    pub level: String,
    /// A class code.
    pub class: String,
    /// `member`, `former` or `in_procedure`.
    pub status: String,
    /// Joined on or after (YYYY-MM-DD).
    pub joined_from: String,
    /// Joined on or before (YYYY-MM-DD).
    pub joined_to: String,
    /// `kana`, `name`, `member_id` or `iseki`.
    pub sort: String,
    /// `desc` for descending.
    pub dir: String,
    /// 1-based page.
    pub page: u64,
    /// Page size (default 50, at most [`MAX_PAGE`]).
    pub per_page: u32,
}

/// A search field that cannot be read: which field, and a message key of the web catalogue
/// (the API shows the English text of the same key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The form field.
    pub field: &'static str,
    /// The message key.
    pub key: &'static str,
}

/// Why a search was refused.
#[derive(Debug)]
pub enum SearchError {
    /// Some fields could not be read; nothing was searched.
    Fields(Vec<FieldError>),
    /// Authorization or storage failed.
    App(AppError),
}

impl From<AppError> for SearchError {
    fn from(e: AppError) -> Self {
        Self::App(e)
    }
}

impl From<mamis_store::StoreError> for SearchError {
    fn from(e: mamis_store::StoreError) -> Self {
        Self::App(e.into())
    }
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn date_field(raw: &str, field: &'static str, errors: &mut Vec<FieldError>) -> Option<NaiveDate> {
    let t = raw.trim();
    if t.is_empty() {
        return None;
    }
    match mamis_domain::dates::parse_date(t) {
        Ok(d) => Some(d),
        Err(_) => {
            errors.push(FieldError {
                field,
                key: "members-error-date",
            });
            None
        }
    }
}

/// Reads the form into a store query (scope filled in later); every unreadable field is named.
pub fn parse_input(input: &SearchInput, today: NaiveDate) -> Result<MemberQuery, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut q = MemberQuery::new(None, today);
    let typed = input.q.trim();
    if !typed.is_empty() {
        let ascii: String = mamis_domain::names::name_key(typed);
        if ascii.bytes().all(|b| b.is_ascii_digit()) {
            // digits: a member ID (10 digits) or a 医籍登録番号 (up to 7), exactly
            if let Ok(m) = MemberId::parse(&ascii) {
                q.member_id = Some(m.to_string());
            } else if let Ok(i) = IsekiNumber::parse(&ascii) {
                q.iseki = Some(i.to_string());
            } else {
                errors.push(FieldError {
                    field: "q",
                    key: "members-error-number",
                });
            }
        } else {
            q.name_prefix = Some(name_key(typed));
        }
    }
    q.workplace = opt(&input.workplace).map(|w| w.chars().take(100).collect());
    q.municipality = opt(&input.municipality);
    q.level = match input.level.trim() {
        "" => None,
        "jma" => Some(AssociationLevel::Jma),
        "prefecture" => Some(AssociationLevel::Prefecture),
        "county" => Some(AssociationLevel::County),
        _ => {
            errors.push(FieldError {
                field: "level",
                key: "members-error-level",
            });
            None
        }
    };
    q.class = match opt(&input.class) {
        None => None,
        Some(c) => match mamis_domain::ClassCode::parse(&c) {
            Ok(c) => Some(c.to_string()),
            Err(_) => {
                errors.push(FieldError {
                    field: "class",
                    key: "members-error-class",
                });
                None
            }
        },
    };
    q.status = match input.status.trim() {
        "" => None,
        s => match MemberStatus::parse(s) {
            Some(s) => Some(s),
            None => {
                errors.push(FieldError {
                    field: "status",
                    key: "members-error-status",
                });
                None
            }
        },
    };
    q.joined_from = date_field(&input.joined_from, "joined_from", &mut errors);
    q.joined_to = date_field(&input.joined_to, "joined_to", &mut errors);
    if let (Some(a), Some(b)) = (q.joined_from, q.joined_to)
        && a > b
    {
        errors.push(FieldError {
            field: "joined_to",
            key: "members-error-date-order",
        });
    }
    q.sort = match input.sort.trim() {
        "" => MemberSort::Kana,
        s => MemberSort::parse(s).unwrap_or_else(|| {
            errors.push(FieldError {
                field: "sort",
                key: "members-error-sort",
            });
            MemberSort::Kana
        }),
    };
    q.descending = match input.dir.trim() {
        "" | "asc" => false,
        "desc" => true,
        _ => {
            errors.push(FieldError {
                field: "dir",
                key: "members-error-sort",
            });
            false
        }
    };
    q.limit = match input.per_page {
        0 => 50,
        n if n <= MAX_PAGE => n,
        _ => {
            errors.push(FieldError {
                field: "per_page",
                key: "members-error-per-page",
            });
            50
        }
    };
    q.offset = input
        .page
        .saturating_sub(1)
        .saturating_mul(u64::from(q.limit));
    if errors.is_empty() {
        Ok(q)
    } else {
        Err(errors)
    }
}

/// The association nodes a principal may reach with `action`: `None` for the whole register
/// (a national rule), otherwise the grants' subtree roots. Refused when there are none.
pub fn scope_roots(
    actor: &Principal,
    action: Action,
) -> Result<Option<Vec<AssociationCode>>, AppError> {
    let grants = match actor {
        Principal::Staff { grants, .. } => grants.clone(),
        Principal::ApiToken { grant, .. } => vec![grant.clone()],
        Principal::Job { .. } => return Ok(None),
        Principal::Doctor { .. } => return Err(AppError::Forbidden),
    };
    let mut roots = Vec::new();
    for g in &grants {
        match (rule(g.role(), action), g.scope()) {
            (ScopeRule::National, _) => return Ok(None),
            (ScopeRule::Subtree, Scope::Association(c)) => roots.push(c.clone()),
            _ => {}
        }
    }
    if roots.is_empty() {
        return Err(AppError::Forbidden);
    }
    roots.sort();
    roots.dedup();
    Ok(Some(roots))
}

/// Every association code under the roots (the roots included), read in the caller's
/// transaction; `None` stays `None`.
pub async fn expand<T: Tx>(
    tx: &mut T,
    roots: &Option<Vec<AssociationCode>>,
) -> Result<Option<Vec<AssociationCode>>, AppError> {
    let Some(roots) = roots else {
        return Ok(None);
    };
    let mut codes = Vec::new();
    for r in roots {
        codes.extend(tx.associations_under(r).await?.into_iter().map(|a| a.code));
    }
    codes.sort();
    codes.dedup();
    Ok(Some(codes))
}

/// One search result with the doctor's memberships (for the status and class columns).
#[derive(Debug, Clone)]
pub struct Found {
    /// The page as the store returned it.
    pub page: MemberPage,
    /// The memberships of the doctors on the page, by doctor.
    pub memberships: Vec<(Uuid, Membership)>,
    /// The query that ran (with scope and paging).
    pub query: MemberQuery,
}

/// Searches the staff member's subtree. Lists personal data, so the search is audited with the
/// doctors it showed.
pub async fn search<S: Store>(
    app: &App<S>,
    actor: &Principal,
    input: &SearchInput,
    client_addr: Option<String>,
) -> Result<Found, SearchError> {
    let roots = scope_roots(actor, Action::ViewDoctors)?;
    let now = app.now();
    let mut query = parse_input(input, japan_date(now)).map_err(SearchError::Fields)?;
    let mut tx = app.store.write().await?;
    query.scope = expand(&mut tx, &roots).await?;
    let page = tx.search_members(&query).await?;
    let ids: Vec<Uuid> = page.hits.iter().map(|h| h.doctor.id).collect();
    let memberships = tx.memberships_of_doctors(&ids).await?;
    app.audit(
        &mut tx,
        Entry {
            actor,
            action: "doctor.search",
            target: "members".into(),
            client_addr,
            details: json!({
                "q": input.q.trim(), "total": page.total, "offset": query.offset,
                "doctors": ids,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Found {
        page,
        memberships,
        query,
    })
}

/// One procedure as the member's page shows it.
#[derive(Debug, Clone)]
pub struct ProcedureEntry {
    /// The stored row.
    pub row: ProcedureRow,
    /// Its history, in order.
    pub events: Vec<ProcedureEvent>,
    /// Its evidence files, oldest first.
    pub evidence: Vec<Evidence>,
}

/// Everything the back office knows of one member, on one page.
#[derive(Debug, Clone)]
pub struct Record {
    /// The register entry.
    pub doctor: Doctor,
    /// 医籍登録年月日, when known.
    pub licensed_on: Option<NaiveDate>,
    /// Workplace, address, phone.
    pub profile: Option<DoctorProfile>,
    /// Every membership, oldest first.
    pub memberships: Vec<Membership>,
    /// The associations named by the memberships and procedures.
    pub associations: Vec<Association>,
    /// Procedures, newest first.
    pub procedures: Vec<ProcedureEntry>,
    /// CME certificates, oldest first.
    pub certificates: Vec<CertificateRecord>,
    /// Net CME half-units per fiscal year (start year), oldest first.
    pub cme_years: Vec<(i32, i64)>,
}

/// Whether `actor` reaches the doctor (see the module note), inside the caller's transaction.
pub async fn reaches<T: Tx>(tx: &mut T, actor: &Principal, doctor: Uuid) -> Result<bool, AppError> {
    let roots = match scope_roots(actor, Action::ViewDoctors) {
        Ok(r) => r,
        Err(AppError::Forbidden) => return Ok(false),
        Err(e) => return Err(e),
    };
    match expand(tx, &roots).await? {
        None => Ok(true),
        Some(codes) => Ok(tx.doctor_in_scope(doctor, &codes).await?),
    }
}

/// A member's whole record. Outside the viewer's scope (or unknown): not found. Every view is
/// an audit record naming the viewer, written in the transaction that reads the record.
pub async fn record<S: Store>(
    app: &App<S>,
    actor: &Principal,
    doctor_id: Uuid,
    client_addr: Option<String>,
) -> Result<Record, AppError> {
    scope_roots(actor, Action::ViewDoctors).map_err(|_| AppError::NotFound)?;
    let mut tx = app.store.write().await?;
    let doctor = tx.doctor(doctor_id).await?.ok_or(AppError::NotFound)?;
    if !reaches(&mut tx, actor, doctor_id).await? {
        return Err(AppError::NotFound);
    }
    let licensed_on = tx
        .licence_dates(&[doctor_id])
        .await?
        .into_iter()
        .next()
        .map(|(_, d)| d);
    let profile = tx.doctor_profile(doctor_id).await?;
    let memberships = tx.memberships_of(doctor_id).await?;
    let mut procedures = Vec::new();
    for row in tx.procedures_of_doctor(doctor_id).await? {
        let events = tx.procedure_events(row.id).await?;
        let evidence = tx.evidence_of(row.id).await?;
        procedures.push(ProcedureEntry {
            row,
            events,
            evidence,
        });
    }
    let mut codes: Vec<AssociationCode> = memberships
        .iter()
        .map(|m| m.association.clone())
        .chain(procedures.iter().flat_map(|p| p.row.parties.clone()))
        .collect();
    codes.sort();
    codes.dedup();
    let mut associations = Vec::new();
    for c in &codes {
        if let Some(a) = tx.association(c).await? {
            associations.push(a);
        }
    }
    let programme = crate::cme::PROGRAMME;
    let certificates = tx.certificates_of(doctor_id, programme).await?;
    let mut years: std::collections::BTreeMap<i32, i64> = Default::default();
    for e in tx.ledger_of_doctors(programme, &[doctor_id]).await? {
        *years.entry(e.fiscal_year.year()).or_default() += e.half_units.get();
    }
    app.audit(
        &mut tx,
        Entry {
            actor,
            action: "doctor.view",
            target: format!("doctor:{doctor_id}"),
            client_addr,
            details: json!({ "via": "members" }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Record {
        doctor,
        licensed_on,
        profile,
        memberships,
        associations,
        procedures,
        certificates,
        cme_years: years.into_iter().collect(),
    })
}

/// Where a doctor stands with the associations of a scope today (for lists): member when a
/// membership there holds, former when one did, else none; an open procedure is reported too.
pub fn standing(
    memberships: &[Membership],
    scope: Option<&[AssociationCode]>,
    today: NaiveDate,
) -> Option<MemberStatus> {
    let inside = |m: &&Membership| scope.is_none_or(|s| s.contains(&m.association));
    let mut any = false;
    for m in memberships.iter().filter(inside) {
        any = true;
        if m.joined_on <= today && m.left_on.is_none_or(|l| l > today) {
            return Some(MemberStatus::Member);
        }
    }
    any.then_some(MemberStatus::Former)
}

/// Whether a procedure is still running (for the list's "in procedure" mark).
pub fn is_open(p: &ProcedureRow) -> bool {
    p.status == ProcedureStatus::Open
}
