//! The system's own side of the books: a `system` tenant holding one account per node
//! (what the node holds), the owner's equity that funded node liquidity, routing fee
//! income, receipts no invoice claims, what probes cost, channel funds closes returned to a
//! node's wallet, funds recovered to cold storage and the on-chain costs of closes.

use ledger::{create_account, create_tenant, post, AccountKind, JournalEntry, NewAccount, Posting};
use store::Sql;

use crate::GatewayError;

pub use kernel::SYSTEM_TENANT;
pub const EQUITY_ACCOUNT: &str = "sys_equity";
pub const FEE_INCOME_ACCOUNT: &str = "sys_fee_income";
/// Money a node received for a payment hash no open invoice of ours claims.
pub const UNATTRIBUTED_ACCOUNT: &str = "sys_unattributed";
/// Received money an inbound stage held, until a decision releases it (a liability, like
/// a customer's funds).
pub const SUSPENSE_ACCOUNT: &str = "sys_suspense";
/// Routing fees paid by synthetic probes between our nodes: what monitoring costs.
pub const PROBE_COST_ACCOUNT: &str = "sys_probe_cost";

/// Funds recovered to cold storage by emergency recoveries (an asset, like a node's).
pub const RECOVERED_ACCOUNT: &str = "sys_recovered";
/// On-chain fees of closing channels and sweeping them: a cost.
pub const ONCHAIN_COST_ACCOUNT: &str = "sys_onchain_cost";

/// What a node's open channels hold on our side: what its ledger account is compared with.
pub fn channels_balance_msat(node: &dyn node_pool::LightningNode) -> u64 {
    sum_balances_msat(&node.channels())
}

/// What these channels hold on our side.
pub(crate) fn sum_balances_msat(channels: &[node_pool::ChannelInfo]) -> u64 {
    channels.iter().map(|c| c.balance_msat).sum()
}

pub fn node_account(node: &str) -> String {
    format!("sys_node_{node}")
}

/// What a node's wallet holds on the books: channel funds a close returned to it.
pub fn wallet_account(node: &str) -> String {
    format!("sys_wallet_{node}")
}

/// What the books say a node's wallet holds (nothing before its first close is booked).
pub(crate) fn wallet_held_msat(sql: &mut dyn Sql, node: &str) -> Result<i64, GatewayError> {
    match ledger::get_account(sql, &wallet_account(node)) {
        Ok(account) => Ok(-account.balance_msat),
        Err(ledger::LedgerError::UnknownAccount(_)) => Ok(0),
        Err(other) => Err(other.into()),
    }
}

/// Creates a node's wallet account if absent (an asset: it runs negative, like the node's).
pub(crate) fn ensure_wallet_account(
    sql: &mut dyn Sql,
    node: &str,
    now_ms: i64,
) -> Result<(), GatewayError> {
    ensure_account(sql, &wallet_account(node), AccountKind::Node, true, now_ms).map(|_| ())
}

/// Creates the system tenant and accounts if absent (idempotent: runs on every start).
pub fn ensure_system_accounts(sql: &mut dyn Sql, now_ms: i64) -> Result<(), GatewayError> {
    create_tenant(sql, SYSTEM_TENANT, "System", now_ms)?;
    for (id, kind, negative) in [
        (EQUITY_ACCOUNT, AccountKind::Equity, false),
        (FEE_INCOME_ACCOUNT, AccountKind::FeeIncome, false),
        (UNATTRIBUTED_ACCOUNT, AccountKind::Equity, false),
        (SUSPENSE_ACCOUNT, AccountKind::Equity, false),
        // Runs negative: each probe's fee is a cost.
        (PROBE_COST_ACCOUNT, AccountKind::Equity, true),
        (RECOVERED_ACCOUNT, AccountKind::Node, true),
        (ONCHAIN_COST_ACCOUNT, AccountKind::Equity, true),
    ] {
        ensure_account(sql, id, kind, negative, now_ms)?;
    }
    Ok(())
}

fn ensure_account(
    sql: &mut dyn Sql,
    id: &str,
    kind: AccountKind,
    allow_negative: bool,
    now_ms: i64,
) -> Result<bool, GatewayError> {
    if sql
        .query_opt("SELECT 1 FROM accounts WHERE id = $1", &[id.into()])?
        .is_some()
    {
        return Ok(false);
    }
    create_account(
        sql,
        &NewAccount {
            id,
            tenant_id: SYSTEM_TENANT,
            name: id,
            kind,
            allow_negative,
        },
        now_ms,
    )?;
    Ok(true)
}

/// Puts a node on the books the first time the gateway sees it: its Lightning balance
/// then is the owner's capital (node account debited, equity credited). Later balances
/// follow from payments, so the books check can compare them with the node.
pub fn register_node(
    sql: &mut dyn Sql,
    node: &str,
    opening_balance_msat: u64,
    now_ms: i64,
) -> Result<bool, GatewayError> {
    let account = node_account(node);
    // A node's account is an asset: it runs negative by design (see `AccountKind::Node`).
    if !ensure_account(sql, &account, AccountKind::Node, true, now_ms)? {
        return Ok(false);
    }
    if opening_balance_msat > 0 {
        let amount = i64::try_from(opening_balance_msat).expect("bounded by channel capacity");
        post(
            sql,
            &JournalEntry {
                id: format!("opening_{node}"),
                kind: "node_opening".into(),
                reference: Some(node.to_string()),
                postings: vec![
                    Posting::new(&account, "opening", -amount),
                    Posting::new(EQUITY_ACCOUNT, "opening", amount),
                ],
            },
            now_ms,
        )?;
    }
    Ok(true)
}
