//! What the tests that run the `folio` binary share.
// Each test crate compiles its own copy and uses only some of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The binary with `args`, and none of the environment that would redirect it: the registry comes
/// from `--registry` in tests, never from `FOLIO_REGISTRY`, and a task's index from `--index`,
/// never from a scheduler's variable.
pub fn folio_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_folio"));
    command.args(args).env_remove("FOLIO_REGISTRY").env_remove("FOLIO_PROGRESS_SECONDS");
    for name in ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX", "HQ_TASK_ID"] {
        command.env_remove(name);
    }
    command
}

/// Runs the binary and insists that it succeeds, showing its errors when it does not.
pub fn folio_ok(args: &[&str]) -> Output {
    let output = folio_command(args).output().expect("the folio binary runs");
    assert!(
        output.status.success(),
        "folio {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs the binary in `cwd`, whatever its exit status.
pub fn folio_in(args: &[&str], cwd: &Path) -> Output {
    folio_command(args).current_dir(cwd).output().expect("the folio binary runs")
}

/// What a run printed, on both streams.
pub fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

pub fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}
