//! Request observation (ids, client address, logs, metrics) and security headers.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use mamis_store::Store;

use crate::WebState;
use crate::shell::client_addr::{self, ClientAddr};
use crate::shell::i18n::Lang;

/// The id of a request, echoed in `X-Request-Id`, logs and error pages.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Name of the language cookie (not security-sensitive; a preference).
pub const LANG_COOKIE: &str = "mamis_lang";

/// A cookie's value from the request headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The language chosen by the switch; Japanese otherwise.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(|v| Lang::parse(&v))
        .unwrap_or_default()
}

fn incoming_request_id(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("x-request-id")?.to_str().ok()?;
    (!v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .then(|| v.to_owned())
}

/// Assigns the request id and client address, logs the request and records its metrics.
pub async fn observe<S: Store>(
    State(st): State<WebState<S>>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = incoming_request_id(req.headers())
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let client = client_addr::resolve(peer, req.headers(), &st.shared.trusted_proxies);
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let path = req.uri().path().to_owned();
    req.extensions_mut().insert(RequestId(id.clone()));
    req.extensions_mut().insert(client);

    let mut resp = next.run(req).await;

    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    // The route template is known only after routing; the handler leaves it on the response.
    let route = resp
        .extensions()
        .get::<MatchedRoute>()
        .map(|m| m.0.clone())
        .unwrap_or(route);
    st.shared
        .metrics
        .record(&method, &route, status, elapsed.as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), v);
    }
    let ClientAddr(ip) = client;
    if status >= 500 {
        tracing::error!(request_id = %id, %method, %path, %route, status, client = %ip, ms = elapsed.as_millis() as u64, "request");
    } else {
        tracing::info!(request_id = %id, %method, %path, %route, status, client = %ip, ms = elapsed.as_millis() as u64, "request");
    }
    resp
}

/// The matched route template, carried from inside the router back out to [`observe`].
#[derive(Debug, Clone)]
pub struct MatchedRoute(pub String);

/// A page whose form may send the browser on to a client of the OpenID Provider (login, second
/// factor, consent, logout confirmation) names that client's origin; its CSP `form-action`
/// allows exactly it besides `'self'`, since the browser applies the directive to every
/// redirect that follows the form's submission.
#[derive(Debug, Clone)]
pub struct FormActionOrigin(pub String);

/// The CSP of a response whose forms stay on this origin (nearly all of them).
const CSP_SELF: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The CSP of every response; `form-action` widened by one validated client origin at most.
fn content_security_policy(form_action: Option<&FormActionOrigin>) -> String {
    let extra = form_action
        .filter(|o| {
            // an origin is scheme://host[:port]; anything else never reaches the header
            url::Url::parse(&o.0).is_ok_and(|u| u.origin().ascii_serialization() == o.0)
        })
        .map(|o| format!("form-action 'self' {}", o.0));
    match extra {
        Some(widened) => CSP_SELF.replacen("form-action 'self'", &widened, 1),
        None => CSP_SELF.to_owned(),
    }
}

/// Whether a request speaks for someone (a session cookie or a bearer token): its answer may
/// hold personal data and must not be kept by any cache.
fn personal(headers: &HeaderMap) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("bearer "));
    let session = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.split_once('=').map(|(k, _)| k.trim()))
        .any(|k| SESSION_COOKIES.contains(&k));
    bearer || session
}

/// The cookies that carry a login (My Page / office, the CME portal's own, and a login waiting
/// for its second factor), both spellings.
const SESSION_COOKIES: [&str; 6] = [
    "mamis_session",
    "__Host-mamis_session",
    "mamis_portal",
    "__Host-mamis_portal",
    "mamis_mfa",
    "__Host-mamis_mfa",
];

/// Adds the security headers every response carries, and `Cache-Control: no-store` to every
/// answer to a request that carries a login (static files excepted).
pub async fn security_headers<S: Store>(
    State(st): State<WebState<S>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    // Exempt are the static files a route serves, not any path under /static/ (an unknown one is
    // answered by the not-found page, which shows who is logged in).
    let static_file = route.as_deref().is_some_and(|r| r.starts_with("/static/"));
    let no_store = personal(req.headers()) && !static_file;
    let mut resp = next.run(req).await;
    if let Some(r) = route {
        resp.extensions_mut().insert(MatchedRoute(r));
    }
    let csp = match resp.extensions().get::<FormActionOrigin>() {
        None => Ok(HeaderValue::from_static(CSP_SELF)),
        origin => HeaderValue::from_str(&content_security_policy(origin)),
    };
    let h = resp.headers_mut();
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
    };
    if let Ok(v) = csp {
        h.insert(HeaderName::from_static("content-security-policy"), v);
    }
    if no_store {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "same-origin");
    set(h, "cross-origin-opener-policy", "same-origin");
    // A page that needs a device feature (the desk scanner's camera) sets its own policy.
    if !h.contains_key("permissions-policy") {
        set(
            h,
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()",
        );
    }
    if st.shared.https {
        set(
            h,
            "strict-transport-security",
            "max-age=63072000; includeSubDomains",
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_action_takes_one_origin_and_nothing_else() {
        let plain = content_security_policy(None);
        assert_eq!(plain, CSP_SELF, "the constant is the computed policy");
        assert!(plain.contains("form-action 'self';"), "{plain}");
        let rp = FormActionOrigin("http://127.0.0.1:43123".into());
        assert!(
            content_security_policy(Some(&rp))
                .contains("form-action 'self' http://127.0.0.1:43123;")
        );
        for bad in [
            "*",
            "https://rp.example/cb",
            "https://a.example; script-src *",
            "javascript:x",
        ] {
            let csp = content_security_policy(Some(&FormActionOrigin(bad.into())));
            assert!(csp.contains("form-action 'self';"), "{bad}: {csp}");
        }
    }

    #[test]
    fn a_login_cookie_or_a_bearer_token_makes_the_answer_personal() {
        let with = |k: header::HeaderName, v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(k, HeaderValue::from_static(v));
            h
        };
        assert!(personal(&with(
            header::COOKIE,
            "mamis_lang=ja; mamis_session=abc"
        )));
        assert!(personal(&with(header::COOKIE, "__Host-mamis_portal=x")));
        assert!(personal(&with(header::COOKIE, "mamis_mfa=pending")));
        assert!(personal(&with(header::AUTHORIZATION, "Bearer t")));
        assert!(!personal(&with(
            header::COOKIE,
            "mamis_lang=en; mamis_csrf=t"
        )));
        assert!(!personal(&with(header::AUTHORIZATION, "Basic eDp5")));
        assert!(!personal(&HeaderMap::new()));
    }
}
