//! `fulgur bench`: the benchmarks behind BENCHMARKS.md. Each prints a markdown table on
//! stdout and, with `--json`, writes the same figures as JSON.

mod aml;
mod compliance;
mod connections;
mod gateway;
mod invoices;
mod keys;
mod load;
mod nodes;
mod screening;
mod suite;

use anyhow::Context;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum Which {
    /// Payments per second and latency between two nodes.
    Payments(nodes::PaymentsArgs),
    /// BOLT11 invoices per second from one node, no HTTP or gateway: LDK's ceiling for
    /// invoice creation through the API.
    Invoices(invoices::InvoicesArgs),
    /// The gateway through its HTTP API: API overhead, invoice creation, internal
    /// payments, and Lightning payments to an outside node, on SQLite or PostgreSQL.
    Gateway(gateway::GatewayArgs),
    /// The API under many open connections (a `fulgur demo` process under load).
    Connections(connections::ConnectionsArgs),
    /// Signatures and data-key wraps per second through the key store (SoftHSM2, software).
    Keystore(keys::KeystoreArgs),
    /// The transaction monitoring rules engine alone: payments evaluated per second.
    Aml(aml::AmlArgs),
    /// Name screening against the real OFAC list: quality, latency, names per second.
    Screening(screening::ScreeningArgs),
    /// What the compliance stages (sanctions, customer limits, monitoring) add to each
    /// payment inside the gateway's pipeline, with the real OFAC list loaded.
    Compliance(compliance::ComplianceArgs),
    /// Every benchmark above, then a summary (markdown and JSON) beside goals and peers.
    Suite(suite::SuiteArgs),
}

pub async fn run(which: Which) -> anyhow::Result<()> {
    match which {
        Which::Payments(args) => nodes::payments(args).await,
        Which::Invoices(args) => invoices::run(args).await,
        Which::Gateway(args) => gateway::run(args).await,
        Which::Connections(args) => connections::run(args).await,
        Which::Keystore(args) => tokio::task::block_in_place(|| keys::run(args)),
        Which::Screening(args) => tokio::task::block_in_place(|| screening::run(args)),
        Which::Aml(args) => tokio::task::block_in_place(|| aml::run(args)),
        Which::Compliance(args) => compliance::run(args).await,
        Which::Suite(args) => tokio::task::block_in_place(|| suite::run(args)),
    }
}

/// Writes a benchmark's figures as JSON to the `--json` file, if one was named.
fn write_json(
    path: Option<&std::path::Path>,
    figures: &impl serde::Serialize,
) -> anyhow::Result<()> {
    let Some(path) = path else { return Ok(()) };
    std::fs::write(path, serde_json::to_vec_pretty(figures)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// On-chain funds for a node that opens `channels` channels of the largest size, with room
/// for the fees (and never under 1 BTC).
fn funding_sat(channels: u64) -> u64 {
    (channels * lightning_lab::MAX_CHANNEL_SAT + 10_000_000).max(100_000_000)
}
