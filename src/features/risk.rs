//! Risk and cross-sectional features (Fleming, Kirby and Ostdiek 2003: risk is far more
//! predictable than return). Each reads prices up to row `t` only; rows before a feature is
//! defined stay zero, as for every feature.

use crate::data::PricePanel;

fn log_returns(prices: &[f64]) -> Vec<f64> {
    std::iter::once(0.0).chain(prices.windows(2).map(|w| (w[1] / w[0]).ln())).collect()
}

/// `[period]`: the log return of the equal-weight market, `ln(mean_i p_i[t] / p_i[t-1])`;
/// zero at row 0.
pub fn equal_weight_log_returns(panel: &PricePanel) -> Vec<f64> {
    let (n_periods, n_assets) = (panel.n_periods(), panel.n_assets());
    let mut out = vec![0.0; n_periods];
    for (t, r) in out.iter_mut().enumerate().skip(1) {
        let growth: f64 = (0..n_assets).map(|i| panel.prices[[t, i]] / panel.prices[[t - 1, i]]).sum();
        *r = (growth / n_assets as f64).ln();
    }
    out
}

pub fn downside_volatility(prices: &[f64], window: usize, out: &mut [f64]) {
    let r = log_returns(prices);
    for t in window..prices.len() {
        let sum: f64 = r[t + 1 - window..=t].iter().map(|x| x.min(0.0).powi(2)).sum();
        out[t] = (sum / window as f64).sqrt();
    }
}

/// Window sums of `x`, `y`, `x^2`, `y^2` and `xy` for the last `window` returns up to each row.
fn co_moments(prices: &[f64], market: &[f64], window: usize, mut each: impl FnMut(usize, [f64; 5])) {
    let r = log_returns(prices);
    for t in window..prices.len() {
        let mut s = [0.0; 5];
        for u in t + 1 - window..=t {
            let (x, y) = (r[u], market[u]);
            s[0] += x;
            s[1] += y;
            s[2] += x * x;
            s[3] += y * y;
            s[4] += x * y;
        }
        each(t, s);
    }
}

/// `(cov(x, y), var(x), var(y))` from window sums over `n` periods.
fn covariances(s: [f64; 5], n: f64) -> (f64, f64, f64) {
    let cov = s[4] / n - s[0] * s[1] / (n * n);
    let var_x = s[2] / n - s[0] * s[0] / (n * n);
    let var_y = s[3] / n - s[1] * s[1] / (n * n);
    (cov, var_x.max(0.0), var_y.max(0.0))
}

pub fn market_correlation(prices: &[f64], market: &[f64], window: usize, out: &mut [f64]) {
    co_moments(prices, market, window, |t, s| {
        let (cov, var_x, var_y) = covariances(s, window as f64);
        let scale = (var_x * var_y).sqrt();
        out[t] = if scale > 0.0 { (cov / scale).clamp(-1.0, 1.0) } else { 0.0 };
    });
}

pub fn market_beta(prices: &[f64], market: &[f64], window: usize, out: &mut [f64]) {
    co_moments(prices, market, window, |t, s| {
        let (cov, _, var_y) = covariances(s, window as f64);
        out[t] = if var_y > 0.0 { cov / var_y } else { 0.0 };
    });
}

/// `[asset][period]`: each asset's rank among all assets, scaled to `[0, 1]` (ties share their
/// mean rank), of `ln(p[t - skip] / p[t - lookback])`; 0.5 everywhere for a single asset.
pub fn cross_sectional_ranks(panel: &PricePanel, lookback: usize, skip: usize) -> Vec<f64> {
    let (n_periods, n_assets) = (panel.n_periods(), panel.n_assets());
    let mut out = vec![0.0; n_assets * n_periods];
    let mut signal = vec![0.0; n_assets];
    for t in lookback..n_periods {
        for (i, s) in signal.iter_mut().enumerate() {
            *s = (panel.prices[[t - skip, i]] / panel.prices[[t - lookback, i]]).ln();
        }
        for i in 0..n_assets {
            let below = signal.iter().filter(|&&x| x < signal[i]).count() as f64;
            let equal = signal.iter().filter(|&&x| x == signal[i]).count() as f64;
            let rank = below + (equal - 1.0) / 2.0;
            out[i * n_periods + t] = if n_assets > 1 { rank / (n_assets - 1) as f64 } else { 0.5 };
        }
    }
    out
}
