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

/// What the direct learner maximizes over a batch of consecutive log returns `r_1 .. r_n`, read
/// from the environment's reward so that every learner optimizes the same preference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DirectObjective {
    /// `mean(r)`: the growth rate, Jiang et al.'s objective. Used for the log-return reward and
    /// for the path-dependent rewards (differential Sharpe and downside ratios, drawdown
    /// penalty), which have no batch analogue here.
    MeanLogReturn,
    /// `mean(r) - (lambda / 2) var(r)`, with `var` the batch's population variance
    /// `(1/n) sum (r_t - mean(r))^2`: the batch form of the mean-variance reward.
    MeanVariance { risk_aversion: f64 },
}

impl DirectObjective {
    pub fn from_reward(reward: &RewardConfig) -> Self {
        match *reward {
            RewardConfig::MeanVariance { risk_aversion, .. } if risk_aversion > 0.0 => {
                DirectObjective::MeanVariance { risk_aversion }
            }
            _ => DirectObjective::MeanLogReturn,
        }
    }

    /// The objective of a batch of log returns `[n, 1]`, as a one-element tensor.
    pub fn evaluate(&self, log_returns: Tensor<2>) -> Tensor<1> {
        let mean = log_returns.clone().mean();
        match *self {
            DirectObjective::MeanLogReturn => mean,
            DirectObjective::MeanVariance { risk_aversion } => {
                let centred = log_returns - mean.clone().unsqueeze::<2>();
                let variance = centred.powi_scalar(2).mean();
                mean - variance.mul_scalar(risk_aversion / 2.0)
            }
        }
    }
}

pub struct DirectLearner {
    market: Arc<Market>,
    range: DecisionRange,
    costs: CostConfig,
    limits: Limits,
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
            objective: DirectObjective::from_reward(&settings.reward),
            config,
            max_grad_norm,
            device,
            memory,
            observations,
        })
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
        let observations =
            Tensor::<2>::from_data(TensorData::new(self.observations.clone(), [n, len]), device);
        let relatives = Tensor::<2>::from_data(TensorData::new(next_relatives, [n, width]), device);
        let weights = softmax(net.scores(observations), 1);
        let weights = if self.limits.is_none() { weights } else { project_tensor(weights, &self.limits) };
        let growth = (weights.clone() * relatives.clone()).sum_dim(1); // [n, 1]
        let carried = (weights.clone().narrow(0, 0, n - 1) * relatives.narrow(0, 0, n - 1))
            / growth.clone().narrow(0, 0, n - 1);
        let first = Tensor::<2>::from_data(TensorData::new(first_drifted, [1, width]), device);
        let drifted = Tensor::cat(vec![first, carried], 0);
        let change = (weights.clone() - drifted).narrow(1, 1, width - 1);
        let bought = relu(change.clone()).sum_dim(1);
        let sold = relu(change.neg()).sum_dim(1);
        let remainder = bought.mul_scalar(-self.costs.buy) - sold.mul_scalar(self.costs.sell) + 1.0;
        let log_returns = (remainder * growth).log();
        let objective = self.objective.evaluate(log_returns);
        let loss = objective.clone().neg();

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
