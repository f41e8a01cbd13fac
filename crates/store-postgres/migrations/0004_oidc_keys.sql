-- OpenID Provider signing keys (PostgreSQL). The private key is sealed by the application.
CREATE TABLE signing_keys (
    kid         text PRIMARY KEY,
    alg         text NOT NULL CHECK (alg IN ('RS256', 'ES256')),
    private_key text NOT NULL,
    public_jwk  text NOT NULL,
    created_at  timestamptz NOT NULL,
    retired_at  timestamptz
);
