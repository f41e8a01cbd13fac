//! The HTTP surface of MAMIS: server-rendered pages (Japanese first), the JSON API with its
//! OpenAPI document, and the operations endpoints, behind one set of security middleware.

mod calendar;
mod certificates;
mod cme;
mod home;
mod identity;
mod learning;
mod members;
mod membership;
mod mypage;
mod office;
mod oidc;
mod openapi;
mod ops;
mod portal;
mod programmes;
mod registry;
mod shell;
mod training;

pub use ipnet::IpNet;
pub use openapi::{ApiDoc, openapi_json};
pub use shell::client_addr::parse_trusted_proxies;
pub use shell::i18n;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use mamis_app::App;
use mamis_store::Store;

/// Settings of the HTTP layer that the app layer does not need.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Proxies whose `X-Forwarded-For` hops are trusted (`MAMIS_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<IpNet>,
    /// Client addresses that may read `/metrics` (`MAMIS_METRICS_ALLOW`): request counts and
    /// timings per route tell an outsider too much about the service.
    pub metrics_allow: Vec<IpNet>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            metrics_allow: ["127.0.0.1/32", "::1/128"]
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),
        }
    }
}

pub(crate) struct Shared {
    pub catalogues: shell::i18n::Catalogues,
    pub metrics: shell::metrics::Metrics,
    pub trusted_proxies: Vec<IpNet>,
    pub metrics_allow: Vec<IpNet>,
    /// `scheme://host[:port]` of the base URL, for the Origin check.
    pub origin: String,
    /// Whether the base URL is https (Secure cookies, `__Host-` names, HSTS).
    pub https: bool,
    /// The CME portal's HTTP client for talking to the provider (as any relying party would).
    pub http: reqwest::Client,
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
            catalogues: shell::i18n::Catalogues::load(&CATALOGUE_JA, &CATALOGUE_EN)?,
            metrics: shell::metrics::Metrics::default(),
            trusted_proxies: config.trusted_proxies,
            metrics_allow: config.metrics_allow,
            origin,
            https,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .map_err(|e| format!("HTTP client: {e}"))?,
        };
        Ok(Self {
            app,
            shared: Arc::new(shared),
        })
    }
}

/// One Fluent file per capability and language; a capability owns its file. The keys form one
/// catalogue per language, so a key is defined once whichever file holds it.
macro_rules! catalogue {
    ($lang:literal) => {
        [
            include_str!(concat!("../i18n/", $lang, "/shell.ftl")),
            include_str!(concat!("../i18n/", $lang, "/identity.ftl")),
            include_str!(concat!("../i18n/", $lang, "/office.ftl")),
            include_str!(concat!("../i18n/", $lang, "/portal.ftl")),
            include_str!(concat!("../i18n/", $lang, "/oidc.ftl")),
            include_str!(concat!("../i18n/", $lang, "/cme.ftl")),
            include_str!(concat!("../i18n/", $lang, "/certificates.ftl")),
            include_str!(concat!("../i18n/", $lang, "/training.ftl")),
            include_str!(concat!("../i18n/", $lang, "/membership.ftl")),
            include_str!(concat!("../i18n/", $lang, "/members.ftl")),
            include_str!(concat!("../i18n/", $lang, "/programmes.ftl")),
            include_str!(concat!("../i18n/", $lang, "/learning.ftl")),
        ]
    };
}

/// The Japanese catalogue's sources.
pub(crate) const CATALOGUE_JA: [&str; 12] = catalogue!("ja");
/// The English catalogue's sources.
pub(crate) const CATALOGUE_EN: [&str; 12] = catalogue!("en");

/// The whole application as one router: the shell's own routes and each capability's, under
/// the shell's layers (outermost last: observation, security headers, error pages, CSRF).
pub fn router<S: Store>(state: WebState<S>) -> Router {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::openapi))
        .merge(shell::assets::routes::<S>())
        .merge(ops::routes::<S>())
        .merge(home::routes::<S>())
        .merge(identity::routes::<S>())
        .merge(mypage::routes::<S>())
        .merge(cme::routes::<S>())
        .merge(certificates::routes::<S>())
        .merge(training::routes::<S>())
        .merge(portal::routes::<S>())
        .merge(oidc::routes::<S>())
        .merge(office::routes::<S>())
        .merge(membership::routes::<S>())
        .merge(registry::routes::<S>())
        .merge(members::routes::<S>())
        .merge(programmes::routes::<S>())
        .merge(learning::routes::<S>())
        .merge(calendar::routes::<S>())
        .fallback(shell::assets::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            shell::csrf::protect::<S>,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            shell::error::render::<S>,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            shell::middleware::security_headers::<S>,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            shell::middleware::observe::<S>,
        ))
        .with_state(state)
}
