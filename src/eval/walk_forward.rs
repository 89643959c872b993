//! Walk-forward evaluation: the honest way to ask whether a learner works. The data is cut into
//! folds, each with a training window, a validation slice for model selection, and a test window
//! that no training or selection in that fold has seen, separated by embargo gaps. A fresh agent
//! is trained per fold (and per seed); the test windows are stitched into one out-of-sample
//! equity curve, beside every baseline over the same windows.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::EvalError;
use super::evaluate::annualization_warning;
use super::task_result::{self, TaskIdentity};
use crate::agent::DeviceChoice;
use crate::agent::{AgentPolicy, EnsemblePolicy};
use crate::backtest::cost_sensitivity::{COST_GRID_BP, CostSensitivity, break_even};
use crate::backtest::rebalance::{RebalanceRule, agent_decisions, all_under_rule, under_rule};
use crate::backtest::{
    BacktestLog, BaselineId, Policy, PolicyId, backtest, backtest_showing, decision_count,
};
use crate::baselines;
use crate::data::InvalidSetting;
use crate::data::{Stamp, TimeIndex};
use crate::env::config::{EnvConfig, EpisodeConfig, Span};
use crate::env::{ConfigError, DecisionRange, EnvSettings, Market};
use crate::files::write_bytes_atomically;
use crate::metrics::overfitting;
use crate::metrics::sharpe_difference::{NEGLIGIBLE, SharpeDifference, sharpe_difference};
use crate::metrics::{Metrics, MetricsConfig, MetricsSpread, compute, simple_returns};
use crate::progress::Progress;
use crate::registry::{self, Figures, Sample, TrialCommand, TrialRecord};
use crate::train::checkpoint::{self, Weights};
use crate::train::online::{OnlineAgent, OnlineSettings};
use crate::train::{TrainConfig, TrainRequest, train};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowMode {
    /// The training window keeps its length and slides forward.
    Rolling,
    /// The training window always starts at the beginning of the data.
    Expanding,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalkForwardConfig {
    pub mode: WindowMode,
    /// Periods in each training window (rolling mode; the minimum in expanding mode).
    pub train_periods: usize,
    /// Periods of the validation slice that picks the checkpoint.
    pub validation_periods: usize,
    /// Periods in each test window.
    pub test_periods: usize,
    /// Periods left out between training and validation and between validation and test.
    pub embargo: usize,
    /// Folds, counted back from the end of the data.
    pub folds: usize,
    /// Seeds trained per fold: each is a trial for the overfitting statistics.
    pub seeds: usize,
}

impl Default for WalkForwardConfig {
    fn default() -> Self {
        Self {
            mode: WindowMode::Rolling,
            train_periods: 5 * 252,
            validation_periods: 252,
            test_periods: 252,
            embargo: 5,
            folds: 5,
            seeds: 3,
        }
    }
}

impl WalkForwardConfig {
    /// A config file's `[walk_forward]` table over the defaults; unknown keys are errors naming
    /// `path`.
    pub fn from_table(table: Option<toml::Table>, path: &Path) -> Result<Self, ConfigError> {
        match table {
            None => Ok(Self::default()),
            Some(table) => table.try_into().map_err(|e| ConfigError::Parse {
                path: path.to_path_buf(),
                message: format!("invalid [walk_forward] table: {e}"),
            }),
        }
    }

    /// What a config's `[walk_forward]` table chooses of the fold layout. A config that writes
    /// no window runs the default windows fitted to its data ([`Self::fitted_to`], or
    /// [`Self::fitted_keeping_folds`] when it chose the number of folds).
    pub fn layout_chosen(table: Option<&toml::Table>) -> LayoutChoice {
        let writes = |key: &str| table.is_some_and(|t| t.contains_key(key));
        LayoutChoice {
            windows: ["train_periods", "validation_periods", "test_periods", "embargo"]
                .into_iter()
                .any(writes),
            folds: writes("folds"),
        }
    }
}

/// The parts of the fold layout a config chose; the rest are folio's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutChoice {
    /// Any window's length or the embargo: a layout that runs as written, or fails naming what
    /// would fit.
    pub windows: bool,
    /// The number of folds, which a fitted default keeps.
    pub folds: bool,
}

/// Rows of one fold. Each span is `(first decision row, last price row)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fold {
    pub index: usize,
    pub train: (usize, usize),
    pub validation: (usize, usize),
    pub test: (usize, usize),
}

/// Folds that cannot be cut from the data.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FoldError {
    #[error(
        "walk_forward needs folds >= 1, test_periods >= 1, and validation and training of at least 2 periods"
    )]
    Empty,
    #[error(
        "{} folds of {} test periods, with {} validation, {} training, {} embargo and {warmup} warm-up periods, need {needed} periods; the data has {periods}{}",
        config.folds,
        config.test_periods,
        config.validation_periods,
        config.train_periods,
        config.embargo,
        config.fitting(*periods, *warmup)
    )]
    TooLittleData { config: WalkForwardConfig, warmup: usize, needed: usize, periods: usize },
}

impl WalkForwardConfig {
    /// Layouts like this one that fit `n_periods` rows, in the order an error proposes them: the
    /// same windows with fewer folds (at least 2), then the same folds with every window scaled
    /// down in proportion. None whose training window would be too short to learn from.
    fn layouts_that_fit(&self, n_periods: usize, warmup: usize) -> Vec<Self> {
        let Some(room) = n_periods.checked_sub(1 + warmup + 2 * self.embargo) else { return Vec::new() };
        let mut layouts = Vec::new();
        let fixed = self.validation_periods + self.train_periods;
        let folds = room.saturating_sub(fixed) / self.test_periods.max(1);
        if folds >= 2 {
            layouts.push(Self { folds, ..*self });
        }
        let windows = self.folds * self.test_periods + fixed;
        let scale = |periods: usize| periods * room / windows.max(1);
        let (train, validation, test) =
            (scale(self.train_periods), scale(self.validation_periods), scale(self.test_periods));
        if train >= MIN_SUGGESTED_TRAINING && validation >= 2 && test >= 1 {
            layouts.push(Self {
                train_periods: train,
                validation_periods: validation,
                test_periods: test,
                ..*self
            });
        }
        layouts
    }

    /// What in `[walk_forward]` would fit `n_periods` rows ([`Self::layouts_that_fit`]), as
    /// the end of an error message.
    fn fitting(&self, n_periods: usize, warmup: usize) -> String {
        let options: Vec<String> = self
            .layouts_that_fit(n_periods, warmup)
            .iter()
            .map(|fit| {
                if fit.folds != self.folds {
                    format!("folds = {}", fit.folds)
                } else {
                    format!(
                        "train_periods = {}, validation_periods = {}, test_periods = {} (with {} folds)",
                        fit.train_periods, fit.validation_periods, fit.test_periods, fit.folds
                    )
                }
            })
            .collect();
        match options.len() {
            0 => "; that is too little for a walk-forward".into(),
            _ => format!("; in the config's [walk_forward], {} would fit", options.join(", or ")),
        }
    }

    /// The layout to run on `n_periods` rows when this one, folio's default, is too long for
    /// them: of those that fit, the one that tests on the most periods (the scaled windows,
    /// wherever they fit); `None` when this one fits or nothing does. A config that writes no
    /// `[walk_forward]` has chosen no layout, and one that depends only on the data's length
    /// looks at no result.
    pub fn fitted_to(&self, n_periods: usize, warmup: usize) -> Option<Self> {
        if make_folds(n_periods, warmup, self).is_ok() {
            return None;
        }
        let layouts = self.layouts_that_fit(n_periods, warmup);
        let most = layouts.iter().map(|l| l.folds * l.test_periods).max()?;
        layouts.into_iter().find(|l| l.folds * l.test_periods == most)
    }

    /// [`Self::fitted_to`] for a number of folds the user chose (`--folds`) over folio's default
    /// windows: only the windows scale down, so the folds asked for are the folds run.
    pub fn fitted_keeping_folds(&self, n_periods: usize, warmup: usize) -> Option<Self> {
        if make_folds(n_periods, warmup, self).is_ok() {
            return None;
        }
        self.layouts_that_fit(n_periods, warmup).into_iter().find(|l| l.folds == self.folds)
    }

    /// The layout in words: "3 folds of 252 test periods, each after 252 validation and 1260
    /// training periods".
    pub fn describe(&self) -> String {
        format!(
            "{} folds of {} test periods, each after {} validation and {} training periods",
            self.folds, self.test_periods, self.validation_periods, self.train_periods
        )
    }
}

/// The shortest training window a suggestion proposes: shorter ones fit the data but leave a
/// learner too little to learn from, and saying so beats suggesting them.
const MIN_SUGGESTED_TRAINING: usize = 100;

/// Cut `n_periods` rows (the first `warmup` are history for features only) into folds whose
/// test windows tile the end of the data.
pub fn make_folds(
    n_periods: usize,
    warmup: usize,
    config: &WalkForwardConfig,
) -> Result<Vec<Fold>, FoldError> {
    let c = config;
    if c.folds == 0 || c.test_periods == 0 || c.validation_periods < 2 || c.train_periods < 2 {
        return Err(FoldError::Empty);
    }
    let needed = c.folds * c.test_periods + 2 * c.embargo + c.validation_periods + c.train_periods + warmup;
    let last = n_periods.saturating_sub(1);
    if needed > last {
        return Err(FoldError::TooLittleData { config: *c, warmup, needed: needed + 1, periods: n_periods });
    }
    let mut folds = Vec::with_capacity(c.folds);
    for k in 0..c.folds {
        let test_last = last - (c.folds - 1 - k) * c.test_periods;
        let test_first = test_last - c.test_periods;
        let validation_last = test_first - c.embargo;
        let validation_first = validation_last - c.validation_periods;
        let train_last = validation_first - c.embargo;
        let train_first = match c.mode {
            WindowMode::Rolling => train_last - c.train_periods,
            WindowMode::Expanding => warmup,
        };
        folds.push(Fold {
            index: k,
            train: (train_first, train_last),
            validation: (validation_first, validation_last),
            test: (test_first, test_last),
        });
    }
    Ok(folds)
}

pub(crate) fn stamp(index: &TimeIndex, row: usize) -> Stamp {
    match index {
        TimeIndex::Dates(d) => Stamp::Date(d[row]),
        TimeIndex::Periods(_) => Stamp::Period(row),
    }
}

fn span(index: &TimeIndex, (first, last): (usize, usize)) -> Span {
    Span { from: Some(stamp(index, first)), to: Some(stamp(index, last)) }
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyFold {
    pub policy: PolicyId,
    pub metrics: Metrics,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedResult {
    pub seed: u64,
    pub checkpoint: PathBuf,
    /// Agent metrics on its own training window (deterministic policy).
    pub in_sample: Metrics,
    pub validation_sharpe: f64,
    /// Training did not beat the untrained reference portfolio on validation, so this seed
    /// deploys the reference ([`crate::train::checkpoint::ReferenceTest`]).
    #[serde(default)]
    pub kept_reference: bool,
    pub out_of_sample: Metrics,
    /// Collapse detectors on the agent's test-window weights and turnover.
    pub warnings: Vec<crate::backtest::collapse::CollapseWarning>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FoldReport {
    pub fold: Fold,
    pub train: (String, String),
    pub validation: (String, String),
    pub test: (String, String),
    pub seeds: Vec<SeedResult>,
    /// The fold's seeds deployed together: the average of their weights.
    pub ensemble: Metrics,
    pub baselines: Vec<PolicyFold>,
}

impl FoldReport {
    /// The out-of-sample result of one seed in this fold.
    pub fn seed(&self, seed: u64) -> Option<&SeedResult> {
        self.seeds.iter().find(|s| s.seed == seed)
    }

    /// A baseline's out-of-sample Sharpe ratio in this fold (NaN if it did not run).
    pub fn baseline_sharpe(&self, policy: PolicyId) -> f64 {
        self.baselines.iter().find(|b| b.policy == policy).map(|b| b.metrics.sharpe).unwrap_or(f64::NAN)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OverallRow {
    pub policy: PolicyId,
    /// Metrics of the stitched out-of-sample curve.
    pub metrics: Metrics,
    /// Mean in-sample (training window) Sharpe, agents only.
    pub in_sample_sharpe: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WalkForwardReport {
    pub config: WalkForwardConfig,
    pub train: TrainConfig,
    pub data: String,
    pub data_fingerprint: String,
    /// The rebalancing rule every policy traded under in the test windows.
    pub rebalance: RebalanceRule,
    /// The environment's schedule under the rule, in training and test alike: periods between
    /// decisions, and the config's no-trade band (0 for none).
    pub rebalance_every: usize,
    pub no_trade_band: f64,
    pub folds: Vec<FoldReport>,
    /// Stitched out-of-sample results: each seed's agent, the ensemble of the seeds, then every
    /// baseline.
    pub overall: Vec<OverallRow>,
    /// The seed whose stitched out-of-sample Sharpe is the median. The headline is the
    /// ensemble's ([`PolicyId::Ensemble`]), which deploys every seed and selects none.
    pub median_seed: u64,
    /// Median, IQR and range of the seeds' stitched out-of-sample metrics.
    pub seed_spread: MetricsSpread,
    pub deflated_sharpe: Option<overfitting::DeflatedSharpe>,
    /// Which trials the Deflated Sharpe Ratio counted.
    pub dsr_trials: DsrTrials,
    pub backtest_overfitting: Option<overfitting::Pbo>,
    /// Why there is no PBO: one seed, or seeds whose returns are all the same (each kept the
    /// reference portfolio), which leave no choice to overfit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backtest_overfitting_unavailable: Option<String>,
    /// The ensemble's stitched out-of-sample Sharpe ratio against equal weight's on the same
    /// periods: whether the gap is more than noise (Ledoit and Wolf's HAC test). The DSR asks
    /// whether the ensemble's Sharpe ratio is above zero given the trials, and the PBO whether
    /// picking a seed would have held up; neither asks this.
    pub edge_over_equal_weight: Option<SharpeDifference>,
    /// Stitched out-of-sample CAGR of the ensemble and simple baselines across cost rates.
    pub cost_sensitivity: CostSensitivity,
    pub verdict: String,
    /// Index ranges of each fold's test window in the rows of `equity.csv`.
    pub fold_spans: Vec<(usize, usize)>,
    /// Out-of-sample curves, for pictures and CSV: row labels and one wealth series per policy.
    #[serde(skip)]
    pub curves: Curves,
}

impl WalkForwardReport {
    /// How many of the trainings (folds times seeds) deploy their untrained reference
    /// portfolio, and how many there are.
    pub fn trainings_that_kept_reference(&self) -> (usize, usize) {
        kept_reference_counts(&self.folds)
    }
}

/// `(kept, trainings)`: the trainings across `folds` that deploy their reference, and all of them.
fn kept_reference_counts(folds: &[FoldReport]) -> (usize, usize) {
    let kept = folds.iter().flat_map(|f| &f.seeds).filter(|s| s.kept_reference).count();
    (kept, folds.iter().map(|f| f.seeds.len()).sum())
}

/// The trials behind the Deflated Sharpe Ratio: with a registry, every trial ever recorded on
/// this data (this run's seeds included); without one, this run's seeds alone.
#[derive(Debug, Clone, Serialize)]
pub struct DsrTrials {
    /// The trial registry read and appended to; `None` when only this run's seeds counted.
    pub registry: Option<PathBuf>,
    /// `N`: trials on this data.
    pub trials: usize,
    /// Of them, this run's seeds.
    pub this_run: usize,
    /// Of them, those with a defined Sharpe ratio, whose per-period Sharpe ratios give `V`.
    pub with_sharpe: usize,
    /// Why the registry could not record this run, when it could not: the statistics then count
    /// this run's seeds alone, and the report is still written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_error: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Curves {
    pub labels: Vec<String>,
    pub series: Vec<(PolicyId, Vec<f64>)>,
    /// Index ranges of each fold's test window in `labels`.
    pub fold_spans: Vec<(usize, usize)>,
}

pub struct WalkForwardRequest {
    pub env: EnvConfig,
    pub train: TrainConfig,
    pub config: WalkForwardConfig,
    pub out: PathBuf,
    pub jobs: usize,
    pub device: DeviceChoice,
    /// Where the trainings and the run as a whole show how far they got.
    pub progress: Arc<dyn Progress>,
    /// Trial registry: each seed is recorded there, and the Deflated Sharpe Ratio counts every
    /// trial it holds on this data. `None`: record nothing and count this run's seeds only.
    pub registry: Option<PathBuf>,
    /// When every policy's targets are traded in the test windows (and the in-sample backtest).
    pub rebalance: RebalanceRule,
    /// Continue the walk-forward that an interrupted run left in `out`: each fold and seed whose
    /// result it saved is read back instead of trained again, and the others are trained afresh,
    /// so the report is the one an uninterrupted run writes.
    pub resume: bool,
}

/// The file in a walk-forward's folder naming the run it holds (a hash of every task's id), which
/// `resume` checks before it reuses anything there.
pub const RUN_ID_FILE: &str = "walk-forward.id";

/// Whether a walk-forward was started in `folder` (it named its run there), so that resuming it
/// has something to read back; a folder it never reached starts afresh.
pub fn started_in(folder: &Path) -> bool {
    folder.join(RUN_ID_FILE).is_file()
}

/// Whether `request` can run: its data load, its features build and its folds fit the data. What
/// a caller with several walk-forwards to run checks first, so that the last one's mistake does
/// not surface after the others' trainings.
pub fn check(request: &WalkForwardRequest) -> Result<(), EvalError> {
    Plan::new(request).map(|_| ())
}

/// A walk-forward in phases: plan the folds, train and test a fresh agent per fold and seed,
/// run the baselines on the same test windows, stitch the windows into out-of-sample curves,
/// measure overfitting (recording the trials), and say what it all means.
pub fn walk_forward(request: WalkForwardRequest) -> Result<WalkForwardReport, EvalError> {
    let plan = Plan::new(&request)?;
    let ids = task_ids(&plan, &request);
    mark_run(&request, &ids)?;
    let results = train_and_test(&plan, &request, &ids)?;
    conclude(&plan, request, &results)
}

/// Each task's content id, in task order (see [`TaskIdentity`]): what a walk-forward's saved
/// results and a cluster plan's tasks are named by.
pub(crate) fn task_ids(plan: &Plan, request: &WalkForwardRequest) -> Vec<String> {
    let version = env!("CARGO_PKG_VERSION");
    let id = |&(fold, seed): &(usize, u64)| {
        TaskIdentity {
            env: &request.env,
            train: &request.train,
            rebalance: request.rebalance,
            fold: &plan.folds[fold],
            seed,
            data_fingerprint: &plan.data_fingerprint,
            folio_version: version,
        }
        .id()
    };
    plan.tasks().iter().map(id).collect()
}

/// Name the run in its folder, or, when resuming, check that the folder holds this very run:
/// a folder of another one (other folds, seeds, config or data) has nothing to reuse, and its
/// fold folders would otherwise sit beside this run's as if they were part of it.
fn mark_run(request: &WalkForwardRequest, task_ids: &[String]) -> Result<(), EvalError> {
    let run_id = crate::registry::hash_json(serde_json::json!(task_ids));
    let path = request.out.join(RUN_ID_FILE);
    if request.resume {
        let out = request.out.clone();
        return match std::fs::read_to_string(&path) {
            Err(_) => Err(EvalError::NothingToResume { out }),
            Ok(saved) if saved.trim() != run_id => Err(EvalError::ResumesAnotherRun { out }),
            Ok(_) => Ok(()),
        };
    }
    std::fs::create_dir_all(&request.out)
        .map_err(|source| EvalError::Write { path: request.out.clone(), source })?;
    write_bytes_atomically(&path, format!("{run_id}\n").as_bytes())
        .map_err(|source| EvalError::Write { path, source })
}

/// Every phase after the trainings: what turns the fold and seed results, however they were
/// computed (here, or one task at a time on a cluster and merged), into the report.
pub(crate) fn conclude(
    plan: &Plan,
    request: WalkForwardRequest,
    results: &[TaskResult],
) -> Result<WalkForwardReport, EvalError> {
    let ensemble_logs = test_ensembles(plan, results, &request)?;
    let baseline_logs = test_baselines(plan, request.progress.as_ref())?;
    let folds = fold_reports(plan, results, &ensemble_logs, &baseline_logs);
    let stitched = Stitched::new(plan, results, &ensemble_logs, &baseline_logs);
    let cost_sensitivity = stitched_cost_sensitivity(plan, &fold_checkpoints(plan, results), request.device)?;
    let statistics = overfitting_statistics(plan, &request, &stitched)?;
    let edge = stitched.edge_over_equal_weight(plan.metrics.periods_per_year);
    let mut verdict = verdict(plan, &stitched, &statistics, edge.as_ref());
    if let Some(kept) = kept_references(&folds, &request) {
        verdict.push(' ');
        verdict.push_str(&kept);
    }
    verdict.push_str(&annualization_warning(&plan.market.panel, plan.metrics.periods_per_year));
    let WalkForwardRequest { env, train, config, rebalance, .. } = request;
    Ok(WalkForwardReport {
        config,
        train,
        data: env.data.file.display().to_string(),
        data_fingerprint: plan.data_fingerprint.clone(),
        rebalance,
        rebalance_every: plan.settings.episode.rebalance_every,
        no_trade_band: plan.settings.episode.no_trade_band,
        folds,
        median_seed: plan.seeds[stitched.median],
        seed_spread: stitched.seed_spread(plan.seeds.len()),
        overall: stitched.overall,
        deflated_sharpe: statistics.deflated_sharpe,
        dsr_trials: statistics.dsr_trials,
        backtest_overfitting: statistics.backtest_overfitting,
        backtest_overfitting_unavailable: statistics.backtest_overfitting_unavailable,
        edge_over_equal_weight: edge,
        cost_sensitivity,
        verdict,
        fold_spans: stitched.curves.fold_spans.clone(),
        curves: stitched.curves,
    })
}

/// What every phase reads: the market, its folds, the seeds, and the fixed settings.
pub(crate) struct Plan {
    market: Arc<Market>,
    pub(crate) folds: Vec<Fold>,
    /// The seeds trained in every fold, in order.
    seeds: Vec<u64>,
    /// The environment's settings, without embargo: folds place their own gaps.
    settings: EnvSettings,
    metrics: MetricsConfig,
    rebalance: RebalanceRule,
    pub(crate) data_fingerprint: String,
}

impl Plan {
    pub(crate) fn new(request: &WalkForwardRequest) -> Result<Self, EvalError> {
        let config = &request.config;
        if config.seeds == 0 {
            return Err(
                InvalidSetting::new("walk_forward.seeds", "walk_forward.seeds must be at least 1").into()
            );
        }
        let (market, _) = Market::from_config(&request.env)?;
        request.rebalance.check(&market)?;
        // Every training would refuse these; refused here, before the first of them starts.
        request.train.validate()?;
        request.train.net.validate(&market.layout())?;
        let folds = make_folds(market.n_periods(), market.first_observable(), config)?;
        let env = &request.env;
        Ok(Self {
            data_fingerprint: market.panel.fingerprint(),
            market: Arc::new(market),
            folds,
            seeds: (0..config.seeds as u64).map(|s| request.train.seed + s).collect(),
            settings: EnvSettings {
                episode: EpisodeConfig { embargo: 0, ..env.episode },
                ..EnvSettings::from_config(env)
            },
            metrics: MetricsConfig { periods_per_year: env.data.periods_per_year, risk_free: 0.0 },
            rebalance: request.rebalance,
        })
    }

    /// Index of fold `fold`'s run of the seed at `seed_index`, in task order.
    fn task(&self, fold: usize, seed_index: usize) -> usize {
        fold * self.seeds.len() + seed_index
    }

    /// Every (fold, seed) pair, fold by fold.
    pub(crate) fn tasks(&self) -> Vec<(usize, u64)> {
        self.folds.iter().flat_map(|f| self.seeds.iter().map(move |&s| (f.index, s))).collect()
    }

    fn label(&self, row: usize) -> String {
        self.market.panel.index.label(row)
    }

    /// The environment of one fold: its three periods, no embargo of its own.
    fn fold_env(&self, env: &EnvConfig, fold: &Fold) -> EnvConfig {
        let index = &self.market.panel.index;
        let mut e = env.clone();
        e.periods.train = span(index, fold.train);
        e.periods.validation = span(index, fold.validation);
        e.periods.test = span(index, fold.test);
        e.episode.embargo = 0;
        e
    }

    /// The market as an agent trained with `features` and `normalizer` sees it.
    fn market_for(&self, meta: &checkpoint::Meta) -> Result<Arc<Market>, EvalError> {
        let panel = self.market.panel.clone();
        Ok(Arc::new(Market::new(panel, &meta.env.features, Some(meta.normalizer.clone()), 0..0)?))
    }
}

fn range((first, last): (usize, usize)) -> DecisionRange {
    DecisionRange { first, last }
}

/// One fold and seed: the agent's results and its test window's path.
#[derive(Serialize, Deserialize)]
pub(crate) struct TaskResult {
    pub(crate) seed: SeedResult,
    test_log: BacktestLog,
}

/// Phase 2: a fresh agent per fold and seed (`jobs` at a time), trained on the fold's training
/// window, selected on its validation slice, and backtested on its training and test windows.
fn train_and_test(
    plan: &Plan,
    request: &WalkForwardRequest,
    task_ids: &[String],
) -> Result<Vec<TaskResult>, EvalError> {
    let tasks: Vec<_> = plan.tasks().into_iter().zip(task_ids).collect();
    let overall = request.progress.start("folds x seeds", "trainings", tasks.len() as u64, 0);
    let run = |&((fold, seed), id): &((usize, u64), &String)| {
        let fold_dir = request.out.join(format!("fold-{fold}"));
        let dir = fold_dir.join(format!("seed-{seed}"));
        // Beside the checkpoint, which the training clears before it starts.
        let saved = fold_dir.join(format!("seed-{seed}.{}", task_result::RESULT));
        let reused: Option<TaskResult> =
            request.resume.then(|| task_result::load(&saved, id, &dir)).flatten();
        let result = match reused {
            Some(result) => Ok(TaskResult { seed: SeedResult { checkpoint: dir, ..result.seed }, ..result }),
            None => train_and_test_one(plan, request, &plan.folds[fold], seed, dir, request.resume).and_then(
                |result| {
                    task_result::save(&saved, id, &result)
                        .map_err(|source| EvalError::Write { path: saved, source })?;
                    Ok(result)
                },
            ),
        };
        overall.advance(1);
        result
    };
    let jobs = request.jobs;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .map_err(|source| EvalError::Threads { threads: jobs, source })?;
    let results = pool.install(|| tasks.par_iter().map(run).collect::<Result<Vec<_>, _>>());
    overall.finish();
    results
}

/// One fold and seed, its checkpoint in `dir`: cleared first, unless `resume` finds there a
/// training that an interrupted run left unfinished, which goes on from its last save.
pub(crate) fn train_and_test_one(
    plan: &Plan,
    request: &WalkForwardRequest,
    fold: &Fold,
    seed: u64,
    dir: PathBuf,
    resume: bool,
) -> Result<TaskResult, EvalError> {
    let env = plan.fold_env(&request.env, fold);
    let resume = resume && unfinished_training(&dir)?;
    if !resume && dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|source| EvalError::Clear { path: dir.clone(), source })?;
    }
    let outcome = train(TrainRequest {
        env,
        train: TrainConfig { seed, ..request.train.clone() },
        out: dir.clone(),
        device: request.device,
        resume,
        progress: request.progress.clone(),
    })?;
    let device = request.device.device()?;
    let (meta, net) = checkpoint::load_agent(&dir, Weights::Best, &device)?;
    let market = plan.market_for(&meta)?;
    let id = PolicyId::Agent { seed: Some(seed) };
    let mut agent = AgentPolicy::new(id, net, meta.head, market.layout(), device);
    let (rule, settings) = (plan.rebalance, plan.settings);
    let own_decisions = agent_decisions(&mut agent, rule, &market, range(fold.test), settings)?;
    let mut agent = under_rule(Box::new(agent), rule, &market)?;
    let in_sample = backtest(agent.as_mut(), &market, range(fold.train), settings)?.metrics(&plan.metrics);
    let mut tested = match online_agent(plan, request, &dir, id, &market)? {
        Some(online) => under_rule(online, rule, &market)?,
        None => agent,
    };
    let test_log = backtest(tested.as_mut(), &market, range(fold.test), settings)?;
    let columns: Vec<String> =
        std::iter::once("cash".to_string()).chain(market.panel.assets.iter().cloned()).collect();
    let kept_reference = outcome.validation.kept_reference();
    // The detectors look for a trained agent that collapsed. A training that kept its reference
    // portfolio trades it on purpose (unless online learning moves it), and the verdict counts those.
    let warnings = if kept_reference && request.train.online_steps == 0 {
        Vec::new()
    } else {
        crate::backtest::collapse::detect(own_decisions.as_ref().unwrap_or(&test_log), &columns)
    };
    Ok(TaskResult {
        seed: SeedResult {
            seed,
            checkpoint: dir,
            in_sample,
            validation_sharpe: outcome.validation.agent.sharpe,
            kept_reference,
            out_of_sample: test_log.metrics(&plan.metrics),
            warnings,
        },
        test_log,
    })
}

/// Whether `dir` holds a training stopped partway, which a resumed run continues to exactly the
/// network an uninterrupted one ends with (`train`'s resume). One that ran to its end (or
/// diverged) is trained again from the start instead: resuming it would train past where it
/// stopped.
fn unfinished_training(dir: &Path) -> Result<bool, EvalError> {
    if !checkpoint::saved_in(dir) {
        return Ok(false);
    }
    // A publication the killed run committed is finished first, so the meta read is its last.
    let _lock = crate::files::FolderLock::acquire(dir).map_err(crate::train::TrainError::from)?;
    checkpoint::recover(dir)?;
    Ok(checkpoint::load_meta(dir).is_ok_and(|meta| meta.progress.stopped.is_none()))
}

/// The checkpoint in `dir` learning online through its test window, when the training config
/// asks for it (`train.online_steps`).
fn online_agent(
    plan: &Plan,
    request: &WalkForwardRequest,
    dir: &Path,
    id: PolicyId,
    market: &Arc<Market>,
) -> Result<Option<Box<dyn Policy>>, EvalError> {
    let train = &request.train;
    if train.online_steps == 0 {
        return Ok(None);
    }
    let settings = OnlineSettings { steps: train.online_steps, learning_rate: train.online_learning_rate };
    let device = request.device.device()?;
    let agent = OnlineAgent::new(id, dir, Weights::Best, market.clone(), plan.settings, settings, device)?;
    Ok(Some(Box::new(agent)))
}

/// Each of `dirs` learning online, when the training config asks for it.
fn online_members(
    plan: &Plan,
    request: &WalkForwardRequest,
    dirs: &[PathBuf],
    market: &Arc<Market>,
) -> Result<Option<Vec<Box<dyn Policy>>>, EvalError> {
    let mut members = Vec::new();
    for dir in dirs {
        match online_agent(plan, request, dir, PolicyId::AGENT, market)? {
            Some(agent) => members.push(agent),
            None => return Ok(None),
        }
    }
    Ok(Some(members))
}

/// Every fold's checkpoints, seeds in order.
fn fold_checkpoints(plan: &Plan, results: &[TaskResult]) -> Vec<Vec<PathBuf>> {
    (0..plan.folds.len())
        .map(|k| (0..plan.seeds.len()).map(|s| results[plan.task(k, s)].seed.checkpoint.clone()).collect())
        .collect()
}

/// The seeds of one fold as one policy, the average of their weights, on the fold's market.
fn fold_ensemble(
    plan: &Plan,
    checkpoints: &[PathBuf],
    device: &burn::prelude::Device,
) -> Result<(Arc<Market>, EnsemblePolicy), EvalError> {
    let mut members = Vec::new();
    let mut market = None;
    for dir in checkpoints {
        let (meta, net) = checkpoint::load_agent(dir, Weights::Best, device)?;
        // The seeds of a fold share its training window, so one normalization fits them all.
        let fold_market = match &market {
            Some(m) => Arc::clone(m),
            None => plan.market_for(&meta)?,
        };
        members.push(AgentPolicy::new(PolicyId::AGENT, net, meta.head, fold_market.layout(), device.clone()));
        market = Some(fold_market);
    }
    Ok((market.expect("at least one seed"), EnsemblePolicy::of_agents(members)))
}

/// Phase 3: each fold's seeds deployed together on its test window (each learning online
/// through it, if the training config asks for it).
fn test_ensembles(
    plan: &Plan,
    results: &[TaskResult],
    request: &WalkForwardRequest,
) -> Result<Vec<BacktestLog>, EvalError> {
    let device = request.device.device()?;
    let checkpoints = fold_checkpoints(plan, results);
    let mut logs = Vec::new();
    for (fold, dirs) in plan.folds.iter().zip(&checkpoints) {
        let (market, ensemble) = fold_ensemble(plan, dirs, &device)?;
        let ensemble = match online_members(plan, request, dirs, &market)? {
            Some(members) => EnsemblePolicy::new(members),
            None => ensemble,
        };
        let mut policy = under_rule(Box::new(ensemble), plan.rebalance, &market)?;
        logs.push(backtest(policy.as_mut(), &market, range(fold.test), plan.settings)?);
    }
    Ok(logs)
}

/// Phase 3: every baseline over the same test windows, under the same rule (deterministic: run
/// here in order, their decisions shown on `progress`).
fn test_baselines(plan: &Plan, progress: &dyn Progress) -> Result<Vec<Vec<BacktestLog>>, EvalError> {
    let decisions: usize = plan.folds.iter().map(|f| decision_count(range(f.test), &plan.settings)).sum();
    let task = progress.start("baselines", "decisions", (decisions * BaselineId::ALL.len()) as u64, 0);
    let mut all = Vec::new();
    for fold in &plan.folds {
        let range = range(fold.test);
        let policies = baselines::all(&plan.market, range)?;
        let mut logs = Vec::new();
        for mut policy in all_under_rule(policies, plan.rebalance, &plan.market)? {
            task.set_message(format!("fold {}: {}", fold.index, policy.id()));
            logs.push(backtest_showing(policy.as_mut(), &plan.market, range, plan.settings, task.as_ref())?);
        }
        all.push(logs);
    }
    task.finish();
    Ok(all)
}

fn fold_reports(
    plan: &Plan,
    results: &[TaskResult],
    ensemble_logs: &[BacktestLog],
    baseline_logs: &[Vec<BacktestLog>],
) -> Vec<FoldReport> {
    let label = |(first, last): (usize, usize)| (plan.label(first), plan.label(last));
    plan.folds
        .iter()
        .zip(ensemble_logs.iter().zip(baseline_logs))
        .map(|(fold, (ensemble, logs))| FoldReport {
            fold: *fold,
            train: label(fold.train),
            validation: label(fold.validation),
            test: label(fold.test),
            seeds: (0..plan.seeds.len()).map(|s| results[plan.task(fold.index, s)].seed.clone()).collect(),
            ensemble: ensemble.metrics(&plan.metrics),
            baselines: logs
                .iter()
                .map(|l| PolicyFold { policy: l.policy, metrics: l.metrics(&plan.metrics) })
                .collect(),
        })
        .collect()
}

/// Phase 4: each policy's test windows chained into one out-of-sample curve.
struct Stitched {
    /// Each seed's agent, the ensemble, then every baseline.
    overall: Vec<OverallRow>,
    curves: Curves,
    /// Each seed's stitched per-period returns.
    agent_returns: Vec<Vec<f64>>,
    /// The ensemble's stitched per-period returns, and its row in `overall`.
    ensemble_returns: Vec<f64>,
    ensemble: usize,
    /// Index of the seed whose stitched Sharpe ratio is the median.
    median: usize,
}

impl Stitched {
    fn new(
        plan: &Plan,
        results: &[TaskResult],
        ensemble_logs: &[BacktestLog],
        baseline_logs: &[Vec<BacktestLog>],
    ) -> Self {
        let mut curves = Curves::default();
        curves.labels.push(plan.label(plan.folds[0].test.0));
        for fold in &plan.folds {
            let start = curves.labels.len() - 1;
            curves.labels.extend((fold.test.0 + 1..=fold.test.1).map(|row| plan.label(row)));
            curves.fold_spans.push((start, curves.labels.len() - 1));
        }
        let (mut overall, mut agent_returns) = (Vec::new(), Vec::new());
        for (s, &seed) in plan.seeds.iter().enumerate() {
            let logs: Vec<&BacktestLog> =
                (0..plan.folds.len()).map(|k| &results[plan.task(k, s)].test_log).collect();
            let (values, metrics) = stitch(logs, &plan.metrics);
            let in_sample =
                (0..plan.folds.len()).map(|k| results[plan.task(k, s)].seed.in_sample.sharpe).sum::<f64>()
                    / plan.folds.len() as f64;
            let id = PolicyId::Agent { seed: Some(seed) };
            overall.push(OverallRow { policy: id, metrics, in_sample_sharpe: Some(in_sample) });
            agent_returns.push(simple_returns(&values));
            curves.series.push((id, values));
        }
        let (values, metrics) = stitch(ensemble_logs.iter().collect(), &plan.metrics);
        let ensemble_returns = simple_returns(&values);
        let ensemble = overall.len();
        overall.push(OverallRow { policy: PolicyId::Ensemble, metrics, in_sample_sharpe: None });
        curves.series.push((PolicyId::Ensemble, values));
        for b in 0..baseline_logs[0].len() {
            let (values, metrics) =
                stitch(baseline_logs.iter().map(|logs| &logs[b]).collect(), &plan.metrics);
            let id = baseline_logs[0][b].policy;
            overall.push(OverallRow { policy: id, metrics, in_sample_sharpe: None });
            curves.series.push((id, values));
        }
        // The headline agent is the median seed, not the luckiest.
        let mut by_sharpe: Vec<usize> = (0..plan.seeds.len()).collect();
        by_sharpe.sort_by(|&a, &b| overall[a].metrics.sharpe.total_cmp(&overall[b].metrics.sharpe));
        let median = by_sharpe[(plan.seeds.len() - 1) / 2];
        Self { overall, curves, agent_returns, ensemble_returns, ensemble, median }
    }

    /// Ledoit and Wolf's test of the ensemble's Sharpe ratio against equal weight's, on the
    /// stitched per-period returns of both.
    fn edge_over_equal_weight(&self, periods_per_year: f64) -> Option<SharpeDifference> {
        let (_, equal) = self.curves.series.iter().find(|(id, _)| *id == PolicyId::EQUAL_WEIGHT)?;
        sharpe_difference(&self.ensemble_returns, &simple_returns(equal), periods_per_year)
    }

    fn seed_spread(&self, seeds: usize) -> MetricsSpread {
        MetricsSpread::of(&self.overall[..seeds].iter().map(|r| &r.metrics).collect::<Vec<_>>())
    }
}

/// Chain backtests of consecutive windows: each starts from cash at 1, so wealth carries over by
/// scaling each window by the wealth the previous ones left.
fn stitch(logs: Vec<&BacktestLog>, metrics_config: &MetricsConfig) -> (Vec<f64>, Metrics) {
    let mut values = vec![1.0];
    let (mut turnovers, mut costs, mut paid_fractions) = (Vec::new(), 0.0, 0.0);
    for log in logs {
        let scale = *values.last().expect("starts at 1");
        values.extend(log.values[1..].iter().map(|v| v * scale));
        turnovers.extend_from_slice(&log.turnovers);
        costs += scale * log.costs.iter().sum::<f64>();
        paid_fractions += log.annual_cost_drag(1.0) * (log.values.len() - 1) as f64;
    }
    let mut metrics = compute(&values, &turnovers, costs, metrics_config);
    metrics.annual_cost_drag = paid_fractions * metrics_config.periods_per_year / (values.len() - 1) as f64;
    (values, metrics)
}

/// What the overfitting statistics found.
struct Statistics {
    deflated_sharpe: Option<overfitting::DeflatedSharpe>,
    dsr_trials: DsrTrials,
    backtest_overfitting: Option<overfitting::Pbo>,
    /// Why there is no PBO, when there is none.
    backtest_overfitting_unavailable: Option<String>,
}

/// Phase 5: every seed is a trial. The best one is what a careless search would report, so it
/// is the one the Deflated Sharpe Ratio judges, against the spread of all trials: with a
/// registry, every configuration and seed ever tried on this data (this run's recorded first).
/// The Probability of Backtest Overfitting compares the seeds' stitched returns by CSCV.
fn overfitting_statistics(
    plan: &Plan,
    request: &WalkForwardRequest,
    stitched: &Stitched,
) -> Result<Statistics, EvalError> {
    let recorded = request.registry.as_ref().map(|path| (record_trials(plan, request, stitched, path), path));
    let (trials, registry, registry_error) = match recorded {
        Some((Ok(trials), path)) => (trials, Some(path.clone()), None),
        // Hours of training are not thrown away for a registry problem: counted without it.
        Some((Err(error), _)) => (this_run_trials(plan, stitched), None, Some(error.to_string())),
        None => (this_run_trials(plan, stitched), None, None),
    };
    // N counts every trial; V is the sample variance of the defined per-period Sharpe ratios.
    let variance = if trials.sharpe_per_period.len() >= 2 {
        crate::stats::sample_std(&trials.sharpe_per_period).powi(2)
    } else {
        0.0
    };
    // The headline is the ensemble, so it is what the Deflated Sharpe Ratio judges, against
    // every trial on this data: the seeds it averages were each a trial.
    let headline = overfitting::SharpeStats::from_returns(&stitched.ensemble_returns);
    let deflated_sharpe = overfitting::deflated_sharpe_ratio(&headline, trials.trials, variance).ok();
    let pbo = overfitting::returns_matrix(&stitched.agent_returns).and_then(|m| {
        overfitting::probability_of_backtest_overfitting(m.view(), &overfitting::PboConfig::default())
    });
    let (backtest_overfitting, backtest_overfitting_unavailable) = match pbo {
        Ok(pbo) => (Some(pbo), None),
        Err(why) => (None, Some(why.to_string())),
    };
    let dsr_trials = DsrTrials {
        registry,
        trials: trials.trials,
        this_run: plan.seeds.len(),
        with_sharpe: trials.sharpe_per_period.len(),
        registry_error,
    };
    Ok(Statistics { deflated_sharpe, dsr_trials, backtest_overfitting, backtest_overfitting_unavailable })
}

/// This run's seeds as the only trials.
fn this_run_trials(plan: &Plan, stitched: &Stitched) -> registry::DataTrials {
    let sharpes: Vec<f64> = stitched
        .agent_returns
        .iter()
        .map(|r| overfitting::sharpe_ratio(r))
        .filter(|s| s.is_finite())
        .collect();
    registry::DataTrials {
        data_fingerprint: plan.data_fingerprint.clone(),
        trials: plan.seeds.len(),
        sharpe_per_period: sharpes,
    }
}

/// Append one trial per seed to the registry; every trial on this data, these included.
fn record_trials(
    plan: &Plan,
    request: &WalkForwardRequest,
    stitched: &Stitched,
    path: &Path,
) -> Result<registry::DataTrials, EvalError> {
    let period = (plan.label(plan.folds[0].test.0), plan.label(plan.folds[plan.folds.len() - 1].test.1));
    let hash = config_hash(&request.env, &request.train, &request.config);
    let records: Vec<TrialRecord> = plan
        .seeds
        .iter()
        .zip(&stitched.agent_returns)
        .map(|(&seed, returns)| {
            let figures = Figures::from_returns(
                Sample::OutOfSample,
                period.clone(),
                returns,
                plan.metrics.periods_per_year,
            );
            TrialRecord::new(
                TrialCommand::WalkForward,
                hash.clone(),
                plan.data_fingerprint.clone(),
                &request.env,
                &TrainConfig { seed, ..request.train.clone() },
                figures,
                request.out.clone(),
            )
        })
        .collect();
    let all = registry::append_new(path, &records)?;
    Ok(registry::trials_on(&all, &plan.data_fingerprint))
}

/// How many trainings deploy their untrained reference portfolio, in words, when any do: an
/// ensemble that equals its reference is what the training chose, not a failure to run.
fn kept_references(folds: &[FoldReport], request: &WalkForwardRequest) -> Option<String> {
    let (kept, trainings) = kept_reference_counts(folds);
    (kept > 0).then(|| {
        format!(
            "{kept} of {trainings} trainings kept their untrained network, which is the reference \
             portfolio ({}): on validation the trained network did not beat it by more than {} of the \
             Sharpe gap, or by more than {NEGLIGIBLE} a year.",
            request.env.features.reference.name(),
            checkpoint::standard_errors(request.train.reference_margin)
        )
    })
}

/// Phase 6: the headline in plain words: the ensemble against equal weight and whether the gap
/// is more than noise, the median seed alone, then how far the overfitting statistics let one
/// trust it.
fn verdict(
    plan: &Plan,
    stitched: &Stitched,
    statistics: &Statistics,
    edge: Option<&SharpeDifference>,
) -> String {
    let equal = stitched
        .overall
        .iter()
        .find(|r| r.policy == PolicyId::EQUAL_WEIGHT)
        .map(|r| r.metrics.sharpe)
        .unwrap_or(f64::NAN);
    let agent = &stitched.overall[stitched.ensemble].metrics;
    let seeds = plan.seeds.len();
    let median = stitched.overall[stitched.median].metrics.sharpe;
    let deployed = match seeds {
        1 => "the agent (one seed)".to_string(),
        _ => format!("the ensemble agent (the average of {seeds} seeds' weights)"),
    };
    let ensemble = format!(
        "Out of sample, {deployed} has a Sharpe ratio of {:.2} against {:.2} for equal weight",
        agent.sharpe, equal
    );
    let folds = match plan.folds.len() {
        1 => "1 fold".to_string(),
        n => format!("{n} folds"),
    };
    // A higher Sharpe ratio is not yet an edge: the test says whether the gap is more than noise.
    let mut verdict = match edge {
        Some(edge) if edge.negligible() => {
            format!("{ensemble}: it matches equal weight over {folds}, a gap of {}.", edge.describe())
        }
        Some(edge) if edge.significant() && agent.sharpe > equal => {
            format!("{ensemble}: it beats equal weight over {folds} by {}.", edge.describe())
        }
        Some(edge) if agent.sharpe > equal => format!(
            "{ensemble}: it is ahead of equal weight over {folds} by {}, so it shows no edge.",
            edge.describe()
        ),
        Some(edge) => format!("{ensemble}: it does not beat equal weight; the gap is {}.", edge.describe()),
        None if agent.sharpe > equal => format!("{ensemble}: it beats equal weight over {folds}."),
        None => format!("{ensemble}: it does not beat equal weight."),
    };
    if seeds > 1 {
        verdict.push_str(&format!(" The median seed alone: {median:.2}."));
    }
    verdict.push(' ');
    verdict.push_str(&overfitting::verdict(
        statistics.deflated_sharpe.as_ref(),
        statistics.backtest_overfitting.as_ref(),
    ));
    if let Some(why) = &statistics.backtest_overfitting_unavailable {
        verdict.push_str(&format!(" No PBO: {why}."));
    }
    verdict
}

/// The registry's [`registry::config_hash`] of a walk-forward run: the environment, the training
/// configuration (seed left out) and the fold layout (seed count left out).
pub fn config_hash(env: &EnvConfig, train: &TrainConfig, walk_forward: &WalkForwardConfig) -> String {
    let folds = WalkForwardConfig { seeds: 0, ..*walk_forward };
    let folds = serde_json::to_value(folds).expect("walk-forward config serializes");
    registry::config_hash_with(env, train, &[("walk_forward", folds)])
}

type FoldPolicies = (Arc<Market>, Vec<Box<dyn Policy>>);

/// The ensemble agent's and simple baselines' stitched out-of-sample CAGR at every grid cost:
/// each fold's checkpoints act again on their own test window.
fn stitched_cost_sensitivity(
    plan: &Plan,
    checkpoints: &[Vec<PathBuf>],
    device: DeviceChoice,
) -> Result<CostSensitivity, EvalError> {
    let device = device.device()?;
    // Each fold's market (with its checkpoints' normalization) and its policies.
    let mut per_fold: Vec<FoldPolicies> = Vec::new();
    for dirs in checkpoints {
        let (fold_market, ensemble) = fold_ensemble(plan, dirs, &device)?;
        let policies: Vec<Box<dyn Policy>> = vec![
            Box::new(ensemble),
            Box::new(baselines::EqualWeight),
            Box::new(baselines::BuyAndHold::default()),
        ];
        let policies = all_under_rule(policies, plan.rebalance, &fold_market)?;
        per_fold.push((fold_market, policies));
    }
    let mut cagr: Vec<(PolicyId, Vec<f64>)> = per_fold[0].1.iter().map(|p| (p.id(), Vec::new())).collect();
    for &bp in &COST_GRID_BP {
        let mut at_cost = plan.settings;
        at_cost.costs.buy = bp / 1e4;
        at_cost.costs.sell = bp / 1e4;
        for (p, (_, series)) in cagr.iter_mut().enumerate() {
            let mut values = vec![1.0];
            for (fold, (fold_market, policies)) in plan.folds.iter().zip(per_fold.iter_mut()) {
                let log = backtest(policies[p].as_mut(), fold_market, range(fold.test), at_cost)?;
                let scale = *values.last().expect("starts at 1");
                values.extend(log.values[1..].iter().map(|v| v * scale));
            }
            series.push(compute(&values, &[], 0.0, &plan.metrics).cagr);
        }
    }
    let edge: Vec<f64> = cagr[0].1.iter().zip(&cagr[1].1).map(|(a, e)| a - e).collect();
    Ok(CostSensitivity {
        costs_bp: COST_GRID_BP.to_vec(),
        break_even: break_even(&COST_GRID_BP, &edge),
        cagr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_too_short_for_the_folds_gets_a_config_that_fits() {
        let config = WalkForwardConfig::default();
        let error = make_folds(700, 69, &config).unwrap_err().to_string();
        assert_eq!(
            error,
            "5 folds of 252 test periods, with 252 validation, 1260 training, 5 embargo and 69 warm-up \
             periods, need 2852 periods; the data has 700; in the config's [walk_forward], train_periods \
             = 281, validation_periods = 56, test_periods = 56 (with 5 folds) would fit"
        );
        let scaled =
            WalkForwardConfig { train_periods: 281, validation_periods: 56, test_periods: 56, ..config };
        assert_eq!(make_folds(700, 69, &scaled).unwrap().len(), 5);
        // Fewer folds fit 2,300 rows as they are; the scaled windows fit them too.
        let error = make_folds(2300, 69, &config).unwrap_err().to_string();
        assert!(error.ends_with("folds = 2, or train_periods = 1009, validation_periods = 201, test_periods = 201 (with 5 folds) would fit"), "{error}");
        assert_eq!(make_folds(2300, 69, &WalkForwardConfig { folds: 2, ..config }).unwrap().len(), 2);
        let scaled =
            WalkForwardConfig { train_periods: 1009, validation_periods: 201, test_periods: 201, ..config };
        assert_eq!(make_folds(2300, 69, &scaled).unwrap().len(), 5);
        // Below a training window of 100 periods nothing is suggested.
        let error = make_folds(250, 69, &config).unwrap_err().to_string();
        assert!(error.ends_with("the data has 250; that is too little for a walk-forward"), "{error}");
    }

    #[test]
    fn the_default_layout_fitted_to_short_data_keeps_the_most_test_periods() {
        let config = WalkForwardConfig::default();
        assert_eq!(config.fitted_to(2852, 69), None, "the default fits as it is");
        assert_eq!(config.fitted_to(250, 69), None, "nothing fits");
        // Of "2 folds" and "5 scaled folds", the scaled ones test on 1,005 periods against 504.
        let fitted = config.fitted_to(2300, 69).unwrap();
        assert_eq!(
            (fitted.folds, fitted.train_periods, fitted.validation_periods, fitted.test_periods),
            (5, 1009, 201, 201)
        );
        assert_eq!((fitted.embargo, fitted.mode, fitted.seeds), (config.embargo, config.mode, config.seeds));
        // Where the windows cannot shrink without starving training, fewer folds is all that fits.
        let short_training =
            WalkForwardConfig { train_periods: 150, validation_periods: 50, test_periods: 300, ..config };
        let fitted = short_training.fitted_to(980, 69).unwrap();
        assert_eq!((fitted.folds, fitted.train_periods, fitted.test_periods), (2, 150, 300));
        for n in [700, 1000, 2300, 2851] {
            let fitted = config.fitted_to(n, 69).unwrap();
            assert_eq!(make_folds(n, 69, &fitted).unwrap().len(), fitted.folds, "{n} rows");
        }
        // Folds a user asked for stay, and the windows shrink to make room for them.
        let two = WalkForwardConfig { folds: 2, ..config };
        let fitted = two.fitted_keeping_folds(1663, 69).unwrap();
        assert_eq!(fitted.folds, 2);
        assert!(fitted.train_periods < config.train_periods && fitted.test_periods < config.test_periods);
        assert_eq!(make_folds(1663, 69, &fitted).unwrap().len(), 2);
        assert_eq!(two.fitted_keeping_folds(2852, 69), None, "two default folds fit 2,852 rows");
    }

    #[test]
    fn folds_never_let_test_touch_training_or_validation_plus_embargo() {
        for mode in [WindowMode::Rolling, WindowMode::Expanding] {
            let config = WalkForwardConfig {
                mode,
                train_periods: 300,
                validation_periods: 100,
                test_periods: 80,
                embargo: 7,
                folds: 6,
                seeds: 1,
            };
            let folds = make_folds(2000, 69, &config).unwrap();
            assert_eq!(folds.len(), 6);
            assert_eq!(folds.last().unwrap().test.1, 1999, "the last test window ends with the data");
            for (k, f) in folds.iter().enumerate() {
                assert!(f.train.0 >= 69, "training starts after the feature warm-up");
                assert!(
                    f.train.1 + config.embargo <= f.validation.0,
                    "fold {k}: training + embargo overlaps validation"
                );
                assert!(
                    f.validation.1 + config.embargo <= f.test.0,
                    "fold {k}: validation + embargo overlaps test"
                );
                assert_eq!(f.test.1 - f.test.0, 80);
                if mode == WindowMode::Rolling {
                    assert_eq!(f.train.1 - f.train.0, 300);
                } else {
                    assert_eq!(f.train.0, 69);
                }
                if k > 0 {
                    // Test windows tile: each starts where the previous ended.
                    assert_eq!(folds[k - 1].test.1, f.test.0);
                }
            }
            // No fold's test window overlaps any fold's own training or validation.
            for f in &folds {
                let test = f.test.0..=f.test.1;
                assert!(!test.contains(&f.train.1) && !test.contains(&f.validation.1));
            }
        }
    }

    #[test]
    fn the_config_hash_sees_the_folds_but_not_the_seed_count() {
        let env: EnvConfig = toml::from_str("[data]\nfile = \"prices.csv\"").unwrap();
        let train = TrainConfig::default();
        let folds = WalkForwardConfig::default();
        let hash = config_hash(&env, &train, &folds);
        assert_ne!(hash, registry::config_hash(&env, &train));
        assert_eq!(hash, config_hash(&env, &train, &WalkForwardConfig { seeds: 9, ..folds }));
        assert_ne!(hash, config_hash(&env, &train, &WalkForwardConfig { folds: 2, ..folds }));
    }
}
