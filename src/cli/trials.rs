use anyhow::Result;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;

use folio::registry::{self, Sample, TrialRecord};

#[derive(Debug, Args)]
pub struct TrialsArgs {
    /// Trial registry (default: $FOLIO_REGISTRY, else checkpoints/trials.jsonl).
    #[arg(long)]
    registry: Option<PathBuf>,
    /// Only trials on the data with this fingerprint (or a prefix of it).
    #[arg(long)]
    data: Option<String>,
    #[command(flatten)]
    output: super::args::JsonArgs,
}

#[derive(Serialize)]
struct DataCount {
    data_fingerprint: String,
    trials: usize,
}

#[derive(Serialize)]
struct Listing {
    registry: PathBuf,
    /// Oldest first.
    trials: Vec<TrialRecord>,
    /// Trials per data fingerprint, recorded on exactly that data. The `N` of a run's Deflated
    /// Sharpe Ratio also counts the trials on shorter cuts of its history, which this listing
    /// cannot tell without the prices: each data line shows its dates.
    by_data: Vec<DataCount>,
    /// Positions in `trials` of records that repeat an earlier one (the same configuration,
    /// data and seed, recorded again): listed, but counted once in `by_data`.
    repeats: Vec<usize>,
}

pub fn run(args: TrialsArgs) -> Result<()> {
    let path = registry::resolve(args.registry);
    let mut trials = registry::read(&path)?;
    let recorded = trials.len();
    if let Some(prefix) = &args.data {
        trials.retain(|t| t.data_fingerprint.starts_with(prefix.as_str()));
    }
    if trials.is_empty() && recorded > 0 && !args.output.json {
        // The registry is not empty: the filter found nothing, which is another thing to say.
        println!(
            "none of the {recorded} trials in {} is on data {}",
            path.display(),
            args.data.as_deref().unwrap_or_default()
        );
        return Ok(());
    }
    // Newest last: file order is append order, and a stable sort keeps it among equal times.
    trials.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
    let by_data = registry::count_by_data(&trials)
        .into_iter()
        .map(|(data_fingerprint, trials)| DataCount { data_fingerprint, trials })
        .collect();
    let repeats =
        registry::repeated(&trials).iter().enumerate().filter(|(_, r)| **r).map(|(i, _)| i).collect();
    let listing = Listing { registry: path, trials, by_data, repeats };
    if args.output.json {
        return super::print_json(&listing);
    }
    print_table(&listing);
    Ok(())
}

fn short(text: &str, n: usize) -> &str {
    text.get(..n).unwrap_or(text)
}

fn print_table(listing: &Listing) {
    if listing.trials.is_empty() {
        println!("no trials recorded in {}", listing.registry.display());
        return;
    }
    println!(
        "{:<19} {:<12} {:<16} {:>5} {:<12} {:<12} {:<27} {:>14}",
        "time (UTC)", "command", "algo/net", "seed", "config", "data", "period", "Sharpe"
    );
    for (i, t) in listing.trials.iter().enumerate() {
        let sample = match t.figures.sample {
            Sample::Validation => "val",
            Sample::OutOfSample => "OOS",
        };
        let repeat = if listing.repeats.contains(&i) { " repeat" } else { "" };
        println!(
            "{:<19} {:<12} {:<16} {:>5} {:<12} {:<12} {:<27} {:>8.3} ({sample}){repeat}",
            short(&t.timestamp, 19).replace('T', " "),
            t.command.to_string(),
            format!("{}/{}", t.algo, t.net),
            t.seed,
            short(&t.config_hash, 12),
            short(&t.data_fingerprint, 12),
            format!("{}..{}", t.figures.period.0, t.figures.period.1),
            t.figures.sharpe
        );
    }
    println!();
    for d in &listing.by_data {
        let file = listing.trials.iter().rev().find(|t| t.data_fingerprint == d.data_fingerprint);
        let dates = file
            .and_then(|t| t.span.as_ref())
            .map(|span| format!(", {}..{}", span.first, span.last))
            .unwrap_or_default();
        println!(
            "data {} ({}{dates}): {} trial{}",
            short(&d.data_fingerprint, 12),
            file.map(|t| t.data.as_str()).unwrap_or("?"),
            d.trials,
            if d.trials == 1 { "" } else { "s" }
        );
    }
    println!("(Sharpe annualized, after costs; val = validation period, OOS = stitched walk-forward tests)");
    if !listing.repeats.is_empty() {
        println!("(repeat: the same configuration, data and seed as an earlier record, counted once)");
    }
}
