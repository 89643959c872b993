use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

use folio::env::config::{DEFAULT_CONFIG, EnvConfig, Sections};
use folio::metrics::{Metrics, MetricsSpread, Spread};
use folio::registry::{self, Figures, Sample, TrialCommand, TrialRecord};
use folio::train::checkpoint;
use folio::train::{Algo, TrainConfig, TrainOutcome, TrainRequest, train_seeds};

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    setup: TrainSetup,
    /// Independent runs with seeds seed, seed + 1, ...: results are reported as median and
    /// spread across them, never as one lucky run.
    #[arg(long, default_value_t = 3)]
    seeds: usize,
    /// Runs trained in parallel.
    #[arg(long, default_value_t = default_jobs())]
    jobs: usize,
    /// Checkpoint folder (default: checkpoints/<config>-<algo>-<net>-s<seed>, numbered if taken).
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
    device: super::args::DeviceArgs,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
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
    /// Environment steps per training.
    #[arg(long)]
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
        let mut train = train_config(sections.train.take(), self.algo.map(Algo::from), &self.config)?;
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

/// Trainings run in parallel by default: one per core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// The training config: per-algorithm defaults, overlaid by the file's [train] table, overlaid by
/// the command line.
pub fn train_config(
    file_table: Option<toml::Table>,
    args_algo: Option<Algo>,
    path: &Path,
) -> Result<TrainConfig> {
    let file_table = file_table.unwrap_or_default();
    let algo = match args_algo {
        Some(algo) => algo,
        None => match file_table.get("algo") {
            Some(value) => {
                value.clone().try_into().with_context(|| format!("{}: [train] algo", path.display()))?
            }
            None => Algo::Direct,
        },
    };
    let mut merged = toml::Table::try_from(TrainConfig::for_algo(algo)).expect("train config serializes");
    merge(&mut merged, file_table);
    merged.insert("algo".into(), toml::Value::try_from(algo).expect("algo serializes"));
    let config: TrainConfig =
        merged.try_into().with_context(|| format!("{}: invalid [train] table", path.display()))?;
    Ok(config)
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn default_out(stem: &str, train: &TrainConfig, seeds: usize) -> PathBuf {
    let algo = format!("{:?}", train.algo).to_lowercase();
    let net = format!("{:?}", train.net.kind).to_lowercase();
    let seeds = match seeds {
        0 | 1 => format!("s{}", train.seed),
        n => format!("s{}-{}", train.seed, train.seed + n as u64 - 1),
    };
    let base = PathBuf::from("checkpoints").join(format!("{stem}-{algo}-{net}-{seeds}"));
    (1..)
        .map(|n| if n == 1 { base.clone() } else { PathBuf::from(format!("{}-{n}", base.display())) })
        .find(|p| !p.exists())
        .expect("some name is free")
}

pub fn run(args: TrainArgs) -> Result<()> {
    let (env, _, config) = args.setup.load()?;
    anyhow::ensure!(args.seeds >= 1, "--seeds must be at least 1");
    let out =
        args.out.clone().unwrap_or_else(|| default_out(&args.setup.config_stem(&env), &config, args.seeds));
    if !args.json {
        eprintln!(
            "training {:?} with {:?} on {} for {} steps ({}) -> {}",
            config.algo,
            config.net.kind,
            args.setup.config.display(),
            config.steps,
            match args.seeds {
                1 => format!("seed {}", config.seed),
                n => format!("{n} seeds from {}", config.seed),
            },
            out.display()
        );
        if !env.limits.is_none() || env.risk_profile.is_some() {
            eprintln!("reward {:?}; {}", env.reward, limits_in_words(&env));
        }
    }
    let outcomes = train_seeds(
        TrainRequest {
            env,
            train: config,
            out,
            device: args.device.choice(),
            resume: args.resume,
            progress: super::args::Bars::for_output(args.json),
        },
        args.seeds,
        args.jobs,
    )?;
    let agents: Vec<&Metrics> = outcomes.iter().map(|o| &o.validation.agent).collect();
    let summary = TrainSummary { runs: &outcomes, validation_spread: MetricsSpread::of(&agents) };
    let registry_path = registry::resolve(args.registry.clone());
    let mut on_data = 0;
    for outcome in &outcomes {
        on_data = record_trial(&registry_path, outcome)?;
    }
    if args.json {
        return super::print_json(&summary);
    }
    for outcome in &outcomes {
        println!(
            "{}: {}; {} updates, {} environment steps in {:.1} s ({:.0} steps/s); best validation at update {}",
            outcome.checkpoint.display(),
            outcome.stopped,
            outcome.updates,
            outcome.env_steps,
            outcome.seconds,
            outcome.env_steps_per_second,
            outcome.best_update.map(|u| u.to_string()).unwrap_or("-".into())
        );
    }
    let first = &outcomes[0];
    println!("recorded in {}: {on_data} trials on this data so far", registry_path.display());
    println!();
    println!(
        "validation period {} .. {} (never trained on; each run keeps its best validation, which \
         flatters it: judge the agents on the test period with folio eval), after costs:",
        first.validation_range.0, first.validation_range.1
    );
    let names: Vec<String> = outcomes
        .iter()
        .map(|o| format!("agent {}", o.checkpoint.file_name().unwrap_or_default().to_string_lossy()))
        .collect();
    let mut rows: Vec<(String, &Metrics)> = names.into_iter().zip(agents.iter().copied()).collect();
    rows.push(("equal weight".into(), &first.validation.equal_weight));
    print_metrics_table(&rows);
    if outcomes.len() > 1 {
        println!();
        print_spread(&summary.validation_spread);
    }
    let equal = first.validation.equal_weight.sharpe;
    let median = summary.validation_spread.sharpe.map(|s| s.median).unwrap_or(f64::NAN);
    if !(median > equal) {
        println!(
            "\nThe agents' median validation Sharpe ({median:.3}) does not beat equal weight ({equal:.3})."
        );
    }
    Ok(())
}

#[derive(serde::Serialize)]
struct TrainSummary<'a> {
    runs: &'a [folio::train::TrainOutcome],
    validation_spread: MetricsSpread,
}

/// Median, interquartile range and range of the headline metrics across runs.
pub fn print_spread(spread: &MetricsSpread) {
    println!(
        "{:<18} {:>9}   {:^21}   {:^21}",
        format!("across {} runs", spread.runs),
        "median",
        "IQR",
        "min .. max"
    );
    let row = |name: &str, s: Option<Spread>, percent: bool| {
        let cell = |v: f64| if percent { format!("{:.2}%", 100.0 * v) } else { format!("{v:.3}") };
        match s {
            Some(s) => println!(
                "{name:<18} {:>9}   {:>9} .. {:<9}   {:>9} .. {:<9}",
                cell(s.median),
                cell(s.q1),
                cell(s.q3),
                cell(s.min),
                cell(s.max)
            ),
            None => println!("{name:<18} undefined"),
        }
    };
    row("Sharpe", spread.sharpe, false);
    row("Sortino", spread.sortino, false);
    row("CAGR", spread.cagr, true);
    row("max drawdown", spread.max_drawdown, true);
    row("final wealth", spread.final_wealth, false);
    row("turnover", spread.mean_turnover, false);
}

/// Record a finished training in the trial registry, from its checkpoint's `meta.json` (the
/// configuration, data fingerprint and seed it actually ran with). Returns how many trials the
/// registry now holds on that data.
fn record_trial(path: &Path, outcome: &TrainOutcome) -> Result<usize> {
    let meta = checkpoint::load_meta(&outcome.checkpoint)?;
    let figures = Figures::from_metrics(
        Sample::Validation,
        outcome.validation_range.clone(),
        &outcome.validation.agent,
        meta.env.data.periods_per_year,
    );
    let record = TrialRecord::new(
        TrialCommand::Train,
        registry::config_hash(&meta.env, &meta.train),
        meta.data_fingerprint.clone(),
        &meta.env,
        &meta.train,
        figures,
        outcome.checkpoint.clone(),
    );
    let all = registry::append(path, &[record])?;
    Ok(registry::trials_on(&all, &meta.data_fingerprint).trials)
}

/// One row per policy. PSR is the probabilistic Sharpe ratio against zero and min TRL the
/// periods a track record with this Sharpe ratio, skewness and kurtosis needs for 95% confidence
/// in a positive Sharpe ratio (Bailey and López de Prado 2012); compare it with the periods shown.
pub fn print_metrics_table(rows: &[(String, &Metrics)]) {
    println!(
        "{:<24} {:>10} {:>8} {:>8} {:>8} {:>6} {:>8} {:>8} {:>9} {:>10} {:>9}",
        "policy",
        "wealth",
        "CAGR",
        "vol",
        "Sharpe",
        "PSR",
        "Sortino",
        "max DD",
        "turnover",
        "costs/yr",
        "min TRL"
    );
    for (name, m) in rows {
        println!(
            "{:<24} {:>10.4} {:>7.2}% {:>7.2}% {:>8.3} {:>6.3} {:>8.3} {:>7.2}% {:>9.4} {:>9.3}% {:>9}",
            name,
            m.final_wealth,
            100.0 * m.cagr,
            100.0 * m.annual_volatility,
            m.sharpe,
            m.psr,
            m.sortino,
            100.0 * m.max_drawdown,
            m.mean_turnover,
            100.0 * m.annual_cost_drag,
            min_track_record(m)
        );
    }
}

/// The minimum track record length in whole periods, `-` when no length is enough.
pub fn min_track_record(m: &Metrics) -> String {
    m.min_track_record.map(|n| format!("{:.0}", n.ceil())).unwrap_or_else(|| "-".into())
}
