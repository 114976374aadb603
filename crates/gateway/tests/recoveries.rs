//! Emergency recovery under the customer's policy (4 of its 5 keys), over real ldk-nodes
//! on the devnet, on both stores: refused while no policy is in force and on bad input;
//! rejected by one approver; approved by two people, after which (and only after which)
//! both HSM keys sign; then alpha's channels close, its wallet is swept to the recovery
//! address (checked on the chain), and the books balance with alpha's ledger balance moved
//! to the recovered account less the on-chain costs. Every step is audited.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use approvals::{Operation, Vote};
use controls::RequestState;
use devnet::bitcoin::{OutPoint, Txid};
use ed25519_dalek::{Signer, SigningKey};
use gateway::{
    node_account, Gateway, GatewayError, NewRecovery, NewVote, Recovery, RecoveryState,
    ONCHAIN_COST_ACCOUNT, RECOVERED_ACCOUNT,
};
use kernel::{ManualClock, Scope};
use node_pool::LightningNode;
use store::testing::TestStore;

mod approvers;
mod common;

use approvers::{actor, audit_trail, customer, Customer};
use common::EUR;

store::on_both_stores!(an_approved_recovery_sweeps_the_node_and_balances_the_books);

fn sweep_of(address: &str, reason: &str) -> NewRecovery {
    NewRecovery {
        node: "alpha".into(),
        address: address.into(),
        reason: reason.into(),
    }
}

async fn cast(
    gateway: &Gateway,
    who: &str,
    key: &SigningKey,
    id: &str,
    vote: Vote,
) -> Result<controls::ApprovalRequest, GatewayError> {
    let intent = gateway
        .approval(&Scope::All, id)
        .await
        .expect("request")
        .intent;
    let new = NewVote {
        payment_id: id.to_string(),
        approver_id: who.to_string(),
        vote,
        signature_hex: hex::encode(key.sign(&intent.canonical(vote)).to_bytes()),
    };
    gateway.vote(&actor(&format!("key_{who}")), new).await
}

async fn an_approved_recovery_sweeps_the_node_and_balances_the_books(t: TestStore) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis() as i64;
    let world = common::world(t.store.clone(), Arc::new(ManualClock::new(now))).await;
    let (lab, gateway) = (&world.lab, world.gateway.clone());
    let alpha = lab.node("alpha").expect("alpha");
    let carol = lab.node("carol").expect("carol");
    let cold = carol.new_onchain_address().await.expect("address");
    let admin = actor("key_alice");

    // A customer's funds sit on alpha: they stay owed while the node is emptied.
    let account = world.treasury(&admin).await;
    world.fund(&admin, &account.id, 20_000 * EUR).await;

    let refused = gateway
        .request_recovery(&admin, sweep_of(&cold, "drill"))
        .await;
    assert_eq!(refused.err().map(|e| e.code()), Some("no_policy_in_force"));

    let keys = Arc::clone(&world.hsm.keys);
    let Customer {
        policy,
        ceo: ceo_key,
        cto: cto_key,
        custodian: custodian_key,
    } = customer(keys.as_ref());
    gateway
        .propose_policy(&admin, policy)
        .await
        .expect("proposed");
    gateway
        .approve_policy(&actor("key_bob"), 1)
        .await
        .expect("in force");

    // Bad input leaves nothing behind.
    for (new, code) in [
        (sweep_of("bc1qnotregtest", "drill"), "invalid_field"),
        (sweep_of(&cold, "  "), "invalid_field"),
        (
            NewRecovery {
                node: "zeta".into(),
                ..sweep_of(&cold, "drill")
            },
            "node_not_found",
        ),
    ] {
        let refused = gateway.request_recovery(&admin, new).await;
        assert_eq!(refused.err().map(|e| e.code()), Some(code));
    }
    assert!(gateway.recoveries(None, 10).await.expect("list").is_empty());

    // A watch-listed address is refused, with nothing behind but a platform-only record.
    let watched = carol.new_onchain_address().await.expect("address");
    gateway
        .screening()
        .watch(
            &admin,
            compliance::WatchKind::Address,
            &watched,
            "mixer deposit",
        )
        .await
        .expect("watched");
    let refused = gateway
        .request_recovery(&admin, sweep_of(&watched, "drill"))
        .await;
    assert_eq!(refused.err().map(|e| e.code()), Some("compliance_blocked"));
    assert!(gateway.recoveries(None, 10).await.expect("list").is_empty());

    // One approver's rejection ends a recovery; the node is untouched.
    let first = gateway
        .request_recovery(&admin, sweep_of(&cold, "suspected compromise"))
        .await
        .expect("requested");
    assert_eq!(first.state, RecoveryState::AwaitingApproval);
    let in_progress = gateway
        .request_recovery(&admin, sweep_of(&cold, "again"))
        .await;
    assert_eq!(
        in_progress.err().map(|e| e.code()),
        Some("recovery_in_progress")
    );
    cast(&gateway, "cto", &cto_key, &first.id, Vote::Reject)
        .await
        .expect("rejected");
    let first = gateway.recovery(&first.id).await.expect("recovery");
    assert_eq!(first.state, RecoveryState::Rejected);
    assert_eq!(alpha.channels().len(), 1);

    // 4 of 5: two people, then both HSM keys.
    let held_msat = -gateway
        .account(&Scope::All, &node_account("alpha"))
        .await
        .expect("node account")
        .balance_msat;
    let recovery = gateway
        .request_recovery(&admin, sweep_of(&cold, "suspected compromise"))
        .await
        .expect("requested");
    assert_eq!(recovery.ledger_msat, held_msat);
    let request = gateway
        .approval(&Scope::All, &recovery.id)
        .await
        .expect("request");
    assert_eq!(request.intent.operation, Operation::EmergencyRecovery);
    assert_eq!(request.intent.subject, "node_sweep:alpha");
    assert_eq!(request.intent.destination, cold);
    assert_eq!(request.rule, "emergency-recovery");
    // Priced on what leaves: the channels' funds and the wallet the sweep empties too.
    let wallet_msat = alpha.onchain_balance().total_sat * 1_000;
    assert!(wallet_msat > 0, "the node's wallet holds its change");
    assert_eq!(
        request.eur_cents,
        (held_msat as u64 + wallet_msat) * 100 / EUR
    );
    // The initiator may not approve their own recovery, and an executive's one vote
    // (with both HSM keys, three) is not enough: the HSM keys do not sign yet.
    let own = gateway
        .vote(
            &actor("key_alice"),
            NewVote {
                payment_id: recovery.id.clone(),
                approver_id: "ceo".into(),
                vote: Vote::Approve,
                signature_hex: "00".into(),
            },
        )
        .await;
    assert_eq!(
        own.err().map(|e| e.code()),
        Some("approval_not_an_approver")
    );
    let after_one = cast(&gateway, "ceo", &ceo_key, &recovery.id, Vote::Approve)
        .await
        .expect("ceo approves");
    assert_eq!(after_one.state, RequestState::Pending);
    assert_eq!(after_one.votes.len(), 1);
    assert_eq!(
        gateway.recovery(&recovery.id).await.expect("r").state,
        RecoveryState::AwaitingApproval
    );
    let after_two = cast(
        &gateway,
        "custodian",
        &custodian_key,
        &recovery.id,
        Vote::Approve,
    )
    .await
    .expect("custodian approves");
    assert_eq!(after_two.state, RequestState::Approved);
    let hsm_votes = after_two
        .votes
        .iter()
        .filter(|v| v.credential == "hsm")
        .count();
    assert_eq!(hsm_votes, 2);

    let done = drive_until_succeeded(&world, &recovery.id).await;
    assert!(alpha.channels().is_empty(), "every channel closed");
    let txid = done.txid.clone().expect("sweep txid");
    let swept_msat = done.swept_msat.expect("swept");
    assert!(done.fee_msat.expect("fee") > 0);
    // The chain holds the sweep: one output, to the recovery address, of what was booked.
    let bitcoin_txid = Txid::from_str(&txid).expect("txid");
    assert!(lab.devnet.confirmations(&bitcoin_txid).expect("confirmed") >= 1);
    let address = node_pool::parse_address(&cold, node_pool::Network::Regtest).expect("address");
    let output = lab
        .devnet
        .utxo(&OutPoint {
            txid: bitcoin_txid,
            vout: 0,
        })
        .expect("sweep output unspent")
        .output;
    assert_eq!(output.script_pubkey, address.script_pubkey());
    assert_eq!(output.value.to_sat() * 1000, swept_msat as u64);
    assert_eq!(done.ledger_msat, held_msat);
    let wallet_msat = done.wallet_msat.expect("wallet recorded before the closes");
    assert!(wallet_msat > 0, "alpha's funding change");

    let books = gateway.check_books().await.expect("books");
    assert!(books.ok(), "books balance and alpha matches: {books:?}");
    assert_eq!(world.balance(&node_account("alpha")).await, 0);
    assert_eq!(world.balance(RECOVERED_ACCOUNT).await, -swept_msat);
    // What closing and sweeping cost: at least the sweep's fee, and no more than a few
    // on-chain fees (nothing else went missing).
    let cost_msat = -world.balance(ONCHAIN_COST_ACCOUNT).await;
    assert_eq!(cost_msat, held_msat + wallet_msat - swept_msat);
    assert!(cost_msat >= done.fee_msat.expect("fee"), "{cost_msat}");
    assert!(cost_msat < 50_000_000, "{cost_msat} msat of fees");
    assert_eq!(
        world.balance(&account.id).await,
        (20_000 * EUR) as i64,
        "still owed"
    );

    let trail = audit_trail(&t.store).await;
    let count = |action: &str| {
        trail
            .iter()
            .filter(|r| r.action == action && r.target.as_deref() == Some(recovery.id.as_str()))
            .count()
    };
    assert_eq!(count("recovery.request"), 1);
    assert_eq!(count("approval.vote"), 2);
    assert_eq!(count("approval.hsm_sign"), 2);
    assert_eq!(count("approval.approved"), 1);
    assert_eq!(count("recovery.sweep"), 1);
    assert_eq!(count("recovery.booked"), 1);
    let rejected = trail
        .iter()
        .filter(|r| {
            r.action == "recovery.rejected" && r.target.as_deref() == Some(first.id.as_str())
        })
        .count();
    assert_eq!(rejected, 1);
    lab.shutdown().await.expect("lab down");
}

/// Steps the recovery, mining a block each round (the closes and the sweep confirm).
async fn drive_until_succeeded(world: &common::World, id: &str) -> Recovery {
    for _ in 0..240 {
        world.gateway.drive_recoveries().await.expect("drive");
        let recovery = world.gateway.recovery(id).await.expect("recovery");
        if recovery.state == RecoveryState::Succeeded {
            return recovery;
        }
        world.lab.mine(1).await.expect("mine");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!(
        "recovery {id} never succeeded: {:?}",
        world.gateway.recovery(id).await
    );
}
