//! Collapse detectors: a trained agent that has stopped deciding anything. RL portfolio agents
//! often settle into a fixed mix, equal weight, buy and hold or a single asset, and a metrics
//! table alone does not show it. Each detector reads a deterministic backtest's weights (cash
//! first) and turnovers and returns a warning in words.
//!
//! Thresholds (all on weights, which are fractions of wealth in [0, 1]):
//! - near-constant weights: every column's (cash and each asset) standard deviation over the
//!   decisions is below [`CONSTANT_WEIGHT_STD`] = 0.01, i.e. no holding moves by more than about
//!   one percent of wealth: the agent ignores its observations;
//! - near-equal weights: the mean absolute deviation of the asset weights from equal weight's
//!   (`1/N`, or what the allocation limits leave of it), averaged over the decisions, is below
//!   [`EQUAL_WEIGHT_MAD`] = 0.01: the agent is equal weight, the baseline it should beat;
//! - zero turnover: the turnover of every decision after the first is below [`ZERO_TURNOVER`] =
//!   1e-4 (0.01% of wealth): the agent buys once and holds;
//! - one asset: a single column (cash included) holds more than [`ONE_ASSET_WEIGHT`] = 0.95 in
//!   more than [`ONE_ASSET_SHARE`] = 95% of the decisions: no diversification at all.
//!
//! A warning is not a verdict: an agent may hold a constant mix on purpose. It says where to look.

use serde::{Deserialize, Serialize};

use crate::backtest::BacktestLog;
use crate::env::Limits;

/// Per-column standard deviation of weights over time below which weights count as constant.
pub const CONSTANT_WEIGHT_STD: f64 = 0.01;
/// Mean absolute deviation from `1/N` over the assets (averaged over decisions) below which the
/// portfolio counts as equal weight.
pub const EQUAL_WEIGHT_MAD: f64 = 0.01;
/// Turnover (fraction of wealth traded) below which a decision counts as no trade.
pub const ZERO_TURNOVER: f64 = 1e-4;
/// Weight above which one column holds (nearly) everything.
pub const ONE_ASSET_WEIGHT: f64 = 0.95;
/// Share of decisions in which one column must hold everything to warn.
pub const ONE_ASSET_SHARE: f64 = 0.95;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CollapseKind {
    ConstantWeights,
    EqualWeights,
    ZeroTurnover,
    OneAsset,
}

/// One detector's finding, with a sentence for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollapseWarning {
    pub kind: CollapseKind,
    pub message: String,
}

/// Every collapse the log shows; empty when the agent looks alive. `names` labels the weight
/// columns (cash first) for messages; missing names fall back to column numbers. `limits` are
/// those the backtest traded under, which equal weight trades under too.
pub fn detect(log: &BacktestLog, names: &[String], limits: &Limits) -> Vec<CollapseWarning> {
    let mut warnings = Vec::new();
    let weights = &log.weights;
    if weights.is_empty() {
        return warnings;
    }
    let width = weights[0].len();
    let decisions = weights.len() as f64;
    let label = |c: usize| names.get(c).cloned().unwrap_or_else(|| format!("column {c}"));

    if weights.len() >= 2 {
        let max_std = (0..width)
            .map(|c| {
                let mean = weights.iter().map(|w| w[c]).sum::<f64>() / decisions;
                (weights.iter().map(|w| (w[c] - mean).powi(2)).sum::<f64>() / (decisions - 1.0)).sqrt()
            })
            .fold(0.0, f64::max);
        if max_std < CONSTANT_WEIGHT_STD {
            warnings.push(CollapseWarning {
                kind: CollapseKind::ConstantWeights,
                message: format!(
                    "near-constant weights: no holding's standard deviation over the {} decisions exceeds {max_std:.4} (threshold {CONSTANT_WEIGHT_STD}); the agent ignores what it observes",
                    weights.len()
                ),
            });
        }
    }

    let assets = width - 1;
    if assets >= 2 {
        // Under a cash floor or a cap, equal weight itself holds less than 1/N of each asset.
        let mut equal = vec![1.0 / assets as f64; width];
        equal[0] = 0.0;
        limits.project(&mut equal);
        let mad = weights
            .iter()
            .map(|w| w[1..].iter().zip(&equal[1..]).map(|(x, e)| (x - e).abs()).sum::<f64>() / assets as f64)
            .sum::<f64>()
            / decisions;
        if mad < EQUAL_WEIGHT_MAD {
            let equal_share = if limits.is_none() {
                format!("1/{assets}")
            } else {
                format!("equal weight's {:.4} under the allocation limits", equal[1])
            };
            warnings.push(CollapseWarning {
                kind: CollapseKind::EqualWeights,
                message: format!(
                    "near-equal weights: the asset weights differ from {equal_share} by {mad:.4} on average (threshold {EQUAL_WEIGHT_MAD}); the agent is the equal-weight baseline"
                ),
            });
        }
    }

    if log.turnovers.len() >= 2 && log.turnovers[1..].iter().all(|&t| t < ZERO_TURNOVER) {
        warnings.push(CollapseWarning {
            kind: CollapseKind::ZeroTurnover,
            message: format!(
                "zero turnover: after the first decision the agent never trades (every turnover below {ZERO_TURNOVER}); it buys once and holds"
            ),
        });
    }

    for c in 0..width {
        let held = weights.iter().filter(|w| w[c] > ONE_ASSET_WEIGHT).count() as f64 / decisions;
        if held > ONE_ASSET_SHARE {
            warnings.push(CollapseWarning {
                kind: CollapseKind::OneAsset,
                message: format!(
                    "all weight in one asset: {} holds more than {ONE_ASSET_WEIGHT} of wealth in {:.1}% of decisions",
                    label(c),
                    100.0 * held
                ),
            });
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(weights: Vec<Vec<f64>>) -> BacktestLog {
        let turnovers = std::iter::once(1.0)
            .chain(
                weights
                    .windows(2)
                    .map(|p| p[0].iter().zip(&p[1]).map(|(a, b)| (a - b).abs()).sum::<f64>() / 2.0),
            )
            .collect();
        BacktestLog {
            policy: crate::backtest::PolicyId::AGENT,
            rows: vec![0],
            values: vec![1.0],
            decision_rows: (0..weights.len()).collect(),
            costs: vec![0.0; weights.len()],
            weights,
            turnovers,
        }
    }

    fn kinds(log: &BacktestLog) -> Vec<CollapseKind> {
        detect(log, &[], &Limits::NONE).into_iter().map(|w| w.kind).collect()
    }

    /// Weights that move a lot: from 70% in one asset to another, and some cash.
    fn lively(n: usize) -> Vec<Vec<f64>> {
        (0..n)
            .map(|t| match t % 3 {
                0 => vec![0.1, 0.7, 0.1, 0.1],
                1 => vec![0.0, 0.1, 0.7, 0.2],
                _ => vec![0.3, 0.2, 0.2, 0.3],
            })
            .collect()
    }

    #[test]
    fn a_lively_agent_raises_no_warning() {
        assert!(kinds(&log(lively(100))).is_empty());
    }

    #[test]
    fn constant_weights_are_caught_and_moving_ones_are_not() {
        let fixed: Vec<Vec<f64>> = (0..100)
            .map(|t| {
                let wiggle = if t % 2 == 0 { 0.004 } else { -0.004 };
                vec![0.2, 0.5 + wiggle, 0.2 - wiggle, 0.1]
            })
            .collect();
        assert!(kinds(&log(fixed)).contains(&CollapseKind::ConstantWeights));
        // The same mix with a 3% swing is not constant.
        let moving: Vec<Vec<f64>> = (0..100)
            .map(|t| {
                let wiggle = if t % 2 == 0 { 0.03 } else { -0.03 };
                vec![0.2, 0.5 + wiggle, 0.2 - wiggle, 0.1]
            })
            .collect();
        assert!(!kinds(&log(moving)).contains(&CollapseKind::ConstantWeights));
    }

    #[test]
    fn near_equal_weights_are_caught_and_tilted_ones_are_not() {
        let third = 1.0 / 3.0;
        let equal: Vec<Vec<f64>> = (0..50)
            .map(|t| {
                let e = if t % 2 == 0 { 0.005 } else { -0.005 };
                vec![0.0, third + e, third - e, third]
            })
            .collect();
        let found = kinds(&log(equal));
        assert!(found.contains(&CollapseKind::EqualWeights), "{found:?}");
        let tilted: Vec<Vec<f64>> = (0..50).map(|_| vec![0.0, 0.4, 0.3, 0.3]).collect();
        let found = kinds(&log(tilted));
        assert!(!found.contains(&CollapseKind::EqualWeights), "{found:?}");
        assert!(found.contains(&CollapseKind::ConstantWeights), "{found:?}");
    }

    /// Under a 50% cash floor equal weight holds half of 1/N in each asset: an agent that does
    /// the same is equal weight, and one that holds 1/N without the floor's cash is not.
    #[test]
    fn near_equal_weights_are_measured_against_equal_weight_under_the_limits() {
        let floor = Limits { max_weight: 0.1, min_cash: 0.5 };
        let under_floor: Vec<Vec<f64>> =
            (0..50).map(|_| std::iter::once(0.5).chain(std::iter::repeat_n(0.025, 20)).collect()).collect();
        let warnings = detect(&log(under_floor.clone()), &[], &floor);
        assert!(warnings.iter().any(|w| w.kind == CollapseKind::EqualWeights), "{warnings:?}");
        assert!(
            warnings.iter().any(|w| w.message.contains("0.0250 under the allocation limits")),
            "{warnings:?}"
        );
        let equal_without_limits = detect(&log(under_floor), &[], &Limits::NONE);
        assert!(equal_without_limits.iter().all(|w| w.kind != CollapseKind::EqualWeights));
        let invested: Vec<Vec<f64>> =
            (0..50).map(|_| std::iter::once(0.0).chain(std::iter::repeat_n(0.05, 20)).collect()).collect();
        assert!(detect(&log(invested), &[], &floor).iter().all(|w| w.kind != CollapseKind::EqualWeights));
    }

    #[test]
    fn zero_turnover_is_caught_and_trading_is_not() {
        let mut held = log(lively(20));
        held.turnovers = std::iter::once(1.0).chain(std::iter::repeat_n(0.0, 19)).collect();
        assert!(kinds(&held).contains(&CollapseKind::ZeroTurnover));
        held.turnovers[10] = 0.05;
        assert!(!kinds(&held).contains(&CollapseKind::ZeroTurnover));
    }

    #[test]
    fn all_weight_in_one_asset_is_caught_and_diversified_weight_is_not() {
        let mut weights: Vec<Vec<f64>> = (0..100).map(|_| vec![0.0, 0.02, 0.97, 0.01]).collect();
        weights[0] = vec![0.0, 0.5, 0.3, 0.2];
        let warnings = detect(
            &log(weights.clone()),
            &["cash".into(), "A".into(), "B".into(), "C".into()],
            &Limits::NONE,
        );
        let one = warnings.iter().find(|w| w.kind == CollapseKind::OneAsset).expect("one-asset warning");
        assert!(one.message.contains("B holds"), "{}", one.message);
        // In 10% of decisions it spreads out: 90% concentrated is below the 95% share.
        for w in weights.iter_mut().take(10) {
            *w = vec![0.0, 0.5, 0.3, 0.2];
        }
        assert!(!kinds(&log(weights)).contains(&CollapseKind::OneAsset));
    }
}
