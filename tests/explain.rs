//! Attributions of the agent's weights (`folio explain`): a network whose answer is known by
//! construction, completeness on random networks, determinism, and the dates a user may ask for.

use burn::prelude::*;
use rand::{RngExt, SeedableRng, rngs::StdRng};

use folio::agent::ActionHead;
use folio::agent::DeviceChoice;
use folio::agent::network::{NetConfig, NetKind, PolicyNet};
use folio::data::synth::{Regime, SynthConfig, generate};
use folio::data::{Stamp, TimeIndex, write_prices};
use folio::env::Limits;
use folio::env::config::{DataConfig, EnvConfig, EpisodeConfig, Periods, Span};
use folio::env::{CostConfig, ObservationLayout, RewardConfig};
use folio::eval::evaluate::{EvalRequest, evaluate};
use folio::eval::explain::{
    ExplainRequest, Explainer, Method, PeriodSummary, baseline_observation, explain, group_names,
};
use folio::features::{Feature, FeatureConfig};
use folio::train::{TrainConfig, TrainRequest, train};

const LAYOUT: ObservationLayout = ObservationLayout { assets: 2, features: 2, window: 3, reference: false };
const IG: Method = Method::IntegratedGradients { steps: 64 };
const FINE: Method = Method::IntegratedGradients { steps: 512 };

/// The hand-built network: one hidden tanh unit reads `u = v . x + c`, where `v` is non-zero
/// only on the second feature's inputs (of both assets), and only asset 1's score depends on it:
/// scores `[b0, a tanh(u) + b1, b2]`. Every weight is then a function of `u` alone.
struct KnownNet {
    v: Vec<f64>,
    c: f64,
    a: f64,
    b: [f64; 3],
}

impl KnownNet {
    fn new() -> Self {
        let mut v = vec![0.0; LAYOUT.len()];
        for asset in 0..LAYOUT.assets {
            for t in 0..LAYOUT.window {
                let i = asset * LAYOUT.features * LAYOUT.window + LAYOUT.window + t;
                v[i] = 0.2 + 0.1 * t as f64 - 0.15 * asset as f64;
            }
        }
        Self { v, c: 0.1, a: 1.5, b: [0.3, -0.2, 0.1] }
    }

    fn build(&self, device: &Device) -> PolicyNet {
        let config = NetConfig { kind: NetKind::Mlp, hidden: vec![1], ..NetConfig::default() };
        let net = config.init_seeded(LAYOUT, device, 0);
        let len = LAYOUT.len();
        let shapes: Vec<usize> = net.parameter_values().iter().map(Vec::len).collect();
        // actor layer (weight, bias), actor output (weight, bias), then the critic's four.
        assert_eq!(shapes, vec![len, 1, 3, 3, len, 1, 1, 1], "the MLP's parameter order changed");
        let f = |values: &[f64]| values.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        net.with_parameter_values(vec![
            f(&self.v),
            f(&[self.c]),
            f(&[0.0, self.a, 0.0]),
            f(&self.b),
            vec![0.0; len],
            vec![0.0],
            vec![0.0],
            vec![0.0],
        ])
        .unwrap()
    }

    fn u(&self, x: &[f32]) -> f64 {
        self.v.iter().zip(x).map(|(v, &x)| v * x as f64).sum::<f64>() + self.c
    }

    /// Softmax of the scores, in f64.
    fn weights(&self, x: &[f32]) -> Vec<f64> {
        let scores = [self.b[0], self.a * self.u(x).tanh() + self.b[1], self.b[2]];
        let total: f64 = scores.iter().map(|s| s.exp()).sum();
        scores.iter().map(|s| s.exp() / total).collect()
    }
}

fn observation(seed: u64, layout: &ObservationLayout) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x: Vec<f32> = (0..layout.feature_len()).map(|_| rng.random_range(-1.5f32..1.5)).collect();
    let raw: Vec<f32> = (0..=layout.assets).map(|_| rng.random_range(0.05f32..1.0)).collect();
    let total: f32 = raw.iter().sum();
    x.extend(raw.iter().map(|w| w / total));
    x
}

#[test]
fn integrated_gradients_match_the_closed_form_of_a_known_network() {
    let device = Device::flex();
    let known = KnownNet::new();
    let net = known.build(&device);
    let explainer = Explainer::new(&net, ActionHead::Softmax, LAYOUT, &device, IG).unwrap();
    let x = observation(1, &LAYOUT);
    let baseline = baseline_observation(&LAYOUT, None);
    let attribution = explainer.attribute(&x);
    let (w, w0) = (known.weights(&x), known.weights(&baseline));
    for j in 0..3 {
        assert!((attribution.weights[j] - w[j]).abs() < 1e-6, "w_{j} {} vs {}", attribution.weights[j], w[j]);
        assert!((attribution.baseline_weights[j] - w0[j]).abs() < 1e-6);
    }
    // Every weight depends on x only through u = v . x, which is linear along the straight
    // path, so IG_ji = (w_j(x) - w_j(x')) (x_i - x'_i) v_i / (v . (x - x')) exactly.
    let du = known.u(&x) - known.u(&baseline);
    for j in 0..3 {
        for i in 0..LAYOUT.len() {
            let expected = (w[j] - w0[j]) * (x[i] - baseline[i]) as f64 * known.v[i] / du;
            let got = attribution.per_input[j][i];
            assert!((got - expected).abs() < 1e-5, "output {j} input {i}: {got} vs {expected}");
            if known.v[i] == 0.0 {
                assert_eq!(got, 0.0, "input {i} does not reach the weights: exactly zero");
            }
        }
    }

    let explanation = explainer.explain(&x);
    let second_feature = 1;
    for j in 0..3 {
        for (g, &value) in explanation.attribution[j].iter().enumerate() {
            if g == second_feature {
                assert!((value - (w[j] - w0[j])).abs() < 1e-5, "output {j}: {value} vs {}", w[j] - w0[j]);
            } else {
                assert_eq!(value, 0.0, "output {j}, group {g} must carry nothing");
            }
        }
        assert!(explanation.completeness_gap[j].abs() < 1e-5);
    }
    // Asset 1's own inputs are its own feature window: the first asset's share of v . (x - x').
    let own_share: f64 =
        (0..LAYOUT.features * LAYOUT.window).map(|i| known.v[i] * (x[i] - baseline[i]) as f64).sum::<f64>()
            / du;
    let own = explanation.own_inputs[1][second_feature];
    assert!((own - (w[1] - w0[1]) * own_share).abs() < 1e-5, "own {own}");
    assert_eq!(explanation.own_inputs[0][second_feature], 0.0, "cash owns no feature");
}

#[test]
fn gradient_times_input_equals_the_hand_derivative() {
    let device = Device::flex();
    let known = KnownNet::new();
    let net = known.build(&device);
    let explainer =
        Explainer::new(&net, ActionHead::Softmax, LAYOUT, &device, Method::GradientTimesInput).unwrap();
    let x = observation(2, &LAYOUT);
    let baseline = baseline_observation(&LAYOUT, None);
    let attribution = explainer.attribute(&x);
    // dw_j/dx_i = w_j (delta_j1 - w_1) a (1 - tanh^2 u) v_i.
    let w = known.weights(&x);
    let slope = known.a * (1.0 - known.u(&x).tanh().powi(2));
    for j in 0..3 {
        let dw_ds1 = w[j] * (f64::from(u8::from(j == 1)) - w[1]);
        for i in 0..LAYOUT.len() {
            let expected = (x[i] - baseline[i]) as f64 * dw_ds1 * slope * known.v[i];
            let got = attribution.per_input[j][i];
            assert!((got - expected).abs() < 1e-6, "output {j} input {i}: {got} vs {expected}");
        }
    }
}

#[test]
fn integrated_gradients_are_complete_on_random_networks() {
    let device = Device::flex();
    let layout = ObservationLayout { assets: 3, features: 2, window: 8, reference: false };
    let dirichlet = ActionHead::Dirichlet { min_concentration: 0.5, max_concentration: 50.0, anchored: None };
    for (kind, head, seed) in [
        (NetKind::Eiie, ActionHead::Softmax, 3),
        (NetKind::Mlp, ActionHead::Softmax, 4),
        (NetKind::Mlp, dirichlet, 5),
    ] {
        let config = NetConfig { kind, hidden: vec![16, 16], ..NetConfig::default() };
        let net = config.init_seeded(layout, &device, seed);
        // The midpoint sum misses by O(1/m^2) and more at ReLU kinks (EIIE): 512 steps bring a
        // random network within 1e-4, where 64 leave about 1e-4.
        let explainer = Explainer::new(&net, head, layout, &device, FINE).unwrap();
        let explanation = explainer.explain(&observation(seed, &layout));
        let moved: f64 = (0..=layout.assets)
            .map(|j| (explanation.weights[j] - explanation.baseline_weights[j]).abs())
            .sum();
        assert!(moved > 1e-3, "{kind:?}: the input must move the weights for the test to mean anything");
        for (j, gap) in explanation.completeness_gap.iter().enumerate() {
            assert!(gap.abs() < 1e-4, "{kind:?} {head:?}: output {j} misses completeness by {gap}");
        }
        let total: f64 = explanation.weights.iter().sum();
        assert!((total - 1.0).abs() < 1e-5);
        // The weights sum to one at every input, so the attributions to all outputs cancel.
        let all: f64 = explanation.attribution.iter().flatten().sum();
        assert!(all.abs() < 1e-4, "{kind:?}: attributions over all outputs sum to {all}");
    }
}

#[test]
fn explanations_are_deterministic_and_average_by_hand() {
    let device = Device::flex();
    let layout = ObservationLayout { assets: 3, features: 2, window: 8, reference: false };
    let config = NetConfig { kind: NetKind::Eiie, ..NetConfig::default() };
    let one = config.init_seeded(layout, &device, 7);
    let two = config.init_seeded(layout, &device, 7);
    let a = Explainer::new(&one, ActionHead::Softmax, layout, &device, IG).unwrap();
    let b = Explainer::new(&two, ActionHead::Softmax, layout, &device, IG).unwrap();
    let (x, y) = (observation(8, &layout), observation(9, &layout));
    assert_eq!(a.explain(&x), b.explain(&x), "same network and input, bit-identical attributions");

    let explanations = vec![a.explain(&x), a.explain(&y)];
    let summary = PeriodSummary::of(&explanations).unwrap();
    assert_eq!(summary.decisions, 2);
    for j in 0..=layout.assets {
        for g in 0..=layout.features {
            let (p, q) = (explanations[0].attribution[j][g], explanations[1].attribution[j][g]);
            assert!((summary.mean_attribution[j][g] - (p + q) / 2.0).abs() < 1e-15);
            assert!((summary.mean_abs_attribution[j][g] - (p.abs() + q.abs()) / 2.0).abs() < 1e-15);
        }
    }
    assert_eq!(PeriodSummary::of(&[]), None);
    assert!(
        Explainer::new(&one, ActionHead::Softmax, layout, &device, Method::IntegratedGradients { steps: 0 })
            .is_err()
    );
    let names = group_names(&["log_return".to_string(), "rsi".to_string()], false);
    assert_eq!(names, vec!["log_return", "rsi", "previous weights"]);
    let names = group_names(&["rsi".to_string()], true);
    assert_eq!(names, vec!["rsi", "previous weights", "reference weights"]);
}

fn synthetic_env(dir: &std::path::Path) -> (EnvConfig, Vec<chrono::NaiveDate>) {
    let panel = generate(&SynthConfig {
        assets: 3,
        periods: 500,
        seed: 11,
        regimes: vec![Regime { drift: 0.08, volatility: 0.2 }],
        ..SynthConfig::default()
    })
    .unwrap();
    let file = dir.join("prices.csv");
    write_prices(&panel, &file).unwrap();
    let TimeIndex::Dates(dates) = panel.index.clone() else { unreachable!() };
    let date = |row: usize| Some(Stamp::Date(dates[row]));
    let env = EnvConfig {
        data: DataConfig::new(file),
        periods: Periods {
            train: Span { from: None, to: date(299) },
            validation: Span { from: date(300), to: date(399) },
            test: Span { from: date(400), to: None },
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
    };
    (env, dates)
}

/// The best network of `checkpoint` alone, explained finely on the CPU at `date`.
fn explain_request(checkpoint: &std::path::Path, date: Option<Stamp>) -> ExplainRequest {
    ExplainRequest {
        checkpoint: checkpoint.to_path_buf(),
        ensemble: Vec::new(),
        weights: folio::train::checkpoint::Weights::Best,
        date,
        from: None,
        to: None,
        method: FINE,
        device: DeviceChoice::Cpu,
        data: Default::default(),
    }
}

/// Train `config` on `env` into `out`, on the CPU and silently, as every test here does.
fn train_into(env: EnvConfig, config: TrainConfig, out: std::path::PathBuf) {
    train(TrainRequest {
        env,
        train: config,
        out,
        device: DeviceChoice::Cpu,
        resume: false,
        progress: folio::progress::silent(),
    })
    .unwrap();
}

/// Under allocation limits the environment trades the policy's weights projected onto them:
/// those are the weights explained, and their attributions still add up.
#[test]
fn a_checkpoint_under_limits_is_explained_on_the_weights_it_trades() {
    let dir = tempfile::tempdir().unwrap();
    let (env, _) = synthetic_env(dir.path());
    let env = EnvConfig { limits: Limits { max_weight: 0.4, min_cash: 0.3 }, ..env };
    let checkpoints: Vec<_> = (0..2).map(|seed| dir.path().join(format!("run-{seed}"))).collect();
    for (seed, checkpoint) in checkpoints.iter().enumerate() {
        train_into(
            env.clone(),
            TrainConfig { steps: 1000, seed: seed as u64, reference_gate: false, ..TrainConfig::default() },
            checkpoint.clone(),
        );
    }
    let (dates, row) = (synthetic_env(dir.path()).1, 450);
    let request = ExplainRequest {
        ensemble: vec![checkpoints[1].clone()],
        ..explain_request(&checkpoints[0], Some(Stamp::Date(dates[row])))
    };
    let explanation = explain(request).unwrap().decision.unwrap().explanation;
    let evaluation = evaluate(EvalRequest {
        ensemble: vec![checkpoints[1].clone()],
        ..EvalRequest::new(checkpoints[0].clone())
    })
    .unwrap();
    let held = &evaluation.logs[0].weights[row - 400];
    assert!(held[0] >= 0.3 - 1e-9 && held[1..].iter().all(|&w| w <= 0.4 + 1e-9), "{held:?}");
    for (got, want) in explanation.weights.iter().zip(held) {
        assert!((got - want).abs() < 1e-6, "explained weight {got} vs the traded {want}");
    }
    for gap in &explanation.completeness_gap {
        assert!(gap.abs() < 1e-3, "{gap}");
    }
}

#[test]
fn a_checkpoint_is_explained_on_its_real_holdings_and_bad_dates_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (env, dates) = synthetic_env(dir.path());
    let warmup = env.features.warmup();
    let checkpoint = dir.path().join("run");
    train_into(env, TrainConfig { steps: 2000, ..TrainConfig::default() }, checkpoint.clone());
    let request = |date: Option<Stamp>, from: Option<Stamp>, to: Option<Stamp>| ExplainRequest {
        from,
        to,
        ..explain_request(&checkpoint, date)
    };
    let day = |row: usize| Some(Stamp::Date(dates[row]));

    // A test-period date replays the agent from the test period's start, as `folio eval` does:
    // the explained weights are the ones the backtest chose that day.
    let report = explain(request(day(450), None, None)).unwrap();
    assert_eq!(report.replayed_from, dates[400].to_string());
    assert_eq!(report.groups, vec!["log_return", "rsi", "previous weights", "reference weights"]);
    assert_eq!(report.outputs.len(), 4);
    let decision = report.decision.as_ref().unwrap();
    assert_eq!((decision.date.as_str(), decision.note.as_ref()), (dates[450].to_string().as_str(), None));
    let evaluation = evaluate(EvalRequest::new(checkpoint.clone())).unwrap();
    let held = &evaluation.logs[0].weights[450 - 400];
    for (got, want) in decision.explanation.weights.iter().zip(held) {
        assert!((got - want).abs() < 1e-6, "explained weight {got} vs eval's {want}");
    }
    for gap in &decision.explanation.completeness_gap {
        assert!(gap.abs() < 1e-4);
    }
    // The equal-weight reference never moves, so it pushes no weight: the baseline holds it at
    // its training-period mean, which is itself, and its cash share at zero.
    let reference_group = report.groups.len() - 1;
    for (output, groups) in decision.explanation.attribution.iter().enumerate() {
        assert!(groups[reference_group].abs() < 1e-9, "output {output}: {}", groups[reference_group]);
    }
    assert_eq!(
        explain(request(day(450), None, None)).unwrap().decision.unwrap().explanation,
        decision.explanation
    );

    // A period: every decision, averaged; with --date inside it, that decision too.
    let period = explain(request(day(470), day(460), day(480))).unwrap();
    let summary = &period.period.as_ref().unwrap().summary;
    assert_eq!(summary.decisions, 20, "decisions at rows 460 .. 479 trade up to row 480");
    assert_eq!(period.replayed_from, dates[400].to_string(), "from the test period's start, as for one date");
    assert!(period.decision.is_some());
    assert!(summary.max_abs_completeness_gap < 1e-4);
    // A period's first decision sees what the agent held the day before, not cash: with the
    // network as training left it, which weighs its previous weights, the decision explained
    // inside the period is the one explained alone.
    let last = |date, from, to| ExplainRequest {
        weights: folio::train::checkpoint::Weights::Last,
        ..request(date, from, to)
    };
    let inside = explain(last(day(460), day(460), day(480))).unwrap().decision.unwrap().explanation;
    let alone = explain(last(day(460), None, None)).unwrap().decision.unwrap().explanation;
    assert_eq!(inside, alone);

    // A weekend falls back to the Friday before, and says so.
    let saturday = (451..480).find(|&r| (dates[r] - dates[r - 1]).num_days() > 1).unwrap();
    let weekend = dates[saturday] - chrono::Days::new(1);
    let report = explain(request(Some(Stamp::Date(weekend)), None, None)).unwrap();
    let decision = report.decision.unwrap();
    assert_eq!(decision.date, dates[saturday - 1].to_string());
    assert!(decision.note.unwrap().contains("not a trading day"));

    let error = |date: Stamp| explain(request(Some(date), None, None)).unwrap_err().to_string();
    let before = error(Stamp::Date(dates[0] - chrono::Days::new(10)));
    assert!(before.contains("before the data's first row"), "{before}");
    let after = error(Stamp::Date(dates[499] + chrono::Days::new(10)));
    assert!(after.contains("after the data's last row"), "{after}");
    let early = error(Stamp::Date(dates[warmup - 1]));
    assert!(early.contains("warm-up") && early.contains(&dates[warmup].to_string()), "{early}");
    let last = error(Stamp::Date(dates[499]));
    assert!(last.contains("last row") && last.contains(&dates[498].to_string()), "{last}");
    let outside = explain(request(day(490), day(460), day(480))).unwrap_err().to_string();
    assert!(outside.contains("outside the period"), "{outside}");
    let nothing = explain(request(None, None, None)).unwrap_err().to_string();
    assert!(nothing.contains("--date"), "{nothing}");
    let number = error(Stamp::Period(5));
    assert!(number.contains("is a period number, but the data is dated"), "{number}");
}

/// With a decision every 5 periods, a period keeps the schedule of its replay (every 5 periods
/// from the test period's start): its first decision names it, and a period between two
/// decisions is an error that says when the next one is.
#[test]
fn a_period_keeps_the_decision_schedule_of_its_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (mut env, dates) = synthetic_env(dir.path());
    env.episode.rebalance_every = 5;
    let checkpoint = dir.path().join("run");
    train_into(env, TrainConfig { steps: 500, ..TrainConfig::default() }, checkpoint.clone());
    let request = |from: usize, to: usize| ExplainRequest {
        from: Some(Stamp::Date(dates[from])),
        to: Some(Stamp::Date(dates[to])),
        ..explain_request(&checkpoint, None)
    };
    let report = explain(request(402, 420)).unwrap();
    assert_eq!(report.replayed_from, dates[400].to_string());
    let period = report.period.unwrap();
    assert_eq!((period.from, period.to), (dates[405].to_string(), dates[415].to_string()));
    assert_eq!(period.summary.decisions, 3, "405, 410 and 415, each trading up to the next");
    let error = explain(request(401, 404)).unwrap_err().to_string();
    let schedule = format!("rebalances every 5 periods from {}", dates[400]);
    assert!(
        error.contains(&schedule) && error.contains(&format!("next decision is on {}", dates[405])),
        "{error}"
    );
}

/// A run whose gate kept the untrained network deploys its reference portfolio: the report says
/// so, and no market input moves its weights; its last network is still a trained one to explain.
#[test]
fn an_agent_that_kept_its_reference_is_explained_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let (env, dates) = synthetic_env(dir.path());
    let checkpoint = dir.path().join("run");
    // No training clears a margin of a thousand standard errors.
    let config = TrainConfig { steps: 500, reference_margin: 1000.0, ..TrainConfig::default() };
    let request = TrainRequest {
        env,
        train: config,
        out: checkpoint.clone(),
        device: DeviceChoice::Cpu,
        resume: false,
        progress: folio::progress::silent(),
    };
    assert!(train(request).unwrap().validation.kept_reference());
    let request =
        |weights| ExplainRequest { weights, ..explain_request(&checkpoint, Some(Stamp::Date(dates[450]))) };
    let best = explain(request(folio::train::checkpoint::Weights::Best)).unwrap();
    assert!(best.kept_reference);
    let market_inputs = best.groups.iter().position(|g| g == "previous weights").unwrap();
    for row in &best.decision.unwrap().explanation.attribution {
        assert!(row[..market_inputs].iter().all(|a| a.abs() < 1e-9), "{row:?}");
    }
    assert!(!explain(request(folio::train::checkpoint::Weights::Last)).unwrap().kept_reference);
}

/// A network that observes no reference portfolio is explained against a baseline that names
/// none.
#[test]
fn a_network_without_a_reference_has_none_in_its_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let (mut env, dates) = synthetic_env(dir.path());
    env.features.reference = folio::features::Reference::None;
    let checkpoint = dir.path().join("run");
    train_into(env, TrainConfig { steps: 500, ..TrainConfig::default() }, checkpoint.clone());
    let report = explain(explain_request(&checkpoint, Some(Stamp::Date(dates[450])))).unwrap();
    assert!(!report.groups.iter().any(|g| g == "reference weights"), "{:?}", report.groups);
    assert!(!report.baseline.contains("reference"), "{}", report.baseline);
}

/// A multi-seed run deploys the average of its seeds' weights, so that is what `folio explain`
/// of the run explains: the ensemble replayed on its own holdings, its attributions the mean of
/// its members' at the observation it saw.
#[test]
fn a_multi_seed_run_is_explained_as_the_ensemble_it_deploys() {
    let dir = tempfile::tempdir().unwrap();
    let (env, dates) = synthetic_env(dir.path());
    let run = dir.path().join("run");
    for seed in [0, 1] {
        // Without the gate both seeds deploy their own tilts, so the ensemble is neither seed.
        let config = TrainConfig { steps: 2000, seed, reference_gate: false, ..TrainConfig::default() };
        train_into(env.clone(), config, run.join(format!("seed-{seed}")));
    }
    let (first, second) = (run.join("seed-0"), run.join("seed-1"));
    let request = |checkpoint: &std::path::Path, ensemble: Vec<std::path::PathBuf>| ExplainRequest {
        ensemble,
        ..explain_request(checkpoint, Some(Stamp::Date(dates[450])))
    };
    let report = explain(request(&first, vec![second.clone()])).unwrap();
    assert_eq!(report.members, vec![first.clone(), second.clone()]);
    let explained = report.decision.unwrap().explanation;
    let evaluation =
        evaluate(EvalRequest { ensemble: vec![second.clone()], ..EvalRequest::new(first.clone()) }).unwrap();
    let ensemble = evaluation.logs.iter().find(|l| l.policy == folio::backtest::PolicyId::Ensemble).unwrap();
    let held = &ensemble.weights[450 - 400];
    for (got, want) in explained.weights.iter().zip(held) {
        assert!((got - want).abs() < 1e-6, "explained weight {got} vs the ensemble's {want} in eval");
    }
    let alone = explain(request(&first, Vec::new())).unwrap().decision.unwrap().explanation;
    let apart = alone.weights.iter().zip(&explained.weights).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(apart > 1e-4, "the seeds differ, so the ensemble is not seed 0: {apart}");
    for gap in &explained.completeness_gap {
        assert!(gap.abs() < 1e-4, "the members' mean attributions add up to the ensemble's weights: {gap}");
    }

    // The command line explains a run folder as its ensemble, into the run folder.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_folio"))
        .args(["explain", "--checkpoint"])
        .arg(&run)
        .args(["--date", &dates[450].to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("the ensemble of its 2 seeds"), "{stdout}");
    assert!(run.join(format!("explain-{}", dates[450])).join("explain.json").exists(), "{stdout}");

    // Over a period: every row's columns stand under the header's (a group's name may be wider
    // than its figures), and the sizes of the absolute table carry no sign.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_folio"))
        .args(["explain", "--checkpoint"])
        .arg(&run)
        .args(["--from", &dates[420].to_string(), "--to", &dates[460].to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let bars = |line: &str| line.match_indices('|').map(|(i, _)| i).collect::<Vec<_>>();
    let lines: Vec<&str> = stdout.lines().collect();
    let headers: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].starts_with("weight ")).collect();
    assert_eq!(headers.len(), 2, "{stdout}");
    assert!(lines[headers[0]].contains("reference weights"), "a group name wider than its figures: {stdout}");
    for &header in &headers {
        let rows = lines[header + 1..].iter().take_while(|l| l.contains('|'));
        for row in rows {
            assert_eq!(bars(row), bars(lines[header]), "{stdout}");
            assert_eq!(row.len(), lines[header].len(), "the last column too: {stdout}");
        }
    }
    let largest =
        lines.iter().find(|l| l.starts_with("largest mean absolute: ")).expect("the period's largest");
    assert!(!largest.contains('+') && !largest.contains('-'), "{largest}");
}
