//! The HTTP surface of MAMIS: server-rendered pages (Japanese first), the JSON API with its
//! OpenAPI document, and the operations endpoints, behind one set of security middleware.

mod admin;
mod api;
mod auth;
mod certificates;
mod client_addr;
mod cme;
mod cme_api;
mod csrf;
mod device;
mod error;
pub mod i18n;
mod metrics;
mod middleware;
mod migration;
mod mypage;
mod office;
mod oidc;
mod ops;
mod pages;
mod portal;
mod training_api;
mod training_doctor;
mod training_office;

pub use api::{ApiDoc, openapi_json};
pub use client_addr::parse_trusted_proxies;
pub use ipnet::IpNet;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use mamis_app::App;
use mamis_store::Store;

/// Settings of the HTTP layer that the app layer does not need.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Proxies whose `X-Forwarded-For` hops are trusted (`MAMIS_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<IpNet>,
}

pub(crate) struct Shared {
    pub catalogues: i18n::Catalogues,
    pub metrics: metrics::Metrics,
    pub trusted_proxies: Vec<IpNet>,
    /// `scheme://host[:port]` of the base URL, for the Origin check.
    pub origin: String,
    /// Whether the base URL is https (Secure cookies, `__Host-` names, HSTS).
    pub https: bool,
    /// The CME portal's HTTP client for talking to the provider (as any relying party would).
    pub http: reqwest::Client,
    /// Per-address lookups of the public certificate verification page.
    pub verify_limit: certificates::VerifyLimiter,
    /// Attendee lists uploaded and previewed, awaiting the organiser's confirmation.
    pub training_staging: training_office::Staging,
}

/// What every handler can reach: the app context and the web layer's shared parts.
pub struct WebState<S: Store> {
    /// The app context; each handler calls one app function with it (`/readyz` pings its store).
    pub app: App<S>,
    pub(crate) shared: Arc<Shared>,
}

impl<S: Store> Clone for WebState<S> {
    fn clone(&self) -> Self {
        Self {
            app: self.app.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: Store> WebState<S> {
    /// Builds the state; fails only if an embedded catalogue is broken.
    pub fn new(app: App<S>, config: WebConfig) -> Result<Self, String> {
        let base = &app.config.base_url;
        let origin = base.origin().ascii_serialization();
        let https = base.scheme() == "https";
        let shared = Shared {
            catalogues: i18n::Catalogues::load()?,
            metrics: metrics::Metrics::default(),
            trusted_proxies: config.trusted_proxies,
            origin,
            https,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .map_err(|e| format!("HTTP client: {e}"))?,
            verify_limit: certificates::VerifyLimiter::default(),
            training_staging: training_office::Staging::default(),
        };
        Ok(Self {
            app,
            shared: Arc::new(shared),
        })
    }
}

/// The whole application as one router.
pub fn router<S: Store>(state: WebState<S>) -> Router {
    let api = Router::new()
        .route("/api/v1/openapi.json", get(api::openapi))
        .route("/api/v1/associations", get(api::associations::<S>))
        .route("/api/v1/associations/{code}", get(api::association::<S>))
        .route(
            "/api/v1/associations/{code}/members",
            get(api::members::<S>),
        );
    Router::new()
        .route("/", get(pages::home::<S>))
        .route("/mypage", get(mypage::mypage::<S>))
        .route(
            "/login",
            get(mypage::login_page::<S>).post(mypage::login_submit::<S>),
        )
        .route(
            "/login/totp",
            get(mypage::totp_login_page::<S>).post(mypage::totp_login_submit::<S>),
        )
        .route("/logout", post(mypage::logout::<S>))
        .route(
            "/register",
            get(mypage::register_page::<S>).post(mypage::register_submit::<S>),
        )
        .route(
            "/register/continue",
            get(mypage::register_continue_page::<S>).post(mypage::register_continue::<S>),
        )
        .route(
            "/mypage/identity",
            get(mypage::identity_page::<S>).post(mypage::identity_submit::<S>),
        )
        .route(
            "/mypage/password",
            get(mypage::password_page::<S>).post(mypage::password_submit::<S>),
        )
        .route("/mypage/sessions", get(mypage::sessions_page::<S>))
        .route(
            "/mypage/sessions/revoke",
            post(mypage::sessions_revoke::<S>),
        )
        .route(
            "/mypage/totp",
            get(mypage::totp_page::<S>).post(mypage::totp_submit::<S>),
        )
        .route(
            "/mypage/email",
            get(mypage::email_page::<S>).post(mypage::email_submit::<S>),
        )
        .route(
            "/mypage/email/confirm",
            get(mypage::email_confirm_page::<S>).post(mypage::email_confirm::<S>),
        )
        .route(
            "/reset",
            get(mypage::reset_page::<S>).post(mypage::reset_submit::<S>),
        )
        .route(
            "/reset/continue",
            get(mypage::reset_continue_page::<S>).post(mypage::reset_continue::<S>),
        )
        .route(
            "/not-me",
            get(mypage::not_me_page::<S>).post(mypage::not_me::<S>),
        )
        .route(
            "/staff/enrol",
            get(mypage::enrol_page::<S>).post(mypage::enrol_submit::<S>),
        )
        .route("/cme", get(portal::cme::<S>))
        .route(
            "/cme/login/legacy",
            get(portal::legacy_page::<S>).post(portal::legacy_submit::<S>),
        )
        .route("/cme/logout", post(portal::logout::<S>))
        .route("/cme/login", get(portal::mamis_login::<S>))
        .route("/cme/callback", get(portal::mamis_callback::<S>))
        .route("/cme/members/{area}", get(portal::members_area::<S>))
        .route("/office", get(office::office::<S>))
        .route(
            "/office/identity/{account}/verify",
            post(office::verify::<S>),
        )
        .route(
            "/office/identity/{account}/forward",
            post(office::forward::<S>),
        )
        .route(
            "/office/accounts/{account}/suspend",
            post(office::suspend::<S>),
        )
        .route(
            "/office/accounts/{account}/unsuspend",
            post(office::unsuspend::<S>),
        )
        .route("/lang", post(pages::switch_lang::<S>))
        .route("/static/mamis.css", get(pages::stylesheet))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz::<S>))
        .route("/metrics", get(ops::metrics::<S>))
        .route("/jwks.json", get(ops::jwks::<S>))
        .route(
            "/.well-known/openid-configuration",
            get(oidc::discovery::<S>),
        )
        .route("/oauth2/authorize", get(oidc::authorize::<S>))
        .route("/oauth2/consent", post(oidc::consent::<S>))
        .route("/oauth2/token", post(oidc::token::<S>))
        .route("/oauth2/revoke", post(oidc::revoke::<S>))
        .route("/oauth2/logout", get(oidc::logout::<S>))
        .route(
            "/userinfo",
            get(oidc::userinfo::<S>).post(oidc::userinfo::<S>),
        )
        .merge(api)
        .merge(admin::routes::<S>())
        .merge(migration::routes::<S>())
        .merge(cme::routes::<S>())
        .merge(cme_api::routes::<S>())
        .merge(certificates::routes::<S>())
        .merge(training_office::routes::<S>())
        .merge(training_doctor::routes::<S>())
        .merge(training_api::routes::<S>())
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            csrf::protect::<S>,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error::render::<S>,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::security_headers::<S>,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe::<S>,
        ))
        .with_state(state)
}
