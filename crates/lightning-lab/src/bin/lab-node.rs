//! One ldk-node in its own process, driven by one command per stdin line with one JSON
//! answer per stdout line — so a test can SIGKILL a node in the middle of payments.
//!
//! Usage: `lab-node NAME STORAGE_DIR LISTEN_ADDR DEVNET_RPC_ADDR`
//! Commands: `address`, `open NODE_ID ADDR SAT PUSH_MSAT`, `pay BOLT11`, `payment HASH`,
//! `channels`, `balance`.

use std::io::BufRead;
use std::net::SocketAddr;

use node_pool::{ChainSource, LdkNode, LightningNode, NodeConfig, PaymentState, PeerAddress};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: lab-node NAME STORAGE_DIR LISTEN_ADDR DEVNET_RPC_ADDR");
        std::process::exit(2);
    }
    let (listen, rpc): (SocketAddr, SocketAddr) = match (args[3].parse(), args[4].parse()) {
        (Ok(l), Ok(r)) => (l, r),
        _ => {
            eprintln!("lab-node: LISTEN_ADDR and DEVNET_RPC_ADDR must be host:port");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let chain_source = ChainSource::BitcoindRpc {
            host: rpc.ip().to_string(),
            port: rpc.port(),
            user: "fulgur".into(),
            password: "fulgur".into(),
        };
        let config = NodeConfig::new(
            args[1].clone(),
            args[2].clone().into(),
            listen,
            chain_source,
        );
        let node = LdkNode::start(config).await.expect("node starts");
        println!("{{\"ready\":\"{}\"}}", node.info().node_id);
        let (lines_tx, mut lines) = tokio::sync::mpsc::channel::<String>(1024);
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                if lines_tx.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = lines.recv().await {
            println!("{}", answer(&node, &line).await);
        }
        let _ = node.stop().await;
    });
}

async fn answer(node: &LdkNode, line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let json = |v: serde_json::Value| v.to_string();
    match words.as_slice() {
        ["address"] => match node.new_onchain_address().await {
            Ok(a) => json(serde_json::json!({"address": a})),
            Err(e) => json(serde_json::json!({"error": e.to_string()})),
        },
        ["open", node_id, addr, sat, push] => {
            let peer = PeerAddress {
                node_id: node_id.to_string(),
                address: addr
                    .parse()
                    .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0))),
            };
            let result = node
                .open_channel(
                    &peer,
                    sat.parse().unwrap_or(0),
                    push.parse().unwrap_or(0),
                    false,
                )
                .await;
            json(
                serde_json::json!({"ok": result.is_ok(), "error": result.err().map(|e| e.to_string())}),
            )
        }
        ["pay", bolt11] => match node.pay_invoice(bolt11, None, None).await {
            Ok(hash) => json(serde_json::json!({"hash": hash})),
            Err(e) => json(serde_json::json!({"error": e.to_string()})),
        },
        ["payment", hash] => {
            let payment = node.payment(hash);
            let state = payment.as_ref().map(|p| match p.state {
                PaymentState::Pending => "pending",
                PaymentState::Succeeded => "succeeded",
                PaymentState::Failed { .. } => "failed",
            });
            let fee = payment.and_then(|p| p.fee_msat);
            json(serde_json::json!({"state": state, "fee_msat": fee}))
        }
        ["channels"] => {
            let channels: Vec<_> = node
                .channels()
                .iter()
                .map(|c| serde_json::json!({"usable": c.is_usable, "outbound_msat": c.outbound_msat, "inbound_msat": c.inbound_msat}))
                .collect();
            json(serde_json::json!({"channels": channels}))
        }
        ["balance"] => {
            let lightning_sat = node.inner().list_balances().total_lightning_balance_sats;
            json(
                serde_json::json!({"onchain_sat": node.onchain_balance().total_sat, "lightning_sat": lightning_sat}),
            )
        }
        _ => json(serde_json::json!({"error": format!("unknown command: {line}")})),
    }
}
