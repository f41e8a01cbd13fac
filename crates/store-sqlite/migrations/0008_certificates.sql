-- Certificate decisions, numbers, printed documents, revocations and review items (SQLite). The
-- same tables, columns and constraint names as the PostgreSQL 0008; ids TEXT UUIDs, dates TEXT
-- 'YYYY-MM-DD', instants INTEGER microseconds, as in 0001.

-- What a MAMIS certificate printed, and its revocation. Certificates may be UPDATEd (revocation
-- only); the append-only triggers guard ledger_entries alone. ADD COLUMN keeps existing rows
-- (prior-system certificates: every new column NULL). A column CHECK may name other columns, so
-- the pairs are checked here as on PostgreSQL.
ALTER TABLE certificates ADD COLUMN verification_code TEXT;
ALTER TABLE certificates ADD COLUMN valid_until TEXT;
ALTER TABLE certificates ADD COLUMN counted_half_units INTEGER;
ALTER TABLE certificates ADD COLUMN counted_codes INTEGER
    CONSTRAINT certificates_counted_check
    CHECK ((counted_half_units IS NULL) = (counted_codes IS NULL) AND counted_codes >= 0);
ALTER TABLE certificates ADD COLUMN revoked_at INTEGER;
ALTER TABLE certificates ADD COLUMN revoked_category TEXT;
ALTER TABLE certificates ADD COLUMN revoked_reason TEXT;
ALTER TABLE certificates ADD COLUMN revoked_by TEXT
    CONSTRAINT certificates_revoked_check
    CHECK ((revoked_at IS NULL) = (revoked_category IS NULL)
           AND (revoked_at IS NULL) = (revoked_reason IS NULL)
           AND (revoked_at IS NULL) = (revoked_by IS NULL));

-- 学習単位取得証 and 受講証明書: one row per distinct content a doctor downloaded, so a repeated
-- download reuses its number.
CREATE TABLE cme_documents (
    id                TEXT PRIMARY KEY,
    number            TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('annual_units', 'attendance')),
    doctor_id         TEXT NOT NULL REFERENCES doctors(id),
    programme         TEXT NOT NULL,
    content           TEXT NOT NULL,
    content_key       TEXT NOT NULL,
    verification_code TEXT NOT NULL,
    issued_on         TEXT NOT NULL,
    revoked_at        INTEGER,
    revoked_category  TEXT,
    revoked_reason    TEXT,
    revoked_by        TEXT,
    created_at        INTEGER NOT NULL,
    CONSTRAINT cme_documents_number_key UNIQUE (number),
    -- Also serves a doctor's documents (doctor_id leads).
    CONSTRAINT cme_documents_content_key UNIQUE (doctor_id, kind, content_key),
    CONSTRAINT cme_documents_revoked_check
        CHECK ((revoked_at IS NULL) = (revoked_category IS NULL)
               AND (revoked_at IS NULL) = (revoked_reason IS NULL)
               AND (revoked_at IS NULL) = (revoked_by IS NULL))
) STRICT;

-- Gap-free printed numbers: a writer locks its (series, year) row while it numbers and inserts.
CREATE TABLE number_series (
    series TEXT NOT NULL,
    year   INTEGER NOT NULL,
    next   INTEGER NOT NULL CHECK (next >= 1),
    PRIMARY KEY (series, year)
) STRICT;

-- One row per programme and last fiscal year of the windows decided.
CREATE TABLE certificate_runs (
    programme    TEXT NOT NULL,
    fiscal_year  INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    completed_at INTEGER,
    issued       INTEGER NOT NULL CHECK (issued >= 0),
    PRIMARY KEY (programme, fiscal_year)
) STRICT;

-- Staff review items: a ledger change pushed an issued certificate's window below the threshold.
CREATE TABLE certificate_reviews (
    id             TEXT PRIMARY KEY,
    certificate_id TEXT NOT NULL REFERENCES certificates(id),
    number         TEXT NOT NULL,
    doctor_id      TEXT NOT NULL REFERENCES doctors(id),
    opened_at      INTEGER NOT NULL,
    reason         TEXT NOT NULL,
    resolved_at    INTEGER
) STRICT;
-- At most one open item per certificate.
CREATE UNIQUE INDEX certificate_reviews_open_key ON certificate_reviews (certificate_id)
    WHERE resolved_at IS NULL;
-- The open list, oldest first.
CREATE INDEX certificate_reviews_open_idx ON certificate_reviews (opened_at, id)
    WHERE resolved_at IS NULL;
