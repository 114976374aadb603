//! The gateway over real ldk-nodes on the devnet, on both stores: an outside node (carol)
//! pays our invoice and the account is credited once; an account pays carol and the hold
//! settles with the fee; a payment to our own invoice settles inside the ledger;
//! idempotency replays and refuses; bad input leaves no trace; the books match the nodes.

use std::sync::Arc;
use std::time::Duration;

use gateway::{
    Gateway, GatewayConfig, GatewayError, GatewaySink, Idempotency, InvoiceStatus, NewInvoice,
    NewPayment, PaymentStatus,
};
use kernel::{RandomIds, Scope, SystemClock};
use lightning_lab::{wait_until, Lab, LabConfig, DEFAULT_WAIT};
use node_pool::{LightningNode, NodePool, PaymentState};
use store::testing::TestStore;
use store::Store;

store::on_both_stores!(payments_flow_through_the_gateway_and_the_books_match_the_nodes);

const CHANNEL_SAT: u64 = 2_000_000;

struct World {
    lab: Lab,
    gateway: Gateway,
    /// Last: fields drop in order, and the nodes must stop before their directory goes.
    _dir: tempfile::TempDir,
}

/// alpha and beta are ours (in the gateway's pool, events into its books); carol is an
/// outside counterparty connected to both.
async fn world(store: Store) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = GatewaySink::new();
    let config = LabConfig::new(dir.path().to_path_buf(), &["alpha", "beta", "carol"])
        .balanced_channel("alpha", "carol", CHANNEL_SAT)
        .balanced_channel("beta", "carol", CHANNEL_SAT)
        .balanced_channel("alpha", "beta", CHANNEL_SAT)
        .event_sink("alpha", sink.clone())
        .event_sink("beta", sink.clone());
    let lab = Lab::start(config).await.expect("lab");
    let pool = Arc::new(NodePool::new());
    for name in ["alpha", "beta"] {
        let node: Arc<dyn LightningNode> = lab.node(name).expect("node");
        pool.add(node).expect("add");
    }
    let gateway = Gateway::builder(
        store,
        Arc::new(SystemClock),
        Arc::new(RandomIds),
        GatewayConfig::default(),
    )
    .event_sink(sink.clone())
    .build(pool);
    gateway.start().await.expect("gateway starts");
    World {
        _dir: dir,
        lab,
        gateway,
    }
}

async fn balance(gateway: &Gateway, account: &str) -> i64 {
    gateway
        .account(&Scope::All, account)
        .await
        .expect("account")
        .balance_msat
}

async fn wait_payment(gateway: &Gateway, id: &str) -> gateway::PaymentRecord {
    let mut last = None;
    for _ in 0..600 {
        let payment = gateway.payment(&Scope::All, id).await.expect("payment");
        if payment.status.is_final() {
            return payment;
        }
        last = Some(payment);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("payment never finished: {last:?}");
}

async fn journal_entries(store: &Store) -> i64 {
    store
        .read(|sql| sql.query_one("SELECT COUNT(*) FROM journal", &[])?.i64(0))
        .await
        .expect("count")
}

async fn payments_flow_through_the_gateway_and_the_books_match_the_nodes(t: TestStore) {
    // Held whole: a `..` pattern would drop the temp dir (and the nodes' files) at once.
    let world = world(t.store.clone()).await;
    let (lab, gateway) = (&world.lab, &world.gateway);
    let carol = lab.node("carol").expect("carol");
    let admin = Scope::All;
    gateway
        .create_tenant(&as_actor(&admin), "treasury", "Treasury")
        .await
        .expect("tenant");
    gateway
        .create_tenant(&as_actor(&admin), "retail", "Retail")
        .await
        .expect("tenant");
    let a = gateway
        .create_account(&as_actor(&admin), "treasury", "operating")
        .await
        .expect("a");
    let b = gateway
        .create_account(&as_actor(&admin), "treasury", "payroll")
        .await
        .expect("b");
    let retail = Scope::Tenant("retail".into());
    gateway
        .create_account(&as_actor(&retail), "retail", "shop")
        .await
        .expect("c");

    // Incoming: carol pays our invoice; the account is credited exactly once.
    let invoice = gateway
        .create_invoice(
            &as_actor(&admin),
            NewInvoice {
                account_id: a.id.clone(),
                amount_msat: 80_000_000,
                description: "order 1".into(),
                expiry_secs: Some(600),
                payer: None,
            },
        )
        .await
        .expect("invoice");
    assert_eq!(invoice.status, InvoiceStatus::Open);
    // Both pool nodes can receive: they issue invoices in turn.
    let mut issuers = std::collections::BTreeSet::new();
    for i in 0..2 {
        let spare = gateway
            .create_invoice(
                &as_actor(&admin),
                NewInvoice {
                    account_id: a.id.clone(),
                    amount_msat: 1_000,
                    description: format!("spare {i}"),
                    expiry_secs: Some(600),
                    payer: None,
                },
            )
            .await
            .expect("invoice");
        issuers.insert(spare.node);
    }
    assert_eq!(issuers.len(), 2, "alpha and beta take turns: {issuers:?}");
    carol
        .pay_invoice(&invoice.bolt11, None, None)
        .await
        .expect("carol pays");
    let mut paid = None;
    wait_until("invoice paid", DEFAULT_WAIT, || {
        paid = futures_now(gateway.invoice(&admin, &invoice.id));
        paid.as_ref()
            .is_some_and(|i| i.status == InvoiceStatus::Paid)
    })
    .await
    .expect("paid");
    assert_eq!(balance(gateway, &a.id).await, 80_000_000);

    // Outgoing: the account pays carol; amount plus fee leave it, preimage recorded.
    let carol_invoice = carol
        .create_invoice(30_000_000, "supplier", 600)
        .await
        .expect("carol invoice");
    let accepted = gateway
        .create_payment(
            &as_actor(&admin),
            NewPayment {
                account_id: a.id.clone(),
                bolt11: carol_invoice.bolt11.clone(),
                amount_msat: None,
                max_fee_msat: None,
                beneficiary: None,
            },
            None,
        )
        .await
        .expect("accepted");
    assert_eq!(accepted.status, PaymentStatus::Pending);
    let sent = wait_payment(gateway, &accepted.id).await;
    assert_eq!(sent.status, PaymentStatus::Succeeded, "{sent:?}");
    assert!(sent.preimage.is_some());
    let fee = sent.fee_msat.expect("fee recorded");
    assert_eq!(balance(gateway, &a.id).await, 50_000_000 - fee as i64);
    assert_eq!(
        carol.payment(&carol_invoice.payment_hash).map(|p| p.state),
        Some(PaymentState::Succeeded)
    );
    let a_now = gateway.account(&admin, &a.id).await.expect("a");
    assert_eq!(a_now.pending_msat, 0, "the hold settled");

    // Internal: our own invoice paid from another of our accounts, no Lightning.
    let b_invoice = gateway
        .create_invoice(
            &as_actor(&admin),
            NewInvoice {
                account_id: b.id.clone(),
                amount_msat: 10_000_000,
                description: "internal".into(),
                expiry_secs: None,
                payer: None,
            },
        )
        .await
        .expect("invoice");
    let internal = gateway
        .create_payment(
            &as_actor(&admin),
            NewPayment {
                account_id: a.id.clone(),
                bolt11: b_invoice.bolt11.clone(),
                amount_msat: None,
                max_fee_msat: None,
                beneficiary: None,
            },
            None,
        )
        .await
        .expect("internal");
    assert_eq!(internal.status, PaymentStatus::Succeeded);
    let record = gateway.payment(&admin, &internal.id).await.expect("record");
    assert_eq!(
        (record.route.as_str(), record.fee_msat),
        ("internal", Some(0))
    );
    assert_eq!(balance(gateway, &b.id).await, 10_000_000);
    assert_eq!(
        gateway
            .invoice(&admin, &b_invoice.id)
            .await
            .expect("inv")
            .status,
        InvoiceStatus::Paid
    );
    let again = gateway
        .create_payment(
            &as_actor(&admin),
            NewPayment {
                account_id: a.id.clone(),
                bolt11: b_invoice.bolt11.clone(),
                amount_msat: None,
                max_fee_msat: None,
                beneficiary: None,
            },
            None,
        )
        .await;
    assert!(matches!(again, Err(GatewayError::AlreadyPaid)), "{again:?}");

    // Idempotency: a replay answers the first result; another body is refused; concurrent
    // duplicates make one payment.
    let invoice_2 = carol
        .create_invoice(1_000_000, "idem", 600)
        .await
        .expect("inv");
    let key = |hash: &str| Idempotency {
        tenant_id: "treasury".into(),
        key: "key-1".into(),
        request_hash: hash.into(),
    };
    let request = NewPayment {
        account_id: a.id.clone(),
        bolt11: invoice_2.bolt11.clone(),
        amount_msat: None,
        max_fee_msat: None,
        beneficiary: None,
    };
    let mut racers = Vec::new();
    for _ in 0..8 {
        let (gateway, request, idem) = (gateway.clone(), request.clone(), key("body-1"));
        racers.push(tokio::spawn(async move {
            gateway
                .create_payment(&as_actor(&Scope::All), request, Some(idem))
                .await
        }));
    }
    let mut ids = Vec::new();
    for racer in racers {
        ids.push(racer.await.expect("join").expect("accepted").id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one payment for eight concurrent duplicates");
    let replay = gateway
        .create_payment(&as_actor(&admin), request.clone(), Some(key("body-1")))
        .await
        .expect("replay");
    assert!(replay.replayed);
    assert_eq!(
        (replay.id.as_str(), replay.status),
        (ids[0].as_str(), PaymentStatus::Pending)
    );
    let mismatch = gateway
        .create_payment(&as_actor(&admin), request.clone(), Some(key("body-2")))
        .await;
    assert!(matches!(mismatch, Err(GatewayError::IdempotencyMismatch)));
    wait_payment(gateway, &ids[0]).await;

    // Bad input: clear errors, no ledger trace.
    let entries_before = journal_entries(&t.store).await;
    let pay = |account: &str, bolt11: &str, amount: Option<u64>| NewPayment {
        account_id: account.to_string(),
        bolt11: bolt11.to_string(),
        amount_msat: amount,
        max_fee_msat: None,
        beneficiary: None,
    };
    let big = carol
        .create_invoice(900_000_000, "too big", 600)
        .await
        .expect("inv");
    let short = carol.create_invoice(1_000, "short", 1).await.expect("inv");
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let cases: Vec<(NewPayment, Scope, &str)> = vec![
        (
            pay(&a.id, "lnbcrt1garbage", None),
            admin.clone(),
            "invalid_invoice",
        ),
        (
            pay(&a.id, &big.bolt11, None),
            admin.clone(),
            "insufficient_funds",
        ),
        (
            pay(&a.id, &short.bolt11, None),
            admin.clone(),
            "invoice_expired",
        ),
        (
            pay("acc_nobody", &invoice_2.bolt11, None),
            admin.clone(),
            "account_not_found",
        ),
        (
            pay(&a.id, &big.bolt11, Some(1)),
            admin.clone(),
            "amount_mismatch",
        ),
        (
            pay(&a.id, &big.bolt11, None),
            retail.clone(),
            "account_not_found",
        ),
        (
            pay("sys_equity", &big.bolt11, None),
            admin.clone(),
            "not_a_customer_account",
        ),
    ];
    for (request, scope, code) in cases {
        let refused = gateway
            .create_payment(&as_actor(&scope), request.clone(), None)
            .await
            .expect_err("refused");
        assert_eq!(refused.code(), code, "{request:?}: {refused}");
    }
    let zero = gateway
        .create_invoice(
            &as_actor(&admin),
            NewInvoice {
                account_id: a.id.clone(),
                amount_msat: 0,
                description: String::new(),
                expiry_secs: None,
                payer: None,
            },
        )
        .await
        .expect_err("zero");
    assert_eq!(zero.code(), "invalid_field");
    assert_eq!(journal_entries(&t.store).await, entries_before, "no trace");
    assert_eq!(
        gateway
            .account(&admin, &a.id)
            .await
            .expect("a")
            .pending_msat,
        0
    );

    // The books: balanced, and each node holds what the ledger says.
    let check = gateway.check_books().await.expect("check");
    assert!(check.ok(), "{check:#?}");
    assert_eq!(check.nodes.len(), 2);
    let events: Vec<String> = t
        .store
        .read(|sql| {
            sql.query(
                "SELECT DISTINCT event_type FROM outbox ORDER BY event_type",
                &[],
            )?
            .iter()
            .map(|r| r.text(0).map(str::to_string))
            .collect::<Result<Vec<_>, store::StoreError>>()
        })
        .await
        .expect("events");
    for expected in [
        "invoice.created",
        "invoice.paid",
        "payment.created",
        "payment.succeeded",
    ] {
        assert!(
            events.contains(&expected.to_string()),
            "{expected} in {events:?}"
        );
    }
}

/// Polls a future once on the current runtime (for use inside `wait_until`'s closure).
fn futures_now<T>(future: impl std::future::Future<Output = Result<T, GatewayError>>) -> Option<T> {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future)).ok()
}

fn as_actor(scope: &Scope) -> kernel::Actor {
    kernel::Actor {
        scope: scope.clone(),
        origin: audit::Origin::system("req-test"),
        identity: "test".into(),
    }
}
