//! What `fulgur demo` sets up for compliance (issue 24 §5): a fixed demo rate that fits
//! the customer's EUR thresholds into the devnet's channels, a verified customer per
//! business unit (its accounts linked), a compliance officer's key, and a node on the
//! watchlist, whose invoice the examples try to pay. The node does not exist on the
//! devnet: its invoice is signed with a fixed key (`testkit::forge_invoice`), and
//! screening refuses the payment before anything would route it.

use compliance::{ComplianceError, CustomerChange, NewCustomer, WatchKind};
use gateway::{EurRateConfig, Gateway};
use kernel::Actor;

/// 5,000,000 EUR per BTC in cents: 1 EUR is 20,000 msat, so 12,000 EUR is 240,000 sat.
pub const EUR_CENTS_PER_BTC: u64 = 500_000_000;
/// The watch-listed node's key seed (a fixed identity across runs).
const WATCHED_NODE_SEED: u8 = 0x5a;

pub fn eur_rate() -> EurRateConfig {
    EurRateConfig {
        eur_cents_per_btc: EUR_CENTS_PER_BTC,
        source: "fixed:demo (5,000,000 EUR per BTC)".into(),
    }
}

/// `msat` for `eur` whole euros at the demo rate.
pub fn msat_of_eur(eur: u64) -> u64 {
    eur * 100 * (100_000_000_000 / EUR_CENTS_PER_BTC)
}

/// The business unit's customer (created verified on the first run, found after).
pub async fn customer_of(
    gateway: &Gateway,
    tenant: &str,
    tenant_name: &str,
) -> anyhow::Result<String> {
    let dd = gateway.due_diligence();
    let actor = Actor::system("demo");
    let name = format!("{tenant_name} GmbH");
    if let Some(found) = dd
        .list(Some(tenant.to_string()), String::new(), 500)
        .await?
        .into_iter()
        .find(|c| c.name == name)
    {
        return Ok(found.id);
    }
    let customer = dd
        .create(
            &actor,
            NewCustomer {
                tenant_id: tenant.to_string(),
                name,
                kind: "organization".into(),
                country: "DE".into(),
                business_type: "software".into(),
                expected_monthly_eur_cents: 20_000_000,
                source_of_funds: "business_revenue".into(),
            },
        )
        .await?;
    let verified = CustomerChange {
        kyc_status: Some("verified".into()),
        ..CustomerChange::default()
    };
    dd.update(&actor, &customer.id, verified).await?;
    Ok(customer.id)
}

/// An invoice of `eur` euros from the watch-listed node, which is put on the watchlist.
pub async fn watched_invoice(gateway: &Gateway, eur: u64) -> anyhow::Result<String> {
    let hash = hex::encode(rand::random::<[u8; 32]>());
    let bolt11 = testkit::forge_invoice(
        WATCHED_NODE_SEED,
        &hash,
        Some(msat_of_eur(eur)),
        "sanctioned supplier",
    );
    let payee = node_pool::decode_invoice(&bolt11)?.payee;
    match gateway
        .screening()
        .watch(
            &Actor::system("demo"),
            WatchKind::NodePubkey,
            &payee,
            "demo: the node of a supplier under sanctions",
        )
        .await
    {
        Ok(_) | Err(ComplianceError::AlreadyWatched(_)) => Ok(bolt11),
        Err(e) => Err(e.into()),
    }
}

/// The compliance examples, after the others (paste into the same shell).
pub fn examples(
    officer_key: &std::path::Path,
    treasury: &str,
    watched_bolt11: &str,
    approve_big: &str,
) -> Vec<String> {
    let h = r#"-H "authorization: Bearer $KEY" -H 'content-type: application/json'"#;
    let o = r#"-H "authorization: Bearer $OFFICER" -H 'content-type: application/json'"#;
    let first_id = r#"sed -E 's/^\{"id":"([^"]+)".*/\1/'"#;
    let first_alert = r#"sed -E 's/.*"data":\[\{"id":"([^"]+)".*/\1/'"#;
    let bolt11_of = r#"sed -E 's/.*"bolt11":"([^"]+)".*/\1/'"#;
    let key = r#"-H "idempotency-key: $(date +%s%N)""#;
    let carol_invoice = |eur: u64, what: &str| {
        format!(
            r#"BOLT11=$(curl -s {h} -d '{{"amount_msat":{},"description":"{what}"}}' $API/devnet/counterparty/invoices | {bolt11_of})"#,
            msat_of_eur(eur)
        )
    };
    let pay = |into: &str| {
        format!(
            r#"{into}=$(curl -s {h} {key} -d "{{\"account_id\":\"{treasury}\",\"bolt11\":\"$BOLT11\"}}" $API/v1/payments | {first_id})"#
        )
    };
    // An alert is raised as the payment or receipt is recorded; a receipt's a moment after
    // carol's payment completes.
    let alert_of = |var: &str, filter: &str| {
        format!(
            r#"for i in $(seq 100); do A=$(curl -s {o} "$API/v1/alerts?{filter}"); case "$A" in *'"data":[{{'*) break;; esac; sleep 0.2; done; {var}=$(echo "$A" | {first_alert}); echo "$A""#
        )
    };
    vec![
        format!("export OFFICER=$(cat {})", officer_key.display()),
        "# carol pays 40,000 EUR into the treasury: above 5,000 EUR, it waits in suspense".into(),
        format!(
            r#"R=$(curl -s {h} -d '{{"account_id":"{treasury}","amount_msat":{},"description":"capital"}}' $API/v1/invoices); INVOICE=$(echo "$R" | {first_id})"#,
            msat_of_eur(40_000)
        ),
        format!(
            r#"curl -s {h} -d "{{\"bolt11\":\"$(echo "$R" | {bolt11_of})\"}}" $API/devnet/counterparty/payments"#
        ),
        alert_of("FUNDING", "invoice_id=$INVOICE"),
        "# the compliance officer releases it to the account:".into(),
        format!(
            r#"curl -s {o} -d '{{"decision":"release","reason":"capital from the parent company"}}' $API/v1/alerts/$FUNDING/decide"#
        ),
        "# a 6,000 EUR payment is held for review, then released by the officer:".into(),
        carol_invoice(6_000, "milling machine"),
        pay("HELD"),
        format!("curl -s {h} $API/v1/payments/$HELD"),
        alert_of("LARGE", "payment_id=$HELD"),
        format!(
            r#"curl -s {o} -d '{{"decision":"release","reason":"machine purchase, contract on file"}}' $API/v1/alerts/$LARGE/decide"#
        ),
        "# three payments of 4,500 EUR: the third is held as structuring:".into(),
        format!(
            "for i in 1 2 3; do {}; {}; done",
            carol_invoice(4_500, "consulting"),
            pay("LAST")
        ),
        format!("curl -s {h} $API/v1/payments/$LAST"),
        alert_of("STRUCTURING", "payment_id=$LAST"),
        "# a 12,000 EUR payment: held for review, and waiting for both HSM keys and an executive:"
            .into(),
        carol_invoice(12_000, "production line"),
        pay("BIG"),
        format!("curl -s {h} $API/v1/payments/$BIG"),
        format!("curl -s {h} $API/v1/approvals/$BIG"),
        alert_of("BIGALERT", "payment_id=$BIG"),
        format!(
            r#"curl -s {o} -d '{{"decision":"release","reason":"production line, contract on file"}}' $API/v1/alerts/$BIGALERT/decide"#
        ),
        "# the CEO approves it with their own key; the HSM keys co-sign and it goes:".into(),
        approve_big.to_string(),
        format!(
            r#"for i in $(seq 100); do P=$(curl -s {h} $API/v1/payments/$BIG); case "$P" in *'"status":"succeeded"'*) break;; esac; sleep 0.2; done; echo "$P""#
        ),
        "# a payment to a node on the watchlist is refused, without saying why:".into(),
        format!(
            r#"curl -s {h} {key} -d '{{"account_id":"{treasury}","bolt11":"{watched_bolt11}"}}' $API/v1/payments"#
        ),
        "# the officer opens a case, notes a finding, drafts the report (due in 24 h) and exports it as goAML:".into(),
        format!(
            r#"CASE=$(curl -s {o} -d "{{\"alert_ids\":[\"$STRUCTURING\"]}}" $API/v1/cases | {first_id})"#
        ),
        format!(
            r#"curl -s {o} -d '{{"text":"three payments just under 5,000 EUR to one supplier within minutes"}}' $API/v1/cases/$CASE/notes"#
        ),
        format!("curl -s {o} -X POST $API/v1/cases/$CASE/sar"),
        format!(r#"curl -s {o} "$API/v1/cases/$CASE/sar?format=goaml""#),
    ]
}
