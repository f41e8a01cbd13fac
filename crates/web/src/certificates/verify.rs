//! The public verification page `/verify` (no login) and its rate limit.
//!
//! Rate limit of `/verify`: `MAMIS_VERIFY_PER_MINUTE` lookups (default 30) per client address
//! (IPv6 per /64), counted in the store ([`mamis_app::limits`]) so that several servers together
//! allow that rate, not a multiple of it. It costs one small write per lookup; what keeps the
//! register from being walked is the 80-bit code, the limit only keeps guessing expensive.

use std::net::IpAddr;

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use mamis_app::cme::certificates::{self, Period, Validity, Verification};
use mamis_app::limits;
use mamis_store::Store;

use crate::WebState;
use crate::shell::auth::RequestOrigin;
use crate::shell::chrome::{Chrome, PageResult, html, page};
use crate::shell::fmt::{Fmt, query_pairs};
use crate::shell::i18n::Lang;
use crate::shell::middleware::lang_of;

/// One counter per IPv4 address, and per /64 for IPv6 (one host usually holds a whole /64).
fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
        }
    }
}

/// Longest number or code looked up (longer ones cannot exist; they are not found).
const MAX_LOOKUP: usize = 64;

/// The answer for a number and code that matched.
struct Found {
    class: &'static str,
    status: String,
    status_detail: String,
    reason: Option<String>,
    kind: String,
    number: String,
    period: String,
    issued: String,
    valid_until: Option<String>,
    holder: String,
}

#[derive(Template)]
#[template(path = "certificates/verify.html")]
struct VerifyView<'a> {
    c: Chrome<'a>,
    title: String,
    /// The same page in the other language.
    lang_href: String,
    found: Option<Found>,
    /// Not found, or wait: the one paragraph under the title.
    message: Option<String>,
    /// Whether the form to type a number and code is shown.
    show_form: bool,
}

fn found(f: &Fmt<'_>, v: &Verification) -> Found {
    let (class, status, status_detail, reason, valid_until) = match &v.validity {
        Validity::Valid(until) => (
            "valid",
            f.t("certificates-verify-valid", &[]),
            match until {
                Some(u) => f.t("certificates-verify-valid-until", &[("date", &f.date(*u))]),
                None => f.t("certificates-verify-valid-no-expiry", &[]),
            },
            None,
            *until,
        ),
        Validity::Expired(u) => (
            "expired",
            f.t("certificates-verify-expired", &[]),
            f.t("certificates-verify-expired-on", &[("date", &f.date(*u))]),
            None,
            Some(*u),
        ),
        Validity::Revoked(d, category) => (
            "revoked",
            f.t("certificates-verify-revoked", &[]),
            f.t("certificates-verify-revoked-on", &[("date", &f.date(*d))]),
            Some(f.t(&category_key(category), &[])),
            None,
        ),
    };
    let period = period_words(f, &v.period);
    Found {
        class,
        status,
        status_detail,
        reason,
        kind: f.t(
            &format!("certificates-kind-{}", v.kind.replace('_', "-")),
            &[],
        ),
        number: v.number.clone(),
        period,
        issued: f.date(v.issued_on),
        // a revoked certificate's former validity is no longer worth showing
        valid_until: valid_until
            .filter(|_| !matches!(v.kind.as_str(), "annual_units" | "attendance"))
            .map(|u| f.date(u)),
        holder: v.holder.clone(),
    }
}

/// A certificate's period in words: one fiscal year, a range of them, or dates.
pub(super) fn period_words(f: &Fmt<'_>, period: &Period) -> String {
    match period {
        Period::Years(from, to) if from == to => f.fy(*from),
        Period::Years(from, to) => f.range(*from, *to),
        Period::Dates(from, to) => f.t(
            "certificates-date-range",
            &[("from", &f.date(*from)), ("to", &f.date(*to))],
        ),
    }
}

/// The message key of a public reason category.
pub(super) fn category_key(category: &str) -> String {
    format!("certificates-category-{}", category.replace('_', "-"))
}

pub(super) fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The language of a verification page: `?lang=` (the page's own switch, which needs no form
/// and so no CSRF token), else the language cookie.
fn verify_lang(headers: &HeaderMap, pairs: &[(String, String)]) -> Lang {
    pairs
        .iter()
        .find(|(k, _)| k == "lang")
        .and_then(|(_, v)| Lang::parse(v))
        .unwrap_or_else(|| lang_of(headers))
}

pub(super) fn param<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .unwrap_or("")
}

/// Renders a verification page: standalone (no header forms, no CSRF token, no account), so a
/// "not found" body depends on nothing but the language. Never indexed, never cached.
fn verify_response<S: Store>(
    st: &WebState<S>,
    lang: Lang,
    status: StatusCode,
    make: impl FnOnce(&Fmt<'_>) -> (String, String, Option<Found>, Option<String>, bool),
) -> PageResult {
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, lang);
    let (title, lang_href, found, message, show_form) = make(&f);
    let view = VerifyView {
        c: Chrome::new(cat, lang, String::new(), String::new()),
        title,
        lang_href,
        found,
        message,
        show_form,
    };
    let mut r = html(page(view.render()))?;
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        HeaderName::from_static("x-robots-tag"),
        HeaderValue::from_static("noindex, nofollow"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// The client's address for the rate limit (all unknown clients share one bucket).
fn client_ip(origin: &mamis_app::identity::sessions::Origin) -> IpAddr {
    origin
        .client_addr
        .as_deref()
        .and_then(|a| a.parse().ok())
        .unwrap_or(IpAddr::from([0u8, 0, 0, 0]))
}

/// 429 with `Retry-After`, in the verification page's layout.
fn limited<S: Store>(st: &WebState<S>, lang: Lang, wait: u64) -> PageResult {
    let mut r = verify_response(st, lang, StatusCode::TOO_MANY_REQUESTS, |f| {
        (
            f.t("certificates-verify-limited-title", &[]),
            format!("/verify?lang={}", lang.other().tag()),
            None,
            Some(f.t(
                "certificates-verify-limited-body",
                &[("seconds", &wait.to_string())],
            )),
            false,
        )
    })?;
    if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Ok(r)
}

/// The public answer for `/verify/{number}?c={code}`: valid, expired or revoked, with type,
/// period, issue date and the masked holder. An unknown number and a wrong or missing code get
/// the same 404 page, byte for byte.
pub async fn verify<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    RequestOrigin(origin): RequestOrigin,
    Path(number): Path<String>,
    RawQuery(q): RawQuery,
) -> PageResult {
    let pairs = query_pairs(q.as_deref()).unwrap_or_default();
    let lang = verify_lang(&headers, &pairs);
    let key = format!("verify:{}", bucket_key(client_ip(&origin)));
    let limit = st.app.config.limits.verify_per_address;
    if let Err(until) = limits::take(&st.app, &[(key, limit)]).await? {
        let wait = (until - st.app.now()).num_seconds().max(1);
        return limited(&st, lang, u64::try_from(wait).unwrap_or(1));
    }
    let code = param(&pairs, "c");
    let answer = if number.len() <= MAX_LOOKUP && code.len() <= MAX_LOOKUP {
        certificates::verify(&st.app, &number, code).await?
    } else {
        None
    };
    match answer {
        Some(v) => {
            let other = format!(
                "/verify/{}?c={}&lang={}",
                enc(&v.number),
                enc(code),
                lang.other().tag()
            );
            verify_response(&st, lang, StatusCode::OK, |f| {
                (
                    f.t("certificates-verify-title", &[]),
                    other,
                    Some(found(f, &v)),
                    None,
                    false,
                )
            })
        }
        None => not_found(&st, lang),
    }
}

/// The one "not found" page: nothing in it comes from the request but the language.
fn not_found<S: Store>(st: &WebState<S>, lang: Lang) -> PageResult {
    verify_response(st, lang, StatusCode::NOT_FOUND, |f| {
        (
            f.t("certificates-verify-not-found-title", &[]),
            format!("/verify?lang={}", lang.other().tag()),
            None,
            Some(f.t("certificates-verify-not-found-body", &[])),
            true,
        )
    })
}

/// `/verify`: the form for a number and code typed from a printed document; a filled form goes
/// on to `/verify/{number}?c=`.
pub async fn verify_form<S: Store>(
    State(st): State<WebState<S>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> PageResult {
    let pairs = query_pairs(q.as_deref()).unwrap_or_default();
    let lang = verify_lang(&headers, &pairs);
    let number: String = param(&pairs, "number")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let code = param(&pairs, "c");
    if !number.is_empty() && !code.is_empty() {
        let to = format!("/verify/{number}?c={}&lang={}", enc(code), lang.tag());
        return Ok(Redirect::to(&to).into_response());
    }
    verify_response(&st, lang, StatusCode::OK, |f| {
        (
            f.t("certificates-verify-title", &[]),
            format!("/verify?lang={}", lang.other().tag()),
            None,
            Some(f.t("certificates-verify-lead", &[])),
            true,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_share_their_64() {
        let host = IpAddr::from([0x2001, 0xdb8, 1, 2, 0, 0, 0, 7]);
        let other_host = IpAddr::from([0x2001, 0xdb8, 1, 2, 9, 9, 9, 9]);
        let other_net = IpAddr::from([0x2001, 0xdb8, 1, 3, 0, 0, 0, 1]);
        assert_eq!(bucket_key(host), bucket_key(other_host));
        assert_ne!(bucket_key(host), bucket_key(other_net));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(bucket_key(v4), v4);
        assert_ne!(bucket_key(v4), bucket_key("192.0.2.8".parse().unwrap()));
    }
}
