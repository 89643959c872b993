use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

use super::train::train_config;
use crate::agent::network::NetKind;
use crate::config::{DEFAULT_CONFIG, EnvConfig};
use crate::eval::probe::{self, ProbeKind, ProbeSetup};
use crate::train::{Algo, DeviceChoice};

/// Environment steps per probe training unless `--steps` says otherwise (or the config asks for
/// fewer): probes are short runs, three of them per call.
pub const DEFAULT_PROBE_STEPS: usize = 50_000;

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Environment config; its [train] table sets the training defaults.
    #[arg(long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    #[arg(long, value_enum)]
    algo: Option<Algo>,
    #[arg(long, value_enum)]
    net: Option<NetKind>,
    /// Environment steps per probe training (default: the config's, at most 50000).
    #[arg(long)]
    steps: Option<usize>,
    /// Seed of the trainings and of the placebo's shuffle.
    #[arg(long)]
    seed: Option<u64>,
    /// Which probes to run (repeatable; default: oracle, placebo and collapse).
    #[arg(long, value_enum)]
    probe: Vec<ProbeKind>,
    /// Folder for the probes' checkpoints (default: checkpoints/probe-<config>).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ProbeArgs) -> Result<()> {
    let (env, sections) = EnvConfig::load_with_sections(&args.config)?;
    let mut train = train_config(sections.train, args.algo, &args.config)?;
    if let Some(net) = args.net {
        train.net.kind = net;
    }
    train.steps = args.steps.unwrap_or(train.steps.min(DEFAULT_PROBE_STEPS));
    if let Some(seed) = args.seed {
        train.seed = seed;
    }
    let stem =
        args.config.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "run".into());
    let out = args.out.unwrap_or_else(|| PathBuf::from("checkpoints").join(format!("probe-{stem}")));
    let probes = if args.probe.is_empty() {
        vec![ProbeKind::Oracle, ProbeKind::Placebo, ProbeKind::Collapse]
    } else {
        args.probe
    };
    if !args.json {
        eprintln!(
            "probing {:?} with {:?} on {}: {} steps per training (seed {}) -> {}",
            train.algo,
            train.net.kind,
            args.config.display(),
            train.steps,
            train.seed,
            out.display()
        );
    }
    let setup = ProbeSetup { env, train, out, device: args.device };
    let results = probe::run(&setup, &probes)?;
    if args.json {
        return super::print_json(&results);
    }
    println!(
        "{:<9} {:<8} {:>23} {:>8} {:>8} {:>10}  what it means",
        "probe", "verdict", "period", "agent", "EW", "threshold"
    );
    for r in &results {
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
    Ok(())
}
