//! What `folio backtest` leaves on disk: `report.json`, `equity.csv`, the weights of a lone
//! strategy in `weights.csv`, and the tearsheet `report.html` built from them.

use std::path::{Path, PathBuf};

use super::html::{Provenance, write_run_page};
use super::{ReportError, write_equity_csv, write_json, write_weights_csv};
use crate::backtest::BacktestLog;
use crate::eval::evaluate::BaselineReport;

/// `runs/backtest-<data>-<from>-<to>`, with the strategy's key when there is one strategy, so
/// that backtests of other data, periods or strategies do not overwrite each other.
pub fn default_output(report: &BaselineReport) -> PathBuf {
    let data = report.data.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let strategy = match &report.results[..] {
        [one] => match one.policy {
            crate::backtest::PolicyId::Baseline(b) => format!("-{}", b.key()),
            agent => format!("-{agent}"),
        },
        _ => String::new(),
    };
    PathBuf::from("runs").join(format!("backtest-{data}-{}-{}{strategy}", report.from, report.to))
}

/// Write the backtest's files into `out` and return the page's path. Weights are written (and
/// drawn) only for a lone strategy: with several, no one of them is the subject.
pub fn write_backtest(
    out: &Path,
    report: &BaselineReport,
    logs: &[BacktestLog],
    provenance: &Provenance,
) -> Result<PathBuf, ReportError> {
    write_json(&out.join(crate::report::REPORT), report)?;
    let all: Vec<&BacktestLog> = logs.iter().collect();
    write_equity_csv(&out.join(crate::report::EQUITY), &report.labels, &all)?;
    let weights = out.join(crate::report::WEIGHTS);
    match logs {
        [one] => write_weights_csv(&weights, &report.decision_labels, &report.assets, one)?,
        // A weights.csv from an earlier lone-strategy backtest into this folder is not this run's.
        _ if weights.exists() => std::fs::remove_file(&weights)
            .map_err(|source| ReportError::Io { path: weights.clone(), source })?,
        _ => {}
    }
    write_run_page(out, provenance)
}
