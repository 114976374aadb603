//! A node killed (SIGKILL) while payments are in flight loses nothing: after restart every
//! HTLC resolves, and payer and payee agree on exactly which payments happened.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use std::time::Duration;

use lightning_lab::{free_local_addr, wait_until, Lab, LabConfig, DEFAULT_WAIT};
use node_pool::{LightningNode, PaymentState};
use serde_json::Value;

const PAYMENTS: usize = 40;
const AMOUNT_SAT: u64 = 10_000;

struct NodeProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    node_id: String,
}

impl NodeProcess {
    fn spawn(dir: &Path, listen: SocketAddr, rpc: SocketAddr) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lab-node"))
            .args([
                "alpha",
                &dir.to_string_lossy(),
                &listen.to_string(),
                &rpc.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("lab-node starts");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let ready = read_json(&mut stdout);
        let node_id = ready["ready"]
            .as_str()
            .expect("ready line names the node")
            .to_string();
        Self {
            child,
            stdin,
            stdout,
            node_id,
        }
    }

    fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").expect("write command");
        self.stdin.flush().expect("flush");
    }

    fn ask(&mut self, command: &str) -> Value {
        self.send(command);
        read_json(&mut self.stdout)
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

fn read_json(stdout: &mut BufReader<ChildStdout>) -> Value {
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read answer");
    serde_json::from_str(&line).unwrap_or_else(|_| panic!("lab-node answered {line:?}"))
}

async fn poll(what: &str, mut check: impl FnMut() -> bool) {
    wait_until(what, DEFAULT_WAIT, &mut check)
        .await
        .expect(what);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payer_killed_mid_payments_loses_nothing_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = Lab::start(LabConfig::new(dir.path().to_path_buf(), &["beta"]))
        .await
        .expect("lab");
    let beta = lab.node("beta").expect("beta");
    let beta_peer = lab.peer_address("beta").expect("beta address");
    let (alpha_dir, alpha_listen, rpc) = (
        dir.path().join("alpha-process"),
        free_local_addr().expect("port"),
        lab.devnet.rpc_addr(),
    );

    let mut alpha = NodeProcess::spawn(&alpha_dir, alpha_listen, rpc);
    let address = alpha.ask("address")["address"]
        .as_str()
        .expect("address")
        .to_string();
    let script = address
        .parse::<devnet::bitcoin::Address<_>>()
        .expect("address")
        .assume_checked()
        .script_pubkey();
    lab.devnet
        .fund(&[(script, 20_000_000)])
        .expect("fund alpha");
    lab.mine(1).await.expect("mine");
    poll("alpha sees its funds", || {
        alpha.ask("balance")["onchain_sat"].as_u64() >= Some(20_000_000)
    })
    .await;
    let opened = alpha.ask(&format!(
        "open {} {} 5000000 0",
        beta_peer.node_id, beta_peer.address
    ));
    assert_eq!(opened["ok"], Value::Bool(true), "open: {opened}");
    poll("funding broadcast", || {
        !lab.devnet.mempool_txids().is_empty()
    })
    .await;
    lab.mine(6).await.expect("mine");
    poll("channel usable", || {
        alpha.ask("channels")["channels"][0]["usable"] == Value::Bool(true)
    })
    .await;
    poll("beta sees it usable", || {
        beta.channels().iter().any(|c| c.is_usable)
    })
    .await;

    let alpha_before_sat = alpha.ask("balance")["lightning_sat"]
        .as_u64()
        .expect("balance");
    let beta_before_sat = beta.inner().list_balances().total_lightning_balance_sats;
    let mut hashes = Vec::new();
    for i in 0..PAYMENTS {
        let invoice = beta
            .create_invoice(AMOUNT_SAT * 1000, &format!("crash {i}"), 3600)
            .await
            .expect("invoice");
        hashes.push(invoice.payment_hash);
        alpha.send(&format!("pay {}", invoice.bolt11));
    }
    // Let some payments get under way, then pull the plug without any shutdown.
    for _ in 0..PAYMENTS / 2 {
        read_json(&mut alpha.stdout);
    }
    let alpha_id = alpha.node_id.clone();
    alpha.kill();

    let mut alpha = NodeProcess::spawn(&alpha_dir, alpha_listen, rpc);
    assert_eq!(
        alpha.node_id, alpha_id,
        "the restarted node keeps its identity"
    );
    poll("channel usable after restart", || {
        alpha.ask("channels")["channels"][0]["usable"] == Value::Bool(true)
    })
    .await;
    let mut states = Vec::new();
    // Payments with HTLCs on the wire resolve after the restart. A payment ldk-node recorded
    // as pending before its channel manager was persisted stays "pending" without any HTLC
    // (known ldk-node 0.7 gap, see the issue note): tolerated here only if no money moved for
    // it, which the balance check below proves.
    let _ = wait_until(
        "every started payment resolves",
        Duration::from_secs(30),
        || {
            states = hashes
                .iter()
                .map(|h| alpha.ask(&format!("payment {h}"))["state"].clone())
                .collect();
            states.iter().all(|s| s.as_str() != Some("pending"))
        },
    )
    .await;
    // beta's records of unpaid invoices stay pending (ldk-node records an invoice as a pending
    // inbound payment); what matters is that beta succeeded exactly where alpha did.
    poll("payee agrees with payer", || {
        hashes.iter().zip(&states).all(|(h, state)| {
            (state.as_str() == Some("succeeded"))
                == beta
                    .payment(h)
                    .is_some_and(|p| p.state == PaymentState::Succeeded)
        })
    })
    .await;

    let mut succeeded = 0u64;
    for (hash, state) in hashes.iter().zip(&states) {
        let alpha_paid = state.as_str() == Some("succeeded");
        let beta_got = beta
            .payment(hash)
            .is_some_and(|p| p.state == PaymentState::Succeeded);
        assert_eq!(
            alpha_paid, beta_got,
            "payer and payee disagree on {hash}: alpha {state}"
        );
        succeeded += u64::from(alpha_paid);
    }
    assert!(
        succeeded > 0,
        "some payments went through before or after the kill"
    );
    poll("balances at rest", || {
        let alpha_now = alpha.ask("balance")["lightning_sat"].as_u64();
        alpha_now == Some(alpha_before_sat - succeeded * AMOUNT_SAT)
            && beta.inner().list_balances().total_lightning_balance_sats
                == beta_before_sat + succeeded * AMOUNT_SAT
    })
    .await;
    let stuck = states
        .iter()
        .filter(|s| s.as_str() == Some("pending"))
        .count();
    eprintln!("{succeeded} of {PAYMENTS} payments succeeded across the kill, {stuck} recorded but never sent; books balance on both sides");
    alpha.kill();
    lab.shutdown().await.expect("shutdown");
}
