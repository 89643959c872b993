//! One run as the tearsheet sees it, read back from its folder: `report.json` of `folio eval`,
//! `folio walk-forward` or `folio backtest`, the `equity.csv` beside it and, where there is one,
//! `weights.csv`, plus `provenance.json` (how the run was made).
//!
//! Fields the page computes with are typed, so that a renamed field is an error naming the file;
//! fields it only shows (costs, limits, configs) are kept as JSON and shown as they are.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::Provenance;
use crate::backtest::PolicyId;
use crate::backtest::cost_sensitivity::BreakEven;
use crate::metrics::sharpe_difference::SharpeDifference;
use crate::metrics::{Metrics, MetricsSpread, nan_if_null};
use crate::report::ReportError;
use crate::report::saved::{Table, check_equity, read_table};

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

    /// The headline agent's out-of-sample Sharpe ratio in `fold`.
    pub fn headline_sharpe(&self, fold: &Fold) -> f64 {
        match &fold.ensemble {
            Some(e) => e.sharpe,
            None => fold.seed(self.median_seed).map_or(f64::NAN, |s| s.out_of_sample.sharpe),
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

/// A run read back from its folder.
#[derive(Debug, Clone)]
pub struct Run {
    pub folder: PathBuf,
    pub kind: Kind,
    pub from: String,
    pub to: String,
    /// Every policy over the whole period (stitched test periods for a walk-forward), agents
    /// first.
    pub policies: Vec<PolicyRow>,
    /// The policy the verdict is about: the agent (the median seed's in a walk-forward), or
    /// none in a backtest of rules alone.
    pub agent: Option<PolicyId>,
    /// The verdict the run itself wrote, in words.
    pub verdict: Option<String>,
    /// An evaluation on the training data over a period that training or selection saw.
    pub in_sample: bool,
    pub warnings: Vec<String>,
    pub cost_sensitivity: Option<Sensitivity>,
    /// The test of the agent's Sharpe ratio against equal weight's, when the report has one.
    pub edge_over_equal_weight: Option<SharpeDifference>,
    pub walk_forward: Option<WalkForward>,
    /// Wealth per period of each policy (`equity.csv`).
    pub equity: Table,
    /// The agent's (or the one strategy's) weights per decision, cash first (`weights.csv`).
    pub weights: Option<Table>,
    /// What the report says about where the run came from: data, costs, limits, configs.
    pub facts: Vec<(String, Value)>,
    pub provenance: Option<Provenance>,
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

/// Read the run in `folder`.
pub fn read_run(folder: &Path) -> Result<Run, ReportError> {
    let path = folder.join(crate::report::REPORT);
    let fail = |reason: String| ReportError::Read { path: path.clone(), reason };
    let text = std::fs::read_to_string(&path).map_err(|e| fail(e.to_string()))?;
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
            Some(serde_json::from_value::<WalkForward>(value.clone()).map_err(|e| fail(e.to_string()))?)
        }
        _ => None,
    };
    let agent = match &walk_forward {
        Some(wf) => Some(wf.headline()),
        None => policies.iter().map(|p| p.policy).find(PolicyId::is_agent),
    };
    // An evaluation's warning is the overlap with what training saw when the data is the
    // training data's, and a note that it is not otherwise.
    let in_sample = kind == Kind::Eval
        && common.warning.is_some()
        && value.get("same_data_as_training").and_then(Value::as_bool) == Some(true);
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
    let weights_csv = folder.join(crate::report::WEIGHTS);
    let provenance_json = folder.join(super::PROVENANCE);
    let equity_csv = folder.join(crate::report::EQUITY);
    let equity = read_table(&equity_csv)?;
    let stated = policies.iter().map(|row| (row.policy, row.metrics.periods, row.metrics.final_wealth));
    check_equity(&equity_csv, &equity, stated)?;
    Ok(Run {
        folder: folder.to_path_buf(),
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
        equity,
        weights: if weights_csv.exists() { Some(read_table(&weights_csv)?) } else { None },
        facts,
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
        self.policies.iter().find(|p| p.policy == policy).map(|p| &p.metrics)
    }

    /// The wealth column of `policy` in `equity.csv`.
    pub fn wealth(&self, policy: PolicyId) -> Option<&[f64]> {
        let name = policy.to_string();
        self.equity.columns.iter().find(|(n, _)| *n == name).map(|(_, v)| &v[..])
    }

    /// The policy the page leads with: the agent, else equal weight, else the first.
    pub fn headline(&self) -> Option<PolicyId> {
        self.agent
            .or_else(|| self.metrics(PolicyId::EQUAL_WEIGHT).map(|_| PolicyId::EQUAL_WEIGHT))
            .or_else(|| self.policies.first().map(|p| p.policy))
    }

    /// Periods per year, from how the report annualized: `CAGR = W^(P/n) - 1` gives
    /// `P = n ln(1 + CAGR) / ln W` for any policy whose wealth moved; 252 (trading days) when
    /// none did.
    pub fn periods_per_year(&self) -> f64 {
        self.policies
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
