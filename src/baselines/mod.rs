//! Classic allocation strategies, run as policies through the same environment as agents.
//!
//! Every baseline is a [`Policy`]: it pays the same costs and drifts with the same prices as an
//! agent, so a comparison measures the decisions and nothing else. Four families, a file each:
//!
//! - Portfolio rules (`rules.rs`): [`EqualWeight`] (uniform CRP), [`BuyAndHold`],
//!   [`InverseVolatility`], [`VolatilityManaged`] (the one that holds cash by risk),
//!   [`TrendFollowing`].
//! - Markowitz portfolios (`markowitz.rs`): [`MinVariance`] and [`MaxSharpe`] on a rolling
//!   [`ledoit_wolf`] covariance (`covariance.rs`, carried from one decision to the next), each a
//!   long-only QP solved by a warm-started active set (`portfolio_math`, with clarabel's interior point as
//!   the reference and the fallback).
//! - Online portfolio selection (`olps.rs`; OLPS, Li and Hoi 2014, "Online portfolio selection: a
//!   survey"): [`Olmar`], [`Pamr`], [`Eg`], [`Ons`], each an update rule that [`Online`] runs.
//!   They allocate among the assets only (cash weight 0), start from uniform weights at the first
//!   decision (`b_1 = 1/N`, as in their papers) and update at every later decision from the
//!   assets' price relatives since the previous one (the holding period's `x_t`; one period when
//!   rebalancing every period).
//! - Hindsight benchmarks (`hindsight.rs`): [`BestAsset`] and [`Bcrp`] are *not causal*: their
//!   constructors read the whole evaluation range. They bound what a fixed allocation could have
//!   done, and their names say "(hindsight)". [`BaselineId::uses_hindsight`] tells them apart.
//!
//! This file holds what the families share: the registry ([`baseline`], [`all`]) and the pieces
//! every family's output goes through (valid weights, rolling-window returns, the simplex
//! projection).
//!
//! Causal baselines read the market only through [`MarketView`], which refuses rows after the
//! decision. Every output is made valid in f64 (finite, non-negative, summing to one) before it
//! reaches the environment.

mod covariance;
mod hindsight;
mod markowitz;
mod olps;
mod rules;
#[cfg(test)]
mod testing;

use std::sync::Arc;

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::backtest::{BaselineId, MarketView, Policy};
use crate::env::{DecisionRange, Market};
pub use crate::portfolio_math::{QpSolver, ledoit_wolf};
pub use covariance::Update;
pub use hindsight::{Bcrp, BestAsset, bcrp_weights};
pub use markowitz::{MarkowitzConfig, MaxSharpe, MinVariance, Refit, RefitError};
pub use olps::{Eg, Olmar, Online, OnlineUpdate, Ons, OnsTarget, Pamr};
pub use rules::{BuyAndHold, EqualWeight, InverseVolatility, TrendFollowing, VolatilityManaged};

// ------------------------------------------------------------------------------------------------
// Registry
// ------------------------------------------------------------------------------------------------

/// The baseline `id` with its default parameters. `market`'s prices, `range` and the run's
/// `rebalance_every` are read only by the hindsight baselines (BCRP is the best allocation held
/// between the run's own rebalancing dates, not the best one rebalanced daily); the others see
/// prices through each decision's [`MarketView`] (volatility management takes its windows from
/// the market's feature config).
pub fn baseline(
    id: BaselineId,
    market: &Arc<Market>,
    range: DecisionRange,
    rebalance_every: usize,
) -> Result<Box<dyn Policy>, BaselineError> {
    Ok(match id {
        BaselineId::EqualWeight => Box::new(EqualWeight),
        BaselineId::BuyAndHold => Box::new(BuyAndHold::default()),
        BaselineId::BestAsset => Box::new(BestAsset::new(market, range)?),
        BaselineId::Bcrp => Box::new(Bcrp::rebalanced_every(market, range, rebalance_every)?),
        BaselineId::MinVariance => Box::new(MinVariance::default()),
        BaselineId::MaxSharpe => Box::new(MaxSharpe::default()),
        BaselineId::InverseVolatility => Box::new(InverseVolatility::default()),
        BaselineId::VolatilityManaged => {
            // The market's own windows, so that the baseline is the reference an agent anchored
            // on it holds.
            let features = &market.feature_config;
            Box::new(VolatilityManaged::new(features.volatility_window, features.long_window))
        }
        BaselineId::TrendFollowing => Box::new(TrendFollowing::for_market(market)),
        BaselineId::Olmar => Box::new(Online::new(Olmar::default())),
        BaselineId::Pamr => Box::new(Online::new(Pamr::default())),
        BaselineId::Eg => Box::new(Online::new(Eg::default())),
        BaselineId::Ons => Box::new(Online::new(Ons::default())),
    })
}

/// Every baseline of [`BaselineId::ALL`], with default parameters, for a run that rebalances
/// every `rebalance_every` periods. Fails only when `range` does not fit `market` (the hindsight
/// baselines read it).
pub fn all(
    market: &Arc<Market>,
    range: DecisionRange,
    rebalance_every: usize,
) -> Result<Vec<Box<dyn Policy>>, BaselineError> {
    BaselineId::ALL.into_iter().map(|id| baseline(id, market, range, rebalance_every)).collect()
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

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::{PolicyId, backtest};
    use crate::baselines::testing::*;
    use crate::data::synth::{self, SynthConfig};
    use crate::env::CostConfig;
    use ndarray::Array2;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

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

    #[test]
    fn rolling_estimators_hold_equal_weights_without_enough_history() {
        // Seed 2: on some 20-period samples (seed 1's) Ledoit-Wolf shrinks all the way to the
        // identity, whose minimum variance portfolio is equal weight again.
        let market = synth_market(3, 100, 2);
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
    fn every_baseline_gives_valid_weights_through_the_environment_and_repeats_after_reset() {
        let market = synth_market(5, 500, 12);
        let range = whole(&market);
        for every in [1, 5] {
            for mut policy in all(&market, range, every).unwrap() {
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
                let mut policy = baseline(id, market, range, 1).unwrap();
                backtest(policy.as_mut(), market, range, settings(CostConfig::default(), 1)).unwrap()
            };
            let (on_a, on_b) = (run(&a), run(&b));
            let upto = on_a.decision_rows.iter().take_while(|&&row| row <= cut).count();
            assert!(upto > 200);
            assert_eq!(on_a.weights[..upto], on_b.weights[..upto], "{id} looked ahead");
        }
    }

    /// A constant allocation, rebalanced to at each decision.
    struct Fixed(Vec<f64>);

    impl Policy for Fixed {
        fn id(&self) -> PolicyId {
            PolicyId::Baseline(BaselineId::Bcrp)
        }

        fn decide(&mut self, _: &MarketView<'_>, out: &mut [f64]) {
            write_assets(out, &self.0);
        }
    }

    /// With weekly rebalancing the registry's BCRP is the best allocation held from one
    /// rebalancing date to the next: no fixed allocation held the same way ends richer, and the
    /// daily BCRP's weights, held weekly, end poorer.
    #[test]
    fn the_registry_bcrp_is_the_best_fixed_allocation_under_the_runs_rebalancing() {
        // Two swinging assets, neither better throughout: the optimum is inside the simplex.
        let prices = Array2::from_shape_fn((400, 2), |(t, asset)| {
            let t = t as f64;
            if asset == 0 { 10.0 + 2.0 * (0.9 * t).sin() + 0.002 * t } else { 10.0 + 1.5 * (1.3 * t).cos() }
        });
        let market = market_from_prices(prices);
        let range = whole(&market);
        let every = 5;
        let final_value = |policy: &mut dyn Policy| {
            let log = backtest(policy, &market, range, settings(CostConfig::free(), every)).unwrap();
            *log.values.last().unwrap()
        };
        let mut bcrp = baseline(BaselineId::Bcrp, &market, range, every).unwrap();
        let best = final_value(bcrp.as_mut());
        for k in 0..=200 {
            let w = k as f64 / 200.0;
            assert!(final_value(&mut Fixed(vec![w, 1.0 - w])) <= best * (1.0 + 1e-12), "{w}");
        }
        let daily = Bcrp::new(&market, range).unwrap();
        assert!(daily.weights()[0] > 0.01 && daily.weights()[0] < 0.99, "{:?}", daily.weights());
        assert!(final_value(&mut Fixed(daily.weights().to_vec())) < best * (1.0 - 1e-6));
    }

    #[test]
    fn every_baseline_runs_under_its_own_identity() {
        let market = synth_market(3, 100, 1);
        let range = whole(&market);
        let ids: Vec<PolicyId> = all(&market, range, 1).unwrap().iter().map(|p| p.id()).collect();
        assert_eq!(ids, BaselineId::ALL.map(PolicyId::Baseline));
    }
}
