-- 研修管理: training sessions, programme items and their code parts, presence intervals and
-- pending attendance (PostgreSQL). The same tables, columns and constraint names as the SQLite
-- 0009.

-- 研修会. Organised by an association node or an outside organisation (exactly one); only an
-- outside organisation's session is approved (number, when and by whom, all or none).
CREATE TABLE training_sessions (
    id                     uuid PRIMARY KEY,
    organiser_association  text COLLATE "C" REFERENCES associations (code),
    organiser_organisation uuid REFERENCES organisations (id),
    title                  text NOT NULL,
    venue_kind             text NOT NULL CHECK (venue_kind IN ('in_person', 'online', 'hybrid')),
    place                  text,
    start_at               timestamptz NOT NULL,
    end_at                 timestamptz NOT NULL,
    expected_headcount     integer CHECK (expected_headcount >= 1),
    created_at             timestamptz NOT NULL,
    approval_number        text COLLATE "C",
    approved_at            timestamptz,
    approved_by            text,
    closed_at              timestamptz,
    CONSTRAINT training_sessions_organiser_check
        CHECK ((organiser_association IS NULL) <> (organiser_organisation IS NULL)),
    CONSTRAINT training_sessions_place_check CHECK ((venue_kind = 'online') = (place IS NULL)),
    CONSTRAINT training_sessions_time_check CHECK (end_at > start_at),
    CONSTRAINT training_sessions_approval_check
        CHECK ((approval_number IS NULL) = (approved_at IS NULL)
               AND (approval_number IS NULL) = (approved_by IS NULL)
               AND (approval_number IS NULL OR organiser_organisation IS NOT NULL)),
    CONSTRAINT training_sessions_approval_number_key UNIQUE (approval_number)
);
CREATE INDEX training_sessions_association_idx
    ON training_sessions (organiser_association, start_at);
CREATE INDEX training_sessions_organisation_idx
    ON training_sessions (organiser_organisation, start_at);

-- 演題, in the organiser's order.
CREATE TABLE training_items (
    id                uuid PRIMARY KEY,
    session_id        uuid NOT NULL REFERENCES training_sessions (id),
    position          integer NOT NULL CHECK (position >= 0),
    title             text NOT NULL,
    start_at          timestamptz NOT NULL,
    minutes           integer NOT NULL CHECK (minutes > 0 AND minutes <= 1440),
    kind              text NOT NULL CHECK (kind IN ('credit', 'greeting', 'ceremony', 'break',
                                                    'product_introduction', 'other')),
    catalogue_version text NOT NULL,
    CONSTRAINT training_items_position_key UNIQUE (session_id, position)
);

-- A credit item's curriculum codes and their minutes (one part unless split).
CREATE TABLE training_item_parts (
    item_id           uuid NOT NULL REFERENCES training_items (id) ON DELETE CASCADE,
    part              integer NOT NULL CHECK (part >= 0),
    catalogue_version text NOT NULL,
    code              integer NOT NULL,
    minutes           integer NOT NULL CHECK (minutes > 0),
    PRIMARY KEY (item_id, part),
    FOREIGN KEY (catalogue_version, code) REFERENCES curriculum_codes (version, number)
);

-- Numbers without a verified MAMIS_ID that attended a session, with kana and birth date as
-- given; credited (doctor and instant, both or neither) once a MAMIS_ID is verified.
CREATE TABLE pending_attendance (
    id                 uuid PRIMARY KEY,
    session_id         uuid NOT NULL REFERENCES training_sessions (id),
    iseki_number       text COLLATE "C" NOT NULL,
    family_kana        text,
    given_kana         text,
    birth_date         date,
    created_at         timestamptz NOT NULL,
    credited_doctor_id uuid REFERENCES doctors (id),
    credited_at        timestamptz,
    CONSTRAINT pending_attendance_key UNIQUE (session_id, iseki_number),
    CONSTRAINT pending_attendance_credited_check
        CHECK ((credited_doctor_id IS NULL) = (credited_at IS NULL))
);
CREATE INDEX pending_attendance_iseki_idx ON pending_attendance (iseki_number);

-- Presence intervals: evidence, never deleted (removed_at withdraws one). The subject is a
-- doctor or a pending number of the same session (exactly one).
CREATE TABLE training_presence (
    id            uuid PRIMARY KEY,
    session_id    uuid NOT NULL REFERENCES training_sessions (id),
    doctor_id     uuid REFERENCES doctors (id),
    pending_iseki text COLLATE "C",
    in_at         timestamptz NOT NULL,
    out_at        timestamptz,
    left_at_end   boolean NOT NULL,
    channel       text NOT NULL CHECK (channel IN ('venue_qr', 'personal_qr', 'desk', 'list')),
    device_id     text,
    client_addr   text,
    created_at    timestamptz NOT NULL,
    removed_at    timestamptz,
    CONSTRAINT training_presence_subject_check
        CHECK ((doctor_id IS NULL) <> (pending_iseki IS NULL)),
    CONSTRAINT training_presence_interval_check
        CHECK ((out_at IS NULL OR out_at >= in_at) AND (NOT left_at_end OR out_at IS NOT NULL)),
    FOREIGN KEY (session_id, pending_iseki)
        REFERENCES pending_attendance (session_id, iseki_number)
);
CREATE INDEX training_presence_doctor_idx ON training_presence (session_id, doctor_id, in_at);
CREATE INDEX training_presence_pending_idx
    ON training_presence (session_id, pending_iseki, in_at);
-- At most one open interval per (session, subject): concurrent scans cannot open two.
CREATE UNIQUE INDEX presence_open_key
    ON training_presence (session_id, coalesce(doctor_id::text, pending_iseki))
    WHERE out_at IS NULL AND removed_at IS NULL;
