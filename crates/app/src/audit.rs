//! The tamper-evident audit log: each row carries HMAC-SHA256(key, previous MAC ‖ row), the key
//! living outside the database, so an edit, insertion or removal breaks the chain at that row.

use hmac::{Hmac, Mac};
use mamis_domain::{Principal, Timestamp};
use mamis_store::{AuditRow, AuditStore, Store, StoreError, Tx};
use sha2::Sha256;

use crate::{AppError, Secret, truncate_micros};

/// What happened, as the caller describes it.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// Who acted; recorded by audit name (`account:<id>`, `api_token:<id>`, `job:<kind>`).
    pub actor: &'a Principal,
    /// A dotted verb, e.g. `doctor.view`, `api_token.create`.
    pub action: &'a str,
    /// What it was done to, e.g. `association:P13-0001`.
    pub target: String,
    /// Where the request came from, when there was one.
    pub client_addr: Option<String>,
    /// Structured details (serialised once, then kept byte for byte).
    pub details: serde_json::Value,
}

impl<'a> Entry<'a> {
    /// An entry without client address or details.
    pub fn new(actor: &'a Principal, action: &'a str, target: impl Into<String>) -> Self {
        Self {
            actor,
            action,
            target: target.into(),
            client_addr: None,
            details: serde_json::json!({}),
        }
    }

    /// Records where the request came from.
    pub fn from(mut self, client_addr: Option<String>) -> Self {
        self.client_addr = client_addr;
        self
    }

    /// Adds structured details.
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

fn field(mac: &mut Hmac<Sha256>, bytes: &[u8]) {
    // Length-prefixed fields: no two different rows can encode to the same byte string.
    mac.update(&(bytes.len() as u64).to_be_bytes());
    mac.update(bytes);
}

/// The MAC of a row given its predecessor's MAC.
pub fn row_mac(key: &Secret, row: &AuditRow) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.expose()) else {
        return String::new();
    };
    field(&mut mac, row.prev_mac.as_bytes());
    field(&mut mac, &row.seq.to_be_bytes());
    field(&mut mac, &row.at.timestamp_micros().to_be_bytes());
    field(&mut mac, row.actor.as_bytes());
    field(&mut mac, row.action.as_bytes());
    field(&mut mac, row.target.as_bytes());
    field(
        &mut mac,
        row.client_addr.as_deref().unwrap_or("").as_bytes(),
    );
    field(&mut mac, &[u8::from(row.client_addr.is_some())]);
    field(&mut mac, row.details.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Appends a record inside the caller's transaction, so it commits or rolls back with the
/// change it describes. Appends are serialised on the chain head.
pub async fn record<T: AuditStore + Send>(
    tx: &mut T,
    key: &Secret,
    now: Timestamp,
    entry: Entry<'_>,
) -> Result<i64, StoreError> {
    let head = tx.lock_audit_head().await?;
    let mut row = AuditRow {
        seq: head.seq + 1,
        at: truncate_micros(now),
        actor: entry.actor.audit_name(),
        action: entry.action.to_owned(),
        target: entry.target,
        client_addr: entry.client_addr,
        details: entry.details.to_string(),
        prev_mac: head.mac,
        mac: String::new(),
    };
    row.mac = row_mac(key, &row);
    tx.append_audit(&row).await?;
    Ok(row.seq)
}

/// The result of walking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Every row checked out.
    Intact {
        /// How many rows were checked (0 for an empty log).
        rows: u64,
    },
    /// The first row that does not; everything after it is unproven.
    Broken {
        /// The first bad row's number (for a gap or a truncation, the first missing one).
        seq: i64,
        /// What is wrong with it, which hints at how the chain was tampered with.
        reason: BrokenReason,
    },
}

/// Why a row failed verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokenReason {
    /// The row's content does not match its MAC (edited, or written without the key).
    MacMismatch,
    /// The row does not point at its predecessor's MAC (inserted, reordered or replaced).
    ChainLink,
    /// A sequence number is missing.
    Gap,
    /// The head records more rows than exist (rows removed from the end).
    Truncated,
    /// A head recorded earlier (`--expect-head`) is no longer in the chain: its newest rows
    /// were removed together with the head, or rewritten.
    Shortened,
}

/// A chain head as written to the log at a checkpoint (`SEQ:MAC`), so that a later
/// verification can prove the chain still reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The head's row number.
    pub seq: i64,
    /// The head row's MAC.
    pub mac: String,
}

impl std::str::FromStr for Checkpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (seq, mac) = s
            .trim()
            .split_once(':')
            .ok_or("a head is SEQ:MAC, as the audit checkpoint log line prints it")?;
        let seq: i64 = seq
            .parse()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or("the head's SEQ must be a row number (0 or more)")?;
        if mac.len() != 64 || !mac.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("the head's MAC must be 64 hexadecimal characters".into());
        }
        Ok(Self {
            seq,
            mac: mac.to_ascii_lowercase(),
        })
    }
}

impl std::fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.mac)
    }
}

/// The committed head of the chain now, for the checkpoint log line.
pub async fn head<S: Store>(store: &S) -> Result<Checkpoint, AppError> {
    let mut tx = store.read().await?;
    let h = tx.lock_audit_head().await?;
    tx.rollback().await?;
    Ok(Checkpoint {
        seq: h.seq,
        mac: h.mac,
    })
}

/// Walks the chain from the first row and names the first bad one.
pub async fn verify<S: Store>(store: &S, key: &Secret) -> Result<Verification, AppError> {
    verify_reaching(store, key, None).await
}

/// [`verify`], and with `expect` a head logged at an earlier checkpoint: the chain must still
/// hold that row with that MAC, which proves it was not shortened (newest rows and head
/// removed together) since.
///
/// The head is read first, in its own short transaction, and the rows up to it afterwards: rows
/// committed while the walk runs lie beyond that head and are left for the next run, so a server
/// that keeps writing never makes an intact chain look broken (as reading rows first and the
/// head last did under PostgreSQL's read-committed isolation).
pub async fn verify_reaching<S: Store>(
    store: &S,
    key: &Secret,
    expect: Option<&Checkpoint>,
) -> Result<Verification, AppError> {
    let head = head(store).await?;
    if let Some(e) = expect
        && e.seq > head.seq
    {
        return Ok(Verification::Broken {
            seq: head.seq + 1,
            reason: BrokenReason::Shortened,
        });
    }
    let mut tx = store.read().await?;
    let mut prev_mac = String::new();
    let mut prev_seq = 0i64;
    let mut rows = 0u64;
    'walk: loop {
        let page = tx.audit_rows(prev_seq, 1_000).await?;
        if page.is_empty() {
            break;
        }
        for row in page {
            if row.seq > head.seq {
                break 'walk;
            }
            if row.seq != prev_seq + 1 {
                return Ok(Verification::Broken {
                    seq: prev_seq + 1,
                    reason: BrokenReason::Gap,
                });
            }
            if row.prev_mac != prev_mac {
                return Ok(Verification::Broken {
                    seq: row.seq,
                    reason: BrokenReason::ChainLink,
                });
            }
            let expected = row_mac(key, &row);
            if !bool::from(subtle::ConstantTimeEq::ct_eq(
                expected.as_bytes(),
                row.mac.as_bytes(),
            )) {
                return Ok(Verification::Broken {
                    seq: row.seq,
                    reason: BrokenReason::MacMismatch,
                });
            }
            if let Some(e) = expect
                && e.seq == row.seq
                && e.mac != row.mac
            {
                return Ok(Verification::Broken {
                    seq: row.seq,
                    reason: BrokenReason::Shortened,
                });
            }
            prev_mac = row.mac;
            prev_seq = row.seq;
            rows += 1;
        }
    }
    tx.rollback().await?;
    if head.seq != prev_seq || head.mac != prev_mac {
        return Ok(Verification::Broken {
            seq: prev_seq + 1,
            reason: BrokenReason::Truncated,
        });
    }
    Ok(Verification::Intact { rows })
}

/// Convenience for use cases that audit and commit in one step.
pub async fn record_and_commit<T: Tx>(
    mut tx: T,
    key: &Secret,
    now: Timestamp,
    entry: Entry<'_>,
) -> Result<(), AppError> {
    record(&mut tx, key, now, entry).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> AuditRow {
        AuditRow {
            seq: 1,
            at: chrono::DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            actor: "job:x".into(),
            action: "a".into(),
            target: "t".into(),
            client_addr: None,
            details: "{}".into(),
            prev_mac: String::new(),
            mac: String::new(),
        }
    }

    #[test]
    fn every_field_is_covered() {
        let key = Secret::new(b"k".to_vec());
        let base = row_mac(&key, &row());
        type Edit = Box<dyn Fn(&mut AuditRow)>;
        let variants: Vec<Edit> = vec![
            Box::new(|r| r.seq = 2),
            Box::new(|r| r.at += chrono::Duration::microseconds(1)),
            Box::new(|r| r.actor.push('x')),
            Box::new(|r| r.action.push('x')),
            Box::new(|r| r.target.push('x')),
            Box::new(|r| r.client_addr = Some(String::new())),
            Box::new(|r| r.details = "{ }".into()),
            Box::new(|r| r.prev_mac = "00".into()),
        ];
        for (i, v) in variants.iter().enumerate() {
            let mut r = row();
            v(&mut r);
            assert_ne!(row_mac(&key, &r), base, "variant {i}");
        }
        assert_ne!(row_mac(&Secret::new(b"other".to_vec()), &row()), base);
        // field boundaries matter: moving a character between fields changes the MAC
        let mut a = row();
        a.actor = "ab".into();
        a.action = "c".into();
        let mut b = row();
        b.actor = "a".into();
        b.action = "bc".into();
        assert_ne!(row_mac(&key, &a), row_mac(&key, &b));
    }
}
