use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};

use folio::eval::panel::{PanelOptions, PanelRow, PlannedMarket, plan_markets, record_markets, run_markets};
use folio::eval::walk_forward::{WalkForwardRequest, walk_forward};
use folio::registry;
use folio::report;

#[derive(Debug, Args)]
pub struct PanelArgs {
    /// Environment configs (TOML), one market each; each runs its own [train] and
    /// [walk_forward] tables.
    #[arg(required = true)]
    configs: Vec<PathBuf>,
    /// Walk forward over each market's training and validation data only (its test period
    /// dropped): how defaults are chosen without looking at the test periods.
    #[arg(long)]
    development: bool,
    /// Environment steps per training (default: each config's).
    #[arg(long, value_parser = super::args::at_least_one)]
    steps: Option<usize>,
    /// Seeds per fold (default: each config's).
    #[arg(long, value_parser = super::args::at_least_one)]
    seeds: Option<usize>,
    #[command(flatten)]
    jobs: super::args::Jobs,
    /// Output folder: one walk-forward folder per market, panel.json, panel.md and report.html
    /// (default: a new checkpoints/panel[-N], or checkpoints/panel-development[-N]).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    replace: super::args::Replace,
    /// Continue the panel that an interrupted or partly failed run left in --out, with the same
    /// configs and flags: every training its markets finished is read back, and the rest run.
    #[arg(long, requires = "out", conflicts_with = "force")]
    resume: bool,
    /// Trial registry (default: $FOLIO_REGISTRY, else checkpoints/trials.jsonl).
    #[arg(long)]
    registry: Option<PathBuf>,
    #[command(flatten)]
    run: super::args::RunArgs,
}

pub fn run(args: PanelArgs) -> Result<()> {
    let default = if args.development { "panel-development" } else { "panel" };
    let base = PathBuf::from("checkpoints").join(default);
    // Every market is checked before the folder is claimed: --force sets the old folder aside,
    // and a market's data may live in it.
    let planned = args.out.clone().unwrap_or_else(|| folio::files::fresh_folder(&base));
    let mut markets = plan_markets(&args.configs, &options(&args)?, &planned)?;
    for PlannedMarket { name, note, .. } in &markets {
        if let Some(note) = note {
            eprintln!("{name}: note: {note}");
        }
    }
    let claimed = args.replace.claim_resumable(
        args.out.as_deref(),
        &base,
        args.resume,
        super::args::Resumable::Panel,
    )?;
    // Another run may have taken the planned name in the meantime: the claim moved to the next.
    let out = claimed.named().to_path_buf();
    for market in &mut markets {
        market.request.out = out.join(&market.name);
    }
    record_markets(&out, &markets, args.resume)?;
    let requests: Vec<(String, WalkForwardRequest)> =
        markets.into_iter().map(|market| (market.name, market.request)).collect();
    let markets = requests.len();
    let (finished, failed, unrecorded) = run_every_market(requests);
    let names: Vec<&str> = failed.iter().map(|f| f.market.as_str()).collect();
    let failures = format!("{} of {markets} markets failed ({})", failed.len(), names.join(", "));
    // With nothing to show, or with earlier outputs that --force set aside (a user's own files
    // may be among them), a failure fails the panel as a whole: the claim, dropped, removes this
    // run's outputs and puts the earlier ones back.
    if finished.is_empty() {
        bail!("{failures}");
    }
    if !failed.is_empty() && claimed.replaces_earlier_outputs() {
        bail!(
            "{failures}, so {} is put back as it was and the markets that finished are discarded \
             with this run; run the panel into a new --out to keep a partial one",
            out.display()
        );
    }
    let (rows, folders): (Vec<PanelRow>, Vec<PathBuf>) = finished.into_iter().unzip();
    report::write_json(&out.join("panel.json"), &rows)?;
    let failures_file = out.join("panel-failures.json");
    if !failed.is_empty() {
        // Beside the rows rather than among them, so that panel.json keeps one shape.
        report::write_json(&failures_file, &failed)?;
    } else if args.resume && failures_file.exists() {
        // The failures of the run this one resumed are mended.
        std::fs::remove_file(&failures_file)
            .with_context(|| format!("removing {}", failures_file.display()))?;
    }
    // Every market's tearsheet side by side in one page.
    let page = out.join(report::html::PAGE);
    report::html::write_runs_page(&folders, &page, &report::html::Provenance::of_this_process())?;
    report::write_text(&out.join("panel.md"), &report::markdown::panel(&rows, &failed, args.development))?;
    // The markets that finished are a result, kept even when another failed.
    claimed.finish();
    if args.run.json {
        print_json(&out, &rows, &folders, &failed)?;
    } else {
        print!("{}", report::text::panel(&rows, &failed));
        println!(
            "\nwrote panel.json, panel.md, report.html (every market side by side) and one walk-forward folder per market to {}",
            out.display()
        );
    }
    after_the_table(&out, &failures, !failed.is_empty(), &unrecorded)
}

/// What every market shares, from the flags; the registry is checked before anything trains.
fn options(args: &PanelArgs) -> Result<PanelOptions> {
    let registry = registry::resolve(args.registry.clone());
    registry::check(&registry)?;
    Ok(PanelOptions {
        development: args.development,
        steps: args.steps,
        seeds: args.seeds,
        jobs: args.jobs.count,
        device: args.run.device(),
        registry,
        resume: args.resume,
        progress: super::progress::shown(args.run.json),
    })
}

/// What the panel exits with once its table is written: the failed markets, if any, else the
/// markets whose trials went unrecorded, each with how `--resume` mends it.
fn after_the_table(out: &Path, failures: &str, any_failed: bool, unrecorded: &[String]) -> Result<()> {
    match (any_failed, unrecorded.is_empty()) {
        (false, true) => Ok(()),
        (true, _) => Err(super::FailedAfterResults(format!(
            "{failures}; the table in {} holds the others, and once the cause is mended the same command with \
             --resume (and --out {}) runs the failed markets, reading back every training that finished",
            out.display(),
            out.display()
        ))
        .into()),
        (false, false) => Err(super::FailedAfterResults(format!(
            "the table in {} is written, but the trials of {} are not recorded in the trial registry (see above), \
             so their Deflated Sharpe Ratios counted their own seeds only; once the registry is mended, the same \
             command with --resume (and --out {}) records them",
            out.display(),
            unrecorded.join(", "),
            out.display()
        ))
        .into()),
    }
}

/// Every market's walk-forward, one after another: the rows and folders of those that finished,
/// the failures, and the markets whose report is written but whose trials the registry did not
/// take (the panel says so and fails at the end, as a walk-forward does).
fn run_every_market(
    requests: Vec<(String, WalkForwardRequest)>,
) -> (Vec<(PanelRow, PathBuf)>, Vec<folio::eval::panel::PanelFailure>, Vec<String>) {
    let mut unrecorded: Vec<String> = Vec::new();
    let (finished, failed) = run_markets(requests, |market, request| {
        let (row, folder, problem) = run_market(market, request).map_err(|error| {
            let error = crate::describe(&error);
            eprintln!("{market}: failed: {error}");
            error
        })?;
        if let Some(problem) = problem {
            eprintln!("{market}: its trials are not recorded: {problem}");
            unrecorded.push(market.to_string());
        }
        Ok::<_, String>((row, folder))
    });
    (finished, failed, unrecorded)
}

/// The panel as JSON: an object, unlike panel.json's bare rows, that says where everything went
/// (the panel's folder, each row's walk-forward folder) and what failed.
fn print_json(
    out: &Path,
    rows: &[PanelRow],
    folders: &[PathBuf],
    failed: &[impl serde::Serialize],
) -> Result<()> {
    #[derive(serde::Serialize)]
    struct Panel<'a, F: serde::Serialize> {
        folder: PathBuf,
        rows: &'a [PanelRow],
        /// Each row's walk-forward folder, in the order of `rows`.
        market_folders: Vec<PathBuf>,
        failed: &'a [F],
    }
    super::print_json(&Panel {
        folder: super::absolute(out),
        rows,
        market_folders: folders.iter().map(|folder| super::absolute(folder)).collect(),
        failed,
    })
}

/// One market's walk-forward, its outputs written into its folder: its panel row, that folder,
/// and why its trials are not in the registry if they are not.
fn run_market(market: &str, request: WalkForwardRequest) -> Result<(PanelRow, PathBuf, Option<String>)> {
    eprintln!("{market}: walk-forward into {}", request.out.display());
    super::warn_about_data(&request.env, &format!("{market}: "), false);
    let market_folder = request.out.clone();
    let wf = walk_forward(request)?;
    report::outputs::write_walk_forward(&market_folder, &wf)?;
    report::html::write_run_page(&market_folder, &report::html::Provenance::of_this_process())?;
    let unrecorded = wf.dsr_trials.registry_error.clone();
    Ok((PanelRow::of(market, &wf), market_folder, unrecorded))
}
