//! An MLP's forward and backward passes on host memory, for the CPU backend.
//!
//! Why: PPO with Stable-Baselines3's shape of work trains a 64-64 tanh MLP on minibatches of 64
//! rows. Through burn each minibatch is about thirty tensor operations forward and as many
//! backward, each recorded on the autodiff graph and allocating its result; on matrices this
//! small that bookkeeping costs as much as the arithmetic (`docs/performance.md` has the
//! profile). Here a layer is one matrix product (gemm, the crate burn's CPU backend itself calls)
//! and one pass over its outputs, and backpropagation is the chain rule written out for this one
//! architecture.
//!
//! The network stays a burn module: these are copies of its weights, made for a rollout or a
//! round of minibatches and refreshed after each optimizer step, and the gradients go back as
//! burn's [`GradientsParams`] to burn's optimizer API.
//! A test holds the gradients to burn's autodiff on the same network and loss.

use burn::module::ParamId;
use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::prelude::*;

use crate::agent::network::{Anchor, PolicyNet};
use crate::agent::{host_values, to_host};

/// A stack of linear layers with tanh between them (none after the last), on the host.
pub struct HostStack {
    layers: Vec<HostLinear>,
}

struct HostLinear {
    /// `[inputs][outputs]`, burn's layout.
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
    weight_id: ParamId,
    /// `None` for a layer built without bias: its zeros get no gradient.
    bias_id: Option<ParamId>,
}

impl HostLinear {
    fn new(linear: &Linear) -> Self {
        let [inputs, outputs] = linear.weight.val().dims();
        let (bias, bias_id) = match &linear.bias {
            Some(bias) => (to_host(bias.val()), Some(bias.id)),
            None => (vec![0.0; outputs], None),
        };
        Self {
            weight: to_host(linear.weight.val()),
            bias,
            inputs,
            outputs,
            weight_id: linear.weight.id,
            bias_id,
        }
    }

    /// The layer's current weights, copied into the buffers this copy already holds.
    fn refresh(&mut self, linear: &Linear) {
        copy_values(linear.weight.val(), &mut self.weight);
        if let Some(bias) = &linear.bias {
            copy_values(bias.val(), &mut self.bias);
        }
    }

    /// `x W + b` for one row, row by row of `W` so the inner loop runs over contiguous outputs
    /// (vectorized): for a single observation this beats a gemm call's setup.
    #[inline(always)]
    fn forward_row(&self, x: &[f32], out: &mut Vec<f32>) {
        out.clear();
        out.extend_from_slice(&self.bias);
        for (&xi, row) in x.iter().zip(self.weight.chunks_exact(self.outputs)) {
            for (o, &w) in out.iter_mut().zip(row) {
                *o += xi * w;
            }
        }
    }
}

fn copy_values<const D: usize>(tensor: Tensor<D>, into: &mut [f32]) {
    let data = tensor.into_data();
    match data.as_slice::<f32>() {
        Ok(values) => into.copy_from_slice(values),
        // Bytes not aligned for f32 (deserialized, say): through an aligned copy.
        Err(_) => into.copy_from_slice(&host_values(data)),
    }
}

/// What a batched forward pass keeps for the backward pass.
pub struct Tape {
    rows: usize,
    /// Each hidden layer's tanh outputs, `[rows][width]`.
    hidden: Vec<Vec<f32>>,
    /// The last layer's outputs, `[rows][outputs]`.
    pub output: Vec<f32>,
}

/// One parameter's gradient, in burn's shape for it.
#[derive(Clone)]
pub enum ParamGradient {
    Weight { id: ParamId, shape: [usize; 2], values: Vec<f32> },
    Bias { id: ParamId, values: Vec<f32> },
}

impl HostStack {
    fn new<'a>(layers: impl IntoIterator<Item = &'a Linear>) -> Self {
        Self { layers: layers.into_iter().map(HostLinear::new).collect() }
    }

    /// Outputs per row.
    pub fn outputs(&self) -> usize {
        self.layers.last().expect("a stack has an output layer").outputs
    }

    #[inline(always)]
    fn forward_row(&self, x: &[f32], out: &mut [f32]) {
        let (mut current, mut next) = (x.to_vec(), Vec::new());
        let (last, hidden) = self.layers.split_last().expect("a stack has an output layer");
        for layer in hidden {
            layer.forward_row(&current, &mut next);
            next.iter_mut().for_each(|h| *h = tanh_vectorizable(*h));
            std::mem::swap(&mut current, &mut next);
        }
        last.forward_row(&current, &mut next);
        out.copy_from_slice(&next);
    }

    /// The outputs for `rows` observations (`x`: `[rows][inputs]`), and what backward needs.
    pub fn forward(&self, x: &[f32], rows: usize) -> Tape {
        let mut hidden: Vec<Vec<f32>> = Vec::with_capacity(self.layers.len() - 1);
        let mut output = Vec::new();
        for (index, layer) in self.layers.iter().enumerate() {
            let input = if index == 0 { x } else { &hidden[index - 1] };
            let mut z: Vec<f32> = Vec::with_capacity(rows * layer.outputs);
            for _ in 0..rows {
                z.extend_from_slice(&layer.bias);
            }
            let weight = Matrix::rows(&layer.weight, layer.inputs, layer.outputs);
            multiply_add(&mut z, Matrix::rows(input, rows, layer.inputs), weight);
            if index + 1 < self.layers.len() {
                tanh_in_place(&mut z);
                hidden.push(z);
            } else {
                output = z;
            }
        }
        Tape { rows, hidden, output }
    }

    /// Gradients of a loss with respect to every parameter, given the loss's gradient with
    /// respect to the outputs of [`HostStack::forward`] on the same `x` (`d_output`:
    /// `[rows][outputs]`).
    pub fn backward(&self, x: &[f32], tape: &Tape, d_output: &[f32]) -> Vec<ParamGradient> {
        let rows = tape.rows;
        assert_eq!(d_output.len(), rows * self.outputs(), "one gradient per output");
        let mut gradients = Vec::with_capacity(2 * self.layers.len());
        // d loss / d (pre-activation outputs) of the layer being differentiated.
        let mut delta = d_output.to_vec();
        for (index, layer) in self.layers.iter().enumerate().rev() {
            let input = if index == 0 { x } else { &tape.hidden[index - 1] };
            let delta_matrix = Matrix::rows(&delta, rows, layer.outputs);
            // dL/dW = input^T delta; dL/db = the column sums of delta.
            let mut d_weight = vec![0.0; layer.inputs * layer.outputs];
            multiply_add(&mut d_weight, Matrix::rows(input, rows, layer.inputs).transposed(), delta_matrix);
            gradients.push(ParamGradient::Weight {
                id: layer.weight_id,
                shape: [layer.inputs, layer.outputs],
                values: d_weight,
            });
            if let Some(id) = layer.bias_id {
                let mut d_bias = vec![0.0; layer.outputs];
                for row in delta.chunks_exact(layer.outputs) {
                    d_bias.iter_mut().zip(row).for_each(|(d, &g)| *d += g);
                }
                gradients.push(ParamGradient::Bias { id, values: d_bias });
            }
            if index > 0 {
                // Through the layer (delta W^T) and the tanh before it (1 - tanh^2).
                let mut d_hidden = vec![0.0; rows * layer.inputs];
                let weight = Matrix::rows(&layer.weight, layer.inputs, layer.outputs).transposed();
                multiply_add(&mut d_hidden, delta_matrix, weight);
                for (d, &h) in d_hidden.iter_mut().zip(&tape.hidden[index - 1]) {
                    *d *= 1.0 - h * h;
                }
                delta = d_hidden;
            }
        }
        gradients
    }
}

impl ParamGradient {
    /// Hands the gradient to burn, as a backward pass would have (tensors on `device`, the
    /// autodiff device's inner one).
    pub fn register(self, grads: &mut GradientsParams, device: &Device) {
        match self {
            ParamGradient::Weight { id, shape, values } => {
                grads.register::<2>(id, Tensor::from_data(TensorData::new(values, shape), device))
            }
            ParamGradient::Bias { id, values } => {
                let n = values.len();
                grads.register::<1>(id, Tensor::from_data(TensorData::new(values, [n]), device))
            }
        }
    }

    pub fn values(&self) -> &[f32] {
        match self {
            ParamGradient::Weight { values, .. } | ParamGradient::Bias { values, .. } => values,
        }
    }

    pub fn values_mut(&mut self) -> &mut [f32] {
        match self {
            ParamGradient::Weight { values, .. } | ParamGradient::Bias { values, .. } => values,
        }
    }
}

/// An MLP's actor and critic on the host.
pub struct HostMlp {
    pub actor: HostStack,
    pub critic: HostStack,
    /// The anchor of an anchored network ([`crate::agent::network::Anchor`]), applied to the
    /// actor's outputs here as burn's pass applies it.
    anchor: Option<Anchor>,
}

/// The raw scores of an anchored actor become the anchored log-weights of
/// [`crate::agent::network::Anchor`]: `ln w_ref + tilt * tanh(raw)` for each asset, and for cash
/// `ln c_ref + lse(asset log-weights) - lse(ln w_ref of the assets)`, which keeps the reference's
/// cash share. The cash score moves with every asset's, by that asset's share of the tilted
/// assets, and not at all with its own raw output.
impl HostMlp {
    /// The scores of `rows` observations from the actor's raw outputs (in place).
    pub fn anchor_scores(&self, observations: &[f32], raw: &mut [f32]) {
        let Some(anchor) = self.anchor else { return };
        let (offset, width, tilt) = anchor.parts();
        let len = observations.len() / (raw.len() / width);
        for (row, scores) in observations.chunks_exact(len).zip(raw.chunks_exact_mut(width)) {
            let log_reference = |r: &f32| (*r as f64).max(Anchor::LOG_ZERO_WEIGHT.exp()).ln() as f32;
            let reference = &row[offset..offset + width];
            for (score, r) in scores.iter_mut().zip(reference).skip(1) {
                *score = log_reference(r) + tilt as f32 * tanh_vectorizable(*score);
            }
            scores[0] = log_reference(&reference[0]) + log_sum_exp(scores[1..].iter().copied())
                - log_sum_exp(reference[1..].iter().map(log_reference));
        }
    }

    /// The gradient with respect to the raw outputs from that with respect to the scores.
    /// `scores` are the anchored scores that [`Self::anchor_scores`] made of `raw`.
    pub fn anchor_gradient(&self, raw: &[f32], scores: &[f32], d_scores: &[f32]) -> Vec<f32> {
        let Some(anchor) = self.anchor else { return d_scores.to_vec() };
        let (_, width, tilt) = anchor.parts();
        let mut d_raw = vec![0.0; raw.len()];
        for (((d_raw, raw), scores), d_scores) in d_raw
            .chunks_exact_mut(width)
            .zip(raw.chunks_exact(width))
            .zip(scores.chunks_exact(width))
            .zip(d_scores.chunks_exact(width))
        {
            let total = log_sum_exp(scores[1..].iter().copied());
            for i in 1..width {
                let share = (scores[i] - total).exp();
                let t = tanh_vectorizable(raw[i]);
                d_raw[i] = (d_scores[i] + d_scores[0] * share) * tilt as f32 * (1.0 - t * t);
            }
        }
        d_raw
    }
}

/// `ln sum_i exp(x_i)`, shifted by the largest value so that no term overflows.
fn log_sum_exp(x: impl Iterator<Item = f32> + Clone) -> f32 {
    let largest = x.clone().fold(f32::NEG_INFINITY, f32::max);
    largest + x.map(|v| (v - largest).exp()).sum::<f32>().ln()
}

impl HostMlp {
    /// A host copy of `net`, where the host passes exist for it: MLPs. EIIE trains through burn.
    pub fn of(net: &PolicyNet) -> Option<Self> {
        match net {
            PolicyNet::Mlp(mlp) => {
                let (actor, critic) = mlp.stacks();
                Some(Self { anchor: net.anchor(), ..Self::new(actor, critic) })
            }
            PolicyNet::Eiie(_) => None,
        }
    }

    /// Copies of the weights of the two stacks, each given as its layers in order.
    pub fn new<'a>(
        actor: impl IntoIterator<Item = &'a Linear>,
        critic: impl IntoIterator<Item = &'a Linear>,
    ) -> Self {
        Self { actor: HostStack::new(actor), critic: HostStack::new(critic), anchor: None }
    }

    /// The network's current weights, copied over these: `net` must be the network this copy
    /// was made from, as updated since.
    pub fn refresh(&mut self, net: &PolicyNet) {
        let PolicyNet::Mlp(mlp) = net else { panic!("a host MLP refreshes from an MLP") };
        let (actor, critic) = mlp.stacks();
        for (host, layer) in self.actor.layers.iter_mut().zip(actor) {
            host.refresh(layer);
        }
        for (host, layer) in self.critic.layers.iter_mut().zip(critic) {
            host.refresh(layer);
        }
    }

    /// Scores per observation: cash and each asset.
    pub fn width(&self) -> usize {
        self.actor.outputs()
    }

    /// Scores into `scores` (`1 + assets`) and the value, for one observation.
    pub fn forward(&self, observation: &[f32], scores: &mut [f32]) -> f32 {
        // Compiled for each instruction set and chosen at run time (AVX-512 here); the body must
        // be inlined into the dispatched closure for that to reach the loops.
        struct Forward<'a> {
            net: &'a HostMlp,
            observation: &'a [f32],
            scores: &'a mut [f32],
        }
        impl pulp::WithSimd for Forward<'_> {
            type Output = f32;
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _: S) -> f32 {
                let mut value = [0.0f32];
                self.net.actor.forward_row(self.observation, self.scores);
                self.net.critic.forward_row(self.observation, &mut value);
                value[0]
            }
        }
        let value = pulp::Arch::new().dispatch(Forward { net: self, observation, scores: &mut *scores });
        self.anchor_scores(observation, scores);
        value
    }
}

/// tanh over a slice, vectorized: the AVX-512 build of the loop where the CPU has it.
///
/// Why not `f32::tanh` or `exp`: each is a call into glibc per element, which the compiler cannot
/// vectorize; on PPO's minibatches that scalar `expf` was a tenth of an update. See
/// [`tanh_vectorizable`] for the arithmetic and a test for its accuracy.
fn tanh_in_place(values: &mut [f32]) {
    pulp::Arch::new().dispatch(
        #[inline(always)]
        || values.iter_mut().for_each(|v| *v = tanh_vectorizable(*v)),
    );
}

/// `tanh(x)` in arithmetic a compiler vectorizes (no calls, no branches), within 2.5e-7 of the
/// exact value, relatively (1.9e-7, under two units in the last place, measured by a test over
/// a dense sweep of the f32 line).
///
/// For `|x| < 1/4` the odd Taylor series through `x^9` (truncation below 1e-8 relative).
/// Otherwise `(1 - e) / (1 + e)` with `e = exp(-2|x|)`, the exponential by the textbook range
/// reduction: `-2|x| = n ln 2 + r` with integer `n` and `|r| <= ln 2 / 2` (`ln 2` split in two
/// parts so `n ln 2` is exact, Cody and Waite 1980), `exp(r)` by its Taylor polynomial of degree 7
/// (truncation below 7e-9), and `2^n` written straight into the exponent bits.
/// `|x|` is capped at 9.5, past which tanh rounds to 1 in f32; NaN stays NaN.
#[inline(always)]
fn tanh_vectorizable(x: f32) -> f32 {
    // Adding 1.5 * 2^23 rounds a float of magnitude below 2^22 to an integer held in the low
    // bits of the sum's mantissa.
    const ROUND: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let a = x.abs();
    let a = if a > 9.5 { 9.5 } else { a };

    let a2 = a * a;
    let series =
        a * (1.0 + a2 * (-1.0 / 3.0 + a2 * (2.0 / 15.0 + a2 * (-17.0 / 315.0 + a2 * (62.0 / 2835.0)))));

    let y = -2.0 * a;
    let shifted = y * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = (y - n * LN2_HI) - n * LN2_LO;
    let exp_r = 1.0
        + r * (1.0
            + r * (1.0 / 2.0
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // n is in [-28, 0]: the bits of `shifted` are ROUND's plus n, and n + 127 a normal exponent.
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let two_to_n = f32::from_bits(n_bits.wrapping_add(127) << 23);
    let e = exp_r * two_to_n;
    let ratio = (1.0 - e) / (1.0 + e);

    let magnitude = if a < 0.25 { series } else { ratio };
    magnitude.copysign(x)
}

/// A row-major matrix, or the transpose of one, borrowed for a product.
#[derive(Clone, Copy)]
struct Matrix<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Matrix<'a> {
    fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols, "a {rows} x {cols} matrix");
        Self { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    fn transposed(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

/// `out += a b`, `out` row-major `[a.rows][b.cols]`, on the calling thread (the callers already
/// run the actor and the critic on the two cores).
fn multiply_add(out: &mut [f32], a: Matrix<'_>, b: Matrix<'_>) {
    assert_eq!(a.cols, b.rows, "inner dimensions of a product");
    assert_eq!(out.len(), a.rows * b.cols, "the product's shape");
    // SAFETY: the asserts above and in `Matrix::rows` keep every index gemm forms,
    // `i * row_stride + j * col_stride` for `i < rows, j < cols`, inside its slice; `out` is a
    // unique borrow that overlaps neither input.
    unsafe {
        gemm::gemm(
            a.rows,
            b.cols,
            a.cols,
            out.as_mut_ptr(),
            1,
            b.cols as isize,
            true,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::network::{NetConfig, NetKind, PolicyNet};
    use crate::env::ObservationLayout;

    fn mlp(device: &Device) -> (PolicyNet, ObservationLayout) {
        let layout = ObservationLayout { assets: 3, features: 2, window: 5, reference: false };
        let config = NetConfig { kind: NetKind::Mlp, hidden: vec![7, 5], ..NetConfig::default() };
        (config.init_seeded(layout, device, 3), layout)
    }

    fn observations(rows: usize, len: usize) -> Vec<f32> {
        (0..rows * len).map(|i| ((i * 37 % 17) as f32 - 8.0) * 0.3).collect()
    }

    #[test]
    fn the_host_mlp_acts_as_the_network_does() {
        let device = Device::flex();
        let (net, layout) = mlp(&device);
        let host = HostMlp::of(&net).expect("an MLP runs on the host");
        let rows = 4;
        let observations = observations(rows, layout.len());
        let (scores, values) = net
            .forward(Tensor::from_data(TensorData::new(observations.clone(), [rows, layout.len()]), &device));
        let (scores, values) = (to_host(scores), to_host(values));
        let width = layout.assets + 1;
        let mut row_scores = vec![0.0; width];
        for row in 0..rows {
            let value =
                host.forward(&observations[row * layout.len()..(row + 1) * layout.len()], &mut row_scores);
            assert!((value - values[row]).abs() < 1e-5, "row {row}: value {value} vs {}", values[row]);
            for (a, b) in row_scores.iter().zip(&scores[row * width..(row + 1) * width]) {
                assert!((a - b).abs() < 1e-5, "row {row}: score {a} vs {b}");
            }
        }
        // The batched pass gives the same outputs.
        let actor = host.actor.forward(&observations, rows);
        let critic = host.critic.forward(&observations, rows);
        for (a, b) in actor.output.iter().chain(&critic.output).zip(scores.iter().chain(&values)) {
            assert!((a - b).abs() < 1e-5, "batched output {a} vs {b}");
        }
        assert!(HostMlp::of(&NetConfig::default().init(layout, &device)).is_none(), "EIIE acts through burn");
    }

    #[test]
    fn a_refreshed_copy_is_a_fresh_copy() {
        let device = Device::flex();
        let (net, layout) = mlp(&device);
        let mut host = HostMlp::of(&net).expect("an MLP runs on the host");
        let changed: Vec<Vec<f32>> = net
            .parameter_values()
            .into_iter()
            .enumerate()
            .map(|(p, values)| {
                values.iter().enumerate().map(|(i, v)| v * 1.5 + (p * 31 + i) as f32 * 1e-3).collect()
            })
            .collect();
        let net = net.with_parameter_values(changed).expect("same shapes");
        host.refresh(&net);
        let fresh = HostMlp::of(&net).expect("an MLP runs on the host");
        let x = observations(3, layout.len());
        for (a, b) in [(&host.actor, &fresh.actor), (&host.critic, &fresh.critic)] {
            assert_eq!(a.forward(&x, 3).output, b.forward(&x, 3).output);
        }
        let mut scores = vec![0.0; host.width()];
        assert_ne!(
            host.forward(&x[..layout.len()], &mut scores),
            HostMlp::of(&mlp(&device).0).expect("host").forward(&x[..layout.len()], &mut scores),
            "the refresh changed the weights"
        );
    }

    #[test]
    fn tanh_is_accurate_everywhere() {
        // Every float in [2^-20, 12) at a stride of 7 ulps, both signs, and the edges.
        let mut xs = vec![0.0f32, -0.0, 1e-30, 9.5, 9.51, 100.0, f32::MAX, f32::INFINITY, 0.25, 0.2499999];
        let mut bits = (2.0f32).powi(-20).to_bits();
        while f32::from_bits(bits) < 12.0 {
            xs.push(f32::from_bits(bits));
            bits += 7;
        }
        let negated: Vec<f32> = xs.iter().map(|x| -x).collect();
        xs.extend(negated);
        let mut values = xs.clone();
        tanh_in_place(&mut values);
        let mut worst = 0.0f64;
        for (&x, &y) in xs.iter().zip(&values) {
            let exact = (x as f64).tanh();
            let error = (y as f64 - exact).abs() / exact.abs().max(1e-30);
            assert!(error <= 2.5e-7, "tanh({x:e}) = {y:e}, exact {exact:e}, relative error {error:e}");
            assert_eq!(y.is_sign_negative(), x.is_sign_negative(), "sign of tanh({x})");
            worst = worst.max(error);
        }
        assert!(worst > 0.0, "compared against something");
        let mut nan = [f32::NAN];
        tanh_in_place(&mut nan);
        assert!(nan[0].is_nan(), "NaN must stay NaN for divergence checks to see it");
    }

    #[test]
    fn host_gradients_are_burns_autodiff_gradients() {
        let device = Device::flex().autodiff();
        let (net, layout) = mlp(&device);
        let host = HostMlp::of(&net).expect("an MLP runs on the host");
        let rows = 6;
        let x = observations(rows, layout.len());
        let width = layout.assets + 1;
        // An arbitrary loss, sum(c_s * scores) + sum(c_v * values), whose gradient with respect to
        // the outputs is (c_s, c_v).
        let c_scores: Vec<f32> = (0..rows * width).map(|i| ((i * 11 % 7) as f32 - 3.0) * 0.25).collect();
        let c_values: Vec<f32> = (0..rows).map(|i| i as f32 * 0.5 - 1.0).collect();
        let input = Tensor::from_data(TensorData::new(x.clone(), [rows, layout.len()]), &device);
        let (scores, values) = net.forward(input);
        let c_scores_tensor =
            Tensor::<2>::from_data(TensorData::new(c_scores.clone(), [rows, width]), &device);
        let c_values_tensor = Tensor::<1>::from_data(TensorData::new(c_values.clone(), [rows]), &device);
        let loss = (scores * c_scores_tensor).sum() + (values * c_values_tensor).sum();
        let expected = GradientsParams::from_grads(loss.backward(), &net);

        let actor = host.actor.backward(&x, &host.actor.forward(&x, rows), &c_scores);
        let critic = host.critic.backward(&x, &host.critic.forward(&x, rows), &c_values);
        let all: Vec<ParamGradient> = actor.into_iter().chain(critic).collect();
        assert_eq!(all.len(), 12, "three layers' weights and biases, twice");
        for gradient in &all {
            let reference = match gradient {
                ParamGradient::Weight { id, .. } => expected.get::<2>(*id).map(to_host),
                ParamGradient::Bias { id, .. } => expected.get::<1>(*id).map(to_host),
            }
            .expect("burn has a gradient for every parameter");
            assert_eq!(reference.len(), gradient.values().len());
            let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(scale > 0.0, "a gradient that is all zeros tests nothing");
            for (a, b) in gradient.values().iter().zip(&reference) {
                assert!((a - b).abs() <= 1e-5 * scale.max(1.0), "host {a} vs burn {b}");
            }
        }
    }

    #[test]
    fn an_anchored_network_scores_and_differentiates_alike_on_the_host() {
        let device = Device::flex().autodiff();
        let layout = ObservationLayout { assets: 3, features: 2, window: 5, reference: true };
        let config = NetConfig { kind: NetKind::Mlp, hidden: vec![7, 5], ..NetConfig::default() };
        let net = config.init_seeded(layout, &device, 3);
        // Away from the zero last layer an anchored network starts with.
        let values: Vec<Vec<f32>> = net
            .parameter_values()
            .into_iter()
            .enumerate()
            .map(|(p, v)| {
                v.iter().enumerate().map(|(i, x)| x + ((p * 13 + i * 7) % 11) as f32 * 0.05 - 0.25).collect()
            })
            .collect();
        let net = net.with_parameter_values(values).unwrap();
        let host = HostMlp::of(&net).expect("an anchored MLP still runs on the host");
        let rows = 4;
        let mut x = observations(rows, layout.len());
        let offset = layout.reference_offset().unwrap();
        for row in x.chunks_exact_mut(layout.len()) {
            // A reference that holds cash, whose share the anchor keeps.
            row[offset..].copy_from_slice(&[0.2, 0.2, 0.3, 0.3]);
        }
        let width = layout.assets + 1;
        let input = Tensor::from_data(TensorData::new(x.clone(), [rows, layout.len()]), &device);
        let scores = net.scores(input);
        let burn_scores = to_host(scores.clone());
        let tape = host.actor.forward(&x, rows);
        let mut host_scores = tape.output.clone();
        host.anchor_scores(&x, &mut host_scores);
        for (a, b) in host_scores.iter().zip(&burn_scores) {
            assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "host {a} vs burn {b}");
        }
        let mut one = vec![0.0; width];
        host.forward(&x[..layout.len()], &mut one);
        for (a, b) in one.iter().zip(&host_scores[..width]) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "acting applies the anchor too: {a} vs {b}");
        }
        // Gradients of sum(c * scores) through the anchor.
        let c: Vec<f32> = (0..rows * width).map(|i| ((i * 5 % 7) as f32 - 3.0) * 0.5).collect();
        let c_tensor = Tensor::<2>::from_data(TensorData::new(c.clone(), [rows, width]), &device);
        let expected = GradientsParams::from_grads((scores * c_tensor).sum().backward(), &net);
        let gradients = host.actor.backward(&x, &tape, &host.anchor_gradient(&tape.output, &host_scores, &c));
        for gradient in &gradients {
            let reference = match gradient {
                ParamGradient::Weight { id, .. } => expected.get::<2>(*id).map(to_host),
                ParamGradient::Bias { id, .. } => expected.get::<1>(*id).map(to_host),
            }
            .expect("burn has a gradient for every actor parameter");
            let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for (a, b) in gradient.values().iter().zip(&reference) {
                assert!((a - b).abs() <= 1e-4 * scale.max(1.0), "host {a} vs burn {b}");
            }
        }
    }
}
