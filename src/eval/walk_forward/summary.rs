//! The phases after the trainings that turn results into conclusions: the test windows stitched
//! into out-of-sample curves, the overfitting statistics and the trials they count, the cost
//! sensitivity, and the verdict in words.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::layout::WalkForwardConfig;
use super::results::{
    Curves, DsrTrials, FoldReport, OverallRow, kept_reference_counts, untested_reference_count,
};
use super::{Plan, TaskResult, WalkForwardRequest, deployed_ensemble, range};
use crate::backtest::cost_sensitivity::{COST_GRID_BP, CostSensitivity, break_even};
use crate::backtest::rebalance::{RebalanceRule, all_under_rule};
use crate::backtest::{BacktestLog, Policy, PolicyId, backtest};
use crate::baselines;
use crate::env::Market;
use crate::env::config::EnvConfig;
use crate::eval::EvalError;
use crate::metrics::overfitting;
use crate::metrics::sharpe_difference::{
    MIN_PERIODS, NEGLIGIBLE, SharpeDifference, Standing, sharpe_difference,
};
use crate::metrics::{Metrics, MetricsConfig, MetricsSpread, compute, simple_returns};
use crate::registry::{self, Figures, Sample, TrialCommand, TrialRecord};
use crate::train::TrainConfig;
use crate::train::checkpoint;

/// Phase 4: each policy's test windows chained into one out-of-sample curve.
pub(super) struct Stitched {
    /// Each seed's agent, the ensemble, then every baseline.
    pub(super) overall: Vec<OverallRow>,
    pub(super) curves: Curves,
    /// Each seed's stitched per-period returns.
    agent_returns: Vec<Vec<f64>>,
    /// The ensemble's stitched per-period returns, and its row in `overall`.
    ensemble_returns: Vec<f64>,
    ensemble: usize,
    /// Index of the seed whose stitched Sharpe ratio is the median.
    pub(super) median: usize,
}

impl Stitched {
    pub(super) fn new(
        plan: &Plan,
        results: &[TaskResult],
        ensemble_logs: &[BacktestLog],
        baseline_logs: &[Vec<BacktestLog>],
    ) -> Self {
        let mut curves = Curves::default();
        curves.labels.push(plan.label(plan.folds[0].test.0));
        for fold in &plan.folds {
            let start = curves.labels.len() - 1;
            curves.labels.extend((fold.test.0 + 1..=fold.test.1).map(|row| plan.label(row)));
            curves.fold_spans.push((start, curves.labels.len() - 1));
        }
        let (mut overall, mut agent_returns) = (Vec::new(), Vec::new());
        for (s, &seed) in plan.seeds.iter().enumerate() {
            let logs: Vec<&BacktestLog> =
                (0..plan.folds.len()).map(|k| &results[plan.task(k, s)].test_log).collect();
            let (values, metrics) = stitch(logs, &plan.metrics);
            let in_sample =
                (0..plan.folds.len()).map(|k| results[plan.task(k, s)].seed.in_sample.sharpe).sum::<f64>()
                    / plan.folds.len() as f64;
            let id = PolicyId::Agent { seed: Some(seed) };
            overall.push(OverallRow { policy: id, metrics, in_sample_sharpe: Some(in_sample) });
            agent_returns.push(simple_returns(&values));
            curves.series.push((id, values));
        }
        let (values, metrics) = stitch(ensemble_logs.iter().collect(), &plan.metrics);
        let ensemble_returns = simple_returns(&values);
        let ensemble = overall.len();
        overall.push(OverallRow { policy: PolicyId::Ensemble, metrics, in_sample_sharpe: None });
        curves.series.push((PolicyId::Ensemble, values));
        for b in 0..baseline_logs[0].len() {
            let (values, metrics) =
                stitch(baseline_logs.iter().map(|logs| &logs[b]).collect(), &plan.metrics);
            let id = baseline_logs[0][b].policy;
            overall.push(OverallRow { policy: id, metrics, in_sample_sharpe: None });
            curves.series.push((id, values));
        }
        let sharpes: Vec<f64> = overall[..plan.seeds.len()].iter().map(|row| row.metrics.sharpe).collect();
        let median = median_seed(&sharpes);
        Self { overall, curves, agent_returns, ensemble_returns, ensemble, median }
    }

    /// Ledoit and Wolf's test of the ensemble's Sharpe ratio against equal weight's, on the
    /// stitched per-period returns of both.
    pub(super) fn edge_over_equal_weight(&self, periods_per_year: f64) -> Option<SharpeDifference> {
        let (_, equal) = self.curves.series.iter().find(|(id, _)| *id == PolicyId::EQUAL_WEIGHT)?;
        sharpe_difference(&self.ensemble_returns, &simple_returns(equal), periods_per_year)
    }

    pub(super) fn seed_spread(&self, seeds: usize) -> MetricsSpread {
        MetricsSpread::of(&self.overall[..seeds].iter().map(|r| &r.metrics).collect::<Vec<_>>())
    }
}

/// The seed of the median Sharpe ratio (the lower middle of an even count), shown beside the
/// ensemble: not the luckiest. An undefined Sharpe ratio ranks lowest (`total_cmp` alone would
/// put NaN above every number).
fn median_seed(sharpes: &[f64]) -> usize {
    let rank = |seed: usize| if sharpes[seed].is_nan() { f64::NEG_INFINITY } else { sharpes[seed] };
    let mut by_sharpe: Vec<usize> = (0..sharpes.len()).collect();
    by_sharpe.sort_by(|&a, &b| rank(a).total_cmp(&rank(b)));
    by_sharpe[(sharpes.len() - 1) / 2]
}

/// Chain backtests of consecutive windows: each starts from cash at 1, so wealth carries over by
/// scaling each window by the wealth the previous ones left.
pub(super) fn stitch(logs: Vec<&BacktestLog>, metrics_config: &MetricsConfig) -> (Vec<f64>, Metrics) {
    let mut values = vec![1.0];
    let (mut turnovers, mut costs, mut paid_fractions) = (Vec::new(), 0.0, 0.0);
    for log in logs {
        let scale = carry_on(&mut values, &log.values);
        turnovers.extend_from_slice(&log.turnovers);
        costs += scale * log.costs.iter().sum::<f64>();
        paid_fractions += log.annual_cost_drag(1.0) * (log.values.len() - 1) as f64;
    }
    let mut metrics = compute(&values, &turnovers, costs, metrics_config);
    if metrics.periods >= crate::metrics::MIN_ANNUALIZED_RETURNS {
        metrics.annual_cost_drag = paid_fractions * metrics_config.periods_per_year / metrics.periods as f64;
    }
    (values, metrics)
}

/// Append a window's wealth path, which starts at 1, to `values` at the wealth they end on;
/// returns that wealth, the window's scale.
fn carry_on(values: &mut Vec<f64>, window: &[f64]) -> f64 {
    let scale = *values.last().expect("a path starts at 1");
    values.extend(window[1..].iter().map(|v| v * scale));
    scale
}

/// What the overfitting statistics found.
pub(super) struct Statistics {
    pub(super) deflated_sharpe: Option<overfitting::DeflatedSharpe>,
    pub(super) dsr_trials: DsrTrials,
    /// Why there is no DSR, when there is none.
    pub(super) deflated_sharpe_unavailable: Option<String>,
    pub(super) backtest_overfitting: Option<overfitting::Pbo>,
    /// Why there is no PBO, when there is none.
    pub(super) backtest_overfitting_unavailable: Option<String>,
}

/// Phase 5: every seed is a trial. The Deflated Sharpe Ratio judges the headline, the seeds'
/// ensemble, against the number of trials: with a registry, every configuration and seed ever
/// tried on this data (this run's recorded first). The Probability of Backtest Overfitting
/// compares the seeds' stitched returns by CSCV.
pub(super) fn overfitting_statistics(
    plan: &Plan,
    request: &WalkForwardRequest,
    stitched: &Stitched,
) -> Statistics {
    let recorded = request.registry.as_ref().map(|path| (record_trials(plan, request, stitched, path), path));
    let (trials, recorded_before, registry, registry_error) = match recorded {
        Some((Ok((trials, before)), path)) => (trials, before, Some(path.clone()), None),
        // Hours of training are not thrown away for a registry problem: counted without it.
        Some((Err(error), _)) => (this_run_trials(plan, stitched), 0, None, Some(error.to_string())),
        None => (this_run_trials(plan, stitched), 0, None, None),
    };
    // N counts every trial; V is the spread of their Sharpe ratios on this run's periods.
    let variance = overfitting::trial_sharpe_variance(trials.trials, &trials.sharpe_per_period);
    // The headline is the ensemble, so it is what the Deflated Sharpe Ratio judges, against
    // every trial on this data: the seeds it averages were each a trial.
    let headline = overfitting::SharpeStats::from_returns(&stitched.ensemble_returns);
    let deflated_sharpe =
        variance.and_then(|v| overfitting::deflated_sharpe_ratio(&headline, trials.trials, v).ok());
    // Trials measured on other periods (a training's validation, a shorter cut's tests) count in
    // N but cannot give V: with fewer than two on this run's periods the spread is unknown.
    let deflated_sharpe_unavailable = variance.is_none().then(|| match &registry {
        Some(_) => format!(
            "the registry holds {} trials on this data, but only {} measured a Sharpe ratio on this run's \
             test periods, so the spread the DSR deflates by is unknown; run two or more seeds",
            trials.trials,
            trials.sharpe_per_period.len()
        ),
        None => format!(
            "only {} of this run's {} seeds has a Sharpe ratio (returns that vary), so the spread the DSR \
             deflates by is unknown",
            trials.sharpe_per_period.len(),
            trials.trials
        ),
    });
    let pbo = overfitting::returns_matrix(&stitched.agent_returns).and_then(|m| {
        overfitting::probability_of_backtest_overfitting(m.view(), &overfitting::PboConfig::default())
    });
    let (backtest_overfitting, backtest_overfitting_unavailable) = match pbo {
        Ok(pbo) => (Some(pbo), None),
        Err(why) => (None, Some(why.to_string())),
    };
    let dsr_trials = DsrTrials {
        registry,
        trials: trials.trials,
        on_shorter_cuts: trials.on_shorter_cuts,
        this_run: plan.seeds.len(),
        recorded_before,
        with_sharpe: trials.sharpe_per_period.len(),
        registry_error,
    };
    Statistics {
        deflated_sharpe,
        dsr_trials,
        deflated_sharpe_unavailable,
        backtest_overfitting,
        backtest_overfitting_unavailable,
    }
}

/// This run's seeds as the only trials.
fn this_run_trials(plan: &Plan, stitched: &Stitched) -> registry::DataTrials {
    let sharpes: Vec<f64> = stitched
        .agent_returns
        .iter()
        .map(|r| overfitting::sharpe_ratio(r))
        .filter(|s| s.is_finite())
        .collect();
    registry::DataTrials {
        data_fingerprint: plan.data_fingerprint.clone(),
        trials: plan.seeds.len(),
        on_shorter_cuts: 0,
        sharpe_per_period: sharpes,
    }
}

/// Append one trial per seed to the registry; every trial on this data, these included, and how
/// many of this run's the registry held already (a rerun or a resume of the same trainings).
fn record_trials(
    plan: &Plan,
    request: &WalkForwardRequest,
    stitched: &Stitched,
    path: &Path,
) -> Result<(registry::DataTrials, usize), EvalError> {
    let period = (plan.label(plan.folds[0].test.0), plan.label(plan.folds[plan.folds.len() - 1].test.1));
    let hash = config_hash(&request.env, &request.train, &request.config, request.rebalance);
    let records: Vec<TrialRecord> = plan
        .seeds
        .iter()
        .zip(&stitched.agent_returns)
        .map(|(&seed, returns)| {
            let figures = Figures::from_returns(
                Sample::OutOfSample,
                period.clone(),
                returns,
                plan.metrics.periods_per_year,
            );
            let record = TrialRecord::new(
                TrialCommand::WalkForward,
                hash.clone(),
                plan.data_fingerprint.clone(),
                &request.env,
                &TrainConfig { seed, ..request.train.clone() },
                figures,
                request.out.clone(),
            );
            record.spanning(Some(&plan.market.panel))
        })
        .collect();
    let (all, appended) = registry::append_new(path, &records)?;
    // The same trainings run again in another folder are repeats, which the DSR counts once and
    // the report names; this run resumed or merged again in its own folder is no other run.
    let earlier = &all[..all.len() - appended];
    let elsewhere = |record: &TrialRecord| earlier.iter().any(|e| e.repeats(record) && !e.same_trial(record));
    let recorded_before = records.iter().filter(|record| elsewhere(record)).count();
    let cuts = registry::shorter_cuts_of(&all, &plan.market.panel);
    let trials =
        registry::trials_on(&all, &plan.data_fingerprint, &cuts, Some((Sample::OutOfSample, &period)));
    Ok((trials, recorded_before))
}

/// How many trainings deploy their untrained reference portfolio, in words, when any do: an
/// ensemble that equals its reference is what the training chose, not a failure to run.
pub(super) fn kept_references(folds: &[FoldReport], request: &WalkForwardRequest) -> Option<String> {
    let (kept, trainings) = kept_reference_counts(folds);
    let untested = untested_reference_count(folds);
    kept_references_in_words(
        (kept, trainings, untested),
        request.env.features.reference.name(),
        request.train.reference_margin,
    )
}

/// `kept` of `trainings` kept their reference, `untested` of those because the gap could not be
/// tested (a user's short validation window, say), which is not a verdict on the training.
fn kept_references_in_words(
    (kept, trainings, untested): (usize, usize, usize),
    reference: &str,
    margin: f64,
) -> Option<String> {
    let not_beaten = format!(
        "on validation the trained network did not beat it by more than {} of the Sharpe gap, or by \
         more than {NEGLIGIBLE} a year",
        checkpoint::standard_errors(margin)
    );
    let why = match untested {
        0 => not_beaten,
        _ if untested == kept => format!("it was kept untested: {}", checkpoint::untested_gap()),
        _ => format!(
            "{not_beaten}, or ({untested} of them) it was kept untested: {}",
            checkpoint::untested_gap()
        ),
    };
    (kept > 0).then(|| {
        format!(
            "{kept} of {trainings} trainings kept their untrained network, which is the reference \
             portfolio ({reference}): {why}."
        )
    })
}

/// Phase 6: the headline in plain words: the ensemble against equal weight and whether the gap
/// is more than noise, the median seed alone, then how far the overfitting statistics let one
/// trust it.
pub(super) fn verdict(
    plan: &Plan,
    stitched: &Stitched,
    statistics: &Statistics,
    edge: Option<&SharpeDifference>,
) -> String {
    let equal = stitched
        .overall
        .iter()
        .find(|r| r.policy == PolicyId::EQUAL_WEIGHT)
        .map(|r| r.metrics.sharpe)
        .unwrap_or(f64::NAN);
    let agent = &stitched.overall[stitched.ensemble].metrics;
    let seeds = plan.seeds.len();
    let median = stitched.overall[stitched.median].metrics.sharpe;
    let deployed = match seeds {
        1 => "the agent (one seed)".to_string(),
        _ => format!("the ensemble agent (the average of {seeds} seeds' weights)"),
    };
    let ensemble = format!(
        "Out of sample, {deployed} has a Sharpe ratio of {:.2} against {:.2} for equal weight",
        agent.sharpe, equal
    );
    let folds = match plan.folds.len() {
        1 => "1 fold".to_string(),
        n => format!("{n} folds"),
    };
    // A higher Sharpe ratio is not yet an edge: the test says whether the gap is more than noise.
    let untested = format!(
        "the gap could not be tested (it needs {MIN_PERIODS} test periods and returns that vary), so it shows no edge"
    );
    let mut verdict = match (Standing::of(agent.sharpe, equal, edge), edge) {
        (Standing::Matches, Some(edge)) => {
            format!("{ensemble}: it matches equal weight over {folds}, a gap of {}.", edge.describe())
        }
        (Standing::Matches, None) => {
            format!("{ensemble}: it matches equal weight over {folds}, a gap under {NEGLIGIBLE} a year.")
        }
        (Standing::Beats, Some(edge)) => {
            format!("{ensemble}: it beats equal weight over {folds} by {}.", edge.describe())
        }
        (Standing::Ahead, Some(edge)) => format!(
            "{ensemble}: it is ahead of equal weight over {folds} by {}, so it shows no edge.",
            edge.describe()
        ),
        // Only a test can say "beats": without one, ahead is all there is.
        (Standing::Ahead | Standing::Beats, None) => {
            format!("{ensemble}: it is ahead of equal weight over {folds}, but {untested}.")
        }
        (Standing::Behind, Some(edge)) => {
            format!("{ensemble}: it does not beat equal weight; the gap is {}.", edge.describe())
        }
        (Standing::Behind, None) => format!("{ensemble}: it does not beat equal weight."),
    };
    if seeds > 1 {
        verdict.push_str(&format!(" The median seed alone: {median:.2}."));
    }
    verdict.push(' ');
    verdict.push_str(&overfitting::verdict(
        statistics.deflated_sharpe.as_ref(),
        statistics.backtest_overfitting.as_ref(),
    ));
    if let Some(why) = &statistics.deflated_sharpe_unavailable {
        verdict.push_str(&format!(" No DSR: {why}."));
    }
    if let Some(why) = &statistics.backtest_overfitting_unavailable {
        verdict.push_str(&format!(" No PBO: {why}."));
    }
    verdict
}

/// The registry's [`registry::config_hash`] of a walk-forward run: the environment, the training
/// configuration (seed left out), the fold layout (seed count left out) and the rebalancing rule
/// its test windows trade under (left out when it is the decision schedule itself, so that the
/// hashes of runs recorded before the rule counted stay as they were).
pub fn config_hash(
    env: &EnvConfig,
    train: &TrainConfig,
    walk_forward: &WalkForwardConfig,
    rebalance: RebalanceRule,
) -> String {
    let folds = WalkForwardConfig { seeds: 0, ..*walk_forward };
    let folds = serde_json::to_value(folds).expect("walk-forward config serializes");
    let mut extra = vec![("walk_forward", folds)];
    if rebalance != RebalanceRule::Every {
        extra.push(("rebalance", serde_json::Value::String(rebalance.to_string())));
    }
    registry::config_hash_with(env, train, &extra)
}

type FoldPolicies = (Arc<Market>, Vec<Box<dyn Policy>>);

/// The ensemble agent's and simple baselines' stitched out-of-sample CAGR at every grid cost:
/// each fold's checkpoints act again on their own test window, as deployed (learning online
/// there if the headline's agent did).
pub(super) fn stitched_cost_sensitivity(
    plan: &Plan,
    request: &WalkForwardRequest,
    checkpoints: &[Vec<PathBuf>],
) -> Result<CostSensitivity, EvalError> {
    let device = request.device.device()?;
    // Each fold's market (with its checkpoints' normalization) and its policies.
    let mut per_fold: Vec<FoldPolicies> = Vec::new();
    for dirs in checkpoints {
        let (fold_market, ensemble) = deployed_ensemble(plan, request, dirs, &device)?;
        let policies: Vec<Box<dyn Policy>> = vec![
            Box::new(ensemble),
            Box::new(baselines::EqualWeight),
            Box::new(baselines::BuyAndHold::default()),
        ];
        let policies = all_under_rule(policies, plan.rebalance, &fold_market)?;
        per_fold.push((fold_market, policies));
    }
    let mut cagr: Vec<(PolicyId, Vec<f64>)> = per_fold[0].1.iter().map(|p| (p.id(), Vec::new())).collect();
    for &bp in &COST_GRID_BP {
        let mut at_cost = plan.settings;
        at_cost.costs.buy = bp / 1e4;
        at_cost.costs.sell = bp / 1e4;
        for (p, (_, series)) in cagr.iter_mut().enumerate() {
            let mut values = vec![1.0];
            for (fold, (fold_market, policies)) in plan.folds.iter().zip(per_fold.iter_mut()) {
                let log = backtest(policies[p].as_mut(), fold_market, range(fold.test), at_cost)?;
                carry_on(&mut values, &log.values);
            }
            series.push(compute(&values, &[], 0.0, &plan.metrics).cagr);
        }
    }
    let edge: Vec<f64> = cagr[0].1.iter().zip(&cagr[1].1).map(|(a, e)| a - e).collect();
    Ok(CostSensitivity {
        costs_bp: COST_GRID_BP.to_vec(),
        break_even: break_even(&COST_GRID_BP, &edge),
        cagr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_references_say_when_the_gap_could_not_be_tested() {
        let words = |counts| kept_references_in_words(counts, "equal weight", 2.0);
        assert_eq!(words((0, 6, 0)), None);
        let judged = words((4, 6, 0)).unwrap();
        assert!(judged.starts_with("4 of 6 trainings") && judged.contains("by more than 2 standard errors"));
        assert!(!judged.contains("too short"), "{judged}");
        let untested = words((4, 6, 4)).unwrap();
        assert!(untested.contains("kept untested: the validation period is too short"), "{untested}");
        assert!(!untested.contains("did not beat"), "{untested}");
        let mixed = words((4, 6, 1)).unwrap();
        assert!(
            mixed.contains("did not beat") && mixed.contains("(1 of them) it was kept untested"),
            "{mixed}"
        );
    }

    #[test]
    fn the_median_seed_ranks_an_undefined_sharpe_ratio_lowest() {
        assert_eq!(median_seed(&[0.8, 0.5, 0.6]), 2);
        assert_eq!(median_seed(&[f64::NAN, 0.5, 0.8]), 1);
        assert_eq!(median_seed(&[0.3, f64::NAN, 0.8, 0.5]), 0);
    }

    #[test]
    fn the_config_hash_sees_the_folds_and_the_rule_but_not_the_seed_count() {
        let env: EnvConfig = toml::from_str("[data]\nfile = \"prices.csv\"").unwrap();
        let train = TrainConfig::default();
        let folds = WalkForwardConfig::default();
        let every = RebalanceRule::Every;
        let hash = config_hash(&env, &train, &folds, every);
        assert_ne!(hash, registry::config_hash(&env, &train));
        assert_eq!(hash, config_hash(&env, &train, &WalkForwardConfig { seeds: 9, ..folds }, every));
        assert_ne!(hash, config_hash(&env, &train, &WalkForwardConfig { folds: 2, ..folds }, every));
        // Another rule trades other portfolios: another trial, not a repeat of this one.
        let monthly = config_hash(&env, &train, &folds, "monthly".parse().unwrap());
        assert_ne!(hash, monthly);
        assert_ne!(monthly, config_hash(&env, &train, &folds, "band:0.02".parse().unwrap()));
        // Runs under the decision schedule keep the hash they had before the rule counted.
        let folds_only = serde_json::to_value(WalkForwardConfig { seeds: 0, ..folds }).unwrap();
        assert_eq!(hash, registry::config_hash_with(&env, &train, &[("walk_forward", folds_only)]));
    }
}
