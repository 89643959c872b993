//! Training progress: the reward per update above, the validation Sharpe ratio below.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::DrawError;
use super::axis::{XSpec, YSpec, format_number};
use super::canvas::Canvas;
use super::legend::{LegendEntry, Swatch, draw_legend};
use super::lines::{Run, draw_runs, line_spans, runs};
use super::panel::{PanelSpec, Plan, build, plan_stacked, zero_line};
use super::text::{Ink, draw_text, draw_title};
use super::theme::{INK_SOFT, STRONG, TABLEAU_10, Theme, line_style, line_style_rgba};
use super::{Area, Plot, PlotSize, ReportError, de, extent, failure, render};

const REWARD: RGBColor = STRONG[0];
const VALIDATION: RGBColor = TABLEAU_10[1];
const BEST: RGBColor = TABLEAU_10[3];

/// Training progress in two panels: mean reward per update (raw, faint, with a moving average
/// once there are enough updates) and the validation Sharpe ratio with its best value marked.
/// The validation panel may be empty (no validation runs yet).
pub fn training(
    path: &Path,
    title: &str,
    updates: &[f64],
    reward: &[f64],
    validation_updates: &[f64],
    validation_sharpe: &[f64],
    size: PlotSize,
) -> Result<(), ReportError> {
    let fail = failure(path);
    let curves = Curves::new(updates, reward, validation_updates, validation_sharpe).map_err(fail)?;
    render(path, size, |root, theme| {
        let body = draw_title(root, theme, title)?;
        let (_, body_h) = body.dim_in_pixel();
        let (upper, lower) = body.split_vertically((body_h as f64 * 0.56) as u32);
        let reward_legend = curves.reward_legend(theme);
        let validation_legend = curves.validation_legend(theme);
        let mut occupied_top = line_spans(&curves.raw);
        if let Some(s) = &curves.smooth {
            occupied_top.extend(line_spans(s));
        }
        let occupied_bottom = line_spans(&curves.validation);
        let x = || XSpec::Numeric { lo: curves.updates.0, hi: curves.updates.1 };
        let (v_lo, v_hi) = curves.validation_extent();
        let top = PanelSpec {
            y_desc: "mean reward",
            legend: &reward_legend,
            occupied: &occupied_top,
            ..PanelSpec::new(
                x(),
                YSpec { pad: (0.06, 0.06), ..YSpec::values(curves.reward.0, curves.reward.1) },
            )
        };
        let bottom = PanelSpec {
            x_desc: "update",
            y_desc: "validation Sharpe",
            legend: &validation_legend,
            occupied: &occupied_bottom,
            extra_top: theme.tick * 0.6,
            ..PanelSpec::new(x(), YSpec { pad: (0.1, 0.1), ..YSpec::values(v_lo, v_hi) })
        };
        let (top_plan, bottom_plan) = plan_stacked((&upper, &lower), theme, top, bottom);
        draw_reward_panel(&upper, theme, &top_plan, &curves, &reward_legend)?;
        draw_validation_panel(&lower, theme, &bottom_plan, &curves, &validation_legend)
    })
}

/// The training log as runs of drawable points.
struct Curves {
    /// Extent of the update numbers, which both panels share.
    updates: (f64, f64),
    /// Extent of the finite rewards.
    reward: (f64, f64),
    raw: Vec<Run>,
    /// The moving average over `window` updates, once there are enough updates for one.
    smooth: Option<Vec<Run>>,
    window: usize,
    validation: Vec<Run>,
    /// The best validation point: (update, Sharpe ratio).
    best: Option<(f64, f64)>,
}

impl Curves {
    fn new(
        updates: &[f64],
        reward: &[f64],
        validation_updates: &[f64],
        validation_sharpe: &[f64],
    ) -> Result<Self, DrawError> {
        check_log(updates, reward, validation_updates, validation_sharpe)?;
        let all_updates = updates.iter().chain(validation_updates).copied().filter(|v| v.is_finite());
        let update_extent = extent(all_updates).ok_or("nothing to plot: no update number is finite")?;
        let raw = runs(updates.iter().copied().zip(reward.iter().copied()), f64::is_finite);
        let reward_extent =
            extent(raw.iter().flatten().map(|p| p.1)).ok_or("nothing to plot: no reward is finite")?;
        let window = (updates.len() / 30).clamp(2, 100);
        let smooth = (updates.len() >= 12)
            .then(|| runs(updates.iter().copied().zip(moving_average(reward, window)), f64::is_finite));
        let validation =
            runs(validation_updates.iter().copied().zip(validation_sharpe.iter().copied()), f64::is_finite);
        let best =
            validation.iter().flatten().copied().fold(None, |best: Option<(f64, f64)>, p| match best {
                Some(b) if b.1 >= p.1 => Some(b),
                _ => Some(p),
            });
        Ok(Self { updates: update_extent, reward: reward_extent, raw, smooth, window, validation, best })
    }

    /// Faint under the moving average; alone, as strong as the average would be.
    fn raw_style(&self, theme: &Theme) -> ShapeStyle {
        match self.smooth {
            Some(_) => line_style_rgba(REWARD.mix(0.3), theme.line.saturating_sub(1).max(1)),
            None => line_style(REWARD, theme.strong),
        }
    }

    fn reward_legend(&self, theme: &Theme) -> Vec<LegendEntry> {
        let mut legend = vec![LegendEntry {
            label: "mean reward per update".into(),
            swatch: Swatch::Line(self.raw_style(theme)),
        }];
        if self.smooth.is_some() {
            legend.push(LegendEntry {
                label: format!("moving average ({} updates)", self.window),
                swatch: Swatch::Line(line_style(REWARD, theme.strong)),
            });
        }
        legend
    }

    fn validation_legend(&self, theme: &Theme) -> Vec<LegendEntry> {
        let Some((u, s)) = self.best else { return Vec::new() };
        vec![
            LegendEntry {
                label: "validation Sharpe".into(),
                swatch: Swatch::Dot(VALIDATION.to_rgba(), theme.line + 1),
            },
            LegendEntry {
                label: format!("best {s:.2} at update {}", format_number(u)),
                swatch: Swatch::Ring(BEST.to_rgba()),
            },
        ]
    }

    /// The validation Sharpe ratios' extent; without any, -1 to 1 so that the empty panel still
    /// has an axis.
    fn validation_extent(&self) -> (f64, f64) {
        match self.best {
            Some(_) => extent(self.validation.iter().flatten().map(|p| p.1)).unwrap_or((-1.0, 1.0)),
            None => (-1.0, 1.0),
        }
    }
}

/// Something to draw, one reward per update, and one Sharpe ratio per validation update.
fn check_log(
    updates: &[f64],
    reward: &[f64],
    validation_updates: &[f64],
    validation_sharpe: &[f64],
) -> Result<(), DrawError> {
    if updates.is_empty() {
        return Err("nothing to plot: no updates".into());
    }
    if updates.len() != reward.len() {
        return Err(format!("{} updates but {} rewards", updates.len(), reward.len()).into());
    }
    if validation_updates.len() != validation_sharpe.len() {
        return Err(format!(
            "{} validation updates but {} validation Sharpe ratios",
            validation_updates.len(),
            validation_sharpe.len()
        )
        .into());
    }
    Ok(())
}

fn draw_reward_panel<C: Canvas>(
    area: &Area<C>,
    theme: &Theme,
    plan: &Plan,
    curves: &Curves,
    legend: &[LegendEntry],
) -> Result<(), DrawError> {
    let plot = build(area, theme, plan)?;
    draw_runs(&plot, &curves.raw, curves.raw_style(theme))?;
    if let Some(s) = &curves.smooth {
        draw_runs(&plot, s, line_style(REWARD, theme.strong))?;
    }
    draw_legend(&plot, theme, legend, plan.corner)
}

fn draw_validation_panel<C: Canvas>(
    area: &Area<C>,
    theme: &Theme,
    plan: &Plan,
    curves: &Curves,
    legend: &[LegendEntry],
) -> Result<(), DrawError> {
    let plot = build(area, theme, plan)?;
    if plan.y.lo < 0.0 && plan.y.hi > 0.0 {
        zero_line(&plot, plan)?;
    }
    match curves.best {
        None => {
            let (w, h) = plot.dim_in_pixel();
            let (at, ink) = ((w as i32 / 2, h as i32 / 2), Ink::new(theme.desc, INK_SOFT));
            let centre = (HPos::Center, VPos::Center);
            draw_text(&plot.strip_coord_spec(), theme, "no validation runs", at, ink, centre, true)?;
        }
        Some(best) => draw_validation(&plot, theme, &curves.validation, best)?,
    }
    draw_legend(&plot, theme, legend, plan.corner)
}

/// The validation line, with a dot per run while they stay few enough to tell apart, and a ring
/// around the best.
fn draw_validation<C: Canvas>(
    plot: &Plot<C>,
    theme: &Theme,
    validation: &[Run],
    best: (f64, f64),
) -> Result<(), DrawError> {
    draw_runs(plot, validation, line_style(VALIDATION, theme.line + 1))?;
    let count: usize = validation.iter().map(Vec::len).sum();
    if count <= 200 {
        for &p in validation.iter().flatten() {
            plot.draw(&Circle::new(p, theme.dot(), VALIDATION.filled())).map_err(de)?;
        }
    }
    plot.draw(&Circle::new(best, theme.ring(), line_style(BEST, theme.line.max(2)))).map_err(de)
}

/// Mean of the finite values among the last `window` entries, NaN where there are none.
fn moving_average(values: &[f64], window: usize) -> Vec<f64> {
    (0..values.len())
        .map(|t| {
            let recent = values[(t + 1).saturating_sub(window)..=t].iter().filter(|v| v.is_finite());
            let (sum, count) = recent.fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
            if count == 0 { f64::NAN } else { sum / count as f64 }
        })
        .collect()
}
