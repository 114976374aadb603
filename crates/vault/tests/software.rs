//! The vault on the software key store, on SQLite and on PostgreSQL.

use std::sync::Arc;

use keystore::{KeyStore, SoftwareStore};
use store::testing::TestStore;

mod suite;

fn keys(dir: &tempfile::TempDir, file: &str) -> Arc<dyn KeyStore> {
    Arc::new(SoftwareStore::create(&dir.path().join(file), "vault test").expect("key file"))
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().expect("dir");
                    let t = TestStore::sqlite().await.expect("sqlite");
                    suite::$name(t.store.clone(), keys(&dir, "keys"), "vault-kek").await;
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().expect("dir");
                    let t = TestStore::postgres().await.expect("postgres");
                    suite::$name(t.store.clone(), keys(&dir, "keys"), "vault-kek").await;
                }
            )*
        }
    };
}

on_both_stores!(
    secrets_are_sealed_in_the_store_and_open_by_name,
    rotation_rewraps_everything_while_secrets_are_read_and_written,
    a_rotation_cut_short_is_finished_by_the_next,
    plain_secret_files_are_adopted_then_removed,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wrong_key_store_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let t = TestStore::sqlite().await.expect("sqlite");
    suite::the_wrong_key_store_is_refused(
        t.store.clone(),
        keys(&dir, "keys"),
        "vault-kek",
        keys(&dir, "other-keys"),
    )
    .await;
}
