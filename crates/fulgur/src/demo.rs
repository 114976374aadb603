//! `fulgur demo`: the embedded default (SPEC §4) — the devnet chain; nodes alpha and beta
//! (ours) and carol (an outside counterparty) with balanced channels alpha↔carol,
//! beta↔carol, alpha↔beta; the gateway on SQLite with accounts for two business units;
//! the devnet control endpoints; the admin key in `DATA_DIR/admin.key`, a compliance
//! officer's in `DATA_DIR/compliance.key`; a verified customer per business unit and a
//! fixed rate of 5,000,000 EUR per BTC (`demo_compliance.rs`). Keys live in a
//! software key file (`DATA_DIR/keys.sealed`) or, with `--pkcs11-module`, in an HSM token;
//! alpha's and beta's seeds are sealed in the vault under a key there, never on disk in
//! clear.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use gateway::{Gateway, GatewaySink};
use kernel::{Actor, Scope};
use lightning_lab::{Lab, LabConfig, MAX_CHANNEL_SAT};
use node_pool::{LightningNode, NodePool, NodeSeed};

use crate::key_setup::{self, KeysSection};
use crate::{demo_approvals, demo_compliance, gateway_up};

/// alpha and beta belong to the enterprise; carol plays an outside counterparty.
const NODES: [&str; 3] = ["alpha", "beta", "carol"];
const OURS: [&str; 2] = ["alpha", "beta"];
const CHANNELS: [(&str, &str); 3] = [("alpha", "carol"), ("beta", "carol"), ("alpha", "beta")];
/// Two business units, one account each: (tenant id, tenant name, account name).
const ACCOUNTS: [(&str, &str, &str); 2] = [
    ("treasury", "Group Treasury", "operating"),
    ("retail", "Retail", "shop"),
];

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where chain, node and gateway state live; reused on the next run.
    #[arg(long, default_value = ".fulgur-demo")]
    pub data_dir: PathBuf,
    /// Where the HTTP API listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Address of the devnet's bitcoind-compatible RPC.
    #[arg(long, default_value = "127.0.0.1:18443")]
    pub devnet_rpc: SocketAddr,
    /// Keep keys in this PKCS#11 module's token (e.g. /usr/lib/softhsm/libsofthsm2.so)
    /// instead of the software key file; the PIN comes from FULGUR_PKCS11_PIN.
    #[arg(long, requires = "pkcs11_token")]
    pub pkcs11_module: Option<PathBuf>,
    /// The label of the (initialised) token to use.
    #[arg(long, requires = "pkcs11_module")]
    pub pkcs11_token: Option<String>,
}

/// Writes the store and key store the demo runs with to `DATA_DIR/fulgur.toml`, so that
/// the operator commands (`fulgur keys list --config`, `fulgur apikey … --config`,
/// `fulgur audit verify --config`) reach the running demo's store and keys.
fn write_tool_config(
    data_dir: &std::path::Path,
    store_path: &std::path::Path,
    keys: &KeysSection,
) -> anyhow::Result<PathBuf> {
    let config = crate::serve::ToolConfig {
        store: crate::serve::StoreSection {
            url: format!("sqlite://{}", store_path.display()),
            auto_migrate: false,
        },
        keys: keys.clone(),
    };
    let body = toml::to_string(&config)?;
    let text = format!(
        "# Written by `fulgur demo` at each start: the store and key store it runs with, for\n\
         # the operator commands (`fulgur keys list --config {0}`, `fulgur apikey list\n\
         # --config {0}`, `fulgur audit verify --config {0}`). Not a `fulgur serve` config.\n\n{body}",
        data_dir.join("fulgur.toml").display()
    );
    let path = data_dir.join("fulgur.toml");
    secret_file::replace(&path, text.as_bytes(), 0o600)?;
    Ok(path)
}

/// The demo's key store: the token if one is named, else the software key file.
fn keys_section(args: &DemoArgs) -> anyhow::Result<KeysSection> {
    match (&args.pkcs11_module, &args.pkcs11_token) {
        (Some(module), Some(token)) => Ok(KeysSection::Pkcs11 {
            module: module.clone(),
            token_label: token.clone(),
            pin_env: Some("FULGUR_PKCS11_PIN".to_string()),
            pin_file: None,
            sessions: None,
        }),
        _ => KeysSection::local(&args.data_dir),
    }
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let data_dir = args.data_dir.clone();
    std::fs::create_dir_all(&data_dir)?;
    let keys_section = keys_section(&args)?;
    let store_path = data_dir.join("fulgur.db");
    let config_path = write_tool_config(&data_dir, &store_path, &keys_section)?;
    let store = gateway_up::open_store(&format!("sqlite://{}", store_path.display())).await?;
    let origin = audit::Origin::system("demo");
    // A checkpoint key file from an earlier demo keeps signing, so its chain still verifies.
    let old_audit_key = Some(data_dir.join("audit-signing.key")).filter(|p| p.exists());
    let keys = key_setup::key_material(
        &store,
        keys_section.open()?,
        old_audit_key.as_deref(),
        &origin,
    )
    .await?;
    let sink = GatewaySink::new();
    let mut config = LabConfig::new(data_dir.clone(), &NODES);
    config.devnet_rpc = args.devnet_rpc;
    for node in OURS {
        let seed = key_setup::node_seed(&keys.vault, node, &config.node_dir(node), &origin).await?;
        config = config.seed(node, NodeSeed::new(seed));
    }
    for (from, to) in CHANNELS {
        config = config.balanced_channel(from, to, MAX_CHANNEL_SAT);
    }
    for node in OURS {
        config = config.event_sink(node, sink.clone());
    }
    println!(
        "fulgur demo: starting devnet and nodes in {}",
        data_dir.display()
    );
    let lab = Arc::new(Lab::start(config).await?);
    let pool = Arc::new(NodePool::new());
    for node in OURS {
        let node: Arc<dyn LightningNode> = lab.node(node)?;
        pool.add(node)?;
    }
    let files = gateway_up::AccessSetup {
        approver_keys: demo_approvals::key_files(&data_dir)?,
        ..gateway_up::AccessSetup::in_dir(&data_dir)
    };
    let key_path = files.admin_key.clone();
    let running = gateway_up::start(
        store,
        pool,
        sink,
        args.listen,
        &files,
        gateway_up::Services {
            gateway: gateway::GatewayConfig {
                instance_id: Some(gateway_up::instance_id(&data_dir)),
                eur_rate: demo_compliance::eur_rate(),
                ..gateway::GatewayConfig::default()
            },
            // Demo receivers listen on localhost without TLS.
            webhooks: webhooks::WebhookConfig {
                allow_http: true,
                allowed_private_networks: vec!["127.0.0.0/8".parse()?],
                ..webhooks::WebhookConfig::default()
            },
            chain: Some(lab.rpc_chain_source()),
            probes: Some(gateway::ProbeConfig::default()),
            keys: keys.clone(),
            bundled_lists: true,
        },
        Some(crate::devnet_control::routes(Arc::clone(&lab))),
    )
    .await?;
    let accounts = demo_accounts(&running.gateway).await?;
    let watched_bolt11 = demo_compliance::watched_invoice(&running.gateway, 1_000).await?;
    let api_url = format!("http://{}", running.addr);
    let hsm = key_setup::approval_keys(keys.keys.as_ref())?;
    let policy = demo_approvals::policy(&data_dir, &running.approver_credentials, &hsm)?;
    let second_admin = files
        .second_admin_key
        .as_deref()
        .context("the demo has a second administrator")?;
    let policy_version =
        demo_approvals::put_in_force(&api_url, &key_path, second_admin, &policy).await?;
    print_summary(&lab)?;
    println!(
        "gateway: http://{} (SQLite {})",
        running.addr,
        store_path.display()
    );
    println!("admin key: {}", key_path.display());
    if let Some(second) = &files.second_admin_key {
        println!(
            "second admin key: {} (approves what the first proposes)",
            second.display()
        );
    }
    println!("keys: {}", keys_section.describe());
    println!(
        "config for operator commands: {} (fulgur keys list --config …)",
        config_path.display()
    );
    println!(
        "audit checkpoint key: {} (fulgur audit verify --store-url sqlite://{} --public-key ...)",
        keys.checkpoint_key.to_hex(),
        store_path.display()
    );
    for ((tenant, _, name), id) in ACCOUNTS.iter().zip(&accounts) {
        println!("account {tenant}/{name}: {id}");
    }
    print_examples(&lab, running.addr, &key_path, &accounts);
    println!(
        "EUR rate: 5,000,000 EUR per BTC, fixed for the demo (1 EUR = {} msat)",
        demo_compliance::msat_of_eur(1)
    );
    match policy_version {
        demo_approvals::InForce::Demo(version) => println!(
            "approval policy v{version} in force: the customer's default (from 10,000 EUR both \
             HSM keys and an executive; emergency recovery 4 of 5), except that below 10,000 \
             EUR the demo asks no approval; approvers' keys in {}",
            data_dir.join("approvers").display()
        ),
        demo_approvals::InForce::Other(version) => println!(
            "approval policy v{version} in force (put in force since the demo's; kept); the \
             demo's approvers' keys in {}",
            data_dir.join("approvers").display()
        ),
    }
    if let Some(officer) = &files.compliance_key {
        println!("compliance officer key: {}", officer.display());
        println!("compliance examples (paste after the examples above):");
        let approve = demo_approvals::approve_command(&data_dir);
        for line in demo_compliance::examples(officer, &accounts[0], &watched_bolt11, &approve) {
            println!("  {line}");
        }
    }
    println!("up in {:.1} s", started.elapsed().as_secs_f64());
    let shutdown = crate::shutdown_signal();
    println!("ready: http://{}", running.addr);
    shutdown.await;
    println!("shutting down");
    running.stop().await?;
    lab.shutdown().await?;
    Ok(())
}

/// The demo's tenants, their customers (verified) and accounts, created on the first run
/// and found on later ones.
async fn demo_accounts(gateway: &Gateway) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for (tenant, tenant_name, name) in ACCOUNTS {
        gateway
            .create_tenant(&Actor::system("demo"), tenant, tenant_name)
            .await?;
        let customer = demo_compliance::customer_of(gateway, tenant, tenant_name).await?;
        let existing = gateway
            .accounts(&Scope::All, tenant, None, 500)
            .await?
            .into_iter()
            .find(|a| a.name == name);
        let account = match existing {
            Some(account) => account,
            None => {
                gateway
                    .create_customer_account(&Actor::system("demo"), tenant, name, Some(&customer))
                    .await?
            }
        };
        ids.push(account.id);
    }
    Ok(ids)
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

/// Commands that work when pasted into a POSIX shell (curl and sed only).
fn print_examples(lab: &Lab, api: SocketAddr, key_path: &std::path::Path, accounts: &[String]) {
    let rpc = lab.devnet.rpc_addr();
    let auth = format!("{}:{}", lab.devnet.rpc_user(), lab.devnet.rpc_password());
    let (treasury, retail) = (&accounts[0], &accounts[1]);
    let h = r#"-H "authorization: Bearer $KEY" -H 'content-type: application/json'"#;
    println!("\nexamples (paste into a shell):");
    for line in [
        format!("export API=http://{api} KEY=$(cat {})", key_path.display()),
        format!("curl -s {h} $API/v1/nodes"),
        "# carol (outside) pays an invoice of the treasury account:".to_string(),
        format!(
            r#"BOLT11=$(curl -s {h} -d '{{"account_id":"{treasury}","amount_msat":5000000,"description":"order 42"}}' $API/v1/invoices | sed -E 's/.*"bolt11":"([^"]+)".*/\1/')"#
        ),
        format!(r#"curl -s {h} -d "{{\"bolt11\":\"$BOLT11\"}}" $API/devnet/counterparty/payments"#),
        format!("curl -s {h} $API/v1/accounts/{treasury}"),
        "# the treasury account pays carol:".to_string(),
        format!(
            r#"BOLT11=$(curl -s {h} -d '{{"amount_msat":1000000,"description":"supplier"}}' $API/devnet/counterparty/invoices | sed -E 's/.*"bolt11":"([^"]+)".*/\1/')"#
        ),
        format!(
            r#"PAYMENT=$(curl -s {h} -H "idempotency-key: $(date +%s%N)" -d "{{\"account_id\":\"{treasury}\",\"bolt11\":\"$BOLT11\"}}" $API/v1/payments | sed -E 's/.*"id":"([^"]+)".*/\1/')"#
        ),
        format!("sleep 1; curl -s {h} $API/v1/payments/$PAYMENT"),
        "# the treasury account pays a retail invoice: settled inside the ledger:".to_string(),
        format!(
            r#"BOLT11=$(curl -s {h} -d '{{"account_id":"{retail}","amount_msat":2000,"description":"internal"}}' $API/v1/invoices | sed -E 's/.*"bolt11":"([^"]+)".*/\1/')"#
        ),
        format!(
            r#"curl -s {h} -H "idempotency-key: $(date +%s%N)" -d "{{\"account_id\":\"{treasury}\",\"bolt11\":\"$BOLT11\"}}" $API/v1/payments"#
        ),
        format!("curl -s {h} $API/v1/accounts/{retail}"),
        format!("curl -s {h} $API/v1/ledger/check"),
        format!(r#"curl -s {h} -d '{{"blocks":1}}' $API/devnet/mine"#),
    ] {
        println!("  {line}");
    }
    println!("devnet RPC (bitcoind-compatible): http://{rpc}, user:password {auth}");
    println!("devnet Esplora: {}", lab.devnet.esplora_url());
}
