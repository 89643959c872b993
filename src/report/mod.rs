//! Reports: what evaluations leave on disk for people and scripts — JSON, CSV and pictures —
//! always written atomically.

pub mod backtest;
pub mod html;
pub mod markdown;
pub mod outputs;
pub mod plot;
pub mod saved;
pub mod tax;
pub mod text;

// The files a report folder holds, by name: what `folio plot` and `folio report` read back.
/// A command's report (`folio eval`, `walk-forward`, `backtest`), in JSON.
pub const REPORT: &str = "report.json";
/// Every pictured policy's wealth, one column each.
pub const EQUITY: &str = "equity.csv";
/// One policy's weights at each decision, cash first.
pub const WEIGHTS: &str = "weights.csv";

/// Baselines drawn beside the agent in pictures: the comparisons people make first. Every
/// policy stays in the CSV and JSON; fewer lines keep the colours distinct, and hindsight
/// benchmarks (BCRP, best asset), whose scale would flatten everything else, stay in the tables.
pub const PICTURED_BASELINES: [BaselineId; 6] = [
    BaselineId::EqualWeight,
    BaselineId::BuyAndHold,
    BaselineId::MinVariance,
    BaselineId::InverseVolatility,
    BaselineId::TrendFollowing,
    BaselineId::Olmar,
];

/// `n` and its noun, singular for one: "1 seed", "3 seeds".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// Whether a policy's curve belongs in a picture.
pub fn pictured(policy: PolicyId) -> bool {
    match policy {
        PolicyId::Agent { .. } | PolicyId::Ensemble => true,
        PolicyId::Baseline(baseline) => PICTURED_BASELINES.contains(&baseline),
    }
}

/// Which of `policies` a picture of them all draws: the [`pictured`] ones, or every one when
/// none is. A backtest of BCRP alone is drawn: the choice of a few lines is for crowded pictures.
pub fn pictured_among(policies: impl IntoIterator<Item = PolicyId>) -> Box<dyn Fn(PolicyId) -> bool> {
    let any = policies.into_iter().any(pictured);
    Box::new(move |policy| !any || pictured(policy))
}

use serde::Serialize;
use std::path::Path;

use crate::backtest::BacktestLog;
use crate::backtest::{BaselineId, PolicyId};
use crate::files::{write_atomically, write_bytes_atomically};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot draw {}: {reason}", path.display())]
    Plot { path: std::path::PathBuf, reason: String },
    #[error("cannot draw the {chart} chart: {reason}")]
    Chart { chart: String, reason: String },
    #[error("cannot read {}: {reason}", path.display())]
    Read { path: std::path::PathBuf, reason: String },
}

pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), ReportError> {
    let json = serde_json::to_vec_pretty(value).expect("reports serialize");
    write_bytes_atomically(path, &json).map_err(|source| ReportError::Io { path: path.into(), source })
}

pub fn write_text(path: &Path, text: &str) -> Result<(), ReportError> {
    write_bytes_atomically(path, text.as_bytes())
        .map_err(|source| ReportError::Io { path: path.into(), source })
}

/// One row per period, one wealth column per policy: `date,agent,equal weight,...`. Every log
/// must cover the same rows.
pub fn write_equity_csv(path: &Path, labels: &[String], logs: &[&BacktestLog]) -> Result<(), ReportError> {
    let series: Vec<_> = logs.iter().map(|log| (log.policy, &log.values[..])).collect();
    write_series_csv(path, labels, &series)
}

/// The weights a policy chose at each decision, cash first.
pub fn write_weights_csv(
    path: &Path,
    labels: &[String],
    assets: &[String],
    log: &BacktestLog,
) -> Result<(), ReportError> {
    write_atomically(path, |w| {
        let mut writer = csv::Writer::from_writer(w);
        let mut header = vec!["period".to_string(), "cash".to_string()];
        header.extend(assets.iter().cloned());
        writer.write_record(&header)?;
        for (label, weights) in labels.iter().zip(&log.weights) {
            let mut row = vec![label.clone()];
            row.extend(weights.iter().map(|w| w.to_string()));
            writer.write_record(&row)?;
        }
        writer.flush()?;
        Ok(())
    })
    .map_err(|source| ReportError::Io { path: path.into(), source })
}

/// Named series over shared row labels: `period,name1,name2,...`.
pub fn write_series_csv(
    path: &Path,
    labels: &[String],
    series: &[(impl std::fmt::Display, impl AsRef<[f64]>)],
) -> Result<(), ReportError> {
    write_atomically(path, |w| {
        let mut writer = csv::Writer::from_writer(w);
        let mut header = vec!["period".to_string()];
        header.extend(series.iter().map(|(name, _)| name.to_string()));
        writer.write_record(&header)?;
        for (i, label) in labels.iter().enumerate() {
            let mut row = vec![label.clone()];
            row.extend(
                series.iter().map(|(_, v)| v.as_ref().get(i).map(|x| x.to_string()).unwrap_or_default()),
            );
            writer.write_record(&row)?;
        }
        writer.flush()?;
        Ok(())
    })
    .map_err(|source| ReportError::Io { path: path.into(), source })
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_of_a_thing_is_singular() {
        assert_eq!(super::count(1, "seed"), "1 seed");
        assert_eq!(super::count(0, "seed"), "0 seeds");
        assert_eq!(super::count(3, "test fold"), "3 test folds");
    }
}
