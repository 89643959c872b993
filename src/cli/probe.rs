use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

use super::train::TrainSetup;
use folio::eval::probe::{self, ProbeKind, ProbeSetup};
use folio::files::OutputFolder;

/// Environment steps per probe training unless `--steps` says otherwise (or the config asks for
/// fewer): probes are short runs, three of them per call.
pub const DEFAULT_PROBE_STEPS: usize = 50_000;

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Steps per probe training default to the config's, at most 50000; the seed also seeds
    /// the placebo's shuffle.
    #[command(flatten)]
    setup: TrainSetup,
    /// Which probes to run (repeatable; default: oracle, placebo and collapse).
    #[arg(long, value_enum)]
    probe: Vec<super::args::ProbeArg>,
    /// Folder for the probes' checkpoints (default: a new checkpoints/probe-<config>[-N]).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    replace: super::args::Replace,
    #[command(flatten)]
    run: super::args::RunArgs,
}

pub fn run(args: ProbeArgs) -> Result<()> {
    let (env, _, mut train) = args.setup.load()?;
    if args.setup.steps.is_none() {
        train.steps = train.steps.min(DEFAULT_PROBE_STEPS);
    }
    let stem = args.setup.config_stem(&env);
    let claimed = args.out.as_deref().map(|out| OutputFolder::claim(out, args.replace.force)).transpose()?;
    let claimed =
        OutputFolder::or_fresh(claimed, &PathBuf::from("checkpoints").join(format!("probe-{stem}")))?;
    let out = claimed.named().to_path_buf();
    let probes = if args.probe.is_empty() {
        vec![ProbeKind::Oracle, ProbeKind::Placebo, ProbeKind::Collapse]
    } else {
        super::args::first_of_each(args.probe.into_iter().map(ProbeKind::from))
    };
    if !args.run.json {
        eprintln!(
            "probing {} with {} on {}: {} steps per training (seed {}) -> {}",
            train.algo.name(),
            train.net.kind.name(),
            args.setup.config.display(),
            train.steps,
            train.seed,
            out.display()
        );
    }
    let setup = ProbeSetup { env, train, out: out.clone(), device: args.run.device() };
    let results = probe::run(&setup, &probes)
        .map_err(|error| super::naming_config(error.into(), &args.setup.config))?;
    claimed.finish();
    if args.run.json {
        #[derive(serde::Serialize)]
        struct Probes<'a> {
            folder: PathBuf,
            probes: &'a [probe::ProbeResult],
        }
        super::print_json(&Probes { folder: super::absolute(&out), probes: &results })?;
    } else {
        print_table(&results);
    }
    fail_on_failed_probes(&results)
}

/// A probe that fails says the learner is broken or something leaks, so the command fails, as a
/// failing test does, after it has shown every result.
fn fail_on_failed_probes(results: &[probe::ProbeResult]) -> Result<()> {
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r.verdict == probe::Verdict::Fail)
        .map(|r| format!("{:?}", r.probe).to_lowercase())
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(super::FailedAfterResults(format!(
        "{} failed: {}",
        folio::report::count(failed.len(), "probe"),
        failed.join(", ")
    ))
    .into())
}

fn print_table(results: &[probe::ProbeResult]) {
    println!(
        "{:<9} {:<8} {:>23} {:>8} {:>8} {:>10}  what it means",
        "probe", "verdict", "period", "agent", "EW", "threshold"
    );
    for r in results {
        println!(
            "{:<9} {:<8} {:>23} {:>8.2} {:>8.2} {:>10}  {}",
            format!("{:?}", r.probe).to_lowercase(),
            format!("{:?}", r.verdict).to_uppercase(),
            format!("{}..{}", r.period.0, r.period.1),
            r.agent_sharpe,
            r.equal_weight_sharpe,
            r.threshold.map(|t| format!("{t:.2}")).unwrap_or_else(|| "-".into()),
            r.message
        );
    }
    for r in results.iter().filter(|r| r.probe == ProbeKind::Collapse) {
        for w in &r.warnings {
            println!("warning: {}", w.message);
        }
    }
    println!(
        "\nSharpe ratios are annualized, after costs. oracle: PASS when the agent beats the best causal baseline by {}; \
         placebo: PASS when its edge over equal weight on the test period stays below 2 / sqrt(years).",
        probe::ORACLE_MARGIN
    );
}
