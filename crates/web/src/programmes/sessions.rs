//! The organiser's page naming what a session's items credit in the programmes (besides their
//! CME codes, or instead of them on a non-credit slot).

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use mamis_app::identity::jst;
use mamis_app::programmes::credit::{self, PartInput};
use mamis_domain::programmes::CertifiedProgramme;
use mamis_store::Store;
use uuid::Uuid;

use super::{category_name, programme_name};
use crate::WebState;
use crate::shell::auth::{RequestOrigin, StaffUser};
use crate::shell::chrome::{Chrome, PageCtx, page};
use crate::shell::error::{Failure, PageError};
use crate::shell::fmt::Fmt;

/// Programme parts per item offered on the page.
const SLOTS: usize = 2;

/// One slot of an item: the chosen `programme:category`, web flag and lecture.
pub struct Slot {
    name: String,
    chosen: String,
    web: bool,
    lecture: String,
}

/// One item with its slots.
pub struct ItemRow {
    title: String,
    when: String,
    minutes: u32,
    slots: Vec<Slot>,
}

#[derive(Template)]
#[template(path = "programmes/session.html")]
struct SessionView<'a> {
    c: Chrome<'a>,
    id: String,
    title: String,
    items: Vec<ItemRow>,
    /// (`programme:category`, label) choices.
    choices: Vec<(String, String)>,
}

/// `GET /office/programmes/sessions/{id}`: the session's items and their programme parts.
pub async fn show<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, who): StaffUser,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let (s, items, parts) = credit::session_parts(&st.app, &who, id).await?;
    let choices = CertifiedProgramme::ALL
        .iter()
        .flat_map(|p| {
            let pname = programme_name(&f, *p);
            p.rules().categories.iter().map(move |c| {
                (
                    format!("{}:{}", p.as_str(), c.key),
                    format!("{pname} — {}", category_name(ctx.lang, *p, &c.key)),
                )
            })
        })
        .collect();
    let items = items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            let mine: Vec<_> = parts.iter().filter(|p| p.item == it.id).collect();
            ItemRow {
                title: it.title.clone(),
                when: jst(it.start),
                minutes: it.minutes,
                slots: (0..SLOTS)
                    .map(|k| {
                        let p = mine.get(k);
                        Slot {
                            name: format!("{i}-{k}"),
                            chosen: p
                                .map(|p| format!("{}:{}", p.programme.as_str(), p.category))
                                .unwrap_or_default(),
                            web: p.is_some_and(|p| p.web_session),
                            lecture: p.and_then(|p| p.lecture.clone()).unwrap_or_default(),
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(page(
        SessionView {
            c: ctx.chrome(cat),
            id: id.to_string(),
            title: s.title,
            items,
            choices,
        }
        .render(),
    )?
    .into_response())
}

/// `POST /office/programmes/sessions/{id}`: replaces the session's programme parts.
pub async fn save<S: Store>(
    State(st): State<WebState<S>>,
    StaffUser(_, who): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<Uuid>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let (_, items, _) = credit::session_parts(&st.app, &who, id).await?;
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let mut parts = Vec::new();
    for (i, it) in items.iter().enumerate() {
        for k in 0..SLOTS {
            let chosen = get(&format!("part-{i}-{k}"));
            if chosen.is_empty() {
                continue;
            }
            let (p, c) = chosen
                .split_once(':')
                .ok_or(PageError(Failure::BadRequest("invalid-value")))?;
            let programme = CertifiedProgramme::parse(p)
                .map_err(|_| PageError(Failure::BadRequest("programmes-error-programme")))?;
            let lecture = get(&format!("lecture-{i}-{k}"));
            parts.push(PartInput {
                item: it.id,
                programme,
                category: c.to_owned(),
                web_session: !get(&format!("web-{i}-{k}")).is_empty(),
                lecture: (!lecture.is_empty()).then_some(lecture),
            });
        }
    }
    credit::set_item_programmes(&st.app, &who, id, parts, origin.client_addr).await?;
    Ok(Redirect::to(&format!("/office/programmes/sessions/{id}")).into_response())
}
