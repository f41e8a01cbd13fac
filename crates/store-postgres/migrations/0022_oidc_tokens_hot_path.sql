-- Tokens on the hot path (issue 17), PostgreSQL. Every refresh grant writes two rows here, and
-- every sign-in through a client two more; this migration takes from each row the work that
-- guarded nothing the application does not already guarantee.
--
-- 1. No foreign keys from oidc_tokens to oidc_clients and accounts. PostgreSQL checks each with
--    SELECT … FOR KEY SHARE on the parent row: with one portal client, every concurrent grant
--    share-locks the same oidc_clients row (a MultiXact whenever two overlap, WAL for each lock),
--    and the four checks of a grant cost more than its index entries. Measured with pgbench on
--    the rotation statement of `rotate_refresh` (16 clients, 8 s, three alternated rounds):
--    16–22 % more rotations per second without them. What they guarded still holds: a token row
--    is written only by `issue` (through `insert_token`), with a client and an active account
--    just read from the store, and by `rotate_refresh`, which copies both from a live token in the
--    statement that checks them; and neither a client nor an account is ever deleted — refused
--    below, as the foreign keys refused it. SQLite keeps its foreign keys: it checks them without locking rows.
-- 2. The code_hash index holds only the tokens issued from an authorization code (a refreshed
--    token has none): one index entry less per rotation. `revoke_by_code` looks codes up with
--    `code_hash = $1`, which implies the index's predicate.

ALTER TABLE oidc_tokens DROP CONSTRAINT oidc_tokens_client_id_fkey;
ALTER TABLE oidc_tokens DROP CONSTRAINT oidc_tokens_account_id_fkey;

CREATE FUNCTION oidc_parent_refuse_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never deleted (tokens refer to them); disable or suspend instead',
        TG_TABLE_NAME USING ERRCODE = 'foreign_key_violation';
END;
$$;

CREATE TRIGGER oidc_clients_no_delete BEFORE DELETE ON oidc_clients
    FOR EACH ROW EXECUTE FUNCTION oidc_parent_refuse_delete();
CREATE TRIGGER oidc_clients_no_truncate BEFORE TRUNCATE ON oidc_clients
    FOR EACH STATEMENT EXECUTE FUNCTION oidc_parent_refuse_delete();
CREATE TRIGGER accounts_no_delete BEFORE DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION oidc_parent_refuse_delete();
CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION oidc_parent_refuse_delete();

DROP INDEX oidc_tokens_code_idx;
CREATE INDEX oidc_tokens_code_idx ON oidc_tokens (code_hash) WHERE code_hash IS NOT NULL;
