-- OpenID Provider (SQLite): clients, authorization codes, tokens and consents. Codes and tokens
-- are stored as SHA-256 only; list-valued settings are JSON arrays.
CREATE TABLE oidc_clients (
    id                        TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    secret_hash               TEXT,
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    first_party               INTEGER NOT NULL CHECK (first_party IN (0, 1)),
    scopes                    TEXT NOT NULL,
    allow_iseki               INTEGER NOT NULL CHECK (allow_iseki IN (0, 1)),
    id_token_alg              TEXT NOT NULL CHECK (id_token_alg IN ('RS256', 'ES256')),
    disabled                  INTEGER NOT NULL CHECK (disabled IN (0, 1)),
    created_at                INTEGER NOT NULL
) STRICT;

CREATE TABLE oidc_codes (
    code_hash      TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES oidc_clients(id),
    account_id     TEXT NOT NULL REFERENCES accounts(id),
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    nonce          TEXT,
    scope          TEXT NOT NULL,
    auth_time      INTEGER NOT NULL,
    amr            TEXT NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER,
    created_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE oidc_tokens (
    token_hash        TEXT PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    client_id         TEXT NOT NULL REFERENCES oidc_clients(id),
    account_id        TEXT NOT NULL REFERENCES accounts(id),
    scope             TEXT NOT NULL,
    code_hash         TEXT,
    family            TEXT NOT NULL,
    expires_at        INTEGER NOT NULL,
    family_expires_at INTEGER NOT NULL,
    auth_time         INTEGER NOT NULL,
    amr               TEXT NOT NULL,
    used_at           INTEGER,
    revoked_at        INTEGER,
    created_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX oidc_tokens_family_idx ON oidc_tokens (family);
CREATE INDEX oidc_tokens_code_idx ON oidc_tokens (code_hash);
CREATE INDEX oidc_tokens_account_idx ON oidc_tokens (account_id, kind);

CREATE TABLE oidc_consents (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    client_id  TEXT NOT NULL REFERENCES oidc_clients(id),
    scope      TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, client_id)
) STRICT;
