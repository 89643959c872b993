//! Writing files so that a crash or a full disk never leaves a half-written output behind: the
//! content goes to a temporary file in the destination's folder, is flushed to disk, and is then
//! renamed over the destination in one step. Each file written is noted, so that a command's
//! folder can list what folio wrote there and nothing a user added.

use super::paths::{name_within, through_link};
use std::io::Write;
use std::path::{Path, PathBuf};

pub fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    // Renaming over a link would replace the link with a private copy.
    let path = &through_link(path);
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(folder)?;
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{}.", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()))
        .rand_bytes(TEMPORARY_RANDOM)
        .suffix(TEMPORARY_SUFFIX)
        .tempfile_in(folder)?;
    note_written(temp.path());
    {
        let mut buffered = std::io::BufWriter::new(temp.as_file_mut());
        fill(&mut buffered)?;
        buffered.flush()?;
    }
    // Temporary files are created private (0600); outputs are ordinary files like any other.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map(|m| m.permissions().mode()).unwrap_or(0o644);
        temp.as_file().set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    temp.as_file().sync_all()?;
    // Noted before it lands, so that no moment shows a command's output as a file it did not write.
    note_written(path);
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Random characters in a temporary file's name, between its destination's name and its suffix.
const TEMPORARY_RANDOM: usize = 6;

/// The end of a temporary file's name: folio's own, so that a user's `.tmp` file is never taken
/// for one (before it, folio's ended in `.tmp`, which checkpoints still recover).
const TEMPORARY_SUFFIX: &str = ".folio-tmp";

/// Whether `name` is that of a temporary file of [`write_atomically`] ([`temporary_destination`]).
/// One found in a folder that no folio process holds was left by a process killed between
/// writing and renaming it: it is no output, whole or not.
pub fn is_temporary_name(name: &str) -> bool {
    temporary_destination(name).is_some()
}

/// The name of the file that a temporary file of [`write_atomically`],
/// `.<destination>.<random><TEMPORARY_SUFFIX>`, was written for; `None` for any other name.
pub fn temporary_destination(name: &str) -> Option<&str> {
    let inner = name.strip_prefix('.')?.strip_suffix(TEMPORARY_SUFFIX)?;
    let (destination, random) = inner.rsplit_once('.')?;
    let random_part = random.len() == TEMPORARY_RANDOM && random.chars().all(|c| c.is_ascii_alphanumeric());
    (!destination.is_empty() && random_part).then_some(destination)
}

/// Every file this process has written (by its folder's canonical path and its name): what a
/// command's output folder lists as its outputs, so that a file a user adds while it runs is
/// never taken for one of them.
static WRITTEN: std::sync::LazyLock<std::sync::Mutex<std::collections::HashSet<PathBuf>>> =
    std::sync::LazyLock::new(Default::default);

/// A written file's key in [`WRITTEN`]: its folder resolved, so that a folder named relatively,
/// through a link or with `..` is one folder.
fn written_key(path: &Path) -> PathBuf {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
            std::fs::canonicalize(parent).map_or_else(|_| path.to_path_buf(), |folder| folder.join(name))
        }
        _ => path.to_path_buf(),
    }
}

/// Note that this process wrote `path` (or moved a file of its own there), and, the first time,
/// add it to the journal of each output folder it claimed, and has not finished, that holds it.
pub fn note_written(path: &Path) {
    let key = written_key(path);
    let first_time = WRITTEN.lock().map_or(true, |mut written| written.insert(key.clone()));
    // Once: a checkpoint saved at every validation is one output.
    if first_time {
        journal_written(&key);
    }
}

/// An output folder's journal open in this process: the folder as it was claimed, the folder
/// resolved (as [`written_key`] resolves a file's), and the file in it the journal is appended
/// to.
struct OpenJournal {
    folder: PathBuf,
    resolved: PathBuf,
    file: PathBuf,
}

/// The journals of the output folders this process has claimed and not finished. They live
/// here, beside the writes they record, rather than with the claims that open them.
static JOURNALS: std::sync::Mutex<Vec<OpenJournal>> = std::sync::Mutex::new(Vec::new());

/// Journal every file this process writes in `folder` from now on, in its file `name`.
pub(super) fn open_journal(folder: &Path, name: &str) {
    let resolved = std::fs::canonicalize(folder).unwrap_or_else(|_| folder.to_path_buf());
    let journal = OpenJournal { folder: folder.to_path_buf(), file: resolved.join(name), resolved };
    if let Ok(mut journals) = JOURNALS.lock() {
        journals.push(journal);
    }
}

/// Stop journaling the files written in `folder` (its command finished or failed).
pub(super) fn close_journal(folder: &Path) {
    if let Ok(mut journals) = JOURNALS.lock() {
        journals.retain(|journal| journal.folder != folder);
    }
}

/// Append `line` to the journal `file`, on disk before the output it names is renamed into
/// place, so that a lost machine cannot keep the output and lose its line. Without the file
/// (the folder was given up) nothing is written.
pub(super) fn append_line(file: &Path, line: &str) -> std::io::Result<()> {
    let mut journal = std::fs::OpenOptions::new().append(true).open(file)?;
    journal.write_all(format!("{line}\n").as_bytes())?;
    journal.sync_data()
}

/// Add `written` (a file's [`written_key`]) to each open journal whose folder holds it, by its
/// path there: a temporary copy is journaled as the file it becomes, and a journal never names
/// itself.
fn journal_written(written: &Path) {
    let Some(name) = written.file_name().map(|n| n.to_string_lossy()) else { return };
    if is_temporary_name(&name) {
        return;
    }
    let Ok(journals) = JOURNALS.lock() else { return };
    for journal in journals.iter().filter(|journal| journal.file != written) {
        if let Some(file) = name_within(&journal.resolved, written) {
            // A journal that cannot be written costs only the tracing of a killed run's files.
            let _ = append_line(&journal.file, &file);
        }
    }
}

/// Whether this process wrote `path`.
pub(super) fn was_written(path: &Path) -> bool {
    let key = written_key(path);
    WRITTEN.lock().is_ok_and(|written| written.contains(&key))
}

pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically(path, |w| w.write_all(bytes))
}

/// Refuse to write over an existing file unless `force` says to: outputs never silently replace
/// what a user made.
pub fn check_writable_output(path: &Path, force: bool) -> Result<(), OutputExists> {
    let Ok(existing) = std::fs::metadata(path) else { return Ok(()) };
    // --force replaces a file; a folder there is no file to replace, whatever it holds.
    if existing.is_dir() {
        return Err(OutputExists { path: path.to_path_buf(), folder: true });
    }
    if force {
        return Ok(());
    }
    Err(OutputExists { path: path.to_path_buf(), folder: false })
}

#[derive(Debug, thiserror::Error)]
#[error(
    "{} {}",
    path.display(),
    if *folder {
        "is a folder, and --out names the file to write: name a file"
    } else {
        "already exists; pass --force to replace it, or choose another --out"
    }
)]
pub struct OutputExists {
    pub path: std::path::PathBuf,
    pub folder: bool,
}
