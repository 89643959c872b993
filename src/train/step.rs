//! One optimizer step shared by every algorithm: backpropagate, measure the global gradient norm,
//! refuse non-finite gradients, clip, and let Adam update the network.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use crate::agent::network::PolicyNet;
use crate::train::host::mlp::ParamGradient;

/// Why an update was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    pub what: String,
}

/// Backpropagate `loss`, clip the gradients to a global L2 norm of `max_norm` (as PyTorch's
/// `clip_grad_norm_`; burn's own `GradientClipping::Norm` clips each tensor separately), and step.
/// Returns the gradient norm before clipping. A non-finite loss or gradient leaves the network
/// unchanged and returns the divergence instead.
pub fn optimizer_step(
    net: PolicyNet,
    optimizer: &mut ModuleOptimizer,
    loss: Tensor<1>,
    learning_rate: f64,
    max_norm: f64,
) -> (PolicyNet, Result<f64, Divergence>) {
    if let Err(divergence) = check_loss(loss.clone().into_scalar::<f32>() as f64) {
        return (net, Err(divergence));
    }
    let grads = GradientsParams::from_grads(loss.backward(), &net);
    clip_and_step(net, optimizer, grads, learning_rate, max_norm)
}

/// A loss that is not finite refuses the update.
pub fn check_loss(loss: f64) -> Result<(), Divergence> {
    if loss.is_finite() { Ok(()) } else { Err(Divergence { what: format!("the loss is {loss}") }) }
}

/// The part of [`optimizer_step`] after backpropagation: gradients gathered by the caller (from
/// several backward passes, say), the loss already checked.
pub fn clip_and_step(
    net: PolicyNet,
    optimizer: &mut ModuleOptimizer,
    mut grads: GradientsParams,
    learning_rate: f64,
    max_norm: f64,
) -> (PolicyNet, Result<f64, Divergence>) {
    let mut norm = GlobalNorm { grads: &grads, sum_squares: 0.0 };
    net.visit(&mut norm);
    let grad_norm = norm.sum_squares.sqrt();
    match clip_factor(grad_norm, max_norm) {
        Err(divergence) => return (net, Err(divergence)),
        Ok(Some(factor)) => net.visit(&mut Scale { grads: &mut grads, factor }),
        Ok(None) => {}
    }
    let net = optimizer.step(learning_rate, net, grads);
    (net, Ok(grad_norm))
}

/// [`clip_and_step`] for gradients computed on the host ([`HostMlp`](crate::train::host::mlp)):
/// the norm and the clipping on the host values, then burn's optimizer. `device` is where the
/// network's parameters live.
pub fn clip_and_step_host(
    net: PolicyNet,
    optimizer: &mut ModuleOptimizer,
    mut gradients: Vec<ParamGradient>,
    device: &Device,
    learning_rate: f64,
    max_norm: f64,
) -> (PolicyNet, Result<f64, Divergence>) {
    let sum_squares: f64 = gradients.iter().map(|g| sum_of_squares(g.values())).sum();
    let grad_norm = sum_squares.sqrt();
    match clip_factor(grad_norm, max_norm) {
        Err(divergence) => return (net, Err(divergence)),
        Ok(Some(factor)) => {
            // As burn's `mul_scalar` on an f32 tensor: the factor rounded to f32 first.
            let factor = factor as f32;
            gradients.iter_mut().flat_map(|g| g.values_mut()).for_each(|v| *v *= factor);
        }
        Ok(None) => {}
    }
    let mut grads = GradientsParams::new();
    let inner = device.clone().inner();
    for gradient in gradients {
        gradient.register(&mut grads, &inner);
    }
    let net = optimizer.step(learning_rate, net, grads);
    (net, Ok(grad_norm))
}

/// `sum v^2` in f64, in eight interleaved partial sums: a fixed order (the same result every
/// run) that the compiler can keep in one vector register, where one running sum would be a
/// chain of dependent scalar additions.
fn sum_of_squares(values: &[f32]) -> f64 {
    pulp::Arch::new().dispatch(
        #[inline(always)]
        || {
            let mut lanes = [0.0f64; 8];
            let chunks = values.chunks_exact(8);
            let rest: f64 = chunks.remainder().iter().map(|&v| f64::from(v) * f64::from(v)).sum();
            for chunk in chunks {
                for (lane, &v) in lanes.iter_mut().zip(chunk) {
                    *lane += f64::from(v) * f64::from(v);
                }
            }
            lanes.iter().sum::<f64>() + rest
        },
    )
}

/// What the gradients are multiplied by to bring their global norm down to `max_norm` (`None`:
/// already within it, or clipping is off); a non-finite norm refuses the update.
fn clip_factor(grad_norm: f64, max_norm: f64) -> Result<Option<f64>, Divergence> {
    if !grad_norm.is_finite() {
        return Err(Divergence { what: format!("the gradient norm is {grad_norm}") });
    }
    Ok((max_norm > 0.0 && grad_norm > max_norm).then(|| max_norm / (grad_norm + 1e-6)))
}

/// `from`'s gradients of `net`'s parameters moved into `into` (two backward passes over
/// disjoint parts of the network make one set of gradients).
pub fn merge_gradients(into: &mut GradientsParams, mut from: GradientsParams, net: &PolicyNet) {
    struct Move<'a> {
        into: &'a mut GradientsParams,
        from: &'a mut GradientsParams,
    }
    impl ModuleVisitor for Move<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.from.remove::<D>(param.id) {
                self.into.register(param.id, grad);
            }
        }
    }
    net.visit(&mut Move { into, from: &mut from });
}

struct GlobalNorm<'a> {
    grads: &'a GradientsParams,
    sum_squares: f64,
}

impl ModuleVisitor for GlobalNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            self.sum_squares += grad.powi_scalar(2).sum().into_scalar::<f32>() as f64;
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, grad.mul_scalar(self.factor));
        }
    }
}

/// Whether every parameter of the network is finite.
pub fn all_finite(net: &PolicyNet) -> bool {
    struct Finite(bool);
    impl ModuleVisitor for Finite {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if self.0 {
                // On the plain tensor: work on tracked parameters would leave graph nodes that
                // no backward pass ever frees, and every later step would pay for them.
                let value = param.val().inner();
                let bad = value.clone().is_nan().any().into_scalar::<bool>()
                    || value.abs().greater_elem(f32::MAX).any().into_scalar::<bool>();
                self.0 = !bad;
            }
        }
    }
    let mut check = Finite(true);
    net.visit(&mut check);
    check.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::network::{NetConfig, NetKind};
    use crate::env::ObservationLayout;
    use burn::optim::{AdamConfig, SgdConfig};

    fn setup() -> (PolicyNet, ModuleOptimizer, Tensor<2>) {
        let device = Device::flex().autodiff();
        let layout = ObservationLayout { assets: 2, features: 1, window: 4 };
        let net = NetConfig { kind: NetKind::Mlp, hidden: vec![8], ..NetConfig::default() }
            .init_seeded(layout, &device, 0);
        let input = Tensor::<2>::ones([3, layout.len()], &device);
        (net, AdamConfig::new().init(), input)
    }

    /// The host step (norm, clip, optimizer) moves a network as the tensor step does, with the
    /// clip binding and not. Plain SGD, whose step is proportional to the gradient, so a clip
    /// that scaled wrongly would show (Adam's first step hardly depends on the gradient's scale).
    #[test]
    fn host_and_tensor_steps_agree() {
        let device = Device::flex().autodiff();
        let layout = ObservationLayout { assets: 2, features: 1, window: 5 };
        let net = NetConfig { kind: NetKind::Mlp, hidden: vec![7, 5], ..NetConfig::default() }
            .init_seeded(layout, &device, 4);
        let host = crate::train::host::mlp::HostMlp::of(&net).expect("an MLP has a host copy");
        let rows = 3;
        let x: Vec<f32> = (0..rows * layout.len()).map(|i| ((i * 13 % 11) as f32 - 5.0) * 0.3).collect();
        let d_scores: Vec<f32> = (0..rows * 3).map(|i| (i as f32 - 4.0) * 0.1).collect();
        let gradients = host.actor.backward(&x, &host.actor.forward(&x, rows), &d_scores);
        let expected_norm =
            gradients.iter().flat_map(|g| g.values()).map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
        for max_norm in [expected_norm / 3.0, expected_norm * 2.0] {
            let mut tensor_grads = GradientsParams::new();
            for gradient in gradients.clone() {
                gradient.register(&mut tensor_grads, &device.clone().inner());
            }
            let (by_tensors, tensor_norm) =
                clip_and_step(net.clone(), &mut SgdConfig::new().init(), tensor_grads, 0.1, max_norm);
            let (on_host, host_norm) = clip_and_step_host(
                net.clone(),
                &mut SgdConfig::new().init(),
                gradients.clone(),
                &device,
                0.1,
                max_norm,
            );
            let (tensor_norm, host_norm) = (tensor_norm.unwrap(), host_norm.unwrap());
            assert!(
                (tensor_norm - expected_norm).abs() < 1e-6 * expected_norm,
                "{tensor_norm} vs {expected_norm}"
            );
            assert!(
                (host_norm - expected_norm).abs() < 1e-9 * expected_norm,
                "{host_norm} vs {expected_norm}"
            );
            for (a, b) in on_host
                .parameter_values()
                .iter()
                .flatten()
                .zip(by_tensors.parameter_values().iter().flatten())
            {
                assert!((a - b).abs() < 1e-6, "max norm {max_norm}: host {a} vs tensors {b}");
            }
            assert_ne!(on_host.parameter_values(), net.parameter_values(), "the step moved the network");
        }
    }

    #[test]
    fn a_finite_step_moves_the_network_and_reports_the_norm() {
        let (net, mut optimizer, input) = setup();
        let before = net.parameter_values();
        let loss = net.scores(input).powi_scalar(2).mean().reshape([1]);
        let (net, result) = optimizer_step(net, &mut optimizer, loss, 1e-2, 1.0);
        assert!(result.unwrap() > 0.0);
        assert_ne!(net.parameter_values(), before);
    }

    #[test]
    fn non_finite_losses_and_gradients_are_refused_and_change_nothing() {
        let (net, mut optimizer, input) = setup();
        let before = net.parameter_values();
        let loss = net.scores(input.clone()).mean().reshape([1]).mul_scalar(f64::NAN);
        let (net, result) = optimizer_step(net, &mut optimizer, loss, 1e-2, 1.0);
        assert!(result.unwrap_err().what.contains("loss is NaN"));
        // A finite loss (zero) whose gradient is infinite: d sqrt(|x|) / dx at x = 0.
        let scores = net.scores(input);
        let loss = (scores.clone() - scores.detach()).abs().sqrt().sum().reshape([1]);
        let (net, result) = optimizer_step(net, &mut optimizer, loss, 1e-2, 1.0);
        assert!(result.unwrap_err().what.contains("gradient norm"));
        assert_eq!(net.parameter_values(), before);
        assert!(all_finite(&net));
    }
}
