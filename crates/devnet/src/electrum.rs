//! The Electrum protocol (1.4) over plain TCP: newline-delimited JSON-RPC with the methods
//! `electrum-client` 0.24 sends for BDK's wallet sync and LDK's transaction sync (as
//! ldk-node's Electrum chain source uses them), plus the usual server and subscription
//! calls. Subscribers to headers or script hashes get notifications when they change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::hashes::{sha256, Hash};
use bitcoin::hex::{DisplayHex, FromHex};
use bitcoin::{Network, Transaction, Txid};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::index::{merkle_branch, Located};
use crate::policy::{btc_per_kvb, FEE_RATE_SAT_PER_VB, MAX_REQUEST_BYTES, MIN_RELAY_SAT_PER_VB};
use crate::state::State;

const SERVER_VERSION: &str = "fulgur-devnet 0.1";
const PROTOCOL_VERSION: &str = "1.4";
/// Most headers one `blockchain.block.headers` call returns, as ElectrumX.
const MAX_HEADERS_PER_CALL: u32 = 2016;
/// Most script hashes one session may subscribe to; bounds the work of each poll.
const MAX_SUBSCRIPTIONS: usize = 10_000;
/// How often a session with subscriptions looks for a new tip or changed histories.
const NOTIFY_POLL: Duration = Duration::from_millis(100);

const BAD_REQUEST: i64 = 1;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const PARSE_ERROR: i64 = -32700;

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Accepts sessions until `stop` turns true.
pub(crate) async fn serve(listener: TcpListener, state: Shared, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(session(stream, Arc::clone(&state), stop.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "electrum accept failed"),
            },
            _ = stop.changed() => return,
        }
    }
}

/// What one client subscribed to, with what it was last told.
#[derive(Default)]
struct Subscriptions {
    tip: Option<bitcoin::BlockHash>,
    scripts: HashMap<sha256::Hash, Option<String>>,
}

async fn session(stream: TcpStream, state: Shared, mut stop: watch::Receiver<bool>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    let mut subscriptions = Subscriptions::default();
    let mut poll = tokio::time::interval(NOTIFY_POLL);
    loop {
        // Bounded: a line longer than the limit ends the session.
        let mut limited = (&mut reader).take((MAX_REQUEST_BYTES + 1 - line.len()) as u64);
        let outgoing = tokio::select! {
            // `read_until` is cancel safe: a partial line stays in `line` for the next round.
            read = limited.read_until(b'\n', &mut line) => {
                match read {
                    Ok(0) | Err(_) => return,
                    Ok(_) if line.len() > MAX_REQUEST_BYTES => return,
                    Ok(_) if !line.ends_with(b"\n") => continue,
                    Ok(_) => {
                        let reply = answer_line(&state, &line, &mut subscriptions);
                        line.clear();
                        reply.map(|r| vec![r]).unwrap_or_default()
                    }
                }
            }
            _ = poll.tick() => {
                if subscriptions.tip.is_none() && subscriptions.scripts.is_empty() {
                    continue;
                }
                notifications(&lock(&state), &mut subscriptions)
            }
            _ = stop.changed() => return,
        };
        for message in outgoing {
            let mut bytes = message.to_string().into_bytes();
            bytes.push(b'\n');
            if write.write_all(&bytes).await.is_err() {
                return;
            }
        }
    }
}

/// The reply to one line: a request object or a batch array; `None` for a blank line.
fn answer_line(state: &Shared, line: &[u8], subs: &mut Subscriptions) -> Option<Value> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let request: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => return Some(error_reply(Value::Null, PARSE_ERROR, &e.to_string())),
    };
    let mut state = lock(state);
    Some(match request {
        Value::Array(batch) => Value::Array(
            batch
                .into_iter()
                .map(|r| answer_request(&mut state, r, subs))
                .collect(),
        ),
        single => answer_request(&mut state, single, subs),
    })
}

fn error_reply(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn answer_request(state: &mut State, request: Value, subs: &mut Subscriptions) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let method = request.get("method").and_then(Value::as_str).unwrap_or("");
    let params = match request.get("params") {
        Some(Value::Array(p)) => p.clone(),
        _ => Vec::new(),
    };
    match call(state, method, &params, subs) {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err((code, message)) => error_reply(id, code, &message),
    }
}

type CallResult = Result<Value, (i64, String)>;

fn invalid(what: &str) -> (i64, String) {
    (INVALID_PARAMS, format!("invalid {what}"))
}

fn param_u32(params: &[Value], i: usize, what: &str) -> Result<u32, (i64, String)> {
    params
        .get(i)
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| invalid(what))
}

fn param_str<'a>(params: &'a [Value], i: usize, what: &str) -> Result<&'a str, (i64, String)> {
    params
        .get(i)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(what))
}

/// Electrum's script hash: SHA-256 of the script, hex of the bytes reversed.
fn param_script_hash(params: &[Value]) -> Result<sha256::Hash, (i64, String)> {
    let mut bytes = <[u8; 32]>::from_hex(param_str(params, 0, "scripthash")?)
        .map_err(|_| invalid("scripthash"))?;
    bytes.reverse();
    Ok(sha256::Hash::from_byte_array(bytes))
}

fn param_txid(params: &[Value]) -> Result<Txid, (i64, String)> {
    param_str(params, 0, "tx_hash")?
        .parse()
        .map_err(|_| invalid("tx_hash"))
}

fn call(state: &mut State, method: &str, params: &[Value], subs: &mut Subscriptions) -> CallResult {
    match method {
        "server.version" => Ok(json!([SERVER_VERSION, PROTOCOL_VERSION])),
        "server.ping" => Ok(Value::Null),
        "server.banner" => Ok(json!("Fulgur devnet: a regtest chain for development")),
        "server.donation_address" => Ok(json!("")),
        "server.peers.subscribe" => Ok(json!([])),
        "server.features" => Ok(json!({
            "genesis_hash": bitcoin::constants::genesis_block(Network::Regtest).block_hash(),
            "hosts": {},
            "protocol_min": PROTOCOL_VERSION,
            "protocol_max": PROTOCOL_VERSION,
            "server_version": SERVER_VERSION,
            "hash_function": "sha256",
            "pruning": null,
        })),
        "blockchain.headers.subscribe" => {
            subs.tip = Some(state.chain.tip_hash());
            Ok(tip_notification(state))
        }
        "blockchain.block.header" => {
            let height = param_u32(params, 0, "height")?;
            let block = state
                .block_at(height)
                .ok_or_else(|| (BAD_REQUEST, format!("height {height} out of range")))?;
            Ok(json!(serialize_hex(&block.header)))
        }
        "blockchain.block.headers" => {
            let start = param_u32(params, 0, "start_height")?;
            let count = param_u32(params, 1, "count")?.min(MAX_HEADERS_PER_CALL);
            let hex: String = (start..start.saturating_add(count))
                .map_while(|h| state.block_at(h))
                .map(|b| serialize_hex(&b.header))
                .collect();
            Ok(json!({"count": hex.len() / 160, "hex": hex, "max": MAX_HEADERS_PER_CALL}))
        }
        "blockchain.estimatefee" => Ok(json!(btc_per_kvb(FEE_RATE_SAT_PER_VB))),
        "blockchain.relayfee" => Ok(json!(btc_per_kvb(MIN_RELAY_SAT_PER_VB))),
        "mempool.get_fee_histogram" => Ok(json!([])),
        "blockchain.scripthash.get_history" => {
            let history = state.script_history(&param_script_hash(params)?);
            Ok(Value::Array(
                history.iter().map(|l| history_item(state, l)).collect(),
            ))
        }
        "blockchain.scripthash.get_mempool" => {
            let history = state.script_history(&param_script_hash(params)?);
            Ok(Value::Array(
                history
                    .iter()
                    .filter(|l| l.confirmation.is_none())
                    .map(|l| history_item(state, l))
                    .collect(),
            ))
        }
        "blockchain.scripthash.get_balance" => {
            let hash = param_script_hash(params)?;
            let (mut confirmed, mut unconfirmed) = (0u64, 0i64);
            for (located, _, value) in unspent(state, &hash) {
                match located.confirmation {
                    Some(_) => confirmed += value,
                    None => unconfirmed += value as i64,
                }
            }
            Ok(json!({"confirmed": confirmed, "unconfirmed": unconfirmed}))
        }
        "blockchain.scripthash.listunspent" => {
            let hash = param_script_hash(params)?;
            let utxos: Vec<Value> = unspent(state, &hash)
                .into_iter()
                .map(|(l, vout, value)| {
                    json!({
                        "height": l.confirmation.map_or(0, |c| c.height),
                        "tx_hash": l.txid,
                        "tx_pos": vout,
                        "value": value,
                    })
                })
                .collect();
            Ok(Value::Array(utxos))
        }
        "blockchain.scripthash.subscribe" => {
            let hash = param_script_hash(params)?;
            if subs.scripts.len() >= MAX_SUBSCRIPTIONS && !subs.scripts.contains_key(&hash) {
                return Err((BAD_REQUEST, "too many subscriptions".to_string()));
            }
            let status = script_status(state, &hash);
            subs.scripts.insert(hash, status.clone());
            Ok(json!(status))
        }
        "blockchain.scripthash.unsubscribe" => {
            let hash = param_script_hash(params)?;
            Ok(json!(subs.scripts.remove(&hash).is_some()))
        }
        "blockchain.transaction.get" => {
            if params.get(1).and_then(Value::as_bool) == Some(true) {
                return Err((BAD_REQUEST, "verbose transactions are not supported".into()));
            }
            let txid = param_txid(params)?;
            let located = state
                .locate_tx(&txid)
                .ok_or_else(|| (BAD_REQUEST, format!("no such transaction {txid}")))?;
            Ok(json!(serialize_hex(located.tx)))
        }
        "blockchain.transaction.get_merkle" => {
            let txid = param_txid(params)?;
            let confirmation = state
                .locate_tx(&txid)
                .and_then(|l| l.confirmation)
                .ok_or_else(|| (BAD_REQUEST, format!("{txid} is not confirmed")))?;
            let block = state
                .block_at(confirmation.height)
                .expect("confirmed in the active chain");
            let merkle: Vec<String> = merkle_branch(block, confirmation.pos)
                .iter()
                .map(ToString::to_string)
                .collect();
            Ok(json!({
                "block_height": confirmation.height,
                "merkle": merkle,
                "pos": confirmation.pos,
            }))
        }
        "blockchain.transaction.id_from_pos" => {
            let height = param_u32(params, 0, "height")?;
            let pos = param_u32(params, 1, "tx_pos")? as usize;
            let block = state
                .block_at(height)
                .filter(|b| pos < b.txdata.len())
                .ok_or_else(|| (BAD_REQUEST, "no transaction at that position".to_string()))?;
            let txid = block.txdata[pos].compute_txid();
            if params.get(2).and_then(Value::as_bool) == Some(true) {
                let merkle: Vec<String> = merkle_branch(block, pos)
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                return Ok(json!({"tx_hash": txid, "merkle": merkle}));
            }
            Ok(json!(txid))
        }
        "blockchain.transaction.broadcast" => broadcast(state, params),
        _ => Err((METHOD_NOT_FOUND, format!("unknown method {method}"))),
    }
}

fn tip_notification(state: &State) -> Value {
    json!({
        "height": state.chain.tip_height(),
        "hex": serialize_hex(&state.chain.tip().block.header),
    })
}

/// A history entry: confirmed at its height; in the mempool at 0, or -1 while one of its
/// inputs is itself unconfirmed.
fn history_item(state: &State, located: &Located<'_>) -> Value {
    match located.confirmation {
        Some(c) => json!({"height": c.height, "tx_hash": located.txid}),
        None => {
            let parent_unconfirmed = located
                .tx
                .input
                .iter()
                .any(|i| state.mempool.contains(&i.previous_output.txid));
            json!({
                "height": if parent_unconfirmed { -1 } else { 0 },
                "tx_hash": located.txid,
                "fee": state.fee_sat(located.tx).unwrap_or(0),
            })
        }
    }
}

/// The script's outputs that nothing (confirmed or in the mempool) spends.
fn unspent<'a>(state: &'a State, hash: &sha256::Hash) -> Vec<(Located<'a>, u32, u64)> {
    let mut found = Vec::new();
    for located in state.script_history(hash) {
        for (vout, output) in located.tx.output.iter().enumerate() {
            let outpoint = bitcoin::OutPoint::new(located.txid, vout as u32);
            if sha256::Hash::hash(output.script_pubkey.as_bytes()) == *hash
                && state.spender(&outpoint).is_none()
            {
                found.push((located, vout as u32, output.value.to_sat()));
            }
        }
    }
    found
}

/// Electrum's status of a script: SHA-256 over `txid:height:` of its history, or null.
fn script_status(state: &State, hash: &sha256::Hash) -> Option<String> {
    let history = state.script_history(hash);
    if history.is_empty() {
        return None;
    }
    let mut concatenated = String::new();
    for located in &history {
        let height = history_item(state, located)["height"].as_i64().unwrap_or(0);
        concatenated.push_str(&format!("{}:{}:", located.txid, height));
    }
    Some(
        sha256::Hash::hash(concatenated.as_bytes())
            .to_byte_array()
            .to_lower_hex_string(),
    )
}

/// Notifications owed to a session: a new tip, script hashes whose status changed.
fn notifications(state: &State, subs: &mut Subscriptions) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(told) = subs.tip {
        if told != state.chain.tip_hash() {
            subs.tip = Some(state.chain.tip_hash());
            out.push(json!({
                "jsonrpc": "2.0",
                "method": "blockchain.headers.subscribe",
                "params": [tip_notification(state)],
            }));
        }
    }
    for (hash, told) in subs.scripts.iter_mut() {
        let status = script_status(state, hash);
        if status != *told {
            *told = status.clone();
            let mut electrum_hash = hash.to_byte_array();
            electrum_hash.reverse();
            out.push(json!({
                "jsonrpc": "2.0",
                "method": "blockchain.scripthash.subscribe",
                "params": [electrum_hash.to_lower_hex_string(), status],
            }));
        }
    }
    out
}

/// `blockchain.transaction.broadcast`: the one call that changes the chain state.
fn broadcast(state: &mut State, params: &[Value]) -> CallResult {
    let hex = param_str(params, 0, "raw_tx")?;
    let tx: Transaction =
        deserialize_hex(hex).map_err(|e| (BAD_REQUEST, format!("TX decode failed: {e}")))?;
    state.accept(tx).map(|txid| json!(txid)).map_err(|reason| {
        (
            BAD_REQUEST,
            format!("the transaction was rejected by network rules.\n\n{reason}"),
        )
    })
}
