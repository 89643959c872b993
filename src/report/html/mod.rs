//! `report.html`: one self-contained tearsheet per run, or one page for several runs side by
//! side. The page opens anywhere and can be mailed: its charts are inline SVG, its styles
//! inline, and it has no script, font or picture to fetch (a Content-Security-Policy forbids
//! any; a picture drawn into a chart, such as the weights' heat map, is written into the page). It reads in the order a reader needs: the verdict in plain words, the metrics of the
//! agent against the baselines, the folds and seeds, the pictures, and where the run came from.
//!
//! A page is always built from what a run left in its folder ([`run::read_run`]), so the page a
//! command writes and the page `folio report` rebuilds later are the same.

mod charts;
mod markup;
mod page;
pub mod run;
pub mod series;
mod tables;
mod verdict;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ReportError;
use crate::files::write_bytes_atomically;

/// The file a run folder's page is written to.
pub const PAGE: &str = "report.html";
/// The file beside `report.json` that says how the run was made.
pub const PROVENANCE: &str = "provenance.json";

/// How a run was made, beyond what its report records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub folio_version: String,
    pub command_line: Vec<String>,
}

impl Provenance {
    /// This folio and the command line it was started with.
    pub fn of_this_process() -> Self {
        Self {
            folio_version: env!("CARGO_PKG_VERSION").to_string(),
            command_line: std::env::args().collect(),
        }
    }
}

/// Write `provenance.json` and `report.html` into a run folder that already holds `report.json`
/// and `equity.csv`. Returns the page's path.
pub fn write_run_page(folder: &Path, provenance: &Provenance) -> Result<PathBuf, ReportError> {
    super::write_json(&folder.join(PROVENANCE), provenance)?;
    let run = run::read_run(folder)?;
    let path = folder.join(PAGE);
    write_page(&path, &page::single(&run))?;
    Ok(path)
}

/// One page for the runs in `folders`, side by side, written to `out`; `provenance` says how
/// this page was made (each run keeps its own).
pub fn write_runs_page(folders: &[PathBuf], out: &Path, provenance: &Provenance) -> Result<(), ReportError> {
    let runs = folders.iter().map(|f| run::read_run(f)).collect::<Result<Vec<_>, _>>()?;
    let html = match &runs[..] {
        [one] => page::single(one),
        _ => page::several(&runs, provenance),
    };
    write_page(out, &html)
}

fn write_page(path: &Path, html: &str) -> Result<(), ReportError> {
    write_bytes_atomically(path, html.as_bytes())
        .map_err(|source| ReportError::Io { path: path.into(), source })
}
