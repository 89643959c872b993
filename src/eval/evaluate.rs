//! Evaluating a checkpoint on any period: the agent, deterministic, beside every baseline,
//! through the same environment and costs. Backs `folio eval`.

use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::EvalError;
use crate::agent::DeviceChoice;
use crate::agent::{AgentPolicy, EnsemblePolicy};
use crate::backtest::collapse::{self, CollapseWarning};
use crate::backtest::cost_sensitivity::{COST_GRID_BP, CostSensitivity, cost_sensitivity};
use crate::backtest::rebalance::{RebalanceRule, RuleResult, agent_decisions, all_under_rule, compare_rules};
use crate::backtest::{BacktestLog, BaselineId, Policy, PolicyId, backtest_showing, decision_count};
use crate::baselines;
use crate::data::inspect::{AnnualizationSource, FrequencyMismatch, doubts, frequency_mismatch};
use crate::data::{MissingPrices, PricePanel, Stamp, read_assets};
use crate::env::config::Span;
use crate::env::risk::RiskProfile;
use crate::env::{DecisionRange, EnvSettings, Limits, Market, span_rows};
use crate::metrics::sharpe_difference::{SharpeDifference, Standing, sharpe_difference};
use crate::metrics::{Metrics, MetricsConfig, simple_returns};
use crate::progress::{Progress, Silent};
use crate::train::checkpoint::{self, Meta, Weights};

#[derive(Debug, Clone)]
pub struct EvalRequest {
    pub checkpoint: PathBuf,
    /// Further checkpoints (the other seeds of a run) deployed with `checkpoint` as one policy,
    /// the average of their weights ([`PolicyId::Ensemble`]); empty: `checkpoint` alone.
    pub ensemble: Vec<PathBuf>,
    pub weights: Weights,
    /// Another price file with the same assets; default: the data the agent was trained on.
    pub data: Option<PathBuf>,
    /// Act on prices that are not, over the training rows, the ones training loaded.
    pub allow_other_data: bool,
    /// Period to evaluate; default: the config's test period.
    pub from: Option<Stamp>,
    pub to: Option<Stamp>,
    /// Overrides both cost rates.
    pub cost: Option<f64>,
    /// Overrides the allocation limits the checkpoint was trained under with this profile's.
    pub risk_profile: Option<RiskProfile>,
    pub device: DeviceChoice,
    /// When the policies' targets are traded; [`RebalanceRule::Every`] is every decision.
    pub rebalance: RebalanceRule,
}

impl EvalRequest {
    /// The checkpoint's best weights on its config's test period, on the CPU, as trained: no
    /// other data, cost or limits, trading at every decision. What `folio eval` does unasked.
    pub fn new(checkpoint: PathBuf) -> Self {
        Self {
            checkpoint,
            ensemble: Vec::new(),
            weights: Weights::Best,
            data: None,
            allow_other_data: false,
            from: None,
            to: None,
            cost: None,
            risk_profile: None,
            device: DeviceChoice::Cpu,
            rebalance: RebalanceRule::Every,
        }
    }

    /// Every checkpoint the agent is made of: `checkpoint`, then the ensemble's others.
    pub fn checkpoints(&self) -> Vec<PathBuf> {
        std::iter::once(&self.checkpoint).chain(&self.ensemble).cloned().collect()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyReport {
    pub policy: PolicyId,
    pub metrics: Metrics,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub checkpoint: PathBuf,
    /// When the agent is the seeds' ensemble, its other members (`checkpoint` is the first):
    /// the report names every network it averaged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ensemble_members: Vec<PathBuf>,
    pub weights: Weights,
    pub data: PathBuf,
    pub data_fingerprint: String,
    /// Whether the evaluated data is, bit for bit, what training loaded.
    pub same_data_as_training: bool,
    pub from: String,
    pub to: String,
    pub periods: usize,
    /// On the training data's own prices, set when the period overlaps what training or model
    /// selection saw (the figures are then in-sample, [`Self::in_sample`]); on other prices
    /// (`--allow-other-data`), the note that they are not the training data.
    pub warning: Option<String>,
    pub costs: crate::env::CostConfig,
    pub rebalance: RebalanceRule,
    /// The environment's schedule under the rule: periods between decisions, and the config's
    /// no-trade band (`episode.no_trade_band`, 0 for none).
    pub rebalance_every: usize,
    pub no_trade_band: f64,
    /// The allocation limits every policy, agent and baselines alike, traded under, the risk
    /// profile they came from if any, and in words, where they came from.
    pub limits: Limits,
    pub risk_profile: Option<RiskProfile>,
    pub limits_applied: String,
    pub results: Vec<PolicyReport>,
    /// Every policy's CAGR across a grid of cost rates, and the agent's break-even cost.
    pub cost_sensitivity: CostSensitivity,
    /// The agent's Sharpe ratio against equal weight's over the period: whether the gap is more
    /// than noise (Ledoit and Wolf's HAC test; `None` with too few periods).
    pub edge_over_equal_weight: Option<SharpeDifference>,
    pub verdict: String,
    /// Collapse detectors on the agent's weights and turnover ([`collapse::detect`]).
    pub agent_warnings: Vec<CollapseWarning>,
}

impl EvalReport {
    /// Whether the figures are in-sample: the period overlaps what training or selection saw
    /// on the very data training loaded. An evaluation on other prices (`--allow-other-data`)
    /// carries a warning too, which says that instead.
    pub fn in_sample(&self) -> bool {
        in_sample(self.same_data_as_training, self.warning.is_some())
    }

    /// What the verdict adds about its figures, for a verdict written elsewhere (a run's
    /// ensemble beside its seeds).
    pub fn caveat(&self) -> Option<&'static str> {
        caveat(self.same_data_as_training, self.warning.is_some())
    }

    /// The rule and the environment's schedule under it, in words.
    pub fn schedule(&self) -> String {
        crate::backtest::rebalance::describe_schedule(
            self.rebalance,
            self.rebalance_every,
            self.no_trade_band,
        )
    }

    /// The agent's metrics among the results.
    pub fn agent(&self) -> &Metrics {
        &self.results.iter().find(|r| r.policy.is_agent()).expect("an evaluation backtests its agent").metrics
    }
}

pub struct Evaluation {
    pub report: EvalReport,
    pub meta: Meta,
    /// Row labels of the wealth paths.
    pub labels: Vec<String>,
    /// Labels of the decisions.
    pub decision_labels: Vec<String>,
    pub logs: Vec<BacktestLog>,
}

impl Evaluation {
    /// The agent's backtest among the logs.
    pub fn agent_log(&self) -> &BacktestLog {
        self.logs.iter().find(|l| l.policy.is_agent()).expect("an evaluation backtests its agent")
    }
}

/// Everything an evaluation of a checkpoint runs on: the agent's market over the requested
/// period, and the agent and every baseline as policies (the agent first).
struct Setup {
    meta: Meta,
    /// The metas of the ensemble's other checkpoints, read with their networks.
    member_metas: Vec<Meta>,
    market: Arc<Market>,
    range: DecisionRange,
    settings: EnvSettings,
    data: PathBuf,
    fingerprint: String,
    same_data: bool,
    warning: Option<String>,
    risk_profile: Option<RiskProfile>,
    limits_applied: String,
    metrics_config: MetricsConfig,
    policies: Vec<Box<dyn Policy>>,
}

fn prepare(request: &EvalRequest) -> Result<Setup, EvalError> {
    let device = request.device.device()?;
    let (meta, net) = checkpoint::load_agent(&request.checkpoint, request.weights, &device)?;
    let data = request.data.clone().unwrap_or_else(|| meta.training_data(&request.checkpoint));
    let choice = checkpoint::DataChoice { file: request.data.clone(), allow_other: request.allow_other_data };
    let market = Arc::new(meta.market(&request.checkpoint, &choice)?);
    let fingerprint = market.panel.fingerprint();
    let same_data = fingerprint == meta.data_fingerprint || meta.is_training_data(&market.panel);

    let chosen = request.from.is_some() || request.to.is_some();
    let span = if chosen { Span { from: request.from, to: request.to } } else { meta.env.periods.test };
    let index = &market.panel.index;
    if let Some(why) = [request.from, request.to].iter().flatten().find_map(|s| index.stamp_mismatch(s)) {
        return Err(crate::env::EnvError::StampKind(why).into());
    }
    if let Some(to) = request.to
        && index.first_at_or_after(&to).is_none()
    {
        return Err(EvalError::ToPastData { to: to.to_string(), last: index.label(index.len() - 1) });
    }
    let range = market.decision_range(&span, 0).map_err(|source| match chosen {
        true => EvalError::Env(source),
        false => EvalError::TestPeriod { source },
    })?;
    let mut settings = EnvSettings::from_config(&meta.env);
    if let Some(rate) = request.cost {
        settings.costs.buy = rate;
        settings.costs.sell = rate;
        settings.costs.validate()?;
    }
    let (risk_profile, source) = match request.risk_profile {
        Some(profile) => {
            settings.limits = profile.limits();
            (Some(profile), "asked for this evaluation, overriding the checkpoint's")
        }
        None => (meta.env.risk_profile, "as trained"),
    };
    let limits_applied = format!(
        "{}{} ({source}), for the agent and every baseline",
        risk_profile.map(|p| format!("{p} profile: ")).unwrap_or_default(),
        settings.limits.describe(Some(market.n_assets()))
    );
    let warning = if same_data {
        overlap_warning(&meta, &market, range)
    } else if !request.allow_other_data {
        None
    } else {
        Some(format!(
            "NOT THE TRAINING DATA: {} differs from the prices this agent was trained on (--allow-other-data)",
            data.display()
        ))
    };
    let metrics_config = MetricsConfig { periods_per_year: meta.env.data.periods_per_year, risk_free: 0.0 };
    let agent = AgentPolicy::new(PolicyId::AGENT, net, meta.head, market.layout(), device.clone());
    let (agent, member_metas) = agent_or_ensemble(agent, request, &meta, &market, &device)?;
    let mut policies = vec![agent];
    policies.extend(baselines::all(&market, range, settings.episode.rebalance_every)?);
    Ok(Setup {
        meta,
        member_metas,
        market,
        range,
        settings,
        data,
        fingerprint,
        same_data,
        warning,
        risk_profile,
        limits_applied,
        metrics_config,
        policies,
    })
}

/// `agent` alone, or with the request's other checkpoints as one ensemble, and those others'
/// metas. The members must read the same observations as `agent`: same assets, features and
/// normalization (the seeds of one run).
fn agent_or_ensemble(
    agent: AgentPolicy,
    request: &EvalRequest,
    meta: &Meta,
    market: &Market,
    device: &burn::prelude::Device,
) -> Result<(Box<dyn Policy>, Vec<Meta>), EvalError> {
    if request.ensemble.is_empty() {
        return Ok((Box::new(agent), Vec::new()));
    }
    let others = checkpoint::load_members(
        &request.ensemble,
        request.weights,
        meta,
        &request.checkpoint,
        market,
        device,
    )?;
    let (metas, nets): (Vec<Meta>, Vec<_>) = others.into_iter().unzip();
    let members = std::iter::once(agent).chain(metas.iter().zip(nets).map(|(other, net)| {
        AgentPolicy::new(PolicyId::AGENT, net, other.head, market.layout(), device.clone())
    }));
    Ok((Box::new(EnsemblePolicy::of_agents(members.collect())), metas))
}

pub fn evaluate(request: EvalRequest) -> Result<Evaluation, EvalError> {
    evaluate_showing(request, &Silent)
}

/// [`evaluate`], showing its backtests' decisions on `progress`: the agent and every baseline
/// over the period, then again at every cost of the sensitivity grid.
pub fn evaluate_showing(request: EvalRequest, progress: &dyn Progress) -> Result<Evaluation, EvalError> {
    let mut setup = prepare(&request)?;
    let (market, range, settings, rule) =
        (setup.market.clone(), setup.range, setup.settings, request.rebalance);
    let mut policies = std::mem::take(&mut setup.policies);
    let agent =
        policies.iter().position(|p| p.id().is_agent()).expect("prepare puts the agent among the policies");
    let own_decisions = agent_decisions(policies[agent].as_mut(), rule, &market, range, settings)?;
    let mut policies = all_under_rule(policies, rule, &market)?;
    let backtests = policies.len() * (1 + COST_GRID_BP.len());
    let task =
        progress.start("backtests", "decisions", (backtests * decision_count(range, &settings)) as u64, 0);
    let mut logs = Vec::with_capacity(policies.len());
    for policy in policies.iter_mut() {
        task.set_message(policy.id().to_string());
        logs.push(backtest_showing(policy.as_mut(), &market, range, settings, task.as_ref())?);
    }
    task.set_message("cost sensitivity".into());
    let metrics = setup.metrics_config;
    let cost_sensitivity =
        cost_sensitivity(&mut policies, &market, range, settings, &COST_GRID_BP, &metrics, task.as_ref())?;
    task.finish();
    let results: Vec<PolicyReport> =
        logs.iter().map(|l| PolicyReport { policy: l.policy, metrics: l.metrics(&metrics) }).collect();
    let columns: Vec<String> =
        std::iter::once("cash".to_string()).chain(setup.meta.assets.iter().cloned()).collect();
    let agent_log = logs.iter().find(|l| l.policy.is_agent()).expect("the agent was backtested");
    // The detectors look for a trained agent that collapsed; one that deploys its reference
    // portfolio does so by the gate's choice, which the verdict states instead.
    let agent_warnings = if setup.deploys_reference(&request) {
        Vec::new()
    } else {
        collapse::detect(own_decisions.as_ref().unwrap_or(agent_log), &columns, &setup.settings.limits)
    };
    let index = &market.panel.index;
    let labels = agent_log.rows.iter().map(|&r| index.label(r)).collect();
    let decision_labels = agent_log.decision_rows.iter().map(|&r| index.label(r)).collect();
    let edge = logs.iter().find(|l| l.policy == PolicyId::EQUAL_WEIGHT).and_then(|equal| {
        sharpe_difference(
            &simple_returns(&agent_log.values),
            &simple_returns(&equal.values),
            metrics.periods_per_year,
        )
    });
    let report = setup.report(&request, results, cost_sensitivity, edge, agent_warnings);
    Ok(Evaluation { labels, decision_labels, report, meta: setup.meta, logs })
}

impl Setup {
    /// A sentence for an agent whose best networks are their untrained reference portfolio, so
    /// that an agent identical to equal weight reads as what training chose: the checkpoint's
    /// reason, or for an ensemble how many of its seeds kept the reference.
    fn kept_reference(&self, request: &EvalRequest) -> String {
        let reference = self.meta.env.features.reference.name();
        if !request.ensemble.is_empty() {
            let (kept, seeds) = self.members_keeping_reference(request);
            let untested = self.members_untested(request);
            let why = match untested {
                0 => "training did not beat it on validation".to_string(),
                _ if untested == kept => {
                    format!("the gap to it could not be tested: {}", checkpoint::untested_gap())
                }
                _ => format!(
                    "training did not beat it on validation ({untested} of them untested: {})",
                    checkpoint::untested_gap()
                ),
            };
            return match kept {
                0 => String::new(),
                _ if kept == seeds => format!(
                    " Every one of the {seeds} seeds deploys its untrained network, the reference portfolio \
                     ({reference}), because {why}: the ensemble is that portfolio."
                ),
                1 => format!(
                    " 1 of the {seeds} seeds deploys its untrained network, the reference portfolio ({reference}), \
                     because {why}."
                ),
                _ => format!(
                    " {kept} of the {seeds} seeds deploy their untrained network, the reference portfolio \
                     ({reference}), because {why}."
                ),
            };
        }
        match self.meta.validation.as_ref().and_then(|v| v.reference_test.as_ref()) {
            Some(test) if self.deploys_reference(request) => format!(
                " The checkpoint deploys its untrained network, the reference portfolio ({reference}), because {}.",
                test.reason()
            ),
            _ => String::new(),
        }
    }

    /// Whether the evaluated agent is the untrained network that the reference gate kept: for an
    /// ensemble, every seed's.
    fn deploys_reference(&self, request: &EvalRequest) -> bool {
        let (kept, seeds) = self.members_keeping_reference(request);
        kept == seeds
    }

    /// Of the agent's checkpoints (one, or an ensemble's seeds), how many deploy their untrained
    /// reference with the weights evaluated, and how many there are.
    fn members_keeping_reference(&self, request: &EvalRequest) -> (usize, usize) {
        let keeps = |meta: &Meta| meta.validation.as_ref().is_some_and(|v| v.kept_reference());
        (self.members_where(request, keeps), 1 + self.member_metas.len())
    }

    /// Of those that deploy their reference, how many kept it untested (no test of the gap).
    fn members_untested(&self, request: &EvalRequest) -> usize {
        self.members_where(request, |meta| {
            meta.validation.as_ref().is_some_and(|v| v.kept_reference_untested())
        })
    }

    /// How many of the agent's checkpoints satisfy `holds`, with the best weights evaluated (the
    /// last ones are never the reference the gate kept).
    fn members_where(&self, request: &EvalRequest, holds: impl Fn(&Meta) -> bool) -> usize {
        if request.weights != Weights::Best {
            return 0;
        }
        std::iter::once(&self.meta).chain(&self.member_metas).filter(|meta| holds(meta)).count()
    }

    fn caveat(&self) -> Option<&'static str> {
        caveat(self.same_data, self.warning.is_some())
    }

    /// The report of an evaluation this setup ran.
    fn report(
        &self,
        request: &EvalRequest,
        results: Vec<PolicyReport>,
        cost_sensitivity: CostSensitivity,
        edge: Option<SharpeDifference>,
        agent_warnings: Vec<CollapseWarning>,
    ) -> EvalReport {
        let index = &self.market.panel.index;
        EvalReport {
            checkpoint: request.checkpoint.clone(),
            ensemble_members: request.ensemble.clone(),
            weights: request.weights,
            data: self.data.clone(),
            data_fingerprint: self.fingerprint.clone(),
            same_data_as_training: self.same_data,
            from: index.label(self.range.first),
            to: index.label(self.range.last),
            periods: self.range.periods(),
            warning: self.warning.clone(),
            costs: self.settings.costs,
            rebalance: request.rebalance,
            rebalance_every: self.settings.episode.rebalance_every,
            no_trade_band: self.settings.episode.no_trade_band,
            limits: self.settings.limits,
            risk_profile: self.risk_profile,
            limits_applied: self.limits_applied.clone(),
            verdict: verdict(&results, edge.as_ref(), self.caveat())
                + &self.kept_reference(request)
                + &checkpoint::unfinished_training(&request.checkpoints())
                    .map(|sentence| format!(" {sentence}"))
                    .unwrap_or_default()
                + &without_online_learning(&self.meta)
                + &annualization_warning(
                    &self.market.panel,
                    self.metrics_config.periods_per_year,
                    AnnualizationSource::Checkpoint,
                )
                + &data_doubts(&self.market.panel, |row| self.range.first < row && row <= self.range.last),
            edge_over_equal_weight: edge,
            results,
            cost_sensitivity,
            agent_warnings,
        }
    }
}

/// Turnover, costs and return of a set of policies under several rebalancing rules.
#[derive(Debug, Clone, Serialize)]
pub struct RebalancingReport {
    /// The checkpoint whose agent was compared; `None` for baselines alone.
    pub checkpoint: Option<PathBuf>,
    pub data: PathBuf,
    pub from: String,
    pub to: String,
    pub periods: usize,
    /// The evaluation's warning, as [`EvalReport::warning`]: the period is in-sample for the
    /// agent, or the prices are not its training data's.
    pub warning: Option<String>,
    /// Set when a checkpoint compared is of a training that has not ended.
    pub unfinished: Option<String>,
    pub costs: crate::env::CostConfig,
    /// Periods between decisions; the rules choose which decisions trade.
    pub rebalance_every: usize,
    pub rules: Vec<RebalanceRule>,
    /// One row per policy and rule, grouped by policy (the agent first), rules in the order given.
    pub results: Vec<RuleResult>,
}

/// The agent of a checkpoint and every baseline under each of `rules` (none: the default ones
/// the data can run), over the period `request` names (its `rebalance` is ignored).
pub fn compare_rebalancing(
    request: EvalRequest,
    rules: &[RebalanceRule],
) -> Result<RebalancingReport, EvalError> {
    let mut setup = prepare(&request)?;
    let unfinished = checkpoint::unfinished_training(&request.checkpoints());
    let rules = &crate::backtest::rebalance::comparison_rules(rules, &setup.market);
    let results = compare_rules(
        &mut setup.policies,
        rules,
        &setup.market,
        setup.range,
        setup.settings,
        &setup.metrics_config,
    )?;
    let index = &setup.market.panel.index;
    Ok(RebalancingReport {
        checkpoint: Some(request.checkpoint),
        data: setup.data,
        from: index.label(setup.range.first),
        to: index.label(setup.range.last),
        periods: setup.range.periods(),
        warning: setup.warning,
        unfinished,
        costs: setup.settings.costs,
        rebalance_every: setup.settings.episode.rebalance_every,
        rules: rules.to_vec(),
        results,
    })
}

fn overlap_warning(meta: &Meta, market: &Market, range: DecisionRange) -> Option<String> {
    seen_overlap(&market.panel, &seen_periods(meta), range).map(|seen| {
        format!(
            "the period overlaps the {} period ({} .. {}): these figures are in-sample",
            seen.period, seen.from, seen.to
        )
    })
}

/// The periods a checkpoint's training and model selection saw, named.
pub fn seen_periods(meta: &Meta) -> Vec<(String, Span)> {
    vec![("training".into(), meta.env.periods.train), ("validation".into(), meta.env.periods.validation)]
}

/// A seen period that a backtest over `range` shares price moves with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overlap {
    pub period: String,
    pub from: String,
    pub to: String,
}

/// The first of the `seen` periods (training, validation) whose price moves a backtest over
/// `range` also earns: figures there are in-sample. Spans the data does not cover are not seen.
pub fn seen_overlap(panel: &PricePanel, seen: &[(String, Span)], range: DecisionRange) -> Option<Overlap> {
    seen.iter().find_map(|(name, span)| {
        let rows = span_rows(panel, span).ok()?;
        let overlaps = range.first < rows.end - 1 && rows.start < range.last;
        overlaps.then(|| Overlap {
            period: name.clone(),
            from: panel.index.label(rows.start),
            to: panel.index.label(rows.end - 1),
        })
    })
}

/// A sentence for the verdict on an agent trained to learn online in its test windows: only the
/// walk-forward does, so these figures are the saved network's, not the learning agent's.
fn without_online_learning(meta: &Meta) -> String {
    match meta.train.online_steps {
        0 => String::new(),
        steps => format!(
            " The agent was trained with online_steps = {steps}, but this evaluation acts on its network \
             as saved, without learning online (only the walk-forward learns in its test windows)."
        ),
    }
}

/// Whether an evaluation's figures are in-sample, from what its report records: a warning on the
/// training data's own prices is the overlap with what training or selection saw; on other
/// prices (`--allow-other-data`) it says that they are other prices instead.
pub fn in_sample(same_data_as_training: bool, warned: bool) -> bool {
    same_data_as_training && warned
}

/// What a verdict must add about its figures: in-sample on the training data, or not the
/// training data at all (`--allow-other-data`, where the overlap is not checked).
fn caveat(same_data: bool, warned: bool) -> Option<&'static str> {
    match (in_sample(same_data, warned), warned) {
        (true, _) => Some(" The period is in-sample, so this says little about the future."),
        (false, true) => Some(" These are not the prices the agent was trained on."),
        (false, false) => None,
    }
}

fn verdict(results: &[PolicyReport], edge: Option<&SharpeDifference>, caveat: Option<&str>) -> String {
    let metrics = |id: PolicyId| results.iter().find(|r| r.policy == id).map(|r| &r.metrics);
    // The agent, or the seeds' ensemble when several checkpoints are evaluated together.
    let agent =
        &results.iter().find(|r| r.policy.is_agent()).expect("an evaluation backtests its agent").metrics;
    let equal = metrics(PolicyId::EQUAL_WEIGHT);
    let causal: Vec<&PolicyReport> =
        results.iter().filter(|r| !r.policy.is_agent() && !r.policy.uses_hindsight()).collect();
    if !agent.sharpe.is_finite() || equal.is_some_and(|eq| !eq.sharpe.is_finite()) {
        return format!(
            "Too few periods to measure: the period has {} return{}, and a Sharpe ratio needs at least two that vary; \
             choose a longer period (--from / --to).",
            agent.periods,
            if agent.periods == 1 { "" } else { "s" }
        );
    }
    let beaten = causal.iter().filter(|r| agent.sharpe > r.metrics.sharpe).count();
    // The gap is tested on the same periods, so that a lucky 0.03 does not read as an edge.
    let gap = edge.map(|e| format!(", a gap of {}", e.describe())).unwrap_or_default();
    let mut text = match equal.map(|eq| (eq, Standing::of(agent.sharpe, eq.sharpe, edge))) {
        Some((eq, Standing::Matches)) => {
            format!(
                "The agent's Sharpe ratio {:.2} matches equal weight's {:.2}{gap}",
                agent.sharpe, eq.sharpe
            )
        }
        Some((eq, Standing::Beats)) => {
            format!("The agent's Sharpe ratio {:.2} beats equal weight's {:.2}{gap}", agent.sharpe, eq.sharpe)
        }
        Some((eq, Standing::Ahead)) => {
            let why = if edge.is_some() { "" } else { ", a gap too short to test" };
            format!(
                "The agent's Sharpe ratio {:.2} is ahead of equal weight's {:.2}{gap}{why}, which shows no edge",
                agent.sharpe, eq.sharpe
            )
        }
        Some((eq, _)) => format!(
            "The agent's Sharpe ratio {:.2} does not beat equal weight's {:.2}{gap}",
            agent.sharpe, eq.sharpe
        ),
        None => format!("The agent's Sharpe ratio is {:.2}", agent.sharpe),
    };
    text.push_str(&format!("; it beats {beaten} of {} causal baselines on Sharpe.", causal.len()));
    text.push_str(caveat.unwrap_or_default());
    text
}

/// The folder `folio eval` writes into by default; a rebalancing rule other than every decision
/// gets its own folder, so it never overwrites the plain evaluation.
pub fn default_output(checkpoint: &Path, report: &EvalReport) -> PathBuf {
    let rule = match report.rebalance {
        RebalanceRule::Every => String::new(),
        rule => format!("-{}", rule.to_string().replace(':', "-")),
    };
    checkpoint.join(format!("eval-{}-{}{rule}", report.from, report.to))
}

/// A verdict's closing sentence for data whose rows come more or less often than
/// `periods_per_year` says (empty when they agree), so that a shared report carries it; `source`
/// decides the remedy it names.
pub(crate) fn annualization_warning(
    panel: &PricePanel,
    periods_per_year: f64,
    source: AnnualizationSource,
) -> String {
    frequency_mismatch(panel, periods_per_year)
        .map(|mismatch| {
            format!(" Every annualized figure above is off: {}.", FrequencyMismatch { source, ..mismatch })
        })
        .unwrap_or_default()
}

/// A verdict's closing sentence for what looks like an error in the prices its figures are
/// measured on ([`doubts`]; `measured(row)`: whether the return into `row` is one of theirs, so
/// that a window starting on a spike still names the fall it measures). Empty where there is
/// none, so that a shared report never passes such figures off as the market's.
pub(crate) fn data_doubts(panel: &PricePanel, measured: impl Fn(usize) -> bool) -> String {
    let doubts: Vec<String> = doubts(panel)
        .into_iter()
        .filter(|doubt| doubt.rows.iter().any(|&row| measured(row)))
        .map(|doubt| doubt.text)
        .collect();
    if doubts.is_empty() {
        return String::new();
    }
    let shown = doubts.len().min(3);
    let more = match doubts.len() - shown {
        0 => String::new(),
        more => format!("; and {more} more"),
    };
    format!(
        " The prices measured may hold data errors, which every figure above includes: {}{more} (`folio data \
         inspect` lists them).",
        doubts[..shown].join("; ")
    )
}

pub struct BaselineRequest {
    pub data: PathBuf,
    /// What a missing price inside a listing means (the config's `[data] missing`).
    pub missing: MissingPrices,
    /// Assets to trade; empty: every column.
    pub assets: Vec<String>,
    /// The strategies to run.
    pub strategies: Vec<BaselineId>,
    pub from: Option<Stamp>,
    pub to: Option<Stamp>,
    pub settings: EnvSettings,
    pub periods_per_year: f64,
    /// When the strategies' targets are traded; [`RebalanceRule::Every`] is every decision.
    pub rebalance: RebalanceRule,
    /// The config's feature settings: no feature is computed, but the volatility-managed
    /// baseline takes its windows from them, as `eval` and the walk-forward give it.
    pub features: crate::features::FeatureConfig,
}

#[derive(Debug, Clone, Serialize)]
pub struct BaselineReport {
    pub data: PathBuf,
    pub assets: Vec<String>,
    pub from: String,
    pub to: String,
    pub periods: usize,
    pub costs: crate::env::CostConfig,
    pub rebalance_every: usize,
    pub rebalance: RebalanceRule,
    /// The allocation limits every strategy traded under.
    pub limits: Limits,
    pub results: Vec<PolicyReport>,
    /// Row labels of the wealth paths, and of the decisions (for the CSV files beside the report).
    #[serde(skip)]
    pub labels: Vec<String>,
    #[serde(skip)]
    pub decision_labels: Vec<String>,
}

/// The market of a baseline request, its decision range and the strategies it names. No
/// features, so decisions start at the first row, as in the online-portfolio-selection literature.
struct BaselineSetup {
    market: Arc<Market>,
    range: DecisionRange,
    policies: Vec<Box<dyn Policy>>,
}

fn prepare_baselines(request: &BaselineRequest) -> Result<BaselineSetup, EvalError> {
    let raw = read_assets(&request.data, request.missing, &request.assets)?.panel;
    let selection = raw.select(&request.assets, request.from, request.to)?;
    let features = crate::features::FeatureConfig {
        volatility_window: request.features.volatility_window,
        long_window: request.features.long_window,
        ..crate::features::FeatureConfig::none()
    };
    let mut market = Market::new(selection.panel, &features, None, 0..0)?;
    market.periods_per_year = request.periods_per_year;
    let market = Arc::new(market);
    let range = market.decision_range(&Span::default(), 0)?;
    let policies = request
        .strategies
        .iter()
        .map(|&id| baselines::baseline(id, &market, range, request.settings.episode.rebalance_every))
        .collect::<Result<_, _>>()?;
    Ok(BaselineSetup { market, range, policies })
}

/// Rule-based strategies alone over a span.
pub fn backtest_baselines(request: BaselineRequest) -> Result<(BaselineReport, Vec<BacktestLog>), EvalError> {
    backtest_baselines_showing(request, &Silent)
}

/// [`backtest_baselines`], showing the backtests' decisions on `progress`.
pub fn backtest_baselines_showing(
    request: BaselineRequest,
    progress: &dyn Progress,
) -> Result<(BaselineReport, Vec<BacktestLog>), EvalError> {
    let BaselineSetup { market, range, policies } = prepare_baselines(&request)?;
    let mut policies = all_under_rule(policies, request.rebalance, &market)?;
    let metrics_config = MetricsConfig { periods_per_year: request.periods_per_year, risk_free: 0.0 };
    let total = policies.len() * decision_count(range, &request.settings);
    let task = progress.start("backtests", "decisions", total as u64, 0);
    let mut logs = Vec::new();
    for policy in policies.iter_mut() {
        task.set_message(policy.id().to_string());
        logs.push(backtest_showing(policy.as_mut(), &market, range, request.settings, task.as_ref())?);
    }
    task.finish();
    let index = &market.panel.index;
    let report = BaselineReport {
        data: request.data,
        assets: market.panel.assets.clone(),
        from: index.label(range.first),
        to: index.label(range.last),
        periods: range.periods(),
        costs: request.settings.costs,
        rebalance_every: request.settings.episode.rebalance_every,
        rebalance: request.rebalance,
        limits: request.settings.limits,
        results: logs
            .iter()
            .map(|l| PolicyReport { policy: l.policy, metrics: l.metrics(&metrics_config) })
            .collect(),
        labels: logs.first().map(|l| l.rows.iter().map(|&r| index.label(r)).collect()).unwrap_or_default(),
        decision_labels: logs
            .first()
            .map(|l| l.decision_rows.iter().map(|&r| index.label(r)).collect())
            .unwrap_or_default(),
    };
    Ok((report, logs))
}

/// The strategies of `request` under each of `rules` (none: the default ones the data can run;
/// its `rebalance` is ignored).
pub fn compare_baseline_rebalancing(
    request: BaselineRequest,
    rules: &[RebalanceRule],
) -> Result<RebalancingReport, EvalError> {
    let BaselineSetup { market, range, mut policies } = prepare_baselines(&request)?;
    let rules = &crate::backtest::rebalance::comparison_rules(rules, &market);
    let metrics_config = MetricsConfig { periods_per_year: request.periods_per_year, risk_free: 0.0 };
    let results = compare_rules(&mut policies, rules, &market, range, request.settings, &metrics_config)?;
    let index = &market.panel.index;
    Ok(RebalancingReport {
        checkpoint: None,
        data: request.data,
        from: index.label(range.first),
        to: index.label(range.last),
        periods: range.periods(),
        warning: None,
        unfinished: None,
        costs: request.settings.costs,
        rebalance_every: request.settings.episode.rebalance_every,
        rules: rules.to_vec(),
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth::{SynthConfig, generate};

    /// A verdict names the data errors inside the periods its figures measure, and only those: a
    /// spike in training data, which no reported figure includes, is the stderr warning's alone.
    #[test]
    fn a_verdict_names_the_data_errors_inside_what_it_measured() {
        let config =
            SynthConfig { assets: 4, periods: 400, seed: 3, jumps_per_year: 0.0, ..SynthConfig::default() };
        let mut panel = generate(&config).unwrap();
        assert_eq!(data_doubts(&panel, |_| true), "");
        panel.prices[[300, 1]] *= 100.0;
        let measured = data_doubts(&panel, |row| row > 250);
        assert!(measured.starts_with(" The prices measured may hold data errors"), "{measured}");
        assert!(
            measured.contains(&format!("{} on {}", panel.assets[1], panel.index.label(300))),
            "{measured}"
        );
        assert_eq!(data_doubts(&panel, |row| row <= 250), "");
        // A window that starts on the spike measures its fall; one that starts after, neither.
        assert!(data_doubts(&panel, |row| row > 300).contains(&panel.index.label(300)));
        assert_eq!(data_doubts(&panel, |row| row > 301), "");
        // Forty days without rows before row 320.
        let crate::data::TimeIndex::Dates(dates) = &mut panel.index else {
            panic!("synthetic markets are dated")
        };
        dates[320..].iter_mut().for_each(|date| *date = *date + chrono::Days::new(40));
        let both = data_doubts(&panel, |row| row > 250);
        assert!(both.contains("; no rows for ") && both.contains(&panel.index.label(320)), "{both}");
        assert_eq!(data_doubts(&panel, |row| row <= 250), "");
    }
}
