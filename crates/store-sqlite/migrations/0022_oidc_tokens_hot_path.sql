-- Tokens on the hot path (issue 17), SQLite. The code_hash index holds only the tokens issued
-- from an authorization code (a refreshed token has none): one index entry less per rotation.
-- `revoke_by_code` looks codes up with `code_hash = ?`, which implies the index's predicate.
-- PostgreSQL's 0022 also drops this table's foreign keys (their row locks on one client's row
-- serialise concurrent grants there); SQLite keeps them, as it checks them without locking rows.

DROP INDEX oidc_tokens_code_idx;
CREATE INDEX oidc_tokens_code_idx ON oidc_tokens (code_hash) WHERE code_hash IS NOT NULL;
