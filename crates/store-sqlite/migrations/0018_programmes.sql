-- Certified-doctor programmes (issue 20), SQLite. The same tables, columns and constraint names as
-- the PostgreSQL 0018; ids TEXT UUIDs, dates TEXT 'YYYY-MM-DD', instants INTEGER microseconds.

-- The programme ledger: append-only credits of 産業医, 健康スポーツ医 and the かかりつけ医 trainings.
-- Like ledger_entries, but a unit sits in one category of its programme instead of under a
-- curriculum code; web_session marks units from an individual web session (産業医 renewal cap).
CREATE TABLE programme_entries (
    id             TEXT PRIMARY KEY,
    doctor_id      TEXT NOT NULL REFERENCES doctors(id),
    programme      TEXT NOT NULL,
    category       TEXT NOT NULL CHECK (length(category) BETWEEN 1 AND 64),
    entry_date     TEXT NOT NULL,
    half_units     INTEGER NOT NULL,
    web_session    INTEGER NOT NULL DEFAULT 0 CHECK (web_session IN (0, 1)),
    lecture        TEXT,
    source         TEXT NOT NULL CHECK (source IN ('training', 'e_learning', 'journal_quiz',
                                                  'declaration', 'staff_adjustment', 'prior_system')),
    origin_key     TEXT NOT NULL,
    generation     INTEGER NOT NULL CHECK (generation >= 0),
    reverses_entry TEXT REFERENCES programme_entries(id),
    rules_version  TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    note           TEXT,
    CONSTRAINT programme_entries_origin_key UNIQUE (programme, origin_key, generation)
) STRICT;
CREATE UNIQUE INDEX programme_entries_reverses_key ON programme_entries (reverses_entry)
    WHERE reverses_entry IS NOT NULL;
CREATE INDEX programme_entries_doctor_idx ON programme_entries (doctor_id, programme, entry_date);
CREATE TRIGGER programme_entries_no_update BEFORE UPDATE ON programme_entries
BEGIN
    SELECT RAISE(ABORT, 'programme_entries is append-only');
END;
CREATE TRIGGER programme_entries_no_delete BEFORE DELETE ON programme_entries
BEGIN
    SELECT RAISE(ABORT, 'programme_entries is append-only');
END;

-- What a training session's item credits besides (or instead of) CME codes: a programme and
-- category each. Keyed by item id, replaced with the session's programme (items are rewritten
-- then, so no foreign key to training_items).
CREATE TABLE training_item_programmes (
    session_id  TEXT NOT NULL REFERENCES training_sessions(id),
    item_id     TEXT NOT NULL,
    programme   TEXT NOT NULL,
    category    TEXT NOT NULL,
    web_session INTEGER NOT NULL CHECK (web_session IN (0, 1)),
    lecture     TEXT,
    CONSTRAINT training_item_programmes_pkey PRIMARY KEY (item_id, programme)
) STRICT;
CREATE INDEX training_item_programmes_session_idx ON training_item_programmes (session_id);

-- Designated lectures of the かかりつけ医 応用研修, maintained by JMA staff.
CREATE TABLE designated_lectures (
    key        TEXT PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 32),
    title      TEXT NOT NULL,
    group_no   INTEGER CHECK (group_no BETWEEN 1 AND 99),
    retired    INTEGER NOT NULL CHECK (retired IN (0, 1)),
    updated_at INTEGER NOT NULL
) STRICT;

-- Applications for a new certificate or a renewal, passing the associations of their route.
-- route: association codes joined by ','; step: index of the association acting now.
CREATE TABLE programme_applications (
    id                 TEXT PRIMARY KEY,
    doctor_id          TEXT NOT NULL REFERENCES doctors(id),
    programme          TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('new', 'renewal')),
    status             TEXT NOT NULL CHECK (status IN ('open', 'approved', 'returned')),
    route              TEXT NOT NULL,
    step               INTEGER NOT NULL CHECK (step >= 0),
    acting             TEXT,
    renews             TEXT,
    evidence           TEXT,
    declared_activity  INTEGER NOT NULL CHECK (declared_activity IN (0, 1)),
    practical_approved INTEGER NOT NULL CHECK (practical_approved IN (0, 1)),
    fee                TEXT CHECK (fee IN ('paid', 'waived')),
    return_reason      TEXT,
    certificate_id     TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
) STRICT;
CREATE INDEX programme_applications_acting_idx ON programme_applications (acting, status, created_at);
CREATE INDEX programme_applications_doctor_idx ON programme_applications (doctor_id, programme);
-- At most one open application per doctor and programme.
CREATE UNIQUE INDEX programme_applications_open_key ON programme_applications (doctor_id, programme)
    WHERE status = 'open';

-- Certificates of the programmes: numbered per programme, valid from–until.
CREATE TABLE programme_certificates (
    id                TEXT PRIMARY KEY,
    number            TEXT NOT NULL,
    doctor_id         TEXT NOT NULL REFERENCES doctors(id),
    programme         TEXT NOT NULL,
    valid_from        TEXT NOT NULL,
    valid_until       TEXT NOT NULL CHECK (valid_until >= valid_from),
    issued_on         TEXT NOT NULL,
    application_id    TEXT REFERENCES programme_applications(id),
    verification_code TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    revoked_at        INTEGER,
    CONSTRAINT programme_certificates_number_key UNIQUE (number),
    CONSTRAINT programme_certificates_period_key UNIQUE (doctor_id, programme, valid_from)
) STRICT;
CREATE INDEX programme_certificates_until_idx ON programme_certificates (valid_until);
