//! The devnet enforces Bitcoin's rules: double spends, coinbase maturity, timelocks, scripts.

use bitcoin::absolute::LockTime;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
use devnet::{Coin, Devnet, DevnetConfig, RejectReason};

const FEE_SAT: u64 = 1_000;

async fn funded_devnet() -> Devnet {
    let devnet = Devnet::start(DevnetConfig::ephemeral())
        .await
        .expect("devnet starts");
    devnet.mine_to_faucet(3).expect("mine rewards");
    devnet.mine(100, &burn_script()).expect("mature rewards");
    devnet
}

fn burn_script() -> ScriptBuf {
    ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::from_byte_array([7; 32]))
}

use bitcoin::hashes::Hash;

/// A signed spend of one faucet coin to a fresh output, with the given knobs.
fn spend(
    devnet: &Devnet,
    coin: &(OutPoint, Coin),
    fee_sat: u64,
    tweak: impl FnOnce(&mut Transaction),
) -> Transaction {
    let value = coin.1.output.value;
    let mut tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: coin.0,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: value - Amount::from_sat(fee_sat),
            script_pubkey: devnet.faucet_address().script_pubkey(),
        }],
    };
    tweak(&mut tx);
    devnet.faucet_sign(&mut tx, &[value]);
    tx
}

#[tokio::test(flavor = "multi_thread")]
async fn a_double_spend_is_refused_unless_it_pays_more() {
    let devnet = funded_devnet().await;
    let coin = devnet.faucet_coins()[0].clone();
    let first = spend(&devnet, &coin, FEE_SAT, |_| {});
    let first_txid = devnet
        .send_raw_transaction(first.clone())
        .expect("first spend accepted");
    assert_eq!(
        devnet
            .send_raw_transaction(first)
            .expect("resubmission is idempotent"),
        first_txid
    );

    let same_fee = spend(&devnet, &coin, FEE_SAT, |tx| {
        tx.output[0].script_pubkey = burn_script()
    });
    assert!(matches!(
        devnet.send_raw_transaction(same_fee),
        Err(RejectReason::InsufficientReplacementFee { .. })
    ));

    let higher_fee = spend(&devnet, &coin, FEE_SAT * 10, |_| {});
    let replacement = devnet
        .send_raw_transaction(higher_fee)
        .expect("full-RBF replacement paying more");
    assert!(!devnet.in_mempool(&first_txid) && devnet.in_mempool(&replacement));

    devnet.mine(1, &burn_script()).expect("mine");
    assert_eq!(devnet.confirmations(&replacement), Some(1));
    let after_confirmation = spend(&devnet, &coin, FEE_SAT * 100, |_| {});
    assert_eq!(
        devnet.send_raw_transaction(after_confirmation),
        Err(RejectReason::MissingOrSpent(coin.0))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_immature_coinbase_cannot_be_spent_until_100_confirmations() {
    let devnet = Devnet::start(DevnetConfig::ephemeral())
        .await
        .expect("devnet starts");
    let hash = devnet.mine_to_faucet(1).expect("mine")[0];
    let coinbase = devnet.block(&hash).expect("block").txdata[0].clone();
    let outpoint = OutPoint::new(coinbase.compute_txid(), 0);
    let coin = (
        outpoint,
        devnet.utxo(&outpoint).expect("coinbase output is a coin"),
    );
    assert!(coin.1.is_coinbase);

    devnet.mine(98, &burn_script()).expect("mine");
    let early = spend(&devnet, &coin, FEE_SAT, |_| {});
    assert!(matches!(
        devnet.send_raw_transaction(early.clone()),
        Err(RejectReason::PrematureCoinbaseSpend {
            confirmations: 99,
            ..
        })
    ));
    devnet.mine(1, &burn_script()).expect("mine");
    devnet
        .send_raw_transaction(early)
        .expect("mature at 100 confirmations");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_absolute_timelock_holds_until_its_height() {
    let devnet = funded_devnet().await;
    let coin = devnet.faucet_coins()[0].clone();
    let lock_height = devnet.height() + 3;
    let locked = spend(&devnet, &coin, FEE_SAT, |tx| {
        tx.lock_time = LockTime::from_height(lock_height).expect("height");
        tx.input[0].sequence = Sequence::ENABLE_LOCKTIME_NO_RBF;
    });
    assert_eq!(
        devnet.send_raw_transaction(locked.clone()),
        Err(RejectReason::NonFinal)
    );
    devnet.mine(2, &burn_script()).expect("mine");
    assert_eq!(
        devnet.send_raw_transaction(locked.clone()),
        Err(RejectReason::NonFinal),
        "next block is the lock height"
    );
    devnet.mine(1, &burn_script()).expect("mine");
    devnet
        .send_raw_transaction(locked)
        .expect("next block is above the lock height");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relative_timelock_holds_for_its_csv_delay() {
    let devnet = funded_devnet().await;
    let coin = devnet.faucet_coins()[0].clone();
    // Confirm a fresh output, then spend it with a 5-block relative lock.
    let parent = spend(&devnet, &coin, FEE_SAT, |_| {});
    let parent_txid = devnet.send_raw_transaction(parent.clone()).expect("parent");
    devnet.mine(1, &burn_script()).expect("mine");
    let outpoint = OutPoint::new(parent_txid, 0);
    let child_coin = (outpoint, devnet.utxo(&outpoint).expect("confirmed"));
    let csv = spend(&devnet, &child_coin, FEE_SAT, |tx| {
        tx.input[0].sequence = Sequence::from_height(5)
    });
    assert_eq!(
        devnet.send_raw_transaction(csv.clone()),
        Err(RejectReason::NonBip68Final { input: 0 })
    );
    devnet.mine(3, &burn_script()).expect("mine");
    assert_eq!(
        devnet.send_raw_transaction(csv.clone()),
        Err(RejectReason::NonBip68Final { input: 0 })
    );
    devnet.mine(1, &burn_script()).expect("mine");
    devnet
        .send_raw_transaction(csv)
        .expect("5 confirmations reached in the next block");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_script_is_refused() {
    let devnet = funded_devnet().await;
    let coin = devnet.faucet_coins()[0].clone();
    let mut forged = spend(&devnet, &coin, FEE_SAT, |_| {});
    // Change an output after signing: the signature no longer commits to the transaction.
    forged.output[0].value -= Amount::from_sat(1);
    assert!(matches!(
        devnet.send_raw_transaction(forged),
        Err(RejectReason::ScriptFailed { input: 0, .. })
    ));

    let mut unsigned = spend(&devnet, &coin, FEE_SAT, |_| {});
    unsigned.input[0].witness = Witness::new();
    assert!(matches!(
        devnet.send_raw_transaction(unsigned),
        Err(RejectReason::ScriptFailed { input: 0, .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn outputs_above_inputs_are_refused() {
    let devnet = funded_devnet().await;
    let coin = devnet.faucet_coins()[0].clone();
    let inflating = spend(&devnet, &coin, 0, |tx| {
        tx.output[0].value += Amount::from_sat(1)
    });
    assert!(matches!(
        devnet.send_raw_transaction(inflating),
        Err(RejectReason::InputsBelowOutputs { .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reorg_returns_transactions_to_the_mempool_and_the_chain_survives_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = DevnetConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..DevnetConfig::ephemeral()
    };
    let devnet = Devnet::start(config.clone()).await.expect("devnet starts");
    devnet.mine_to_faucet(1).expect("mine");
    devnet.mine(100, &burn_script()).expect("mature");
    let txid = devnet.fund(&[(burn_script(), 100_000)]).expect("fund");
    let old_tip = devnet.mine(2, &burn_script()).expect("mine")[1];
    assert_eq!(devnet.confirmations(&txid), Some(2));

    let new_blocks = devnet.reorg(2, &burn_script()).expect("reorg");
    assert_eq!(new_blocks.len(), 3);
    assert_ne!(devnet.tip(), old_tip);
    assert_eq!(
        devnet.confirmations(&txid),
        Some(3),
        "re-mined from the mempool into the new branch"
    );
    let (height, tip) = (devnet.height(), devnet.tip());
    drop(devnet);

    let restarted = Devnet::start(config)
        .await
        .expect("devnet restarts from its block file");
    assert_eq!((restarted.height(), restarted.tip()), (height, tip));
    assert_eq!(restarted.confirmations(&txid), Some(3));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_time_based_relative_lock_follows_the_injected_clock() {
    let clock = std::sync::Arc::new(devnet::ManualClock::new(1_700_000_000));
    let devnet = Devnet::start(DevnetConfig {
        clock: clock.clone(),
        ..DevnetConfig::ephemeral()
    })
    .await
    .expect("devnet");
    devnet.mine_to_faucet(1).expect("mine");
    devnet.mine(100, &burn_script()).expect("mature");
    let coin = devnet.faucet_coins()[0].clone();
    let parent_txid = devnet
        .send_raw_transaction(spend(&devnet, &coin, FEE_SAT, |_| {}))
        .expect("parent");
    devnet.mine(1, &burn_script()).expect("confirm parent");
    let outpoint = OutPoint::new(parent_txid, 0);
    let child_coin = (outpoint, devnet.utxo(&outpoint).expect("confirmed"));
    // Two 512-second units after the parent's block (BIP68 time flag).
    let csv = spend(&devnet, &child_coin, FEE_SAT, |tx| {
        tx.input[0].sequence = Sequence::from_512_second_intervals(2);
    });
    assert_eq!(
        devnet.send_raw_transaction(csv.clone()),
        Err(RejectReason::NonBip68Final { input: 0 })
    );
    // Blocks mined while the clock stands still barely move the median time past.
    devnet.mine(11, &burn_script()).expect("mine");
    assert_eq!(
        devnet.send_raw_transaction(csv.clone()),
        Err(RejectReason::NonBip68Final { input: 0 })
    );
    clock.advance_secs(2_000);
    devnet
        .mine(11, &burn_script())
        .expect("mine past the lock in median time");
    devnet
        .send_raw_transaction(csv)
        .expect("the lock has passed by the chain's clock");
}
