//! The training API: sessions and attendee-list imports for associations' systems.
//!
//! Bearer API tokens as in the rest of `/api/v1`; who may manage which organiser's sessions is
//! decided in [`mamis_app::training`]. Refusals the generic error mapping cannot word — input
//! with a specific reason (400), a programme the domain rejects (422), an attendee list with
//! problems (422, every line named) — are answered here as RFC 9457 problems in the language of
//! `Accept-Language` (Japanese first).

use axum::body::{Body, to_bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use mamis_api_types as dto;
use mamis_app::training::attendees::{self, Problem};
use mamis_app::training::import::{DiffLine, ImportPlan};
use mamis_app::training::{self, DEFAULT_GRACE_MINUTES, ItemInput, SessionInput, TrainingError};
use mamis_domain::time::japan;
use mamis_domain::training::{CodePart, ItemKind, NonCreditKind, Venue};
use mamis_domain::{AssociationCode, DomainError, Timestamp};
use mamis_store::{Organiser, Store, TrainingSession};
use uuid::Uuid;

use crate::WebState;
use crate::shell::client_addr::ClientAddr;
use crate::shell::error::ApiError;
use crate::shell::i18n::{Arg, Lang};
use crate::shell::middleware::RequestId;

/// The routes of the training API.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route(
            "/api/v1/training/sessions",
            get(list_sessions::<S>).post(create_session::<S>),
        )
        .route(
            "/api/v1/training/sessions/{id}/attendance",
            post(upload_attendance::<S>),
        )
}

/// Bytes read of an attendee list: the app's limit plus room for a header line, so a file just
/// over the limit still gets the app's own "too large" problem rather than a bare 413.
const MAX_UPLOAD: usize = attendees::MAX_BYTES + 64 * 1024;

/// Page size of the session list when none is asked for.
const DEFAULT_LIMIT: u32 = 50;

// ---------------------------------------------------------------- refusals

/// A refusal worded by this module: status, stable code, message key and its arguments.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    code: &'static str,
    key: &'static str,
    args: Vec<(&'static str, String)>,
}

impl Refusal {
    fn bad(code: &'static str, key: &'static str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            key,
            args: Vec::new(),
        }
    }

    fn with(mut self, name: &'static str, value: impl ToString) -> Self {
        self.args.push((name, value.to_string()));
        self
    }

    fn unprocessable(code: &'static str, key: &'static str) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            ..Self::bad(code, key)
        }
    }
}

/// What a handler answers with besides success: a refusal of its own, or the common mapping.
#[derive(Debug)]
enum Fail {
    Refused(Refusal),
    Api(ApiError),
}

impl From<ApiError> for Fail {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<Refusal> for Fail {
    fn from(r: Refusal) -> Self {
        Self::Refused(r)
    }
}

impl From<TrainingError> for Fail {
    fn from(e: TrainingError) -> Self {
        match refusal_of(e) {
            Ok(r) => Self::Refused(r),
            Err(a) => Self::Api(a.into()),
        }
    }
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

/// What every answer of a request needs: catalogue, language, base URL and request id.
struct Answer<'a, S: Store> {
    st: &'a WebState<S>,
    lang: Lang,
    request_id: String,
}

impl<'a, S: Store> Answer<'a, S> {
    fn new(st: &'a WebState<S>, headers: &HeaderMap, rid: Option<RequestId>) -> Self {
        Self {
            st,
            lang: api_lang(headers),
            request_id: rid.map(|r| r.0).unwrap_or_default(),
        }
    }

    fn text(&self, key: &str, args: &[(&str, String)]) -> String {
        let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.st.shared.catalogues.text(self.lang, key, &args)
    }

    /// The problem document's standard members.
    fn problem(&self, status: StatusCode, code: &str, detail: String) -> dto::Problem {
        dto::Problem {
            kind: format!(
                "{}/problems/{code}",
                self.st.app.config.base_url.as_str().trim_end_matches('/')
            ),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail,
            code: code.to_owned(),
            request_id: self.request_id.clone(),
        }
    }

    fn refusal(&self, r: Refusal) -> Response {
        let detail = self.text(r.key, &r.args);
        problem_response(r.status, &self.problem(r.status, r.code, detail))
    }

    fn finish(&self, r: Result<Response, Fail>) -> Response {
        match r {
            Ok(r) => r,
            Err(Fail::Refused(r)) => self.refusal(r),
            Err(Fail::Api(e)) => e.into_response(),
        }
    }

    /// One problem of a list, in the client's language where the catalogue has the message.
    fn list_problem(&self, p: &Problem) -> dto::TrainingImportProblem {
        let id = p.message_id();
        let args = p.args();
        let args: Vec<(&str, Arg<'_>)> =
            args.iter().map(|(k, v)| (*k, problem_arg(k, v))).collect();
        let text = self.st.shared.catalogues.message(self.lang, id, &args);
        dto::TrainingImportProblem {
            line: p.line,
            column: p.column.clone(),
            // The register's kana named or not, the stable kind is one.
            code: match id {
                "attendees-problem-register-kana" => "register_mismatch".to_owned(),
                _ => id
                    .strip_prefix("attendees-problem-")
                    .unwrap_or(id)
                    .replace('-', "_"),
            },
            message: if text == id { p.english() } else { text },
        }
    }

    /// 422 (413 for an unread oversized file) naming every problem found, with nothing written.
    fn import_refusal(&self, plan: &ImportPlan) -> Response {
        let list = &plan.list;
        let too_large = list
            .problems
            .iter()
            .any(|p| matches!(p.kind, attendees::ProblemKind::TooLarge { .. }));
        let (status, code) = if too_large {
            (StatusCode::PAYLOAD_TOO_LARGE, "attendee-list-too-large")
        } else {
            (StatusCode::UNPROCESSABLE_ENTITY, "attendee-list-refused")
        };
        let detail = self.st.shared.catalogues.message(
            self.lang,
            "training-api-refused",
            &[(
                "number",
                Arg::Count(i64::try_from(list.total_problems).unwrap_or(i64::MAX)),
            )],
        );
        let p = self.problem(status, code, detail);
        let body = dto::TrainingImportRefusal {
            kind: p.kind,
            title: p.title,
            status: p.status,
            detail: p.detail,
            code: p.code,
            request_id: p.request_id,
            encoding: list.encoding.to_owned(),
            rows: list.rows,
            problems: list.problems.iter().map(|x| self.list_problem(x)).collect(),
            total_problems: list.total_problems,
        };
        problem_response(status, &body)
    }
}

fn problem_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let mut r = (status, Json(body)).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    r
}

/// The refusal explaining a domain rule the input broke, naming the item or code at fault.
fn domain_refusal(e: &DomainError) -> Refusal {
    let r = |code, key| Refusal::unprocessable(code, key);
    match e {
        DomainError::TrainingTitle => r("title", "training-api-title"),
        DomainError::VenuePlace => r("venue-place", "training-api-venue-place"),
        DomainError::SessionTimes => r("session-times", "training-api-session-times"),
        DomainError::ExpectedHeadcount => r("expected-headcount", "training-api-headcount"),
        DomainError::ItemMinutes(n) => {
            r("item-minutes", "training-api-item-minutes").with("number", n)
        }
        DomainError::ItemWithoutCode => r("item-without-code", "training-api-item-without-code"),
        DomainError::SplitPartMinutes { minutes, step } => {
            r("split-part-minutes", "training-api-split-minutes")
                .with("number", minutes)
                .with("total", step)
        }
        DomainError::SplitPartsSum { parts, item } => {
            r("split-parts-sum", "training-api-split-sum")
                .with("total", parts)
                .with("number", item)
        }
        DomainError::DuplicateItemCode(c) => {
            r("duplicate-item-code", "training-api-duplicate-code").with("number", c)
        }
        DomainError::UnknownCurriculumCode { number, .. } => {
            r("unknown-curriculum-code", "training-api-unknown-code").with("number", number)
        }
        DomainError::ItemOutsideSession { item } => {
            r("item-outside-session", "training-api-item-outside").with("number", item)
        }
        DomainError::ItemsOverlap { first, second } => {
            r("items-overlap", "training-api-items-overlap")
                .with("from", first)
                .with("to", second)
        }
        other => r("invalid", "training-api-invalid").with("detail", other),
    }
}

/// The refusal of a training use case's own failure; `Err` for the general ones (401, 403,
/// 404, 5xx), which the common mapping words.
fn refusal_of(e: TrainingError) -> Result<Refusal, mamis_app::AppError> {
    let conflict = |code, key| Refusal {
        status: StatusCode::CONFLICT,
        ..Refusal::bad(code, key)
    };
    Ok(match e {
        TrainingError::App(mamis_app::AppError::Invalid(d)) => domain_refusal(&d),
        TrainingError::App(a) => return Err(a),
        TrainingError::Grace => Refusal::unprocessable("grace", "training-api-grace"),
        TrainingError::TooManyItems => {
            Refusal::unprocessable("too-many-items", "training-api-too-many-items")
        }
        TrainingError::Closed => conflict("closed", "training-api-closed"),
        TrainingError::ProgrammeFixed => {
            conflict("programme-fixed", "training-api-programme-fixed")
        }
        // capture failures: not reachable through this API, worded in English if they ever are
        other => conflict("conflict", "training-api-invalid").with("detail", other),
    })
}

// ---------------------------------------------------------------- conversions

fn instant(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `P13-0001` or `org:<uuid>`.
fn parse_organiser(s: &str) -> Option<Organiser> {
    let s = s.trim();
    match s.strip_prefix("org:") {
        Some(id) => Uuid::parse_str(id.trim()).ok().map(Organiser::Organisation),
        None => AssociationCode::parse(s).ok().map(Organiser::Association),
    }
}

fn organiser_str(o: &Organiser) -> String {
    match o {
        Organiser::Association(c) => c.to_string(),
        Organiser::Organisation(id) => format!("org:{id}"),
    }
}

/// RFC 3339, or a date and time without offset read as Japan time (what organisers type).
fn parse_instant(s: &str) -> Result<Timestamp, Refusal> {
    let t = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    .and_then(|n| japan().from_local_datetime(&n).single())
    .map(|d| d.with_timezone(&Utc))
    .ok_or_else(|| Refusal::bad("bad-time", "training-api-bad-time").with("detail", t))
}

fn venue_dto(v: &Venue) -> dto::TrainingVenue {
    let (kind, place) = match v {
        Venue::InPerson(p) => ("in_person", Some(p.clone())),
        Venue::Online => ("online", None),
        Venue::Hybrid(p) => ("hybrid", Some(p.clone())),
    };
    dto::TrainingVenue {
        kind: kind.to_owned(),
        place,
    }
}

fn parse_venue(v: &dto::TrainingVenue) -> Result<Venue, Refusal> {
    let place = || v.place.clone().unwrap_or_default();
    match v.kind.trim() {
        "in_person" => Ok(Venue::InPerson(place())),
        "online" => Ok(Venue::Online),
        "hybrid" => Ok(Venue::Hybrid(place())),
        _ => Err(Refusal::bad("bad-venue", "training-api-bad-venue")),
    }
}

fn parse_item(i: &dto::TrainingItemRequest) -> Result<ItemInput, Refusal> {
    let kind = match i.kind.trim() {
        "credit" => ItemKind::Credit {
            parts: i
                .parts
                .iter()
                .map(|p| CodePart {
                    code: p.code,
                    minutes: p.minutes,
                })
                .collect(),
        },
        k => {
            let nc = NonCreditKind::parse(k)
                .map_err(|_| Refusal::bad("bad-kind", "training-api-bad-kind").with("detail", k))?;
            if !i.parts.is_empty() {
                return Err(
                    Refusal::bad("parts-not-credit", "training-api-parts-not-credit")
                        .with("detail", k),
                );
            }
            ItemKind::NonCredit(nc)
        }
    };
    Ok(ItemInput {
        id: None,
        title: i.title.clone(),
        start: parse_instant(&i.start)?,
        minutes: i.minutes,
        kind,
    })
}

/// Reads a session to register; the error says which field to fix.
fn session_input(body: &[u8]) -> Result<SessionInput, Refusal> {
    let r: dto::TrainingSessionRequest = serde_json::from_slice(body)
        .map_err(|e| Refusal::bad("bad-json", "training-api-bad-json").with("detail", e))?;
    Ok(SessionInput {
        organiser: parse_organiser(&r.organiser)
            .ok_or_else(|| Refusal::bad("bad-organiser", "training-api-bad-organiser"))?,
        title: r.title,
        venue: parse_venue(&r.venue)?,
        start: parse_instant(&r.start)?,
        end: parse_instant(&r.end)?,
        expected_headcount: r.expected_headcount,
        desk_scan_only: r.desk_scan_only,
        grace_minutes: r.grace_minutes.unwrap_or(DEFAULT_GRACE_MINUTES),
        items: r.items.iter().map(parse_item).collect::<Result<_, _>>()?,
    })
}

fn session_dto(s: &TrainingSession) -> dto::TrainingSession {
    dto::TrainingSession {
        id: s.id.to_string(),
        organiser: organiser_str(&s.organiser),
        title: s.title.clone(),
        venue: venue_dto(&s.venue),
        start: instant(s.start),
        end: instant(s.end),
        expected_headcount: s.expected_headcount,
        desk_scan_only: s.desk_scan_only,
        grace_minutes: s.grace_minutes,
        approval: s.approval.as_ref().map(|a| dto::TrainingApproval {
            number: a.number.clone(),
            at: instant(a.at),
        }),
        closed_at: s.closed_at.map(instant),
    }
}

/// A list problem's argument for Fluent: counts as numbers (plural variants select on them),
/// the rest as text.
pub(super) fn problem_arg<'a>(name: &str, value: &'a str) -> Arg<'a> {
    match value.parse::<i64>() {
        Ok(n) if Problem::COUNT_ARGS.contains(&name) => Arg::Count(n),
        _ => Arg::Text(value),
    }
}

fn diff_dto(l: &DiffLine) -> dto::TrainingDiffLine {
    dto::TrainingDiffLine {
        iseki_number: l.iseki.to_string(),
        check_in: instant(l.in_at),
        check_out: instant(l.out_at),
        pending: l.pending,
    }
}

fn import_dto(session: Uuid, p: &ImportPlan) -> dto::TrainingImportResult {
    dto::TrainingImportResult {
        session: session.to_string(),
        encoding: p.list.encoding.to_owned(),
        rows: p.list.rows,
        added: p.added,
        removed: p.removed,
        unchanged: p.unchanged,
        attendees: p.attendees,
        pending: p.pending,
        applied: p.applied,
        credited: p.settled.written,
        reversed: p.settled.reversed,
        added_lines: p.added_lines.iter().map(diff_dto).collect(),
        removed_lines: p.removed_lines.iter().map(diff_dto).collect(),
    }
}

fn query_pairs(q: Option<&str>) -> Result<Vec<(String, String)>, Refusal> {
    crate::shell::fmt::query_pairs(q).ok_or_else(|| Refusal::bad("bad-request", "invalid-query"))
}

// ---------------------------------------------------------------- handlers

/// An organiser's sessions, latest first.
#[utoipa::path(
    get, path = "/api/v1/training/sessions",
    tag = "training",
    params(
        ("organiser" = String, Query, pattern = "^(JMA|P(0[1-9]|[1-3][0-9]|4[0-7])(-([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3}))?|org:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$", example = "P13-0001", description = "`P13-0001` for an association, `org:<uuid>` for an outside organisation"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "1–200, default 50"),
        ("offset" = Option<u32>, Query, description = "Sessions to skip, default 0"),
    ),
    responses(
        (status = 200, description = "One page of the organiser's sessions", body = dto::TrainingSessionsPage),
        (status = 400, description = "A missing or malformed parameter; `detail` names it", body = dto::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = dto::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token may not manage this organiser's training", body = dto::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such outside organisation", body = dto::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`limit` is a number outside 1–200", body = dto::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_sessions<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    rid: Option<axum::Extension<RequestId>>,
    RawQuery(q): RawQuery,
) -> Response {
    let a = Answer::new(&st, &headers, rid.map(|e| e.0));
    let r = async {
        let who = crate::shell::auth::principal(&st, &headers).await?;
        let (mut organiser, mut limit, mut offset) = (None, DEFAULT_LIMIT, 0u32);
        for (k, v) in query_pairs(q.as_deref())? {
            match k.as_str() {
                "organiser" => {
                    organiser = Some(parse_organiser(&v).ok_or_else(|| {
                        Refusal::bad("bad-organiser", "training-api-bad-organiser")
                    })?)
                }
                "limit" => {
                    // a number outside 1–200 is well-formed but not allowed: 422, not 400
                    let n: i64 = v
                        .trim()
                        .parse()
                        .map_err(|_| Refusal::bad("bad-limit", "training-api-bad-limit"))?;
                    limit = u32::try_from(n)
                        .ok()
                        .filter(|n| (1..=200).contains(n))
                        .ok_or_else(|| {
                            Refusal::unprocessable("bad-limit", "training-api-bad-limit")
                        })?
                }
                "offset" => {
                    offset = v
                        .trim()
                        .parse()
                        .map_err(|_| Refusal::bad("bad-offset", "training-api-bad-offset"))?
                }
                _ => return Err(Refusal::bad("bad-request", "invalid-query").into()),
            }
        }
        let organiser =
            organiser.ok_or_else(|| Refusal::bad("bad-organiser", "training-api-bad-organiser"))?;
        let sessions = training::sessions_of(&st.app, &who, &organiser, limit, offset).await?;
        Ok::<_, Fail>(
            Json(dto::TrainingSessionsPage {
                organiser: organiser_str(&organiser),
                offset,
                limit,
                sessions: sessions.iter().map(session_dto).collect(),
            })
            .into_response(),
        )
    }
    .await;
    a.finish(r)
}

/// Registers a session with its programme (audited as `training.create`).
#[utoipa::path(
    post, path = "/api/v1/training/sessions",
    tag = "training",
    request_body = dto::TrainingSessionRequest,
    responses(
        (status = 201, description = "The session registered", body = dto::TrainingSession),
        (status = 400, description = "Unreadable JSON, an unknown field, or a malformed organiser, time, venue kind or item kind; `detail` says which", body = dto::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = dto::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token may not manage this organiser's training", body = dto::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such outside organisation", body = dto::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The session or its programme breaks a rule (times, title, code parts, overlapping items, grace); `code` names the rule and `detail` the item or code at fault", body = dto::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_session<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    rid: Option<axum::Extension<RequestId>>,
    axum::Extension(ClientAddr(ip)): axum::Extension<ClientAddr>,
    body: axum::body::Bytes,
) -> Response {
    let a = Answer::new(&st, &headers, rid.map(|e| e.0));
    let r = async {
        let who = crate::shell::auth::principal(&st, &headers).await?;
        let input = session_input(&body)?;
        let s = training::create(&st.app, &who, input, Some(ip.to_string())).await?;
        Ok::<_, Fail>((StatusCode::CREATED, Json(session_dto(&s))).into_response())
    }
    .await;
    a.finish(r)
}

/// Whether `Content-Type` (when given) says the body is the CSV file itself.
fn csv_body(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_none_or(|m| {
            matches!(
                m.as_str(),
                "text/csv" | "text/plain" | "application/octet-stream" | "application/csv"
            )
        })
}

/// Uploads a session's complete attendee list (出席者名簿) and shows the difference from what
/// is recorded (`dry_run=true`, the default) or applies it: adds intervals, withdraws those
/// no longer listed (reversing their credits) and credits the rest (audited as
/// `training.attendees.import`). The same file again changes nothing. A file with any problem
/// is refused whole, every wrong line named.
#[utoipa::path(
    post, path = "/api/v1/training/sessions/{id}/attendance",
    tag = "training",
    params(
        ("id" = String, Path, format = Uuid, description = "The session's id"),
        ("dry_run" = Option<bool>, Query, description = "`true` (default): only show the difference; `false`: apply it"),
    ),
    request_body(content = inline(dto::AttendeeListCsv), content_type = "text/csv", description = "The attendee list as a CSV file (UTF-8 or CP932, at most 20 MB): a header line with 医籍登録番号|iseki_number and optionally 氏名カナ|name_kana (or 氏カナ and 名カナ), 生年月日|birth_date, 入室|check_in, 退室|check_out; lines without times mean the whole session. The list's own export is accepted as is."),
    responses(
        (status = 200, description = "The difference (dry run) or what was applied", body = dto::TrainingImportResult),
        (status = 400, description = "A malformed session id or query parameter", body = dto::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked token", body = dto::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No session of an organiser the token manages", body = dto::Problem, content_type = "application/problem+json"),
        (status = 413, description = "The file is over 20 MB; nothing was read", body = dto::TrainingImportRefusal, content_type = "application/problem+json"),
        (status = 415, description = "The body is not a CSV file (send `Content-Type: text/csv`)", body = dto::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The list has problems and nothing was written; `problems` names each line and column", body = dto::TrainingImportRefusal, content_type = "application/problem+json"),
    )
)]
pub async fn upload_attendance<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    rid: Option<axum::Extension<RequestId>>,
    axum::Extension(ClientAddr(ip)): axum::Extension<ClientAddr>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Body,
) -> Response {
    let a = Answer::new(&st, &headers, rid.map(|e| e.0));
    let r = async {
        // the token first: nobody unauthenticated gets a 20 MB body read
        let who = crate::shell::auth::principal(&st, &headers).await?;
        let id = Uuid::parse_str(id.trim())
            .map_err(|_| Refusal::bad("bad-session-id", "training-api-bad-session-id"))?;
        let mut dry_run = true;
        for (k, v) in query_pairs(q.as_deref())? {
            match (k.as_str(), v.trim()) {
                ("dry_run", "true" | "1") => dry_run = true,
                ("dry_run", "false" | "0") => dry_run = false,
                ("dry_run", _) => {
                    return Err(Refusal::bad("bad-dry-run", "training-api-bad-dry-run").into());
                }
                _ => return Err(Refusal::bad("bad-request", "invalid-query").into()),
            }
        }
        if !csv_body(&headers) {
            return Err(Refusal {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ..Refusal::bad("unsupported-media-type", "training-api-media-type")
            }
            .into());
        }
        let Ok(bytes) = to_bytes(body, MAX_UPLOAD).await else {
            return Err(Refusal {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                ..Refusal::bad("attendee-list-too-large", "training-api-too-large")
                    .with("number", attendees::MAX_BYTES / (1024 * 1024))
            }
            .into());
        };
        let plan =
            training::import::import(&st.app, &who, id, &bytes, !dry_run, Some(ip.to_string()))
                .await?;
        if !plan.ok() {
            return Ok(a.import_refusal(&plan));
        }
        Ok::<_, Fail>(Json(import_dto(id, &plan)).into_response())
    }
    .await;
    a.finish(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisers_and_instants_read_as_documented() {
        assert_eq!(
            parse_organiser(" P13-0001 ")
                .map(|o| organiser_str(&o))
                .as_deref(),
            Some("P13-0001")
        );
        let id = Uuid::from_u128(7);
        assert_eq!(
            parse_organiser(&format!("org:{id}")),
            Some(Organiser::Organisation(id))
        );
        assert!(parse_organiser("org:nope").is_none());
        assert!(parse_organiser("Tokyo").is_none());
        let t = parse_instant("2026-06-01T10:00:00+09:00").unwrap();
        assert_eq!(instant(t), "2026-06-01T01:00:00Z");
        assert_eq!(parse_instant("2026-06-01 10:00").unwrap(), t, "Japan time");
        let e = parse_instant("June 1st").unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, "bad-time"));
    }

    #[test]
    fn programme_input_names_the_field_at_fault() {
        let ok = br#"{"organiser":"P13-0001","title":"t","venue":{"kind":"online"},
            "start":"2026-06-01T10:00:00+09:00","end":"2026-06-01T11:00:00+09:00",
            "items":[{"title":"a","start":"2026-06-01T10:00:00+09:00","minutes":60,
                      "kind":"credit","parts":[{"code":10,"minutes":60}]},
                     {"title":"b","start":"2026-06-01T10:00:00+09:00","minutes":5,"kind":"break"}]}"#;
        let s = session_input(ok).unwrap();
        assert_eq!(s.grace_minutes, DEFAULT_GRACE_MINUTES);
        assert_eq!(s.items[0].kind, ItemKind::single(10, 60));
        assert_eq!(s.items[1].kind, ItemKind::NonCredit(NonCreditKind::Break));
        for (body, code) in [
            (&br#"{"organiser":"P13-0001"}"#[..], "bad-json"),
            (br#"[]"#, "bad-json"),
            (
                br#"{"organiser":"X","title":"t","venue":{"kind":"online"},"start":"2026-06-01T10:00","end":"2026-06-01T11:00","items":[]}"#,
                "bad-organiser",
            ),
            (
                br#"{"organiser":"P13","title":"t","venue":{"kind":"moon"},"start":"2026-06-01T10:00","end":"2026-06-01T11:00","items":[]}"#,
                "bad-venue",
            ),
            (
                br#"{"organiser":"P13","title":"t","venue":{"kind":"online"},"start":"2026-06-01T10:00","end":"2026-06-01T11:00","items":[{"title":"a","start":"2026-06-01T10:00","minutes":5,"kind":"nap"}]}"#,
                "bad-kind",
            ),
            (
                br#"{"organiser":"P13","title":"t","venue":{"kind":"online"},"start":"2026-06-01T10:00","end":"2026-06-01T11:00","items":[{"title":"a","start":"2026-06-01T10:00","minutes":5,"kind":"break","parts":[{"code":1,"minutes":5}]}]}"#,
                "parts-not-credit",
            ),
        ] {
            assert_eq!(session_input(body).unwrap_err().code, code);
        }
    }

    #[test]
    fn domain_refusals_are_422_with_the_item_named() {
        let r = domain_refusal(&DomainError::ItemsOverlap {
            first: 2,
            second: 3,
        });
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.code, "items-overlap");
        assert_eq!(
            r.args,
            vec![("from", "2".to_owned()), ("to", "3".to_owned())]
        );
        assert!(matches!(
            refusal_of(TrainingError::App(mamis_app::AppError::Forbidden)),
            Err(mamis_app::AppError::Forbidden)
        ));
    }
}
