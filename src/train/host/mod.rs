//! The CPU fast path of the policy-gradient learners: on burn's Flex backend, whose tensors
//! already live in host memory, an MLP's passes, PPO's loss gradient and Adam run as plain loops
//! over host buffers instead of chains of small tensor ops. Other devices train through burn's
//! autodiff. Tests hold every piece here to its autodiff twin.

pub mod adam;
pub mod mlp;
pub mod ppo;
pub mod ppo_loss;
pub mod step;
