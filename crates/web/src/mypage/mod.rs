//! My Page (マイページ): where the doctor stands — account status, the CME card — and the way to
//! the account settings. Registration steps come first.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use mamis_app::identity::sessions::Current;
use mamis_store::{AccountKind, Store, Verification};

use crate::WebState;
use crate::shell::auth::CurrentUser;
use crate::shell::chrome::{Chrome, PageCtx, PageResult, html, page};
use crate::shell::error::PageError;
use crate::shell::fmt::Fmt;
use crate::shell::i18n::Lang;

/// My Page's route.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new().route("/mypage", get(mypage::<S>))
}

#[derive(Template)]
#[template(path = "mypage/mypage.html")]
struct MyPageView<'a> {
    c: Chrome<'a>,
    status: String,
    status_class: &'static str,
    verified: bool,
    /// A doctor's account (staff see only their account settings here).
    doctor: bool,
    email: String,
    totp: bool,
    cme: Option<CmeCard>,
    /// The certified-doctor programmes card (issue 20).
    programmes: Option<crate::programmes::ProgrammeCard>,
}

/// My Page: where the doctor stands, and the account settings. Registration steps come first.
pub async fn mypage<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(u): CurrentUser,
) -> PageResult {
    let a = &u.account;
    if a.kind == AccountKind::Doctor
        && a.verification == Verification::Unverified
        && a.password_hash.is_none()
    {
        return Ok(Redirect::to("/mypage/identity").into_response());
    }
    if a.password_hash.is_none() {
        return Ok(Redirect::to("/mypage/password").into_response());
    }
    let (key, class) = match a.verification {
        Verification::Verified => ("mypage-status-verified", "verified"),
        Verification::Review => ("mypage-status-review", "review"),
        Verification::Suspended => ("mypage-status-suspended", "suspended"),
        Verification::Unverified => ("mypage-status-unverified", "unverified"),
    };
    let cme = mypage_card(&st, ctx.lang, &u).await?;
    let programmes = crate::programmes::mypage_card(&st, ctx.lang, &u).await?;
    let cat = &st.shared.catalogues;
    let view = MyPageView {
        c: ctx.chrome(cat),
        cme,
        programmes,
        status: cat.text(ctx.lang, key, &[]),
        status_class: class,
        verified: a.verification == Verification::Verified,
        doctor: a.kind == AccountKind::Doctor,
        email: a.email.clone(),
        totp: a.totp_secret.is_some(),
    };
    html(page(view.render()))
}

// ---------------------------------------------------------------- My Page card

/// The CME card of My Page: where the next certificate's window stands.
pub(crate) struct CmeCard {
    /// One sentence: the window, its total and the threshold.
    pub line: String,
}

/// The card for the session's account; `None` when it is not a verified doctor's.
pub(crate) async fn mypage_card<S: Store>(
    st: &WebState<S>,
    lang: Lang,
    u: &Current,
) -> Result<Option<CmeCard>, PageError> {
    let Some(s) = mamis_app::cme::own_summary(&st.app, u).await? else {
        return Ok(None);
    };
    let f = Fmt::new(&st.shared.catalogues, lang);
    let line = match s.standing.next_window() {
        Some(w) => f.t(
            "mycme-card-line",
            &[
                ("range", &f.range(w.from, w.to)),
                (
                    "total",
                    &mamis_domain::HalfUnits::new(w.total_half()).to_string(),
                ),
                ("threshold", &s.standing.threshold.to_string()),
            ],
        ),
        None => f.t("mycme-grid-caption-none", &[]),
    };
    Ok(Some(CmeCard { line }))
}
