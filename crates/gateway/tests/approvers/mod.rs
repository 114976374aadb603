//! The approvers of the gateway's approval tests: the customer's policy over people with
//! Ed25519 keys bound to their credential (`key_<id>`) and HSM approvers whose secp256k1
//! keys live in a key store, actors signed in as a credential, and the audit trail.

use approvals::{customer_default, Approver, ApproverKey, CustomerKeys, Policy};
use audit::Origin;
use ed25519_dalek::SigningKey;
use kernel::{Actor, Scope};
use keystore::{KeyKind, KeyStore};

fn person(id: &str, seed: u8) -> (Approver, SigningKey) {
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

fn hsm(keys: &dyn KeyStore, id: &str) -> Approver {
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
        identity: format!("key:{credential}"),
    }
}

/// The customer's policy (`customer_default`) with its people's signing keys.
pub struct Customer {
    pub policy: Policy,
    pub ceo: SigningKey,
    pub cto: SigningKey,
    pub custodian: SigningKey,
}

/// The customer's policy over two HSM keys generated in `keys` and three people.
pub fn customer(keys: &dyn KeyStore) -> Customer {
    let (ceo, ceo_key) = person("ceo", 1);
    let (cto, cto_key) = person("cto", 2);
    let (custodian, custodian_key) = person("custodian", 3);
    let policy = customer_default(CustomerKeys {
        operations_hsm: hsm(keys, "hsm-operations"),
        backup_hsm: hsm(keys, "hsm-backup"),
        ceo,
        cto,
        custodian,
    });
    Customer {
        policy,
        ceo: ceo_key,
        cto: cto_key,
        custodian: custodian_key,
    }
}

/// The whole audit trail (the tests write far fewer than 1,000 records).
pub async fn audit_trail(store: &store::Store) -> Vec<audit::StoredRecord> {
    let filter = audit::AuditFilter {
        tenant_id: None,
        after_seq: 0,
        limit: 1_000,
    };
    audit::list(store, filter).await.expect("audit")
}
