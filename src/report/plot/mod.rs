//! folio's pictures: equity curves, drawdowns, portfolio weights, training curves, walk-forward
//! folds and grouped bars, drawn with plotters' bitmap backend into PNG files, and the same
//! charts (with rolling statistics and return distributions) as inline SVG for HTML reports.
//!
//! Every function takes plain data (time labels, named series, numbers), so reports, the CLI and
//! the tests draw the same pictures without knowing about backtests or checkpoints. A picture is
//! rendered into memory, encoded as PNG and written atomically: a failed plot never leaves half a
//! file behind.
//!
//! Text uses DejaVu Sans compiled into the binary (`assets/fonts/`, Bitstream Vera licence) and
//! registered with plotters' `ab_glyph` font table, so pictures draw the same on a bare machine
//! with no system fonts and no fontconfig.
//!
//! Time axes plot against the row index `0..n` and take their tick labels from `labels`: trading
//! days leave no weekend gaps, and undated data (period numbers) draws the same way. ISO dates
//! (`2019-01-02`, optionally followed by a time) get ticks at month or year starts.
//!
//! Every chart draws through [`canvas::Canvas`]: plotters' bitmap backend for PNG files, and
//! folio's own SVG backend (`svg`) for `report.html`, where text stays text and a long series
//! keeps only the points that change a pixel column. The layout is the same for both.
//!
//! The drawing layer: `font` (the embedded faces), `theme` (palette and sizes), `ink` (how text
//! looks and measures), `text` (drawing text, titles), `canvas` and `svg` (what charts draw on),
//! `axis` (what the axes show and their ticks), `legend` (size, corner, drawing), `lines`
//! (series as lines) and `panel` (one panel's layout and frame). Each
//! kind of chart has its own file built on them: `equity` (with the drawdown), `weights`,
//! `training`, `walk_forward` and `bars`.

mod axis;
mod bars;
mod canvas;
mod distribution;
mod equity;
mod font;
mod ink;
mod legend;
mod lines;
mod panel;
mod rolling;
mod svg;
mod text;
mod theme;
mod training;
mod walk_forward;
mod weights;

#[cfg(test)]
mod tests;

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::cartesian::Cartesian2d;
use plotters::prelude::*;

use super::ReportError;
use crate::files::write_bytes_atomically;
use axis::Axis;
use theme::Theme;

pub use bars::{bars, bars_svg, bars_with_axes};
pub use distribution::distribution_svg;
pub use equity::{drawdown, drawdown_svg, equity, equity_svg, equity_with_window, underwater};
pub use rolling::rolling_svg;
pub use training::training;
pub use walk_forward::{walk_forward, walk_forward_svg};
pub use weights::{weights, weights_svg};

/// One named line on a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    /// One value per label. NaN and infinite values (and, on a log scale, values that are not
    /// positive) leave gaps.
    pub values: Vec<f64>,
    /// The agent: drawn last, thicker and in a strong colour, and listed first in the legend.
    pub emphasis: bool,
}

impl Series {
    pub fn new(name: impl Into<String>, values: Vec<f64>) -> Self {
        Self { name: name.into(), values, emphasis: false }
    }

    pub fn emphasized(name: impl Into<String>, values: Vec<f64>) -> Self {
        Self { name: name.into(), values, emphasis: true }
    }
}

/// Picture size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlotSize {
    pub width: u32,
    pub height: u32,
}

impl Default for PlotSize {
    fn default() -> Self {
        Self { width: 1200, height: 700 }
    }
}

/// One walk-forward fold's test period and how the agent and the equal-weight portfolio did in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FoldSpan {
    /// First row of the test period, an index into the labels.
    pub start: usize,
    /// Last row of the test period (inclusive).
    pub end: usize,
    pub agent_sharpe: f64,
    pub equal_weight_sharpe: f64,
}

type Area<C> = DrawingArea<C, Shift>;
type Plot<C> = DrawingArea<C, Cartesian2d<Axis, Axis>>;

const MIN_SIZE: (u32, u32) = (240, 160);
const MAX_SIDE: u32 = 16_384;

/// Why a picture cannot be drawn: its inputs make no picture, or the drawing backend failed.
/// Reports carry it with the file or chart it was for ([`ReportError::Plot`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DrawError(String);

impl From<String> for DrawError {
    fn from(reason: String) -> Self {
        DrawError(reason)
    }
}

impl From<&str> for DrawError {
    fn from(reason: &str) -> Self {
        DrawError(reason.to_string())
    }
}

/// Turns a reason into the error for drawing `path`.
fn failure(path: &Path) -> impl Fn(DrawError) -> ReportError + Copy + '_ {
    move |reason| ReportError::Plot { path: path.to_path_buf(), reason: reason.to_string() }
}

/// Turns a reason into the error for drawing the SVG chart `chart`.
fn svg_failure(chart: &str) -> impl Fn(DrawError) -> ReportError + Copy + '_ {
    move |reason| ReportError::Chart { chart: chart.to_string(), reason: reason.to_string() }
}

/// Plotters' errors as a [`DrawError`].
fn de(e: impl std::fmt::Display) -> DrawError {
    DrawError(e.to_string())
}

/// A picture size plots support.
fn check_size(size: PlotSize) -> Result<(), DrawError> {
    let PlotSize { width, height } = size;
    if width < MIN_SIZE.0 || height < MIN_SIZE.1 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(format!(
            "a {width}x{height} picture is outside the sizes plots support ({}x{} to {MAX_SIDE}x{MAX_SIDE})",
            MIN_SIZE.0, MIN_SIZE.1
        )
        .into());
    }
    Ok(())
}

/// Draw into an in-memory RGB picture, encode it as PNG and write it atomically.
fn render(
    path: &Path,
    size: PlotSize,
    draw: impl FnOnce(&Area<BitMapBackend<'_>>, &Theme) -> Result<(), DrawError>,
) -> Result<(), ReportError> {
    let fail = failure(path);
    check_size(size).map_err(fail)?;
    let PlotSize { width, height } = size;
    let theme = Theme::new(size, font::fonts().map_err(fail)?);
    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(de(e)))?;
        draw(&root, &theme).map_err(fail)?;
        root.present().map_err(|e| fail(de(e)))?;
    }
    let png = encode_png(&rgb, width, height).map_err(|e| fail(format!("cannot encode PNG: {e}").into()))?;
    write_bytes_atomically(path, &png).map_err(|source| ReportError::Io { path: path.to_path_buf(), source })
}

/// Draw into an SVG document (see [`svg`]) and return its text.
fn render_svg(
    chart: &str,
    size: PlotSize,
    draw: impl FnOnce(&Area<svg::SvgCanvas<'_>>, &Theme) -> Result<(), DrawError>,
) -> Result<String, ReportError> {
    let fail = svg_failure(chart);
    check_size(size).map_err(fail)?;
    let theme = Theme::new(size, font::fonts().map_err(fail)?);
    let mut out = String::new();
    {
        let root = svg::SvgCanvas::new(&mut out, (size.width, size.height)).into_drawing_area();
        draw(&root, &theme).map_err(fail)?;
        root.present().map_err(|e| fail(de(e)))?;
    }
    Ok(out)
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

/// Smallest and largest value, or `None` when there is none.
fn extent(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}
