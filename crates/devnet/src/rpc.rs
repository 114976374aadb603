//! bitcoind-compatible JSON-RPC over HTTP/1.1 with basic auth: the subset ldk-node's
//! bitcoind chain source and lightning-block-sync call, plus `generatetoaddress`,
//! `sendtoaddress` (from the faucet) and `invalidateblock` for outside tools.

use std::str::FromStr;
use std::sync::{Arc, Mutex};

use axum::extract::{DefaultBodyLimit, State as AxumState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::hex::DisplayHex;
use bitcoin::{Address, BlockHash, Network, OutPoint, Txid};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::error::DevnetError;
use crate::policy::{btc_per_kvb, FEE_RATE_SAT_PER_VB, MAX_REQUEST_BYTES, MIN_RELAY_SAT_PER_VB};
use crate::state::State;

/// Bounds how many blocks one `generatetoaddress` may mine.
const MAX_BLOCKS_PER_CALL: u64 = 10_000;

const RPC_METHOD_NOT_FOUND: i64 = -32601;
const RPC_INVALID_PARAMS: i64 = -32602;
const RPC_PARSE_ERROR: i64 = -32700;
const RPC_INVALID_ADDRESS: i64 = -5;
const RPC_NOT_FOUND: i64 = -5;
const RPC_OUT_OF_RANGE: i64 = -8;
const RPC_DESERIALIZATION_ERROR: i64 = -22;
const RPC_MISC_ERROR: i64 = -1;
const RPC_WALLET_INSUFFICIENT_FUNDS: i64 = -6;

pub(crate) struct RpcState {
    pub state: Arc<Mutex<State>>,
    /// The full expected `Authorization` header value.
    pub expected_auth: Vec<u8>,
}

pub(crate) fn router(state: Arc<Mutex<State>>, user: &str, password: &str) -> Router {
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let rpc = Arc::new(RpcState {
        state,
        expected_auth: format!("Basic {credentials}").into_bytes(),
    });
    Router::new()
        .route("/", post(handle))
        .route("/wallet/{name}", post(handle))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(rpc)
}

struct RpcError {
    code: i64,
    message: String,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<DevnetError> for RpcError {
    fn from(e: DevnetError) -> Self {
        match e {
            DevnetError::Rejected(reason) => RpcError::new(reason.rpc_code(), reason.to_string()),
            DevnetError::UnknownBlock(_) => RpcError::new(RPC_NOT_FOUND, "Block not found"),
            DevnetError::FaucetEmpty { .. } => {
                RpcError::new(RPC_WALLET_INSUFFICIENT_FUNDS, e.to_string())
            }
            other => RpcError::new(RPC_MISC_ERROR, other.to_string()),
        }
    }
}

async fn handle(
    AxumState(rpc): AxumState<Arc<RpcState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(presented.ct_eq(&rpc.expected_auth)) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"jsonrpc\"")],
        )
            .into_response();
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"result": null, "error": {"code": RPC_PARSE_ERROR, "message": e.to_string()}, "id": null}),
            )
        }
    };
    match request {
        Value::Array(calls) => {
            let replies: Vec<Value> = calls.iter().map(|call| call_one(&rpc, call).1).collect();
            reply(StatusCode::OK, Value::Array(replies))
        }
        call => {
            let (status, value) = call_one(&rpc, &call);
            reply(status, value)
        }
    }
}

/// One response, written as a single buffer with an exact Content-Length.
fn reply(status: StatusCode, value: Value) -> Response {
    let mut body = serde_json::to_vec(&value).unwrap_or_default();
    body.push(b'\n');
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn call_one(rpc: &RpcState, call: &Value) -> (StatusCode, Value) {
    let id = call.get("id").cloned().unwrap_or(Value::Null);
    let method = call
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let params = call
        .get("params")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let outcome = {
        let mut state = match rpc.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        dispatch(&mut state, method, &Params(&params))
    };
    match outcome {
        Ok(result) => (
            StatusCode::OK,
            json!({"result": result, "error": null, "id": id}),
        ),
        Err(e) => {
            let status = if e.code == RPC_METHOD_NOT_FOUND {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            (
                status,
                json!({"result": null, "error": {"code": e.code, "message": e.message}, "id": id}),
            )
        }
    }
}

struct Params<'a>(&'a [Value]);

impl Params<'_> {
    fn get(&self, index: usize) -> Option<&Value> {
        self.0.get(index).filter(|v| !v.is_null())
    }

    fn str(&self, index: usize, name: &str) -> Result<&str, RpcError> {
        self.get(index)
            .and_then(Value::as_str)
            .ok_or_else(|| RpcError::new(RPC_INVALID_PARAMS, format!("{name} must be a string")))
    }

    fn u64(&self, index: usize, name: &str) -> Result<u64, RpcError> {
        self.get(index).and_then(Value::as_u64).ok_or_else(|| {
            RpcError::new(
                RPC_INVALID_PARAMS,
                format!("{name} must be a non-negative integer"),
            )
        })
    }

    /// Verbosity flags are booleans or integers depending on the method and caller.
    fn verbosity(&self, index: usize, default: u64) -> u64 {
        match self.get(index) {
            Some(Value::Bool(b)) => u64::from(*b),
            Some(Value::Number(n)) => n.as_u64().unwrap_or(default),
            _ => default,
        }
    }

    fn bool(&self, index: usize, default: bool) -> bool {
        self.get(index).and_then(Value::as_bool).unwrap_or(default)
    }

    fn block_hash(&self, index: usize) -> Result<BlockHash, RpcError> {
        BlockHash::from_str(self.str(index, "blockhash")?)
            .map_err(|_| RpcError::new(RPC_INVALID_PARAMS, "blockhash must be 64 hex characters"))
    }

    fn txid(&self, index: usize) -> Result<Txid, RpcError> {
        Txid::from_str(self.str(index, "txid")?)
            .map_err(|_| RpcError::new(RPC_INVALID_PARAMS, "txid must be 64 hex characters"))
    }

    fn address(&self, index: usize) -> Result<Address, RpcError> {
        Address::from_str(self.str(index, "address")?)
            .ok()
            .and_then(|a| a.require_network(Network::Regtest).ok())
            .ok_or_else(|| RpcError::new(RPC_INVALID_ADDRESS, "Invalid address for regtest"))
    }
}

fn btc(sat: u64) -> f64 {
    sat as f64 / 100_000_000.0
}

fn dispatch(state: &mut State, method: &str, p: &Params<'_>) -> Result<Value, RpcError> {
    let chain = &state.chain;
    match method {
        "getblockchaininfo" => {
            let tip = chain.tip();
            Ok(json!({
                "chain": "regtest",
                "blocks": tip.height,
                "headers": tip.height,
                "bestblockhash": chain.tip_hash().to_string(),
                "bits": format!("{:08x}", tip.block.header.bits.to_consensus()),
                "difficulty": 4.656542373906925e-10,
                "time": tip.block.header.time,
                "mediantime": chain.median_time_past(tip.height),
                "verificationprogress": 1.0,
                "initialblockdownload": false,
                "chainwork": tip.chainwork.to_be_bytes().as_hex().to_string(),
                "size_on_disk": 0,
                "pruned": false,
                "warnings": "",
            }))
        }
        "getblockcount" => Ok(json!(chain.tip_height())),
        "getbestblockhash" => Ok(json!(chain.tip_hash().to_string())),
        "getblockhash" => {
            let height = p.u64(0, "height")?;
            let hash = u32::try_from(height).ok().and_then(|h| chain.hash_at(h));
            hash.map(|h| json!(h.to_string()))
                .ok_or_else(|| RpcError::new(RPC_OUT_OF_RANGE, "Block height out of range"))
        }
        "getblockheader" => {
            let hash = p.block_hash(0)?;
            let record = chain
                .record(&hash)
                .ok_or_else(|| RpcError::new(RPC_NOT_FOUND, "Block not found"))?;
            if !p.bool(1, true) {
                return Ok(json!(serialize_hex(&record.block.header)));
            }
            let header = &record.block.header;
            let active = chain.is_active(&hash);
            let mut value = json!({
                "hash": hash.to_string(),
                "confirmations": if active { i64::from(chain.tip_height() - record.height + 1) } else { -1 },
                "height": record.height,
                "version": header.version.to_consensus(),
                "versionHex": format!("{:08x}", header.version.to_consensus()),
                "merkleroot": header.merkle_root.to_string(),
                "time": header.time,
                "mediantime": if active { chain.median_time_past(record.height) } else { header.time },
                "nonce": header.nonce,
                "bits": format!("{:08x}", header.bits.to_consensus()),
                "difficulty": 4.656542373906925e-10,
                "chainwork": record.chainwork.to_be_bytes().as_hex().to_string(),
                "nTx": record.block.txdata.len(),
            });
            if record.height > 0 {
                value["previousblockhash"] = json!(header.prev_blockhash.to_string());
            }
            if let Some(next) = chain.hash_at(record.height + 1).filter(|_| active) {
                value["nextblockhash"] = json!(next.to_string());
            }
            Ok(value)
        }
        "getblock" => {
            let hash = p.block_hash(0)?;
            let record = chain
                .record(&hash)
                .ok_or_else(|| RpcError::new(RPC_NOT_FOUND, "Block not found"))?;
            match p.verbosity(1, 1) {
                0 => Ok(json!(serialize_hex(&record.block))),
                _ => Ok(json!({
                    "hash": hash.to_string(),
                    "height": record.height,
                    "confirmations": if chain.is_active(&hash) { i64::from(chain.tip_height() - record.height + 1) } else { -1 },
                    "previousblockhash": record.block.header.prev_blockhash.to_string(),
                    "time": record.block.header.time,
                    "tx": record.block.txdata.iter().map(|t| t.compute_txid().to_string()).collect::<Vec<_>>(),
                })),
            }
        }
        "estimatesmartfee" => {
            let blocks = p.u64(0, "conf_target")?.clamp(1, 1008);
            Ok(json!({"feerate": btc_per_kvb(FEE_RATE_SAT_PER_VB), "blocks": blocks}))
        }
        "getmempoolinfo" => Ok(json!({
            "loaded": true,
            "size": state.mempool.len(),
            "bytes": state.mempool.total_vsize(),
            "usage": state.mempool.total_vsize(),
            "maxmempool": 300_000_000,
            "mempoolminfee": btc_per_kvb(MIN_RELAY_SAT_PER_VB),
            "minrelaytxfee": btc_per_kvb(MIN_RELAY_SAT_PER_VB),
            "fullrbf": true,
        })),
        "getrawmempool" => {
            if p.verbosity(0, 0) == 0 {
                return Ok(json!(state
                    .mempool
                    .in_order()
                    .map(|e| e.tx.compute_txid().to_string())
                    .collect::<Vec<_>>()));
            }
            let entries: serde_json::Map<String, Value> = state
                .mempool
                .in_order()
                .map(|e| (e.tx.compute_txid().to_string(), mempool_entry_json(e)))
                .collect();
            Ok(Value::Object(entries))
        }
        "getmempoolentry" => {
            let txid = p.txid(0)?;
            state
                .mempool
                .get(&txid)
                .map(mempool_entry_json)
                .ok_or_else(|| RpcError::new(RPC_NOT_FOUND, "Transaction not in mempool"))
        }
        "getrawtransaction" => {
            let txid = p.txid(0)?;
            let located = state.locate_tx(&txid).ok_or_else(|| {
                RpcError::new(RPC_NOT_FOUND, "No such mempool or blockchain transaction")
            })?;
            let tx = located.tx;
            let block = located.confirmation.map(|c| (c.block_hash, c.height));
            if p.verbosity(1, 0) == 0 {
                return Ok(json!(serialize_hex(tx)));
            }
            let mut value = json!({"hex": serialize_hex(tx), "txid": txid.to_string(), "size": tx.total_size(), "vsize": tx.vsize()});
            if let Some((hash, height)) = block {
                value["blockhash"] = json!(hash.to_string());
                value["confirmations"] = json!(chain.tip_height() - height + 1);
            }
            Ok(value)
        }
        "gettxout" => {
            let outpoint = OutPoint::new(
                p.txid(0)?,
                u32::try_from(p.u64(1, "n")?).unwrap_or(u32::MAX),
            );
            let include_mempool = p.bool(2, true);
            let next_height = chain.tip_height() + 1;
            let coin = if include_mempool {
                if state.mempool.spender(&outpoint).is_some() {
                    None
                } else {
                    state
                        .mempool
                        .output(&outpoint, next_height)
                        .or_else(|| chain.coin(&outpoint).cloned())
                }
            } else {
                chain.coin(&outpoint).cloned()
            };
            Ok(match coin {
                None => Value::Null,
                Some(coin) => json!({
                    "bestblock": chain.tip_hash().to_string(),
                    "confirmations": next_height - coin.height,
                    "value": btc(coin.output.value.to_sat()),
                    "scriptPubKey": {"hex": coin.output.script_pubkey.to_hex_string()},
                    "coinbase": coin.is_coinbase,
                }),
            })
        }
        "sendrawtransaction" => {
            let tx = deserialize_hex(p.str(0, "hexstring")?)
                .map_err(|_| RpcError::new(RPC_DESERIALIZATION_ERROR, "TX decode failed"))?;
            let txid = state.accept(tx).map_err(|reason| {
                tracing::info!(%reason, "sendrawtransaction rejected");
                DevnetError::Rejected(reason)
            })?;
            Ok(json!(txid.to_string()))
        }
        "generatetoaddress" => {
            let count = p.u64(0, "nblocks")?;
            if count > MAX_BLOCKS_PER_CALL {
                return Err(RpcError::new(
                    RPC_INVALID_PARAMS,
                    format!("at most {MAX_BLOCKS_PER_CALL} blocks per call"),
                ));
            }
            let script = p.address(1)?.script_pubkey();
            let hashes = state.mine(count as u32, &script)?;
            Ok(json!(hashes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()))
        }
        "sendtoaddress" => {
            let script = p.address(0)?.script_pubkey();
            let amount = p
                .get(1)
                .and_then(Value::as_f64)
                .filter(|a| *a > 0.0)
                .ok_or_else(|| {
                    RpcError::new(
                        RPC_INVALID_PARAMS,
                        "amount must be a positive number of BTC",
                    )
                })?;
            let sat = (amount * 100_000_000.0).round() as u64;
            let txid = state.fund(&[(script, sat)])?;
            Ok(json!(txid.to_string()))
        }
        "invalidateblock" => {
            state.invalidate(p.block_hash(0)?)?;
            Ok(Value::Null)
        }
        // ElectrumX reads the node version and relay fee from here.
        "getnetworkinfo" => Ok(json!({
            "version": 280000,
            "subversion": "/fulgur-devnet/",
            "protocolversion": 70016,
            "relayfee": btc_per_kvb(MIN_RELAY_SAT_PER_VB),
            "incrementalfee": btc_per_kvb(MIN_RELAY_SAT_PER_VB),
            "connections": 0,
            "networkactive": true,
            "networks": [],
            "localaddresses": [],
            "warnings": "",
        })),
        // Every transaction is indexed (getrawtransaction finds confirmed ones too).
        "getindexinfo" => {
            Ok(json!({"txindex": {"synced": true, "best_block_height": chain.tip_height()}}))
        }
        "uptime" => Ok(json!(0)),
        other => {
            tracing::info!(method = other, "unknown JSON-RPC method");
            Err(RpcError::new(RPC_METHOD_NOT_FOUND, "Method not found"))
        }
    }
}

fn mempool_entry_json(entry: &crate::mempool::MempoolEntry) -> Value {
    json!({
        "vsize": entry.vsize,
        "weight": entry.tx.weight().to_wu(),
        "time": entry.time,
        "height": entry.height,
        "fees": {"base": btc(entry.fee_sat)},
        "bip125-replaceable": true,
    })
}
