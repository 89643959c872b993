//! `--compare-rebalancing` of `folio eval` and `folio backtest`: the table, `rebalancing.json`
//! and the pictures of one comparison of rebalancing rules.

use anyhow::Result;
use std::path::Path;

use folio::backtest::rebalance::RebalanceRule;
use folio::eval::evaluate::RebalancingReport;
use folio::files::OutputFolder;
use folio::report;

/// Write the comparison's files into the folder claimed for them (else a fresh one named after
/// `default`), print it, and say where.
pub fn show(
    report_data: &RebalancingReport,
    claimed: Option<OutputFolder>,
    default: &Path,
    json: bool,
) -> Result<()> {
    let folder = OutputFolder::or_fresh(claimed, default)?;
    let out = folder.path().to_path_buf();
    report::outputs::write_rebalancing(&out, report_data)?;
    folder.finish();
    if json {
        return super::print_json_in(report_data, &out);
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
    for warning in report_data.warning.iter().chain(&report_data.unfinished) {
        println!("warning: {warning}");
    }
    print!("{}", report::text::rebalancing_table(report_data));
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
    /// Rules for --compare-rebalancing, comma-separated (default: every, monthly, quarterly,
    /// band:0.02, band:0.05, band:0.10; the calendar ones only on dated rows).
    #[arg(long, value_delimiter = ',', requires = "compare_rebalancing")]
    pub rules: Vec<RebalanceRule>,
}
