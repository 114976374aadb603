//! Invoices and payments as stored and as shown (API responses, webhook payloads).

use serde::Serialize;
use serde_json::Value;
use store::{Row, StoreError};

use kernel::rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum InvoiceStatus {
    Open,
    Paid,
    Expired,
    Canceled,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    AwaitingApproval,
    InFlight,
    // Shown, never stored: in flight on a node that left the pool (`stuck_since_ms`).
    Stuck,
    // Shown, never stored: pending or awaiting approval, and held by an open review alert
    // (compliance); nothing executes or settles it until every such alert is released.
    HeldForReview,
    Succeeded,
    Failed,
    Rejected,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok()
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            PaymentStatus::Succeeded | PaymentStatus::Failed | PaymentStatus::Rejected
        )
    }
}

/// SQL: a payment not yet final on the Lightning side (never sent, or sent and waiting).
pub(crate) const UNFINISHED: &str = "status IN ('pending', 'in_flight')";

/// Payments on `node` not yet final: while any is, the node's books cannot be compared
/// exactly nor its channels closed and booked.
pub(crate) fn unfinished_on(sql: &mut dyn store::Sql, node: &str) -> Result<u64, StoreError> {
    sql.query_one(
        &format!(
            "SELECT COUNT(*) AS unfinished FROM payments WHERE node_name = $1 AND {UNFINISHED}"
        ),
        &[node.into()],
    )?
    .u64("unfinished")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceRecord {
    pub id: String,
    pub tenant_id: String,
    pub account_id: String,
    pub node: String,
    pub payment_hash: String,
    pub bolt11: String,
    pub amount_msat: u64,
    pub description: String,
    pub status: InvoiceStatus,
    pub expires_at_ms: i64,
    pub received_msat: Option<u64>,
    pub paid_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

impl InvoiceRecord {
    pub const COLUMNS: &'static str =
        "id, tenant_id, account_id, node_name, payment_hash, bolt11, \
        amount_msat, description, status, expires_at_ms, received_msat, paid_at_ms, created_at_ms";

    pub fn from_row(row: &Row) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.text("id")?.to_string(),
            tenant_id: row.text("tenant_id")?.to_string(),
            account_id: row.text("account_id")?.to_string(),
            node: row.text("node_name")?.to_string(),
            payment_hash: row.text("payment_hash")?.to_string(),
            bolt11: row.text("bolt11")?.to_string(),
            amount_msat: row.u64("amount_msat")?,
            description: row.text("description")?.to_string(),
            status: row.parse("status")?,
            expires_at_ms: row.i64("expires_at_ms")?,
            received_msat: row.opt_u64("received_msat")?,
            paid_at_ms: row.opt_i64("paid_at_ms")?,
            created_at_ms: row.i64("created_at_ms")?,
        })
    }

    pub fn view(&self) -> InvoiceView {
        InvoiceView {
            id: self.id.clone(),
            account_id: self.account_id.clone(),
            bolt11: self.bolt11.clone(),
            payment_hash: self.payment_hash.clone(),
            amount_msat: self.amount_msat,
            description: self.description.clone(),
            status: self.status.as_str(),
            node: self.node.clone(),
            expires_at: rfc3339(self.expires_at_ms),
            received_msat: self.received_msat,
            paid_at: self.paid_at_ms.map(rfc3339),
            created_at: rfc3339(self.created_at_ms),
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.view()).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    pub id: String,
    pub tenant_id: String,
    pub account_id: String,
    pub bolt11: String,
    pub payment_hash: String,
    pub destination: String,
    pub amount_msat: u64,
    pub max_fee_msat: u64,
    pub fee_msat: Option<u64>,
    pub status: PaymentStatus,
    /// `lightning`, or `internal` when the invoice was one of ours.
    pub route: String,
    pub node: Option<String>,
    pub hold_id: Option<String>,
    pub preimage: Option<String>,
    pub failure_code: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// Since when its node has been out of the pool while it was in flight.
    pub stuck_since_ms: Option<i64>,
    pub stuck_reason: Option<String>,
}

impl PaymentRecord {
    /// The amount to tell the node: only for an invoice that leaves the amount to the payer.
    pub fn amount_override(&self) -> Option<u64> {
        node_pool::decode_invoice(&self.bolt11)
            .ok()
            .filter(|i| i.amount_msat.is_none())
            .map(|_| self.amount_msat)
    }

    pub const COLUMNS: &'static str =
        "id, tenant_id, account_id, bolt11, payment_hash, destination, \
        amount_msat, max_fee_msat, fee_msat, status, route, node_name, hold_id, preimage, \
        failure_code, failure_reason, created_at_ms, updated_at_ms, stuck_since_ms, stuck_reason";

    pub fn from_row(row: &Row) -> Result<Self, StoreError> {
        let text = |column: &str| row.opt_text(column).map(|v| v.map(str::to_string));
        Ok(Self {
            id: row.text("id")?.to_string(),
            tenant_id: row.text("tenant_id")?.to_string(),
            account_id: row.text("account_id")?.to_string(),
            bolt11: row.text("bolt11")?.to_string(),
            payment_hash: row.text("payment_hash")?.to_string(),
            destination: row.text("destination")?.to_string(),
            amount_msat: row.u64("amount_msat")?,
            max_fee_msat: row.u64("max_fee_msat")?,
            fee_msat: row.opt_u64("fee_msat")?,
            status: match (row.parse("status")?, row.opt_i64("stuck_since_ms")?) {
                (PaymentStatus::InFlight, Some(_)) => PaymentStatus::Stuck,
                (status, _) => status,
            },
            route: row.text("route")?.to_string(),
            node: text("node_name")?,
            hold_id: text("hold_id")?,
            preimage: text("preimage")?,
            failure_code: text("failure_code")?,
            failure_reason: text("failure_reason")?,
            created_at_ms: row.i64("created_at_ms")?,
            updated_at_ms: row.i64("updated_at_ms")?,
            stuck_since_ms: row.opt_i64("stuck_since_ms")?,
            stuck_reason: text("stuck_reason")?,
        })
    }

    pub fn view(&self) -> PaymentView {
        PaymentView {
            id: self.id.clone(),
            account_id: self.account_id.clone(),
            bolt11: self.bolt11.clone(),
            payment_hash: self.payment_hash.clone(),
            destination: self.destination.clone(),
            amount_msat: self.amount_msat,
            max_fee_msat: self.max_fee_msat,
            fee_msat: self.fee_msat,
            status: self.status.as_str(),
            route: self.route.clone(),
            node: self.node.clone(),
            preimage: self.preimage.clone(),
            failure: self.failure_code.as_ref().map(|code| FailureView {
                code: code.clone(),
                reason: self.failure_reason.clone().unwrap_or_default(),
            }),
            stuck: self.stuck_since_ms.map(|since| StuckView {
                since: rfc3339(since),
                reason: self.stuck_reason.clone().unwrap_or_default(),
            }),
            created_at: rfc3339(self.created_at_ms),
            updated_at: rfc3339(self.updated_at_ms),
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.view()).unwrap_or_default()
    }
}

/// An invoice as the API and webhooks show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvoiceView {
    pub id: String,
    pub account_id: String,
    pub bolt11: String,
    pub payment_hash: String,
    pub amount_msat: u64,
    pub description: String,
    /// `open`, `paid`, `expired` or `canceled`.
    pub status: &'static str,
    /// The node that issued it.
    pub node: String,
    pub expires_at: String,
    pub received_msat: Option<u64>,
    pub paid_at: Option<String>,
    pub created_at: String,
}

/// A payment as the API and webhooks show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentView {
    pub id: String,
    pub account_id: String,
    pub bolt11: String,
    pub payment_hash: String,
    /// The payee's node id.
    pub destination: String,
    pub amount_msat: u64,
    pub max_fee_msat: u64,
    /// Routing fee actually paid, once succeeded.
    pub fee_msat: Option<u64>,
    /// `pending`, `awaiting_approval`, `in_flight`, `stuck` (in flight on a node that left
    /// the pool: its funds stay held until the node reports or an operator decides),
    /// `succeeded`, `failed` or `rejected`.
    pub status: &'static str,
    /// `lightning`, or `internal` for one of our own invoices.
    pub route: String,
    pub node: Option<String>,
    /// Proof of payment (hex), once succeeded over Lightning.
    pub preimage: Option<String>,
    pub failure: Option<FailureView>,
    /// Why and since when the payment is stuck.
    pub stuck: Option<StuckView>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StuckView {
    pub since: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FailureView {
    pub code: String,
    pub reason: String,
}
