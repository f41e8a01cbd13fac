//! Password hashing: argon2id on a fixed set of hashing threads, never on the async runtime;
//! rehash on login when the parameters changed; a dummy verification for unknown names so that
//! timing does not reveal which addresses have accounts. Also verifies the legacy system's hashes.
//!
//! Each hashing thread keeps its own argon2 memory (19 MiB at OWASP cost) from one hash to the
//! next: no allocation, page faults or zeroing per login, and the process holds at most
//! `threads × m` for hashing however many logins arrive (a thread per blocking task used to leave
//! an allocator arena of 19 MiB behind per thread).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{Semaphore, oneshot};

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
    jobs: Mutex<mpsc::Sender<Job>>,
}

/// Work for a hashing thread, given that thread's argon2 memory.
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// One hashing thread's argon2 blocks, allocated at the first hash and kept.
#[derive(Default)]
struct Memory(Vec<Block>);

impl Memory {
    /// Blocks for `params`, grown (never shrunk) when a stored hash asks for more.
    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let n = params.block_count();
        if self.0.len() < n {
            self.0 = vec![Block::default(); n];
        }
        &mut self.0[..n]
    }
}

/// Starts `n` hashing threads reading one queue.
fn start_threads(n: usize) -> Result<mpsc::Sender<Job>, AppError> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..n {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("mamis-hash-{i}"))
            .spawn(move || {
                let mut memory = Memory::default();
                loop {
                    // the lock is held only while waiting for the next job
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(&mut memory),
                        Err(_) => return, // the hasher is gone
                    }
                }
            })
            .map_err(|e| AppError::Internal(format!("hashing thread: {e}")))?;
    }
    Ok(tx)
}

/// argon2id of `password` with `salt` into `out`, in the thread's memory.
fn argon2id_into(
    memory: &mut Memory,
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let blocks = memory.blocks(&params);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into_with_memory(password, salt, out, blocks)
}

/// A new PHC string, hashed in the thread's memory.
fn hash_phc(memory: &mut Memory, cost: Cost, password: &[u8]) -> Result<String, AppError> {
    let internal = |e: &dyn std::fmt::Display| AppError::Internal(e.to_string());
    let params = Params::new(cost.m_kib, cost.t, cost.p, None).map_err(|e| internal(&e))?;
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2id_into(memory, params.clone(), password, &salt, &mut out).map_err(|e| internal(&e))?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().map_err(|e| internal(&e))?,
        salt: Some(argon2::password_hash::phc::Salt::new(&salt).map_err(|e| internal(&e))?),
        hash: Some(Output::new(&out).map_err(|e| internal(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches a parsed argon2id hash, computed in the thread's memory and
/// compared in constant time. Other argon2 variants go through the library's own path.
fn argon2_matches(memory: &mut Memory, parsed: &PasswordHash, password: &[u8]) -> bool {
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let version_ok = parsed
        .version
        .is_none_or(|v| v == u32::from(Version::V0x13));
    if parsed.algorithm != argon2::ARGON2ID_IDENT || !version_ok {
        return Argon2::default().verify_password(password, parsed).is_ok();
    }
    let Ok(params) = Params::try_from(parsed) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    if argon2id_into(memory, params, password, salt.as_ref(), &mut out).is_err() {
        return false;
    }
    Output::new(&out).is_ok_and(|computed| &computed == expected)
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
        let parallel = parallel.max(1);
        Ok(Self {
            cost,
            permits: Arc::new(Semaphore::new(parallel)),
            dummy,
            calls: AtomicU64::new(0),
            jobs: Mutex::new(start_threads(parallel)?),
        })
    }

    /// How many hash or verify operations ran (tests: throttling happens before hashing).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Runs `f` on a hashing thread with that thread's memory.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AppError::Unavailable("hasher closed".into()))?;
        self.calls.fetch_add(1, Ordering::SeqCst);
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = done.send(f(memory));
        });
        self.jobs
            .lock()
            .map_err(|_| AppError::Internal("hasher: queue poisoned".into()))?
            .send(job)
            .map_err(|_| AppError::Unavailable("hasher: no hashing thread".into()))?;
        result
            .await
            .map_err(|_| AppError::Internal("hasher: a hashing thread stopped".into()))
    }

    /// A new PHC string for `password`.
    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        let cost = self.cost;
        self.blocking(move |memory| hash_phc(memory, cost, password.as_bytes()))
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
            .blocking(move |memory| {
                let Ok(parsed) = PasswordHash::new(&phc) else {
                    return (false, false);
                };
                let ok = argon2_matches(memory, &parsed, password.as_bytes());
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
        self.blocking(move |memory| legacy_matches(memory, &stored, &password))
            .await
    }
}

/// Which legacy hash schemes are understood (the import refuses others line by line).
pub fn legacy_scheme_supported(phc: &str) -> bool {
    ["$argon2id$", "$2b$", "$2a$", "$2y$", "$pbkdf2-sha256$"]
        .iter()
        .any(|p| phc.starts_with(p))
}

fn legacy_matches(memory: &mut Memory, stored: &str, password: &str) -> bool {
    if stored.starts_with("$2") {
        return bcrypt::verify(password, stored).unwrap_or(false);
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    match parsed.algorithm.as_str() {
        "argon2id" => argon2_matches(memory, &parsed, password.as_bytes()),
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
    async fn pooled_hashes_agree_with_the_library() {
        let h = Hasher::new(
            Cost {
                m_kib: 64,
                t: 1,
                p: 1,
            },
            2,
        )
        .unwrap();
        // the threads' hashes verify with the library's own verifier
        let phc = h.hash("pool password".into()).await.unwrap();
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"pool password", &parsed)
                .is_ok()
        );
        assert!(Argon2::default().verify_password(b"pool", &parsed).is_err());
        assert_ne!(phc, h.hash("pool password".into()).await.unwrap(), "salted");
        // the library's hashes verify on the threads, more memory and two lanes included
        let lib = argon(Cost {
            m_kib: 256,
            t: 2,
            p: 2,
        })
        .unwrap()
        .hash_password(b"library password")
        .unwrap()
        .to_string();
        let h = Arc::new(h);
        let mut all = tokio::task::JoinSet::new();
        for i in 0..12 {
            let (h, lib) = (h.clone(), lib.clone());
            let pw = if i % 3 == 0 {
                "wrong"
            } else {
                "library password"
            };
            all.spawn(async move { (i, h.verify(Some(lib), pw.into()).await.unwrap()) });
        }
        while let Some(done) = all.join_next().await {
            let (i, got) = done.unwrap();
            let want = if i % 3 == 0 {
                Checked::Mismatch
            } else {
                Checked::Match { rehash: true }
            };
            assert_eq!(got, want, "verification {i}");
        }
        // a threads' hash with the memory back at the configured size still verifies
        assert_eq!(
            h.verify(Some(phc), "pool password".into()).await.unwrap(),
            Checked::Match { rehash: false }
        );
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
