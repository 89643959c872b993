//! Errors of configuring and stepping an environment. Every variant names the file or setting
//! involved.

use std::path::PathBuf;

use crate::data::DataError;

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
}
