//! The distribution of per-period returns: one histogram outline per series over shared bins,
//! the emphasized series (the agent) filled.

use plotters::prelude::*;

use super::DrawError;
use super::axis::{XSpec, YSpec};
use super::canvas::Canvas;
use super::legend::{LegendEntry, Span, Swatch, draw_legend};
use super::lines::{Run, draw_runs, line_spans, series_colours, width_of};
use super::panel::{PanelSpec, panel};
use super::text::draw_title;
use super::theme::{AXIS, Theme, line_style};
use super::{Area, PlotSize, ReportError, Series, de, render_svg, svg_failure};
use crate::stats::quantile_sorted;

/// Bins across the middle 99% of all returns; the rarer tails fall into the outer bins, so that
/// one crash day does not squeeze everything else into a few bins.
const BINS: usize = 41;

/// Histograms of per-period returns in percent (one series each, NaN skipped), as the share of
/// each series' periods that fall in each bin.
pub fn distribution_svg(title: &str, series: &[Series], size: PlotSize) -> Result<String, ReportError> {
    let chart = Distribution::new(title, series).map_err(svg_failure("distribution"))?;
    render_svg("distribution", size, |root, theme| chart.draw(root, theme))
}

struct Distribution<'a> {
    title: &'a str,
    series: &'a [Series],
    /// `BINS + 1` edges, in percent.
    edges: Vec<f64>,
    /// Per series, the share of its periods in each bin, in percent.
    shares: Vec<Vec<f64>>,
}

impl<'a> Distribution<'a> {
    fn new(title: &'a str, series: &'a [Series]) -> Result<Self, DrawError> {
        let mut all: Vec<f64> =
            series.iter().flat_map(|s| s.values.iter().copied()).filter(|v| v.is_finite()).collect();
        if all.len() < 2 {
            return Err("nothing to plot: fewer than two finite returns".into());
        }
        all.sort_by(f64::total_cmp);
        let (lo, hi) = (quantile_sorted(&all, 0.005), quantile_sorted(&all, 0.995));
        let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 0.5, hi + 0.5) };
        let width = (hi - lo) / BINS as f64;
        let edges: Vec<f64> = (0..=BINS).map(|k| lo + k as f64 * width).collect();
        let shares = series
            .iter()
            .map(|s| {
                let finite: Vec<f64> = s.values.iter().copied().filter(|v| v.is_finite()).collect();
                let mut counts = vec![0.0; BINS];
                for v in &finite {
                    let k = ((v - lo) / width).floor().clamp(0.0, (BINS - 1) as f64) as usize;
                    counts[k] += 1.0;
                }
                counts.iter().map(|c| 100.0 * c / finite.len().max(1) as f64).collect()
            })
            .collect();
        Ok(Self { title, series, edges, shares })
    }

    /// A series' histogram as one stepped outline from the axis up and back down.
    fn outline(&self, shares: &[f64]) -> Run {
        let mut run = vec![(self.edges[0], 0.0)];
        for (k, &share) in shares.iter().enumerate() {
            run.push((self.edges[k], share));
            run.push((self.edges[k + 1], share));
        }
        run.push((self.edges[BINS], 0.0));
        run
    }

    fn draw<C: Canvas>(&self, root: &Area<C>, theme: &Theme) -> Result<(), DrawError> {
        let body = draw_title(root, theme, self.title)?;
        let colours = series_colours(self.series);
        let outlines: Vec<Run> = self.shares.iter().map(|s| self.outline(s)).collect();
        let occupied: Vec<Span> = outlines.iter().flat_map(|o| line_spans(std::slice::from_ref(o))).collect();
        let legend: Vec<LegendEntry> = self
            .series
            .iter()
            .zip(&colours)
            .map(|(s, &c)| LegendEntry {
                label: s.name.clone(),
                swatch: Swatch::Line(line_style(c, width_of(s, theme))),
            })
            .collect();
        let top = self.shares.iter().flatten().copied().fold(0.0, f64::max);
        let spec = PanelSpec {
            x_desc: "return per period (%)",
            y_desc: "share of periods (%)",
            legend: &legend,
            occupied: &occupied,
            ..PanelSpec::new(
                XSpec::Numeric { lo: self.edges[0], hi: self.edges[BINS] },
                YSpec { pad: (0.0, 0.05), grow: (false, true), ..YSpec::values(0.0, top) },
            )
        };
        let (plan, plot) = panel(&body, theme, &spec)?;
        for k in (0..self.series.len()).filter(|&k| self.series[k].emphasis) {
            plot.draw(&Polygon::new(outlines[k].clone(), colours[k].mix(0.16).filled())).map_err(de)?;
        }
        if plan.x.lo < 0.0 && plan.x.hi > 0.0 {
            plot.draw(&PathElement::new(vec![(0.0, plan.y.lo), (0.0, plan.y.hi)], line_style(AXIS, 1)))
                .map_err(de)?;
        }
        let order = (0..self.series.len())
            .filter(|&k| !self.series[k].emphasis)
            .chain((0..self.series.len()).filter(|&k| self.series[k].emphasis));
        for k in order {
            draw_runs(
                &plot,
                std::slice::from_ref(&outlines[k]),
                line_style(colours[k], width_of(&self.series[k], theme)),
            )?;
        }
        draw_legend(&plot, theme, &legend, plan.corner)
    }
}
