//! The JSON API for associations' systems (`/api/v1`), authenticated by API tokens and
//! authorised through the same rule table as staff.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use mamis_api_types as dto;
use mamis_app::registry;
use mamis_domain::{Association, AssociationCode, Principal, Scope};
use mamis_store::Store;

use crate::WebState;
use crate::shell::auth::principal;
use crate::shell::client_addr::ClientAddr;
use crate::shell::error::{ApiError, Failure};

/// The register's routes in the API.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/api/v1/associations", get(associations::<S>))
        .route("/api/v1/associations/{code}", get(association::<S>))
        .route("/api/v1/associations/{code}/members", get(members::<S>))
}

fn to_dto(a: Association) -> dto::Association {
    dto::Association {
        level: a.level().as_str().to_owned(),
        parent: a.code.parent().map(|p| p.to_string()),
        code: a.code.to_string(),
        name_ja: a.name_ja,
        name_en: a.name_en,
    }
}

fn parse_code(s: &str) -> Result<AssociationCode, ApiError> {
    AssociationCode::parse(s).map_err(|_| ApiError(Failure::BadRequest("invalid-association-code")))
}

fn query_pairs(q: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let q = q.unwrap_or("");
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect();
    if pairs.iter().any(|(k, _)| k.is_empty()) {
        return Err(ApiError(Failure::BadRequest("invalid-query")));
    }
    Ok(pairs)
}

/// The association tree below a node.
#[utoipa::path(
    get, path = "/api/v1/associations",
    params(("root" = Option<String>, Query, pattern = "^(JMA|P(0[1-9]|[1-3][0-9]|4[0-7])(-([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3}))?)$", example = "P13", description = "Code of the subtree's root (`JMA`, `P01`–`P47` or `Pnn-nnnn`); defaults to the token's own node (JMA for national tokens)")),
    responses(
        (status = 200, description = "The node and everything below it, in code order", body = Vec<dto::Association>),
        (status = 400, description = "Malformed code", body = dto::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = dto::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside the token's scope", body = dto::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn associations<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Json<Vec<dto::Association>>, ApiError> {
    let who = principal(&st, &headers).await?;
    let mut root = None;
    for (k, v) in query_pairs(q.as_deref())? {
        match k.as_str() {
            "root" => root = Some(parse_code(&v)?),
            _ => return Err(ApiError(Failure::BadRequest("invalid-query"))),
        }
    }
    let root = match (root, &who) {
        (Some(r), _) => r,
        (None, Principal::ApiToken { grant, .. }) => match grant.scope() {
            Scope::Association(c) => c.clone(),
            Scope::Organisation(_) => AssociationCode::jma(),
        },
        (None, _) => AssociationCode::jma(),
    };
    let v = registry::subtree(&st.app, &who, &root).await?;
    Ok(Json(v.into_iter().map(to_dto).collect()))
}

/// One association and its direct children.
#[utoipa::path(
    get, path = "/api/v1/associations/{code}",
    params(("code" = String, Path, pattern = "^(JMA|P(0[1-9]|[1-3][0-9]|4[0-7])(-([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3}))?)$", example = "P13-0001", description = "Association code, e.g. P13-0001")),
    responses(
        (status = 200, description = "OK", body = dto::AssociationDetail),
        (status = 400, description = "Malformed input; `detail` says what to fix", body = dto::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = dto::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside the token's scope", body = dto::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such association", body = dto::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn association<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<Json<dto::AssociationDetail>, ApiError> {
    let who = principal(&st, &headers).await?;
    let code = parse_code(&code)?;
    let (node, children) = registry::association(&st.app, &who, &code).await?;
    Ok(Json(dto::AssociationDetail {
        association: to_dto(node),
        children: children.into_iter().map(to_dto).collect(),
    }))
}

/// The current members of an association (personal data; the view is audited).
#[utoipa::path(
    get, path = "/api/v1/associations/{code}/members",
    params(
        ("code" = String, Path, pattern = "^(JMA|P(0[1-9]|[1-3][0-9]|4[0-7])(-([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3}))?)$", example = "P13-0001", description = "Association code"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "1–500, default 100"),
        ("offset" = Option<u64>, Query, description = "Members to skip, default 0"),
    ),
    responses(
        (status = 200, description = "OK", body = dto::MembersPage),
        (status = 400, description = "Malformed input; `detail` says what to fix", body = dto::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = dto::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside the token's scope", body = dto::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such association", body = dto::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`limit` is a number outside 1–500", body = dto::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn members<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    axum::Extension(ClientAddr(ip)): axum::Extension<ClientAddr>,
    Path(code): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Json<dto::MembersPage>, ApiError> {
    let who = principal(&st, &headers).await?;
    let code = parse_code(&code)?;
    let (mut limit, mut offset) = (100u32, 0u64);
    for (k, v) in query_pairs(q.as_deref())? {
        match k.as_str() {
            "limit" => {
                // a number outside 1–500 is well-formed but not allowed: 422, not 400
                let n: i64 = v
                    .parse()
                    .map_err(|_| ApiError(Failure::BadRequest("invalid-limit")))?;
                limit = u32::try_from(n)
                    .ok()
                    .filter(|n| (1..=500).contains(n))
                    .ok_or(ApiError(Failure::Unprocessable("invalid-limit")))?
            }
            "offset" => {
                offset = v
                    .parse()
                    .map_err(|_| ApiError(Failure::BadRequest("invalid-offset")))?
            }
            _ => return Err(ApiError(Failure::BadRequest("invalid-query"))),
        }
    }
    let doctors =
        registry::members(&st.app, &who, &code, limit, offset, Some(ip.to_string())).await?;
    let members = doctors
        .into_iter()
        .map(|d| dto::Member {
            iseki_number: d.iseki.to_string(),
            family_name: d.family_name,
            given_name: d.given_name,
            family_kana: d.family_kana.to_string(),
            given_kana: d.given_kana.to_string(),
            birth_date: d.birth_date.to_string(),
            sex: d.sex.as_str().to_owned(),
            member_id: d.member_id.map(|m| m.to_string()),
        })
        .collect();
    Ok(Json(dto::MembersPage {
        association: code.to_string(),
        offset,
        limit,
        members,
    }))
}
