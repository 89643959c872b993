//! PPO's minibatch loss for a Dirichlet policy ([`crate::train::ppo::ppo_loss`]) and its
//! gradient in the network's outputs, in closed form on the host in f64:
//!
//! `L = -mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A)) + c_v mean((V - R)^2) / 2 - c_e mean(H)`.
//!
//! Why by hand: the loss is a chain of small element-wise steps on a `[minibatch, K]` block
//! (softplus, bounds, `ln Gamma` and digamma series, ratio, clip, min, means), about a hundred
//! tensor ops forward and as many in the backward pass. On PPO's small minibatches the ops'
//! overhead, not their arithmetic, is the cost (`docs/performance.md` has the profile). In
//! closed form it is one loop over the block; the network's backward pass then only needs
//! `d L / d scores` and `d L / d values` (through [`pullback`] when burn runs it), whose
//! gradient in the parameters is exactly the loss's.

use burn::prelude::*;

use crate::agent::ActionHead;
use crate::agent::distribution::log_prob_and_entropy_with_gradients;

/// The policy's side of a minibatch, row-major on the host; `width` components per action.
pub struct PolicyBatch<'a> {
    /// The network's scores `[rows][width]`.
    pub scores: &'a [f32],
    /// The actions taken `[rows][width]`.
    pub actions: &'a [f32],
    /// `ln pi_old(a | s)` `[rows]`.
    pub old_log_probs: &'a [f32],
    /// Standardized advantages `[rows]`.
    pub advantages: &'a [f32],
    pub width: usize,
}

/// The clipped surrogate and entropy terms, diagnostics, and their gradient in the scores.
#[derive(Debug, Clone)]
pub struct PolicyObjective {
    /// `-mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A))`.
    pub policy_loss: f64,
    /// `mean(H)`.
    pub entropy: f64,
    /// `mean((rho - 1) - ln rho)` (Schulman's low-variance KL estimator).
    pub approx_kl: f64,
    /// The share of rows whose ratio left `[1 - eps, 1 + eps]`.
    pub clip_fraction: f64,
    /// `d (policy_loss - entropy_coef entropy) / d scores`, `[rows][width]`.
    pub d_scores: Vec<f32>,
}

/// The critic's term and its gradient in the values.
#[derive(Debug, Clone)]
pub struct ValueObjective {
    /// `mean((V - R)^2) / 2`.
    pub value_loss: f64,
    /// `d (value_coef value_loss) / d values`, `[rows]`.
    pub d_values: Vec<f32>,
}

/// Buffers for [`policy_objective`], reused across minibatches.
#[derive(Default)]
pub struct Scratch {
    alpha: Vec<f64>,
    slope: Vec<f64>,
    d_log_prob: Vec<f64>,
    d_entropy: Vec<f64>,
}

impl Scratch {
    fn fit(&mut self, width: usize) {
        for buffer in [&mut self.alpha, &mut self.slope, &mut self.d_log_prob, &mut self.d_entropy] {
            buffer.resize(width, 0.0);
        }
    }
}

/// The clipped surrogate with the entropy bonus, and its gradient. Where the ratio sits on the
/// clip's edge the gradient is the unclipped term's, as autodiff through `clamp` and `min` gives.
pub fn policy_objective(
    batch: &PolicyBatch<'_>,
    head: &ActionHead,
    clip: f64,
    entropy_coef: f64,
    scratch: &mut Scratch,
) -> PolicyObjective {
    let width = batch.width;
    let rows = batch.advantages.len();
    let n = rows as f64;
    scratch.fit(width);
    let mut d_scores = vec![0.0f32; rows * width];
    let (mut policy_sum, mut entropy_sum, mut kl_sum, mut clipped) = (0.0, 0.0, 0.0, 0usize);
    let rows_in = batch.scores.chunks_exact(width).zip(batch.actions.chunks_exact(width));
    let per_row = batch.advantages.iter().zip(batch.old_log_probs);
    for (((scores, action), (&advantage, &old)), d_row) in
        rows_in.zip(per_row).zip(d_scores.chunks_exact_mut(width))
    {
        head.concentrations_on_host(scores, &mut scratch.alpha, &mut scratch.slope);
        let (log_prob, entropy) = log_prob_and_entropy_with_gradients(
            &scratch.alpha,
            action,
            &mut scratch.d_log_prob,
            &mut scratch.d_entropy,
        );
        let advantage = f64::from(advantage);
        let log_ratio = log_prob - f64::from(old);
        let ratio = log_ratio.exp();
        let bounded = ratio.clamp(1.0 - clip, 1.0 + clip);
        policy_sum += (ratio * advantage).min(bounded * advantage);
        entropy_sum += entropy;
        kl_sum += (ratio - 1.0) - log_ratio;
        if (ratio - 1.0).abs() > clip {
            clipped += 1;
        }
        // The clip cuts the gradient only where it binds: above 1 + eps for a positive
        // advantage, below 1 - eps for a negative one.
        let binds = (advantage > 0.0 && ratio > 1.0 + clip) || (advantage < 0.0 && ratio < 1.0 - clip);
        let d_log_prob = if binds { 0.0 } else { -advantage * ratio / n };
        for (i, out) in d_row.iter_mut().enumerate() {
            let d_alpha = d_log_prob * scratch.d_log_prob[i] - entropy_coef / n * scratch.d_entropy[i];
            *out = (d_alpha * scratch.slope[i]) as f32;
        }
    }
    PolicyObjective {
        policy_loss: -policy_sum / n,
        entropy: entropy_sum / n,
        approx_kl: kl_sum / n,
        clip_fraction: clipped as f64 / n,
        d_scores,
    }
}

/// `mean((V - R)^2) / 2` and its gradient, scaled by `value_coef`.
pub fn value_objective(values: &[f32], returns: &[f32], value_coef: f64) -> ValueObjective {
    let n = values.len() as f64;
    let errors: Vec<f64> = values.iter().zip(returns).map(|(&v, &r)| f64::from(v) - f64::from(r)).collect();
    ValueObjective {
        value_loss: 0.5 * errors.iter().map(|e| e * e).sum::<f64>() / n,
        d_values: errors.iter().map(|e| (value_coef * e / n) as f32).collect(),
    }
}

/// A scalar whose gradient in whatever produced `outputs` is `gradient` (held constant):
/// `sum(outputs * gradient)`, the chain rule's last step.
pub fn pullback<const D: usize>(outputs: Tensor<D>, gradient: &[f32]) -> Tensor<1> {
    let gradient =
        Tensor::<D>::from_data(TensorData::new(gradient.to_vec(), outputs.shape()), &outputs.device());
    (outputs * gradient).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::distribution::{DEFAULT_MIN_CONCENTRATION, Dirichlet};
    use crate::train::config::PpoConfig;
    use crate::train::ppo::{Minibatch, ppo_loss};
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    const ROWS: usize = 12;
    const WIDTH: usize = 4;

    const CLIP: f64 = 0.2;
    const VALUE_COEF: f64 = 0.5;
    const ENTROPY_COEF: f64 = 0.01;

    struct Case {
        scores: Vec<f32>,
        values: Vec<f32>,
        actions: Vec<f32>,
        old: Vec<f32>,
        advantages: Vec<f32>,
        returns: Vec<f32>,
    }

    fn case(seed: u64, head: &ActionHead) -> Case {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut scores: Vec<f32> = (0..ROWS * WIDTH).map(|_| rng.random_range(-3.0..3.0)).collect();
        // Rows that reach the upper bound (zero slope) and softplus's linear branch.
        scores[0] = 150.0;
        scores[WIDTH + 1] = 25.0;
        let mut actions = vec![0.0f32; ROWS * WIDTH];
        let mut old = Vec::new();
        for row in 0..ROWS {
            let raw: Vec<f32> = (0..WIDTH).map(|_| rng.random_range(0.01..1.0)).collect();
            let total: f32 = raw.iter().sum();
            for (slot, r) in actions[row * WIDTH..(row + 1) * WIDTH].iter_mut().zip(&raw) {
                *slot = r / total;
            }
            // Old log-densities spread around the current ones, so some ratios leave the clip
            // range on either side.
            let current = head.log_prob_on_host(
                &scores[row * WIDTH..(row + 1) * WIDTH],
                &actions[row * WIDTH..(row + 1) * WIDTH],
            );
            old.push((current + rng.random_range(-0.5..0.5)) as f32);
        }
        Case {
            scores,
            values: (0..ROWS).map(|_| rng.random_range(-1.0..1.0)).collect(),
            actions,
            old,
            advantages: (0..ROWS)
                .map(|i| if i % 3 == 0 { 0.0 } else { rng.random_range(-2.0..2.0) })
                .collect(),
            returns: (0..ROWS).map(|_| rng.random_range(-1.0..1.0)).collect(),
        }
    }

    #[test]
    fn loss_and_gradient_match_autodiff_through_ppo_loss() {
        let head = ActionHead::Dirichlet {
            min_concentration: DEFAULT_MIN_CONCENTRATION,
            max_concentration: 100.0,
            anchored: None,
        };
        let device = Device::flex().autodiff();
        for seed in 0..4 {
            let case = case(seed, &head);
            let batch = PolicyBatch {
                scores: &case.scores,
                actions: &case.actions,
                old_log_probs: &case.old,
                advantages: &case.advantages,
                width: WIDTH,
            };
            let policy = policy_objective(&batch, &head, CLIP, ENTROPY_COEF, &mut Scratch::default());
            let value = value_objective(&case.values, &case.returns, VALUE_COEF);
            let config = PpoConfig {
                clip: CLIP,
                value_coef: VALUE_COEF,
                entropy_coef: ENTROPY_COEF,
                ..PpoConfig::default()
            };
            let loss_value =
                policy.policy_loss + VALUE_COEF * value.value_loss - ENTROPY_COEF * policy.entropy;
            assert!(policy.clip_fraction > 0.0 && policy.clip_fraction < 1.0, "seed {seed}: both branches");

            let scores = Tensor::<2>::from_data(TensorData::new(case.scores.clone(), [ROWS, WIDTH]), &device)
                .require_grad();
            let values =
                Tensor::<1>::from_data(TensorData::new(case.values.clone(), [ROWS]), &device).require_grad();
            let minibatch = Minibatch {
                rows: ROWS,
                observations: Vec::new(),
                actions: case.actions.clone(),
                old_log_probs: case.old.clone(),
                advantages: case.advantages.clone(),
                returns: case.returns.clone(),
            };
            let (loss, terms) = ppo_loss(scores.clone(), values.clone(), &minibatch, &head, &config);
            assert!((terms.approx_kl - policy.approx_kl).abs() < 1e-5, "seed {seed}: KL estimates differ");
            assert_eq!(terms.clip_fraction, policy.clip_fraction, "seed {seed}: clip fractions differ");
            let reference = loss.clone().into_scalar::<f32>() as f64;
            assert!(
                (loss_value - reference).abs() < 1e-4 * (1.0 + reference.abs()),
                "seed {seed}: {} vs {reference}",
                loss_value
            );
            let grads = loss.backward();
            let host = |t: Tensor<1>| t.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32");
            let d_scores = host(scores.grad(&grads).expect("score gradient").reshape([ROWS * WIDTH]));
            let d_values = host(values.grad(&grads).expect("value gradient"));
            for (i, (a, b)) in policy.d_scores.iter().zip(&d_scores).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-5 + 1e-3 * b.abs(),
                    "seed {seed}, score {i}: {a} vs autodiff {b}"
                );
            }
            assert_eq!(policy.d_scores[0], 0.0, "a concentration at its bound passes no gradient");
            for (a, b) in value.d_values.iter().zip(&d_values) {
                assert!((a - b).abs() <= 1e-7 + 1e-5 * b.abs(), "value gradient {a} vs {b}");
            }

            // The pullback carries exactly these gradients into whatever produced the outputs.
            let scores = scores.detach().require_grad();
            let values = values.detach().require_grad();
            let root = pullback(scores.clone(), &policy.d_scores) + pullback(values.clone(), &value.d_values);
            let grads = root.backward();
            assert_eq!(host(scores.grad(&grads).expect("grad").reshape([ROWS * WIDTH])), policy.d_scores);
            assert_eq!(host(values.grad(&grads).expect("grad")), value.d_values);
        }
    }

    #[test]
    fn host_log_density_matches_the_tensor_one() {
        let head = ActionHead::Dirichlet {
            min_concentration: DEFAULT_MIN_CONCENTRATION,
            max_concentration: 1e3,
            anchored: None,
        };
        let case = case(9, &head);
        let device = Device::flex();
        let scores = Tensor::<2>::from_data(TensorData::new(case.scores.clone(), [ROWS, WIDTH]), &device);
        let taken = Tensor::<2>::from_data(TensorData::new(case.actions.clone(), [ROWS, WIDTH]), &device);
        let expected = Dirichlet::from_logits(scores)
            .log_prob(taken)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32");
        let rows = case.scores.chunks_exact(WIDTH).zip(case.actions.chunks_exact(WIDTH));
        for (row, ((scores, action), expected)) in rows.zip(expected).enumerate() {
            let got = head.log_prob_on_host(scores, action);
            assert!((got - expected as f64).abs() < 1e-3, "row {row}: {got} vs {expected}");
        }
    }
}
