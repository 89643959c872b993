//! Policy networks. Both read a batch of flat observations (see
//! [`ObservationLayout`](crate::env::ObservationLayout)) and return, per row, one score for cash
//! and one per asset, plus a state-value estimate for the algorithms that need a critic.
//! The algorithm decides what the scores mean: softmax weights (direct policy gradient) or the
//! concentrations of a Dirichlet distribution (REINFORCE, PPO).

use burn::module::{ModuleVisitor, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};
use serde::{Deserialize, Serialize};

use crate::data::InvalidSetting;
use crate::env::ObservationLayout;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetKind {
    /// A multilayer perceptron over the whole flattened observation.
    Mlp,
    /// Jiang, Xu and Liang's (2017) Ensemble of Identical Independent Evaluators.
    Eiie,
}

impl NetKind {
    /// As a config and `--net` write it.
    pub fn name(self) -> &'static str {
        match self {
            NetKind::Mlp => "mlp",
            NetKind::Eiie => "eiie",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetConfig {
    pub kind: NetKind,
    /// MLP: widths of the hidden layers (tanh), for the actor and, separately, the critic.
    pub hidden: Vec<usize>,
    /// EIIE: channels of the first convolution (kernel 1 x `eiie_kernel` over time).
    pub eiie_channels: usize,
    /// EIIE: channels of the second convolution, which spans the rest of the window.
    pub eiie_features: usize,
    pub eiie_kernel: usize,
    /// The largest log-tilt away from the reference portfolio, when the observation carries one:
    /// an anchored network's weights are `softmax(ln w_ref + tilt * tanh(scores))`, so no asset's
    /// weight moves more than a factor `exp(2 tilt)` relative to another's reference ratio.
    pub tilt: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            kind: NetKind::Eiie,
            hidden: vec![64, 64],
            eiie_channels: 2,
            eiie_features: 20,
            eiie_kernel: 3,
            tilt: 1.0,
        }
    }
}

impl NetConfig {
    pub fn validate(&self, layout: &ObservationLayout) -> Result<(), InvalidSetting> {
        let invalid = |setting, reason: &str| InvalidSetting::new(setting, reason);
        if layout.features == 0 {
            return Err(invalid(
                "features.features",
                "an agent needs at least one feature (features.features is empty)",
            ));
        }
        match self.kind {
            NetKind::Mlp if self.hidden.is_empty() || self.hidden.contains(&0) => Err(invalid(
                "train.net.hidden",
                "net.hidden needs at least one layer, each of width at least 1",
            )),
            NetKind::Eiie if self.eiie_kernel == 0 || self.eiie_kernel >= layout.window => {
                Err(InvalidSetting::new(
                    "train.net.eiie_kernel",
                    format!(
                        "EIIE needs a kernel shorter than the window: kernel {} vs window {}",
                        self.eiie_kernel, layout.window
                    ),
                ))
            }
            NetKind::Eiie if self.eiie_channels == 0 || self.eiie_features == 0 => {
                Err(invalid("train.net.eiie_channels", "EIIE channel counts must be at least 1"))
            }
            _ if layout.reference && !(self.tilt > 0.0 && self.tilt.is_finite()) => Err(invalid(
                "train.net.tilt",
                "net.tilt must be positive and finite (it bounds the tilt away from the reference portfolio)",
            )),
            _ => Ok(()),
        }
    }

    /// A freshly initialized network. burn draws initial weights from the device's global RNG,
    /// so seeding and drawing happen under one lock: runs on parallel threads (tests, folds)
    /// still each get exactly their seed's weights. Use this, not [`NetConfig::init`], whenever
    /// results must be reproducible.
    pub fn init_seeded(&self, layout: ObservationLayout, device: &Device, seed: u64) -> PolicyNet {
        static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        device.seed(seed);
        let net = self.init(layout, device);
        // Parameters are initialized lazily, at first use: draw them now, under the lock, or
        // another thread's draws could interleave with them.
        net.parameter_values();
        net
    }

    /// Parameters are numbered in visiting order: burn draws their ids at random and saves them
    /// in every `.bpk` (and keys optimizer state by them), so random ids would make two saves of
    /// the same seed differ in bytes, and content-addressed task results could not be compared.
    pub fn init(&self, layout: ObservationLayout, device: &Device) -> PolicyNet {
        let net = match self.kind {
            NetKind::Mlp => PolicyNet::Mlp(MlpNet::new(self, layout, device)),
            NetKind::Eiie => PolicyNet::Eiie(EiieNet::new(self, layout, device)),
        };
        net.map(&mut NumberedIds(0))
    }
}

/// Gives each float parameter the id of its position, leaving its (possibly not yet drawn) value.
struct NumberedIds(u64);

impl burn::module::ModuleMapper for NumberedIds {
    fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.id = burn::module::ParamId::from(self.0);
        self.0 += 1;
        param
    }
}

/// Parameter values that do not fit a network ([`PolicyNet::with_parameter_values`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParameterMismatch {
    #[error("no values for parameter {position}")]
    Missing { position: usize },
    #[error("parameter {position} has shape {shape:?} ({} values) but {given} were given", shape.iter().product::<usize>())]
    Shape { position: usize, shape: Vec<usize>, given: usize },
    #[error("the network has {parameters} parameters but {given} were given")]
    Count { parameters: usize, given: usize },
}

// A network is built once per run, so the size difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum PolicyNet {
    Mlp(MlpNet),
    Eiie(EiieNet),
}

impl PolicyNet {
    /// # Shapes
    /// - `observations`: `[batch, layout.len()]`
    /// - returns scores `[batch, 1 + assets]` (cash first) and values `[batch]`
    pub fn forward(&self, observations: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let (scores, values) = match self {
            PolicyNet::Mlp(net) => net.forward(observations.clone()),
            PolicyNet::Eiie(net) => net.forward(observations.clone()),
        };
        (self.anchor().map_or(scores.clone(), |a| a.apply(scores, observations)), values)
    }

    /// Whether the scores are log-weights anchored on the observation's reference portfolio.
    pub fn is_anchored(&self) -> bool {
        self.anchor().is_some()
    }

    /// Where the reference sits in the observation and how far the network may tilt from it,
    /// for passes that apply the anchor themselves (the host MLP's).
    pub fn anchor(&self) -> Option<Anchor> {
        match self {
            PolicyNet::Mlp(net) => net.anchor,
            PolicyNet::Eiie(net) => net.anchor,
        }
    }

    /// Every float parameter's values, in the module's visiting order: two networks are the same
    /// exactly when these are bit-identical.
    pub fn parameter_values(&self) -> Vec<Vec<f32>> {
        struct Collect(Vec<Vec<f32>>);
        impl ModuleVisitor for Collect {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                self.0.push(crate::agent::to_host(param.val()));
            }
        }
        let mut collect = Collect(Vec::new());
        self.visit(&mut collect);
        collect.0
    }

    /// The network with every float parameter replaced, in the order of
    /// [`PolicyNet::parameter_values`]: a network whose answer is known by construction, for
    /// tests of what reads networks (attributions, probes). Counts and lengths must match.
    pub fn with_parameter_values(self, values: Vec<Vec<f32>>) -> Result<Self, ParameterMismatch> {
        use burn::module::ModuleMapper;
        struct Replace {
            values: std::vec::IntoIter<Vec<f32>>,
            position: usize,
            error: Option<ParameterMismatch>,
        }
        impl ModuleMapper for Replace {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let position = self.position;
                self.position += 1;
                let Some(values) = self.values.next() else {
                    self.error.get_or_insert(ParameterMismatch::Missing { position });
                    return param;
                };
                let shape = param.val().dims();
                let expected: usize = shape.iter().product();
                if values.len() != expected {
                    self.error.get_or_insert(ParameterMismatch::Shape {
                        position,
                        shape: shape.to_vec(),
                        given: values.len(),
                    });
                    return param;
                }
                // Keep the parameter trainable where it was, so a replaced network still learns.
                param.map(|tensor| {
                    let tracked = tensor.is_require_grad();
                    Tensor::from_data(TensorData::new(values, shape), &tensor.device())
                        .set_require_grad(tracked)
                })
            }
        }
        let given = values.len();
        let mut replace = Replace { values: values.into_iter(), position: 0, error: None };
        let net = self.map(&mut replace);
        match replace.error {
            Some(error) => Err(error),
            None if replace.position != given => {
                Err(ParameterMismatch::Count { parameters: replace.position, given })
            }
            None => Ok(net),
        }
    }

    /// Scores only, skipping the critic (evaluation and direct policy gradient).
    pub fn scores(&self, observations: Tensor<2>) -> Tensor<2> {
        let scores = match self {
            PolicyNet::Mlp(net) => net.actor(observations.clone()),
            PolicyNet::Eiie(net) => net.scores_and_pooled(observations.clone()).0,
        };
        self.anchor().map_or(scores.clone(), |a| a.apply(scores, observations))
    }
}

/// Where an anchored network finds the reference portfolio in its observation, and how far it
/// may tilt from it. Anchored networks start with their last layer at zero, so the untrained
/// agent holds exactly the reference (Tu and Zhou 2011: a rule combined with 1/N).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    offset: usize,
    width: usize,
    tilt: f64,
}

/// A reference weight of zero (cash, in every reference folio has) gets this log-weight: its
/// softmax weight is below 1e-29 at any tilt, so it stays out as the reference keeps it out,
/// without the infinities that would poison gradients.
const LOG_ZERO_WEIGHT: f64 = -69.0;

impl Anchor {
    /// `(offset, width, tilt)`: the reference block `observation[offset..offset + width]`
    /// (cash first) and the largest log-tilt.
    pub fn parts(&self) -> (usize, usize, f64) {
        (self.offset, self.width, self.tilt)
    }

    /// The log-weight a zero reference weight gets.
    pub const LOG_ZERO_WEIGHT: f64 = LOG_ZERO_WEIGHT;

    fn of(config: &NetConfig, layout: &ObservationLayout) -> Option<Self> {
        let offset = layout.reference_offset()?;
        Some(Self { offset, width: layout.assets + 1, tilt: config.tilt })
    }

    /// The log-weights, up to a constant, of the anchored portfolio: `ln w_ref + tilt *
    /// tanh(scores)` for each asset, and for cash whatever keeps the reference's share of it.
    /// The network tilts among the assets; how much of the portfolio is in them at all is the
    /// reference's call. Timing the market is the hardest forecast there is, and a reference
    /// that holds cash (the volatility-managed one) makes it by a rule the evidence backs.
    fn apply(&self, scores: Tensor<2>, observations: Tensor<2>) -> Tensor<2> {
        let assets = self.width - 1;
        let reference = observations.narrow(1, self.offset, self.width);
        let log_reference = reference.clamp_min(LOG_ZERO_WEIGHT.exp()).log();
        let log_reference_assets = log_reference.clone().narrow(1, 1, assets);
        let tilted = log_reference_assets.clone() + tanh(scores.narrow(1, 1, assets)).mul_scalar(self.tilt);
        // Cash keeps its share when its log-weight moves by as much as the assets' total does.
        let cash =
            log_reference.narrow(1, 0, 1) + log_sum_exp(tilted.clone()) - log_sum_exp(log_reference_assets);
        Tensor::cat(vec![cash, tilted], 1)
    }
}

/// `ln sum_j exp(x_ij)` of each row, `[rows, 1]`, shifted by the row's largest value so that
/// no term overflows.
fn log_sum_exp(x: Tensor<2>) -> Tensor<2> {
    let largest = x.clone().max_dim(1);
    (x - largest.clone()).exp().sum_dim(1).log() + largest
}

#[derive(Module, Debug)]
pub struct MlpNet {
    actor: Vec<Linear>,
    actor_out: Linear,
    critic: Vec<Linear>,
    critic_out: Linear,
    #[module(skip)]
    anchor: Option<Anchor>,
}

impl MlpNet {
    fn new(config: &NetConfig, layout: ObservationLayout, device: &Device) -> Self {
        let stack = |device: &Device| {
            let mut layers = Vec::new();
            let mut width = layout.len();
            for &h in &config.hidden {
                layers.push(LinearConfig::new(width, h).init(device));
                width = h;
            }
            layers
        };
        let last = *config.hidden.last().expect("validated: at least one layer");
        let anchor = Anchor::of(config, &layout);
        Self {
            actor: stack(device),
            actor_out: zero_if(anchor.is_some(), LinearConfig::new(last, layout.assets + 1), |c, i| {
                c.with_initializer(i)
            })
            .init(device),
            critic: stack(device),
            critic_out: LinearConfig::new(last, 1).init(device),
            anchor,
        }
    }

    /// Scores `[batch, 1 + assets]`.
    pub fn actor(&self, x: Tensor<2>) -> Tensor<2> {
        let hidden = self.actor.iter().fold(x, |x, layer| tanh(layer.forward(x)));
        self.actor_out.forward(hidden)
    }

    /// Values `[batch]`. The critic shares no parameter with the actor, so the two can be
    /// differentiated separately, in parallel.
    pub fn critic(&self, x: Tensor<2>) -> Tensor<1> {
        let hidden = self.critic.iter().fold(x, |x, layer| tanh(layer.forward(x)));
        self.critic_out.forward(hidden).squeeze_dim(1)
    }

    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        (self.actor(x.clone()), self.critic(x))
    }

    /// The actor's and the critic's layers, each in order from input to output.
    pub fn stacks(&self) -> (impl Iterator<Item = &Linear>, impl Iterator<Item = &Linear>) {
        (self.actor.iter().chain([&self.actor_out]), self.critic.iter().chain([&self.critic_out]))
    }
}

/// Anchored networks start at exactly the reference: a zero last layer scores every asset alike.
/// Others keep burn's default initializer (and its random draws).
fn zero_if<C>(anchored: bool, config: C, with: impl FnOnce(C, Initializer) -> C) -> C {
    if anchored { with(config, Initializer::Zeros) } else { config }
}

/// `tanh(x) = 2 sigmoid(2 x) - 1`, exact in real arithmetic and within 2e-7 of the exact value in f32.
///
/// Why not burn's `tanh`: the Flex backend maps it element by element onto glibc's `tanhf`, which
/// is several times slower than the `expf` behind its `sigmoid` (`docs/performance.md` has the
/// profile). Gradient included: sigmoid's backward pass reuses its output as tanh's does.
pub fn tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    sigmoid(x.mul_scalar(2.0)).mul_scalar(2.0).sub_scalar(1.0)
}

/// EIIE: every asset's feature window goes through the same two convolutions over time, is
/// joined by the asset's current weight, and a 1x1 convolution scores it; a learned cash bias
/// scores cash. The parameters do not depend on the number of assets, so a trained network
/// can allocate over any asset set with the same features and window.
#[derive(Module, Debug)]
pub struct EiieNet {
    conv_time: Conv2d,
    conv_window: Conv2d,
    score: Conv2d,
    cash_bias: Param<Tensor<1>>,
    value: Linear,
    #[module(skip)]
    layout: [usize; 3],
    #[module(skip)]
    anchor: Option<Anchor>,
    /// Where each entry of the first convolution's banded matrix reads the kernel from (see
    /// [`EiieNet::time_matrix`]): fixed by the shapes, so built once rather than at every pass.
    #[module(skip)]
    time_band: Vec<i64>,
}

impl EiieNet {
    fn new(config: &NetConfig, layout: ObservationLayout, device: &Device) -> Self {
        let rest = layout.window + 1 - config.eiie_kernel;
        let anchor = Anchor::of(config, &layout);
        Self {
            conv_time: Conv2dConfig::new([layout.features, config.eiie_channels], [1, config.eiie_kernel])
                .init(device),
            conv_window: Conv2dConfig::new([config.eiie_channels, config.eiie_features], [1, rest])
                .init(device),
            score: zero_if(
                anchor.is_some(),
                Conv2dConfig::new([config.eiie_features + 1, 1], [1, 1]),
                |c, i| c.with_initializer(i),
            )
            .init(device),
            cash_bias: Param::from_tensor(Tensor::zeros([1], device)),
            value: LinearConfig::new(config.eiie_features + 1, 1).init(device),
            layout: [layout.assets, layout.features, layout.window],
            anchor,
            time_band: time_band(layout.features, layout.window, config.eiie_channels, config.eiie_kernel),
        }
    }

    /// Scores `[batch, 1 + assets]` and per-asset features pooled over assets, `[batch, C + 1]`.
    ///
    /// The convolutions are computed as matrix products over every asset's window at once,
    /// which is the same arithmetic as the convolutions (`conv2d` below in the tests is the
    /// reference): the observation already holds each asset's `[features, window]` block in a
    /// row, so the first convolution is one product with its banded (Toeplitz) matrix and the
    /// second, whose kernel spans the whole rest of the window, one product with its weights.
    /// Burn's CPU convolution unfolds its input first and then multiplies by a matrix only
    /// two channels wide; at hundreds of assets that copying was most of a training step.
    fn scores_and_pooled(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let [batch, _] = x.dims();
        let [assets, features, window] = self.layout;
        let feature_len = assets * features * window;
        let rows = x.clone().narrow(1, 0, feature_len).reshape([batch * assets, features * window]);
        let weights = x.narrow(1, feature_len + 1, assets).reshape([batch, assets, 1]);
        let h = relu(rows.matmul(self.time_matrix()) + self.time_bias());
        let [channels, ..] = self.conv_window.weight.dims();
        let window_weights = self.conv_window.weight.val().reshape([channels as i32, -1]).transpose();
        let h = relu(h.matmul(window_weights) + bias_row(&self.conv_window));
        let h = Tensor::cat(vec![h.reshape([batch, assets, channels]), weights], 2); // [batch, assets, C + 1]
        let score_weights = self.score.weight.val().reshape([channels + 1, 1]);
        let asset_scores = (h.clone().reshape([batch * assets, channels + 1]).matmul(score_weights)
            + bias_row(&self.score))
        .reshape([batch, assets]);
        let cash = self.cash_bias.val().reshape([1, 1]).expand([batch, 1]);
        let pooled = h.mean_dim(1).reshape([batch, channels + 1]);
        (Tensor::cat(vec![cash, asset_scores], 1), pooled)
    }

    /// The first convolution as a matrix `[features * window, channels * out]` (`out` the
    /// positions of its kernel along the window), gathered from the kernel by [`time_band`] so
    /// that the gradient flows back to it.
    fn time_matrix(&self) -> Tensor<2> {
        let [_, features, window] = self.layout;
        let [channels, _, _, kernel] = self.conv_time.weight.dims();
        let out = window + 1 - kernel;
        let device = self.conv_time.weight.device();
        let kernel_values = self.conv_time.weight.val().reshape([channels * features * kernel]);
        // One zero past the kernel's values, for the entries off the band.
        let padded = Tensor::cat(vec![kernel_values, Tensor::zeros([1], &device)], 0);
        let band = TensorData::new(self.time_band.clone(), [self.time_band.len()]);
        let index = Tensor::<1, Int>::from_data(band, &device);
        padded.select(0, index).reshape([features * window, channels * out])
    }

    /// The first convolution's bias, repeated over its positions: `[1, channels * out]`.
    fn time_bias(&self) -> Tensor<2> {
        let [_, _, window] = self.layout;
        let [channels, _, _, kernel] = self.conv_time.weight.dims();
        bias_row(&self.conv_time)
            .reshape([channels, 1])
            .expand([channels, window + 1 - kernel])
            .reshape([1, channels * (window + 1 - kernel)])
    }

    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let (scores, pooled) = self.scores_and_pooled(x);
        (scores, self.value.forward(pooled).squeeze_dim(1))
    }
}

/// For each entry `(f * window + s, c * out + t)` of the first convolution's banded matrix, the
/// index of the kernel's `W[c, f, 0, s - t]` in its flattened values where `0 <= s - t < kernel`,
/// and one past the last value (a zero) elsewhere.
fn time_band(features: usize, window: usize, channels: usize, kernel: usize) -> Vec<i64> {
    let out = window + 1 - kernel;
    let size = channels * features * kernel;
    let mut index = vec![size as i64; features * window * channels * out];
    for f in 0..features {
        for s in 0..window {
            for c in 0..channels {
                for t in s.saturating_sub(kernel - 1)..=s.min(out - 1) {
                    index[(f * window + s) * channels * out + c * out + t] =
                        ((c * features + f) * kernel + s - t) as i64;
                }
            }
        }
    }
    index
}

/// A 1x1-or-wider convolution's bias as a row `[1, channels]`, to add to a matrix product.
fn bias_row(conv: &Conv2d) -> Tensor<2> {
    let bias = conv.bias.as_ref().expect("EIIE convolutions have biases").val();
    let [channels] = bias.dims();
    bias.reshape([1, channels])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::to_host;

    #[test]
    fn tanh_matches_the_reference_in_value_and_gradient() {
        let mut xs: Vec<f32> = (-2000..=2000).map(|i| i as f32 * 0.01).collect();
        xs.extend([-100.0, 100.0, f32::MIN, f32::MAX, 1e-30, -1e-30, 0.0]);
        let device = Device::default().autodiff();
        let input = Tensor::<1>::from_data(TensorData::new(xs.clone(), [xs.len()]), &device).require_grad();
        let output = tanh(input.clone());
        let values = output.clone().into_data().try_into_vec::<f32>().expect("f32");
        let grads = output.sum().backward();
        let slopes = input.grad(&grads).expect("gradient").into_data().try_into_vec::<f32>().expect("f32");
        let (mut worst_value, mut worst_slope) = (0.0f64, 0.0f64);
        for ((&x, &y), &slope) in xs.iter().zip(&values).zip(&slopes) {
            let exact = (x as f64).tanh();
            worst_value = worst_value.max((y as f64 - exact).abs());
            worst_slope = worst_slope.max((slope as f64 - (1.0 - exact * exact)).abs());
        }
        assert!(worst_value <= 2e-7, "largest error of tanh: {worst_value:e}");
        assert!(worst_slope <= 1e-6, "largest error of its derivative: {worst_slope:e}");
    }

    /// An observation with random features, arbitrary current weights and `reference` last.
    fn anchored_observation(layout: &ObservationLayout, reference: &[f32]) -> Vec<f32> {
        let mut x: Vec<f32> = (0..layout.len()).map(|i| ((i * 7919) % 13) as f32 / 6.0 - 1.0).collect();
        let offset = layout.reference_offset().unwrap();
        x[offset..].copy_from_slice(reference);
        x
    }

    #[test]
    fn an_untrained_anchored_network_holds_exactly_the_reference_then_tilts_within_bounds() {
        let layout = ObservationLayout { assets: 4, features: 2, window: 6, reference: true };
        let device = Device::flex();
        // Fully invested, and a reference that holds cash.
        let references = [[0.0f32, 0.1, 0.2, 0.3, 0.4], [0.3, 0.05, 0.15, 0.2, 0.3]];
        for (kind, reference) in
            [NetKind::Mlp, NetKind::Eiie].into_iter().flat_map(|k| references.map(|r| (k, r)))
        {
            let config = NetConfig { kind, hidden: vec![8], eiie_kernel: 2, ..NetConfig::default() };
            let net = config.init_seeded(layout, &device, 3);
            assert!(net.is_anchored());
            let x = Tensor::<2>::from_data(
                TensorData::new(anchored_observation(&layout, &reference), [1, layout.len()]),
                &device,
            );
            let weights: Vec<f32> = burn::tensor::activation::softmax(net.scores(x.clone()), 1)
                .into_data()
                .try_into_vec()
                .unwrap();
            for (w, r) in weights.iter().zip(&reference) {
                assert!((w - r).abs() < 1e-6, "{kind:?}: {weights:?} vs {reference:?}");
            }
            // Whatever the last layer learns, each asset's weight stays within exp(+-2 tilt) of its
            // reference share.
            let trained = net.with_parameter_values(
                config
                    .init_seeded(layout, &device, 3)
                    .parameter_values()
                    .iter()
                    .map(|p| (0..p.len()).map(|i| ((i * 7) % 11) as f32 - 5.0).collect())
                    .collect(),
            );
            let scores = trained.unwrap().scores(x);
            let weights: Vec<f32> =
                burn::tensor::activation::softmax(scores, 1).into_data().try_into_vec().unwrap();
            let bound = (2.0 * config.tilt).exp() as f32;
            // Cash is the reference's: what it leaves out stays out, what it holds is held.
            assert!(
                (weights[0] - reference[0]).abs() < 1e-6,
                "{kind:?}: cash {} vs {}",
                weights[0],
                reference[0]
            );
            assert!(
                weights[1..].iter().zip(&reference[1..]).any(|(w, r)| (w - r).abs() > 1e-3),
                "{kind:?}: no tilt"
            );
            for (w, r) in weights.iter().zip(&reference).skip(1) {
                assert!(*w <= r * bound * 1.0001 && *w >= r / bound * 0.9999, "{kind:?}: {w} vs {r}");
            }
        }
    }

    /// EIIE as Jiang et al. draw it and burn computes it: two convolutions over the
    /// `[batch, features, assets, window]` tensor and a 1x1 convolution scoring each asset.
    fn eiie_by_convolution(net: &EiieNet, x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let [batch, _] = x.dims();
        let [assets, features, window] = net.layout;
        let feature_len = assets * features * window;
        let windows =
            x.clone().narrow(1, 0, feature_len).reshape([batch, assets, features, window]).swap_dims(1, 2);
        let weights = x.narrow(1, feature_len + 1, assets).reshape([batch, 1, assets, 1]);
        let h = relu(net.conv_time.forward(windows));
        let h = relu(net.conv_window.forward(h));
        let h = Tensor::cat(vec![h, weights], 1);
        let asset_scores = net.score.forward(h.clone()).reshape([batch, assets]);
        let cash = net.cash_bias.val().reshape([1, 1]).expand([batch, 1]);
        let [_, channels, _, _] = h.dims();
        let pooled = h.mean_dim(2).reshape([batch, channels]);
        (Tensor::cat(vec![cash, asset_scores], 1), pooled)
    }

    #[test]
    fn eiie_as_matrix_products_is_the_convolutions_in_value_and_gradient() {
        let device = Device::default().autodiff();
        device.seed(3);
        for (assets, features, window, kernel, channels) in
            [(7, 3, 10, 3, 2), (1, 1, 4, 1, 1), (5, 5, 50, 3, 2)]
        {
            let layout = ObservationLayout { assets, features, window, reference: false };
            let config = NetConfig {
                eiie_kernel: kernel,
                eiie_channels: channels,
                eiie_features: 4,
                ..NetConfig::default()
            };
            let net = EiieNet::new(&config, layout, &device);
            let batch = 3;
            let x = Tensor::<2>::random(
                [batch, layout.len()],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            let gradients = |(scores, pooled): (Tensor<2>, Tensor<2>)| {
                let (a, b) = (to_host(scores.clone()), to_host(pooled.clone()));
                let grads = (scores.powi_scalar(2).sum() + pooled.powi_scalar(3).sum()).backward();
                let mut all = vec![a, b];
                let weight_grads = [&net.conv_time, &net.conv_window, &net.score]
                    .map(|conv| to_host(conv.weight.grad(&grads).expect("a gradient")));
                all.extend(weight_grads);
                all.extend(
                    [&net.conv_time, &net.conv_window, &net.score]
                        .map(|conv| to_host(conv.bias.as_ref().unwrap().grad(&grads).expect("a gradient"))),
                );
                all.push(to_host(net.cash_bias.grad(&grads).expect("a gradient")));
                all
            };
            let ours = gradients(net.scores_and_pooled(x.clone()));
            let reference = gradients(eiie_by_convolution(&net, x));
            for (k, (a, b)) in ours.iter().zip(&reference).enumerate() {
                assert_eq!(a.len(), b.len());
                for (x, y) in a.iter().zip(b) {
                    assert!(
                        (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
                        "{assets} assets, output {k}: {x} vs {y}"
                    );
                }
            }
        }
    }
}
