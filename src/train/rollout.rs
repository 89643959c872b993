//! Acting with a stochastic policy in the batched environment, for the algorithms that learn
//! from sampled actions (REINFORCE, PPO). Networks run without autodiff here; the gradient pass
//! later recomputes what it needs on the recorded observations.

use burn::prelude::*;
use rand::rngs::StdRng;

use crate::agent::distribution::sample_dirichlet;
use crate::agent::network::PolicyNet;
use crate::agent::{ActionHead, is_host, observations_into_tensor, observations_tensor, to_host};
use crate::train::host::mlp::HostMlp;

/// The policy's outputs for a batch of observations, on the host.
pub struct PolicyOutputs {
    /// `[batch][cash + assets]` scores, from which the head derives the concentrations.
    pub scores: Vec<f32>,
    /// `[batch][cash + assets]` Dirichlet concentrations.
    pub concentrations: Vec<f32>,
    /// `[batch]` state values.
    pub values: Vec<f32>,
}

/// The policy as a rollout runs it: an MLP on the host (see [`HostMlp`]), any other network
/// through burn without autodiff. Build it after each update; it holds a copy of the weights.
// Built once per update, so the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Acting {
    Host(HostMlp),
    Device(PolicyNet),
}

impl Acting {
    /// How `net` acts on `device`: on the host when it is the CPU backend and a host copy of the
    /// network exists (MLPs), through burn otherwise.
    pub fn on(net: &PolicyNet, device: &Device) -> Self {
        match HostMlp::of(net).filter(|_| is_host(device)) {
            Some(host) => Acting::Host(host),
            None => Acting::Device(net.valid()),
        }
    }

    /// The policy's outputs for `observations` (`[batch][len]`); `device` is where a burn
    /// network's tensors go (a device without autodiff).
    pub fn outputs(
        &self,
        head: &ActionHead,
        observations: &[f32],
        batch: usize,
        device: &Device,
    ) -> PolicyOutputs {
        let (scores, values) = match self {
            Acting::Host(net) => {
                let len = observations.len() / batch;
                let width = net.width();
                let mut scores = vec![0.0; batch * width];
                let values = observations
                    .chunks_exact(len)
                    .zip(scores.chunks_exact_mut(width))
                    .map(|(observation, row)| net.forward(observation, row))
                    .collect();
                (scores, values)
            }
            Acting::Device(net) => {
                let (scores, values) = net.forward(observations_tensor(observations, batch, device));
                (to_host(scores), to_host(values))
            }
        };
        // On the host: the head's map is a dozen tensor ops on a single row per step otherwise.
        let mut alpha = vec![0.0; scores.len()];
        let mut slope = vec![0.0; scores.len()];
        head.concentrations_on_host(&scores, &mut alpha, &mut slope);
        let concentrations = alpha.iter().map(|&a| a as f32).collect();
        PolicyOutputs { scores, concentrations, values }
    }
}

/// Sample one action per row of `concentrations` into `actions` (`[batch][width]`).
pub fn sample_actions(concentrations: &[f32], width: usize, rng: &mut StdRng, actions: &mut [f64]) {
    for (alpha, action) in concentrations.chunks_exact(width).zip(actions.chunks_exact_mut(width)) {
        sample_dirichlet(alpha, rng, action);
    }
}

/// `sum_k gamma^k r_{t+k}` within each lane's episode; `rewards` is `[step][lane]`.
pub fn discounted_returns(rewards: &[f64], lanes: usize, gamma: f64) -> Vec<f64> {
    let steps = rewards.len() / lanes;
    let mut returns = vec![0.0; rewards.len()];
    for lane in 0..lanes {
        let mut running = 0.0;
        for step in (0..steps).rev() {
            running = rewards[step * lanes + lane] + gamma * running;
            returns[step * lanes + lane] = running;
        }
    }
    returns
}

/// Standardize advantages to mean 0 and standard deviation 1 (a variance reduction all
/// reference implementations use); the population deviation, plus 1e-8 so that equal
/// advantages stay finite.
pub fn standardize(values: &mut [f32]) {
    let wide: Vec<f64> = values.iter().map(|&v| v as f64).collect();
    let mean = crate::stats::mean(&wide);
    let std = crate::stats::population_variance(&wide).sqrt() + 1e-8;
    for v in values.iter_mut() {
        *v = ((*v as f64 - mean) / std) as f32;
    }
}

/// Host rows `indices` of a `[rows][width]` buffer, as a tensor `[indices.len(), width]`.
pub fn gather_rows(data: &[f32], width: usize, indices: &[usize], device: &Device) -> Tensor<2> {
    observations_into_tensor(gather_host_rows(data, width, indices), indices.len(), device)
}

/// Host rows `indices` of a `[rows][width]` buffer, `[indices.len()][width]`.
pub fn gather_host_rows(data: &[f32], width: usize, indices: &[usize]) -> Vec<f32> {
    let mut rows = Vec::with_capacity(indices.len() * width);
    for &i in indices {
        rows.extend_from_slice(&data[i * width..(i + 1) * width]);
    }
    rows
}

pub fn vector(values: Vec<f32>, device: &Device) -> Tensor<1> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discounted_returns_by_hand_per_lane() {
        // Two lanes, three steps, stored [step][lane].
        let rewards = [1.0, 10.0, 2.0, 20.0, 3.0, 30.0];
        let g = discounted_returns(&rewards, 2, 0.5);
        assert_eq!(
            g,
            vec![1.0 + 0.5 * 2.0 + 0.25 * 3.0, 10.0 + 10.0 + 7.5, 2.0 + 1.5, 20.0 + 15.0, 3.0, 30.0]
        );
    }
}
