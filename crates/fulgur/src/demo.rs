//! `fulgur demo`: the embedded default — devnet, three nodes, three balanced channels.

use std::net::SocketAddr;
use std::path::PathBuf;

use lightning_lab::{Lab, LabConfig, MAX_CHANNEL_SAT};
use node_pool::LightningNode;

/// alpha and beta belong to the enterprise; carol plays an outside counterparty.
const NODES: [&str; 3] = ["alpha", "beta", "carol"];
const CHANNELS: [(&str, &str); 3] = [("alpha", "carol"), ("beta", "carol"), ("alpha", "beta")];

pub async fn run(data_dir: PathBuf, devnet_rpc: SocketAddr) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut config = LabConfig::new(data_dir.clone(), &NODES);
    config.devnet_rpc = devnet_rpc;
    for (from, to) in CHANNELS {
        config = config.balanced_channel(from, to, MAX_CHANNEL_SAT);
    }
    println!(
        "fulgur demo: starting devnet and nodes in {}",
        data_dir.display()
    );
    let lab = Lab::start(config).await?;
    print_summary(&lab)?;
    print_examples(&lab);
    println!("up in {:.1} s", started.elapsed().as_secs_f64());
    println!("ready: http://{}", lab.devnet.rpc_addr());
    crate::shutdown_signal().await;
    println!("shutting down");
    lab.shutdown().await?;
    Ok(())
}

fn print_summary(lab: &Lab) -> anyhow::Result<()> {
    println!("\nnodes");
    println!(
        "  {:<6} {:<66} {:<21} {:>14}",
        "name", "node id", "listen", "on-chain sat"
    );
    let mut names_by_id = std::collections::HashMap::new();
    for name in lab.node_names() {
        let node = lab.node(&name)?;
        let info = node.info();
        names_by_id.insert(info.node_id.clone(), name.clone());
        println!(
            "  {:<6} {:<66} {:<21} {:>14}",
            name,
            info.node_id,
            info.listen.to_string(),
            node.onchain_balance().total_sat
        );
    }
    println!("\nchannels (as seen from each side)");
    println!(
        "  {:<15} {:>12} {:>16} {:>16} {:>6}",
        "node -> peer", "capacity sat", "outbound msat", "inbound msat", "usable"
    );
    for name in lab.node_names() {
        for channel in lab.node(&name)?.channels() {
            let peer = names_by_id
                .get(&channel.channel.counterparty)
                .cloned()
                .unwrap_or_else(|| "?".to_string());
            println!(
                "  {:<15} {:>12} {:>16} {:>16} {:>6}",
                format!("{name} -> {peer}"),
                channel.capacity_sat,
                channel.outbound_msat,
                channel.inbound_msat,
                channel.is_usable
            );
        }
    }
    println!();
    Ok(())
}

/// Commands that work when pasted, against this demo's devnet.
fn print_examples(lab: &Lab) {
    let rpc = lab.devnet.rpc_addr();
    let auth = format!("{}:{}", lab.devnet.rpc_user(), lab.devnet.rpc_password());
    let address = lab.devnet.faucet_address();
    println!("devnet RPC (bitcoind-compatible): http://{rpc}, user:password {auth}");
    println!("devnet Esplora: {}", lab.devnet.esplora_url());
    println!("  chain state:  curl -s -u {auth} -d '{{\"method\":\"getblockchaininfo\",\"params\":[]}}' http://{rpc}");
    println!("  mine a block: curl -s -u {auth} -d '{{\"method\":\"generatetoaddress\",\"params\":[1,\"{address}\"]}}' http://{rpc}");
    println!("  mempool:      curl -s -u {auth} -d '{{\"method\":\"getrawmempool\",\"params\":[]}}' http://{rpc}");
    println!("(the HTTP gateway with accounts, invoices and payments arrives with the gateway-core issue)");
}
