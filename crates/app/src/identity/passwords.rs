//! Password hashing: argon2id on a bounded pool of blocking threads, never on the async runtime;
//! rehash on login when the parameters changed; a dummy verification for unknown names so that
//! timing does not reveal which addresses have accounts. Also verifies the legacy system's hashes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::AppError;

/// argon2id cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl Cost {
    /// OWASP's minimum for argon2id: 19 MiB, 2 iterations, 1 lane (production).
    pub const OWASP: Cost = Cost {
        m_kib: 19 * 1024,
        t: 2,
        p: 1,
    };
    /// The cheapest argon2id allows, for tests only.
    pub const TEST: Cost = Cost {
        m_kib: 8,
        t: 1,
        p: 1,
    };
}

/// The result of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Right password; `rehash` when the stored parameters are outdated.
    Match {
        /// The stored parameters are outdated: store a fresh hash.
        rehash: bool,
    },
    /// Wrong password (or no account: the dummy never matches).
    Mismatch,
}

/// Hashes and verifies passwords with bounded parallelism.
#[derive(Debug)]
pub struct Hasher {
    cost: Cost,
    permits: Arc<Semaphore>,
    dummy: String,
    calls: AtomicU64,
}

fn argon(cost: Cost) -> Result<Argon2<'static>, AppError> {
    let params = Params::new(cost.m_kib, cost.t, cost.p, None)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

impl Hasher {
    /// A hasher allowing `parallel` hashes at once (each OWASP hash holds 19 MiB).
    pub fn new(cost: Cost, parallel: usize) -> Result<Self, AppError> {
        let dummy = argon(cost)?
            .hash_password(b"dummy password for unknown accounts")
            .map_err(|e| AppError::Internal(e.to_string()))?
            .to_string();
        Ok(Self {
            cost,
            permits: Arc::new(Semaphore::new(parallel.max(1))),
            dummy,
            calls: AtomicU64::new(0),
        })
    }

    /// How many hash or verify operations ran (tests: throttling happens before hashing).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AppError::Unavailable("hasher closed".into()))?;
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| AppError::Internal(format!("hasher: {e}")))
    }

    /// A new PHC string for `password`.
    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        let cost = self.cost;
        self.blocking(move || {
            argon(cost)?
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| AppError::Internal(e.to_string()))
        })
        .await?
    }

    /// Checks `password` against `stored`, or against a dummy hash when there is no account,
    /// so both cases cost the same.
    pub async fn verify(
        &self,
        stored: Option<String>,
        password: String,
    ) -> Result<Checked, AppError> {
        let real = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy.clone());
        let cost = self.cost;
        let ok_and_rehash = self
            .blocking(move || {
                let Ok(parsed) = PasswordHash::new(&phc) else {
                    return (false, false);
                };
                let ok = Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok();
                let current = Params::try_from(&parsed)
                    .map(|p| {
                        p.m_cost() == cost.m_kib && p.t_cost() == cost.t && p.p_cost() == cost.p
                    })
                    .unwrap_or(false);
                let argon2id = parsed.algorithm.as_str() == "argon2id";
                (ok, !(current && argon2id))
            })
            .await?;
        Ok(match ok_and_rehash {
            (true, rehash) if real => Checked::Match { rehash },
            _ => Checked::Mismatch,
        })
    }

    /// Checks a password against a hash from the legacy system: argon2id, bcrypt (`$2b$`, `$2a$`,
    /// `$2y$`) or PBKDF2-SHA256 in PHC form.
    pub async fn verify_legacy(&self, stored: String, password: String) -> Result<bool, AppError> {
        self.blocking(move || legacy_matches(&stored, &password))
            .await
    }
}

/// Which legacy hash schemes are understood (the import refuses others line by line).
pub fn legacy_scheme_supported(phc: &str) -> bool {
    ["$argon2id$", "$2b$", "$2a$", "$2y$", "$pbkdf2-sha256$"]
        .iter()
        .any(|p| phc.starts_with(p))
}

fn legacy_matches(stored: &str, password: &str) -> bool {
    if stored.starts_with("$2") {
        return bcrypt::verify(password, stored).unwrap_or(false);
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    match parsed.algorithm.as_str() {
        "argon2id" => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        "pbkdf2-sha256" => pbkdf2::Pbkdf2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_verify_and_rehash() {
        let h = Hasher::new(Cost::TEST, 2).unwrap();
        let phc = h.hash("correct horse battery".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=8,t=1,p=1$"));
        assert_eq!(
            h.verify(Some(phc.clone()), "correct horse battery".into())
                .await
                .unwrap(),
            Checked::Match { rehash: false }
        );
        assert_eq!(
            h.verify(Some(phc.clone()), "wrong".into()).await.unwrap(),
            Checked::Mismatch
        );
        assert_eq!(
            h.verify(None, "dummy password for unknown accounts".into())
                .await
                .unwrap(),
            Checked::Mismatch
        );
        let stronger = Hasher::new(
            Cost {
                m_kib: 16,
                t: 1,
                p: 1,
            },
            1,
        )
        .unwrap();
        assert_eq!(
            stronger
                .verify(Some(phc), "correct horse battery".into())
                .await
                .unwrap(),
            Checked::Match { rehash: true }
        );
        assert_eq!(h.calls(), 4);
    }

    #[tokio::test]
    async fn legacy_schemes() {
        let h = Hasher::new(Cost::TEST, 1).unwrap();
        let bc = bcrypt::hash_with_salt("oldpass", 4, [7u8; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoB);
        assert!(h.verify_legacy(bc.clone(), "oldpass".into()).await.unwrap());
        assert!(!h.verify_legacy(bc, "other".into()).await.unwrap());
        // RFC-style vector from the pbkdf2 crate's own tests
        let pb = "$pbkdf2-sha256$i=4096,l=40$c2FsdFNBTFRzYWx0U0FMVHNhbHRTQUxUc2FsdFNBTFRzYWx0$NIyJ28vTKy8y2BS4EW6EzysXNH68GAAYHE4qH7jdU+HGNVGMfaxH6Q";
        assert!(
            h.verify_legacy(pb.into(), "passwordPASSWORDpassword".into())
                .await
                .unwrap()
        );
        assert!(!h.verify_legacy(pb.into(), "password".into()).await.unwrap());
        let a = h.hash("argonpass1".into()).await.unwrap();
        assert!(h.verify_legacy(a, "argonpass1".into()).await.unwrap());
        assert!(!legacy_scheme_supported("$1$md5crypt$x"));
        assert!(legacy_scheme_supported("$2b$12$abc"));
    }
}
