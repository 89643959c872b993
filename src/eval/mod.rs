//! Orchestrators: what a user asks folio to find out. Each puts trained agents and baselines
//! through the backtest engine and the metrics: `eval` on any period, walk-forward on rolling
//! held-out periods, stress scenarios, sanity probes, explanations of decisions, and the
//! throughput benchmarks.

pub mod bench;
pub mod bench_large;
pub mod evaluate;
pub mod explain;
pub mod panel;
pub mod probe;
pub mod search;
pub mod search_plan;
pub mod stress;
mod task_result;
pub mod tasks;
pub mod walk_forward;

use std::path::PathBuf;

use crate::agent::MissingBackend;
use crate::backtest::rebalance::{RuleBacktestError, RuleNeedsDates};
use crate::baselines::BaselineError;
use crate::data::{DataError, InvalidSetting};
use crate::env::EnvError;
use crate::registry::RegistryError;
use crate::train::TrainError;
use crate::train::checkpoint::CheckpointError;

/// What an evaluation can fail on: its own setup, and everything it calls, each in its own words.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Setting(#[from] InvalidSetting),
    #[error(transparent)]
    Backend(#[from] MissingBackend),
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    #[error(transparent)]
    Rule(#[from] RuleNeedsDates),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Folds(#[from] walk_forward::FoldError),
    #[error(transparent)]
    Stress(#[from] stress::StressError),
    #[error(
        "the checkpoint's test period ([periods.test] of the config it was trained with): {source}; pass --from and --to to evaluate another period"
    )]
    TestPeriod {
        #[source]
        source: EnvError,
    },
    #[error("--to {to} is after the data's last row ({last}); leave --to out to run to the end of the data")]
    ToPastData { to: String, last: String },
    #[error("cannot clear {}: {source}", path.display())]
    Clear {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} holds no walk-forward to resume (it has no {}); run without --resume to start one there",
        out.display(),
        walk_forward::RUN_ID_FILE
    )]
    NothingToResume { out: PathBuf },
    #[error(
        "{} holds a walk-forward {}, so none of its trainings can be reused: resume with the command that started it, or pass --force instead of --resume to start over there",
        out.display(),
        differences.as_deref().unwrap_or("of another config, fold layout, seed, data or folio version")
    )]
    ResumesAnotherRun { out: PathBuf, differences: Option<String> },
    #[error(
        "{} holds a search of another space or request: choosing again among other points after its \
         verdict may have judged one on the held-out folds would be a second look at them; start the \
         search in a new --out",
        out.display()
    )]
    ResumesAnotherSearch { out: PathBuf },
    #[error("cannot start {threads} worker threads: {source}")]
    Threads {
        threads: usize,
        #[source]
        source: rayon::ThreadPoolBuildError,
    },
}

impl EvalError {
    /// Whether the config is what to mend (see [`crate::env::EnvError::is_config_mistake`]): its
    /// settings, or a fold layout or rebalancing rule that does not fit the data.
    pub fn is_config_mistake(&self) -> bool {
        match self {
            EvalError::Train(error) => error.is_config_mistake(),
            EvalError::Env(error) => error.is_config_mistake(),
            EvalError::Setting(_) | EvalError::Rule(_) | EvalError::Folds(_) => true,
            _ => false,
        }
    }
}

impl From<RuleBacktestError> for EvalError {
    fn from(error: RuleBacktestError) -> Self {
        match error {
            RuleBacktestError::Rule(e) => e.into(),
            RuleBacktestError::Env(e) => e.into(),
        }
    }
}
