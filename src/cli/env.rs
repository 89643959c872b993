use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use folio::env::check::{PolicySummary, check};
use folio::env::config::{DEFAULT_CONFIG, EnvConfig, Span};
use folio::env::{BatchEnv, DecisionRange, EnvSettings, Market};

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Run a random policy and equal weight through episodes and print a summary.
    Check {
        /// Environment config (TOML).
        #[arg(value_name = "CONFIG")]
        config: Option<PathBuf>,
        /// The same, named as every other command names it.
        #[arg(long = "config", value_name = "CONFIG", conflicts_with = "config")]
        named_config: Option<PathBuf>,
        /// Episodes per policy.
        #[arg(long, default_value_t = 16, value_parser = super::args::at_least_one)]
        episodes: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Which period of the config to run in.
        #[arg(long, value_enum, default_value_t = PeriodName::Train)]
        period: PeriodName,
        #[command(flatten)]
        output: super::args::JsonArgs,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PeriodName {
    Train,
    Validation,
    Test,
    All,
}

impl PeriodName {
    fn span(self, config: &EnvConfig) -> Span {
        match self {
            PeriodName::Train => config.periods.train,
            PeriodName::Validation => config.periods.validation,
            PeriodName::Test => config.periods.test,
            PeriodName::All => Span::default(),
        }
    }

    fn words(self) -> &'static str {
        match self {
            PeriodName::Train => "training period",
            PeriodName::Validation => "validation period",
            PeriodName::Test => "test period",
            PeriodName::All => "whole data",
        }
    }
}

#[derive(serde::Serialize)]
struct CheckOutput {
    config: String,
    data: String,
    assets: Vec<String>,
    first: String,
    last: String,
    /// What every annualized figure of this market is annualized by.
    periods_per_year: f64,
    /// The asset (or assets) whose late start set the first row.
    limited_by: Option<String>,
    /// What that costs, and how to get those rows back.
    started_by: Option<String>,
    /// The asset whose early end set the last row, what that costs, and how to get them back.
    ended_by: Option<String>,
    fingerprint: String,
    /// Why `folio train` would refuse this config's training and validation periods, if it would.
    training_refused: Option<String>,
    /// What in the prices looks like a data error: jumps, and stretches of missing rows.
    data_warnings: Vec<String>,
    decisions_from: String,
    decisions_to: String,
    /// Rows before the first observation: the features' warm-up.
    warm_up_periods: usize,
    /// Values in one observation, as the agent's network takes them.
    observation_values: usize,
    /// The config as loaded, every default filled in: the features, costs, reward and episode
    /// rules the check ran with.
    settings: EnvConfig,
    policies: Vec<PolicySummary>,
}

pub fn run(command: EnvCommand) -> Result<()> {
    match command {
        EnvCommand::Check { config, named_config, episodes, seed, period, output } => {
            let path = named_config.or(config).unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
            let checked = check_config(&path, episodes, seed, period)?;
            if output.json {
                return super::print_json(&checked.output);
            }
            print_setup(&checked, period);
            print_policies(&checked.output.policies);
            Ok(())
        }
    }
}

/// What `env check` found, and what its table needs beside the JSON.
struct Checked {
    output: CheckOutput,
    config: EnvConfig,
    market: Arc<Market>,
    range: DecisionRange,
}

/// Load the config, build its market and run the random policy and equal weight through it.
fn check_config(path: &Path, episodes: usize, seed: u64, period: PeriodName) -> Result<Checked> {
    let config = EnvConfig::load(path)?;
    let (market, selection) = Market::from_config(&config)
        .with_context(|| format!("setting up the market of {}", path.display()))?;
    let market = Arc::new(market);
    let range = market
        .decision_range(&period.span(&config), config.episode.embargo)
        .map_err(|error| super::naming_config(error.into(), path))?;
    let mut settings = EnvSettings::from_config(&config);
    // Training's episode length is for the training period; the others are backtested whole, as
    // validation and eval do, and may be shorter than one training episode.
    if !matches!(period, PeriodName::Train) {
        settings.episode.horizon = 0;
    }
    let summaries = check(|| BatchEnv::new(market.clone(), range, settings, episodes, seed), seed)
        .map_err(|error| super::naming_config(error.into(), path))?;
    let index = &market.panel.index;
    let output = CheckOutput {
        config: path.display().to_string(),
        data: config.data.file.display().to_string(),
        assets: market.panel.assets.clone(),
        first: index.label(0),
        last: index.label(market.n_periods() - 1),
        periods_per_year: config.data.periods_per_year,
        limited_by: selection.started_by.as_ref().map(|late| late.assets.join(", ")),
        started_by: selection.started_by.map(|late| late.to_string()),
        ended_by: selection.ended_by.map(|early| early.to_string()),
        fingerprint: market.panel.fingerprint(),
        training_refused: folio::train::training_split(&config, &market).err().map(|e| e.to_string()),
        data_warnings: folio::data::inspect::doubts(&market.panel)
            .into_iter()
            .map(|doubt| doubt.text)
            .collect(),
        decisions_from: index.label(range.first),
        decisions_to: index.label(range.last),
        warm_up_periods: market.first_observable(),
        observation_values: market.layout().len(),
        settings: config.clone(),
        policies: summaries,
    };
    Ok(Checked { output, config, market, range })
}

/// The data, features, costs and decisions the check ran with.
fn print_setup(checked: &Checked, period: PeriodName) {
    let Checked { output, config, market, range } = checked;
    println!("config     {}", output.config);
    println!(
        "data       {} ({}, {} .. {}, {} periods, {} a year)",
        output.data,
        folio::report::count(output.assets.len(), "asset"),
        output.first,
        output.last,
        market.n_periods(),
        output.periods_per_year
    );
    for note in output.started_by.iter().chain(&output.ended_by) {
        println!("           {note}");
    }
    println!("fingerprint {}", output.fingerprint);
    if let Some(why) = &output.training_refused {
        println!("warning    folio train would refuse these periods: {why}");
    }
    for warning in &output.data_warnings {
        println!("warning    {warning}");
    }
    println!(
        "features   {} x window {} per asset (warm-up {} periods); observation {} values",
        config.features.features.iter().map(|f| f.name()).collect::<Vec<_>>().join(", "),
        market.layout().window,
        output.warm_up_periods,
        output.observation_values
    );
    println!(
        "costs      {}, buy {:.3}%, sell {:.3}%; reward {}; rebalance every {}; horizon {}",
        config.costs.model.name(),
        100.0 * config.costs.buy,
        100.0 * config.costs.sell,
        config.reward.name(),
        config.episode.rebalance_every,
        if config.episode.horizon == 0 {
            "whole span".to_string()
        } else {
            config.episode.horizon.to_string()
        }
    );
    println!(
        "decisions  {}: {} .. {} ({} periods)",
        period.words(),
        output.decisions_from,
        output.decisions_to,
        range.periods()
    );
}

/// One row per policy.
fn print_policies(policies: &[PolicySummary]) {
    println!();
    println!(
        "{:<14} {:>8} {:>8} {:>12} {:>12} {:>10} {:>10} {:>12}",
        "policy", "episodes", "steps", "final value", "mean reward", "turnover", "costs", "steps/s"
    );
    for s in policies {
        println!(
            "{:<14} {:>8} {:>8} {:>12.4} {:>12.6} {:>10.4} {:>10.4} {:>12.0}",
            s.policy,
            s.episodes,
            s.steps,
            s.mean_final_value,
            s.mean_reward,
            s.mean_turnover,
            s.mean_costs,
            s.steps_per_second
        );
    }
}
