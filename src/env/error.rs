//! Errors of configuring and stepping an environment. Every variant names the file or setting
//! involved.

use std::path::PathBuf;

use crate::data::{DataError, InvalidSetting};
use crate::features::NormalizerMismatch;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("config {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("config {}{}: {source}", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Setting {
        path: PathBuf,
        /// The line that writes the setting, when the file writes it (a default has none).
        line: Option<usize>,
        #[source]
        source: InvalidSetting,
    },
}

impl ConfigError {
    /// A setting of the config file at `path`, whose `text` is searched for the line that
    /// writes it (a search space's `search.points` is its `points`).
    pub fn setting(path: &std::path::Path, text: &str, source: InvalidSetting) -> Self {
        let key = source.setting.trim_start_matches("search.");
        let line = crate::env::config::setting_line(text, key);
        Self::Setting { path: path.into(), line, source }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("invalid action: {0}")]
    InvalidAction(String),
    #[error("environment: the price panel has missing prices: select assets and a range first")]
    MissingPrices,
    #[error(
        "environment: the span {from} .. {to} leaves no decisions after a feature warm-up of {warmup} periods (set by [features] window and the features' own windows) and an embargo of {embargo} ([episode] embargo)"
    )]
    NoDecisions { from: String, to: String, warmup: usize, embargo: usize },
    #[error("environment: the period reaches {stamp}, but {early}")]
    AssetEndsEarly { stamp: String, early: crate::data::EarlyEnd },
    #[error("environment: {0}")]
    StampKind(String),
    #[error("environment: span start {start} is after the data's last row ({last})")]
    SpanAfterData { start: String, last: String },
    #[error("environment: span end {end} is before the data's first row ({first})")]
    SpanBeforeData { end: String, first: String },
    #[error("environment: span {from} .. {to} {why}")]
    SpanTooShort { from: String, to: String, why: String },
    #[error("environment: a batch needs at least one episode")]
    EmptyBatch,
    #[error(
        "environment: decision range {first}..{last} is outside the market's observable rows {observable}..{end}"
    )]
    RangeOutsideMarket { first: usize, last: usize, observable: usize, end: usize },
    #[error(
        "environment: an episode of {horizon} decisions every {every} periods ([episode] horizon and rebalance_every) needs {needed} periods, but the range {from} .. {to} has {periods}"
    )]
    EpisodeTooLong { horizon: usize, every: usize, needed: usize, from: String, to: String, periods: usize },
    #[error("environment: the saved state does not fit this batch: {0}")]
    StateMismatch(String),
    #[error("step called after the episode ended; call reset first")]
    EpisodeOver,
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("environment: {0}")]
    Setting(#[from] InvalidSetting),
    #[error("environment: {0}")]
    Features(#[from] NormalizerMismatch),
}

impl EnvError {
    /// Whether the config is what to mend: its spans, windows and episode do not fit the data.
    /// A caller that read the config from a file names it beside such an error.
    pub fn is_config_mistake(&self) -> bool {
        matches!(
            self,
            EnvError::MissingPrices
                | EnvError::NoDecisions { .. }
                | EnvError::AssetEndsEarly { .. }
                | EnvError::StampKind(_)
                | EnvError::SpanAfterData { .. }
                | EnvError::SpanBeforeData { .. }
                | EnvError::SpanTooShort { .. }
                | EnvError::EpisodeTooLong { .. }
                | EnvError::Setting(_)
        )
    }
}

/// Weights that are not a long-only allocation over cash and the assets summing to one.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum InvalidWeights {
    #[error("weight {index} is {weight}; weights must be finite")]
    NotFinite { index: usize, weight: f64 },
    #[error("weight {index} is {weight}; weights must be non-negative (long-only)")]
    Negative { index: usize, weight: f64 },
    #[error("weights sum to {sum}, not 1 (tolerance {})", super::WEIGHT_TOLERANCE)]
    Sum { sum: f64 },
}
