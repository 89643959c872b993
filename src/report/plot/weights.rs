//! Portfolio weights over time as a stacked area, with the mean weights listed beside it.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::DrawError;
use super::axis::{XSpec, YSpec, time_desc};
use super::canvas::Canvas;
use super::legend::{LegendEntry, LegendMetrics, Swatch, draw_legend_at, legend_size};
use super::panel::{PanelSpec, Plan, panel};
use super::text::{Ink, draw_text, draw_title, fit_text};
use super::theme::{CASH, INK, OTHER, TABLEAU_10, TABLEAU_20_LIGHT, Theme, line_style_rgba};
use super::{Area, Plot, PlotSize, ReportError, de, failure, render, render_svg, svg_failure};

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
    let stack = weight_bands(labels, names, weights, top_k).map_err(failure(path))?;
    render(path, size, |root, theme| draw_weights(root, theme, title, labels, &stack))
}

/// [`weights`] as an SVG document.
pub fn weights_svg(
    title: &str,
    labels: &[String],
    names: &[String],
    weights: &[Vec<f64>],
    top_k: usize,
    size: PlotSize,
) -> Result<String, ReportError> {
    let stack = weight_bands(labels, names, weights, top_k).map_err(svg_failure("weights"))?;
    render_svg("weights", size, |root, theme| draw_weights(root, theme, title, labels, &stack))
}

fn draw_weights<C: Canvas>(
    root: &Area<C>,
    theme: &Theme,
    title: &str,
    labels: &[String],
    stack: &WeightStack,
) -> Result<(), DrawError> {
    let body = draw_title(root, theme, title)?;
    let (body_w, _) = body.dim_in_pixel();
    let (entries, legend_w) = mean_weight_legend(stack, theme, body_w as f64 * 0.35);
    let (chart_area, legend_area) = body.split_horizontally(body_w - (legend_w + theme.pad) as u32);
    let top = stack.rows.iter().map(|&r| stack.total(r)).fold(1.0, f64::max);
    let y = YSpec { percent: true, pad: (0.0, 0.0), grow: (false, false), ..YSpec::values(0.0, 100.0 * top) };
    let spec = PanelSpec {
        x_desc: if time_desc(labels) == "date" { "decision date" } else { "decision" },
        y_desc: "weight",
        ..PanelSpec::new(XSpec::Time(labels), y)
    };
    let (plan, plot) = panel(&chart_area, theme, &spec)?;
    draw_stack(&plot, &plan, stack)?;
    // Beside the chart, its top level with the plot's.
    let side = legend_area.margin(plan.top as i32, 0, 0, 0);
    let header = Ink::new(theme.legend, INK).bold();
    let pad = LegendMetrics::new(theme).pad as i32;
    draw_text(&side, theme, "mean weight", (pad, 0), header, (HPos::Left, VPos::Top), true)?;
    draw_legend_at(&side, theme, &entries, (0, (theme.legend * 1.2) as i32), false)
}

/// One entry per band, top band first, and the legend's width: at most `room` pixels, labels
/// shortened to fit.
fn mean_weight_legend(stack: &WeightStack, theme: &Theme, room: f64) -> (Vec<LegendEntry>, f64) {
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
    if legend_w > room {
        let m = LegendMetrics::new(theme);
        let text_room = room - (2.0 * m.pad + m.swatch + m.gap);
        for e in &mut entries {
            e.label = fit_text(theme, &e.label, Ink::new(theme.legend, INK), text_room);
        }
    }
    (entries, legend_w.min(room))
}

/// The bands stacked from the bottom, in percent, with hairlines between them.
fn draw_stack<C: Canvas>(plot: &Plot<C>, plan: &Plan, stack: &WeightStack) -> Result<(), DrawError> {
    // A single row still gets a band across the whole axis.
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
    Ok(())
}

pub(super) struct Band {
    pub(super) name: String,
    colour: RGBColor,
    /// Weight per row (all rows; only `WeightStack::rows` are drawn).
    values: Vec<f64>,
    pub(super) mean: f64,
}

pub(super) struct WeightStack {
    /// Bottom to top: cash, the assets by mean weight, then "other".
    pub(super) bands: Vec<Band>,
    /// Rows whose weights are all finite.
    pub(super) rows: Vec<usize>,
}

impl WeightStack {
    pub(super) fn total(&self, row: usize) -> f64 {
        self.bands.iter().map(|b| b.values[row]).sum()
    }
}

/// The bands to stack: cash, the `top_k` assets by mean weight over the rows that are entirely
/// finite, and "other" for the rest.
pub(super) fn weight_bands(
    labels: &[String],
    names: &[String],
    weights: &[Vec<f64>],
    top_k: usize,
) -> Result<WeightStack, DrawError> {
    check_weights(labels, names, weights)?;
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

/// One row of long-only weights per label, one entry per name.
fn check_weights(labels: &[String], names: &[String], weights: &[Vec<f64>]) -> Result<(), DrawError> {
    if weights.is_empty() || labels.is_empty() {
        return Err("nothing to plot: there are no decisions (weights or labels are empty)".into());
    }
    if names.is_empty() {
        return Err("nothing to plot: there are no names (cash first)".into());
    }
    if weights.len() != labels.len() {
        return Err(
            format!("{} rows of weights, but there are {} labels", weights.len(), labels.len()).into()
        );
    }
    for (r, row) in weights.iter().enumerate() {
        if row.len() != names.len() {
            return Err(format!(
                "the weights at {} have {} entries, but there are {} names (cash first)",
                labels[r],
                row.len(),
                names.len()
            )
            .into());
        }
        if let Some((j, w)) = row.iter().enumerate().find(|(_, w)| **w < -1e-6) {
            return Err(format!(
                "weight {w} for {} at {}: a stacked weight chart needs long-only weights",
                names[j], labels[r]
            )
            .into());
        }
    }
    Ok(())
}
