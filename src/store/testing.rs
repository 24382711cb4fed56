//! Fresh, isolated databases for tests, on every backend this machine has: a SQLite file in a
//! temporary folder always, and a PostgreSQL schema of its own when `DATABASE_URL` is set.
//!
//! Compiled for this crate's unit tests and, through the `testing` cargo feature, for the
//! integration tests (the crate dev-depends on itself with that feature). The feature keeps this
//! code and `tempfile` out of the service's binary; the alternative, always compiling it with
//! `tempfile` as a normal dependency, would ship test set-up that reads `CI` and creates schemas.

use sqlx::{Connection, Executor};

use super::{Backend, Store};

/// One database for one test; removed when dropped (the PostgreSQL schema best effort).
pub struct TestDatabase {
    pub backend: Backend,
    /// The URL to give [`Store::open`] or the service's settings.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Folder { _dir: tempfile::TempDir },
    Schema { admin_url: String, schema: String },
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} test database", self.backend)
    }
}

impl TestDatabase {
    /// A store on this database, migrated.
    pub async fn open(&self) -> Store {
        Store::open(&self.url)
            .await
            .unwrap_or_else(|e| panic!("{:?}: the store opens: {e}", self.backend))
    }
}

/// A fresh SQLite database, and a fresh PostgreSQL one when `DATABASE_URL` names a server.
///
/// # Panics
/// When `CI` is set and `DATABASE_URL` is not: CI must test both backends.
pub async fn databases() -> Vec<TestDatabase> {
    let mut all = vec![sqlite()];
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => all.push(postgres(&url).await),
        _ if std::env::var_os("CI").is_some() => panic!(
            "CI is set but DATABASE_URL is not: CI must run the store tests on PostgreSQL too \
             (.ci/run sets DATABASE_URL)"
        ),
        _ => {}
    }
    all
}

/// A fresh SQLite database in a temporary folder.
pub fn sqlite() -> TestDatabase {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("overblick.sqlite").display()
    );
    TestDatabase {
        backend: Backend::Sqlite,
        url,
        cleanup: Cleanup::Folder { _dir: dir },
    }
}

/// A fresh schema on the PostgreSQL server at `admin_url`, and a URL whose connections use it
/// (`search_path`), so tests running at once never see each other's rows.
pub async fn postgres(admin_url: &str) -> TestDatabase {
    sqlx::any::install_default_drivers();
    let schema = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::AnyConnection::connect(admin_url)
        .await
        .unwrap_or_else(|e| panic!("DATABASE_URL is set but PostgreSQL cannot be reached: {e}"));
    conn.execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .expect("a test schema is created");
    let _ = conn.close().await;
    let separator = if admin_url.contains('?') { '&' } else { '?' };
    TestDatabase {
        backend: Backend::Postgres,
        url: format!("{admin_url}{separator}options=-c%20search_path%3D{schema}"),
        cleanup: Cleanup::Schema {
            admin_url: admin_url.to_owned(),
            schema,
        },
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Cleanup::Schema { admin_url, schema } = &self.cleanup else {
            return;
        };
        // Drop may run inside a test's runtime, which cannot be blocked on: a thread with a
        // runtime of its own drops the schema. A lock timeout keeps a connection still open on
        // the schema from hanging the test; the schema is then left behind.
        let (admin_url, schema) = (admin_url.clone(), schema.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                if let Ok(mut conn) = sqlx::AnyConnection::connect(&admin_url).await {
                    let _ = conn
                        .execute(
                            format!(
                                "SET lock_timeout = '2s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                            )
                            .as_str(),
                        )
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}
