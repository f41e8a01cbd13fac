-- 研修管理: training sessions, programme items and their code parts, presence intervals and
-- pending attendance (SQLite). The same tables, columns and constraint names as the PostgreSQL
-- 0009; ids TEXT UUIDs, dates TEXT 'YYYY-MM-DD', instants INTEGER microseconds, as in 0001.

-- 研修会. Organised by an association node or an outside organisation (exactly one); only an
-- outside organisation's session is approved (number, when and by whom, all or none).
CREATE TABLE training_sessions (
    id                     TEXT PRIMARY KEY,
    organiser_association  TEXT REFERENCES associations(code),
    organiser_organisation TEXT REFERENCES organisations(id),
    title                  TEXT NOT NULL,
    venue_kind             TEXT NOT NULL CHECK (venue_kind IN ('in_person', 'online', 'hybrid')),
    place                  TEXT,
    start_at               INTEGER NOT NULL,
    end_at                 INTEGER NOT NULL,
    expected_headcount     INTEGER CHECK (expected_headcount >= 1),
    created_at             INTEGER NOT NULL,
    approval_number        TEXT,
    approved_at            INTEGER,
    approved_by            TEXT,
    closed_at              INTEGER,
    CONSTRAINT training_sessions_organiser_check
        CHECK ((organiser_association IS NULL) <> (organiser_organisation IS NULL)),
    CONSTRAINT training_sessions_place_check CHECK ((venue_kind = 'online') = (place IS NULL)),
    CONSTRAINT training_sessions_time_check CHECK (end_at > start_at),
    CONSTRAINT training_sessions_approval_check
        CHECK ((approval_number IS NULL) = (approved_at IS NULL)
               AND (approval_number IS NULL) = (approved_by IS NULL)
               AND (approval_number IS NULL OR organiser_organisation IS NOT NULL)),
    CONSTRAINT training_sessions_approval_number_key UNIQUE (approval_number)
) STRICT;
CREATE INDEX training_sessions_association_idx
    ON training_sessions (organiser_association, start_at);
CREATE INDEX training_sessions_organisation_idx
    ON training_sessions (organiser_organisation, start_at);

-- 演題, in the organiser's order.
CREATE TABLE training_items (
    id                TEXT PRIMARY KEY,
    session_id        TEXT NOT NULL REFERENCES training_sessions(id),
    position          INTEGER NOT NULL CHECK (position >= 0),
    title             TEXT NOT NULL,
    start_at          INTEGER NOT NULL,
    minutes           INTEGER NOT NULL CHECK (minutes > 0 AND minutes <= 1440),
    kind              TEXT NOT NULL CHECK (kind IN ('credit', 'greeting', 'ceremony', 'break',
                                                    'product_introduction', 'other')),
    catalogue_version TEXT NOT NULL,
    CONSTRAINT training_items_position_key UNIQUE (session_id, position)
) STRICT;

-- A credit item's curriculum codes and their minutes (one part unless split).
CREATE TABLE training_item_parts (
    item_id           TEXT NOT NULL REFERENCES training_items(id) ON DELETE CASCADE,
    part              INTEGER NOT NULL CHECK (part >= 0),
    catalogue_version TEXT NOT NULL,
    code              INTEGER NOT NULL,
    minutes           INTEGER NOT NULL CHECK (minutes > 0),
    PRIMARY KEY (item_id, part),
    FOREIGN KEY (catalogue_version, code) REFERENCES curriculum_codes(version, number)
) STRICT;

-- Numbers without a verified MAMIS_ID that attended a session, with kana and birth date as
-- given; credited (doctor and instant, both or neither) once a MAMIS_ID is verified.
CREATE TABLE pending_attendance (
    id                 TEXT PRIMARY KEY,
    session_id         TEXT NOT NULL REFERENCES training_sessions(id),
    iseki_number       TEXT NOT NULL,
    family_kana        TEXT,
    given_kana         TEXT,
    birth_date         TEXT,
    created_at         INTEGER NOT NULL,
    credited_doctor_id TEXT REFERENCES doctors(id),
    credited_at        INTEGER,
    CONSTRAINT pending_attendance_key UNIQUE (session_id, iseki_number),
    CONSTRAINT pending_attendance_credited_check
        CHECK ((credited_doctor_id IS NULL) = (credited_at IS NULL))
) STRICT;
CREATE INDEX pending_attendance_iseki_idx ON pending_attendance (iseki_number);

-- Presence intervals: evidence, never deleted (removed_at withdraws one). The subject is a
-- doctor or a pending number of the same session (exactly one).
CREATE TABLE training_presence (
    id            TEXT PRIMARY KEY,
    session_id    TEXT NOT NULL REFERENCES training_sessions(id),
    doctor_id     TEXT REFERENCES doctors(id),
    pending_iseki TEXT,
    in_at         INTEGER NOT NULL,
    out_at        INTEGER,
    left_at_end   INTEGER NOT NULL CHECK (left_at_end IN (0, 1)),
    channel       TEXT NOT NULL CHECK (channel IN ('venue_qr', 'personal_qr', 'desk', 'list')),
    device_id     TEXT,
    client_addr   TEXT,
    created_at    INTEGER NOT NULL,
    removed_at    INTEGER,
    CONSTRAINT training_presence_subject_check
        CHECK ((doctor_id IS NULL) <> (pending_iseki IS NULL)),
    CONSTRAINT training_presence_interval_check
        CHECK ((out_at IS NULL OR out_at >= in_at) AND (left_at_end = 0 OR out_at IS NOT NULL)),
    FOREIGN KEY (session_id, pending_iseki)
        REFERENCES pending_attendance(session_id, iseki_number)
) STRICT;
CREATE INDEX training_presence_doctor_idx ON training_presence (session_id, doctor_id, in_at);
CREATE INDEX training_presence_pending_idx
    ON training_presence (session_id, pending_iseki, in_at);
-- At most one open interval per (session, subject): concurrent scans cannot open two.
CREATE UNIQUE INDEX presence_open_key
    ON training_presence (session_id, coalesce(doctor_id, pending_iseki))
    WHERE out_at IS NULL AND removed_at IS NULL;
