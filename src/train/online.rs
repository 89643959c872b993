//! Online learning through a test window (Jiang, Xu and Liang 2017, section 5.3, "online
//! stochastic batch learning"): after each decision the agent takes a few direct policy-gradient
//! steps on the newest periods, so it keeps learning from the market it trades.
//!
//! Strictly causal: a decision at the close of row `t` is taken by the network as it stood before
//! that close, and the steps that follow it read relatives and features up to row `t` only (the
//! last batch period's outcome is `p[t] / p[t-1]`). A future that changes after row `t` changes
//! no decision up to `t` (`tests/training.rs` checks it bit for bit).

use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::Path;
use std::sync::Arc;

use super::checkpoint::{self, Weights};
use super::config::DirectConfig;
use super::direct::DirectLearner;
use super::{Descent, Learner, TrainError};
use crate::agent::network::PolicyNet;
use crate::agent::{ActionHead, AgentPolicy};
use crate::backtest::{MarketView, Policy, PolicyId};
use crate::env::{DecisionRange, EnvSettings, Market, ObservationLayout};

/// How a checkpoint keeps learning in its test window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OnlineSettings {
    /// Gradient steps after each decision; 0 never learns (the plain agent).
    pub steps: usize,
    /// The learning rate of those steps.
    pub learning_rate: f64,
}

/// A checkpoint's agent that keeps training on the data up to each decision.
pub struct OnlineAgent {
    id: PolicyId,
    head: ActionHead,
    device: Device,
    layout: ObservationLayout,
    /// The checkpoint's network, restored (with a fresh optimizer) before every backtest.
    start: PolicyNet,
    net: PolicyNet,
    optimizer: ModuleOptimizer,
    learner: DirectLearner,
    /// The learner's state (its portfolio-vector memory) before any step, restored with the
    /// network: a second backtest must start where the first did.
    learner_start: Vec<u8>,
    batch_periods: usize,
    first_row: usize,
    /// Whether a decision has been taken since the last reset: the first one dates the
    /// learner's rebalancing schedule, as it dates the backtest's.
    deciding: bool,
    settings: OnlineSettings,
    seed: u64,
    rng: StdRng,
}

impl OnlineAgent {
    /// `dir`'s agent on `market`, which must be the checkpoint's market (its normalization).
    pub fn new(
        id: PolicyId,
        dir: &Path,
        which: Weights,
        market: Arc<Market>,
        env: EnvSettings,
        settings: OnlineSettings,
        device: Device,
    ) -> Result<Self, TrainError> {
        let train_device = device.clone().autodiff();
        let (meta, net) = checkpoint::load_agent(dir, which, &train_device)?;
        meta.check_fits(dir, &market)?;
        // The newest periods matter most: batches start geometrically close to the latest one.
        let config = DirectConfig { recency_bias: 0.1, ..meta.train.direct };
        let (first_row, layout) = (market.first_observable(), market.layout());
        let range = DecisionRange { first: first_row, last: market.n_periods() - 1 };
        let learner = DirectLearner::new(market, range, env, config, meta.train.max_grad_norm, train_device)?;
        let learner_start = learner.save_state().unwrap_or_default();
        let optimizer = super::host::adam::adam_for(&device.clone().autodiff());
        Ok(Self {
            id,
            head: meta.head,
            device,
            layout,
            start: net.clone(),
            net,
            optimizer,
            learner,
            learner_start,
            batch_periods: config.batch_periods,
            first_row,
            deciding: false,
            settings,
            seed: meta.seed,
            rng: StdRng::seed_from_u64(meta.seed),
        })
    }

    /// The steps after a decision at row `row`: on periods whose outcomes are known by then.
    fn learn_up_to(&mut self, row: usize) {
        if row < self.first_row + self.batch_periods + 1 {
            return;
        }
        self.learner.limit_to(row);
        for _ in 0..self.settings.steps {
            let mut descent =
                Descent { optimizer: &mut self.optimizer, learning_rate: self.settings.learning_rate };
            let net = std::mem::replace(&mut self.net, self.start.clone());
            let (net, result) = self.learner.update(net, &mut descent, &mut self.rng);
            self.net = net;
            // A refused step leaves the network as it was: the agent trades on.
            if result.is_err() {
                break;
            }
        }
    }
}

impl Policy for OnlineAgent {
    fn id(&self) -> PolicyId {
        self.id
    }

    fn reset(&mut self) {
        self.net = self.start.clone();
        self.optimizer = super::host::adam::adam_for(&self.device.clone().autodiff());
        self.rng = StdRng::seed_from_u64(self.seed);
        self.deciding = false;
        self.learner.load_state(&self.learner_start).expect("the learner's own state fits it");
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        if !self.deciding {
            self.learner.date_decisions_from(view.row);
            self.deciding = true;
        }
        let acting = AgentPolicy::new(self.id, self.net.valid(), self.head, self.layout, self.device.clone());
        acting.act(view.observation, 1, out);
        self.learn_up_to(view.row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::DeviceChoice;
    use crate::backtest::backtest;
    use crate::data::synth::{SynthConfig, generate};
    use crate::data::{Stamp, TimeIndex, write_prices};
    use crate::env::config::{DataConfig, EnvConfig, EpisodeConfig, Periods, Span};
    use crate::env::{CostConfig, Limits, RewardConfig};
    use crate::features::{Feature, FeatureConfig};
    use crate::train::checkpoint::Weights;
    use crate::train::{TrainConfig, TrainRequest, train};

    /// The online learner holds between the backtest's rebalancing dates, which start at the
    /// test window's first decision, not at the market's first row; a later backtest starting
    /// elsewhere dates them anew.
    #[test]
    fn online_steps_hold_between_the_test_windows_own_rebalancing_dates() {
        let dir = tempfile::tempdir().unwrap();
        let panel =
            generate(&SynthConfig { assets: 2, periods: 400, seed: 4, ..SynthConfig::default() }).unwrap();
        let file = dir.path().join("prices.csv");
        write_prices(&panel, &file).unwrap();
        let date = |row: usize| match &panel.index {
            TimeIndex::Dates(dates) => Some(Stamp::Date(dates[row])),
            TimeIndex::Periods(_) => Some(Stamp::Period(row)),
        };
        let env = EnvConfig {
            data: DataConfig::new(file),
            periods: Periods {
                train: Span { from: None, to: date(249) },
                validation: Span { from: date(250), to: date(299) },
                test: Span { from: date(300), to: None },
            },
            features: FeatureConfig {
                window: 5,
                features: vec![Feature::LogReturn],
                ..FeatureConfig::default()
            },
            costs: CostConfig::default(),
            episode: EpisodeConfig { horizon: 30, rebalance_every: 3, embargo: 0, no_trade_band: 0.0 },
            reward: RewardConfig::LogReturn,
            limits: Limits::NONE,
            risk_profile: None,
        };
        let mut config = TrainConfig { steps: 200, ..TrainConfig::default() };
        config.direct.hold_between_rebalances = true;
        let out = dir.path().join("run");
        let request = TrainRequest {
            env: env.clone(),
            train: config,
            out: out.clone(),
            device: DeviceChoice::Cpu,
            resume: false,
            progress: crate::progress::silent(),
        };
        train(request).unwrap();

        let meta = checkpoint::load_meta(&out).unwrap();
        let (market, _) = Market::from_config(&meta.env).unwrap();
        let market = Arc::new(
            Market::new(market.panel, &meta.env.features, Some(meta.normalizer.clone()), 0..0).unwrap(),
        );
        let settings = EnvSettings::from_config(&meta.env);
        let online = OnlineSettings { steps: 1, learning_rate: 1e-3 };
        let device = DeviceChoice::Cpu.device().unwrap();
        let mut agent =
            OnlineAgent::new(PolicyId::AGENT, &out, Weights::Best, market.clone(), settings, online, device)
                .unwrap();
        for first in [301, 303] {
            assert_ne!((first - market.first_observable()) % 3, 0, "the window is out of the market's phase");
            backtest(&mut agent, &market, DecisionRange { first, last: 360 }, settings).unwrap();
            assert_eq!(agent.learner.schedule_origin(), first);
        }
    }
}
