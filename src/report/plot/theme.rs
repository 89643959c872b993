//! The look shared by every chart: palette, ink colours, and sizes that scale with the picture.

use plotters::style::{Color, RGBAColor, RGBColor, ShapeStyle};

use super::PlotSize;
use super::font::Fonts;

/// Tableau 10, Tableau's classic categorical palette (matplotlib's `tab10`): ten hues that stay
/// apart on screen and in print.
pub(super) const TABLEAU_10: [RGBColor; 10] = [
    RGBColor(31, 119, 180),  // blue
    RGBColor(255, 127, 14),  // orange
    RGBColor(44, 160, 44),   // green
    RGBColor(214, 39, 40),   // red
    RGBColor(148, 103, 189), // purple
    RGBColor(140, 86, 75),   // brown
    RGBColor(227, 119, 194), // pink
    RGBColor(127, 127, 127), // grey
    RGBColor(188, 189, 34),  // olive
    RGBColor(23, 190, 207),  // cyan
];

/// The light halves of Tableau 20, for stacks with more bands than Tableau 10 has hues.
pub(super) const TABLEAU_20_LIGHT: [RGBColor; 10] = [
    RGBColor(174, 199, 232),
    RGBColor(255, 187, 120),
    RGBColor(152, 223, 138),
    RGBColor(255, 152, 150),
    RGBColor(197, 176, 213),
    RGBColor(196, 156, 148),
    RGBColor(247, 182, 210),
    RGBColor(199, 199, 199),
    RGBColor(219, 219, 141),
    RGBColor(158, 218, 229),
];

/// Colours of emphasized series (the agent), in turn; the other series cycle through the rest
/// of Tableau 10.
/// Colour `k` of a chart's groups: Tableau 10, then their light partners, so that up to twenty
/// groups (walk-forward reports every policy) differ in colour before any repeats.
pub(super) fn group_colour(k: usize) -> RGBColor {
    let k = k % 20;
    if k < 10 { TABLEAU_10[k] } else { TABLEAU_20_LIGHT[k - 10] }
}

pub(super) const STRONG: [RGBColor; 2] = [TABLEAU_10[0], TABLEAU_10[3]];
pub(super) const CASH: RGBColor = RGBColor(205, 205, 205);
pub(super) const OTHER: RGBColor = TABLEAU_10[7];

pub(super) const INK: RGBColor = RGBColor(33, 33, 33);
pub(super) const INK_SOFT: RGBColor = RGBColor(80, 80, 80);
pub(super) const AXIS: RGBColor = RGBColor(120, 120, 120);
pub(super) const GRID: RGBColor = RGBColor(229, 229, 229);

/// Sizes in pixels, scaled with the picture (the default 1200x700 is scale 1).
pub(super) struct Theme {
    pub(super) fonts: &'static Fonts,
    pub(super) scale: f64,
    pub(super) title: f64,
    pub(super) desc: f64,
    pub(super) tick: f64,
    pub(super) legend: f64,
    pub(super) note: f64,
    pub(super) line: u32,
    pub(super) strong: u32,
    pub(super) pad: f64,
}

impl Theme {
    pub(super) fn new(size: PlotSize, fonts: &'static Fonts) -> Self {
        let scale = (size.width as f64 / 1200.0).min(size.height as f64 / 700.0).clamp(0.5, 4.0);
        let px = |base: f64| (base * scale).round().max(8.0);
        Self {
            fonts,
            scale,
            title: px(20.0),
            desc: px(14.0),
            tick: px(12.0),
            legend: px(12.5),
            note: px(11.0),
            line: (1.4 * scale).round().max(1.0) as u32,
            strong: (3.2 * scale).round().max(2.0) as u32,
            pad: (14.0 * scale).round(),
        }
    }

    /// Radius of a marker on a line.
    pub(super) fn dot(&self) -> u32 {
        (self.scale * 3.5).round().max(2.0) as u32
    }

    /// Radius of the ring that marks one point.
    pub(super) fn ring(&self) -> u32 {
        (self.scale * 8.0).round().max(4.0) as u32
    }

    /// Height of a value printed beyond a bar, with its gap.
    pub(super) fn bar_label(&self) -> f64 {
        self.note * 1.3 + 4.0
    }
}

pub(super) fn line_style(colour: RGBColor, width: u32) -> ShapeStyle {
    line_style_rgba(colour.to_rgba(), width)
}

pub(super) fn line_style_rgba(colour: RGBAColor, width: u32) -> ShapeStyle {
    ShapeStyle { color: colour, filled: false, stroke_width: width }
}
