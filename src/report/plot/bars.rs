//! Grouped bar charts, and the bars (with their values printed beyond their ends) that the
//! walk-forward chart draws too.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::DrawError;
use super::axis::{XSpec, YSpec};
use super::canvas::Canvas;
use super::legend::{LegendEntry, Span, Swatch, draw_legend};
use super::panel::{PanelSpec, Plan, build, pixel, plan, zero_line};
use super::text::{Ink, draw_text, draw_title, text_width};
use super::theme::{INK_SOFT, Theme, colours_by_name};
use super::{Area, Plot, PlotSize, ReportError, de, extent, failure, render, render_svg, svg_failure};
use crate::backtest::PolicyId;

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
    let chart = Bars::new(title, (x_desc, y_desc), categories, groups).map_err(failure(path))?;
    render(path, size, |root, theme| chart.draw(root, theme))
}

/// [`bars_with_axes`] as an SVG document.
pub fn bars_svg(
    title: &str,
    (x_desc, y_desc): (&str, &str),
    categories: &[String],
    groups: &[(String, Vec<f64>)],
    size: PlotSize,
) -> Result<String, ReportError> {
    let chart = Bars::new(title, (x_desc, y_desc), categories, groups).map_err(svg_failure("bar"))?;
    render_svg("bar", size, |root, theme| chart.draw(root, theme))
}

/// A grouped bar chart checked and ready to draw.
struct Bars<'a> {
    title: &'a str,
    descs: (&'a str, &'a str),
    categories: &'a [String],
    groups: &'a [(String, Vec<f64>)],
    extent: (f64, f64),
}

impl<'a> Bars<'a> {
    fn new(
        title: &'a str,
        descs: (&'a str, &'a str),
        categories: &'a [String],
        groups: &'a [(String, Vec<f64>)],
    ) -> Result<Self, DrawError> {
        check_groups(categories, groups)?;
        let (lo, hi) = extent(groups.iter().flat_map(|g| g.1.iter().copied()).filter(|v| v.is_finite()))
            .ok_or("nothing to plot: no value is finite")?;
        Ok(Self { title, descs, categories, groups, extent: (lo.min(0.0), hi.max(0.0)) })
    }

    fn draw<C: Canvas>(&self, root: &Area<C>, theme: &Theme) -> Result<(), DrawError> {
        let Self { title, descs: (x_desc, y_desc), categories, groups, extent: (lo, hi) } = *self;
        let body = draw_title(root, theme, title)?;
        let bars = clusters(groups);
        // The agent a chart of policies leads with (the ensemble, or a single run's agent) is
        // blue, as in its line charts; a seed of an ensemble is not.
        let headline = |name: &str| matches!(name.parse(), Ok(PolicyId::Ensemble | PolicyId::AGENT));
        let colours = colours_by_name(groups.iter().map(|(name, _)| (name.as_str(), headline(name))));
        let legend: Vec<LegendEntry> = groups
            .iter()
            .zip(&colours)
            .map(|((name, _), c)| LegendEntry { label: name.clone(), swatch: Swatch::Fill(c.to_rgba()) })
            .collect();
        let (width, _) = body.dim_in_pixel();
        let planned = |room: f64| {
            let occupied = bar_spans(&bars, room);
            let spec = PanelSpec {
                x_desc,
                y_desc,
                legend: &legend,
                occupied: &occupied,
                ..PanelSpec::new(XSpec::Categories(categories), YSpec::bars(lo, hi, room))
            };
            plan(&body, theme, &spec)
        };
        let upright = planned(theme.bar_label());
        let labels = value_labels(theme, &bars, bar_px(&upright, width as f64, &bars));
        let chosen = match labels {
            ValueLabels::Turned(room) => planned(room),
            ValueLabels::Upright | ValueLabels::Hidden => upright,
        };
        let plot = build(&body, theme, &chosen)?;
        if chosen.y.lo < 0.0 {
            zero_line(&plot, &chosen)?;
        }
        for b in &bars {
            draw_bar(&plot, theme, b, colours[b.group], labels)?;
        }
        draw_legend(&plot, theme, &legend, chosen.corner)
    }
}

/// How the values are printed beyond the bars: every bar the same way, so that a bar without its
/// value never sits beside one with it (which reads as a missing value). Upright when every value
/// fits across its bar; else turned to read upwards, when a line of text fits across a bar, with
/// this many pixels kept free above (and below) the bars; else none, and the legend and the
/// category axis still name every bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum ValueLabels {
    Upright,
    Turned(f64),
    Hidden,
}

/// The value printed beyond a bar, with its chart's decimals ([`decimals_for`]).
fn value_text(bar: &Bar) -> String {
    format!("{:.*}", bar.decimals, bar.value)
}

/// Decimals that show a chart's largest value to three significant digits, and never fewer than
/// two: attributions of a hundredth printed as 0.01 and 0.00 said nothing of their sizes.
pub(super) fn decimals_for(values: impl Iterator<Item = f64>) -> usize {
    let largest = values.filter(|v| v.is_finite()).map(f64::abs).fold(0.0, f64::max);
    if largest <= 0.0 {
        return 2;
    }
    (2.0 - largest.log10().floor()).clamp(2.0, 6.0) as usize
}

fn value_ink(theme: &Theme) -> Ink {
    Ink::new(theme.note, INK_SOFT)
}

/// Pixel width of the narrowest bar in a chart planned as `plan` in an area `area_w` wide.
fn bar_px(plan: &Plan, area_w: f64, bars: &[Bar]) -> f64 {
    let plot_w = plan.plot_w(area_w);
    bars.iter().map(|b| (plan.x.frac(b.x1) - plan.x.frac(b.x0)) * plot_w).fold(f64::INFINITY, f64::min)
}

/// How the values of `bars`, each at least `bar_px` wide, are printed (see [`ValueLabels`]).
/// The margins allow for bars landing a pixel narrower once rounded to pixels.
pub(super) fn value_labels(theme: &Theme, bars: &[Bar], bar_px: f64) -> ValueLabels {
    let ink = value_ink(theme);
    let widest = bars
        .iter()
        .filter(|b| b.value.is_finite())
        .map(|b| text_width(theme, &value_text(b), ink))
        .fold(0.0, f64::max);
    if widest <= bar_px {
        ValueLabels::Upright
    } else if ink.px * 0.8 <= bar_px - 1.0 {
        // Digits stand about 0.75 em tall: turned, they stay apart from their neighbours'.
        ValueLabels::Turned(widest + 6.0)
    } else {
        ValueLabels::Hidden
    }
}

/// Something to draw, and one value per category in every group.
fn check_groups(categories: &[String], groups: &[(String, Vec<f64>)]) -> Result<(), DrawError> {
    if categories.is_empty() {
        return Err("nothing to plot: no categories".into());
    }
    if groups.is_empty() {
        return Err("nothing to plot: no groups of bars".into());
    }
    for (name, values) in groups {
        if values.len() != categories.len() {
            return Err(format!(
                "group \"{name}\" has {} values, but there are {} categories",
                values.len(),
                categories.len()
            )
            .into());
        }
    }
    Ok(())
}

/// Category `c` spans `[c, c + 1)`: its bars share the middle 80%, one slot per group, each bar
/// a little narrower than its slot.
fn clusters(groups: &[(String, Vec<f64>)]) -> Vec<Bar> {
    let n_groups = groups.len() as f64;
    let decimals = decimals_for(groups.iter().flat_map(|(_, values)| values.iter().copied()));
    let mut out = Vec::new();
    for (g, (_, values)) in groups.iter().enumerate() {
        for (c, &value) in values.iter().enumerate() {
            let width = 0.8 / n_groups;
            let x0 = c as f64 + 0.1 + g as f64 * width;
            out.push(Bar { x0: x0 + 0.04 * width, x1: x0 + 0.96 * width, value, group: g, decimals });
        }
    }
    out
}

/// One bar, in data coordinates.
pub(super) struct Bar {
    pub(super) x0: f64,
    pub(super) x1: f64,
    pub(super) value: f64,
    pub(super) group: usize,
    /// Decimals of the printed value, the same for every bar of a chart.
    pub(super) decimals: usize,
}

/// What bars cover, with the value printed beyond each end (`label_px` high).
pub(super) fn bar_spans(bars: &[Bar], label_px: f64) -> Vec<Span> {
    bars.iter()
        .filter(|b| b.value.is_finite())
        .map(|b| Span { x0: b.x0, x1: b.x1, y0: b.value.min(0.0), y1: b.value.max(0.0), px: label_px })
        .collect()
}

/// A bar from zero to its value, with the value printed beyond its end as `labels` says (upright
/// only where it fits).
pub(super) fn draw_bar<C: Canvas>(
    plot: &Plot<C>,
    theme: &Theme,
    bar: &Bar,
    colour: RGBColor,
    labels: ValueLabels,
) -> Result<(), DrawError> {
    if !bar.value.is_finite() {
        return Ok(());
    }
    plot.draw(&Rectangle::new([(bar.x0, 0.0), (bar.x1, bar.value)], colour.filled())).map_err(de)?;
    let (left, end) = (pixel(plot, (bar.x0, bar.value)), pixel(plot, (bar.x1, bar.value)));
    let text = value_text(bar);
    let ink = value_ink(theme);
    let up = bar.value >= 0.0;
    let (at, anchor, upright) = match labels {
        ValueLabels::Hidden => return Ok(()),
        ValueLabels::Upright if text_width(theme, &text, ink) > (end.0 - left.0) as f64 + 2.0 => {
            return Ok(());
        }
        ValueLabels::Upright => {
            let (v_pos, dy) = if up { (VPos::Bottom, -3) } else { (VPos::Top, 3) };
            (((left.0 + end.0) / 2, end.1 + dy), (HPos::Center, v_pos), true)
        }
        // Reading upwards: above a bar the text starts at its end, below one it finishes there.
        ValueLabels::Turned(_) => {
            let (h_pos, dy) = if up { (HPos::Left, -3) } else { (HPos::Right, 3) };
            (((left.0 + end.0) / 2, end.1 + dy), (h_pos, VPos::Center), false)
        }
    };
    draw_text(&plot.strip_coord_spec(), theme, &text, at, ink, anchor, upright)
}
