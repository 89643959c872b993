//! Agents: policy networks and the distribution over portfolio weights they parameterize.

pub mod distribution;
