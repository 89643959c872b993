//! `folio search` as a plan of independent tasks, in two stages. `plan_search` writes one
//! walk-forward plan per point (its search folds and seeds, on the search data) under
//! `points/point-N/`; their tasks are the search plan's, numbered point after point. Once they are
//! all done, `merge_search` scores each point through the walk-forward merge, picks the best by
//! the same rule as [`super::search::search`] and plans the verdict under `verdict/`, whose tasks
//! follow the scoring ones in the numbering; merged again once those are done, it writes the very
//! report `folio search` writes. The chosen point cannot be known earlier, so neither can the
//! verdict's tasks: that is why there are two stages.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::EvalError;
pub use super::search::{POINTS, VERDICT, point_dir};
use super::search::{
    ScoredPoint, SearchReport, SearchSpace, apply, check_base, choose, conclude_search, search_data,
    verdict_spec,
};
use super::tasks::{self, MissingTask, TaskError, TaskRun, TaskSpec, WalkForwardSpec};
use crate::agent::DeviceChoice;
use crate::progress::Progress;

pub const SEARCH_PLAN_FILE: &str = "search-plan.json";
/// CBOR, for the reason `plan.cbor` is: every float of the request and the points to the bit.
pub const SEARCH_PLAN_EXACT: &str = "search-plan.cbor";

/// `search-plan.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchPlanFile {
    pub folio_version: String,
    pub walk_forward: WalkForwardSpec,
    pub space: SearchSpace,
    /// The last data row the scoring tasks see.
    pub search_data_to: String,
    /// In the search's order; a point's tasks are numbered after the earlier points'.
    pub points: Vec<PlannedPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedPoint {
    pub point: BTreeMap<String, serde_json::Value>,
    /// Its walk-forward's tasks: search folds x seeds (a point may change either).
    pub tasks: usize,
}

impl SearchPlanFile {
    /// How many scoring tasks there are: the verdict's are numbered from here.
    pub fn scoring_tasks(&self) -> usize {
        self.points.iter().map(|p| p.tasks).sum()
    }
}

/// What `merge_search` did. `merge --json` prints a planned verdict with `"status":
/// "verdict_planned"`, and a finished search as `folio search --json` prints it.
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SearchMerge {
    /// The point is chosen and the verdict planned; these of its tasks are still to run.
    VerdictPlanned {
        chosen: usize,
        missing: Vec<MissingTask>,
    },
    Done(Box<SearchReport>),
}

pub fn is_search_plan(dir: &Path) -> bool {
    dir.join(SEARCH_PLAN_EXACT).is_file()
}

/// Plan a search in `dir`: every point's walk-forward plan, then the search plan itself (last,
/// so a folder without it is not a plan yet). Planning the same search again changes nothing.
pub fn plan_search(
    mut spec: WalkForwardSpec,
    space: SearchSpace,
    dir: &Path,
) -> Result<SearchPlanFile, TaskError> {
    if dir.join(tasks::PLAN_EXACT).exists() {
        return Err(TaskError::OtherPlan { plan: dir.to_path_buf() });
    }
    spec.env.data.file = tasks::data_for_tasks(&spec.env.data.file)?;
    check_base(&spec)?;
    let points = space.points().map_err(EvalError::from)?;
    let (base, search_data_to) = search_data(&spec, &space)?;
    let mut planned = Vec::with_capacity(points.len());
    for (i, point) in points.into_iter().enumerate() {
        let plan = tasks::plan_walk_forward(apply(&base, &point)?, &point_dir(dir, i))?;
        planned.push(PlannedPoint { point, tasks: plan.tasks.len() });
    }
    let file = SearchPlanFile {
        folio_version: crate::BUILD.to_string(),
        walk_forward: spec,
        space,
        search_data_to,
        points: planned,
    };
    tasks::write_plan_files(dir, SEARCH_PLAN_FILE, SEARCH_PLAN_EXACT, &file)?;
    Ok(file)
}

pub fn load_search_plan(dir: &Path) -> Result<SearchPlanFile, TaskError> {
    tasks::read_plan_file(dir, SEARCH_PLAN_FILE, SEARCH_PLAN_EXACT)
}

/// The walk-forward plan that holds task `index` of the search plan, and the task's index there.
fn locate(dir: &Path, file: &SearchPlanFile, index: usize) -> Result<(PathBuf, usize), TaskError> {
    let mut first = 0;
    for (i, point) in file.points.iter().enumerate() {
        if index < first + point.tasks {
            return Ok((point_dir(dir, i), index - first));
        }
        first += point.tasks;
    }
    let verdict = dir.join(VERDICT);
    if !verdict.join(tasks::PLAN_EXACT).exists() {
        return Err(TaskError::VerdictNotPlanned { plan: dir.to_path_buf(), index, scoring: first });
    }
    let count = first + tasks::load_plan(&verdict)?.tasks.len();
    match index < count {
        true => Ok((verdict, index - first)),
        false => Err(TaskError::NoTask { plan: dir.to_path_buf(), index, count }),
    }
}

/// Run task `index` of the search plan in `dir` (a scoring task, or once the merge has planned
/// it, a verdict task), unless its valid result is already there.
pub fn run_search_task(
    dir: &Path,
    index: usize,
    device: DeviceChoice,
    progress: Arc<dyn Progress>,
) -> Result<TaskRun, TaskError> {
    let file = load_search_plan(dir)?;
    let (plan, local) = locate(dir, &file, index)?;
    let renumber = |task: TaskSpec| TaskSpec { index, ..task };
    Ok(match tasks::run_task(&plan, local, device, progress)? {
        TaskRun::Ran(task) => TaskRun::Ran(renumber(task)),
        TaskRun::AlreadyDone(task) => TaskRun::AlreadyDone(renumber(task)),
    })
}

/// The search plan's tasks not done yet, numbered as the search plan numbers them: the scoring
/// tasks while any is missing, then the verdict's once it is planned.
pub fn missing_search_tasks(dir: &Path) -> Result<Vec<MissingTask>, TaskError> {
    let file = load_search_plan(dir)?;
    let mut missing = Vec::new();
    let mut first = 0;
    for (i, point) in file.points.iter().enumerate() {
        let shift =
            |t: MissingTask| MissingTask { task: TaskSpec { index: t.task.index + first, ..t.task }, ..t };
        missing.extend(tasks::missing_tasks(&point_dir(dir, i))?.into_iter().map(shift));
        first += point.tasks;
    }
    let verdict = dir.join(VERDICT);
    if missing.is_empty() && verdict.join(tasks::PLAN_EXACT).exists() {
        let shift =
            |t: MissingTask| MissingTask { task: TaskSpec { index: t.task.index + first, ..t.task }, ..t };
        missing.extend(tasks::missing_tasks(&verdict)?.into_iter().map(shift));
    }
    Ok(missing)
}

/// Score every point and choose one, as `folio search` does; then plan the verdict, or if its
/// tasks are all done, merge it into the search's report. Every trial is recorded in `registry`,
/// the scoring tasks' (on a shorter cut of the verdict's data) and the verdict's.
pub fn merge_search(
    dir: &Path,
    registry: Option<PathBuf>,
    device: DeviceChoice,
    progress: Arc<dyn Progress>,
) -> Result<SearchMerge, TaskError> {
    let file = load_search_plan(dir)?;
    let missing = missing_search_tasks(dir)?;
    let verdict_dir = dir.join(VERDICT);
    // A scoring task is named as this plan's, even once the verdict is planned (a result lost
    // since): the point's own folder is no plan to run or merge by hand.
    let total = file.scoring_tasks();
    if missing.iter().any(|t| t.task.index < total) {
        return Err(TaskError::Incomplete { plan: dir.to_path_buf(), missing, total });
    }
    let mut scored = Vec::with_capacity(file.points.len());
    for (i, planned) in file.points.iter().enumerate() {
        let folder = point_dir(dir, i);
        let report = tasks::merge(&folder, registry.clone(), device, progress.clone())?;
        scored.push(ScoredPoint::new(planned.point.clone(), folder, &report));
    }
    let chosen = choose(&scored, file.space.rule)?;
    let spec = verdict_spec(&file.walk_forward, &file.space, &file.points[chosen].point)?;
    tasks::plan_walk_forward(spec, &verdict_dir)?;
    let missing = missing_search_tasks(dir)?;
    if !missing.is_empty() {
        return Ok(SearchMerge::VerdictPlanned { chosen, missing });
    }
    let verdict = tasks::merge(&verdict_dir, registry, device, progress)?;
    let periods_per_year = file.walk_forward.env.data.periods_per_year;
    let report = conclude_search(
        file.space,
        file.search_data_to,
        scored,
        periods_per_year,
        chosen,
        verdict,
        verdict_dir,
    );
    Ok(SearchMerge::Done(Box::new(report)))
}
