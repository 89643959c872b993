//! What a walk-forward reports: per fold and seed, stitched over the folds, and the statistics
//! that say how far to trust it.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::layout::{Fold, WalkForwardConfig};
use crate::backtest::PolicyId;
use crate::backtest::cost_sensitivity::CostSensitivity;
use crate::backtest::rebalance::RebalanceRule;
use crate::metrics::overfitting;
use crate::metrics::sharpe_difference::SharpeDifference;
use crate::metrics::{Metrics, MetricsSpread};
use crate::train::TrainConfig;

#[derive(Debug, Clone, Serialize)]
pub struct PolicyFold {
    pub policy: PolicyId,
    pub metrics: Metrics,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedResult {
    pub seed: u64,
    pub checkpoint: PathBuf,
    /// Agent metrics on its own training window (deterministic policy).
    pub in_sample: Metrics,
    pub validation_sharpe: f64,
    /// Training did not beat the untrained reference portfolio on validation, so this seed
    /// deploys the reference ([`crate::train::checkpoint::ReferenceTest`]).
    #[serde(default)]
    pub kept_reference: bool,
    /// The reference was kept untested: the gap could not be tested on validation
    /// ([`crate::train::checkpoint::ValidationRecord::kept_reference_untested`]).
    #[serde(default)]
    pub reference_untested: bool,
    pub out_of_sample: Metrics,
    /// Collapse detectors on the agent's test-window weights and turnover.
    pub warnings: Vec<crate::backtest::collapse::CollapseWarning>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FoldReport {
    pub fold: Fold,
    /// Where the fold's trainings are, in the run's output folder: `fold-1` for `fold.index` 0.
    pub folder: String,
    pub train: (String, String),
    pub validation: (String, String),
    pub test: (String, String),
    pub seeds: Vec<SeedResult>,
    /// The fold's seeds deployed together: the average of their weights.
    pub ensemble: Metrics,
    pub baselines: Vec<PolicyFold>,
}

impl FoldReport {
    /// The out-of-sample result of one seed in this fold.
    pub fn seed(&self, seed: u64) -> Option<&SeedResult> {
        self.seeds.iter().find(|s| s.seed == seed)
    }

    /// A baseline's out-of-sample Sharpe ratio in this fold (NaN if it did not run).
    pub fn baseline_sharpe(&self, policy: PolicyId) -> f64 {
        self.baselines.iter().find(|b| b.policy == policy).map(|b| b.metrics.sharpe).unwrap_or(f64::NAN)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OverallRow {
    pub policy: PolicyId,
    /// Metrics of the stitched out-of-sample curve.
    pub metrics: Metrics,
    /// Mean in-sample (training window) Sharpe, agents only.
    pub in_sample_sharpe: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WalkForwardReport {
    pub config: WalkForwardConfig,
    pub train: TrainConfig,
    pub data: String,
    pub data_fingerprint: String,
    /// The rebalancing rule every policy traded under in the test windows.
    pub rebalance: RebalanceRule,
    /// The environment's schedule under the rule, in training and test alike: periods between
    /// decisions, and the config's no-trade band (0 for none).
    pub rebalance_every: usize,
    pub no_trade_band: f64,
    pub folds: Vec<FoldReport>,
    /// Stitched out-of-sample results: each seed's agent, the ensemble of the seeds, then every
    /// baseline.
    pub overall: Vec<OverallRow>,
    /// The seed whose stitched out-of-sample Sharpe is the median. The headline is the
    /// ensemble's ([`PolicyId::Ensemble`]), which deploys every seed and selects none.
    pub median_seed: u64,
    /// Median, IQR and range of the seeds' stitched out-of-sample metrics.
    pub seed_spread: MetricsSpread,
    pub deflated_sharpe: Option<overfitting::DeflatedSharpe>,
    /// Which trials the Deflated Sharpe Ratio counted.
    pub dsr_trials: DsrTrials,
    /// Why there is no DSR: trials in the registry whose Sharpe ratios on this run's periods are
    /// too few to give their spread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deflated_sharpe_unavailable: Option<String>,
    pub backtest_overfitting: Option<overfitting::Pbo>,
    /// Why there is no PBO: one seed, or seeds whose returns are all the same (each kept the
    /// reference portfolio), which leave no choice to overfit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backtest_overfitting_unavailable: Option<String>,
    /// The ensemble's stitched out-of-sample Sharpe ratio against equal weight's on the same
    /// periods: whether the gap is more than noise (Ledoit and Wolf's HAC test). The DSR asks
    /// whether the ensemble's Sharpe ratio is above zero given the trials, and the PBO whether
    /// picking a seed would have held up; neither asks this.
    pub edge_over_equal_weight: Option<SharpeDifference>,
    /// Stitched out-of-sample CAGR of the ensemble and simple baselines across cost rates.
    pub cost_sensitivity: CostSensitivity,
    pub verdict: String,
    /// Index ranges of each fold's test window in the rows of `equity.csv`.
    pub fold_spans: Vec<(usize, usize)>,
    /// Out-of-sample curves, for pictures and CSV: row labels and one wealth series per policy.
    #[serde(skip)]
    pub curves: Curves,
}

impl WalkForwardReport {
    /// How many of the trainings (folds times seeds) deploy their untrained reference
    /// portfolio, and how many there are.
    pub fn trainings_that_kept_reference(&self) -> (usize, usize) {
        kept_reference_counts(&self.folds)
    }
}

/// Of the trainings across `folds` that kept their reference, those that kept it untested.
pub(super) fn untested_reference_count(folds: &[FoldReport]) -> usize {
    folds.iter().flat_map(|f| &f.seeds).filter(|s| s.reference_untested).count()
}

/// `(kept, trainings)`: the trainings across `folds` that deploy their reference, and all of them.
pub(super) fn kept_reference_counts(folds: &[FoldReport]) -> (usize, usize) {
    let kept = folds.iter().flat_map(|f| &f.seeds).filter(|s| s.kept_reference).count();
    (kept, folds.iter().map(|f| f.seeds.len()).sum())
}

/// The trials behind the Deflated Sharpe Ratio: with a registry, every trial ever recorded on
/// this data (this run's seeds included); without one, this run's seeds alone.
#[derive(Debug, Clone, Serialize)]
pub struct DsrTrials {
    /// The trial registry read and appended to; `None` when only this run's seeds counted.
    pub registry: Option<PathBuf>,
    /// `N`: trials on this data.
    pub trials: usize,
    /// Of them, trials on a shorter cut of this history (development runs cut at the validation
    /// end, say): the same rows, so their choices were made on this data too.
    pub on_shorter_cuts: usize,
    /// Of them, this run's seeds.
    pub this_run: usize,
    /// Of this run's seeds, those the registry held already from an earlier run of the same
    /// trainings into another folder, counted once.
    #[serde(skip_serializing_if = "is_zero")]
    pub recorded_before: usize,
    /// Of them, those whose per-period Sharpe ratios give `V`: with a defined Sharpe ratio, and
    /// with a registry, measured on this run's test periods (a training's validation or a
    /// shorter cut's tests are other periods).
    pub with_sharpe: usize,
    /// Why the registry could not record this run, when it could not: the statistics then count
    /// this run's seeds alone, and the report is still written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_error: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Curves {
    pub labels: Vec<String>,
    pub series: Vec<(PolicyId, Vec<f64>)>,
    /// Index ranges of each fold's test window in `labels`.
    pub fold_spans: Vec<(usize, usize)>,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}
