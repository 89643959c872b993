//! Rebalancing rules applied at evaluation: when a policy's target is actually traded.
//!
//! A backtest asks the policy for target weights at every decision (every
//! `episode.rebalance_every` periods). A rule then either trades to that target or holds the
//! drifted weights, which costs nothing and turns nothing over. The rules act on top of the
//! decision schedule: with `rebalance_every = 5` and `monthly`, the portfolio trades at the first
//! weekly decision of each month.
//!
//! - [`RebalanceRule::Every`]: trade at every decision (today's behaviour, the default).
//! - [`RebalanceRule::Monthly`], [`RebalanceRule::Quarterly`]: trade at the first decision of each
//!   new calendar month (quarter), hold otherwise. They need dated data; on undated data they are
//!   an error, since period numbers say nothing about the calendar.
//! - [`RebalanceRule::Band`]: trade when some weight, cash included, of the drifted portfolio is
//!   more than the threshold away, in absolute terms, from the target the policy asks for *now*
//!   (`max_i |w'_i - w_i| > x`), and then trade all the way back to that target; hold otherwise.
//!   Comparing with today's target rather than the last traded one keeps the rule meaningful for
//!   policies whose target moves: a band is a tolerance around what the policy wants. `band:0`
//!   trades whenever anything differs, which is exactly [`RebalanceRule::Every`].
//!
//! The policy is asked at every decision, traded or not, so stateful policies (OLMAR, ONS, the
//! agent's view of its current weights) keep updating as they would live. Every backtest starts
//! in cash, so the first decision always trades under the calendar rules (and under any band
//! narrower than the target's distance from cash).

use chrono::Datelike;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::backtest::{BacktestLog, MarketView, Policy, PolicyId, backtest};
use crate::data::TimeIndex;
use crate::env::EnvError;
use crate::env::{DecisionRange, EnvSettings, Market, weight_drift};
use crate::metrics::MetricsConfig;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum RebalanceRule {
    /// Trade to the target at every decision.
    #[default]
    Every,
    /// Trade at the first decision of each calendar month.
    Monthly,
    /// Trade at the first decision of each calendar quarter (January, April, July, October).
    Quarterly,
    /// Trade when some weight has drifted more than `threshold` from the target.
    Band { threshold: f64 },
}

/// The rules `--compare-rebalancing` runs unless told otherwise, comma-separated.
pub const DEFAULT_COMPARISON: &str = "every,monthly,quarterly,band:0.02,band:0.05,band:0.10";

/// `rules`, or when none are given [`DEFAULT_COMPARISON`]'s that `market` can run: undated
/// rows have no months or quarters, and a default the user never chose must not fail on them.
pub fn comparison_rules(rules: &[RebalanceRule], market: &Market) -> Vec<RebalanceRule> {
    if !rules.is_empty() {
        return rules.to_vec();
    }
    DEFAULT_COMPARISON
        .split(',')
        .map(|rule| rule.parse::<RebalanceRule>().expect("the default rules parse"))
        .filter(|rule| rule.check(market).is_ok())
        .collect()
}

const EXPECTED: &str = "expected every (or daily), monthly, quarterly, or band:X with X the largest \
                        weight drift tolerated, in [0, 1) (e.g. band:0.05)";

/// A rebalancing rule as a user wrote it that names no rule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseRuleError {
    #[error("rebalancing rule '{text}': '{threshold}' is not a number; {EXPECTED}")]
    NotANumber { text: String, threshold: String },
    #[error(
        "rebalancing rule '{text}': the band must be in [0, 1) (a weight drift, 0.05 = 5 percentage points), got {threshold}"
    )]
    BandOutOfRange { text: String, threshold: f64 },
    #[error("rebalancing rule '{text}' needs a threshold; {EXPECTED}")]
    MissingThreshold { text: String },
    #[error("unknown rebalancing rule '{text}'; {EXPECTED}")]
    Unknown { text: String },
}

/// A rule that cannot run on a market.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "the {rule} rebalancing rule needs dates, but {} is undated (its rows are period numbers); use every or band:X",
    data.display()
)]
pub struct RuleNeedsDates {
    pub rule: RebalanceRule,
    pub data: std::path::PathBuf,
}

/// What backtesting under a rule can fail on.
#[derive(Debug, thiserror::Error)]
pub enum RuleBacktestError {
    #[error(transparent)]
    Rule(#[from] RuleNeedsDates),
    #[error(transparent)]
    Env(#[from] EnvError),
}

impl std::str::FromStr for RebalanceRule {
    type Err = ParseRuleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let lower = text.to_ascii_lowercase();
        if let Some(threshold) = lower.strip_prefix("band:") {
            let threshold: f64 = threshold.trim().parse().map_err(|_| ParseRuleError::NotANumber {
                text: text.to_string(),
                threshold: threshold.to_string(),
            })?;
            if !(0.0..1.0).contains(&threshold) {
                return Err(ParseRuleError::BandOutOfRange { text: text.to_string(), threshold });
            }
            return Ok(RebalanceRule::Band { threshold });
        }
        match lower.as_str() {
            "every" | "daily" => Ok(RebalanceRule::Every),
            "monthly" => Ok(RebalanceRule::Monthly),
            "quarterly" => Ok(RebalanceRule::Quarterly),
            "band" => Err(ParseRuleError::MissingThreshold { text: text.to_string() }),
            _ => Err(ParseRuleError::Unknown { text: text.to_string() }),
        }
    }
}

/// The whole trading schedule in words: the rule, then the environment's own decision interval
/// and no-trade band where they differ from trading at every period, since those hold under
/// every rule and a report that named the rule alone would hide them.
pub fn describe_schedule(rule: RebalanceRule, rebalance_every: usize, no_trade_band: f64) -> String {
    let mut text = match rule {
        RebalanceRule::Every => "rebalancing at every decision".to_string(),
        RebalanceRule::Band { threshold } => {
            format!("rebalancing when a weight drifts {:.2}% from its target", 100.0 * threshold)
        }
        RebalanceRule::Monthly | RebalanceRule::Quarterly => format!("rebalancing {rule}"),
    };
    if rebalance_every > 1 {
        text += &format!(", decisions every {rebalance_every} periods");
    }
    if no_trade_band > 0.0 {
        text += &format!(", no-trade band {:.2}%", 100.0 * no_trade_band);
    }
    text
}

impl std::fmt::Display for RebalanceRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RebalanceRule::Every => write!(f, "every"),
            RebalanceRule::Monthly => write!(f, "monthly"),
            RebalanceRule::Quarterly => write!(f, "quarterly"),
            RebalanceRule::Band { threshold } => write!(f, "band:{threshold}"),
        }
    }
}

impl Serialize for RebalanceRule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Read back as written: the text a user would type (plans saved for a cluster keep the rule).
impl<'de> Deserialize<'de> for RebalanceRule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

impl RebalanceRule {
    fn is_calendar(&self) -> bool {
        matches!(self, RebalanceRule::Monthly | RebalanceRule::Quarterly)
    }

    /// Whether the rule can run on `market`: calendar rules need dates.
    pub fn check(&self, market: &Market) -> Result<(), RuleNeedsDates> {
        if self.is_calendar() && !market.panel.index.is_dated() {
            return Err(RuleNeedsDates { rule: *self, data: market.panel.source.clone() });
        }
        Ok(())
    }

    /// The calendar period of row `row` (year and month or quarter); `None` for rules without
    /// a calendar, or on undated data.
    fn calendar_period(&self, index: &TimeIndex, row: usize) -> Option<(i32, u32)> {
        let TimeIndex::Dates(dates) = index else { return None };
        let date = dates[row];
        match self {
            RebalanceRule::Monthly => Some((date.year(), date.month())),
            RebalanceRule::Quarterly => Some((date.year(), (date.month() - 1) / 3)),
            _ => None,
        }
    }
}

/// `policy` traded under `rule` (unchanged for [`RebalanceRule::Every`]). Fails when the rule
/// cannot run on `market`.
pub fn under_rule(
    policy: Box<dyn Policy>,
    rule: RebalanceRule,
    market: &Market,
) -> Result<Box<dyn Policy>, RuleNeedsDates> {
    Ok(match rule {
        RebalanceRule::Every => policy,
        _ => Box::new(Rebalanced::new(policy, rule, market)?),
    })
}

/// The agent's own decisions on `range`, for the collapse detectors, when `rule` would hide them:
/// a rule that holds between trades makes any agent look as if it had stopped trading. `None`
/// for [`RebalanceRule::Every`], whose backtest already shows them.
pub fn agent_decisions(
    agent: &mut dyn Policy,
    rule: RebalanceRule,
    market: &Arc<Market>,
    range: DecisionRange,
    settings: EnvSettings,
) -> Result<Option<BacktestLog>, EnvError> {
    Ok(match rule {
        RebalanceRule::Every => None,
        _ => Some(backtest(agent, market, range, settings)?),
    })
}

/// Every policy of `policies` under `rule`, see [`under_rule`].
pub fn all_under_rule(
    policies: Vec<Box<dyn Policy>>,
    rule: RebalanceRule,
    market: &Market,
) -> Result<Vec<Box<dyn Policy>>, RuleNeedsDates> {
    policies.into_iter().map(|p| under_rule(p, rule, market)).collect()
}

/// `inner` traded only when `rule` says so. Keeps `inner`'s name, so reports read the same.
#[derive(Debug)]
pub struct Rebalanced<P> {
    inner: P,
    rule: RebalanceRule,
    /// Calendar period of the previous decision; `None` before the first.
    previous_period: Option<(i32, u32)>,
    /// The band rule's target after the allocation limits, reused from decision to decision.
    projected: Vec<f64>,
    /// Whether the last decision held.
    holding: bool,
}

impl<P: Policy> Rebalanced<P> {
    /// Fails when the rule cannot run on `market` (see [`RebalanceRule::check`]).
    pub fn new(inner: P, rule: RebalanceRule, market: &Market) -> Result<Self, RuleNeedsDates> {
        rule.check(market)?;
        Ok(Self { inner, rule, previous_period: None, projected: Vec::new(), holding: false })
    }

    pub fn into_inner(self) -> P {
        self.inner
    }

    fn trades_now(&mut self, view: &MarketView<'_>, target: &[f64]) -> bool {
        match self.rule {
            RebalanceRule::Every => true,
            RebalanceRule::Monthly | RebalanceRule::Quarterly => {
                let period = self.rule.calendar_period(view.index(), view.row);
                let new_period = period != self.previous_period;
                self.previous_period = period;
                // `new` refused undated data, so `period` is a date's; were it not, trading
                // every decision is the behaviour without a rule.
                new_period || period.is_none()
            }
            RebalanceRule::Band { threshold } => {
                // The drift from what will be traded: under limits, the projected target.
                self.projected.clear();
                self.projected.extend_from_slice(target);
                view.limits.project(&mut self.projected);
                weight_drift(view.weights, &self.projected) > threshold
            }
        }
    }
}

impl<P: Policy> Policy for Rebalanced<P> {
    fn id(&self) -> PolicyId {
        self.inner.id()
    }

    fn reset(&mut self) {
        self.inner.reset();
        self.previous_period = None;
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        self.inner.decide(view, out);
        self.holding = !self.trades_now(view, out);
        if self.holding {
            // Holding exactly the drifted weights: turnover and costs are exactly zero.
            out.copy_from_slice(view.weights);
        }
    }

    fn holds(&self) -> bool {
        self.holding
    }
}

/// [`backtest`] of `policy` under `rule`.
pub fn backtest_rebalanced(
    policy: &mut dyn Policy,
    rule: RebalanceRule,
    market: &Arc<Market>,
    range: DecisionRange,
    settings: EnvSettings,
) -> Result<BacktestLog, RuleBacktestError> {
    let mut rebalanced = Rebalanced::new(policy, rule, market)?;
    Ok(backtest(&mut rebalanced, market, range, settings)?)
}

/// What one policy did under one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleResult {
    pub policy: PolicyId,
    pub rule: RebalanceRule,
    /// Decisions the policy was asked for.
    pub decisions: usize,
    /// Decisions at which the portfolio actually traded (turnover above zero).
    pub trades: usize,
    /// Sum of every decision's turnover (`sum |w - w'|` over assets), per year.
    pub annual_turnover: f64,
    /// Costs paid over the whole path, in units of the starting wealth.
    pub total_costs: f64,
    /// Costs as a yearly drag on return ([`crate::metrics::Metrics::annual_cost_drag`]).
    pub annual_cost_drag: f64,
    pub final_wealth: f64,
    pub cagr: f64,
    pub sharpe: f64,
    pub max_drawdown: f64,
}

impl RuleResult {
    pub fn of(log: &BacktestLog, rule: RebalanceRule, config: &MetricsConfig) -> Self {
        let metrics = log.metrics(config);
        let periods = metrics.periods.max(1) as f64;
        Self {
            policy: log.policy,
            rule,
            decisions: log.decision_rows.len(),
            trades: log.turnovers.iter().filter(|&&t| t > 0.0).count(),
            annual_turnover: log.turnovers.iter().sum::<f64>() * config.periods_per_year / periods,
            total_costs: metrics.total_costs,
            annual_cost_drag: metrics.annual_cost_drag,
            final_wealth: metrics.final_wealth,
            cagr: metrics.cagr,
            sharpe: metrics.sharpe,
            max_drawdown: metrics.max_drawdown,
        }
    }
}

/// Backtest every policy under every rule; results are grouped by policy, in the order given,
/// then by rule.
pub fn compare_rules(
    policies: &mut [Box<dyn Policy + '_>],
    rules: &[RebalanceRule],
    market: &Arc<Market>,
    range: DecisionRange,
    settings: EnvSettings,
    metrics: &MetricsConfig,
) -> Result<Vec<RuleResult>, RuleBacktestError> {
    for rule in rules {
        rule.check(market)?;
    }
    let mut results = Vec::with_capacity(policies.len() * rules.len());
    for policy in policies.iter_mut() {
        for &rule in rules {
            let log = backtest_rebalanced(policy.as_mut(), rule, market, range, settings)?;
            results.push(RuleResult::of(&log, rule, metrics));
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_names_the_environment_s_interval_and_band_only_when_they_act() {
        assert_eq!(describe_schedule(RebalanceRule::Every, 1, 0.0), "rebalancing at every decision");
        assert_eq!(
            describe_schedule(RebalanceRule::Band { threshold: 0.05 }, 1, 0.0),
            "rebalancing when a weight drifts 5.00% from its target"
        );
        assert_eq!(
            describe_schedule(RebalanceRule::Monthly, 5, 0.025),
            "rebalancing monthly, decisions every 5 periods, no-trade band 2.50%"
        );
    }

    #[test]
    fn rules_parse_and_print_back() {
        for (text, rule) in [
            ("every", RebalanceRule::Every),
            ("daily", RebalanceRule::Every),
            (" Monthly ", RebalanceRule::Monthly),
            ("quarterly", RebalanceRule::Quarterly),
            ("band:0.05", RebalanceRule::Band { threshold: 0.05 }),
            ("band:0", RebalanceRule::Band { threshold: 0.0 }),
        ] {
            assert_eq!(text.parse::<RebalanceRule>(), Ok(rule), "{text}");
        }
        assert_eq!(RebalanceRule::Band { threshold: 0.1 }.to_string(), "band:0.1");
        let defaults: Vec<String> =
            DEFAULT_COMPARISON.split(',').map(|r| r.parse::<RebalanceRule>().unwrap().to_string()).collect();
        assert_eq!(defaults, ["every", "monthly", "quarterly", "band:0.02", "band:0.05", "band:0.1"]);
    }
}
