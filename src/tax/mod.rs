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

use chrono::NaiveDate;
use std::path::PathBuf;

use crate::backtest::PolicyId;
use crate::data::InvalidSetting;
use crate::env::InvalidWeights;

#[derive(Debug, thiserror::Error)]
pub enum TaxError {
    #[error(
        "{}: tax-aware backtests need dated prices (a `date` column): holding periods, tax years and \
         wash-sale windows are counted in calendar days",
        path.display()
    )]
    Undated { path: PathBuf },
    #[error("{policy}: the backtest log is empty")]
    EmptyLog { policy: PolicyId },
    #[error("{policy}: the backtest log does not fit the price panel")]
    LogMismatch { policy: PolicyId },
    #[error("{policy} at {date}: {weights} weights for cash and {assets} assets")]
    WeightCount { policy: PolicyId, date: NaiveDate, weights: usize, assets: usize },
    #[error("{policy} at {date}: {source}")]
    Weights {
        policy: PolicyId,
        date: NaiveDate,
        #[source]
        source: InvalidWeights,
    },
    #[error("{policy} at {date}: the tax due ({tax_due:.6}) exceeds the portfolio's value ({value:.6})")]
    TaxExceedsValue { policy: PolicyId, date: NaiveDate, tax_due: f64, value: f64 },
    /// The check that the untaxed ledger retraces the backtest failed: a bug in the replay.
    #[error(
        "{policy}: the untaxed ledger departs from the backtest by {gap:e} of wealth; the replay is wrong"
    )]
    LedgerGap { policy: PolicyId, gap: f64 },
    #[error(transparent)]
    Setting(#[from] InvalidSetting),
    /// A baseline that cannot run on this market.
    #[error(transparent)]
    Baseline(#[from] crate::baselines::BaselineError),
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
