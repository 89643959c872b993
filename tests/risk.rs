//! Risk profiles: the limits projection by hand, the environment and the direct learner under
//! limits, the questionnaire's scoring, and a training under the conservative profile.

use std::path::Path;
use std::sync::Arc;

use burn::prelude::*;
use folio::agent::DeviceChoice;
use folio::data::synth::{Regime, SynthConfig, generate, generate_log_returns, panel_from_log_returns};
use folio::data::{Stamp, write_prices};
use folio::env::config::{DataConfig, EnvConfig, EpisodeConfig, Periods, Span};
use folio::env::limits::project_tensor;
use folio::env::risk::{Questionnaire, RiskProfile};
use folio::env::{CostConfig, EnvSettings, Limits, Market, MarketEnv, RewardConfig};
use folio::eval::evaluate::{EvalRequest, evaluate};
use folio::features::{Feature, FeatureConfig};
use folio::registry::config_hash;
use folio::train::{Algo, DirectObjective, TrainConfig, TrainRequest, train};
use proptest::prelude::*;
use rand::{RngExt, SeedableRng, rngs::StdRng};

fn projected(limits: Limits, weights: &[f64]) -> Vec<f64> {
    let mut w = weights.to_vec();
    limits.project(&mut w);
    w
}

fn assert_close(got: &[f64], expected: &[f64]) {
    assert_eq!(got.len(), expected.len());
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!((g - e).abs() < 1e-12, "weight {i}: {g} vs {e} (got {got:?}, expected {expected:?})");
    }
}

#[test]
fn projection_by_hand() {
    let cap = |max_weight| Limits { max_weight, min_cash: 0.0 };
    // Cap 0.4: A's excess 0.3 goes to B and C pro rata to 0.2 and 0.1.
    assert_close(&projected(cap(0.4), &[0.0, 0.7, 0.2, 0.1]), &[0.0, 0.4, 0.4, 0.2]);
    // Cap 0.3 cascades: A's 0.2 lifts B to 0.375 and C to 0.225; B's 0.075 then goes to C.
    assert_close(&projected(cap(0.3), &[0.1, 0.5, 0.25, 0.15]), &[0.1, 0.3, 0.3, 0.3]);
    // Assets the policy gave nothing take nothing: the excess goes to cash.
    assert_close(&projected(cap(0.3), &[0.5, 0.5, 0.0, 0.0]), &[0.7, 0.3, 0.0, 0.0]);
    // Infeasible caps: three assets at 0.2 hold 0.6, the other 0.4 is cash.
    assert_close(&projected(cap(0.2), &[0.0, 0.5, 0.3, 0.2]), &[0.4, 0.2, 0.2, 0.2]);
    assert!((cap(0.2).forced_cash(3) - 0.4).abs() < 1e-12);
    // Minimum cash 0.2: assets scale by 0.8 / 0.9.
    let floor = Limits { max_weight: 1.0, min_cash: 0.2 };
    assert_close(&projected(floor, &[0.1, 0.6, 0.3]), &[0.2, 0.6 * 0.8 / 0.9, 0.3 * 0.8 / 0.9]);
    // Both: B is at the cap already, so A's excess 0.3 goes to cash (0.4), then cash rises to
    // 0.5 and the assets scale by 0.5 / 0.6.
    let both = Limits { max_weight: 0.3, min_cash: 0.5 };
    assert_close(&projected(both, &[0.1, 0.6, 0.3]), &[0.5, 0.25, 0.25]);
}

#[test]
fn limits_describe_what_binds() {
    let limits = Limits { max_weight: 0.1, min_cash: 0.2 };
    assert_eq!(limits.describe(Some(20)), "at most 10% per asset, at least 20% cash");
    assert_eq!(
        limits.describe(Some(5)),
        "at most 10% per asset, at least 20% cash (5 assets capped at 10% hold at most 50%: the other 50% stays in cash)"
    );
    assert_eq!(Limits::NONE.describe(Some(5)), "no allocation limits");
    assert!(Limits { max_weight: 0.0, min_cash: 0.0 }.validate().is_err());
    assert!(Limits { max_weight: 0.5, min_cash: 1.0 }.validate().is_err());
    assert!(Limits { max_weight: f64::NAN, min_cash: 0.0 }.validate().is_err());
}

/// Weights on the simplex (cash first) and limits, at random.
fn weights_and_limits() -> impl Strategy<Value = (Vec<f64>, Limits)> {
    (1usize..8, 0.05f64..=1.0, 0.0f64..0.95).prop_flat_map(|(n, max_weight, min_cash)| {
        (prop::collection::vec(0.0f64..1.0, n + 1), Just(Limits { max_weight, min_cash })).prop_map(
            |(raw, limits)| {
                // Exact zeros too, as baselines that hold one asset produce.
                let mut w: Vec<f64> = raw.iter().map(|&x| if x < 0.3 { 0.0 } else { x }).collect();
                if w.iter().all(|&x| x == 0.0) {
                    w[0] = 1.0;
                }
                let total: f64 = w.iter().sum();
                w.iter_mut().for_each(|x| *x /= total);
                (w, limits)
            },
        )
    })
}

fn within(limits: &Limits, w: &[f64]) -> bool {
    let sum: f64 = w.iter().sum();
    (sum - 1.0).abs() < 1e-9
        && w.iter().all(|&x| x >= -1e-12 && x.is_finite())
        && w[0] >= limits.min_cash - 1e-12
        && w[1..].iter().all(|&x| x <= limits.max_weight + 1e-12)
}

proptest! {
    #[test]
    fn projection_lands_within_limits_and_is_idempotent((weights, limits) in weights_and_limits()) {
        let once = projected(limits, &weights);
        prop_assert!(within(&limits, &once), "{weights:?} -> {once:?} under {limits:?}");
        prop_assert!(once[0] >= limits.forced_cash(weights.len() - 1) - 1e-12);
        let twice = projected(limits, &once);
        for (a, b) in once.iter().zip(&twice) {
            prop_assert!((a - b).abs() < 1e-12, "{once:?} -> {twice:?}");
        }
    }

    #[test]
    fn feasible_weights_are_untouched((weights, limits) in weights_and_limits()) {
        let feasible = weights[0] >= limits.min_cash && weights[1..].iter().all(|&w| w <= limits.max_weight);
        if feasible {
            prop_assert_eq!(projected(limits, &weights), weights);
        }
    }
}

#[test]
fn tensor_projection_matches_the_host_projection() {
    let device = Device::default();
    let mut rng = StdRng::seed_from_u64(7);
    let limit_sets = [
        Limits { max_weight: 0.1, min_cash: 0.5 },
        Limits { max_weight: 0.2, min_cash: 0.2 },
        Limits { max_weight: 0.4, min_cash: 0.0 },
        Limits { max_weight: 0.15, min_cash: 0.0 },
        Limits { max_weight: 1.0, min_cash: 0.3 },
    ];
    for width in [2usize, 4, 6] {
        for limits in limit_sets {
            // Peaked rows, with the policy's mass on one or two assets, as well as flat ones.
            let rows = 64;
            let mut data = Vec::with_capacity(rows * width);
            for _ in 0..rows {
                let sharpness: f64 = rng.random_range(0.1..8.0);
                let scores: Vec<f64> = (0..width).map(|_| sharpness * rng.random::<f64>()).collect();
                let total: f64 = scores.iter().map(|s| s.exp()).sum();
                data.extend(scores.iter().map(|s| (s.exp() / total) as f32));
            }
            let tensor = Tensor::<2>::from_data(TensorData::new(data.clone(), [rows, width]), &device);
            let got: Vec<f32> = project_tensor(tensor, &limits).into_data().try_into_vec::<f32>().unwrap();
            for (r, (row, got)) in data.chunks_exact(width).zip(got.chunks_exact(width)).enumerate() {
                let host = projected(limits, &row.iter().map(|&x| x as f64).collect::<Vec<_>>());
                for (h, g) in host.iter().zip(got) {
                    assert!(
                        (h - *g as f64).abs() < 2e-6,
                        "row {r} {row:?} under {limits:?}: host {host:?}, tensor {got:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn tensor_projection_has_finite_gradients_even_when_every_asset_is_capped() {
    let device = Device::default().autodiff();
    // The second row puts everything in two assets that a cap of 0.2 cannot hold.
    let scores = Tensor::<2>::from_data(
        TensorData::new(vec![0.3f32, 1.0, -0.5, 0.2, -30.0, 9.0, 9.0, -30.0], [2, 4]),
        &device,
    )
    .require_grad();
    let weights = burn::tensor::activation::softmax(scores.clone(), 1);
    let projected = project_tensor(weights, &Limits { max_weight: 0.2, min_cash: 0.1 });
    let check = projected.clone().into_data().try_into_vec::<f32>().unwrap();
    for row in check.chunks_exact(4) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{row:?}");
        assert!(row[0] >= 0.1 - 1e-6 && row[1..].iter().all(|&w| w <= 0.2 + 1e-6), "{row:?}");
    }
    let loss = projected.narrow(1, 1, 3).sum();
    let grads = loss.backward();
    let grad = scores.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap();
    assert!(grad.iter().all(|g| g.is_finite()), "{grad:?}");
}

/// A small synthetic market of `assets` assets.
fn synth_market(assets: usize) -> Arc<Market> {
    let config = SynthConfig { assets, periods: 300, seed: 11, ..SynthConfig::default() };
    let (returns, _) = generate_log_returns(&config);
    let panel = panel_from_log_returns(&returns, config.start, "S");
    let features =
        FeatureConfig { window: 5, features: vec![Feature::LogReturn], ..FeatureConfig::default() };
    Arc::new(Market::new(panel, &features, None, 0..200).unwrap())
}

#[test]
fn the_environment_trades_only_within_the_limits_under_random_actions() {
    let market = synth_market(4);
    let range = market.decision_range(&Span::default(), 0).unwrap();
    let limits = Limits { max_weight: 0.3, min_cash: 0.25 };
    let settings = EnvSettings {
        costs: CostConfig::default(),
        reward: RewardConfig::LogReturn,
        episode: EpisodeConfig { horizon: 0, rebalance_every: 1, embargo: 0, no_trade_band: 0.0 },
        limits,
    };
    let mut env = MarketEnv::new(market.clone(), range, settings, 0).unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    env.reset();
    let mut binding = 0;
    loop {
        let raw: Vec<f64> = (0..5).map(|_| rng.random::<f64>().powi(4)).collect();
        let total: f64 = raw.iter().sum();
        let action: Vec<f64> = raw.iter().map(|x| x / total).collect();
        let t = env.step(&action).unwrap();
        assert!(within(&limits, t.target), "traded to {:?} from action {action:?}", t.target);
        assert_close(t.target, &projected(limits, &action));
        binding += usize::from(t.target != action.as_slice());
        // The observation's weights are the holdings after prices moved the traded weights.
        if t.done {
            break;
        }
    }
    assert!(binding > range.periods() / 2, "the limits bound in only {binding} steps");
}

#[test]
fn the_direct_objective_with_risk_aversion_is_mean_minus_half_lambda_variance() {
    let device = Device::default();
    let returns = Tensor::<2>::from_data(TensorData::new(vec![0.01f32, -0.02, 0.03, 0.0], [4, 1]), &device);
    // mean 0.005; deviations 0.005, -0.025, 0.025, -0.005; population variance 0.0013 / 4.
    let expected = 0.005 - 4.0 / 2.0 * (0.0013 / 4.0);
    let objective =
        DirectObjective::from_reward(&RewardConfig::MeanVariance { risk_aversion: 4.0, eta: 0.01 });
    assert_eq!(objective, DirectObjective::MeanVariance { risk_aversion: 4.0 });
    let got = objective.evaluate(returns.clone()).into_scalar::<f32>() as f64;
    assert!((got - expected).abs() < 1e-8, "{got} vs {expected}");
    let plain = DirectObjective::from_reward(&RewardConfig::LogReturn);
    assert_eq!(plain, DirectObjective::MeanLogReturn);
    assert!((plain.evaluate(returns).into_scalar::<f32>() as f64 - 0.005).abs() < 1e-8);
    assert_eq!(
        DirectObjective::from_reward(&RewardConfig::MeanVariance { risk_aversion: 0.0, eta: 0.01 }),
        DirectObjective::MeanLogReturn
    );
}

fn answers(horizon_years: f64, tolerated_loss: f64, income_need: f64) -> Questionnaire {
    Questionnaire { horizon_years, tolerated_loss, income_need }
}

#[test]
fn questionnaire_maps_to_the_most_cautious_profile_any_answer_allows() {
    use RiskProfile::*;
    assert_eq!(answers(20.0, 0.5, 0.0).assess().profile, Aggressive);
    assert_eq!(answers(5.0, 0.5, 0.0).assess().profile, Balanced);
    assert_eq!(answers(20.0, 0.426, 0.0).assess().profile, Balanced);
    assert_eq!(answers(20.0, 0.5, 0.04).assess().profile, Balanced);
    assert_eq!(answers(2.0, 0.5, 0.0).assess().profile, Conservative);
    assert_eq!(answers(20.0, 0.4, 0.0).assess().profile, Conservative, "balanced can lose 42.6%");
    assert_eq!(answers(20.0, 0.5, 0.05).assess().profile, Conservative);
    let a = answers(10.0, 0.25, 0.04).assess();
    assert_eq!((a.by_horizon, a.by_tolerated_loss, a.by_income_need), (Aggressive, Conservative, Balanced));
    assert_eq!(a.profile, Conservative);
}

/// Ten assets fall by half together over `steps` periods, and equal weight under `profile`'s
/// limits rebalances back to them every period, without costs: its loss.
fn loss_in_a_crash(profile: RiskProfile, steps: usize) -> f64 {
    let mut prices = ndarray::Array2::zeros((steps + 1, 10));
    for t in 0..=steps {
        prices.row_mut(t).fill(0.5f64.powf(t as f64 / steps as f64));
    }
    let assets = (0..10).map(|i| format!("A{i}")).collect();
    let panel =
        folio::data::PricePanel::new("crash.csv", assets, folio::data::TimeIndex::Periods(steps + 1), prices);
    let market = Arc::new(Market::new(panel, &FeatureConfig::none(), None, 0..0).unwrap());
    let range = market.decision_range(&Span::default(), 0).unwrap();
    let settings = EnvSettings {
        costs: CostConfig::free(),
        reward: RewardConfig::LogReturn,
        episode: EpisodeConfig { horizon: 0, rebalance_every: 1, embargo: 0, no_trade_band: 0.0 },
        limits: profile.limits(),
    };
    let log =
        folio::backtest::backtest(&mut folio::baselines::EqualWeight, &market, range, settings).unwrap();
    1.0 - log.values.last().unwrap()
}

/// The questionnaire's thresholds are the profiles' worst losses in a 50% crash: `(1 - c) / 2`
/// when it comes in one period, more when rebalancing buys a slow fall all the way down, but
/// never more than the bound, which a fall over many periods approaches.
#[test]
fn crash_losses_are_bounds_a_slow_fall_approaches() {
    for profile in RiskProfile::ALL {
        let bound = profile.crash_loss();
        let one_period = loss_in_a_crash(profile, 1);
        assert!((one_period - (1.0 - profile.limits().min_cash) * 0.5).abs() < 1e-12, "{profile}");
        let (month, year) = (loss_in_a_crash(profile, 20), loss_in_a_crash(profile, 250));
        let at_most = |a: f64, b: f64| a <= b + 1e-12;
        assert!(
            at_most(one_period, month) && at_most(month, year) && at_most(year, bound),
            "{profile}: {one_period} {month} {year} {bound}"
        );
        assert!(bound - year < 1e-3, "{profile}: a year's fall loses {year}, the bound is {bound}");
    }
    use RiskProfile::*;
    assert!(
        (Conservative.crash_loss() - 0.2929).abs() < 1e-4 && (Balanced.crash_loss() - 0.4257).abs() < 1e-4
    );
    assert_eq!(Aggressive.crash_loss(), 0.5);
}

#[test]
fn profiles_set_risk_aversion_and_limits() {
    let expected = [
        (RiskProfile::Conservative, 5.0, 0.1, 0.5),
        (RiskProfile::Balanced, 2.5, 0.2, 0.2),
        (RiskProfile::Aggressive, 1.0, 0.4, 0.0),
    ];
    for (profile, lambda, max_weight, min_cash) in expected {
        assert_eq!(profile.limits(), Limits { max_weight, min_cash });
        assert_eq!(profile.reward(), RewardConfig::MeanVariance { risk_aversion: lambda, eta: 0.01 });
        profile.limits().validate().unwrap();
    }
}

#[test]
fn the_bundled_questionnaire_loads() {
    let answers = Questionnaire::load(Path::new("envs/risk_questionnaire.toml")).unwrap();
    assert_eq!(answers.assess().profile, RiskProfile::Conservative);
}

#[test]
fn bad_questionnaires_are_refused_naming_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("horizon_years = 10\ntolerated_loss = 25\nincome_need = 0.04\n", "tolerated_loss"),
        ("horizon_years = 0\ntolerated_loss = 0.2\nincome_need = 0.04\n", "horizon_years"),
        ("horizon_years = 10\ntolerated_loss = 0.2\nincome_need = -0.01\n", "income_need"),
        ("horizon_years = 10\ntolerated_loss = 0.2\n", "income_need"),
        ("horizon_years = 10\ntolerated_loss = 0.2\nincome_need = 0.0\nage = 40\n", "age"),
        ("horizon_years = \"long\"\ntolerated_loss = 0.2\nincome_need = 0.0\n", "horizon_years"),
    ];
    for (i, (text, field)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("answers-{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let message = Questionnaire::load(&path).unwrap_err().to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(field), "{message} should name {field}");
    }
    let missing = Questionnaire::load(&dir.path().join("none.toml")).unwrap_err().to_string();
    assert!(missing.contains("none.toml"), "{missing}");
}

#[test]
fn configs_without_limits_load_and_hash_as_before_and_profiles_change_the_hash() {
    let default = EnvConfig::load(Path::new("envs/default.toml")).unwrap();
    assert_eq!(default.limits, Limits::NONE);
    assert_eq!(default.risk_profile, None);
    let json = serde_json::to_value(&default).unwrap();
    assert!(json.get("limits").is_none() && json.get("risk_profile").is_none(), "{json}");
    // A checkpoint's meta.json written before limits existed still loads.
    let old: EnvConfig = serde_json::from_value(json).unwrap();
    assert_eq!(old, default);
    let train = TrainConfig::default();
    let mut hashes = vec![config_hash(&default, &train)];
    for profile in RiskProfile::ALL {
        let mut env = default.clone();
        env.apply_risk_profile(profile);
        hashes.push(config_hash(&env, &train));
    }
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), 4, "every profile is its own configuration");
}

#[test]
fn config_files_take_a_profile_or_explicit_limits_but_not_both() {
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::canonicalize("envs/data/us_stocks_20_daily.csv").unwrap();
    let write = |name: &str, extra: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{extra}[data]\nfile = {:?}\n", data.display().to_string())).unwrap();
        path
    };
    let profiled = EnvConfig::load(&write("profiled.toml", "risk_profile = \"balanced\"\n")).unwrap();
    assert_eq!(profiled.limits, RiskProfile::Balanced.limits());
    assert_eq!(profiled.reward, RiskProfile::Balanced.reward());
    let limited = EnvConfig::load(&write("limited.toml", "[limits]\nmax_weight = 0.25\n")).unwrap();
    assert_eq!(limited.limits, Limits { max_weight: 0.25, min_cash: 0.0 });
    let clash = write("clash.toml", "risk_profile = \"balanced\"\n[limits]\nmax_weight = 0.25\n");
    let message = EnvConfig::load(&clash).unwrap_err().to_string();
    assert!(message.contains("clash.toml") && message.contains("[limits]"), "{message}");
    let bad = write("bad.toml", "[limits]\nmin_cash = 1.5\n");
    let message = EnvConfig::load(&bad).unwrap_err().to_string();
    assert!(message.contains("bad.toml") && message.contains("limits.min_cash"), "{message}");
}

#[test]
fn training_under_the_conservative_profile_keeps_every_evaluated_decision_within_its_limits() {
    let dir = tempfile::tempdir().unwrap();
    // Five assets: capped at 10% they hold at most 50%, exactly the conservative cash floor.
    let panel = generate(&SynthConfig {
        assets: 5,
        periods: 700,
        seed: 2,
        regimes: vec![Regime { drift: 0.1, volatility: 0.25 }],
        ..SynthConfig::default()
    })
    .unwrap();
    let file = dir.path().join("prices.csv");
    write_prices(&panel, &file).unwrap();
    let date = |row: usize| match &panel.index {
        folio::data::TimeIndex::Dates(d) => Some(Stamp::Date(d[row])),
        _ => unreachable!(),
    };
    let mut env = EnvConfig {
        data: DataConfig::new(file),
        periods: Periods {
            train: Span { from: None, to: date(449) },
            validation: Span { from: date(450), to: date(574) },
            test: Span { from: date(575), to: None },
        },
        features: FeatureConfig {
            window: 10,
            features: vec![Feature::LogReturn],
            ..FeatureConfig::default()
        },
        costs: CostConfig { buy: 0.001, sell: 0.001, ..CostConfig::default() },
        episode: EpisodeConfig { horizon: 50, rebalance_every: 1, embargo: 0, no_trade_band: 0.0 },
        reward: RewardConfig::LogReturn,
        limits: Limits::NONE,
        risk_profile: None,
    };
    env.apply_risk_profile(RiskProfile::Conservative);
    let limits = RiskProfile::Conservative.limits();
    for algo in [Algo::Direct, Algo::Ppo] {
        let out = dir.path().join(format!("{algo:?}"));
        let config = TrainConfig { steps: 3_000, seed: 1, validate_every: 10, ..TrainConfig::for_algo(algo) };
        train(TrainRequest {
            env: env.clone(),
            train: config,
            out: out.clone(),
            device: DeviceChoice::Cpu,
            resume: false,
            progress: folio::progress::silent(),
        })
        .unwrap();
        let evaluation = evaluate(EvalRequest::new(out.clone())).unwrap();
        let report = &evaluation.report;
        assert_eq!(
            report.limits, limits,
            "{algo:?}: eval applies the limits the checkpoint was trained under"
        );
        assert_eq!(report.risk_profile, Some(RiskProfile::Conservative));
        assert!(report.limits_applied.contains("conservative"), "{}", report.limits_applied);
        for log in &evaluation.logs {
            for (row, w) in log.decision_rows.iter().zip(&log.weights) {
                assert!(within(&limits, w), "{algo:?}: {} at row {row} holds {w:?}", log.policy);
            }
        }
        // Overriding the profile at evaluation changes the limits everyone trades under.
        let aggressive =
            evaluate(EvalRequest { risk_profile: Some(RiskProfile::Aggressive), ..EvalRequest::new(out) })
                .unwrap();
        assert_eq!(aggressive.report.limits, RiskProfile::Aggressive.limits());
        assert!(aggressive.report.limits_applied.contains("overriding"));
    }
}
