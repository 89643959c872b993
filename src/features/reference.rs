//! The reference portfolio an anchored agent tilts away from (Tu and Zhou 2011: a rule combined
//! with 1/N beats 1/N where the rule alone does not). Like every feature it is causal: the
//! reference for a decision at the close of `t` reads prices `p[0..=t]` only.
//!
//! Only the volatility-managed reference holds cash: equal weight, the benchmark an allocator must
//! beat, is fully invested, and so are its other risk-based variants.

use serde::{Deserialize, Serialize};

use super::FeatureConfig;
use crate::data::PricePanel;
use ndarray::s;

use crate::portfolio_math::{MinimumVariance, QpSolver};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reference {
    /// No reference: observations carry none, and the policy's scores are its weights' logits.
    /// What checkpoints saved before references existed were trained with.
    None,
    /// `1/N` in every asset (DeMiguel, Garlappi and Uppal 2009).
    #[default]
    EqualWeight,
    /// Weights proportional to `1 / sigma_i`, with `sigma_i` the sample standard deviation of the
    /// asset's last `volatility_window` log returns (Kirby and Ostdiek 2012's volatility timing
    /// with exponent one); equal weight until the window has filled.
    InverseVolatility,
    /// The long-only minimum-variance portfolio, `min w'Sw` over the simplex, with `S` the
    /// Ledoit-Wolf shrunk covariance of the last `long_window` periods' simple returns; equal
    /// weight until the window has filled. Minimum variance needs no expected returns, the
    /// estimate that makes mean-variance portfolios lose to 1/N (Jagannathan and Ma 2003: the
    /// long-only constraint itself acts as shrinkage; Clarke, de Silva and Thorley 2006).
    MinimumVariance,
    /// Equal weight in the assets, scaled down to the market's usual risk when the market is
    /// riskier than usual, the rest in cash (volatility targeting; Moreira and Muir 2017, Harvey
    /// et al. 2018: risk is persistent and, in equities, high risk is not paid for, so scaling it
    /// down raises the Sharpe ratio and cuts the worst drawdowns). The exposure is
    /// `min(1, typical / sigma)`, with `sigma` the standard deviation of the equal-weight market's
    /// last `volatility_window` log returns and `typical` the median of every `sigma` so far,
    /// a target that no parameter sets and no later period informs. Equal weight until
    /// `long_window` values of `sigma` give the median something to stand on.
    VolatilityManaged,
}

impl Reference {
    /// The serde default for a features table written before references existed.
    pub fn absent() -> Self {
        Reference::None
    }

    /// Whether observations carry this reference, so that a policy network anchors on it: tilts
    /// from it among the assets, and keeps its share of cash.
    pub fn anchors(self) -> bool {
        self != Reference::None
    }

    pub fn name(self) -> &'static str {
        match self {
            Reference::None => "none",
            Reference::EqualWeight => "equal_weight",
            Reference::InverseVolatility => "inverse_volatility",
            Reference::MinimumVariance => "minimum_variance",
            Reference::VolatilityManaged => "volatility_managed",
        }
    }

    /// `[period][cash + assets]`: the reference weights for a decision at each row, cash first.
    /// `None` for [`Reference::None`].
    pub fn weights(self, panel: &PricePanel, config: &FeatureConfig) -> Option<Vec<f64>> {
        let volatility_window = config.volatility_window;
        let (n_periods, n_assets) = (panel.n_periods(), panel.n_assets());
        let width = n_assets + 1;
        let mut out = vec![0.0; n_periods * width];
        let equal = 1.0 / n_assets as f64;
        for row in out.chunks_exact_mut(width) {
            row[1..].fill(equal);
        }
        match self {
            Reference::None => return None,
            Reference::EqualWeight => {}
            Reference::InverseVolatility => {
                let mut volatility = vec![0.0; n_periods];
                for asset in 0..n_assets {
                    super::rolling_volatility(
                        &panel.asset_prices(asset).to_vec(),
                        volatility_window,
                        &mut volatility,
                    );
                    for (t, &sigma) in volatility.iter().enumerate().skip(volatility_window) {
                        out[t * width + 1 + asset] = if sigma > 0.0 { 1.0 / sigma } else { 0.0 };
                    }
                }
                for row in out.chunks_exact_mut(width).skip(volatility_window) {
                    let total: f64 = row[1..].iter().sum();
                    if total > 0.0 && total.is_finite() {
                        row[1..].iter_mut().for_each(|w| *w /= total);
                    } else {
                        // Every asset flat over the window: no risk to tell them apart by.
                        row[1..].fill(equal);
                    }
                }
            }
            Reference::MinimumVariance => minimum_variance(panel, config.long_window, &mut out),
            Reference::VolatilityManaged => {
                let mut managed = ManagedExposure::new(volatility_window, config.long_window);
                let market = super::risk::equal_weight_log_returns(panel);
                for (row, market_return) in out.chunks_exact_mut(width).zip(market) {
                    let exposure = managed.next(market_return);
                    row[0] = 1.0 - exposure;
                    row[1..].fill(equal * exposure);
                }
            }
        }
        Some(out)
    }
}

/// The exposure of volatility management, fed the equal-weight market's log return into each
/// row in time order, from row 0 (whose return is zero): `min(1, median of every sigma so far /
/// sigma)`, with `sigma` the sample standard deviation of the last `window` returns. One until
/// the window and `history` values of `sigma` have filled. The volatility-managed reference and
/// the baseline of that name are both this, fed alike.
#[derive(Debug, Clone)]
pub struct ManagedExposure {
    window: usize,
    history: usize,
    /// The market's log return into each row seen so far.
    returns: Vec<f64>,
    /// Every `sigma` so far, sorted, so that each row's median costs one insertion.
    sigmas: Vec<f64>,
}

impl ManagedExposure {
    /// `window` is at least 2: one return has no sample standard deviation.
    pub fn new(window: usize, history: usize) -> Self {
        Self { window: window.max(2), history: history.max(1), returns: Vec::new(), sigmas: Vec::new() }
    }

    /// Rows fed so far.
    pub fn rows_seen(&self) -> usize {
        self.returns.len()
    }

    /// Forget every row fed, keeping the windows.
    pub fn restart(&mut self) {
        self.returns.clear();
        self.sigmas.clear();
    }

    /// The exposure for a decision at the close of the next row, whose market log return is
    /// `market_return`.
    pub fn next(&mut self, market_return: f64) -> f64 {
        self.returns.push(market_return);
        let row = self.returns.len() - 1;
        if row < self.window {
            return 1.0;
        }
        let sigma = crate::stats::sample_std(&self.returns[row + 1 - self.window..=row]);
        let at = self.sigmas.partition_point(|&s| s < sigma);
        self.sigmas.insert(at, sigma);
        // The median, not the mean: a crash's weeks of extreme risk would otherwise raise the
        // target for years after it.
        if self.sigmas.len() >= self.history && sigma > 0.0 {
            (crate::stats::quantile_sorted(&self.sigmas, 0.5) / sigma).min(1.0)
        } else {
            1.0
        }
    }
}

/// Writes the minimum-variance weights into the rows of `out` whose window of `window` returns
/// has filled, leaving the others as they are. Each row re-solves from its own window, started
/// from the previous row's support, which a one-row slide barely moves.
fn minimum_variance(panel: &PricePanel, window: usize, out: &mut [f64]) {
    let width = panel.n_assets() + 1;
    let prices = &panel.prices;
    let mut solver = MinimumVariance::new(QpSolver::ActiveSet);
    for t in window.max(1)..panel.n_periods() {
        let first = t + 1 - window;
        let returns = &prices.slice(s![first..=t, ..]) / &prices.slice(s![first - 1..t, ..]) - 1.0;
        if returns.iter().any(|r| !r.is_finite()) {
            continue;
        }
        if let Some(weights) = solver.solve(returns.view()) {
            out[t * width + 1..(t + 1) * width].copy_from_slice(&weights);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth::panel_from_log_returns;
    use ndarray::Array2;

    /// An asset whose price stops moving (a halt, carried forward) has no risk over a window
    /// that holds only the halt: exactly none, whatever wild returns came before it, so the
    /// inverse-volatility reference gives it nothing rather than whatever rounding decides.
    #[test]
    fn a_halted_asset_has_exactly_no_volatility_after_a_wild_stretch() {
        let (wild, halt, window) = (300, 25, 20);
        let returns = Array2::from_shape_fn((wild + halt, 2), |(t, asset)| {
            let wild_return = 0.05 * ((t * (7 + asset)) as f64 * 1.3).sin();
            if asset == 0 && t >= wild { 0.0 } else { wild_return }
        });
        let panel =
            panel_from_log_returns(&returns, chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(), "S");
        let mut volatility = vec![0.0; panel.n_periods()];
        crate::features::rolling_volatility(&panel.asset_prices(0).to_vec(), window, &mut volatility);
        // Row r + 1 holds the return of row r: the last rows' windows hold the halt alone.
        let halted = wild + window + 1..panel.n_periods();
        assert!(volatility[halted.clone()].iter().all(|&v| v == 0.0), "{:?}", &volatility[halted.clone()]);
        let config = FeatureConfig { volatility_window: window, ..FeatureConfig::default() };
        let weights = Reference::InverseVolatility.weights(&panel, &config).unwrap();
        for row in halted {
            assert_eq!(&weights[row * 3..row * 3 + 3], &[0.0, 0.0, 1.0], "row {row}");
        }
    }

    /// Two identical assets whose log returns alternate +-1% for ten periods, then +-3%: over
    /// a two-return window the market's standard deviation is `0.01 sqrt 2` in the calm, `0.04 /
    /// sqrt 2` across the change and `0.03 sqrt 2` after it.
    #[test]
    fn the_volatility_managed_reference_scales_equal_weight_to_the_median_risk() {
        let steps: Vec<f64> =
            (0..10).map(|t| if t % 2 == 0 { 0.01 } else { -0.01 }).chain([0.03, -0.03]).collect();
        // Row r of log returns moves the price from row r to row r + 1.
        let returns = Array2::from_shape_fn((steps.len(), 2), |(t, _)| steps[t]);
        let panel =
            panel_from_log_returns(&returns, chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(), "S");
        let config = FeatureConfig { volatility_window: 2, long_window: 3, ..FeatureConfig::default() };
        let weights = Reference::VolatilityManaged.weights(&panel, &config).unwrap();
        let exposure: Vec<f64> = weights.chunks_exact(3).map(|row| 1.0 - row[0]).collect();
        for (row, w) in weights.chunks_exact(3).enumerate() {
            assert!(
                (w[1] - w[2]).abs() < 1e-15 && (w[0] + w[1] + w[2] - 1.0).abs() < 1e-12,
                "row {row}: {w:?}"
            );
        }
        // Fully invested until three values of sigma exist (rows 2, 3, 4), and while the risk
        // is the usual one.
        assert!(exposure[..=10].iter().all(|&e| (e - 1.0).abs() < 1e-9), "{exposure:?}");
        // The median is still the calm 0.01 sqrt 2: half exposure across the change, a third
        // after it.
        assert!((exposure[11] - 0.5).abs() < 1e-9, "{}", exposure[11]);
        assert!((exposure[12] - 1.0 / 3.0).abs() < 1e-9, "{}", exposure[12]);
    }
}
