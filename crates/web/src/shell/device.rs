//! The device id of a browser or desk tablet: a random value in a long-lived cookie, recorded
//! with every attendance capture so the organiser's list can flag one device used for several
//! doctors, and so a venue check-out is accepted only from the browser that checked in.

use axum::http::HeaderMap;
use axum::response::Response;
use rand::RngCore;

use crate::shell::auth::set_cookie;
use crate::shell::middleware::cookie;

/// The device cookie's name.
pub fn device_cookie(https: bool) -> &'static str {
    if https {
        "__Host-mamis_device"
    } else {
        "mamis_device"
    }
}

/// A year: the id should outlive many sessions, so a shared phone shows up across them.
const MAX_AGE: i64 = 365 * 24 * 3600;

/// The request's device id, or a new one (with `true`: the response must set it, see
/// [`remember`]). Malformed values are replaced.
pub fn device_id(headers: &HeaderMap, https: bool) -> (String, bool) {
    match cookie(headers, device_cookie(https)) {
        Some(v) if v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) => (v, false),
        _ => {
            let mut b = [0u8; 16];
            rand::rng().fill_bytes(&mut b);
            (hex::encode(b), true)
        }
    }
}

/// Sets the device cookie on `resp` when [`device_id`] made a new id.
pub fn remember(resp: &mut Response, https: bool, id: &str, new: bool) {
    if new {
        set_cookie(resp, https, device_cookie(https), id, Some(MAX_AGE));
    }
}
