//! The back office's training pages: organisers' sessions, attendee lists, the venue screen, the desk scanner and the prefecture's approvals.
//!
//! Handlers extract, call one use case of [`mamis_app::training`] (which authorises), and
//! render. Attendee lists are previewed before anything is written: the uploaded bytes wait in
//! the store ([`mamis_app::training::previews`]: bounded per organiser and association, 30
//! minutes by default) until the organiser confirms, on whichever server the confirmation
//! reaches, so it applies exactly the file that was shown.
//!
//! The upload is a multipart form; the CSRF layer reads tokens from url-encoded bodies and the
//! `X-CSRF-Token` header only, so `upload.js` sends the file with the header.
//!
//! The doctor's side: the venue link's check-in and check-out ([`check_in`]); the attendances
//! on My Page ② are the CME record's. The JSON API of sessions and attendee lists is [`api`].

pub(crate) mod api;
mod approvals;
mod check_in;
mod desk;
mod form;
mod list;
mod session;
mod upload;
mod venue;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use mamis_app::AppError;
use mamis_app::training::TrainingError;
use mamis_app::training::attendees;
use mamis_domain::time::japan_date;
use mamis_domain::training::Venue;
use mamis_domain::{
    Action, AssociationCode, AssociationLevel, DomainError, Principal, Role, Scope, Target,
    Timestamp,
};
use mamis_store::{Organiser, RegistryStore, Store, TrainingSession, TrainingStore, Tx};
use uuid::Uuid;

use crate::WebState;
use crate::shell::assets::{JS, asset};
use crate::shell::chrome::{PageResult, html, page};
use crate::shell::error::{Failure, PageError};
use crate::shell::fmt::{Fmt, hm};
use crate::shell::i18n::{Catalogues, Lang, domain_error_args, domain_error_key};

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

/// The routes of the training pages, the venue link, the API and the pages' static files.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/office/training", get(list::list::<S>))
        .route(
            "/office/training/new",
            get(form::new_form::<S>).post(form::create::<S>),
        )
        .route("/office/training/approvals", get(approvals::approvals::<S>))
        .route("/office/training/{id}", get(session::session_page::<S>))
        .route("/office/training/{id}/close", post(session::close::<S>))
        .route(
            "/office/training/{id}/presence/{presence}/remove",
            post(session::remove::<S>),
        )
        .route(
            "/office/training/{id}/attendees.csv",
            get(session::export::<S>),
        )
        .route(
            "/office/training/{id}/attendees",
            post(upload::upload::<S>).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route(
            "/office/training/{id}/attendees/confirm",
            post(upload::confirm::<S>),
        )
        .route("/office/training/{id}/venue", get(venue::venue::<S>))
        .route(
            "/office/training/{id}/venue.json",
            get(venue::venue_json::<S>),
        )
        .route(
            "/office/training/{id}/desk",
            get(desk::desk_page::<S>).post(desk::desk_post::<S>),
        )
        .route(
            "/office/training/{id}/approve",
            post(approvals::approve::<S>),
        )
        .route(
            "/static/desk.js",
            get(|| asset(JS, include_str!("../../static/training/desk.js"))),
        )
        .route(
            "/static/venue.js",
            get(|| asset(JS, include_str!("../../static/training/venue.js"))),
        )
        .route(
            "/static/upload.js",
            get(|| asset(JS, include_str!("../../static/training/upload.js"))),
        )
        .route(
            "/static/training.css",
            get(|| {
                asset(
                    "text/css; charset=utf-8",
                    include_str!("../../static/training/training.css"),
                )
            }),
        )
        .route(
            "/static/vendor/jsQR.js",
            get(|| asset(JS, include_str!("../../static/training/vendor/jsQR.js"))),
        )
        .route(
            "/static/vendor/jsQR.LICENSE",
            get(|| {
                asset(
                    "text/plain; charset=utf-8",
                    include_str!("../../static/training/vendor/jsQR.LICENSE"),
                )
            }),
        )
        .merge(check_in::routes())
        .merge(api::routes())
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
        TrainingError::TooManyPreviews => "training-office-upload-too-many",
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
