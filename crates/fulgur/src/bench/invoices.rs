//! `fulgur bench invoices`: BOLT11 invoices per second from one node, with no HTTP and no
//! gateway: what LDK and the node store cost per invoice (ldk-node signs the invoice,
//! lightning-invoice recovers and verifies that signature, the payment record is written
//! behind and synced). It is the ceiling `POST /v1/invoices` runs under on the same cores.
//! The node has the gateway bench's channels (balanced, to carol), so its invoices are
//! the same as the ones the API hands out.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use lightning_lab::{Lab, LabConfig, MAX_CHANNEL_SAT};
use node_pool::LightningNode;
use serde::Serialize;

use super::load::drive;

#[derive(Args, Clone)]
pub struct InvoicesArgs {
    /// Invoices to create.
    #[arg(long, default_value_t = 20_000)]
    invoices: u32,
    /// Invoices being created at once.
    #[arg(long, default_value_t = 64)]
    concurrency: u32,
    /// Balanced channels from the node to carol (as in `bench gateway`).
    #[arg(long, default_value_t = 8)]
    channels: u32,
    /// Also write the result as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Serialize)]
struct InvoicesResult {
    invoices: u32,
    ok: u32,
    failed: u32,
    concurrency: u32,
    invoices_per_sec: f64,
    latency_ms_p50: f64,
    latency_ms_p99: f64,
    latency_ms_max: f64,
}

/// Amount of each invoice (the gateway bench's internal amount).
const AMOUNT_MSAT: u64 = 1_000;

pub async fn run(args: InvoicesArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = LabConfig::new(dir.path().to_path_buf(), &["alpha", "carol"]);
    config.funding_per_node_sat = super::funding_sat(u64::from(args.channels));
    for _ in 0..args.channels {
        config = config.balanced_channel("alpha", "carol", MAX_CHANNEL_SAT);
    }
    eprintln!(
        "bench: setting up alpha and carol with {} channel(s)",
        args.channels
    );
    let lab = Lab::start(config).await.context("setting up the nodes")?;
    let alpha = lab.node("alpha")?;
    let load = drive("invoices", args.invoices, args.concurrency, |i| {
        let alpha = alpha.clone();
        async move {
            alpha
                .create_invoice(AMOUNT_MSAT, &format!("bench {i}"), 3_600)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await?;
    load.report_failures("invoices");
    let result = InvoicesResult {
        invoices: args.invoices,
        ok: load.ok,
        failed: load.failed,
        concurrency: args.concurrency,
        invoices_per_sec: load.per_sec(),
        latency_ms_p50: load.ms_at(0.50),
        latency_ms_p99: load.ms_at(0.99),
        latency_ms_max: load.ms_max(),
    };
    println!("| invoices | ok | failed | in flight | invoices/s | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.1} |",
        result.invoices,
        result.ok,
        result.failed,
        result.concurrency,
        result.invoices_per_sec,
        result.latency_ms_p50,
        result.latency_ms_p99,
        result.latency_ms_max
    );
    super::write_json(args.json.as_deref(), &result)?;
    lab.shutdown().await?;
    Ok(())
}
