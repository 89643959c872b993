//! folio: train reinforcement-learning agents to allocate a portfolio, and prove out of sample
//! whether they are any good.
//!
//! The modules follow the flow of the work:
//! [`data`] (prices) -> [`features`] (causal inputs) -> [`env`] (the simulated market)
//! -> agents, training, evaluation and reports in later stages.

pub mod atomic;
pub mod config;
pub mod data;
pub mod env;
pub mod agent;
pub mod error;
pub mod features;
pub mod cli;
