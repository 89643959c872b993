//! Evaluation: backtests of agents and baselines through the same market, and their metrics.

pub mod backtest;
pub mod metrics;
