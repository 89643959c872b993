//! `folio plan`, `folio run-task` and `folio merge`: a walk-forward as independent tasks for an
//! array scheduler, and their merge into the report `folio walk-forward` writes.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use std::path::PathBuf;

use folio::eval::search::SearchSpace;
use folio::eval::search_plan::{self, SearchMerge};
use folio::eval::tasks::{self, TaskRun};
use folio::registry;

/// The variables array schedulers set to a task's index: Slurm job arrays, Kubernetes Indexed
/// Jobs, HyperQueue.
const INDEX_VARIABLES: [&str; 3] = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX", "HQ_TASK_ID"];

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Plan a walk-forward: one task per fold and seed, run by `folio run-task`.
    WalkForward(PlanWalkForwardArgs),
    /// Plan a hyperparameter search: every point's search folds and seeds as tasks; `folio
    /// merge` then chooses the point and plans the verdict's tasks, and, merged again, writes
    /// what `folio search` writes.
    Search(PlanSearchArgs),
}

/// A walk-forward plan's arguments, and the space whose points it searches.
#[derive(Debug, Args)]
pub struct PlanSearchArgs {
    /// The search space (TOML), as for `folio search`.
    #[arg(long)]
    space: PathBuf,
    #[command(flatten)]
    plan: PlanWalkForwardArgs,
}

#[derive(Debug, Args)]
pub struct PlanWalkForwardArgs {
    #[command(flatten)]
    walk_forward: super::walk_forward::WalkForwardSetup,
    /// The plan folder: shared by every node that runs a task and by the merge.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    json: super::args::JsonArgs,
}

pub fn plan(command: PlanCommand) -> Result<()> {
    let args = match command {
        PlanCommand::WalkForward(args) => args,
        PlanCommand::Search(args) => return plan_search(args),
    };
    let (spec, _) = args.walk_forward.load()?;
    refuse_foreign_folder(&args.out, tasks::PLAN_EXACT)?;
    let plan = tasks::plan_walk_forward(spec, &args.out)?;
    if args.json.json {
        return super::print_json_in(&plan, &args.out);
    }
    println!("planned {} tasks (folds x seeds) in {}", plan.tasks.len(), args.out.display());
    show_how_to_run(&args.out, &(0..plan.tasks.len()).collect::<Vec<_>>());
    Ok(())
}

fn plan_search(args: PlanSearchArgs) -> Result<()> {
    let text = folio::files::read_text_or_bundled(&args.space)
        .with_context(|| format!("reading {}", args.space.display()))?;
    let space = SearchSpace::from_toml(&text, &args.space)?;
    let PlanWalkForwardArgs { walk_forward, out, json } = args.plan;
    let (spec, _) = walk_forward.load()?;
    refuse_foreign_folder(&out, search_plan::SEARCH_PLAN_EXACT)?;
    let plan = search_plan::plan_search(spec, space, &out)
        .map_err(|error| super::search::naming_space(error.into(), &args.space))?;
    if json.json {
        return super::print_json_in(&plan, &out);
    }
    let n = plan.scoring_tasks();
    let points = plan.points.len();
    println!("planned {n} scoring tasks ({points} points x search folds x seeds) in {}", out.display());
    show_how_to_run(&out, &(0..n).collect::<Vec<_>>());
    println!("the merge chooses the point and plans the verdict's tasks; run those, then merge again");
    Ok(())
}

/// A plan goes into a new or empty folder, or one holding the same plan (planning again changes
/// nothing): a folder of the user's own would have its `plan.json` or a later `report.json`
/// written over.
fn refuse_foreign_folder(out: &std::path::Path, plan_file: &str) -> Result<()> {
    if out.exists() && !out.is_dir() {
        bail!("{} exists and is not a folder: plan into a new or empty folder", out.display());
    }
    // The lock a planner takes while it writes is folio's own: another plan's, in progress or done.
    let occupied = std::fs::read_dir(out)
        .is_ok_and(|entries| entries.flatten().any(|entry| entry.file_name() != folio::files::LOCK_FILE));
    if occupied && !out.join(plan_file).is_file() {
        bail!("{} holds files that are not a folio plan: plan into a new or empty folder", out.display());
    }
    Ok(())
}

/// How to run the tasks `indices` of the plan in `dir`, then merge them.
fn show_how_to_run(dir: &std::path::Path, indices: &[usize]) {
    let dir = dir.display();
    println!("run them with: scripts/slurm-submit.sh {dir}   (Slurm job array, then the merge)");
    println!("           or: scripts/run-local.sh {dir} JOBS  (this machine, JOBS at a time)");
    println!(
        "           or: folio run-task {dir} --index I  for I in {}, then folio merge {dir}",
        index_list(indices)
    );
}

/// Task indices as a range when they follow each other, else as `--missing` lists them.
fn index_list(indices: &[usize]) -> String {
    match (indices.first(), indices.last()) {
        (Some(&first), Some(&last)) if last - first + 1 == indices.len() => format!("{first}..={last}"),
        _ => indices.iter().map(usize::to_string).collect::<Vec<_>>().join(","),
    }
}

#[derive(Debug, Args)]
pub struct RunTaskArgs {
    /// The plan folder.
    plan: PathBuf,
    /// Which task (default: $SLURM_ARRAY_TASK_ID, $JOB_COMPLETION_INDEX or $HQ_TASK_ID).
    #[arg(long)]
    index: Option<usize>,
    /// Run nothing: print the indices of the tasks not done yet, comma-separated, or nothing
    /// when all are done (with --json, a JSON array).
    #[arg(long, conflicts_with = "index")]
    missing: bool,
    #[command(flatten)]
    run: super::args::RunArgs,
}

pub fn run_task(args: RunTaskArgs) -> Result<()> {
    if args.missing {
        let missing = match search_plan::is_search_plan(&args.plan) {
            true => search_plan::missing_search_tasks(&args.plan)?,
            false => tasks::missing_tasks(&args.plan)?,
        };
        if args.run.json {
            return super::print_json(&missing.iter().map(|t| t.task.index).collect::<Vec<_>>());
        }
        // Stdout stays the bare list that scripts read; a task that ran but whose result cannot
        // be used says why on stderr, since rerunning it blindly would fail the same way.
        for missing in &missing {
            if let Some(why) = missing.damage() {
                eprintln!("task {} ({}): {why}", missing.task.index, missing.task.id);
            }
        }
        println!("{}", tasks::missing_list(&missing));
        return Ok(());
    }
    let index = match args.index {
        Some(index) => index,
        None => index_from_environment()?,
    };
    let progress = super::progress::shown(args.run.json);
    let outcome = match search_plan::is_search_plan(&args.plan) {
        true => search_plan::run_search_task(&args.plan, index, args.run.device(), progress)?,
        false => tasks::run_task(&args.plan, index, args.run.device(), progress)?,
    };
    if args.run.json {
        return super::print_json(&outcome);
    }
    match outcome {
        TaskRun::Ran(t) => println!("task {} (fold {}, seed {}) done: {}", t.index, t.fold + 1, t.seed, t.id),
        TaskRun::AlreadyDone(t) => println!("task {} was already done ({}): nothing to do", t.index, t.id),
    }
    Ok(())
}

fn index_from_environment() -> Result<usize> {
    for name in INDEX_VARIABLES {
        if let Ok(value) = std::env::var(name) {
            return value.trim().parse().with_context(|| format!("{name}={value} is not a task index"));
        }
    }
    bail!("no task index: pass --index N, or run under an array job that sets {}", INDEX_VARIABLES.join(", "))
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The plan folder.
    plan: PathBuf,
    /// Where to write the walk-forward's outputs (default: the plan folder). A folder that
    /// holds anything already needs --force, as for `folio walk-forward --out`.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    replace: super::args::Replace,
    /// Trial registry, as for `folio walk-forward`; a plan merged again counts its trials once
    /// (default: $FOLIO_REGISTRY, else checkpoints/trials.jsonl).
    #[arg(long)]
    registry: Option<PathBuf>,
    #[command(flatten)]
    run: super::args::RunArgs,
}

pub fn merge(args: MergeArgs) -> Result<()> {
    let progress = super::progress::shown(args.run.json);
    let registry = registry::resolve(args.registry.clone());
    // A registry that cannot be written stops the merge before its work, as it stops a walk-forward.
    registry::check(&registry)?;
    if search_plan::is_search_plan(&args.plan) {
        return merge_search(args, Some(registry), progress);
    }
    let claimed = claim_merge_folder(&args)?;
    let report = tasks::merge(&args.plan, Some(registry), args.run.device(), progress)?;
    let out = args.out.unwrap_or(args.plan);
    super::walk_forward::write_and_show(&out, &report, args.run.json)?;
    if let Some(claimed) = claimed {
        claimed.finish();
    }
    super::walk_forward::trials_recorded(&report)
}

/// An `--out` other than the plan folder is claimed as every output folder is: new or empty, or
/// replaced as a whole with --force.
fn claim_merge_folder(args: &MergeArgs) -> Result<Option<folio::files::OutputFolder>> {
    // `./plan` and `plan` are one folder: compared as the file system resolves them.
    let same = |a: &std::path::Path, b: &std::path::Path| {
        a == b
            || std::fs::canonicalize(a).ok().is_some_and(|a| std::fs::canonicalize(b).is_ok_and(|b| a == b))
    };
    match &args.out {
        Some(out) if !same(out, &args.plan) => {
            Ok(Some(folio::files::OutputFolder::claim(out, args.replace.force)?))
        }
        _ => Ok(None),
    }
}

fn merge_search(
    args: MergeArgs,
    registry: Option<PathBuf>,
    progress: std::sync::Arc<dyn folio::progress::Progress>,
) -> Result<()> {
    let claimed = claim_merge_folder(&args)?;
    match search_plan::merge_search(&args.plan, registry, args.run.device(), progress)? {
        SearchMerge::Done(mut report) => {
            let out = args.out.unwrap_or(args.plan);
            report.verdict_folder = out.join(search_plan::VERDICT);
            super::search::write_and_show(&out, &report, args.run.json)?;
            if let Some(claimed) = claimed {
                claimed.finish();
            }
            super::search::verdict_trials_recorded(&report)
        }
        SearchMerge::VerdictPlanned { chosen, missing } => {
            if args.run.json {
                return super::print_json(&SearchMerge::VerdictPlanned { chosen, missing });
            }
            let indices: Vec<usize> = missing.iter().map(|t| t.task.index).collect();
            println!(
                "point {chosen} chosen; its verdict on the held-out folds is planned: {} tasks to run",
                indices.len()
            );
            show_how_to_run(&args.plan, &indices);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::index_list;

    #[test]
    fn indices_read_as_a_range_only_when_they_follow_each_other() {
        assert_eq!(index_list(&[12, 13, 14]), "12..=14");
        assert_eq!(index_list(&[12, 14]), "12,14");
        assert_eq!(index_list(&[3]), "3..=3");
    }
}
