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
