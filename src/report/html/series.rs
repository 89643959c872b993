//! What the tearsheet computes from wealth paths: per-period returns, rolling Sharpe ratios and
//! volatilities, and calendar-month returns. Conventions follow [`crate::metrics`] (simple
//! returns, sample standard deviation, `P` periods per year, no risk-free rate).

use chrono::{Datelike, NaiveDate};

use crate::stats::{mean, sample_std};

/// Simple returns `r_t = V_t / V_{t-1} - 1`, one per period after the first; NaN where either
/// wealth is missing or not positive.
pub fn returns(wealth: &[f64]) -> Vec<f64> {
    wealth
        .windows(2)
        .map(|w| if w[0] > 0.0 && w[1].is_finite() { w[1] / w[0] - 1.0 } else { f64::NAN })
        .collect()
}

/// Sharpe ratio over the trailing `window` returns, `mean(r) / std(r) sqrt(P)`, and annualized
/// volatility in percent, `100 std(r) sqrt(P)`, at each period; NaN until the window is full,
/// while it holds a missing return, or (Sharpe) where returns do not vary.
pub fn rolling(returns: &[f64], window: usize, periods_per_year: f64) -> (Vec<f64>, Vec<f64>) {
    let annual = periods_per_year.sqrt();
    let mut sharpe = vec![f64::NAN; returns.len()];
    let mut volatility = vec![f64::NAN; returns.len()];
    if window < 2 {
        return (sharpe, volatility);
    }
    for t in window - 1..returns.len() {
        let slice = &returns[t + 1 - window..=t];
        if slice.iter().any(|r| !r.is_finite()) {
            continue;
        }
        let sd = sample_std(slice);
        volatility[t] = 100.0 * sd * annual;
        if sd > 0.0 {
            sharpe[t] = mean(slice) / sd * annual;
        }
    }
    (sharpe, volatility)
}

/// The rolling window: half a year of periods, fewer on a short path (a third of it), at least 5.
pub fn rolling_window(periods_per_year: f64, periods: usize) -> usize {
    ((periods_per_year / 2.0).round() as usize).min(periods / 3).max(5)
}

/// One year's compounded monthly returns, `prod (1 + r) - 1` over the periods of each month,
/// in percent; `None` for months without data.
#[derive(Debug, Clone, PartialEq)]
pub struct YearRow {
    pub year: i32,
    pub months: [Option<f64>; 12],
    pub total: f64,
}

/// Calendar-month returns of a wealth path over dated labels (`2019-01-02...`); `None` when the
/// labels are not dates. A month's return runs from the last wealth of the month before (or
/// the first wealth) to its own last.
pub fn monthly_returns(labels: &[String], wealth: &[f64]) -> Option<Vec<YearRow>> {
    let dates: Vec<NaiveDate> = labels
        .iter()
        .map(|l| NaiveDate::parse_from_str(l.get(..10)?, "%Y-%m-%d").ok())
        .collect::<Option<_>>()?;
    if dates.len() < 2 || dates.len() != wealth.len() {
        return None;
    }
    let mut rows: Vec<YearRow> = Vec::new();
    let mut start = wealth[0];
    let mut year_start = wealth[0];
    for i in 0..dates.len() {
        let last_of_month = i + 1 == dates.len()
            || (dates[i + 1].year(), dates[i + 1].month()) != (dates[i].year(), dates[i].month());
        if !last_of_month {
            continue;
        }
        let (year, month) = (dates[i].year(), dates[i].month0() as usize);
        if rows.last().is_none_or(|r| r.year != year) {
            rows.push(YearRow { year, months: [None; 12], total: f64::NAN });
        }
        let row = rows.last_mut().expect("pushed above");
        let change = 100.0 * (wealth[i] / start - 1.0);
        row.months[month] = change.is_finite().then_some(change);
        row.total = 100.0 * (wealth[i] / year_start - 1.0);
        let last_of_year = i + 1 == dates.len() || dates[i + 1].year() != year;
        start = wealth[i];
        if last_of_year {
            year_start = wealth[i];
        }
    }
    Some(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_statistics_wait_for_a_full_window() {
        let r = [0.01, -0.01, 0.02, 0.0, 0.01];
        let (sharpe, vol) = rolling(&r, 3, 252.0);
        assert!(sharpe[..2].iter().chain(&vol[..2]).all(|v| v.is_nan()));
        let expected = mean(&r[..3]) / sample_std(&r[..3]) * 252f64.sqrt();
        assert!((sharpe[2] - expected).abs() < 1e-12);
        assert!((vol[4] - 100.0 * sample_std(&r[2..5]) * 252f64.sqrt()).abs() < 1e-12);
        assert_eq!(
            returns(&[100.0, 110.0, 99.0]).iter().map(|r| (r * 100.0).round()).collect::<Vec<_>>(),
            [10.0, -10.0]
        );
    }

    #[test]
    fn months_compound_from_the_month_before_and_years_from_the_year_before() {
        let labels: Vec<String> =
            ["2019-12-30", "2019-12-31", "2020-01-02", "2020-01-31", "2020-02-03", "2020-02-28"]
                .map(String::from)
                .into();
        let wealth = [1.0, 1.1, 1.2, 1.21, 1.0, 0.99];
        let rows = monthly_returns(&labels, &wealth).unwrap();
        assert_eq!(rows.len(), 2);
        assert!((rows[0].months[11].unwrap() - 10.0).abs() < 1e-9);
        assert!((rows[1].months[0].unwrap() - 10.0).abs() < 1e-9);
        assert!((rows[1].months[1].unwrap() - (0.99 / 1.21 - 1.0) * 100.0).abs() < 1e-9);
        assert!((rows[1].total - (0.99 / 1.1 - 1.0) * 100.0).abs() < 1e-9);
        assert_eq!(rows[1].months[2], None);
        assert!(monthly_returns(&["1".into(), "2".into()], &[1.0, 2.0]).is_none());
    }
}
