//! Payments under the customer's approval policy, over real ldk-nodes on the devnet, on
//! both stores. The HSM approvers' keys live in a real key store (the software backend;
//! SoftHSM2 is exercised end to end by the binary's tests) and sign only once the human
//! part of the quorum is met. 5,000 EUR waits for one executive; 20,000 EUR needs both
//! HSM keys and one executive; a wrong signer, a replayed approval, an expired intent,
//! self-approval and a rejection all behave; every step is audited.

use std::sync::Arc;
use std::time::Duration;

use approvals::Vote;
use controls::RequestState;
use ed25519_dalek::{Signer, SigningKey};
use gateway::{Gateway, GatewayError, NewInvoice, NewPayment, NewVote, PaymentStatus};
use kernel::{ManualClock, Scope};
use node_pool::LightningNode;
use store::testing::TestStore;

mod approvers;
mod common;

use approvers::{actor, audit_trail, customer, Customer};
use common::{EUR, EUR_CENTS_PER_BTC};

store::on_both_stores!(payments_wait_for_the_policys_signatures_then_pay);

async fn wait_final(gateway: &Gateway, id: &str) -> gateway::PaymentRecord {
    for _ in 0..600 {
        let payment = gateway.payment(&Scope::All, id).await.expect("payment");
        if payment.status.is_final() {
            return payment;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("payment {id} never finished");
}

async fn payments_wait_for_the_policys_signatures_then_pay(t: TestStore) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis() as i64;
    let clock = Arc::new(ManualClock::new(now));
    let world = common::world(t.store.clone(), clock.clone()).await;
    let (lab, gateway) = (&world.lab, world.gateway.clone());
    let keys = Arc::clone(&world.hsm.keys);
    world.hsm.set_reachable(false);

    let Customer {
        policy,
        ceo: ceo_key,
        cto: cto_key,
        custodian: custodian_key,
    } = customer(keys.as_ref());
    let (alice, bob) = (actor("key_alice"), actor("key_bob"));
    gateway
        .propose_policy(&alice, policy)
        .await
        .expect("proposed");
    gateway.approve_policy(&bob, 1).await.expect("in force");

    let ops = actor("key_ops");
    let account = world.treasury(&ops).await;
    let carol = lab.node("carol").expect("carol");
    world.fund(&ops, &account.id, 150_000_000).await;

    let pay = |initiator: &'static str, eur: u64, memo: &'static str| {
        let (gateway, carol, account) = (gateway.clone(), carol.clone(), account.id.clone());
        async move {
            let invoice = carol
                .create_invoice(eur * EUR, memo, 3_600)
                .await
                .expect("carol invoice");
            common::pay(&gateway, &actor(initiator), &account, invoice.bolt11)
                .await
                .expect("accepted")
        }
    };
    let sign = |key: &SigningKey, payment_id: &str, vote: Vote| {
        let gateway = gateway.clone();
        let key = key.clone();
        let payment_id = payment_id.to_string();
        async move {
            let intent = gateway
                .approval(&Scope::All, &payment_id)
                .await
                .expect("request")
                .intent;
            hex::encode(key.sign(&intent.canonical(vote)).to_bytes())
        }
    };
    let vote = |who: &'static str, payment_id: &str, vote: Vote, signature: String| {
        let gateway = gateway.clone();
        let new = NewVote {
            payment_id: payment_id.to_string(),
            approver_id: who.to_string(),
            vote,
            signature_hex: signature,
        };
        async move { gateway.vote(&actor(&format!("key_{who}")), new).await }
    };
    let code = |r: Result<controls::ApprovalRequest, GatewayError>| r.err().map(|e| e.code());

    // The HSM is unavailable when the CEO approves: the vote counts, the payment waits;
    // once the HSM answers, the sweep completes the quorum and the payment goes.
    let hsm_down = pay("key_ops", 500, "hsm down").await;
    let ceo_vote = sign(&ceo_key, &hsm_down.id, Vote::Approve).await;
    let waiting = vote("ceo", &hsm_down.id, Vote::Approve, ceo_vote)
        .await
        .expect("the vote counts");
    assert_eq!(
        (waiting.state, waiting.votes.len()),
        (RequestState::Pending, 1)
    );
    assert_eq!(
        gateway.advance_pending().await.expect("sweep"),
        0,
        "still no HSM"
    );
    world.hsm.set_reachable(true);
    assert_eq!(gateway.advance_pending().await.expect("sweep"), 1);
    assert_eq!(
        wait_final(&gateway, &hsm_down.id).await.status,
        PaymentStatus::Succeeded
    );

    // 5,000 EUR: held, the hold on the account; the rule, amount and rate recorded.
    let small = pay("key_ops", 5_000, "small").await;
    assert_eq!(small.status, PaymentStatus::AwaitingApproval);
    let request = gateway
        .approval(&Scope::All, &small.id)
        .await
        .expect("request");
    assert_eq!(
        (
            request.rule.as_str(),
            request.eur_cents,
            request.rate_eur_cents_per_btc,
            request.policy_version
        ),
        ("payment", 500_000, EUR_CENTS_PER_BTC, 1)
    );
    let held = gateway
        .account(&Scope::All, &account.id)
        .await
        .expect("account");
    assert!(held.pending_msat >= 5_000 * EUR, "{held:?}");
    // The custodian is not asked; the CTO cannot sign with the CEO's key.
    let by_custodian = sign(&custodian_key, &small.id, Vote::Approve).await;
    assert_eq!(
        code(vote("custodian", &small.id, Vote::Approve, by_custodian).await),
        Some("approval_not_an_approver")
    );
    let ceo_signature = sign(&ceo_key, &small.id, Vote::Approve).await;
    assert_eq!(
        code(vote("cto", &small.id, Vote::Approve, ceo_signature.clone()).await),
        Some("approval_bad_signature")
    );
    assert_eq!(
        gateway
            .payment(&Scope::All, &small.id)
            .await
            .expect("p")
            .status,
        PaymentStatus::AwaitingApproval
    );
    // The CEO approves: the operations HSM key co-signs, and the payment goes.
    let decided = vote("ceo", &small.id, Vote::Approve, ceo_signature.clone())
        .await
        .expect("vote");
    assert_eq!(decided.state, RequestState::Approved);
    let voters: Vec<(&str, &str)> = decided
        .votes
        .iter()
        .map(|v| (v.approver_id.as_str(), v.credential.as_str()))
        .collect();
    assert_eq!(voters.len(), 2, "{voters:?}");
    assert!(voters.contains(&("ceo", "key_ceo")) && voters.contains(&("hsm-operations", "hsm")));
    assert_eq!(
        wait_final(&gateway, &small.id).await.status,
        PaymentStatus::Succeeded
    );
    // The same approval again: the request takes no more votes.
    assert_eq!(
        code(vote("ceo", &small.id, Vote::Approve, ceo_signature).await),
        Some("approval_closed")
    );

    // 20,000 EUR: both HSM keys and one executive.
    let large = pay("key_ops", 20_000, "large").await;
    let request = gateway
        .approval(&Scope::All, &large.id)
        .await
        .expect("request");
    assert_eq!(request.rule, "large-payment");
    let decided = vote(
        "cto",
        &large.id,
        Vote::Approve,
        sign(&cto_key, &large.id, Vote::Approve).await,
    )
    .await
    .expect("vote");
    let mut approvers: Vec<&str> = decided
        .votes
        .iter()
        .map(|v| v.approver_id.as_str())
        .collect();
    approvers.sort_unstable();
    assert_eq!(approvers, ["cto", "hsm-backup", "hsm-operations"]);
    // Above 5,000 EUR compliance reviews it too: approved, it waits for the officer's
    // release, then pays.
    assert_eq!(
        gateway
            .payment(&Scope::All, &large.id)
            .await
            .expect("payment")
            .status,
        PaymentStatus::HeldForReview
    );
    let alerts = gateway
        .alerts(compliance::AlertFilter {
            payment_id: Some(large.id.clone()),
            limit: 10,
            ..compliance::AlertFilter::default()
        })
        .await
        .expect("alerts");
    gateway
        .decide_alert(
            &actor("officer"),
            &alerts[0].id,
            compliance::AlertDecision::Release,
            "contract on file",
        )
        .await
        .expect("released");
    assert_eq!(
        wait_final(&gateway, &large.id).await.status,
        PaymentStatus::Succeeded
    );

    // To one of our own invoices: approved, it settles inside the ledger.
    let payroll = gateway
        .create_account(&ops, "treasury", "payroll")
        .await
        .expect("payroll");
    let ours = gateway
        .create_invoice(
            &ops,
            NewInvoice {
                account_id: payroll.id.clone(),
                amount_msat: 3_000 * EUR,
                description: "internal".into(),
                expiry_secs: Some(600),
                payer: None,
            },
        )
        .await
        .expect("our invoice");
    let internal = gateway
        .create_payment(
            &ops,
            NewPayment {
                account_id: account.id.clone(),
                bolt11: ours.bolt11,
                amount_msat: None,
                max_fee_msat: None,
                beneficiary: None,
            },
            None,
        )
        .await
        .expect("accepted");
    assert_eq!(internal.status, PaymentStatus::AwaitingApproval);
    vote(
        "ceo",
        &internal.id,
        Vote::Approve,
        sign(&ceo_key, &internal.id, Vote::Approve).await,
    )
    .await
    .expect("vote");
    let settled = gateway.payment(&Scope::All, &internal.id).await.expect("p");
    assert_eq!(
        (settled.status, settled.fee_msat),
        (PaymentStatus::Succeeded, Some(0))
    );
    assert_eq!(world.balance(&payroll.id).await, (3_000 * EUR) as i64);

    // To one of our invoices canceled while the payment awaited approval: approved, it is
    // refused (issue 22), its hold released, the canceled invoice stays unpaid.
    let doomed = gateway
        .create_invoice(
            &ops,
            NewInvoice {
                account_id: payroll.id.clone(),
                amount_msat: 2_000 * EUR,
                description: "canceled meanwhile".into(),
                expiry_secs: Some(600),
                payer: None,
            },
        )
        .await
        .expect("invoice");
    let waiting = gateway
        .create_payment(
            &ops,
            NewPayment {
                account_id: account.id.clone(),
                bolt11: doomed.bolt11.clone(),
                amount_msat: None,
                max_fee_msat: None,
                beneficiary: None,
            },
            None,
        )
        .await
        .expect("accepted");
    assert_eq!(waiting.status, PaymentStatus::AwaitingApproval);
    let held = gateway.account(&Scope::All, &account.id).await.expect("a");
    gateway
        .cancel_invoice(&ops, &doomed.id)
        .await
        .expect("canceled");
    vote(
        "ceo",
        &waiting.id,
        Vote::Approve,
        sign(&ceo_key, &waiting.id, Vote::Approve).await,
    )
    .await
    .expect("vote");
    let refused = gateway.payment(&Scope::All, &waiting.id).await.expect("p");
    assert_eq!(refused.status, PaymentStatus::Failed, "{refused:?}");
    assert_eq!(refused.failure_code.as_deref(), Some("invoice_not_open"));
    let after = gateway.account(&Scope::All, &account.id).await.expect("a");
    assert_eq!(after.balance_msat, held.balance_msat, "nothing moved");
    assert!(after.pending_msat < held.pending_msat, "its hold released");
    let doomed = gateway
        .invoice(&Scope::All, &doomed.id)
        .await
        .expect("invoice");
    assert_eq!(doomed.status, gateway::InvoiceStatus::Canceled);
    assert_eq!(world.balance(&payroll.id).await, (3_000 * EUR) as i64);

    // Initiated by the CEO: the CEO may not approve it; the CTO rejects it, the hold goes.
    let own = pay("key_ceo", 1_000, "own").await;
    let before = gateway.account(&Scope::All, &account.id).await.expect("a");
    assert_eq!(
        code(
            vote(
                "ceo",
                &own.id,
                Vote::Approve,
                sign(&ceo_key, &own.id, Vote::Approve).await
            )
            .await
        ),
        Some("approval_self_approval")
    );
    let rejected = vote(
        "cto",
        &own.id,
        Vote::Reject,
        sign(&cto_key, &own.id, Vote::Reject).await,
    )
    .await
    .expect("reject");
    assert_eq!(rejected.state, RequestState::Rejected);
    let payment = gateway.payment(&Scope::All, &own.id).await.expect("p");
    assert_eq!(payment.status, PaymentStatus::Rejected);
    assert_eq!(
        payment.failure_code.as_deref(),
        Some("rejected_by_approver")
    );
    let after = gateway.account(&Scope::All, &account.id).await.expect("a");
    assert_eq!(after.pending_msat, 0, "hold released");
    assert_eq!(after.balance_msat, before.balance_msat);

    // Nobody decides in time: the intent expires, votes are refused, the sweep rejects it.
    let late = pay("key_ops", 2_000, "late").await;
    let late_signature = sign(&ceo_key, &late.id, Vote::Approve).await;
    clock.advance_ms(86_400_000);
    assert_eq!(
        code(vote("ceo", &late.id, Vote::Approve, late_signature).await),
        Some("approval_expired")
    );
    assert_eq!(gateway.expire_approvals().await.expect("sweep"), 1);
    let payment = gateway.payment(&Scope::All, &late.id).await.expect("p");
    assert_eq!(
        (payment.status, payment.failure_code.as_deref()),
        (PaymentStatus::Rejected, Some("approval_expired"))
    );
    assert_eq!(
        gateway
            .account(&Scope::All, &account.id)
            .await
            .expect("a")
            .pending_msat,
        0
    );
    assert!(gateway
        .approvals(&Scope::All, RequestState::Pending, None, 100)
        .await
        .expect("list")
        .is_empty());

    let trail = audit_trail(&t.store).await;
    let count = |action: &str| trail.iter().filter(|r| r.action == action).count();
    // Votes that counted (refused ones are audited by the API's guard).
    assert_eq!(count("approval.vote"), 6);
    assert_eq!(count("approval.hsm_sign"), 6);
    assert_eq!(count("approval.approved"), 5);
    assert_eq!(count("approval.expired"), 1);
    lab.shutdown().await.expect("lab down");
}
