//! Signing keys: generated here, the private half sealed (AES-256-GCM under a key derived from
//! `MAMIS_SECRET_KEY`) so a database dump alone cannot sign tokens, `kid` = RFC 7638 thumbprint,
//! rotated by `mamis keys rotate`, and published until every token they signed has expired.
//! Shared by every server through the database.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaPublicKeyComponents, UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Duration;
use mamis_domain::{Principal, Timestamp};
use mamis_store::{OidcStore, SigningKey, Store, Tx};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::audit::Entry;
use crate::identity::crypto::{open, seal};
use crate::{App, AppError};

const SEAL_PURPOSE: &str = "oidc-signing-key";

/// How long a retired key stays in the JWKS: longer than any token it can have signed lives.
pub const PUBLISH_AFTER_RETIREMENT: Duration = Duration::hours(24);

/// The signature algorithms offered: RS256 (every OpenID client must support it) and ES256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (2048-bit keys).
    Rs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
}

impl Alg {
    /// Both algorithms.
    pub const ALL: [Alg; 2] = [Alg::Rs256, Alg::Es256];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }

    /// Parses the JOSE name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

fn crypto(e: impl std::fmt::Debug) -> AppError {
    AppError::Internal(format!("crypto: {e:?}"))
}

/// RFC 7638: SHA-256 over the required members of the JWK in lexicographic order, base64url.
pub fn thumbprint(jwk: &Value) -> Result<String, AppError> {
    let members: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => &["e", "kty", "n"],
        Some("EC") => &["crv", "kty", "x", "y"],
        _ => return Err(AppError::Internal("unsupported JWK type".into())),
    };
    let mut canonical = String::from("{");
    for (i, m) in members.iter().enumerate() {
        let v = jwk
            .get(*m)
            .and_then(Value::as_str)
            .ok_or_else(|| AppError::Internal(format!("JWK without {m}")))?;
        if i > 0 {
            canonical.push(',');
        }
        canonical.push_str(&format!("\"{m}\":{}", Value::String(v.to_owned())));
    }
    canonical.push('}');
    Ok(B64.encode(Sha256::digest(canonical.as_bytes())))
}

/// A freshly generated key: its public JWK (with `kid`, `alg`, `use`) and PKCS#8 private key.
pub struct Generated {
    /// The public JWK.
    pub jwk: Value,
    /// The private key, PKCS#8 DER.
    pub pkcs8: Vec<u8>,
}

/// Generates a key for `alg`.
pub fn generate(alg: Alg) -> Result<Generated, AppError> {
    let (mut jwk, pkcs8) = match alg {
        Alg::Rs256 => {
            let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(crypto)?;
            let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&kp).map_err(crypto)?;
            let public = kp.public_key();
            let jwk = json!({
                "kty": "RSA",
                "n": B64.encode(public.modulus().big_endian_without_leading_zero()),
                "e": B64.encode(public.exponent().big_endian_without_leading_zero()),
            });
            (jwk, der.as_ref().to_vec())
        }
        Alg::Es256 => {
            let rng = SystemRandom::new();
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(crypto)?;
            let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                .map_err(crypto)?;
            let point = kp.public_key().as_ref();
            if point.len() != 65 || point[0] != 4 {
                return Err(AppError::Internal(
                    "unexpected EC public key encoding".into(),
                ));
            }
            let jwk = json!({ "kty": "EC", "crv": "P-256", "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]) });
            (jwk, doc.as_ref().to_vec())
        }
    };
    let kid = thumbprint(&jwk)?;
    if let Some(o) = jwk.as_object_mut() {
        o.insert("kid".into(), Value::String(kid));
        o.insert("alg".into(), Value::String(alg.as_str().into()));
        o.insert("use".into(), Value::String("sig".into()));
    }
    Ok(Generated { jwk, pkcs8 })
}

fn to_row<S: Store>(
    app: &App<S>,
    alg: Alg,
    g: &Generated,
    now: Timestamp,
) -> Result<SigningKey, AppError> {
    Ok(SigningKey {
        kid: g
            .jwk
            .get("kid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        alg: alg.as_str().to_owned(),
        private_key: seal(&app.config.secret_key, SEAL_PURPOSE, &g.pkcs8)?,
        public_jwk: g.jwk.to_string(),
        created_at: now,
        retired_at: None,
    })
}

/// Makes sure an active key exists for each algorithm (at start-up); returns the kids it made.
pub async fn ensure<S: Store>(app: &App<S>) -> Result<Vec<String>, AppError> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    let keys = tx.signing_keys().await?;
    let mut made = Vec::new();
    for alg in Alg::ALL {
        if !keys
            .iter()
            .any(|k| k.alg == alg.as_str() && k.retired_at.is_none())
        {
            let row = to_row(app, alg, &generate(alg)?, now)?;
            tx.insert_signing_key(&row).await?;
            made.push(row.kid);
        }
    }
    tx.commit().await?;
    app.signers.clear();
    Ok(made)
}

/// Rotates: a new key per algorithm signs from now on; the old ones are retired but stay
/// published for [`PUBLISH_AFTER_RETIREMENT`], so tokens they signed still verify.
pub async fn rotate<S: Store>(app: &App<S>, actor: &Principal) -> Result<Vec<String>, AppError> {
    let now = app.now();
    let fresh: Vec<(Alg, Generated)> = Alg::ALL
        .into_iter()
        .map(|a| generate(a).map(|g| (a, g)))
        .collect::<Result<_, _>>()?;
    let mut tx = app.store.write().await?;
    let old: Vec<String> = tx
        .signing_keys()
        .await?
        .into_iter()
        .filter(|k| k.retired_at.is_none())
        .map(|k| k.kid)
        .collect();
    for kid in &old {
        tx.retire_signing_key(kid, now).await?;
    }
    let mut made = Vec::new();
    for (alg, g) in &fresh {
        let row = to_row(app, *alg, g, now)?;
        tx.insert_signing_key(&row).await?;
        made.push(row.kid);
    }
    app.audit(
        &mut tx,
        Entry::new(actor, "oidc.keys_rotate", "signing_keys")
            .details(json!({ "retired": old, "new": made })),
    )
    .await?;
    tx.commit().await?;
    app.signers.clear();
    Ok(made)
}

/// The JWKS: active keys and retired keys still within their publication window.
pub async fn jwks<S: Store>(app: &App<S>) -> Result<Value, AppError> {
    let now = app.now();
    let mut tx = app.store.read().await?;
    let keys = tx.signing_keys().await?;
    tx.rollback().await?;
    let published: Vec<Value> = keys
        .iter()
        .filter(|k| {
            k.retired_at
                .is_none_or(|r| now < r + PUBLISH_AFTER_RETIREMENT)
        })
        .filter_map(|k| serde_json::from_str(&k.public_jwk).ok())
        .collect();
    Ok(json!({ "keys": published }))
}

/// A key that can sign now: parsed once, shared by every request that signs with it.
#[derive(Clone)]
pub struct Signer {
    alg: Alg,
    kid: String,
    key: std::sync::Arc<Parsed>,
}

/// A private key ready to sign (parsing an RSA key costs more than signing with it).
enum Parsed {
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ec(EcdsaKeyPair),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({} {})", self.alg.as_str(), self.kid)
    }
}

/// How long a process signs with the key it read before reading the key set again. A rotation
/// made by another server reaches this one within it; the key it replaces stays published far
/// longer ([`PUBLISH_AFTER_RETIREMENT`]), so what was signed meanwhile still verifies.
pub const SIGNER_CACHE: std::time::Duration = std::time::Duration::from_secs(30);

/// The active signers this process has read, per algorithm, with when they were read.
#[derive(Default)]
pub struct SignerCache(std::sync::Mutex<Vec<(std::time::Instant, Signer)>>);

impl std::fmt::Debug for SignerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignerCache")
    }
}

impl SignerCache {
    fn get(&self, alg: Alg) -> Option<Signer> {
        let cached = self.0.lock().ok()?;
        cached
            .iter()
            .find(|(at, s)| s.alg == alg && at.elapsed() < SIGNER_CACHE)
            .map(|(_, s)| s.clone())
    }

    fn put(&self, signer: &Signer) {
        if let Ok(mut cached) = self.0.lock() {
            cached.retain(|(_, s)| s.alg != signer.alg);
            cached.push((std::time::Instant::now(), signer.clone()));
        }
    }

    /// Forgets every signer (this process rotated or made keys).
    pub fn clear(&self) {
        if let Ok(mut cached) = self.0.lock() {
            cached.clear();
        }
    }
}

/// The active key for `alg`, unsealed and parsed; read from the store at most every
/// [`SIGNER_CACHE`].
pub async fn signer<S: Store>(app: &App<S>, alg: Alg) -> Result<Signer, AppError> {
    if let Some(s) = app.signers.get(alg) {
        return Ok(s);
    }
    let mut tx = app.store.read().await?;
    let keys = tx.signing_keys().await?;
    tx.rollback().await?;
    let k = keys
        .into_iter()
        .find(|k| k.alg == alg.as_str() && k.retired_at.is_none())
        .ok_or_else(|| AppError::Internal(format!("no active {} key", alg.as_str())))?;
    let pkcs8 = open(&app.config.secret_key, SEAL_PURPOSE, &k.private_key)?;
    let signer = Signer::from_pkcs8(alg, k.kid, &pkcs8)?;
    app.signers.put(&signer);
    Ok(signer)
}

impl Signer {
    /// Parses an unsealed private key once, for every signature made with it.
    fn from_pkcs8(alg: Alg, kid: String, pkcs8: &[u8]) -> Result<Self, AppError> {
        let key = match alg {
            Alg::Rs256 => Parsed::Rsa(aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8).map_err(crypto)?),
            Alg::Es256 => Parsed::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(crypto)?,
            ),
        };
        Ok(Self {
            alg,
            kid,
            key: std::sync::Arc::new(key),
        })
    }

    /// The key's id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// A compact JWS (a JWT) of `claims`, with `alg`, `kid` and `typ` in the header.
    pub fn sign(&self, claims: &Value) -> Result<String, AppError> {
        let header = json!({ "alg": self.alg.as_str(), "kid": self.kid, "typ": "JWT" });
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let rng = SystemRandom::new();
        let sig = match self.key.as_ref() {
            Parsed::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut sig)
                    .map_err(crypto)?;
                sig
            }
            Parsed::Ec(kp) => kp
                .sign(&rng, input.as_bytes())
                .map_err(crypto)?
                .as_ref()
                .to_vec(),
        };
        Ok(format!("{input}.{}", B64.encode(sig)))
    }
}

/// Verifies a compact JWS against a JWKS and returns its claims (relying parties and tests).
pub fn verify(jwks: &Value, token: &str) -> Result<Value, AppError> {
    let bad = || AppError::Unauthenticated;
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let header: Value =
        serde_json::from_slice(&B64.decode(h).map_err(|_| bad())?).map_err(|_| bad())?;
    let kid = header.get("kid").and_then(Value::as_str).ok_or_else(bad)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Alg::parse)
        .ok_or_else(bad)?;
    let jwk = jwks
        .get("keys")
        .and_then(Value::as_array)
        .and_then(|ks| {
            ks.iter()
                .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
        })
        .ok_or_else(bad)?;
    let field = |n: &str| {
        jwk.get(n)
            .and_then(Value::as_str)
            .and_then(|v| B64.decode(v).ok())
            .ok_or_else(bad)
    };
    let sig = B64.decode(s).map_err(|_| bad())?;
    let input = format!("{h}.{p}");
    let ok = match (alg, jwk.get("kty").and_then(Value::as_str)) {
        (Alg::Rs256, Some("RSA")) => RsaPublicKeyComponents {
            n: field("n")?,
            e: field("e")?,
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &sig)
        .is_ok(),
        (Alg::Es256, Some("EC")) => {
            let mut point = vec![4u8];
            point.extend(field("x")?);
            point.extend(field("y")?);
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(input.as_bytes(), &sig)
                .is_ok()
        }
        _ => false,
    };
    if !ok {
        return Err(bad());
    }
    serde_json::from_slice(&B64.decode(p).map_err(|_| bad())?).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn sign_and_verify_both_algorithms_and_refuse_tampering() {
        for alg in Alg::ALL {
            let g = generate(alg).unwrap();
            let kid = g.jwk["kid"].as_str().unwrap().to_owned();
            assert_eq!(kid, thumbprint(&g.jwk).unwrap());
            let signer = Signer::from_pkcs8(alg, kid.clone(), &g.pkcs8).unwrap();
            let jwks = json!({ "keys": [g.jwk] });
            let token = signer.sign(&json!({ "sub": "abc", "aud": "cme" })).unwrap();
            assert_eq!(
                verify(&jwks, &token).unwrap()["sub"],
                "abc",
                "{}",
                alg.as_str()
            );
            // a changed payload, another key, or a missing key all fail
            let mut parts: Vec<&str> = token.split('.').collect();
            let forged = B64.encode(json!({ "sub": "evil", "aud": "cme" }).to_string());
            parts[1] = &forged;
            assert!(verify(&jwks, &parts.join(".")).is_err());
            let other = generate(alg).unwrap();
            assert!(verify(&json!({ "keys": [other.jwk] }), &token).is_err());
            assert!(verify(&jwks, "not.a.jwt.at-all").is_err());
        }
    }
}
