//! Portfolio weights over time as a stacked area, with the mean weights listed beside it; with
//! hundreds of assets, where the top few and one "other" band say little, a heat map of every
//! asset's weight beneath it.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::DrawError;
use super::axis::{XSpec, YSpec, time_desc};
use super::canvas::Canvas;
use super::canvas::Raster;
use super::legend::{LegendEntry, LegendGrid, LegendMetrics, Swatch, draw_legend_at};
use super::panel::{PanelSpec, Plan, build, panel, pixel, plan_stacked};
use super::text::{Ink, draw_text, draw_title, fit_text};
use super::theme::{CASH, INK, INK_SOFT, OTHER, TABLEAU_10, TABLEAU_20_LIGHT, Theme, line_style_rgba};
use super::{Area, Plot, PlotSize, ReportError, de, failure, render, render_svg, svg_failure};

/// From this many assets on, the picture adds the heat map of every asset.
pub const HEAT_MAP_FROM_ASSETS: usize = 50;

/// Portfolio weights over time as a stacked area, cash at the bottom. With more than `top_k`
/// assets, the `top_k` with the largest mean weight get their own band and the rest share one
/// "other" band; from [`HEAT_MAP_FROM_ASSETS`] assets on, a heat map beneath shows every asset's
/// weight, assets ranked by mean weight from the top. `names` and every row of `weights` are
/// cash first; one row per decision, one label per row. Rows with a non-finite weight are
/// skipped; weights must be long-only.
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
    let map = heat_map(names, weights, &stack);
    let chart = Chart { title, labels, weights, stack: &stack, map: map.as_ref() };
    render(path, size, |root, theme| draw_weights(root, theme, &chart))
}

/// [`weights`] as an SVG document (the heat map, a picture by nature, embedded as one image).
pub fn weights_svg(
    title: &str,
    labels: &[String],
    names: &[String],
    weights: &[Vec<f64>],
    top_k: usize,
    size: PlotSize,
) -> Result<String, ReportError> {
    let stack = weight_bands(labels, names, weights, top_k).map_err(svg_failure("weights"))?;
    let map = heat_map(names, weights, &stack);
    let chart = Chart { title, labels, weights, stack: &stack, map: map.as_ref() };
    render_svg("weights", size, |root, theme| draw_weights(root, theme, &chart))
}

fn heat_map(names: &[String], weights: &[Vec<f64>], stack: &WeightStack) -> Option<AssetMap> {
    (names.len() > HEAT_MAP_FROM_ASSETS).then(|| AssetMap::new(weights, &stack.rows))
}

/// What the weights picture shows, for either canvas.
struct Chart<'a> {
    title: &'a str,
    labels: &'a [String],
    weights: &'a [Vec<f64>],
    stack: &'a WeightStack,
    map: Option<&'a AssetMap>,
}

fn draw_weights<C: Canvas>(root: &Area<C>, theme: &Theme, chart: &Chart<'_>) -> Result<(), DrawError> {
    let &Chart { title, labels, weights, stack, map } = chart;
    let body = draw_title(root, theme, title)?;
    let (body_w, body_h) = body.dim_in_pixel();
    let (entries, legend_w) = mean_weight_legend(stack, theme, body_w as f64 * 0.35);
    let (chart_area, legend_area) = body.split_horizontally(body_w - (legend_w + theme.pad) as u32);
    let top = stack.rows.iter().map(|&r| stack.total(r)).fold(1.0, f64::max);
    let y = YSpec { percent: true, pad: (0.0, 0.0), grow: (false, false), ..YSpec::values(0.0, 100.0 * top) };
    let x_desc = if time_desc(labels) == "date" { "decision date" } else { "decision" };
    let spec = PanelSpec { y_desc: "weight", ..PanelSpec::new(XSpec::Time(labels), y) };
    let (plan, plot) = match map {
        None => panel(&chart_area, theme, &PanelSpec { x_desc, ..spec })?,
        Some(map) => {
            let split = (body_h as f64 * 0.5) as u32;
            let (upper, lower) = chart_area.split_vertically(split);
            let (_, key_area) = legend_area.split_vertically(split);
            let map_spec = PanelSpec { x_desc, y_desc: "assets by mean weight", ..map.spec(labels) };
            let (plan, mut map_plan) = plan_stacked((&upper, &lower), theme, spec, map_spec);
            map.relabel(&mut map_plan);
            let map_plot = build(&lower, theme, &map_plan)?;
            map.draw(&map_plot, weights)?;
            draw_key(&key_area.margin(map_plan.top as i32, 0, 0, 0), theme, map)?;
            let plot = build(&upper, theme, &plan)?;
            (plan, plot)
        }
    };
    draw_stack(&plot, &plan, stack)?;
    // Beside the chart, its top level with the plot's.
    let side = legend_area.margin(plan.top as i32, 0, 0, 0);
    let header = Ink::new(theme.legend, INK).bold();
    let pad = LegendMetrics::new(theme).pad as i32;
    draw_text(&side, theme, "mean weight", (pad, 0), header, (HPos::Left, VPos::Top), true)?;
    // One column: the side strip is narrow, and the bands are few (the rest is "other").
    let grid = LegendGrid::new(theme, &entries, f64::INFINITY);
    draw_legend_at(&side, theme, &entries, &grid, (0, (theme.legend * 1.2) as i32), false)
}

/// Every asset's weight at every drawn row, assets ranked by mean weight (largest first) and
/// coloured against equal weight `1/N`: white at `1/N`, deeper blue above it up to `cap` (the
/// 99th percentile of the weights, at least `2/N`, so that one outlier does not wash the rest
/// out), paler red below it down to nothing held. A near-uniform portfolio then shows its tilts,
/// and a concentrated one its few holdings.
struct AssetMap {
    /// Columns of the weights (1 for the first asset), largest mean weight first.
    order: Vec<usize>,
    /// Rows drawn: those whose weights are all finite.
    rows: Vec<usize>,
    equal: f64,
    cap: f64,
}

/// The heat map's colours at the cap and at a weight of zero.
const DEEP: RGBColor = RGBColor(8, 48, 107);
const NONE_HELD: RGBColor = RGBColor(239, 138, 98);

impl AssetMap {
    fn shade(&self, weight: f64) -> RGBColor {
        let (towards, t) = if weight >= self.equal {
            (DEEP, (weight - self.equal) / (self.cap - self.equal))
        } else {
            (NONE_HELD, 1.0 - weight / self.equal)
        };
        let t = t.clamp(0.0, 1.0);
        let mix = |c: u8| (255.0 + t * (c as f64 - 255.0)).round() as u8;
        RGBColor(mix(towards.0), mix(towards.1), mix(towards.2))
    }

    fn new(weights: &[Vec<f64>], rows: &[usize]) -> Self {
        let assets = weights[rows[0]].len() - 1;
        let mean = |j: usize| rows.iter().map(|&r| weights[r][j].max(0.0)).sum::<f64>() / rows.len() as f64;
        let means: Vec<f64> = (0..=assets).map(|j| if j == 0 { 0.0 } else { mean(j) }).collect();
        let mut order: Vec<usize> = (1..=assets).collect();
        order.sort_by(|&a, &b| means[b].total_cmp(&means[a]).then(a.cmp(&b)));
        let mut all: Vec<f64> =
            rows.iter().flat_map(|&r| weights[r][1..].iter().map(|w| w.max(0.0))).collect();
        all.sort_by(f64::total_cmp);
        let equal = 1.0 / assets as f64;
        let cap = all[((all.len() - 1) as f64 * 0.99) as usize].max(2.0 * equal);
        Self { order, rows: rows.to_vec(), equal, cap }
    }

    /// Rank `r` (0 the largest) fills `[n - r - 1, n - r]` on the y axis, so the top asset is on
    /// top; [`AssetMap::relabel`] turns the ticks into ranks.
    fn spec<'l>(&self, labels: &'l [String]) -> PanelSpec<'l> {
        let n = self.order.len() as f64;
        PanelSpec::new(
            XSpec::Time(labels),
            YSpec { pad: (0.0, 0.0), grow: (false, false), ..YSpec::values(0.0, n) },
        )
    }

    /// A tick at `y` reads the number of assets above it.
    fn relabel(&self, plan: &mut Plan) {
        let n = self.order.len() as f64;
        for (y, text) in &mut plan.y.ticks {
            *text = format!("{}", (n - *y).round());
        }
    }

    /// Each pixel the mean weight of the decisions and assets that fall in it (the nearest one
    /// where the picture has more pixels than the data has cells), drawn as one picture.
    fn draw<C: Canvas>(&self, plot: &Plot<C>, weights: &[Vec<f64>]) -> Result<(), DrawError> {
        let overlay = plot.strip_coord_spec();
        let (w, h) = overlay.dim_in_pixel();
        let n = self.order.len() as f64;
        let columns = buckets(w as usize, self.rows.iter().map(|&r| pixel(plot, (r as f64, 0.0)).0));
        let lines =
            buckets(h as usize, (0..self.order.len()).map(|k| pixel(plot, (0.0, n - k as f64 - 0.5)).1));
        let mut rgb = vec![255u8; w as usize * h as usize * 3];
        for (px, column) in columns.iter().enumerate() {
            for (py, line) in lines.iter().enumerate() {
                let sum: f64 = column
                    .iter()
                    .flat_map(|&c| line.iter().map(move |&k| (c, k)))
                    .map(|(c, k)| weights[self.rows[c]][self.order[k]].max(0.0))
                    .sum();
                let RGBColor(r, g, b) = self.shade(sum / (column.len() * line.len()) as f64);
                let at = (py * w as usize + px) * 3;
                rgb[at..at + 3].copy_from_slice(&[r, g, b]);
            }
        }
        overlay.draw(&Raster { at: (0, 0), size: (w, h), rgb }).map_err(de)
    }
}

/// For each of `len` pixels, the items (indices into `at`, their pixels) that fall on it; a
/// pixel no item falls on takes the nearest pixel's items.
fn buckets(len: usize, at: impl Iterator<Item = i32>) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); len];
    for (item, p) in at.enumerate() {
        out[p.clamp(0, len as i32 - 1) as usize].push(item);
    }
    let filled: Vec<usize> = (0..len).filter(|&p| !out[p].is_empty()).collect();
    for p in 0..len {
        if out[p].is_empty() {
            let nearest = filled.iter().min_by_key(|&&q| q.abs_diff(p)).copied();
            out[p] = nearest.map(|q| out[q].clone()).unwrap_or_default();
        }
    }
    out
}

/// The heat map's colour scale: a bar from the cap down to zero, equal weight halfway.
fn draw_key<C: Canvas>(area: &Area<C>, theme: &Theme, map: &AssetMap) -> Result<(), DrawError> {
    let m = LegendMetrics::new(theme);
    let pad = m.pad as i32;
    let header = Ink::new(theme.legend, INK).bold();
    draw_text(area, theme, "weight", (pad, 0), header, (HPos::Left, VPos::Top), true)?;
    let (top, height, width) = ((theme.legend * 1.8) as i32, (theme.legend * 9.0) as i32, m.swatch as i32);
    let half = height as f64 / 2.0;
    for i in 0..height {
        let above = 1.0 - i as f64 / half;
        let weight =
            if above >= 0.0 { map.equal + above * (map.cap - map.equal) } else { map.equal * (1.0 + above) };
        let colour = map.shade(weight);
        area.draw(&Rectangle::new([(pad, top + i), (pad + width, top + i + 1)], colour.filled()))
            .map_err(de)?;
    }
    let ink = Ink::new(theme.legend, INK_SOFT);
    let x = pad + width + m.gap as i32;
    let labels = [
        (format!("{:.2}% or more", 100.0 * map.cap), top, VPos::Top),
        (format!("{:.2}% (equal weight)", 100.0 * map.equal), top + height / 2, VPos::Center),
        ("0%".to_string(), top + height, VPos::Bottom),
    ];
    for (text, y, anchor) in labels {
        draw_text(area, theme, &text, (x, y), ink, (HPos::Left, anchor), true)?;
    }
    Ok(())
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
    let (legend_w, _) = LegendGrid::new(theme, &entries, f64::INFINITY).size;
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
