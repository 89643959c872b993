//! Rolling covariance estimates for the Markowitz baselines: the Ledoit-Wolf shrunk covariance
//! and the mean of the last `window` periods' returns, recomputed from the window
//! ([`Update::Recompute`]) or carried from one decision to the next by adding the new period's
//! returns and removing the oldest's ([`Update::Incremental`], the default).
//!
//! The incremental estimate keeps the sums of the returns and of their cross products, both
//! shifted by the window's mean at the last full computation (the shift keeps the sums near zero
//! so that centering them loses nothing), and rebuilds the shrunk covariance from them: `O(p^2)`
//! a decision for `p` assets instead of `O(n p^2)` for `n` periods. Sums that slide for long
//! gather rounding, so they are recomputed from the window every `window` decisions; the
//! estimate then agrees with the recomputed one to about 1e-13 relative (tested), far inside
//! what moves a weight by 1e-9.

use std::collections::VecDeque;

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::{MIN_HISTORY, ReturnKind, window_returns};
use crate::backtest::MarketView;
use crate::portfolio_math::{ledoit_wolf, unit_scale};

/// How a state that follows the data from one decision to the next is kept: updated with what
/// changed, or rebuilt from scratch each time (the straightforward reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Update {
    #[default]
    Incremental,
    Recompute,
}

/// What the Markowitz QPs need at one decision.
#[derive(Debug, Clone)]
pub(super) struct Moments {
    /// The [`ledoit_wolf`] covariance scaled to an average variance of one ([`unit_scale`]):
    /// the portfolios do not change, and the solvers work with numbers near one.
    pub covariance: DMatrix<f64>,
    /// Mean return of each asset over the window.
    pub mean: Vec<f64>,
}

/// The moments of the window ending at `view.row`, recomputed from it; `None` with fewer than
/// [`MIN_HISTORY`] periods of history.
pub(super) fn recomputed(view: &MarketView<'_>, window: usize, kind: ReturnKind) -> Option<Moments> {
    let returns = window_returns(view, window, kind)?;
    let mean = returns.row_mean().iter().copied().collect();
    Some(Moments { covariance: unit_scale(&ledoit_wolf(&returns).0), mean })
}

/// The sums behind an incremental estimate (see the module doc).
#[derive(Debug, Clone, Default)]
pub(super) struct RollingMoments {
    /// Periods `first..=last` of the window, their returns less `shift`, oldest first.
    rows: VecDeque<Vec<f64>>,
    first: usize,
    last: usize,
    shift: Vec<f64>,
    /// Sum of the shifted rows and of their outer products (a full symmetric matrix).
    sum: Vec<f64>,
    cross: DMatrix<f64>,
    /// Periods added since the sums were last computed from the window.
    slid: usize,
}

impl RollingMoments {
    /// Forget everything: the next estimate is computed from its window.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// The moments of the window ending at `view.row`, as [`recomputed`] gives them (to
    /// rounding); `None` with fewer than [`MIN_HISTORY`] periods of history.
    pub fn estimate(&mut self, view: &MarketView<'_>, window: usize, kind: ReturnKind) -> Option<Moments> {
        let periods = window.min(view.row);
        if periods < MIN_HISTORY {
            self.reset();
            return None;
        }
        let first = view.row + 1 - periods;
        let changes = (!self.rows.is_empty() && view.row > self.last && first >= self.first)
            .then(|| (view.row - self.last) + (first - self.first));
        match changes {
            // A few rank-one changes cost less than the window's product, and sums slid for
            // long are rebuilt before their rounding shows.
            Some(changes) if changes <= periods / 4 && self.slid + changes <= 2 * window => {
                self.slide(view, first, kind);
                self.slid += changes;
            }
            _ => self.rebuild(view, first, kind),
        }
        (self.first, self.last) = (first, view.row);
        Some(self.shrunk())
    }

    /// Add the periods after the last estimate's and drop those before `first`.
    fn slide(&mut self, view: &MarketView<'_>, first: usize, kind: ReturnKind) {
        for t in self.last + 1..=view.row {
            let row = shifted(view, t, kind, &self.shift);
            rank_one(&mut self.cross, &mut self.sum, &row, 1.0);
            self.rows.push_back(row);
        }
        for _ in self.first..first {
            let row = self.rows.pop_front().expect("the window holds the periods it drops");
            rank_one(&mut self.cross, &mut self.sum, &row, -1.0);
        }
    }

    /// The sums of the window `first..=view.row`, computed from it, shifted by its mean.
    fn rebuild(&mut self, view: &MarketView<'_>, first: usize, kind: ReturnKind) {
        let p = view.n_assets();
        let zero = vec![0.0; p];
        let raw: Vec<Vec<f64>> = (first..=view.row).map(|t| shifted(view, t, kind, &zero)).collect();
        let n = raw.len() as f64;
        self.shift = (0..p).map(|i| raw.iter().map(|r| r[i]).sum::<f64>() / n).collect();
        self.rows =
            raw.into_iter().map(|r| r.iter().zip(&self.shift).map(|(r, s)| r - s).collect()).collect();
        let centered = DMatrix::from_fn(self.rows.len(), p, |k, i| self.rows[k][i]);
        self.cross = centered.transpose() * &centered;
        self.sum = (0..p).map(|i| self.rows.iter().map(|r| r[i]).sum()).collect();
        self.slid = 0;
    }

    /// The unit-scaled Ledoit-Wolf covariance and the mean from the sums: with `u_k` the shifted
    /// rows and `m` their mean, `S = sum_k u_k u_k' / n - m m'`, and the shrinkage's `b_bar^2`
    /// from `sum_k ||x_k x_k' - S||^2 = sum_k ||x_k||^4 - n ||S||_F^2` (since
    /// `sum_k x_k x_k' = n S`), with `||x_k||^2 = ||u_k||^2 - 2 u_k . m + ||m||^2`.
    fn shrunk(&self) -> Moments {
        let (n, p) = (self.rows.len() as f64, self.sum.len());
        let m: Vec<f64> = self.sum.iter().map(|s| s / n).collect();
        let mut sample = DMatrix::from_fn(p, p, |i, j| self.cross[(i, j)] / n - m[i] * m[j]);
        let mu = sample.trace() / p as f64;
        // ||S||_F^2, and ||S - mu I||_F^2 entry by entry rather than as a difference of the two.
        let (mut frobenius2, mut d2) = (0.0, 0.0);
        for j in 0..p {
            for (i, &s) in sample.column(j).iter().enumerate() {
                frobenius2 += s * s;
                d2 += if i == j { (s - mu) * (s - mu) } else { s * s };
            }
        }
        let d2 = d2 / p as f64;
        let m2: f64 = m.iter().map(|m| m * m).sum();
        let fourth: f64 = self
            .rows
            .iter()
            .map(|u| {
                let (uu, um) = u.iter().zip(&m).fold((0.0, 0.0), |(uu, um), (u, m)| (uu + u * u, um + u * m));
                (uu - 2.0 * um + m2).powi(2)
            })
            .sum();
        let b_bar2 = (fourth - n * frobenius2) / (n * n * p as f64);
        let intensity = if d2 > 0.0 { b_bar2.min(d2) / d2 } else { 0.0 };
        // S* = intensity mu I + (1 - intensity) S has average variance mu; divided by it:
        let scale = if mu > 0.0 && mu.is_finite() { 1.0 / mu } else { 1.0 };
        sample *= (1.0 - intensity) * scale;
        for i in 0..p {
            sample[(i, i)] += intensity * mu * scale;
        }
        let mean = m.iter().zip(&self.shift).map(|(m, s)| m + s).collect();
        Moments { covariance: sample, mean }
    }
}

/// The assets' returns of period `t` less `shift`.
fn shifted(view: &MarketView<'_>, t: usize, kind: ReturnKind, shift: &[f64]) -> Vec<f64> {
    view.relatives(t)[1..]
        .iter()
        .zip(shift)
        .map(|(&x, s)| {
            let r = match kind {
                ReturnKind::Simple => x - 1.0,
                ReturnKind::Log => x.ln(),
            };
            r - s
        })
        .collect()
}

/// `cross += sign u u'` and `sum += sign u`.
fn rank_one(cross: &mut DMatrix<f64>, sum: &mut [f64], u: &[f64], sign: f64) {
    for (j, &uj) in u.iter().enumerate() {
        let scaled = sign * uj;
        cross.column_mut(j).iter_mut().zip(u).for_each(|(c, &ui)| *c += ui * scaled);
    }
    sum.iter_mut().zip(u).for_each(|(s, &ui)| *s += sign * ui);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::testing::*;

    fn view(market: &crate::env::Market, row: usize) -> MarketView<'_> {
        MarketView::new(market, row, &[], &[])
    }

    #[test]
    fn sliding_sums_give_the_recomputed_estimate() {
        let market = synth_market(12, 700, 3);
        for (kind, window, every) in [
            (ReturnKind::Simple, 60, 1),
            (ReturnKind::Log, 60, 3),
            (ReturnKind::Simple, 252, 1),
            (ReturnKind::Simple, 40, 17),
        ] {
            let mut rolling = RollingMoments::default();
            for row in (1..market.n_periods()).step_by(every) {
                let fast = rolling.estimate(&view(&market, row), window, kind);
                let slow = recomputed(&view(&market, row), window, kind);
                let (Some(fast), Some(slow)) = (fast, slow) else {
                    assert!(row < MIN_HISTORY, "row {row}");
                    continue;
                };
                let scale = slow.covariance.amax();
                let gap = (&fast.covariance - &slow.covariance).amax();
                assert!(gap <= 1e-12 * scale, "{kind:?} window {window} row {row}: {gap} of {scale}");
                for (f, s) in fast.mean.iter().zip(&slow.mean) {
                    assert!((f - s).abs() <= 1e-15, "{kind:?} row {row}: mean {f} vs {s}");
                }
            }
        }
    }

    #[test]
    fn a_jump_back_or_a_reset_recomputes() {
        let market = synth_market(5, 300, 4);
        let mut rolling = RollingMoments::default();
        let at =
            |rolling: &mut RollingMoments, row| rolling.estimate(&view(&market, row), 60, ReturnKind::Simple);
        for row in 100..120 {
            at(&mut rolling, row);
        }
        let back = at(&mut rolling, 90).unwrap();
        let fresh = at(&mut RollingMoments::default(), 90).unwrap();
        assert_eq!(back.covariance, fresh.covariance);
        assert!(at(&mut rolling, MIN_HISTORY - 1).is_none());
    }
}
