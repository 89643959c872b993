use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

use super::rebalance::RebalanceArgs;
use folio::backtest::PolicyId;
use folio::backtest::rebalance::RebalanceRule;
use folio::data::Stamp;
use folio::env::EnvSettings;
use folio::env::config::{DEFAULT_CONFIG, DataConfig, EnvConfig};
use folio::eval::evaluate::{
    BaselineRequest, EvalRequest, backtest_baselines_showing, compare_baseline_rebalancing,
    compare_rebalancing, default_output, evaluate_showing,
};
use folio::files::OutputFolder;
use folio::metrics::sharpe_difference::Standing;
use folio::report;
use folio::report::html::Provenance;

#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// Strategy to run (equal-weight, buy-and-hold, bcrp, olmar, ...), or `all`. Repeatable.
    #[arg(long, required = true)]
    strategy: Vec<super::args::Strategies>,
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
    #[arg(long, allow_negative_numbers = true)]
    cost: Option<f64>,
    /// Periods per year for annualizing (default: the config's; with --data, the usual value
    /// for how often that file's dated rows come, 252 for undated rows).
    #[arg(long, value_parser = super::args::periods_per_year)]
    periods_per_year: Option<f64>,
    /// Periods between rebalancing decisions, overriding the config.
    #[arg(long)]
    rebalance_every: Option<usize>,
    #[command(flatten)]
    rebalancing: RebalanceArgs,
    /// Output folder for report.json, equity.csv and report.html (default:
    /// runs/backtest-<data>-<from>-<to>, numbered if taken), or of --compare-rebalancing
    /// (default: runs/rebalancing-<from>-<to>).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    replace: super::args::Replace,
    /// Allocation limits for every strategy, overriding the config's.
    #[command(flatten)]
    risk: super::risk::RiskArgs,
    #[command(flatten)]
    output: super::args::JsonArgs,
}

/// The config's market settings over whole spans, as the flags override them.
fn backtest_settings(args: &BacktestArgs, config: &EnvConfig) -> Result<EnvSettings> {
    let mut settings = EnvSettings::from_config(config);
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
    if let Some((profile, source)) = args.risk.resolve()? {
        if !args.output.json {
            println!("{source}");
        }
        settings.limits = profile.limits();
    }
    Ok(settings)
}

pub fn backtest(args: BacktestArgs) -> Result<()> {
    let claimed = args.out.as_deref().map(|out| OutputFolder::claim(out, args.replace.force)).transpose()?;
    let config = EnvConfig::load(&args.config)?;
    let settings = backtest_settings(&args, &config)?;
    // The config's assets, rows and frequency describe its own data file, not another one.
    let (data, assets, from, to, configured) = match args.data {
        Some(file) => (file, Vec::new(), args.from, args.to, None),
        None => (
            config.data.file.clone(),
            config.data.assets.clone(),
            args.from.or(config.data.from),
            args.to.or(config.data.to),
            Some(config.data.periods_per_year),
        ),
    };
    // Another file's rows are read for their frequency only when no value is given.
    let periods_per_year = args.periods_per_year.or(configured).unwrap_or_else(|| {
        DataConfig { missing: config.data.missing, ..DataConfig::new(data.clone()) }
            .periods_per_year_of_rows()
    });
    let market = DataConfig {
        file: data.clone(),
        assets: assets.clone(),
        from,
        to,
        periods_per_year,
        missing: config.data.missing,
    };
    let flag_sets_frequency = args.periods_per_year.is_some() || configured.is_none();
    super::warn_about_data(&EnvConfig { data: market, ..config.clone() }, "", flag_sets_frequency);
    let request = BaselineRequest {
        data,
        missing: config.data.missing,
        assets,
        strategies: super::args::Strategies::expand(&args.strategy),
        from,
        to,
        settings,
        periods_per_year,
        rebalance: args.rebalancing.rebalance,
        features: config.features.clone(),
    };
    if args.rebalancing.compare_rebalancing {
        let comparison = compare_baseline_rebalancing(
            request,
            &super::args::first_of_each(args.rebalancing.rules.clone()),
        )?;
        let default =
            PathBuf::from("runs").join(format!("rebalancing-{}-{}", comparison.from, comparison.to));
        return super::rebalance::show(&comparison, claimed, &default, args.output.json);
    }
    let (report, logs) =
        backtest_baselines_showing(request, super::progress::shown(args.output.json).as_ref())?;
    let folder = OutputFolder::or_fresh(claimed, &report::backtest::default_output(&report))?;
    let out = folder.path().to_path_buf();
    let page = report::backtest::write_backtest(&out, &report, &logs, &Provenance::of_this_process())?;
    folder.finish();
    if args.output.json {
        return super::print_json_in(&report, &out);
    }
    println!(
        "{}: {}, {} .. {} ({} periods), costs buy {:.3}% / sell {:.3}%, rebalance every {}, rule {}",
        report.data.display(),
        folio::report::count(report.assets.len(), "asset"),
        report.from,
        report.to,
        report.periods,
        100.0 * report.costs.buy,
        100.0 * report.costs.sell,
        report.rebalance_every,
        report.rebalance
    );
    println!("limits: {}", report.limits.describe(Some(report.assets.len())));
    let rows: Vec<(String, &folio::metrics::Metrics)> =
        report.results.iter().map(|r| (r.policy.to_string(), &r.metrics)).collect();
    print!("{}", report::text::metrics_table(&rows));
    println!("wrote report.json, equity.csv and {}", page.display());
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
    /// Another price file holding the agent's assets (default: the file it was trained on,
    /// found from the checkpoint folder wherever it was trained).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Act on prices that differ from those the agent was trained on; the report says so.
    #[arg(long)]
    allow_other_data: bool,
    /// Transaction cost rate on both buys and sells, overriding the training config.
    #[arg(long, allow_negative_numbers = true)]
    cost: Option<f64>,
    #[command(flatten)]
    rebalancing: RebalanceArgs,
    /// Allocation limits for the agent and the baselines (default: the limits the checkpoint was
    /// trained under).
    #[command(flatten)]
    risk: super::risk::RiskArgs,
    /// Which weights: the best on validation, or the last.
    #[arg(long, value_enum, default_value_t = super::args::WeightsArg::Best)]
    weights: super::args::WeightsArg,
    /// Output folder (default: <checkpoint>/eval-<from>-<to>, or <checkpoint>/rebalancing-<from>-<to>
    /// with --compare-rebalancing; numbered if taken). For a run of several seeds, each seed's
    /// beside it and the ensemble's in <run>/ensemble-eval-<from>-<to>, or, with --out DIR,
    /// DIR/seed-* and DIR/ensemble.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    replace: super::args::Replace,
    #[command(flatten)]
    run: super::args::RunArgs,
}

/// The checkpoints `folder` stands for: itself, when it is one checkpoint, or the seeds of a
/// multi-seed run, in seed order (whose ensemble is what the run deploys).
pub(super) fn checkpoints_in(folder: &Path) -> Result<Vec<PathBuf>> {
    folio::train::checkpoint::check_folder(folder)?;
    if folder.join(folio::train::checkpoint::META).exists() {
        return Ok(vec![folder.to_path_buf()]);
    }
    let seeds = folio::train::seed_folders(folder);
    warn_of_seeds_not_as_started(folder, &seeds);
    anyhow::ensure!(
        !seeds.is_empty(),
        "{} holds no meta.json and no seed-* folders: not a folio checkpoint",
        folder.display()
    );
    Ok(seeds)
}

/// Says so when a multi-seed run's seed folders are not the seeds it was started with: fewer
/// (stopped before it reached them) or others (a seed folder added by hand). Either way what is
/// evaluated is not the ensemble the finished run deploys.
fn warn_of_seeds_not_as_started(run: &Path, seeds: &[PathBuf]) {
    let Some(planned) = folio::train::PlannedSeeds::of(run) else { return };
    let started: Vec<u64> = (0..planned.seeds as u64).filter_map(|k| planned.first.checked_add(k)).collect();
    let held: Vec<u64> = seeds.iter().filter_map(|dir| folio::train::seed_of_folder(dir)).collect();
    let missing: Vec<String> =
        started.iter().filter(|seed| !held.contains(seed)).map(|seed| seed.to_string()).collect();
    if !missing.is_empty() {
        eprintln!(
            "warning: {} was started with {} and holds no checkpoint of seed {}: the run stopped before \
             them, so this is not the ensemble the finished run deploys (`folio train --resume --out {}` \
             trains them)",
            run.display(),
            folio::report::count(planned.seeds, "seed"),
            missing.join(", "),
            run.display()
        );
    }
    let added: Vec<String> = held
        .iter()
        .filter(|seed| !started.contains(seed))
        .map(|&seed| folio::train::seed_folder_name(seed))
        .collect();
    if !added.is_empty() {
        eprintln!(
            "warning: {} was started with seeds {} to {} and also holds {}: they are evaluated as \
             members of its ensemble, which is not the ensemble its training deployed",
            run.display(),
            planned.first,
            started.last().unwrap_or(&planned.first),
            added.join(", ")
        );
    }
}

impl EvalArgs {
    /// What these flags ask of `--checkpoint`.
    fn request(&self) -> Result<EvalRequest> {
        Ok(EvalRequest {
            checkpoint: self.checkpoint.clone(),
            ensemble: Vec::new(),
            weights: self.weights.into(),
            data: self.data.clone(),
            allow_other_data: self.allow_other_data,
            from: self.from,
            to: self.to,
            cost: self.cost,
            risk_profile: self.risk.resolve()?.map(|(profile, source)| {
                eprintln!("{source}");
                profile
            }),
            device: self.run.device(),
            rebalance: self.rebalancing.rebalance,
        })
    }
}

pub fn eval(args: EvalArgs) -> Result<()> {
    if !args.checkpoint.join(folio::train::checkpoint::META).exists() {
        let seeds = folio::train::seed_folders(&args.checkpoint);
        warn_of_seeds_not_as_started(&args.checkpoint, &seeds);
        if !seeds.is_empty() {
            if args.rebalancing.compare_rebalancing {
                return eval_rebalancing(args, &seeds);
            }
            return eval_seeds(args, seeds);
        }
    }
    if args.rebalancing.compare_rebalancing {
        return eval_rebalancing(args, &[]);
    }
    eval_one(args)
}

/// The agent under each rebalancing rule: the checkpoint's, or the ensemble of a run's `seeds`
/// (what the run deploys).
fn eval_rebalancing(args: EvalArgs, seeds: &[PathBuf]) -> Result<()> {
    let claimed = args.out.as_deref().map(|out| OutputFolder::claim(out, args.replace.force)).transpose()?;
    let mut request = EvalRequest { rebalance: RebalanceRule::Every, ..args.request()? };
    if let Some((first, others)) = seeds.split_first() {
        request.checkpoint = first.clone();
        request.ensemble = others.to_vec();
    }
    let mut comparison =
        compare_rebalancing(request, &super::args::first_of_each(args.rebalancing.rules.clone()))?;
    comparison.checkpoint = Some(args.checkpoint.clone());
    let default = args.checkpoint.join(format!("rebalancing-{}-{}", comparison.from, comparison.to));
    super::rebalance::show(&comparison, claimed, &default, args.run.json)
}

/// Every seed of a multi-seed run on the same period: each agent, the baselines once, and the
/// median and spread of the agents' figures.
fn eval_seeds(args: EvalArgs, seeds: Vec<PathBuf>) -> Result<()> {
    // One request for every seed (a questionnaire is read once), each pointed at its folder.
    let request = args.request()?;
    // With --out, the seeds' folders and the ensemble's go into it; else beside each checkpoint.
    let claimed = args.out.as_deref().map(|out| OutputFolder::claim(out, args.replace.force)).transpose()?;
    let mut reports = Vec::new();
    let mut written = Vec::new();
    for dir in &seeds {
        let request = EvalRequest { checkpoint: dir.clone(), ..request.clone() };
        let evaluation = evaluate_showing(request, super::progress::shown(args.run.json).as_ref())?;
        let destination = match &args.out {
            Some(out) => out.join(dir.file_name().unwrap_or_default()),
            None => default_output(dir, &evaluation.report),
        };
        let folder = OutputFolder::fresh(&destination)?;
        report::outputs::write_evaluation(folder.path(), &evaluation)?;
        report::html::write_run_page(folder.path(), &Provenance::of_this_process())?;
        written.push(folder.path().to_path_buf());
        folder.finish();
        reports.push(evaluation.report);
    }
    // The seeds deployed together: the run's headline, since it selects none of them.
    let request = EvalRequest { checkpoint: seeds[0].clone(), ensemble: seeds[1..].to_vec(), ..request };
    let ensemble = evaluate_showing(request, super::progress::shown(args.run.json).as_ref())?;
    // Named for its period, as each seed's is, so that evaluations of several periods read apart.
    let destination = match &args.out {
        Some(out) => out.join("ensemble"),
        None => {
            let period = default_output(&args.checkpoint, &ensemble.report);
            let name = period.file_name().unwrap_or_default().to_string_lossy();
            args.checkpoint.join(format!("ensemble-{name}"))
        }
    };
    let folder = OutputFolder::fresh(&destination)?;
    let ensemble_out = folder.path().to_path_buf();
    report::outputs::write_evaluation(&ensemble_out, &ensemble)?;
    report::html::write_run_page(&ensemble_out, &Provenance::of_this_process())?;
    folder.finish();
    if let Some(claimed) = claimed {
        claimed.finish();
    }
    let agents: Vec<&folio::metrics::Metrics> = reports.iter().map(|r| r.agent()).collect();
    let spread = folio::metrics::MetricsSpread::of(&agents);
    if args.run.json {
        #[derive(serde::Serialize)]
        struct Seeds<'a> {
            /// The folder that holds every evaluation below: --out. Without it they go beside
            /// each checkpoint, and the folder that holds them is the run's, which holds the
            /// checkpoints too: `null`, so that no script cleans it up as an output.
            folder: Option<PathBuf>,
            /// Where each seed's evaluation was written, in the order of `runs`.
            folders: Vec<PathBuf>,
            runs: &'a [folio::eval::evaluate::EvalReport],
            ensemble_folder: PathBuf,
            ensemble: &'a folio::eval::evaluate::EvalReport,
            agent_spread: folio::metrics::MetricsSpread,
        }
        return super::print_json(&Seeds {
            folder: args.out.as_deref().map(super::absolute),
            folders: written.iter().map(|folder| super::absolute(folder)).collect(),
            runs: &reports,
            ensemble_folder: super::absolute(&ensemble_out),
            ensemble: &ensemble.report,
            agent_spread: spread,
        });
    }
    print_seeds(&args.checkpoint, &seeds, &reports, &ensemble.report, &spread, (&written, &ensemble_out));
    Ok(())
}

/// The text a multi-seed evaluation prints: each seed, the ensemble and the baselines, the
/// seeds' spread, and the headline.
fn print_seeds(
    run: &Path,
    seeds: &[PathBuf],
    reports: &[folio::eval::evaluate::EvalReport],
    ensemble: &folio::eval::evaluate::EvalReport,
    spread: &folio::metrics::MetricsSpread,
    (seed_outs, ensemble_out): (&[PathBuf], &Path),
) {
    let first = &reports[0];
    println!(
        "{} seeds of {} on {} .. {} ({} periods), {}",
        reports.len(),
        run.display(),
        first.from,
        first.to,
        first.periods,
        first.schedule()
    );
    println!("limits: {}", first.limits_applied);
    if let Some(warning) = &first.warning {
        println!("warning: {warning}");
    }
    let names: Vec<String> = seeds
        .iter()
        .map(|d| format!("agent {}", d.file_name().unwrap_or_default().to_string_lossy()))
        .collect();
    let mut rows: Vec<(String, &folio::metrics::Metrics)> =
        names.iter().cloned().zip(reports.iter().map(|r| r.agent())).collect();
    rows.push((PolicyId::Ensemble.to_string(), ensemble.agent()));
    rows.extend(
        first.results.iter().filter(|r| !r.policy.is_agent()).map(|r| (r.policy.to_string(), &r.metrics)),
    );
    print!("{}", report::text::metrics_table(&rows));
    println!();
    print!("{}", report::text::spread_table(spread));
    for (name, report) in names.iter().zip(reports) {
        println!("{name}: break-even: {}", report.cost_sensitivity.break_even);
    }
    let equal = first
        .results
        .iter()
        .find(|r| r.policy == PolicyId::EQUAL_WEIGHT)
        .map(|r| r.metrics.sharpe)
        .unwrap_or(f64::NAN);
    println!("ensemble: break-even: {}", ensemble.cost_sensitivity.break_even);
    let median = spread.sharpe.map(|s| s.median).unwrap_or(f64::NAN);
    let headline = ensemble.agent().sharpe;
    // The gap is judged as a single evaluation's verdict judges it: beyond noise or not.
    let gap = match ensemble.edge_over_equal_weight {
        Some(e) => format!(", a gap of {}", e.describe()),
        None => ", a gap too short to test".to_string(),
    };
    for warning in &ensemble.agent_warnings {
        println!("warning: ensemble: {}", warning.message);
    }
    if !(headline.is_finite() && equal.is_finite()) {
        // The ensemble's own verdict says why no ratio could be measured.
        println!("\n{}", ensemble.verdict);
    } else {
        println!(
            "\nThe ensemble's Sharpe ratio {headline:.2} {} equal weight's {equal:.2}{gap} (the seeds' median alone: {median:.2}).{}",
            match Standing::of(headline, equal, ensemble.edge_over_equal_weight.as_ref()) {
                Standing::Matches => "matches",
                Standing::Beats => "beats",
                Standing::Ahead => "is ahead of",
                Standing::Behind => "does not beat",
            },
            ensemble.caveat().unwrap_or_default()
        );
    }
    let seed_outs: Vec<String> = seed_outs.iter().map(|p| p.display().to_string()).collect();
    println!(
        "wrote each seed's report and pictures to {} and the ensemble's to {}",
        seed_outs.join(", "),
        ensemble_out.display()
    );
}

fn eval_one(args: EvalArgs) -> Result<()> {
    let claimed = args.out.as_deref().map(|out| OutputFolder::claim(out, args.replace.force)).transpose()?;
    let evaluation = evaluate_showing(args.request()?, super::progress::shown(args.run.json).as_ref())?;
    let report_data = &evaluation.report;
    let folder = OutputFolder::or_fresh(claimed, &default_output(&args.checkpoint, report_data))?;
    let out = folder.path().to_path_buf();
    report::outputs::write_evaluation(&out, &evaluation)?;
    report::html::write_run_page(&out, &Provenance::of_this_process())?;
    folder.finish();
    let sensitivity = &report_data.cost_sensitivity;
    if args.run.json {
        return super::print_json_in(report_data, &out);
    }
    println!(
        "{} ({}) on {} .. {} ({} periods), costs buy {:.3}% / sell {:.3}%, {}",
        args.checkpoint.display(),
        report_data.weights,
        report_data.from,
        report_data.to,
        report_data.periods,
        100.0 * report_data.costs.buy,
        100.0 * report_data.costs.sell,
        report_data.schedule()
    );
    println!("limits: {}", report_data.limits_applied);
    if let Some(warning) = &report_data.warning {
        println!("warning: {warning}");
    }
    let rows: Vec<(String, &folio::metrics::Metrics)> =
        report_data.results.iter().map(|r| (r.policy.to_string(), &r.metrics)).collect();
    print!("{}", report::text::metrics_table(&rows));
    println!("\nCAGR by cost rate:");
    print!("{}", report::text::cost_table(sensitivity));
    println!("\n{}", report_data.verdict);
    for warning in &report_data.agent_warnings {
        println!("warning: {}", warning.message);
    }
    println!("wrote report.json, equity.csv, weights.csv, pictures and report.html to {}", out.display());
    Ok(())
}
