//! Tax-loss harvesting decisions: which lots to sell at a loss, and which asset holds their
//! place while the wash-sale window keeps the original out of reach.

use chrono::NaiveDate;
use ndarray::ArrayView2;
use statrs::statistics::Statistics;

use super::config::HarvestConfig;
use super::lots::LotBook;

/// Lots of `asset` worth harvesting at `price` on `date`: those whose price has fallen at least
/// `loss_threshold` below their cost per share. None when any other lot of the asset still held
/// was bought inside the wash-sale window before `date`: it would wash the loss and leave nothing
/// harvested. Only shares that have washed no loss yet count: a share replaces one sold at a
/// loss once, and a lot that a wash sale created (its shares the replacements) washes nothing.
pub fn harvestable_lots(
    book: &LotBook,
    asset: usize,
    price: f64,
    date: NaiveDate,
    config: &HarvestConfig,
) -> Vec<usize> {
    let losing: Vec<usize> = book
        .lots(asset)
        .iter()
        .filter(|lot| price <= (1.0 - config.loss_threshold) * lot.cost_per_share())
        .map(|lot| lot.id)
        .collect();
    if losing.is_empty() || book.bought_within_window(asset, date, &losing) {
        return Vec::new();
    }
    losing
}

/// The asset whose returns moved most closely with `asset`'s over the last `window` periods of
/// `prices` (Pearson correlation of log returns), among those `eligible` allows.
///
/// `prices` holds the rows known at the decision and nothing later: pass
/// `panel.prices.slice(s![..=row, ..])`, so that the choice cannot depend on the future. With
/// fewer than three returns, or no eligible asset with a defined correlation, there is no choice.
pub fn most_correlated(
    prices: ArrayView2<'_, f64>,
    asset: usize,
    window: usize,
    eligible: impl Fn(usize) -> bool,
) -> Option<usize> {
    let rows = prices.nrows();
    let returns = window.min(rows.saturating_sub(1));
    if returns < super::config::MIN_CORRELATION_RETURNS {
        return None;
    }
    let log_returns = |i: usize| -> Vec<f64> {
        (rows - returns..rows).map(|t| (prices[[t, i]] / prices[[t - 1, i]]).ln()).collect()
    };
    let target = log_returns(asset);
    (0..prices.ncols())
        .filter(|&other| other != asset && eligible(other))
        .filter_map(|other| {
            let corr = correlation(&target, &log_returns(other));
            corr.is_finite().then_some((other, corr))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(other, _)| other)
}

/// Pearson correlation (statrs' sample covariance over the sample standard deviations); NaN
/// when either series is constant.
fn correlation(a: &[f64], b: &[f64]) -> f64 {
    a.iter().covariance(b.iter()) / (a.iter().std_dev() * b.iter().std_dev())
}
