//! Pictures drawn end to end and decoded again, and the ignored gallery of examples to look at.

use std::collections::HashSet;
use std::path::PathBuf;

use chrono::{Datelike, NaiveDate};

use super::axis::{Axis, YSpec, log_ticks, time_ticks};
use super::legend::{Corner, place_legend};
use super::lines::{Run, line_spans};
use super::theme::{OTHER, STRONG, TABLEAU_10};
use super::weights::weight_bands;
use super::*;

/// A decoded PNG.
struct Picture {
    width: u32,
    height: u32,
    rgb: Vec<[u8; 3]>,
}

impl Picture {
    fn read(path: &Path) -> Picture {
        let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut reader = png::Decoder::new(file).read_info().expect("a PNG header");
        let mut buffer = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buffer).expect("PNG data");
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        let rgb = buffer[..info.buffer_size()].chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
        Picture { width: info.width, height: info.height, rgb }
    }

    fn distinct_colours(&self) -> usize {
        self.rgb.iter().collect::<HashSet<_>>().len()
    }

    /// Share of pixels that are not the white background.
    fn ink(&self) -> f64 {
        self.rgb.iter().filter(|p| **p != [255, 255, 255]).count() as f64 / self.rgb.len() as f64
    }

    /// Pixels of exactly this colour, as (x, y).
    fn pixels_of(&self, c: RGBColor) -> Vec<(u32, u32)> {
        (0..self.rgb.len())
            .filter(|&i| self.rgb[i] == [c.0, c.1, c.2])
            .map(|i| (i as u32 % self.width, i as u32 / self.width))
            .collect()
    }
}

/// Decodes, has the requested size and is plainly a picture rather than a blank.
fn assert_drawn(path: &Path, size: PlotSize) -> Picture {
    let picture = Picture::read(path);
    assert_eq!((picture.width, picture.height), (size.width, size.height), "{}", path.display());
    assert!(picture.distinct_colours() >= 30, "{}: {} colours", path.display(), picture.distinct_colours());
    let ink = picture.ink();
    assert!((0.01..0.9).contains(&ink), "{}: {:.1}% ink", path.display(), 100.0 * ink);
    picture
}

/// Deterministic random numbers for synthetic data (SplitMix64).
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// `n` weekdays from 2019-01-02.
fn trading_days(n: usize) -> Vec<String> {
    let mut day = NaiveDate::from_ymd_opt(2019, 1, 2).unwrap();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        if day.weekday().number_from_monday() <= 5 {
            out.push(day.format("%Y-%m-%d").to_string());
        }
        day = day.succ_opt().unwrap();
    }
    out
}

fn random_walk(noise: &mut Noise, n: usize, drift: f64, vol: f64) -> Vec<f64> {
    let mut v = 1.0;
    (0..n)
        .map(|t| {
            if t > 0 {
                v *= (drift + vol * noise.normal()).exp();
            }
            v
        })
        .collect()
}

fn three_curves(n: usize) -> Vec<Series> {
    let mut noise = Noise(7);
    vec![
        Series::emphasized("agent (PPO)", random_walk(&mut noise, n, 0.0005, 0.012)),
        Series::new("equal weight", random_walk(&mut noise, n, 0.0003, 0.010)),
        Series::new("min variance", random_walk(&mut noise, n, 0.0002, 0.006)),
    ]
}

/// Softmax of slowly wandering scores: `n` long-only rows over cash and `assets`.
fn weight_rows(n: usize, assets: usize) -> (Vec<String>, Vec<Vec<f64>>) {
    let mut noise = Noise(11);
    let mut names = vec!["cash".to_string()];
    let tickers = [
        "SPY", "QQQ", "IWM", "EFA", "EEM", "TLT", "IEF", "SHY", "LQD", "HYG", "GLD", "SLV", "USO", "DBC",
        "VNQ", "XLE", "XLF", "XLK", "XLV", "XLU", "XLP", "XLY", "XLI", "XLB",
    ];
    names.extend((0..assets).map(|j| tickers[j % tickers.len()].to_string()));
    let mut scores: Vec<f64> =
        (0..=assets).map(|j| 1.5 * noise.normal() - if j == 0 { 1.0 } else { 0.0 }).collect();
    let rows = (0..n)
        .map(|_| {
            scores.iter_mut().for_each(|s| *s += 0.08 * noise.normal());
            let e: Vec<f64> = scores.iter().map(|s| s.exp()).collect();
            let total: f64 = e.iter().sum();
            e.iter().map(|x| x / total).collect()
        })
        .collect();
    (names, rows)
}

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary folder")
}

fn reason(result: Result<(), ReportError>) -> String {
    match result {
        Err(ReportError::Plot { reason, .. }) => reason,
        other => panic!("expected a plot error, got {other:?}"),
    }
}

#[test]
fn equity_draws_every_series_with_the_agent_in_its_strong_colour() {
    let dir = temp();
    let path = dir.path().join("equity.png");
    let labels = trading_days(1000);
    let size = PlotSize { width: 900, height: 520 };
    equity(&path, "Out of sample", &labels, &three_curves(1000), false, size).unwrap();
    let picture = assert_drawn(&path, size);
    assert!(picture.pixels_of(STRONG[0]).len() > 1500, "the agent's blue is missing");
    // Each baseline in its own colour: equal weight orange, min variance purple.
    for colour in [TABLEAU_10[1], TABLEAU_10[4]] {
        assert!(picture.pixels_of(colour).len() > 500, "{colour:?} is missing");
    }
    // Written atomically: nothing else left in the folder.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// A stress scenario's picture shades the window its figures measure, and only that.
#[test]
fn a_measured_window_is_shaded_behind_the_curves() {
    let dir = temp();
    let size = PlotSize { width: 900, height: 520 };
    let (labels, curves) = (trading_days(300), three_curves(300));
    let grey = RGBColor(240, 240, 240);
    let shaded = |window: Option<(usize, usize)>| {
        let path = dir.path().join("stress.png");
        match window {
            Some(window) => equity_with_window(&path, "Stress", &labels, &curves, window, size).unwrap(),
            None => equity(&path, "Stress", &labels, &curves, false, size).unwrap(),
        }
        assert_drawn(&path, size).pixels_of(grey).len()
    };
    let (none, narrow, wide) = (shaded(None), shaded(Some((100, 120))), shaded(Some((50, 250))));
    assert!(none < 100 && narrow > 5_000 && wide > 5 * narrow, "{none} {narrow} {wide}");
}

#[test]
fn equity_default_size_and_overwrite() {
    let dir = temp();
    let path = dir.path().join("equity.png");
    std::fs::write(&path, b"old").unwrap();
    let labels: Vec<String> = (1..=300).map(|i| i.to_string()).collect();
    let series = vec![Series::new("a", (0..300).map(|i| 1.0 + i as f64 / 300.0).collect())];
    equity(&path, "Undated", &labels, &series, false, PlotSize::default()).unwrap();
    assert_drawn(&path, PlotSize::default());
}

#[test]
fn log_scale_straightens_growth_over_three_decades() {
    let dir = temp();
    let n = 800;
    let labels = trading_days(n);
    let growth: Vec<f64> = (0..n).map(|i| 0.1 * 1000f64.powf(i as f64 / (n - 1) as f64)).collect();
    let series = vec![Series::emphasized("agent", growth), Series::new("cash", vec![1.0; n])];
    let mean_height = |log: bool| {
        let path = dir.path().join(format!("log-{log}.png"));
        equity(&path, "Growth", &labels, &series, log, PlotSize::default()).unwrap();
        let picture = assert_drawn(&path, PlotSize::default());
        let blue = picture.pixels_of(STRONG[0]);
        assert!(blue.len() > 1500);
        blue.iter().map(|p| p.1 as f64).sum::<f64>() / blue.len() as f64 / picture.height as f64
    };
    // Linear: the curve hugs the floor for most of its length. Log: a straight diagonal.
    let (linear, log) = (mean_height(false), mean_height(true));
    assert!(linear > 0.65, "linear mean height {linear}");
    assert!((0.35..0.6).contains(&log), "log mean height {log}");

    let axis = Axis::bare(0.1, 100.0, true);
    assert!((axis.frac(1.0) - 1.0 / 3.0).abs() < 1e-12 && (axis.frac(10.0) - 2.0 / 3.0).abs() < 1e-12);
    let ticks: Vec<String> = log_ticks(0.1, 100.0, 6).into_iter().map(|t| t.1).collect();
    assert_eq!(ticks, ["0.1", "1", "10", "100"]);
    let ticks: Vec<String> = log_ticks(0.5, 60.0, 7).into_iter().map(|t| t.1).collect();
    assert_eq!(ticks, ["0.5", "1", "2", "5", "10", "20", "50"]);
    // Less than a decade: plain round values.
    let ticks: Vec<String> = log_ticks(0.9, 1.6, 8).into_iter().map(|t| t.1).collect();
    assert_eq!(ticks, ["0.9", "1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6"]);
    // Wealth near the largest float (a price file with an absurd cell): the padded axis stays
    // finite, and its ticks are a few decades, not one per decade up to infinity.
    let spec = YSpec { log: true, ..YSpec::values(0.5, 1e307) };
    let (lo, hi) = super::axis::padded(&spec, 300.0);
    assert!(lo > 0.0 && hi.is_finite(), "{lo} {hi}");
    for (lo, hi) in [(lo, hi), (1.0, f64::INFINITY), (0.0, 10.0)] {
        let ticks = log_ticks(lo, hi, 6);
        assert!(
            (1..=6).contains(&ticks.len()) && ticks.iter().all(|t| t.0.is_finite()),
            "{lo} {hi}: {ticks:?}"
        );
    }
}

#[test]
fn gaps_are_skipped_not_drawn_or_fatal() {
    let dir = temp();
    let path = dir.path().join("gaps.png");
    let labels = trading_days(400);
    let mut curves = three_curves(400);
    for i in (100..140).chain([5, 250, 399]) {
        curves[0].values[i] = f64::NAN;
    }
    curves[1].values[300] = f64::INFINITY;
    curves[2].values = vec![f64::NAN; 400];
    equity(&path, "Gaps", &labels, &curves, true, PlotSize::default()).unwrap();
    let picture = assert_drawn(&path, PlotSize::default());
    assert!(picture.pixels_of(STRONG[0]).len() > 1000);
    drawdown(&dir.path().join("dd.png"), "Gaps", &labels, &curves, PlotSize::default()).unwrap();
}

#[test]
fn underwater_is_the_fall_from_the_running_peak_in_percent() {
    let d = underwater(&[1.0, 1.2, 0.9, f64::NAN, 1.2, 1.32, 0.0, 0.66]);
    let expected = [0.0, 0.0, -25.0, f64::NAN, 0.0, 0.0, f64::NAN, -50.0];
    for (a, b) in d.iter().zip(expected) {
        assert!((a.is_nan() && b.is_nan()) || (a - b).abs() < 1e-9, "{d:?}");
    }
}

#[test]
fn drawdown_fills_the_agent() {
    let dir = temp();
    let path = dir.path().join("drawdown.png");
    let size = PlotSize { width: 1000, height: 600 };
    drawdown(&path, "Drawdowns", &trading_days(1000), &three_curves(1000), size).unwrap();
    let picture = assert_drawn(&path, size);
    assert!(picture.pixels_of(STRONG[0]).len() > 1500);
    // The fill: the agent's blue, faint on white.
    let fill = STRONG[0].mix(0.16);
    let blend = |c: u8| (fill.3 * c as f64 + (1.0 - fill.3) * 255.0) as i32;
    let (r, g, b) = (blend(STRONG[0].0), blend(STRONG[0].1), blend(STRONG[0].2));
    let close = picture
        .rgb
        .iter()
        .filter(|p| {
            (p[0] as i32 - r).abs() <= 2 && (p[1] as i32 - g).abs() <= 2 && (p[2] as i32 - b).abs() <= 2
        })
        .count();
    assert!(close > 5000, "{close} fill pixels");
}

#[test]
fn weights_stack_the_top_assets_and_the_rest_as_other() {
    let (names, rows) = weight_rows(300, 20);
    let labels = trading_days(300);
    let stack = weight_bands(&labels, &names, &rows, 6).unwrap();
    let band_names: Vec<&str> = stack.bands.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(band_names.len(), 8, "{band_names:?}");
    assert_eq!(band_names[0], "cash");
    assert_eq!(band_names[7], "other (14 assets)");
    assert!(stack.bands[1..7].windows(2).all(|w| w[0].mean >= w[1].mean));
    for r in [0, 150, 299] {
        assert!((stack.total(r) - 1.0).abs() < 1e-9);
    }

    let dir = temp();
    let path = dir.path().join("weights.png");
    weights(&path, "Weights", &labels, &names, &rows, 6, PlotSize::default()).unwrap();
    let picture = assert_drawn(&path, PlotSize::default());
    assert!(picture.pixels_of(TABLEAU_10[0]).len() > 2000, "the first asset's band");
    assert!(picture.pixels_of(OTHER).len() > 2000, "the other band");
    // No grouping when top_k covers every asset.
    let all = weight_bands(&labels, &names, &rows, 20).unwrap();
    assert_eq!(all.bands.len(), 21);
}

/// `n` rows over cash and `assets` assets: softmax of wandering scores times `spread`, so that a
/// small spread stays near equal weight and a large one holds a few assets.
fn many_weight_rows(n: usize, assets: usize, spread: f64) -> (Vec<String>, Vec<Vec<f64>>) {
    let mut noise = Noise(13);
    let names = std::iter::once("cash".to_string()).chain((0..assets).map(|j| format!("A{j:03}"))).collect();
    let mut scores: Vec<f64> = (0..=assets).map(|_| noise.normal()).collect();
    let rows = (0..n)
        .map(|_| {
            scores.iter_mut().for_each(|s| *s += 0.1 * noise.normal());
            let e: Vec<f64> = scores.iter().map(|s| (spread * s).exp()).collect();
            let total: f64 = e.iter().sum();
            e.iter().map(|x| x / total).collect()
        })
        .collect();
    (names, rows)
}

#[test]
fn hundreds_of_assets_add_a_heat_map_of_every_asset() {
    let labels = trading_days(120);
    let dir = temp();
    for (spread, what) in [(0.3, "near equal weight"), (3.0, "a few holdings")] {
        let (names, rows) = many_weight_rows(120, 300, spread);
        let path = dir.path().join("weights.png");
        weights(&path, "Weights", &labels, &names, &rows, 8, PlotSize::default()).unwrap();
        let picture = assert_drawn(&path, PlotSize::default());
        // Below the stacked chart, shades of blue (over equal weight) and of red (under it).
        let lower = |p: &[u8; 3], i: usize| i as u32 / picture.width > picture.height / 2 && p[2] != p[0];
        let (blue, red) = picture
            .rgb
            .iter()
            .enumerate()
            .filter(|(i, p)| lower(p, *i))
            .fold((0, 0), |(b, r), (_, p)| if p[2] > p[0] { (b + 1, r) } else { (b, r + 1) });
        assert!(blue > 5000 && red > 5000, "{what}: {blue} blue and {red} red pixels");
    }
    // Twenty assets keep the single chart: nothing red.
    let (names, rows) = many_weight_rows(120, 20, 3.0);
    let path = dir.path().join("few.png");
    weights(&path, "Weights", &labels, &names, &rows, 8, PlotSize::default()).unwrap();
    let picture = Picture::read(&path);
    assert!(picture.pixels_of(RGBColor(239, 138, 98)).is_empty());
    assert!(
        !weights_svg("Weights", &labels, &names, &rows, 8, PlotSize::default()).unwrap().contains("<image")
    );
}

#[test]
fn the_svg_twin_embeds_the_heat_map_as_one_image() {
    let labels = trading_days(120);
    let (names, rows) = many_weight_rows(120, 300, 3.0);
    let svg = weights_svg("Weights", &labels, &names, &rows, 8, PlotSize::default()).unwrap();
    assert_eq!(svg.matches("<image").count(), 1);
    assert!(svg.len() < 400_000, "a picture, not a shape per pixel: {} bytes", svg.len());
    assert!(svg.contains("href=\"data:image/png;base64,iVBORw0KGgo"), "a PNG inside");
}

#[test]
fn weights_skip_broken_rows_and_reject_shorts() {
    let (names, mut rows) = weight_rows(50, 4);
    let labels = trading_days(50);
    rows[10][2] = f64::NAN;
    let stack = weight_bands(&labels, &names, &rows, 3).unwrap();
    assert_eq!(stack.rows.len(), 49);
    rows[20][1] = -0.2;
    let dir = temp();
    let e = reason(weights(&dir.path().join("w.png"), "", &labels, &names, &rows, 3, PlotSize::default()));
    assert!(e.contains("long-only") && e.contains(&labels[20]), "{e}");
}

#[test]
fn training_draws_both_panels_with_or_without_validation() {
    let dir = temp();
    let mut noise = Noise(3);
    let updates: Vec<f64> = (1..=500).map(f64::from).collect();
    let reward: Vec<f64> =
        updates.iter().map(|u| -0.5 + 0.8 * (1.0 - (-u / 150.0).exp()) + 0.2 * noise.normal()).collect();
    let v_updates: Vec<f64> = (1..=25).map(|k| 20.0 * k as f64).collect();
    let v_sharpe: Vec<f64> =
        v_updates.iter().map(|u| 1.2 * (1.0 - (-u / 200.0).exp()) - 0.3 + 0.15 * noise.normal()).collect();
    let path = dir.path().join("training.png");
    training(&path, "Training", &updates, &reward, &v_updates, &v_sharpe, PlotSize::default()).unwrap();
    let picture = assert_drawn(&path, PlotSize::default());
    assert!(picture.pixels_of(STRONG[0]).len() > 1000, "the moving average");
    assert!(picture.pixels_of(TABLEAU_10[1]).len() > 300, "the validation line");

    let path = dir.path().join("training-no-validation.png");
    training(&path, "Training", &updates[..5], &reward[..5], &[], &[], PlotSize::default()).unwrap();
    assert_drawn(&path, PlotSize::default());
}

#[test]
fn walk_forward_shades_folds_and_pairs_bars() {
    let dir = temp();
    let path = dir.path().join("wf.png");
    let labels = trading_days(750);
    let folds: Vec<FoldSpan> = (0..6)
        .map(|k| FoldSpan {
            start: k * 125,
            end: k * 125 + 124,
            agent_sharpe: [0.8, -0.4, 1.3, 0.2, f64::NAN, 0.9][k],
            equal_weight_sharpe: [0.6, -0.1, 0.9, 0.5, 0.3, 0.7][k],
        })
        .collect();
    walk_forward(&path, "Walk-forward", &labels, &three_curves(750), &folds, PlotSize::default()).unwrap();
    let picture = assert_drawn(&path, PlotSize::default());
    assert!(picture.pixels_of(STRONG[0]).len() > 3000, "the agent's line and bars");
    assert!(picture.pixels_of(TABLEAU_10[1]).len() > 2000, "the equal-weight line and bars");
    // The shading: white dimmed by 6% black.
    assert!(picture.pixels_of(RGBColor(240, 240, 240)).len() > 20_000);
}

#[test]
fn bars_group_values_per_category_including_negatives() {
    let dir = temp();
    let path = dir.path().join("bars.png");
    let categories: Vec<String> = ["0 bp", "5 bp", "10 bp", "25 bp", "50 bp"].map(String::from).to_vec();
    let groups = vec![
        ("agent".to_string(), vec![1.1, 0.9, 0.7, 0.2, -0.6]),
        ("equal weight".to_string(), vec![0.7, 0.68, 0.66, 0.6, 0.5]),
    ];
    let size = PlotSize { width: 800, height: 500 };
    bars_with_axes(
        &path,
        "Cost sensitivity",
        "cost per unit turnover",
        "Sharpe ratio",
        &categories,
        &groups,
        size,
    )
    .unwrap();
    let picture = assert_drawn(&path, size);
    assert!(picture.pixels_of(TABLEAU_10[0]).len() > 3000);
    assert!(picture.pixels_of(TABLEAU_10[1]).len() > 3000);
    bars(&dir.path().join("plain.png"), "Plain", &categories, &groups, size).unwrap();
}

/// A policy that lost everything reaches -100%, and the axis ends there: no tick reads a fall
/// deeper than all of it.
#[test]
fn a_total_loss_ends_the_drawdown_axis_at_minus_100_percent() {
    let labels = trading_days(1000);
    // Below the others, whose legend takes the lower corner, as OLMAR's did beside five baselines.
    let ruin: Vec<f64> = (0..1000).map(|t| 0.99f64.powi(t)).collect();
    let mut series = three_curves(1000);
    series.push(Series::new("OLMAR", ruin));
    let svg = drawdown_svg("Drawdown", &labels, &series, PlotSize::default()).unwrap();
    let ticks: Vec<f64> = svg_texts(&svg)
        .iter()
        .filter_map(|t| t.trim().strip_suffix('%')?.replace('\u{2212}', "-").parse().ok())
        .collect();
    assert!(ticks.len() >= 3, "{:?}", svg_texts(&svg));
    assert!(ticks.iter().all(|&t| t >= -100.0), "{ticks:?}");
    assert!(ticks.contains(&-100.0), "{ticks:?}");
    // The rule itself: a total loss fixes the axis at -100%; a fall of 40% is padded and may grow.
    let total = super::equity::drawdown_axis(-100.0);
    assert_eq!((total.lo, total.pad.0, total.grow.0), (-100.0, 0.0, false));
    let partial = super::equity::drawdown_axis(-40.0);
    assert_eq!((partial.lo, partial.grow.0), (-40.0, true));
}

/// A multi-seed run's stress bars: the ensemble, the policy its verdict judges, is the blue one,
/// as in its line charts, and equal weight is orange.
#[test]
fn the_ensembles_bars_are_blue() {
    let dir = temp();
    let path = dir.path().join("stress.png");
    let categories: Vec<String> = ["covid", "crash"].map(String::from).to_vec();
    let groups = vec![
        ("agent (seed 0)".to_string(), vec![30.0, 20.0]),
        ("agent (seed 1)".to_string(), vec![31.0, 21.0]),
        ("agent (ensemble)".to_string(), vec![30.5, 20.5]),
        ("equal weight".to_string(), vec![29.0, 19.0]),
    ];
    let size = PlotSize { width: 800, height: 500 };
    bars_with_axes(&path, "Stress", "scenario", "max drawdown (%)", &categories, &groups, size).unwrap();
    let picture = assert_drawn(&path, size);
    assert!(picture.pixels_of(STRONG[0]).len() > 3000, "the ensemble's blue");
    assert!(picture.pixels_of(TABLEAU_10[1]).len() > 3000, "equal weight's orange");
}

/// Bars print their values to three significant digits of the chart's largest, never fewer than
/// two decimals: an explanation's attributions of a hundredth were all 0.00 or 0.01.
#[test]
fn small_bar_values_keep_their_digits() {
    let categories: Vec<String> = ["cash", "AAA", "BBB"].map(String::from).to_vec();
    let groups = vec![("attribution".to_string(), vec![0.0045, -0.014, 0.0007])];
    let svg =
        bars_svg("Attribution", ("asset", "attribution"), &categories, &groups, PlotSize::default()).unwrap();
    let texts: HashSet<&str> = svg_texts(&svg).into_iter().collect();
    for printed in ["0.0045", "-0.0140", "0.0007"] {
        assert!(
            texts.contains(printed) || texts.contains(printed.replace('-', "\u{2212}").as_str()),
            "{printed}: {texts:?}"
        );
    }
    assert_eq!(super::bars::decimals_for([12.3, -4.0].into_iter()), 2);
    assert_eq!(super::bars::decimals_for([f64::NAN, 0.0].into_iter()), 2);
}

/// The texts of an SVG document's `<text>` elements.
fn svg_texts(svg: &str) -> Vec<&str> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| t.split_once('>')?.1.split_once("</text>"))
        .map(|t| t.0)
        .collect()
}

/// A walk-forward reports fifteen policies at five costs: a value was printed on some bars and
/// not on others (wherever the text happened to fit), and eleven of the colours repeated.
#[test]
fn every_bar_of_many_groups_gets_its_value_or_none_does() {
    let categories: Vec<String> = ["0 bp", "5 bp", "10 bp", "25 bp", "50 bp"].map(String::from).to_vec();
    let groups: Vec<(String, Vec<f64>)> = (0..15)
        .map(|g| (format!("policy {g}"), (0..5).map(|c| 1.0 + 0.37 * g as f64 - 0.11 * c as f64).collect()))
        .collect();
    let size = PlotSize::default();
    let svg = bars_svg("Costs", ("cost", "CAGR (%)"), &categories, &groups, size).unwrap();
    let texts: HashSet<&str> = svg_texts(&svg).into_iter().collect();
    for (name, values) in &groups {
        assert!(texts.contains(name.as_str()), "{name} is not in the legend");
        for v in values {
            assert!(texts.contains(format!("{v:.2}").as_str()), "{name}'s {v:.2} is not printed");
        }
    }
    // Every policy a walk-forward reports differs in colour: the ensemble, three seeds and every
    // baseline; and a baseline keeps its colour whatever else a chart holds.
    let seeds = ["agent (seed 0)", "agent (seed 1)", "agent (seed 2)"];
    let names: Vec<&str> = std::iter::once("agent (ensemble)")
        .chain(seeds)
        .chain(crate::backtest::BaselineId::ALL.iter().map(|id| id.name()))
        .collect();
    let all = super::theme::colours_by_name(names.iter().map(|name| (*name, *name == "agent (ensemble)")));
    let colours: HashSet<(u8, u8, u8)> = all.iter().map(|c| (c.0, c.1, c.2)).collect();
    assert_eq!(colours.len(), names.len());
    let alone = super::theme::colours_by_name(["equal weight"].into_iter().map(|name| (name, false)));
    assert_eq!(alone[0], all[names.iter().position(|name| *name == "equal weight").unwrap()]);
    // Too narrow for even turned text: no bar is labelled, rather than some.
    let small = PlotSize { width: 240, height: 400 };
    let svg = bars_svg("Costs", ("cost", "CAGR (%)"), &categories, &groups, small).unwrap();
    let printed = groups.iter().flat_map(|g| &g.1).filter(|v| svg.contains(&format!(">{v:.2}<"))).count();
    assert_eq!(printed, 0);
}

/// The walk-forward and evaluation pictures drew fifteen policies and named seven: the legend ran
/// off the bottom of the plot. It now wraps into columns.
#[test]
fn the_legend_names_every_line_however_many() {
    let n = 400;
    let mut noise = Noise(11);
    let series: Vec<Series> = (0..15)
        .map(|k| Series::new(format!("policy number {k}"), random_walk(&mut noise, n, 0.0004, 0.01)))
        .collect();
    let labels = trading_days(n);
    let folds = [
        FoldSpan { start: 0, end: 199, agent_sharpe: 0.5, equal_weight_sharpe: 0.3 },
        FoldSpan { start: 200, end: 399, agent_sharpe: -0.2, equal_weight_sharpe: 0.1 },
    ];
    let small = PlotSize { width: 900, height: 400 };
    let charts = [
        equity_svg("Wealth", &labels, &series, false, small).unwrap(),
        walk_forward_svg("Walk-forward", &labels, &series, &folds, small).unwrap(),
    ];
    for svg in &charts {
        let texts: HashSet<&str> = svg_texts(svg).into_iter().collect();
        for s in &series {
            assert!(texts.contains(s.name.as_str()), "{} is not in the legend", s.name);
        }
    }
}

/// An agent that kept its reference portfolio traces equal weight's path exactly, so equal
/// weight's line lies under the agent's: the legend says so rather than list a line no one sees.
#[test]
fn a_line_hidden_under_the_agent_s_says_so_in_the_legend() {
    let n = 300;
    let mut noise = Noise(5);
    let agent = random_walk(&mut noise, n, 0.0004, 0.01);
    // Rounding a softmax in f32 moves wealth by far less than a pixel.
    let equal_weight: Vec<f64> = agent.iter().map(|v| v * (1.0 + 1e-7)).collect();
    let series = vec![
        Series::emphasized("agent (ensemble)", agent.clone()),
        Series::new("equal weight", equal_weight),
        Series::new("buy and hold", random_walk(&mut noise, n, 0.0004, 0.01)),
        Series::new("close but apart", agent.iter().map(|v| v * 1.01).collect()),
    ];
    let labels = trading_days(n);
    let small = PlotSize { width: 900, height: 400 };
    let equity = equity_svg("Wealth", &labels, &series, false, small).unwrap();
    let texts = svg_texts(&equity);
    assert!(texts.contains(&"equal weight (under the agent's line)"), "{texts:?}");
    assert!(texts.contains(&"buy and hold") && texts.contains(&"close but apart"), "{texts:?}");
    assert!(texts.iter().all(|t| !t.starts_with("agent (ensemble) (")), "{texts:?}");
    let drawdown = drawdown_svg("Drawdown", &labels, &series, small).unwrap();
    let texts = svg_texts(&drawdown);
    assert!(
        texts.iter().any(|t| t.starts_with("equal weight  (max") && t.ends_with("(under the agent's line)")),
        "{texts:?}"
    );
}

#[test]
fn every_picture_draws_at_the_smallest_and_a_large_size() {
    let dir = temp();
    let labels = trading_days(260);
    let curves = three_curves(260);
    let (names, rows) = weight_rows(260, 12);
    let updates: Vec<f64> = (1..=260).map(f64::from).collect();
    let folds = [
        FoldSpan { start: 0, end: 129, agent_sharpe: 0.5, equal_weight_sharpe: -0.2 },
        FoldSpan { start: 130, end: 259, agent_sharpe: 1.5, equal_weight_sharpe: 0.7 },
    ];
    let categories: Vec<String> = ["a long category name", "b", "c"].map(String::from).to_vec();
    let groups = vec![("x".to_string(), vec![1.0, -2.0, 3.0]), ("y".to_string(), vec![0.5, 0.5, f64::NAN])];
    for size in [PlotSize { width: 240, height: 160 }, PlotSize { width: 2400, height: 1400 }] {
        let at = |name: &str| dir.path().join(format!("{name}-{}.png", size.width));
        let title = "A title long enough that a small picture has to shorten it with an ellipsis";
        equity(&at("equity"), title, &labels, &curves, true, size).unwrap();
        drawdown(&at("drawdown"), title, &labels, &curves, size).unwrap();
        weights(&at("weights"), title, &labels, &names, &rows, 5, size).unwrap();
        training(&at("training"), title, &updates, &curves[0].values, &updates[..10], &updates[..10], size)
            .unwrap();
        walk_forward(&at("walk_forward"), title, &labels, &curves, &folds, size).unwrap();
        bars(&at("bars"), title, &categories, &groups, size).unwrap();
        for name in ["equity", "drawdown", "weights", "training", "walk_forward", "bars"] {
            let picture = Picture::read(&at(name));
            assert_eq!((picture.width, picture.height), (size.width, size.height), "{name}");
            assert!(picture.distinct_colours() >= 10 && picture.ink() > 0.01, "{name} at {size:?}");
        }
    }
}

#[test]
fn empty_and_mismatched_inputs_are_clear_errors_and_write_nothing() {
    let dir = temp();
    let path = dir.path().join("never.png");
    let labels = trading_days(10);
    let ten = vec![Series::new("a", vec![1.0; 10])];
    let size = PlotSize::default();
    let cases: Vec<(Result<(), ReportError>, &str)> = vec![
        (equity(&path, "", &[], &ten, false, size), "no labels"),
        (equity(&path, "", &labels, &[], false, size), "no series"),
        (equity(&path, "", &labels[..9], &ten, false, size), "has 10 values, but there are 9 labels"),
        (
            equity(&path, "", &labels, &[Series::new("a", vec![f64::NAN; 10])], false, size),
            "no series has a finite",
        ),
        (equity(&path, "", &labels, &[Series::new("a", vec![-1.0; 10])], true, size), "log scale"),
        (equity(&path, "", &labels, &ten, false, PlotSize { width: 100, height: 50 }), "100x50"),
        (drawdown(&path, "", &labels, &[Series::new("a", vec![1.0; 3])], size), "has 3 values"),
        (weights(&path, "", &labels, &["cash".into()], &[], 5, size), "no decisions"),
        (
            weights(&path, "", &labels, &["cash".into(), "A".into()], &vec![vec![0.5; 2]; 9], 5, size),
            "9 rows",
        ),
        (weights(&path, "", &labels[..1], &["cash".into(), "A".into()], &[vec![1.0]], 5, size), "1 entries"),
        (training(&path, "", &[], &[], &[], &[], size), "no updates"),
        (training(&path, "", &[1.0, 2.0], &[0.5], &[], &[], size), "2 updates but 1 rewards"),
        (training(&path, "", &[1.0], &[0.5], &[1.0], &[], size), "validation"),
        (walk_forward(&path, "", &labels, &ten, &[], size), "no folds"),
        (
            walk_forward(
                &path,
                "",
                &labels,
                &ten,
                &[FoldSpan { start: 5, end: 10, agent_sharpe: 1.0, equal_weight_sharpe: 1.0 }],
                size,
            ),
            "fold 1 spans rows 5..=10",
        ),
        (bars(&path, "", &[], &[("a".into(), vec![])], size), "no categories"),
        (bars(&path, "", &["x".into()], &[], size), "no groups"),
        (bars(&path, "", &["x".into()], &[("a".into(), vec![1.0, 2.0])], size), "has 2 values"),
    ];
    for (result, expected) in cases {
        let e = reason(result);
        assert!(e.contains(expected), "\"{e}\" should mention \"{expected}\"");
    }
    assert!(!path.exists());
}

#[test]
fn time_ticks_fall_on_month_or_year_starts_and_fit() {
    let labels = trading_days(1000);
    let ticks = time_ticks(&labels, 1000.0, 8.0);
    assert!((4..=12).contains(&ticks.len()), "{ticks:?}");
    for (i, text) in &ticks {
        let i = *i as usize;
        assert_ne!(labels[i][..7], labels[i - 1][..7], "{text} is not the first day of a month");
    }
    assert_eq!(ticks[0].1, "Jul 2019");
    // Narrow: years.
    let ticks = time_ticks(&labels, 300.0, 8.0);
    assert_eq!(ticks.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(), ["2020", "2021", "2022"]);
    // Period numbers: round ones.
    let periods: Vec<String> = (1..=1000).map(|i| i.to_string()).collect();
    let ticks = time_ticks(&periods, 1000.0, 8.0);
    assert_eq!(
        ticks.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(),
        ["100", "200", "300", "400", "500", "600", "700", "800", "900", "1000"]
    );
    // Other labels: evenly spaced from the first.
    let words: Vec<String> = (0..30).map(|i| format!("step-{i}")).collect();
    let ticks = time_ticks(&words, 600.0, 8.0);
    assert_eq!(ticks[0].1, "step-0");
    assert!(ticks.len() >= 3 && ticks.len() <= 10);
    // Too short for month starts: row ticks with whole dates.
    let ticks = time_ticks(&labels[..15], 900.0, 8.0);
    assert!(ticks.len() >= 3 && ticks[0].1 == "2019-01-02", "{ticks:?}");
}

#[test]
fn the_legend_moves_to_a_free_corner_or_makes_room() {
    let x = Axis::bare(0.0, 99.0, false);
    let spec = |grow| YSpec { pad: (0.0, 0.0), grow, ..YSpec::values(0.0, 1.0) };
    // A rising line from bottom-left to top-right leaves the upper left free.
    let rising: Vec<Run> = vec![(0..100).map(|i| (i as f64, i as f64 / 99.0)).collect()];
    let spans = line_spans(&rising);
    let (corner, lo, hi) =
        place_legend((1000.0, 500.0), (200.0, 80.0), 10.0, &x, &spec((true, true)), (0.0, 1.0), &spans);
    assert_eq!((corner, lo, hi), (Corner::UpperLeft, 0.0, 1.0));
    // A line across the whole top and bottom: grow the range rather than cover it.
    let both: Vec<Run> =
        vec![(0..100).map(|i| (i as f64, 1.0)).collect(), (0..100).map(|i| (i as f64, 0.0)).collect()];
    let range = (-0.05, 1.05);
    let (corner, lo, hi) = place_legend(
        (1000.0, 500.0),
        (200.0, 80.0),
        10.0,
        &x,
        &spec((false, true)),
        range,
        &line_spans(&both),
    );
    assert!(corner.is_top() && lo == -0.05 && hi > 1.2, "{corner:?} {lo} {hi}");
    // Where nothing may grow, the corner that covers least.
    let mut two = both.clone();
    two[1].truncate(50);
    let (corner, lo, hi) = place_legend(
        (1000.0, 500.0),
        (200.0, 80.0),
        10.0,
        &x,
        &spec((false, false)),
        range,
        &line_spans(&two),
    );
    assert_eq!((corner, lo, hi), (Corner::LowerRight, -0.05, 1.05));
}

// Example pictures with realistic data, to look at: `cargo test --release --lib
// report::plot::tests::gallery -- --ignored`, into `$FOLIO_PLOT_GALLERY` or `/tmp/plots`.

fn gallery_dir() -> PathBuf {
    let dir = PathBuf::from(std::env::var("FOLIO_PLOT_GALLERY").unwrap_or_else(|_| "/tmp/plots".into()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const GALLERY_DAYS: usize = 1000;

#[test]
#[ignore]
fn gallery_wealth() {
    let (dir, n, size) = (gallery_dir(), GALLERY_DAYS, PlotSize::default());
    let labels = trading_days(n);
    let curves = three_curves(n);
    equity(&dir.join("equity.png"), "Out-of-sample wealth, 2019-2022", &labels, &curves, false, size)
        .unwrap();
    let mut noise = Noise(5);
    let wide = vec![
        Series::emphasized("agent (PPO)", random_walk(&mut noise, n, 0.004, 0.02)),
        Series::new("equal weight", random_walk(&mut noise, n, 0.0004, 0.01)),
        Series::new("cash", vec![1.0; n]),
    ];
    equity(&dir.join("equity_log.png"), "Wealth on a log scale", &labels, &wide, true, size).unwrap();
    let small = PlotSize { width: 640, height: 380 };
    equity(&dir.join("equity_small.png"), "Small picture", &labels, &curves, false, small).unwrap();
    let periods: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    equity(&dir.join("equity_periods.png"), "Undated synthetic market", &periods, &curves, false, size)
        .unwrap();
    drawdown(&dir.join("drawdown.png"), "Drawdown from peak", &labels, &curves, size).unwrap();
}

#[test]
#[ignore]
fn gallery_weights() {
    let (dir, n, size) = (gallery_dir(), GALLERY_DAYS, PlotSize::default());
    let labels = trading_days(n);
    let (names, rows) = weight_rows(n, 20);
    weights(&dir.join("weights.png"), "Agent weights (top 8 assets)", &labels, &names, &rows, 8, size)
        .unwrap();
    let (few_names, few_rows) = weight_rows(n, 5);
    weights(&dir.join("weights_few.png"), "Agent weights", &labels, &few_names, &few_rows, 8, size).unwrap();
    let small = PlotSize { width: 600, height: 360 };
    weights(&dir.join("weights_small.png"), "Agent weights, small", &labels, &names, &rows, 8, small)
        .unwrap();
    for (spread, name) in [(0.3, "weights_500_even.png"), (3.0, "weights_500_few.png")] {
        let (names, rows) = many_weight_rows(n, 500, spread);
        weights(&dir.join(name), "Agent weights, 500 assets", &labels, &names, &rows, 8, size).unwrap();
    }
}

#[test]
#[ignore]
fn gallery_training() {
    let dir = gallery_dir();
    let mut noise = Noise(5);
    let updates: Vec<f64> = (1..=600).map(f64::from).collect();
    let reward: Vec<f64> =
        updates.iter().map(|u| -0.4 + 0.7 * (1.0 - (-u / 150.0).exp()) + 0.25 * noise.normal()).collect();
    let v_updates: Vec<f64> = (1..=30).map(|k| 20.0 * k as f64).collect();
    let v_sharpe: Vec<f64> =
        v_updates.iter().map(|u| 1.1 * (1.0 - (-u / 200.0).exp()) - 0.2 + 0.12 * noise.normal()).collect();
    let (title, size) = ("Training: PPO on 20 ETFs", PlotSize::default());
    training(&dir.join("training.png"), title, &updates, &reward, &v_updates, &v_sharpe, size).unwrap();
    let title = "Training (no validation)";
    training(&dir.join("training_no_validation.png"), title, &updates, &reward, &[], &[], size).unwrap();
    let tiny = PlotSize { width: 240, height: 160 };
    training(
        &dir.join("training_tiny.png"),
        "Training, tiny",
        &updates,
        &reward,
        &v_updates,
        &v_sharpe,
        tiny,
    )
    .unwrap();
}

#[test]
#[ignore]
fn gallery_walk_forward_and_bars() {
    let (dir, n, size) = (gallery_dir(), GALLERY_DAYS, PlotSize::default());
    let labels = trading_days(n);
    let curves = three_curves(n);
    let mut noise = Noise(5);
    let folds: Vec<FoldSpan> = (0..8)
        .map(|k| FoldSpan {
            start: k * 125,
            end: (k * 125 + 124).min(n - 1),
            agent_sharpe: 1.5 * noise.normal() + 0.4,
            equal_weight_sharpe: 0.8 * noise.normal() + 0.5,
        })
        .collect();
    walk_forward(&dir.join("walk_forward.png"), "Walk-forward, 8 folds", &labels, &curves, &folds, size)
        .unwrap();
    let small = PlotSize { width: 600, height: 360 };
    walk_forward(&dir.join("walk_forward_small.png"), "Walk-forward, small", &labels, &curves, &folds, small)
        .unwrap();

    let categories: Vec<String> =
        ["0 bp", "5 bp", "10 bp", "20 bp", "50 bp", "100 bp"].map(String::from).to_vec();
    let groups = vec![
        ("agent (PPO)".to_string(), vec![1.21, 1.05, 0.92, 0.64, -0.12, -0.95]),
        ("equal weight".to_string(), vec![0.71, 0.70, 0.69, 0.67, 0.62, 0.55]),
        ("minimum variance".to_string(), vec![0.55, 0.54, 0.53, 0.51, 0.47, 0.40]),
    ];
    let title = "Sharpe ratio against transaction costs";
    let axes = ("cost per unit of turnover", "Sharpe ratio");
    bars_with_axes(&dir.join("bars.png"), title, axes.0, axes.1, &categories, &groups, size).unwrap();
}
