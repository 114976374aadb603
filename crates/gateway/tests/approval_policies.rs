//! Approval policy versions on both stores: a proposal is not in force; its proposer
//! cannot approve it (not with another credential of the same person either); a second
//! administrator puts it in force and the version before is superseded; tenant
//! credentials cannot touch policies; every step is audited.

use std::sync::Arc;

use approvals::{customer_default, Approver, ApproverKey, CustomerKeys};
use audit::Origin;
use controls::{ControlsError, PolicyState};
use ed25519_dalek::SigningKey;
use gateway::{Gateway, GatewayConfig, GatewayError};
use kernel::{Actor, ManualClock, RandomIds, Scope};
use keystore::secp256k1;
use node_pool::NodePool;
use store::testing::TestStore;

store::on_both_stores!(a_policy_change_takes_effect_only_when_a_second_admin_approves);

fn person(id: &str, seed: u8) -> Approver {
    let key = SigningKey::from_bytes(&[seed; 32]).verifying_key();
    Approver {
        id: id.into(),
        name: id.into(),
        identity: Some(format!("key_{id}")),
        key: ApproverKey::Ed25519(hex::encode(key.as_bytes())),
        hsm_label: None,
    }
}

fn hsm(id: &str, seed: u8) -> Approver {
    let secret = secp256k1::SecretKey::from_slice(&[seed; 32]).expect("in range");
    let public = secp256k1::PublicKey::from_secret_key(secp256k1::SECP256K1, &secret);
    Approver {
        id: id.into(),
        name: id.into(),
        identity: None,
        key: ApproverKey::Secp256k1(hex::encode(public.serialize())),
        hsm_label: Some(id.into()),
    }
}

fn policy() -> approvals::Policy {
    customer_default(CustomerKeys {
        operations_hsm: hsm("hsm-operations", 10),
        backup_hsm: hsm("hsm-backup", 11),
        ceo: person("ceo", 1),
        cto: person("cto", 2),
        custodian: person("custodian", 3),
    })
}

fn admin(credential: &str, subject: &str) -> Actor {
    Actor {
        scope: Scope::All,
        origin: Origin {
            actor_id: credential.into(),
            subject: subject.into(),
            request_id: "req".into(),
            source_ip: None,
        },
        identity: format!("id:{subject}"),
    }
}

async fn a_policy_change_takes_effect_only_when_a_second_admin_approves(t: TestStore) {
    let gateway = Gateway::builder(
        t.store.clone(),
        Arc::new(ManualClock::new(1_000)),
        Arc::new(RandomIds),
        GatewayConfig::default(),
    )
    .build(Arc::new(NodePool::new()));
    let (alice, bob) = (admin("key_alice", "alice"), admin("key_bob", "bob"));
    assert_eq!(gateway.active_policy().await.expect("read"), None);

    let proposed = gateway
        .propose_policy(&alice, policy())
        .await
        .expect("proposed");
    assert_eq!(
        (proposed.version, proposed.state),
        (1, PolicyState::Proposed)
    );
    assert_eq!(
        gateway.active_policy().await.expect("read"),
        None,
        "not in force yet"
    );
    // A key alice minted answers to her identity whatever its name; the machine itself
    // is nobody's second pair of eyes.
    let minted_by_alice = Actor {
        identity: alice.identity.clone(),
        ..admin("key_helper", "second admin")
    };
    for same_person in [
        alice.clone(),
        admin("oidc:idp#alice", "alice"),
        minted_by_alice,
        Actor::system("cli"),
    ] {
        assert!(matches!(
            gateway.approve_policy(&same_person, 1).await,
            Err(GatewayError::Controls(ControlsError::SecondAdminRequired))
        ));
    }
    let tenant_admin = Actor {
        scope: Scope::Tenant("treasury".into()),
        ..admin("key_carl", "carl")
    };
    assert!(matches!(
        gateway.approve_policy(&tenant_admin, 1).await,
        Err(GatewayError::Controls(ControlsError::Forbidden(_)))
    ));
    assert!(matches!(
        gateway.propose_policy(&tenant_admin, policy()).await,
        Err(GatewayError::Controls(ControlsError::Forbidden(_)))
    ));
    assert_eq!(gateway.active_policy().await.expect("read"), None);

    let active = gateway.approve_policy(&bob, 1).await.expect("approved");
    assert_eq!(active.state, PolicyState::Active);
    assert_eq!(active.approved_by.as_deref(), Some("key_bob"));
    assert_eq!(active.policy, policy());
    assert!(matches!(
        gateway.approve_policy(&bob, 1).await,
        Err(GatewayError::Controls(ControlsError::PolicyNotProposed {
            version: 1,
            ..
        }))
    ));
    assert!(matches!(
        gateway.approve_policy(&bob, 7).await,
        Err(GatewayError::Controls(ControlsError::UnknownPolicy(7)))
    ));

    // Version 2 by bob, approved by alice: version 1 is kept, superseded.
    let mut stricter = policy();
    stricter.rules.remove(0);
    let second = gateway
        .propose_policy(&bob, stricter.clone())
        .await
        .expect("v2");
    assert_eq!(second.version, 2);
    assert_eq!(
        gateway
            .active_policy()
            .await
            .expect("read")
            .map(|p| p.version),
        Some(1)
    );
    gateway.approve_policy(&alice, 2).await.expect("approved");
    let versions = gateway.policy_versions().await.expect("versions");
    assert_eq!(
        versions
            .iter()
            .map(|v| (v.version, v.state))
            .collect::<Vec<_>>(),
        [(2, PolicyState::Active), (1, PolicyState::Superseded)]
    );
    assert_eq!(
        gateway
            .active_policy()
            .await
            .expect("read")
            .map(|p| p.policy),
        Some(stricter)
    );

    // An incoherent policy is refused and leaves no version.
    let mut broken = policy();
    broken.rules.clear();
    assert!(matches!(
        gateway.propose_policy(&alice, broken).await,
        Err(GatewayError::Controls(ControlsError::InvalidField {
            field: "policy",
            ..
        }))
    ));
    assert_eq!(gateway.policy_versions().await.expect("versions").len(), 2);

    let trail = audit::list(
        &t.store,
        audit::AuditFilter {
            tenant_id: None,
            after_seq: 0,
            limit: 100,
        },
    )
    .await
    .expect("audit");
    let steps: Vec<(String, String, String)> = trail
        .into_iter()
        .map(|r| (r.action, r.target.unwrap_or_default(), r.actor_id))
        .collect();
    assert_eq!(
        steps,
        [
            (
                "approval_policy.propose".into(),
                "v1".into(),
                "key_alice".into()
            ),
            (
                "approval_policy.approve".into(),
                "v1".into(),
                "key_bob".into()
            ),
            (
                "approval_policy.propose".into(),
                "v2".into(),
                "key_bob".into()
            ),
            (
                "approval_policy.approve".into(),
                "v2".into(),
                "key_alice".into()
            ),
        ]
    );
}
