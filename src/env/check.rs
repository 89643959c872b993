//! A smoke run of an environment: a random policy and equal weight through a few episodes, with
//! the figures a user checks before training anything. Backs `folio env check`.

use rand::{SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, Exp1};
use serde::Serialize;
use std::time::Instant;

use super::{BatchEnv, EnvError};

#[derive(Debug, Clone, Serialize)]
pub struct PolicySummary {
    pub policy: String,
    pub episodes: usize,
    pub steps: usize,
    pub mean_final_value: f64,
    pub mean_reward: f64,
    /// Mean turnover per step.
    pub mean_turnover: f64,
    /// Mean of each episode's total costs, in units of the starting value.
    pub mean_costs: f64,
    pub steps_per_second: f64,
}

/// Uniformly random weights on the simplex: Dirichlet(1, ..., 1), drawn as normalized
/// exponential variables.
pub fn random_weights(rng: &mut StdRng, out: &mut [f64]) {
    let mut sum = 0.0;
    for w in out.iter_mut() {
        *w = Exp1.sample(rng);
        sum += *w;
    }
    for w in out.iter_mut() {
        *w /= sum;
    }
}

/// Run `episodes` episodes of `policy` (called with the lane's observation and writing its
/// action) in a batch env, one lane per episode.
pub fn run_policy(
    env: &mut BatchEnv,
    name: &str,
    mut policy: impl FnMut(usize, &[f32], &mut [f64]),
) -> Result<PolicySummary, EnvError> {
    let width = env.action_len();
    let batch = env.batch();
    let mut actions = vec![0.0; batch * width];
    let mut rewards = vec![0.0; batch];
    let mut turnover = 0.0;
    let mut costs = vec![0.0; batch];
    let mut steps = 0usize;
    let started = Instant::now();
    env.reset();
    while !env.all_done() {
        for lane in 0..batch {
            policy(lane, env.observation(lane), &mut actions[lane * width..(lane + 1) * width]);
        }
        env.step(&actions)?;
        for lane in 0..batch {
            rewards[lane] += env.reward(lane);
            turnover += env.info(lane).turnover;
            costs[lane] += env.info(lane).cost;
        }
        steps += batch;
    }
    let seconds = started.elapsed().as_secs_f64();
    let values: Vec<f64> = env.infos().map(|i| i.value).collect();
    Ok(PolicySummary {
        policy: name.to_string(),
        episodes: batch,
        steps,
        mean_final_value: values.iter().sum::<f64>() / batch as f64,
        mean_reward: rewards.iter().sum::<f64>() / steps as f64,
        mean_turnover: turnover / steps as f64,
        mean_costs: costs.iter().sum::<f64>() / batch as f64,
        steps_per_second: steps as f64 / seconds.max(1e-9),
    })
}

/// The random policy and equal weight (cash excluded) over the same episode starts.
pub fn check(
    mut make_env: impl FnMut() -> Result<BatchEnv, EnvError>,
    seed: u64,
) -> Result<Vec<PolicySummary>, EnvError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let random = run_policy(&mut make_env()?, "random", |_, _, action| random_weights(&mut rng, action))?;
    let equal = run_policy(&mut make_env()?, "equal weight", |_, _, action| {
        let n = (action.len() - 1) as f64;
        action[0] = 0.0;
        action[1..].fill(1.0 / n);
    })?;
    Ok(vec![random, equal])
}
