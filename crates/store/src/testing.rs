//! Fresh stores for tests: a SQLite file in a temporary directory, or a new PostgreSQL
//! database (on `FULGUR_TEST_DATABASE_URL`, default the local server) dropped afterwards.
//! PostgreSQL tests never skip: if the server is absent they fail.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Store, StoreConfig, StoreError};

/// The server test databases are created on.
pub fn postgres_admin_url() -> String {
    std::env::var("FULGUR_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A migrated store that cleans up after itself.
pub struct TestStore {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    database: Option<String>,
}

impl TestStore {
    pub async fn sqlite() -> Result<Self, StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let url = format!("sqlite://{}", dir.path().join("fulgur.db").display());
        let store = Store::open(&StoreConfig::new(&url)).await?;
        store.migrate(0).await?;
        Ok(Self {
            store,
            url,
            _dir: Some(dir),
            database: None,
        })
    }

    pub async fn postgres() -> Result<Self, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!(
            "fulgur_test_{}_{}_{}",
            std::process::id(),
            nanos,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let admin = postgres_admin_url();
        admin_command(&admin, format!("CREATE DATABASE {name}")).await?;
        let mut config: ::postgres::Config = admin
            .parse()
            .map_err(|_| StoreError::InvalidUrl(admin.clone()))?;
        config.dbname(&name);
        let url = replace_database(&admin, &name);
        let store = Store::open(&StoreConfig::new(&url)).await?;
        store.migrate(0).await?;
        Ok(Self {
            store,
            url,
            _dir: None,
            database: Some(name),
        })
    }
}

impl TestStore {
    /// Another handle on the same database, with its own connections and writer: what a
    /// second replica sees. Tests that claim to race run on both handles, so that a
    /// missing row lock (hidden behind one handle's single writer) fails them.
    pub async fn second_handle(&self) -> Result<Store, StoreError> {
        Store::open(&StoreConfig::new(&self.url)).await
    }

    /// Cuts every notice connection on this PostgreSQL database, as a failover would.
    pub async fn cut_listeners(&self) -> Result<(), StoreError> {
        self.store
            .write(|sql| {
                sql.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = 'fulgur-listen' AND datname = current_database()",
                    &[],
                )
            })
            .await
            .map(drop)
    }
}

/// `postgres://u@h:p/old?x` → `postgres://u@h:p/new?x`.
fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{database}?{q}"),
        None => format!("{host_part}/{database}"),
    }
}

/// Runs one statement on the admin database from a plain thread (the synchronous client
/// must not run on a tokio worker).
async fn admin_command(admin: &str, statement: String) -> Result<(), StoreError> {
    let admin = admin.to_string();
    tokio::task::spawn_blocking(move || run_admin(&admin, &statement))
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
}

fn run_admin(admin: &str, statement: &str) -> Result<(), StoreError> {
    let mut client = ::postgres::Client::connect(admin, ::postgres::NoTls)
        .map_err(|e| StoreError::Unavailable(format!("{admin}: {e}")))?;
    client.batch_execute(statement)?;
    Ok(())
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some(name) = self.database.take() {
            let admin = postgres_admin_url();
            // WITH (FORCE) ends the store's own idle connections first.
            let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = std::thread::spawn(move || run_admin(&admin, &statement)).join();
        }
    }
}

/// A small deterministic generator for tests that apply random changes to tables and
/// must replay the same ones on both stores (no dependency for a test's dice).
pub struct Dice(pub u64);

impl Dice {
    /// A number in `0..sides`.
    pub fn roll(&mut self, sides: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % sides
    }
}

/// Generates `sqlite::$name` and `postgres::$name` tests for each `async fn $name(TestStore)`
/// in scope: the way every store-touching test runs on both stores.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let t = $crate::testing::TestStore::sqlite().await.expect("sqlite store");
                    super::$name(t).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let t = $crate::testing::TestStore::postgres().await.expect("postgres store");
                    super::$name(t).await;
                }
            )*
        }
    };
}
