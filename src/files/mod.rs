//! The files and folders folio writes: never half-written, never in a folder another run is
//! writing, and never over a user's own files.

mod atomic;
mod bundled;
mod cbor;
mod lock;
mod mark;
mod output_folder;
mod paths;
mod stamp;

pub use atomic::{
    OutputExists, check_writable_output, is_temporary_name, note_written, temporary_destination,
    write_atomically, write_bytes_atomically,
};
pub use bundled::{bundled, read_or_bundled, read_text_or_bundled};
pub use cbor::cbor_reason;
pub use lock::{FolderLock, LOCK_FILE, LockError};
pub use mark::{OUTPUT_MARK, record_output};
pub use output_folder::{
    OutputError, OutputFolder, fresh_folder, replacements_in_progress, reserve_fresh_folder,
    settle_interrupted_claims,
};
pub use paths::{relative_path, through_link, tidy};
pub use stamp::read_stamp;

#[cfg(test)]
mod tests;
