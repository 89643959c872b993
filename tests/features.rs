//! Every feature against values computed by hand from its textbook formula.

use folio::data::{PricePanel, TimeIndex};
use folio::features::{Feature, FeatureConfig, FeatureSet};
use ndarray::Array2;

const PRICES: [f64; 10] = [10.0, 11.0, 10.5, 11.5, 12.0, 11.0, 11.5, 12.5, 13.0, 12.5];

fn features_of(prices: &[f64], config: &FeatureConfig) -> FeatureSet {
    let panel = PricePanel::new(
        "hand",
        vec!["A".into()],
        TimeIndex::Periods(prices.len()),
        Array2::from_shape_vec((prices.len(), 1), prices.to_vec()).unwrap(),
    );
    FeatureSet::compute(&panel, config)
}

fn small_config() -> FeatureConfig {
    FeatureConfig {
        window: 2,
        features: Feature::ALL.to_vec(),
        volatility_window: 3,
        momentum_window: 3,
        rsi_period: 3,
        bollinger_period: 3,
        bollinger_width: 2.0,
        clip: 10.0,
        ..FeatureConfig::default()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn log_return_momentum_and_volatility_by_hand() {
    let f = features_of(&PRICES, &small_config());
    assert!(close(f.value(0, 0, 1), (11.0f64 / 10.0).ln()));
    assert!(close(f.value(0, 0, 9), (12.5f64 / 13.0).ln()));
    // Momentum over 3 periods at t = 5: ln(p5 / p2) = ln(11 / 10.5).
    assert!(close(f.value(0, 2, 5), (11.0f64 / 10.5).ln()));
    // Volatility at t = 3: sample standard deviation of the returns of periods 1, 2, 3.
    let r = [(1.1f64).ln(), (10.5f64 / 11.0).ln(), (11.5f64 / 10.5).ln()];
    let mean = r.iter().sum::<f64>() / 3.0;
    let sd = (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    assert!(close(f.value(0, 1, 3), sd), "{} vs {sd}", f.value(0, 1, 3));
    // Later values slide the window: t = 9 uses periods 7, 8, 9.
    let r = [(12.5f64 / 11.5).ln(), (13.0f64 / 12.5).ln(), (12.5f64 / 13.0).ln()];
    let mean = r.iter().sum::<f64>() / 3.0;
    let sd = (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    assert!((f.value(0, 1, 9) - sd).abs() < 1e-12);
}

#[test]
fn wilder_rsi_by_hand() {
    let f = features_of(&PRICES, &small_config());
    // Changes: +1, -0.5, +1, +0.5, ... First averages over 3: gain 2/3, loss 1/6 -> 0.8.
    assert!(close(f.value(0, 3, 3), 0.8), "{}", f.value(0, 3, 3));
    // Next change +0.5: gain (2/3 * 2 + 0.5) / 3 = 11/18, loss (1/6 * 2) / 3 = 2/18 -> 11/13.
    assert!(close(f.value(0, 3, 4), 11.0 / 13.0), "{}", f.value(0, 3, 4));
    // Constant prices: neither gains nor losses, RSI sits at its midpoint.
    let flat = features_of(&[5.0; 6], &small_config());
    assert_eq!(flat.value(0, 3, 5), 0.5);
}

#[test]
fn bollinger_percent_b_by_hand() {
    let f = features_of(&PRICES, &small_config());
    // t = 2: prices 10, 11, 10.5 -> mean 10.5 = price: %B = 0.5.
    assert!(close(f.value(0, 4, 2), 0.5));
    // t = 3: prices 11, 10.5, 11.5: mean 11, population sd sqrt(1/6); %B = 0.5 + 0.5 / (4 sd).
    let expected = 0.5 + 0.5 / (4.0 * (1.0f64 / 6.0).sqrt());
    assert!(close(f.value(0, 4, 3), expected), "{} vs {expected}", f.value(0, 4, 3));
}

#[test]
fn warmup_counts_the_longest_history_plus_the_window() {
    let config = small_config();
    // Volatility, momentum and RSI need 3 periods; window 2 adds one more row.
    assert_eq!(config.warmup(), 4);
    let default = FeatureConfig::default();
    assert_eq!(default.warmup(), 20 + 50 - 1);
}

/// A refused setting is named with the value given and what it must be.
#[test]
fn each_refused_setting_names_itself_and_its_value() {
    let refused = |config: FeatureConfig| config.validate().unwrap_err().to_string();
    let default = FeatureConfig::default();
    assert_eq!(
        refused(FeatureConfig { volatility_window: 1, ..default.clone() }),
        "features.volatility_window must be at least 2: a standard deviation needs two values, got 1"
    );
    assert_eq!(
        refused(FeatureConfig { reversal_window: 0, ..default.clone() }),
        "features.reversal_window must be at least 1, got 0"
    );
    assert!(
        refused(FeatureConfig { rank_lookback: 5, rank_skip: 5, ..default.clone() }).ends_with("got 5 and 5")
    );
    assert_eq!(
        refused(FeatureConfig { bollinger_width: f64::NAN, ..default.clone() }),
        "features.bollinger_width must be positive and finite, got NaN"
    );
    assert_eq!(
        refused(FeatureConfig { clip: 0.0, ..default }),
        "features.clip must be positive and finite, got 0"
    );
}

#[test]
fn normalizer_is_fitted_on_the_given_rows_only_and_reapplies_identically() {
    let config = FeatureConfig { features: vec![Feature::LogReturn], window: 1, ..small_config() };
    let f = features_of(&PRICES, &config);
    let normalizer = f.fit_normalizer(0..5);
    let r: Vec<f64> = (1..5).map(|t| (PRICES[t] / PRICES[t - 1]).ln()).collect();
    let mean = r.iter().sum::<f64>() / 4.0;
    let sd = (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
    assert!(close(normalizer.mean[0], mean) && close(normalizer.std[0], sd));

    // Changing prices after the fitted rows leaves the statistics alone.
    let mut other = PRICES;
    other[7] = 30.0;
    let refit = features_of(&other, &config).fit_normalizer(0..5);
    assert_eq!(normalizer, refit);
    // A normalizer survives a JSON round trip bit for bit (checkpoints store it).
    let json = serde_json::to_string(&normalizer).unwrap();
    let back: folio::features::Normalizer = serde_json::from_str(&json).unwrap();
    assert_eq!(back, normalizer);
    let normalized = f.normalize(&back).unwrap();
    let mut window = vec![0.0f32; normalized.observation_len()];
    normalized.write_window(6, &mut window);
    assert_eq!(window[0], ((r_at(6) - mean) / sd) as f32);

    // A normalizer for other features is refused.
    let wrong = features_of(&PRICES, &small_config());
    assert!(
        wrong.normalize(&normalizer).unwrap_err().to_string().contains("fitted for features [log_return]")
    );
}

fn r_at(t: usize) -> f64 {
    (PRICES[t] / PRICES[t - 1]).ln()
}

/// Two assets: `A` the hand prices, `B` another path, so that the market and the ranks differ.
const OTHER: [f64; 10] = [20.0, 19.0, 19.5, 21.0, 20.0, 20.5, 22.0, 21.0, 21.5, 23.0];

fn two_assets(config: &FeatureConfig) -> FeatureSet {
    let mut prices = Vec::new();
    for t in 0..10 {
        prices.extend([PRICES[t], OTHER[t]]);
    }
    let panel = PricePanel::new(
        "hand",
        vec!["A".into(), "B".into()],
        TimeIndex::Periods(10),
        Array2::from_shape_vec((10, 2), prices).unwrap(),
    );
    FeatureSet::compute(&panel, config)
}

#[test]
fn risk_and_cross_sectional_features_by_hand() {
    let config = FeatureConfig {
        window: 2,
        features: Feature::RISK.to_vec(),
        volatility_window: 3,
        long_window: 4,
        rank_lookback: 4,
        rank_skip: 1,
        reversal_window: 2,
        ..FeatureConfig::default()
    };
    let f = two_assets(&config);
    let r = |p: &[f64; 10], t: usize| (p[t] / p[t - 1]).ln();
    let market = |t: usize| ((PRICES[t] / PRICES[t - 1] + OTHER[t] / OTHER[t - 1]) / 2.0).ln();
    // Downside volatility at t = 5 over returns 3, 4, 5 of A.
    let dd = ((0..3).map(|k| r(&PRICES, 3 + k).min(0.0).powi(2)).sum::<f64>() / 3.0).sqrt();
    assert!(close(f.value(0, 0, 5), dd), "{} vs {dd}", f.value(0, 0, 5));
    // Long volatility at t = 9: sample standard deviation of A's returns 6..=9.
    let xs: Vec<f64> = (6..=9).map(|t| r(&PRICES, t)).collect();
    let mean = xs.iter().sum::<f64>() / 4.0;
    let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
    assert!(close(f.value(0, 1, 9), sd));
    // Correlation and beta of A with the equal-weight market at t = 9 (population moments).
    let ys: Vec<f64> = (6..=9).map(market).collect();
    let my = ys.iter().sum::<f64>() / 4.0;
    let cov = xs.iter().zip(&ys).map(|(x, y)| (x - mean) * (y - my)).sum::<f64>() / 4.0;
    let var_x = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 4.0;
    let var_y = ys.iter().map(|y| (y - my).powi(2)).sum::<f64>() / 4.0;
    assert!((f.value(0, 2, 9) - cov / (var_x * var_y).sqrt()).abs() < 1e-9);
    assert!((f.value(0, 3, 9) - cov / var_y).abs() < 1e-9);
    // 12-1 momentum rank at t = 6: ln(p[5] / p[2]) is 11/10.5 for A and 20.5/19.5 for B: B leads.
    assert_eq!((f.value(0, 4, 6), f.value(1, 4, 6)), (0.0, 1.0));
    // Reversal rank at t = 9: ln(p[9] / p[7]) is 13/12.5 for A... 12.5/12.5 = 0 for A, 23/21 for B.
    assert_eq!((f.value(0, 5, 9), f.value(1, 5, 9)), (0.0, 1.0));
}

/// Five assets whose rows 1 to 6 make each rank depend on exactly which prices it compares: at
/// row 6, momentum over rows 2 to 5 orders the assets A > B > C > D = E, and skipping no row, or
/// looking back one row more or less, orders them the other way; reversal over rows 4 to 6 orders
/// them A > B > C > D = E, and over rows 5 to 6 or 3 to 6 the other way.
fn rank_market() -> PricePanel {
    let rows: [[f64; 5]; 7] = [
        [100.0; 5],
        [130.0, 120.0 / 1.1, 110.0 / 1.2, 100.0 / 1.3, 100.0 / 1.3],
        [100.0; 5],
        [130.0, 120.0 / 1.1, 110.0 / 1.2, 100.0 / 1.3, 100.0 / 1.3],
        [100.0 / 1.3, 110.0 / 1.2, 120.0 / 1.1, 130.0, 130.0],
        [130.0, 120.0, 110.0, 100.0, 100.0],
        [100.0, 110.0, 120.0, 130.0, 130.0],
    ];
    PricePanel::new(
        "hand",
        ["A", "B", "C", "D", "E"].map(String::from).to_vec(),
        TimeIndex::Periods(7),
        Array2::from_shape_vec((7, 5), rows.concat()).unwrap(),
    )
}

#[test]
fn ranks_compare_the_right_prices_and_share_ties() {
    let config = |lookback, skip, reversal| FeatureConfig {
        window: 1,
        features: vec![Feature::MomentumRank, Feature::ReversalRank],
        rank_lookback: lookback,
        rank_skip: skip,
        reversal_window: reversal,
        ..FeatureConfig::default()
    };
    let ranks =
        |f: &FeatureSet, feature: usize| -> Vec<f64> { (0..5).map(|i| f.value(i, feature, 6)).collect() };
    // Ranks run from 0 to 1 over the n - 1 steps between assets; tied assets share their mean.
    let right = vec![1.0, 0.75, 0.5, 0.125, 0.125];
    let wrong = vec![0.0, 0.25, 0.5, 0.875, 0.875];
    let f = FeatureSet::compute(&rank_market(), &config(4, 1, 2));
    assert_eq!((ranks(&f, 0), ranks(&f, 1)), (right.clone(), right.clone()));
    for (lookback, skip, reversal) in [(4, 0, 1), (3, 1, 3), (5, 1, 3)] {
        let f = FeatureSet::compute(&rank_market(), &config(lookback, skip, reversal));
        assert_eq!(
            (ranks(&f, 0), ranks(&f, 1)),
            (wrong.clone(), wrong.clone()),
            "{lookback} {skip} {reversal}"
        );
    }
    // A single asset has no one to rank against: 0.5.
    let alone =
        PricePanel::new("hand", vec!["A".into()], TimeIndex::Periods(3), Array2::from_elem((3, 1), 1.0));
    let f = FeatureSet::compute(&alone, &config(2, 1, 1));
    assert_eq!((f.value(0, 0, 2), f.value(0, 1, 2)), (0.5, 0.5));
}
