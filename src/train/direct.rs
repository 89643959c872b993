//! Direct policy gradient (Jiang, Xu and Liang 2017, sections 4-5): the portfolio's log return
//! net of costs is a differentiable function of the network's softmax weights, so the network
//! ascends its mean over mini-batches of consecutive periods directly, with no sampling.
//!
//! For a batch of periods `t_0 .. t_0 + n`, with weights `w_t = softmax(f(s_t))`:
//! `J = (1/n) sum_t ln(mu_t w_t . x_{t+1})`, where `mu_t = 1 - c_p bought_t - c_s sold_t` is the
//! proportional cost between `w_t` and the drifted previous weights
//! `w'_t = (w_{t-1} * x_t) / (w_{t-1} . x_t)`. Inside a batch `w_{t-1}` is the network's own
//! output (so costs are differentiated through); at the batch's first period and in the
//! observations it comes from the portfolio-vector memory (PVM), which keeps the latest weights
//! chosen for every period.
//!
//! Training pays the proportional costs whatever `[costs] model` says: Jiang et al.'s exact
//! factor is a fixed point, not a formula to differentiate. At 0.25% a side the two differ by
//! about 3.5e-6 of wealth per trade, 0.3% of the cost paid; evaluation uses the config's model.
//!
//! Under allocation limits `w_t` is the softmax projected onto them ([`project_tensor`], the
//! environment's projection in tensor ops), so the network learns through the weights it will
//! actually trade to. With a mean-variance reward the objective becomes
//! `J = mean(r) - (lambda / 2) var(r)` over the batch's log returns ([`DirectObjective`]).

use burn::prelude::*;
use burn::tensor::activation::{relu, softmax};
use rand::{RngExt, rngs::StdRng};
use std::sync::Arc;

use super::config::DirectConfig;
use super::step::optimizer_step;
use super::{Descent, Learner, TrainError, UpdateStats, Updated};
use crate::agent::network::PolicyNet;
use crate::agent::to_host;
use crate::env::limits::project_tensor;
use crate::env::{CostConfig, DecisionRange, EnvSettings, Limits, Market, RewardConfig};

/// What the direct learner maximizes over a batch of consecutive net returns, read from the
/// environment's reward so that every learner optimizes the same preference. `r_t` are the
/// batch's log returns, `R_t = exp(r_t) - 1` its simple returns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DirectObjective {
    /// `mean(r)`: the growth rate, Jiang et al.'s objective.
    MeanLogReturn,
    /// `mean(r) - (lambda / 2) var(r)`, with `var` the batch's population variance.
    MeanVariance { risk_aversion: f64 },
    /// `mean(r) / sqrt(var(r) + EPSILON^2)`: the batch Sharpe ratio.
    Sharpe,
    /// `mean(r) / sqrt(mean(min(r, 0)^2) + EPSILON^2)`: the batch downside (Sortino) ratio.
    Sortino,
    /// Moody and Saffell's differential Sharpe ratio averaged over the batch: the recursion of
    /// [`RewardConfig::DifferentialSharpe`] run through the batch in order, started from the
    /// batch's own moments (held constant), so its mean is the first-order gain in an
    /// exponentially weighted Sharpe ratio that a return brings.
    DifferentialSharpe { eta: f64 },
    /// Moody and Saffell's differential downside deviation ratio averaged over the batch, started
    /// likewise ([`RewardConfig::DownsideRisk`]).
    DownsideRisk { eta: f64, downside_floor: f64 },
    /// `mean(r) - penalty * mean(1 - V_t / max_{s<=t} V_s)`, with `V` the batch's wealth path:
    /// the batch form of the drawdown-penalized reward.
    DrawdownPenalty { penalty: f64 },
}

/// Keeps the ratios finite on a batch whose returns are all equal (cash, say): a daily standard
/// deviation of one basis point, far below any traded asset's.
const EPSILON: f64 = 1e-4;

impl DirectObjective {
    /// The objective of `reward`; every reward has one.
    pub fn from_reward(reward: &RewardConfig) -> Self {
        match *reward {
            RewardConfig::MeanVariance { risk_aversion, .. } if risk_aversion > 0.0 => {
                DirectObjective::MeanVariance { risk_aversion }
            }
            // No aversion to variance leaves the mean: the same objective, and the same figures.
            RewardConfig::LogReturn | RewardConfig::MeanVariance { .. } => DirectObjective::MeanLogReturn,
            RewardConfig::Sharpe => DirectObjective::Sharpe,
            RewardConfig::Sortino => DirectObjective::Sortino,
            RewardConfig::DifferentialSharpe { eta } => DirectObjective::DifferentialSharpe { eta },
            RewardConfig::DownsideRisk { eta, downside_floor } => {
                DirectObjective::DownsideRisk { eta, downside_floor }
            }
            RewardConfig::DrawdownPenalty { penalty } => DirectObjective::DrawdownPenalty { penalty },
        }
    }

    /// The objective of a batch of log returns `[n, 1]`, as a one-element tensor.
    pub fn evaluate(&self, log_returns: Tensor<2>) -> Tensor<1> {
        let mean = log_returns.clone().mean();
        match *self {
            DirectObjective::MeanLogReturn => mean,
            DirectObjective::MeanVariance { risk_aversion } => {
                mean - population_variance(log_returns).mul_scalar(risk_aversion / 2.0)
            }
            DirectObjective::Sharpe => {
                mean / population_variance(log_returns).add_scalar(EPSILON * EPSILON).sqrt()
            }
            DirectObjective::Sortino => {
                let downside = log_returns.clamp_max(0.0).powi_scalar(2).mean();
                mean / downside.add_scalar(EPSILON * EPSILON).sqrt()
            }
            DirectObjective::DifferentialSharpe { eta } => {
                let simple = log_returns.exp().sub_scalar(1.0);
                let squares = simple.clone().powi_scalar(2);
                let a = running_mean(simple.clone(), eta);
                let b = running_mean(squares.clone(), eta);
                let variance = (b.clone() - a.clone().powi_scalar(2)).clamp_min(EPSILON * EPSILON);
                let d = (b.clone() * (simple - a.clone()) - a.mul_scalar(0.5) * (squares - b))
                    / variance.powf_scalar(1.5);
                d.mean()
            }
            DirectObjective::DownsideRisk { eta, downside_floor } => {
                let simple = log_returns.exp().sub_scalar(1.0);
                let a = running_mean(simple.clone(), eta);
                let dd2 = running_mean(simple.clone().clamp_max(0.0).powi_scalar(2), eta)
                    .clamp_min(downside_floor * downside_floor);
                let gain = (simple.clone() - a.clone().mul_scalar(0.5)) / dd2.clone().sqrt();
                let loss = (dd2.clone() * (simple.clone() - a.clone().mul_scalar(0.5))
                    - a.mul_scalar(0.5) * simple.clone().powi_scalar(2))
                    / dd2.powf_scalar(1.5);
                gain.mask_where(simple.lower_equal_elem(0.0), loss).mean()
            }
            DirectObjective::DrawdownPenalty { penalty } => {
                let wealth = log_returns.cumsum(0);
                let peak = wealth.clone().cummax(0).clamp_min(0.0);
                let drawdown = (wealth - peak).exp().neg().add_scalar(1.0);
                mean - drawdown.mean().mul_scalar(penalty)
            }
        }
    }
}

/// The mean over rows of `KL(w || w_ref) = sum_i w_i ln(w_i / w_ref_i)`: how far the weights
/// tilt from the reference. Assets the reference leaves out (cash) carry weights near 1e-30
/// under an anchored network and add nothing.
fn tilt(weights: Tensor<2>, reference: Tensor<2>) -> Tensor<1> {
    let floor = 1e-30;
    let ratio = weights.clone().clamp_min(floor).log() - reference.clamp_min(floor).log();
    (weights * ratio).sum_dim(1).mean()
}

/// [`tilt`] of targets already projected onto `limits` from the reference projected the same
/// way: an untrained anchored network, whose targets are the projected reference, is then no
/// tilt at all, where against the raw reference a binding cap would read as one to be undone.
fn tilt_within_limits(targets: Tensor<2>, reference: Tensor<2>, limits: &Limits) -> Tensor<1> {
    let reference = if limits.is_none() { reference } else { project_tensor(reference, limits) };
    tilt(targets, reference)
}

/// `(1/n) sum (x_t - mean(x))^2` of `[n, 1]`.
fn population_variance(x: Tensor<2>) -> Tensor<1> {
    let centred = x.clone() - x.mean().unsqueeze::<2>();
    centred.powi_scalar(2).mean()
}

/// Moody and Saffell's exponentially weighted moment before each step of `x` (`[n, 1]`):
/// `m_0 = mean(x)` (the batch's, held constant), `m_t = m_{t-1} + eta (x_{t-1} - m_{t-1})`, as
/// one product with the lower-triangular filter `F[t, s] = eta (1 - eta)^(t - 1 - s)`, `s < t`.
fn running_mean(x: Tensor<2>, eta: f64) -> Tensor<2> {
    let [n, _] = x.dims();
    let device = x.device();
    let mut filter = vec![0.0f32; n * n];
    let mut start = vec![0.0f32; n];
    for t in 0..n {
        start[t] = (1.0 - eta).powi(t as i32) as f32;
        for s in 0..t {
            filter[t * n + s] = (eta * (1.0 - eta).powi((t - 1 - s) as i32)) as f32;
        }
    }
    let filter = Tensor::<2>::from_data(TensorData::new(filter, [n, n]), &device);
    let start = Tensor::<2>::from_data(TensorData::new(start, [n, 1]), &device);
    let initial = x.clone().detach().mean().unsqueeze::<2>();
    filter.matmul(x) + start * initial
}

pub struct DirectLearner {
    market: Arc<Market>,
    range: DecisionRange,
    costs: CostConfig,
    limits: Limits,
    /// Periods between trades (the environment's `episode.rebalance_every`).
    rebalance_every: usize,
    /// A row the environment trades at: its rebalancing dates are this row plus multiples of
    /// `rebalance_every`. The range's first row in training; the test window's first decision
    /// in online learning, whose backtest starts its schedule there.
    schedule_origin: usize,
    /// The environment's no-trade band (`episode.no_trade_band`), which the batch applies as
    /// evaluation will.
    no_trade_band: f64,
    objective: DirectObjective,
    config: DirectConfig,
    max_grad_norm: f64,
    device: Device,
    /// `[period][cash + assets]`: the weights last chosen for each period.
    memory: Vec<f64>,
    observations: Vec<f32>,
}

impl DirectLearner {
    pub fn new(
        market: Arc<Market>,
        range: DecisionRange,
        settings: EnvSettings,
        config: DirectConfig,
        max_grad_norm: f64,
        device: Device,
    ) -> Result<Self, TrainError> {
        if range.periods() < config.batch_periods + 1 {
            return Err(TrainError::TrainingTooShort {
                periods: range.periods(),
                batch: config.batch_periods,
            });
        }
        let width = market.n_assets() + 1;
        let memory = vec![1.0 / width as f64; market.n_periods() * width];
        let observations = vec![0.0; config.batch_periods * market.layout().len()];
        Ok(Self {
            market,
            range,
            costs: settings.costs,
            limits: settings.limits,
            rebalance_every: if config.hold_between_rebalances {
                settings.episode.rebalance_every
            } else {
                1
            },
            schedule_origin: range.first,
            no_trade_band: settings.episode.no_trade_band,
            objective: DirectObjective::from_reward(&settings.reward),
            config,
            max_grad_norm,
            device,
            memory,
            observations,
        })
    }

    /// The weights held through the batch, as the environment would hold them: on rows where it
    /// trades, the network's targets; on the others, the previous holdings drifted by prices,
    /// which trade and pay nothing. It skips a trade between decision dates (every
    /// `rebalance_every` periods, with `hold_between_rebalances`) and inside the no-trade band
    /// (`max_i |drifted_i - target_i| <= band`). So the learner sees the costs and the drift of
    /// the rules it will be evaluated under. Whether a row trades is decided on the values; a
    /// held row's gradient flows to the earlier targets it drifted from.
    fn held(&self, targets: Tensor<2>, first: Tensor<2>, relatives: Tensor<2>, start: usize) -> Tensor<2> {
        let (every, band) = (self.rebalance_every, self.no_trade_band);
        if every <= 1 && band <= 0.0 {
            return targets;
        }
        let [n, width] = targets.dims();
        let target_values = to_host(targets.clone().detach());
        let relative_values = to_host(relatives.clone());
        let mut drifted_values = to_host(first.clone());
        let mut rows: Vec<Tensor<2>> = Vec::with_capacity(n);
        for i in 0..n {
            let target = &target_values[i * width..(i + 1) * width];
            let decision = (start + i).abs_diff(self.schedule_origin).is_multiple_of(every);
            let trades =
                decision && (band <= 0.0 || crate::env::weight_drift(&drifted_values, target) > band);
            let row = if trades {
                targets.clone().narrow(0, i, 1)
            } else if i == 0 {
                first.clone()
            } else {
                let grown = rows[i - 1].clone() * relatives.clone().narrow(0, i - 1, 1);
                grown.clone() / grown.sum_dim(1)
            };
            if trades {
                drifted_values.copy_from_slice(target);
            }
            let relative = &relative_values[i * width..(i + 1) * width];
            let growth: f32 = drifted_values.iter().zip(relative).map(|(w, x)| w * x).sum();
            drifted_values.iter_mut().zip(relative).for_each(|(w, x)| *w = *w * x / growth);
            rows.push(row);
        }
        Tensor::cat(rows, 0)
    }

    /// Hold between rebalancing dates counted from `row`, a date the environment trades at.
    pub fn date_decisions_from(&mut self, row: usize) {
        self.schedule_origin = row;
    }

    #[cfg(test)]
    pub(super) fn schedule_origin(&self) -> usize {
        self.schedule_origin
    }

    /// Learn from periods up to row `last` only (online learning in a test window): the last
    /// batch period's outcome is then `p[last] / p[last - 1]`.
    pub fn limit_to(&mut self, last: usize) {
        self.range.last = last;
    }

    /// First period of a batch: uniform, or geometric towards the most recent periods.
    fn batch_start(&self, rng: &mut StdRng) -> usize {
        let latest = self.range.last - self.config.batch_periods;
        let span = latest - self.range.first;
        if self.config.recency_bias == 0.0 {
            return rng.random_range(self.range.first..=latest);
        }
        // Inverse-CDF draw of a geometric variable, redrawn until it falls inside the range.
        loop {
            let u: f64 = rng.random();
            let back = ((1.0 - u).ln() / (1.0 - self.config.recency_bias).ln()).floor() as usize;
            if back <= span {
                return latest - back;
            }
        }
    }
}

impl Learner for DirectLearner {
    fn update(&mut self, net: PolicyNet, descent: &mut Descent<'_>, rng: &mut StdRng) -> Updated {
        let n = self.config.batch_periods;
        let width = self.market.n_assets() + 1;
        let len = self.market.layout().len();
        let start = self.batch_start(rng);

        let mut first_drifted = vec![0.0f32; width];
        let mut next_relatives = Vec::with_capacity(n * width);
        let mut drifted = vec![0.0; width];
        for i in 0..n {
            let t = start + i;
            let previous = &self.memory[(t - 1) * width..t * width];
            let x = self.market.relatives(t);
            let growth: f64 = previous.iter().zip(x).map(|(w, x)| w * x).sum();
            for ((d, w), x) in drifted.iter_mut().zip(previous).zip(x) {
                *d = w * x / growth;
            }
            if i == 0 {
                first_drifted.iter_mut().zip(&drifted).for_each(|(f, d)| *f = *d as f32);
            }
            self.market.write_observation(t, &drifted, &mut self.observations[i * len..(i + 1) * len]);
            next_relatives.extend(self.market.relatives(t + 1).iter().map(|&x| x as f32));
        }

        let device = &self.device;
        let references = self.market.layout().reference_offset().map(|offset| {
            let rows: Vec<f32> = self
                .observations
                .chunks_exact(len)
                .flat_map(|o| o[offset..offset + width].to_vec())
                .collect();
            Tensor::<2>::from_data(TensorData::new(rows, [n, width]), device)
        });
        let observations =
            Tensor::<2>::from_data(TensorData::new(self.observations.clone(), [n, len]), device);
        let relatives = Tensor::<2>::from_data(TensorData::new(next_relatives, [n, width]), device);
        let targets = softmax(net.scores(observations), 1);
        let targets = if self.limits.is_none() { targets } else { project_tensor(targets, &self.limits) };
        let first = Tensor::<2>::from_data(TensorData::new(first_drifted, [1, width]), device);
        let weights = self.held(targets.clone(), first.clone(), relatives.clone(), start);
        let growth = (weights.clone() * relatives.clone()).sum_dim(1); // [n, 1]
        let carried = (weights.clone().narrow(0, 0, n - 1) * relatives.narrow(0, 0, n - 1))
            / growth.clone().narrow(0, 0, n - 1);
        let drifted = Tensor::cat(vec![first, carried], 0);
        let change = (weights.clone() - drifted).narrow(1, 1, width - 1);
        let bought = relu(change.clone()).sum_dim(1);
        let sold = relu(change.neg()).sum_dim(1);
        let turnover = (bought.clone() + sold.clone()).mean();
        let remainder = bought.mul_scalar(-self.costs.buy) - sold.mul_scalar(self.costs.sell) + 1.0;
        let log_returns = (remainder * growth).log();
        let objective = self.objective.evaluate(log_returns);
        let mut loss = objective.clone().neg() + turnover.mul_scalar(self.config.turnover_penalty);
        if let Some(reference) = references {
            loss = loss
                + tilt_within_limits(targets, reference, &self.limits).mul_scalar(self.config.tilt_penalty);
        }

        let chosen = to_host(weights.detach());
        let mean_reward = objective.into_scalar::<f32>() as f64;
        let (net, result) = optimizer_step(net, descent, loss, self.max_grad_norm);
        let result = result.map(|grad_norm| {
            for (i, row) in chosen.chunks_exact(width).enumerate() {
                let t = start + i;
                for (m, &w) in self.memory[t * width..(t + 1) * width].iter_mut().zip(row) {
                    *m = w as f64;
                }
            }
            UpdateStats { env_steps: n, mean_reward, loss: -mean_reward, grad_norm, ..UpdateStats::default() }
        });
        (net, result)
    }

    fn save_state(&self) -> Option<Vec<u8>> {
        Some(self.memory.iter().flat_map(|w| w.to_le_bytes()).collect())
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<(), super::StateMismatch> {
        if bytes.len() != self.memory.len() * 8 {
            return Err(super::StateMismatch(format!(
                "a portfolio-vector memory of {} bytes, where {} weights need {}",
                bytes.len(),
                self.memory.len(),
                self.memory.len() * 8
            )));
        }
        for (m, chunk) in self.memory.iter_mut().zip(bytes.chunks_exact(8)) {
            *m = f64::from_le_bytes(chunk.try_into().expect("chunks of 8"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn column(values: &[f64], device: &Device) -> Tensor<2> {
        let data: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        Tensor::from_data(TensorData::new(data, [values.len(), 1]), device)
    }

    fn value(objective: DirectObjective, returns: &[f64]) -> f64 {
        let device = Device::flex();
        objective.evaluate(column(returns, &device)).into_scalar::<f32>() as f64
    }

    const RETURNS: [f64; 8] = [0.01, -0.02, 0.005, 0.03, -0.01, 0.0, 0.015, -0.005];

    #[test]
    fn batch_ratios_match_their_formulas_by_hand() {
        let n = RETURNS.len() as f64;
        let mean = RETURNS.iter().sum::<f64>() / n;
        let variance = RETURNS.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n;
        let downside = RETURNS.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n;
        let eps2 = EPSILON * EPSILON;
        let cases = [
            (DirectObjective::MeanLogReturn, mean),
            (DirectObjective::MeanVariance { risk_aversion: 4.0 }, mean - 2.0 * variance),
            (DirectObjective::Sharpe, mean / (variance + eps2).sqrt()),
            (DirectObjective::Sortino, mean / (downside + eps2).sqrt()),
        ];
        for (objective, expected) in cases {
            let got = value(objective, &RETURNS);
            assert!(
                (got - expected).abs() < 1e-5 * expected.abs().max(1.0),
                "{objective:?}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn differential_ratios_follow_moody_and_saffells_recursions() {
        let eta = 0.1;
        let simple: Vec<f64> = RETURNS.iter().map(|r| r.exp() - 1.0).collect();
        let n = simple.len() as f64;
        // Differential Sharpe, from the batch's own moments.
        let (mut a, mut b) = (simple.iter().sum::<f64>() / n, simple.iter().map(|r| r * r).sum::<f64>() / n);
        let mut total = 0.0;
        for &r in &simple {
            total += (b * (r - a) - 0.5 * a * (r * r - b)) / (b - a * a).powf(1.5);
            a += eta * (r - a);
            b += eta * (r * r - b);
        }
        let got = value(DirectObjective::DifferentialSharpe { eta }, &RETURNS);
        assert!((got - total / n).abs() < 1e-3 * (total / n).abs(), "{got} vs {}", total / n);
        // Differential downside deviation ratio.
        let floor: f64 = 1e-3;
        let (mut a, mut dd2) =
            (simple.iter().sum::<f64>() / n, simple.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n);
        let mut total = 0.0;
        for &r in &simple {
            let d2 = dd2.max(floor * floor);
            total += if r > 0.0 {
                (r - 0.5 * a) / d2.sqrt()
            } else {
                (d2 * (r - 0.5 * a) - 0.5 * a * r * r) / d2.powf(1.5)
            };
            a += eta * (r - a);
            dd2 += eta * (r.min(0.0).powi(2) - dd2);
        }
        let got = value(DirectObjective::DownsideRisk { eta, downside_floor: floor }, &RETURNS);
        assert!((got - total / n).abs() < 1e-3 * (total / n).abs(), "{got} vs {}", total / n);
    }

    /// Two periods of +20% and -10% with eta 1/2, worked by hand. Differential Sharpe: A = 0.05
    /// and B = 0.025 start from the batch, so D1 = (0.025 * 0.15 - 0.025 * 0.015) / 0.15^3 = 1;
    /// then A = 0.125, B = 0.0325 and D2 = (0.0325 * (-0.225) + 0.0625 * 0.0225) / 0.016875^1.5
    /// = -14 / (3 sqrt(3)). Downside deviation ratio: DD^2 = 0.005 from the batch; the gain gives
    /// (0.2 - 0.025) / sqrt(0.005) = 1.75 sqrt(2); then A = 0.125, DD^2 = 0.0025, and the loss
    /// gives (0.0025 * (-0.1625) - 0.0625 * 0.01) / 0.0025^1.5 = -8.25. Each objective is the mean.
    #[test]
    fn differential_ratios_by_hand_on_two_periods() {
        let returns = [1.2f64.ln(), 0.9f64.ln()];
        let cases = [
            (DirectObjective::DifferentialSharpe { eta: 0.5 }, (1.0 - 14.0 / (3.0 * 3f64.sqrt())) / 2.0),
            (
                DirectObjective::DownsideRisk { eta: 0.5, downside_floor: 1e-3 },
                (1.75 * 2f64.sqrt() - 8.25) / 2.0,
            ),
        ];
        for (objective, expected) in cases {
            let got = value(objective, &returns);
            assert!((got - expected).abs() < 1e-5, "{objective:?}: {got} vs {expected}");
        }
    }

    #[test]
    fn the_drawdown_penalty_charges_the_batch_path_drawdowns() {
        let mut wealth: f64 = 1.0;
        let mut peak: f64 = 1.0;
        let mut drawdowns = 0.0;
        for r in RETURNS {
            wealth *= r.exp();
            peak = peak.max(wealth);
            drawdowns += 1.0 - wealth / peak;
        }
        let n = RETURNS.len() as f64;
        let expected = RETURNS.iter().sum::<f64>() / n - 3.0 * drawdowns / n;
        let got = value(DirectObjective::DrawdownPenalty { penalty: 3.0 }, &RETURNS);
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
    }

    #[test]
    fn every_objective_has_finite_gradients() {
        let device = Device::flex().autodiff();
        for objective in [
            DirectObjective::Sharpe,
            DirectObjective::Sortino,
            DirectObjective::DifferentialSharpe { eta: 0.05 },
            DirectObjective::DownsideRisk { eta: 0.05, downside_floor: 1e-3 },
            DirectObjective::DrawdownPenalty { penalty: 1.0 },
        ] {
            let returns = column(&RETURNS, &device).require_grad();
            let gradients = objective.evaluate(returns.clone()).backward();
            let gradient = to_host(returns.grad(&gradients).expect("a gradient"));
            assert!(gradient.iter().all(|g| g.is_finite()), "{objective:?}: {gradient:?}");
            assert!(gradient.iter().any(|g| *g != 0.0), "{objective:?}: zero gradient");
        }
    }

    #[test]
    fn every_reward_has_an_objective_and_no_fallback() {
        let rewards = [
            RewardConfig::LogReturn,
            RewardConfig::Sharpe,
            RewardConfig::Sortino,
            RewardConfig::DifferentialSharpe { eta: 0.01 },
            RewardConfig::DownsideRisk { eta: 0.01, downside_floor: 1e-3 },
            RewardConfig::MeanVariance { risk_aversion: 2.0, eta: 0.01 },
            RewardConfig::DrawdownPenalty { penalty: 0.5 },
        ];
        let objectives: Vec<DirectObjective> = rewards.iter().map(DirectObjective::from_reward).collect();
        for (i, o) in objectives.iter().enumerate() {
            assert!(!objectives[..i].contains(o), "{:?} shares an objective", rewards[i]);
        }
    }

    /// Under a binding cap, targets that are the projected reference carry no tilt; measured
    /// against the raw reference they would.
    #[test]
    fn the_tilt_of_the_projected_reference_is_none_under_limits() {
        let device = Device::flex();
        let reference = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 0.6, 0.3, 0.1], [1, 4]), &device);
        let limits = Limits { max_weight: 0.4, ..Limits::NONE };
        let targets = project_tensor(reference.clone(), &limits);
        let within = tilt_within_limits(targets.clone(), reference.clone(), &limits).into_scalar::<f32>();
        assert!(within.abs() < 1e-6, "{within}");
        assert!(tilt(targets, reference).into_scalar::<f32>() > 1e-3);
    }

    /// Three synthetic assets, a 5-period window of log returns, and decisions up to row 250.
    fn three_assets() -> (Arc<Market>, DecisionRange) {
        use crate::data::synth::{SynthConfig, generate};
        use crate::features::{Feature, FeatureConfig};
        let panel =
            generate(&SynthConfig { assets: 3, periods: 300, seed: 3, ..SynthConfig::default() }).unwrap();
        let features =
            FeatureConfig { window: 5, features: vec![Feature::LogReturn], ..FeatureConfig::default() };
        let market = Arc::new(Market::new(panel, &features, None, 0..200).unwrap());
        let range = DecisionRange { first: market.first_observable(), last: 250 };
        (market, range)
    }

    /// A direct learner after one update of a fresh small MLP: one batch of 20 periods, so that
    /// no later batch rewrites part of it.
    fn after_one_batch(
        market: &Arc<Market>,
        range: DecisionRange,
        episode: crate::env::config::EpisodeConfig,
        hold_between_rebalances: bool,
        schedule_origin: usize,
    ) -> DirectLearner {
        let settings = EnvSettings {
            costs: CostConfig { buy: 0.001, sell: 0.001, ..CostConfig::default() },
            reward: RewardConfig::LogReturn,
            episode,
            limits: Limits::NONE,
        };
        let device = Device::flex().autodiff();
        let config = DirectConfig { batch_periods: 20, hold_between_rebalances, ..DirectConfig::default() };
        let mut learner =
            DirectLearner::new(market.clone(), range, settings, config, 1.0, device.clone()).unwrap();
        learner.date_decisions_from(schedule_origin);
        let net = crate::agent::network::NetConfig {
            kind: crate::agent::network::NetKind::Mlp,
            hidden: vec![8],
            ..Default::default()
        }
        .init_seeded(market.layout(), &device, 1);
        let mut optimizer = crate::train::host::adam::adam_for(&device);
        let mut descent = Descent { optimizer: &mut optimizer, learning_rate: 1e-2 };
        let (_, result) = learner.update(net, &mut descent, &mut StdRng::seed_from_u64(5));
        result.unwrap();
        learner
    }

    /// The rows of the learner's memory that its batch wrote (the others keep the uniform start).
    fn written_rows(learner: &DirectLearner, range: DecisionRange) -> Vec<usize> {
        let width = learner.market.n_assets() + 1;
        (range.first..range.last)
            .filter(|&t| learner.memory[t * width..(t + 1) * width].iter().any(|w| (w - 0.25).abs() > 1e-12))
            .collect()
    }

    /// How far row `t` of the memory is from the row before drifted by `t`'s prices: zero where
    /// the portfolio held and traded nothing.
    fn gap_from_drift(learner: &DirectLearner, t: usize) -> f64 {
        let width = learner.market.n_assets() + 1;
        let (row, previous) =
            (&learner.memory[t * width..(t + 1) * width], &learner.memory[(t - 1) * width..t * width]);
        let x = learner.market.relatives(t);
        let growth: f64 = previous.iter().zip(x).map(|(w, x)| w * x).sum();
        row.iter().zip(previous).zip(x).map(|((w, p), x)| (w - p * x / growth).abs()).fold(0.0, f64::max)
    }

    /// Rebalancing dates are counted from the schedule's origin: the range's first row in
    /// training, the test window's first decision in online learning, wherever that falls.
    #[test]
    fn between_rebalancing_dates_the_batch_holds_drifted_weights_and_trades_nothing() {
        use crate::env::config::EpisodeConfig;
        let (market, range) = three_assets();
        let episode = EpisodeConfig { rebalance_every: 4, ..EpisodeConfig::default() };
        for origin in [range.first, range.first + 1, 243] {
            let learner = after_one_batch(&market, range, episode, true, origin);
            // Every period the batch wrote that is not a rebalancing date holds what the period
            // before held, drifted by this period's prices.
            let (mut checked, mut traded) = (0, 0);
            for t in written_rows(&learner, range) {
                if t.abs_diff(origin).is_multiple_of(4) {
                    traded += 1;
                    continue;
                }
                let gap = gap_from_drift(&learner, t);
                assert!(gap < 1e-5, "origin {origin}, row {t}: {gap} from the drifted weights");
                checked += 1;
            }
            assert!(
                checked >= 10 && traded >= 4,
                "origin {origin}: checked {checked} held rows and {traded} trading rows"
            );
        }
    }

    /// Inside the no-trade band the batch holds its drifted weights, as the environment does:
    /// from the memory's uniform start a fresh anchored network wants equal weight, which is a
    /// trade of 0.25 in cash; after that its targets stay within the band of what it holds.
    #[test]
    fn inside_the_no_trade_band_the_batch_holds_drifted_weights() {
        use crate::env::config::EpisodeConfig;
        let (market, range) = three_assets();
        let traded_rows = |band: f64| {
            let episode = EpisodeConfig { no_trade_band: band, ..EpisodeConfig::default() };
            let learner = after_one_batch(&market, range, episode, false, range.first);
            let written = written_rows(&learner, range);
            assert_eq!(written.len(), 20, "one batch of 20 periods");
            written.into_iter().filter(|&t| gap_from_drift(&learner, t) > 1e-5).count()
        };
        assert_eq!(traded_rows(0.2), 1, "only the first period trades, out of cash");
        assert_eq!(traded_rows(0.0), 20, "without a band every period trades");
    }
}
