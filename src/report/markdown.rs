//! Reports as markdown (`summary.md`): what a reader can paste into notes or a pull request.

use std::fmt::Write;

use super::text::{min_track_record, trials_counted};
use crate::backtest::PolicyId;
use crate::eval::walk_forward::WalkForwardReport;

/// A walk-forward's `summary.md`: the setup and verdict, then the folds, the stitched results,
/// the seeds' spread, the overfitting statistics and the cost sensitivity.
pub fn walk_forward(report: &WalkForwardReport) -> String {
    let mut md = String::from("# Walk-forward evaluation\n\n");
    md.push_str(&setup(report));
    let _ = write!(md, "**Verdict.** {}\n\n", report.verdict);
    md.push_str(&folds(report));
    md.push_str(&stitched(report));
    md.push_str(&spread(report));
    if let Some(d) = &report.deflated_sharpe {
        let _ = writeln!(
            md,
            "\nDeflated Sharpe Ratio of the ensemble over {}: {:.3} ({}).",
            super::count(d.trials, "trial"),
            d.dsr,
            trials_counted(&report.dsr_trials)
        );
    }
    md.push_str(&costs(report));
    if let Some(p) = &report.backtest_overfitting {
        let _ = writeln!(md, "Probability of backtest overfitting (CSCV over the seeds): {:.3}.", p.pbo);
    }
    md
}

fn setup(report: &WalkForwardReport) -> String {
    let c = &report.config;
    // An expanding window grows from its first fold's length.
    let at_least = if c.mode == crate::eval::walk_forward::WindowMode::Expanding { "at least " } else { "" };
    format!(
        "Data `{}` (fingerprint `{}`); {} with {}, {} environment steps per training; {}, {} training windows of {}{} periods, validation {} and test {} periods, embargo {}; {} per fold; {} in the test windows.\n\n",
        report.data,
        report.data_fingerprint,
        report.train.algo.name(),
        report.train.net.kind.name(),
        report.train.steps,
        super::count(report.folds.len(), "fold"),
        c.mode.name(),
        at_least,
        c.train_periods,
        c.validation_periods,
        c.test_periods,
        c.embargo,
        super::count(c.seeds, "seed"),
        crate::backtest::rebalance::describe_schedule(
            report.rebalance,
            report.rebalance_every,
            report.no_trade_band
        )
    )
}

fn folds(report: &WalkForwardReport) -> String {
    let mut md = String::from(
        "## Folds\n\nIn-sample: the median seed. Out-of-sample: the ensemble (the average of the seeds' weights), then the median seed alone.\n\n| fold | train | validation | test | in-sample Sharpe | out-of-sample Sharpe | out-of-sample PSR | median seed's out-of-sample Sharpe | equal-weight Sharpe |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for f in &report.folds {
        let median = f.seed(report.median_seed).expect("the median seed trained in every fold");
        let _ = writeln!(
            md,
            "| {} | {} .. {} | {} .. {} | {} .. {} | {:.2} | {:.2} | {:.3} | {:.2} | {:.2} |",
            f.fold.index + 1,
            f.train.0,
            f.train.1,
            f.validation.0,
            f.validation.1,
            f.test.0,
            f.test.1,
            median.in_sample.sharpe,
            f.ensemble.sharpe,
            f.ensemble.psr,
            median.out_of_sample.sharpe,
            f.baseline_sharpe(PolicyId::EQUAL_WEIGHT)
        );
    }
    md
}

fn stitched(report: &WalkForwardReport) -> String {
    let mut md = String::from(
        "\n## Stitched out-of-sample results, after costs\n\n| policy | final wealth | CAGR | volatility | Sharpe | PSR | min TRL | Sortino | max drawdown | in-sample Sharpe |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &report.overall {
        let m = &r.metrics;
        let _ = writeln!(
            md,
            "| {} | {:.3} | {:.2}% | {:.2}% | {:.2} | {:.3} | {} | {:.2} | {:.2}% | {} |",
            r.policy,
            m.final_wealth,
            100.0 * m.cagr,
            100.0 * m.annual_volatility,
            m.sharpe,
            m.psr,
            min_track_record(m),
            m.sortino,
            100.0 * m.max_drawdown,
            r.in_sample_sharpe.map(|s| format!("{s:.2}")).unwrap_or_else(|| "-".into())
        );
    }
    md.push_str(
        "\nPSR: probability that the true Sharpe ratio is positive, given the track record's length, \
         skewness and kurtosis; min TRL: periods such a track record needs for 95% confidence \
         (Bailey and López de Prado 2012).\n",
    );
    let notes = super::text::stitched_notes(report);
    if !notes.is_empty() {
        md.push('\n');
        md.push_str(&notes);
    }
    md
}

fn spread(report: &WalkForwardReport) -> String {
    let spread = &report.seed_spread;
    let mut md = format!(
        "\n## Spread across {} (stitched out-of-sample)\n\n| metric | median | IQR | min .. max |\n|---|---|---|---|\n",
        super::count(spread.runs, "seed")
    );
    for (name, s, percent) in [
        ("Sharpe", spread.sharpe, false),
        ("CAGR", spread.cagr, true),
        ("max drawdown", spread.max_drawdown, true),
        ("final wealth", spread.final_wealth, false),
    ] {
        let cell = |v: f64| if percent { format!("{:.2}%", 100.0 * v) } else { format!("{v:.3}") };
        if let Some(s) = s {
            let _ = writeln!(
                md,
                "| {name} | {} | {} .. {} | {} .. {} |",
                cell(s.median),
                cell(s.q1),
                cell(s.q3),
                cell(s.min),
                cell(s.max)
            );
        }
    }
    md
}

fn costs(report: &WalkForwardReport) -> String {
    let sensitivity = &report.cost_sensitivity;
    let mut md = String::from("\n## Cost sensitivity (stitched out-of-sample CAGR)\n\n| policy |");
    for bp in &sensitivity.costs_bp {
        let _ = write!(md, " {bp} bp |");
    }
    let _ = writeln!(md, "\n|---|{}", "---|".repeat(sensitivity.costs_bp.len()));
    for (name, cagr) in &sensitivity.cagr {
        let _ = write!(md, "| {name} |");
        for c in cagr {
            let _ = write!(md, " {:.2}% |", 100.0 * c);
        }
        md.push('\n');
    }
    let _ = writeln!(md, "\nBreak-even: {}.", sensitivity.break_even);
    md
}

/// The learner panel ([`crate::eval::panel`]) as a Markdown table.
pub fn panel(
    rows: &[crate::eval::panel::PanelRow],
    failed: &[crate::eval::panel::PanelFailure],
    development: bool,
) -> String {
    let mut md = String::from("# Learner panel\n\n");
    if development {
        md.push_str("Development run: each market's walk-forward covers its training and validation data only; no test period was seen.\n\n");
    }
    md.push_str("| market | tested | agent Sharpe | equal-weight Sharpe | best causal baseline | its Sharpe | agent max DD | equal-weight max DD | agent turnover | break-even | DSR | PBO | beats equal weight | p of the gap (Ledoit-Wolf) | trainings that kept the reference |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        let mut cells = super::text::panel_cells(r).to_vec();
        // The break-even cost reads best beside the turnover it depends on.
        cells.insert(9, r.break_even.to_string());
        cells.push(format!("{} of {}", r.trainings_kept_reference, r.trainings));
        let _ = writeln!(md, "| {} |", cells.join(" | "));
    }
    if !failed.is_empty() {
        md.push_str("\nThese markets failed and have no row:\n\n");
        for f in failed {
            let _ = writeln!(md, "- {}: {}", f.market, f.error);
        }
    }
    md
}
