-- Previewed attendee lists waiting for their organiser's confirmation (issue 17), PostgreSQL.
-- The same table, columns and constraint names as the SQLite 0015. Kept in the database so a
-- confirmation reaching another server behind the load balancer finds the file.
CREATE TABLE upload_previews (
    id          uuid PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES training_sessions (id),
    account_id  uuid NOT NULL REFERENCES accounts (id),
    owner       text COLLATE "C" NOT NULL,
    content     bytea NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX upload_previews_account_idx ON upload_previews (account_id, created_at);
CREATE INDEX upload_previews_owner_idx ON upload_previews (owner, created_at);
CREATE INDEX upload_previews_created_idx ON upload_previews (created_at);
