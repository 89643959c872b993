use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

use folio::backtest::PolicyId;
use folio::report::plot::{self, PlotSize, Series};
use folio::report::saved::{SavedReport, read_report};

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
    /// Write over --out if that file already exists.
    #[arg(long)]
    force: bool,
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

/// A multi-seed run folder holds no one report or training log: name the folders that do.
fn refuse_run_folder(folder: &Path, report_json: &Path) -> Result<()> {
    let seeds = super::eval::seed_folders(folder);
    if report_json.exists() || folder.join("train_log.csv").exists() || seeds.is_empty() {
        return Ok(());
    }
    // The ensemble's evaluations, named for their periods: the first by name is offered.
    let mut evaluations: Vec<std::path::PathBuf> = std::fs::read_dir(folder)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    evaluations.retain(|p| {
        p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("ensemble"))
            && p.join("report.json").exists()
    });
    evaluations.sort();
    let evaluated = if let Some(ensemble) = evaluations.first() {
        format!("{} (its ensemble's evaluation)", ensemble.display())
    } else {
        format!("the folder `folio eval --checkpoint {}` writes for its ensemble", folder.display())
    };
    anyhow::bail!(
        "{} is a multi-seed run with nothing of its own to draw: plot {} (a seed's training curves), or {evaluated}",
        folder.display(),
        seeds[0].display()
    )
}

pub fn run(args: PlotArgs) -> Result<()> {
    anyhow::ensure!(
        args.report.exists(),
        "{} does not exist: give a folder that eval, walk-forward, backtest or train wrote, or its report.json",
        args.report.display()
    );
    let folder = if args.report.is_dir() {
        args.report.clone()
    } else {
        args.report.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let report_json = folder.join("report.json");
    refuse_run_folder(&folder, &report_json)?;
    // A checkpoint folder has no report; its pictures come from its CSV files alone.
    let saved = if report_json.exists() { Some(read_report(&report_json)?) } else { None };
    let headline = match &saved {
        Some(SavedReport::WalkForward { headline, .. }) => Some(*headline),
        _ => None,
    };
    let kind = args.kind.unwrap_or(if folder.join("train_log.csv").exists() {
        Kind::Training
    } else if headline.is_some() {
        Kind::WalkForward
    } else {
        Kind::Equity
    });
    let name = format!("{kind:?}").to_lowercase().replace("walkforward", "walk_forward");
    // Redrawing a report's own picture replaces it; anything else named by --out is the user's.
    if let Some(out) = &args.out {
        anyhow::ensure!(
            out.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")),
            "--out {} does not end in .png: plot writes a PNG picture",
            out.display()
        );
        folio::files::check_writable_output(out, args.force)?;
    }
    let out = args.out.clone().unwrap_or_else(|| folder.join(format!("{name}.png")));
    let size = PlotSize { width: args.width, height: args.height };
    match kind {
        Kind::Equity => {
            let (labels, series) = wealth(&folder, headline)?;
            plot::equity(&out, &spanning("Wealth", &labels), &labels, &series, args.log_scale, size)?;
        }
        Kind::Drawdown => {
            let (labels, series) = wealth(&folder, headline)?;
            plot::drawdown(&out, &spanning("Drawdown", &labels), &labels, &series, size)?;
        }
        Kind::Weights => {
            let (labels, columns) = read_columns(&folder.join("weights.csv"))?;
            let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
            let rows: Vec<Vec<f64>> =
                (0..labels.len()).map(|i| columns.iter().map(|(_, c)| c[i]).collect()).collect();
            plot::weights(&out, "Agent weights", &labels, &names, &rows, 8, size)?;
        }
        Kind::Training => training(&folder.join("train_log.csv"), &out, size)?,
        Kind::WalkForward => {
            let Some(SavedReport::WalkForward { folds, .. }) = &saved else {
                bail!("{} is not a walk-forward report", report_json.display());
            };
            let (labels, series) = wealth(&folder, headline)?;
            let title = "Walk-forward: stitched out-of-sample wealth";
            plot::walk_forward(&out, title, &labels, &series, folds, size)?;
        }
    }
    println!("wrote {}", out.display());
    Ok(())
}

/// The pictured policies' wealth in `equity.csv`, with the agent emphasized as the command that
/// wrote the folder drew it: the headline in a walk-forward folder, else the agent of an
/// evaluation (one seed's, or the ensemble's).
fn wealth(folder: &Path, headline: Option<PolicyId>) -> Result<(Vec<String>, Vec<Series>)> {
    let (labels, columns) = read_columns(&folder.join("equity.csv"))?;
    let is_agent = |id: PolicyId| headline.map_or(id.is_agent(), |headline| id == headline);
    let drawn = folio::report::pictured_among(columns.iter().filter_map(|(name, _)| name.parse().ok()));
    let series = columns
        .into_iter()
        .filter_map(|(name, values)| {
            let id: PolicyId = name.parse().ok()?;
            drawn(id).then(|| Series { emphasis: is_agent(id), name, values })
        })
        .collect();
    Ok((labels, series))
}

/// `Wealth, 2018-01-02 .. 2022-12-28`, as the command that wrote the folder titled it.
fn spanning(title: &str, labels: &[String]) -> String {
    match (labels.first(), labels.last()) {
        (Some(first), Some(last)) => format!("{title}, {first} .. {last}"),
        _ => title.to_string(),
    }
}

/// Training curves from a checkpoint's `train_log.csv`, whose first column, the update number,
/// labels its rows; validation Sharpe ratios are blank where no validation ran.
fn training(log: &Path, out: &Path, size: PlotSize) -> Result<()> {
    let (labels, columns) = read_columns(log)?;
    let column = |name: &str| -> Result<Vec<f64>> {
        columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.clone())
            .with_context(|| format!("{} has no column {name}", log.display()))
    };
    let updates = labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            l.parse::<f64>()
                .with_context(|| format!("{}, line {}: update '{l}' is not a number", log.display(), i + 2))
        })
        .collect::<Result<Vec<f64>>>()?;
    let (reward, sharpe) = (column("mean_reward")?, column("validation_sharpe")?);
    let (val_updates, val_sharpe): (Vec<f64>, Vec<f64>) =
        updates.iter().zip(&sharpe).filter(|(_, s)| s.is_finite()).map(|(u, s)| (*u, *s)).unzip();
    plot::training(out, "Training", &updates, &reward, &val_updates, &val_sharpe, size)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A redrawn picture emphasizes the agent the original did: the ensemble of a multi-seed
    /// evaluation, one seed's agent, or a walk-forward's headline among its seeds.
    #[test]
    fn a_redrawn_picture_emphasizes_the_agent_its_folder_was_drawn_with() {
        let dir = tempfile::tempdir().unwrap();
        let emphasized = |header: &str, headline: Option<PolicyId>| -> Vec<String> {
            let csv = format!("period,{header}\n2020-01-02,1,1,1\n2020-01-03,1.01,1.02,1.03\n");
            std::fs::write(dir.path().join("equity.csv"), csv).unwrap();
            let (_, series) = wealth(dir.path(), headline).unwrap();
            series.into_iter().filter(|s| s.emphasis).map(|s| s.name).collect()
        };
        assert_eq!(emphasized("agent (ensemble),equal weight,buy and hold", None), ["agent (ensemble)"]);
        assert_eq!(emphasized("agent,equal weight,buy and hold", None), ["agent"]);
        assert!(emphasized("equal weight,buy and hold,EG", None).is_empty());
        let headline = Some(PolicyId::Ensemble);
        assert_eq!(
            emphasized("agent (seed 0),agent (ensemble),equal weight", headline),
            ["agent (ensemble)"]
        );
    }
}
