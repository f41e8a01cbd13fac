//! CSRF protection for every unsafe HTML request: the browser must say the request is
//! same-origin (Fetch Metadata, else Origin), and the form must echo the token from its cookie.
//! The identity issue binds the token to the server-side session; until then it is per browser.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use mamis_store::Store;
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::WebState;
use crate::shell::error::{Failure, PageError};
use crate::shell::middleware::cookie;

/// The token a page embeds in its forms.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

/// Largest form body read for the token check (large enough that an oversized password still
/// reaches its handler and gets its own message).
const MAX_FORM: usize = 2 * 1024 * 1024;

/// Largest multipart body read for the token check: an attendee list (20 MB) and its form.
const MAX_MULTIPART: usize = 21 * 1024 * 1024;

/// The `csrf` field of a multipart body whose first part it is (forms put it first), once
/// that part is complete; `None` otherwise.
fn multipart_token(content_type: &str, body: &[u8]) -> Option<String> {
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()?
        .trim_matches('"');
    let delimiter = format!("--{boundary}\r\n");
    let rest = body.strip_prefix(delimiter.as_bytes())?;
    let split = rest.windows(4).position(|w| w == b"\r\n\r\n")?;
    let headers = std::str::from_utf8(rest.get(..split)?).ok()?;
    let named_csrf = headers.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("content-disposition:") && l.contains("name=\"csrf\"")
    });
    if !named_csrf {
        return None;
    }
    let value = rest.get(split + 4..)?;
    let end_marker = format!("\r\n--{boundary}");
    let end = value
        .windows(end_marker.len())
        .position(|w| w == end_marker.as_bytes())?;
    std::str::from_utf8(value.get(..end)?)
        .ok()
        .map(str::to_owned)
}

fn cookie_name(https: bool) -> &'static str {
    // `__Host-` pins the cookie to this exact origin; browsers accept it only over https.
    if https {
        "__Host-mamis_csrf"
    } else {
        "mamis_csrf"
    }
}

fn well_formed(t: &str) -> bool {
    t.len() == 43
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn same_origin(req: &Request, origin: &str) -> bool {
    let h = req.headers();
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(o) => o == origin,
        // Neither header: not a modern browser's cross-site request; the token still decides.
        None => true,
    }
}

/// Checks unsafe methods outside `/api/` and hands every request its token.
pub async fn protect<S: Store>(
    State(st): State<WebState<S>>,
    mut req: Request,
    next: Next,
) -> Response {
    let name = cookie_name(st.shared.https);
    let existing = cookie(req.headers(), name).filter(|t| well_formed(t));
    let token = existing.clone().unwrap_or_else(new_token);
    req.extensions_mut().insert(CsrfToken(token.clone()));

    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // Bearer-authenticated and client-authenticated endpoints carry no cookies to forge with.
    let exempt = matches!(
        req.uri().path(),
        "/oauth2/token" | "/oauth2/revoke" | "/userinfo"
    ) || req.uri().path().starts_with("/api/");
    if unsafe_method && !exempt {
        if !same_origin(&req, &st.shared.origin) {
            return PageError(Failure::Csrf).into_response();
        }
        let header_token = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let presented = match header_token {
            Some(t) => Some(t),
            None => {
                let content_type = req
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let is_form = content_type.starts_with("application/x-www-form-urlencoded");
                if content_type.starts_with("multipart/form-data") {
                    // an upload form without script: the token is its first field
                    let (parts, body) = req.into_parts();
                    let Ok(bytes) = to_bytes(body, MAX_MULTIPART).await else {
                        return PageError(Failure::BadRequest("upload-too-large")).into_response();
                    };
                    let t = multipart_token(&content_type, &bytes);
                    req = Request::from_parts(parts, Body::from(bytes));
                    t
                } else if !is_form {
                    None
                } else {
                    let (parts, body) = req.into_parts();
                    let Ok(bytes) = to_bytes(body, MAX_FORM).await else {
                        return PageError(Failure::BadRequest("invalid-value")).into_response();
                    };
                    let t = url::form_urlencoded::parse(&bytes)
                        .find(|(k, _)| k == "csrf")
                        .map(|(_, v)| v.into_owned());
                    req = Request::from_parts(parts, Body::from(bytes));
                    t
                }
            }
        };
        let ok = match (&existing, &presented) {
            (Some(c), Some(p)) => bool::from(c.as_bytes().ct_eq(p.as_bytes())),
            _ => false,
        };
        if !ok {
            return PageError(Failure::Csrf).into_response();
        }
    }

    let mut resp = next.run(req).await;
    let is_page = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    // Only pages carry forms; API and operations responses get no cookie.
    if existing.is_none() && is_page {
        let secure = if st.shared.https { "; Secure" } else { "" };
        let c = format!("{name}={token}; Path=/; HttpOnly; SameSite=Lax{secure}");
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_from_the_first_multipart_field_only() {
        let ct = "multipart/form-data; boundary=XyZ";
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok123\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nx\r\n--XyZ--\r\n";
        assert_eq!(multipart_token(ct, body), Some("tok123".to_owned()));
        let later = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n--XyZ--\r\n";
        assert_eq!(multipart_token(ct, later), None);
        assert_eq!(
            multipart_token("multipart/form-data; boundary=\"XyZ\"", body),
            Some("tok123".to_owned())
        );
        assert_eq!(
            multipart_token("multipart/form-data; boundary=Other", body),
            None
        );
        let cut = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nunterminated";
        assert_eq!(multipart_token(ct, cut), None);
    }
}
