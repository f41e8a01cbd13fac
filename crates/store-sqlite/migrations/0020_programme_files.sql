-- Evidence files of programme applications (issue 20), SQLite: scans or photos of the 研修手帳
-- pages, activity reports. The bytes sit in the evidence directory like a membership
-- procedure's; the row keeps name, checked type, size and SHA-256.
CREATE TABLE programme_application_files (
    id             TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES programme_applications(id),
    file_name      TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    size           INTEGER NOT NULL CHECK (size >= 0),
    sha256         TEXT NOT NULL,
    storage_key    TEXT NOT NULL,
    uploaded_by    TEXT NOT NULL REFERENCES accounts(id),
    uploaded_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX programme_application_files_application_idx
    ON programme_application_files (application_id, uploaded_at);
