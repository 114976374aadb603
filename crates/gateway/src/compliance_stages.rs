//! The pipeline's stages over `compliance`. In the compliance slot, the payee's node is
//! screened against the lists in force and the watchlist before anything is recorded: a
//! hit refuses the payment (`compliance_blocked`, a sentence that does not say why) and
//! leaves its evidence in a platform-only audit record, which a tenant's credential never
//! reads. In the limits slot, the account's customer (if any) must be verified and stay
//! within its EUR limits over all its accounts, checked with the customer's row locked.
//! Then the monitoring rules (`aml`) judge the payment against the payer's last 30 days
//! (the customer's accounts, or the account), read in the same transaction: a review
//! holds the payment with its alerts, a block refuses it (the alert is kept).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use compliance::{ComplianceError, Screening};
use kernel::Clock;
use store::{Sql, Store, Value};

use crate::payer_history::{self, HistoryCache, Payer};
use crate::pipeline::{PaymentDraft, Stage, Verdict};
use crate::GatewayError;

pub(crate) struct SanctionsStage {
    pub screening: Screening,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl Stage for SanctionsStage {
    fn name(&self) -> &'static str {
        "sanctions"
    }

    async fn check(&self, draft: &PaymentDraft) -> Result<Verdict, GatewayError> {
        let hits = self.screening.screen_node(&draft.invoice.payee)?;
        if hits.is_empty() {
            return self.screen_beneficiary(draft);
        }
        let evidence: Vec<String> = hits.iter().map(ToString::to_string).collect();
        tracing::warn!(
            account = %draft.account.id,
            payee = %draft.invoice.payee,
            hits = %evidence.join(","),
            "payment blocked by sanctions screening"
        );
        let entry = audit::Entry {
            at_ms: self.clock.now_ms(),
            origin: kernel::Origin {
                actor_id: draft.initiator.clone(),
                subject: draft.initiator_person.clone(),
                request_id: format!("screening-{}", draft.invoice.payment_hash),
                source_ip: None,
            },
            // Platform-only: the payer's tenant must not learn why.
            tenant_id: None,
            action: "payment.compliance_block".to_string(),
            target: Some(format!("account:{}", draft.account.id)),
            outcome: audit::Outcome::Denied,
            details: Some(format!(
                "payee {} on {}",
                draft.invoice.payee,
                evidence.join(", ")
            )),
        };
        self.store
            .write(move |sql| audit::append(sql, &entry).map(|_| ()))
            .await?;
        Err(ComplianceError::Blocked.into())
    }
}

/// The rate an alert's EUR value was computed at, as alerts record it.
fn rate_text(rate: &approvals::EurRate) -> String {
    format!(
        "{} EUR cents per BTC ({})",
        rate.eur_cents_per_btc, rate.source
    )
}

/// Whose name is screened with a payment: the beneficiary an outgoing payment names, or
/// the payer an invoice expects.
struct NamedParty<'a> {
    role: &'static str,
    query: &'a compliance::Query,
    tenant_id: &'a str,
    account_id: &'a str,
    direction: aml::Direction,
    eur_cents: u64,
    rate: &'a approvals::EurRate,
}

/// A party's name against the lists and the watchlist. A fuzzy match is not proof, so it
/// is a review (one `sanctions_match` alert with every hit), never a refusal.
fn screen_party(
    screening: &Screening,
    party: &NamedParty<'_>,
) -> Result<Option<compliance::AlertDraft>, GatewayError> {
    let hits = screening
        .screen_names(std::slice::from_ref(party.query), None)?
        .pop()
        .unwrap_or_default();
    let Some(best) = hits.first() else {
        return Ok(None);
    };
    let evidence: Vec<String> = hits
        .iter()
        .map(|h| {
            let version = h
                .list_version
                .map_or_else(String::new, |v| format!(" v{v}"));
            format!(
                "{}{version} entry {} {:?} at {:.3} ({})",
                h.list, h.entry_id, h.matched_name, h.score, h.explanation
            )
        })
        .collect();
    Ok(Some(compliance::AlertDraft {
        tenant_id: party.tenant_id.to_string(),
        account_id: party.account_id.to_string(),
        customer_id: None,
        direction: Some(party.direction),
        rule: compliance::rescreen::SANCTIONS_MATCH.to_string(),
        rule_version: 1,
        decision: aml::Decision::Review,
        score: best.score,
        evidence: format!(
            "{} {:?}: {}",
            party.role,
            party.query.name,
            evidence.join("; ")
        ),
        eur_cents: party.eur_cents,
        eur_rate: rate_text(party.rate),
    }))
}

impl SanctionsStage {
    fn screen_beneficiary(&self, draft: &PaymentDraft) -> Result<Verdict, GatewayError> {
        let Some(query) = &draft.beneficiary else {
            return Ok(Verdict::Allow);
        };
        let party = NamedParty {
            role: "beneficiary",
            query,
            tenant_id: &draft.account.tenant_id,
            account_id: &draft.account.id,
            direction: aml::Direction::Out,
            eur_cents: draft.eur_cents,
            rate: &draft.rate,
        };
        Ok(match screen_party(&self.screening, &party)? {
            Some(alert) => Verdict::Review {
                alerts: vec![alert],
            },
            None => Verdict::Allow,
        })
    }
}

/// The payer an invoice expects, as stored with it.
fn expected_payer(
    sql: &mut dyn Sql,
    invoice_id: &str,
) -> Result<Option<compliance::Query>, GatewayError> {
    let Some(row) = sql.query_opt(
        "SELECT payer_name, payer_kind, payer_country, payer_birth_year FROM invoices \
         WHERE id = $1",
        &[invoice_id.into()],
    )?
    else {
        return Ok(None);
    };
    let Some(name) = row.opt_text("payer_name")? else {
        return Ok(None);
    };
    Ok(Some(compliance::Query {
        name: name.to_string(),
        kind: row
            .opt_text("payer_kind")?
            .and_then(|k| k.parse().ok())
            .unwrap_or_default(),
        country: row.opt_text("payer_country")?.map(str::to_string),
        birth_year: row
            .opt_i64("payer_birth_year")?
            .and_then(|y| u16::try_from(y).ok()),
    }))
}

pub(crate) struct CustomerStage;

#[async_trait]
impl Stage for CustomerStage {
    fn name(&self) -> &'static str {
        "customer_limits"
    }

    fn in_tx(
        &self,
        sql: &mut dyn Sql,
        draft: &PaymentDraft,
        now_ms: i64,
    ) -> Result<Verdict, GatewayError> {
        compliance::check_payment(
            sql,
            &draft.account.id,
            draft.eur_cents,
            now_ms,
            |sql, customer_id, [day_ms, month_ms, year_ms]| {
                // What the customer's accounts sent or hold for sending since each start,
                // in one pass over their days' sums (each window starts at a UTC
                // midnight); the payment being recorded is not in the table yet.
                debug_assert!([day_ms, month_ms, year_ms]
                    .iter()
                    .all(|start| start.rem_euclid(86_400_000) == 0));
                let since = |column: &str, param: &str| {
                    format!(
                        "CAST(COALESCE(SUM(CASE WHEN s.day_start_ms >= {param} \
                         THEN s.eur_cents ELSE 0 END), 0) AS BIGINT) AS {column}"
                    )
                };
                let row = sql.query_one(
                    &format!(
                        "SELECT {}, {}, {} FROM payment_spend_days s \
                         JOIN accounts a ON a.id = s.account_id \
                         WHERE a.customer_id = $4 AND s.day_start_ms >= $5",
                        since("day", "$1"),
                        since("month", "$2"),
                        since("year", "$3"),
                    ),
                    &[
                        Value::Int(day_ms),
                        Value::Int(month_ms),
                        Value::Int(year_ms),
                        customer_id.into(),
                        Value::Int(day_ms.min(month_ms).min(year_ms)),
                    ],
                )?;
                let sum = |column: &str| -> Result<u64, GatewayError> {
                    Ok(u64::try_from(row.i64(column)?).unwrap_or(0))
                };
                Ok::<_, GatewayError>([sum("day")?, sum("month")?, sum("year")?])
            },
        )?;
        Ok(Verdict::Allow)
    }
}

/// The monitoring rules and the jurisdiction lists they read, shared by the outgoing and
/// the inbound stage.
pub(crate) struct Monitor {
    /// The store's version in force as last read (none before the first payment), so
    /// a replica never judges by a configured set that happens to share its number.
    loaded: std::sync::RwLock<Option<(i64, Arc<aml::RuleSet>)>>,
    /// What applies while the store has no version (before `Gateway::start` seeds it).
    configured: Arc<aml::RuleSet>,
    jurisdictions: compliance::risk::Jurisdictions,
    /// The payers' histories this replica keeps.
    histories: HistoryCache,
}

pub(crate) struct MonitoringStage {
    pub monitor: Arc<Monitor>,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// The accounts whose payer's history is being refreshed now.
    pub refreshing: Arc<Mutex<HashSet<String>>>,
}

/// Refreshes of payers' histories a replica runs at once at most.
const MAX_REFRESHES: usize = 4;

impl Monitor {
    pub fn new(configured: aml::RuleSet, jurisdictions: compliance::risk::Jurisdictions) -> Self {
        Self {
            loaded: std::sync::RwLock::new(None),
            configured: Arc::new(configured),
            jurisdictions,
            histories: HistoryCache::default(),
        }
    }

    /// The rule set in force in this transaction: its number is read every time (another
    /// replica may have put a new version in force), its body only when the number moved.
    fn rules(&self, sql: &mut dyn Sql) -> Result<Arc<aml::RuleSet>, GatewayError> {
        let Some(number) = compliance::rule_sets::active_version(sql)? else {
            return Ok(Arc::clone(&self.configured));
        };
        let cached = self
            .loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some((version, rules)) = cached.filter(|(version, _)| *version == number) {
            debug_assert_eq!(version, i64::from(rules.version));
            return Ok(rules);
        }
        let loaded = compliance::rule_sets::version(sql, number)?
            .ok_or(ComplianceError::UnknownRuleSet(number))?;
        let loaded = Arc::new(loaded.rules);
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) =
            Some((number, Arc::clone(&loaded)));
        Ok(loaded)
    }

    /// The findings on a payment in `direction` for `account_id` as alerts to record,
    /// most severe first.
    fn judge(
        &self,
        sql: &mut dyn Sql,
        (tenant_id, account_id): (&str, &str),
        direction: aml::Direction,
        (eur_cents, rate): (u64, &approvals::EurRate),
        payee: Option<&str>,
        now_ms: i64,
    ) -> Result<Vec<compliance::AlertDraft>, GatewayError> {
        let rules = self.rules(sql)?;
        let jurisdictions = &self.jurisdictions;
        let (payer, customer) = Payer::of_account(sql, account_id)?;
        let (customer_id, country) = match customer {
            Some(c) => (Some(c.id), c.country),
            None => (None, String::new()),
        };
        let since_ms = now_ms.saturating_sub(payer_history::WINDOW_MS);
        let history = self
            .histories
            .in_tx(sql, &payer, since_ms)?
            .past(since_ms, rate);
        let last_activity_at_ms = match history.is_empty() {
            true => payer_history::last_before(sql, &payer, since_ms)?,
            false => None,
        };
        let facts = aml::PaymentFacts {
            direction,
            eur_cents,
            at_ms: now_ms,
            counterparty: payee.map_or(0, payer_history::counterparty),
            day_start_ms: now_ms - now_ms.rem_euclid(86_400_000),
            last_activity_at_ms,
            high_risk_jurisdiction: !country.is_empty() && jurisdictions.is_high_risk(&country),
        };
        let eur_rate = rate_text(rate);
        let alerts = aml::evaluate(&rules, &facts, &history)
            .into_iter()
            .map(|f| compliance::AlertDraft {
                tenant_id: tenant_id.to_string(),
                account_id: account_id.to_string(),
                customer_id: customer_id.clone(),
                direction: Some(direction),
                rule: f.rule.to_string(),
                rule_version: rules.version,
                decision: f.decision,
                score: f.score,
                evidence: f.evidence,
                eur_cents,
                eur_rate: eur_rate.clone(),
            })
            .collect();
        Ok(alerts)
    }
}

#[async_trait]
impl Stage for MonitoringStage {
    fn name(&self) -> &'static str {
        "monitoring"
    }

    /// Brings this replica's copy of the payer's history up to date from a snapshot, off
    /// this payment's path, so that the next payment's transaction usually reads only the
    /// accounts' versions. At most [`MAX_REFRESHES`] run at once, one per account (while
    /// one runs, a burst of payments from the account would only make its copy stale
    /// again); a payer whose copy is not refreshed is read in full by its next payment.
    fn committed(&self, account_id: &str) {
        let running = Arc::clone(&self.refreshing);
        {
            let mut running = running.lock().unwrap_or_else(|e| e.into_inner());
            if running.len() >= MAX_REFRESHES || !running.insert(account_id.to_string()) {
                return;
            }
        }
        let since_ms = self.clock.now_ms().saturating_sub(payer_history::WINDOW_MS);
        let done = account_id.to_string();
        let (monitor, store, account_id) = (
            Arc::clone(&self.monitor),
            self.store.clone(),
            account_id.to_string(),
        );
        tokio::spawn(async move {
            let refreshed = store
                .read(move |sql| monitor.histories.refresh(sql, &account_id, since_ms))
                .await;
            running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&done);
            if let Err(e) = refreshed {
                tracing::warn!(error = %e, "payer history not refreshed; the next payment reads it in full");
            }
        });
    }

    fn in_tx(
        &self,
        sql: &mut dyn Sql,
        draft: &PaymentDraft,
        now_ms: i64,
    ) -> Result<Verdict, GatewayError> {
        let mut alerts = self.monitor.judge(
            sql,
            (&draft.account.tenant_id, &draft.account.id),
            aml::Direction::Out,
            (draft.eur_cents, &draft.rate),
            Some(&draft.invoice.payee),
            now_ms,
        )?;
        if alerts.is_empty() {
            return Ok(Verdict::Allow);
        }
        // Most severe first: a block refuses the payment; its alert is kept apart.
        if alerts[0].decision == aml::Decision::Block {
            return Err(ComplianceError::BlockedBy(Box::new(alerts.swap_remove(0))).into());
        }
        Ok(Verdict::Review { alerts })
    }
}

/// The monitoring rules on received payments, in the receipt's transaction. Money that
/// arrived cannot be refused: whatever a rule decides, a finding holds the receipt in
/// suspense for a compliance review.
pub(crate) struct InboundMonitoringStage {
    pub monitor: Arc<Monitor>,
    pub eur_rate: controls::EurRateConfig,
    /// The payer the invoice expects is screened by name.
    pub screening: Screening,
}

impl crate::InboundStage for InboundMonitoringStage {
    fn name(&self) -> &'static str {
        "monitoring"
    }

    fn in_tx(
        &self,
        sql: &mut dyn Sql,
        receipt: &crate::Receipt,
        now_ms: i64,
    ) -> Result<crate::InboundVerdict, GatewayError> {
        let rate = approvals::EurRate {
            eur_cents_per_btc: self.eur_rate.eur_cents_per_btc,
            source: self.eur_rate.source.clone(),
            at_ms: now_ms,
        };
        let eur_cents = rate.eur_cents(receipt.amount_msat);
        let mut alerts = self.monitor.judge(
            sql,
            (&receipt.tenant_id, &receipt.account_id),
            aml::Direction::In,
            (eur_cents, &rate),
            None,
            now_ms,
        )?;
        if let Some(query) = expected_payer(sql, &receipt.invoice_id)? {
            let party = NamedParty {
                role: "payer",
                query: &query,
                tenant_id: &receipt.tenant_id,
                account_id: &receipt.account_id,
                direction: aml::Direction::In,
                eur_cents,
                rate: &rate,
            };
            alerts.extend(screen_party(&self.screening, &party)?);
        }
        if alerts.is_empty() {
            return Ok(crate::InboundVerdict::Credit);
        }
        for alert in &mut alerts {
            alert.decision = aml::Decision::Review;
        }
        Ok(crate::InboundVerdict::Hold {
            code: "compliance_review".into(),
            reason: "held for a compliance review".into(),
            alerts,
        })
    }
}
