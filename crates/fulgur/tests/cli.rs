//! The binary as a user runs it: bad arguments, `fulgur devnet`, and `fulgur demo` coming up,
//! answering, and shutting down cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn fulgur() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fulgur"))
}

/// Starts `fulgur ARGS --data-dir DIR` with stdout captured.
fn spawn_with_data_dir(args: &[&str], dir: &std::path::Path) -> Child {
    fulgur()
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts")
}

/// Waits for a stdout line starting with `prefix`; returns it and every line before it.
fn wait_for_line(child: &mut Child, prefix: &str, timeout: Duration) -> (String, Vec<String>) {
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    loop {
        let line = lines
            .recv_timeout(timeout)
            .unwrap_or_else(|_| panic!("no {prefix:?} line; saw {seen:#?}"));
        if line.starts_with(prefix) {
            return (line, seen);
        }
        seen.push(line);
    }
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    child.wait().expect("exits")
}

/// One JSON-RPC call over a raw HTTP/1.1 request.
fn rpc(addr: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic ZnVsZ3VyOmZ1bGd1cg==\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

#[test]
fn bad_arguments_give_one_line_and_exit_2() {
    for args in [
        vec!["bogus"],
        vec!["devnet", "--listen", "not-an-address"],
        vec!["bench", "payments", "--store", "paper"],
    ] {
        let output = fulgur().args(&args).output().expect("runs");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "one line for {args:?}: {stderr}"
        );
    }
}

#[test]
fn devnet_serves_rpc_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = spawn_with_data_dir(&["devnet", "--listen", "127.0.0.1:0"], dir.path());
    let (ready, _) = wait_for_line(&mut child, "ready: http://", Duration::from_secs(30));
    let addr = ready.trim_start_matches("ready: http://").to_string();
    let response = rpc(&addr, r#"{"method":"getblockcount","params":[],"id":1}"#);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""result":0"#), "{response}");
    assert!(terminate(&mut child).success(), "clean exit on SIGTERM");
}

/// The README quickstart, run as a user would: the demo comes up, the example commands it
/// prints are pasted into a shell (an outside node pays an invoice, an account pays the
/// outside node, one account pays another inside the ledger), `fulgur ledger check` finds
/// the books balanced and matching the nodes, and SIGTERM shuts everything down cleanly.
#[test]
fn demo_quickstart_works_when_pasted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = spawn_with_data_dir(
        &[
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--devnet-rpc",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    let (ready, before) = wait_for_line(&mut child, "ready: http://", Duration::from_secs(120));
    let summary = before.join("\n");
    for pair in [
        "alpha -> carol",
        "beta -> carol",
        "alpha -> beta",
        "carol -> alpha",
    ] {
        let line = summary
            .lines()
            .find(|l| l.contains(pair))
            .unwrap_or_else(|| panic!("{pair} missing:\n{summary}"));
        assert!(line.trim_end().ends_with("true"), "{pair} usable: {line}");
    }
    assert!(dir.path().join("admin.key").exists(), "admin key written");
    let examples: Vec<&str> = summary
        .lines()
        .skip_while(|l| !l.starts_with("examples"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    assert!(examples.len() >= 10, "examples printed:\n{summary}");
    let script = format!("set -eu\n{}\n", examples.join("\n"));
    let output = Command::new("bash")
        .args(["-c", &script])
        .current_dir(dir.path())
        .output()
        .expect("bash runs");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "examples failed: {printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !printed.contains(r#""code":"#),
        "no problem answered: {printed}"
    );
    // carol's payment of our invoice, the payment to carol, the internal payment.
    assert!(
        printed.matches(r#""status":"succeeded""#).count() >= 3,
        "{printed}"
    );
    assert!(
        printed.contains(r#""name":"shop","balance_msat":2000"#),
        "retail credited inside the ledger: {printed}"
    );

    let api = ready.trim_start_matches("ready: ").to_string();
    let key_file = dir.path().join("admin.key");
    let mut last = String::new();
    let balanced = (0..60).any(|_| {
        let check = fulgur()
            .args(["ledger", "check", "--url", &api, "--key-file"])
            .arg(&key_file)
            .output()
            .expect("ledger check runs");
        last = String::from_utf8_lossy(&check.stdout).to_string();
        let ok = check.status.success();
        if !ok {
            std::thread::sleep(Duration::from_millis(500));
        }
        ok
    });
    assert!(balanced, "books balance and match the nodes:\n{last}");
    assert!(
        last.contains("node alpha") && last.contains("books: ok"),
        "{last}"
    );
    // The SLA report of that traffic: every SLO listed; exit 1 exactly when one missed.
    let sla = fulgur()
        .args(["sla", "report", "--url", &api, "--key-file"])
        .arg(&key_file)
        .output()
        .expect("sla report runs");
    let report = String::from_utf8_lossy(&sla.stdout);
    for slo in [
        "availability",
        "payment_latency",
        "invoice_latency",
        "api_latency",
    ] {
        assert!(report.contains(slo), "{slo} in the report:\n{report}");
    }
    assert_eq!(
        sla.status.code(),
        Some(if report.contains("MISSED") { 1 } else { 0 }),
        "{report}"
    );
    let json = fulgur()
        .args(["sla", "report", "--json", "--url", &api, "--key-file"])
        .arg(&key_file)
        .output()
        .expect("sla report --json runs");
    let parsed: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("the report as JSON");
    let availability = &parsed["slos"][0];
    assert_eq!(availability["slo"], "availability");
    assert!(
        availability["windows"][3]["total"].as_u64() >= Some(2),
        "the examples' payments counted: {parsed}"
    );
    assert!(terminate(&mut child).success(), "clean exit on SIGTERM");
}

/// `fulgur serve --config`: a TOML file plus `FULGUR_SECTION__KEY` overrides brings up the
/// gateway with its nodes against a chain (here `fulgur devnet`), over TLS with
/// certificates from `fulgur pki`; bad config is one line and exit 2.
#[test]
fn serve_runs_from_a_config_file_with_env_overrides() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut chain = spawn_with_data_dir(
        &["devnet", "--listen", "127.0.0.1:0"],
        &dir.path().join("chain"),
    );
    let (ready, _) = wait_for_line(&mut chain, "ready: http://", Duration::from_secs(30));
    let rpc = ready.trim_start_matches("ready: http://").to_string();
    let (host, port) = rpc.rsplit_once(':').expect("host:port");
    let pki = dir.path().join("pki");
    let at = pki.to_str().expect("utf-8");
    for args in [
        vec!["init", "--dir", at],
        vec![
            "issue",
            "--dir",
            at,
            "server",
            "--name",
            "api",
            "--ip",
            "127.0.0.1",
        ],
        vec![
            "issue",
            "--dir",
            at,
            "client",
            "--name",
            "ops",
            "--platform",
            "--role",
            "operator",
        ],
    ] {
        let output = fulgur().arg("pki").args(&args).output().expect("pki");
        assert!(output.status.success(), "{args:?}: {output:?}");
    }
    let config = dir.path().join("fulgur.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:1"
admin_key_file = "{dir}/admin.key"
pepper_file = "{dir}/api-key.pepper"
audit_signing_key_file = "{dir}/audit-signing.key"

[server.tls]
cert_file = "{dir}/pki/api.crt"
key_file = "{dir}/pki/api.key"
client_ca_file = "{dir}/pki/ca.crt"
client_auth = "optional"

[store]
url = "sqlite://{dir}/fulgur.db"
auto_migrate = true

[lightning]
network = "regtest"
data_dir = "{dir}/nodes"

[lightning.chain]
source = "bitcoind"
host = "{host}"
port = {port}
rpc_user = "fulgur"
rpc_password = "wrong"

[[lightning.nodes]]
name = "alpha"
listen = "127.0.0.1:0"
"#,
            dir = dir.path().display()
        ),
    )
    .expect("config");

    // Overrides fix the listen address and the (secret) RPC password.
    let mut serve = fulgur()
        .args(["serve", "--config"])
        .arg(&config)
        .env("FULGUR_SERVER__LISTEN", "127.0.0.1:0")
        .env("FULGUR_LIGHTNING__CHAIN__RPC_PASSWORD", "fulgur")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("serve.log")).expect("log"))
        .spawn()
        .expect("serve starts");
    let log = dir.path().join("serve.log");
    let (ready, _) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for_line(&mut serve, "ready: https://", Duration::from_secs(120))
    }))
    .unwrap_or_else(|_| {
        panic!(
            "serve did not come up: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    let api = ready.trim_start_matches("ready: https://").to_string();
    let key = std::fs::read_to_string(dir.path().join("admin.key")).expect("admin key");
    // curl over TLS: with the admin key; with the operator's client certificate alone.
    let curl = |extra: &[String]| {
        let output = Command::new("curl")
            .args(["-sS", "--fail-with-body", "--cacert"])
            .arg(pki.join("ca.crt"))
            .args(extra)
            .arg(format!("https://{api}/v1/nodes"))
            .output()
            .expect("curl runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string(),
        )
    };
    let (ok, body) = curl(&["-H".into(), format!("Authorization: Bearer {}", key.trim())]);
    assert!(ok && body.contains(r#""name":"alpha""#), "{body}");
    let cert = |name: &str| pki.join(name).display().to_string();
    let (ok, body) = curl(&[
        "--cert".into(),
        cert("ops.crt"),
        "--key".into(),
        cert("ops.key"),
    ]);
    assert!(ok && body.contains(r#""name":"alpha""#), "{body}");
    let (ok, _) = curl(&[]);
    assert!(!ok, "neither key nor certificate: refused");
    // Plain HTTP on the TLS port gets no API.
    let mut stream = TcpStream::connect(&api).expect("connect");
    let request = format!("GET /v1/nodes HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(!response.contains("HTTP/1.1 200"), "{response}");
    assert!(terminate(&mut serve).success(), "clean exit on SIGTERM");
    assert!(terminate(&mut chain).success());

    for (body, problem) in [
        ("[server]\nlisten = 5\n", "config"),
        ("this is not toml", "config"),
    ] {
        std::fs::write(&config, body).expect("config");
        let output = fulgur()
            .args(["serve", "--config"])
            .arg(&config)
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(2), "{body}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(problem), "{stderr}");
    }
    let missing = fulgur()
        .args(["serve", "--config", "/nonexistent.toml"])
        .output()
        .expect("runs");
    assert_eq!(missing.status.code(), Some(2));
}
