-- Membership procedures (issue 18), SQLite. The same tables, columns and constraint names as the
-- PostgreSQL 0013; ids TEXT UUIDs, dates TEXT 'YYYY-MM-DD', instants INTEGER microseconds.

-- What the procedures need of a doctor beyond the identity record: workplace (the county of the
-- workplace receives applications), home address, phone, graduation year and the resident flag
-- (kept for dues systems; the JMA waives residents' fees). One row per doctor, written when the
-- doctor or staff first enter any of it.
CREATE TABLE doctor_profiles (
    doctor_id              TEXT PRIMARY KEY REFERENCES doctors(id),
    workplace_name         TEXT,
    workplace_address      TEXT,
    workplace_municipality TEXT,
    home_address           TEXT,
    phone                  TEXT,
    graduation_year        INTEGER CHECK (graduation_year BETWEEN 1900 AND 9999),
    resident               INTEGER NOT NULL CHECK (resident IN (0, 1)),
    updated_at             INTEGER NOT NULL
) STRICT;

-- The classes each association offers: the JMA's five, and per county or prefecture its own.
-- Retired classes stay for the memberships that hold them but are not offered any more.
CREATE TABLE association_classes (
    association_code TEXT NOT NULL REFERENCES associations(code),
    code             TEXT NOT NULL CHECK (length(code) BETWEEN 1 AND 16),
    name_ja          TEXT NOT NULL,
    name_en          TEXT NOT NULL,
    position         INTEGER NOT NULL,
    retired          INTEGER NOT NULL CHECK (retired IN (0, 1)),
    CONSTRAINT association_classes_pkey PRIMARY KEY (association_code, code)
) STRICT;

INSERT INTO association_classes (association_code, code, name_ja, name_en, position, retired) VALUES
    ('JMA', 'A1',  'A①会員',    'A1 (founders and managers)',           1, 0),
    ('JMA', 'A2B', 'A②会員(B)', 'A2(B) (employed, JMA liability insurance)', 2, 0),
    ('JMA', 'A2C', 'A②会員(C)', 'A2(C) (residents, JMA liability insurance)', 3, 0),
    ('JMA', 'B',   'B会員',     'B (employed)',                          4, 0),
    ('JMA', 'C',   'C会員',     'C (residents)',                         5, 0);

-- Until 0013 every level stored the JMA class. Those codes become the county's or prefecture's
-- own configured classes (same names), so no existing membership changes meaning; the
-- association's staff may rename or retire them.
INSERT INTO association_classes (association_code, code, name_ja, name_en, position, retired)
SELECT DISTINCT m.association_code, m.class,
       CASE m.class WHEN 'A1' THEN 'A①会員' WHEN 'A2B' THEN 'A②会員(B)'
                    WHEN 'A2C' THEN 'A②会員(C)' WHEN 'B' THEN 'B会員' ELSE 'C会員' END,
       CASE m.class WHEN 'A1' THEN 'A1' WHEN 'A2B' THEN 'A2(B)'
                    WHEN 'A2C' THEN 'A2(C)' ELSE m.class END,
       CASE m.class WHEN 'A1' THEN 1 WHEN 'A2B' THEN 2 WHEN 'A2C' THEN 3 WHEN 'B' THEN 4 ELSE 5 END,
       0
FROM memberships m WHERE m.association_code <> 'JMA';

-- Memberships: the class is the association's own (no longer the JMA's five on every level),
-- the level is derived from the code, a membership ends after it starts, and a doctor holds at
-- most one open membership per level. SQLite cannot drop a CHECK, so the table is rebuilt.
CREATE TABLE memberships_0013 (
    doctor_id        TEXT NOT NULL REFERENCES doctors(id),
    association_code TEXT NOT NULL REFERENCES associations(code),
    class            TEXT NOT NULL CHECK (length(class) BETWEEN 1 AND 16),
    joined_on        TEXT NOT NULL,
    left_on          TEXT CHECK (left_on IS NULL OR left_on > joined_on),
    level            TEXT GENERATED ALWAYS AS (
        CASE WHEN association_code = 'JMA' THEN 'jma'
             WHEN length(association_code) = 3 THEN 'prefecture'
             ELSE 'county' END) VIRTUAL
) STRICT;
INSERT INTO memberships_0013 (doctor_id, association_code, class, joined_on, left_on)
SELECT doctor_id, association_code, class, joined_on, left_on FROM memberships;
DROP TABLE memberships;
ALTER TABLE memberships_0013 RENAME TO memberships;
CREATE INDEX memberships_association_idx ON memberships (association_code, doctor_id);
CREATE UNIQUE INDEX memberships_open_key ON memberships (doctor_id, level) WHERE left_on IS NULL;
-- The key is a unique index created after the others because SQLite checks the newest index
-- first: a row repeating an existing one then reports the key (`memberships_pkey`), as
-- PostgreSQL does, rather than the open-membership rule it also breaks.
CREATE UNIQUE INDEX memberships_pkey ON memberships (doctor_id, association_code, joined_on);

-- Per association: when its memberships start or end (the latest any involved level requires
-- wins). No row: the first day of the month after the final approval.
CREATE TABLE membership_rules (
    association_code TEXT PRIMARY KEY REFERENCES associations(code),
    effective_rule   TEXT NOT NULL
        CHECK (effective_rule IN ('first_of_next_month', 'next_day', 'first_of_next_fiscal_year'))
) STRICT;

-- A procedure (入会, 異動, class change, name change, 退会): the domain state machine as JSON,
-- with the columns queues and scopes need beside it. At most one open procedure per doctor and
-- kind group: membership procedures exclude each other, a name change may run beside them.
CREATE TABLE membership_procedures (
    id           TEXT PRIMARY KEY,
    doctor_id    TEXT NOT NULL REFERENCES doctors(id),
    kind         TEXT NOT NULL
        CHECK (kind IN ('join', 'transfer', 'class_change', 'name_change', 'withdrawal')),
    status       TEXT NOT NULL CHECK (status IN ('open', 'completed', 'cancelled')),
    state        TEXT NOT NULL,
    filed_by     TEXT NOT NULL REFERENCES accounts(id),
    filed_at     INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    effective_on TEXT,
    lock_group   TEXT GENERATED ALWAYS AS (
        CASE WHEN kind = 'name_change' THEN 'name' ELSE 'membership' END) VIRTUAL
) STRICT;
CREATE INDEX membership_procedures_doctor_idx ON membership_procedures (doctor_id, filed_at);
CREATE UNIQUE INDEX membership_procedures_open_key
    ON membership_procedures (doctor_id, lock_group) WHERE status = 'open';

-- Who must act next on an open procedure: one row per association whose approval, routing or
-- acknowledgement is due, since when (queues are oldest first; acknowledgements lapse after N
-- days). Replaced whenever the procedure moves.
CREATE TABLE procedure_due (
    procedure_id     TEXT NOT NULL REFERENCES membership_procedures(id),
    association_code TEXT NOT NULL REFERENCES associations(code),
    action           TEXT NOT NULL CHECK (action IN ('approve', 'acknowledge', 'route')),
    since            INTEGER NOT NULL,
    CONSTRAINT procedure_due_pkey PRIMARY KEY (procedure_id, association_code)
) STRICT;
CREATE INDEX procedure_due_queue_idx ON procedure_due (association_code, since);

-- Every association a procedure concerns (filed with, routed or forwarded to, sending side):
-- staff of these see it; county B sees county A's doctor only through such a row.
CREATE TABLE procedure_parties (
    procedure_id     TEXT NOT NULL REFERENCES membership_procedures(id),
    association_code TEXT NOT NULL REFERENCES associations(code),
    CONSTRAINT procedure_parties_pkey PRIMARY KEY (procedure_id, association_code)
) STRICT;
CREATE INDEX procedure_parties_association_idx ON procedure_parties (association_code);

-- The history of a procedure, append-only: filing, approvals, returns with reasons, answers,
-- routing, acknowledgements, completion.
CREATE TABLE procedure_events (
    procedure_id TEXT NOT NULL REFERENCES membership_procedures(id),
    seq          INTEGER NOT NULL,
    at           INTEGER NOT NULL,
    actor        TEXT REFERENCES accounts(id),
    event        TEXT NOT NULL,
    CONSTRAINT procedure_events_pkey PRIMARY KEY (procedure_id, seq)
) STRICT;
CREATE TRIGGER procedure_events_no_update BEFORE UPDATE ON procedure_events
BEGIN SELECT RAISE(ABORT, 'procedure events are append-only'); END;
CREATE TRIGGER procedure_events_no_delete BEFORE DELETE ON procedure_events
BEGIN SELECT RAISE(ABORT, 'procedure events are append-only'); END;

-- Evidence files (医師免許証 copy, 戸籍 extract for a name change): the bytes live in the
-- evidence directory under `storage_key`; the row keeps what identifies them.
CREATE TABLE procedure_evidence (
    id           TEXT PRIMARY KEY,
    procedure_id TEXT NOT NULL REFERENCES membership_procedures(id),
    file_name    TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL CHECK (size >= 0),
    sha256       TEXT NOT NULL,
    storage_key  TEXT NOT NULL,
    uploaded_by  TEXT NOT NULL REFERENCES accounts(id),
    uploaded_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX procedure_evidence_procedure_idx ON procedure_evidence (procedure_id, uploaded_at);
