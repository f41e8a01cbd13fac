-- The member back office (issue 19), PostgreSQL. Search keys of each doctor's name and kana,
-- folded by `mamis_domain::names::search_key` (hiragana as katakana, widths, spaces, kanji
-- variants); written with every insert and rename, filled in for older rows when the store
-- migrates. A typed prefix becomes a range on one of these indexes (kana keys for kana, kanji
-- keys otherwise), compared byte-wise (COLLATE "C") as SQLite does; they also give the lists'
-- order, so a page stops after its rows.
ALTER TABLE doctors ADD COLUMN name_fold text COLLATE "C";
ALTER TABLE doctors ADD COLUMN kana_fold text COLLATE "C";
CREATE INDEX doctors_name_fold_idx ON doctors (name_fold, id);
CREATE INDEX doctors_kana_fold_idx ON doctors (kana_fold, id);
CREATE INDEX doctors_home_prefecture_idx ON doctors (home_prefecture);
-- Workplace filters and the statistics' flows by month.
CREATE INDEX doctor_profiles_municipality_idx ON doctor_profiles (workplace_municipality);
CREATE INDEX memberships_joined_idx ON memberships (association_code, joined_on);
CREATE INDEX memberships_left_idx ON memberships (association_code, left_on);
