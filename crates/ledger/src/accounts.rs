//! Tenants and their accounts.

use store::{Row, Sql, StoreError, Value};

use crate::LedgerError;

/// What an account is for. Customer accounts belong to a tenant and are what the API
/// shows; the others are the system's side of each entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum AccountKind {
    /// A business unit's funds (a liability of the platform to the tenant).
    Customer,
    /// What one Lightning node holds (an asset: its balance runs negative, since every
    /// msat a customer receives through the node is a credit to the customer).
    Node,
    /// The owner's capital that funded node liquidity.
    Equity,
    /// Routing fees the nodes earned.
    FeeIncome,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub kind: AccountKind,
    pub allow_negative: bool,
    /// Sum of the account's postings.
    pub balance_msat: i64,
    /// Sum of its active holds.
    pub pending_msat: u64,
    pub created_at_ms: i64,
}

impl Account {
    /// What the account can spend now.
    pub fn available_msat(&self) -> i64 {
        self.balance_msat - self.pending_msat as i64
    }
}

pub struct NewAccount<'a> {
    pub id: &'a str,
    pub tenant_id: &'a str,
    pub name: &'a str,
    pub kind: AccountKind,
    pub allow_negative: bool,
}

const COLUMNS: &str =
    "id, tenant_id, name, kind, allow_negative, balance_msat, pending_msat, created_at_ms";

fn from_row(row: &Row) -> Result<Account, StoreError> {
    Ok(Account {
        id: row.text("id")?.to_string(),
        tenant_id: row.text("tenant_id")?.to_string(),
        name: row.text("name")?.to_string(),
        kind: row.parse("kind")?,
        allow_negative: row.bool("allow_negative")?,
        balance_msat: row.i64("balance_msat")?,
        pending_msat: row.u64("pending_msat")?,
        created_at_ms: row.i64("created_at_ms")?,
    })
}

/// Locks the account's row until the transaction ends: what a caller reads of the account
/// (its holds, its payments) then stays as read, and another transaction that locks it
/// waits. PostgreSQL takes a row lock (no new row version); SQLite's single writer
/// serialises every write transaction already, so there it only checks the account exists.
pub fn lock_account(sql: &mut dyn Sql, account_id: &str) -> Result<(), LedgerError> {
    let query = format!(
        "SELECT id FROM accounts WHERE id = $1{}",
        sql.dialect().row_lock()
    );
    if sql.query_opt(&query, &[account_id.into()])?.is_none() {
        return Err(LedgerError::UnknownAccount(account_id.to_string()));
    }
    Ok(())
}

/// Creates a tenant; an existing tenant of the same id and name is left as is (so setup
/// can run on every start). Returns whether it was created now.
pub fn create_tenant(
    sql: &mut dyn Sql,
    id: &str,
    name: &str,
    now_ms: i64,
) -> Result<bool, LedgerError> {
    let created = sql.execute(
        "INSERT INTO tenants (id, name, created_at_ms) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        &[id.into(), name.into(), Value::Int(now_ms)],
    )?;
    let stored = sql.query_one("SELECT name FROM tenants WHERE id = $1", &[id.into()])?;
    if stored.text("name")? != name {
        return Err(LedgerError::DuplicateId(format!("tenant {id}")));
    }
    Ok(created == 1)
}

pub fn create_account(
    sql: &mut dyn Sql,
    new: &NewAccount<'_>,
    now_ms: i64,
) -> Result<Account, LedgerError> {
    if sql
        .query_opt(
            "SELECT 1 FROM tenants WHERE id = $1",
            &[new.tenant_id.into()],
        )?
        .is_none()
    {
        return Err(LedgerError::UnknownTenant(new.tenant_id.to_string()));
    }
    let taken = sql.query_opt(
        "SELECT id FROM accounts WHERE tenant_id = $1 AND name = $2",
        &[new.tenant_id.into(), new.name.into()],
    )?;
    if taken.is_some() {
        return Err(LedgerError::DuplicateName(new.name.to_string()));
    }
    let inserted = sql.execute(
        "INSERT INTO accounts (id, tenant_id, name, kind, allow_negative, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        &[
            new.id.into(),
            new.tenant_id.into(),
            new.name.into(),
            new.kind.as_str().into(),
            new.allow_negative.into(),
            Value::Int(now_ms),
        ],
    )?;
    if inserted == 0 {
        return Err(LedgerError::DuplicateId(format!("account {}", new.id)));
    }
    get_account(sql, new.id)
}

pub fn get_account(sql: &mut dyn Sql, id: &str) -> Result<Account, LedgerError> {
    let row = sql
        .query_opt(
            &format!("SELECT {COLUMNS} FROM accounts WHERE id = $1"),
            &[id.into()],
        )?
        .ok_or_else(|| LedgerError::UnknownAccount(id.to_string()))?;
    Ok(from_row(&row)?)
}

/// A tenant's accounts in id order, `limit` at a time after `after`.
pub fn list_accounts(
    sql: &mut dyn Sql,
    tenant_id: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<Account>, LedgerError> {
    let rows = sql.query(
        &format!(
            "SELECT {COLUMNS} FROM accounts WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ),
        &[tenant_id.into(), after.unwrap_or("").into(), limit.into()],
    )?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}
