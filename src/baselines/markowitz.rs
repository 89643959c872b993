//! Markowitz portfolios: minimum variance and maximum Sharpe on a rolling, Ledoit-Wolf shrunk
//! covariance, each a long-only quadratic program.
//!
//! By default both re-estimate at every decision, carry the covariance's sums from one decision
//! to the next ([`Update::Incremental`], `covariance.rs`) and solve the QP by an active set
//! warm-started from the previous support ([`QpSolver::ActiveSet`], `qp.rs`): the same portfolios
//! as recomputing the covariance and solving by clarabel's interior point, to the interior
//! point's accuracy, in `O(p^2)` a decision rather than `O(n p^2 + p^3)`. [`Refit`] re-estimates
//! less often, which does change the portfolios.

use chrono::Datelike;
use serde::{Deserialize, Serialize};

use super::covariance::{Moments, RollingMoments, Update, recomputed};
use super::{ReturnKind, uniform, write_assets};
use crate::backtest::{BaselineId, MarketView, Policy, PolicyId};
use crate::data::TimeIndex;
use crate::portfolio_math::{QpSolver, WarmQp};

/// When the Markowitz baselines re-estimate their portfolio; in between they keep asking for the
/// last one (so the portfolio is traded back to it at every decision, unless a rebalancing rule
/// says otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refit {
    /// At every decision (the published behaviour).
    #[default]
    Every,
    /// At the first decision of each calendar month; dated data only ([`Refit::check`]).
    Monthly,
    /// At the first decision of each calendar quarter; dated data only.
    Quarterly,
    /// At the first decision at least this many periods after the last estimate.
    Periods(usize),
}

impl Refit {
    /// Whether the rule can run on data with this time axis: calendar rules need dates.
    pub fn check(&self, index: &TimeIndex) -> Result<(), RefitError> {
        match self {
            Refit::Monthly | Refit::Quarterly if !index.is_dated() => Err(RefitError::Undated(*self)),
            Refit::Periods(0) => Err(RefitError::ZeroPeriods),
            _ => Ok(()),
        }
    }

    /// Whether an estimate made at row `last` is due for renewal at row `row`. Calendar rules on
    /// undated data (which [`Refit::check`] refuses) re-estimate every time.
    fn due(&self, index: &TimeIndex, last: usize, row: usize) -> bool {
        let calendar = |row: usize| match index {
            TimeIndex::Dates(dates) => Some((dates[row].year(), dates[row].month())),
            _ => None,
        };
        match self {
            Refit::Every => true,
            Refit::Periods(k) => row >= last + k,
            Refit::Monthly => calendar(row).is_none_or(|now| Some(now) != calendar(last)),
            Refit::Quarterly => match (calendar(row), calendar(last)) {
                (Some((y, m)), Some((y0, m0))) => (y, (m - 1) / 3) != (y0, (m0 - 1) / 3),
                _ => true,
            },
        }
    }
}

impl std::fmt::Display for Refit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refit::Every => write!(f, "every"),
            Refit::Monthly => write!(f, "monthly"),
            Refit::Quarterly => write!(f, "quarterly"),
            Refit::Periods(k) => write!(f, "{k}"),
        }
    }
}

impl std::str::FromStr for Refit {
    type Err = RefitError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "every" | "daily" => Ok(Refit::Every),
            "monthly" => Ok(Refit::Monthly),
            "quarterly" => Ok(Refit::Quarterly),
            other => match other.parse::<usize>() {
                Ok(0) => Err(RefitError::ZeroPeriods),
                Ok(k) => Ok(Refit::Periods(k)),
                Err(_) => Err(RefitError::Unknown(text.to_string())),
            },
        }
    }
}

/// A refit schedule that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefitError {
    #[error(
        "the {0} refit needs dates, but the data is undated (its rows are period numbers); use a number of periods"
    )]
    Undated(Refit),
    #[error(
        "a refit every 0 periods never re-estimates; use every, monthly, quarterly or a number of periods >= 1"
    )]
    ZeroPeriods,
    #[error("unknown refit '{0}': expected every, monthly, quarterly or a number of periods")]
    Unknown(String),
}

/// What the two Markowitz baselines are configured by.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MarkowitzConfig {
    /// Periods of returns in the rolling estimate.
    pub window: usize,
    pub returns: ReturnKind,
    /// How the covariance follows the window.
    pub covariance: Update,
    /// How the QP is solved.
    pub solver: QpSolver,
    /// When the portfolio is re-estimated.
    pub refit: Refit,
}

impl Default for MarkowitzConfig {
    fn default() -> Self {
        Self {
            window: 252,
            returns: ReturnKind::Simple,
            covariance: Update::Incremental,
            solver: QpSolver::ActiveSet,
            refit: Refit::Every,
        }
    }
}

/// What a Markowitz baseline carries between decisions: the covariance's sums, the solver's
/// last support, and the last estimate (row and asset weights, as written).
#[derive(Debug, Clone, Default)]
struct Fit {
    moments: RollingMoments,
    qp: WarmQp,
    held: Option<(usize, Vec<f64>)>,
}

impl Fit {
    fn reset(&mut self) {
        self.moments.reset();
        self.qp.reset();
        self.held = None;
    }

    /// Decide at `view.row` with `weights` solving the estimated problem; equal weights without
    /// enough history, the held portfolio until the refit is due.
    fn decide(
        &mut self,
        config: &MarkowitzConfig,
        view: &MarketView<'_>,
        out: &mut [f64],
        weights: fn(&Moments, &mut WarmQp) -> Vec<f64>,
    ) {
        if let Some((row, held)) = &self.held
            && !config.refit.due(view.index(), *row, view.row)
        {
            // Written as it was, not renormalized again: the same bits every day of the hold.
            out[0] = 0.0;
            out[1..].copy_from_slice(held);
            return;
        }
        self.qp.solver = config.solver;
        let moments = match config.covariance {
            Update::Incremental => self.moments.estimate(view, config.window, config.returns),
            Update::Recompute => recomputed(view, config.window, config.returns),
        };
        match moments {
            Some(moments) => {
                write_assets(out, &weights(&moments, &mut self.qp));
                self.held = Some((view.row, out[1..].to_vec()));
            }
            None => write_assets(out, &uniform(view.n_assets())),
        }
    }
}

/// Long-only, fully invested minimum variance: `min w'Sw` s.t. `1'w = 1, w >= 0`. Equal weight if
/// the solver fails.
fn min_variance_weights(moments: &Moments, qp: &mut WarmQp) -> Vec<f64> {
    qp.minimum_variance(&moments.covariance).unwrap_or_else(|| uniform(moments.mean.len()))
}

/// Long-only tangency portfolio (risk-free rate 0, the environment's cash): `max mu'w / sqrt(w'Sw)`
/// over the simplex, solved as `min y'Sy` s.t. `mu'y = 1, y >= 0` with `w = y / 1'y` (Cornuejols
/// and Tutuncu 2007, "Optimization methods in finance", section 8.2). The substitution needs an
/// asset with a positive mean; without one no long-only portfolio earns a positive premium, and
/// the minimum variance portfolio is returned instead.
fn max_sharpe_weights(moments: &Moments, qp: &mut WarmQp) -> Vec<f64> {
    let largest = moments.mean.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !(largest > 0.0) {
        return min_variance_weights(moments, qp);
    }
    // Scaling mu scales y, not w.
    let mean: Vec<f64> = moments.mean.iter().map(|m| m / largest).collect();
    match qp.solve(&moments.covariance, &vec![0.0; mean.len()], &mean) {
        Some(y) => y,
        None => min_variance_weights(moments, qp),
    }
}

/// Markowitz (1952) minimum variance, long-only and fully invested: `min w'S w` s.t. `1'w = 1`,
/// `w >= 0`, re-estimated at every decision with `S` the [`ledoit_wolf`] shrunk covariance of the
/// last `window` periods' returns. With fewer periods of history it uses all there is, and below
/// [`MIN_HISTORY`] it holds equal weights.
///
/// Defaults: `window` 252 periods (a year of daily data), simple returns, the fast paths of the
/// module doc, a new estimate at every decision.
///
/// [`MIN_HISTORY`]: super::MIN_HISTORY
/// [`ledoit_wolf`]: super::ledoit_wolf
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MinVariance {
    #[serde(flatten)]
    pub config: MarkowitzConfig,
    #[serde(skip)]
    fit: Fit,
}

impl MinVariance {
    pub fn new(config: MarkowitzConfig) -> Self {
        Self { config, fit: Fit::default() }
    }
}

impl Policy for MinVariance {
    fn id(&self) -> PolicyId {
        PolicyId::Baseline(BaselineId::MinVariance)
    }

    fn reset(&mut self) {
        self.fit.reset();
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        self.fit.decide(&self.config, view, out, min_variance_weights);
    }

    /// Prices and its own last estimate only.
    fn targets_ignore_costs(&self) -> bool {
        true
    }
}

/// Markowitz (1952) maximum Sharpe ratio (the tangency portfolio, Sharpe 1966), long-only and
/// fully invested, with cash's zero return as the risk-free rate: re-estimated at every decision
/// from the sample mean and the [`ledoit_wolf`] shrunk covariance of the last `window` periods'
/// returns, solved as the QP `min y'S y` s.t. `mu'y = 1`, `y >= 0`, `w = y / 1'y`.
/// When no asset has a positive mean return it falls back to [`MinVariance`]'s portfolio. With
/// fewer periods of history it uses all there is, and below [`MIN_HISTORY`] it holds equal
/// weights.
///
/// Defaults: as [`MinVariance`]'s.
///
/// [`MIN_HISTORY`]: super::MIN_HISTORY
/// [`ledoit_wolf`]: super::ledoit_wolf
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MaxSharpe {
    #[serde(flatten)]
    pub config: MarkowitzConfig,
    #[serde(skip)]
    fit: Fit,
}

impl MaxSharpe {
    pub fn new(config: MarkowitzConfig) -> Self {
        Self { config, fit: Fit::default() }
    }
}

impl Policy for MaxSharpe {
    fn id(&self) -> PolicyId {
        PolicyId::Baseline(BaselineId::MaxSharpe)
    }

    fn reset(&mut self) {
        self.fit.reset();
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        self.fit.decide(&self.config, view, out, max_sharpe_weights);
    }

    /// Prices and its own last estimate only.
    fn targets_ignore_costs(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::MIN_HISTORY;
    use crate::baselines::testing::*;
    use crate::data::synth::SynthConfig;
    use crate::env::{CostConfig, Market};
    use crate::portfolio_math::ledoit_wolf;
    use nalgebra::DMatrix;
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

    fn decisions(policy: &mut dyn Policy, market: &Arc<Market>, every: usize) -> (Vec<usize>, Vec<Vec<f64>>) {
        let log =
            crate::backtest::backtest(policy, market, whole(market), settings(CostConfig::default(), every))
                .unwrap();
        (log.decision_rows, log.weights)
    }

    fn assert_same_portfolios(a: &[Vec<f64>], b: &[Vec<f64>], tolerance: f64, what: &str) {
        assert_eq!(a.len(), b.len());
        for (k, (a, b)) in a.iter().zip(b).enumerate() {
            let gap = a.iter().zip(b).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(gap <= tolerance, "{what}, decision {k}: {gap}");
        }
    }

    #[test]
    fn the_fast_paths_give_the_reference_portfolios() {
        let recompute = MarkowitzConfig { covariance: Update::Recompute, ..MarkowitzConfig::default() };
        let reference = MarkowitzConfig { solver: QpSolver::InteriorPoint, ..recompute };
        for (seed, every) in [(8, 1), (9, 3)] {
            let market = synth_market(15, 500, seed);
            type Make = fn(MarkowitzConfig) -> Box<dyn Policy>;
            let makers: [(&str, Make); 2] = [
                ("min variance", |c| Box::new(MinVariance::new(c))),
                ("max Sharpe", |c| Box::new(MaxSharpe::new(c))),
            ];
            for (name, make) in makers {
                let (_, fast) = decisions(make(MarkowitzConfig::default()).as_mut(), &market, every);
                // Sliding sums instead of the window's product: rounding only.
                let (_, exact) = decisions(make(recompute).as_mut(), &market, every);
                assert_same_portfolios(&fast, &exact, 1e-9, name);
                // clarabel's own accuracy (see qp.rs).
                let (_, slow) = decisions(make(reference).as_mut(), &market, every);
                assert_same_portfolios(&fast, &slow, 1e-5, name);
            }
        }
    }

    /// The minimum-variance reference an anchored agent tilts from is this baseline's portfolio
    /// once its window has filled: the same estimate, the same QP.
    #[test]
    fn the_minimum_variance_reference_is_the_baselines_portfolio() {
        let (window, assets) = (60, 8);
        let config = SynthConfig { assets, periods: 300, seed: 4, ..SynthConfig::default() };
        let panel = crate::data::synth::generate(&config).unwrap();
        let features = crate::features::FeatureConfig {
            reference: crate::features::Reference::MinimumVariance,
            long_window: window,
            ..super::super::testing::returns_only()
        };
        let rows = panel.n_periods();
        let market = Arc::new(Market::new(panel, &features, None, 0..rows).unwrap());
        let baseline =
            MarkowitzConfig { window, covariance: Update::Recompute, ..MarkowitzConfig::default() };
        let (decided, portfolios) = decisions(&mut MinVariance::new(baseline), &market, 1);
        let mut compared = 0;
        for (&row, portfolio) in decided.iter().zip(&portfolios) {
            let reference = market.reference(row).unwrap();
            if row < window {
                assert!(reference[1..].iter().all(|&w| w == 1.0 / assets as f64), "row {row}: {reference:?}");
                continue;
            }
            let gap = reference.iter().zip(portfolio).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(gap <= 1e-12, "row {row}: {reference:?} against {portfolio:?}");
            compared += 1;
        }
        assert!(compared > 200, "{compared} rows compared");
    }

    #[test]
    fn a_monthly_refit_holds_the_first_estimate_of_each_month() {
        let market = synth_market(6, 400, 5);
        let (rows, daily) = decisions(&mut MinVariance::default(), &market, 1);
        let monthly_config = MarkowitzConfig { refit: Refit::Monthly, ..MarkowitzConfig::default() };
        let (_, monthly) = decisions(&mut MinVariance::new(monthly_config), &market, 1);
        let TimeIndex::Dates(dates) = &market.panel.index else { panic!("synthetic data is dated") };
        let month = |row: usize| (dates[row].year(), dates[row].month());
        let mut refits = 0;
        for k in 1..rows.len() {
            if rows[k - 1] < MIN_HISTORY {
                continue;
            }
            if month(rows[k]) == month(rows[k - 1]) {
                assert_eq!(monthly[k], monthly[k - 1], "decision {k} holds the month's estimate");
            } else {
                assert_same_portfolios(&monthly[k..=k], &daily[k..=k], 1e-9, "a new month re-estimates");
                refits += 1;
            }
        }
        assert!(refits >= 15, "{refits}");
        let undated = market_from_prices(market.panel.prices.clone());
        assert!(Refit::Monthly.check(&undated.panel.index).is_err());
        assert!(Refit::Periods(5).check(&undated.panel.index).is_ok());
        assert_eq!("monthly".parse::<Refit>(), Ok(Refit::Monthly));
        assert_eq!("21".parse::<Refit>(), Ok(Refit::Periods(21)));
        assert!("0".parse::<Refit>().is_err() && "weekly".parse::<Refit>().is_err());
    }
}
