//! Proximal Policy Optimization (Schulman, Wolski, Dhariwal, Radford and Klimov 2017, "Proximal
//! Policy Optimization Algorithms"), laid out as CleanRL's `ppo_continuous_action.py`. One update:
//!
//! 1. **Rollout.** `rollout_steps` steps of `envs` parallel episodes with the stochastic
//!    (Dirichlet) policy, stored in a [`RolloutBuffer`].
//! 2. **Advantages.** GAE(lambda) (Schulman et al. 2016, "High-dimensional continuous control
//!    using generalized advantage estimation", eq. 16), one reversed loop owned by the buffer as in
//!    Stable-Baselines3's `RolloutBuffer`; the value targets are `R = A + V`. Episodes end only by
//!    their horizon or the data's end, a time limit rather than a terminal state: the final
//!    observation's value is bootstrapped and the advantage chain stops at the boundary.
//! 3. **Optimization.** `epochs` passes over the rollout in shuffled minibatches, each one
//!    optimizer step on [`ppo_loss`]:
//!    `L = -mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A)) + c_v mean((V - R)^2) / 2 - c_e mean(H)`,
//!    `rho = pi(a | s) / pi_old(a | s)` (the clipped surrogate, eq. 7; the value loss and entropy
//!    bonus, eq. 9), advantages standardized per minibatch, the global gradient norm clipped.
//!
//! Where the arithmetic runs is an [`Engine`]'s business, chosen by device
//! ([`super::ppo_engine_for`]):
//! [`Autodiff`] differentiates [`ppo_loss`] with burn on any device; on the CPU the fast path
//! of [`super::host`] computes the same loss and its gradient in closed form. Tests hold the two
//! to each other.

use burn::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::config::PpoConfig;
use super::rollout::{Acting, PolicyOutputs, gather_host_rows, sample_actions, standardize};
use super::step::{Divergence, check_loss, optimizer_step};
use super::{Descent, Learner, UpdateStats, Updated};
use crate::agent::network::PolicyNet;
use crate::agent::{ActionHead, observations_into_tensor, to_host};
use crate::env::BatchEnv;
use crate::stats;

pub struct PpoLearner {
    env: BatchEnv,
    config: PpoConfig,
    head: ActionHead,
    engine: Box<dyn Engine>,
    started: bool,
}

impl PpoLearner {
    pub fn new(env: BatchEnv, config: PpoConfig, head: ActionHead, engine: Box<dyn Engine>) -> Self {
        Self { env, config, head, engine, started: false }
    }

    /// Step 1: `rollout_steps` steps of every lane with actions sampled from the policy.
    fn rollout(&mut self, rng: &mut StdRng) -> RolloutBuffer {
        let lanes = self.env.batch();
        let width = self.env.action_len();
        let mut buffer =
            RolloutBuffer::new(self.config.rollout_steps, lanes, width, self.env.observation_len());
        let mut actions = vec![0.0; lanes * width];
        for _ in 0..self.config.rollout_steps {
            let outputs = self.engine.act(self.env.observations(), lanes);
            sample_actions(&outputs.concentrations, width, rng, &mut actions);
            buffer.add(self.env.observations(), &outputs, &actions);
            self.env.step(&actions).expect("sampled actions are valid weights");
            buffer.add_rewards(self.env.rewards());
            if self.env.all_done() {
                // Time limit: bootstrap from the final observation, then start new episodes.
                buffer.end_episodes(&self.engine.act(self.env.observations(), lanes).values);
                self.env.reset();
            }
        }
        let last_values = self.engine.act(self.env.observations(), lanes).values;
        buffer.finish(&last_values, &self.head, self.config.gamma, self.config.gae_lambda);
        buffer
    }

    /// Step 3: `epochs` passes of shuffled minibatches, one optimizer step each.
    fn optimize(
        &mut self,
        mut net: PolicyNet,
        descent: &mut Descent<'_>,
        buffer: &RolloutBuffer,
        rng: &mut StdRng,
    ) -> (PolicyNet, Result<Vec<MinibatchStats>, Divergence>) {
        let mut order: Vec<usize> = (0..buffer.len()).collect();
        let minibatch = self.config.minibatch.min(buffer.len());
        let mut stats = Vec::new();
        for _ in 0..self.config.epochs {
            order.shuffle(rng);
            for rows in order.chunks(minibatch) {
                let (next, result) = self.engine.step(net, &buffer.minibatch(rows), descent);
                net = next;
                match result {
                    Ok(step) => stats.push(step),
                    Err(divergence) => return (net, Err(divergence)),
                }
            }
        }
        (net, Ok(stats))
    }
}

impl Learner for PpoLearner {
    fn update(&mut self, net: PolicyNet, descent: &mut Descent<'_>, rng: &mut StdRng) -> Updated {
        if !self.started {
            self.env.reset();
            self.started = true;
        }
        self.engine.load(&net);
        let buffer = self.rollout(rng);
        let (net, steps) = self.optimize(net, descent, &buffer, rng);
        (net, steps.map(|steps| buffer.summary(&steps, &self.config)))
    }

    fn save_state(&self) -> Option<Vec<u8>> {
        Some(super::save_env_learner(&self.env, self.started))
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<(), super::StateMismatch> {
        self.started = super::load_env_learner(&mut self.env, bytes)?;
        Ok(())
    }
}

/// One rollout, stored `[step][lane]`.
struct RolloutBuffer {
    lanes: usize,
    width: usize,
    observation_len: usize,
    observations: Vec<f32>,
    actions: Vec<f32>,
    /// The network's scores, from which the behaviour policy's log-densities are computed.
    scores: Vec<f32>,
    values: Vec<f32>,
    rewards: Vec<f64>,
    /// The value of the state after each step (bootstrapped at episode ends).
    next_values: Vec<f32>,
    /// Whether an episode ended after this step (the advantage chain stops there).
    episode_ends: Vec<bool>,
    log_probs: Vec<f32>,
    advantages: Vec<f32>,
    returns: Vec<f32>,
}

impl RolloutBuffer {
    fn new(steps: usize, lanes: usize, width: usize, observation_len: usize) -> Self {
        let samples = steps * lanes;
        Self {
            lanes,
            width,
            observation_len,
            observations: Vec::with_capacity(samples * observation_len),
            actions: Vec::with_capacity(samples * width),
            scores: Vec::with_capacity(samples * width),
            values: Vec::with_capacity(samples),
            rewards: Vec::with_capacity(samples),
            next_values: vec![0.0; samples],
            episode_ends: vec![false; samples],
            log_probs: Vec::new(),
            advantages: Vec::new(),
            returns: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    fn add(&mut self, observations: &[f32], outputs: &PolicyOutputs, actions: &[f64]) {
        self.scores.extend_from_slice(&outputs.scores);
        self.observations.extend_from_slice(observations);
        self.actions.extend(actions.iter().map(|&a| a as f32));
        self.values.extend_from_slice(&outputs.values);
    }

    fn add_rewards(&mut self, rewards: impl Iterator<Item = f64>) {
        self.rewards.extend(rewards);
    }

    /// Every lane's episode ended at the last step added; `final_values` are the values of the
    /// observations they ended on.
    fn end_episodes(&mut self, final_values: &[f32]) {
        let step = self.len() - self.lanes;
        for (lane, &value) in final_values.iter().enumerate() {
            self.next_values[step + lane] = value;
            self.episode_ends[step + lane] = true;
        }
    }

    /// After the last step: each step's next value, the behaviour policy's log-densities, the
    /// advantages and the value targets.
    fn finish(&mut self, last_values: &[f32], head: &ActionHead, gamma: f64, lambda: f64) {
        let samples = self.len();
        for i in 0..samples {
            if !self.episode_ends[i] {
                self.next_values[i] = if i + self.lanes < samples {
                    self.values[i + self.lanes]
                } else {
                    last_values[i % self.lanes]
                };
            }
        }
        self.log_probs = self
            .scores
            .chunks_exact(self.width)
            .zip(self.actions.chunks_exact(self.width))
            .map(|(scores, action)| head.log_prob_on_host(scores, action) as f32)
            .collect();
        self.advantages = gae(
            &self.rewards,
            &self.values,
            &self.next_values,
            &self.episode_ends,
            self.lanes,
            gamma,
            lambda,
        );
        self.returns = self.advantages.iter().zip(&self.values).map(|(a, v)| a + v).collect();
    }

    /// The samples at `rows`, with their advantages standardized.
    fn minibatch(&self, rows: &[usize]) -> Minibatch {
        let pick = |source: &[f32]| rows.iter().map(|&i| source[i]).collect::<Vec<f32>>();
        let mut advantages = pick(&self.advantages);
        standardize(&mut advantages);
        Minibatch {
            rows: rows.len(),
            observations: gather_host_rows(&self.observations, self.observation_len, rows),
            actions: gather_host_rows(&self.actions, self.width, rows),
            old_log_probs: pick(&self.log_probs),
            advantages,
            returns: pick(&self.returns),
        }
    }

    /// The update's figures: the minibatches' means, and how much of the returns' variance the
    /// values explained.
    fn summary(&self, steps: &[MinibatchStats], config: &PpoConfig) -> UpdateStats {
        let mean =
            |f: fn(&MinibatchStats) -> f64| steps.iter().map(f).sum::<f64>() / steps.len().max(1) as f64;
        let var_returns = population_variance(&self.returns);
        let residual: Vec<f32> = self.returns.iter().zip(&self.values).map(|(r, v)| r - v).collect();
        let explained =
            if var_returns > 0.0 { 1.0 - population_variance(&residual) / var_returns } else { f64::NAN };
        let (policy_loss, value_loss, entropy) =
            (mean(|s| s.policy_loss), mean(|s| s.value_loss), mean(|s| s.entropy));
        UpdateStats {
            env_steps: self.len(),
            mean_reward: self.rewards.iter().sum::<f64>() / self.len() as f64,
            loss: policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy,
            policy_loss,
            value_loss,
            entropy,
            approx_kl: mean(|s| s.approx_kl),
            clip_fraction: mean(|s| s.clip_fraction),
            explained_variance: explained,
            grad_norm: mean(|s| s.grad_norm),
        }
    }
}

fn population_variance(values: &[f32]) -> f64 {
    let values: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
    stats::population_variance(&values)
}

/// GAE(lambda) advantages for `[step][lane]` buffers. `next_values[i]` is the value of the state
/// after step `i`; `episode_ends[i]` cuts the advantage chain after step `i`:
/// `A_t = delta_t + gamma lambda A_{t+1}`, `delta_t = r_t + gamma V(s_{t+1}) - V(s_t)`.
pub fn gae(
    rewards: &[f64],
    values: &[f32],
    next_values: &[f32],
    episode_ends: &[bool],
    lanes: usize,
    gamma: f64,
    lambda: f64,
) -> Vec<f32> {
    let steps = rewards.len() / lanes;
    let mut advantages = vec![0.0f32; rewards.len()];
    for lane in 0..lanes {
        let mut running = 0.0f64;
        for step in (0..steps).rev() {
            let i = step * lanes + lane;
            if episode_ends[i] {
                running = 0.0;
            }
            let delta = rewards[i] + gamma * next_values[i] as f64 - values[i] as f64;
            running = delta + gamma * lambda * running;
            advantages[i] = running as f32;
        }
    }
    advantages
}

/// The samples of one optimizer step, row-major on the host.
pub struct Minibatch {
    pub rows: usize,
    /// `[rows][observation]`.
    pub observations: Vec<f32>,
    /// The actions taken, `[rows][cash + assets]`.
    pub actions: Vec<f32>,
    /// `ln pi_old(a | s)`, `[rows]`.
    pub old_log_probs: Vec<f32>,
    /// Standardized advantages, `[rows]`.
    pub advantages: Vec<f32>,
    /// Value targets `R = A + V`, `[rows]`.
    pub returns: Vec<f32>,
}

/// What one minibatch step measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MinibatchStats {
    /// `-mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A))`.
    pub policy_loss: f64,
    /// `mean((V - R)^2) / 2`.
    pub value_loss: f64,
    /// `mean(H)`.
    pub entropy: f64,
    /// `mean((rho - 1) - ln rho)` (Schulman's low-variance estimator of the KL divergence).
    pub approx_kl: f64,
    /// The share of rows whose ratio left `[1 - eps, 1 + eps]`.
    pub clip_fraction: f64,
    /// The global gradient norm before clipping.
    pub grad_norm: f64,
}

impl MinibatchStats {
    /// `L` from its terms.
    pub fn loss(&self, config: &PpoConfig) -> f64 {
        self.policy_loss + config.value_coef * self.value_loss - config.entropy_coef * self.entropy
    }
}

/// PPO's loss on one minibatch, from the network's scores `[rows, cash + assets]` and values
/// `[rows]`: the scalar to differentiate, and its terms.
pub fn ppo_loss(
    scores: Tensor<2>,
    values: Tensor<1>,
    batch: &Minibatch,
    head: &ActionHead,
    config: &PpoConfig,
) -> (Tensor<1>, MinibatchStats) {
    let device = scores.device();
    let [rows, width] = scores.dims();
    let vector = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &device);
    let actions = Tensor::<2>::from_data(TensorData::new(batch.actions.clone(), [rows, width]), &device);
    let (log_prob, entropy) = head.distribution(scores).log_prob_and_entropy(actions);
    let log_ratio = log_prob - vector(&batch.old_log_probs);
    let ratio = log_ratio.clone().exp();
    let advantages = vector(&batch.advantages);
    let surrogate = ratio.clone() * advantages.clone();
    let clipped = ratio.clone().clamp(1.0 - config.clip, 1.0 + config.clip) * advantages;
    let policy_loss = surrogate.min_pair(clipped).mean().neg();
    let value_loss = (values - vector(&batch.returns)).powi_scalar(2).mean().mul_scalar(0.5);
    let entropy = entropy.mean();
    let loss = policy_loss.clone() + value_loss.clone().mul_scalar(config.value_coef)
        - entropy.clone().mul_scalar(config.entropy_coef);
    let (ratio, log_ratio) = (to_host(ratio.detach()), to_host(log_ratio.detach()));
    let n = rows as f64;
    let stats = MinibatchStats {
        policy_loss: scalar(policy_loss),
        value_loss: scalar(value_loss),
        entropy: scalar(entropy),
        approx_kl: ratio.iter().zip(&log_ratio).map(|(&r, &l)| f64::from(r - 1.0 - l)).sum::<f64>() / n,
        clip_fraction: ratio.iter().filter(|&&r| f64::from((r - 1.0).abs()) > config.clip).count() as f64 / n,
        grad_norm: f64::NAN,
    };
    (loss, stats)
}

fn scalar(tensor: Tensor<1>) -> f64 {
    tensor.detach().into_scalar::<f32>() as f64
}

/// The network after a minibatch's step, and what the step measured or why it was refused.
pub type Stepped = (PolicyNet, Result<MinibatchStats, Divergence>);

/// Where PPO's arithmetic runs: acting in rollouts and one optimizer step per minibatch.
pub trait Engine {
    /// Act with `net`'s current weights from now on (the behaviour policy of a rollout).
    fn load(&mut self, net: &PolicyNet);
    /// The policy's outputs for `batch` observations (`[batch][observation]`).
    fn act(&self, observations: &[f32], batch: usize) -> PolicyOutputs;
    /// One optimizer step on `batch`'s [`ppo_loss`]; acting follows the updated weights.
    fn step(&mut self, net: PolicyNet, batch: &Minibatch, descent: &mut Descent<'_>) -> Stepped;
}

/// [`ppo_loss`] differentiated by burn: any network, any device.
pub struct Autodiff {
    device: Device,
    head: ActionHead,
    config: PpoConfig,
    max_grad_norm: f64,
    acting: Option<Acting>,
}

impl Autodiff {
    pub fn new(device: Device, head: ActionHead, config: PpoConfig, max_grad_norm: f64) -> Self {
        Self { device, head, config, max_grad_norm, acting: None }
    }
}

impl Engine for Autodiff {
    fn load(&mut self, net: &PolicyNet) {
        self.acting = Some(Acting::Device(net.valid()));
    }

    fn act(&self, observations: &[f32], batch: usize) -> PolicyOutputs {
        let acting = self.acting.as_ref().expect("an engine acts after load");
        acting.outputs(&self.head, observations, batch, &self.device.clone().inner())
    }

    fn step(&mut self, net: PolicyNet, batch: &Minibatch, descent: &mut Descent<'_>) -> Stepped {
        let input = observations_into_tensor(batch.observations.clone(), batch.rows, &self.device);
        let (scores, values) = net.forward(input);
        let (loss, stats) = ppo_loss(scores, values, batch, &self.head, &self.config);
        if let Err(divergence) = check_loss(stats.loss(&self.config)) {
            return (net, Err(divergence));
        }
        let (net, result) = optimizer_step(net, descent, loss, self.max_grad_norm);
        if result.is_ok() {
            self.load(&net);
        }
        (net, result.map(|grad_norm| MinibatchStats { grad_norm, ..stats }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gae_by_hand_with_an_episode_boundary() {
        // One lane, three steps, the episode ends after step 1 (bootstrap value 0.5 there).
        let rewards = [1.0, 2.0, 3.0];
        let values = [0.1f32, 0.2, 0.3];
        let next_values = [0.2f32, 0.5, 0.4];
        let ends = [false, true, false];
        let (g, l) = (0.9, 0.8);
        let a = gae(&rewards, &values, &next_values, &ends, 1, g, l);
        let d2 = 3.0 + 0.9 * 0.4 - 0.3;
        let d1 = 2.0 + 0.9 * 0.5 - 0.2;
        let d0 = 1.0 + 0.9 * 0.2 - 0.1;
        let expected = [d0 + g * l * d1, d1, d2];
        for (x, y) in a.iter().zip(expected) {
            assert!((*x as f64 - y).abs() < 1e-5, "{a:?} vs {expected:?}");
        }
    }

    #[test]
    fn the_buffer_bootstraps_at_episode_ends_and_from_the_last_observation() {
        // Two lanes, two steps; every episode ends after the first step.
        let head = ActionHead::Dirichlet { min_concentration: 0.1, max_concentration: 100.0, anchored: None };
        let mut buffer = RolloutBuffer::new(2, 2, 2, 1);
        let outputs = |values: [f32; 2]| PolicyOutputs {
            scores: vec![0.0; 4],
            concentrations: vec![1.0; 4],
            values: values.to_vec(),
        };
        buffer.add(&[0.0, 0.0], &outputs([0.1, 0.2]), &[0.5; 4]);
        buffer.add_rewards([1.0, 2.0].into_iter());
        buffer.end_episodes(&[7.0, 8.0]);
        buffer.add(&[0.0, 0.0], &outputs([0.3, 0.4]), &[0.5; 4]);
        buffer.add_rewards([3.0, 4.0].into_iter());
        buffer.finish(&[5.0, 6.0], &head, 0.5, 1.0);
        assert_eq!(buffer.next_values, [7.0, 8.0, 5.0, 6.0]);
        // The first steps' advantages stop at the boundary: r + gamma V(final) - V.
        assert!((buffer.advantages[0] - (1.0 + 0.5 * 7.0 - 0.1)).abs() < 1e-6);
        assert!((buffer.returns[3] - (4.0 + 0.5 * 6.0)).abs() < 1e-6);
        assert!(buffer.log_probs.iter().all(|p| p.is_finite()));
    }
}
