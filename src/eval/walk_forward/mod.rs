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
use super::evaluate::{annualization_warning, data_doubts};
use super::task_result::{self, TaskIdentity};
use crate::agent::DeviceChoice;
use crate::agent::{AgentPolicy, EnsemblePolicy};
use crate::backtest::rebalance::{RebalanceRule, agent_decisions, all_under_rule, under_rule};
use crate::backtest::{
    BacktestLog, BaselineId, Policy, PolicyId, backtest, backtest_showing, decision_count,
};
use crate::baselines;
use crate::data::InvalidSetting;
use crate::env::config::{EnvConfig, EpisodeConfig};
use crate::env::{DecisionRange, EnvSettings, Market};
use crate::files::write_bytes_atomically;
use crate::metrics::MetricsConfig;
use crate::progress::Progress;
use crate::train::checkpoint::{self, ValidationRecord, Weights};
use crate::train::online::{OnlineAgent, OnlineSettings};
use crate::train::{Algo, TrainConfig, TrainRequest, train};

mod layout;
mod results;
mod summary;

use layout::span;
pub use layout::{Fold, FoldError, LayoutChoice, WalkForwardConfig, WindowMode, make_folds};
pub use results::{Curves, DsrTrials, FoldReport, OverallRow, PolicyFold, SeedResult, WalkForwardReport};
pub use summary::config_hash;
use summary::{Stitched, kept_references, overfitting_statistics, stitched_cost_sensitivity, verdict};

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
    /// result it saved is read back, a training it finished or cut off is tested or continued
    /// (`train_and_test_one`), and the rest train afresh, so the report is the one an
    /// uninterrupted run writes.
    pub resume: bool,
}

/// The file in a walk-forward's folder naming the run it holds (a hash of every task's id), which
/// `resume` checks before it reuses anything there.
pub const RUN_ID_FILE: &str = "walk-forward.id";

/// The settings behind [`RUN_ID_FILE`]'s hash, so that a refused resume names what differs.
pub const RUN_SETTINGS_FILE: &str = "walk-forward.settings.json";

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
    mark_run(&request, &plan, &ids)?;
    let results = train_and_test(&plan, &request, &ids)?;
    conclude(&plan, request, &results)
}

/// Each task's content id, in task order (see [`TaskIdentity`]): what a walk-forward's saved
/// results and a cluster plan's tasks are named by.
pub(crate) fn task_ids(plan: &Plan, request: &WalkForwardRequest) -> Vec<String> {
    // The build, not the package version, which stays the same between commits whose results
    // differ: a resume by another build is another run.
    let version = crate::BUILD;
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
fn mark_run(request: &WalkForwardRequest, plan: &Plan, task_ids: &[String]) -> Result<(), EvalError> {
    let run_id = crate::registry::hash_json(serde_json::json!(task_ids));
    let path = request.out.join(RUN_ID_FILE);
    let settings_path = request.out.join(RUN_SETTINGS_FILE);
    let settings = run_settings(request, plan);
    if request.resume {
        let out = request.out.clone();
        return match crate::files::read_stamp(&path) {
            Err(source) => Err(EvalError::Read { path, source }),
            Ok(None) => Err(EvalError::NothingToResume { out }),
            Ok(Some(saved)) if saved.trim() != run_id => {
                let differences = saved_run_differences(&settings_path, &settings);
                Err(EvalError::ResumesAnotherRun { out, differences })
            }
            Ok(Some(_)) => Ok(()),
        };
    }
    std::fs::create_dir_all(&request.out)
        .map_err(|source| EvalError::Write { path: request.out.clone(), source })?;
    let pretty = serde_json::to_vec_pretty(&settings).expect("settings serialize");
    write_bytes_atomically(&settings_path, &pretty)
        .map_err(|source| EvalError::Write { path: settings_path, source })?;
    write_bytes_atomically(&path, format!("{run_id}\n").as_bytes())
        .map_err(|source| EvalError::Write { path, source })
}

/// What decides a walk-forward's tasks, as [`RUN_SETTINGS_FILE`] keeps it: a refused resume can
/// then name what differs.
fn run_settings(request: &WalkForwardRequest, plan: &Plan) -> serde_json::Value {
    serde_json::json!({
        "env": request.env.without_data_path(),
        "train": request.train,
        "walk_forward": request.config,
        "rebalance": request.rebalance,
        "data_fingerprint": plan.data_fingerprint,
        "folio_version": crate::BUILD,
    })
}

/// The settings a resume asks for that differ from those the folder's walk-forward was started
/// with, in words (`with train.steps = 2000 (now asked: 1000)`); `None` without a record (a
/// folder of an older folio) or where none differs that the record holds.
fn saved_run_differences(path: &Path, now: &serde_json::Value) -> Option<String> {
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let mut differences = Vec::new();
    crate::train::resume::settings_that_differ("", &saved, now, &mut differences);
    let differences: Vec<String> =
        differences.into_iter().map(|d| d.replacen("with .", "with ", 1)).collect();
    (!differences.is_empty()).then(|| differences.join(", "))
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
    let cost_sensitivity = stitched_cost_sensitivity(plan, &request, &fold_checkpoints(plan, results))?;
    let statistics = overfitting_statistics(plan, &request, &stitched);
    let edge = stitched.edge_over_equal_weight(plan.metrics.periods_per_year);
    let mut verdict = verdict(plan, &stitched, &statistics, edge.as_ref());
    if let Some(kept) = kept_references(&folds, &request) {
        verdict.push(' ');
        verdict.push_str(&kept);
    }
    verdict.push_str(&annualization_warning(
        &plan.market.panel,
        plan.metrics.periods_per_year,
        crate::data::inspect::AnnualizationSource::Config,
    ));
    let in_a_test_window = |row: usize| plan.folds.iter().any(|fold| fold.test.0 < row && row <= fold.test.1);
    verdict.push_str(&data_doubts(&plan.market.panel, in_a_test_window));
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
        deflated_sharpe_unavailable: statistics.deflated_sharpe_unavailable,
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

/// An episodic learner (PPO, REINFORCE) draws whole episodes from each fold's training rows:
/// one that does not fit is refused here, before the first training, where it failed a fold
/// after the folds before it had trained.
fn check_episodes_fit(
    market: &Market,
    env: &EnvConfig,
    train: &TrainConfig,
    folds: &[Fold],
) -> Result<(), EvalError> {
    if train.algo == Algo::Direct {
        return Ok(());
    }
    let algo = train.algo.name();
    let (horizon, every) = (env.episode.horizon, env.episode.rebalance_every);
    let needed = horizon.saturating_mul(every);
    for fold in folds {
        let range = market.decision_range(&span(&market.panel.index, fold.train), 0)?;
        if needed > range.periods() {
            let periods = range.periods();
            let fold = fold.index + 1;
            return Err(
                FoldError::EpisodeLongerThanTraining { algo, horizon, every, needed, fold, periods }.into()
            );
        }
    }
    Ok(())
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
        request.train.check_seeds(config.seeds)?;
        request.train.net.validate(&market.layout())?;
        request.train.check_online(market.layout().reference)?;
        let folds = make_folds(market.n_periods(), market.first_observable(), config)?;
        let env = &request.env;
        check_episodes_fit(&market, env, &request.train, &folds)?;
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
        let mut market = Market::new(panel, &meta.env.features, Some(meta.normalizer.clone()), 0..0)?;
        market.periods_per_year = self.market.periods_per_year;
        Ok(Arc::new(market))
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
        let fold_dir = request.out.join(layout::fold_folder(fold));
        let dir = crate::train::seed_folder(&fold_dir, seed);
        // Beside the checkpoint, which the training clears before it starts.
        let saved =
            fold_dir.join(format!("{}.{}", crate::train::seed_folder_name(seed), task_result::RESULT));
        let reused: Option<TaskResult> =
            request.resume.then(|| task_result::load(&saved, id, &dir).ok()).flatten();
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
    // No more threads than trainings: the others would wait for nothing.
    let threads = request.jobs.clamp(1, tasks.len().max(1));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|source| EvalError::Threads { threads, source })?;
    let results = pool.install(|| tasks.par_iter().map(run).collect::<Result<Vec<_>, _>>());
    overall.finish();
    results
}

/// One fold and seed, its checkpoint in `dir`: trained afresh, unless `resume` finds there what
/// an interrupted run left. A finished training is tested as it is, and an unfinished one goes on
/// from its last save.
pub(crate) fn train_and_test_one(
    plan: &Plan,
    request: &WalkForwardRequest,
    fold: &Fold,
    seed: u64,
    dir: PathBuf,
    resume: bool,
) -> Result<TaskResult, EvalError> {
    let saved = if resume { saved_training(&dir)? } else { SavedTraining::Nothing };
    let validation = match saved {
        SavedTraining::Finished(validation) => *validation,
        SavedTraining::Unfinished | SavedTraining::Nothing => {
            let resume = matches!(saved, SavedTraining::Unfinished);
            if !resume && dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .map_err(|source| EvalError::Clear { path: dir.clone(), source })?;
            }
            let outcome = train(TrainRequest {
                env: plan.fold_env(&request.env, fold),
                train: TrainConfig { seed, ..request.train.clone() },
                out: dir.clone(),
                device: request.device,
                resume,
                progress: request.progress.clone(),
            })?;
            outcome.validation
        }
    };
    let device = request.device.device()?;
    let (meta, net) = checkpoint::load_agent(&dir, Weights::Best, &device)?;
    let market = plan.market_for(&meta)?;
    let id = PolicyId::Agent { seed: Some(seed) };
    let mut agent = AgentPolicy::new(id, net, meta.head, market.layout(), device);
    let (rule, settings) = (plan.rebalance, plan.settings);
    // The decisions of the agent that is tested: with online learning, the learning one (a
    // fresh copy, as every backtest of it starts from the checkpoint), not the frozen network.
    let learning = match rule {
        RebalanceRule::Every => None,
        _ => online_agent(plan, request, &dir, id, &market)?,
    };
    let own_decisions = match learning {
        Some(mut online) => agent_decisions(online.as_mut(), rule, &market, range(fold.test), settings)?,
        None => agent_decisions(&mut agent, rule, &market, range(fold.test), settings)?,
    };
    let mut agent = under_rule(Box::new(agent), rule, &market)?;
    let in_sample = backtest(agent.as_mut(), &market, range(fold.train), settings)?.metrics(&plan.metrics);
    let mut tested = match online_agent(plan, request, &dir, id, &market)? {
        Some(online) => under_rule(online, rule, &market)?,
        None => agent,
    };
    let test_log = backtest(tested.as_mut(), &market, range(fold.test), settings)?;
    let columns: Vec<String> =
        std::iter::once("cash".to_string()).chain(market.panel.assets.iter().cloned()).collect();
    let kept_reference = validation.kept_reference();
    // The detectors look for a trained agent that collapsed. A training that kept its reference
    // portfolio trades it on purpose (unless online learning moves it), and the verdict counts those.
    let warnings = if kept_reference && request.train.online_steps == 0 {
        Vec::new()
    } else {
        crate::backtest::collapse::detect(
            own_decisions.as_ref().unwrap_or(&test_log),
            &columns,
            &settings.limits,
        )
    };
    Ok(TaskResult {
        seed: SeedResult {
            seed,
            checkpoint: dir,
            in_sample,
            validation_sharpe: validation.agent.sharpe,
            kept_reference,
            reference_untested: validation.kept_reference_untested(),
            out_of_sample: test_log.metrics(&plan.metrics),
            warnings,
        },
        test_log,
    })
}

/// What an interrupted walk-forward left of one training.
enum SavedTraining {
    /// Nothing to go on from (no save, a diverged run, a checkpoint that does not read): it
    /// trains from the start.
    Nothing,
    /// Stopped partway: a resumed run continues it to exactly the network an uninterrupted one
    /// ends with (`train`'s resume).
    Unfinished,
    /// Ran to its end and chose its network, but its result was never saved: it is tested as it
    /// is. Training it on would go past where it stopped.
    Finished(Box<ValidationRecord>),
}

fn saved_training(dir: &Path) -> Result<SavedTraining, EvalError> {
    if !checkpoint::saved_in(dir) {
        return Ok(SavedTraining::Nothing);
    }
    // A publication the killed run committed is finished first, so the meta read is its last.
    let lock = crate::files::FolderLock::acquire(dir).map_err(crate::train::TrainError::from)?;
    checkpoint::recover(dir)?;
    let saved = match checkpoint::load_meta(dir) {
        Ok(checkpoint::Meta { progress, validation: Some(validation), .. }) if progress.finished => {
            SavedTraining::Finished(Box::new(validation))
        }
        Ok(meta) if meta.progress.stopped.is_none() => SavedTraining::Unfinished,
        _ => SavedTraining::Nothing,
    };
    lock.release();
    Ok(saved)
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

/// The seeds of one fold as the ensemble the walk-forward deploys: learning online through the
/// test window when the training config asks for it, as they are otherwise.
fn deployed_ensemble(
    plan: &Plan,
    request: &WalkForwardRequest,
    checkpoints: &[PathBuf],
    device: &burn::prelude::Device,
) -> Result<(Arc<Market>, EnsemblePolicy), EvalError> {
    let (market, ensemble) = fold_ensemble(plan, checkpoints, device)?;
    let ensemble = match online_members(plan, request, checkpoints, &market)? {
        Some(members) => EnsemblePolicy::new(members),
        None => ensemble,
    };
    Ok((market, ensemble))
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
        let (market, ensemble) = deployed_ensemble(plan, request, dirs, &device)?;
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
        let policies = baselines::all(&plan.market, range, plan.settings.episode.rebalance_every)?;
        let mut logs = Vec::new();
        for mut policy in all_under_rule(policies, plan.rebalance, &plan.market)? {
            task.set_message(format!("fold {}: {}", fold.index + 1, policy.id()));
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
            folder: layout::fold_folder(fold.index),
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
