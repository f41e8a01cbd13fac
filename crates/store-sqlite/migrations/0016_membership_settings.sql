-- no-transaction
-- Membership procedures, second part (issue 18), SQLite. The same tables and columns as the
-- PostgreSQL 0016. It rebuilds membership_procedures (SQLite cannot drop a NOT NULL), which
-- other tables reference: foreign-key enforcement is switched off around its own transaction,
-- as SQLite's documented table-rebuild procedure requires, hence no migrator transaction.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

-- The municipalities a county association covers, so a joining doctor finds the county of their
-- workplace by prefecture and municipality (configuration per county, kept by its staff). A
-- municipality may belong to several counties (a city with more than one association).
CREATE TABLE association_municipalities (
    association_code TEXT NOT NULL REFERENCES associations(code),
    municipality     TEXT NOT NULL CHECK (length(municipality) BETWEEN 1 AND 40),
    CONSTRAINT association_municipalities_pkey PRIMARY KEY (association_code, municipality)
) STRICT;

-- When staff were last reminded of an item waiting in their queue (reminders go after N days,
-- then weekly); NULL: not yet reminded.
ALTER TABLE procedure_due ADD COLUMN reminded_at INTEGER;

-- A new resident is not in the register yet: their join is filed by their MAMIS_ID account
-- (`applicant_account`) with the licence copy, and the county's approval creates or finds the
-- record, binds the account and fills in `doctor_id`. Until then the row names the account only.
CREATE TABLE membership_procedures_0016 (
    id                TEXT PRIMARY KEY,
    doctor_id         TEXT REFERENCES doctors(id),
    applicant_account TEXT REFERENCES accounts(id),
    kind              TEXT NOT NULL
        CHECK (kind IN ('join', 'transfer', 'class_change', 'name_change', 'withdrawal')),
    status            TEXT NOT NULL CHECK (status IN ('open', 'completed', 'cancelled')),
    state             TEXT NOT NULL,
    filed_by          TEXT NOT NULL REFERENCES accounts(id),
    filed_at          INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    effective_on      TEXT,
    lock_group        TEXT GENERATED ALWAYS AS (
        CASE WHEN kind = 'name_change' THEN 'name' ELSE 'membership' END) VIRTUAL,
    CONSTRAINT membership_procedures_subject
        CHECK (doctor_id IS NOT NULL OR applicant_account IS NOT NULL)
) STRICT;
INSERT INTO membership_procedures_0016
    (id, doctor_id, kind, status, state, filed_by, filed_at, updated_at, effective_on)
SELECT id, doctor_id, kind, status, state, filed_by, filed_at, updated_at, effective_on
FROM membership_procedures;
DROP TABLE membership_procedures;
ALTER TABLE membership_procedures_0016 RENAME TO membership_procedures;
CREATE INDEX membership_procedures_doctor_idx ON membership_procedures (doctor_id, filed_at);
CREATE UNIQUE INDEX membership_procedures_open_key
    ON membership_procedures (doctor_id, lock_group) WHERE status = 'open';
CREATE UNIQUE INDEX membership_procedures_applicant_open_key
    ON membership_procedures (applicant_account) WHERE status = 'open' AND doctor_id IS NULL;

COMMIT;
PRAGMA foreign_keys = ON;
