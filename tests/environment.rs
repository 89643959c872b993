//! The simulated market: accounting by hand, causality, invalid actions, batching.

use std::sync::Arc;

use folio::data::synth::{SynthConfig, generate_log_returns, panel_from_log_returns};
use folio::data::{PricePanel, Stamp, TimeIndex};
use folio::env::EnvError;
use folio::env::config::{EpisodeConfig, Span};
use folio::env::{BatchEnv, CostConfig, DecisionRange, EnvSettings, Limits, Market, MarketEnv, RewardConfig};
use folio::features::{Feature, FeatureConfig, FeatureSet, Reference};
use ndarray::{Array2, s};

/// Two assets over five periods: A doubles, halves and doubles; B gains 10% twice then falls back.
fn two_asset_panel() -> PricePanel {
    let prices =
        Array2::from_shape_vec((5, 2), vec![1.0, 1.0, 1.0, 1.0, 2.0, 1.1, 1.0, 1.21, 2.0, 1.1]).unwrap();
    PricePanel::new("hand", vec!["A".into(), "B".into()], TimeIndex::Periods(5), prices)
}

fn returns_only(window: usize) -> FeatureConfig {
    FeatureConfig { window, features: vec![Feature::LogReturn], ..FeatureConfig::default() }
}

fn settings(costs: CostConfig, rebalance_every: usize) -> EnvSettings {
    EnvSettings {
        costs,
        reward: RewardConfig::LogReturn,
        episode: EpisodeConfig { horizon: 0, rebalance_every, embargo: 0, no_trade_band: 0.0 },
        limits: Limits::NONE,
    }
}

fn whole(market: &Market) -> DecisionRange {
    market.decision_range(&Span::default(), 0).unwrap()
}

const EQUAL: [f64; 3] = [0.0, 0.5, 0.5];

#[test]
fn equal_weight_without_costs_is_the_uniform_crp_by_hand() {
    let market = Arc::new(Market::new(two_asset_panel(), &returns_only(1), None, 0..5).unwrap());
    let range = whole(&market);
    assert_eq!(range, DecisionRange { first: 1, last: 4 });
    let mut env = MarketEnv::new(market, range, settings(CostConfig::free(), 1), 0).unwrap();
    env.reset();
    // Periods 2..4: (2 + 1.1) / 2 = 1.55, (0.5 + 1.1) / 2 = 0.8, (2 + 1.1 / 1.21) / 2 = 1.454545...
    let expected_growth = [1.55, 0.8, (2.0 + 1.0 / 1.1) / 2.0];
    let mut wealth = 1.0;
    for (step, growth) in expected_growth.iter().enumerate() {
        let t = env.step(&EQUAL).unwrap();
        wealth *= growth;
        assert!((t.info.value - wealth).abs() < 1e-12, "step {step}: {} vs {wealth}", t.info.value);
        assert!((t.reward - growth.ln()).abs() < 1e-12);
        assert_eq!(t.info.cost, 0.0);
        assert_eq!(t.done, step == 2);
    }
}

#[test]
fn weights_drift_with_prices_and_costs_follow_the_remainder_factor() {
    let market = Arc::new(Market::new(two_asset_panel(), &returns_only(1), None, 0..5).unwrap());
    let costs = CostConfig { buy: 0.01, sell: 0.0, ..CostConfig::default() };
    let mut env = MarketEnv::new(market, DecisionRange { first: 1, last: 4 }, settings(costs, 1), 0).unwrap();
    env.reset();
    assert_eq!(env.weights(), &[1.0, 0.0, 0.0]);
    // From all cash, buying assets worth 0.99 costs 1: mu = 0.99.
    let t = env.step(&EQUAL).unwrap();
    assert!((t.info.cost - 0.01).abs() < 1e-15);
    assert!((t.info.turnover - 1.0).abs() < 1e-15);
    assert!((t.info.gross_return - 0.55).abs() < 1e-12);
    assert!((t.info.net_return - (0.99 * 1.55 - 1.0)).abs() < 1e-12);
    // After the period A is worth 0.5 * 2 and B 0.5 * 1.1 of 1.55.
    let drifted = [0.0, 1.0 / 1.55, 0.55 / 1.55];
    for (w, d) in t.weights.iter().zip(drifted) {
        assert!((w - d).abs() < 1e-12);
    }
    // Rebalancing back: sell A for free, buy B at 1%: cash from sales equals cost of purchases:
    // (w'_A - mu/2) = (mu/2 - w'_B) / 0.99.
    let before = t.info.value;
    let t = env.step(&EQUAL).unwrap();
    let mu = (0.99 * drifted[1] + drifted[2]) / (0.99 * 0.5 + 0.5);
    assert!((t.info.cost - before * (1.0 - mu)).abs() < 1e-12, "{} vs {}", t.info.cost, before * (1.0 - mu));
    assert!((t.info.value - before * mu * 0.8).abs() < 1e-12);
}

#[test]
fn rebalancing_every_k_periods_holds_and_drifts_in_between() {
    let market = Arc::new(Market::new(two_asset_panel(), &returns_only(1), None, 0..5).unwrap());
    let mut env =
        MarketEnv::new(market, DecisionRange { first: 1, last: 4 }, settings(CostConfig::free(), 2), 0)
            .unwrap();
    env.reset();
    // Hold 50/50 over periods 2 and 3: A 2 * 0.5 = 1, B 1.1 * 1.1 = 1.21.
    let t = env.step(&EQUAL).unwrap();
    assert!((t.info.value - (0.5 * 1.0 + 0.5 * 1.21)).abs() < 1e-12);
    assert_eq!(t.info.row, 3);
    assert!(!t.done);
    // Only one period is left: the last step is shorter.
    let t = env.step(&EQUAL).unwrap();
    assert_eq!(t.info.row, 4);
    assert!(t.done);
    assert!(matches!(env.step(&EQUAL), Err(EnvError::EpisodeOver)));
}

#[test]
fn invalid_actions_are_clear_errors_and_change_nothing() {
    let market = Arc::new(Market::new(two_asset_panel(), &returns_only(1), None, 0..5).unwrap());
    let mut env =
        MarketEnv::new(market, DecisionRange { first: 1, last: 4 }, settings(CostConfig::default(), 1), 0)
            .unwrap();
    env.reset();
    let cases: [(&[f64], &str); 5] = [
        (&[0.5, 0.5], "expected 3 weights"),
        (&[0.0, f64::NAN, 1.0], "weight 1 is NaN; weights must be finite"),
        (&[0.0, f64::INFINITY, 1.0], "weight 1 is inf"),
        (&[0.5, -0.1, 0.6], "weight 1 is -0.1; weights must be non-negative"),
        (&[0.5, 0.5, 0.5], "weights sum to 1.5, not 1"),
    ];
    for (action, message) in cases {
        let error = env.step(action).unwrap_err().to_string();
        assert!(error.contains(message), "{action:?}: {error}");
        assert!(error.starts_with("invalid action"), "{error}");
    }
    assert_eq!(env.row(), 1);
    assert_eq!(env.weights(), &[1.0, 0.0, 0.0]);
    // Within tolerance is accepted, and traded as the weights it stands for, scaled to a sum of
    // one: the 1e-7 too much makes no value (without costs, A doubles and B gains 10%).
    let market = Arc::new(Market::new(two_asset_panel(), &returns_only(1), None, 0..5).unwrap());
    let mut env =
        MarketEnv::new(market, DecisionRange { first: 1, last: 4 }, settings(CostConfig::free(), 1), 0)
            .unwrap();
    env.reset();
    let step = env.step(&[0.0, 0.5, 0.5 + 1e-7]).unwrap();
    let expected = (0.5 * 2.0 + (0.5 + 1e-7) * 1.1) / (1.0 + 1e-7);
    assert!((step.info.value - expected).abs() < 1e-14, "{} vs {expected}", step.info.value);
    let sum: f64 = step.target.iter().sum();
    assert!((sum - 1.0).abs() < 1e-15, "{sum}");
}

#[test]
fn a_batch_error_in_one_lane_leaves_every_lane_untouched() {
    let market = Arc::new(Market::new(two_asset_panel(), &returns_only(1), None, 0..5).unwrap());
    let mut env =
        BatchEnv::new(market, DecisionRange { first: 1, last: 4 }, settings(CostConfig::free(), 1), 2, 0)
            .unwrap();
    env.reset();
    let error = env.step(&[0.0, 0.5, 0.5, 0.0, 0.7, 0.7]).unwrap_err().to_string();
    assert!(error.contains("episode 1: weights sum to 1.4"), "{error}");
    assert_eq!(env.rows().collect::<Vec<_>>(), [1, 1]);
    assert_eq!(env.weights(), &[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
}

/// A synthetic market whose rows after `cut` are replaced by another seed's, with its log
/// returns scaled by `risk`.
fn diverging_panels(cut: usize, risk: f64) -> (PricePanel, PricePanel) {
    let config = SynthConfig { assets: 4, periods: 400, seed: 11, ..SynthConfig::default() };
    let (returns, _) = generate_log_returns(&config);
    let (other, _) = generate_log_returns(&SynthConfig { seed: 12, ..config.clone() });
    let mut changed = returns.clone();
    // Return row r moves the price from row r to row r + 1: rows after `cut` change from here.
    changed.slice_mut(s![cut.., ..]).assign(&(&other.slice(s![cut.., ..]) * risk));
    (panel_from_log_returns(&returns, config.start, "S"), panel_from_log_returns(&changed, config.start, "S"))
}

#[test]
fn no_observation_sees_the_future() {
    let cut = 250;
    let (original, altered) = diverging_panels(cut, 1.0);
    assert_eq!(original.prices.slice(s![..=cut, ..]), altered.prices.slice(s![..=cut, ..]));
    assert_ne!(original.prices.row(cut + 1), altered.prices.row(cut + 1));

    // The inverse-volatility reference, which reads prices, rides along in every observation.
    // Every feature, risk and cross-sectional ones included, with windows short enough to leave
    // decisions before the cut.
    let features = FeatureConfig {
        reference: Reference::InverseVolatility,
        features: Feature::ALL.iter().chain(&Feature::RISK).copied().collect(),
        long_window: 40,
        rank_lookback: 60,
        window: 50,
        ..FeatureConfig::default()
    };
    // The normalizer fitted on rows up to the cut is the same; one row more and it is not.
    let fit = 0..cut + 1;
    let longer =
        |panel: &PricePanel| Market::new(panel.clone(), &features, None, 0..cut + 2).unwrap().normalizer;
    assert_ne!(longer(&original), longer(&altered));
    let a = Arc::new(Market::new(original, &features, None, fit.clone()).unwrap());
    let b = Arc::new(Market::new(altered, &features, None, fit).unwrap());
    assert_eq!(a.normalizer, b.normalizer);

    // Every decision up to and including the cut sees bit-identical observations.
    let len = a.layout().len();
    let (mut oa, mut ob) = (vec![0f32; len], vec![0f32; len]);
    let weights = [0.2, 0.2, 0.2, 0.2, 0.2];
    for t in a.first_observable()..=cut {
        a.write_observation(t, &weights, &mut oa);
        b.write_observation(t, &weights, &mut ob);
        assert!(
            oa.iter().zip(&ob).all(|(x, y)| x.to_bits() == y.to_bits()),
            "observation at row {t} differs"
        );
    }
    // The test can fail: the first decision after the cut does see the change.
    a.write_observation(cut + 1, &weights, &mut oa);
    b.write_observation(cut + 1, &weights, &mut ob);
    assert_ne!(oa, ob);

    // Through the environment: a policy that reacts to what it sees takes identical decisions
    // (and earns identical rewards) until its holding period crosses the cut.
    let settings = settings(CostConfig::default(), 1);
    let range = a.decision_range(&Span::default(), 0).unwrap();
    let mut ea = MarketEnv::new(a.clone(), range, settings, 0).unwrap();
    let mut eb = MarketEnv::new(b.clone(), range, settings, 0).unwrap();
    let (mut obs_a, mut obs_b) = (ea.reset().to_vec(), eb.reset().to_vec());
    let react = |obs: &[f32]| -> Vec<f64> {
        // Tilt towards the assets with the highest latest normalized return.
        let (window, features) = (50, 11);
        let scores: Vec<f64> = (0..4).map(|i| (obs[(i * features + 1) * window - 1] as f64).exp()).collect();
        let total: f64 = scores.iter().sum::<f64>() + 1.0;
        std::iter::once(1.0 / total).chain(scores.iter().map(|s| s / total)).collect()
    };
    loop {
        let row = ea.row();
        assert_eq!(row, eb.row());
        if row <= cut {
            assert_eq!(obs_a, obs_b, "observation at row {row}");
        }
        let (action_a, action_b) = (react(&obs_a), react(&obs_b));
        let ta = ea.step(&action_a).unwrap();
        let (ra, done) = (ta.reward, ta.done);
        obs_a = ta.observation.to_vec();
        let tb = eb.step(&action_b).unwrap();
        if row < cut {
            assert_eq!(ra.to_bits(), tb.reward.to_bits(), "reward for the decision at row {row}");
        }
        obs_b = tb.observation.to_vec();
        if done {
            break;
        }
    }
}

/// Each reference portfolio reads prices up to its decision's row only; the ones estimated from
/// prices change soon after the cut, so the test can fail.
#[test]
fn no_reference_portfolio_sees_the_future() {
    let cut = 250;
    // A far riskier future, which even the volatility-managed reference, fully invested
    // whenever the market is no riskier than usual, acts on at once.
    let (original, altered) = diverging_panels(cut, 10.0);
    let references = [
        Reference::EqualWeight,
        Reference::InverseVolatility,
        Reference::MinimumVariance,
        Reference::VolatilityManaged,
    ];
    for reference in references {
        let features = FeatureConfig { reference, long_window: 120, ..FeatureConfig::default() };
        let a = Market::new(original.clone(), &features, None, 0..200).unwrap();
        let b = Market::new(altered.clone(), &features, None, 0..200).unwrap();
        for t in 0..=cut {
            let (wa, wb) = (a.reference(t).unwrap(), b.reference(t).unwrap());
            assert!(
                wa.iter().zip(wb).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{reference:?} at row {t}: {wa:?} against {wb:?}"
            );
        }
        let estimated = reference != Reference::EqualWeight;
        assert_eq!(a.reference(cut + 1) != b.reference(cut + 1), estimated, "{reference:?} after the cut");
    }
}

/// Causality in its strictest form: every feature and every reference at row t, computed from
/// the prices of rows 0..=t alone, is bit for bit what the whole history gives at t. A feature
/// that reads even one row ahead finds no such row in the shorter history, so it differs there
/// (or panics), at every row: ranks included, whose coarse values a changed future can leave as
/// they were. The oracle probe's feature, which does read tomorrow, fails the same check.
#[test]
fn every_feature_and_reference_at_a_row_is_what_the_rows_up_to_it_give() {
    let config = SynthConfig { assets: 8, periods: 300, seed: 21, ..SynthConfig::default() };
    let (returns, _) = generate_log_returns(&config);
    let whole = panel_from_log_returns(&returns, config.start, "S");
    let up_to = |t: usize| {
        let prices = whole.prices.slice(s![..=t, ..]).to_owned();
        PricePanel::new("cut", whole.assets.clone(), TimeIndex::Periods(t + 1), prices)
    };
    let causal: Vec<Feature> = Feature::ALL.iter().chain(&Feature::RISK).copied().collect();
    let features = FeatureConfig {
        features: causal.clone(),
        long_window: 40,
        rank_lookback: 60,
        ..FeatureConfig::default()
    };
    let everything = FeatureSet::compute(&whole, &features);
    for t in 1..whole.n_periods() {
        let shorter = FeatureSet::compute(&up_to(t), &features);
        for (k, feature) in causal.iter().enumerate() {
            for asset in 0..whole.n_assets() {
                let (seen, known) = (shorter.value(asset, k, t), everything.value(asset, k, t));
                assert_eq!(seen.to_bits(), known.to_bits(), "{} of asset {asset} at row {t}", feature.name());
            }
        }
    }

    let references = [Reference::InverseVolatility, Reference::MinimumVariance, Reference::VolatilityManaged];
    for reference in references {
        let features = FeatureConfig { reference, long_window: 40, ..FeatureConfig::default() };
        let fit = 0..100;
        let full = Market::new(whole.clone(), &features, None, fit.clone()).unwrap();
        for t in (fit.end..whole.n_periods()).step_by(7) {
            let shorter = Market::new(up_to(t), &features, None, fit.clone()).unwrap();
            assert!(full.reference(t).is_some());
            assert_eq!(shorter.reference(t), full.reference(t), "{reference:?} at row {t}");
        }
    }

    let oracle = FeatureConfig { features: vec![Feature::OracleNextReturn], ..FeatureConfig::default() };
    let t = 150;
    let (seen, known) = (
        FeatureSet::compute(&up_to(t), &oracle).value(0, 0, t),
        FeatureSet::compute(&whole, &oracle).value(0, 0, t),
    );
    assert_ne!(seen, known, "the check can fail: tomorrow's return is not in the rows up to today");
}

#[test]
fn batched_lanes_match_single_episodes_bit_for_bit() {
    let config = SynthConfig { assets: 3, periods: 300, seed: 5, ..SynthConfig::default() };
    let (returns, _) = generate_log_returns(&config);
    let panel = panel_from_log_returns(&returns, config.start, "S");
    let market = Arc::new(
        Market::new(panel, &FeatureConfig { window: 10, ..FeatureConfig::default() }, None, 0..200).unwrap(),
    );
    let range = market.decision_range(&Span::default(), 0).unwrap();
    let settings = EnvSettings {
        reward: RewardConfig::DifferentialSharpe { eta: 0.05 },
        ..settings(CostConfig::default(), 1)
    };
    let mut batch = BatchEnv::new(market.clone(), range, settings, 3, 0).unwrap();
    let mut single = MarketEnv::new(market, range, settings, 0).unwrap();
    batch.reset();
    single.reset();
    let action = [0.1, 0.2, 0.3, 0.4];
    let actions: Vec<f64> = action.iter().cycle().take(12).copied().collect();
    while !batch.all_done() {
        batch.step(&actions).unwrap();
        let t = single.step(&action).unwrap();
        for lane in 0..3 {
            assert_eq!(*batch.info(lane), t.info);
            assert_eq!(batch.reward(lane).to_bits(), t.reward.to_bits());
            assert_eq!(batch.observation(lane), t.observation);
        }
    }
}

/// Moody and Saffell's differential Sharpe ratio started from zero moments is about
/// `R_2 / (sqrt(eta) |R_1|)` at an episode's second step: values in the hundreds or thousands
/// that swamp the rest of the episode. Started from the market's returns before the episode, its
/// first steps are on the scale of its later ones.
#[test]
fn the_differential_sharpe_ratio_starts_an_episode_on_its_usual_scale() {
    let config = SynthConfig { assets: 3, periods: 1500, seed: 8, ..SynthConfig::default() };
    let (returns, _) = generate_log_returns(&config);
    let panel = panel_from_log_returns(&returns, config.start, "S");
    let market = Arc::new(Market::new(panel, &returns_only(5), None, 0..1000).unwrap());
    let range = market.decision_range(&Span::default(), 0).unwrap();
    let settings = EnvSettings {
        reward: RewardConfig::DifferentialSharpe { eta: 0.01 },
        episode: EpisodeConfig { horizon: 252, ..settings(CostConfig::free(), 1).episode },
        ..settings(CostConfig::free(), 1)
    };
    let lanes = 64;
    let mut env = BatchEnv::new(market, range, settings, lanes, 3).unwrap();
    env.reset();
    let actions: Vec<f64> = [0.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0].repeat(lanes);
    let (mut early, mut late) = (Vec::new(), Vec::new());
    for step in 0..252 {
        env.step(&actions).unwrap();
        let rewards = (0..lanes).map(|lane| env.reward(lane));
        match step {
            0..5 => early.extend(rewards),
            150.. => late.extend(rewards),
            _ => {}
        }
    }
    let late_spread = (late.iter().map(|d| d * d).sum::<f64>() / late.len() as f64).sqrt();
    let early_largest = early.iter().fold(0.0_f64, |m, d| m.max(d.abs()));
    assert!(late_spread > 0.1, "{late_spread}");
    assert!(
        early_largest < 10.0 * late_spread,
        "first steps up to {early_largest}, later ones {late_spread}"
    );
}

#[test]
fn lanes_stepped_in_parallel_match_lanes_stepped_in_a_loop_bit_for_bit() {
    let config = SynthConfig { assets: 3, periods: 400, seed: 9, ..SynthConfig::default() };
    let (returns, _) = generate_log_returns(&config);
    let panel = panel_from_log_returns(&returns, config.start, "S");
    let market = Arc::new(
        Market::new(panel, &FeatureConfig { window: 40, ..FeatureConfig::default() }, None, 0..300).unwrap(),
    );
    let range = market.decision_range(&Span::default(), 0).unwrap();
    let settings = EnvSettings {
        reward: RewardConfig::DifferentialSharpe { eta: 0.05 },
        episode: EpisodeConfig { horizon: 30, rebalance_every: 2, embargo: 0, no_trade_band: 0.0 },
        ..settings(CostConfig::default(), 2)
    };
    let lanes = 2 * folio::env::PARALLEL_MIN_LANES + 3;
    let width = market.n_assets() + 1;
    assert!(
        market.layout().len() >= folio::env::PARALLEL_MIN_OBSERVATION_PER_WEIGHT * width,
        "the observation must be large enough for the batch to step in parallel"
    );
    // Every lane its own action, so that a lane stepped with another's action would show.
    let actions: Vec<f64> = (0..lanes)
        .flat_map(|lane| {
            let a = 1.0 + lane as f64;
            let total = a + 2.0 + 3.0 + 4.0;
            [a / total, 2.0 / total, 3.0 / total, 4.0 / total]
        })
        .collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut env = BatchEnv::new(market.clone(), range, settings, lanes, 4).unwrap();
            env.reset();
            let mut trace = Vec::new();
            while !env.all_done() {
                env.step(&actions).unwrap();
                trace.push((
                    env.observations().to_vec(),
                    env.rewards().map(|r| r.to_bits()).collect::<Vec<_>>(),
                    env.infos().copied().collect::<Vec<_>>(),
                    env.weights().iter().map(|w| w.to_bits()).collect::<Vec<_>>(),
                    (0..lanes).flat_map(|l| env.period_values(l).to_vec()).collect::<Vec<_>>(),
                ));
            }
            trace
        })
    };
    let looped = run(1);
    assert_eq!(looped.len(), 30);
    assert!(looped == run(2), "parallel stepping changed a lane");
}

#[test]
fn random_starts_are_seeded_and_fit_the_horizon() {
    let config = SynthConfig { assets: 2, periods: 500, ..SynthConfig::default() };
    let (returns, _) = generate_log_returns(&config);
    let market = Arc::new(
        Market::new(panel_from_log_returns(&returns, config.start, "S"), &returns_only(5), None, 0..300)
            .unwrap(),
    );
    let range = market.decision_range(&Span::default(), 10).unwrap();
    assert_eq!(range, DecisionRange { first: 5 + 10, last: 499 - 10 });
    let settings = EnvSettings {
        episode: EpisodeConfig { horizon: 40, rebalance_every: 3, embargo: 10, no_trade_band: 0.0 },
        ..settings(CostConfig::free(), 3)
    };
    let starts = |seed| {
        let mut env = BatchEnv::new(market.clone(), range, settings, 16, seed).unwrap();
        env.reset();
        env.rows().collect::<Vec<_>>()
    };
    assert_eq!(starts(1), starts(1));
    assert_ne!(starts(1), starts(2));
    let mut env = BatchEnv::new(market.clone(), range, settings, 16, 3).unwrap();
    env.reset();
    let starts = env.rows().collect::<Vec<_>>();
    let mut steps = 0;
    while !env.all_done() {
        env.step(&[0.5, 0.25, 0.25].repeat(16)).unwrap();
        steps += 1;
    }
    assert_eq!(steps, 40);
    for (start, end) in starts.iter().zip(env.rows()) {
        assert!(*start >= range.first && end <= range.last);
        assert_eq!(end - *start, 120);
    }
    // A horizon longer than the range is refused up front.
    let too_long = EnvSettings {
        episode: EpisodeConfig { horizon: 400, rebalance_every: 3, embargo: 0, no_trade_band: 0.0 },
        ..settings
    };
    let error = BatchEnv::new(market, range, too_long, 1, 0).unwrap_err().to_string();
    assert!(error.contains("([episode] horizon and rebalance_every) needs 1200 periods"), "{error}");
}

#[test]
fn spans_map_to_rows_after_warmup_and_reject_empty_ranges() {
    let prices = Array2::from_elem((30, 1), 1.0) + &Array2::from_shape_fn((30, 1), |(t, _)| t as f64);
    let panel = PricePanel::new("p", vec!["A".into()], TimeIndex::Periods(30), prices);
    let market = Market::new(panel, &returns_only(5), None, 0..30).unwrap();
    let span = Span { from: Some(Stamp::Period(10)), to: Some(Stamp::Period(20)) };
    assert_eq!(market.decision_range(&span, 0).unwrap(), DecisionRange { first: 10, last: 20 });
    let early = Span { from: Some(Stamp::Period(0)), to: Some(Stamp::Period(20)) };
    assert_eq!(market.decision_range(&early, 0).unwrap().first, 5, "decisions wait for a full window");
    let error = market.decision_range(&span, 5).unwrap_err().to_string();
    assert!(error.contains("leaves no decisions") && error.contains("[features] window"), "{error}");
}

/// The no-lookahead test fits the normalization on rows it chooses; a config's market must fit
/// it on its training period alone, so that validation and test prices reach no observation
/// through the normalization's mean and deviation.
#[test]
fn a_configs_normalization_is_fitted_on_its_training_period_alone() {
    let cut = 250;
    let (original, altered) = diverging_panels(cut, 3.0);
    let dir = tempfile::tempdir().unwrap();
    let TimeIndex::Dates(dates) = &original.index else { panic!("synthetic markets are dated") };
    let market_of = |panel: &PricePanel, name: &str, train_end: usize| {
        let file = dir.path().join(name);
        folio::data::write_prices(panel, &file).unwrap();
        let mut config: folio::env::config::EnvConfig =
            toml::from_str(&format!("[data]\nfile = {:?}\n", file.to_str().unwrap())).unwrap();
        config.periods.train = Span { from: None, to: Some(Stamp::Date(dates[train_end])) };
        config.features = FeatureConfig { window: 10, ..FeatureConfig::default() };
        Market::from_config(&config).unwrap().0
    };
    let (a, b) = (market_of(&original, "a.csv", cut), market_of(&altered, "b.csv", cut));
    assert_eq!(a.normalizer, b.normalizer, "prices after training moved the normalization");
    // A training period that reaches the changed rows is fitted on them.
    let (a, b) = (market_of(&original, "a.csv", cut + 50), market_of(&altered, "b.csv", cut + 50));
    assert_ne!(a.normalizer, b.normalizer);
}

#[test]
fn a_config_cannot_ask_for_the_oracle_feature() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leaky.toml");
    std::fs::write(
        &path,
        "[data]\nfile = \"x.csv\"\n[features]\nfeatures = [\"log_return\", \"oracle_next_return\"]\n",
    )
    .unwrap();
    let error = folio::env::config::EnvConfig::load(&path).unwrap_err().to_string();
    assert!(error.contains("oracle_next_return sees tomorrow's return"), "{error}");
}
