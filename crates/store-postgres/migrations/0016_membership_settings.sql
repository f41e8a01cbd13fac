-- Membership procedures, second part (issue 18), PostgreSQL. The same tables and columns as the
-- SQLite 0016.

-- The municipalities a county association covers, so a joining doctor finds the county of their
-- workplace by prefecture and municipality (configuration per county, kept by its staff). A
-- municipality may belong to several counties (a city with more than one association).
CREATE TABLE association_municipalities (
    association_code text COLLATE "C" NOT NULL REFERENCES associations (code),
    municipality     text NOT NULL CHECK (length(municipality) BETWEEN 1 AND 40),
    CONSTRAINT association_municipalities_pkey PRIMARY KEY (association_code, municipality)
);

-- When staff were last reminded of an item waiting in their queue (reminders go after N days,
-- then weekly); NULL: not yet reminded.
ALTER TABLE procedure_due ADD COLUMN reminded_at timestamptz;

-- A new resident is not in the register yet: their join is filed by their MAMIS_ID account
-- (`applicant_account`) with the licence copy, and the county's approval creates or finds the
-- record, binds the account and fills in `doctor_id`. Until then the row names the account only.
ALTER TABLE membership_procedures ALTER COLUMN doctor_id DROP NOT NULL;
ALTER TABLE membership_procedures ADD COLUMN applicant_account uuid REFERENCES accounts (id);
ALTER TABLE membership_procedures ADD CONSTRAINT membership_procedures_subject
    CHECK (doctor_id IS NOT NULL OR applicant_account IS NOT NULL);
CREATE UNIQUE INDEX membership_procedures_applicant_open_key
    ON membership_procedures (applicant_account) WHERE status = 'open' AND doctor_id IS NULL;
