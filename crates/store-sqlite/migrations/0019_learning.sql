-- 生涯教育 on-line's own learning (SQLite): journal-quiz sets, e-learning contents and journal
-- articles authored by JMA staff, every saved version kept; quiz answers (web or postcard, one
-- per doctor and set); e-learning attempts (a passed content is locked); slide files. The same
-- tables, columns and constraint names as the PostgreSQL 0019; ids TEXT UUIDs, dates TEXT
-- 'YYYY-MM-DD', instants INTEGER microseconds, booleans INTEGER 0/1.

CREATE TABLE learning_versions (
    item_id      TEXT NOT NULL,
    version      INTEGER NOT NULL CHECK (version >= 1),
    kind         TEXT NOT NULL CHECK (kind IN ('quiz', 'content', 'article')),
    issue        TEXT,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    published_on TEXT,
    deadline     TEXT,
    answers_on   TEXT,
    saved_by     TEXT NOT NULL,
    saved_at     INTEGER NOT NULL,
    CONSTRAINT learning_versions_pkey PRIMARY KEY (item_id, version),
    CONSTRAINT learning_versions_quiz_check
        CHECK ((kind = 'quiz') = (deadline IS NOT NULL AND answers_on IS NOT NULL))
) STRICT;
CREATE INDEX learning_versions_kind_idx ON learning_versions (kind, item_id, version);

CREATE TABLE quiz_answers (
    set_id      TEXT NOT NULL,
    doctor_id   TEXT NOT NULL REFERENCES doctors(id),
    channel     TEXT NOT NULL CHECK (channel IN ('web', 'postcard')),
    answers     TEXT NOT NULL,
    answered_on TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    CONSTRAINT quiz_answers_pkey PRIMARY KEY (set_id, doctor_id)
) STRICT;
CREATE INDEX quiz_answers_doctor_idx ON quiz_answers (doctor_id);

CREATE TABLE elearning_attempts (
    id          TEXT PRIMARY KEY,
    content_id  TEXT NOT NULL,
    version     INTEGER NOT NULL,
    doctor_id   TEXT NOT NULL REFERENCES doctors(id),
    correct     INTEGER NOT NULL CHECK (correct >= 0),
    total       INTEGER NOT NULL CHECK (total >= 1 AND correct <= total),
    passed      INTEGER NOT NULL CHECK (passed IN (0, 1)),
    answered_on TEXT NOT NULL,
    at          INTEGER NOT NULL
) STRICT;
CREATE INDEX elearning_attempts_doctor_idx ON elearning_attempts (doctor_id, at);
CREATE UNIQUE INDEX elearning_passed_key ON elearning_attempts (content_id, doctor_id) WHERE passed = 1;

CREATE TABLE learning_files (
    sha256       TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    bytes        BLOB NOT NULL
) STRICT;

CREATE INDEX training_sessions_start_idx ON training_sessions (start_at);
CREATE INDEX training_item_parts_code_idx ON training_item_parts (code, item_id);
