//! Who is asking: the session cookies (My Page / back office, and the CME portal's own), the
//! extractors that resolve them, and the cookie attributes.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use mamis_app::identity::sessions::{self, Current, Origin};
use mamis_app::tokens;
use mamis_domain::Principal;
use mamis_store::{AccountKind, Store};

use crate::WebState;
use crate::shell::client_addr::ClientAddr;
use crate::shell::error::{ApiError, Failure};
use crate::shell::middleware::cookie;

/// The session cookie's name (`__Host-` pins it to this origin when served over https).
pub fn session_cookie(https: bool) -> &'static str {
    if https {
        "__Host-mamis_session"
    } else {
        "mamis_session"
    }
}

/// The CME portal's own session cookie.
pub fn portal_cookie(https: bool) -> &'static str {
    if https {
        "__Host-mamis_portal"
    } else {
        "mamis_portal"
    }
}

/// The short-lived cookie carrying a login that still needs its second factor.
pub fn mfa_cookie(https: bool) -> &'static str {
    if https {
        "__Host-mamis_mfa"
    } else {
        "mamis_mfa"
    }
}

/// Adds a `Set-Cookie` for a session-type cookie (HttpOnly, SameSite=Lax, Secure on https).
pub fn set_cookie(resp: &mut Response, https: bool, name: &str, value: &str, max_age: Option<i64>) {
    let secure = if https { "; Secure" } else { "" };
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}{age}"
    )) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Removes a cookie.
pub fn clear_cookie(resp: &mut Response, https: bool, name: &str) {
    set_cookie(resp, https, name, "", Some(0));
}

/// Where the request came from, for sessions and audit records.
pub fn origin(parts: &Parts) -> Origin {
    Origin {
        client_addr: parts
            .extensions
            .get::<ClientAddr>()
            .map(|c| c.0.to_string()),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|u| u.chars().take(200).collect()),
    }
}

/// The request's origin as an extractor.
pub struct RequestOrigin(pub Origin);

impl<S: Store> FromRequestParts<WebState<S>> for RequestOrigin {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        _: &WebState<S>,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(origin(parts)))
    }
}

/// The logged-in account, if any (pages that work either way).
pub struct MaybeUser(pub Option<Current>);

impl<S: Store> FromRequestParts<WebState<S>> for MaybeUser {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        st: &WebState<S>,
    ) -> Result<Self, Self::Rejection> {
        if let Some(c) = parts.extensions.get::<Option<Current>>() {
            return Ok(Self(c.clone()));
        }
        let found = match cookie(&parts.headers, session_cookie(st.shared.https)) {
            Some(v) => sessions::current(&st.app, &v).await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "session lookup");
                None
            }),
            None => None,
        };
        parts.extensions.insert(found.clone());
        Ok(Self(found))
    }
}

/// A logged-in account; others are sent to the login page and brought back afterwards.
pub struct CurrentUser(pub Current);

impl<S: Store> FromRequestParts<WebState<S>> for CurrentUser {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut Parts,
        st: &WebState<S>,
    ) -> Result<Self, Self::Rejection> {
        let MaybeUser(u) = MaybeUser::from_request_parts(parts, st)
            .await
            .unwrap_or(MaybeUser(None));
        match u {
            Some(c) => Ok(Self(c)),
            None => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/mypage");
                let to = format!(
                    "/login?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                Err(Redirect::to(&to).into_response())
            }
        }
    }
}

/// A logged-in staff account that has enrolled its second factor; staff without TOTP are sent to
/// enrol it first.
pub struct StaffUser(pub Current, pub mamis_domain::Principal);

impl<S: Store> FromRequestParts<WebState<S>> for StaffUser {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut Parts,
        st: &WebState<S>,
    ) -> Result<Self, Self::Rejection> {
        let CurrentUser(c) = CurrentUser::from_request_parts(parts, st).await?;
        if c.account.kind != AccountKind::Staff {
            return Err(
                crate::shell::error::PageError(crate::shell::error::Failure::Forbidden)
                    .into_response(),
            );
        }
        if c.account.totp_secret.is_none() {
            return Err(Redirect::to("/mypage/totp").into_response());
        }
        let principal = mamis_app::identity::recovery::staff_principal(&st.app, &c.account)
            .await
            .map_err(|e| crate::shell::error::PageError(e.into()).into_response())?;
        Ok(Self(c, principal))
    }
}

/// Only local paths are followed after login or a language switch (no open redirect): `next`
/// when [`is_local_path`] accepts it, `default` otherwise.
pub fn safe_next(next: Option<&str>, default: &str) -> String {
    match next {
        Some(n) if is_local_path(n) => n.to_owned(),
        _ => default.to_owned(),
    }
}

/// Whether `target` can only lead to a page of this site: it starts with a single `/` and holds
/// no backslash, control or whitespace character, and its path still starts with a single `/`
/// and holds no backslash or control character after percent-decoding. (Browsers drop tabs and
/// newlines and read `\\` as `/`, so `/\t/evil.example` or `/\\evil.example` would leave the site.)
pub fn is_local_path(target: &str) -> bool {
    fn rooted(p: &str) -> bool {
        let mut chars = p.chars();
        chars.next() == Some('/') && !matches!(chars.next(), Some('/' | '\\'))
    }
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_decode(path);
    rooted(target)
        && !target
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
        && rooted(&decoded)
        && !decoded.chars().any(|c| c == '\\' || c.is_control())
}

/// `%XX` sequences decoded as UTF-8 (lossy); anything else kept.
fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The API token's principal: 401 when the bearer token is missing, unknown or revoked.
pub(crate) async fn principal<S: Store>(
    st: &WebState<S>,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError(Failure::Unauthenticated))?;
    Ok(tokens::authenticate(&st.app, secret.trim()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_site_are_local() {
        for ok in [
            "/mypage",
            "/oauth2/authorize?client_id=a&redirect_uri=https%3A%2F%2Frp.example%2Fcb",
            "/cme/members/news",
            "/a%20b",
            "/%252F%252Fevil.example",
        ] {
            assert!(is_local_path(ok), "{ok}");
        }
        for bad in [
            "",
            "mypage",
            "//evil.example/x",
            "/\\evil.example/x",
            "/%09/evil.example/x",
            "/\t/evil.example/x",
            "/%2F/evil.example",
            "/%5Cevil.example",
            "/x\ny",
            "/x%0Ay",
            "https://evil.example/",
            "/ /evil.example",
            "/x\u{3000}y",
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
        assert_eq!(safe_next(Some("/%09/evil.example/x"), "/mypage"), "/mypage");
        assert_eq!(safe_next(Some("/mypage/cme"), "/mypage"), "/mypage/cme");
        assert_eq!(safe_next(None, "/office"), "/office");
    }
}
