//! Customer due diligence as a service: customers created and changed with their facts
//! checked, their names screened and their risk assessed (`risk.rs`) in one audited
//! transaction, and the check a payment's transaction makes against its customer (KYC
//! status and EUR limits per UTC day, month and year over all the customer's accounts).

use std::sync::Arc;

use chrono::{Datelike, TimeZone, Utc};
use kernel::{Actor, Clock, IdSource};
use store::{Sql, Store, StoreError};

use crate::customers::{self, Customer};
use crate::error::invalid;
use crate::rescreen;
use crate::risk::{
    Assessment, CustomerKind, Jurisdictions, KycStatus, ReviewFrequency, RiskFacts, RiskLevel,
    RiskTable,
};
use crate::{ComplianceError, Screening};

const MAX_NAME_CHARS: usize = 200;
const MAX_REASON_CHARS: usize = 500;
/// A trillion euros a month is not a customer's expected volume, it is an attack.
const MAX_EXPECTED_MONTHLY_EUR_CENTS: u64 = 100_000_000_000_000;

/// A new customer's facts, as given.
#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub tenant_id: String,
    pub name: String,
    /// `person` or `organization`.
    pub kind: String,
    /// An ISO 3166 code or an English name.
    pub country: String,
    pub business_type: String,
    pub expected_monthly_eur_cents: u64,
    pub source_of_funds: String,
}

/// A change to a customer: facts, KYC status, or the risk level chosen by an officer
/// (with a reason). Absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct CustomerChange {
    pub name: Option<String>,
    pub country: Option<String>,
    pub business_type: Option<String>,
    pub expected_monthly_eur_cents: Option<u64>,
    pub source_of_funds: Option<String>,
    /// `pending`, `verified` or `rejected`.
    pub kyc_status: Option<String>,
    /// `low`, `medium` or `high`: overrides the table; needs `reason`.
    pub risk_level: Option<String>,
    pub reason: Option<String>,
}

fn checked_name(name: &str) -> Result<String, ComplianceError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
        || screening::normalize(name).is_empty()
    {
        return Err(invalid(
            "name",
            format!(
                "1 to {MAX_NAME_CHARS} characters with a letter or digit, no control characters"
            ),
        ));
    }
    Ok(name.to_string())
}

fn checked_country(country: &str) -> Result<String, ComplianceError> {
    let key = screening::country_key(country);
    if key.len() == 2 && key.bytes().all(|b| b.is_ascii_uppercase()) && country.len() <= 60 {
        Ok(key)
    } else {
        Err(invalid(
            "country",
            "an ISO 3166 code (DE, DEU) or a country's English name",
        ))
    }
}

fn checked_volume(cents: u64) -> Result<u64, ComplianceError> {
    if cents > MAX_EXPECTED_MONTHLY_EUR_CENTS {
        return Err(invalid(
            "expected_monthly_eur_cents",
            format!("at most {MAX_EXPECTED_MONTHLY_EUR_CENTS}"),
        ));
    }
    Ok(cents)
}

fn parse<T: std::str::FromStr>(
    field: &'static str,
    value: &str,
    accepted: &str,
) -> Result<T, ComplianceError> {
    value
        .parse()
        .map_err(|_| invalid(field, format!("one of {accepted}")))
}

/// Due diligence over the store; cheap to clone.
#[derive(Clone)]
pub struct DueDiligence {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<dyn IdSource>,
    pub(crate) screening: Screening,
    table: RiskTable,
    lists: Jurisdictions,
}

impl DueDiligence {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
        screening: Screening,
        table: RiskTable,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                ids,
                screening,
                table,
                lists: Jurisdictions::bundled(),
            }),
        }
    }

    fn screen(&self, customer: &mut Customer, now_ms: i64) -> Result<(), ComplianceError> {
        let query = rescreen::query_of(customer);
        customer.screening_hits = self
            .inner
            .screening
            .screen_names(&[query], None)?
            .pop()
            .unwrap_or_default();
        customer.screened_at_ms = now_ms;
        Ok(())
    }

    fn assess(&self, customer: &Customer) -> Result<Assessment, ComplianceError> {
        self.inner.table.assess(
            &self.inner.lists,
            &RiskFacts {
                country: &customer.country,
                business_type: &customer.business_type,
                expected_monthly_eur_cents: customer.expected_monthly_eur_cents,
                source_of_funds: &customer.source_of_funds,
                screening_hit: !customer.screening_hits.is_empty(),
            },
        )
    }

    /// Creates a customer: facts checked, name screened, risk assessed, KYC pending.
    pub async fn create(
        &self,
        actor: &Actor,
        new: NewCustomer,
    ) -> Result<Customer, ComplianceError> {
        let now = self.inner.clock.now_ms();
        let kind: CustomerKind = parse("kind", &new.kind, "person, organization")?;
        self.inner
            .table
            .check(&new.business_type, &new.source_of_funds)?;
        let mut customer = Customer {
            id: self.inner.ids.next_id("cus"),
            tenant_id: new.tenant_id,
            name: checked_name(&new.name)?,
            kind,
            country: checked_country(&new.country)?,
            business_type: new.business_type,
            expected_monthly_eur_cents: checked_volume(new.expected_monthly_eur_cents)?,
            source_of_funds: new.source_of_funds,
            risk_score: 0,
            risk_factors: Vec::new(),
            risk_level: RiskLevel::Low,
            risk_override_reason: None,
            jurisdictions_version: self.inner.lists.version.clone(),
            kyc_status: KycStatus::Pending,
            daily_limit_eur_cents: 0,
            monthly_limit_eur_cents: 0,
            annual_limit_eur_cents: 0,
            enhanced_monitoring: false,
            review_frequency: ReviewFrequency::Annual,
            next_review_at_ms: 0,
            screening_hits: Vec::new(),
            screened_at_ms: now,
            created_at_ms: now,
            updated_at_ms: now,
            relationship_ended_at_ms: None,
            purged_at_ms: None,
        };
        self.screen(&mut customer, now)?;
        let assessment = self.assess(&customer)?;
        let level = assessment.level;
        customer.apply(&assessment, level, self.inner.table.profile(level), now);
        let (actor, stored) = (actor.clone(), customer.clone());
        let matches = self.inner.screening.matches(&customer.screening_hits)?;
        let ids = Arc::clone(&self.inner.ids);
        self.inner
            .store
            .write(move |sql| {
                customers::insert(sql, &actor, &stored)?;
                rescreen::record_matches(sql, ids.as_ref(), &stored, &matches, now)?;
                Ok::<_, ComplianceError>(())
            })
            .await?;
        Ok(customer)
    }

    pub async fn get(&self, id: &str) -> Result<Customer, ComplianceError> {
        let id = id.to_string();
        self.inner
            .store
            .read(move |sql| customers::get(sql, &id))
            .await?
            .ok_or(ComplianceError::UnknownCustomer)
    }

    pub async fn list(
        &self,
        tenant_id: Option<String>,
        after: String,
        limit: u32,
    ) -> Result<Vec<Customer>, ComplianceError> {
        Ok(self
            .inner
            .store
            .read(move |sql| customers::list(sql, tenant_id.as_deref(), &after, limit))
            .await?)
    }

    /// Changes a customer in one transaction: the facts rescreened and reassessed, the
    /// KYC status, or an officer's level (with a reason, kept until the next override).
    pub async fn update(
        &self,
        actor: &Actor,
        id: &str,
        change: CustomerChange,
    ) -> Result<Customer, ComplianceError> {
        let kyc: Option<KycStatus> = change
            .kyc_status
            .as_deref()
            .map(|s| parse("kyc_status", s, "pending, verified, rejected"))
            .transpose()?;
        let level: Option<RiskLevel> = change
            .risk_level
            .as_deref()
            .map(|s| parse("risk_level", s, "low, medium, high"))
            .transpose()?;
        let reason = change.reason.as_deref().map(str::trim).map(str::to_string);
        if level.is_some()
            && reason
                .as_deref()
                .is_none_or(|r| r.is_empty() || r.chars().count() > MAX_REASON_CHARS)
        {
            return Err(invalid(
                "reason",
                format!("an override of the risk level needs a reason of 1 to {MAX_REASON_CHARS} characters"),
            ));
        }
        let name = change.name.as_deref().map(checked_name).transpose()?;
        let country = change.country.as_deref().map(checked_country).transpose()?;
        let volume = change
            .expected_monthly_eur_cents
            .map(checked_volume)
            .transpose()?;
        let this = self.clone();
        let (actor, id) = (actor.clone(), id.to_string());
        let now = self.inner.clock.now_ms();
        self.inner
            .store
            .write(move |sql| {
                let mut c = customers::get(sql, &id)?.ok_or(ComplianceError::UnknownCustomer)?;
                if c.relationship_ended_at_ms.is_some() {
                    return Err(ComplianceError::RelationshipEnded);
                }
                let mut changed = Vec::new();
                let rescreen = name.is_some() || country.is_some();
                if let Some(name) = name {
                    c.name = name;
                    changed.push("name");
                }
                if let Some(country) = country {
                    c.country = country;
                    changed.push("country");
                }
                if let Some(b) = &change.business_type {
                    c.business_type.clone_from(b);
                    changed.push("business_type");
                }
                if let Some(v) = volume {
                    c.expected_monthly_eur_cents = v;
                    changed.push("expected_monthly_eur_cents");
                }
                if let Some(s) = &change.source_of_funds {
                    c.source_of_funds.clone_from(s);
                    changed.push("source_of_funds");
                }
                if let Some(k) = kyc {
                    c.kyc_status = k;
                    changed.push("kyc_status");
                }
                if rescreen {
                    this.screen(&mut c, now)?;
                }
                let assessment = this.assess(&c)?;
                let overridden = level.is_some();
                if let Some(level) = level {
                    c.risk_override_reason = reason.clone();
                    changed.push("risk_level");
                    c.risk_level = level;
                }
                let level = if c.risk_override_reason.is_some() {
                    c.risk_level
                } else {
                    assessment.level
                };
                c.jurisdictions_version
                    .clone_from(&this.inner.lists.version);
                c.apply(&assessment, level, this.inner.table.profile(level), now);
                c.updated_at_ms = now;
                let details = format!(
                    "{}; risk {}{}",
                    changed.join(","),
                    c.risk_level.as_str(),
                    reason
                        .as_deref()
                        .filter(|_| overridden)
                        .map(|r| format!(" (override: {r})"))
                        .unwrap_or_default()
                );
                customers::update(sql, &actor, &c, details)?;
                if rescreen {
                    let matches = this.inner.screening.matches(&c.screening_hits)?;
                    rescreen::record_matches(sql, this.inner.ids.as_ref(), &c, &matches, now)?;
                }
                Ok(c)
            })
            .await
    }
}

/// The starts of the UTC day, month and year `now_ms` is in.
fn window_starts(now_ms: i64) -> [(&'static str, i64); 3] {
    let now = Utc
        .timestamp_millis_opt(now_ms)
        .single()
        .unwrap_or_else(Utc::now)
        .date_naive();
    let start = |date: chrono::NaiveDate| {
        date.and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp_millis())
    };
    [
        ("daily", start(now)),
        ("monthly", start(now.with_day(1).unwrap_or(now))),
        ("annual", start(now.with_ordinal(1).unwrap_or(now))),
    ]
}

/// In a payment's transaction (its account row locked): the account's customer, if any,
/// must be verified, and what all its accounts sent in the UTC day, month and year plus
/// `eur_cents` must stay within its limits. `sent_since(customer_id, starts_ms)` counts
/// what the customer's accounts sent or hold for sending since each of the three starts
/// (day, month, year: one read for the three).
pub fn check_payment<E>(
    sql: &mut dyn Sql,
    account_id: &str,
    eur_cents: u64,
    now_ms: i64,
    sent_since: impl Fn(&mut dyn Sql, &str, [i64; 3]) -> Result<[u64; 3], E>,
) -> Result<(), E>
where
    E: From<ComplianceError> + From<StoreError>,
{
    let Some(customer) = customers::of_account_locked(sql, account_id)? else {
        return Ok(());
    };
    if customer.relationship_ended_at_ms.is_some() {
        return Err(ComplianceError::RelationshipEnded.into());
    }
    if customer.kyc_status != KycStatus::Verified {
        return Err(ComplianceError::CustomerNotVerified(customer.kyc_status.as_str()).into());
    }
    let windows = window_starts(now_ms);
    let sent = sent_since(sql, &customer.id, windows.map(|(_, start_ms)| start_ms))?;
    for ((window, _), sent) in windows.into_iter().zip(sent) {
        let limit = match window {
            "daily" => customer.daily_limit_eur_cents,
            "monthly" => customer.monthly_limit_eur_cents,
            _ => customer.annual_limit_eur_cents,
        };
        let would_be = sent.saturating_add(eur_cents);
        if would_be > limit {
            return Err(ComplianceError::CustomerLimitExceeded {
                window,
                limit_eur_cents: limit,
                would_be_eur_cents: would_be,
            }
            .into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_start_at_utc_midnight_the_first_of_the_month_and_of_the_year() {
        // 2026-12-05T12:00:00Z.
        let [day, month, year] = window_starts(1_796_472_000_000);
        assert_eq!(day, ("daily", 1_796_428_800_000));
        assert_eq!(month, ("monthly", 1_796_083_200_000));
        assert_eq!(year, ("annual", 1_767_225_600_000));
    }

    #[test]
    fn facts_are_checked() {
        assert_eq!(checked_country("Germany").ok().as_deref(), Some("DE"));
        assert_eq!(checked_country("deu").ok().as_deref(), Some("DE"));
        assert!(checked_country("Atlantis").is_err());
        assert!(checked_country("").is_err());
        assert!(checked_name("  ").is_err());
        assert!(checked_name("A\u{7}B").is_err());
        assert!(checked_volume(u64::MAX).is_err());
    }
}
