//! Rebalancing rules at evaluation, checked on a two-asset market small enough to follow by hand.

use chrono::NaiveDate;
use ndarray::Array2;
use std::path::PathBuf;
use std::sync::Arc;

use folio::backtest::rebalance::{RebalanceRule, agent_decisions, backtest_rebalanced, compare_rules};
use folio::backtest::{BacktestLog, BaselineId, MarketView, Policy, PolicyId, backtest};
use folio::baselines::{self, EqualWeight};
use folio::data::synth::{SynthConfig, generate};
use folio::data::{PricePanel, TimeIndex, write_prices};
use folio::env::config::{EpisodeConfig, Span};
use folio::env::{CostConfig, DecisionRange, EnvSettings, Limits, Market, RewardConfig};
use folio::eval::evaluate::{BaselineRequest, backtest_baselines, compare_baseline_rebalancing};
use folio::features::FeatureConfig;
use folio::metrics::MetricsConfig;

/// Asset A never moves; asset B goes 1.0, 1.1, 1.2, 1.3, 1.3, 1.0, 1.05, 1.0, 0.9. Decisions at
/// rows 0..=7; the dates cross months and quarters.
const B_PRICES: [f64; 9] = [1.0, 1.1, 1.2, 1.3, 1.3, 1.0, 1.05, 1.0, 0.9];
const DATES: [&str; 9] = [
    "2021-01-28", // Q1, January: first decision
    "2021-01-29",
    "2021-02-01", // February
    "2021-02-26",
    "2021-03-01", // March
    "2021-03-31",
    "2021-04-01", // April, Q2
    "2021-07-01", // July, Q3
    "2021-07-02",
];

fn hand_market(dated: bool) -> (Arc<Market>, DecisionRange) {
    let mut prices = Array2::zeros((B_PRICES.len(), 2));
    for (t, &b) in B_PRICES.iter().enumerate() {
        prices[[t, 0]] = 1.0;
        prices[[t, 1]] = b;
    }
    let index = if dated {
        TimeIndex::Dates(DATES.iter().map(|d| d.parse::<NaiveDate>().unwrap()).collect())
    } else {
        TimeIndex::Periods(B_PRICES.len())
    };
    let panel = PricePanel::new("hand.csv", vec!["A".into(), "B".into()], index, prices);
    let market = Arc::new(Market::new(panel, &FeatureConfig::none(), None, 0..0).unwrap());
    let range = market.decision_range(&Span::default(), 0).unwrap();
    assert_eq!((range.first, range.last), (0, 8));
    (market, range)
}

fn settings(cost: f64) -> EnvSettings {
    EnvSettings {
        costs: CostConfig { buy: cost, sell: cost, ..CostConfig::default() },
        reward: RewardConfig::LogReturn,
        episode: EpisodeConfig { horizon: 0, rebalance_every: 1, embargo: 0, no_trade_band: 0.0 },
        limits: Limits::NONE,
    }
}

/// Rows at which the portfolio traded.
fn trade_rows(log: &BacktestLog) -> Vec<usize> {
    log.decision_rows.iter().zip(&log.turnovers).filter(|(_, t)| **t > 0.0).map(|(r, _)| *r).collect()
}

fn run(rule: &str, market: &Arc<Market>, range: DecisionRange, cost: f64) -> BacktestLog {
    backtest_rebalanced(&mut EqualWeight, rule.parse().unwrap(), market, range, settings(cost)).unwrap()
}

/// Holding days cost nothing and turn nothing over; the logged weights are the drifted ones.
fn assert_holds_exactly(log: &BacktestLog, traded: &[usize]) {
    for (i, &row) in log.decision_rows.iter().enumerate() {
        if !traded.contains(&row) {
            assert_eq!(log.turnovers[i], 0.0, "row {row}");
            assert_eq!(log.costs[i], 0.0, "row {row}");
        }
    }
}

#[test]
fn equal_weight_in_a_band_trades_exactly_when_the_drift_exceeds_it() {
    let (market, range) = hand_market(true);
    // By hand, B's weight after drift from 1/2 with A flat is b / (a + b):
    // row 1: 0.55/1.05 = 0.5238 (drift 0.024), row 2: 0.6/1.1 = 0.5455 (0.045), row 3:
    // 0.65/1.15 = 0.5652 (0.065 > 0.05: trade); row 4: B flat, drift 0; row 5: B falls 1.3 -> 1.0,
    // (1/1.3) / (1 + 1/1.3) = 1/2.3 = 0.4348 (0.065: trade); row 6: 1.05/2.05 = 0.5122 (0.012);
    // row 7: back to 0.5. The first decision leaves cash, a drift of 1.
    let log = run("band:0.05", &market, range, 0.0025);
    assert_eq!(trade_rows(&log), [0, 3, 5]);
    assert_holds_exactly(&log, &[0, 3, 5]);
    let w = &log.weights[1];
    assert!((w[2] - 0.55 / 1.05).abs() < 1e-12, "{w:?}");

    // Wealth without costs: 1.15 at row 3, times (1/2 + 1/2 * 1.0/1.3) to row 5, times
    // (1/2 + 1/2 * 0.9) through B's 1.0 -> 1.05 -> 1.0 -> 0.9 while holding.
    let free = run("band:0.05", &market, range, 0.0);
    let by_hand = 1.15 * (0.5 + 0.5 / 1.3) * (0.5 + 0.5 * 0.9);
    assert!((free.values.last().unwrap() - by_hand).abs() < 1e-12, "{:?}", free.values);

    // Wider than any drift here: only the first decision trades, which is buy and hold.
    assert_eq!(trade_rows(&run("band:0.08", &market, range, 0.0025)), [0]);
    // At 0.03 row 2 (0.045) trades too; then row 3 drifts 1.3/1.2 from 1/2: 0.52, and row 4 none.
    let log = run("band:0.03", &market, range, 0.0025);
    assert_eq!(trade_rows(&log), [0, 2, 5]);
}

#[test]
fn calendar_rules_trade_at_the_first_decision_of_each_month_or_quarter() {
    let (market, range) = hand_market(true);
    let monthly = run("monthly", &market, range, 0.0025);
    assert_eq!(trade_rows(&monthly), [0, 2, 4, 6, 7]);
    assert_holds_exactly(&monthly, &[0, 2, 4, 6, 7]);
    let quarterly = run("quarterly", &market, range, 0.0025);
    assert_eq!(trade_rows(&quarterly), [0, 6, 7]);
    assert_holds_exactly(&quarterly, &[0, 6, 7]);
}

/// Limits bind where the portfolio trades: B's rise carries it past a cap of one half on the
/// days between rebalancing dates, and the portfolio holds it there, as without the cap.
#[test]
fn a_rule_s_holds_trade_nothing_under_allocation_limits() {
    let (market, range) = hand_market(true);
    let capped = EnvSettings { limits: Limits { max_weight: 0.5, min_cash: 0.0 }, ..settings(0.0025) };
    let monthly =
        backtest_rebalanced(&mut EqualWeight, RebalanceRule::Monthly, &market, range, capped).unwrap();
    assert_eq!(trade_rows(&monthly), [0, 2, 4, 6, 7]);
    assert_holds_exactly(&monthly, &[0, 2, 4, 6, 7]);
    assert!(monthly.weights[1][2] > 0.5, "row 1 holds B past its cap: {:?}", monthly.weights[1]);
    // Equal weight within the cap is what it is without one: the same path, bit for bit.
    let free = run("monthly", &market, range, 0.0025);
    assert_eq!(monthly.values, free.values);
}

/// Records the rows it is asked at, and asks for equal weight.
#[derive(Default)]
struct Recorder {
    asked: Vec<usize>,
}

impl Policy for Recorder {
    fn id(&self) -> PolicyId {
        PolicyId::Agent { seed: Some(7) }
    }

    fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
        self.asked.push(view.row);
        EqualWeight.decide(view, out);
    }
}

#[test]
fn the_policy_is_asked_at_every_decision_even_when_the_rule_holds() {
    let (market, range) = hand_market(true);
    let mut recorder = Recorder::default();
    let log =
        backtest_rebalanced(&mut recorder, RebalanceRule::Quarterly, &market, range, settings(0.0)).unwrap();
    assert_eq!(recorder.asked, (0..8).collect::<Vec<_>>());
    assert_eq!(log.policy, PolicyId::Agent { seed: Some(7) }, "the rule keeps the policy's identity");
}

fn synthetic_market(seed: u64) -> (Arc<Market>, DecisionRange) {
    let panel = generate(&SynthConfig { assets: 4, periods: 600, seed, ..SynthConfig::default() }).unwrap();
    assert!(panel.index.is_dated());
    let market = Arc::new(Market::new(panel, &FeatureConfig::none(), None, 0..0).unwrap());
    let range = market.decision_range(&Span::default(), 0).unwrap();
    (market, range)
}

#[test]
fn a_band_of_zero_is_every_decision_bit_for_bit() {
    let (market, range) = synthetic_market(11);
    for name in ["equal-weight", "olmar", "ons", "min-variance", "buy-and-hold"] {
        let mut policy = baselines::baseline(name.parse().unwrap(), &market, range, 1).unwrap();
        let every = backtest(policy.as_mut(), &market, range, settings(0.0025)).unwrap();
        let band =
            backtest_rebalanced(policy.as_mut(), "band:0".parse().unwrap(), &market, range, settings(0.0025))
                .unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&every.values), bits(&band.values), "{name}");
        assert_eq!(bits(&every.turnovers), bits(&band.turnovers), "{name}");
        assert_eq!(bits(&every.costs), bits(&band.costs), "{name}");
        assert_eq!(every.weights, band.weights, "{name}");
    }
}

/// `[episode] no_trade_band` is the evaluation's `band:X` rule built into the environment, so
/// that training sees it too: the same path, bit for bit, and it does hold some decisions.
#[test]
fn the_environment_s_no_trade_band_is_the_band_rule() {
    let (market, range) = synthetic_market(11);
    let band = 0.03;
    let banded = EnvSettings {
        episode: EpisodeConfig { no_trade_band: band, ..settings(0.0025).episode },
        ..settings(0.0025)
    };
    // Under limits too: both measure the drift from the target the limits leave, which 20% in
    // cash and a 30% cap keep far from any fully invested policy's own.
    let limited = Limits { max_weight: 0.3, min_cash: 0.2 };
    for (name, limits) in [
        ("equal-weight", Limits::NONE),
        ("olmar", Limits::NONE),
        ("min-variance", Limits::NONE),
        ("equal-weight", limited),
        ("olmar", limited),
    ] {
        let mut policy = baselines::baseline(name.parse().unwrap(), &market, range, 1).unwrap();
        let by_rule = backtest_rebalanced(
            policy.as_mut(),
            RebalanceRule::Band { threshold: band },
            &market,
            range,
            EnvSettings { limits, ..settings(0.0025) },
        )
        .unwrap();
        let by_environment =
            backtest(policy.as_mut(), &market, range, EnvSettings { limits, ..banded }).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&by_rule.values), bits(&by_environment.values), "{name} {limits:?}");
        assert_eq!(bits(&by_rule.turnovers), bits(&by_environment.turnovers), "{name} {limits:?}");
        assert_eq!(by_rule.weights, by_environment.weights, "{name} {limits:?}");
        let held = by_environment.turnovers.iter().filter(|&&t| t == 0.0).count();
        let decisions = by_environment.turnovers.len();
        assert!(held > 0 && held < decisions, "{name} {limits:?}: {held} of {decisions} decisions held");
    }
}

#[test]
fn monthly_never_turns_over_or_pays_more_than_every_decision_for_a_constant_mix() {
    let (market, range) = hand_market(true);
    let (every, monthly) = (run("every", &market, range, 0.0025), run("monthly", &market, range, 0.0025));
    let total = |v: &[f64]| v.iter().sum::<f64>();
    assert!(total(&monthly.turnovers) < total(&every.turnovers));
    assert!(total(&monthly.costs) < total(&every.costs));
    let metrics = MetricsConfig::default();
    for seed in [1, 2, 3] {
        let (market, range) = synthetic_market(seed);
        let mut policies = vec![baselines::baseline(BaselineId::EqualWeight, &market, range, 1).unwrap()];
        let rules = ["every", "monthly", "quarterly"].map(|r| r.parse().unwrap());
        let results =
            compare_rules(&mut policies, &rules, &market, range, settings(0.0025), &metrics).unwrap();
        let (every, monthly, quarterly) = (&results[0], &results[1], &results[2]);
        assert_eq!((every.rule, monthly.rule), (RebalanceRule::Every, RebalanceRule::Monthly));
        assert_eq!(every.trades, every.decisions, "seed {seed}: a moving market drifts every day");
        assert!(monthly.trades < every.trades / 15, "seed {seed}: {} trades", monthly.trades);
        assert!(monthly.annual_turnover < every.annual_turnover, "seed {seed}");
        assert!(monthly.total_costs < every.total_costs, "seed {seed}");
        assert!(monthly.annual_cost_drag < every.annual_cost_drag, "seed {seed}");
        assert!(quarterly.trades < monthly.trades, "seed {seed}");
    }
}

#[test]
fn calendar_rules_on_undated_data_are_an_error_and_bands_work() {
    let (market, range) = hand_market(false);
    for rule in [RebalanceRule::Monthly, RebalanceRule::Quarterly] {
        let error = backtest_rebalanced(&mut EqualWeight, rule, &market, range, settings(0.0)).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("needs dates") && message.contains("hand.csv"), "{message}");
    }
    let band = run("band:0.05", &market, range, 0.0025);
    assert_eq!(trade_rows(&band), [0, 3, 5], "bands need no calendar");

    let request = |rebalance| BaselineRequest {
        data: PathBuf::from("envs/data/olps/djia.csv"),
        missing: Default::default(),
        assets: vec![],
        strategies: vec![BaselineId::EqualWeight],
        from: None,
        to: None,
        settings: settings(0.0),
        periods_per_year: 252.0,
        rebalance,
        features: Default::default(),
    };
    let message = backtest_baselines(request(RebalanceRule::Monthly)).unwrap_err().to_string();
    assert!(
        message.contains("monthly") && message.contains("djia.csv") && message.contains("undated"),
        "{message}"
    );
    let rules = [RebalanceRule::Every, RebalanceRule::Quarterly];
    let message =
        compare_baseline_rebalancing(request(RebalanceRule::Every), &rules).unwrap_err().to_string();
    assert!(message.contains("quarterly"), "{message}");
}

#[test]
fn bad_rule_strings_say_what_is_wrong() {
    for (text, expected) in [
        ("weekly", "unknown rebalancing rule 'weekly'"),
        ("band", "needs a threshold"),
        ("band:", "is not a number"),
        ("band:abc", "'abc' is not a number"),
        ("band:-0.1", "must be in [0, 1)"),
        ("band:1", "must be in [0, 1)"),
        ("band:NaN", "must be in [0, 1)"),
        ("", "unknown rebalancing rule"),
    ] {
        let error = text.parse::<RebalanceRule>().unwrap_err().to_string();
        assert!(error.contains(expected), "{text}: {error}");
        assert!(
            error.contains("band:X") || error.contains("[0, 1)"),
            "{text}: the error says what is valid: {error}"
        );
    }
}

#[test]
fn a_comparison_covers_every_strategy_under_every_rule() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prices.csv");
    write_prices(
        &generate(&SynthConfig { assets: 3, periods: 300, seed: 4, ..SynthConfig::default() }).unwrap(),
        &file,
    )
    .unwrap();
    let rules: Vec<RebalanceRule> =
        ["every", "monthly", "band:0.05"].iter().map(|r| r.parse().unwrap()).collect();
    let report = compare_baseline_rebalancing(
        BaselineRequest {
            data: file,
            missing: Default::default(),
            assets: vec![],
            strategies: vec![BaselineId::EqualWeight, BaselineId::BuyAndHold],
            from: None,
            to: None,
            settings: settings(0.0025),
            periods_per_year: 252.0,
            rebalance: RebalanceRule::Every,
            features: Default::default(),
        },
        &rules,
    )
    .unwrap();
    let cells: Vec<(String, String)> =
        report.results.iter().map(|r| (r.policy.to_string(), r.rule.to_string())).collect();
    assert_eq!(
        cells,
        [
            ("equal weight", "every"),
            ("equal weight", "monthly"),
            ("equal weight", "band:0.05"),
            ("buy and hold", "every"),
            ("buy and hold", "monthly"),
            ("buy and hold", "band:0.05"),
        ]
        .map(|(p, r)| (p.to_string(), r.to_string()))
    );
    // Buy and hold asks for its drifted weights after the first decision: no rule changes it.
    let hold = &report.results[3..];
    assert!(hold.iter().all(|r| r.trades == 1 && r.final_wealth == hold[0].final_wealth), "{hold:?}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["rules"][2], "band:0.05");
    assert_eq!(json["results"][1]["rule"], "monthly");
}

#[test]
fn collapse_detectors_read_the_agent_s_own_decisions_not_what_the_rule_let_it_trade() {
    let (market, range) = synthetic_market(3);
    assert!(
        agent_decisions(&mut EqualWeight, RebalanceRule::Every, &market, range, settings(0.0))
            .unwrap()
            .is_none()
    );
    let own = agent_decisions(&mut EqualWeight, "quarterly".parse().unwrap(), &market, range, settings(0.0))
        .unwrap()
        .expect("a rule that holds needs the agent's own decisions");
    let every = run("every", &market, range, 0.0);
    let quarterly = run("quarterly", &market, range, 0.0);
    assert_eq!(own.turnovers, every.turnovers);
    assert!(trade_rows(&quarterly).len() < trade_rows(&own).len() / 10);
}

/// The cost grid plays back the targets of baselines that say costs cannot change them: it must
/// give the same bits as deciding again at every cost, and the claim itself must hold.
#[test]
fn the_cost_grid_replays_only_targets_that_costs_cannot_change() {
    use folio::backtest::cost_sensitivity::{COST_GRID_BP, cost_sensitivity};
    use folio::progress::silent;

    /// The same policy, without the claim: decided afresh at every cost.
    struct Afresh(Box<dyn Policy>);
    impl Policy for Afresh {
        fn id(&self) -> PolicyId {
            self.0.id()
        }
        fn reset(&mut self) {
            self.0.reset()
        }
        fn decide(&mut self, view: &MarketView<'_>, out: &mut [f64]) {
            self.0.decide(view, out)
        }
    }

    let panel =
        generate(&SynthConfig { assets: 8, periods: 360, seed: 5, ..SynthConfig::default() }).unwrap();
    let market = Arc::new(Market::new(panel, &FeatureConfig::none(), None, 0..0).unwrap());
    let range = DecisionRange { first: 40, last: 359 };
    let metrics = MetricsConfig { periods_per_year: 252.0, risk_free: 0.0 };
    let task = silent().start("", "", 0, 0);
    let mut replayed = baselines::all(&market, range, 1).unwrap();
    assert!(replayed.iter().filter(|p| p.targets_ignore_costs()).count() >= 4, "Markowitz, OLPS and more");
    for policy in replayed.iter_mut().filter(|p| p.targets_ignore_costs()) {
        // Claimed: the same targets (here the traded weights, with no limits) at any cost.
        let free = backtest(policy.as_mut(), &market, range, settings(0.0)).unwrap();
        let dear = backtest(policy.as_mut(), &market, range, settings(0.005)).unwrap();
        assert_eq!(free.weights, dear.weights, "{}", policy.id());
    }
    let mut afresh: Vec<Box<dyn Policy>> = baselines::all(&market, range, 1)
        .unwrap()
        .into_iter()
        .map(|p| Box::new(Afresh(p)) as Box<dyn Policy>)
        .collect();
    let grid = |policies: &mut [Box<dyn Policy>]| {
        cost_sensitivity(policies, &market, range, settings(0.0025), &COST_GRID_BP, &metrics, task.as_ref())
            .unwrap()
            .cagr
    };
    let (replayed, afresh) = (grid(&mut replayed), grid(&mut afresh));
    assert_eq!(replayed.len(), BaselineId::ALL.len());
    for ((id, ours), (_, theirs)) in replayed.iter().zip(&afresh) {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(ours), bits(theirs), "{id}");
    }
}
