use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

use super::train::print_metrics_table;
use crate::config::{DEFAULT_CONFIG, EnvConfig};
use crate::data::Stamp;
use crate::env::EnvSettings;
use crate::eval::evaluate::{BaselineRequest, EvalRequest, backtest_baselines, default_output, evaluate};
use crate::report::{self, plot};
use crate::train::DeviceChoice;

#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// Strategy to run (equal-weight, buy-and-hold, bcrp, olmar, ...), or `all`. Repeatable.
    #[arg(long, required = true)]
    strategy: Vec<String>,
    /// Environment config: data, assets, costs and rebalancing.
    #[arg(long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Another price file (all its assets are traded), dated or undated.
    #[arg(long)]
    data: Option<PathBuf>,
    /// First row (date, or period number for undated data).
    #[arg(long)]
    from: Option<Stamp>,
    /// Last row.
    #[arg(long)]
    to: Option<Stamp>,
    /// Transaction cost rate on both buys and sells, overriding the config (0 for the
    /// literature's zero-fee figures).
    #[arg(long)]
    cost: Option<f64>,
    /// Periods between rebalancing decisions, overriding the config.
    #[arg(long)]
    rebalance_every: Option<usize>,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

pub fn backtest(args: BacktestArgs) -> Result<()> {
    let config = EnvConfig::load(&args.config)?;
    let mut settings = EnvSettings::from_config(&config);
    settings.episode.horizon = 0;
    if let Some(rate) = args.cost {
        settings.costs.buy = rate;
        settings.costs.sell = rate;
        settings.costs.validate().map_err(anyhow::Error::msg).context("--cost")?;
    }
    if let Some(every) = args.rebalance_every {
        anyhow::ensure!(every >= 1, "--rebalance-every must be at least 1");
        settings.episode.rebalance_every = every;
    }
    // The config's assets and rows describe its own data file, not another one.
    let (data, assets, from, to) = match args.data {
        Some(file) => (file, Vec::new(), args.from, args.to),
        None => (
            config.data.file.clone(),
            config.data.assets.clone(),
            args.from.or(config.data.from),
            args.to.or(config.data.to),
        ),
    };
    let (report, _) = backtest_baselines(BaselineRequest {
        data,
        assets,
        strategies: args.strategy,
        from,
        to,
        settings,
        periods_per_year: config.data.periods_per_year,
    })?;
    if args.json {
        return super::print_json(&report);
    }
    println!(
        "{}: {} assets, {} .. {} ({} periods), costs buy {:.3}% / sell {:.3}%, rebalance every {}",
        report.data.display(),
        report.assets.len(),
        report.from,
        report.to,
        report.periods,
        100.0 * report.costs.buy,
        100.0 * report.costs.sell,
        report.rebalance_every
    );
    let rows: Vec<(&str, &crate::eval::metrics::Metrics)> =
        report.results.iter().map(|r| (r.policy.as_str(), &r.metrics)).collect();
    print_metrics_table(&rows);
    Ok(())
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Checkpoint folder written by `folio train`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// First row of the period (default: the config's test period).
    #[arg(long)]
    from: Option<Stamp>,
    /// Last row of the period.
    #[arg(long)]
    to: Option<Stamp>,
    /// Another price file holding the agent's assets.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Transaction cost rate on both buys and sells, overriding the training config.
    #[arg(long)]
    cost: Option<f64>,
    /// Which weights: the best on validation, or the last.
    #[arg(long, default_value = "best", value_parser = ["best", "last"])]
    weights: String,
    /// Output folder (default: <checkpoint>/eval-<from>-<to>).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn eval(args: EvalArgs) -> Result<()> {
    let evaluation = evaluate(EvalRequest {
        checkpoint: args.checkpoint.clone(),
        weights: format!("{}.bpk", args.weights),
        data: args.data,
        from: args.from,
        to: args.to,
        cost: args.cost,
        device: args.device,
    })?;
    let report_data = &evaluation.report;
    let out = args.out.unwrap_or_else(|| default_output(&args.checkpoint, report_data));
    let logs: Vec<&crate::eval::backtest::BacktestLog> = evaluation.logs.iter().collect();
    report::write_json(&out.join("report.json"), report_data)?;
    report::write_equity_csv(&out.join("equity.csv"), &evaluation.labels, &logs)?;
    let mut names = vec!["cash".to_string()];
    names.extend(evaluation.meta.assets.iter().cloned());
    report::write_weights_csv(
        &out.join("weights.csv"),
        &evaluation.decision_labels,
        &evaluation.meta.assets,
        logs[0],
    )?;
    let series: Vec<plot::Series> = evaluation
        .logs
        .iter()
        .enumerate()
        .filter(|(_, l)| report::pictured(&l.policy))
        .map(|(i, l)| plot::Series { name: l.policy.clone(), values: l.values.clone(), emphasis: i == 0 })
        .collect();
    let title = format!("{} .. {}", report_data.from, report_data.to);
    plot::equity(
        &out.join("equity.png"),
        &format!("Wealth, {title}"),
        &evaluation.labels,
        &series,
        false,
        plot::PlotSize::default(),
    )?;
    plot::drawdown(
        &out.join("drawdown.png"),
        &format!("Drawdown, {title}"),
        &evaluation.labels,
        &series,
        plot::PlotSize::default(),
    )?;
    plot::weights(
        &out.join("weights.png"),
        &format!("Agent weights, {title}"),
        &evaluation.decision_labels,
        &names,
        &evaluation.logs[0].weights,
        8,
        plot::PlotSize::default(),
    )?;
    if args.json {
        return super::print_json(report_data);
    }
    println!(
        "{} ({}) on {} .. {} ({} periods), costs buy {:.3}% / sell {:.3}%",
        args.checkpoint.display(),
        report_data.weights,
        report_data.from,
        report_data.to,
        report_data.periods,
        100.0 * report_data.costs.buy,
        100.0 * report_data.costs.sell
    );
    if let Some(warning) = &report_data.warning {
        println!("warning: {warning}");
    }
    let rows: Vec<(&str, &crate::eval::metrics::Metrics)> =
        report_data.results.iter().map(|r| (r.policy.as_str(), &r.metrics)).collect();
    print_metrics_table(&rows);
    println!("\n{}", report_data.verdict);
    for warning in &report_data.agent_warnings {
        println!("warning: {}", warning.message);
    }
    println!("wrote report.json, equity.csv, weights.csv and pictures to {}", out.display());
    Ok(())
}
