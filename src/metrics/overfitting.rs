//! Statistics of backtest overfitting: can a backtest's Sharpe ratio be trusted?
//!
//! - [`probabilistic_sharpe_ratio`] and [`min_track_record_length`]: is one track record long
//!   enough, given its skewness and fat tails, to beat a benchmark Sharpe ratio?
//! - [`deflated_sharpe_ratio`]: the same question once the strategy was picked as the best of
//!   many trials (configurations, seeds), whose luck inflates the winner's Sharpe ratio.
//! - [`probability_of_backtest_overfitting`]: how often does the configuration that looks best in
//!   one half of the data land in the bottom half of the other?
//! - [`verdict`]: the two answers in one plain sentence.
//!
//! Conventions follow [`crate::metrics`]: simple per-period returns (pass excess returns
//! when the risk-free rate matters), Sharpe ratio `mean / sample std` with the `n - 1`
//! denominator. Sharpe ratios here are **per period**, not annualized, unless a function says
//! otherwise; [`annualize_sharpe`], [`per_period_sharpe`] and [`per_period_sharpe_variance`]
//! convert. Skewness and kurtosis use population moments (`1/n`), as Bailey and López de Prado
//! do; kurtosis is the plain (non-excess) one, 3 for normal returns.
//!
//! References:
//! - BLdP12: D. H. Bailey and M. López de Prado (2012), "The Sharpe Ratio Efficient Frontier",
//!   Journal of Risk 15(2).
//! - BLdP14: D. H. Bailey and M. López de Prado (2014), "The Deflated Sharpe Ratio: Correcting
//!   for Selection Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio
//!   Management 40(5).
//! - BBLZ15: D. H. Bailey, J. M. Borwein, M. López de Prado and Q. J. Zhu (2015), "The
//!   Probability of Backtest Overfitting", Journal of Computational Finance.
//!
//! The doc comments cite each formula by paper. Equation and section numbers could not be
//! checked against the published PDFs when this was written, so none is quoted; each formula
//! is written out in full instead.

use ndarray::{Array2, ArrayView2, s};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use statrs::consts::EULER_MASCHERONI;
use statrs::distribution::{ContinuousCDF, Normal};

use crate::metrics;

/// Significance level of [`min_track_record_length`]: 95% confidence.
pub const DEFAULT_ALPHA: f64 = 0.05;

/// Most partitions [`probability_of_backtest_overfitting`] accepts: `C(20, 10) = 184,756`
/// splits. BBLZ15 use 16.
pub const MAX_PARTITIONS: usize = 20;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OverfittingError {
    #[error("the deflated Sharpe ratio needs at least one trial, got none")]
    NoTrials,
    #[error("the variance of the trials' Sharpe ratios must be finite and non-negative, got {0}")]
    InvalidVariance(f64),
    #[error("Sharpe ratio of trial {index} is not finite ({value})")]
    NonFiniteTrial { index: usize, value: f64 },
    #[error("the probability of backtest overfitting needs at least 2 configurations (columns), got {0}")]
    TooFewConfigs(usize),
    #[error(
        "the probability of backtest overfitting needs at least 4 periods (rows), two per half, \
         got {0}"
    )]
    TooFewPeriods(usize),
    #[error("partitions must be an even number from 2 to {MAX_PARTITIONS}, got {0}")]
    InvalidPartitions(usize),
    #[error("return of configuration {config} in period {period} is not finite ({value})")]
    NonFiniteReturn { period: usize, config: usize, value: f64 },
    #[error(
        "every configuration has the same returns, so no choice among them can overfit: the \
         probability of backtest overfitting is not defined"
    )]
    IdenticalConfigurations,
    #[error("configuration {config} has {len} periods but configuration 0 has {expected}")]
    RaggedReturns { config: usize, len: usize, expected: usize },
}

// ---------------------------------------------------------------------------------------------
// Conversions and moments
// ---------------------------------------------------------------------------------------------

/// Annualized Sharpe ratio from a per-period one: `SR_annual = SR sqrt(P)` (IID returns).
pub fn annualize_sharpe(per_period: f64, periods_per_year: f64) -> f64 {
    per_period * periods_per_year.sqrt()
}

/// Per-period Sharpe ratio from an annualized one: `SR = SR_annual / sqrt(P)`.
pub fn per_period_sharpe(annual: f64, periods_per_year: f64) -> f64 {
    annual / periods_per_year.sqrt()
}

/// Variance of per-period Sharpe ratios from the variance of annualized ones:
/// `V = V_annual / P` (each annualized ratio is the per-period one times `sqrt(P)`).
pub fn per_period_sharpe_variance(annual_variance: f64, periods_per_year: f64) -> f64 {
    annual_variance / periods_per_year
}

/// Per-period Sharpe ratio `mean(r) / std(r)` with the sample standard deviation (`n - 1`);
/// NaN when the returns do not vary or there are fewer than two.
pub fn sharpe_ratio(returns: &[f64]) -> f64 {
    metrics::sharpe(returns, 1.0)
}

/// Population central moments `m_k = (1/n) sum (r - mean)^k` for `k = 2, 3, 4`.
fn central_moments(returns: &[f64]) -> (f64, f64, f64) {
    let mean = metrics::mean(returns);
    let n = returns.len() as f64;
    let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
    for r in returns {
        let d = r - mean;
        let d2 = d * d;
        m2 += d2;
        m3 += d2 * d;
        m4 += d2 * d2;
    }
    (m2 / n, m3 / n, m4 / n)
}

/// Sample skewness with population moments, `γ3 = m3 / m2^(3/2)` where
/// `m_k = (1/n) sum (r - mean)^k`: the estimator BLdP12 use for the Sharpe ratio's
/// asymptotic variance. No small-sample correction. NaN when the returns do not
/// vary or are empty.
pub fn skewness(returns: &[f64]) -> f64 {
    let (m2, m3, _) = central_moments(returns);
    if m2 > 0.0 { m3 / m2.powf(1.5) } else { f64::NAN }
}

/// Sample kurtosis (not excess: 3 for normal returns) with population moments,
/// `γ4 = m4 / m2^2`, as in BLdP12. NaN when the returns do not vary or are empty.
pub fn kurtosis(returns: &[f64]) -> f64 {
    let (m2, _, m4) = central_moments(returns);
    if m2 > 0.0 { m4 / (m2 * m2) } else { f64::NAN }
}

// ---------------------------------------------------------------------------------------------
// Probabilistic Sharpe ratio and minimum track record length (BLdP12)
// ---------------------------------------------------------------------------------------------

/// What the Sharpe-ratio tests need to know about one track record.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SharpeStats {
    /// Per-period Sharpe ratio `SR̂`.
    pub sharpe: f64,
    /// Number of returns `n`.
    pub observations: usize,
    /// `γ̂3`, see [`skewness`].
    pub skewness: f64,
    /// `γ̂4` (3 for normal returns), see [`kurtosis`].
    pub kurtosis: f64,
}

impl SharpeStats {
    /// Sharpe ratio, length, skewness and kurtosis of per-period (excess) returns.
    pub fn from_returns(returns: &[f64]) -> Self {
        Self {
            sharpe: sharpe_ratio(returns),
            observations: returns.len(),
            skewness: skewness(returns),
            kurtosis: kurtosis(returns),
        }
    }

    /// A track record of normal returns: `γ3 = 0`, `γ4 = 3`.
    pub fn normal(sharpe: f64, observations: usize) -> Self {
        Self { sharpe, observations, skewness: 0.0, kurtosis: 3.0 }
    }

    /// `1 - γ̂3 SR̂ + (γ̂4 - 1)/4 SR̂²`: `(n - 1)` times the asymptotic variance of `SR̂` under
    /// IID non-normal returns (Mertens 2002, used by BLdP12). Never negative for
    /// moments of actual data, since `γ4 >= γ3² + 1` makes it at least `(1 - γ3 SR/2)²`.
    pub fn variance_factor(&self) -> f64 {
        1.0 - self.skewness * self.sharpe + (self.kurtosis - 1.0) / 4.0 * self.sharpe * self.sharpe
    }
}

/// Probabilistic Sharpe ratio, BLdP12: the probability that the true Sharpe ratio
/// exceeds the benchmark `SR*` (per period) given the estimate,
///
/// `PSR(SR*) = Φ( (SR̂ - SR*) sqrt(n - 1) / sqrt(1 - γ̂3 SR̂ + (γ̂4 - 1)/4 SR̂²) )`.
///
/// For normal returns the denominator is `sqrt(1 + SR̂²/2)`. NaN with fewer than two
/// observations or an undefined Sharpe ratio.
pub fn probabilistic_sharpe_ratio(stats: &SharpeStats, benchmark: f64) -> f64 {
    if stats.observations < 2 {
        return f64::NAN;
    }
    let z = (stats.sharpe - benchmark) * ((stats.observations - 1) as f64).sqrt()
        / stats.variance_factor().sqrt();
    if z.is_nan() { f64::NAN } else { Normal::standard().cdf(z) }
}

/// Minimum track record length at 95% confidence; see [`min_track_record_length_at`].
pub fn min_track_record_length(stats: &SharpeStats, benchmark: f64) -> Option<f64> {
    min_track_record_length_at(stats, benchmark, DEFAULT_ALPHA)
}

/// Minimum track record length, BLdP12: the number of observations (in the
/// returns' own periods) needed for `PSR(SR*) >= 1 - α`, with the observed Sharpe ratio,
/// skewness and kurtosis held fixed,
///
/// `MinTRL = 1 + (1 - γ̂3 SR̂ + (γ̂4 - 1)/4 SR̂²) (z_α / (SR̂ - SR*))²`, `z_α = Φ⁻¹(1 - α)`.
///
/// `None` when `SR̂ <= SR*` (no track record is long enough) or when the inputs are undefined
/// (NaN Sharpe ratio, `α` outside `(0, 1)`).
pub fn min_track_record_length_at(stats: &SharpeStats, benchmark: f64, alpha: f64) -> Option<f64> {
    // Written so that a NaN Sharpe ratio or α also returns None.
    if !(stats.sharpe > benchmark && alpha > 0.0 && alpha < 1.0) {
        return None;
    }
    let z = Normal::standard().inverse_cdf(1.0 - alpha);
    Some(1.0 + stats.variance_factor() * (z / (stats.sharpe - benchmark)).powi(2))
}

// ---------------------------------------------------------------------------------------------
// Deflated Sharpe ratio (BLdP14)
// ---------------------------------------------------------------------------------------------

/// Expected maximum Sharpe ratio of `N` independent trials whose true Sharpe ratio is zero and
/// whose estimates have variance `V` (BLdP14, the threshold `SR̂0`):
///
/// `SR̂0 = sqrt(V) ((1 - γ) Φ⁻¹(1 - 1/N) + γ Φ⁻¹(1 - 1/(N e)))`, `γ` the Euler–Mascheroni
/// constant.
///
/// The bracket approximates the expected maximum of `N` standard normals (about 1% high at
/// `N = 100`). `0` for a single trial (no selection), NaN for none.
pub fn expected_max_sharpe(trials: usize, sharpe_variance: f64) -> f64 {
    match trials {
        0 => f64::NAN,
        1 => 0.0,
        _ => {
            let n = trials as f64;
            let normal = Normal::standard();
            let max_z = (1.0 - EULER_MASCHERONI) * normal.inverse_cdf(1.0 - 1.0 / n)
                + EULER_MASCHERONI * normal.inverse_cdf(1.0 - 1.0 / (n * std::f64::consts::E));
            sharpe_variance.sqrt() * max_z
        }
    }
}

/// A deflated Sharpe ratio and what went into it.
#[derive(Debug, Clone, Serialize)]
pub struct DeflatedSharpe {
    /// The selected strategy's track record.
    pub stats: SharpeStats,
    /// Number of independent trials `N` the strategy was selected from.
    pub trials: usize,
    /// Variance `V` of the trials' per-period Sharpe ratios.
    pub sharpe_variance: f64,
    /// `SR̂0`, the Sharpe ratio the best of `N` skill-less trials reaches on average.
    pub expected_max_sharpe: f64,
    /// `PSR(0)`: the probability of a positive true Sharpe ratio ignoring the selection.
    pub psr: f64,
    /// `DSR = PSR(SR̂0)`.
    pub dsr: f64,
}

/// Deflated Sharpe ratio, BLdP14: the probabilistic Sharpe ratio against the expected
/// maximum Sharpe ratio of `N` skill-less trials,
///
/// `DSR = PSR(SR̂0) = Φ( (SR̂ - SR̂0) sqrt(n - 1) / sqrt(1 - γ̂3 SR̂ + (γ̂4 - 1)/4 SR̂²) )`,
///
/// with `SR̂0` from [`expected_max_sharpe`]. `stats` is the selected strategy's track record
/// (per period, see [`SharpeStats::from_returns`]); `sharpe_variance` is the variance of all
/// `trials` per-period Sharpe ratios (convert annualized ones with
/// [`per_period_sharpe_variance`]). With one trial `SR̂0 = 0` and DSR is `PSR(0)`.
pub fn deflated_sharpe_ratio(
    stats: &SharpeStats,
    trials: usize,
    sharpe_variance: f64,
) -> Result<DeflatedSharpe, OverfittingError> {
    if trials == 0 {
        return Err(OverfittingError::NoTrials);
    }
    if !(sharpe_variance >= 0.0 && sharpe_variance.is_finite()) {
        return Err(OverfittingError::InvalidVariance(sharpe_variance));
    }
    let threshold = expected_max_sharpe(trials, sharpe_variance);
    Ok(DeflatedSharpe {
        stats: *stats,
        trials,
        sharpe_variance,
        expected_max_sharpe: threshold,
        psr: probabilistic_sharpe_ratio(stats, 0.0),
        dsr: probabilistic_sharpe_ratio(stats, threshold),
    })
}

/// [`deflated_sharpe_ratio`] with `N` and `V` taken from every trial's per-period Sharpe ratio
/// (the selected one included): `N = trial_sharpes.len()`, `V` their sample variance (`N - 1`;
/// `0` for a single trial).
pub fn deflated_sharpe_ratio_from_trials(
    stats: &SharpeStats,
    trial_sharpes: &[f64],
) -> Result<DeflatedSharpe, OverfittingError> {
    if let Some((index, &value)) = trial_sharpes.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(OverfittingError::NonFiniteTrial { index, value });
    }
    let variance = match trial_sharpes.len() {
        0 => return Err(OverfittingError::NoTrials),
        1 => 0.0,
        _ => metrics::sample_std(trial_sharpes).powi(2),
    };
    deflated_sharpe_ratio(stats, trial_sharpes.len(), variance)
}

/// The Deflated Sharpe Ratio's `V` when some of `trials` lack a defined per-period Sharpe ratio
/// (`sharpes` holds those measured on one period; the undefined are skipped): their sample
/// variance when two are defined. A single trial has nothing to deflate by (`0`). Several trials
/// with fewer than two defined ratios have no known spread: `None`, since a `V` of 0 would make
/// the DSR the plain PSR under its name.
pub fn trial_sharpe_variance(trials: usize, sharpes: &[f64]) -> Option<f64> {
    let defined: Vec<f64> = sharpes.iter().copied().filter(|s| s.is_finite()).collect();
    match (defined.len(), trials) {
        (2.., _) => Some(metrics::sample_std(&defined).powi(2)),
        (_, 0 | 1) => Some(0.0),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Probability of backtest overfitting by CSCV (BBLZ15)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PboConfig {
    /// Number `S` of contiguous blocks the periods are cut into; even. Each split uses `S/2`
    /// blocks in sample and the rest out of sample, over all `C(S, S/2)` splits. Lowered to the
    /// number of periods (rounded down to even) when there are fewer periods than blocks.
    pub partitions: usize,
}

impl Default for PboConfig {
    fn default() -> Self {
        Self { partitions: 16 }
    }
}

/// Least-squares fit `SR_oos = intercept + slope SR_is` over the splits, of the in-sample-best
/// configuration's Sharpe ratios: the performance degradation of BBLZ15. A negative slope
/// means that the better a configuration looks in sample, the worse it tends to do after.
///
/// Read it beside the PBO and the probability of loss, not alone: the two halves of a split are
/// complements, so when the same configuration wins every split its two Sharpe ratios roughly
/// sum to twice its full-sample one, which by itself pulls the slope towards -1 (a genuine,
/// stable edge shows a slope near -1 with a PBO near 0).
#[derive(Debug, Clone, Serialize)]
pub struct Degradation {
    pub slope: f64,
    pub intercept: f64,
    pub r_squared: f64,
    /// Splits in the fit: those whose two Sharpe ratios are both finite.
    pub points: usize,
}

/// Result of [`probability_of_backtest_overfitting`]. The per-split vectors are in the order
/// of the splits (in-sample block sets in increasing bitmask order).
#[derive(Debug, Clone, Serialize)]
pub struct Pbo {
    /// Share of splits whose logit is `<= 0`: the in-sample best configuration ranked at or
    /// below the out-of-sample median.
    pub pbo: f64,
    /// Share of splits where the in-sample best configuration lost money out of sample
    /// (per-period Sharpe ratio `< 0`).
    pub prob_oos_loss: f64,
    pub degradation: Degradation,
    /// `λ_c = ln(ω̄_c / (1 - ω̄_c))` of every split.
    pub logits: Vec<f64>,
    /// In-sample best configuration of every split (lowest index among ties).
    pub selected: Vec<usize>,
    /// Its in-sample per-period Sharpe ratio.
    pub is_sharpe: Vec<f64>,
    /// Its out-of-sample per-period Sharpe ratio.
    pub oos_sharpe: Vec<f64>,
    pub configs: usize,
    pub periods: usize,
    /// Periods used: the oldest `periods mod partitions` are dropped so that blocks are equal.
    pub periods_used: usize,
    pub partitions_requested: usize,
    pub partitions: usize,
    pub combinations: usize,
}

/// The PBO expected when none of `configs` configurations has more skill than another: `n*`'s
/// out-of-sample rank is then uniform on `1..=N`, and the median rank of an odd `N` counts as
/// overfit, so `1/2` for even `N` and `(N + 1) / (2N)` for odd `N` (2/3 for three seeds).
pub fn pbo_without_skill(configs: usize) -> f64 {
    let n = configs as f64;
    if configs.is_multiple_of(2) { 0.5 } else { (n + 1.0) / (2.0 * n) }
}

impl Pbo {
    /// [`pbo_without_skill`] for this PBO's configurations.
    pub fn without_skill(&self) -> f64 {
        pbo_without_skill(self.configs)
    }
}

/// Mean and sum of squared deviations of a run of returns, mergeable without revisiting them.
#[derive(Debug, Clone, Copy)]
struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Moments {
    const EMPTY: Self = Self { n: 0.0, mean: 0.0, m2: 0.0 };

    fn of(values: impl Iterator<Item = f64>) -> Self {
        values.fold(Self::EMPTY, |acc, v| acc.merge(Self { n: 1.0, mean: v, m2: 0.0 }))
    }

    /// Chan, Golub and LeVeque's pairwise update.
    fn merge(self, other: Self) -> Self {
        if other.n == 0.0 {
            return self;
        }
        if self.n == 0.0 {
            return other;
        }
        let n = self.n + other.n;
        let delta = other.mean - self.mean;
        Self {
            n,
            mean: self.mean + delta * other.n / n,
            m2: self.m2 + other.m2 + delta * delta * self.n * other.n / n,
        }
    }

    /// `mean / sample std`; for a flat run `+inf`, `-inf` or `0` by the sign of the mean, so
    /// that a configuration that never moves (all cash) still ranks.
    fn sharpe(&self) -> f64 {
        let std = (self.m2 / (self.n - 1.0)).sqrt();
        if std > 0.0 {
            self.mean / std
        } else if self.mean > 0.0 {
            f64::INFINITY
        } else if self.mean < 0.0 {
            f64::NEG_INFINITY
        } else {
            0.0
        }
    }
}

/// What one split contributes.
#[derive(Debug, Clone, Copy)]
struct Split {
    selected: usize,
    is_sharpe: f64,
    oos_sharpe: f64,
    logit: f64,
}

/// Bitmasks of every `half`-element subset of `0..partitions`, increasing (Gosper's hack).
fn half_masks(partitions: usize) -> Vec<u32> {
    let half = partitions / 2;
    let limit = 1u32 << partitions;
    let mut masks = Vec::new();
    let mut mask = (1u32 << half) - 1;
    while mask < limit {
        masks.push(mask);
        let lowest = mask & mask.wrapping_neg();
        let ripple = mask + lowest;
        mask = (((ripple ^ mask) >> 2) / lowest) | ripple;
    }
    masks
}

/// Returns, or per-period Sharpe ratios, closer than this are equal: what separates two
/// portfolios that differ only by the rounding of the same weights, far below any real gap.
const ROUNDING: f64 = 1e-12;

/// One CSCV split: `blocks[b][j]` are the moments of configuration `j` in block `b`.
fn evaluate_split(blocks: &[Vec<Moments>], mask: u32, configs: usize) -> Split {
    let mut is_sharpe = Vec::with_capacity(configs);
    let mut oos_sharpe = Vec::with_capacity(configs);
    for j in 0..configs {
        let (mut inside, mut outside) = (Moments::EMPTY, Moments::EMPTY);
        for (b, block) in blocks.iter().enumerate() {
            if mask & (1 << b) != 0 {
                inside = inside.merge(block[j]);
            } else {
                outside = outside.merge(block[j]);
            }
        }
        is_sharpe.push(inside.sharpe());
        oos_sharpe.push(outside.sharpe());
    }
    let mut selected = 0;
    for j in 1..configs {
        if is_sharpe[j] > is_sharpe[selected] {
            selected = j;
        }
    }
    let chosen = oos_sharpe[selected];
    let below = oos_sharpe.iter().filter(|&&v| v < chosen - ROUNDING).count() as f64;
    let tied_others = oos_sharpe.iter().filter(|&&v| (v - chosen).abs() <= ROUNDING).count() as f64 - 1.0;
    let rank = 1.0 + below + tied_others / 2.0;
    let relative = rank / (configs as f64 + 1.0);
    Split {
        selected,
        is_sharpe: is_sharpe[selected],
        oos_sharpe: chosen,
        logit: (relative / (1.0 - relative)).ln(),
    }
}

fn degradation(splits: &[Split]) -> Degradation {
    let points: Vec<(f64, f64)> = splits
        .iter()
        .map(|s| (s.is_sharpe, s.oos_sharpe))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in &points {
        sxx += (x - mean_x) * (x - mean_x);
        sxy += (x - mean_x) * (y - mean_y);
        syy += (y - mean_y) * (y - mean_y);
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { f64::NAN };
    Degradation {
        slope,
        intercept: mean_y - slope * mean_x,
        r_squared: if sxx > 0.0 && syy > 0.0 { sxy * sxy / (sxx * syy) } else { f64::NAN },
        points: points.len(),
    }
}

/// Probability of backtest overfitting by combinatorially symmetric cross-validation (CSCV),
/// BBLZ15. `returns` is `T x N`: one row per period, one column per configuration
/// (hyperparameters, seeds), all over the same periods.
///
/// 1. Drop the oldest `T mod S` rows and cut the rest into `S` contiguous blocks of equal
///    length (contiguous, so serial dependence inside a block is kept).
/// 2. For every one of the `C(S, S/2)` ways to pick `S/2` blocks as the in-sample set `J` (the
///    rest, `J̄`, is out of sample, so every split also appears with the halves swapped):
///    - compute each configuration's per-period Sharpe ratio on `J` and on `J̄` (a flat
///      half scores `+inf`, `-inf` or `0` by the sign of its mean);
///    - take the in-sample best `n*` (lowest index among ties);
///    - rank `n*`'s out-of-sample Sharpe ratio among all `N`: rank 1 is the worst, `N` the
///      best, ties get the average of the ranks they span;
///    - relative rank `ω̄ = rank / (N + 1)`, strictly inside `(0, 1)`, so the logit
///      `λ = ln(ω̄ / (1 - ω̄))` is finite. `λ > 0` means `n*` beat the out-of-sample median.
/// 3. `PBO = #{λ <= 0} / C(S, S/2)`.
///
/// Also: the probability of loss (`n*`'s out-of-sample Sharpe ratio `< 0`) and the regression
/// of out-of-sample on in-sample Sharpe ratios of `n*` ([`Degradation`]).
///
/// With no skill at all, `n*`'s out-of-sample rank is uniform on `1..=N`, so the expected PBO
/// is `1/2` for even `N` but `(N + 1) / (2N)` for odd `N`, whose median rank gives `λ = 0`,
/// which counts as overfit. A PBO near 0 needs a configuration that stays on top.
///
/// Splits run in parallel (rayon); each is computed alone and collected in order, so results do
/// not depend on the number of threads. `S` must be even and at most [`MAX_PARTITIONS`]; with
/// fewer than `S` periods it drops to the number of periods rounded down to even. Errors with
/// fewer than 2 configurations, fewer than 4 periods, or a non-finite return.
pub fn probability_of_backtest_overfitting(
    returns: ArrayView2<'_, f64>,
    config: &PboConfig,
) -> Result<Pbo, OverfittingError> {
    let (periods, configs) = returns.dim();
    let requested = config.partitions;
    if requested < 2 || !requested.is_multiple_of(2) || requested > MAX_PARTITIONS {
        return Err(OverfittingError::InvalidPartitions(requested));
    }
    if configs < 2 {
        return Err(OverfittingError::TooFewConfigs(configs));
    }
    if periods < 4 {
        return Err(OverfittingError::TooFewPeriods(periods));
    }
    if let Some(((period, config), &value)) = returns.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(OverfittingError::NonFiniteReturn { period, config, value });
    }
    // Every split would tie all ranks at the median and count as overfit, a PBO of 1 for what is
    // no selection at all (seeds that each kept the same reference portfolio, for instance). Two
    // configurations apart by float rounding alone are the same one.
    if returns.rows().into_iter().all(|row| row.iter().all(|&r| (r - row[0]).abs() <= ROUNDING)) {
        return Err(OverfittingError::IdenticalConfigurations);
    }

    let partitions = requested.min(periods - periods % 2);
    let block_len = periods / partitions;
    let skip = periods - block_len * partitions;
    let blocks: Vec<Vec<Moments>> = (0..partitions)
        .map(|b| {
            let rows = returns.slice(s![skip + b * block_len..skip + (b + 1) * block_len, ..]);
            rows.columns().into_iter().map(|column| Moments::of(column.iter().copied())).collect()
        })
        .collect();

    let masks = half_masks(partitions);
    let splits: Vec<Split> = masks.par_iter().map(|&mask| evaluate_split(&blocks, mask, configs)).collect();
    let count = splits.len() as f64;
    Ok(Pbo {
        pbo: splits.iter().filter(|s| s.logit <= 0.0).count() as f64 / count,
        prob_oos_loss: splits.iter().filter(|s| s.oos_sharpe < 0.0).count() as f64 / count,
        degradation: degradation(&splits),
        logits: splits.iter().map(|s| s.logit).collect(),
        selected: splits.iter().map(|s| s.selected).collect(),
        is_sharpe: splits.iter().map(|s| s.is_sharpe).collect(),
        oos_sharpe: splits.iter().map(|s| s.oos_sharpe).collect(),
        configs,
        periods,
        periods_used: block_len * partitions,
        partitions_requested: requested,
        partitions,
        combinations: splits.len(),
    })
}

/// The `T x N` matrix [`probability_of_backtest_overfitting`] takes, from one return series
/// per configuration (all the same length).
pub fn returns_matrix(series: &[Vec<f64>]) -> Result<Array2<f64>, OverfittingError> {
    let expected = series.first().map_or(0, Vec::len);
    if let Some((config, s)) = series.iter().enumerate().find(|(_, s)| s.len() != expected) {
        return Err(OverfittingError::RaggedReturns { config, len: s.len(), expected });
    }
    Ok(Array2::from_shape_fn((expected, series.len()), |(t, j)| series[j][t]))
}

// ---------------------------------------------------------------------------------------------
// Verdict
// ---------------------------------------------------------------------------------------------

/// DSR at or above this is convincing: a one-sided test at the 5% level that the Sharpe ratio
/// beats the best of `N` skill-less trials.
pub const DSR_CONVINCING: f64 = 0.95;
/// DSR below this: the Sharpe ratio does not even beat the expected best of `N` lucky trials
/// (`SR̂ < SR̂0`).
pub const DSR_LUCK: f64 = 0.5;
/// PBO at or above this is likely overfit: the in-sample winner does no better than a coin
/// flip against the out-of-sample median.
pub const PBO_OVERFIT: f64 = 0.5;
/// PBO at or below this is a selection that holds up out of sample (folio's convention; the
/// paper sets no threshold).
pub const PBO_LOW: f64 = 0.1;

/// What [`verdict`] says when it has neither statistic; a caller that computes its own (a
/// search's Deflated Sharpe Ratio over all its trials) replaces it.
pub const NO_STATISTICS: &str = "No overfitting statistics: neither a DSR nor a PBO was computed.";

/// One plain sentence on whether a backtest's Sharpe ratio can be trusted, from a deflated
/// Sharpe ratio and a probability of backtest overfitting, either of which may be missing.
///
/// - DSR `>= 0.95` ([`DSR_CONVINCING`]): unlikely to be a fluke of the trials; `[0.5, 0.95)`:
///   better than the trials' luck would give, but not convincingly; `< 0.5` ([`DSR_LUCK`]): no
///   better than the best of that many skill-less trials.
/// - PBO `<= 0.1` ([`PBO_LOW`]): the selection holds up; `(0.1, 0.5)`: some overfitting;
///   `>= 0.5` ([`PBO_OVERFIT`]): likely overfit.
pub fn verdict(dsr: Option<&DeflatedSharpe>, pbo: Option<&Pbo>) -> String {
    let mut parts = Vec::new();
    if let Some(d) = dsr {
        let trials =
            if d.trials == 1 { "a single trial".to_string() } else { format!("{} trials", d.trials) };
        parts.push(if d.dsr.is_nan() {
            "DSR undefined: the track record is too short or its returns do not vary".to_string()
        } else if d.dsr >= DSR_CONVINCING {
            format!(
                "DSR {:.2}: a Sharpe ratio above zero is unlikely to be a fluke of {trials} (a test \
                 against zero, not against equal weight)",
                d.dsr
            )
        } else if d.dsr >= DSR_LUCK {
            format!(
                "DSR {:.2}: the Sharpe ratio is above what luck gives the best of {trials}, but not \
                 convincingly (below {DSR_CONVINCING}; a test against zero, not against equal weight)",
                d.dsr
            )
        } else {
            format!(
                "DSR {:.2}: the Sharpe ratio is no better than the best of {trials} without skill \
                 would typically reach",
                d.dsr
            )
        });
    }
    if let Some(p) = pbo {
        let splits = p.combinations;
        let text = if p.pbo >= PBO_OVERFIT {
            format!(
                "PBO {:.2}: likely overfit, the in-sample best configuration ranks at or below the \
                 out-of-sample median in {:.0}% of {splits} splits",
                p.pbo,
                100.0 * p.pbo
            )
        } else if p.pbo > PBO_LOW {
            format!(
                "PBO {:.2}: some overfitting, the in-sample best configuration falls to or below the \
                 out-of-sample median in {:.0}% of {splits} splits",
                p.pbo,
                100.0 * p.pbo
            )
        } else {
            format!(
                "PBO {:.2}: picking the in-sample best configuration would hold up, it stays above \
                 the out-of-sample median in {:.0}% of {splits} splits",
                p.pbo,
                100.0 * (1.0 - p.pbo)
            )
        };
        // Without its no-skill value the figure misleads: three seeds of equal skill give 0.67.
        parts.push(format!(
            "{text} ({} configurations of equal skill would give {:.2} on average)",
            p.configs,
            p.without_skill()
        ));
    }
    if parts.is_empty() { NO_STATISTICS.to_string() } else { format!("{}.", parts.join("; ")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_trials_without_two_sharpe_ratios_have_no_spread_to_deflate_by() {
        assert_eq!(trial_sharpe_variance(3, &[0.04]), None);
        assert_eq!(trial_sharpe_variance(3, &[0.04, f64::NAN]), None, "an undefined ratio is no spread");
        assert_eq!(trial_sharpe_variance(1, &[0.04]), Some(0.0));
        // Two ratios 0.02 apart: a sample variance of 0.02^2 / 2.
        let variance = trial_sharpe_variance(5, &[0.03, 0.05]).unwrap();
        assert!((variance - 0.0002).abs() < 1e-15, "{variance}");
    }
    use ndarray::Array2;
    use rand::{SeedableRng, rngs::StdRng};
    use rand_distr::{Distribution, StandardNormal};

    fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
        (actual - expected).abs() <= tolerance
    }

    /// `T x N` matrix of independent normal returns with per-configuration means.
    fn normal_returns(rng: &mut StdRng, periods: usize, means: &[f64], std: f64) -> Array2<f64> {
        Array2::from_shape_fn((periods, means.len()), |(_, j)| {
            let z: f64 = StandardNormal.sample(rng);
            means[j] + std * z
        })
    }

    #[test]
    fn skewness_and_kurtosis_match_hand_computed_moments() {
        // r = [0, 0, 0, 4]: mean 1, deviations [-1, -1, -1, 3].
        // m2 = (1 + 1 + 1 + 9) / 4 = 3, m3 = (-1 - 1 - 1 + 27) / 4 = 6, m4 = (1 + 1 + 1 + 81) / 4 = 21.
        // γ3 = 6 / 3^1.5 = 2 / sqrt(3), γ4 = 21 / 9 = 7 / 3.
        // (The n - 1 estimators would give m2 = 4 and a different skewness and kurtosis.)
        let r = [0.0, 0.0, 0.0, 4.0];
        assert!(close(skewness(&r), 2.0 / 3f64.sqrt(), 1e-12), "{}", skewness(&r));
        assert!(close(kurtosis(&r), 7.0 / 3.0, 1e-12), "{}", kurtosis(&r));
        // r = [1, 2, 3]: deviations [-1, 0, 1], m2 = 2/3, m3 = 0, m4 = 2/3, γ4 = (2/3) / (4/9) = 1.5.
        let r = [1.0, 2.0, 3.0];
        assert!(close(skewness(&r), 0.0, 1e-12));
        assert!(close(kurtosis(&r), 1.5, 1e-12));
        // Both are unchanged by shifting and scaling the returns.
        let moved: Vec<f64> = [0.0, 0.0, 0.0, 4.0].iter().map(|x| 0.01 * x - 0.003).collect();
        assert!(close(skewness(&moved), 2.0 / 3f64.sqrt(), 1e-9));
        assert!(close(kurtosis(&moved), 7.0 / 3.0, 1e-9));
        // Undefined without variation.
        assert!(skewness(&[0.01; 5]).is_nan() && kurtosis(&[0.01; 5]).is_nan());
        assert!(skewness(&[]).is_nan() && kurtosis(&[]).is_nan());
    }

    #[test]
    fn sharpe_conversions_round_trip() {
        assert!(close(annualize_sharpe(0.1, 252.0), 0.1 * 252f64.sqrt(), 1e-15));
        assert!(close(per_period_sharpe(annualize_sharpe(0.07, 52.0), 52.0), 0.07, 1e-15));
        assert!(close(per_period_sharpe_variance(0.5, 250.0), 0.002, 1e-15));
        // sharpe_ratio is the per-period one from metrics: [1, 2, 3] has mean 2, sample std 1.
        assert!(close(sharpe_ratio(&[1.0, 2.0, 3.0]), 2.0, 1e-15));
        let stats = SharpeStats::from_returns(&[0.0, 0.0, 0.0, 4.0]);
        assert_eq!(stats.observations, 4);
        // Mean 1, sample std sqrt(12 / 3) = 2.
        assert!(close(stats.sharpe, 0.5, 1e-15));
    }

    // The PSR and MinTRL cases below are computed by hand, with Φ taken from standard normal
    // tables, not from statrs: Φ(1) = 0.8413447460685429, Φ(1.6) = 0.9452007083004421,
    // Φ(2) = 0.9772498680518208, Φ⁻¹(0.95) = 1.6448536269514722. (The worked example of
    // BLdP12 could not be checked against the paper, so it is not used here.)
    //
    // SR̂ = 0.5, γ3 = -0.5, γ4 = 6 make the denominator exact:
    // 1 - γ3 SR̂ + (γ4 - 1)/4 SR̂² = 1 + 0.25 + 5/4 * 0.25 = 1.5625 = 1.25².
    fn skewed_track_record(observations: usize) -> SharpeStats {
        SharpeStats { sharpe: 0.5, observations, skewness: -0.5, kurtosis: 6.0 }
    }

    #[test]
    fn psr_matches_hand_computed_cases() {
        // n = 26: z = (0.5 - 0) * sqrt(25) / 1.25 = 2, PSR(0) = Φ(2).
        let stats = skewed_track_record(26);
        assert!(close(stats.variance_factor(), 1.5625, 1e-15));
        let psr = probabilistic_sharpe_ratio(&stats, 0.0);
        assert!(close(psr, 0.9772498680518208, 1e-9), "{psr}");
        // Benchmark 0.1: z = 0.4 * 5 / 1.25 = 1.6; the denominator keeps SR̂, not SR*.
        let psr = probabilistic_sharpe_ratio(&stats, 0.1);
        assert!(close(psr, 0.9452007083004421, 1e-9), "{psr}");
        // Normal returns reduce the denominator to sqrt(1 + SR̂²/2): with SR̂ = 0 it is 1, and
        // against SR* = -0.1 with n = 101, z = 0.1 * sqrt(100) = 1, PSR = Φ(1).
        let psr = probabilistic_sharpe_ratio(&SharpeStats::normal(0.0, 101), -0.1);
        assert!(close(psr, 0.8413447460685429, 1e-9), "{psr}");
        // A negative skew and fat tails lower the PSR of the same Sharpe ratio: normal
        // returns with SR̂ = 0.5, n = 26 give z = 0.5 * 5 / sqrt(1.125) = 2.357 > 2.
        assert!(probabilistic_sharpe_ratio(&SharpeStats::normal(0.5, 26), 0.0) > 0.99);
        assert!(probabilistic_sharpe_ratio(&SharpeStats::normal(0.5, 1), 0.0).is_nan());
    }

    #[test]
    fn min_track_record_length_matches_hand_computed_cases() {
        let stats = skewed_track_record(26);
        // α = 0.05: 1 + 1.5625 (1.6448536269514722 / 0.5)² = 17.909646588096...
        let expected = 1.0 + 1.5625 * (1.6448536269514722f64 / 0.5).powi(2);
        let min_trl = min_track_record_length(&stats, 0.0).unwrap();
        assert!(close(min_trl, expected, 1e-9), "{min_trl} vs {expected}");
        assert!(close(min_trl, 17.909646588096, 1e-9));
        // α = 1 - Φ(2): z_α = 2, MinTRL = 1 + 1.5625 * 16 = 26, the n at which the PSR above
        // reaches exactly Φ(2) = 1 - α.
        let min_trl = min_track_record_length_at(&stats, 0.0, 1.0 - 0.9772498680518208).unwrap();
        assert!(close(min_trl, 26.0, 1e-6), "{min_trl}");
        // No track record is long enough when SR̂ <= SR*.
        assert!(min_track_record_length(&stats, 0.5).is_none());
        assert!(min_track_record_length(&stats, 0.7).is_none());
        assert!(min_track_record_length_at(&stats, 0.0, 1.5).is_none());
    }

    #[test]
    fn dsr_reproduces_the_papers_numerical_example() {
        // BLdP14, "A numerical example": the best of N = 100 trials has an annualized Sharpe
        // ratio of 2.5 over T = 1250 daily returns (5 years of 250 days), skewness -3 and
        // kurtosis 10; the trials' annualized Sharpe ratios have variance 1/2. The paper reports
        // SR̂0 = 0.1132 (per day) and DSR = 0.9004.
        // By hand: Φ⁻¹(0.99) = 2.32635, Φ⁻¹(1 - 1/(100e)) = 2.68021, so the bracket is
        // 0.42278 * 2.32635 + 0.57722 * 2.68021 = 2.53060 and SR̂0 = sqrt(0.5/250) * 2.53060.
        let stats = SharpeStats {
            sharpe: per_period_sharpe(2.5, 250.0),
            observations: 1250,
            skewness: -3.0,
            kurtosis: 10.0,
        };
        let variance = per_period_sharpe_variance(0.5, 250.0);
        let dsr = deflated_sharpe_ratio(&stats, 100, variance).unwrap();
        assert!(close(dsr.expected_max_sharpe, 0.1132, 5e-5), "{}", dsr.expected_max_sharpe);
        assert!(close(dsr.dsr, 0.9004, 5e-5), "{}", dsr.dsr);
        // Without the selection the same track record looks nearly certain.
        assert!(dsr.psr > 0.999);
        assert_eq!(dsr.trials, 100);
    }

    #[test]
    fn expected_max_sharpe_matches_monte_carlo() {
        // 2000 repetitions of N = 50 skill-less strategies with T = 60 normal returns each: the
        // mean of the best Sharpe ratio against SR̂0 with V the pooled variance of all of them.
        // Tolerance 3%: the formula's bracket overstates the expected maximum of 50 standard
        // normals (2.2763 vs 2.2491 by numerical integration) by 1.2%, the Sharpe ratios of 60
        // returns are not quite normal, and the Monte-Carlo mean has a standard error of about
        // 0.4% (the maximum's sd, about 0.4 sqrt(V), over sqrt(2000)), so 3% is the bias plus
        // four standard errors. (With this seed the two differ by 0.4%.)
        let (trials, periods, repetitions) = (50, 60, 2000);
        let mut rng = StdRng::seed_from_u64(2014);
        let (mut max_sum, mut all) = (0.0, Vec::with_capacity(trials * repetitions));
        for _ in 0..repetitions {
            let mut best = f64::NEG_INFINITY;
            for _ in 0..trials {
                let r: Vec<f64> = (0..periods)
                    .map(|_| {
                        let z: f64 = StandardNormal.sample(&mut rng);
                        0.01 * z
                    })
                    .collect();
                let sr = sharpe_ratio(&r);
                best = best.max(sr);
                all.push(sr);
            }
            max_sum += best;
        }
        let simulated = max_sum / repetitions as f64;
        let variance = metrics::sample_std(&all).powi(2);
        let predicted = expected_max_sharpe(trials, variance);
        assert!(
            ((predicted - simulated) / simulated).abs() < 0.03,
            "formula {predicted} vs simulated {simulated}"
        );
        assert_eq!(expected_max_sharpe(1, variance), 0.0);
        assert!(expected_max_sharpe(0, variance).is_nan());
    }

    #[test]
    fn dsr_with_one_trial_is_psr_against_zero() {
        let stats = skewed_track_record(26);
        let dsr = deflated_sharpe_ratio(&stats, 1, 0.3).unwrap();
        assert_eq!(dsr.expected_max_sharpe, 0.0);
        assert_eq!(dsr.dsr, probabilistic_sharpe_ratio(&stats, 0.0));
        assert_eq!(dsr.dsr, dsr.psr);
        let dsr = deflated_sharpe_ratio_from_trials(&stats, &[0.5]).unwrap();
        assert_eq!((dsr.trials, dsr.sharpe_variance, dsr.expected_max_sharpe), (1, 0.0, 0.0));
    }

    #[test]
    fn dsr_from_trials_uses_their_count_and_sample_variance() {
        // Sharpe ratios [0.1, 0.2, 0.3, 0.4]: mean 0.25, sample variance
        // (0.0225 + 0.0025 + 0.0025 + 0.0225) / 3 = 0.05 / 3.
        let stats = SharpeStats::normal(0.4, 500);
        let dsr = deflated_sharpe_ratio_from_trials(&stats, &[0.1, 0.2, 0.3, 0.4]).unwrap();
        assert_eq!(dsr.trials, 4);
        assert!(close(dsr.sharpe_variance, 0.05 / 3.0, 1e-15));
        let direct = deflated_sharpe_ratio(&stats, 4, 0.05 / 3.0).unwrap();
        assert_eq!(dsr.dsr, direct.dsr);
        // More trials with the same spread raise the bar and lower the DSR.
        let more = deflated_sharpe_ratio(&stats, 400, 0.05 / 3.0).unwrap();
        assert!(more.expected_max_sharpe > dsr.expected_max_sharpe && more.dsr < dsr.dsr);
    }

    #[test]
    fn dsr_rejects_bad_inputs() {
        let stats = skewed_track_record(26);
        assert_eq!(deflated_sharpe_ratio(&stats, 0, 0.1).unwrap_err(), OverfittingError::NoTrials);
        assert!(matches!(deflated_sharpe_ratio(&stats, 10, -0.1), Err(OverfittingError::InvalidVariance(_))));
        assert!(matches!(
            deflated_sharpe_ratio(&stats, 10, f64::NAN),
            Err(OverfittingError::InvalidVariance(_))
        ));
        assert_eq!(deflated_sharpe_ratio_from_trials(&stats, &[]).unwrap_err(), OverfittingError::NoTrials);
        assert_eq!(
            deflated_sharpe_ratio_from_trials(&stats, &[0.1, f64::INFINITY]).unwrap_err(),
            OverfittingError::NonFiniteTrial { index: 1, value: f64::INFINITY }
        );
    }

    #[test]
    fn pbo_matches_a_hand_worked_case() {
        // T = 4 periods, N = 3 configurations, S = 4 one-row blocks: C(4, 2) = 6 splits, each
        // half two rows. Returns in percent (Sharpe ratios do not depend on the scale):
        //   period   A    B    C
        //     0      1    3   -1
        //     1      2   -1    2
        //     2      3    2    1
        //     3      4   -2    3
        // Two returns (a, b) have mean (a + b)/2 and sample std |a - b| / sqrt(2), so Sharpe
        // ratio (a + b) / |a - b| / sqrt(2); below in units of 1/sqrt(2):
        //   rows    A     B     C
        //   0,1     3    1/2   1/3
        //   0,2     2     5     0
        //   0,3    5/3   1/5   1/2
        //   1,2     5    1/3    3
        //   1,3     3    -3     5
        //   2,3     7     0     2
        // Splits in bitmask order of the in-sample rows; n* the in-sample best, its
        // out-of-sample rank among 3 (3 = best), ω̄ = rank / 4, λ = ln(ω̄ / (1 - ω̄)):
        //   IS    OOS   n*  SR_IS  SR_OOS  rank  ω̄    λ
        //   0,1   2,3   A    3      7       3    3/4   ln 3
        //   0,2   1,3   B    5     -3       1    1/4  -ln 3
        //   1,2   0,3   A    5     5/3      3    3/4   ln 3
        //   0,3   1,2   A   5/3     5       3    3/4   ln 3
        //   1,3   0,2   C    5      0       1    1/4  -ln 3
        //   2,3   0,1   A    7      3       3    3/4   ln 3
        // PBO = 2/6 (λ <= 0 twice); probability of loss = 1/6 (only B's -3; C's 0 is no loss).
        // Regression of SR_OOS on SR_IS: x̄ = 40/9, ȳ = 41/18, Sxy = -461/27, Sxx = 466/27, so
        // slope = -461/466 and intercept = ȳ - slope x̄ = 9331/1398 (in units of 1/sqrt(2)).
        let columns =
            vec![vec![0.01, 0.02, 0.03, 0.04], vec![0.03, -0.01, 0.02, -0.02], vec![-0.01, 0.02, 0.01, 0.03]];
        let m = returns_matrix(&columns).unwrap();
        let pbo = probability_of_backtest_overfitting(m.view(), &PboConfig { partitions: 4 }).unwrap();
        let ln3 = 3f64.ln();
        assert_eq!(pbo.combinations, 6);
        assert_eq!(pbo.selected, vec![0, 1, 0, 0, 2, 0]);
        let expected_logits = [ln3, -ln3, ln3, ln3, -ln3, ln3];
        for (got, want) in pbo.logits.iter().zip(expected_logits) {
            assert!(close(*got, want, 1e-12), "{:?}", pbo.logits);
        }
        let unit = 1.0 / 2f64.sqrt();
        let expected_is = [3.0, 5.0, 5.0, 5.0 / 3.0, 5.0, 7.0];
        let expected_oos = [7.0, -3.0, 5.0 / 3.0, 5.0, 0.0, 3.0];
        for c in 0..6 {
            assert!(close(pbo.is_sharpe[c], expected_is[c] * unit, 1e-9), "{:?}", pbo.is_sharpe);
            assert!(close(pbo.oos_sharpe[c], expected_oos[c] * unit, 1e-9), "{:?}", pbo.oos_sharpe);
        }
        assert!(close(pbo.pbo, 2.0 / 6.0, 1e-15));
        assert!(close(pbo.prob_oos_loss, 1.0 / 6.0, 1e-15));
        assert!(close(pbo.degradation.slope, -461.0 / 466.0, 1e-9), "{:?}", pbo.degradation);
        assert!(close(pbo.degradation.intercept, 9331.0 / 1398.0 * unit, 1e-9));
        assert_eq!(pbo.degradation.points, 6);
        assert_eq!((pbo.periods, pbo.periods_used, pbo.partitions), (4, 4, 4));
    }

    #[test]
    fn pbo_ties_take_the_middle_rank() {
        // Two identical configurations and a third always far below them: the first is
        // selected in every split, its out-of-sample rank among 3 is 1 + 1 (above the third)
        // + 1/2 (the tie) = 2.5, ω̄ = 2.5 / 4, λ = ln(5/3) > 0.
        let same = vec![0.01, -0.02, 0.03, 0.00, 0.02, -0.01];
        let worse = same.iter().map(|r| r - 0.05).collect();
        let m = returns_matrix(&[same.clone(), same, worse]).unwrap();
        let pbo = probability_of_backtest_overfitting(m.view(), &PboConfig { partitions: 6 }).unwrap();
        assert_eq!(pbo.combinations, 20);
        assert!(pbo.logits.iter().all(|&l| (l - (5.0f64 / 3.0).ln()).abs() < 1e-12), "{:?}", pbo.logits);
        assert!(pbo.selected.iter().all(|&s| s == 0));
        assert_eq!(pbo.pbo, 0.0);
    }

    #[test]
    fn identical_configurations_have_no_pbo() {
        // Every split would tie all three at the median, λ = 0, and count as overfit: a PBO of 1
        // for seeds that made no choice at all.
        let same = vec![0.01, -0.02, 0.03, 0.00, 0.02, -0.01];
        let m = returns_matrix(&[same.clone(), same.clone(), same.clone()]).unwrap();
        assert_eq!(
            probability_of_backtest_overfitting(m.view(), &PboConfig { partitions: 6 }).unwrap_err(),
            OverfittingError::IdenticalConfigurations
        );
        // Nor for seeds apart by the rounding of the same weights.
        let rounded: Vec<f64> =
            same.iter().enumerate().map(|(t, r)| r + if t % 2 == 0 { 3e-16 } else { -2e-16 }).collect();
        let m = returns_matrix(&[same.clone(), rounded, same]).unwrap();
        assert_eq!(
            probability_of_backtest_overfitting(m.view(), &PboConfig { partitions: 6 }).unwrap_err(),
            OverfittingError::IdenticalConfigurations
        );
    }

    /// Mean PBO over `data_sets` seeded sets of `configs` configurations of independent normal
    /// noise, T = 240, S = 8 (70 splits). Within one data set the splits are strongly dependent
    /// and the PBO spreads widely (a standard deviation of about 0.25 across data sets), so the
    /// tests average.
    fn mean_pbo_of_noise(seed: u64, configs: usize, data_sets: usize) -> f64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let config = PboConfig { partitions: 8 };
        let runs: Vec<f64> = (0..data_sets)
            .map(|_| {
                let m = normal_returns(&mut rng, 240, &vec![0.0; configs], 0.01);
                probability_of_backtest_overfitting(m.view(), &config).unwrap().pbo
            })
            .collect();
        metrics::mean(&runs)
    }

    #[test]
    fn pbo_of_pure_noise_is_near_one_half() {
        // N = 10 (even, so the expected PBO of skill-less configurations is exactly 1/2: the
        // halves share no rows, so n*'s out-of-sample rank is uniform on 1..=10). The mean of 200
        // data sets has a standard error of about 0.017, and the tolerance of 0.07 is four.
        let mean = mean_pbo_of_noise(2015, 10, 200);
        assert!((mean - 0.5).abs() < 0.07, "mean PBO of noise {mean}");
    }

    #[test]
    fn pbo_of_three_noise_configurations_is_near_two_thirds() {
        // An odd N puts one rank at the median, where λ = 0 counts as overfit: with N = 3 (a
        // walk-forward's default seeds) skill-less configurations give (N + 1) / (2N) = 2/3, not
        // 1/2. The spread is wider with three configurations, so 300 data sets.
        let mean = mean_pbo_of_noise(2016, 3, 300);
        assert!((mean - 2.0 / 3.0).abs() < 0.07, "mean PBO of three noise configurations {mean}");
    }

    #[test]
    fn pbo_of_a_genuine_edge_is_near_zero() {
        // Configuration 3 has a per-period Sharpe ratio of 0.3 among 9 of pure noise, T = 960,
        // S = 16: each half has 480 periods, where a Sharpe ratio estimate has a standard error
        // of about 1/sqrt(480) = 0.046, so the edge is six standard errors clear of zero and
        // should win in and out of sample in (almost) every split, with λ = ln(10/11 / (1/11))
        // = ln 10.
        let mut rng = StdRng::seed_from_u64(7);
        let mut means = [0.0; 10];
        means[3] = 0.003;
        let m = normal_returns(&mut rng, 960, &means, 0.01);
        let pbo = probability_of_backtest_overfitting(m.view(), &PboConfig::default()).unwrap();
        assert_eq!(pbo.combinations, 12870);
        assert!(pbo.pbo < 0.05, "PBO {}", pbo.pbo);
        assert!(pbo.prob_oos_loss < 0.05, "probability of loss {}", pbo.prob_oos_loss);
        let top = pbo.logits.iter().filter(|&&l| close(l, 10f64.ln(), 1e-12)).count();
        assert!(top as f64 > 0.9 * 12870.0, "{top} splits with the edge on top out of sample");
        assert!(pbo.selected.iter().filter(|&&s| s == 3).count() as f64 > 0.9 * 12870.0);
    }

    #[test]
    fn pbo_does_not_depend_on_the_thread_count() {
        let mut rng = StdRng::seed_from_u64(99);
        let m = normal_returns(&mut rng, 200, &[0.0, 0.001, -0.001, 0.0, 0.002, 0.0], 0.01);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| probability_of_backtest_overfitting(m.view(), &PboConfig::default()).unwrap())
        };
        let (one, four) = (run(1), run(4));
        assert_eq!(one.logits, four.logits);
        assert_eq!(one.selected, four.selected);
        assert_eq!(one.is_sharpe, four.is_sharpe);
        assert_eq!(one.oos_sharpe, four.oos_sharpe);
        assert_eq!(one.pbo.to_bits(), four.pbo.to_bits());
        assert_eq!(one.degradation.slope.to_bits(), four.degradation.slope.to_bits());
    }

    #[test]
    fn pbo_reduces_partitions_and_drops_the_oldest_rows() {
        // T = 7 with the default S = 16: S drops to 6 (7 rounded down to even), blocks of one
        // row, and the oldest row is left out, so the result is the one for rows 1..7 alone.
        let mut rng = StdRng::seed_from_u64(3);
        let m = normal_returns(&mut rng, 7, &[0.0, 0.0, 0.0], 0.01);
        let reduced = probability_of_backtest_overfitting(m.view(), &PboConfig::default()).unwrap();
        assert_eq!((reduced.partitions_requested, reduced.partitions), (16, 6));
        assert_eq!((reduced.periods, reduced.periods_used, reduced.combinations), (7, 6, 20));
        let tail =
            probability_of_backtest_overfitting(m.slice(s![1.., ..]), &PboConfig { partitions: 6 }).unwrap();
        assert_eq!(reduced.logits, tail.logits);
        assert_eq!(reduced.is_sharpe, tail.is_sharpe);
        // T = 10, S = 4: blocks of 2 rows, rows 0 and 1 dropped.
        let m = normal_returns(&mut rng, 10, &[0.0, 0.0], 0.01);
        let pbo = probability_of_backtest_overfitting(m.view(), &PboConfig { partitions: 4 }).unwrap();
        assert_eq!((pbo.partitions, pbo.periods_used, pbo.combinations), (4, 8, 6));
    }

    #[test]
    fn pbo_rejects_bad_inputs() {
        let config = PboConfig::default();
        let one = Array2::<f64>::zeros((20, 1));
        assert_eq!(
            probability_of_backtest_overfitting(one.view(), &config).unwrap_err(),
            OverfittingError::TooFewConfigs(1)
        );
        let short = Array2::<f64>::zeros((3, 4));
        assert_eq!(
            probability_of_backtest_overfitting(short.view(), &config).unwrap_err(),
            OverfittingError::TooFewPeriods(3)
        );
        let fine = Array2::<f64>::zeros((20, 4));
        for partitions in [0, 3, 22] {
            assert_eq!(
                probability_of_backtest_overfitting(fine.view(), &PboConfig { partitions }).unwrap_err(),
                OverfittingError::InvalidPartitions(partitions)
            );
        }
        let mut bad = fine.clone();
        bad[[5, 2]] = f64::NAN;
        assert!(matches!(
            probability_of_backtest_overfitting(bad.view(), &config).unwrap_err(),
            OverfittingError::NonFiniteReturn { period: 5, config: 2, .. }
        ));
        assert_eq!(
            returns_matrix(&[vec![0.0; 5], vec![0.0; 4]]).unwrap_err(),
            OverfittingError::RaggedReturns { config: 1, len: 4, expected: 5 }
        );
        // The largest allowed S works, and the split count is C(S, S/2).
        let wide = normal_returns(&mut StdRng::seed_from_u64(1), 40, &[0.0, 0.0], 0.01);
        let pbo = probability_of_backtest_overfitting(wide.view(), &PboConfig { partitions: MAX_PARTITIONS })
            .unwrap();
        assert_eq!(pbo.combinations as f64, statrs::function::factorial::binomial(20, 10));
    }

    #[test]
    fn verdict_reads_the_thresholds() {
        let stats = SharpeStats::normal(0.1, 1000);
        let with_dsr = |value: f64, trials: usize| DeflatedSharpe {
            stats,
            trials,
            sharpe_variance: 0.01,
            expected_max_sharpe: 0.05,
            psr: 0.99,
            dsr: value,
        };
        let with_pbo = |value: f64| Pbo {
            pbo: value,
            prob_oos_loss: 0.0,
            degradation: Degradation { slope: 0.0, intercept: 0.0, r_squared: 0.0, points: 0 },
            logits: vec![],
            selected: vec![],
            is_sharpe: vec![],
            oos_sharpe: vec![],
            configs: 10,
            periods: 1000,
            periods_used: 992,
            partitions_requested: 16,
            partitions: 16,
            combinations: 12870,
        };
        let text = verdict(Some(&with_dsr(0.97, 100)), Some(&with_pbo(0.12)));
        assert_eq!(
            text,
            "DSR 0.97: a Sharpe ratio above zero is unlikely to be a fluke of 100 trials (a test \
             against zero, not against equal weight); PBO 0.12: some overfitting, the in-sample best \
             configuration falls to or below the out-of-sample median in 12% of 12870 splits (10 \
             configurations of equal skill would give 0.50 on average)."
        );
        assert!(verdict(Some(&with_dsr(0.95, 1)), None).contains("unlikely to be a fluke of a single trial"));
        assert!(verdict(Some(&with_dsr(0.94, 5)), None).contains("not convincingly"));
        assert!(verdict(Some(&with_dsr(0.3, 5)), None).contains("no better than the best of 5 trials"));
        assert!(verdict(Some(&with_dsr(f64::NAN, 5)), None).starts_with("DSR undefined"));
        assert!(verdict(None, Some(&with_pbo(0.5))).contains("likely overfit"));
        assert!(
            verdict(None, Some(&with_pbo(0.1)))
                .contains("picking the in-sample best configuration would hold up")
        );
        assert!(verdict(None, Some(&with_pbo(0.1))).contains("90% of 12870 splits"));
        assert!(verdict(None, None).starts_with("No overfitting statistics"));
        let three = Pbo { configs: 3, ..with_pbo(0.6) };
        assert_eq!(three.without_skill(), 2.0 / 3.0);
        assert!(
            verdict(None, Some(&three))
                .ends_with("(3 configurations of equal skill would give 0.67 on average).")
        );
    }
}
