//! Small cryptographic helpers: random single-use secrets stored as SHA-256, AES-256-GCM sealing
//! of data at rest (TOTP seeds) and HMAC-signed short-lived values (a pending second factor).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{AppError, Secret};

/// A fresh 256-bit secret for a cookie or a link, and the SHA-256 (hex) under which it is stored.
pub fn new_secret() -> (String, String) {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    let secret = B64.encode(b);
    let hash = sha256_hex(&secret);
    (secret, hash)
}

/// SHA-256 (hex) of a presented secret, for lookup.
pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A key for one purpose, derived from `MAMIS_SECRET_KEY` so purposes never share a key.
fn subkey(key: &Secret, purpose: &str) -> [u8; 32] {
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key.expose()) else {
        return [0; 32];
    };
    mac.update(b"mamis subkey v1\0");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Encrypts `plain` under the purpose's key (random nonce, authenticated with the purpose).
pub fn seal(key: &Secret, purpose: &str, plain: &[u8]) -> Result<String, AppError> {
    let cipher = Aes256Gcm::new_from_slice(&subkey(key, purpose))
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let mut nonce = [0u8; 12];
    rand::rng().fill_bytes(&mut nonce);
    let payload = aes_gcm::aead::Payload {
        msg: plain,
        aad: purpose.as_bytes(),
    };
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), payload)
        .map_err(|_| AppError::Internal("encryption failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend(ct);
    Ok(B64.encode(out))
}

/// Decrypts what [`seal`] produced for the same purpose; tampering or another key fails.
pub fn open(key: &Secret, purpose: &str, sealed: &str) -> Result<Vec<u8>, AppError> {
    let raw = B64.decode(sealed).map_err(|_| AppError::Forbidden)?;
    if raw.len() < 12 + 16 {
        return Err(AppError::Forbidden);
    }
    let (nonce, ct) = raw.split_at(12);
    let cipher = Aes256Gcm::new_from_slice(&subkey(key, purpose))
        .map_err(|e| AppError::Internal(e.to_string()))?;
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            aes_gcm::aead::Payload {
                msg: ct,
                aad: purpose.as_bytes(),
            },
        )
        .map_err(|_| AppError::Forbidden)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_and_tamper() {
        let k = Secret::new(b"0123456789abcdef0123456789abcdef".to_vec());
        let s = seal(&k, "totp", b"seed").unwrap();
        assert_eq!(open(&k, "totp", &s).unwrap(), b"seed");
        assert!(open(&k, "other", &s).is_err(), "purpose-bound");
        assert!(
            open(
                &Secret::new(b"another key another key another k".to_vec()),
                "totp",
                &s
            )
            .is_err()
        );
        let mut raw = B64.decode(&s).unwrap();
        raw[14] ^= 1;
        assert!(open(&k, "totp", &B64.encode(raw)).is_err());
        assert_ne!(seal(&k, "totp", b"seed").unwrap(), s, "random nonce");
    }

    #[test]
    fn secrets_are_random_and_hashed() {
        let (a, ha) = new_secret();
        let (b, _) = new_secret();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(sha256_hex(&a), ha);
    }
}
