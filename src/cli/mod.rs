//! The `folio` command line: parses arguments and calls the library. Nothing here computes
//! anything a test or benchmark would need; it only wires library calls to files and the terminal.

mod args;
mod bench;
mod data;
mod env;
mod eval;
mod explain;
mod panel;
mod plot;
mod probe;
mod progress;
mod rebalance;
mod report;
mod risk;
mod search;
mod stress;
mod tasks;
mod tax;
mod train;
mod trials;
mod walk_forward;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// What a user who stops this run (Ctrl-C) should be told, beyond the folders being replaced:
/// how to continue the work it leaves.
static ON_INTERRUPT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Say `message` if the run is interrupted.
pub(crate) fn say_if_interrupted(message: String) {
    if let Ok(mut messages) = ON_INTERRUPT.lock() {
        messages.push(message);
    }
}

/// What [`say_if_interrupted`] was given, for the interrupt handler.
pub(crate) fn interrupt_messages() -> Vec<String> {
    ON_INTERRUPT.lock().map(|m| m.clone()).unwrap_or_default()
}

#[derive(Debug, Parser)]
#[command(
    name = "folio",
    version = folio::BUILD,
    about = "Train reinforcement-learning portfolio agents and prove out of sample whether they are any good"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect price files and generate synthetic markets.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Check a market environment.
    #[command(subcommand)]
    Env(env::EnvCommand),
    /// Train an agent and save a checkpoint.
    Train(train::TrainArgs),
    /// Backtest a checkpoint's agent beside every baseline over any period.
    Eval(eval::EvalArgs),
    /// How much each input group pushed each weight, at one decision or over a period.
    Explain(explain::ExplainArgs),
    /// Run baseline strategies alone.
    Backtest(eval::BacktestArgs),
    /// Train and test on rolling held-out periods, with overfitting statistics.
    WalkForward(walk_forward::WalkForwardArgs),
    /// Walk forward on several markets and compare the agent with the baselines in one table.
    Panel(panel::PanelArgs),
    /// Split a walk-forward into independent tasks for a cluster's array jobs.
    #[command(subcommand)]
    Plan(tasks::PlanCommand),
    /// Run one task of a plan (index from --index or the array job's variable).
    RunTask(tasks::RunTaskArgs),
    /// Merge a plan's finished tasks into exactly what `folio walk-forward` writes.
    Merge(tasks::MergeArgs),
    /// Search hyperparameters on early folds, judge the best on held-out folds it never saw.
    Search(search::SearchArgs),
    /// Redraw the pictures of a saved report or checkpoint.
    Plot(plot::PlotArgs),
    /// One HTML tearsheet from saved eval, walk-forward and backtest folders, side by side.
    Report(report::ReportArgs),
    /// Sanity probes: an oracle that sees tomorrow, a placebo with shuffled returns, collapse checks.
    Probe(probe::ProbeArgs),
    /// Stress a checkpoint's agent beside the baselines: historical crises and synthetic shocks.
    Stress(stress::StressArgs),
    /// Replay policies in tax lots: after-tax wealth, taxes paid, wash sales and tax-loss harvesting.
    Tax(tax::TaxArgs),
    /// List the trials recorded in the trial registry, with a count per data set.
    Trials(trials::TrialsArgs),
    /// Measure environment and training throughput with the same shape of work as the Python peers.
    Bench(bench::BenchArgs),
}

pub fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Data(command) => data::run(command),
        Command::Env(command) => env::run(command),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::eval(args),
        Command::Explain(args) => explain::run(args),
        Command::Backtest(args) => eval::backtest(args),
        Command::WalkForward(args) => walk_forward::run(args),
        Command::Panel(args) => panel::run(args),
        Command::Plan(command) => tasks::plan(command),
        Command::RunTask(args) => tasks::run_task(args),
        Command::Merge(args) => tasks::merge(args),
        Command::Search(args) => search::run(args),
        Command::Plot(args) => plot::run(args),
        Command::Report(args) => report::run(args),
        Command::Probe(args) => probe::run(args),
        Command::Stress(args) => stress::run(args),
        Command::Tax(args) => tax::run(args),
        Command::Trials(args) => trials::run(args),
        Command::Bench(args) => bench::run(args),
    }
}

/// What a run should know about its data before it starts, on stderr, each line led by `market`
/// (empty for a single market): an asset that shrinks the range at either end, jumps that look
/// like data errors, stretches of missing rows, one asset that an anchored network cannot move, a
/// `periods_per_year` that does not match the rows. A file that does not load
/// is left for the run itself to report. `flag_sets_frequency` when `--periods-per-year` (or the
/// rows of a `--data` file), not the config, set `periods_per_year`.
fn warn_about_data(env: &folio::env::config::EnvConfig, market: &str, flag_sets_frequency: bool) {
    let Ok(selection) = env.data.selection() else {
        return;
    };
    if let Some(late) = &selection.started_by {
        eprintln!("{market}note: {late}");
    }
    if let Some(early) = &selection.ended_by {
        eprintln!("{market}note: {early}");
    }
    for doubt in folio::data::inspect::doubts(&selection.panel) {
        eprintln!("{market}warning: {}", doubt.text);
    }
    let reference = env.features.reference;
    if selection.panel.n_assets() == 1 && reference.anchors() {
        // An anchored network tilts among the assets and holds cash at the reference's share.
        let managed = match reference {
            folio::features::Reference::VolatilityManaged => "",
            _ => "; \"volatility_managed\" times it by its risk without training",
        };
        eprintln!(
            "{market}note: one asset and a reference portfolio (features.reference): a network tilts among \
             the assets only, so whatever it learns it holds what the reference holds. reference = \"none\" \
             lets a network time the asset against cash{managed}"
        );
    }
    let periods_per_year = env.data.periods_per_year;
    if let Some(mut mismatch) = folio::data::inspect::frequency_mismatch(&selection.panel, periods_per_year) {
        if flag_sets_frequency {
            mismatch.source = folio::data::inspect::AnnualizationSource::Flag;
        }
        eprintln!("{market}warning: {mismatch}");
    } else if let Some((_, frequency)) = folio::data::inspect::usual_frequency(&selection.panel)
        .filter(|&(usual, _)| usual == periods_per_year && usual != 252.0)
    {
        // Said whenever it is not the daily default, since a config may have left it to the rows.
        eprintln!(
            "{market}note: {frequency} rows: figures are annualized with periods_per_year = {periods_per_year}"
        );
    }
}

/// A failure that a command's results report once they are written and shown: a probe that
/// failed, a panel market that failed, trials the registry did not record. It exits with
/// [`FAILED_AFTER_RESULTS`], so that a script tells it from a command that could not run (1) or
/// was called wrongly (2), and knows that stdout and the output folder hold the results.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FailedAfterResults(pub String);

/// The exit status of a [`FailedAfterResults`].
pub const FAILED_AFTER_RESULTS: u8 = 3;

/// Print `value` as pretty JSON on stdout.
fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Print a report (a JSON object) with `folder`, where its outputs were written, as its first
/// field: a default folder is numbered when taken, so a script could not know it otherwise.
fn print_json_in(report: &impl serde::Serialize, folder: &std::path::Path) -> Result<()> {
    #[derive(serde::Serialize)]
    struct Written<'a, T: serde::Serialize> {
        folder: PathBuf,
        #[serde(flatten)]
        report: &'a T,
    }
    print_json(&Written { folder: absolute(folder), report })
}

/// `path` from the root, so that it names the same place wherever a script reads it.
fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `error`, naming `config` when mending that file is what it asks (a span, window or fold
/// layout that does not fit the data is found only once the settings meet the data, so the
/// library's message cannot name the file it read them from).
fn naming_config(error: anyhow::Error, config: &std::path::Path) -> anyhow::Error {
    use folio::{env::EnvError, eval::EvalError, eval::probe::ProbeError, train::TrainError};
    let mistake = error.downcast_ref::<EvalError>().is_some_and(EvalError::is_config_mistake)
        || error.downcast_ref::<ProbeError>().is_some_and(ProbeError::is_config_mistake)
        || error.downcast_ref::<TrainError>().is_some_and(TrainError::is_config_mistake)
        || error.downcast_ref::<EnvError>().is_some_and(EnvError::is_config_mistake);
    if mistake { config_named(error, config) } else { error }
}

fn config_named(error: anyhow::Error, config: &std::path::Path) -> anyhow::Error {
    let name = format!("config {}", config.display());
    if error.to_string().contains(&name) { error } else { error.context(name) }
}

/// A checkpoint trained for online learning keeps learning only in a walk-forward's test
/// windows; `command` acts on its network as saved, and says so rather than let its figures
/// pass for the learning agent's.
fn note_online_learning(checkpoint: &std::path::Path, command: &str) {
    // Not `checkpoints_in`, whose warning of missing seeds the command itself gives.
    let first = match checkpoint.join(folio::train::checkpoint::META).exists() {
        true => Some(checkpoint.to_path_buf()),
        false => folio::train::seed_folders(checkpoint).into_iter().next(),
    };
    let Some(meta) = first.and_then(|dir| folio::train::checkpoint::load_meta(&dir).ok()) else { return };
    if meta.train.online_steps > 0 {
        eprintln!(
            "note: this agent was trained with online_steps = {}; {command} acts on its network as saved, \
             without learning online (only walk-forward learns in its test windows)",
            meta.train.online_steps
        );
    }
}
