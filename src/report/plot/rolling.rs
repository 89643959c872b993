//! Rolling statistics: each series' Sharpe ratio over a trailing window above, its annualized
//! volatility below, on one time axis.

use super::DrawError;
use super::axis::{XSpec, YSpec, time_desc};
use super::canvas::Canvas;
use super::legend::draw_legend;
use super::lines::{Lines, check_series};
use super::panel::{PanelSpec, build, plan_stacked, zero_line};
use super::text::draw_title;
use super::theme::Theme;
use super::{Area, PlotSize, ReportError, Series, extent, render_svg, svg_failure};

/// Rolling Sharpe ratios (`sharpe`) above rolling annualized volatilities in percent
/// (`volatility`), one series of each per policy, in the same order; NaN where the window is not
/// full yet. `window` describes the window for the axes, e.g. "126 periods".
pub fn rolling_svg(
    title: &str,
    labels: &[String],
    sharpe: &[Series],
    volatility: &[Series],
    window: &str,
    size: PlotSize,
) -> Result<String, ReportError> {
    let chart = Rolling::new(title, labels, sharpe, volatility, window).map_err(svg_failure("rolling"))?;
    render_svg("rolling", size, |root, theme| chart.draw(root, theme))
}

struct Rolling<'a> {
    title: &'a str,
    labels: &'a [String],
    sharpe: &'a [Series],
    volatility: &'a [Series],
    window: &'a str,
    sharpe_extent: (f64, f64),
    volatility_extent: (f64, f64),
}

impl<'a> Rolling<'a> {
    fn new(
        title: &'a str,
        labels: &'a [String],
        sharpe: &'a [Series],
        volatility: &'a [Series],
        window: &'a str,
    ) -> Result<Self, DrawError> {
        check_series(labels, sharpe)?;
        check_series(labels, volatility)?;
        let finite = |series: &[Series]| {
            extent(series.iter().flat_map(|s| s.values.iter().copied()).filter(|v| v.is_finite()))
        };
        let nothing = || format!("nothing to plot: the series are shorter than the {window} window");
        let sharpe_extent = finite(sharpe).ok_or_else(nothing)?;
        let (v_lo, v_hi) = finite(volatility).ok_or_else(nothing)?;
        Ok(Self {
            title,
            labels,
            sharpe,
            volatility,
            window,
            sharpe_extent,
            volatility_extent: (v_lo.min(0.0), v_hi),
        })
    }

    fn draw<C: Canvas>(&self, root: &Area<C>, theme: &Theme) -> Result<(), DrawError> {
        let body = draw_title(root, theme, self.title)?;
        let (_, body_h) = body.dim_in_pixel();
        let (upper, lower) = body.split_vertically((body_h as f64 * 0.5) as u32);
        let top_lines = Lines::new(self.sharpe, self.sharpe.iter().map(|s| &s.values[..]), f64::is_finite);
        let bottom_lines =
            Lines::new(self.volatility, self.volatility.iter().map(|s| &s.values[..]), f64::is_finite);
        let legend = top_lines.legend(theme, |s| s.name.clone());
        let (top_occupied, bottom_occupied) = (top_lines.spans(), bottom_lines.spans());
        let sharpe_desc = format!("Sharpe, {}", self.window);
        let volatility_desc = format!("volatility, {}", self.window);
        let (s_lo, s_hi) = self.sharpe_extent;
        let (v_lo, v_hi) = self.volatility_extent;
        let top = PanelSpec {
            y_desc: &sharpe_desc,
            legend: &legend,
            occupied: &top_occupied,
            ..PanelSpec::new(XSpec::Time(self.labels), YSpec::values(s_lo, s_hi))
        };
        let bottom = PanelSpec {
            x_desc: time_desc(self.labels),
            y_desc: &volatility_desc,
            occupied: &bottom_occupied,
            extra_top: theme.tick * 0.6,
            ..PanelSpec::new(
                XSpec::Time(self.labels),
                YSpec { percent: true, grow: (false, true), ..YSpec::values(v_lo, v_hi) },
            )
        };
        let (top_plan, bottom_plan) = plan_stacked((&upper, &lower), theme, top, bottom);
        let plot = build(&upper, theme, &top_plan)?;
        if top_plan.y.lo < 0.0 && top_plan.y.hi > 0.0 {
            zero_line(&plot, &top_plan)?;
        }
        top_lines.draw(&plot, theme)?;
        draw_legend(&plot, theme, &legend, top_plan.corner)?;
        let plot = build(&lower, theme, &bottom_plan)?;
        bottom_lines.draw(&plot, theme)
    }
}
