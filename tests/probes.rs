//! Sanity probes give the answers known in advance: a placebo passes because the shuffle removed
//! a real, learnable signal, and an agent shown tomorrow's returns beats every causal baseline.

use std::path::Path;

mod common;
use common::{folio_command, path, text};

use folio::agent::DeviceChoice;
use folio::data::synth::{Regime, SynthConfig};
use folio::data::{PricePanel, Stamp, TimeIndex, write_prices};
use folio::env::config::{DataConfig, EnvConfig, EpisodeConfig, Periods, Span};
use folio::env::{CostConfig, Limits, RewardConfig};
use folio::eval::probe::{self, ProbeKind, ProbeSetup, Verdict};
use folio::features::{Feature, FeatureConfig};
use folio::train::{Algo, TrainConfig};

fn stamp(panel: &PricePanel, row: usize) -> Option<Stamp> {
    match &panel.index {
        TimeIndex::Dates(d) => Some(Stamp::Date(d[row])),
        TimeIndex::Periods(_) => Some(Stamp::Period(row)),
    }
}

/// Five independent assets, 16% volatility, no drift; daily log returns carry `autocorrelation`
/// of the previous day's (as in tests/training.rs).
fn signal_market(autocorrelation: f64, periods: usize) -> PricePanel {
    folio::data::synth::generate(&SynthConfig {
        assets: 5,
        periods,
        seed: 21,
        regimes: vec![Regime { drift: 0.0, volatility: 0.16 }],
        jumps_per_year: 0.0,
        drift_dispersion: 0.0,
        correlation: 0.0,
        autocorrelation,
        ..SynthConfig::default()
    })
    .unwrap()
}

/// Training before `validation_from`, validation up to `test_from`, test after; 0.05% costs.
fn setup(panel: &PricePanel, dir: &Path, validation_from: usize, test_from: usize) -> ProbeSetup {
    let file = dir.join("prices.csv");
    write_prices(panel, &file).unwrap();
    let env = EnvConfig {
        data: DataConfig::new(file),
        periods: Periods {
            train: Span { from: None, to: stamp(panel, validation_from - 1) },
            validation: Span { from: stamp(panel, validation_from), to: stamp(panel, test_from - 1) },
            test: Span { from: stamp(panel, test_from), to: None },
        },
        features: FeatureConfig {
            window: 10,
            features: vec![Feature::LogReturn],
            ..FeatureConfig::default()
        },
        costs: CostConfig { buy: 0.0005, sell: 0.0005, ..CostConfig::default() },
        episode: EpisodeConfig { horizon: 50, rebalance_every: 1, embargo: 0, no_trade_band: 0.0 },
        reward: RewardConfig::LogReturn,
        limits: Limits::NONE,
        risk_profile: None,
    };
    let train = TrainConfig { steps: 30_000, seed: 4, ..TrainConfig::for_algo(Algo::Direct) };
    ProbeSetup { env, train, out: dir.join("probes"), device: DeviceChoice::Cpu }
}

#[test]
fn the_placebo_passes_only_because_the_shuffle_removes_a_learnable_signal() {
    let dir = tempfile::tempdir().unwrap();
    let panel = signal_market(0.3, 2600);
    let setup = setup(&panel, dir.path(), 1400, 1700);

    // Control: the same procedure on the real order finds the planted signal, beyond chance.
    let control = probe::placebo(&setup, false).unwrap();
    eprintln!("control: {}", control.message);
    let threshold = control.threshold.unwrap();
    assert_eq!(control.periods, 899);
    assert!(
        control.verdict == Verdict::Fail && control.agent_sharpe > control.equal_weight_sharpe + threshold,
        "the signal was not learned: {}",
        control.message
    );

    // Placebo: shuffled in time, the signal is gone, and so is the edge.
    let placebo = probe::placebo(&setup, true).unwrap();
    eprintln!("placebo: {}", placebo.message);
    assert_eq!(placebo.probe, ProbeKind::Placebo);
    assert_eq!(placebo.verdict, Verdict::Pass, "{}", placebo.message);
    assert!(placebo.agent_sharpe - placebo.equal_weight_sharpe < threshold, "{}", placebo.message);
}

#[test]
fn an_agent_shown_tomorrows_returns_beats_every_causal_baseline() {
    let dir = tempfile::tempdir().unwrap();
    // No planted signal: only the oracle feature can make the agent win.
    let panel = signal_market(0.0, 2000);
    let setup = setup(&panel, dir.path(), 1400, 1700);
    let oracle = probe::oracle(&setup).unwrap();
    eprintln!("oracle: {}", oracle.message);
    let (best, best_sharpe) = oracle.best_baseline.expect("causal baselines ran");
    assert!(!best.uses_hindsight(), "{best} is not a causal baseline");
    assert_eq!(oracle.verdict, Verdict::Pass, "{}", oracle.message);
    assert!(oracle.agent_sharpe > best_sharpe + probe::ORACLE_MARGIN, "{best}: {}", oracle.message);
    assert!(oracle.threshold.unwrap() >= oracle.equal_weight_sharpe + probe::ORACLE_MARGIN);
}

/// The collapse detectors judge what training learned: on a market without an edge the gate
/// would deploy the untrained reference, whose steady equal weights they would flag.
#[test]
fn the_collapse_probe_judges_the_trained_network_not_the_gates_reference() {
    let dir = tempfile::tempdir().unwrap();
    let panel = signal_market(0.0, 900);
    let mut setup = setup(&panel, dir.path(), 500, 700);
    setup.train.steps = 2000;
    assert!(setup.train.reference_gate, "the configs' default");
    probe::collapse_probe(&setup).unwrap();
    let meta = folio::train::checkpoint::load_meta(&setup.out.join("normal")).unwrap();
    assert!(!meta.train.reference_gate);
    assert!(!meta.validation.unwrap().kept_reference(), "a trained network is what the detectors saw");
}

/// The placebo judges on the test period; one that starts inside validation, or a config with
/// none (which tests on all its data), is refused before any probe trains.
#[test]
fn the_placebo_refuses_a_test_period_that_is_not_held_out() {
    let dir = tempfile::tempdir().unwrap();
    let panel = signal_market(0.0, 600);
    let mut setup = setup(&panel, dir.path(), 300, 450);
    setup.env.periods.test = Span::default();
    let error = probe::run(&setup, &[ProbeKind::Oracle, ProbeKind::Placebo]).unwrap_err().to_string();
    assert!(
        error.contains("[periods.test]") && error.contains("after the validation period ends"),
        "{error}"
    );
    assert!(!setup.out.exists(), "the oracle did not train first");
    setup.env.periods.test = Span { from: stamp(&panel, 400), to: None };
    assert!(probe::run(&setup, &[ProbeKind::Placebo]).unwrap_err().to_string().contains("[periods.test]"));
}

#[test]
fn a_failed_probe_fails_the_command_after_showing_its_result() {
    // So short a training cannot learn what the oracle sees: the agent stays near its reference
    // and cannot beat the best causal baseline by the margin.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("probe");
    let args = ["probe", "--config", "envs/default.toml", "--probe", "oracle", "--steps", "64"];
    let output = folio_command(&args).args(["--out", path(&out), "--json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(3), "a failure the results report: {}", text(&output));
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown["probes"][0]["probe"], "oracle");
    assert_eq!(shown["probes"][0]["verdict"], "FAIL");
    assert_eq!(shown["folder"].as_str(), Some(path(&std::path::absolute(&out).unwrap())), "where it wrote");
    assert!(String::from_utf8_lossy(&output.stderr).contains("1 probe failed: oracle"), "{}", text(&output));
    // The oracle's training sees tomorrow: no command gives it an out-of-sample verdict.
    let oracle = out.join("oracle");
    for command in [&["eval"][..], &["stress"], &["tax"], &["explain", "--date", "2020-03-16"]] {
        let refused = folio_command(command).args(["--checkpoint", path(&oracle)]).output().unwrap();
        assert!(!refused.status.success(), "{command:?}: {}", text(&refused));
        let why = String::from_utf8_lossy(&refused.stderr);
        assert!(
            why.contains("observes oracle_next_return, which sees the next period's return"),
            "{command:?}: {why}"
        );
    }
}
