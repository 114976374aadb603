//! The key store conformance suite: every backend runs each of these against its own
//! store (`p` prefixes the labels, so tests sharing one token keep apart).

use keystore::secp256k1::{Message, Secp256k1};
use keystore::{envelope, KeyKind, KeyStore, KeyStoreError};
use sha2::{Digest, Sha256};

pub fn keys_are_generated_inside_sensitive_and_never_leave(store: &dyn KeyStore, p: &str) {
    let l = |name: &str| format!("{p}{name}");
    store
        .generate(&l("ops-sign"), KeyKind::Secp256k1)
        .expect("secp256k1");
    store.generate(&l("ops-kek"), KeyKind::Aes256).expect("aes");
    store
        .generate(&l("ops-mac"), KeyKind::HmacSha256)
        .expect("hmac");
    for label in [l("ops-sign"), l("ops-kek"), l("ops-mac")] {
        let label = label.as_str();
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
        (l("ops-sign"), KeyKind::Secp256k1),
        (l("ops-kek"), KeyKind::Aes256),
        (l("ops-mac"), KeyKind::HmacSha256),
    ] {
        assert!(
            listed.iter().any(|k| k.label == label && k.kind == kind),
            "{label} listed: {listed:?}"
        );
    }
}

pub fn signatures_verify_with_libsecp256k1_and_are_low_s(store: &dyn KeyStore, p: &str) {
    let l = |name: &str| format!("{p}{name}");
    store
        .generate(&l("approver-hsm"), KeyKind::Secp256k1)
        .expect("generate");
    let public = store.public_key(&l("approver-hsm")).expect("public key");
    let secp = Secp256k1::verification_only();
    // libsecp256k1 refuses high-S signatures: each one verifying proves the normalisation
    // (the token returns high S for about half of them).
    for i in 0..200u32 {
        let digest: [u8; 32] = Sha256::digest(format!("payment intent {i}")).into();
        let signature = store
            .sign_digest(&l("approver-hsm"), &digest)
            .expect("sign");
        secp.verify_ecdsa(&Message::from_digest(digest), &signature, &public)
            .unwrap_or_else(|e| panic!("signature {i} verifies: {e}"));
        let other: [u8; 32] = Sha256::digest(format!("another intent {i}")).into();
        assert!(secp
            .verify_ecdsa(&Message::from_digest(other), &signature, &public)
            .is_err());
    }
}

pub fn sessions_sign_in_parallel(store: &dyn KeyStore, p: &str) {
    let l = |name: &str| format!("{p}{name}");
    store
        .generate(&l("parallel-sign"), KeyKind::Secp256k1)
        .expect("generate");
    let public = store.public_key(&l("parallel-sign")).expect("public");
    std::thread::scope(|scope| {
        for t in 0..4u8 {
            let label = l("parallel-sign");
            scope.spawn(move || {
                let secp = Secp256k1::verification_only();
                for i in 0..50u8 {
                    let digest = [t.wrapping_mul(31).wrapping_add(i); 32];
                    let signature = store.sign_digest(&label, &digest).expect("sign");
                    secp.verify_ecdsa(&Message::from_digest(digest), &signature, &public)
                        .expect("verifies");
                }
            });
        }
    });
}

pub fn data_keys_round_trip_and_any_tampering_is_refused(store: &dyn KeyStore, p: &str) {
    let l = |name: &str| format!("{p}{name}");
    store
        .generate(&l("seed-kek"), KeyKind::Aes256)
        .expect("kek");
    store
        .generate(&l("other-kek"), KeyKind::Aes256)
        .expect("kek");
    let data_key = [0x5au8; 32];
    let wrapped = store
        .wrap(&l("seed-kek"), &data_key, b"node:alpha")
        .expect("wrap");
    assert_eq!(wrapped.len(), 12 + 32 + 16, "nonce, ciphertext, tag");
    assert!(
        !wrapped.windows(32).any(|w| w == data_key),
        "no clear text inside"
    );
    let again = store
        .wrap(&l("seed-kek"), &data_key, b"node:alpha")
        .expect("wrap");
    assert_ne!(wrapped, again, "a fresh nonce each time");
    let unwrapped = store
        .unwrap(&l("seed-kek"), &wrapped, b"node:alpha")
        .expect("unwrap");
    assert_eq!(unwrapped.as_slice(), data_key);

    for position in [0, 12, 12 + 31, wrapped.len() - 1] {
        let mut tampered = wrapped.clone();
        tampered[position] ^= 0x01;
        assert!(
            matches!(
                store.unwrap(&l("seed-kek"), &tampered, b"node:alpha"),
                Err(KeyStoreError::Unauthentic)
            ),
            "byte {position} flipped"
        );
    }
    assert!(matches!(
        store.unwrap(&l("seed-kek"), &wrapped, b"node:beta"),
        Err(KeyStoreError::Unauthentic)
    ));
    assert!(matches!(
        store.unwrap(&l("other-kek"), &wrapped, b"node:alpha"),
        Err(KeyStoreError::Unauthentic)
    ));
    assert!(matches!(
        store.unwrap(&l("seed-kek"), &wrapped[..20], b"node:alpha"),
        Err(KeyStoreError::Unauthentic)
    ));

    // Destroyed, the key unwraps nothing again.
    store.destroy(&l("seed-kek")).expect("destroy");
    assert!(matches!(
        store.unwrap(&l("seed-kek"), &wrapped, b"node:alpha"),
        Err(KeyStoreError::UnknownKey(_))
    ));
}

pub fn hmac_is_keyed_and_deterministic(store: &dyn KeyStore, p: &str) {
    let l = |name: &str| format!("{p}{name}");
    store
        .generate(&l("pepper-1"), KeyKind::HmacSha256)
        .expect("hmac key");
    store
        .generate(&l("pepper-2"), KeyKind::HmacSha256)
        .expect("hmac key");
    let a = store.hmac(&l("pepper-1"), b"fgk_key").expect("mac");
    assert_eq!(a, store.hmac(&l("pepper-1"), b"fgk_key").expect("mac"));
    assert_ne!(a, store.hmac(&l("pepper-1"), b"fgk_kez").expect("mac"));
    assert_ne!(a, store.hmac(&l("pepper-2"), b"fgk_key").expect("mac"));
}

pub fn bad_requests_are_named(store: &dyn KeyStore, p: &str) {
    let l = |name: &str| format!("{p}{name}");
    store
        .generate(&l("named-key"), KeyKind::Secp256k1)
        .expect("generate");
    assert!(matches!(
        store.generate(&l("named-key"), KeyKind::Aes256),
        Err(KeyStoreError::LabelTaken(_))
    ));
    assert!(matches!(
        store.sign_digest(&l("absent"), &[1; 32]),
        Err(KeyStoreError::UnknownKey(_))
    ));
    assert!(matches!(
        store.wrap(&l("named-key"), b"data", b""),
        Err(KeyStoreError::WrongKind { .. })
    ));
    assert!(matches!(
        store.generate("Bad Label", KeyKind::Aes256),
        Err(KeyStoreError::InvalidLabel(_))
    ));
    store.destroy(&l("named-key")).expect("destroy");
    assert!(matches!(
        store.public_key(&l("named-key")),
        Err(KeyStoreError::UnknownKey(_))
    ));
    assert!(matches!(
        store.destroy(&l("named-key")),
        Err(KeyStoreError::UnknownKey(_))
    ));
}

pub fn envelopes_survive_kek_rotation_and_die_with_their_kek(store: &dyn KeyStore, p: &str) {
    let name = format!("{p}seeds");
    assert!(matches!(
        envelope::seal(store, &name, b"x", b"a"),
        Err(KeyStoreError::UnknownKey(_))
    ));
    let v1 = envelope::rotate_kek(store, &name).expect("v1");
    assert_eq!(v1, format!("{name}.v1"));
    let seed = [0x42u8; 64];
    let sealed = envelope::seal(store, &name, &seed, b"node-seed:alpha").expect("seal");
    assert_eq!(sealed.kek, v1);
    assert!(
        !sealed.sealed.windows(8).any(|w| w == [0x42; 8]),
        "no clear text"
    );
    assert_eq!(
        envelope::open(store, &sealed, b"node-seed:alpha")
            .expect("open")
            .as_slice(),
        seed
    );
    assert!(matches!(
        envelope::open(store, &sealed, b"node-seed:beta"),
        Err(KeyStoreError::Unauthentic)
    ));
    let mut tampered = sealed.clone();
    let last = tampered.sealed.len() - 1;
    tampered.sealed[last] ^= 1;
    assert!(matches!(
        envelope::open(store, &tampered, b"node-seed:alpha"),
        Err(KeyStoreError::Unauthentic)
    ));

    // Rotation: v2 becomes current; the old envelope still opens until re-wrapped.
    let v2 = envelope::rotate_kek(store, &name).expect("v2");
    assert_eq!(
        envelope::kek_versions(store, &name).expect("versions"),
        [1, 2]
    );
    assert_eq!(
        envelope::open(store, &sealed, b"node-seed:alpha")
            .expect("old still opens")
            .as_slice(),
        seed
    );
    let rewrapped = envelope::rewrap(store, &name, &sealed, b"node-seed:alpha").expect("rewrap");
    assert_eq!(rewrapped.kek, v2);
    assert_eq!(
        rewrapped.sealed, sealed.sealed,
        "the data itself is not re-encrypted"
    );
    assert_eq!(
        envelope::rewrap(store, &name, &rewrapped, b"node-seed:alpha").expect("current"),
        rewrapped
    );
    // v1 destroyed: the re-wrapped envelope opens, the old one never again.
    store.destroy(&v1).expect("destroy v1");
    assert_eq!(
        envelope::open(store, &rewrapped, b"node-seed:alpha")
            .expect("opens")
            .as_slice(),
        seed
    );
    assert!(matches!(
        envelope::open(store, &sealed, b"node-seed:alpha"),
        Err(KeyStoreError::UnknownKey(_))
    ));
}

pub fn p256_signatures_verify_and_curves_stay_apart(store: &dyn KeyStore, p: &str) {
    use keystore::p256::ecdsa::signature::hazmat::PrehashVerifier;
    let l = |name: &str| format!("{p}{name}");
    store.generate(&l("ca-key"), KeyKind::P256).expect("P-256");
    store
        .generate(&l("ca-k1"), KeyKind::Secp256k1)
        .expect("secp256k1");
    let protection = store.protection(&l("ca-key")).expect("protection");
    assert!(protection.sensitive && !protection.extractable && !protection.value_readable);
    let listed = store.list().expect("list");
    assert!(
        listed
            .iter()
            .any(|k| k.label == l("ca-key") && k.kind == KeyKind::P256),
        "{listed:?}"
    );
    let public = store.p256_public_key(&l("ca-key")).expect("public key");
    for i in 0..50u32 {
        let digest: [u8; 32] = Sha256::digest(format!("certificate {i}")).into();
        let signature = store.p256_sign_digest(&l("ca-key"), &digest).expect("sign");
        public
            .verify_prehash(&digest, &signature)
            .unwrap_or_else(|e| panic!("signature {i} verifies: {e}"));
        let other: [u8; 32] = Sha256::digest(format!("another certificate {i}")).into();
        assert!(public.verify_prehash(&other, &signature).is_err());
    }
    // Each curve's key answers only as itself.
    assert!(matches!(
        store.sign_digest(&l("ca-key"), &[1; 32]),
        Err(KeyStoreError::WrongKind { .. })
    ));
    assert!(matches!(
        store.public_key(&l("ca-key")),
        Err(KeyStoreError::WrongKind { .. })
    ));
    assert!(matches!(
        store.p256_sign_digest(&l("ca-k1"), &[1; 32]),
        Err(KeyStoreError::WrongKind { .. })
    ));
    assert!(matches!(
        store.p256_public_key(&l("absent")),
        Err(KeyStoreError::UnknownKey(_))
    ));
}
