-- CME decisions as the rule says (issue 15), SQLite. The same tables, columns and constraint
-- names as the PostgreSQL 0011; ids TEXT UUIDs, dates TEXT 'YYYY-MM-DD', instants INTEGER
-- microseconds, as in 0001.

-- 医籍登録年月日: no window starts before the fiscal year of the licence. Optional; NULL means
-- unknown (no restriction).
ALTER TABLE doctors ADD COLUMN licensed_on TEXT;

-- One row per doctor and decision (the window ending in fiscal_year): what was judged and the
-- outcome, replaced when a late change re-decides it. A doctor without entries or certificates
-- gets no row, so an empty ledger records nothing.
CREATE TABLE cme_decisions (
    programme   TEXT NOT NULL,
    doctor_id   TEXT NOT NULL REFERENCES doctors(id),
    fiscal_year INTEGER NOT NULL,
    from_fy     INTEGER NOT NULL,
    outcome     TEXT NOT NULL
        CHECK (outcome IN ('achieved', 'fell_short', 'consumed', 'before_licence')),
    total_half  INTEGER NOT NULL,
    decided_at  INTEGER NOT NULL,
    CONSTRAINT cme_decisions_pkey PRIMARY KEY (programme, doctor_id, fiscal_year)
) STRICT;
