//! folio: train reinforcement-learning agents to allocate a portfolio, and prove out of sample
//! whether they are any good.
//!
//! The modules are layers, each importing only from its own layer and the layers before it (a
//! test, `tests/architecture.rs`, holds them to it; `ARCHITECTURE.md` maps them):
//!
//! 0. [`stats`], [`files`], [`progress`], [`portfolio_math`]: shared statistics, safe file
//!    writing, progress reporting, and the covariance shrinkage and long-only quadratic programs
//!    that the minimum-variance reference and the Markowitz and ONS baselines share, knowing
//!    nothing of markets or policies;
//! 1. [`data`]: price panels from CSV, selections, synthetic markets;
//! 2. [`features`]: causal inputs and their normalization;
//! 3. [`env`]: the simulated market, its configs, costs, rewards, limits and risk profiles;
//! 4. [`backtest`], [`metrics`]: any policy through a market, and what its path measures;
//! 5. [`agent`], [`baselines`]: the policies, learned and classic;
//! 6. [`train`]: learners, the training loop and checkpoints;
//! 7. [`eval`], [`registry`], [`tax`]: orchestrators (eval, walk-forward, stress, probes,
//!    explanations, benchmarks), the trial registry, after-tax replays;
//! 8. [`report`]: JSON, CSV, markdown and pictures.
//!
//! The `folio` binary (`src/main.rs`, `src/cli/`) parses the command line over this library.

// Config validation writes `!(x > 0.0)` on purpose: it rejects NaN along with the non-positive.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

/// This build of folio: the package version and, when built from a git checkout, its commit
/// (`0.1.0+1a2b3c4d5e6f`). A cluster plan's tasks and merge must run the build that planned it.
pub const BUILD: &str = env!("FOLIO_BUILD");

pub mod files;
pub mod portfolio_math;
pub mod progress;
pub mod stats;

pub mod agent;
pub mod backtest;
pub mod baselines;
pub mod data;
pub mod env;
pub mod eval;
pub mod features;
pub mod metrics;
pub mod registry;
pub mod report;
pub mod tax;
pub mod train;
