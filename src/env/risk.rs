//! Risk profiles: an investor's answers (horizon, tolerated loss, income need) pick a profile,
//! and the profile sets what the agent optimizes (the reward's risk aversion) and what it may
//! hold (the allocation limits). Training and evaluation apply both.
//!
//! | profile | risk aversion | max weight per asset | min cash | loss in a 50% crash at the floor, at most |
//! |---|---|---|---|---|
//! | conservative | 5 | 10% | 50% | 29.3% |
//! | balanced | 2.5 | 20% | 20% | 42.6% |
//! | aggressive | 1 | 40% | 0% | 50% |
//!
//! Why these numbers:
//! - **Risk aversion** `lambda` of the mean-variance utility `E[r] - (lambda / 2) Var[r]`. With
//!   one risky asset its optimal share is Merton's `(mu - r_f) / (lambda sigma^2)` (Merton 1969),
//!   whatever the period length. With the US equity premium near 6% a year and volatility near
//!   20% (`sigma^2 = 0.04`) that is `1.5 / lambda`: lambda 5 holds 30% in stocks (the classic
//!   conservative 30/70 mix), 2.5 holds 60% (the 60/40 balanced portfolio), 1 wants 150%, i.e.
//!   everything a long-only portfolio allows. 1 to 10 is the range of relative risk aversion
//!   that surveys and asset-pricing studies find plausible.
//! - **Minimum cash** bounds the damage of a market-wide crash: equities lost about 50% peak
//!   to trough in 2000-02 and 2007-09 (S&P 500: -49%, -57%). A portfolio with cash `c` loses
//!   `(1 - c)` of a fall that comes in one period, but a crash takes months, and a portfolio
//!   rebalanced back to its cash floor buys assets as they fall. Over any path, each period's
//!   growth `c + (1 - c) r` is at least `r^(1 - c)` (weighted AM-GM), so the loss is at most
//!   `1 - 0.5^(1 - c)`, approached when the fall is spread over many rebalancings: 29.3%
//!   conservative, 42.6% balanced, 50% aggressive. These bounds are the thresholds the
//!   questionnaire holds the tolerated loss against. They hold for a portfolio kept at its cash
//!   floor, the most invested one the profile allows. An agent that moves cash in and out can
//!   lose more by timing the swings badly: at the floor on the way down and in cash for the
//!   rebounds, an index that falls 40%, rebounds 50% and falls 44.4% (50% peak to trough) costs
//!   the conservative profile 37.8%. No limit on holdings bounds the losses of bad timing.
//! - **Maximum weight per asset** bounds the damage of one company failing (Enron, Lehman: -100%
//!   in months): 10% is the UCITS single-issuer limit for retail funds, 20% is the limit of
//!   diversified index funds, and 40% keeps even an aggressive agent from betting on one name.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::data::InvalidSetting;
use crate::env::ConfigError;
use crate::env::{Limits, RewardConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskProfile {
    Conservative,
    Balanced,
    Aggressive,
}

impl RiskProfile {
    pub const ALL: [RiskProfile; 3] =
        [RiskProfile::Conservative, RiskProfile::Balanced, RiskProfile::Aggressive];

    pub fn name(&self) -> &'static str {
        match self {
            RiskProfile::Conservative => "conservative",
            RiskProfile::Balanced => "balanced",
            RiskProfile::Aggressive => "aggressive",
        }
    }

    /// The mean-variance risk aversion `lambda` (see the module documentation).
    pub fn risk_aversion(&self) -> f64 {
        match self {
            RiskProfile::Conservative => 5.0,
            RiskProfile::Balanced => 2.5,
            RiskProfile::Aggressive => 1.0,
        }
    }

    /// The reward of stochastic learners: mean-variance utility of the log return with this
    /// profile's risk aversion (the direct learner reads the same `lambda` from it).
    pub fn reward(&self) -> RewardConfig {
        RewardConfig::MeanVariance { risk_aversion: self.risk_aversion(), eta: crate::env::DEFAULT_ETA }
    }

    pub fn limits(&self) -> Limits {
        match self {
            RiskProfile::Conservative => Limits { max_weight: 0.10, min_cash: 0.50 },
            RiskProfile::Balanced => Limits { max_weight: 0.20, min_cash: 0.20 },
            RiskProfile::Aggressive => Limits { max_weight: 0.40, min_cash: 0.0 },
        }
    }

    /// The largest loss of a portfolio kept at this profile's cash floor when every asset falls
    /// by half together, however slowly and however often it rebalances back to the floor:
    /// `1 - 0.5^(1 - min_cash)` (see the module documentation, also for why a policy that
    /// times the market can lose more). A fall in one period costs less, `(1 - min_cash) * 0.5`.
    pub fn crash_loss(&self) -> f64 {
        1.0 - (1.0 - CRASH_FALL).powf(1.0 - self.limits().min_cash)
    }
}

impl std::fmt::Display for RiskProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The market-wide fall the minimum cash is sized against: about what US equities lost peak to
/// trough in 2000-02 and 2007-09.
pub const CRASH_FALL: f64 = 0.5;

/// An investor's answers, from a TOML file:
///
/// ```toml
/// horizon_years = 10     # years until the money is needed
/// tolerated_loss = 0.25  # largest peak-to-trough fall the investor accepts
/// income_need = 0.04     # fraction of wealth withdrawn per year
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Questionnaire {
    /// Years until the money is needed, in (0, 100].
    pub horizon_years: f64,
    /// The largest peak-to-trough fall the investor accepts, as a fraction in (0, 1).
    pub tolerated_loss: f64,
    /// Fraction of wealth withdrawn per year, in [0, 1).
    pub income_need: f64,
}

/// Which profile each answer allows, and the profile that results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Assessment {
    pub by_horizon: RiskProfile,
    pub by_tolerated_loss: RiskProfile,
    pub by_income_need: RiskProfile,
    /// The most cautious of the three.
    pub profile: RiskProfile,
}

impl Questionnaire {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = crate::files::read_text_or_bundled(path)
            .map_err(|source| ConfigError::Io { path: path.into(), source })?;
        let answers: Questionnaire = toml::from_str(&text)
            .map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })?;
        answers.validate().map_err(|source| ConfigError::setting(path, &text, source))?;
        Ok(answers)
    }

    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if !(self.horizon_years > 0.0 && self.horizon_years <= 100.0) {
            return Err(InvalidSetting::new(
                "horizon_years",
                format!("horizon_years must be in (0, 100] years, got {}", self.horizon_years),
            ));
        }
        if !(self.tolerated_loss > 0.0 && self.tolerated_loss < 1.0) {
            return Err(InvalidSetting::new(
                "tolerated_loss",
                format!(
                    "tolerated_loss must be a fraction in (0, 1) (0.25 for a 25% fall), got {}",
                    self.tolerated_loss
                ),
            ));
        }
        if !(self.income_need >= 0.0 && self.income_need < 1.0) {
            return Err(InvalidSetting::new(
                "income_need",
                format!(
                    "income_need must be a fraction of wealth per year in [0, 1) (0.04 for 4%), got {}",
                    self.income_need
                ),
            ));
        }
        Ok(())
    }

    /// Score the answers. Each answer allows a profile, and the investor gets the most cautious
    /// of them, as suitability rules require: a long horizon does not make a loss the investor
    /// cannot bear acceptable.
    ///
    /// - **Horizon**: under 3 years, a bear market (US equities: 1 to 2 years down, about as long
    ///   to recover) may not be over when the money is needed: conservative. Under 7 years:
    ///   balanced. From 7 years on, the horizon outlasts the recovery of every US bear market
    ///   since 1950 but the 2000-07 one: aggressive.
    /// - **Tolerated loss**: the most aggressive profile whose loss in a 50% crash at its cash
    ///   floor ([`RiskProfile::crash_loss`]) stays within it: aggressive from 50%, balanced from
    ///   42.6%, conservative below (its 29.3% bound may still exceed a smaller tolerance: the
    ///   profile is then the most cautious available, not a guarantee; nor is any bound one for
    ///   an agent that times the market badly).
    /// - **Income need**: up to 2% a year is what large caps pay in dividends, so nothing must be
    ///   sold in a crash: aggressive. Up to 4% is Bengen's (1994) safe withdrawal rate for a
    ///   balanced portfolio: balanced. More means selling into every fall: conservative.
    pub fn assess(&self) -> Assessment {
        use RiskProfile::*;
        let by_horizon = match self.horizon_years {
            h if h < 3.0 => Conservative,
            h if h < 7.0 => Balanced,
            _ => Aggressive,
        };
        let by_tolerated_loss = match self.tolerated_loss {
            l if l >= Aggressive.crash_loss() => Aggressive,
            l if l >= Balanced.crash_loss() => Balanced,
            _ => Conservative,
        };
        let by_income_need = match self.income_need {
            i if i <= 0.02 => Aggressive,
            i if i <= 0.04 => Balanced,
            _ => Conservative,
        };
        let profile = by_horizon.min(by_tolerated_loss).min(by_income_need);
        Assessment { by_horizon, by_tolerated_loss, by_income_need, profile }
    }
}
