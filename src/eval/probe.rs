//! Sanity probes: short training runs whose right answer is known in advance, so that a wrong
//! answer points at the learner or the pipeline rather than at the market. Backs `folio probe`.
//!
//! - **Oracle**: the agent also observes the next period's log return of every asset
//!   ([`Feature::OracleNextReturn`]) and rebalances every period; prices, costs and rewards are
//!   the real ones. Any working
//!   learner turns that into a Sharpe ratio far above every causal baseline. PASS when the agent's
//!   validation Sharpe exceeds the best causal baseline's (equal weight included) by at least
//!   [`ORACLE_MARGIN`] = 1.0 annualized; otherwise the learner is broken, not the market.
//! - **Placebo**: the rows of price relatives are shuffled in time by a seeded permutation and
//!   prices rebuilt from them: each period's cross-section of returns (and so the return
//!   distribution and the correlations) stays, every temporal pattern is gone. Trained on that,
//!   the agent must not beat equal weight on the held-out test period (which neither training
//!   nor checkpoint selection saw) beyond chance. PASS when its Sharpe exceeds equal weight's by
//!   less than [`placebo_threshold`] `= 2 / sqrt(n / periods_per_year)`, twice the standard
//!   error of an annualized Sharpe ratio measured over `n` periods (Lo 2002: `SE ~ sqrt((1 +
//!   SR^2 / 2) / years)`, about `1 / sqrt(years)` for the Sharpe ratios at stake); otherwise
//!   something leaks the future.
//! - **Collapse**: the normally trained agent's validation backtest through the
//!   [`collapse`](crate::backtest::collapse) detectors; PASS without warnings, WARN with them.

use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::agent::{AgentPolicy, DeviceChoice, MissingBackend};
use crate::backtest::collapse::{self, CollapseWarning};
use crate::backtest::{BacktestLog, Policy, PolicyId, backtest};
use crate::baselines::{self, EqualWeight};
use crate::data::{DataError, write_prices};
use crate::env::config::{EnvConfig, Span};
use crate::env::{DecisionRange, EnvError, EnvSettings, Market};
use crate::features::Feature;
use crate::metrics::MetricsConfig;
use crate::train::checkpoint::{self, CheckpointError, Weights};
use crate::train::{TrainConfig, TrainError, TrainRequest, train};

/// Annualized Sharpe ratio by which the oracle agent must beat the best causal baseline. Knowing
/// tomorrow's returns is worth Sharpe ratios of several units on any liquid market, while real
/// strategies differ from each other by fractions of one; a margin of one unit separates "learned
/// to use the leak" from noise with room to spare.
pub const ORACLE_MARGIN: f64 = 1.0;

/// Annualized Sharpe difference (agent minus equal weight) from which a placebo agent counts as
/// beating equal weight beyond chance over `periods` periods: two standard errors of an
/// annualized Sharpe ratio estimated over `periods / periods_per_year` years.
pub fn placebo_threshold(periods: usize, periods_per_year: f64) -> f64 {
    2.0 / (periods.max(1) as f64 / periods_per_year).sqrt()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    Oracle,
    Placebo,
    Collapse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Fail,
    Warn,
}

/// What a probe found.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeResult {
    pub probe: ProbeKind,
    pub verdict: Verdict,
    /// The period backtested, first and last decision rows as labels, and its length.
    pub period: (String, String),
    pub periods: usize,
    pub agent_sharpe: f64,
    pub equal_weight_sharpe: f64,
    /// The causal baseline with the highest Sharpe ratio (oracle only).
    pub best_baseline: Option<(PolicyId, f64)>,
    /// The figure the verdict compares against: the Sharpe the agent had to exceed (oracle) or
    /// the edge over equal weight it had to stay below (placebo).
    pub threshold: Option<f64>,
    pub warnings: Vec<CollapseWarning>,
    pub checkpoint: PathBuf,
    pub message: String,
}

/// The run every probe starts from: a market config, a training config (short), and a folder
/// for the probes' checkpoints.
#[derive(Debug, Clone)]
pub struct ProbeSetup {
    pub env: EnvConfig,
    pub train: TrainConfig,
    pub out: PathBuf,
    pub device: DeviceChoice,
}

/// Why a probe could not run: its folders, its baselines, its training or its backtests.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot create {}: {source}", path.display())]
    CreateFolder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot clear {}: {source}", path.display())]
    ClearFolder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The baselines could not be set up on the probe's market.
    #[error(transparent)]
    Baselines(#[from] crate::baselines::BaselineError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Backend(#[from] MissingBackend),
    /// The placebo judges on the test period, which training and selection must not have seen.
    #[error(
        "the placebo probe tests on [periods.test], which must start after the validation period ends ({validation_last}); this config's test period starts at {test_first}: give [periods.test] a `from` after validation"
    )]
    TestNotHeldOut { validation_last: String, test_first: String },
}

impl ProbeError {
    /// Whether the config is what to mend (see [`crate::env::EnvError::is_config_mistake`]).
    pub fn is_config_mistake(&self) -> bool {
        match self {
            ProbeError::Train(error) => error.is_config_mistake(),
            ProbeError::Env(error) => error.is_config_mistake(),
            _ => false,
        }
    }
}

/// Run the chosen probes in order.
pub fn run(setup: &ProbeSetup, probes: &[ProbeKind]) -> Result<Vec<ProbeResult>, ProbeError> {
    if probes.contains(&ProbeKind::Placebo) {
        test_after_validation(&setup.env)?;
    }
    probes
        .iter()
        .map(|probe| match probe {
            ProbeKind::Oracle => oracle(setup),
            ProbeKind::Placebo => placebo(setup, true),
            ProbeKind::Collapse => collapse_probe(setup),
        })
        .collect()
}

/// The oracle probe: train with tomorrow's returns in the observation, backtest on the validation
/// period beside every causal baseline.
pub fn oracle(setup: &ProbeSetup) -> Result<ProbeResult, ProbeError> {
    let mut env = setup.env.clone();
    if !env.features.features.contains(&Feature::OracleNextReturn) {
        env.features.features.push(Feature::OracleNextReturn);
    }
    // The leak is one period ahead, so the oracle decides every period; with weekly rebalancing
    // it would know one day of a week's move.
    env.episode.rebalance_every = 1;
    let dir = setup.out.join("oracle");
    train_fresh(setup, env.clone(), &dir)?;
    let (market, range, agent) = backtest_best(&dir, &env.periods.validation, env.episode.embargo, setup)?;
    let settings = EnvSettings::from_config(&env);
    let metrics_config = metrics_config(&env);
    let agent_sharpe = agent.metrics(&metrics_config).sharpe;
    let mut best: Option<(PolicyId, f64)> = None;
    let mut equal_weight_sharpe = f64::NAN;
    for mut policy in
        baselines::all(&market, range, settings.episode.rebalance_every).map_err(ProbeError::Baselines)?
    {
        // Only causal baselines count.
        if policy.id().uses_hindsight() {
            continue;
        }
        let sharpe = backtest(policy.as_mut(), &market, range, settings)?.metrics(&metrics_config).sharpe;
        if policy.id() == PolicyId::EQUAL_WEIGHT {
            equal_weight_sharpe = sharpe;
        }
        if sharpe.is_finite() && best.as_ref().is_none_or(|(_, s)| sharpe > *s) {
            best = Some((policy.id(), sharpe));
        }
    }
    let (best_name, best_sharpe) = best.unwrap_or((PolicyId::EQUAL_WEIGHT, equal_weight_sharpe));
    let threshold = best_sharpe + ORACLE_MARGIN;
    let pass = agent_sharpe > threshold;
    let message = if pass {
        format!(
            "seeing tomorrow's returns, the agent's Sharpe {agent_sharpe:.2} beats the best causal baseline ({best_name}, {best_sharpe:.2}) by more than {ORACLE_MARGIN}: the learner can learn"
        )
    } else {
        format!(
            "even seeing tomorrow's returns, the agent's Sharpe {agent_sharpe:.2} does not beat the best causal baseline ({best_name}, {best_sharpe:.2}) by {ORACLE_MARGIN}: the learner is broken, not the market"
        )
    };
    Ok(ProbeResult {
        probe: ProbeKind::Oracle,
        verdict: if pass { Verdict::Pass } else { Verdict::Fail },
        period: label(&market, range),
        periods: range.periods(),
        agent_sharpe,
        equal_weight_sharpe,
        best_baseline: best,
        threshold: Some(threshold),
        warnings: collapse::detect(&agent, &column_names(&market), &settings.limits),
        checkpoint: dir,
        message,
    })
}

/// The placebo probe: train on prices whose returns were shuffled in time, backtest on the test
/// period beside equal weight. With `shuffle` false the same procedure runs on the real order:
/// the control showing that an edge the placebo removes was there to learn.
pub fn placebo(setup: &ProbeSetup, shuffle: bool) -> Result<ProbeResult, ProbeError> {
    let dir = setup.out.join(if shuffle { "placebo" } else { "placebo-control" });
    let mut env = setup.env.clone();
    if shuffle {
        let (market, _) = Market::from_config(&setup.env)?;
        let shuffled = shuffle_in_time(&market.panel, setup.train.seed);
        let data_dir = setup.out.join("placebo-data");
        std::fs::create_dir_all(&data_dir)
            .map_err(|source| ProbeError::CreateFolder { path: data_dir.clone(), source })?;
        let file = data_dir.join("shuffled_prices.csv");
        write_prices(&shuffled, &file)?;
        // The file holds exactly the selected assets and rows.
        env.data.file = file;
        env.data.assets = Vec::new();
        env.data.from = None;
        env.data.to = None;
    }
    train_fresh(setup, env.clone(), &dir)?;
    let (market, range, agent) = backtest_best(&dir, &env.periods.test, env.episode.embargo, setup)?;
    let metrics_config = metrics_config(&env);
    let equal = backtest(&mut EqualWeight, &market, range, EnvSettings::from_config(&env))?;
    let agent_sharpe = agent.metrics(&metrics_config).sharpe;
    let equal_weight_sharpe = equal.metrics(&metrics_config).sharpe;
    let threshold = placebo_threshold(range.periods(), env.data.periods_per_year);
    let edge = agent_sharpe - equal_weight_sharpe;
    let pass = edge < threshold;
    let what = if shuffle { "on returns shuffled in time" } else { "on the returns in their real order" };
    let message = if pass {
        format!(
            "{what}, the agent's Sharpe {agent_sharpe:.2} is within chance of equal weight's {equal_weight_sharpe:.2} (edge {edge:+.2} < {threshold:.2} over {} periods)",
            range.periods()
        )
    } else {
        format!(
            "{what}, the agent's Sharpe {agent_sharpe:.2} beats equal weight's {equal_weight_sharpe:.2} beyond chance (edge {edge:+.2} >= {threshold:.2} over {} periods){}",
            range.periods(),
            if shuffle { ": something leaks" } else { "" }
        )
    };
    Ok(ProbeResult {
        probe: ProbeKind::Placebo,
        verdict: if pass { Verdict::Pass } else { Verdict::Fail },
        period: label(&market, range),
        periods: range.periods(),
        agent_sharpe,
        equal_weight_sharpe,
        best_baseline: None,
        threshold: Some(threshold),
        warnings: collapse::detect(&agent, &column_names(&market), &EnvSettings::from_config(&env).limits),
        checkpoint: dir,
        message,
    })
}

/// The collapse probe: train normally, run the detectors on the validation backtest. They judge
/// what training learned, so the reference gate is off: where it kept the untrained reference,
/// the detectors would flag the reference's own steady weights as a collapse.
pub fn collapse_probe(setup: &ProbeSetup) -> Result<ProbeResult, ProbeError> {
    let env = setup.env.clone();
    let dir = setup.out.join("normal");
    let ungated =
        ProbeSetup { train: TrainConfig { reference_gate: false, ..setup.train.clone() }, ..setup.clone() };
    train_fresh(&ungated, env.clone(), &dir)?;
    let (market, range, agent) = backtest_best(&dir, &env.periods.validation, env.episode.embargo, setup)?;
    let metrics_config = metrics_config(&env);
    let equal = backtest(&mut EqualWeight, &market, range, EnvSettings::from_config(&env))?;
    let warnings = collapse::detect(&agent, &column_names(&market), &EnvSettings::from_config(&env).limits);
    let message = if warnings.is_empty() {
        "the trained agent's weights show no sign of collapse on the validation period".to_string()
    } else {
        format!("{} collapse warning(s) on the validation period", warnings.len())
    };
    Ok(ProbeResult {
        probe: ProbeKind::Collapse,
        verdict: if warnings.is_empty() { Verdict::Pass } else { Verdict::Warn },
        period: label(&market, range),
        periods: range.periods(),
        agent_sharpe: agent.metrics(&metrics_config).sharpe,
        equal_weight_sharpe: equal.metrics(&metrics_config).sharpe,
        best_baseline: None,
        threshold: None,
        warnings,
        checkpoint: dir,
        message,
    })
}

/// The panel with its price relatives permuted in time (seeded), prices rebuilt from the first
/// row: same dates, assets, starting prices and multiset of return rows; no temporal order.
pub fn shuffle_in_time(panel: &crate::data::PricePanel, seed: u64) -> crate::data::PricePanel {
    let relatives = panel.relatives();
    let mut order: Vec<usize> = (0..relatives.nrows()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed ^ 0x05EE_DF0E_11A9_CEB0));
    let mut shuffled = panel.clone();
    for (t, &k) in order.iter().enumerate() {
        for i in 0..panel.n_assets() {
            shuffled.prices[[t + 1, i]] = shuffled.prices[[t, i]] * relatives[[k, i]];
        }
    }
    shuffled
}

fn metrics_config(env: &EnvConfig) -> MetricsConfig {
    MetricsConfig { periods_per_year: env.data.periods_per_year, risk_free: 0.0 }
}

fn label(market: &Market, range: DecisionRange) -> (String, String) {
    (market.panel.index.label(range.first), market.panel.index.label(range.last))
}

fn column_names(market: &Market) -> Vec<String> {
    std::iter::once("cash".to_string()).chain(market.panel.assets.iter().cloned()).collect()
}

fn train_fresh(setup: &ProbeSetup, env: EnvConfig, dir: &Path) -> Result<(), ProbeError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .map_err(|source| ProbeError::ClearFolder { path: dir.to_path_buf(), source })?;
    }
    train(TrainRequest {
        env,
        train: setup.train.clone(),
        out: dir.to_path_buf(),
        device: setup.device,
        resume: false,
        progress: crate::progress::silent(),
    })?;
    Ok(())
}

/// Refuses a test period that starts before validation ends (a config without one tests on
/// all its data): a placebo that passed there would have been judged on its own training.
fn test_after_validation(env: &EnvConfig) -> Result<(), ProbeError> {
    let (market, _) = Market::from_config(env)?;
    let validation = market.decision_range(&env.periods.validation, env.episode.embargo)?;
    let test = market.decision_range(&env.periods.test, env.episode.embargo)?;
    if test.first > validation.last {
        return Ok(());
    }
    let label = |row: usize| market.panel.index.label(row);
    Err(ProbeError::TestNotHeldOut { validation_last: label(validation.last), test_first: label(test.first) })
}

/// Deterministic backtest of a checkpoint's best network over `span` of its own market.
fn backtest_best(
    dir: &Path,
    span: &Span,
    embargo: usize,
    setup: &ProbeSetup,
) -> Result<(Arc<Market>, DecisionRange, BacktestLog), ProbeError> {
    let device = setup.device.device()?;
    let (meta, net) = checkpoint::load_probe_agent(dir, Weights::Best, &device)?;
    let market = Arc::new(meta.market(dir, &Default::default())?);
    let range = market.decision_range(span, embargo)?;
    let mut agent = AgentPolicy::new(PolicyId::AGENT, net, meta.head, market.layout(), device);
    let log = backtest(&mut agent, &market, range, EnvSettings::from_config(&meta.env))?;
    Ok((market, range, log))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth::{SynthConfig, generate};

    #[test]
    fn the_shuffle_keeps_every_return_row_and_destroys_the_order() {
        let panel =
            generate(&SynthConfig { periods: 300, autocorrelation: 0.5, ..SynthConfig::default() }).unwrap();
        let shuffled = shuffle_in_time(&panel, 3);
        assert_eq!(shuffled.prices.row(0), panel.prices.row(0));
        assert_eq!(shuffled.index, panel.index);
        let key = |p: &crate::data::PricePanel| {
            let mut rows: Vec<Vec<u64>> = p
                .relatives()
                .rows()
                .into_iter()
                .map(|r| r.iter().map(|x| (x * 1e9).round() as u64).collect())
                .collect();
            rows.sort();
            rows
        };
        assert_eq!(key(&shuffled), key(&panel), "the same return rows, reordered");
        assert_ne!(shuffled.prices, panel.prices);
        // The planted lag-one autocorrelation of 0.5 is gone.
        let lag_one = |p: &crate::data::PricePanel| {
            let r = p.relatives().mapv(f64::ln);
            let x: Vec<f64> = r.column(0).to_vec();
            let m = x.iter().sum::<f64>() / x.len() as f64;
            let num: f64 = x.windows(2).map(|w| (w[0] - m) * (w[1] - m)).sum();
            num / x.iter().map(|v| (v - m).powi(2)).sum::<f64>()
        };
        assert!(lag_one(&panel) > 0.35, "{}", lag_one(&panel));
        assert!(lag_one(&shuffled).abs() < 0.15, "{}", lag_one(&shuffled));
        assert_eq!(shuffle_in_time(&panel, 3).prices, shuffled.prices, "seeded");
    }

    #[test]
    fn the_placebo_threshold_is_two_standard_errors_of_a_sharpe_ratio() {
        assert!((placebo_threshold(252, 252.0) - 2.0).abs() < 1e-12);
        assert!((placebo_threshold(1008, 252.0) - 1.0).abs() < 1e-12);
    }
}
