//! `goaml`: a suspicious transaction report as one model, rendered as JSON (serde) and as
//! goAML XML, the UNODC schema most EU financial intelligence units take. Pure: no store,
//! no clock; the caller gives every value, dates included.
//!
//! The XML is goAML's transaction-based `report` (report code `STR` or `SAR`): the
//! reporting entity, the narrative (`reason`) and what was done (`action`), one
//! `transaction` per payment with our client's account on one side and the Lightning
//! counterparty on the other, and the indicators. `schema/goaml-str.xsd` is the part of
//! goAML 5's schema this crate writes (FIUs hand the full schema to registered reporting
//! entities; no registry carries it); the tests validate every rendering against it with
//! an outside validator. Lookup codes (funds, transmission mode) differ per FIU and come
//! from the caller's configuration ([`Codes`]).

mod external;
mod xml;

pub use crate::external::{validate_with_xmlschema, SCHEMA};

use serde::{Deserialize, Serialize};

/// Longest text goAML takes in `reason`, `action` and a description; longer text is cut
/// in the XML (the JSON keeps it whole) with a pointer to the JSON report.
pub const MAX_TEXT_CHARS: usize = 4_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ReportCode {
    /// Suspicious transaction report: the report is about transactions.
    Str,
    /// Suspicious activity report: about activity (attempts included).
    Sar,
}

impl ReportCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportCode::Str => "STR",
            ReportCode::Sar => "SAR",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Our client received it.
    In,
    /// Our client sent it.
    Out,
}

/// The FIU's lookup codes and the names goAML needs that Lightning has no value for.
/// Defaults: funds `K` (other), transmission `E` (electronic), bitcoin `XBT`, account
/// type `B` (business), status `A` (active), counterparty country `ZZ` (unknown), our
/// name `Fulgur`; set them to the FIU's tables in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Codes {
    /// `from_funds_code` / `to_funds_code` (the FIU's "funds type" table).
    pub funds_code: String,
    /// `transmode_code` (the FIU's "conduction type" table).
    pub transmode_code: String,
    /// The code the FIU uses for bitcoin in `foreign_currency_code` (no ISO 4217 code).
    pub bitcoin_currency_code: String,
    /// `personal_account_type` of our client's account.
    pub account_type_code: String,
    /// `status_code` of our client's account.
    pub account_status_code: String,
    /// The country of a Lightning counterparty (a node has none).
    pub unknown_country: String,
    /// Our own institution's name, on our client's side.
    pub institution_name: String,
}

impl Default for Codes {
    fn default() -> Self {
        Self {
            funds_code: "K".into(),
            transmode_code: "E".into(),
            bitcoin_currency_code: "XBT".into(),
            account_type_code: "B".into(),
            account_status_code: "A".into(),
            unknown_country: "ZZ".into(),
            institution_name: "Fulgur".into(),
        }
    }
}

/// Whom the report is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub customer_id: Option<String>,
    pub name: String,
    /// `person` or `organization`.
    pub kind: String,
    /// ISO 3166 alpha-2.
    pub country: String,
    pub tenant_id: String,
}

/// One payment in or out of our client's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The payment's or the invoice's id.
    pub number: String,
    /// `YYYY-MM-DDTHH:MM:SS` (UTC).
    pub date: String,
    pub direction: Direction,
    pub amount_msat: u64,
    pub amount_eur_cents: u64,
    /// The rate the EUR value was computed at.
    pub eur_cents_per_btc: u64,
    /// Our client's account.
    pub account_id: String,
    /// The Lightning node on the other side (its public key), when known.
    pub counterparty_node: Option<String>,
    pub payment_hash: String,
    /// What the monitoring rules found on it.
    pub description: String,
}

/// A report, complete: what the JSON export is, and what the XML renders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Our id for the report (`entity_reference`).
    pub entity_reference: String,
    /// The reporting entity's id at the FIU (`rentity_id`).
    pub rentity_id: u32,
    pub report_code: ReportCode,
    /// The FIU's reference, once filed.
    pub fiu_ref_number: Option<String>,
    /// `YYYY-MM-DDTHH:MM:SS` (UTC).
    pub submission_date: String,
    pub currency_code_local: String,
    pub subject: Subject,
    /// Why this is suspicious (`reason`).
    pub narrative: String,
    /// What was done (`action`).
    pub action: String,
    pub transactions: Vec<Transaction>,
    /// The rules that fired (`report_indicators`).
    pub indicators: Vec<String>,
    pub codes: Codes,
}

impl Report {
    /// The report as goAML XML (UTF-8, one document).
    pub fn to_goaml_xml(&self) -> String {
        xml::render(self)
    }
}

/// `12345` cents as `123.45`.
pub fn decimal_cents(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// `amount_msat` in bitcoin with every digit (11 decimals: 1 BTC = 10^11 msat).
pub fn decimal_btc(amount_msat: u64) -> String {
    const MSAT_PER_BTC: u64 = 100_000_000_000;
    format!(
        "{}.{:011}",
        amount_msat / MSAT_PER_BTC,
        amount_msat % MSAT_PER_BTC
    )
}
