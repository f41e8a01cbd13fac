//! The store conformance suite on PostgreSQL (a fresh database cloned from the migrated template
//! per test), plus checks only a shared server can make: several pools ("servers") claiming jobs
//! at once, and test databases that really go away.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fixture {
    use mamis_store::conformance::Fixture;
    use mamis_store_postgres::PgStore;
    use mamis_store_postgres::testdb::TestDatabase;

    pub struct PgFixture {
        pub db: TestDatabase,
    }

    impl Fixture for PgFixture {
        type S = PgStore;
        fn store(&self) -> PgStore {
            self.db.store.clone()
        }
    }

    /// A fresh database; `None` (skipped, said on stderr) when PostgreSQL is unreachable outside CI.
    pub async fn postgres() -> Option<PgFixture> {
        match TestDatabase::create().await {
            Ok(db) => db.map(|db| PgFixture { db }),
            Err(e) => panic!("{e}"),
        }
    }
}

mod conformance_postgres {
    use super::fixture::postgres;
    mamis_store::conformance_suite!(postgres);
}

mod multi_server {
    use super::fixture::postgres;
    use chrono::{DateTime, Duration, Utc};
    use mamis_store::conformance::new_job;
    use mamis_store::{JobStore, Store, StoreError, Tx};
    use mamis_store_postgres::PgStore;
    use mamis_store_postgres::testdb::{TestDatabase, admin_url};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-05-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_servers_claim_concurrently_without_sharing_a_job() {
        let Some(fx) = postgres().await else { return };
        let server_a = fx.db.store.clone();
        let server_b = PgStore::connect(&fx.db.url).await.unwrap();
        let now = now();
        let mut tx = server_a.write().await.unwrap();
        for _ in 0..200 {
            tx.enqueue_job(&new_job("k", None, now), now).await.unwrap();
        }
        tx.commit().await.unwrap();

        let mut workers = Vec::new();
        for server in [&server_a, &server_b] {
            for _ in 0..4 {
                let s = server.clone();
                workers.push(tokio::spawn(async move {
                    let mut mine = Vec::new();
                    loop {
                        let mut tx = s.write().await.unwrap();
                        let Some(j) = tx.claim_job(now, Duration::minutes(5)).await.unwrap() else {
                            tx.commit().await.unwrap();
                            break;
                        };
                        // hold the row lock a little, so other claimers must skip it
                        tokio::task::yield_now().await;
                        tx.commit().await.unwrap();
                        mine.push(j.id);
                    }
                    mine
                }));
            }
        }
        let mut all = Vec::new();
        let mut busy_workers = 0;
        for w in workers {
            let mine = w.await.unwrap();
            busy_workers += usize::from(!mine.is_empty());
            all.extend(mine);
        }
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!((n, all.len()), (200, 200), "every job claimed exactly once");
        assert!(busy_workers > 1, "claims were spread over workers");
        server_b.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn audit_log_refuses_delete() {
        let Some(fx) = postgres().await else { return };
        let pool = fx.db.store.pool();
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, action, target, details, prev_mac, mac) \
             VALUES (1, $1, 'a', 'b', 'c', '{}', '', 'm')",
        )
        .bind(now())
        .execute(pool)
        .await
        .unwrap();
        assert!(
            sqlx::query("DELETE FROM audit_log")
                .execute(pool)
                .await
                .is_err()
        );
        assert!(
            sqlx::query("TRUNCATE audit_log")
                .execute(pool)
                .await
                .is_err()
        );
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(n, 1);
    }

    /// Tokens keep no foreign keys (0022), so the rows they name must never go away.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn token_parents_refuse_delete_and_the_code_index_is_partial() {
        let Some(fx) = postgres().await else { return };
        let pool = fx.db.store.pool();
        sqlx::query(
            "INSERT INTO accounts (id, email, display_name, created_at) \
             VALUES ('00000000-0000-0000-0000-0000000000a1', 'a1@example.jp', 'A', $1)",
        )
        .bind(now())
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO oidc_clients VALUES ('c-a1', 'C', NULL, '[]', '[]', true, '[]', false, \
             'RS256', false, $1)",
        )
        .bind(now())
        .execute(pool)
        .await
        .unwrap();
        for sql in [
            "DELETE FROM accounts",
            "TRUNCATE accounts CASCADE",
            "DELETE FROM oidc_clients",
            "TRUNCATE oidc_clients CASCADE",
        ] {
            let err = sqlx::query(sql).execute(pool).await.unwrap_err();
            assert!(err.to_string().contains("never deleted"), "{sql}: {err}");
        }
        let kept: (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM oidc_clients)",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        assert!(kept.0 >= 1 && kept.1 >= 1, "{kept:?}");
        let fks: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_constraint WHERE conrelid = 'oidc_tokens'::regclass \
             AND contype = 'f'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(fks, 0);
        let def: String = sqlx::query_scalar(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'oidc_tokens_code_idx'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        assert!(def.ends_with("WHERE (code_hash IS NOT NULL)"), "{def}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn foreign_key_violation_is_a_conflict() {
        let Some(fx) = postgres().await else { return };
        let mut tx = fx.db.store.write().await.unwrap();
        let m = mamis_domain::Membership {
            association: mamis_domain::AssociationCode::parse("P13").unwrap(),
            class: mamis_domain::MemberClass::A1.into(),
            joined_on: "2020-04-01".parse().unwrap(),
            left_on: None,
        };
        use mamis_store::RegistryStore;
        let err = tx
            .insert_membership(uuid::Uuid::new_v4(), &m)
            .await
            .unwrap_err();
        // the same name on both backends (SQLite cannot tell which key)
        assert!(err.is_conflict_on("foreign_key"), "{err:?}");
        assert!(matches!(err, StoreError::Conflict { .. }));
        tx.rollback().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn throttle_serialises_attempts_across_servers() {
        use mamis_domain::identity::{Admission, ThrottlePolicy};
        use mamis_store::IdentityStore;
        let Some(fx) = postgres().await else { return };
        let server_a = fx.db.store.clone();
        let server_b = PgStore::connect(&fx.db.url).await.unwrap();
        let now = now();
        let mut tasks = Vec::new();
        for i in 0..20 {
            let s = if i % 2 == 0 {
                server_a.clone()
            } else {
                server_b.clone()
            };
            tasks.push(tokio::spawn(async move {
                let mut tx = s.write().await.unwrap();
                let th = tx.lock_throttle("name:shared", now).await.unwrap();
                let (next, adm) = th.admit(&ThrottlePolicy::per_name(), now);
                tx.put_throttle("name:shared", &next).await.unwrap();
                tx.commit().await.unwrap();
                adm == Admission::Admitted
            }));
        }
        let mut admitted = 0;
        for task in tasks {
            admitted += usize::from(task.await.unwrap());
        }
        assert_eq!(admitted, 5);
        server_b.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn legacy_import_applies_a_repeated_member_id_in_order() {
        use mamis_domain::MemberId;
        use mamis_store::{IdentityStore, LegacyCredential};
        let Some(fx) = postgres().await else { return };
        let m = MemberId::parse("0012345678").unwrap();
        let cred = |hash: Option<&str>, day: &str| LegacyCredential {
            member_id: m.clone(),
            birth_date: day.parse().unwrap(),
            password_hash: hash.map(str::to_owned),
            retired_at: None,
            imported_at: now(),
        };
        let other = LegacyCredential {
            member_id: MemberId::parse("0012345679").unwrap(),
            ..cred(None, "1980-01-01")
        };
        let first = cred(Some("$2b$12$first"), "1970-01-01");
        let last = cred(None, "1971-02-02");
        let mut tx = fx.db.store.write().await.unwrap();
        // PostgreSQL cannot update one row twice in a statement; the store must split it.
        tx.upsert_legacy_credentials(&[first, other.clone(), last.clone()])
            .await
            .unwrap();
        assert_eq!(tx.legacy_credential(&m).await.unwrap().unwrap(), last);
        assert_eq!(
            tx.legacy_credential(&other.member_id)
                .await
                .unwrap()
                .unwrap(),
            other
        );
        tx.commit().await.unwrap();
    }

    async fn exists(name: &str) -> bool {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url())
            .await
            .unwrap();
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn test_databases_are_dropped() {
        let Some(db) = TestDatabase::create().await.unwrap() else {
            return;
        };
        let name = db.name().to_owned();
        assert!(name.starts_with("mamis_test_"));
        assert!(exists(&name).await);
        db.drop_now().await;
        assert!(!exists(&name).await, "drop_now removed {name}");

        // and plain Drop, even with the store's connections still open
        let db = TestDatabase::create().await.unwrap().unwrap();
        let name = db.name().to_owned();
        let store = db.store.clone();
        store.ping().await.unwrap();
        drop(db);
        assert!(!exists(&name).await, "Drop removed {name}");
        assert!(store.ping().await.is_err(), "its connections were ended");
    }
}

mod bulk {
    use super::fixture::postgres;
    use mamis_store::conformance::sample_doctor;
    use mamis_store::{RegistryStore, Store, Tx};

    /// The national register's size: `cargo test -p mamis-store-postgres --release -- --ignored`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "slow: times a 340,000-doctor insert"]
    async fn insert_340k_doctors() {
        let Some(fx) = postgres().await else { return };
        let ds: Vec<_> = (0..340_000).map(sample_doctor).collect();
        let started = std::time::Instant::now();
        let mut tx = fx.db.store.write().await.unwrap();
        tx.insert_doctors(&ds).await.unwrap();
        tx.commit().await.unwrap();
        let took = started.elapsed();
        eprintln!("inserted {} doctors in {took:?}", ds.len());
        let mut tx = fx.db.store.read().await.unwrap();
        assert_eq!(tx.count_doctors().await.unwrap(), 340_000);
    }
}

/// What the conformance suite cannot reach through the store: the schema's own refusals, stored
/// rows that no longer parse, and a timing of the bulk ledger insert.
mod ledger {
    use super::fixture::postgres;
    use mamis_store::conformance::{bulk_ledger, sample_doctor, sample_entry};
    use mamis_store::{LedgerStore, RegistryStore, Store, StoreError, Tx};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ledger_entries_refuse_update_delete_and_truncate() {
        let Some(fx) = postgres().await else { return };
        let s = &fx.db.store;
        let d = sample_doctor(1);
        let e = sample_entry(d.id, "item-1");
        let mut tx = s.write().await.unwrap();
        tx.insert_doctor(&d).await.unwrap();
        tx.insert_ledger_entries(std::slice::from_ref(&e))
            .await
            .unwrap();
        tx.commit().await.unwrap();

        for sql in [
            "UPDATE ledger_entries SET half_units = 99",
            "UPDATE ledger_entries SET note = NULL WHERE id = (SELECT id FROM ledger_entries)",
            "DELETE FROM ledger_entries",
            "TRUNCATE ledger_entries",
        ] {
            let err = sqlx::query(sql).execute(s.pool()).await.unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
        let mut tx = s.read().await.unwrap();
        assert_eq!(tx.ledger_entry(e.id).await.unwrap(), Some(e));
        assert_eq!(tx.count_ledger_entries().await.unwrap(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stored_entry_that_no_longer_parses_is_corrupt() {
        let Some(fx) = postgres().await else { return };
        let s = &fx.db.store;
        let d = sample_doctor(1);
        let e = sample_entry(d.id, "item-1");
        let mut tx = s.write().await.unwrap();
        tx.insert_doctor(&d).await.unwrap();
        tx.insert_ledger_entries(std::slice::from_ref(&e))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut bad = Vec::new();
        for (programme, fiscal_year) in [("sangyoui", 2026), ("jma_cme", 1800)] {
            let id = uuid::Uuid::new_v4();
            sqlx::query(
                "INSERT INTO ledger_entries (id, doctor_id, programme, fiscal_year, entry_date, \
                 source, catalogue_version, code, half_units, origin_key, generation, \
                 rules_version, created_by, created_at) \
                 SELECT $1, doctor_id, $2, $3, entry_date, source, catalogue_version, code, \
                 half_units, $1::text, generation, rules_version, created_by, created_at \
                 FROM ledger_entries WHERE id = $4",
            )
            .bind(id)
            .bind(programme)
            .bind(fiscal_year)
            .bind(e.id)
            .execute(s.pool())
            .await
            .unwrap();
            bad.push(id);
        }
        let mut tx = s.read().await.unwrap();
        for id in bad {
            let err = tx.ledger_entry(id).await.unwrap_err();
            assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
        }
    }

    /// `cargo test -p mamis-store-postgres --release -- --ignored --nocapture ledger`
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "slow: times a 200,000-entry ledger insert"]
    async fn insert_200k_ledger_entries() {
        let Some(fx) = postgres().await else { return };
        let s = &fx.db.store;
        let (ds, entries) = bulk_ledger(2_000, 100);
        let mut tx = s.write().await.unwrap();
        tx.insert_doctors(&ds).await.unwrap();
        tx.commit().await.unwrap();
        let started = std::time::Instant::now();
        let mut tx = s.write().await.unwrap();
        tx.insert_ledger_entries(&entries).await.unwrap();
        tx.commit().await.unwrap();
        let took = started.elapsed();
        eprintln!(
            "postgres: inserted {} ledger entries in {took:?} ({:.0}/s)",
            entries.len(),
            entries.len() as f64 / took.as_secs_f64()
        );
        let mut tx = s.read().await.unwrap();
        assert_eq!(tx.count_ledger_entries().await.unwrap(), 200_000);
        let started = std::time::Instant::now();
        let mine = tx
            .ledger_of(ds[1_000].id, mamis_domain::Programme::JmaCme)
            .await
            .unwrap();
        eprintln!(
            "postgres: one doctor's {} entries in {:?}",
            mine.len(),
            started.elapsed()
        );
    }
}
