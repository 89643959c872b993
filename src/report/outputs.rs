//! What each evaluation leaves in its output folder: the JSON report, CSVs and pictures,
//! every file written atomically.

use std::path::Path;

use super::{
    ReportError, markdown, pictured, plot, write_equity_csv, write_json, write_series_csv, write_text,
};
use crate::backtest::cost_sensitivity::CostSensitivity;
use crate::backtest::rebalance::RuleResult;
use crate::backtest::{BacktestLog, BaselineId, PolicyId};
use crate::eval::evaluate::{Evaluation, RebalancingReport};
use crate::eval::explain::ExplainReport;
use crate::eval::stress::{ScenarioReport, StressRun};
use crate::eval::walk_forward::WalkForwardReport;

/// `folio eval`'s outputs: `report.json`, `equity.csv`, `weights.csv`, `equity.png`,
/// `drawdown.png`, `weights.png` and `cost_sensitivity.png`.
pub fn write_evaluation(out: &Path, evaluation: &Evaluation) -> Result<(), ReportError> {
    let report = &evaluation.report;
    let logs: Vec<&BacktestLog> = evaluation.logs.iter().collect();
    let agent = evaluation.agent_log();
    write_json(&out.join(crate::report::REPORT), report)?;
    write_equity_csv(&out.join(crate::report::EQUITY), &evaluation.labels, &logs)?;
    super::write_weights_csv(
        &out.join(crate::report::WEIGHTS),
        &evaluation.decision_labels,
        &evaluation.meta.assets,
        agent,
    )?;
    let drawn = super::pictured_among(evaluation.logs.iter().map(|l| l.policy));
    let series: Vec<plot::Series> = evaluation
        .logs
        .iter()
        .filter(|l| drawn(l.policy))
        .map(|l| plot::Series {
            name: l.policy.to_string(),
            values: l.values.clone(),
            emphasis: l.policy.is_agent(),
        })
        .collect();
    let title = pictured_period(&report.from, &report.to, report.in_sample());
    let size = plot::PlotSize::default();
    plot::equity(
        &out.join("equity.png"),
        &format!("Wealth, {title}"),
        &evaluation.labels,
        &series,
        false,
        size,
    )?;
    plot::drawdown(
        &out.join("drawdown.png"),
        &format!("Drawdown, {title}"),
        &evaluation.labels,
        &series,
        size,
    )?;
    let mut names = vec!["cash".to_string()];
    names.extend(evaluation.meta.assets.iter().cloned());
    let weights_title = format!("Agent weights, {title}");
    plot::weights(
        &out.join("weights.png"),
        &weights_title,
        &evaluation.decision_labels,
        &names,
        &agent.weights,
        8,
        size,
    )?;
    let shown =
        [BaselineId::EqualWeight, BaselineId::BuyAndHold, BaselineId::MinVariance].map(PolicyId::Baseline);
    cost_bars(
        &out.join("cost_sensitivity.png"),
        &format!("CAGR against trading costs, {title}"),
        &report.cost_sensitivity,
        |id| id.is_agent() || shown.contains(&id),
    )
}

/// The period an evaluation's pictures name in their titles, marked in-sample where its figures
/// are ([`in_sample_marked`]).
fn pictured_period(from: &str, to: &str, in_sample: bool) -> String {
    in_sample_marked(format!("{from} .. {to}"), in_sample)
}

/// `text` (a picture's title, a bar's category) with "(in-sample)" after it where its figures
/// are in-sample, as the verdict says, so that no picture passes for an out-of-sample one.
pub fn in_sample_marked(text: String, in_sample: bool) -> String {
    if in_sample { format!("{text} (in-sample)") } else { text }
}

/// `folio walk-forward`'s outputs: `report.json`, `summary.md`, `equity.csv`,
/// `walk_forward.png` and `cost_sensitivity.png`.
pub fn write_walk_forward(out: &Path, report: &WalkForwardReport) -> Result<(), ReportError> {
    write_json(&out.join(crate::report::REPORT), report)?;
    write_text(&out.join("summary.md"), &markdown::walk_forward(report))?;
    let curves = &report.curves;
    write_series_csv(&out.join(crate::report::EQUITY), &curves.labels, &curves.series)?;
    let series = pictured_series(&curves.series, |id| id == PolicyId::Ensemble);
    let folds: Vec<plot::FoldSpan> = curves
        .fold_spans
        .iter()
        .zip(&report.folds)
        .map(|(&(start, end), fold)| plot::FoldSpan {
            start,
            end,
            agent_sharpe: fold.ensemble.sharpe,
            equal_weight_sharpe: fold.baseline_sharpe(PolicyId::EQUAL_WEIGHT),
        })
        .collect();
    cost_bars(
        &out.join("cost_sensitivity.png"),
        "Stitched out-of-sample CAGR against trading costs",
        &report.cost_sensitivity,
        |_| true,
    )?;
    plot::walk_forward(
        &out.join("walk_forward.png"),
        "Walk-forward: stitched out-of-sample wealth",
        &curves.labels,
        &series,
        &folds,
        plot::PlotSize::default(),
    )
}

/// `--compare-rebalancing`'s outputs: `rebalancing.json`, `rebalancing_cagr.png` and
/// `rebalancing_cost_drag.png`.
pub fn write_rebalancing(out: &Path, report: &RebalancingReport) -> Result<(), ReportError> {
    write_json(&out.join("rebalancing.json"), report)?;
    let categories: Vec<String> = report.rules.iter().map(|r| r.to_string()).collect();
    let per_policy = |value: fn(&RuleResult) -> f64| -> Vec<(String, Vec<f64>)> {
        let mut groups: Vec<(String, Vec<f64>)> = Vec::new();
        // OLMAR's turnover (it pays most of its wealth in costs on daily data) would flatten
        // every other bar; it stays in the table and the JSON.
        let olmar = PolicyId::Baseline(BaselineId::Olmar);
        let drawn =
            super::pictured_among(report.results.iter().filter(|r| r.policy != olmar).map(|r| r.policy));
        // OLMAR alone is still drawn: it is what the user asked to compare.
        let alone = report.results.iter().all(|r| r.policy == olmar);
        for r in report.results.iter().filter(|r| alone || (drawn(r.policy) && r.policy != olmar)) {
            let name = r.policy.to_string();
            match groups.last_mut() {
                Some((last, values)) if *last == name => values.push(value(r)),
                _ => groups.push((name, vec![value(r)])),
            }
        }
        groups
    };
    let title = format!("{} .. {}", report.from, report.to);
    plot::bars_with_axes(
        &out.join("rebalancing_cagr.png"),
        &format!("CAGR by rebalancing rule, {title}"),
        "rebalancing rule",
        "CAGR (%)",
        &categories,
        &per_policy(|r| 100.0 * r.cagr),
        plot::PlotSize::default(),
    )?;
    plot::bars_with_axes(
        &out.join("rebalancing_cost_drag.png"),
        &format!("Yearly cost drag by rebalancing rule, {title}"),
        "rebalancing rule",
        "costs paid per year (% of wealth)",
        &categories,
        &per_policy(|r| 100.0 * r.annual_cost_drag),
        plot::PlotSize::default(),
    )
}

/// `folio stress`'s outputs: `stress.json`, `stress.png` (a grouped bar chart of maximum
/// drawdowns) and each scenario's wealth curves, `stress-<scenario>.png`.
pub fn write_stress(out: &Path, stress: &StressRun) -> Result<(), ReportError> {
    write_json(&out.join("stress.json"), &stress.report)?;
    if stress.curves.is_empty() {
        return Ok(());
    }
    let (categories, groups) = stress_drawdowns(stress);
    plot::bars_with_axes(
        &out.join("stress.png"),
        "Maximum drawdown by stress scenario",
        "scenario",
        "maximum drawdown (%)",
        &categories,
        &groups,
        plot::PlotSize::default(),
    )?;
    let ran = stress.report.scenarios.iter().filter(|s| s.skipped.is_none());
    for (curves, scenario) in stress.curves.iter().zip(ran) {
        let series = pictured_series(&curves.series, |id| id.is_agent());
        let path = out.join(format!("stress-{}.png", curves.scenario));
        let title = format!("Wealth through {}", curves.scenario);
        let title = in_sample_marked(title, scenario.in_sample.is_some());
        // The window the figures measure, shaded among the months drawn around it.
        let row =
            |date: &Option<String>| date.as_ref().and_then(|d| curves.labels.iter().position(|l| l == d));
        match (row(&scenario.from), row(&scenario.to)) {
            (Some(first), Some(last)) => {
                let title = format!("{title}: the shaded stretch is the measured window");
                plot::equity_with_window(
                    &path,
                    &title,
                    &curves.labels,
                    &series,
                    (first, last),
                    plot::PlotSize::default(),
                )?
            }
            _ => plot::equity(&path, &title, &curves.labels, &series, false, plot::PlotSize::default())?,
        }
    }
    Ok(())
}

/// The stress bar chart's data: one category per scenario that ran, marked where it is in-sample
/// for the agent (as its own picture is), and each pictured policy's maximum drawdowns (%) across
/// them.
pub fn stress_drawdowns(stress: &StressRun) -> (Vec<String>, Vec<(String, Vec<f64>)>) {
    let ran: Vec<&ScenarioReport> = stress.report.scenarios.iter().filter(|s| s.skipped.is_none()).collect();
    let categories =
        ran.iter().map(|s| in_sample_marked(s.scenario.name.clone(), s.in_sample.is_some())).collect();
    let Some(first) = ran.first() else { return (categories, Vec::new()) };
    let groups = first
        .results
        .iter()
        .enumerate()
        .filter(|(_, r)| pictured(r.policy))
        .map(|(i, r)| (r.policy.to_string(), ran.iter().map(|s| 100.0 * s.results[i].max_drawdown).collect()))
        .collect();
    (categories, groups)
}

/// `folio explain`'s outputs: `explain.json` and its bar charts, `explain.png` for one decision,
/// `explain_period.png` and `explain_period_abs.png` for a period.
pub fn write_explanation(out: &Path, report: &ExplainReport) -> Result<(), ReportError> {
    write_json(&out.join("explain.json"), report)?;
    let size = plot::PlotSize { width: (90 * report.outputs.len() as u32).max(1200), height: 700 };
    let draw = |file: &str, title: &str, table: &[Vec<f64>]| -> Result<(), ReportError> {
        let groups: Vec<(String, Vec<f64>)> = report
            .groups
            .iter()
            .enumerate()
            .map(|(g, name)| (name.clone(), table.iter().map(|row| 100.0 * row[g]).collect()))
            .collect();
        plot::bars_with_axes(
            &out.join(file),
            title,
            "portfolio weight",
            "attribution (weight points)",
            &report.outputs,
            &groups,
            size,
        )
    };
    let method = report.method.describe();
    if let Some(decision) = &report.decision {
        let explanation = &decision.explanation;
        draw(
            "explain.png",
            &format!("What moved each weight on {} ({method})", on_period(&decision.date)),
            &explanation.attribution,
        )?;
    }
    if let Some(period) = &report.period {
        let s = &period.summary;
        draw(
            "explain_period.png",
            &format!(
                "Mean attribution, {} .. {} ({} decisions, {method})",
                period.from, period.to, s.decisions
            ),
            &s.mean_attribution,
        )?;
        draw(
            "explain_period_abs.png",
            &format!(
                "Mean absolute attribution, {} .. {} ({} decisions)",
                period.from, period.to, s.decisions
            ),
            &s.mean_abs_attribution,
        )?;
    }
    Ok(())
}

/// A decision's date as a title names it: an undated file's decisions are numbered periods.
fn on_period(date: &str) -> String {
    if date.parse::<usize>().is_ok() { format!("period {date}") } else { date.to_string() }
}

/// The wealth curves a picture draws (those [`pictured`] keeps), with `emphasized` ones drawn
/// over the rest.
fn pictured_series(
    curves: &[(PolicyId, Vec<f64>)],
    emphasized: impl Fn(PolicyId) -> bool,
) -> Vec<plot::Series> {
    curves
        .iter()
        .filter(|(id, _)| pictured(*id))
        .map(|(id, values)| plot::Series {
            name: id.to_string(),
            values: values.clone(),
            emphasis: emphasized(*id),
        })
        .collect()
}

/// CAGR (%) at each grid cost, one group of bars per policy `shown` keeps.
fn cost_bars(
    path: &Path,
    title: &str,
    sensitivity: &CostSensitivity,
    shown: impl Fn(PolicyId) -> bool,
) -> Result<(), ReportError> {
    let categories: Vec<String> = sensitivity.costs_bp.iter().map(|bp| format!("{bp} bp")).collect();
    let groups: Vec<(String, Vec<f64>)> = sensitivity
        .cagr
        .iter()
        .filter(|(id, _)| shown(*id))
        .map(|(id, cagr)| (id.to_string(), cagr.iter().map(|c| 100.0 * c).collect()))
        .collect();
    // A period too short for a CAGR (one return) has no bars to draw, and no picture.
    if !groups.iter().any(|(_, cagr)| cagr.iter().any(|c| c.is_finite())) {
        return Ok(());
    }
    plot::bars_with_axes(
        path,
        title,
        "cost per trade (buys and sells)",
        "CAGR (%)",
        &categories,
        &groups,
        plot::PlotSize::default(),
    )
}

#[cfg(test)]
mod tests {
    /// A dated decision is named by its date; an undated file's, by its period's number.
    #[test]
    fn an_undated_decision_is_a_numbered_period() {
        assert_eq!(super::on_period("450"), "period 450");
        assert_eq!(super::on_period("2020-03-16"), "2020-03-16");
    }

    #[test]
    fn an_in_sample_periods_pictures_say_so() {
        assert_eq!(
            super::pictured_period("2010-01-04", "2012-12-31", true),
            "2010-01-04 .. 2012-12-31 (in-sample)"
        );
        assert_eq!(super::pictured_period("2018-01-02", "2022-12-28", false), "2018-01-02 .. 2022-12-28");
    }
}
