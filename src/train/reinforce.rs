//! REINFORCE with a learned baseline (Williams 1992; Sutton and Barto, 2nd ed., section 13.4).
//! Each update plays `episodes` whole episodes with the stochastic (Dirichlet) policy and takes
//! one gradient step on
//! `L = -mean(log pi(a_t | s_t) A_t) + c_v mean((V(s_t) - G_t)^2) - c_e mean(H[pi(. | s_t)])`,
//! with returns `G_t = sum_k gamma^k r_{t+k}` and standardized advantages `A_t = G_t - V(s_t)`.

use burn::prelude::*;
use rand::rngs::StdRng;

use super::config::ReinforceConfig;
use super::rollout::{Acting, discounted_returns, gather_rows, sample_actions, standardize, vector};
use super::step::optimizer_step;
use super::{Descent, Learner, UpdateStats, Updated};
use crate::agent::network::PolicyNet;
use crate::agent::{ActionHead, to_host};
use crate::env::BatchEnv;

pub struct ReinforceLearner {
    env: BatchEnv,
    config: ReinforceConfig,
    head: ActionHead,
    max_grad_norm: f64,
    device: Device,
}

impl ReinforceLearner {
    pub fn new(
        env: BatchEnv,
        config: ReinforceConfig,
        head: ActionHead,
        max_grad_norm: f64,
        device: Device,
    ) -> Self {
        Self { env, config, head, max_grad_norm, device }
    }
}

impl Learner for ReinforceLearner {
    fn update(&mut self, net: PolicyNet, descent: &mut Descent<'_>, rng: &mut StdRng) -> Updated {
        let lanes = self.env.batch();
        let width = self.env.action_len();
        let len = self.env.observation_len();
        let acting = Acting::on(&net, &self.device);
        let inference = self.device.clone().inner();
        let mut observations: Vec<f32> = Vec::new();
        let mut actions: Vec<f64> = Vec::new();
        let mut rewards: Vec<f64> = Vec::new();
        let mut step_actions = vec![0.0; lanes * width];
        self.env.reset();
        while !self.env.all_done() {
            let outputs = acting.outputs(&self.head, self.env.observations(), lanes, &inference);
            sample_actions(&outputs.concentrations, width, rng, &mut step_actions);
            observations.extend_from_slice(self.env.observations());
            actions.extend_from_slice(&step_actions);
            self.env.step(&step_actions).expect("sampled actions are valid weights");
            rewards.extend(self.env.rewards());
        }
        let samples = rewards.len();
        let returns = discounted_returns(&rewards, lanes, self.config.gamma);

        let device = &self.device;
        let all: Vec<usize> = (0..samples).collect();
        let input = gather_rows(&observations, len, &all, device);
        let taken: Vec<f32> = actions.iter().map(|&a| a as f32).collect();
        let taken = Tensor::<2>::from_data(TensorData::new(taken, [samples, width]), device);
        let (scores, values) = net.forward(input);
        let distribution = self.head.distribution(scores);
        let (log_prob, entropy) = distribution.log_prob_and_entropy(taken);
        let entropy = entropy.mean();
        let value_host = to_host(values.clone());
        let mut advantages: Vec<f32> = returns.iter().zip(&value_host).map(|(&g, &v)| g as f32 - v).collect();
        standardize(&mut advantages);
        let advantages = vector(advantages, device);
        let targets = vector(returns.iter().map(|&g| g as f32).collect(), device);

        let policy_loss = (log_prob * advantages).mean().neg();
        let value_loss = (values - targets).powi_scalar(2).mean();
        let loss = policy_loss.clone() + value_loss.clone().mul_scalar(self.config.value_coef)
            - entropy.clone().mul_scalar(self.config.entropy_coef);
        let stats = UpdateStats {
            env_steps: samples,
            mean_reward: rewards.iter().sum::<f64>() / samples as f64,
            loss: loss.clone().into_scalar::<f32>() as f64,
            policy_loss: policy_loss.into_scalar::<f32>() as f64,
            value_loss: value_loss.into_scalar::<f32>() as f64,
            entropy: entropy.into_scalar::<f32>() as f64,
            ..UpdateStats::default()
        };
        let (net, result) = optimizer_step(net, descent, loss, self.max_grad_norm);
        (net, result.map(|grad_norm| UpdateStats { grad_norm, ..stats }))
    }

    /// Each update plays whole episodes, so only the draws of their starts carry over.
    fn save_state(&self) -> Option<Vec<u8>> {
        Some(super::save_env_learner(&self.env, true))
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<(), super::StateMismatch> {
        super::load_env_learner(&mut self.env, bytes).map(|_| ())
    }
}
