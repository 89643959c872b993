//! Why the agent chose its weights: how much each group of inputs pushed each output weight, at
//! one decision or on average over a period. A group is one feature (over every asset and window
//! position) or the previous weights. Backs `folio explain`.
//!
//! # Integrated gradients
//! Sundararajan, Taly and Yan (2017), "Axiomatic Attribution for Deep Networks", eq. (1): the
//! attribution of input `i` to output weight `w_j` is
//! `IG_ij = (x_i - x'_i) * integral_0^1 dw_j(x' + a (x - x')) / dx_i da`,
//! approximated by the midpoint Riemann sum over `m` steps (their section 5, with
//! `a_k = (k - 1/2) / m`). Completeness (their section 3): `sum_i IG_ij = w_j(x) - w_j(x')`
//! exactly for the integral; the midpoint sum misses by O(1/m^2) only where the path's gradient
//! is smooth. A ReLU network's is piecewise constant along the path, so the gap shrinks more
//! slowly (measured: 5x from 16 to 64 steps, 7x from 64 to 256, against 16x for a smooth one),
//! which is why every explanation carries its gap: the user sees how exact the numbers are.
//!
//! Gradient times input (Shrikumar et al. 2016) is `(x_i - x'_i) * dw_j(x) / dx_i`: the gradient
//! at the decision only, measured from the same baseline so that both methods share a reference
//! (for the features, whose baseline is zero, it is the textbook `x_i * dw_j / dx_i`). It is
//! exact only for a network linear in its inputs; its completeness gap says how far it is.
//!
//! # Baseline
//! `x'` has every normalized feature at zero, which is the feature's training-period mean (the
//! normalizer subtracts it): the features' attributions compare this market with an average
//! training day. Its previous weights are the centre of the simplex, `1 / (N + 1)` for cash and
//! each asset: the holdings' attribution compares these holdings with no tilt at all, and the
//! straight path from `x'` to `x` stays on the simplex, so the network is never asked about
//! holdings it could not have. Its reference weights (an anchored network's) are the reference
//! portfolio's training-period mean: a reference that never moves (equal weight) is then no
//! push at all, and one that does (inverse volatility) is measured from where it usually is.

use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

use burn::prelude::*;

use crate::agent::network::PolicyNet;
use crate::agent::{ActionHead, AgentPolicy, EnsemblePolicy, observations_tensor, to_host};
use crate::agent::{DeviceChoice, MissingBackend};
use crate::backtest::{MarketView, Policy, PolicyId, backtest};
use crate::data::Stamp;
use crate::env::config::Span;
use crate::env::limits::project_tensor;
use crate::env::{DecisionRange, EnvError, EnvSettings, Limits, Market, ObservationLayout, span_rows};
use crate::train::TrainError;
use crate::train::checkpoint::{self, CheckpointError, Meta, Weights};

/// Interpolation steps of integrated gradients unless told otherwise.
pub const DEFAULT_STEPS: usize = 64;

/// Rows of one forward-and-backward pass: outputs are batched together up to this many rows
/// (interpolation points times outputs), which bounds memory at a few tens of MB for the
/// default observation.
const MAX_ROWS_PER_PASS: usize = 2048;

/// The name of the group holding the current weights of the observation.
pub const PREVIOUS_WEIGHTS: &str = "previous weights";

/// The name of the group holding the reference portfolio, in observations that carry one.
pub const REFERENCE_WEIGHTS: &str = "reference weights";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Method {
    /// Integrated gradients with `steps` midpoint Riemann steps.
    IntegratedGradients { steps: usize },
    /// Gradient at the decision times the input's distance from the baseline.
    GradientTimesInput,
}

impl Method {
    pub fn describe(&self) -> String {
        match self {
            Method::IntegratedGradients { steps } => format!("integrated gradients, {steps} midpoint steps"),
            Method::GradientTimesInput => "gradient x input".into(),
        }
    }
}

/// Attribution of every input to every output weight at one observation.
#[derive(Debug, Clone, PartialEq)]
pub struct InputAttribution {
    /// `w(x)`, cash first.
    pub weights: Vec<f64>,
    /// `w(x')`.
    pub baseline_weights: Vec<f64>,
    /// `[output][input]`, in the observation's layout.
    pub per_input: Vec<Vec<f64>>,
}

/// Attributions summed into groups: what a person reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// `w(x)`, cash first.
    pub weights: Vec<f64>,
    /// `w(x')`: the weights at the baseline input.
    pub baseline_weights: Vec<f64>,
    /// `[output][group]`: summed over the assets and window positions of each group.
    pub attribution: Vec<Vec<f64>>,
    /// `[output][group]`: the part of `attribution` that comes from the output's own inputs (an
    /// asset's own feature windows and its own previous weight; cash's previous weight for
    /// cash). The rest comes from the other assets' inputs.
    pub own_inputs: Vec<Vec<f64>>,
    /// `[output]`: `sum_g attribution - (w(x) - w(x'))`; zero for exact attributions.
    pub completeness_gap: Vec<f64>,
}

/// Group names of a layout: each feature, then the previous weights, then the reference
/// portfolio if the observation carries one.
pub fn group_names(feature_names: &[String], reference: bool) -> Vec<String> {
    let weights = [PREVIOUS_WEIGHTS, REFERENCE_WEIGHTS].into_iter().take(1 + usize::from(reference));
    feature_names.iter().cloned().chain(weights.map(String::from)).collect()
}

/// The group of input `i` and the output that owns it (0 is cash, `a + 1` asset `a`).
fn group_and_owner(layout: &ObservationLayout, i: usize) -> (usize, usize) {
    if i < layout.feature_len() {
        let asset = i / (layout.features * layout.window);
        let feature = (i / layout.window) % layout.features;
        (feature, asset + 1)
    } else if i < layout.feature_len() + layout.assets + 1 {
        (layout.features, i - layout.feature_len())
    } else {
        (layout.features + 1, i - layout.feature_len() - layout.assets - 1)
    }
}

/// The baseline input described in the module documentation, with `reference` (the reference
/// portfolio's training-period mean, cash first) as its reference weights where the layout
/// carries them; without it, those too sit at the centre of the simplex.
pub fn baseline_observation(layout: &ObservationLayout, reference: Option<&[f32]>) -> Vec<f32> {
    let mut baseline = vec![0.0; layout.len()];
    baseline[layout.feature_len()..].fill(1.0 / (layout.assets + 1) as f32);
    if let (Some(offset), Some(reference)) = (layout.reference_offset(), reference) {
        baseline[offset..offset + reference.len()].copy_from_slice(reference);
    }
    baseline
}

/// The mean of the reference portfolio over `market`'s decisions in `span` (the training
/// period), cash first; `None` without a reference, or when the span holds no decision here.
pub fn mean_reference(market: &Market, span: &Span) -> Option<Vec<f32>> {
    let range = market.decision_range(span, 0).ok()?;
    let width = market.n_assets() + 1;
    let mut sum = vec![0.0; width];
    for t in range.first..=range.last {
        sum.iter_mut().zip(market.reference(t)?).for_each(|(s, w)| *s += w);
    }
    let count = (range.last - range.first + 1) as f64;
    Some(sum.iter().map(|s| (s / count) as f32).collect())
}

/// A policy ready to differentiate its weights with respect to its input: one network, or an
/// ensemble's members, each one's weights projected onto the allocation limits as the
/// environment trades them, then averaged as the ensemble deploys them.
pub struct Explainer {
    members: Vec<(PolicyNet, ActionHead)>,
    limits: Limits,
    layout: ObservationLayout,
    device: Device,
    method: Method,
    baseline: Vec<f32>,
}

impl Explainer {
    /// `net` may live on any device of the backend; the explainer works on its autodiff twin,
    /// with the parameters' own gradients switched off (only the input's are wanted).
    pub fn new(
        net: &PolicyNet,
        head: ActionHead,
        layout: ObservationLayout,
        device: &Device,
        method: Method,
    ) -> Result<Self, ExplainError> {
        if let Method::IntegratedGradients { steps: 0 } = method {
            return Err(ExplainError::NoSteps);
        }
        let device = device.clone().autodiff();
        let member = (net.clone().fork(&device).no_grad(), head);
        Ok(Self {
            members: vec![member],
            limits: Limits::NONE,
            layout,
            device,
            method,
            baseline: baseline_observation(&layout, None),
        })
    }

    /// Explain the ensemble of this network and `others`: the average of their weights. Its
    /// attributions are not the average of the members' once limits apply, since the projection
    /// onto the limits is not linear.
    pub fn with_ensemble(mut self, others: &[(PolicyNet, ActionHead)]) -> Self {
        let members = others.iter().map(|(net, head)| (net.clone().fork(&self.device).no_grad(), *head));
        self.members.extend(members);
        self
    }

    /// Explain the weights as the environment trades them under `limits` (the policy's own are
    /// projected onto them at every decision), not the weights the networks ask for.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The traded weights of a batch of observations, differentiable in them: each member's
    /// weights projected onto the limits, then averaged, as the ensemble trades them.
    fn traded(&self, input: Tensor<2>) -> Tensor<2> {
        let mut weights = self.members.iter().map(|(net, head)| {
            let asked = head.deterministic(net.scores(input.clone()));
            if self.limits.is_none() { asked } else { project_tensor(asked, &self.limits) }
        });
        let first = weights.next().expect("an explainer has a network");
        weights.fold(first, |sum, w| sum + w).div_scalar(self.members.len() as f32)
    }

    /// Measure from a baseline whose reference weights are `reference` (see
    /// [`baseline_observation`]): a reference that never moves then pushes no weight.
    pub fn with_reference_baseline(mut self, reference: Option<&[f32]>) -> Self {
        self.baseline = baseline_observation(&self.layout, reference);
        self
    }

    pub fn method(&self) -> Method {
        self.method
    }

    /// Deterministic weights of each row of `observations`, in f64.
    fn weights(&self, observations: &[f32], rows: usize) -> Vec<f64> {
        let input = observations_tensor(observations, rows, &self.device);
        to_host(self.traded(input)).into_iter().map(f64::from).collect()
    }

    /// `dw_j / dx` at every row of `points` (`rows` flat observations), as `[output][row * len]`.
    ///
    /// Rows are independent in both networks (no batch statistics), so the input is repeated once
    /// per output and the loss sums output `j` over its own copy: one backward pass then gives
    /// every output's gradient at every point, as one pass per output would.
    fn output_gradients(&self, points: &[f32], rows: usize) -> Vec<Vec<f32>> {
        let outputs = self.layout.assets + 1;
        let len = self.layout.len();
        let per_pass = (MAX_ROWS_PER_PASS / rows).clamp(1, outputs);
        let mut gradients = Vec::with_capacity(outputs);
        for first in (0..outputs).step_by(per_pass) {
            let chunk = per_pass.min(outputs - first);
            let batch = chunk * rows;
            let input: Vec<f32> = points.repeat(chunk);
            let mut select = vec![0.0f32; batch * outputs];
            for c in 0..chunk {
                for r in 0..rows {
                    select[(c * rows + r) * outputs + first + c] = 1.0;
                }
            }
            let input = observations_tensor(&input, batch, &self.device).require_grad();
            let select = Tensor::<2>::from_data(TensorData::new(select, [batch, outputs]), &self.device);
            let weights = self.traded(input.clone());
            let grads = (weights * select).sum().backward();
            let grad = to_host(input.grad(&grads).expect("the input requires its gradient"));
            gradients.extend(grad.chunks_exact(rows * len).map(<[f32]>::to_vec));
        }
        gradients
    }

    /// Every input's attribution to every output weight at `observation`.
    pub fn attribute(&self, observation: &[f32]) -> InputAttribution {
        let len = self.layout.len();
        assert_eq!(observation.len(), len, "an observation of the network's layout");
        let delta: Vec<f64> =
            observation.iter().zip(&self.baseline).map(|(&x, &b)| x as f64 - b as f64).collect();
        let mut both = observation.to_vec();
        both.extend_from_slice(&self.baseline);
        let weights_both = self.weights(&both, 2);
        let outputs = self.layout.assets + 1;
        let (weights, baseline_weights) =
            (weights_both[..outputs].to_vec(), weights_both[outputs..].to_vec());

        let (points, rows) = match self.method {
            Method::IntegratedGradients { steps } => {
                let mut points = Vec::with_capacity(steps * len);
                for k in 0..steps {
                    let alpha = (k as f64 + 0.5) / steps as f64;
                    points.extend(
                        self.baseline.iter().zip(&delta).map(|(&b, &d)| (b as f64 + alpha * d) as f32),
                    );
                }
                (points, steps)
            }
            Method::GradientTimesInput => (observation.to_vec(), 1),
        };
        let per_input = self
            .output_gradients(&points, rows)
            .into_iter()
            .map(|gradient| {
                let mut mean = vec![0.0f64; len];
                for row in gradient.chunks_exact(len) {
                    for (m, &g) in mean.iter_mut().zip(row) {
                        *m += g as f64;
                    }
                }
                mean.iter().zip(&delta).map(|(&m, &d)| m / rows as f64 * d).collect()
            })
            .collect();
        InputAttribution { weights, baseline_weights, per_input }
    }

    /// [`Explainer::attribute`] summed into groups.
    pub fn explain(&self, observation: &[f32]) -> Explanation {
        group(&self.layout, self.attribute(observation))
    }
}

/// Sum per-input attributions into feature groups, split by owner.
pub fn group(layout: &ObservationLayout, attribution: InputAttribution) -> Explanation {
    let groups = layout.features + 1 + usize::from(layout.reference);
    let outputs = layout.assets + 1;
    let mut total = vec![vec![0.0; groups]; outputs];
    let mut own = vec![vec![0.0; groups]; outputs];
    for (j, per_input) in attribution.per_input.iter().enumerate() {
        for (i, &a) in per_input.iter().enumerate() {
            let (g, owner) = group_and_owner(layout, i);
            total[j][g] += a;
            if owner == j {
                own[j][g] += a;
            }
        }
    }
    let completeness_gap = (0..outputs)
        .map(|j| total[j].iter().sum::<f64>() - (attribution.weights[j] - attribution.baseline_weights[j]))
        .collect();
    Explanation {
        weights: attribution.weights,
        baseline_weights: attribution.baseline_weights,
        attribution: total,
        own_inputs: own,
        completeness_gap,
    }
}

/// Explanations of many decisions, averaged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodSummary {
    pub decisions: usize,
    pub mean_weights: Vec<f64>,
    /// The same at every decision: the baseline input does not change.
    pub baseline_weights: Vec<f64>,
    /// `[output][group]`: signed mean; pushes in opposite directions on different days cancel.
    pub mean_attribution: Vec<Vec<f64>>,
    /// `[output][group]`: mean absolute value: how much the group moves the weight at all.
    pub mean_abs_attribution: Vec<Vec<f64>>,
    pub mean_own_inputs: Vec<Vec<f64>>,
    /// Largest `|completeness gap|` over every output and decision.
    pub max_abs_completeness_gap: f64,
}

impl PeriodSummary {
    /// `None` for no decisions.
    pub fn of(explanations: &[Explanation]) -> Option<Self> {
        let first = explanations.first()?;
        let n = explanations.len() as f64;
        let mean_of = |pick: &dyn Fn(&Explanation) -> &Vec<f64>| -> Vec<f64> {
            let mut sum = vec![0.0; pick(first).len()];
            for e in explanations {
                sum.iter_mut().zip(pick(e)).for_each(|(s, v)| *s += v);
            }
            sum.into_iter().map(|s| s / n).collect()
        };
        let table_mean = |pick: &dyn Fn(&Explanation) -> &Vec<Vec<f64>>, abs: bool| -> Vec<Vec<f64>> {
            (0..pick(first).len())
                .map(|j| {
                    let mut sum = vec![0.0; pick(first)[j].len()];
                    for e in explanations {
                        for (s, &v) in sum.iter_mut().zip(&pick(e)[j]) {
                            *s += if abs { v.abs() } else { v };
                        }
                    }
                    sum.into_iter().map(|s| s / n).collect()
                })
                .collect()
        };
        Some(Self {
            decisions: explanations.len(),
            mean_weights: mean_of(&|e| &e.weights),
            baseline_weights: first.baseline_weights.clone(),
            mean_attribution: table_mean(&|e| &e.attribution, false),
            mean_abs_attribution: table_mean(&|e| &e.attribution, true),
            mean_own_inputs: table_mean(&|e| &e.own_inputs, false),
            max_abs_completeness_gap: explanations
                .iter()
                .flat_map(|e| e.completeness_gap.iter().map(|g| g.abs()))
                .fold(0.0, f64::max),
        })
    }
}

pub struct ExplainRequest {
    pub checkpoint: PathBuf,
    /// Other seeds of the checkpoint's run: with any, their ensemble with the checkpoint (the
    /// average of their weights, what a multi-seed run deploys) is explained. Without limits,
    /// integrated gradients are linear in the network, so the ensemble's attributions are the
    /// average of its members' at the observation the ensemble itself saw; under limits they are
    /// not, since the projection onto the limits is not linear ([`Explainer::with_ensemble`]).
    pub ensemble: Vec<PathBuf>,
    /// Which of the checkpoint's networks to explain.
    pub weights: Weights,
    /// One decision to explain.
    pub date: Option<Stamp>,
    /// A period whose decisions are explained and averaged.
    pub from: Option<Stamp>,
    pub to: Option<Stamp>,
    pub method: Method,
    pub device: DeviceChoice,
    /// The prices to explain decisions on; default: the data the checkpoint was trained on.
    pub data: checkpoint::DataChoice,
}

#[derive(Debug, Clone, Serialize)]
pub struct DecisionExplanation {
    /// What the user asked for.
    pub requested: String,
    /// The decision explained: the requested date, or the nearest earlier decision.
    pub date: String,
    /// Why the decision explained is not on the requested date.
    pub note: Option<String>,
    pub explanation: Explanation,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeriodExplanation {
    pub from: String,
    pub to: String,
    pub summary: PeriodSummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExplainReport {
    pub checkpoint: PathBuf,
    /// Every checkpoint explained: the checkpoint alone, or the ensemble's members.
    pub members: Vec<PathBuf>,
    pub weights: Weights,
    pub method: Method,
    pub baseline: String,
    /// Output weights: cash, then the assets.
    pub outputs: Vec<String>,
    /// Input groups: the features, then the previous weights.
    pub groups: Vec<String>,
    /// The agent is replayed from cash from this decision on, through the environment and costs
    /// of `folio eval`, so that its previous weights are the ones it really held.
    pub replayed_from: String,
    pub decision: Option<DecisionExplanation>,
    pub period: Option<PeriodExplanation>,
    /// The explained weights are the untrained network, which is the reference portfolio: the
    /// run's best trained network (every member's, for an ensemble) did not beat it on
    /// validation. No market input moves them.
    pub kept_reference: bool,
    /// Set when a checkpoint explained is of a training that has not ended.
    pub unfinished: Option<String>,
}

pub const BASELINE_DESCRIPTION: &str = "normalized features at zero (the training-period mean), previous weights at 1/(N+1) for cash and each asset, and the reference portfolio at its training-period mean";

/// [`BASELINE_DESCRIPTION`] for a network that observes no reference portfolio.
const BASELINE_WITHOUT_REFERENCE: &str = "normalized features at zero (the training-period mean) and previous weights at 1/(N+1) for cash and each asset";

/// Records the agent's observation at every decision of a backtest while it acts.
struct Recorder {
    agent: Box<dyn Policy>,
    rows: Vec<usize>,
    observations: Vec<Vec<f32>>,
}

impl Policy for Recorder {
    fn id(&self) -> PolicyId {
        self.agent.id()
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        self.rows.push(view.row);
        self.observations.push(view.observation.to_vec());
        self.agent.decide(view, out);
    }
}

/// What a request to explain cannot be answered with, and why.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("integrated gradients need at least one step")]
    NoSteps,
    #[error("give a decision date (--date) or a period (--from / --to)")]
    NothingToExplain,
    #[error("--date {date} is outside the period's decisions {first} .. {last}")]
    DateOutsidePeriod { date: Stamp, first: String, last: String },
    /// A period number for dated rows, or a date for numbered periods.
    #[error("{0}")]
    WrongKindOfStamp(String),
    #[error("no decision at or before {date} in the replayed period")]
    NoDecision { date: Stamp },
    #[error(
        "the period holds no decisions: the agent rebalances every {every} periods from {start}{}",
        next.as_ref().map(|next| format!(", and its next decision is on {next}")).unwrap_or_default()
    )]
    EmptyPeriod { every: usize, start: String, next: Option<String> },
    #[error(
        "{date} is after the data's last row ({last}); the last decision with a next period is {last_decision}"
    )]
    AfterData { date: Stamp, last: String, last_decision: String },
    #[error("{date} is before the data's first row ({first}); the first decision is {first_decision}")]
    BeforeData { date: Stamp, first: String, first_decision: String },
    #[error(
        "{date} is inside the features' warm-up: an observation needs {warmup} periods of history, so the first decision is {first_decision}"
    )]
    InWarmup { date: Stamp, warmup: usize, first_decision: String },
    #[error(
        "{date} is the data's last row: no next period to trade over; the last decision is {last_decision}"
    )]
    LastRow { date: Stamp, last_decision: String },
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Backend(#[from] MissingBackend),
}

/// Explain a checkpoint's decisions: one date, a period, or both. The agent is replayed through
/// the environment up to them, so that its previous weights are the ones it really held.
pub fn explain(request: ExplainRequest) -> Result<ExplainReport, ExplainError> {
    if request.date.is_none() && request.from.is_none() && request.to.is_none() {
        return Err(ExplainError::NothingToExplain);
    }
    let device = request.device.device()?;
    let (meta, net) = checkpoint::load_agent(&request.checkpoint, request.weights, &device)?;
    let market = Arc::new(meta.market(&request.checkpoint, &request.data)?);
    let members = load_members(&request, &meta, net, &market, &device)?;
    let reference = mean_reference(&market, &meta.env.periods.train);
    let explainer =
        explainer_of(&members, &meta, market.layout(), &device, request.method, reference.as_deref())?;
    let date_row = request.date.map(|stamp| decision_row(&market, &stamp)).transpose()?;
    let period = requested_period(&request, &market, date_row.as_ref().map(|(row, _)| *row))?;
    let range = replay_range(&meta, &market, period, date_row.as_ref().map(|(row, _)| *row));
    let kept_reference = request.weights == Weights::Best
        && members.iter().all(|(m, _)| m.validation.as_ref().is_some_and(|v| v.kept_reference()));
    let recorder = record_decisions(acting_policy(members, &market, &device), &meta, &market, range)?;
    let decision = match (date_row, request.date) {
        (Some((row, note)), Some(stamp)) => {
            Some(explain_decision(&explainer, &recorder, &meta, &market, stamp, row, note)?)
        }
        _ => None,
    };
    let period = period
        .map(|period| explain_period(&explainer, &recorder, (&meta, &market), range, period))
        .transpose()?;
    let feature_names: Vec<String> =
        meta.env.features.features.iter().map(|f| f.name().to_string()).collect();
    let members: Vec<PathBuf> =
        std::iter::once(request.checkpoint.clone()).chain(request.ensemble.iter().cloned()).collect();
    Ok(ExplainReport {
        unfinished: checkpoint::unfinished_training(&members),
        members,
        checkpoint: request.checkpoint,
        weights: request.weights,
        method: request.method,
        baseline: match meta.layout().reference {
            true => BASELINE_DESCRIPTION.into(),
            false => BASELINE_WITHOUT_REFERENCE.into(),
        },
        outputs: std::iter::once("cash".to_string()).chain(meta.assets.iter().cloned()).collect(),
        groups: group_names(&feature_names, meta.layout().reference),
        replayed_from: market.panel.index.label(range.first),
        decision,
        period,
        kept_reference,
    })
}

/// The checkpoint's network and those of `request.ensemble`, each checked to read the market
/// the checkpoint reads.
fn load_members(
    request: &ExplainRequest,
    meta: &Meta,
    net: PolicyNet,
    market: &Market,
    device: &Device,
) -> Result<Vec<(Meta, PolicyNet)>, ExplainError> {
    let others = checkpoint::load_members(
        &request.ensemble,
        request.weights,
        meta,
        &request.checkpoint,
        market,
        device,
    )?;
    Ok(std::iter::once((meta.clone(), net)).chain(others).collect())
}

/// The explainer of what acts in the replay (the one agent, or the members' ensemble), under the
/// limits it trades under.
fn explainer_of(
    members: &[(Meta, PolicyNet)],
    meta: &Meta,
    layout: ObservationLayout,
    device: &Device,
    method: Method,
    reference: Option<&[f32]>,
) -> Result<Explainer, ExplainError> {
    let (first, others) = members.split_first().expect("the checkpoint is a member");
    let others: Vec<(PolicyNet, ActionHead)> = others.iter().map(|(m, net)| (net.clone(), m.head)).collect();
    Ok(Explainer::new(&first.1, first.0.head, layout, device, method)?
        .with_ensemble(&others)
        .with_reference_baseline(reference)
        .with_limits(EnvSettings::from_config(&meta.env).limits))
}

/// What acts in the replay: the one agent, or the members' ensemble.
fn acting_policy(members: Vec<(Meta, PolicyNet)>, market: &Market, device: &Device) -> Box<dyn Policy> {
    let mut agents: Vec<AgentPolicy> = members
        .into_iter()
        .map(|(meta, net)| AgentPolicy::new(PolicyId::AGENT, net, meta.head, market.layout(), device.clone()))
        .collect();
    if agents.len() == 1 {
        return Box::new(agents.remove(0));
    }
    Box::new(EnsemblePolicy::of_agents(agents))
}

/// The period to explain, if `--from` or `--to` asks for one: it must hold the date, if one is
/// given too.
fn requested_period(
    request: &ExplainRequest,
    market: &Market,
    date_row: Option<usize>,
) -> Result<Option<DecisionRange>, ExplainError> {
    if request.from.is_none() && request.to.is_none() {
        return Ok(None);
    }
    let range = market.decision_range(&Span { from: request.from, to: request.to }, 0)?;
    if let (Some(row), Some(date)) = (date_row, request.date)
        && (row < range.first || row >= range.last)
    {
        return Err(ExplainError::DateOutsidePeriod {
            date,
            first: market.panel.index.label(range.first),
            last: market.panel.index.label(range.last - 1),
        });
    }
    Ok(Some(range))
}

/// The decisions to replay: from the start of the configured period that holds the first
/// decision explained, as `folio eval` over that period would start, to the last one explained.
/// The agent then comes to a period's first decision holding what it really held the day
/// before, not cash.
fn replay_range(
    meta: &Meta,
    market: &Market,
    period: Option<DecisionRange>,
    date_row: Option<usize>,
) -> DecisionRange {
    let (first, last) = match period {
        Some(period) => (period.first, period.last),
        None => {
            let row = date_row.expect("a date when there is no period");
            (row, row + 1)
        }
    };
    DecisionRange { first: replay_start(meta, market, first), last }
}

/// Backtest the agent over `range` as `folio eval` would, recording its observation at every
/// decision.
fn record_decisions(
    agent: Box<dyn Policy>,
    meta: &Meta,
    market: &Arc<Market>,
    range: DecisionRange,
) -> Result<Recorder, EnvError> {
    let mut recorder = Recorder { agent, rows: Vec::new(), observations: Vec::new() };
    backtest(&mut recorder, market, range, EnvSettings::from_config(&meta.env))?;
    Ok(recorder)
}

/// The explanation of the last decision at or before `date` (at `row`, with the note
/// [`decision_row`] gave): with rebalancing every k periods, the agent does not decide on every
/// row.
fn explain_decision(
    explainer: &Explainer,
    recorder: &Recorder,
    meta: &Meta,
    market: &Market,
    date: Stamp,
    row: usize,
    date_note: Option<String>,
) -> Result<DecisionExplanation, ExplainError> {
    let index = &market.panel.index;
    let position = recorder
        .rows
        .partition_point(|&r| r <= row)
        .checked_sub(1)
        .ok_or(ExplainError::NoDecision { date })?;
    let decided = recorder.rows[position];
    let note = if decided != row {
        Some(format!(
            "{} is not a decision (the agent rebalances every {} periods); explaining the nearest earlier decision, {}",
            index.label(row),
            meta.env.episode.rebalance_every,
            index.label(decided)
        ))
    } else {
        date_note
    };
    Ok(DecisionExplanation {
        requested: date.to_string(),
        date: index.label(decided),
        note,
        explanation: explainer.explain(&recorder.observations[position]),
    })
}

/// Every recorded decision of `period` explained, and the explanations averaged; the replay's
/// decisions before it only led the agent to its holdings. The decisions keep the schedule of
/// the replay (every `rebalance_every` periods from its start), so the period is named by its
/// first and last decisions, which need not be `--from` and `--to`.
fn explain_period(
    explainer: &Explainer,
    recorder: &Recorder,
    (meta, market): (&Meta, &Market),
    replay: DecisionRange,
    period: DecisionRange,
) -> Result<PeriodExplanation, ExplainError> {
    let explained = recorder.rows.partition_point(|&row| row < period.first);
    let explanations: Vec<Explanation> =
        recorder.observations[explained..].iter().map(|observation| explainer.explain(observation)).collect();
    let index = &market.panel.index;
    let Some(summary) = PeriodSummary::of(&explanations) else {
        let every = meta.env.episode.rebalance_every.max(1);
        let next = replay.first + (period.first - replay.first).div_ceil(every) * every;
        return Err(ExplainError::EmptyPeriod {
            every,
            start: index.label(replay.first),
            next: (next + 1 < market.n_periods()).then(|| index.label(next)),
        });
    };
    Ok(PeriodExplanation {
        from: index.label(recorder.rows[explained]),
        to: index.label(recorder.rows.last().copied().unwrap_or(period.first)),
        summary,
    })
}

/// The row of the decision on `stamp`, or on the nearest earlier row with a note saying so.
/// Dates outside the data, inside the features' warm-up, or on the last row (whose decision
/// would trade over a period the data does not hold) are errors that say which dates work.
fn decision_row(market: &Market, stamp: &Stamp) -> Result<(usize, Option<String>), ExplainError> {
    let index = &market.panel.index;
    let last = market.n_periods() - 1;
    let first_decision = market.first_observable();
    let date = *stamp;
    if let Some(why) = index.stamp_mismatch(stamp) {
        return Err(ExplainError::WrongKindOfStamp(why));
    }
    if index.first_at_or_after(stamp).is_none() {
        return Err(ExplainError::AfterData {
            date,
            last: index.label(last),
            last_decision: index.label(last.saturating_sub(1)),
        });
    }
    let Some(row) = index.last_at_or_before(stamp) else {
        return Err(ExplainError::BeforeData {
            date,
            first: index.label(0),
            first_decision: index.label(first_decision.min(last)),
        });
    };
    if row < first_decision {
        return Err(ExplainError::InWarmup {
            date,
            warmup: first_decision,
            first_decision: index.label(first_decision.min(last)),
        });
    }
    if row == last {
        return Err(ExplainError::LastRow { date, last_decision: index.label(last - 1) });
    }
    let note = (index.first_at_or_after(stamp) != Some(row)).then(|| {
        format!(
            "{stamp} is not a trading day; explaining the nearest earlier decision, {} (the next trading day is {})",
            index.label(row),
            index.label(row + 1)
        )
    });
    Ok((row, note))
}

/// Where the replay that leads to a decision at `row` starts: the first decision of the
/// configured period (test, validation or training) that holds the row, as `folio eval` over
/// that period would start, or the first observable row when none does.
fn replay_start(meta: &Meta, market: &Market, row: usize) -> usize {
    let periods = &meta.env.periods;
    [periods.test, periods.validation, periods.train]
        .iter()
        .filter_map(|span| span_rows(&market.panel, span).ok())
        .find(|rows| rows.contains(&row))
        .map(|rows| rows.start.max(market.first_observable()))
        .unwrap_or(market.first_observable())
        .min(row)
}
