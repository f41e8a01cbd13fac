//! The store conformance suite on SQLite (a fresh database file per test).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fixture {
    use mamis_store::conformance::Fixture;
    use mamis_store_sqlite::SqliteStore;

    pub struct SqliteFixture {
        store: SqliteStore,
        _dir: TempDir,
    }

    impl Fixture for SqliteFixture {
        type S = SqliteStore;
        fn store(&self) -> SqliteStore {
            self.store.clone()
        }
    }

    /// A directory removed when the test ends.
    pub struct TempDir(std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    pub async fn sqlite() -> Option<SqliteFixture> {
        let dir = std::env::temp_dir().join(format!("mamis-store-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("test.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        Some(SqliteFixture {
            store,
            _dir: TempDir(dir),
        })
    }

    fn uuid_like() -> String {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        format!(
            "{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }
}

mod conformance_sqlite {
    use super::fixture::sqlite;
    mamis_store::conformance_suite!(sqlite);
}

/// Userinfo's read on the calling thread, not through the pool.
mod direct {
    use super::fixture::sqlite;
    use chrono::{Duration, Utc};
    use mamis_store::conformance::{Fixture, sample_client};
    use mamis_store::*;

    /// With the pool closed, the hot bearer read still answers from connections of its own,
    /// and answers what the pool answered before; an unknown hash is absent.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bearer_is_read_without_the_pool() {
        let fx = sqlite().await.unwrap();
        let s = fx.store();
        let now = now_micros();
        let a = Account::new(
            uuid::Uuid::new_v4(),
            "direct@example.jp",
            "",
            AccountKind::Doctor,
            now,
        );
        let token = OidcToken {
            token_hash: "h-1".into(),
            kind: TokenKind::Access,
            client_id: "rp".into(),
            account_id: a.id,
            scope: "openid".into(),
            code_hash: None,
            family: uuid::Uuid::new_v4(),
            expires_at: now + Duration::minutes(10),
            family_expires_at: now + Duration::days(1),
            auth_time: now,
            amr: "pwd".into(),
            used_at: None,
            revoked_at: None,
            created_at: now,
        };
        let mut tx = s.write().await.unwrap();
        tx.insert_account(&a).await.unwrap();
        tx.insert_client(&sample_client("rp", now)).await.unwrap();
        tx.insert_token(&token).await.unwrap();
        tx.commit().await.unwrap();
        let mut tx = s.snapshot().await.unwrap();
        let via_pool = tx.bearer("h-1").await.unwrap();
        tx.rollback().await.unwrap();
        assert!(via_pool.is_some());

        s.close().await;
        assert!(s.read().await.is_err(), "the pool is closed");
        assert_eq!(s.bearer("h-1").await.unwrap(), via_pool);
        assert_eq!(s.bearer("unknown").await.unwrap(), None);
    }

    /// Microseconds, as both stores keep instants.
    fn now_micros() -> chrono::DateTime<Utc> {
        chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap()
    }
}

/// What the conformance suite cannot reach through the store: the schema's own refusals, stored
/// rows that no longer parse, and a timing of the bulk ledger insert.
mod ledger {
    use super::fixture::sqlite;
    use mamis_store::conformance::{Fixture, bulk_ledger, sample_doctor, sample_entry};
    use mamis_store::{LedgerStore, RegistryStore, Store, StoreError, Tx};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ledger_entries_refuse_update_and_delete() {
        let fx = sqlite().await.unwrap();
        let s = fx.store();
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
        let fx = sqlite().await.unwrap();
        let s = fx.store();
        let d = sample_doctor(1);
        let e = sample_entry(d.id, "item-1");
        let mut tx = s.write().await.unwrap();
        tx.insert_doctor(&d).await.unwrap();
        tx.insert_ledger_entries(std::slice::from_ref(&e))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let copy = |programme: &str, fiscal_year: i64| {
            let id = uuid::Uuid::new_v4();
            let sql = sqlx::query(
                "INSERT INTO ledger_entries (id, doctor_id, programme, fiscal_year, entry_date, \
                 source, catalogue_version, code, half_units, origin_key, generation, \
                 rules_version, created_by, created_at) \
                 SELECT $1, doctor_id, $2, $3, entry_date, source, catalogue_version, code, \
                 half_units, $1, generation, rules_version, created_by, created_at \
                 FROM ledger_entries WHERE id = $4",
            )
            .bind(id.to_string())
            .bind(programme.to_owned())
            .bind(fiscal_year)
            .bind(e.id.to_string());
            (id, sql)
        };
        let (bad_programme, q) = copy("sangyoui", 2026);
        q.execute(s.pool()).await.unwrap();
        let (bad_year, q) = copy("jma_cme", 1800);
        q.execute(s.pool()).await.unwrap();
        let mut tx = s.read().await.unwrap();
        for id in [bad_programme, bad_year] {
            let err = tx.ledger_entry(id).await.unwrap_err();
            assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
        }
    }

    /// `cargo test -p mamis-store-sqlite --release -- --ignored --nocapture ledger`
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "slow: times a 200,000-entry ledger insert"]
    async fn insert_200k_ledger_entries() {
        let fx = sqlite().await.unwrap();
        let s = fx.store();
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
            "sqlite: inserted {} ledger entries in {took:?} ({:.0}/s)",
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
            "sqlite: one doctor's {} entries in {:?}",
            mine.len(),
            started.elapsed()
        );
    }
}
