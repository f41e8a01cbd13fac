-- Member search by prefecture (issue 19), SQLite. A name typed by a prefecture's staff used to
-- walk the national range of its key (8,000–17,000 doctors for two kana) to count those in the
-- prefecture. This table lists, per prefecture, the doctors connected to it — a membership or
-- a procedure party there, or the home prefecture — with their folded keys, so such a search is
-- one index range of its own size. Rows are only ever added (a party re-routed away or a home
-- prefecture changed leaves its row): the table narrows the candidates, and the exact scope
-- check still runs on each. Kept by triggers, so every write path keeps it, bulk ones included.
CREATE TABLE member_search_keys (
    prefecture TEXT NOT NULL,
    doctor_id  TEXT NOT NULL REFERENCES doctors(id),
    name_fold  TEXT,
    kana_fold  TEXT,
    PRIMARY KEY (prefecture, doctor_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX member_search_keys_kana_idx ON member_search_keys (prefecture, kana_fold, doctor_id);
CREATE INDEX member_search_keys_name_idx ON member_search_keys (prefecture, name_fold, doctor_id);
CREATE INDEX member_search_keys_doctor_idx ON member_search_keys (doctor_id);

INSERT OR IGNORE INTO member_search_keys (prefecture, doctor_id, name_fold, kana_fold)
SELECT substr(m.association_code, 1, 3), d.id, d.name_fold, d.kana_fold
FROM memberships m JOIN doctors d ON d.id = m.doctor_id
WHERE m.association_code <> 'JMA';
INSERT OR IGNORE INTO member_search_keys (prefecture, doctor_id, name_fold, kana_fold)
SELECT substr(pp.association_code, 1, 3), d.id, d.name_fold, d.kana_fold
FROM procedure_parties pp
JOIN membership_procedures p ON p.id = pp.procedure_id
JOIN doctors d ON d.id = p.doctor_id
WHERE pp.association_code <> 'JMA';
INSERT OR IGNORE INTO member_search_keys (prefecture, doctor_id, name_fold, kana_fold)
SELECT d.home_prefecture, d.id, d.name_fold, d.kana_fold
FROM doctors d WHERE d.home_prefecture IS NOT NULL;

CREATE TRIGGER member_search_keys_doctor_insert AFTER INSERT ON doctors
WHEN NEW.home_prefecture IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO member_search_keys (prefecture, doctor_id, name_fold, kana_fold)
    VALUES (NEW.home_prefecture, NEW.id, NEW.name_fold, NEW.kana_fold);
END;

CREATE TRIGGER member_search_keys_doctor_keys AFTER UPDATE OF name_fold, kana_fold ON doctors
BEGIN
    UPDATE member_search_keys SET name_fold = NEW.name_fold, kana_fold = NEW.kana_fold
    WHERE doctor_id = NEW.id;
END;

CREATE TRIGGER member_search_keys_doctor_home AFTER UPDATE OF home_prefecture ON doctors
WHEN NEW.home_prefecture IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO member_search_keys (prefecture, doctor_id, name_fold, kana_fold)
    VALUES (NEW.home_prefecture, NEW.id, NEW.name_fold, NEW.kana_fold);
END;

CREATE TRIGGER member_search_keys_membership AFTER INSERT ON memberships
WHEN NEW.association_code <> 'JMA'
BEGIN
    INSERT OR IGNORE INTO member_search_keys (prefecture, doctor_id, name_fold, kana_fold)
    SELECT substr(NEW.association_code, 1, 3), d.id, d.name_fold, d.kana_fold
    FROM doctors d WHERE d.id = NEW.doctor_id;
END;

CREATE TRIGGER member_search_keys_membership_moved
AFTER UPDATE OF doctor_id, association_code ON memberships
WHEN NEW.association_code <> 'JMA'
BEGIN
    INSERT OR IGNORE INTO member_search_keys (prefecture, doctor_id, name_fold, kana_fold)
    SELECT substr(NEW.association_code, 1, 3), d.id, d.name_fold, d.kana_fold
    FROM doctors d WHERE d.id = NEW.doctor_id;
END;

CREATE TRIGGER member_search_keys_party AFTER INSERT ON procedure_parties
WHEN NEW.association_code <> 'JMA'
BEGIN
    INSERT OR IGNORE INTO member_search_keys (prefecture, doctor_id, name_fold, kana_fold)
    SELECT substr(NEW.association_code, 1, 3), d.id, d.name_fold, d.kana_fold
    FROM membership_procedures p JOIN doctors d ON d.id = p.doctor_id
    WHERE p.id = NEW.procedure_id;
END;
