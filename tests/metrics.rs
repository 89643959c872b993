//! Every metric against values worked out by hand on short series.

use folio::eval::metrics::{Metrics, MetricsConfig, compute, quantile_sorted};

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

#[test]
fn a_single_period() {
    let m = compute(&[1.0, 1.05], &[1.0], 0.0025, &daily());
    assert_eq!(m.periods, 1);
    assert!(close(m.cagr, 1.05f64.powf(252.0) - 1.0));
    assert!(m.sharpe.is_nan(), "one return has no sample deviation");
    assert!(m.sortino.is_infinite(), "no losing period");
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
    use folio::eval::metrics::Spread;
    // Sorted 1, 2, 4, 8, 100: quartile positions 1 and 3 -> 2 and 8; NaN is ignored.
    let s = Spread::of(&[8.0, 1.0, f64::NAN, 100.0, 2.0, 4.0]).unwrap();
    assert_eq!((s.median, s.q1, s.q3, s.min, s.max), (4.0, 2.0, 8.0, 1.0, 100.0));
    // Four values interpolate: positions 0.75, 1.5, 2.25.
    let s = Spread::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
    assert_eq!((s.q1, s.median, s.q3), (1.75, 2.5, 3.25));
    assert!(Spread::of(&[f64::NAN]).is_none());
}
