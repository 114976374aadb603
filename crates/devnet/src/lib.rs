//! `devnet`: an in-process Bitcoin regtest chain for development, tests, demos and
//! benchmarks — never for mainnet.
//!
//! It is a real chain, not a stub: blocks carry regtest proof of work and a BIP34 coinbase
//! with a witness commitment; a UTXO set and a mempool enforce double-spend protection,
//! coinbase maturity, absolute and BIP68 relative timelocks, and script validity through
//! libbitcoinconsensus. It answers the subset of bitcoind's JSON-RPC that ldk-node's
//! bitcoind chain source uses, over HTTP/1.1 with basic auth.
//!
//! ```no_run
//! # async fn demo() -> Result<(), devnet::DevnetError> {
//! let devnet = devnet::Devnet::start(devnet::DevnetConfig::default()).await?;
//! devnet.mine_to_faucet(101)?; // mature one block reward for funding
//! println!("bitcoind RPC at {}", devnet.rpc_addr());
//! # Ok(()) }
//! ```

mod chain;
mod clock;
mod electrum;
mod error;
mod esplora;
mod faucet;
mod index;
mod mempool;
mod miner;
mod policy;
mod rpc;
mod state;
mod store;
mod validation;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::serve::ListenerExt;
use bitcoin::{Address, Block, BlockHash, Network, OutPoint, ScriptBuf, Transaction, Txid};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use crate::error::{DevnetError, RejectReason};
pub use crate::validation::Coin;
pub use bitcoin;

use crate::state::State;

/// How to run a devnet. Defaults: in memory, RPC (and Esplora under `/esplora`) on
/// 127.0.0.1:18443, user and password `fulgur`, no Electrum listener, wall-clock time.
#[derive(Clone)]
pub struct DevnetConfig {
    /// Where blocks are kept across restarts; `None` keeps the chain in memory only.
    pub data_dir: Option<PathBuf>,
    /// bitcoind JSON-RPC at `/`, the Esplora REST API at `/esplora`.
    pub rpc_listen: SocketAddr,
    /// Where to serve the Electrum protocol (plain TCP), if at all.
    pub electrum_listen: Option<SocketAddr>,
    pub rpc_user: String,
    pub rpc_password: String,
    pub clock: Arc<dyn Clock>,
}

impl Default for DevnetConfig {
    fn default() -> Self {
        Self {
            data_dir: None,
            rpc_listen: SocketAddr::from(([127, 0, 0, 1], 18443)),
            electrum_listen: None,
            rpc_user: "fulgur".to_string(),
            rpc_password: "fulgur".to_string(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl DevnetConfig {
    /// In memory, RPC on an ephemeral loopback port: for tests.
    pub fn ephemeral() -> Self {
        Self {
            rpc_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Self::default()
        }
    }
}

/// A running devnet chain and its servers. Dropping it stops them.
pub struct Devnet {
    state: Arc<Mutex<State>>,
    rpc_addr: SocketAddr,
    electrum_addr: Option<SocketAddr>,
    rpc_user: String,
    rpc_password: String,
    shutdown: watch::Sender<bool>,
}

impl Devnet {
    /// Loads the chain (if `data_dir` holds one), binds the RPC listener and serves it on the
    /// current tokio runtime.
    pub async fn start(config: DevnetConfig) -> Result<Self, DevnetError> {
        let store = config
            .data_dir
            .as_deref()
            .map(store::BlockStore::open)
            .transpose()?;
        let state = Arc::new(Mutex::new(State::new(store, config.clock)?));
        let listener = TcpListener::bind(config.rpc_listen).await?;
        let rpc_addr = listener.local_addr()?;
        // Without TCP_NODELAY, small request/response pairs stall ~40 ms on delayed ACKs.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let app = rpc::router(Arc::clone(&state), &config.rpc_user, &config.rpc_password)
            .nest("/esplora", esplora::router(Arc::clone(&state)));
        let (shutdown, stopped) = watch::channel(false);
        let electrum_addr = match config.electrum_listen {
            Some(addr) => {
                let listener = TcpListener::bind(addr).await?;
                let bound = listener.local_addr()?;
                tokio::spawn(electrum::serve(
                    listener,
                    Arc::clone(&state),
                    stopped.clone(),
                ));
                tracing::info!(electrum_addr = %bound, "devnet Electrum listening");
                Some(bound)
            }
            None => None,
        };
        let mut rpc_stopped = stopped;
        tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rpc_stopped.changed().await;
            });
            if let Err(e) = served.await {
                tracing::error!(error = %e, "devnet RPC server stopped");
            }
        });
        tracing::info!(%rpc_addr, "devnet RPC listening");
        Ok(Self {
            state,
            rpc_addr,
            electrum_addr,
            rpc_user: config.rpc_user,
            rpc_password: config.rpc_password,
            shutdown,
        })
    }

    pub fn rpc_addr(&self) -> SocketAddr {
        self.rpc_addr
    }

    /// Base URL of the Esplora REST API, as `esplora-client` and ldk-node take it.
    pub fn esplora_url(&self) -> String {
        format!("http://{}/esplora", self.rpc_addr)
    }

    /// The Electrum listener, if the config asked for one.
    pub fn electrum_addr(&self) -> Option<SocketAddr> {
        self.electrum_addr
    }

    pub fn rpc_user(&self) -> &str {
        &self.rpc_user
    }

    pub fn rpc_password(&self) -> &str {
        &self.rpc_password
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn height(&self) -> u32 {
        self.lock().chain.tip_height()
    }

    pub fn tip(&self) -> BlockHash {
        self.lock().chain.tip_hash()
    }

    pub fn block_hash(&self, height: u32) -> Option<BlockHash> {
        self.lock().chain.hash_at(height)
    }

    pub fn block(&self, hash: &BlockHash) -> Option<Block> {
        self.lock().chain.record(hash).map(|r| r.block.clone())
    }

    /// Median time past of the tip (what time-based locks are measured against).
    pub fn median_time_past(&self) -> u32 {
        let state = self.lock();
        state.chain.median_time_past(state.chain.tip_height())
    }

    /// Mines `count` blocks paying `script`, including the mempool's transactions.
    pub fn mine(&self, count: u32, script: &ScriptBuf) -> Result<Vec<BlockHash>, DevnetError> {
        self.lock().mine(count, script)
    }

    /// Mines `count` blocks whose rewards go to the faucet (mature after 100 more blocks).
    pub fn mine_to_faucet(&self, count: u32) -> Result<Vec<BlockHash>, DevnetError> {
        let mut state = self.lock();
        let script = state.faucet.script_pubkey().clone();
        state.mine(count, &script)
    }

    /// Submits a transaction to the mempool, as `sendrawtransaction`.
    pub fn send_raw_transaction(&self, tx: Transaction) -> Result<Txid, RejectReason> {
        self.lock().accept(tx)
    }

    /// Pays each `(script, sat)` from the faucet in one mempool transaction.
    pub fn fund(&self, outputs: &[(ScriptBuf, u64)]) -> Result<Txid, DevnetError> {
        self.lock().fund(outputs)
    }

    pub fn faucet_address(&self) -> Address {
        let state = self.lock();
        Address::from_script(state.faucet.script_pubkey(), Network::Regtest)
            .expect("p2wpkh has an address")
    }

    /// Mature, unspent faucet coins (for tests that build their own transactions).
    pub fn faucet_coins(&self) -> Vec<(OutPoint, Coin)> {
        self.lock().faucet_coins()
    }

    /// Signs inputs that spend faucet outputs of the given values.
    pub fn faucet_sign(&self, tx: &mut Transaction, input_values: &[bitcoin::Amount]) {
        self.lock().faucet.sign(tx, input_values)
    }

    pub fn in_mempool(&self, txid: &Txid) -> bool {
        self.lock().mempool.contains(txid)
    }

    pub fn mempool_txids(&self) -> Vec<Txid> {
        self.lock()
            .mempool
            .in_order()
            .map(|e| e.tx.compute_txid())
            .collect()
    }

    /// Confirmations of a transaction in the active chain; 0 if in the mempool, `None` if
    /// unknown.
    pub fn confirmations(&self, txid: &Txid) -> Option<u32> {
        let state = self.lock();
        if state.mempool.contains(txid) {
            return Some(0);
        }
        let hash = state.chain.block_of(txid)?;
        let height = state.chain.record(&hash)?.height;
        Some(state.chain.tip_height() - height + 1)
    }

    /// A confirmed unspent output.
    pub fn utxo(&self, outpoint: &OutPoint) -> Option<Coin> {
        self.lock().chain.coin(outpoint).cloned()
    }

    /// Disconnects `hash` and the blocks above it; their transactions return to the mempool.
    pub fn invalidate_block(&self, hash: BlockHash) -> Result<(), DevnetError> {
        self.lock().invalidate(hash)
    }

    /// Replaces the top `depth` blocks with `depth + 1` new ones (a reorg that any observer
    /// following the most-work chain must take), all in one step.
    pub fn reorg(&self, depth: u32, payout: &ScriptBuf) -> Result<Vec<BlockHash>, DevnetError> {
        let mut state = self.lock();
        let height = state.chain.tip_height();
        if depth == 0 || depth > height {
            return Err(DevnetError::HeightOutOfRange(depth));
        }
        let fork = state
            .chain
            .hash_at(height - depth + 1)
            .expect("height within the chain");
        state.invalidate(fork)?;
        state.mine(depth + 1, payout)
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
