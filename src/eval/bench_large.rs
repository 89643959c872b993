//! Baselines on a large universe: the figures of `folio bench --only large`, on the market that
//! the peers' `large_universe.py` writes (500 assets of a one-factor model), each set beside
//! the peer that does the same work (skfolio per rebalance, universal-portfolios per period; the
//! rows the shared script leaves out come from `scripts/peers_large_more.py`).
//!
//! Markowitz portfolios and inverse volatility are timed per decision with a full window
//! (252 periods; 60 for inverse volatility), in two ways: daily, re-estimated at every row as a
//! backtest does (the sliding covariance and the warm-started QP at work), and from scratch (a
//! fresh policy's first decision, what a peer's single fit does). OLPS strategies and the rules are
//! timed per period of a backtest through the environment over the file's first 500 rows, as
//! universal-portfolios runs them; BCRP's time includes solving for its weights. Every figure
//! is the median of three runs, on one thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::bench::BenchRow;
use crate::backtest::{BaselineId, MarketView, Policy, backtest};
use crate::baselines::{self, BaselineError, InverseVolatility, MaxSharpe, MinVariance};
use crate::data::{DataError, load_prices};
use crate::env::config::EpisodeConfig;
use crate::env::{CostConfig, DecisionRange, EnvError, EnvSettings, Limits, Market, RewardConfig};
use crate::features::FeatureConfig;
use crate::stats::median;

/// Where `large_universe.py` writes its market unless told otherwise.
pub const DEFAULT_CSV: &str = "/tmp/folio-large-universe.csv";

/// Why the large-universe figures could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum LargeBenchError {
    #[error(
        "{0} does not exist: write it with the peers' large_universe.py (bash ../shared/bench/peers/setup.sh, then \
         ~/.cache/folio-peers/bin/python ../shared/bench/peers/large_universe.py --csv {0})"
    )]
    Missing(PathBuf),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    #[error(
        "{rows} rows in {path} are too few: the large-universe figures need {needed} (a full window and then some)"
    )]
    TooShort { path: PathBuf, rows: usize, needed: usize },
}

/// Rows a backtest of the OLPS strategies runs over, as universal-portfolios' figures do.
const OLPS_ROWS: usize = 500;

/// How long to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LargeOptions {
    /// Decisions timed after the cold one, per Markowitz or inverse-volatility figure.
    pub decisions: usize,
    /// Timed runs per figure (the median is reported).
    pub runs: usize,
}

impl LargeOptions {
    pub fn full() -> Self {
        Self { decisions: 200, runs: 3 }
    }

    /// Seconds: checks that everything runs, figures are rough.
    pub fn quick() -> Self {
        Self { decisions: 10, runs: 1 }
    }
}

/// Every large-universe figure, in order; `report` sees each row as soon as it is measured.
pub fn run_large(
    csv: &Path,
    options: LargeOptions,
    mut report: impl FnMut(&BenchRow),
) -> Result<Vec<BenchRow>, LargeBenchError> {
    if !csv.exists() {
        return Err(LargeBenchError::Missing(csv.to_path_buf()));
    }
    let market = Arc::new(Market::new(load_prices(csv)?, &FeatureConfig::none(), None, 0..0)?);
    let n = market.n_assets();
    let LargeOptions { decisions, runs } = options;
    let needed = 253 + decisions.max(1);
    if market.n_periods() < needed.max(OLPS_ROWS) {
        return Err(LargeBenchError::TooShort {
            path: csv.into(),
            rows: market.n_periods(),
            needed: needed.max(OLPS_ROWS),
        });
    }
    let mut rows = Vec::new();
    let mut push = |row: BenchRow| {
        report(&row);
        rows.push(row);
    };
    let skfolio = |name: &str| format!("skfolio {name}, {n} assets: ms per rebalance");
    let per_decision: [PerDecision; 3] = [
        (
            "min_variance",
            "min variance (LW, 252 days)",
            253,
            || Box::new(MinVariance::default()),
            skfolio("min variance (LW)"),
        ),
        (
            "max_sharpe",
            "max Sharpe (LW, 252 days)",
            253,
            || Box::new(MaxSharpe::default()),
            skfolio("max Sharpe (LW)"),
        ),
        (
            "inverse_volatility",
            "inverse volatility (60 days)",
            61,
            || Box::new(InverseVolatility::default()),
            skfolio("inverse volatility (60 days)"),
        ),
    ];
    for (key, what, first, make, peer) in per_decision {
        let (cold, daily) = median_pair(
            (0..runs.max(1)).map(|_| decision_ms(make().as_mut(), &market, first, decisions.max(1))),
        );
        push(ms_row(
            &format!("large_{key}_daily"),
            format!("folio {what}, {n} assets, daily: ms per rebalance"),
            daily,
            &peer,
        ));
        push(ms_row(
            &format!("large_{key}_cold"),
            format!("folio {what}, {n} assets, from scratch: ms per rebalance"),
            cold,
            &peer,
        ));
    }
    for (id, peer) in olps_peers() {
        let ms = median(&(0..runs.max(1)).map(|_| period_ms(id, &market)).collect::<Result<Vec<_>, _>>()?);
        let peer = peer.map(|p| format!("universal-portfolios {p}, {n} assets: ms per period"));
        let key = format!("large_{}_period", id.key().replace('-', "_"));
        push(ms_row(
            &key,
            format!("folio {id}, {n} assets: ms per period"),
            ms,
            peer.as_deref().unwrap_or_default(),
        ));
    }
    Ok(rows)
}

/// A baseline timed per decision: key, description, first row with a full window, a fresh
/// policy, and the peer row.
type PerDecision = (&'static str, &'static str, usize, fn() -> Box<dyn Policy>, String);

/// The baselines timed per period, with the universal-portfolios algorithm doing the same work.
fn olps_peers() -> [(BaselineId, Option<&'static str>); 9] {
    [
        (BaselineId::Ons, Some("ONS")),
        (BaselineId::Olmar, Some("OLMAR")),
        (BaselineId::Eg, Some("EG")),
        (BaselineId::Pamr, Some("PAMR")),
        (BaselineId::EqualWeight, Some("CRP")),
        (BaselineId::BuyAndHold, Some("BAH")),
        (BaselineId::Bcrp, Some("BCRP")),
        (BaselineId::BestAsset, None),
        (BaselineId::TrendFollowing, None),
    ]
}

fn ms_row(key: &str, what: String, value: f64, peer: &str) -> BenchRow {
    BenchRow {
        key: key.into(),
        what,
        value,
        unit: "ms".into(),
        peers: if peer.is_empty() { Vec::new() } else { vec![peer.to_string()] },
        higher_is_better: false,
        threads: 1,
    }
}

/// Milliseconds of `policy`'s first decision at `first` (cold: nothing carried) and the mean of
/// the next `decisions` (one a row, as a daily backtest asks).
fn decision_ms(policy: &mut dyn Policy, market: &Market, first: usize, decisions: usize) -> (f64, f64) {
    let n = market.n_assets();
    let mut held = vec![0.0; n + 1];
    held[0] = 1.0;
    let mut out = vec![0.0; n + 1];
    policy.reset();
    let started = Instant::now();
    policy.decide(&MarketView::new(market, first, &[], &held), &mut out);
    let cold = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    for row in first + 1..=first + decisions {
        held.copy_from_slice(&out);
        policy.decide(&MarketView::new(market, row, &[], &held), &mut out);
    }
    (cold, started.elapsed().as_secs_f64() * 1e3 / decisions as f64)
}

/// Milliseconds per period of a backtest of `id` over the first [`OLPS_ROWS`] rows, building the
/// policy included (BCRP solves for its weights then).
fn period_ms(id: BaselineId, market: &Arc<Market>) -> Result<f64, LargeBenchError> {
    let range = DecisionRange { first: 0, last: OLPS_ROWS - 1 };
    let settings = EnvSettings {
        costs: CostConfig::free(),
        reward: RewardConfig::LogReturn,
        episode: EpisodeConfig { horizon: 0, rebalance_every: 1, embargo: 0, no_trade_band: 0.0 },
        limits: Limits::NONE,
    };
    let started = Instant::now();
    let mut policy = baselines::baseline(id, market, range, settings.episode.rebalance_every)?;
    backtest(policy.as_mut(), market, range, settings)?;
    Ok(started.elapsed().as_secs_f64() * 1e3 / range.periods() as f64)
}

fn median_pair(pairs: impl Iterator<Item = (f64, f64)>) -> (f64, f64) {
    let (a, b): (Vec<f64>, Vec<f64>) = pairs.unzip();
    (median(&a), median(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth::{SynthConfig, generate};
    use crate::data::write_prices;

    #[test]
    fn quick_figures_name_their_peers_and_a_missing_file_says_how_to_write_it() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("large.csv");
        let panel = generate(&SynthConfig { assets: 12, periods: 520, ..SynthConfig::default() }).unwrap();
        write_prices(&panel, &csv).unwrap();
        let rows = run_large(&csv, LargeOptions::quick(), |_| {}).unwrap();
        assert_eq!(rows.len(), 6 + 9);
        for row in &rows {
            assert!(row.key.starts_with("large_") && row.value.is_finite() && row.value >= 0.0, "{row:?}");
        }
        assert_eq!(rows[0].peers, ["skfolio min variance (LW), 12 assets: ms per rebalance"]);
        let ons = rows.iter().find(|r| r.key == "large_ons_period").unwrap();
        assert_eq!(ons.peers, ["universal-portfolios ONS, 12 assets: ms per period"]);
        let missing = run_large(&dir.path().join("none.csv"), LargeOptions::quick(), |_| {}).unwrap_err();
        assert!(missing.to_string().contains("large_universe.py"), "{missing}");
        // Too few rows: the error names what the figures need, which is more than it has.
        let short = dir.path().join("short.csv");
        let panel = generate(&SynthConfig { assets: 12, periods: 300, ..SynthConfig::default() }).unwrap();
        write_prices(&panel, &short).unwrap();
        let error = run_large(&short, LargeOptions::quick(), |_| {}).unwrap_err().to_string();
        assert!(error.contains("300 rows") && error.contains("need 500"), "{error}");
    }
}
