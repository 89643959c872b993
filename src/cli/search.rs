//! `folio search`: a hyperparameter search scored on search folds, judged on held-out folds.

use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

use folio::eval::search::{SearchReport, SearchRequest, SearchSpace, search};
use folio::registry;

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The search space (TOML): sampler (grid or random), points, seed, holdout_folds, and a
    /// [params] table of parameter paths (train.learning_rate, ...) with their values.
    #[arg(long)]
    space: PathBuf,
    #[command(flatten)]
    walk_forward: super::walk_forward::WalkForwardSetup,
    #[command(flatten)]
    jobs: super::args::Jobs,
    /// Output folder: search.json, points/point-N/ and verdict/ (default: a new
    /// checkpoints/search[-N]).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    replace: super::args::Replace,
    /// Continue the search that an interrupted run left in --out, with the same space, config
    /// and flags: every training its walk-forwards finished is read back, and the rest run.
    #[arg(long, requires = "out", conflicts_with = "force")]
    resume: bool,
    /// Trial registry that records the seeds of every point and of the verdict (default:
    /// $FOLIO_REGISTRY, else checkpoints/trials.jsonl).
    #[arg(long)]
    registry: Option<PathBuf>,
    #[command(flatten)]
    run: super::args::RunArgs,
}

pub fn run(args: SearchArgs) -> Result<()> {
    let text = folio::files::read_text_or_bundled(&args.space)
        .with_context(|| format!("reading {}", args.space.display()))?;
    let space = SearchSpace::from_toml(&text, &args.space)?;
    let (spec, _) = args.walk_forward.load()?;
    let config_file = args.walk_forward.setup.config.clone();
    let registry = registry::resolve(args.registry);
    registry::check(&registry)?;
    let claimed = args.replace.claim_resumable(
        args.out.as_deref(),
        Path::new("checkpoints/search"),
        args.resume,
        super::args::Resumable::Search,
    )?;
    let out = claimed.named().to_path_buf();
    let report = search(SearchRequest {
        spec,
        space,
        out: out.clone(),
        jobs: args.jobs.count,
        device: args.run.device(),
        progress: super::progress::shown(args.run.json),
        registry: Some(registry),
        resume: args.resume,
    })
    .map_err(|error| match error {
        // A setting's error names its key; the space's own (a point that does not fit) name
        // the space file too.
        folio::eval::EvalError::Setting(_) => naming_space(error.into(), &args.space),
        error => super::naming_config(error.into(), &config_file),
    })?;
    write_and_show(&out, &report, args.run.json)?;
    claimed.finish();
    verdict_trials_recorded(&report)
}

/// `error` with the space file named, when it is the space's mistake (a point that does not
/// fit, as a config's mistake names the config), from a search or its plan.
pub(super) fn naming_space(error: anyhow::Error, space: &Path) -> anyhow::Error {
    use folio::eval::{EvalError, tasks::TaskError};
    let setting = match (error.downcast_ref::<EvalError>(), error.downcast_ref::<TaskError>()) {
        (Some(EvalError::Setting(setting)), _) | (_, Some(TaskError::Eval(EvalError::Setting(setting)))) => {
            Some(setting)
        }
        _ => None,
    };
    if setting.is_some_and(|s| s.setting.starts_with("search.")) {
        error.context(format!("search space {}", space.display()))
    } else {
        error
    }
}

/// Fails, once a search's report is written and shown, when the registry did not record its
/// verdict's trials (`folio search` and `folio merge` of a search plan alike).
pub(super) fn verdict_trials_recorded(report: &SearchReport) -> Result<()> {
    match &report.verdict.dsr_trials.registry_error {
        Some(problem) => Err(super::FailedAfterResults(format!(
            "the report is written, but the verdict's trials are not recorded: {problem}; its Deflated Sharpe Ratio counted this search's trials only"
        ))
        .into()),
        None => Ok(()),
    }
}

/// `search.json` in `out`, the verdict's walk-forward outputs in its folder, and the table.
pub fn write_and_show(out: &Path, report: &SearchReport, json: bool) -> Result<()> {
    folio::report::write_json(&out.join("search.json"), report)?;
    let verdict = &report.verdict_folder;
    folio::report::outputs::write_walk_forward(verdict, &report.verdict)?;
    if json {
        return super::print_json_in(report, out);
    }
    for (i, point) in report.points.iter().enumerate() {
        let mark = if i == report.chosen { "*" } else { " " };
        let behind = match &point.behind_best {
            Some(gap) => format!("{:.2} +/- {:.2} behind the best", gap.difference, gap.standard_error),
            None => String::new(),
        };
        println!(
            "{mark} point {i:>3}  search Sharpe {:>6.2}  {behind:<30}  {}",
            point.score,
            serde_json::to_string(&point.point)?
        );
    }
    println!("\n{}", report.summary);
    println!(
        "wrote search.json to {} and the verdict's walk-forward to {}",
        out.display(),
        verdict.display()
    );
    Ok(())
}
