//! Customer risk: the facts of due diligence (country, business type, expected volume,
//! source of funds) scored by a documented table (docs/compliance.md) into a level, and
//! the level's profile: EUR limits per day, month and year, enhanced monitoring, and how
//! often the customer is reviewed. The high-risk jurisdiction lists are dated data
//! (`data/jurisdictions/`), embedded; each customer records the version it was scored by.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::invalid;
use crate::ComplianceError;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, strum::EnumString, strum::IntoStaticStr,
)]
#[strum(serialize_all = "snake_case")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum KycStatus {
    Pending,
    Verified,
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ReviewFrequency {
    Monthly,
    Quarterly,
    Annual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum CustomerKind {
    Person,
    Organization,
}

macro_rules! as_str {
    ($($t:ty),*) => {$(
        impl $t {
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }
    )*};
}
as_str!(RiskLevel, KycStatus, ReviewFrequency, CustomerKind);

impl ReviewFrequency {
    /// The time to the next review.
    pub fn period_ms(self) -> i64 {
        const DAY_MS: i64 = 86_400_000;
        match self {
            ReviewFrequency::Monthly => 30 * DAY_MS,
            ReviewFrequency::Quarterly => 91 * DAY_MS,
            ReviewFrequency::Annual => 365 * DAY_MS,
        }
    }
}

/// The FATF and EU lists of high-risk jurisdictions, as ISO 3166 alpha-2 codes.
#[derive(Debug, Clone, Deserialize)]
pub struct Jurisdictions {
    pub version: String,
    fatf_call_for_action: Vec<String>,
    fatf_increased_monitoring: Vec<String>,
    eu_high_risk: Vec<String>,
}

const BUNDLED_JURISDICTIONS: &str =
    include_str!("../../../data/jurisdictions/jurisdictions-2025-06.json");

impl Jurisdictions {
    /// Whether `country` (alpha-2) is on any of the lists.
    pub fn is_high_risk(&self, country: &str) -> bool {
        [
            &self.fatf_call_for_action,
            &self.fatf_increased_monitoring,
            &self.eu_high_risk,
        ]
        .iter()
        .any(|list| list.iter().any(|c| c == country))
    }

    /// The lists shipped with this release (`data/jurisdictions/`).
    pub fn bundled() -> Self {
        serde_json::from_str(BUNDLED_JURISDICTIONS).expect("the bundled lists parse (tested)")
    }
}

/// A level's profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct LevelProfile {
    pub daily_limit_eur_cents: u64,
    pub monthly_limit_eur_cents: u64,
    pub annual_limit_eur_cents: u64,
    pub enhanced_monitoring: bool,
    pub review: ReviewFrequency,
}

impl<'de> Deserialize<'de> for ReviewFrequency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom("monthly, quarterly or annual"))
    }
}

/// The scoring table. Points add up; a level is reached at its threshold. Defaults are
/// documented in docs/compliance.md and may be replaced whole by configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskTable {
    pub fatf_call_for_action_points: u32,
    pub fatf_increased_monitoring_points: u32,
    pub eu_high_risk_points: u32,
    /// Accepted business types and their points.
    pub business_types: BTreeMap<String, u32>,
    /// Accepted sources of funds and their points.
    pub sources_of_funds: BTreeMap<String, u32>,
    /// (expected monthly volume in EUR cents at least, points), the highest band reached.
    pub volume_bands: Vec<(u64, u32)>,
    pub medium_from_points: u32,
    pub high_from_points: u32,
    pub low: LevelProfile,
    pub medium: LevelProfile,
    pub high: LevelProfile,
}

const EUR: u64 = 100;

impl Default for RiskTable {
    fn default() -> Self {
        let table = |pairs: &[(&str, u32)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect::<BTreeMap<_, _>>()
        };
        Self {
            fatf_call_for_action_points: 100,
            fatf_increased_monitoring_points: 40,
            eu_high_risk_points: 40,
            business_types: table(&[
                ("individual", 0),
                ("retail", 0),
                ("ecommerce", 0),
                ("software", 0),
                ("manufacturing", 0),
                ("professional_services", 0),
                ("logistics", 0),
                ("real_estate", 20),
                ("charity", 20),
                ("trust_or_foundation", 20),
                ("art_dealer", 20),
                ("payment_service_provider", 20),
                ("cash_intensive", 20),
                ("virtual_asset_service_provider", 40),
                ("money_service_business", 40),
                ("gambling", 40),
                ("precious_metals_dealer", 40),
                ("arms_dealer", 60),
            ]),
            sources_of_funds: table(&[
                ("salary", 0),
                ("business_revenue", 0),
                ("savings", 0),
                ("investments", 5),
                ("inheritance", 10),
                ("loan", 10),
                ("crypto_mining", 15),
                ("crypto_trading", 20),
                ("other", 25),
            ]),
            volume_bands: vec![(100_000 * EUR, 15), (1_000_000 * EUR, 30)],
            medium_from_points: 25,
            high_from_points: 60,
            low: LevelProfile {
                daily_limit_eur_cents: 50_000 * EUR,
                monthly_limit_eur_cents: 250_000 * EUR,
                annual_limit_eur_cents: 2_000_000 * EUR,
                enhanced_monitoring: false,
                review: ReviewFrequency::Annual,
            },
            medium: LevelProfile {
                daily_limit_eur_cents: 25_000 * EUR,
                monthly_limit_eur_cents: 100_000 * EUR,
                annual_limit_eur_cents: 1_000_000 * EUR,
                enhanced_monitoring: false,
                review: ReviewFrequency::Quarterly,
            },
            high: LevelProfile {
                daily_limit_eur_cents: 10_000 * EUR,
                monthly_limit_eur_cents: 50_000 * EUR,
                annual_limit_eur_cents: 500_000 * EUR,
                enhanced_monitoring: true,
                review: ReviewFrequency::Monthly,
            },
        }
    }
}

/// What a customer's risk is assessed on.
#[derive(Debug, Clone)]
pub struct RiskFacts<'a> {
    /// ISO 3166 alpha-2.
    pub country: &'a str,
    pub business_type: &'a str,
    pub expected_monthly_eur_cents: u64,
    pub source_of_funds: &'a str,
    /// The name is on a sanctions list or the watchlist.
    pub screening_hit: bool,
}

/// The score, the level, and each factor that added points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub score: u32,
    pub level: RiskLevel,
    pub factors: Vec<String>,
}

impl RiskTable {
    pub fn profile(&self, level: RiskLevel) -> LevelProfile {
        match level {
            RiskLevel::Low => self.low,
            RiskLevel::Medium => self.medium,
            RiskLevel::High => self.high,
        }
    }

    fn accepted(table: &BTreeMap<String, u32>) -> String {
        table.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    /// Refuses a business type or source of funds the table does not know.
    pub fn check(&self, business_type: &str, source_of_funds: &str) -> Result<(), ComplianceError> {
        if !self.business_types.contains_key(business_type) {
            return Err(invalid(
                "business_type",
                format!("one of {}", Self::accepted(&self.business_types)),
            ));
        }
        if !self.sources_of_funds.contains_key(source_of_funds) {
            return Err(invalid(
                "source_of_funds",
                format!("one of {}", Self::accepted(&self.sources_of_funds)),
            ));
        }
        Ok(())
    }

    pub fn assess(
        &self,
        lists: &Jurisdictions,
        facts: &RiskFacts<'_>,
    ) -> Result<Assessment, ComplianceError> {
        self.check(facts.business_type, facts.source_of_funds)?;
        let mut factors = Vec::new();
        let mut score = 0u32;
        let mut add = |points: u32, why: String| {
            if points > 0 {
                score = score.saturating_add(points);
                factors.push(format!("{why} (+{points})"));
            }
        };
        let country = facts.country;
        for (list, points, name) in [
            (
                &lists.fatf_call_for_action,
                self.fatf_call_for_action_points,
                "FATF call for action",
            ),
            (
                &lists.fatf_increased_monitoring,
                self.fatf_increased_monitoring_points,
                "FATF increased monitoring",
            ),
            (
                &lists.eu_high_risk,
                self.eu_high_risk_points,
                "EU high-risk third country",
            ),
        ] {
            if list.iter().any(|c| c == country) {
                add(
                    points,
                    format!("{country} on the {name} list ({})", lists.version),
                );
            }
        }
        add(
            self.business_types[facts.business_type],
            format!("business type {}", facts.business_type),
        );
        add(
            self.sources_of_funds[facts.source_of_funds],
            format!("source of funds {}", facts.source_of_funds),
        );
        if let Some((at_least, points)) = self
            .volume_bands
            .iter()
            .filter(|(at_least, _)| facts.expected_monthly_eur_cents >= *at_least)
            .max_by_key(|(at_least, _)| *at_least)
        {
            add(
                *points,
                format!("expected volume of at least {} EUR a month", at_least / EUR),
            );
        }
        let mut level = if score >= self.high_from_points {
            RiskLevel::High
        } else if score >= self.medium_from_points {
            RiskLevel::Medium
        } else {
            RiskLevel::Low
        };
        if facts.screening_hit {
            factors.push("the name matches a sanctions list or the watchlist (high)".into());
            level = RiskLevel::High;
        }
        Ok(Assessment {
            score,
            level,
            factors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(
        country: &'a str,
        business: &'a str,
        volume_eur: u64,
        funds: &'a str,
    ) -> RiskFacts<'a> {
        RiskFacts {
            country,
            business_type: business,
            expected_monthly_eur_cents: volume_eur * EUR,
            source_of_funds: funds,
            screening_hit: false,
        }
    }

    #[test]
    fn the_table_scores_as_documented() {
        let (table, lists) = (RiskTable::default(), Jurisdictions::bundled());
        let low = table.assess(&lists, &facts("DE", "software", 50_000, "business_revenue"));
        assert_eq!(
            low.map(|a| (a.score, a.level)).ok(),
            Some((0, RiskLevel::Low))
        );
        // Grey-listed and EU-listed, with crypto trading: 40 + 40 + 20.
        let high = table
            .assess(&lists, &facts("NG", "individual", 1_000, "crypto_trading"))
            .expect("assesses");
        assert_eq!((high.score, high.level), (100, RiskLevel::High));
        assert_eq!(high.factors.len(), 3, "{:?}", high.factors);
        // A money service business with a large volume: 40 + 30.
        let msb = table
            .assess(
                &lists,
                &facts(
                    "FR",
                    "money_service_business",
                    2_000_000,
                    "business_revenue",
                ),
            )
            .expect("assesses");
        assert_eq!((msb.score, msb.level), (70, RiskLevel::High));
        let medium = table
            .assess(&lists, &facts("FR", "real_estate", 200_000, "salary"))
            .expect("assesses");
        assert_eq!((medium.score, medium.level), (35, RiskLevel::Medium));
        let mut hit = facts("DE", "software", 1, "salary");
        hit.screening_hit = true;
        assert_eq!(
            table.assess(&lists, &hit).map(|a| a.level).ok(),
            Some(RiskLevel::High)
        );
    }

    #[test]
    fn unknown_facts_are_refused_with_the_accepted_values() {
        let (table, lists) = (RiskTable::default(), Jurisdictions::bundled());
        match table.assess(&lists, &facts("DE", "pirate", 1, "salary")) {
            Err(ComplianceError::InvalidField { field, reason }) => {
                assert_eq!(field, "business_type");
                assert!(reason.contains("software"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(table
            .assess(&lists, &facts("DE", "software", 1, "loot"))
            .is_err());
    }

    #[test]
    fn the_bundled_lists_are_iso_codes() {
        let lists = Jurisdictions::bundled();
        for code in lists
            .fatf_call_for_action
            .iter()
            .chain(&lists.fatf_increased_monitoring)
            .chain(&lists.eu_high_risk)
        {
            assert_eq!(
                &screening::country_key(code),
                code,
                "{code} is an ISO 3166 code"
            );
        }
        assert!(lists.fatf_call_for_action.contains(&"KP".to_string()));
    }
}
