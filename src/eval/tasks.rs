//! Walk-forwards past one machine. A plan folder holds the whole request and one task per fold
//! and seed; any array scheduler (Slurm, a Kubernetes Indexed Job, `xargs -P`) runs one task per
//! index, on any node that mounts the folder; the merge then goes through the very phases a
//! single-process walk-forward goes through after its trainings, so it writes the same report.
//!
//! A task is done exactly when its `result.cbor` holds its own content id: that file is written
//! atomically and last, so a task killed at any moment leaves nothing that looks finished.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use super::EvalError;
use super::task_result::{self, NotDone};
use super::walk_forward::{
    Plan, TaskResult, WalkForwardConfig, WalkForwardReport, WalkForwardRequest, conclude, task_ids,
    train_and_test_one,
};
use crate::agent::DeviceChoice;
use crate::backtest::rebalance::RebalanceRule;
use crate::env::config::EnvConfig;
use crate::files::{FolderLock, LockError, write_bytes_atomically};
use crate::progress::Progress;
use crate::train::TrainConfig;

/// The plan for people and scripts.
pub const PLAN_FILE: &str = "plan.json";
/// The same plan as tasks read it: CBOR keeps every float of the request to the bit, where
/// serde_json (without its float_roundtrip feature, which would rebuild burn) may lose the last.
pub const PLAN_EXACT: &str = "plan.cbor";
pub const TASKS: &str = "tasks";
pub const RESULT: &str = task_result::RESULT;
pub const CHECKPOINT: &str = "checkpoint";

/// A walk-forward as the user asked for it: everything a task or the merge needs to redo it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalkForwardSpec {
    pub env: EnvConfig,
    pub train: TrainConfig,
    pub config: WalkForwardConfig,
    pub rebalance: RebalanceRule,
}

/// `plan.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanFile {
    pub folio_version: String,
    /// Fingerprint of the price panel the plan was cut from; every task checks it again.
    pub data_fingerprint: String,
    pub walk_forward: WalkForwardSpec,
    /// Fold by fold, seed by seed: the order of the single-process run.
    pub tasks: Vec<TaskSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub index: usize,
    /// Hash of the task's canonical form, the data fingerprint and the folio version: the name
    /// of its folder, so a result can never be taken for another task's.
    pub id: String,
    /// The fold's index, from 0 as in the report's JSON; the walk-forward's `fold-N` folders and
    /// messages for people count folds from 1, as the reports' text does.
    pub fold: usize,
    /// The walk-forward's own seed for this fold's run (its base seed plus the seed's position),
    /// so the merged report is the single-process one.
    pub seed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// A task's folder could not be locked for a reason the run cannot mend.
    #[error(transparent)]
    Lock(LockError),
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} is not a plan folder (it has no {file}): `folio plan` writes one, and prints its folder",
        dir.display()
    )]
    NotAPlan { dir: PathBuf, file: String },
    #[error("{}: not a folio plan: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "{} already holds another plan; plan into a new folder, or remove this one",
        plan.display()
    )]
    OtherPlan { plan: PathBuf },
    #[error(
        "{} no longer says what {exact} holds: it is a readable copy, and the tasks run what {exact} says; to change the request, plan again into a new folder (or put back what it said)",
        readable.display()
    )]
    ReadableCopyEdited { readable: PathBuf, exact: String },
    #[error(
        "plan {} was cut from data with fingerprint {planned}, but its data now has {found}: the data changed since; plan again",
        plan.display()
    )]
    DataChanged { plan: PathBuf, planned: String, found: String },
    #[error(
        "plan {} was made by folio {planned} and this is folio {running}: run its tasks with the folio that planned them, or plan again",
        plan.display()
    )]
    Version { plan: PathBuf, planned: String, running: String },
    #[error(
        "task {index} of plan {} is running already ({holder}): a task never runs twice at once; wait for that run, or stop it first",
        plan.display()
    )]
    Running { plan: PathBuf, index: usize, holder: String },
    #[error("plan {} has {count} tasks (indices 0 to {}); there is no task {index}", plan.display(), count.saturating_sub(1))]
    NoTask { plan: PathBuf, index: usize, count: usize },
    #[error(
        "search plan {} has {scoring} scoring tasks (indices 0 to {}); task {index} would be one of the verdict's, which `folio merge {}` plans once every scoring task is done",
        plan.display(),
        scoring.saturating_sub(1),
        plan.display()
    )]
    VerdictNotPlanned { plan: PathBuf, index: usize, scoring: usize },
    #[error("{}", incomplete(plan, missing, *total))]
    Incomplete { plan: PathBuf, missing: Vec<MissingTask>, total: usize },
}

/// A task of a plan without a result to use, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MissingTask {
    #[serde(flatten)]
    pub task: TaskSpec,
    pub why: NotDone,
}

impl MissingTask {
    /// Why a task that ran cannot be merged (its result is damaged, another task's, or has lost
    /// its checkpoint); `None` for a task that has not run.
    pub fn damage(&self) -> Option<String> {
        (!matches!(self.why, NotDone::NotRun)).then(|| self.why.to_string())
    }
}

fn incomplete(plan: &Path, missing: &[MissingTask], total: usize) -> String {
    let names: Vec<String> = missing
        .iter()
        .map(|MissingTask { task: t, why }| {
            let why = match why {
                NotDone::NotRun => String::new(),
                other => format!(": {other}"),
            };
            format!("{} (fold {}, seed {}, {}){why}", t.index, t.fold + 1, t.seed, t.id)
        })
        .collect();
    let list = missing_list(missing);
    let plan = plan.display();
    format!(
        "{} of the {total} tasks of plan {plan} are not done: {}.\nRerun just those, on Slurm: \
         scripts/slurm-submit.sh {plan} (it submits the missing ones, tasks {list}, as one array, \
         then the merge); on this machine: scripts/run-local.sh {plan}; or one by one: \
         folio run-task {plan} --index I",
        missing.len(),
        names.join(", "),
    )
}

/// Indices as Slurm's `--array` takes them: `1,4,5`.
pub fn missing_list(missing: &[MissingTask]) -> String {
    missing.iter().map(|t| t.task.index.to_string()).collect::<Vec<_>>().join(",")
}

impl PlanFile {
    pub fn task_dir(&self, plan: &Path, task: &TaskSpec) -> PathBuf {
        plan.join(TASKS).join(&task.id)
    }
}

/// Write the plan of a walk-forward to `dir/plan.json`. Planning the same request again into the
/// same folder changes nothing (tasks already done stay done); another request is refused. The
/// data file is recorded so that tasks find it from any working directory ([`data_for_tasks`]).
pub fn plan_walk_forward(mut spec: WalkForwardSpec, dir: &Path) -> Result<PlanFile, TaskError> {
    spec.env.data.file = data_for_tasks(&spec.env.data.file)?;
    let (plan, request) = open(&spec, dir)?;
    // The same ids a single-process walk-forward gives its tasks, so a result means one thing.
    let tasks = plan
        .tasks()
        .into_iter()
        .zip(task_ids(&plan, &request))
        .enumerate()
        .map(|(index, ((fold, seed), id))| TaskSpec { index, id, fold, seed })
        .collect();
    let file = PlanFile {
        folio_version: crate::BUILD.to_string(),
        data_fingerprint: plan.data_fingerprint,
        walk_forward: spec,
        tasks,
    };
    write_plan_files(dir, PLAN_FILE, PLAN_EXACT, &file)?;
    Ok(file)
}

/// The data path a plan records, for tasks that run in any working directory: absolute, unless
/// the file is not on disk and folio's own bundled copy serves it (the default config's data
/// outside the repository), whose relative name every folio binary resolves alike.
pub(crate) fn data_for_tasks(data: &Path) -> Result<PathBuf, TaskError> {
    if !data.exists() && crate::files::bundled(data).is_some() {
        return Ok(data.to_path_buf());
    }
    std::path::absolute(data).map_err(|source| TaskError::Io { path: data.to_path_buf(), source })
}

/// Write a plan as `exact` (CBOR, what tasks read) and `readable` (JSON, for people). The same
/// plan again changes nothing; another plan in its place is refused. The folder is locked from
/// the check to the write, so that of two plans started into one new folder at once the second
/// is refused rather than written over the first, whose planner was told it succeeded.
pub(crate) fn write_plan_files<T: Serialize>(
    dir: &Path,
    readable: &str,
    exact: &str,
    file: &T,
) -> Result<(), TaskError> {
    let _lock = FolderLock::acquire(dir).map_err(TaskError::Lock)?;
    let mut bytes = Vec::new();
    ciborium::into_writer(file, &mut bytes).expect("a plan serializes");
    let path = dir.join(exact);
    if path.exists() {
        let held = std::fs::read(&path).map_err(|source| TaskError::Io { path: path.clone(), source })?;
        return match held == bytes {
            true => Ok(()),
            false => Err(TaskError::OtherPlan { plan: dir.to_path_buf() }),
        };
    }
    let json = serde_json::to_vec_pretty(file).expect("a plan serializes");
    let readable = dir.join(readable);
    write_bytes_atomically(&readable, &json).map_err(|source| TaskError::Io { path: readable, source })?;
    // Written last: a plan folder without it is not a plan yet.
    write_bytes_atomically(&path, &bytes).map_err(|source| TaskError::Io { path, source })
}

pub fn load_plan(dir: &Path) -> Result<PlanFile, TaskError> {
    read_plan_file(dir, PLAN_FILE, PLAN_EXACT)
}

/// The CBOR copy of a plan that [`write_plan_files`] wrote as `exact` in `dir`, refused when
/// its `readable` copy has been edited since: a person who mended the JSON (a data path after a
/// move, a budget) would otherwise see tasks run what it no longer says.
pub(crate) fn read_plan_file<T: serde::de::DeserializeOwned + Serialize>(
    dir: &Path,
    readable: &str,
    exact: &str,
) -> Result<T, TaskError> {
    let path = dir.join(exact);
    let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => {
            TaskError::NotAPlan { dir: dir.to_path_buf(), file: exact.to_string() }
        }
        _ => TaskError::Io { path: path.clone(), source },
    })?;
    let plan: T = ciborium::from_reader(bytes.as_slice())
        .map_err(|e| TaskError::Corrupt { path, reason: crate::files::cbor_reason(&e) })?;
    // Compared as JSON values, so that a copy only reformatted, or gone, is no edit.
    let readable = dir.join(readable);
    if let Ok(text) = std::fs::read(&readable)
        && serde_json::from_slice::<serde_json::Value>(&text).ok() != serde_json::to_value(&plan).ok()
    {
        return Err(TaskError::ReadableCopyEdited { readable, exact: exact.to_string() });
    }
    Ok(plan)
}

/// The walk-forward request behind a plan, and its phases' plan (the market loaded and cut).
/// Its `out` is the plan folder made absolute: the folder the trial registry records.
fn open(spec: &WalkForwardSpec, dir: &Path) -> Result<(Plan, WalkForwardRequest), TaskError> {
    let out = std::path::absolute(dir).map_err(|source| TaskError::Io { path: dir.to_path_buf(), source })?;
    let request = WalkForwardRequest {
        env: spec.env.clone(),
        train: spec.train.clone(),
        config: spec.config,
        out,
        jobs: 1,
        device: DeviceChoice::Cpu,
        progress: crate::progress::silent(),
        registry: None,
        rebalance: spec.rebalance,
        resume: false,
    };
    Ok((Plan::new(&request)?, request))
}

/// A plan read back and checked against this folio and the data as it is now.
fn reopen(dir: &Path) -> Result<(PlanFile, Plan, WalkForwardRequest), TaskError> {
    let file = load_plan(dir)?;
    let running = crate::BUILD;
    if file.folio_version != running {
        let (planned, running) = (file.folio_version.clone(), running.to_string());
        return Err(TaskError::Version { plan: dir.to_path_buf(), planned, running });
    }
    let (plan, request) = open(&file.walk_forward, dir)?;
    if plan.data_fingerprint != file.data_fingerprint {
        let (planned, found) = (file.data_fingerprint.clone(), plan.data_fingerprint.clone());
        return Err(TaskError::DataChanged { plan: dir.to_path_buf(), planned, found });
    }
    // The ids name the results: ids that are not its request's (an edited plan.cbor) would put
    // results of one request under another's names.
    let ids = task_ids(&plan, &request);
    if ids.len() != file.tasks.len() || ids.iter().zip(&file.tasks).any(|(id, task)| *id != task.id) {
        return Err(TaskError::Corrupt {
            path: dir.join(PLAN_EXACT),
            reason: "its tasks are not those of the request it holds (edited since it was planned?)".into(),
        });
    }
    Ok((file, plan, request))
}

/// What `run_task` did; in JSON, the task's fields with `"status": "ran"` or `"already_done"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TaskRun {
    /// The task ran and its result is saved.
    Ran(TaskSpec),
    /// A valid result was already there.
    AlreadyDone(TaskSpec),
}

/// Run task `index` of the plan in `dir`, unless its valid result is already there.
pub fn run_task(
    dir: &Path,
    index: usize,
    device: DeviceChoice,
    progress: std::sync::Arc<dyn Progress>,
) -> Result<TaskRun, TaskError> {
    let (file, plan, request) = reopen(dir)?;
    let count = file.tasks.len();
    let task = file.tasks.get(index).ok_or(TaskError::NoTask { plan: dir.to_path_buf(), index, count })?;
    let task_dir = file.task_dir(dir, task);
    // Held until the task returns: two runs of one task (a scheduler's retry while the first
    // still runs, a person's rerun) would otherwise clear and write one checkpoint together.
    let _lock = FolderLock::acquire(&task_dir).map_err(|e| match e {
        LockError::Busy { holder, .. } => TaskError::Running { plan: dir.to_path_buf(), index, holder },
        LockError::Io { folder, source } => TaskError::Io { path: folder, source },
        unsupported @ LockError::Unsupported { .. } => TaskError::Lock(unsupported),
    })?;
    if read_result(&task_dir, &task.id).is_ok() {
        return Ok(TaskRun::AlreadyDone(task.clone()));
    }
    // A result left by an interrupted or older run would otherwise outlive the checkpoint it
    // described while the new one is written.
    let result_path = task_dir.join(RESULT);
    match std::fs::remove_file(&result_path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(TaskError::Io { path: result_path, source: e });
        }
        _ => {}
    }
    let request = WalkForwardRequest { device, progress, ..request };
    let fold = &plan.folds[task.fold];
    // What a killed run of this very task left (the folder is named by the task's content id)
    // goes on from its last save, so a preempted node costs only the steps since it.
    let result = train_and_test_one(&plan, &request, fold, task.seed, task_dir.join(CHECKPOINT), true)?;
    task_result::save(&result_path, &task.id, &result)
        .map_err(|source| TaskError::Io { path: result_path, source })?;
    Ok(TaskRun::Ran(task.clone()))
}

/// The task's result if it is complete (see [`task_result::load`]).
fn read_result(task_dir: &Path, id: &str) -> Result<TaskResult, NotDone> {
    task_result::load(&task_dir.join(RESULT), id, &task_dir.join(CHECKPOINT))
}

/// The tasks of the plan in `dir` without a valid result, in index order.
pub fn missing_tasks(dir: &Path) -> Result<Vec<MissingTask>, TaskError> {
    let file = load_plan(dir)?;
    Ok(file
        .tasks
        .iter()
        .filter_map(|t| {
            let why = read_result(&file.task_dir(dir, t), &t.id).err()?;
            Some(MissingTask { task: t.clone(), why })
        })
        .collect())
}

/// The walk-forward report of a plan whose every task is done, through the same phases as
/// [`super::walk_forward::walk_forward`]. The trials are recorded in `registry` (if any) under
/// the plan folder, once however often the plan is merged.
pub fn merge(
    dir: &Path,
    registry: Option<PathBuf>,
    device: DeviceChoice,
    progress: std::sync::Arc<dyn Progress>,
) -> Result<WalkForwardReport, TaskError> {
    let (file, plan, request) = reopen(dir)?;
    let mut results = Vec::with_capacity(file.tasks.len());
    let mut missing = Vec::new();
    for task in &file.tasks {
        let task_dir = file.task_dir(&request.out, task);
        match read_result(&task_dir, &task.id) {
            Ok(mut result) => {
                // Where this node sees the checkpoint, whichever node wrote it.
                result.seed.checkpoint = task_dir.join(CHECKPOINT);
                results.push(result);
            }
            Err(why) => missing.push(MissingTask { task: task.clone(), why }),
        }
    }
    if !missing.is_empty() {
        return Err(TaskError::Incomplete { plan: dir.to_path_buf(), missing, total: file.tasks.len() });
    }
    let request = WalkForwardRequest { device, progress, registry, ..request };
    Ok(conclude(&plan, request, &results)?)
}
