//! Training: algorithms turn experience into gradient steps on a policy network; the loop here
//! validates on a period training never sees, keeps the best and last checkpoints, stops early,
//! schedules the learning rate, logs every update and refuses to continue from a diverged state.

pub mod checkpoint;
pub mod config;
mod direct;
pub mod host;
mod ppo;
mod reinforce;
mod rollout;
mod step;

pub use config::{Algo, DirectConfig, LrSchedule, PpoConfig, ReinforceConfig, TrainConfig};
pub use direct::DirectObjective;
pub use ppo::gae;
pub use rollout::discounted_returns;

use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use rand::{SeedableRng, rngs::StdRng};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use self::checkpoint::{CheckpointError, Meta, TrainingProgress, ValidationRecord};
use self::step::{Divergence, all_finite};
use crate::agent::network::PolicyNet;
use crate::agent::{ActionHead, AgentPolicy, DeviceChoice};
use crate::backtest::{PolicyId, backtest};
use crate::baselines::EqualWeight;
use crate::env::config::EnvConfig;
use crate::env::{BatchEnv, DecisionRange, EnvSettings, Market};
use crate::files::write_atomically;
use crate::metrics::{Metrics, MetricsConfig};
use crate::progress::Progress;

/// What one update did.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct UpdateStats {
    pub env_steps: usize,
    pub mean_reward: f64,
    pub loss: f64,
    pub policy_loss: f64,
    pub value_loss: f64,
    pub entropy: f64,
    pub approx_kl: f64,
    pub clip_fraction: f64,
    pub explained_variance: f64,
    pub grad_norm: f64,
}

/// An algorithm: how experience becomes a gradient step.
pub trait Learner {
    fn update(
        &mut self,
        net: PolicyNet,
        optimizer: &mut ModuleOptimizer,
        learning_rate: f64,
        rng: &mut StdRng,
    ) -> (PolicyNet, Result<UpdateStats, Divergence>);
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Env(#[from] crate::env::EnvError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Backend(#[from] crate::agent::MissingBackend),
    #[error(
        "training diverged at update {update}: {what}; stopped, and kept the last good network in {}",
        checkpoint.display()
    )]
    Diverged { update: usize, what: String, checkpoint: PathBuf },
}

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

fn learning_rate(config: &TrainConfig, fraction_done: f64) -> f64 {
    let (start, end) = (config.learning_rate, config.learning_rate * config.final_lr_fraction);
    let f = fraction_done.clamp(0.0, 1.0);
    match config.schedule {
        LrSchedule::Constant => start,
        LrSchedule::Linear => start + (end - start) * f,
        LrSchedule::Cosine => end + 0.5 * (start - end) * (1.0 + (std::f64::consts::PI * f).cos()),
    }
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
    let mut agent = AgentPolicy::new(PolicyId::AGENT, net.clone(), head, market.layout(), device.clone());
    Ok(backtest(&mut agent, market, range, settings)?.metrics(metrics))
}

fn score(metrics: &Metrics) -> f64 {
    if metrics.sharpe.is_finite() { metrics.sharpe } else { f64::NEG_INFINITY }
}

/// The learner `config` names, acting on `range` of `market` with networks on `device` (an
/// autodiff device). `train` drives it; benchmarks call its updates directly.
pub fn make_learner(
    config: &TrainConfig,
    market: &Arc<Market>,
    range: DecisionRange,
    settings: EnvSettings,
    device: &Device,
) -> Result<Box<dyn Learner>, TrainError> {
    Ok(match config.algo {
        Algo::Direct => Box::new(
            direct::DirectLearner::new(
                market.clone(),
                range,
                settings,
                config.direct,
                config.max_grad_norm,
                device.clone(),
            )
            .map_err(TrainError::Setup)?,
        ),
        Algo::Reinforce => {
            let env = BatchEnv::new(market.clone(), range, settings, config.reinforce.episodes, config.seed)?;
            Box::new(reinforce::ReinforceLearner::new(
                env,
                config.reinforce,
                config.head(),
                config.max_grad_norm,
                device.clone(),
            ))
        }
        Algo::Ppo => {
            let env = BatchEnv::new(market.clone(), range, settings, config.ppo.envs, config.seed)?;
            Box::new(ppo::PpoLearner::new(
                env,
                config.ppo,
                config.head(),
                config.max_grad_norm,
                device.clone(),
            ))
        }
    })
}

pub fn train(request: TrainRequest) -> Result<TrainOutcome, TrainError> {
    let TrainRequest { env: env_config, train: config, out, device, resume, progress } = request;
    config.validate().map_err(TrainError::Setup)?;
    let (market, _) = Market::from_config(&env_config)?;
    let market = Arc::new(market);
    let layout = market.layout();
    config.net.validate(&layout).map_err(TrainError::Setup)?;
    let embargo = env_config.episode.embargo;
    let train_range = market.decision_range(&env_config.periods.train, embargo)?;
    let validation_range = market.decision_range(&env_config.periods.validation, embargo)?;
    if validation_range.first <= train_range.last {
        return Err(TrainError::Setup(format!(
            "the validation period must start after training ends: training uses data up to {}, validation decides from {}",
            market.panel.index.label(train_range.last),
            market.panel.index.label(validation_range.first)
        )));
    }
    let settings = EnvSettings::from_config(&env_config);
    let metrics_config = MetricsConfig { periods_per_year: env_config.data.periods_per_year, risk_free: 0.0 };
    let head = config.head();

    let device = device.device()?;
    let train_device = device.clone().autodiff();
    let mut net = config.net.init_seeded(layout, &train_device, config.seed);
    let mut optimizer = host::adam::adam_for(&train_device);
    let label = |r: DecisionRange| (market.panel.index.label(r.first), market.panel.index.label(r.last));
    let mut meta = Meta {
        folio_version: env!("CARGO_PKG_VERSION").to_string(),
        env: env_config.clone(),
        train: config.clone(),
        head,
        assets: market.panel.assets.clone(),
        normalizer: market.normalizer.clone(),
        data_fingerprint: market.panel.fingerprint(),
        train_range: label(train_range),
        validation_range: label(validation_range),
        seed: config.seed,
        progress: TrainingProgress::default(),
        validation: None,
    };
    let mut log: Vec<LogRow> = Vec::new();
    if resume {
        let saved = checkpoint::load_meta(&out)?;
        // A resumed run may go on for more steps or be more patient; anything else must match.
        let comparable = |c: &TrainConfig| TrainConfig { steps: 0, patience: 0, ..c.clone() };
        if saved.data_fingerprint != meta.data_fingerprint
            || comparable(&saved.train) != comparable(&config)
            || saved.env != env_config
        {
            return Err(TrainError::Setup(format!(
                "cannot resume {}: it was trained with another config or data; start a new run with another --out",
                out.display()
            )));
        }
        net = checkpoint::load_net(net, &out.join(checkpoint::LAST))?;
        optimizer = checkpoint::load_optimizer(optimizer, &out.join(checkpoint::OPTIMIZER))?;
        meta.progress = saved.progress;
        meta.progress.stopped = None;
        meta.validation = saved.validation;
        log = read_log(&out.join(checkpoint::LOG));
    } else if out.join(checkpoint::META).exists() {
        return Err(TrainError::Setup(format!(
            "{} already holds a checkpoint; pass --resume to continue it, or choose another --out",
            out.display()
        )));
    }
    std::fs::create_dir_all(&out).map_err(|source| CheckpointError::Io { path: out.clone(), source })?;

    let mut learner = make_learner(&config, &market, train_range, settings, &train_device)?;

    let equal_weight =
        backtest(&mut EqualWeight, &market, validation_range, settings)?.metrics(&metrics_config);
    let bar = progress.start("", "steps", config.steps as u64, meta.progress.env_steps as u64);
    let started = Instant::now();
    let seconds_before = meta.progress.seconds;
    // Each update draws from its own stream, so a resumed run samples what an uninterrupted one would.
    let update_rng = |update: usize| {
        StdRng::seed_from_u64(config.seed ^ (update as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    };
    let mut last_sharpe: Option<f64> = meta.validation.as_ref().map(|v| v.agent.sharpe);
    let stopped;
    loop {
        if meta.progress.env_steps >= config.steps {
            stopped = format!("reached {} environment steps", config.steps);
            break;
        }
        let update = meta.progress.updates;
        let lr = learning_rate(&config, meta.progress.env_steps as f64 / config.steps as f64);
        let previous = net.clone();
        let (next, result) = learner.update(net, &mut optimizer, lr, &mut update_rng(update));
        net = next;
        let divergence = match &result {
            Err(d) => Some(d.what.clone()),
            Ok(_) if !all_finite(&net) => Some("a network weight became non-finite".to_string()),
            Ok(_) => None,
        };
        if let Some(what) = divergence {
            meta.progress.stopped = Some(format!("diverged at update {update}: {what}"));
            meta.progress.seconds = seconds_before + started.elapsed().as_secs_f64();
            save_all(&out, &previous, &optimizer, &meta, &log)?;
            bar.abandon();
            return Err(TrainError::Diverged { update, what, checkpoint: out.join(checkpoint::LAST) });
        }
        let stats = result.expect("checked above");
        meta.progress.updates += 1;
        meta.progress.env_steps += stats.env_steps;
        let seconds = seconds_before + started.elapsed().as_secs_f64();
        meta.progress.seconds = seconds;
        let mut row = LogRow::new(&meta.progress, lr, &stats);
        let finished = meta.progress.env_steps >= config.steps;
        let mut stop_early = false;
        if meta.progress.updates % config.validate_every == 0 || finished {
            let acting = net.valid();
            let metrics =
                validate(&acting, head, &market, validation_range, settings, &metrics_config, &device)?;
            row.validation_sharpe = Some(metrics.sharpe);
            row.validation_wealth = Some(metrics.final_wealth);
            last_sharpe = Some(metrics.sharpe);
            let improved = meta.progress.best_score.is_none_or(|best| score(&metrics) > best);
            if improved {
                meta.progress.best_score = Some(score(&metrics));
                meta.progress.best_update = Some(meta.progress.updates);
                meta.progress.validations_without_improvement = 0;
                meta.validation =
                    Some(ValidationRecord { agent: metrics, equal_weight: equal_weight.clone() });
                checkpoint::save_net(&net, &out.join(checkpoint::BEST))?;
            } else {
                meta.progress.validations_without_improvement += 1;
                stop_early =
                    config.patience > 0 && meta.progress.validations_without_improvement >= config.patience;
            }
            log.push(row.clone());
            save_all(&out, &net, &optimizer, &meta, &log)?;
        } else {
            log.push(row.clone());
        }
        bar.set_position(meta.progress.env_steps as u64);
        bar.set_message(format!(
            "update {} | reward {:+.5} | val Sharpe {} | {:.0} steps/s",
            meta.progress.updates,
            stats.mean_reward,
            last_sharpe.map(|s| format!("{s:.2}")).unwrap_or_else(|| "-".into()),
            (meta.progress.env_steps as f64) / seconds.max(1e-9)
        ));
        if stop_early {
            stopped = format!(
                "early stop: no better validation Sharpe in {} validations (best at update {})",
                config.patience,
                meta.progress.best_update.unwrap_or(0)
            );
            break;
        }
    }
    bar.finish();
    meta.progress.stopped = Some(stopped.clone());
    save_all(&out, &net, &optimizer, &meta, &log)?;
    let validation = meta.validation.clone().expect("training validates at least once");
    Ok(TrainOutcome {
        checkpoint: out,
        updates: meta.progress.updates,
        env_steps: meta.progress.env_steps,
        seconds: meta.progress.seconds,
        env_steps_per_second: meta.progress.env_steps as f64 / meta.progress.seconds.max(1e-9),
        best_update: meta.progress.best_update,
        stopped,
        validation_range: meta.validation_range.clone(),
        validation,
    })
}

/// Train one run per seed (`train.seed`, `train.seed + 1`, ...), `jobs` at a time: into `out` for
/// a single seed, else into `out/seed-<s>`. Same seeds, same results, whatever `jobs` is.
pub fn train_seeds(
    request: TrainRequest,
    seeds: usize,
    jobs: usize,
) -> Result<Vec<TrainOutcome>, TrainError> {
    if seeds <= 1 {
        return Ok(vec![train(request)?]);
    }
    let first = request.train.seed;
    let run = |s: u64| {
        train(TrainRequest {
            env: request.env.clone(),
            train: TrainConfig { seed: first + s, ..request.train.clone() },
            out: request.out.join(format!("seed-{}", first + s)),
            device: request.device,
            resume: request.resume,
            progress: request.progress.clone(),
        })
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .map_err(|e| TrainError::Setup(format!("cannot start {jobs} worker threads: {e}")))?;
    use rayon::prelude::*;
    pool.install(|| (0..seeds as u64).into_par_iter().map(run).collect())
}

fn save_all(
    out: &Path,
    net: &PolicyNet,
    optimizer: &ModuleOptimizer,
    meta: &Meta,
    log: &[LogRow],
) -> Result<(), TrainError> {
    checkpoint::save_net(net, &out.join(checkpoint::LAST))?;
    checkpoint::save_optimizer(optimizer, &out.join(checkpoint::OPTIMIZER))?;
    let path = out.join(checkpoint::LOG);
    write_atomically(&path, |w| {
        let mut writer = csv::Writer::from_writer(w);
        for row in log {
            writer.serialize(row)?;
        }
        writer.flush()?;
        Ok(())
    })
    .map_err(|source| CheckpointError::Io { path, source })?;
    // The metadata goes last: it only ever describes files that are already complete.
    checkpoint::save_meta(out, meta)?;
    Ok(())
}

fn read_log(path: &Path) -> Vec<LogRow> {
    // The log is a record for people: a resumed run keeps the rows it can read back.
    let Ok(mut reader) = csv::Reader::from_path(path) else { return Vec::new() };
    reader.deserialize().flatten().collect()
}
