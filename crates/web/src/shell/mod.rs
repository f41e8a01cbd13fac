//! What every page and API handler uses and that knows no capability: page chrome and
//! rendering, errors and their mapping to responses, CSRF, the message catalogues, middleware
//! (request ids, client address, logs, metrics, security headers), the device cookie, the
//! authentication extractors, formatting, QR codes and the embedded static files. Nothing here
//! imports a capability module; `docs/architecture.md` gives the command that checks it.

pub mod assets;
pub mod auth;
pub mod chrome;
pub mod client_addr;
pub mod confirm;
pub mod csrf;
pub mod device;
pub mod error;
pub mod fmt;
pub mod i18n;
pub mod metrics;
pub mod middleware;
pub mod qr;
