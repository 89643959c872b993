use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

use folio::env::config::{DEFAULT_CONFIG, EnvConfig, Sections};
use folio::metrics::{Metrics, MetricsSpread};
use folio::registry;
use folio::train::checkpoint;
use folio::train::{Algo, PlannedSeeds, TrainConfig, TrainRequest, train_seeds};

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    setup: TrainSetup,
    /// Independent runs with seeds seed, seed + 1, ...: results are reported as median and
    /// spread across them, never as one lucky run (default: 3; with --resume, the run's own).
    #[arg(long, value_parser = super::args::at_least_one)]
    seeds: Option<usize>,
    #[command(flatten)]
    jobs: super::args::Jobs,
    /// Checkpoint folder (default: checkpoints/<config>-<algo>-<net>-s<seed>, or -s<first>-<last>
    /// for several seeds, with the risk profile after the config's name
    /// (<config>-<profile>-<algo>-...) under one; numbered if taken).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run saved in --out.
    #[arg(long, requires = "out")]
    resume: bool,
    /// Trial registry to record this run in (default: $FOLIO_REGISTRY, else
    /// checkpoints/trials.jsonl); walk-forward's Deflated Sharpe Ratio counts its trials.
    #[arg(long)]
    registry: Option<PathBuf>,
    #[command(flatten)]
    run: super::args::RunArgs,
}

/// What every command that trains shares: the config and the flags that override its [train]
/// table.
#[derive(Debug, Args)]
pub struct TrainSetup {
    /// Environment config (TOML); its optional [train] table sets training defaults (and
    /// [walk_forward] the folds of `folio walk-forward`).
    #[arg(long, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Learning algorithm (default: the config's, else direct).
    #[arg(long, value_enum)]
    pub algo: Option<super::args::AlgoArg>,
    /// Policy network (default: the config's, else eiie).
    #[arg(long, value_enum)]
    pub net: Option<super::args::NetArg>,
    /// Environment steps per training (default: the config's [train] steps, else the
    /// algorithm's, and at most 50000 in `folio probe`; a resumed `folio train` keeps the run's
    /// own).
    #[arg(long, value_parser = super::args::at_least_one)]
    pub steps: Option<usize>,
    /// Seed for network initialization, sampling and episode starts (the first one when
    /// several seeds run).
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub risk: super::risk::RiskArgs,
}

impl TrainSetup {
    /// The environment, the config file's other tables, and the training config: per-algorithm
    /// defaults, overlaid by the file's [train] table, overlaid by these flags.
    pub fn load(&self) -> Result<(EnvConfig, Sections, TrainConfig)> {
        let (mut env, mut sections) = EnvConfig::load_with_sections(&self.config)?;
        let mut train =
            TrainConfig::from_table(sections.train.take(), self.algo.map(Algo::from), &self.config)?;
        if let Some(net) = self.net {
            train.net.kind = net.into();
        }
        if let Some(steps) = self.steps {
            train.steps = steps;
        }
        if let Some(seed) = self.seed {
            train.seed = seed;
        }
        if let Some((profile, source)) = self.risk.resolve()? {
            eprintln!("{source}");
            env.apply_risk_profile(profile);
        }
        Ok((env, sections, train))
    }

    /// The config file's name without its extension, and the risk profile if one applies, for
    /// default output folders.
    pub fn config_stem(&self, env: &EnvConfig) -> String {
        let stem =
            self.config.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "run".into());
        match env.risk_profile {
            Some(profile) => format!("{stem}-{profile}"),
            None => stem,
        }
    }
}

/// The config's allocation limits in words, counting its assets when the config names them.
fn limits_in_words(env: &EnvConfig) -> String {
    let named = env.data.assets.len();
    env.limits.describe((named > 0).then_some(named))
}

/// A new folder for a run given no --out, made now so that another run started at the same
/// moment takes the next name rather than this one.
fn default_out(stem: &str, train: &TrainConfig, seeds: usize) -> Result<PathBuf> {
    let (algo, net) = (train.algo.name(), train.net.kind.name());
    let seeds = match seeds {
        0 | 1 => format!("s{}", train.seed),
        n => format!("s{}-{}", train.seed, train.seed + n as u64 - 1),
    };
    let base = PathBuf::from("checkpoints").join(format!("{stem}-{algo}-{net}-{seeds}"));
    folio::files::reserve_fresh_folder(&base)
        .with_context(|| format!("cannot make a folder for the run at {}", base.display()))
}

/// A default folder whose run failed before it wrote anything but folio's bookkeeping (a device
/// that is missing, a period outside the data): it goes, so that a failed attempt does not take
/// the name the next run should get.
fn remove_if_untouched(out: &Path) {
    let only_bookkeeping = |folder: &Path, allowed: &dyn Fn(&std::fs::DirEntry) -> bool| {
        std::fs::read_dir(folder).is_ok_and(|entries| entries.flatten().all(|entry| allowed(&entry)))
    };
    let lock = |entry: &std::fs::DirEntry| entry.file_name() == folio::files::LOCK_FILE;
    let untouched = only_bookkeeping(out, &|entry| {
        let name = entry.file_name();
        lock(entry)
            || name == folio::train::SEEDS_FILE
            || (folio::train::seed_of_folder(&entry.path()).is_some()
                && only_bookkeeping(&entry.path(), &lock))
    });
    if untouched {
        let _ = std::fs::remove_dir_all(out);
    }
}

/// What the run in `out` was started with, for the flags a resume leaves out: its seeds (one,
/// for a single-seed run's folder) and its budget of steps, where a seed saved one.
fn resumed_run(out: &Path) -> Option<(PlannedSeeds, Option<usize>)> {
    let single =
        || checkpoint::load_meta(out).ok().map(|meta| PlannedSeeds { first: meta.train.seed, seeds: 1 });
    let planned = PlannedSeeds::of(out).or_else(single)?;
    let folder = |seed: u64| match planned.seeds {
        1 => out.to_path_buf(),
        _ => folio::train::seed_folder(out, seed),
    };
    let steps = (planned.first..planned.first + planned.seeds as u64)
        .find_map(|seed| checkpoint::load_meta(&folder(seed)).ok())
        .map(|meta| meta.train.steps);
    Some((planned, steps))
}

/// Seeds of a new run, unless the flags say otherwise.
const DEFAULT_SEEDS: usize = 3;

pub fn run(args: TrainArgs) -> Result<()> {
    let (env, _, mut config) = args.setup.load()?;
    // A resumed multi-seed run continues the seeds it was started with: the default of a new
    // run would add seeds to a smaller one.
    let resumed = args.resume.then(|| args.out.as_deref().and_then(resumed_run)).flatten();
    let planned = resumed.map(|(planned, _)| planned);
    if let Some(planned) = planned
        && args.setup.seed.is_none()
    {
        config.seed = planned.first;
    }
    // Its own budget, not the config's default: a run that had finished trains nothing more.
    if let Some((_, Some(steps))) = resumed
        && args.setup.steps.is_none()
    {
        config.steps = steps;
    }
    let seeds = args.seeds.or(planned.map(|p| p.seeds)).unwrap_or(DEFAULT_SEEDS);
    config.check_seeds(seeds)?;
    if let Some(out) = &args.out
        && out.exists()
        && !out.is_dir()
    {
        anyhow::bail!("{} exists and is not a folder; choose another --out", out.display());
    }
    let registry_path = registry::resolve(args.registry.clone());
    registry::check(&registry_path)?;
    let out = match &args.out {
        Some(out) => out.clone(),
        None => default_out(&args.setup.config_stem(&env), &config, seeds)?,
    };
    // On stderr, so `--json` keeps it too: the data warnings belong in a script's log.
    announce(&args, &env, &config, seeds, &out);
    let data = env.data.clone();
    let outcomes = train_seeds(
        TrainRequest {
            env,
            train: config,
            out: out.clone(),
            device: args.run.device(),
            resume: args.resume,
            progress: super::progress::shown(args.run.json),
        },
        seeds,
        args.jobs.count,
    )
    .map_err(|error| {
        if args.out.is_none() {
            remove_if_untouched(&out);
        }
        super::naming_config(error.into(), &args.setup.config)
    })?;
    show_and_record(&args, &out, &registry_path, &data, &outcomes)
}

/// Show the trainings' results, then record them as trials in the registry.
fn show_and_record(
    args: &TrainArgs,
    out: &Path,
    registry_path: &Path,
    data: &folio::env::config::DataConfig,
    outcomes: &[folio::train::TrainOutcome],
) -> Result<()> {
    // The results are shown before the registry is touched: a registry problem must not hide them.
    let agents: Vec<&Metrics> = outcomes.iter().map(|o| &o.validation.agent).collect();
    let summary = TrainSummary { runs: outcomes, validation_spread: MetricsSpread::of(&agents) };
    if args.run.json {
        super::print_json_in(&summary, out)?;
    } else {
        print!("{}", folio::report::text::training(outcomes, &summary.validation_spread));
    }
    let on_data = registry::record_trainings(registry_path, data, outcomes).map_err(|error| {
        super::FailedAfterResults(format!(
            "the checkpoints are saved in {}, but not recorded as trials: {error}; once that is fixed, `folio train --resume --out {}` with the same flags records them without training again",
            out.display(),
            out.display()
        ))
    })?;
    if !args.run.json {
        println!("recorded in {}: {}", registry_path.display(), trials_so_far(&on_data));
    }
    Ok(())
}

/// How many trials the registry holds on this data, in words.
fn trials_so_far(on_data: &registry::DataTrials) -> String {
    match on_data.on_shorter_cuts {
        0 => format!("{} trials on this data so far", on_data.trials),
        cuts => {
            format!("{} trials on this data so far, {cuts} of them on shorter cuts of it", on_data.trials)
        }
    }
}

/// What is about to train, where to.
fn announce(args: &TrainArgs, env: &EnvConfig, config: &TrainConfig, seeds: usize, out: &Path) {
    let seeds = match seeds {
        1 => format!("seed {}", config.seed),
        n => format!("{n} seeds from {}", config.seed),
    };
    eprintln!(
        "training {} with {} on {} for {} steps ({seeds}) -> {}",
        config.algo.name(),
        config.net.kind.name(),
        args.setup.config.display(),
        config.steps,
        out.display()
    );
    if !env.limits.is_none() || env.risk_profile.is_some() {
        eprintln!("reward {}; {}", env.reward.describe(), limits_in_words(env));
    }
    super::warn_about_data(env, "", false);
}

#[derive(serde::Serialize)]
struct TrainSummary<'a> {
    runs: &'a [folio::train::TrainOutcome],
    validation_spread: MetricsSpread,
}
