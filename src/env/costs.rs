//! Transaction costs of moving a portfolio from its drifted weights `w'` (after prices moved) to
//! the target weights `w`. Index 0 of every weight vector is cash, which trades for free.
//!
//! Conventions (Jiang, Xu and Liang 2017, section 2.3): selling assets worth `s` yields
//! `(1 - c_s) s` in cash; buying assets worth `b` costs `b / (1 - c_p)` in cash. Paying for the
//! trades shrinks the portfolio by the transaction remainder factor `mu`: its value after trading
//! is `mu` times its value before.

use serde::{Deserialize, Serialize};

use crate::data::InvalidSetting;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostModel {
    /// `mu` solved exactly (to machine precision) by Jiang et al.'s fixed-point iteration.
    Exact,
    /// The first-order approximation `mu = 1 - c_s * sold - c_p * bought`, with `sold` and
    /// `bought` measured between `w'` and `w`.
    Proportional,
}

impl CostModel {
    /// As a config writes it.
    pub fn name(self) -> &'static str {
        match self {
            CostModel::Exact => "exact",
            CostModel::Proportional => "proportional",
        }
    }
}

/// The bound on each cost rate ([`CostConfig::validate`]).
pub const MAX_RATE: f64 = 0.5;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostConfig {
    pub model: CostModel,
    /// Commission rate on purchases, `c_p` (0.0025 = 0.25%, the rate of Jiang et al.).
    pub buy: f64,
    /// Commission rate on sales, `c_s`.
    pub sell: f64,
}

impl Default for CostConfig {
    fn default() -> Self {
        Self { model: CostModel::Exact, buy: 0.0025, sell: 0.0025 }
    }
}

impl CostConfig {
    pub fn free() -> Self {
        Self { model: CostModel::Exact, buy: 0.0, sell: 0.0 }
    }

    /// Rates below one half: a 50% commission is no market's, and below it both models stay
    /// sound. The proportional factor `1 - c_s sold - c_p bought` stays positive (with
    /// `c_s + c_p >= 1` a full rotation leaves no wealth, or less than none), and the exact one's
    /// iteration contracts fast enough to reach machine precision (near a rate of 1 it barely
    /// contracts, and stops short by up to 1e-2).
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let rates = [("costs.buy", self.buy), ("costs.sell", self.sell)];
        if let Some((setting, _)) = rates.into_iter().find(|(_, rate)| !(0.0..MAX_RATE).contains(rate)) {
            return Err(InvalidSetting::new(
                setting,
                format!("cost rates must be in [0, {MAX_RATE}), got buy {} and sell {}", self.buy, self.sell),
            ));
        }
        Ok(())
    }

    /// The transaction remainder factor for trading from `drifted` to `target`.
    pub fn remainder_factor(&self, drifted: &[f64], target: &[f64]) -> f64 {
        match self.model {
            CostModel::Exact => remainder_factor_exact(drifted, target, self.buy, self.sell),
            CostModel::Proportional => remainder_factor_proportional(drifted, target, self.buy, self.sell),
        }
    }
}

/// Jiang, Xu and Liang (2017), equation (14): `mu` is the fixed point of
///
/// `mu = [1 - c_p w'_0 - (c_s + c_p - c_s c_p) sum_{i>=1} (w'_i - mu w_i)^+] / (1 - c_p w_0)`,
///
/// iterated from the proportional estimate; the map is monotone and contracting, and the loop
/// stops once an iteration no longer moves `mu` by more than `1e-15`.
pub fn remainder_factor_exact(drifted: &[f64], target: &[f64], buy: f64, sell: f64) -> f64 {
    debug_assert_eq!(drifted.len(), target.len());
    if buy == 0.0 && sell == 0.0 {
        return 1.0;
    }
    let combined = sell + buy - sell * buy;
    let denominator = 1.0 - buy * target[0];
    let mut mu = remainder_factor_proportional(drifted, target, buy, sell);
    for _ in 0..200 {
        let sold: f64 = drifted[1..].iter().zip(&target[1..]).map(|(&d, &w)| (d - mu * w).max(0.0)).sum();
        let next = (1.0 - buy * drifted[0] - combined * sold) / denominator;
        if (next - mu).abs() <= 1e-15 {
            return next;
        }
        mu = next;
    }
    mu
}

pub fn remainder_factor_proportional(drifted: &[f64], target: &[f64], buy: f64, sell: f64) -> f64 {
    // Branch-free (it runs at every step of every lane): adding +0.0 leaves a sum unchanged, so
    // this is bit for bit the sum over only the assets sold, and over only those bought.
    let (mut sold, mut bought) = (0.0f64, 0.0f64);
    for (&d, &w) in drifted[1..].iter().zip(&target[1..]) {
        sold += (d - w).max(0.0);
        bought += (w - d).max(0.0);
    }
    1.0 - sell * sold - buy * bought
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_that_could_leave_no_wealth_are_refused() {
        let config = |buy: f64, sell: f64| CostConfig { model: CostModel::Proportional, buy, sell };
        assert!(config(0.49, 0.49).validate().is_ok());
        assert!(config(0.5, 0.1).validate().is_err() && config(0.1, 0.7).validate().is_err());
        // Just inside the bound a full rotation still leaves something: 1 - 0.49 - 0.49.
        let mu = remainder_factor_proportional(&[0.0, 1.0, 0.0], &[0.0, 0.0, 1.0], 0.49, 0.49);
        assert!(mu > 0.0, "{mu}");
    }

    /// Cash left after trading from `drifted` to `mu * target`, minus the cash the target holds:
    /// zero exactly at the true `mu`. Written from the bookkeeping, not from equation (14).
    fn cash_surplus(drifted: &[f64], target: &[f64], mu: f64, buy: f64, sell: f64) -> f64 {
        let mut cash = drifted[0];
        for (&d, &w) in drifted[1..].iter().zip(&target[1..]) {
            let trade = mu * w - d;
            if trade < 0.0 {
                cash += (1.0 - sell) * -trade;
            } else {
                cash -= trade / (1.0 - buy);
            }
        }
        cash - mu * target[0]
    }

    fn brute_force_mu(drifted: &[f64], target: &[f64], buy: f64, sell: f64) -> f64 {
        // The surplus falls as mu grows (more value must be held after trading): bisect.
        let (mut lo, mut hi) = (0.0, 1.0);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if cash_surplus(drifted, target, mid, buy, sell) > 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }

    #[test]
    fn exact_mu_matches_brute_force_bookkeeping() {
        let cases: [(&[f64], &[f64], f64, f64); 5] = [
            (&[0.2, 0.5, 0.3], &[0.0, 0.2, 0.8], 0.0025, 0.0025),
            (&[0.0, 1.0, 0.0], &[0.0, 0.0, 1.0], 0.01, 0.02),
            (&[0.5, 0.25, 0.25], &[0.1, 0.3, 0.6], 0.05, 0.0),
            (&[0.1, 0.1, 0.1, 0.7], &[0.7, 0.1, 0.1, 0.1], 0.0, 0.03),
            (&[0.25, 0.25, 0.25, 0.25], &[0.25, 0.25, 0.25, 0.25], 0.01, 0.01),
        ];
        for (drifted, target, buy, sell) in cases {
            let exact = remainder_factor_exact(drifted, target, buy, sell);
            let brute = brute_force_mu(drifted, target, buy, sell);
            assert!(
                (exact - brute).abs() < 1e-12,
                "{drifted:?} -> {target:?}: exact {exact}, brute force {brute}"
            );
            assert!(cash_surplus(drifted, target, exact, buy, sell).abs() < 1e-12);
        }
    }

    #[test]
    fn a_full_switch_between_two_assets_costs_by_hand() {
        // Sell everything of asset 1 (value 1) at 1%: cash 0.99; buy asset 2 at 2%:
        // holding 0.99 * 0.98 = 0.9702 = mu.
        let mu = remainder_factor_exact(&[0.0, 1.0, 0.0], &[0.0, 0.0, 1.0], 0.02, 0.01);
        assert!((mu - 0.9702).abs() < 1e-14, "{mu}");
    }

    #[test]
    fn no_trade_costs_nothing_and_proportional_is_close_for_small_rates() {
        let w = [0.1, 0.4, 0.5];
        assert_eq!(remainder_factor_exact(&w, &w, 0.01, 0.01), 1.0);
        let (d, t) = ([0.2, 0.5, 0.3], [0.0, 0.2, 0.8]);
        let exact = remainder_factor_exact(&d, &t, 0.0025, 0.0025);
        let approx = remainder_factor_proportional(&d, &t, 0.0025, 0.0025);
        // sold 0.3, bought 0.5: approximation 1 - 0.0025 * 0.8 = 0.998.
        assert!((approx - 0.998).abs() < 1e-15);
        assert!((exact - approx).abs() < 1e-4 && exact != approx);
    }
}
