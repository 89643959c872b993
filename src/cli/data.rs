use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use std::path::PathBuf;

use folio::data::inspect::inspect;
use folio::data::synth::{Crash, Regime, SynthConfig, generate};
use folio::data::{MissingPrices, read_prices, write_prices};
use folio::env::config::DataConfig;

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Assets, date range, gaps, missing prices, and each asset's annualized return and
    /// volatility. Missing prices inside a listing are reported, not refused: they are
    /// measured as carried forward, which a config does only with `[data] missing =
    /// "carry_forward"`.
    Inspect {
        /// A wide price CSV: `date,ASSET1,...` or, without dates, `ASSET1,...`.
        file: PathBuf,
        /// Periods per year for annualizing (default: the usual value for how often dated rows
        /// come, 52 for weekly rows, 12 for monthly...; 252 for undated rows).
        #[arg(long, value_parser = super::args::periods_per_year)]
        periods_per_year: Option<f64>,
        #[command(flatten)]
        output: super::args::JsonArgs,
    },
    /// Write a seeded synthetic market (correlated GBM with regimes, jumps and an optional crash).
    Synth(SynthArgs),
    /// Join tickers' own price files into one wide file, on every date any of them has. Each
    /// file is one ticker, named by the file (AAPL.csv is AAPL): a date column and one price
    /// column, or a download's fields per day, of which Adj Close is read, else Close.
    Combine {
        /// The tickers' files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where to write the wide file (CSV).
        #[arg(long)]
        out: PathBuf,
        /// Write over --out if that file already exists.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Where to write the prices (CSV).
    #[arg(long)]
    out: PathBuf,
    /// Write over --out if that file already exists.
    #[arg(long)]
    force: bool,
    /// Number of assets.
    #[arg(long, default_value_t = 5)]
    assets: usize,
    /// Number of rows (trading days).
    #[arg(long, default_value_t = 1500)]
    periods: usize,
    /// Seed of the random generator: the same seed and settings give the same prices.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Date of the first row (later rows are weekdays).
    #[arg(long, default_value = "2010-01-04")]
    start: NaiveDate,
    /// Pairwise correlation of the assets.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.3)]
    correlation: f64,
    /// Calm regime: annual drift.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.10)]
    drift: f64,
    /// Calm regime: annual volatility.
    #[arg(long, default_value_t = 0.15)]
    volatility: f64,
    /// Stressed regime: annual drift; set --switch-probability 0 for one regime.
    #[arg(long, allow_negative_numbers = true, default_value_t = -0.15)]
    stress_drift: f64,
    /// Stressed regime: annual volatility.
    #[arg(long, default_value_t = 0.35)]
    stress_volatility: f64,
    /// Probability per period of switching regime.
    #[arg(long, default_value_t = 0.01)]
    switch_probability: f64,
    /// Expected jumps per asset per year.
    #[arg(long, default_value_t = 1.0)]
    jumps_per_year: f64,
    /// Planted signal: each log return carries this fraction of the previous one (AR(1)).
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.0)]
    autocorrelation: f64,
    /// Row of a crash day on which every asset falls by --crash-fall, on top of its ordinary move
    /// that day.
    #[arg(long, requires = "crash_fall")]
    crash_period: Option<usize>,
    /// Fraction lost on the crash day, before the day's ordinary move (0.2 = -20%).
    #[arg(long, requires = "crash_period")]
    crash_fall: Option<f64>,
}

pub fn run(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Inspect { file, periods_per_year, output } => {
            let loaded = read_prices(&file, MissingPrices::CarryForward)?;
            let flag = periods_per_year;
            let periods_per_year = flag.unwrap_or_else(|| DataConfig::periods_per_year_of(&loaded.panel));
            let mut summary = inspect(&loaded.panel, periods_per_year)
                .with_missing(loaded.carried_forward)
                .with_price_field(loaded.price_field);
            // No config is involved here: a value the rows disagree with came from the flag.
            if let Some(mismatch) = summary.frequency_mismatch.as_mut().filter(|_| flag.is_some()) {
                mismatch.source = folio::data::inspect::AnnualizationSource::Flag;
            }
            if output.json {
                super::print_json(&summary)?;
            } else {
                print!("{summary}");
            }
            Ok(())
        }
        DataCommand::Combine { files, out, force } => combine(&files, &out, force),
        DataCommand::Synth(args) => {
            let config = SynthConfig {
                assets: args.assets,
                periods: args.periods,
                start: args.start,
                seed: args.seed,
                correlation: args.correlation,
                regimes: vec![
                    Regime { drift: args.drift, volatility: args.volatility },
                    Regime { drift: args.stress_drift, volatility: args.stress_volatility },
                ],
                switch_probability: args.switch_probability,
                jumps_per_year: args.jumps_per_year,
                autocorrelation: args.autocorrelation,
                crash: args.crash_period.zip(args.crash_fall).map(|(period, fall)| Crash { period, fall }),
                ..SynthConfig::default()
            };
            folio::files::check_writable_output(&args.out, args.force)?;
            let panel = generate(&config).context("invalid synthetic market")?;
            write_prices(&panel, &args.out)?;
            println!(
                "wrote {} x {} periods ({} .. {}) to {}",
                folio::report::count(panel.n_assets(), "asset"),
                panel.n_periods(),
                panel.index.label(0),
                panel.index.label(panel.n_periods() - 1),
                args.out.display()
            );
            Ok(())
        }
    }
}

/// Write the tickers' files as one wide file, and say what a config needs to read it.
fn combine(files: &[PathBuf], out: &std::path::Path, force: bool) -> Result<()> {
    // --force replaces an earlier output, never one of the files it is made from.
    let same = |file: &PathBuf| same_file::is_same_file(file, out).unwrap_or(false);
    if let Some(input) = files.iter().find(|file| same(file)) {
        anyhow::bail!(
            "--out {} is {}, one of the files to combine: choose another --out, or the ticker's prices would be lost",
            out.display(),
            input.display()
        );
    }
    folio::files::check_writable_output(out, force)?;
    let folio::data::combine::Combined { panel, columns } = folio::data::combine::combine(files)?;
    // Written beside `out` and read back before it takes the name: tickers named after their
    // files can clash with what a price file's header may hold (a file `date.csv`, or `Close.csv`
    // and `Open.csv`), and a file folio cannot read must not replace anything.
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let staged = out.with_file_name(format!(".{name}.combining"));
    write_prices(&panel, &staged)?;
    let loaded = read_prices(&staged, MissingPrices::CarryForward);
    if let Err(error) = loaded {
        let _ = std::fs::remove_file(&staged);
        anyhow::bail!(
            "the combined file would not load, so {} is not written: {error}; each ticker is named after its \
             file, so rename the files whose names clash",
            out.display()
        );
    }
    if let Err(error) = std::fs::rename(&staged, out) {
        let _ = std::fs::remove_file(&staged);
        return Err(error).with_context(|| format!("writing {}", out.display()));
    }
    println!(
        "wrote {}: {} tickers ({}) on {} dates, {} .. {}",
        out.display(),
        panel.n_assets(),
        panel.assets.join(", "),
        panel.n_periods(),
        panel.index.label(0),
        panel.index.label(panel.n_periods() - 1)
    );
    let read: Vec<String> =
        panel.assets.iter().zip(&columns).map(|(ticker, column)| format!("{ticker}: {column}")).collect();
    println!("prices read from each file's column: {}", read.join(", "));
    let missing = loaded?.carried_forward;
    if !missing.is_empty() {
        println!(
            "dates that some tickers have and others lack inside their listings (holidays of one exchange, or gaps):"
        );
        for gap in &missing {
            println!("  {gap}");
        }
        println!(
            "a config reads this file with missing = \"carry_forward\" in its [data]; folio data inspect shows the rest"
        );
    }
    Ok(())
}
