//! A payer's last 30 days of payments in and out, as the monitoring rules read them: the
//! customer's accounts (or the account alone), newest first, at most
//! [`aml::MAX_HISTORY`]. Read from the store in the payment's transaction, or from a copy
//! this replica keeps per payer.
//!
//! The copy is refreshed only from a read-only snapshot, after a payment of the payer
//! committed and off its path (never from inside a transaction, where it could hold a
//! write that then rolls back), by reading the rows stamped after it (`history_version`,
//! see migration 0028). Inside the next payment's transaction, the payer's account
//! versions are read again: the copy is used as it is if every one is what the copy was
//! made at; otherwise with the rows stamped after it read in the transaction (the result
//! is used once, never kept); or, when a row was deleted, the accounts changed or a row
//! left a copy cut at the bound, the history is read in full, as if there were no copy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use store::{Sql, StoreError, Value};

/// How far back the monitoring rules look.
pub(crate) const WINDOW_MS: i64 = 30 * 86_400_000;
/// Accounts a payer's history lists by id at most; a customer with more is read through
/// a join on its accounts instead (and is not kept in memory).
const MAX_LISTED_ACCOUNTS: usize = 32;
/// Payers whose history a replica keeps (each at most twice `aml::MAX_HISTORY` rows of 32
/// bytes: 128 KiB, 32 MiB in all).
const MAX_PAYERS: usize = 256;
/// How much further back than its window a refreshed copy reaches (a payment decided
/// now may have arrived, and taken its time, before the refresh).
const KEEP_EARLIER_MS: i64 = 10 * 60_000;
/// Changed rows a refresh reads at most; more, and it reads the history in full.
const MAX_CHANGES: usize = 500;

/// A counterparty as a number the rules can compare (FNV-1a of its key).
pub(crate) fn counterparty(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One of the payer's accounts and where its history stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountVersion {
    id: String,
    version: i64,
    deletes: i64,
}

/// The accounts a payer's history covers: the customer's accounts listed by id with
/// their versions (each read from its (account, time) index in time order), or the
/// customer itself when it has too many to list.
pub(crate) enum Payer {
    Accounts {
        /// The customer's id, or the account's when it has no customer.
        key: String,
        accounts: Vec<AccountVersion>,
    },
    Customer(String),
}

/// The customer an account belongs to, as the rules need it: its id and country.
pub(crate) struct PayerCustomer {
    pub id: String,
    pub country: String,
}

impl Payer {
    /// The payer of `account_id` and its customer (if any), in one statement.
    pub(crate) fn of_account(
        sql: &mut dyn Sql,
        account_id: &str,
    ) -> Result<(Self, Option<PayerCustomer>), StoreError> {
        // The account's own row first: it names the customer.
        let rows = sql.query(
            "SELECT a.id, a.customer_id, a.history_version, a.history_deletes, c.country \
             FROM accounts a LEFT JOIN customers c ON c.id = a.customer_id \
             WHERE a.id = $1 OR a.customer_id = (SELECT customer_id FROM accounts WHERE id = $1) \
             ORDER BY CASE WHEN a.id = $1 THEN 0 ELSE 1 END, a.id LIMIT $2",
            &[
                account_id.into(),
                Value::Int(MAX_LISTED_ACCOUNTS as i64 + 1),
            ],
        )?;
        let customer = match rows.first() {
            Some(own) if own.text("id")? == account_id => own
                .opt_text("customer_id")?
                .map(|id| {
                    Ok::<_, StoreError>(PayerCustomer {
                        id: id.to_string(),
                        country: own.opt_text("country")?.unwrap_or_default().to_string(),
                    })
                })
                .transpose()?,
            _ => None,
        };
        let customer_id = customer.as_ref().map(|c| c.id.as_str());
        if rows.len() > MAX_LISTED_ACCOUNTS {
            let id = customer_id.unwrap_or(account_id).to_string();
            return Ok((Payer::Customer(id), customer));
        }
        let mut accounts = rows
            .iter()
            .map(|row| {
                Ok(AccountVersion {
                    id: row.text("id")?.to_string(),
                    version: row.i64("history_version")?,
                    deletes: row.i64("history_deletes")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        accounts.sort_by(|a, b| a.id.cmp(&b.id));
        if accounts.is_empty() {
            // No such account: no history, under versions no real account has.
            accounts.push(AccountVersion {
                id: account_id.to_string(),
                version: -1,
                deletes: -1,
            });
        }
        let key = match customer_id {
            Some(customer) => format!("customer:{customer}"),
            None => format!("account:{account_id}"),
        };
        Ok((Payer::Accounts { key, accounts }, customer))
    }

    /// A predicate on `{alias}.account_id` whose parameters start at `$first`, and them.
    fn predicate(&self, alias: &str, first: usize) -> (String, Vec<Value>) {
        match self {
            Payer::Accounts { accounts, .. } => {
                let placeholders: Vec<String> = (first..first + accounts.len())
                    .map(|i| format!("${i}"))
                    .collect();
                let params = accounts.iter().map(|a| a.id.as_str().into()).collect();
                (
                    format!("{alias}.account_id IN ({})", placeholders.join(", ")),
                    params,
                )
            }
            Payer::Customer(id) => (
                format!(
                    "{alias}.account_id IN (SELECT id FROM accounts WHERE customer_id = ${first})"
                ),
                vec![id.as_str().into()],
            ),
        }
    }
}

/// A payment of the history: EUR cents going out, msat coming in (converted at the rate
/// of the payment being judged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Past {
    /// The row's id, hashed: a changed row replaces the one kept.
    id: u64,
    at_ms: i64,
    amount: u64,
    counterparty: u64,
}

// What `MAX_PAYERS` bounds the memory by.
const _: () = assert!(std::mem::size_of::<Past>() == 32);

/// One direction of a payer's history, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Direction {
    rows: Vec<Past>,
    /// The read stopped at the bound: older rows in the window were left out.
    cut: bool,
}

impl Direction {
    /// Puts `row` in (or takes the row with its id out, when `row` no longer counts);
    /// false if the history can no longer be told from what is kept.
    fn apply(&mut self, id: u64, row: Option<Past>) -> bool {
        let before = self.rows.len();
        self.rows.retain(|r| r.id != id);
        let removed = self.rows.len() < before;
        if let Some(row) = row {
            let at = self.rows.partition_point(|r| r.at_ms > row.at_ms);
            self.rows.insert(at, row);
        } else if removed && self.cut {
            return false;
        }
        true
    }

    /// Keeps what is in the window, the newest `aml::MAX_HISTORY`.
    fn trim(&mut self, since_ms: i64) {
        let inside = self.rows.partition_point(|r| r.at_ms >= since_ms);
        if inside > aml::MAX_HISTORY {
            self.cut = true;
        }
        self.rows.truncate(inside.min(aml::MAX_HISTORY));
    }
}

/// A payer's history as of its accounts' versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct History {
    versions: Vec<AccountVersion>,
    /// The window's start when it was read: it serves no earlier start.
    since_ms: i64,
    sent: Direction,
    received: Direction,
}

impl History {
    /// Whether this copy is the history of `accounts` as they stand, for a window from
    /// `since_ms`.
    fn serves(&self, accounts: &[AccountVersion], since_ms: i64) -> bool {
        self.versions == accounts && self.since_ms <= since_ms
    }

    /// What the rules read: both directions newest first, in the window, at most
    /// `aml::MAX_HISTORY` of them, receipts at `rate`.
    pub(crate) fn past(&self, since_ms: i64, rate: &approvals::EurRate) -> Vec<aml::PastPayment> {
        let sent = self.sent.rows.iter().map(|r| aml::PastPayment {
            direction: aml::Direction::Out,
            eur_cents: r.amount,
            at_ms: r.at_ms,
            counterparty: r.counterparty,
        });
        let received = self.received.rows.iter().map(|r| aml::PastPayment {
            direction: aml::Direction::In,
            eur_cents: rate.eur_cents(r.amount),
            at_ms: r.at_ms,
            counterparty: 0,
        });
        let mut past: Vec<aml::PastPayment> = sent
            .chain(received)
            .filter(|p| p.at_ms >= since_ms)
            .collect();
        past.sort_by_key(|p| std::cmp::Reverse(p.at_ms));
        past.truncate(aml::MAX_HISTORY);
        past
    }
}

fn id_key(id: &str) -> u64 {
    counterparty(id)
}

/// The rows of both directions `predicate` selects, newest first in each, `limit` per
/// direction: `(outgoing, row)`, `row` none for one that no longer counts.
fn rows(
    sql: &mut dyn Sql,
    (payments, invoices): (&str, &str),
    params: &[Value],
) -> Result<Vec<(bool, u64, Option<Past>)>, StoreError> {
    // One statement per direction, each newest first from its own index (a union of the
    // two made SQLite sort what the index already orders).
    let mut found = sql.query(
        &format!(
            "SELECT 1 AS outgoing, p.id, \
             CASE WHEN p.status IN ('failed', 'rejected') THEN 0 ELSE 1 END AS counts, \
             COALESCE(p.eur_cents, 0) AS amount, p.created_at_ms AS at_ms, \
             p.destination AS counterparty FROM payments p WHERE {payments}"
        ),
        params,
    )?;
    found.extend(sql.query(
        &format!(
            "SELECT 0 AS outgoing, i.id, CASE WHEN i.status = 'paid' THEN 1 ELSE 0 END AS counts, \
             COALESCE(i.received_msat, i.amount_msat) AS amount, \
             COALESCE(i.paid_at_ms, 0) AS at_ms FROM invoices i WHERE {invoices}"
        ),
        params,
    )?);
    found
        .iter()
        .map(|row| {
            let outgoing = row.i64("outgoing")? == 1;
            let id = id_key(row.text("id")?);
            let past = if row.i64("counts")? == 1 {
                Some(Past {
                    id,
                    at_ms: row.i64("at_ms")?,
                    amount: row.u64("amount")?,
                    counterparty: match outgoing {
                        true => counterparty(row.text("counterparty")?),
                        false => 0,
                    },
                })
            } else {
                None
            };
            Ok((outgoing, id, past))
        })
        .collect()
}

/// The payer's history in the window, read in full.
pub(crate) fn read(sql: &mut dyn Sql, payer: &Payer, since_ms: i64) -> Result<History, StoreError> {
    let limit = aml::MAX_HISTORY;
    let (sent, listed) = payer.predicate("p", 3);
    let (received, _) = payer.predicate("i", 3);
    let mut params = vec![Value::Int(since_ms), Value::Int(limit as i64)];
    params.extend(listed);
    let found = rows(
        sql,
        (
            &format!(
                "{sent} AND p.created_at_ms >= $1 AND p.status NOT IN ('failed', 'rejected') \
                 ORDER BY p.created_at_ms DESC LIMIT $2"
            ),
            &format!(
                "{received} AND i.status = 'paid' AND i.paid_at_ms >= $1 \
                 ORDER BY i.paid_at_ms DESC LIMIT $2"
            ),
        ),
        &params,
    )?;
    let mut history = History {
        versions: match payer {
            Payer::Accounts { accounts, .. } => accounts.clone(),
            Payer::Customer(_) => Vec::new(),
        },
        since_ms,
        sent: Direction::default(),
        received: Direction::default(),
    };
    for (outgoing, _, past) in found {
        let direction = match outgoing {
            true => &mut history.sent,
            false => &mut history.received,
        };
        direction.rows.extend(past);
    }
    for direction in [&mut history.sent, &mut history.received] {
        // Each direction's rows arrive newest first; sorting again costs nothing then and
        // does not lean on how a union returns its parts.
        direction.rows.sort_by_key(|r| std::cmp::Reverse(r.at_ms));
        direction.cut = direction.rows.len() >= limit;
    }
    Ok(history)
}

/// The rows of `payer`'s accounts stamped after `kept`'s versions, applied to a copy of
/// it; none when only a full read can tell the history (too many changes, a delete,
/// another set of accounts, a row gone from a copy cut at the bound).
fn refreshed(
    sql: &mut dyn Sql,
    kept: &History,
    now: &[AccountVersion],
    since_ms: i64,
) -> Result<Option<History>, StoreError> {
    let same_accounts = kept.since_ms <= since_ms
        && kept.versions.len() == now.len()
        && kept
            .versions
            .iter()
            .zip(now)
            .all(|(k, n)| k.id == n.id && k.deletes == n.deletes && k.version <= n.version);
    if !same_accounts {
        return Ok(None);
    }
    let changed: Vec<(&AccountVersion, &AccountVersion)> = kept
        .versions
        .iter()
        .zip(now)
        .filter(|(k, n)| k.version < n.version)
        .collect();
    let mut history = kept.clone();
    history.versions = now.to_vec();
    history.since_ms = since_ms;
    if !changed.is_empty() {
        let clause = |alias: &str| {
            let each: Vec<String> = (0..changed.len())
                .map(|i| {
                    format!(
                        "({alias}.account_id = ${} AND {alias}.history_version > ${})",
                        2 * i + 2,
                        2 * i + 3
                    )
                })
                .collect();
            format!("({}) LIMIT $1", each.join(" OR "))
        };
        let mut params = vec![Value::Int(MAX_CHANGES as i64 + 1)];
        for (kept, _) in &changed {
            params.push(kept.id.as_str().into());
            params.push(Value::Int(kept.version));
        }
        let found = rows(sql, (&clause("p"), &clause("i")), &params)?;
        if found.len() > MAX_CHANGES {
            return Ok(None);
        }
        for (outgoing, id, past) in found {
            let direction = match outgoing {
                true => &mut history.sent,
                false => &mut history.received,
            };
            let past = past.filter(|p| p.at_ms >= since_ms);
            if !direction.apply(id, past) {
                return Ok(None);
            }
        }
    }
    history.sent.trim(since_ms);
    history.received.trim(since_ms);
    Ok(Some(history))
}

/// The histories this replica keeps, by payer.
#[derive(Default)]
pub(crate) struct HistoryCache {
    kept: Mutex<HashMap<String, Arc<History>>>,
}

impl HistoryCache {
    fn get(&self, key: &str) -> Option<Arc<History>> {
        self.kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    fn put(&self, key: &str, history: Arc<History>) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= MAX_PAYERS && !kept.contains_key(key) {
            // Any one goes: a payer not kept is read in full once, then kept again.
            if let Some(evicted) = kept.keys().next().cloned() {
                kept.remove(&evicted);
            }
        }
        kept.insert(key.to_string(), history);
    }

    /// Brings the payer's copy up to date from a read-only snapshot (`sql`), before the
    /// payment's transaction.
    pub(crate) fn refresh(
        &self,
        sql: &mut dyn Sql,
        account_id: &str,
        since_ms: i64,
    ) -> Result<(), StoreError> {
        // A payment's transaction judges by the time its request arrived, which may be
        // before this refresh: the copy reaches that far back, or it would never serve.
        let since_ms = since_ms.saturating_sub(KEEP_EARLIER_MS);
        let (payer, _) = Payer::of_account(sql, account_id)?;
        let Payer::Accounts { key, accounts } = &payer else {
            return Ok(());
        };
        let kept = self.get(key);
        if kept.as_ref().is_some_and(|k| k.serves(accounts, since_ms)) {
            return Ok(());
        }
        let history = match kept {
            Some(kept) => refreshed(sql, &kept, accounts, since_ms)?,
            None => None,
        };
        let history = match history {
            Some(history) => history,
            None => read(sql, &payer, since_ms)?,
        };
        self.put(key, Arc::new(history));
        Ok(())
    }

    /// The payer's history in the payment's transaction: the copy if its versions are the
    /// accounts' now; else the copy with the rows stamped after it read here, or a full
    /// read. Neither is kept: what a transaction reads may include its own writes.
    pub(crate) fn in_tx(
        &self,
        sql: &mut dyn Sql,
        payer: &Payer,
        since_ms: i64,
    ) -> Result<Arc<History>, StoreError> {
        if let Payer::Accounts { key, accounts } = payer {
            if let Some(kept) = self.get(key) {
                if kept.serves(accounts, since_ms) {
                    return Ok(kept);
                }
                if let Some(caught_up) = refreshed(sql, &kept, accounts, since_ms)? {
                    return Ok(Arc::new(caught_up));
                }
            }
        }
        Ok(Arc::new(read(sql, payer, since_ms)?))
    }
}

/// The payer's last payment before `since_ms`, in either direction (read only when the
/// window holds none: the dormancy rule takes the newest of the history first).
pub(crate) fn last_before(
    sql: &mut dyn Sql,
    payer: &Payer,
    since_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let (before, listed) = payer.predicate("p", 2);
    let mut params = vec![Value::Int(since_ms)];
    params.extend(listed);
    sql.query_one(
        &format!(
            "SELECT MAX(p.created_at_ms) AS last FROM payments p WHERE {before} \
             AND p.created_at_ms < $1"
        ),
        &params,
    )?
    .opt_i64("last")
}

#[cfg(test)]
#[path = "payer_history_tests.rs"]
mod tests;
