//! The pipeline's stages over `compliance`. In the compliance slot, the payee's node is
//! screened against the lists in force and the watchlist before anything is recorded: a
//! hit refuses the payment (`compliance_blocked`, a sentence that does not say why) and
//! leaves its evidence in a platform-only audit record, which a tenant's credential never
//! reads. In the limits slot, the account's customer (if any) must be verified and stay
//! within its EUR limits over all its accounts, checked with the customer's row locked.
//! Then the monitoring rules (`aml`) judge the payment against the payer's last 30 days
//! (the customer's accounts, or the account), read in the same transaction: a review
//! holds the payment with its alerts, a block refuses it (the alert is kept).

use std::sync::Arc;

use async_trait::async_trait;
use compliance::{ComplianceError, Screening};
use kernel::Clock;
use store::{Sql, Store, Value};

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

/// Accounts a payer's history lists by id at most; a customer with more is read through
/// a join on its accounts instead.
const MAX_LISTED_ACCOUNTS: usize = 32;

/// The accounts a payer's history covers: the customer's accounts listed by id (so each
/// is read from its (account, time) index in time order, without a join or a sort), the
/// customer itself when it has too many to list, or the account alone.
enum Payer {
    Accounts(Vec<String>),
    Customer(String),
}

impl Payer {
    fn of(
        sql: &mut dyn Sql,
        account_id: &str,
        customer_id: Option<&str>,
    ) -> Result<Self, GatewayError> {
        let Some(customer) = customer_id else {
            return Ok(Payer::Accounts(vec![account_id.to_string()]));
        };
        let rows = sql.query(
            "SELECT id FROM accounts WHERE customer_id = $1 ORDER BY id LIMIT $2",
            &[customer.into(), Value::Int(MAX_LISTED_ACCOUNTS as i64 + 1)],
        )?;
        if rows.len() > MAX_LISTED_ACCOUNTS {
            return Ok(Payer::Customer(customer.to_string()));
        }
        let ids = rows
            .iter()
            .map(|row| row.text("id").map(str::to_string))
            .collect::<Result<_, _>>()?;
        Ok(Payer::Accounts(ids))
    }

    /// A predicate on `{alias}.account_id` whose parameters start at `$first`, and them.
    fn predicate(&self, alias: &str, first: usize) -> (String, Vec<Value>) {
        match self {
            Payer::Accounts(ids) => {
                let placeholders: Vec<String> = (first..first + ids.len())
                    .map(|i| format!("${i}"))
                    .collect();
                let params = ids.iter().map(|id| id.as_str().into()).collect();
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

/// How far back the monitoring rules look.
const HISTORY_WINDOW_MS: i64 = 30 * 86_400_000;

/// The monitoring rules and the jurisdiction lists they read, shared by the outgoing and
/// the inbound stage.
pub(crate) struct Monitor {
    /// The store's version in force as last read (none before the first payment), so
    /// a replica never judges by a configured set that happens to share its number.
    loaded: std::sync::RwLock<Option<(i64, Arc<aml::RuleSet>)>>,
    /// What applies while the store has no version (before `Gateway::start` seeds it).
    configured: Arc<aml::RuleSet>,
    jurisdictions: compliance::risk::Jurisdictions,
}

pub(crate) struct MonitoringStage(pub Arc<Monitor>);

/// A counterparty as a number the rules can compare (FNV-1a of its key).
fn counterparty(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The payer's payments in and out since `since_ms` (the customer's accounts, or the
/// account; newest first, bounded), and its last payment before that
/// when the window holds none.
fn history(
    sql: &mut dyn Sql,
    account_id: &str,
    customer_id: Option<&str>,
    rate: &approvals::EurRate,
    since_ms: i64,
) -> Result<(Vec<aml::PastPayment>, Option<i64>), GatewayError> {
    // A customer's accounts (the account is one of them), or the account alone, listed:
    // the (account, time) indexes serve each in order.
    let accounts = Payer::of(sql, account_id, customer_id)?;
    let (payer, listed) = accounts.predicate("p", 3);
    let (receiver, _) = accounts.predicate("i", 3);
    let mut params = vec![Value::Int(since_ms), Value::Int(aml::MAX_HISTORY as i64)];
    params.extend(listed);
    // Both directions in one round trip, each newest first from its own index; `amount`
    // is EUR cents going out and msat coming in (converted at the payment's rate).
    let mut history = Vec::new();
    for row in sql.query(
        &format!(
            "SELECT * FROM (SELECT 1 AS outgoing, COALESCE(p.eur_cents, 0) AS amount, \
             p.created_at_ms AS at_ms, p.destination AS counterparty FROM payments p \
             WHERE {payer} AND p.created_at_ms >= $1 AND p.status NOT IN ('failed', 'rejected') \
             ORDER BY p.created_at_ms DESC LIMIT $2) sent \
             UNION ALL \
             SELECT * FROM (SELECT 0 AS outgoing, COALESCE(i.received_msat, i.amount_msat) AS amount, \
             i.paid_at_ms AS at_ms, CAST(NULL AS TEXT) AS counterparty FROM invoices i \
             WHERE {receiver} AND i.status = 'paid' AND i.paid_at_ms >= $1 \
             ORDER BY i.paid_at_ms DESC LIMIT $2) received"
        ),
        &params,
    )? {
        let amount = row.u64("amount")?;
        let at_ms = row.i64("at_ms")?;
        history.push(if row.i64("outgoing")? == 1 {
            aml::PastPayment {
                direction: aml::Direction::Out,
                eur_cents: amount,
                at_ms,
                counterparty: counterparty(row.text("counterparty")?),
            }
        } else {
            aml::PastPayment {
                direction: aml::Direction::In,
                eur_cents: rate.eur_cents(amount),
                at_ms,
                counterparty: 0,
            }
        });
    }
    // The last activity before the window matters only when the window has none (the
    // dormancy rule takes the newest of the history first).
    if !history.is_empty() {
        return Ok((history, None));
    }
    let (before, listed) = accounts.predicate("p", 2);
    let mut params = vec![Value::Int(since_ms)];
    params.extend(listed);
    let last = sql
        .query_one(
            &format!(
                "SELECT MAX(p.created_at_ms) AS last FROM payments p WHERE {before} \
                 AND p.created_at_ms < $1"
            ),
            &params,
        )?
        .opt_i64("last")?;
    Ok((history, last))
}

impl Monitor {
    pub fn new(configured: aml::RuleSet, jurisdictions: compliance::risk::Jurisdictions) -> Self {
        Self {
            loaded: std::sync::RwLock::new(None),
            configured: Arc::new(configured),
            jurisdictions,
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
        let customer = compliance::customers::of_account(sql, account_id)?;
        let (customer_id, country) = match customer {
            Some(c) => (Some(c.id), c.country),
            None => (None, String::new()),
        };
        let since_ms = now_ms.saturating_sub(HISTORY_WINDOW_MS);
        let (history, last_activity_at_ms) =
            history(sql, account_id, customer_id.as_deref(), rate, since_ms)?;
        let facts = aml::PaymentFacts {
            direction,
            eur_cents,
            at_ms: now_ms,
            counterparty: payee.map_or(0, counterparty),
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

    fn in_tx(
        &self,
        sql: &mut dyn Sql,
        draft: &PaymentDraft,
        now_ms: i64,
    ) -> Result<Verdict, GatewayError> {
        let mut alerts = self.0.judge(
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
