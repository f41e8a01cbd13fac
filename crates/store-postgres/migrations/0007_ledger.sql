-- The CME ledger and certificates (PostgreSQL). The same tables, columns and constraint names as
-- the SQLite 0007; uuid ids, date civil dates, timestamptz instants bound by the application.
-- Programmes, origin keys and certificate numbers use the "C" collation, so they order byte for
-- byte as on SQLite.

-- Append-only: a correction is a reversing entry, never an UPDATE, DELETE or TRUNCATE.
CREATE TABLE ledger_entries (
    id                uuid PRIMARY KEY,
    doctor_id         uuid NOT NULL REFERENCES doctors (id),
    programme         text COLLATE "C" NOT NULL,
    fiscal_year       integer NOT NULL,
    entry_date        date NOT NULL,
    source            text NOT NULL CHECK (source IN ('training', 'e_learning', 'journal_quiz',
                                                      'declaration', 'staff_adjustment', 'prior_system')),
    catalogue_version text NOT NULL,
    code              integer NOT NULL,
    half_units        bigint NOT NULL,
    origin_key        text COLLATE "C" NOT NULL,
    generation        integer NOT NULL CHECK (generation >= 0),
    reverses_entry    uuid REFERENCES ledger_entries (id),
    rules_version     text NOT NULL,
    created_by        text NOT NULL,
    created_at        timestamptz NOT NULL,
    note              text,
    CONSTRAINT ledger_origin_key UNIQUE (programme, origin_key, generation),
    FOREIGN KEY (catalogue_version, code) REFERENCES curriculum_codes (version, number)
);
-- One reversal per entry. Partial: almost every entry reverses nothing, and tens of millions of
-- NULL keys would only cost space and insert time.
CREATE UNIQUE INDEX ledger_reverses_key ON ledger_entries (reverses_entry)
    WHERE reverses_entry IS NOT NULL;
CREATE INDEX ledger_entries_doctor_idx ON ledger_entries (doctor_id, programme, entry_date);

CREATE FUNCTION ledger_entries_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only';
END;
$$;

CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_refuse_change();
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_refuse_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_refuse_change();

-- 日医生涯教育認定証: a window of fiscal years is consumed once per doctor and programme.
CREATE TABLE certificates (
    id         uuid PRIMARY KEY,
    number     text COLLATE "C" NOT NULL,
    doctor_id  uuid NOT NULL REFERENCES doctors (id),
    programme  text COLLATE "C" NOT NULL,
    from_fy    integer NOT NULL,
    to_fy      integer NOT NULL CHECK (to_fy >= from_fy),
    issued_on  date NOT NULL,
    origin     text NOT NULL CHECK (origin IN ('mamis', 'prior_system')),
    created_at timestamptz NOT NULL,
    CONSTRAINT certificates_number_key UNIQUE (number),
    CONSTRAINT certificates_window_key UNIQUE (doctor_id, programme, from_fy)
);
-- certificates_window_key's index also serves a doctor's certificates of a programme, by from_fy.
