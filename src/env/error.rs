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
    #[error("config {}: {source}", path.display())]
    Setting {
        path: PathBuf,
        #[source]
        source: InvalidSetting,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("invalid action: {0}")]
    InvalidAction(String),
    #[error("environment: {0}")]
    Setup(String),
    #[error("step called after the episode ended; call reset first")]
    EpisodeOver,
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("environment: {0}")]
    Setting(#[from] InvalidSetting),
    #[error("environment: {0}")]
    Features(#[from] NormalizerMismatch),
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
