//! Property tests of msat → EUR cents: integer, exact against a wide reference, rounded
//! down, monotone, never overflowing whatever the amount or rate, and the inverse finds
//! the smallest amount worth a threshold.

use approvals::EurRate;
use proptest::prelude::*;

const MSAT_PER_BTC: u128 = 100_000_000_000;

fn rate(eur_cents_per_btc: u64) -> EurRate {
    EurRate {
        eur_cents_per_btc,
        source: "test".into(),
        at_ms: 0,
    }
}

proptest! {
    #[test]
    fn cents_are_the_exact_floor(msat in any::<u64>(), per_btc in any::<u64>()) {
        let reference = u128::from(msat) * u128::from(per_btc) / MSAT_PER_BTC;
        let expected = u64::try_from(reference).unwrap_or(u64::MAX);
        prop_assert_eq!(rate(per_btc).eur_cents(msat), expected);
    }

    #[test]
    fn more_money_is_never_worth_less(a in any::<u64>(), b in any::<u64>(), per_btc in 1..10_000_000_000u64) {
        let (low, high) = (a.min(b), a.max(b));
        prop_assert!(rate(per_btc).eur_cents(low) <= rate(per_btc).eur_cents(high));
    }

    #[test]
    fn the_inverse_is_the_smallest_amount_reaching_a_threshold(
        cents in 1..10_000_000_000u64,
        per_btc in 1..100_000_000u64,
    ) {
        let r = rate(per_btc);
        let msat = r.msat_for_eur_cents(cents);
        prop_assume!(msat < u64::MAX);
        prop_assert!(r.eur_cents(msat) >= cents);
        prop_assert!(r.eur_cents(msat - 1) < cents);
    }
}
