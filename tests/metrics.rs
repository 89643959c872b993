//! Every metric against values worked out by hand on short series.

use folio::metrics::{Metrics, MetricsConfig, compute, quantile_sorted};
use statrs::distribution::{ContinuousCDF, Normal};

fn daily() -> MetricsConfig {
    MetricsConfig { periods_per_year: 252.0, risk_free: 0.0 }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * (1.0 + b.abs())
}

#[test]
fn a_series_that_never_recovers() {
    // Returns +10%, -10%, +10%: wealth 1, 1.1, 0.99, 1.089.
    let values = [1.0, 1.1, 0.99, 1.089];
    let m = compute(&values, &[0.5, 0.1, 0.3], 0.01, &daily());
    assert_eq!(m.periods, 3);
    assert!(close(m.total_return, 0.089) && close(m.final_wealth, 1.089));
    assert!(close(m.cagr, 1.089f64.powf(252.0 / 3.0) - 1.0));
    // mean 1/30, sample sd sqrt(((1/15)^2 * 2 + (2/15)^2) / 2) = sqrt(1/75).
    let (mean, sd) = (1.0 / 30.0, (1.0f64 / 75.0).sqrt());
    assert!(close(m.annual_volatility, sd * 252f64.sqrt()));
    assert!(close(m.sharpe, mean / sd * 252f64.sqrt()), "{}", m.sharpe);
    // Downside deviation over all periods: sqrt(0.01 / 3).
    assert!(close(m.sortino, mean / (0.01f64 / 3.0).sqrt() * 252f64.sqrt()), "{}", m.sortino);
    // Peak 1.1, trough 0.99: -10%, and 1.089 never gets back above 1.1.
    assert!(close(m.max_drawdown, 0.1));
    assert_eq!(m.recovery_periods, None);
    assert_eq!(m.longest_drawdown_periods, 2);
    assert!(close(m.calmar, m.cagr / 0.1));
    // Sorted returns -0.1, 0.1, 0.1: the 5% quantile interpolates -0.1 + 0.2 * 0.1 = -0.08.
    assert!(close(m.var_95, 0.08), "{}", m.var_95);
    assert!(close(m.cvar_95, 0.1));
    assert!(close(m.hit_rate, 2.0 / 3.0));
    assert!(close(m.mean_turnover, 0.3) && m.total_costs == 0.01);
}

#[test]
fn recovery_counts_periods_from_the_trough_back_to_the_peak() {
    // Peak 1.2 at t = 1, trough 0.9 at t = 2 (-25%), back above 1.2 at t = 4.
    let m = compute(&[1.0, 1.2, 0.9, 1.0, 1.3, 1.25], &[], 0.0, &daily());
    assert!(close(m.max_drawdown, 0.25));
    assert_eq!(m.recovery_periods, Some(2));
    assert_eq!(m.longest_drawdown_periods, 2);
}

#[test]
fn longest_drawdown_can_differ_from_the_deepest() {
    // A deep short dip (t = 1, -50%) and a long shallow one (t = 3..=6, -1%).
    let values = [1.0, 0.5, 1.0, 0.99, 0.99, 0.99, 0.99, 1.01];
    let m = compute(&values, &[], 0.0, &daily());
    assert!(close(m.max_drawdown, 0.5));
    assert_eq!(m.recovery_periods, Some(1));
    assert_eq!(m.longest_drawdown_periods, 4);
}

#[test]
fn a_flat_series_has_no_ratio_and_no_risk() {
    let m = compute(&[1.0, 1.0, 1.0], &[0.0, 0.0], 0.0, &daily());
    assert_eq!(m.total_return, 0.0);
    assert_eq!(m.annual_volatility, 0.0);
    assert!(m.sharpe.is_nan() && m.sortino.is_nan() && m.calmar.is_nan());
    assert_eq!(m.max_drawdown, 0.0);
    assert_eq!((m.longest_drawdown_periods, m.recovery_periods), (0, None));
    assert_eq!(m.var_95, 0.0);
    assert_eq!(m.hit_rate, 0.0);
}

/// Growing at one steady rate is riskless too: its returns' spread is the rounding of their mean,
/// which gave Sharpe ratios of 1e15.
#[test]
fn a_steady_rate_has_no_sharpe_ratio() {
    for (rate, periods) in [(0.0004_f64, 40), (0.01, 1260)] {
        let values: Vec<f64> = (0..=periods).map(|t| (1.0 + rate).powi(t)).collect();
        let m = compute(&values, &vec![0.0; periods as usize], 0.0, &daily());
        assert!(m.sharpe.is_nan(), "{rate}: Sharpe {}", m.sharpe);
        assert_eq!(m.annual_volatility, 0.0, "{rate}");
        assert!(m.cagr > 0.0);
    }
}

/// One return raised to a year's worth is an extrapolation: no annualized figure is given for
/// it, as no Sharpe ratio is; what it measures (its return, its tail) is.
#[test]
fn a_single_period() {
    let m = compute(&[1.0, 1.05], &[1.0], 0.0025, &daily());
    assert_eq!(m.periods, 1);
    assert!(close(m.total_return, 0.05));
    assert!(m.cagr.is_nan() && m.calmar.is_nan(), "a year from one day is not measured");
    assert!(m.sharpe.is_nan(), "one return has no sample deviation");
    assert!(m.sortino.is_nan(), "nor a downside deviation");
    // Two returns are annualized.
    let two = compute(&[1.0, 1.05, 1.05 * 1.05], &[1.0, 0.0], 0.0025, &daily());
    assert!(close(two.cagr, 1.05f64.powf(252.0) - 1.0) && two.sortino.is_infinite());
    assert!(close(m.var_95, -0.05) && close(m.cvar_95, -0.05));
    assert_eq!(m.hit_rate, 1.0);
}

#[test]
fn the_risk_free_rate_lowers_sharpe_by_its_per_period_rate() {
    let values = [1.0, 1.01, 1.0, 1.02, 1.01];
    let base = compute(&values, &[], 0.0, &daily());
    let with_rf = compute(&values, &[], 0.0, &MetricsConfig { periods_per_year: 252.0, risk_free: 0.05 });
    let rf = 1.05f64.powf(1.0 / 252.0) - 1.0;
    let sd = base.annual_volatility / 252f64.sqrt();
    assert!(
        close(with_rf.sharpe, base.sharpe - rf / sd * 252f64.sqrt()),
        "{} {}",
        with_rf.sharpe,
        base.sharpe
    );
    // Monthly data annualizes with 12.
    let monthly = compute(&values, &[], 0.0, &MetricsConfig { periods_per_year: 12.0, risk_free: 0.0 });
    assert!(close(monthly.sharpe, base.sharpe * (12.0f64 / 252.0).sqrt()));
}

#[test]
fn quantiles_interpolate_linearly_like_numpy() {
    let sorted = [1.0, 2.0, 4.0, 8.0];
    assert_eq!(quantile_sorted(&sorted, 0.0), 1.0);
    assert_eq!(quantile_sorted(&sorted, 1.0), 8.0);
    // Position 0.5 * 3 = 1.5: halfway between 2 and 4.
    assert_eq!(quantile_sorted(&sorted, 0.5), 3.0);
}

#[test]
fn metrics_survive_a_json_round_trip_with_undefined_ratios() {
    let m = compute(&[1.0, 1.0, 1.0], &[], 0.0, &daily());
    let json = serde_json::to_string(&m).unwrap();
    let back: Metrics = serde_json::from_str(&json).unwrap();
    assert!(back.sharpe.is_nan());
    assert_eq!(back.max_drawdown, 0.0);
}

#[test]
fn spreads_report_median_quartiles_and_range() {
    use folio::metrics::Spread;
    // Sorted 1, 2, 4, 8, 100: quartile positions 1 and 3 -> 2 and 8; NaN is ignored.
    let s = Spread::of(&[8.0, 1.0, f64::NAN, 100.0, 2.0, 4.0]).unwrap();
    assert_eq!((s.median, s.q1, s.q3, s.min, s.max), (4.0, 2.0, 8.0, 1.0, 100.0));
    // Four values interpolate: positions 0.75, 1.5, 2.25.
    let s = Spread::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
    assert_eq!((s.q1, s.median, s.q3), (1.75, 2.5, 3.25));
    assert!(Spread::of(&[f64::NAN]).is_none());
}

#[test]
fn psr_and_min_track_record_match_a_hand_worked_skewed_case() {
    // Returns 4%, 0, 0, 0, 0: mean 0.008, deviations 0.032 and four times -0.008.
    // Population moments: m2 = (0.032² + 4 · 0.008²) / 5 = 2.56e-4,
    // m3 = (0.032³ - 4 · 0.008³) / 5 = 6.144e-6, m4 = (0.032⁴ + 4 · 0.008⁴) / 5 = 2.12992e-7,
    // so skewness γ3 = m3 / m2^1.5 = 1.5 and kurtosis γ4 = m4 / m2² = 3.25.
    // Sample std sqrt(5 m2 / 4) = sqrt(3.2e-4), per-period Sharpe 0.008 / sqrt(3.2e-4) = 1/sqrt(5).
    // PSR(0) = Φ(SR sqrt(n - 1) / sqrt(1 - γ3 SR + (γ4 - 1)/4 SR²)); for normal returns
    // (γ3 = 0, γ4 = 3) the denominator would be sqrt(1 + SR²/2).
    let values = [1.0, 1.04, 1.04, 1.04, 1.04, 1.04];
    let m = compute(&values, &[], 0.0, &daily());
    let sr = 1.0 / 5f64.sqrt();
    assert!((m.sharpe - sr * 252f64.sqrt()).abs() < 1e-9, "{}", m.sharpe);
    let factor = 1.0 - 1.5 * sr + (3.25 - 1.0) / 4.0 * sr * sr;
    let z = sr * 4f64.sqrt() / factor.sqrt();
    let normal = Normal::standard();
    assert!((m.psr - normal.cdf(z)).abs() < 1e-9, "PSR {}", m.psr);
    // The same number written out: Φ(1.345833...) = 0.910822.
    assert!((m.psr - 0.910_821_883_185_75).abs() < 1e-9, "PSR {}", m.psr);
    // Normal returns with this Sharpe ratio would give Φ(0.853) = 0.803: the positive skew makes
    // the positive Sharpe ratio more credible.
    let normal_psr = normal.cdf(sr * 2.0 / (1.0 + sr * sr / 2.0).sqrt());
    assert!((normal_psr - 0.803).abs() < 1e-3 && m.psr > normal_psr + 0.1, "{normal_psr}");
    // MinTRL = 1 + factor (z_0.95 / SR)² = 6.97 periods: more than the 5 observed, consistent
    // with PSR below 95%.
    let z95 = normal.inverse_cdf(0.95);
    let min_trl = m.min_track_record.expect("positive Sharpe ratio");
    assert!((min_trl - (1.0 + factor * (z95 / sr).powi(2))).abs() < 1e-9, "{min_trl}");
    assert!((min_trl - 6.974_916_844_250_34).abs() < 1e-9, "{min_trl}");
}

#[test]
fn psr_of_a_losing_or_flat_series() {
    // A losing record: PSR below one half and no track record is long enough.
    let m = compute(&[1.0, 0.99, 1.0, 0.97, 0.98], &[], 0.0, &daily());
    assert!(m.sharpe < 0.0 && m.psr < 0.5, "{} {}", m.sharpe, m.psr);
    assert_eq!(m.min_track_record, None);
    // No variation: Sharpe, PSR and MinTRL are all undefined, and survive JSON as null.
    let flat = compute(&[1.0, 1.0, 1.0], &[], 0.0, &daily());
    assert!(flat.psr.is_nan());
    assert_eq!(flat.min_track_record, None);
    let json = serde_json::to_string(&flat).unwrap();
    assert!(json.contains("\"psr\":null"), "{json}");
    let back: Metrics = serde_json::from_str(&json).unwrap();
    assert!(back.psr.is_nan());
}

#[test]
fn reports_written_before_psr_still_load() {
    let m = compute(&[1.0, 1.01, 1.0, 1.02], &[], 0.0, &daily());
    let mut json = serde_json::to_value(&m).unwrap();
    let object = json.as_object_mut().unwrap();
    object.remove("psr");
    object.remove("min_track_record");
    let back: Metrics = serde_json::from_value(json).unwrap();
    assert!(back.psr.is_nan());
    assert_eq!(back.min_track_record, None);
    assert_eq!(back.sharpe, m.sharpe);
}
