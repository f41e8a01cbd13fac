//! The member back office in the API, under scoped tokens: search the token's subtree and read
//! one member's register entry, memberships and procedures' state. Authorised and audited by
//! the same use cases as the pages.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use mamis_api_types as dto;
use mamis_app::members::{self, SearchError};
use mamis_domain::Membership;
use mamis_store::{Doctor, Store};
use uuid::Uuid;

use super::search_input;
use crate::WebState;
use crate::shell::auth::principal;
use crate::shell::client_addr::ClientAddr;
use crate::shell::error::{ApiError, Failure};

fn member_dto(d: &Doctor) -> dto::Member {
    dto::Member {
        iseki_number: d.iseki.to_string(),
        family_name: d.family_name.clone(),
        given_name: d.given_name.clone(),
        family_kana: d.family_kana.to_string(),
        given_kana: d.given_kana.to_string(),
        birth_date: d.birth_date.to_string(),
        sex: d.sex.as_str().to_owned(),
        member_id: d.member_id.as_ref().map(|m| m.to_string()),
    }
}

fn membership_dto(m: &Membership) -> dto::MemberMembership {
    dto::MemberMembership {
        association: m.association.to_string(),
        level: m.level().as_str().to_owned(),
        class: m.class.to_string(),
        joined_on: m.joined_on.to_string(),
        left_on: m.left_on.map(|d| d.to_string()),
    }
}

const KNOWN: [&str; 12] = [
    "q",
    "workplace",
    "municipality",
    "level",
    "class",
    "status",
    "joined_from",
    "joined_to",
    "sort",
    "dir",
    "page",
    "per_page",
];

/// Search the register within the token's scope.
#[utoipa::path(
    get, path = "/api/v1/members", tag = "members",
    params(
        ("q" = Option<String>, Query, description = "Name prefix (kanji or kana in any width; hiragana finds katakana, 髙 finds 高), a 10-digit member ID or a 医籍登録番号 (both exact)"),
        ("workplace" = Option<String>, Query, description = "Part of the workplace's name"),
        ("municipality" = Option<String>, Query, description = "The workplace's municipality, exactly"),
        ("level" = Option<String>, Query, description = "`jma`, `prefecture` or `county`: only memberships at this level count"),
        ("class" = Option<String>, Query, description = "Class code"),
        ("status" = Option<String>, Query, description = "`member`, `former` or `in_procedure`"),
        ("joined_from" = Option<String>, Query, description = "Joined on or after (YYYY-MM-DD)"),
        ("joined_to" = Option<String>, Query, description = "Joined on or before (YYYY-MM-DD)"),
        ("sort" = Option<String>, Query, description = "`kana` (default), `name`, `member_id` or `iseki`"),
        ("dir" = Option<String>, Query, description = "`asc` (default) or `desc`"),
        ("page" = Option<u64>, Query, minimum = 1, description = "1-based page, default 1"),
        ("per_page" = Option<u32>, Query, minimum = 1, maximum = 200, description = "1–200, default 50"),
    ),
    responses(
        (status = 200, description = "One page of matches and their total", body = dto::MemberSearchPage),
        (status = 400, description = "A parameter cannot be read; `detail` says which", body = dto::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = dto::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token may not see doctors", body = dto::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn search<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    axum::Extension(ClientAddr(ip)): axum::Extension<ClientAddr>,
    RawQuery(q): RawQuery,
) -> Result<Json<dto::MemberSearchPage>, ApiError> {
    let who = principal(&st, &headers).await?;
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    if pairs.iter().any(|(k, _)| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError(Failure::BadRequest("invalid-query")));
    }
    let (input, _, bad_number) = search_input(&pairs);
    if bad_number {
        return Err(ApiError(Failure::BadRequest("members-error-page")));
    }
    let found = match members::search(&st.app, &who, &input, Some(ip.to_string())).await {
        Ok(f) => f,
        Err(SearchError::Fields(e)) => {
            return Err(ApiError(Failure::BadRequest(
                e.first().map_or("invalid-query", |e| e.key),
            )));
        }
        Err(SearchError::App(e)) => return Err(e.into()),
    };
    let q = &found.query;
    let members = found
        .page
        .hits
        .iter()
        .map(|h| {
            let ms: Vec<Membership> = found
                .memberships
                .iter()
                .filter(|(id, _)| *id == h.doctor.id)
                .map(|(_, m)| m.clone())
                .collect();
            dto::MemberHit {
                id: h.doctor.id.to_string(),
                member: member_dto(&h.doctor),
                workplace: h.workplace.clone(),
                municipality: h.municipality.clone(),
                status: members::standing(&ms, q.scope.as_deref(), q.today)
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                memberships: ms.iter().map(membership_dto).collect(),
            }
        })
        .collect();
    Ok(Json(dto::MemberSearchPage {
        total: found.page.total,
        page: q.offset / u64::from(q.limit) + 1,
        per_page: q.limit,
        members,
    }))
}

/// One member's register entry, memberships and procedures' state (audited).
#[utoipa::path(
    get, path = "/api/v1/members/{id}", tag = "members",
    params(("id" = String, Path, format = "uuid", description = "The doctor's id from a search")),
    responses(
        (status = 200, description = "OK", body = dto::MemberRecord),
        (status = 401, description = "Missing, unknown or revoked token", body = dto::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such doctor in the token's scope", body = dto::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn member<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    axum::Extension(ClientAddr(ip)): axum::Extension<ClientAddr>,
    Path(id): Path<String>,
) -> Result<Json<dto::MemberRecord>, ApiError> {
    let who = principal(&st, &headers).await?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError(Failure::NotFound))?;
    let r = members::record(&st.app, &who, id, Some(ip.to_string())).await?;
    let profile = r.profile.as_ref();
    Ok(Json(dto::MemberRecord {
        id: r.doctor.id.to_string(),
        member: member_dto(&r.doctor),
        licensed_on: r.licensed_on.map(|d| d.to_string()),
        workplace: profile.and_then(|p| p.workplace_name.clone()),
        municipality: profile.and_then(|p| p.workplace_municipality.clone()),
        memberships: r.memberships.iter().map(membership_dto).collect(),
        procedures: r
            .procedures
            .iter()
            .map(|p| dto::ProcedureState {
                id: p.row.id.to_string(),
                kind: p.row.kind.as_str().to_owned(),
                status: p.row.status.as_str().to_owned(),
                filed_at: p.row.filed_at.to_rfc3339(),
                effective_on: p.row.effective_on.map(|d| d.to_string()),
                due: p
                    .row
                    .due
                    .iter()
                    .map(|d| dto::ProcedureDueState {
                        association: d.association.to_string(),
                        action: d.action.as_str().to_owned(),
                    })
                    .collect(),
                parties: p.row.parties.iter().map(|a| a.to_string()).collect(),
                events: u32::try_from(p.events.len()).unwrap_or(u32::MAX),
            })
            .collect(),
    }))
}
