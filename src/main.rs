// As in the library: `!(x > y)` on purpose, so that NaN reads as "not better".
#![allow(clippy::neg_cmp_op_on_partial_ord)]

mod cli;

use std::io::Write;
use std::process::ExitCode;

// Why this allocator: see its entry in Cargo.toml.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so every print to a closed pipe would panic; the default action ends
    // the process quietly, as other command-line tools do.
    #[cfg(unix)]
    // SAFETY: called first thing, before any thread exists, with a valid signal and handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // A run stopped while it replaces an output folder leaves that folder's earlier outputs set
    // aside (the next claim of the folder puts them back); say so, for a user who looks at once.
    // What the run had written is listed in its folder first, so that a file a user adds there
    // afterwards is known for theirs; a folder it wrote nothing in is left as it was found.
    // Written without eprintln!, which panics on a closed terminal (SIGHUP), and a panic here
    // would swallow the signal instead of ending the run.
    let _ = ctrlc::set_handler(|| {
        folio::files::settle_interrupted_claims();
        for (folder, aside) in folio::files::replacements_in_progress() {
            let _ = writeln!(
                std::io::stderr(),
                "\ninterrupted: {} holds this run's partial outputs; what it held before is kept in {} \
                 and comes back at the next folio command that writes to {}, unless that command \
                 continues this run with --resume (which deletes it once it finishes)",
                folder.display(),
                aside.display(),
                folder.display()
            );
        }
        for message in cli::interrupt_messages() {
            let _ = writeln!(std::io::stderr(), "\ninterrupted: {message}");
        }
        std::process::exit(130);
    });
    match cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            if error.downcast_ref::<cli::FailedAfterResults>().is_some() {
                ExitCode::from(cli::FAILED_AFTER_RESULTS)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The error and its causes on one line. Many errors already quote their cause in their own
/// message (so that they read well alone); a cause is added only when the text so far lacks it.
pub(crate) fn describe(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
    }
    message
}
