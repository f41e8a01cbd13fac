-- Certified-doctor programmes (issue 20), PostgreSQL. The same tables, columns and constraint
-- names as the SQLite 0018; uuid ids, date civil dates, timestamptz instants bound by the
-- application; keys in the "C" collation so they order as on SQLite.

-- The programme ledger: append-only credits of 産業医, 健康スポーツ医 and the かかりつけ医 trainings.
CREATE TABLE programme_entries (
    id             uuid PRIMARY KEY,
    doctor_id      uuid NOT NULL REFERENCES doctors (id),
    programme      text COLLATE "C" NOT NULL,
    category       text COLLATE "C" NOT NULL CHECK (length(category) BETWEEN 1 AND 64),
    entry_date     date NOT NULL,
    half_units     bigint NOT NULL,
    web_session    boolean NOT NULL DEFAULT false,
    lecture        text COLLATE "C",
    source         text NOT NULL CHECK (source IN ('training', 'e_learning', 'journal_quiz',
                                                  'declaration', 'staff_adjustment', 'prior_system')),
    origin_key     text COLLATE "C" NOT NULL,
    generation     integer NOT NULL CHECK (generation >= 0),
    reverses_entry uuid REFERENCES programme_entries (id),
    rules_version  text NOT NULL,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL,
    note           text,
    CONSTRAINT programme_entries_origin_key UNIQUE (programme, origin_key, generation)
);
CREATE UNIQUE INDEX programme_entries_reverses_key ON programme_entries (reverses_entry)
    WHERE reverses_entry IS NOT NULL;
CREATE INDEX programme_entries_doctor_idx ON programme_entries (doctor_id, programme, entry_date);

CREATE FUNCTION programme_entries_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'programme_entries is append-only';
END;
$$;
CREATE TRIGGER programme_entries_no_update BEFORE UPDATE ON programme_entries
    FOR EACH ROW EXECUTE FUNCTION programme_entries_refuse_change();
CREATE TRIGGER programme_entries_no_delete BEFORE DELETE ON programme_entries
    FOR EACH ROW EXECUTE FUNCTION programme_entries_refuse_change();
CREATE TRIGGER programme_entries_no_truncate BEFORE TRUNCATE ON programme_entries
    FOR EACH STATEMENT EXECUTE FUNCTION programme_entries_refuse_change();

-- What a training session's item credits besides (or instead of) CME codes.
CREATE TABLE training_item_programmes (
    session_id  uuid NOT NULL REFERENCES training_sessions (id),
    item_id     uuid NOT NULL,
    programme   text COLLATE "C" NOT NULL,
    category    text COLLATE "C" NOT NULL,
    web_session boolean NOT NULL,
    lecture     text COLLATE "C",
    CONSTRAINT training_item_programmes_pkey PRIMARY KEY (item_id, programme)
);
CREATE INDEX training_item_programmes_session_idx ON training_item_programmes (session_id);

-- Designated lectures of the かかりつけ医 応用研修, maintained by JMA staff.
CREATE TABLE designated_lectures (
    key        text COLLATE "C" PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 32),
    title      text NOT NULL,
    group_no   integer CHECK (group_no BETWEEN 1 AND 99),
    retired    boolean NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Applications for a new certificate or a renewal, passing the associations of their route.
CREATE TABLE programme_applications (
    id                 uuid PRIMARY KEY,
    doctor_id          uuid NOT NULL REFERENCES doctors (id),
    programme          text COLLATE "C" NOT NULL,
    kind               text NOT NULL CHECK (kind IN ('new', 'renewal')),
    status             text NOT NULL CHECK (status IN ('open', 'approved', 'returned')),
    route              text COLLATE "C" NOT NULL,
    step               integer NOT NULL CHECK (step >= 0),
    acting             text COLLATE "C",
    renews             uuid,
    evidence           text,
    declared_activity  boolean NOT NULL,
    practical_approved boolean NOT NULL,
    fee                text CHECK (fee IN ('paid', 'waived')),
    return_reason      text,
    certificate_id     uuid,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX programme_applications_acting_idx ON programme_applications (acting, status, created_at);
CREATE INDEX programme_applications_doctor_idx ON programme_applications (doctor_id, programme);
CREATE UNIQUE INDEX programme_applications_open_key ON programme_applications (doctor_id, programme)
    WHERE status = 'open';

-- Certificates of the programmes: numbered per programme, valid from–until.
CREATE TABLE programme_certificates (
    id                uuid PRIMARY KEY,
    number            text COLLATE "C" NOT NULL,
    doctor_id         uuid NOT NULL REFERENCES doctors (id),
    programme         text COLLATE "C" NOT NULL,
    valid_from        date NOT NULL,
    valid_until       date NOT NULL CHECK (valid_until >= valid_from),
    issued_on         date NOT NULL,
    application_id    uuid REFERENCES programme_applications (id),
    verification_code text NOT NULL,
    created_at        timestamptz NOT NULL,
    revoked_at        timestamptz,
    CONSTRAINT programme_certificates_number_key UNIQUE (number),
    CONSTRAINT programme_certificates_period_key UNIQUE (doctor_id, programme, valid_from)
);
CREATE INDEX programme_certificates_until_idx ON programme_certificates (valid_until);
