//! My Page ①'s card: where the codes still missing in the current window are taught — upcoming
//! sessions in the doctor's prefecture or online and (members) e-learning contents, ranked by
//! how much of the shortfall each closes. The ① page calls [`card`] and places its HTML.

use askama::Template;
use mamis_app::cme::Summary;
use mamis_store::Store;

use crate::WebState;
use crate::shell::chrome::{Chrome, PageCtx};
use crate::shell::error::{Failure, PageError};
use crate::shell::fmt::Fmt;

struct Offer {
    href: String,
    title: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "learning/suggestions.html")]
struct CardView<'a> {
    c: Chrome<'a>,
    missing: String,
    sessions: Vec<Offer>,
    contents: Vec<Offer>,
    member: bool,
}

/// The rendered card for a doctor's summary (empty when there is nothing to suggest).
pub(crate) async fn card<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    s: &Summary,
) -> Result<String, PageError> {
    let sug = mamis_app::learning::calendar::for_summary(&st.app, s)
        .await
        .map_err(|e| PageError(e.into()))?;
    if sug.sessions.is_empty() && sug.contents.is_empty() {
        return Ok(String::new());
    }
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let codes = |cs: &mut dyn Iterator<Item = u16>| {
        cs.map(|c| c.to_string()).collect::<Vec<_>>().join(", ")
    };
    let missing: Vec<u16> = sug.missing.iter().copied().take(12).collect();
    let view = CardView {
        c: ctx.chrome(cat),
        missing: codes(&mut missing.into_iter()),
        sessions: sug
            .sessions
            .iter()
            .map(|(l, _)| Offer {
                href: format!("/calendar/sessions/{}", l.row.session),
                title: l.row.title.clone(),
                detail: format!(
                    "{} {} · {} · CC {}",
                    f.date(mamis_domain::time::japan_date(l.row.start)),
                    crate::shell::fmt::hm(l.row.start),
                    l.row.organiser,
                    codes(&mut l.credits.iter().map(|(c, _)| *c))
                ),
            })
            .collect(),
        contents: sug
            .contents
            .iter()
            .filter_map(|(i, _)| {
                let c = i.content()?;
                Some(Offer {
                    href: format!("/cme/elearning/{}", i.version.item_id),
                    title: i.version.title.clone(),
                    detail: f.t("learning-code", &[("code", &c.code.to_string())]),
                })
            })
            .collect(),
        member: s.jma_member,
    };
    view.render().map_err(|e| {
        tracing::error!(error = %e, "template");
        PageError(Failure::Internal)
    })
}
