//! The canonical intent approvers sign: what would be paid, to whom, for which invoice (or
//! which operation on what subject), until when, and the vote. One line per field, fixed
//! order, no escaping needed (every field is an id, an address, a number or hex).

use serde::{Deserialize, Serialize};

use crate::Operation;

const DOMAIN: &str = "fulgur-approval-v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Vote {
    Approve,
    Reject,
}

impl Vote {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub payment_id: String,
    pub operation: Operation,
    pub amount_msat: u64,
    /// The destination node's pubkey.
    pub destination: String,
    /// The invoice's payment hash (empty for an operation that is not a payment).
    pub payment_hash: String,
    /// What an operation other than a payment acts on, e.g. `node_sweep:alpha` for the
    /// recovery of node alpha's funds (empty for a payment).
    #[serde(default)]
    pub subject: String,
    /// After this the approval request is void and the payment rejected.
    pub expires_at_ms: i64,
}

impl Intent {
    /// The bytes a vote signs.
    pub fn canonical(&self, vote: Vote) -> Vec<u8> {
        let operation = match self.operation {
            Operation::Payment => "payment",
            Operation::EmergencyRecovery => "emergency_recovery",
        };
        format!(
            "{DOMAIN}\nvote={}\npayment_id={}\noperation={operation}\namount_msat={}\n\
             destination={}\npayment_hash={}\nsubject={}\nexpires_at_ms={}\n",
            vote.as_str(),
            self.payment_id,
            self.amount_msat,
            self.destination,
            self.payment_hash,
            self.subject,
            self.expires_at_ms
        )
        .into_bytes()
    }
}
