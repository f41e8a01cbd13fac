//! JMA staff's list of designated lectures (かかりつけ医 応用研修): list, add and change.

use askama::Template;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect, Response};
use mamis_app::programmes::credit::{self, LectureInput};
use mamis_store::Store;
use serde::Deserialize;

use crate::WebState;
use crate::shell::auth::{RequestOrigin, StaffUser};
use crate::shell::chrome::{Chrome, PageCtx, page};
use crate::shell::error::{Failure, PageError};

/// One lecture line.
pub struct LectureRow {
    key: String,
    title: String,
    group: String,
    retired: bool,
}

#[derive(Template)]
#[template(path = "programmes/lectures.html")]
struct LecturesView<'a> {
    c: Chrome<'a>,
    rows: Vec<LectureRow>,
}

/// `GET /office/programmes/lectures`: the designated lectures.
pub async fn list<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, who): StaffUser,
) -> Result<Response, PageError> {
    let cat = &st.shared.catalogues;
    let rows = credit::lectures(&st.app, &who)
        .await?
        .into_iter()
        .map(|l| LectureRow {
            key: l.key,
            title: l.title,
            group: l.group.map(|g| g.to_string()).unwrap_or_default(),
            retired: l.retired,
        })
        .collect();
    Ok(page(
        LecturesView {
            c: ctx.chrome(cat),
            rows,
        }
        .render(),
    )?
    .into_response())
}

/// The lecture form.
#[derive(Debug, Deserialize)]
pub struct LectureForm {
    key: String,
    title: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    retired: Option<String>,
}

/// `POST /office/programmes/lectures`: adds or changes one lecture.
pub async fn put<S: Store>(
    State(st): State<WebState<S>>,
    StaffUser(_, who): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<LectureForm>,
) -> Result<Response, PageError> {
    let group = match f.group.trim() {
        "" => None,
        g => Some(
            g.parse::<u8>()
                .map_err(|_| PageError(Failure::Unprocessable("programmes-error-lecture-group")))?,
        ),
    };
    credit::put_lecture(
        &st.app,
        &who,
        LectureInput {
            key: f.key,
            title: f.title,
            group,
            retired: f.retired.is_some(),
        },
        origin.client_addr,
    )
    .await?;
    Ok(Redirect::to("/office/programmes/lectures").into_response())
}
