//! `fulgur bench`: the benchmarks behind BENCHMARKS.md. Each prints a markdown table on
//! stdout and, with `--json`, writes the same figures as JSON.

mod gateway;
mod load;
mod nodes;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum Which {
    /// Payments per second and latency between two nodes.
    Payments(nodes::PaymentsArgs),
    /// The gateway through its HTTP API: API overhead, invoice creation, internal
    /// payments, and Lightning payments to an outside node, on SQLite or PostgreSQL.
    Gateway(gateway::GatewayArgs),
}

pub async fn run(which: Which) -> anyhow::Result<()> {
    match which {
        Which::Payments(args) => nodes::payments(args).await,
        Which::Gateway(args) => gateway::run(args).await,
    }
}
