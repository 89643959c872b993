use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

use folio::data::Stamp;
use folio::eval::stress::{ScenarioReport, ShockSizes, StressRequest, select_scenarios, stress_checkpoints};
use folio::files::OutputFolder;
use folio::report;

#[derive(Debug, Args)]
pub struct StressArgs {
    /// Checkpoint folder written by `folio train`, or a multi-seed run (every seed is stressed).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Which weights: the best on validation, or the last.
    #[arg(long, value_enum, default_value_t = super::args::WeightsArg::Best)]
    weights: super::args::WeightsArg,
    /// Scenario to run (dotcom, financial-crisis, covid, crash, flash-crash, correlation-one,
    /// volatility). Repeatable; default: all.
    #[arg(long)]
    scenario: Vec<String>,
    /// First row of the held-out period the synthetic shocks go into (default: the config's
    /// test period).
    #[arg(long)]
    from: Option<Stamp>,
    /// Last row of the held-out period.
    #[arg(long)]
    to: Option<Stamp>,
    /// Day of the synthetic shocks (default: the middle of the held-out period).
    #[arg(long)]
    shock_date: Option<Stamp>,
    /// One-day fall of every asset in the crash (0.2 = 20%).
    #[arg(long, allow_negative_numbers = true, default_value_t = ShockSizes::default().crash_fall)]
    crash_fall: f64,
    /// One-day fall of every asset in the flash crash.
    #[arg(long, allow_negative_numbers = true, default_value_t = ShockSizes::default().flash_fall)]
    flash_fall: f64,
    /// Periods the flash crash takes to climb back onto the original prices.
    #[arg(long, default_value_t = ShockSizes::default().flash_recovery)]
    flash_recovery: usize,
    /// Periods of the correlation-one and volatility windows.
    #[arg(long, default_value_t = ShockSizes::default().window)]
    window: usize,
    /// Multiplier of return deviations in the volatility window.
    #[arg(long, allow_negative_numbers = true, default_value_t = ShockSizes::default().volatility_factor)]
    volatility_factor: f64,
    /// Output folder (default: <checkpoint>/stress, numbered if taken).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    replace: super::args::Replace,
    #[command(flatten)]
    data: super::args::DataArgs,
    #[command(flatten)]
    run: super::args::RunArgs,
}

pub fn run(args: StressArgs) -> Result<()> {
    let sizes = ShockSizes {
        crash_fall: args.crash_fall,
        flash_fall: args.flash_fall,
        flash_recovery: args.flash_recovery,
        window: args.window,
        volatility_factor: args.volatility_factor,
    };
    sizes.validate()?;
    let scenarios = select_scenarios(&args.scenario, &sizes)?;
    let claimed = args.out.as_deref().map(|out| OutputFolder::claim(out, args.replace.force)).transpose()?;
    let checkpoints = super::eval::checkpoints_in(&args.checkpoint)?;
    super::note_online_learning(&args.checkpoint, "stress");
    let (stress, meta) = stress_checkpoints(StressRequest {
        checkpoints,
        weights: args.weights.into(),
        scenarios,
        from: args.from,
        to: args.to,
        shock_date: args.shock_date,
        device: args.run.device(),
        data: args.data.choice(),
    })?;
    let folder = OutputFolder::or_fresh(claimed, &args.checkpoint.join("stress"))?;
    let out = folder.path().to_path_buf();
    report::outputs::write_stress(&out, &stress)?;
    folder.finish();
    if args.run.json {
        return super::print_json_in(&stress.report, &out);
    }
    let report = &stress.report;
    println!(
        "{} ({}), costs buy {:.3}% / sell {:.3}%; decisions trained on {} .. {}, validated on {} .. {}",
        args.checkpoint.display(),
        folio::train::checkpoint::Weights::from(args.weights),
        100.0 * report.costs.buy,
        100.0 * report.costs.sell,
        meta.train_range.0,
        meta.train_range.1,
        meta.validation_range.0,
        meta.validation_range.1
    );
    // A --shock-date on a day without prices (a weekend, a holiday) shocks the next row: said,
    // since the figures are of that day. A period number always names its own row.
    let moved = match args.shock_date {
        Some(Stamp::Date(asked)) if asked.to_string() != report.shock_date => {
            format!(" (--shock-date {asked} has no prices: the next day that does)")
        }
        _ => String::new(),
    };
    println!(
        "synthetic shocks on {}{moved} in the held-out period {} .. {}",
        report.shock_date, report.held_out_from, report.held_out_to
    );
    if let Some(unfinished) = &report.unfinished {
        println!("warning: {unfinished}");
    }
    for scenario in &report.scenarios {
        print_scenario(scenario);
    }
    println!("\nwrote stress.json and pictures to {}", out.display());
    Ok(())
}

fn print_scenario(scenario: &ScenarioReport) {
    println!("\n{}: {}", scenario.scenario.name, scenario.scenario.description);
    if let Some(reason) = &scenario.skipped {
        println!("  skipped: {reason}");
        return;
    }
    let at = |s: &Option<String>| s.clone().unwrap_or_default();
    println!(
        "  measured {} .. {}, recovery watched to {}",
        at(&scenario.from),
        at(&scenario.to),
        at(&scenario.tail_to)
    );
    match &scenario.in_sample {
        Some(seen) => println!(
            "  IN-SAMPLE: the backtest overlaps the {} period ({} .. {}); these figures flatter the agent",
            seen.period, seen.from, seen.to
        ),
        None => println!("  out of sample"),
    }
    println!(
        "  {:<24} {:>10} {:>9} {:>11} {:>22} {:>10}",
        "policy", "scenario", "max DD", "trough", "recovery", "to end"
    );
    for r in &scenario.results {
        let recovery = match (r.recovery_periods, &r.recovered_on) {
            (Some(periods), Some(on)) => format!("{periods} ({on})"),
            _ if r.max_drawdown == 0.0 => "no drawdown".into(),
            _ => "not recovered".into(),
        };
        println!(
            "  {:<24} {:>9.1}% {:>8.1}% {:>11} {:>22} {:>9.1}%",
            r.policy,
            100.0 * r.scenario_return,
            100.0 * r.max_drawdown,
            r.trough,
            recovery,
            100.0 * r.return_to_end
        );
    }
    if let Some(spread) = &scenario.agent_spread {
        let median = |s: Option<folio::metrics::Spread>| s.map(|s| 100.0 * s.median).unwrap_or(f64::NAN);
        println!(
            "  seeds' median: scenario {:.1}%, max drawdown {:.1}%; {} of {} recovered",
            median(spread.scenario_return),
            median(spread.max_drawdown),
            spread.recovered,
            spread.agents
        );
    }
    if let Some(verdict) = &scenario.verdict {
        println!("  {verdict}");
    }
}
