//! Policies, quorums and votes with real keys: Ed25519 and secp256k1 signatures made by
//! the libraries approvers use, verified over the canonical intent.

use std::collections::BTreeSet;

use approvals::{
    check_vote, customer_default, hsm_signers_due, is_met, ApprovalError, Approver, ApproverKey,
    Ballot, CustomerKeys, EurRate, Facts, Intent, Match, Operation, Outcome, Policy, Request,
    Requirement, Rule, Vote,
};
use ed25519_dalek::{Signer, SigningKey};
use keystore::secp256k1;
use sha2::{Digest, Sha256};

const RATE: u64 = 5_000_000; // 50,000 EUR per BTC, in cents

fn person(id: &str, seed: u8) -> (Approver, SigningKey) {
    let key = SigningKey::from_bytes(&[seed; 32]);
    (
        Approver {
            id: id.into(),
            name: id.to_uppercase(),
            identity: Some(format!("key_{id}")),
            key: ApproverKey::Ed25519(hex::encode(key.verifying_key().as_bytes())),
            hsm_label: None,
        },
        key,
    )
}

fn secp_secret(seed: u8) -> secp256k1::SecretKey {
    secp256k1::SecretKey::from_slice(&[seed; 32]).expect("in range")
}

fn hsm(id: &str, seed: u8) -> Approver {
    let public = secp256k1::PublicKey::from_secret_key(secp256k1::SECP256K1, &secp_secret(seed));
    Approver {
        id: id.into(),
        name: id.into(),
        identity: None,
        key: ApproverKey::Secp256k1(hex::encode(public.serialize())),
        hsm_label: Some(format!("approval-{id}")),
    }
}

struct Fixture {
    policy: Policy,
    ceo: SigningKey,
    custodian: SigningKey,
}

fn fixture() -> Fixture {
    let (ceo, ceo_key) = person("ceo", 1);
    let (cto, _) = person("cto", 2);
    let (custodian, custodian_key) = person("custodian", 3);
    let policy = customer_default(CustomerKeys {
        operations_hsm: hsm("hsm-operations", 10),
        backup_hsm: hsm("hsm-backup", 11),
        ceo,
        cto,
        custodian,
    });
    Fixture {
        policy,
        ceo: ceo_key,
        custodian: custodian_key,
    }
}

fn rate() -> EurRate {
    EurRate {
        eur_cents_per_btc: RATE,
        source: "fixed:test".into(),
        at_ms: 0,
    }
}

fn facts(eur: u64) -> Facts {
    Facts {
        operation: Operation::Payment,
        eur_cents: eur * 100,
        account_id: "acc_1".into(),
        tenant_id: "treasury".into(),
        destination: "02carol".into(),
        initiator: "key_ops".into(),
    }
}

fn requirement_of(outcome: &Outcome) -> &Requirement {
    match outcome {
        Outcome::Require { approvals, .. } => approvals,
        other => panic!("approvals required, not {other:?}"),
    }
}

fn signed(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_customer_policy_tiers_by_eur_amount_and_operation() {
    let f = fixture();
    f.policy.validate().expect("valid");
    let rule = |facts: &Facts| f.policy.decide(facts).rule;
    assert_eq!(rule(&facts(5_000)).as_deref(), Some("payment"));
    assert_eq!(rule(&facts(9_999)).as_deref(), Some("payment"));
    assert_eq!(rule(&facts(10_000)).as_deref(), Some("large-payment"));
    assert_eq!(rule(&facts(20_000)).as_deref(), Some("large-payment"));
    let emergency = Facts {
        operation: Operation::EmergencyRecovery,
        ..facts(1)
    };
    assert_eq!(rule(&emergency).as_deref(), Some("emergency-recovery"));
    // The EUR amount comes from msat through the recorded rate.
    let msat = rate().msat_for_eur_cents(1_000_000);
    assert_eq!(rate().eur_cents(msat), 1_000_000);
    assert_eq!(rate().eur_cents(msat - 1), 999_999);
}

#[test]
fn hsm_keys_sign_only_once_the_human_part_is_met() {
    let f = fixture();
    let p = &f.policy;
    // 5,000 EUR: operations HSM + 1 executive.
    let small = p.decide(&facts(5_000)).outcome;
    let small = requirement_of(&small);
    assert!(hsm_signers_due(p, small, &signed(&[])).is_empty());
    assert!(hsm_signers_due(p, small, &signed(&["custodian"])).is_empty());
    assert_eq!(
        hsm_signers_due(p, small, &signed(&["ceo"])),
        ["hsm-operations"]
    );
    assert!(!is_met(p, small, &signed(&["ceo"])));
    assert!(is_met(p, small, &signed(&["ceo", "hsm-operations"])));
    assert!(!is_met(
        p,
        small,
        &signed(&["hsm-operations", "hsm-backup"])
    ));
    // 20,000 EUR: both HSM keys + 1 executive.
    let large = p.decide(&facts(20_000)).outcome;
    let large = requirement_of(&large);
    assert_eq!(
        hsm_signers_due(p, large, &signed(&["cto"])),
        ["hsm-operations", "hsm-backup"]
    );
    assert!(!is_met(p, large, &signed(&["cto", "hsm-operations"])));
    assert!(is_met(
        p,
        large,
        &signed(&["cto", "hsm-operations", "hsm-backup"])
    ));
    // Emergency: 4 of 5; the two HSM keys complete two humans, not one.
    let emergency = p
        .decide(&Facts {
            operation: Operation::EmergencyRecovery,
            ..facts(1)
        })
        .outcome;
    let emergency = requirement_of(&emergency);
    assert!(hsm_signers_due(p, emergency, &signed(&["ceo"])).is_empty());
    assert_eq!(
        hsm_signers_due(p, emergency, &signed(&["ceo", "custodian"])).len(),
        2
    );
    assert!(!is_met(
        p,
        emergency,
        &signed(&["ceo", "custodian", "hsm-backup"])
    ));
    assert!(is_met(
        p,
        emergency,
        &signed(&["ceo", "custodian", "hsm-backup", "hsm-operations"])
    ));
}

fn intent() -> Intent {
    Intent {
        payment_id: "pay_1".into(),
        operation: Operation::Payment,
        amount_msat: 10_000_000_000,
        destination: "02carol".into(),
        payment_hash: "ab".repeat(32),
        subject: String::new(),
        expires_at_ms: 2_000,
    }
}

/// A request initiated by `key_ops`, whose initiator may not approve.
fn request_for<'a>(
    intent: &'a Intent,
    requirement: &'a Requirement,
    voted: &'a BTreeSet<String>,
    now_ms: i64,
) -> Request<'a> {
    Request {
        intent,
        requirement,
        initiator_may_approve: false,
        initiator: "key_ops",
        initiator_person: "key:key_ops",
        voted,
        now_ms,
    }
}

#[test]
fn votes_count_only_when_signed_by_an_eligible_approver_in_time() {
    let f = fixture();
    let outcome = f.policy.decide(&facts(5_000)).outcome;
    let requirement = requirement_of(&outcome);
    let intent = intent();
    let none = BTreeSet::new();
    let request = |voted, now_ms| request_for(&intent, requirement, voted, now_ms);
    let approve = hex::encode(f.ceo.sign(&intent.canonical(Vote::Approve)).to_bytes());
    let ballot = |id: &'static str, vote, signature: &str, caller: &'static str| {
        check_vote(
            &f.policy,
            &request(&none, 1_000),
            &Ballot {
                approver_id: id,
                vote,
                signature_hex: signature,
                caller_identity: caller,
                caller_person: &format!("key:{caller}"),
            },
        )
    };
    assert_eq!(ballot("ceo", Vote::Approve, &approve, "key_ceo"), Ok(()));
    // The approve signature does not reject, nor a changed intent.
    assert_eq!(
        ballot("ceo", Vote::Reject, &approve, "key_ceo"),
        Err(ApprovalError::BadSignature("ceo".into()))
    );
    let other = Intent {
        amount_msat: intent.amount_msat + 1,
        ..intent.clone()
    };
    let tampered = hex::encode(f.ceo.sign(&other.canonical(Vote::Approve)).to_bytes());
    assert_eq!(
        ballot("ceo", Vote::Approve, &tampered, "key_ceo"),
        Err(ApprovalError::BadSignature("ceo".into()))
    );
    // Someone else's key, someone else's credential, a group the rule does not ask for.
    let by_custodian = hex::encode(
        f.custodian
            .sign(&intent.canonical(Vote::Approve))
            .to_bytes(),
    );
    assert_eq!(
        ballot("cto", Vote::Approve, &by_custodian, "key_cto"),
        Err(ApprovalError::BadSignature("cto".into()))
    );
    assert!(matches!(
        ballot("ceo", Vote::Approve, &approve, "key_cto"),
        Err(ApprovalError::UnknownApprover(_))
    ));
    assert_eq!(
        ballot("custodian", Vote::Approve, &by_custodian, "key_custodian"),
        Err(ApprovalError::NotInGroup("custodian".into()))
    );
    assert_eq!(
        ballot("hsm-operations", Vote::Approve, &approve, "key_ceo"),
        Err(ApprovalError::HsmSignsItself("hsm-operations".into()))
    );
    assert!(matches!(
        ballot("nobody", Vote::Approve, &approve, "key_ceo"),
        Err(ApprovalError::UnknownApprover(_))
    ));
    // Replayed, expired, self-approved.
    let voted = signed(&["ceo"]);
    let vote = |request: &Request<'_>, caller| {
        check_vote(
            &f.policy,
            request,
            &Ballot {
                approver_id: "ceo",
                vote: Vote::Approve,
                signature_hex: &approve,
                caller_identity: caller,
                caller_person: &format!("key:{caller}"),
            },
        )
    };
    assert_eq!(
        vote(&request(&voted, 1_000), "key_ceo"),
        Err(ApprovalError::Duplicate("ceo".into()))
    );
    assert!(matches!(
        vote(&request(&none, 2_000), "key_ceo"),
        Err(ApprovalError::Expired { .. })
    ));
    let by_initiator = Request {
        initiator: "key_ceo",
        ..request(&none, 1_000)
    };
    assert_eq!(
        vote(&by_initiator, "key_ceo"),
        Err(ApprovalError::InitiatorMayNotApprove("ceo".into()))
    );
    // Issue 22: the initiator's person, voting with the approver credential after
    // initiating with a second key it minted, is still the initiator.
    let by_second_key = Request {
        initiator: "key_minted_by_ceo",
        initiator_person: "key:key_ceo",
        ..request(&none, 1_000)
    };
    assert_eq!(
        vote(&by_second_key, "key_ceo"),
        Err(ApprovalError::InitiatorMayNotApprove("ceo".into()))
    );
    let allowed = Request {
        initiator_may_approve: true,
        ..by_initiator
    };
    assert_eq!(vote(&allowed, "key_ceo"), Ok(()));
}

#[test]
fn secp256k1_approver_keys_verify_compact_signatures_over_the_intent_digest() {
    let secret = secp_secret(42);
    let public = secp256k1::PublicKey::from_secret_key(secp256k1::SECP256K1, &secret);
    let key = ApproverKey::Secp256k1(hex::encode(public.serialize()));
    key.validate().expect("valid");
    let message = intent().canonical(Vote::Approve);
    let digest: [u8; 32] = Sha256::digest(&message).into();
    let signature = secp256k1::SECP256K1
        .sign_ecdsa(&secp256k1::Message::from_digest(digest), &secret)
        .serialize_compact();
    assert!(key.verifies(&message, &hex::encode(signature)));
    assert!(!key.verifies(&intent().canonical(Vote::Reject), &hex::encode(signature)));
    assert!(!key.verifies(&message, "zz"));
    assert!(!key.verifies(&message, &hex::encode([0u8; 64])));
}

#[test]
fn incoherent_policies_are_refused_with_the_reason() {
    let f = fixture();
    let refuse = |change: &dyn Fn(&mut Policy), mentions: &str| {
        let mut policy = f.policy.clone();
        change(&mut policy);
        match policy.validate() {
            Err(ApprovalError::InvalidPolicy(m)) | Err(ApprovalError::InvalidKey(m)) => {
                assert!(m.contains(mentions), "{m} should mention {mentions}")
            }
            other => panic!("refused for {mentions}, got {other:?}"),
        }
    };
    refuse(&|p| p.rules.clear(), "rules");
    refuse(
        &|p| {
            p.rules[2].then = Outcome::Require {
                approvals: Requirement::Group {
                    group: "board".into(),
                    count: 1,
                },
                initiator_may_approve: false,
                expires_in_secs: 3_600,
            }
        },
        "unknown group board",
    );
    refuse(
        &|p| {
            p.rules[2].then = Outcome::Require {
                approvals: Requirement::Group {
                    group: "executives".into(),
                    count: 3,
                },
                initiator_may_approve: false,
                expires_in_secs: 3_600,
            }
        },
        "3 of group executives",
    );
    refuse(
        &|p| {
            p.rules[2].then = Outcome::Require {
                approvals: Requirement::All(vec![
                    Requirement::Group {
                        group: "executives".into(),
                        count: 1,
                    },
                    Requirement::Group {
                        group: "emergency".into(),
                        count: 1,
                    },
                ]),
                initiator_may_approve: false,
                expires_in_secs: 3_600,
            }
        },
        "in two groups",
    );
    refuse(
        &|p| {
            if let Outcome::Require {
                expires_in_secs, ..
            } = &mut p.rules[2].then
            {
                *expires_in_secs = 10;
            }
        },
        "expires_in_secs",
    );
    refuse(
        &|p| p.approvers.push(p.approvers[2].clone()),
        "listed twice",
    );
    refuse(
        &|p| p.approvers[0].identity = Some("key_x".into()),
        "a person has an identity",
    );
    refuse(
        &|p| p.approvers[2].key = ApproverKey::Ed25519("00".repeat(31)),
        "bytes",
    );
    refuse(
        &|p| {
            p.groups
                .insert("executives".into(), vec!["ceo".into(), "ghost".into()]);
        },
        "unknown approver ghost",
    );
    refuse(&|p| p.rules[1].name = "payment".into(), "named twice");
    // Issue 22: an emergency recovery is never allowed without signatures.
    refuse(
        &|p| {
            let emergency = p
                .rules
                .iter_mut()
                .find(|r| r.when.operation == Operation::EmergencyRecovery)
                .expect("the customer's policy has an emergency rule");
            emergency.then = Outcome::Allow;
        },
        "allow is not an outcome",
    );
}

#[test]
fn rules_match_account_tenant_destination_and_initiator_and_nothing_else_blocks() {
    let f = fixture();
    let mut policy = f.policy.clone();
    policy.rules = vec![
        Rule {
            name: "blocked-destination".into(),
            when: Match {
                destinations: Some(vec!["02mallory".into()]),
                ..Match::default()
            },
            then: Outcome::Block {
                reason: "denylisted node".into(),
            },
        },
        Rule {
            name: "treasury-bot-small".into(),
            when: Match {
                tenants: Some(vec!["treasury".into()]),
                accounts: Some(vec!["acc_1".into()]),
                initiators: Some(vec!["key_bot".into()]),
                not_destinations: Some(vec!["02unknown".into()]),
                below_eur_cents: Some(100_000),
                ..Match::default()
            },
            then: Outcome::Allow,
        },
    ];
    policy.validate().expect("valid");
    let with = |change: &dyn Fn(&mut Facts)| {
        let mut facts = Facts {
            initiator: "key_bot".into(),
            ..facts(999)
        };
        change(&mut facts);
        policy.decide(&facts)
    };
    assert_eq!(with(&|_| {}).outcome, Outcome::Allow);
    assert_eq!(
        with(&|f| f.destination = "02mallory".into())
            .rule
            .as_deref(),
        Some("blocked-destination")
    );
    for change in [
        &(|f: &mut Facts| f.eur_cents = 100_000) as &dyn Fn(&mut Facts),
        &|f| f.tenant_id = "retail".into(),
        &|f| f.account_id = "acc_2".into(),
        &|f| f.initiator = "key_ops".into(),
        &|f| f.destination = "02unknown".into(),
    ] {
        let decision = with(change);
        assert_eq!(decision.rule, None);
        assert!(matches!(decision.outcome, Outcome::Block { .. }));
    }
}

#[test]
fn policies_are_json_with_unknown_fields_refused() {
    let f = fixture();
    let json = serde_json::to_string(&f.policy).expect("json");
    let back: Policy = serde_json::from_str(&json).expect("parses");
    assert_eq!(back, f.policy);
    let extra = json.replacen("\"rules\":", "\"rulez\":[],\"rules\":", 1);
    assert!(serde_json::from_str::<Policy>(&extra).is_err());
}
