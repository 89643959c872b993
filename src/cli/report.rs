//! `folio report FOLDER...`: one HTML tearsheet from saved runs, several side by side.

use anyhow::{Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};

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
    /// Replace --out even when it is not a page folio wrote.
    #[arg(long)]
    force: bool,
}

pub fn run(args: ReportArgs) -> Result<()> {
    for folder in &args.folders {
        point_at_reports(folder)?;
    }
    let out = args.out.unwrap_or_else(|| match &args.folders[..] {
        [one] => one.join(PAGE),
        _ => PathBuf::from(PAGE),
    });
    if !written_by_folio(&out) {
        folio::files::check_writable_output(&out, args.force)?;
    }
    write_runs_page(&args.folders, &out, &Provenance::of_this_process())?;
    // A page written into a folder of folio's outputs is one of them: `--force` may replace it.
    let _ = folio::files::record_output(&out);
    println!(
        "wrote {} ({} run{})",
        out.display(),
        args.folders.len(),
        if args.folders.len() == 1 { "" } else { "s" }
    );
    Ok(())
}

/// Whether `path` is a page an earlier `folio report` (or run) wrote: replacing one is drawing it
/// again, while any other file there is the user's.
fn written_by_folio(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| text.contains("<meta name=\"generator\" content=\"folio "))
}

/// A checkpoint or a training run holds no report of its own, only the evaluations written into
/// it: name those, or the command that writes one.
fn point_at_reports(folder: &Path) -> Result<()> {
    if !folder.is_dir() || folder.join(folio::report::REPORT).exists() {
        return Ok(());
    }
    let is_training = folder.join(folio::train::checkpoint::META).exists()
        || !folio::train::seed_folders(folder).is_empty();
    if !is_training {
        // An evaluation of several seeds: a report per seed and one for the ensemble, each in
        // its own folder.
        return super::plot::refuse_evaluations_folder(folder, "give");
    }
    let mut reports: Vec<PathBuf> = std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.join(folio::report::REPORT).exists())
        .collect();
    reports.sort();
    if reports.is_empty() {
        bail!(
            "{} is a training run, not a report: `folio eval --checkpoint {}` writes one into it",
            folder.display(),
            folder.display()
        );
    }
    let list: Vec<String> = reports.iter().map(|r| r.display().to_string()).collect();
    bail!(
        "{} is a training run, not a report: give one of its evaluations: {}",
        folder.display(),
        list.join(", ")
    )
}
