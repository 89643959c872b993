//! Names the build: the package version and, in a git checkout, the commit. A cluster plan
//! records it, and every node refuses a plan made by another build, whose results could differ
//! though the version number (unchanged between commits) is the same.

use std::process::Command;

fn main() {
    // A commit moves the branch's ref, not HEAD; packed refs move on `git gc`.
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        println!("cargo:rerun-if-changed={path}");
    }
    let version = std::env::var("CARGO_PKG_VERSION").expect("cargo sets the package version");
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_string())
        .filter(|commit| !commit.is_empty());
    let build = match commit {
        Some(commit) => format!("{version}+{commit}"),
        None => version,
    };
    println!("cargo:rustc-env=FOLIO_BUILD={build}");
}
