//! Stress tests: each synthetic shock on a hand-built panel, and the runner's figures for equal
//! weight against hand computations, in-sample labels and skipped scenarios.

use std::sync::Arc;

use chrono::NaiveDate;
use ndarray::{Array2, array};

use folio::backtest::{MarketView, Policy, PolicyId};
use folio::baselines::EqualWeight;
use folio::data::{PricePanel, TimeIndex};
use folio::env::config::{EpisodeConfig, Span};
use folio::env::{CostConfig, EnvSettings, Limits, Market, RewardConfig};
use folio::eval::stress::{Scenario, Shock, ShockSizes, StressSetup, run, scenarios, select_scenarios};
use folio::features::FeatureConfig;

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// Consecutive calendar days from `start`, one per row of `prices`.
fn panel(start: &str, prices: Array2<f64>) -> PricePanel {
    let first = day(start);
    let index = TimeIndex::Dates((0..prices.nrows()).map(|t| first + chrono::Days::new(t as u64)).collect());
    let assets = (0..prices.ncols()).map(|i| format!("A{i}")).collect();
    PricePanel::new("hand", assets, index, prices)
}

/// Three assets over ten periods with uneven moves.
fn three_assets() -> PricePanel {
    panel(
        "2021-01-01",
        array![
            [100.0, 50.0, 20.0],
            [101.0, 49.0, 20.5],
            [99.0, 51.0, 21.0],
            [102.0, 50.5, 20.0],
            [104.0, 52.0, 19.5],
            [103.0, 53.0, 20.2],
            [106.0, 51.5, 20.8],
            [105.0, 54.0, 21.5],
            [107.0, 55.0, 21.0],
            [108.0, 54.5, 22.0],
        ],
    )
}

fn relative(panel: &PricePanel, t: usize, i: usize) -> f64 {
    panel.prices[[t, i]] / panel.prices[[t - 1, i]]
}

fn assert_rows_before_identical(original: &PricePanel, shocked: &PricePanel, row: usize) {
    for t in 0..row {
        for i in 0..original.n_assets() {
            assert_eq!(
                original.prices[[t, i]].to_bits(),
                shocked.prices[[t, i]].to_bits(),
                "row {t}, asset {i} changed before the shock"
            );
        }
    }
}

fn assert_relatives_kept(original: &PricePanel, shocked: &PricePanel, from: usize) {
    for t in from..original.n_periods() {
        for i in 0..original.n_assets() {
            let (o, s) = (relative(original, t, i), relative(shocked, t, i));
            assert!((o - s).abs() < 1e-12, "row {t}, asset {i}: relative {s} instead of {o}");
        }
    }
}

#[test]
fn crash_changes_only_the_shock_day_and_after() {
    let original = three_assets();
    let kept = original.prices.clone();
    let shocked = Shock::Crash { fall: 0.2 }.apply(&original, 4).unwrap();
    assert_eq!(original.prices, kept, "the original panel is left intact");
    assert_rows_before_identical(&original, &shocked, 4);
    for i in 0..3 {
        assert!((relative(&shocked, 4, i) - 0.8).abs() < 1e-12, "asset {i} falls 20% on the shock day");
    }
    assert_relatives_kept(&original, &shocked, 5);
    // Asset 0 stood at 102 before the crash: 81.6 on the day, then the original moves.
    assert!((shocked.prices[[4, 0]] - 81.6).abs() < 1e-12);
    assert!((shocked.prices[[9, 0]] - 81.6 * 108.0 / 104.0).abs() < 1e-9);
}

#[test]
fn flash_crash_rejoins_the_original_path_on_the_stated_day() {
    let original = three_assets();
    let shocked = Shock::FlashCrash { fall: 0.1, recovery_periods: 3 }.apply(&original, 4).unwrap();
    assert_rows_before_identical(&original, &shocked, 4);
    for i in 0..3 {
        assert!((relative(&shocked, 4, i) - 0.9).abs() < 1e-12, "asset {i} falls 10% on the shock day");
        // Three periods later (row 7) and after, the prices are the original ones, bit for bit.
        for t in 7..10 {
            assert_eq!(shocked.prices[[t, i]].to_bits(), original.prices[[t, i]].to_bits(), "row {t}");
        }
        // In between, the gap to the original path closes geometrically: m, m^(2/3), m^(1/3), 1.
        let gap = original.prices[[3, i]] * 0.9 / original.prices[[4, i]];
        for (t, power) in [(5, 2.0 / 3.0), (6, 1.0 / 3.0)] {
            let expected = original.prices[[t, i]] * gap.powf(power);
            assert!((shocked.prices[[t, i]] - expected).abs() < 1e-9, "row {t}, asset {i}");
        }
    }
}

#[test]
fn correlation_one_gives_every_asset_the_same_return_at_the_average_volatility() {
    let original = three_assets();
    let (row, periods) = (3, 4);
    let shocked = Shock::CorrelationOne { periods }.apply(&original, row).unwrap();
    assert_rows_before_identical(&original, &shocked, row);
    let returns = |p: &PricePanel, t: usize, i: usize| relative(p, t, i) - 1.0;
    let window: Vec<usize> = (row..row + periods).collect();
    for &t in &window {
        for i in 1..3 {
            assert!((returns(&shocked, t, i) - returns(&shocked, t, 0)).abs() < 1e-12, "row {t}");
        }
    }
    // Reference: mean of the cross-sectional means is kept; the volatility is the mean of the
    // assets' sample volatilities.
    let std = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
    };
    let market: Vec<f64> =
        window.iter().map(|&t| (0..3).map(|i| returns(&original, t, i)).sum::<f64>() / 3.0).collect();
    let common: Vec<f64> = window.iter().map(|&t| returns(&shocked, t, 0)).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!((mean(&common) - mean(&market)).abs() < 1e-12);
    let average_volatility = (0..3)
        .map(|i| std(&window.iter().map(|&t| returns(&original, t, i)).collect::<Vec<_>>()))
        .sum::<f64>()
        / 3.0;
    assert!((std(&common) - average_volatility).abs() < 1e-12);
    assert_relatives_kept(&original, &shocked, row + periods);
}

#[test]
fn tripled_volatility_triples_the_deviations_from_the_mean() {
    let original = three_assets();
    let (row, periods) = (2, 5);
    let shocked = Shock::Volatility { factor: 3.0, periods }.apply(&original, row).unwrap();
    assert_rows_before_identical(&original, &shocked, row);
    for i in 0..3 {
        let before: Vec<f64> = (row..row + periods).map(|t| relative(&original, t, i) - 1.0).collect();
        let after: Vec<f64> = (row..row + periods).map(|t| relative(&shocked, t, i) - 1.0).collect();
        let mean = before.iter().sum::<f64>() / periods as f64;
        for (b, a) in before.iter().zip(&after) {
            assert!((a - mean - 3.0 * (b - mean)).abs() < 1e-12, "asset {i}: {a} from {b}");
        }
    }
    assert_relatives_kept(&original, &shocked, row + periods);
}

#[test]
fn shocks_refuse_windows_outside_the_data_and_impossible_returns() {
    let original = three_assets();
    assert!(Shock::Crash { fall: 0.2 }.apply(&original, 0).is_err(), "no price before row 0");
    assert!(Shock::CorrelationOne { periods: 5 }.apply(&original, 6).is_err(), "runs past the end");
    assert!(Shock::Crash { fall: 1.0 }.apply(&original, 3).is_err(), "a 100% fall leaves no price");
    let error = Shock::Volatility { factor: 100.0, periods: 4 }.apply(&original, 2).unwrap_err();
    assert!(error.to_string().contains("leaves no price"), "{error}");
}

fn settings() -> EnvSettings {
    EnvSettings {
        costs: CostConfig::default(),
        reward: RewardConfig::default(),
        episode: EpisodeConfig { horizon: 0, rebalance_every: 1, embargo: 0, no_trade_band: 0.0 },
        limits: Limits::NONE,
    }
}

fn setup(panel: PricePanel, seen: Vec<(String, Span)>, shock_date: Option<&str>) -> StressSetup {
    StressSetup {
        market: Arc::new(Market::new(panel, &FeatureConfig::none(), None, 0..0).unwrap()),
        settings: settings(),
        seen,
        held_out: Span::default(),
        shock_date: shock_date.map(|d| d.parse().unwrap()),
    }
}

fn scenario(name: &str) -> Scenario {
    select_scenarios(&[name.to_string()], &ShockSizes::default()).unwrap().remove(0)
}

/// Equal weight over two assets: A rises 10% on day 4 (equal weight sells some of it at that
/// close), both fall 20% on day 5 (the crash), both rise 30% on day 8 and halve on day 10, in
/// the tail, where the fall is not the scenario's.
#[test]
fn equal_weight_through_a_crash_matches_a_hand_computation() {
    let a = [100.0, 100.0, 100.0, 100.0, 110.0, 110.0, 110.0, 110.0, 143.0, 143.0, 71.5, 71.5];
    let b = [100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 130.0, 130.0, 65.0, 65.0];
    let prices = Array2::from_shape_fn((12, 2), |(t, i)| if i == 0 { a[t] } else { b[t] });
    let stress = run(
        &setup(panel("2021-03-01", prices), vec![], Some("2021-03-06")),
        &[scenario("crash")],
        &mut [Box::new(EqualWeight) as Box<dyn Policy>],
    )
    .unwrap();
    let report = &stress.report.scenarios[0];
    assert_eq!(report.skipped, None);
    assert_eq!(report.from.as_deref(), Some("2021-03-05"), "measured from the close before the shock");
    assert_eq!(report.to.as_deref(), Some("2021-03-06"));
    assert_eq!(report.in_sample, None);
    let ew = &report.results[0];
    // At the close of day 4 the drifted weights are (0.55, 0.5) / 1.05; going back to 1/2 sells
    // A only. Jiang et al.'s eq. (14) with c_s = c_p = c and no cash, k = 2c - c^2:
    // mu = 1 - k (w'_A - mu / 2), so mu = (1 - k w'_A) / (1 - k / 2).
    let c = 0.0025;
    let k = 2.0 * c - c * c;
    let mu = (1.0 - k * 0.55 / 1.05) / (1.0 - k / 2.0);
    assert!(
        (ew.scenario_return - (0.8 * mu - 1.0)).abs() < 1e-12,
        "{} vs {}",
        ew.scenario_return,
        0.8 * mu - 1.0
    );
    assert!((ew.max_drawdown - (1.0 - 0.8 * mu)).abs() < 1e-12, "20% plus the costs of that close");
    assert_eq!(ew.trough, "2021-03-06");
    // Day 8: 0.8 mu 1.3 > 1, three periods after the trough.
    assert_eq!(ew.recovery_periods, Some(3));
    assert_eq!(ew.recovered_on.as_deref(), Some("2021-03-09"));
    assert!((ew.return_to_end - (0.8 * mu * 1.3 * 0.5 - 1.0)).abs() < 1e-12);
    // The wealth curve starts at the scenario's start, at 1.
    let curves = &stress.curves[0];
    assert_eq!(curves.labels.first().map(String::as_str), Some("2021-03-05"));
    assert_eq!(curves.series[0].1[0], 1.0);
    assert!((curves.series[0].1[1] - 0.8 * mu).abs() < 1e-12);
}

/// A shock date of the wrong kind says so, where it said the date was outside the held-out
/// period.
#[test]
fn a_shock_date_of_the_other_kind_than_the_data_is_named_so() {
    let prices = Array2::from_elem((12, 2), 100.0);
    let error = run(
        &setup(panel("2021-03-01", prices), vec![], Some("5")),
        &[scenario("crash")],
        &mut [Box::new(EqualWeight) as Box<dyn Policy>],
    )
    .err()
    .unwrap()
    .to_string();
    assert!(error.contains("--shock-date: period 5 is a period number, but the data is dated"), "{error}");
}

/// Calendar days 2007-01-01 .. 2010-04-15, two slowly rising assets.
fn crisis_panel() -> PricePanel {
    let prices =
        Array2::from_shape_fn((1201, 2), |(t, i)| 100.0 * (1.0 + 0.0002 * (i + 1) as f64 * t as f64));
    panel("2007-01-01", prices)
}

#[test]
fn a_historical_crisis_inside_training_is_labelled_in_sample() {
    let training = |from: &str, to: &str| {
        vec![(
            "training".to_string(),
            Span { from: Some(from.parse().unwrap()), to: Some(to.parse().unwrap()) },
        )]
    };
    let mut policies = [Box::new(EqualWeight) as Box<dyn Policy>];
    let inside = run(
        &setup(crisis_panel(), training("2007-01-01", "2008-12-31"), None),
        &[scenario("financial-crisis")],
        &mut policies,
    )
    .unwrap();
    let report = &inside.report.scenarios[0];
    assert_eq!(report.skipped, None);
    assert_eq!(report.from.as_deref(), Some("2007-10-09"));
    assert_eq!(report.to.as_deref(), Some("2009-03-09"));
    assert_eq!(report.tail_to.as_deref(), Some("2010-04-15"), "the tail is cut where the data ends");
    assert_eq!(report.run_from.as_deref(), Some("2007-09-18"), "21 periods of lead-in");
    let seen = report.in_sample.as_ref().expect("in-sample");
    assert_eq!(
        (seen.period.as_str(), seen.from.as_str(), seen.to.as_str()),
        ("training", "2007-01-01", "2008-12-31")
    );
    // Its bars in the stress chart say so too, under the scenario's name.
    let (categories, groups) = folio::report::outputs::stress_drawdowns(&inside);
    assert_eq!(categories, ["financial-crisis (in-sample)"]);
    assert_eq!(groups, [("equal weight".to_string(), vec![100.0 * report.results[0].max_drawdown])]);

    let before = run(
        &setup(crisis_panel(), training("2007-01-01", "2007-06-30"), None),
        &[scenario("financial-crisis")],
        &mut policies,
    )
    .unwrap();
    assert_eq!(before.report.scenarios[0].in_sample, None, "training ended before the lead-in");
    assert_eq!(folio::report::outputs::stress_drawdowns(&before).0, ["financial-crisis"]);
}

#[test]
fn scenarios_outside_the_data_are_skipped_with_a_reason() {
    let mut policies = [Box::new(EqualWeight) as Box<dyn Policy>];
    let stress =
        run(&setup(crisis_panel(), vec![], None), &scenarios(&ShockSizes::default()), &mut policies).unwrap();
    let by_name = |name: &str| stress.report.scenarios.iter().find(|s| s.scenario.name == name).unwrap();
    for name in ["dotcom", "covid"] {
        let reason = by_name(name).skipped.as_deref().expect("skipped");
        assert!(reason.contains("2007-01-01 .. 2010-04-15"), "{name}: {reason}");
        assert!(by_name(name).results.is_empty());
    }
    assert!(by_name("financial-crisis").skipped.is_none());
    assert!(by_name("crash").skipped.is_none());
    assert_eq!(stress.curves.len(), 5, "one set of curves per scenario that ran");

    // A shock window that runs past the held-out period is skipped; a shock date outside it is an error.
    let late = run(
        &setup(crisis_panel(), vec![], Some("2010-04-10")),
        &[scenario("crash"), scenario("volatility")],
        &mut policies,
    )
    .unwrap();
    assert!(late.report.scenarios[0].skipped.is_none());
    let reason = late.report.scenarios[1].skipped.as_deref().expect("skipped");
    assert!(reason.contains("past the held-out period's end"), "{reason}");
    let error = run(&setup(crisis_panel(), vec![], Some("2012-01-01")), &[scenario("crash")], &mut policies)
        .err()
        .expect("a shock date after the data is an error")
        .to_string();
    assert!(error.contains("2012-01-01"), "{error}");

    // Undated data has no historical windows.
    let undated = PricePanel::new(
        "olps",
        vec!["A".into(), "B".into()],
        TimeIndex::Periods(1201),
        crisis_panel().prices,
    );
    let stress = run(&setup(undated, vec![], None), &[scenario("covid")], &mut policies).unwrap();
    assert!(stress.report.scenarios[0].skipped.as_deref().unwrap().contains("undated"));
    assert!(
        select_scenarios(&["moon-landing".into()], &ShockSizes::default())
            .unwrap_err()
            .to_string()
            .contains("dotcom")
    );
}

/// Equal weight standing in for a trained seed.
struct Seed(u64);

impl Policy for Seed {
    fn id(&self) -> PolicyId {
        PolicyId::Agent { seed: Some(self.0) }
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        EqualWeight.decide(view, out);
    }
}

/// Equal weight tilted a thousandth towards the first asset, as an agent.
struct NearlyEqual;

impl Policy for NearlyEqual {
    fn id(&self) -> PolicyId {
        PolicyId::Agent { seed: None }
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        EqualWeight.decide(view, out);
        out[1] += 1e-3;
        out[2] -= 1e-3;
    }
}

#[test]
fn several_agents_get_a_median_and_a_verdict_against_equal_weight() {
    let mut policies: Vec<Box<dyn Policy>> =
        vec![Box::new(Seed(0)), Box::new(Seed(1)), Box::new(EqualWeight)];
    let stress = run(&setup(crisis_panel(), vec![], None), &[scenario("crash")], &mut policies).unwrap();
    let report = &stress.report.scenarios[0];
    let spread = report.agent_spread.as_ref().expect("two agents");
    assert_eq!(spread.agents, 2);
    let ew = &report.results[2];
    assert_eq!(spread.max_drawdown.unwrap().median, ew.max_drawdown);
    assert!(ew.max_drawdown > 0.2, "a 20% crash plus costs: {}", ew.max_drawdown);
    let verdict = report.verdict.as_deref().unwrap();
    assert!(verdict.starts_with("The seeds' median did about as well as equal weight"), "{verdict}");
    assert!(verdict.contains("with about the same maximum drawdown"), "{verdict}");

    // Equal weight tilted a thousandth away from it: not "worse", not "deeper".
    let mut policies: Vec<Box<dyn Policy>> = vec![Box::new(NearlyEqual), Box::new(EqualWeight)];
    let stress = run(&setup(crisis_panel(), vec![], None), &[scenario("crash")], &mut policies).unwrap();
    let verdict = stress.report.scenarios[0].verdict.clone().unwrap();
    assert!(verdict.contains("did about as well as") && verdict.contains("about the same"), "{verdict}");

    // With their ensemble beside them, the ensemble is the agent that the verdict speaks for, and
    // the spread stays the seeds'.
    let mut policies: Vec<Box<dyn Policy>> =
        vec![Box::new(Seed(0)), Box::new(Seed(1)), Box::new(AllInCash), Box::new(EqualWeight)];
    let stress = run(&setup(crisis_panel(), vec![], None), &[scenario("crash")], &mut policies).unwrap();
    let report = &stress.report.scenarios[0];
    assert_eq!(report.agent_spread.as_ref().expect("two seeds").agents, 2);
    let ensemble = report.results.iter().find(|r| r.policy == PolicyId::Ensemble).unwrap();
    let ew = report.results.iter().find(|r| r.policy == PolicyId::EQUAL_WEIGHT).unwrap();
    assert!((ensemble.scenario_return - ew.scenario_return).abs() > 0.01, "the stand-in differs");
    let verdict = report.verdict.as_deref().unwrap();
    let figures = format!("({:+.1}% against", 100.0 * ensemble.scenario_return);
    assert!(verdict.starts_with("The ensemble ") && verdict.contains(&figures), "{verdict}");
}

/// All in cash, standing in for an ensemble that differs from its seeds.
struct AllInCash;

impl Policy for AllInCash {
    fn id(&self) -> PolicyId {
        PolicyId::Ensemble
    }

    fn decide(&mut self, _view: &MarketView<'_>, out: &mut [f64]) {
        out.fill(0.0);
        out[0] = 1.0;
    }
}
