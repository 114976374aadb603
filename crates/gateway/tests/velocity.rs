//! Velocity limits on both stores, over a real node: twelve payments from one account
//! race for a daily limit that fits three; exactly three go through, the rest are refused
//! with nothing recorded, and what left the account stays within the limit.

use std::sync::Arc;

use controls::{ControlsError, VelocityLimits};
use gateway::GatewayError;
use kernel::{Actor, SystemClock};
use store::testing::TestStore;

mod common;

use common::EUR;

store::on_both_stores!(concurrent_payments_cannot_pass_a_velocity_limit_together);

async fn concurrent_payments_cannot_pass_a_velocity_limit_together(t: TestStore) {
    let world = common::world(t.store.clone(), Arc::new(SystemClock)).await;
    let gateway = world.gateway.clone();
    let admin = Actor::system("test");
    let payer = world.treasury(&admin).await;
    let payee = gateway
        .create_account(&admin, "treasury", "payroll")
        .await
        .expect("payee");
    world.fund(&admin, &payer.id, 10_000_000).await;

    // 35 EUR a day; each payment is 10 EUR (20,000 msat).
    let limits = VelocityLimits {
        daily_eur_cents: Some(3_500),
        monthly_eur_cents: Some(1_000_000),
    };
    assert_eq!(
        gateway
            .set_velocity_limits(&admin, &payer.id, limits)
            .await
            .expect("limits"),
        limits
    );
    let invoices = common::invoices(&gateway, &payee.id, 12, 10 * EUR).await;
    // Two replicas, each with its own store handle (its own writer): a velocity check
    // that did not lock the payer's row would let both pass the limit together.
    let second_store = t.second_handle().await.expect("second handle");
    let second = common::replica(second_store, &gateway, gateway::GatewayConfig::default()).await;
    let replicas = [gateway.clone(), second];
    let mut racing = Vec::new();
    for (i, bolt11) in invoices.into_iter().enumerate() {
        let (gateway, admin, account_id) =
            (replicas[i % 2].clone(), admin.clone(), payer.id.clone());
        racing.push(tokio::spawn(async move {
            common::pay(&gateway, &admin, &account_id, bolt11).await
        }));
    }
    let (passed, refused) = common::tally(racing, |e| match e {
        GatewayError::Controls(ControlsError::VelocityLimitExceeded {
            window,
            limit_eur_cents,
            would_be_eur_cents,
        }) => {
            assert_eq!((window, limit_eur_cents), ("daily", 3_500));
            assert_eq!(would_be_eur_cents, 4_000);
        }
        other => panic!("unexpected {other}"),
    })
    .await;
    assert_eq!((passed, refused), (3, 9));
    assert_eq!(world.balance(&payee.id).await, (30 * EUR) as i64);
    assert_eq!(
        world.balance(&payer.id).await,
        10_000_000 - (30 * EUR) as i64
    );
    assert_eq!(
        common::payments_recorded(&t.store).await,
        3,
        "a refused payment leaves nothing behind"
    );
    world.lab.shutdown().await.expect("lab down");
}
