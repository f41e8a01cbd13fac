-- MAMIS_ID identity (PostgreSQL): passwords, bindings, claims, single-use links, sessions,
-- throttles, second factors and legacy CME credentials. The same tables, columns, indexes and
-- constraint names as the SQLite 0003; instants are timestamptz bound by the application (no
-- default reads the database clock). Association codes and 医籍登録番号 use the "C" collation, as
-- in 0001, so subtree LIKE queries and ordering match SQLite.

ALTER TABLE accounts ADD COLUMN kind text NOT NULL DEFAULT 'doctor' CHECK (kind IN ('doctor', 'staff'));
ALTER TABLE accounts ADD COLUMN status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended'));
ALTER TABLE accounts ADD COLUMN password_hash text;
ALTER TABLE accounts ADD COLUMN doctor_id uuid REFERENCES doctors (id);
ALTER TABLE accounts ADD COLUMN verification text NOT NULL DEFAULT 'unverified'
    CHECK (verification IN ('unverified', 'review', 'verified', 'suspended'));
ALTER TABLE accounts ADD COLUMN totp_secret text;
ALTER TABLE accounts ADD COLUMN totp_last_step bigint;
-- A doctor record has at most one verified MAMIS_ID.
CREATE UNIQUE INDEX accounts_verified_doctor_key ON accounts (doctor_id) WHERE verification = 'verified';

CREATE TABLE recovery_codes (
    account_id uuid NOT NULL REFERENCES accounts (id),
    code_hash  text NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (account_id, code_hash)
);

CREATE TABLE identity_claims (
    account_id     uuid PRIMARY KEY REFERENCES accounts (id),
    iseki_number   text COLLATE "C" NOT NULL,
    family_name    text NOT NULL,
    given_name     text NOT NULL,
    family_kana    text NOT NULL,
    given_kana     text NOT NULL,
    birth_date     date NOT NULL,
    sex            text NOT NULL CHECK (sex IN ('male', 'female')),
    association    text COLLATE "C" NOT NULL REFERENCES associations (code),
    member         boolean NOT NULL,
    failed_matches integer NOT NULL DEFAULT 0,
    review_node    text COLLATE "C" REFERENCES associations (code),
    review_reason  text,
    submitted_at   timestamptz NOT NULL
);
CREATE INDEX identity_claims_review_idx ON identity_claims (review_node, submitted_at);

CREATE TABLE match_failures (
    iseki_number text COLLATE "C" NOT NULL,
    day          date NOT NULL,
    failures     bigint NOT NULL,
    PRIMARY KEY (iseki_number, day)
);

CREATE TABLE email_tokens (
    token_hash text PRIMARY KEY,
    purpose    text NOT NULL CHECK (purpose IN ('register', 'reset', 'email_change', 'staff_enrol', 'not_me')),
    account_id uuid REFERENCES accounts (id),
    email      text NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL
);

-- id_hash is lower-case hex: "C" makes its order (the tie-break of a session list) SQLite's.
CREATE TABLE sessions (
    id_hash      text COLLATE "C" PRIMARY KEY,
    account_id   uuid NOT NULL REFERENCES accounts (id),
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    client_addr  text,
    user_agent   text,
    revoked_at   timestamptz
);
CREATE INDEX sessions_account_idx ON sessions (account_id);

CREATE TABLE portal_sessions (
    id_hash      text PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('mamis', 'legacy')),
    subject      text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    revoked_at   timestamptz
);

-- Locking a key's row (SELECT ... FOR UPDATE) serialises login attempts on it across servers.
CREATE TABLE throttles (
    key           text PRIMARY KEY,
    failures      bigint NOT NULL,
    window_start  timestamptz NOT NULL,
    blocked_until timestamptz
);

CREATE TABLE legacy_credentials (
    member_id     text PRIMARY KEY,
    birth_date    date NOT NULL,
    password_hash text,
    retired_at    timestamptz,
    imported_at   timestamptz NOT NULL
);
