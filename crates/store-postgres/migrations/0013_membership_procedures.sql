-- Membership procedures (issue 18), PostgreSQL. The same tables, columns and constraint names as
-- the SQLite 0013; uuid ids, date civil dates, timestamptz instants.

-- What the procedures need of a doctor beyond the identity record: workplace (the county of the
-- workplace receives applications), home address, phone, graduation year and the resident flag
-- (kept for dues systems; the JMA waives residents' fees).
CREATE TABLE doctor_profiles (
    doctor_id              uuid PRIMARY KEY REFERENCES doctors (id),
    workplace_name         text,
    workplace_address      text,
    workplace_municipality text,
    home_address           text,
    phone                  text,
    graduation_year        integer CHECK (graduation_year BETWEEN 1900 AND 9999),
    resident               boolean NOT NULL,
    updated_at             timestamptz NOT NULL
);

-- The classes each association offers: the JMA's five, and per county or prefecture its own.
CREATE TABLE association_classes (
    association_code text COLLATE "C" NOT NULL REFERENCES associations (code),
    code             text COLLATE "C" NOT NULL CHECK (length(code) BETWEEN 1 AND 16),
    name_ja          text NOT NULL,
    name_en          text NOT NULL,
    position         integer NOT NULL,
    retired          boolean NOT NULL,
    CONSTRAINT association_classes_pkey PRIMARY KEY (association_code, code)
);

INSERT INTO association_classes (association_code, code, name_ja, name_en, position, retired) VALUES
    ('JMA', 'A1',  'A①会員',    'A1 (founders and managers)',           1, false),
    ('JMA', 'A2B', 'A②会員(B)', 'A2(B) (employed, JMA liability insurance)', 2, false),
    ('JMA', 'A2C', 'A②会員(C)', 'A2(C) (residents, JMA liability insurance)', 3, false),
    ('JMA', 'B',   'B会員',     'B (employed)',                          4, false),
    ('JMA', 'C',   'C会員',     'C (residents)',                         5, false);

-- Until 0013 every level stored the JMA class. Those codes become the county's or prefecture's
-- own configured classes (same names), so no existing membership changes meaning.
INSERT INTO association_classes (association_code, code, name_ja, name_en, position, retired)
SELECT DISTINCT m.association_code, m.class,
       CASE m.class WHEN 'A1' THEN 'A①会員' WHEN 'A2B' THEN 'A②会員(B)'
                    WHEN 'A2C' THEN 'A②会員(C)' WHEN 'B' THEN 'B会員' ELSE 'C会員' END,
       CASE m.class WHEN 'A1' THEN 'A1' WHEN 'A2B' THEN 'A2(B)'
                    WHEN 'A2C' THEN 'A2(C)' ELSE m.class END,
       CASE m.class WHEN 'A1' THEN 1 WHEN 'A2B' THEN 2 WHEN 'A2C' THEN 3 WHEN 'B' THEN 4 ELSE 5 END,
       false
FROM memberships m WHERE m.association_code <> 'JMA';

-- Memberships: the class is the association's own, the level is derived from the code, a
-- membership ends after it starts, and a doctor holds at most one open membership per level.
ALTER TABLE memberships DROP CONSTRAINT memberships_class_check;
ALTER TABLE memberships ADD CONSTRAINT memberships_class_check
    CHECK (length(class) BETWEEN 1 AND 16);
ALTER TABLE memberships ADD CONSTRAINT memberships_left_on_check
    CHECK (left_on IS NULL OR left_on > joined_on);
ALTER TABLE memberships ADD COLUMN level text GENERATED ALWAYS AS (
    CASE WHEN association_code = 'JMA' THEN 'jma'
         WHEN length(association_code) = 3 THEN 'prefecture'
         ELSE 'county' END) STORED;
CREATE UNIQUE INDEX memberships_open_key ON memberships (doctor_id, level) WHERE left_on IS NULL;

-- Per association: when its memberships start or end. No row: the first day of the month after
-- the final approval.
CREATE TABLE membership_rules (
    association_code text COLLATE "C" PRIMARY KEY REFERENCES associations (code),
    effective_rule   text NOT NULL
        CHECK (effective_rule IN ('first_of_next_month', 'next_day', 'first_of_next_fiscal_year'))
);

-- A procedure: the domain state machine as JSON, with the columns queues and scopes need.
CREATE TABLE membership_procedures (
    id           uuid PRIMARY KEY,
    doctor_id    uuid NOT NULL REFERENCES doctors (id),
    kind         text NOT NULL
        CHECK (kind IN ('join', 'transfer', 'class_change', 'name_change', 'withdrawal')),
    status       text NOT NULL CHECK (status IN ('open', 'completed', 'cancelled')),
    state        text NOT NULL,
    filed_by     uuid NOT NULL REFERENCES accounts (id),
    filed_at     timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    effective_on date,
    lock_group   text GENERATED ALWAYS AS (
        CASE WHEN kind = 'name_change' THEN 'name' ELSE 'membership' END) STORED
);
CREATE INDEX membership_procedures_doctor_idx ON membership_procedures (doctor_id, filed_at);
CREATE UNIQUE INDEX membership_procedures_open_key
    ON membership_procedures (doctor_id, lock_group) WHERE status = 'open';

-- Who must act next on an open procedure, since when.
CREATE TABLE procedure_due (
    procedure_id     uuid NOT NULL REFERENCES membership_procedures (id),
    association_code text COLLATE "C" NOT NULL REFERENCES associations (code),
    action           text NOT NULL CHECK (action IN ('approve', 'acknowledge', 'route')),
    since            timestamptz NOT NULL,
    CONSTRAINT procedure_due_pkey PRIMARY KEY (procedure_id, association_code)
);
CREATE INDEX procedure_due_queue_idx ON procedure_due (association_code, since);

-- Every association a procedure concerns: staff of these see it.
CREATE TABLE procedure_parties (
    procedure_id     uuid NOT NULL REFERENCES membership_procedures (id),
    association_code text COLLATE "C" NOT NULL REFERENCES associations (code),
    CONSTRAINT procedure_parties_pkey PRIMARY KEY (procedure_id, association_code)
);
CREATE INDEX procedure_parties_association_idx ON procedure_parties (association_code);

-- The history of a procedure, append-only.
CREATE TABLE procedure_events (
    procedure_id uuid NOT NULL REFERENCES membership_procedures (id),
    seq          integer NOT NULL,
    at           timestamptz NOT NULL,
    actor        uuid REFERENCES accounts (id),
    event        text NOT NULL,
    CONSTRAINT procedure_events_pkey PRIMARY KEY (procedure_id, seq)
);
CREATE FUNCTION procedure_events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'procedure events are append-only';
END;
$$;
CREATE TRIGGER procedure_events_no_update BEFORE UPDATE ON procedure_events
    FOR EACH ROW EXECUTE FUNCTION procedure_events_refuse_change();
CREATE TRIGGER procedure_events_no_delete BEFORE DELETE ON procedure_events
    FOR EACH ROW EXECUTE FUNCTION procedure_events_refuse_change();

-- Evidence files: the bytes live in the evidence directory under `storage_key`.
CREATE TABLE procedure_evidence (
    id           uuid PRIMARY KEY,
    procedure_id uuid NOT NULL REFERENCES membership_procedures (id),
    file_name    text NOT NULL,
    content_type text NOT NULL,
    size         bigint NOT NULL CHECK (size >= 0),
    sha256       text NOT NULL,
    storage_key  text NOT NULL,
    uploaded_by  uuid NOT NULL REFERENCES accounts (id),
    uploaded_at  timestamptz NOT NULL
);
CREATE INDEX procedure_evidence_procedure_idx ON procedure_evidence (procedure_id, uploaded_at);
