//! Portfolio mathematics shared by the layers above: Ledoit-Wolf covariance shrinkage and
//! long-only quadratic programs over a budget. The minimum-variance reference of the features
//! and the Markowitz and ONS baselines solve the same problems, so they use one solver.

mod qp;
mod shrinkage;

pub use qp::{QpSolver, WarmQp, active_set, interior_point};
pub use shrinkage::{ledoit_wolf, unit_scale};

use nalgebra::DMatrix;
use ndarray::ArrayView2;

/// Long-only minimum variance, `min w'Sw` s.t. `1'w = 1, w >= 0`, with `S` the Ledoit-Wolf shrunk
/// covariance of a window of returns, solved one window after another: each solve starts from
/// the previous one's support.
#[derive(Debug, Clone, Default)]
pub struct MinimumVariance {
    qp: WarmQp,
}

impl MinimumVariance {
    pub fn new(solver: QpSolver) -> Self {
        Self { qp: WarmQp::new(solver) }
    }

    /// The weights for `returns` (`[period][asset]`), or `None` when the solver reports none.
    pub fn solve(&mut self, returns: ArrayView2<'_, f64>) -> Option<Vec<f64>> {
        let (periods, assets) = returns.dim();
        let returns = DMatrix::from_fn(periods, assets, |k, i| returns[[k, i]]);
        self.qp.minimum_variance(&unit_scale(&ledoit_wolf(&returns).0))
    }
}

#[cfg(test)]
pub use qp::assert_kkt;
