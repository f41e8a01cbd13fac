-- Evidence files of programme applications (issue 20): scans or photos of the 研修手帳 pages,
-- activity reports. The bytes sit in the evidence directory like a membership procedure's; the
-- row keeps name, checked type, size and SHA-256.
CREATE TABLE programme_application_files (
    id             uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES programme_applications (id),
    file_name      text NOT NULL,
    content_type   text NOT NULL,
    size           bigint NOT NULL CHECK (size >= 0),
    sha256         text NOT NULL,
    storage_key    text NOT NULL,
    uploaded_by    uuid NOT NULL REFERENCES accounts (id),
    uploaded_at    timestamptz NOT NULL
);
CREATE INDEX programme_application_files_application_idx
    ON programme_application_files (application_id, uploaded_at);
