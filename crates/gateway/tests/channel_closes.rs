//! A channel force-closed by the peer, over real ldk-nodes on the devnet, on both stores:
//! while the close resolves the books check reports the node short and nothing is booked;
//! once the funds are back in alpha's wallet, one entry moves what the ledger held in the
//! channel to alpha's wallet account (exactly what the wallet gained) and the rest to
//! on-chain cost. The books check then passes strictly, the customer's balance is what it
//! was, and booking again books nothing.

use std::sync::Arc;
use std::time::Duration;

use gateway::{node_account, wallet_account, ONCHAIN_COST_ACCOUNT};
use kernel::{Actor, ManualClock};
use node_pool::LightningNode;
use store::testing::TestStore;

mod common;

use common::EUR;

store::on_both_stores!(a_peers_force_close_is_booked_once_resolved);

async fn a_peers_force_close_is_booked_once_resolved(t: TestStore) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis() as i64;
    let world = common::world(t.store.clone(), Arc::new(ManualClock::new(now))).await;
    let (lab, gateway) = (&world.lab, world.gateway.clone());
    let alpha = lab.node("alpha").expect("alpha");
    let carol = lab.node("carol").expect("carol");
    let admin = Actor::system("test");
    let account = world.treasury(&admin).await;
    world.fund(&admin, &account.id, 20_000 * EUR).await;

    // The baseline is alpha's wallet and channel at the start (when it was registered):
    // no sweep runs before the close, as when a crash closes a channel at the restart.
    let matches = || {
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(gateway.check_books())
        })
        .expect("books")
        .ok()
    };
    lightning_lab::wait_until(
        "alpha matches its books",
        lightning_lab::DEFAULT_WAIT,
        matches,
    )
    .await
    .expect("matches");
    let held_msat = -world.balance(&node_account("alpha")).await;
    let wallet_before_msat = (alpha.onchain_balance().total_sat * 1000) as i64;

    let channel = carol.channels().pop().expect("carol's channel").channel;
    carol
        .close_channel(&channel, true)
        .await
        .expect("force close");
    lightning_lab::wait_until("alpha sees the close", lightning_lab::DEFAULT_WAIT, || {
        alpha.channels().is_empty()
    })
    .await
    .expect("closed");
    // Closing: the ledger holds what is no longer in a channel; nothing is booked yet.
    assert_eq!(gateway.book_channel_closes().await.expect("sweep"), 0);
    let books = gateway.check_books().await.expect("books");
    assert!(!books.ok(), "alpha is short while its close resolves");
    assert!(books.nodes[0].closing_msat > 0, "{books:?}");

    let mut booked = 0;
    for _ in 0..240 {
        booked += gateway.book_channel_closes().await.expect("sweep");
        if booked > 0 {
            break;
        }
        lab.mine(1).await.expect("mine");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(booked, 1, "the close was booked once resolved");

    let books = gateway.check_books().await.expect("books");
    assert!(books.ok(), "books balance and alpha matches: {books:?}");
    let gain_msat = (alpha.onchain_balance().total_sat * 1000) as i64 - wallet_before_msat;
    assert_eq!(
        world.balance(&node_account("alpha")).await,
        0,
        "no channel left"
    );
    assert_eq!(world.balance(&wallet_account("alpha")).await, -gain_msat);
    assert_eq!(books.nodes[0].wallet_ledger_msat, gain_msat);
    // What the close cost alpha: the commitment's fee and anchors (alpha funded the channel)
    // and the sweep's fee; no more than a few on-chain fees.
    let cost_msat = -world.balance(ONCHAIN_COST_ACCOUNT).await;
    assert_eq!(cost_msat, held_msat - gain_msat);
    assert!(cost_msat > 0 && cost_msat < 50_000_000, "{cost_msat} msat");
    assert_eq!(
        world.balance(&account.id).await,
        (20_000 * EUR) as i64,
        "the customer is still owed everything"
    );

    // Booked once: later sweeps find alpha matching its books.
    for _ in 0..3 {
        assert_eq!(gateway.book_channel_closes().await.expect("sweep"), 0);
    }
    assert_eq!(-world.balance(ONCHAIN_COST_ACCOUNT).await, cost_msat);
    let filter = audit::AuditFilter {
        tenant_id: None,
        after_seq: 0,
        limit: 1_000,
    };
    let trail = audit::list(&t.store, filter).await.expect("audit");
    let booked: Vec<_> = trail
        .iter()
        .filter(|r| r.action == "channel_close.booked")
        .collect();
    assert_eq!(booked.len(), 1, "{booked:?}");
    assert_eq!(booked[0].target.as_deref(), Some("alpha"));
    lab.shutdown().await.expect("lab down");
}
