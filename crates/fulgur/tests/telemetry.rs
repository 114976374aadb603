//! Logs and traces of the real binary: `fulgur demo` with an OTLP endpoint exports the
//! spans of a payment — the API request, the pipeline's stages, the node call, the store
//! — to a real OTLP/HTTP receiver started here (it decodes the protobuf), all under the
//! trace id the caller sent in `traceparent`; and its JSON log lines for that request
//! carry the request id and the trace id, never the credential.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::{json, Value};

/// (trace id hex, span name) of every span received.
type Spans = Arc<Mutex<Vec<(String, String)>>>;

async fn otlp_receiver() -> (String, Spans) {
    let spans: Spans = Arc::default();
    let got = Arc::clone(&spans);
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let got = Arc::clone(&got);
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                let mut got = got.lock().expect("lock");
                for resource in request.resource_spans {
                    for scope in resource.scope_spans {
                        for span in scope.spans {
                            let trace: String =
                                span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                            got.push((trace, span.name));
                        }
                    }
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/v1/traces", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, spans)
}

struct Demo {
    child: Child,
    api: String,
    key: String,
    accounts: Vec<String>,
    stderr: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn start_demo(otlp: &str) -> Demo {
    let dir = tempfile::tempdir().expect("tempdir");
    let stderr = dir.path().join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fulgur"))
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--devnet-rpc",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env("FULGUR_OTLP_ENDPOINT", otlp)
        .env("FULGUR_LOG_FORMAT", "json")
        .env("FULGUR_LOG", "warn,api=info,fulgur=info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut accounts = Vec::new();
    let api = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(120))
            .expect("demo prints ready");
        if let Some(id) = line
            .strip_prefix("account ")
            .and_then(|l| l.split(": ").nth(1))
        {
            accounts.push(id.to_string());
        }
        if let Some(url) = line.strip_prefix("ready: ") {
            break url.to_string();
        }
    };
    let key = std::fs::read_to_string(dir.path().join("admin.key"))
        .expect("admin key")
        .trim()
        .to_string();
    Demo {
        child,
        api,
        key,
        accounts,
        stderr,
        _dir: dir,
    }
}

impl Demo {
    async fn call(&self, method: &str, path: &str, body: Value, trace: Option<&str>) -> Value {
        let mut request = reqwest::Client::new()
            .request(
                method.parse().expect("method"),
                format!("{}{path}", self.api),
            )
            .bearer_auth(&self.key);
        if method == "POST" {
            request = request.json(&body);
        }
        if let Some(parent) = trace {
            request = request
                .header("traceparent", parent)
                .header("idempotency-key", "trace-test-1");
        }
        let response = request.send().await.expect("request");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.expect("json")
    }

    async fn wait_status(&self, path: &str, want: &str) {
        for _ in 0..300 {
            if self.call("GET", path, Value::Null, None).await["status"] == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{path} never {want}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_is_traced_over_otlp_and_logged_as_json_with_its_ids() {
    let (otlp, spans) = otlp_receiver().await;
    let mut demo = start_demo(&otlp);
    let account = demo.accounts.first().expect("a demo account").clone();

    // Money in: carol pays an invoice of the account.
    let invoice = demo
        .call(
            "POST",
            "/v1/invoices",
            json!({"account_id": account, "amount_msat": 40_000_000, "description": "in"}),
            None,
        )
        .await;
    demo.call(
        "POST",
        "/devnet/counterparty/payments",
        json!({"bolt11": invoice["bolt11"]}),
        None,
    )
    .await;
    demo.wait_status(
        &format!("/v1/invoices/{}", invoice["id"].as_str().expect("id")),
        "paid",
    )
    .await;

    // The traced payment: the caller's trace id in traceparent.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let owed = demo
        .call(
            "POST",
            "/devnet/counterparty/invoices",
            json!({"amount_msat": 5_000_000, "description": "traced"}),
            None,
        )
        .await;
    let payment = demo
        .call(
            "POST",
            "/v1/payments",
            json!({"account_id": account, "bolt11": owed["bolt11"]}),
            Some(&format!("00-{trace_id}-00f067aa0ba902b7-01")),
        )
        .await;
    demo.wait_status(
        &format!("/v1/payments/{}", payment["id"].as_str().expect("id")),
        "succeeded",
    )
    .await;

    // The batch exporter sends every few seconds.
    let wanted = [
        "POST /v1/payments",
        "pipeline.stage",
        "payment.execute",
        "node.pay_invoice",
        "store.write",
        "store.read",
    ];
    let mut names = BTreeSet::new();
    for _ in 0..200 {
        names = spans
            .lock()
            .expect("lock")
            .iter()
            .filter(|(trace, _)| trace == trace_id)
            .map(|(_, name)| name.clone())
            .collect();
        if wanted.iter().all(|w| names.contains(*w)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for want in wanted {
        assert!(
            names.contains(want),
            "span {want} exported in the trace: {names:?}"
        );
    }

    // JSON logs: every line parses; the request's lines carry both ids; no secret.
    let stop = Command::new("kill")
        .args(["-TERM", &demo.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(stop.success());
    assert!(demo.child.wait().expect("exits").success());
    let logs = std::fs::read_to_string(&demo.stderr).expect("logs");
    assert!(
        !logs.contains(&demo.key),
        "the API key never reaches the logs"
    );
    let mut request_lines = 0;
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(
            entry["level"].is_string() && entry["timestamp"].is_string(),
            "{line}"
        );
        let request = entry["spans"]
            .as_array()
            .and_then(|spans| spans.iter().find(|s| s["name"] == "request"));
        if let Some(request) = request {
            assert!(request["request_id"].is_string(), "{line}");
            assert_eq!(
                request["trace_id"].as_str().map(str::len),
                Some(32),
                "{line}"
            );
            if request["trace_id"] == trace_id {
                request_lines += 1;
            }
        }
    }
    assert!(
        request_lines >= 1,
        "a log line of the traced request:\n{logs}"
    );
}
