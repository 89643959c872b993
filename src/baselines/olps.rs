//! Online portfolio selection (OLPS, Li and Hoi 2014, "Online portfolio selection: a survey"):
//! strategies that move the weights after every holding period from its price relatives alone.
//!
//! What the four strategies share is written once, in [`Online`]: the uniform first decision,
//! the price relatives since the previous decision, the bookkeeping between decisions and the
//! valid, cash-free output. Each strategy is then only its parameters and its update rule, an
//! [`OnlineUpdate`] that a reader can check against its paper.

use nalgebra::{DMatrix, DVector};

use serde::{Deserialize, Serialize};

use super::{dot, project_simplex, uniform, write_assets};
use crate::backtest::{BaselineId, MarketView, Policy, PolicyId};
use crate::portfolio_math::{QpSolver, WarmQp, unit_scale};

/// One OLPS strategy's update: how the asset weights move after a holding period.
pub trait OnlineUpdate {
    /// The baseline the strategy is.
    const ID: BaselineId;

    /// Called at the first decision, which is uniform (`b_1 = 1/N`); a rule that keeps state of
    /// its own starts it here.
    fn start(&mut self, _n_assets: usize) {}

    /// The next asset weights `b_{t+1}` from the previous decision's `b` (`b_t`) and the assets'
    /// price relatives `x` since then (the holding period's `x_t`), deciding at `view.row`. The
    /// result need not be exactly on the simplex: [`Online`] makes it valid.
    fn update(&mut self, view: &MarketView<'_>, b: &[f64], x: &[f64]) -> Vec<f64>;
}

/// An OLPS strategy as a policy: uniform weights over the assets at the first decision, then the
/// `rule`'s update at every later one, from the relatives of the whole holding period (one
/// period when rebalancing every period). Cash weight 0.
#[derive(Debug, Clone, Default)]
pub struct Online<U> {
    pub rule: U,
    /// Row and asset weights of the previous decision, as written: the update starts from what
    /// was held, after sanitizing, not from the rule's raw output.
    last: Option<(usize, Vec<f64>)>,
}

impl<U> Online<U> {
    pub fn new(rule: U) -> Self {
        Self { rule, last: None }
    }
}

impl<U: OnlineUpdate> Policy for Online<U> {
    fn id(&self) -> PolicyId {
        PolicyId::Baseline(U::ID)
    }

    fn reset(&mut self) {
        self.last = None;
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        let b = match &self.last {
            None => {
                self.rule.start(view.n_assets());
                uniform(view.n_assets())
            }
            Some((row, b)) => self.rule.update(view, b, &relatives_since(view, *row)),
        };
        write_assets(out, &b);
        self.last = Some((view.row, out[1..].to_vec()));
    }

    /// Its own last portfolio, not the drifted one, and the relatives since.
    fn targets_ignore_costs(&self) -> bool {
        true
    }
}

/// The assets' price relatives from the close of `row` to the close of `view.row`: the product of
/// the periods' relatives in between.
fn relatives_since(view: &MarketView<'_>, row: usize) -> Vec<f64> {
    let mut x = vec![1.0; view.n_assets()];
    for t in row + 1..=view.row {
        x.iter_mut().zip(&view.relatives(t)[1..]).for_each(|(x, r)| *x *= r);
    }
    x
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
}

impl Olmar {
    pub fn new(window: usize, epsilon: f64) -> Self {
        Self { window: window.max(1), epsilon }
    }
}

impl Default for Olmar {
    fn default() -> Self {
        Self::new(5, 10.0)
    }
}

impl OnlineUpdate for Olmar {
    const ID: BaselineId = BaselineId::Olmar;

    // The prediction reads prices, not the holding period's relatives.
    fn update(&mut self, view: &MarketView<'_>, b: &[f64], _x: &[f64]) -> Vec<f64> {
        let prices = view.prices();
        let first = (view.row + 1).saturating_sub(self.window);
        let rows = (view.row + 1 - first) as f64;
        let predicted: Vec<f64> = (0..view.n_assets())
            .map(|i| (first..=view.row).map(|t| prices[[t, i]]).sum::<f64>() / rows / prices[[view.row, i]])
            .collect();
        let (dev, norm2) = deviation(&predicted);
        let lambda = if norm2 > 0.0 { ((self.epsilon - dot(b, &predicted)) / norm2).max(0.0) } else { 0.0 };
        project_simplex(&b.iter().zip(&dev).map(|(b, d)| b + lambda * d).collect::<Vec<_>>())
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
}

impl Pamr {
    pub fn new(epsilon: f64) -> Self {
        Self { epsilon }
    }
}

impl Default for Pamr {
    fn default() -> Self {
        Self::new(0.5)
    }
}

impl OnlineUpdate for Pamr {
    const ID: BaselineId = BaselineId::Pamr;

    fn update(&mut self, _view: &MarketView<'_>, b: &[f64], x: &[f64]) -> Vec<f64> {
        let (dev, norm2) = deviation(x);
        let loss = (dot(b, x) - self.epsilon).max(0.0);
        let tau = if norm2 > 0.0 { loss / norm2 } else { 0.0 };
        project_simplex(&b.iter().zip(&dev).map(|(b, d)| b - tau * d).collect::<Vec<_>>())
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
}

impl Eg {
    pub fn new(eta: f64) -> Self {
        Self { eta }
    }
}

impl Default for Eg {
    fn default() -> Self {
        Self::new(0.05)
    }
}

impl OnlineUpdate for Eg {
    const ID: BaselineId = BaselineId::Eg;

    fn update(&mut self, _view: &MarketView<'_>, b: &[f64], x: &[f64]) -> Vec<f64> {
        let growth = dot(b, x);
        // Exponents shifted by their maximum: the same weights after normalizing, no overflow for
        // large eta.
        let exponents: Vec<f64> = x.iter().map(|x| self.eta * x / growth).collect();
        let top = exponents.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        b.iter().zip(&exponents).map(|(b, e)| b * (e - top).exp()).collect()
    }
}

/// Online Newton step (Agarwal, Hazan, Kale and Schapire 2006, "Algorithms for portfolio
/// management based on the Newton method", ICML, figure 1), as universal-portfolios implements
/// it: with `grad_t = x_t / (p_t . x_t)`,
/// `A_t = I + sum_{s<=t} grad_s grad_s'`, `c_t = (1 + 1/beta) sum_{s<=t} grad_s` and
/// `p_{t+1} = (1 - eta) proj_A(delta A_t^{-1} c_t) + eta / N`, where
/// `proj_A(y) = argmin_{z in simplex} (z - y)' A_t (z - y)` is a QP (the previous weights are
/// kept in the rare case it fails).
///
/// Since `A_t y = delta c_t`, the projection is `min 1/2 z'A_t z - delta c_t'z` over the simplex
/// and needs no inverse of `A_t` at all ([`OnsTarget::Implicit`], the default): the active set
/// only factors `A_t` on the projection's support, a dozen assets or so even among hundreds.
/// Each period then costs `O(N^2)` (the update of `A_t`) instead of the `O(N^3)` of a
/// factorization of `A_t`, and no Sherman-Morrison inverse, with the rounding it gathers, is
/// needed. [`OnsTarget::Solved`] follows the formula literally: a Cholesky solve for `y`, then
/// the projection; the two agree to rounding (tested).
///
/// Defaults (universal-portfolios'): `delta` 1/8, `beta` 1, `eta` 0.
#[derive(Debug, Clone)]
pub struct Ons {
    pub delta: f64,
    pub beta: f64,
    pub eta: f64,
    /// Whether the projected point `y` is solved for.
    pub target: OnsTarget,
    pub solver: QpSolver,
    /// `A_t` and `c_t`, sized at the first decision.
    a: DMatrix<f64>,
    c: DVector<f64>,
    qp: WarmQp,
}

impl Ons {
    pub fn new(delta: f64, beta: f64, eta: f64) -> Self {
        Self {
            delta,
            beta,
            eta,
            target: OnsTarget::Implicit,
            solver: QpSolver::ActiveSet,
            a: DMatrix::zeros(0, 0),
            c: DVector::zeros(0),
            qp: WarmQp::default(),
        }
    }
}

/// How [`Ons`] gets the point `y = delta A_t^{-1} c_t` it projects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnsTarget {
    /// Never: the projection needs only `A_t y = delta c_t`.
    #[default]
    Implicit,
    /// From a Cholesky factor of `A_t`, every period.
    Solved,
}

impl Default for Ons {
    fn default() -> Self {
        Self::new(0.125, 1.0, 0.0)
    }
}

impl OnlineUpdate for Ons {
    const ID: BaselineId = BaselineId::Ons;

    fn start(&mut self, n_assets: usize) {
        self.a = DMatrix::identity(n_assets, n_assets);
        self.c = DVector::zeros(n_assets);
        self.qp = WarmQp::new(self.solver);
    }

    fn update(&mut self, _view: &MarketView<'_>, p: &[f64], x: &[f64]) -> Vec<f64> {
        let n = p.len();
        let growth = dot(p, x);
        let grad: Vec<f64> = x.iter().map(|x| x / growth).collect();
        for (j, &gj) in grad.iter().enumerate() {
            self.a.column_mut(j).iter_mut().zip(&grad).for_each(|(a, &gi)| *a += gi * gj);
        }
        self.c.iter_mut().zip(&grad).for_each(|(c, g)| *c += g * (1.0 + 1.0 / self.beta));
        // The projection is unchanged by scaling A: bring its entries near one for the solver.
        let metric = unit_scale(&self.a);
        let scale = self.a.trace() / n as f64;
        let q: Vec<f64> = match self.target {
            OnsTarget::Implicit => self.c.iter().map(|c| -self.delta * c / scale).collect(),
            OnsTarget::Solved => {
                // A is the identity plus outer products: positive definite.
                let Some(cholesky) = self.a.clone().cholesky() else { return p.to_vec() };
                let target = cholesky.solve(&self.c) * self.delta;
                (-(&metric * &target)).iter().copied().collect()
            }
        };
        match self.qp.solve(&metric, &q, &vec![1.0; n]) {
            Some(projected) => {
                projected.iter().map(|z| (1.0 - self.eta) * z.max(0.0) + self.eta / n as f64).collect()
            }
            None => p.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::testing::*;
    use crate::baselines::uniform;
    use crate::env::Market;
    use std::sync::Arc;

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
        assert_close(
            &first_update(&mut Online::new(Olmar::new(2, 1.5)), &market),
            &[6.0 / 7.0, 1.0 / 7.0, 0.0],
            1e-12,
        );
        // epsilon 1.2: lambda = (1.2 - 13/12) / (7/24) = 0.4, b + 0.4 (x~ - mean) = (1/2, 3/10,
        // 1/5), already on the simplex.
        assert_close(&first_update(&mut Online::new(Olmar::new(2, 1.2)), &market), &[0.5, 0.3, 0.2], 1e-12);
        // The default epsilon 10 asks for far more than any mix can promise: all on the asset
        // with the highest predicted relative.
        let mut default = Online::new(Olmar { window: 2, ..Olmar::default() });
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
        assert_close(
            &first_update(&mut Online::new(Pamr::default()), &market),
            &[9.0 / 14.0, 5.0 / 14.0, 0.0],
            1e-12,
        );
        // epsilon 2 exceeds b . x: no loss, no move.
        assert_close(&first_update(&mut Online::new(Pamr::new(2.0)), &market), &uniform(3), 1e-15);
    }

    #[test]
    fn eg_update_by_hand() {
        let market = three_asset_market();
        // x = (0.5, 1, 2), b . x = 7/6, eta / (b . x) = 0.05 * 6/7 = 3/70:
        // b_i proportional to exp(3 x_i / 70) = exp(3/140), exp(3/70), exp(6/70).
        let raw = [(3.0f64 / 140.0).exp(), (3.0f64 / 70.0).exp(), (6.0f64 / 70.0).exp()];
        let total: f64 = raw.iter().sum();
        let expected: Vec<f64> = raw.iter().map(|r| r / total).collect();
        assert_close(&first_update(&mut Online::new(Eg::default()), &market), &expected, 1e-14);
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
        assert_close(
            &first_update(&mut Online::new(Ons::default()), &market),
            &[31.0 / 44.0, 13.0 / 44.0],
            1e-7,
        );
        // eta mixes in the uniform portfolio.
        let mixed = first_update(&mut Online::new(Ons::new(0.125, 1.0, 0.5)), &market);
        assert_close(&mixed, &[0.5 * 31.0 / 44.0 + 0.25, 0.5 * 13.0 / 44.0 + 0.25], 1e-7);
    }

    #[test]
    fn online_strategies_use_the_whole_holding_period() {
        // Decisions at rows 1 and 3 (rebalancing every two periods): EG must see x = p_3 / p_1 =
        // (0.5, 1, 2), not only the last period's (1, 1, 2).
        let market = hand_market(&[&[1.0, 1.0, 1.0], &[2.0, 1.0, 1.0], &[1.0, 1.0, 1.0], &[1.0, 1.0, 2.0]]);
        let mut eg = Online::new(Eg::default());
        let first = decide_at(&mut eg, &market, 1, &[1.0, 0.0, 0.0, 0.0]);
        let second = decide_at(&mut eg, &market, 3, &first);
        let raw = [(3.0f64 / 140.0).exp(), (3.0f64 / 70.0).exp(), (6.0f64 / 70.0).exp()];
        let total: f64 = raw.iter().sum();
        assert_close(&second[1..], &raw.map(|r| r / total), 1e-14);
    }

    #[test]
    fn ons_fast_path_gives_the_reference_weights() {
        // In lockstep: each step's references start from the fast path's weights, so that what
        // is compared is one projection, not two paths that feed their differences back.
        let market = synth_market(12, 400, 7);
        let n = market.n_assets();
        let mut fast = Ons::default();
        let mut references = [
            (Ons { target: OnsTarget::Solved, ..Ons::default() }, 1e-11),
            // clarabel's own accuracy on these projections, whose metric grows ill-conditioned
            // (see qp.rs); the active set's optimum is the better one (lower objective, KKT).
            (Ons { target: OnsTarget::Solved, solver: QpSolver::InteriorPoint, ..Ons::default() }, 2e-4),
        ];
        fast.start(n);
        references.iter_mut().for_each(|(r, _)| r.start(n));
        let mut p = uniform(n);
        for row in 2..market.n_periods() {
            let view = MarketView::new(&market, row, &[], &[]);
            let x = &market.relatives(row)[1..];
            let next = fast.update(&view, &p, x);
            // The projection's own optimality: min 1/2 z'Az - delta c'z over the simplex.
            let q: Vec<f64> = fast.c.iter().map(|c| -fast.delta * c).collect();
            assert_kkt(&fast.a, &q, &vec![1.0; n], &next);
            for (reference, tolerance) in &mut references {
                let theirs = reference.update(&view, &p, x);
                assert_close(&next, &theirs, *tolerance);
                let objective = |z: &[f64]| {
                    let z = DVector::from_column_slice(z);
                    0.5 * z.dot(&(&fast.a * &z)) - fast.delta * fast.c.dot(&z)
                };
                assert!(objective(&next) <= objective(&theirs) + 1e-12 * objective(&theirs).abs());
            }
            p = next;
        }
    }
}
