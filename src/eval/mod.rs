//! Evaluation: backtests of agents and baselines through the same market, their metrics, and
//! statistics of how much a backtest can be trusted.

pub mod backtest;
pub mod baselines;
pub mod collapse;
pub mod cost_sensitivity;
pub mod evaluate;
pub mod explain;
pub mod metrics;
pub mod overfitting;
pub mod probe;
pub mod rebalance;
pub mod registry;
pub mod stress;
pub mod tax;
pub mod walk_forward;
