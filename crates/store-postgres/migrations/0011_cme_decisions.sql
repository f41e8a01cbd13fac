-- CME decisions as the rule says (issue 15), PostgreSQL. The same tables, columns and constraint
-- names as the SQLite 0011; uuid ids, date civil dates, timestamptz instants.

-- 医籍登録年月日: no window starts before the fiscal year of the licence. Optional; NULL means
-- unknown (no restriction). A nullable column without default: no table rewrite.
ALTER TABLE doctors ADD COLUMN licensed_on date;

-- One row per doctor and decision (the window ending in fiscal_year): what was judged and the
-- outcome, replaced when a late change re-decides it. A doctor without entries or certificates
-- gets no row, so an empty ledger records nothing.
CREATE TABLE cme_decisions (
    programme   text COLLATE "C" NOT NULL,
    doctor_id   uuid NOT NULL REFERENCES doctors (id),
    fiscal_year integer NOT NULL,
    from_fy     integer NOT NULL,
    outcome     text NOT NULL
        CHECK (outcome IN ('achieved', 'fell_short', 'consumed', 'before_licence')),
    total_half  bigint NOT NULL,
    decided_at  timestamptz NOT NULL,
    CONSTRAINT cme_decisions_pkey PRIMARY KEY (programme, doctor_id, fiscal_year)
);
