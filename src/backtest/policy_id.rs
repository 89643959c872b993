//! Who a policy is. Reports, pictures and verdicts find the agent and equal weight by this typed
//! identity, never by comparing display names or trusting that the agent comes first. In JSON an
//! identity is its display name (`"equal weight"`, `"agent (seed 2)"`), as reports always wrote.

use serde::{Deserialize, Serialize};

/// A policy in a backtest: a trained agent or a classic baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyId {
    /// A trained agent; `seed` tells several seeds' agents apart where they stand side by side.
    Agent {
        seed: Option<u64>,
    },
    /// Several seeds' agents deployed as one: the average of their weights.
    Ensemble,
    Baseline(BaselineId),
}

/// The classic strategies folio sets beside every agent (`crate::baselines` implements them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BaselineId {
    EqualWeight,
    BuyAndHold,
    BestAsset,
    Bcrp,
    MinVariance,
    MaxSharpe,
    InverseVolatility,
    VolatilityManaged,
    TrendFollowing,
    Olmar,
    Pamr,
    Eg,
    Ons,
}

impl PolicyId {
    /// The agent of a single run.
    pub const AGENT: PolicyId = PolicyId::Agent { seed: None };
    pub const EQUAL_WEIGHT: PolicyId = PolicyId::Baseline(BaselineId::EqualWeight);

    /// A trained policy: one seed's agent or an ensemble of them.
    pub fn is_agent(&self) -> bool {
        matches!(self, PolicyId::Agent { .. } | PolicyId::Ensemble)
    }

    /// Whether the policy reads the evaluation period in advance: a benchmark, not a strategy.
    pub fn uses_hindsight(&self) -> bool {
        matches!(self, PolicyId::Baseline(b) if b.uses_hindsight())
    }
}

impl BaselineId {
    /// Every baseline, in report order.
    pub const ALL: [BaselineId; 13] = [
        BaselineId::EqualWeight,
        BaselineId::BuyAndHold,
        BaselineId::BestAsset,
        BaselineId::Bcrp,
        BaselineId::MinVariance,
        BaselineId::MaxSharpe,
        BaselineId::InverseVolatility,
        BaselineId::VolatilityManaged,
        BaselineId::TrendFollowing,
        BaselineId::Olmar,
        BaselineId::Pamr,
        BaselineId::Eg,
        BaselineId::Ons,
    ];

    /// The name reports print.
    pub fn name(&self) -> &'static str {
        match self {
            BaselineId::EqualWeight => "equal weight",
            BaselineId::BuyAndHold => "buy and hold",
            BaselineId::BestAsset => "best asset (hindsight)",
            BaselineId::Bcrp => "BCRP (hindsight)",
            BaselineId::MinVariance => "min variance",
            BaselineId::MaxSharpe => "max Sharpe",
            BaselineId::InverseVolatility => "inverse volatility",
            BaselineId::VolatilityManaged => "volatility managed",
            BaselineId::TrendFollowing => "trend following",
            BaselineId::Olmar => "OLMAR",
            BaselineId::Pamr => "PAMR",
            BaselineId::Eg => "EG",
            BaselineId::Ons => "ONS",
        }
    }

    /// The name a user types (`--strategy min-variance`).
    pub fn key(&self) -> &'static str {
        match self {
            BaselineId::EqualWeight => "equal-weight",
            BaselineId::BuyAndHold => "buy-and-hold",
            BaselineId::BestAsset => "best-asset",
            BaselineId::Bcrp => "bcrp",
            BaselineId::MinVariance => "min-variance",
            BaselineId::MaxSharpe => "max-sharpe",
            BaselineId::InverseVolatility => "inverse-volatility",
            BaselineId::VolatilityManaged => "volatility-managed",
            BaselineId::TrendFollowing => "trend-following",
            BaselineId::Olmar => "olmar",
            BaselineId::Pamr => "pamr",
            BaselineId::Eg => "eg",
            BaselineId::Ons => "ons",
        }
    }

    /// Best asset and BCRP read the evaluation range in advance: benchmarks, not strategies.
    pub fn uses_hindsight(&self) -> bool {
        matches!(self, BaselineId::BestAsset | BaselineId::Bcrp)
    }
}

/// A baseline name nobody knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown baseline '{given}'; valid names: {}", BaselineId::ALL.map(|b| b.key()).join(", "))]
pub struct UnknownBaseline {
    pub given: String,
}

/// A user's name for a baseline: its key, in any case, with `_` for `-` (`min_variance`).
impl std::str::FromStr for BaselineId {
    type Err = UnknownBaseline;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let key = text.trim().to_ascii_lowercase().replace('_', "-");
        BaselineId::ALL
            .into_iter()
            .find(|b| b.key() == key)
            .ok_or_else(|| UnknownBaseline { given: text.to_string() })
    }
}

/// Names honour width and alignment (`{:<24}`), as strings do, so tables line up.
impl std::fmt::Display for BaselineId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

impl std::fmt::Display for PolicyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyId::Agent { seed: None } => f.pad("agent"),
            PolicyId::Agent { seed: Some(seed) } => f.pad(&format!("agent (seed {seed})")),
            PolicyId::Ensemble => f.pad("agent (ensemble)"),
            PolicyId::Baseline(baseline) => f.pad(baseline.name()),
        }
    }
}

/// A display name that is no policy's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{given}' names no policy (expected agent, agent (seed N), agent (ensemble) or a baseline's name)")]
pub struct UnknownPolicy {
    pub given: String,
}

/// The inverse of `Display`: reports read back name their policies as they were written.
impl std::str::FromStr for PolicyId {
    type Err = UnknownPolicy;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "agent" => return Ok(PolicyId::AGENT),
            "agent (ensemble)" => return Ok(PolicyId::Ensemble),
            _ => {}
        }
        let seed = text.strip_prefix("agent (seed ").and_then(|rest| rest.strip_suffix(')'));
        if let Some(seed) = seed.and_then(|s| s.parse().ok()) {
            return Ok(PolicyId::Agent { seed: Some(seed) });
        }
        BaselineId::ALL
            .into_iter()
            .find(|b| b.name() == text)
            .map(PolicyId::Baseline)
            .ok_or_else(|| UnknownPolicy { given: text.to_string() })
    }
}

impl Serialize for PolicyId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PolicyId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_as_the_identity_they_print() {
        let mut all: Vec<PolicyId> = BaselineId::ALL.into_iter().map(PolicyId::Baseline).collect();
        all.extend([
            PolicyId::AGENT,
            PolicyId::Agent { seed: Some(0) },
            PolicyId::Agent { seed: Some(17) },
            PolicyId::Ensemble,
        ]);
        for id in all {
            assert_eq!(id.to_string().parse::<PolicyId>(), Ok(id));
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(serde_json::from_str::<PolicyId>(&json).unwrap(), id, "{json}");
        }
        assert!("agent (seed x)".parse::<PolicyId>().is_err());
        assert_eq!(serde_json::to_string(&PolicyId::EQUAL_WEIGHT).unwrap(), "\"equal weight\"");
        assert_eq!(format!("[{:<16}]", PolicyId::Agent { seed: Some(2) }), "[agent (seed 2)  ]");
    }

    #[test]
    fn users_name_baselines_by_key_in_any_case() {
        for b in BaselineId::ALL {
            assert_eq!(b.key().parse::<BaselineId>(), Ok(b));
            assert_eq!(b.key().to_uppercase().replace('-', "_").parse::<BaselineId>(), Ok(b));
        }
        let error = "momentum".parse::<BaselineId>().unwrap_err().to_string();
        assert!(error.contains("momentum") && error.contains("min-variance"), "{error}");
        let hindsight: Vec<BaselineId> = BaselineId::ALL.into_iter().filter(|b| b.uses_hindsight()).collect();
        assert_eq!(hindsight, [BaselineId::BestAsset, BaselineId::Bcrp]);
        assert!(hindsight.iter().all(|b| b.name().contains("hindsight")));
    }
}
