//! The approvers of the gateway's approval tests: people with Ed25519 keys bound to their
//! credential (`key_<id>`), HSM approvers whose secp256k1 keys live in a key store, and
//! actors signed in as a credential.

use approvals::{Approver, ApproverKey};
use audit::Origin;
use ed25519_dalek::SigningKey;
use gateway::{Actor, Scope};
use keystore::{KeyKind, KeyStore};

pub fn person(id: &str, seed: u8) -> (Approver, SigningKey) {
    let key = SigningKey::from_bytes(&[seed; 32]);
    (
        Approver {
            id: id.into(),
            name: id.into(),
            identity: Some(format!("key_{id}")),
            key: ApproverKey::Ed25519(hex::encode(key.verifying_key().as_bytes())),
            hsm_label: None,
        },
        key,
    )
}

pub fn hsm(keys: &dyn KeyStore, id: &str) -> Approver {
    let label = format!("approval-{id}");
    keys.generate(&label, KeyKind::Secp256k1).expect("HSM key");
    Approver {
        id: id.into(),
        name: id.into(),
        identity: None,
        key: ApproverKey::Secp256k1(hex::encode(
            keys.public_key(&label).expect("public").serialize(),
        )),
        hsm_label: Some(label),
    }
}

pub fn actor(credential: &str) -> Actor {
    Actor {
        scope: Scope::All,
        origin: Origin {
            actor_id: credential.into(),
            subject: credential.trim_start_matches("key_").into(),
            request_id: "req".into(),
            source_ip: None,
        },
    }
}
