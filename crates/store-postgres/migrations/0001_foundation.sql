-- Foundation schema (PostgreSQL). The same tables as the SQLite schema, in PostgreSQL types:
-- uuid ids, timestamptz instants, date civil dates. Every instant is bound by the application:
-- no statement and no default reads the database clock.
--
-- Constraint and index names are identical to the SQLite schema's (and to the names its error
-- mapping reports), so a conflict names the same constraint on both backends.
--
-- Association codes and 医籍登録番号 use the "C" collation: they sort and compare byte for byte
-- whatever the database's locale, as on SQLite, and LIKE 'P13-%' can use their indexes.

CREATE TABLE associations (
    code        text COLLATE "C" PRIMARY KEY,
    parent_code text COLLATE "C" REFERENCES associations (code),
    level       text NOT NULL CHECK (level IN ('jma', 'prefecture', 'county')),
    name_ja     text NOT NULL,
    name_en     text NOT NULL
);

CREATE TABLE organisations (
    id              uuid PRIMARY KEY,
    name            text NOT NULL,
    prefecture_code text COLLATE "C" NOT NULL REFERENCES associations (code),
    created_at      timestamptz NOT NULL
);
CREATE INDEX organisations_prefecture_idx ON organisations (prefecture_code);

CREATE TABLE doctors (
    id              uuid PRIMARY KEY,
    iseki_number    text COLLATE "C" NOT NULL,
    family_name     text NOT NULL,
    given_name      text NOT NULL,
    family_kana     text NOT NULL,
    given_kana      text NOT NULL,
    birth_date      date NOT NULL,
    sex             text NOT NULL CHECK (sex IN ('male', 'female')),
    contact_email   text,
    member_id       text,
    home_prefecture text COLLATE "C" REFERENCES associations (code),
    created_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX doctors_iseki_key ON doctors (iseki_number);
CREATE UNIQUE INDEX doctors_member_id_key ON doctors (member_id);

CREATE TABLE memberships (
    doctor_id        uuid NOT NULL REFERENCES doctors (id),
    association_code text COLLATE "C" NOT NULL REFERENCES associations (code),
    class            text NOT NULL CHECK (class IN ('A1', 'A2B', 'A2C', 'B', 'C')),
    joined_on        date NOT NULL,
    left_on          date,
    PRIMARY KEY (doctor_id, association_code, joined_on)
);
CREATE INDEX memberships_association_idx ON memberships (association_code, doctor_id);

CREATE TABLE accounts (
    id           uuid PRIMARY KEY,
    email        text NOT NULL,
    display_name text NOT NULL,
    created_at   timestamptz NOT NULL
);
CREATE UNIQUE INDEX accounts_email_key ON accounts (email);

CREATE TABLE role_grants (
    account_id uuid NOT NULL REFERENCES accounts (id),
    role       text NOT NULL,
    scope_kind text NOT NULL CHECK (scope_kind IN ('association', 'organisation')),
    scope_id   text NOT NULL,
    granted_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, role, scope_kind, scope_id)
);

CREATE TABLE api_tokens (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    role       text NOT NULL,
    scope_kind text NOT NULL CHECK (scope_kind IN ('association', 'organisation')),
    scope_id   text NOT NULL,
    token_hash text NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE UNIQUE INDEX api_tokens_hash_key ON api_tokens (token_hash);

CREATE TABLE jobs (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL,
    payload         jsonb NOT NULL,
    idempotency_key text,
    status          text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    max_attempts    integer NOT NULL,
    run_at          timestamptz NOT NULL,
    locked_until    timestamptz,
    lease           uuid,
    last_error      text,
    created_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key);
CREATE INDEX jobs_due_idx ON jobs (status, run_at);

CREATE TABLE outbox_mail (
    id         uuid PRIMARY KEY,
    to_addr    text NOT NULL,
    subject    text NOT NULL,
    body_text  text NOT NULL,
    status     text NOT NULL CHECK (status IN ('pending', 'sent')),
    attempts   integer NOT NULL DEFAULT 0,
    last_error text,
    created_at timestamptz NOT NULL,
    sent_at    timestamptz
);
CREATE INDEX outbox_mail_created_idx ON outbox_mail (created_at);

-- Append-only, HMAC-chained. `details` is JSON kept as text, byte for byte (the MAC covers it;
-- jsonb would reorder keys and change whitespace).
CREATE TABLE audit_log (
    seq         bigint PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    target      text NOT NULL,
    client_addr text,
    details     text NOT NULL,
    prev_mac    text NOT NULL,
    mac         text NOT NULL
);

CREATE FUNCTION audit_log_refuse_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_delete();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_delete();

-- The chain head, one row: locking it (SELECT ... FOR UPDATE) serialises appends across servers.
CREATE TABLE audit_head (
    id  integer PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL,
    mac text NOT NULL
);
INSERT INTO audit_head (id, seq, mac) VALUES (1, 0, '');

CREATE TABLE curriculum_codes (
    version       text NOT NULL,
    number        integer NOT NULL CHECK (number >= 0),
    name_ja       text NOT NULL,
    name_en       text NOT NULL,
    source_status text NOT NULL,
    PRIMARY KEY (version, number)
);
