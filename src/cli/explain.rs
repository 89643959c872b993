use anyhow::Result;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

use folio::data::Stamp;
use folio::eval::explain::{
    DEFAULT_STEPS, DecisionExplanation, ExplainReport, ExplainRequest, Method, PREVIOUS_WEIGHTS,
    PeriodExplanation, explain,
};
use folio::files::OutputFolder;
use folio::report;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MethodChoice {
    /// Integrated gradients (Sundararajan et al. 2017): complete up to the Riemann error.
    Ig,
    /// Gradient at the decision times the input's distance from the baseline: local only.
    GradInput,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Checkpoint folder of one seed, or a multi-seed run, whose ensemble (the average of its
    /// seeds' weights, what the run deploys) is explained.
    #[arg(long)]
    checkpoint: PathBuf,
    /// The decision to explain; a day without trading falls back to the nearest earlier one.
    #[arg(long)]
    date: Option<Stamp>,
    /// First decision of a period whose attributions are averaged.
    #[arg(long)]
    from: Option<Stamp>,
    /// The period's last close: the decisions explained run up to the one before it, whose
    /// outcome that close settles (`--date` explains the `--to` day's own decision).
    #[arg(long)]
    to: Option<Stamp>,
    #[arg(long, value_enum, default_value_t = MethodChoice::Ig)]
    method: MethodChoice,
    /// Integrated gradients: midpoint Riemann steps from the baseline to the input (1 to
    /// 100000; each holds a copy of the input in memory).
    #[arg(long, default_value_t = DEFAULT_STEPS, value_parser = integration_steps)]
    steps: usize,
    /// Which weights: the best on validation, or the last.
    #[arg(long, value_enum, default_value_t = super::args::WeightsArg::Best)]
    weights: super::args::WeightsArg,
    /// Output folder (default: <checkpoint>/explain-<day> or explain-<first>-<last>, named after
    /// the decisions explained, which a day without trading moves to the trading day before;
    /// numbered if taken).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    replace: super::args::Replace,
    #[command(flatten)]
    data: super::args::DataArgs,
    #[command(flatten)]
    run: super::args::RunArgs,
}

pub fn run(args: ExplainArgs) -> Result<()> {
    let mut ensemble = super::eval::checkpoints_in(&args.checkpoint)?;
    let checkpoint = ensemble.remove(0);
    let claimed = args.out.as_deref().map(|out| OutputFolder::claim(out, args.replace.force)).transpose()?;
    let method = match args.method {
        MethodChoice::Ig => Method::IntegratedGradients { steps: args.steps },
        MethodChoice::GradInput => Method::GradientTimesInput,
    };
    let report = explain(ExplainRequest {
        checkpoint,
        ensemble,
        weights: args.weights.into(),
        date: args.date,
        from: args.from,
        to: args.to,
        method,
        device: args.run.device(),
        data: args.data.choice(),
    })?;
    let folder = OutputFolder::or_fresh(claimed, &args.checkpoint.join(default_folder(&report)))?;
    let out = folder.path().to_path_buf();
    report::outputs::write_explanation(&out, &report)?;
    folder.finish();
    if args.run.json {
        return super::print_json_in(&report, &out);
    }
    let explained = match report.members.len() {
        1 => format!("{} ({})", report.checkpoint.display(), report.weights),
        n => format!(
            "{}: the ensemble of its {n} seeds, the average of their weights ({} of each)",
            args.checkpoint.display(),
            report.weights
        ),
    };
    println!(
        "{explained}, {}; the agent replayed from cash from {}",
        report.method.describe(),
        report.replayed_from
    );
    println!("baseline: {}", report.baseline);
    if let Some(unfinished) = &report.unfinished {
        println!("warning: {unfinished}");
    }
    if report.kept_reference {
        println!(
            "note: this run kept its untrained network, which is its reference portfolio (training did not \
             beat it on validation, or the gap could not be tested): no market input moves these weights; \
             --weights last explains the network as training left it"
        );
    }
    println!(
        "values in weight points (percentage points of the portfolio): how far each input group moved each weight from its baseline value"
    );
    if let Some(decision) = &report.decision {
        print_decision(&report, decision);
    }
    if let Some(period) = &report.period {
        print_period(&report, period);
    }
    println!("wrote explain.json and pictures to {}", out.display());
    Ok(())
}

fn print_decision(report: &ExplainReport, decision: &DecisionExplanation) {
    if let Some(note) = &decision.note {
        println!("note: {note}");
    }
    println!("\ndecision at the close of {}:", decision.date);
    let e = &decision.explanation;
    let columns = TableColumns {
        weights: &e.weights,
        baseline: &e.baseline_weights,
        attribution: &e.attribution,
        own: Some(&e.own_inputs),
        gap: Some(e.completeness_gap.as_slice()),
    };
    print_table(report, columns, true);
    print_largest(report, &e.attribution, true);
    println!("largest completeness gap: {:.1e} weight points", 100.0 * max_abs(&e.completeness_gap));
}

fn print_period(report: &ExplainReport, period: &PeriodExplanation) {
    let s = &period.summary;
    println!(
        "\n{} decisions, {} .. {}: signed mean (pushes on different days can cancel)",
        s.decisions, period.from, period.to
    );
    let columns = |attribution, own| TableColumns {
        weights: &s.mean_weights,
        baseline: &s.baseline_weights,
        attribution,
        own,
        gap: None,
    };
    print_table(report, columns(&s.mean_attribution, Some(&s.mean_own_inputs)), true);
    println!("\nmean absolute attribution (how much each group moves each weight at all):");
    print_table(report, columns(&s.mean_abs_attribution, None), false);
    print_largest(report, &s.mean_abs_attribution, false);
    println!(
        "largest completeness gap over the period: {:.1e} weight points",
        100.0 * s.max_abs_completeness_gap
    );
}

fn default_folder(report: &ExplainReport) -> String {
    match (&report.period, &report.decision) {
        (Some(period), _) => format!("explain-{}-{}", period.from, period.to),
        (None, Some(decision)) => format!("explain-{}", decision.date),
        (None, None) => "explain".into(),
    }
}

fn max_abs(values: &[f64]) -> f64 {
    values.iter().map(|v| v.abs()).fold(0.0, f64::max)
}

/// Rows: cash and each asset; columns: the weight, its baseline value, each group's attribution,
/// then the parts from the row's own inputs and from the other assets', and the completeness gap.
/// Everything in weight points. A table of absolute values (`signed` false) prints no signs.
fn print_table(report: &ExplainReport, columns: TableColumns<'_>, signed: bool) {
    let TableColumns { weights, baseline, attribution, own, gap } = columns;
    let short = |g: &str| if g == PREVIOUS_WEIGHTS { "prev weights".to_string() } else { g.to_string() };
    // Each group's column as wide as its name, so that its figures stand under it.
    let widths: Vec<usize> = report.groups.iter().map(|g| short(g).len().max(8)).collect();
    print!("{:<8} {:>7} {:>7} |", "weight", "value", "base");
    for (group, width) in report.groups.iter().zip(&widths) {
        print!(" {:>width$}", short(group));
    }
    if own.is_some() {
        print!(" | {:>7} {:>7}", "own", "others");
    }
    if gap.is_some() {
        print!(" {:>9}", "gap");
    }
    println!();
    for (j, name) in report.outputs.iter().enumerate() {
        print!("{name:<8} {:>7.2} {:>7.2} |", 100.0 * weights[j], 100.0 * baseline[j]);
        for (a, width) in attribution[j].iter().zip(&widths) {
            match signed {
                true => print!(" {:>+width$.3}", 100.0 * a),
                false => print!(" {:>width$.3}", 100.0 * a),
            }
        }
        // Own and others split a signed sum; of absolute values they would mean nothing.
        if let Some(own) = own {
            let own_total: f64 = own[j].iter().sum();
            let total: f64 = attribution[j].iter().sum();
            print!(" | {:>+7.3} {:>+7.3}", 100.0 * own_total, 100.0 * (total - own_total));
        }
        if let Some(gap) = gap {
            print!(" {:>+9.1e}", 100.0 * gap[j]);
        }
        println!();
    }
}

/// What one table of [`print_table`] shows.
struct TableColumns<'a> {
    weights: &'a [f64],
    baseline: &'a [f64],
    attribution: &'a [Vec<f64>],
    own: Option<&'a [Vec<f64>]>,
    gap: Option<&'a [f64]>,
}

/// The three largest entries of a table in plain words: signed pushes, or the sizes of a table
/// of absolute values.
fn print_largest(report: &ExplainReport, table: &[Vec<f64>], signed: bool) {
    let mut entries: Vec<(usize, usize, f64)> = table
        .iter()
        .enumerate()
        .flat_map(|(j, row)| row.iter().enumerate().map(move |(g, &a)| (j, g, a)))
        .collect();
    entries.sort_by(|a, b| b.2.abs().total_cmp(&a.2.abs()));
    let words: Vec<String> = entries
        .iter()
        .take(3)
        .map(|&(j, g, a)| {
            let (group, output) = (&report.groups[g], &report.outputs[j]);
            match signed {
                true => format!("{group} on {output} {:+.2} points", 100.0 * a),
                false => format!("{group} on {output} {:.2} points", 100.0 * a),
            }
        })
        .collect();
    let label = if signed { "largest" } else { "largest mean absolute" };
    println!("{label}: {}", words.join("; "));
}

/// `--steps` of integrated gradients: all are held at once, so a count past what memory holds
/// would end the process rather than the command.
fn integration_steps(text: &str) -> Result<usize, String> {
    const MAX_STEPS: usize = 100_000;
    let steps = super::args::at_least_one(text)?;
    if steps > MAX_STEPS {
        return Err(format!("must be at most {MAX_STEPS}"));
    }
    Ok(steps)
}
