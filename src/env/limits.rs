//! Allocation limits: a cap on each asset's weight and a floor under cash, enforced on every
//! target the environment trades to, so that agents and baselines live under the same mandate.
//!
//! The projection onto `{cash >= min_cash, every asset <= max_weight}`:
//! 1. clip every asset above the cap to the cap and hand the excess to the assets still below it,
//!    pro rata to their weights; repeat (an asset pushed over the cap is clipped next pass).
//!    Excess that no asset can take (all capped, or the rest hold nothing) goes to cash. Each
//!    pass caps at least one more asset or changes nothing, so `N` passes always suffice.
//! 2. if cash is below the floor, raise it to the floor and scale the assets down in proportion
//!    (which keeps every asset under its cap).
//!
//! The excess goes to the other assets rather than to cash because the cap limits
//! concentration, not market exposure: an agent that wants 90% in stocks keeps 90% in stocks,
//! spread wider. Feasible weights are left untouched, and projecting twice changes nothing.
//!
//! Limits bind at each rebalancing decision; between decisions prices move the weights.
//!
//! [`project_tensor`] is the same projection in burn tensor ops, for the direct learner, which
//! differentiates through the weights it trades to.

use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use crate::data::InvalidSetting;

/// Assets below the cap that together hold less than this take no excess (it goes to cash):
/// spreading it pro rata over almost nothing is noise, and the tensor version must not divide by
/// zero.
pub const NEGLIGIBLE: f64 = 1e-12;

/// Allocation limits; the default is none.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest weight of any single asset, in (0, 1].
    pub max_weight: f64,
    /// Smallest weight of cash, in [0, 1).
    pub min_cash: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self::NONE
    }
}

impl Limits {
    pub const NONE: Limits = Limits { max_weight: 1.0, min_cash: 0.0 };

    pub fn is_none(&self) -> bool {
        *self == Self::NONE
    }

    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if !(self.max_weight > 0.0 && self.max_weight <= 1.0) {
            return Err(InvalidSetting::new(
                "limits.max_weight",
                format!("limits.max_weight must be in (0, 1], got {}", self.max_weight),
            ));
        }
        if !(self.min_cash >= 0.0 && self.min_cash < 1.0) {
            return Err(InvalidSetting::new(
                "limits.min_cash",
                format!("limits.min_cash must be in [0, 1), got {}", self.min_cash),
            ));
        }
        Ok(())
    }

    /// The cash a portfolio of `n_assets` must hold at least: the floor, or more when the capped
    /// assets cannot hold the rest (`min_cash + n_assets * max_weight < 1`).
    pub fn forced_cash(&self, n_assets: usize) -> f64 {
        self.min_cash.max(1.0 - n_assets as f64 * self.max_weight).clamp(0.0, 1.0)
    }

    /// The limits in words, for reports, and with `n_assets` known, the cash they force.
    pub fn describe(&self, n_assets: Option<usize>) -> String {
        if self.is_none() {
            return "no allocation limits".into();
        }
        let mut text = format!(
            "at most {:.0}% per asset, at least {:.0}% cash",
            100.0 * self.max_weight,
            100.0 * self.min_cash
        );
        let Some(n_assets) = n_assets else { return text };
        let forced = self.forced_cash(n_assets);
        if forced > self.min_cash + 1e-12 {
            text.push_str(&format!(
                " ({n_assets} assets capped at {:.0}% hold at most {:.0}%: the other {:.0}% stays in cash)",
                100.0 * self.max_weight,
                100.0 * n_assets as f64 * self.max_weight,
                100.0 * forced
            ));
        }
        text
    }

    /// Project `weights` (cash first, long-only, summing to one) onto the limits, in place.
    pub fn project(&self, weights: &mut [f64]) {
        let (cash, assets) = weights.split_first_mut().expect("weights hold cash");
        if self.max_weight < 1.0 {
            for _ in 0..assets.len() {
                let excess: f64 = assets.iter().map(|w| (w - self.max_weight).max(0.0)).sum();
                if excess <= 0.0 {
                    break;
                }
                let free: f64 = assets.iter().filter(|&&w| w < self.max_weight).sum();
                let rate = if free > NEGLIGIBLE { excess / free } else { 0.0 };
                for w in assets.iter_mut() {
                    *w = if *w < self.max_weight { *w + rate * *w } else { self.max_weight };
                }
                if rate == 0.0 {
                    *cash += excess;
                }
            }
        }
        if *cash < self.min_cash {
            let scale = (1.0 - self.min_cash) / (1.0 - *cash);
            assets.iter_mut().for_each(|w| *w *= scale);
            *cash = self.min_cash;
        }
    }
}

/// [`Limits::project`] on a batch of weights `[batch, cash + assets]`, differentiable: the same
/// passes in tensor ops, always all `N` of them (a pass with no excess changes nothing).
///
/// # Shapes
/// `weights`: `[batch, 1 + N]`, rows on the simplex; returns the same shape.
pub fn project_tensor(weights: Tensor<2>, limits: &Limits) -> Tensor<2> {
    let [batch, width] = weights.dims();
    let n = width - 1;
    let mut cash = weights.clone().narrow(1, 0, 1);
    let mut assets = weights.narrow(1, 1, n);
    if limits.max_weight < 1.0 {
        let cap = limits.max_weight as f32;
        for _ in 0..n {
            let excess = relu(assets.clone().sub_scalar(cap)).sum_dim(1); // [batch, 1]
            let below = assets.clone().lower_elem(cap).float();
            let free_weights = assets.clone() * below.clone();
            let free = free_weights.clone().sum_dim(1);
            // Rows where no asset below the cap holds anything hand their excess to cash.
            let has_free = free.clone().greater_elem(NEGLIGIBLE as f32).float();
            let handed = excess.clone() * has_free;
            let share = free_weights / free.clamp_min(NEGLIGIBLE as f32);
            assets = assets.clamp_max(cap) + share * handed.clone();
            cash = cash + excess - handed;
        }
    }
    if limits.min_cash > 0.0 {
        let floor = limits.min_cash as f32;
        let short = cash.clone().lower_elem(floor).float(); // [batch, 1]
        // scale = (1 - floor) / (1 - cash) where cash is short of the floor, else 1. Where cash is
        // short, 1 - cash > 1 - floor, so clamping there only keeps the unused branch (cash near
        // 1) finite, and its gradient with it.
        let scale =
            (cash.clone().neg().add_scalar(1.0).clamp_min(1.0 - floor).recip().mul_scalar(1.0 - floor) - 1.0)
                * short.clone()
                + 1.0;
        assets = assets * scale;
        cash = cash.clone() + (cash.neg().add_scalar(floor)) * short;
    }
    let projected = Tensor::cat(vec![cash, assets], 1);
    debug_assert_eq!(projected.dims(), [batch, width]);
    projected
}
