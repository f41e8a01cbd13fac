-- Member search by prefecture (issue 19), PostgreSQL. A name typed by a prefecture's staff used
-- to walk the national range of its key (8,000–17,000 doctors for two kana) to count those in
-- the prefecture. This table lists, per prefecture, the doctors connected to it — a membership
-- or a procedure party there, or the home prefecture — with their folded keys (COLLATE "C", as
-- the doctors' keys), so such a search is one index range of its own size. Rows are only ever
-- added (a party re-routed away or a home prefecture changed leaves its row): the table narrows
-- the candidates, and the exact scope check still runs on each. Kept by triggers, so every write
-- path keeps it, bulk ones included. The same table and names as the SQLite 0021.
CREATE TABLE member_search_keys (
    prefecture text NOT NULL,
    doctor_id  uuid NOT NULL REFERENCES doctors(id),
    name_fold  text COLLATE "C",
    kana_fold  text COLLATE "C",
    PRIMARY KEY (prefecture, doctor_id)
);
CREATE INDEX member_search_keys_kana_idx ON member_search_keys (prefecture, kana_fold, doctor_id);
CREATE INDEX member_search_keys_name_idx ON member_search_keys (prefecture, name_fold, doctor_id);
CREATE INDEX member_search_keys_doctor_idx ON member_search_keys (doctor_id);

INSERT INTO member_search_keys (prefecture, doctor_id, name_fold, kana_fold)
SELECT DISTINCT ON (1, 2) substr(m.association_code, 1, 3), d.id, d.name_fold, d.kana_fold
FROM memberships m JOIN doctors d ON d.id = m.doctor_id
WHERE m.association_code <> 'JMA'
ON CONFLICT DO NOTHING;
INSERT INTO member_search_keys (prefecture, doctor_id, name_fold, kana_fold)
SELECT DISTINCT ON (1, 2) substr(pp.association_code, 1, 3), d.id, d.name_fold, d.kana_fold
FROM procedure_parties pp
JOIN membership_procedures p ON p.id = pp.procedure_id
JOIN doctors d ON d.id = p.doctor_id
WHERE pp.association_code <> 'JMA'
ON CONFLICT DO NOTHING;
INSERT INTO member_search_keys (prefecture, doctor_id, name_fold, kana_fold)
SELECT d.home_prefecture, d.id, d.name_fold, d.kana_fold
FROM doctors d WHERE d.home_prefecture IS NOT NULL
ON CONFLICT DO NOTHING;

CREATE FUNCTION member_search_keys_add(pref text, doctor uuid) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO member_search_keys (prefecture, doctor_id, name_fold, kana_fold)
    SELECT pref, d.id, d.name_fold, d.kana_fold FROM doctors d WHERE d.id = doctor
    ON CONFLICT DO NOTHING
$$;

CREATE FUNCTION member_search_keys_doctor() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.name_fold IS DISTINCT FROM OLD.name_fold
                             OR NEW.kana_fold IS DISTINCT FROM OLD.kana_fold) THEN
        UPDATE member_search_keys SET name_fold = NEW.name_fold, kana_fold = NEW.kana_fold
        WHERE doctor_id = NEW.id;
    END IF;
    IF NEW.home_prefecture IS NOT NULL THEN
        PERFORM member_search_keys_add(NEW.home_prefecture, NEW.id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER member_search_keys_doctor_insert AFTER INSERT ON doctors
FOR EACH ROW EXECUTE FUNCTION member_search_keys_doctor();
CREATE TRIGGER member_search_keys_doctor_update
AFTER UPDATE OF name_fold, kana_fold, home_prefecture ON doctors
FOR EACH ROW EXECUTE FUNCTION member_search_keys_doctor();

CREATE FUNCTION member_search_keys_membership() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.association_code <> 'JMA' THEN
        PERFORM member_search_keys_add(substr(NEW.association_code, 1, 3), NEW.doctor_id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER member_search_keys_membership
AFTER INSERT OR UPDATE OF doctor_id, association_code ON memberships
FOR EACH ROW EXECUTE FUNCTION member_search_keys_membership();

CREATE FUNCTION member_search_keys_party() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.association_code <> 'JMA' THEN
        PERFORM member_search_keys_add(substr(NEW.association_code, 1, 3), p.doctor_id)
        FROM membership_procedures p WHERE p.id = NEW.procedure_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER member_search_keys_party AFTER INSERT ON procedure_parties
FOR EACH ROW EXECUTE FUNCTION member_search_keys_party();
