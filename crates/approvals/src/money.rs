//! Bitcoin amounts in EUR for thresholds, through a configured rate that is recorded with
//! every decision.

use serde::{Deserialize, Serialize};

/// Millisatoshi in one bitcoin.
const MSAT_PER_BTC: u128 = 100_000_000_000;

/// The EUR price of one bitcoin in euro cents, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EurRate {
    pub eur_cents_per_btc: u64,
    /// The rate source, recorded with each decision (e.g. `fixed:demo`).
    pub source: String,
    pub at_ms: i64,
}

impl EurRate {
    /// `amount_msat` in euro cents, rounded down (a threshold is crossed only when truly
    /// reached).
    pub fn eur_cents(&self, amount_msat: u64) -> u64 {
        let cents = u128::from(amount_msat) * u128::from(self.eur_cents_per_btc) / MSAT_PER_BTC;
        u64::try_from(cents).unwrap_or(u64::MAX)
    }

    /// The smallest amount in msat worth at least `eur_cents` (for tests and demos).
    pub fn msat_for_eur_cents(&self, eur_cents: u64) -> u64 {
        let rate = u128::from(self.eur_cents_per_btc.max(1));
        let msat = (u128::from(eur_cents) * MSAT_PER_BTC).div_ceil(rate);
        u64::try_from(msat).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_is_integer_and_rounds_down() {
        let rate = EurRate {
            eur_cents_per_btc: 5_000_000,
            source: "fixed:demo".into(),
            at_ms: 0,
        };
        // 50,000 EUR per BTC: 0.2 BTC is 10,000 EUR.
        assert_eq!(rate.eur_cents(20_000_000_000), 1_000_000);
        assert_eq!(rate.eur_cents(19_999_999_999), 999_999);
        assert_eq!(rate.msat_for_eur_cents(1_000_000), 20_000_000_000);
        assert_eq!(rate.eur_cents(rate.msat_for_eur_cents(123_457)), 123_457);
        assert_eq!(rate.eur_cents(u64::MAX), 922_337_203_685_477);
    }
}
