//! The binary as a user runs it: bad arguments, `fulgur devnet`, and `fulgur demo` coming up,
//! answering, and shutting down cleanly on SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod demo_process;

use demo_process::{fulgur, spawn_with_data_dir, terminate, wait_for_line};

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
        vec!["bench", "payments", "--payees", "9"],
        vec!["bench", "invoices", "--invoices", "many"],
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

/// Runs `lines` as pasted into a shell in `dir` (stopping at the first failure); what
/// they printed.
fn paste(dir: &std::path::Path, lines: &str) -> String {
    let output = Command::new("bash")
        .args(["-c", &format!("set -eu\n{lines}\n")])
        .current_dir(dir)
        .output()
        .expect("bash runs");
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "pasted lines failed: {printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    printed
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
    let printed = paste(dir.path(), &examples.join("\n"));
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

    // The compliance examples, pasted after the others: the 40,000 EUR receipt waits in
    // suspense and is released, the 6,000 EUR payment is held and released, the third
    // 4,500 EUR payment is held as structuring, the payment to the watch-listed node is
    // refused, and the case's report comes out as goAML.
    assert!(
        summary.contains("EUR rate: 5,000,000 EUR per BTC"),
        "the demo rate is printed: {summary}"
    );
    let compliance: Vec<&str> = summary
        .lines()
        .skip_while(|l| !l.starts_with("compliance examples"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    assert!(compliance.len() >= 10, "compliance examples:\n{summary}");
    let printed = paste(
        dir.path(),
        &format!("{}\n{}", examples[0], compliance.join("\n")),
    );
    assert_eq!(
        printed.matches(r#""code":"#).count(),
        1,
        "only the watch-listed payee is refused: {printed}"
    );
    assert!(
        printed.contains(r#""code":"compliance_blocked""#),
        "{printed}"
    );
    assert!(printed.contains("this payment cannot be made"), "{printed}");
    assert_eq!(
        printed.matches(r#""status":"held_for_review""#).count(),
        3,
        "the 6,000 EUR payment, the third 4,500 EUR one and the 12,000 EUR one: {printed}"
    );
    // The 12,000 EUR payment waits for both HSM keys and an executive under the demo's
    // policy; the CEO's approval from the command line (the HSM keys co-sign) sends it.
    assert!(
        printed.contains(r#""rule":"large-payment""#),
        "the approval request names its rule: {printed}"
    );
    let approved = printed
        .lines()
        .find(|l| l.contains("rule=large-payment"))
        .unwrap_or_else(|| panic!("`fulgur approvals approve` printed the request: {printed}"));
    assert!(
        approved.contains(" approved ")
            && [
                "ceo approve",
                "hsm-operations approve",
                "hsm-backup approve"
            ]
            .iter()
            .all(|vote| approved.contains(vote)),
        "{approved}"
    );
    assert!(
        printed.contains(r#""status":"succeeded""#),
        "the approved payment went: {printed}"
    );
    assert!(printed.contains(r#""rule":"structuring""#), "{printed}");
    assert!(
        printed.matches(r#""state":"released""#).count() >= 3,
        "the receipt, the 6,000 and the 12,000 EUR payments released: {printed}"
    );
    assert!(
        printed.contains("<report_code>STR</report_code>"),
        "{printed}"
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
audit_signing_key_file = "{dir}/audit-signing.key"

[server.tls]
cert_file = "{dir}/pki/api.crt"
key_file = "{dir}/pki/api.key"
client_ca_file = "{dir}/pki/ca.crt"
client_auth = "optional"

[store]
url = "sqlite://{dir}/fulgur.db"
auto_migrate = true

[keys]
backend = "software"
path = "{dir}/keys.sealed"
passphrase_env = "TEST_KEYS_PASSPHRASE"

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
        .env("TEST_KEYS_PASSPHRASE", "serve test passphrase")
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
    // A deleted admin key file does not mint another administrator (another person to
    // the two-administrator rule) while the one it held is active: refused, exit 2.
    std::fs::remove_file(dir.path().join("admin.key")).expect("remove admin key");
    let again = fulgur()
        .args(["serve", "--config"])
        .arg(&config)
        .env("FULGUR_SERVER__LISTEN", "127.0.0.1:0")
        .env("FULGUR_LIGHTNING__CHAIN__RPC_PASSWORD", "fulgur")
        .env("TEST_KEYS_PASSPHRASE", "serve test passphrase")
        .output()
        .expect("serve runs");
    let said = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(2), "{said}");
    assert!(said.contains("still has the active key"), "{said}");
    assert!(!dir.path().join("admin.key").exists(), "no new key written");
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

/// Where the demo keeps its keys in [`demo_seeds_stay_sealed_while_the_kek_rotates`].
enum DemoKeys {
    Software,
    SoftHsm(keystore::testing::SoftHsmToken),
}

impl DemoKeys {
    fn demo_args(&self) -> Vec<String> {
        match self {
            DemoKeys::Software => Vec::new(),
            DemoKeys::SoftHsm(token) => vec![
                "--pkcs11-module".into(),
                keystore::testing::SOFTHSM2_MODULE.into(),
                "--pkcs11-token".into(),
                token.label.clone(),
            ],
        }
    }

    fn env(&self, command: &mut Command) {
        if let DemoKeys::SoftHsm(token) = self {
            command
                .env("SOFTHSM2_CONF", &token.conf)
                .env("FULGUR_PKCS11_PIN", &token.pin);
        }
    }

    /// The operator's config for `fulgur keys`: the demo's store and key store.
    fn tool_config(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let keys = match self {
            DemoKeys::Software => format!(
                "backend = \"software\"\npath = \"{d}/keys.sealed\"\npassphrase_file = \"{d}/keys.passphrase\"\n",
                d = dir.display()
            ),
            DemoKeys::SoftHsm(token) => format!(
                "backend = \"pkcs11\"\nmodule = \"{}\"\ntoken_label = \"{}\"\npin_env = \"FULGUR_PKCS11_PIN\"\n",
                keystore::testing::SOFTHSM2_MODULE,
                token.label
            ),
        };
        let path = dir.join("operator.toml");
        std::fs::write(
            &path,
            format!(
                "[store]\nurl = \"sqlite://{}/fulgur.db\"\n\n[keys]\n{keys}",
                dir.display()
            ),
        )
        .expect("operator config");
        path
    }

    /// The key store as this test process opens it, to read the sealed seeds back.
    fn open(&self, dir: &std::path::Path) -> std::sync::Arc<dyn keystore::KeyStore> {
        match self {
            DemoKeys::Software => {
                let passphrase =
                    std::fs::read_to_string(dir.join("keys.passphrase")).expect("passphrase");
                std::sync::Arc::new(
                    keystore::SoftwareStore::open(&dir.join("keys.sealed"), passphrase.trim_end())
                        .expect("key file"),
                )
            }
            DemoKeys::SoftHsm(token) => std::sync::Arc::new(token.open(1).expect("token")),
        }
    }
}

fn demo_with_keys(keys: &DemoKeys, dir: &std::path::Path) -> (Child, Vec<String>) {
    let mut command = fulgur();
    command
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--devnet-rpc",
            "127.0.0.1:0",
        ])
        .args(keys.demo_args())
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    keys.env(&mut command);
    let mut child = command.spawn().expect("demo starts");
    let (_, before) = wait_for_line(&mut child, "ready: http://", Duration::from_secs(120));
    (child, before)
}

/// The node ids the demo printed for alpha and beta.
fn node_ids(summary: &[String]) -> Vec<String> {
    ["alpha", "beta"]
        .iter()
        .map(|name| {
            summary
                .iter()
                .find_map(|line| {
                    let mut words = line.split_whitespace();
                    (words.next() == Some(name))
                        .then(|| words.next().map(str::to_string))
                        .flatten()
                        .filter(|id| id.len() == 66)
                })
                .unwrap_or_else(|| panic!("{name}'s node id in {summary:#?}"))
        })
        .collect()
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)
        .expect("read dir")
        .map_while(Result::ok)
    {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// The files under `dir` that hold `secret`, raw or in hex.
fn files_holding(dir: &std::path::Path, secret: &[u8]) -> Vec<std::path::PathBuf> {
    let hex: Vec<u8> = secret
        .iter()
        .flat_map(|b| format!("{b:02x}").into_bytes())
        .collect();
    files_under(dir)
        .into_iter()
        .filter(|path| {
            let bytes = std::fs::read(path).unwrap_or_default();
            bytes.windows(secret.len()).any(|w| w == secret)
                || bytes.windows(hex.len()).any(|w| w == hex.as_slice())
        })
        .collect()
}

/// Our nodes' seeds are sealed in the vault, never on disk in clear (the whole data dir
/// is scanned; carol, an outside node with a seed file of her own, proves the scan finds
/// one); `fulgur keys rotate` re-wraps them while the demo runs, audited; after a restart
/// the nodes come back with the same identities.
fn demo_seeds_stay_sealed_while_the_kek_rotates(keys: DemoKeys) {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (mut demo, summary) = demo_with_keys(&keys, d);
    let ids = node_ids(&summary);
    assert!(
        summary.iter().any(|l| l.starts_with("keys: ")),
        "{summary:#?}"
    );
    let operator = keys.tool_config(d);
    let keys_cmd = |args: &[&str]| {
        let mut command = fulgur();
        command
            .arg("keys")
            .args(args)
            .arg("--config")
            .arg(&operator);
        keys.env(&mut command);
        command.output().expect("fulgur keys runs")
    };

    let init = keys_cmd(&["init"]);
    let said = String::from_utf8_lossy(&init.stdout);
    assert!(init.status.success(), "{said}");
    for label in ["approval-operations", "approval-backup"] {
        assert!(
            said.lines()
                .any(|l| l.starts_with(&format!("approval key {label}: secp256k1 0"))),
            "{label}: {said}"
        );
    }
    let rotated = keys_cmd(&["rotate"]);
    let said = String::from_utf8_lossy(&rotated.stdout);
    assert!(
        rotated.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(
        said.contains(
            "fulgur-kek.v1 -> fulgur-kek.v2: 3 secret(s) re-wrapped; destroyed: fulgur-kek.v1"
        ),
        "alpha's and beta's seeds and the pepper: {said}"
    );
    let listed = keys_cmd(&["list"]);
    let list = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{list}");
    assert!(
        list.contains("fulgur-kek.v2") && !list.contains("fulgur-kek.v1"),
        "{list}"
    );
    assert!(list.contains("sensitive=true extractable=false"), "{list}");
    assert!(
        list.lines().any(|l| l.contains("audit-checkpoint")
            && l.contains("secp256k1")
            && l.contains("public 0")),
        "the checkpoint key and its public half: {list}"
    );
    for secret in ["node-seed:alpha", "node-seed:beta", "api-key-pepper"] {
        let line = list
            .lines()
            .find(|l| l.contains(secret))
            .unwrap_or_else(|| panic!("{secret} listed: {list}"));
        assert!(line.contains("wrapped by fulgur-kek.v2"), "{line}");
    }
    // The wrong PIN or passphrase: one line naming it, exit 2.
    let config = std::fs::read_to_string(&operator).expect("config");
    let wrong = d.join("wrong.toml");
    std::fs::write(d.join("wrong.passphrase"), "not the passphrase").expect("wrong");
    std::fs::write(
        &wrong,
        config
            .replace("keys.passphrase", "wrong.passphrase")
            .replace("FULGUR_PKCS11_PIN", "WRONG_PIN"),
    )
    .expect("wrong config");
    let mut command = fulgur();
    command.args(["keys", "list", "--config"]).arg(&wrong);
    keys.env(&mut command);
    let refused = command.env("WRONG_PIN", "0000").output().expect("runs");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{said}");
    assert_eq!(said.trim().lines().count(), 1, "{said}");
    assert!(said.contains("PIN or passphrase"), "{said}");
    let refused = keys_cmd(&["destroy", "fulgur-kek.v2", "--confirm", "fulgur-kek.v2"]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "the current KEK is not destroyed"
    );
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr)
            .trim()
            .lines()
            .count(),
        1
    );
    assert!(terminate(&mut demo).success());

    let (mut again, summary) = demo_with_keys(&keys, d);
    assert_eq!(node_ids(&summary), ids, "same seeds, same node identities");
    assert!(terminate(&mut again).success());

    // Checkpoints are signed by the key store's secp256k1 key: the printed public key and
    // the key store itself (through the operator's config) both verify the trail.
    let checkpoint_key = summary
        .iter()
        .find_map(|l| l.strip_prefix("audit checkpoint key: "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("checkpoint key printed: {summary:#?}"))
        .to_string();
    assert_eq!(checkpoint_key.len(), 66, "compressed secp256k1");
    let store_url = format!("sqlite://{}", d.join("fulgur.db").display());
    for by in [
        vec!["--public-key".to_string(), checkpoint_key],
        vec!["--config".to_string(), operator.display().to_string()],
    ] {
        let mut command = fulgur();
        command
            .args(["audit", "verify", "--store-url", &store_url])
            .args(&by);
        keys.env(&mut command);
        let verified = command.output().expect("audit verify runs");
        let said = String::from_utf8_lossy(&verified.stdout);
        assert!(
            verified.status.success() && said.contains("intact") && !said.contains(" 0 signed"),
            "{by:?}: {said}{}",
            String::from_utf8_lossy(&verified.stderr)
        );
    }

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = store::Store::open(&store::StoreConfig::new(format!(
            "sqlite://{}",
            d.join("fulgur.db").display()
        )))
        .await
        .expect("store");
        let origin = audit::Origin::system("test");
        let vault = vault::Vault::open(
            store.clone(),
            keys.open(d),
            vault::DEFAULT_KEK_NAME,
            vault::system_clock(),
            &origin,
        )
        .await
        .expect("vault");
        for node in ["alpha", "beta"] {
            let seed = vault
                .secret(&format!("node-seed:{node}"))
                .await
                .expect("read")
                .expect("sealed");
            assert_eq!(seed.len(), 64);
            assert_eq!(
                files_holding(d, &seed),
                Vec::<std::path::PathBuf>::new(),
                "{node}"
            );
            assert!(!d.join("nodes").join(node).join("keys_seed").exists());
        }
        let records = audit::list(
            &store,
            audit::AuditFilter {
                tenant_id: None,
                after_seq: 0,
                limit: 1_000,
            },
        )
        .await
        .expect("audit");
        let rewraps = records
            .iter()
            .filter(|r| r.action == "secret.rewrap")
            .count();
        assert_eq!(rewraps, 3);
        for action in ["kek.create", "kek.rotate", "kek.destroy", "secret.create"] {
            assert!(
                records.iter().any(|r| r.action == action),
                "{action} audited"
            );
        }
    });
    let carol_seed = std::fs::read(d.join("nodes/carol/keys_seed")).expect("carol's own seed");
    assert_eq!(
        files_holding(d, &carol_seed),
        [d.join("nodes/carol/keys_seed")],
        "the scan finds a seed in clear where there is one"
    );
}

#[test]
fn demo_seeds_stay_sealed_in_a_software_key_file_while_the_kek_rotates() {
    demo_seeds_stay_sealed_while_the_kek_rotates(DemoKeys::Software);
}

#[test]
fn demo_seeds_stay_sealed_in_a_softhsm2_token_while_the_kek_rotates() {
    let token = keystore::testing::SoftHsmToken::create("fulgur-demo", "2468-demo").expect("token");
    demo_seeds_stay_sealed_while_the_kek_rotates(DemoKeys::SoftHsm(token));
}

/// A fresh idempotency key per call.
fn next_idempotency_key() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "cli-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// One API call with curl; the JSON answer.
fn curl_json(
    api: &str,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> serde_json::Value {
    let mut command = Command::new("curl");
    command
        .args(["-sS", "-X", method, "-H"])
        .arg(format!("authorization: Bearer {key}"))
        .args(["-H", "content-type: application/json", "-H"])
        .arg(format!("idempotency-key: {}", next_idempotency_key()));
    if let Some(body) = body {
        command.args(["-d", body]);
    }
    let output = command
        .arg(format!("{api}{path}"))
        .output()
        .expect("curl runs");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "{method} {path}: {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// An approver's whole day from the command line, against the demo: `fulgur keys init`
/// makes the operations HSM key, `fulgur approvals keygen` the CEO's key; two admins put
/// a policy in force over the API; a payment waits; `fulgur approvals list` shows it,
/// `approve` signs it locally and the HSM co-signs, the payment goes; `reject` rejects
/// another; a bad key file is one line and exit 2.
#[test]
fn approvers_sign_held_payments_from_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (mut demo, summary) = demo_with_keys(&DemoKeys::Software, d);
    let api = summary
        .iter()
        .find_map(|l| l.strip_prefix("gateway: "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("gateway URL printed")
        .to_string();
    let treasury = summary
        .iter()
        .find_map(|l| l.strip_prefix("account treasury/operating: "))
        .expect("treasury account printed")
        .to_string();
    let admin = std::fs::read_to_string(d.join("admin.key")).expect("admin key");
    let admin = admin.trim();
    let operator = DemoKeys::Software.tool_config(d);
    let run = |args: &[&str]| fulgur().args(args).output().expect("fulgur runs");
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).to_string();
    // The demo wrote the configuration it runs with: the operator commands reach its key
    // store and its store with it, while it runs.
    let demo_config = d.join("fulgur.toml");
    let listed = run(&[
        "keys",
        "list",
        "--config",
        demo_config.to_str().expect("utf-8"),
    ]);
    assert!(
        listed.status.success() && text(&listed).contains("pepper"),
        "{}{}",
        text(&listed),
        String::from_utf8_lossy(&listed.stderr)
    );

    let init = run(&[
        "keys",
        "init",
        "--config",
        operator.to_str().expect("utf-8"),
    ]);
    let hsm_public = text(&init)
        .lines()
        .find_map(|l| l.strip_prefix("approval key approval-operations: secp256k1 "))
        .expect("HSM key printed")
        .to_string();
    let seed = d.join("ceo.seed");
    let keygen = run(&[
        "approvals",
        "keygen",
        "--out",
        seed.to_str().expect("utf-8"),
    ]);
    let ceo_public = text(&keygen)
        .rsplit("public key (ed25519): ")
        .next()
        .expect("public key printed")
        .trim()
        .to_string();
    assert_eq!(ceo_public.len(), 64, "{}", text(&keygen));

    // The demo's second administrator, created at bootstrap: a key the first admin minted
    // over the API could not approve its proposal (issue 22).
    let second_admin = std::fs::read_to_string(d.join("admin2.key"))
        .expect("the demo writes admin2.key")
        .trim()
        .to_string();
    // The CEO's approver key is made on the machine (out of band), so the CEO is a person
    // of its own: a key the admin minted over the API would answer to the admin, who
    // initiates the payments below and may not approve them.
    let created = run(&[
        "apikey",
        "create",
        "--config",
        demo_config.to_str().expect("utf-8"),
        "--name",
        "CEO",
        "--role",
        "approver",
    ]);
    let said = text(&created);
    assert!(created.status.success(), "{said}");
    let ceo_id = said
        .split_whitespace()
        .next()
        .expect("key id printed")
        .to_string();
    let ceo_key = said
        .lines()
        .find_map(|l| l.strip_prefix("key (shown once): "))
        .expect("key printed")
        .to_string();
    let ceo_key_file = d.join("ceo.key");
    std::fs::write(&ceo_key_file, ceo_key).expect("ceo key");
    let policy = serde_json::json!({"policy": {
        "approvers": [
            {"id": "hsm-operations", "name": "Operations HSM", "identity": null,
             "key": {"secp256k1": hsm_public}, "hsm_label": "approval-operations"},
            {"id": "ceo", "name": "CEO", "identity": ceo_id,
             "key": {"ed25519": ceo_public}, "hsm_label": null}],
        "groups": {"operations-hsm": ["hsm-operations"], "executives": ["ceo"]},
        "rules": [{"name": "payment", "then": {"require": {"approvals": {"all": [
            {"group": {"group": "operations-hsm", "count": 1}},
            {"group": {"group": "executives", "count": 1}}]}, "expires_in_secs": 3600}}}]
    }});
    let proposed = curl_json(
        &api,
        admin,
        "POST",
        "/v1/approval-policies",
        Some(&policy.to_string()),
    );
    assert_eq!(proposed["state"], "proposed", "{proposed}");
    // The demo's own policy is version 1; this one replaces it.
    let version = proposed["version"].as_i64().expect("a version");
    assert!(version > 1, "{proposed}");
    let active = curl_json(
        &api,
        &second_admin,
        "POST",
        &format!("/v1/approval-policies/{version}/approve"),
        Some("{}"),
    );
    assert_eq!(active["state"], "active", "{active}");

    // carol funds the treasury, then the treasury pays carol twice: both wait.
    let invoice = curl_json(
        &api,
        admin,
        "POST",
        "/v1/invoices",
        Some(&format!(
            r#"{{"account_id":"{treasury}","amount_msat":50000000,"description":"funding"}}"#
        )),
    );
    let paid = curl_json(
        &api,
        admin,
        "POST",
        "/devnet/counterparty/payments",
        Some(&format!(
            r#"{{"bolt11":"{}"}}"#,
            invoice["bolt11"].as_str().expect("bolt11")
        )),
    );
    assert_eq!(paid["status"], "succeeded", "{paid}");
    let mut held = Vec::new();
    for memo in ["approved", "rejected"] {
        let theirs = curl_json(
            &api,
            admin,
            "POST",
            "/devnet/counterparty/invoices",
            Some(&format!(
                r#"{{"amount_msat":1000000,"description":"{memo}"}}"#
            )),
        );
        let accepted = curl_json(
            &api,
            admin,
            "POST",
            "/v1/payments",
            Some(&format!(
                r#"{{"account_id":"{treasury}","bolt11":"{}"}}"#,
                theirs["bolt11"].as_str().expect("bolt11")
            )),
        );
        assert_eq!(accepted["status"], "awaiting_approval", "{accepted}");
        held.push(accepted["id"].as_str().expect("id").to_string());
    }
    let gateway = [
        "--url",
        api.as_str(),
        "--key-file",
        ceo_key_file.to_str().expect("utf-8"),
    ];
    let listed = run(&[&["approvals", "list"][..], &gateway[..]].concat());
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    for id in &held {
        assert!(
            text(&listed).contains(id.as_str()),
            "{id} queued: {}",
            text(&listed)
        );
    }
    let signer = [
        "--approver",
        "ceo",
        "--signing-key-file",
        seed.to_str().expect("utf-8"),
    ];
    let approved = run(&[
        &["approvals", "approve", held[0].as_str()][..],
        &gateway[..],
        &signer[..],
    ]
    .concat());
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    assert!(
        text(&approved).contains(" approved ")
            && text(&approved).contains("hsm-operations approve"),
        "{}",
        text(&approved)
    );
    let rejected = run(&[
        &["approvals", "reject", held[1].as_str()][..],
        &gateway[..],
        &signer[..],
    ]
    .concat());
    assert!(
        text(&rejected).contains(" rejected "),
        "{}",
        text(&rejected)
    );
    let status_of = |id: &str| {
        curl_json(&api, admin, "GET", &format!("/v1/payments/{id}"), None)["status"].clone()
    };
    let settled = (0..100).any(|_| {
        let done = status_of(&held[0]) == "succeeded";
        if !done {
            std::thread::sleep(Duration::from_millis(100));
        }
        done
    });
    assert!(
        settled,
        "the approved payment went: {}",
        status_of(&held[0])
    );
    assert_eq!(status_of(&held[1]), "rejected");

    // A refused vote and a bad key file: one line, exit 2.
    let again = run(&[
        &["approvals", "approve", held[0].as_str()][..],
        &gateway[..],
        &signer[..],
    ]
    .concat());
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("approval_closed"));
    std::fs::write(d.join("bad.seed"), "not hex").expect("bad seed");
    let bad = run(&[
        &[
            "approvals",
            "approve",
            held[0].as_str(),
            "--approver",
            "ceo",
            "--signing-key-file",
        ][..],
        &[d.join("bad.seed").to_str().expect("utf-8")][..],
        &gateway[..],
    ]
    .concat());
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr).trim().lines().count(),
        1
    );
    assert!(terminate(&mut demo).success());
}
