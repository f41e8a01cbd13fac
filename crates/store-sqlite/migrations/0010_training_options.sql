-- 研修管理: per-session capture options (SQLite). The same columns and constraint names as the
-- PostgreSQL 0010.

-- The organiser refuses venue-QR self check-in: only desk scans and uploaded lists count.
ALTER TABLE training_sessions ADD COLUMN desk_scan_only INTEGER NOT NULL DEFAULT 0
    CONSTRAINT training_sessions_desk_scan_only_check CHECK (desk_scan_only IN (0, 1));
-- Minutes of an item's start and end a doctor may miss and still be credited.
ALTER TABLE training_sessions ADD COLUMN grace_minutes INTEGER NOT NULL DEFAULT 5
    CONSTRAINT training_sessions_grace_check CHECK (grace_minutes BETWEEN 0 AND 30);

-- My Page lists a doctor's presence across sessions, by doctor or by a pending number.
CREATE INDEX training_presence_by_doctor_idx ON training_presence (doctor_id, in_at);
CREATE INDEX training_presence_by_pending_idx ON training_presence (pending_iseki, in_at);
