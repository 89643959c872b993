//! Agents learn what they should, reproducibly, and their checkpoints come back intact.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use folio::agent::AgentPolicy;
use folio::agent::DeviceChoice;
use folio::agent::network::{NetConfig, NetKind};
use folio::backtest::{BacktestLog, PolicyId, backtest};
use folio::baselines::EqualWeight;
use folio::data::synth::{Regime, SynthConfig, generate_log_returns, panel_from_log_returns, weekdays};
use folio::data::{PricePanel, Stamp, TimeIndex, write_prices};
use folio::env::config::{DataConfig, EnvConfig, EpisodeConfig, Periods, Span};
use folio::env::{CostConfig, EnvSettings, Limits, Market, RewardConfig};
use folio::features::{Feature, FeatureConfig, Reference};
use folio::metrics::MetricsConfig;
use folio::train::checkpoint::{self, BEST, Weights};
use folio::train::online::{OnlineAgent, OnlineSettings};
use folio::train::{Algo, TrainConfig, TrainRequest, train};
use ndarray::Array2;

fn stamp(panel: &PricePanel, row: usize) -> Option<Stamp> {
    match &panel.index {
        TimeIndex::Dates(d) => Some(Stamp::Date(d[row])),
        TimeIndex::Periods(_) => Some(Stamp::Period(row)),
    }
}

/// Write `panel` into `dir` and describe it: training on rows before `validation_from`,
/// validation up to `test_from`, test after.
fn env_for(
    panel: &PricePanel,
    dir: &Path,
    validation_from: usize,
    test_from: usize,
    features: FeatureConfig,
) -> EnvConfig {
    let file = dir.join("prices.csv");
    write_prices(panel, &file).unwrap();
    EnvConfig {
        data: DataConfig::new(file),
        periods: Periods {
            train: Span { from: None, to: stamp(panel, validation_from - 1) },
            validation: Span { from: stamp(panel, validation_from), to: stamp(panel, test_from - 1) },
            test: Span { from: stamp(panel, test_from), to: None },
        },
        features,
        costs: CostConfig { buy: 0.001, sell: 0.001, ..CostConfig::default() },
        episode: EpisodeConfig { horizon: 50, rebalance_every: 1, embargo: 0, no_trade_band: 0.0 },
        reward: RewardConfig::LogReturn,
        limits: Limits::NONE,
        risk_profile: None,
    }
}

/// Asset SAFE grows 0.2% a day without risk; R1 and R2 are driftless random walks (1% a day).
fn riskless_winner() -> PricePanel {
    let noise = generate_log_returns(&SynthConfig {
        assets: 2,
        periods: 700,
        seed: 3,
        regimes: vec![Regime { drift: 0.0, volatility: 0.01 * 252f64.sqrt() }],
        jumps_per_year: 0.0,
        drift_dispersion: 0.0,
        correlation: 0.0,
        ..SynthConfig::default()
    })
    .0;
    let mut returns = Array2::zeros((699, 3));
    returns.column_mut(0).fill(0.002);
    returns.slice_mut(ndarray::s![.., 1..]).assign(&noise);
    let mut panel = panel_from_log_returns(
        &returns,
        weekdays(chrono::NaiveDate::from_ymd_opt(2010, 1, 4).unwrap(), 1)[0],
        "X",
    );
    panel.assets = vec!["SAFE".into(), "R1".into(), "R2".into()];
    panel
}

fn small_features() -> FeatureConfig {
    FeatureConfig {
        window: 10,
        features: vec![Feature::LogReturn, Feature::Volatility],
        ..FeatureConfig::default()
    }
}

fn request(env: EnvConfig, train: TrainConfig, out: PathBuf) -> TrainRequest {
    TrainRequest {
        env,
        train,
        out,
        device: DeviceChoice::Cpu,
        resume: false,
        progress: folio::progress::silent(),
    }
}

/// Backtest a checkpoint's best network on a span, deterministically.
fn backtest_checkpoint(dir: &Path, span: Span) -> (BacktestLog, BacktestLog) {
    let device = DeviceChoice::Cpu.device().unwrap();
    let (meta, net) = checkpoint::load_agent(dir, Weights::Best, &device).unwrap();
    let (market, _) = Market::from_config(&meta.env).unwrap();
    let market = Market::new(market.panel, &meta.env.features, Some(meta.normalizer.clone()), 0..0).unwrap();
    let market = Arc::new(market);
    meta.check_fits(dir, &market).unwrap();
    let range = market.decision_range(&span, 0).unwrap();
    let settings = EnvSettings::from_config(&meta.env);
    let mut agent =
        AgentPolicy::new(folio::backtest::PolicyId::AGENT, net, meta.head, market.layout(), device);
    let agent_log = backtest(&mut agent, &market, range, settings).unwrap();
    let equal_log = backtest(&mut EqualWeight, &market, range, settings).unwrap();
    (agent_log, equal_log)
}

fn mean_weight(log: &BacktestLog, column: usize) -> f64 {
    log.weights.iter().map(|w| w[column]).sum::<f64>() / log.weights.len() as f64
}

/// Learning capacity: an unanchored network must find the winner and hold it.
fn riskless_case(algo: Algo, net: NetKind, tune: impl FnOnce(&mut TrainConfig)) {
    let unanchored = FeatureConfig { reference: Reference::None, ..small_features() };
    assert!(riskless_share(algo, net, unanchored, tune) > 0.9);
}

/// The share of the riskless winner in the validation period after training.
fn riskless_share(
    algo: Algo,
    net: NetKind,
    features: FeatureConfig,
    tune: impl FnOnce(&mut TrainConfig),
) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let panel = riskless_winner();
    let env = env_for(&panel, dir.path(), 450, 650, features);
    let mut config = TrainConfig::for_algo(algo);
    config.net.kind = net;
    config.seed = 1;
    tune(&mut config);
    let out = dir.path().join("run");
    train(request(env.clone(), config, out.clone())).unwrap();
    let (agent, _) = backtest_checkpoint(&out, env.periods.validation);
    let safe = mean_weight(&agent, 1);
    eprintln!("{algo:?}/{net:?} put {safe:.3} on the riskless winner");
    safe
}

#[test]
fn an_anchored_agent_tilts_towards_the_winner_as_far_as_its_bound_allows() {
    // Equal weight over three assets, tilted by at most e^(+-1): the winner's share can reach
    // e / (e + 2 / e) = 0.787 and no more.
    let bound = std::f64::consts::E / (std::f64::consts::E + 2.0 / std::f64::consts::E);
    for net in [NetKind::Eiie, NetKind::Mlp] {
        let safe = riskless_share(Algo::Direct, net, small_features(), |c| c.steps = 40_000);
        assert!(safe > 0.7 && safe <= bound + 1e-6, "{net:?}: {safe:.3} on the winner (bound {bound:.3})");
    }
}

#[test]
fn direct_policy_gradient_finds_the_riskless_winner() {
    riskless_case(Algo::Direct, NetKind::Eiie, |c| c.steps = 60_000);
    riskless_case(Algo::Direct, NetKind::Mlp, |c| c.steps = 60_000);
}

#[test]
fn reinforce_finds_the_riskless_winner() {
    riskless_case(Algo::Reinforce, NetKind::Eiie, |c| {
        c.steps = 600_000;
        c.learning_rate = 3e-3;
        c.reinforce.episodes = 4;
        c.validate_every = 50;
    });
}

#[test]
fn ppo_finds_the_riskless_winner() {
    riskless_case(Algo::Ppo, NetKind::Eiie, |c| {
        c.steps = 300_000;
        c.learning_rate = 3e-3;
    });
}

/// Five assets whose daily log returns carry 30% of the previous day's (AR(1)), or none.
fn signal_market(autocorrelation: f64) -> PricePanel {
    let config = SynthConfig {
        assets: 5,
        periods: 2000,
        seed: 21,
        regimes: vec![Regime { drift: 0.0, volatility: 0.16 }],
        jumps_per_year: 0.0,
        drift_dispersion: 0.0,
        correlation: 0.0,
        autocorrelation,
        ..SynthConfig::default()
    };
    folio::data::synth::generate(&config).unwrap()
}

fn held_out_edge(autocorrelation: f64) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let panel = signal_market(autocorrelation);
    let features =
        FeatureConfig { window: 10, features: vec![Feature::LogReturn], ..FeatureConfig::default() };
    let mut env = env_for(&panel, dir.path(), 1400, 1700, features);
    env.costs = CostConfig { buy: 0.0005, sell: 0.0005, ..CostConfig::default() };
    let config = TrainConfig { steps: 50_000, seed: 4, ..TrainConfig::for_algo(Algo::Direct) };
    let out = dir.path().join("run");
    train(request(env.clone(), config, out.clone())).unwrap();
    // The test period: neither trained on nor used to pick the checkpoint.
    let (agent, equal) = backtest_checkpoint(&out, env.periods.test);
    let m = MetricsConfig::default();
    (agent.metrics(&m).sharpe, equal.metrics(&m).sharpe)
}

#[test]
fn a_planted_signal_is_learned_and_beats_equal_weight_out_of_sample() {
    let (agent, equal) = held_out_edge(0.3);
    assert!(agent > equal + 1.5, "agent Sharpe {agent:.2} vs equal weight {equal:.2}");
    // Control: without the signal the same training finds no such edge.
    let (agent, equal) = held_out_edge(0.0);
    assert!(agent < equal + 1.5, "no signal, yet agent Sharpe {agent:.2} vs equal weight {equal:.2}");
}

/// The reference gate: a margin no training can clear deploys the untrained network, which
/// trades exactly as its reference portfolio does; the trained network stays in `last.bpk`; a
/// resumed run keeps the choice; a margin training clears keeps the trained network.
#[test]
fn training_that_does_not_clear_the_margin_deploys_its_reference_portfolio() {
    let dir = tempfile::tempdir().unwrap();
    let panel = riskless_winner();
    // Anchored on equal weight, so that the reference it deploys is the baseline beside it.
    let features = FeatureConfig { reference: Reference::EqualWeight, ..small_features() };
    let env = env_for(&panel, dir.path(), 450, 650, features);
    let out = dir.path().join("run");
    let config = TrainConfig { steps: 20_000, seed: 1, reference_margin: 1e6, ..TrainConfig::default() };
    let outcome = train(request(env.clone(), config.clone(), out.clone())).unwrap();
    let test =
        outcome.validation.reference_test.clone().expect("an anchored run is tested against its reference");
    assert!(test.kept_reference, "{}", test.describe());
    assert!(test.describe().starts_with("kept the untrained reference portfolio"), "{}", test.describe());
    assert!(
        test.trained.sharpe > test.reference.sharpe + 1.0,
        "the trained network found the riskless winner ({:.2} against {:.2}), yet the margin keeps the reference",
        test.trained.sharpe,
        test.reference.sharpe
    );
    assert_eq!(
        outcome.validation.agent.sharpe, test.reference.sharpe,
        "the record shows the deployed network"
    );
    let (agent, equal) = backtest_checkpoint(&out, env.periods.validation);
    for (a, e) in agent.weights.iter().zip(&equal.weights) {
        assert!(a.iter().zip(e).all(|(x, y)| (x - y).abs() < 1e-6), "{a:?} is not equal weight {e:?}");
    }
    let device = DeviceChoice::Cpu.device().unwrap();
    let last = checkpoint::load_agent(&out, Weights::Last, &device).unwrap().1.parameter_values();
    let best = checkpoint::load_agent(&out, Weights::Best, &device).unwrap().1.parameter_values();
    assert_ne!(last, best, "the trained network is still there, in last.bpk");
    let evaluation =
        folio::eval::evaluate::evaluate(folio::eval::evaluate::EvalRequest::new(out.clone())).unwrap();
    let verdict = &evaluation.report.verdict;
    assert!(verdict.contains("matches equal weight's"), "{verdict}");
    assert!(
        verdict.contains("deploys its untrained network, the reference portfolio (equal_weight)"),
        "{verdict}"
    );
    // Equal weight on purpose is no collapse: the detectors' "near-equal weights" stays silent.
    assert!(evaluation.report.agent_warnings.is_empty(), "{:?}", evaluation.report.agent_warnings);
    let summary = folio::report::text::training(
        std::slice::from_ref(&outcome),
        &folio::metrics::MetricsSpread::of(&[&outcome.validation.agent]),
    );
    assert!(summary.contains("agent run: kept the untrained reference portfolio"), "{summary}");
    assert!(summary.contains("each deploys that reference"), "{summary}");

    let best_bytes = std::fs::read(out.join(checkpoint::BEST)).unwrap();
    let mut resumed = request(env.clone(), config.clone(), out.clone());
    resumed.resume = true;
    let again = train(resumed).unwrap();
    assert!(again.validation.reference_test.unwrap().kept_reference);
    assert_eq!(std::fs::read(out.join(checkpoint::BEST)).unwrap(), best_bytes, "resuming keeps the choice");

    let cleared = train(request(
        env.clone(),
        TrainConfig { reference_margin: 1.0, ..config.clone() },
        dir.path().join("cleared"),
    ))
    .unwrap();
    let test = cleared.validation.reference_test.unwrap();
    assert!(!test.kept_reference, "{}", test.describe());
    assert_eq!(cleared.validation.agent.sharpe, test.trained.sharpe);
    // Deployed together, the verdict speaks of both seeds, not of the first one's gate alone.
    let together = folio::eval::evaluate::evaluate(folio::eval::evaluate::EvalRequest {
        ensemble: vec![dir.path().join("cleared")],
        ..folio::eval::evaluate::EvalRequest::new(out.clone())
    })
    .unwrap();
    let verdict = &together.report.verdict;
    assert!(verdict.contains("1 of the 2 seeds deploys its untrained network"), "{verdict}");
    assert!(!verdict.contains("The checkpoint deploys"), "{verdict}");
    // A validation too short to test the gap keeps the reference untested, and an ensemble of
    // such seeds says why, rather than that training lost.
    let short = dir.path().join("short");
    std::fs::create_dir(&short).unwrap();
    let short_env = env_for(
        &panel,
        &short,
        450,
        470,
        FeatureConfig { reference: Reference::EqualWeight, ..small_features() },
    );
    let untested: Vec<PathBuf> = (1..=2)
        .map(|seed| {
            let out = short.join(format!("seed-{seed}"));
            let config = TrainConfig { steps: 2_000, seed, ..TrainConfig::default() };
            let outcome = train(request(short_env.clone(), config, out.clone())).unwrap();
            let test = outcome.validation.reference_test.unwrap();
            assert!(test.kept_reference && test.gap.is_none(), "{}", test.describe());
            out
        })
        .collect();
    let together = folio::eval::evaluate::evaluate(folio::eval::evaluate::EvalRequest {
        ensemble: vec![untested[1].clone()],
        ..folio::eval::evaluate::EvalRequest::new(untested[0].clone())
    })
    .unwrap();
    let verdict = &together.report.verdict;
    assert!(verdict.contains("Every one of the 2 seeds deploys its untrained network"), "{verdict}");
    assert!(verdict.contains("could not be tested: the validation period is too short"), "{verdict}");
    assert!(!verdict.contains("did not beat"), "{verdict}");
    let off =
        train(request(env, TrainConfig { reference_gate: false, ..config }, dir.path().join("off"))).unwrap();
    assert!(off.validation.reference_test.is_none(), "no gate, no test");
}

#[test]
fn one_seed_gives_bit_identical_weights_and_checkpoints_reload_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let panel = riskless_winner();
    let env = env_for(&panel, dir.path(), 450, 650, small_features());
    let device = DeviceChoice::Cpu.device().unwrap();
    // PPO with an MLP takes its own path: actor and critic differentiated on two threads, acting
    // with a host copy of the weights.
    for (algo, net) in [(Algo::Direct, NetKind::Eiie), (Algo::Ppo, NetKind::Eiie), (Algo::Ppo, NetKind::Mlp)]
    {
        let mut config =
            TrainConfig { steps: 3000, seed: 9, validate_every: 5, ..TrainConfig::for_algo(algo) };
        config.net.kind = net;
        let (a, b) =
            (dir.path().join(format!("{algo:?}-{net:?}-a")), dir.path().join(format!("{algo:?}-{net:?}-b")));
        train(request(env.clone(), config.clone(), a.clone())).unwrap();
        train(request(env.clone(), config.clone(), b.clone())).unwrap();
        let weights = |dir: &Path, file: Weights| {
            checkpoint::load_agent(dir, file, &device).unwrap().1.parameter_values()
        };
        for file in [Weights::Best, Weights::Last] {
            let (x, y) = (weights(&a, file), weights(&b, file));
            let same = x.len() == y.len()
                && x.iter().zip(&y).all(|(p, q)| {
                    p.len() == q.len() && p.iter().zip(q).all(|(u, v)| u.to_bits() == v.to_bits())
                });
            assert!(same, "{algo:?}/{net:?}: {file} differs between two runs with one seed");
        }
        let other = dir.path().join(format!("{algo:?}-{net:?}-c"));
        train(request(env.clone(), TrainConfig { seed: 10, ..config }, other.clone())).unwrap();
        assert_ne!(
            weights(&a, Weights::Last),
            weights(&other, Weights::Last),
            "another seed gives other weights"
        );
    }

    // Saved and loaded, a network acts identically, bit for bit.
    let (meta, net) =
        checkpoint::load_agent(&dir.path().join("Direct-Eiie-a"), Weights::Last, &device).unwrap();
    let path = dir.path().join("copy.bpk");
    checkpoint::save_net(&net, &path).unwrap();
    let fresh = NetConfig { kind: NetKind::Eiie, ..meta.train.net.clone() }.init(meta.layout(), &device);
    let reloaded = checkpoint::load_net(fresh, &path).unwrap();
    let observations: Vec<f32> =
        (0..3 * meta.layout().len()).map(|i| ((i * 7919) % 13) as f32 / 6.5 - 1.0).collect();
    let act = |net| {
        let agent =
            AgentPolicy::new(folio::backtest::PolicyId::AGENT, net, meta.head, meta.layout(), device.clone());
        let mut out = vec![0.0; 3 * 4];
        agent.act(&observations, 3, &mut out);
        out
    };
    let (x, y) = (act(net), act(reloaded));
    assert!(x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits()), "{x:?} vs {y:?}");
}

/// A validation period with no Sharpe ratio (one return) scores minus infinity, which JSON
/// writes as `null`: the checkpoint must still read back, and a resumed run keep the network an
/// uninterrupted one keeps.
#[test]
fn a_checkpoint_whose_validation_has_no_sharpe_ratio_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let panel = riskless_winner();
    let env = env_for(&panel, dir.path(), 450, 452, small_features());
    let config = TrainConfig {
        steps: 400,
        validate_every: 2,
        selection_window: 2,
        reference_gate: false,
        ..TrainConfig::default()
    };
    let longer = TrainConfig { steps: 800, ..config.clone() };
    let (out, whole) = (dir.path().join("run"), dir.path().join("whole"));
    train(request(env.clone(), config.clone(), out.clone())).unwrap();
    let meta = checkpoint::load_meta(&out).unwrap();
    let scores = &meta.progress.recent_scores;
    assert!(!scores.is_empty() && scores.iter().all(|s| *s == f64::NEG_INFINITY), "{scores:?}");
    assert_eq!(meta.progress.best_score, Some(f64::NEG_INFINITY));
    train(TrainRequest { resume: true, ..request(env.clone(), longer.clone(), out.clone()) }).unwrap();
    train(request(env.clone(), longer, whole.clone())).unwrap();
    let (resumed, uninterrupted) =
        (checkpoint::load_meta(&out).unwrap().progress, checkpoint::load_meta(&whole).unwrap().progress);
    assert!(resumed.env_steps > meta.progress.env_steps);
    assert_eq!(resumed.best_update, uninterrupted.best_update);

    // A budget smaller than one update's batch is overshot, and the run says by how much.
    let short = dir.path().join("short");
    train(request(
        env_for(&panel, dir.path(), 450, 500, small_features()),
        TrainConfig { steps: 3, ..config },
        short.clone(),
    ))
    .unwrap();
    let progress = checkpoint::load_meta(&short).unwrap().progress;
    assert!(progress.env_steps > 3, "{progress:?}");
    let said = format!(
        "spent the budget of 3 environment steps: its updates' whole batches ran {}",
        progress.env_steps
    );
    assert_eq!(progress.stopped.as_deref(), Some(said.as_str()));
}

#[test]
fn bad_checkpoints_and_mismatched_data_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let panel = riskless_winner();
    let env = env_for(&panel, dir.path(), 450, 650, small_features());
    let out = dir.path().join("run");
    train(request(env.clone(), TrainConfig { steps: 500, ..TrainConfig::default() }, out.clone())).unwrap();
    let device = DeviceChoice::Cpu.device().unwrap();

    // A second run into the same folder refuses to overwrite it.
    let error =
        train(request(env.clone(), TrainConfig { steps: 500, ..TrainConfig::default() }, out.clone()))
            .unwrap_err()
            .to_string();
    assert!(error.contains("already holds a checkpoint; pass --resume"), "{error}");

    // Truncated weights.
    let weights = std::fs::read(out.join(BEST)).unwrap();
    std::fs::write(out.join(BEST), &weights[..weights.len() / 2]).unwrap();
    let error = checkpoint::load_agent(&out, Weights::Best, &device).unwrap_err().to_string();
    assert!(error.contains("best.bpk: not a readable folio checkpoint"), "{error}");

    // Corrupt metadata.
    std::fs::write(out.join("meta.json"), b"{ not json").unwrap();
    let error = checkpoint::load_agent(&out, Weights::Last, &device).unwrap_err().to_string();
    assert!(error.contains("meta.json: not a readable folio checkpoint"), "{error}");

    // Other assets or other features.
    let out2 = dir.path().join("run2");
    train(request(env.clone(), TrainConfig { steps: 500, ..TrainConfig::default() }, out2.clone())).unwrap();
    let (meta, _) = checkpoint::load_agent(&out2, Weights::Last, &device).unwrap();
    let (market, _) = Market::from_config(&meta.env).unwrap();
    let mut renamed = market.panel.clone();
    renamed.assets[2] = "OTHER".into();
    let other_assets = Market::new(renamed, &meta.env.features, Some(meta.normalizer.clone()), 0..0).unwrap();
    let error = meta.check_fits(&out2, &other_assets).unwrap_err().to_string();
    assert!(error.contains("trained on assets [SAFE, R1, R2] but the data has [SAFE, R1, OTHER]"), "{error}");
    let other_features = FeatureConfig { window: 12, ..small_features() };
    let market = Market::new(market.panel, &other_features, None, 0..400).unwrap();
    let error = meta.check_fits(&out2, &market).unwrap_err().to_string();
    assert!(error.contains("window 10") && error.contains("window 12"), "{error}");
}

#[test]
fn resume_continues_a_run_to_more_steps() {
    let dir = tempfile::tempdir().unwrap();
    let panel = riskless_winner();
    let env = env_for(&panel, dir.path(), 450, 650, small_features());
    let out = dir.path().join("run");
    let config = TrainConfig { steps: 1000, validate_every: 5, ..TrainConfig::default() };
    let first = train(request(env.clone(), config.clone(), out.clone())).unwrap();
    assert_eq!(first.env_steps, 1000);
    let mut resumed = request(env.clone(), TrainConfig { steps: 2000, ..config.clone() }, out.clone());
    resumed.resume = true;
    let second = train(resumed).unwrap();
    assert_eq!((second.updates, second.env_steps), (40, 2000));
    let log = std::fs::read_to_string(out.join("train_log.csv")).unwrap();
    assert_eq!(log.lines().count(), 1 + 40, "one log row per update across both runs");
    // Resuming with another algorithm, or another episode length, is refused, naming the
    // setting to change back and nothing else.
    let mut other = request(env.clone(), TrainConfig { algo: Algo::Ppo, ..config.clone() }, out.clone());
    other.resume = true;
    let error = train(other).unwrap_err().to_string();
    assert!(
        error.contains("cannot resume")
            && error.contains("with train.algo = \"direct\" (now asked: \"ppo\");"),
        "{error}"
    );
    let mut longer = env.clone();
    longer.episode.horizon += 1;
    let mut other = request(longer, config.clone(), out.clone());
    other.resume = true;
    let error = train(other).unwrap_err().to_string();
    let asked = format!(
        "with env.episode.horizon = {} (now asked: {});",
        env.episode.horizon,
        env.episode.horizon + 1
    );
    assert!(error.contains(&asked), "{error}");
    // A list is compared item by item: the one feature that changed, not the whole list twice.
    let mut other_feature = env.clone();
    other_feature.features.features[1] = Feature::Rsi;
    let mut other = request(other_feature, config, out);
    other.resume = true;
    let error = train(other).unwrap_err().to_string();
    assert!(
        error.contains("with env.features.features[1] = \"volatility\" (now asked: \"rsi\");"),
        "{error}"
    );
}

#[test]
fn a_folder_without_a_checkpoint_says_so_and_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let error = checkpoint::load_meta(dir.path()).unwrap_err();
    assert!(matches!(error, checkpoint::CheckpointError::Missing { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("not a checkpoint folder") && message.contains("folio train"), "{message}");
    // A path that is missing, or a file (a config given by mistake), is named for what it is.
    let missing = dir.path().join("nope");
    let message = checkpoint::load_meta(&missing).unwrap_err().to_string();
    assert!(
        message.ends_with("nope does not exist: give the folder that `folio train` wrote, which it prints"),
        "{message}"
    );
    let file = dir.path().join("default.toml");
    std::fs::write(&file, "").unwrap();
    let message = checkpoint::load_meta(&file).unwrap_err().to_string();
    assert!(message.contains("default.toml is a file, not a checkpoint folder"), "{message}");
}

#[test]
fn online_learning_changes_no_decision_before_the_future_it_has_seen() {
    let dir = tempfile::tempdir().unwrap();
    let panel = riskless_winner();
    let env = env_for(&panel, dir.path(), 450, 600, small_features());
    let config = TrainConfig { steps: 3000, seed: 2, ..TrainConfig::default() };
    let out = dir.path().join("run");
    train(request(env.clone(), config, out.clone())).unwrap();
    let meta = checkpoint::load_meta(&out).unwrap();

    let market = |p: &PricePanel| {
        Arc::new(Market::new(p.clone(), &meta.env.features, Some(meta.normalizer.clone()), 0..0).unwrap())
    };
    let a = market(&panel);
    let range = a.decision_range(&env.periods.test, 0).unwrap();
    let settings = EnvSettings::from_config(&meta.env);
    let online = |m: &Arc<Market>, steps: usize| {
        let online = OnlineSettings { steps, learning_rate: 1e-3 };
        let device = DeviceChoice::Cpu.device().unwrap();
        let mut agent =
            OnlineAgent::new(PolicyId::AGENT, &out, Weights::Best, m.clone(), settings, online, device)
                .unwrap();
        backtest(&mut agent, m, range, settings).unwrap()
    };
    let la = online(&a, 3);
    // Markets whose prices differ from row `cut + 1` on, at many cuts: the steps sample their
    // batches at random near the newest period, so one cut alone could miss a leak.
    for cut in (610..690).step_by(5) {
        let mut altered = panel.clone();
        for t in cut + 1..altered.n_periods() {
            for a in 0..altered.n_assets() {
                altered.prices[[t, a]] *= 1.0 + 0.02 * ((t * 7 + a * 3) % 5) as f64 - 0.04;
            }
        }
        let lb = online(&market(&altered), 3);
        let decisions_to_cut = cut - range.first + 1;
        for (k, (wa, wb)) in la.weights.iter().zip(&lb.weights).take(decisions_to_cut).enumerate() {
            assert!(
                wa.iter().zip(wb).all(|(x, y)| x.to_bits() == y.to_bits()),
                "cut {cut}: decision at row {} differs though only later prices changed",
                range.first + k
            );
        }
        assert_ne!(la.weights[decisions_to_cut], lb.weights[decisions_to_cut], "the test can fail");
    }
    // Learning online is not a no-op: the same agent without steps decides otherwise later on.
    let still = online(&a, 0);
    assert_eq!(la.weights[0], still.weights[0], "the first decision precedes any step");
    assert_ne!(la.weights.last(), still.weights.last());
}

/// `--resume` with the same flags on a run that stopped early records it again without
/// training, however the data file's path is spelled; more patience trains on.
#[test]
fn resuming_an_early_stopped_run_with_the_same_patience_trains_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Noise alone: validation stops improving soon.
    let panel = folio::data::synth::generate(&SynthConfig {
        assets: 3,
        periods: 700,
        seed: 5,
        ..SynthConfig::default()
    })
    .unwrap();
    let env = env_for(&panel, dir.path(), 450, 650, small_features());
    let out = dir.path().join("run");
    let config = TrainConfig { steps: 40_000, validate_every: 1, patience: 2, ..TrainConfig::default() };
    let first = train(request(env.clone(), config.clone(), out.clone())).unwrap();
    assert!(first.stopped.starts_with("early stop"), "{}", first.stopped);
    let last = std::fs::read(out.join("last.bpk")).unwrap();
    let mut respelled = env.clone();
    respelled.data.file = dir.path().join("..").join(dir.path().file_name().unwrap()).join("prices.csv");
    let mut again = request(respelled, config.clone(), out.clone());
    again.resume = true;
    let second = train(again).unwrap();
    assert_eq!((second.updates, second.env_steps), (first.updates, first.env_steps));
    assert_eq!(std::fs::read(out.join("last.bpk")).unwrap(), last, "no update was made");
    let mut patient = request(env, TrainConfig { patience: 50, ..config }, out.clone());
    patient.resume = true;
    assert!(train(patient).unwrap().updates > first.updates, "more patience trains on");
}
