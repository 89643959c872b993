//! Covariance shrinkage: a well-conditioned estimate from a short window of many assets' returns.

use nalgebra::DMatrix;

/// Ledoit and Wolf (2004), "A well-conditioned estimator for large-dimensional covariance
/// matrices", J. Multivariate Analysis 88(2): the convex combination of the sample covariance `S`
/// and the scaled identity `m I` that minimizes the expected quadratic loss. With `n`
/// observations `x_k` (demeaned, rows of `returns`), `p` assets and the normalized Frobenius norm
/// `||A||^2 = tr(A A') / p` (their section 2):
///
/// - `S = X'X / n`, `m = tr(S) / p` (lemma 3.2),
/// - `d^2 = ||S - m I||^2` (lemma 3.3),
/// - `b_bar^2 = (1 / n^2) sum_k ||x_k x_k' - S||^2`, `b^2 = min(b_bar^2, d^2)` (lemma 3.4),
/// - `S* = (b^2 / d^2) m I + (1 - b^2 / d^2) S` (equation 14).
///
/// Returns `S*` and the shrinkage intensity `b^2 / d^2` (0 when `S` already is `m I`).
pub fn ledoit_wolf(returns: &DMatrix<f64>) -> (DMatrix<f64>, f64) {
    let (n, p) = returns.shape();
    let means = returns.row_mean();
    let x = DMatrix::from_fn(n, p, |k, i| returns[(k, i)] - means[i]);
    let sample = x.transpose() * &x / n as f64;
    let target = DMatrix::identity(p, p) * (sample.trace() / p as f64);
    let d2 = (&sample - &target).norm_squared() / p as f64;
    let mut b_bar2 = 0.0;
    for k in 0..n {
        let xk = x.row(k).transpose();
        b_bar2 += (&xk * xk.transpose() - &sample).norm_squared() / p as f64;
    }
    b_bar2 /= (n * n) as f64;
    let intensity = if d2 > 0.0 { b_bar2.min(d2) / d2 } else { 0.0 };
    (target * intensity + sample * (1.0 - intensity), intensity)
}

/// Scale a covariance so its average variance is one. Minimum variance and maximum Sharpe weights
/// do not change, and the solver works with numbers near one rather than 1e-4.
pub fn unit_scale(covariance: &DMatrix<f64>) -> DMatrix<f64> {
    let average = covariance.trace() / covariance.nrows() as f64;
    if average > 0.0 && average.is_finite() { covariance / average } else { covariance.clone() }
}
