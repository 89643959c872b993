//! What the baselines' unit tests share: small markets built by hand or synthesized, one
//! decision outside any backtest, and closeness checks.

use std::sync::Arc;

use nalgebra::DMatrix;
use ndarray::Array2;

use crate::backtest::{MarketView, Policy};
use crate::data::synth::{self, SynthConfig};
use crate::data::{PricePanel, TimeIndex};
use crate::env::config::EpisodeConfig;
use crate::env::{CostConfig, DecisionRange, EnvSettings, Limits, Market, RewardConfig};
use crate::features::{Feature, FeatureConfig};
pub(super) use crate::portfolio_math::assert_kkt;

pub(super) fn returns_only() -> FeatureConfig {
    FeatureConfig { window: 1, features: vec![Feature::LogReturn], ..FeatureConfig::default() }
}

pub(super) fn market_from_prices(prices: Array2<f64>) -> Arc<Market> {
    let (rows, n) = prices.dim();
    let assets = (0..n).map(|i| format!("A{}", i + 1)).collect();
    let panel = PricePanel::new("hand", assets, TimeIndex::Periods(rows), prices);
    Arc::new(Market::new(panel, &returns_only(), None, 0..rows).unwrap())
}

pub(super) fn hand_market(rows: &[&[f64]]) -> Arc<Market> {
    market_from_prices(Array2::from_shape_fn((rows.len(), rows[0].len()), |(t, i)| rows[t][i]))
}

pub(super) fn synth_market(assets: usize, periods: usize, seed: u64) -> Arc<Market> {
    let config = SynthConfig { assets, periods, seed, ..SynthConfig::default() };
    let panel = synth::generate(&config).unwrap();
    let rows = panel.n_periods();
    Arc::new(Market::new(panel, &returns_only(), None, 0..rows).unwrap())
}

pub(super) fn whole(market: &Market) -> DecisionRange {
    DecisionRange { first: market.first_observable(), last: market.n_periods() - 1 }
}

pub(super) fn settings(costs: CostConfig, rebalance_every: usize) -> EnvSettings {
    EnvSettings {
        costs,
        reward: RewardConfig::LogReturn,
        episode: EpisodeConfig { horizon: 0, rebalance_every, embargo: 0, no_trade_band: 0.0 },
        limits: Limits::NONE,
    }
}

/// One decision at `row`, outside any backtest, holding `weights`.
pub(super) fn decide_at(policy: &mut dyn Policy, market: &Market, row: usize, weights: &[f64]) -> Vec<f64> {
    let mut out = vec![f64::NAN; market.n_assets() + 1];
    policy.decide(&MarketView::new(market, row, &[], weights), &mut out);
    out
}

pub(super) fn assert_close(actual: &[f64], expected: &[f64], tolerance: f64) {
    assert_eq!(actual.len(), expected.len());
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!((a - e).abs() <= tolerance, "entry {i}: {a} vs {e} (all: {actual:?} vs {expected:?})");
    }
}

pub(super) fn assert_valid(weights: &[f64], context: &str) {
    assert!(weights.iter().all(|w| w.is_finite() && *w >= 0.0), "{context}: {weights:?}");
    let sum: f64 = weights.iter().sum();
    assert!((sum - 1.0).abs() < 1e-12, "{context}: sum {sum}");
}

/// Simple returns `[period][asset]` of rows `row - window + 1 ..= row`, straight from prices.
pub(super) fn returns_from_prices(market: &Market, row: usize, window: usize) -> DMatrix<f64> {
    let p = &market.panel.prices;
    DMatrix::from_fn(window, market.n_assets(), |k, i| {
        let t = row + 1 - window + k;
        p[[t, i]] / p[[t - 1, i]] - 1.0
    })
}
