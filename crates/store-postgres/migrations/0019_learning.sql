-- 生涯教育 on-line's own learning (PostgreSQL): journal-quiz sets, e-learning contents and
-- journal articles authored by JMA staff, every saved version kept; quiz answers (web or
-- postcard, one per doctor and set); e-learning attempts (a passed content is locked); slide
-- files. The same tables, columns and constraint names as the SQLite 0019.

-- One row per saved version of an item. The newest version is the item; older ones stay as
-- the record of what members saw and were marked against. `body` is the kind's JSON document
-- (questions, keys, explanations, credits, text, video link, slide file).
CREATE TABLE learning_versions (
    item_id      uuid NOT NULL,
    version      integer NOT NULL CHECK (version >= 1),
    kind         text NOT NULL CHECK (kind IN ('quiz', 'content', 'article')),
    issue        text COLLATE "C",
    title        text NOT NULL,
    body         text NOT NULL,
    published_on date,
    deadline     date,
    answers_on   date,
    saved_by     text NOT NULL,
    saved_at     timestamptz NOT NULL,
    CONSTRAINT learning_versions_pkey PRIMARY KEY (item_id, version),
    CONSTRAINT learning_versions_quiz_check
        CHECK ((kind = 'quiz') = (deadline IS NOT NULL AND answers_on IS NOT NULL))
);
CREATE INDEX learning_versions_kind_idx ON learning_versions (kind, item_id, version);

-- 日医雑誌 answers: one per doctor and set, whatever the channel.
CREATE TABLE quiz_answers (
    set_id      uuid NOT NULL,
    doctor_id   uuid NOT NULL REFERENCES doctors (id),
    channel     text NOT NULL CHECK (channel IN ('web', 'postcard')),
    answers     text NOT NULL,
    answered_on date NOT NULL,
    recorded_by text NOT NULL,
    recorded_at timestamptz NOT NULL,
    CONSTRAINT quiz_answers_pkey PRIMARY KEY (set_id, doctor_id)
);
CREATE INDEX quiz_answers_doctor_idx ON quiz_answers (doctor_id);

-- 日医e-ラーニング self-assessments; a content passed once is locked.
CREATE TABLE elearning_attempts (
    id          uuid PRIMARY KEY,
    content_id  uuid NOT NULL,
    version     integer NOT NULL,
    doctor_id   uuid NOT NULL REFERENCES doctors (id),
    correct     integer NOT NULL CHECK (correct >= 0),
    total       integer NOT NULL CHECK (total >= 1 AND correct <= total),
    passed      boolean NOT NULL,
    answered_on date NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX elearning_attempts_doctor_idx ON elearning_attempts (doctor_id, at);
CREATE UNIQUE INDEX elearning_passed_key ON elearning_attempts (content_id, doctor_id) WHERE passed;

-- Slide PDFs, addressed by their SHA-256 (a version names the file it shows).
CREATE TABLE learning_files (
    sha256       text COLLATE "C" PRIMARY KEY,
    content_type text NOT NULL,
    bytes        bytea NOT NULL
);

-- The calendar reads sessions by start and programme parts by code.
CREATE INDEX training_sessions_start_idx ON training_sessions (start_at);
CREATE INDEX training_item_parts_code_idx ON training_item_parts (code, item_id);
