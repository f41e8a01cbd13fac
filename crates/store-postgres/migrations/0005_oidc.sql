-- OpenID Provider (PostgreSQL): clients, authorization codes, tokens and consents. The same
-- tables, columns, indexes and constraint names as the SQLite 0005. Codes and tokens are stored
-- as SHA-256 only; list-valued client settings are jsonb arrays (which keep their order);
-- instants are timestamptz bound by the application (no default reads the database clock).

CREATE TABLE oidc_clients (
    id                        text PRIMARY KEY,
    name                      text NOT NULL,
    secret_hash               text,
    redirect_uris             jsonb NOT NULL CHECK (jsonb_typeof(redirect_uris) = 'array'),
    post_logout_redirect_uris jsonb NOT NULL CHECK (jsonb_typeof(post_logout_redirect_uris) = 'array'),
    first_party               boolean NOT NULL,
    scopes                    jsonb NOT NULL CHECK (jsonb_typeof(scopes) = 'array'),
    allow_iseki               boolean NOT NULL,
    id_token_alg              text NOT NULL CHECK (id_token_alg IN ('RS256', 'ES256')),
    disabled                  boolean NOT NULL,
    created_at                timestamptz NOT NULL
);

CREATE TABLE oidc_codes (
    code_hash      text PRIMARY KEY,
    client_id      text NOT NULL REFERENCES oidc_clients (id),
    account_id     uuid NOT NULL REFERENCES accounts (id),
    redirect_uri   text NOT NULL,
    code_challenge text NOT NULL,
    nonce          text,
    scope          text NOT NULL,
    auth_time      timestamptz NOT NULL,
    amr            text NOT NULL,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    created_at     timestamptz NOT NULL
);

CREATE TABLE oidc_tokens (
    token_hash        text PRIMARY KEY,
    kind              text NOT NULL CHECK (kind IN ('access', 'refresh')),
    client_id         text NOT NULL REFERENCES oidc_clients (id),
    account_id        uuid NOT NULL REFERENCES accounts (id),
    scope             text NOT NULL,
    code_hash         text,
    family            uuid NOT NULL,
    expires_at        timestamptz NOT NULL,
    family_expires_at timestamptz NOT NULL,
    auth_time         timestamptz NOT NULL,
    amr               text NOT NULL,
    used_at           timestamptz,
    revoked_at        timestamptz,
    created_at        timestamptz NOT NULL
);
CREATE INDEX oidc_tokens_family_idx ON oidc_tokens (family);
CREATE INDEX oidc_tokens_code_idx ON oidc_tokens (code_hash);
CREATE INDEX oidc_tokens_account_idx ON oidc_tokens (account_id, kind);

CREATE TABLE oidc_consents (
    account_id uuid NOT NULL REFERENCES accounts (id),
    client_id  text NOT NULL REFERENCES oidc_clients (id),
    scope      text NOT NULL,
    granted_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, client_id)
);
