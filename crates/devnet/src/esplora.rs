//! The Esplora REST API (Blockstream's electrs HTTP interface), served under `/esplora` on
//! the RPC listener: the endpoints `esplora-client` 0.12 calls for BDK's wallet sync and
//! LDK's transaction sync, as ldk-node's Esplora chain source uses them. No auth, as a
//! public Esplora.

use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State as AxumState};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bitcoin::consensus::encode::{deserialize_hex, serialize, serialize_hex};
use bitcoin::hashes::sha256;
use bitcoin::hex::DisplayHex;
use bitcoin::{BlockHash, MerkleBlock, OutPoint, Transaction, Txid};
use serde_json::{json, Value};

use crate::index::{Confirmation, Located};
use crate::policy::{FEE_RATE_SAT_PER_VB, MAX_REQUEST_BYTES};
use crate::state::State;

/// Confirmed transactions per page of a script's history, as Esplora.
const CHAIN_TXS_PER_PAGE: usize = 25;
/// Mempool transactions listed with the first page, as Esplora.
const MEMPOOL_TXS_LISTED: usize = 50;
/// Blocks per `/blocks` page, as Esplora.
const BLOCKS_PER_PAGE: u32 = 10;

type Shared = Arc<Mutex<State>>;

pub(crate) fn router(state: Shared) -> Router {
    Router::new()
        .route("/blocks/tip/hash", get(tip_hash))
        .route("/blocks/tip/height", get(tip_height))
        .route("/blocks", get(recent_blocks))
        .route("/blocks/{height}", get(blocks_from))
        .route("/block-height/{height}", get(block_at_height))
        .route("/block/{hash}", get(block_info))
        .route("/block/{hash}/header", get(block_header))
        .route("/block/{hash}/status", get(block_status))
        .route("/block/{hash}/raw", get(block_raw))
        .route("/tx", axum::routing::post(broadcast))
        .route("/tx/{txid}", get(tx))
        .route("/tx/{txid}/raw", get(tx_raw))
        .route("/tx/{txid}/hex", get(tx_hex))
        .route("/tx/{txid}/status", get(tx_status))
        .route("/tx/{txid}/merkleblock-proof", get(tx_merkleblock_proof))
        .route("/tx/{txid}/outspend/{vout}", get(outspend))
        .route("/tx/{txid}/outspends", get(outspends))
        .route("/scripthash/{hash}/txs", get(script_txs))
        .route(
            "/scripthash/{hash}/txs/chain/{last_seen}",
            get(script_txs_after),
        )
        .route("/scripthash/{hash}/txs/mempool", get(script_mempool_txs))
        .route("/fee-estimates", get(fee_estimates))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(state)
}

/// An error as Esplora sends it: a status and a plain-text reason.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

type Answer = Result<Response, Failure>;

fn not_found(what: &str) -> Failure {
    Failure(StatusCode::NOT_FOUND, format!("{what} not found"))
}

fn parse<T: FromStr>(raw: &str, what: &str) -> Result<T, Failure> {
    raw.parse()
        .map_err(|_| Failure(StatusCode::BAD_REQUEST, format!("invalid {what}")))
}

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

fn text(body: String) -> Answer {
    Ok(body.into_response())
}

fn binary(body: Vec<u8>) -> Answer {
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response())
}

fn json_body(body: Value) -> Answer {
    Ok(axum::Json(body).into_response())
}

async fn tip_hash(AxumState(state): AxumState<Shared>) -> Answer {
    text(lock(&state).chain.tip_hash().to_string())
}

async fn tip_height(AxumState(state): AxumState<Shared>) -> Answer {
    text(lock(&state).chain.tip_height().to_string())
}

async fn block_at_height(
    AxumState(state): AxumState<Shared>,
    Path(height): Path<String>,
) -> Answer {
    let height: u32 = parse(&height, "height")?;
    let hash = lock(&state).chain.hash_at(height);
    text(hash.ok_or_else(|| not_found("block"))?.to_string())
}

fn block_info_json(state: &State, hash: &BlockHash) -> Option<Value> {
    let record = state.chain.record(hash)?;
    let header = &record.block.header;
    Some(json!({
        "id": hash,
        "height": record.height,
        "version": header.version.to_consensus(),
        "timestamp": header.time,
        "tx_count": record.block.txdata.len(),
        "size": record.block.total_size(),
        "weight": record.block.weight().to_wu(),
        "merkle_root": header.merkle_root,
        "previousblockhash": (record.height > 0).then_some(header.prev_blockhash),
        "mediantime": state.chain.median_time_past(record.height),
        "nonce": header.nonce,
        "bits": header.bits.to_consensus(),
        "difficulty": header.difficulty_float(),
    }))
}

/// Up to ten blocks of the active chain, from `top` down.
fn blocks_down_from(state: &State, top: u32) -> Value {
    let top = top.min(state.chain.tip_height());
    let bottom = top.saturating_sub(BLOCKS_PER_PAGE - 1);
    let infos: Vec<Value> = (bottom..=top)
        .rev()
        .filter_map(|h| state.chain.hash_at(h))
        .filter_map(|hash| block_info_json(state, &hash))
        .collect();
    Value::Array(infos)
}

async fn recent_blocks(AxumState(state): AxumState<Shared>) -> Answer {
    let state = lock(&state);
    json_body(blocks_down_from(&state, state.chain.tip_height()))
}

async fn blocks_from(AxumState(state): AxumState<Shared>, Path(height): Path<String>) -> Answer {
    let height: u32 = parse(&height, "height")?;
    json_body(blocks_down_from(&lock(&state), height))
}

async fn block_info(AxumState(state): AxumState<Shared>, Path(hash): Path<String>) -> Answer {
    let hash: BlockHash = parse(&hash, "block hash")?;
    json_body(block_info_json(&lock(&state), &hash).ok_or_else(|| not_found("block"))?)
}

async fn block_header(AxumState(state): AxumState<Shared>, Path(hash): Path<String>) -> Answer {
    let hash: BlockHash = parse(&hash, "block hash")?;
    let state = lock(&state);
    let record = state
        .chain
        .record(&hash)
        .ok_or_else(|| not_found("block"))?;
    text(serialize_hex(&record.block.header))
}

async fn block_status(AxumState(state): AxumState<Shared>, Path(hash): Path<String>) -> Answer {
    let hash: BlockHash = parse(&hash, "block hash")?;
    let state = lock(&state);
    let record = state
        .chain
        .record(&hash)
        .ok_or_else(|| not_found("block"))?;
    let body = if state.chain.is_active(&hash) {
        json!({
            "in_best_chain": true,
            "height": record.height,
            "next_best": state.chain.hash_at(record.height + 1),
        })
    } else {
        json!({"in_best_chain": false})
    };
    json_body(body)
}

async fn block_raw(AxumState(state): AxumState<Shared>, Path(hash): Path<String>) -> Answer {
    let hash: BlockHash = parse(&hash, "block hash")?;
    let state = lock(&state);
    let record = state
        .chain
        .record(&hash)
        .ok_or_else(|| not_found("block"))?;
    binary(serialize(&record.block))
}

fn status_json(confirmation: Option<Confirmation>) -> Value {
    match confirmation {
        Some(c) => json!({
            "confirmed": true,
            "block_height": c.height,
            "block_hash": c.block_hash,
            "block_time": c.block_time,
        }),
        None => json!({"confirmed": false}),
    }
}

fn tx_json(state: &State, located: &Located<'_>) -> Value {
    let tx = located.tx;
    let vin: Vec<Value> = tx
        .input
        .iter()
        .map(|input| {
            let prevout = (!tx.is_coinbase())
                .then(|| state.prevout(&input.previous_output))
                .flatten()
                .map(|o| json!({"value": o.value.to_sat(), "scriptpubkey": o.script_pubkey}));
            json!({
                "txid": input.previous_output.txid,
                "vout": input.previous_output.vout,
                "prevout": prevout,
                "scriptsig": input.script_sig,
                "witness": input.witness.iter().map(|w| w.to_lower_hex_string()).collect::<Vec<_>>(),
                "sequence": input.sequence.0,
                "is_coinbase": tx.is_coinbase(),
            })
        })
        .collect();
    let vout: Vec<Value> = tx
        .output
        .iter()
        .map(|o| json!({"value": o.value.to_sat(), "scriptpubkey": o.script_pubkey}))
        .collect();
    json!({
        "txid": located.txid,
        "version": tx.version.0,
        "locktime": tx.lock_time.to_consensus_u32(),
        "vin": vin,
        "vout": vout,
        "size": tx.total_size(),
        "weight": tx.weight().to_wu(),
        "status": status_json(located.confirmation),
        "fee": state.fee_sat(tx).unwrap_or(0),
    })
}

fn with_tx<T>(
    state: &Shared,
    txid: &str,
    answer: impl FnOnce(&State, &Located<'_>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let txid: Txid = parse(txid, "txid")?;
    let state = lock(state);
    let located = state
        .locate_tx(&txid)
        .ok_or_else(|| not_found("transaction"))?;
    answer(&state, &located)
}

async fn tx(AxumState(state): AxumState<Shared>, Path(txid): Path<String>) -> Answer {
    json_body(with_tx(&state, &txid, |s, l| Ok(tx_json(s, l)))?)
}

async fn tx_raw(AxumState(state): AxumState<Shared>, Path(txid): Path<String>) -> Answer {
    binary(with_tx(&state, &txid, |_, l| Ok(serialize(l.tx)))?)
}

async fn tx_hex(AxumState(state): AxumState<Shared>, Path(txid): Path<String>) -> Answer {
    text(with_tx(&state, &txid, |_, l| Ok(serialize_hex(l.tx)))?)
}

async fn tx_status(AxumState(state): AxumState<Shared>, Path(txid): Path<String>) -> Answer {
    json_body(with_tx(&state, &txid, |_, l| {
        Ok(status_json(l.confirmation))
    })?)
}

async fn tx_merkleblock_proof(
    AxumState(state): AxumState<Shared>,
    Path(txid): Path<String>,
) -> Answer {
    let hex = with_tx(&state, &txid, |s, l| {
        let confirmation = l
            .confirmation
            .ok_or_else(|| not_found("confirmed transaction"))?;
        let block = s
            .block_at(confirmation.height)
            .ok_or_else(|| not_found("block"))?;
        let proof = MerkleBlock::from_block_with_predicate(block, |t| *t == l.txid);
        Ok(serialize_hex(&proof))
    })?;
    text(hex)
}

fn outspend_json(state: &State, outpoint: &OutPoint) -> Value {
    match state.spender(outpoint) {
        Some((spender, vin)) => json!({
            "spent": true,
            "txid": spender.txid,
            "vin": vin,
            "status": status_json(spender.confirmation),
        }),
        None => json!({"spent": false}),
    }
}

async fn outspend(
    AxumState(state): AxumState<Shared>,
    Path((txid, vout)): Path<(String, String)>,
) -> Answer {
    let vout: u32 = parse(&vout, "output index")?;
    let body = with_tx(&state, &txid, |s, l| {
        if vout as usize >= l.tx.output.len() {
            return Err(not_found("output"));
        }
        Ok(outspend_json(s, &OutPoint::new(l.txid, vout)))
    })?;
    json_body(body)
}

async fn outspends(AxumState(state): AxumState<Shared>, Path(txid): Path<String>) -> Answer {
    let body = with_tx(&state, &txid, |s, l| {
        let all = (0..l.tx.output.len() as u32)
            .map(|vout| outspend_json(s, &OutPoint::new(l.txid, vout)))
            .collect();
        Ok(Value::Array(all))
    })?;
    json_body(body)
}

/// Esplora's script hash: SHA-256 of the script, in plain (not reversed) hex.
fn script_hash(raw: &str) -> Result<sha256::Hash, Failure> {
    parse(raw, "script hash")
}

/// Newest first: the mempool's (up to 50) then one page of confirmed transactions, or only
/// confirmed ones older than `last_seen`.
fn script_page(state: &State, hash: &sha256::Hash, last_seen: Option<Txid>) -> Value {
    let history = state.script_history(hash);
    let (confirmed, mempool): (Vec<_>, Vec<_>) =
        history.iter().partition(|l| l.confirmation.is_some());
    let mut page: Vec<Value> = Vec::new();
    if last_seen.is_none() {
        page.extend(
            mempool
                .iter()
                .rev()
                .take(MEMPOOL_TXS_LISTED)
                .map(|l| tx_json(state, l)),
        );
    }
    let older = confirmed.iter().rev().skip(match last_seen {
        Some(txid) => confirmed
            .iter()
            .rev()
            .position(|l| l.txid == txid)
            .map_or(confirmed.len(), |p| p + 1),
        None => 0,
    });
    page.extend(older.take(CHAIN_TXS_PER_PAGE).map(|l| tx_json(state, l)));
    Value::Array(page)
}

async fn script_txs(AxumState(state): AxumState<Shared>, Path(hash): Path<String>) -> Answer {
    let hash = script_hash(&hash)?;
    json_body(script_page(&lock(&state), &hash, None))
}

async fn script_txs_after(
    AxumState(state): AxumState<Shared>,
    Path((hash, last_seen)): Path<(String, String)>,
) -> Answer {
    let hash = script_hash(&hash)?;
    let last_seen: Txid = parse(&last_seen, "txid")?;
    json_body(script_page(&lock(&state), &hash, Some(last_seen)))
}

async fn script_mempool_txs(
    AxumState(state): AxumState<Shared>,
    Path(hash): Path<String>,
) -> Answer {
    let hash = script_hash(&hash)?;
    let state = lock(&state);
    let txs: Vec<Value> = state
        .script_history(&hash)
        .iter()
        .rev()
        .filter(|l| l.confirmation.is_none())
        .take(MEMPOOL_TXS_LISTED)
        .map(|l| tx_json(&state, l))
        .collect();
    json_body(Value::Array(txs))
}

/// The devnet's one fee rate for every target Esplora lists.
async fn fee_estimates() -> Answer {
    let targets = [1, 2, 3, 4, 5, 6, 10, 12, 25, 144, 504, 1008];
    let map: serde_json::Map<String, Value> = targets
        .iter()
        .map(|t| (t.to_string(), json!(FEE_RATE_SAT_PER_VB)))
        .collect();
    json_body(Value::Object(map))
}

async fn broadcast(AxumState(state): AxumState<Shared>, body: Bytes) -> Answer {
    let hex = std::str::from_utf8(&body)
        .map_err(|_| Failure(StatusCode::BAD_REQUEST, "body is not hex".into()))?;
    let tx: Transaction = deserialize_hex(hex.trim())
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, format!("TX decode failed: {e}")))?;
    let txid = lock(&state).accept(tx).map_err(|reason| {
        Failure(
            StatusCode::BAD_REQUEST,
            format!("sendrawtransaction RPC error: {reason}"),
        )
    })?;
    text(txid.to_string())
}
