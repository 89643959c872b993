//! Tax-aware backtests: a policy's decisions replayed in shares and tax lots, with short- and
//! long-term capital gains taxes, the wash-sale rule, and optional tax-loss harvesting, so that
//! after-tax wealth and what harvesting adds are reported beside the pre-tax figures.
//!
//! - [`config`]: the tax rules (`envs/tax_us.toml`);
//! - [`lots`]: lots, lot selection, realized gains and wash sales;
//! - [`netting`]: a year's netting of short- and long-term gains, carryforwards and tax;
//! - [`harvest`]: which lots to harvest and which asset replaces them;
//! - [`ledger`]: the replay itself;
//! - [`report`]: backtests of an agent and baselines, each replayed with and without harvesting.

pub mod config;
pub mod harvest;
pub mod ledger;
pub mod lots;
pub mod netting;
pub mod report;

pub use config::{DEFAULT_TAX_CONFIG, HarvestConfig, LotMethod, TaxConfig};
pub use ledger::{LedgerRun, Mode, replay};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TaxError {
    #[error(
        "{}: tax-aware backtests need dated prices (a `date` column): holding periods, tax years and \
         wash-sale windows are counted in calendar days",
        path.display()
    )]
    Undated { path: PathBuf },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Config(#[from] crate::env::ConfigError),
    #[error(transparent)]
    Env(#[from] crate::env::EnvError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    #[error(transparent)]
    Checkpoint(#[from] crate::train::checkpoint::CheckpointError),
    #[error(transparent)]
    Backend(#[from] crate::agent::MissingBackend),
}
