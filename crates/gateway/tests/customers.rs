//! Customer due diligence in the payment's transaction, on both stores over a real node:
//! a pending customer cannot send; twelve payments from two accounts of one customer race
//! on two replicas for a daily limit that fits three, and exactly three go through (the
//! customer's row is locked, not only each account's); an account cannot be linked to
//! another tenant's customer, and the refusal leaves no account behind.

use std::sync::Arc;

use compliance::risk::{LevelProfile, ReviewFrequency, RiskTable};
use compliance::{ComplianceError, CustomerChange, DueDiligence, NewCustomer};
use gateway::{Gateway, GatewayError};
use kernel::{Actor, RandomIds, SystemClock};
use store::testing::TestStore;

mod common;

use common::EUR;

store::on_both_stores!(a_customers_limits_hold_across_its_accounts_and_replicas);

/// The default table with a daily limit of 35 EUR at every level.
fn tiny_limits() -> RiskTable {
    let profile = LevelProfile {
        daily_limit_eur_cents: 3_500,
        monthly_limit_eur_cents: 1_000_000,
        annual_limit_eur_cents: 10_000_000,
        enhanced_monitoring: false,
        review: ReviewFrequency::Annual,
    };
    RiskTable {
        low: profile,
        medium: profile,
        high: profile,
        ..RiskTable::default()
    }
}

async fn a_customers_limits_hold_across_its_accounts_and_replicas(t: TestStore) {
    let world = common::world(t.store.clone(), Arc::new(SystemClock)).await;
    let gateway = world.gateway.clone();
    let admin = Actor::system("test");
    let payee = world.treasury(&admin).await;
    let due_diligence = DueDiligence::new(
        t.store.clone(),
        Arc::new(SystemClock),
        Arc::new(RandomIds),
        gateway.screening().clone(),
        tiny_limits(),
    );
    let customer = due_diligence
        .create(
            &admin,
            NewCustomer {
                tenant_id: "treasury".into(),
                name: "Muster Software GmbH".into(),
                kind: "organization".into(),
                country: "Germany".into(),
                business_type: "software".into(),
                expected_monthly_eur_cents: 5_000_000,
                source_of_funds: "business_revenue".into(),
            },
        )
        .await
        .expect("customer");
    assert_eq!(customer.country, "DE");
    assert_eq!(customer.kyc_status.as_str(), "pending");
    let mut accounts = Vec::new();
    for name in ["ops-a", "ops-b"] {
        let account = gateway
            .create_customer_account(&admin, "treasury", name, Some(&customer.id))
            .await
            .expect("account");
        world.fund(&admin, &account.id, 2_000_000).await;
        accounts.push(account.id);
    }

    // Another tenant's account cannot name this customer; nothing is left behind.
    gateway
        .create_tenant(&admin, "globex", "Globex")
        .await
        .expect("tenant");
    let foreign = gateway
        .create_customer_account(&admin, "globex", "sneaky", Some(&customer.id))
        .await;
    assert!(
        matches!(
            foreign,
            Err(GatewayError::Compliance(ComplianceError::InvalidField {
                field: "customer_id",
                ..
            }))
        ),
        "{foreign:?}"
    );
    let sneaky: i64 = t
        .store
        .read(|sql| {
            sql.query_one(
                "SELECT COUNT(*) FROM accounts WHERE tenant_id = 'globex'",
                &[],
            )?
            .i64(0)
        })
        .await
        .expect("count");
    assert_eq!(sneaky, 0);

    let mut invoices = common::invoices(&gateway, &payee.id, 13, 10 * EUR).await;
    let pay = |gateway: Gateway, account_id: String, bolt11: String| async move {
        common::pay(&gateway, &Actor::system("test"), &account_id, bolt11).await
    };

    // Pending: it cannot send.
    let pending = pay(
        gateway.clone(),
        accounts[0].clone(),
        invoices.pop().expect("one"),
    )
    .await;
    assert!(
        matches!(
            pending,
            Err(GatewayError::Compliance(
                ComplianceError::CustomerNotVerified("pending")
            ))
        ),
        "{pending:?}"
    );
    let verified = due_diligence
        .update(
            &admin,
            &customer.id,
            CustomerChange {
                kyc_status: Some("verified".into()),
                ..CustomerChange::default()
            },
        )
        .await
        .expect("verified");
    assert_eq!(verified.kyc_status.as_str(), "verified");

    // Two replicas, each with its own store handle, pay from both accounts at once.
    let second_store = t.second_handle().await.expect("second handle");
    let second = common::replica(second_store, &gateway, gateway::GatewayConfig::default()).await;
    let replicas = [gateway.clone(), second];
    let racing: Vec<_> = invoices
        .into_iter()
        .enumerate()
        .map(|(i, bolt11)| {
            tokio::spawn(pay(
                replicas[i % 2].clone(),
                accounts[(i / 2) % 2].clone(),
                bolt11,
            ))
        })
        .collect();
    let (passed, refused) = common::tally(racing, |e| match e {
        GatewayError::Compliance(ComplianceError::CustomerLimitExceeded {
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
        common::payments_recorded(&t.store).await,
        3,
        "a refused payment leaves nothing behind"
    );

    // An officer's level needs a reason; with one it is kept and audited.
    let no_reason = due_diligence
        .update(
            &admin,
            &customer.id,
            CustomerChange {
                risk_level: Some("high".into()),
                ..CustomerChange::default()
            },
        )
        .await;
    assert!(matches!(
        no_reason,
        Err(ComplianceError::InvalidField {
            field: "reason",
            ..
        })
    ));
    let overridden = due_diligence
        .update(
            &admin,
            &customer.id,
            CustomerChange {
                risk_level: Some("high".into()),
                reason: Some("adverse media".into()),
                ..CustomerChange::default()
            },
        )
        .await
        .expect("override");
    assert_eq!(overridden.risk_level.as_str(), "high");
    assert_eq!(
        overridden.risk_override_reason.as_deref(),
        Some("adverse media")
    );
    world.lab.shutdown().await.expect("lab down");
}
