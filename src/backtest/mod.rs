//! Running a deterministic policy through a market span, recording everything a report needs.
//! Agents and baselines alike go through the same environment, costs and rebalancing.

pub mod collapse;
pub mod cost_sensitivity;
mod policy_id;
pub mod rebalance;

pub use policy_id::{BaselineId, PolicyId, UnknownBaseline, UnknownPolicy};

use ndarray::{ArrayView2, s};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::data::TimeIndex;
use crate::env::EnvError;
use crate::env::{DecisionRange, EnvSettings, Limits, Market, MarketEnv};
use crate::metrics::{self, Metrics, MetricsConfig};
use crate::progress::{Silent, Task};

/// What a policy may look at when it decides at the close of `row`: the market up to `row` and
/// never beyond, the agent's observation, and the weights the portfolio holds now.
pub struct MarketView<'a> {
    market: &'a Market,
    pub row: usize,
    pub observation: &'a [f32],
    /// Current (drifted) weights, cash first.
    pub weights: &'a [f64],
    /// The allocation limits every target is projected onto before it is traded.
    pub limits: Limits,
}

impl<'a> MarketView<'a> {
    /// A view under no allocation limits (see [`MarketView::under`]).
    pub fn new(market: &'a Market, row: usize, observation: &'a [f32], weights: &'a [f64]) -> Self {
        Self { market, row, observation, weights, limits: Limits::NONE }
    }

    /// The same view, its targets to be traded under `limits`.
    pub fn under(self, limits: Limits) -> Self {
        Self { limits, ..self }
    }

    pub fn n_assets(&self) -> usize {
        self.market.n_assets()
    }

    /// Prices of rows `0..=row`, `[time, asset]`.
    pub fn prices(&self) -> ArrayView2<'_, f64> {
        self.market.panel.prices.slice(s![..=self.row, ..])
    }

    /// The market's time axis; row `row` is the decision's close. Calendar rules read the date.
    pub fn index(&self) -> &TimeIndex {
        &self.market.panel.index
    }

    /// Price relatives of period `t <= row`, cash first.
    pub fn relatives(&self, t: usize) -> &[f64] {
        assert!(t <= self.row, "a policy asked for period {t} while deciding at {}", self.row);
        self.market.relatives(t)
    }
}

/// A decision rule for one portfolio: weights over cash and assets from what is known now.
pub trait Policy {
    fn id(&self) -> PolicyId;
    /// Called before each backtest.
    fn reset(&mut self) {}
    /// Write the target weights (cash first, summing to one) into `out`.
    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]);
    /// Whether the last decision was to hold the drifted weights rather than to rebalance (a
    /// rebalancing rule between its dates): the backtest then trades nothing, even where the
    /// drift crossed the allocation limits, which bind at rebalancing. A policy that merely
    /// asks for the weights it holds still rebalances onto the limits.
    fn holds(&self) -> bool {
        false
    }
    /// Whether the targets depend only on prices up to the decision and the policy's own
    /// earlier targets, never on the holdings, costs or observation the backtest shows it. Such
    /// a policy decides the same targets at every cost rate, so a cost grid may play one run's
    /// targets back instead of deciding them again (see [`cost_sensitivity`]); claiming it
    /// wrongly would change results, so only a policy that knows says so.
    fn targets_ignore_costs(&self) -> bool {
        false
    }
}

/// A pointer to a policy is that policy: wrappers such as `Rebalanced` hold one by value, by box
/// or by borrow alike.
macro_rules! policy_through_pointer {
    ($($pointer:ty),+) => {$(
        impl<P: Policy + ?Sized> Policy for $pointer {
            fn id(&self) -> PolicyId {
                (**self).id()
            }

            fn reset(&mut self) {
                (**self).reset()
            }

            fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
                (**self).decide(view, out)
            }

            fn holds(&self) -> bool {
                (**self).holds()
            }

            fn targets_ignore_costs(&self) -> bool {
                (**self).targets_ignore_costs()
            }
        }
    )+};
}

policy_through_pointer!(&mut P, Box<P>);

/// A policy's path through a span.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BacktestLog {
    pub policy: PolicyId,
    /// Market rows of `values`: the first decision's close, then every period after.
    pub rows: Vec<usize>,
    /// Portfolio value at the close of each row, starting at 1.
    pub values: Vec<f64>,
    /// Row of each decision and the weights traded to there (the policy's choice projected onto
    /// the allocation limits).
    pub decision_rows: Vec<usize>,
    pub weights: Vec<Vec<f64>>,
    pub turnovers: Vec<f64>,
    pub costs: Vec<f64>,
}

impl BacktestLog {
    pub fn metrics(&self, config: &MetricsConfig) -> Metrics {
        let mut metrics = metrics::compute(&self.values, &self.turnovers, self.costs.iter().sum(), config);
        if metrics.periods >= metrics::MIN_ANNUALIZED_RETURNS {
            metrics.annual_cost_drag = self.annual_cost_drag(config.periods_per_year);
        }
        metrics
    }

    /// Fractions of wealth paid in costs, summed and annualized (see [`Metrics::annual_cost_drag`]).
    pub fn annual_cost_drag(&self, periods_per_year: f64) -> f64 {
        let start = self.rows[0];
        let paid: f64 = self
            .decision_rows
            .iter()
            .zip(&self.costs)
            .map(|(&row, &cost)| cost / self.values[row - start])
            .sum();
        let periods = self.values.len().saturating_sub(1).max(1);
        paid * periods_per_year / periods as f64
    }
}

/// Run `policy` over the whole `range` once, starting from cash.
pub fn backtest(
    policy: &mut dyn Policy,
    market: &Arc<Market>,
    range: DecisionRange,
    settings: EnvSettings,
) -> Result<BacktestLog, EnvError> {
    backtest_showing(policy, market, range, settings, &Silent)
}

/// The decisions a backtest over `range` makes: the first at `range.first`, then one every
/// `rebalance_every` periods while periods remain. What [`backtest_showing`] advances its task by.
pub fn decision_count(range: DecisionRange, settings: &EnvSettings) -> usize {
    range.periods().div_ceil(settings.episode.rebalance_every.max(1))
}

/// [`backtest`], advancing `task` by one at every decision (see [`decision_count`]).
pub fn backtest_showing(
    policy: &mut dyn Policy,
    market: &Arc<Market>,
    range: DecisionRange,
    settings: EnvSettings,
    task: &dyn Task,
) -> Result<BacktestLog, EnvError> {
    let settings = EnvSettings {
        episode: crate::env::config::EpisodeConfig { horizon: 0, ..settings.episode },
        ..settings
    };
    let mut env = MarketEnv::new(market.clone(), range, settings, 0)?;
    let width = env.action_len();
    let mut action = vec![0.0; width];
    let mut log = BacktestLog {
        policy: policy.id(),
        rows: vec![range.first],
        values: vec![1.0],
        decision_rows: Vec::new(),
        weights: Vec::new(),
        turnovers: Vec::new(),
        costs: Vec::new(),
    };
    policy.reset();
    let mut observation = env.reset().to_vec();
    loop {
        let row = env.row();
        let view = MarketView::new(market, row, &observation, env.weights()).under(settings.limits);
        policy.decide(&view, &mut action);
        let stepped = if policy.holds() { env.hold() } else { env.step(&action) };
        let transition = stepped.map_err(|e| match e {
            EnvError::InvalidAction(reason) => EnvError::InvalidAction(format!(
                "{} at {}: {reason}",
                policy.id(),
                market.panel.index.label(row)
            )),
            other => other,
        })?;
        let (done, info) = (transition.done, transition.info);
        observation.copy_from_slice(transition.observation);
        log.weights.push(transition.target.to_vec());
        log.decision_rows.push(row);
        log.turnovers.push(info.turnover);
        log.costs.push(info.cost);
        let path = env.period_values();
        log.rows.extend(row + 1..row + 1 + path.len());
        log.values.extend_from_slice(path);
        task.advance(1);
        if done {
            break;
        }
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth::{SynthConfig, generate};
    use crate::env::config::EpisodeConfig;
    use crate::env::{CostConfig, Limits, RewardConfig};
    use crate::features::FeatureConfig;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Default)]
    struct Count(AtomicU64);

    /// Everything in cash, whatever happens.
    struct Cash;

    impl Policy for Cash {
        fn id(&self) -> PolicyId {
            PolicyId::AGENT
        }

        fn decide(&mut self, _: &MarketView<'_>, out: &mut [f64]) {
            out.fill(0.0);
            out[0] = 1.0;
        }
    }

    impl Task for Count {
        fn set_position(&self, done: u64) {
            self.0.store(done, Ordering::Relaxed);
        }
        fn advance(&self, by: u64) {
            self.0.fetch_add(by, Ordering::Relaxed);
        }
        fn set_message(&self, _: String) {}
        fn finish(&self) {}
        fn abandon(&self) {}
    }

    #[test]
    fn a_backtest_advances_its_task_once_a_decision_as_many_times_as_counted() {
        let panel = generate(&SynthConfig { assets: 3, periods: 60, ..SynthConfig::default() }).unwrap();
        let market = Arc::new(Market::new(panel, &FeatureConfig::none(), None, 0..0).unwrap());
        for (first, last, every) in [(0, 59, 1), (3, 40, 5), (10, 11, 3), (0, 59, 7)] {
            let range = DecisionRange { first, last };
            let settings = EnvSettings {
                costs: CostConfig::free(),
                reward: RewardConfig::LogReturn,
                episode: EpisodeConfig { horizon: 0, rebalance_every: every, embargo: 0, no_trade_band: 0.0 },
                limits: Limits::NONE,
            };
            let count = Count::default();
            let log = backtest_showing(&mut Cash, &market, range, settings, &count).unwrap();
            assert_eq!(
                log.decision_rows.len(),
                decision_count(range, &settings),
                "{first}..{last} every {every}"
            );
            assert_eq!(count.0.load(Ordering::Relaxed), log.decision_rows.len() as u64);
        }
    }

    #[test]
    fn the_cost_drag_is_each_cost_over_the_wealth_it_came_from_per_year() {
        // Costs of 0.002 at wealth 1 and 0.001 at wealth 0.99, over three periods of a 252-day
        // year: (0.002 + 0.001 / 0.99) x 252 / 3 = 0.252848...
        let log = BacktestLog {
            policy: PolicyId::AGENT,
            rows: vec![10, 11, 12, 13],
            values: vec![1.0, 0.99, 1.02, 1.0],
            decision_rows: vec![10, 11, 12],
            weights: vec![vec![0.0, 1.0]; 3],
            turnovers: vec![1.0, 0.5, 0.0],
            costs: vec![0.002, 0.001, 0.0],
        };
        assert!(
            (log.annual_cost_drag(252.0) - 0.25284848484848).abs() < 1e-12,
            "{}",
            log.annual_cost_drag(252.0)
        );
    }
}
