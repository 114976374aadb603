//! The RPC answers lightning-block-sync's own client (what ldk-node uses) over real TCP.

use std::str::FromStr;

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, ScriptBuf};
use devnet::{Devnet, DevnetConfig};
use lightning_block_sync::http::HttpEndpoint;
use lightning_block_sync::rpc::RpcClient;
use lightning_block_sync::{BlockData, BlockSource};
use serde_json::{json, Value};

fn client(devnet: &Devnet, password: &str) -> RpcClient {
    use base64::Engine;
    let credentials = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{password}", devnet.rpc_user()));
    let addr = devnet.rpc_addr();
    RpcClient::new(
        &credentials,
        HttpEndpoint::for_host(addr.ip().to_string()).with_port(addr.port()),
    )
}

async fn started() -> Devnet {
    Devnet::start(DevnetConfig::ephemeral())
        .await
        .expect("devnet starts")
}

/// The JSON-RPC error code of a failed call, as ldk-node reads it.
fn rpc_error_code(error: std::io::Error) -> i64 {
    let inner: Box<lightning_block_sync::rpc::RpcError> = error
        .into_inner()
        .expect("inner")
        .downcast()
        .expect("rpc error");
    inner.code
}

/// Output 0 of `txid`, confirmed coins only.
async fn gettxout(rpc: &RpcClient, txid: bitcoin::Txid) -> Value {
    rpc.call_method(
        "gettxout",
        &[json!(txid.to_string()), json!(0), json!(false)],
    )
    .await
    .expect("gettxout")
}

fn burn() -> ScriptBuf {
    ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::from_byte_array([9; 32]))
}

#[tokio::test(flavor = "multi_thread")]
async fn block_source_calls_validate_against_the_chain() {
    let devnet = started().await;
    devnet.mine(5, &burn()).expect("mine");
    let rpc = client(&devnet, devnet.rpc_password());

    let (best, height) = rpc.get_best_block().await.expect("getblockchaininfo");
    assert_eq!((best, height), (devnet.tip(), Some(5)));
    let header = rpc.get_header(&best, None).await.expect("getblockheader");
    assert_eq!(header.height, 5);
    assert_eq!(header.header.block_hash(), best);
    let parent = rpc
        .get_header(&header.header.prev_blockhash, None)
        .await
        .expect("parent header");
    assert_eq!(
        header.chainwork,
        parent.chainwork + header.header.work(),
        "chainwork accumulates"
    );
    match rpc.get_block(&best).await.expect("getblock") {
        BlockData::FullBlock(block) => {
            assert_eq!(block.block_hash(), best);
            assert!(block.check_witness_commitment() && block.check_merkle_root());
        }
        BlockData::HeaderOnly(_) => panic!("expected a full block"),
    }
    let hash: BlockHash = rpc
        .call_method("getblockhash", &[json!(3)])
        .await
        .expect("getblockhash");
    assert_eq!(Some(hash), devnet.block_hash(3));
    let out_of_range = rpc
        .call_method::<BlockHash>("getblockhash", &[json!(99)])
        .await;
    assert!(out_of_range.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn mempool_and_fee_calls_return_the_fields_ldk_node_parses() {
    let devnet = started().await;
    devnet.mine_to_faucet(1).expect("mine");
    devnet.mine(100, &burn()).expect("mature");
    let rpc = client(&devnet, devnet.rpc_password());
    let txid = devnet.fund(&[(burn(), 50_000)]).expect("fund");

    let fee: Value = rpc
        .call_method("estimatesmartfee", &[json!(6), json!("CONSERVATIVE")])
        .await
        .expect("fee");
    assert!(fee["feerate"].as_f64().is_some_and(|f| f > 0.0) && fee["errors"].is_null());
    let info: Value = rpc
        .call_method("getmempoolinfo", &[])
        .await
        .expect("mempool info");
    assert!(info["mempoolminfee"].as_f64().is_some());
    let mempool: Value = rpc
        .call_method("getrawmempool", &[json!(false)])
        .await
        .expect("raw mempool");
    assert_eq!(mempool, json!([txid.to_string()]));
    let entry: Value = rpc
        .call_method("getmempoolentry", &[json!(txid.to_string())])
        .await
        .expect("entry");
    assert_eq!(entry["height"], json!(101));
    assert!(entry["time"].as_u64().is_some());
    let raw: Value = rpc
        .call_method("getrawtransaction", &[json!(txid.to_string())])
        .await
        .expect("raw tx");
    let tx: bitcoin::Transaction =
        bitcoin::consensus::encode::deserialize_hex(raw.as_str().expect("hex")).expect("tx");
    assert_eq!(tx.compute_txid(), txid);

    let unspent = gettxout(&rpc, txid).await;
    assert!(unspent.is_null(), "not confirmed yet");
    devnet.mine(1, &burn()).expect("mine");
    let unspent = gettxout(&rpc, txid).await;
    assert_eq!(unspent["confirmations"], json!(1));

    let missing = bitcoin::Txid::from_str(&"ab".repeat(32)).expect("txid");
    let error = rpc
        .call_method::<Value>("getmempoolentry", &[json!(missing.to_string())])
        .await
        .expect_err("not found");
    assert_eq!(
        rpc_error_code(error),
        -5,
        "ldk-node treats -5 as 'not found'"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_refused() {
    let devnet = started().await;
    let rpc = client(&devnet, "wrong");
    assert!(rpc.get_best_block().await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn generatetoaddress_mines_for_outside_tools() {
    let devnet = started().await;
    let rpc = client(&devnet, devnet.rpc_password());
    let address = devnet.faucet_address().to_string();
    let hashes: Value = rpc
        .call_method("generatetoaddress", &[json!(3), json!(address)])
        .await
        .expect("generate");
    assert_eq!(hashes.as_array().map(Vec::len), Some(3));
    assert_eq!(devnet.height(), 3);
    let bad = rpc
        .call_method::<Value>("generatetoaddress", &[json!(1), json!("bc1qnotregtest")])
        .await;
    assert!(bad.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn network_and_index_info_satisfy_electrum_servers() {
    let devnet = started().await;
    devnet.mine(2, &burn()).expect("mine");
    let rpc = client(&devnet, devnet.rpc_password());
    let network: Value = rpc
        .call_method("getnetworkinfo", &[])
        .await
        .expect("getnetworkinfo");
    assert!(
        network["version"].as_u64() >= Some(280_000),
        "ElectrumX requires Core 28+"
    );
    assert!(network["relayfee"].as_f64().is_some_and(|f| f > 0.0));
    let index: Value = rpc
        .call_method("getindexinfo", &[])
        .await
        .expect("getindexinfo");
    assert_eq!(index["txindex"]["synced"], json!(true));
    assert_eq!(index["txindex"]["best_block_height"], json!(2));
    let unknown = rpc
        .call_method::<Value>("getwalletinfo", &[])
        .await
        .expect_err("not served");
    assert_eq!(rpc_error_code(unknown), -32601);
}
