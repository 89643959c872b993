//! Statistics that several layers share, each written once: data inspection, feature
//! normalization, metrics, overfitting statistics, stress scenarios, benchmarks and learners all
//! call these. Conventions: sample moments divide by `n - 1`, quantiles interpolate linearly
//! between order statistics (numpy's default).
//!
//! Means and deviations are written out rather than taken from statrs, whose running (Welford)
//! updates round differently: feature normalization, and so every trained network, depends on
//! these exact bits.

use statrs::statistics::{Data, Median};

/// Arithmetic mean; NaN for no values.
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() { f64::NAN } else { values.iter().sum::<f64>() / values.len() as f64 }
}

/// A standard deviation at most this share of the values' magnitude is the rounding of their
/// mean, not a spread: the deviations of a constant series from its computed mean are a few ulps,
/// so a flat window's volatility, Bollinger band or Sharpe ratio would be rounding noise (a
/// Sharpe ratio of 1e16, a %B anywhere). Such a spread is exactly zero. A real spread is many
/// orders of magnitude above it.
const ROUNDING_SPREAD: f64 = 1e-12;

/// `variance` of `values`, or exactly zero where its spread is only rounding.
fn spread_or_zero(values: &[f64], variance: f64) -> f64 {
    let magnitude = values.iter().fold(0.0_f64, |largest, v| largest.max(v.abs()));
    if variance.sqrt() <= ROUNDING_SPREAD * magnitude { 0.0 } else { variance }
}

/// Sample variance (n - 1); NaN for fewer than two values; exactly zero for values equal up to
/// their rounding.
pub fn sample_variance(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return f64::NAN;
    }
    let m = mean(values);
    spread_or_zero(values, values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64)
}

/// Sample standard deviation (n - 1); NaN for fewer than two values.
pub fn sample_std(values: &[f64]) -> f64 {
    sample_variance(values).sqrt()
}

/// Population variance (n): the spread of exactly these values (a minibatch's advantages, a
/// rollout's returns); NaN for no values; exactly zero for values equal up to their rounding.
pub fn population_variance(values: &[f64]) -> f64 {
    let m = mean(values);
    spread_or_zero(values, values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / values.len() as f64)
}

/// Population standard deviation (n), as Bollinger bands measure it; NaN for no values.
pub fn population_std(values: &[f64]) -> f64 {
    population_variance(values).sqrt()
}

/// Median: the middle value, or the mean of the two middle values of an even count (statrs'
/// order statistics); NaN for no values. The values must not be NaN, which has no order.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    Data::new(values.to_vec()).median()
}

/// Quantile `q` in [0, 1] of values sorted ascending, with linear interpolation between order
/// statistics (numpy's default).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    sorted[below] + (sorted[above] - sorted[below]) * (position - below as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_by_hand() {
        let values = [1.0, 2.0, 4.0, 7.0];
        assert_eq!(mean(&values), 3.5);
        // Squared deviations 6.25 + 2.25 + 0.25 + 12.25 = 21.
        assert_eq!(sample_variance(&values), 7.0);
        assert_eq!(sample_std(&values), 7f64.sqrt());
        assert_eq!(population_variance(&values), 5.25);
        assert_eq!(population_std(&values), 5.25f64.sqrt());
        assert!(mean(&[]).is_nan() && sample_std(&[1.0]).is_nan());
    }

    #[test]
    fn values_equal_up_to_rounding_have_no_spread() {
        // The computed mean of these is off by an ulp, which left a deviation of 1e-36 or so.
        for (value, count) in [(0.0004, 40), (0.01, 1260), (3.322, 20), (1.107, 69)] {
            let values = vec![value; count];
            assert_eq!((sample_std(&values), population_std(&values)), (0.0, 0.0), "{value} x {count}");
        }
        // A tiny but real spread stays.
        assert!(sample_std(&[1.0, 1.0 + 1e-9]) > 0.0);
        assert!(population_variance(&[]).is_nan());
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
