//! The gateway against a hostile payer and a misbehaving network, on both stores, over
//! scriptable fake nodes (deterministic and fast; the real-node flows are in flows.rs):
//! a forged invoice that reuses our payment hash, stale and cross-node node events,
//! unbounded numbers at the edge of the books.

use std::sync::Arc;
use std::time::Duration;

use controls::{ControlsError, VelocityLimits};
use gateway::{
    Gateway, GatewayConfig, GatewayError, GatewaySink, InvoiceStatus, NewInvoice, NewPayment,
    PaymentStatus,
};
use kernel::{Actor, ManualClock, RandomIds, Scope};
use node_pool::{EventSink, LightningNode, NodePool};
use store::testing::TestStore;
use testkit::{forge_invoice, FakeNode};

store::on_both_stores!(
    a_forged_invoice_reusing_our_payment_hash_is_refused,
    a_stale_failure_from_another_node_leaves_the_live_attempt_alone,
    a_success_is_booked_on_the_node_that_paid,
    limits_beyond_any_column_are_refused_and_the_store_keeps_writing,
    a_lost_event_is_reconciled_after_a_quiet_minute,
    a_payment_whose_node_left_the_pool_is_stuck_until_it_returns,
    a_second_replica_cannot_run_the_same_nodes_while_the_first_holds_them,
    another_node_under_a_known_name_is_refused,
    a_fee_the_node_never_reported_is_not_booked_as_zero_but_reported,
    a_flood_of_invoices_expires_in_bounded_sweeps_that_report_the_rest,
    a_stage_in_the_transaction_sees_a_concurrent_payments_hold,
    a_held_receipt_waits_in_suspense_until_one_release_credits_the_account,
);

struct World {
    gateway: Gateway,
    clock: Arc<ManualClock>,
    sink: Arc<GatewaySink>,
    alpha: Arc<FakeNode>,
    beta: Arc<FakeNode>,
    /// Accounts: treasury (funded with 50,000,000 msat) and retail.
    treasury: String,
    retail: String,
}

fn admin() -> Actor {
    Actor::system("test")
}

/// The wall clock's now, as the injected clock's start (invoices carry real timestamps).
fn real_now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since.as_millis()).expect("ms")
}

/// A gateway (started) over `store` with `nodes` in its pool, and its sink: the same
/// installation restarting (one instance id, as `fulgur serve` derives it).
async fn gateway_over(
    store: &store::Store,
    clock: &Arc<ManualClock>,
    nodes: &[&Arc<FakeNode>],
) -> (Gateway, Arc<GatewaySink>) {
    let gateway = replica(store, clock, nodes, "installation-1");
    gateway.start().await.expect("start");
    let sink = gateway.event_sink();
    (gateway, sink)
}

/// A gateway (not started) with `instance` as its id in node leases.
fn replica(
    store: &store::Store,
    clock: &Arc<ManualClock>,
    nodes: &[&Arc<FakeNode>],
    instance: &str,
) -> Gateway {
    let pool = Arc::new(NodePool::new());
    for node in nodes {
        pool.add(Arc::clone(node) as Arc<dyn LightningNode>)
            .expect("add");
    }
    Gateway::builder(
        store.clone(),
        clock.clone(),
        Arc::new(RandomIds),
        GatewayConfig {
            instance_id: Some(instance.to_string()),
            ..GatewayConfig::default()
        },
    )
    .build(pool)
}

async fn world(t: &TestStore) -> World {
    let (alpha, beta) = (
        Arc::new(FakeNode::new("alpha", 1)),
        Arc::new(FakeNode::new("beta", 2)),
    );
    let clock = Arc::new(ManualClock::new(real_now_ms()));
    let (gateway, sink) = gateway_over(&t.store, &clock, &[&alpha, &beta]).await;
    let mut accounts = Vec::new();
    for tenant in ["treasury", "retail"] {
        gateway
            .create_tenant(&admin(), tenant, tenant)
            .await
            .expect("tenant");
        let account = gateway
            .create_account(&admin(), tenant, "main")
            .await
            .expect("account");
        accounts.push(account.id);
    }
    let world = World {
        gateway,
        clock,
        sink,
        alpha,
        beta,
        treasury: accounts[0].clone(),
        retail: accounts[1].clone(),
    };
    // An outsider pays the treasury 50,000,000 msat through its invoice.
    let invoice = world.invoice(&world.treasury, 50_000_000).await;
    let node = world.issuer_of(&invoice.node);
    world
        .deliver(node.receive(&invoice.payment_hash, 50_000_000))
        .await;
    assert_eq!(world.balance(&world.treasury).await, 50_000_000);
    world
}

impl World {
    async fn invoice(&self, account: &str, amount_msat: u64) -> gateway::InvoiceRecord {
        self.gateway
            .create_invoice(
                &admin(),
                NewInvoice {
                    account_id: account.to_string(),
                    amount_msat,
                    description: "order 42".into(),
                    expiry_secs: None,
                    payer: None,
                },
            )
            .await
            .expect("invoice")
    }

    fn issuer_of(&self, node: &str) -> &FakeNode {
        match node {
            "alpha" => &self.alpha,
            "beta" => &self.beta,
            other => panic!("no node {other}"),
        }
    }

    async fn deliver(&self, event: node_pool::NodeEvent) {
        self.sink
            .handle(&event)
            .await
            .expect("the gateway takes it");
    }

    async fn balance(&self, account: &str) -> i64 {
        self.gateway
            .account(&Scope::All, account)
            .await
            .expect("account")
            .balance_msat
    }

    async fn available(&self, account: &str) -> i64 {
        let a = self
            .gateway
            .account(&Scope::All, account)
            .await
            .expect("account");
        a.balance_msat - i64::try_from(a.pending_msat).expect("pending")
    }

    async fn pay(&self, account: &str, bolt11: &str) -> Result<gateway::Accepted, GatewayError> {
        self.gateway
            .create_payment(
                &admin(),
                NewPayment {
                    account_id: account.to_string(),
                    bolt11: bolt11.to_string(),
                    amount_msat: None,
                    max_fee_msat: Some(10_000),
                    beneficiary: None,
                },
                None,
            )
            .await
    }

    /// The treasury pays an outsider's (carol's) invoice of `amount_msat`: the invoice, and
    /// the payment once it is in flight.
    async fn pay_outsider(&self, amount_msat: u64) -> (node_pool::Invoice, gateway::PaymentRecord) {
        let invoice = FakeNode::new("carol", 3)
            .create_invoice(amount_msat, "goods", 600)
            .await
            .expect("invoice");
        let sent = self
            .pay(&self.treasury, &invoice.bolt11)
            .await
            .expect("accepted");
        (invoice, self.in_flight(&sent.id).await)
    }

    /// Waits (bounded) until the payment is in flight on a node and that node has it (the
    /// claim commits before the send reaches the node); its record.
    async fn in_flight(&self, id: &str) -> gateway::PaymentRecord {
        for _ in 0..500 {
            let p = self
                .gateway
                .payment(&Scope::All, id)
                .await
                .expect("payment");
            let sent = p
                .node
                .as_deref()
                .and_then(|n| self.issuer_of(n).payment(&p.payment_hash))
                .is_some_and(|sent| sent.state == node_pool::PaymentState::Pending);
            if p.status == PaymentStatus::InFlight && sent {
                return p;
            }
            assert!(!p.status.is_final(), "{p:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("payment {id} never went in flight");
    }
}

async fn a_forged_invoice_reusing_our_payment_hash_is_refused(t: TestStore) {
    let w = world(&t).await;
    let invoice = w.invoice(&w.retail, 5_000_000).await;
    let entries_before = journal_entries(&t).await;
    // Same payment hash, a stranger's signature; the amount 1,000 msat or even the same.
    for amount in [1_000, 5_000_000] {
        let forged = forge_invoice(99, &invoice.payment_hash, Some(amount), "order 42");
        let refused = w.pay(&w.treasury, &forged).await;
        assert!(
            matches!(refused, Err(GatewayError::InvoiceMismatch)),
            "{refused:?}"
        );
    }
    let still = w
        .gateway
        .invoice(&Scope::All, &invoice.id)
        .await
        .expect("invoice");
    assert_eq!(
        (still.status, still.received_msat),
        (InvoiceStatus::Open, None)
    );
    assert_eq!(w.balance(&w.treasury).await, 50_000_000);
    assert_eq!(w.available(&w.treasury).await, 50_000_000, "no hold left");
    assert_eq!(journal_entries(&t).await, entries_before, "no ledger trace");
    assert!(w.alpha.sends().is_empty() && w.beta.sends().is_empty());

    // The invoice as issued (bech32 in capitals, as QR codes carry it) settles internally.
    let paid = w
        .pay(&w.treasury, &invoice.bolt11.to_uppercase())
        .await
        .expect("accepted");
    assert_eq!(paid.status, PaymentStatus::Succeeded);
    let paid = w
        .gateway
        .invoice(&Scope::All, &invoice.id)
        .await
        .expect("invoice");
    assert_eq!(
        (paid.status, paid.received_msat),
        (InvoiceStatus::Paid, Some(5_000_000))
    );
    assert_eq!(w.balance(&w.retail).await, 5_000_000);
}

async fn a_stale_failure_from_another_node_leaves_the_live_attempt_alone(t: TestStore) {
    let w = world(&t).await;
    let (invoice, first) = w.pay_outsider(1_000_000).await;
    let (tried, other) = match first.node.as_deref() {
        Some("alpha") => (&w.alpha, &w.beta),
        Some("beta") => (&w.beta, &w.alpha),
        other => panic!("sent by {other:?}"),
    };
    let failure = tried.fail(&invoice.payment_hash, "no route");
    w.deliver(failure.clone()).await;
    let failed = w
        .gateway
        .payment(&Scope::All, &first.id)
        .await
        .expect("payment");
    assert_eq!(failed.status, PaymentStatus::Failed);

    // The retry goes out on the other node (the first is out of rotation meanwhile).
    tried.set_running(false);
    let retry = w
        .pay(&w.treasury, &invoice.bolt11)
        .await
        .expect("retry accepted");
    let retry = w.in_flight(&retry.id).await;
    assert_eq!(retry.node.as_deref(), Some(other.name()));
    tried.set_running(true);
    let held = w.available(&w.treasury).await;
    assert!(
        held < 50_000_000 - 1_000_000,
        "the retry holds funds: {held}"
    );

    // The first node's failure, redelivered late: the retry on the other node is untouched.
    w.deliver(failure).await;
    let live = w
        .gateway
        .payment(&Scope::All, &retry.id)
        .await
        .expect("payment");
    assert_eq!(live.status, PaymentStatus::InFlight);
    assert_eq!(w.available(&w.treasury).await, held, "its hold stays");

    w.deliver(other.succeed(&invoice.payment_hash, 500)).await;
    let done = w
        .gateway
        .payment(&Scope::All, &retry.id)
        .await
        .expect("payment");
    assert_eq!(
        (done.status, done.fee_msat),
        (PaymentStatus::Succeeded, Some(500))
    );
    assert_eq!(w.balance(&w.treasury).await, 50_000_000 - 1_000_500);
    assert_eq!(w.available(&w.treasury).await, 50_000_000 - 1_000_500);
}

async fn a_success_is_booked_on_the_node_that_paid(t: TestStore) {
    let w = world(&t).await;
    let (invoice, sent) = w.pay_outsider(2_000_000).await;
    let (sender, bystander) = match sent.node.as_deref() {
        Some("alpha") => (&w.alpha, &w.beta),
        _ => (&w.beta, &w.alpha),
    };
    // The bystander pays the same invoice too (a retry the gateway lost track of): its
    // success is real money out of that node, and is booked there, once.
    bystander
        .pay_invoice(&invoice.bolt11, None, None)
        .await
        .expect("sent");
    let before_sender = node_balance(&w, sender.name()).await;
    let before_bystander = node_balance(&w, bystander.name()).await;
    w.deliver(bystander.succeed(&invoice.payment_hash, 100))
        .await;
    let done = w
        .gateway
        .payment(&Scope::All, &sent.id)
        .await
        .expect("payment");
    assert_eq!(done.status, PaymentStatus::Succeeded);
    assert_eq!(done.node.as_deref(), Some(bystander.name()));
    assert_eq!(node_balance(&w, sender.name()).await, before_sender);
    assert_ne!(node_balance(&w, bystander.name()).await, before_bystander);
    // The sender's own success, arriving after: nothing is booked twice.
    w.deliver(sender.succeed(&invoice.payment_hash, 100)).await;
    assert_eq!(node_balance(&w, sender.name()).await, before_sender);
    assert_eq!(w.balance(&w.treasury).await, 50_000_000 - 2_000_100);
}

async fn limits_beyond_any_column_are_refused_and_the_store_keeps_writing(t: TestStore) {
    let w = world(&t).await;
    for limits in [
        VelocityLimits {
            daily_eur_cents: Some(u64::MAX),
            monthly_eur_cents: None,
        },
        VelocityLimits {
            daily_eur_cents: None,
            monthly_eur_cents: Some(controls::MAX_LIMIT_EUR_CENTS + 1),
        },
    ] {
        let refused = w
            .gateway
            .set_velocity_limits(&admin(), &w.treasury, limits)
            .await;
        assert!(
            matches!(
                refused,
                Err(GatewayError::Controls(ControlsError::InvalidField { .. }))
            ),
            "{refused:?}"
        );
    }
    // Every write still goes through.
    let invoice = w.invoice(&w.retail, 1_000).await;
    assert_eq!(invoice.status, InvoiceStatus::Open);
    let set = w
        .gateway
        .set_velocity_limits(
            &admin(),
            &w.treasury,
            VelocityLimits {
                daily_eur_cents: Some(controls::MAX_LIMIT_EUR_CENTS),
                monthly_eur_cents: None,
            },
        )
        .await
        .expect("the largest limit fits");
    assert_eq!(set.daily_eur_cents, Some(controls::MAX_LIMIT_EUR_CENTS));
}

async fn journal_entries(t: &TestStore) -> i64 {
    t.store
        .read(|sql| sql.query_one("SELECT COUNT(*) FROM journal", &[])?.i64(0))
        .await
        .expect("count")
}

async fn node_balance(w: &World, node: &str) -> i64 {
    w.balance(&gateway::node_account(node)).await
}

async fn a_lost_event_is_reconciled_after_a_quiet_minute(t: TestStore) {
    let w = world(&t).await;
    let (invoice, sent) = w.pay_outsider(3_000_000).await;
    let node = w.issuer_of(sent.node.as_deref().expect("node"));
    // The node paid, but its event never reaches the gateway.
    let _lost = node.succeed(&invoice.payment_hash, 300);
    let round = w
        .gateway
        .reconcile_payments(60_000, gateway::MAX_RECONCILED_PER_ROUND, false)
        .await
        .expect("round");
    assert_eq!(
        round.looked_at, 0,
        "news within the quiet minute is awaited"
    );
    let waiting = w
        .gateway
        .payment(&Scope::All, &sent.id)
        .await
        .expect("payment");
    assert_eq!(waiting.status, PaymentStatus::InFlight);
    w.clock.advance_ms(60_001);
    let round = w
        .gateway
        .reconcile_payments(60_000, gateway::MAX_RECONCILED_PER_ROUND, false)
        .await
        .expect("round");
    assert_eq!((round.looked_at, round.settled), (1, 1));
    let done = w
        .gateway
        .payment(&Scope::All, &sent.id)
        .await
        .expect("payment");
    assert_eq!(
        (done.status, done.fee_msat),
        (PaymentStatus::Succeeded, Some(300))
    );
    assert_eq!(
        w.available(&w.treasury).await,
        50_000_000 - 3_000_300,
        "hold settled"
    );
}

async fn a_payment_whose_node_left_the_pool_is_stuck_until_it_returns(t: TestStore) {
    let w = world(&t).await;
    let (invoice, sent) = w.pay_outsider(4_000_000).await;
    let (gone, stays) = match sent.node.as_deref() {
        Some("alpha") => (&w.alpha, &w.beta),
        _ => (&w.beta, &w.alpha),
    };
    // A restart without the node that has the payment in flight.
    let (restarted, _) = gateway_over(&t.store, &w.clock, &[stays]).await;
    let stuck = restarted
        .payment(&Scope::All, &sent.id)
        .await
        .expect("payment");
    assert_eq!(stuck.status, PaymentStatus::Stuck, "{stuck:?}");
    let view = stuck.view();
    assert_eq!(view.status, "stuck");
    assert!(
        view.stuck
            .as_ref()
            .is_some_and(|s| s.reason.contains(gone.name())),
        "{view:?}"
    );
    assert_eq!(
        w.available(&w.treasury).await,
        50_000_000 - 4_000_000 - 10_000,
        "its funds stay held: the money may still move"
    );
    assert!(stays.sends().is_empty(), "never re-sent by another node");
    // The node returns, having paid meanwhile: the next start settles it.
    gone.succeed(&invoice.payment_hash, 40);
    let (back, _) = gateway_over(&t.store, &w.clock, &[&w.alpha, &w.beta]).await;
    let done = back.payment(&Scope::All, &sent.id).await.expect("payment");
    assert_eq!(
        (done.status, done.stuck_since_ms),
        (PaymentStatus::Succeeded, None)
    );
    assert_eq!(w.balance(&w.treasury).await, 50_000_000 - 4_000_040);
}

async fn a_second_replica_cannot_run_the_same_nodes_while_the_first_holds_them(t: TestStore) {
    let w = world(&t).await;
    let (_, sent) = w.pay_outsider(1_000_000).await;
    let node = w.issuer_of(sent.node.as_deref().expect("node"));
    let sends = node.sends().len();
    // Another replica, same configuration, its own connection to the same database.
    let second_store = store::Store::open(&store::StoreConfig::new(&t.url))
        .await
        .expect("second store");
    let second = replica(
        &second_store,
        &w.clock,
        &[&w.alpha, &w.beta],
        "installation-2",
    );
    let refused = second.start().await;
    assert!(
        matches!(refused, Err(GatewayError::NodeOwnedElsewhere { .. })),
        "{refused:?}"
    );
    assert_eq!(
        node.sends().len(),
        sends,
        "it re-sent nothing of the first's"
    );
    // Renewed leases keep it out; a lease left to expire (the first stalled) lets it in,
    // and the first, renewing late, finds its node gone and fences it.
    w.clock.advance_ms(gateway::NODE_LEASE_MS / 2);
    assert!(w
        .gateway
        .renew_node_leases()
        .await
        .expect("renew")
        .is_empty());
    w.clock.advance_ms(gateway::NODE_LEASE_MS / 2 + 1);
    assert!(matches!(
        second.start().await,
        Err(GatewayError::NodeOwnedElsewhere { .. })
    ));
    w.clock.advance_ms(gateway::NODE_LEASE_MS);
    second
        .start()
        .await
        .expect("the lease ran out: the second takes over");
    let lost = w.gateway.renew_node_leases().await.expect("renew");
    assert_eq!(lost.len(), 2, "{lost:?}");
    let fenced = w.gateway.pool().status();
    assert!(
        fenced
            .iter()
            .all(|n| matches!(n.health, node_pool::NodeHealth::Down { .. })),
        "{fenced:?}"
    );
}

async fn another_node_under_a_known_name_is_refused(t: TestStore) {
    let w = world(&t).await;
    let impostor = Arc::new(FakeNode::new("alpha", 9));
    w.gateway.release_node_leases().await.expect("released");
    let refused = replica(&t.store, &w.clock, &[&impostor], "installation-1")
        .start()
        .await;
    assert!(
        matches!(refused, Err(GatewayError::NodeIdentityMismatch { .. })),
        "{refused:?}"
    );
}

async fn a_fee_the_node_never_reported_is_not_booked_as_zero_but_reported(t: TestStore) {
    let w = world(&t).await;
    let (invoice, sent) = w.pay_outsider(1_500_000).await;
    let node = w.issuer_of(sent.node.as_deref().expect("node"));
    w.deliver(node.succeed_with_fee(&invoice.payment_hash, None))
        .await;
    let done = w
        .gateway
        .payment(&Scope::All, &sent.id)
        .await
        .expect("payment");
    assert_eq!(
        (done.status, done.fee_msat),
        (PaymentStatus::Succeeded, None)
    );
    assert_eq!(
        w.available(&w.treasury).await,
        50_000_000 - 1_500_000,
        "hold settled"
    );
    let books = w.gateway.check_books().await.expect("check");
    let row = books
        .nodes
        .iter()
        .find(|n| n.node == node.name())
        .expect("node row");
    assert_eq!(row.unknown_fee_payments, 1, "{row:?}");
    assert!(books.ledger.is_balanced());
}

/// What a hostile or unreliable world does to outgoing payments, in any order.
#[derive(Debug, Clone)]
enum Step {
    /// Pay invoice `i` (refused while one is live or paid).
    Pay(usize),
    /// The node with invoice `i`'s payment in flight reports success (fee in msat).
    Succeed(usize, u64),
    /// ... reports failure.
    Fail(usize),
    /// The last event the gateway saw arrives again.
    Redeliver,
    /// The other node reports a failure for invoice `i`'s hash (stale, cross-node).
    StaleFailure(usize),
    /// A quiet minute passes and the reconciler runs.
    Reconcile,
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        3 => (0..3usize).prop_map(Step::Pay),
        2 => (0..3usize, 0..5_000u64).prop_map(|(i, fee)| Step::Succeed(i, fee)),
        2 => (0..3usize).prop_map(Step::Fail),
        1 => Just(Step::Redeliver),
        1 => (0..3usize).prop_map(Step::StaleFailure),
        1 => Just(Step::Reconcile),
    ]
}

async fn run_steps(t: &TestStore, steps: Vec<Step>) {
    let w = world(t).await;
    let carol = FakeNode::new("carol", 3);
    let mut invoices = Vec::new();
    for amount in [1_000_000u64, 2_000_000, 3_000_000] {
        invoices.push(
            carol
                .create_invoice(amount, "goods", 600)
                .await
                .expect("invoice"),
        );
    }
    let mut last_event = None;
    // The live (in flight) payment of each invoice, and on which node.
    let mut live: Vec<Option<(String, String)>> = vec![None; 3];
    for step in steps {
        match step {
            Step::Pay(i) => {
                if let Ok(accepted) = w.pay(&w.treasury, &invoices[i].bolt11).await {
                    let p = w.in_flight(&accepted.id).await;
                    live[i] = Some((p.id, p.node.expect("node")));
                }
            }
            Step::Succeed(i, fee) => {
                if let Some((_, node)) = live[i].take() {
                    let event = w.issuer_of(&node).succeed(&invoices[i].payment_hash, fee);
                    w.deliver(event.clone()).await;
                    last_event = Some(event);
                }
            }
            Step::Fail(i) => {
                if let Some((_, node)) = live[i].take() {
                    let event = w
                        .issuer_of(&node)
                        .fail(&invoices[i].payment_hash, "no route");
                    w.deliver(event.clone()).await;
                    last_event = Some(event);
                }
            }
            Step::Redeliver => {
                if let Some(event) = &last_event {
                    w.deliver(event.clone()).await;
                }
            }
            Step::StaleFailure(i) => {
                let other = match live[i].as_ref().map(|(_, n)| n.as_str()) {
                    Some("alpha") => &w.beta,
                    _ => &w.alpha,
                };
                w.deliver(other.fail(&invoices[i].payment_hash, "stale"))
                    .await;
            }
            Step::Reconcile => {
                w.clock.advance_ms(60_001);
                w.gateway
                    .reconcile_payments(60_000, gateway::MAX_RECONCILED_PER_ROUND, false)
                    .await
                    .expect("round");
            }
        }
    }
    // The books: every payment final at most once, balances as the payments say.
    let rows = t
        .store
        .read(|sql| {
            sql.query(
                "SELECT payment_hash, status, amount_msat, COALESCE(fee_msat, 0), max_fee_msat \
                 FROM payments",
                &[],
            )
        })
        .await
        .expect("payments");
    let mut spent = 0i64;
    let mut held = 0u64;
    let mut succeeded = std::collections::BTreeMap::<String, u32>::new();
    for row in &rows {
        let (hash, status) = (row.text(0).expect("hash"), row.text(1).expect("status"));
        let (amount, fee, max_fee) = (
            row.i64(2).expect("amount"),
            row.i64(3).expect("fee"),
            row.u64(4).expect("max fee"),
        );
        match status {
            "succeeded" => {
                spent += amount + fee;
                *succeeded.entry(hash.to_string()).or_default() += 1;
            }
            "pending" | "in_flight" => held += amount as u64 + max_fee,
            _ => {}
        }
    }
    assert!(succeeded.values().all(|n| *n == 1), "{succeeded:?}");
    // And as the nodes say: what left them is what the books spent.
    let mut left_nodes = 0i64;
    for node in [&w.alpha, &w.beta] {
        for invoice in &invoices {
            if let Some(p) = node.payment(&invoice.payment_hash) {
                if p.state == node_pool::PaymentState::Succeeded {
                    left_nodes += (p.amount_msat.unwrap_or(0) + p.fee_msat.unwrap_or(0)) as i64;
                }
            }
        }
    }
    assert_eq!(left_nodes, spent, "books against nodes: {rows:?}");
    let account = w
        .gateway
        .account(&Scope::All, &w.treasury)
        .await
        .expect("account");
    assert_eq!(account.balance_msat, 50_000_000 - spent, "{rows:?}");
    assert_eq!(account.pending_msat, held, "{rows:?}");
    let report = t.store.read(ledger::check_books).await.expect("check");
    assert!(report.is_balanced(), "{report:?}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

    /// Issue 22: the payment state machine under any order of sends, outcomes, duplicates,
    /// stale cross-node reports and reconciliation keeps the books exact.
    #[test]
    fn payments_keep_the_books_exact_whatever_the_events(
        steps in proptest::collection::vec(step(), 1..25)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let t = TestStore::sqlite().await.expect("store");
            run_steps(&t, steps).await;
        });
    }
}

/// A tenant floods the books with invoices that all expire at once: each sweep expires one
/// bounded batch in one transaction and says how many are left, so the job's backlog gauge
/// shows the flood draining instead of one unbounded write holding the store.
async fn a_flood_of_invoices_expires_in_bounded_sweeps_that_report_the_rest(t: TestStore) {
    let w = world(&t).await;
    const FLOOD: usize = 510;
    let mut last_expiry_ms = 0;
    for _ in 0..FLOOD {
        let invoice = w
            .gateway
            .create_invoice(
                &admin(),
                NewInvoice {
                    account_id: w.retail.clone(),
                    amount_msat: 1_000,
                    description: "flood".into(),
                    expiry_secs: Some(60),
                    payer: None,
                },
            )
            .await
            .expect("invoice");
        last_expiry_ms = last_expiry_ms.max(invoice.expires_at_ms);
    }
    let none_due = w.gateway.expire_invoices().await.expect("sweep");
    assert_eq!((none_due.expired, none_due.backlog), (0, 0));
    // The node dates each invoice by the wall clock: creating the flood takes real time.
    w.clock
        .advance_ms(last_expiry_ms + 1_000 - kernel::Clock::now_ms(w.clock.as_ref()));
    let first = w.gateway.expire_invoices().await.expect("sweep");
    assert_eq!((first.expired, first.backlog), (500, 10));
    let second = w.gateway.expire_invoices().await.expect("sweep");
    assert_eq!((second.expired, second.backlog), (10, 0));
    let expired = t
        .store
        .read(|sql| {
            sql.query_one(
                "SELECT COUNT(*) FROM invoices WHERE status = 'expired'",
                &[],
            )?
            .i64(0)
        })
        .await
        .expect("count");
    assert_eq!(expired, FLOOD as i64);
}

/// A limits stage that allows one payment per account, ever: it counts the account's holds
/// in the payment's transaction, so it sees another replica's payment that committed
/// while this one was being checked.
struct OneHoldPerAccount;

#[async_trait::async_trait]
impl gateway::Stage for OneHoldPerAccount {
    fn name(&self) -> &'static str {
        "one_hold_per_account"
    }

    fn in_tx(
        &self,
        sql: &mut dyn store::Sql,
        draft: &gateway::PaymentDraft,
        _now_ms: i64,
    ) -> Result<gateway::Verdict, GatewayError> {
        let holds = sql
            .query_one(
                "SELECT COUNT(*) FROM holds WHERE account_id = $1",
                &[draft.account.id.as_str().into()],
            )?
            .i64(0)?;
        Ok(if holds == 0 {
            gateway::Verdict::Allow
        } else {
            gateway::Verdict::Reject {
                code: "one_hold_per_account".into(),
                reason: "this account already has a payment".into(),
            }
        })
    }
}

/// Two replicas on their own store handles pay from one account at the same moment, each
/// through a pipeline whose limits stage allows one payment per account: in every round
/// exactly one is accepted and the other rejected (recorded, nothing held), because the
/// stage runs with the payer's row locked. Without that lock both would read no hold.
async fn a_stage_in_the_transaction_sees_a_concurrent_payments_hold(t: TestStore) {
    let w = world(&t).await;
    let second = t.second_handle().await.expect("second handle");
    let replica_over = |store: &store::Store, instance: &str| {
        replica_with(&w, store, instance, |pipeline| {
            let pipeline = pipeline.with_stage(gateway::Slot::Limits, Arc::new(OneHoldPerAccount));
            // The stage sits in its slot, before the approvals, though added last (the
            // builder adds the compliance stages, which screen against its lists).
            assert_eq!(
                pipeline.stage_names(),
                ["validate", "velocity", "one_hold_per_account", "approvals"]
            );
            pipeline
        })
    };
    let (one, two) = (
        replica_over(&t.store, "replica-1"),
        replica_over(&second, "replica-2"),
    );
    // Not started, but screening as a started replica does.
    for replica in [&one, &two] {
        replica.screening().refresh().await.expect("lists load");
    }
    let carol = FakeNode::new("carol", 3);
    for round in 0..8 {
        let account = w
            .gateway
            .create_account(&admin(), "treasury", &format!("round-{round}"))
            .await
            .expect("account")
            .id;
        fund(&w, &account, 1_000_000).await;
        let mut bolt11 = Vec::new();
        for i in 0..2 {
            let invoice = carol
                .create_invoice(10_000, &format!("round {round} payment {i}"), 600)
                .await
                .expect("invoice");
            bolt11.push(invoice.bolt11);
        }
        let pay = |gateway: Gateway, bolt11: String| {
            let account = account.clone();
            async move {
                gateway
                    .create_payment(
                        &admin(),
                        NewPayment {
                            account_id: account,
                            bolt11,
                            amount_msat: None,
                            max_fee_msat: Some(1_000),
                            beneficiary: None,
                        },
                        None,
                    )
                    .await
            }
        };
        let (a, b) = tokio::join!(
            pay(one.clone(), bolt11[0].clone()),
            pay(two.clone(), bolt11[1].clone())
        );
        let mut statuses = [a.expect("first").status, b.expect("second").status];
        statuses.sort_by_key(|s| s.as_str());
        assert_eq!(
            statuses,
            [PaymentStatus::Pending, PaymentStatus::Rejected],
            "round {round}"
        );
        let holds = t
            .store
            .read({
                let account = account.clone();
                move |sql| {
                    sql.query_one(
                        "SELECT COUNT(*) FROM holds WHERE account_id = $1",
                        &[account.as_str().into()],
                    )?
                    .i64(0)
                }
            })
            .await
            .expect("holds");
        assert_eq!(holds, 1, "round {round}");
    }
}

/// Pays `amount_msat` into `account` from outside, through one of its invoices.
async fn fund(w: &World, account: &str, amount_msat: u64) {
    let invoice = w.invoice(account, amount_msat).await;
    let node = w.issuer_of(&invoice.node);
    w.deliver(node.receive(&invoice.payment_hash, amount_msat))
        .await;
}

/// An inbound stage that holds receipts of 1,000,000 msat or more (a screening stand-in).
struct HoldLarge;

impl gateway::InboundStage for HoldLarge {
    fn name(&self) -> &'static str {
        "hold_large"
    }

    fn in_tx(
        &self,
        _sql: &mut dyn store::Sql,
        receipt: &gateway::Receipt,
        _now_ms: i64,
    ) -> Result<gateway::InboundVerdict, GatewayError> {
        Ok(if receipt.amount_msat >= 1_000_000 {
            gateway::InboundVerdict::Hold {
                code: "large_receipt".into(),
                reason: "received amount needs a review".into(),
                alerts: Vec::new(),
            }
        } else {
            gateway::InboundVerdict::Credit
        })
    }
}

/// The inbound path on both stores: a large receipt pays its invoice but credits the
/// suspense account; the node's repeated report changes nothing; two replicas release it
/// at once and exactly one release credits the account; a small receipt is credited
/// directly. The books stay balanced throughout.
async fn a_held_receipt_waits_in_suspense_until_one_release_credits_the_account(t: TestStore) {
    let w = world(&t).await;
    let second = t.second_handle().await.expect("second handle");
    let screened = |store: &store::Store, instance: &str| {
        replica_with(&w, store, instance, |pipeline| {
            pipeline.with_inbound_stage(Arc::new(HoldLarge))
        })
    };
    let (one, two) = (
        screened(&t.store, "replica-1"),
        screened(&second, "replica-2"),
    );
    let sink = one.event_sink();
    let suspense = || async {
        w.gateway
            .account(&Scope::All, gateway::SUSPENSE_ACCOUNT)
            .await
            .expect("suspense")
            .balance_msat
    };
    let before = w.balance(&w.retail).await;
    let large = w.invoice(&w.retail, 2_000_000).await;
    let node = w.issuer_of(&large.node);
    let receipt = node.receive(&large.payment_hash, 2_000_000);
    sink.handle(&receipt).await.expect("received");
    sink.handle(&receipt).await.expect("reported again");
    let paid = w
        .gateway
        .invoice(&Scope::All, &large.id)
        .await
        .expect("invoice");
    assert_eq!(paid.status, InvoiceStatus::Paid, "the payer did pay");
    assert_eq!(w.balance(&w.retail).await, before, "not the customer's yet");
    assert_eq!(suspense().await, 2_000_000);
    let hold_id = t
        .store
        .read(|sql| {
            let rows = sql.query("SELECT id FROM inbound_holds", &[])?;
            assert_eq!(rows.len(), 1, "one hold, however often reported");
            Ok::<_, store::StoreError>(rows[0].text("id")?.to_string())
        })
        .await
        .expect("hold");
    let hold = one
        .inbound_hold(&Scope::Tenant("retail".into()), &hold_id)
        .await
        .expect("the tenant sees its hold");
    assert_eq!(
        (hold.state, hold.code.as_str(), hold.amount_msat),
        (gateway::InboundHoldState::Held, "large_receipt", 2_000_000)
    );
    assert!(matches!(
        one.inbound_hold(&Scope::Tenant("treasury".into()), &hold_id)
            .await,
        Err(GatewayError::UnknownInboundHold(_))
    ));

    let admin = admin();
    let (a, b) = tokio::join!(
        one.release_inbound(&admin, &hold_id),
        two.release_inbound(&admin, &hold_id)
    );
    let released = [&a, &b].iter().filter(|r| r.is_ok()).count();
    assert_eq!(released, 1, "{a:?} {b:?}");
    assert!(
        [&a, &b]
            .iter()
            .any(|r| matches!(r, Err(GatewayError::InboundHoldDecided(_)))),
        "{a:?} {b:?}"
    );
    assert_eq!(w.balance(&w.retail).await, before + 2_000_000);
    assert_eq!(suspense().await, 0);

    let small = w.invoice(&w.retail, 500_000).await;
    let node = w.issuer_of(&small.node);
    sink.handle(&node.receive(&small.payment_hash, 500_000))
        .await
        .expect("received");
    assert_eq!(w.balance(&w.retail).await, before + 2_500_000);
    let report = w.gateway.check_books().await.expect("books");
    assert!(report.ledger.is_balanced(), "{report:?}");
}

/// A replica (not started) over `store` with the world's nodes and clock, and the standard
/// pipeline as `extend` changes it.
fn replica_with(
    w: &World,
    store: &store::Store,
    instance: &str,
    extend: impl FnOnce(gateway::Pipeline) -> gateway::Pipeline,
) -> Gateway {
    let pool = Arc::new(NodePool::new());
    for node in [&w.alpha, &w.beta] {
        pool.add(Arc::clone(node) as Arc<dyn LightningNode>)
            .expect("add");
    }
    let config = GatewayConfig {
        instance_id: Some(instance.to_string()),
        ..GatewayConfig::default()
    };
    let clock: Arc<dyn kernel::Clock> = w.clock.clone();
    let pipeline = extend(gateway::Pipeline::standard(
        config.network,
        Arc::clone(&clock),
        store.clone(),
    ));
    Gateway::builder(store.clone(), clock, Arc::new(RandomIds), config)
        .pipeline(pipeline)
        .build(pool)
}
