//! Rewards: what the agent is told after each step. All are functions of the portfolio's net
//! growth over the step (value after / value before, costs included) and, for the risk-adjusted
//! ones, of running statistics kept per episode in [`RewardState`].

use serde::{Deserialize, Serialize};

use crate::data::InvalidSetting;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields, from = "RewardTable")]
pub enum RewardConfig {
    #[default]
    /// `ln(V_t / V_{t-1})`: maximizing its sum maximizes final wealth (Kelly; Jiang et al. 2017).
    LogReturn,
    /// Moody and Saffell's differential Sharpe ratio (1998, "Reinforcement learning for trading",
    /// eq. 4): the first-order effect of this step's return `R_t` on an exponentially weighted
    /// Sharpe ratio with adaptation rate `eta`,
    /// `D_t = (B_{t-1} dA_t - A_{t-1} dB_t / 2) / (B_{t-1} - A_{t-1}^2)^{3/2}`,
    /// `dA_t = R_t - A_{t-1}`, `dB_t = R_t^2 - B_{t-1}`, with `R_t` the simple net return.
    /// Zero while the running variance is still zero.
    DifferentialSharpe {
        #[serde(default = "default_eta")]
        eta: f64,
    },
    /// Moody and Saffell's differential downside deviation ratio (2001, "Learning to trade via
    /// direct reinforcement", eq. 15), a differential Sortino ratio:
    /// `D_t = (R_t - A_{t-1}/2) / DD_{t-1}` when `R_t > 0`, otherwise
    /// `(DD_{t-1}^2 (R_t - A_{t-1}/2) - A_{t-1} R_t^2 / 2) / DD_{t-1}^3`, with
    /// `DD^2` the exponentially weighted mean of `min(R, 0)^2`, floored at `downside_floor^2`
    /// so that an episode that has not lost yet still gets a finite signal.
    DownsideRisk {
        #[serde(default = "default_eta")]
        eta: f64,
        #[serde(default = "default_downside_floor")]
        downside_floor: f64,
    },
    /// Mean-variance utility of the log return `r_t`: `r_t - (risk_aversion / 2) (r_t - m_{t-1})^2`,
    /// with `m` the exponentially weighted mean log return (rate `eta`).
    MeanVariance {
        risk_aversion: f64,
        #[serde(default = "default_eta")]
        eta: f64,
    },
    /// Log return minus `penalty` times the current drawdown `1 - V_t / max_{s<=t} V_s`.
    DrawdownPenalty { penalty: f64 },
    /// The Sharpe ratio of a batch of consecutive log returns, `mean(r) / std(r)`: a batch
    /// objective that only the direct learner optimizes (Zhang, Zohren and Roberts 2020). A step
    /// of the environment reports its log return; PPO and REINFORCE refuse it, as they need a
    /// per-step reward (use `differential_sharpe`).
    Sharpe,
    /// The Sortino-style downside ratio of a batch, `mean(r) / sqrt(mean(min(r, 0)^2))`: a batch
    /// objective, as for `sharpe` (per-step analogue: `downside_risk`).
    Sortino,
}

/// What a `[reward]` table may hold. serde lets an internally tagged unit variant ignore every
/// other key, so `eta = 0.5` beside `kind = "log_return"`, or a `risk_profile` line that TOML
/// puts into `[reward]` because it follows that header, would be dropped without a word; a
/// struct variant with no fields refuses them.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RewardTable {
    LogReturn {},
    DifferentialSharpe {
        #[serde(default = "default_eta")]
        eta: f64,
    },
    DownsideRisk {
        #[serde(default = "default_eta")]
        eta: f64,
        #[serde(default = "default_downside_floor")]
        downside_floor: f64,
    },
    MeanVariance {
        risk_aversion: f64,
        #[serde(default = "default_eta")]
        eta: f64,
    },
    DrawdownPenalty {
        penalty: f64,
    },
    Sharpe {},
    Sortino {},
}

impl From<RewardTable> for RewardConfig {
    fn from(table: RewardTable) -> Self {
        match table {
            RewardTable::LogReturn {} => RewardConfig::LogReturn,
            RewardTable::DifferentialSharpe { eta } => RewardConfig::DifferentialSharpe { eta },
            RewardTable::DownsideRisk { eta, downside_floor } => {
                RewardConfig::DownsideRisk { eta, downside_floor }
            }
            RewardTable::MeanVariance { risk_aversion, eta } => {
                RewardConfig::MeanVariance { risk_aversion, eta }
            }
            RewardTable::DrawdownPenalty { penalty } => RewardConfig::DrawdownPenalty { penalty },
            RewardTable::Sharpe {} => RewardConfig::Sharpe,
            RewardTable::Sortino {} => RewardConfig::Sortino,
        }
    }
}

/// Adaptation rate of the exponentially weighted statistics when a config gives none.
pub const DEFAULT_ETA: f64 = 0.01;

fn default_eta() -> f64 {
    DEFAULT_ETA
}

fn default_downside_floor() -> f64 {
    1e-3
}

impl RewardConfig {
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let kind = self.name();
        let require = |ok: bool, setting: &'static str, value: f64, allowed: &str| {
            InvalidSetting::require(ok, setting, &format!("{allowed} for kind = \"{kind}\""), &value)
        };
        let rate = |eta: f64| require(eta > 0.0 && eta <= 1.0, "reward.eta", eta, "in (0, 1]");
        match *self {
            RewardConfig::LogReturn | RewardConfig::Sharpe | RewardConfig::Sortino => Ok(()),
            // At eta = 1 the moving moments are last period's return and its square, whose
            // variance is zero: every reward would be 0.
            RewardConfig::DifferentialSharpe { eta } => {
                require(eta > 0.0 && eta < 1.0, "reward.eta", eta, "in (0, 1)")
            }
            RewardConfig::DownsideRisk { eta, downside_floor } => {
                rate(eta)?;
                require(
                    downside_floor > 0.0 && downside_floor.is_finite(),
                    "reward.downside_floor",
                    downside_floor,
                    "positive and finite",
                )
            }
            RewardConfig::MeanVariance { risk_aversion, eta } => {
                require(
                    risk_aversion >= 0.0 && risk_aversion.is_finite(),
                    "reward.risk_aversion",
                    risk_aversion,
                    "finite and at least 0",
                )?;
                rate(eta)
            }
            RewardConfig::DrawdownPenalty { penalty } => require(
                penalty >= 0.0 && penalty.is_finite(),
                "reward.penalty",
                penalty,
                "finite and at least 0",
            ),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            RewardConfig::LogReturn => "log_return",
            RewardConfig::DifferentialSharpe { .. } => "differential_sharpe",
            RewardConfig::DownsideRisk { .. } => "downside_risk",
            RewardConfig::MeanVariance { .. } => "mean_variance",
            RewardConfig::DrawdownPenalty { .. } => "drawdown_penalty",
            RewardConfig::Sharpe => "sharpe",
            RewardConfig::Sortino => "sortino",
        }
    }

    /// The reward as a config's `[reward]` table writes it, on one line: `mean_variance
    /// (risk_aversion 2, eta 0.01)`.
    pub fn describe(&self) -> String {
        let settings = match *self {
            RewardConfig::DifferentialSharpe { eta } => format!("eta {eta}"),
            RewardConfig::DownsideRisk { eta, downside_floor } => {
                format!("eta {eta}, downside_floor {downside_floor}")
            }
            RewardConfig::MeanVariance { risk_aversion, eta } => {
                format!("risk_aversion {risk_aversion}, eta {eta}")
            }
            RewardConfig::DrawdownPenalty { penalty } => format!("penalty {penalty}"),
            RewardConfig::LogReturn | RewardConfig::Sharpe | RewardConfig::Sortino => String::new(),
        };
        match settings.is_empty() {
            true => self.name().to_string(),
            false => format!("{} ({settings})", self.name()),
        }
    }

    /// Whether the reward is defined only over a batch of returns, with no per-step value that
    /// a learner could credit to one decision.
    pub fn is_batch_only(&self) -> bool {
        matches!(self, RewardConfig::Sharpe | RewardConfig::Sortino)
    }
}

/// Running statistics of one episode.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RewardState {
    /// Exponentially weighted first moment of returns (`A` of Moody and Saffell).
    mean: f64,
    /// Exponentially weighted second moment (`B`) or downside second moment (`DD^2`).
    second: f64,
    peak_value: f64,
}

impl RewardState {
    pub fn new(initial_value: f64) -> Self {
        Self { mean: 0.0, second: 0.0, peak_value: initial_value }
    }

    /// Moody and Saffell's recursions started from `prior`, the returns of the holding periods
    /// just before the episode (all known when it starts), rather than from zero moments. From
    /// zero, the second step's differential Sharpe ratio is about `R_2 / (sqrt(eta) |R_1|)`:
    /// heavy-tailed (values in the tens of thousands at eta 0.01), so the first `1/eta` steps of
    /// every episode would swamp what the learner sees. Other rewards keep no such moments.
    pub fn with_prior(initial_value: f64, config: &RewardConfig, prior: &[f64]) -> Self {
        let mut state = Self::new(initial_value);
        if prior.is_empty() {
            return state;
        }
        let n = prior.len() as f64;
        let second = match config {
            RewardConfig::DifferentialSharpe { .. } => prior.iter().map(|r| r * r).sum::<f64>() / n,
            RewardConfig::DownsideRisk { .. } => prior.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n,
            _ => return state,
        };
        state.mean = prior.iter().sum::<f64>() / n;
        state.second = second;
        state
    }

    /// How many holding periods before an episode [`RewardState::with_prior`] wants: about the
    /// recursion's memory, `1/eta`; none for rewards without running moments.
    pub fn prior_periods(config: &RewardConfig) -> usize {
        match *config {
            RewardConfig::DifferentialSharpe { eta } | RewardConfig::DownsideRisk { eta, .. } => {
                (1.0 / eta).round().max(2.0) as usize
            }
            _ => 0,
        }
    }

    /// The reward for a step whose net growth factor was `growth` and which left the portfolio
    /// worth `value`; updates the running statistics.
    pub fn reward(&mut self, config: &RewardConfig, growth: f64, value: f64) -> f64 {
        self.peak_value = self.peak_value.max(value);
        match *config {
            // A batch objective's learner reads the returns; the step reports the log return.
            RewardConfig::LogReturn | RewardConfig::Sharpe | RewardConfig::Sortino => growth.ln(),
            RewardConfig::DifferentialSharpe { eta } => {
                let r = growth - 1.0;
                let (a, b) = (self.mean, self.second);
                let (da, db) = (r - a, r * r - b);
                let variance = b - a * a;
                let d = if variance > 1e-12 { (b * da - 0.5 * a * db) / variance.powf(1.5) } else { 0.0 };
                self.mean += eta * da;
                self.second += eta * db;
                d
            }
            RewardConfig::DownsideRisk { eta, downside_floor } => {
                let r = growth - 1.0;
                let a = self.mean;
                let dd2 = self.second.max(downside_floor * downside_floor);
                let dd = dd2.sqrt();
                let d = if r > 0.0 {
                    (r - 0.5 * a) / dd
                } else {
                    (dd2 * (r - 0.5 * a) - 0.5 * a * r * r) / (dd2 * dd)
                };
                self.mean += eta * (r - a);
                self.second += eta * (r.min(0.0).powi(2) - self.second);
                d
            }
            RewardConfig::MeanVariance { risk_aversion, eta } => {
                let r = growth.ln();
                let deviation = r - self.mean;
                self.mean += eta * deviation;
                r - 0.5 * risk_aversion * deviation * deviation
            }
            RewardConfig::DrawdownPenalty { penalty } => {
                growth.ln() - penalty * (1.0 - value / self.peak_value)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_differential_sharpe_without_memory_is_refused() {
        assert!(RewardConfig::DifferentialSharpe { eta: 1.0 }.validate().is_err());
        assert!(RewardConfig::DifferentialSharpe { eta: 0.99 }.validate().is_ok());
        assert!(RewardConfig::DownsideRisk { eta: 1.0, downside_floor: 1e-4 }.validate().is_ok());
        // Each refusal names the setting at fault and its value, as the file writes them.
        let refused = |config: RewardConfig| config.validate().unwrap_err().to_string();
        assert_eq!(
            refused(RewardConfig::DifferentialSharpe { eta: 1.0 }),
            "reward.eta must be in (0, 1) for kind = \"differential_sharpe\", got 1"
        );
        assert_eq!(
            refused(RewardConfig::MeanVariance { risk_aversion: -1.0, eta: 0.01 }),
            "reward.risk_aversion must be finite and at least 0 for kind = \"mean_variance\", got -1"
        );
        assert!(
            refused(RewardConfig::MeanVariance { risk_aversion: 1.0, eta: 0.0 }).starts_with("reward.eta")
        );
        assert!(
            refused(RewardConfig::DownsideRisk { eta: 0.1, downside_floor: 0.0 })
                .starts_with("reward.downside_floor")
        );
        assert!(refused(RewardConfig::DrawdownPenalty { penalty: f64::NAN }).contains("got NaN"));
    }

    #[test]
    fn a_reward_is_described_as_its_config_writes_it() {
        assert_eq!(RewardConfig::LogReturn.describe(), "log_return");
        let utility = RewardConfig::MeanVariance { risk_aversion: 2.0, eta: 0.01 };
        assert_eq!(utility.describe(), "mean_variance (risk_aversion 2, eta 0.01)");
        assert_eq!(
            RewardConfig::DrawdownPenalty { penalty: 0.5 }.describe(),
            "drawdown_penalty (penalty 0.5)"
        );
    }

    fn rewards(config: RewardConfig, growths: &[f64]) -> Vec<f64> {
        let mut state = RewardState::new(1.0);
        let mut value = 1.0;
        growths
            .iter()
            .map(|&g| {
                value *= g;
                state.reward(&config, g, value)
            })
            .collect()
    }

    #[test]
    fn every_reward_reads_back_from_the_config_table_it_writes() {
        // Checkpoints save their config, and a config file names the batch objectives too: a
        // variant the `[reward]` table could not read would be neither choosable nor reloadable.
        #[derive(Serialize, Deserialize)]
        struct Config {
            reward: RewardConfig,
        }
        let every = [
            RewardConfig::LogReturn,
            RewardConfig::DifferentialSharpe { eta: 0.2 },
            RewardConfig::DownsideRisk { eta: 0.2, downside_floor: 0.01 },
            RewardConfig::MeanVariance { risk_aversion: 3.0, eta: 0.2 },
            RewardConfig::DrawdownPenalty { penalty: 0.5 },
            RewardConfig::Sharpe,
            RewardConfig::Sortino,
        ];
        for reward in every {
            // No catch-all: a new variant stops the build here until it is listed above.
            match reward {
                RewardConfig::LogReturn
                | RewardConfig::DifferentialSharpe { .. }
                | RewardConfig::DownsideRisk { .. }
                | RewardConfig::MeanVariance { .. }
                | RewardConfig::DrawdownPenalty { .. }
                | RewardConfig::Sharpe
                | RewardConfig::Sortino => {}
            }
            let text = toml::to_string(&Config { reward }).unwrap();
            let read: Config = toml::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(read.reward, reward, "{text}");
        }
    }

    #[test]
    fn log_return_is_the_log_of_growth() {
        assert_eq!(rewards(RewardConfig::LogReturn, &[1.1, 0.9]), vec![1.1f64.ln(), 0.9f64.ln()]);
    }

    #[test]
    fn differential_sharpe_by_hand() {
        // eta = 0.5, returns 0.1 then -0.05 then 0.02.
        // step 1: A=B=0, variance 0 -> 0; A = 0.05, B = 0.005.
        // step 2: R = -0.05, dA = -0.1, dB = 0.0025 - 0.005 = -0.0025, var = 0.005 - 0.0025 = 0.0025
        //   D = (0.005 * -0.1 - 0.5 * 0.05 * -0.0025) / 0.0025^1.5 = (-0.0005 + 0.0000625) / 0.000125 = -3.5
        //   A = 0.05 - 0.05 = 0, B = 0.005 - 0.00125 = 0.00375
        // step 3: R = 0.02, dA = 0.02, dB = 0.0004 - 0.00375 = -0.00335, var = 0.00375
        //   D = (0.00375 * 0.02 - 0) / 0.00375^1.5
        let d = rewards(RewardConfig::DifferentialSharpe { eta: 0.5 }, &[1.1, 0.95, 1.02]);
        assert_eq!(d[0], 0.0);
        assert!((d[1] + 3.5).abs() < 1e-9, "{}", d[1]);
        let expected = 0.00375 * 0.02 / 0.00375f64.powf(1.5);
        assert!((d[2] - expected).abs() < 1e-9, "{} vs {expected}", d[2]);
    }

    #[test]
    fn a_prior_starts_the_moments_where_the_recursion_would_have_them() {
        let prior = [0.01, -0.02, 0.03, 0.0];
        let dsr = RewardConfig::DifferentialSharpe { eta: 0.25 };
        let state = RewardState::with_prior(1.0, &dsr, &prior);
        assert!((state.mean - 0.005).abs() < 1e-15 && (state.second - 0.00035).abs() < 1e-15, "{state:?}");
        let downside = RewardConfig::DownsideRisk { eta: 0.25, downside_floor: 1e-3 };
        let state = RewardState::with_prior(1.0, &downside, &prior);
        assert!((state.mean - 0.005).abs() < 1e-15 && (state.second - 0.0001).abs() < 1e-15, "{state:?}");
        // Step one then follows the formula from those moments: (B dA - A dB / 2) / (B - A^2)^1.5.
        let mut state = RewardState::with_prior(1.0, &dsr, &prior);
        let (a, b, r): (f64, f64, f64) = (0.005, 0.00035, 0.02);
        let expected = (b * (r - a) - 0.5 * a * (r * r - b)) / (b - a * a).powf(1.5);
        assert!((state.reward(&dsr, 1.0 + r, 1.0 + r) - expected).abs() < 1e-9);
        // Rewards without running moments start as before, and so does an empty prior.
        assert_eq!(RewardState::with_prior(1.0, &RewardConfig::LogReturn, &prior), RewardState::new(1.0));
        assert_eq!(RewardState::with_prior(1.0, &dsr, &[]), RewardState::new(1.0));
        assert_eq!(RewardState::prior_periods(&RewardConfig::DifferentialSharpe { eta: 0.01 }), 100);
        assert_eq!(RewardState::prior_periods(&RewardConfig::LogReturn), 0);
    }

    #[test]
    fn downside_risk_by_hand() {
        // eta = 0.5, floor 0.01 (DD^2 floor 1e-4). Returns -0.1, 0.05.
        // step 1: A = 0, DD^2 = max(0, 1e-4) = 1e-4, R = -0.1 <= 0:
        //   D = (1e-4 * -0.1 - 0) / (1e-4 * 0.01) = -1e-5 / 1e-6 = -10
        //   A = -0.05, DD^2 = 0 + 0.5 * (0.01 - 0) = 0.005
        // step 2: R = 0.05 > 0: D = (0.05 + 0.025) / sqrt(0.005)
        let d = rewards(RewardConfig::DownsideRisk { eta: 0.5, downside_floor: 0.01 }, &[0.9, 1.05]);
        assert!((d[0] + 10.0).abs() < 1e-9, "{}", d[0]);
        assert!((d[1] - 0.075 / 0.005f64.sqrt()).abs() < 1e-9, "{}", d[1]);
    }

    #[test]
    fn mean_variance_and_drawdown_by_hand() {
        let r1 = 1.2f64.ln();
        let r2 = 0.5f64.ln();
        let mv = rewards(RewardConfig::MeanVariance { risk_aversion: 2.0, eta: 0.5 }, &[1.2, 0.5]);
        assert!((mv[0] - (r1 - r1 * r1)).abs() < 1e-12);
        let m = 0.5 * r1;
        assert!((mv[1] - (r2 - (r2 - m).powi(2))).abs() < 1e-12);
        // Value 1.2 (peak) then 0.6: drawdown 0.5.
        let dd = rewards(RewardConfig::DrawdownPenalty { penalty: 0.1 }, &[1.2, 0.5]);
        assert!((dd[0] - r1).abs() < 1e-12);
        assert!((dd[1] - (r2 - 0.05)).abs() < 1e-12);
    }
}
