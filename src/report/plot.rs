//! folio's pictures: equity curves, drawdowns, portfolio weights, training curves, walk-forward
//! folds and grouped bars, drawn with plotters' bitmap backend into PNG files.
//!
//! Every function takes plain data (time labels, named series, numbers), so reports, the CLI and
//! the tests draw the same pictures without knowing about backtests or checkpoints. A picture is
//! rendered into memory, encoded as PNG and written atomically: a failed plot never leaves half a
//! file behind.
//!
//! Text uses DejaVu Sans compiled into the binary (`assets/fonts/`, Bitstream Vera licence) and
//! registered with plotters' `ab_glyph` font table, so pictures draw the same on a bare machine
//! with no system fonts and no fontconfig.
//!
//! Time axes plot against the row index `0..n` and take their tick labels from `labels`: trading
//! days leave no weekend gaps, and undated data (period numbers) draws the same way. ISO dates
//! (`2019-01-02`, optionally followed by a time) get ticks at month or year starts.

use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, PxScaleFont, ScaleFont, point};
use chrono::{Datelike, NaiveDate};
use plotters::coord::Shift;
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::{FontStyle, register_font};

use super::ReportError;
use crate::files::write_bytes_atomically;

/// One named line on a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    /// One value per label. NaN and infinite values (and, on a log scale, values that are not
    /// positive) leave gaps.
    pub values: Vec<f64>,
    /// The agent: drawn last, thicker and in a strong colour, and listed first in the legend.
    pub emphasis: bool,
}

impl Series {
    pub fn new(name: impl Into<String>, values: Vec<f64>) -> Self {
        Self { name: name.into(), values, emphasis: false }
    }

    pub fn emphasized(name: impl Into<String>, values: Vec<f64>) -> Self {
        Self { name: name.into(), values, emphasis: true }
    }
}

/// Picture size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlotSize {
    pub width: u32,
    pub height: u32,
}

impl Default for PlotSize {
    fn default() -> Self {
        Self { width: 1200, height: 700 }
    }
}

/// One walk-forward fold's test period and how the agent and the equal-weight portfolio did in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FoldSpan {
    /// First row of the test period, an index into the labels.
    pub start: usize,
    /// Last row of the test period (inclusive).
    pub end: usize,
    pub agent_sharpe: f64,
    pub equal_weight_sharpe: f64,
}

/// Wealth curves against time, the emphasized series (the agent) on top. With `log_scale`, equal
/// ratios look equal: a curve that doubles twice climbs two equal steps.
pub fn equity(
    path: &Path,
    title: &str,
    labels: &[String],
    series: &[Series],
    log_scale: bool,
    size: PlotSize,
) -> Result<(), ReportError> {
    let fail = failure(path);
    check_series(labels, series).map_err(fail)?;
    let keep = move |v: f64| v.is_finite() && (!log_scale || v > 0.0);
    let (lo, hi) = extent(series.iter().flat_map(|s| s.values.iter().copied()).filter(|&v| keep(v)))
        .ok_or_else(|| {
            fail(if log_scale {
                "nothing to plot: a log scale needs positive values, and no series has a finite positive value"
                    .into()
            } else {
                "nothing to plot: no series has a finite value".into()
            })
        })?;
    render(path, size, |root, theme| {
        let body = draw_title(root, theme, title)?;
        let colours = series_colours(series);
        let lines: Vec<Vec<Run>> = series.iter().map(|s| runs(indexed(&s.values), keep)).collect();
        let occupied: Vec<Span> = lines.iter().flat_map(|r| line_spans(r)).collect();
        let legend = series_legend(series, &colours, theme, |s| s.name.clone());
        let y_desc = if log_scale { "portfolio value (log scale)" } else { "portfolio value" };
        let spec = PanelSpec {
            x: XSpec::Time(labels),
            y: YSpec {
                lo,
                hi,
                log: log_scale,
                percent: false,
                pad: (0.05, 0.05),
                grow: (true, true),
                room_px: (0.0, 0.0),
            },
            x_desc: time_desc(labels),
            y_desc,
            legend: &legend,
            occupied: &occupied,
            extra_top: 0.0,
            min_y_area: 0.0,
        };
        let plan = plan(&body, theme, &spec);
        let plot = build(&body, theme, &plan)?;
        for i in draw_order(series) {
            draw_runs(&plot, &lines[i], line_style(colours[i], width_of(&series[i], theme)))?;
        }
        draw_legend(&plot, theme, &legend, plan.corner)
    })
}

/// Underwater chart: how far each wealth series stands below its running peak, in percent
/// (see [`underwater`]). The emphasized series is filled.
pub fn drawdown(
    path: &Path,
    title: &str,
    labels: &[String],
    series: &[Series],
    size: PlotSize,
) -> Result<(), ReportError> {
    let fail = failure(path);
    check_series(labels, series).map_err(fail)?;
    let curves: Vec<Vec<f64>> = series.iter().map(|s| underwater(&s.values)).collect();
    let (lo, _) = extent(curves.iter().flatten().copied().filter(|v| v.is_finite()))
        .ok_or_else(|| fail("nothing to plot: no series has a finite positive value".into()))?;
    render(path, size, |root, theme| {
        let body = draw_title(root, theme, title)?;
        let colours = series_colours(series);
        let lines: Vec<Vec<Run>> = curves.iter().map(|c| runs(indexed(c), f64::is_finite)).collect();
        let mut occupied = Vec::new();
        for (s, r) in series.iter().zip(&lines) {
            occupied.extend(if s.emphasis { area_spans(r, 0.0) } else { line_spans(r) });
        }
        let legend = series_legend(series, &colours, theme, |s| {
            let worst = underwater(&s.values).into_iter().filter(|v| v.is_finite()).fold(0.0, f64::min);
            format!("{}  (max {:.1}%)", s.name, worst)
        });
        let spec = PanelSpec {
            x: XSpec::Time(labels),
            // At least a percent of depth, so that a curve that never fell still gets an axis.
            y: YSpec {
                lo: lo.min(-1.0),
                hi: 0.0,
                log: false,
                percent: true,
                pad: (0.06, 0.03),
                grow: (true, false),
                room_px: (0.0, 0.0),
            },
            x_desc: time_desc(labels),
            y_desc: "drawdown from peak",
            legend: &legend,
            occupied: &occupied,
            extra_top: 0.0,
            min_y_area: 0.0,
        };
        let plan = plan(&body, theme, &spec);
        let plot = build(&body, theme, &plan)?;
        for i in draw_order(series) {
            if series[i].emphasis {
                for run in &lines[i] {
                    let mut outline = run.clone();
                    outline.push((run[run.len() - 1].0, 0.0));
                    outline.push((run[0].0, 0.0));
                    plot.draw(&Polygon::new(outline, colours[i].mix(0.16).filled())).map_err(de)?;
                }
            }
        }
        hline(&plot, &plan, 0.0, line_style(AXIS, 1))?;
        for i in draw_order(series) {
            draw_runs(&plot, &lines[i], line_style(colours[i], width_of(&series[i], theme)))?;
        }
        draw_legend(&plot, theme, &legend, plan.corner)
    })
}

/// Portfolio weights over time as a stacked area, cash at the bottom. With more than `top_k`
/// assets, the `top_k` with the largest mean weight get their own band and the rest share one
/// "other" band. `names` and every row of `weights` are cash first; one row per decision, one
/// label per row. Rows with a non-finite weight are skipped; weights must be long-only.
pub fn weights(
    path: &Path,
    title: &str,
    labels: &[String],
    names: &[String],
    weights: &[Vec<f64>],
    top_k: usize,
    size: PlotSize,
) -> Result<(), ReportError> {
    let fail = failure(path);
    let stack = weight_bands(labels, names, weights, top_k).map_err(fail)?;
    render(path, size, |root, theme| {
        let body = draw_title(root, theme, title)?;
        let mut entries: Vec<LegendEntry> = stack
            .bands
            .iter()
            .rev()
            .map(|b| LegendEntry {
                label: format!("{}  {:.1}%", b.name, 100.0 * b.mean),
                swatch: Swatch::Fill(b.colour.to_rgba()),
            })
            .collect();
        let (legend_w, _) = legend_size(theme, &entries);
        let (body_w, _) = body.dim_in_pixel();
        let room = body_w as f64 * 0.35;
        if legend_w > room {
            let m = LegendMetrics::new(theme);
            let text_room = room - (2.0 * m.pad + m.swatch + m.gap);
            for e in &mut entries {
                e.label = fit_text(theme, &e.label, Ink::new(theme.legend, INK), text_room);
            }
        }
        let legend_w = legend_w.min(room);
        let (chart_area, legend_area) = body.split_horizontally(body_w - (legend_w + theme.pad) as u32);
        let top = stack.rows.iter().map(|&r| stack.total(r)).fold(1.0, f64::max);
        let spec = PanelSpec {
            x: XSpec::Time(labels),
            y: YSpec {
                lo: 0.0,
                hi: 100.0 * top,
                log: false,
                percent: true,
                pad: (0.0, 0.0),
                grow: (false, false),
                room_px: (0.0, 0.0),
            },
            x_desc: if time_desc(labels) == "date" { "decision date" } else { "decision" },
            y_desc: "weight",
            legend: &[],
            occupied: &[],
            extra_top: 0.0,
            min_y_area: 0.0,
        };
        let plan = plan(&chart_area, theme, &spec);
        let plot = build(&chart_area, theme, &plan)?;
        let xs: Vec<f64> = if stack.rows.len() == 1 {
            vec![plan.x.lo, plan.x.hi]
        } else {
            stack.rows.iter().map(|&r| r as f64).collect()
        };
        let row_of = |k: usize| stack.rows[k.min(stack.rows.len() - 1)];
        let mut below = vec![0.0; xs.len()];
        for band in &stack.bands {
            let above: Vec<f64> = (0..xs.len()).map(|k| below[k] + 100.0 * band.values[row_of(k)]).collect();
            let mut outline: Vec<(f64, f64)> = xs.iter().copied().zip(above.iter().copied()).collect();
            outline.extend(xs.iter().copied().zip(below.iter().copied()).rev());
            plot.draw(&Polygon::new(outline, band.colour.filled())).map_err(de)?;
            below = above;
        }
        // Hairlines between bands, so that neighbours of similar colour stay apart.
        let mut below = vec![0.0; xs.len()];
        for band in &stack.bands[..stack.bands.len() - 1] {
            for (k, b) in below.iter_mut().enumerate() {
                *b += 100.0 * band.values[row_of(k)];
            }
            let edge: Vec<(f64, f64)> = xs.iter().copied().zip(below.iter().copied()).collect();
            plot.draw(&PathElement::new(edge, line_style_rgba(WHITE.mix(0.45), 1))).map_err(de)?;
        }
        let panel = legend_area.margin(plan.top as i32, 0, 0, 0);
        let header = Ink::new(theme.legend, INK).bold();
        let pad = LegendMetrics::new(theme).pad as i32;
        draw_text(&panel, theme, "mean weight", (pad, 0), header, (HPos::Left, VPos::Top), true)?;
        draw_legend_at(&panel, theme, &entries, (0, (theme.legend * 1.2) as i32), false)
    })
}

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
    if updates.is_empty() {
        return Err(fail("nothing to plot: no updates".into()));
    }
    if updates.len() != reward.len() {
        return Err(fail(format!("{} updates but {} rewards", updates.len(), reward.len())));
    }
    if validation_updates.len() != validation_sharpe.len() {
        return Err(fail(format!(
            "{} validation updates but {} validation Sharpe ratios",
            validation_updates.len(),
            validation_sharpe.len()
        )));
    }
    let (x_lo, x_hi) = extent(updates.iter().chain(validation_updates).copied().filter(|v| v.is_finite()))
        .ok_or_else(|| fail("nothing to plot: no update number is finite".into()))?;
    let raw = runs(updates.iter().copied().zip(reward.iter().copied()), f64::is_finite);
    let (r_lo, r_hi) = extent(raw.iter().flatten().map(|p| p.1))
        .ok_or_else(|| fail("nothing to plot: no reward is finite".into()))?;
    let window = (updates.len() / 30).clamp(2, 100);
    let smooth = (updates.len() >= 12)
        .then(|| runs(updates.iter().copied().zip(moving_average(reward, window)), f64::is_finite));
    let validation =
        runs(validation_updates.iter().copied().zip(validation_sharpe.iter().copied()), f64::is_finite);
    let best = validation.iter().flatten().copied().fold(None, |best: Option<(f64, f64)>, p| match best {
        Some(b) if b.1 >= p.1 => Some(b),
        _ => Some(p),
    });
    render(path, size, |root, theme| {
        let body = draw_title(root, theme, title)?;
        let (_, body_h) = body.dim_in_pixel();
        let (upper, lower) = body.split_vertically((body_h as f64 * 0.56) as u32);
        let blue = STRONG[0];
        let mut reward_legend = Vec::new();
        let raw_style = match smooth {
            Some(_) => line_style_rgba(blue.mix(0.3), theme.line.saturating_sub(1).max(1)),
            None => line_style(blue, theme.strong),
        };
        reward_legend
            .push(LegendEntry { label: "mean reward per update".into(), swatch: Swatch::Line(raw_style) });
        if smooth.is_some() {
            reward_legend.push(LegendEntry {
                label: format!("moving average ({window} updates)"),
                swatch: Swatch::Line(line_style(blue, theme.strong)),
            });
        }
        let orange = TABLEAU_10[1];
        let red = TABLEAU_10[3];
        let mut validation_legend = Vec::new();
        if let Some((u, s)) = best {
            validation_legend.push(LegendEntry {
                label: "validation Sharpe".into(),
                swatch: Swatch::Dot(orange.to_rgba(), theme.line + 1),
            });
            validation_legend.push(LegendEntry {
                label: format!("best {s:.2} at update {}", format_number(u)),
                swatch: Swatch::Ring(red.to_rgba()),
            });
        }
        let (v_lo, v_hi) = match best {
            Some(_) => extent(validation.iter().flatten().map(|p| p.1)).unwrap_or((-1.0, 1.0)),
            None => (-1.0, 1.0),
        };
        let mut occupied_top = line_spans(&raw);
        if let Some(s) = &smooth {
            occupied_top.extend(line_spans(s));
        }
        let occupied_bottom = line_spans(&validation);
        let mut min_y_area = 0.0;
        let (top_plan, bottom_plan) = loop {
            let top = plan(
                &upper,
                theme,
                &PanelSpec {
                    x: XSpec::Numeric { lo: x_lo, hi: x_hi },
                    y: YSpec {
                        lo: r_lo,
                        hi: r_hi,
                        log: false,
                        percent: false,
                        pad: (0.06, 0.06),
                        grow: (true, true),
                        room_px: (0.0, 0.0),
                    },
                    x_desc: "",
                    y_desc: "mean reward",
                    legend: &reward_legend,
                    occupied: &occupied_top,
                    extra_top: 0.0,
                    min_y_area,
                },
            );
            let bottom = plan(
                &lower,
                theme,
                &PanelSpec {
                    x: XSpec::Numeric { lo: x_lo, hi: x_hi },
                    y: YSpec {
                        lo: v_lo,
                        hi: v_hi,
                        log: false,
                        percent: false,
                        pad: (0.1, 0.1),
                        grow: (true, true),
                        room_px: (0.0, 0.0),
                    },
                    x_desc: "update",
                    y_desc: "validation Sharpe",
                    legend: &validation_legend,
                    occupied: &occupied_bottom,
                    extra_top: theme.tick * 0.6,
                    min_y_area,
                },
            );
            if top.y_area == bottom.y_area {
                break (top, bottom);
            }
            min_y_area = top.y_area.max(bottom.y_area);
        };
        let plot = build(&upper, theme, &top_plan)?;
        draw_runs(&plot, &raw, raw_style)?;
        if let Some(s) = &smooth {
            draw_runs(&plot, s, line_style(blue, theme.strong))?;
        }
        draw_legend(&plot, theme, &reward_legend, top_plan.corner)?;

        let plot = build(&lower, theme, &bottom_plan)?;
        if bottom_plan.y.lo < 0.0 && bottom_plan.y.hi > 0.0 {
            hline(&plot, &bottom_plan, 0.0, line_style(AXIS, 1))?;
        }
        match best {
            None => {
                let (w, h) = plot.dim_in_pixel();
                let (at, ink) = ((w as i32 / 2, h as i32 / 2), Ink::new(theme.desc, INK_SOFT));
                draw_text(
                    &plot.strip_coord_spec(),
                    theme,
                    "no validation runs",
                    at,
                    ink,
                    (HPos::Center, VPos::Center),
                    true,
                )?;
            }
            Some(b) => {
                draw_runs(&plot, &validation, line_style(orange, theme.line + 1))?;
                let count: usize = validation.iter().map(Vec::len).sum();
                if count <= 200 {
                    let r = (theme.scale * 3.5).round().max(2.0) as u32;
                    for &p in validation.iter().flatten() {
                        plot.draw(&Circle::new(p, r, orange.filled())).map_err(de)?;
                    }
                }
                let ring = (theme.scale * 8.0).round().max(4.0) as u32;
                plot.draw(&Circle::new(b, ring, line_style(red, theme.line.max(2)))).map_err(de)?;
            }
        }
        draw_legend(&plot, theme, &validation_legend, bottom_plan.corner)
    })
}

/// Walk-forward evaluation: the stitched out-of-sample wealth curves with each fold's test
/// period shaded in turn, and below, one pair of bars per fold: the agent's Sharpe ratio beside
/// the equal-weight portfolio's, under the fold they belong to.
pub fn walk_forward(
    path: &Path,
    title: &str,
    labels: &[String],
    stitched: &[Series],
    folds: &[FoldSpan],
    size: PlotSize,
) -> Result<(), ReportError> {
    let fail = failure(path);
    check_series(labels, stitched).map_err(fail)?;
    if folds.is_empty() {
        return Err(fail("nothing to plot: no folds".into()));
    }
    for (k, f) in folds.iter().enumerate() {
        if f.start > f.end || f.end >= labels.len() {
            return Err(fail(format!(
                "fold {} spans rows {}..={}, which is not a range within the {} labels",
                k + 1,
                f.start,
                f.end,
                labels.len()
            )));
        }
    }
    let (lo, hi) = extent(stitched.iter().flat_map(|s| s.values.iter().copied()).filter(|v| v.is_finite()))
        .ok_or_else(|| fail("nothing to plot: no series has a finite value".into()))?;
    render(path, size, |root, theme| {
        let body = draw_title(root, theme, title)?;
        let (_, body_h) = body.dim_in_pixel();
        let (upper, lower) = body.split_vertically((body_h as f64 * 0.62) as u32);
        let colours = series_colours(stitched);
        let lines: Vec<Vec<Run>> =
            stitched.iter().map(|s| runs(indexed(&s.values), f64::is_finite)).collect();
        let occupied: Vec<Span> = lines.iter().flat_map(|r| line_spans(r)).collect();
        let legend = series_legend(stitched, &colours, theme, |s| s.name.clone());

        let agent = stitched.iter().position(|s| s.emphasis);
        let agent_name = agent.map_or("agent".to_string(), |i| stitched[i].name.clone());
        let agent_colour = agent.map_or(STRONG[0], |i| colours[i]);
        let equal_colour = stitched
            .iter()
            .position(|s| !s.emphasis && s.name.to_lowercase().contains("equal"))
            .map_or(TABLEAU_10[7], |i| colours[i]);
        let bar_legend = vec![
            LegendEntry {
                label: format!("{agent_name} Sharpe"),
                swatch: Swatch::Fill(agent_colour.to_rgba()),
            },
            LegendEntry { label: "equal weight Sharpe".into(), swatch: Swatch::Fill(equal_colour.to_rgba()) },
        ];
        let bars = fold_bars(folds);
        let sharpes = bars.iter().map(|b| b.value).filter(|v| v.is_finite());
        let (s_lo, s_hi) = extent(sharpes.chain([0.0])).unwrap_or((0.0, 0.0));
        let label_px = theme.note * 1.3 + 4.0;
        let bar_spans = bar_spans(&bars, label_px);

        let mut min_y_area = 0.0;
        let (top_plan, bottom_plan) = loop {
            let top = plan(
                &upper,
                theme,
                &PanelSpec {
                    x: XSpec::Time(labels),
                    y: YSpec {
                        lo,
                        hi,
                        log: false,
                        percent: false,
                        pad: (0.05, 0.05),
                        grow: (true, true),
                        room_px: (0.0, 0.0),
                    },
                    x_desc: "",
                    y_desc: "portfolio value",
                    legend: &legend,
                    occupied: &occupied,
                    extra_top: theme.tick * 1.5,
                    min_y_area,
                },
            );
            let bottom = plan(
                &lower,
                theme,
                &PanelSpec {
                    x: XSpec::Time(labels),
                    y: YSpec {
                        lo: s_lo,
                        hi: s_hi,
                        log: false,
                        percent: false,
                        pad: (if s_lo < 0.0 { 0.05 } else { 0.0 }, 0.05),
                        grow: (s_lo < 0.0, true),
                        room_px: (if s_lo < 0.0 { label_px } else { 0.0 }, label_px),
                    },
                    x_desc: time_desc(labels),
                    y_desc: "Sharpe ratio",
                    legend: &bar_legend,
                    occupied: &bar_spans,
                    extra_top: theme.tick * 0.6,
                    min_y_area,
                },
            );
            if top.y_area == bottom.y_area {
                break (top, bottom);
            }
            min_y_area = top.y_area.max(bottom.y_area);
        };

        let plot = build(&upper, theme, &top_plan)?;
        shade_folds(&plot, &top_plan, folds)?;
        label_folds(&plot, theme, &top_plan, folds)?;
        for i in draw_order(stitched) {
            draw_runs(&plot, &lines[i], line_style(colours[i], width_of(&stitched[i], theme)))?;
        }
        draw_legend(&plot, theme, &legend, top_plan.corner)?;

        let plot = build(&lower, theme, &bottom_plan)?;
        shade_folds(&plot, &bottom_plan, folds)?;
        if bottom_plan.y.lo < 0.0 {
            hline(&plot, &bottom_plan, 0.0, line_style(AXIS, 1))?;
        }
        for b in &bars {
            let colour = if b.group == 0 { agent_colour } else { equal_colour };
            draw_bar(&plot, theme, b, colour)?;
        }
        draw_legend(&plot, theme, &bar_legend, bottom_plan.corner)
    })
}

/// A grouped bar chart: one cluster per category, one bar per group in each cluster. `groups`
/// are `(name, one value per category)`. See [`bars_with_axes`] to describe the axes.
pub fn bars(
    path: &Path,
    title: &str,
    categories: &[String],
    groups: &[(String, Vec<f64>)],
    size: PlotSize,
) -> Result<(), ReportError> {
    bars_with_axes(path, title, "", "", categories, groups, size)
}

/// [`bars`] with descriptions under the x axis (`x_desc`) and beside the y axis (`y_desc`); an
/// empty description is left out.
pub fn bars_with_axes(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    categories: &[String],
    groups: &[(String, Vec<f64>)],
    size: PlotSize,
) -> Result<(), ReportError> {
    let fail = failure(path);
    if categories.is_empty() {
        return Err(fail("nothing to plot: no categories".into()));
    }
    if groups.is_empty() {
        return Err(fail("nothing to plot: no groups of bars".into()));
    }
    for (name, values) in groups {
        if values.len() != categories.len() {
            return Err(fail(format!(
                "group \"{name}\" has {} values, but there are {} categories",
                values.len(),
                categories.len()
            )));
        }
    }
    let (lo, hi) = extent(groups.iter().flat_map(|g| g.1.iter().copied()).filter(|v| v.is_finite()))
        .ok_or_else(|| fail("nothing to plot: no value is finite".into()))?;
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    render(path, size, |root, theme| {
        let body = draw_title(root, theme, title)?;
        let n_groups = groups.len() as f64;
        let mut cluster = Vec::new();
        for (g, (_, values)) in groups.iter().enumerate() {
            for (c, &value) in values.iter().enumerate() {
                let width = 0.8 / n_groups;
                let x0 = c as f64 + 0.1 + g as f64 * width;
                cluster.push(Bar { x0: x0 + 0.04 * width, x1: x0 + 0.96 * width, value, group: g });
            }
        }
        let colours: Vec<RGBColor> = (0..groups.len()).map(|g| TABLEAU_10[g % TABLEAU_10.len()]).collect();
        let legend: Vec<LegendEntry> = groups
            .iter()
            .zip(&colours)
            .map(|((name, _), c)| LegendEntry { label: name.clone(), swatch: Swatch::Fill(c.to_rgba()) })
            .collect();
        let label_px = theme.note * 1.3 + 4.0;
        let occupied = bar_spans(&cluster, label_px);
        let spec = PanelSpec {
            x: XSpec::Categories(categories),
            y: YSpec {
                lo,
                hi,
                log: false,
                percent: false,
                pad: (if lo < 0.0 { 0.05 } else { 0.0 }, 0.05),
                grow: (lo < 0.0, true),
                room_px: (if lo < 0.0 { label_px } else { 0.0 }, label_px),
            },
            x_desc,
            y_desc,
            legend: &legend,
            occupied: &occupied,
            extra_top: 0.0,
            min_y_area: 0.0,
        };
        let plan = plan(&body, theme, &spec);
        let plot = build(&body, theme, &plan)?;
        if plan.y.lo < 0.0 {
            hline(&plot, &plan, 0.0, line_style(AXIS, 1))?;
        }
        for b in &cluster {
            draw_bar(&plot, theme, b, colours[b.group])?;
        }
        draw_legend(&plot, theme, &legend, plan.corner)
    })
}

/// Drawdown from the running peak in percent, `D_t = 100 (V_t / max_{s <= t} V_s - 1)`: zero at
/// a new high, negative below it; `min_t D_t` is the maximum drawdown (Magdon-Ismail & Atiya,
/// "Maximum drawdown", Risk 2004). Values that are not finite and positive are gaps (NaN) and
/// set no peak.
pub fn underwater(values: &[f64]) -> Vec<f64> {
    let mut peak = f64::NAN;
    values
        .iter()
        .map(|&v| {
            if !(v.is_finite() && v > 0.0) {
                return f64::NAN;
            }
            if !(peak >= v) {
                peak = v;
            }
            100.0 * (v / peak - 1.0)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Rendering, fonts and PNG

type Area<'b> = DrawingArea<BitMapBackend<'b>, Shift>;
type Plot<'b> = DrawingArea<BitMapBackend<'b>, Cartesian2d<Axis, Axis>>;

/// The family every text uses; registered from the embedded font, never looked up on the system.
const FONT: &str = "DejaVu Sans";
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static DEJAVU_SANS_BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

const MIN_SIZE: (u32, u32) = (240, 160);
const MAX_SIDE: u32 = 16_384;

/// The embedded faces, parsed once.
struct Fonts {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

impl Fonts {
    fn face(&self, bold: bool) -> &FontRef<'static> {
        if bold { &self.bold } else { &self.regular }
    }
}

/// Load the embedded fonts, once per process, and register them with plotters too (as folio's
/// family and as plotters' generic "sans-serif"), so that no text plotters might draw by itself
/// goes looking for a system font.
fn fonts() -> Result<&'static Fonts, String> {
    static FONTS: OnceLock<Result<Fonts, String>> = OnceLock::new();
    fn broken<E>(_: E) -> String {
        "the embedded DejaVu Sans font does not load".into()
    }
    FONTS
        .get_or_init(|| {
            for family in [FONT, "sans-serif"] {
                register_font(family, FontStyle::Normal, DEJAVU_SANS).map_err(broken)?;
                register_font(family, FontStyle::Bold, DEJAVU_SANS_BOLD).map_err(broken)?;
            }
            Ok(Fonts {
                regular: FontRef::try_from_slice(DEJAVU_SANS).map_err(broken)?,
                bold: FontRef::try_from_slice(DEJAVU_SANS_BOLD).map_err(broken)?,
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn failure(path: &Path) -> impl Fn(String) -> ReportError + Copy + '_ {
    move |reason| ReportError::Plot { path: path.to_path_buf(), reason }
}

/// Plotters' errors as text for [`ReportError::Plot`].
fn de(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Draw into an in-memory RGB picture, encode it as PNG and write it atomically.
fn render(
    path: &Path,
    size: PlotSize,
    draw: impl FnOnce(&Area<'_>, &Theme) -> Result<(), String>,
) -> Result<(), ReportError> {
    let fail = failure(path);
    let PlotSize { width, height } = size;
    if width < MIN_SIZE.0 || height < MIN_SIZE.1 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(fail(format!(
            "a {width}x{height} picture is outside the sizes plots support ({}x{} to {MAX_SIDE}x{MAX_SIDE})",
            MIN_SIZE.0, MIN_SIZE.1
        )));
    }
    let theme = Theme::new(size, fonts().map_err(fail)?);
    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(de(e)))?;
        draw(&root, &theme).map_err(fail)?;
        root.present().map_err(|e| fail(de(e)))?;
    }
    let png = encode_png(&rgb, width, height).map_err(|e| fail(format!("cannot encode PNG: {e}")))?;
    write_bytes_atomically(path, &png).map_err(|source| ReportError::Io { path: path.to_path_buf(), source })
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Look: sizes, colours, text

/// Tableau 10, Tableau's classic categorical palette (matplotlib's `tab10`): ten hues that stay
/// apart on screen and in print.
const TABLEAU_10: [RGBColor; 10] = [
    RGBColor(31, 119, 180),  // blue
    RGBColor(255, 127, 14),  // orange
    RGBColor(44, 160, 44),   // green
    RGBColor(214, 39, 40),   // red
    RGBColor(148, 103, 189), // purple
    RGBColor(140, 86, 75),   // brown
    RGBColor(227, 119, 194), // pink
    RGBColor(127, 127, 127), // grey
    RGBColor(188, 189, 34),  // olive
    RGBColor(23, 190, 207),  // cyan
];

/// The light halves of Tableau 20, for stacks with more bands than Tableau 10 has hues.
const TABLEAU_20_LIGHT: [RGBColor; 10] = [
    RGBColor(174, 199, 232),
    RGBColor(255, 187, 120),
    RGBColor(152, 223, 138),
    RGBColor(255, 152, 150),
    RGBColor(197, 176, 213),
    RGBColor(196, 156, 148),
    RGBColor(247, 182, 210),
    RGBColor(199, 199, 199),
    RGBColor(219, 219, 141),
    RGBColor(158, 218, 229),
];

/// Colours of emphasized series (the agent), in turn; the other series cycle through the rest
/// of Tableau 10.
const STRONG: [RGBColor; 2] = [TABLEAU_10[0], TABLEAU_10[3]];
const CASH: RGBColor = RGBColor(205, 205, 205);
const OTHER: RGBColor = TABLEAU_10[7];

const INK: RGBColor = RGBColor(33, 33, 33);
const INK_SOFT: RGBColor = RGBColor(80, 80, 80);
const AXIS: RGBColor = RGBColor(120, 120, 120);
const GRID: RGBColor = RGBColor(229, 229, 229);

/// Sizes in pixels, scaled with the picture (the default 1200x700 is scale 1).
struct Theme {
    fonts: &'static Fonts,
    scale: f64,
    title: f64,
    desc: f64,
    tick: f64,
    legend: f64,
    note: f64,
    line: u32,
    strong: u32,
    pad: f64,
}

impl Theme {
    fn new(size: PlotSize, fonts: &'static Fonts) -> Self {
        let scale = (size.width as f64 / 1200.0).min(size.height as f64 / 700.0).clamp(0.5, 4.0);
        let px = |base: f64| (base * scale).round().max(8.0);
        Self {
            fonts,
            scale,
            title: px(20.0),
            desc: px(14.0),
            tick: px(12.0),
            legend: px(12.5),
            note: px(11.0),
            line: (1.4 * scale).round().max(1.0) as u32,
            strong: (3.2 * scale).round().max(2.0) as u32,
            pad: (14.0 * scale).round(),
        }
    }
}

/// How a piece of text looks: size (of the em square, in pixels), weight and colour.
#[derive(Debug, Clone, Copy)]
struct Ink {
    px: f64,
    bold: bool,
    colour: RGBColor,
}

impl Ink {
    fn new(px: f64, colour: RGBColor) -> Self {
        Self { px, bold: false, colour }
    }

    fn bold(self) -> Self {
        Self { bold: true, ..self }
    }
}

/// A face scaled so that its em square is `px` pixels, as a CSS font size.
fn scaled<'f>(face: &'f FontRef<'static>, px: f64) -> PxScaleFont<&'f FontRef<'static>> {
    let per_em = face.units_per_em().unwrap_or(2048.0) as f64;
    face.as_scaled(PxScale::from((px * face.height_unscaled() as f64 / per_em) as f32))
}

/// Width of `text` in pixels: its advances and kerning.
fn text_width(theme: &Theme, text: &str, ink: Ink) -> f64 {
    let font = scaled(theme.fonts.face(ink.bold), ink.px);
    let mut width = 0.0;
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = previous {
            width += font.kern(p, id);
        }
        width += font.h_advance(id);
        previous = Some(id);
    }
    width as f64
}

/// Draw `text` anchored at `at` (pixels in `area`); not `upright`, it is turned a quarter
/// anticlockwise to read upwards beside a y axis.
///
/// folio lays text out itself, with ab_glyph and the embedded font: plotters 0.3.7's ab_glyph
/// text drops each glyph's left side bearing, which spaces letters unevenly ("up date").
fn draw_text(
    area: &Area<'_>,
    theme: &Theme,
    text: &str,
    at: (i32, i32),
    ink: Ink,
    (h, v): (HPos, VPos),
    upright: bool,
) -> Result<(), String> {
    let face = theme.fonts.face(ink.bold);
    let font = scaled(face, ink.px);
    let width = text_width(theme, text, ink) as f32;
    let mut caret = match h {
        HPos::Left => 0.0,
        HPos::Center => -width / 2.0,
        HPos::Right => -width,
    };
    // The baseline lies below the anchor by the ascent (top), by half the height of a capital
    // (centre), or above it by the descent (bottom).
    let baseline = match v {
        VPos::Top => font.ascent(),
        VPos::Center => 0.365 * ink.px as f32,
        VPos::Bottom => font.descent(),
    };
    let mut coverage = Vec::new();
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = previous {
            caret += font.kern(p, id);
        }
        previous = Some(id);
        let glyph = id.with_scale_and_position(font.scale, point(caret, baseline));
        caret += font.h_advance(id);
        if let Some(outline) = face.outline_glyph(glyph) {
            let bounds = outline.px_bounds();
            let (x0, y0) = (bounds.min.x as i32, bounds.min.y as i32);
            outline.draw(|x, y, c| coverage.push((x0 + x as i32, y0 + y as i32, c)));
        }
    }
    for (u, w, c) in coverage {
        if c > 0.0 {
            let p = if upright { (at.0 + u, at.1 + w) } else { (at.0 + w, at.1 - u) };
            area.draw_pixel(p, &ink.colour.mix(c.min(1.0) as f64)).map_err(de)?;
        }
    }
    Ok(())
}

/// `text`, shortened with an ellipsis until it fits in `max_w` pixels.
fn fit_text(theme: &Theme, text: &str, ink: Ink, max_w: f64) -> String {
    if text_width(theme, text, ink) <= max_w {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    for keep in (0..chars.len()).rev() {
        let short: String = chars[..keep].iter().collect::<String>() + "…";
        if text_width(theme, &short, ink) <= max_w {
            return short;
        }
    }
    String::new()
}

fn line_style(colour: RGBColor, width: u32) -> ShapeStyle {
    line_style_rgba(colour.to_rgba(), width)
}

fn line_style_rgba(colour: RGBAColor, width: u32) -> ShapeStyle {
    ShapeStyle { color: colour, filled: false, stroke_width: width }
}

/// Emphasized series take the strong colours in turn; the others cycle through Tableau 10
/// without them.
fn series_colours(series: &[Series]) -> Vec<RGBColor> {
    let strong = series.iter().filter(|s| s.emphasis).count().min(STRONG.len());
    let others: Vec<RGBColor> = TABLEAU_10.into_iter().filter(|c| !STRONG[..strong].contains(c)).collect();
    let (mut e, mut o) = (0, 0);
    series
        .iter()
        .map(|s| {
            if s.emphasis {
                e += 1;
                STRONG[(e - 1) % STRONG.len()]
            } else {
                o += 1;
                others[(o - 1) % others.len()]
            }
        })
        .collect()
}

fn width_of(series: &Series, theme: &Theme) -> u32 {
    if series.emphasis { theme.strong } else { theme.line }
}

/// The others in their order, then the emphasized ones, so that the agent is drawn on top.
fn draw_order(series: &[Series]) -> impl Iterator<Item = usize> + '_ {
    let plain = (0..series.len()).filter(|&i| !series[i].emphasis);
    plain.chain((0..series.len()).filter(|&i| series[i].emphasis))
}

/// Legend entries, emphasized series first.
fn series_legend(
    series: &[Series],
    colours: &[RGBColor],
    theme: &Theme,
    label: impl Fn(&Series) -> String,
) -> Vec<LegendEntry> {
    let emphasized = (0..series.len()).filter(|&i| series[i].emphasis);
    emphasized
        .chain((0..series.len()).filter(|&i| !series[i].emphasis))
        .map(|i| LegendEntry {
            label: label(&series[i]),
            swatch: Swatch::Line(line_style(colours[i], width_of(&series[i], theme))),
        })
        .collect()
}

fn draw_title<'b>(root: &Area<'b>, theme: &Theme, title: &str) -> Result<Area<'b>, String> {
    let height = (theme.title * 2.2).round() as u32;
    let (top, body) = root.split_vertically(height);
    let (width, _) = root.dim_in_pixel();
    let ink = Ink::new(theme.title, INK).bold();
    let text = fit_text(theme, title, ink, width as f64 - 2.0 * theme.pad);
    let at = (theme.pad as i32, (height as f64 * 0.55) as i32);
    draw_text(&top, theme, &text, at, ink, (HPos::Left, VPos::Center), true)?;
    Ok(body)
}

// ---------------------------------------------------------------------------------------------
// Input checks and data shaping

fn check_series(labels: &[String], series: &[Series]) -> Result<(), String> {
    if labels.is_empty() {
        return Err("nothing to plot: there are no labels (x-axis periods)".into());
    }
    if series.is_empty() {
        return Err("nothing to plot: there are no series".into());
    }
    for s in series {
        if s.values.len() != labels.len() {
            return Err(format!(
                "series \"{}\" has {} values, but there are {} labels",
                s.name,
                s.values.len(),
                labels.len()
            ));
        }
    }
    Ok(())
}

/// Smallest and largest value, or `None` when there is none.
fn extent(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
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

/// A stretch of consecutive drawable points.
type Run = Vec<(f64, f64)>;

fn indexed(values: &[f64]) -> impl Iterator<Item = (f64, f64)> + '_ {
    values.iter().enumerate().map(|(i, &v)| (i as f64, v))
}

/// Split points into runs at every point whose x is not finite or whose y fails `keep`.
fn runs(points: impl IntoIterator<Item = (f64, f64)>, keep: impl Fn(f64) -> bool) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    let mut current = Vec::new();
    for (x, y) in points {
        if x.is_finite() && keep(y) {
            current.push((x, y));
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A box in data coordinates that something drawn covers; the legend looks for a corner
/// without any.
#[derive(Debug, Clone, Copy)]
struct Span {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
    /// Pixels covered above and below as well (text printed beyond a bar).
    px: f64,
}

fn line_spans(runs: &[Run]) -> Vec<Span> {
    let mut out = Vec::new();
    for run in runs {
        if let [(x, y)] = run[..] {
            out.push(Span { x0: x, x1: x, y0: y, y1: y, px: 0.0 });
        }
        for w in run.windows(2) {
            let ((xa, ya), (xb, yb)) = (w[0], w[1]);
            out.push(Span { x0: xa.min(xb), x1: xa.max(xb), y0: ya.min(yb), y1: ya.max(yb), px: 0.0 });
        }
    }
    out
}

/// What an area filled from each run down (or up) to `base` covers.
fn area_spans(runs: &[Run], base: f64) -> Vec<Span> {
    line_spans(runs).into_iter().map(|s| Span { y0: s.y0.min(base), y1: s.y1.max(base), ..s }).collect()
}

/// What bars cover, with the value printed beyond each end (`label_px` high).
fn bar_spans(bars: &[Bar], label_px: f64) -> Vec<Span> {
    bars.iter()
        .filter(|b| b.value.is_finite())
        .map(|b| Span { x0: b.x0, x1: b.x1, y0: b.value.min(0.0), y1: b.value.max(0.0), px: label_px })
        .collect()
}

fn time_desc(labels: &[String]) -> &'static str {
    if labels.iter().all(|l| parse_date(l).is_some()) { "date" } else { "period" }
}

struct Band {
    name: String,
    colour: RGBColor,
    /// Weight per row (all rows; only `WeightStack::rows` are drawn).
    values: Vec<f64>,
    mean: f64,
}

struct WeightStack {
    /// Bottom to top: cash, the assets by mean weight, then "other".
    bands: Vec<Band>,
    /// Rows whose weights are all finite.
    rows: Vec<usize>,
}

impl WeightStack {
    fn total(&self, row: usize) -> f64 {
        self.bands.iter().map(|b| b.values[row]).sum()
    }
}

fn weight_bands(
    labels: &[String],
    names: &[String],
    weights: &[Vec<f64>],
    top_k: usize,
) -> Result<WeightStack, String> {
    if weights.is_empty() || labels.is_empty() {
        return Err("nothing to plot: there are no decisions (weights or labels are empty)".into());
    }
    if names.is_empty() {
        return Err("nothing to plot: there are no names (cash first)".into());
    }
    if weights.len() != labels.len() {
        return Err(format!("{} rows of weights, but there are {} labels", weights.len(), labels.len()));
    }
    for (r, row) in weights.iter().enumerate() {
        if row.len() != names.len() {
            return Err(format!(
                "the weights at {} have {} entries, but there are {} names (cash first)",
                labels[r],
                row.len(),
                names.len()
            ));
        }
        if let Some((j, w)) = row.iter().enumerate().find(|(_, w)| **w < -1e-6) {
            return Err(format!(
                "weight {w} for {} at {}: a stacked weight chart needs long-only weights",
                names[j], labels[r]
            ));
        }
    }
    let rows: Vec<usize> = (0..weights.len()).filter(|&r| weights[r].iter().all(|w| w.is_finite())).collect();
    if rows.is_empty() {
        return Err("nothing to plot: no row of weights is entirely finite".into());
    }
    let column = |j: usize| -> Vec<f64> { weights.iter().map(|row| row[j].max(0.0)).collect() };
    let mean = |values: &[f64]| rows.iter().map(|&r| values[r]).sum::<f64>() / rows.len() as f64;
    let mut assets: Vec<(usize, Vec<f64>, f64)> = (1..names.len())
        .map(|j| {
            let values = column(j);
            let m = mean(&values);
            (j, values, m)
        })
        .collect();
    assets.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
    let rest = if assets.len() > top_k { assets.split_off(top_k) } else { Vec::new() };

    let palette: Vec<RGBColor> = TABLEAU_10
        .into_iter()
        .chain(TABLEAU_20_LIGHT)
        .filter(|&c| c != OTHER && c != TABLEAU_20_LIGHT[7])
        .collect();
    let mut bands = Vec::new();
    let cash = column(0);
    let cash_mean = mean(&cash);
    bands.push(Band { name: names[0].clone(), colour: CASH, values: cash, mean: cash_mean });
    for (k, (j, values, m)) in assets.into_iter().enumerate() {
        bands.push(Band { name: names[j].clone(), colour: palette[k % palette.len()], values, mean: m });
    }
    if !rest.is_empty() {
        let values: Vec<f64> = (0..weights.len()).map(|r| rest.iter().map(|a| a.1[r]).sum()).collect();
        let m = mean(&values);
        bands.push(Band { name: format!("other ({} assets)", rest.len()), colour: OTHER, values, mean: m });
    }
    // A band that is empty in every drawn row only crowds the legend.
    bands.retain(|b| rows.iter().any(|&r| b.values[r] > 0.0));
    if bands.is_empty() {
        return Err("nothing to plot: every weight is zero".into());
    }
    Ok(WeightStack { bands, rows })
}

/// One bar, in data coordinates.
struct Bar {
    x0: f64,
    x1: f64,
    value: f64,
    group: usize,
}

/// Agent (group 0) and equal-weight (group 1) bars side by side under the middle of each fold.
fn fold_bars(folds: &[FoldSpan]) -> Vec<Bar> {
    let mut out = Vec::new();
    for f in folds {
        let centre = (f.start + f.end) as f64 / 2.0;
        let half = ((f.end - f.start) as f64 * 0.32).max(0.5);
        let gap = half * 0.04;
        out.push(Bar { x0: centre - half, x1: centre - gap, value: f.agent_sharpe, group: 0 });
        out.push(Bar { x0: centre + gap, x1: centre + half, value: f.equal_weight_sharpe, group: 1 });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Axes

/// A 1-D coordinate with ticks chosen (and labelled) by folio rather than by plotters: time
/// labels, categories, linear or logarithmic values. Only ticks get grid lines.
#[derive(Debug, Clone)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    ticks: Vec<(f64, String)>,
}

impl Axis {
    fn bare(lo: f64, hi: f64, log: bool) -> Self {
        Self { lo, hi, log, ticks: Vec::new() }
    }

    fn warp(&self, v: f64) -> f64 {
        if self.log { v.ln() } else { v }
    }

    /// Position of `v` along the axis, 0 at `lo` and 1 at `hi`.
    fn frac(&self, v: f64) -> f64 {
        let (a, b) = (self.warp(self.lo), self.warp(self.hi));
        if b > a { (self.warp(v) - a) / (b - a) } else { 0.5 }
    }
}

impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let f = self.frac(*value);
        let f = if f.is_finite() { f.clamp(-10.0, 11.0) } else { 0.0 };
        limit.0 + (f * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Plotters asks twice: for light grid lines (none here) and for labelled ones.
        if hint.weight().allow_light_points() {
            return Vec::new();
        }
        self.ticks.iter().map(|t| t.0).collect()
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// Plotters draws the tick marks but no tick text: [`build`] writes the labels.
impl ValueFormatter<f64> for Axis {
    fn format_ext(&self, _: &f64) -> String {
        String::new()
    }
}

enum XSpec<'l> {
    /// One label per row; the axis runs over the row index.
    Time(&'l [String]),
    Numeric {
        lo: f64,
        hi: f64,
    },
    /// Category `c` occupies `[c, c + 1)`.
    Categories(&'l [String]),
}

struct YSpec {
    /// Data extent, before padding.
    lo: f64,
    hi: f64,
    log: bool,
    /// Values are percentages: ticks read "-20%".
    percent: bool,
    /// Padding below and above, as shares of the (warped) extent.
    pad: (f64, f64),
    /// Whether the range may grow at the bottom and at the top to make room for the legend.
    grow: (bool, bool),
    /// Pixels to keep free below and above the data, e.g. for values printed beyond bars.
    room_px: (f64, f64),
}

struct PanelSpec<'s> {
    x: XSpec<'s>,
    y: YSpec,
    x_desc: &'s str,
    y_desc: &'s str,
    legend: &'s [LegendEntry],
    occupied: &'s [Span],
    /// Extra room above the plot (pixels), e.g. for fold labels.
    extra_top: f64,
    /// Width of the y label area at least, to line up stacked panels.
    min_y_area: f64,
}

/// Where everything of one panel goes, decided before anything is drawn.
struct Plan {
    x: Axis,
    y: Axis,
    x_desc: String,
    y_desc: String,
    x_grid: bool,
    x_area: f64,
    y_area: f64,
    top: f64,
    right: f64,
    bottom: f64,
    left: f64,
    corner: Corner,
}

fn plan(area: &Area<'_>, theme: &Theme, spec: &PanelSpec<'_>) -> Plan {
    let (aw, ah) = area.dim_in_pixel();
    let (aw, ah) = (aw as f64, ah as f64);
    let top = (theme.tick * 0.8 + 6.0 + spec.extra_top).round();
    let bottom = (theme.pad * 0.4).round();
    let left = (theme.pad * 0.5).round();
    let right = (theme.pad * 1.5).max(theme.tick * 3.0).round();
    let x_desc_h = if spec.x_desc.is_empty() { 2.0 } else { 8.0 + theme.desc * 1.2 };
    let x_area = (TICK_GAP as f64 + theme.tick * 1.2 + x_desc_h).round();
    let plot_h = (ah - top - bottom - x_area).max(20.0);
    let max_y_ticks = ((plot_h / (theme.tick * 2.2)) as usize).clamp(2, 9);
    let (lo, hi) = padded(&spec.y, plot_h);
    let y_area = |y: &Axis| y_area_width(theme, y, spec.y_desc).max(spec.min_y_area);
    let y = y_axis(lo, hi, &spec.y, max_y_ticks);
    let plot_w = (aw - left - right - y_area(&y)).max(20.0);
    let x = x_axis(&spec.x, plot_w, theme);
    let (corner, lo, hi) = if spec.legend.is_empty() {
        (Corner::UpperLeft, lo, hi)
    } else {
        let legend = legend_size(theme, spec.legend);
        place_legend((plot_w, plot_h), legend, theme.pad * 0.7, &x, &spec.y, (lo, hi), spec.occupied)
    };
    let y = y_axis(lo, hi, &spec.y, max_y_ticks);
    let y_area = y_area(&y);
    Plan {
        x_grid: !matches!(spec.x, XSpec::Categories(_)),
        x,
        y,
        x_desc: spec.x_desc.to_string(),
        y_desc: spec.y_desc.to_string(),
        x_area,
        y_area,
        top,
        right,
        bottom,
        left,
        corner,
    }
}

/// Room between an axis and its tick labels, in pixels.
const TICK_GAP: i32 = 8;

fn y_area_width(theme: &Theme, y: &Axis, desc: &str) -> f64 {
    let ink = Ink::new(theme.tick, INK_SOFT);
    let widest = y.ticks.iter().map(|t| text_width(theme, &t.1, ink)).fold(0.0, f64::max);
    let desc_w = if desc.is_empty() { 2.0 } else { 10.0 + theme.desc * 1.2 };
    (widest + TICK_GAP as f64 + desc_w).ceil()
}

/// The plotting area of a panel, with its grid, axes, tick marks, tick labels and axis
/// descriptions drawn. Plotters draws the lines; folio the text (see [`draw_text`]).
fn build<'b>(area: &Area<'b>, theme: &Theme, plan: &Plan) -> Result<Plot<'b>, String> {
    let mut chart = ChartBuilder::on(area)
        .margin_top(plan.top as u32)
        .margin_right(plan.right as u32)
        .margin_bottom(plan.bottom as u32)
        .margin_left(plan.left as u32)
        .x_label_area_size(plan.x_area as u32)
        .y_label_area_size(plan.y_area as u32)
        .build_cartesian_2d(plan.x.clone(), plan.y.clone())
        .map_err(de)?;
    let mut mesh = chart.configure_mesh();
    mesh.bold_line_style(GRID).axis_style(AXIS).set_all_tick_mark_size(4);
    if !plan.x_grid {
        mesh.disable_x_mesh();
    }
    mesh.draw().map_err(de)?;
    let plot = chart.plotting_area().clone();
    let overlay = plot.strip_coord_spec();
    let (w, h) = overlay.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let tick = Ink::new(theme.tick, INK_SOFT);
    for (x, text) in &plan.x.ticks {
        let (px, _) = pixel(&plot, (*x, plan.y.lo));
        if (0..=w).contains(&px) {
            draw_text(&overlay, theme, text, (px, h + TICK_GAP), tick, (HPos::Center, VPos::Top), true)?;
        }
    }
    for (y, text) in &plan.y.ticks {
        let (_, py) = pixel(&plot, (plan.x.lo, *y));
        if (0..=h).contains(&py) {
            draw_text(&overlay, theme, text, (-TICK_GAP, py), tick, (HPos::Right, VPos::Center), true)?;
        }
    }
    let desc = Ink::new(theme.desc, INK);
    if !plan.x_desc.is_empty() {
        let at = (w / 2, h + plan.x_area as i32);
        draw_text(&overlay, theme, &plan.x_desc, at, desc, (HPos::Center, VPos::Bottom), true)?;
    }
    // Along the axis, shortened to the plot's height so that stacked panels keep theirs apart.
    let y_desc = fit_text(theme, &plan.y_desc, desc, h as f64);
    if !y_desc.is_empty() {
        let at = (-(plan.y_area as i32), h / 2);
        draw_text(&overlay, theme, &y_desc, at, desc, (HPos::Center, VPos::Top), false)?;
    }
    Ok(plot)
}

/// Pixel of a data point, relative to the plotting area's top-left corner.
fn pixel(plot: &Plot<'_>, point: (f64, f64)) -> (i32, i32) {
    let (p, base) = (plot.map_coordinate(&point), plot.get_base_pixel());
    (p.0 - base.0, p.1 - base.1)
}

/// The data extent padded by `spec.pad` (on the warped scale) and `spec.room_px` (on a plot
/// `plot_h` pixels high), never empty.
fn padded(spec: &YSpec, plot_h: f64) -> (f64, f64) {
    let warp = |v: f64| if spec.log { v.ln() } else { v };
    let unwarp = |v: f64| if spec.log { v.exp() } else { v };
    let (mut a, mut b) = (warp(spec.lo), warp(spec.hi));
    if !(b > a) {
        let half = if spec.log || a == 0.0 { 0.5 } else { a.abs() * 0.05 };
        a -= half;
        b += half;
    }
    // Shares of the padded range: the data keep what the padding leaves.
    let (below, above) = (spec.pad.0 + spec.room_px.0 / plot_h, spec.pad.1 + spec.room_px.1 / plot_h);
    let span = (b - a) / (1.0 - below - above).max(0.2);
    (unwarp(a - span * below), unwarp(b + span * above))
}

fn y_axis(lo: f64, hi: f64, spec: &YSpec, max_ticks: usize) -> Axis {
    let mut ticks = if spec.log { log_ticks(lo, hi, max_ticks) } else { linear_ticks(lo, hi, max_ticks) };
    if spec.percent {
        ticks.iter_mut().for_each(|t| t.1.push('%'));
    }
    Axis { lo, hi, log: spec.log, ticks }
}

fn x_axis(spec: &XSpec<'_>, plot_w: f64, theme: &Theme) -> Axis {
    let char_px = theme.tick * 0.64;
    match *spec {
        XSpec::Time(labels) => {
            let (lo, hi) = if labels.len() > 1 { (0.0, (labels.len() - 1) as f64) } else { (-0.5, 0.5) };
            Axis { lo, hi, log: false, ticks: time_ticks(labels, plot_w, char_px) }
        }
        XSpec::Numeric { lo, hi } => {
            let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 0.5, hi + 0.5) };
            let widest = format_number(lo).len().max(format_number(hi).len()) as f64;
            let max = ((plot_w / (widest * char_px + 40.0)) as usize).clamp(2, 12);
            Axis { lo, hi, log: false, ticks: linear_ticks(lo, hi, max) }
        }
        XSpec::Categories(categories) => {
            let room = plot_w / categories.len() as f64 - 8.0;
            let ticks = categories
                .iter()
                .enumerate()
                .map(|(c, name)| (c as f64 + 0.5, fit_text(theme, name, Ink::new(theme.tick, INK), room)))
                .collect();
            Axis { lo: 0.0, hi: categories.len() as f64, log: false, ticks }
        }
    }
}

/// `2019-01-02`, optionally followed by a time (`T...` or ` ...`).
fn parse_date(label: &str) -> Option<NaiveDate> {
    let head = label.get(..10)?;
    if label.len() > 10 && !matches!(label.as_bytes()[10], b'T' | b' ') {
        return None;
    }
    NaiveDate::parse_from_str(head, "%Y-%m-%d").ok()
}

/// Ticks for a time axis `plot_w` pixels wide: at month or year starts for dates, else at
/// evenly spaced rows.
fn time_ticks(labels: &[String], plot_w: f64, char_px: f64) -> Vec<(f64, String)> {
    let dates: Option<Vec<NaiveDate>> = labels.iter().map(|l| parse_date(l)).collect();
    dates.and_then(|d| month_ticks(&d, plot_w, char_px)).unwrap_or_else(|| row_ticks(labels, plot_w, char_px))
}

/// The first row of every k-th month (or k-th year), with the smallest k whose labels fit.
fn month_ticks(dates: &[NaiveDate], plot_w: f64, char_px: f64) -> Option<Vec<(f64, String)>> {
    let month = |d: &NaiveDate| d.year() as i64 * 12 + d.month0() as i64;
    let starts: Vec<(usize, i64)> = (1..dates.len())
        .filter(|&i| month(&dates[i]) != month(&dates[i - 1]))
        .map(|i| (i, month(&dates[i])))
        .collect();
    for step in [1, 2, 3, 6, 12, 24, 60, 120, 240, 600, 1200] {
        let (format, chars) = if step < 12 { ("%b %Y", 8.5) } else { ("%Y", 4.5) };
        let fits = (plot_w / (chars * char_px + 28.0)).max(2.0) as usize;
        let picks: Vec<usize> =
            starts.iter().filter(|(_, m)| m.rem_euclid(step) == 0).map(|&(i, _)| i).collect();
        if picks.len() <= fits {
            if picks.len() < 2 {
                return None;
            }
            return Some(
                picks.into_iter().map(|i| (i as f64, dates[i].format(format).to_string())).collect(),
            );
        }
    }
    None
}

/// Every k-th row for k in 1, 2, 5, 10, ...: at multiples of k when the labels are integers
/// (period numbers), else counting from the first row.
fn row_ticks(labels: &[String], plot_w: f64, char_px: f64) -> Vec<(f64, String)> {
    let widest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1) as f64;
    let fits = (plot_w / (widest * char_px + 28.0)).max(2.0) as usize;
    let numbers: Option<Vec<i64>> = labels.iter().map(|l| l.trim().parse().ok()).collect();
    let mut base: i64 = 1;
    let picks = loop {
        let mut found = None;
        for step in [base, base * 2, base * 5] {
            let picks: Vec<usize> = match &numbers {
                Some(v) => (0..labels.len()).filter(|&i| v[i].rem_euclid(step) == 0).collect(),
                None => (0..labels.len()).step_by(step as usize).collect(),
            };
            if picks.len() <= fits {
                found = Some(picks);
                break;
            }
        }
        match found {
            Some(p) => break p,
            None if base > i64::MAX / 100 => break vec![0],
            None => base *= 10,
        }
    };
    let picks = if picks.is_empty() { vec![0] } else { picks };
    picks.into_iter().map(|i| (i as f64, labels[i].clone())).collect()
}

/// 1, 2, 2.5 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// Evenly spaced round values within `[lo, hi]`: the finest round step that gives at most
/// `max` of them, all printed with the same number of decimals.
fn linear_ticks(lo: f64, hi: f64, max: usize) -> Vec<(f64, String)> {
    if !(hi > lo) {
        return vec![(lo, format_number(lo))];
    }
    let count = |step: f64| ((hi / step + 1e-9).floor() - (lo / step - 1e-9).ceil() + 1.0).max(0.0) as usize;
    let mut step = nice_step((hi - lo) / (2 * max.max(1)) as f64);
    for _ in 0..64 {
        if count(step) <= max.max(1) {
            break;
        }
        step = nice_step(step * 1.000_001);
    }
    let decimals =
        (0..=9).find(|&d| ((step * 10f64.powi(d)).round() - step * 10f64.powi(d)).abs() < 1e-6).unwrap_or(9);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
            (v, format!("{v:.*}", decimals as usize))
        })
        .collect()
}

/// Ticks at 1, 2, 5 (or denser) times powers of ten within `[lo, hi]`; linear ticks when the range
/// spans too little of a decade for that.
fn log_ticks(lo: f64, hi: f64, max: usize) -> Vec<(f64, String)> {
    let sets: [&[f64]; 4] =
        [&[1.0], &[1.0, 2.0, 5.0], &[1.0, 2.0, 3.0, 5.0], &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0]];
    let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let in_range = |v: f64| v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9);
    let mut best: Vec<f64> = Vec::new();
    for set in sets {
        let ticks: Vec<f64> = (first..=last)
            .flat_map(|e| set.iter().map(move |m| m * 10f64.powi(e)))
            .filter(|&v| in_range(v))
            .collect();
        if ticks.len() <= max && ticks.len() > best.len() {
            best = ticks;
        }
    }
    if best.is_empty() {
        // More decades than ticks: every k-th decade.
        let every = ((last - first) as usize).div_ceil(max.max(1)).max(1);
        best = (first..=last).step_by(every).map(|e| 10f64.powi(e)).filter(|&v| in_range(v)).collect();
    }
    if best.len() < 3 {
        return linear_ticks(lo, hi, max);
    }
    best.into_iter().map(|v| (v, format_number(v))).collect()
}

/// A number with as few decimals as it needs (at most six).
fn format_number(v: f64) -> String {
    let decimals = (0..=6)
        .find(|&d| {
            let scaled = v * 10f64.powi(d);
            (scaled.round() - scaled).abs() < 1e-6 * scaled.abs().max(1.0)
        })
        .unwrap_or(6);
    let text = format!("{v:.*}", decimals as usize);
    if text.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') { "0".into() } else { text }
}

// ---------------------------------------------------------------------------------------------
// Legend

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Corner {
    UpperLeft,
    UpperRight,
    LowerRight,
    LowerLeft,
}

impl Corner {
    const ALL: [Corner; 4] = [Corner::UpperLeft, Corner::UpperRight, Corner::LowerRight, Corner::LowerLeft];

    fn is_top(self) -> bool {
        matches!(self, Corner::UpperLeft | Corner::UpperRight)
    }

    fn is_left(self) -> bool {
        matches!(self, Corner::UpperLeft | Corner::LowerLeft)
    }

    /// Top-left pixel of a `legend`-sized box in this corner of a `plot`-sized area.
    fn place(self, plot: (f64, f64), legend: (f64, f64), inset: f64) -> (f64, f64) {
        let x = if self.is_left() { inset } else { plot.0 - legend.0 - inset };
        let y = if self.is_top() { inset } else { plot.1 - legend.1 - inset };
        (x, y)
    }
}

#[derive(Debug, Clone, Copy)]
enum Swatch {
    Line(ShapeStyle),
    Fill(RGBAColor),
    /// A marker on a line of this width.
    Dot(RGBAColor, u32),
    /// A ring marking one point.
    Ring(RGBAColor),
}

#[derive(Debug, Clone)]
struct LegendEntry {
    label: String,
    swatch: Swatch,
}

struct LegendMetrics {
    row: f64,
    pad: f64,
    swatch: f64,
    gap: f64,
}

impl LegendMetrics {
    fn new(theme: &Theme) -> Self {
        let px = theme.legend;
        Self {
            row: (px * 1.55).round(),
            pad: (px * 0.65).round(),
            swatch: (px * 2.0).round(),
            gap: (px * 0.6).round(),
        }
    }
}

fn legend_size(theme: &Theme, entries: &[LegendEntry]) -> (f64, f64) {
    let m = LegendMetrics::new(theme);
    let ink = Ink::new(theme.legend, INK);
    let text = entries.iter().map(|e| text_width(theme, &e.label, ink)).fold(0.0, f64::max);
    (2.0 * m.pad + m.swatch + m.gap + text, 2.0 * m.pad + m.row * entries.len() as f64)
}

/// The corner whose legend box covers nothing drawn, growing the y range at the top or bottom
/// (where `spec.grow` allows) as little as possible to make one free. With no way to free a
/// corner, the one covering the least. Returns the corner and the (possibly grown) y range.
fn place_legend(
    plot: (f64, f64),
    legend: (f64, f64),
    inset: f64,
    x: &Axis,
    spec: &YSpec,
    (lo, hi): (f64, f64),
    occupied: &[Span],
) -> (Corner, f64, f64) {
    let (pw, ph) = plot;
    let slack = 4.0;
    let hits = |corner: Corner, y: &Axis| {
        let (bx, by) = corner.place(plot, legend, inset);
        let (bx0, bx1, by0, by1) = (bx - slack, bx + legend.0 + slack, by - slack, by + legend.1 + slack);
        occupied
            .iter()
            .filter(|s| {
                let (x0, x1) = (x.frac(s.x0) * pw, x.frac(s.x1) * pw);
                let (top, bottom) = ((1.0 - y.frac(s.y1)) * ph - s.px, (1.0 - y.frac(s.y0)) * ph + s.px);
                x0 <= bx1 && x1 >= bx0 && top <= by1 && bottom >= by0
            })
            .count()
    };
    let warp = |v: f64| if spec.log { v.ln() } else { v };
    let unwarp = |v: f64| if spec.log { v.exp() } else { v };
    let mut best: Option<(f64, Corner, f64, f64)> = None;
    let mut least = (usize::MAX, Corner::UpperLeft);
    for corner in Corner::ALL {
        let grows = if corner.is_top() { spec.grow.1 } else { spec.grow.0 };
        for step in 0..=if grows { 40 } else { 0 } {
            let grow = step as f64 * 0.025;
            let span = warp(hi) - warp(lo);
            let (l, h) = if corner.is_top() {
                (lo, unwarp(warp(hi) + grow * span))
            } else {
                (unwarp(warp(lo) - grow * span), hi)
            };
            let count = hits(corner, &Axis::bare(l, h, spec.log));
            if step == 0 && count < least.0 {
                least = (count, corner);
            }
            if count == 0 {
                if best.is_none_or(|b| grow < b.0) {
                    best = Some((grow, corner, l, h));
                }
                break;
            }
        }
    }
    match best {
        Some((_, corner, l, h)) => (corner, l, h),
        None => (least.1, lo, hi),
    }
}

fn draw_legend(
    plot: &Plot<'_>,
    theme: &Theme,
    entries: &[LegendEntry],
    corner: Corner,
) -> Result<(), String> {
    if entries.is_empty() {
        return Ok(());
    }
    let area = plot.strip_coord_spec();
    let (w, h) = area.dim_in_pixel();
    let size = legend_size(theme, entries);
    let (x, y) = corner.place((w as f64, h as f64), size, theme.pad * 0.7);
    draw_legend_at(&area, theme, entries, (x.round() as i32, y.round() as i32), true)
}

/// A legend with its top-left corner at `at` (pixels in `area`), on a white card when `card`.
fn draw_legend_at(
    area: &Area<'_>,
    theme: &Theme,
    entries: &[LegendEntry],
    at: (i32, i32),
    card: bool,
) -> Result<(), String> {
    let m = LegendMetrics::new(theme);
    let (w, h) = legend_size(theme, entries);
    let (x, y) = (at.0 as f64, at.1 as f64);
    if card {
        let corners = [(at.0, at.1), ((x + w) as i32, (y + h) as i32)];
        area.draw(&Rectangle::new(corners, WHITE.mix(0.9).filled())).map_err(de)?;
        area.draw(&Rectangle::new(corners, line_style(RGBColor(204, 204, 204), 1))).map_err(de)?;
    }
    let (_, area_h) = area.dim_in_pixel();
    for (k, entry) in entries.iter().enumerate() {
        let cy = y + m.pad + m.row * (k as f64 + 0.5);
        if cy + m.row / 2.0 > area_h as f64 {
            break;
        }
        let (x0, x1, yc) = ((x + m.pad) as i32, (x + m.pad + m.swatch) as i32, cy as i32);
        let half = (m.row * 0.32) as i32;
        match entry.swatch {
            Swatch::Line(style) => area.draw(&PathElement::new(vec![(x0, yc), (x1, yc)], style)),
            Swatch::Fill(colour) => {
                area.draw(&Rectangle::new([(x0, yc - half), (x1, yc + half)], colour.filled()))
            }
            Swatch::Dot(colour, width) => area
                .draw(&PathElement::new(vec![(x0, yc), (x1, yc)], line_style_rgba(colour, width)))
                .and_then(|_| {
                    let r = (theme.scale * 3.5).round().max(2.0) as u32;
                    area.draw(&Circle::new(((x0 + x1) / 2, yc), r, colour.filled()))
                }),
            Swatch::Ring(colour) => {
                let r = (theme.scale * 8.0).round().max(4.0) as u32;
                area.draw(&Circle::new(((x0 + x1) / 2, yc), r, line_style_rgba(colour, theme.line.max(2))))
            }
        }
        .map_err(de)?;
        let at = ((x + m.pad + m.swatch + m.gap) as i32, yc);
        draw_text(
            area,
            theme,
            &entry.label,
            at,
            Ink::new(theme.legend, INK),
            (HPos::Left, VPos::Center),
            true,
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Drawing helpers

fn draw_runs(plot: &Plot<'_>, runs: &[Run], style: ShapeStyle) -> Result<(), String> {
    for run in runs {
        if let [p] = run[..] {
            plot.draw(&Circle::new(p, style.stroke_width.max(2), style.filled())).map_err(de)?;
        } else if style.stroke_width > 1 {
            // plotters joins thick polylines with miters, which shoot spikes far past the data
            // where a noisy daily series turns sharply; segment by segment there are no joins.
            for pair in run.windows(2) {
                plot.draw(&PathElement::new(pair.to_vec(), style)).map_err(de)?;
            }
        } else {
            plot.draw(&PathElement::new(run.clone(), style)).map_err(de)?;
        }
    }
    Ok(())
}

fn hline(plot: &Plot<'_>, plan: &Plan, y: f64, style: ShapeStyle) -> Result<(), String> {
    plot.draw(&PathElement::new(vec![(plan.x.lo, y), (plan.x.hi, y)], style)).map_err(de)
}

/// A bar from zero to its value, with the value printed beyond its end when it fits.
fn draw_bar(plot: &Plot<'_>, theme: &Theme, bar: &Bar, colour: RGBColor) -> Result<(), String> {
    if !bar.value.is_finite() {
        return Ok(());
    }
    plot.draw(&Rectangle::new([(bar.x0, 0.0), (bar.x1, bar.value)], colour.filled())).map_err(de)?;
    let (left, end) = (pixel(plot, (bar.x0, bar.value)), pixel(plot, (bar.x1, bar.value)));
    let text = format!("{:.2}", bar.value);
    let ink = Ink::new(theme.note, INK_SOFT);
    if text_width(theme, &text, ink) > (end.0 - left.0) as f64 + 2.0 {
        return Ok(());
    }
    let (v_pos, dy) = if bar.value >= 0.0 { (VPos::Bottom, -3) } else { (VPos::Top, 3) };
    let at = ((left.0 + end.0) / 2, end.1 + dy);
    draw_text(&plot.strip_coord_spec(), theme, &text, at, ink, (HPos::Center, v_pos), true)
}

/// Every other fold's test period on a light grey ground.
fn shade_folds(plot: &Plot<'_>, plan: &Plan, folds: &[FoldSpan]) -> Result<(), String> {
    for f in folds.iter().step_by(2) {
        let x0 = (f.start as f64 - 0.5).max(plan.x.lo);
        let x1 = (f.end as f64 + 0.5).min(plan.x.hi);
        plot.draw(&Rectangle::new([(x0, plan.y.lo), (x1, plan.y.hi)], BLACK.mix(0.06).filled()))
            .map_err(de)?;
    }
    Ok(())
}

/// "fold k" (or just "k" where that is all that fits) above each fold's test period.
fn label_folds(plot: &Plot<'_>, theme: &Theme, plan: &Plan, folds: &[FoldSpan]) -> Result<(), String> {
    let area = plot.strip_coord_spec();
    let ink = Ink::new(theme.note, INK_SOFT);
    let widths: Vec<f64> = folds
        .iter()
        .map(|f| {
            let a = pixel(plot, ((f.start as f64 - 0.5).max(plan.x.lo), plan.y.hi));
            let b = pixel(plot, ((f.end as f64 + 0.5).min(plan.x.hi), plan.y.hi));
            (b.0 - a.0) as f64
        })
        .collect();
    let narrowest = widths.iter().copied().fold(f64::INFINITY, f64::min);
    let long = (1..=folds.len()).all(|k| text_width(theme, &format!("fold {k}"), ink) + 6.0 <= narrowest);
    for (k, f) in folds.iter().enumerate() {
        let text = if long { format!("fold {}", k + 1) } else { format!("{}", k + 1) };
        if text_width(theme, &text, ink) + 2.0 > widths[k] {
            continue;
        }
        let (x, y) = pixel(plot, ((f.start + f.end) as f64 / 2.0, plan.y.hi));
        draw_text(&area, theme, &text, (x, y - 4), ink, (HPos::Center, VPos::Bottom), true)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::path::PathBuf;

    /// A decoded PNG.
    struct Picture {
        width: u32,
        height: u32,
        rgb: Vec<[u8; 3]>,
    }

    impl Picture {
        fn read(path: &Path) -> Picture {
            let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let mut reader = png::Decoder::new(file).read_info().expect("a PNG header");
            let mut buffer = vec![0; reader.output_buffer_size()];
            let info = reader.next_frame(&mut buffer).expect("PNG data");
            assert_eq!(info.color_type, png::ColorType::Rgb);
            assert_eq!(info.bit_depth, png::BitDepth::Eight);
            let rgb = buffer[..info.buffer_size()].chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
            Picture { width: info.width, height: info.height, rgb }
        }

        fn distinct_colours(&self) -> usize {
            self.rgb.iter().collect::<HashSet<_>>().len()
        }

        /// Share of pixels that are not the white background.
        fn ink(&self) -> f64 {
            self.rgb.iter().filter(|p| **p != [255, 255, 255]).count() as f64 / self.rgb.len() as f64
        }

        /// Pixels of exactly this colour, as (x, y).
        fn pixels_of(&self, c: RGBColor) -> Vec<(u32, u32)> {
            (0..self.rgb.len())
                .filter(|&i| self.rgb[i] == [c.0, c.1, c.2])
                .map(|i| (i as u32 % self.width, i as u32 / self.width))
                .collect()
        }
    }

    /// Decodes, has the requested size and is plainly a picture rather than a blank.
    fn assert_drawn(path: &Path, size: PlotSize) -> Picture {
        let picture = Picture::read(path);
        assert_eq!((picture.width, picture.height), (size.width, size.height), "{}", path.display());
        assert!(
            picture.distinct_colours() >= 30,
            "{}: {} colours",
            path.display(),
            picture.distinct_colours()
        );
        let ink = picture.ink();
        assert!((0.01..0.9).contains(&ink), "{}: {:.1}% ink", path.display(), 100.0 * ink);
        picture
    }

    /// Deterministic random numbers for synthetic data (SplitMix64).
    struct Noise(u64);

    impl Noise {
        fn uniform(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }

        fn normal(&mut self) -> f64 {
            let (u, v) = (self.uniform().max(1e-300), self.uniform());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    /// `n` weekdays from 2019-01-02.
    fn trading_days(n: usize) -> Vec<String> {
        let mut day = NaiveDate::from_ymd_opt(2019, 1, 2).unwrap();
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if day.weekday().number_from_monday() <= 5 {
                out.push(day.format("%Y-%m-%d").to_string());
            }
            day = day.succ_opt().unwrap();
        }
        out
    }

    fn random_walk(noise: &mut Noise, n: usize, drift: f64, vol: f64) -> Vec<f64> {
        let mut v = 1.0;
        (0..n)
            .map(|t| {
                if t > 0 {
                    v *= (drift + vol * noise.normal()).exp();
                }
                v
            })
            .collect()
    }

    fn three_curves(n: usize) -> Vec<Series> {
        let mut noise = Noise(7);
        vec![
            Series::emphasized("agent (PPO)", random_walk(&mut noise, n, 0.0005, 0.012)),
            Series::new("equal weight", random_walk(&mut noise, n, 0.0003, 0.010)),
            Series::new("minimum variance", random_walk(&mut noise, n, 0.0002, 0.006)),
        ]
    }

    /// Softmax of slowly wandering scores: `n` long-only rows over cash and `assets`.
    fn weight_rows(n: usize, assets: usize) -> (Vec<String>, Vec<Vec<f64>>) {
        let mut noise = Noise(11);
        let mut names = vec!["cash".to_string()];
        let tickers = [
            "SPY", "QQQ", "IWM", "EFA", "EEM", "TLT", "IEF", "SHY", "LQD", "HYG", "GLD", "SLV", "USO", "DBC",
            "VNQ", "XLE", "XLF", "XLK", "XLV", "XLU", "XLP", "XLY", "XLI", "XLB",
        ];
        names.extend((0..assets).map(|j| tickers[j % tickers.len()].to_string()));
        let mut scores: Vec<f64> =
            (0..=assets).map(|j| 1.5 * noise.normal() - if j == 0 { 1.0 } else { 0.0 }).collect();
        let rows = (0..n)
            .map(|_| {
                scores.iter_mut().for_each(|s| *s += 0.08 * noise.normal());
                let e: Vec<f64> = scores.iter().map(|s| s.exp()).collect();
                let total: f64 = e.iter().sum();
                e.iter().map(|x| x / total).collect()
            })
            .collect();
        (names, rows)
    }

    fn temp() -> tempfile::TempDir {
        tempfile::tempdir().expect("a temporary folder")
    }

    fn reason(result: Result<(), ReportError>) -> String {
        match result {
            Err(ReportError::Plot { reason, .. }) => reason,
            other => panic!("expected a plot error, got {other:?}"),
        }
    }

    #[test]
    fn the_embedded_font_loads_and_measures_text() {
        let theme = Theme::new(PlotSize::default(), fonts().unwrap());
        let ink = Ink::new(12.0, INK);
        let short = text_width(&theme, "Jan", ink);
        let long = text_width(&theme, "Jan 2019", ink);
        assert!(short > 15.0 && long > 2.2 * short, "{short} {long}");
        // DejaVu Sans digits are 0.636 em wide.
        assert!((text_width(&theme, "0123456789", ink) - 10.0 * 0.636 * 12.0).abs() < 1.0);
        assert!(text_width(&theme, "Jan", ink.bold()) > short);
    }

    #[test]
    fn equity_draws_every_series_with_the_agent_in_its_strong_colour() {
        let dir = temp();
        let path = dir.path().join("equity.png");
        let labels = trading_days(1000);
        let size = PlotSize { width: 900, height: 520 };
        equity(&path, "Out of sample", &labels, &three_curves(1000), false, size).unwrap();
        let picture = assert_drawn(&path, size);
        assert!(picture.pixels_of(STRONG[0]).len() > 1500, "the agent's blue is missing");
        for colour in [TABLEAU_10[1], TABLEAU_10[2]] {
            assert!(picture.pixels_of(colour).len() > 500, "{colour:?} is missing");
        }
        // Written atomically: nothing else left in the folder.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn equity_default_size_and_overwrite() {
        let dir = temp();
        let path = dir.path().join("equity.png");
        std::fs::write(&path, b"old").unwrap();
        let labels: Vec<String> = (1..=300).map(|i| i.to_string()).collect();
        let series = vec![Series::new("a", (0..300).map(|i| 1.0 + i as f64 / 300.0).collect())];
        equity(&path, "Undated", &labels, &series, false, PlotSize::default()).unwrap();
        assert_drawn(&path, PlotSize::default());
    }

    #[test]
    fn log_scale_straightens_growth_over_three_decades() {
        let dir = temp();
        let n = 800;
        let labels = trading_days(n);
        let growth: Vec<f64> = (0..n).map(|i| 0.1 * 1000f64.powf(i as f64 / (n - 1) as f64)).collect();
        let series = vec![Series::emphasized("agent", growth), Series::new("cash", vec![1.0; n])];
        let mean_height = |log: bool| {
            let path = dir.path().join(format!("log-{log}.png"));
            equity(&path, "Growth", &labels, &series, log, PlotSize::default()).unwrap();
            let picture = assert_drawn(&path, PlotSize::default());
            let blue = picture.pixels_of(STRONG[0]);
            assert!(blue.len() > 1500);
            blue.iter().map(|p| p.1 as f64).sum::<f64>() / blue.len() as f64 / picture.height as f64
        };
        // Linear: the curve hugs the floor for most of its length. Log: a straight diagonal.
        let (linear, log) = (mean_height(false), mean_height(true));
        assert!(linear > 0.65, "linear mean height {linear}");
        assert!((0.35..0.6).contains(&log), "log mean height {log}");

        let axis = Axis::bare(0.1, 100.0, true);
        assert!((axis.frac(1.0) - 1.0 / 3.0).abs() < 1e-12 && (axis.frac(10.0) - 2.0 / 3.0).abs() < 1e-12);
        let ticks: Vec<String> = log_ticks(0.1, 100.0, 6).into_iter().map(|t| t.1).collect();
        assert_eq!(ticks, ["0.1", "1", "10", "100"]);
        let ticks: Vec<String> = log_ticks(0.5, 60.0, 7).into_iter().map(|t| t.1).collect();
        assert_eq!(ticks, ["0.5", "1", "2", "5", "10", "20", "50"]);
        // Less than a decade: plain round values.
        let ticks: Vec<String> = log_ticks(0.9, 1.6, 8).into_iter().map(|t| t.1).collect();
        assert_eq!(ticks, ["0.9", "1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6"]);
    }

    #[test]
    fn gaps_are_skipped_not_drawn_or_fatal() {
        let dir = temp();
        let path = dir.path().join("gaps.png");
        let labels = trading_days(400);
        let mut curves = three_curves(400);
        for i in (100..140).chain([5, 250, 399]) {
            curves[0].values[i] = f64::NAN;
        }
        curves[1].values[300] = f64::INFINITY;
        curves[2].values = vec![f64::NAN; 400];
        equity(&path, "Gaps", &labels, &curves, true, PlotSize::default()).unwrap();
        let picture = assert_drawn(&path, PlotSize::default());
        assert!(picture.pixels_of(STRONG[0]).len() > 1000);
        drawdown(&dir.path().join("dd.png"), "Gaps", &labels, &curves, PlotSize::default()).unwrap();
    }

    #[test]
    fn underwater_is_the_fall_from_the_running_peak_in_percent() {
        let d = underwater(&[1.0, 1.2, 0.9, f64::NAN, 1.2, 1.32, 0.0, 0.66]);
        let expected = [0.0, 0.0, -25.0, f64::NAN, 0.0, 0.0, f64::NAN, -50.0];
        for (a, b) in d.iter().zip(expected) {
            assert!((a.is_nan() && b.is_nan()) || (a - b).abs() < 1e-9, "{d:?}");
        }
    }

    #[test]
    fn drawdown_fills_the_agent() {
        let dir = temp();
        let path = dir.path().join("drawdown.png");
        let size = PlotSize { width: 1000, height: 600 };
        drawdown(&path, "Drawdowns", &trading_days(1000), &three_curves(1000), size).unwrap();
        let picture = assert_drawn(&path, size);
        assert!(picture.pixels_of(STRONG[0]).len() > 1500);
        // The fill: the agent's blue, faint on white.
        let fill = STRONG[0].mix(0.16);
        let blend = |c: u8| (fill.3 * c as f64 + (1.0 - fill.3) * 255.0) as i32;
        let (r, g, b) = (blend(STRONG[0].0), blend(STRONG[0].1), blend(STRONG[0].2));
        let close = picture
            .rgb
            .iter()
            .filter(|p| {
                (p[0] as i32 - r).abs() <= 2 && (p[1] as i32 - g).abs() <= 2 && (p[2] as i32 - b).abs() <= 2
            })
            .count();
        assert!(close > 5000, "{close} fill pixels");
    }

    #[test]
    fn weights_stack_the_top_assets_and_the_rest_as_other() {
        let (names, rows) = weight_rows(300, 20);
        let labels = trading_days(300);
        let stack = weight_bands(&labels, &names, &rows, 6).unwrap();
        let band_names: Vec<&str> = stack.bands.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(band_names.len(), 8, "{band_names:?}");
        assert_eq!(band_names[0], "cash");
        assert_eq!(band_names[7], "other (14 assets)");
        assert!(stack.bands[1..7].windows(2).all(|w| w[0].mean >= w[1].mean));
        for r in [0, 150, 299] {
            assert!((stack.total(r) - 1.0).abs() < 1e-9);
        }

        let dir = temp();
        let path = dir.path().join("weights.png");
        weights(&path, "Weights", &labels, &names, &rows, 6, PlotSize::default()).unwrap();
        let picture = assert_drawn(&path, PlotSize::default());
        assert!(picture.pixels_of(TABLEAU_10[0]).len() > 2000, "the first asset's band");
        assert!(picture.pixels_of(OTHER).len() > 2000, "the other band");
        // No grouping when top_k covers every asset.
        let all = weight_bands(&labels, &names, &rows, 20).unwrap();
        assert_eq!(all.bands.len(), 21);
    }

    #[test]
    fn weights_skip_broken_rows_and_reject_shorts() {
        let (names, mut rows) = weight_rows(50, 4);
        let labels = trading_days(50);
        rows[10][2] = f64::NAN;
        let stack = weight_bands(&labels, &names, &rows, 3).unwrap();
        assert_eq!(stack.rows.len(), 49);
        rows[20][1] = -0.2;
        let dir = temp();
        let e =
            reason(weights(&dir.path().join("w.png"), "", &labels, &names, &rows, 3, PlotSize::default()));
        assert!(e.contains("long-only") && e.contains(&labels[20]), "{e}");
    }

    #[test]
    fn training_draws_both_panels_with_or_without_validation() {
        let dir = temp();
        let mut noise = Noise(3);
        let updates: Vec<f64> = (1..=500).map(f64::from).collect();
        let reward: Vec<f64> =
            updates.iter().map(|u| -0.5 + 0.8 * (1.0 - (-u / 150.0).exp()) + 0.2 * noise.normal()).collect();
        let v_updates: Vec<f64> = (1..=25).map(|k| 20.0 * k as f64).collect();
        let v_sharpe: Vec<f64> = v_updates
            .iter()
            .map(|u| 1.2 * (1.0 - (-u / 200.0).exp()) - 0.3 + 0.15 * noise.normal())
            .collect();
        let path = dir.path().join("training.png");
        training(&path, "Training", &updates, &reward, &v_updates, &v_sharpe, PlotSize::default()).unwrap();
        let picture = assert_drawn(&path, PlotSize::default());
        assert!(picture.pixels_of(STRONG[0]).len() > 1000, "the moving average");
        assert!(picture.pixels_of(TABLEAU_10[1]).len() > 300, "the validation line");

        let path = dir.path().join("training-no-validation.png");
        training(&path, "Training", &updates[..5], &reward[..5], &[], &[], PlotSize::default()).unwrap();
        assert_drawn(&path, PlotSize::default());
    }

    #[test]
    fn walk_forward_shades_folds_and_pairs_bars() {
        let dir = temp();
        let path = dir.path().join("wf.png");
        let labels = trading_days(750);
        let folds: Vec<FoldSpan> = (0..6)
            .map(|k| FoldSpan {
                start: k * 125,
                end: k * 125 + 124,
                agent_sharpe: [0.8, -0.4, 1.3, 0.2, f64::NAN, 0.9][k],
                equal_weight_sharpe: [0.6, -0.1, 0.9, 0.5, 0.3, 0.7][k],
            })
            .collect();
        walk_forward(&path, "Walk-forward", &labels, &three_curves(750), &folds, PlotSize::default())
            .unwrap();
        let picture = assert_drawn(&path, PlotSize::default());
        assert!(picture.pixels_of(STRONG[0]).len() > 3000, "the agent's line and bars");
        assert!(picture.pixels_of(TABLEAU_10[1]).len() > 2000, "the equal-weight line and bars");
        // The shading: white dimmed by 6% black.
        assert!(picture.pixels_of(RGBColor(240, 240, 240)).len() > 20_000);
    }

    #[test]
    fn bars_group_values_per_category_including_negatives() {
        let dir = temp();
        let path = dir.path().join("bars.png");
        let categories: Vec<String> = ["0 bp", "5 bp", "10 bp", "25 bp", "50 bp"].map(String::from).to_vec();
        let groups = vec![
            ("agent".to_string(), vec![1.1, 0.9, 0.7, 0.2, -0.6]),
            ("equal weight".to_string(), vec![0.7, 0.68, 0.66, 0.6, 0.5]),
        ];
        let size = PlotSize { width: 800, height: 500 };
        bars_with_axes(
            &path,
            "Cost sensitivity",
            "cost per unit turnover",
            "Sharpe ratio",
            &categories,
            &groups,
            size,
        )
        .unwrap();
        let picture = assert_drawn(&path, size);
        assert!(picture.pixels_of(TABLEAU_10[0]).len() > 3000);
        assert!(picture.pixels_of(TABLEAU_10[1]).len() > 3000);
        bars(&dir.path().join("plain.png"), "Plain", &categories, &groups, size).unwrap();
    }

    #[test]
    fn every_picture_draws_at_the_smallest_and_a_large_size() {
        let dir = temp();
        let labels = trading_days(260);
        let curves = three_curves(260);
        let (names, rows) = weight_rows(260, 12);
        let updates: Vec<f64> = (1..=260).map(f64::from).collect();
        let folds = [
            FoldSpan { start: 0, end: 129, agent_sharpe: 0.5, equal_weight_sharpe: -0.2 },
            FoldSpan { start: 130, end: 259, agent_sharpe: 1.5, equal_weight_sharpe: 0.7 },
        ];
        let categories: Vec<String> = ["a long category name", "b", "c"].map(String::from).to_vec();
        let groups =
            vec![("x".to_string(), vec![1.0, -2.0, 3.0]), ("y".to_string(), vec![0.5, 0.5, f64::NAN])];
        for size in [PlotSize { width: 240, height: 160 }, PlotSize { width: 2400, height: 1400 }] {
            let at = |name: &str| dir.path().join(format!("{name}-{}.png", size.width));
            let title = "A title long enough that a small picture has to shorten it with an ellipsis";
            equity(&at("equity"), title, &labels, &curves, true, size).unwrap();
            drawdown(&at("drawdown"), title, &labels, &curves, size).unwrap();
            weights(&at("weights"), title, &labels, &names, &rows, 5, size).unwrap();
            training(
                &at("training"),
                title,
                &updates,
                &curves[0].values,
                &updates[..10],
                &updates[..10],
                size,
            )
            .unwrap();
            walk_forward(&at("walk_forward"), title, &labels, &curves, &folds, size).unwrap();
            bars(&at("bars"), title, &categories, &groups, size).unwrap();
            for name in ["equity", "drawdown", "weights", "training", "walk_forward", "bars"] {
                let picture = Picture::read(&at(name));
                assert_eq!((picture.width, picture.height), (size.width, size.height), "{name}");
                assert!(picture.distinct_colours() >= 10 && picture.ink() > 0.01, "{name} at {size:?}");
            }
        }
    }

    #[test]
    fn empty_and_mismatched_inputs_are_clear_errors_and_write_nothing() {
        let dir = temp();
        let path = dir.path().join("never.png");
        let labels = trading_days(10);
        let ten = vec![Series::new("a", vec![1.0; 10])];
        let size = PlotSize::default();
        let cases: Vec<(Result<(), ReportError>, &str)> = vec![
            (equity(&path, "", &[], &ten, false, size), "no labels"),
            (equity(&path, "", &labels, &[], false, size), "no series"),
            (equity(&path, "", &labels[..9], &ten, false, size), "has 10 values, but there are 9 labels"),
            (
                equity(&path, "", &labels, &[Series::new("a", vec![f64::NAN; 10])], false, size),
                "no series has a finite",
            ),
            (equity(&path, "", &labels, &[Series::new("a", vec![-1.0; 10])], true, size), "log scale"),
            (equity(&path, "", &labels, &ten, false, PlotSize { width: 100, height: 50 }), "100x50"),
            (drawdown(&path, "", &labels, &[Series::new("a", vec![1.0; 3])], size), "has 3 values"),
            (weights(&path, "", &labels, &["cash".into()], &[], 5, size), "no decisions"),
            (
                weights(&path, "", &labels, &["cash".into(), "A".into()], &vec![vec![0.5; 2]; 9], 5, size),
                "9 rows",
            ),
            (
                weights(&path, "", &labels[..1], &["cash".into(), "A".into()], &[vec![1.0]], 5, size),
                "1 entries",
            ),
            (training(&path, "", &[], &[], &[], &[], size), "no updates"),
            (training(&path, "", &[1.0, 2.0], &[0.5], &[], &[], size), "2 updates but 1 rewards"),
            (training(&path, "", &[1.0], &[0.5], &[1.0], &[], size), "validation"),
            (walk_forward(&path, "", &labels, &ten, &[], size), "no folds"),
            (
                walk_forward(
                    &path,
                    "",
                    &labels,
                    &ten,
                    &[FoldSpan { start: 5, end: 10, agent_sharpe: 1.0, equal_weight_sharpe: 1.0 }],
                    size,
                ),
                "fold 1 spans rows 5..=10",
            ),
            (bars(&path, "", &[], &[("a".into(), vec![])], size), "no categories"),
            (bars(&path, "", &["x".into()], &[], size), "no groups"),
            (bars(&path, "", &["x".into()], &[("a".into(), vec![1.0, 2.0])], size), "has 2 values"),
        ];
        for (result, expected) in cases {
            let e = reason(result);
            assert!(e.contains(expected), "\"{e}\" should mention \"{expected}\"");
        }
        assert!(!path.exists());
    }

    #[test]
    fn time_ticks_fall_on_month_or_year_starts_and_fit() {
        let labels = trading_days(1000);
        let ticks = time_ticks(&labels, 1000.0, 8.0);
        assert!((4..=12).contains(&ticks.len()), "{ticks:?}");
        for (i, text) in &ticks {
            let i = *i as usize;
            assert_ne!(labels[i][..7], labels[i - 1][..7], "{text} is not the first day of a month");
        }
        assert_eq!(ticks[0].1, "Jul 2019");
        // Narrow: years.
        let ticks = time_ticks(&labels, 300.0, 8.0);
        assert_eq!(ticks.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(), ["2020", "2021", "2022"]);
        // Period numbers: round ones.
        let periods: Vec<String> = (1..=1000).map(|i| i.to_string()).collect();
        let ticks = time_ticks(&periods, 1000.0, 8.0);
        assert_eq!(
            ticks.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(),
            ["100", "200", "300", "400", "500", "600", "700", "800", "900", "1000"]
        );
        // Other labels: evenly spaced from the first.
        let words: Vec<String> = (0..30).map(|i| format!("step-{i}")).collect();
        let ticks = time_ticks(&words, 600.0, 8.0);
        assert_eq!(ticks[0].1, "step-0");
        assert!(ticks.len() >= 3 && ticks.len() <= 10);
        // Too short for month starts: row ticks with whole dates.
        let ticks = time_ticks(&labels[..15], 900.0, 8.0);
        assert!(ticks.len() >= 3 && ticks[0].1 == "2019-01-02", "{ticks:?}");
    }

    #[test]
    fn linear_ticks_are_round_and_share_decimals() {
        let texts = |lo, hi, n| linear_ticks(lo, hi, n).into_iter().map(|t| t.1).collect::<Vec<_>>();
        assert_eq!(texts(0.0, 100.0, 6), ["0", "20", "40", "60", "80", "100"]);
        assert_eq!(texts(-0.31, 0.02, 7), ["-0.30", "-0.25", "-0.20", "-0.15", "-0.10", "-0.05", "0.00"]);
        assert_eq!(texts(0.93, 1.42, 5), ["1.0", "1.1", "1.2", "1.3", "1.4"]);
    }

    #[test]
    fn the_legend_moves_to_a_free_corner_or_makes_room() {
        let x = Axis::bare(0.0, 99.0, false);
        let spec = |grow| YSpec {
            lo: 0.0,
            hi: 1.0,
            log: false,
            percent: false,
            pad: (0.0, 0.0),
            grow,
            room_px: (0.0, 0.0),
        };
        // A rising line from bottom-left to top-right leaves the upper left free.
        let rising: Vec<Run> = vec![(0..100).map(|i| (i as f64, i as f64 / 99.0)).collect()];
        let spans = line_spans(&rising);
        let (corner, lo, hi) =
            place_legend((1000.0, 500.0), (200.0, 80.0), 10.0, &x, &spec((true, true)), (0.0, 1.0), &spans);
        assert_eq!((corner, lo, hi), (Corner::UpperLeft, 0.0, 1.0));
        // A line across the whole top and bottom: grow the range rather than cover it.
        let both: Vec<Run> =
            vec![(0..100).map(|i| (i as f64, 1.0)).collect(), (0..100).map(|i| (i as f64, 0.0)).collect()];
        let range = (-0.05, 1.05);
        let (corner, lo, hi) = place_legend(
            (1000.0, 500.0),
            (200.0, 80.0),
            10.0,
            &x,
            &spec((false, true)),
            range,
            &line_spans(&both),
        );
        assert!(corner.is_top() && lo == -0.05 && hi > 1.2, "{corner:?} {lo} {hi}");
        // Where nothing may grow, the corner that covers least.
        let mut two = both.clone();
        two[1].truncate(50);
        let (corner, lo, hi) = place_legend(
            (1000.0, 500.0),
            (200.0, 80.0),
            10.0,
            &x,
            &spec((false, false)),
            range,
            &line_spans(&two),
        );
        assert_eq!((corner, lo, hi), (Corner::LowerRight, -0.05, 1.05));
    }

    /// Example pictures with realistic data, to look at: `cargo test --release --lib
    /// report::plot::tests::gallery -- --ignored`, into `$FOLIO_PLOT_GALLERY` or `/tmp/plots`.
    #[test]
    #[ignore]
    fn gallery() {
        let dir = PathBuf::from(std::env::var("FOLIO_PLOT_GALLERY").unwrap_or_else(|_| "/tmp/plots".into()));
        std::fs::create_dir_all(&dir).unwrap();
        let n = 1000;
        let labels = trading_days(n);
        let curves = three_curves(n);
        let size = PlotSize::default();
        equity(&dir.join("equity.png"), "Out-of-sample wealth, 2019-2022", &labels, &curves, false, size)
            .unwrap();
        let mut noise = Noise(5);
        let wide = vec![
            Series::emphasized("agent (PPO)", random_walk(&mut noise, n, 0.004, 0.02)),
            Series::new("equal weight", random_walk(&mut noise, n, 0.0004, 0.01)),
            Series::new("cash", vec![1.0; n]),
        ];
        equity(&dir.join("equity_log.png"), "Wealth on a log scale", &labels, &wide, true, size).unwrap();
        equity(
            &dir.join("equity_small.png"),
            "Small picture",
            &labels,
            &curves,
            false,
            PlotSize { width: 640, height: 380 },
        )
        .unwrap();
        let periods: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
        equity(&dir.join("equity_periods.png"), "Undated synthetic market", &periods, &curves, false, size)
            .unwrap();
        drawdown(&dir.join("drawdown.png"), "Drawdown from peak", &labels, &curves, size).unwrap();
        let (names, rows) = weight_rows(n, 20);
        weights(&dir.join("weights.png"), "Agent weights (top 8 assets)", &labels, &names, &rows, 8, size)
            .unwrap();
        let (few_names, few_rows) = weight_rows(n, 5);
        weights(&dir.join("weights_few.png"), "Agent weights", &labels, &few_names, &few_rows, 8, size)
            .unwrap();

        let updates: Vec<f64> = (1..=600).map(f64::from).collect();
        let reward: Vec<f64> =
            updates.iter().map(|u| -0.4 + 0.7 * (1.0 - (-u / 150.0).exp()) + 0.25 * noise.normal()).collect();
        let v_updates: Vec<f64> = (1..=30).map(|k| 20.0 * k as f64).collect();
        let v_sharpe: Vec<f64> = v_updates
            .iter()
            .map(|u| 1.1 * (1.0 - (-u / 200.0).exp()) - 0.2 + 0.12 * noise.normal())
            .collect();
        training(
            &dir.join("training.png"),
            "Training: PPO on 20 ETFs",
            &updates,
            &reward,
            &v_updates,
            &v_sharpe,
            size,
        )
        .unwrap();
        training(
            &dir.join("training_no_validation.png"),
            "Training (no validation)",
            &updates,
            &reward,
            &[],
            &[],
            size,
        )
        .unwrap();

        let folds: Vec<FoldSpan> = (0..8)
            .map(|k| FoldSpan {
                start: k * 125,
                end: (k * 125 + 124).min(n - 1),
                agent_sharpe: 1.5 * noise.normal() + 0.4,
                equal_weight_sharpe: 0.8 * noise.normal() + 0.5,
            })
            .collect();
        walk_forward(&dir.join("walk_forward.png"), "Walk-forward, 8 folds", &labels, &curves, &folds, size)
            .unwrap();
        let small = PlotSize { width: 600, height: 360 };
        walk_forward(
            &dir.join("walk_forward_small.png"),
            "Walk-forward, small",
            &labels,
            &curves,
            &folds,
            small,
        )
        .unwrap();
        let tiny = PlotSize { width: 240, height: 160 };
        training(
            &dir.join("training_tiny.png"),
            "Training, tiny",
            &updates,
            &reward,
            &v_updates,
            &v_sharpe,
            tiny,
        )
        .unwrap();
        let (names, rows) = (&names, &rows);
        weights(&dir.join("weights_small.png"), "Agent weights, small", &labels, names, rows, 8, small)
            .unwrap();

        let categories: Vec<String> =
            ["0 bp", "5 bp", "10 bp", "20 bp", "50 bp", "100 bp"].map(String::from).to_vec();
        let groups = vec![
            ("agent (PPO)".to_string(), vec![1.21, 1.05, 0.92, 0.64, -0.12, -0.95]),
            ("equal weight".to_string(), vec![0.71, 0.70, 0.69, 0.67, 0.62, 0.55]),
            ("minimum variance".to_string(), vec![0.55, 0.54, 0.53, 0.51, 0.47, 0.40]),
        ];
        bars_with_axes(
            &dir.join("bars.png"),
            "Sharpe ratio against transaction costs",
            "cost per unit of turnover",
            "Sharpe ratio",
            &categories,
            &groups,
            size,
        )
        .unwrap();
    }
}
