//! 生涯教育 on-line (the CME portal) as a relying party of the MAMIS OpenID Provider. It runs in
//! the same binary but speaks to the provider only over HTTP — authorize with PKCE, token,
//! JWKS, userinfo, refresh — exactly as a service on another host would, so it could move there.

pub mod rp;
