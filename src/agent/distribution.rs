//! The Dirichlet distribution over portfolio weights: `K = N + 1` components on the simplex
//! (cash first, then the N assets), parameterized by a policy network's concentrations and used by
//! the policy-gradient algorithms (REINFORCE, PPO).
//!
//! The split between device and host follows what burn offers:
//! - On the device, batched and differentiable: [`Dirichlet::log_prob`], [`Dirichlet::entropy`]
//!   and [`Dirichlet::mean`], built on [`lgamma`] and [`digamma`], which burn lacks and which are
//!   written here from differentiable tensor ops so that gradients reach the concentrations.
//! - On the host, in f64: [`sample_dirichlet`] (burn has no Gamma sampler). Sampled actions are
//!   data, not part of the graph: the score-function (REINFORCE / PPO) gradient flows through
//!   `log_prob`, never through the sample. And [`log_prob_and_entropy_with_gradients`] with
//!   [`GammaTerms`]: the log-density and entropy with their gradients in closed form, for PPO's
//!   loss, which is differentiated on the host (see `train::host::ppo_loss`).
//!
//! Precision: with f32 tensors (the default; the functions run in whatever float dtype their
//! input holds) `log_prob` subtracts `sum_i lgamma(alpha_i)` from
//! `lgamma(alpha_0)`, which grow like `alpha ln alpha`, so its absolute error grows with the
//! total concentration (measured against f64 with 21 equal components: 1e-5 at `alpha_0` = 21,
//! 7e-4 at 2,100 and 8e-3 at 21,000, the largest total [`DEFAULT_MAX_CONCENTRATION`] allows with
//! 20 assets); gradients do not suffer from this cancellation.

use burn::prelude::*;
use burn::tensor::activation::softplus;
use rand::Rng;
use rand_distr::{Distribution, Gamma, Open01};

/// `ln(2 pi) / 2`, the constant term of Stirling's series.
const HALF_LN_2PI: f64 = 0.9189385332046727;

/// How far [`lgamma`] and [`digamma`] move their argument up with the recurrence before the
/// asymptotic series: at `z = x + 6 >= 6` the first omitted terms, `1 / (1680 z^7)` and
/// `1 / (240 z^8)`, are below 3e-9, far under f32 resolution.
const SHIFT: usize = 6;

/// The smallest portfolio weight [`sample_dirichlet`] returns and the floor [`Dirichlet::log_prob`]
/// clamps its input to before taking logarithms: the smallest normal f32 (about 1.18e-38).
///
/// Why a floor: a Dirichlet sample with small concentrations has components far below f32's range
/// (a component with `alpha_i = 0.01` is below 1e-38 about 40% of the time), and actions stored in
/// f64 or taken from elsewhere may hold exact zeros. Cast to f32 such a component becomes 0,
/// `ln 0 = -inf`, and `(alpha_i - 1) ln x_i` turns the log-probability and its gradient into
/// infinities or NaN. Clamping at the smallest normal f32 keeps everything finite (`ln x_i >=
/// -87.3`) and changes nothing for weights above it. The sampler applies the same floor, so the
/// action the environment receives and the action `log_prob` scores are the same point. PyTorch's
/// CPU gamma sampler (`_s_gamma_cpu` in ATen's `Distributions.cpp`) likewise floors its draws at
/// the smallest normal float of their type.
///
/// The clamp biases the score of components that would have been smaller than the floor, which is
/// why [`DEFAULT_MIN_CONCENTRATION`] keeps concentrations where that is rare.
pub const WEIGHT_FLOOR: f64 = f32::MIN_POSITIVE as f64;

/// The default lower bound [`concentration_from_logits`] adds to `softplus(logits)`.
///
/// 0.1 rather than the 1e-3 sometimes seen: concentrations below 1 are useful (they let the policy
/// put almost everything on a few assets), but with `alpha_i = 1e-3` a sampled component is
/// typically `exp(-1000)` and the f32 log-probability can only see it as the
/// [`WEIGHT_FLOOR`], so the score `d log p / d alpha_i = psi(alpha_0) - psi(alpha_i) + ln x_i`
/// (with `psi(1e-3) = -1000.6`) is biased upward by hundreds, and its variance, about
/// `trigamma(alpha_i) = 1 / alpha_i^2`, is a million. Measured with concentrations
/// `(a, a, 1, 3)` over 20,000 draws: at `a = 1e-3`, 92% of the small components sit at the floor
/// and the score's mean is +918 instead of 0; at `a = 1e-2`, 42% and +43; at `a = 0.1`, 0.015%
/// and -0.06 (within its standard error of about 0.07). The tests check the last case.
pub const DEFAULT_MIN_CONCENTRATION: f64 = 0.1;

/// The default upper bound of [`concentration_from_logits`]. A Dirichlet with concentrations
/// `alpha` has `Var x_i = m_i (1 - m_i) / (alpha_0 + 1)` around its mean `m`: at 1,000 per
/// component exploration noise is already a few percent of each weight, more concentration buys
/// nothing (evaluation uses the mean anyway) and costs f32 precision in `log_prob` (see the module
/// docs), and a bound stops logits from drifting without limit.
pub const DEFAULT_MAX_CONCENTRATION: f64 = 1e3;

/// `ln Gamma(x)` element-wise for `x > 0`, from differentiable tensor ops (burn has no `lgamma`),
/// so its gradient is `digamma(x)` up to the series' truncation error.
///
/// Recurrence `Gamma(x + 1) = x Gamma(x)` applied six times, then Stirling's series at
/// `z = x + 6` (Abramowitz and Stegun 6.1.40; DLMF 5.11.1):
///
/// `ln Gamma(x) = ln Gamma(z) - sum_{k=0..5} ln(x + k)`,
/// `ln Gamma(z) ~ (z - 1/2) ln z - z + ln(2 pi) / 2 + 1/(12 z) - 1/(360 z^3) + 1/(1260 z^5)`.
///
/// The product `x (x + 1) ... (x + 5)` is taken as the sum of the logarithms of two partial
/// products, so it stays finite in f32 up to `x ~ 1e9` (concentrations are bounded far below).
/// Truncation error is below 3e-9 for every `x > 0`. Computed in the tensor's dtype: in f32 the
/// result carries rounding of about 1e-7 relative to `(z - 1/2) ln z` (measured at the test
/// points: 2.5e-6 absolute at 3.7, 1.1e-5 at 100), in f64 only the truncation error remains. Not valid for
/// `x <= 0` (NaN or infinities).
pub fn lgamma<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Shifted::new(x).lgamma()
}

/// The digamma function `psi(x) = d/dx ln Gamma(x)` element-wise for `x > 0`, from differentiable
/// tensor ops (burn has no `digamma`), so the entropy's gradient reaches the concentrations.
///
/// Recurrence `psi(x + 1) = psi(x) + 1/x` applied six times, then the asymptotic series at
/// `z = x + 6` (Abramowitz and Stegun 6.3.18; DLMF 5.11.2):
///
/// `psi(x) = psi(z) - sum_{k=0..5} 1/(x + k)`,
/// `psi(z) ~ ln z - 1/(2 z) - 1/(12 z^2) + 1/(120 z^4) - 1/(252 z^6)`.
///
/// Truncation error is below 3e-9 for every `x > 0`; in f32, rounding adds about 1e-7 relative.
/// Not valid for `x <= 0`.
pub fn digamma<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Shifted::new(x).digamma()
}

/// What [`lgamma`] and [`digamma`] of the same `x` share: the recurrence's terms through
/// `q = x (x + 5)`, and `z = x + 6` with `ln z`, `1/z` and `1/z^2`. Each tensor op here is also a
/// node of the backward pass, and on a PPO minibatch the ops, not the arithmetic, are the cost:
/// sharing and pairing terms takes a Dirichlet's log-density and entropy from about 120 ops for
/// these functions to about 80.
struct Shifted<const D: usize> {
    x: Tensor<D>,
    x_plus_5: Tensor<D>,
    q: Tensor<D>,
    z: Tensor<D>,
    log_z: Tensor<D>,
    inv: Tensor<D>,
    inv2: Tensor<D>,
}

impl<const D: usize> Shifted<D> {
    fn new(x: Tensor<D>) -> Self {
        let x_plus_5 = x.clone().add_scalar(5.0);
        let q = x.clone() * x_plus_5.clone();
        let z = x.clone().add_scalar(SHIFT as f64);
        let inv = z.clone().recip();
        let inv2 = inv.clone() * inv.clone();
        Self { log_z: z.clone().log(), x, x_plus_5, q, z, inv, inv2 }
    }

    fn lgamma(&self) -> Tensor<D> {
        // ln(x (x + 1) ... (x + 5)) = ln q + ln((q + 4) (q + 6)): two logarithms of products
        // that stay finite in f32 up to x ~ 1e9.
        let q = self.q.clone();
        let log_product = q.clone().log() + (q.clone().add_scalar(4.0) * q.add_scalar(6.0)).log();
        let inv2 = self.inv2.clone();
        // 1/(12 z) - 1/(360 z^3) + 1/(1260 z^5) = (1/z) (1/12 + (1/z^2) (-1/360 + (1/z^2) / 1260)).
        let series = self.inv.clone()
            * (inv2.clone().div_scalar(1260.0).sub_scalar(1.0 / 360.0) * inv2).add_scalar(1.0 / 12.0);
        let z = self.z.clone();
        let stirling = z.clone().sub_scalar(0.5) * self.log_z.clone() - z + series.add_scalar(HALF_LN_2PI);
        stirling - log_product
    }

    fn digamma(&self) -> Tensor<D> {
        // sum_{k=0..5} 1/(x + k), pairing k with 5 - k: each pair is (2 x + 5) / (q + c) with
        // c = 0, 4, 6.
        let q = self.q.clone();
        let reciprocal_sum = (self.x_plus_5.clone() + self.x.clone())
            * (q.clone().recip() + q.clone().add_scalar(4.0).recip() + q.add_scalar(6.0).recip());
        let inv2 = self.inv2.clone();
        // -1/(12 z^2) + 1/(120 z^4) - 1/(252 z^6) = (1/z^2) (-1/12 + (1/z^2) (1/120 - (1/z^2) / 252)).
        let series = inv2.clone()
            * (inv2.clone() * inv2.div_scalar(-252.0).add_scalar(1.0 / 120.0)).sub_scalar(1.0 / 12.0);
        self.log_z.clone() - self.inv.clone().mul_scalar(0.5) + series - reciprocal_sum
    }
}

/// A batch of Dirichlet distributions over the simplex `{x : x_i > 0, sum_i x_i = 1}` in `K`
/// dimensions (portfolio weights over cash and `K - 1` assets).
///
/// Density (e.g. Bishop, Pattern Recognition and Machine Learning, eq. 2.38; or Kotz, Balakrishnan
/// and Johnson, Continuous Multivariate Distributions, ch. 49):
/// `p(x | alpha) = prod_i x_i^(alpha_i - 1) / B(alpha)`, with
/// `B(alpha) = prod_i Gamma(alpha_i) / Gamma(alpha_0)` and `alpha_0 = sum_i alpha_i`.
#[derive(Debug, Clone)]
pub struct Dirichlet {
    /// Concentrations `alpha`, shape `[batch, K]`, every entry `> 0` (see
    /// [`concentration_from_logits`]).
    pub concentration: Tensor<2>,
}

impl Dirichlet {
    pub fn new(concentration: Tensor<2>) -> Self {
        Self { concentration }
    }

    /// The distribution a policy head's raw outputs `[batch, K]` parameterize, with
    /// [`DEFAULT_MIN_CONCENTRATION`] and [`DEFAULT_MAX_CONCENTRATION`].
    pub fn from_logits(logits: Tensor<2>) -> Self {
        Self::new(concentration_from_logits(logits, DEFAULT_MIN_CONCENTRATION, DEFAULT_MAX_CONCENTRATION))
    }

    /// Log-density of each row of `x` (shape `[batch, K]`, rows on the simplex) under the
    /// distribution of the same row, shape `[batch]`:
    ///
    /// `ln p(x | alpha) = ln Gamma(alpha_0) - sum_i ln Gamma(alpha_i) + sum_i (alpha_i - 1) ln x_i`
    ///
    /// (the log of the density in the type docs). `x` is clamped below at [`WEIGHT_FLOOR`] before
    /// the logarithm, so zeros or f32 underflow in an action give a finite value and gradient
    /// rather than infinities or NaN. Differentiable in `alpha`; `x` should be a detached sample.
    ///
    /// # Panics
    /// If `x` and the concentrations differ in shape.
    pub fn log_prob(&self, x: Tensor<2>) -> Tensor<1> {
        let terms = self.log_gamma_terms();
        self.log_prob_with(&terms, x)
    }

    /// Differential entropy of each distribution, shape `[batch]` (Kotz, Balakrishnan and
    /// Johnson, ch. 49; the same formula as PyTorch's and TensorFlow Probability's):
    ///
    /// `H = ln B(alpha) + (alpha_0 - K) psi(alpha_0) - sum_i (alpha_i - 1) psi(alpha_i)`,
    /// with `ln B(alpha) = sum_i ln Gamma(alpha_i) - ln Gamma(alpha_0)`.
    ///
    /// Negative for concentrated distributions (it is a differential entropy: `-ln 2` for the
    /// uniform distribution on the 3-simplex, whose density is 2). Differentiable in `alpha`, for
    /// an entropy bonus.
    pub fn entropy(&self) -> Tensor<1> {
        let terms = self.log_gamma_terms();
        self.entropy_with(terms)
    }

    /// [`Dirichlet::log_prob`] and [`Dirichlet::entropy`] together. Both need `ln Gamma` of every
    /// concentration and of their sum, each a chain of about twenty tensor ops (and as many again
    /// in the backward pass); computing them once saves a third of a minibatch's ops.
    pub fn log_prob_and_entropy(&self, x: Tensor<2>) -> (Tensor<1>, Tensor<1>) {
        let terms = self.log_gamma_terms();
        let log_prob = self.log_prob_with(&terms, x);
        (log_prob, self.entropy_with(terms))
    }

    fn log_gamma_terms(&self) -> LogGammaTerms {
        let alpha = Shifted::new(self.concentration.clone());
        let alpha0 = Shifted::new(self.concentration.clone().sum_dim(1));
        LogGammaTerms { sum_lgamma: alpha.lgamma().sum_dim(1), lgamma_alpha0: alpha0.lgamma(), alpha, alpha0 }
    }

    fn log_prob_with(&self, terms: &LogGammaTerms, x: Tensor<2>) -> Tensor<1> {
        let alpha = self.concentration.clone();
        assert_eq!(
            x.dims(),
            alpha.dims(),
            "Dirichlet::log_prob: x must have the concentrations' shape [batch, K]"
        );
        let log_normalizer = terms.lgamma_alpha0.clone() - terms.sum_lgamma.clone();
        let log_x = x.clamp_min(WEIGHT_FLOOR).log();
        let kernel = (alpha.sub_scalar(1.0) * log_x).sum_dim(1);
        (log_normalizer + kernel).squeeze_dim::<1>(1)
    }

    fn entropy_with(&self, terms: LogGammaTerms) -> Tensor<1> {
        let alpha = self.concentration.clone();
        let k = alpha.dims()[1] as f64;
        let log_beta = terms.sum_lgamma - terms.lgamma_alpha0;
        let total = terms.alpha0.x.clone().sub_scalar(k) * terms.alpha0.digamma();
        let per_component = (alpha.sub_scalar(1.0) * terms.alpha.digamma()).sum_dim(1);
        (log_beta + total - per_component).squeeze_dim::<1>(1)
    }

    /// The mean `E[x_i] = alpha_i / alpha_0`, shape `[batch, K]`: the deterministic action for
    /// evaluation. Rows sum to one.
    pub fn mean(&self) -> Tensor<2> {
        let alpha = self.concentration.clone();
        let alpha0 = alpha.clone().sum_dim(1);
        alpha / alpha0
    }
}

/// Per row, shape `[batch, 1]`: `sum_i ln Gamma(alpha_i)` and `ln Gamma(alpha_0)`; and the
/// shifted concentrations and their sum, from which the entropy takes its digammas.
struct LogGammaTerms {
    sum_lgamma: Tensor<2>,
    lgamma_alpha0: Tensor<2>,
    alpha: Shifted<2>,
    alpha0: Shifted<2>,
}

/// Concentrations from a policy head's raw outputs: `alpha = min(softplus(logits) + min, max)`,
/// element-wise, with `softplus(v) = ln(1 + e^v)`.
///
/// Softplus keeps `alpha > min > 0` smoothly, is close to linear for large logits (no exponential
/// blow-up as with `exp`) and has gradient `sigmoid(v)`. The clamp at `max` bounds how
/// concentrated the policy can get; its gradient is zero above `max`. Defaults:
/// [`DEFAULT_MIN_CONCENTRATION`] (0.1) and [`DEFAULT_MAX_CONCENTRATION`] (1,000), each documented
/// with its reason.
///
/// # Panics
/// Unless `0 < min < max` and both are finite.
pub fn concentration_from_logits(logits: Tensor<2>, min: f64, max: f64) -> Tensor<2> {
    assert!(
        min > 0.0 && min < max && max.is_finite(),
        "concentration bounds must satisfy 0 < min < max < inf, got min {min} and max {max}"
    );
    softplus(logits, 1.0).add_scalar(min).clamp_max(max)
}

/// Concentrations `min(c exp(log_weights) + min, max)` for an anchored network's log-weights: the
/// Dirichlet's mean is then the anchored weights (up to `min`), with total concentration `c`
/// wherever they sum to one.
pub fn concentration_from_log_weights(log_weights: Tensor<2>, c: f64, min: f64, max: f64) -> Tensor<2> {
    assert!(
        min > 0.0 && min < max && max.is_finite() && c > 0.0,
        "concentration bounds must satisfy 0 < min < max < inf and c > 0, got min {min}, max {max}, c {c}"
    );
    log_weights.exp().mul_scalar(c).add_scalar(min).clamp_max(max)
}

/// Draws one sample from `Dirichlet(concentration)` into `out` (same length `K`): weights that are
/// finite, at least [`WEIGHT_FLOOR`] and sum to one within a few f64 ulps.
///
/// Method (Devroye, Non-Uniform Random Variate Generation, 1986, section XI.4): draw independent
/// `G_i ~ Gamma(alpha_i, 1)` and return `G / sum_j G_j`. The draws are made in log space: for
/// `alpha_i < 1`, `ln G_i = ln G'_i + ln(U) / alpha_i` with `G'_i ~ Gamma(alpha_i + 1, 1)` and
/// `U ~ Uniform(0, 1)` (Marsaglia and Tsang 2000, section 6), and the normalization is a
/// softmax over `ln G`. So tiny concentrations (1e-3 and below), whose gamma draws underflow even
/// f64 (`U^(1/alpha)` is typically `exp(-1000)`), keep their exact distribution: nearly all mass
/// on one component, chosen at random, rather than 0/0 or a fallback. The result is then floored at [`WEIGHT_FLOOR`] (a change of at
/// most `K * 1.2e-38` to the sum); if every log-draw were non-finite, which does not happen for
/// valid concentrations, the mean `alpha / alpha_0` is returned instead.
///
/// # Panics
/// If the lengths differ, `K` is zero, or a concentration is not positive and finite.
pub fn sample_dirichlet(concentration: &[f32], rng: &mut impl Rng, out: &mut [f64]) {
    assert_eq!(
        concentration.len(),
        out.len(),
        "sample_dirichlet: concentration and out must have the same length"
    );
    assert!(!concentration.is_empty(), "sample_dirichlet: need at least one component");
    let mut max_log = f64::NEG_INFINITY;
    for (slot, &alpha) in out.iter_mut().zip(concentration) {
        let alpha = f64::from(alpha);
        assert!(
            alpha > 0.0 && alpha.is_finite(),
            "Dirichlet concentrations must be positive and finite, got {alpha}"
        );
        let log_gamma_draw = if alpha < 1.0 {
            let boosted: f64 = Gamma::new(alpha + 1.0, 1.0).expect("shape above 1 is valid").sample(rng);
            let u: f64 = Open01.sample(rng);
            boosted.ln() + u.ln() / alpha
        } else {
            let draw: f64 = Gamma::new(alpha, 1.0).expect("shape of at least 1 is valid").sample(rng);
            draw.ln()
        };
        *slot = log_gamma_draw;
        if log_gamma_draw > max_log {
            max_log = log_gamma_draw;
        }
    }
    if !max_log.is_finite() {
        let total: f64 = concentration.iter().map(|&a| f64::from(a)).sum();
        for (slot, &alpha) in out.iter_mut().zip(concentration) {
            *slot = (f64::from(alpha) / total).max(WEIGHT_FLOOR);
        }
        return;
    }
    let mut sum = 0.0;
    for slot in out.iter_mut() {
        *slot = (*slot - max_log).exp();
        sum += *slot;
    }
    for slot in out.iter_mut() {
        *slot = (*slot / sum).max(WEIGHT_FLOOR);
    }
}

/// `ln Gamma(x)`, its derivative `psi(x)` and second derivative `psi'(x)` (trigamma) at one
/// `x > 0`, in f64 on the host: what a Dirichlet's log-density, its entropy and their gradients
/// need of each concentration.
///
/// The same recurrence as [`lgamma`] and [`digamma`] (six steps up to `z = x + 6`), then the
/// asymptotic series there (Abramowitz and Stegun 6.1.40, 6.3.18 and 6.4.12; DLMF 5.11.1-2 and
/// 5.15.8), with trigamma's `psi'(x) = psi'(z) + sum_{k=0..5} 1/(x + k)^2` and
/// `psi'(z) ~ 1/z + 1/(2 z^2) + 1/(6 z^3) - 1/(30 z^5) + 1/(42 z^7) - 1/(30 z^9)`.
/// Truncation error at `z >= 6` is below 3e-9 for each (the first omitted terms). Not valid for
/// `x <= 0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaTerms {
    pub ln_gamma: f64,
    pub digamma: f64,
    pub trigamma: f64,
}

impl GammaTerms {
    pub fn at(x: f64) -> Self {
        let mut product = 1.0;
        let mut reciprocals = 0.0;
        let mut squared_reciprocals = 0.0;
        for k in 0..SHIFT {
            let term = x + k as f64;
            product *= term;
            let inverse = 1.0 / term;
            reciprocals += inverse;
            squared_reciprocals += inverse * inverse;
        }
        let z = x + SHIFT as f64;
        let ln_z = z.ln();
        let inv = 1.0 / z;
        let inv2 = inv * inv;
        let ln_gamma =
            (z - 0.5) * ln_z - z + HALF_LN_2PI + inv * (1.0 / 12.0 + inv2 * (-1.0 / 360.0 + inv2 / 1260.0))
                - product.ln();
        let digamma =
            ln_z - 0.5 * inv + inv2 * (-1.0 / 12.0 + inv2 * (1.0 / 120.0 - inv2 / 252.0)) - reciprocals;
        let trigamma = inv
            + inv2 * (0.5 + inv * (1.0 / 6.0 + inv2 * (-1.0 / 30.0 + inv2 * (1.0 / 42.0 - inv2 / 30.0))))
            + squared_reciprocals;
        Self { ln_gamma, digamma, trigamma }
    }
}

/// One Dirichlet's log-density at `x` and its entropy, with their gradients in the
/// concentrations, on the host in f64: the closed forms of what [`Dirichlet::log_prob`] and
/// [`Dirichlet::entropy`] compute on tensors, for a training step that differentiates its loss
/// by hand and hands only `d loss / d scores` to autodiff.
///
/// With `alpha_0 = sum_i alpha_i` and `K` components:
/// - `d ln p / d alpha_i = psi(alpha_0) - psi(alpha_i) + ln x_i`;
/// - `d H / d alpha_i = (alpha_0 - K) psi'(alpha_0) - (alpha_i - 1) psi'(alpha_i)`.
///
/// `x` is clamped below at [`WEIGHT_FLOOR`], as in [`Dirichlet::log_prob`]. Returns
/// `(ln p, H)` and writes the two gradients into the slices of `alpha`'s length.
pub fn log_prob_and_entropy_with_gradients(
    alpha: &[f64],
    x: &[f32],
    d_log_prob: &mut [f64],
    d_entropy: &mut [f64],
) -> (f64, f64) {
    debug_assert!(
        alpha.len() == x.len() && alpha.len() == d_log_prob.len() && alpha.len() == d_entropy.len()
    );
    let k = alpha.len() as f64;
    let alpha0: f64 = alpha.iter().sum();
    let total = GammaTerms::at(alpha0);
    let (mut sum_ln_gamma, mut kernel, mut weighted_digamma) = (0.0, 0.0, 0.0);
    for (i, (&a, &xi)) in alpha.iter().zip(x).enumerate() {
        let terms = GammaTerms::at(a);
        let ln_x = f64::from(xi).max(WEIGHT_FLOOR).ln();
        sum_ln_gamma += terms.ln_gamma;
        kernel += (a - 1.0) * ln_x;
        weighted_digamma += (a - 1.0) * terms.digamma;
        d_log_prob[i] = total.digamma - terms.digamma + ln_x;
        d_entropy[i] = (alpha0 - k) * total.trigamma - (a - 1.0) * terms.trigamma;
    }
    let log_prob = total.ln_gamma - sum_ln_gamma + kernel;
    let entropy = sum_ln_gamma - total.ln_gamma + (alpha0 - k) * total.digamma - weighted_digamma;
    (log_prob, entropy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::DType;
    use rand::{SeedableRng, rngs::StdRng};

    fn device() -> Device {
        Device::default()
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
        t.into_data().try_into_vec::<f32>().expect("f32 tensor").into_iter().map(f64::from).collect()
    }

    fn tensor1(v: &[f64], device: &Device) -> Tensor<1> {
        let data: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        Tensor::<1>::from_data(TensorData::new(data, [v.len()]), device)
    }

    fn tensor2(rows: &[Vec<f64>], device: &Device) -> Tensor<2> {
        let k = rows[0].len();
        let data: Vec<f32> = rows.iter().flat_map(|r| r.iter().map(|&x| x as f32)).collect();
        Tensor::<2>::from_data(TensorData::new(data, [rows.len(), k]), device)
    }

    fn assert_close(got: f64, expected: f64, rel: f64, what: &str) {
        let tol = rel * expected.abs().max(1.0);
        assert!(
            (got - expected).abs() <= tol,
            "{what}: got {got}, expected {expected} (|diff| {} > {tol})",
            (got - expected).abs()
        );
    }

    /// Reference `ln Gamma` in f64, independent of the tensor code: the Lanczos approximation with
    /// g = 7 and Paul Godfrey's nine coefficients (relative error ~1e-15; checked below).
    fn ln_gamma_ref(x: f64) -> f64 {
        const G: f64 = 7.0;
        const COEF: [f64; 9] = [
            0.999_999_999_999_809_9,
            676.520_368_121_885_1,
            -1_259.139_216_722_402_8,
            771.323_428_777_653_1,
            -176.615_029_162_140_6,
            12.507_343_278_686_905,
            -0.138_571_095_265_720_12,
            9.984_369_578_019_572e-6,
            1.505_632_735_149_311_6e-7,
        ];
        if x < 0.5 {
            return ln_gamma_ref(x + 1.0) - x.ln();
        }
        let x = x - 1.0;
        let mut series = COEF[0];
        for (i, c) in COEF.iter().enumerate().skip(1) {
            series += c / (x + i as f64);
        }
        let t = x + G + 0.5;
        HALF_LN_2PI + (x + 0.5) * t.ln() - t + series.ln()
    }

    /// Reference Dirichlet log-density in f64.
    fn log_density_ref(alpha: &[f64], x: &[f64]) -> f64 {
        let alpha0: f64 = alpha.iter().sum();
        let mut value = ln_gamma_ref(alpha0);
        for (&a, &xi) in alpha.iter().zip(x) {
            value += (a - 1.0) * xi.ln() - ln_gamma_ref(a);
        }
        value
    }

    // Known values (mpmath at 30 digits, rounded to f64), as (x, ln Gamma(x), psi(x)).
    const KNOWN: [(f64, f64, f64); 8] = [
        (0.5, 0.5723649429247001, -1.9635100260214235),
        (1.0, 0.0, -0.5772156649015329),
        (2.0, 0.0, 0.42278433509846713),
        (3.7, 1.428072326665388, 1.1671535393615114),
        (10.0, 12.801827480081469, 2.251752589066721),
        (100.0, 359.1342053695754, 4.600161852738087),
        (0.1, 2.252712651734206, -10.423754940411076),
        (1e-3, 6.907178885383854, -1000.5755719318103),
    ];

    #[test]
    fn reference_ln_gamma_is_accurate() {
        for &(x, expected, _) in &KNOWN {
            assert_close(ln_gamma_ref(x), expected, 1e-12, &format!("reference lgamma({x})"));
        }
    }

    #[test]
    fn lgamma_matches_known_values() {
        let xs: Vec<f64> = KNOWN.iter().map(|k| k.0).collect();
        let got = values(lgamma(tensor1(&xs, &device())));
        for (&(x, expected, _), &g) in KNOWN.iter().zip(&got) {
            assert_close(g, expected, 1e-5, &format!("lgamma({x})"));
        }
    }

    #[test]
    fn host_gamma_terms_match_references() {
        use statrs::function::gamma::{digamma, ln_gamma};
        // Trigamma at closed-form points: pi^2 / 6 at 1, pi^2 / 2 at 1/2, pi^2 / 6 - 1 at 2.
        let pi2 = std::f64::consts::PI.powi(2);
        for (x, expected) in [(1.0, pi2 / 6.0), (0.5, pi2 / 2.0), (2.0, pi2 / 6.0 - 1.0)] {
            let got = GammaTerms::at(x).trigamma;
            assert!((got - expected).abs() < 1e-9, "trigamma({x}) = {got}, expected {expected}");
        }
        for x in [0.1, 0.37, 1.0, 2.5, 7.3, 42.0, 999.0, 21_000.0] {
            let terms = GammaTerms::at(x);
            // The series' truncation bound, 3e-9, plus rounding of the larger values.
            let tolerance = 3e-9 + 1e-14 * ln_gamma(x).abs();
            assert!(
                (terms.ln_gamma - ln_gamma(x)).abs() < tolerance,
                "ln_gamma({x}): {} vs {}",
                terms.ln_gamma,
                ln_gamma(x)
            );
            assert!(
                (terms.digamma - digamma(x)).abs() < 3e-9,
                "digamma({x}): {} vs {}",
                terms.digamma,
                digamma(x)
            );
            // Trigamma as digamma's derivative, by central differences.
            let h = 1e-4 * x;
            let slope = (digamma(x + h) - digamma(x - h)) / (2.0 * h);
            assert!(
                (terms.trigamma - slope).abs() < 1e-5 * slope.abs(),
                "trigamma({x}): {} vs {slope}",
                terms.trigamma
            );
        }
    }

    #[test]
    fn digamma_matches_known_values() {
        let xs: Vec<f64> = KNOWN.iter().map(|k| k.0).collect();
        let got = values(digamma(tensor1(&xs, &device())));
        for (&(x, _, expected), &g) in KNOWN.iter().zip(&got) {
            assert_close(g, expected, 1e-5, &format!("digamma({x})"));
        }
    }

    /// In f64 the only error left is the series' truncation (bounded by 3e-9): this pins down
    /// every term of both series, which f32 rounding would hide (the last terms are ~1e-7).
    #[test]
    fn series_truncation_error_is_below_3e_9_in_f64() {
        let xs: Vec<f64> = KNOWN.iter().map(|k| k.0).collect();
        let t = Tensor::<1>::from_data(TensorData::new(xs, [KNOWN.len()]), (&device(), DType::F64));
        let lg: Vec<f64> = lgamma(t.clone()).into_data().try_into_vec::<f64>().expect("f64 tensor");
        let dg: Vec<f64> = digamma(t).into_data().try_into_vec::<f64>().expect("f64 tensor");
        for (&(x, lgamma_x, digamma_x), (&l, &d)) in KNOWN.iter().zip(lg.iter().zip(&dg)) {
            assert!((l - lgamma_x).abs() < 3e-9, "f64 lgamma({x}) = {l}, expected {lgamma_x}");
            assert!((d - digamma_x).abs() < 3e-9, "f64 digamma({x}) = {d}, expected {digamma_x}");
        }
    }

    #[test]
    fn lgamma_and_digamma_work_at_any_rank() {
        let xs = [0.5, 3.7, 10.0, 100.0];
        let data: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
        let t = Tensor::<3>::from_data(TensorData::new(data, [2, 1, 2]), &device());
        let lg = values(lgamma(t.clone()));
        let dg = values(digamma(t));
        for (i, &x) in xs.iter().enumerate() {
            let known = KNOWN.iter().find(|k| k.0 == x).expect("known value");
            assert_close(lg[i], known.1, 1e-5, &format!("rank-3 lgamma({x})"));
            assert_close(dg[i], known.2, 1e-5, &format!("rank-3 digamma({x})"));
        }
    }

    #[test]
    fn lgamma_gradient_is_digamma() {
        let device = device().autodiff();
        let xs = [0.05, 0.5, 1.0, 2.5, 7.0, 40.0];
        let x = tensor1(&xs, &device).require_grad();
        let grads = lgamma(x.clone()).sum().backward();
        let grad = values(x.grad(&grads).expect("gradient of x"));
        let expected = values(digamma(tensor1(&xs, &Device::default())));
        for ((&x, &g), &e) in xs.iter().zip(&grad).zip(&expected) {
            assert_close(g, e, 1e-4, &format!("d lgamma / dx at {x}"));
        }
    }

    #[test]
    fn log_prob_of_beta_matches_closed_form() {
        // K = 2 is the Beta distribution of x_0. Beta(2, 3): 1/B = Gamma(5)/(Gamma(2) Gamma(3)) = 12.
        // Beta(1/2, 1/2): the arcsine density 1/(pi sqrt(x (1 - x))).
        let alpha = vec![vec![2.0, 3.0], vec![0.5, 0.5]];
        let x = vec![vec![0.3, 0.7], vec![0.25, 0.75]];
        let expected =
            [(12.0 * 0.3 * 0.7f64 * 0.7).ln(), -std::f64::consts::PI.ln() - 0.5 * (0.25f64 * 0.75).ln()];
        let dist = Dirichlet::new(tensor2(&alpha, &device()));
        let got = values(dist.log_prob(tensor2(&x, &device())));
        for (i, (&g, &e)) in got.iter().zip(&expected).enumerate() {
            assert_close(g, e, 1e-5, &format!("Beta log_prob row {i}"));
        }
    }

    #[test]
    fn log_prob_for_three_components_matches_closed_form() {
        // alpha = (2, 3, 4): Gamma(9) / (Gamma(2) Gamma(3) Gamma(4)) = 40320 / 12 = 3360.
        // alpha = (1/2, 3/2, 5/2): Gamma(9/2) / (Gamma(1/2) Gamma(3/2) Gamma(5/2))
        //   = (105 sqrt(pi) / 16) / (sqrt(pi) (sqrt(pi) / 2) (3 sqrt(pi) / 4)) = 17.5 / pi.
        let alpha = vec![vec![2.0, 3.0, 4.0], vec![0.5, 1.5, 2.5]];
        let x = vec![vec![0.2, 0.3, 0.5], vec![0.1, 0.3, 0.6]];
        let pi = std::f64::consts::PI;
        let expected = [
            (3360.0 * 0.2 * 0.3f64.powi(2) * 0.5f64.powi(3)).ln(),
            (17.5 / pi * 0.1f64.powf(-0.5) * 0.3f64.powf(0.5) * 0.6f64.powf(1.5)).ln(),
        ];
        let dist = Dirichlet::new(tensor2(&alpha, &device()));
        let got = values(dist.log_prob(tensor2(&x, &device())));
        for (i, (&g, &e)) in got.iter().zip(&expected).enumerate() {
            assert_close(g, e, 1e-5, &format!("K=3 log_prob row {i}"));
            assert_close(e, log_density_ref(&alpha[i], &x[i]), 1e-12, "reference density");
        }
    }

    #[test]
    fn log_prob_of_uniform_is_ln_2_everywhere() {
        let x = vec![
            vec![1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0],
            vec![0.98, 0.01, 0.01],
            vec![0.1, 0.2, 0.7],
            vec![0.5, 0.5, 0.0],
        ];
        let dist = Dirichlet::new(Tensor::<2>::ones([x.len(), 3], &device()));
        for (i, g) in values(dist.log_prob(tensor2(&x, &device()))).into_iter().enumerate() {
            assert_close(g, std::f64::consts::LN_2, 1e-5, &format!("uniform log_prob row {i}"));
        }
    }

    #[test]
    fn log_prob_is_finite_for_zero_weights() {
        let alpha = vec![vec![0.3, 2.0, 5.0]];
        let x = vec![vec![0.0, 0.4, 0.6]];
        let dist = Dirichlet::new(tensor2(&alpha, &device()));
        let got = values(dist.log_prob(tensor2(&x, &device())))[0];
        let expected = log_density_ref(&alpha[0], &[WEIGHT_FLOOR, 0.4, 0.6]);
        assert!(got.is_finite(), "log_prob at a zero weight must be finite, got {got}");
        assert_close(got, expected, 1e-5, "log_prob with the zero clamped at the floor");
    }

    #[test]
    fn log_prob_gradient_matches_finite_differences_and_digamma() {
        let alpha = vec![vec![0.7, 1.3, 2.5], vec![3.0, 0.4, 1.1], vec![20.0, 5.0, 0.2]];
        let x = vec![vec![0.2, 0.5, 0.3], vec![0.6, 0.05, 0.35], vec![0.75, 0.2, 0.05]];
        let device = device().autodiff();
        let alpha_t = tensor2(&alpha, &device).require_grad();
        let dist = Dirichlet::new(alpha_t.clone());
        let grads = dist.log_prob(tensor2(&x, &device)).sum().backward();
        let grad = values(alpha_t.grad(&grads).expect("gradient of alpha"));

        // Analytic: d ln p / d alpha_i = psi(alpha_0) - psi(alpha_i) + ln x_i.
        let plain = Device::default();
        let alpha_plain = tensor2(&alpha, &plain);
        let psi = values(digamma(alpha_plain.clone()));
        let psi0 = values(digamma(alpha_plain.sum_dim(1)));

        for (r, (a, xr)) in alpha.iter().zip(&x).enumerate() {
            for i in 0..a.len() {
                let h = 1e-6 * a[i];
                let (mut up, mut down) = (a.clone(), a.clone());
                up[i] += h;
                down[i] -= h;
                let fd = (log_density_ref(&up, xr) - log_density_ref(&down, xr)) / (2.0 * h);
                let g = grad[r * a.len() + i];
                assert_close(g, fd, 1e-3, &format!("autodiff vs finite differences, row {r} component {i}"));
                let analytic = psi0[r] - psi[r * a.len() + i] + xr[i].ln();
                assert_close(g, analytic, 1e-4, &format!("autodiff vs digamma, row {r} component {i}"));
            }
        }
    }

    #[test]
    fn joint_log_prob_and_entropy_equal_the_separate_ones_and_their_gradients() {
        let alpha = vec![vec![0.7, 1.3, 2.5], vec![3.0, 0.4, 1.1]];
        let x = vec![vec![0.2, 0.5, 0.3], vec![0.6, 0.05, 0.35]];
        let device = device().autodiff();
        let gradient = |joint: bool| {
            let alpha_t = tensor2(&alpha, &device).require_grad();
            let dist = Dirichlet::new(alpha_t.clone());
            let (log_prob, entropy) = if joint {
                dist.log_prob_and_entropy(tensor2(&x, &device))
            } else {
                (dist.log_prob(tensor2(&x, &device)), dist.entropy())
            };
            let (lp, h) = (values(log_prob.clone()), values(entropy.clone()));
            let grads = (log_prob - entropy.mul_scalar(0.3)).sum().backward();
            (lp, h, values(alpha_t.grad(&grads).expect("gradient of alpha")))
        };
        let (joint, separate) = (gradient(true), gradient(false));
        assert_eq!((&joint.0, &joint.1), (&separate.0, &separate.1));
        // The shared terms' gradients are summed in another order: equal up to f32 rounding.
        for (j, s) in joint.2.iter().zip(&separate.2) {
            assert_close(*j, *s, 1e-5, "gradient of the joint vs the separate computation");
        }
    }

    #[test]
    fn entropy_of_uniform_is_minus_ln_2() {
        let dist = Dirichlet::new(Tensor::<2>::ones([2, 3], &device()));
        for h in values(dist.entropy()) {
            assert_close(h, -std::f64::consts::LN_2, 1e-5, "entropy of Dirichlet(1, 1, 1)");
        }
    }

    #[test]
    fn entropy_matches_monte_carlo() {
        let alphas = vec![vec![2.0, 3.0, 5.0], vec![4.0, 1.5, 2.0, 8.0, 3.0]];
        let mut rng = StdRng::seed_from_u64(7);
        for alpha in &alphas {
            let dist = Dirichlet::new(tensor2(std::slice::from_ref(alpha), &device()));
            let entropy = values(dist.entropy())[0];
            let alpha_f32: Vec<f32> = alpha.iter().map(|&a| a as f32).collect();
            let mut x = vec![0.0; alpha.len()];
            let n = 20_000;
            let mut total = 0.0;
            for _ in 0..n {
                sample_dirichlet(&alpha_f32, &mut rng, &mut x);
                total -= log_density_ref(alpha, &x);
            }
            let estimate = total / n as f64;
            assert!(
                (entropy - estimate).abs() < 0.05,
                "entropy of Dirichlet{alpha:?}: formula {entropy}, Monte Carlo {estimate}"
            );
        }
    }

    #[test]
    fn mean_is_alpha_over_alpha0() {
        let alpha = vec![vec![2.0, 3.0, 5.0], vec![0.1, 0.1, 1.8]];
        let got = values(Dirichlet::new(tensor2(&alpha, &device())).mean());
        let expected = [0.2, 0.3, 0.5, 0.05, 0.05, 0.9];
        for (&g, &e) in got.iter().zip(&expected) {
            assert_close(g, e, 1e-6, "Dirichlet mean");
        }
    }

    #[test]
    fn sampler_mean_matches_and_draws_sum_to_one() {
        let mut rng = StdRng::seed_from_u64(11);
        for alpha in [vec![2.0f32, 3.0, 5.0], vec![0.2, 0.5, 1.3]] {
            let alpha0: f64 = alpha.iter().map(|&a| f64::from(a)).sum();
            let n = 20_000;
            let mut x = vec![0.0; alpha.len()];
            let mut mean = vec![0.0; alpha.len()];
            for _ in 0..n {
                sample_dirichlet(&alpha, &mut rng, &mut x);
                let sum: f64 = x.iter().sum();
                assert!((sum - 1.0).abs() < 1e-12, "draw {x:?} sums to {sum}");
                assert!(x.iter().all(|&v| v.is_finite() && v > 0.0), "draw {x:?} not finite and positive");
                for (m, &v) in mean.iter_mut().zip(&x) {
                    *m += v / n as f64;
                }
            }
            for (i, (&m, &a)) in mean.iter().zip(&alpha).enumerate() {
                let expected = f64::from(a) / alpha0;
                assert!(
                    (m - expected).abs() < 0.01,
                    "alpha {alpha:?}: mean of component {i} is {m}, expected {expected}"
                );
            }
        }
    }

    #[test]
    fn sampler_handles_tiny_concentrations() {
        let mut rng = StdRng::seed_from_u64(3);
        let n = 2_000;
        for alpha in [vec![1e-3f32; 4], vec![1e-3, 1e-3, 5.0]] {
            let mut x = vec![0.0; alpha.len()];
            let mut wins = vec![0usize; alpha.len()];
            let mut nearly_vertex = 0usize;
            for _ in 0..n {
                sample_dirichlet(&alpha, &mut rng, &mut x);
                let sum: f64 = x.iter().sum();
                assert!((sum - 1.0).abs() < 1e-12, "draw {x:?} sums to {sum}");
                assert!(x.iter().all(|&v| v.is_finite() && v >= WEIGHT_FLOOR), "draw {x:?} below the floor");
                let (argmax, &max) =
                    x.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("nonempty");
                wins[argmax] += 1;
                if max > 0.99 {
                    nearly_vertex += 1;
                }
            }
            if alpha.iter().all(|&a| a == 1e-3) {
                // Symmetric and tiny: (almost) all mass on one component, each chosen about 1/4 of
                // the time; not the mean (1/4, 1/4, 1/4, 1/4). About 1.3% of draws put more than
                // 1% on a second component (two uniforms within a factor 0.01^(1/1000) of each other).
                assert!(nearly_vertex >= n * 97 / 100, "only {nearly_vertex} of {n} draws near a vertex");
                for (i, &w) in wins.iter().enumerate() {
                    assert!(
                        (350..650).contains(&w),
                        "component {i} won {w} of {n} draws, expected about 500"
                    );
                }
            } else {
                // The component with alpha = 5 takes essentially everything (mean 0.9996).
                assert!(wins[2] >= n * 99 / 100, "the alpha = 5 component won only {} of {n} draws", wins[2]);
            }
        }
    }

    #[test]
    #[should_panic(expected = "positive and finite")]
    fn sampler_rejects_zero_concentration() {
        let mut rng = StdRng::seed_from_u64(0);
        let mut x = [0.0; 2];
        sample_dirichlet(&[0.0, 1.0], &mut rng, &mut x);
    }

    /// The score `d ln p(x) / d alpha` has mean zero under the distribution; with the sampler, the
    /// f32 cast, the clamp and the autodiff of `lgamma` in the loop, this is what makes the
    /// policy gradient unbiased. At the default minimum concentration it must hold.
    #[test]
    fn score_has_mean_zero_at_the_minimum_concentration() {
        let alpha = [DEFAULT_MIN_CONCENTRATION as f32, DEFAULT_MIN_CONCENTRATION as f32, 1.0, 3.0];
        let k = alpha.len();
        let n = 20_000;
        let mut rng = StdRng::seed_from_u64(5);
        let mut draws = Vec::with_capacity(n * k);
        let mut x = vec![0.0; k];
        for _ in 0..n {
            sample_dirichlet(&alpha, &mut rng, &mut x);
            draws.extend(x.iter().map(|&v| v as f32));
        }
        let device = device().autodiff();
        let alpha_rows: Vec<f32> = alpha.iter().copied().cycle().take(n * k).collect();
        let alpha_t = Tensor::<2>::from_data(TensorData::new(alpha_rows, [n, k]), &device).require_grad();
        let x_t = Tensor::<2>::from_data(TensorData::new(draws, [n, k]), &device);
        let grads = Dirichlet::new(alpha_t.clone()).log_prob(x_t).sum().backward();
        let score = values(alpha_t.grad(&grads).expect("gradient of alpha"));
        for (i, a) in alpha.iter().enumerate() {
            let column: Vec<f64> = score.iter().skip(i).step_by(k).copied().collect();
            let mean = column.iter().sum::<f64>() / n as f64;
            let var = column.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            let standard_error = (var / n as f64).sqrt();
            assert!(
                mean.abs() < 4.0 * standard_error,
                "score of component {i} (alpha {a}) has mean {mean}, standard error {standard_error}"
            );
        }
    }

    #[test]
    fn concentrations_from_logits_are_bounded_and_monotone() {
        let logits = [-1e4, -100.0, -5.0, 0.0, 5.0, 100.0, 1e4];
        let t = Tensor::<2>::from_data(
            TensorData::new(logits.map(|v| v as f32).to_vec(), [1, logits.len()]),
            &device(),
        );
        let alpha =
            values(concentration_from_logits(t, DEFAULT_MIN_CONCENTRATION, DEFAULT_MAX_CONCENTRATION));
        for (&l, &a) in logits.iter().zip(&alpha) {
            assert!(a.is_finite(), "alpha({l}) = {a}");
            assert!(a >= DEFAULT_MIN_CONCENTRATION * (1.0 - 1e-6), "alpha({l}) = {a} below the minimum");
            assert!(a <= DEFAULT_MAX_CONCENTRATION, "alpha({l}) = {a} above the maximum");
        }
        assert!(alpha.windows(2).all(|w| w[0] <= w[1]), "not monotone: {alpha:?}");
        assert_close(alpha[3], std::f64::consts::LN_2 + DEFAULT_MIN_CONCENTRATION, 1e-6, "softplus(0) + min");
        assert_close(
            alpha[4],
            (1.0 + 5f64.exp()).ln() + DEFAULT_MIN_CONCENTRATION,
            1e-6,
            "softplus(5) + min",
        );
        assert_eq!(alpha[6], DEFAULT_MAX_CONCENTRATION, "large logits clamp at the maximum");
    }
}
