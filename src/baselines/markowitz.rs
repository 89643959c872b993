//! Markowitz portfolios: minimum variance and maximum Sharpe on a rolling, Ledoit-Wolf shrunk
//! covariance, each a long-only quadratic program solved by clarabel.

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, NonnegativeConeT, SolverStatus, ZeroConeT,
};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::{ReturnKind, uniform, window_returns, write_assets};
use crate::backtest::{BaselineId, MarketView, Policy, PolicyId};

/// `min_x 1/2 x'Px + q'x` subject to `a'x = 1` and `x >= 0`, solved by clarabel's interior-point
/// method. `None` when the solver does not report a solution.
pub(super) fn nonnegative_qp(p: &DMatrix<f64>, q: &[f64], a: &[f64]) -> Option<Vec<f64>> {
    let n = q.len();
    // Clarabel reads only the upper triangle of P.
    let upper: Vec<Vec<f64>> =
        (0..n).map(|i| (0..n).map(|j| if j >= i { p[(i, j)] } else { 0.0 }).collect()).collect();
    let p = CscMatrix::from(&upper);
    // Rows of A x + s = b: first `a'x + s = 1` with `s` in the zero cone (an equality), then
    // `-x + s = 0` with `s >= 0`.
    let mut rows = vec![a.to_vec()];
    rows.extend((0..n).map(|i| (0..n).map(|j| if i == j { -1.0 } else { 0.0 }).collect()));
    let a = CscMatrix::from(&rows);
    let mut b = vec![0.0; n + 1];
    b[0] = 1.0;
    let cones = [ZeroConeT(1), NonnegativeConeT(n)];
    let settings = DefaultSettingsBuilder::default()
        .verbose(false)
        .tol_gap_abs(1e-10)
        .tol_gap_rel(1e-10)
        .tol_feas(1e-10)
        .build()
        .ok()?;
    let mut solver = DefaultSolver::new(&p, q, &a, &b, &cones, settings).ok()?;
    solver.solve();
    match solver.solution.status {
        SolverStatus::Solved | SolverStatus::AlmostSolved => Some(solver.solution.x.clone()),
        _ => None,
    }
}

/// Scale a covariance so its average variance is one. Minimum variance and maximum Sharpe weights
/// do not change, and the solver works with numbers near one rather than 1e-4.
pub(super) fn unit_scale(covariance: &DMatrix<f64>) -> DMatrix<f64> {
    let average = covariance.trace() / covariance.nrows() as f64;
    if average > 0.0 && average.is_finite() { covariance / average } else { covariance.clone() }
}

/// Long-only, fully invested minimum variance: `min w'Sw` s.t. `1'w = 1, w >= 0`. Equal weight if
/// the solver fails.
fn min_variance_weights(covariance: &DMatrix<f64>) -> Vec<f64> {
    let n = covariance.nrows();
    nonnegative_qp(&unit_scale(covariance), &vec![0.0; n], &vec![1.0; n]).unwrap_or_else(|| uniform(n))
}

/// Long-only tangency portfolio (risk-free rate 0, the environment's cash): `max mu'w / sqrt(w'Sw)`
/// over the simplex, solved as `min y'Sy` s.t. `mu'y = 1, y >= 0` with `w = y / 1'y` (Cornuejols
/// and Tutuncu 2007, "Optimization methods in finance", section 8.2). The substitution needs an
/// asset with a positive mean; without one no long-only portfolio earns a positive premium, and
/// the minimum variance portfolio is returned instead.
fn max_sharpe_weights(covariance: &DMatrix<f64>, mean: &[f64]) -> Vec<f64> {
    let largest = mean.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !(largest > 0.0) {
        return min_variance_weights(covariance);
    }
    // Scaling mu scales y, not w.
    let mean: Vec<f64> = mean.iter().map(|m| m / largest).collect();
    let n = mean.len();
    match nonnegative_qp(&unit_scale(covariance), &vec![0.0; n], &mean) {
        Some(y) => y,
        None => min_variance_weights(covariance),
    }
}

/// Ledoit and Wolf (2004), "A well-conditioned estimator for large-dimensional covariance
/// matrices", J. Multivariate Analysis 88(2): the convex combination of the sample covariance `S`
/// and the scaled identity `m I` that minimizes the expected quadratic loss. With `n`
/// observations `x_k` (demeaned, rows of `returns`), `p` assets and the normalized Frobenius norm
/// `||A||^2 = tr(A A') / p` (their section 2):
///
/// - `S = X'X / n`, `m = tr(S) / p` (lemma 3.2),
/// - `d^2 = ||S - m I||^2` (lemma 3.3),
/// - `b_bar^2 = (1 / n^2) sum_k ||x_k x_k' - S||^2`, `b^2 = min(b_bar^2, d^2)` (lemma 3.4),
/// - `S* = (b^2 / d^2) m I + (1 - b^2 / d^2) S` (equation 14).
///
/// Returns `S*` and the shrinkage intensity `b^2 / d^2` (0 when `S` already is `m I`).
pub fn ledoit_wolf(returns: &DMatrix<f64>) -> (DMatrix<f64>, f64) {
    let (n, p) = returns.shape();
    let means = returns.row_mean();
    let x = DMatrix::from_fn(n, p, |k, i| returns[(k, i)] - means[i]);
    let sample = x.transpose() * &x / n as f64;
    let target = DMatrix::identity(p, p) * (sample.trace() / p as f64);
    let d2 = (&sample - &target).norm_squared() / p as f64;
    let mut b_bar2 = 0.0;
    for k in 0..n {
        let xk = x.row(k).transpose();
        b_bar2 += (&xk * xk.transpose() - &sample).norm_squared() / p as f64;
    }
    b_bar2 /= (n * n) as f64;
    let intensity = if d2 > 0.0 { b_bar2.min(d2) / d2 } else { 0.0 };
    (target * intensity + sample * (1.0 - intensity), intensity)
}

/// Markowitz (1952) minimum variance, long-only and fully invested: `min w'S w` s.t. `1'w = 1`,
/// `w >= 0`, re-estimated at every decision with `S` the [`ledoit_wolf`] shrunk covariance of the
/// last `window` periods' returns and solved as a QP by clarabel. With fewer periods of history it
/// uses all there is, and below [`MIN_HISTORY`] it holds equal weights.
///
/// Defaults: `window` 252 periods (a year of daily data), simple returns.
///
/// [`MIN_HISTORY`]: super::MIN_HISTORY
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MinVariance {
    /// Periods of returns in the rolling estimate.
    pub window: usize,
    pub returns: ReturnKind,
}

impl Default for MinVariance {
    fn default() -> Self {
        Self { window: 252, returns: ReturnKind::Simple }
    }
}

impl Policy for MinVariance {
    fn id(&self) -> PolicyId {
        PolicyId::Baseline(BaselineId::MinVariance)
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        let weights = match window_returns(view, self.window, self.returns) {
            Some(returns) => min_variance_weights(&ledoit_wolf(&returns).0),
            None => uniform(view.n_assets()),
        };
        write_assets(out, &weights);
    }
}

/// Markowitz (1952) maximum Sharpe ratio (the tangency portfolio, Sharpe 1966), long-only and
/// fully invested, with cash's zero return as the risk-free rate: re-estimated at every decision
/// from the sample mean and the [`ledoit_wolf`] shrunk covariance of the last `window` periods'
/// returns, solved as the QP `min y'S y` s.t. `mu'y = 1`, `y >= 0`, `w = y / 1'y` by clarabel.
/// When no asset has a positive mean return it falls back to [`MinVariance`]'s portfolio. With
/// fewer periods of history it uses all there is, and below [`MIN_HISTORY`] it holds equal
/// weights.
///
/// Defaults: `window` 252 periods, simple returns.
///
/// [`MIN_HISTORY`]: super::MIN_HISTORY
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MaxSharpe {
    /// Periods of returns in the rolling estimate.
    pub window: usize,
    pub returns: ReturnKind,
}

impl Default for MaxSharpe {
    fn default() -> Self {
        Self { window: 252, returns: ReturnKind::Simple }
    }
}

impl Policy for MaxSharpe {
    fn id(&self) -> PolicyId {
        PolicyId::Baseline(BaselineId::MaxSharpe)
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        let weights = match window_returns(view, self.window, self.returns) {
            Some(returns) => {
                let mean: Vec<f64> = returns.row_mean().iter().copied().collect();
                max_sharpe_weights(&ledoit_wolf(&returns).0, &mean)
            }
            None => uniform(view.n_assets()),
        };
        write_assets(out, &weights);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::testing::*;
    use crate::env::Market;
    use ndarray::Array2;
    use std::sync::Arc;

    #[test]
    fn ledoit_wolf_intensity_by_hand() {
        // Observations (1, 0), (-1, 2), (0, -2) (plus a constant per column, which demeaning
        // removes). S = X'X / 3 = [[2, -2], [-2, 8]] / 3, m = tr(S) / 2 = 5/3,
        // S - mI = [[-1, -2/3], [-2/3, 1]], d^2 = (1 + 4/9 + 4/9 + 1) / 2 = 13/9.
        // ||x_k x_k' - S||^2 / 2 for k = 1, 2, 3:
        //   [[1/3, 2/3], [2/3, -8/3]] -> 73/18, [[1/3, -4/3], [-4/3, 4/3]] -> 49/18,
        //   [[-2/3, 2/3], [2/3, 4/3]] -> 28/18; sum 150/18 = 25/3, b_bar^2 = (25/3) / 9 = 25/27.
        // b^2 = min(25/27, 39/27) = 25/27, intensity = 25/39.
        // S* = (25/39)(5/3) I + (14/39) S = [[153, -28], [-28, 237]] / 117.
        let returns = DMatrix::from_row_slice(3, 2, &[1.5, 1.0, -0.5, 3.0, 0.5, -1.0]);
        let (covariance, intensity) = ledoit_wolf(&returns);
        assert!((intensity - 25.0 / 39.0).abs() < 1e-14, "{intensity}");
        let expected = DMatrix::from_row_slice(2, 2, &[153.0, -28.0, -28.0, 237.0]) / 117.0;
        assert!((covariance - expected).abs().max() < 1e-14);
    }

    #[test]
    fn ledoit_wolf_intensity_matches_an_independent_formula() {
        // scikit-learn's form of the same estimator: with centered X,
        // b_bar^2 = (sum_k ||x_k||^4 / n - ||S||_F^2) / (p n), since
        // sum_k ||x_k x_k' - S||_F^2 = sum_k ||x_k||^4 - n ||S||_F^2.
        let market = synth_market(4, 300, 2);
        let returns = returns_from_prices(&market, 299, 120);
        let (n, p) = returns.shape();
        let means = returns.row_mean();
        let x = DMatrix::from_fn(n, p, |k, i| returns[(k, i)] - means[i]);
        let s = x.transpose() * &x / n as f64;
        let fourth: f64 = x.row_iter().map(|r| r.norm_squared().powi(2)).sum();
        let beta = (fourth / n as f64 - s.norm_squared()) / (p * n) as f64;
        let mu = s.trace() / p as f64;
        let delta = (s.norm_squared() - 2.0 * mu * s.trace() + p as f64 * mu * mu) / p as f64;
        let expected = beta.min(delta) / delta;
        let (_, intensity) = ledoit_wolf(&returns);
        assert!(intensity > 0.0 && intensity < 1.0);
        assert!((intensity - expected).abs() < 1e-10, "{intensity} vs {expected}");
    }

    #[test]
    fn min_variance_matches_the_two_asset_closed_form() {
        let market = synth_market(2, 400, 4);
        let row = 350;
        let (s, _) = ledoit_wolf(&returns_from_prices(&market, row, 252));
        let (s11, s22, s12) = (s[(0, 0)], s[(1, 1)], s[(0, 1)]);
        let w1 = (s22 - s12) / (s11 + s22 - 2.0 * s12);
        assert!(w1 > 0.0 && w1 < 1.0, "the example should be interior: {w1}");
        let out = decide_at(&mut MinVariance::default(), &market, row, &[1.0, 0.0, 0.0]);
        assert_close(&out, &[0.0, w1, 1.0 - w1], 1e-6);
    }

    /// Two assets with positive drifts and correlated deterministic wiggles.
    fn drifting_pair(periods: usize) -> Arc<Market> {
        let mut prices = Array2::zeros((periods + 1, 2));
        prices.row_mut(0).fill(100.0);
        for t in 1..=periods {
            let s = t as f64;
            let r1 = 0.002 + 0.01 * (0.9 * s).sin();
            let r2 = 0.0015 + 0.008 * (1.3 * s).cos() + 0.004 * (0.9 * s).sin();
            prices[[t, 0]] = prices[[t - 1, 0]] * (1.0 + r1);
            prices[[t, 1]] = prices[[t - 1, 1]] * (1.0 + r2);
        }
        market_from_prices(prices)
    }

    #[test]
    fn max_sharpe_matches_the_two_asset_tangency_portfolio() {
        let market = drifting_pair(300);
        let row = 300;
        let returns = returns_from_prices(&market, row, 252);
        let (s, _) = ledoit_wolf(&returns);
        let mu = returns.row_mean();
        // Tangency: w proportional to S^-1 mu; for 2 x 2, S^-1 = [[s22, -s12], [-s12, s11]] / det.
        let z1 = s[(1, 1)] * mu[0] - s[(0, 1)] * mu[1];
        let z2 = -s[(0, 1)] * mu[0] + s[(0, 0)] * mu[1];
        assert!(z1 > 0.0 && z2 > 0.0, "the example should be interior: {z1}, {z2}");
        let out = decide_at(&mut MaxSharpe::default(), &market, row, &[1.0, 0.0, 0.0]);
        assert_close(&out, &[0.0, z1 / (z1 + z2), z2 / (z1 + z2)], 1e-6);
    }

    #[test]
    fn max_sharpe_falls_back_to_min_variance_without_a_positive_mean() {
        // Both assets lose on average over the window.
        let mut prices = Array2::zeros((101, 3));
        prices.row_mut(0).fill(100.0);
        for t in 1..=100 {
            let s = t as f64;
            for i in 0..3 {
                let r = -0.003 + 0.01 * (0.7 * s + i as f64).sin() * (1.0 + i as f64 * 0.5);
                prices[[t, i]] = prices[[t - 1, i]] * (1.0 + r);
            }
        }
        let market = market_from_prices(prices);
        let held = [1.0, 0.0, 0.0, 0.0];
        let sharpe = decide_at(&mut MaxSharpe::default(), &market, 100, &held);
        let variance = decide_at(&mut MinVariance::default(), &market, 100, &held);
        assert_eq!(sharpe, variance);
    }
}
