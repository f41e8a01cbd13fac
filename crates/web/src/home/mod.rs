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
use crate::shell::fmt::Fmt;

/// The home page's route.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new().route("/", get(home::<S>))
}

#[derive(Template)]
#[template(path = "home/home.html")]
struct HomeView<'a> {
    c: Chrome<'a>,
    /// The cut-over sentence, dated from the configuration and in the tense the clock gives.
    cutover: String,
}

/// The home page: what MAMIS is, and the ways in.
pub async fn home<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
) -> Result<Html<String>, PageError> {
    let cat = &st.shared.catalogues;
    let until = st.app.config.legacy_until;
    let ended = if st.app.now() >= until { "yes" } else { "no" };
    let date = Fmt::new(cat, ctx.lang).date(mamis_domain::time::japan_date(until));
    page(
        HomeView {
            c: ctx.chrome(cat),
            cutover: cat.text(
                ctx.lang,
                "home-mamis-id-body",
                &[("date", &date), ("ended", ended)],
            ),
        }
        .render(),
    )
}
