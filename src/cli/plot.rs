use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

use folio::report::plot::{self, FoldSpan, PlotSize, Series};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Equity,
    Drawdown,
    Weights,
    Training,
    WalkForward,
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// A folder written by `folio eval` or `folio walk-forward`, a checkpoint folder (training
    /// curves), or a report.json in one of them.
    report: PathBuf,
    /// What to draw (default: what the folder holds: training curves for a checkpoint, the
    /// walk-forward picture for a walk-forward report, else equity).
    #[arg(long, value_enum)]
    kind: Option<Kind>,
    /// Where to write the PNG (default: <kind>.png in the report's folder).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Logarithmic wealth axis (equity).
    #[arg(long)]
    log_scale: bool,
    #[arg(long, default_value_t = 1200)]
    width: u32,
    #[arg(long, default_value_t = 700)]
    height: u32,
}

/// Named numeric columns.
type Columns = Vec<(String, Vec<f64>)>;

/// Columns of a CSV whose first column labels the rows: (labels, columns).
fn read_columns(path: &Path) -> Result<(Vec<String>, Columns)> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let names: Vec<String> = reader.headers()?.iter().skip(1).map(String::from).collect();
    let mut labels = Vec::new();
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for (i, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        labels.push(record.get(0).unwrap_or_default().to_string());
        for (j, column) in columns.iter_mut().enumerate() {
            let cell = record.get(j + 1).unwrap_or_default();
            column.push(if cell.is_empty() {
                f64::NAN
            } else {
                cell.parse().with_context(|| {
                    format!(
                        "{}, line {}, column {}: '{cell}' is not a number",
                        path.display(),
                        i + 2,
                        names[j]
                    )
                })?
            });
        }
    }
    Ok((labels, names.into_iter().zip(columns).collect()))
}

fn json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

pub fn run(args: PlotArgs) -> Result<()> {
    let folder = if args.report.is_dir() {
        args.report.clone()
    } else {
        args.report.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let report_json = folder.join("report.json");
    let walk_forward = report_json.exists() && json(&report_json)?.get("folds").is_some();
    let kind = args.kind.unwrap_or(if folder.join("train_log.csv").exists() {
        Kind::Training
    } else if walk_forward {
        Kind::WalkForward
    } else {
        Kind::Equity
    });
    let name = format!("{kind:?}").to_lowercase().replace("walkforward", "walk_forward");
    let out = args.out.clone().unwrap_or_else(|| folder.join(format!("{name}.png")));
    let size = PlotSize { width: args.width, height: args.height };
    let emphasized = |name: &str, median_seed: Option<u64>| match median_seed {
        Some(seed) => name == format!("agent (seed {seed})"),
        None => name == "agent",
    };
    let median_seed =
        if walk_forward { json(&report_json)?.get("median_seed").and_then(|v| v.as_u64()) } else { None };
    match kind {
        Kind::Equity | Kind::Drawdown => {
            let (labels, columns) = read_columns(&folder.join("equity.csv"))?;
            let series: Vec<Series> = columns
                .into_iter()
                .filter(|(name, _)| name.parse().is_ok_and(folio::report::pictured))
                .map(|(name, values)| Series { emphasis: emphasized(&name, median_seed), name, values })
                .collect();
            if kind == Kind::Equity {
                plot::equity(&out, "Wealth", &labels, &series, args.log_scale, size)?;
            } else {
                plot::drawdown(&out, "Drawdown", &labels, &series, size)?;
            }
        }
        Kind::Weights => {
            let (labels, columns) = read_columns(&folder.join("weights.csv"))?;
            let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
            let rows: Vec<Vec<f64>> =
                (0..labels.len()).map(|i| columns.iter().map(|(_, c)| c[i]).collect()).collect();
            plot::weights(&out, "Agent weights", &labels, &names, &rows, 8, size)?;
        }
        Kind::Training => {
            // The log's first column, the update number, labels its rows.
            let (labels, columns) = read_columns(&folder.join("train_log.csv"))?;
            let column = |name: &str| -> Result<Vec<f64>> {
                columns
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, c)| c.clone())
                    .with_context(|| format!("train_log.csv has no column {name}"))
            };
            let updates: Vec<f64> = labels.iter().map(|l| l.parse().unwrap_or(f64::NAN)).collect();
            let (reward, sharpe) = (column("mean_reward")?, column("validation_sharpe")?);
            let (val_updates, val_sharpe): (Vec<f64>, Vec<f64>) =
                updates.iter().zip(&sharpe).filter(|(_, s)| s.is_finite()).map(|(u, s)| (*u, *s)).unzip();
            plot::training(&out, "Training", &updates, &reward, &val_updates, &val_sharpe, size)?;
        }
        Kind::WalkForward => {
            if !walk_forward {
                bail!("{} is not a walk-forward report", report_json.display());
            }
            let report = json(&report_json)?;
            let (labels, columns) = read_columns(&folder.join("equity.csv"))?;
            let spans = report
                .get("fold_spans")
                .and_then(|v| v.as_array())
                .context("report.json has no fold_spans")?;
            let folds_json =
                report.get("folds").and_then(|v| v.as_array()).context("report.json has no folds")?;
            let mut folds = Vec::new();
            for (span, fold) in spans.iter().zip(folds_json) {
                let start = span.get(0).and_then(|v| v.as_u64()).unwrap_or(0) as usize;
                let end = span.get(1).and_then(|v| v.as_u64()).unwrap_or(0) as usize;
                let agent_sharpe = fold["seeds"]
                    .as_array()
                    .and_then(|seeds| seeds.iter().find(|s| s["seed"].as_u64() == median_seed))
                    .and_then(|s| s["out_of_sample"]["sharpe"].as_f64())
                    .unwrap_or(f64::NAN);
                let equal_weight_sharpe = fold["baselines"]
                    .as_array()
                    .and_then(|b| b.iter().find(|p| p["policy"] == "equal weight"))
                    .and_then(|p| p["metrics"]["sharpe"].as_f64())
                    .unwrap_or(f64::NAN);
                folds.push(FoldSpan { start, end, agent_sharpe, equal_weight_sharpe });
            }
            let series: Vec<Series> = columns
                .into_iter()
                .filter(|(name, _)| name.parse().is_ok_and(folio::report::pictured))
                .map(|(name, values)| Series { emphasis: emphasized(&name, median_seed), name, values })
                .collect();
            plot::walk_forward(
                &out,
                "Walk-forward: stitched out-of-sample wealth",
                &labels,
                &series,
                &folds,
                size,
            )?;
        }
    }
    println!("wrote {}", out.display());
    Ok(())
}
