use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

use folio::env::config::DEFAULT_CONFIG;
use folio::eval::bench::{BenchOptions, BenchRow, format_value, run_all};

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
    let rows = run_all(&args.config, options, show)?;
    if args.output.json {
        super::print_json(&rows)?;
    }
    Ok(())
}
