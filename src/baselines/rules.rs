//! Portfolio rules: allocations fixed by a formula, with no optimizer behind them.

use serde::{Deserialize, Serialize};

use super::{MIN_HISTORY, ReturnKind, sanitize, uniform, window_returns, write_assets};
use crate::backtest::{BaselineId, MarketView, Policy, PolicyId};
use crate::env::Market;
use crate::features::ManagedExposure;
use crate::stats;

/// Equal weight over the assets, no cash, rebalanced at every decision: the uniform constant
/// rebalanced portfolio (UCRP; constant rebalanced portfolios are Cover 1991's). No parameters.
#[derive(Debug, Clone, Default)]
pub struct EqualWeight;

impl Policy for EqualWeight {
    fn id(&self) -> PolicyId {
        PolicyId::Baseline(BaselineId::EqualWeight)
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        out[0] = 0.0;
        out[1..].fill(1.0 / view.n_assets() as f64);
    }
}

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

/// Naive risk parity: `w_i = (1 / sigma_i) / sum_j (1 / sigma_j)`, with `sigma_i` the sample
/// standard deviation (n - 1) of asset `i`'s simple returns over the last `window` periods. It is
/// the equal-risk-contribution portfolio when all correlations are equal (Maillard, Roncalli and
/// Teiletche 2010, "The properties of equally weighted risk contribution portfolios", J.
/// Portfolio Management 36(4)). With fewer periods of history it uses all there is, and below
/// [`MIN_HISTORY`] it holds equal weights. An asset whose price did not move over the window (a
/// halt, a stale quote) has no measured risk and gets no weight, as in the `inverse_volatility`
/// reference: `1 / 0` would put everything into the one asset whose risk is unknown. With every
/// asset flat it holds equal weights.
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
                if sigma > 0.0 { 1.0 / sigma } else { 0.0 }
            })
            .collect();
        if weights.iter().all(|&w| w == 0.0) {
            return write_assets(out, &uniform(view.n_assets()));
        }
        write_assets(out, &weights);
    }

    /// Prices only.
    fn targets_ignore_costs(&self) -> bool {
        true
    }
}

/// Volatility-managed equal weight (Moreira and Muir 2017; Harvey et al. 2018): equal weight
/// over the assets times `min(1, typical / sigma)`, the rest in cash, with `sigma` the sample
/// standard deviation of the equal-weight market's last `window` log returns and `typical` the
/// median of every `sigma` since the data began ([`ManagedExposure`]). It is the
/// `volatility_managed` reference portfolio, so an agent anchored on it can be read against it.
/// Fully invested until the window and `history` values of `sigma` have filled.
///
/// Defaults: `window` 20 and `history` 120 periods, the reference's (`features.volatility_window`
/// and `features.long_window`); the registry takes the market's own.
#[derive(Debug, Clone)]
pub struct VolatilityManaged {
    /// Fed every row up to the decision once, in order.
    managed: ManagedExposure,
    exposure: f64,
}

impl Default for VolatilityManaged {
    fn default() -> Self {
        Self::new(20, 120)
    }
}

impl VolatilityManaged {
    pub fn new(window: usize, history: usize) -> Self {
        Self { managed: ManagedExposure::new(window, history), exposure: 1.0 }
    }
}

impl Policy for VolatilityManaged {
    fn id(&self) -> PolicyId {
        PolicyId::Baseline(BaselineId::VolatilityManaged)
    }

    fn reset(&mut self) {
        self.managed.restart();
        self.exposure = 1.0;
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        for row in self.managed.rows_seen()..=view.row {
            let growth = match row {
                0 => 1.0,
                _ => stats::mean(&view.relatives(row)[1..]),
            };
            self.exposure = self.managed.next(growth.ln());
        }
        out[0] = 1.0 - self.exposure;
        out[1..].fill(self.exposure / view.n_assets() as f64);
    }

    /// Prices only.
    fn targets_ignore_costs(&self) -> bool {
        true
    }
}

/// Time-series momentum, long-only (Moskowitz, Ooi and Pedersen 2012, "Time series momentum",
/// J. Financial Economics 104(2)): each asset whose return from row `t - lookback` to row
/// `t - skip` is positive gets weight `1 / N`; the weight of the others goes to cash. (The paper
/// goes short the losers; a long-only portfolio goes flat.) With fewer rows of history it uses
/// all there is, and below [`MIN_HISTORY`] periods (or the lookback, if shorter) it holds equal
/// weights.
///
/// Defaults: `lookback` 252 periods (the paper's 12 months of trading days), `skip` 0;
/// [`TrendFollowing::for_market`] takes a year of the market's own rows.
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

impl TrendFollowing {
    /// The paper's 12 months in `market`'s rows ([`Market::periods_per_year`]): 12 for monthly
    /// data, 52 for weekly, 252 for trading days, and what a config says a year is for undated rows.
    pub fn for_market(market: &Market) -> Self {
        Self { lookback: (market.periods_per_year.round() as usize).max(1), ..Self::default() }
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
        if end < start + MIN_HISTORY.min(self.lookback) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::backtest;
    use crate::baselines::testing::*;
    use crate::env::CostConfig;
    use crate::features::{FeatureConfig, Reference};
    use ndarray::Array2;

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
    fn inverse_volatility_gives_an_asset_whose_price_stood_still_no_weight() {
        // Asset 0 halted (one price for the whole window), assets 1 and 2 move.
        let market = synth_market(3, 200, 9);
        let mut prices = market.panel.prices.clone();
        prices.column_mut(0).fill(42.0);
        let halted = market_from_prices(prices);
        let out = decide_at(&mut InverseVolatility::default(), &halted, 150, &[1.0, 0.0, 0.0, 0.0]);
        assert_eq!(out[1], 0.0, "{out:?}");
        let moving = decide_at(&mut InverseVolatility::default(), &market, 150, &[1.0, 0.0, 0.0, 0.0]);
        let sigma_ratio = moving[2] / moving[3];
        assert!((out[2] / out[3] - sigma_ratio).abs() < 1e-12 && (out[2] + out[3] - 1.0).abs() < 1e-12);

        let flat = market_from_prices(Array2::from_elem((200, 3), 7.0));
        let out = decide_at(&mut InverseVolatility::default(), &flat, 150, &[1.0, 0.0, 0.0, 0.0]);
        assert_close(&out, &[0.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0], 1e-15);
    }

    #[test]
    fn volatility_managed_equal_weight_is_the_reference_of_that_name() {
        let config =
            crate::data::synth::SynthConfig { assets: 4, periods: 600, seed: 5, ..Default::default() };
        let panel = crate::data::synth::generate(&config).unwrap();
        let rows = panel.n_periods();
        let features = FeatureConfig { reference: Reference::VolatilityManaged, ..returns_only() };
        let market = crate::env::Market::new(panel, &features, None, 0..rows).unwrap();
        let mut policy = VolatilityManaged::default();
        let held = [1.0, 0.0, 0.0, 0.0, 0.0];
        let mut holding_cash = 0;
        for row in market.first_observable()..rows {
            let out = decide_at(&mut policy, &market, row, &held);
            assert_close(&out, market.reference(row).unwrap(), 1e-9);
            holding_cash += usize::from(out[0] > 0.01);
        }
        // The test can fail: the market was riskier than usual often enough to hold cash.
        assert!(holding_cash > 50, "{holding_cash} decisions held cash");
    }

    /// A market of `rows` dated every `days` days: A climbs all along; B climbs for 20 rows and
    /// then falls, so over the last 12 rows it is down and over all of them up.
    fn dated_market(days: u64, rows: usize) -> std::sync::Arc<Market> {
        let start = chrono::NaiveDate::from_ymd_opt(2000, 1, 31).unwrap();
        let dates = (0..rows as u64).map(|k| start + chrono::Days::new(k * days)).collect();
        let b = |t: usize| if t < 20 { 100.0 + 5.0 * t as f64 } else { 200.0 - 2.0 * t as f64 };
        let prices = Array2::from_shape_fn((rows, 2), |(t, i)| if i == 0 { 100.0 + t as f64 } else { b(t) });
        let panel = crate::data::PricePanel::new(
            "hand",
            vec!["A".into(), "B".into()],
            crate::data::TimeIndex::Dates(dates),
            prices,
        );
        std::sync::Arc::new(Market::new(panel, &FeatureConfig::none(), None, 0..rows).unwrap())
    }

    #[test]
    fn trend_following_looks_back_a_year_of_the_markets_own_rows() {
        let lookback = |market: &Market| TrendFollowing::for_market(market).lookback;
        assert_eq!(lookback(&dated_market(30, 40)), 12, "monthly");
        assert_eq!(lookback(&dated_market(7, 40)), 52, "weekly");
        assert_eq!(lookback(&market_from_prices(Array2::from_elem((40, 2), 1.0))), 252, "undated");
        // Undated rows are a year as their config says: Market::from_config carries it.
        let mut undated = (*market_from_prices(Array2::from_elem((40, 2), 1.0))).clone();
        undated.periods_per_year = 12.0;
        assert_eq!(lookback(&undated), 12, "undated, a config's monthly year");
        // Over the last 12 months B is down: it is left out; all history would have held it.
        let monthly = dated_market(30, 40);
        let held = [1.0, 0.0, 0.0];
        let mut trend = TrendFollowing::for_market(&monthly);
        assert_eq!(decide_at(&mut trend, &monthly, 39, &held), [0.5, 0.5, 0.0]);
        assert_eq!(decide_at(&mut TrendFollowing::default(), &monthly, 39, &held), [0.0, 0.5, 0.5]);
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
}
