//! `outbox`: events for webhooks and other consumers, written in the same transaction as
//! the state change they announce, so that one never exists without the other. The
//! `outbox` table is this crate's; consumers (webhooks) read it by sequence.
//!
//! Must not know: who consumes the events, HTTP, the payment domain's types (an event's
//! data is the caller's JSON).

use kernel::rfc3339;
use serde_json::{json, Value};
use store::{Sql, StoreError};

/// Every event type Fulgur emits. Consumers (webhook subscriptions) validate against
/// it; `emit` refuses anything else in debug builds.
pub const EVENT_TYPES: &[&str] = &[
    "invoice.created",
    "invoice.paid",
    "invoice.expired",
    "invoice.canceled",
    "payment.created",
    "payment.succeeded",
    "payment.failed",
    "payment.rejected",
];

/// Appends event `event_id` of `event_type` for `tenant_id` in the caller's transaction.
pub fn emit(
    sql: &mut dyn Sql,
    event_id: &str,
    tenant_id: &str,
    event_type: &str,
    data: Value,
    now_ms: i64,
) -> Result<(), StoreError> {
    debug_assert!(
        EVENT_TYPES.contains(&event_type),
        "{event_type} is not in EVENT_TYPES"
    );
    let payload = json!({
        "id": event_id,
        "type": event_type,
        "created_at": rfc3339(now_ms),
        "data": data,
    });
    sql.execute_pipelined(
        "INSERT INTO outbox (id, tenant_id, event_type, payload, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            event_id.into(),
            tenant_id.into(),
            event_type.into(),
            payload.to_string().into(),
            store::Value::Int(now_ms),
        ],
    )?;
    Ok(())
}
