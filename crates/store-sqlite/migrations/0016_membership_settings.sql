-- Membership procedures, second part (issue 18), SQLite. The same tables and columns as the
-- PostgreSQL 0016.

-- The municipalities a county association covers, so a joining doctor finds the county of their
-- workplace by prefecture and municipality (configuration per county, kept by its staff). A
-- municipality may belong to several counties (a city with more than one association).
CREATE TABLE association_municipalities (
    association_code TEXT NOT NULL REFERENCES associations(code),
    municipality     TEXT NOT NULL CHECK (length(municipality) BETWEEN 1 AND 40),
    CONSTRAINT association_municipalities_pkey PRIMARY KEY (association_code, municipality)
) STRICT;

-- When staff were last reminded of an item waiting in their queue (reminders go after N days,
-- then weekly); NULL: not yet reminded.
ALTER TABLE procedure_due ADD COLUMN reminded_at INTEGER;
