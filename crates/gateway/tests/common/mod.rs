//! What the gateway's approval and limit tests start from: alpha (ours, in the pool) and
//! carol (outside) with one channel, the gateway over them with EUR thresholds at a rate
//! where one EUR cent is 20 msat (so 20,000 EUR fits the channel), the treasury's
//! operating account, funding by carol and balances.
//! Each test binary uses a part.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gateway::{
    ApprovalSigner, EurRateConfig, Gateway, GatewayConfig, GatewaySink, KeyStoreApprovalSigner,
    NewInvoice,
};
use kernel::{Actor, Clock, RandomIds, Scope};
use keystore::{KeyStore, SoftwareStore};
use lightning_lab::{wait_until, Lab, LabConfig, DEFAULT_WAIT};
use node_pool::{LightningNode, NodePool};

/// 50,000,000 EUR per BTC: one EUR cent is 20 msat (the rate is configuration, recorded
/// with each decision).
pub const EUR_CENTS_PER_BTC: u64 = 5_000_000_000;
/// msat per euro at that rate.
pub const EUR: u64 = 2_000;

pub struct World {
    pub lab: Lab,
    pub gateway: Gateway,
    /// The gateway's approval signer: a key store that a test can make unreachable.
    pub hsm: Arc<Hsm>,
    /// Last: fields drop in order, and the nodes must stop before their directory goes.
    pub _dir: tempfile::TempDir,
}

/// The key store behind the gateway's approval signer, reachable or not (an HSM outage).
pub struct Hsm {
    pub keys: Arc<dyn KeyStore>,
    reachable: AtomicBool,
}

impl Hsm {
    pub fn set_reachable(&self, reachable: bool) {
        self.reachable.store(reachable, Ordering::SeqCst);
    }
}

impl ApprovalSigner for Hsm {
    fn sign(&self, label: &str, message: &[u8]) -> Result<String, String> {
        if !self.reachable.load(Ordering::SeqCst) {
            return Err("the HSM does not answer".into());
        }
        KeyStoreApprovalSigner(Arc::clone(&self.keys)).sign(label, message)
    }
}

pub async fn world(store: store::Store, clock: Arc<dyn Clock>) -> World {
    let dir = tempfile::tempdir().expect("dir");
    let hsm = Arc::new(Hsm {
        keys: Arc::new(SoftwareStore::create(&dir.path().join("keys"), "test").expect("keys")),
        reachable: AtomicBool::new(true),
    });
    let sink = GatewaySink::new();
    let lab = Lab::start(
        LabConfig::new(dir.path().join("lab"), &["alpha", "carol"])
            .balanced_channel("alpha", "carol", 2_000_000)
            .event_sink("alpha", sink.clone()),
    )
    .await
    .expect("lab");
    let pool = Arc::new(NodePool::new());
    let alpha: Arc<dyn LightningNode> = lab.node("alpha").expect("alpha");
    pool.add(alpha).expect("add");
    let gateway = Gateway::builder(
        store,
        clock,
        Arc::new(RandomIds),
        GatewayConfig {
            eur_rate: EurRateConfig {
                eur_cents_per_btc: EUR_CENTS_PER_BTC,
                source: "fixed:test".into(),
            },
            ..GatewayConfig::default()
        },
    )
    .event_sink(sink.clone())
    .approval_signer(hsm.clone())
    .build(pool);
    gateway.start().await.expect("start");
    World {
        _dir: dir,
        lab,
        gateway,
        hsm,
    }
}

impl World {
    /// The `treasury` business unit and its `operating` account.
    pub async fn treasury(&self, actor: &Actor) -> ledger::Account {
        self.gateway
            .create_tenant(actor, "treasury", "Treasury")
            .await
            .expect("tenant");
        self.gateway
            .create_account(actor, "treasury", "operating")
            .await
            .expect("account")
    }

    /// An account's balance.
    pub async fn balance(&self, account_id: &str) -> i64 {
        self.gateway
            .account(&Scope::All, account_id)
            .await
            .expect("account")
            .balance_msat
    }

    /// carol pays an invoice of `account_id` for `amount_msat`; returns once credited.
    pub async fn fund(&self, actor: &Actor, account_id: &str, amount_msat: u64) {
        let invoice = self
            .gateway
            .create_invoice(
                actor,
                NewInvoice {
                    account_id: account_id.to_string(),
                    amount_msat,
                    description: "funding".into(),
                    expiry_secs: Some(600),
                    payer: None,
                },
            )
            .await
            .expect("invoice");
        self.lab
            .node("carol")
            .expect("carol")
            .pay_invoice(&invoice.bolt11, None, None)
            .await
            .expect("carol pays");
        let balance = || {
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current()
                    .block_on(self.gateway.account(&Scope::All, account_id))
            })
            .expect("account")
            .balance_msat
        };
        // A large receipt is held for a compliance review: an officer releases it.
        let held = || {
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(self.gateway.alerts(
                    compliance::AlertFilter {
                        invoice_id: Some(invoice.id.clone()),
                        state: Some(compliance::AlertState::Open),
                        limit: 10,
                        ..compliance::AlertFilter::default()
                    },
                ))
            })
            .expect("alerts")
        };
        wait_until("funded or held", DEFAULT_WAIT, || {
            balance() >= amount_msat as i64 || !held().is_empty()
        })
        .await
        .expect("funded or held");
        for alert in held() {
            self.gateway
                .decide_alert(
                    &Actor::system("officer"),
                    &alert.id,
                    compliance::AlertDecision::Release,
                    "funding from our own treasury",
                )
                .await
                .expect("released");
        }
        wait_until("funded", DEFAULT_WAIT, || balance() >= amount_msat as i64)
            .await
            .expect("funded");
    }
}

/// Racing internal payments' outcomes: how many succeeded and how many were refused (each
/// refusal checked by `refused`, which panics on anything else).
pub async fn tally(
    racing: Vec<tokio::task::JoinHandle<Result<gateway::Accepted, gateway::GatewayError>>>,
    refused: impl Fn(gateway::GatewayError),
) -> (usize, usize) {
    let (mut passed, mut refusals) = (0, 0);
    for outcome in racing {
        match outcome.await.expect("joined") {
            Ok(accepted) => {
                assert_eq!(
                    accepted.status,
                    gateway::PaymentStatus::Succeeded,
                    "internal"
                );
                passed += 1;
            }
            Err(e) => {
                refused(e);
                refusals += 1;
            }
        }
    }
    (passed, refusals)
}

/// Payments recorded on the store, whatever their state.
pub async fn payments_recorded(store: &store::Store) -> i64 {
    store
        .read(|sql| sql.query_one("SELECT COUNT(*) FROM payments", &[])?.i64(0))
        .await
        .expect("count")
}

/// `count` open invoices of `account_id` for `amount_msat` each.
pub async fn invoices(
    gateway: &Gateway,
    account_id: &str,
    count: usize,
    amount_msat: u64,
) -> Vec<String> {
    let mut invoices = Vec::with_capacity(count);
    for i in 0..count {
        let invoice = gateway
            .create_invoice(
                &Actor::system("test"),
                NewInvoice {
                    account_id: account_id.to_string(),
                    amount_msat,
                    description: format!("invoice {i}"),
                    expiry_secs: Some(600),
                    payer: None,
                },
            )
            .await
            .expect("invoice");
        invoices.push(invoice.bolt11);
    }
    invoices
}

/// Another replica of `gateway` over `store` (its own handle: its own writer), sharing
/// its nodes and instance, at the test rate unless `config` says otherwise; not started,
/// its screening lists loaded as a started replica's are.
pub async fn replica(store: store::Store, gateway: &Gateway, config: GatewayConfig) -> Gateway {
    let replica = Gateway::builder(
        store,
        Arc::new(kernel::SystemClock),
        Arc::new(RandomIds),
        GatewayConfig {
            instance_id: Some(gateway.instance().to_string()),
            eur_rate: EurRateConfig {
                eur_cents_per_btc: EUR_CENTS_PER_BTC,
                source: "fixed:test".into(),
            },
            ..config
        },
    )
    .build(Arc::clone(gateway.pool()));
    replica.screening().refresh().await.expect("lists load");
    replica
}

/// A platform officer of their own: own credential, subject and identity (for the
/// changes that need two people).
pub fn officer(name: &str) -> Actor {
    let mut actor = Actor::system("test");
    actor.origin.actor_id = format!("key_{name}");
    actor.origin.subject = name.to_string();
    actor.identity = format!("key_{name}");
    actor
}

/// `actor` pays `bolt11` from `account_id` (no idempotency key, no beneficiary).
pub async fn pay(
    gateway: &Gateway,
    actor: &Actor,
    account_id: &str,
    bolt11: String,
) -> Result<gateway::Accepted, gateway::GatewayError> {
    gateway
        .create_payment(
            actor,
            gateway::NewPayment {
                account_id: account_id.to_string(),
                bolt11,
                amount_msat: None,
                max_fee_msat: None,
                beneficiary: None,
            },
            None,
        )
        .await
}
