//! Holds: funds set aside for an in-flight payment. Placing one raises the account's
//! pending balance (lowering what it can spend); it ends settled (with a journal entry
//! that debits at most what was held) or released.

use store::{Row, Sql, StoreError, Value};

use crate::accounts::get_account;
use crate::journal::{post, JournalEntry};
use crate::LedgerError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum HoldState {
    Active,
    Settled,
    Released,
}

impl HoldState {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub id: String,
    pub account_id: String,
    pub amount_msat: u64,
    pub reference: String,
    pub state: HoldState,
    pub created_at_ms: i64,
    pub resolved_at_ms: Option<i64>,
}

const COLUMNS: &str =
    "id, account_id, amount_msat, reference, state, created_at_ms, resolved_at_ms";

fn from_row(row: &Row) -> Result<Hold, StoreError> {
    Ok(Hold {
        id: row.text("id")?.to_string(),
        account_id: row.text("account_id")?.to_string(),
        amount_msat: row.u64("amount_msat")?,
        reference: row.text("reference")?.to_string(),
        state: row.parse("state")?,
        created_at_ms: row.i64("created_at_ms")?,
        resolved_at_ms: row.opt_i64("resolved_at_ms")?,
    })
}

fn get_hold(sql: &mut dyn Sql, id: &str) -> Result<Hold, LedgerError> {
    let row = sql
        .query_opt(
            &format!("SELECT {COLUMNS} FROM holds WHERE id = $1"),
            &[id.into()],
        )?
        .ok_or_else(|| LedgerError::UnknownHold(id.to_string()))?;
    Ok(from_row(&row)?)
}

/// Sets `amount_msat` aside on `account_id`; refused if the account cannot spend it.
pub fn place_hold(
    sql: &mut dyn Sql,
    id: &str,
    account_id: &str,
    amount_msat: u64,
    reference: &str,
    now_ms: i64,
) -> Result<Hold, LedgerError> {
    crate::error::check_amount(amount_msat)?;
    let reserved = sql.query_opt(
        "UPDATE accounts SET pending_msat = pending_msat + $1 \
         WHERE id = $2 AND (allow_negative <> 0 OR balance_msat - pending_msat - $1 >= 0) \
         RETURNING id",
        &[amount_msat.into(), account_id.into()],
    )?;
    if reserved.is_none() {
        let account = get_account(sql, account_id)?;
        return Err(LedgerError::InsufficientFunds {
            account: account.id.clone(),
            available_msat: account.available_msat(),
            needed_msat: amount_msat,
        });
    }
    let inserted = sql.execute(
        "INSERT INTO holds (id, account_id, amount_msat, reference, state, created_at_ms) \
         VALUES ($1, $2, $3, $4, 'active', $5) ON CONFLICT (id) DO NOTHING",
        &[
            id.into(),
            account_id.into(),
            amount_msat.into(),
            reference.into(),
            Value::Int(now_ms),
        ],
    )?;
    if inserted == 0 {
        return Err(LedgerError::DuplicateId(format!("hold {id}")));
    }
    get_hold(sql, id)
}

/// Ends an active hold, returning its amount to the account's available balance.
fn resolve(sql: &mut dyn Sql, id: &str, to: HoldState, now_ms: i64) -> Result<Hold, LedgerError> {
    let resolved = sql.query_opt(
        &format!(
            "UPDATE holds SET state = $2, resolved_at_ms = $3 WHERE id = $1 AND state = 'active' \
             RETURNING {COLUMNS}"
        ),
        &[id.into(), to.as_str().into(), Value::Int(now_ms)],
    )?;
    let Some(row) = resolved else {
        let hold = get_hold(sql, id)?;
        return Err(LedgerError::HoldNotActive {
            id: id.to_string(),
            state: hold.state.as_str().to_string(),
        });
    };
    let hold = from_row(&row)?;
    sql.execute(
        "UPDATE accounts SET pending_msat = pending_msat - $1 WHERE id = $2",
        &[hold.amount_msat.into(), hold.account_id.as_str().into()],
    )?;
    Ok(hold)
}

/// The payment failed or was cancelled: the held funds are available again.
pub fn release_hold(sql: &mut dyn Sql, id: &str, now_ms: i64) -> Result<Hold, LedgerError> {
    resolve(sql, id, HoldState::Released, now_ms)
}

/// The payment succeeded: ends the hold and posts `entry`, which may debit the held
/// account by at most the amount held (the actual fee is often below the maximum held).
pub fn settle_hold(
    sql: &mut dyn Sql,
    id: &str,
    entry: &JournalEntry,
    now_ms: i64,
) -> Result<Hold, LedgerError> {
    let hold = resolve(sql, id, HoldState::Settled, now_ms)?;
    let debit_msat: i64 = -entry
        .postings
        .iter()
        .filter(|p| p.account_id == hold.account_id)
        .map(|p| p.amount_msat)
        .sum::<i64>();
    if debit_msat > hold.amount_msat as i64 {
        return Err(LedgerError::SettlementExceedsHold {
            id: id.to_string(),
            held_msat: hold.amount_msat,
            debit_msat: debit_msat.unsigned_abs(),
        });
    }
    post(sql, entry, now_ms)?;
    Ok(hold)
}
