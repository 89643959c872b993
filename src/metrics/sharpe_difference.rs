//! Is one strategy's Sharpe ratio above another's on the same periods, or is the gap noise?
//!
//! Ledoit and Wolf (2008), "Robust performance hypothesis testing with the Sharpe ratio",
//! Journal of Empirical Finance 15(5): the difference of the two Sharpe ratios is a smooth
//! function of four moments, `(mean_a, mean_b, E[a^2], E[b^2])`, so its standard error follows
//! by the delta method from the moments' covariance. That covariance is estimated with a
//! heteroskedasticity- and autocorrelation-consistent (HAC) kernel, Newey and West's (1987)
//! Bartlett weights at their (1994) lag rule, so that fat tails, volatility clustering and the
//! strong correlation of two portfolios of the same assets all count. The Jobson-Korkie test
//! (with Memmel's 2003 correction) assumes independent normal returns, which daily returns are
//! not; under those assumptions the two agree, which the tests below check.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

/// Where one Sharpe ratio stands against another's on the same periods, by the test of their gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Ahead by more than noise.
    Beats,
    /// Ahead by a gap within noise, or by one that could not be tested (fewer than
    /// [`MIN_PERIODS`] periods, or a flat series): no edge shown.
    Ahead,
    /// Apart by less than [`NEGLIGIBLE`]: the same.
    Matches,
    Behind,
}

impl Standing {
    /// The standing of Sharpe ratio `a` against `b` (annualized, as reports show them), given the
    /// test of their gap when there is one.
    pub fn of(a: f64, b: f64, edge: Option<&SharpeDifference>) -> Self {
        let gap = a - b;
        match edge {
            Some(edge) if edge.negligible() => Standing::Matches,
            None if gap.abs() < NEGLIGIBLE => Standing::Matches,
            Some(edge) if edge.significant() && gap > 0.0 => Standing::Beats,
            _ if gap > 0.0 => Standing::Ahead,
            _ => Standing::Behind,
        }
    }
}

/// The test of `Sharpe(a) - Sharpe(b) = 0` on paired returns.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(into = "WrittenDifference", from = "WrittenDifference")]
pub struct SharpeDifference {
    /// `Sharpe(a) - Sharpe(b)`, annualized, from the moments (population deviations, as the
    /// delta method takes them; the reports' Sharpe ratios use `n - 1`, a relative difference of
    /// `1 / (2n)`).
    pub difference: f64,
    /// Its HAC standard error, annualized.
    pub standard_error: f64,
    /// Two-sided p-value of equal Sharpe ratios under the normal approximation.
    pub p_value: f64,
    pub periods: usize,
    /// Lags of the Bartlett kernel.
    pub lags: usize,
}

/// A [`SharpeDifference`] as reports and checkpoints write it, for scripts as much as for folio:
/// a negligible gap has no p-value (`null`), since between two portfolios that are the same the
/// test measures rounding (a gap of 1e-13 with a standard error of 1e-14 has p = 0, which a
/// script testing `p_value < 0.05` would take for an edge), and the report's reading of the test
/// is written beside it.
#[derive(Serialize, Deserialize)]
struct WrittenDifference {
    difference: f64,
    standard_error: f64,
    p_value: Option<f64>,
    /// [`SharpeDifference::significant`]: beyond noise at [`SIGNIFICANCE`], and not negligible.
    #[serde(default)]
    significant: bool,
    /// [`SharpeDifference::negligible`]: under [`NEGLIGIBLE`] a year, the same Sharpe ratio.
    #[serde(default)]
    negligible: bool,
    periods: usize,
    lags: usize,
}

impl From<SharpeDifference> for WrittenDifference {
    fn from(test: SharpeDifference) -> Self {
        Self {
            difference: test.difference,
            standard_error: test.standard_error,
            p_value: (!test.negligible()).then_some(test.p_value),
            significant: test.significant(),
            negligible: test.negligible(),
            periods: test.periods,
            lags: test.lags,
        }
    }
}

impl From<WrittenDifference> for SharpeDifference {
    /// A negligible gap read back has no p-value (NaN); nothing reads one, as it is never significant.
    fn from(written: WrittenDifference) -> Self {
        Self {
            difference: written.difference,
            standard_error: written.standard_error,
            p_value: written.p_value.unwrap_or(f64::NAN),
            periods: written.periods,
            lags: written.lags,
        }
    }
}

/// Significance level at which a report calls a difference more than noise.
pub const SIGNIFICANCE: f64 = 0.05;

/// A gap in annualized Sharpe ratio smaller than this is no edge whatever its p-value: below what
/// any report shows, and the size of the rounding between two portfolios that are the same (a
/// network that outputs its reference in f32 against the reference in f64 differ by ~1e-12,
/// with a standard error smaller still).
pub const NEGLIGIBLE: f64 = 0.005;

/// Fewer paired periods than this give no test: a HAC covariance from a handful of rows says
/// nothing.
pub const MIN_PERIODS: usize = 30;

impl SharpeDifference {
    /// Whether the difference is beyond noise at [`SIGNIFICANCE`] and not [`negligible`](Self::negligible).
    pub fn significant(&self) -> bool {
        self.p_value < SIGNIFICANCE && !self.negligible()
    }

    /// Whether the gap is smaller than [`NEGLIGIBLE`]: the two Sharpe ratios are the same.
    pub fn negligible(&self) -> bool {
        self.difference.abs() < NEGLIGIBLE
    }

    /// The gap and its test in words, e.g. "+0.03 (standard error 0.04, p = 0.37, Ledoit-Wolf
    /// HAC test), within noise". A negligible gap gets no p-value: between two portfolios that
    /// are the same, the test measures rounding, and "p = 0.00" would read as an edge.
    pub fn describe(&self) -> String {
        if self.negligible() {
            // Rounded first, so that a gap of -1e-16 (one rounding) reads +0.0000, not -0.0000.
            let shown = (self.difference * 1e4).round() / 1e4 + 0.0;
            return format!("{shown:+.4}, too small to matter (under {NEGLIGIBLE} a year)");
        }
        format!(
            "{:+.2} (standard error {:.2}, p = {:.2}, Ledoit-Wolf HAC test), {}",
            self.difference,
            self.standard_error,
            self.p_value,
            if self.significant() { "beyond noise at 5%" } else { "within noise" }
        )
    }
}

/// Newey and West's (1994) automatic lag for the Bartlett kernel, `floor(4 (T / 100)^(2/9))`.
pub fn bartlett_lags(periods: usize) -> usize {
    (4.0 * (periods as f64 / 100.0).powf(2.0 / 9.0)).floor() as usize
}

/// Test `Sharpe(a) = Sharpe(b)` on per-period returns of the same periods. `None` when the
/// series differ in length, are shorter than [`MIN_PERIODS`], hold a non-finite value, or one of
/// them is flat (no Sharpe ratio).
pub fn sharpe_difference(a: &[f64], b: &[f64], periods_per_year: f64) -> Option<SharpeDifference> {
    let periods = a.len();
    if periods != b.len() || periods < MIN_PERIODS || a.iter().chain(b).any(|x| !x.is_finite()) {
        return None;
    }
    let n = periods as f64;
    let mean = |x: &[f64]| x.iter().sum::<f64>() / n;
    let (mu_a, mu_b) = (mean(a), mean(b));
    let (gamma_a, gamma_b) =
        (a.iter().map(|x| x * x).sum::<f64>() / n, b.iter().map(|x| x * x).sum::<f64>() / n);
    // Centred, not `gamma - mu^2`: that difference leaves a flat series rounding noise of either
    // sign for a variance, and a "significant" gap of 1e8.
    let (var_a, var_b) = (crate::stats::population_variance(a), crate::stats::population_variance(b));
    if !(var_a > 0.0 && var_b > 0.0) {
        return None;
    }
    let difference = mu_a / var_a.sqrt() - mu_b / var_b.sqrt();
    // The gradient of f(mu_a, mu_b, gamma_a, gamma_b) = mu_a / sqrt(gamma_a - mu_a^2) - (same for b).
    let gradient = [
        gamma_a / var_a.powf(1.5),
        -gamma_b / var_b.powf(1.5),
        -mu_a / (2.0 * var_a.powf(1.5)),
        mu_b / (2.0 * var_b.powf(1.5)),
    ];
    let deviations: Vec<[f64; 4]> =
        a.iter().zip(b).map(|(&x, &y)| [x - mu_a, y - mu_b, x * x - gamma_a, y * y - gamma_b]).collect();
    let lags = bartlett_lags(periods).min(periods - 1);
    // The gradient's projection of the moments, g_t = gradient . deviation_t, is all the
    // covariance needs: gradient' Psi gradient is the HAC long-run variance of g.
    let projected: Vec<f64> =
        deviations.iter().map(|d| d.iter().zip(&gradient).map(|(x, g)| x * g).sum()).collect();
    let autocovariance =
        |lag: usize| projected[lag..].iter().zip(&projected).map(|(x, y)| x * y).sum::<f64>() / n;
    // Scaled by T / (T - 4), the degrees of freedom of the four estimated moments, as Ledoit and
    // Wolf's own code scales its kernel estimate: without it the standard error is too small by
    // 5% at 40 periods.
    let long_run_variance = (autocovariance(0)
        + 2.0 * (1..=lags).map(|j| (1.0 - j as f64 / (lags as f64 + 1.0)) * autocovariance(j)).sum::<f64>())
        * n
        / (n - 4.0);
    let annual = periods_per_year.sqrt();
    let standard_error = (long_run_variance.max(0.0) / n).sqrt();
    let p_value = if standard_error > 0.0 {
        let z = difference / standard_error;
        2.0 * (1.0 - Normal::standard().cdf(z.abs()))
    } else if difference == 0.0 {
        1.0
    } else {
        0.0
    };
    Some(SharpeDifference {
        difference: difference * annual,
        standard_error: standard_error * annual,
        p_value,
        periods,
        lags,
    })
}

#[cfg(test)]
mod tests {
    use rand::seq::SliceRandom;
    use rand::{SeedableRng, rngs::StdRng};
    use rand_distr::{Distribution, StandardNormal};

    use super::*;

    #[test]
    fn a_written_test_gives_no_p_value_to_a_rounding_gap() {
        let test = |difference: f64| SharpeDifference {
            difference,
            standard_error: difference.abs() / 10.0,
            p_value: 0.0,
            periods: 250,
            lags: 4,
        };
        let rounding = serde_json::to_value(test(-4e-13)).unwrap();
        assert!(rounding["p_value"].is_null(), "{rounding}");
        assert_eq!(
            (rounding["negligible"].as_bool(), rounding["significant"].as_bool()),
            (Some(true), Some(false))
        );
        let edge = serde_json::to_value(test(0.3)).unwrap();
        assert_eq!(edge["p_value"].as_f64(), Some(0.0));
        assert_eq!((edge["negligible"].as_bool(), edge["significant"].as_bool()), (Some(false), Some(true)));
        // Read back: the same test, and one written before the flags existed still reads.
        let back: SharpeDifference = serde_json::from_value(edge).unwrap();
        assert_eq!(back, test(0.3));
        let older = r#"{"difference":0.3,"standard_error":0.03,"p_value":0.0,"periods":250,"lags":4}"#;
        assert_eq!(serde_json::from_str::<SharpeDifference>(older).unwrap(), test(0.3));
        let rounding: SharpeDifference = serde_json::from_value(rounding).unwrap();
        assert!(rounding.p_value.is_nan() && rounding.difference == -4e-13, "{rounding:?}");
    }

    #[test]
    fn a_gap_that_was_not_tested_is_no_win() {
        let tested = |difference: f64, p_value: f64| SharpeDifference {
            difference,
            standard_error: 0.1,
            p_value,
            periods: 250,
            lags: 4,
        };
        assert_eq!(Standing::of(1.2, 1.0, Some(&tested(0.2, 0.01))), Standing::Beats);
        assert_eq!(Standing::of(1.2, 1.0, Some(&tested(0.2, 0.30))), Standing::Ahead);
        assert_eq!(Standing::of(1.0, 1.0, Some(&tested(0.001, 0.0))), Standing::Matches);
        assert_eq!(Standing::of(0.8, 1.0, Some(&tested(-0.2, 0.01))), Standing::Behind);
        // No test (too few periods): ahead is all it can say, and a rounding gap is a match.
        assert_eq!(Standing::of(1.2, 1.0, None), Standing::Ahead);
        assert_eq!(Standing::of(-5.4887, -5.4911, None), Standing::Matches);
        assert_eq!(Standing::of(0.9, 1.0, None), Standing::Behind);
    }

    #[test]
    fn a_gap_of_rounding_is_no_edge_whatever_its_p_value() {
        let rounding = SharpeDifference {
            difference: 8e-13,
            standard_error: 4e-14,
            p_value: 0.0,
            periods: 1260,
            lags: 7,
        };
        assert!(rounding.negligible() && !rounding.significant());
        assert_eq!(rounding.describe(), "+0.0000, too small to matter (under 0.005 a year)");
        let below = SharpeDifference { difference: -8e-13, ..rounding };
        assert_eq!(below.describe(), "+0.0000, too small to matter (under 0.005 a year)");
        let small = SharpeDifference { difference: -0.0021, ..rounding };
        assert_eq!(small.describe(), "-0.0021, too small to matter (under 0.005 a year)");
        let edge = SharpeDifference {
            difference: 0.2,
            standard_error: 0.05,
            p_value: 0.0001,
            periods: 1260,
            lags: 7,
        };
        assert!(edge.significant());
        assert!(edge.describe().ends_with("beyond noise at 5%"), "{}", edge.describe());
    }

    /// Paired normal returns with per-period means `means`, deviation `std` and correlation `rho`.
    fn correlated(
        rng: &mut StdRng,
        periods: usize,
        means: (f64, f64),
        std: f64,
        rho: f64,
    ) -> (Vec<f64>, Vec<f64>) {
        (0..periods)
            .map(|_| {
                let (u, v): (f64, f64) = (StandardNormal.sample(rng), StandardNormal.sample(rng));
                (means.0 + std * u, means.1 + std * (rho * u + (1.0 - rho * rho).sqrt() * v))
            })
            .unzip()
    }

    #[test]
    fn the_lag_rule_is_newey_and_west_s() {
        // 4 (T/100)^(2/9): 4.0 at T = 100, 7.02 at T = 1260 (five years of days), 2.92 at T = 24.
        assert_eq!((bartlett_lags(100), bartlett_lags(1260), bartlett_lags(24)), (4, 7, 2));
    }

    #[test]
    fn a_deterministic_pair_matches_the_matrix_form_of_the_formula() {
        // The reference is Ledoit and Wolf's formula as written, the full 4 x 4 HAC covariance
        // of the moments sandwiched by the gradient and scaled by T / (T - 4) as in their code,
        // evaluated in double precision by a short Python script (standard library only) on the
        // same 40 rows, where the rule gives 3 lags: difference 0.10687542413392118, standard
        // error 0.17690139891950485, p = 0.5457422513007535. The code projects the moments on
        // the gradient first.
        let a: Vec<f64> = (0..40).map(|t| 0.01 * (t as f64).sin() + 0.002).collect();
        let b: Vec<f64> = (0..40).map(|t| 0.008 * (1.3 * t as f64).cos() + 0.001).collect();
        let got = sharpe_difference(&a, &b, 1.0).unwrap();
        assert_eq!((got.periods, got.lags), (40, 3));
        assert!((got.difference - 0.10687542413392118).abs() < 1e-12, "{got:?}");
        assert!((got.standard_error - 0.17690139891950485).abs() < 1e-12, "{got:?}");
        assert!((got.p_value - 0.5457422513007535).abs() < 1e-9, "{got:?}");
        let annual = sharpe_difference(&a, &b, 252.0).unwrap();
        assert!((annual.difference / got.difference - 252f64.sqrt()).abs() < 1e-9);
        assert_eq!(annual.p_value, got.p_value, "annualizing scales both, so p stays");
    }

    #[test]
    fn independent_normal_returns_match_jobson_korkie_with_memmel_s_correction() {
        // Under iid normal returns the HAC variance converges to Memmel's (2003) closed form:
        // T Var = 2 - 2 rho + (SR_a^2 + SR_b^2 - 2 SR_a SR_b rho^2) / 2 (per-period Sharpe ratios).
        let mut rng = StdRng::seed_from_u64(2008);
        let (periods, std, rho) = (200_000, 0.01, 0.6);
        let (a, b) = correlated(&mut rng, periods, (0.002, 0.001), std, rho);
        let got = sharpe_difference(&a, &b, 1.0).unwrap();
        let (sa, sb) = (0.2, 0.1);
        let memmel =
            (2.0 - 2.0 * rho + (sa * sa + sb * sb - 2.0 * sa * sb * rho * rho) / 2.0) / periods as f64;
        let ratio = got.standard_error.powi(2) / memmel;
        assert!((ratio - 1.0).abs() < 0.05, "HAC variance / Memmel's = {ratio}");
        assert!((got.difference - 0.1).abs() < 4.0 * memmel.sqrt(), "{got:?}");
        assert!(got.significant(), "a gap of 0.1 per period over 200,000 periods is real: {got:?}");
    }

    #[test]
    fn under_equal_sharpe_ratios_the_test_rejects_about_five_percent_of_the_time() {
        // 400 pairs of five-year daily series with equal means and deviations, correlated 0.9 as
        // two portfolios of the same assets are: a calibrated 5% test rejects about 20 of them
        // (binomial standard deviation 4.4).
        let mut rng = StdRng::seed_from_u64(11);
        let rejections = (0..400)
            .filter(|_| {
                let (a, b) = correlated(&mut rng, 1260, (0.0004, 0.0004), 0.01, 0.9);
                sharpe_difference(&a, &b, 252.0).unwrap().significant()
            })
            .count();
        assert!((8..=34).contains(&rejections), "{rejections} of 400 rejected at 5%");
    }

    #[test]
    fn autocorrelated_returns_widen_the_error_beyond_the_iid_one() {
        // AR(1) differences with coefficient 0.5 have a long-run variance three times their
        // variance, so the HAC error must exceed the lag-0 one clearly.
        let mut rng = StdRng::seed_from_u64(5);
        let mut shock = 0.0;
        let a: Vec<f64> = (0..2000)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                shock = 0.5 * shock + 0.01 * z;
                0.0005 + shock
            })
            .collect();
        let b: Vec<f64> = (0..2000)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                0.0005 + 0.01 * z
            })
            .collect();
        let hac = sharpe_difference(&a, &b, 1.0).unwrap();
        // The same returns in random order: the same moments, no serial dependence.
        let mut shuffled = a.clone();
        shuffled.shuffle(&mut rng);
        let iid = sharpe_difference(&shuffled, &b, 1.0).unwrap();
        assert!(hac.standard_error > 1.2 * iid.standard_error, "HAC {hac:?} against shuffled {iid:?}");
    }

    #[test]
    fn no_test_without_enough_paired_finite_varying_returns() {
        let a = vec![0.01; 40];
        let b: Vec<f64> = (0..40).map(|t| 0.001 * t as f64).collect();
        assert_eq!(sharpe_difference(&a, &b, 252.0), None, "a flat series has no Sharpe ratio");
        // Constants whose squares and mean round unevenly: gamma - mu^2 left 3e-22.
        for flat in [0.0004, 0.0001, 3.322] {
            assert_eq!(sharpe_difference(&[flat; 40], &b, 252.0), None, "{flat}");
        }
        assert_eq!(sharpe_difference(&b[..20], &b[..20], 252.0), None, "too short");
        assert_eq!(sharpe_difference(&b, &b[..39], 252.0), None, "unpaired");
        let mut with_nan = b.clone();
        with_nan[3] = f64::NAN;
        assert_eq!(sharpe_difference(&with_nan, &b, 252.0), None);
        let same = sharpe_difference(&b, &b, 252.0).unwrap();
        assert_eq!((same.difference, same.p_value), (0.0, 1.0), "a series against itself");
    }
}
