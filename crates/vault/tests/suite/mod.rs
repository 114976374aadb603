//! The vault's behaviour, run against each key store and both stores.

use std::sync::Arc;

use audit::{AuditFilter, Origin};
use keystore::{envelope, KeyStore};
use store::Store;
use vault::{Adopted, FileFormat, Vault, VaultError};

pub fn origin() -> Origin {
    Origin::system("vault-test")
}

pub async fn open(store: &Store, keys: &Arc<dyn KeyStore>, kek: &str) -> Vault {
    Vault::open(
        store.clone(),
        Arc::clone(keys),
        kek,
        vault::system_clock(),
        &origin(),
    )
    .await
    .expect("vault opens")
}

pub async fn read(vault: &Vault, name: &str) -> Option<Vec<u8>> {
    vault
        .secret(name)
        .await
        .expect("read")
        .map(|secret| secret.to_vec())
}

pub async fn actions(store: &Store) -> Vec<(String, String)> {
    audit::list(
        store,
        AuditFilter {
            tenant_id: None,
            after_seq: 0,
            limit: 1_000,
        },
    )
    .await
    .expect("audit")
    .into_iter()
    .map(|r| (r.action, r.target.unwrap_or_default()))
    .collect()
}

pub async fn secrets_are_sealed_in_the_store_and_open_by_name(
    store: Store,
    keys: Arc<dyn KeyStore>,
    kek: &str,
) {
    let vault = open(&store, &keys, kek).await;
    assert_eq!(vault.current_kek().await.expect("kek"), format!("{kek}.v1"));
    let seed = vault
        .get_or_create("node-seed:alpha", 64, &origin())
        .await
        .expect("created");
    assert_eq!(seed.len(), 64);
    let again = vault
        .get_or_create("node-seed:alpha", 64, &origin())
        .await
        .expect("found");
    assert_eq!(*again, *seed, "created once, then read back");
    assert!(vault
        .secret("node-seed:beta")
        .await
        .expect("read")
        .is_none());
    assert!(matches!(
        vault.secret("Node Seed").await,
        Err(VaultError::InvalidName(_))
    ));

    // The store holds the wrapped key and the sealed data, never the secret.
    let rows = store
        .read(|sql| {
            sql.query(
                "SELECT name, kek_label, wrapped_key, sealed FROM sealed_secrets",
                &[],
            )
        })
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1);
    for column in 2..4 {
        let bytes = rows[0].blob(column).expect("bytes");
        assert!(!bytes.windows(seed.len()).any(|w| w == seed.as_slice()));
    }

    // A row moved to another name does not open there: the name is authenticated.
    store
        .write(|sql| {
            sql.execute(
                "INSERT INTO sealed_secrets (name, kek_label, wrapped_key, sealed, \
                 created_at_ms, wrapped_at_ms) SELECT 'node-seed:beta', kek_label, wrapped_key, \
                 sealed, created_at_ms, wrapped_at_ms FROM sealed_secrets \
                 WHERE name = 'node-seed:alpha'",
                &[],
            )
        })
        .await
        .expect("copy");
    assert!(matches!(
        vault.secret("node-seed:beta").await,
        Err(VaultError::KeyStore(keystore::KeyStoreError::Unauthentic))
    ));

    let audited = actions(&store).await;
    assert_eq!(
        audited,
        [
            ("kek.create".to_string(), format!("{kek}.v1")),
            ("secret.create".to_string(), "node-seed:alpha".to_string()),
        ]
    );
}

/// Readers and writers run throughout two rotations: every read succeeds with the right
/// value, nothing is left under a destroyed version, every step is audited.
pub async fn rotation_rewraps_everything_while_secrets_are_read_and_written(
    store: Store,
    keys: Arc<dyn KeyStore>,
    kek: &str,
) {
    let vault = open(&store, &keys, kek).await;
    let mut expected = Vec::new();
    for i in 0..40 {
        let name = format!("webhook-secret:{i:03}");
        let value = vault
            .get_or_create(&name, 32, &origin())
            .await
            .expect("seal");
        expected.push((name, value));
    }
    let expected = Arc::new(expected);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (vault, expected, stop) = (vault.clone(), Arc::clone(&expected), Arc::clone(&stop));
        readers.push(tokio::spawn(async move {
            let mut reads = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (name, value) in expected.iter() {
                    let read = vault.secret(name).await.expect("readable throughout");
                    assert_eq!(read.map(|v| v.to_vec()), Some(value.to_vec()), "{name}");
                    reads += 1;
                }
            }
            reads
        }));
    }
    let writer = {
        let vault = vault.clone();
        tokio::spawn(async move {
            let mut written = Vec::new();
            for i in 0..20 {
                let name = format!("during:{i:03}");
                let value = vault
                    .get_or_create(&name, 32, &origin())
                    .await
                    .expect("seal");
                written.push((name, value));
            }
            written
        })
    };

    let first = vault.rotate(&origin()).await.expect("rotate");
    assert_eq!(
        (first.from.as_str(), first.to.as_str()),
        (format!("{kek}.v1").as_str(), format!("{kek}.v2").as_str())
    );
    let written = writer.await.expect("writer");
    let second = vault.rotate(&origin()).await.expect("rotate again");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        assert!(reader.await.expect("reader") > 0);
    }

    assert_eq!(second.to, format!("{kek}.v3"));
    assert_eq!(
        envelope::kek_versions(keys.as_ref(), kek).expect("versions"),
        [3],
        "the old versions are destroyed"
    );
    assert_eq!(first.destroyed, [format!("{kek}.v1")]);
    assert_eq!(second.destroyed, [format!("{kek}.v2")]);
    assert!(first.rewrapped >= 40 && second.rewrapped == 60);
    for (name, value) in expected.iter().chain(&written) {
        assert_eq!(read(&vault, name).await, Some(value.to_vec()));
    }
    let secrets = vault.secrets().await.expect("list");
    assert_eq!(secrets.len(), 60);
    assert!(secrets.iter().all(|s| s.kek_label == format!("{kek}.v3")));

    let audited = actions(&store).await;
    let count = |action: &str| audited.iter().filter(|(a, _)| a == action).count();
    assert_eq!(count("kek.rotate"), 2);
    assert_eq!(count("kek.destroy"), 2);
    assert_eq!(count("secret.create"), 60);
    assert_eq!(
        u64::try_from(count("secret.rewrap")).expect("count"),
        first.rewrapped + second.rewrapped
    );
}

/// A rotation that stopped after making its version current (a crash) leaves every
/// secret readable; the next rotation finishes the work and destroys both old versions.
pub async fn a_rotation_cut_short_is_finished_by_the_next(
    store: Store,
    keys: Arc<dyn KeyStore>,
    kek: &str,
) {
    let vault = open(&store, &keys, kek).await;
    let old = vault
        .get_or_create("api-key-pepper", 32, &origin())
        .await
        .expect("seal");
    let v2 = envelope::rotate_kek(keys.as_ref(), kek).expect("v2");
    store
        .write(move |sql| sql.execute("UPDATE vault_keks SET current_label = $1", &[v2.into()]))
        .await
        .expect("made current, then the process died");
    assert_eq!(read(&vault, "api-key-pepper").await, Some(old.to_vec()));
    let new = vault
        .get_or_create("node-seed:beta", 64, &origin())
        .await
        .expect("sealed under v2");

    let rotation = vault.rotate(&origin()).await.expect("rotate");
    assert_eq!(rotation.to, format!("{kek}.v3"));
    assert_eq!(rotation.rewrapped, 2);
    assert_eq!(
        rotation.destroyed,
        [format!("{kek}.v1"), format!("{kek}.v2")]
    );
    assert_eq!(read(&vault, "api-key-pepper").await, Some(old.to_vec()));
    assert_eq!(read(&vault, "node-seed:beta").await, Some(new.to_vec()));
}

/// A secret kept in a plain file moves into the vault and the file goes; a file that
/// disagrees with the vault is left alone.
pub async fn plain_secret_files_are_adopted_then_removed(
    store: Store,
    keys: Arc<dyn KeyStore>,
    kek: &str,
) {
    let vault = open(&store, &keys, kek).await;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("keys_seed");
    let seed: Vec<u8> = (0..64).collect();
    assert_eq!(
        vault
            .adopt_file("node-seed:carol", &path, FileFormat::Raw, &origin())
            .await
            .expect("no file"),
        Adopted::NoFile
    );
    std::fs::write(&path, &seed).expect("file");
    assert_eq!(
        vault
            .adopt_file("node-seed:carol", &path, FileFormat::Raw, &origin())
            .await
            .expect("adopt"),
        Adopted::Imported
    );
    assert!(!path.exists());
    assert_eq!(read(&vault, "node-seed:carol").await, Some(seed.to_vec()));
    std::fs::write(&path, &seed).expect("same again");
    assert_eq!(
        vault
            .adopt_file("node-seed:carol", &path, FileFormat::Raw, &origin())
            .await
            .expect("adopt"),
        Adopted::AlreadyHeld
    );
    assert!(!path.exists());
    std::fs::write(&path, [1u8; 64]).expect("different");
    assert!(matches!(
        vault
            .adopt_file("node-seed:carol", &path, FileFormat::Raw, &origin())
            .await,
        Err(VaultError::Conflict { .. })
    ));
    assert_eq!(std::fs::read(&path).expect("kept"), [1u8; 64]);
    assert!(actions(&store)
        .await
        .contains(&("secret.import".to_string(), "node-seed:carol".to_string())));
}

/// The store names a KEK the key store lacks: the wrong key store is refused at open.
pub async fn the_wrong_key_store_is_refused(
    store: Store,
    keys: Arc<dyn KeyStore>,
    kek: &str,
    other_keys: Arc<dyn KeyStore>,
) {
    let vault = open(&store, &keys, kek).await;
    vault
        .get_or_create("node-seed:alpha", 64, &origin())
        .await
        .expect("seal");
    let refused = Vault::open(store, other_keys, kek, vault::system_clock(), &origin()).await;
    assert!(
        matches!(refused, Err(VaultError::KekMissing { ref label }) if *label == format!("{kek}.v1")),
        "{:?}",
        refused.err()
    );
}
