//! JMA-admin pages: the OpenID clients (list, edit, disable).

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use mamis_app::AppError;
use mamis_app::oidc::keys::Alg;
use mamis_app::oidc::provider::{self, ClientEdit};
use mamis_store::{OidcClient, Store};
use serde::Deserialize;

use crate::WebState;
use crate::shell::auth::StaffUser;
use crate::shell::chrome::{Chrome, PageCtx, page};
use crate::shell::error::PageError;
use crate::shell::i18n::{Catalogues, Lang};

/// The routes of this module.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/office/clients", get(clients::<S>))
        .route(
            "/office/clients/{id}",
            get(client_page::<S>).post(client_save::<S>),
        )
}

/// One client as the list shows it.
pub struct ClientRow {
    id: String,
    name: String,
    kind: String,
    redirects: String,
    disabled: bool,
    first_party: bool,
}

#[derive(Template)]
#[template(path = "office/clients.html")]
struct ClientsView<'a> {
    c: Chrome<'a>,
    rows: Vec<ClientRow>,
}

/// `GET /office/clients`: every client (JMA admins).
pub async fn clients<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, who): StaffUser,
) -> Result<Response, PageError> {
    let cat = &st.shared.catalogues;
    let rows = provider::list_clients(&st.app, &who)
        .await?
        .into_iter()
        .map(|c| ClientRow {
            kind: cat.text(
                ctx.lang,
                if c.secret_hash.is_some() {
                    "admin-confidential"
                } else {
                    "admin-public"
                },
                &[],
            ),
            redirects: c.redirect_uris.join(" "),
            disabled: c.disabled,
            first_party: c.first_party,
            id: c.id,
            name: c.name,
        })
        .collect();
    Ok(page(
        ClientsView {
            c: ctx.chrome(cat),
            rows,
        }
        .render(),
    )?
    .into_response())
}

#[derive(Template)]
#[template(path = "office/client.html")]
struct ClientView<'a> {
    c: Chrome<'a>,
    id: String,
    name: String,
    redirects: String,
    post_logout: String,
    first_party: bool,
    allow_iseki: bool,
    es256: bool,
    disabled: bool,
    error: Option<String>,
}

fn client_view<'a>(c: Chrome<'a>, cl: &OidcClient, error: Option<String>) -> ClientView<'a> {
    ClientView {
        c,
        id: cl.id.clone(),
        name: cl.name.clone(),
        redirects: cl.redirect_uris.join("\n"),
        post_logout: cl.post_logout_redirect_uris.join("\n"),
        first_party: cl.first_party,
        allow_iseki: cl.allow_iseki,
        es256: cl.id_token_alg == "ES256",
        disabled: cl.disabled,
        error,
    }
}

/// `GET /office/clients/{id}`: the edit form.
pub async fn client_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, who): StaffUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let c = provider::client(&st.app, &who, &id).await?;
    Ok(page(client_view(ctx.chrome(&st.shared.catalogues), &c, None).render())?.into_response())
}

/// The edit form as posted (checkboxes are absent when unchecked).
#[derive(Debug, Deserialize)]
pub struct ClientForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    post_logout_redirect_uris: String,
    first_party: Option<String>,
    allow_iseki: Option<String>,
    disabled: Option<String>,
    #[serde(default)]
    alg: String,
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `POST /office/clients/{id}`: saves; a refusal is shown on the form with what was typed.
pub async fn client_save<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, who): StaffUser,
    Path(id): Path<String>,
    Form(f): Form<ClientForm>,
) -> Result<Response, PageError> {
    let edit = ClientEdit {
        name: f.name.clone(),
        redirect_uris: lines(&f.redirect_uris),
        post_logout_redirect_uris: lines(&f.post_logout_redirect_uris),
        first_party: f.first_party.is_some(),
        allow_iseki: f.allow_iseki.is_some(),
        id_token_alg: Alg::parse(&f.alg).unwrap_or(Alg::Rs256),
        disabled: f.disabled.is_some(),
    };
    let cat = &st.shared.catalogues;
    // checked here first so the page names the problem in its own language
    let refused = match provider::client_fields_problem(
        &edit.name,
        &edit.redirect_uris,
        &edit.post_logout_redirect_uris,
    ) {
        Err(p) => Some(problem_text(cat, ctx.lang, &p)),
        Ok(()) => match provider::edit_client(&st.app, &who, &id, edit).await {
            Ok(_) => None,
            Err(AppError::Conflict(_)) => {
                Some(cat.text(ctx.lang, "admin-client-problem-other", &[]))
            }
            Err(e) => return Err(e.into()),
        },
    };
    match refused {
        None => Ok(Redirect::to("/office/clients").into_response()),
        Some(why) => {
            let mut c = provider::client(&st.app, &who, &id).await?;
            c.name = f.name;
            c.redirect_uris = lines(&f.redirect_uris);
            c.post_logout_redirect_uris = lines(&f.post_logout_redirect_uris);
            let msg = cat.text(ctx.lang, "admin-client-invalid", &[("detail", &why)]);
            let mut r = page(client_view(ctx.chrome(cat), &c, Some(msg)).render())?.into_response();
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
    }
}

/// A refused client field in the page's language.
fn problem_text(cat: &Catalogues, lang: Lang, p: &provider::ClientProblem) -> String {
    use provider::ClientProblem as P;
    match p {
        P::NoName => cat.text(lang, "admin-client-problem-name", &[]),
        P::NoRedirect => cat.text(lang, "admin-client-problem-no-redirect", &[]),
        P::NotAbsolute(u) => cat.text(lang, "admin-client-problem-absolute", &[("uri", u)]),
        P::NotHttps(u) => cat.text(lang, "admin-client-problem-https", &[("uri", u)]),
        P::Fragment(u) => cat.text(lang, "admin-client-problem-fragment", &[("uri", u)]),
    }
}
