//! Reports as plain-text tables for a terminal: the CLI prints what these return.

use std::fmt::Write;

use crate::backtest::PolicyId;
use crate::backtest::cost_sensitivity::CostSensitivity;
use crate::eval::evaluate::RebalancingReport;
use crate::eval::walk_forward::{DsrTrials, WalkForwardReport};
use crate::metrics::{Metrics, MetricsSpread, Spread};
use crate::train::TrainOutcome;

/// One row per policy. PSR is the probabilistic Sharpe ratio against zero and min TRL the
/// periods a track record with this Sharpe ratio, skewness and kurtosis needs for 95% confidence
/// in a positive Sharpe ratio (Bailey and López de Prado 2012); compare it with the periods shown.
/// Turnover is the mean per decision of `sum |w - w'|` over the assets (the header says so:
/// tables of rebalancing rules show it per year).
pub fn metrics_table(rows: &[(String, &Metrics)]) -> String {
    // As wide as the longest label (a risk profile's run names its agent at length), so that
    // every figure stands under its header.
    let name = rows.iter().map(|(label, _)| label.chars().count()).max().unwrap_or(0).max(24);
    let mut out = format!(
        "{:<name$} {:>10} {:>8} {:>8} {:>8} {:>6} {:>8} {:>8} {:>9} {:>10} {:>9}\n",
        "policy",
        "wealth",
        "CAGR",
        "vol",
        "Sharpe",
        "PSR",
        "Sortino",
        "max DD",
        "turn/dec",
        "costs/yr",
        "min TRL"
    );
    for (label, m) in rows {
        let _ = writeln!(
            out,
            "{:<name$} {:>10} {:>8} {:>8} {:>8} {:>6} {:>8} {:>8} {:>9} {:>10} {:>9}",
            label,
            figure(m.final_wealth, 4, ""),
            figure(100.0 * m.cagr, 2, "%"),
            figure(100.0 * m.annual_volatility, 2, "%"),
            figure(m.sharpe, 3, ""),
            figure(m.psr, 3, ""),
            figure(m.sortino, 3, ""),
            figure(100.0 * m.max_drawdown, 2, "%"),
            figure(m.mean_turnover, 4, ""),
            figure(100.0 * m.annual_cost_drag, 3, "%"),
            min_track_record(m)
        );
    }
    out
}

/// A figure with `decimals` decimals and its unit, "-" where it is undefined (too few periods
/// for a ratio), "∞" where it is unbounded: "NaN%" and "inf" read as broken output.
fn figure(value: f64, decimals: usize, unit: &str) -> String {
    match value {
        v if v.is_finite() => format!("{v:.decimals$}{unit}"),
        // A Sortino ratio with no losing period, a Calmar ratio with no drawdown: unbounded,
        // which is not the same as undefined.
        f64::INFINITY => "∞".into(),
        f64::NEG_INFINITY => "-∞".into(),
        _ => "-".into(),
    }
}

/// What `folio train` did: each run, then the agents beside equal weight on the validation
/// period (and their spread across seeds).
pub fn training(outcomes: &[TrainOutcome], spread: &MetricsSpread) -> String {
    let mut out = String::new();
    for outcome in outcomes {
        let _ = writeln!(
            out,
            "{}: {}; {} updates, {} environment steps in {:.1} s ({:.0} steps/s); best validation at update {}",
            outcome.checkpoint.display(),
            outcome.stopped,
            outcome.updates,
            outcome.env_steps,
            outcome.seconds,
            outcome.env_steps_per_second,
            outcome.best_update.map(|u| u.to_string()).unwrap_or("-".into())
        );
    }
    let first = &outcomes[0];
    let _ = writeln!(
        out,
        "\nvalidation period {} .. {} (never trained on; each run keeps its best validation, which \
         flatters it: judge the agents on the test period with folio eval), after costs:",
        first.validation_range.0, first.validation_range.1
    );
    let mut rows: Vec<(String, &Metrics)> = outcomes
        .iter()
        .map(|o| {
            let folder = o.checkpoint.file_name().unwrap_or_default().to_string_lossy();
            (format!("agent {folder}"), &o.validation.agent)
        })
        .collect();
    rows.push((PolicyId::EQUAL_WEIGHT.to_string(), &first.validation.equal_weight));
    out.push_str(&metrics_table(&rows));
    for o in outcomes {
        if let Some(test) = &o.validation.reference_test {
            let folder = o.checkpoint.file_name().unwrap_or_default().to_string_lossy();
            let _ = writeln!(out, "agent {folder}: {}", test.describe());
        }
    }
    if outcomes.len() > 1 {
        out.push('\n');
        out.push_str(&spread_table(spread));
    }
    let equal = first.validation.equal_weight.sharpe;
    let median = spread.sharpe.map(|s| s.median).unwrap_or(f64::NAN);
    let kept = outcomes.iter().filter(|o| o.validation.kept_reference()).count();
    let untested = outcomes.iter().filter(|o| o.validation.kept_reference_untested()).count();
    if kept == outcomes.len() && untested > 0 {
        let _ = writeln!(
            out,
            "\nNo run's training beat its untrained reference portfolio on validation, or (in {untested} of \
             them) the gap could not be tested, so each deploys that reference."
        );
    } else if kept == outcomes.len() {
        let _ = writeln!(
            out,
            "\nNo run beat its untrained reference portfolio on validation, so each deploys that reference."
        );
    } else if !(median > equal) {
        let _ = writeln!(
            out,
            "\nThe agents' median validation Sharpe ({median:.3}) does not beat equal weight ({equal:.3})."
        );
    }
    out
}

/// The minimum track record length in whole periods, `-` when no length is enough.
pub fn min_track_record(m: &Metrics) -> String {
    m.min_track_record.map(|n| format!("{:.0}", n.ceil())).unwrap_or_else(|| "-".into())
}

/// Median, interquartile range and range of the headline metrics across runs.
pub fn spread_table(spread: &MetricsSpread) -> String {
    let mut out = format!(
        "{:<18} {:>9}   {:^21}   {:^21}\n",
        format!("across {} runs", spread.runs),
        "median",
        "IQR",
        "min .. max"
    );
    let mut row = |name: &str, s: Option<Spread>, percent: bool| {
        let cell = |v: f64| if percent { format!("{:.2}%", 100.0 * v) } else { format!("{v:.3}") };
        let _ = match s {
            Some(s) => writeln!(
                out,
                "{name:<18} {:>9}   {:>9} .. {:<9}   {:>9} .. {:<9}",
                cell(s.median),
                cell(s.q1),
                cell(s.q3),
                cell(s.min),
                cell(s.max)
            ),
            None => writeln!(out, "{name:<18} undefined"),
        };
    };
    row("Sharpe", spread.sharpe, false);
    row("Sortino", spread.sortino, false);
    row("CAGR", spread.cagr, true);
    row("max drawdown", spread.max_drawdown, true);
    row("final wealth", spread.final_wealth, false);
    row("turnover", spread.mean_turnover, false);
    out
}

/// Every policy's CAGR at every cost of the grid, then the break-even cost.
pub fn cost_table(sensitivity: &CostSensitivity) -> String {
    let mut out = format!("{:<24}", "policy");
    for bp in &sensitivity.costs_bp {
        let _ = write!(out, " {:>8}", format!("{bp} bp"));
    }
    out.push('\n');
    for (id, cagr) in &sensitivity.cagr {
        let _ = write!(out, "{:<24}", id.to_string());
        for c in cagr {
            let _ = write!(out, " {:>8}", figure(100.0 * c, 2, "%"));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "break-even: {}", sensitivity.break_even);
    out
}

/// One row per policy and rule, a blank line between policies.
pub fn rebalancing_table(report: &RebalancingReport) -> String {
    let mut out = format!(
        "{:<24} {:<10} {:>11} {:>12} {:>10} {:>9} {:>8} {:>8} {:>8}\n",
        "policy", "rule", "trades", "turnover/yr", "costs", "costs/yr", "CAGR", "Sharpe", "max DD"
    );
    let mut previous = None;
    for r in &report.results {
        if previous.is_some_and(|p| p != r.policy) {
            out.push('\n');
        }
        previous = Some(r.policy);
        let _ = writeln!(
            out,
            "{:<24} {:<10} {:>11} {:>12.3} {:>10.4} {:>8.3}% {:>7.2}% {:>8.3} {:>7.2}%",
            r.policy.to_string(),
            r.rule.to_string(),
            format!("{}/{}", r.trades, r.decisions),
            r.annual_turnover,
            r.total_costs,
            100.0 * r.annual_cost_drag,
            100.0 * r.cagr,
            r.sharpe,
            100.0 * r.max_drawdown
        );
    }
    out
}

/// What the stitched rows of some baselines are, since every fold's test window starts afresh:
/// buy and hold buys in again at each fold's start, and a hindsight baseline picks again from
/// each window's own future.
pub(crate) fn stitched_notes(report: &WalkForwardReport) -> String {
    if report.folds.len() < 2 {
        return String::new();
    }
    let mut notes = Vec::new();
    if report.overall.iter().any(|r| r.policy == PolicyId::Baseline(crate::backtest::BaselineId::BuyAndHold))
    {
        notes.push("buy and hold: bought in again at each fold's start, as every policy starts each test window in cash".to_string());
    }
    let hindsight: Vec<String> =
        report.overall.iter().filter(|r| r.policy.uses_hindsight()).map(|r| r.policy.to_string()).collect();
    if !hindsight.is_empty() {
        notes.push(format!(
            "{}: picked again in each fold from that fold's own test window, so the stitched figures compound one hindsight pick per fold; a bound, not a strategy",
            hindsight.join(", ")
        ));
    }
    notes.iter().map(|note| format!("({note})\n")).collect()
}

/// A walk-forward on the terminal: the folds, the stitched results, the seeds' spread, cost
/// sensitivity, the verdict and any collapse warnings.
pub fn walk_forward(report: &WalkForwardReport) -> String {
    let mut out = walk_forward_folds(report);
    out.push_str("\nstitched out-of-sample, after costs:\n");
    let rows: Vec<(String, &Metrics)> =
        report.overall.iter().map(|r| (r.policy.to_string(), &r.metrics)).collect();
    out.push_str(&metrics_table(&rows));
    out.push_str(&stitched_notes(report));
    if report.seed_spread.runs > 1 {
        out.push_str("\nagents' stitched out-of-sample figures across seeds:\n");
        out.push_str(&spread_table(&report.seed_spread));
    }
    let sensitivity = &report.cost_sensitivity;
    out.push_str("\nstitched CAGR by cost rate:\n");
    for (name, cagr) in &sensitivity.cagr {
        let cells: Vec<String> = sensitivity
            .costs_bp
            .iter()
            .zip(cagr)
            .map(|(bp, c)| format!("{bp} bp {:.2}%", 100.0 * c))
            .collect();
        let _ = writeln!(out, "  {:<14} {}", name.to_string(), cells.join("  "));
    }
    let _ = writeln!(out, "break-even: {}", sensitivity.break_even);
    let _ = writeln!(out, "\n{}", report.verdict);
    for f in &report.folds {
        for s in &f.seeds {
            for w in &s.warnings {
                let _ = writeln!(out, "warning: fold {} seed {}: {}", f.fold.index + 1, s.seed, w.message);
            }
        }
    }
    match (&report.deflated_sharpe, &report.dsr_trials.registry) {
        (Some(_), _) => {
            let _ =
                writeln!(out, "The Deflated Sharpe Ratio counted {}.", trials_counted(&report.dsr_trials));
        }
        (None, Some(_)) => {
            let _ = writeln!(out, "Trials: {}.", trials_counted(&report.dsr_trials));
        }
        (None, None) => {}
    }
    out
}

fn walk_forward_folds(report: &WalkForwardReport) -> String {
    let mut out = format!(
        "{} ({} training windows), {} each, {}:\n",
        super::count(report.folds.len(), "fold"),
        report.config.mode.name(),
        super::count(report.config.seeds, "seed"),
        crate::backtest::rebalance::describe_schedule(
            report.rebalance,
            report.rebalance_every,
            report.no_trade_band
        )
    );
    let _ = writeln!(
        out,
        "{:<6} {:>23} {:>23} {:>23} {:>10} {:>10} {:>8} {:>12} {:>10}",
        "fold",
        "train",
        "validation",
        "test",
        "IS Sharpe",
        "OOS Sharpe",
        "OOS PSR",
        "median seed",
        "EW Sharpe"
    );
    let _ = writeln!(
        out,
        "(in-sample: the median seed; out-of-sample: the ensemble, then the median seed alone)"
    );
    for f in &report.folds {
        let median = f.seed(report.median_seed).expect("the median seed trained in every fold");
        let _ = writeln!(
            out,
            "{:<6} {:>23} {:>23} {:>23} {:>10.2} {:>10.2} {:>8.3} {:>12.2} {:>10.2}",
            // Counted from 1, as the pictures and the HTML page count them.
            f.fold.index + 1,
            format!("{}..{}", f.train.0, f.train.1),
            format!("{}..{}", f.validation.0, f.validation.1),
            format!("{}..{}", f.test.0, f.test.1),
            median.in_sample.sharpe,
            f.ensemble.sharpe,
            f.ensemble.psr,
            median.out_of_sample.sharpe,
            f.baseline_sharpe(PolicyId::EQUAL_WEIGHT)
        );
    }
    out
}

/// Where the Deflated Sharpe Ratio's trials came from, in words.
pub fn trials_counted(t: &DsrTrials) -> String {
    match &t.registry {
        Some(path) => {
            let earlier = t.trials.saturating_sub(t.this_run);
            let cuts = match t.on_shorter_cuts {
                0 => String::new(),
                n => format!(" ({n} of them on shorter cuts of this history)"),
            };
            let repeated = match t.recorded_before {
                0 => String::new(),
                n => format!(" ({n} of them recorded before, by the same trainings run into another folder)"),
            };
            format!(
                "every trial on this data in the registry `{}`: {earlier} earlier{cuts}, {} from this run{repeated}",
                path.display(),
                t.this_run
            )
        }
        None => match &t.registry_error {
            Some(problem) => format!(
                "this run's {} only: the registry could not be used ({problem})",
                super::count(t.this_run, "seed")
            ),
            None => format!("this run's {} only; no registry", super::count(t.this_run, "seed")),
        },
    }
}

/// A panel row's cells, formatted once for the terminal table and the Markdown one: market,
/// tested span, agent and equal-weight Sharpe, best causal baseline and its Sharpe, drawdowns,
/// turnover, DSR, PBO, whether the agent beats equal weight and the p-value of that gap.
pub fn panel_cells(r: &crate::eval::panel::PanelRow) -> [String; 13] {
    let optional = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    [
        r.market.clone(),
        format!("{} .. {}", r.tested.0, r.tested.1),
        format!("{:.2}", r.agent_sharpe),
        format!("{:.2}", r.equal_weight_sharpe),
        r.best_baseline.to_string().trim().to_string(),
        format!("{:.2}", r.best_baseline_sharpe),
        format!("{:.1}%", 100.0 * r.agent_max_drawdown),
        format!("{:.1}%", 100.0 * r.equal_weight_max_drawdown),
        format!("{:.4}", r.agent_turnover),
        optional(r.dsr),
        optional(r.pbo),
        if r.beats_equal_weight { "yes" } else { "no" }.to_string(),
        optional(r.edge_p_value),
    ]
}

/// The learner panel ([`crate::eval::panel`]) as a terminal table.
pub fn panel(rows: &[crate::eval::panel::PanelRow], failed: &[crate::eval::panel::PanelFailure]) -> String {
    let header = [
        "market",
        "tested",
        "agent",
        "EW",
        "best causal baseline",
        "Sharpe",
        "DD",
        "EW DD",
        "turnover",
        "DSR",
        "PBO",
        "beats EW",
        "p",
    ];
    let line = |c: &[&str]| {
        format!(
            "{:<18} {:>25} {:>6} {:>6} {:<20} {:>6} {:>7} {:>7} {:>8} {:>5} {:>5}  {:<8} {:>4}\n",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12]
        )
    };
    let mut out = line(&header);
    for r in rows {
        let cells = panel_cells(r);
        out.push_str(&line(&cells.iter().map(String::as_str).collect::<Vec<_>>()));
    }
    out.push_str("(agent: the ensemble of each fold's seeds; Sharpe ratios of the stitched out-of-sample curves, after costs;\n p: two-sided p-value of the agent's Sharpe ratio minus equal weight's, Ledoit-Wolf HAC test: below 0.05, more than noise;\n -: no test, or a gap under 0.005 a year, too small to matter)\n");
    for r in rows {
        let _ = writeln!(out, "{}: {}", r.market, r.break_even);
        if r.trainings_kept_reference > 0 {
            let _ = writeln!(
                out,
                "{}: {} of {} trainings deploy their untrained reference portfolio (training did not beat it on validation, or the gap could not be tested)",
                r.market, r.trainings_kept_reference, r.trainings
            );
        }
    }
    for f in failed {
        let _ = writeln!(out, "{}: failed, no row: {}", f.market, f.error);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A period too short for a ratio prints "-" where the ratio would be, and the columns stay
    /// aligned with the header.
    #[test]
    fn undefined_figures_print_as_a_dash() {
        let metrics = crate::metrics::compute(&[1.0, 1.01], &[0.0], 0.0, &Default::default());
        assert!(metrics.sharpe.is_nan(), "one period has no spread: {}", metrics.sharpe);
        let table = metrics_table(&[("equal weight".into(), &metrics)]);
        let (header, row) = table.split_once('\n').unwrap();
        assert!(!row.contains("NaN") && !row.contains("inf"), "{row}");
        assert!(row.contains(" - "), "{row}");
        assert_eq!(
            row.trim_end().chars().count(),
            header.chars().count(),
            "the row is as wide as the header:\n{table}"
        );
    }

    /// A label longer than the usual column widens it for every row, header included.
    #[test]
    fn a_long_label_keeps_the_columns_under_their_headers() {
        let metrics = crate::metrics::compute(&[1.0, 1.01, 1.02], &[0.0; 2], 0.0, &Default::default());
        let long = "agent default-conservative-direct-eiie-s0".to_string();
        let table = metrics_table(&[("equal weight".into(), &metrics), (long, &metrics)]);
        let lines: Vec<&str> = table.lines().collect();
        let end_of_wealth = |line: &str| line.find("1.0200").map(|i| i + "1.0200".len());
        let header_end = lines[0].find("wealth").unwrap() + "wealth".len();
        assert_eq!(end_of_wealth(lines[1]), Some(header_end), "{table}");
        assert_eq!(end_of_wealth(lines[2]), Some(header_end), "{table}");
    }

    /// A Sortino ratio with no losing period is unbounded, not undefined.
    #[test]
    fn an_unbounded_figure_prints_as_infinity() {
        let metrics = crate::metrics::compute(&[1.0, 1.01, 1.015, 1.03], &[0.0; 3], 0.0, &Default::default());
        assert_eq!(metrics.sortino, f64::INFINITY);
        let table = metrics_table(&[("rising".into(), &metrics)]);
        let (header, row) = table.split_once('\n').unwrap();
        assert!(row.contains(" ∞ ") && !row.contains("inf"), "{row}");
        assert_eq!(row.trim_end().chars().count(), header.chars().count(), "{table}");
    }
}
