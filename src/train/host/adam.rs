//! Adam (Kingma and Ba 2015) as burn computes it, in one pass over memory per parameter on the
//! CPU.
//!
//! burn's Adam builds each update from about a dozen whole-tensor operations (scale and add each
//! moment, square, square root, divide, scale, subtract), each reading and writing a fresh
//! buffer the size of the parameter; with PPO's small MLP those passes dominate a minibatch
//! update. On the CPU backend a parameter, its gradient and both moments are plain host buffers
//! that can be updated in one loop.
//!
//! The loop performs burn's arithmetic, operation for operation and in the same order, so the
//! result is bit-identical to `AdamConfig::new().init()` (a test holds it to that), and its state
//! is burn's own [`AdamState`]: optimizer files written by either load into the other, and
//! checkpoints saved before this existed resume unchanged.

use burn::optim::{
    Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer,
};
use burn::prelude::*;
use burn::tensor::DType;

/// Adam for training on `device`: fused on the CPU backend, burn's own elsewhere (a GPU keeps
/// its tensors on the device rather than round-tripping through host memory).
pub fn adam_for(device: &Device) -> ModuleOptimizer {
    if crate::agent::is_host(device) { ModuleOptimizer::from(HostAdam::new()) } else { adam_config().init() }
}

// burn's defaults, spelled out so that both paths use the same values whatever burn's change to.
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

fn adam_config() -> AdamConfig {
    AdamConfig::new().with_beta_1(BETA_1).with_beta_2(BETA_2).with_epsilon(EPSILON)
}

/// burn's Adam with its default hyperparameters, stepped on host memory.
#[derive(Clone)]
pub struct HostAdam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    /// What a parameter that is not a contiguous f32 buffer (none of folio's are) falls back to.
    reference: Adam,
}

impl HostAdam {
    pub fn new() -> Self {
        Self { beta_1: BETA_1, beta_2: BETA_2, epsilon: EPSILON, reference: adam_config().build() }
    }
}

impl Default for HostAdam {
    fn default() -> Self {
        Self::new()
    }
}

impl Optimizer for HostAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if tensor.dtype() != DType::F32 || grad.dtype() != DType::F32 {
            return self.reference.step(lr, tensor, grad, state);
        }
        let device = tensor.device();
        let shape = tensor.shape();
        // `into_data` hands over the buffer without copying when the tensor owns it alone.
        let mut param = tensor.into_data();
        let grad = grad.into_data();
        let zeros = || TensorData::new(vec![0.0f32; shape.num_elements()], shape.clone());
        let (time, mut m_data, mut v_data) = match state {
            Some(AdamState { momentum }) => {
                (momentum.time + 1, momentum.moment_1.into_data(), momentum.moment_2.into_data())
            }
            None => (1, zeros(), zeros()),
        };
        let g = grad.as_slice::<f32>().expect("checked: f32");
        let p = param.as_mut_slice::<f32>().expect("checked: f32");
        let m = m_data.as_mut_slice::<f32>().expect("moments share the parameter's dtype");
        let v = v_data.as_mut_slice::<f32>().expect("moments share the parameter's dtype");

        let step = AdamStep::new(self, time, lr);
        // Compiled for each instruction set and chosen at run time, so the loop runs in AVX-512
        // registers where the CPU has them (the binary itself targets baseline x86-64). Without
        // fast-math flags the compiler keeps every rounding of the scalar loop.
        pulp::Arch::new().dispatch(|| step.apply(p, g, m, v, time == 1));

        let state = AdaptiveMomentumState::new(
            time,
            Tensor::from_data(m_data, &device),
            Tensor::from_data(v_data, &device),
        );
        (Tensor::from_data(param, &device), Some(AdamState::new(state)))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

/// The scalars of one Adam step, as burn derives them from the step count.
struct AdamStep {
    beta_1: f32,
    beta_2: f32,
    combined_factor: f32,
    denominator_floor: f32,
    lr: f32,
}

impl AdamStep {
    fn new(adam: &HostAdam, time: usize, lr: LearningRate) -> Self {
        let t = time as i32;
        let bias_correction2_sqrt = (1.0 - adam.beta_2.powi(t)).sqrt();
        Self {
            beta_1: adam.beta_1,
            beta_2: adam.beta_2,
            combined_factor: bias_correction2_sqrt / (1.0 - adam.beta_1.powi(t)),
            denominator_floor: adam.epsilon * bias_correction2_sqrt,
            // burn casts the learning rate to the tensor's element type before multiplying.
            lr: lr as f32,
        }
    }

    #[inline(always)]
    fn apply(
        &self,
        param: &mut [f32],
        grad: &[f32],
        moment_1: &mut [f32],
        moment_2: &mut [f32],
        first: bool,
    ) {
        let (b1, b2) = (self.beta_1, self.beta_2);
        let (f1, f2) = (1.0 - b1, 1.0 - b2);
        let rows = param.iter_mut().zip(grad).zip(moment_1.iter_mut().zip(moment_2.iter_mut()));
        if first {
            // burn starts the moments at `g (1 - beta)` rather than adding that to zeros (the sum
            // would turn a -0.0 into +0.0).
            for ((p, &g), (m, v)) in rows {
                *m = g * f1;
                *v = (g * g) * f2;
                *p -= ((*m * self.combined_factor) / (v.sqrt() + self.denominator_floor)) * self.lr;
            }
        } else {
            for ((p, &g), (m, v)) in rows {
                *m = *m * b1 + g * f1;
                *v = *v * b2 + (g * g) * f2;
                *p -= ((*m * self.combined_factor) / (v.sqrt() + self.denominator_floor)) * self.lr;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::Linear;
    use burn::optim::GradientsParams;

    fn bits(linear: &Linear) -> Vec<u32> {
        let mut out = Vec::new();
        for tensor in [linear.weight.val(), linear.bias.as_ref().expect("bias").val().unsqueeze()] {
            let values = tensor.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32");
            out.extend(values.iter().map(|v| v.to_bits()));
        }
        out
    }

    /// Standard normal inputs drawn from their own seeded generator: the backend's global RNG
    /// is shared with every test running in parallel, so draws from it are not reproducible here.
    fn input(seed: u64, device: &Device) -> Tensor<2> {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let values: Vec<f32> = (0..20).map(|_| StandardNormal.sample(&mut rng)).collect();
        Tensor::from_data(TensorData::new(values, [4, 5]), device)
    }

    /// A 5 -> 3 layer with fixed weights.
    fn layer(device: &Device) -> Linear {
        let weight: Vec<f32> = (0..15).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.08).collect();
        let bias = vec![0.1f32, -0.2, 0.05];
        Linear {
            weight: Param::from_tensor(Tensor::from_data(TensorData::new(weight, [5, 3]), device)),
            bias: Some(Param::from_tensor(Tensor::from_data(TensorData::new(bias, [3]), device))),
        }
    }

    /// Steps `linear` 30 times on a loss whose gradients change sign and scale from step to
    /// step, with learning rates from a schedule, and returns the parameters' bits after each.
    fn trajectory(mut optimizer: ModuleOptimizer, mut linear: Linear, device: &Device) -> Vec<Vec<u32>> {
        let mut out = Vec::new();
        for step in 0..30 {
            let x = input(11 + step as u64, device);
            let scale = if step % 3 == 0 { -1e-3 } else { 2.5 };
            let loss = linear.forward(x).powi_scalar(3).sum().mul_scalar(scale);
            let grads = GradientsParams::from_grads(loss.backward(), &linear);
            linear = optimizer.step(1e-2 / (1.0 + step as f64), linear, grads);
            out.push(bits(&linear));
        }
        out
    }

    #[test]
    fn bit_identical_to_burns_adam_including_a_resumed_state() {
        let device = Device::flex().autodiff();
        let linear = layer(&device);
        let initial = bits(&linear);
        let reference = trajectory(adam_config().init(), linear.clone(), &device);
        let fused = trajectory(adam_for(&device), linear.clone(), &device);

        assert_eq!(fused.len(), reference.len());
        for (step, (a, b)) in fused.iter().zip(&reference).enumerate() {
            assert_eq!(a, b, "parameters differ after step {step}");
        }
        assert_ne!(reference[0], initial, "the steps moved the parameters");

        // State written by one resumes in the other: ten steps of burn's Adam, saved, then
        // continued by the fused one, match twenty steps of burn's Adam.
        let run = |switch: bool| {
            let mut net = linear.clone();
            let mut optimizer = adam_config().init();
            for step in 0..20 {
                if switch && step == 10 {
                    let bytes = optimizer.into_bytes().expect("saved");
                    optimizer = adam_for(&device).from_bytes(bytes).expect("loaded");
                }
                let x = input(3 + step as u64, &device);
                let grads = GradientsParams::from_grads(net.forward(x).powi_scalar(2).sum().backward(), &net);
                net = optimizer.step(1e-2, net, grads);
            }
            bits(&net)
        };
        assert_eq!(run(true), run(false));
    }
}
