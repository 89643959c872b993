//! Hindsight benchmarks: not causal, they read the whole evaluation range when built, and bound
//! what a fixed allocation could have done.

use nalgebra::{DMatrix, DVector};

use super::{BaselineError, dot, uniform, write_assets};
use crate::backtest::{BaselineId, MarketView, Policy, PolicyId};
use crate::env::{DecisionRange, Market};
use crate::portfolio_math::active_set;

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
///
/// The free set starts as [`likely_support`]'s guess rather than every asset: among hundreds of
/// assets the BCRP holds a few, and cutting the others one blocked step at a time would take
/// hundreds of Newton steps on the whole universe. The guess only changes where the method
/// starts; the KKT check at its end is the same.
pub fn bcrp_weights(relatives: &[Vec<f64>]) -> Vec<f64> {
    let n = relatives.first().map_or(0, Vec::len);
    bcrp_from(relatives, likely_support(relatives, n))
}

/// The support that a few sequential-QP steps point to: from uniform weights, each maximizes
/// `f`'s quadratic model `f(w) + g'(z - w) + 1/2 (z - w)'H(z - w)` over the whole simplex (the
/// QP `min 1/2 z'Pz - (Pw + g)'z` with `P = -H`, which the active set of `qp.rs` solves in a few
/// factorizations of the support's size), then moves towards its optimum as far as an Armijo
/// test allows. Unlike a Newton step that stops at the first weight to reach zero, each step
/// may drop hundreds of assets. Every asset when a model cannot be solved.
fn likely_support(relatives: &[Vec<f64>], n: usize) -> Vec<usize> {
    let mut w = uniform(n);
    for _ in 0..3 {
        let (g, p) = full_model(relatives, &w);
        let q: Vec<f64> =
            (&p * DVector::from_column_slice(&w)).iter().zip(&g).map(|(pw, g)| -pw - g).collect();
        let Some(z) = active_set(&p, &q, &vec![1.0; n], &[]) else { return (0..n).collect() };
        let d: Vec<f64> = z.iter().zip(&w).map(|(z, w)| z - w).collect();
        let gain = dot(&g, &d);
        if !(gain > 0.0) {
            break;
        }
        let f0 = log_wealth(relatives, &w);
        let mut alpha = 1.0;
        let moved =
            |alpha: f64| -> Vec<f64> { w.iter().zip(&d).map(|(w, d)| (w + alpha * d).max(0.0)).collect() };
        while alpha > 1e-6 && !(log_wealth(relatives, &moved(alpha)) >= f0 + 1e-4 * alpha * gain) {
            alpha *= 0.5;
        }
        w = moved(alpha);
    }
    (0..n).filter(|&i| w[i] > 0.0).collect()
}

/// Gradient and minus the Hessian of `f` over every asset, the latter as the matrix product
/// `Y'Y` with `y_t = x_t / (w . x_t)`, with a ridge of 1e-12 of its mean diagonal so that assets
/// that move together still leave it positive definite.
fn full_model(relatives: &[Vec<f64>], w: &[f64]) -> (Vec<f64>, DMatrix<f64>) {
    let n = w.len();
    let y = DMatrix::from_fn(relatives.len(), n, |t, i| relatives[t][i] / dot(w, &relatives[t]));
    let g: Vec<f64> = y.row_sum().iter().copied().collect();
    let mut p = y.transpose() * &y;
    let ridge = 1e-12 * p.trace() / n as f64;
    (0..n).for_each(|i| p[(i, i)] += ridge);
    (g, p)
}

/// [`bcrp_weights`]' method started from uniform weights over `start`, the rest fixed at zero.
fn bcrp_from(relatives: &[Vec<f64>], start: Vec<usize>) -> Vec<f64> {
    let n = relatives.first().map_or(0, Vec::len);
    if n <= 1 || start.is_empty() {
        return uniform(n);
    }
    let mut w = vec![0.0; n];
    start.iter().for_each(|&i| w[i] = 1.0 / start.len() as f64);
    let mut free = vec![false; n];
    start.iter().for_each(|&i| free[i] = true);
    let periods = relatives.len() as f64;
    for _ in 0..500 + 2 * n {
        let active: Vec<usize> = (0..n).filter(|&i| free[i]).collect();
        let (g, hessian) = log_wealth_derivatives(relatives, &w, &active);
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
        newton_move(relatives, &mut w, &mut free, &d, decrement);
    }
    w
}

/// Move `w` along the Newton direction `d`: the full step, cut where a free weight reaches zero
/// (which then leaves the free set), with Armijo backtracking far from the optimum.
fn newton_move(relatives: &[Vec<f64>], w: &mut [f64], free: &mut [bool], d: &[f64], decrement: f64) {
    let periods = relatives.len() as f64;
    let (mut alpha_max, mut blocking) = (f64::INFINITY, None);
    for i in 0..w.len() {
        if free[i] && d[i] < 0.0 && w[i] / -d[i] < alpha_max {
            alpha_max = w[i] / -d[i];
            blocking = Some(i);
        }
    }
    let mut alpha = alpha_max.min(1.0);
    // Near the optimum the pure Newton step converges quadratically (-ln is self-concordant,
    // so this holds once the decrement is well below 1), and f's rounding, which grows with
    // the number of periods, would swamp an Armijo comparison of smaller gains.
    if decrement > 1e-10 * periods {
        let f0 = log_wealth(relatives, w);
        let moved = |alpha: f64| -> Vec<f64> { w.iter().zip(d).map(|(w, d)| w + alpha * d).collect() };
        while alpha > 1e-12 && !(log_wealth(relatives, &moved(alpha)) >= f0 + 1e-4 * alpha * decrement) {
            alpha *= 0.5;
        }
    }
    for (wi, di) in w.iter_mut().zip(d) {
        *wi = (*wi + alpha * di).max(0.0);
    }
    if let Some(i) = blocking.filter(|_| alpha == alpha_max) {
        w[i] = 0.0;
        free[i] = false;
    }
    let sum: f64 = w.iter().sum();
    w.iter_mut().for_each(|wi| *wi /= sum);
}

/// Gradient of `sum_t ln(w . x_t)` over every asset, and its Hessian over the assets of `active`
/// (in their order): the step needs no more.
fn log_wealth_derivatives(relatives: &[Vec<f64>], w: &[f64], active: &[usize]) -> (Vec<f64>, DMatrix<f64>) {
    let n = w.len();
    let k = active.len();
    let mut g = vec![0.0; n];
    let mut hessian = DMatrix::zeros(k, k);
    let mut xa = vec![0.0; k];
    for x in relatives {
        let growth = dot(w, x);
        g.iter_mut().zip(x).for_each(|(g, x)| *g += x / growth);
        for (a, &i) in xa.iter_mut().zip(active) {
            *a = x[i] / growth;
        }
        for b in 0..k {
            let column = hessian.column_mut(b);
            let xb = xa[b];
            column.into_iter().zip(&xa).skip(b).for_each(|(h, xa)| *h -= xa * xb);
        }
    }
    for b in 0..k {
        for a in 0..b {
            hessian[(a, b)] = hessian[(b, a)];
        }
    }
    (g, hessian)
}

/// Newton step over the weights in `active` (`hessian` is over them alone), keeping their sum:
/// solves
/// `[-H + r I, 1; 1', 0] [d; nu] = [g; 0]`, with a tiny ridge `r` so that duplicate assets (a
/// singular `H`) still give a step. Returns `d` over `active` and the multiplier `nu`.
fn constrained_newton_step(g: &[f64], hessian: &DMatrix<f64>, active: &[usize]) -> (Vec<f64>, f64) {
    let k = active.len();
    let scale = (0..k).map(|a| -hessian[(a, a)]).sum::<f64>() / k as f64;
    let ridge = 1e-12 * scale.max(f64::MIN_POSITIVE);
    let mut kkt = DMatrix::zeros(k + 1, k + 1);
    let mut rhs = DVector::zeros(k + 1);
    for (a, &i) in active.iter().enumerate() {
        for b in 0..k {
            kkt[(a, b)] = -hessian[(a, b)];
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::testing::*;
    use ndarray::Array2;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

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

    /// Gradient of `sum_t ln(w . x_t)`.
    fn log_wealth_gradient(relatives: &[Vec<f64>], w: &[f64]) -> Vec<f64> {
        let mut g = vec![0.0; w.len()];
        for x in relatives {
            let inverse = 1.0 / dot(w, x);
            g.iter_mut().zip(x).for_each(|(g, x)| *g += x * inverse);
        }
        g
    }

    /// Optimality of a BCRP on the simplex: `g_i = T` on the support, `g_i <= T` off it, since
    /// `sum_i w_i g_i = T` at any `w`.
    fn assert_kkt(relatives: &[Vec<f64>], w: &[f64]) {
        assert_valid(w, "bcrp");
        let g = log_wealth_gradient(relatives, w);
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

    #[test]
    fn the_guessed_support_changes_where_the_search_starts_not_where_it_ends() {
        let mut rng = StdRng::seed_from_u64(23);
        for _ in 0..60 {
            let n = rng.random_range(2..25);
            let periods = rng.random_range(20..300);
            let drift: Vec<f64> = (0..n).map(|_| rng.random_range(-0.002..0.002)).collect();
            let relatives: Vec<Vec<f64>> = (0..periods)
                .map(|_| drift.iter().map(|d| (d + rng.random_range(-0.05..0.05f64)).exp()).collect())
                .collect();
            let guessed = bcrp_weights(&relatives);
            assert_kkt(&relatives, &guessed);
            assert_close(&guessed, &bcrp_from(&relatives, (0..n).collect()), 1e-9);
        }
    }
}
