//! One panel of a chart: what it shows ([`PanelSpec`]), where everything goes ([`plan`]: axes,
//! margins, the legend's corner), and the drawn frame ([`build`]: grid, axes, tick labels).
//! Deciding everything before drawing lets stacked panels line their plots up.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::DrawError;
use super::axis::{Axis, XSpec, YSpec, padded, x_axis, y_axis};
use super::canvas::Canvas;
use super::legend::{Corner, LegendEntry, Span, legend_size, place_legend};
use super::text::{Ink, draw_text, fit_text, text_width};
use super::theme::{AXIS, GRID, INK, INK_SOFT, Theme, line_style};
use super::{Area, Plot, de};

/// What one panel shows: its axes and their descriptions, its legend, and what the legend must
/// not cover.
pub(super) struct PanelSpec<'s> {
    pub(super) x: XSpec<'s>,
    pub(super) y: YSpec,
    pub(super) x_desc: &'s str,
    pub(super) y_desc: &'s str,
    pub(super) legend: &'s [LegendEntry],
    pub(super) occupied: &'s [Span],
    /// Extra room above the plot (pixels), e.g. for fold labels.
    pub(super) extra_top: f64,
    /// Width of the y label area at least, to line up stacked panels.
    pub(super) min_y_area: f64,
}

impl<'s> PanelSpec<'s> {
    /// A panel without axis descriptions or legend; charts fill in what they show.
    pub(super) fn new(x: XSpec<'s>, y: YSpec) -> Self {
        Self { x, y, x_desc: "", y_desc: "", legend: &[], occupied: &[], extra_top: 0.0, min_y_area: 0.0 }
    }
}

/// Where everything of one panel goes, decided before anything is drawn.
pub(super) struct Plan {
    pub(super) x: Axis,
    pub(super) y: Axis,
    x_desc: String,
    y_desc: String,
    x_grid: bool,
    x_area: f64,
    y_area: f64,
    /// Margin above the plot, where a legend beside the plot may start.
    pub(super) top: f64,
    right: f64,
    bottom: f64,
    left: f64,
    pub(super) corner: Corner,
}

impl Plan {
    /// Width of the plot in pixels, in an area `area_w` wide (as [`build`] lays it out).
    pub(super) fn plot_w(&self, area_w: f64) -> f64 {
        area_w - self.left - self.right - self.y_area
    }
}

/// A panel planned alone and its frame drawn: the plotting area to draw data into.
pub(super) fn panel<C: Canvas>(
    area: &Area<C>,
    theme: &Theme,
    spec: &PanelSpec<'_>,
) -> Result<(Plan, Plot<C>), DrawError> {
    let plan = plan(area, theme, spec);
    let plot = build(area, theme, &plan)?;
    Ok((plan, plot))
}

/// Plans for two panels stacked in `upper` and `lower`, their y label areas equally wide so that
/// the plots line up.
pub(super) fn plan_stacked<C: Canvas>(
    (upper, lower): (&Area<C>, &Area<C>),
    theme: &Theme,
    mut top: PanelSpec<'_>,
    mut bottom: PanelSpec<'_>,
) -> (Plan, Plan) {
    loop {
        let plans = (plan(upper, theme, &top), plan(lower, theme, &bottom));
        if plans.0.y_area == plans.1.y_area {
            return plans;
        }
        top.min_y_area = plans.0.y_area.max(plans.1.y_area);
        bottom.min_y_area = top.min_y_area;
    }
}

/// Lay one panel out in `area`: margins, axes with their ticks, and the legend's corner, for
/// which the y range may grow.
pub(super) fn plan<C: Canvas>(area: &Area<C>, theme: &Theme, spec: &PanelSpec<'_>) -> Plan {
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
        let legend = legend_size(theme, spec.legend, plot_h);
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
pub(super) fn build<C: Canvas>(area: &Area<C>, theme: &Theme, plan: &Plan) -> Result<Plot<C>, DrawError> {
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
pub(super) fn pixel<C: Canvas>(plot: &Plot<C>, point: (f64, f64)) -> (i32, i32) {
    let (p, base) = (plot.map_coordinate(&point), plot.get_base_pixel());
    (p.0 - base.0, p.1 - base.1)
}

/// A thin line across the plot at zero, where gains turn into losses.
pub(super) fn zero_line<C: Canvas>(plot: &Plot<C>, plan: &Plan) -> Result<(), DrawError> {
    plot.draw(&PathElement::new(vec![(plan.x.lo, 0.0), (plan.x.hi, 0.0)], line_style(AXIS, 1))).map_err(de)
}
