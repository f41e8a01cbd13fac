-- Certificate decisions, numbers, printed documents, revocations and review items (PostgreSQL).
-- The same tables, columns and constraint names as the SQLite 0008; uuid ids, date civil dates,
-- timestamptz instants bound by the application. Numbers and programmes use the "C" collation,
-- so they order byte for byte as on SQLite.

-- What a MAMIS certificate printed, and its revocation. Certificates may be UPDATEd (revocation
-- only); the append-only triggers guard ledger_entries alone. Nullable columns without defaults
-- are added without rewriting the table; the two checks scan it once.
ALTER TABLE certificates
    ADD COLUMN verification_code  text,
    ADD COLUMN valid_until        date,
    ADD COLUMN counted_half_units bigint,
    ADD COLUMN counted_codes      integer,
    ADD COLUMN revoked_at         timestamptz,
    ADD COLUMN revoked_category   text,
    ADD COLUMN revoked_reason     text,
    ADD COLUMN revoked_by         text,
    ADD CONSTRAINT certificates_counted_check
        CHECK ((counted_half_units IS NULL) = (counted_codes IS NULL) AND counted_codes >= 0),
    ADD CONSTRAINT certificates_revoked_check
        CHECK ((revoked_at IS NULL) = (revoked_category IS NULL)
               AND (revoked_at IS NULL) = (revoked_reason IS NULL)
               AND (revoked_at IS NULL) = (revoked_by IS NULL));

-- 学習単位取得証 and 受講証明書: one row per distinct content a doctor downloaded, so a repeated
-- download reuses its number.
CREATE TABLE cme_documents (
    id                uuid PRIMARY KEY,
    number            text COLLATE "C" NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('annual_units', 'attendance')),
    doctor_id         uuid NOT NULL REFERENCES doctors (id),
    programme         text COLLATE "C" NOT NULL,
    content           text NOT NULL,
    content_key       text NOT NULL,
    verification_code text NOT NULL,
    issued_on         date NOT NULL,
    revoked_at        timestamptz,
    revoked_category  text,
    revoked_reason    text,
    revoked_by        text,
    created_at        timestamptz NOT NULL,
    CONSTRAINT cme_documents_number_key UNIQUE (number),
    -- Also serves a doctor's documents (doctor_id leads).
    CONSTRAINT cme_documents_content_key UNIQUE (doctor_id, kind, content_key),
    CONSTRAINT cme_documents_revoked_check
        CHECK ((revoked_at IS NULL) = (revoked_category IS NULL)
               AND (revoked_at IS NULL) = (revoked_reason IS NULL)
               AND (revoked_at IS NULL) = (revoked_by IS NULL))
);

-- Gap-free printed numbers: a writer locks its (series, year) row while it numbers and inserts.
CREATE TABLE number_series (
    series text COLLATE "C" NOT NULL,
    year   integer NOT NULL,
    next   bigint NOT NULL CHECK (next >= 1),
    PRIMARY KEY (series, year)
);

-- One row per programme and last fiscal year of the windows decided.
CREATE TABLE certificate_runs (
    programme    text COLLATE "C" NOT NULL,
    fiscal_year  integer NOT NULL,
    started_at   timestamptz NOT NULL,
    completed_at timestamptz,
    issued       bigint NOT NULL CHECK (issued >= 0),
    PRIMARY KEY (programme, fiscal_year)
);

-- Staff review items: a ledger change pushed an issued certificate's window below the threshold.
CREATE TABLE certificate_reviews (
    id             uuid PRIMARY KEY,
    certificate_id uuid NOT NULL REFERENCES certificates (id),
    number         text COLLATE "C" NOT NULL,
    doctor_id      uuid NOT NULL REFERENCES doctors (id),
    opened_at      timestamptz NOT NULL,
    reason         text NOT NULL,
    resolved_at    timestamptz
);
-- At most one open item per certificate.
CREATE UNIQUE INDEX certificate_reviews_open_key ON certificate_reviews (certificate_id)
    WHERE resolved_at IS NULL;
-- The open list, oldest first.
CREATE INDEX certificate_reviews_open_idx ON certificate_reviews (opened_at, id)
    WHERE resolved_at IS NULL;
