//! The member back office's reads on SQLite: search, bulk lookups for imports, statistics; and
//! the search keys of older rows, filled in after migrating.

use chrono::NaiveDate;
use mamis_domain::names::{is_kana_key, search_key};
use mamis_domain::{AssociationCode, Membership};
use mamis_store::*;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use uuid::Uuid;

use crate::SqliteTx;
use crate::convert::*;
use crate::membership::profile_row;
use crate::store::{doctor_row, membership_row};

/// The highest scalar value: a prefix followed by it is above every key starting with it.
const TOP: char = '\u{10FFFF}';

/// Rows per batch when filling in search keys.
const FILL_BATCH: i64 = 5_000;

/// Writes the search keys of doctors that have none (rows from before 0017): run after
/// migrating, in batches, each its own transaction. Nothing to do: one query.
pub(crate) async fn fill_search_keys(pool: &SqlitePool) -> StoreResult<u64> {
    let mut done = 0;
    loop {
        let mut tx = pool.begin().await.map_err(db_err)?;
        let rows = sqlx::query(
            "SELECT id, family_name, given_name, family_kana, given_kana FROM doctors \
             WHERE name_fold IS NULL OR kana_fold IS NULL LIMIT $1",
        )
        .bind(FILL_BATCH)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        if rows.is_empty() {
            return Ok(done);
        }
        for r in &rows {
            let (f, g, fk, gk): (&str, &str, &str, &str) = (
                r.get("family_name"),
                r.get("given_name"),
                r.get("family_kana"),
                r.get("given_kana"),
            );
            sqlx::query("UPDATE doctors SET name_fold = $2, kana_fold = $3 WHERE id = $1")
                .bind(r.get::<&str, _>("id"))
                .bind(search_key(&[f, g]))
                .bind(search_key(&[fk, gk]))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        done += rows.len() as u64;
        tx.commit().await.map_err(db_err)?;
    }
}

fn push_codes(q: &mut QueryBuilder<Sqlite>, codes: &[AssociationCode]) {
    q.push("(");
    let mut sep = q.separated(", ");
    for c in codes {
        sep.push_bind(c.as_str().to_owned());
    }
    // an empty list matches nothing (the app refuses an empty scope before this)
    if codes.is_empty() {
        sep.push("NULL");
    }
    q.push(")");
}

/// `col` lies in the scope, as a condition checked row by row: a prefecture in the list stands
/// for its whole subtree (the list is a union of subtrees), matched by the code's first three
/// characters, so a doctor's few memberships are read once rather than probed per code.
fn push_scope(q: &mut QueryBuilder<Sqlite>, col: &str, codes: &[AssociationCode]) {
    let prefectures: Vec<AssociationCode> = codes
        .iter()
        .filter(|c| c.level() == mamis_domain::AssociationLevel::Prefecture)
        .cloned()
        .collect();
    let others: Vec<AssociationCode> = codes
        .iter()
        .filter(|c| {
            !c.prefecture_code()
                .is_some_and(|p| prefectures.contains(&p))
                && !prefectures.contains(c)
        })
        .cloned()
        .collect();
    q.push(format!("(substr({col}, 1, 3) IN "));
    push_codes(q, &prefectures);
    q.push(format!(" OR {col} IN "));
    push_codes(q, &others);
    q.push(")");
}

/// The membership conditions of the filters on alias `m`.
fn push_membership_filters(
    q: &mut QueryBuilder<Sqlite>,
    mq: &MemberQuery,
    m: &str,
    with_dates: bool,
) {
    if let Some(scope) = &mq.scope {
        q.push(" AND ");
        push_scope(q, &format!("{m}.association_code"), scope);
    }
    if let Some(level) = mq.level {
        q.push(format!(" AND {m}.level = "))
            .push_bind(level.as_str());
    }
    if let Some(class) = &mq.class {
        q.push(format!(" AND {m}.class = "))
            .push_bind(class.clone());
    }
    if with_dates {
        if let Some(d) = mq.joined_from {
            q.push(format!(" AND {m}.joined_on >= "))
                .push_bind(d.to_string());
        }
        if let Some(d) = mq.joined_to {
            q.push(format!(" AND {m}.joined_on <= "))
                .push_bind(d.to_string());
        }
    }
}

fn push_active(q: &mut QueryBuilder<Sqlite>, m: &str, today: NaiveDate) {
    q.push(format!(" AND {m}.joined_on <= "))
        .push_bind(today.to_string());
    q.push(format!(" AND ({m}.left_on IS NULL OR {m}.left_on > "))
        .push_bind(today.to_string())
        .push(")");
}

/// `FROM … WHERE …` of a search (alias `d` for doctors, `p` for profiles).
fn push_from_where(q: &mut QueryBuilder<Sqlite>, mq: &MemberQuery, with_profiles: bool) {
    let profiles = with_profiles || mq.workplace.is_some() || mq.municipality.is_some();
    q.push(if profiles {
        " FROM doctors d LEFT JOIN doctor_profiles p ON p.doctor_id = d.id WHERE 1 = 1"
    } else {
        " FROM doctors d WHERE 1 = 1"
    });
    let keyed = mq.keyed_prefectures();
    if let Some(prefix) = mq.name_prefix.as_deref().filter(|p| !p.is_empty()) {
        let key = if is_kana_key(prefix) {
            "kana_fold"
        } else {
            "name_fold"
        };
        if let Some(prefectures) = &keyed {
            // a name in a prefecture or more: one range of the prefectures' key table (the
            // doctors connected there), each candidate then checked against the exact scope
            q.push(
                " AND d.id IN (SELECT k.doctor_id FROM member_search_keys k WHERE k.prefecture IN ",
            );
            push_codes(q, prefectures);
            q.push(format!(" AND k.{key} >= "))
                .push_bind(prefix.to_owned())
                .push(format!(" AND k.{key} < "))
                .push_bind(format!("{prefix}{TOP}"))
                .push(")");
        } else {
            // one index range: kana keys for kana, kanji keys for anything else; with a small
            // scope driving, the unary `+` keeps SQLite off the key's index
            let col = if mq.driven_by_candidates() {
                format!("d.{key}")
            } else {
                format!("+d.{key}")
            };
            q.push(format!(" AND {col} >= "))
                .push_bind(prefix.to_owned())
                .push(format!(" AND {col} < "))
                .push_bind(format!("{prefix}{TOP}"));
        }
    }
    if let Some(m) = &mq.member_id {
        q.push(" AND d.member_id = ").push_bind(m.clone());
    }
    if let Some(i) = &mq.iseki {
        q.push(" AND d.iseki_number = ").push_bind(i.clone());
    }
    if let Some(w) = mq.workplace.as_deref().filter(|w| !w.is_empty()) {
        q.push(" AND instr(p.workplace_name, ")
            .push_bind(w.to_owned())
            .push(") > 0");
    }
    if let Some(m) = &mq.municipality {
        q.push(" AND p.workplace_municipality = ")
            .push_bind(m.clone());
    }
    if let Some(scope) = &mq.scope {
        let exact = mq.member_id.is_some() || mq.iseki.is_some();
        if mq.driven_by_candidates() && !exact && keyed.is_none() {
            // a name range in a prefecture or more (thousands of candidates nationally for two
            // kana): the scope's doctors are gathered once — index ranges of the memberships'
            // association index and the procedures' parties — and each candidate probes that
            // set, instead of three correlated look-ups per candidate
            q.push(" AND (");
            push_scope(q, "d.home_prefecture", scope);
            q.push(
                " OR d.id IN (SELECT s.doctor_id FROM memberships s WHERE s.association_code IN ",
            );
            push_codes(q, scope);
            q.push(
                " UNION SELECT sp.doctor_id FROM membership_procedures sp JOIN procedure_parties pp \
                 ON pp.procedure_id = sp.id WHERE pp.association_code IN ",
            );
            push_codes(q, scope);
            q.push("))");
        } else if mq.driven_by_candidates() {
            // few candidates (an exact number, or a prefecture's name range): each is checked
            // against the scope
            q.push(" AND (EXISTS (SELECT 1 FROM memberships s WHERE s.doctor_id = d.id AND ");
            push_scope(q, "s.association_code", scope);
            q.push(
                ") OR EXISTS (SELECT 1 FROM membership_procedures sp JOIN procedure_parties pp \
                 ON pp.procedure_id = sp.id WHERE sp.doctor_id = d.id AND ",
            );
            push_scope(q, "pp.association_code", scope);
            q.push(") OR ");
            push_scope(q, "d.home_prefecture", scope);
            q.push(")");
        } else {
            // a whole association listed: its members drive the query
            q.push(
                " AND d.id IN (SELECT s.doctor_id FROM memberships s WHERE s.association_code IN ",
            );
            push_codes(q, scope);
            q.push(
                " UNION SELECT sp.doctor_id FROM membership_procedures sp JOIN procedure_parties pp \
                 ON pp.procedure_id = sp.id WHERE pp.association_code IN ",
            );
            push_codes(q, scope);
            q.push(" UNION SELECT h.id FROM doctors h WHERE h.home_prefecture IN ");
            push_codes(q, scope);
            q.push(")");
        }
    }
    match mq.status {
        Some(MemberStatus::Member) => {
            q.push(" AND EXISTS (SELECT 1 FROM memberships m WHERE m.doctor_id = d.id");
            push_membership_filters(q, mq, "m", true);
            push_active(q, "m", mq.today);
            q.push(")");
        }
        Some(MemberStatus::Former) => {
            q.push(" AND EXISTS (SELECT 1 FROM memberships m WHERE m.doctor_id = d.id");
            push_membership_filters(q, mq, "m", true);
            q.push(") AND NOT EXISTS (SELECT 1 FROM memberships n WHERE n.doctor_id = d.id");
            push_membership_filters(q, mq, "n", false);
            push_active(q, "n", mq.today);
            q.push(")");
        }
        Some(MemberStatus::InProcedure) | None => {
            if mq.membership_filtered() {
                q.push(" AND EXISTS (SELECT 1 FROM memberships m WHERE m.doctor_id = d.id");
                push_membership_filters(q, mq, "m", true);
                q.push(")");
            }
            if mq.status == Some(MemberStatus::InProcedure) {
                q.push(
                    " AND EXISTS (SELECT 1 FROM membership_procedures op \
                     WHERE op.doctor_id = d.id AND op.status = 'open')",
                );
            }
        }
    }
}

fn order_by(mq: &MemberQuery) -> String {
    let dir = if mq.descending { "DESC" } else { "ASC" };
    // `|| ''` makes the key an expression no index gives the order of
    let fence = if mq.sorted_after() { " || ''" } else { "" };
    let key = match mq.sort {
        MemberSort::Kana => format!("d.kana_fold{fence} {dir}"),
        MemberSort::Name => format!("d.name_fold{fence} {dir}"),
        MemberSort::MemberId => format!("d.member_id IS NULL, d.member_id{fence} {dir}"),
        MemberSort::Iseki => format!("d.iseki_number{fence} {dir}"),
    };
    format!(" ORDER BY {key}, d.id {dir}")
}

impl MemberStore for SqliteTx {
    async fn search_members(&mut self, mq: &MemberQuery) -> StoreResult<MemberPage> {
        let mut count = QueryBuilder::<Sqlite>::new("SELECT count(*) AS n");
        push_from_where(&mut count, mq, false);
        let total: i64 = count
            .build()
            .fetch_one(&mut *self.tx)
            .await
            .map_err(db_err)?
            .get("n");
        let mut page = QueryBuilder::<Sqlite>::new(
            "SELECT d.id, d.iseki_number, d.family_name, d.given_name, d.family_kana, \
             d.given_kana, d.birth_date, d.sex, d.contact_email, d.member_id, d.home_prefecture, \
             d.created_at, p.workplace_name, p.workplace_municipality",
        );
        push_from_where(&mut page, mq, true);
        page.push(order_by(mq));
        page.push(" LIMIT ")
            .push_bind(i64::from(mq.limit))
            .push(" OFFSET ")
            .push_bind(i64::try_from(mq.offset).unwrap_or(i64::MAX));
        let hits = page
            .build()
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok(MemberHit {
                    doctor: doctor_row(r)?,
                    workplace: r.get("workplace_name"),
                    municipality: r.get("workplace_municipality"),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(MemberPage {
            total: u64::try_from(total).unwrap_or(0),
            hits,
        })
    }

    async fn memberships_of_doctors(
        &mut self,
        doctors: &[Uuid],
    ) -> StoreResult<Vec<(Uuid, Membership)>> {
        let mut out = Vec::new();
        for chunk in doctors.chunks(500) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "SELECT doctor_id, association_code, class, joined_on, left_on FROM memberships \
                 WHERE doctor_id IN (",
            );
            let mut sep = q.separated(", ");
            for d in chunk {
                sep.push_bind(d.to_string());
            }
            q.push(") ORDER BY doctor_id, joined_on, association_code");
            for r in q.build().fetch_all(&mut *self.tx).await.map_err(db_err)? {
                out.push(membership_row(&r)?);
            }
        }
        out.sort_by_key(|a| (a.0, a.1.joined_on));
        Ok(out)
    }

    async fn doctors_by_member_ids(&mut self, ids: &[String]) -> StoreResult<Vec<Doctor>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "SELECT id, iseki_number, family_name, given_name, family_kana, given_kana, \
                 birth_date, sex, contact_email, member_id, home_prefecture, created_at \
                 FROM doctors WHERE member_id IN (",
            );
            let mut sep = q.separated(", ");
            for m in chunk {
                sep.push_bind(m.clone());
            }
            q.push(")");
            for r in q.build().fetch_all(&mut *self.tx).await.map_err(db_err)? {
                out.push(doctor_row(&r)?);
            }
        }
        out.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        Ok(out)
    }

    async fn profiles_of_doctors(&mut self, doctors: &[Uuid]) -> StoreResult<Vec<DoctorProfile>> {
        let mut out = Vec::new();
        for chunk in doctors.chunks(500) {
            let mut q =
                QueryBuilder::<Sqlite>::new("SELECT * FROM doctor_profiles WHERE doctor_id IN (");
            let mut sep = q.separated(", ");
            for d in chunk {
                sep.push_bind(d.to_string());
            }
            q.push(")");
            for r in q.build().fetch_all(&mut *self.tx).await.map_err(db_err)? {
                out.push(profile_row(&r)?);
            }
        }
        out.sort_by_key(|p| p.doctor_id);
        Ok(out)
    }

    async fn doctor_in_scope(
        &mut self,
        doctor: Uuid,
        scope: &[AssociationCode],
    ) -> StoreResult<bool> {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT EXISTS (SELECT 1 FROM memberships s WHERE s.doctor_id = ",
        );
        q.push_bind(doctor.to_string())
            .push(" AND s.association_code IN ");
        push_codes(&mut q, scope);
        q.push(
            ") OR EXISTS (SELECT 1 FROM membership_procedures sp JOIN procedure_parties pp \
             ON pp.procedure_id = sp.id WHERE sp.doctor_id = ",
        )
        .push_bind(doctor.to_string())
        .push(" AND pp.association_code IN ");
        push_codes(&mut q, scope);
        q.push(") OR EXISTS (SELECT 1 FROM doctors h WHERE h.id = ")
            .push_bind(doctor.to_string())
            .push(" AND h.home_prefecture IN ");
        push_codes(&mut q, scope);
        q.push(") AS hit");
        let hit: i64 = q
            .build()
            .fetch_one(&mut *self.tx)
            .await
            .map_err(db_err)?
            .get("hit");
        Ok(hit == 1)
    }

    async fn class_counts(
        &mut self,
        scope: Option<&[AssociationCode]>,
        day: NaiveDate,
    ) -> StoreResult<Vec<ClassCount>> {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT association_code, class, count(*) AS n FROM memberships WHERE joined_on <= ",
        );
        q.push_bind(day.to_string())
            .push(" AND (left_on IS NULL OR left_on > ")
            .push_bind(day.to_string())
            .push(")");
        if let Some(scope) = scope {
            q.push(" AND association_code IN ");
            push_codes(&mut q, scope);
        }
        q.push(" GROUP BY association_code, class ORDER BY association_code, class");
        q.build()
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok(ClassCount {
                    association: AssociationCode::parse(r.get::<&str, _>("association_code"))
                        .map_err(corrupt("association code"))?,
                    class: r.get("class"),
                    members: u64::try_from(r.get::<i64, _>("n")).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn membership_flows(
        &mut self,
        scope: Option<&[AssociationCode]>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<Flow>> {
        let mut out = Vec::new();
        for starts in [true, false] {
            let (day, other) = if starts {
                ("joined_on", "left_on")
            } else {
                ("left_on", "joined_on")
            };
            let mut q = QueryBuilder::<Sqlite>::new(format!(
                "SELECT m.association_code, m.{day} AS day, EXISTS (SELECT 1 FROM memberships o \
                 WHERE o.doctor_id = m.doctor_id AND o.level = m.level \
                 AND o.association_code <> m.association_code AND o.{other} = m.{day}) AS moved \
                 FROM memberships m WHERE m.{day} >= "
            ));
            q.push_bind(from.to_string())
                .push(format!(" AND m.{day} < "))
                .push_bind(to.to_string());
            if let Some(scope) = scope {
                q.push(" AND m.association_code IN ");
                push_codes(&mut q, scope);
            }
            for r in q.build().fetch_all(&mut *self.tx).await.map_err(db_err)? {
                let moved = r.get::<i64, _>("moved") == 1;
                out.push(Flow {
                    association: AssociationCode::parse(r.get::<&str, _>("association_code"))
                        .map_err(corrupt("association code"))?,
                    day: date(r.get("day"))?,
                    kind: match (starts, moved) {
                        (true, false) => FlowKind::Join,
                        (true, true) => FlowKind::TransferIn,
                        (false, true) => FlowKind::TransferOut,
                        (false, false) => FlowKind::Withdrawal,
                    },
                });
            }
        }
        out.sort_by(|a, b| (a.day, a.association.as_str()).cmp(&(b.day, b.association.as_str())));
        Ok(out)
    }
}
