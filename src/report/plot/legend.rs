//! Legends: what they list, how big they are, and the corner of the plot where they cover
//! nothing drawn.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::DrawError;
use super::axis::{Axis, YSpec};
use super::canvas::Canvas;
use super::text::{Ink, draw_text, text_width};
use super::theme::{INK, Theme, line_style, line_style_rgba};
use super::{Area, Plot, de};

/// A box in data coordinates that something drawn covers; the legend looks for a corner
/// without any.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub(super) x0: f64,
    pub(super) x1: f64,
    pub(super) y0: f64,
    pub(super) y1: f64,
    /// Pixels covered above and below as well (text printed beyond a bar).
    pub(super) px: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Corner {
    UpperLeft,
    UpperRight,
    LowerRight,
    LowerLeft,
}

impl Corner {
    const ALL: [Corner; 4] = [Corner::UpperLeft, Corner::UpperRight, Corner::LowerRight, Corner::LowerLeft];

    pub(super) fn is_top(self) -> bool {
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
pub(super) enum Swatch {
    Line(ShapeStyle),
    Fill(RGBAColor),
    /// A marker on a line of this width.
    Dot(RGBAColor, u32),
    /// A ring marking one point.
    Ring(RGBAColor),
}

#[derive(Debug, Clone)]
pub(super) struct LegendEntry {
    pub(super) label: String,
    pub(super) swatch: Swatch,
}

pub(super) struct LegendMetrics {
    row: f64,
    pub(super) pad: f64,
    pub(super) swatch: f64,
    pub(super) gap: f64,
}

impl LegendMetrics {
    pub(super) fn new(theme: &Theme) -> Self {
        let px = theme.legend;
        Self {
            row: (px * 1.55).round(),
            pad: (px * 0.65).round(),
            swatch: (px * 2.0).round(),
            gap: (px * 0.6).round(),
        }
    }
}

/// How a legend's entries fill columns: as many rows as fit in the height it may take, so that
/// every entry is listed however many there are (a legend cut off at the plot's edge leaves lines
/// nobody can name).
pub(super) struct LegendGrid {
    rows: usize,
    column_w: f64,
    pub(super) size: (f64, f64),
}

impl LegendGrid {
    /// The grid for `entries` in at most `max_h` pixels of height (one column at least, one row
    /// at least).
    pub(super) fn new(theme: &Theme, entries: &[LegendEntry], max_h: f64) -> Self {
        let m = LegendMetrics::new(theme);
        let ink = Ink::new(theme.legend, INK);
        let text = entries.iter().map(|e| text_width(theme, &e.label, ink)).fold(0.0, f64::max);
        let fit = ((max_h - 2.0 * m.pad) / m.row).floor().max(1.0) as usize;
        let columns = entries.len().div_ceil(fit).max(1);
        // Balanced columns: the last one is not left with a single straggler.
        let rows = entries.len().div_ceil(columns).max(1);
        let column_w = m.swatch + m.gap + text;
        let w = 2.0 * m.pad + column_w * columns as f64 + 2.0 * m.gap * (columns - 1) as f64;
        Self { rows, column_w, size: (w, 2.0 * m.pad + m.row * rows as f64) }
    }

    /// Top-left pixel of entry `k`'s row, relative to the legend's own top-left corner.
    fn cell(&self, m: &LegendMetrics, k: usize) -> (f64, f64) {
        let (column, row) = (k / self.rows, k % self.rows);
        (m.pad + column as f64 * (self.column_w + 2.0 * m.gap), m.pad + m.row * row as f64)
    }
}

/// The height a legend may take inside a plot `plot_h` high, its box inset by `inset`.
pub(super) fn legend_max_h(plot_h: f64, inset: f64) -> f64 {
    plot_h - 2.0 * inset
}

/// Size of the legend for `entries` in a plot `plot_h` high (see [`LegendGrid`]).
pub(super) fn legend_size(theme: &Theme, entries: &[LegendEntry], plot_h: f64) -> (f64, f64) {
    LegendGrid::new(theme, entries, legend_max_h(plot_h, theme.pad * 0.7)).size
}

/// The corner whose legend box covers nothing drawn, growing the y range at the top or bottom
/// (where `spec.grow` allows) as little as possible to make one free. With no way to free a
/// corner, the one covering the least. Returns the corner and the (possibly grown) y range.
pub(super) fn place_legend(
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

pub(super) fn draw_legend<C: Canvas>(
    plot: &Plot<C>,
    theme: &Theme,
    entries: &[LegendEntry],
    corner: Corner,
) -> Result<(), DrawError> {
    if entries.is_empty() {
        return Ok(());
    }
    let area = plot.strip_coord_spec();
    let (w, h) = area.dim_in_pixel();
    let inset = theme.pad * 0.7;
    let grid = LegendGrid::new(theme, entries, legend_max_h(h as f64, inset));
    let (x, y) = corner.place((w as f64, h as f64), grid.size, inset);
    draw_legend_at(&area, theme, entries, &grid, (x.round() as i32, y.round() as i32), true)
}

/// A legend with its top-left corner at `at` (pixels in `area`), on a white card when `card`.
pub(super) fn draw_legend_at<C: Canvas>(
    area: &Area<C>,
    theme: &Theme,
    entries: &[LegendEntry],
    grid: &LegendGrid,
    at: (i32, i32),
    card: bool,
) -> Result<(), DrawError> {
    let m = LegendMetrics::new(theme);
    let (w, h) = grid.size;
    let (x, y) = (at.0 as f64, at.1 as f64);
    if card {
        let corners = [(at.0, at.1), ((x + w) as i32, (y + h) as i32)];
        area.draw(&Rectangle::new(corners, WHITE.mix(0.9).filled())).map_err(de)?;
        area.draw(&Rectangle::new(corners, line_style(RGBColor(204, 204, 204), 1))).map_err(de)?;
    }
    for (k, entry) in entries.iter().enumerate() {
        let (cx, cy) = grid.cell(&m, k);
        let (x, cy) = (x + cx - m.pad, y + cy + m.row / 2.0);
        let (x0, x1, yc) = ((x + m.pad) as i32, (x + m.pad + m.swatch) as i32, cy as i32);
        let half = (m.row * 0.32) as i32;
        match entry.swatch {
            Swatch::Line(style) => area.draw(&PathElement::new(vec![(x0, yc), (x1, yc)], style)),
            Swatch::Fill(colour) => {
                area.draw(&Rectangle::new([(x0, yc - half), (x1, yc + half)], colour.filled()))
            }
            Swatch::Dot(colour, width) => area
                .draw(&PathElement::new(vec![(x0, yc), (x1, yc)], line_style_rgba(colour, width)))
                .and_then(|_| area.draw(&Circle::new(((x0 + x1) / 2, yc), theme.dot(), colour.filled()))),
            Swatch::Ring(colour) => {
                let ring = line_style_rgba(colour, theme.line.max(2));
                area.draw(&Circle::new(((x0 + x1) / 2, yc), theme.ring(), ring))
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
