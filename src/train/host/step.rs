//! The optimizer step for gradients computed on the host: the global norm and the clipping on
//! host values, then burn's optimizer, as [`crate::train::step::clip_and_step`] does on tensors.

use burn::optim::GradientsParams;
use burn::prelude::*;

use super::mlp::ParamGradient;
use crate::agent::network::PolicyNet;
use crate::train::Descent;
use crate::train::step::{Divergence, clip_factor};

/// [`clip_and_step`](crate::train::step::clip_and_step) for gradients computed on the host ([`HostMlp`](super::mlp::HostMlp)):
/// the norm and the clipping on the host values, then burn's optimizer. `device` is where the
/// network's parameters live.
pub fn clip_and_step_host(
    net: PolicyNet,
    descent: &mut Descent<'_>,
    mut gradients: Vec<ParamGradient>,
    device: &Device,
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
    let net = descent.optimizer.step(descent.learning_rate, net, grads);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::network::{NetConfig, NetKind};
    use crate::env::ObservationLayout;
    use crate::train::host::mlp::HostMlp;
    use crate::train::step::clip_and_step;
    use burn::optim::SgdConfig;

    /// The host step (norm, clip, optimizer) moves a network as the tensor step does, with the
    /// clip binding and not. Plain SGD, whose step is proportional to the gradient, so a clip
    /// that scaled wrongly would show (Adam's first step hardly depends on the gradient's scale).
    #[test]
    fn host_and_tensor_steps_agree() {
        let device = Device::flex().autodiff();
        let layout = ObservationLayout { assets: 2, features: 1, window: 5, reference: false };
        let net = NetConfig { kind: NetKind::Mlp, hidden: vec![7, 5], ..NetConfig::default() }
            .init_seeded(layout, &device, 4);
        let host = HostMlp::of(&net).expect("an MLP has a host copy");
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
            let (mut sgd, mut other_sgd) = (SgdConfig::new().init(), SgdConfig::new().init());
            let (by_tensors, tensor_norm) = clip_and_step(
                net.clone(),
                &mut Descent { optimizer: &mut sgd, learning_rate: 0.1 },
                tensor_grads,
                max_norm,
            );
            let (on_host, host_norm) = clip_and_step_host(
                net.clone(),
                &mut Descent { optimizer: &mut other_sgd, learning_rate: 0.1 },
                gradients.clone(),
                &device,
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
}
