//! Decoding a BOLT11 invoice without a node: what the gateway validates before it picks
//! a node to pay from.

use std::str::FromStr;

use ldk_node::bitcoin::hashes::Hash;
use ldk_node::bitcoin::Network;
use ldk_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef};

use crate::error::NodeError;
use crate::types::NodeId;

/// Longest invoice accepted; a BOLT11 string is bounded in practice well below this.
const MAX_BOLT11_CHARS: usize = 7_089;

/// The fields of a BOLT11 invoice a payer decides on. Its signature has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedInvoice {
    pub payment_hash: String,
    /// `None` for an invoice that lets the payer choose the amount.
    pub amount_msat: Option<u64>,
    /// The payee's node id.
    pub payee: NodeId,
    pub network: Network,
    pub created_at_unix_secs: u64,
    pub expires_at_unix_secs: u64,
    pub description: Option<String>,
}

pub fn decode_invoice(bolt11: &str) -> Result<DecodedInvoice, NodeError> {
    let bolt11 = bolt11.trim();
    if bolt11.len() > MAX_BOLT11_CHARS {
        return Err(NodeError::InvalidInvoice(format!(
            "longer than {MAX_BOLT11_CHARS} characters"
        )));
    }
    let invoice =
        Bolt11Invoice::from_str(bolt11).map_err(|e| NodeError::InvalidInvoice(e.to_string()))?;
    let created = invoice.duration_since_epoch().as_secs();
    let description = match invoice.description() {
        Bolt11InvoiceDescriptionRef::Direct(d) => Some(d.to_string()),
        Bolt11InvoiceDescriptionRef::Hash(_) => None,
    };
    Ok(DecodedInvoice {
        payment_hash: crate::ldk::hex32(invoice.payment_hash().as_byte_array()),
        amount_msat: invoice.amount_milli_satoshis(),
        payee: invoice.get_payee_pub_key().to_string(),
        network: invoice.network(),
        created_at_unix_secs: created,
        expires_at_unix_secs: created.saturating_add(invoice.expiry_time().as_secs()),
        description,
    })
}
