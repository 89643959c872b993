//! Orchestrators: what a user asks folio to find out. Each puts trained agents and baselines
//! through the backtest engine and the metrics: `eval` on any period, walk-forward on rolling
//! held-out periods, stress scenarios, sanity probes, explanations of decisions, and the
//! throughput benchmarks.

pub mod bench;
pub mod bench_large;
pub mod evaluate;
pub mod explain;
pub mod probe;
pub mod stress;
pub mod walk_forward;
