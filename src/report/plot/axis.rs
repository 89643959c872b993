//! Axes: what a chart puts along them ([`XSpec`], [`YSpec`]), the [`Axis`] coordinate plotters
//! maps through, and the ticks folio chooses for it: at month or year starts for dates, at round
//! values on linear and logarithmic scales.

use std::ops::Range;

use chrono::{Datelike, NaiveDate};
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};

use super::text::{Ink, fit_text};
use super::theme::{INK, Theme};

/// What runs along the x axis.
pub(super) enum XSpec<'l> {
    /// One label per row; the axis runs over the row index.
    Time(&'l [String]),
    Numeric {
        lo: f64,
        hi: f64,
    },
    /// Category `c` occupies `[c, c + 1)`.
    Categories(&'l [String]),
}

/// What the y axis shows, and the room it leaves around the data.
pub(super) struct YSpec {
    /// Data extent, before padding.
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) log: bool,
    /// Values are percentages: ticks read "-20%".
    pub(super) percent: bool,
    /// Padding below and above, as shares of the (warped) extent.
    pub(super) pad: (f64, f64),
    /// Whether the range may grow at the bottom and at the top to make room for the legend.
    pub(super) grow: (bool, bool),
    /// Pixels to keep free below and above the data, e.g. for values printed beyond bars.
    pub(super) room_px: (f64, f64),
}

impl YSpec {
    /// Values from `lo` to `hi` on a linear scale, with 5% to spare at either end, where the
    /// legend may make more room.
    pub(super) fn values(lo: f64, hi: f64) -> Self {
        Self {
            lo,
            hi,
            log: false,
            percent: false,
            pad: (0.05, 0.05),
            grow: (true, true),
            room_px: (0.0, 0.0),
        }
    }

    /// Bars from zero to values in `lo..=hi` (`lo <= 0 <= hi`), with `label_px` to spare beyond
    /// each bar's end for its printed value. Without negative bars the axis starts at zero, and
    /// only the top may grow for the legend.
    pub(super) fn bars(lo: f64, hi: f64, label_px: f64) -> Self {
        let below = lo < 0.0;
        Self {
            pad: (if below { 0.05 } else { 0.0 }, 0.05),
            grow: (below, true),
            room_px: (if below { label_px } else { 0.0 }, label_px),
            ..Self::values(lo, hi)
        }
    }
}

/// A 1-D coordinate with ticks chosen (and labelled) by folio rather than by plotters: time
/// labels, categories, linear or logarithmic values. Only ticks get grid lines.
#[derive(Debug, Clone)]
pub(super) struct Axis {
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) log: bool,
    pub(super) ticks: Vec<(f64, String)>,
}

impl Axis {
    pub(super) fn bare(lo: f64, hi: f64, log: bool) -> Self {
        Self { lo, hi, log, ticks: Vec::new() }
    }

    fn warp(&self, v: f64) -> f64 {
        if self.log { v.ln() } else { v }
    }

    /// Position of `v` along the axis, 0 at `lo` and 1 at `hi`.
    pub(super) fn frac(&self, v: f64) -> f64 {
        let (a, b) = (self.warp(self.lo), self.warp(self.hi));
        if b > a { (self.warp(v) - a) / (b - a) } else { 0.5 }
    }
}

impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let f = self.frac(*value);
        let f = if f.is_finite() { f.clamp(-10.0, 11.0) } else { 0.0 };
        limit.0 + (f * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Plotters asks twice: for light grid lines (none here) and for labelled ones.
        if hint.weight().allow_light_points() {
            return Vec::new();
        }
        self.ticks.iter().map(|t| t.0).collect()
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// Plotters draws the tick marks but no tick text: [`build`](super::panel::build) writes the labels.
impl ValueFormatter<f64> for Axis {
    fn format_ext(&self, _: &f64) -> String {
        String::new()
    }
}

/// The data extent padded by `spec.pad` (on the warped scale) and `spec.room_px` (on a plot
/// `plot_h` pixels high), never empty.
pub(super) fn padded(spec: &YSpec, plot_h: f64) -> (f64, f64) {
    let warp = |v: f64| if spec.log { v.ln() } else { v };
    let unwarp = |v: f64| if spec.log { v.exp() } else { v };
    let (mut a, mut b) = (warp(spec.lo), warp(spec.hi));
    if !(b > a) {
        let half = if spec.log || a == 0.0 { 0.5 } else { a.abs() * 0.05 };
        a -= half;
        b += half;
    }
    // Shares of the padded range: the data keep what the padding leaves.
    let (below, above) = (spec.pad.0 + spec.room_px.0 / plot_h, spec.pad.1 + spec.room_px.1 / plot_h);
    let span = (b - a) / (1.0 - below - above).max(0.2);
    let (lo, hi) = (unwarp(a - span * below), unwarp(b + span * above));
    // Wealth near the largest float (a price file with an absurd cell) pads past it on a log
    // scale: the axis stops at the largest and smallest positive floats instead.
    if spec.log {
        (lo.clamp(f64::MIN_POSITIVE, f64::MAX), hi.clamp(f64::MIN_POSITIVE, f64::MAX))
    } else {
        (lo, hi)
    }
}

/// A y axis over `lo..hi` with at most `max_ticks` ticks.
pub(super) fn y_axis(lo: f64, hi: f64, spec: &YSpec, max_ticks: usize) -> Axis {
    let mut ticks = if spec.log { log_ticks(lo, hi, max_ticks) } else { linear_ticks(lo, hi, max_ticks) };
    if spec.percent {
        ticks.iter_mut().for_each(|t| t.1.push('%'));
    }
    Axis { lo, hi, log: spec.log, ticks }
}

/// An x axis `plot_w` pixels wide, with as many tick labels as fit.
pub(super) fn x_axis(spec: &XSpec<'_>, plot_w: f64, theme: &Theme) -> Axis {
    let char_px = theme.tick * 0.64;
    match *spec {
        XSpec::Time(labels) => {
            let (lo, hi) = if labels.len() > 1 { (0.0, (labels.len() - 1) as f64) } else { (-0.5, 0.5) };
            Axis { lo, hi, log: false, ticks: time_ticks(labels, plot_w, char_px) }
        }
        XSpec::Numeric { lo, hi } => {
            let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 0.5, hi + 0.5) };
            let widest = format_number(lo).len().max(format_number(hi).len()) as f64;
            let max = ((plot_w / (widest * char_px + 40.0)) as usize).clamp(2, 12);
            Axis { lo, hi, log: false, ticks: linear_ticks(lo, hi, max) }
        }
        XSpec::Categories(categories) => {
            let room = plot_w / categories.len() as f64 - 8.0;
            let ticks = categories
                .iter()
                .enumerate()
                .map(|(c, name)| (c as f64 + 0.5, fit_text(theme, name, Ink::new(theme.tick, INK), room)))
                .collect();
            Axis { lo: 0.0, hi: categories.len() as f64, log: false, ticks }
        }
    }
}

/// How to describe a time axis: "date" when every label is one.
pub(super) fn time_desc(labels: &[String]) -> &'static str {
    if labels.iter().all(|l| parse_date(l).is_some()) { "date" } else { "period" }
}

/// `2019-01-02`, optionally followed by a time (`T...` or ` ...`).
fn parse_date(label: &str) -> Option<NaiveDate> {
    let head = label.get(..10)?;
    if label.len() > 10 && !matches!(label.as_bytes()[10], b'T' | b' ') {
        return None;
    }
    NaiveDate::parse_from_str(head, "%Y-%m-%d").ok()
}

/// Ticks for a time axis `plot_w` pixels wide: at month or year starts for dates, else at
/// evenly spaced rows.
pub(super) fn time_ticks(labels: &[String], plot_w: f64, char_px: f64) -> Vec<(f64, String)> {
    let dates: Option<Vec<NaiveDate>> = labels.iter().map(|l| parse_date(l)).collect();
    dates.and_then(|d| month_ticks(&d, plot_w, char_px)).unwrap_or_else(|| row_ticks(labels, plot_w, char_px))
}

/// The first row of every k-th month (or k-th year), with the smallest k whose labels fit.
fn month_ticks(dates: &[NaiveDate], plot_w: f64, char_px: f64) -> Option<Vec<(f64, String)>> {
    let month = |d: &NaiveDate| d.year() as i64 * 12 + d.month0() as i64;
    let starts: Vec<(usize, i64)> = (1..dates.len())
        .filter(|&i| month(&dates[i]) != month(&dates[i - 1]))
        .map(|i| (i, month(&dates[i])))
        .collect();
    for step in [1, 2, 3, 6, 12, 24, 60, 120, 240, 600, 1200] {
        let (format, chars) = if step < 12 { ("%b %Y", 8.5) } else { ("%Y", 4.5) };
        let fits = (plot_w / (chars * char_px + 28.0)).max(2.0) as usize;
        let picks: Vec<usize> =
            starts.iter().filter(|(_, m)| m.rem_euclid(step) == 0).map(|&(i, _)| i).collect();
        if picks.len() <= fits {
            if picks.len() < 2 {
                return None;
            }
            return Some(
                picks.into_iter().map(|i| (i as f64, dates[i].format(format).to_string())).collect(),
            );
        }
    }
    None
}

/// Every k-th row for k in 1, 2, 5, 10, ...: at multiples of k when the labels are integers
/// (period numbers), else counting from the first row.
fn row_ticks(labels: &[String], plot_w: f64, char_px: f64) -> Vec<(f64, String)> {
    let widest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1) as f64;
    let fits = (plot_w / (widest * char_px + 28.0)).max(2.0) as usize;
    let numbers: Option<Vec<i64>> = labels.iter().map(|l| l.trim().parse().ok()).collect();
    let mut base: i64 = 1;
    let picks = loop {
        let mut found = None;
        for step in [base, base * 2, base * 5] {
            let picks: Vec<usize> = match &numbers {
                Some(v) => (0..labels.len()).filter(|&i| v[i].rem_euclid(step) == 0).collect(),
                None => (0..labels.len()).step_by(step as usize).collect(),
            };
            if picks.len() <= fits {
                found = Some(picks);
                break;
            }
        }
        match found {
            Some(p) => break p,
            None if base > i64::MAX / 100 => break vec![0],
            None => base *= 10,
        }
    };
    let picks = if picks.is_empty() { vec![0] } else { picks };
    picks.into_iter().map(|i| (i as f64, labels[i].clone())).collect()
}

/// 1, 2, 2.5 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// Evenly spaced round values within `[lo, hi]`: the finest round step that gives at most
/// `max` of them, all printed with the same number of decimals.
fn linear_ticks(lo: f64, hi: f64, max: usize) -> Vec<(f64, String)> {
    if !(hi > lo) {
        return vec![(lo, format_number(lo))];
    }
    let count = |step: f64| ((hi / step + 1e-9).floor() - (lo / step - 1e-9).ceil() + 1.0).max(0.0) as usize;
    let mut step = nice_step((hi - lo) / (2 * max.max(1)) as f64);
    for _ in 0..64 {
        if count(step) <= max.max(1) {
            break;
        }
        step = nice_step(step * 1.000_001);
    }
    let decimals =
        (0..=9).find(|&d| ((step * 10f64.powi(d)).round() - step * 10f64.powi(d)).abs() < 1e-6).unwrap_or(9);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
            (v, format!("{v:.*}", decimals as usize))
        })
        .collect()
}

/// Ticks at 1, 2, 5 (or denser) times powers of ten within `[lo, hi]`; linear ticks when the range
/// spans too little of a decade for that.
pub(super) fn log_ticks(lo: f64, hi: f64, max: usize) -> Vec<(f64, String)> {
    let sets: [&[f64]; 4] =
        [&[1.0], &[1.0, 2.0, 5.0], &[1.0, 2.0, 3.0, 5.0], &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0]];
    // Decades of positive finite floats only: an infinite end would ask for billions of them.
    let decade = |v: f64| v.log10().clamp(f64::MIN_POSITIVE.log10(), f64::MAX.log10());
    let (first, last) = (decade(lo).floor() as i32, decade(hi).ceil() as i32);
    let in_range = |v: f64| v.is_finite() && v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9);
    let mut best: Vec<f64> = Vec::new();
    for set in sets {
        let ticks: Vec<f64> = (first..=last)
            .flat_map(|e| set.iter().map(move |m| m * 10f64.powi(e)))
            .filter(|&v| in_range(v))
            .collect();
        if ticks.len() <= max && ticks.len() > best.len() {
            best = ticks;
        }
    }
    if best.is_empty() {
        // More decades than ticks: every k-th decade.
        let every = ((last - first) as usize).div_ceil(max.max(1)).max(1);
        best = (first..=last).step_by(every).map(|e| 10f64.powi(e)).filter(|&v| in_range(v)).collect();
    }
    if best.len() < 3 {
        return linear_ticks(lo, hi, max);
    }
    best.into_iter().map(|v| (v, format_number(v))).collect()
}

/// A number with as few decimals as it needs (at most six).
pub(super) fn format_number(v: f64) -> String {
    let decimals = (0..=6)
        .find(|&d| {
            let scaled = v * 10f64.powi(d);
            (scaled.round() - scaled).abs() < 1e-6 * scaled.abs().max(1.0)
        })
        .unwrap_or(6);
    let text = format!("{v:.*}", decimals as usize);
    if text.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') { "0".into() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round_and_share_decimals() {
        let texts = |lo, hi, n| linear_ticks(lo, hi, n).into_iter().map(|t| t.1).collect::<Vec<_>>();
        assert_eq!(texts(0.0, 100.0, 6), ["0", "20", "40", "60", "80", "100"]);
        assert_eq!(texts(-0.31, 0.02, 7), ["-0.30", "-0.25", "-0.20", "-0.15", "-0.10", "-0.05", "0.00"]);
        assert_eq!(texts(0.93, 1.42, 5), ["1.0", "1.1", "1.2", "1.3", "1.4"]);
    }
}
