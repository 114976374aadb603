//! Robust statistics for baselines: the median and the median absolute deviation, which
//! one outlier (or a burst of them) does not drag the way it drags a mean and a standard
//! deviation.

/// The median of `values` (sorted in place); `None` when empty.
pub fn median(values: &mut [u64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] as f64 + values[mid] as f64) / 2.0
    } else {
        values[mid] as f64
    })
}

/// The median absolute deviation around `center`, scaled by 1.4826 so that it estimates
/// the standard deviation of normally distributed values.
pub fn mad(values: &[u64], center: f64) -> f64 {
    let mut deviations: Vec<u64> = values
        .iter()
        .map(|&v| (v as f64 - center).abs().round() as u64)
        .collect();
    median(&mut deviations).unwrap_or(0.0) * 1.4826
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_outlier_does_not_move_the_baseline() {
        let mut values = vec![100, 102, 98, 101, 99, 1_000_000];
        let center = median(&mut values).expect("values");
        assert_eq!(center, 100.5);
        let spread = mad(&values, center);
        assert!(spread < 5.0, "{spread}");
        assert_eq!(median(&mut []), None);
    }
}
