use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

use folio::backtest::PolicyId;
use folio::report::plot::{self, PlotSize, Series};
use folio::report::saved::{SavedReport, Table, read_equity, read_report, read_table};

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
    /// Logarithmic wealth axis (the equity kind only).
    #[arg(long)]
    log_scale: bool,
    #[arg(long, default_value_t = 1200)]
    width: u32,
    #[arg(long, default_value_t = 700)]
    height: u32,
}

/// A multi-seed run folder holds no one report or training log: name the folders that do.
fn refuse_run_folder(folder: &Path, report_json: &Path) -> Result<()> {
    if report_json.exists() || folder.join(folio::train::checkpoint::LOG).exists() {
        return Ok(());
    }
    let seeds = folio::train::seed_folders(folder);
    if seeds.is_empty() {
        return refuse_evaluations_folder(folder, "plot");
    }
    // The ensemble's evaluations, named for their periods: the first by name is offered.
    let mut evaluations: Vec<std::path::PathBuf> = std::fs::read_dir(folder)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    evaluations.retain(|p| {
        p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("ensemble"))
            && p.join(folio::report::REPORT).exists()
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

/// An evaluation of several seeds writes a report for each and for their ensemble, in folders
/// of its own, and none beside them: name them.
pub(super) fn refuse_evaluations_folder(folder: &Path, command: &str) -> Result<()> {
    let mut reports: Vec<PathBuf> = std::fs::read_dir(folder)
        .map(|entries| {
            entries.flatten().map(|e| e.path()).filter(|p| p.join(folio::report::REPORT).is_file()).collect()
        })
        .unwrap_or_default();
    // The ensemble first: it is what the evaluation's headline is about.
    reports.sort_by_key(|p| {
        (!p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("ensemble")), p.clone())
    });
    match reports.first() {
        None => Ok(()),
        Some(first) => anyhow::bail!(
            "{} holds no report of its own but {} in its folders: {command} one of them, such as {}",
            folder.display(),
            reports.len(),
            first.display()
        ),
    }
}

/// The `equity.csv` of the report in `folder`, checked against the report.json beside it, so
/// that a file cut short, edited or another run's is refused, not drawn.
fn checked_equity(folder: &Path, report: Option<&SavedReport>) -> Result<Table> {
    let Some(report) = report else {
        bail!(
            "{} holds no report.json: give a folder that eval, walk-forward or backtest wrote",
            folder.display()
        );
    };
    Ok(read_equity(folder, report)?)
}

/// The folder that `report` (a folder, or a report.json in one) names.
fn report_folder(report: &Path) -> Result<PathBuf> {
    anyhow::ensure!(
        report.exists(),
        "{} does not exist: give a folder that eval, walk-forward, backtest or train wrote, or its report.json",
        report.display()
    );
    Ok(match report.is_dir() {
        true => report.to_path_buf(),
        false => report.parent().map(Path::to_path_buf).unwrap_or_default(),
    })
}

/// The folder's `weights.csv`, which an evaluation of one agent or a backtest of one strategy
/// writes.
fn read_weights(folder: &Path) -> Result<Table> {
    let weights_csv = folder.join(folio::report::WEIGHTS);
    if !weights_csv.is_file() {
        bail!(
            "{} holds no weights.csv: an evaluation of one agent, or a backtest of one strategy, writes one",
            folder.display()
        );
    }
    Ok(read_table(&weights_csv)?)
}

/// The kind of picture to draw, and its file's name: the one asked for, else what the folder
/// holds (a training's log, a walk-forward's report, else wealth).
fn chosen_kind(args: &PlotArgs, folder: &Path, walk_forward: bool) -> Result<(Kind, String)> {
    let kind = args.kind.unwrap_or(if folder.join(folio::train::checkpoint::LOG).exists() {
        Kind::Training
    } else if walk_forward {
        Kind::WalkForward
    } else {
        Kind::Equity
    });
    let name = format!("{kind:?}").to_lowercase().replace("walkforward", "walk_forward");
    // Said rather than ignored: only the equity picture has a wealth axis to put on a log scale.
    if args.log_scale && !matches!(kind, Kind::Equity) {
        bail!(
            "--log-scale puts the equity picture's wealth axis on a log scale, and the {name} picture has none: \
             add --kind equity"
        );
    }
    Ok((kind, name))
}

pub fn run(args: PlotArgs) -> Result<()> {
    let folder = report_folder(&args.report)?;
    let report_json = folder.join(folio::report::REPORT);
    refuse_run_folder(&folder, &report_json)?;
    // A checkpoint folder has no report; its pictures come from its CSV files alone.
    let saved = if report_json.exists() { Some(read_report(&report_json)?) } else { None };
    let walk_forward = saved.as_ref().and_then(|saved| saved.walk_forward.as_ref());
    let headline = walk_forward.map(|wf| wf.headline());
    let (kind, name) = chosen_kind(&args, &folder, headline.is_some())?;
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
    // In-sample figures say so in every picture, as the evaluation's verdict does.
    let in_sample = saved.as_ref().is_some_and(|saved| saved.in_sample);
    let spanning = |title: &str, labels: &[String]| {
        folio::report::outputs::in_sample_marked(spanning(title, labels), in_sample)
    };
    let size = PlotSize { width: args.width, height: args.height };
    let equity = || checked_equity(&folder, saved.as_ref());
    match kind {
        Kind::Equity => {
            let equity = equity()?;
            let (labels, series) = wealth(&equity, headline);
            plot::equity(&out, &spanning("Wealth", labels), labels, &series, args.log_scale, size)?;
        }
        Kind::Drawdown => {
            let equity = equity()?;
            let (labels, series) = wealth(&equity, headline);
            plot::drawdown(&out, &spanning("Drawdown", labels), labels, &series, size)?;
        }
        Kind::Weights => {
            let weights = read_weights(&folder)?;
            // The weights of whichever policy wrote the file: an eval's agent, a backtest's strategy.
            let (names, rows) = weights.rows();
            plot::weights(
                &out,
                &spanning("Weights", &weights.labels),
                &weights.labels,
                &names,
                &rows,
                8,
                size,
            )?;
        }
        Kind::Training => training(&folder.join(folio::train::checkpoint::LOG), &out, size)?,
        Kind::WalkForward => {
            let Some(wf) = walk_forward else {
                bail!("{} is not a walk-forward report", report_json.display());
            };
            let equity = equity()?;
            let (labels, series) = wealth(&equity, headline);
            let title = "Walk-forward: stitched out-of-sample wealth";
            plot::walk_forward(&out, title, labels, &series, &wf.test_spans, size)?;
        }
    }
    // A picture drawn into a folder of folio's outputs is one of them: `--force` may replace it.
    let _ = folio::files::record_output(&out);
    println!("wrote {}", out.display());
    Ok(())
}

/// The pictured policies' wealth in `equity.csv`, with the agent emphasized as the command that
/// wrote the folder drew it: the headline in a walk-forward folder, else the agent of an
/// evaluation (one seed's, or the ensemble's).
fn wealth(equity: &Table, headline: Option<PolicyId>) -> (&[String], Vec<Series>) {
    let is_agent = |id: PolicyId| headline.map_or(id.is_agent(), |headline| id == headline);
    let columns = &equity.columns;
    let drawn = folio::report::pictured_among(columns.iter().filter_map(|(name, _)| name.parse().ok()));
    let series = columns
        .iter()
        .filter_map(|(name, values)| {
            let id: PolicyId = name.parse().ok()?;
            drawn(id).then(|| Series { emphasis: is_agent(id), name: name.clone(), values: values.clone() })
        })
        .collect();
    (&equity.labels, series)
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
    let Table { labels, columns } = read_table(log)?;
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
    let meta = log.parent().and_then(|folder| folio::train::checkpoint::load_meta(folder).ok());
    let title = training_title(meta.and_then(|meta| meta.validation).as_ref());
    plot::training(out, &title, &updates, &reward, &val_updates, &val_sharpe, size)?;
    Ok(())
}

/// The training picture's title, with what the run deploys when it is not the network the
/// validation panel marks best: the reference gate's untrained network, the reference portfolio.
fn training_title(validation: Option<&folio::train::checkpoint::ValidationRecord>) -> String {
    match validation {
        Some(validation) if validation.kept_reference() => {
            "Training (deploys its reference portfolio: no network beat it on validation by the margin)"
                .into()
        }
        _ => "Training".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run that deploys its untrained reference says so in its training picture's title, whose
    /// validation curve would otherwise suggest the best network on it is what the run deploys.
    #[test]
    fn a_training_picture_says_when_the_run_deploys_its_reference() {
        use folio::train::checkpoint::{ReferenceTest, ValidationRecord};
        let metrics = folio::metrics::compute(&[1.0, 1.01, 1.0], &[0.0, 0.0], 0.0, &Default::default());
        let validation = |kept_reference: bool| ValidationRecord {
            agent: metrics.clone(),
            equal_weight: metrics.clone(),
            reference_test: Some(ReferenceTest {
                trained_update: 5,
                trained: metrics.clone(),
                reference: metrics.clone(),
                gap: None,
                margin: 2.0,
                kept_reference,
            }),
        };
        assert!(
            training_title(Some(&validation(true))).starts_with("Training (deploys its reference portfolio"),
            "{}",
            training_title(Some(&validation(true)))
        );
        assert_eq!(training_title(Some(&validation(false))), "Training");
        assert_eq!(training_title(None), "Training");
    }

    /// A redrawn picture emphasizes the agent the original did: the ensemble of a multi-seed
    /// evaluation, one seed's agent, or a walk-forward's headline among its seeds.
    #[test]
    fn a_redrawn_picture_emphasizes_the_agent_its_folder_was_drawn_with() {
        let dir = tempfile::tempdir().unwrap();
        let emphasized = |header: &str, headline: Option<PolicyId>| -> Vec<String> {
            let csv = format!("period,{header}\n2020-01-02,1,1,1\n2020-01-03,1.01,1.02,1.03\n");
            std::fs::write(dir.path().join("equity.csv"), csv).unwrap();
            let equity = read_table(&dir.path().join("equity.csv")).unwrap();
            let (_, series) = wealth(&equity, headline);
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
