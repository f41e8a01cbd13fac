//! The CME ledger in the JSON API: a doctor's own summary and ledger through the My Page session,
//! staff tokens' views of a doctor in their scope (audited), staff adjustments and reversals.
//! Amounts are decimal strings (`"2.5"`), see [`mamis_api_types`].

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use mamis_api_types as dto;
use mamis_app::cme::{
    self, AdjustError, Adjustment, CreditInputError, LedgerFilter, NegativeNet, Summary,
};
use mamis_domain::rules::{Explanation, Window};
use mamis_domain::{HalfUnits, IsekiNumber, LedgerEntry, Principal};
use mamis_store::Store;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::WebState;
use crate::shell::auth::MaybeUser;
use crate::shell::client_addr::ClientAddr;
use crate::shell::error::{ApiError, Failure, credit_input_key};
use crate::shell::i18n::Lang;
use crate::shell::middleware::RequestId;

/// The routes of the CME API.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/api/v1/me/cme/summary", get(my_summary::<S>))
        .route("/api/v1/me/cme/ledger", get(my_ledger::<S>))
        .route(
            "/api/v1/doctors/{iseki}/cme/summary",
            get(doctor_summary::<S>),
        )
        .route(
            "/api/v1/doctors/{iseki}/cme/ledger",
            get(doctor_ledger::<S>),
        )
        .route("/api/v1/doctors/{iseki}/cme/adjustments", post(adjust::<S>))
        .route("/api/v1/cme/entries/{id}/reversal", post(reverse::<S>))
}

fn bad(key: &'static str) -> ApiError {
    ApiError(Failure::BadRequest(key))
}

fn because(f: Failure, key: &'static str) -> ApiError {
    ApiError(Failure::Because(Box::new(f), key))
}

// ---------------------------------------------------------------- DTOs

fn units(h: HalfUnits) -> String {
    h.to_string()
}

fn window_dto(w: &Window) -> dto::CmeWindow {
    dto::CmeWindow {
        from_fiscal_year: w.from.year(),
        to_fiscal_year: w.to.year(),
        status: if w.prior_system {
            "prior_system".to_owned()
        } else {
            status_str(w.status).to_owned()
        },
        units: units(w.half_units),
        codes: u32::try_from(w.codes.len()).unwrap_or(u32::MAX),
        total: units(HalfUnits::new(w.total_half())),
        decision_date: w.decision_date.to_string(),
    }
}

fn status_str(s: mamis_domain::rules::WindowStatus) -> &'static str {
    use mamis_domain::rules::WindowStatus::*;
    match s {
        Certified => "certified",
        Achieved => "achieved",
        FellShort => "fell_short",
        Pending => "pending",
    }
}

fn next_dto(w: &Window, x: &Explanation) -> dto::CmeNextWindow {
    dto::CmeNextWindow {
        window: window_dto(w),
        threshold: x.threshold,
        shortfall: units(HalfUnits::new(x.shortfall_half)),
        missing_codes: x.missing_codes.clone(),
        what_if: x.what_if.as_ref().map(|w| dto::CmeWhatIf {
            units: units(w.total),
            new_codes: w.new_codes,
            extra_units: units(w.extra_in_earned_codes),
            units_in_earned_codes: units(w.only_earned_codes),
        }),
    }
}

fn doctor_dto(s: &Summary) -> dto::CmeDoctor {
    dto::CmeDoctor {
        iseki_number: s.doctor.iseki.to_string(),
        family_name: s.doctor.family_name.clone(),
        given_name: s.doctor.given_name.clone(),
    }
}

fn summary_dto(s: &Summary) -> dto::CmeSummary {
    let st = &s.standing;
    dto::CmeSummary {
        doctor: doctor_dto(s),
        as_of: st.today.to_string(),
        programme: cme::PROGRAMME.as_str().to_owned(),
        rules_version: s.rules.version.clone(),
        threshold: st.threshold,
        jma_member: s.jma_member,
        years: st
            .years
            .iter()
            .rev()
            .map(|(fy, y)| dto::CmeYear {
                fiscal_year: fy.year(),
                units: units(y.half_units),
                codes: y.codes().collect(),
                by_source: y
                    .per_source
                    .iter()
                    .map(|(src, u)| dto::CmeSourceUnits {
                        source: src.as_str().to_owned(),
                        units: units(*u),
                    })
                    .collect(),
                capped: units(y.capped),
            })
            .collect(),
        windows: st.windows.iter().map(window_dto).collect(),
        next_window: st.next_window().map(|w| next_dto(w, &w.explain(s.rules))),
        certificates: s
            .certificates
            .iter()
            .map(|c| dto::CmeCertificate {
                number: c.number.clone(),
                from_fiscal_year: c.from_fy.year(),
                to_fiscal_year: c.to_fy.year(),
                issued_on: c.issued_on.to_string(),
                origin: c.origin.clone(),
            })
            .collect(),
    }
}

fn entry_dto(e: &LedgerEntry, reversed_by: Option<Uuid>) -> dto::CmeEntry {
    dto::CmeEntry {
        id: e.id.to_string(),
        date: e.date.to_string(),
        fiscal_year: e.fiscal_year.year(),
        source: e.source.as_str().to_owned(),
        code: e.code,
        units: units(e.half_units),
        origin_key: e.origin_key.clone(),
        generation: e.generation,
        reverses: e.reverses.map(|r| r.to_string()),
        reversed_by: reversed_by.map(|r| r.to_string()),
        note: e.note.clone(),
        created_by: e.created_by.clone(),
        created_at: e
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

fn ledger_dto(s: &Summary, filter: &LedgerFilter) -> dto::CmeLedger {
    let reversals: std::collections::HashMap<Uuid, Uuid> = s
        .entries
        .iter()
        .filter_map(|e| e.reverses.map(|r| (r, e.id)))
        .collect();
    dto::CmeLedger {
        doctor: doctor_dto(s),
        entries: s
            .entries
            .iter()
            .filter(|e| filter.matches(e))
            .map(|e| entry_dto(e, reversals.get(&e.id).copied()))
            .collect(),
    }
}

fn filter_of(q: Option<&str>) -> Result<LedgerFilter, ApiError> {
    let pairs = crate::shell::fmt::query_pairs(q).ok_or(bad("invalid-query"))?;
    crate::cme::parse_filter(&pairs).map_err(|key| {
        // a number that is no fiscal year (1900–9998) or no code of the catalogue is
        // well-formed but not allowed: 422; anything else is malformed: 400
        let number = |name: &str| {
            pairs
                .iter()
                .any(|(k, v)| k == name && v.trim().parse::<i64>().is_ok())
        };
        match key {
            "mycme-filter-bad-fy" if number("fy") => ApiError(Failure::Unprocessable(key)),
            "mycme-filter-bad-code" if number("code") => ApiError(Failure::Unprocessable(key)),
            _ => bad(key),
        }
    })
}

// ---------------------------------------------------------------- input

/// Half-units of `"1.5"`, `"-2"`, `1.5` or `-2`; `None` unless a multiple of 0.5.
fn half_units_of(v: &Value) -> Option<HalfUnits> {
    match v {
        Value::String(s) => parse_decimal_units(s),
        Value::Number(n) => {
            let x = n.as_f64()?;
            let doubled = x * 2.0;
            (x.is_finite() && x.abs() <= 1e6 && doubled.fract() == 0.0)
                .then(|| HalfUnits::new(doubled as i64))
        }
        _ => None,
    }
}

/// A decimal string with at most a `.5` fraction (trailing zeros allowed).
fn parse_decimal_units(s: &str) -> Option<HalfUnits> {
    let s = s.trim();
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() || int.len() > 7 || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.contains('.') && frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let half = match frac.trim_end_matches('0') {
        "" => 0,
        "5" => 1,
        _ => return None,
    };
    let n = int.parse::<i64>().ok()? * 2 + half;
    Some(HalfUnits::new(if negative { -n } else { n }))
}

/// The body as a JSON object whose fields are all among `allowed`.
fn object(body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return Err(bad("mycme-api-bad-json"));
    };
    if map.keys().any(|k| !allowed.contains(&k.as_str())) {
        return Err(bad("mycme-api-unknown-field"));
    }
    Ok(map)
}

/// Reads an adjustment, naming the first bad field.
fn adjustment(body: &[u8]) -> Result<Adjustment, ApiError> {
    let map = object(body, &["date", "code", "units", "reason"])?;
    let date = map
        .get("date")
        .and_then(Value::as_str)
        .and_then(|s| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok())
        .ok_or(bad("mycme-api-bad-date"))?;
    // `12.0` is the integer 12 as JSON Schema counts (the document types `code` as integer)
    let code = map
        .get("code")
        .and_then(|v| {
            v.as_u64().or_else(|| {
                v.as_f64()
                    .filter(|f| f.fract() == 0.0 && (0.0..65_536.0).contains(f))
                    .map(|f| f as u64)
            })
        })
        .and_then(|n| u16::try_from(n).ok())
        .ok_or(bad(credit_input_key(CreditInputError::UnknownCode)))?;
    let half_units = map
        .get("units")
        .and_then(half_units_of)
        .ok_or(bad(credit_input_key(CreditInputError::BadAmount)))?;
    let reason = map
        .get("reason")
        .and_then(Value::as_str)
        .ok_or(bad(credit_input_key(CreditInputError::BadReason)))?
        .to_owned();
    Ok(Adjustment {
        date,
        code,
        half_units,
        reason,
    })
}

fn reason(body: &[u8]) -> Result<String, ApiError> {
    let map = object(body, &["reason"])?;
    map.get("reason")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(bad(credit_input_key(CreditInputError::BadReason)))
}

// ---------------------------------------------------------------- who

/// The doctor of the My Page session: 401 without a session, 403 unless a verified doctor's.
fn session_doctor(
    user: Option<mamis_app::identity::sessions::Current>,
) -> Result<(Principal, Uuid), ApiError> {
    let u = user.ok_or(because(
        Failure::Unauthenticated,
        "mycme-api-login-required",
    ))?;
    let who = u.doctor_principal();
    let doctor = u
        .verified_doctor()
        .ok_or(because(Failure::Forbidden, "mycme-api-not-verified"))?;
    Ok((who, doctor))
}

/// The bearer token of a write. A My Page session alone never writes (the API is outside the
/// CSRF check, and doctors may not change their own credits): 403 with the reason.
async fn writer<S: Store>(
    st: &WebState<S>,
    headers: &HeaderMap,
    user: &Option<mamis_app::identity::sessions::Current>,
) -> Result<Principal, ApiError> {
    if headers.get(header::AUTHORIZATION).is_none() && user.is_some() {
        return Err(because(
            Failure::Forbidden,
            "mycme-api-session-cannot-write",
        ));
    }
    crate::shell::auth::principal(st, headers).await
}

/// The doctor a token names by 医籍登録番号, with the token's principal.
async fn token_doctor<S: Store>(
    st: &WebState<S>,
    headers: &HeaderMap,
    iseki: &str,
) -> Result<(Principal, Uuid), ApiError> {
    let who = crate::shell::auth::principal(st, headers).await?;
    let doctor = named_doctor(st, &who, iseki).await?;
    Ok((who, doctor))
}

/// The doctor a path names by 医籍登録番号, as `who` may learn of it.
async fn named_doctor<S: Store>(
    st: &WebState<S>,
    who: &Principal,
    iseki: &str,
) -> Result<Uuid, ApiError> {
    let iseki = IsekiNumber::parse(iseki).map_err(|_| bad("invalid-iseki"))?;
    Ok(cme::doctor_by_iseki(&st.app, who, &iseki).await?)
}

// ---------------------------------------------------------------- handlers

/// The logged-in doctor's own CME standing.
#[utoipa::path(
    get, path = "/api/v1/me/cme/summary",
    tag = "cme",
    security(("session" = [])),
    responses(
        (status = 200, description = "Totals per fiscal year, windows, the next certificate's window with its explanation, certificates", body = dto::CmeSummary),
        (status = 401, description = "No My Page session", body = dto::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The account is not a verified doctor's (identity verification pending, or a staff account)", body = dto::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn my_summary<S: Store>(
    State(st): State<WebState<S>>,
    MaybeUser(user): MaybeUser,
) -> Result<Json<dto::CmeSummary>, ApiError> {
    let (who, doctor) = session_doctor(user)?;
    let s = cme::summary(&st.app, &who, doctor, None).await?;
    Ok(Json(summary_dto(&s)))
}

/// The logged-in doctor's own ledger entries.
#[utoipa::path(
    get, path = "/api/v1/me/cme/ledger",
    tag = "cme",
    security(("session" = [])),
    params(
        ("fy" = Option<i32>, Query, minimum = 1900, maximum = 9998, description = "Only this fiscal year (e.g. 2025)"),
        ("code" = Option<u16>, Query, minimum = 0, maximum = 83, description = "Only this curriculum code (0–83)"),
        ("source" = Option<String>, Query, pattern = "^(training|e_learning|journal_quiz|declaration|staff_adjustment|prior_system)$", description = "Only this source: training, e_learning, journal_quiz, declaration, staff_adjustment, prior_system"),
    ),
    responses(
        (status = 200, description = "The entries passing the filters, oldest first", body = dto::CmeLedger),
        (status = 400, description = "A bad filter value or an unknown parameter; `detail` names it", body = dto::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No My Page session", body = dto::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The account is not a verified doctor's", body = dto::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`fy` is a number outside 1900–9998 or `code` a number that is no curriculum code", body = dto::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn my_ledger<S: Store>(
    State(st): State<WebState<S>>,
    MaybeUser(user): MaybeUser,
    RawQuery(q): RawQuery,
) -> Result<Json<dto::CmeLedger>, ApiError> {
    let (who, doctor) = session_doctor(user)?;
    let filter = filter_of(q.as_deref())?;
    let s = cme::summary(&st.app, &who, doctor, None).await?;
    Ok(Json(ledger_dto(&s, &filter)))
}

/// A doctor's CME standing, for staff tokens whose scope covers the doctor (audited as `cme.view`).
#[utoipa::path(
    get, path = "/api/v1/doctors/{iseki}/cme/summary",
    tag = "cme",
    params(("iseki" = String, Path, pattern = "^[1-9][0-9]{0,6}$", example = "123456", description = "医籍登録番号 of the doctor (1–7 digits, no leading zero)")),
    responses(
        (status = 200, description = "OK", body = dto::CmeSummary),
        (status = 400, description = "Malformed 医籍登録番号", body = dto::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = dto::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The doctor is outside the token's scope", body = dto::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No doctor with this number", body = dto::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn doctor_summary<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    axum::Extension(ClientAddr(ip)): axum::Extension<ClientAddr>,
    Path(iseki): Path<String>,
) -> Result<Json<dto::CmeSummary>, ApiError> {
    let (who, doctor) = token_doctor(&st, &headers, &iseki).await?;
    let s = cme::summary(&st.app, &who, doctor, Some(ip.to_string())).await?;
    Ok(Json(summary_dto(&s)))
}

/// A doctor's ledger entries, for staff tokens whose scope covers the doctor (audited as `cme.view`).
#[utoipa::path(
    get, path = "/api/v1/doctors/{iseki}/cme/ledger",
    tag = "cme",
    params(
        ("iseki" = String, Path, pattern = "^[1-9][0-9]{0,6}$", example = "123456", description = "医籍登録番号 of the doctor (1–7 digits, no leading zero)"),
        ("fy" = Option<i32>, Query, minimum = 1900, maximum = 9998, description = "Only this fiscal year (e.g. 2025)"),
        ("code" = Option<u16>, Query, minimum = 0, maximum = 83, description = "Only this curriculum code (0–83)"),
        ("source" = Option<String>, Query, pattern = "^(training|e_learning|journal_quiz|declaration|staff_adjustment|prior_system)$", description = "Only this source: training, e_learning, journal_quiz, declaration, staff_adjustment, prior_system"),
    ),
    responses(
        (status = 200, description = "The entries passing the filters, oldest first", body = dto::CmeLedger),
        (status = 400, description = "Malformed 医籍登録番号, a bad filter value or an unknown parameter; `detail` names it", body = dto::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = dto::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The doctor is outside the token's scope", body = dto::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No doctor with this number", body = dto::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`fy` is a number outside 1900–9998 or `code` a number that is no curriculum code", body = dto::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn doctor_ledger<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    axum::Extension(ClientAddr(ip)): axum::Extension<ClientAddr>,
    Path(iseki): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Json<dto::CmeLedger>, ApiError> {
    let (who, doctor) = token_doctor(&st, &headers, &iseki).await?;
    let filter = filter_of(q.as_deref())?;
    let s = cme::summary(&st.app, &who, doctor, Some(ip.to_string())).await?;
    Ok(Json(ledger_dto(&s, &filter)))
}

/// Adds a staff adjustment to a doctor's ledger (tokens with the right to edit credits over the
/// doctor; audited as `cme.adjust`).
#[utoipa::path(
    post, path = "/api/v1/doctors/{iseki}/cme/adjustments",
    tag = "cme",
    params(("iseki" = String, Path, pattern = "^[1-9][0-9]{0,6}$", example = "123456", description = "医籍登録番号 of the doctor (1–7 digits, no leading zero)")),
    request_body = dto::CmeAdjustmentRequest,
    responses(
        (status = 201, description = "The entry written", body = dto::CmeEntry),
        (status = 400, description = "A malformed field (a date that is no date, a code that is no integer, units that are no multiple of 0.5, a missing reason), an unknown field or a body that is not JSON; `detail` names the field", body = dto::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = dto::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The doctor is outside the token's scope, the token's role may not edit credits, or the request carries only a My Page session (sessions never write here)", body = dto::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No doctor with this number", body = dto::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A well-formed value outside what is allowed (units zero or beyond ±100, a code not in the catalogue, a reason empty or over 500 characters, a date in the future; `code` is `unprocessable` and `detail` names the field), or the net of the doctor's (fiscal year, code) would fall below zero (`code` is `negative-net`; the body lists the nets by source: cancel an entry with its reversal instead)", body = dto::CmeAdjustmentUnprocessable, content_type = "application/problem+json"),
    )
)]
pub async fn adjust<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    MaybeUser(user): MaybeUser,
    axum::Extension(ClientAddr(ip)): axum::Extension<ClientAddr>,
    rid: Option<axum::Extension<RequestId>>,
    Path(iseki): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = writer(&st, &headers, &user).await?;
    let input = adjustment(&body)?;
    let doctor = named_doctor(&st, &who, &iseki).await?;
    match cme::adjust(&st.app, &who, doctor, input, Some(ip.to_string())).await {
        Ok(e) => Ok((StatusCode::CREATED, Json(entry_dto(&e, None))).into_response()),
        Err(AdjustError::Credit(e)) => Err(e.into()),
        Err(AdjustError::NegativeNet(n)) => Ok(negative_net(
            &st,
            &headers,
            rid.map(|r| r.0.0).unwrap_or_default(),
            &n,
        )),
    }
}

/// The 422 problem document of an adjustment that would take a net below zero.
fn negative_net<S: Store>(
    st: &WebState<S>,
    headers: &HeaderMap,
    request_id: String,
    n: &NegativeNet,
) -> Response {
    let lang = api_lang(headers);
    let cat = &st.shared.catalogues;
    let nets: Vec<String> = n
        .by_source
        .iter()
        .map(|(s, u)| {
            let name = cat.text(
                lang,
                &format!("mycme-source-{}", s.as_str().replace('_', "-")),
                &[],
            );
            format!("{name} {u}")
        })
        .collect();
    let (fy, code, requested, net) = (
        n.fiscal_year.year().to_string(),
        n.code.to_string(),
        n.requested.to_string(),
        n.net.to_string(),
    );
    let detail = cat.text(
        lang,
        "mycme-api-negative-net",
        &[
            ("year", &fy),
            ("code", &code),
            ("extra", &requested),
            ("total", &net),
            ("detail", &nets.join(", ")),
        ],
    );
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    let body = dto::CmeAdjustmentRefusal {
        kind: format!(
            "{}/problems/negative-net",
            st.app.config.base_url.as_str().trim_end_matches('/')
        ),
        title: status.canonical_reason().unwrap_or("error").to_owned(),
        status: status.as_u16(),
        detail,
        code: "negative-net".into(),
        request_id,
        fiscal_year: n.fiscal_year.year(),
        curriculum_code: n.code,
        requested: units(n.requested),
        net: units(n.net),
        nets: n
            .by_source
            .iter()
            .map(|(s, u)| dto::CmeNetBySource {
                source: s.as_str().to_owned(),
                units: units(*u),
            })
            .collect(),
    };
    let mut r = (status, Json(body)).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    r
}

/// The language an API client asked for: Japanese unless English comes first.
fn api_lang(headers: &HeaderMap) -> Lang {
    let first = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .unwrap_or("");
    if first.trim().to_ascii_lowercase().starts_with("en") {
        Lang::En
    } else {
        Lang::Ja
    }
}

/// Reverses a ledger entry: a new entry with the negated units, same fiscal year and code
/// (audited as `cme.reverse`). A reversal cannot itself be reversed (400); an entry is reversed
/// at most once (409).
#[utoipa::path(
    post, path = "/api/v1/cme/entries/{id}/reversal",
    tag = "cme",
    params(("id" = String, Path, format = Uuid, description = "The entry's id")),
    request_body = dto::CmeReversalRequest,
    responses(
        (status = 201, description = "The reversal entry written", body = dto::CmeEntry),
        (status = 400, description = "A missing reason, an unknown field, a malformed id, or the entry is itself a reversal", body = dto::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = dto::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The entry's doctor is outside the token's scope, the token's role may not edit credits, or the request carries only a My Page session", body = dto::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entry", body = dto::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The entry is already reversed", body = dto::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The reason is empty or over 500 characters", body = dto::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn reverse<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    MaybeUser(user): MaybeUser,
    axum::Extension(ClientAddr(ip)): axum::Extension<ClientAddr>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<dto::CmeEntry>), ApiError> {
    let who = writer(&st, &headers, &user).await?;
    let id = Uuid::parse_str(id.trim()).map_err(|_| bad("mycme-api-bad-entry-id"))?;
    let reason = reason(&body)?;
    let e = cme::reverse(&st.app, &who, id, &reason, Some(ip.to_string())).await?;
    Ok((StatusCode::CREATED, Json(entry_dto(&e, None))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_as_exact_half_steps() {
        for (s, half) in [
            ("1.5", 3),
            ("-2", -4),
            ("+0.5", 1),
            ("2.50", 5),
            ("3.0", 6),
            (" 10 ", 20),
        ] {
            assert_eq!(parse_decimal_units(s), Some(HalfUnits::new(half)), "{s}");
        }
        for s in ["", "1.25", "1.", ".5", "abc", "1e3", "--1", "12345678"] {
            assert_eq!(parse_decimal_units(s), None, "{s}");
        }
        assert_eq!(
            half_units_of(&serde_json::json!(1.5)),
            Some(HalfUnits::new(3))
        );
        assert_eq!(half_units_of(&serde_json::json!(0.3)), None);
        assert_eq!(half_units_of(&serde_json::json!(true)), None);
    }

    #[test]
    fn adjustments_name_the_bad_field() {
        let ok =
            adjustment(br#"{"date":"2025-06-01","code":12,"units":"1.5","reason":"r"}"#).unwrap();
        assert_eq!((ok.code, ok.half_units), (12, HalfUnits::new(3)));
        for (body, key) in [
            (&br#"[1]"#[..], "mycme-api-bad-json"),
            (
                br#"{"date":"2025-06-01","code":12,"units":1,"reason":"r","x":1}"#,
                "mycme-api-unknown-field",
            ),
            (
                br#"{"date":"1 June","code":12,"units":1,"reason":"r"}"#,
                "mycme-api-bad-date",
            ),
            (
                br#"{"date":"2025-06-01","code":"x","units":1,"reason":"r"}"#,
                "mycme-credit-unknown-code",
            ),
            (
                br#"{"date":"2025-06-01","code":12,"units":"0.3","reason":"r"}"#,
                "mycme-credit-bad-amount",
            ),
            (
                br#"{"date":"2025-06-01","code":12,"units":1}"#,
                "mycme-credit-bad-reason",
            ),
        ] {
            match adjustment(body) {
                Err(ApiError(Failure::BadRequest(k))) => assert_eq!(k, key),
                other => panic!("{key}: {other:?}"),
            }
        }
    }
}
