-- MAMIS_ID identity (SQLite): passwords, bindings, claims, single-use links, sessions, throttles,
-- second factors and legacy CME credentials. Instants are INTEGER microseconds (UTC).

ALTER TABLE accounts ADD COLUMN kind TEXT NOT NULL DEFAULT 'doctor' CHECK (kind IN ('doctor', 'staff'));
ALTER TABLE accounts ADD COLUMN status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended'));
ALTER TABLE accounts ADD COLUMN password_hash TEXT;
ALTER TABLE accounts ADD COLUMN doctor_id TEXT REFERENCES doctors(id);
ALTER TABLE accounts ADD COLUMN verification TEXT NOT NULL DEFAULT 'unverified'
    CHECK (verification IN ('unverified', 'review', 'verified', 'suspended'));
ALTER TABLE accounts ADD COLUMN totp_secret TEXT;
ALTER TABLE accounts ADD COLUMN totp_last_step INTEGER;
-- A doctor record has at most one verified MAMIS_ID.
CREATE UNIQUE INDEX accounts_verified_doctor_key ON accounts (doctor_id) WHERE verification = 'verified';

CREATE TABLE recovery_codes (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    code_hash  TEXT NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (account_id, code_hash)
) STRICT;

CREATE TABLE identity_claims (
    account_id     TEXT PRIMARY KEY REFERENCES accounts(id),
    iseki_number   TEXT NOT NULL,
    family_name    TEXT NOT NULL,
    given_name     TEXT NOT NULL,
    family_kana    TEXT NOT NULL,
    given_kana     TEXT NOT NULL,
    birth_date     TEXT NOT NULL,
    sex            TEXT NOT NULL CHECK (sex IN ('male', 'female')),
    association    TEXT NOT NULL REFERENCES associations(code),
    member         INTEGER NOT NULL CHECK (member IN (0, 1)),
    failed_matches INTEGER NOT NULL DEFAULT 0,
    review_node    TEXT REFERENCES associations(code),
    review_reason  TEXT,
    submitted_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX identity_claims_review_idx ON identity_claims (review_node, submitted_at);

CREATE TABLE match_failures (
    iseki_number TEXT NOT NULL,
    day          TEXT NOT NULL,
    failures     INTEGER NOT NULL,
    PRIMARY KEY (iseki_number, day)
) STRICT;

CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL CHECK (purpose IN ('register', 'reset', 'email_change', 'staff_enrol', 'not_me')),
    account_id TEXT REFERENCES accounts(id),
    email      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    client_addr  TEXT,
    user_agent   TEXT,
    revoked_at   INTEGER
) STRICT;
CREATE INDEX sessions_account_idx ON sessions (account_id);

CREATE TABLE portal_sessions (
    id_hash      TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('mamis', 'legacy')),
    subject      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    revoked_at   INTEGER
) STRICT;

CREATE TABLE throttles (
    key           TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    window_start  INTEGER NOT NULL,
    blocked_until INTEGER
) STRICT;

CREATE TABLE legacy_credentials (
    member_id     TEXT PRIMARY KEY,
    birth_date    TEXT NOT NULL,
    password_hash TEXT,
    retired_at    INTEGER,
    imported_at   INTEGER NOT NULL
) STRICT;
