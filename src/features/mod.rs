//! Causal features: what an agent may know at the close of period `t` is computed from prices
//! `p[0..=t]` only. Each feature is a time series per asset; an observation holds the last
//! `window` values of every feature of every asset, shaped `[asset, feature, time]`, which is the
//! layout a per-asset convolution (EIIE) reads directly.
//!
//! Normalization statistics are fitted on rows up to the end of training only (every row from
//! the first, so a rolling window's earlier history counts too) and stored ([`Normalizer`]), so
//! validation, test and later evaluation runs apply the exact same transformation.

use serde::{Deserialize, Serialize};
use std::ops::Range;

use crate::data::{InvalidSetting, PricePanel};
use crate::stats;

mod reference;
mod risk;

pub use reference::{ManagedExposure, Reference};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// `ln(p[t] / p[t-1])`.
    LogReturn,
    /// Sample standard deviation of the last `volatility_window` log returns.
    Volatility,
    /// `ln(p[t] / p[t - momentum_window])`.
    Momentum,
    /// Wilder's relative strength index over `rsi_period` price changes, scaled to [0, 1].
    Rsi,
    /// Bollinger %B: `(p - lower) / (upper - lower)` with bands at the `bollinger_period` simple
    /// moving average plus and minus `bollinger_width` population standard deviations.
    Bollinger,
    /// `ln(p[t+1] / p[t])`: the NEXT period's log return, which no real agent can know. It
    /// breaks causality on purpose and exists only for the oracle sanity probe (`folio probe`,
    /// [`crate::eval::probe`]): a learner that is given tomorrow's returns must exploit them.
    /// Never part of [`Feature::ALL`]; never use it in a config meant to trade.
    OracleNextReturn,
    /// Downside deviation `sqrt(mean(min(r, 0)^2))` of the last `volatility_window` log returns.
    DownsideVolatility,
    /// Sample standard deviation of the last `long_window` log returns: the slow horizon beside
    /// `volatility`.
    LongVolatility,
    /// Correlation of the asset's log returns with the equal-weight market's (the mean of every
    /// asset's simple return) over the last `long_window` periods.
    MarketCorrelation,
    /// Beta of the asset's log returns to the equal-weight market's over the last `long_window`
    /// periods: `cov(r_i, r_m) / var(r_m)`.
    MarketBeta,
    /// Cross-sectional rank in `[0, 1]` of 12-1 momentum, `ln(p[t - skip] / p[t - lookback])`
    /// (Jegadeesh and Titman 1993: the last month is skipped for its reversal): 1 for the
    /// strongest asset, 0.5 for all when there is a single asset.
    MomentumRank,
    /// Cross-sectional rank in `[0, 1]` of the last `reversal_window` periods' log return, the
    /// short-term reversal signal (Jegadeesh 1990; Lehmann 1990).
    ReversalRank,
}

impl Feature {
    pub const ALL: [Feature; 5] =
        [Feature::LogReturn, Feature::Volatility, Feature::Momentum, Feature::Rsi, Feature::Bollinger];

    /// The risk and cross-sectional features (none in the defaults: see `docs/learner.md`).
    pub const RISK: [Feature; 6] = [
        Feature::DownsideVolatility,
        Feature::LongVolatility,
        Feature::MarketCorrelation,
        Feature::MarketBeta,
        Feature::MomentumRank,
        Feature::ReversalRank,
    ];

    /// Whether the feature at a row reads only prices up to that row. Only the oracle probe's
    /// feature does not.
    pub fn is_causal(self) -> bool {
        self != Feature::OracleNextReturn
    }

    pub fn name(self) -> &'static str {
        match self {
            Feature::LogReturn => "log_return",
            Feature::Volatility => "volatility",
            Feature::Momentum => "momentum",
            Feature::Rsi => "rsi",
            Feature::Bollinger => "bollinger",
            Feature::OracleNextReturn => "oracle_next_return",
            Feature::DownsideVolatility => "downside_volatility",
            Feature::LongVolatility => "long_volatility",
            Feature::MarketCorrelation => "market_correlation",
            Feature::MarketBeta => "market_beta",
            Feature::MomentumRank => "momentum_rank",
            Feature::ReversalRank => "reversal_rank",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureConfig {
    /// Periods of history in each observation.
    pub window: usize,
    pub features: Vec<Feature>,
    pub volatility_window: usize,
    pub momentum_window: usize,
    pub rsi_period: usize,
    pub bollinger_period: usize,
    pub bollinger_width: f64,
    /// Periods of the slow risk features (long volatility, market correlation and beta) and of
    /// the minimum-variance reference's covariance estimate.
    pub long_window: usize,
    /// 12-1 momentum's lookback and the recent periods it skips.
    pub rank_lookback: usize,
    pub rank_skip: usize,
    /// Periods of the short-term reversal signal.
    pub reversal_window: usize,
    /// Normalized values are clipped to plus or minus this many standard deviations, so that a
    /// crash day cannot saturate a network.
    pub clip: f64,
    /// The reference portfolio each observation carries after the current weights, which an
    /// anchored policy tilts away from. A `[features]` table that omits it gets equal weight
    /// ([`FeatureConfig::default`], filled in by the config loader); a checkpoint saved before
    /// references existed reads as [`Reference::None`], which is how it was trained.
    #[serde(default = "Reference::absent")]
    pub reference: Reference,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            window: 50,
            features: Feature::ALL.to_vec(),
            volatility_window: 20,
            momentum_window: 20,
            rsi_period: 14,
            bollinger_period: 20,
            bollinger_width: 2.0,
            long_window: 120,
            rank_lookback: 252,
            rank_skip: 21,
            reversal_window: 5,
            clip: 10.0,
            reference: Reference::EqualWeight,
        }
    }
}

impl FeatureConfig {
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if self.window == 0 {
            return Err(InvalidSetting::new("features.window", "features.window must be at least 1"));
        }
        for (i, f) in self.features.iter().enumerate() {
            if self.features[..i].contains(f) {
                return Err(InvalidSetting::new(
                    "features.features",
                    format!("feature '{}' is listed twice", f.name()),
                ));
            }
        }
        let at_least = |setting: &'static str, value: usize, least: usize, why: &str| {
            InvalidSetting::require(value >= least, setting, &format!("at least {least}{why}"), &value)
        };
        let spread = ": a standard deviation needs two values";
        at_least("features.volatility_window", self.volatility_window, 2, spread)?;
        at_least("features.bollinger_period", self.bollinger_period, 2, spread)?;
        at_least("features.long_window", self.long_window, 2, spread)?;
        at_least("features.momentum_window", self.momentum_window, 1, "")?;
        at_least("features.rsi_period", self.rsi_period, 1, "")?;
        at_least("features.reversal_window", self.reversal_window, 1, "")?;
        if self.rank_lookback <= self.rank_skip {
            return Err(InvalidSetting::new(
                "features.rank_lookback",
                format!(
                    "features.rank_lookback must exceed features.rank_skip (the momentum it ranks runs from the lookback to the skip), got {} and {}",
                    self.rank_lookback, self.rank_skip
                ),
            ));
        }
        for (setting, value) in
            [("features.bollinger_width", self.bollinger_width), ("features.clip", self.clip)]
        {
            InvalidSetting::require(
                value > 0.0 && value.is_finite(),
                setting,
                "positive and finite",
                &value,
            )?;
        }
        Ok(())
    }

    /// First row at which this feature has a value: it needs that many periods of history.
    fn first_defined(&self, feature: Feature) -> usize {
        match feature {
            Feature::LogReturn => 1,
            Feature::Volatility => self.volatility_window,
            Feature::Momentum => self.momentum_window,
            Feature::Rsi => self.rsi_period,
            Feature::Bollinger => self.bollinger_period - 1,
            Feature::OracleNextReturn => 0,
            Feature::DownsideVolatility => self.volatility_window,
            Feature::LongVolatility | Feature::MarketCorrelation | Feature::MarketBeta => self.long_window,
            Feature::MomentumRank => self.rank_lookback,
            Feature::ReversalRank => self.reversal_window,
        }
    }

    /// Periods of history needed before the first complete observation. Without features (a
    /// market for rule-based strategies only) there is none.
    pub fn warmup(&self) -> usize {
        match self.features.iter().map(|&f| self.first_defined(f)).max() {
            Some(defined) => defined + self.window - 1,
            None => 0,
        }
    }

    /// No features at all: observations hold only the current weights. For backtests of
    /// rule-based strategies, which read prices themselves and can decide from the first row.
    pub fn none() -> Self {
        Self { window: 1, features: Vec::new(), reference: Reference::None, ..Self::default() }
    }
}

/// Raw (unnormalized) feature values of a panel, `[asset][feature][time]`.
#[derive(Debug, Clone)]
pub struct FeatureSet {
    pub config: FeatureConfig,
    n_assets: usize,
    n_periods: usize,
    values: Vec<f64>,
}

impl FeatureSet {
    /// Compute every configured feature for every asset and period. Values before a feature is
    /// defined are zero; [`FeatureConfig::warmup`] says from which row observations are complete.
    pub fn compute(panel: &PricePanel, config: &FeatureConfig) -> Self {
        let (n_periods, n_assets) = (panel.n_periods(), panel.n_assets());
        let n_features = config.features.len();
        let mut values = vec![0.0; n_assets * n_features * n_periods];
        let market = risk::equal_weight_log_returns(panel);
        for asset in 0..n_assets {
            let prices: Vec<f64> = panel.asset_prices(asset).to_vec();
            for (k, &feature) in config.features.iter().enumerate() {
                let start = (asset * n_features + k) * n_periods;
                let out = &mut values[start..start + n_periods];
                match feature {
                    Feature::LogReturn => log_returns(&prices, out),
                    Feature::Volatility => rolling_volatility(&prices, config.volatility_window, out),
                    Feature::Momentum => momentum(&prices, config.momentum_window, out),
                    Feature::Rsi => rsi(&prices, config.rsi_period, out),
                    Feature::Bollinger => {
                        bollinger_percent_b(&prices, config.bollinger_period, config.bollinger_width, out)
                    }
                    Feature::OracleNextReturn => next_log_returns(&prices, out),
                    Feature::DownsideVolatility => {
                        risk::downside_volatility(&prices, config.volatility_window, out)
                    }
                    Feature::LongVolatility => rolling_volatility(&prices, config.long_window, out),
                    Feature::MarketCorrelation => {
                        risk::market_correlation(&prices, &market, config.long_window, out)
                    }
                    Feature::MarketBeta => risk::market_beta(&prices, &market, config.long_window, out),
                    // Ranks compare assets: filled below, once every asset's signal is known.
                    Feature::MomentumRank | Feature::ReversalRank => {}
                }
            }
        }
        for (k, &feature) in config.features.iter().enumerate() {
            let (lookback, skip) = match feature {
                Feature::MomentumRank => (config.rank_lookback, config.rank_skip),
                Feature::ReversalRank => (config.reversal_window, 0),
                _ => continue,
            };
            let ranks = risk::cross_sectional_ranks(panel, lookback, skip);
            for asset in 0..n_assets {
                let start = (asset * n_features + k) * n_periods;
                values[start..start + n_periods]
                    .copy_from_slice(&ranks[asset * n_periods..(asset + 1) * n_periods]);
            }
        }
        Self { config: config.clone(), n_assets, n_periods, values }
    }

    pub fn n_assets(&self) -> usize {
        self.n_assets
    }

    pub fn n_periods(&self) -> usize {
        self.n_periods
    }

    pub fn value(&self, asset: usize, feature: usize, t: usize) -> f64 {
        self.values[(asset * self.config.features.len() + feature) * self.n_periods + t]
    }

    /// Fit per-feature mean and standard deviation over `rows` (every row up to the end of
    /// training) pooled across assets, so one transformation serves every asset alike.
    pub fn fit_normalizer(&self, rows: Range<usize>) -> Normalizer {
        let rows = rows.start.max(self.config.warmup().saturating_sub(self.config.window - 1))
            ..rows.end.min(self.n_periods);
        let n_features = self.config.features.len();
        let mut mean = vec![0.0; n_features];
        let mut std = vec![1.0; n_features];
        for k in 0..n_features {
            let first = self.config.first_defined(self.config.features[k]).max(rows.start);
            let samples: Vec<f64> = (0..self.n_assets)
                .flat_map(|a| (first..rows.end).map(move |t| (a, t)))
                .map(|(a, t)| self.value(a, k, t))
                .collect();
            if samples.len() >= 2 {
                let var = stats::sample_variance(&samples);
                mean[k] = stats::mean(&samples);
                std[k] = if var.sqrt() > 1e-12 { var.sqrt() } else { 1.0 };
            }
        }
        Normalizer { features: self.config.features.clone(), mean, std, clip: self.config.clip }
    }

    /// Apply `normalizer` to every value, giving the `f32` series the environment serves.
    pub fn normalize(&self, normalizer: &Normalizer) -> Result<NormalizedFeatures, NormalizerMismatch> {
        if normalizer.features != self.config.features {
            return Err(NormalizerMismatch {
                fitted: normalizer.features.clone(),
                data: self.config.features.clone(),
            });
        }
        let n_features = self.config.features.len();
        let mut values = Vec::with_capacity(self.values.len());
        for (series_index, series) in self.values.chunks(self.n_periods).enumerate() {
            let k = series_index % n_features;
            values.extend(series.iter().map(|&v| normalizer.apply(k, v) as f32));
        }
        Ok(NormalizedFeatures {
            n_assets: self.n_assets,
            n_features,
            n_periods: self.n_periods,
            window: self.config.window,
            values,
        })
    }
}

/// A normalizer applied to features other than those it was fitted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the normalizer was fitted for features [{}] but the data has [{}]", names(.fitted), names(.data))]
pub struct NormalizerMismatch {
    pub fitted: Vec<Feature>,
    pub data: Vec<Feature>,
}

fn names(features: &[Feature]) -> String {
    features.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
}

/// The fitted standardization of each feature: `clamp((v - mean) / std, -clip, clip)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalizer {
    pub features: Vec<Feature>,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    pub clip: f64,
}

impl Normalizer {
    pub fn apply(&self, feature: usize, value: f64) -> f64 {
        ((value - self.mean[feature]) / self.std[feature]).clamp(-self.clip, self.clip)
    }
}

/// Normalized features laid out `[asset][feature][time]` so that an observation window is a
/// contiguous copy per asset and feature.
#[derive(Debug, Clone)]
pub struct NormalizedFeatures {
    pub n_assets: usize,
    pub n_features: usize,
    pub n_periods: usize,
    pub window: usize,
    values: Vec<f32>,
}

impl NormalizedFeatures {
    /// Length of one observation's feature part: `assets * features * window`.
    pub fn observation_len(&self) -> usize {
        self.n_assets * self.n_features * self.window
    }

    /// Write the observation for a decision at the close of `t` (rows `t + 1 - window ..= t`)
    /// into `out`, shaped `[asset][feature][window]`, oldest first.
    pub fn write_window(&self, t: usize, out: &mut [f32]) {
        debug_assert!(t + 1 >= self.window && t < self.n_periods);
        debug_assert_eq!(out.len(), self.observation_len());
        let start = t + 1 - self.window;
        for (series, target) in
            self.values.chunks_exact(self.n_periods).zip(out.chunks_exact_mut(self.window))
        {
            target.copy_from_slice(&series[start..=t]);
        }
    }
}

fn log_returns(prices: &[f64], out: &mut [f64]) {
    for t in 1..prices.len() {
        out[t] = (prices[t] / prices[t - 1]).ln();
    }
}

/// The oracle probe's leak: row `t` holds `ln(p[t+1] / p[t])`; the last row, with no next
/// period, holds zero.
fn next_log_returns(prices: &[f64], out: &mut [f64]) {
    for t in 0..prices.len().saturating_sub(1) {
        out[t] = (prices[t + 1] / prices[t]).ln();
    }
}

pub(super) fn rolling_volatility(prices: &[f64], window: usize, out: &mut [f64]) {
    // Sums over the window are kept incrementally; the returns are small, so the running
    // sum of squares stays accurate over the lengths folio uses.
    let r: Vec<f64> = std::iter::once(0.0).chain(prices.windows(2).map(|w| (w[1] / w[0]).ln())).collect();
    let n = window as f64;
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    for t in 1..prices.len() {
        sum += r[t];
        sum_sq += r[t] * r[t];
        if t > window {
            sum -= r[t - window];
            sum_sq -= r[t - window] * r[t - window];
        }
        if t >= window {
            let mut var = (sum_sq - sum * sum / n) / (n - 1.0);
            // After a wild stretch the running sums of a flat window (a halted asset's price
            // carried forward) cancel to rounding noise of either sign, not to zero, and an
            // inverse-volatility weight of that noise is nearly everything: measure such a
            // window directly. A real daily variance is many orders above the threshold.
            if var < 1e-12 {
                var = stats::sample_variance(&r[t + 1 - window..=t]);
            }
            out[t] = var.max(0.0).sqrt();
        }
    }
}

fn momentum(prices: &[f64], lookback: usize, out: &mut [f64]) {
    for t in lookback..prices.len() {
        out[t] = (prices[t] / prices[t - lookback]).ln();
    }
}

/// Wilder's RSI: the first averages are simple means of the first `period` gains and losses,
/// later ones are smoothed `avg = (avg * (period - 1) + change) / period`.
fn rsi(prices: &[f64], period: usize, out: &mut [f64]) {
    if prices.len() <= period {
        return;
    }
    let (mut gain, mut loss) = (0.0, 0.0);
    for t in 1..=period {
        let change = prices[t] - prices[t - 1];
        gain += change.max(0.0);
        loss += (-change).max(0.0);
    }
    let n = period as f64;
    gain /= n;
    loss /= n;
    out[period] = rsi_value(gain, loss);
    for t in period + 1..prices.len() {
        let change = prices[t] - prices[t - 1];
        gain = (gain * (n - 1.0) + change.max(0.0)) / n;
        loss = (loss * (n - 1.0) + (-change).max(0.0)) / n;
        out[t] = rsi_value(gain, loss);
    }
}

fn rsi_value(gain: f64, loss: f64) -> f64 {
    if gain + loss == 0.0 { 0.5 } else { gain / (gain + loss) }
}

fn bollinger_percent_b(prices: &[f64], period: usize, width: f64, out: &mut [f64]) {
    for t in period - 1..prices.len() {
        let window = &prices[t + 1 - period..=t];
        let (mean, std) = (stats::mean(window), stats::population_std(window));
        out[t] = if std > 0.0 { (prices[t] - (mean - width * std)) / (2.0 * width * std) } else { 0.5 };
    }
}
