//! Series as lines: gaps split them into runs, each series gets a colour and a width, and the
//! agent is drawn on top and listed first.

use plotters::prelude::*;

use super::DrawError;
use super::canvas::Canvas;
use super::legend::{LegendEntry, Span, Swatch};
use super::theme::{Theme, colours_by_name, line_style};
use super::{Plot, Series, de};

/// One value per label in every series, and something to draw.
pub(super) fn check_series(labels: &[String], series: &[Series]) -> Result<(), DrawError> {
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
            )
            .into());
        }
    }
    Ok(())
}

/// Series ready to draw: each one's colour and its runs between gaps.
pub(super) struct Lines<'s> {
    pub(super) series: &'s [Series],
    pub(super) colours: Vec<RGBColor>,
    pub(super) runs: Vec<Vec<Run>>,
    /// Series drawn exactly under the agent's line (an agent that kept its reference portfolio
    /// and that portfolio's own baseline): the legend says so, since their line cannot be seen.
    under_agent: Vec<bool>,
}

/// How close two curves must be, relative to their size, to look like one line: far under the
/// width of a line on any chart folio draws.
const SAME_LINE: f64 = 1e-4;

impl<'s> Lines<'s> {
    /// One curve per series (its values, or what the chart makes of them) against the row index;
    /// values that fail `keep` are gaps.
    pub(super) fn new<'c>(
        series: &'s [Series],
        curves: impl Iterator<Item = &'c [f64]>,
        keep: impl Fn(f64) -> bool,
    ) -> Self {
        let curves: Vec<&[f64]> = curves.collect();
        let runs = curves.iter().map(|c| runs(indexed(c), &keep)).collect();
        let agent = series.iter().position(|s| s.emphasis).map(|i| curves[i]);
        let under_agent = series
            .iter()
            .zip(&curves)
            .map(|(s, curve)| !s.emphasis && agent.is_some_and(|agent| same_line(agent, curve)))
            .collect();
        Self { series, colours: series_colours(series), runs, under_agent }
    }

    /// What the lines cover, for the legend to keep clear of.
    pub(super) fn spans(&self) -> Vec<Span> {
        self.runs.iter().flat_map(|r| line_spans(r)).collect()
    }

    /// Legend entries with the lines' colours and widths, the agent first.
    pub(super) fn legend(&self, theme: &Theme, label: impl Fn(&Series) -> String) -> Vec<LegendEntry> {
        let mut legend = series_legend(self.series, &self.colours, theme, label);
        let order = legend_order(self.series);
        for (entry, i) in legend.iter_mut().zip(order) {
            if self.under_agent[i] {
                entry.label.push_str(" (under the agent's line)");
            }
        }
        legend
    }

    /// Every line in its colour and width, the agent on top.
    pub(super) fn draw<C: Canvas>(&self, plot: &Plot<C>, theme: &Theme) -> Result<(), DrawError> {
        for i in draw_order(self.series) {
            let style = line_style(self.colours[i], width_of(&self.series[i], theme));
            draw_runs(plot, &self.runs[i], style)?;
        }
        Ok(())
    }
}

/// A stretch of consecutive drawable points.
pub(super) type Run = Vec<(f64, f64)>;

fn indexed(values: &[f64]) -> impl Iterator<Item = (f64, f64)> + '_ {
    values.iter().enumerate().map(|(i, &v)| (i as f64, v))
}

/// Split points into runs at every point whose x is not finite or whose y fails `keep`.
pub(super) fn runs(points: impl IntoIterator<Item = (f64, f64)>, keep: impl Fn(f64) -> bool) -> Vec<Run> {
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

/// What lines through the runs cover: a box per segment, a point per lone point.
pub(super) fn line_spans(runs: &[Run]) -> Vec<Span> {
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
pub(super) fn area_spans(runs: &[Run], base: f64) -> Vec<Span> {
    line_spans(runs).into_iter().map(|s| Span { y0: s.y0.min(base), y1: s.y1.max(base), ..s }).collect()
}

/// Emphasized series take the strong colours in turn, a baseline its own colour in every chart,
/// and the rest the colours left.
pub(super) fn series_colours(series: &[Series]) -> Vec<RGBColor> {
    colours_by_name(series.iter().map(|s| (s.name.as_str(), s.emphasis)))
}

pub(super) fn width_of(series: &Series, theme: &Theme) -> u32 {
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
    legend_order(series)
        .into_iter()
        .map(|i| LegendEntry {
            label: label(&series[i]),
            swatch: Swatch::Line(line_style(colours[i], width_of(&series[i], theme))),
        })
        .collect()
}

/// The series in the legend's order: the agent first.
fn legend_order(series: &[Series]) -> Vec<usize> {
    let emphasized = (0..series.len()).filter(|&i| series[i].emphasis);
    emphasized.chain((0..series.len()).filter(|&i| !series[i].emphasis)).collect()
}

/// Whether two curves would be drawn as one line: equal where both are defined, within
/// [`SAME_LINE`] of their size, and defined at the same points.
fn same_line(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(&x, &y)| match (x.is_finite(), y.is_finite()) {
            (true, true) => (x - y).abs() <= SAME_LINE * x.abs().max(y.abs()).max(1.0),
            (false, false) => true,
            _ => false,
        })
}

pub(super) fn draw_runs<C: Canvas>(plot: &Plot<C>, runs: &[Run], style: ShapeStyle) -> Result<(), DrawError> {
    for run in runs {
        if let [p] = run[..] {
            plot.draw(&Circle::new(p, style.stroke_width.max(2), style.filled())).map_err(de)?;
        } else if style.stroke_width > 1 && C::SEGMENT_THICK_LINES {
            // Segment by segment there are no joins, and so no miter spikes.
            for pair in run.windows(2) {
                plot.draw(&PathElement::new(pair.to_vec(), style)).map_err(de)?;
            }
        } else {
            plot.draw(&PathElement::new(run.clone(), style)).map_err(de)?;
        }
    }
    Ok(())
}
