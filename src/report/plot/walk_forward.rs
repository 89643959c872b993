//! Walk-forward evaluation: stitched out-of-sample wealth over the folds' test periods, and each
//! fold's Sharpe ratios below.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::DrawError;
use super::axis::{XSpec, YSpec, time_desc};
use super::bars::{Bar, ValueLabels, bar_spans, draw_bar};
use super::canvas::Canvas;
use super::legend::{LegendEntry, Swatch, draw_legend};
use super::lines::{Lines, check_series};
use super::panel::{PanelSpec, Plan, build, pixel, plan_stacked, zero_line};
use super::text::{Ink, draw_text, draw_title, text_width};
use super::theme::{INK_SOFT, STRONG, TABLEAU_10, Theme};
use super::{
    Area, FoldSpan, Plot, PlotSize, ReportError, Series, de, extent, failure, render, render_svg, svg_failure,
};

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
    let chart = WalkForward::new(title, labels, stitched, folds).map_err(failure(path))?;
    render(path, size, |root, theme| chart.draw(root, theme))
}

/// [`walk_forward`] as an SVG document.
pub fn walk_forward_svg(
    title: &str,
    labels: &[String],
    stitched: &[Series],
    folds: &[FoldSpan],
    size: PlotSize,
) -> Result<String, ReportError> {
    let chart = WalkForward::new(title, labels, stitched, folds).map_err(svg_failure("walk-forward"))?;
    render_svg("walk-forward", size, |root, theme| chart.draw(root, theme))
}

/// A walk-forward chart checked and ready to draw.
struct WalkForward<'a> {
    title: &'a str,
    labels: &'a [String],
    stitched: &'a [Series],
    folds: &'a [FoldSpan],
    extent: (f64, f64),
}

impl<'a> WalkForward<'a> {
    fn new(
        title: &'a str,
        labels: &'a [String],
        stitched: &'a [Series],
        folds: &'a [FoldSpan],
    ) -> Result<Self, DrawError> {
        check_series(labels, stitched)?;
        check_folds(labels, folds)?;
        let extent = extent(stitched.iter().flat_map(|s| s.values.iter().copied()).filter(|v| v.is_finite()))
            .ok_or("nothing to plot: no series has a finite value")?;
        Ok(Self { title, labels, stitched, folds, extent })
    }

    fn draw<C: Canvas>(&self, root: &Area<C>, theme: &Theme) -> Result<(), DrawError> {
        let Self { title, labels, stitched, folds, extent: (lo, hi) } = *self;
        let body = draw_title(root, theme, title)?;
        let (_, body_h) = body.dim_in_pixel();
        let (upper, lower) = body.split_vertically((body_h as f64 * 0.62) as u32);
        let lines = Lines::new(stitched, stitched.iter().map(|s| &s.values[..]), f64::is_finite);
        let occupied = lines.spans();
        let legend = lines.legend(theme, |s| s.name.clone());
        let sharpes = SharpeBars::new(&lines, folds);
        let bar_legend = sharpes.legend();
        let label_px = theme.bar_label();
        let bar_spans = bar_spans(&sharpes.bars, label_px);
        let top = PanelSpec {
            y_desc: "portfolio value",
            legend: &legend,
            occupied: &occupied,
            extra_top: theme.tick * 1.5,
            ..PanelSpec::new(XSpec::Time(labels), YSpec::values(lo, hi))
        };
        let (s_lo, s_hi) = sharpes.extent();
        let bottom = PanelSpec {
            x_desc: time_desc(labels),
            y_desc: "Sharpe ratio",
            legend: &bar_legend,
            occupied: &bar_spans,
            extra_top: theme.tick * 0.6,
            ..PanelSpec::new(XSpec::Time(labels), YSpec::bars(s_lo, s_hi, label_px))
        };
        let (top_plan, bottom_plan) = plan_stacked((&upper, &lower), theme, top, bottom);

        let plot = build(&upper, theme, &top_plan)?;
        shade_folds(&plot, &top_plan, folds)?;
        label_folds(&plot, theme, &top_plan, folds)?;
        lines.draw(&plot, theme)?;
        draw_legend(&plot, theme, &legend, top_plan.corner)?;

        let plot = build(&lower, theme, &bottom_plan)?;
        shade_folds(&plot, &bottom_plan, folds)?;
        if bottom_plan.y.lo < 0.0 {
            zero_line(&plot, &bottom_plan)?;
        }
        sharpes.draw(&plot, theme)?;
        draw_legend(&plot, theme, &bar_legend, bottom_plan.corner)
    }
}

/// At least one fold, each a range of rows within the labels.
fn check_folds(labels: &[String], folds: &[FoldSpan]) -> Result<(), DrawError> {
    if folds.is_empty() {
        return Err("nothing to plot: no folds".into());
    }
    for (k, f) in folds.iter().enumerate() {
        if f.start > f.end || f.end >= labels.len() {
            return Err(format!(
                "fold {} spans rows {}..={}, which is not a range within the {} labels",
                k + 1,
                f.start,
                f.end,
                labels.len()
            )
            .into());
        }
    }
    Ok(())
}

/// Each fold's pair of Sharpe ratio bars, in the colours of the lines they belong to.
struct SharpeBars {
    bars: Vec<Bar>,
    agent_name: String,
    agent_colour: RGBColor,
    equal_colour: RGBColor,
}

impl SharpeBars {
    fn new(lines: &Lines<'_>, folds: &[FoldSpan]) -> Self {
        let series = lines.series;
        let agent = series.iter().position(|s| s.emphasis);
        let equal = series.iter().position(|s| !s.emphasis && s.name.to_lowercase().contains("equal"));
        Self {
            bars: fold_bars(folds),
            agent_name: agent.map_or("agent".to_string(), |i| series[i].name.clone()),
            agent_colour: agent.map_or(STRONG[0], |i| lines.colours[i]),
            equal_colour: equal.map_or(TABLEAU_10[7], |i| lines.colours[i]),
        }
    }

    fn legend(&self) -> Vec<LegendEntry> {
        vec![
            LegendEntry {
                label: format!("{} Sharpe", self.agent_name),
                swatch: Swatch::Fill(self.agent_colour.to_rgba()),
            },
            LegendEntry {
                label: "equal weight Sharpe".into(),
                swatch: Swatch::Fill(self.equal_colour.to_rgba()),
            },
        ]
    }

    /// The finite Sharpe ratios' extent, zero included: bars stand on zero.
    fn extent(&self) -> (f64, f64) {
        let sharpes = self.bars.iter().map(|b| b.value).filter(|v| v.is_finite());
        extent(sharpes.chain([0.0])).unwrap_or((0.0, 0.0))
    }

    fn draw<C: Canvas>(&self, plot: &Plot<C>, theme: &Theme) -> Result<(), DrawError> {
        for b in &self.bars {
            let colour = if b.group == 0 { self.agent_colour } else { self.equal_colour };
            draw_bar(plot, theme, b, colour, ValueLabels::Upright)?;
        }
        Ok(())
    }
}

/// Agent (group 0) and equal-weight (group 1) bars side by side under the middle of each fold.
fn fold_bars(folds: &[FoldSpan]) -> Vec<Bar> {
    let mut out = Vec::new();
    for f in folds {
        let centre = (f.start + f.end) as f64 / 2.0;
        let half = ((f.end - f.start) as f64 * 0.32).max(0.5);
        let gap = half * 0.04;
        out.push(Bar { x0: centre - half, x1: centre - gap, value: f.agent_sharpe, group: 0, decimals: 2 });
        out.push(Bar {
            x0: centre + gap,
            x1: centre + half,
            value: f.equal_weight_sharpe,
            group: 1,
            decimals: 2,
        });
    }
    out
}

/// Every other fold's test period on a light grey ground.
fn shade_folds<C: Canvas>(plot: &Plot<C>, plan: &Plan, folds: &[FoldSpan]) -> Result<(), DrawError> {
    for f in folds.iter().step_by(2) {
        let x0 = (f.start as f64 - 0.5).max(plan.x.lo);
        let x1 = (f.end as f64 + 0.5).min(plan.x.hi);
        plot.draw(&Rectangle::new([(x0, plan.y.lo), (x1, plan.y.hi)], BLACK.mix(0.06).filled()))
            .map_err(de)?;
    }
    Ok(())
}

/// "fold k" (or just "k" where that is all that fits) above each fold's test period.
fn label_folds<C: Canvas>(
    plot: &Plot<C>,
    theme: &Theme,
    plan: &Plan,
    folds: &[FoldSpan],
) -> Result<(), DrawError> {
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
