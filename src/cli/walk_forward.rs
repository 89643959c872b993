use anyhow::Result;
use clap::Args;
use std::path::{Path, PathBuf};

use super::train::TrainSetup;
use folio::backtest::rebalance::RebalanceRule;
use folio::eval::tasks::WalkForwardSpec;
use folio::eval::walk_forward::{WalkForwardConfig, WalkForwardReport, WalkForwardRequest, walk_forward};
use folio::registry;
use folio::report;

/// What a walk-forward is, as `folio walk-forward` and `folio plan walk-forward` both take it.
#[derive(Debug, Args)]
pub struct WalkForwardSetup {
    #[command(flatten)]
    pub setup: TrainSetup,
    /// Seeds per fold, trials for the overfitting statistics (default: the config's
    /// [walk_forward] seeds, else 3).
    #[arg(long, value_parser = super::args::at_least_one)]
    seeds: Option<usize>,
    /// Number of folds (default: the config's [walk_forward] folds, else 5, fitted to the data).
    #[arg(long, value_parser = super::args::at_least_one)]
    folds: Option<usize>,
    /// When targets are traded in the test windows, as for `folio eval`: every (alias daily),
    /// monthly, quarterly (dated data only) or band:X. The agents train as configured.
    #[arg(long, default_value = "every")]
    rebalance: RebalanceRule,
}

impl WalkForwardSetup {
    /// The request, and the config's stem for default folder names; what the data warns of is
    /// said on stderr.
    pub fn load(&self) -> Result<(WalkForwardSpec, String)> {
        let (env, sections, train) = self.setup.load()?;
        let chosen = WalkForwardConfig::layout_chosen(sections.walk_forward.as_ref());
        let mut config = WalkForwardConfig::from_table(
            sections.walk_forward,
            &self.setup.config,
            env.data.periods_per_year,
        )?;
        if let Some(seeds) = self.seeds {
            config.seeds = seeds;
        }
        if let Some(folds) = self.folds {
            config.folds = folds;
        }
        // Before the layout's note: a late listing or an early end is often why the data is short.
        super::warn_about_data(&env, "", false);
        if !chosen.windows {
            let (fitted, note) = config.fitted_to_data(&env, &train, chosen.folds || self.folds.is_some())?;
            if let Some(note) = note {
                eprintln!("note: {note}");
            }
            config = fitted;
        }
        let stem = self.setup.config_stem(&env);
        Ok((WalkForwardSpec { env, train, config, rebalance: self.rebalance }, stem))
    }
}

#[derive(Debug, Args)]
pub struct WalkForwardArgs {
    #[command(flatten)]
    walk_forward: WalkForwardSetup,
    #[command(flatten)]
    jobs: super::args::Jobs,
    /// Output folder (default: checkpoints/walk-forward-<config>, numbered if taken).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    replace: super::args::Replace,
    /// Continue the walk-forward that an interrupted run (Ctrl-C, a lost machine, a failure)
    /// left in --out, with the same config and flags: the trainings it finished are read back,
    /// the others run, and the report is the one an uninterrupted run writes.
    #[arg(long, requires = "out", conflicts_with = "force")]
    resume: bool,
    /// Trial registry that records every seed and whose trials on this data the Deflated Sharpe
    /// Ratio counts (default: $FOLIO_REGISTRY, else checkpoints/trials.jsonl).
    #[arg(long)]
    registry: Option<PathBuf>,
    #[command(flatten)]
    run: super::args::RunArgs,
}

pub fn run(args: WalkForwardArgs) -> Result<()> {
    let (WalkForwardSpec { env, train, config, rebalance }, stem) = args.walk_forward.load()?;
    let config_file = args.walk_forward.setup.config.clone();
    let registry = registry::resolve(args.registry);
    registry::check(&registry)?;
    let folder = args.replace.claim_resumable(
        args.out.as_deref(),
        &PathBuf::from("checkpoints").join(format!("walk-forward-{stem}")),
        args.resume,
        super::args::Resumable::WalkForward,
    )?;
    let out = folder.named().to_path_buf();
    let report = walk_forward(WalkForwardRequest {
        env,
        train,
        config,
        out: out.clone(),
        jobs: args.jobs.count,
        device: args.run.device(),
        progress: super::progress::shown(args.run.json),
        registry: Some(registry),
        rebalance,
        resume: args.resume,
    })
    .map_err(|error| {
        let mistake = error.is_config_mistake();
        let error = resumable(error, &out, args.resume);
        if mistake { super::config_named(error, &config_file) } else { error }
    })?;
    write_and_show(&out, &report, args.run.json)?;
    folder.finish();
    trials_recorded(&report)
}

/// Fails, once a walk-forward's report is written and shown, when the registry did not record
/// its trials (`folio walk-forward` and `folio merge` alike).
pub(super) fn trials_recorded(report: &WalkForwardReport) -> Result<()> {
    match &report.dsr_trials.registry_error {
        Some(problem) => Err(super::FailedAfterResults(format!(
            "the report is written, but this run's trials are not recorded: {problem}; the Deflated Sharpe Ratio counted this run's seeds only"
        ))
        .into()),
        None => Ok(()),
    }
}

/// A failed walk-forward's error, saying how to keep the trainings it finished: they stay in
/// `out`, and `--resume` reads them back.
fn resumable(error: folio::eval::EvalError, out: &Path, resumed: bool) -> anyhow::Error {
    use folio::eval::EvalError::{NothingToResume, ResumesAnotherRun};
    // A layout refused before the run started (named itself in `out`) left nothing to continue.
    let started = folio::eval::walk_forward::started_in(out);
    if matches!(error, NothingToResume { .. } | ResumesAnotherRun { .. }) || !started {
        return error.into();
    }
    let again = if resumed { "again " } else { "" };
    anyhow::anyhow!(
        "{}\nthe trainings this walk-forward finished are kept in {}: once that is mended, run the same \
         command {again}with --resume (and --out {}) to continue from them",
        crate::describe(&error.into()),
        out.display(),
        out.display()
    )
}

/// What `folio walk-forward` leaves and shows; `folio merge` leaves and shows the same.
pub fn write_and_show(out: &Path, report: &WalkForwardReport, json: bool) -> Result<()> {
    report::outputs::write_walk_forward(out, report)?;
    report::html::write_run_page(out, &report::html::Provenance::of_this_process())?;
    if json {
        return super::print_json_in(report, out);
    }
    print!("{}", report::text::walk_forward(report));
    println!(
        "\nwrote report.json, summary.md, equity.csv, walk_forward.png, cost_sensitivity.png and report.html to {}",
        out.display()
    );
    Ok(())
}
