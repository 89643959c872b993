//! Proximal Policy Optimization (Schulman et al. 2017, "Proximal Policy Optimization
//! Algorithms"), laid out as CleanRL's `ppo_continuous_action.py`: a rollout of `rollout_steps`
//! from `envs` parallel episodes, advantages by GAE(lambda) (Schulman et al. 2016), then `epochs`
//! passes of shuffled minibatches on
//! `L = -mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A)) + c_v mean((V - R)^2) / 2 - c_e mean(H)`,
//! `rho = pi(a | s) / pi_old(a | s)`, with the global gradient norm clipped.
//!
//! Episodes end only by their horizon or the data's end, a time limit rather than a terminal
//! state: the value of the final observation is bootstrapped, and GAE stops at the boundary.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::config::PpoConfig;
use super::host::ppo_loss::{
    PolicyBatch, PolicyObjective, Scratch, ValueObjective, policy_objective, pullback, total_loss,
    value_objective,
};
use super::rollout::{Acting, gather_host_rows, policy_outputs, sample_actions, standardize};
use super::step::{Divergence, check_loss, clip_and_step, clip_and_step_host, merge_gradients};
use super::{Learner, UpdateStats};
use crate::agent::network::PolicyNet;
use crate::agent::{ActionHead, is_host, observations_into_tensor, to_host};
use crate::env::BatchEnv;
use crate::train::host::mlp::{HostMlp, ParamGradient};

pub struct PpoLearner {
    env: BatchEnv,
    config: PpoConfig,
    head: ActionHead,
    max_grad_norm: f64,
    device: Device,
    started: bool,
}

impl PpoLearner {
    pub fn new(
        env: BatchEnv,
        config: PpoConfig,
        head: ActionHead,
        max_grad_norm: f64,
        device: Device,
    ) -> Self {
        Self { env, config, head, max_grad_norm, device, started: false }
    }
}

/// GAE(lambda) advantages for `[step][lane]` buffers. `next_values[i]` is the value of the state
/// after step `i`; `episode_ends[i]` cuts the advantage chain after step `i`.
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

impl Learner for PpoLearner {
    fn update(
        &mut self,
        mut net: PolicyNet,
        optimizer: &mut ModuleOptimizer,
        learning_rate: f64,
        rng: &mut StdRng,
    ) -> (PolicyNet, Result<UpdateStats, Divergence>) {
        let cfg = self.config;
        let lanes = self.env.batch();
        let width = self.env.action_len();
        let len = self.env.observation_len();
        let inference = self.device.clone().inner();
        if !self.started {
            self.env.reset();
            self.started = true;
        }

        // Rollout.
        let acting = Acting::new(&net);
        let samples = cfg.rollout_steps * lanes;
        let mut observations = Vec::with_capacity(samples * len);
        let mut actions = Vec::with_capacity(samples * width);
        let mut scores = Vec::with_capacity(samples * width);
        let mut values = Vec::with_capacity(samples);
        let mut rewards = Vec::with_capacity(samples);
        let mut next_values = vec![0.0f32; samples];
        let mut episode_ends = vec![false; samples];
        let mut step_actions = vec![0.0; lanes * width];
        for step in 0..cfg.rollout_steps {
            let outputs = policy_outputs(&acting, &self.head, self.env.observations(), lanes, &inference);
            sample_actions(&outputs.concentrations, width, rng, &mut step_actions);
            scores.extend_from_slice(&outputs.scores);
            observations.extend_from_slice(self.env.observations());
            actions.extend(step_actions.iter().map(|&a| a as f32));
            values.extend_from_slice(&outputs.values);
            self.env.step(&step_actions).expect("sampled actions are valid weights");
            rewards.extend(self.env.rewards());
            if self.env.all_done() {
                // Time limit: bootstrap from the final observation, then start new episodes.
                let final_values =
                    policy_outputs(&acting, &self.head, self.env.observations(), lanes, &inference).values;
                for lane in 0..lanes {
                    next_values[step * lanes + lane] = final_values[lane];
                    episode_ends[step * lanes + lane] = true;
                }
                self.env.reset();
            }
        }
        let last_values =
            policy_outputs(&acting, &self.head, self.env.observations(), lanes, &inference).values;
        for i in 0..samples {
            if !episode_ends[i] {
                next_values[i] = if i + lanes < samples { values[i + lanes] } else { last_values[i % lanes] };
            }
        }
        // The behaviour policy's log-densities, by the same host arithmetic as the minibatches'.
        let mut scratch = Scratch::default();
        let old_log_probs: Vec<f32> = scores
            .chunks_exact(width)
            .zip(actions.chunks_exact(width))
            .map(|(row_scores, action)| scratch.log_prob(&self.head, row_scores, action) as f32)
            .collect();
        let advantages =
            gae(&rewards, &values, &next_values, &episode_ends, lanes, cfg.gamma, cfg.gae_lambda);
        let returns: Vec<f32> = advantages.iter().zip(&values).map(|(a, v)| a + v).collect();

        // Optimization.
        let device = self.device.clone();
        // On the CPU an MLP trains on the rollout's host copy of its weights (the network has
        // not changed since), refreshed after each step.
        let mut host = match acting {
            Acting::Host(host) if is_host(&device) => Some(host),
            _ => None,
        };
        let mut order: Vec<usize> = (0..samples).collect();
        let minibatch = cfg.minibatch.min(samples);
        let (mut policy_losses, mut value_losses, mut entropies, mut kls, mut clipped, mut norms) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..cfg.epochs {
            order.shuffle(rng);
            for chunk in order.chunks(minibatch) {
                let rows = gather_host_rows(&observations, len, chunk);
                let pick = |source: &[f32]| chunk.iter().map(|&i| source[i]).collect::<Vec<f32>>();
                let pick_rows = |source: &[f32]| {
                    chunk
                        .iter()
                        .flat_map(|&i| &source[i * width..(i + 1) * width])
                        .copied()
                        .collect::<Vec<f32>>()
                };
                let mut adv = pick(&advantages);
                standardize(&mut adv);

                let actions = pick_rows(&actions);
                let old_log_probs = pick(&old_log_probs);
                let returns = pick(&returns);
                let head = &self.head;
                let scratch = &mut scratch;
                let policy = |scores: &[f32]| {
                    let batch = PolicyBatch {
                        scores,
                        actions: &actions,
                        old_log_probs: &old_log_probs,
                        advantages: &adv,
                        width,
                    };
                    policy_objective(&batch, head, cfg.clip, cfg.entropy_coef, scratch)
                };
                let value = |values: &[f32]| value_objective(values, &returns, cfg.value_coef);
                let (policy, value, grads) =
                    minibatch_gradients(&net, host.as_ref(), rows, chunk.len(), &device, policy, value);
                let loss = total_loss(&policy, &value, cfg.value_coef, cfg.entropy_coef);
                kls.push(policy.approx_kl);
                clipped.push(policy.clip_fraction);
                policy_losses.push(policy.policy_loss);
                value_losses.push(value.value_loss);
                entropies.push(policy.entropy);
                let (next, result) = match check_loss(loss) {
                    Ok(()) => match grads {
                        Gradients::Host(grads) => clip_and_step_host(
                            net,
                            optimizer,
                            grads,
                            &device,
                            learning_rate,
                            self.max_grad_norm,
                        ),
                        Gradients::Burn(grads) => {
                            clip_and_step(net, optimizer, grads, learning_rate, self.max_grad_norm)
                        }
                    },
                    Err(divergence) => (net, Err(divergence)),
                };
                net = next;
                if let Some(host) = &mut host {
                    host.refresh(&net);
                }
                match result {
                    Ok(norm) => norms.push(norm),
                    Err(divergence) => return (net, Err(divergence)),
                }
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let var_returns = variance(&returns);
        let residual: Vec<f32> = returns.iter().zip(&values).map(|(r, v)| r - v).collect();
        let explained = if var_returns > 0.0 { 1.0 - variance(&residual) / var_returns } else { f64::NAN };
        let stats = UpdateStats {
            env_steps: samples,
            mean_reward: rewards.iter().sum::<f64>() / samples as f64,
            loss: mean(&policy_losses) + cfg.value_coef * mean(&value_losses)
                - cfg.entropy_coef * mean(&entropies),
            policy_loss: mean(&policy_losses),
            value_loss: mean(&value_losses),
            entropy: mean(&entropies),
            approx_kl: mean(&kls),
            clip_fraction: mean(&clipped),
            explained_variance: explained,
            grad_norm: mean(&norms),
        };
        (net, Ok(stats))
    }
}

/// A minibatch's gradients, as the pass that computed them holds them.
enum Gradients {
    Host(Vec<ParamGradient>),
    Burn(GradientsParams),
}

/// The losses of one minibatch (`rows`: `[batch][observation]`) and the gradients of their sum,
/// by the host passes when `host` holds a copy of the network's weights.
///
/// An MLP's actor and critic share no parameters and, with the loss differentiated on the host,
/// neither needs the other's output, so they go forward and backward on the two cores at once:
/// on the CPU by the host passes of [`HostMlp`](crate::train::host::mlp::HostMlp), elsewhere as
/// two autodiff graphs. EIIE's scores and value share a trunk and go together through burn.
fn minibatch_gradients(
    net: &PolicyNet,
    host: Option<&HostMlp>,
    rows: Vec<f32>,
    batch: usize,
    device: &Device,
    policy: impl FnOnce(&[f32]) -> PolicyObjective + Send,
    value: impl FnOnce(&[f32]) -> ValueObjective + Send,
) -> (PolicyObjective, ValueObjective, Gradients) {
    match (net, host) {
        (PolicyNet::Mlp(_), Some(host)) => {
            let actor = || {
                let tape = host.actor.forward(&rows, batch);
                let objective = policy(&tape.output);
                let gradients = host.actor.backward(&rows, &tape, &objective.d_scores);
                (objective, gradients)
            };
            let critic = || {
                let tape = host.critic.forward(&rows, batch);
                let objective = value(&tape.output);
                let gradients = host.critic.backward(&rows, &tape, &objective.d_values);
                (objective, gradients)
            };
            let ((policy, actor_grads), (value, critic_grads)) = rayon::join(actor, critic);
            (policy, value, Gradients::Host(actor_grads.into_iter().chain(critic_grads).collect()))
        }
        (PolicyNet::Mlp(mlp), None) => {
            let input = observations_into_tensor(rows, batch, device);
            let actor = || {
                let scores = mlp.actor(input.clone());
                let objective = policy(&to_host(scores.clone()));
                let grads = pullback(scores, &objective.d_scores).backward();
                (objective, grads)
            };
            let critic = || {
                let values = mlp.critic(input.clone());
                let objective = value(&to_host(values.clone()));
                let grads = pullback(values, &objective.d_values).backward();
                (objective, grads)
            };
            let ((policy, actor_grads), (value, critic_grads)) = rayon::join(actor, critic);
            let mut grads = GradientsParams::from_grads(actor_grads, net);
            merge_gradients(&mut grads, GradientsParams::from_grads(critic_grads, net), net);
            (policy, value, Gradients::Burn(grads))
        }
        (PolicyNet::Eiie(_), _) => {
            let (scores, values) = net.forward(observations_into_tensor(rows, batch, device));
            let policy = policy(&to_host(scores.clone()));
            let value = value(&to_host(values.clone()));
            let root = pullback(scores, &policy.d_scores) + pullback(values, &value.d_values);
            (policy, value, Gradients::Burn(GradientsParams::from_grads(root.backward(), net)))
        }
    }
}

fn variance(values: &[f32]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    values.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::network::{NetConfig, NetKind};
    use crate::env::ObservationLayout;

    /// The host passes (the CPU's) and the autodiff passes (other devices') give one minibatch the
    /// same losses and gradients.
    #[test]
    fn host_and_autodiff_minibatches_agree() {
        let device = Device::flex().autodiff();
        let layout = ObservationLayout { assets: 3, features: 2, window: 4 };
        let net = NetConfig { kind: NetKind::Mlp, hidden: vec![6, 5], ..NetConfig::default() }
            .init_seeded(layout, &device, 9);
        let batch = 5;
        let rows: Vec<f32> = (0..batch * layout.len()).map(|i| ((i * 29 % 13) as f32 - 6.0) * 0.2).collect();
        // Quadratic stand-ins for the PPO terms: loss sum(o^2) / 2, gradient o.
        let policy = |scores: &[f32]| PolicyObjective {
            policy_loss: scores.iter().map(|&s| f64::from(s * s) / 2.0).sum(),
            entropy: 0.0,
            approx_kl: 0.0,
            clip_fraction: 0.0,
            d_scores: scores.to_vec(),
        };
        let value = |values: &[f32]| ValueObjective {
            value_loss: values.iter().map(|&v| f64::from(v * v) / 2.0).sum(),
            d_values: values.to_vec(),
        };
        let host = HostMlp::of(&net).expect("an MLP has a host copy");
        let (host_policy, host_value, host_grads) =
            minibatch_gradients(&net, Some(&host), rows.clone(), batch, &device, policy, value);
        let (policy_ref, value_ref, burn_grads) =
            minibatch_gradients(&net, None, rows, batch, &device, policy, value);
        let (Gradients::Host(host_grads), Gradients::Burn(burn_grads)) = (host_grads, burn_grads) else {
            panic!("each path returns its own kind of gradients")
        };
        assert!((host_policy.policy_loss - policy_ref.policy_loss).abs() < 1e-5);
        assert!((host_value.value_loss - value_ref.value_loss).abs() < 1e-5);
        assert_eq!(host_grads.len(), 12);
        for gradient in &host_grads {
            let reference = match gradient {
                ParamGradient::Weight { id, .. } => burn_grads.get::<2>(*id).map(to_host),
                ParamGradient::Bias { id, .. } => burn_grads.get::<1>(*id).map(to_host),
            }
            .expect("the autodiff pass has every parameter's gradient");
            for (a, b) in gradient.values().iter().zip(&reference) {
                assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "host {a} vs autodiff {b}");
            }
        }
    }

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
}
