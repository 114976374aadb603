//! `fulgur apikey` and `fulgur audit` as an operator runs them against a store: keys
//! issued, listed, rotated and revoked, bad input refused on one line with exit 2, and
//! `audit verify` finding tampering and naming the record, `audit export` writing JSONL.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `fulgur ARGS` with the store and key store of a config file in `dir`.
fn fulgur(dir: &Path, args: &[&str]) -> Output {
    let config = dir.join("fulgur.toml");
    if !config.exists() {
        std::fs::write(
            &config,
            format!(
                "[store]\nurl = \"sqlite://{d}/fulgur.db\"\n\n[keys]\nbackend = \"software\"\n\
                 path = \"{d}/keys.sealed\"\npassphrase_env = \"TEST_KEYS_PASSPHRASE\"\n",
                d = dir.display()
            ),
        )
        .expect("config");
    }
    Command::new(env!("CARGO_BIN_EXE_fulgur"))
        .args(args)
        .env(
            "FULGUR_STORE__URL",
            format!("sqlite://{}", dir.join("fulgur.db").display()),
        )
        .env("FULGUR_CONFIG", &config)
        .env("TEST_KEYS_PASSPHRASE", "access cli test")
        .env(
            "FULGUR_SERVER__AUDIT_SIGNING_KEY_FILE",
            dir.join("audit.key"),
        )
        .output()
        .expect("runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

fn assert_one_line_exit_2(output: &Output, mentions: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(mentions), "{stderr}");
}

#[test]
fn operators_manage_keys_and_verify_the_audit_trail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    assert!(fulgur(d, &["migrate"]).status.success());
    // The checkpoint key a server would have created.
    std::fs::write(d.join("audit.key"), "11".repeat(32)).expect("key");

    let created = fulgur(
        d,
        &[
            "apikey",
            "create",
            "--name",
            "ops",
            "--role",
            "operator",
            "--allow-ip",
            "10.0.0.0/8",
        ],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let text = stdout(&created);
    let id = text.split_whitespace().next().expect("id").to_string();
    assert!(id.starts_with("key_"), "{text}");
    let key_line = text
        .lines()
        .find(|l| l.starts_with("key (shown once): fgk_"))
        .expect("key shown");
    let key = key_line.rsplit(' ').next().expect("key");

    let listed = stdout(&fulgur(d, &["apikey", "list"]));
    assert!(
        listed.contains(&id) && listed.contains("roles=operator"),
        "{listed}"
    );
    assert!(!listed.contains(key), "a secret is never listed");

    let rotated = fulgur(d, &["apikey", "rotate", &id, "--overlap-secs", "60"]);
    assert!(rotated.status.success());
    assert!(stdout(&rotated).contains("key (shown once): fgk_"));
    let revoked = fulgur(d, &["apikey", "revoke", &id]);
    assert!(stdout(&revoked).contains("revoked"), "{}", stdout(&revoked));

    assert_one_line_exit_2(
        &fulgur(d, &["apikey", "create", "--name", "x", "--role", "root"]),
        "unknown role",
    );
    assert_one_line_exit_2(
        &fulgur(
            d,
            &[
                "apikey",
                "create",
                "--name",
                "x",
                "--role",
                "auditor",
                "--allow-ip",
                "10.0.0.0/99",
            ],
        ),
        "--allow-ip",
    );
    assert_one_line_exit_2(
        &fulgur(
            d,
            &[
                "apikey", "create", "--name", "x", "--role", "auditor", "--tenant", "nope",
            ],
        ),
        "no such tenant",
    );
    assert_one_line_exit_2(
        &fulgur(d, &["apikey", "revoke", "key_nope"]),
        "no such API key",
    );
    assert_one_line_exit_2(
        &fulgur(d, &["audit", "verify", "--public-key", "zz"]),
        "public key",
    );

    // The trail holds the vault's first key and the pepper sealed under it (the first
    // command opened the vault), then create, rotate, revoke — and verifies.
    let verified = fulgur(d, &["audit", "verify"]);
    assert!(verified.status.success(), "{}", stdout(&verified));
    assert!(
        stdout(&verified).contains("intact: 5 records"),
        "{}",
        stdout(&verified)
    );
    let export = d.join("audit.jsonl");
    assert!(fulgur(
        d,
        &["audit", "export", "--out", export.to_str().expect("utf-8")]
    )
    .status
    .success());
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&export)
        .expect("export")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let actions: Vec<&str> = lines
        .iter()
        .map(|r| r["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        [
            "kek.create",
            "secret.create",
            "apikey.create",
            "apikey.rotate",
            "apikey.revoke"
        ]
    );
    assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);
    assert_eq!(lines[0]["actor_id"], "cli");

    // Someone edits a record in the database: verify fails and names it.
    let db = tamper_record_2(d);
    let broken = fulgur(d, &["audit", "verify"]);
    assert_eq!(broken.status.code(), Some(1), "{db}");
    assert!(
        stdout(&broken).contains("record 2 was modified"),
        "{}",
        stdout(&broken)
    );
}

/// Rewrites record 2's outcome through the store (what a DBA with write access could do).
fn tamper_record_2(dir: &Path) -> String {
    let url = format!("sqlite://{}", dir.join("fulgur.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = store::Store::open(&store::StoreConfig::new(&url))
            .await
            .expect("open");
        store
            .write(|sql| sql.execute("UPDATE audit_log SET outcome = 'denied' WHERE seq = 2", &[]))
            .await
            .expect("tamper");
    });
    url
}

#[test]
fn operators_run_the_internal_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    let pki = |args: &[&str]| {
        let mut all = vec!["pki"];
        all.extend_from_slice(args);
        let output = fulgur(dir.path(), &all);
        (output.clone(), stdout(&output))
    };
    let at = pki_dir.to_str().expect("utf-8");
    let (init, _) = pki(&["init", "--dir", at]);
    assert!(init.status.success());
    let (server, said) = pki(&[
        "issue",
        "--dir",
        at,
        "server",
        "--name",
        "api",
        "--dns",
        "localhost",
        "--ip",
        "127.0.0.1",
    ]);
    assert!(server.status.success(), "{said}");
    assert!(said.contains("api.crt"), "{said}");
    let (client, said) = pki(&[
        "issue",
        "--dir",
        at,
        "client",
        "--name",
        "erp",
        "--tenant",
        "acme",
        "--role",
        "integration",
        "--days",
        "20",
    ]);
    assert!(client.status.success(), "{said}");
    // 20 days left is within the 30-day warning: status lists it and exits 1.
    let (status, said) = pki(&["status", "--dir", at]);
    assert_eq!(status.status.code(), Some(1), "{said}");
    assert!(
        said.lines()
            .any(|l| l.starts_with("erp") && l.contains("EXPIRING")),
        "{said}"
    );
    assert!(
        said.lines()
            .any(|l| l.starts_with("api") && !l.contains("EXPIRING")),
        "{said}"
    );
    let (renewed, _) = pki(&["renew", "--dir", at, "--name", "erp"]);
    assert!(renewed.status.success());
    // Revocation: the CA's list names the certificate; bad names and over-long validity
    // are the caller's to fix (exit 2).
    let (revoked, said) = pki(&["revoke", "--dir", at, "--name", "erp"]);
    assert!(revoked.status.success(), "{said}");
    assert!(
        said.contains("revoked") && said.contains("ca.crl"),
        "{said}"
    );
    let (nobody, said) = pki(&["revoke", "--dir", at, "--name", "nobody"]);
    assert_eq!(nobody.status.code(), Some(2), "{said}");
    let (too_long, said) = pki(&[
        "issue",
        "--dir",
        at,
        "client",
        "--name",
        "long",
        "--tenant",
        "acme",
        "--role",
        "integration",
        "--days",
        "61",
    ]);
    assert_eq!(too_long.status.code(), Some(2), "{said}");
    let (renewed, _) = pki(&["renew", "--dir", at, "--name", "erp"]);
    assert!(
        renewed.status.success(),
        "a revoked name is renewed with a new serial"
    );
    let (status, said) = pki(&["status", "--dir", at]);
    assert!(status.status.success(), "{said}");

    for (args, mentions) in [
        (vec!["init", "--dir", at], "already exists"),
        (
            vec![
                "issue", "--dir", at, "client", "--name", "x", "--role", "admin",
            ],
            "--tenant or --platform",
        ),
        (
            vec![
                "issue",
                "--dir",
                at,
                "client",
                "--name",
                "x",
                "--platform",
                "--role",
                "boss",
            ],
            "unknown role",
        ),
        (
            vec![
                "issue", "--dir", at, "server", "--name", "Bad Name", "--dns", "a",
            ],
            "name",
        ),
        (
            vec![
                "issue", "--dir", at, "server", "--name", "api", "--dns", "a",
            ],
            "already exists",
        ),
        (vec!["renew", "--dir", at, "--name", "nobody"], "not found"),
    ] {
        let mut all = vec!["pki"];
        all.extend(args);
        assert_one_line_exit_2(&fulgur(dir.path(), &all), mentions);
    }
}

#[test]
fn operators_keep_the_ca_key_in_the_key_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let at = d.join("pki");
    let at = at.to_str().expect("utf-8");
    let config = d.join("fulgur.toml");
    let config = config.to_str().expect("utf-8");
    // Writes the config (the service's key store: a sealed software file here).
    let _ = fulgur(d, &["--version"]);
    let pki = |args: &[&str]| {
        let mut all = vec!["pki"];
        all.extend_from_slice(args);
        let output = fulgur(d, &all);
        (output.clone(), stdout(&output))
    };
    let (init, said) = pki(&[
        "init",
        "--dir",
        at,
        "--config",
        config,
        "--key-label",
        "ca-2026",
    ]);
    assert!(init.status.success(), "{said}");
    assert!(said.contains("\"ca-2026\" in the key store"), "{said}");
    assert!(
        !d.join("pki/ca.key").exists(),
        "the CA's key is not on disk"
    );

    let client = [
        "client",
        "--name",
        "erp",
        "--tenant",
        "acme",
        "--role",
        "integration",
    ];
    // Without the key store the CA cannot sign, and says where its key is.
    let mut without = vec!["issue", "--dir", at];
    without.extend_from_slice(&client);
    let mut all = vec!["pki"];
    all.extend_from_slice(&without);
    assert_one_line_exit_2(&fulgur(d, &all), "ca-2026");
    let mut with = vec!["issue", "--dir", at, "--config", config];
    with.extend_from_slice(&client);
    let (issued, said) = pki(&with);
    assert!(issued.status.success(), "{said}");
    let (revoked, said) = pki(&["revoke", "--dir", at, "--config", config, "--name", "erp"]);
    assert!(revoked.status.success(), "{said}");

    // A second CA cannot take the label; a label is only for a key store.
    let other = d.join("pki2");
    let other = other.to_str().expect("utf-8");
    for (args, mentions) in [
        (
            vec![
                "init",
                "--dir",
                other,
                "--config",
                config,
                "--key-label",
                "ca-2026",
            ],
            "exists already",
        ),
        (vec!["init", "--dir", other, "--key-label", "x"], "--config"),
    ] {
        let mut all = vec!["pki"];
        all.extend(args);
        assert_one_line_exit_2(&fulgur(d, &all), mentions);
    }
    assert!(!d.join("pki2/ca.crt").exists());
}
