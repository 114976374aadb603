//! The Esplora and Electrum interfaces answer the real client libraries ldk-node uses
//! (`esplora-client`, `electrum-client`) over real HTTP and TCP, and their answers agree with
//! the chain: histories, confirmation status, merkle proofs, spends, broadcasts, reorgs,
//! notifications.

use std::time::Duration;

use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use devnet::{Devnet, DevnetConfig};
use electrum_client::{ElectrumApi, Param};

/// An anyone-can-spend P2WSH output (witness script `OP_TRUE`): spendable without keys.
fn op_true() -> (ScriptBuf, ScriptBuf) {
    let witness_script = ScriptBuf::from(vec![0x51]);
    let script_pubkey = ScriptBuf::new_p2wsh(&witness_script.wscript_hash());
    (witness_script, script_pubkey)
}

/// Spends `outpoint` (an `OP_TRUE` output of `value_sat`) to `to`, paying `fee_sat`.
fn spend_op_true(outpoint: OutPoint, value_sat: u64, fee_sat: u64, to: ScriptBuf) -> Transaction {
    let (witness_script, _) = op_true();
    Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::from_slice(&[witness_script.as_bytes()]),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(value_sat - fee_sat),
            script_pubkey: to,
        }],
    }
}

async fn started_with_electrum() -> Devnet {
    let config = DevnetConfig {
        electrum_listen: Some(([127, 0, 0, 1], 0).into()),
        ..DevnetConfig::ephemeral()
    };
    let devnet = Devnet::start(config).await.expect("devnet starts");
    devnet.mine_to_faucet(101).expect("mature faucet coins");
    devnet
}

fn output_index(tx: &Transaction, script: &ScriptBuf) -> u32 {
    tx.output
        .iter()
        .position(|o| o.script_pubkey == *script)
        .expect("pays the script") as u32
}

#[tokio::test(flavor = "multi_thread")]
async fn esplora_answers_esplora_client_consistently_with_the_chain() {
    let devnet = started_with_electrum().await;
    let esplora = esplora_client::Builder::new(&devnet.esplora_url())
        .build_async()
        .expect("client");
    let (_, target) = op_true();
    let faucet = devnet.faucet_address().script_pubkey();

    assert_eq!(esplora.get_height().await.expect("height"), 101);
    assert_eq!(esplora.get_tip_hash().await.expect("tip"), devnet.tip());
    assert_eq!(
        esplora.get_block_hash(7).await.expect("hash"),
        devnet.block_hash(7).expect("exists")
    );
    let recent = esplora.get_block_infos(None).await.expect("blocks");
    assert_eq!(recent.len(), 10);
    assert_eq!(recent[0].id, devnet.tip());
    assert_eq!(recent[0].previousblockhash, devnet.block_hash(100));
    assert!(!esplora.get_fee_estimates().await.expect("fees").is_empty());

    // Funded: unconfirmed, in the script's history with its fee.
    let funding_txid = devnet.fund(&[(target.clone(), 1_000_000)]).expect("fund");
    let funding = esplora
        .get_tx(&funding_txid)
        .await
        .expect("get tx")
        .expect("known");
    let vout = output_index(&funding, &target);
    let history = esplora
        .scripthash_txs(&target, None)
        .await
        .expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].txid, funding_txid);
    assert!(!history[0].status.confirmed);
    assert!(history[0].fee > 0);
    assert_eq!(
        history[0].vin[0].prevout.as_ref().map(|p| &p.scriptpubkey),
        Some(&faucet)
    );

    // Confirmed: status, merkle proof against the header, block status.
    devnet.mine_to_faucet(1).expect("mine");
    let status = esplora.get_tx_status(&funding_txid).await.expect("status");
    assert!(status.confirmed);
    assert_eq!(status.block_height, Some(102));
    let block_hash = status.block_hash.expect("block");
    let header = esplora
        .get_header_by_hash(&block_hash)
        .await
        .expect("header");
    let proof = esplora
        .get_merkle_block(&funding_txid)
        .await
        .expect("proof")
        .expect("confirmed");
    assert_eq!(proof.header, header);
    let (mut matches, mut indexes) = (Vec::new(), Vec::new());
    let root = proof
        .txn
        .extract_matches(&mut matches, &mut indexes)
        .expect("well formed");
    assert_eq!(root, header.merkle_root);
    assert_eq!(matches, vec![funding_txid]);
    let block_status = esplora.get_block_status(&block_hash).await.expect("status");
    assert!(block_status.in_best_chain);
    assert_eq!(block_status.height, Some(102));

    // Spent through Esplora's broadcast: the outspend names the spender.
    let outpoint = OutPoint::new(funding_txid, vout);
    let unspent = esplora
        .get_output_status(&funding_txid, vout.into())
        .await
        .expect("outspend")
        .expect("known");
    assert!(!unspent.spent);
    let spend = spend_op_true(outpoint, 1_000_000, 1_000, faucet.clone());
    esplora.broadcast(&spend).await.expect("broadcast");
    assert!(devnet.in_mempool(&spend.compute_txid()));
    let spent = esplora
        .get_output_status(&funding_txid, vout.into())
        .await
        .expect("outspend")
        .expect("known");
    assert!(spent.spent);
    assert_eq!(spent.txid, Some(spend.compute_txid()));
    assert_eq!(spent.vin, Some(0));
    // A conflicting spend paying less is refused with the reason.
    let conflict = spend_op_true(outpoint, 1_000_000, 500, target.clone());
    let refused = esplora.broadcast(&conflict).await.expect_err("conflict");
    assert!(
        refused.to_string().contains("insufficient fee"),
        "{refused}"
    );

    // Pagination: every transaction touching the faucet, exactly once, 25 per page.
    devnet.mine_to_faucet(1).expect("mine");
    let mut seen: Vec<Txid> = Vec::new();
    let mut last_seen = None;
    loop {
        let page = esplora
            .scripthash_txs(&faucet, last_seen)
            .await
            .expect("page");
        assert!(page.len() <= 25);
        seen.extend(page.iter().map(|t| t.txid));
        if page.len() < 25 {
            break;
        }
        last_seen = page.last().map(|t| t.txid);
    }
    let coinbases = devnet.height() as usize;
    assert_eq!(
        seen.len(),
        coinbases + 2,
        "every coinbase, the funding, the spend"
    );
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), coinbases + 2, "no transaction twice");

    // The spend's block invalidated: it leaves the best chain, the spend returns to the
    // mempool.
    let spend_block = esplora
        .get_tx_status(&spend.compute_txid())
        .await
        .expect("status")
        .block_hash
        .expect("confirmed");
    devnet.invalidate_block(spend_block).expect("invalidate");
    let stale = esplora
        .get_block_status(&spend_block)
        .await
        .expect("status");
    assert!(!stale.in_best_chain);
    let status = esplora
        .get_tx_status(&spend.compute_txid())
        .await
        .expect("status");
    assert!(!status.confirmed, "back in the mempool");

    // Bad input gets a 4xx, not a crash.
    let bad = esplora
        .get_block_status(&bitcoin::BlockHash::from_raw_hash(
            bitcoin::hashes::Hash::all_zeros(),
        ))
        .await
        .expect_err("unknown block");
    assert!(bad.to_string().contains("404"), "{bad}");
}

#[tokio::test(flavor = "multi_thread")]
async fn electrum_answers_electrum_client_consistently_with_the_chain() {
    let devnet = started_with_electrum().await;
    let url = format!("tcp://{}", devnet.electrum_addr().expect("listening"));
    let (_, target) = op_true();
    let faucet = devnet.faucet_address().script_pubkey();
    let funding_txid = devnet.fund(&[(target.clone(), 1_000_000)]).expect("fund");

    // electrum-client is blocking: run it off the runtime that serves the devnet.
    let (client, history) = tokio::task::spawn_blocking({
        let (url, target) = (url.clone(), target.clone());
        move || {
            let client = electrum_client::Client::new(&url).expect("connects");
            client.ping().expect("ping");
            let tip = client.block_headers_subscribe().expect("headers");
            assert_eq!(tip.height, 101);
            let status = client.script_subscribe(&target).expect("subscribe");
            assert!(status.is_some(), "the funding is in the script's history");
            let history = client.script_get_history(&target).expect("history");
            (client, history)
        }
    })
    .await
    .expect("join");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].tx_hash, funding_txid);
    assert_eq!(history[0].height, 0, "unconfirmed, parents confirmed");
    assert!(history[0].fee.is_some_and(|f| f > 0));

    devnet.mine_to_faucet(1).expect("mine");
    let tip_hash = devnet.tip();
    let spend_txid = tokio::task::spawn_blocking(move || {
        // Notifications for the new tip and the script's changed status arrive unasked.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let header = loop {
            client.ping().expect("ping pumps notifications");
            if let Some(header) = client.block_headers_pop().expect("pop") {
                break header;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no header notification"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(header.height, 102);
        assert_eq!(header.header.block_hash(), tip_hash);
        let mut status = None;
        while status.is_none() {
            client.ping().expect("ping");
            status = client.script_pop(&target).expect("script pop");
            assert!(
                std::time::Instant::now() < deadline,
                "no script notification"
            );
        }

        let history = client.script_get_history(&target).expect("history");
        assert_eq!(history[0].height, 102);
        let merkle = client
            .transaction_get_merkle(&funding_txid, 102)
            .expect("merkle");
        let block_header = client.block_header(102).expect("header");
        assert!(electrum_client::utils::validate_merkle_proof(
            &funding_txid,
            &block_header.merkle_root,
            &merkle
        ));
        let headers = client.block_headers(100, 5).expect("headers");
        assert_eq!(headers.headers.len(), 3, "100, 101, 102 exist");
        assert_eq!(headers.headers[2], block_header);

        let unspent = client.script_list_unspent(&target).expect("listunspent");
        assert_eq!(unspent.len(), 1);
        assert_eq!(unspent[0].value, 1_000_000);
        let balance = client.script_get_balance(&target).expect("balance");
        assert_eq!((balance.confirmed, balance.unconfirmed), (1_000_000, 0));
        assert!(client.estimate_fee(6).expect("fee") > 0.0);
        assert!(client.relay_fee().expect("relay fee") > 0.0);

        let funding = client.transaction_get(&funding_txid).expect("tx");
        let outpoint = OutPoint::new(funding_txid, output_index(&funding, &target));
        let spend = spend_op_true(outpoint, 1_000_000, 1_000, faucet);
        let spend_txid = client.transaction_broadcast(&spend).expect("broadcast");
        let unspent = client.script_list_unspent(&target).expect("listunspent");
        assert!(unspent.is_empty(), "the mempool spend counts");
        let conflict = spend_op_true(outpoint, 1_000_000, 500, target.clone());
        let refused = client
            .transaction_broadcast(&conflict)
            .expect_err("conflict");
        assert!(
            refused.to_string().contains("insufficient fee"),
            "{refused}"
        );

        // Bad input: a clear error, and the session stays usable.
        let bad = client
            .raw_call(
                "blockchain.scripthash.get_history",
                [Param::String("zz".into())],
            )
            .expect_err("bad scripthash");
        assert!(bad.to_string().contains("invalid scripthash"), "{bad}");
        let unknown = client
            .raw_call("blockchain.no.such.method", [])
            .expect_err("unknown");
        assert!(unknown.to_string().contains("unknown method"), "{unknown}");
        client.ping().expect("still usable");
        spend_txid
    })
    .await
    .expect("join");
    assert!(devnet.in_mempool(&spend_txid));
}
