//! Observability over real HTTP with real nodes on the devnet, on both stores in turn (the
//! recorder is process-wide, so this binary holds one test and reads deltas):
//! after invoices, payments and a webhook, `/metrics` shows them with the right labels;
//! nodes, channels, chain sync, the store and the webhook backlog appear as gauges; and
//! `/readyz` goes 503 when a node stops and back to 200 once it runs again; probes move
//! real money between our nodes, keep the books matching the nodes, and change the SLA
//! report; and every metric the shipped dashboards and alert rules name is exported.

use std::sync::Arc;
use std::time::Duration;

use api::ApiState;
use gateway::ProbeConfig;
use gateway::{Gateway, GatewayConfig, GatewaySink};
use kernel::{RandomIds, SystemClock};
use lightning_lab::{wait_until, DEFAULT_WAIT};
use lightning_lab::{Lab, LabConfig};
use node_pool::{ChainSourceTip, LightningNode, NodePool, PaymentState};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use store::testing::TestStore;
use webhooks::testing::Receiver;
use webhooks::{WebhookConfig, Webhooks};

mod common;

struct Server {
    lab: Lab,
    pool: Arc<NodePool>,
    gateway: Gateway,
    base: String,
    key: String,
    http: Client,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    dispatcher: webhooks::DispatcherHandle,
    /// Last: fields drop in order, and the nodes must stop before their directory goes.
    _dir: tempfile::TempDir,
}

fn recorder() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| api::install_recorder().expect("recorder"))
        .clone()
}

/// alpha and beta are ours, carol is outside; dave's only channel is with alpha, so his
/// payments to carol go through alpha (which earns a routing fee). Readiness needs both
/// of ours.
async fn server(store: store::Store) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = GatewaySink::new();
    let lab = Lab::start(
        LabConfig::new(
            dir.path().to_path_buf(),
            &["alpha", "beta", "carol", "dave"],
        )
        .balanced_channel("alpha", "carol", 2_000_000)
        .balanced_channel("beta", "carol", 2_000_000)
        .balanced_channel("dave", "alpha", 1_000_000)
        .event_sink("alpha", sink.clone())
        .event_sink("beta", sink.clone()),
    )
    .await
    .expect("lab");
    let pool = Arc::new(NodePool::new());
    for name in ["alpha", "beta"] {
        let node: Arc<dyn LightningNode> = lab.node(name).expect("node");
        pool.add(node).expect("add");
    }
    let config = WebhookConfig {
        allow_http: true,
        // The test's receiver listens on loopback.
        allowed_private_networks: vec!["127.0.0.0/8".parse().expect("net")],
        poll_interval_ms: 20,
        ..WebhookConfig::default()
    };
    let transport = webhooks::HttpTransport::new(&config).expect("transport");
    let vault = vault::testing::software_vault(&store).await.expect("vault");
    let webhooks = Webhooks::new(
        store.clone(),
        Arc::new(SystemClock),
        Arc::new(RandomIds),
        config,
        vault,
    );
    let dispatcher = webhooks.spawn_dispatcher(Arc::new(transport));
    let gateway = Gateway::builder(
        store.clone(),
        Arc::new(SystemClock),
        Arc::new(RandomIds),
        GatewayConfig {
            health: gateway::HealthConfig {
                min_ready_nodes: 2,
                ..gateway::HealthConfig::default()
            },
            ..GatewayConfig::default()
        },
    )
    .chain_tip(Arc::new(
        ChainSourceTip::new(lab.rpc_chain_source()).expect("tip"),
    ))
    .event_sink(sink)
    .build(Arc::clone(&pool));
    gateway.start().await.expect("start");
    let (auth, key) = common::admin_auth(&store, &api::RateLimitConfig::default(), None).await;
    let state = ApiState {
        gateway: gateway.clone(),
        webhooks,
        auth,
    };
    let app = api::router(state.clone()).merge(api::metrics_router(recorder(), state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(api::serve(listener, app, async {
        let _ = stopped.await;
    }));
    Server {
        _dir: dir,
        lab,
        pool,
        gateway,
        base,
        key,
        http: Client::new(),
        stop,
        serving,
        dispatcher,
    }
}

impl Server {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(
                method.parse().expect("method"),
                format!("{}{path}", self.base),
            )
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn scrape(&self) -> Scrape {
        let response = self
            .http
            .get(format!("{}/metrics", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("scrape");
        assert_eq!(response.status(), StatusCode::OK);
        Scrape(response.text().await.expect("text"))
    }

    async fn wait_status(&self, path: &str, want: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..300 {
            last = self.call("GET", path, None).await.1;
            if last["status"] == want {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{path} never became {want}: {last}");
    }

    async fn wait_ready(&self, want: StatusCode) -> Value {
        let mut last = (StatusCode::OK, Value::Null);
        for _ in 0..300 {
            last = self.call("GET", "/readyz", None).await;
            if last.0 == want {
                return last.1;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("/readyz never answered {want}: {last:?}");
    }

    /// Waits until the books check passes: HTLCs settle on every channel of a route a
    /// moment after the payer learns of success.
    async fn wait_books_match(&self, when: &str) {
        let mut books = Value::Null;
        for _ in 0..300 {
            books = self.call("GET", "/v1/ledger/check", None).await.1;
            if books["ok"] == true {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("books do not match the nodes {when}: {books}");
    }

    async fn shut_down(self) {
        let _ = self.stop.send(());
        self.serving.await.expect("join").expect("served");
        self.dispatcher.stop().await;
        self.lab.shutdown().await.expect("lab down");
    }
}

/// A scraped exposition; values looked up by name and exact label set.
struct Scrape(String);

impl Scrape {
    /// The value of the series `name` whose labels include every `labels` pair.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0.lines().find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, rest) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if series_name != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| rest.split(',').any(|pair| pair == format!("{k}=\"{v}\"")));
            all.then(|| value.parse().ok()).flatten()
        })
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or(0.0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_readiness_follow_real_traffic_on_both_stores() {
    let sqlite = TestStore::sqlite().await.expect("sqlite");
    scenario(sqlite.store.clone()).await;
    let postgres = TestStore::postgres().await.expect("postgres");
    scenario(postgres.store.clone()).await;
}

async fn scenario(store: store::Store) {
    let mut s = server(store).await;
    let carol = s.lab.node("carol").expect("carol");
    let before = s.scrape().await;

    // Ready: the store answers, both nodes are up and at the devnet's tip.
    let ready = s.wait_ready(StatusCode::OK).await;
    let tip = s.lab.devnet.height();
    assert_eq!(ready["chain"]["tip_height"], tip, "{ready}");
    assert_eq!(ready["nodes"]["beta"]["ready"], true, "{ready}");
    assert_eq!(ready["nodes"]["alpha"]["sync_lag_blocks"], 0, "{ready}");

    // Traffic: an invoice carol pays, a payment to carol, a payment that cannot route.
    let (status, tenant) = s
        .call(
            "POST",
            "/v1/tenants",
            Some(json!({"id": "ops", "name": "Ops"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{tenant}");
    let (status, account) = s
        .call(
            "POST",
            "/v1/accounts",
            Some(json!({"tenant_id": "ops", "name": "till"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    let till = account["id"].as_str().expect("id").to_string();
    let receiver = Receiver::start().await;
    let (status, hook) = s
        .call(
            "POST",
            "/v1/webhooks",
            Some(json!({"tenant_id": "ops", "url": format!("{}/ops", receiver.base), "event_types": ["invoice.paid"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let (status, invoice) = s
        .call(
            "POST",
            "/v1/invoices",
            Some(json!({"account_id": till, "amount_msat": 50_000_000, "description": "sale"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invoice}");
    carol
        .pay_invoice(invoice["bolt11"].as_str().expect("bolt11"), None, None)
        .await
        .expect("carol pays");
    s.wait_status(
        &format!("/v1/invoices/{}", invoice["id"].as_str().expect("id")),
        "paid",
    )
    .await;
    let owed = carol
        .create_invoice(20_000_000, "supplies", 600)
        .await
        .expect("carol invoice");
    let (status, paying) = s
        .call(
            "POST",
            "/v1/payments",
            Some(json!({"account_id": till, "bolt11": owed.bolt11})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{paying}");
    let paid = s
        .wait_status(
            &format!("/v1/payments/{}", paying["id"].as_str().expect("id")),
            "succeeded",
        )
        .await;
    let paid_by = paid["node"].as_str().unwrap_or_default().to_string();
    assert!(["alpha", "beta"].contains(&paid_by.as_str()), "{paid}");
    // dave pays carol through alpha: alpha forwards and earns a fee. Retried while
    // dave's view of the graph catches up (gossip is slower on a loaded machine: one run
    // in three on 2 cores needed more than one DEFAULT_WAIT).
    let via_alpha = carol
        .create_invoice(3_000_000, "via alpha", 600)
        .await
        .expect("carol invoice");
    let dave = s.lab.node("dave").expect("dave");
    let deadline = tokio::time::Instant::now() + 3 * DEFAULT_WAIT;
    let mut sent = dave.pay_invoice(&via_alpha.bolt11, None, None).await;
    while matches!(sent, Err(node_pool::NodeError::NoRouteNow))
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(500)).await;
        sent = dave.pay_invoice(&via_alpha.bolt11, None, None).await;
    }
    let hash = sent.unwrap_or_else(|e| {
        panic!(
            "dave pays: {e:?}; dave's graph: {}",
            lightning_lab::graph_view(&dave)
        )
    });
    wait_until("dave's payment through alpha", DEFAULT_WAIT, || {
        dave.payment(&hash)
            .is_some_and(|p| p.state == PaymentState::Succeeded)
    })
    .await
    .expect("forwarded");
    // dave goes offline: a payment to him fails, the hold released.
    let unreachable = dave
        .create_invoice(1_000_000, "nowhere", 600)
        .await
        .expect("dave invoice");
    s.wait_books_match("after forwarding").await;
    s.lab.stop_node("dave").await.expect("stop dave");
    let (status, failing) = s
        .call(
            "POST",
            "/v1/payments",
            Some(json!({"account_id": till, "bolt11": unreachable.bolt11})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{failing}");
    let failed = s
        .wait_status(
            &format!("/v1/payments/{}", failing["id"].as_str().expect("id")),
            "failed",
        )
        .await;
    let reason = failed["failure"]["code"]
        .as_str()
        .expect("failure code")
        .to_string();
    for _ in 0..100 {
        if !receiver.got("ops").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(receiver.got("ops").len(), 1, "one invoice.paid delivered");
    // A wrong key (authentication failure) and a key without the scope (refusal).
    let wrong = s
        .http
        .get(format!("{}/v1/nodes", s.base))
        .bearer_auth("fk_wrong")
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let (status, auditor) = s
        .call(
            "POST",
            "/v1/apikeys",
            Some(json!({"name": "auditor", "roles": ["auditor"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{auditor}");
    let forbidden = s
        .http
        .post(format!("{}/v1/tenants", s.base))
        .bearer_auth(auditor["key"].as_str().expect("key shown once"))
        .json(&json!({"id": "x", "name": "x"}))
        .send()
        .await
        .expect("request");
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    for _ in 0..100 {
        let booked = s.scrape().await.get(
            "fulgur_routing_fees_earned_msat_total",
            &[("node", "alpha")],
        );
        if booked
            > before.get(
                "fulgur_routing_fees_earned_msat_total",
                &[("node", "alpha")],
            )
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let after = s.scrape().await;
    let delta =
        |name: &str, labels: &[(&str, &str)]| after.get(name, labels) - before.get(name, labels);
    // Counters and histograms, by the labels that matter.
    let issued_by = invoice_node(&after, &before);
    assert_eq!(
        delta(
            "fulgur_invoice_create_duration_seconds_count",
            &[("node", &issued_by)]
        ),
        1.0
    );
    assert_eq!(
        delta("fulgur_invoices_paid_total", &[("node", &issued_by)]),
        1.0
    );
    assert_eq!(
        delta("fulgur_received_msat_total", &[("node", &issued_by)]),
        50_000_000.0
    );
    assert_eq!(
        delta(
            "fulgur_payments_total",
            &[("node", &paid_by), ("outcome", "succeeded")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            "fulgur_payment_duration_seconds_count",
            &[("node", &paid_by), ("outcome", "succeeded")]
        ),
        1.0
    );
    assert_eq!(
        delta("fulgur_sent_msat_total", &[("node", &paid_by)]),
        20_000_000.0
    );
    assert_eq!(
        delta("fulgur_payment_failures_total", &[("reason", &reason)]),
        1.0,
        "failure counted under its code {reason}"
    );
    assert_eq!(
        delta("fulgur_webhook_attempts_total", &[("outcome", "delivered")]),
        1.0
    );
    assert_eq!(delta("fulgur_webhook_delivery_lag_seconds_count", &[]), 1.0);
    assert!(
        delta(
            "fulgur_api_requests_total",
            &[
                ("route", "/v1/payments"),
                ("method", "POST"),
                ("status", "202")
            ]
        ) >= 2.0
    );
    assert!(
        delta(
            "fulgur_store_operation_duration_seconds_count",
            &[("operation", "write")]
        ) > 0.0
    );

    // Gauges of the moment.
    for node in ["alpha", "beta"] {
        assert_eq!(after.value("fulgur_node_up", &[("node", node)]), Some(1.0));
        assert_eq!(
            after.value("fulgur_node_sync_lag_blocks", &[("node", node)]),
            Some(0.0)
        );
        assert_eq!(
            after.value("fulgur_payments_in_flight", &[("node", node)]),
            Some(0.0)
        );
        assert!(after.get("fulgur_node_outbound_liquidity_msat", &[("node", node)]) > 0.0);
        // Each opened a channel: its wallet paid the funding transaction's fee.
        assert!(after.get("fulgur_node_onchain_fees_paid_sat", &[("node", node)]) > 0.0);
    }
    assert_eq!(
        after.value("fulgur_chain_tip_height", &[]),
        Some(f64::from(s.lab.devnet.height()))
    );
    let carol_id = carol.info().node_id;
    let channel_out = after.get(
        "fulgur_channel_outbound_liquidity_msat",
        &[("node", "alpha"), ("counterparty", &carol_id)],
    );
    let channel_in = after.get(
        "fulgur_channel_inbound_liquidity_msat",
        &[("node", "alpha"), ("counterparty", &carol_id)],
    );
    assert!(
        channel_out > 0.0 && channel_in > 0.0,
        "{channel_out} {channel_in}"
    );
    assert_eq!(
        after.value(
            "fulgur_channel_usable",
            &[("node", "alpha"), ("counterparty", &carol_id)]
        ),
        Some(1.0)
    );
    assert_eq!(
        after.value("fulgur_store_connections", &[("role", "reader")]),
        Some(8.0)
    );
    assert_eq!(
        after.value("fulgur_webhook_backlog_deliveries", &[]),
        Some(0.0)
    );
    assert!(
        delta(
            "fulgur_routing_fees_earned_msat_total",
            &[("node", "alpha")]
        ) > 0.0
    );
    assert!(delta("fulgur_api_auth_failures_total", &[]) >= 1.0);
    assert!(delta("fulgur_api_refusals_total", &[("code", "forbidden")]) >= 1.0);

    // Probes: alpha and beta pay each other (through carol), booked on both nodes. The
    // first may find no route while gossip settles (bounded by time: gossip is slower on
    // a loaded machine: once in four full runs on 2 cores a channel direction stayed
    // disabled past one DEFAULT_WAIT); each attempt counts in the SLA.
    // A failed attempt also teaches the payer's scorer that the route carries less than
    // it tried (its estimate decays over hours): each retry asks for half as much, down
    // to 1 sat, so one early failure does not doom every later attempt.
    let mut probes = ProbeConfig::default();
    let mut attempts = 0;
    let deadline = tokio::time::Instant::now() + 3 * DEFAULT_WAIT;
    let probed = loop {
        attempts += 1;
        let probed = s
            .gateway
            .probe_once(&probes)
            .await
            .expect("probe runs")
            .expect("two nodes to probe");
        if probed.succeeded || tokio::time::Instant::now() >= deadline {
            break probed;
        }
        probes.amount_msat = (probes.amount_msat / 2).max(1_000);
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let payer = s.lab.node(&probed.from_node).expect("payer");
    assert!(
        probed.succeeded,
        "{probed:?} after {attempts} attempts; the payer's graph: {}",
        lightning_lab::graph_view(&payer)
    );
    assert_ne!(probed.from_node, probed.to_node);
    let sla = s.call("GET", "/v1/sla", None).await.1;
    let availability = slo_window(&sla, "availability", "5m");
    // The payment that succeeded, the one that failed, the probes.
    assert_eq!(
        (
            availability["good"].as_u64(),
            availability["total"].as_u64()
        ),
        (Some(2), Some(2 + attempts)),
        "{sla}"
    );
    assert_eq!(
        slo_window(&sla, "invoice_latency", "30d")["total"],
        1,
        "{sla}"
    );
    assert!(
        slo_window(&sla, "api_latency", "1h")["total"].as_u64() > Some(10),
        "{sla}"
    );
    assert_eq!(
        slo_window(&sla, "payment_latency", "6h")["total"],
        2,
        "{sla}"
    );
    s.wait_books_match("after the probe").await;

    // beta stops: not ready (both nodes are required), beta down in the gauges.
    s.lab.stop_node("beta").await.expect("stop beta");
    let down = s.wait_ready(StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(down["ready"], false);
    assert_eq!(down["nodes"]["beta"]["healthy"], false, "{down}");
    assert_eq!(down["nodes"]["alpha"]["ready"], true, "{down}");
    assert_eq!(
        s.scrape()
            .await
            .value("fulgur_node_up", &[("node", "beta")]),
        Some(0.0)
    );
    // Blocks arrive while beta is down; back up, it catches up and readiness returns.
    s.lab.mine(3).await.expect("mine");
    let beta = s.lab.resume_node("beta").await.expect("resume beta");
    s.pool.replace(beta).expect("back in the pool");
    // The chain's tip is read at most once a second: ready may come a moment before the
    // tip shows the new blocks.
    let height = s.lab.devnet.height();
    let mut back = s.wait_ready(StatusCode::OK).await;
    for _ in 0..50 {
        if back["chain"]["tip_height"] == height {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        back = s.wait_ready(StatusCode::OK).await;
    }
    assert_eq!(back["nodes"]["beta"]["ready"], true, "{back}");
    assert_eq!(back["chain"]["tip_height"], height, "{back}");
    assert_eq!(back["nodes"]["beta"]["sync_lag_blocks"], 0, "{back}");

    // carol stops: no route between alpha and beta, the probe fails, attainment drops.
    s.lab.stop_node("carol").await.expect("stop carol");
    let failed_probe = s
        .gateway
        .probe_once(&ProbeConfig {
            timeout_ms: 20_000,
            ..ProbeConfig::default()
        })
        .await
        .expect("probe runs")
        .expect("both nodes still up");
    assert!(!failed_probe.succeeded, "{failed_probe:?}");
    let sla = s.call("GET", "/v1/sla", None).await.1;
    let availability = slo_window(&sla, "availability", "5m");
    assert_eq!(
        (
            availability["good"].as_u64(),
            availability["total"].as_u64()
        ),
        (Some(2), Some(3 + attempts)),
        "{sla}"
    );
    let burn = availability["burn_rate"].as_f64().expect("burn rate");
    let bad_ratio = (1 + attempts) as f64 / (3 + attempts) as f64;
    assert!(
        (burn - bad_ratio / 0.0001).abs() < 1.0,
        "{bad_ratio} bad against a 0.01% budget: {burn}"
    );
    let report = sla["slos"].as_array().expect("slos");
    assert_eq!(report[0]["slo"], "availability");
    assert_eq!(report[0]["met"], false, "{sla}");
    // The gateway's invoice expiry under the job scheduler, as `fulgur serve` runs it:
    // its runs are counted for the job alert.
    let gateway = s.gateway.clone();
    let scheduler = jobs::Scheduler::builder()
        .job(
            jobs::JobSpec {
                name: "invoice_expiry",
                every: Duration::from_millis(10),
                timeout: Duration::from_secs(5),
            },
            move || {
                let gateway = gateway.clone();
                async move {
                    let swept = gateway.expire_invoices().await?;
                    Ok(jobs::Ran {
                        backlog: Some(swept.backlog),
                    })
                }
            },
        )
        .start();
    let deadline = tokio::time::Instant::now() + DEFAULT_WAIT;
    while scheduler.stats()["invoice_expiry"].runs == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the job never ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    scheduler.stop().await;
    let final_scrape = s.scrape().await;
    assert!(final_scrape.get("fulgur_probe_payments_total", &[("outcome", "failed")]) >= 1.0);
    assert!(
        final_scrape.get(
            "fulgur_job_runs_total",
            &[("name", "invoice_expiry"), ("outcome", "ok")]
        ) >= 1.0
    );
    dashboards_and_rules_name_exported_metrics(&final_scrape);
    s.shut_down().await;
}

fn slo_window<'a>(sla: &'a Value, slo: &str, window: &str) -> &'a Value {
    sla["slos"]
        .as_array()
        .and_then(|slos| slos.iter().find(|s| s["slo"] == slo))
        .and_then(|s| s["windows"].as_array())
        .and_then(|ws| ws.iter().find(|w| w["window"] == window))
        .unwrap_or_else(|| panic!("{slo} {window} in {sla}"))
}

/// Every `fulgur_*` metric named in deploy/grafana and deploy/prometheus/rules appears in
/// a real scrape. The TLS expiry gauge needs a TLS listener, which this server has not:
/// `tests/metrics.rs` proves it is exported.
fn dashboards_and_rules_name_exported_metrics(scrape: &Scrape) {
    let exported: std::collections::BTreeSet<&str> = scrape
        .0
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let mut named = std::collections::BTreeSet::new();
    for dir in ["grafana", "prometheus/rules"] {
        for entry in std::fs::read_dir(deploy.join(dir)).expect("deploy dir") {
            let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
            named.extend(metric_names(&text));
        }
    }
    assert!(named.len() > 20, "{named:?}");
    let missing: Vec<&String> = named
        .iter()
        .filter(|n| !exported.contains(n.as_str()))
        .filter(|n| *n != "fulgur_tls_certificate_expiry_timestamp_seconds")
        .collect();
    assert!(
        missing.is_empty(),
        "named in deploy/ but not exported: {missing:?}"
    );
}

/// `fulgur_…` identifiers in a text (recording rules, `fulgur:…`, are not metrics).
fn metric_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("fulgur_") {
        let preceded = rest[..at].chars().last();
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        if !preceded.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            names.push(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    names
}

/// The node whose invoice count moved.
fn invoice_node(after: &Scrape, before: &Scrape) -> String {
    ["alpha", "beta"]
        .into_iter()
        .find(|node| {
            after.get("fulgur_invoices_created_total", &[("node", node)])
                > before.get("fulgur_invoices_created_total", &[("node", node)])
        })
        .expect("an invoice counted on alpha or beta")
        .to_string()
}
