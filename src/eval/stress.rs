//! Stress tests: how an agent and the baselines live through a crisis. Two kinds of scenario:
//!
//! - **Historical**: the S&P 500's last three great falls inside the bundled data, each from its
//!   peak close to its trough close, with a tail up to the day the index closed above that peak
//!   again, so recovery can be measured against the index's own.
//! - **Synthetic shocks** injected into a held-out period: pure functions of a [`PricePanel`]
//!   that rewrite prices from the shock day on only, so every observation before it is
//!   unchanged (features are causal), and that leave the original panel intact.
//!
//! Every policy is backtested through the same environment and costs as in `folio eval`, from a
//! lead-in before the scenario so that its holdings at the scenario's start are its own choice,
//! not a fresh purchase; figures are measured from the scenario's start.

use chrono::NaiveDate;
use ndarray::{Array2, s};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

use super::EvalError;
use crate::agent::DeviceChoice;
use crate::agent::{AgentPolicy, EnsemblePolicy};
use crate::backtest::{BacktestLog, BaselineId, Policy, PolicyId, backtest};
use crate::baselines;
use crate::data::{PricePanel, Stamp, TimeIndex};
use crate::env::EnvError;
use crate::env::config::Span;
use crate::env::{CostConfig, DecisionRange, EnvSettings, Market};
use crate::eval::evaluate::{Overlap, seen_overlap, seen_periods};
use crate::metrics::{Spread, drawdown_stats};
use crate::stats;
use crate::train::checkpoint::{self, Meta, Weights};

/// Periods a backtest runs before a historical scenario starts (about a month of trading days).
pub const LEAD_IN: usize = 21;

/// Periods after a synthetic shock's window that are watched for recovery (about a year).
pub const SHOCK_TAIL: usize = 252;

/// A change to the prices of every asset from a shock day on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "shock", rename_all = "snake_case")]
pub enum Shock {
    /// Every asset falls by `fall` (0.2 = 20%) on the shock day; later returns are unchanged, so
    /// the loss is permanent.
    Crash { fall: f64 },
    /// Every asset falls by `fall` on the shock day and climbs back geometrically onto its
    /// original price path, which it rejoins `recovery_periods` later.
    FlashCrash { fall: f64, recovery_periods: usize },
    /// Over `periods` periods every asset earns the cross-sectional mean return, its deviations
    /// from their mean rescaled so that the volatility equals the assets' average volatility
    /// over the window: diversification disappears, risk does not.
    CorrelationOne { periods: usize },
    /// Over `periods` periods every asset's return deviations from its own mean over the window
    /// are multiplied by `factor`: `r' = mean(r) + factor (r - mean(r))`.
    Volatility { factor: f64, periods: usize },
}

impl Shock {
    /// Periods whose prices the shock rewrites directly, starting at the shock day.
    pub fn periods(&self) -> usize {
        match *self {
            Shock::Crash { .. } => 1,
            Shock::FlashCrash { recovery_periods, .. } => recovery_periods + 1,
            Shock::CorrelationOne { periods } | Shock::Volatility { periods, .. } => periods,
        }
    }

    /// A copy of `panel` with the shock starting at `row`. Rows before `row` are bit-identical;
    /// rows after the shock's window keep the original price relatives (the flash crash keeps
    /// the original prices themselves). `panel` must have every price (a selection).
    pub fn apply(&self, panel: &PricePanel, row: usize) -> Result<PricePanel, ShockError> {
        let periods = self.periods();
        if row == 0 || row + periods > panel.n_periods() {
            return Err(ShockError::OutsideData { periods, row, rows: panel.n_periods() });
        }
        let window = match *self {
            Shock::Crash { fall } => crash_window(panel, row, fall)?,
            Shock::FlashCrash { fall, recovery_periods } => {
                flash_crash_window(panel, row, fall, recovery_periods)?
            }
            Shock::CorrelationOne { periods } => correlation_one_window(panel, row, periods)?,
            Shock::Volatility { factor, periods } => volatility_window(panel, row, factor, periods)?,
        };
        Ok(splice(panel, row, window))
    }
}

/// Why a shock cannot be applied to a panel.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShockError {
    #[error(
        "a shock of {periods} periods cannot start at row {row} of data with {rows} rows: it needs a \
         price before it and its whole window inside the data"
    )]
    OutsideData { periods: usize, row: usize, rows: usize },
    #[error("a fall must be a fraction between 0 and 1 (0.2 = 20%), not {}", crate::data::readable(*.0))]
    Fall(f64),
    #[error("a flash crash needs at least one period to recover in")]
    NoRecovery,
    #[error("a shock window needs at least 2 periods to have a volatility, not {0}")]
    ShortWindow(usize),
    #[error("the volatility factor must be positive, not {}", crate::data::readable(*.0))]
    Factor(f64),
    /// A return at or below -100%, which would leave no price.
    #[error(
        "the shock would give {asset} a return of {:.1}% at {date}, which leaves no price",
        100.0 * .simple_return
    )]
    NoPrice { asset: String, simple_return: f64, date: String },
}

/// The crash day's prices: every asset `fall` below the close before.
fn crash_window(panel: &PricePanel, row: usize, fall: f64) -> Result<Array2<f64>, ShockError> {
    check_fall(fall)?;
    let mut window = panel.prices.slice(s![row..row + 1, ..]).to_owned();
    window.row_mut(0).assign(&panel.prices.row(row - 1).mapv(|p| p * (1.0 - fall)));
    Ok(window)
}

/// The flash crash's prices: the original path times a multiplier that shrinks geometrically
/// from the crash day's to exactly 1 on the day the path is rejoined.
fn flash_crash_window(
    panel: &PricePanel,
    row: usize,
    fall: f64,
    recovery_periods: usize,
) -> Result<Array2<f64>, ShockError> {
    check_fall(fall)?;
    if recovery_periods == 0 {
        return Err(ShockError::NoRecovery);
    }
    let before = panel.prices.row(row - 1);
    let original = panel.prices.slice(s![row..row + recovery_periods + 1, ..]);
    let mut window = original.to_owned();
    for i in 0..panel.n_assets() {
        let first = before[i] * (1.0 - fall) / original[[0, i]];
        for j in 0..=recovery_periods {
            let left = 1.0 - j as f64 / recovery_periods as f64;
            window[[j, i]] = original[[j, i]] * first.powf(left);
        }
    }
    Ok(window)
}

/// The correlation-one window's prices: every asset earns the cross-sectional mean return, its
/// deviations scaled to the assets' average volatility.
fn correlation_one_window(panel: &PricePanel, row: usize, periods: usize) -> Result<Array2<f64>, ShockError> {
    check_window(periods)?;
    let returns = returns(panel, row, periods);
    let market: Vec<f64> = returns.rows().into_iter().map(|r| r.mean().unwrap_or(0.0)).collect();
    let average_volatility =
        returns.columns().into_iter().map(|c| stats::sample_std(&c.to_vec())).sum::<f64>()
            / panel.n_assets() as f64;
    let market_volatility = stats::sample_std(&market);
    let scale = if market_volatility > 0.0 { average_volatility / market_volatility } else { 1.0 };
    let mean = stats::mean(&market);
    let common: Vec<f64> = market.iter().map(|m| mean + scale * (m - mean)).collect();
    let shocked = Array2::from_shape_fn(returns.dim(), |(t, _)| common[t]);
    compound(panel, row, &shocked)
}

/// The volatility window's prices: each asset's return deviations from its window mean times
/// `factor`.
fn volatility_window(
    panel: &PricePanel,
    row: usize,
    factor: f64,
    periods: usize,
) -> Result<Array2<f64>, ShockError> {
    check_window(periods)?;
    if !(factor.is_finite() && factor > 0.0) {
        return Err(ShockError::Factor(factor));
    }
    let mut shocked = returns(panel, row, periods);
    for mut column in shocked.columns_mut() {
        let mean = column.mean().unwrap_or(0.0);
        column.mapv_inplace(|r| mean + factor * (r - mean));
    }
    compound(panel, row, &shocked)
}

fn check_fall(fall: f64) -> Result<(), ShockError> {
    if !(fall > 0.0 && fall < 1.0) {
        return Err(ShockError::Fall(fall));
    }
    Ok(())
}

fn check_window(periods: usize) -> Result<(), ShockError> {
    if periods < 2 {
        return Err(ShockError::ShortWindow(periods));
    }
    Ok(())
}

/// Simple returns `p[t] / p[t-1] - 1` of rows `row .. row + periods`, `[period, asset]`.
fn returns(panel: &PricePanel, row: usize, periods: usize) -> Array2<f64> {
    let now = panel.prices.slice(s![row..row + periods, ..]);
    let before = panel.prices.slice(s![row - 1..row + periods - 1, ..]);
    &now / &before - 1.0
}

/// Prices of rows `row ..` compounded from the price before `row` with the given returns; a
/// return at or below -100% would leave no price, and is refused.
fn compound(panel: &PricePanel, row: usize, returns: &Array2<f64>) -> Result<Array2<f64>, ShockError> {
    let mut prices = Array2::zeros(returns.dim());
    for i in 0..panel.n_assets() {
        let mut price = panel.prices[[row - 1, i]];
        for t in 0..returns.nrows() {
            let relative = 1.0 + returns[[t, i]];
            if !(relative > 0.0 && relative.is_finite()) {
                return Err(ShockError::NoPrice {
                    asset: panel.assets[i].clone(),
                    simple_return: returns[[t, i]],
                    date: panel.index.label(row + t),
                });
            }
            price *= relative;
            prices[[t, i]] = price;
        }
    }
    Ok(prices)
}

/// `panel` with rows `row .. row + window.nrows()` replaced by `window`, and every later row
/// scaled by the window's last price over the original's, so later relatives are kept.
fn splice(panel: &PricePanel, row: usize, window: Array2<f64>) -> PricePanel {
    let end = row + window.nrows();
    let mut prices = panel.prices.clone();
    let scale: Vec<f64> =
        (0..panel.n_assets()).map(|i| window[[window.nrows() - 1, i]] / panel.prices[[end - 1, i]]).collect();
    prices.slice_mut(s![row..end, ..]).assign(&window);
    for mut later in prices.slice_mut(s![end.., ..]).rows_mut() {
        for (p, k) in later.iter_mut().zip(&scale) {
            *p *= k;
        }
    }
    PricePanel::new(panel.source.clone(), panel.assets.clone(), panel.index.clone(), prices)
}

// ------------------------------------------------------------------------------------------------
// Scenarios
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScenarioKind {
    /// `window` runs from the S&P 500's peak close to its trough close; the tail runs to
    /// `recovered`, the first close at or above the peak again.
    Historical { window: Span, recovered: Stamp },
    /// Injected into the held-out period at the shock date.
    Synthetic(Shock),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    #[serde(flatten)]
    pub kind: ScenarioKind,
}

/// Parameters of the synthetic shocks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShockSizes {
    /// One-day fall of the crash (0.2 = 20%).
    pub crash_fall: f64,
    /// One-day fall of the flash crash.
    pub flash_fall: f64,
    /// Periods the flash crash takes to rejoin the original path.
    pub flash_recovery: usize,
    /// Periods of the correlation and volatility windows.
    pub window: usize,
    /// Multiplier of return deviations in the volatility window.
    pub volatility_factor: f64,
}

impl ShockSizes {
    /// Sizes no shock can take are the user's error, refused before any work rather than
    /// reported as skipped scenarios.
    pub fn validate(&self) -> Result<(), InvalidShockSize> {
        let invalid = |size: &'static str| move |source| InvalidShockSize { size, source };
        check_fall(self.crash_fall).map_err(invalid("crash_fall"))?;
        check_fall(self.flash_fall).map_err(invalid("flash_fall"))?;
        if self.flash_recovery == 0 {
            return Err(invalid("flash_recovery")(ShockError::NoRecovery));
        }
        if self.window < 2 {
            return Err(invalid("window")(ShockError::ShortWindow(self.window)));
        }
        if !(self.volatility_factor > 0.0 && self.volatility_factor.is_finite()) {
            return Err(invalid("volatility_factor")(ShockError::Factor(self.volatility_factor)));
        }
        Ok(())
    }
}

/// A shock size no scenario can use, named as [`ShockSizes`] names it (the command line's flag,
/// with dashes).
#[derive(Debug, thiserror::Error)]
#[error("stress size {size}: {source}")]
pub struct InvalidShockSize {
    pub size: &'static str,
    #[source]
    pub source: ShockError,
}

impl Default for ShockSizes {
    fn default() -> Self {
        Self { crash_fall: 0.20, flash_fall: 0.10, flash_recovery: 5, window: 21, volatility_factor: 3.0 }
    }
}

/// Scenario names in report order.
pub const SCENARIOS: &[&str] =
    &["dotcom", "financial-crisis", "covid", "crash", "flash-crash", "correlation-one", "volatility"];

fn date(text: &str) -> Stamp {
    text.parse().expect("scenario dates are valid ISO dates")
}

fn historical(name: &str, description: &str, peak: &str, trough: &str, recovered: &str) -> Scenario {
    Scenario {
        name: name.into(),
        description: description.into(),
        kind: ScenarioKind::Historical {
            window: Span { from: Some(date(peak)), to: Some(date(trough)) },
            recovered: date(recovered),
        },
    }
}

/// Every scenario, historical first. The historical dates are the S&P 500's closes (checked
/// against `envs/data/sp500_index_daily.csv`): peak, trough, and first close back at the peak.
pub fn scenarios(sizes: &ShockSizes) -> Vec<Scenario> {
    let synthetic = |name: &str, description: String, shock: Shock| Scenario {
        name: name.into(),
        description,
        kind: ScenarioKind::Synthetic(shock),
    };
    vec![
        historical(
            "dotcom",
            "dot-com crash: S&P 500 -49% from its 2000-03-24 peak to its 2002-10-09 trough, back on 2007-05-30",
            "2000-03-24",
            "2002-10-09",
            "2007-05-30",
        ),
        historical(
            "financial-crisis",
            "financial crisis: S&P 500 -57% from its 2007-10-09 peak to its 2009-03-09 trough, back on 2013-03-28",
            "2007-10-09",
            "2009-03-09",
            "2013-03-28",
        ),
        historical(
            "covid",
            "COVID crash: S&P 500 -34% from its 2020-02-19 peak to its 2020-03-23 trough, back on 2020-08-18",
            "2020-02-19",
            "2020-03-23",
            "2020-08-18",
        ),
        synthetic(
            "crash",
            format!("every asset falls {:.0}% in one day", 100.0 * sizes.crash_fall),
            Shock::Crash { fall: sizes.crash_fall },
        ),
        synthetic(
            "flash-crash",
            format!(
                "every asset falls {:.0}% in one day and is back on its path {} periods later",
                100.0 * sizes.flash_fall,
                sizes.flash_recovery
            ),
            Shock::FlashCrash { fall: sizes.flash_fall, recovery_periods: sizes.flash_recovery },
        ),
        synthetic(
            "correlation-one",
            format!(
                "for {} periods every asset moves with the mean return, at the average volatility",
                sizes.window
            ),
            Shock::CorrelationOne { periods: sizes.window },
        ),
        synthetic(
            "volatility",
            format!(
                "for {} periods every asset's volatility is multiplied by {}",
                sizes.window,
                crate::data::readable(sizes.volatility_factor)
            ),
            Shock::Volatility { factor: sizes.volatility_factor, periods: sizes.window },
        ),
    ]
}

/// A scenario name that [`SCENARIOS`] does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scenario '{name}'; valid names: {}", SCENARIOS.join(", "))]
pub struct UnknownScenario {
    pub name: String,
}

/// The scenarios called `names` (all when empty), in report order.
pub fn select_scenarios(names: &[String], sizes: &ShockSizes) -> Result<Vec<Scenario>, UnknownScenario> {
    if let Some(name) = names.iter().find(|name| !SCENARIOS.contains(&name.as_str())) {
        return Err(UnknownScenario { name: name.clone() });
    }
    Ok(scenarios(sizes).into_iter().filter(|s| names.is_empty() || names.contains(&s.name)).collect())
}

// ------------------------------------------------------------------------------------------------
// Runner
// ------------------------------------------------------------------------------------------------

/// The market and settings every scenario is run in.
pub struct StressSetup {
    /// The unshocked market; shocked ones reuse its features and normalization.
    pub market: Arc<Market>,
    pub settings: EnvSettings,
    /// Periods that training and model selection saw, named: scenarios inside them are labelled
    /// in-sample.
    pub seen: Vec<(String, Span)>,
    /// Where synthetic shocks are injected.
    pub held_out: Span,
    /// The shock day; default: the middle of the held-out period.
    pub shock_date: Option<Stamp>,
}

/// How one policy lived through one scenario. Returns and drawdowns are fractions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyStress {
    pub policy: PolicyId,
    /// Return from the scenario's start to its end (historical: peak to trough; synthetic: the
    /// close before the shock to the shock window's last close).
    pub scenario_return: f64,
    /// Largest fall from a running peak inside the scenario (start to end).
    pub max_drawdown: f64,
    /// Where that fall bottomed out.
    pub trough: String,
    /// Periods from that trough until wealth regained the peak before it, watched to the end of
    /// the tail; `None`: not recovered by then.
    pub recovery_periods: Option<usize>,
    pub recovered_on: Option<String>,
    /// Return from the scenario's start to the end of its tail.
    pub return_to_end: f64,
}

/// Median and spread of the agents' figures when several seeds are stressed together.
#[derive(Debug, Clone, Serialize)]
pub struct AgentSpread {
    pub agents: usize,
    pub scenario_return: Option<Spread>,
    pub max_drawdown: Option<Spread>,
    /// How many of the agents recovered within the tail.
    pub recovered: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    #[serde(flatten)]
    pub scenario: Scenario,
    /// Why the scenario could not run on this data; nothing else is set then.
    pub skipped: Option<String>,
    /// First and last close of the backtest (lead-in included).
    pub run_from: Option<String>,
    /// Scenario start, end, and end of the recovery tail.
    pub from: Option<String>,
    pub to: Option<String>,
    pub tail_to: Option<String>,
    /// The seen period the backtest shares price moves with: these figures are in-sample.
    pub in_sample: Option<Overlap>,
    pub results: Vec<PolicyStress>,
    pub agent_spread: Option<AgentSpread>,
    /// The agent (the ensemble where it ran, else the seeds' median) against equal weight, in
    /// words.
    pub verdict: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StressReport {
    pub data: PathBuf,
    pub held_out_from: String,
    pub held_out_to: String,
    pub shock_date: String,
    pub costs: CostConfig,
    /// Set when a checkpoint stressed is of a training that has not ended.
    pub unfinished: Option<String>,
    pub scenarios: Vec<ScenarioReport>,
}

/// Every policy's wealth over a scenario, from its start (at 1) to the end of its tail.
#[derive(Debug, Clone)]
pub struct ScenarioCurves {
    pub scenario: String,
    pub labels: Vec<String>,
    pub series: Vec<(PolicyId, Vec<f64>)>,
}

pub struct StressRun {
    pub report: StressReport,
    pub curves: Vec<ScenarioCurves>,
}

/// Where a scenario's backtest runs and what is measured, as market rows.
struct Plan {
    range: DecisionRange,
    start: usize,
    end: usize,
}

/// Run every scenario for every policy. With several agents among the policies, each scenario
/// also reports their median and spread.
pub fn run(
    setup: &StressSetup,
    scenarios: &[Scenario],
    policies: &mut [Box<dyn Policy>],
) -> Result<StressRun, StressError> {
    let market = &setup.market;
    let held_out = market.decision_range(&setup.held_out, 0)?;
    let shock_row = shock_row(market, held_out, setup.shock_date)?;
    let mut reports = Vec::with_capacity(scenarios.len());
    let mut curves = Vec::new();
    for scenario in scenarios {
        match plan_scenario(market, scenario, held_out, shock_row) {
            Ok((plan, scenario_market)) => {
                let (report, curve) = run_scenario(setup, scenario, &plan, &scenario_market, policies)?;
                curves.push(curve);
                reports.push(report);
            }
            Err(reason) => reports.push(skipped(scenario, reason.to_string())),
        }
    }
    let index = &market.panel.index;
    Ok(StressRun {
        report: StressReport {
            data: market.panel.source.clone(),
            held_out_from: index.label(held_out.first),
            held_out_to: index.label(held_out.last),
            shock_date: index.label(shock_row),
            costs: setup.settings.costs,
            unfinished: None,
            scenarios: reports,
        },
        curves,
    })
}

/// The row of the synthetic shocks: the shock date's, which must fall inside the held-out
/// period after its first close, or the middle of that period.
fn shock_row(
    market: &Market,
    held_out: DecisionRange,
    shock_date: Option<Stamp>,
) -> Result<usize, StressError> {
    let Some(stamp) = shock_date else { return Ok((held_out.first + held_out.last).div_ceil(2)) };
    let index = &market.panel.index;
    if let Some(why) = index.stamp_mismatch(&stamp) {
        return Err(StressError::ShockStamp(format!("--shock-date: {why}")));
    }
    index.first_at_or_after(&stamp).filter(|&row| row > held_out.first && row <= held_out.last).ok_or_else(
        || StressError::ShockDate {
            date: stamp.to_string(),
            from: index.label(held_out.first + 1),
            to: index.label(held_out.last),
        },
    )
}

/// Why a stress run cannot go ahead.
#[derive(Debug, thiserror::Error)]
pub enum StressError {
    #[error("the shock date {date} is not inside the held-out period after its first close ({from} .. {to})")]
    ShockDate { date: String, from: String, to: String },
    #[error("{0}")]
    ShockStamp(String),
    #[error("no checkpoint to stress")]
    NoCheckpoint,
    #[error(transparent)]
    Env(#[from] EnvError),
}

/// Where a scenario runs and the market it runs in: the unshocked one for a historical window, a
/// shocked copy for a synthetic shock; or why it cannot run on this data.
fn plan_scenario(
    market: &Arc<Market>,
    scenario: &Scenario,
    held_out: DecisionRange,
    shock_row: usize,
) -> Result<(Plan, Arc<Market>), Skip> {
    match &scenario.kind {
        ScenarioKind::Historical { window, recovered } => {
            Ok((historical_plan(market, window, recovered)?, market.clone()))
        }
        ScenarioKind::Synthetic(shock) => {
            let plan = shock_plan(market, held_out, shock, shock_row)?;
            let shocked = shock.apply(&market.panel, shock_row)?;
            let normalizer = Some(market.normalizer.clone());
            let mut shocked_market = Market::new(shocked, &market.feature_config, normalizer, 0..0)?;
            shocked_market.periods_per_year = market.periods_per_year;
            Ok((plan, Arc::new(shocked_market)))
        }
    }
}

/// Backtest every policy through one planned scenario and measure it.
fn run_scenario(
    setup: &StressSetup,
    scenario: &Scenario,
    plan: &Plan,
    market: &Arc<Market>,
    policies: &mut [Box<dyn Policy>],
) -> Result<(ScenarioReport, ScenarioCurves), EnvError> {
    let index = &setup.market.panel.index;
    let mut results = Vec::with_capacity(policies.len());
    let mut series = Vec::with_capacity(policies.len());
    for policy in policies.iter_mut() {
        let log = backtest(policy.as_mut(), market, plan.range, setup.settings)?;
        results.push(measure(&log, plan.start, plan.end, index));
        let first = plan.start - log.rows[0];
        let base = log.values[first];
        series.push((log.policy, log.values[first..].iter().map(|v| v / base).collect()));
    }
    let agent_spread = agent_spread(&results);
    let verdict = verdict(&results, agent_spread.as_ref());
    let curves = ScenarioCurves {
        scenario: scenario.name.clone(),
        labels: (plan.start..=plan.range.last).map(|r| index.label(r)).collect(),
        series,
    };
    let report = ScenarioReport {
        scenario: scenario.clone(),
        skipped: None,
        run_from: Some(index.label(plan.range.first)),
        from: Some(index.label(plan.start)),
        to: Some(index.label(plan.end)),
        tail_to: Some(index.label(plan.range.last)),
        in_sample: seen_overlap(&setup.market.panel, &setup.seen, plan.range),
        results,
        agent_spread,
        verdict,
    };
    Ok((report, curves))
}

/// The seeds' median and spread, when several seeds ran. Their ensemble is one policy built from
/// them, not another seed, so it stands beside the spread rather than inside it.
fn agent_spread(results: &[PolicyStress]) -> Option<AgentSpread> {
    let agents: Vec<&PolicyStress> =
        results.iter().filter(|r| matches!(r.policy, PolicyId::Agent { .. })).collect();
    (agents.len() > 1).then(|| AgentSpread {
        agents: agents.len(),
        scenario_return: Spread::of(&agents.iter().map(|a| a.scenario_return).collect::<Vec<_>>()),
        max_drawdown: Spread::of(&agents.iter().map(|a| a.max_drawdown).collect::<Vec<_>>()),
        recovered: agents.iter().filter(|a| a.recovery_periods.is_some()).count(),
    })
}

/// Why a scenario cannot run on this data: reported beside the others, not an error.
#[derive(Debug, thiserror::Error)]
enum Skip {
    #[error("a historical window needs both ends")]
    OpenWindow,
    #[error("the data is undated, so no historical window can be found in it")]
    Undated,
    #[error("the data covers {first} .. {last}, not {peak} .. {trough}")]
    Outside { first: NaiveDate, last: NaiveDate, peak: Stamp, trough: Stamp },
    #[error(
        "the features need {observable} periods of history before the first decision, and the data \
         has only {start} before {peak}"
    )]
    NoHistory { observable: usize, start: usize, peak: Stamp },
    #[error("its {periods} periods from {from} run past the held-out period's end ({end})")]
    PastHeldOut { periods: usize, from: String, end: String },
    #[error(transparent)]
    Shock(#[from] ShockError),
    #[error(transparent)]
    Market(#[from] EnvError),
}

fn skipped(scenario: &Scenario, reason: String) -> ScenarioReport {
    ScenarioReport {
        scenario: scenario.clone(),
        skipped: Some(reason),
        run_from: None,
        from: None,
        to: None,
        tail_to: None,
        in_sample: None,
        results: Vec::new(),
        agent_spread: None,
        verdict: None,
    }
}

/// A historical window needs dates, the peak and the trough inside the data, and enough history
/// before the peak for the features; a tail cut short by the data's end is kept as it is.
fn historical_plan(market: &Market, window: &Span, recovered: &Stamp) -> Result<Plan, Skip> {
    let (Some(peak), Some(trough)) = (window.from, window.to) else {
        return Err(Skip::OpenWindow);
    };
    let TimeIndex::Dates(dates) = &market.panel.index else {
        return Err(Skip::Undated);
    };
    let (first, last) = (dates[0], dates[dates.len() - 1]);
    let outside = || Skip::Outside { first, last, peak, trough };
    if Stamp::Date(first) > peak || Stamp::Date(last) < trough {
        return Err(outside());
    }
    let index = &market.panel.index;
    let start = index.first_at_or_after(&peak).ok_or_else(outside)?;
    let end = index.last_at_or_before(&trough).ok_or_else(outside)?;
    let observable = market.first_observable();
    if start <= observable {
        return Err(Skip::NoHistory { observable, start, peak });
    }
    let tail = index.last_at_or_before(recovered).ok_or_else(outside)?.max(end);
    Ok(Plan {
        range: DecisionRange { first: start.saturating_sub(LEAD_IN).max(observable), last: tail },
        start,
        end,
    })
}

/// A shock runs over the held-out period from its start, measured from the close before the
/// shock day to the shock window's end, and watched up to [`SHOCK_TAIL`] periods after it.
fn shock_plan(market: &Market, held_out: DecisionRange, shock: &Shock, row: usize) -> Result<Plan, Skip> {
    let end = row + shock.periods() - 1;
    if end > held_out.last {
        return Err(Skip::PastHeldOut {
            periods: shock.periods(),
            from: market.panel.index.label(row),
            end: market.panel.index.label(held_out.last),
        });
    }
    Ok(Plan {
        range: DecisionRange { first: held_out.first, last: (end + SHOCK_TAIL).min(held_out.last) },
        start: row - 1,
        end,
    })
}

/// A policy's figures from market row `start` to `end`, its recovery watched to the end of its
/// log. The drawdown is taken inside the scenario only, so that a fall months later in the tail,
/// which the scenario did not cause, is not charged to it.
pub fn measure(log: &BacktestLog, start: usize, end: usize, index: &TimeIndex) -> PolicyStress {
    let path = &log.values[start - log.rows[0]..];
    let drawdowns = drawdown_stats(&path[..=end - start]);
    let recovery = (drawdowns.max > 0.0)
        .then(|| path[drawdowns.trough..].iter().position(|&v| v >= path[drawdowns.peak]))
        .flatten();
    PolicyStress {
        policy: log.policy,
        scenario_return: path[end - start] / path[0] - 1.0,
        max_drawdown: drawdowns.max,
        trough: index.label(start + drawdowns.trough),
        recovery_periods: recovery,
        recovered_on: recovery.map(|r| index.label(start + drawdowns.trough + r)),
        return_to_end: path[path.len() - 1] / path[0] - 1.0,
    }
}

/// Two fractions the verdict prints alike (percent, one decimal) are the same in its words, so
/// that it never calls 36.5% against 36.5% shallower.
fn alike_in_print(a: f64, b: f64) -> bool {
    format!("{:.1}", 100.0 * a) == format!("{:.1}", 100.0 * b)
}

fn verdict(results: &[PolicyStress], spread: Option<&AgentSpread>) -> Option<String> {
    let equal = results.iter().find(|r| r.policy == PolicyId::EQUAL_WEIGHT)?;
    // The ensemble is what a multi-seed run deploys, so it speaks for the agent where it ran.
    let ensemble = results.iter().find(|r| r.policy == PolicyId::Ensemble);
    let (who, agent_return, agent_drawdown) = match (ensemble, spread) {
        (Some(ensemble), _) => ("The ensemble", ensemble.scenario_return, ensemble.max_drawdown),
        (None, Some(spread)) => {
            ("The seeds' median", spread.scenario_return?.median, spread.max_drawdown?.median)
        }
        (None, None) => {
            let agent = results.iter().find(|r| r.policy.is_agent())?;
            ("The agent", agent.scenario_return, agent.max_drawdown)
        }
    };
    // Gaps the one-decimal figures below cannot show are no verdict: an ensemble that is equal
    // weight up to rounding must not read as worse, nor as deeper.
    let (return_gap, drawdown_gap) =
        (agent_return - equal.scenario_return, agent_drawdown - equal.max_drawdown);
    let did = match return_gap {
        _ if alike_in_print(agent_return, equal.scenario_return) => "did about as well as",
        gap if gap < 0.0 => "did worse than",
        _ => "did better than",
    };
    let fell = match drawdown_gap {
        _ if alike_in_print(agent_drawdown, equal.max_drawdown) => "about the same",
        gap if gap > 0.0 => "a deeper",
        _ => "a shallower",
    };
    Some(format!(
        "{who} {did} equal weight over the scenario ({:+.1}% against {:+.1}%), with {fell} maximum \
         drawdown ({:.1}% against {:.1}%).",
        100.0 * agent_return,
        100.0 * equal.scenario_return,
        100.0 * agent_drawdown,
        100.0 * equal.max_drawdown
    ))
}

// ------------------------------------------------------------------------------------------------
// A checkpoint
// ------------------------------------------------------------------------------------------------

pub struct StressRequest {
    /// One checkpoint folder, or several seeds of one run (stressed together).
    pub checkpoints: Vec<PathBuf>,
    /// `best.bpk` or `last.bpk`.
    pub weights: Weights,
    pub scenarios: Vec<Scenario>,
    /// Held-out period for the synthetic shocks; default: the config's test period.
    pub from: Option<Stamp>,
    pub to: Option<Stamp>,
    pub shock_date: Option<Stamp>,
    pub device: DeviceChoice,
    /// The prices to stress on; default: the data the checkpoints were trained on.
    pub data: checkpoint::DataChoice,
}

/// Stress one or several seeds of a training run beside every causal baseline, on the data they
/// were trained on.
pub fn stress_checkpoints(request: StressRequest) -> Result<(StressRun, Meta), EvalError> {
    let device = request.device.device()?;
    let Some(first_dir) = request.checkpoints.first() else {
        return Err(StressError::NoCheckpoint.into());
    };
    let (meta, net) = checkpoint::load_agent(first_dir, request.weights, &device)?;
    let market = Arc::new(meta.market(first_dir, &request.data)?);
    // Several seeds are also deployed together, as `folio eval` and `folio walk-forward` do, and
    // join only as the seeds of one run: the same market, environment and normalization, and
    // no seed twice.
    let others = &request.checkpoints[1..];
    let others = checkpoint::load_members(others, request.weights, &meta, first_dir, &market, &device)?;
    let several = !others.is_empty();
    let seeds: Vec<(u64, crate::agent::network::PolicyNet)> =
        std::iter::once((meta.seed, net)).chain(others.into_iter().map(|(m, n)| (m.seed, n))).collect();
    let agent = |id, net| AgentPolicy::new(id, net, meta.head, meta.layout(), device.clone());
    let mut agents: Vec<Box<dyn Policy>> = Vec::new();
    for (seed, net) in &seeds {
        agents.push(Box::new(agent(PolicyId::Agent { seed: several.then_some(*seed) }, net.clone())));
    }
    if several {
        let members = seeds.into_iter().map(|(_, net)| agent(PolicyId::AGENT, net)).collect();
        agents.push(Box::new(EnsemblePolicy::of_agents(members)));
    }
    let held_out = if request.from.is_some() || request.to.is_some() {
        Span { from: request.from, to: request.to }
    } else {
        meta.env.periods.test
    };
    let held_out_range = market.decision_range(&held_out, 0)?;
    let mut policies = agents;
    for id in BaselineId::ALL.into_iter().filter(|id| !id.uses_hindsight()) {
        policies.push(baselines::baseline(id, &market, held_out_range, meta.env.episode.rebalance_every)?);
    }
    let setup = StressSetup {
        market,
        settings: EnvSettings::from_config(&meta.env),
        seen: seen_periods(&meta),
        held_out,
        shock_date: request.shock_date,
    };
    let mut run = run(&setup, &request.scenarios, &mut policies)?;
    run.report.unfinished = checkpoint::unfinished_training(&request.checkpoints);
    Ok((run, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stressed(policy: PolicyId, scenario_return: f64, max_drawdown: f64) -> PolicyStress {
        PolicyStress {
            policy,
            scenario_return,
            max_drawdown,
            trough: String::new(),
            recovery_periods: None,
            recovered_on: None,
            return_to_end: scenario_return,
        }
    }

    /// The verdict's words follow the figures it prints: drawdowns that both print as 36.5% are
    /// "about the same", however far apart below the last decimal; 36.4% against 36.6% is not.
    #[test]
    fn the_verdict_calls_alike_what_it_prints_alike() {
        let verdict = |agent_drawdown: f64| {
            let results = [
                stressed(PolicyId::AGENT, -0.20, agent_drawdown),
                stressed(PolicyId::EQUAL_WEIGHT, -0.20, 0.36549),
            ];
            super::verdict(&results, None).unwrap()
        };
        let alike = verdict(0.36451);
        assert!(alike.contains("about the same maximum drawdown (36.5% against 36.5%)"), "{alike}");
        let apart = verdict(0.3640);
        assert!(apart.contains("a shallower maximum drawdown (36.4% against 36.5%)"), "{apart}");
    }
}
