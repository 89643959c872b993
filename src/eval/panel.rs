//! A learner panel: the walk-forward of several markets summed up in one row each, the table a
//! reader needs to judge a learner across markets rather than on the one it was tuned on. Here
//! too: each market's request planned from its config and checked before any trains
//! ([`plan_markets`]), the list of markets a resumed panel must match ([`record_markets`]), and
//! the markets run one after another, a failure costing its own row ([`run_markets`]).

use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::EvalError;
use super::walk_forward::{WalkForwardConfig, WalkForwardReport, WalkForwardRequest, check, started_in};
use crate::agent::DeviceChoice;
use crate::backtest::PolicyId;
use crate::backtest::cost_sensitivity::BreakEven;
use crate::backtest::rebalance::RebalanceRule;
use crate::data::{DataError, Stamp};
use crate::env::ConfigError;
use crate::env::config::{EnvConfig, Span};
use crate::metrics::sharpe_difference::{SharpeDifference, Standing};
use crate::progress::Progress;
use crate::train::TrainConfig;

/// One market's walk-forward, reduced to what compares across markets.
#[derive(Debug, Clone, Serialize)]
pub struct PanelRow {
    /// The config's name (its file stem).
    pub market: String,
    /// The span the walk-forward's test windows covered.
    pub tested: (String, String),
    /// The ensemble agent's stitched out-of-sample Sharpe ratio, after costs.
    pub agent_sharpe: f64,
    pub equal_weight_sharpe: f64,
    /// The causal baseline (no hindsight) with the highest out-of-sample Sharpe ratio.
    pub best_baseline: PolicyId,
    pub best_baseline_sharpe: f64,
    pub agent_max_drawdown: f64,
    pub equal_weight_max_drawdown: f64,
    /// Mean turnover per decision: assets bought and sold, as a fraction of the portfolio.
    pub agent_turnover: f64,
    pub break_even: BreakEven,
    /// Deflated Sharpe Ratio of the ensemble, over every trial counted.
    pub dsr: Option<f64>,
    /// Probability of Backtest Overfitting across the seeds.
    pub pbo: Option<f64>,
    /// Whether the ensemble's Sharpe ratio beats equal weight's by more than a negligible gap
    /// ([`crate::metrics::sharpe_difference::NEGLIGIBLE`]).
    pub beats_equal_weight: bool,
    /// Two-sided p-value of the gap between the two Sharpe ratios (Ledoit and Wolf's HAC test):
    /// below 0.05, the gap is more than noise. `None` without a test, and for a negligible gap,
    /// whose p-value measures rounding (two near-identical series make any gap "significant").
    pub edge_p_value: Option<f64>,
    /// Trainings (folds times seeds), and how many of them deploy their untrained reference
    /// portfolio because validation did not show training beating it.
    pub trainings: usize,
    pub trainings_kept_reference: usize,
}

impl PanelRow {
    pub fn of(market: &str, report: &WalkForwardReport) -> Self {
        let row = |id: PolicyId| report.overall.iter().find(|r| r.policy == id).map(|r| &r.metrics);
        let agent = row(PolicyId::Ensemble).expect("a walk-forward reports its ensemble");
        let equal = row(PolicyId::EQUAL_WEIGHT).expect("a walk-forward runs equal weight");
        let best = report
            .overall
            .iter()
            .filter(|r| matches!(r.policy, PolicyId::Baseline(_)) && !r.policy.uses_hindsight())
            .filter(|r| r.metrics.sharpe.is_finite())
            .max_by(|a, b| a.metrics.sharpe.total_cmp(&b.metrics.sharpe))
            .expect("a walk-forward runs causal baselines");
        let first = report.folds.first().map(|f| f.test.0.clone()).unwrap_or_default();
        let last = report.folds.last().map(|f| f.test.1.clone()).unwrap_or_default();
        let (trainings_kept_reference, trainings) = report.trainings_that_kept_reference();
        Self {
            market: market.to_string(),
            tested: (first, last),
            agent_sharpe: agent.sharpe,
            equal_weight_sharpe: equal.sharpe,
            best_baseline: best.policy,
            best_baseline_sharpe: best.metrics.sharpe,
            agent_max_drawdown: agent.max_drawdown,
            equal_weight_max_drawdown: equal.max_drawdown,
            agent_turnover: agent.mean_turnover,
            break_even: report.cost_sensitivity.break_even,
            dsr: report.deflated_sharpe.as_ref().map(|d| d.dsr),
            pbo: report.backtest_overfitting.as_ref().map(|p| p.pbo),
            beats_equal_weight: Standing::of(
                agent.sharpe,
                equal.sharpe,
                report.edge_over_equal_weight.as_ref(),
            ) == Standing::Beats,
            edge_p_value: reported_p_value(report.edge_over_equal_weight.as_ref()),
            trainings,
            trainings_kept_reference,
        }
    }
}

/// A market of a panel whose walk-forward failed once it ran, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PanelFailure {
    pub market: String,
    pub error: String,
}

/// What every market of a panel shares, as the command line sets it over each config's own
/// `[train]` and `[walk_forward]` tables.
pub struct PanelOptions {
    /// Each market cut to its training and validation data ([`development_only`]).
    pub development: bool,
    /// Environment steps per training, over each config's.
    pub steps: Option<usize>,
    /// Seeds per fold, over each config's.
    pub seeds: Option<usize>,
    pub jobs: usize,
    pub device: DeviceChoice,
    /// The trial registry every market records its trials in.
    pub registry: PathBuf,
    /// Continue the panel in the output folder: each market started there is resumed.
    pub resume: bool,
    /// Each market's progress is shown through this, prefixed with the market's name.
    pub progress: Arc<dyn Progress>,
}

/// A market of a panel, planned: named by its config's stem (numbered where two configs share
/// one), its walk-forward request into its own folder, and a note where folio's default layout
/// was fitted to its data.
pub struct PlannedMarket {
    pub name: String,
    pub request: WalkForwardRequest,
    pub note: Option<String>,
}

/// Why a panel cannot run.
#[derive(Debug, thiserror::Error)]
pub enum PanelError {
    #[error("{} and {} are the same config: a panel runs each market once", earlier.display(), config.display())]
    SameConfig { earlier: PathBuf, config: PathBuf },
    #[error(
        "{}: --development holds back the test period, and this config marks none: give it a \
         [periods.validation] with an end (`to`) or a [periods.test] with a start (`from`); for \
         example, 70/15/15 in time: {proposal}",
        config.display()
    )]
    NoTestPeriod {
        config: PathBuf,
        /// Periods that split the config's data, in its TOML.
        proposal: String,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{}: {source}{}", config.display(), note.as_ref().map(|n| format!(" (note: {n})")).unwrap_or_default())]
    Market {
        config: PathBuf,
        #[source]
        source: Box<EvalError>,
        /// The note of a default layout fitted to the market's data, which often says why it
        /// cannot run.
        note: Option<String>,
    },
    #[error(
        "the panel in {} was started with the markets {}, and this command asks for {}: resume it \
         with the configs that started it, or run a new panel into another --out",
        out.display(),
        started.join(", "),
        asked.join(", ")
    )]
    OtherMarkets { out: PathBuf, started: Vec<String>, asked: Vec<String> },
    #[error(
        "cannot read the markets this panel was started with from {}: {reason}; it is folio's own \
         list, so a file that does not read was changed by hand or damaged: run a new panel into \
         another --out",
        path.display()
    )]
    UnreadableMarkets { path: PathBuf, reason: String },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Every market's walk-forward request, each named and given its folder under `out`, planned
/// and checked before any trains: a config that cannot run fails in seconds, not after the
/// markets before it have taken minutes.
pub fn plan_markets(
    configs: &[PathBuf],
    options: &PanelOptions,
    out: &Path,
) -> Result<Vec<PlannedMarket>, PanelError> {
    let mut markets: Vec<PlannedMarket> = Vec::new();
    for (i, config) in configs.iter().enumerate() {
        // The same file twice would be one market run twice, its row and its trials doubled.
        // A bundled config read from folio's own copy has no file to canonicalize.
        let same_file = |other: &PathBuf| match (other.canonicalize(), config.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => std::path::absolute(other).ok() == std::path::absolute(config).ok(),
        };
        if let Some(earlier) = configs[..i].iter().find(|other| same_file(other)) {
            return Err(PanelError::SameConfig { earlier: earlier.clone(), config: config.clone() });
        }
        let stem =
            config.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "market".into());
        // Two configs of one name (a/market.toml, b/market.toml) get their own rows and folders.
        let taken = |name: &str| markets.iter().any(|market| market.name == name);
        let name = (1..)
            .map(|k| if k == 1 { stem.clone() } else { format!("{stem}-{k}") })
            .find(|name| !taken(name))
            .expect("some suffix is free");
        let (mut request, note) = market_request(config, options, &out.join(&name))?;
        request.resume = options.resume && started_in(&request.out);
        request.progress = crate::progress::prefixed(options.progress.clone(), name.clone());
        markets.push(PlannedMarket { name, request, note });
    }
    Ok(markets)
}

/// One market's walk-forward request into `out`, from its config and the panel's options,
/// checked to run, and the note of a default layout fitted to its data.
fn market_request(
    config: &Path,
    options: &PanelOptions,
    out: &Path,
) -> Result<(WalkForwardRequest, Option<String>), PanelError> {
    let in_market = |source: EvalError, note: Option<String>| PanelError::Market {
        config: config.to_path_buf(),
        source: Box::new(source),
        note,
    };
    let from_data = |source: DataError| in_market(source.into(), None);
    let (env, mut sections) = EnvConfig::load_with_sections(config)?;
    let env = match options.development {
        false => env,
        true => {
            let selection = env.data.selection().map_err(from_data)?;
            development_only(&env, selection.first_file_row).ok_or_else(|| PanelError::NoTestPeriod {
                config: config.to_path_buf(),
                proposal: crate::train::proposed_periods(&selection.panel.index),
            })?
        }
    };
    let mut train = TrainConfig::from_table(sections.train.take(), None, config)?;
    if let Some(steps) = options.steps {
        train.steps = steps;
    }
    let chosen = WalkForwardConfig::layout_chosen(sections.walk_forward.as_ref());
    let mut walk =
        WalkForwardConfig::from_table(sections.walk_forward.take(), config, env.data.periods_per_year)?;
    if let Some(seeds) = options.seeds {
        walk.seeds = seeds;
    }
    let mut note = None;
    if !chosen.windows {
        (walk, note) = walk.fitted_to_data(&env, &train, chosen.folds).map_err(from_data)?;
    }
    let request = WalkForwardRequest {
        env,
        train,
        config: walk,
        out: out.to_path_buf(),
        jobs: options.jobs,
        device: options.device,
        progress: options.progress.clone(),
        registry: Some(options.registry.clone()),
        rebalance: RebalanceRule::Every,
        resume: false,
    };
    check(&request).map_err(|source| in_market(source, note.clone()))?;
    Ok((request, note))
}

/// The file that lists a panel's markets in its folder.
pub const MARKETS_FILE: &str = "panel-markets.json";

/// Record the markets of the panel in `out`, or, when resuming, check that they are the ones it
/// was started with: another set would leave the markets it dropped beside a table without them.
pub fn record_markets(out: &Path, markets: &[PlannedMarket], resume: bool) -> Result<(), PanelError> {
    let names: Vec<String> = markets.iter().map(|market| market.name.clone()).collect();
    let path = out.join(MARKETS_FILE);
    let unreadable = |reason: String| PanelError::UnreadableMarkets { path: path.clone(), reason };
    if resume && let Some(text) = crate::files::read_stamp(&path).map_err(|e| unreadable(e.to_string()))? {
        let started: Vec<String> = serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
        if started != names {
            return Err(PanelError::OtherMarkets { out: out.to_path_buf(), started, asked: names });
        }
    }
    let json = serde_json::to_vec_pretty(&names).expect("names serialize");
    crate::files::write_bytes_atomically(&path, &json).map_err(|source| PanelError::Write { path, source })
}

/// Runs a panel's markets one after another, each failure recorded and the next market run:
/// one market's failure (a full disk, a data file changed under the run) costs its own row, not
/// the hours the markets around it took. Returns what each market that finished gave, in the
/// order given, and the failures.
pub fn run_markets<R, T, E: std::fmt::Display>(
    markets: Vec<(String, R)>,
    mut run: impl FnMut(&str, R) -> Result<T, E>,
) -> (Vec<T>, Vec<PanelFailure>) {
    let (mut finished, mut failed) = (Vec::new(), Vec::new());
    for (market, request) in markets {
        match run(&market, request) {
            Ok(result) => finished.push(result),
            Err(error) => failed.push(PanelFailure { market, error: error.to_string() }),
        }
    }
    (finished, failed)
}

/// The p-value a panel shows for the gap to equal weight: none for a gap of rounding.
fn reported_p_value(edge: Option<&SharpeDifference>) -> Option<f64> {
    edge.filter(|e| !e.negligible()).map(|e| e.p_value)
}

/// The config cut to its training and validation data: the data end at the validation
/// period's end (or, where it has none, the day or period before the test period starts) and
/// the test period is dropped, so that a walk-forward over it (whose folds count back from the
/// data's end) never sees the test period. What choosing defaults must use. `None` for a config
/// that marks neither end: it has no test period to hold back, and a development run over all
/// its data would hold back nothing while seeming to. `first_file_row` is the file row the
/// config's data start at ([`crate::data::Selection::first_file_row`]): an undated config's
/// periods count from there, its `data.to` from the file's first row.
pub fn development_only(env: &EnvConfig, first_file_row: usize) -> Option<EnvConfig> {
    let before_test = |start: Stamp| match start {
        Stamp::Date(day) => day.pred_opt().map(Stamp::Date),
        Stamp::Period(period) => period.checked_sub(1).map(Stamp::Period),
    };
    let end = env.periods.validation.to.or_else(|| env.periods.test.from.and_then(before_test))?;
    let end = match end {
        Stamp::Period(period) => Stamp::Period(first_file_row + period),
        date => date,
    };
    let mut env = env.clone();
    env.data.to = Some(end);
    env.periods.test = Span::default();
    Some(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_market_is_recorded_and_the_markets_after_it_still_run() {
        let markets: Vec<(String, u32)> =
            ["a", "b", "c"].iter().zip(1..).map(|(m, k)| (m.to_string(), k)).collect();
        let mut ran = Vec::new();
        let (finished, failed) = run_markets(markets, |market, k| {
            ran.push(market.to_string());
            if market == "b" { Err(format!("disk full after {k} markets")) } else { Ok(10 * k) }
        });
        assert_eq!(ran, ["a", "b", "c"]);
        assert_eq!(finished, [10, 30]);
        assert_eq!(failed, [PanelFailure { market: "b".into(), error: "disk full after 2 markets".into() }]);
    }

    /// `--development` on a config that marks no test period is refused, proposing periods that
    /// split the config's own data.
    #[test]
    fn a_development_panel_proposes_periods_to_a_config_without_any() {
        let dir = tempfile::tempdir().unwrap();
        let synth = crate::data::synth::SynthConfig { assets: 3, periods: 1000, ..Default::default() };
        let panel = crate::data::synth::generate(&synth).unwrap();
        crate::data::write_prices(&panel, &dir.path().join("prices.csv")).unwrap();
        let config = dir.path().join("market.toml");
        std::fs::write(&config, "[data]\nfile = \"prices.csv\"\n").unwrap();
        let options = PanelOptions {
            development: true,
            steps: None,
            seeds: None,
            jobs: 1,
            device: DeviceChoice::Cpu,
            registry: dir.path().join("trials.jsonl"),
            resume: false,
            progress: crate::progress::silent(),
        };
        let Err(error) = plan_markets(std::slice::from_ref(&config), &options, &dir.path().join("out"))
        else {
            panic!("a config without a test period has no development data")
        };
        let proposal = format!("[periods.test] from = \"{}\"", panel.index.label(850));
        assert!(
            error.to_string().contains("marks none") && error.to_string().ends_with(&proposal),
            "{error}"
        );
    }

    #[test]
    fn a_gap_of_rounding_shows_no_p_value() {
        let gap = |difference, p_value| SharpeDifference {
            difference,
            standard_error: 1e-9,
            p_value,
            periods: 500,
            lags: 5,
        };
        assert_eq!(reported_p_value(Some(&gap(1e-12, 0.0))), None);
        assert_eq!(reported_p_value(Some(&gap(-0.004, 0.0))), None);
        assert_eq!(reported_p_value(Some(&gap(0.02, 0.3))), Some(0.3));
        assert_eq!(reported_p_value(None), None);
    }

    #[test]
    fn development_data_end_with_validation_and_drop_the_test_period() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("envs/default.toml");
        let env = EnvConfig::load(&path).unwrap();
        assert!(env.periods.test.from.is_some());
        let development = development_only(&env, 0).unwrap();
        assert_eq!(development.data.to, env.periods.validation.to);
        assert_eq!(development.periods.test, Span::default());
        assert_eq!(development.periods.train, env.periods.train);
        // Without a validation end, the data end the day (or period) before the test starts.
        let mut open_validation = env.clone();
        open_validation.periods.validation.to = None;
        open_validation.periods.test.from =
            Some(Stamp::Date(chrono::NaiveDate::from_ymd_opt(2018, 1, 1).unwrap()));
        let cut = development_only(&open_validation, 0).unwrap();
        assert_eq!(cut.data.to, Some(Stamp::Date(chrono::NaiveDate::from_ymd_opt(2017, 12, 31).unwrap())));
        open_validation.periods.test.from = Some(Stamp::Period(900));
        assert_eq!(development_only(&open_validation, 0).unwrap().data.to, Some(Stamp::Period(899)));
        // Data that start at the file's period 100 count their own periods from there.
        assert_eq!(development_only(&open_validation, 100).unwrap().data.to, Some(Stamp::Period(999)));
        // Nothing marks where development ends: there is nothing to hold back.
        open_validation.periods.test.from = None;
        assert!(development_only(&open_validation, 0).is_none());
    }
}
