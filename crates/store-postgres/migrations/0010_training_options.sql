-- 研修管理: per-session capture options (PostgreSQL). The same columns and constraint names as
-- the SQLite 0010.

ALTER TABLE training_sessions
    -- The organiser refuses venue-QR self check-in: only desk scans and uploaded lists count.
    ADD COLUMN desk_scan_only boolean NOT NULL DEFAULT false,
    -- Minutes of an item's start and end a doctor may miss and still be credited.
    ADD COLUMN grace_minutes integer NOT NULL DEFAULT 5
        CONSTRAINT training_sessions_grace_check CHECK (grace_minutes BETWEEN 0 AND 30);

-- My Page lists a doctor's presence across sessions, by doctor or by a pending number.
CREATE INDEX training_presence_by_doctor_idx ON training_presence (doctor_id, in_at);
CREATE INDEX training_presence_by_pending_idx ON training_presence (pending_iseki, in_at);
