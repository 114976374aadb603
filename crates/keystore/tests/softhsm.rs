//! The PKCS#11 backend against a real SoftHSM2 token (Debian `softhsm2`, which `.ci/run`
//! installs; without it these tests fail rather than skip). The token lives in a
//! directory this test creates, named by `SOFTHSM2_CONF`. One module per process: every
//! test shares one store and uses its own labels.

use std::process::Command;
use std::sync::OnceLock;

use keystore::secp256k1::{Message, Secp256k1};
use keystore::{KeyKind, KeyStore, KeyStoreError, Pkcs11Config, Pkcs11Store};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "4711-test";

fn store() -> &'static Pkcs11Store {
    static STORE: OnceLock<(tempfile::TempDir, Pkcs11Store)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            assert!(
                std::path::Path::new(MODULE).exists(),
                "SoftHSM2 is not installed: apt-get install softhsm2 (.ci/run does)"
            );
            let dir = tempfile::tempdir().expect("dir");
            let tokens = dir.path().join("tokens");
            std::fs::create_dir(&tokens).expect("token dir");
            let conf = dir.path().join("softhsm2.conf");
            std::fs::write(
                &conf,
                format!(
                    "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                    tokens.display()
                ),
            )
            .expect("conf");
            // Before the module loads, which reads it once.
            std::env::set_var("SOFTHSM2_CONF", &conf);
            let init = Command::new("softhsm2-util")
                .args(["--init-token", "--free", "--label", "fulgur-test"])
                .args(["--pin", PIN, "--so-pin", "so-4711"])
                .env("SOFTHSM2_CONF", &conf)
                .output()
                .expect("softhsm2-util runs");
            assert!(
                init.status.success(),
                "{}",
                String::from_utf8_lossy(&init.stderr)
            );
            let store = Pkcs11Store::open(&Pkcs11Config {
                module: MODULE.into(),
                token_label: "fulgur-test".into(),
                pin: Zeroizing::new(PIN.into()),
                sessions: 2,
            })
            .expect("the token opens");
            (dir, store)
        })
        .1
}

#[test]
fn keys_are_generated_inside_sensitive_and_never_leave() {
    let store = store();
    store
        .generate("ops-sign", KeyKind::Secp256k1)
        .expect("secp256k1");
    store.generate("ops-kek", KeyKind::Aes256).expect("aes");
    store
        .generate("ops-mac", KeyKind::HmacSha256)
        .expect("hmac");
    for label in ["ops-sign", "ops-kek", "ops-mac"] {
        let protection = store.protection(label).expect("protection");
        assert!(protection.sensitive, "{label}: {protection:?}");
        assert!(!protection.extractable, "{label}: {protection:?}");
        assert!(protection.never_extractable, "{label}: {protection:?}");
        assert!(
            !protection.value_readable,
            "{label}: the value cannot be read"
        );
    }
    let listed = store.list().expect("list");
    for (label, kind) in [
        ("ops-sign", KeyKind::Secp256k1),
        ("ops-kek", KeyKind::Aes256),
        ("ops-mac", KeyKind::HmacSha256),
    ] {
        assert!(
            listed.iter().any(|k| k.label == label && k.kind == kind),
            "{label} listed: {listed:?}"
        );
    }
}

#[test]
fn signatures_verify_with_libsecp256k1_and_are_low_s() {
    let store = store();
    store
        .generate("approver-hsm", KeyKind::Secp256k1)
        .expect("generate");
    let public = store.public_key("approver-hsm").expect("public key");
    let secp = Secp256k1::verification_only();
    // libsecp256k1 refuses high-S signatures: each one verifying proves the normalisation
    // (the token returns high S for about half of them).
    for i in 0..200u32 {
        let digest: [u8; 32] = Sha256::digest(format!("payment intent {i}")).into();
        let signature = store.sign_digest("approver-hsm", &digest).expect("sign");
        secp.verify_ecdsa(&Message::from_digest(digest), &signature, &public)
            .unwrap_or_else(|e| panic!("signature {i} verifies: {e}"));
        let other: [u8; 32] = Sha256::digest(format!("another intent {i}")).into();
        assert!(secp
            .verify_ecdsa(&Message::from_digest(other), &signature, &public)
            .is_err());
    }
}

#[test]
fn sessions_sign_in_parallel() {
    let store = store();
    store
        .generate("parallel-sign", KeyKind::Secp256k1)
        .expect("generate");
    let public = store.public_key("parallel-sign").expect("public");
    std::thread::scope(|scope| {
        for t in 0..4u8 {
            scope.spawn(move || {
                let secp = Secp256k1::verification_only();
                for i in 0..50u8 {
                    let digest = [t.wrapping_mul(31).wrapping_add(i); 32];
                    let signature = store.sign_digest("parallel-sign", &digest).expect("sign");
                    secp.verify_ecdsa(&Message::from_digest(digest), &signature, &public)
                        .expect("verifies");
                }
            });
        }
    });
}

#[test]
fn data_keys_round_trip_and_any_tampering_is_refused() {
    let store = store();
    store.generate("seed-kek", KeyKind::Aes256).expect("kek");
    store.generate("other-kek", KeyKind::Aes256).expect("kek");
    let data_key = [0x5au8; 32];
    let wrapped = store
        .wrap("seed-kek", &data_key, b"node:alpha")
        .expect("wrap");
    assert_eq!(wrapped.len(), 12 + 32 + 16, "nonce, ciphertext, tag");
    assert!(
        !wrapped.windows(32).any(|w| w == data_key),
        "no clear text inside"
    );
    let again = store
        .wrap("seed-kek", &data_key, b"node:alpha")
        .expect("wrap");
    assert_ne!(wrapped, again, "a fresh nonce each time");
    let unwrapped = store
        .unwrap("seed-kek", &wrapped, b"node:alpha")
        .expect("unwrap");
    assert_eq!(unwrapped.as_slice(), data_key);

    for position in [0, 12, 12 + 31, wrapped.len() - 1] {
        let mut tampered = wrapped.clone();
        tampered[position] ^= 0x01;
        assert!(
            matches!(
                store.unwrap("seed-kek", &tampered, b"node:alpha"),
                Err(KeyStoreError::Unauthentic)
            ),
            "byte {position} flipped"
        );
    }
    assert!(matches!(
        store.unwrap("seed-kek", &wrapped, b"node:beta"),
        Err(KeyStoreError::Unauthentic)
    ));
    assert!(matches!(
        store.unwrap("other-kek", &wrapped, b"node:alpha"),
        Err(KeyStoreError::Unauthentic)
    ));
    assert!(matches!(
        store.unwrap("seed-kek", &wrapped[..20], b"node:alpha"),
        Err(KeyStoreError::Unauthentic)
    ));

    // Destroyed, the key unwraps nothing again.
    store.destroy("seed-kek").expect("destroy");
    assert!(matches!(
        store.unwrap("seed-kek", &wrapped, b"node:alpha"),
        Err(KeyStoreError::UnknownKey(_))
    ));
}

#[test]
fn hmac_is_keyed_and_deterministic() {
    let store = store();
    store
        .generate("pepper-1", KeyKind::HmacSha256)
        .expect("hmac key");
    store
        .generate("pepper-2", KeyKind::HmacSha256)
        .expect("hmac key");
    let a = store.hmac("pepper-1", b"fgk_key").expect("mac");
    assert_eq!(a, store.hmac("pepper-1", b"fgk_key").expect("mac"));
    assert_ne!(a, store.hmac("pepper-1", b"fgk_kez").expect("mac"));
    assert_ne!(a, store.hmac("pepper-2", b"fgk_key").expect("mac"));
}

#[test]
fn bad_requests_are_named() {
    let store = store();
    store
        .generate("named-key", KeyKind::Secp256k1)
        .expect("generate");
    assert!(matches!(
        store.generate("named-key", KeyKind::Aes256),
        Err(KeyStoreError::LabelTaken(_))
    ));
    assert!(matches!(
        store.sign_digest("absent", &[1; 32]),
        Err(KeyStoreError::UnknownKey(_))
    ));
    assert!(matches!(
        store.wrap("named-key", b"data", b""),
        Err(KeyStoreError::WrongKind { .. })
    ));
    assert!(matches!(
        store.generate("Bad Label", KeyKind::Aes256),
        Err(KeyStoreError::InvalidLabel(_))
    ));
    store.destroy("named-key").expect("destroy");
    assert!(matches!(
        store.public_key("named-key"),
        Err(KeyStoreError::UnknownKey(_))
    ));
    assert!(matches!(
        store.destroy("named-key"),
        Err(KeyStoreError::UnknownKey(_))
    ));
}
