use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

use folio::env::config::DEFAULT_CONFIG;
use folio::eval::bench::{BenchOptions, BenchRow, Group, format_value, run_all};
use folio::eval::bench_large::{self, LargeOptions, run_large};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Environment config whose data the benchmarks use (the bundled 20 US stocks by default).
    #[arg(long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Seconds instead of a minute or two: checks that everything runs, figures are rough.
    #[arg(long)]
    quick: bool,
    /// Only one group of figures (for profiling).
    #[arg(long, value_enum)]
    only: Option<super::args::BenchGroupArg>,
    #[command(flatten)]
    output: super::args::JsonArgs,
    /// The large-universe market for the `large` group, as the peers' large_universe.py writes it
    /// (default: $FOLIO_LARGE_CSV, else /tmp/folio-large-universe.csv). Without the file, a full
    /// run skips the group and says so.
    #[arg(long)]
    large_csv: Option<PathBuf>,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let mut options = if args.quick { BenchOptions::quick() } else { BenchOptions::full() };
    options.only = args.only.map(Into::into);
    let show = |row: &BenchRow| {
        if !args.output.json {
            println!("{:<72} {:>12} {}", row.what, format_value(row.value), row.unit);
        }
    };
    if !args.output.json {
        println!(
            "folio benchmarks ({} cores; each figure the median of 3 runs; peer rows: scripts/bench-vs-peers.sh)",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        );
    }
    let mut rows = run_all(&args.config, options, show)?;
    if options.only.is_none_or(|only| only == Group::Large) {
        let csv = args
            .large_csv
            .clone()
            .or_else(|| std::env::var_os("FOLIO_LARGE_CSV").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(bench_large::DEFAULT_CSV));
        let large = if args.quick { LargeOptions::quick() } else { LargeOptions::full() };
        match run_large(&csv, large, show) {
            Ok(large_rows) => rows.extend(large_rows),
            Err(e @ bench_large::LargeBenchError::Missing(_)) if options.only.is_none() => {
                eprintln!("large-universe figures skipped: {e}")
            }
            Err(e) => return Err(e.into()),
        }
    }
    if args.output.json {
        super::print_json(&rows)?;
    }
    Ok(())
}
