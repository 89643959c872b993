//! A seeded synthetic market: correlated geometric Brownian motion whose drift and volatility
//! switch between regimes, with random jumps and an optional crash day. Tests use it to build
//! markets whose properties are known; `folio data synth` writes one to CSV.
//!
//! Per period and asset the log return is
//! `r = (mu_k - sigma_k^2 / 2) dt + sigma_k sqrt(dt) (sqrt(rho) z_market + sqrt(1 - rho) z_i) + J`
//! where `k` is the current regime (a Markov chain), `rho` the pairwise correlation (one-factor
//! model: every pair of assets has correlation `rho`) and `J` a compound-Poisson jump.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use ndarray::Array2;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, Normal, StandardNormal};
use serde::{Deserialize, Serialize};

use super::{InvalidSetting, PricePanel, TimeIndex};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Regime {
    /// Annualized drift of every asset in this regime.
    pub drift: f64,
    /// Annualized volatility of every asset in this regime.
    pub volatility: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SynthConfig {
    pub assets: usize,
    pub periods: usize,
    /// Date of the first row; later rows fall on weekdays.
    pub start: NaiveDate,
    pub seed: u64,
    pub periods_per_year: f64,
    /// Pairwise correlation of the assets' diffusion parts, in [0, 1).
    pub correlation: f64,
    /// Regimes of the Markov chain; the chain starts in the first.
    pub regimes: Vec<Regime>,
    /// Probability per period of leaving the current regime for another one.
    pub switch_probability: f64,
    /// Expected number of jumps per asset per year.
    pub jumps_per_year: f64,
    /// Mean and standard deviation of a jump's log size.
    pub jump_mean: f64,
    pub jump_std: f64,
    /// A crash: on this row every asset falls by this fraction (0.2 = -20%).
    pub crash: Option<Crash>,
    /// Per-asset spread of drifts around the regime drift (annualized standard deviation), so
    /// that assets differ.
    pub drift_dispersion: f64,
    /// A planted, learnable signal: each asset's log return carries this fraction of its previous
    /// one, `r_t = phi r_{t-1} + e_t` (AR(1) momentum when positive, reversal when negative).
    /// 0 leaves returns unpredictable.
    pub autocorrelation: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Crash {
    pub period: usize,
    pub fall: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            assets: 5,
            periods: 1500,
            start: NaiveDate::from_ymd_opt(2010, 1, 4).expect("valid date"),
            seed: 7,
            periods_per_year: 252.0,
            correlation: 0.3,
            regimes: vec![
                Regime { drift: 0.10, volatility: 0.15 },
                Regime { drift: -0.15, volatility: 0.35 },
            ],
            switch_probability: 0.01,
            jumps_per_year: 1.0,
            jump_mean: -0.03,
            jump_std: 0.05,
            crash: None,
            drift_dispersion: 0.05,
            autocorrelation: 0.0,
        }
    }
}

impl SynthConfig {
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if self.assets == 0 || self.periods < 2 {
            let setting = if self.assets == 0 { "assets" } else { "periods" };
            return Err(InvalidSetting::new(
                setting,
                "a synthetic market needs at least one asset and two periods",
            ));
        }
        if !(0.0..1.0).contains(&self.correlation) {
            return Err(InvalidSetting::new(
                "correlation",
                format!("correlation must be in [0, 1), got {}", self.correlation),
            ));
        }
        if self.assets.saturating_mul(self.periods) > MAX_CELLS {
            return Err(InvalidSetting::new(
                "periods",
                format!(
                    "{} assets x {} periods is more than {MAX_CELLS} prices; generate a smaller market",
                    self.assets, self.periods
                ),
            ));
        }
        // Rows after the first fall on weekdays: seven calendar days to five rows, and at most
        // two days to the first weekday and two more over a weekend. A price file writes
        // four-digit years, so a market that runs past 9999 could be written but never read back.
        let last_written = NaiveDate::from_ymd_opt(9999, 12, 31).expect("valid date");
        let steps = self.periods.saturating_sub(1) as u64;
        let days = (steps / 5).saturating_mul(7).saturating_add(steps % 5 + 4);
        if self.start.checked_add_days(Days::new(days)).is_none_or(|last| last > last_written) {
            return Err(InvalidSetting::new(
                "start",
                format!(
                    "{} periods from {} run past {last_written}, the last date a price file can hold",
                    self.periods, self.start
                ),
            ));
        }
        if self.regimes.is_empty()
            || self
                .regimes
                .iter()
                .any(|r| !(r.volatility >= 0.0 && r.volatility.is_finite() && r.drift.is_finite()))
        {
            return Err(InvalidSetting::new(
                "regimes",
                "regimes need finite drifts and finite, non-negative volatilities",
            ));
        }
        if !(0.0..=1.0).contains(&self.switch_probability) {
            return Err(InvalidSetting::new("switch_probability", "switch_probability must be in [0, 1]"));
        }
        if let Some(crash) = self.crash
            && (crash.period == 0 || crash.period >= self.periods || !(0.0..1.0).contains(&crash.fall))
        {
            return Err(InvalidSetting::new(
                "crash",
                "a crash needs a period inside the market (not the first row) and a fall in [0, 1)",
            ));
        }
        if !(self.autocorrelation > -1.0 && self.autocorrelation < 1.0) {
            return Err(InvalidSetting::new(
                "autocorrelation",
                format!("autocorrelation must be in (-1, 1), got {}", self.autocorrelation),
            ));
        }
        let spreads = [
            ("jumps_per_year", self.jumps_per_year),
            ("jump_std", self.jump_std),
            ("drift_dispersion", self.drift_dispersion),
        ];
        if let Some((setting, _)) = spreads.into_iter().find(|(_, value)| !(*value >= 0.0)) {
            return Err(InvalidSetting::new(
                setting,
                "jump rate, jump size spread and drift dispersion must be non-negative",
            ));
        }
        Ok(())
    }
}

/// Log returns `[periods - 1, assets]` and the regime of each period, from the config's seed.
pub fn generate_log_returns(config: &SynthConfig) -> (Array2<f64>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let dt = 1.0 / config.periods_per_year;
    let n = config.assets;
    let steps = config.periods - 1;
    let asset_drift_offsets: Vec<f64> =
        (0..n).map(|_| config.drift_dispersion * rng.sample::<f64, _>(StandardNormal)).collect();
    let jump_size = Normal::new(config.jump_mean, config.jump_std).expect("validated jump spread");
    let jump_probability = (config.jumps_per_year * dt).min(1.0);
    let market_loading = config.correlation.sqrt();
    let own_loading = (1.0 - config.correlation).sqrt();

    let mut returns = Array2::zeros((steps, n));
    let mut regimes = Vec::with_capacity(steps);
    let mut regime = 0usize;
    for t in 0..steps {
        if config.regimes.len() > 1 && rng.random_bool(config.switch_probability) {
            let other = rng.random_range(0..config.regimes.len() - 1);
            regime = if other >= regime { other + 1 } else { other };
        }
        regimes.push(regime);
        let Regime { drift, volatility } = config.regimes[regime];
        let z_market: f64 = rng.sample(StandardNormal);
        for i in 0..n {
            let z_own: f64 = rng.sample(StandardNormal);
            let shock = market_loading * z_market + own_loading * z_own;
            let mu = drift + asset_drift_offsets[i];
            let mut r = (mu - 0.5 * volatility * volatility) * dt + volatility * dt.sqrt() * shock;
            if rng.random_bool(jump_probability) {
                r += jump_size.sample(&mut rng);
            }
            if t > 0 {
                r += config.autocorrelation * returns[[t - 1, i]];
            }
            returns[[t, i]] = r;
        }
        if let Some(crash) = config.crash
            && crash.period == t + 1
        {
            for i in 0..n {
                returns[[t, i]] += (1.0 - crash.fall).ln();
            }
        }
    }
    (returns, regimes)
}

/// Prices that start at 100 and follow `log_returns`, dated on weekdays from `start`.
pub fn panel_from_log_returns(log_returns: &Array2<f64>, start: NaiveDate, name_prefix: &str) -> PricePanel {
    let (steps, n) = log_returns.dim();
    let mut prices = Array2::zeros((steps + 1, n));
    prices.row_mut(0).fill(100.0);
    for t in 0..steps {
        for i in 0..n {
            prices[[t + 1, i]] = prices[[t, i]] * log_returns[[t, i]].exp();
        }
    }
    let assets = (0..n).map(|i| format!("{name_prefix}{}", i + 1)).collect();
    PricePanel::new("synthetic", assets, TimeIndex::Dates(weekdays(start, steps + 1)), prices)
}

/// The most prices a synthetic market may hold: 400 MB of them.
pub const MAX_CELLS: usize = 50_000_000;

pub fn generate(config: &SynthConfig) -> Result<PricePanel, InvalidSetting> {
    config.validate()?;
    let (returns, _) = generate_log_returns(config);
    let panel = panel_from_log_returns(&returns, config.start, "SYN");
    // Settings that are each valid can still compound past what a float holds (a drift of 1e5 a
    // year, a volatility of 1e4), or to a price too small to compute with (a volatility of 50,
    // whose drift correction sinks every path): a file folio could then not read back.
    let holdable = |p: f64| p.is_finite() && p >= f64::MIN_POSITIVE;
    if let Some(((row, _), price)) = panel.prices.indexed_iter().find(|(_, p)| !holdable(**p)) {
        return Err(InvalidSetting::new(
            "regimes",
            format!(
                "these drifts and volatilities take a price to {price:e} by period {row}, which no price file can \
                 hold; use smaller ones"
            ),
        ));
    }
    Ok(panel)
}

/// `count` consecutive weekdays starting at `start` (moved to the next weekday if needed).
pub fn weekdays(start: NaiveDate, count: usize) -> Vec<NaiveDate> {
    let mut dates = Vec::with_capacity(count);
    let mut day = start;
    while dates.len() < count {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            dates.push(day);
        }
        day = day + Days::new(1);
    }
    dates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_market_other_seed_other_market() {
        let config = SynthConfig::default();
        let a = generate(&config).unwrap();
        let b = generate(&config).unwrap();
        assert_eq!(a.prices, b.prices);
        let c = generate(&SynthConfig { seed: 8, ..config }).unwrap();
        assert_ne!(a.prices, c.prices);
    }

    /// A market that would run past the four-digit years a price file holds is refused: it
    /// could be written, but not read back.
    #[test]
    fn a_market_ends_by_the_year_9999() {
        let start = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let late = SynthConfig { start: start(9999, 12, 30), periods: 10, ..SynthConfig::default() };
        let error = generate(&late).unwrap_err().to_string();
        assert!(error.contains("run past 9999-12-31"), "{error}");
        let written = generate(&SynthConfig { start: start(9999, 1, 4), periods: 10, ..late }).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("late.csv");
        crate::data::write_prices(&written, &path).unwrap();
        assert_eq!(crate::data::load_prices(&path).unwrap().n_periods(), 10);
    }

    #[test]
    fn crash_day_drops_every_asset_by_the_fall() {
        let base = SynthConfig {
            jumps_per_year: 0.0,
            regimes: vec![Regime { drift: 0.0, volatility: 0.0 }],
            drift_dispersion: 0.0,
            ..SynthConfig::default()
        };
        let crashed = SynthConfig { crash: Some(Crash { period: 100, fall: 0.25 }), ..base.clone() };
        let panel = generate(&crashed).unwrap();
        for i in 0..panel.n_assets() {
            let ratio = panel.prices[[100, i]] / panel.prices[[99, i]];
            assert!((ratio - 0.75).abs() < 1e-12, "asset {i}: {ratio}");
            let calm = panel.prices[[101, i]] / panel.prices[[100, i]];
            assert!((calm - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn correlation_and_volatility_match_the_config() {
        let config = SynthConfig {
            assets: 2,
            periods: 40_000,
            correlation: 0.6,
            regimes: vec![Regime { drift: 0.05, volatility: 0.2 }],
            jumps_per_year: 0.0,
            ..SynthConfig::default()
        };
        let (r, _) = generate_log_returns(&config);
        let (a, b) = (r.column(0), r.column(1));
        let (ma, mb) = (a.mean().unwrap(), b.mean().unwrap());
        let cov = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum::<f64>() / (a.len() - 1) as f64;
        let (sa, sb) = (a.std(1.0), b.std(1.0));
        let correlation = cov / (sa * sb);
        assert!((correlation - 0.6).abs() < 0.02, "correlation {correlation}");
        let annual_vol = sa * 252f64.sqrt();
        assert!((annual_vol - 0.2).abs() < 0.005, "volatility {annual_vol}");
    }

    #[test]
    fn regimes_switch_and_change_volatility() {
        let config =
            SynthConfig { assets: 1, periods: 20_000, jumps_per_year: 0.0, ..SynthConfig::default() };
        let (r, regimes) = generate_log_returns(&config);
        let calm: Vec<f64> =
            r.column(0).iter().zip(&regimes).filter(|(_, k)| **k == 0).map(|(x, _)| *x).collect();
        let wild: Vec<f64> =
            r.column(0).iter().zip(&regimes).filter(|(_, k)| **k == 1).map(|(x, _)| *x).collect();
        assert!(!calm.is_empty() && !wild.is_empty(), "both regimes visited");
        let sd = |v: &[f64]| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt() * 252f64.sqrt()
        };
        assert!(
            (sd(&calm) - 0.15).abs() < 0.02 && (sd(&wild) - 0.35).abs() < 0.04,
            "{} {}",
            sd(&calm),
            sd(&wild)
        );
    }
}
