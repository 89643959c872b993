use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

use super::train::{TrainSetup, default_jobs, min_track_record, print_metrics_table};
use folio::backtest::PolicyId;
use folio::backtest::rebalance::RebalanceRule;
use folio::eval::walk_forward::{WalkForwardConfig, WalkForwardReport, WalkForwardRequest, walk_forward};
use folio::registry;
use folio::report::{self, plot};

#[derive(Debug, Args)]
pub struct WalkForwardArgs {
    #[command(flatten)]
    setup: TrainSetup,
    /// Seeds per fold (trials for the overfitting statistics).
    #[arg(long)]
    seeds: Option<usize>,
    /// Number of folds.
    #[arg(long)]
    folds: Option<usize>,
    /// Trainings run in parallel.
    #[arg(long, default_value_t = default_jobs())]
    jobs: usize,
    /// Output folder (default: checkpoints/walk-forward-<config>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Trial registry that records every seed and whose trials on this data the Deflated Sharpe
    /// Ratio counts (default: $FOLIO_REGISTRY, else checkpoints/trials.jsonl).
    #[arg(long)]
    registry: Option<PathBuf>,
    /// When targets are traded in the test windows, as for `folio eval`: every (alias daily),
    /// monthly, quarterly (dated data only) or band:X. The agents train as configured.
    #[arg(long, default_value = "every")]
    rebalance: RebalanceRule,
    #[command(flatten)]
    device: super::args::DeviceArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: WalkForwardArgs) -> Result<()> {
    let (env, sections, train) = args.setup.load()?;
    let mut config: WalkForwardConfig = match sections.walk_forward {
        Some(table) => table
            .try_into()
            .with_context(|| format!("{}: invalid [walk_forward] table", args.setup.config.display()))?,
        None => WalkForwardConfig::default(),
    };
    if let Some(seeds) = args.seeds {
        config.seeds = seeds;
    }
    if let Some(folds) = args.folds {
        config.folds = folds;
    }
    let stem = args.setup.config_stem(&env);
    let out = args.out.unwrap_or_else(|| PathBuf::from("checkpoints").join(format!("walk-forward-{stem}")));
    let report = walk_forward(WalkForwardRequest {
        env,
        train,
        config,
        out: out.clone(),
        jobs: args.jobs,
        device: args.device.choice(),
        progress: super::args::Bars::for_output(args.json),
        registry: Some(registry::resolve(args.registry)),
        rebalance: args.rebalance,
    })?;
    write_outputs(&out, &report)?;
    if args.json {
        return super::print_json(&report);
    }
    print_summary(&report);
    println!(
        "\nwrote report.json, summary.md, equity.csv, walk_forward.png, cost_sensitivity.png and report.html to {}",
        out.display()
    );
    Ok(())
}

fn write_outputs(out: &std::path::Path, report: &WalkForwardReport) -> Result<()> {
    report::write_json(&out.join("report.json"), report)?;
    report::write_text(&out.join("summary.md"), &markdown(report))?;
    let curves = &report.curves;
    let series: Vec<plot::Series> = curves
        .series
        .iter()
        .filter(|(name, _)| report::pictured(*name))
        .map(|(name, values)| plot::Series {
            name: name.to_string(),
            values: values.clone(),
            emphasis: *name == PolicyId::Agent { seed: Some(report.median_seed) },
        })
        .collect();
    report::write_series_csv(&out.join("equity.csv"), &curves.labels, &curves.series)?;
    let folds: Vec<plot::FoldSpan> = curves
        .fold_spans
        .iter()
        .zip(&report.folds)
        .map(|(&(start, end), fold)| plot::FoldSpan {
            start,
            end,
            agent_sharpe: fold.seed(report.median_seed).map(|s| s.out_of_sample.sharpe).unwrap_or(f64::NAN),
            equal_weight_sharpe: fold.baseline_sharpe(PolicyId::EQUAL_WEIGHT),
        })
        .collect();
    let sensitivity = &report.cost_sensitivity;
    let categories: Vec<String> = sensitivity.costs_bp.iter().map(|bp| format!("{bp} bp")).collect();
    let groups: Vec<(String, Vec<f64>)> = sensitivity
        .cagr
        .iter()
        .map(|(name, cagr)| (name.to_string(), cagr.iter().map(|c| 100.0 * c).collect()))
        .collect();
    plot::bars_with_axes(
        &out.join("cost_sensitivity.png"),
        "Stitched out-of-sample CAGR against trading costs",
        "cost per trade (buys and sells)",
        "CAGR (%)",
        &categories,
        &groups,
        plot::PlotSize::default(),
    )?;
    plot::walk_forward(
        &out.join("walk_forward.png"),
        "Walk-forward: stitched out-of-sample wealth",
        &curves.labels,
        &series,
        &folds,
        plot::PlotSize::default(),
    )?;
    report::html::write_run_page(out, &report::html::Provenance::of_this_process())?;
    Ok(())
}

fn print_summary(report: &WalkForwardReport) {
    println!(
        "{} folds ({:?} training windows), {} seeds each, rebalancing rule {}:",
        report.folds.len(),
        report.config.mode,
        report.config.seeds,
        report.rebalance
    );
    println!(
        "{:<6} {:>23} {:>23} {:>23} {:>10} {:>10} {:>8} {:>10}",
        "fold", "train", "validation", "test", "IS Sharpe", "OOS Sharpe", "OOS PSR", "EW Sharpe"
    );
    for f in &report.folds {
        let median = f.seed(report.median_seed).expect("the median seed trained in every fold");
        let equal = f.baseline_sharpe(PolicyId::EQUAL_WEIGHT);
        println!(
            "{:<6} {:>23} {:>23} {:>23} {:>10.2} {:>10.2} {:>8.3} {:>10.2}",
            f.fold.index,
            format!("{}..{}", f.train.0, f.train.1),
            format!("{}..{}", f.validation.0, f.validation.1),
            format!("{}..{}", f.test.0, f.test.1),
            median.in_sample.sharpe,
            median.out_of_sample.sharpe,
            median.out_of_sample.psr,
            equal
        );
    }
    println!("\nstitched out-of-sample, after costs:");
    let rows: Vec<(String, &folio::metrics::Metrics)> =
        report.overall.iter().map(|r| (r.policy.to_string(), &r.metrics)).collect();
    print_metrics_table(&rows);
    if report.seed_spread.runs > 1 {
        println!("\nagents' stitched out-of-sample figures across seeds:");
        super::train::print_spread(&report.seed_spread);
    }
    let sensitivity = &report.cost_sensitivity;
    println!("\nstitched CAGR by cost rate (median agent):");
    for (name, cagr) in &sensitivity.cagr {
        let cells: Vec<String> = sensitivity
            .costs_bp
            .iter()
            .zip(cagr)
            .map(|(bp, c)| format!("{bp} bp {:.2}%", 100.0 * c))
            .collect();
        println!("  {name:<14} {}", cells.join("  "));
    }
    println!("break-even: {}", sensitivity.break_even);
    println!("\n{}", report.verdict);
    for f in &report.folds {
        for s in &f.seeds {
            for w in &s.warnings {
                println!("warning: fold {} seed {}: {}", f.fold.index, s.seed, w.message);
            }
        }
    }
    if report.deflated_sharpe.is_some() {
        println!("The Deflated Sharpe Ratio counted {}.", trials_counted(&report.dsr_trials));
    }
}

pub fn markdown(report: &WalkForwardReport) -> String {
    let mut md = String::new();
    md.push_str("# Walk-forward evaluation\n\n");
    md.push_str(&format!(
        "Data `{}` (fingerprint `{}`); {:?} with {:?}, {} environment steps per training; {} folds, {:?} training windows of {} periods, validation {} and test {} periods, embargo {}; {} seeds per fold; rebalancing rule {} in the test windows.\n\n",
        report.data,
        report.data_fingerprint,
        report.train.algo,
        report.train.net.kind,
        report.train.steps,
        report.folds.len(),
        report.config.mode,
        report.config.train_periods,
        report.config.validation_periods,
        report.config.test_periods,
        report.config.embargo,
        report.config.seeds,
        report.rebalance
    ));
    md.push_str(&format!("**Verdict.** {}\n\n", report.verdict));
    md.push_str("## Folds (median seed)\n\n| fold | train | validation | test | in-sample Sharpe | out-of-sample Sharpe | out-of-sample PSR | equal-weight Sharpe |\n|---|---|---|---|---|---|---|---|\n");
    for f in &report.folds {
        let median = f.seed(report.median_seed).expect("the median seed trained in every fold");
        let equal = f.baseline_sharpe(PolicyId::EQUAL_WEIGHT);
        md.push_str(&format!(
            "| {} | {} .. {} | {} .. {} | {} .. {} | {:.2} | {:.2} | {:.3} | {:.2} |\n",
            f.fold.index,
            f.train.0,
            f.train.1,
            f.validation.0,
            f.validation.1,
            f.test.0,
            f.test.1,
            median.in_sample.sharpe,
            median.out_of_sample.sharpe,
            median.out_of_sample.psr,
            equal
        ));
    }
    md.push_str("\n## Stitched out-of-sample results, after costs\n\n| policy | final wealth | CAGR | volatility | Sharpe | PSR | min TRL | Sortino | max drawdown | in-sample Sharpe |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for r in &report.overall {
        let m = &r.metrics;
        md.push_str(&format!(
            "| {} | {:.3} | {:.2}% | {:.2}% | {:.2} | {:.3} | {} | {:.2} | {:.2}% | {} |\n",
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
        ));
    }
    md.push_str(
        "\nPSR: probability that the true Sharpe ratio is positive, given the track record's length, \
         skewness and kurtosis; min TRL: periods such a track record needs for 95% confidence \
         (Bailey and López de Prado 2012).\n",
    );
    let spread = &report.seed_spread;
    md.push_str(&format!(
        "\n## Spread across the {} seeds (stitched out-of-sample)\n\n| metric | median | IQR | min .. max |\n|---|---|---|---|\n",
        spread.runs
    ));
    for (name, s, percent) in [
        ("Sharpe", spread.sharpe, false),
        ("CAGR", spread.cagr, true),
        ("max drawdown", spread.max_drawdown, true),
        ("final wealth", spread.final_wealth, false),
    ] {
        let cell = |v: f64| if percent { format!("{:.2}%", 100.0 * v) } else { format!("{v:.3}") };
        if let Some(s) = s {
            md.push_str(&format!(
                "| {name} | {} | {} .. {} | {} .. {} |\n",
                cell(s.median),
                cell(s.q1),
                cell(s.q3),
                cell(s.min),
                cell(s.max)
            ));
        }
    }
    if let Some(d) = &report.deflated_sharpe {
        md.push_str(&format!(
            "\nDeflated Sharpe Ratio of the best seed over {} trials: {:.3} ({}).\n",
            d.trials,
            d.dsr,
            trials_counted(&report.dsr_trials)
        ));
    }
    let sensitivity = &report.cost_sensitivity;
    md.push_str("\n## Cost sensitivity (stitched out-of-sample CAGR)\n\n| policy |");
    for bp in &sensitivity.costs_bp {
        md.push_str(&format!(" {bp} bp |"));
    }
    md.push_str(&format!("\n|---|{}\n", "---|".repeat(sensitivity.costs_bp.len())));
    for (name, cagr) in &sensitivity.cagr {
        md.push_str(&format!("| {name} |"));
        for c in cagr {
            md.push_str(&format!(" {:.2}% |", 100.0 * c));
        }
        md.push('\n');
    }
    md.push_str(&format!("\nBreak-even: {}.\n", sensitivity.break_even));
    if let Some(p) = &report.backtest_overfitting {
        md.push_str(&format!("Probability of backtest overfitting (CSCV over the seeds): {:.3}.\n", p.pbo));
    }
    md
}

/// Where the Deflated Sharpe Ratio's trials came from, in words.
fn trials_counted(t: &folio::eval::walk_forward::DsrTrials) -> String {
    match &t.registry {
        Some(path) => format!(
            "every trial on this data in the registry `{}`: {} earlier, {} from this run",
            path.display(),
            t.trials.saturating_sub(t.this_run),
            t.this_run
        ),
        None => format!("this run's {} seeds only; no registry", t.this_run),
    }
}
