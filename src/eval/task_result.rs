//! One finished training of a walk-forward (a fold and a seed), saved beside its checkpoint so
//! that no later run has to train it again: a cluster's merge reads it, and so does a
//! single-process walk-forward that resumes after an interruption.
//!
//! A result names the task it belongs to by a content id, a hash of everything that decides the
//! task (environment, training config, fold, seed, rebalancing rule, the data's fingerprint and
//! folio's version). It is written atomically, and only after the checkpoint it describes, so a
//! run killed at any moment leaves nothing that looks finished.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::backtest::rebalance::RebalanceRule;
use crate::env::config::EnvConfig;
use crate::files::write_atomically;
use crate::train::TrainConfig;
use crate::train::checkpoint;

/// The file a result is saved in.
pub const RESULT: &str = "result.cbor";

/// CBOR, not JSON, because it keeps every float's bits (NaN and infinities included): a result
/// read back must be exactly what the task computed.
#[derive(Deserialize)]
struct Saved<T> {
    id: String,
    result: T,
}

/// [`Saved`] as it is written, borrowing the result.
#[derive(Serialize)]
struct ToSave<'a, T> {
    id: &'a str,
    result: &'a T,
}

/// What decides a task's result; its [`TaskIdentity::id`] names it. `F` is the walk-forward's
/// fold (its training, validation and test rows).
pub(crate) struct TaskIdentity<'a, F> {
    pub env: &'a EnvConfig,
    pub train: &'a TrainConfig,
    pub rebalance: RebalanceRule,
    pub fold: &'a F,
    pub seed: u64,
    pub data_fingerprint: &'a str,
    pub folio_version: &'a str,
}

impl<F: Serialize> TaskIdentity<'_, F> {
    /// SHA-256 of the task's canonical JSON. The data enters by its fingerprint, not its path,
    /// so moving the data does not make finished tasks look new.
    pub fn id(&self) -> String {
        let env = self.env.without_data_path();
        let canonical = serde_json::json!({
            "env": env,
            "train": TrainConfig { seed: self.seed, ..self.train.clone() },
            "fold": self.fold,
            "rebalance": self.rebalance,
            "data_fingerprint": self.data_fingerprint,
            "folio_version": self.folio_version,
        });
        crate::registry::hash_json(canonical)
    }
}

/// Write `result` as task `id`'s, atomically.
pub(crate) fn save<T: Serialize>(path: &Path, id: &str, result: &T) -> std::io::Result<()> {
    write_atomically(path, |w| {
        ciborium::into_writer(&ToSave { id, result }, w).map_err(std::io::Error::other)
    })
}

/// Why a task has no result to use: each means the task is still to run, and the words tell a
/// user who expected it done what happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotDone {
    /// No result file: the task never finished.
    NotRun,
    /// A result file that does not decode: cut short, edited, or not folio's.
    Damaged(String),
    /// A result file that names another task.
    OtherTask,
    /// A result whose checkpoint is gone.
    NoCheckpoint,
}

impl std::fmt::Display for NotDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotDone::NotRun => write!(f, "not run yet"),
            NotDone::Damaged(reason) => write!(f, "its {RESULT} cannot be read ({reason})"),
            NotDone::OtherTask => write!(f, "its {RESULT} is another task's"),
            NotDone::NoCheckpoint => write!(f, "its checkpoint is missing"),
        }
    }
}

/// The result saved at `path` if it is task `id`'s and complete: the file decodes, names this
/// task, and the checkpoint it describes (in `checkpoint_dir`) is there. Anything else is a task
/// still to run, and says why.
pub(crate) fn load<T: serde::de::DeserializeOwned>(
    path: &Path,
    id: &str,
    checkpoint_dir: &Path,
) -> Result<T, NotDone> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(NotDone::NotRun),
        Err(e) => return Err(NotDone::Damaged(e.to_string())),
    };
    let saved: Saved<T> = ciborium::from_reader(bytes.as_slice())
        .map_err(|e| NotDone::Damaged(crate::files::cbor_reason(&e)))?;
    if saved.id != id {
        return Err(NotDone::OtherTask);
    }
    let complete =
        checkpoint_dir.join(checkpoint::META).is_file() && checkpoint_dir.join(checkpoint::BEST).is_file();
    complete.then_some(saved.result).ok_or(NotDone::NoCheckpoint)
}
