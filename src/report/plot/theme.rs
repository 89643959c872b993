//! The look shared by every chart: palette, ink colours, and sizes that scale with the picture.

use plotters::style::{Color, RGBAColor, RGBColor, ShapeStyle};

use super::PlotSize;
use super::font::Fonts;
use crate::backtest::{BaselineId, PolicyId};

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

/// Each baseline's colour in every chart, so that equal weight is orange in the equity curve,
/// the cost bars and the stress bars alike, whatever else a chart holds. Blue and red are the
/// emphasized series' ([`STRONG`]); the light blue, red, pink, green and orange partners are left
/// for the rest ([`OTHERS`]: an agent's seeds, a rebalancing rule).
const BASELINE_COLOURS: [(BaselineId, RGBColor); 13] = [
    (BaselineId::EqualWeight, TABLEAU_10[1]),
    (BaselineId::BuyAndHold, TABLEAU_10[2]),
    (BaselineId::BestAsset, TABLEAU_10[7]),
    (BaselineId::Bcrp, TABLEAU_20_LIGHT[7]),
    (BaselineId::MinVariance, TABLEAU_10[4]),
    (BaselineId::MaxSharpe, TABLEAU_10[5]),
    (BaselineId::InverseVolatility, TABLEAU_10[8]),
    (BaselineId::VolatilityManaged, TABLEAU_10[9]),
    (BaselineId::TrendFollowing, TABLEAU_10[6]),
    (BaselineId::Olmar, TABLEAU_20_LIGHT[4]),
    (BaselineId::Pamr, TABLEAU_20_LIGHT[5]),
    (BaselineId::Eg, TABLEAU_20_LIGHT[8]),
    (BaselineId::Ons, TABLEAU_20_LIGHT[9]),
];

/// The colours left for series that are neither emphasized nor a baseline, in turn.
const OTHERS: [RGBColor; 5] =
    [TABLEAU_20_LIGHT[0], TABLEAU_20_LIGHT[3], TABLEAU_20_LIGHT[6], TABLEAU_20_LIGHT[2], TABLEAU_20_LIGHT[1]];

/// The colour of each of a chart's series, by name: the emphasized ones (the agent) take the
/// strong colours in turn, a baseline its own colour, and the rest the others in turn.
pub(super) fn colours_by_name<'a>(series: impl Iterator<Item = (&'a str, bool)>) -> Vec<RGBColor> {
    let (mut strong, mut other) = (0, 0);
    series
        .map(|(name, emphasized)| {
            let baseline = match name.parse::<PolicyId>() {
                Ok(PolicyId::Baseline(id)) => {
                    BASELINE_COLOURS.iter().find(|(b, _)| *b == id).map(|(_, c)| *c)
                }
                _ => None,
            };
            match (emphasized, baseline) {
                (true, _) => {
                    strong += 1;
                    STRONG[(strong - 1) % STRONG.len()]
                }
                (false, Some(colour)) => colour,
                (false, None) => {
                    other += 1;
                    OTHERS[(other - 1) % OTHERS.len()]
                }
            }
        })
        .collect()
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
