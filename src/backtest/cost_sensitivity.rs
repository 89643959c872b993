//! How results change with trading costs: a paper's edge often vanishes once costs are charged.
//! Each policy is backtested again at every cost rate of a grid; the break-even cost is where
//! the agent stops beating equal weight.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::backtest::{MarketView, Policy, PolicyId, backtest_showing};
use crate::env::EnvError;
use crate::env::{DecisionRange, EnvSettings, Market};
use crate::metrics::MetricsConfig;
use crate::progress::Task;

/// Cost rates tried, in basis points of traded value (buys and sells alike).
pub const COST_GRID_BP: [f64; 7] = [0.0, 5.0, 10.0, 15.0, 25.0, 35.0, 50.0];

#[derive(Debug, Clone, Serialize)]
pub struct CostSensitivity {
    pub costs_bp: Vec<f64>,
    /// Compound annual growth rate of each policy at each cost.
    pub cagr: Vec<(PolicyId, Vec<f64>)>,
    pub break_even: BreakEven,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "cost_bp", rename_all = "snake_case")]
pub enum BreakEven {
    /// The agent beats equal weight up to this cost (linear interpolation between grid points).
    At(f64),
    /// The agent beats equal weight at every cost of the grid.
    AboveGrid,
    /// The agent does not beat equal weight at any cost of the grid.
    Never,
    /// The agent trails equal weight at low costs and leads from this cost on: it trades less
    /// than equal weight, which rebalances at every decision, so costs hurt it less.
    From(f64),
    /// The agent's CAGR is equal weight's at every cost of the grid, to [`SAME_CAGR`]: it holds
    /// equal weight (an anchored agent that kept its reference), so neither beats the other.
    Matches,
    /// The agent's CAGR is within [`NEGLIGIBLE_CAGR`] of equal weight's at every cost of the
    /// grid: "beats up to 50 bp" would sell a lead that no verdict calls one.
    Close,
    /// A CAGR is undefined (not finite) from this cost of the grid on, so where the lead ends
    /// cannot be told.
    Undefined(f64),
}

/// CAGRs closer than this (a ten-thousandth of a percentage point a year) are the same: what
/// separates them is rounding, not trading.
pub const SAME_CAGR: f64 = 1e-6;

/// CAGR gaps under this (five basis points a year) are too small to matter: about what a Sharpe
/// gap of [`crate::metrics::sharpe_difference::NEGLIGIBLE`] is worth at an equity market's risk.
pub const NEGLIGIBLE_CAGR: f64 = 5e-4;

impl std::fmt::Display for BreakEven {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BreakEven::At(bp) => write!(f, "the agent's CAGR beats equal weight's up to {bp:.1} bp of costs"),
            BreakEven::AboveGrid => {
                write!(f, "the agent's CAGR beats equal weight's at every cost up to 50 bp")
            }
            BreakEven::Never => {
                write!(f, "the agent's CAGR does not beat equal weight's at any cost up to 50 bp")
            }
            BreakEven::From(bp) => write!(
                f,
                "the agent's CAGR trails equal weight's at low costs and beats it from {bp:.1} bp (it trades less)"
            ),
            BreakEven::Matches => write!(f, "the agent's CAGR is equal weight's at every cost up to 50 bp"),
            BreakEven::Close => write!(
                f,
                "the agent's CAGR is within 0.05 points a year of equal weight's at every cost up to 50 bp, too close to matter"
            ),
            BreakEven::Undefined(bp) => {
                write!(f, "a CAGR is undefined at {bp:.1} bp of costs, so no break-even can be given")
            }
        }
    }
}

/// Where `edge` (agent minus equal weight, one value per grid cost) first stops being positive.
pub fn break_even(costs_bp: &[f64], edge: &[f64]) -> BreakEven {
    // Interpolating towards a missing value would invent a crossing at its grid point.
    if let Some(i) = edge.iter().position(|e| !e.is_finite()) {
        return BreakEven::Undefined(costs_bp[i]);
    }
    if edge.iter().all(|e| e.abs() < SAME_CAGR) {
        return BreakEven::Matches;
    }
    if edge.iter().all(|e| e.abs() < NEGLIGIBLE_CAGR) {
        return BreakEven::Close;
    }
    // Where the agent trades less than equal weight, its edge grows with the cost: the crossing
    // that matters is then the one from behind.
    if !(edge[0] > 0.0) {
        return match (1..edge.len()).find(|&i| edge[i] > 0.0) {
            Some(i) => BreakEven::From(crossing(costs_bp, edge, i)),
            None => BreakEven::Never,
        };
    }
    for i in 1..edge.len() {
        if !(edge[i] > 0.0) {
            return BreakEven::At(crossing(costs_bp, edge, i));
        }
    }
    BreakEven::AboveGrid
}

/// The cost, between grid points `i - 1` and `i`, at which the straight line between their edges
/// crosses zero.
fn crossing(costs_bp: &[f64], edge: &[f64], i: usize) -> f64 {
    let fraction = edge[i - 1] / (edge[i - 1] - edge[i]);
    let fraction = if fraction.is_finite() { fraction } else { 1.0 };
    costs_bp[i - 1] + fraction * (costs_bp[i] - costs_bp[i - 1])
}

/// Backtest `policies` at every cost of `costs_bp`, keeping the cost model and everything else of
/// `settings`; the break-even cost is the agent's against equal weight, when both are among them.
/// `task` advances at every decision.
pub fn cost_sensitivity(
    policies: &mut [Box<dyn Policy + '_>],
    market: &Arc<Market>,
    range: DecisionRange,
    settings: EnvSettings,
    costs_bp: &[f64],
    metrics: &MetricsConfig,
    task: &dyn Task,
) -> Result<CostSensitivity, EnvError> {
    let mut cagr: Vec<(PolicyId, Vec<f64>)> = policies.iter().map(|p| (p.id(), Vec::new())).collect();
    for (policy, (_, series)) in policies.iter_mut().zip(cagr.iter_mut()) {
        // Targets that costs cannot change are decided once, in the first run, and played back
        // in the others: the same bits at a fraction of the work where deciding is the cost
        // (Markowitz and ONS at hundreds of assets).
        let mut decided: Option<Vec<Decided>> = None;
        for &bp in costs_bp {
            let mut at_cost = settings;
            at_cost.costs.buy = bp / 1e4;
            at_cost.costs.sell = bp / 1e4;
            let log = match &decided {
                Some(targets) => {
                    backtest_showing(&mut Replay::new(policy.id(), targets), market, range, at_cost, task)?
                }
                None if policy.targets_ignore_costs() => {
                    let mut recording = Recording { policy: policy.as_mut(), decided: Vec::new() };
                    let log = backtest_showing(&mut recording, market, range, at_cost, task)?;
                    decided = Some(recording.decided);
                    log
                }
                None => backtest_showing(policy.as_mut(), market, range, at_cost, task)?,
            };
            series.push(log.metrics(metrics).cagr);
        }
    }
    let series = |wanted: fn(&PolicyId) -> bool| cagr.iter().find(|(id, _)| wanted(id)).map(|(_, v)| v);
    let break_even = match (series(PolicyId::is_agent), series(|id| *id == PolicyId::EQUAL_WEIGHT)) {
        (Some(agent), Some(equal)) => {
            let edge: Vec<f64> = agent.iter().zip(equal).map(|(a, e)| a - e).collect();
            break_even(costs_bp, &edge)
        }
        _ => BreakEven::Never,
    };
    Ok(CostSensitivity { costs_bp: costs_bp.to_vec(), cagr, break_even })
}

/// One recorded decision: its row, its target, and whether it held.
type Decided = (usize, Vec<f64>, bool);

/// A policy that keeps every target it decides, with its row.
struct Recording<'p> {
    policy: &'p mut dyn Policy,
    decided: Vec<Decided>,
}

impl Policy for Recording<'_> {
    fn id(&self) -> PolicyId {
        self.policy.id()
    }

    fn reset(&mut self) {
        self.policy.reset();
        self.decided.clear();
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        self.policy.decide(view, out);
        self.decided.push((view.row, out.to_vec(), self.policy.holds()));
    }

    fn holds(&self) -> bool {
        self.policy.holds()
    }
}

/// A [`Recording`]'s targets played back, in order, under the recorded policy's name.
struct Replay<'t> {
    id: PolicyId,
    targets: &'t [Decided],
    next: usize,
}

impl<'t> Replay<'t> {
    fn new(id: PolicyId, targets: &'t [Decided]) -> Self {
        Self { id, targets, next: 0 }
    }
}

impl Policy for Replay<'_> {
    fn id(&self) -> PolicyId {
        self.id
    }

    fn reset(&mut self) {
        self.next = 0;
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        let (row, target, _) = &self.targets[self.next];
        // A backtest's decision rows depend on its range and schedule only, never on costs.
        assert_eq!(*row, view.row, "a replay decides at the rows it recorded");
        out.copy_from_slice(target);
        self.next += 1;
    }

    fn holds(&self) -> bool {
        self.next.checked_sub(1).is_some_and(|last| self.targets[last].2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn break_even_interpolates_between_grid_costs() {
        let grid = [0.0, 10.0, 20.0];
        // Edge 0.02 at 0 bp, 0.01 at 10 bp, -0.01 at 20 bp: zero halfway between 10 and 20.
        assert_eq!(break_even(&grid, &[0.02, 0.01, -0.01]), BreakEven::At(15.0));
        assert_eq!(break_even(&grid, &[0.02, 0.0, -0.01]), BreakEven::At(10.0));
        assert_eq!(break_even(&grid, &[0.02, 0.01, 0.005]), BreakEven::AboveGrid);
        // Behind without costs, ahead from halfway to 10 bp: an agent that trades less.
        assert_eq!(break_even(&grid, &[-0.01, 0.01, 0.02]), BreakEven::From(5.0));
        assert_eq!(break_even(&grid, &[-0.01, -0.005, -0.001]), BreakEven::Never);
        assert_eq!(break_even(&grid, &[f64::NAN, 0.01, 0.02]), BreakEven::Undefined(0.0));
        assert_eq!(break_even(&grid, &[0.02, f64::NAN, -0.01]), BreakEven::Undefined(10.0));
        assert_eq!(break_even(&grid, &[1e-12, 2e-12, -1e-12]), BreakEven::Matches);
        // A lead of 0.03 points a year at every cost is no lead to break even on.
        assert_eq!(break_even(&grid, &[3e-4, 3e-4, 2e-4]), BreakEven::Close);
        assert_eq!(break_even(&grid, &[3e-4, 3e-4, 6e-4]), BreakEven::AboveGrid);
    }
}
