//! 生涯教育 on-line's own learning: the 日医雑誌 quiz, 日医e-ラーニング and 日医雑誌 on-line for
//! members (`/cme/quiz`, `/cme/elearning`, `/cme/journal`: titles for everyone, content for
//! members checked on every request), their authoring and the postcard import in the office
//! (`/office/learning`), and My Page ①'s suggestions card.

mod office;
mod portal;
pub(crate) mod suggest;

use std::collections::BTreeSet;

use askama::Template;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use mamis_app::learning::Gate;
use mamis_domain::learning::Question;
use mamis_store::Store;
use uuid::Uuid;

use crate::WebState;
use crate::shell::auth::{clear_cookie, portal_cookie};
use crate::shell::chrome::{Chrome, PageCtx, PageResult, html, page};
use crate::shell::error::{Failure, PageError};
use crate::shell::middleware::cookie;

/// Where non-members are sent to join.
const JOIN: &str = "/mypage/membership";

/// The routes of the learning areas and their office.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/cme/quiz", get(portal::quiz_list::<S>))
        .route(
            "/cme/quiz/{id}",
            get(portal::quiz_page::<S>).post(portal::quiz_answer::<S>),
        )
        .route("/cme/elearning", get(portal::content_list::<S>))
        .route("/cme/elearning/{id}", get(portal::content_page::<S>))
        .route(
            "/cme/elearning/{id}/assessment",
            get(portal::assessment_page::<S>).post(portal::assessment_submit::<S>),
        )
        .route("/cme/elearning/{id}/slides", get(portal::slides::<S>))
        .route("/cme/journal", get(portal::journal_list::<S>))
        .route("/cme/journal/{id}", get(portal::article_page::<S>))
        .route("/office/learning", get(office::list::<S>))
        .route(
            "/office/learning/new/{kind}",
            get(office::new_form::<S>).post(office::create::<S>),
        )
        .route(
            "/office/learning/{id}",
            get(office::edit_form::<S>).post(office::update::<S>),
        )
        .route(
            "/office/learning/postcards",
            get(office::postcards_form::<S>).post(office::postcards_upload::<S>),
        )
}

/// A path id, or 404.
fn item_id(s: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(s).map_err(|_| PageError(Failure::NotFound))
}

/// Who may see members-only content on this request.
pub(crate) enum Access {
    /// A member: the doctor and how answers name them.
    Member(Uuid, String),
    /// Anyone else, with what to tell them.
    Other(Gate),
}

/// Decides the gate for this request's portal cookie (membership checked now).
async fn access<S: Store>(st: &WebState<S>, headers: &HeaderMap) -> Result<Access, PageError> {
    let presented = cookie(headers, portal_cookie(st.shared.https));
    let gate = mamis_app::learning::gate(&st.app, &st.shared.http, presented.as_deref())
        .await
        .map_err(|e| PageError(e.into()))?;
    Ok(match gate {
        Gate::Member { doctor, actor } => Access::Member(doctor, actor),
        other => Access::Other(other),
    })
}

#[derive(Template)]
#[template(path = "learning/refused.html")]
struct RefusedView<'a> {
    c: Chrome<'a>,
    reason: String,
    href: &'static str,
    action: String,
}

/// What a request for members-only content gets when it is not a member's: the portal login
/// (with the way back), or a 403 page saying why with the way to verify or to join.
fn refuse<S: Store>(st: &WebState<S>, ctx: &PageCtx, gate: Gate, here: &str) -> PageResult {
    let https = st.shared.https;
    let login = || {
        Redirect::to(&format!(
            "/cme/login?next={}",
            url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>()
        ))
        .into_response()
    };
    let cat = &st.shared.catalogues;
    let (reason, href, action) = match gate {
        Gate::Login => return Ok(login()),
        Gate::LoginAgain => {
            let mut r = login();
            clear_cookie(&mut r, https, portal_cookie(https));
            return Ok(r);
        }
        Gate::Unverified => (
            "cme-members-unverified",
            "/mypage/identity",
            "cme-members-verify",
        ),
        Gate::NotMember | Gate::Member { .. } => ("learning-not-member", JOIN, "learning-join"),
    };
    let view = RefusedView {
        c: ctx.chrome(cat),
        reason: cat.text(ctx.lang, reason, &[]),
        href,
        action: cat.text(ctx.lang, action, &[]),
    };
    let mut r = html(page(view.render()))?;
    *r.status_mut() = StatusCode::FORBIDDEN;
    Ok(r)
}

/// Reads `q0`, `q1`, … (0-based choices, a checkbox name repeated) from a form body, one set per
/// question of `questions`; a value that is no choice number is kept out-of-range so the use
/// case refuses it by name.
fn answers_from(body: &[u8], questions: &[Question]) -> Vec<BTreeSet<u8>> {
    let mut out = vec![BTreeSet::new(); questions.len()];
    for (k, v) in url::form_urlencoded::parse(body) {
        let Some(i) = k
            .strip_prefix('q')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|i| *i < questions.len())
        else {
            continue;
        };
        let c = v.trim().parse::<u8>().unwrap_or(u8::MAX);
        if let Some(slot) = out.get_mut(i) {
            slot.insert(c);
        }
    }
    out
}

/// One question as a page shows it: as a form, or with the answer, key and explanation.
pub(crate) struct QuestionView {
    name: String,
    text: String,
    multiple: bool,
    choices: Vec<ChoiceView>,
    explanation: String,
    correct: bool,
}

/// One choice of a question.
pub(crate) struct ChoiceView {
    value: usize,
    label: String,
    yours: bool,
    key: bool,
}

/// Questions for a form (`given` empty) or a result (`show_key`).
fn question_views(
    questions: &[Question],
    given: &[BTreeSet<u8>],
    show_key: bool,
) -> Vec<QuestionView> {
    let empty = BTreeSet::new();
    questions
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let g = given.get(i).unwrap_or(&empty);
            QuestionView {
                name: format!("q{i}"),
                text: q.text.clone(),
                multiple: q.kind == mamis_domain::learning::QuestionKind::Multiple,
                choices: q
                    .choices
                    .iter()
                    .enumerate()
                    .map(|(j, label)| {
                        let j8 = u8::try_from(j).unwrap_or(u8::MAX);
                        ChoiceView {
                            value: j,
                            label: label.clone(),
                            yours: g.contains(&j8),
                            key: show_key && q.key.contains(&j8),
                        }
                    })
                    .collect(),
                explanation: if show_key {
                    q.explanation.clone()
                } else {
                    String::new()
                },
                correct: show_key && q.is_correct(g),
            }
        })
        .collect()
}

/// Text paragraphs (blank-line separated) for templates.
fn paragraphs(text: &str) -> Vec<String> {
    text.split("\n\n")
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// A response that must not be cached (members-only content).
fn private(mut r: Response) -> Response {
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("private, no-store"),
    );
    r
}
