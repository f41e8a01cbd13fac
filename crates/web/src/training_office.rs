//! The back office's training pages: organisers' sessions, attendee lists, the venue screen, the desk scanner and the prefecture's approvals.
//!
//! Handlers extract, call one use case of [`mamis_app::training`] (which authorises), and
//! render. Attendee lists are previewed before anything is written: the uploaded bytes wait in
//! an in-memory staging area of the web state (bounded in bytes, 30 minutes) until the organiser
//! confirms, so the confirmation applies exactly the file that was shown.
//!
//! The upload is a multipart form; the CSRF layer reads tokens from url-encoded bodies and the
//! `X-CSRF-Token` header only, so `upload.js` sends the file with the header.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use askama::Template;
use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{
    DefaultBodyLimit, Form, FromRequest, Multipart, Path, RawQuery, Request, State,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{Duration, NaiveDate, NaiveTime, Utc};
use mamis_app::AppError;
use mamis_app::cme::PROGRAMME;
use mamis_app::training::attendees::{self, ExportRow, Problem};
use mamis_app::training::capture::{self, Captured, DeskInput, DeskResult, Origin};
use mamis_app::training::import::{self, DiffLine, ImportPlan};
use mamis_app::training::{
    self, DEFAULT_GRACE_MINUTES, ItemInput, MAX_ITEMS, SessionInput, SessionView, TrainingError,
};
use mamis_domain::rules::Rules;
use mamis_domain::time::{japan, japan_date, to_japan};
use mamis_domain::training::{CodePart, ItemKind, NonCreditKind, ProgrammeItem, Venue};
use mamis_domain::{
    Action, AssociationCode, AssociationLevel, Catalogue, DomainError, IsekiNumber, Principal,
    Role, Scope, Target, Timestamp,
};
use mamis_store::{
    Organiser, PresenceChannel, RegistryStore, Store, StoredItem, TrainingSession, TrainingStore,
    Tx,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::WebState;
use crate::auth::{RequestOrigin, StaffUser};
use crate::cme::{Fmt, html, query_pairs};
use crate::device::{device_id, remember};
use crate::error::{Failure, PageError};
use crate::i18n::{Catalogues, Lang, domain_error_args, domain_error_key};
use crate::middleware::lang_of;
use crate::pages::{Chrome, PageCtx, page};

type PageResult = Result<Response, PageError>;

/// Request bodies of the upload route: the file's limit plus room for the multipart framing.
const UPLOAD_LIMIT: usize = attendees::MAX_BYTES + 1024 * 1024;

/// A larger upload is still read (and thrown away) up to this size, so the browser gets the
/// "too large" page instead of a connection reset; beyond it the connection is dropped.
const DRAIN_LIMIT: usize = 256 * 1024 * 1024;

/// Sessions listed per organiser on the list page (latest first).
const SESSIONS_SHOWN: u32 = 100;

/// Blank programme rows the form offers.
const BLANK_ROWS: usize = 10;

/// Lines of each side of an upload's difference shown on the preview (the counts cover all).
const DIFF_SHOWN: usize = 100;

/// The routes of this module.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/office/training", get(list::<S>))
        .route("/office/training/new", get(new_form::<S>).post(create::<S>))
        .route("/office/training/approvals", get(approvals::<S>))
        .route("/office/training/{id}", get(session_page::<S>))
        .route("/office/training/{id}/close", post(close::<S>))
        .route(
            "/office/training/{id}/presence/{presence}/remove",
            post(remove::<S>),
        )
        .route("/office/training/{id}/attendees.csv", get(export::<S>))
        .route(
            "/office/training/{id}/attendees",
            post(upload::<S>).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route(
            "/office/training/{id}/attendees/confirm",
            post(confirm::<S>),
        )
        .route("/office/training/{id}/venue", get(venue::<S>))
        .route("/office/training/{id}/venue.json", get(venue_json::<S>))
        .route(
            "/office/training/{id}/desk",
            get(desk_page::<S>).post(desk_post::<S>),
        )
        .route("/office/training/{id}/approve", post(approve::<S>))
        .route(
            "/static/desk.js",
            get(|| asset(JS, include_str!("../static/desk.js"))),
        )
        .route(
            "/static/venue.js",
            get(|| asset(JS, include_str!("../static/venue.js"))),
        )
        .route(
            "/static/upload.js",
            get(|| asset(JS, include_str!("../static/upload.js"))),
        )
        .route(
            "/static/training.css",
            get(|| {
                asset(
                    "text/css; charset=utf-8",
                    include_str!("../static/training.css"),
                )
            }),
        )
        .route(
            "/static/vendor/jsQR.js",
            get(|| asset(JS, include_str!("../static/vendor/jsQR.js"))),
        )
        .route(
            "/static/vendor/jsQR.LICENSE",
            get(|| {
                asset(
                    "text/plain; charset=utf-8",
                    include_str!("../static/vendor/jsQR.LICENSE"),
                )
            }),
        )
}

// ---------------------------------------------------------------- static files

/// The content type of the scripts.
const JS: &str = "text/javascript; charset=utf-8";

/// A static file embedded in the binary, cached for an hour like the stylesheet.
async fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

// ---------------------------------------------------------------- staging of uploads

/// Total bytes of previewed uploads kept at once (ten full-size files); the oldest go first.
const STAGING_MAX_BYTES: usize = 10 * attendees::MAX_BYTES;

/// How long a previewed upload waits for its confirmation.
const STAGING_MINUTES: i64 = 30;

struct Staged {
    session: Uuid,
    account: Uuid,
    bytes: Bytes,
    at: Timestamp,
}

/// Uploaded attendee lists between their preview and the organiser's confirmation, per server
/// process (a restart only means uploading again). Timed by the app clock, so tests can move it.
#[derive(Default)]
pub(crate) struct Staging {
    files: Mutex<HashMap<Uuid, Staged>>,
}

impl Staging {
    /// Keeps `bytes` for `account`'s confirmation on `session`; returns the staging id.
    fn put(&self, session: Uuid, account: Uuid, bytes: Bytes, now: Timestamp) -> Uuid {
        let mut m = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        let ttl = Duration::minutes(STAGING_MINUTES);
        m.retain(|_, s| now - s.at < ttl);
        let mut total: usize = m.values().map(|s| s.bytes.len()).sum();
        while total + bytes.len() > STAGING_MAX_BYTES {
            let Some(oldest) = m.iter().min_by_key(|(_, s)| s.at).map(|(k, _)| *k) else {
                break;
            };
            if let Some(s) = m.remove(&oldest) {
                total -= s.bytes.len();
            }
        }
        let id = Uuid::new_v4();
        m.insert(
            id,
            Staged {
                session,
                account,
                bytes,
                at: now,
            },
        );
        id
    }

    /// Takes the staged file once: `None` when unknown, consumed, expired, or someone else's.
    fn take(&self, id: Uuid, session: Uuid, account: Uuid, now: Timestamp) -> Option<Bytes> {
        let mut m = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = m
            .get(&id)
            .is_some_and(|s| s.session == session && s.account == account);
        if !mine {
            return None;
        }
        let s = m.remove(&id)?;
        (now - s.at < Duration::minutes(STAGING_MINUTES)).then_some(s.bytes)
    }
}

// ---------------------------------------------------------------- shared helpers

/// A message key with its arguments, rendered in the page language when shown.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Msg {
    key: &'static str,
    args: Vec<(&'static str, String)>,
}

impl Msg {
    fn new(key: &'static str) -> Self {
        Self {
            key,
            args: Vec::new(),
        }
    }

    fn with(key: &'static str, args: Vec<(&'static str, String)>) -> Self {
        Self { key, args }
    }

    fn text(&self, cat: &Catalogues, lang: Lang) -> String {
        let args: Vec<(&str, &str)> = self.args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        cat.text(lang, self.key, &args)
    }
}

/// The message of a domain refusal, with its arguments.
fn domain_msg(e: &DomainError) -> Msg {
    match e {
        DomainError::UnknownCurriculumCode { number, .. } => Msg::with(
            "training-office-error-unknown-code",
            vec![("code", number.to_string())],
        ),
        e => Msg::with(domain_error_key(e), domain_error_args(e)),
    }
}

/// The message key of a training refusal the user can act on; `None` for the general ones.
fn refusal_key(e: &TrainingError) -> Option<&'static str> {
    Some(match e {
        TrainingError::App(_) => return None,
        TrainingError::Closed => "training-office-refused-closed",
        TrainingError::ProgrammeFixed => "training-office-refused-programme-fixed",
        TrainingError::Grace => "training-office-error-grace",
        TrainingError::TooManyItems => "training-office-error-too-many-items",
        TrainingError::DeskOnly => "training-office-refused-desk-only",
        TrainingError::VenueCodeExpired => "training-office-refused-venue-code",
        TrainingError::CheckInExpired => "training-office-refused-check-in",
        TrainingError::NotVerified => "training-office-refused-not-verified",
        TrainingError::OtherBrowser => "training-office-refused-other-browser",
        TrainingError::PersonalCodeInvalid => "training-office-refused-personal-code",
        TrainingError::NotAwaitingApproval => "training-office-refused-not-awaiting",
        TrainingError::OutsideHours => "training-office-refused-outside-hours",
    })
}

/// How a training refusal reads as a failure: 400 for input, 403 for the wrong person or
/// browser, 409 for the session's state.
fn failure(e: TrainingError) -> Failure {
    let Some(key) = refusal_key(&e) else {
        return match e {
            TrainingError::App(a) => a.into(),
            _ => Failure::Internal,
        };
    };
    match e {
        TrainingError::Grace
        | TrainingError::TooManyItems
        | TrainingError::VenueCodeExpired
        | TrainingError::CheckInExpired
        | TrainingError::PersonalCodeInvalid => Failure::BadRequest(key),
        TrainingError::NotVerified | TrainingError::OtherBrowser => {
            Failure::Because(Box::new(Failure::Forbidden), key)
        }
        _ => Failure::Because(Box::new(Failure::Conflict), key),
    }
}

/// A training refusal as an error page.
fn fail(e: TrainingError) -> PageError {
    PageError(failure(e))
}

fn store_error(e: mamis_store::StoreError) -> PageError {
    PageError(AppError::from(e).into())
}

/// A session id from the path; anything else is no session of ours.
fn session_id(raw: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(raw).map_err(|_| PageError(Failure::NotFound))
}

/// `HH:MM` in Japan time.
fn hm(t: Timestamp) -> String {
    to_japan(t).format("%H:%M").to_string()
}

/// `YYYY-MM-DD HH:MM` in Japan time.
fn jst(t: Timestamp) -> String {
    mamis_app::identity::jst(t)
}

/// The session's date and times in Japan time, as the page language writes dates.
fn when(f: &Fmt<'_>, start: Timestamp, end: Timestamp) -> String {
    let (s, e) = (japan_date(start), japan_date(end));
    if s == e {
        format!("{} {}–{}", f.date(s), hm(start), hm(end))
    } else {
        format!("{} {} – {} {}", f.date(s), hm(start), f.date(e), hm(end))
    }
}

/// The venue as a line: kind and place.
fn venue_text(f: &Fmt<'_>, v: &Venue) -> String {
    match v {
        Venue::InPerson(p) => f.t("training-office-venue-in-person-at", &[("place", p)]),
        Venue::Online => f.t("training-office-venue-online", &[]),
        Venue::Hybrid(p) => f.t("training-office-venue-hybrid-at", &[("place", p)]),
    }
}

/// Approval state: the label and a class for styling.
fn approval_text(f: &Fmt<'_>, s: &TrainingSession) -> (String, &'static str) {
    match (&s.organiser, &s.approval) {
        (Organiser::Association(_), _) => (f.t("training-office-approval-own", &[]), "own"),
        (Organiser::Organisation(_), Some(a)) => (
            f.t("training-office-approval-number", &[("number", &a.number)]),
            "approved",
        ),
        (Organiser::Organisation(_), None) => {
            (f.t("training-office-approval-waiting", &[]), "waiting")
        }
    }
}

/// The organiser's name as the page shows it: the association's name and code, or the
/// organisation's name (read from the register once the app has authorised the page).
async fn organiser_label<S: Store>(
    st: &WebState<S>,
    o: &Organiser,
    lang: Lang,
) -> Result<String, PageError> {
    let mut tx = st.app.store.read().await.map_err(store_error)?;
    let label = match o {
        Organiser::Association(code) => match tx.association(code).await.map_err(store_error)? {
            Some(a) => {
                let name = if lang == Lang::Ja {
                    a.name_ja
                } else {
                    a.name_en
                };
                format!("{name} ({code})")
            }
            None => code.to_string(),
        },
        Organiser::Organisation(id) => tx
            .organisation(*id)
            .await
            .map_err(store_error)?
            .map(|o| o.name)
            .unwrap_or_default(),
    };
    tx.rollback().await.map_err(store_error)?;
    Ok(label)
}

/// A session as stored, for pages whose use case authorised the caller but does not return
/// the session (the venue screen's title).
async fn stored_session<S: Store>(
    st: &WebState<S>,
    id: Uuid,
) -> Result<TrainingSession, PageError> {
    let mut tx = st.app.store.read().await.map_err(store_error)?;
    let s = tx.training_session(id).await.map_err(store_error)?;
    tx.rollback().await.map_err(store_error)?;
    s.ok_or(PageError(Failure::NotFound))
}

/// Whether the staff member may use the training pages at all (office home's link): a grant
/// that may manage or approve training somewhere.
pub(crate) fn can_use_training(p: &Principal) -> bool {
    let Principal::Staff { grants, .. } = p else {
        return false;
    };
    grants.iter().any(|g| match g.scope() {
        Scope::Association(code) => [Action::ManageTraining, Action::ApproveTraining]
            .into_iter()
            .any(|a| mamis_app::authz::require(p, a, &Target::Association(code)).is_ok()),
        Scope::Organisation(_) => g.role() == Role::Organiser,
    })
}

/// The organisers whose sessions the staff member runs: each association node of a grant that
/// may manage training, and each organisation of an organiser grant.
fn organisers_of(p: &Principal) -> Vec<Organiser> {
    let Principal::Staff { grants, .. } = p else {
        return Vec::new();
    };
    let mut out: Vec<Organiser> = Vec::new();
    for g in grants {
        let o = match g.scope() {
            Scope::Association(code) => {
                let may = mamis_app::authz::require(
                    p,
                    Action::ManageTraining,
                    &Target::Association(code),
                )
                .is_ok();
                if !may {
                    continue;
                }
                Organiser::Association(code.clone())
            }
            Scope::Organisation(id) if g.role() == Role::Organiser => Organiser::Organisation(*id),
            Scope::Organisation(_) => continue,
        };
        if !out.contains(&o) {
            out.push(o);
        }
    }
    out
}

/// The prefectures whose outside sessions the staff member approves (a JMA-wide grant: all 47).
fn approval_prefectures(p: &Principal) -> Vec<AssociationCode> {
    let Principal::Staff { grants, .. } = p else {
        return Vec::new();
    };
    let mut out: Vec<AssociationCode> = Vec::new();
    for g in grants {
        let Scope::Association(code) = g.scope() else {
            continue;
        };
        let candidates: Vec<AssociationCode> = match code.level() {
            AssociationLevel::Jma => (1..=47)
                .filter_map(|n| AssociationCode::prefecture(n).ok())
                .collect(),
            AssociationLevel::Prefecture => vec![code.clone()],
            AssociationLevel::County => Vec::new(),
        };
        for c in candidates {
            let may =
                mamis_app::authz::require(p, Action::ApproveTraining, &Target::Association(&c))
                    .is_ok();
            if may && !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    out
}

/// The `organiser` query value of an organiser: the association code, or the organisation id.
fn organiser_param(o: &Organiser) -> String {
    match o {
        Organiser::Association(code) => code.to_string(),
        Organiser::Organisation(id) => id.to_string(),
    }
}

fn parse_organiser(s: &str) -> Option<Organiser> {
    let s = s.trim();
    if let Ok(id) = Uuid::parse_str(s) {
        return Some(Organiser::Organisation(id));
    }
    AssociationCode::parse(s).ok().map(Organiser::Association)
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

/// Renders one of this module's templates with a status.
fn render(r: Result<String, askama::Error>, status: StatusCode) -> PageResult {
    let mut resp = html(page(r))?;
    *resp.status_mut() = status;
    Ok(resp)
}

// ---------------------------------------------------------------- programme display

/// One code's share of an item, with what it earns.
struct PartRow {
    code: String,
    name: String,
    minutes: u32,
    units: String,
}

/// One programme item as the session and approval pages show it.
struct ItemRow {
    time: String,
    title: String,
    minutes: u32,
    /// The non-credit slot's kind; `None` for a talk.
    non_credit: Option<String>,
    parts: Vec<PartRow>,
}

fn kind_label(f: &Fmt<'_>, k: NonCreditKind) -> String {
    f.t(
        &format!("training-office-kind-{}", k.as_str().replace('_', "-")),
        &[],
    )
}

fn code_name(lang: Lang, version: &str, number: u16) -> String {
    Catalogue::embedded()
        .entries(version)
        .find(|e| e.number == number)
        .map(|e| match lang {
            Lang::Ja => e.name_ja.clone(),
            Lang::En => e.name_en.clone(),
        })
        .unwrap_or_default()
}

/// The programme with the units of each part under the current rules (0.5 steps), and the
/// session's total.
fn programme_rows(
    f: &Fmt<'_>,
    lang: Lang,
    items: &[StoredItem],
) -> Result<(Vec<ItemRow>, String), PageError> {
    let rules = Rules::embedded(PROGRAMME);
    let checked = training::programme(items, rules).map_err(|e| PageError(e.into()))?;
    let mut total = mamis_domain::HalfUnits::new(0);
    let rows = checked
        .iter()
        .map(|item| {
            let credits = item.credits(rules);
            let (non_credit, parts) = match item.kind() {
                ItemKind::NonCredit(k) => (Some(kind_label(f, *k)), Vec::new()),
                ItemKind::Credit { parts } => (
                    None,
                    parts
                        .iter()
                        .enumerate()
                        .map(|(i, p)| {
                            let earned = credits
                                .iter()
                                .find(|c| c.part == i)
                                .map_or(mamis_domain::HalfUnits::new(0), |c| c.half_units);
                            total = total + earned;
                            PartRow {
                                code: p.code.to_string(),
                                name: code_name(lang, item.catalogue_version(), p.code),
                                minutes: p.minutes,
                                units: f
                                    .t("training-office-units", &[("units", &earned.to_string())]),
                            }
                        })
                        .collect(),
                ),
            };
            ItemRow {
                time: format!("{}–{}", hm(item.start()), hm(item.end())),
                title: item.title().to_owned(),
                minutes: item.minutes(),
                non_credit,
                parts,
            }
        })
        .collect();
    Ok((
        rows,
        f.t("training-office-units", &[("units", &total.to_string())]),
    ))
}

// ---------------------------------------------------------------- 1. the list

/// One session of the list.
struct SessionRow {
    href: String,
    title: String,
    when: String,
    venue: String,
    approval: String,
    approval_class: &'static str,
    state: String,
    closed: bool,
}

/// One organiser's sessions.
struct OrganiserBlock {
    label: String,
    new_href: String,
    sessions: Vec<SessionRow>,
}

#[derive(Template)]
#[template(path = "office_training.html")]
struct ListView<'a> {
    c: Chrome<'a>,
    blocks: Vec<OrganiserBlock>,
    approvals: bool,
}

fn session_row(f: &Fmt<'_>, s: &TrainingSession) -> SessionRow {
    let (approval, approval_class) = approval_text(f, s);
    SessionRow {
        href: format!("/office/training/{}", s.id),
        title: s.title.clone(),
        when: when(f, s.start, s.end),
        venue: venue_text(f, &s.venue),
        approval,
        approval_class,
        state: match s.closed_at {
            Some(t) => f.t("training-office-state-closed", &[("date", &jst(t))]),
            None => f.t("training-office-state-open", &[]),
        },
        closed: s.closed_at.is_some(),
    }
}

/// `/office/training`: the sessions of every organiser the staff member runs.
pub async fn list<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let approvals = !approval_prefectures(&staff).is_empty();
    let organisers = organisers_of(&staff);
    if organisers.is_empty() && !approvals {
        return Err(PageError(Failure::Forbidden));
    }
    let mut blocks = Vec::new();
    for o in organisers {
        let sessions = training::sessions_of(&st.app, &staff, &o, SESSIONS_SHOWN, 0)
            .await
            .map_err(fail)?;
        blocks.push(OrganiserBlock {
            label: organiser_label(&st, &o, ctx.lang).await?,
            new_href: format!("/office/training/new?organiser={}", organiser_param(&o)),
            sessions: sessions.iter().map(|s| session_row(&f, s)).collect(),
        });
    }
    let view = ListView {
        c: ctx.chrome(cat),
        blocks,
        approvals,
    };
    render(view.render(), StatusCode::OK)
}

// ---------------------------------------------------------------- 2. the create form

/// One programme row as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct RowForm {
    title: String,
    start: String,
    minutes: String,
    kind: String,
    codes: String,
}

impl RowForm {
    /// A row with nothing typed (the kind select always has a value) is ignored.
    fn is_blank(&self) -> bool {
        [&self.title, &self.start, &self.minutes, &self.codes]
            .iter()
            .all(|s| s.trim().is_empty())
    }
}

/// The create form as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SessionForm {
    organiser: String,
    title: String,
    venue_kind: String,
    place: String,
    date: String,
    start: String,
    end: String,
    headcount: String,
    desk_only: bool,
    grace: String,
    rows: Vec<RowForm>,
}

impl SessionForm {
    fn from_pairs(pairs: &[(String, String)]) -> Self {
        let get = |k: &str| param(pairs, k).to_owned();
        let mut rows: Vec<RowForm> = (0..MAX_ITEMS)
            .map(|i| RowForm {
                title: get(&format!("item-{i}-title")),
                start: get(&format!("item-{i}-start")),
                minutes: get(&format!("item-{i}-minutes")),
                kind: get(&format!("item-{i}-kind")),
                codes: get(&format!("item-{i}-codes")),
            })
            .collect();
        while rows.last().is_some_and(RowForm::is_blank) {
            rows.pop();
        }
        Self {
            organiser: get("organiser"),
            title: get("title"),
            venue_kind: get("venue_kind"),
            place: get("place"),
            date: get("date"),
            start: get("start"),
            end: get("end"),
            headcount: get("headcount"),
            desk_only: !param(pairs, "desk_only").is_empty(),
            grace: get("grace"),
            rows,
        }
    }
}

/// What is wrong with a typed form: per field, per programme row (by row index), and overall.
#[derive(Debug, Default)]
struct FormErrors {
    fields: HashMap<&'static str, Msg>,
    rows: HashMap<usize, Msg>,
    general: Option<Msg>,
}

impl FormErrors {
    fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.rows.is_empty() && self.general.is_none()
    }

    fn field(&mut self, name: &'static str, m: Msg) {
        self.fields.entry(name).or_insert(m);
    }
}

/// Full-width digits and colons as typed by Japanese input methods, read as ASCII.
fn ascii_digits(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(u32::from(c) - 0xFF10 + u32::from('0')).unwrap_or(c),
            '：' => ':',
            c => c,
        })
        .collect()
}

/// `H:MM` or `HH:MM` (a time input sends `HH:MM`).
fn parse_hm(s: &str) -> Option<NaiveTime> {
    let s = ascii_digits(s);
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

fn parse_day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&ascii_digits(s), "%Y-%m-%d").ok()
}

/// The instant of a Japan wall-clock time.
fn at_japan(day: NaiveDate, t: NaiveTime) -> Option<Timestamp> {
    day.and_time(t)
        .and_local_timezone(japan())
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// The codes of a credit item: `10` for the whole item under one code, or `11:30 12:60` for a
/// split (code:minutes); empty names no code (the domain says so).
fn parse_codes(s: &str, minutes: u32) -> Result<ItemKind, Msg> {
    let s = ascii_digits(s);
    let tokens: Vec<&str> = s
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '、' | '/' | '，'))
        .filter(|t| !t.is_empty())
        .collect();
    let bad = || Msg::new("training-office-error-codes-format");
    let code = |t: &str| t.parse::<u16>().map_err(|_| bad());
    match tokens.as_slice() {
        [] => Ok(ItemKind::Credit { parts: Vec::new() }),
        [one] if !one.contains(':') => Ok(ItemKind::single(code(one)?, minutes)),
        many => many
            .iter()
            .map(|t| {
                let (c, m) = t.split_once(':').ok_or_else(bad)?;
                Ok(CodePart {
                    code: code(c)?,
                    minutes: m.parse().map_err(|_| bad())?,
                })
            })
            .collect::<Result<Vec<_>, Msg>>()
            .map(|parts| ItemKind::Credit { parts }),
    }
}

/// One programme row: parsed, then checked by the domain so the message lands on its row.
fn parse_row(r: &RowForm, day: NaiveDate, rules: &Rules) -> Result<ItemInput, Msg> {
    let start = parse_hm(&r.start)
        .and_then(|t| at_japan(day, t))
        .ok_or(Msg::new("training-office-error-item-start"))?;
    let minutes: u32 = ascii_digits(&r.minutes)
        .parse()
        .map_err(|_| Msg::new("training-office-error-item-minutes-number"))?;
    let kind = match r.kind.as_str() {
        "" | "credit" => parse_codes(&r.codes, minutes)?,
        other => {
            let k = NonCreditKind::parse(other).map_err(|e| domain_msg(&e))?;
            if !r.codes.trim().is_empty() {
                return Err(Msg::new("training-office-error-codes-non-credit"));
            }
            ItemKind::NonCredit(k)
        }
    };
    ProgrammeItem::new(Uuid::nil(), &r.title, start, minutes, kind.clone(), rules)
        .map_err(|e| domain_msg(&e))?;
    Ok(ItemInput {
        id: None,
        title: r.title.clone(),
        start,
        minutes,
        kind,
    })
}

/// The field a session-level domain refusal belongs to.
fn session_field(e: &DomainError) -> &'static str {
    match e {
        DomainError::TrainingTitle => "title",
        DomainError::VenuePlace => "place",
        DomainError::SessionTimes => "end",
        DomainError::ExpectedHeadcount => "headcount",
        _ => "general",
    }
}

/// A programme refusal that names items by position, placed on the row and renumbered as the
/// form's rows (blank rows are skipped, so positions and row numbers differ).
fn programme_error(e: &DomainError, row_of: &[usize], errors: &mut FormErrors) -> bool {
    let row = |item: usize| row_of.get(item.wrapping_sub(1)).copied();
    match e {
        DomainError::ItemOutsideSession { item } => {
            if let Some(r) = row(*item) {
                errors.rows.insert(
                    r,
                    Msg::with(
                        "training-office-error-item-outside",
                        vec![("item", (r + 1).to_string())],
                    ),
                );
                return true;
            }
        }
        DomainError::ItemsOverlap { first, second } => {
            if let (Some(a), Some(b)) = (row(*first), row(*second)) {
                errors.rows.insert(
                    b,
                    Msg::with(
                        "training-office-error-items-overlap",
                        vec![
                            ("first", (a + 1).to_string()),
                            ("second", (b + 1).to_string()),
                        ],
                    ),
                );
                return true;
            }
        }
        _ => {}
    }
    false
}

/// Places a domain refusal of the whole session on its field.
fn place_domain_error(e: &DomainError, row_of: &[usize], errors: &mut FormErrors) {
    if programme_error(e, row_of, errors) {
        return;
    }
    match session_field(e) {
        "general" => errors.general = Some(domain_msg(e)),
        field => errors.field(field, domain_msg(e)),
    }
}

/// Reads the typed form into the use case's input, or says what to fix where. The domain checks
/// run here too, so every field's and row's problem shows at once; the use case stays the
/// authority. The second value maps each programme item to its row.
fn parse_form(
    f: &SessionForm,
    organiser: Organiser,
) -> Result<(SessionInput, Vec<usize>), Box<FormErrors>> {
    let rules = Rules::embedded(PROGRAMME);
    let mut errors = FormErrors::default();
    let venue = match f.venue_kind.as_str() {
        "in_person" => Some(Venue::InPerson(f.place.clone())),
        "online" => Some(Venue::Online),
        "hybrid" => Some(Venue::Hybrid(f.place.clone())),
        _ => {
            errors.field("venue", Msg::new("training-office-error-venue-kind"));
            None
        }
    };
    let day = parse_day(&f.date);
    if day.is_none() {
        errors.field("date", Msg::new("training-office-error-date"));
    }
    let mut time = |raw: &str, field: &'static str| {
        let t = parse_hm(raw);
        if t.is_none() {
            errors.field(field, Msg::new("training-office-error-time"));
        }
        t
    };
    let (start_t, end_t) = (time(&f.start, "start"), time(&f.end, "end"));
    let headcount = match ascii_digits(&f.headcount).as_str() {
        "" => None,
        n => match n.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.field(
                    "headcount",
                    Msg::new("training-office-error-headcount-number"),
                );
                None
            }
        },
    };
    let grace = match ascii_digits(&f.grace).as_str() {
        "" => DEFAULT_GRACE_MINUTES,
        n => n.parse::<u32>().unwrap_or(u32::MAX),
    };
    if grace > training::MAX_GRACE_MINUTES {
        errors.field("grace", Msg::new("training-office-error-grace"));
    }
    // rows are checked on the session's day (or any day while the date is wrong)
    let row_day = day.unwrap_or_default();
    let mut items = Vec::new();
    let mut row_of = Vec::new();
    for (i, r) in f.rows.iter().enumerate() {
        if r.is_blank() {
            continue;
        }
        match parse_row(r, row_day, rules) {
            Ok(item) => {
                items.push(item);
                row_of.push(i);
            }
            Err(m) => {
                errors.rows.insert(i, m);
            }
        }
    }
    if items.len() > MAX_ITEMS {
        errors.general = Some(Msg::new("training-office-error-too-many-items"));
    }
    let times = day
        .zip(start_t)
        .zip(end_t)
        .and_then(|((d, s), e)| Some((at_japan(d, s)?, at_japan(d, e)?)));
    if let (Some(venue), Some((start, end))) = (venue.clone(), times) {
        let probe = SessionInput {
            organiser: organiser.clone(),
            title: f.title.clone(),
            venue,
            start,
            end,
            expected_headcount: headcount,
            desk_scan_only: f.desk_only,
            grace_minutes: 0,
            items: items.clone(),
        };
        if let Err(e) = training::check_input(&probe) {
            // positional errors get messages naming the form's rows (programme_error)
            let positional = matches!(
                e.error,
                DomainError::ItemOutsideSession { .. } | DomainError::ItemsOverlap { .. }
            );
            match e.item.and_then(|k| row_of.get(k)).filter(|_| !positional) {
                Some(&row) => {
                    errors.rows.insert(row, domain_msg(&e.error));
                }
                None => place_domain_error(&e.error, &row_of, &mut errors),
            }
        }
    } else if f.title.trim().is_empty() {
        errors.field("title", domain_msg(&DomainError::TrainingTitle));
    }
    match (venue, times, errors.is_empty()) {
        (Some(venue), Some((start, end)), true) => Ok((
            SessionInput {
                organiser,
                title: f.title.clone(),
                venue,
                start,
                end,
                expected_headcount: headcount,
                desk_scan_only: f.desk_only,
                grace_minutes: grace,
                items,
            },
            row_of,
        )),
        _ => Err(Box::new(errors)),
    }
}

/// An option of a select.
struct Choice {
    value: &'static str,
    label: String,
    selected: bool,
}

/// One programme row of the form, with what was typed and its message.
struct RowView {
    index: usize,
    number: usize,
    title: String,
    start: String,
    minutes: String,
    codes: String,
    kinds: Vec<Choice>,
    error: Option<String>,
}

/// The messages of the form's fields.
#[derive(Default)]
struct FieldErrors {
    title: Option<String>,
    venue: Option<String>,
    place: Option<String>,
    date: Option<String>,
    start: Option<String>,
    end: Option<String>,
    headcount: Option<String>,
    grace: Option<String>,
}

#[derive(Template)]
#[template(path = "office_training_new.html")]
struct NewView<'a> {
    c: Chrome<'a>,
    organiser: String,
    organiser_label: String,
    form: SessionForm,
    venue_kinds: Vec<Choice>,
    rows: Vec<RowView>,
    errors: FieldErrors,
    general: Option<String>,
    has_errors: bool,
}

const ITEM_KINDS: [&str; 6] = [
    "credit",
    "greeting",
    "ceremony",
    "break",
    "product_introduction",
    "other",
];

async fn render_new<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    organiser: &Organiser,
    form: SessionForm,
    errors: FormErrors,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let lang = ctx.lang;
    let text = |m: &Msg| m.text(cat, lang);
    let field = |name: &str| errors.fields.get(name).map(text);
    // rows typed come back with three blank ones more, so a long programme can grow
    let shown = (form.rows.len() + 3).clamp(BLANK_ROWS, MAX_ITEMS);
    let rows = (0..shown)
        .map(|i| {
            let r = form.rows.get(i).cloned().unwrap_or_default();
            RowView {
                index: i,
                number: i + 1,
                kinds: ITEM_KINDS
                    .into_iter()
                    .map(|k| Choice {
                        value: k,
                        label: cat.text(
                            lang,
                            &format!("training-office-kind-{}", k.replace('_', "-")),
                            &[],
                        ),
                        selected: r.kind == k || (r.kind.is_empty() && k == "credit"),
                    })
                    .collect(),
                error: errors.rows.get(&i).map(text),
                title: r.title,
                start: r.start,
                minutes: r.minutes,
                codes: r.codes,
            }
        })
        .collect();
    let venue_kinds = ["in_person", "online", "hybrid"]
        .into_iter()
        .map(|k| Choice {
            value: k,
            label: cat.text(
                lang,
                &format!("training-office-venue-{}", k.replace('_', "-")),
                &[],
            ),
            selected: form.venue_kind == k,
        })
        .collect();
    let view = NewView {
        c: ctx.chrome(cat),
        organiser: organiser_param(organiser),
        organiser_label: organiser_label(st, organiser, lang).await?,
        venue_kinds,
        rows,
        errors: FieldErrors {
            title: field("title"),
            venue: field("venue"),
            place: field("place"),
            date: field("date"),
            start: field("start"),
            end: field("end"),
            headcount: field("headcount"),
            grace: field("grace"),
        },
        general: errors.general.as_ref().map(text),
        has_errors: !errors.is_empty(),
        form,
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(view.render(), status)
}

/// The organiser a form is for: the one named, else the staff member's only one.
fn form_organiser(staff: &Principal, named: &str) -> Result<Organiser, PageError> {
    if let Some(o) = parse_organiser(named) {
        return Ok(o);
    }
    match organisers_of(staff).as_slice() {
        [only] => Ok(only.clone()),
        _ => Err(PageError(Failure::BadRequest(
            "training-office-error-organiser",
        ))),
    }
}

/// `/office/training/new?organiser=…`: the empty form (grace 5 minutes, ten blank rows).
pub async fn new_form<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RawQuery(q): RawQuery,
) -> PageResult {
    let pairs = query_pairs(q.as_deref()).unwrap_or_default();
    let organiser = form_organiser(&staff, param(&pairs, "organiser"))?;
    let form = SessionForm {
        venue_kind: "in_person".into(),
        grace: DEFAULT_GRACE_MINUTES.to_string(),
        ..SessionForm::default()
    };
    render_new(&st, &ctx, &organiser, form, FormErrors::default()).await
}

/// Registers the session; the form comes back with each problem at its field or row.
pub async fn create<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let form = SessionForm::from_pairs(&pairs);
    let organiser = form_organiser(&staff, &form.organiser)?;
    let (input, row_of) = match parse_form(&form, organiser.clone()) {
        Ok(parsed) => parsed,
        Err(errors) => return render_new(&st, &ctx, &organiser, form, *errors).await,
    };
    let mut errors = FormErrors::default();
    match training::create(&st.app, &staff, input, origin.client_addr).await {
        Ok(s) => return Ok(Redirect::to(&format!("/office/training/{}", s.id)).into_response()),
        Err(TrainingError::App(AppError::Invalid(e))) => {
            place_domain_error(&e, &row_of, &mut errors)
        }
        Err(TrainingError::Grace) => errors.field("grace", Msg::new("training-office-error-grace")),
        Err(TrainingError::TooManyItems) => {
            errors.general = Some(Msg::new("training-office-error-too-many-items"))
        }
        Err(e) => return Err(fail(e)),
    }
    render_new(&st, &ctx, &organiser, form, errors).await
}

// ---------------------------------------------------------------- 3. the session page

/// A label with a class, for flags.
struct Flag {
    class: &'static str,
    label: String,
}

/// One presence interval of an attendee.
struct IntervalRow {
    remove_action: String,
    span: String,
    channel: String,
    left_at_end: bool,
}

/// One attendee of the list.
struct AttendeeView {
    iseki: String,
    name: String,
    kana: String,
    intervals: Vec<IntervalRow>,
    flags: Vec<Flag>,
}

#[derive(Template)]
#[template(path = "office_training_session.html")]
struct SessionPage<'a> {
    c: Chrome<'a>,
    id: String,
    title: String,
    organiser: String,
    when: String,
    venue: String,
    headcount: String,
    grace: String,
    desk_only: bool,
    approval: String,
    approval_class: &'static str,
    unapproved: bool,
    closed: Option<String>,
    live: String,
    items: Vec<ItemRow>,
    total_units: String,
    attendees: Vec<AttendeeView>,
    notice: Option<String>,
    max_bytes: usize,
    too_large: String,
}

fn channel_label(f: &Fmt<'_>, c: PresenceChannel) -> String {
    f.t(
        &format!("training-office-channel-{}", c.as_str().replace('_', "-")),
        &[],
    )
}

/// A time on the session's day as `HH:MM`, another day in full.
fn time_on(day: NaiveDate, t: Timestamp) -> String {
    if japan_date(t) == day { hm(t) } else { jst(t) }
}

fn attendee_views(f: &Fmt<'_>, v: &SessionView) -> Vec<AttendeeView> {
    let day = japan_date(v.session.start);
    v.attendees
        .iter()
        .map(|a| {
            let mut flags = Vec::new();
            let mut flag = |on: bool, class: &'static str, key: &str| {
                if on {
                    flags.push(Flag {
                        class,
                        label: f.t(key, &[]),
                    });
                }
            };
            flag(a.open, "flag-open", "training-office-flag-open");
            flag(
                a.shared_device,
                "flag-shared",
                "training-office-flag-shared",
            );
            flag(
                a.no_checkout,
                "flag-no-checkout",
                "training-office-flag-no-checkout",
            );
            flag(a.pending, "flag-pending", "training-office-flag-pending");
            AttendeeView {
                iseki: a.iseki.as_str().to_owned(),
                name: a.name.clone(),
                kana: a.kana.clone(),
                intervals: a
                    .intervals
                    .iter()
                    .map(|r| IntervalRow {
                        remove_action: format!(
                            "/office/training/{}/presence/{}/remove",
                            v.session.id, r.id
                        ),
                        span: match r.out_at {
                            Some(out) => {
                                format!("{} – {}", time_on(day, r.in_at), time_on(day, out))
                            }
                            None => f.t(
                                "training-office-interval-open",
                                &[("from", &time_on(day, r.in_at))],
                            ),
                        },
                        channel: channel_label(f, r.channel),
                        left_at_end: r.left_at_end,
                    })
                    .collect(),
                flags,
            }
        })
        .collect()
}

/// The notice after closing or removing, from the redirect's query.
fn session_notice(f: &Fmt<'_>, pairs: &[(String, String)]) -> Option<String> {
    let n = |k: &str| param(pairs, k).parse::<u64>().ok();
    if let (Some(c), Some(r)) = (n("credited"), n("reversed")) {
        return Some(f.t(
            "training-office-closed-notice",
            &[("credited", &c.to_string()), ("reversed", &r.to_string())],
        ));
    }
    (param(pairs, "removed") == "1").then(|| f.t("training-office-removed-notice", &[]))
}

/// `/office/training/{id}`: details, programme with units, live count and the attendee list
/// (an audited personal-data view).
pub async fn session_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> PageResult {
    let id = session_id(&id)?;
    let v = training::view(&st.app, &staff, id, origin.client_addr)
        .await
        .map_err(fail)?;
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let s = &v.session;
    let (items, total_units) = programme_rows(&f, ctx.lang, &v.items)?;
    let (approval, approval_class) = approval_text(&f, s);
    let pairs = query_pairs(q.as_deref()).unwrap_or_default();
    let view = SessionPage {
        c: ctx.chrome(cat),
        id: s.id.to_string(),
        title: s.title.clone(),
        organiser: organiser_label(&st, &s.organiser, ctx.lang).await?,
        when: when(&f, s.start, s.end),
        venue: venue_text(&f, &s.venue),
        headcount: s
            .expected_headcount
            .map(|n| n.to_string())
            .unwrap_or_default(),
        grace: f.t(
            "training-office-minutes",
            &[("minutes", &s.grace_minutes.to_string())],
        ),
        desk_only: s.desk_scan_only,
        approval,
        approval_class,
        unapproved: !training::credits_now(s),
        closed: s.closed_at.map(jst),
        live: match s.expected_headcount {
            Some(e) => f.t(
                "training-office-live-of",
                &[("live", &v.live.to_string()), ("expected", &e.to_string())],
            ),
            None => f.t("training-office-live", &[("live", &v.live.to_string())]),
        },
        items,
        total_units,
        attendees: attendee_views(&f, &v),
        notice: session_notice(&f, &pairs),
        max_bytes: attendees::MAX_BYTES,
        too_large: too_large_text(cat, ctx.lang),
    };
    render(view.render(), StatusCode::OK)
}

fn too_large_text(cat: &Catalogues, lang: Lang) -> String {
    let mb = (attendees::MAX_BYTES >> 20).to_string();
    cat.text(lang, "attendees-problem-too-large", &[("max_mb", &mb)])
}

/// Closes the session (open intervals end then, credits are settled) and returns to its page.
pub async fn close<S: Store>(
    State(st): State<WebState<S>>,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
) -> PageResult {
    let id = session_id(&id)?;
    let settled = training::close(&st.app, &staff, id, origin.client_addr)
        .await
        .map_err(fail)?;
    let to = format!(
        "/office/training/{id}?credited={}&reversed={}",
        settled.written, settled.reversed
    );
    Ok(Redirect::to(&to).into_response())
}

/// The removal form: the CSRF token (checked by the middleware) and an optional reason.
#[derive(Debug, Deserialize)]
pub struct RemoveForm {
    /// Why the interval is withdrawn, kept in the audit record.
    #[serde(default)]
    reason: Option<String>,
}

/// Withdraws one presence interval (its credits are reversed) and returns to the page.
pub async fn remove<S: Store>(
    State(st): State<WebState<S>>,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path((id, presence)): Path<(String, String)>,
    Form(form): Form<RemoveForm>,
) -> PageResult {
    let id = session_id(&id)?;
    let presence = session_id(&presence)?;
    capture::remove(
        &st.app,
        &staff,
        id,
        presence,
        form.reason.as_deref(),
        origin.client_addr,
    )
    .await
    .map_err(fail)?;
    Ok(Redirect::to(&format!("/office/training/{id}?removed=1")).into_response())
}

// ---------------------------------------------------------------- 4. the CSV export

/// The attendee list as CSV (Japanese headers on a Japanese page), every interval a line, in a
/// form the upload reads back.
pub async fn export<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
) -> PageResult {
    let id = session_id(&id)?;
    let v = training::view(&st.app, &staff, id, origin.client_addr)
        .await
        .map_err(fail)?;
    let rows: Vec<ExportRow> = v
        .attendees
        .iter()
        .flat_map(|a| {
            a.intervals.iter().map(|r| ExportRow {
                iseki: a.iseki.as_str().to_owned(),
                name: a.name.clone(),
                kana: a.kana.clone(),
                in_at: r.in_at,
                out_at: r.out_at,
                left_at_end: r.left_at_end,
                channel: r.channel.as_str(),
                device: r.device.clone(),
                client_addr: r.client_addr.clone(),
                pending: a.pending,
            })
        })
        .collect();
    let body = attendees::export_csv(&rows, lang_of(&headers) == Lang::Ja);
    let name = format!(
        "attendees-{}-{}.csv",
        japan_date(v.session.start).format("%Y%m%d"),
        &id.simple().to_string()[..8]
    );
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

// ---------------------------------------------------------------- 5. upload, preview, confirm

/// One interval of the difference.
struct DiffView {
    iseki: String,
    span: String,
    pending: bool,
}

/// One problem of the file.
struct ProblemView {
    line: String,
    column: String,
    message: String,
}

/// The counts of a difference.
struct Counts {
    added: u64,
    removed: u64,
    unchanged: u64,
    attendees: u64,
    pending: u64,
}

#[derive(Template)]
#[template(path = "office_training_upload.html")]
struct UploadView<'a> {
    c: Chrome<'a>,
    id: String,
    heading: String,
    message: Option<String>,
    encoding: String,
    rows: u64,
    counts: Option<Counts>,
    added_lines: Vec<DiffView>,
    added_more: u64,
    removed_lines: Vec<DiffView>,
    removed_more: u64,
    problems: Vec<ProblemView>,
    total_problems: u64,
    more_problems: u64,
    staging: Option<String>,
    noop: bool,
    applied: bool,
    credited: u64,
    reversed: u64,
}

impl<'a> UploadView<'a> {
    fn empty(c: Chrome<'a>, id: Uuid, heading: String) -> Self {
        Self {
            c,
            id: id.to_string(),
            heading,
            message: None,
            encoding: String::new(),
            rows: 0,
            counts: None,
            added_lines: Vec::new(),
            added_more: 0,
            removed_lines: Vec::new(),
            removed_more: 0,
            problems: Vec::new(),
            total_problems: 0,
            more_problems: 0,
            staging: None,
            noop: false,
            applied: false,
            credited: 0,
            reversed: 0,
        }
    }
}

fn diff_views(lines: &[DiffLine]) -> Vec<DiffView> {
    lines
        .iter()
        .take(DIFF_SHOWN)
        .map(|l| DiffView {
            iseki: l.iseki.as_str().to_owned(),
            span: format!("{} – {}", jst(l.in_at), jst(l.out_at)),
            pending: l.pending,
        })
        .collect()
}

fn problem_view(cat: &Catalogues, lang: Lang, p: &Problem) -> ProblemView {
    let args = p.args();
    let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ProblemView {
        line: if p.line == 0 {
            cat.text(lang, "training-office-upload-whole-file", &[])
        } else {
            p.line.to_string()
        },
        column: p.column.clone().unwrap_or_default(),
        message: cat.text(lang, p.message_id(), &args),
    }
}

/// The page for a read file: its problems (nothing written), or its difference, previewed with
/// the staging id to confirm, or applied.
fn plan_page(
    cat: &Catalogues,
    ctx: &PageCtx,
    id: Uuid,
    plan: &ImportPlan,
    staging: Option<Uuid>,
) -> PageResult {
    let lang = ctx.lang;
    let heading = match (plan.ok(), plan.applied) {
        (false, _) => "training-office-upload-problems-title",
        (true, true) => "training-office-upload-applied-title",
        (true, false) => "training-office-upload-preview-title",
    };
    let mut view = UploadView::empty(ctx.chrome(cat), id, cat.text(lang, heading, &[]));
    view.encoding = plan.list.encoding.to_owned();
    view.rows = plan.list.rows;
    if !plan.ok() {
        view.problems = plan
            .list
            .problems
            .iter()
            .map(|p| problem_view(cat, lang, p))
            .collect();
        view.total_problems = plan.list.total_problems;
        view.more_problems = plan
            .list
            .total_problems
            .saturating_sub(view.problems.len() as u64);
        return render(view.render(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    view.counts = Some(Counts {
        added: plan.added,
        removed: plan.removed,
        unchanged: plan.unchanged,
        attendees: plan.attendees,
        pending: plan.pending,
    });
    view.added_lines = diff_views(&plan.added_lines);
    view.added_more = plan.added.saturating_sub(view.added_lines.len() as u64);
    view.removed_lines = diff_views(&plan.removed_lines);
    view.removed_more = plan.removed.saturating_sub(view.removed_lines.len() as u64);
    view.staging = staging.map(|s| s.to_string());
    view.noop = plan.is_noop();
    view.applied = plan.applied;
    view.credited = plan.settled.written;
    view.reversed = plan.settled.reversed;
    render(view.render(), StatusCode::OK)
}

/// A page of the upload flow with only a message (too large, unreadable form, expired).
fn upload_message(
    cat: &Catalogues,
    ctx: &PageCtx,
    id: Uuid,
    message: String,
    status: StatusCode,
) -> PageResult {
    let mut view = UploadView::empty(
        ctx.chrome(cat),
        id,
        cat.text(ctx.lang, "training-office-upload-title", &[]),
    );
    view.message = Some(message);
    render(view.render(), status)
}

/// Why an upload's body could not be read.
enum BodyFail {
    /// Larger than [`UPLOAD_LIMIT`] (read and discarded up to [`DRAIN_LIMIT`]).
    TooLarge,
    /// The connection failed mid-way.
    Broken,
}

/// Reads a request body up to [`UPLOAD_LIMIT`]; a larger one is drained, not kept, so the
/// client reads the answer instead of a reset connection.
async fn read_capped(body: Body) -> Result<Bytes, BodyFail> {
    let mut body = std::pin::pin!(body);
    let mut buf: Vec<u8> = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let Ok(data) = frame.map_err(|_| BodyFail::Broken)?.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if total > DRAIN_LIMIT {
            return Err(BodyFail::TooLarge);
        }
        if total <= UPLOAD_LIMIT {
            buf.extend_from_slice(&data);
        } else if !buf.is_empty() {
            buf = Vec::new();
        }
    }
    if total > UPLOAD_LIMIT {
        return Err(BodyFail::TooLarge);
    }
    Ok(Bytes::from(buf))
}

/// The `file` part of a multipart body already read into memory; `None` when there is none.
async fn file_part(parts: axum::http::request::Parts, body: Bytes) -> Option<Bytes> {
    let req = Request::from_parts(parts, Body::from(body));
    let mut mp = Multipart::from_request(req, &()).await.ok()?;
    while let Ok(Some(field)) = mp.next_field().await {
        if field.name() == Some("file") {
            return field.bytes().await.ok();
        }
    }
    None
}

/// Reads an uploaded attendee list and previews its difference; nothing is written. A file
/// without problems that changes something waits in staging for the confirmation.
pub async fn upload<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(who, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    req: Request,
) -> PageResult {
    let id = session_id(&id)?;
    let cat = &st.shared.catalogues;
    let (parts, body) = req.into_parts();
    let bytes = match read_capped(body).await {
        Ok(b) => b,
        Err(BodyFail::TooLarge) => {
            let m = too_large_text(cat, ctx.lang);
            return upload_message(cat, &ctx, id, m, StatusCode::PAYLOAD_TOO_LARGE);
        }
        Err(BodyFail::Broken) => return Err(PageError(Failure::BadRequest("invalid-value"))),
    };
    let Some(file) = file_part(parts, bytes).await else {
        let m = cat.text(ctx.lang, "training-office-upload-no-file", &[]);
        return upload_message(cat, &ctx, id, m, StatusCode::BAD_REQUEST);
    };
    let plan = import::import(&st.app, &staff, id, &file, false, origin.client_addr)
        .await
        .map_err(fail)?;
    let staging = (plan.ok() && !plan.is_noop()).then(|| {
        st.shared
            .training_staging
            .put(id, who.account.id, file, st.app.now())
    });
    plan_page(cat, &ctx, id, &plan, staging)
}

/// The confirmation form.
#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    staging: String,
}

/// Applies the previewed file: exactly its difference is written and settled. A staging id
/// already used, expired or unknown asks for the file again.
pub async fn confirm<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(who, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    Form(f): Form<ConfirmForm>,
) -> PageResult {
    let id = session_id(&id)?;
    let cat = &st.shared.catalogues;
    let staged = Uuid::parse_str(f.staging.trim()).ok().and_then(|s| {
        st.shared
            .training_staging
            .take(s, id, who.account.id, st.app.now())
    });
    let Some(bytes) = staged else {
        let m = cat.text(ctx.lang, "training-office-upload-expired", &[]);
        return upload_message(cat, &ctx, id, m, StatusCode::GONE);
    };
    let plan = import::import(&st.app, &staff, id, &bytes, true, origin.client_addr)
        .await
        .map_err(fail)?;
    plan_page(cat, &ctx, id, &plan, None)
}

// ---------------------------------------------------------------- 6. the venue screen

#[derive(Template)]
#[template(path = "office_training_venue.html")]
struct VenueView<'a> {
    c: Chrome<'a>,
    id: String,
    title: String,
    url: String,
    svg: String,
    next_at: String,
    message: Option<String>,
}

/// The absolute link a venue code's QR carries.
fn venue_url<S: Store>(st: &WebState<S>, token: &str) -> String {
    format!(
        "{}/t/{token}",
        st.app.config.base_url.as_str().trim_end_matches('/')
    )
}

/// The QR code of `data` as inline SVG (level M, quiet zone), without the XML prolog.
fn qr_svg(data: &str) -> Result<String, PageError> {
    let code = qrcode::QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| {
            tracing::error!(error = %e, "venue QR code");
            PageError(Failure::Internal)
        })?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(480, 480)
        .build();
    Ok(svg
        .find("<svg")
        .map_or(svg.clone(), |at| svg[at..].to_owned()))
}

/// The venue's current code: the link, its QR and when it is replaced; or why none is shown
/// (desk scans only, outside the capture hours, closed).
async fn current_code<S: Store>(
    st: &WebState<S>,
    staff: &Principal,
    id: Uuid,
) -> Result<Result<(String, String, String), &'static str>, PageError> {
    match capture::venue_code(&st.app, staff, id).await {
        Ok(c) => {
            let url = venue_url(st, &c.token);
            let svg = qr_svg(&url)?;
            Ok(Ok((url, svg, c.next_at.to_rfc3339())))
        }
        Err(
            e @ (TrainingError::DeskOnly | TrainingError::OutsideHours | TrainingError::Closed),
        ) => Ok(Err(refusal_key(&e).unwrap_or("training-office-failed"))),
        Err(e) => Err(fail(e)),
    }
}

/// `/office/training/{id}/venue`: the screen at the venue, a large QR code of the venue link
/// that `venue.js` replaces as the code rotates.
pub async fn venue<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    Path(id): Path<String>,
) -> PageResult {
    let id = session_id(&id)?;
    let code = current_code(&st, &staff, id).await?;
    // the use case authorised the caller; the title comes from the stored session
    let s = stored_session(&st, id).await?;
    let cat = &st.shared.catalogues;
    let (url, svg, next_at, message) = match code {
        Ok((url, svg, next_at)) => (url, svg, next_at, None),
        Err(key) => (
            String::new(),
            String::new(),
            String::new(),
            Some(cat.text(ctx.lang, key, &[])),
        ),
    };
    let view = VenueView {
        c: ctx.chrome(cat),
        id: id.to_string(),
        title: s.title,
        url,
        svg,
        next_at,
        message,
    };
    let mut r = render(view.render(), StatusCode::OK)?;
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// A JSON answer that is never cached.
fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// What a failure says, in the page language, for JSON answers.
fn failure_text(cat: &Catalogues, lang: Lang, f: &Failure) -> String {
    match f {
        Failure::BadRequest(k) | Failure::Because(_, k) => cat.text(lang, k, &[]),
        Failure::NotFound => cat.text(lang, "training-office-not-found", &[]),
        Failure::Forbidden | Failure::Csrf => cat.text(lang, "training-office-forbidden", &[]),
        _ => cat.text(lang, "training-office-failed", &[]),
    }
}

/// The status of a failure, for JSON answers.
fn failure_status(f: &Failure) -> StatusCode {
    match f {
        Failure::NotFound => StatusCode::NOT_FOUND,
        Failure::Forbidden | Failure::Csrf => StatusCode::FORBIDDEN,
        Failure::Unauthenticated => StatusCode::UNAUTHORIZED,
        Failure::BadRequest(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Failure::Conflict => StatusCode::CONFLICT,
        Failure::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Failure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Failure::Because(inner, _) => failure_status(inner),
    }
}

fn json_failure(cat: &Catalogues, lang: Lang, f: &Failure) -> Response {
    json_response(
        failure_status(f),
        serde_json::json!({ "error": failure_text(cat, lang, f) }),
    )
}

/// `venue.json`: the current link and QR code for the screen's polling, or why none is shown.
pub async fn venue_json<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    Path(id): Path<String>,
) -> Response {
    let cat = &st.shared.catalogues;
    let code = match session_id(&id) {
        Ok(id) => current_code(&st, &staff, id).await,
        Err(e) => Err(e),
    };
    match code {
        Ok(Ok((url, svg, next_at))) => json_response(
            StatusCode::OK,
            serde_json::json!({ "url": url, "svg": svg, "next_at": next_at }),
        ),
        Ok(Err(key)) => json_response(
            StatusCode::CONFLICT,
            serde_json::json!({ "error": cat.text(ctx.lang, key, &[]) }),
        ),
        Err(PageError(f)) => json_failure(cat, ctx.lang, &f),
    }
}

// ---------------------------------------------------------------- 7. the desk scanner

/// The result of a scan as the desk shows it.
struct DeskOutcome {
    ok: bool,
    message: String,
}

#[derive(Template)]
#[template(path = "office_training_desk.html")]
struct DeskView<'a> {
    c: Chrome<'a>,
    id: String,
    title: String,
    live: String,
    outcome: Option<DeskOutcome>,
}

/// The camera may be used on the desk page only (the middleware denies it everywhere else).
const DESK_PERMISSIONS: &str = "camera=(self), microphone=(), geolocation=()";

/// The desk page's response: its own camera policy, never cached, and the device cookie.
fn desk_response<S: Store>(
    st: &WebState<S>,
    mut r: Response,
    device: &str,
    new_device: bool,
) -> Response {
    let h = r.headers_mut();
    h.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(DESK_PERMISSIONS),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    remember(&mut r, st.shared.https, device, new_device);
    r
}

async fn render_desk<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    staff: &Principal,
    id: Uuid,
    client_addr: Option<String>,
    outcome: Option<DeskOutcome>,
    status: StatusCode,
) -> PageResult {
    let v = training::view(&st.app, staff, id, client_addr)
        .await
        .map_err(fail)?;
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let live = v.live.to_string();
    let view = DeskView {
        c: ctx.chrome(cat),
        id: id.to_string(),
        title: v.session.title.clone(),
        live: match v.session.expected_headcount {
            Some(e) => f.t(
                "training-office-live-of",
                &[("live", &live), ("expected", &e.to_string())],
            ),
            None => f.t("training-office-live", &[("live", &live)]),
        },
        outcome,
    };
    render(view.render(), status)
}

/// `/office/training/{id}/desk`: the desk scanner (camera, USB scanner field, typed number).
pub async fn desk_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
) -> PageResult {
    let id = session_id(&id)?;
    let (device, new_device) = device_id(&headers, st.shared.https);
    let r = render_desk(
        &st,
        &ctx,
        &staff,
        id,
        origin.client_addr,
        None,
        StatusCode::OK,
    )
    .await?;
    Ok(desk_response(&st, r, &device, new_device))
}

/// A desk scan as posted: a scanned personal code, or a typed 医籍登録番号.
#[derive(Debug, Deserialize)]
pub struct DeskForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    iseki: String,
}

/// The scan's input, or the message key saying what is missing.
fn desk_input(f: &DeskForm) -> Result<DeskInput, Failure> {
    let code = f.code.trim();
    if !code.is_empty() {
        return Ok(DeskInput::Code(code.to_owned()));
    }
    if f.iseki.trim().is_empty() {
        return Err(Failure::BadRequest("training-office-desk-empty"));
    }
    IsekiNumber::parse(&f.iseki)
        .map(DeskInput::Iseki)
        .map_err(|e| Failure::BadRequest(domain_error_key(&e)))
}

fn desk_message(f: &Fmt<'_>, r: &DeskResult) -> String {
    let key = match (&r.captured, r.pending) {
        (Captured::CheckedIn, false) => "training-office-desk-in",
        (Captured::CheckedIn, true) => "training-office-desk-in-pending",
        (Captured::CheckedOut, false) => "training-office-desk-out",
        (Captured::CheckedOut, true) => "training-office-desk-out-pending",
    };
    f.t(key, &[("name", &r.name), ("iseki", r.iseki.as_str())])
}

/// The scan's answer to `desk.js`.
fn desk_json(cat: &Catalogues, lang: Lang, result: Result<DeskResult, Failure>) -> Response {
    let r = match result {
        Ok(r) => r,
        Err(e) => return json_failure(cat, lang, &e),
    };
    let f = Fmt::new(cat, lang);
    json_response(
        StatusCode::OK,
        serde_json::json!({
            "result": match r.captured {
                Captured::CheckedIn => "checked_in",
                Captured::CheckedOut => "checked_out",
            },
            "name": r.name,
            "iseki": r.iseki.as_str(),
            "pending": r.pending,
            "message": desk_message(&f, &r),
        }),
    )
}

/// The scan's result for the page without JavaScript; a session the staff member may not
/// scan for is an error page, not a red banner.
fn desk_outcome(
    cat: &Catalogues,
    lang: Lang,
    result: Result<DeskResult, Failure>,
) -> Result<(DeskOutcome, StatusCode), PageError> {
    match result {
        Ok(r) => Ok((
            DeskOutcome {
                ok: true,
                message: desk_message(&Fmt::new(cat, lang), &r),
            },
            StatusCode::OK,
        )),
        Err(e @ (Failure::NotFound | Failure::Forbidden)) => Err(PageError(e)),
        Err(e) => Ok((
            DeskOutcome {
                ok: false,
                message: failure_text(cat, lang, &e),
            },
            failure_status(&e),
        )),
    }
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// A desk scan: checks the attendee in, or out on the next scan. Answers JSON to `desk.js`
/// (`Accept: application/json`), else the page again with the result.
pub async fn desk_post<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    Form(form): Form<DeskForm>,
) -> PageResult {
    let id = session_id(&id)?;
    let (device, new_device) = device_id(&headers, st.shared.https);
    let scan = Origin {
        device: Some(device.clone()),
        client_addr: origin.client_addr.clone(),
    };
    let result = match desk_input(&form) {
        Ok(input) => capture::desk_scan(&st.app, &staff, id, input, scan)
            .await
            .map_err(failure),
        Err(f) => Err(f),
    };
    let r = if wants_json(&headers) {
        desk_json(&st.shared.catalogues, ctx.lang, result)
    } else {
        let (outcome, status) = desk_outcome(&st.shared.catalogues, ctx.lang, result)?;
        let client = origin.client_addr;
        render_desk(&st, &ctx, &staff, id, client, Some(outcome), status).await?
    };
    Ok(desk_response(&st, r, &device, new_device))
}

// ---------------------------------------------------------------- 8. approvals

/// One session awaiting approval.
struct ApprovalRow {
    id: String,
    href: String,
    approve_action: String,
    title: String,
    organiser: String,
    when: String,
    venue: String,
    headcount: String,
    items: Vec<ItemRow>,
    total_units: String,
}

/// A prefecture's queue.
struct PrefectureBlock {
    label: String,
    sessions: Vec<ApprovalRow>,
}

#[derive(Template)]
#[template(path = "office_training_approvals.html")]
struct ApprovalsView<'a> {
    c: Chrome<'a>,
    blocks: Vec<PrefectureBlock>,
    done: Option<String>,
}

/// The stored programme of a session the approver may see (the queue lists only its own
/// prefecture's sessions).
async fn programme_of<S: Store>(st: &WebState<S>, id: Uuid) -> Result<Vec<StoredItem>, PageError> {
    let mut tx = st.app.store.read().await.map_err(store_error)?;
    let items = tx.programme_items(id).await.map_err(store_error)?;
    tx.rollback().await.map_err(store_error)?;
    Ok(items)
}

async fn approval_row<S: Store>(
    st: &WebState<S>,
    f: &Fmt<'_>,
    lang: Lang,
    s: &TrainingSession,
) -> Result<ApprovalRow, PageError> {
    let (items, total_units) = programme_rows(f, lang, &programme_of(st, s.id).await?)?;
    Ok(ApprovalRow {
        id: s.id.to_string(),
        href: format!("/office/training/{}", s.id),
        approve_action: format!("/office/training/{}/approve", s.id),
        title: s.title.clone(),
        organiser: organiser_label(st, &s.organiser, lang).await?,
        when: when(f, s.start, s.end),
        venue: venue_text(f, &s.venue),
        headcount: s
            .expected_headcount
            .map(|n| n.to_string())
            .unwrap_or_default(),
        items,
        total_units,
    })
}

/// Whether `s` looks like an approval number (`P13-2026-00001`), so only those are echoed.
fn is_approval_number(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 14
        && b.len() <= 20
        && b[0] == b'P'
        && b[1..3].iter().all(u8::is_ascii_digit)
        && b[3] == b'-'
        && b[4..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'-'
        && b[9..].iter().all(u8::is_ascii_digit)
}

/// `/office/training/approvals`: outside sessions awaiting approval in the staff member's
/// prefectures, each with its programme and units.
pub async fn approvals<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RawQuery(q): RawQuery,
) -> PageResult {
    let prefectures = approval_prefectures(&staff);
    if prefectures.is_empty() {
        return Err(PageError(Failure::Forbidden));
    }
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let mut blocks = Vec::new();
    for p in prefectures {
        let waiting = training::awaiting_approval(&st.app, &staff, &p)
            .await
            .map_err(fail)?;
        if waiting.is_empty() {
            continue;
        }
        let mut sessions = Vec::new();
        for s in &waiting {
            sessions.push(approval_row(&st, &f, ctx.lang, s).await?);
        }
        blocks.push(PrefectureBlock {
            label: organiser_label(&st, &Organiser::Association(p), ctx.lang).await?,
            sessions,
        });
    }
    let pairs = query_pairs(q.as_deref()).unwrap_or_default();
    let done = Some(param(&pairs, "approved"))
        .filter(|n| is_approval_number(n))
        .map(|n| f.t("training-office-approved-notice", &[("number", n)]));
    let view = ApprovalsView {
        c: ctx.chrome(cat),
        blocks,
        done,
    };
    render(view.render(), StatusCode::OK)
}

/// Approves an outside session (the app checks the prefecture) and shows the issued number.
pub async fn approve<S: Store>(
    State(st): State<WebState<S>>,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
) -> PageResult {
    let id = session_id(&id)?;
    let a = training::approve(&st.app, &staff, id, origin.client_addr)
        .await
        .map_err(fail)?;
    let to = format!(
        "/office/training/approvals?approved={}",
        url::form_urlencoded::byte_serialize(a.number.as_bytes()).collect::<String>()
    );
    Ok(Redirect::to(&to).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_as_one_code_or_a_split() {
        assert_eq!(parse_codes("10", 60), Ok(ItemKind::single(10, 60)));
        assert_eq!(parse_codes(" １０ ", 60), Ok(ItemKind::single(10, 60)));
        assert_eq!(
            parse_codes("11:30 12:60", 90),
            Ok(ItemKind::Credit {
                parts: vec![
                    CodePart {
                        code: 11,
                        minutes: 30
                    },
                    CodePart {
                        code: 12,
                        minutes: 60
                    },
                ]
            })
        );
        assert_eq!(
            parse_codes("11：30、12：60", 90)
                .map(|k| matches!(k, ItemKind::Credit { parts } if parts.len() == 2)),
            Ok(true)
        );
        assert_eq!(parse_codes("", 60), Ok(ItemKind::Credit { parts: vec![] }));
        for bad in ["x", "11 12", "11:x", "11:30 12", "-1"] {
            assert_eq!(
                parse_codes(bad, 60),
                Err(Msg::new("training-office-error-codes-format")),
                "{bad}"
            );
        }
    }

    #[test]
    fn times_read_as_hours_and_minutes() {
        assert_eq!(parse_hm("09:05"), NaiveTime::from_hms_opt(9, 5, 0));
        assert_eq!(parse_hm("9:05"), NaiveTime::from_hms_opt(9, 5, 0));
        assert_eq!(parse_hm("１４：００"), NaiveTime::from_hms_opt(14, 0, 0));
        for bad in ["", "9", "9:5", "24:00", "12:60", "ab:cd", "123:00"] {
            assert_eq!(parse_hm(bad), None, "{bad}");
        }
    }

    fn form(rows: Vec<RowForm>) -> SessionForm {
        SessionForm {
            organiser: "P13-0001".into(),
            title: "学術講演会".into(),
            venue_kind: "in_person".into(),
            place: "医師会館".into(),
            date: "2026-06-10".into(),
            start: "14:00".into(),
            end: "16:00".into(),
            headcount: String::new(),
            desk_only: false,
            grace: "5".into(),
            rows,
        }
    }

    fn row(title: &str, start: &str, minutes: &str, kind: &str, codes: &str) -> RowForm {
        RowForm {
            title: title.into(),
            start: start.into(),
            minutes: minutes.into(),
            kind: kind.into(),
            codes: codes.into(),
        }
    }

    fn organiser() -> Organiser {
        Organiser::Association(AssociationCode::parse("P13-0001").unwrap())
    }

    #[test]
    fn a_valid_form_becomes_the_use_case_input() {
        let f = form(vec![
            row("挨拶", "14:00", "10", "greeting", ""),
            RowForm::default(),
            row("講演", "14:10", "90", "credit", "11:30 12:60"),
        ]);
        let (input, row_of) = parse_form(&f, organiser()).unwrap();
        assert_eq!(input.items.len(), 2);
        assert_eq!(row_of, vec![0, 2]);
        assert_eq!(input.grace_minutes, 5);
        assert_eq!(input.expected_headcount, None);
    }

    #[test]
    fn problems_land_on_their_fields_and_rows() {
        let mut f = form(vec![
            row("講演", "14:00", "90", "credit", "11:45 12:45"),
            row("講演2", "14:00", "30", "credit", "10"),
            row("", "15:40", "30", "credit", "10"),
        ]);
        f.date = "2026/13/01".into();
        f.headcount = "many".into();
        f.grace = "45".into();
        let e = parse_form(&f, organiser()).unwrap_err();
        assert_eq!(e.rows[&0].key, "training-office-error-split-part-minutes");
        assert_eq!(
            e.rows[&0].args,
            vec![("minutes", "45".to_owned()), ("step", "30".to_owned())]
        );
        assert!(!e.rows.contains_key(&1));
        assert_eq!(e.rows[&2].key, "training-office-error-title");
        assert_eq!(e.fields["date"].key, "training-office-error-date");
        assert_eq!(
            e.fields["headcount"].key,
            "training-office-error-headcount-number"
        );
        assert_eq!(e.fields["grace"].key, "training-office-error-grace");
    }

    #[test]
    fn overlaps_are_numbered_as_the_form_rows() {
        let f = form(vec![
            row("講演1", "14:00", "60", "credit", "10"),
            RowForm::default(),
            row("講演2", "14:30", "60", "credit", "11"),
        ]);
        let e = parse_form(&f, organiser()).unwrap_err();
        assert_eq!(
            e.rows[&2],
            Msg::with(
                "training-office-error-items-overlap",
                vec![("first", "1".to_owned()), ("second", "3".to_owned())]
            )
        );
        let f = form(vec![row("講演1", "15:30", "60", "credit", "10")]);
        let e = parse_form(&f, organiser()).unwrap_err();
        assert_eq!(e.rows[&0].key, "training-office-error-item-outside");
    }

    #[test]
    fn staged_files_are_taken_once_by_their_owner_within_30_minutes() {
        let s = Staging::default();
        let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let (session, me, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let id = s.put(session, me, Bytes::from_static(b"x"), now);
        assert_eq!(s.take(id, session, other, now), None, "someone else's");
        assert_eq!(s.take(id, Uuid::new_v4(), me, now), None, "another session");
        assert_eq!(s.take(id, session, me, now), Some(Bytes::from_static(b"x")));
        assert_eq!(s.take(id, session, me, now), None, "consumed");
        let id = s.put(session, me, Bytes::from_static(b"y"), now);
        let later = now + Duration::minutes(31);
        assert_eq!(s.take(id, session, me, later), None, "expired");
    }

    #[test]
    fn staging_keeps_its_byte_budget_by_dropping_the_oldest() {
        let s = Staging::default();
        let t0 = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let big = Bytes::from(vec![0u8; attendees::MAX_BYTES]);
        let (session, me) = (Uuid::new_v4(), Uuid::new_v4());
        let first = s.put(session, me, big.clone(), t0);
        for i in 1..=10 {
            s.put(session, me, big.clone(), t0 + Duration::seconds(i));
        }
        assert_eq!(s.take(first, session, me, t0), None, "the oldest went");
        let total: usize = s
            .files
            .lock()
            .unwrap()
            .values()
            .map(|f| f.bytes.len())
            .sum();
        assert!(total <= STAGING_MAX_BYTES);
    }

    #[test]
    fn only_approval_numbers_are_echoed() {
        assert!(is_approval_number("P13-2026-00001"));
        for s in ["", "P13-2026", "X13-2026-00001", "P13-2026-0000<"] {
            assert!(!is_approval_number(s), "{s}");
        }
    }
}
