//! Evidence files (医師免許証 copy, 戸籍 extract) on disk: the bytes under the configured
//! directory, the row with name, type, size and SHA-256 in the database.

use std::path::{Path, PathBuf};

use mamis_domain::Timestamp;
use mamis_store::Evidence;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::AppError;

/// The largest evidence file accepted: a phone photo or a scanned page fits.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;

/// Media types accepted: what scanners and phones produce, nothing that runs.
pub const ACCEPTED: [&str; 3] = ["application/pdf", "image/jpeg", "image/png"];

/// The media type the bytes themselves show (PDF, JPEG or PNG signatures), if any.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else {
        None
    }
}

/// An uploaded file before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvidence {
    /// The name the uploader gave it (shown to staff; never used as a path).
    pub file_name: String,
    /// The declared media type; only [`ACCEPTED`] ones are taken.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl NewEvidence {
    /// Whether the file may be kept: a name of 1–200 characters, an accepted type the bytes
    /// confirm, 1 byte to [`MAX_BYTES`]; the refusal's code otherwise (`evidence-name`,
    /// `evidence-type`, `evidence-size`), so a form can refuse before anything is written.
    pub fn check(&self) -> Result<(), &'static str> {
        let name = self.file_name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err("evidence-name");
        }
        // the declared type must be one we take and the bytes must be what it says
        if !ACCEPTED.contains(&self.content_type.as_str())
            || sniff(&self.bytes) != Some(self.content_type.as_str())
        {
            return Err("evidence-type");
        }
        if self.bytes.is_empty() || self.bytes.len() > MAX_BYTES {
            return Err("evidence-size");
        }
        Ok(())
    }
}

/// The evidence directory.
#[derive(Debug, Clone)]
pub struct EvidenceStore {
    dir: PathBuf,
}

impl EvidenceStore {
    /// The store under `dir` (created on first use).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// Checks and writes a file (to a temporary name, then renamed, so a crash leaves no
    /// half-written evidence) and returns its row.
    pub async fn save(
        &self,
        procedure: Uuid,
        by: Uuid,
        now: Timestamp,
        e: NewEvidence,
    ) -> Result<Evidence, AppError> {
        e.check().map_err(|code| AppError::Conflict(code.into()))?;
        let name = e.file_name.trim();
        let id = Uuid::now_v7();
        let key = format!("{procedure}/{id}");
        let dir = self.dir.join(procedure.to_string());
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|err| AppError::Internal(format!("evidence dir: {err}")))?;
        let tmp = dir.join(format!("{id}.part"));
        tokio::fs::write(&tmp, &e.bytes)
            .await
            .map_err(|err| AppError::Internal(format!("evidence write: {err}")))?;
        tokio::fs::rename(&tmp, self.path(&key))
            .await
            .map_err(|err| AppError::Internal(format!("evidence rename: {err}")))?;
        Ok(Evidence {
            id,
            procedure_id: procedure,
            file_name: name.to_owned(),
            content_type: e.content_type,
            size: i64::try_from(e.bytes.len()).unwrap_or(i64::MAX),
            sha256: hex::encode(Sha256::digest(&e.bytes)),
            storage_key: key,
            uploaded_by: by,
            uploaded_at: now,
        })
    }

    /// Reads a stored file back, refusing one whose bytes no longer match the recorded hash.
    pub async fn read(&self, e: &Evidence) -> Result<Vec<u8>, AppError> {
        let bytes = tokio::fs::read(self.path(&e.storage_key))
            .await
            .map_err(|err| AppError::Internal(format!("evidence read: {err}")))?;
        if hex::encode(Sha256::digest(&bytes)) != e.sha256 {
            return Err(AppError::Internal(format!(
                "evidence {} changed on disk",
                e.id
            )));
        }
        Ok(bytes)
    }

    /// Removes files written for a transaction that did not commit (best effort: a leftover
    /// file without a row is harmless).
    pub async fn remove(&self, keys: &[String]) {
        for k in keys {
            let _ = tokio::fs::remove_file(self.path(k)).await;
        }
    }
}
