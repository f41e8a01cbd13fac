-- Foundation schema (SQLite). Instants are INTEGER microseconds since the Unix epoch (UTC),
-- civil dates TEXT 'YYYY-MM-DD', ids TEXT UUIDs. Every instant is bound by the application:
-- no statement reads SQLite's own clock.

CREATE TABLE associations (
    code        TEXT PRIMARY KEY,
    parent_code TEXT REFERENCES associations(code),
    level       TEXT NOT NULL CHECK (level IN ('jma', 'prefecture', 'county')),
    name_ja     TEXT NOT NULL,
    name_en     TEXT NOT NULL
) STRICT;

CREATE TABLE organisations (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    prefecture_code TEXT NOT NULL REFERENCES associations(code),
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX organisations_prefecture_idx ON organisations (prefecture_code);

CREATE TABLE doctors (
    id              TEXT PRIMARY KEY,
    iseki_number    TEXT NOT NULL,
    family_name     TEXT NOT NULL,
    given_name      TEXT NOT NULL,
    family_kana     TEXT NOT NULL,
    given_kana      TEXT NOT NULL,
    birth_date      TEXT NOT NULL,
    sex             TEXT NOT NULL CHECK (sex IN ('male', 'female')),
    contact_email   TEXT,
    member_id       TEXT,
    home_prefecture TEXT REFERENCES associations(code),
    created_at      INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX doctors_iseki_key ON doctors (iseki_number);
CREATE UNIQUE INDEX doctors_member_id_key ON doctors (member_id);

CREATE TABLE memberships (
    doctor_id        TEXT NOT NULL REFERENCES doctors(id),
    association_code TEXT NOT NULL REFERENCES associations(code),
    class            TEXT NOT NULL CHECK (class IN ('A1', 'A2B', 'A2C', 'B', 'C')),
    joined_on        TEXT NOT NULL,
    left_on          TEXT,
    PRIMARY KEY (doctor_id, association_code, joined_on)
) STRICT;
CREATE INDEX memberships_association_idx ON memberships (association_code, doctor_id);

CREATE TABLE accounts (
    id           TEXT PRIMARY KEY,
    email        TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX accounts_email_key ON accounts (email);

CREATE TABLE role_grants (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    role       TEXT NOT NULL,
    scope_kind TEXT NOT NULL CHECK (scope_kind IN ('association', 'organisation')),
    scope_id   TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, role, scope_kind, scope_id)
) STRICT;

CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    scope_kind TEXT NOT NULL CHECK (scope_kind IN ('association', 'organisation')),
    scope_id   TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE UNIQUE INDEX api_tokens_hash_key ON api_tokens (token_hash);

CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    idempotency_key TEXT,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL,
    run_at          INTEGER NOT NULL,
    locked_until    INTEGER,
    lease           TEXT,
    last_error      TEXT,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key);
CREATE INDEX jobs_due_idx ON jobs (status, run_at);

CREATE TABLE outbox_mail (
    id         TEXT PRIMARY KEY,
    to_addr    TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body_text  TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('pending', 'sent')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    sent_at    INTEGER
) STRICT;
CREATE INDEX outbox_mail_created_idx ON outbox_mail (created_at);

-- Append-only, HMAC-chained. `details` is JSON text kept byte for byte (the MAC covers it).
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    client_addr TEXT,
    details     TEXT NOT NULL,
    prev_mac    TEXT NOT NULL,
    mac         TEXT NOT NULL
) STRICT;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- The chain head, one row: locking it serialises appends.
CREATE TABLE audit_head (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    mac TEXT NOT NULL
) STRICT;
INSERT INTO audit_head (id, seq, mac) VALUES (1, 0, '');

CREATE TABLE curriculum_codes (
    version       TEXT NOT NULL,
    number        INTEGER NOT NULL CHECK (number >= 0),
    name_ja       TEXT NOT NULL,
    name_en       TEXT NOT NULL,
    source_status TEXT NOT NULL,
    PRIMARY KEY (version, number)
) STRICT;
