//! Crash safety of the whole process: `fulgur demo` (gateway, nodes and chain in one
//! process) is killed with SIGKILL during a burst of outgoing payments and incoming
//! invoice payments, restarted on the same data directory, and the clients retry with the
//! same idempotency keys. Then `fulgur ledger check` must find the books balanced and every
//! node holding exactly what the ledger says, no invoice paid twice, and the account's
//! balance equal to what its invoices and payments say.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

const OUTGOING: usize = 60;
const INCOMING: usize = 15;
const FUNDING_MSAT: u64 = 400_000_000;
const OUT_MSAT: u64 = 1_000_000;
const IN_MSAT: u64 = 700_000;

struct Demo {
    child: Child,
    api: String,
    treasury: String,
    retail: String,
    key: String,
    /// The demo's compliance officer (releases what the monitoring rules hold).
    officer: String,
}

fn start_demo(dir: &Path) -> Demo {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("demo.log"))
        .expect("log file");
    let mut demo = Demo {
        child: Command::new(env!("CARGO_BIN_EXE_fulgur"))
            .args([
                "demo",
                "--listen",
                "127.0.0.1:0",
                "--devnet-rpc",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("starts"),
        api: String::new(),
        treasury: String::new(),
        retail: String::new(),
        key: String::new(),
        officer: String::new(),
    };
    let stdout = demo.child.stdout.take().expect("stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|e| {
                let log = std::fs::read_to_string(dir.join("demo.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                panic!("demo did not come up ({e}): {tail:#?}")
            });
        if let Some(id) = line.strip_prefix("account treasury/operating: ") {
            demo.treasury = id.to_string();
        }
        if let Some(id) = line.strip_prefix("account retail/shop: ") {
            demo.retail = id.to_string();
        }
        if let Some(api) = line.strip_prefix("ready: http://") {
            demo.api = api.to_string();
            let key = |file: &str| {
                std::fs::read_to_string(dir.join(file))
                    .expect("key")
                    .trim()
                    .to_string()
            };
            demo.key = key("admin.key");
            demo.officer = key("compliance.key");
            return demo;
        }
    }
}

/// One HTTP/1.1 request; `None` if the server is gone (killed mid-request).
fn http(
    api: &str,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    idem: Option<&str>,
) -> Option<(u16, Value)> {
    let mut stream = TcpStream::connect(api).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(90)))
        .ok()?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let idem = idem
        .map(|k| format!("Idempotency-Key: {k}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {key}\r\n{idem}\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let json = response
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    Some((status, json))
}

impl Demo {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        http(&self.api, &self.key, method, path, body.as_ref(), None).expect("server answers")
    }

    fn kill(&mut self) {
        Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .expect("kill");
        let _ = self.child.wait();
    }
}

impl Drop for Demo {
    /// No demo outlives its test, even one that fails.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

fn carol_invoice(demo: &Demo, amount_msat: u64) -> String {
    let (status, body) = demo.call(
        "POST",
        "/devnet/counterparty/invoices",
        Some(json!({"amount_msat": amount_msat, "description": "crash"})),
    );
    assert_eq!(status, 201, "{body}");
    body["bolt11"].as_str().expect("bolt11").to_string()
}

fn our_invoice(demo: &Demo, amount_msat: u64) -> (String, String) {
    invoice_for(demo, &demo.treasury, amount_msat)
}

fn invoice_for(demo: &Demo, account: &str, amount_msat: u64) -> (String, String) {
    let (status, body) = demo.call(
        "POST",
        "/v1/invoices",
        Some(json!({"account_id": account, "amount_msat": amount_msat, "description": "in"})),
    );
    assert_eq!(status, 201, "{body}");
    (
        body["id"].as_str().expect("id").to_string(),
        body["bolt11"].as_str().expect("bolt11").to_string(),
    )
}

fn payment_request(demo: &Demo, bolt11: &str) -> Value {
    json!({"account_id": demo.treasury, "bolt11": bolt11})
}

/// Carol pays a treasury invoice of `FUNDING_MSAT` (20,000 EUR at the demo's rate: held
/// in suspense as a large receipt, which the demo's compliance officer releases);
/// returns once the account is credited.
fn fund_treasury(demo: &Demo) {
    let (funding, bolt11) = our_invoice(demo, FUNDING_MSAT);
    let (_, paid) = demo.call(
        "POST",
        "/devnet/counterparty/payments",
        Some(json!({"bolt11": bolt11})),
    );
    assert_eq!(paid["status"], "succeeded", "{paid}");
    let officer = |method: &str, path: &str, body: Option<Value>| {
        http(&demo.api, &demo.officer, method, path, body.as_ref(), None).expect("answers")
    };
    let mut held = Vec::new();
    wait_until("funding held for review", || {
        held = officer("GET", &format!("/v1/alerts?invoice_id={funding}"), None).1["data"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        !held.is_empty()
    });
    for alert in &held {
        let id = alert["id"].as_str().expect("alert id");
        let release = json!({"decision": "release", "reason": "test funding"});
        let (status, decided) = officer("POST", &format!("/v1/alerts/{id}/decide"), Some(release));
        assert_eq!(status, 200, "{decided}");
    }
    wait_until("funding credited", || {
        demo.call("GET", &format!("/v1/accounts/{}", demo.treasury), None)
            .1["balance_msat"]
            .as_u64()
            >= Some(FUNDING_MSAT)
    });
}

/// `fulgur ledger check` against the running demo.
fn ledger_check(demo: &Demo, dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fulgur"))
        .args([
            "ledger",
            "check",
            "--url",
            &format!("http://{}", demo.api),
            "--key-file",
        ])
        .arg(dir.join("admin.key"))
        .output()
        .expect("ledger check")
}

/// Most blocks mined to settle payments caught in force-closed channels: beyond every
/// HTLC's CLTV expiry (the route's deltas plus the invoice's final delta) and the claims'
/// confirmations.
const MAX_SETTLE_BLOCKS: u32 = 400;
const SETTLE_BURST_BLOCKS: u32 = 40;

/// Payments the dead demo's store holds as pending or in flight (read with the demo down).
fn unfinished_payments(dir: &Path) -> i64 {
    let url = format!("sqlite://{}", dir.join("fulgur.db").display());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = store::Store::open(&store::StoreConfig::new(&url))
            .await
            .expect("store");
        store
            .read(|sql| {
                sql.query_one(
                    "SELECT COUNT(*) FROM payments WHERE status IN ('pending', 'in_flight')",
                    &[],
                )?
                .i64(0)
            })
            .await
            .expect("count")
    })
}

fn mine(demo: &Demo, blocks: u32) {
    let started = std::time::Instant::now();
    let (status, body) = demo.call("POST", "/devnet/mine", Some(json!({ "blocks": blocks })));
    assert_eq!(status, 200, "{body}");
    eprintln!("mined {blocks} blocks in {:?}: {body}", started.elapsed());
}

/// Copies the demo's log where it outlives the test's temporary directory.
fn keep_log(dir: &Path) -> &'static str {
    let kept = "/tmp/fulgur-crash-demo.log";
    let _ = std::fs::copy(dir.join("demo.log"), kept);
    kept
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..240 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("timed out: {what}");
}

/// Most a force close may cost on chain: the commitment, HTLC and sweep transactions' fees
/// and anchors (the devnet quotes 2 sat/vB), plus sub-satoshi remainders.
const MAX_CLOSE_COST_MSAT: i64 = 50_000_000;

/// What the books say closes have cost so far (`sys_onchain_cost` runs negative).
fn onchain_cost_msat(demo: &Demo) -> i64 {
    let (status, account) = demo.call("GET", "/v1/accounts/sys_onchain_cost", None);
    assert_eq!(status, 200, "{account}");
    -account["balance_msat"].as_i64().expect("balance")
}

/// Kills the gateway while a burst of money movements runs inside the ledger (payments
/// from one business unit to another's invoices: holds, journal entries, invoice state,
/// idempotency keys), with Lightning quiet so no channel can be caught mid-update. After
/// the restart and the clients' retries, every transfer happened exactly once.
#[test]
fn a_gateway_killed_mid_ledger_burst_loses_and_doubles_nothing() {
    const TRANSFERS: usize = 300;
    const TRANSFER_MSAT: u64 = 1_000_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = start_demo(dir.path());
    fund_treasury(&demo);
    let invoices: Vec<(String, String)> = (0..TRANSFERS)
        .map(|_| invoice_for(&demo, &demo.retail, TRANSFER_MSAT))
        .collect();

    let mut clients = Vec::new();
    for (i, (_, bolt11)) in invoices.iter().enumerate() {
        let (api, key, body) = (
            demo.api.clone(),
            demo.key.clone(),
            payment_request(&demo, bolt11),
        );
        clients.push(std::thread::spawn(move || {
            http(
                &api,
                &key,
                "POST",
                "/v1/payments",
                Some(&body),
                Some(&format!("transfer-{i}")),
            )
        }));
    }
    std::thread::sleep(Duration::from_millis(30));
    demo.kill();
    let answered = clients
        .into_iter()
        .filter_map(|c| c.join().expect("client"))
        .count();
    eprintln!("{answered} of {TRANSFERS} transfers answered before the kill");
    assert!(answered < TRANSFERS, "the kill came mid-burst");

    let demo = start_demo(dir.path());
    let mut ids = Vec::new();
    for (i, (_, bolt11)) in invoices.iter().enumerate() {
        let body = payment_request(&demo, bolt11);
        let (status, accepted) = http(
            &demo.api,
            &demo.key,
            "POST",
            "/v1/payments",
            Some(&body),
            Some(&format!("transfer-{i}")),
        )
        .expect("answers");
        assert_eq!(status, 202, "retry answered {status}: {accepted}");
        assert_eq!(
            accepted["status"], "succeeded",
            "an internal transfer settles at once: {accepted}"
        );
        ids.push(accepted["id"].as_str().expect("id").to_string());
    }
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), TRANSFERS, "one payment per invoice");
    for (id, _) in &invoices {
        let invoice = demo.call("GET", &format!("/v1/invoices/{id}"), None).1;
        assert_eq!(invoice["status"], "paid", "{invoice}");
    }
    let (_, treasury) = demo.call("GET", &format!("/v1/accounts/{}", demo.treasury), None);
    let (_, retail) = demo.call("GET", &format!("/v1/accounts/{}", demo.retail), None);
    let moved = (TRANSFERS as u64 * TRANSFER_MSAT) as i64;
    assert_eq!(
        treasury["balance_msat"].as_i64(),
        Some(FUNDING_MSAT as i64 - moved),
        "{treasury}"
    );
    assert_eq!(retail["balance_msat"].as_i64(), Some(moved), "{retail}");
    assert_eq!(treasury["pending_msat"], 0);
    let output = ledger_check(&demo, dir.path());
    let check = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "books balance and match the nodes:\n{check}"
    );
}

/// SIGKILL while Lightning payments and receipts are in flight. ldk-node 0.7 persists a
/// channel's monitor before its manager, so a kill can make the restarted node force-close
/// a channel; the payments caught in it then settle on chain, the close is booked once its
/// funds are back in the wallet, and the test mines the blocks that takes.
#[test]
fn a_killed_gateway_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = start_demo(dir.path());

    // Fund the treasury account: carol pays one of its invoices.
    fund_treasury(&demo);

    // Prepare the burst: carol invoices we will pay, our invoices carol will pay.
    let outgoing: Vec<String> = (0..OUTGOING)
        .map(|_| carol_invoice(&demo, OUT_MSAT))
        .collect();
    let incoming: Vec<(String, String)> =
        (0..INCOMING).map(|_| our_invoice(&demo, IN_MSAT)).collect();

    // Channels a force close could take: each may cost at most a close's on-chain fees.
    let channels = demo
        .call("GET", "/v1/nodes", None)
        .1
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["channels"].as_array().map_or(0, Vec::len))
        .sum::<usize>() as i64;

    // The burst, and SIGKILL in the middle of it.
    let mut clients = Vec::new();
    for (i, bolt11) in outgoing.iter().enumerate() {
        let (api, key, body) = (
            demo.api.clone(),
            demo.key.clone(),
            payment_request(&demo, bolt11),
        );
        clients.push(std::thread::spawn(move || {
            http(
                &api,
                &key,
                "POST",
                "/v1/payments",
                Some(&body),
                Some(&format!("crash-{i}")),
            )
        }));
    }
    for (_, bolt11) in &incoming {
        let (api, key, body) = (
            demo.api.clone(),
            demo.key.clone(),
            json!({"bolt11": bolt11}),
        );
        clients.push(std::thread::spawn(move || {
            http(
                &api,
                &key,
                "POST",
                "/devnet/counterparty/payments",
                Some(&body),
                None,
            )
        }));
    }
    std::thread::sleep(Duration::from_millis(150));
    demo.kill();
    let answered = clients
        .into_iter()
        .filter_map(|c| c.join().expect("client thread"))
        .count();
    eprintln!(
        "{answered} of {} requests answered before the kill",
        OUTGOING + INCOMING
    );
    assert!(answered < OUTGOING + INCOMING, "the kill came mid-burst");
    let unfinished = unfinished_payments(dir.path());
    eprintln!("{unfinished} payments pending or in flight at the kill");
    assert!(unfinished > 0, "payments were in flight at the kill");

    // Restart; clients retry their payments with the same keys.
    let demo = start_demo(dir.path());
    let mut payment_ids = Vec::new();
    for (i, bolt11) in outgoing.iter().enumerate() {
        let body = payment_request(&demo, bolt11);
        let (status, accepted) = http(
            &demo.api,
            &demo.key,
            "POST",
            "/v1/payments",
            Some(&body),
            Some(&format!("crash-{i}")),
        )
        .expect("answers");
        // The first attempt either committed (its answer replays) or left nothing (the
        // retry creates the payment): 202 either way, never a second payment.
        assert_eq!(status, 202, "retry answered {status}: {accepted}");
        payment_ids.push(accepted["id"].as_str().expect("id").to_string());
    }

    // Every payment finishes. One caught in a force-closed channel settles on chain: by the
    // counterparty's preimage claim, or by our timeout claim once its CLTV expires, so blocks
    // are mined in bursts whenever the payments stop moving.
    let started = std::time::Instant::now();
    let mut finished: Vec<Option<Value>> = vec![None; payment_ids.len()];
    let mut last_progress = std::time::Instant::now();
    let mut mined = 0u32;
    while finished.iter().any(Option::is_none) {
        for (slot, id) in finished.iter_mut().zip(&payment_ids) {
            if slot.is_none() {
                let payment = demo.call("GET", &format!("/v1/payments/{id}"), None).1;
                if matches!(payment["status"].as_str(), Some("succeeded" | "failed")) {
                    *slot = Some(payment);
                    last_progress = std::time::Instant::now();
                }
            }
        }
        let open = finished.iter().filter(|p| p.is_none()).count();
        if open == 0 {
            break;
        }
        assert!(
            mined <= MAX_SETTLE_BLOCKS,
            "{open} payments still open after {mined} blocks (log: {})",
            keep_log(dir.path())
        );
        if last_progress.elapsed() > Duration::from_secs(10) {
            mine(&demo, SETTLE_BURST_BLOCKS);
            mined += SETTLE_BURST_BLOCKS;
            last_progress = std::time::Instant::now();
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let paid_out_msat: u64 = finished
        .iter()
        .flatten()
        .filter(|p| p["status"] == "succeeded")
        .map(|p| p["amount_msat"].as_u64().expect("amount") + p["fee_msat"].as_u64().expect("fee"))
        .sum();
    eprintln!(
        "payments final after {:?} and {mined} blocks: {} succeeded",
        started.elapsed(),
        finished
            .iter()
            .flatten()
            .filter(|p| p["status"] == "succeeded")
            .count()
    );

    // The books balance and match the nodes exactly. A channel LDK force-closed at the
    // restart is booked once its funds are back in the wallet (our own commitment's outputs
    // wait out the peer's CSV delay), so blocks are mined until then.
    let mut check = String::new();
    for round in 0.. {
        let output = ledger_check(&demo, dir.path());
        check = String::from_utf8_lossy(&output.stdout).to_string();
        if output.status.success() {
            break;
        }
        assert!(
            round < 40,
            "books do not balance or match the nodes (log: {}):\n{check}",
            keep_log(dir.path())
        );
        mine(&demo, 24);
        std::thread::sleep(Duration::from_secs(3));
    }
    eprintln!("{check}");
    let cost_msat = onchain_cost_msat(&demo);
    eprintln!("on-chain cost of force closes booked: {cost_msat} msat");
    assert!(
        (0..=MAX_CLOSE_COST_MSAT * channels).contains(&cost_msat),
        "{cost_msat} msat of on-chain costs for {channels} channels"
    );

    // Incoming: every invoice carol's node paid is credited, once. (A payment carol had in
    // flight at the kill may still be landing: re-read until the figures agree.)
    let mut last = Value::Null;
    wait_until("balance = invoices paid − payments made", || {
        let mut received_msat = FUNDING_MSAT;
        for (id, _) in &incoming {
            let invoice = demo.call("GET", &format!("/v1/invoices/{id}"), None).1;
            if invoice["status"] == "paid" {
                received_msat += invoice["received_msat"].as_u64().expect("received");
            }
        }
        last = demo
            .call("GET", &format!("/v1/accounts/{}", demo.treasury), None)
            .1;
        last["balance_msat"].as_i64() == Some(received_msat as i64 - paid_out_msat as i64)
            && last["pending_msat"] == 0
    });
    eprintln!("treasury after the crash: {last}");
}
