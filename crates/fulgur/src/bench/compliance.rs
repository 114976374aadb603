//! `fulgur bench compliance`: what the compliance controls add to each payment, measured
//! inside the gateway's pipeline on SQLite or PostgreSQL with the real OFAC list loaded:
//! the sanctions stage (the payee's node and the beneficiary's name against the lists and
//! the watchlist), the customer stage (KYC and EUR limits over the customer's accounts,
//! its row locked) and the monitoring stage (every rule over the customer's last 30 days,
//! read in the payment's transaction). Payments are made one after another by a verified
//! customer's account to another account's invoices (settled in the ledger; the node is
//! the test double, so no Lightning time is in the figures), each naming its beneficiary.
//! Every stage records `fulgur_pipeline_stage_duration_seconds`; the bench reads those
//! samples (one per stage and phase per payment, in order) and sums the compliance
//! stages' per payment.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use gateway::{Gateway, GatewayConfig, NewInvoice, NewPayment};
use hdrhistogram::Histogram;
use kernel::{Actor, RandomIds, SystemClock};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use node_pool::{EventSink, LightningNode, NodePool};
use serde::Serialize;
use store::testing::TestStore;
use testkit::FakeNode;

/// The pipeline's compliance stages (their `Stage::name`).
const COMPLIANCE_STAGES: [&str; 3] = ["sanctions", "customer_limits", "monitoring"];

#[derive(Args, Clone)]
pub struct ComplianceArgs {
    /// `sqlite` (a file in a temporary directory) or `postgres` (a fresh database on
    /// FULGUR_TEST_DATABASE_URL, dropped afterwards).
    #[arg(long, default_value = "sqlite", value_parser = ["sqlite", "postgres"])]
    store: String,
    /// Payments made (the customer's history grows with them, up to the rules' window).
    #[arg(long, default_value_t = 2_000)]
    payments: u32,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Serialize)]
struct StageFigures {
    stage: String,
    latency_us_p50: u64,
    latency_us_p99: u64,
}

#[derive(Serialize)]
struct Figures {
    store: String,
    payments: u32,
    /// The three stages together, per payment.
    compliance_us_p50: u64,
    compliance_us_p99: u64,
    compliance_us_max: u64,
    stages: Vec<StageFigures>,
    /// Payments a rule held for review (velocity, as the payments come fast).
    held_for_review: u32,
}

fn us(h: &Histogram<u64>, q: f64) -> u64 {
    h.value_at_quantile(q)
}

/// The samples of each (stage, phase), in the order recorded.
fn stage_samples(snapshot: metrics_util::debugging::Snapshot) -> Vec<(String, Vec<f64>)> {
    snapshot
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "fulgur_pipeline_stage_duration_seconds")
        .filter_map(|(key, _, _, value)| {
            let label = |name: &str| {
                key.key()
                    .labels()
                    .find(|l| l.key() == name)
                    .map(|l| l.value().to_string())
            };
            let name = format!("{}/{}", label("stage")?, label("phase")?);
            match value {
                DebugValue::Histogram(values) => {
                    Some((name, values.into_iter().map(|v| v.into_inner()).collect()))
                }
                _ => None,
            }
        })
        .collect()
}

async fn setup(store: store::Store) -> anyhow::Result<(Gateway, Arc<FakeNode>, String, String)> {
    let node = Arc::new(FakeNode::new("alpha", 1));
    let pool = Arc::new(NodePool::new());
    pool.add(Arc::clone(&node) as Arc<dyn LightningNode>)?;
    let gateway = Gateway::builder(
        store,
        Arc::new(SystemClock),
        Arc::new(RandomIds),
        GatewayConfig {
            eur_rate: crate::demo_compliance::eur_rate(),
            ..GatewayConfig::default()
        },
    )
    .build(pool);
    gateway.start().await?;
    crate::lists_cmd::seed_bundled(gateway.screening())
        .await
        .context("loading the bundled OFAC list")?;
    let admin = Actor::system("bench");
    let mut accounts = Vec::new();
    for (tenant, unit) in [("treasury", "Group Treasury"), ("suppliers", "Suppliers")] {
        gateway.create_tenant(&admin, tenant, unit).await?;
        let customer = crate::demo_compliance::customer_of(&gateway, tenant, unit).await?;
        let account = gateway
            .create_customer_account(&admin, tenant, "main", Some(&customer))
            .await?;
        accounts.push(account.id);
    }
    Ok((gateway, node, accounts[0].clone(), accounts[1].clone()))
}

/// Credits `account` with `amount_msat` received by `node`, released from review.
async fn fund(
    gateway: &Gateway,
    node: &FakeNode,
    account: &str,
    amount_msat: u64,
) -> anyhow::Result<()> {
    let officer = Actor::system("bench");
    let invoice = gateway
        .create_invoice(
            &officer,
            NewInvoice {
                account_id: account.to_string(),
                amount_msat,
                description: "funding".into(),
                expiry_secs: Some(600),
                payer: None,
            },
        )
        .await?;
    gateway
        .event_sink()
        .handle(&node.receive(&invoice.payment_hash, amount_msat))
        .await
        .map_err(|e| anyhow::anyhow!("the receipt: {e}"))?;
    let held = gateway
        .alerts(compliance::AlertFilter {
            invoice_id: Some(invoice.id.clone()),
            state: Some(compliance::AlertState::Open),
            limit: 100,
            ..compliance::AlertFilter::default()
        })
        .await?;
    for alert in held {
        let release = compliance::AlertDecision::Release;
        gateway
            .decide_alert(&officer, &alert.id, release, "bench funding")
            .await?;
    }
    Ok(())
}

pub async fn run(args: ComplianceArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.payments >= 10, "--payments must be at least 10");
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .map_err(|e| anyhow::anyhow!("metrics recorder: {e}"))?;
    let t = match args.store.as_str() {
        "postgres" => TestStore::postgres().await?,
        _ => TestStore::sqlite().await?,
    };
    let (gateway, node, payer, payee) = setup(t.store.clone()).await?;
    // 20 EUR each; the funding covers them all with room for the fee.
    let amount_msat = crate::demo_compliance::msat_of_eur(20);
    fund(
        &gateway,
        &node,
        &payer,
        amount_msat * u64::from(args.payments) * 2,
    )
    .await?;
    // What funding and setup recorded is not a payment's.
    let _ = snapshotter.snapshot();
    let actor = Actor::system("bench");
    let mut held = 0;
    for at in 0..args.payments {
        let invoice = gateway
            .create_invoice(
                &actor,
                NewInvoice {
                    account_id: payee.clone(),
                    amount_msat,
                    description: format!("order {at}"),
                    expiry_secs: Some(600),
                    payer: None,
                },
            )
            .await?;
        let accepted = gateway
            .create_payment(
                &actor,
                NewPayment {
                    account_id: payer.clone(),
                    bolt11: invoice.bolt11,
                    amount_msat: None,
                    max_fee_msat: None,
                    beneficiary: Some(compliance::Query {
                        name: "Suppliers GmbH".into(),
                        kind: compliance::QueryKind::Organization,
                        country: Some("DE".into()),
                        birth_year: None,
                    }),
                },
                None,
            )
            .await?;
        if accepted.status == gateway::PaymentStatus::HeldForReview {
            held += 1;
        }
    }
    let samples = stage_samples(snapshotter.snapshot());
    let mut stages = Vec::new();
    let mut per_payment = vec![0.0f64; args.payments as usize];
    for (name, values) in &samples {
        let stage = name.split('/').next().unwrap_or_default();
        if !COMPLIANCE_STAGES.contains(&stage) {
            continue;
        }
        anyhow::ensure!(
            values.len() == args.payments as usize,
            "{name}: {} samples for {} payments",
            values.len(),
            args.payments
        );
        let mut h = Histogram::<u64>::new(3)?;
        for (at, seconds) in values.iter().enumerate() {
            per_payment[at] += seconds;
            h.record((seconds * 1e6).round() as u64)?;
        }
        stages.push(StageFigures {
            stage: name.clone(),
            latency_us_p50: us(&h, 0.5),
            latency_us_p99: us(&h, 0.99),
        });
    }
    stages.sort_by(|a, b| a.stage.cmp(&b.stage));
    anyhow::ensure!(
        stages.len() >= COMPLIANCE_STAGES.len(),
        "stages measured: {}",
        stages.len()
    );
    let mut total = Histogram::<u64>::new(3)?;
    for seconds in &per_payment {
        total.record((seconds * 1e6).round() as u64)?;
    }
    let figures = Figures {
        store: args.store.clone(),
        payments: args.payments,
        compliance_us_p50: us(&total, 0.5),
        compliance_us_p99: us(&total, 0.99),
        compliance_us_max: total.max(),
        stages,
        held_for_review: held,
    };
    println!(
        "compliance stages per payment ({}, {} payments, OFAC loaded, beneficiary screened): \
         p50 {} µs, p99 {} µs, max {} µs (goal: p99 < 2,000 µs); {} held for review",
        figures.store,
        figures.payments,
        figures.compliance_us_p50,
        figures.compliance_us_p99,
        figures.compliance_us_max,
        figures.held_for_review
    );
    for s in &figures.stages {
        println!(
            "  {:<28} p50 {:>6} µs  p99 {:>6} µs",
            s.stage, s.latency_us_p50, s.latency_us_p99
        );
    }
    super::write_json(args.json.as_deref(), &figures)?;
    drop(gateway);
    drop(t);
    Ok(())
}
