//! Performance metrics of a wealth path. Conventions follow empyrical and quantstats: simple
//! per-period returns, sample standard deviation (n - 1), `P` periods per year (252 for daily
//! data) and an annual risk-free rate turned into a per-period one as `(1 + rf)^(1/P) - 1`.

pub mod overfitting;
pub mod sharpe_difference;

pub use crate::stats::{mean, quantile_sorted, sample_std};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricsConfig {
    pub periods_per_year: f64,
    /// Annual risk-free rate, e.g. 0.02.
    pub risk_free: f64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { periods_per_year: 252.0, risk_free: 0.0 }
    }
}

/// JSON has no NaN or infinity: serde_json writes them as `null`, and this reads `null` back as
/// NaN, so reports with undefined ratios (a flat series has no Sharpe) still load.
pub fn nan_if_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

fn not_recorded() -> f64 {
    f64::NAN
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub periods: usize,
    /// `V_T / V_0 - 1`.
    #[serde(deserialize_with = "nan_if_null")]
    pub total_return: f64,
    /// `V_T / V_0`.
    #[serde(deserialize_with = "nan_if_null")]
    pub final_wealth: f64,
    /// Compound annual growth rate `(V_T / V_0)^(P / n) - 1`.
    #[serde(deserialize_with = "nan_if_null")]
    pub cagr: f64,
    /// `std(r) sqrt(P)`.
    #[serde(deserialize_with = "nan_if_null")]
    pub annual_volatility: f64,
    /// `mean(r - rf) / std(r) sqrt(P)`; NaN when returns do not vary.
    #[serde(deserialize_with = "nan_if_null")]
    pub sharpe: f64,
    /// `mean(r - rf) / sqrt(mean(min(r - rf, 0)^2)) sqrt(P)`; infinite with no losing period.
    #[serde(deserialize_with = "nan_if_null")]
    pub sortino: f64,
    /// `CAGR / max_drawdown`; NaN without a drawdown.
    #[serde(deserialize_with = "nan_if_null")]
    pub calmar: f64,
    /// Largest fall from a running peak, `max_t (1 - V_t / max_{s<=t} V_s)`, as a positive fraction.
    #[serde(deserialize_with = "nan_if_null")]
    pub max_drawdown: f64,
    /// Longest run of periods spent below a previous peak.
    pub longest_drawdown_periods: usize,
    /// Periods from the trough of the maximum drawdown until wealth first regains the peak before
    /// it; `None` if it never does (or there was no drawdown).
    pub recovery_periods: Option<usize>,
    /// Historical 95% value at risk: the loss not exceeded in 95% of periods,
    /// `-quantile(r, 0.05)` (linear interpolation).
    #[serde(deserialize_with = "nan_if_null")]
    pub var_95: f64,
    /// Expected shortfall: `-mean(r | r <= quantile(r, 0.05))`.
    #[serde(deserialize_with = "nan_if_null")]
    pub cvar_95: f64,
    /// Mean turnover per decision (`sum |w - w'|` over assets).
    #[serde(deserialize_with = "nan_if_null")]
    pub mean_turnover: f64,
    /// Costs paid over the whole path, in units of the starting wealth.
    #[serde(deserialize_with = "nan_if_null")]
    pub total_costs: f64,
    /// Costs as a yearly drag on return: the fractions of wealth paid at each decision, summed
    /// and annualized, `sum_i c_i / V_i * P / n`. Comparable across policies whatever their wealth.
    #[serde(default = "not_recorded", deserialize_with = "nan_if_null")]
    pub annual_cost_drag: f64,
    /// Fraction of periods with a positive return.
    #[serde(deserialize_with = "nan_if_null")]
    pub hit_rate: f64,
    /// Probabilistic Sharpe ratio against zero (Bailey and López de Prado 2012): the probability
    /// that the true Sharpe ratio is positive given the observed one, the number of periods and
    /// the returns' skewness and kurtosis,
    /// `Φ( SR̂ sqrt(n - 1) / sqrt(1 - γ̂3 SR̂ + (γ̂4 - 1)/4 SR̂²) )` with `SR̂` the per-period
    /// Sharpe ratio of the excess returns; see [`overfitting::probabilistic_sharpe_ratio`]. NaN
    /// when the Sharpe ratio is undefined.
    #[serde(default = "not_recorded", deserialize_with = "nan_if_null")]
    pub psr: f64,
    /// Minimum track record length (Bailey and López de Prado 2012): the periods needed for the
    /// observed Sharpe ratio, skewness and kurtosis to show a positive true Sharpe ratio at 95%
    /// confidence, `1 + (1 - γ̂3 SR̂ + (γ̂4 - 1)/4 SR̂²) (z_0.95 / SR̂)²`; see
    /// [`overfitting::min_track_record_length`]. `None` when the Sharpe ratio is not positive
    /// (no track record is long enough) or undefined. Compare it with `periods`.
    #[serde(default)]
    pub min_track_record: Option<f64>,
}

/// Simple per-period returns of a wealth path, `V_t / V_{t-1} - 1`.
pub fn simple_returns(values: &[f64]) -> Vec<f64> {
    values.windows(2).map(|w| w[1] / w[0] - 1.0).collect()
}

/// The fewest returns an annualized figure (CAGR, Sortino, Calmar, the yearly cost drag) is
/// given for: one return raised to a year's worth is an extrapolation, not a measurement, and the
/// Sharpe ratio, which needs two returns that vary, is undefined there too.
pub const MIN_ANNUALIZED_RETURNS: usize = 2;

/// Metrics of a wealth path `values` (`V_0, ..., V_n`, one per period, starting wealth first),
/// with the turnover of every decision and the costs paid.
pub fn compute(values: &[f64], turnovers: &[f64], total_costs: f64, config: &MetricsConfig) -> Metrics {
    let returns = simple_returns(values);
    let n = returns.len();
    let p = config.periods_per_year;
    let rf = (1.0 + config.risk_free).powf(1.0 / p) - 1.0;
    let first = values.first().copied().unwrap_or(1.0);
    let last = values.last().copied().unwrap_or(1.0);
    let final_wealth = last / first;
    let annualized = n >= MIN_ANNUALIZED_RETURNS;
    let cagr = if annualized { final_wealth.powf(p / n as f64) - 1.0 } else { f64::NAN };
    let excess: Vec<f64> = returns.iter().map(|r| r - rf).collect();
    let mean_excess = mean(&excess);
    let std = sample_std(&returns);
    let sharpe = if std > 0.0 { mean_excess / std * p.sqrt() } else { f64::NAN };
    let downside =
        if n > 0 { (excess.iter().map(|e| e.min(0.0).powi(2)).sum::<f64>() / n as f64).sqrt() } else { 0.0 };
    let sortino = if !annualized {
        f64::NAN
    } else if downside > 0.0 {
        mean_excess / downside * p.sqrt()
    } else if mean_excess > 0.0 {
        f64::INFINITY
    } else {
        f64::NAN
    };
    let drawdowns = drawdown_stats(values);
    let calmar = if drawdowns.max > 0.0 { cagr / drawdowns.max } else { f64::NAN };
    let (var_95, cvar_95) = tail_risk(&returns, 0.05);
    // The per-period Sharpe ratio of the excess returns; undefined exactly when `sharpe` is.
    let mut sharpe_stats = overfitting::SharpeStats::from_returns(&excess);
    if sharpe.is_nan() {
        sharpe_stats.sharpe = f64::NAN;
    }
    Metrics {
        periods: n,
        total_return: final_wealth - 1.0,
        final_wealth,
        cagr,
        annual_volatility: std * p.sqrt(),
        sharpe,
        sortino,
        calmar,
        max_drawdown: drawdowns.max,
        longest_drawdown_periods: drawdowns.longest,
        recovery_periods: drawdowns.recovery,
        var_95,
        cvar_95,
        mean_turnover: if turnovers.is_empty() { 0.0 } else { mean(turnovers) },
        total_costs,
        annual_cost_drag: f64::NAN,
        hit_rate: if n > 0 {
            returns.iter().filter(|r| **r > 0.0).count() as f64 / n as f64
        } else {
            f64::NAN
        },
        psr: overfitting::probabilistic_sharpe_ratio(&sharpe_stats, 0.0),
        min_track_record: overfitting::min_track_record_length(&sharpe_stats, 0.0),
    }
}

/// Annualized Sharpe ratio of per-period simple returns, risk-free rate zero.
pub fn sharpe(returns: &[f64], periods_per_year: f64) -> f64 {
    let std = sample_std(returns);
    if std > 0.0 { mean(returns) / std * periods_per_year.sqrt() } else { f64::NAN }
}

/// The drawdowns of a wealth path, located: where the worst one peaked and bottomed out, and when
/// it recovered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drawdowns {
    /// Largest fall from a running peak, `max_t (1 - V_t / max_{s<=t} V_s)`; 0 without a fall.
    pub max: f64,
    /// Longest run of periods spent below a previous peak.
    pub longest: usize,
    /// Index of the peak before the worst fall, and of its trough (both 0 without a fall).
    pub peak: usize,
    pub trough: usize,
    /// Periods from the trough until the path first regains that peak; `None` if it never does
    /// (or there was no fall).
    pub recovery: Option<usize>,
}

pub fn drawdown_stats(values: &[f64]) -> Drawdowns {
    let (mut peak, mut peak_at) = (f64::NEG_INFINITY, 0usize);
    let (mut peak_at_worst, mut worst_peak) = (0.0, 0usize);
    let (mut max, mut trough) = (0.0, 0usize);
    let (mut run, mut longest) = (0usize, 0usize);
    for (t, &v) in values.iter().enumerate() {
        if v >= peak {
            peak = v;
            peak_at = t;
            run = 0;
        } else {
            run += 1;
            longest = longest.max(run);
            let dd = 1.0 - v / peak;
            if dd > max {
                max = dd;
                trough = t;
                peak_at_worst = peak;
                worst_peak = peak_at;
            }
        }
    }
    let recovery = if max > 0.0 { values[trough..].iter().position(|&v| v >= peak_at_worst) } else { None };
    Drawdowns { max, longest, peak: worst_peak, trough, recovery }
}

/// Historical VaR and CVaR at level `alpha` (0.05 for 95%), as positive losses.
fn tail_risk(returns: &[f64], alpha: f64) -> (f64, f64) {
    if returns.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mut sorted = returns.to_vec();
    sorted.sort_by(f64::total_cmp);
    let q = quantile_sorted(&sorted, alpha);
    let tail: Vec<f64> = sorted.iter().copied().take_while(|&r| r <= q).collect();
    let cvar = if tail.is_empty() { -q } else { -mean(&tail) };
    (-q, cvar)
}

/// How a figure varies across seeds (or any repeated trials): never just the luckiest run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    /// First and third quartiles (linear interpolation); their difference is the IQR.
    pub q1: f64,
    pub q3: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// The spread of the finite values; `None` if there are none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        Some(Spread {
            median: quantile_sorted(&sorted, 0.5),
            q1: quantile_sorted(&sorted, 0.25),
            q3: quantile_sorted(&sorted, 0.75),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        })
    }
}

/// Median and spread of the headline metrics over several runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricsSpread {
    pub runs: usize,
    pub final_wealth: Option<Spread>,
    pub cagr: Option<Spread>,
    pub sharpe: Option<Spread>,
    pub sortino: Option<Spread>,
    pub max_drawdown: Option<Spread>,
    pub mean_turnover: Option<Spread>,
}

impl MetricsSpread {
    pub fn of(runs: &[&Metrics]) -> Self {
        let spread = |f: fn(&Metrics) -> f64| Spread::of(&runs.iter().map(|m| f(m)).collect::<Vec<_>>());
        Self {
            runs: runs.len(),
            final_wealth: spread(|m| m.final_wealth),
            cagr: spread(|m| m.cagr),
            sharpe: spread(|m| m.sharpe),
            sortino: spread(|m| m.sortino),
            max_drawdown: spread(|m| m.max_drawdown),
            mean_turnover: spread(|m| m.mean_turnover),
        }
    }
}
