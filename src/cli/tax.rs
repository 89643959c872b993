use anyhow::Result;
use clap::Args;
use std::path::{Path, PathBuf};

use folio::data::Stamp;
use folio::env::config::DEFAULT_CONFIG;
use folio::files::OutputFolder;
use folio::report;
use folio::tax::report::{TaxReport, TaxRequest, tax_report};
use folio::tax::{DEFAULT_TAX_CONFIG, LedgerRun, LotMethod, TaxConfig};

#[derive(Debug, Args)]
pub struct TaxArgs {
    /// Tax rules: rates, holding period, lot method, harvesting.
    #[arg(long, default_value = DEFAULT_TAX_CONFIG)]
    tax: PathBuf,
    /// Environment config (data, assets, costs, periods) when no checkpoint is given.
    #[arg(long, default_value = DEFAULT_CONFIG, conflicts_with = "checkpoint")]
    config: PathBuf,
    /// Checkpoint folder of one agent (`<run>/seed-<s>`), or a multi-seed run (each seed and
    /// their ensemble); it brings its own environment, so --config is refused beside it.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Baseline to replay (equal-weight, buy-and-hold, ..., or `all`); repeatable. Default:
    /// equal-weight and buy-and-hold.
    #[arg(long)]
    strategy: Vec<super::args::Strategies>,
    /// First row of the period (default: the config's test period).
    #[arg(long)]
    from: Option<Stamp>,
    /// Last row of the period.
    #[arg(long)]
    to: Option<Stamp>,
    /// With --checkpoint: the prices its agent acts on.
    #[command(flatten)]
    data: super::args::DataArgs,
    /// Lot selection, overriding the tax config.
    #[arg(long, value_enum)]
    lot_method: Option<super::args::LotMethodArg>,
    /// Output folder (default: a new <checkpoint>/tax-<from>-<to>[-N], or runs/tax-<from>-<to>[-N]).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    replace: super::args::Replace,
    #[command(flatten)]
    run: super::args::RunArgs,
}

pub fn run(args: TaxArgs) -> Result<()> {
    anyhow::ensure!(
        args.checkpoint.is_some() || (args.data.data.is_none() && !args.data.allow_other_data),
        "--data and --allow-other-data choose the prices a checkpoint's agent acts on; without --checkpoint, \
         the prices are the [data] file of --config ({})",
        args.config.display()
    );
    let tax = tax_rules(&args)?;
    // A named folder is claimed before the work, so that a clash is reported at once.
    let claimed = args.out.as_deref().map(|out| OutputFolder::claim(out, args.replace.force)).transpose()?;
    // A multi-seed run: every seed beside their ensemble.
    let (checkpoint, other_seeds) = match &args.checkpoint {
        Some(dir) => {
            super::note_online_learning(dir, "tax");
            let mut seeds = super::eval::checkpoints_in(dir)?;
            let first = seeds.remove(0);
            (Some(first), seeds)
        }
        None => (None, Vec::new()),
    };
    let report = tax_report(TaxRequest {
        tax,
        tax_file: args.tax.clone(),
        env_config: args.config.clone(),
        checkpoint,
        other_seeds,
        strategies: super::args::Strategies::expand(&args.strategy),
        from: args.from,
        to: args.to,
        device: args.run.device(),
        data: args.data.choice(),
    })?;
    let folder = format!("tax-{}-{}", report.from, report.to);
    let base = match &args.checkpoint {
        Some(dir) => dir.join(&folder),
        None => PathBuf::from("runs").join(&folder),
    };
    let claimed = OutputFolder::or_fresh(claimed, &base)?;
    let out = claimed.path().to_path_buf();
    report::tax::write_tax(&out, &report)?;
    claimed.finish();
    if args.run.json {
        return super::print_json_in(&report, &out);
    }
    print_rules(&report);
    if let Some(unfinished) = &report.unfinished {
        println!("warning: {unfinished}");
    }
    print_table(&report);
    print_notes(&report, &out);
    Ok(())
}

/// The tax config, with the lot method the flag asks for.
fn tax_rules(args: &TaxArgs) -> Result<TaxConfig> {
    let mut tax = TaxConfig::load(&args.tax)?;
    if let Some(method) = args.lot_method {
        tax.lot_method = method.into();
    }
    Ok(tax)
}

/// The period, the costs and the tax rules the replays ran under.
fn print_rules(report: &TaxReport) {
    let tax = &report.tax;
    println!(
        "{} .. {} ({} periods), costs buy {:.3}% / sell {:.3}%, rebalance every {}",
        report.from,
        report.to,
        report.periods,
        100.0 * report.costs.buy,
        100.0 * report.costs.sell,
        report.rebalance_every
    );
    println!(
        "taxes: short-term {:.0}%, long-term {:.0}% after {}, lots {}, paid on {} of the next year; \
         harvesting {}",
        100.0 * tax.short_term_rate,
        100.0 * tax.long_term_rate,
        tax.long_term(),
        match tax.lot_method {
            LotMethod::Fifo => "FIFO",
            LotMethod::HighestCost => "highest cost first",
        },
        tax.payment_date,
        if tax.harvest.enabled {
            format!(
                "at a {:.0}% loss, {}-day wash-sale window, replacement by {}-period correlation",
                100.0 * tax.harvest.loss_threshold,
                tax.harvest.wash_sale_days,
                tax.harvest.correlation_window
            )
        } else {
            "off".into()
        }
    );
}

/// One row per policy and ledger.
fn print_table(report: &TaxReport) {
    println!(
        "\n{:<26} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9} {:>6} {:>7}",
        "policy",
        "pre-tax",
        "after-tax",
        "liquid.",
        "taxes",
        "ST gain",
        "LT gain",
        "costs",
        "harvested",
        "washes",
        "blocked"
    );
    let row = |name: String, pre_tax: f64, run: &LedgerRun| {
        println!(
            "{name:<26} {pre_tax:>8.4} {:>9.4} {:>9.4} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>9.4} {:>6} {:>7}",
            run.after_tax_wealth_held,
            run.after_tax_wealth_liquidated,
            run.taxes_total,
            run.realized.short_term,
            run.realized.long_term,
            run.costs,
            run.harvested_losses,
            run.wash_sales,
            run.rebuys_blocked
        );
    };
    for policy in &report.policies {
        row(policy.policy.to_string(), policy.pre_tax_wealth, &policy.after_tax);
        if let Some(harvesting) = &policy.harvesting {
            // Harvesting holds stand-ins for what it sold, so its path before tax is its own.
            let pre_tax = policy.harvesting_pre_tax_wealth.unwrap_or(policy.pre_tax_wealth);
            row(format!("{} + harvest", policy.policy), pre_tax, harvesting);
        }
    }
}

/// What the columns mean, what harvesting added, and where the files went.
fn print_notes(report: &TaxReport, out: &Path) {
    println!(
        "\npre-tax: the backtest's final wealth (the untaxed ledger matches it within {:.0e}), and for a \
         + harvest row its own path's, untaxed, since it holds stand-ins for what it sold; after-tax: \
         still invested, taxes paid each year and those owed on realized gains taken out; liquid.: after \
         selling everything at the end and paying its costs and taxes; taxes: all of them, the \
         liquidation's included; harvested: losses realized by harvesting; washes: wash-sale adjustments \
         (a purchase within the window disallowing a loss, counted per lot it touched); blocked: purchases the \
         window held back.",
        folio::tax::report::LEDGER_TOLERANCE
    );
    for policy in &report.policies {
        if let (Some(benefit), Some(path)) = (policy.harvest_benefit, policy.harvest_path_effect) {
            println!(
                "{}: harvesting {} after-tax liquidated wealth by {:.4} ({:+.2}%): {:+.4} from its own path before \
                 any tax (stand-ins held for what it sold), {:+.4} from the taxes it changed",
                policy.policy,
                if benefit >= 0.0 { "adds to" } else { "takes from" },
                benefit.abs(),
                100.0 * benefit / policy.after_tax.after_tax_wealth_liquidated,
                path,
                benefit - path
            );
        }
    }
    println!("wrote tax_report.json and the ledgers (ledger-<policy>.csv) to {}", out.display());
}
