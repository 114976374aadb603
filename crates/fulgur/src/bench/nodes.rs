//! `fulgur bench payments`: invoice + pay between two real nodes over loopback TCP on the
//! devnet, durable storage (the group-commit log store, or ldk-node's SQLite), K concurrent
//! payers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use lightning_lab::{ChannelSpec, Lab, LabConfig, MAX_CHANNEL_SAT};
use node_pool::{LightningNode, NodeEvent, NodeStore};
use serde::Serialize;
use tokio::sync::oneshot;

use super::load::drive;

#[derive(Args, Clone)]
pub struct PaymentsArgs {
    /// Payments to make.
    #[arg(long, default_value_t = 2000)]
    payments: u32,
    /// Concurrent payers.
    #[arg(long, default_value_t = 32)]
    concurrency: u32,
    /// Amount per payment, sat.
    #[arg(long, default_value_t = 1)]
    amount_sat: u64,
    /// Channels from the payer to each payee (each carries at most 50 HTLCs in flight,
    /// LDK's default).
    #[arg(long, default_value_t = 2)]
    channels: u32,
    /// Payees, each with its own channels from the payer; payments take turns among them
    /// (channels to one peer share that peer's connection and state lock).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4))]
    payees: u32,
    /// Keep node state here (default: a fresh temporary directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Also write the result as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Node state store: `log` (group commit, the default) or `sqlite` (ldk-node's own).
    #[arg(long, default_value = "log", value_parser = parse_store)]
    store: NodeStore,
}

fn parse_store(value: &str) -> Result<NodeStore, String> {
    match value {
        "log" => Ok(NodeStore::Log),
        "sqlite" => Ok(NodeStore::Sqlite),
        other => Err(format!("unknown store {other:?}; use log or sqlite")),
    }
}

#[derive(Serialize)]
struct PaymentsResult {
    payments: u32,
    succeeded: u32,
    failed: u32,
    concurrency: u32,
    channels: u32,
    payees: u32,
    amount_sat: u64,
    elapsed_secs: f64,
    payments_per_sec: f64,
    latency_ms_p50: f64,
    latency_ms_p99: f64,
    latency_ms_max: f64,
}

/// Bound on one payment's wait for its outcome.
const PAYMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Per payment hash, where to send its outcome: `Ok` or the failure reason.
type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Result<(), String>>>>>;

pub async fn payments(args: PaymentsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.payments > 0 && args.concurrency > 0 && args.channels > 0,
        "payments, concurrency and channels must be positive"
    );
    anyhow::ensure!(
        u64::from(args.concurrency) <= 50 * u64::from(args.channels) * u64::from(args.payees),
        "at most 50 concurrent payers per channel (LDK accepts 50 HTLCs per channel)"
    );
    let data_dir = args.data_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("fulgur-bench-{}", std::process::id()))
    });
    let payee_names: Vec<String> = match args.payees {
        1 => vec!["payee".to_string()],
        n => (1..=n).map(|i| format!("payee{i}")).collect(),
    };
    let names: Vec<&str> = std::iter::once("payer")
        .chain(payee_names.iter().map(String::as_str))
        .collect();
    let mut config = LabConfig::new(data_dir.clone(), &names);
    config.store = args.store;
    config.funding_per_node_sat =
        super::funding_sat(u64::from(args.channels) * u64::from(args.payees));
    for payee in &payee_names {
        for _ in 0..args.channels {
            config = config.channel(ChannelSpec {
                from: "payer".into(),
                to: payee.clone(),
                capacity_sat: MAX_CHANNEL_SAT,
                push_msat: 0,
            });
        }
    }
    eprintln!(
        "bench: setting up payer and {payee_names:?} with {} channel(s) each in {}",
        args.channels,
        data_dir.display()
    );
    let lab = Lab::start(config).await.context("setting up the nodes")?;
    let payer = lab.node("payer")?;
    let payees = payee_names
        .iter()
        .map(|name| lab.node(name))
        .collect::<Result<Vec<_>, _>>()?;

    let waiters: Waiters = Arc::default();
    let dispatcher = tokio::spawn(dispatch_outcomes(payer.subscribe(), Arc::clone(&waiters)));
    let amount_msat = args.amount_sat * 1000;
    let load = drive("payments", args.payments, args.concurrency, |i| {
        let payee = Arc::clone(&payees[i as usize % payees.len()]);
        let (payer, waiters) = (Arc::clone(&payer), Arc::clone(&waiters));
        async move { one_payment(&*payer, &*payee, &waiters, amount_msat, i).await }
    })
    .await?;
    load.report_failures("payments");
    dispatcher.abort();
    let result = PaymentsResult {
        payments: args.payments,
        succeeded: load.ok,
        failed: load.failed,
        concurrency: args.concurrency,
        channels: args.channels,
        payees: args.payees,
        amount_sat: args.amount_sat,
        elapsed_secs: load.elapsed.as_secs_f64(),
        payments_per_sec: load.per_sec(),
        latency_ms_p50: load.ms_at(0.50),
        latency_ms_p99: load.ms_at(0.99),
        latency_ms_max: load.ms_max(),
    };
    println!("| payments | ok | failed | concurrency | payees | channels each | amount sat | payments/s | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} |",
        result.payments,
        result.succeeded,
        result.failed,
        result.concurrency,
        result.payees,
        result.channels,
        result.amount_sat,
        result.payments_per_sec,
        result.latency_ms_p50,
        result.latency_ms_p99,
        result.latency_ms_max
    );
    super::write_json(args.json.as_deref(), &result)?;
    lab.shutdown().await?;
    if args.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    Ok(())
}

/// Invoice on the payee, pay from the payer, wait for the payer's outcome event.
async fn one_payment(
    payer: &dyn LightningNode,
    payee: &dyn LightningNode,
    waiters: &Waiters,
    amount_msat: u64,
    i: u32,
) -> Result<(), String> {
    let invoice = payee
        .create_invoice(amount_msat, &format!("bench {i}"), 3600)
        .await
        .map_err(|e| format!("invoice: {e}"))?;
    let (done, outcome) = oneshot::channel();
    if let Ok(mut waiting) = waiters.lock() {
        waiting.insert(invoice.payment_hash.clone(), done);
    }
    payer
        .pay_invoice(&invoice.bolt11, None, None)
        .await
        .map_err(|e| format!("pay: {e}"))?;
    match tokio::time::timeout(PAYMENT_TIMEOUT, outcome).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err("event stream closed".to_string()),
        Err(_) => Err("timed out".to_string()),
    }
}

async fn dispatch_outcomes(
    mut events: tokio::sync::broadcast::Receiver<NodeEvent>,
    waiters: Waiters,
) {
    loop {
        let (hash, ok) = match events.recv().await {
            Ok(NodeEvent::PaymentSucceeded { payment_hash, .. }) => (payment_hash, Ok(())),
            Ok(NodeEvent::PaymentFailed {
                payment_hash: Some(payment_hash),
                reason,
                ..
            }) => (payment_hash, Err(reason)),
            Ok(_) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(skipped)) => {
                tracing::warn!(skipped, "bench fell behind the event stream");
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        if let Some(done) = waiters.lock().ok().and_then(|mut w| w.remove(&hash)) {
            let _ = done.send(ok);
        }
    }
}
