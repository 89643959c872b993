//! Classic allocation strategies, run as policies through the same environment as agents.
