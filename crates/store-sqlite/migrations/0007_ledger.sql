-- The CME ledger and certificates (SQLite). The same tables, columns and constraint names as the
-- PostgreSQL 0007 (the error mapping in convert.rs turns SQLite's column lists into those names);
-- ids TEXT UUIDs, dates TEXT 'YYYY-MM-DD', instants INTEGER microseconds, as in 0001.

-- Append-only: a correction is a reversing entry, never an UPDATE or DELETE (triggers below).
-- A rowid table: inserts append, and the secondary indexes carry an 8-byte rowid, not the uuid.
CREATE TABLE ledger_entries (
    id                TEXT PRIMARY KEY,
    doctor_id         TEXT NOT NULL REFERENCES doctors(id),
    programme         TEXT NOT NULL,
    fiscal_year       INTEGER NOT NULL,
    entry_date        TEXT NOT NULL,
    source            TEXT NOT NULL CHECK (source IN ('training', 'e_learning', 'journal_quiz',
                                                      'declaration', 'staff_adjustment', 'prior_system')),
    catalogue_version TEXT NOT NULL,
    code              INTEGER NOT NULL,
    half_units        INTEGER NOT NULL,
    origin_key        TEXT NOT NULL,
    generation        INTEGER NOT NULL CHECK (generation >= 0),
    reverses_entry    TEXT REFERENCES ledger_entries(id),
    rules_version     TEXT NOT NULL,
    created_by        TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    note              TEXT,
    CONSTRAINT ledger_origin_key UNIQUE (programme, origin_key, generation),
    FOREIGN KEY (catalogue_version, code) REFERENCES curriculum_codes(version, number)
) STRICT;
-- One reversal per entry. Partial: almost every entry reverses nothing, and tens of millions of
-- NULL keys would only cost space and insert time.
CREATE UNIQUE INDEX ledger_reverses_key ON ledger_entries (reverses_entry)
    WHERE reverses_entry IS NOT NULL;
CREATE INDEX ledger_entries_doctor_idx ON ledger_entries (doctor_id, programme, entry_date);

CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger_entries is append-only');
END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger_entries is append-only');
END;

-- 日医生涯教育認定証: a window of fiscal years is consumed once per doctor and programme.
CREATE TABLE certificates (
    id         TEXT PRIMARY KEY,
    number     TEXT NOT NULL,
    doctor_id  TEXT NOT NULL REFERENCES doctors(id),
    programme  TEXT NOT NULL,
    from_fy    INTEGER NOT NULL,
    to_fy      INTEGER NOT NULL CHECK (to_fy >= from_fy),
    issued_on  TEXT NOT NULL,
    origin     TEXT NOT NULL CHECK (origin IN ('mamis', 'prior_system')),
    created_at INTEGER NOT NULL,
    CONSTRAINT certificates_number_key UNIQUE (number),
    CONSTRAINT certificates_window_key UNIQUE (doctor_id, programme, from_fy)
) STRICT;
-- certificates_window_key's index also serves a doctor's certificates of a programme, by from_fy.
