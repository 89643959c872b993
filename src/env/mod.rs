//! The simulated market environment, gym-like: `reset`, then `step(weights)` returns the next
//! observation, the reward, whether the episode is done, and what happened to the portfolio.
//!
//! Timing: a decision at the close of row `t` sees prices up to `t` only, trades from the drifted
//! weights to the chosen ones (paying costs), then holds through `rebalance_every` periods of
//! price moves while the weights drift with prices. Weights are long-only over cash and N assets,
//! cash first.
//!
//! From Rust, the loop of a gym user: the bundled default config's test period, traded at equal
//! weights with its costs. [`MarketEnv`] is one episode; [`BatchEnv`] steps many at once for a
//! learner. The same market serves every period: its features are normalized on the training
//! period alone, whichever period the environment then walks.
//!
//! ```
//! use std::{path::Path, sync::Arc};
//! use folio::env::{EnvSettings, Market, MarketEnv, config::EnvConfig};
//!
//! let config = EnvConfig::load(Path::new("envs/default.toml"))?;
//! let (market, _selection) = Market::from_config(&config)?;
//! let market = Arc::new(market);
//! let range = market.decision_range(&config.periods.test, config.episode.embargo)?;
//! let mut settings = EnvSettings::from_config(&config);
//! settings.episode.horizon = 0; // the whole period as one episode, as an evaluation walks it
//! let mut env = MarketEnv::new(market.clone(), range, settings, 0)?;
//!
//! let observation = env.reset();
//! assert_eq!(observation.len(), market.layout().len());
//! let assets = env.action_len() - 1; // index 0 is cash
//! let equal_weight: Vec<f64> =
//!     std::iter::once(0.0).chain(std::iter::repeat_n(1.0 / assets as f64, assets)).collect();
//! let (mut log_growth, mut paid) = (0.0, 0.0);
//! loop {
//!     let step = env.step(&equal_weight)?;
//!     log_growth += step.reward; // the default reward: the log of the net return
//!     paid += step.info.cost;
//!     if step.done {
//!         assert!((log_growth - step.info.value.ln()).abs() < 1e-9);
//!         break;
//!     }
//! }
//! assert!(paid > 0.0, "rebalancing to equal weight every day pays the config's costs");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod check;
pub mod config;
mod costs;
mod error;
pub mod limits;
mod market;
mod reward;
pub mod risk;

pub use costs::{CostConfig, CostModel, remainder_factor_exact, remainder_factor_proportional};
pub use error::{ConfigError, EnvError, InvalidWeights};
pub use limits::Limits;
pub use market::{DecisionRange, Market, ObservationLayout, span_rows};
pub use reward::{DEFAULT_ETA, RewardConfig, RewardState};

use rand::{RngExt, SeedableRng, rngs::StdRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use self::config::{EnvConfig, EpisodeConfig};

/// How far a weight vector may be from summing to one, or below zero, and still be accepted.
pub const WEIGHT_TOLERANCE: f64 = 1e-6;

/// `max_i |held_i - target_i|`, cash included: how far a portfolio has drifted from a target,
/// which a no-trade band compares with its width.
/// Generic so that the direct learner's `f32` batch measures it as the environment does, in
/// `f64` (the difference of two `f32` values is exact there).
pub fn weight_drift<T: Copy + Into<f64>>(held: &[T], target: &[T]) -> f64 {
    held.iter().zip(target).map(|(&w, &t)| (w.into() - t.into()).abs()).fold(0.0, f64::max)
}

/// What the environment does, independent of the data: costs, reward, episode shape and the
/// allocation limits every target is projected onto.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnvSettings {
    pub costs: CostConfig,
    pub reward: RewardConfig,
    pub episode: EpisodeConfig,
    pub limits: Limits,
}

impl EnvSettings {
    pub fn from_config(config: &EnvConfig) -> Self {
        Self { costs: config.costs, reward: config.reward, episode: config.episode, limits: config.limits }
    }
}

/// What one step did to the portfolio.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StepInfo {
    /// Portfolio value after the step (it starts at 1).
    pub value: f64,
    /// Return over the step before costs: the drift of the chosen weights.
    pub gross_return: f64,
    /// Return over the step after costs.
    pub net_return: f64,
    /// `sum_{i>=1} |w_i - w'_i|`: value of assets traded, as a fraction of portfolio value
    /// (selling 10% of one asset to buy another is 0.2).
    pub turnover: f64,
    /// Costs paid at this step, in units of portfolio value.
    pub cost: f64,
    /// Row of the market the portfolio now stands at (the next decision's close).
    pub row: usize,
}

/// B independent episodes stepped together over contiguous buffers. Nothing is allocated per
/// step: observations are written in place into one `[B][observation]` buffer that a learner can
/// copy into a tensor at once.
#[derive(Debug)]
pub struct BatchEnv {
    market: Arc<Market>,
    range: DecisionRange,
    settings: EnvSettings,
    /// Draws episode starts; rebuilt from `seed` and `starts_drawn` when a state is restored.
    rng: StdRng,
    seed: u64,
    starts_drawn: u64,
    width: usize,
    observation_len: usize,
    episodes: Vec<Episode>,
    /// `[B][cash + assets]`: what each portfolio holds now, after prices drifted.
    weights: Vec<f64>,
    /// `[B][cash + assets]`: the last actions projected onto the limits, what was traded to.
    targets: Vec<f64>,
    observations: Vec<f32>,
    /// `[B][rebalance_every]`: portfolio value at the close of each period of the last step.
    period_values: Vec<f64>,
}

/// One lane's episode: everything a step reads and writes besides the flat per-lane buffers.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Episode {
    /// The row of the next decision's close.
    row: usize,
    steps: usize,
    value: f64,
    reward_state: RewardState,
    done: bool,
    reward: f64,
    info: StepInfo,
    /// How many entries of the lane's `period_values` the last step wrote.
    period_count: usize,
}

impl Episode {
    fn start(row: usize, reward_state: RewardState) -> Self {
        Self {
            row,
            steps: 0,
            value: 1.0,
            reward_state,
            done: false,
            reward: 0.0,
            info: StepInfo { value: 1.0, row, ..StepInfo::default() },
            period_count: 0,
        }
    }
}

impl BatchEnv {
    pub fn new(
        market: Arc<Market>,
        range: DecisionRange,
        settings: EnvSettings,
        batch: usize,
        seed: u64,
    ) -> Result<Self, EnvError> {
        if batch == 0 {
            return Err(EnvError::EmptyBatch);
        }
        settings.costs.validate()?;
        settings.reward.validate()?;
        settings.limits.validate()?;
        settings.episode.validate()?;
        if range.first < market.first_observable()
            || range.last >= market.n_periods()
            || range.first >= range.last
        {
            return Err(EnvError::RangeOutsideMarket {
                first: range.first,
                last: range.last,
                observable: market.first_observable(),
                end: market.n_periods() - 1,
            });
        }
        let needed = settings.episode.horizon * settings.episode.rebalance_every;
        if needed > range.periods() {
            return Err(EnvError::EpisodeTooLong {
                horizon: settings.episode.horizon,
                every: settings.episode.rebalance_every,
                needed,
                from: market.panel.index.label(range.first),
                to: market.panel.index.label(range.last),
                periods: range.periods(),
            });
        }
        let width = market.n_assets() + 1;
        let observation_len = market.layout().len();
        Ok(Self {
            range,
            settings,
            rng: StdRng::seed_from_u64(seed),
            seed,
            starts_drawn: 0,
            width,
            observation_len,
            // Done until `reset`: stepping a batch that was never reset is an error.
            episodes: vec![
                Episode { done: true, ..Episode::start(range.first, RewardState::new(1.0)) };
                batch
            ],
            weights: vec![0.0; batch * width],
            targets: vec![0.0; batch * width],
            observations: vec![0.0; batch * observation_len],
            period_values: vec![0.0; batch * settings.episode.rebalance_every],
            market,
        })
    }

    pub fn market(&self) -> &Arc<Market> {
        &self.market
    }

    pub fn range(&self) -> DecisionRange {
        self.range
    }

    pub fn settings(&self) -> &EnvSettings {
        &self.settings
    }

    pub fn batch(&self) -> usize {
        self.episodes.len()
    }

    /// Length of one action: cash plus every asset.
    pub fn action_len(&self) -> usize {
        self.width
    }

    pub fn observation_len(&self) -> usize {
        self.observation_len
    }

    /// Start a new episode in every lane: all in cash with value 1, at a random start that
    /// leaves room for the horizon (or at the range's start when the horizon is 0).
    pub fn reset(&mut self) -> &[f32] {
        for lane in 0..self.batch() {
            self.reset_lane(lane);
        }
        &self.observations
    }

    pub fn reset_lane(&mut self, lane: usize) {
        let episode = self.settings.episode;
        let start = if episode.horizon == 0 {
            self.range.first
        } else {
            self.starts_drawn += 1;
            self.rng.random_range(self.range.first..=self.latest_start())
        };
        let prior = self.prior_returns(start);
        self.episodes[lane] =
            Episode::start(start, RewardState::with_prior(1.0, &self.settings.reward, &prior));
        let weights = &mut self.weights[lane * self.width..(lane + 1) * self.width];
        weights.fill(0.0);
        weights[0] = 1.0;
        let out = &mut self.observations[lane * self.observation_len..(lane + 1) * self.observation_len];
        self.market.write_observation(start, weights, out);
    }

    /// The equal-weight market's returns over the holding periods that end at `start` (newest
    /// last), as many as the reward's running moments want and the data hold: what the reward
    /// starts from ([`RewardState::with_prior`]). Only rows up to `start` are read.
    fn prior_returns(&self, start: usize) -> Vec<f64> {
        let wanted = RewardState::prior_periods(&self.settings.reward);
        let every = self.settings.episode.rebalance_every;
        let n_assets = self.market.n_assets();
        let mut returns: Vec<f64> = (1..=wanted)
            .map_while(|back| {
                // Relatives of rows begin + 1 ..= end: the holding period from begin to end.
                let end = start.checked_sub((back - 1) * every)?;
                let begin = end.checked_sub(every)?;
                let growth: f64 = (1..=n_assets)
                    .map(|asset| (begin + 1..=end).map(|t| self.market.relatives(t)[asset]).product::<f64>())
                    .sum();
                Some(growth / n_assets as f64 - 1.0)
            })
            .collect();
        returns.reverse();
        returns
    }

    /// Step every lane with its action (`actions` is `[B][cash + assets]`), projected onto the
    /// allocation limits; a lane whose drifted weights lie within the no-trade band of that
    /// target holds them instead. All actions are checked before any lane moves, so an invalid one
    /// leaves the batch untouched.
    pub fn step(&mut self, actions: &[f64]) -> Result<(), EnvError> {
        if actions.len() != self.batch() * self.width {
            return Err(EnvError::InvalidAction(format!(
                "expected {} weights ({} episodes x (cash + {} assets)), got {}",
                self.batch() * self.width,
                self.batch(),
                self.width - 1,
                actions.len()
            )));
        }
        for (lane, action) in actions.chunks_exact(self.width).enumerate() {
            if self.episodes[lane].done {
                return Err(EnvError::EpisodeOver);
            }
            validate_action(action).map_err(|reason| match self.batch() {
                1 => EnvError::InvalidAction(reason.to_string()),
                _ => EnvError::InvalidAction(format!("episode {lane}: {reason}")),
            })?;
        }
        self.targets.copy_from_slice(actions);
        for target in self.targets.chunks_exact_mut(self.width) {
            // Weights within the tolerance of a sum of one are accepted; traded as given, the
            // excess would be value made from nothing (or lost) at every step.
            let sum: f64 = target.iter().sum();
            if (sum - 1.0).abs() > 1e-12 {
                target.iter_mut().for_each(|w| *w /= sum);
            }
        }
        if !self.settings.limits.is_none() {
            for target in self.targets.chunks_exact_mut(self.width) {
                self.settings.limits.project(target);
            }
        }
        self.advance();
        Ok(())
    }

    /// A step in which every lane keeps its drifted weights, trading nothing even where prices
    /// carried them past the allocation limits: limits bind where the portfolio rebalances, and
    /// a hold (a rebalancing rule's day off) keeps what prices made of the last rebalancing, as
    /// the no-trade band does.
    fn hold(&mut self) -> Result<(), EnvError> {
        if self.episodes.iter().any(|episode| episode.done) {
            return Err(EnvError::EpisodeOver);
        }
        self.targets.copy_from_slice(&self.weights);
        self.advance();
        Ok(())
    }

    /// Every lane to its target (or, inside the no-trade band, its drifted weights), through the
    /// periods to its next decision.
    fn advance(&mut self) {
        let band = self.settings.episode.no_trade_band;
        if band > 0.0 {
            for (target, held) in
                self.targets.chunks_exact_mut(self.width).zip(self.weights.chunks_exact(self.width))
            {
                if weight_drift(held, target) <= band {
                    // Holding exactly the drifted weights: no turnover, no cost.
                    target.copy_from_slice(held);
                }
            }
        }
        let shared = Shared { market: &self.market, range: self.range, settings: &self.settings };
        let (width, len, every) = (self.width, self.observation_len, self.settings.episode.rebalance_every);
        let (lanes, threads) = (self.batch(), rayon::current_num_threads());
        let parallel =
            lanes >= PARALLEL_MIN_LANES && len >= PARALLEL_MIN_OBSERVATION_PER_WEIGHT * width && threads > 1;
        if parallel {
            // Lanes are independent and cost the same: step them on the current rayon pool,
            // one chunk per thread, so a step forks once per thread and no more.
            (
                self.episodes.par_iter_mut(),
                self.targets.par_chunks_exact(width),
                self.weights.par_chunks_exact_mut(width),
                self.observations.par_chunks_exact_mut(len),
                self.period_values.par_chunks_exact_mut(every),
            )
                .into_par_iter()
                .with_min_len(lanes.div_ceil(threads))
                .for_each(|(episode, target, weights, observation, period_values)| {
                    shared.step_lane(Lane { episode, weights, observation, period_values }, target)
                });
        } else {
            let lanes = self
                .episodes
                .iter_mut()
                .zip(self.targets.chunks_exact(width))
                .zip(self.weights.chunks_exact_mut(width))
                .zip(self.observations.chunks_exact_mut(len))
                .zip(self.period_values.chunks_exact_mut(every));
            for ((((episode, target), weights), observation), period_values) in lanes {
                shared.step_lane(Lane { episode, weights, observation, period_values }, target);
            }
        }
    }

    /// `[B][observation]`, see [`ObservationLayout`].
    pub fn observations(&self) -> &[f32] {
        &self.observations
    }

    pub fn observation(&self, lane: usize) -> &[f32] {
        &self.observations[lane * self.observation_len..(lane + 1) * self.observation_len]
    }

    /// Every lane's reward for its last step, in lane order.
    pub fn rewards(&self) -> impl ExactSizeIterator<Item = f64> + '_ {
        self.episodes.iter().map(|e| e.reward)
    }

    pub fn reward(&self, lane: usize) -> f64 {
        self.episodes[lane].reward
    }

    pub fn is_done(&self, lane: usize) -> bool {
        self.episodes[lane].done
    }

    pub fn all_done(&self) -> bool {
        self.episodes.iter().all(|e| e.done)
    }

    /// What every lane's last step did, in lane order.
    pub fn infos(&self) -> impl ExactSizeIterator<Item = &StepInfo> + '_ {
        self.episodes.iter().map(|e| &e.info)
    }

    pub fn info(&self, lane: usize) -> &StepInfo {
        &self.episodes[lane].info
    }

    /// Current weights of every lane, `[B][cash + assets]`: after price drift since the last
    /// trade, i.e. what the portfolio holds now.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// `[B][cash + assets]`: the weights each lane traded to at its last step, its action
    /// projected onto the allocation limits (or the weights it held, inside the no-trade band).
    pub fn targets(&self) -> &[f64] {
        &self.targets
    }

    pub fn lane_target(&self, lane: usize) -> &[f64] {
        &self.targets[lane * self.width..(lane + 1) * self.width]
    }

    /// Portfolio value at the close of every period the lane's last step moved through.
    pub fn period_values(&self, lane: usize) -> &[f64] {
        let every = self.settings.episode.rebalance_every;
        &self.period_values[lane * every..lane * every + self.episodes[lane].period_count]
    }

    pub fn lane_weights(&self, lane: usize) -> &[f64] {
        &self.weights[lane * self.width..(lane + 1) * self.width]
    }

    /// Row each lane stands at, in lane order: the close of its next decision.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.episodes.iter().map(|e| e.row)
    }

    fn latest_start(&self) -> usize {
        let episode = self.settings.episode;
        self.range.last - episode.horizon * episode.rebalance_every
    }

    /// Everything later steps and resets depend on, so that a learner interrupted between two
    /// updates continues exactly where it stopped.
    pub fn state(&self) -> EnvState {
        EnvState {
            starts_drawn: self.starts_drawn,
            episodes: self.episodes.clone(),
            weights: self.weights.clone(),
            targets: self.targets.clone(),
            observations: self.observations.clone(),
            period_values: self.period_values.clone(),
        }
    }

    /// Take back what [`BatchEnv::state`] gave, from a batch of the same shape.
    pub fn restore(&mut self, state: EnvState) -> Result<(), EnvError> {
        let fits = state.episodes.len() == self.episodes.len()
            && state.weights.len() == self.weights.len()
            && state.targets.len() == self.targets.len()
            && state.observations.len() == self.observations.len()
            && state.period_values.len() == self.period_values.len();
        if !fits {
            return Err(EnvError::StateMismatch(format!(
                "{} episodes with {} weights and {} observation values were saved, where this batch has {} episodes with {} and {}",
                state.episodes.len(),
                state.weights.len(),
                state.observations.len(),
                self.episodes.len(),
                self.weights.len(),
                self.observations.len()
            )));
        }
        self.rng = StdRng::seed_from_u64(self.seed);
        let latest = self.latest_start();
        for _ in 0..state.starts_drawn {
            let _: usize = self.rng.random_range(self.range.first..=latest);
        }
        self.starts_drawn = state.starts_drawn;
        self.episodes = state.episodes;
        self.weights = state.weights;
        self.targets = state.targets;
        self.observations = state.observations;
        self.period_values = state.period_values;
        Ok(())
    }
}

/// A batch's state between two steps, see [`BatchEnv::state`]. Private: only the batch that
/// wrote it can read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvState {
    starts_drawn: u64,
    episodes: Vec<Episode>,
    weights: Vec<f64>,
    targets: Vec<f64>,
    observations: Vec<f32>,
    period_values: Vec<f64>,
}

/// Batches of at least this many lanes step in parallel on the current rayon pool when the pool
/// has more than one thread and the observation is large enough (see
/// [`PARALLEL_MIN_OBSERVATION_PER_WEIGHT`]); others step in a plain loop.
pub const PARALLEL_MIN_LANES: usize = 16;

/// Observation floats per action weight below which a batch steps on one thread. A step checks
/// and projects every lane's action before any lane moves (one thread, work in proportion to the
/// weights), then moves the lanes (split across threads, work mostly in writing observations).
/// With little to write per lane, the second thread's half of the lanes saves less than its
/// spinning while the first checks the actions costs; with several features a lane's work is
/// large enough to pay for it. docs/performance.md has the figures behind the threshold, and
/// `folio bench --only env` measures them again.
pub const PARALLEL_MIN_OBSERVATION_PER_WEIGHT: usize = 128;

/// What every lane of a batch reads.
struct Shared<'a> {
    market: &'a Market,
    range: DecisionRange,
    settings: &'a EnvSettings,
}

/// One lane's share of a batch's state.
struct Lane<'a> {
    episode: &'a mut Episode,
    weights: &'a mut [f64],
    observation: &'a mut [f32],
    period_values: &'a mut [f64],
}

impl Shared<'_> {
    fn step_lane(&self, lane: Lane<'_>, target: &[f64]) {
        let weights = lane.weights;
        let mu = self.settings.costs.remainder_factor(weights, target);
        let turnover: f64 = weights[1..].iter().zip(&target[1..]).map(|(d, w)| (w - d).abs()).sum();
        let episode = lane.episode;
        let value_before = episode.value;
        weights.copy_from_slice(target);

        let start = episode.row;
        let every = self.settings.episode.rebalance_every;
        let end = (start + every).min(self.range.last);
        let mut gross = 1.0;
        for (t, value_at_close) in (start + 1..=end).zip(lane.period_values.iter_mut()) {
            let relatives = self.market.relatives(t);
            let growth: f64 = weights.iter().zip(relatives).map(|(w, x)| w * x).sum();
            for (w, x) in weights.iter_mut().zip(relatives) {
                *w = *w * x / growth;
            }
            gross *= growth;
            *value_at_close = value_before * mu * gross;
        }
        episode.period_count = end - start;
        let net = mu * gross;
        let value = value_before * mu * gross;
        episode.value = value;
        episode.row = end;
        episode.steps += 1;
        episode.reward = episode.reward_state.reward(&self.settings.reward, net, value);
        let horizon = self.settings.episode.horizon;
        episode.done = end >= self.range.last || (horizon > 0 && episode.steps >= horizon);
        episode.info = StepInfo {
            value,
            gross_return: gross - 1.0,
            net_return: net - 1.0,
            turnover,
            cost: value_before * (1.0 - mu),
            row: end,
        };
        self.market.write_observation(end, weights, lane.observation);
    }
}

/// Long-only weights over cash and assets that sum to one.
pub fn validate_action(weights: &[f64]) -> Result<(), InvalidWeights> {
    if let Some((index, &weight)) = weights.iter().enumerate().find(|(_, w)| !w.is_finite()) {
        return Err(InvalidWeights::NotFinite { index, weight });
    }
    if let Some((index, &weight)) = weights.iter().enumerate().find(|(_, w)| **w < 0.0) {
        return Err(InvalidWeights::Negative { index, weight });
    }
    let sum: f64 = weights.iter().sum();
    if (sum - 1.0).abs() > WEIGHT_TOLERANCE {
        return Err(InvalidWeights::Sum { sum });
    }
    Ok(())
}

/// One episode, gym-style. A thin view over a [`BatchEnv`] of one lane.
#[derive(Debug)]
pub struct MarketEnv {
    inner: BatchEnv,
}

/// What `step` returns: the next observation, the reward, whether the episode is over, and what
/// happened, with the weights the portfolio holds after prices drifted.
#[derive(Debug)]
pub struct Transition<'a> {
    pub observation: &'a [f32],
    pub reward: f64,
    pub done: bool,
    pub info: StepInfo,
    pub weights: &'a [f64],
    /// The weights traded to: the action projected onto the allocation limits.
    pub target: &'a [f64],
}

impl MarketEnv {
    pub fn new(
        market: Arc<Market>,
        range: DecisionRange,
        settings: EnvSettings,
        seed: u64,
    ) -> Result<Self, EnvError> {
        Ok(Self { inner: BatchEnv::new(market, range, settings, 1, seed)? })
    }

    pub fn reset(&mut self) -> &[f32] {
        self.inner.reset()
    }

    pub fn step(&mut self, weights: &[f64]) -> Result<Transition<'_>, EnvError> {
        self.inner.step(weights)?;
        Ok(self.transition())
    }

    /// A step that keeps the drifted weights: no trade, no cost, whatever the allocation limits
    /// (what a rebalancing rule does between its dates).
    pub fn hold(&mut self) -> Result<Transition<'_>, EnvError> {
        self.inner.hold()?;
        Ok(self.transition())
    }

    fn transition(&self) -> Transition<'_> {
        Transition {
            observation: self.inner.observation(0),
            reward: self.inner.reward(0),
            done: self.inner.is_done(0),
            info: *self.inner.info(0),
            weights: self.inner.lane_weights(0),
            target: self.inner.lane_target(0),
        }
    }

    pub fn action_len(&self) -> usize {
        self.inner.action_len()
    }

    pub fn market(&self) -> &Arc<Market> {
        self.inner.market()
    }

    pub fn row(&self) -> usize {
        self.inner.episodes[0].row
    }

    pub fn weights(&self) -> &[f64] {
        self.inner.lane_weights(0)
    }

    /// Portfolio value at the close of every period the last step moved through.
    pub fn period_values(&self) -> &[f64] {
        self.inner.period_values(0)
    }

    pub fn range(&self) -> DecisionRange {
        self.inner.range()
    }

    pub fn settings(&self) -> &EnvSettings {
        self.inner.settings()
    }
}
