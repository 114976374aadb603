//! The internal watchlist: names, node public keys and on-chain addresses the institution
//! screens against besides the public lists (a fraud ring's node, a customer's ex-partner
//! under investigation). Values are checked and stored canonical; each change is audited.

use audit::AuditAction;
use kernel::Actor;
use serde::Serialize;
use store::{Row, Sql, StoreError};

use crate::error::invalid;
use crate::ComplianceError;

/// The list name hits on the watchlist carry.
pub const INTERNAL_LIST: &str = "internal";
/// Items kept active at most; the watchlist is a short list of the institution's own.
pub const MAX_WATCH_ITEMS: u32 = 100_000;
const MAX_NAME_CHARS: usize = 200;
const MAX_REASON_CHARS: usize = 500;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum WatchKind {
    Name,
    NodePubkey,
    Address,
}

impl WatchKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone)]
pub struct NewWatchItem {
    pub kind: WatchKind,
    pub value: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WatchItem {
    pub id: String,
    pub kind: WatchKind,
    pub value: String,
    pub reason: String,
    pub created_at_ms: i64,
    pub created_by: String,
}

impl Serialize for WatchKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A node public key in lowercase hex, if `value` is a valid compressed secp256k1 key.
pub fn node_pubkey(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.len() != 66 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("66 hexadecimal characters (a compressed public key)".into());
    }
    value
        .parse::<bitcoin::secp256k1::PublicKey>()
        .map(|k| k.to_string())
        .map_err(|_| "not a point on secp256k1".into())
}

/// The value as stored, or why it is refused.
pub fn canonical(
    kind: WatchKind,
    value: &str,
    network: bitcoin::Network,
) -> Result<String, ComplianceError> {
    match kind {
        WatchKind::Name => {
            let name = value.trim();
            if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
                return Err(invalid(
                    "value",
                    format!(
                        "a name of at most {MAX_NAME_CHARS} characters, without control characters"
                    ),
                ));
            }
            if screening::normalize(name).is_empty() {
                return Err(invalid("value", "a name with at least one letter or digit"));
            }
            Ok(name.to_string())
        }
        WatchKind::NodePubkey => node_pubkey(value).map_err(|reason| invalid("value", reason)),
        WatchKind::Address => {
            screening::bitcoin_address(value, network).map_err(|reason| invalid("value", reason))
        }
    }
}

fn decode(row: &Row) -> Result<WatchItem, StoreError> {
    Ok(WatchItem {
        id: row.text("id")?.to_string(),
        kind: row.parse("kind")?,
        value: row.text("value")?.to_string(),
        reason: row.text("reason")?.to_string(),
        created_at_ms: row.i64("created_at_ms")?,
        created_by: row.text("created_by")?.to_string(),
    })
}

/// Adds an item (audited as `watchlist.add`); an active item of the same kind and value
/// is refused.
pub fn add(
    sql: &mut dyn Sql,
    actor: &Actor,
    now_ms: i64,
    id: &str,
    kind: WatchKind,
    value: &str,
    reason: &str,
) -> Result<WatchItem, ComplianceError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(invalid(
            "reason",
            format!("1 to {MAX_REASON_CHARS} characters"),
        ));
    }
    let active = sql
        .query_one(
            "SELECT COUNT(*) AS n FROM watchlist_items WHERE removed_at_ms IS NULL",
            &[],
        )?
        .u64("n")?;
    if active >= u64::from(MAX_WATCH_ITEMS) {
        return Err(invalid(
            "value",
            format!("the watchlist holds {MAX_WATCH_ITEMS} items, its most"),
        ));
    }
    let inserted = sql.execute(
        "INSERT INTO watchlist_items (id, kind, value, reason, created_at_ms, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            id.into(),
            kind.as_str().into(),
            value.into(),
            reason.into(),
            now_ms.into(),
            actor.origin.actor_id.as_str().into(),
        ],
    );
    match inserted {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ComplianceError::AlreadyWatched(format!(
                "{} {value}",
                kind.as_str()
            )))
        }
        Err(e) => return Err(e.into()),
    }
    actor.audit(
        sql,
        now_ms,
        None,
        "watchlist.add",
        &format!("watchlist:{id}"),
        Some(kind.as_str().to_string()),
    )?;
    Ok(WatchItem {
        id: id.to_string(),
        kind,
        value: value.to_string(),
        reason: reason.to_string(),
        created_at_ms: now_ms,
        created_by: actor.origin.actor_id.clone(),
    })
}

/// Takes an item off the watchlist (audited as `watchlist.remove`); the row stays.
pub fn remove(
    sql: &mut dyn Sql,
    actor: &Actor,
    now_ms: i64,
    id: &str,
) -> Result<(), ComplianceError> {
    let changed = sql.execute(
        "UPDATE watchlist_items SET removed_at_ms = $1 WHERE id = $2 AND removed_at_ms IS NULL",
        &[now_ms.into(), id.into()],
    )?;
    if changed == 0 {
        return Err(ComplianceError::UnknownWatchItem(id.to_string()));
    }
    actor.audit(
        sql,
        now_ms,
        None,
        "watchlist.remove",
        &format!("watchlist:{id}"),
        None,
    )?;
    Ok(())
}

/// The active items, oldest first (at most [`MAX_WATCH_ITEMS`]).
pub fn active(sql: &mut dyn Sql) -> Result<Vec<WatchItem>, StoreError> {
    sql.query(
        "SELECT id, kind, value, reason, created_at_ms, created_by FROM watchlist_items \
         WHERE removed_at_ms IS NULL ORDER BY created_at_ms, id LIMIT $1",
        &[MAX_WATCH_ITEMS.into()],
    )?
    .iter()
    .map(decode)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";

    #[test]
    fn values_are_checked_and_canonical() {
        let net = bitcoin::Network::Regtest;
        assert_eq!(
            canonical(WatchKind::NodePubkey, &KEY.to_uppercase(), net).ok(),
            Some(KEY.to_string())
        );
        // Right length, not on the curve.
        let off_curve = format!("05{}", &KEY[2..]);
        assert!(canonical(WatchKind::NodePubkey, &off_curve, net).is_err());
        assert!(canonical(WatchKind::NodePubkey, "02abc", net).is_err());
        // A mainnet address is not a regtest one.
        assert!(canonical(
            WatchKind::Address,
            "12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h",
            net
        )
        .is_err());
        assert_eq!(
            canonical(
                WatchKind::Address,
                "BCRT1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KYGT080",
                net
            )
            .ok(),
            Some("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080".to_string())
        );
        assert!(canonical(WatchKind::Name, "  ---  ", net).is_err());
        assert!(canonical(WatchKind::Name, "Mallory\u{0}Evil", net).is_err());
        assert!(canonical(WatchKind::Name, &"x".repeat(201), net).is_err());
        assert_eq!(
            canonical(WatchKind::Name, " Mallory Evil ", net).ok(),
            Some("Mallory Evil".to_string())
        );
    }
}
