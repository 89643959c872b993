//! What several commands share: flag groups flattened into each, and the command-line twins of
//! the library's enums (the library knows nothing of clap).

use clap::{Args, ValueEnum};

/// A command-line twin of a library enum: clap's derive lives here, and `From` turns the parsed
/// value into the library's, variant by variant (a variant added to one and not the other is a
/// compile error).
macro_rules! value_enum {
    ($(#[$meta:meta])* $name:ident => $target:ty { $($(#[$variant_meta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
        pub enum $name {
            $($(#[$variant_meta])* $variant),+
        }

        impl From<$name> for $target {
            fn from(value: $name) -> Self {
                match value {
                    $($name::$variant => <$target>::$variant),+
                }
            }
        }
    };
}

value_enum! {
    /// Which backend runs the networks.
    DeviceArg => folio::agent::DeviceChoice {
        /// burn's Flex CPU backend (multi-threaded, SIMD).
        Cpu,
        /// wgpu (Vulkan, Metal, DirectX or WebGPU); needs the `wgpu` cargo feature.
        Wgpu,
        /// CUDA; needs the `cuda` cargo feature.
        Cuda,
    }
}

value_enum! {
    /// The learning algorithm.
    AlgoArg => folio::train::Algo {
        /// Jiang, Xu and Liang's direct gradient of the portfolio's return.
        Direct,
        /// REINFORCE with a learned baseline.
        Reinforce,
        /// Proximal Policy Optimization with GAE.
        Ppo,
    }
}

value_enum! {
    /// The policy network.
    NetArg => folio::agent::network::NetKind {
        /// A multilayer perceptron over the whole observation.
        Mlp,
        /// Jiang, Xu and Liang's Ensemble of Identical Independent Evaluators.
        Eiie,
    }
}

value_enum! {
    /// A risk profile: risk aversion and allocation limits.
    RiskProfileArg => folio::env::risk::RiskProfile {
        Conservative,
        Balanced,
        Aggressive,
    }
}

value_enum! {
    /// Which of a checkpoint's networks.
    WeightsArg => folio::train::checkpoint::Weights {
        /// The best on validation.
        Best,
        /// The last one training left.
        Last,
    }
}

value_enum! {
    /// A sanity probe.
    ProbeArg => folio::eval::probe::ProbeKind {
        /// Also sees tomorrow's returns: must beat every causal baseline.
        Oracle,
        /// Trains on returns shuffled in time: must not beat equal weight.
        Placebo,
        /// Runs the collapse detectors on a normally trained agent.
        Collapse,
    }
}

value_enum! {
    /// How the tax ledger picks the lots a sale takes from.
    LotMethodArg => folio::tax::LotMethod {
        /// First in, first out.
        Fifo,
        /// The lots bought at the highest price first.
        HighestCost,
    }
}

value_enum! {
    /// A group of benchmark figures.
    BenchGroupArg => folio::eval::bench::Group {
        Env,
        Direct,
        Ppo,
        Mlp,
        Large,
    }
}

/// `--strategy`: a baseline's name, or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategies {
    All,
    One(folio::backtest::BaselineId),
}

impl std::str::FromStr for Strategies {
    type Err = folio::backtest::UnknownBaseline;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim().eq_ignore_ascii_case("all") {
            Ok(Strategies::All)
        } else {
            text.parse().map(Strategies::One)
        }
    }
}

impl Strategies {
    /// The baselines the flags name, in the order given (`all` in report order), each once.
    pub fn expand(flags: &[Strategies]) -> Vec<folio::backtest::BaselineId> {
        let mut ids = Vec::new();
        for flag in flags {
            match flag {
                Strategies::All => ids.extend(folio::backtest::BaselineId::ALL),
                Strategies::One(id) => ids.push(*id),
            }
        }
        first_of_each(ids)
    }
}

/// `items` in their order, each once: a value a flag repeats (`--strategy x --strategy x`) is
/// one row of a report, not two.
pub fn first_of_each<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut kept: Vec<T> = Vec::new();
    for item in items {
        if !kept.contains(&item) {
            kept.push(item);
        }
    }
    kept
}

/// `--jobs`, for every command that trains several networks.
#[derive(Debug, Clone, Copy, Args)]
pub struct Jobs {
    /// Trainings run in parallel (default: the machine's cores).
    #[arg(
        long = "jobs",
        value_name = "N",
        default_value_t = default_jobs(),
        value_parser = jobs_count
    )]
    pub count: usize,
}

/// One training per core.
fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// `--force`, for every command that fills an output folder: replacing one means the same in each
/// (`folio::files::OutputFolder`).
#[derive(Debug, Clone, Copy, Args)]
pub struct Replace {
    /// Replace --out if it already holds outputs, as a whole: the old folder is set aside, and
    /// comes back if this run fails or is killed.
    #[arg(long, requires = "out")]
    pub force: bool,
}

/// The commands whose trainings `--resume` reads back, each with the file it writes last.
#[derive(Debug, Clone, Copy)]
pub enum Resumable {
    WalkForward,
    Panel,
    Search,
}

impl Resumable {
    fn name(self) -> &'static str {
        match self {
            Resumable::WalkForward => "walk-forward",
            Resumable::Panel => "panel",
            Resumable::Search => "search",
        }
    }

    /// What the command writes once everything has run.
    fn finished_file(self) -> &'static str {
        match self {
            Resumable::WalkForward => folio::report::REPORT,
            Resumable::Panel => "panel.json",
            Resumable::Search => "search.json",
        }
    }

    /// Whether `out` holds this command's work stopped before the end: a walk-forward started
    /// there (at its top, in a market's folder, or in a search point's) and no final file.
    fn stopped_in(self, out: &std::path::Path) -> bool {
        let started = folio::eval::walk_forward::started_in;
        let any_below = |folder: &std::path::Path| {
            std::fs::read_dir(folder).into_iter().flatten().flatten().any(|entry| started(&entry.path()))
        };
        let begun = started(out) || any_below(out) || any_below(&out.join("points"));
        begun && !out.join(self.finished_file()).is_file()
    }
}

impl Replace {
    /// Claim `out` for work whose trainings `--resume` can read back: reopened as it is when
    /// resuming, else claimed as every output folder is (a refusal says when the folder holds
    /// this work stopped halfway); and a user who stops the run is told how to continue it.
    ///
    /// Without `out`, a fresh folder named after `default` is claimed.
    pub fn claim_resumable(
        self,
        out: Option<&std::path::Path>,
        default: &std::path::Path,
        resume: bool,
        work: Resumable,
    ) -> anyhow::Result<folio::files::OutputFolder> {
        let claimed = match (out, resume) {
            (None, true) => anyhow::bail!("--resume continues the run in --out: name its folder"),
            (None, false) => folio::files::OutputFolder::fresh(default)?,
            (Some(out), true) => folio::files::OutputFolder::reopen(out)?,
            (Some(out), false) => match folio::files::OutputFolder::claim(out, self.force) {
                Err(error @ folio::files::OutputError::Occupied { .. }) if work.stopped_in(out) => {
                    anyhow::bail!(
                        "{error}; it holds a {} that never finished: --resume continues it with the trainings it finished",
                        work.name()
                    )
                }
                claimed => claimed?,
            },
        };
        super::say_if_interrupted(format!(
            "the trainings this {} finished are kept in {}; run the same command with --resume (and --out {}) to \
             continue from them",
            work.name(),
            claimed.named().display(),
            claimed.named().display()
        ));
        Ok(claimed)
    }
}

/// `--device` and `--json`, for every command that runs a network and reports.
#[derive(Debug, Clone, Copy, Args)]
pub struct RunArgs {
    /// Backend that runs the networks.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Print the result as JSON on stdout instead of tables.
    #[arg(long)]
    pub json: bool,
}

impl RunArgs {
    pub fn device(&self) -> folio::agent::DeviceChoice {
        self.device.into()
    }
}

/// `--json`, for every command that reports.
#[derive(Debug, Clone, Copy, Args)]
pub struct JsonArgs {
    /// Print the result as JSON on stdout instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// Which prices a command that reads a checkpoint acts on.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// Another price file holding the agent's assets (default: the file it was trained on,
    /// found from the checkpoint folder wherever it was trained). The training file grown by
    /// later rows needs nothing more.
    #[arg(long)]
    pub data: Option<std::path::PathBuf>,
    /// Act on prices that differ from those the agent was trained on over the rows its training
    /// and validation read.
    #[arg(long)]
    pub allow_other_data: bool,
}

impl DataArgs {
    pub fn choice(&self) -> folio::train::checkpoint::DataChoice {
        folio::train::checkpoint::DataChoice { file: self.data.clone(), allow_other: self.allow_other_data }
    }
}

/// `--jobs`: each job is a thread training a network, and thousands of threads do no more work
/// than the cores do (they only exhaust the process's threads).
fn jobs_count(text: &str) -> Result<usize, String> {
    let jobs = at_least_one(text)?;
    if jobs > MAX_JOBS {
        return Err(format!("must be at most {MAX_JOBS} (this machine has {} cores)", default_jobs()));
    }
    Ok(jobs)
}

const MAX_JOBS: usize = 1024;

/// A count that must be at least one (jobs, folds, seeds): zero is refused as the flag is read,
/// before anything starts or a note reasons about zero of something.
pub fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(value) => Ok(value),
        Err(e) => Err(format!("{e}: {text}")),
    }
}

/// A count of periods per year: positive, and at most a row a second.
pub fn periods_per_year(text: &str) -> Result<f64, String> {
    let most = folio::data::inspect::MAX_PERIODS_PER_YEAR;
    match text.parse::<f64>() {
        Ok(value) if value > 0.0 && value <= most => Ok(value),
        Ok(_) => Err(format!("must be positive and at most {most} (a row a second), got {text}")),
        Err(e) => Err(format!("{e}: {text}")),
    }
}
