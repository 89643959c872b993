//! Throughput figures with the same shape of work as the Python peers in
//! `../shared/bench/peers/` (a vectorized numpy environment, FinRL's two portfolio environments,
//! FinRL's PolicyGradient + EIIE, Stable-Baselines3 PPO, a PyTorch MLP training step), so that
//! `scripts/bench-vs-peers.sh` can set each folio figure beside its peer's.
//!
//! Every figure is the median of three timed runs. Thread counts are set with a rayon pool of
//! that size around the measured work (burn's Flex backend and the batched environment both run
//! on the current rayon pool).

use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::{relu, softmax};
use rand::{SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::agent::network::{NetKind, PolicyNet};
use crate::env::config::{EnvConfig, Span};
use crate::env::{BatchEnv, ConfigError, CostModel, DecisionRange, EnvError, EnvSettings, Market};
use crate::features::{Feature, Reference};
use crate::stats::median;
use crate::train::{Algo, Descent, Learner, TrainConfig, TrainError, make_learner};

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// Stable identifier.
    pub key: String,
    /// What was measured, for people.
    pub what: String,
    pub value: f64,
    pub unit: String,
    /// The peer rows (as `run_all.sh` names them) doing the same shape of work, if any.
    pub peers: Vec<String>,
    /// Whether a larger value is better (rates) or a smaller one (times).
    pub higher_is_better: bool,
    pub threads: usize,
}

impl BenchRow {
    fn new(
        key: impl Into<String>,
        what: impl Into<String>,
        value: f64,
        unit: &str,
        peers: &[&str],
        threads: usize,
    ) -> Self {
        Self {
            key: key.into(),
            what: what.into(),
            value,
            unit: unit.into(),
            peers: peers.iter().map(|p| p.to_string()).collect(),
            higher_is_better: !matches!(unit, "ms" | "s"),
            threads,
        }
    }
}

/// Why a benchmark could not run: its config, market or learner could not be set up, or a timed
/// update diverged.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The learner's own words on what went non-finite.
    #[error("{0}")]
    Diverged(String),
    #[error(
        "the direct-method figure trains on the last {needed} decisions of the training period, and \
         the training period of {} holds {got} decisions (after the features' warm-up): give it a longer one",
        data.display()
    )]
    TrainingTooShort { data: PathBuf, needed: usize, got: usize },
}

/// How long to measure.
#[derive(Debug, Clone, Copy)]
pub struct BenchOptions {
    /// Seconds of stepping per timed environment run (three runs per figure).
    pub env_seconds: f64,
    /// 1000-day episodes timed for the direct method (three at least for a median).
    pub direct_episodes: usize,
    /// PPO updates timed per figure.
    pub ppo_updates: usize,
    /// Timed MLP steps (after 20 warm-up steps).
    pub mlp_steps: usize,
    /// Only this group of figures; all if `None`.
    pub only: Option<Group>,
}

impl BenchOptions {
    pub fn full() -> Self {
        Self { env_seconds: 0.5, direct_episodes: 3, ppo_updates: 2, mlp_steps: 200, only: None }
    }

    /// Seconds instead of minutes: checks that everything runs, figures are rough.
    pub fn quick() -> Self {
        Self { env_seconds: 0.02, direct_episodes: 1, ppo_updates: 1, mlp_steps: 5, only: None }
    }
}

/// The groups of figures, each measured against its own peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Environment steps, batch 1 and batched, against the numpy and FinRL environments.
    Env,
    /// The direct policy gradient with EIIE against FinRL's PolicyGradient.
    Direct,
    /// PPO against Stable-Baselines3.
    Ppo,
    /// One MLP training step against PyTorch.
    Mlp,
    /// Baselines on a 500-asset market against skfolio and universal-portfolios
    /// ([`super::bench_large`]).
    Large,
}

/// Peer rows, named exactly as the peers print them.
pub mod peer {
    pub const NUMPY_B1: &str = "numpy env, batch 1: env-steps/s";
    pub const NUMPY_B64: &str = "numpy env, batch 64: env-steps/s";
    pub const FINRL_STOCK_ENV: &str = "FinRL StockPortfolioEnv: env-steps/s";
    pub const FINRL_PO_ENV: &str = "FinRL PortfolioOptimizationEnv: env-steps/s";
    pub const FINRL_EIIE_EPISODE: &str = "FinRL PolicyGradient+EIIE: s/episode (1000 days)";
    pub const FINRL_EIIE_RATE: &str = "FinRL PolicyGradient+EIIE: env-steps/s trained";
    pub const SB3_PPO: &str = "SB3 PPO on FinRL StockPortfolioEnv: env-steps/s trained";
    pub fn torch_ms(threads: usize) -> String {
        format!("torch MLP step, {threads} thread(s): ms/step")
    }
    pub fn torch_gflops(threads: usize) -> String {
        format!("torch MLP step, {threads} thread(s): GFLOP/s")
    }
}

/// Run `work` inside a rayon pool of `threads` threads.
fn with_threads<T: Send>(threads: usize, work: impl FnOnce() -> T + Send) -> T {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a rayon thread pool");
    pool.install(work)
}

/// Environment settings of a peer-shaped market: the bundled data, window 50, log returns only
/// (like the numpy env) or folio's five default features, the given cost model.
fn env_market(
    base: &EnvConfig,
    log_return_only: bool,
    cost_model: CostModel,
    cost_rate: f64,
) -> Result<(Arc<Market>, DecisionRange, EnvSettings), BenchError> {
    let mut config = base.clone();
    config.features.window = 50;
    if log_return_only {
        config.features.features = vec![Feature::LogReturn];
    }
    config.costs.model = cost_model;
    config.costs.buy = cost_rate;
    config.costs.sell = cost_rate;
    config.episode.horizon = 252;
    config.episode.rebalance_every = 1;
    let (market, _) = Market::from_config(&config)?;
    let range = market.decision_range(&Span::default(), 0)?;
    Ok((Arc::new(market), range, EnvSettings::from_config(&config)))
}

/// Environment steps per second of `batch` lanes on `threads` threads, with fixed random logits
/// turned into weights by a softmax at every step (as the numpy env does), resetting whenever
/// the episodes end (every 252 steps).
pub fn env_steps_per_second(
    market: &Arc<Market>,
    range: DecisionRange,
    settings: EnvSettings,
    batch: usize,
    threads: usize,
    seconds: f64,
) -> Result<f64, BenchError> {
    let mut env = BatchEnv::new(market.clone(), range, settings, batch, 0)?;
    let width = env.action_len();
    let mut rng = StdRng::seed_from_u64(1);
    let logits: Vec<f64> = (0..batch * width).map(|_| StandardNormal.sample(&mut rng)).collect();
    let mut actions = vec![0.0; batch * width];
    let rates = with_threads(threads, || {
        let mut rates = Vec::new();
        for _ in 0..3 {
            env.reset();
            let started = Instant::now();
            let mut steps = 0usize;
            while started.elapsed().as_secs_f64() < seconds {
                for _ in 0..64 {
                    softmax_rows(&logits, width, &mut actions);
                    env.step(&actions).expect("softmax weights are valid");
                    steps += batch;
                    if env.all_done() {
                        env.reset();
                    }
                }
            }
            rates.push(steps as f64 / started.elapsed().as_secs_f64());
        }
        rates
    });
    Ok(median(&rates))
}

fn softmax_rows(logits: &[f64], width: usize, out: &mut [f64]) {
    for (l, o) in logits.chunks_exact(width).zip(out.chunks_exact_mut(width)) {
        let max = l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        for (o, &l) in o.iter_mut().zip(l) {
            *o = (l - max).exp();
            sum += *o;
        }
        o.iter_mut().for_each(|o| *o /= sum);
    }
}

/// Seconds per 1000-day training episode of the direct policy gradient with EIIE, FinRL's
/// protocol: consecutive mini-batches of 100 periods over the last 1000 decision days of the
/// training period (10 gradient steps an episode), 0.25% costs, window 50.
pub fn direct_eiie_seconds_per_episode(
    base: &EnvConfig,
    episodes: usize,
    threads: usize,
) -> Result<f64, BenchError> {
    const DAYS: usize = 1000;
    const BATCH: usize = 100;
    let mut env_config = base.clone();
    env_config.features.window = 50;
    env_config.costs.buy = 0.0025;
    env_config.costs.sell = 0.0025;
    let (market, _) = Market::from_config(&env_config)?;
    let market = Arc::new(market);
    let train = market.decision_range(&env_config.periods.train, 0)?;
    if train.periods() < DAYS {
        return Err(BenchError::TrainingTooShort {
            data: base.data.file.clone(),
            needed: DAYS,
            got: train.periods(),
        });
    }
    let range = DecisionRange { first: train.last - DAYS, last: train.last };
    let mut config = TrainConfig::for_algo(Algo::Direct);
    config.net.kind = NetKind::Eiie;
    config.direct.batch_periods = BATCH;
    let settings = EnvSettings::from_config(&env_config);
    with_threads(threads, || {
        let mut trainer = BenchTrainer::new(&config, &market, range, settings)?;
        // Warm-up: parameters are drawn lazily at first use.
        trainer.update()?;
        let mut seconds = Vec::new();
        for _ in 0..episodes.max(1) {
            let started = Instant::now();
            let mut days = 0;
            while days < DAYS {
                days += trainer.update()?;
            }
            seconds.push(started.elapsed().as_secs_f64());
        }
        Ok(median(&seconds))
    })
}

/// A learner with its network and optimizer, set up as `folio train` sets them up and updated
/// by hand, so that only the updates are timed.
struct BenchTrainer {
    learner: Box<dyn Learner>,
    net: Option<PolicyNet>,
    optimizer: ModuleOptimizer,
    rng: StdRng,
    learning_rate: f64,
}

impl BenchTrainer {
    fn new(
        config: &TrainConfig,
        market: &Arc<Market>,
        range: DecisionRange,
        settings: EnvSettings,
    ) -> Result<Self, BenchError> {
        let device = Device::flex().autodiff();
        let learner = make_learner(config, market, range, settings, &device)?;
        Ok(Self {
            learner,
            net: Some(config.net.init_seeded(market.layout(), &device, 0)),
            optimizer: crate::train::host::adam::adam_for(&device),
            rng: StdRng::seed_from_u64(0),
            learning_rate: config.learning_rate,
        })
    }

    /// One update; the environment steps it consumed.
    fn update(&mut self) -> Result<usize, BenchError> {
        let net = self.net.take().expect("the network is put back after every update");
        let mut descent = Descent { optimizer: &mut self.optimizer, learning_rate: self.learning_rate };
        let (net, result) = self.learner.update(net, &mut descent, &mut self.rng);
        self.net = Some(net);
        Ok(result.map_err(|d| BenchError::Diverged(d.what))?.env_steps)
    }
}

/// Environment steps per second of PPO training with an MLP (64-64, tanh) on `base`'s
/// environment: rollouts and gradient epochs, `updates` times.
pub fn ppo_mlp_steps_per_second(
    base: &EnvConfig,
    envs: usize,
    rollout_steps: usize,
    epochs: usize,
    minibatch: usize,
    updates: usize,
    threads: usize,
) -> Result<f64, BenchError> {
    let (market, _) = Market::from_config(base)?;
    let market = Arc::new(market);
    let range = market.decision_range(&base.periods.train, 0)?;
    let mut config = TrainConfig::for_algo(Algo::Ppo);
    config.net.kind = NetKind::Mlp;
    config.net.hidden = vec![64, 64];
    config.ppo.envs = envs;
    config.ppo.rollout_steps = rollout_steps;
    config.ppo.epochs = epochs;
    config.ppo.minibatch = minibatch;
    let settings = EnvSettings::from_config(base);
    with_threads(threads, || {
        let mut trainer = BenchTrainer::new(&config, &market, range, settings)?;
        let started = Instant::now();
        let mut steps = 0;
        for _ in 0..updates.max(1) {
            steps += trainer.update()?;
        }
        Ok(steps as f64 / started.elapsed().as_secs_f64())
    })
}

#[derive(Module, Debug)]
struct Mlp {
    l1: Linear,
    l2: Linear,
    l3: Linear,
}

/// Median milliseconds of one training step of the peers' torch benchmark in burn: MLP
/// 1000-64-64-21 (ReLU), batch 256, softmax weights, loss `-mean(log1p(w . r))`, backward, Adam.
pub fn mlp_step_ms(steps: usize, threads: usize) -> f64 {
    with_threads(threads, || {
        let device = Device::flex().autodiff();
        device.seed(0);
        let mut net = Mlp {
            l1: LinearConfig::new(1000, 64).init(&device),
            l2: LinearConfig::new(64, 64).init(&device),
            l3: LinearConfig::new(64, 21).init(&device),
        };
        let mut optimizer = crate::train::host::adam::adam_for(&device);
        let x = Tensor::<2>::random([256, 1000], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
        let r = Tensor::<2>::random([256, 21], burn::tensor::Distribution::Normal(0.0, 0.01), &device);
        let mut step = |net: Mlp| {
            let h = relu(net.l1.forward(x.clone()));
            let h = relu(net.l2.forward(h));
            let w = softmax(net.l3.forward(h), 1);
            let loss = (w * r.clone()).sum_dim(1).log1p().mean().neg();
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            optimizer.step(1e-3, net, grads)
        };
        for _ in 0..20 {
            net = step(net);
        }
        let mut times = Vec::with_capacity(steps);
        for _ in 0..steps.max(1) {
            let started = Instant::now();
            net = step(net);
            times.push(started.elapsed().as_secs_f64() * 1e3);
        }
        median(&times)
    })
}

/// Floating-point operations of one MLP step, counted as the torch peer counts them.
pub const MLP_STEP_FLOPS: f64 = 6.0 * 256.0 * (1000.0 * 64.0 + 64.0 * 64.0 + 64.0 * 21.0);

/// The config at `config_path` without its reference portfolio: the peers observe none, so each
/// row's inputs are the size its label gives and its peer sees.
fn peer_shaped(config_path: &Path) -> Result<EnvConfig, BenchError> {
    let mut base = EnvConfig::load(config_path)?;
    base.features.reference = Reference::None;
    Ok(base)
}

/// `base` observing what SB3's PPO sees on FinRL's StockPortfolioEnv, in size: that env
/// observes 480 numbers (a 20 x 20 covariance and 4 indicators of 20 assets); 24 days of log
/// returns of 20 assets (+ 21 weights) is the same size of input.
fn sb3_shaped(base: &EnvConfig) -> EnvConfig {
    let mut small = base.clone();
    small.features.features = vec![Feature::LogReturn];
    small.features.window = 24;
    small
}

/// Every figure, in order; `report` sees each row as soon as it is measured.
pub fn run_all(
    config_path: &Path,
    options: BenchOptions,
    mut report: impl FnMut(&BenchRow),
) -> Result<Vec<BenchRow>, BenchError> {
    let base = peer_shaped(config_path)?;
    let mut rows = Vec::new();
    let mut push = |row: BenchRow| {
        report(&row);
        rows.push(row);
    };
    let wanted = |group: Group| options.only.is_none_or(|only| only == group);
    if wanted(Group::Env) {
        env_rows(&base, options.env_seconds, &mut push)?;
    }
    if wanted(Group::Direct) {
        direct_rows(&base, options.direct_episodes, &mut push)?;
    }
    if wanted(Group::Ppo) {
        ppo_rows(&base, options.ppo_updates, &mut push)?;
    }
    if wanted(Group::Mlp) {
        mlp_rows(options.mlp_steps, &mut push);
    }
    Ok(rows)
}

/// The environment figures: (log returns only or five features, cost model, batch, threads,
/// the peer rows doing the same work). The shape (20 assets + cash, window 50, log-return
/// windows, proportional costs) is the numpy env's; FinRL's StockPortfolioEnv observes less (480
/// numbers) and is set beside both that row and the five-feature one, whose observation is five
/// times larger.
const ENV_CASES: [(bool, CostModel, usize, usize, &[&str]); 10] = [
    (true, CostModel::Proportional, 1, 1, &[peer::NUMPY_B1, peer::FINRL_STOCK_ENV]),
    (true, CostModel::Proportional, 64, 1, &[peer::NUMPY_B64]),
    (true, CostModel::Proportional, 64, 2, &[peer::NUMPY_B64]),
    (false, CostModel::Proportional, 1, 1, &[peer::FINRL_STOCK_ENV]),
    (false, CostModel::Proportional, 64, 1, &[]),
    (false, CostModel::Proportional, 64, 2, &[]),
    (true, CostModel::Exact, 1, 1, &[]),
    (true, CostModel::Exact, 64, 1, &[]),
    (false, CostModel::Exact, 1, 1, &[peer::FINRL_PO_ENV]),
    (false, CostModel::Exact, 64, 2, &[]),
];

/// Environment steps per second for every row of [`ENV_CASES`].
fn env_rows(base: &EnvConfig, seconds: f64, push: &mut impl FnMut(BenchRow)) -> Result<(), BenchError> {
    for (log_return_only, cost_model, batch, threads, peers) in ENV_CASES {
        // The numpy env charges 0.1%; FinRL's PortfolioOptimizationEnv 0.25%.
        let rate = if cost_model == CostModel::Exact { 0.0025 } else { 0.001 };
        let (market, range, settings) = env_market(base, log_return_only, cost_model, rate)?;
        let value = env_steps_per_second(&market, range, settings, batch, threads, seconds)?;
        let features = if log_return_only { "log returns" } else { "5 features" };
        let costs = format!("{cost_model:?}").to_lowercase();
        push(BenchRow::new(
            format!("env_b{batch}_{}_{costs}_t{threads}", if log_return_only { "logret" } else { "feat5" }),
            format!("folio env, batch {batch}, {features}, {costs} costs, {threads} thread(s)"),
            value,
            "steps/s",
            peers,
            threads,
        ));
    }
    Ok(())
}

/// The direct policy gradient with EIIE: seconds per 1000-day episode, and the rate it implies.
fn direct_rows(base: &EnvConfig, episodes: usize, push: &mut impl FnMut(BenchRow)) -> Result<(), BenchError> {
    let seconds = direct_eiie_seconds_per_episode(base, episodes, 2)?;
    push(BenchRow::new(
        "direct_eiie_episode",
        "folio direct PG + EIIE: s/episode (1000 days, batch 100)",
        seconds,
        "s",
        &[peer::FINRL_EIIE_EPISODE],
        2,
    ));
    push(BenchRow::new(
        "direct_eiie_rate",
        "folio direct PG + EIIE: env-steps/s trained",
        1000.0 / seconds,
        "steps/s",
        &[peer::FINRL_EIIE_RATE],
        2,
    ));
    Ok(())
}

/// PPO with an MLP in SB3's shape (on an SB3-sized input and on the default environment), and
/// with folio's own defaults.
fn ppo_rows(base: &EnvConfig, updates: usize, push: &mut impl FnMut(BenchRow)) -> Result<(), BenchError> {
    // SB3's defaults: one env, 2048 steps a rollout, 10 epochs of minibatches of 64.
    let sb3 = ppo_mlp_steps_per_second(&sb3_shaped(base), 1, 2048, 10, 64, updates, 2)?;
    push(BenchRow::new(
        "ppo_mlp_sb3_shape",
        "folio PPO + MLP, SB3's shape (1 env x 2048, 10 epochs, mb 64), 501 inputs",
        sb3,
        "steps/s",
        &[peer::SB3_PPO],
        2,
    ));
    let sb3_default_env = ppo_mlp_steps_per_second(base, 1, 2048, 10, 64, updates, 2)?;
    push(BenchRow::new(
        "ppo_mlp_sb3_shape_default_env",
        "folio PPO + MLP, SB3's shape, the default features (5 x 50 days: 5021 inputs)",
        sb3_default_env,
        "steps/s",
        &[peer::SB3_PPO],
        2,
    ));
    let defaults = TrainConfig::for_algo(Algo::Ppo).ppo;
    let own = ppo_mlp_steps_per_second(
        base,
        defaults.envs,
        defaults.rollout_steps,
        defaults.epochs,
        defaults.minibatch,
        updates * 2,
        2,
    )?;
    push(BenchRow::new(
        "ppo_mlp_folio_defaults",
        format!(
            "folio PPO + MLP, folio's defaults ({} envs x {}, {} epochs, mb {}), 5021 inputs",
            defaults.envs, defaults.rollout_steps, defaults.epochs, defaults.minibatch
        ),
        own,
        "steps/s",
        &[peer::SB3_PPO],
        2,
    ));
    Ok(())
}

/// One MLP training step, in milliseconds and GFLOP/s, on one thread and on two.
fn mlp_rows(steps: usize, push: &mut impl FnMut(BenchRow)) {
    for threads in [1, 2] {
        let ms = mlp_step_ms(steps, threads);
        push(BenchRow::new(
            format!("mlp_step_ms_t{threads}"),
            format!("burn MLP step, {threads} thread(s): ms/step"),
            ms,
            "ms",
            &[peer::torch_ms(threads).as_str()],
            threads,
        ));
        push(BenchRow::new(
            format!("mlp_step_gflops_t{threads}"),
            format!("burn MLP step, {threads} thread(s): GFLOP/s"),
            MLP_STEP_FLOPS / (ms * 1e-3) / 1e9,
            "GFLOP/s",
            &[peer::torch_gflops(threads).as_str()],
            threads,
        ));
    }
}

/// A value with four significant digits, as the peers print theirs.
pub fn format_value(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let magnitude = value.abs().log10().floor() as i32;
    if (-3..6).contains(&magnitude) {
        let decimals = (3 - magnitude).max(0) as usize;
        format!("{value:.decimals$}")
    } else {
        format!("{value:.3e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_env_and_mlp_figures_are_positive_and_name_their_peers() {
        for (group, only) in [(Group::Env, "env"), (Group::Mlp, "mlp")] {
            let options = BenchOptions { only: Some(group), ..BenchOptions::quick() };
            let rows = run_all(Path::new(crate::env::config::DEFAULT_CONFIG), options, |_| {}).unwrap();
            assert!(!rows.is_empty());
            for row in &rows {
                assert!(row.key.starts_with(only), "{row:?}");
                assert!(row.value.is_finite() && row.value > 0.0, "{row:?}");
            }
            let first_peer = if only == "env" { peer::NUMPY_B1.to_string() } else { peer::torch_ms(1) };
            assert_eq!(rows[0].peers.first(), Some(&first_peer));
        }
    }

    /// Each row observes what its label says and its peer sees: the numpy env 50 days of log
    /// returns of 20 assets and the 21 weights, SB3 on FinRL's env 480 numbers (501 here), and
    /// the default features 5021; no reference portfolio, which no peer observes.
    #[test]
    fn the_benchmarked_observations_are_the_sizes_the_rows_name() {
        let base = peer_shaped(Path::new(crate::env::config::DEFAULT_CONFIG)).unwrap();
        let (env, _, _) = env_market(&base, true, CostModel::Proportional, 0.0025).unwrap();
        assert_eq!(env.layout().len(), 50 * 20 + 21);
        let inputs = |config: &EnvConfig| Market::from_config(config).unwrap().0.layout().len();
        assert_eq!(inputs(&sb3_shaped(&base)), 501);
        assert_eq!(inputs(&base), 5021);
    }

    /// The direct-method figure needs 1000 training decisions; fewer is an error naming the
    /// data, where it once subtracted past zero and panicked.
    #[test]
    fn a_training_period_too_short_for_the_direct_figure_is_refused() {
        let folder = tempfile::tempdir().unwrap();
        let prices = std::fs::read_to_string("envs/data/us_factor_etfs_daily.csv").unwrap();
        let short: String = prices.lines().take(300).map(|line| format!("{line}\n")).collect();
        std::fs::write(folder.path().join("short.csv"), short).unwrap();
        let config = folder.path().join("short.toml");
        std::fs::write(&config, "[data]\nfile = \"short.csv\"\n").unwrap();
        let base = EnvConfig::load(&config).unwrap();
        let error = direct_eiie_seconds_per_episode(&base, 1, 1).unwrap_err().to_string();
        assert!(error.contains("the last 1000 decisions") && error.contains("short.csv"), "{error}");
    }

    #[test]
    fn values_print_with_four_significant_digits() {
        assert_eq!(format_value(33600.0), "33600");
        assert_eq!(format_value(1.5), "1.500");
        assert_eq!(format_value(2.5e6), "2.500e6");
    }
}
