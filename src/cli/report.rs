//! `folio report FOLDER...`: one HTML tearsheet from saved runs, several side by side.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

use folio::report::html::{PAGE, Provenance, write_runs_page};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Folders written by `folio eval`, `folio walk-forward` or `folio backtest` (each holds a
    /// report.json and an equity.csv).
    #[arg(required = true)]
    folders: Vec<PathBuf>,
    /// Where to write the page (default: report.html in the folder, for one folder; else
    /// report.html here).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: ReportArgs) -> Result<()> {
    let out = args.out.unwrap_or_else(|| match &args.folders[..] {
        [one] => one.join(PAGE),
        _ => PathBuf::from(PAGE),
    });
    write_runs_page(&args.folders, &out, &Provenance::of_this_process())?;
    println!(
        "wrote {} ({} run{})",
        out.display(),
        args.folders.len(),
        if args.folders.len() == 1 { "" } else { "s" }
    );
    Ok(())
}
