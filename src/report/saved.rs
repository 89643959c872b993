//! Reports read back from disk: a saved `report.json` of `folio eval`, `folio walk-forward` or
//! `folio backtest`, typed, and the CSV tables beside it. `folio plot` and the HTML tearsheet
//! both read through here, so that they never disagree about what a report says (whether its
//! period was in-sample, which agent is its headline).
//!
//! Fields anything computes with are typed, so that a renamed or missing field is an error
//! naming the file and the field rather than a picture with holes in it; fields only shown
//! (costs, limits, configs) are kept as JSON. The tests read back reports written by
//! [`super::write_json`] from the library's own report types, so a field renamed there fails a
//! test.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::ReportError;
use super::plot::FoldSpan;
use crate::backtest::PolicyId;
use crate::backtest::cost_sensitivity::BreakEven;
use crate::metrics::sharpe_difference::SharpeDifference;
use crate::metrics::{Metrics, MetricsSpread, nan_if_null};

/// What made the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Eval,
    WalkForward,
    Backtest,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Eval => "evaluation",
            Kind::WalkForward => "walk-forward evaluation",
            Kind::Backtest => "backtest",
        }
    }
}

/// One policy's figures over the run's whole period, after costs.
#[derive(Debug, Clone, Deserialize)]
pub struct PolicyRow {
    pub policy: PolicyId,
    pub metrics: Metrics,
    /// Walk-forward only: the mean in-sample Sharpe ratio across folds.
    #[serde(default)]
    pub in_sample_sharpe: Option<f64>,
}

/// Each policy's CAGR across a grid of cost rates
/// ([`crate::backtest::cost_sensitivity::CostSensitivity`]).
#[derive(Debug, Clone, Deserialize)]
pub struct Sensitivity {
    pub costs_bp: Vec<f64>,
    /// `null` (NaN) where a CAGR is undefined.
    pub cagr: Vec<(PolicyId, Vec<Option<f64>>)>,
    pub break_even: BreakEven,
}

/// A walk-forward run's folds, seeds and overfitting statistics.
#[derive(Debug, Clone, Deserialize)]
pub struct WalkForward {
    pub median_seed: u64,
    pub folds: Vec<Fold>,
    pub fold_spans: Vec<(usize, usize)>,
    pub seed_spread: MetricsSpread,
    pub deflated_sharpe: Option<Dsr>,
    pub backtest_overfitting: Option<Pbo>,
    /// Why there is no PBO; absent from reports that predate it.
    #[serde(default)]
    pub backtest_overfitting_unavailable: Option<String>,
    pub config: Value,
    pub train: Value,
    pub dsr_trials: Value,
    /// Each fold's test rows in `equity.csv` with the headline's and equal weight's Sharpe
    /// ratios there: computed, and checked complete, when the report is read ([`read_report`]).
    #[serde(skip)]
    pub test_spans: Vec<FoldSpan>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Fold {
    pub train: (String, String),
    pub validation: (String, String),
    pub test: (String, String),
    pub seeds: Vec<Seed>,
    /// The seeds' ensemble; absent from reports written before ensembles existed.
    #[serde(default)]
    pub ensemble: Option<Metrics>,
    pub baselines: Vec<PolicyRow>,
}

impl WalkForward {
    /// Whether the headline is the ensemble (every fold has one) rather than the median seed.
    pub fn has_ensemble(&self) -> bool {
        self.folds.iter().all(|f| f.ensemble.is_some())
    }

    pub fn headline(&self) -> PolicyId {
        if self.has_ensemble() {
            PolicyId::Ensemble
        } else {
            PolicyId::Agent { seed: Some(self.median_seed) }
        }
    }

    /// One span per fold (see [`Self::test_spans`]). Every fold ran every seed and every
    /// baseline, so a missing one means the file is not what `folio walk-forward` wrote.
    fn spans(&self) -> Result<Vec<FoldSpan>, Incomplete> {
        if self.fold_spans.len() != self.folds.len() {
            return Err(Incomplete::Spans { spans: self.fold_spans.len(), folds: self.folds.len() });
        }
        let span = |(k, (&(start, end), fold)): (usize, (&(usize, usize), &Fold))| {
            fold.seed(self.median_seed)
                .ok_or(Incomplete::MedianSeed { fold: k + 1, seed: self.median_seed })?;
            let equal_weight = fold.equal_weight().ok_or(Incomplete::EqualWeight { fold: k + 1 })?;
            Ok(FoldSpan {
                start,
                end,
                agent_sharpe: self.headline_sharpe(fold),
                equal_weight_sharpe: equal_weight.sharpe,
            })
        };
        self.fold_spans.iter().zip(&self.folds).enumerate().map(span).collect()
    }

    /// The headline agent's out-of-sample Sharpe ratio in `fold`.
    pub fn headline_sharpe(&self, fold: &Fold) -> f64 {
        match &fold.ensemble {
            Some(e) if self.has_ensemble() => e.sharpe,
            _ => fold.seed(self.median_seed).map_or(f64::NAN, |s| s.out_of_sample.sharpe),
        }
    }
}

impl Fold {
    pub fn seed(&self, seed: u64) -> Option<&Seed> {
        self.seeds.iter().find(|s| s.seed == seed)
    }

    pub fn equal_weight(&self) -> Option<&Metrics> {
        self.baselines.iter().find(|b| b.policy == PolicyId::EQUAL_WEIGHT).map(|b| &b.metrics)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Seed {
    pub seed: u64,
    pub in_sample: Metrics,
    pub out_of_sample: Metrics,
    #[serde(default)]
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Warning {
    pub message: String,
}

/// The Deflated Sharpe Ratio of the headline agent ([`crate::metrics::overfitting::DeflatedSharpe`]).
#[derive(Debug, Clone, Deserialize)]
pub struct Dsr {
    #[serde(deserialize_with = "nan_if_null")]
    pub dsr: f64,
    pub trials: usize,
}

/// The probability of backtest overfitting ([`crate::metrics::overfitting::Pbo`]).
#[derive(Debug, Clone, Deserialize)]
pub struct Pbo {
    #[serde(deserialize_with = "nan_if_null")]
    pub pbo: f64,
    /// How many configurations (seeds) it compared; absent from reports that predate it.
    pub configs: Option<usize>,
}

/// A `report.json` read back.
#[derive(Debug, Clone)]
pub struct SavedReport {
    pub kind: Kind,
    pub from: String,
    pub to: String,
    /// Every policy over the whole period (stitched test periods for a walk-forward), agents
    /// first.
    pub policies: Vec<PolicyRow>,
    /// The policy the verdict is about: the agent (in a walk-forward its headline, the
    /// ensemble or the median seed), or none in a backtest of rules alone.
    pub agent: Option<PolicyId>,
    /// The verdict the run itself wrote, in words.
    pub verdict: Option<String>,
    /// An evaluation on the training data over a period that training or selection saw
    /// ([`crate::eval::evaluate::EvalReport::in_sample`]).
    pub in_sample: bool,
    pub warnings: Vec<String>,
    pub cost_sensitivity: Option<Sensitivity>,
    /// The test of the agent's Sharpe ratio against equal weight's, when the report has one.
    pub edge_over_equal_weight: Option<SharpeDifference>,
    pub walk_forward: Option<WalkForward>,
    /// What the report says about where the run came from: data, costs, limits, configs.
    pub facts: Vec<(String, Value)>,
}

impl SavedReport {
    /// Each policy's periods and final wealth, which its column of `equity.csv` must match
    /// ([`check_equity`]).
    pub fn stated_wealth(&self) -> impl Iterator<Item = (PolicyId, usize, f64)> + '_ {
        self.policies.iter().map(|row| (row.policy, row.metrics.periods, row.metrics.final_wealth))
    }
}

/// The fields of every report.json that the page reads; the rest are kept as facts.
#[derive(Deserialize)]
struct Common {
    from: Option<String>,
    to: Option<String>,
    verdict: Option<String>,
    warning: Option<String>,
    #[serde(default)]
    agent_warnings: Vec<Warning>,
    results: Option<Vec<PolicyRow>>,
    overall: Option<Vec<PolicyRow>>,
    cost_sensitivity: Option<Sensitivity>,
    edge_over_equal_weight: Option<SharpeDifference>,
    checkpoint: Option<IgnoredValue>,
    folds: Option<IgnoredValue>,
}

/// A field whose presence alone matters.
#[derive(Deserialize)]
struct IgnoredValue(#[allow(dead_code)] Value);

/// Facts shown in the provenance section, in this order, when the report has them.
const FACTS: [&str; 16] = [
    "checkpoint",
    "ensemble_members",
    "weights",
    "data",
    "data_fingerprint",
    "same_data_as_training",
    "assets",
    "periods",
    "costs",
    "rebalance",
    "rebalance_every",
    "no_trade_band",
    "limits_applied",
    "limits",
    "risk_profile",
    "dsr_trials",
];

/// Read a `report.json` written by `folio eval`, `folio walk-forward` or `folio backtest`.
pub fn read_report(path: &Path) -> Result<SavedReport, ReportError> {
    let fail = |reason: String| ReportError::Read { path: path.to_path_buf(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
    let common: Common = serde_json::from_value(value.clone()).map_err(|e| fail(e.to_string()))?;
    let (kind, policies) = match (&common.folds, common.overall, common.results) {
        (Some(_), Some(overall), _) => (Kind::WalkForward, overall),
        (None, _, Some(results)) if common.checkpoint.is_some() => (Kind::Eval, results),
        (None, _, Some(results)) => (Kind::Backtest, results),
        _ => {
            return Err(fail(
                "not a report of folio eval, walk-forward or backtest (no field `results` or `overall`)"
                    .into(),
            ));
        }
    };
    let walk_forward = match kind {
        Kind::WalkForward => {
            let mut wf: WalkForward =
                serde_json::from_value(value.clone()).map_err(|e| fail(e.to_string()))?;
            wf.test_spans = wf.spans().map_err(|e| fail(e.to_string()))?;
            Some(wf)
        }
        _ => None,
    };
    let agent = match &walk_forward {
        Some(wf) => Some(wf.headline()),
        None => policies.iter().map(|p| p.policy).find(PolicyId::is_agent),
    };
    let same_data = value.get("same_data_as_training").and_then(Value::as_bool) == Some(true);
    let in_sample =
        kind == Kind::Eval && crate::eval::evaluate::in_sample(same_data, common.warning.is_some());
    let mut warnings: Vec<String> = common.warning.into_iter().collect();
    warnings.extend(common.agent_warnings.into_iter().map(|w| format!("agent: {}", w.message)));
    if let Some(wf) = &walk_forward {
        for (k, fold) in wf.folds.iter().enumerate() {
            for s in &fold.seeds {
                warnings.extend(
                    s.warnings.iter().map(|w| format!("fold {} seed {}: {}", k + 1, s.seed, w.message)),
                );
            }
        }
    }
    let (from, to) = match (&walk_forward, common.from, common.to) {
        (_, Some(from), Some(to)) => (from, to),
        (Some(wf), _, _) => (
            wf.folds.first().map(|f| f.test.0.clone()).unwrap_or_default(),
            wf.folds.last().map(|f| f.test.1.clone()).unwrap_or_default(),
        ),
        _ => Default::default(),
    };
    let facts = FACTS.iter().filter_map(|&k| value.get(k).map(|v| (k.to_string(), v.clone()))).collect();
    Ok(SavedReport {
        kind,
        from,
        to,
        policies,
        agent,
        verdict: common.verdict,
        in_sample,
        warnings,
        cost_sensitivity: common.cost_sensitivity,
        edge_over_equal_weight: common.edge_over_equal_weight,
        walk_forward,
        facts,
    })
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

/// The `equity.csv` in `folder`, checked against `report` ([`check_equity`]): what the page and
/// `folio plot` draw wealth from.
pub fn read_equity(folder: &Path, report: &SavedReport) -> Result<Table, ReportError> {
    let path = folder.join(super::EQUITY);
    let equity = read_table(&path)?;
    check_equity(&path, &equity, report.stated_wealth())?;
    Ok(equity)
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

    /// One policy's metrics as a report writes them, with the Sharpe ratio given (`None`: null,
    /// an undefined ratio).
    fn metrics(sharpe: Option<f64>) -> Value {
        let config = crate::metrics::MetricsConfig { periods_per_year: 252.0, risk_free: 0.0 };
        let computed = crate::metrics::compute(&[1.0, 1.01, 1.0, 1.02], &[0.0; 3], 0.0, &config);
        let mut metrics = serde_json::to_value(computed).unwrap();
        metrics["sharpe"] = serde_json::json!(sharpe);
        metrics
    }

    /// A walk-forward report.json with every field read, two folds, no ensemble and one
    /// undefined Sharpe ratio.
    fn walk_forward() -> Value {
        use serde_json::json;
        let row = |policy: &str, sharpe: f64| json!({"policy": policy, "metrics": metrics(Some(sharpe))});
        let seed = |seed: u64, sharpe: Option<f64>| json!({"seed": seed, "in_sample": metrics(Some(1.0)), "out_of_sample": metrics(sharpe)});
        let fold = |seeds: Vec<Value>, baselines: Vec<Value>| {
            json!({"train": ["a", "b"], "validation": ["c", "d"], "test": ["e", "f"],
                   "seeds": seeds, "baselines": baselines})
        };
        json!({
            "median_seed": 8,
            "fold_spans": [[0, 100], [100, 200]],
            "verdict": "in words",
            "overall": [row("agent (seed 8)", 0.4), row("agent (seed 7)", 0.1), row("equal weight", 0.2)],
            "folds": [
                fold(vec![seed(7, Some(0.1)), seed(8, Some(0.5))], vec![row("equal weight", 0.3)]),
                fold(vec![seed(8, None)], vec![row("buy and hold", 1.0), row("equal weight", -0.2)]),
            ],
            "seed_spread": {"runs": 2},
            "deflated_sharpe": null,
            "backtest_overfitting": null,
            "config": {},
            "train": {},
            "dsr_trials": {},
        })
    }

    fn read(json: &Value) -> Result<SavedReport, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(&path, json.to_string()).unwrap();
        read_report(&path).map_err(|e| {
            let text = e.to_string();
            assert!(text.contains(&path.display().to_string()), "{text} should name the file");
            text
        })
    }

    #[test]
    fn a_walk_forward_report_reads_as_fold_spans() {
        let report = read(&walk_forward()).unwrap();
        assert_eq!(report.kind, Kind::WalkForward);
        let wf = report.walk_forward.as_ref().unwrap();
        assert_eq!(wf.headline(), PolicyId::Agent { seed: Some(8) }, "no ensemble: the median seed");
        assert_eq!(report.agent, Some(wf.headline()));
        assert_eq!((report.from.as_str(), report.to.as_str()), ("e", "f"));
        let folds = &wf.test_spans;
        assert_eq!((folds[0].start, folds[0].end, folds[1].start, folds[1].end), (0, 100, 100, 200));
        assert_eq!((folds[0].agent_sharpe, folds[0].equal_weight_sharpe), (0.5, 0.3));
        assert!(folds[1].agent_sharpe.is_nan() && folds[1].equal_weight_sharpe == -0.2);
        // With an ensemble in every fold, it is the headline; with one in some folds only, not.
        let mut with_ensemble = walk_forward();
        with_ensemble["folds"][0]["ensemble"] = metrics(Some(0.7));
        let partly = read(&with_ensemble).unwrap().walk_forward.unwrap();
        assert_eq!((partly.headline(), partly.test_spans[0].agent_sharpe), (wf.headline(), 0.5));
        with_ensemble["folds"][1]["ensemble"] = metrics(Some(0.9));
        let wf = read(&with_ensemble).unwrap().walk_forward.unwrap();
        assert_eq!(wf.headline(), PolicyId::Ensemble);
        let folds = &wf.test_spans;
        assert_eq!((folds[0].agent_sharpe, folds[1].agent_sharpe), (0.7, 0.9));
    }

    /// An evaluation (it names its checkpoint) is in-sample only where its warning is about the
    /// training data; a backtest names no checkpoint.
    #[test]
    fn an_evaluation_is_in_sample_only_on_the_training_data() {
        use serde_json::json;
        let results = json!([{"policy": "agent", "metrics": metrics(Some(0.4))}]);
        let eval = |warning: Option<&str>, same_data: bool| {
            let report = read(&json!({"results": results, "checkpoint": "run", "warning": warning,
                                      "same_data_as_training": same_data}))
            .unwrap();
            (report.kind, report.in_sample)
        };
        assert_eq!(eval(None, true), (Kind::Eval, false));
        assert_eq!(eval(Some("overlaps the training period"), true), (Kind::Eval, true));
        assert_eq!(eval(Some("NOT THE TRAINING DATA"), false), (Kind::Eval, false));
        let backtest = read(&json!({"results": results})).unwrap();
        assert_eq!(
            (backtest.kind, backtest.in_sample, backtest.agent),
            (Kind::Backtest, false, Some(PolicyId::AGENT))
        );
    }

    #[test]
    fn a_renamed_or_missing_field_is_an_error_naming_it() {
        fn remove(object: &mut Value, key: &str) {
            object.as_object_mut().unwrap().remove(key).expect("the field is there");
        }
        type Mutation = fn(&mut Value);
        let mutations: [(&str, Mutation); 9] = [
            ("missing field `median_seed`", |r| remove(r, "median_seed")),
            ("missing field `fold_spans`", |r| remove(r, "fold_spans")),
            ("missing field `out_of_sample`", |r| remove(&mut r["folds"][0]["seeds"][0], "out_of_sample")),
            ("missing field `sharpe`", |r| remove(&mut r["folds"][0]["baselines"][0]["metrics"], "sharpe")),
            ("not a report of folio eval, walk-forward or backtest", |r| remove(r, "folds")),
            ("no result for the median seed 9", |r| r["median_seed"] = 9.into()),
            ("fold 1 has no equal weight", |r| {
                r["folds"][0]["baselines"][0]["policy"] = "buy and hold".into()
            }),
            ("'cash' names no policy", |r| r["folds"][0]["baselines"][0]["policy"] = "cash".into()),
            ("1 fold spans but 2 folds", |r| r["fold_spans"] = serde_json::json!([[0, 100]])),
        ];
        for (expected, mutate) in mutations {
            let mut report = walk_forward();
            mutate(&mut report);
            let e = read(&report).unwrap_err();
            assert!(e.contains(expected), "\"{e}\" should mention \"{expected}\"");
        }
        let dir = tempfile::tempdir().unwrap();
        let missing = read_report(&dir.path().join("report.json")).unwrap_err().to_string();
        assert!(missing.contains("report.json"), "{missing}");
    }
}
