//! `fulgur bench gateway`: the gateway end to end through its HTTP API over loopback TCP,
//! on SQLite (a file, WAL, fsync per commit) or PostgreSQL (a fresh database). Nodes alpha
//! (and beta, ... with `--pool-nodes`) are the gateway's pool; carol is an outside node
//! with balanced channels to each. The client runs in the same process and shares the two
//! cores with the server.
//!
//! Phases, each closed-loop with `--concurrency` requests in flight:
//! 1. API overhead: `GET /healthz` (routing, no auth, no store) and `GET /v1/accounts/{id}`
//!    (bearer auth, a store read, JSON).
//! 2. Invoice creation: `POST /v1/invoices` (alpha signs a BOLT11 invoice and records it;
//!    the gateway writes invoice and outbox event in one transaction).
//! 3. Internal payments: `POST /v1/payments` for those invoices from another account: the
//!    gateway settles them in the ledger without Lightning.
//! 4. Lightning payments: `POST /v1/payments` for invoices carol created beforehand; a
//!    payment counts when its `payment.succeeded` webhook reaches the bench's receiver.
//!
//! Over 500 lines: one benchmark's setup, phases and report, which read best together.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use clap::Args;
use gateway::GatewaySink;
use lightning_lab::{Lab, LabConfig, MAX_CHANNEL_SAT};
use node_pool::{LightningNode, NodePool};
use serde::Serialize;
use serde_json::{json, Value};
use store::testing::TestStore;
use tokio::sync::oneshot;

use super::load::{drive, Load};
use crate::gateway_up;

#[derive(Args, Clone)]
pub struct GatewayArgs {
    /// `sqlite` (a file in a temporary directory) or `postgres` (a fresh database on
    /// FULGUR_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres,
    /// dropped afterwards).
    #[arg(long, default_value = "sqlite", value_parser = ["sqlite", "postgres"])]
    store: String,
    /// Requests per API-overhead endpoint.
    #[arg(long, default_value_t = 20_000)]
    reads: u32,
    /// Invoices to create (and then pay internally).
    #[arg(long, default_value_t = 5_000)]
    invoices: u32,
    /// Lightning payments to carol through the API.
    #[arg(long, default_value_t = 2_000)]
    payments: u32,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: u32,
    /// Lightning payments in flight (at most 50 per channel: LDK's HTLC slots).
    #[arg(long, default_value_t = 256)]
    payment_concurrency: u32,
    /// Nodes in the gateway's pool (alpha, beta, ...), each with `--channels` to carol.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=8))]
    pool_nodes: u32,
    /// Balanced channels from each pool node to carol.
    #[arg(long, default_value_t = 8)]
    channels: u32,
    /// Amount of each Lightning payment, sat.
    #[arg(long, default_value_t = 10_000)]
    amount_sat: u64,
    /// Put an approval policy in force whose one rule allows every payment, so each
    /// payment pays the approval stage's full cost (the policy read and the decision).
    #[arg(long)]
    approval_policy: bool,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Serialize)]
struct Phase {
    phase: String,
    store: String,
    pool_nodes: u32,
    requests: u32,
    concurrency: u32,
    ok: u32,
    failed: u32,
    per_sec: f64,
    latency_ms_p50: f64,
    latency_ms_p99: f64,
    latency_ms_max: f64,
}

impl Phase {
    fn new(phase: &str, args: &GatewayArgs, concurrency: u32, load: &Load) -> Self {
        load.report_failures(phase);
        let phase = Self {
            phase: if args.approval_policy {
                format!("{phase} [approval policy]")
            } else {
                phase.to_string()
            },
            store: args.store.clone(),
            pool_nodes: args.pool_nodes,
            requests: load.ok + load.failed,
            concurrency,
            ok: load.ok,
            failed: load.failed,
            per_sec: load.per_sec(),
            latency_ms_p50: load.ms_at(0.50),
            latency_ms_p99: load.ms_at(0.99),
            latency_ms_max: load.ms_max(),
        };
        eprintln!(
            "bench: {}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
            phase.phase, phase.per_sec, phase.latency_ms_p50, phase.latency_ms_p99
        );
        phase
    }
}

/// Largest invoice carol pays to fund the payer account (under the 10% in-flight limit
/// of one channel).
const FUNDING_CHUNK_MSAT: u64 = 1_000_000_000;
const INTERNAL_AMOUNT_MSAT: u64 = 1_000;
const POOL_NAMES: [&str; 8] = [
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
];

pub async fn run(args: GatewayArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.channels > 0 && args.payment_concurrency <= 50 * args.channels * args.pool_nodes,
        "at most 50 payments in flight per channel (LDK accepts 50 HTLCs per channel)"
    );
    let store = match args.store.as_str() {
        "postgres" => TestStore::postgres().await,
        _ => TestStore::sqlite().await,
    }
    .context("opening the store")?;
    let dir = tempfile::tempdir()?;
    let sink = GatewaySink::new();
    let ours: Vec<&str> = POOL_NAMES[..args.pool_nodes as usize].to_vec();
    let names: Vec<&str> = ours.iter().copied().chain(["carol"]).collect();
    let mut config = LabConfig::new(dir.path().to_path_buf(), &names);
    config.funding_per_node_sat = super::funding_sat(u64::from(args.channels));
    for node in &ours {
        config = config.event_sink(node, sink.clone());
        for _ in 0..args.channels {
            config = config.balanced_channel(node, "carol", MAX_CHANNEL_SAT);
        }
    }
    eprintln!(
        "bench: setting up {ours:?} and carol with {} channel(s) each",
        args.channels
    );
    let lab = Lab::start(config).await.context("setting up the nodes")?;
    let pool = Arc::new(NodePool::new());
    for node in &ours {
        pool.add(lab.node(node)?)?;
    }
    let carol = lab.node("carol")?;

    let files = gateway_up::AccessSetup::in_dir(dir.path());
    let running = gateway_up::start(
        store.store.clone(),
        pool,
        sink,
        "127.0.0.1:0".parse()?,
        &files,
        gateway_up::Services {
            gateway: gateway::GatewayConfig::default(),
            webhooks: webhooks::WebhookConfig {
                allow_http: true,
                // The bench's receiver listens on loopback.
                allowed_private_networks: vec!["127.0.0.0/8".parse()?],
                poll_interval_ms: 10,
                max_in_flight: 256,
                ..webhooks::WebhookConfig::default()
            },
            chain: Some(lab.rpc_chain_source()),
            // Probes would move money on the nodes under measurement.
            probes: None,
            keys: crate::key_setup::key_material(
                &store.store,
                crate::key_setup::KeysSection::local(dir.path())?.open()?,
                None,
                &audit::Origin::system("bench"),
            )
            .await?,
            // Payments are screened against the real list, as in production.
            bundled_lists: true,
        },
        None,
    )
    .await?;
    // The bootstrap key has the standard rate tier; the load runs on a bulk-tier key.
    let bootstrap = std::fs::read_to_string(&files.admin_key)?;
    let issued = Api::new(running.addr, bootstrap.trim(), 1)?
        .ok(
            "POST",
            "/v1/apikeys",
            json!({"name": "bench", "roles": ["admin"], "rate_tier": "bulk"}),
        )
        .await?;
    let key = issued["key"].as_str().context("issued key")?.to_string();
    let api = Api::new(running.addr, &key, args.concurrency)?;
    if args.approval_policy {
        allow_all_policy(&api, running.addr, bootstrap.trim()).await?;
    }
    let outcomes = Outcomes::default();
    let hook = outcomes.listen().await?;

    // Setup: a tenant, a payer funded by carol, a payee, a webhook for payment outcomes.
    api.ok(
        "POST",
        "/v1/tenants",
        json!({"id": "bench", "name": "Bench"}),
    )
    .await?;
    let payer = api.account("payer").await?;
    let payee = api.account("payee").await?;
    api.ok(
        "POST",
        "/v1/webhooks",
        json!({"tenant_id": "bench", "url": format!("http://{hook}/hook"),
               "event_types": ["payment.succeeded", "payment.failed"]}),
    )
    .await?;
    let amount_msat = args.amount_sat * 1_000;
    // Each Lightning payment holds its amount plus the gateway's maximum-fee floor.
    let fee_floor_msat = gateway::GatewayConfig::default().default_max_fee_floor_msat;
    let needed_msat = u64::from(args.payments) * (amount_msat + fee_floor_msat)
        + u64::from(args.invoices) * INTERNAL_AMOUNT_MSAT;
    fund(&api, &*carol, &payer, needed_msat).await?;

    let mut phases = Vec::new();
    let c = args.concurrency;
    let load = drive("healthz", args.reads, c, |_| {
        api.get_ok("/healthz".to_string())
    })
    .await?;
    phases.push(Phase::new("GET /healthz", &args, c, &load));
    let account_path = format!("/v1/accounts/{payer}");
    let load = drive("account", args.reads, c, |_| {
        api.get_ok(account_path.clone())
    })
    .await?;
    phases.push(Phase::new("GET /v1/accounts/{id}", &args, c, &load));

    let bolt11s: Arc<Mutex<Vec<String>>> = Arc::default();
    let load = drive("invoices", args.invoices, c, |i| {
        let (api, payee, bolt11s) = (api.clone(), payee.clone(), Arc::clone(&bolt11s));
        async move {
            let body = json!({"account_id": payee, "amount_msat": INTERNAL_AMOUNT_MSAT,
                              "description": format!("bench {i}")});
            let invoice = api.post("/v1/invoices", body).await?;
            let bolt11 = invoice["bolt11"].as_str().ok_or("no bolt11")?.to_string();
            bolt11s.lock().map_err(|_| "poisoned")?.push(bolt11);
            Ok(())
        }
    })
    .await?;
    phases.push(Phase::new("POST /v1/invoices", &args, c, &load));

    let ours = std::mem::take(&mut *bolt11s.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    let ours = Arc::new(ours);
    let load = drive("internal", ours.len() as u32, c, |i| {
        let (api, payer, ours) = (api.clone(), payer.clone(), Arc::clone(&ours));
        async move {
            let body = json!({"account_id": payer, "bolt11": ours[i as usize]});
            let accepted = api.post("/v1/payments", body).await?;
            match accepted["status"].as_str() {
                Some("succeeded") => Ok(()),
                other => Err(format!("internal payment {other:?}")),
            }
        }
    })
    .await?;
    phases.push(Phase::new("POST /v1/payments (internal)", &args, c, &load));

    eprintln!("bench: carol creates {} invoices", args.payments);
    let theirs = Arc::new(carol_invoices(&*carol, args.payments, amount_msat).await?);
    let pc = args.payment_concurrency;
    let load = drive("lightning", args.payments, pc, |i| {
        let (api, payer, theirs, outcomes) = (
            api.clone(),
            payer.clone(),
            Arc::clone(&theirs),
            outcomes.clone(),
        );
        async move {
            let body = json!({"account_id": payer, "bolt11": theirs[i as usize]});
            let accepted = api.post("/v1/payments", body).await?;
            let id = accepted["id"].as_str().ok_or("no id")?.to_string();
            outcomes.wait(&id).await
        }
    })
    .await?;
    phases.push(Phase::new(
        "POST /v1/payments (Lightning, until the webhook)",
        &args,
        pc,
        &load,
    ));

    print_table(&phases);
    super::write_json(args.json.as_deref(), &phases)?;
    running.stop().await?;
    lab.shutdown().await?;
    drop(store);
    Ok(())
}

/// Proposes (bench key) and approves (the bootstrap admin) a policy that allows everything.
async fn allow_all_policy(
    api: &Api,
    addr: std::net::SocketAddr,
    second_admin: &str,
) -> anyhow::Result<()> {
    let policy = json!({"approvers": [], "groups": {},
        "rules": [{"name": "allow-all", "then": "allow"}]});
    let proposed = api
        .ok("POST", "/v1/approval-policies", json!({"policy": policy}))
        .await?;
    let version = proposed["version"].as_i64().context("policy version")?;
    Api::new(addr, second_admin, 1)?
        .ok(
            "POST",
            &format!("/v1/approval-policies/{version}/approve"),
            json!({}),
        )
        .await?;
    Ok(())
}

fn print_table(phases: &[Phase]) {
    println!(
        "| phase | store | pool nodes | requests | in flight | ok | failed | per s | p50 ms | p99 ms | max ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for p in phases {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.1} |",
            p.phase,
            p.store,
            p.pool_nodes,
            p.requests,
            p.concurrency,
            p.ok,
            p.failed,
            p.per_sec,
            p.latency_ms_p50,
            p.latency_ms_p99,
            p.latency_ms_max
        );
    }
}

/// Carol pays invoices of `account` until it holds `needed_msat`.
async fn fund(
    api: &Api,
    carol: &dyn LightningNode,
    account: &str,
    needed_msat: u64,
) -> anyhow::Result<()> {
    let chunks = needed_msat.div_ceil(FUNDING_CHUNK_MSAT);
    eprintln!("bench: carol funds the payer with {chunks} payment(s)");
    for i in 0..chunks {
        let invoice = api
            .post(
                "/v1/invoices",
                json!({"account_id": account, "amount_msat": FUNDING_CHUNK_MSAT,
                       "description": format!("funding {i}")}),
            )
            .await
            .map_err(anyhow::Error::msg)?;
        let bolt11 = invoice["bolt11"].as_str().context("bolt11")?;
        carol.pay_invoice(bolt11, None, None).await?;
    }
    let want = i64::try_from(chunks * FUNDING_CHUNK_MSAT)?;
    for _ in 0..600 {
        let balance = api
            .get(&format!("/v1/accounts/{account}"))
            .await
            .map_err(anyhow::Error::msg)?;
        if balance["balance_msat"].as_i64() == Some(want) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the payer account was not funded within 60 s")
}

async fn carol_invoices(
    carol: &dyn LightningNode,
    count: u32,
    amount_msat: u64,
) -> anyhow::Result<Vec<String>> {
    let mut bolt11s = Vec::with_capacity(count as usize);
    for i in 0..count {
        let invoice = carol
            .create_invoice(amount_msat, &format!("supplier {i}"), 3_600)
            .await?;
        bolt11s.push(invoice.bolt11);
    }
    Ok(bolt11s)
}

/// The API over HTTP/1.1 keep-alive, as an integrator's client.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    /// A client keeping up to `connections` connections open (one per request in flight).
    fn new(addr: SocketAddr, key: &str, connections: u32) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .pool_max_idle_per_host(connections as usize)
                .build()?,
            base: format!("http://{addr}"),
            key: key.to_string(),
        })
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let method = method.parse().map_err(|_| format!("method {method}"))?;
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            let problem: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(format!(
                "{status} {}",
                problem["code"].as_str().unwrap_or("")
            ));
        }
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        self.call("POST", path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        self.call("GET", path, None).await
    }

    fn get_ok(&self, path: String) -> impl std::future::Future<Output = Result<(), String>> {
        let api = self.clone();
        async move { api.get(&path).await.map(|_| ()) }
    }

    async fn ok(&self, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(method, path, Some(body))
            .await
            .map_err(|e| anyhow::anyhow!("{method} {path}: {e}"))
    }

    async fn account(&self, name: &str) -> anyhow::Result<String> {
        let account = self
            .ok(
                "POST",
                "/v1/accounts",
                json!({"tenant_id": "bench", "name": name}),
            )
            .await?;
        Ok(account["id"].as_str().context("account id")?.to_string())
    }
}

/// Payment outcomes as they arrive by webhook, matched to the payments waiting for them
/// (an outcome may arrive before its payment's POST has returned).
#[derive(Clone, Default)]
struct Outcomes(Arc<Mutex<OutcomeSlots>>);

#[derive(Default)]
struct OutcomeSlots {
    waiting: HashMap<String, oneshot::Sender<Result<(), String>>>,
    arrived: HashMap<String, Result<(), String>>,
}

impl Outcomes {
    async fn listen(&self) -> anyhow::Result<SocketAddr> {
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(addr)
    }

    fn arrive(&self, id: String, outcome: Result<(), String>) {
        let Ok(mut slots) = self.0.lock() else { return };
        match slots.waiting.remove(&id) {
            Some(waiter) => {
                let _ = waiter.send(outcome);
            }
            None => {
                slots.arrived.insert(id, outcome);
            }
        }
    }

    async fn wait(&self, id: &str) -> Result<(), String> {
        let (done, outcome) = oneshot::channel();
        {
            let mut slots = self.0.lock().map_err(|_| "poisoned")?;
            if let Some(arrived) = slots.arrived.remove(id) {
                return arrived;
            }
            slots.waiting.insert(id.to_string(), done);
        }
        match tokio::time::timeout(Duration::from_secs(120), outcome).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("waiter dropped".into()),
            Err(_) => Err("no outcome within 120 s".into()),
        }
    }
}

async fn receive(State(outcomes): State<Outcomes>, body: axum::body::Bytes) -> &'static str {
    if let Ok(event) = serde_json::from_slice::<Value>(&body) {
        let id = event["data"]["id"].as_str().unwrap_or_default().to_string();
        let outcome = match event["type"].as_str() {
            Some("payment.succeeded") => Ok(()),
            _ => Err(format!(
                "failed: {}",
                event["data"]["failure"]["code"].as_str().unwrap_or("?")
            )),
        };
        outcomes.arrive(id, outcome);
    }
    "ok"
}
