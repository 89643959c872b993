//! `--compare-rebalancing` of `folio eval` and `folio backtest`: the table, `rebalancing.json`
//! and the pictures of one comparison of rebalancing rules.

use anyhow::Result;
use std::path::Path;

use folio::backtest::rebalance::{DEFAULT_COMPARISON, RebalanceRule};
use folio::backtest::{BaselineId, PolicyId};
use folio::eval::evaluate::RebalancingReport;
use folio::report::{self, plot};

/// Print the comparison, write its files into `out`, and say where.
pub fn show(report_data: &RebalancingReport, out: &Path, json: bool) -> Result<()> {
    write_outputs(out, report_data)?;
    if json {
        return super::print_json(report_data);
    }
    let subject = match &report_data.checkpoint {
        Some(checkpoint) => format!("{} on {}", checkpoint.display(), report_data.data.display()),
        None => report_data.data.display().to_string(),
    };
    println!(
        "{subject}: {} .. {} ({} periods), costs buy {:.3}% / sell {:.3}%, a decision every {} period(s)",
        report_data.from,
        report_data.to,
        report_data.periods,
        100.0 * report_data.costs.buy,
        100.0 * report_data.costs.sell,
        report_data.rebalance_every
    );
    if let Some(warning) = &report_data.warning {
        println!("warning: {warning}");
    }
    println!(
        "{:<24} {:<10} {:>11} {:>12} {:>10} {:>9} {:>8} {:>8} {:>8}",
        "policy", "rule", "trades", "turnover/yr", "costs", "costs/yr", "CAGR", "Sharpe", "max DD"
    );
    let mut previous = None;
    for r in &report_data.results {
        if previous.is_some_and(|p| p != r.policy) {
            println!();
        }
        previous = Some(r.policy);
        println!(
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
    println!(
        "\ntrades: decisions that traded / decisions; costs: paid in units of the starting wealth; \
         costs/yr: the yearly drag"
    );
    if report_data.checkpoint.is_some() {
        println!(
            "Picking the rule with the best figures here selects on this period: choose it on the \
             validation period (--from/--to) and confirm it on the test period."
        );
    }
    println!(
        "wrote rebalancing.json, rebalancing_cagr.png and rebalancing_cost_drag.png to {}",
        out.display()
    );
    Ok(())
}

fn write_outputs(out: &Path, report_data: &RebalancingReport) -> Result<()> {
    report::write_json(&out.join("rebalancing.json"), report_data)?;
    let categories: Vec<String> = report_data.rules.iter().map(|r| r.to_string()).collect();
    let per_policy = |value: fn(&folio::backtest::rebalance::RuleResult) -> f64| -> Vec<(String, Vec<f64>)> {
        let mut groups: Vec<(String, Vec<f64>)> = Vec::new();
        // OLMAR's turnover (70% of wealth a year in costs on the default data) would flatten
        // every other bar; it stays in the table and the JSON.
        let olmar = PolicyId::Baseline(BaselineId::Olmar);
        for r in report_data.results.iter().filter(|r| report::pictured(r.policy) && r.policy != olmar) {
            let name = r.policy.to_string();
            match groups.last_mut() {
                Some((last, values)) if *last == name => values.push(value(r)),
                _ => groups.push((name, vec![value(r)])),
            }
        }
        groups
    };
    let title = format!("{} .. {}", report_data.from, report_data.to);
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
    )?;
    Ok(())
}

/// The rebalancing flags `eval` and `backtest` share.
#[derive(Debug, clap::Args)]
pub struct RebalanceArgs {
    /// When targets are traded: every (alias daily), monthly or quarterly (the first decision of
    /// each calendar month or quarter; dated data only), or band:X (only when some weight has
    /// drifted more than X from the target, e.g. band:0.05). Acts on top of the decision schedule.
    #[arg(long, default_value = "every", conflicts_with = "compare_rebalancing")]
    pub rebalance: RebalanceRule,
    /// Run every policy under each rule of --rules and compare trades, turnover, costs and return;
    /// writes rebalancing.json and pictures.
    #[arg(long)]
    pub compare_rebalancing: bool,
    /// Rules for --compare-rebalancing, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_COMPARISON, requires = "compare_rebalancing")]
    pub rules: Vec<RebalanceRule>,
}
