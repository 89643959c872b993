//! PPO's [`Engine`] on the CPU: the loss's gradient in the network's outputs in closed form
//! ([`super::ppo_loss`]), then the network's backward pass on host memory for an MLP
//! ([`HostMlp`]) or through burn for EIIE, and Adam in one pass per parameter
//! ([`super::adam`]). Same loss as [`crate::train::ppo::ppo_loss`]; the tests below hold a step
//! of each engine to the other.

use burn::optim::GradientsParams;
use burn::prelude::*;

use super::mlp::{HostMlp, ParamGradient};
use super::ppo_loss::{
    PolicyBatch, PolicyObjective, Scratch, ValueObjective, policy_objective, pullback, value_objective,
};
use super::step::clip_and_step_host;
use crate::agent::network::PolicyNet;
use crate::agent::{ActionHead, observations_into_tensor, to_host};
use crate::train::Descent;
use crate::train::config::PpoConfig;
use crate::train::ppo::{Engine, Minibatch, MinibatchStats, Stepped};
use crate::train::rollout::{Acting, PolicyOutputs};
use crate::train::step::{check_loss, clip_and_step};

pub struct FastPath {
    device: Device,
    head: ActionHead,
    config: PpoConfig,
    max_grad_norm: f64,
    /// A rollout acts with this; an MLP's host copy also trains, refreshed after each step.
    acting: Option<Acting>,
    scratch: Scratch,
}

impl FastPath {
    /// `device` is the CPU backend with autodiff, where the network's parameters live.
    pub fn new(device: Device, head: ActionHead, config: PpoConfig, max_grad_norm: f64) -> Self {
        Self { device, head, config, max_grad_norm, acting: None, scratch: Scratch::default() }
    }
}

impl Engine for FastPath {
    fn load(&mut self, net: &PolicyNet) {
        self.acting = Some(Acting::on(net, &self.device));
    }

    fn act(&self, observations: &[f32], batch: usize) -> PolicyOutputs {
        let acting = self.acting.as_ref().expect("an engine acts after load");
        acting.outputs(&self.head, observations, batch, &self.device.clone().inner())
    }

    fn step(&mut self, net: PolicyNet, batch: &Minibatch, descent: &mut Descent<'_>) -> Stepped {
        let host = match &self.acting {
            Some(Acting::Host(host)) => Some(host),
            _ => None,
        };
        let config = self.config;
        let (head, scratch) = (&self.head, &mut self.scratch);
        let width = batch.actions.len() / batch.rows;
        let policy = |scores: &[f32]| {
            let rows = PolicyBatch {
                scores,
                actions: &batch.actions,
                old_log_probs: &batch.old_log_probs,
                advantages: &batch.advantages,
                width,
            };
            policy_objective(&rows, head, config.clip, config.entropy_coef, scratch)
        };
        let value = |values: &[f32]| value_objective(values, &batch.returns, config.value_coef);
        let (policy, value, gradients) = minibatch_gradients(&net, host, batch, &self.device, policy, value);
        let stats = MinibatchStats {
            policy_loss: policy.policy_loss,
            value_loss: value.value_loss,
            entropy: policy.entropy,
            approx_kl: policy.approx_kl,
            clip_fraction: policy.clip_fraction,
            grad_norm: f64::NAN,
        };
        let (net, result) = match check_loss(stats.loss(&config)) {
            Err(divergence) => (net, Err(divergence)),
            Ok(()) => match gradients {
                Gradients::Host(grads) => {
                    clip_and_step_host(net, descent, grads, &self.device, self.max_grad_norm)
                }
                Gradients::Burn(grads) => clip_and_step(net, descent, grads, self.max_grad_norm),
            },
        };
        if let Some(Acting::Host(host)) = &mut self.acting {
            host.refresh(&net);
        }
        (net, result.map(|grad_norm| MinibatchStats { grad_norm, ..stats }))
    }
}

/// A minibatch's gradients, as the pass that computed them holds them.
enum Gradients {
    Host(Vec<ParamGradient>),
    Burn(GradientsParams),
}

/// The loss terms of one minibatch and the gradients of their sum: by the host passes when
/// `host` holds a copy of an MLP's weights, through burn otherwise. An MLP's actor and critic
/// share no parameters and, with the loss differentiated in closed form, neither needs the
/// other's output, so they go forward and backward on the two cores at once. EIIE's scores
/// and value share a trunk and go together through burn.
fn minibatch_gradients(
    net: &PolicyNet,
    host: Option<&HostMlp>,
    batch: &Minibatch,
    device: &Device,
    policy: impl FnOnce(&[f32]) -> PolicyObjective + Send,
    value: impl FnOnce(&[f32]) -> ValueObjective + Send,
) -> (PolicyObjective, ValueObjective, Gradients) {
    let (rows, x) = (batch.rows, &batch.observations);
    match host {
        Some(host) => {
            let actor = || {
                let tape = host.actor.forward(x, rows);
                let mut scores = tape.output.clone();
                host.anchor_scores(x, &mut scores);
                let objective = policy(&scores);
                let d_raw = host.anchor_gradient(&tape.output, &scores, &objective.d_scores);
                let gradients = host.actor.backward(x, &tape, &d_raw);
                (objective, gradients)
            };
            let critic = || {
                let tape = host.critic.forward(x, rows);
                let objective = value(&tape.output);
                let gradients = host.critic.backward(x, &tape, &objective.d_values);
                (objective, gradients)
            };
            let ((policy, actor_grads), (value, critic_grads)) = rayon::join(actor, critic);
            (policy, value, Gradients::Host(actor_grads.into_iter().chain(critic_grads).collect()))
        }
        None => {
            let (scores, values) = net.forward(observations_into_tensor(x.clone(), rows, device));
            let policy = policy(&to_host(scores.clone()));
            let value = value(&to_host(values.clone()));
            let root = pullback(scores, &policy.d_scores) + pullback(values, &value.d_values);
            (policy, value, Gradients::Burn(GradientsParams::from_grads(root.backward(), net)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::network::{NetConfig, NetKind};
    use crate::env::ObservationLayout;
    use crate::train::ppo::Autodiff;
    use burn::optim::SgdConfig;

    fn minibatch(layout: &ObservationLayout, head: &ActionHead, rows: usize) -> Minibatch {
        let width = layout.assets + 1;
        let observations: Vec<f32> =
            (0..rows * layout.len()).map(|i| ((i * 29 % 13) as f32 - 6.0) * 0.2).collect();
        let actions: Vec<f32> = (0..rows * width)
            .map(|i| 0.05 + (i % width) as f32 * 0.1)
            .collect::<Vec<_>>()
            .chunks(width)
            .flat_map(|row| {
                let total: f32 = row.iter().sum();
                row.iter().map(move |a| a / total).collect::<Vec<_>>()
            })
            .collect();
        let scores: Vec<f32> = (0..width).map(|i| i as f32 * 0.3 - 0.5).collect();
        let old_log_probs = actions
            .chunks(width)
            .enumerate()
            .map(|(r, a)| head.log_prob_on_host(&scores, a) as f32 + 0.1 * (r as f32 - 2.0))
            .collect();
        Minibatch {
            rows,
            observations,
            actions,
            old_log_probs,
            advantages: (0..rows).map(|r| r as f32 * 0.7 - 1.4).collect(),
            returns: (0..rows).map(|r| 0.3 - r as f32 * 0.2).collect(),
        }
    }

    /// One step of the CPU fast path and one of burn's autodiff, from the same network, on the
    /// same minibatch, with plain SGD (whose step is the gradient itself): the same loss terms
    /// and the same updated network, for an MLP (host passes) and EIIE (burn passes).
    #[test]
    fn a_fast_path_step_is_an_autodiff_step() {
        let device = Device::flex().autodiff();
        let layout = ObservationLayout { assets: 3, features: 2, window: 4, reference: false };
        let head = ActionHead::Dirichlet { min_concentration: 0.1, max_concentration: 100.0, anchored: None };
        let config = PpoConfig { clip: 0.2, value_coef: 0.5, entropy_coef: 0.01, ..PpoConfig::default() };
        for kind in [NetKind::Mlp, NetKind::Eiie] {
            let net = NetConfig { kind, hidden: vec![6, 5], eiie_kernel: 2, ..NetConfig::default() }
                .init_seeded(layout, &device, 9);
            let batch = minibatch(&layout, &head, 5);
            let mut fast = FastPath::new(device.clone(), head, config, 1e9);
            let mut reference = Autodiff::new(device.clone(), head, config, 1e9);
            fast.load(&net);
            reference.load(&net);
            let (mut sgd, mut other_sgd) = (SgdConfig::new().init(), SgdConfig::new().init());
            let (by_fast, fast_stats) =
                fast.step(net.clone(), &batch, &mut Descent { optimizer: &mut sgd, learning_rate: 0.1 });
            let (by_autodiff, reference_stats) = reference.step(
                net.clone(),
                &batch,
                &mut Descent { optimizer: &mut other_sgd, learning_rate: 0.1 },
            );
            let (fast_stats, reference_stats) = (fast_stats.unwrap(), reference_stats.unwrap());
            for (a, b, what) in [
                (fast_stats.policy_loss, reference_stats.policy_loss, "policy loss"),
                (fast_stats.value_loss, reference_stats.value_loss, "value loss"),
                (fast_stats.entropy, reference_stats.entropy, "entropy"),
                (fast_stats.grad_norm, reference_stats.grad_norm, "gradient norm"),
            ] {
                assert!(
                    (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                    "{kind:?} {what}: fast {a} vs autodiff {b}"
                );
            }
            let moved = by_autodiff.parameter_values() != net.parameter_values();
            assert!(moved, "{kind:?}: the step moved the network");
            for (a, b) in by_fast
                .parameter_values()
                .iter()
                .flatten()
                .zip(by_autodiff.parameter_values().iter().flatten())
            {
                assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{kind:?}: fast {a} vs autodiff {b}");
            }
        }
    }
}
