//! Long-only quadratic programs over a budget: `min 1/2 w'Pw + q'w` subject to `a'w = 1` and
//! `w >= 0`, with `P` symmetric positive definite. Minimum variance (`a = 1`, `q = 0`), maximum
//! Sharpe (`a = mu`) and ONS's projection (`a = 1`) are all of this form.
//!
//! Two solvers find the same, unique, optimum:
//!
//! - [`QpSolver::ActiveSet`] (the default): a primal active-set method (Nocedal and Wright 2006,
//!   "Numerical optimization", algorithm 16.3). On a guessed support it solves the equality
//!   constrained problem exactly with a Cholesky factor; it then frees the asset whose KKT
//!   multiplier is most negative, or, when a step would make a weight negative, stops at the
//!   first weight to reach zero and drops it. When no multiplier is negative the KKT conditions
//!   of the whole problem hold, so the result is the optimum to rounding whatever the guess was.
//!   Warm-started from the previous decision's support, which a daily re-estimate barely moves,
//!   it needs a handful of solves of the size of the support, not of the universe.
//! - [`QpSolver::InteriorPoint`]: clarabel's interior-point method on the dense problem (what
//!   folio used first). It stops at a gap of 1e-10 in the objective, which leaves weights off by
//!   up to about the square root of that where the objective is flat: in the tests, up to 1e-6
//!   on minimum variance problems and 1e-4 on ONS's projections (whose metric grows
//!   ill-conditioned), the active set's objective being never higher and its KKT conditions
//!   holding to 1e-11. The active set falls back to it if it ever fails to converge.

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, NonnegativeConeT, SolverStatus, ZeroConeT,
};
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

/// Which method solves the long-only QPs of the Markowitz baselines, ONS and the minimum-variance
/// reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QpSolver {
    /// Exact on its support, warm-started from the previous decision (see the module doc).
    #[default]
    ActiveSet,
    /// clarabel's interior point, cold every time: the reference the active set is tested
    /// against.
    InteriorPoint,
}

/// A solver with the support of its last solution, which starts the next solve.
#[derive(Debug, Clone, Default)]
pub struct WarmQp {
    pub solver: QpSolver,
    support: Vec<usize>,
}

impl WarmQp {
    pub fn new(solver: QpSolver) -> Self {
        Self { solver, support: Vec::new() }
    }

    /// Forget the last support: the next solve starts cold.
    pub fn reset(&mut self) {
        self.support.clear();
    }

    /// Long-only, fully invested minimum variance, `min w'Pw` s.t. `1'w = 1, w >= 0`: the
    /// problem with no linear term and a budget of ones.
    pub fn minimum_variance(&mut self, covariance: &DMatrix<f64>) -> Option<Vec<f64>> {
        let n = covariance.nrows();
        self.solve(covariance, &vec![0.0; n], &vec![1.0; n])
    }

    /// The optimum, or `None` when neither method reports one.
    pub fn solve(&mut self, p: &DMatrix<f64>, q: &[f64], a: &[f64]) -> Option<Vec<f64>> {
        let solution = match self.solver {
            QpSolver::ActiveSet => active_set(p, q, a, &self.support).or_else(|| interior_point(p, q, a)),
            QpSolver::InteriorPoint => interior_point(p, q, a),
        };
        if let Some(w) = &solution {
            self.support = (0..w.len()).filter(|&i| w[i] > 0.0).collect();
        }
        solution
    }
}

/// `min_x 1/2 x'Px + q'x` subject to `a'x = 1` and `x >= 0`, solved by clarabel's interior-point
/// method. `None` when the solver does not report a solution.
pub fn interior_point(p: &DMatrix<f64>, q: &[f64], a: &[f64]) -> Option<Vec<f64>> {
    let n = q.len();
    // Clarabel reads only the upper triangle of P.
    let upper: Vec<Vec<f64>> =
        (0..n).map(|i| (0..n).map(|j| if j >= i { p[(i, j)] } else { 0.0 }).collect()).collect();
    let p = CscMatrix::from(&upper);
    // Rows of A x + s = b: first `a'x + s = 1` with `s` in the zero cone (an equality), then
    // `-x + s = 0` with `s >= 0`.
    let mut rows = vec![a.to_vec()];
    rows.extend((0..n).map(|i| (0..n).map(|j| if i == j { -1.0 } else { 0.0 }).collect()));
    let a = CscMatrix::from(&rows);
    let mut b = vec![0.0; n + 1];
    b[0] = 1.0;
    let cones = [ZeroConeT(1), NonnegativeConeT(n)];
    let settings = DefaultSettingsBuilder::default()
        .verbose(false)
        .tol_gap_abs(1e-10)
        .tol_gap_rel(1e-10)
        .tol_feas(1e-10)
        .build()
        .ok()?;
    let mut solver = DefaultSolver::new(&p, q, &a, &b, &cones, settings).ok()?;
    solver.solve();
    match solver.solution.status {
        SolverStatus::Solved | SolverStatus::AlmostSolved => Some(solver.solution.x.clone()),
        _ => None,
    }
}

/// The optimum of the equality-constrained problem on a support `free`: weights there (the rest
/// is zero) and the budget's multiplier `nu`. From the KKT system `P_FF w_F + q_F = nu a_F`,
/// `a_F'w_F = 1`: `w_F = nu u - v` with `u = P_FF^-1 a_F`, `v = P_FF^-1 q_F` and
/// `nu = (1 + a_F'v) / a_F'u`. `None` when `P_FF` is not positive definite or `a_F'u` is not
/// positive (no budget can be met there).
fn face_optimum(p: &DMatrix<f64>, q: &[f64], a: &[f64], free: &[usize]) -> Option<(Vec<f64>, f64)> {
    let k = free.len();
    let block = DMatrix::from_fn(k, k, |r, c| p[(free[r], free[c])]);
    let cholesky = block.cholesky()?;
    let a_f = DVector::from_iterator(k, free.iter().map(|&i| a[i]));
    let q_f = DVector::from_iterator(k, free.iter().map(|&i| q[i]));
    let u = cholesky.solve(&a_f);
    let v = cholesky.solve(&q_f);
    let au = a_f.dot(&u);
    if !(au > 0.0) || !au.is_finite() {
        return None;
    }
    let nu = (1.0 + a_f.dot(&v)) / au;
    Some(((0..k).map(|r| nu * u[r] - v[r]).collect(), nu))
}

/// A feasible point optimal on its face, from a guessed support: the face optimum, with every
/// weight that comes out non-positive dropped until none does. Each round only shrinks the
/// support, so there are at most `n` rounds. A support that cannot meet the budget (no positive
/// `a_i` left) becomes the single asset with the largest `a_i`; `None` if even that one cannot.
fn feasible_start(
    p: &DMatrix<f64>,
    q: &[f64],
    a: &[f64],
    guess: &[usize],
) -> Option<(Vec<usize>, Vec<f64>, f64)> {
    let n = q.len();
    let mut free: Vec<usize> = if guess.is_empty() { (0..n).collect() } else { guess.to_vec() };
    loop {
        if !free.iter().any(|&i| a[i] > 0.0) {
            let best = (0..n).max_by(|&i, &j| a[i].total_cmp(&a[j]))?;
            if !(a[best] > 0.0) {
                return None;
            }
            free = vec![best];
        }
        let (w, nu) = face_optimum(p, q, a, &free)?;
        if w.iter().all(|&x| x > 0.0) {
            return Some((free, w, nu));
        }
        free = free.iter().zip(&w).filter(|&(_, &x)| x > 0.0).map(|(&i, _)| i).collect();
    }
}

/// The primal active-set method of the module doc, started from the support `guess` (all
/// assets when empty). `None` if it has not converged within its iteration budget, which a
/// degenerate problem could cause.
pub fn active_set(p: &DMatrix<f64>, q: &[f64], a: &[f64], guess: &[usize]) -> Option<Vec<f64>> {
    let n = q.len();
    let guess: Vec<usize> = guess.iter().copied().filter(|&i| i < n).collect();
    let (mut free, mut w_free, mut nu) = feasible_start(p, q, a, &guess)?;
    let mut w = vec![0.0; n];
    for (&i, &x) in free.iter().zip(&w_free) {
        w[i] = x;
    }
    for _ in 0..4 * n + 20 {
        let Some(entering) = most_negative_multiplier(p, q, a, &w, &free, nu) else {
            return Some(w);
        };
        free.push(entering);
        // Walk from w towards the new face's optimum, dropping the weights that reach zero on
        // the way, until a face optimum is feasible.
        loop {
            let (target, target_nu) = face_optimum(p, q, a, &free)?;
            w_free = free.iter().map(|&i| w[i]).collect();
            let (step, blocking) = ratio_test(&w_free, &target);
            for (r, &i) in free.iter().enumerate() {
                w[i] = w_free[r] + step * (target[r] - w_free[r]);
            }
            match blocking {
                None => {
                    nu = target_nu;
                    break;
                }
                Some(r) => {
                    w[free[r]] = 0.0;
                    free.swap_remove(r);
                }
            }
        }
    }
    None
}

/// The largest step in `[0, 1]` from `from` towards `to` that keeps every weight non-negative,
/// and the weight that blocks it (none if the full step is feasible).
fn ratio_test(from: &[f64], to: &[f64]) -> (f64, Option<usize>) {
    let (mut step, mut blocking) = (1.0, None);
    for (r, (&x, &y)) in from.iter().zip(to).enumerate() {
        if y <= 0.0 && x - y > 0.0 {
            let reach = x / (x - y);
            if reach < step || blocking.is_none() && reach <= step {
                step = reach;
                blocking = Some(r);
            }
        }
    }
    (step, blocking)
}

/// The asset off the support whose KKT multiplier `mu_i = (Pw + q)_i - nu a_i` is the most
/// negative, if one is negative beyond rounding: freeing it lowers the objective.
fn most_negative_multiplier(
    p: &DMatrix<f64>,
    q: &[f64],
    a: &[f64],
    w: &[f64],
    free: &[usize],
    nu: f64,
) -> Option<usize> {
    let n = q.len();
    let mut on_support = vec![false; n];
    free.iter().for_each(|&i| on_support[i] = true);
    let mut gradient = q.to_vec();
    for &j in free {
        let column = p.column(j);
        gradient.iter_mut().zip(column.iter()).for_each(|(g, p)| *g += p * w[j]);
    }
    let scale = gradient.iter().chain(std::iter::once(&nu)).fold(0.0f64, |m, g| m.max(g.abs()));
    let tolerance = 1e-13 * scale.max(f64::MIN_POSITIVE);
    (0..n)
        .filter(|&i| !on_support[i])
        .map(|i| (i, gradient[i] - nu * a[i]))
        .filter(|&(_, mu)| mu < -tolerance)
        .min_by(|x, y| x.1.total_cmp(&y.1))
        .map(|(i, _)| i)
}

#[cfg(test)]
/// The KKT conditions: feasible, `(Pw + q)_i = nu a_i` on the support and `>= nu a_i` off it.
pub fn assert_kkt(p: &DMatrix<f64>, q: &[f64], a: &[f64], w: &[f64]) {
    let n = q.len();
    assert!(w.iter().all(|&x| x >= 0.0), "{w:?}");
    let budget: f64 = a.iter().zip(w).map(|(a, w)| a * w).sum();
    assert!((budget - 1.0).abs() < 1e-12, "budget {budget}");
    let g = p * DVector::from_column_slice(w) + DVector::from_column_slice(q);
    let support: Vec<usize> = (0..n).filter(|&i| w[i] > 0.0).collect();
    let i0 = support[0];
    let nu = g[i0] / a[i0];
    let scale = g.amax().max(nu.abs());
    for i in 0..n {
        let mu = g[i] - nu * a[i];
        if w[i] > 0.0 {
            assert!(mu.abs() <= 1e-11 * scale, "asset {i}: multiplier {mu} on the support");
        } else {
            assert!(mu >= -1e-11 * scale, "asset {i}: multiplier {mu} off the support");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    /// A random covariance-like `P`: a few factors plus idiosyncratic variance, unit-scaled.
    fn random_p(rng: &mut StdRng, n: usize) -> DMatrix<f64> {
        let factors = DMatrix::from_fn(n, 3, |_, _| rng.random_range(-1.0..1.0));
        let idio = DMatrix::from_fn(n, n, |i, j| if i == j { rng.random_range(0.05..0.5) } else { 0.0 });
        let p = &factors * factors.transpose() * 0.3 + idio;
        let average = p.trace() / n as f64;
        p / average
    }

    /// The three shapes folio solves: minimum variance, maximum Sharpe (a mean vector with some
    /// negative entries as the budget), ONS's projection (a linear term).
    fn random_problem(rng: &mut StdRng, shape: usize) -> (DMatrix<f64>, Vec<f64>, Vec<f64>) {
        let n = rng.random_range(2..40);
        let p = random_p(rng, n);
        let (q, a) = match shape {
            0 => (vec![0.0; n], vec![1.0; n]),
            1 => {
                let mut a: Vec<f64> = (0..n).map(|_| rng.random_range(-0.5..1.0)).collect();
                a[0] = 1.0;
                (vec![0.0; n], a)
            }
            _ => ((0..n).map(|_| rng.random_range(-3.0..1.0)).collect(), vec![1.0; n]),
        };
        (p, q, a)
    }

    fn objective(p: &DMatrix<f64>, q: &[f64], w: &[f64]) -> f64 {
        let w = DVector::from_column_slice(w);
        0.5 * w.dot(&(p * &w)) + q.iter().zip(w.iter()).map(|(q, w)| q * w).sum::<f64>()
    }

    #[test]
    fn active_set_meets_the_kkt_conditions_and_beats_the_interior_point_to_its_accuracy() {
        let mut rng = StdRng::seed_from_u64(1);
        for case in 0..300 {
            let (p, q, a) = random_problem(&mut rng, case % 3);
            let ours = active_set(&p, &q, &a, &[]).expect("the active set converges");
            assert_kkt(&p, &q, &a, &ours);
            let reference = interior_point(&p, &q, &a).unwrap();
            // The interior point stops at a gap of 1e-10 in the objective, which leaves the
            // weights off by up to about its square root on flat problems.
            assert!(objective(&p, &q, &ours) <= objective(&p, &q, &reference) + 1e-12);
            for (x, y) in ours.iter().zip(&reference) {
                assert!((x - y).abs() < 1e-5, "case {case}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn any_warm_start_gives_the_cold_optimum() {
        let mut rng = StdRng::seed_from_u64(2);
        for case in 0..200 {
            let (p, q, a) = random_problem(&mut rng, case % 3);
            let n = q.len();
            let cold = active_set(&p, &q, &a, &[]).unwrap();
            let guess: Vec<usize> = (0..n).filter(|_| rng.random_range(0.0..1.0) < 0.3).collect();
            let warm = active_set(&p, &q, &a, &guess).unwrap();
            for (x, y) in cold.iter().zip(&warm) {
                assert!((x - y).abs() < 1e-12, "case {case}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn a_budget_no_asset_can_meet_is_no_solution() {
        let p = DMatrix::identity(2, 2);
        assert_eq!(active_set(&p, &[0.0, 0.0], &[-1.0, 0.0], &[]), None);
    }
}
