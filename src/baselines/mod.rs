//! Classic allocation strategies, run as policies through the same environment as agents.
//!
//! Every baseline is a [`Policy`]: it pays the same costs and drifts with the same prices as an
//! agent, so a comparison measures the decisions and nothing else. Three families:
//!
//! - Portfolio rules: [`EqualWeight`] (uniform CRP), [`BuyAndHold`], [`MinVariance`],
//!   [`MaxSharpe`], [`InverseVolatility`], [`TrendFollowing`].
//! - Online portfolio selection (OLPS, Li and Hoi 2014, "Online portfolio selection: a survey"):
//!   [`Olmar`], [`Pamr`], [`Eg`], [`Ons`]. They allocate among the assets only (cash weight 0),
//!   start from uniform weights at the first decision (`b_1 = 1/N`, as in their papers) and
//!   update at every later decision from the assets' price relatives since the previous one (the
//!   holding period's `x_t`; one period when rebalancing every period).
//! - Hindsight benchmarks: [`BestAsset`] and [`Bcrp`] are *not causal*: their constructors read
//!   the whole evaluation range. They bound what a fixed allocation could have done, and their
//!   names say "(hindsight)". [`BaselineId::uses_hindsight`] tells them apart.
//!
//! Causal baselines read the market only through [`MarketView`], which refuses rows after the
//! decision. Every output is made valid in f64 (finite, non-negative, summing to one) before it
//! reaches the environment.

use std::sync::Arc;

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, NonnegativeConeT, SolverStatus, ZeroConeT,
};
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

pub use crate::backtest::EqualWeight;
use crate::backtest::{BaselineId, MarketView, Policy, PolicyId};
use crate::env::{DecisionRange, Market};

// ------------------------------------------------------------------------------------------------
// Registry
// ------------------------------------------------------------------------------------------------

/// The baseline `id` with its default parameters. `market` and `range` are read only by the
/// hindsight baselines; the others see the market through each decision's [`MarketView`].
pub fn baseline(
    id: BaselineId,
    market: &Arc<Market>,
    range: DecisionRange,
) -> Result<Box<dyn Policy>, BaselineError> {
    Ok(match id {
        BaselineId::EqualWeight => Box::new(EqualWeight),
        BaselineId::BuyAndHold => Box::new(BuyAndHold::default()),
        BaselineId::BestAsset => Box::new(BestAsset::new(market, range)?),
        BaselineId::Bcrp => Box::new(Bcrp::new(market, range)?),
        BaselineId::MinVariance => Box::new(MinVariance::default()),
        BaselineId::MaxSharpe => Box::new(MaxSharpe::default()),
        BaselineId::InverseVolatility => Box::new(InverseVolatility::default()),
        BaselineId::TrendFollowing => Box::new(TrendFollowing::default()),
        BaselineId::Olmar => Box::new(Olmar::default()),
        BaselineId::Pamr => Box::new(Pamr::default()),
        BaselineId::Eg => Box::new(Eg::default()),
        BaselineId::Ons => Box::new(Ons::default()),
    })
}

/// Every baseline of [`BaselineId::ALL`], with default parameters. Fails only when `range` does
/// not fit `market` (the hindsight baselines read it).
pub fn all(market: &Arc<Market>, range: DecisionRange) -> Result<Vec<Box<dyn Policy>>, BaselineError> {
    BaselineId::ALL.into_iter().map(|id| baseline(id, market, range)).collect()
}

/// Why a baseline could not be built; only the hindsight baselines, which read the evaluation
/// range at construction, can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaselineError {
    #[error("decision range {first}..{last} does not fit a market of {rows} rows")]
    RangeOutsideMarket { first: usize, last: usize, rows: usize },
    #[error("BCRP needs to rebalance at least every period")]
    NoRebalancing,
}

// ------------------------------------------------------------------------------------------------
// Shared pieces
// ------------------------------------------------------------------------------------------------

/// Least history, in periods, a rolling estimator uses; with less it holds equal weights, since
/// a covariance or a volatility from a handful of returns is noise.
pub const MIN_HISTORY: usize = 20;

/// Which returns a rolling estimator is fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnKind {
    /// `x - 1`: a portfolio's simple return is linear in them, as mean-variance assumes.
    #[default]
    Simple,
    /// `ln x`.
    Log,
}

/// Make `out` (cash first) a valid allocation: NaN, infinite and negative entries become zero and
/// the rest is renormalized in f64; with nothing positive left, equal weight over the assets.
fn sanitize(out: &mut [f64]) {
    for w in out.iter_mut() {
        if !(*w > 0.0) || !w.is_finite() {
            *w = 0.0;
        }
    }
    let sum: f64 = out.iter().sum();
    if sum > 0.0 && sum.is_finite() {
        out.iter_mut().for_each(|w| *w /= sum);
    } else {
        out[0] = 0.0;
        let n = out.len() - 1;
        out[1..].fill(1.0 / n as f64);
    }
}

/// Write asset weights into `out` with no cash, made valid.
fn write_assets(out: &mut [f64], assets: &[f64]) {
    out[0] = 0.0;
    out[1..].copy_from_slice(assets);
    sanitize(out);
}

fn uniform(n: usize) -> Vec<f64> {
    vec![1.0 / n as f64; n]
}

/// Returns `[period][asset]` of the at most `window` periods ending at `view.row` (period `t` is
/// the move from row `t - 1` to `t`), or `None` with fewer than [`MIN_HISTORY`] of them.
fn window_returns(view: &MarketView<'_>, window: usize, kind: ReturnKind) -> Option<DMatrix<f64>> {
    // Row 0 has no period before it.
    let periods = window.min(view.row);
    if periods < MIN_HISTORY {
        return None;
    }
    let first = view.row + 1 - periods;
    Some(DMatrix::from_fn(periods, view.n_assets(), |k, i| {
        let x = view.relatives(first + k)[1 + i];
        match kind {
            ReturnKind::Simple => x - 1.0,
            ReturnKind::Log => x.ln(),
        }
    }))
}

/// Euclidean projection of `v` onto the probability simplex `{w : w >= 0, sum w = 1}`
/// (Duchi, Shalev-Shwartz, Singer and Chandra 2008, "Efficient projections onto the l1-ball for
/// learning in high dimensions", figure 1): with `u` sorted decreasing,
/// `rho = max{j : u_j - (sum_{r<=j} u_r - 1) / j > 0}`, `theta = (sum_{r<=rho} u_r - 1) / rho`,
/// and `w_i = max(v_i - theta, 0)`.
pub fn project_simplex(v: &[f64]) -> Vec<f64> {
    let mut u = v.to_vec();
    u.sort_by(|a, b| b.total_cmp(a));
    let (mut cumulative, mut theta) = (0.0, 0.0);
    for (j, &uj) in u.iter().enumerate() {
        cumulative += uj;
        let candidate = (cumulative - 1.0) / (j + 1) as f64;
        // The condition holds for a prefix of j, so the last j that passes is rho.
        if uj - candidate > 0.0 {
            theta = candidate;
        }
    }
    v.iter().map(|&vi| (vi - theta).max(0.0)).collect()
}

/// `min_x 1/2 x'Px + q'x` subject to `a'x = 1` and `x >= 0`, solved by clarabel's interior-point
/// method. `None` when the solver does not report a solution.
fn nonnegative_qp(p: &DMatrix<f64>, q: &[f64], a: &[f64]) -> Option<Vec<f64>> {
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
fn unit_scale(covariance: &DMatrix<f64>) -> DMatrix<f64> {
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

// ------------------------------------------------------------------------------------------------
// Portfolio rules
// ------------------------------------------------------------------------------------------------

/// Uniform buy and hold (UBAH; Li and Hoi 2014, section 3.1): equal weights over the assets at
/// the first decision, then the drifted weights are kept, so it never trades again. No
/// parameters.
#[derive(Debug, Clone, Default)]
pub struct BuyAndHold {
    invested: bool,
}

impl Policy for BuyAndHold {
    fn id(&self) -> PolicyId {
        PolicyId::Baseline(BaselineId::BuyAndHold)
    }

    fn reset(&mut self) {
        self.invested = false;
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        if self.invested {
            // Copied, not renormalized: the environment's own drifted weights are valid, and
            // dividing them by a sum one ulp away from 1 would trade rounding errors.
            out.copy_from_slice(view.weights);
        } else {
            write_assets(out, &uniform(view.n_assets()));
            self.invested = true;
        }
    }
}

fn check_range(market: &Market, range: DecisionRange) -> Result<(), BaselineError> {
    if range.first >= range.last || range.last >= market.n_periods() {
        return Err(BaselineError::RangeOutsideMarket {
            first: range.first,
            last: range.last,
            rows: market.n_periods(),
        });
    }
    Ok(())
}

/// The best single asset in hindsight ("best stock", Li and Hoi 2014, section 3.1): all wealth in
/// the asset with the highest price ratio `p_last / p_first` over the evaluation range, held
/// throughout. Not causal. No parameters.
#[derive(Debug, Clone)]
pub struct BestAsset {
    asset: usize,
}

impl BestAsset {
    pub fn new(market: &Market, range: DecisionRange) -> Result<Self, BaselineError> {
        check_range(market, range)?;
        let prices = &market.panel.prices;
        let growth = |i: usize| prices[[range.last, i]] / prices[[range.first, i]];
        let asset = (1..market.n_assets()).fold(0, |best, i| if growth(i) > growth(best) { i } else { best });
        Ok(Self { asset })
    }

    /// Index of the chosen asset among the assets (0 is the first asset, not cash).
    pub fn asset(&self) -> usize {
        self.asset
    }
}

impl Policy for BestAsset {
    fn id(&self) -> PolicyId {
        PolicyId::Baseline(BaselineId::BestAsset)
    }

    fn decide(&mut self, _view: &MarketView<'_>, out: &mut [f64]) {
        out.fill(0.0);
        out[1 + self.asset] = 1.0;
    }
}

/// Best constant rebalanced portfolio in hindsight (Cover 1991, "Universal portfolios",
/// Mathematical Finance 1(1)): the fixed asset weights `w` that maximize the final wealth of
/// rebalancing to `w` at every decision, `max_w sum_t ln(w . x_t)` over the simplex, where `x_t`
/// are the assets' price relatives of each holding period of the evaluation range. Not causal.
/// Solved to machine precision by [`bcrp_weights`]. No parameters.
#[derive(Debug, Clone)]
pub struct Bcrp {
    weights: Vec<f64>,
}

impl Bcrp {
    /// Rebalancing every period.
    pub fn new(market: &Market, range: DecisionRange) -> Result<Self, BaselineError> {
        Self::rebalanced_every(market, range, 1)
    }

    /// Rebalancing every `every` periods, as an environment with `rebalance_every = every` does:
    /// each holding period's relatives are the product of its periods'.
    pub fn rebalanced_every(
        market: &Market,
        range: DecisionRange,
        every: usize,
    ) -> Result<Self, BaselineError> {
        check_range(market, range)?;
        if every == 0 {
            return Err(BaselineError::NoRebalancing);
        }
        let n = market.n_assets();
        let holdings: Vec<Vec<f64>> = (range.first..range.last)
            .step_by(every)
            .map(|start| {
                let mut x = vec![1.0; n];
                for t in start + 1..=(start + every).min(range.last) {
                    x.iter_mut().zip(&market.relatives(t)[1..]).for_each(|(x, r)| *x *= r);
                }
                x
            })
            .collect();
        Ok(Self { weights: bcrp_weights(&holdings) })
    }

    /// The asset weights (no cash).
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }
}

impl Policy for Bcrp {
    fn id(&self) -> PolicyId {
        PolicyId::Baseline(BaselineId::Bcrp)
    }

    fn decide(&mut self, _view: &MarketView<'_>, out: &mut [f64]) {
        write_assets(out, &self.weights);
    }
}

/// `sum_t ln(w . x_t)`.
fn log_wealth(relatives: &[Vec<f64>], w: &[f64]) -> f64 {
    relatives.iter().map(|x| dot(w, x).ln()).sum()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// The weights on the simplex that maximize `f(w) = sum_t ln(w . x_t)` for positive relatives
/// `x_t` (rows of `relatives`), the BCRP.
///
/// `f` is concave with gradient `g = sum_t x_t / (w . x_t)` and Hessian
/// `H = -sum_t x_t x_t' / (w . x_t)^2`. The method is a primal active-set Newton method (Nocedal
/// and Wright 2006, "Numerical optimization", chapter 16, applied to `f`'s local quadratic
/// models): on the set of free weights, a Newton step constrained to `sum d = 0`
/// (`[-H 1; 1' 0] [d; nu] = [g; 0]`), with Armijo backtracking far from the optimum and the step
/// cut where a weight reaches zero (which then leaves the free set). At a stationary point of the
/// free set, a fixed weight whose gradient exceeds the multiplier `nu` is freed; when none does,
/// the KKT conditions of the simplex hold (`g_i = nu` on the support, `g_i <= nu` off it), so the
/// point is the global maximum. Newton converges quadratically, so the result is exact to
/// rounding, unlike exponentiated gradient or Frank-Wolfe iterations.
pub fn bcrp_weights(relatives: &[Vec<f64>]) -> Vec<f64> {
    let n = relatives.first().map_or(0, Vec::len);
    let mut w = uniform(n);
    if n <= 1 {
        return w;
    }
    let periods = relatives.len() as f64;
    let mut free = vec![true; n];
    for _ in 0..500 {
        let (g, hessian) = log_wealth_derivatives(relatives, &w);
        let active: Vec<usize> = (0..n).filter(|&i| free[i]).collect();
        let (step, nu) = constrained_newton_step(&g, &hessian, &active);
        let mut d = vec![0.0; n];
        for (&i, &di) in active.iter().zip(&step) {
            d[i] = di;
        }
        // Newton decrement squared: d'(-H)d = g'd, twice the predicted gain of the step.
        let decrement = dot(&g, &d);
        if decrement <= 1e-20 * periods || d.iter().all(|di| di.abs() <= 1e-15) {
            let entering = (0..n)
                .filter(|&j| !free[j] && g[j] > nu + 1e-12 * nu.abs())
                .max_by(|&a, &b| g[a].total_cmp(&g[b]));
            match entering {
                Some(j) => {
                    free[j] = true;
                    continue;
                }
                None => {
                    // This last step gains less than f's rounding can show, but it still brings
                    // the weights quadratically closer.
                    if w.iter().zip(&d).all(|(w, d)| w + d >= 0.0) {
                        w.iter_mut().zip(&d).for_each(|(w, d)| *w += d);
                        let sum: f64 = w.iter().sum();
                        w.iter_mut().for_each(|w| *w /= sum);
                    }
                    break;
                }
            }
        }
        let (mut alpha_max, mut blocking) = (f64::INFINITY, None);
        for &i in &active {
            if d[i] < 0.0 && w[i] / -d[i] < alpha_max {
                alpha_max = w[i] / -d[i];
                blocking = Some(i);
            }
        }
        let mut alpha = alpha_max.min(1.0);
        // Near the optimum the pure Newton step converges quadratically (-ln is self-concordant,
        // so this holds once the decrement is well below 1), and f's rounding, which grows with
        // the number of periods, would swamp an Armijo comparison of smaller gains.
        if decrement > 1e-10 * periods {
            let f0 = log_wealth(relatives, &w);
            let moved = |alpha: f64| -> Vec<f64> { w.iter().zip(&d).map(|(w, d)| w + alpha * d).collect() };
            while alpha > 1e-12 && !(log_wealth(relatives, &moved(alpha)) >= f0 + 1e-4 * alpha * decrement) {
                alpha *= 0.5;
            }
        }
        for (wi, di) in w.iter_mut().zip(&d) {
            *wi = (*wi + alpha * di).max(0.0);
        }
        if let Some(i) = blocking.filter(|_| alpha == alpha_max) {
            w[i] = 0.0;
            free[i] = false;
        }
        let sum: f64 = w.iter().sum();
        w.iter_mut().for_each(|wi| *wi /= sum);
    }
    w
}

/// Gradient and Hessian of `sum_t ln(w . x_t)`.
fn log_wealth_derivatives(relatives: &[Vec<f64>], w: &[f64]) -> (Vec<f64>, DMatrix<f64>) {
    let n = w.len();
    let mut g = vec![0.0; n];
    let mut hessian = DMatrix::zeros(n, n);
    for x in relatives {
        let growth = dot(w, x);
        for i in 0..n {
            g[i] += x[i] / growth;
            for j in 0..=i {
                hessian[(i, j)] -= x[i] * x[j] / (growth * growth);
            }
        }
    }
    for i in 0..n {
        for j in 0..i {
            hessian[(j, i)] = hessian[(i, j)];
        }
    }
    (g, hessian)
}

/// Newton step over the weights in `active`, keeping their sum: solves
/// `[-H + r I, 1; 1', 0] [d; nu] = [g; 0]`, with a tiny ridge `r` so that duplicate assets (a
/// singular `H`) still give a step. Returns `d` over `active` and the multiplier `nu`.
fn constrained_newton_step(g: &[f64], hessian: &DMatrix<f64>, active: &[usize]) -> (Vec<f64>, f64) {
    let k = active.len();
    let scale = active.iter().map(|&i| -hessian[(i, i)]).sum::<f64>() / k as f64;
    let ridge = 1e-12 * scale.max(f64::MIN_POSITIVE);
    let mut kkt = DMatrix::zeros(k + 1, k + 1);
    let mut rhs = DVector::zeros(k + 1);
    for (a, &i) in active.iter().enumerate() {
        for (b, &j) in active.iter().enumerate() {
            kkt[(a, b)] = -hessian[(i, j)];
        }
        kkt[(a, a)] += ridge;
        kkt[(a, k)] = 1.0;
        kkt[(k, a)] = 1.0;
        rhs[a] = g[i];
    }
    match kkt.lu().solve(&rhs) {
        Some(solution) => (solution.rows(0, k).iter().copied().collect(), solution[k]),
        // Unreachable with the ridge; a zero step ends the search where it stands.
        None => (vec![0.0; k], active.iter().map(|&i| g[i]).sum::<f64>() / k as f64),
    }
}

/// Markowitz (1952) minimum variance, long-only and fully invested: `min w'S w` s.t. `1'w = 1`,
/// `w >= 0`, re-estimated at every decision with `S` the [`ledoit_wolf`] shrunk covariance of the
/// last `window` periods' returns and solved as a QP by clarabel. With fewer periods of history it
/// uses all there is, and below [`MIN_HISTORY`] it holds equal weights.
///
/// Defaults: `window` 252 periods (a year of daily data), simple returns.
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

/// Naive risk parity: `w_i = (1 / sigma_i) / sum_j (1 / sigma_j)`, with `sigma_i` the sample
/// standard deviation (n - 1) of asset `i`'s simple returns over the last `window` periods. It is
/// the equal-risk-contribution portfolio when all correlations are equal (Maillard, Roncalli and
/// Teiletche 2010, "The properties of equally weighted risk contribution portfolios", J.
/// Portfolio Management 36(4)). With fewer periods of history it uses all there is, and below
/// [`MIN_HISTORY`] it holds equal weights.
///
/// Defaults: `window` 60 periods.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InverseVolatility {
    /// Periods of returns in the rolling volatility.
    pub window: usize,
}

impl Default for InverseVolatility {
    fn default() -> Self {
        Self { window: 60 }
    }
}

impl Policy for InverseVolatility {
    fn id(&self) -> PolicyId {
        PolicyId::Baseline(BaselineId::InverseVolatility)
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        let Some(returns) = window_returns(view, self.window, ReturnKind::Simple) else {
            return write_assets(out, &uniform(view.n_assets()));
        };
        let n = returns.nrows() as f64;
        let weights: Vec<f64> = returns
            .column_iter()
            .map(|r| {
                let mean = r.mean();
                let sigma = (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
                // A constant price would be an infinite weight: cap it, so such an asset simply
                // takes (nearly) everything, which is the limit of the rule.
                1.0 / sigma.max(1e-12)
            })
            .collect();
        write_assets(out, &weights);
    }
}

/// Time-series momentum, long-only (Moskowitz, Ooi and Pedersen 2012, "Time series momentum",
/// J. Financial Economics 104(2)): each asset whose return from row `t - lookback` to row
/// `t - skip` is positive gets weight `1 / N`; the weight of the others goes to cash. (The paper
/// goes short the losers; a long-only portfolio goes flat.) With fewer rows of history it uses
/// all there is, and below [`MIN_HISTORY`] periods it holds equal weights.
///
/// Defaults: `lookback` 252 periods (the paper's 12 months), `skip` 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrendFollowing {
    /// Periods over which the trend is measured.
    pub lookback: usize,
    /// Most recent periods left out of the signal (0 = none).
    pub skip: usize,
}

impl Default for TrendFollowing {
    fn default() -> Self {
        Self { lookback: 252, skip: 0 }
    }
}

impl Policy for TrendFollowing {
    fn id(&self) -> PolicyId {
        PolicyId::Baseline(BaselineId::TrendFollowing)
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        let n = view.n_assets();
        let start = view.row.saturating_sub(self.lookback);
        let end = view.row.saturating_sub(self.skip);
        if end < start + MIN_HISTORY {
            return write_assets(out, &uniform(n));
        }
        let prices = view.prices();
        out[0] = 1.0;
        for i in 0..n {
            let rising = prices[[end, i]] > prices[[start, i]];
            out[1 + i] = if rising { 1.0 / n as f64 } else { 0.0 };
            out[0] -= out[1 + i];
        }
        sanitize(out);
    }
}

// ------------------------------------------------------------------------------------------------
// Online portfolio selection
// ------------------------------------------------------------------------------------------------

/// What an online strategy carries between decisions: where and what it last decided.
#[derive(Debug, Clone, Default)]
struct OnlineState {
    last: Option<(usize, Vec<f64>)>,
}

impl OnlineState {
    /// The previous decision's asset weights `b_t` and the assets' price relatives `x_t` since
    /// then (the holding period's), or `None` at the first decision.
    fn previous(&self, view: &MarketView<'_>) -> Option<(Vec<f64>, Vec<f64>)> {
        let (row, b) = self.last.as_ref()?;
        let mut x = vec![1.0; b.len()];
        for t in row + 1..=view.row {
            x.iter_mut().zip(&view.relatives(t)[1..]).for_each(|(x, r)| *x *= r);
        }
        Some((b.clone(), x))
    }

    /// Record and write the decision.
    fn decide(&mut self, view: &MarketView<'_>, b: &[f64], out: &mut [f64]) {
        write_assets(out, b);
        self.last = Some((view.row, out[1..].to_vec()));
    }
}

/// `x - mean(x)` and its squared norm.
fn deviation(x: &[f64]) -> (Vec<f64>, f64) {
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    let dev: Vec<f64> = x.iter().map(|x| x - mean).collect();
    let norm2 = dot(&dev, &dev);
    (dev, norm2)
}

/// OLMAR-1, on-line moving average reversion (Li and Hoi 2012, "On-line portfolio selection with
/// moving average reversion", ICML, algorithm 2). Predicts the next relatives as the moving
/// average over the price, `x~_i = (1/w) sum_{k=0}^{w-1} p_{t-k,i} / p_{t,i}` (over the data's
/// rows, whatever the rebalancing interval), then moves the weights the least (in Euclidean
/// distance) to expect a return of at least `epsilon`:
/// `b_{t+1} = proj_simplex(b_t + lambda (x~ - mean(x~)))`,
/// `lambda = max(0, (epsilon - b_t . x~) / ||x~ - mean(x~)||^2)` (0 when every `x~_i` is equal).
/// With fewer than `window` rows of history the average uses those there are.
///
/// Defaults (the paper's and universal-portfolios'): `window` 5, `epsilon` 10.
#[derive(Debug, Clone)]
pub struct Olmar {
    pub window: usize,
    pub epsilon: f64,
    state: OnlineState,
}

impl Olmar {
    pub fn new(window: usize, epsilon: f64) -> Self {
        Self { window: window.max(1), epsilon, state: OnlineState::default() }
    }
}

impl Default for Olmar {
    fn default() -> Self {
        Self::new(5, 10.0)
    }
}

impl Policy for Olmar {
    fn id(&self) -> PolicyId {
        PolicyId::Baseline(BaselineId::Olmar)
    }

    fn reset(&mut self) {
        self.state = OnlineState::default();
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        let b = match self.state.previous(view) {
            None => uniform(view.n_assets()),
            Some((b, _)) => {
                let prices = view.prices();
                let first = (view.row + 1).saturating_sub(self.window);
                let rows = (view.row + 1 - first) as f64;
                let predicted: Vec<f64> = (0..view.n_assets())
                    .map(|i| {
                        (first..=view.row).map(|t| prices[[t, i]]).sum::<f64>() / rows / prices[[view.row, i]]
                    })
                    .collect();
                let (dev, norm2) = deviation(&predicted);
                let lambda =
                    if norm2 > 0.0 { ((self.epsilon - dot(&b, &predicted)) / norm2).max(0.0) } else { 0.0 };
                project_simplex(&b.iter().zip(&dev).map(|(b, d)| b + lambda * d).collect::<Vec<_>>())
            }
        };
        self.state.decide(view, &b, out);
    }
}

/// PAMR, passive aggressive mean reversion, basic variant (Li, Zhao, Hoi and Gopalkrishnan 2012,
/// "PAMR: passive aggressive mean reversion strategy for portfolio selection", Machine Learning
/// 87(2), algorithm 1). Betting on reversal, it moves the weights the least to make the last
/// relatives' return at most `epsilon`:
/// `b_{t+1} = proj_simplex(b_t - tau (x_t - mean(x_t)))`,
/// `tau = max(0, b_t . x_t - epsilon) / ||x_t - mean(x_t)||^2` (0 when every `x_t,i` is equal).
///
/// Defaults (the paper's and universal-portfolios'): `epsilon` 0.5.
#[derive(Debug, Clone)]
pub struct Pamr {
    pub epsilon: f64,
    state: OnlineState,
}

impl Pamr {
    pub fn new(epsilon: f64) -> Self {
        Self { epsilon, state: OnlineState::default() }
    }
}

impl Default for Pamr {
    fn default() -> Self {
        Self::new(0.5)
    }
}

impl Policy for Pamr {
    fn id(&self) -> PolicyId {
        PolicyId::Baseline(BaselineId::Pamr)
    }

    fn reset(&mut self) {
        self.state = OnlineState::default();
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        let b = match self.state.previous(view) {
            None => uniform(view.n_assets()),
            Some((b, x)) => {
                let (dev, norm2) = deviation(&x);
                let loss = (dot(&b, &x) - self.epsilon).max(0.0);
                let tau = if norm2 > 0.0 { loss / norm2 } else { 0.0 };
                project_simplex(&b.iter().zip(&dev).map(|(b, d)| b - tau * d).collect::<Vec<_>>())
            }
        };
        self.state.decide(view, &b, out);
    }
}

/// Exponentiated gradient (Helmbold, Schapire, Singer and Warmuth 1998, "On-line portfolio
/// selection using multiplicative updates", Mathematical Finance 8(4), equation 3.3):
/// `b_{t+1,i} = b_{t,i} exp(eta x_{t,i} / (b_t . x_t)) / Z`, with `Z` normalizing.
///
/// Defaults (universal-portfolios'): `eta` 0.05.
#[derive(Debug, Clone)]
pub struct Eg {
    pub eta: f64,
    state: OnlineState,
}

impl Eg {
    pub fn new(eta: f64) -> Self {
        Self { eta, state: OnlineState::default() }
    }
}

impl Default for Eg {
    fn default() -> Self {
        Self::new(0.05)
    }
}

impl Policy for Eg {
    fn id(&self) -> PolicyId {
        PolicyId::Baseline(BaselineId::Eg)
    }

    fn reset(&mut self) {
        self.state = OnlineState::default();
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        let b = match self.state.previous(view) {
            None => uniform(view.n_assets()),
            Some((b, x)) => {
                let growth = dot(&b, &x);
                // Exponents shifted by their maximum: the same weights after normalizing, no
                // overflow for large eta.
                let exponents: Vec<f64> = x.iter().map(|x| self.eta * x / growth).collect();
                let top = exponents.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                b.iter().zip(&exponents).map(|(b, e)| b * (e - top).exp()).collect()
            }
        };
        self.state.decide(view, &b, out);
    }
}

/// Online Newton step (Agarwal, Hazan, Kale and Schapire 2006, "Algorithms for portfolio
/// management based on the Newton method", ICML, figure 1), as universal-portfolios implements
/// it: with `grad_t = x_t / (p_t . x_t)`,
/// `A_t = I + sum_{s<=t} grad_s grad_s'`, `c_t = (1 + 1/beta) sum_{s<=t} grad_s` and
/// `p_{t+1} = (1 - eta) proj_A(delta A_t^{-1} c_t) + eta / N`, where
/// `proj_A(y) = argmin_{z in simplex} (z - y)' A_t (z - y)` is a QP solved by clarabel (the
/// previous weights are kept in the rare case it fails).
///
/// Defaults (universal-portfolios'): `delta` 1/8, `beta` 1, `eta` 0.
#[derive(Debug, Clone)]
pub struct Ons {
    pub delta: f64,
    pub beta: f64,
    pub eta: f64,
    state: OnlineState,
    /// `A_t` and `c_t`, sized at the first decision.
    a: DMatrix<f64>,
    c: DVector<f64>,
}

impl Ons {
    pub fn new(delta: f64, beta: f64, eta: f64) -> Self {
        Self {
            delta,
            beta,
            eta,
            state: OnlineState::default(),
            a: DMatrix::zeros(0, 0),
            c: DVector::zeros(0),
        }
    }
}

impl Default for Ons {
    fn default() -> Self {
        Self::new(0.125, 1.0, 0.0)
    }
}

impl Policy for Ons {
    fn id(&self) -> PolicyId {
        PolicyId::Baseline(BaselineId::Ons)
    }

    fn reset(&mut self) {
        self.state = OnlineState::default();
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        let n = view.n_assets();
        let b = match self.state.previous(view) {
            None => {
                self.a = DMatrix::identity(n, n);
                self.c = DVector::zeros(n);
                uniform(n)
            }
            Some((p, x)) => {
                let growth = dot(&p, &x);
                let grad = DVector::from_iterator(n, x.iter().map(|x| x / growth));
                self.a += &grad * grad.transpose();
                self.c += &grad * (1.0 + 1.0 / self.beta);
                // A is the identity plus outer products: positive definite.
                let target = match self.a.clone().cholesky() {
                    Some(cholesky) => cholesky.solve(&self.c) * self.delta,
                    None => DVector::from_column_slice(&p),
                };
                // The projection is unchanged by scaling A: bring its entries near one for the solver.
                let metric = unit_scale(&self.a);
                let q: Vec<f64> = (-(&metric * &target)).iter().copied().collect();
                match nonnegative_qp(&metric, &q, &vec![1.0; n]) {
                    Some(projected) => projected
                        .iter()
                        .map(|z| (1.0 - self.eta) * z.max(0.0) + self.eta / n as f64)
                        .collect(),
                    None => p,
                }
            }
        };
        self.state.decide(view, &b, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::backtest;
    use crate::data::synth::{self, SynthConfig};
    use crate::data::{PricePanel, TimeIndex};
    use crate::env::config::EpisodeConfig;
    use crate::env::{CostConfig, EnvSettings, Limits, RewardConfig};
    use crate::features::{Feature, FeatureConfig};
    use ndarray::Array2;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    fn returns_only() -> FeatureConfig {
        FeatureConfig { window: 1, features: vec![Feature::LogReturn], ..FeatureConfig::default() }
    }

    fn market_from_prices(prices: Array2<f64>) -> Arc<Market> {
        let (rows, n) = prices.dim();
        let assets = (0..n).map(|i| format!("A{}", i + 1)).collect();
        let panel = PricePanel::new("hand", assets, TimeIndex::Periods(rows), prices);
        Arc::new(Market::new(panel, &returns_only(), None, 0..rows).unwrap())
    }

    fn hand_market(rows: &[&[f64]]) -> Arc<Market> {
        market_from_prices(Array2::from_shape_fn((rows.len(), rows[0].len()), |(t, i)| rows[t][i]))
    }

    fn synth_market(assets: usize, periods: usize, seed: u64) -> Arc<Market> {
        let config = SynthConfig { assets, periods, seed, ..SynthConfig::default() };
        let panel = synth::generate(&config).unwrap();
        let rows = panel.n_periods();
        Arc::new(Market::new(panel, &returns_only(), None, 0..rows).unwrap())
    }

    fn whole(market: &Market) -> DecisionRange {
        DecisionRange { first: market.first_observable(), last: market.n_periods() - 1 }
    }

    fn settings(costs: CostConfig, rebalance_every: usize) -> EnvSettings {
        EnvSettings {
            costs,
            reward: RewardConfig::LogReturn,
            episode: EpisodeConfig { horizon: 0, rebalance_every, embargo: 0 },
            limits: Limits::NONE,
        }
    }

    /// One decision at `row`, outside any backtest, holding `weights`.
    fn decide_at(policy: &mut dyn Policy, market: &Market, row: usize, weights: &[f64]) -> Vec<f64> {
        let mut out = vec![f64::NAN; market.n_assets() + 1];
        policy.decide(&MarketView::new(market, row, &[], weights), &mut out);
        out
    }

    fn assert_close(actual: &[f64], expected: &[f64], tolerance: f64) {
        assert_eq!(actual.len(), expected.len());
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            assert!((a - e).abs() <= tolerance, "entry {i}: {a} vs {e} (all: {actual:?} vs {expected:?})");
        }
    }

    fn assert_valid(weights: &[f64], context: &str) {
        assert!(weights.iter().all(|w| w.is_finite() && *w >= 0.0), "{context}: {weights:?}");
        let sum: f64 = weights.iter().sum();
        assert!((sum - 1.0).abs() < 1e-12, "{context}: sum {sum}");
    }

    // --- simplex projection ---

    #[test]
    fn simplex_projection_by_hand_and_by_its_optimality() {
        // A point on the simplex is its own projection.
        assert_close(&project_simplex(&[0.2, 0.3, 0.5]), &[0.2, 0.3, 0.5], 1e-15);
        // v = (78, 18, -12) / 84, sorted already. rho = 2: 18/84 - (96/84 - 1)/2 = 12/84 > 0, but
        // -12/84 - (84/84 - 1)/3 < 0. theta = 6/84, w = (72, 12, 0) / 84 = (6/7, 1/7, 0).
        assert_close(
            &project_simplex(&[78.0 / 84.0, 18.0 / 84.0, -12.0 / 84.0]),
            &[6.0 / 7.0, 1.0 / 7.0, 0.0],
            1e-15,
        );
        // A shift along 1 is removed: sorted (1.5, 1.3, 1.2), rho = 3, theta = (4 - 1) / 3 = 1.
        assert_close(&project_simplex(&[1.2, 1.5, 1.3]), &[0.2, 0.5, 0.3], 1e-15);
        // Unsorted input: sorted (2.5, 2, 1.5); j = 2 gives theta = (4.5 - 1) / 2 = 1.75 and
        // 2 - 1.75 > 0, j = 3 gives theta = 5/3 and 1.5 - 5/3 < 0: rho = 2, w = (0.25, 0.75, 0).
        assert_close(&project_simplex(&[2.0, 2.5, 1.5]), &[0.25, 0.75, 0.0], 1e-15);

        // Against its definition: no simplex point is closer, and the KKT conditions hold.
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..200 {
            let v: Vec<f64> = (0..5).map(|_| rng.random_range(-2.0..2.0)).collect();
            let w = project_simplex(&v);
            assert_valid(&w, "projection");
            let distance = |z: &[f64]| z.iter().zip(&v).map(|(z, v)| (z - v).powi(2)).sum::<f64>();
            for _ in 0..50 {
                let raw: Vec<f64> = (0..5).map(|_| rng.random_range(0.0..1.0f64).powi(3)).collect();
                let total: f64 = raw.iter().sum();
                let z: Vec<f64> = raw.iter().map(|r| r / total).collect();
                assert!(distance(&w) <= distance(&z) + 1e-12);
            }
            // v_i - w_i is one theta on the support and at most theta off it.
            let support: Vec<usize> = (0..5).filter(|&i| w[i] > 0.0).collect();
            let theta = v[support[0]] - w[support[0]];
            for i in 0..5 {
                if w[i] > 0.0 {
                    assert!((v[i] - w[i] - theta).abs() < 1e-12);
                } else {
                    assert!(v[i] <= theta + 1e-12);
                }
            }
        }
    }

    // --- hindsight ---

    /// Relatives of two assets that make an interior BCRP: A swings 1.8 / 0.6, B 0.95 / 1.1
    /// (optimum near w_A = 0.46 / 0.85 = 0.541 for the bare pattern), perturbed by seeded noise.
    fn two_asset_swings(periods: usize) -> Array2<f64> {
        let mut rng = StdRng::seed_from_u64(11);
        let mut prices = Array2::zeros((periods + 1, 2));
        prices.row_mut(0).fill(1.0);
        for t in 1..=periods {
            let (a, b) = if t % 2 == 1 { (1.8, 0.95) } else { (0.6, 1.1) };
            prices[[t, 0]] = prices[[t - 1, 0]] * a * rng.random_range(0.97..1.03);
            prices[[t, 1]] = prices[[t - 1, 1]] * b * rng.random_range(0.97..1.03);
        }
        prices
    }

    /// The best weight on the first of two assets over a grid of `step`, and its log-wealth.
    fn grid_search(relatives: &[Vec<f64>], step: f64) -> (f64, f64) {
        let points = (1.0 / step).round() as usize;
        (0..=points)
            .map(|k| {
                let w = k as f64 / points as f64;
                (w, log_wealth(relatives, &[w, 1.0 - w]))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap()
    }

    fn range_relatives(market: &Market, range: DecisionRange) -> Vec<Vec<f64>> {
        (range.first + 1..=range.last).map(|t| market.relatives(t)[1..].to_vec()).collect()
    }

    #[test]
    fn bcrp_matches_a_fine_grid_search_on_two_assets() {
        let market = market_from_prices(two_asset_swings(400));
        let range = whole(&market);
        let relatives = range_relatives(&market, range);
        let bcrp = Bcrp::new(&market, range).unwrap();
        let (grid_w, grid_f) = grid_search(&relatives, 1e-4);
        assert!(grid_w > 0.05 && grid_w < 0.95, "the example should have an interior optimum, got {grid_w}");
        assert!((bcrp.weights()[0] - grid_w).abs() < 1e-3, "{:?} vs {grid_w}", bcrp.weights());
        assert!(log_wealth(&relatives, bcrp.weights()) >= grid_f - 1e-9);

        // A corner: an asset that is better every period takes everything.
        let mut prices = two_asset_swings(200);
        for t in 1..prices.nrows() {
            prices[[t, 1]] = prices[[t - 1, 1]] * 0.9 * prices[[t, 0]] / prices[[t - 1, 0]];
        }
        let market = market_from_prices(prices);
        let range = whole(&market);
        let relatives = range_relatives(&market, range);
        let bcrp = Bcrp::new(&market, range).unwrap();
        let (grid_w, grid_f) = grid_search(&relatives, 1e-4);
        assert_eq!(grid_w, 1.0);
        assert_eq!(bcrp.weights(), &[1.0, 0.0]);
        assert!(log_wealth(&relatives, bcrp.weights()) >= grid_f - 1e-9);
    }

    #[test]
    fn bcrp_rebalanced_every_k_periods_uses_holding_period_relatives() {
        // 41 rows, range 0..40 rebalanced every 3 periods: holdings start at rows 0, 3, ..., 39,
        // and the last one holds a single period, 39 -> 40.
        let market = market_from_prices(two_asset_swings(40));
        let range = DecisionRange { first: 0, last: 40 };
        let p = &market.panel.prices;
        let holdings: Vec<Vec<f64>> = (0..40)
            .step_by(3)
            .map(|start| {
                let end = (start + 3).min(40);
                (0..2).map(|i| p[[end, i]] / p[[start, i]]).collect()
            })
            .collect();
        assert_eq!(holdings.len(), 14);
        let every_three = Bcrp::rebalanced_every(&market, range, 3).unwrap();
        assert_close(every_three.weights(), &bcrp_weights(&holdings), 1e-12);
        assert!((every_three.weights()[0] - Bcrp::new(&market, range).unwrap().weights()[0]).abs() > 1e-3);
        assert!(Bcrp::rebalanced_every(&market, range, 0).is_err());
    }

    #[test]
    fn bcrp_satisfies_the_optimality_conditions_on_many_assets() {
        let market = synth_market(6, 800, 5);
        let range = whole(&market);
        let relatives = range_relatives(&market, range);
        let w = Bcrp::new(&market, range).unwrap().weights().to_vec();
        assert_kkt(&relatives, &w);
        // And no random simplex point does better.
        let best = log_wealth(&relatives, &w);
        let mut rng = StdRng::seed_from_u64(8);
        for _ in 0..500 {
            let raw: Vec<f64> = (0..6).map(|_| rng.random_range(0.0..1.0)).collect();
            let total: f64 = raw.iter().sum();
            let z: Vec<f64> = raw.iter().map(|r| r / total).collect();
            assert!(log_wealth(&relatives, &z) <= best + 1e-9);
        }
    }

    /// Optimality of a BCRP on the simplex: `g_i = T` on the support, `g_i <= T` off it, since
    /// `sum_i w_i g_i = T` at any `w`.
    fn assert_kkt(relatives: &[Vec<f64>], w: &[f64]) {
        assert_valid(w, "bcrp");
        let (g, _) = log_wealth_derivatives(relatives, w);
        let periods = relatives.len() as f64;
        for i in 0..w.len() {
            if w[i] > 1e-9 {
                assert!(
                    (g[i] - periods).abs() < 1e-8 * periods,
                    "asset {i}: g {} vs {periods} at {w:?}",
                    g[i]
                );
            } else {
                assert!(g[i] <= periods * (1.0 + 1e-9), "asset {i}: g {} vs {periods} at {w:?}", g[i]);
            }
        }
    }

    #[test]
    fn bcrp_is_optimal_on_many_small_random_problems() {
        // Short, volatile samples put the optimum on a face of the simplex, so Newton steps from
        // the uniform start cut weights to zero that may have to come back.
        let mut rng = StdRng::seed_from_u64(17);
        for _ in 0..300 {
            let n = rng.random_range(2..7);
            let periods = rng.random_range(2..30);
            let relatives: Vec<Vec<f64>> = (0..periods)
                .map(|_| (0..n).map(|_| (rng.random_range(-0.4..0.4f64)).exp()).collect())
                .collect();
            assert_kkt(&relatives, &bcrp_weights(&relatives));
        }
    }

    #[test]
    fn best_asset_holds_the_asset_that_grew_most_over_the_range() {
        // Over rows 1..=3, A1 goes 2 -> 2.2 (+10%), A2 1 -> 1.5 (+50%), A3 4 -> 5 (+25%); before
        // the range A3 had quadrupled, which must not count.
        let market = hand_market(&[&[1.0, 1.0, 1.0], &[2.0, 1.0, 4.0], &[2.1, 1.2, 4.5], &[2.2, 1.5, 5.0]]);
        let range = DecisionRange { first: 1, last: 3 };
        let mut best = BestAsset::new(&market, range).unwrap();
        assert_eq!(best.asset(), 1);
        assert_eq!(decide_at(&mut best, &market, 1, &[1.0, 0.0, 0.0, 0.0]), [0.0, 0.0, 1.0, 0.0]);
        assert!(BestAsset::new(&market, DecisionRange { first: 1, last: 4 }).is_err());
    }

    // --- online strategies, one update by hand ---

    /// Three assets: prices (1, 1, 1), then (2, 1, 1), then (1, 1, 2); the relatives of the last
    /// period are x = (0.5, 1, 2).
    fn three_asset_market() -> Arc<Market> {
        hand_market(&[&[1.0, 1.0, 1.0], &[2.0, 1.0, 1.0], &[1.0, 1.0, 2.0]])
    }

    /// The first decision (uniform, at row 1) and the first update (at row 2), asset weights only.
    fn first_update(policy: &mut dyn Policy, market: &Market) -> Vec<f64> {
        let n = market.n_assets();
        policy.reset();
        let first = decide_at(policy, market, 1, &[1.0, 0.0, 0.0, 0.0][..n + 1]);
        assert_eq!(first[0], 0.0);
        assert_close(&first[1..], &uniform(n), 1e-15);
        let drifted: Vec<f64> = first.clone();
        let second = decide_at(policy, market, 2, &drifted);
        assert_eq!(second[0], 0.0, "OLPS strategies hold no cash");
        second[1..].to_vec()
    }

    #[test]
    fn olmar_update_by_hand() {
        let market = three_asset_market();
        // Window 2 at row 2: x~_i = (p_1 + p_2) / (2 p_2) = (1.5, 1, 0.75). b = 1/3 each, so
        // b . x~ = 3.25 / 3 = 13/12 and mean(x~) = 13/12; x~ - mean = (5, -1, -4) / 12 with
        // squared norm 42/144 = 7/24. epsilon 1.5: lambda = (3/2 - 13/12) / (7/24) = 10/7, and
        // b + lambda (x~ - mean) = (28 + 50, 28 - 10, 28 - 40) / 84 = (78, 18, -12) / 84, which
        // projects to (6/7, 1/7, 0) (see the projection test).
        assert_close(&first_update(&mut Olmar::new(2, 1.5), &market), &[6.0 / 7.0, 1.0 / 7.0, 0.0], 1e-12);
        // epsilon 1.2: lambda = (1.2 - 13/12) / (7/24) = 0.4, b + 0.4 (x~ - mean) = (1/2, 3/10,
        // 1/5), already on the simplex.
        assert_close(&first_update(&mut Olmar::new(2, 1.2), &market), &[0.5, 0.3, 0.2], 1e-12);
        // The default epsilon 10 asks for far more than any mix can promise: all on the asset
        // with the highest predicted relative.
        let mut default = Olmar { window: 2, ..Olmar::default() };
        assert_close(&first_update(&mut default, &market), &[1.0, 0.0, 0.0], 1e-12);
    }

    #[test]
    fn pamr_update_by_hand() {
        let market = three_asset_market();
        // x = (0.5, 1, 2), b = 1/3 each: b . x = 7/6, loss = 7/6 - 0.5 = 2/3, mean(x) = 7/6,
        // x - mean = (-2/3, -1/6, 5/6) with squared norm (16 + 1 + 25) / 36 = 7/6, so
        // tau = (2/3) / (7/6) = 4/7 and b - tau (x - mean) = (15, 9, -3) / 21. Projection: with
        // two assets theta = (24/21 - 1) / 2 = 1.5/21 and 9/21 - 1.5/21 > 0, with three
        // theta = 0 and -3/21 < 0; so w = (13.5, 7.5, 0) / 21 = (9/14, 5/14, 0).
        assert_close(&first_update(&mut Pamr::default(), &market), &[9.0 / 14.0, 5.0 / 14.0, 0.0], 1e-12);
        // epsilon 2 exceeds b . x: no loss, no move.
        assert_close(&first_update(&mut Pamr::new(2.0), &market), &uniform(3), 1e-15);
    }

    #[test]
    fn eg_update_by_hand() {
        let market = three_asset_market();
        // x = (0.5, 1, 2), b . x = 7/6, eta / (b . x) = 0.05 * 6/7 = 3/70:
        // b_i proportional to exp(3 x_i / 70) = exp(3/140), exp(3/70), exp(6/70).
        let raw = [(3.0f64 / 140.0).exp(), (3.0f64 / 70.0).exp(), (6.0f64 / 70.0).exp()];
        let total: f64 = raw.iter().sum();
        let expected: Vec<f64> = raw.iter().map(|r| r / total).collect();
        assert_close(&first_update(&mut Eg::default(), &market), &expected, 1e-14);
        // Numerically: (0.32383, 0.33084, 0.34533).
        assert_close(&expected, &[0.32383, 0.33084, 0.34533], 1e-5);
    }

    #[test]
    fn ons_update_by_hand() {
        // Two assets, x = (1, 2) in the second period, p = (1/2, 1/2): p . x = 3/2 and
        // grad = (2/3, 4/3). A = I + grad grad' = [[13, 8], [8, 25]] / 9, det A = 29/9,
        // A^-1 = [[25, -8], [-8, 13]] / 29. c = 2 grad = (4/3, 8/3) and
        // A^-1 c = (100/3 - 64/3, -32/3 + 104/3) / 29 = (12, 24) / 29; y = delta A^-1 c =
        // (3, 6) / 58. Projection in the A-norm onto sum z = 1 (interior here):
        // z = y + A^-1 1 (1 - 1'y) / (1' A^-1 1) with A^-1 1 = (17, 5) / 29, 1' A^-1 1 = 22/29,
        // 1 - 1'y = 49/58: z = (3/58 + 17 * 49 / 1276, 6/58 + 5 * 49 / 1276)
        // = (66 + 833, 132 + 245) / 1276 = (899, 377) / 1276 = (31/44, 13/44).
        let market = hand_market(&[&[1.0, 1.0], &[1.0, 1.0], &[1.0, 2.0]]);
        assert_close(&first_update(&mut Ons::default(), &market), &[31.0 / 44.0, 13.0 / 44.0], 1e-7);
        // eta mixes in the uniform portfolio.
        let mixed = first_update(&mut Ons::new(0.125, 1.0, 0.5), &market);
        assert_close(&mixed, &[0.5 * 31.0 / 44.0 + 0.25, 0.5 * 13.0 / 44.0 + 0.25], 1e-7);
    }

    #[test]
    fn online_strategies_use_the_whole_holding_period() {
        // Decisions at rows 1 and 3 (rebalancing every two periods): EG must see x = p_3 / p_1 =
        // (0.5, 1, 2), not only the last period's (1, 1, 2).
        let market = hand_market(&[&[1.0, 1.0, 1.0], &[2.0, 1.0, 1.0], &[1.0, 1.0, 1.0], &[1.0, 1.0, 2.0]]);
        let mut eg = Eg::default();
        let first = decide_at(&mut eg, &market, 1, &[1.0, 0.0, 0.0, 0.0]);
        let second = decide_at(&mut eg, &market, 3, &first);
        let raw = [(3.0f64 / 140.0).exp(), (3.0f64 / 70.0).exp(), (6.0f64 / 70.0).exp()];
        let total: f64 = raw.iter().sum();
        assert_close(&second[1..], &raw.map(|r| r / total), 1e-14);
    }

    // --- rolling estimators ---

    /// Simple returns `[period][asset]` of rows `row - window + 1 ..= row`, straight from prices.
    fn returns_from_prices(market: &Market, row: usize, window: usize) -> DMatrix<f64> {
        let p = &market.panel.prices;
        DMatrix::from_fn(window, market.n_assets(), |k, i| {
            let t = row + 1 - window + k;
            p[[t, i]] / p[[t - 1, i]] - 1.0
        })
    }

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

    #[test]
    fn rolling_estimators_hold_equal_weights_without_enough_history() {
        let market = synth_market(3, 100, 1);
        let held = [1.0, 0.0, 0.0, 0.0];
        let equal = [0.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0];
        let mut policies: Vec<Box<dyn Policy>> = vec![
            Box::new(MinVariance::default()),
            Box::new(MaxSharpe::default()),
            Box::new(InverseVolatility::default()),
            Box::new(TrendFollowing::default()),
        ];
        for policy in &mut policies {
            assert_eq!(decide_at(policy.as_mut(), &market, MIN_HISTORY - 1, &held), equal, "{}", policy.id());
        }
        // From MIN_HISTORY periods on they estimate (trend following may still find every trend
        // up, which is equal weight again).
        for policy in &mut policies[..3] {
            assert_ne!(decide_at(policy.as_mut(), &market, MIN_HISTORY, &held), equal, "{}", policy.id());
        }
    }

    #[test]
    fn inverse_volatility_weights_are_proportional_to_one_over_sigma() {
        let market = synth_market(4, 200, 9);
        let row = 150;
        let returns = returns_from_prices(&market, row, 60);
        let inverse: Vec<f64> = (0..4)
            .map(|i| {
                let r: Vec<f64> = returns.column(i).iter().copied().collect();
                let mean = r.iter().sum::<f64>() / 60.0;
                let variance = r.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 59.0;
                1.0 / variance.sqrt()
            })
            .collect();
        let total: f64 = inverse.iter().sum();
        let out = decide_at(&mut InverseVolatility::default(), &market, row, &[1.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(out[0], 0.0);
        assert_close(&out[1..], &inverse.iter().map(|v| v / total).collect::<Vec<_>>(), 1e-12);
    }

    #[test]
    fn trend_following_goes_to_cash_when_every_trend_is_down() {
        // Three assets over 300 rows, wiggling around a decline of 0.1% a period.
        let mut prices = Array2::zeros((300, 3));
        for t in 0..300 {
            for i in 0..3 {
                prices[[t, i]] = 100.0 * 0.999f64.powi(t as i32) * (1.0 + 0.01 * (t as f64 + i as f64).sin());
            }
        }
        let held = [0.0, 0.2, 0.3, 0.5];
        let market = market_from_prices(prices.clone());
        assert_eq!(decide_at(&mut TrendFollowing::default(), &market, 299, &held), [1.0, 0.0, 0.0, 0.0]);
        // Turn the second asset's trend up: it gets 1/3, the rest stays in cash.
        for t in 0..300 {
            prices[[t, 1]] = 100.0 * 1.001f64.powi(t as i32);
        }
        let market = market_from_prices(prices);
        assert_close(
            &decide_at(&mut TrendFollowing::default(), &market, 299, &held),
            &[2.0 / 3.0, 0.0, 1.0 / 3.0, 0.0],
            1e-15,
        );
    }

    // --- through the environment ---

    #[test]
    fn buy_and_hold_never_trades_after_the_first_step() {
        let market = synth_market(4, 300, 6);
        let log =
            backtest(&mut BuyAndHold::default(), &market, whole(&market), settings(CostConfig::default(), 1))
                .unwrap();
        assert_close(&log.weights[0], &[0.0, 0.25, 0.25, 0.25, 0.25], 0.0);
        assert!(log.turnovers[0] > 0.99);
        assert!(log.turnovers.len() > 200);
        assert!(log.turnovers[1..].iter().all(|&t| t == 0.0), "{:?}", &log.turnovers[1..10]);
        assert!(log.costs[1..].iter().all(|&c| c == 0.0));
    }

    #[test]
    fn every_baseline_gives_valid_weights_through_the_environment_and_repeats_after_reset() {
        let market = synth_market(5, 500, 12);
        let range = whole(&market);
        for every in [1, 5] {
            for mut policy in all(&market, range).unwrap() {
                let settings = settings(CostConfig::default(), every);
                let first = backtest(policy.as_mut(), &market, range, settings).unwrap();
                for (row, weights) in first.decision_rows.iter().zip(&first.weights) {
                    assert_valid(weights, &format!("{} at row {row}", policy.id()));
                }
                assert!(first.values.iter().all(|v| v.is_finite() && *v > 0.0));
                let second = backtest(policy.as_mut(), &market, range, settings).unwrap();
                assert_eq!(first.weights, second.weights, "{} after reset", policy.id());
            }
        }
    }

    #[test]
    fn causal_baselines_decide_the_same_on_markets_that_differ_only_later() {
        let config = SynthConfig { assets: 4, periods: 500, seed: 21, ..SynthConfig::default() };
        let (returns, _) = synth::generate_log_returns(&config);
        let mut changed = returns.clone();
        // Log-return row k moves prices from row k to k + 1: rows after `cut` differ.
        let cut = 300;
        for k in cut..changed.nrows() {
            for i in 0..4 {
                changed[[k, i]] = -1.5 * changed[[k, i]] + 0.01 * (i as f64 - 1.5);
            }
        }
        let build = |returns: &Array2<f64>| {
            let panel = synth::panel_from_log_returns(returns, config.start, "SYN");
            Arc::new(Market::new(panel, &returns_only(), None, 0..cut).unwrap())
        };
        let (a, b) = (build(&returns), build(&changed));
        assert_eq!(a.panel.prices.row(cut), b.panel.prices.row(cut));
        assert_ne!(a.panel.prices.row(cut + 1), b.panel.prices.row(cut + 1));
        let range = whole(&a);
        for id in BaselineId::ALL.into_iter().filter(|id| !id.uses_hindsight()) {
            let run = |market: &Arc<Market>| {
                let mut policy = baseline(id, market, range).unwrap();
                backtest(policy.as_mut(), market, range, settings(CostConfig::default(), 1)).unwrap()
            };
            let (on_a, on_b) = (run(&a), run(&b));
            let upto = on_a.decision_rows.iter().take_while(|&&row| row <= cut).count();
            assert!(upto > 200);
            assert_eq!(on_a.weights[..upto], on_b.weights[..upto], "{id} looked ahead");
        }
    }

    #[test]
    fn every_baseline_runs_under_its_own_identity() {
        let market = synth_market(3, 100, 1);
        let range = whole(&market);
        let ids: Vec<PolicyId> = all(&market, range).unwrap().iter().map(|p| p.id()).collect();
        assert_eq!(ids, BaselineId::ALL.map(PolicyId::Baseline));
    }
}
