//! Conversions between SQLite's storage classes and domain values.

use chrono::{DateTime, NaiveDate};
use mamis_domain::Timestamp;
use mamis_store::StoreError;
use uuid::Uuid;

/// Instants are stored as microseconds since the epoch, which sort and compare exactly.
pub fn micros(t: Timestamp) -> i64 {
    t.timestamp_micros()
}

pub fn from_micros(v: i64) -> Result<Timestamp, StoreError> {
    DateTime::from_timestamp_micros(v).ok_or_else(|| StoreError::Corrupt(format!("instant {v}")))
}

pub fn opt_from_micros(v: Option<i64>) -> Result<Option<Timestamp>, StoreError> {
    v.map(from_micros).transpose()
}

pub fn uuid(s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|_| StoreError::Corrupt(format!("uuid {s}")))
}

pub fn date(s: &str) -> Result<NaiveDate, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("date {s}")))
}

pub fn corrupt<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> StoreError {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

/// Maps SQLite's "UNIQUE constraint failed: table.column" to the constraint names the
/// PostgreSQL schema uses, so the app sees the same conflict on both backends.
fn constraint_name(message: &str) -> String {
    let cols = message
        .split_once("failed: ")
        .map(|(_, c)| c)
        .unwrap_or(message);
    let name = match cols {
        "doctors.iseki_number" => "doctors_iseki_key",
        "doctors.member_id" => "doctors_member_id_key",
        "doctors.id" => "doctors_pkey",
        "accounts.email" => "accounts_email_key",
        "accounts.id" => "accounts_pkey",
        "accounts.doctor_id" => "accounts_verified_doctor_key",
        "identity_claims.account_id" => "identity_claims_pkey",
        "email_tokens.token_hash" => "email_tokens_pkey",
        "sessions.id_hash" => "sessions_pkey",
        "portal_sessions.id_hash" => "portal_sessions_pkey",
        "legacy_credentials.member_id" => "legacy_credentials_pkey",
        "api_tokens.token_hash" => "api_tokens_hash_key",
        "api_tokens.id" => "api_tokens_pkey",
        "jobs.idempotency_key" => "jobs_idempotency_key",
        "jobs.id" => "jobs_pkey",
        "outbox_mail.id" => "outbox_mail_pkey",
        "audit_log.seq" => "audit_log_pkey",
        "signing_keys.kid" => "signing_keys_pkey",
        "oidc_clients.id" => "oidc_clients_pkey",
        "oidc_codes.code_hash" => "oidc_codes_pkey",
        "oidc_tokens.token_hash" => "oidc_tokens_pkey",
        "organisations.id" => "organisations_pkey",
        "ledger_entries.id" => "ledger_entries_pkey",
        "ledger_entries.programme, ledger_entries.origin_key, ledger_entries.generation" => {
            "ledger_origin_key"
        }
        "ledger_entries.reverses_entry" => "ledger_reverses_key",
        "certificates.id" => "certificates_pkey",
        "certificates.number" => "certificates_number_key",
        "certificates.doctor_id, certificates.programme, certificates.from_fy" => {
            "certificates_window_key"
        }
        "cme_documents.id" => "cme_documents_pkey",
        "cme_documents.number" => "cme_documents_number_key",
        "cme_documents.doctor_id, cme_documents.kind, cme_documents.content_key" => {
            "cme_documents_content_key"
        }
        "number_series.series, number_series.year" => "number_series_pkey",
        "certificate_runs.programme, certificate_runs.fiscal_year" => "certificate_runs_pkey",
        "certificate_reviews.id" => "certificate_reviews_pkey",
        "certificate_reviews.certificate_id" => "certificate_reviews_open_key",
        "training_sessions.id" => "training_sessions_pkey",
        "training_sessions.approval_number" => "training_sessions_approval_number_key",
        "training_items.id" => "training_items_pkey",
        "training_items.session_id, training_items.position" => "training_items_position_key",
        "training_item_parts.item_id, training_item_parts.part" => "training_item_parts_pkey",
        "pending_attendance.id" => "pending_attendance_pkey",
        "pending_attendance.session_id, pending_attendance.iseki_number" => {
            "pending_attendance_key"
        }
        "training_presence.id" => "training_presence_pkey",
        // An index on an expression is reported by its name, not its columns.
        "index 'presence_open_key'" => "presence_open_key",
        "memberships.doctor_id, memberships.association_code, memberships.joined_on" => {
            "memberships_pkey"
        }
        "memberships.doctor_id, memberships.level" => "memberships_open_key",
        "doctor_profiles.doctor_id" => "doctor_profiles_pkey",
        "association_classes.association_code, association_classes.code" => {
            "association_classes_pkey"
        }
        "membership_procedures.id" => "membership_procedures_pkey",
        "membership_procedures.doctor_id, membership_procedures.lock_group" => {
            "membership_procedures_open_key"
        }
        "procedure_events.procedure_id, procedure_events.seq" => "procedure_events_pkey",
        "procedure_evidence.id" => "procedure_evidence_pkey",
        "role_grants.account_id, role_grants.role, role_grants.scope_kind, role_grants.scope_id" => {
            "role_grants_pkey"
        }
        "programme_entries.id" => "programme_entries_pkey",
        "programme_entries.programme, programme_entries.origin_key, programme_entries.generation" => {
            "programme_entries_origin_key"
        }
        "programme_entries.reverses_entry" => "programme_entries_reverses_key",
        "training_item_programmes.item_id, training_item_programmes.programme" => {
            "training_item_programmes_pkey"
        }
        "programme_applications.id" => "programme_applications_pkey",
        "programme_applications.doctor_id, programme_applications.programme" => {
            "programme_applications_open_key"
        }
        "programme_certificates.id" => "programme_certificates_pkey",
        "programme_certificates.number" => "programme_certificates_number_key",
        "programme_certificates.doctor_id, programme_certificates.programme, programme_certificates.valid_from" => {
            "programme_certificates_period_key"
        }
        "designated_lectures.key" => "designated_lectures_pkey",
        _ if message.contains("FOREIGN KEY") => "foreign_key",
        other => other,
    };
    name.to_owned()
}

pub fn db_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() || d.is_foreign_key_violation() => {
            StoreError::Conflict {
                constraint: constraint_name(d.message()),
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(d)
            if d.message().contains("database is locked")
                || d.message().contains("database is busy") =>
        {
            StoreError::Busy(d.message().to_owned())
        }
        other => StoreError::Other(other.to_string()),
    }
}

/// Decodes rows as they arrive and drops each, instead of `fetch_all` holding every row first:
/// a session of 100,000 presences would otherwise keep every row's copied values (about 80 MB
/// on SQLite) alongside the decoded ones.
pub async fn decode_each<T>(
    mut rows: impl futures_util::Stream<Item = Result<sqlx::sqlite::SqliteRow, sqlx::Error>> + Unpin,
    decode: impl Fn(&sqlx::sqlite::SqliteRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    use futures_util::TryStreamExt;
    let mut out = Vec::new();
    while let Some(r) = rows.try_next().await.map_err(db_err)? {
        out.push(decode(&r)?);
    }
    Ok(out)
}
