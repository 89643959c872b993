//! One run as the tearsheet sees it, read back from its folder: `report.json` of `folio eval`,
//! `folio walk-forward` or `folio backtest` (read as [`crate::report::saved`] reads it for
//! `folio plot`), the `equity.csv` beside it, checked against it, and, where there are ones,
//! `weights.csv` and `provenance.json` (how the run was made).

use std::path::{Path, PathBuf};

use super::Provenance;
use crate::backtest::PolicyId;
use crate::metrics::Metrics;
use crate::report::ReportError;
pub use crate::report::saved::{Kind, PolicyRow, SavedReport, Sensitivity, WalkForward};
use crate::report::saved::{Table, read_equity, read_report, read_table};

/// A run read back from its folder: its report and the tables beside it.
#[derive(Debug, Clone)]
pub struct Run {
    pub folder: PathBuf,
    pub report: SavedReport,
    /// Wealth per period of each policy (`equity.csv`).
    pub equity: Table,
    /// The agent's (or the one strategy's) weights per decision, cash first (`weights.csv`).
    pub weights: Option<Table>,
    pub provenance: Option<Provenance>,
}

/// Read the run in `folder`.
pub fn read_run(folder: &Path) -> Result<Run, ReportError> {
    let report = read_report(&folder.join(crate::report::REPORT))?;
    let weights_csv = folder.join(crate::report::WEIGHTS);
    let provenance_json = folder.join(super::PROVENANCE);
    let equity = read_equity(folder, &report)?;
    Ok(Run {
        folder: folder.to_path_buf(),
        report,
        equity,
        weights: if weights_csv.exists() { Some(read_table(&weights_csv)?) } else { None },
        provenance: if provenance_json.exists() { Some(read_provenance(&provenance_json)?) } else { None },
    })
}

fn read_provenance(path: &Path) -> Result<Provenance, ReportError> {
    let fail = |reason: String| ReportError::Read { path: path.to_path_buf(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| fail(e.to_string()))
}

impl Run {
    pub fn metrics(&self, policy: PolicyId) -> Option<&Metrics> {
        self.report.policies.iter().find(|p| p.policy == policy).map(|p| &p.metrics)
    }

    /// The wealth column of `policy` in `equity.csv`.
    pub fn wealth(&self, policy: PolicyId) -> Option<&[f64]> {
        let name = policy.to_string();
        self.equity.columns.iter().find(|(n, _)| *n == name).map(|(_, v)| &v[..])
    }

    /// The policy the page leads with: the agent, else equal weight, else the first.
    pub fn headline(&self) -> Option<PolicyId> {
        self.report
            .agent
            .or_else(|| self.metrics(PolicyId::EQUAL_WEIGHT).map(|_| PolicyId::EQUAL_WEIGHT))
            .or_else(|| self.report.policies.first().map(|p| p.policy))
    }

    /// Periods per year, from how the report annualized: `CAGR = W^(P/n) - 1` gives
    /// `P = n ln(1 + CAGR) / ln W` for any policy whose wealth moved; 252 (trading days) when
    /// none did.
    pub fn periods_per_year(&self) -> f64 {
        self.report
            .policies
            .iter()
            .map(|p| &p.metrics)
            .filter(|m| m.final_wealth.is_finite() && m.final_wealth > 0.0 && m.cagr > -1.0)
            .filter(|m| m.final_wealth.ln().abs() > 1e-3)
            .map(|m| m.periods as f64 * m.cagr.ln_1p() / m.final_wealth.ln())
            .find(|p| p.is_finite() && *p > 0.0)
            .map(|p| p.round())
            .unwrap_or(252.0)
    }
}
