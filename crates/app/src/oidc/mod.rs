//! The OpenID Provider. This part: signing keys (RS256 always, ES256 offered), their sealed
//! storage, rotation and the JWKS; compact JWS signing and verification for ID tokens.

pub mod keys;
pub mod provider;
