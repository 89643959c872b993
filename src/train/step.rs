//! One optimizer step shared by every algorithm: backpropagate, measure the global gradient norm,
//! refuse non-finite gradients, clip, and let Adam update the network.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

use super::Descent;
use crate::agent::network::PolicyNet;

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
    descent: &mut Descent<'_>,
    loss: Tensor<1>,
    max_norm: f64,
) -> (PolicyNet, Result<f64, Divergence>) {
    if let Err(divergence) = check_loss(loss.clone().into_scalar::<f32>() as f64) {
        return (net, Err(divergence));
    }
    let grads = GradientsParams::from_grads(loss.backward(), &net);
    clip_and_step(net, descent, grads, max_norm)
}

/// A loss that is not finite refuses the update.
pub fn check_loss(loss: f64) -> Result<(), Divergence> {
    if loss.is_finite() { Ok(()) } else { Err(Divergence { what: format!("the loss is {loss}") }) }
}

/// The part of [`optimizer_step`] after backpropagation: gradients gathered by the caller (from
/// several backward passes, say), the loss already checked.
pub fn clip_and_step(
    net: PolicyNet,
    descent: &mut Descent<'_>,
    mut grads: GradientsParams,
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
    let net = descent.optimizer.step(descent.learning_rate, net, grads);
    (net, Ok(grad_norm))
}

/// What the gradients are multiplied by to bring their global norm down to `max_norm` (`None`:
/// already within it, or clipping is off); a non-finite norm refuses the update.
pub(crate) fn clip_factor(grad_norm: f64, max_norm: f64) -> Result<Option<f64>, Divergence> {
    if !grad_norm.is_finite() {
        return Err(Divergence { what: format!("the gradient norm is {grad_norm}") });
    }
    Ok((max_norm > 0.0 && grad_norm > max_norm).then(|| max_norm / (grad_norm + 1e-6)))
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
    use burn::optim::{AdamConfig, ModuleOptimizer};

    fn setup() -> (PolicyNet, ModuleOptimizer, Tensor<2>) {
        let device = Device::flex().autodiff();
        let layout = ObservationLayout { assets: 2, features: 1, window: 4, reference: false };
        let net = NetConfig { kind: NetKind::Mlp, hidden: vec![8], ..NetConfig::default() }
            .init_seeded(layout, &device, 0);
        let input = Tensor::<2>::ones([3, layout.len()], &device);
        (net, AdamConfig::new().init(), input)
    }

    #[test]
    fn a_finite_step_moves_the_network_and_reports_the_norm() {
        let (net, mut optimizer, input) = setup();
        let before = net.parameter_values();
        let loss = net.scores(input).powi_scalar(2).mean().reshape([1]);
        let (net, result) =
            optimizer_step(net, &mut Descent { optimizer: &mut optimizer, learning_rate: 1e-2 }, loss, 1.0);
        assert!(result.unwrap() > 0.0);
        assert_ne!(net.parameter_values(), before);
    }

    #[test]
    fn non_finite_losses_and_gradients_are_refused_and_change_nothing() {
        let (net, mut optimizer, input) = setup();
        let before = net.parameter_values();
        let loss = net.scores(input.clone()).mean().reshape([1]).mul_scalar(f64::NAN);
        let (net, result) =
            optimizer_step(net, &mut Descent { optimizer: &mut optimizer, learning_rate: 1e-2 }, loss, 1.0);
        assert!(result.unwrap_err().what.contains("loss is NaN"));
        // A finite loss (zero) whose gradient is infinite: d sqrt(|x|) / dx at x = 0.
        let scores = net.scores(input);
        let loss = (scores.clone() - scores.detach()).abs().sqrt().sum().reshape([1]);
        let (net, result) =
            optimizer_step(net, &mut Descent { optimizer: &mut optimizer, learning_rate: 1e-2 }, loss, 1.0);
        assert!(result.unwrap_err().what.contains("gradient norm"));
        assert_eq!(net.parameter_values(), before);
        assert!(all_finite(&net));
    }
}
