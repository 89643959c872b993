//! The `folio` command line: parses arguments and calls the library. Nothing here computes
//! anything a test or benchmark would need; it only wires library calls to files and the terminal.

mod data;
mod env;
mod train;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "folio",
    version,
    about = "Train reinforcement-learning portfolio agents and prove out of sample whether they are any good"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect price files and generate synthetic markets.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Check a market environment.
    #[command(subcommand)]
    Env(env::EnvCommand),
    /// Train an agent and save a checkpoint.
    Train(train::TrainArgs),
}

pub fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Data(command) => data::run(command),
        Command::Env(command) => env::run(command),
        Command::Train(args) => train::run(args),
    }
}

/// Print `value` as pretty JSON on stdout.
fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
