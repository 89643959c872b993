//! folio: train reinforcement-learning agents to allocate a portfolio, and prove out of sample
//! whether they are any good.
//!
//! The modules follow the flow of the work:
//! [`data`] (prices) -> [`features`] (causal inputs) -> [`env`] (the simulated market)
//! -> [`agent`] (policy networks) -> [`train`] (learning) -> [`eval`] (backtests, metrics).

// Config validation writes `!(x > 0.0)` on purpose: it rejects NaN along with the non-positive.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod agent;
pub mod bench;
pub mod data;
pub mod env;
pub mod eval;
pub mod features;
pub mod report;
pub mod risk;
pub mod train;

pub mod atomic;
pub mod cli;
pub mod config;
pub mod error;
