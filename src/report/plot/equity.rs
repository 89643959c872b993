//! Wealth over time: the equity curves, and the drawdown (underwater) chart made from them.

use std::path::Path;

use plotters::prelude::*;

use super::DrawError;
use super::axis::{XSpec, YSpec, time_desc};
use super::canvas::Canvas;
use super::legend::draw_legend;
use super::lines::{Lines, area_spans, check_series, line_spans};
use super::panel::{PanelSpec, panel, zero_line};
use super::text::draw_title;
use super::theme::Theme;
use super::{
    Area, Plot, PlotSize, ReportError, Series, de, extent, failure, render, render_svg, svg_failure,
};

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
    let chart = Equity::new(title, labels, series, log_scale).map_err(failure(path))?;
    render(path, size, |root, theme| chart.draw(root, theme))
}

/// [`equity`] with the rows `window` (first and last, inclusive) on a light grey ground: the
/// stretch a stress scenario's figures measure, inside the months drawn around it.
pub fn equity_with_window(
    path: &Path,
    title: &str,
    labels: &[String],
    series: &[Series],
    window: (usize, usize),
    size: PlotSize,
) -> Result<(), ReportError> {
    let chart =
        Equity { window: Some(window), ..Equity::new(title, labels, series, false).map_err(failure(path))? };
    render(path, size, |root, theme| chart.draw(root, theme))
}

/// [`equity`] as an SVG document.
pub fn equity_svg(
    title: &str,
    labels: &[String],
    series: &[Series],
    log_scale: bool,
    size: PlotSize,
) -> Result<String, ReportError> {
    let chart = Equity::new(title, labels, series, log_scale).map_err(svg_failure("equity"))?;
    render_svg("equity", size, |root, theme| chart.draw(root, theme))
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
    let chart = Drawdown::new(title, labels, series).map_err(failure(path))?;
    render(path, size, |root, theme| chart.draw(root, theme))
}

/// [`drawdown`] as an SVG document.
pub fn drawdown_svg(
    title: &str,
    labels: &[String],
    series: &[Series],
    size: PlotSize,
) -> Result<String, ReportError> {
    let chart = Drawdown::new(title, labels, series).map_err(svg_failure("drawdown"))?;
    render_svg("drawdown", size, |root, theme| chart.draw(root, theme))
}

/// An equity chart checked and ready to draw.
struct Equity<'a> {
    title: &'a str,
    labels: &'a [String],
    series: &'a [Series],
    log_scale: bool,
    extent: (f64, f64),
    /// Rows shaded behind the curves.
    window: Option<(usize, usize)>,
}

impl<'a> Equity<'a> {
    fn new(
        title: &'a str,
        labels: &'a [String],
        series: &'a [Series],
        log_scale: bool,
    ) -> Result<Self, DrawError> {
        check_series(labels, series)?;
        let keep = move |v: f64| v.is_finite() && (!log_scale || v > 0.0);
        let extent = extent(series.iter().flat_map(|s| s.values.iter().copied()).filter(|&v| keep(v)))
            .ok_or_else(|| {
                if log_scale {
                    "nothing to plot: a log scale needs positive values, and no series has a finite positive value"
                        .to_string()
                } else {
                    "nothing to plot: no series has a finite value".to_string()
                }
            })?;
        Ok(Self { title, labels, series, log_scale, extent, window: None })
    }

    fn draw<C: Canvas>(&self, root: &Area<C>, theme: &Theme) -> Result<(), DrawError> {
        let Self { title, labels, series, log_scale, extent: (lo, hi), window } = *self;
        let keep = move |v: f64| v.is_finite() && (!log_scale || v > 0.0);
        let body = draw_title(root, theme, title)?;
        let lines = Lines::new(series, series.iter().map(|s| &s.values[..]), keep);
        let legend = lines.legend(theme, |s| s.name.clone());
        let occupied = lines.spans();
        let spec = PanelSpec {
            x_desc: time_desc(labels),
            y_desc: if log_scale { "portfolio value (log scale)" } else { "portfolio value" },
            legend: &legend,
            occupied: &occupied,
            ..PanelSpec::new(XSpec::Time(labels), YSpec { log: log_scale, ..YSpec::values(lo, hi) })
        };
        let (plan, plot) = panel(&body, theme, &spec)?;
        if let Some((first, last)) = window {
            let (x0, x1) = ((first as f64 - 0.5).max(plan.x.lo), (last as f64 + 0.5).min(plan.x.hi));
            plot.draw(&Rectangle::new([(x0, plan.y.lo), (x1, plan.y.hi)], BLACK.mix(0.06).filled()))
                .map_err(de)?;
        }
        lines.draw(&plot, theme)?;
        draw_legend(&plot, theme, &legend, plan.corner)
    }
}

/// A drawdown chart checked and ready to draw.
struct Drawdown<'a> {
    title: &'a str,
    labels: &'a [String],
    series: &'a [Series],
    curves: Vec<Vec<f64>>,
    lo: f64,
}

impl<'a> Drawdown<'a> {
    fn new(title: &'a str, labels: &'a [String], series: &'a [Series]) -> Result<Self, DrawError> {
        check_series(labels, series)?;
        let curves: Vec<Vec<f64>> = series.iter().map(|s| underwater(&s.values)).collect();
        let (lo, _) = extent(curves.iter().flatten().copied().filter(|v| v.is_finite()))
            .ok_or("nothing to plot: no series has a finite positive value")?;
        Ok(Self { title, labels, series, curves, lo })
    }

    fn draw<C: Canvas>(&self, root: &Area<C>, theme: &Theme) -> Result<(), DrawError> {
        let Self { title, labels, series, lo, .. } = *self;
        let body = draw_title(root, theme, title)?;
        let lines = Lines::new(series, self.curves.iter().map(|c| &c[..]), f64::is_finite);
        let mut occupied = Vec::new();
        for (s, r) in series.iter().zip(&lines.runs) {
            occupied.extend(if s.emphasis { area_spans(r, 0.0) } else { line_spans(r) });
        }
        let legend = lines.legend(theme, |s| {
            let worst = underwater(&s.values).into_iter().filter(|v| v.is_finite()).fold(0.0, f64::min);
            format!("{}  (max {:.1}%)", s.name, worst)
        });
        let y = drawdown_axis(lo);
        let spec = PanelSpec {
            x_desc: time_desc(labels),
            y_desc: "drawdown from peak",
            legend: &legend,
            occupied: &occupied,
            ..PanelSpec::new(XSpec::Time(labels), y)
        };
        let (plan, plot) = panel(&body, theme, &spec)?;
        fill_emphasized(&plot, &lines)?;
        zero_line(&plot, &plan)?;
        lines.draw(&plot, theme)?;
        draw_legend(&plot, theme, &legend, plan.corner)
    }
}

/// The drawdown axis down to the deepest fall `lo` (in percent): at least a percent deep, so that
/// a curve that never fell still gets an axis, and never past all of it: a fall deep enough that
/// the padding would pass -100% (a total loss) ends the axis there, where a padded, grown axis
/// drew ticks to -120%.
pub(super) fn drawdown_axis(lo: f64) -> YSpec {
    let floor = lo.min(-1.0);
    let total = floor * 1.06 <= -100.0;
    YSpec {
        percent: true,
        pad: (if total { 0.0 } else { 0.06 }, 0.03),
        grow: (!total, false),
        ..YSpec::values(if total { -100.0 } else { floor }, 0.0)
    }
}

/// The emphasized series' drawdowns filled up to zero, faintly in their colours.
fn fill_emphasized<C: Canvas>(plot: &Plot<C>, lines: &Lines<'_>) -> Result<(), DrawError> {
    for i in (0..lines.series.len()).filter(|&i| lines.series[i].emphasis) {
        for run in &lines.runs[i] {
            let mut outline = run.clone();
            outline.push((run[run.len() - 1].0, 0.0));
            outline.push((run[0].0, 0.0));
            plot.draw(&Polygon::new(outline, lines.colours[i].mix(0.16).filled())).map_err(de)?;
        }
    }
    Ok(())
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
