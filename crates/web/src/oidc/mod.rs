//! The OpenID Provider's HTTP endpoints: discovery, authorization (with login and consent pages),
//! token, userinfo, revocation and RP-initiated logout. Protocol decisions are in
//! `mamis_app::oidc::provider`; this file only speaks HTTP.

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use mamis_app::identity::sessions;
use mamis_app::oidc::provider::{
    self, AuthorizeOutcome, AuthorizeRequest, OAuthError, TokenRequest,
};
use mamis_store::Store;

use crate::WebState;
use crate::shell::auth::{MaybeUser, clear_cookie, session_cookie};
use crate::shell::chrome::{Chrome, Notice, PageCtx, page};
use crate::shell::error::{Failure, PageError};
use crate::shell::middleware::{FormActionOrigin, cookie};

/// The routes of the OpenID Provider.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery::<S>))
        .route("/oauth2/authorize", get(authorize::<S>))
        .route("/oauth2/consent", post(consent::<S>))
        .route("/oauth2/token", post(token::<S>))
        .route("/oauth2/revoke", post(revoke::<S>))
        .route(
            "/oauth2/logout",
            get(logout::<S>).post(logout_confirmed::<S>),
        )
        .route("/userinfo", get(userinfo::<S>).post(userinfo::<S>))
}

/// The discovery document.
pub async fn discovery<S: Store>(State(st): State<WebState<S>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        provider::discovery(&st.app).to_string(),
    )
        .into_response()
}

fn pairs(raw: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

fn request_from(p: &[(String, String)]) -> AuthorizeRequest {
    let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    AuthorizeRequest {
        client_id: get("client_id").unwrap_or_default(),
        redirect_uri: get("redirect_uri").unwrap_or_default(),
        response_type: get("response_type").unwrap_or_default(),
        scope: get("scope").unwrap_or_default(),
        state: get("state"),
        nonce: get("nonce"),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
        prompt: get("prompt"),
        max_age: get("max_age").and_then(|m| m.parse().ok()),
        request_object: get("request").is_some(),
        request_uri: get("request_uri").is_some(),
    }
}

/// Whether a parameter is given twice: RFC 6749 §3.1 forbids it, and which of the two values
/// would count is exactly what an attacker would like to choose.
fn repeated(p: &[(String, String)]) -> bool {
    let mut names: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.windows(2).any(|w| w[0] == w[1])
}

/// The error page of an authorization request that cannot be answered by redirect.
fn refusal<S: Store>(st: &WebState<S>, ctx: &PageCtx, key: &str) -> Result<Response, PageError> {
    let cat = &st.shared.catalogues;
    let view = Notice {
        c: ctx.chrome(cat),
        title: cat.text(ctx.lang, "oidc-error-title", &[]),
        body: vec![cat.text(ctx.lang, key, &[])],
        link: None,
    };
    let mut r = page(view.render())?.into_response();
    *r.status_mut() = StatusCode::BAD_REQUEST;
    Ok(r)
}

#[derive(Template)]
#[template(path = "oidc/consent.html")]
struct ConsentView<'a> {
    c: Chrome<'a>,
    title: String,
    lead: String,
    scopes: Vec<String>,
    params: Vec<(String, String)>,
    allow: String,
    deny: String,
}

async fn decide<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    user: Option<&sessions::Current>,
    params: Vec<(String, String)>,
    consented: bool,
) -> Result<Response, PageError> {
    if repeated(&params) {
        return refusal(st, ctx, "oidc-repeated-parameter");
    }
    let req = request_from(&params);
    let cat = &st.shared.catalogues;
    match provider::authorize(&st.app, &req, user, consented).await? {
        AuthorizeOutcome::Redirect(to) => Ok(Redirect::to(&to).into_response()),
        AuthorizeOutcome::Refuse(key) => refusal(st, ctx, key),
        AuthorizeOutcome::Login { fresh } => {
            // Back here after the login; a forced login must not loop on prompt=login.
            let mut back: Vec<(String, String)> = params
                .into_iter()
                .filter(|(k, _)| !(fresh && (k == "prompt" || k == "max_age")))
                .collect();
            if fresh {
                back.push(("max_age".into(), "600".into()));
            }
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(back)
                .finish();
            let next = format!("/oauth2/authorize?{query}");
            let to = format!(
                "/login?next={}",
                url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            );
            let mut r = Redirect::to(&to).into_response();
            if fresh {
                clear_cookie(&mut r, st.shared.https, session_cookie(st.shared.https));
            }
            Ok(r)
        }
        AuthorizeOutcome::Consent {
            client_name,
            scopes,
        } => {
            let view = ConsentView {
                c: ctx.chrome(cat),
                title: cat.text(ctx.lang, "consent-title", &[("client", &client_name)]),
                lead: cat.text(ctx.lang, "consent-lead", &[("client", &client_name)]),
                scopes: scopes
                    .iter()
                    .map(|s| cat.text(ctx.lang, &format!("scope-{s}"), &[]))
                    .collect(),
                params: params
                    .into_iter()
                    .filter(|(k, _)| k != "csrf" && k != "decision")
                    .collect(),
                allow: cat.text(ctx.lang, "consent-allow", &[]),
                deny: cat.text(ctx.lang, "consent-deny", &[]),
            };
            let mut r = page(view.render())?.into_response();
            // both answers of the form end at the client
            if let Some(o) =
                provider::redirect_origin(&st.app, &req.client_id, &req.redirect_uri).await?
            {
                r.extensions_mut().insert(FormActionOrigin(o));
            }
            Ok(r)
        }
    }
}

/// `GET /oauth2/authorize`.
pub async fn authorize<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    MaybeUser(user): MaybeUser,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    decide(
        &st,
        &ctx,
        user.as_ref(),
        pairs(q.as_deref().unwrap_or("")),
        false,
    )
    .await
}

/// `POST /oauth2/consent`: the consent page's answer.
pub async fn consent<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    MaybeUser(user): MaybeUser,
    body: String,
) -> Result<Response, PageError> {
    let params = pairs(&body);
    if repeated(&params) {
        return refusal(&st, &ctx, "oidc-repeated-parameter");
    }
    let allow = params.iter().any(|(k, v)| k == "decision" && v == "allow");
    let Some(u) = user else {
        return Err(PageError(Failure::Unauthenticated));
    };
    let params: Vec<(String, String)> = params
        .into_iter()
        .filter(|(k, _)| k != "csrf" && k != "decision")
        .collect();
    if !allow {
        let req = request_from(&params);
        // Only a registered redirect URI is followed, even to say no; nothing is issued.
        if !provider::redirect_allowed(&st.app, &req.client_id, &req.redirect_uri).await? {
            return Err(PageError(Failure::BadRequest("invalid-value")));
        }
        let mut url = url::Url::parse(&req.redirect_uri)
            .map_err(|_| PageError(Failure::BadRequest("invalid-value")))?;
        url.query_pairs_mut().append_pair("error", "access_denied");
        if let Some(s) = &req.state {
            url.query_pairs_mut().append_pair("state", s);
        }
        url.query_pairs_mut()
            .append_pair("iss", &provider::issuer(&st.app));
        return Ok(Redirect::to(url.as_str()).into_response());
    }
    decide(&st, &ctx, Some(&u), params, true).await
}

fn oauth_error(e: OAuthError) -> Response {
    let body = serde_json::json!({ "error": e.error, "error_description": e.description });
    let mut r = (
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        body.to_string(),
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if e.error == "invalid_client" {
        h.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"mamis\""),
        );
    }
    r
}

/// Client credentials from HTTP Basic (RFC 6749 §2.3.1: both parts form-urlencoded) or the form.
fn client_credentials(
    headers: &HeaderMap,
    form: &[(String, String)],
) -> (Option<String>, Option<String>) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(i, p)| (i.to_owned(), p.to_owned())));
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    if let Some((id, secret)) = basic {
        return (decode(&id), decode(&secret));
    }
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    (get("client_id"), get("client_secret"))
}

/// `POST /oauth2/token`.
pub async fn token<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let form = pairs(&body);
    if repeated(&form) {
        return oauth_error(OAuthError::new(
            "invalid_request",
            "a parameter is given more than once",
        ));
    }
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (client_id, client_secret) = client_credentials(&headers, &form);
    let req = TokenRequest {
        grant_type: get("grant_type").unwrap_or_default(),
        code: get("code"),
        redirect_uri: get("redirect_uri"),
        code_verifier: get("code_verifier"),
        refresh_token: get("refresh_token"),
        client_id,
        client_secret,
    };
    match provider::token(&st.app, &req).await {
        Ok(t) => {
            let mut body = serde_json::json!({
                "access_token": t.access_token,
                "token_type": "Bearer",
                "expires_in": t.expires_in,
                "scope": t.scope,
            });
            if let Some(o) = body.as_object_mut() {
                if let Some(i) = t.id_token {
                    o.insert("id_token".into(), serde_json::Value::String(i));
                }
                if let Some(r) = t.refresh_token {
                    o.insert("refresh_token".into(), serde_json::Value::String(r));
                }
            }
            (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CACHE_CONTROL, "no-store"),
                    (header::PRAGMA, "no-cache"),
                ],
                body.to_string(),
            )
                .into_response()
        }
        Err(e) => oauth_error(e),
    }
}

/// `GET`/`POST /userinfo` with a bearer access token.
pub async fn userinfo<S: Store>(State(st): State<WebState<S>>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let claims = match bearer {
        Some(b) => provider::userinfo(&st.app, b.trim()).await,
        None => Err(mamis_app::AppError::Unauthenticated),
    };
    match claims {
        Ok(c) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            c.to_string(),
        )
            .into_response(),
        Err(mamis_app::AppError::Unauthenticated) => {
            let mut r = StatusCode::UNAUTHORIZED.into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            r
        }
        Err(e) => crate::shell::error::ApiError(e.into()).into_response(),
    }
}

/// `POST /oauth2/revoke` (RFC 7009).
pub async fn revoke<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let form = pairs(&body);
    let (client_id, client_secret) = client_credentials(&headers, &form);
    let token = form
        .iter()
        .find(|(n, _)| n == "token")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    match provider::revoke(
        &st.app,
        client_id.as_deref(),
        client_secret.as_deref(),
        &token,
    )
    .await
    {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => oauth_error(e),
    }
}

#[derive(Template)]
#[template(path = "oidc/logout.html")]
struct LogoutView<'a> {
    c: Chrome<'a>,
    title: String,
    lead: String,
    params: Vec<(String, String)>,
    submit: String,
}

/// `GET /oauth2/logout` (RP-Initiated Logout): with a valid `id_token_hint` the session ends at
/// once and the browser returns to the client; without one, a logged-in user is asked first
/// (§2), so a link on another site cannot log anyone out.
pub async fn logout<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let p = pairs(q.as_deref().unwrap_or(""));
    let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let hinted = match get("id_token_hint") {
        Some(h) => provider::hinted_client(&st.app, &h).await?,
        None => None,
    };
    if hinted.is_none() && ctx.user.is_some() {
        let cat = &st.shared.catalogues;
        let origin = match (get("client_id"), get("post_logout_redirect_uri")) {
            (Some(c), Some(u)) => provider::post_logout_redirect(&st.app, &c, &u, None)
                .await?
                .and_then(|to| url::Url::parse(&to).ok())
                .map(|u| u.origin().ascii_serialization()),
            _ => None,
        };
        let view = LogoutView {
            c: ctx.chrome(cat),
            title: cat.text(ctx.lang, "oidc-logout-title", &[]),
            lead: cat.text(ctx.lang, "oidc-logout-lead", &[]),
            params: p
                .into_iter()
                .filter(|(k, _)| {
                    ["client_id", "post_logout_redirect_uri", "state"].contains(&k.as_str())
                })
                .collect(),
            submit: cat.text(ctx.lang, "oidc-logout-submit", &[]),
        };
        let mut r = page(view.render())?.into_response();
        if let Some(o) = origin {
            r.extensions_mut().insert(FormActionOrigin(o));
        }
        return Ok(r);
    }
    let to = provider::logout_redirect(
        &st.app,
        get("id_token_hint").as_deref(),
        get("post_logout_redirect_uri").as_deref(),
        get("state").as_deref(),
    )
    .await?;
    end_session(&st, ctx, &headers, to).await
}

/// `POST /oauth2/logout`: the confirmed logout; returns to a client named by `client_id` when
/// the address is one of its registered post-logout URIs.
pub async fn logout_confirmed<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
    body: String,
) -> Result<Response, PageError> {
    let p = pairs(&body);
    let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let to = match (get("client_id"), get("post_logout_redirect_uri")) {
        (Some(c), Some(u)) => {
            provider::post_logout_redirect(&st.app, &c, &u, get("state").as_deref()).await?
        }
        _ => None,
    };
    end_session(&st, ctx, &headers, to).await
}

/// Ends this browser's session and goes on to `to`, or says so on a page.
async fn end_session<S: Store>(
    st: &WebState<S>,
    ctx: PageCtx,
    headers: &HeaderMap,
    to: Option<String>,
) -> Result<Response, PageError> {
    let https = st.shared.https;
    if let Some(c) = cookie(headers, session_cookie(https)) {
        sessions::close(&st.app, &c).await.map_err(|e| {
            PageError(Failure::from(match e {
                mamis_app::identity::IdentityError::App(a) => a,
                _ => mamis_app::AppError::Internal("logout".into()),
            }))
        })?;
    }
    let mut r = match to {
        Some(url) => Redirect::to(&url).into_response(),
        None => {
            let cat = &st.shared.catalogues;
            let ctx = ctx.signed_out();
            let view = Notice {
                c: ctx.chrome(cat),
                title: cat.text(ctx.lang, "logged-out", &[]),
                body: vec![],
                link: Some(("/login".into(), cat.text(ctx.lang, "nav-login", &[]))),
            };
            page(view.render())?.into_response()
        }
    };
    clear_cookie(&mut r, https, session_cookie(https));
    Ok(r)
}
