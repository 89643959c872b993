//! Agents: policy networks and the distribution over portfolio weights they parameterize.

pub mod distribution;
pub mod network;

use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

use self::distribution::{Dirichlet, concentration_from_log_weights, concentration_from_logits};
use self::network::PolicyNet;
use crate::backtest::{MarketView, Policy, PolicyId};
use crate::env::ObservationLayout;

/// How a network's scores become portfolio weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionHead {
    /// Deterministic `softmax(scores)`: the direct policy gradient differentiates through it.
    Softmax,
    /// A Dirichlet with concentrations `min(softplus(scores) + min, max)`; acting
    /// deterministically takes its mean. With `anchored: Some(c)` the scores are an anchored
    /// network's log-weights ([`network::PolicyNet::is_anchored`]) and the concentrations are
    /// `min(c exp(scores) + min, max)`: the distribution's mean is then (up to `min`) the
    /// anchored weights `softmax(scores)`, which deterministic acting returns exactly, and `c`
    /// is its total concentration at the reference.
    Dirichlet {
        min_concentration: f64,
        max_concentration: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        anchored: Option<f64>,
    },
}

impl ActionHead {
    /// # Shapes
    /// - `scores`: `[batch, 1 + assets]`; returns weights of the same shape, rows summing to one.
    pub fn deterministic(&self, scores: Tensor<2>) -> Tensor<2> {
        match *self {
            ActionHead::Softmax | ActionHead::Dirichlet { anchored: Some(_), .. } => softmax(scores, 1),
            ActionHead::Dirichlet { anchored: None, .. } => self.distribution(scores).mean(),
        }
    }

    /// The Dirichlet head's concentrations from host scores, in f64, with each one's slope
    /// `d alpha / d score`: the same map as [`concentration_from_logits`] (burn's softplus,
    /// linear above 20, then the bounds), for training steps that differentiate on the host.
    ///
    /// # Panics
    /// For a softmax head, which has no distribution.
    pub fn concentrations_on_host(&self, scores: &[f32], alpha: &mut [f64], slope: &mut [f64]) {
        let ActionHead::Dirichlet { min_concentration, max_concentration, anchored } = *self else {
            panic!("a softmax head has no distribution")
        };
        for ((&score, a), d) in scores.iter().zip(alpha.iter_mut()).zip(slope.iter_mut()) {
            let score = f64::from(score);
            let (raw, raw_slope) = match anchored {
                Some(c) => (c * score.exp(), c * score.exp()),
                None if score > SOFTPLUS_LINEAR_ABOVE => (score, 1.0),
                None => (score.exp().ln_1p(), 1.0 / (1.0 + (-score).exp())),
            };
            let value = raw + min_concentration;
            (*a, *d) = if value > max_concentration { (max_concentration, 0.0) } else { (value, raw_slope) };
        }
    }

    /// `ln pi(action | scores)` of one row on the host, in f64: the density a rollout's action had
    /// under the policy that sampled it.
    ///
    /// # Panics
    /// For a softmax head, which has no distribution.
    pub fn log_prob_on_host(&self, scores: &[f32], action: &[f32]) -> f64 {
        let width = scores.len();
        let (mut alpha, mut slope) = (vec![0.0; width], vec![0.0; width]);
        self.concentrations_on_host(scores, &mut alpha, &mut slope);
        let (mut d_log_prob, mut d_entropy) = (vec![0.0; width], vec![0.0; width]);
        distribution::log_prob_and_entropy_with_gradients(&alpha, action, &mut d_log_prob, &mut d_entropy).0
    }

    pub fn distribution(&self, scores: Tensor<2>) -> Dirichlet {
        match *self {
            ActionHead::Dirichlet { min_concentration, max_concentration, anchored: None } => {
                Dirichlet::new(concentration_from_logits(scores, min_concentration, max_concentration))
            }
            ActionHead::Dirichlet { min_concentration, max_concentration, anchored: Some(c) } => {
                Dirichlet::new(concentration_from_log_weights(
                    scores,
                    c,
                    min_concentration,
                    max_concentration,
                ))
            }
            ActionHead::Softmax => panic!("a softmax head has no distribution"),
        }
    }
}

/// Where burn's softplus (default threshold) switches to the identity.
const SOFTPLUS_LINEAR_ABOVE: f64 = 20.0;

/// Flat host observations `[batch][layout.len()]` as a tensor on `device`.
pub fn observations_tensor(observations: &[f32], batch: usize, device: &Device) -> Tensor<2> {
    observations_into_tensor(observations.to_vec(), batch, device)
}

/// [`observations_tensor`] for rows the caller already owns (gathered for a minibatch, say).
pub fn observations_into_tensor(observations: Vec<f32>, batch: usize, device: &Device) -> Tensor<2> {
    let len = observations.len() / batch;
    Tensor::from_data(TensorData::new(observations, [batch, len]), device)
}

/// Host copy of a float tensor's values, row-major.
pub fn to_host<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    host_values(tensor.into_data())
}

/// Tensor data's values as f32, row-major.
pub fn host_values(data: TensorData) -> Vec<f32> {
    data.convert::<f32>().try_into_vec::<f32>().expect("float tensor data")
}

/// Which backend runs the networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum DeviceChoice {
    /// burn's Flex CPU backend (multi-threaded, SIMD).
    #[default]
    Cpu,
    /// wgpu (Vulkan, Metal, DirectX or WebGPU); needs the `wgpu` cargo feature.
    Wgpu,
    /// CUDA; needs the `cuda` cargo feature.
    Cuda,
}

/// A backend this build of folio was compiled without.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "this folio was built without the `{feature}` backend; rebuild with `cargo build --release --features {feature}`"
)]
pub struct MissingBackend {
    pub feature: &'static str,
}

impl DeviceChoice {
    pub fn device(self) -> Result<Device, MissingBackend> {
        match self {
            DeviceChoice::Cpu => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            DeviceChoice::Wgpu => Ok(Device::wgpu(Default::default())),
            #[cfg(feature = "cuda")]
            DeviceChoice::Cuda => Ok(Device::cuda(0)),
            #[allow(unreachable_patterns)]
            DeviceChoice::Wgpu => Err(MissingBackend { feature: "wgpu" }),
            #[allow(unreachable_patterns)]
            DeviceChoice::Cuda => Err(MissingBackend { feature: "cuda" }),
        }
    }
}

/// Whether `device` is the CPU backend, whose tensors already live in host memory: there the
/// host-side training paths (fused Adam, host MLP passes) replace burn's tensor ops.
pub fn is_host(device: &Device) -> bool {
    device.clone().inner() == Device::flex()
}

/// A trained network acting deterministically, as a [`Policy`] for backtests.
pub struct AgentPolicy {
    pub id: PolicyId,
    net: PolicyNet,
    head: ActionHead,
    layout: ObservationLayout,
    device: Device,
}

impl AgentPolicy {
    /// `net` should live on a device without autodiff (`net.valid()`).
    pub fn new(
        id: PolicyId,
        net: PolicyNet,
        head: ActionHead,
        layout: ObservationLayout,
        device: Device,
    ) -> Self {
        Self { id, net, head, layout, device }
    }

    /// Deterministic weights for a batch of observations, rows renormalized in f64 so they sum
    /// to one exactly.
    pub fn act(&self, observations: &[f32], batch: usize, out: &mut [f64]) {
        debug_assert_eq!(observations.len(), batch * self.layout.len());
        let input = observations_tensor(observations, batch, &self.device);
        let weights = to_host(self.head.deterministic(self.net.scores(input)));
        for (row_out, row) in
            out.chunks_exact_mut(self.layout.assets + 1).zip(weights.chunks_exact(self.layout.assets + 1))
        {
            let sum: f64 = row.iter().map(|&w| w.max(0.0) as f64).sum();
            for (o, &w) in row_out.iter_mut().zip(row) {
                *o = w.max(0.0) as f64 / sum;
            }
        }
    }
}

impl Policy for AgentPolicy {
    fn id(&self) -> PolicyId {
        self.id
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        self.act(view.observation, 1, out);
    }
}

/// Several seeds' agents deployed as one policy: the average of their weights. Seeds of one
/// configuration disagree widely (FinRL #190, PGPortfolio #125); their average is steadier than
/// any one of them and, unlike picking the best, selects nothing on the data.
pub struct EnsemblePolicy {
    members: Vec<Box<dyn Policy>>,
    scratch: Vec<f64>,
}

impl EnsemblePolicy {
    /// The members must act on the same observations (same assets, features and
    /// normalization): the seeds of one run, plain or learning online.
    pub fn new(members: Vec<Box<dyn Policy>>) -> Self {
        assert!(!members.is_empty(), "an ensemble needs at least one member");
        Self { members, scratch: Vec::new() }
    }

    /// Plain agents as one ensemble.
    pub fn of_agents(members: Vec<AgentPolicy>) -> Self {
        Self::new(members.into_iter().map(|m| Box::new(m) as Box<dyn Policy>).collect())
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

impl Policy for EnsemblePolicy {
    fn id(&self) -> PolicyId {
        PolicyId::Ensemble
    }

    fn reset(&mut self) {
        self.members.iter_mut().for_each(|m| m.reset());
    }

    /// The mean of the weights each member would trade: each one's target projected onto the
    /// allocation limits first, so that how far a seed asks past a cap (which never changed its
    /// own trades) does not steer the ensemble. The mean of targets within the limits is within
    /// them, so the environment's own projection then leaves it as it is.
    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        out.fill(0.0);
        self.scratch.resize(out.len(), 0.0);
        for member in &mut self.members {
            member.decide(view, &mut self.scratch);
            view.limits.project(&mut self.scratch);
            out.iter_mut().zip(&self.scratch).for_each(|(o, w)| *o += w);
        }
        // Each member's weights sum to one; so does their mean, up to rounding, removed here.
        let total: f64 = out.iter().sum();
        out.iter_mut().for_each(|w| *w /= total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{PricePanel, TimeIndex};
    use crate::env::{Limits, Market};
    use crate::features::{Feature, FeatureConfig};

    /// A seed that always asks for the same weights.
    struct Asks(Vec<f64>);

    impl Policy for Asks {
        fn id(&self) -> PolicyId {
            PolicyId::Ensemble
        }

        fn decide(&mut self, _: &MarketView<'_>, out: &mut [f64]) {
            out.copy_from_slice(&self.0);
        }
    }

    /// Two seeds that ask past a cap by different amounts but trade alike must steer the
    /// ensemble alike: it trades the mean of what each seed would trade.
    #[test]
    fn an_ensemble_under_limits_trades_the_mean_of_its_seeds_traded_weights() {
        let prices = ndarray::Array2::from_elem((4, 3), 1.0);
        let panel =
            PricePanel::new("flat", vec!["A".into(), "B".into(), "C".into()], TimeIndex::Periods(4), prices);
        let features =
            FeatureConfig { window: 1, features: vec![Feature::LogReturn], ..FeatureConfig::default() };
        let market = Market::new(panel, &features, None, 0..4).unwrap();
        let limits = Limits { max_weight: 0.35, min_cash: 0.05 };
        let (observation, held) = (vec![0.0f32; 64], [1.0, 0.0, 0.0, 0.0]);
        let view = MarketView::new(&market, 2, &observation, &held).under(limits);
        let traded = |asked: &[f64]| {
            let mut w = asked.to_vec();
            limits.project(&mut w);
            w
        };
        let (bold, mild, other) = ([0.0, 0.9, 0.06, 0.04], [0.0, 0.6, 0.24, 0.16], [0.0, 0.1, 0.5, 0.4]);
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
        assert!(close(&traded(&bold), &traded(&mild)), "the two seeds trade alike");
        let decide = |first: &[f64]| {
            let mut ensemble =
                EnsemblePolicy::new(vec![Box::new(Asks(first.to_vec())), Box::new(Asks(other.to_vec()))]);
            let mut out = vec![0.0; 4];
            ensemble.decide(&view, &mut out);
            out
        };
        let expected: Vec<f64> =
            traded(&bold).iter().zip(traded(&other)).map(|(a, b)| (a + b) / 2.0).collect();
        for first in [bold, mild] {
            let out = decide(&first);
            assert!(close(&out, &expected), "{out:?} against {expected:?}");
            assert!(close(&traded(&out), &out), "already within the limits");
        }
    }
}
