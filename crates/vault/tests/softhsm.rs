//! The vault on a real SoftHSM2 token through PKCS#11 (one token per process), on
//! PostgreSQL; each test uses its own KEK name.

use std::sync::{Arc, OnceLock};

use keystore::testing::SoftHsmToken;
use keystore::KeyStore;
use store::testing::TestStore;

mod suite;

fn keys() -> Arc<dyn KeyStore> {
    static KEYS: OnceLock<(SoftHsmToken, Arc<dyn KeyStore>)> = OnceLock::new();
    Arc::clone(
        &KEYS
            .get_or_init(|| {
                let token = SoftHsmToken::create("vault-test", "1234-vault").expect("token");
                let store: Arc<dyn KeyStore> = Arc::new(token.open(2).expect("opens"));
                (token, store)
            })
            .1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_sealed_in_the_store_and_open_by_name() {
    let t = TestStore::postgres().await.expect("postgres");
    suite::secrets_are_sealed_in_the_store_and_open_by_name(t.store.clone(), keys(), "hsm-a").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_rewraps_everything_while_secrets_are_read_and_written() {
    let t = TestStore::postgres().await.expect("postgres");
    suite::rotation_rewraps_everything_while_secrets_are_read_and_written(
        t.store.clone(),
        keys(),
        "hsm-b",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_cut_short_is_finished_by_the_next() {
    let t = TestStore::postgres().await.expect("postgres");
    suite::a_rotation_cut_short_is_finished_by_the_next(t.store.clone(), keys(), "hsm-c").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_secret_files_are_adopted_then_removed() {
    let t = TestStore::postgres().await.expect("postgres");
    suite::plain_secret_files_are_adopted_then_removed(t.store.clone(), keys(), "hsm-d").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wrong_key_store_is_refused() {
    let t = TestStore::postgres().await.expect("postgres");
    let dir = tempfile::tempdir().expect("dir");
    let software: Arc<dyn KeyStore> = Arc::new(
        keystore::SoftwareStore::create(&dir.path().join("keys"), "other").expect("other store"),
    );
    suite::the_wrong_key_store_is_refused(t.store.clone(), keys(), "hsm-e", software).await;
}
