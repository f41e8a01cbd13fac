//! Operations endpoints: liveness, readiness (the database answers) and Prometheus metrics.

use axum::Router;
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mamis_store::Store;

use crate::WebState;
use crate::shell::client_addr::ClientAddr;

/// The operations routes.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz::<S>))
        .route("/metrics", get(metrics::<S>))
        .route("/jwks.json", get(jwks::<S>))
}

/// Liveness: the process serves requests.
pub async fn healthz() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], "ok\n")
}

/// Readiness: the database answers; a load balancer stops sending traffic when it does not.
pub async fn readyz<S: Store>(State(st): State<WebState<S>>) -> impl IntoResponse {
    match st.app.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            "ready\n".to_owned(),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CACHE_CONTROL, "no-store")],
                "database unavailable\n".to_owned(),
            )
        }
    }
}

/// Prometheus text exposition of this instance's request metrics, for the addresses of
/// `MAMIS_METRICS_ALLOW` only (others get 403).
pub async fn metrics<S: Store>(
    State(st): State<WebState<S>>,
    Extension(ClientAddr(ip)): Extension<ClientAddr>,
) -> Response {
    if !st.shared.metrics_allow.iter().any(|n| n.contains(&ip)) {
        return crate::shell::error::ApiError(crate::shell::error::Failure::Forbidden)
            .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.shared.metrics.render(),
    )
        .into_response()
}

/// The provider's public keys (JWKS): active ones and recently retired ones.
pub async fn jwks<S: Store>(State(st): State<WebState<S>>) -> axum::response::Response {
    match mamis_app::oidc::keys::jwks(&st.app).await {
        Ok(v) => (
            [
                (header::CONTENT_TYPE, "application/jwk-set+json"),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            v.to_string(),
        )
            .into_response(),
        Err(e) => crate::shell::error::ApiError(e.into()).into_response(),
    }
}
