//! The reference portfolio an anchored agent tilts away from (Tu and Zhou 2011: a rule combined
//! with 1/N beats 1/N where the rule alone does not). Like every feature it is causal: the
//! reference for a decision at the close of `t` reads prices `p[0..=t]` only.
//!
//! The reference never holds cash: equal weight, the benchmark an allocator must beat, is fully
//! invested, and so are its risk-based variants.

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
}

impl Reference {
    /// The serde default for a features table written before references existed.
    pub fn absent() -> Self {
        Reference::None
    }

    pub fn name(self) -> &'static str {
        match self {
            Reference::None => "none",
            Reference::EqualWeight => "equal_weight",
            Reference::InverseVolatility => "inverse_volatility",
            Reference::MinimumVariance => "minimum_variance",
        }
    }

    /// `[period][cash + assets]`: the reference weights for a decision at each row, cash first
    /// (always zero). `None` for [`Reference::None`].
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
        }
        Some(out)
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
