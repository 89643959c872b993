//! The training loop around a [`Learner`]: it validates on a period training never sees, keeps
//! the best and the last network, stops early, schedules the learning rate, logs every update
//! and refuses to continue from a diverged state.

use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use rand::{SeedableRng, rngs::StdRng};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::checkpoint::{self, CheckpointError, Meta, ReferenceTest, TrainingProgress, ValidationRecord};
use super::resume::{check_resumable, check_resumed_seeds, foreign_entry};
use super::seeds::{PlannedSeeds, SEEDS_FILE, seed_folder, seed_folder_name, seed_of_folder};
use super::step::all_finite;
use super::{Descent, Learner, TrainConfig, TrainError, UpdateStats, host, make_learner};
use crate::agent::network::PolicyNet;
use crate::agent::{ActionHead, AgentPolicy, DeviceChoice};
use crate::backtest::{BacktestLog, PolicyId, backtest};
use crate::baselines::EqualWeight;
use crate::data::TimeIndex;
use crate::env::config::{EnvConfig, Periods, Span};
use crate::env::{DecisionRange, EnvSettings, Market};
use crate::files::FolderLock;
use crate::metrics::sharpe_difference::{SharpeDifference, sharpe_difference};
use crate::metrics::{Metrics, MetricsConfig, simple_returns};
use crate::progress::Progress;

/// Everything a training run needs.
pub struct TrainRequest {
    pub env: EnvConfig,
    pub train: TrainConfig,
    pub out: PathBuf,
    pub device: DeviceChoice,
    /// Continue the run saved in `out` instead of starting a new one.
    pub resume: bool,
    /// Where the run shows how far it got; [`crate::progress::silent`] shows nothing.
    pub progress: Arc<dyn Progress>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainOutcome {
    pub checkpoint: PathBuf,
    pub updates: usize,
    pub env_steps: usize,
    pub seconds: f64,
    pub env_steps_per_second: f64,
    pub best_update: Option<usize>,
    pub stopped: String,
    pub validation_range: (String, String),
    pub validation: ValidationRecord,
}

/// A training's name where several run at once: the last two parts of its folder
/// (`fold-2/seed-1` in a walk-forward, `default/seed-0` for `folio train`).
fn progress_name(out: &Path) -> String {
    let parts: Vec<_> = out.components().rev().take(2).map(|c| c.as_os_str().to_string_lossy()).collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/")
}

/// Train one agent: set up, then updates until the step budget is spent or validation stops
/// improving, saving the best and the last network as it goes.
pub fn train(request: TrainRequest) -> Result<TrainOutcome, TrainError> {
    let TrainRequest { env, train: config, out, device, resume, progress } = request;
    let setup = Setup::prepare(&env, &config, device)?;
    let name = progress_name(&out);
    let mut run = Run::start(setup, env, config, out, resume)?;
    let task = progress.start(&name, "steps", run.config.steps as u64, run.meta.progress.env_steps as u64);
    let stopped = loop {
        if let Some(reason) = run.budget_spent().or_else(|| run.patience_spent()) {
            break reason;
        }
        let stats = match run.update() {
            Ok(stats) => stats,
            Err(error) => {
                task.abandon();
                return Err(error);
            }
        };
        let out_of_patience = run.validate_if_due(&stats)?;
        task.set_position(run.meta.progress.env_steps as u64);
        task.set_message(run.status(&stats));
        if out_of_patience {
            break run.early_stop_reason();
        }
    };
    task.finish();
    run.finish(stopped)
}

/// Train one run per seed (`train.seed`, `train.seed + 1`, ...), `jobs` at a time: into `out` for
/// a single seed, else into `out/seed-<s>`. Same seeds, same results, whatever `jobs` is. When
/// resuming, a seed that never saved a checkpoint (the run was stopped before it got there)
/// starts fresh, so that `--resume` finishes exactly the seeds left unfinished.
pub fn train_seeds(
    request: TrainRequest,
    seeds: usize,
    jobs: usize,
) -> Result<Vec<TrainOutcome>, TrainError> {
    request.train.check_seeds(seeds)?;
    if seeds <= 1 {
        return Ok(vec![train(request)?]);
    }
    let first = request.train.seed;
    let planned = PlannedSeeds { first, seeds };
    // A new run writes its record; a resumed one keeps the record it has (or writes one, for a
    // run saved before folio kept it).
    let recorded = request.resume.then(|| PlannedSeeds::of(&request.out)).flatten();
    if request.resume {
        check_resumed_seeds(&request.out, (first..=first + seeds as u64 - 1).map(seed_folder_name))?;
        if let Some(recorded) = recorded.filter(|&recorded| recorded != planned) {
            return Err(TrainError::ResumeMismatch {
                out: request.out.clone(),
                why: format!(
                    "it was started with {} seeds from {}: resume with --seeds {} --seed {} (or leave both out)",
                    recorded.seeds, recorded.first, recorded.seeds, recorded.first
                ),
            });
        }
    }
    let lock = FolderLock::acquire(&request.out)?;
    let folder = |s: u64| seed_folder(&request.out, first + s);
    let saved = |s: u64| checkpoint::saved_in(&folder(s));
    // Refused before any seed trains, rather than after the others have spent their time.
    if !request.resume
        && let Some(s) = (0..seeds as u64).find(|&s| saved(s))
    {
        return Err(TrainError::AlreadyTrained { out: folder(s) });
    }
    if !request.resume
        && let Some(name) = foreign_entry(&request.out, |name| {
            seed_of_folder(Path::new(name)).is_some() || name == SEEDS_FILE
        })
    {
        return Err(TrainError::NotOurs { out: request.out.clone(), name });
    }
    let recording = recorded.is_none();
    if recording {
        planned.write(&request.out)?;
    }
    let run = |s: u64| {
        train(TrainRequest {
            env: request.env.clone(),
            train: TrainConfig { seed: first + s, ..request.train.clone() },
            out: folder(s),
            device: request.device,
            resume: request.resume && saved(s),
            progress: request.progress.clone(),
        })
    };
    // No more threads than seeds: the others would wait for nothing.
    let threads = jobs.clamp(1, seeds);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|source| TrainError::Threads { threads, source })?;
    use rayon::prelude::*;
    let outcomes: Result<Vec<TrainOutcome>, TrainError> =
        pool.install(|| (0..seeds as u64).into_par_iter().map(run).collect());
    // A run refused before any seed saved (a period outside the data) leaves no record of seeds
    // behind: the folder holds nothing to resume, and another run may use it.
    if outcomes.is_err() && recording && !(0..seeds as u64).any(saved) {
        let _ = std::fs::remove_file(request.out.join(SEEDS_FILE));
    }
    lock.release();
    outcomes
}

/// Deterministic backtest of `net` over `range`.
pub fn validate(
    net: &PolicyNet,
    head: ActionHead,
    market: &Arc<Market>,
    range: DecisionRange,
    settings: EnvSettings,
    metrics: &MetricsConfig,
    device: &Device,
) -> Result<Metrics, TrainError> {
    Ok(backtest_net(net, head, market, range, settings, device)?.metrics(metrics))
}

fn backtest_net(
    net: &PolicyNet,
    head: ActionHead,
    market: &Arc<Market>,
    range: DecisionRange,
    settings: EnvSettings,
    device: &Device,
) -> Result<BacktestLog, TrainError> {
    let mut agent = AgentPolicy::new(PolicyId::AGENT, net.clone(), head, market.layout(), device.clone());
    Ok(backtest(&mut agent, market, range, settings)?)
}

/// The market a run trains on and what stays fixed through it.
struct Setup {
    market: Arc<Market>,
    train_range: DecisionRange,
    validation_range: DecisionRange,
    settings: EnvSettings,
    metrics: MetricsConfig,
    /// Where validation runs the network, without autodiff.
    device: Device,
}

impl Setup {
    /// The config's market, its training and validation ranges (validation strictly after
    /// training), and the device, all checked before anything is written.
    fn prepare(env: &EnvConfig, config: &TrainConfig, device: DeviceChoice) -> Result<Self, TrainError> {
        config.validate()?;
        let (market, _) = Market::from_config(env)?;
        config.net.validate(&market.layout())?;
        let (train_range, validation_range) = training_split(env, &market)?;
        Ok(Self {
            market: Arc::new(market),
            train_range,
            validation_range,
            settings: EnvSettings::from_config(env),
            metrics: MetricsConfig { periods_per_year: env.data.periods_per_year, risk_free: 0.0 },
            device: device.device()?,
        })
    }

    fn label(&self, range: DecisionRange) -> (String, String) {
        let index = &self.market.panel.index;
        (index.label(range.first), index.label(range.last))
    }
}

/// The training and validation decisions of `env`'s periods on its `market`, validation
/// strictly after training: what a training reads, checked before it starts (and by `env
/// check`, so that a config it passes is one training takes).
pub fn training_split(
    env: &EnvConfig,
    market: &Market,
) -> Result<(DecisionRange, DecisionRange), TrainError> {
    let embargo = env.episode.embargo;
    let range_of = |period: &'static str, span: &Span| {
        market.decision_range(span, embargo).map_err(|source| TrainError::Period { period, source })
    };
    let train_range = range_of("train", &env.periods.train)?;
    let validation_range = range_of("validation", &env.periods.validation)?;
    // The normalization is fitted on the whole training period, embargo and all: a
    // validation decision inside it would be scaled by statistics of its own future.
    let training_ends = train_range.last + embargo;
    if validation_range.first <= training_ends {
        let split = if env.periods == Periods::default() {
            proposed_split(&market.panel.index)
        } else {
            String::new()
        };
        return Err(TrainError::ValidationOverlapsTraining {
            training_ends: market.panel.index.label(training_ends),
            validation_starts: market.panel.index.label(validation_range.first),
            split,
        });
    }
    Ok((train_range, validation_range))
}

/// The periods to propose to a config that sets none, as the end of training's refusal.
fn proposed_split(index: &TimeIndex) -> String {
    format!(
        "; the config sets no [periods], so both span the whole data. Split it in time, for example 70/15/15: {}",
        proposed_periods(index)
    )
}

/// Periods for data with `index`'s rows: split 70/15/15 in time, the usual proportions, written
/// as a config's TOML. Proposed rather than applied, so that which rows are the untouched test
/// period is always the user's written choice.
pub fn proposed_periods(index: &TimeIndex) -> String {
    let n = index.len();
    let stamp = |row: usize| match index {
        TimeIndex::Dates(dates) => format!("\"{}\"", dates[row]),
        TimeIndex::Periods(_) => row.to_string(),
    };
    let (validation, test) = (n * 70 / 100, n * 85 / 100);
    format!(
        "[periods.train] to = {}, [periods.validation] from = {} and to = {}, [periods.test] from = {}",
        stamp(validation - 1),
        stamp(validation),
        stamp(test - 1),
        stamp(test)
    )
}

/// A run in progress: the network, its optimizer and learner, what has been recorded so far.
struct Run {
    setup: Setup,
    config: TrainConfig,
    head: ActionHead,
    out: PathBuf,
    net: PolicyNet,
    optimizer: ModuleOptimizer,
    learner: Box<dyn Learner>,
    meta: Meta,
    log: Vec<LogRow>,
    /// Equal weight over the validation period, recorded beside the agent's best.
    equal_weight: Metrics,
    started: Instant,
    seconds_before: f64,
    last_sharpe: Option<f64>,
    /// The learning rate of the update just made.
    learning_rate: f64,
    /// Held until the run ends, so that a second run into this folder fails at once.
    lock: FolderLock,
}

impl Run {
    /// A fresh network and optimizer, or the last ones saved in `out` when resuming.
    fn start(
        setup: Setup,
        env: EnvConfig,
        config: TrainConfig,
        out: PathBuf,
        resume: bool,
    ) -> Result<Self, TrainError> {
        let train_device = setup.device.clone().autodiff();
        let mut net = config.net.init_seeded(setup.market.layout(), &train_device, config.seed);
        let mut optimizer = host::adam::adam_for(&train_device);
        let mut meta = fresh_meta(&setup, &env, &config);
        let mut log = Vec::new();
        let mut learner_state = None;
        // Held until the run ends, so that a second run into this folder fails at once.
        let lock = FolderLock::acquire(&out)?;
        // Before recovery touches anything: a folder of the user's own files stays as it is.
        if !resume && let Some(name) = foreign_entry(&out, checkpoint::is_checkpoint_entry) {
            return Err(TrainError::NotOurs { out, name });
        }
        checkpoint::recover(&out)?;
        meta.data_from_checkpoint = meta
            .data_file
            .as_deref()
            .and_then(|data| crate::files::relative_path(&std::fs::canonicalize(&out).ok()?, data));
        if resume {
            let saved = checkpoint::load_meta(&out)?;
            check_resumable(&saved, &meta, &out)?;
            (net, optimizer) = checkpoint::load_last(&out, &saved, net, optimizer)?;
            learner_state = checkpoint::load_learner_state(&out, &saved)?;
            meta.progress = TrainingProgress { stopped: None, finished: false, ..saved.progress };
            meta.validation = saved.validation;
            meta.checksums = saved.checksums;
            if !saved.run_id.is_empty() {
                meta.run_id = saved.run_id;
            }
            log = read_log(&out.join(checkpoint::LOG))?;
        } else if out.join(checkpoint::META).exists() {
            return Err(TrainError::AlreadyTrained { out });
        } else if let Some(name) = foreign_entry(&out, |_| false) {
            // Every publication puts meta.json in place with its files (an interrupted one was
            // just finished), so a checkpoint file without it, or anything else, is the user's.
            return Err(TrainError::NotOurs { out, name });
        }
        let mut learner =
            make_learner(&config, &setup.market, setup.train_range, setup.settings, &train_device)?;
        if let Some(bytes) = learner_state {
            learner.load_state(&bytes).map_err(|e| CheckpointError::Corrupt {
                path: out.join(checkpoint::LEARNER),
                reason: e.to_string(),
            })?;
        }
        let equal_weight = backtest(&mut EqualWeight, &setup.market, setup.validation_range, setup.settings)?
            .metrics(&setup.metrics);
        Ok(Self {
            head: config.head(setup.market.layout().reference),
            seconds_before: meta.progress.seconds,
            last_sharpe: meta.validation.as_ref().map(|v| v.agent.sharpe),
            setup,
            config,
            out,
            net,
            optimizer,
            learner,
            meta,
            log,
            equal_weight,
            started: Instant::now(),
            learning_rate: f64::NAN,
            lock,
        })
    }

    fn budget_spent(&self) -> Option<String> {
        let (budget, spent) = (self.config.steps, self.meta.progress.env_steps);
        (spent >= budget).then(|| match spent > budget + budget / 10 {
            // An update runs its whole batch, so the last one ends a little past the budget. A
            // batch as large as the budget overshoots it by far, and "reached" would hide how far.
            true => format!(
                "spent the budget of {budget} environment steps: its updates' whole batches ran {spent}"
            ),
            false => format!("reached {budget} environment steps"),
        })
    }

    /// One learner update at the scheduled learning rate. A diverged update is not kept: the
    /// network before it is saved as the last one, with the optimizer and learner state that go
    /// with it, and the run stops with an error.
    fn update(&mut self) -> Result<UpdateStats, TrainError> {
        let update = self.meta.progress.updates;
        let progress = self.meta.progress.env_steps as f64 / self.config.steps as f64;
        self.learning_rate = self.config.learning_rate_at(progress);
        let previous = self.net.clone();
        // PPO steps the optimizer once per minibatch, and a later minibatch may be the one that
        // diverges; its rollout has moved the learner's episodes on. The state saved beside the
        // network kept must be the state that network had.
        let optimizer_before = self.optimizer.clone();
        let learner_before = self.learner.save_state();
        // Each update draws from its own stream, so a resumed run samples what an uninterrupted one would.
        let mut rng =
            StdRng::seed_from_u64(self.config.seed ^ (update as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (next, result) = self.learner.update(
            self.net.clone(),
            &mut Descent { optimizer: &mut self.optimizer, learning_rate: self.learning_rate },
            &mut rng,
        );
        self.net = next;
        let divergence = match &result {
            Err(d) => Some(d.what.clone()),
            Ok(_) if !all_finite(&self.net) => Some("a network weight became non-finite".to_string()),
            Ok(_) => None,
        };
        if let Some(what) = divergence {
            self.meta.progress.stopped = Some(format!("diverged at update {update}: {what}"));
            self.meta.progress.seconds = self.elapsed();
            self.optimizer = optimizer_before;
            save_all(&self.out, &previous, None, &self.optimizer, learner_before, &mut self.meta, &self.log)?;
            return Err(TrainError::Diverged { update, what, checkpoint: self.out.join(checkpoint::LAST) });
        }
        let stats = result.expect("checked above");
        self.meta.progress.updates += 1;
        self.meta.progress.env_steps += stats.env_steps;
        self.meta.progress.seconds = self.elapsed();
        Ok(stats)
    }

    /// Log the update; every `validate_every` updates and at the end, backtest the network on
    /// the validation period, keep it as the best when it scores higher, and save the run.
    /// True when this validation used up the patience: `patience` in a row without improving.
    fn validate_if_due(&mut self, stats: &UpdateStats) -> Result<bool, TrainError> {
        let mut row = LogRow::new(&self.meta.progress, self.learning_rate, stats);
        let finished = self.meta.progress.env_steps >= self.config.steps;
        if !(self.meta.progress.updates.is_multiple_of(self.config.validate_every) || finished) {
            self.log.push(row);
            return Ok(false);
        }
        let metrics = self.validate_network()?;
        row.validation_sharpe = Some(metrics.sharpe);
        row.validation_wealth = Some(metrics.final_wealth);
        self.last_sharpe = Some(metrics.sharpe);
        let judged = self.meta.progress.judge(score(&metrics), self.config.selection_window, finished);
        let mut out_of_patience = false;
        let improved = judged == Judged::Improved;
        match judged {
            Judged::Warming => {}
            Judged::Improved => self.keep_validation(metrics),
            Judged::NotImproved => out_of_patience = self.patience_spent().is_some(),
        }
        self.log.push(row);
        let best = improved.then_some(&self.net);
        save_all(
            &self.out,
            &self.net,
            best,
            &self.optimizer,
            self.learner.save_state(),
            &mut self.meta,
            &self.log,
        )?;
        Ok(out_of_patience)
    }

    /// Whether `patience` validations in a row have not improved; checked before any update
    /// too, so that a run resumed after an early stop, given no more patience, trains nothing.
    fn patience_spent(&self) -> Option<String> {
        let patience = self.config.patience;
        (patience > 0 && self.meta.progress.validations_without_improvement >= patience)
            .then(|| self.early_stop_reason())
    }

    fn early_stop_reason(&self) -> String {
        format!(
            "early stop: no better validation Sharpe in {} validations (best at update {})",
            self.config.patience,
            self.meta.progress.best_update.unwrap_or(0)
        )
    }

    fn status(&self, stats: &UpdateStats) -> String {
        let progress = &self.meta.progress;
        format!(
            "update {} | reward {:+.5} | val Sharpe {} | {:.0} steps/s",
            progress.updates,
            stats.mean_reward,
            self.last_sharpe.map(|s| format!("{s:.2}")).unwrap_or_else(|| "-".into()),
            (progress.env_steps as f64) / progress.seconds.max(1e-9)
        )
    }

    fn elapsed(&self) -> f64 {
        self.seconds_before + self.started.elapsed().as_secs_f64()
    }

    /// Once training has ended, test the best trained network against the untrained one (the
    /// reference portfolio itself) on the validation period, and keep the reference unless
    /// training beat it by the configured margin ([`ReferenceTest`]). Returns the reference
    /// network when it is kept, to be saved as the best. A resumed run that found no better
    /// network keeps the choice already made: the trained network it tested may no longer be
    /// on disk.
    fn test_against_reference(&mut self) -> Result<Option<PolicyNet>, TrainError> {
        let config = &self.config;
        let Some(record) = &self.meta.validation else { return Ok(None) };
        let trained_update = self.meta.progress.best_update.unwrap_or(0);
        if !config.reference_gate
            || !self.net.is_anchored()
            || record.reference_test.as_ref().is_some_and(|t| t.trained_update == trained_update)
        {
            return Ok(None);
        }
        let setup = &self.setup;
        let layout = setup.market.layout();
        let trained = checkpoint::load_weights(
            &self.out,
            &self.meta,
            checkpoint::Weights::Best,
            config.net.init(layout, &setup.device),
        )?;
        let reference = config.net.init_seeded(layout, &setup.device, config.seed);
        let run = |net: &PolicyNet| {
            backtest_net(net, self.head, &setup.market, setup.validation_range, setup.settings, &setup.device)
        };
        let (trained_log, reference_log) = (run(&trained)?, run(&reference)?);
        let gap = sharpe_difference(
            &simple_returns(&trained_log.values),
            &simple_returns(&reference_log.values),
            setup.metrics.periods_per_year,
        );
        let margin = config.reference_margin;
        let kept_reference = !beats_reference(gap.as_ref(), margin);
        let test = ReferenceTest {
            trained_update,
            trained: trained_log.metrics(&setup.metrics),
            reference: reference_log.metrics(&setup.metrics),
            gap,
            margin,
            kept_reference,
        };
        let agent = if kept_reference { test.reference.clone() } else { test.trained.clone() };
        self.meta.validation = Some(ValidationRecord {
            agent,
            equal_weight: record.equal_weight.clone(),
            reference_test: Some(test),
        });
        Ok(kept_reference.then_some(reference))
    }

    /// The validation of the network kept as the best, beside equal weight's.
    fn keep_validation(&mut self, metrics: Metrics) {
        self.meta.validation = Some(ValidationRecord {
            agent: metrics,
            equal_weight: self.equal_weight.clone(),
            reference_test: None,
        });
    }

    /// The current network backtested on the validation period.
    fn validate_network(&self) -> Result<Metrics, TrainError> {
        let setup = &self.setup;
        validate(
            &self.net.valid(),
            self.head,
            &setup.market,
            setup.validation_range,
            setup.settings,
            &setup.metrics,
            &setup.device,
        )
    }

    /// A run that ends before its selection window filled has kept nothing (one killed early
    /// and resumed at its step budget never validates again): its last network is judged and
    /// kept, as the final validation of an unbroken run would keep it.
    fn judge_unjudged_end(&mut self) -> Result<(), TrainError> {
        let metrics = self.validate_network()?;
        let judged = self.meta.progress.judge(score(&metrics), self.config.selection_window, true);
        debug_assert_eq!(judged, Judged::Improved, "nothing was kept before");
        self.keep_validation(metrics);
        save_all(
            &self.out,
            &self.net,
            Some(&self.net),
            &self.optimizer,
            self.learner.save_state(),
            &mut self.meta,
            &self.log,
        )
    }

    /// Record why the run ended, choose between the trained network and the reference, and
    /// save the run one last time.
    fn finish(mut self, stopped: String) -> Result<TrainOutcome, TrainError> {
        self.meta.progress.stopped = Some(stopped.clone());
        if self.meta.validation.is_none() {
            self.judge_unjudged_end()?;
        }
        let reference = self.test_against_reference()?;
        self.meta.progress.finished = true;
        save_all(
            &self.out,
            &self.net,
            reference.as_ref(),
            &self.optimizer,
            self.learner.save_state(),
            &mut self.meta,
            &self.log,
        )?;
        let progress = &self.meta.progress;
        let outcome = TrainOutcome {
            updates: progress.updates,
            env_steps: progress.env_steps,
            seconds: progress.seconds,
            env_steps_per_second: progress.env_steps as f64 / progress.seconds.max(1e-9),
            best_update: progress.best_update,
            stopped,
            validation_range: self.meta.validation_range.clone(),
            validation: self.meta.validation.clone().expect("training validates at least once"),
            checkpoint: self.out,
        };
        // A finished folder holds its checkpoint and nothing that looks like a run at work.
        self.lock.release();
        Ok(outcome)
    }
}

fn fresh_meta(setup: &Setup, env: &EnvConfig, config: &TrainConfig) -> Meta {
    let market = &setup.market;
    Meta {
        folio_version: env!("CARGO_PKG_VERSION").to_string(),
        env: env.clone(),
        train: config.clone(),
        head: config.head(market.layout().reference),
        assets: market.panel.assets.clone(),
        normalizer: market.normalizer.clone(),
        data_fingerprint: market.panel.fingerprint(),
        seen_rows: checkpoint::SeenRows::of(&market.panel, 0, setup.validation_range.last),
        data_file: std::fs::canonicalize(&env.data.file).ok(),
        data_from_checkpoint: None,
        train_range: setup.label(setup.train_range),
        validation_range: setup.label(setup.validation_range),
        seed: config.seed,
        progress: TrainingProgress::default(),
        validation: None,
        run_id: format!("{:032x}", rand::random::<u128>()),
        checksums: Default::default(),
    }
}

/// What one validation did to the choice of the best network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Judged {
    /// Fewer validations than the selection window so far: nothing can be kept yet.
    Warming,
    /// The smoothed score rose: this network is the best so far.
    Improved,
    NotImproved,
}

impl TrainingProgress {
    /// Record a validation's `score` and judge it: the mean of the latest `window` scores against
    /// the best mean so far. Until the window is full nothing is judged, unless the run ends
    /// (`finished`) before any network was kept.
    fn judge(&mut self, score: f64, window: usize, finished: bool) -> Judged {
        self.recent_scores.push(score);
        if self.recent_scores.len() > window {
            self.recent_scores.remove(0);
        }
        if self.recent_scores.len() < window && !(finished && self.best_score.is_none()) {
            return Judged::Warming;
        }
        let smoothed = crate::stats::mean(&self.recent_scores);
        if self.best_score.is_none_or(|best| smoothed > best) {
            self.best_score = Some(smoothed);
            self.best_update = Some(self.updates);
            self.validations_without_improvement = 0;
            Judged::Improved
        } else {
            self.validations_without_improvement += 1;
            Judged::NotImproved
        }
    }
}

/// Whether a trained network's validation Sharpe gap over its reference clears `margin` standard
/// errors and is more than negligible. No test (too few periods) or an undefined one keeps the
/// reference: the burden of proof is on training. A gap of rounding can clear any count of its
/// own tiny standard errors (a network a hair from the reference), and the reports call such a
/// gap no edge, so neither does the gate.
fn beats_reference(gap: Option<&SharpeDifference>, margin: f64) -> bool {
    gap.is_some_and(|g| !g.negligible() && g.difference > margin * g.standard_error)
}

fn score(metrics: &Metrics) -> f64 {
    if metrics.sharpe.is_finite() { metrics.sharpe } else { f64::NEG_INFINITY }
}

/// One line of `train_log.csv`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct LogRow {
    update: usize,
    env_steps: usize,
    seconds: f64,
    learning_rate: f64,
    mean_reward: f64,
    loss: f64,
    policy_loss: f64,
    value_loss: f64,
    entropy: f64,
    approx_kl: f64,
    clip_fraction: f64,
    explained_variance: f64,
    grad_norm: f64,
    validation_sharpe: Option<f64>,
    validation_wealth: Option<f64>,
}

impl LogRow {
    fn new(progress: &TrainingProgress, learning_rate: f64, stats: &UpdateStats) -> Self {
        Self {
            update: progress.updates,
            env_steps: progress.env_steps,
            seconds: progress.seconds,
            learning_rate,
            mean_reward: stats.mean_reward,
            loss: stats.loss,
            policy_loss: stats.policy_loss,
            value_loss: stats.value_loss,
            entropy: stats.entropy,
            approx_kl: stats.approx_kl,
            clip_fraction: stats.clip_fraction,
            explained_variance: stats.explained_variance,
            grad_norm: stats.grad_norm,
            validation_sharpe: None,
            validation_wealth: None,
        }
    }
}

/// Publish the run's state as one step: the last network, the best one when it just improved,
/// the optimizer, the log and the metadata.
fn save_all(
    out: &Path,
    net: &PolicyNet,
    best: Option<&PolicyNet>,
    optimizer: &ModuleOptimizer,
    learner_state: Option<Vec<u8>>,
    meta: &mut Meta,
    log: &[LogRow],
) -> Result<(), TrainError> {
    let mut files = vec![(checkpoint::LAST, checkpoint::net_bytes(net)?)];
    if let Some(best) = best {
        files.push((checkpoint::BEST, checkpoint::net_bytes(best)?));
    }
    files.push((checkpoint::OPTIMIZER, checkpoint::optimizer_bytes(optimizer)?));
    if let Some(state) = learner_state {
        files.push((checkpoint::LEARNER, state));
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in log {
        writer.serialize(row).map_err(|e| CheckpointError::Corrupt {
            path: out.join(checkpoint::LOG),
            reason: e.to_string(),
        })?;
    }
    let log_bytes = writer
        .into_inner()
        .map_err(|e| CheckpointError::Corrupt { path: out.join(checkpoint::LOG), reason: e.to_string() })?;
    files.push((checkpoint::LOG, log_bytes));
    checkpoint::publish(out, &files, meta)?;
    Ok(())
}

/// The rows a resumed run carries on. The log is a record for people, so a run without one
/// starts a new one; but a resume rewrites it, so one that cannot be read back whole is refused,
/// naming the row, rather than rewritten without the rows it could not read.
fn read_log(path: &Path) -> Result<Vec<LogRow>, CheckpointError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let damaged = |e: csv::Error| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("{e}; it is only a record, so move it aside to resume without it"),
    };
    let mut reader = csv::Reader::from_path(path).map_err(damaged)?;
    reader.deserialize().collect::<Result<Vec<LogRow>, _>>().map_err(damaged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_without_periods_is_offered_a_split_in_time() {
        let undated = proposed_split(&TimeIndex::Periods(200));
        assert!(
            undated.ends_with(
                "[periods.train] to = 139, [periods.validation] from = 140 and to = 169, [periods.test] from = 170"
            ),
            "{undated}"
        );
        let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
        let dates = (0..20).map(|d| start + chrono::Days::new(d)).collect();
        let dated = proposed_split(&TimeIndex::Dates(dates));
        assert!(
            dated.ends_with(
                "[periods.train] to = \"2020-01-14\", [periods.validation] from = \"2020-01-15\" and to = \
                 \"2020-01-17\", [periods.test] from = \"2020-01-18\""
            ),
            "{dated}"
        );
    }

    fn judge_all(scores: &[f64], window: usize) -> (Vec<Judged>, TrainingProgress) {
        let mut progress = TrainingProgress::default();
        let judged = scores
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                progress.updates = i + 1;
                progress.judge(s, window, i + 1 == scores.len())
            })
            .collect();
        (judged, progress)
    }

    #[test]
    fn a_lucky_spike_does_not_win_a_smoothed_selection() {
        // One validation at 1.8 among 0.5s, then a steady 1.2.
        let scores = [0.5, 1.8, 0.5, 1.2, 1.2, 1.2, 0.9];
        let (_, single) = judge_all(&scores, 1);
        assert_eq!(single.best_update, Some(2), "the single best validation is the spike");
        let (judged, smoothed) = judge_all(&scores, 3);
        assert_eq!(&judged[..2], [Judged::Warming, Judged::Warming]);
        assert_eq!(smoothed.best_update, Some(6), "three steady validations beat a spike");
        assert!((smoothed.best_score.unwrap() - 1.2).abs() < 1e-12);
        assert_eq!(smoothed.validations_without_improvement, 1);
    }

    #[test]
    fn training_must_beat_its_reference_by_the_margin() {
        let gap = |difference: f64, standard_error: f64| SharpeDifference {
            difference,
            standard_error,
            p_value: f64::NAN,
            periods: 250,
            lags: 4,
        };
        assert!(!beats_reference(Some(&gap(0.1, 0.2)), 1.0), "within one standard error");
        assert!(beats_reference(Some(&gap(0.3, 0.2)), 1.0));
        assert!(!beats_reference(Some(&gap(0.3, 0.2)), 2.0), "short of two standard errors");
        assert!(beats_reference(Some(&gap(0.01, 0.2)), 0.0), "margin 0: any gain is kept");
        assert!(!beats_reference(Some(&gap(-0.01, 0.2)), 0.0), "a loss is never kept");
        assert!(!beats_reference(Some(&gap(0.3, f64::NAN)), 1.0), "an undefined test keeps the reference");
        assert!(!beats_reference(None, 0.0), "no test keeps the reference");
        assert!(!beats_reference(Some(&gap(0.004, 1e-4)), 1.0), "a gap of rounding is no gain");
        assert!(beats_reference(Some(&gap(0.006, 1e-4)), 1.0));
    }

    /// A learner that runs PPO's update, optimizer steps and all, then reports that its last
    /// minibatch diverged. It keeps the optimizer state its steps left, to show that they moved it.
    struct DivergesAfterStepping {
        ppo: Box<dyn Learner>,
        stepped_optimizer: std::rc::Rc<std::cell::RefCell<Vec<u8>>>,
    }

    impl Learner for DivergesAfterStepping {
        fn update(
            &mut self,
            net: PolicyNet,
            descent: &mut Descent<'_>,
            rng: &mut StdRng,
        ) -> super::super::Updated {
            let (net, _) = self.ppo.update(net, descent, rng);
            *self.stepped_optimizer.borrow_mut() = checkpoint::optimizer_bytes(descent.optimizer).unwrap();
            (net, Err(super::super::step::Divergence { what: "a planted divergence".to_string() }))
        }

        fn save_state(&self) -> Option<Vec<u8>> {
            self.ppo.save_state()
        }
    }

    struct NoLearner;

    impl Learner for NoLearner {
        fn update(&mut self, _: PolicyNet, _: &mut Descent<'_>, _: &mut StdRng) -> super::super::Updated {
            unreachable!("swapped out before any update")
        }
    }

    #[test]
    fn a_diverged_update_saves_the_optimizer_and_learner_state_of_the_network_it_keeps() {
        use crate::data::synth::{SynthConfig, generate};
        use crate::env::config::DataConfig;
        let dir = tempfile::tempdir().unwrap();
        let panel =
            generate(&SynthConfig { assets: 3, periods: 300, seed: 5, ..SynthConfig::default() }).unwrap();
        let file = dir.path().join("prices.csv");
        crate::data::write_prices(&panel, &file).unwrap();
        let TimeIndex::Dates(dates) = &panel.index else { panic!("synthetic markets are dated") };
        let stamp = |row: usize| Some(crate::data::Stamp::Date(dates[row]));
        let env = EnvConfig {
            data: DataConfig::new(file),
            periods: Periods {
                train: Span { from: None, to: stamp(199) },
                validation: Span { from: stamp(200), to: None },
                test: Span::default(),
            },
            features: crate::features::FeatureConfig { window: 10, ..Default::default() },
            costs: crate::env::CostConfig::default(),
            episode: crate::env::config::EpisodeConfig {
                horizon: 30,
                rebalance_every: 1,
                embargo: 0,
                no_trade_band: 0.0,
            },
            reward: crate::env::RewardConfig::LogReturn,
            limits: crate::env::Limits::NONE,
            risk_profile: None,
        };
        let config = TrainConfig {
            steps: 1000,
            ppo: super::super::PpoConfig {
                envs: 2,
                rollout_steps: 10,
                minibatch: 5,
                epochs: 1,
                ..Default::default()
            },
            ..TrainConfig::for_algo(super::super::Algo::Ppo)
        };
        let setup = Setup::prepare(&env, &config, DeviceChoice::Cpu).unwrap();
        let out = dir.path().join("run");
        let mut run = Run::start(setup, env, config, out.clone(), false).unwrap();
        run.update().unwrap();
        let (net, optimizer) =
            (checkpoint::net_bytes(&run.net).unwrap(), checkpoint::optimizer_bytes(&run.optimizer).unwrap());
        let learner = run.learner.save_state().unwrap();

        let stepped_optimizer = std::rc::Rc::default();
        let ppo = std::mem::replace(&mut run.learner, Box::new(NoLearner));
        run.learner = Box::new(DivergesAfterStepping {
            ppo,
            stepped_optimizer: std::rc::Rc::clone(&stepped_optimizer),
        });
        assert!(matches!(run.update(), Err(TrainError::Diverged { update: 1, .. })));
        assert!(*stepped_optimizer.borrow() != optimizer, "the diverged update stepped the optimizer");
        assert!(run.learner.save_state().unwrap() != learner, "and its rollout moved the episodes on");
        let saved = |name: &str| std::fs::read(out.join(name)).unwrap();
        assert!(saved(checkpoint::LAST) == net, "the network before the update is kept");
        assert!(saved(checkpoint::OPTIMIZER) == optimizer, "with the optimizer state it had");
        assert!(saved(checkpoint::LEARNER) == learner, "and the learner's");
    }

    #[test]
    fn a_run_shorter_than_the_window_still_keeps_a_network() {
        let (judged, progress) = judge_all(&[0.3, 0.4], 5);
        assert_eq!(judged, [Judged::Warming, Judged::Improved]);
        assert_eq!(progress.best_update, Some(2));
    }
}
