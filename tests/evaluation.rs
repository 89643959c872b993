//! Evaluation end to end: baselines against published figures, `eval` on a checkpoint, and
//! walk-forward folds that never leak.

use std::path::PathBuf;

use folio::agent::DeviceChoice;
use folio::backtest::rebalance::RebalanceRule;
use folio::data::synth::{Regime, SynthConfig, generate};
use folio::data::{Stamp, write_prices};
use folio::env::config::{DataConfig, EnvConfig, EpisodeConfig, Periods, Span};
use folio::env::{CostConfig, EnvSettings, Limits, RewardConfig};
use folio::eval::evaluate::{BaselineRequest, EvalRequest, backtest_baselines, evaluate};
use folio::eval::walk_forward::{WalkForwardConfig, WalkForwardRequest, WindowMode, walk_forward};
use folio::features::{Feature, FeatureConfig};
use folio::report::saved::{Kind, read_report};
use folio::train::{TrainConfig, TrainRequest, train};

/// Cumulative wealth on the DJIA data set without costs, as published in Li and Hoi, "Online
/// Portfolio Selection: A Survey" (2014), table of results on DJIA.
#[test]
fn baselines_reproduce_the_published_djia_figures() {
    let config = EnvConfig::load(std::path::Path::new("envs/olps_djia.toml")).unwrap();
    let mut settings = EnvSettings::from_config(&config);
    settings.costs = CostConfig::free();
    let (report, _) = backtest_baselines(BaselineRequest {
        data: PathBuf::from("envs/data/olps/djia.csv"),
        missing: Default::default(),
        assets: vec![],
        strategies: folio::backtest::BaselineId::ALL.to_vec(),
        from: None,
        to: None,
        settings,
        periods_per_year: 252.0,
        rebalance: RebalanceRule::Every,
        features: Default::default(),
    })
    .unwrap();
    assert_eq!(
        (report.from.as_str(), report.periods),
        ("0", 506),
        "decisions from the first period, as in the literature"
    );
    let wealth = |name: &str| {
        report.results.iter().find(|r| r.policy.to_string() == name).unwrap().metrics.final_wealth
    };
    for (name, published) in [
        ("buy and hold", 0.76),
        ("equal weight", 0.81),
        ("best asset (hindsight)", 1.19),
        ("BCRP (hindsight)", 1.24),
        ("EG", 0.81),
        ("ONS", 1.53),
        ("PAMR", 0.68),
    ] {
        let ours = wealth(name);
        assert!((ours - published).abs() <= 0.02, "{name}: {ours:.4} vs published {published}");
    }
    // OLMAR's first windows depend on how a short history is averaged; the paper's 2.12 sits close.
    assert!((wealth("OLMAR") - 2.12).abs() <= 0.1, "OLMAR {}", wealth("OLMAR"));
}

/// `folio backtest` runs the volatility-managed baseline on the config's windows, as `eval` does.
#[test]
fn a_backtest_s_volatility_managed_baseline_reads_the_config_s_windows() {
    let request = |volatility_window: usize, long_window: usize| BaselineRequest {
        data: PathBuf::from("envs/data/us_stocks_20_daily.csv"),
        missing: Default::default(),
        assets: vec!["AAPL".into(), "XOM".into(), "KO".into()],
        strategies: vec![folio::backtest::BaselineId::VolatilityManaged],
        from: None,
        to: Some(folio::data::Stamp::Date("1995-12-29".parse().unwrap())),
        settings: EnvSettings::from_config(
            &EnvConfig::load(std::path::Path::new("envs/default.toml")).unwrap(),
        ),
        periods_per_year: 252.0,
        rebalance: RebalanceRule::Every,
        features: folio::features::FeatureConfig { volatility_window, long_window, ..Default::default() },
    };
    let (_, default) = backtest_baselines(request(20, 120)).unwrap();
    let (_, own) = backtest_baselines(request(10, 40)).unwrap();
    let (market, range) = {
        let panel = folio::data::read_prices(
            std::path::Path::new("envs/data/us_stocks_20_daily.csv"),
            Default::default(),
        )
        .unwrap()
        .panel
        .select(
            &["AAPL".into(), "XOM".into(), "KO".into()],
            None,
            Some(folio::data::Stamp::Date("1995-12-29".parse().unwrap())),
        )
        .unwrap()
        .panel;
        let market = std::sync::Arc::new(
            folio::env::Market::new(panel, &folio::features::FeatureConfig::none(), None, 0..0).unwrap(),
        );
        let range = market.decision_range(&Default::default(), 0).unwrap();
        (market, range)
    };
    let mut policy = folio::baselines::VolatilityManaged::new(10, 40);
    let direct = folio::backtest::backtest(&mut policy, &market, range, request(10, 40).settings).unwrap();
    assert_eq!(own[0].values, direct.values, "the config's windows, 10 and 40");
    assert_ne!(own[0].values, default[0].values);
}

fn synthetic_env(dir: &std::path::Path) -> EnvConfig {
    let panel = generate(&SynthConfig {
        assets: 4,
        periods: 1200,
        seed: 5,
        regimes: vec![Regime { drift: 0.08, volatility: 0.2 }],
        autocorrelation: 0.2,
        ..SynthConfig::default()
    })
    .unwrap();
    let file = dir.join("prices.csv");
    write_prices(&panel, &file).unwrap();
    let date = |row: usize| match &panel.index {
        folio::data::TimeIndex::Dates(d) => Some(Stamp::Date(d[row])),
        _ => unreachable!(),
    };
    EnvConfig {
        data: DataConfig::new(file),
        periods: Periods {
            train: Span { from: None, to: date(799) },
            validation: Span { from: date(800), to: date(999) },
            test: Span { from: date(1000), to: None },
        },
        features: FeatureConfig {
            window: 10,
            features: vec![Feature::LogReturn, Feature::Rsi],
            ..FeatureConfig::default()
        },
        costs: CostConfig::default(),
        episode: EpisodeConfig { horizon: 50, rebalance_every: 1, embargo: 0, no_trade_band: 0.0 },
        reward: RewardConfig::LogReturn,
        limits: Limits::NONE,
        risk_profile: None,
    }
}

/// Train one seed on `env` for `steps` into `out`, on the CPU.
fn train_for(env: EnvConfig, steps: usize, out: &std::path::Path) {
    train(TrainRequest {
        env,
        train: TrainConfig { steps, ..TrainConfig::default() },
        out: out.to_path_buf(),
        device: DeviceChoice::Cpu,
        resume: false,
        progress: folio::progress::silent(),
    })
    .unwrap();
}

#[test]
fn eval_reports_the_agent_beside_every_baseline_and_flags_in_sample_periods() {
    let dir = tempfile::tempdir().unwrap();
    // A no-trade band in the config holds in evaluation too, so the report must say so.
    let mut env = synthetic_env(dir.path());
    env.episode.no_trade_band = 0.01;
    let checkpoint = dir.path().join("run");
    train_for(env, 3000, &checkpoint);
    let request = |from: Option<Stamp>, to: Option<Stamp>| EvalRequest {
        from,
        to,
        ..EvalRequest::new(checkpoint.clone())
    };
    let test = evaluate(request(None, None)).unwrap();
    let report = &test.report;
    assert!(report.same_data_as_training);
    assert_eq!(report.warning, None, "the test period is out of sample");
    assert_eq!(report.results[0].policy, folio::backtest::PolicyId::AGENT);
    assert_eq!(report.results.len(), 1 + folio::backtest::BaselineId::ALL.len());
    assert_eq!(report.periods, 1199 - 1000);
    assert_eq!((report.rebalance_every, report.no_trade_band), (1, 0.01));
    assert_eq!(report.schedule(), "rebalancing at every decision, no-trade band 1.00%");
    // The gap to equal weight is tested on the two policies' returns over the same periods.
    let returns_of = |id: folio::backtest::PolicyId| {
        folio::metrics::simple_returns(&test.logs.iter().find(|l| l.policy == id).unwrap().values)
    };
    let expected = folio::metrics::sharpe_difference::sharpe_difference(
        &returns_of(folio::backtest::PolicyId::AGENT),
        &returns_of(folio::backtest::PolicyId::EQUAL_WEIGHT),
        252.0,
    );
    assert_eq!(report.edge_over_equal_weight, expected);
    let edge = expected.unwrap();
    assert_eq!(edge.periods, report.periods);
    assert!(report.verdict.contains(&edge.describe()), "{}", report.verdict);
    assert!(!report.verdict.contains("annualized"), "daily data at 252 a year: {}", report.verdict);
    // The run's page says it too.
    let page = dir.path().join("page");
    folio::report::outputs::write_evaluation(&page, &test).unwrap();
    folio::report::html::write_run_page(&page, &folio::report::html::Provenance::of_this_process()).unwrap();
    let html = std::fs::read_to_string(page.join("report.html")).unwrap();
    assert!(html.contains(&edge.describe()), "the page shows the test of the gap");
    assert_eq!(test.labels.len(), report.periods + 1);
    for log in &test.logs {
        assert_eq!(log.values.len(), test.labels.len(), "{} covers every row", log.policy);
    }
    // Evaluating on the training period says so.
    let dates = match &folio::data::load_prices(&test.meta.env.data.file).unwrap().index {
        folio::data::TimeIndex::Dates(d) => d.clone(),
        _ => unreachable!(),
    };
    let in_sample = evaluate(request(Some(Stamp::Date(dates[100])), Some(Stamp::Date(dates[300])))).unwrap();
    let warning = in_sample.report.warning.clone().unwrap();
    assert!(warning.contains("overlaps the training period"), "{warning}");
    assert!(in_sample.report.verdict.contains("in-sample"));
    // And so does its page, whose headline the test period's page words as out of sample.
    let headline_of = |evaluation: &folio::eval::evaluate::Evaluation, folder: &str| {
        let page = dir.path().join(folder);
        folio::report::outputs::write_evaluation(&page, evaluation).unwrap();
        folio::report::html::write_run_page(&page, &folio::report::html::Provenance::of_this_process())
            .unwrap();
        std::fs::read_to_string(page.join("report.html")).unwrap()
    };
    let seen = "on a period it was trained or selected on";
    let (inside, outside) = (headline_of(&in_sample, "in-sample-page"), headline_of(&test, "test-page"));
    assert!(inside.contains(seen), "the in-sample page says so");
    assert!(
        !outside.contains(seen) && outside.contains("equal weight out of sample"),
        "the test page does not"
    );
    // `folio plot` and the page tell the saved report apart by fields the library writes.
    let path = dir.path().join("report.json");
    folio::report::write_json(&path, &test.report).unwrap();
    let saved = read_report(&path).unwrap();
    assert_eq!((saved.kind, saved.in_sample, test.report.in_sample()), (Kind::Eval, false, false));
    // And whether its period was in-sample, which its pictures then say as the page does.
    folio::report::write_json(&path, &in_sample.report).unwrap();
    assert!(read_report(&path).unwrap().in_sample && in_sample.report.in_sample());
}

/// Multiply `asset`'s price at each of `rows` by 100 in the price file `file`, a typo's spike
/// reversed the next period; returns how a warning names each (`ASSET on DATE`).
fn spike<const N: usize>(file: &std::path::Path, asset: usize, rows: [usize; N]) -> [String; N] {
    let mut panel = folio::data::load_prices(file).unwrap();
    for row in rows {
        panel.prices[[row, asset]] *= 100.0;
    }
    write_prices(&panel, file).unwrap();
    rows.map(|row| format!("{} on {}", panel.assets[asset], panel.index.label(row)))
}

/// That `verdict` names the data error `measured` (a [`spike`] whose return its figures hold) and
/// not `outside`.
fn names_only_the_measured_spike(verdict: &str, measured: &str, outside: &str) {
    assert!(verdict.contains("may hold data errors") && verdict.contains(measured), "{verdict}");
    assert!(!verdict.contains(outside), "{verdict}");
}

/// An eval's verdict names a price spike inside the period it measured, and not one before it:
/// a spike on its first row (where its fall is measured) but not on the row before (whose fall
/// into that first row is not).
#[test]
fn an_eval_verdict_names_a_spike_in_the_period_it_measured() {
    let dir = tempfile::tempdir().unwrap();
    let env = synthetic_env(dir.path());
    let [tested] = spike(&env.data.file, 1, [1000]);
    let [trained] = spike(&env.data.file, 2, [999]);
    let file = env.data.file.clone();
    let checkpoint = dir.path().join("run");
    train_for(env, 200, &checkpoint);
    let report = evaluate(EvalRequest::new(checkpoint)).unwrap().report;
    assert_eq!(report.from, folio::data::load_prices(&file).unwrap().index.label(1000));
    names_only_the_measured_spike(&report.verdict, &tested, &trained);
}

#[test]
fn an_eval_annualized_at_the_wrong_frequency_says_so_in_its_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = synthetic_env(dir.path());
    env.data.periods_per_year = 52.0;
    let checkpoint = dir.path().join("run");
    train_for(env, 500, &checkpoint);
    let verdict = evaluate(EvalRequest::new(checkpoint)).unwrap().report.verdict;
    // A checkpoint's factor was fixed when it trained, so the remedy is to train again.
    assert!(
        verdict.ends_with(
            "the checkpoint's config fixed it when the agent trained: act on data of the frequency it was \
             trained on, or train again with periods_per_year = 252 in the config's [data]."
        ),
        "{verdict}"
    );
}

/// Rolling folds over [`synthetic_env`]'s market: 400 training and 100 validation periods, an
/// embargo of 5, and `test_periods` per test window.
fn rolling_folds(test_periods: usize, folds: usize, seeds: usize) -> WalkForwardConfig {
    WalkForwardConfig {
        mode: WindowMode::Rolling,
        train_periods: 400,
        validation_periods: 100,
        test_periods,
        embargo: 5,
        folds,
        seeds,
    }
}

/// A walk-forward on the CPU without progress or registry, trading at every decision.
fn quiet_request(
    env: &EnvConfig,
    train: &TrainConfig,
    config: WalkForwardConfig,
    out: &std::path::Path,
    jobs: usize,
) -> WalkForwardRequest {
    WalkForwardRequest {
        env: env.clone(),
        train: train.clone(),
        config,
        out: out.to_path_buf(),
        jobs,
        device: DeviceChoice::Cpu,
        progress: folio::progress::silent(),
        registry: None,
        rebalance: RebalanceRule::Every,
        resume: false,
    }
}

/// [`quiet_request`], run.
fn quiet_walk_forward(
    env: &EnvConfig,
    train: &TrainConfig,
    config: WalkForwardConfig,
    out: &std::path::Path,
    jobs: usize,
) -> folio::eval::walk_forward::WalkForwardReport {
    walk_forward(quiet_request(env, train, config, out, jobs)).unwrap()
}

/// PPO and REINFORCE draw whole episodes from a fold's training rows: an episode longer than
/// them is refused before any fold trains, naming the setting to change, where it failed the
/// first fold after others had started.
#[test]
fn an_episode_longer_than_a_folds_training_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = synthetic_env(dir.path());
    env.episode.horizon = 100;
    env.episode.rebalance_every = 5;
    let out = dir.path().join("wf");
    let train = TrainConfig::for_algo(folio::train::Algo::Ppo);
    let error = walk_forward(quiet_request(&env, &train, rolling_folds(100, 2, 1), &out, 1))
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("ppo draws whole episodes") && error.contains("needs 500 periods"), "{error}");
    assert!(error.contains("train_periods at least 500"), "{error}");
    assert!(!out.join("fold-1").exists(), "nothing trained");
}

/// A fold's agent is trained, normalized and selected on rows up to the end of its validation
/// window: other prices after it change nothing in that fold's checkpoint, and do change the next
/// fold's, which trains on some of them.
#[test]
fn a_folds_agent_knows_nothing_after_its_validation_window() {
    let dir = tempfile::tempdir().unwrap();
    let env = synthetic_env(dir.path());
    let train = TrainConfig { steps: 1000, reference_gate: false, ..TrainConfig::default() };
    let run = |env: &EnvConfig, out: &str| {
        quiet_walk_forward(env, &train, rolling_folds(200, 2, 1), &dir.path().join(out), 1)
    };
    let original = run(&env, "original");
    let cut = original.folds[0].fold.validation.1;
    let panel = folio::data::load_prices(&env.data.file).unwrap();
    let mut prices = panel.prices.clone();
    for ((t, i), price) in prices.indexed_iter_mut().filter(|((t, _), _)| *t > cut) {
        *price *= 1.0 + 0.01 * ((t * (i + 3)) % 7) as f64;
    }
    let altered_file = dir.path().join("altered.csv");
    let altered_panel =
        folio::data::PricePanel::new("altered", panel.assets.clone(), panel.index.clone(), prices);
    write_prices(&altered_panel, &altered_file).unwrap();
    let altered = run(&EnvConfig { data: DataConfig::new(altered_file), ..env.clone() }, "altered");

    let checkpoint = |report: &folio::eval::walk_forward::WalkForwardReport, fold: usize| {
        let seed = &report.folds[fold].seeds[0];
        let network = std::fs::read(seed.checkpoint.join(folio::train::checkpoint::BEST)).unwrap();
        let normalizer = folio::train::checkpoint::load_meta(&seed.checkpoint).unwrap().normalizer;
        (network, normalizer, seed.validation_sharpe.to_bits())
    };
    assert!(checkpoint(&original, 0) == checkpoint(&altered, 0), "fold 1 saw a price after its validation");
    let (network, normalizer, _) = checkpoint(&original, 1);
    let (other_network, other_normalizer, _) = checkpoint(&altered, 1);
    assert!(network != other_network && normalizer != other_normalizer, "fold 2 trains on the changed rows");
}

/// A walk-forward's verdict names a price spike inside its test windows, whose return every
/// stitched figure includes (here on the first one's first row, whose fall is measured), and not
/// one on the row before, whose fall into that first row is not measured.
#[test]
fn a_walk_forward_verdict_names_a_spike_in_its_test_windows() {
    let dir = tempfile::tempdir().unwrap();
    let env = synthetic_env(dir.path());
    let [tested] = spike(&env.data.file, 2, [999]);
    let [untested] = spike(&env.data.file, 1, [998]);
    let train = TrainConfig { steps: 200, ..TrainConfig::default() };
    let report = quiet_walk_forward(&env, &train, rolling_folds(100, 2, 1), &dir.path().join("wf"), 1);
    assert_eq!(report.folds[0].fold.test.0, 999, "the first test window's first decision row");
    names_only_the_measured_spike(&report.verdict, &tested, &untested);
}

#[test]
fn walk_forward_folds_stitch_and_do_not_depend_on_parallelism() {
    let dir = tempfile::tempdir().unwrap();
    let env = synthetic_env(dir.path());
    let config = rolling_folds(100, 3, 2);
    // Trained networks deployed as trained, so that the seeds differ and PBO has them to rank.
    let train = TrainConfig { steps: 2000, reference_gate: false, ..TrainConfig::default() };
    let run = |jobs: usize, out: &str| quiet_walk_forward(&env, &train, config, &dir.path().join(out), jobs);
    let serial = run(1, "serial");
    let parallel = run(2, "parallel");
    assert_eq!(serial.folds.len(), 3);
    for fold in &serial.folds {
        let f = fold.fold;
        assert!(f.train.1 + 5 <= f.validation.0 && f.validation.1 + 5 <= f.test.0, "{f:?}");
        assert_eq!(fold.seeds.len(), 2);
        // A script finds the fold's trainings in the folder the report names.
        let folder = dir.path().join("serial").join(&fold.folder);
        assert!(fold.seeds.iter().all(|seed| seed.checkpoint.starts_with(&folder)), "{}", fold.folder);
    }
    // The stitched curve covers the three test windows once each.
    assert_eq!(serial.curves.labels.len(), 3 * 100 + 1);
    assert_eq!(serial.curves.fold_spans, vec![(0, 100), (100, 200), (200, 300)]);
    for (name, values) in &serial.curves.series {
        assert_eq!(values.len(), 301, "{name}");
    }
    // Same seeds, same results, however many jobs ran them.
    for (a, b) in serial.overall.iter().zip(&parallel.overall) {
        assert_eq!(a.policy, b.policy);
        assert_eq!(a.metrics.final_wealth.to_bits(), b.metrics.final_wealth.to_bits(), "{}", a.policy);
    }
    assert!(serial.deflated_sharpe.is_some() && serial.backtest_overfitting.is_some());
    // The ensemble stands beside its seeds, and the verdict speaks of it.
    let ensemble = serial.overall.iter().find(|r| r.policy == folio::backtest::PolicyId::Ensemble).unwrap();
    assert!(serial.verdict.contains("ensemble agent"), "{}", serial.verdict);
    // Whether the ensemble's gap to equal weight is more than noise, on the stitched curves.
    let stitched = |id: folio::backtest::PolicyId| {
        folio::metrics::simple_returns(&serial.curves.series.iter().find(|(p, _)| *p == id).unwrap().1)
    };
    let edge = folio::metrics::sharpe_difference::sharpe_difference(
        &stitched(folio::backtest::PolicyId::Ensemble),
        &stitched(folio::backtest::PolicyId::EQUAL_WEIGHT),
        252.0,
    )
    .unwrap();
    assert_eq!(serial.edge_over_equal_weight, Some(edge));
    assert!(serial.verdict.contains(&edge.describe()), "{}", serial.verdict);
    // The panel's row reads the ensemble and the best causal baseline, never a hindsight one.
    let row = folio::eval::panel::PanelRow::of("synthetic", &serial);
    assert_eq!(row.agent_sharpe.to_bits(), ensemble.metrics.sharpe.to_bits());
    assert!(!row.best_baseline.uses_hindsight());
    let causal_best = serial
        .overall
        .iter()
        .filter(|r| matches!(r.policy, folio::backtest::PolicyId::Baseline(_)) && !r.policy.uses_hindsight())
        .map(|r| r.metrics.sharpe)
        .fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(row.best_baseline_sharpe, causal_best);
    assert_eq!(row.beats_equal_weight, row.agent_sharpe > row.equal_weight_sharpe);
    assert_eq!(row.edge_p_value, Some(edge.p_value));
    assert!(serial.verdict.contains("equal weight"));
    assert!(serial.overall.iter().all(|r| r.metrics.annual_cost_drag.is_finite()));

    // `folio plot` reads back, from the fields the library writes, what `folio walk-forward` drew.
    let path = dir.path().join("serial").join("report.json");
    folio::report::write_json(&path, &serial).unwrap();
    let saved = read_report(&path).unwrap();
    let wf = saved.walk_forward.expect("a walk-forward report");
    let folds = &wf.test_spans;
    assert_eq!((wf.headline(), folds.len()), (folio::backtest::PolicyId::Ensemble, serial.folds.len()));
    let same = |a: f64, b: f64| a == b || a.is_nan() && b.is_nan();
    for ((span, fold), &(start, end)) in folds.iter().zip(&serial.folds).zip(&serial.fold_spans) {
        assert_eq!((span.start, span.end), (start, end));
        assert!(same(span.agent_sharpe, fold.ensemble.sharpe));
        assert!(same(
            span.equal_weight_sharpe,
            fold.baseline_sharpe(folio::backtest::PolicyId::EQUAL_WEIGHT)
        ));
    }
}

/// The cost table prices the agent the walk-forward reports: with online learning on, the
/// networks as they learn through each test window, not as they left training.
#[test]
fn the_cost_table_prices_the_agent_the_walk_forward_deploys() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = synthetic_env(dir.path());
    env.costs = CostConfig { buy: 0.0025, sell: 0.0025, ..CostConfig::default() };
    let config = rolling_folds(100, 2, 1);
    let train = TrainConfig {
        steps: 1000,
        reference_gate: false,
        online_steps: 2,
        online_learning_rate: 0.01,
        ..TrainConfig::default()
    };
    let report = walk_forward(WalkForwardRequest {
        env,
        train,
        config,
        out: dir.path().join("online"),
        jobs: 1,
        device: DeviceChoice::Cpu,
        progress: folio::progress::silent(),
        registry: None,
        rebalance: RebalanceRule::Every,
        resume: false,
    })
    .unwrap();
    let ensemble = report.overall.iter().find(|r| r.policy == folio::backtest::PolicyId::Ensemble).unwrap();
    let table = &report.cost_sensitivity;
    let at_config = table.costs_bp.iter().position(|&bp| bp == 25.0).unwrap();
    let (policy, cagrs) = &table.cagr[0];
    assert_eq!(*policy, folio::backtest::PolicyId::Ensemble);
    assert!(
        (cagrs[at_config] - ensemble.metrics.cagr).abs() < 1e-12,
        "table {} against the report's {}",
        cagrs[at_config],
        ensemble.metrics.cagr
    );
}

#[test]
fn walk_forward_trades_every_policy_under_the_rebalancing_rule() {
    let dir = tempfile::tempdir().unwrap();
    let env = synthetic_env(dir.path());
    let config = rolling_folds(150, 2, 1);
    let run = |rebalance: RebalanceRule| {
        walk_forward(WalkForwardRequest {
            env: env.clone(),
            train: TrainConfig { steps: 1000, ..TrainConfig::default() },
            config,
            out: dir.path().join(rebalance.to_string().replace(':', "-")),
            jobs: 1,
            device: DeviceChoice::Cpu,
            progress: folio::progress::silent(),
            registry: None,
            rebalance,
            resume: false,
        })
        .unwrap()
    };
    let turnover = |report: &folio::eval::walk_forward::WalkForwardReport, policy: &str| {
        let row = report.overall.iter().find(|r| r.policy.to_string().starts_with(policy)).expect(policy);
        row.metrics.mean_turnover
    };
    let every = run(RebalanceRule::Every);
    let monthly = run(RebalanceRule::Monthly);
    assert_eq!(monthly.rebalance, RebalanceRule::Monthly);
    // Equal weight trades back to its target each decision under `every`, once a month under
    // `monthly`: less turnover per decision over the same stitched test windows (the drift a
    // month adds up partly cancels, so less, not 21 times less).
    let (daily_ew, monthly_ew) = (turnover(&every, "equal weight"), turnover(&monthly, "equal weight"));
    assert!(daily_ew > 0.0 && monthly_ew < 0.8 * daily_ew, "equal weight {daily_ew} vs {monthly_ew}");
    let (daily_agent, monthly_agent) = (turnover(&every, "agent"), turnover(&monthly, "agent"));
    assert!(monthly_agent < daily_agent, "agent {daily_agent} vs {monthly_agent}");
    assert_eq!(every.curves.labels, monthly.curves.labels);
    // The stitched hindsight rows compound one pick per fold, and the table says so.
    let shown = folio::report::text::walk_forward(&every);
    assert!(shown.contains("best asset (hindsight), BCRP (hindsight): picked again in each fold"), "{shown}");
    assert!(shown.contains("(buy and hold: bought in again at each fold's start"), "{shown}");
}
