//! The embedded backend: one ldk-node `Node` (SQLite store, fsync per channel update).
//!
//! Over 500 lines because it is the one `LightningNode` implementation over ldk-node
//! (building, events, payments, channels, wallet): the trait's contract reads in one place.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use ldk_node::bitcoin::hashes::Hash;
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Network;
use ldk_node::config::{AnchorChannelsConfig, Config};
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning::routing::gossip::NodeAlias;
use ldk_node::lightning::routing::router::RouteParametersConfig;
use ldk_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Description};
use ldk_node::payment::{PaymentDirection as LdkDirection, PaymentKind, PaymentStatus};
use ldk_node::{Builder, Event, UserChannelId};
use tokio::sync::broadcast;
use tokio::task::{JoinHandle, JoinSet};

use crate::channel_balance::{our_side_msat, ChannelFigures, ANCHORS_SAT};
use crate::config::{ChainSource, NodeConfig, NodeStore};
use crate::durability::{log_store_options, Durability};
use crate::error::NodeError;
use crate::event_journal::{start_delivery, EventJournal};
use crate::node::LightningNode;
use crate::types::{
    ChannelInfo, ChannelRef, Invoice, Liquidity, NodeEvent, NodeInfo, OnchainBalance,
    OnchainPayment, PaymentDirection, PaymentInfo, PaymentState, PeerAddress,
};
use node_store::LogStore;

/// Bound of the event fan-out; slower subscribers see `Lagged` and reconcile.
const EVENT_CHANNEL_CAPACITY: usize = 4096;
/// Bounds on retrying a send that found no route because channels were momentarily full:
/// at most about 2 s in all.
const MAX_SEND_ATTEMPTS: u32 = 16;
const SEND_RETRY_FIRST_BACKOFF: Duration = Duration::from_millis(5);
const SEND_RETRY_MAX_BACKOFF: Duration = Duration::from_millis(200);
/// Bound of remembered failure reasons (oldest dropped first).
const MAX_REMEMBERED_FAILURES: usize = 10_000;

pub struct LdkNode {
    name: String,
    node: Arc<ldk_node::Node>,
    listen: SocketAddr,
    network: Network,
    events: broadcast::Sender<NodeEvent>,
    failures: Arc<Mutex<FailureLog>>,
    pump: Mutex<Option<JoinHandle<()>>>,
    /// Synced before a result that rests on written-behind records leaves the node.
    durability: Durability,
}

/// Failure reasons by payment hash: ldk-node stores the status but not why it failed.
#[derive(Default)]
struct FailureLog {
    reasons: HashMap<[u8; 32], String>,
    order: std::collections::VecDeque<[u8; 32]>,
}

impl FailureLog {
    fn record(&mut self, hash: [u8; 32], reason: String) {
        if self.reasons.insert(hash, reason).is_none() {
            self.order.push_back(hash);
            if self.order.len() > MAX_REMEMBERED_FAILURES {
                if let Some(old) = self.order.pop_front() {
                    self.reasons.remove(&old);
                }
            }
        }
    }
}

impl LdkNode {
    /// Builds and starts the node on the current tokio runtime, then starts the event pump.
    pub async fn start(config: NodeConfig) -> Result<Self, NodeError> {
        let mut alias = [0u8; 32];
        let name_bytes = config.name.as_bytes();
        if name_bytes.is_empty() || name_bytes.len() > alias.len() {
            return Err(NodeError::Build(format!(
                "node name must be 1 to 32 bytes, got {:?}",
                config.name
            )));
        }
        alias[..name_bytes.len()].copy_from_slice(name_bytes);

        let ldk_config = Config {
            storage_dir_path: config.storage_dir.to_string_lossy().into_owned(),
            network: config.network,
            listening_addresses: Some(vec![SocketAddress::from(config.listen)]),
            node_alias: Some(NodeAlias(alias)),
            anchor_channels_config: Some(AnchorChannelsConfig {
                trusted_peers_no_reserve: Vec::new(),
                per_channel_reserve_sats: config.anchor_reserve_per_channel_sat,
            }),
            ..Config::default()
        };
        let mut builder = Builder::from_config(ldk_config);
        match &config.chain_source {
            ChainSource::BitcoindRpc {
                host,
                port,
                user,
                password,
            } => builder.set_chain_source_bitcoind_rpc(
                host.clone(),
                *port,
                user.clone(),
                password.clone(),
            ),
            ChainSource::Esplora { url } => builder.set_chain_source_esplora(url.clone(), None),
            ChainSource::Electrum { url } => builder.set_chain_source_electrum(url.clone(), None),
        };
        if let Some(seed) = &config.seed {
            builder.set_entropy_seed_bytes(seed.bytes());
        }
        builder.set_log_facade_logger();
        let mut durability = Durability::default();
        let built = match config.store {
            NodeStore::Log => {
                let store = Arc::new(
                    LogStore::open_with(&config.storage_dir.join("store"), log_store_options())
                        .map_err(|e| NodeError::Build(format!("node store: {e}")))?,
                );
                durability = Durability::of(&store);
                builder.build_with_store(store)
            }
            NodeStore::Sqlite => builder.build(),
        };
        let node = Arc::new(built.map_err(|e| NodeError::Build(e.to_string()))?);
        node.start().map_err(NodeError::from)?;

        let (events, _) = broadcast::channel(EVENT_CHANNEL_CAPACITY);
        let failures = Arc::new(Mutex::new(FailureLog::default()));
        let pump = tokio::spawn(pump_events(
            config.name.clone(),
            Arc::clone(&node),
            events.clone(),
            Arc::clone(&failures),
            config.event_sink.clone(),
            durability.clone(),
        ));
        Ok(Self {
            name: config.name,
            node,
            listen: config.listen,
            network: config.network,
            events,
            failures,
            pump: Mutex::new(Some(pump)),
            durability,
        })
    }

    /// Stops the event pump and the node, blocking the thread; stopping twice is no error.
    pub fn halt(&self) -> Result<(), NodeError> {
        if let Some(pump) = self.pump.lock().ok().and_then(|mut p| p.take()) {
            pump.abort();
        }
        match self.node.stop() {
            Ok(()) | Err(ldk_node::NodeError::NotRunning) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The underlying ldk-node, for what the abstraction does not (yet) cover.
    pub fn inner(&self) -> &ldk_node::Node {
        &self.node
    }

    /// Syncs the on-chain wallet, the channels and the fee estimates with the chain source
    /// now rather than at the next background round (Esplora and Electrum are polled every
    /// 30–80 s; a bitcoind source is polled every few seconds).
    pub async fn sync_now(&self) -> Result<(), NodeError> {
        let node = Arc::clone(&self.node);
        tokio::task::spawn_blocking(move || node.sync_wallets())
            .await
            .map_err(|e| NodeError::Backend(format!("sync task: {e}")))?
            .map_err(NodeError::from)
    }

    fn parse_invoice(&self, bolt11: &str) -> Result<Bolt11Invoice, NodeError> {
        let invoice = Bolt11Invoice::from_str(bolt11.trim())
            .map_err(|e| NodeError::InvalidInvoice(e.to_string()))?;
        if invoice.network() != self.network {
            return Err(NodeError::WrongNetwork {
                invoice: invoice.network().to_string(),
                node: self.network.to_string(),
            });
        }
        // LDK itself checks expiry against the system clock, so this check uses it too.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        if invoice.would_expire(now) {
            return Err(NodeError::InvoiceExpired);
        }
        Ok(invoice)
    }

    /// What the usable channels hold on our side, summed (multi-path payments may split).
    /// Balance, not the momentary HTLC limit: a channel whose HTLC slots are full frees them
    /// within a round trip, and LDK retries; only a missing balance is a caller error.
    fn sendable_msat(&self) -> u64 {
        self.node
            .list_channels()
            .iter()
            .filter(|c| c.is_usable)
            .map(|c| c.outbound_capacity_msat)
            .sum()
    }
}

impl Drop for LdkNode {
    /// Stops the node while the runtime is still alive; ldk-node's own drop would otherwise
    /// stop it from inside a runtime that is shutting down.
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

pub(crate) fn hex32(bytes: &[u8; 32]) -> String {
    ldk_node::bitcoin::hex::DisplayHex::to_lower_hex_string(&bytes[..])
}

fn parse_hash(hex: &str) -> Option<[u8; 32]> {
    <[u8; 32] as ldk_node::bitcoin::hex::FromHex>::from_hex(hex).ok()
}

fn parse_node_id(node_id: &str) -> Result<PublicKey, NodeError> {
    PublicKey::from_str(node_id)
        .map_err(|_| NodeError::PeerUnreachable(format!("invalid node id {node_id}")))
}

fn parse_channel(
    node: &ldk_node::Node,
    channel: &ChannelRef,
) -> Result<(UserChannelId, PublicKey), NodeError> {
    let counterparty = parse_node_id(&channel.counterparty)?;
    let id = u128::from_str(&channel.user_channel_id)
        .map_err(|_| NodeError::UnknownChannel(channel.user_channel_id.clone()))?;
    let known = node
        .list_channels()
        .iter()
        .any(|c| c.user_channel_id.0 == id && c.counterparty_node_id == counterparty);
    if !known {
        return Err(NodeError::UnknownChannel(channel.user_channel_id.clone()));
    }
    Ok((UserChannelId(id), counterparty))
}

#[async_trait]
impl LightningNode for LdkNode {
    fn name(&self) -> &str {
        &self.name
    }

    fn info(&self) -> NodeInfo {
        let status = self.node.status();
        NodeInfo {
            name: self.name.clone(),
            node_id: self.node.node_id().to_string(),
            listen: self.listen,
            running: status.is_running,
            best_block_height: status.current_best_block.height,
        }
    }

    async fn new_onchain_address(&self) -> Result<String, NodeError> {
        Ok(self.node.onchain_payment().new_address()?.to_string())
    }

    fn onchain_balance(&self) -> OnchainBalance {
        let balances = self.node.list_balances();
        let open: std::collections::HashSet<_> = self
            .node
            .list_channels()
            .into_iter()
            .map(|c| c.channel_id)
            .collect();
        OnchainBalance {
            total_sat: balances.total_onchain_balance_sats,
            spendable_sat: balances.spendable_onchain_balance_sats,
            closing_sat: balances
                .lightning_balances
                .iter()
                .map(|b| closing_sat(b, &open))
                .sum::<u64>()
                + balances
                    .pending_balances_from_channel_closures
                    .iter()
                    .map(pending_sweep_sat)
                    .sum::<u64>(),
        }
    }

    fn onchain_fees_paid_sat(&self) -> u64 {
        self.node
            .list_payments_with_filter(|p| {
                matches!(p.kind, PaymentKind::Onchain { .. })
                    && p.direction == LdkDirection::Outbound
            })
            .iter()
            .filter_map(|p| p.fee_paid_msat)
            .sum::<u64>()
            / 1000
    }

    async fn sweep_onchain(&self, address: &str) -> Result<String, NodeError> {
        let open = self.node.list_channels().len();
        if open > 0 {
            return Err(NodeError::ChannelsStillOpen(open));
        }
        let address = crate::address::parse_address(address, self.network)?;
        // Nothing to reserve: with no channel left there is no anchor to bump.
        let txid = self
            .node
            .onchain_payment()
            .send_all_to_address(&address, false, None)?;
        self.durability.sync().await?;
        Ok(txid.to_string())
    }

    fn onchain_payment(&self, txid: &str) -> Option<OnchainPayment> {
        let txid = ldk_node::bitcoin::Txid::from_str(txid).ok()?;
        let payment = self
            .node
            .payment(&ldk_node::lightning::ln::channelmanager::PaymentId(
                txid.to_byte_array(),
            ))?;
        let PaymentKind::Onchain { status, .. } = payment.kind else {
            return None;
        };
        Some(OnchainPayment {
            txid: txid.to_string(),
            amount_sat: payment.amount_msat.unwrap_or(0) / 1000,
            fee_sat: payment.fee_paid_msat.unwrap_or(0) / 1000,
            confirmed: matches!(
                status,
                ldk_node::payment::ConfirmationStatus::Confirmed { .. }
            ),
        })
    }

    async fn open_channel(
        &self,
        peer: &PeerAddress,
        capacity_sat: u64,
        push_msat: u64,
        announce: bool,
    ) -> Result<ChannelRef, NodeError> {
        let node_id = parse_node_id(&peer.node_id)?;
        let address = SocketAddress::from(peer.address);
        let push = (push_msat > 0).then_some(push_msat);
        let id = if announce {
            self.node
                .open_announced_channel(node_id, address, capacity_sat, push, None)?
        } else {
            self.node
                .open_channel(node_id, address, capacity_sat, push, None)?
        };
        Ok(ChannelRef {
            user_channel_id: id.0.to_string(),
            counterparty: peer.node_id.clone(),
        })
    }

    async fn close_channel(&self, channel: &ChannelRef, force: bool) -> Result<(), NodeError> {
        let (id, counterparty) = parse_channel(&self.node, channel)?;
        if force {
            self.node.force_close_channel(&id, counterparty, None)?;
        } else {
            self.node.close_channel(&id, counterparty)?;
        }
        Ok(())
    }

    fn liquidity(&self) -> Liquidity {
        let mut liquidity = Liquidity {
            running: self.node.status().is_running,
            usable_channels: 0,
            sendable_msat: 0,
            receivable_msat: 0,
        };
        for channel in self.node.list_channels().iter().filter(|c| c.is_usable) {
            liquidity.usable_channels += 1;
            liquidity.sendable_msat += channel.next_outbound_htlc_limit_msat;
            liquidity.receivable_msat += channel.inbound_capacity_msat;
        }
        liquidity
    }

    fn channels(&self) -> Vec<ChannelInfo> {
        self.node
            .list_channels()
            .into_iter()
            .map(|c| ChannelInfo {
                channel: ChannelRef {
                    user_channel_id: c.user_channel_id.0.to_string(),
                    counterparty: c.counterparty_node_id.to_string(),
                },
                channel_id: c.channel_id.to_string(),
                capacity_sat: c.channel_value_sats,
                balance_msat: our_side_msat(ChannelFigures {
                    capacity_sat: c.channel_value_sats,
                    outbound_msat: c.outbound_capacity_msat,
                    inbound_msat: c.inbound_capacity_msat,
                    our_reserve_sat: c.unspendable_punishment_reserve.unwrap_or(0),
                    their_reserve_sat: c.counterparty_unspendable_punishment_reserve,
                    // Our nodes negotiate anchor channels (`anchor_channels_config`).
                    anchors_sat: ANCHORS_SAT,
                }),
                outbound_msat: c.outbound_capacity_msat,
                inbound_msat: c.inbound_capacity_msat,
                next_outbound_htlc_limit_msat: c.next_outbound_htlc_limit_msat,
                funding_txid: c.funding_txo.map(|o| o.txid.to_string()),
                confirmations: c.confirmations.unwrap_or(0),
                is_ready: c.is_channel_ready,
                is_usable: c.is_usable,
                is_announced: c.is_announced,
            })
            .collect()
    }

    async fn create_invoice(
        &self,
        amount_msat: u64,
        description: &str,
        expiry_secs: u32,
    ) -> Result<Invoice, NodeError> {
        if amount_msat == 0 {
            return Err(NodeError::InvalidAmount {
                amount_msat,
                reason: "must be positive",
            });
        }
        let description = Description::new(description.to_string())
            .map_err(|e| NodeError::InvalidDescription(e.to_string()))?;
        let invoice = self.node.bolt11_payment().receive(
            amount_msat,
            &Bolt11InvoiceDescription::Direct(description),
            expiry_secs,
        )?;
        // The node knows the invoice before the gateway hands it out.
        self.durability.sync().await?;
        Ok(Invoice {
            bolt11: invoice.to_string(),
            payment_hash: hex32(invoice.payment_hash().as_byte_array()),
            amount_msat,
            expires_at_unix_secs: invoice
                .expires_at()
                .map(|d| d.as_secs())
                .unwrap_or(u64::MAX),
        })
    }

    async fn pay_invoice(
        &self,
        bolt11: &str,
        amount_msat: Option<u64>,
        max_fee_msat: Option<u64>,
    ) -> Result<String, NodeError> {
        let invoice = self.parse_invoice(bolt11)?;
        let hash = *invoice.payment_hash().as_byte_array();
        let payment_hash = hex32(&hash);
        if let Some(existing) = self.payment(&payment_hash) {
            if existing.direction == PaymentDirection::Outbound
                && !matches!(existing.state, PaymentState::Failed { .. })
            {
                return Ok(payment_hash);
            }
        }
        let amount = match (invoice.amount_milli_satoshis(), amount_msat) {
            (Some(_), Some(given)) if given == 0 => {
                return Err(NodeError::InvalidAmount {
                    amount_msat: given,
                    reason: "must be positive",
                })
            }
            (Some(invoiced), given) => given.unwrap_or(invoiced).max(invoiced),
            (None, Some(given)) if given > 0 => given,
            (None, _) => return Err(NodeError::AmountRequired),
        };
        let available_msat = self.sendable_msat();
        if amount > available_msat {
            return Err(NodeError::InsufficientLiquidity {
                amount_msat: amount,
                available_msat,
            });
        }
        let route = max_fee_msat.map(|fee| RouteParametersConfig {
            max_total_routing_fee_msat: Some(fee),
            ..Default::default()
        });
        // Every channel's HTLC slots can be briefly in use under load; LDK then finds no
        // route at once and records the attempt as failed, so a bounded retry is safe (the
        // retry is a new attempt for the same payment hash, never a second payment).
        let mut backoff = SEND_RETRY_FIRST_BACKOFF;
        for attempt in 1..=MAX_SEND_ATTEMPTS {
            let result = match invoice.amount_milli_satoshis() {
                Some(_) => self.node.bolt11_payment().send(&invoice, route),
                None => self
                    .node
                    .bolt11_payment()
                    .send_using_amount(&invoice, amount, route),
            };
            match result {
                Ok(_) | Err(ldk_node::NodeError::DuplicatePayment) => {
                    self.durability.sync().await?;
                    return Ok(payment_hash);
                }
                Err(ldk_node::NodeError::PaymentSendingFailed) if attempt < MAX_SEND_ATTEMPTS => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(SEND_RETRY_MAX_BACKOFF);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(NodeError::NoRouteNow)
    }

    async fn resume_payment(
        &self,
        bolt11: &str,
        amount_msat: Option<u64>,
        max_fee_msat: Option<u64>,
    ) -> Result<String, NodeError> {
        let invoice = self.parse_invoice(bolt11)?;
        let hash = *invoice.payment_hash().as_byte_array();
        // An HTLC of this payment sitting in a closed channel's on-chain outputs (a channel
        // force-closed at restart because its manager was stale) is in flight already: the
        // chain will settle it, and the node reports the outcome.
        let on_chain = self.node.list_balances().lightning_balances.iter().any(|b| {
            matches!(b, ldk_node::LightningBalance::MaybeTimeoutClaimableHTLC { payment_hash, .. }
                if payment_hash.0 == hash)
        });
        if on_chain {
            return Ok(hex32(&hash));
        }
        let pending = self.payment(&hex32(&hash)).is_some_and(|p| {
            p.direction == PaymentDirection::Outbound && p.state == PaymentState::Pending
        });
        if pending {
            // ldk-node writes its pending record before the channel manager persists the
            // payment. Dropping the record lets the send below reach the channel manager,
            // which refuses a payment id it knows (in flight, or completed within its
            // idempotency window; a completed payment's event is still queued for us,
            // since events are acknowledged only after the sink recorded them).
            self.node
                .remove_payment(&ldk_node::lightning::ln::channelmanager::PaymentId(hash))
                .map_err(NodeError::from)?;
        }
        self.pay_invoice(bolt11, amount_msat, max_fee_msat).await
    }

    fn payment(&self, payment_hash: &str) -> Option<PaymentInfo> {
        let hash = parse_hash(payment_hash)?;
        let details = self
            .node
            .payment(&ldk_node::lightning::ln::channelmanager::PaymentId(hash))?;
        let preimage = match &details.kind {
            PaymentKind::Bolt11 { preimage, .. } | PaymentKind::Bolt11Jit { preimage, .. } => {
                preimage.map(|p| hex32(&p.0))
            }
            PaymentKind::Spontaneous { preimage, .. } => preimage.map(|p| hex32(&p.0)),
            _ => None,
        };
        let state = match details.status {
            PaymentStatus::Pending => PaymentState::Pending,
            PaymentStatus::Succeeded => PaymentState::Succeeded,
            PaymentStatus::Failed => {
                let reason = self
                    .failures
                    .lock()
                    .ok()
                    .and_then(|f| f.reasons.get(&hash).cloned());
                PaymentState::Failed {
                    reason: reason.unwrap_or_else(|| "failed".to_string()),
                }
            }
        };
        Some(PaymentInfo {
            payment_hash: payment_hash.to_string(),
            direction: match details.direction {
                LdkDirection::Inbound => PaymentDirection::Inbound,
                LdkDirection::Outbound => PaymentDirection::Outbound,
            },
            amount_msat: details.amount_msat,
            fee_msat: details.fee_paid_msat,
            preimage,
            state,
        })
    }

    fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    async fn stop(&self) -> Result<(), NodeError> {
        self.halt()
    }
}

/// Channel funds that are no longer in an open channel but not yet back in the wallet.
fn closing_sat(
    balance: &ldk_node::LightningBalance,
    open: &std::collections::HashSet<ldk_node::lightning::ln::types::ChannelId>,
) -> u64 {
    use ldk_node::LightningBalance as L;
    match balance {
        // An open channel's balance, or a closed one whose closing transaction is not yet
        // confirmed.
        L::ClaimableOnChannelClose {
            channel_id,
            amount_satoshis,
            ..
        } => {
            if open.contains(channel_id) {
                0
            } else {
                *amount_satoshis
            }
        }
        L::ClaimableAwaitingConfirmations {
            amount_satoshis, ..
        }
        | L::ContentiousClaimable {
            amount_satoshis, ..
        }
        | L::MaybeTimeoutClaimableHTLC {
            amount_satoshis, ..
        }
        | L::MaybePreimageClaimableHTLC {
            amount_satoshis, ..
        }
        | L::CounterpartyRevokedOutputClaimable {
            amount_satoshis, ..
        } => *amount_satoshis,
    }
}

/// Swept outputs not yet confirmed. Once the sweep confirms the funds are in the wallet
/// balance, even though the sweeper keeps tracking the output for thousands of blocks.
fn pending_sweep_sat(balance: &ldk_node::PendingSweepBalance) -> u64 {
    use ldk_node::PendingSweepBalance as P;
    match balance {
        P::PendingBroadcast {
            amount_satoshis, ..
        }
        | P::BroadcastAwaitingConfirmation {
            amount_satoshis, ..
        } => *amount_satoshis,
        P::AwaitingThresholdConfirmations { .. } => 0,
    }
}

/// Moves ldk-node's persisted event queue into typed events. An event is acknowledged only
/// once the sink has it or, on the log store, once it is journaled for the sink (see
/// `event_journal.rs`), so a crash re-delivers it on restart (at least once).
async fn pump_events(
    name: String,
    node: Arc<ldk_node::Node>,
    events: broadcast::Sender<NodeEvent>,
    failures: Arc<Mutex<FailureLog>>,
    sink: Option<crate::SinkHandle>,
    durability: Durability,
) {
    // The delivery task lives here, so it stops with the pump.
    let mut tasks = JoinSet::new();
    let inlet = match (&sink, durability.store()) {
        (Some(sink), Some(store)) => match EventJournal::open(Arc::clone(store)) {
            Ok((journal, left)) => Some(start_delivery(
                &mut tasks,
                name.clone(),
                journal,
                left,
                sink.clone(),
                events.clone(),
                durability.clone(),
            )),
            Err(error) => {
                tracing::error!(node = %name, %error, "event journal unreadable; delivering each event before acknowledging it");
                None
            }
        },
        _ => None,
    };
    loop {
        let event = node.next_event_async().await;
        let typed = match event {
            Event::PaymentReceived {
                payment_hash,
                amount_msat,
                ..
            } => Some(NodeEvent::PaymentReceived {
                node: name.clone(),
                payment_hash: hex32(&payment_hash.0),
                amount_msat,
            }),
            Event::PaymentSuccessful {
                payment_hash,
                payment_preimage,
                fee_paid_msat,
                ..
            } => Some(NodeEvent::PaymentSucceeded {
                node: name.clone(),
                payment_hash: hex32(&payment_hash.0),
                preimage: payment_preimage.map(|p| hex32(&p.0)),
                fee_msat: fee_paid_msat,
            }),
            Event::PaymentFailed {
                payment_hash,
                reason,
                ..
            } => {
                let reason = reason
                    .map(|r| format!("{r:?}"))
                    .unwrap_or_else(|| "unknown".to_string());
                if let (Some(hash), Ok(mut log)) = (payment_hash, failures.lock()) {
                    log.record(hash.0, reason.clone());
                }
                Some(NodeEvent::PaymentFailed {
                    node: name.clone(),
                    payment_hash: payment_hash.map(|h| hex32(&h.0)),
                    reason,
                })
            }
            Event::PaymentForwarded {
                total_fee_earned_msat,
                ..
            } => Some(NodeEvent::PaymentForwarded {
                node: name.clone(),
                fee_earned_msat: total_fee_earned_msat,
            }),
            Event::ChannelPending {
                channel_id,
                counterparty_node_id,
                ..
            } => Some(NodeEvent::ChannelPending {
                node: name.clone(),
                channel_id: channel_id.to_string(),
                counterparty: counterparty_node_id.to_string(),
            }),
            Event::ChannelReady {
                channel_id,
                counterparty_node_id,
                ..
            } => Some(NodeEvent::ChannelReady {
                node: name.clone(),
                channel_id: channel_id.to_string(),
                counterparty: counterparty_node_id.map(|c| c.to_string()),
            }),
            Event::ChannelClosed {
                channel_id, reason, ..
            } => Some(NodeEvent::ChannelClosed {
                node: name.clone(),
                channel_id: channel_id.to_string(),
                reason: reason
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "unknown".to_string()),
            }),
            // Claimable (held invoices) and splices are not used yet.
            _ => None,
        };
        if let Some(typed) = typed {
            match &inlet {
                Some(inlet) => inlet.pass(&name, typed).await,
                None => deliver_inline(&name, typed, sink.as_ref(), &events, &durability).await,
            }
        }
        if let Err(e) = node.event_handled() {
            tracing::error!(node = %name, error = %e, "could not acknowledge a node event");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Without a journal: the event reaches the sink and the subscribers before the pump
/// acknowledges it and takes the next.
async fn deliver_inline(
    name: &str,
    event: NodeEvent,
    sink: Option<&crate::SinkHandle>,
    events: &broadcast::Sender<NodeEvent>,
    durability: &Durability,
) {
    // What the event reports (a payment's record, the queue holding it) is on disk before
    // anyone acts on it.
    while let Err(e) = durability.sync().await {
        tracing::error!(node = %name, error = %e, "node store cannot sync; holding events");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    if let Some(sink) = sink {
        sink.deliver(name, &event).await;
    }
    // No subscriber is fine: state stays queryable through `payment()`/`channels()`.
    let _ = events.send(event);
}
