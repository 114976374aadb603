//! `fulgur`: the one binary. Subcommands grow with each capability.

/// mimalloc rather than glibc malloc: the request path allocates small, short-lived
/// buffers on every worker thread, where glibc spent about a tenth of the CPU in
/// consolidation and chunk bookkeeping (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod apikey_cmd;
mod approvals_cmd;
mod audit_cmd;
mod background_jobs;
mod bench;
mod demo;
mod demo_approvals;
mod demo_compliance;
mod devnet_control;
mod gateway_up;
mod key_setup;
mod keys_cmd;
mod ledger_cmd;
mod lists_cmd;
mod pki_cmd;
mod remote;
mod serve;
mod sla_cmd;
mod telemetry;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "fulgur", version, about = "Enterprise Lightning payments")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Devnet chain, nodes alpha, beta and carol, funded, with confirmed channels.
    Demo(demo::DemoArgs),
    /// Production: the gateway and its nodes from a TOML config (keys overridable by
    /// FULGUR_SECTION__KEY environment variables).
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// Apply pending store migrations.
    Migrate {
        /// `sqlite://PATH` or `postgres://...`.
        #[arg(long, env = "FULGUR_STORE__URL")]
        store_url: String,
    },
    /// API keys on the store: create, list, rotate, revoke.
    Apikey {
        #[command(subcommand)]
        which: apikey_cmd::Which,
    },
    /// Approvers' client: make a key, list the queue, approve or reject (signed locally).
    Approvals {
        #[command(subcommand)]
        which: approvals_cmd::Which,
    },
    /// Keys and sealed secrets: init, list, rotate the key-encryption key, destroy.
    Keys {
        #[command(subcommand)]
        which: keys_cmd::Which,
    },
    /// The audit trail: verify the chain, export it as JSON lines.
    Audit {
        #[command(subcommand)]
        which: audit_cmd::Which,
    },
    /// The internal CA: init, issue, renew, status of TLS certificates.
    Pki {
        #[command(subcommand)]
        which: pki_cmd::Which,
    },
    /// Sanctions lists: import a new version, list the versions loaded.
    Lists {
        #[command(subcommand)]
        which: lists_cmd::Which,
    },
    /// Ledger operations.
    Ledger {
        #[command(subcommand)]
        which: ledger_cmd::Which,
    },
    /// Service levels: attainment, burn rates and error budget of each SLO.
    Sla {
        #[command(subcommand)]
        which: sla_cmd::Which,
    },
    /// Run the devnet chain alone (development and tests only, never mainnet).
    Devnet(DevnetArgs),
    /// Benchmarks; results as a markdown row on stdout and optionally JSON.
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
}

#[derive(clap::Args)]
struct DevnetArgs {
    /// bitcoind JSON-RPC at `/`, the Esplora REST API at `/esplora`.
    #[arg(long, default_value = "127.0.0.1:18443")]
    listen: SocketAddr,
    /// Also serve the Electrum protocol (plain TCP) here.
    #[arg(long)]
    electrum_listen: Option<SocketAddr>,
    #[arg(long, default_value = "fulgur")]
    rpc_user: String,
    #[arg(long, default_value = "fulgur")]
    rpc_password: String,
    /// Keep blocks here across restarts; in memory if absent.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // clap's message up to its first blank line, on one line: the sentence and
            // what it names (the missing arguments), without the usage block.
            let message = e.to_string();
            let first: Vec<&str> = message
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            eprintln!("{} (see fulgur --help)", first.join(" "));
            return ExitCode::from(2);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let log_config = match &cli.command {
        Command::Serve { config } => serve::log_config(config),
        _ => telemetry::LogConfig::from_env(),
    };
    let _telemetry = match telemetry::init(&log_config) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Demo(args) => demo::run(args).await,
            Command::Serve { config } => serve::run(&config).await,
            Command::Migrate { store_url } => migrate(&store_url).await,
            Command::Ledger { which } => ledger_cmd::run(which).await,
            Command::Lists { which } => lists_cmd::run(which).await,
            Command::Sla { which } => sla_cmd::run(which).await,
            Command::Apikey { which } => apikey_cmd::run(which).await,
            Command::Audit { which } => audit_cmd::run(which).await,
            Command::Keys { which } => keys_cmd::run(which).await,
            Command::Approvals { which } => approvals_cmd::run(which).await,
            Command::Pki { which } => pki_cmd::run(which),
            Command::Devnet(args) => run_devnet(args).await,
            Command::Bench { which } => bench::run(which).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        // Bad configuration or input is the caller's to fix: one line, exit 2.
        Err(e) if e.downcast_ref::<crate::BadInput>().is_some() => {
            eprintln!(
                "error: {}",
                e.to_string().lines().next().unwrap_or_default()
            );
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(store_url: &str) -> anyhow::Result<()> {
    let store = match store::Store::open(&store::StoreConfig::new(store_url)).await {
        // A URL that cannot be used is the caller's to fix (exit 2).
        Err(e @ store::StoreError::InvalidUrl(_)) => return Err(BadInput(e.to_string()).into()),
        opened => opened?,
    };
    let before = store.schema_version().await?;
    let applied = store.migrate(gateway_up::now_ms()).await?;
    if applied.is_empty() {
        println!("schema at version {before}: up to date");
    } else {
        println!(
            "applied {}; schema now at version {}",
            applied.join(", "),
            store::latest_version()
        );
    }
    Ok(())
}

async fn run_devnet(args: DevnetArgs) -> anyhow::Result<()> {
    let config = devnet::DevnetConfig {
        data_dir: args.data_dir,
        rpc_listen: args.listen,
        electrum_listen: args.electrum_listen,
        rpc_user: args.rpc_user,
        rpc_password: args.rpc_password,
        ..Default::default()
    };
    let devnet = devnet::Devnet::start(config).await?;
    println!(
        "devnet: bitcoind JSON-RPC at http://{} (height {})",
        devnet.rpc_addr(),
        devnet.height()
    );
    println!("devnet: Esplora at {}", devnet.esplora_url());
    if let Some(electrum) = devnet.electrum_addr() {
        println!("devnet: Electrum at tcp://{electrum}");
    }
    let shutdown = shutdown_signal();
    println!("ready: http://{}", devnet.rpc_addr());
    shutdown.await;
    println!("devnet: stopped at height {}", devnet.height());
    Ok(())
}

/// Input the caller must fix (bad config, bad arguments the parser cannot see): the CLI
/// reports it on one line with exit code 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    // Registered here, not on first poll: a SIGTERM right after `ready:` must not find the
    // default action (kill) still in place.
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (term, interrupt) {
            (Ok(mut term), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = interrupt.recv() => {},
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
