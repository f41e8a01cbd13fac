//! The home page: what MAMIS is, and the ways in.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use mamis_store::Store;

use crate::WebState;
use crate::shell::chrome::{Chrome, PageCtx, page};
use crate::shell::error::PageError;

/// The home page's route.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new().route("/", get(home::<S>))
}

#[derive(Template)]
#[template(path = "home/home.html")]
struct HomeView<'a> {
    c: Chrome<'a>,
}

/// The home page: what MAMIS is, and the ways in.
pub async fn home<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
) -> Result<Html<String>, PageError> {
    page(
        HomeView {
            c: ctx.chrome(&st.shared.catalogues),
        }
        .render(),
    )
}
