//! Training: algorithms ([`Learner`]s: the direct policy gradient, REINFORCE, PPO) turn
//! experience into gradient steps on a policy network; [`run`] is the loop around them
//! (validation, checkpoints, early stopping), [`checkpoint`] what it leaves on disk.

pub mod checkpoint;
pub mod config;
mod direct;
pub mod host;
pub mod online;
pub mod ppo;
mod reinforce;
pub mod resume;
mod rollout;
pub mod run;
mod seeds;
mod step;

pub use config::{Algo, DirectConfig, LrSchedule, PpoConfig, ReinforceConfig, TrainConfig};
pub use direct::DirectObjective;
pub use ppo::gae;
pub use rollout::discounted_returns;
pub use run::{TrainOutcome, TrainRequest, proposed_periods, train, train_seeds, training_split, validate};
pub use seeds::{PlannedSeeds, SEEDS_FILE, seed_folder, seed_folder_name, seed_folders, seed_of_folder};

use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use rand::rngs::StdRng;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

use self::checkpoint::CheckpointError;
use self::step::Divergence;
use crate::agent::ActionHead;
use crate::agent::network::PolicyNet;
use crate::env::{BatchEnv, DecisionRange, EnvSettings, Market};

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

/// How a network descends its loss: the optimizer and this update's learning rate.
pub struct Descent<'a> {
    pub optimizer: &'a mut ModuleOptimizer,
    pub learning_rate: f64,
}

/// The network after an update, and what the update did or why it was refused.
pub type Updated = (PolicyNet, Result<UpdateStats, Divergence>);

/// An algorithm: how experience becomes a gradient step.
pub trait Learner {
    fn update(&mut self, net: PolicyNet, descent: &mut Descent<'_>, rng: &mut StdRng) -> Updated;

    /// What later updates depend on besides the network, the optimizer and the update number (the
    /// direct learner's portfolio-vector memory, say), for the checkpoint: a resumed run must
    /// continue exactly as an uninterrupted one would. `None`: nothing to keep.
    fn save_state(&self) -> Option<Vec<u8>> {
        None
    }

    /// Take back what [`Learner::save_state`] gave.
    fn load_state(&mut self, _bytes: &[u8]) -> Result<(), StateMismatch> {
        Ok(())
    }
}

/// What a learner that acts in a [`BatchEnv`] carries from one update to the next: the batch's
/// episodes mid-way (PPO continues them across rollouts) and its draws of episode starts.
#[derive(serde::Serialize, serde::Deserialize)]
struct EnvLearnerState {
    started: bool,
    env: crate::env::EnvState,
}

/// CBOR keeps every float's bits, so a resumed learner steps exactly as it would have.
fn save_env_learner(env: &BatchEnv, started: bool) -> Vec<u8> {
    let mut bytes = Vec::new();
    ciborium::into_writer(&EnvLearnerState { started, env: env.state() }, &mut bytes)
        .expect("writing to memory cannot fail");
    bytes
}

/// Restores what [`save_env_learner`] saved into `env`; whether the learner had started.
fn load_env_learner(env: &mut BatchEnv, bytes: &[u8]) -> Result<bool, StateMismatch> {
    let state: EnvLearnerState = ciborium::from_reader(bytes)
        .map_err(|e| StateMismatch(format!("unreadable: {}", crate::files::cbor_reason(&e))))?;
    env.restore(state.env).map_err(|e| StateMismatch(e.to_string()))?;
    Ok(state.started)
}

/// Saved learner state that does not fit the learner loading it.
#[derive(Debug, thiserror::Error)]
#[error("the saved learner state does not fit this learner: {0}")]
pub struct StateMismatch(pub String);

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Setting(#[from] crate::data::InvalidSetting),
    #[error(
        "the validation period must start after training ends: training uses data up to {training_ends}, validation decides from {validation_starts}{split}"
    )]
    ValidationOverlapsTraining {
        training_ends: String,
        validation_starts: String,
        /// A split of the data to propose when the config sets no periods at all.
        split: String,
    },
    #[error("[periods.{period}]: {source}")]
    Period {
        period: &'static str,
        #[source]
        source: crate::env::EnvError,
    },
    #[error("the training period has {periods} periods, fewer than a batch of {batch} plus one")]
    TrainingTooShort { periods: usize, batch: usize },
    #[error(
        "reward.kind = \"{reward}\" is a batch objective that only the direct learner optimizes; {algo} needs a per-step reward (differential_sharpe for sharpe, downside_risk for sortino), or use --algo direct"
    )]
    BatchObjective { reward: &'static str, algo: &'static str },
    #[error("{} already holds a checkpoint; pass --resume to continue it, or choose another --out", out.display())]
    AlreadyTrained { out: PathBuf },
    #[error(
        "{} holds {name}, which no folio training published there (it has no meta.json); choose another --out, or move the file",
        out.display()
    )]
    NotOurs { out: PathBuf, name: String },
    #[error(
        "cannot resume {}: it was started {differences}; resume it with the flags and config it was started with, or start a new run with another --out",
        out.display()
    )]
    NotResumable { out: PathBuf, differences: String },
    #[error("cannot resume {}: {why}", out.display())]
    ResumeMismatch { out: PathBuf, why: String },
    #[error("cannot start {threads} worker threads: {source}")]
    Threads {
        threads: usize,
        #[source]
        source: rayon::ThreadPoolBuildError,
    },
    #[error(transparent)]
    Env(#[from] crate::env::EnvError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Lock(#[from] crate::files::LockError),
    #[error(transparent)]
    Backend(#[from] crate::agent::MissingBackend),
    #[error(
        "training diverged at update {update}: {what}; stopped, and kept the last good network in {}",
        checkpoint.display()
    )]
    Diverged { update: usize, what: String, checkpoint: PathBuf },
}

impl TrainError {
    /// Whether the config is what to mend (see [`crate::env::EnvError::is_config_mistake`]).
    pub fn is_config_mistake(&self) -> bool {
        match self {
            TrainError::Setting(_)
            | TrainError::ValidationOverlapsTraining { .. }
            | TrainError::Period { .. }
            | TrainError::TrainingTooShort { .. }
            | TrainError::BatchObjective { .. } => true,
            TrainError::Env(error) => error.is_config_mistake(),
            _ => false,
        }
    }
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
    let head = config.head(market.layout().reference);
    if config.algo != Algo::Direct && settings.reward.is_batch_only() {
        let algo = if config.algo == Algo::Ppo { "ppo" } else { "reinforce" };
        return Err(TrainError::BatchObjective { reward: settings.reward.name(), algo });
    }
    Ok(match config.algo {
        Algo::Direct => Box::new(direct::DirectLearner::new(
            market.clone(),
            range,
            settings,
            config.direct,
            config.max_grad_norm,
            device.clone(),
        )?),
        Algo::Reinforce => {
            let env = BatchEnv::new(market.clone(), range, settings, config.reinforce.episodes, config.seed)?;
            Box::new(reinforce::ReinforceLearner::new(
                env,
                config.reinforce,
                head,
                config.max_grad_norm,
                device.clone(),
            ))
        }
        Algo::Ppo => {
            let env = BatchEnv::new(market.clone(), range, settings, config.ppo.envs, config.seed)?;
            let engine = ppo_engine_for(device.clone(), head, config.ppo, config.max_grad_norm);
            Box::new(ppo::PpoLearner::new(env, config.ppo, head, engine))
        }
    })
}

/// PPO's engine for `device` (an autodiff device): the CPU fast path on burn's Flex backend,
/// burn's autodiff elsewhere.
pub fn ppo_engine_for(
    device: Device,
    head: ActionHead,
    config: PpoConfig,
    max_grad_norm: f64,
) -> Box<dyn ppo::Engine> {
    if crate::agent::is_host(&device) {
        Box::new(host::ppo::FastPath::new(device, head, config, max_grad_norm))
    } else {
        Box::new(ppo::Autodiff::new(device, head, config, max_grad_norm))
    }
}
