//! Cases and their suspicious activity reports, for compliance officers: the store's side
//! is `compliance::cases`; this file adds what only the gateway knows — the payments and
//! receipts the case's alerts are about — to build the report (`goaml::Report`, exported
//! as JSON or goAML XML) and freezes it when it is filed.

use compliance::cases::{self, CaseState};
use compliance::{customers, Case, CaseChange, ComplianceError, ReportRecord, ReportState};
use kernel::Actor;
use serde::Deserialize;
use store::Sql;

use crate::invoices::get_invoice;
use crate::payments::get_payment;
use crate::{Gateway, GatewayError};

/// Suspicious activity reports. Defaults: due 24 hours after a case's first detection
/// (the customer's rule), reporting entity 0 (set the FIU's id), the default lookup codes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportConfig {
    pub due_hours: u32,
    /// The reporting entity's id at the FIU (goAML `rentity_id`).
    pub rentity_id: u32,
    pub codes: goaml::Codes,
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self {
            due_hours: 24,
            rentity_id: 0,
            codes: goaml::Codes::default(),
        }
    }
}

impl ReportConfig {
    /// Refuses what would write an invalid goAML report or a clock nobody meets: due
    /// within 1 hour to 60 days (FinCEN's longest), codes present, countries ISO 3166
    /// alpha-2, the bitcoin code three capitals.
    pub fn check(&self) -> Result<(), String> {
        let c = &self.codes;
        let capitals =
            |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_uppercase());
        if !(1..=60 * 24).contains(&self.due_hours) {
            return Err(format!("due_hours = {}: from 1 to 1440", self.due_hours));
        }
        for (name, value) in [
            ("funds_code", &c.funds_code),
            ("transmode_code", &c.transmode_code),
            ("account_type_code", &c.account_type_code),
            ("account_status_code", &c.account_status_code),
        ] {
            if value.is_empty() || value.len() > 20 || value.chars().any(char::is_control) {
                return Err(format!("codes.{name}: 1 to 20 characters"));
            }
        }
        if c.institution_name.trim().is_empty() || c.institution_name.chars().count() > 255 {
            return Err("codes.institution_name: 1 to 255 characters".into());
        }
        if !capitals(&c.unknown_country, 2) {
            return Err("codes.unknown_country: two capitals (ISO 3166 alpha-2)".into());
        }
        if !capitals(&c.bitcoin_currency_code, 3) {
            return Err("codes.bitcoin_currency_code: three capitals".into());
        }
        Ok(())
    }
}

const MSAT_PER_BTC: u128 = 100_000_000_000;

/// `YYYY-MM-DDTHH:MM:SS` in UTC, as goAML writes times.
fn goaml_time(ms: i64) -> String {
    // RFC 3339 in UTC with milliseconds: its first 19 characters.
    kernel::rfc3339(ms).chars().take(19).collect()
}

/// The rate an alert's EUR value was computed at, from the value and the amount.
fn eur_cents_per_btc(eur_cents: u64, amount_msat: u64) -> u64 {
    if amount_msat == 0 {
        return 0;
    }
    let rate = u128::from(eur_cents) * MSAT_PER_BTC / u128::from(amount_msat);
    u64::try_from(rate).unwrap_or(u64::MAX)
}

/// The report of `case` as it stands (`reference` once filed).
fn build(
    sql: &mut dyn Sql,
    config: &ReportConfig,
    case: &Case,
    report: &ReportRecord,
    reference: Option<&str>,
    now_ms: i64,
) -> Result<goaml::Report, GatewayError> {
    let customer = match &case.customer_id {
        Some(id) => customers::get(sql, id)?,
        None => None,
    };
    let subject = goaml::Subject {
        customer_id: case.customer_id.clone(),
        name: customer
            .as_ref()
            .map_or_else(|| format!("tenant {}", case.tenant_id), |c| c.name.clone()),
        kind: customer
            .as_ref()
            .map_or("organization", |c| c.kind.as_str())
            .to_string(),
        country: customer.as_ref().map_or_else(
            || config.codes.unknown_country.clone(),
            |c| c.country.clone(),
        ),
        tenant_id: case.tenant_id.clone(),
    };
    let mut transactions: Vec<goaml::Transaction> = Vec::new();
    let mut indicators: Vec<String> = Vec::new();
    for alert in &case.alerts {
        if !indicators.contains(&alert.draft.rule) {
            indicators.push(alert.draft.rule.clone());
        }
        let finding = format!("{}: {}", alert.draft.rule, alert.draft.evidence);
        let number = alert.payment_id.as_ref().or(alert.invoice_id.as_ref());
        if let Some(t) = number.and_then(|n| transactions.iter_mut().find(|t| &t.number == n)) {
            t.description.push_str("; ");
            t.description.push_str(&finding);
            continue;
        }
        let (amount_msat, hash, node, at_ms) = match (&alert.payment_id, &alert.invoice_id) {
            (Some(id), _) => match get_payment(sql, id)? {
                Some(p) => (
                    p.amount_msat,
                    p.payment_hash,
                    Some(p.destination),
                    p.created_at_ms,
                ),
                None => continue,
            },
            (None, Some(id)) => match get_invoice(sql, id)? {
                Some(i) => (
                    i.received_msat.unwrap_or(i.amount_msat),
                    i.payment_hash,
                    None,
                    i.paid_at_ms.unwrap_or(i.created_at_ms),
                ),
                None => continue,
            },
            // A blocked attempt or an alert about the customer: no transaction.
            (None, None) => continue,
        };
        transactions.push(goaml::Transaction {
            number: number.cloned().unwrap_or_default(),
            date: goaml_time(at_ms),
            direction: match alert.draft.direction {
                Some(aml::Direction::In) => goaml::Direction::In,
                // A payment's alert has its direction; `Out` is never a guess here.
                Some(aml::Direction::Out) | None => goaml::Direction::Out,
            },
            amount_msat,
            amount_eur_cents: alert.draft.eur_cents,
            eur_cents_per_btc: eur_cents_per_btc(alert.draft.eur_cents, amount_msat),
            account_id: alert.draft.account_id.clone(),
            counterparty_node: node,
            payment_hash: hash,
            description: finding,
        });
    }
    let mut narrative = format!(
        "Case {} on {}: {} alert(s) from {} ({}).",
        case.id,
        subject.name,
        case.alerts.len(),
        goaml_time(case.detected_at_ms),
        indicators.join(", ")
    );
    // The officers' findings first: goAML cuts `reason` at 4,000 characters.
    for note in &case.notes {
        narrative.push_str(&format!(
            "\nFinding {} by {} at {}: {}",
            note.seq,
            note.author,
            goaml_time(note.created_at_ms),
            note.body
        ));
        if let Some(evidence) = &note.evidence {
            narrative.push_str(&format!(" (evidence: {evidence})"));
        }
    }
    for alert in &case.alerts {
        narrative.push_str(&format!(
            "\n- {} {} {} ({} EUR cents): {}",
            goaml_time(alert.created_at_ms),
            alert.draft.rule,
            alert
                .draft
                .direction
                .map_or("customer", aml::Direction::as_str),
            alert.draft.eur_cents,
            alert.draft.evidence
        ));
    }
    let held: Vec<String> = case
        .alerts
        .iter()
        .filter(|a| a.draft.decision == aml::Decision::Review)
        .map(|a| format!("{} {}", a.id, a.state.as_str()))
        .collect();
    let action = if held.is_empty() {
        "Payments refused by the monitoring rules.".to_string()
    } else {
        format!("Payments held for review; decisions: {}.", held.join(", "))
    };
    Ok(goaml::Report {
        entity_reference: report.id.clone(),
        rentity_id: config.rentity_id,
        report_code: if transactions.is_empty() {
            goaml::ReportCode::Sar
        } else {
            goaml::ReportCode::Str
        },
        fiu_ref_number: reference.map(str::to_string),
        submission_date: goaml_time(now_ms),
        currency_code_local: "EUR".into(),
        subject,
        narrative,
        action,
        transactions,
        indicators,
        codes: config.codes.clone(),
    })
}

/// The case (its row locked when `lock`: filing freezes what it reads) and its report's
/// record, or why not.
fn case_with_report(
    sql: &mut dyn Sql,
    case_id: &str,
    lock: bool,
) -> Result<(Case, ReportRecord), ComplianceError> {
    let case = if lock {
        cases::get_locked(sql, case_id)?
    } else {
        cases::get(sql, case_id)?.ok_or_else(|| ComplianceError::UnknownCase(case_id.into()))?
    };
    let record = case
        .report
        .clone()
        .ok_or_else(|| ComplianceError::NoReport(case_id.into()))?;
    Ok((case, record))
}

/// A report that does not serialize or parse back: the store's text is not ours.
fn frozen_error(e: serde_json::Error) -> GatewayError {
    GatewayError::Store(store::StoreError::Decode {
        column: "filed_report".into(),
        detail: e.to_string(),
    })
}

impl Gateway {
    /// Cases, newest first, optionally of one state or customer.
    pub async fn cases(
        &self,
        state: Option<CaseState>,
        customer_id: Option<String>,
        limit: u32,
    ) -> Result<Vec<Case>, GatewayError> {
        Ok(self
            .inner
            .store
            .read(move |sql| cases::list(sql, state, customer_id.as_deref(), limit))
            .await?)
    }

    pub async fn case(&self, id: &str) -> Result<Case, GatewayError> {
        let id = id.to_string();
        Ok(self
            .inner
            .store
            .read(move |sql| {
                cases::get(sql, &id)?.ok_or_else(|| ComplianceError::UnknownCase(id.clone()))
            })
            .await?)
    }

    /// Opens a case over alerts; the caller owns it.
    pub async fn open_case(
        &self,
        actor: &Actor,
        alert_ids: Vec<String>,
        customer_id: Option<String>,
    ) -> Result<Case, GatewayError> {
        let (actor, id, now) = (actor.clone(), self.new_id("case"), self.now_ms());
        Ok(self
            .inner
            .store
            .write(move |sql| {
                cases::open(sql, &actor, &id, &alert_ids, customer_id.as_deref(), now)
            })
            .await?)
    }

    pub async fn add_case_note(
        &self,
        actor: &Actor,
        case_id: &str,
        text: String,
        evidence: Option<String>,
    ) -> Result<Case, GatewayError> {
        let (actor, case_id, now) = (actor.clone(), case_id.to_string(), self.now_ms());
        Ok(self
            .inner
            .store
            .write(move |sql| {
                cases::add_note(sql, &actor, &case_id, &text, evidence.as_deref(), now)
            })
            .await?)
    }

    pub async fn change_case(
        &self,
        actor: &Actor,
        case_id: &str,
        change: CaseChange,
    ) -> Result<Case, GatewayError> {
        let (actor, case_id, now) = (actor.clone(), case_id.to_string(), self.now_ms());
        Ok(self
            .inner
            .store
            .write(move |sql| cases::change(sql, &actor, &case_id, &change, now))
            .await?)
    }

    /// Drafts the case's report (`true`), or answers the one it has (`false`).
    pub async fn draft_report(
        &self,
        actor: &Actor,
        case_id: &str,
    ) -> Result<(ReportRecord, bool), GatewayError> {
        let (actor, case_id, now) = (actor.clone(), case_id.to_string(), self.now_ms());
        let report_id = self.new_id("sar");
        let due_after_ms = i64::from(self.inner.config.reports.due_hours) * 3_600_000;
        Ok(self
            .inner
            .store
            .write(move |sql| {
                cases::draft_report(sql, &actor, &case_id, &report_id, due_after_ms, now)
            })
            .await?)
    }

    /// The case's report, its record and its content: as filed (frozen), or as the case
    /// stands now.
    pub async fn report(
        &self,
        case_id: &str,
    ) -> Result<(ReportRecord, goaml::Report), GatewayError> {
        let case_id = case_id.to_string();
        let (config, now) = (self.inner.config.reports.clone(), self.now_ms());
        self.inner
            .store
            .read(move |sql| {
                let (case, record) = case_with_report(sql, &case_id, false)?;
                let report = match (&record.state, &record.filed_report) {
                    (ReportState::Filed, Some(frozen)) => {
                        serde_json::from_str(frozen).map_err(frozen_error)?
                    }
                    _ => build(sql, &config, &case, &record, None, now)?,
                };
                Ok((record, report))
            })
            .await
    }

    /// Marks the case's report filed with the unit's reference; its content is frozen as
    /// filed and the case closes as reported.
    pub async fn file_report(
        &self,
        actor: &Actor,
        case_id: &str,
        reference: String,
    ) -> Result<ReportRecord, GatewayError> {
        let (actor, case_id, now) = (actor.clone(), case_id.to_string(), self.now_ms());
        let config = self.inner.config.reports.clone();
        self.inner
            .store
            .write(move |sql| {
                // Locked first: a finding or decision committed meanwhile is in what is
                // frozen as filed.
                let (case, record) = case_with_report(sql, &case_id, true)?;
                let report = build(sql, &config, &case, &record, Some(reference.trim()), now)?;
                let frozen = serde_json::to_string(&report).map_err(frozen_error)?;
                Ok(cases::file_report(
                    sql, &actor, &case_id, &reference, &frozen, now,
                )?)
            })
            .await
    }
}
