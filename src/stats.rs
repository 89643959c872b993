//! Statistics that several layers share, each written once: data inspection, feature
//! normalization, metrics, overfitting statistics, stress scenarios and learners all call these.
//! Conventions: sample moments divide by `n - 1`, quantiles interpolate linearly between order
//! statistics (numpy's default).

/// Arithmetic mean; NaN for no values.
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() { f64::NAN } else { values.iter().sum::<f64>() / values.len() as f64 }
}

/// Sample standard deviation (n - 1); NaN for fewer than two values.
pub fn sample_std(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return f64::NAN;
    }
    let m = mean(values);
    (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
}

/// Quantile `q` in [0, 1] of values sorted ascending, with linear interpolation between order
/// statistics (numpy's default).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    sorted[below] + (sorted[above] - sorted[below]) * (position - below as f64)
}

/// Population variance (divides by n); NaN for no values. For the spread of a sample that is
/// the whole population of interest (a minibatch's advantages, a rollout's returns).
pub fn population_variance(values: &[f64]) -> f64 {
    let m = mean(values);
    values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / values.len() as f64
}
