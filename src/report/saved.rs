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
    Eval,
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
        Kind { results: Some(_), .. } => Ok(SavedReport::Eval),
        Kind { .. } => Err(fail(
            "neither an evaluation report (no field `results`) nor a walk-forward report (no field `folds`)"
                .into(),
        )),
    }
}

/// The fields that tell the reports apart: only a walk-forward report has `folds`, only an
/// evaluation has `results`.
#[derive(Deserialize)]
struct Kind {
    folds: Option<IgnoredAny>,
    results: Option<IgnoredAny>,
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
        assert_eq!(read(r#"{"results": [], "verdict": ""}"#), Ok(SavedReport::Eval));
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
