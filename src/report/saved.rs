//! Reports read back from disk: what `folio plot` needs of a saved `report.json`, typed, so that
//! a renamed or missing field is an error naming the file and the field rather than a picture
//! with holes in it.
//!
//! Only the fields a picture uses are read; the rest of the report may change freely. The tests
//! read back reports written by [`super::write_json`] from the library's own report types, so a
//! field renamed there fails a test.

use std::path::Path;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::ReportError;
use super::plot::FoldSpan;
use crate::backtest::PolicyId;
use crate::metrics::nan_if_null;

/// What a `report.json` holds.
#[derive(Debug, Clone, PartialEq)]
pub enum SavedReport {
    /// An evaluation by `folio eval` ([`crate::eval::evaluate::EvalReport`]); its pictures come
    /// from the CSV files beside it.
    Eval {
        /// The period was in-sample for the agent (the report's warning says how): its pictures
        /// say so, as its verdict does.
        in_sample: bool,
    },
    /// A walk-forward evaluation by `folio walk-forward`
    /// ([`crate::eval::walk_forward::WalkForwardReport`]).
    WalkForward {
        /// The headline agent's column in `equity.csv`: the ensemble, or in reports written
        /// before ensembles existed, the median seed (`agent (seed N)`).
        headline: PolicyId,
        /// Each fold's test period in the rows of `equity.csv`, with the headline agent's and
        /// the equal-weight portfolio's out-of-sample Sharpe ratios.
        folds: Vec<FoldSpan>,
    },
}

/// Read a `report.json` written by `folio eval` or `folio walk-forward`.
pub fn read_report(path: &Path) -> Result<SavedReport, ReportError> {
    let fail = |reason: String| ReportError::Read { path: path.to_path_buf(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let kind: Kind = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
    match kind {
        Kind { folds: Some(_), .. } => {
            let report: WalkForward = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
            Ok(SavedReport::WalkForward {
                headline: report.headline(),
                folds: report.spans().map_err(|e| fail(e.to_string()))?,
            })
        }
        Kind { results: Some(_), warning, .. } => Ok(SavedReport::Eval { in_sample: warning.is_some() }),
        Kind { .. } => Err(fail(
            "neither an evaluation report (no field `results`) nor a walk-forward report (no field `folds`)"
                .into(),
        )),
    }
}

/// Named columns over shared row labels, as in `equity.csv` and `weights.csv`.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub labels: Vec<String>,
    pub columns: Vec<(String, Vec<f64>)>,
}

impl Table {
    /// The column names, and the values row by row (a weights table's rows are portfolios).
    pub fn rows(&self) -> (Vec<String>, Vec<Vec<f64>>) {
        let names = self.columns.iter().map(|(name, _)| name.clone()).collect();
        let rows = (0..self.labels.len()).map(|i| self.columns.iter().map(|(_, c)| c[i]).collect()).collect();
        (names, rows)
    }
}

/// A CSV whose first column labels the rows and whose other columns are numbers (empty: NaN).
pub fn read_table(path: &Path) -> Result<Table, ReportError> {
    let fail = |reason: String| ReportError::Read { path: path.to_path_buf(), reason };
    let mut reader = csv::Reader::from_path(path).map_err(|e| fail(e.to_string()))?;
    let names: Vec<String> =
        reader.headers().map_err(|e| fail(e.to_string()))?.iter().skip(1).map(String::from).collect();
    let mut table =
        Table { labels: Vec::new(), columns: names.into_iter().map(|n| (n, Vec::new())).collect() };
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| fail(format!("line {}: {e}", i + 2)))?;
        table.labels.push(record.get(0).unwrap_or_default().to_string());
        for (j, (name, column)) in table.columns.iter_mut().enumerate() {
            let cell = record.get(j + 1).unwrap_or_default();
            let value = if cell.is_empty() {
                f64::NAN
            } else {
                cell.parse()
                    .map_err(|_| fail(format!("line {}, column {name}: '{cell}' is not a number", i + 2)))?
            };
            column.push(value);
        }
    }
    Ok(table)
}

/// `equity.csv` as the report.json beside it states it: for each policy (its periods and final
/// wealth), a column of positive wealth with one value more than its periods, blank only before
/// or after them, ending at that final wealth. A file cut short, edited, or copied from another
/// run would otherwise be drawn beside figures it does not match.
pub fn check_equity(
    path: &Path,
    equity: &Table,
    stated: impl IntoIterator<Item = (PolicyId, usize, f64)>,
) -> Result<(), ReportError> {
    let fail = |reason: String| ReportError::Read { path: path.to_path_buf(), reason };
    for (policy, periods, final_wealth) in stated {
        let name = policy.to_string();
        let Some((_, values)) = equity.columns.iter().find(|(column, _)| *column == name) else {
            return Err(fail(format!("no column `{name}`, which report.json lists")));
        };
        let first = values.iter().position(|v| !v.is_nan()).unwrap_or(values.len());
        let end = values.iter().rposition(|v| !v.is_nan()).map_or(first, |last| last + 1);
        if let Some(i) = (first..end).find(|&i| !(values[i].is_finite() && values[i] > 0.0)) {
            return Err(fail(format!(
                "line {}, column {name}: wealth must be a positive number, got {}",
                i + 2,
                if values[i].is_nan() { "a blank or NaN".to_string() } else { values[i].to_string() }
            )));
        }
        if end - first != periods + 1 {
            return Err(fail(format!(
                "column {name} holds {} values, where report.json's {periods} periods make {}: the file \
                 was cut short or edited",
                end - first,
                periods + 1
            )));
        }
        let ratio = values[end - 1] / values[first];
        if !((ratio - final_wealth).abs() <= 1e-9 * final_wealth.abs()) {
            return Err(fail(format!(
                "column {name} ends at {ratio} times its start, where report.json's final wealth is \
                 {final_wealth}: the file does not belong to this report"
            )));
        }
    }
    Ok(())
}

/// Each policy's periods and final wealth as a `report.json` of eval, backtest (`results`) or
/// walk-forward (`overall`) states them, read leniently so that reports written before later
/// fields were added still check.
pub fn stated_wealth(path: &Path) -> Result<Vec<(PolicyId, usize, f64)>, ReportError> {
    let fail = |reason: String| ReportError::Read { path: path.to_path_buf(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let rows: StatedRows = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
    let rows = rows.overall.or(rows.results).unwrap_or_default();
    Ok(rows.into_iter().map(|row| (row.policy, row.metrics.periods, row.metrics.final_wealth)).collect())
}

#[derive(Deserialize)]
struct StatedRows {
    results: Option<Vec<StatedRow>>,
    overall: Option<Vec<StatedRow>>,
}

#[derive(Deserialize)]
struct StatedRow {
    policy: PolicyId,
    metrics: StatedMetrics,
}

#[derive(Deserialize)]
struct StatedMetrics {
    periods: usize,
    #[serde(deserialize_with = "nan_if_null")]
    final_wealth: f64,
}

/// The fields that tell the reports apart: only a walk-forward report has `folds`, only an
/// evaluation has `results`.
#[derive(Deserialize)]
struct Kind {
    folds: Option<IgnoredAny>,
    results: Option<IgnoredAny>,
    /// An evaluation's in-sample warning.
    warning: Option<IgnoredAny>,
}

/// What the walk-forward picture needs of a [`crate::eval::walk_forward::WalkForwardReport`].
#[derive(Deserialize)]
struct WalkForward {
    median_seed: u64,
    fold_spans: Vec<(usize, usize)>,
    folds: Vec<Fold>,
}

#[derive(Deserialize)]
struct Fold {
    seeds: Vec<Seed>,
    /// Absent from reports written before ensembles existed.
    ensemble: Option<Sharpe>,
    baselines: Vec<Baseline>,
}

#[derive(Deserialize)]
struct Seed {
    seed: u64,
    out_of_sample: Sharpe,
}

#[derive(Deserialize)]
struct Baseline {
    policy: PolicyId,
    metrics: Sharpe,
}

/// A [`crate::metrics::Metrics`] read for its Sharpe ratio alone.
#[derive(Deserialize)]
struct Sharpe {
    /// `null` when the ratio is undefined (a flat curve): NaN, drawn as no bar.
    #[serde(deserialize_with = "nan_if_null")]
    sharpe: f64,
}

/// A walk-forward report that lacks what `folio walk-forward` always writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Incomplete {
    #[error("{spans} fold spans but {folds} folds")]
    Spans { spans: usize, folds: usize },
    #[error("fold {fold} has no result for the median seed {seed}")]
    MedianSeed { fold: usize, seed: u64 },
    #[error("fold {fold} has no equal weight baseline")]
    EqualWeight { fold: usize },
}

impl WalkForward {
    fn has_ensemble(&self) -> bool {
        self.folds.iter().all(|f| f.ensemble.is_some())
    }

    fn headline(&self) -> PolicyId {
        if self.has_ensemble() {
            PolicyId::Ensemble
        } else {
            PolicyId::Agent { seed: Some(self.median_seed) }
        }
    }

    /// One span per fold. Every fold ran every seed and every baseline, so a missing one means
    /// the file is not what `folio walk-forward` wrote.
    fn spans(&self) -> Result<Vec<FoldSpan>, Incomplete> {
        if self.fold_spans.len() != self.folds.len() {
            return Err(Incomplete::Spans { spans: self.fold_spans.len(), folds: self.folds.len() });
        }
        let mut out = Vec::new();
        for (k, (&(start, end), fold)) in self.fold_spans.iter().zip(&self.folds).enumerate() {
            let median = fold
                .seeds
                .iter()
                .find(|s| s.seed == self.median_seed)
                .ok_or(Incomplete::MedianSeed { fold: k + 1, seed: self.median_seed })?;
            let agent_sharpe = match &fold.ensemble {
                Some(ensemble) if self.has_ensemble() => ensemble.sharpe,
                _ => median.out_of_sample.sharpe,
            };
            let equal_weight = fold
                .baselines
                .iter()
                .find(|b| b.policy == PolicyId::EQUAL_WEIGHT)
                .ok_or(Incomplete::EqualWeight { fold: k + 1 })?;
            out.push(FoldSpan { start, end, agent_sharpe, equal_weight_sharpe: equal_weight.metrics.sharpe });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blanks may stand before or after a column's values (a policy that covers fewer rows), never
    /// among them; the values count one more than the periods and end at the final wealth.
    #[test]
    fn an_equity_column_is_checked_against_its_stated_periods_and_final_wealth() {
        let table = |values: Vec<f64>| Table {
            labels: (0..values.len()).map(|i| i.to_string()).collect(),
            columns: vec![("equal weight".into(), values)],
        };
        let check = |values: Vec<f64>, periods: usize, final_wealth: f64| {
            let stated = [(PolicyId::EQUAL_WEIGHT, periods, final_wealth)];
            check_equity(Path::new("equity.csv"), &table(values), stated).map_err(|e| e.to_string())
        };
        let nan = f64::NAN;
        assert_eq!(check(vec![nan, 2.0, 3.0, 4.0, nan], 2, 2.0), Ok(()));
        let gap = check(vec![2.0, nan, 4.0], 2, 2.0).unwrap_err();
        assert!(
            gap.contains("line 3, column equal weight: wealth must be a positive number, got a blank"),
            "{gap}"
        );
        let short = check(vec![2.0, 4.0], 2, 2.0).unwrap_err();
        assert!(short.contains("holds 2 values, where report.json's 2 periods make 3"), "{short}");
        let other = check(vec![2.0, 3.0, 5.0], 2, 2.0).unwrap_err();
        assert!(other.contains("does not belong to this report"), "{other}");
    }

    /// A walk-forward report.json as `folio walk-forward` writes it, cut to what is read, with
    /// one undefined Sharpe ratio.
    const WALK_FORWARD: &str = r#"{
        "median_seed": 8,
        "fold_spans": [[0, 100], [100, 200]],
        "verdict": "fields that are not read may be anything",
        "folds": [
            {"seeds": [{"seed": 7, "out_of_sample": {"sharpe": 0.1}}, {"seed": 8, "out_of_sample": {"sharpe": 0.5}}],
             "baselines": [{"policy": "equal weight", "metrics": {"sharpe": 0.3}}]},
            {"seeds": [{"seed": 8, "out_of_sample": {"sharpe": null}}],
             "baselines": [{"policy": "buy and hold", "metrics": {"sharpe": 1.0}},
                           {"policy": "equal weight", "metrics": {"sharpe": -0.2}}]}
        ]
    }"#;

    fn read(json: &str) -> Result<SavedReport, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(&path, json).unwrap();
        read_report(&path).map_err(|e| {
            let text = e.to_string();
            assert!(text.contains(&path.display().to_string()), "{text} should name the file");
            text
        })
    }

    #[test]
    fn a_walk_forward_report_reads_as_fold_spans() {
        let Ok(SavedReport::WalkForward { headline, folds }) = read(WALK_FORWARD) else { panic!() };
        assert_eq!(headline, PolicyId::Agent { seed: Some(8) }, "no ensemble: the median seed");
        assert_eq!((folds[0].start, folds[0].end, folds[1].start, folds[1].end), (0, 100, 100, 200));
        assert_eq!((folds[0].agent_sharpe, folds[0].equal_weight_sharpe), (0.5, 0.3));
        assert!(folds[1].agent_sharpe.is_nan() && folds[1].equal_weight_sharpe == -0.2);
        assert_eq!(read(r#"{"results": [], "verdict": ""}"#), Ok(SavedReport::Eval { in_sample: false }));
        // With an ensemble in every fold, it is the headline.
        let with_ensemble = WALK_FORWARD
            .replace(
                r#""baselines": [{"policy": "equal weight""#,
                r#""ensemble": {"sharpe": 0.7}, "baselines": [{"policy": "equal weight""#,
            )
            .replace(
                r#""baselines": [{"policy": "buy and hold""#,
                r#""ensemble": {"sharpe": 0.9}, "baselines": [{"policy": "buy and hold""#,
            );
        let Ok(SavedReport::WalkForward { headline, folds }) = read(&with_ensemble) else { panic!() };
        assert_eq!(headline, PolicyId::Ensemble);
        assert_eq!((folds[0].agent_sharpe, folds[1].agent_sharpe), (0.7, 0.9));
    }

    #[test]
    fn a_renamed_or_missing_field_is_an_error_naming_it() {
        for (from, to, expected) in [
            ("\"median_seed\"", "\"median\"", "median_seed"),
            ("\"fold_spans\"", "\"spans\"", "fold_spans"),
            ("\"out_of_sample\"", "\"oos\"", "out_of_sample"),
            ("{\"sharpe\": 0.3}", "{\"sortino\": 0.3}", "sharpe"),
            ("\"folds\"", "\"windows\"", "neither"),
            ("\"median_seed\": 8", "\"median_seed\": 9", "no result for the median seed 9"),
            (
                "\"equal weight\", \"metrics\": {\"sharpe\": 0.3}",
                "\"buy and hold\", \"metrics\": {\"sharpe\": 0.3}",
                "fold 1 has no equal weight",
            ),
            (
                "\"equal weight\", \"metrics\": {\"sharpe\": 0.3}",
                "\"cash\", \"metrics\": {\"sharpe\": 0.3}",
                "'cash' names no policy",
            ),
            ("[[0, 100], [100, 200]]", "[[0, 100]]", "1 fold spans but 2 folds"),
        ] {
            assert!(WALK_FORWARD.contains(from), "{from}");
            let e = read(&WALK_FORWARD.replacen(from, to, 1)).unwrap_err();
            assert!(e.contains(expected), "\"{e}\" should mention \"{expected}\"");
        }
        let dir = tempfile::tempdir().unwrap();
        let missing = read_report(&dir.path().join("report.json")).unwrap_err().to_string();
        assert!(missing.contains("report.json"), "{missing}");
    }
}
