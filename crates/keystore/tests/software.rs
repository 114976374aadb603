//! The software backend: the conformance suite on a fresh key file per test, and what is
//! its own: the file reopens with the passphrase (same keys), refuses a wrong one or a
//! tampered file, holds no key in clear, and is private to its owner.

use std::os::unix::fs::PermissionsExt;

use keystore::{KeyKind, KeyStore, KeyStoreError, SoftwareStore};

mod conformance;

fn fresh() -> (tempfile::TempDir, SoftwareStore) {
    let dir = tempfile::tempdir().expect("dir");
    let store =
        SoftwareStore::create(&dir.path().join("keys.json"), "correct horse").expect("create");
    (dir, store)
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let (_dir, store) = fresh();
                conformance::$name(&store, "sw-");
            }
        )*
    };
}

conformance!(
    keys_are_generated_inside_sensitive_and_never_leave,
    signatures_verify_with_libsecp256k1_and_are_low_s,
    sessions_sign_in_parallel,
    data_keys_round_trip_and_any_tampering_is_refused,
    hmac_is_keyed_and_deterministic,
    bad_requests_are_named,
    envelopes_survive_kek_rotation_and_die_with_their_kek,
    p256_signatures_verify_and_curves_stay_apart,
);

#[test]
fn the_file_reopens_with_the_passphrase_only_and_holds_nothing_in_clear() {
    let (dir, store) = fresh();
    let path = dir.path().join("keys.json");
    store
        .generate("node-seed-kek", KeyKind::Aes256)
        .expect("kek");
    store
        .generate("audit", KeyKind::Secp256k1)
        .expect("signing key");
    let wrapped = store
        .wrap("node-seed-kek", &[7u8; 64], b"seed:alpha")
        .expect("wrap");
    let public = store.public_key("audit").expect("public");
    drop(store);

    let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&path).expect("file");
    assert!(
        !text.contains("node-seed-kek") && !text.contains("secp256k1"),
        "sealed: {text}"
    );

    assert!(matches!(
        SoftwareStore::open(&path, "wrong horse"),
        Err(KeyStoreError::BadPin)
    ));
    let reopened = SoftwareStore::open(&path, "correct horse").expect("reopen");
    assert_eq!(reopened.public_key("audit").expect("public"), public);
    assert_eq!(
        reopened
            .unwrap("node-seed-kek", &wrapped, b"seed:alpha")
            .expect("unwrap")
            .as_slice(),
        [7u8; 64]
    );
    drop(reopened);

    let mut tampered: serde_json::Value = serde_json::from_str(&text).expect("json");
    let sealed = tampered["sealed"].as_str().expect("sealed").to_string();
    let flipped = if sealed.starts_with('0') { "1" } else { "0" };
    tampered["sealed"] = format!("{flipped}{}", &sealed[1..]).into();
    std::fs::write(&path, tampered.to_string()).expect("write");
    assert!(matches!(
        SoftwareStore::open(&path, "correct horse"),
        Err(KeyStoreError::BadPin)
    ));
    assert!(
        SoftwareStore::create(&path, "x").is_err(),
        "never overwrites a key file"
    );
}

#[test]
fn two_openers_of_one_file_see_each_others_changes() {
    // The service and `fulgur keys rotate` each open the file.
    let (dir, service) = fresh();
    let path = dir.path().join("keys.json");
    service.generate("kek.v1", KeyKind::Aes256).expect("v1");
    let operator = SoftwareStore::open(&path, "correct horse").expect("second opener");

    operator.generate("kek.v2", KeyKind::Aes256).expect("v2");
    let wrapped = operator.wrap("kek.v2", &[9u8; 32], b"aad").expect("wrap");
    assert_eq!(
        *service
            .unwrap("kek.v2", &wrapped, b"aad")
            .expect("found on a miss"),
        vec![9u8; 32]
    );

    operator.destroy("kek.v1").expect("destroy");
    // A change by the service starts from the file, so it does not bring v1 back.
    service.generate("kek.v3", KeyKind::Aes256).expect("v3");
    let labels: Vec<String> = operator
        .list()
        .expect("list")
        .into_iter()
        .map(|k| k.label)
        .collect();
    assert_eq!(labels, ["kek.v2", "kek.v3"]);
    assert!(matches!(
        service.unwrap("kek.v1", &wrapped, b"aad"),
        Err(KeyStoreError::UnknownKey(_))
    ));
    assert!(matches!(
        service.generate("kek.v2", KeyKind::Aes256),
        Err(KeyStoreError::LabelTaken(_))
    ));
}
