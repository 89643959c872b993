//! Writing files so that a crash or a full disk never leaves a half-written output behind: the
//! content goes to a temporary file in the destination's folder, is flushed to disk, and is then
//! renamed over the destination in one step.

use std::io::Write;
use std::path::{Path, PathBuf};

/// What `path` names: the target of a symbolic link (so that a file shared through links, a
/// registry say, stays one file that every link sees, and a linked output folder is used where
/// it is), else `path` itself.
pub fn through_link(path: &Path) -> PathBuf {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::canonicalize(path).unwrap_or_else(|_| {
            // A link to a file not there yet (a shared registry before its first trial): the
            // file it names, read against the link's folder as the system reads it.
            match std::fs::read_link(path) {
                Ok(target) if target.is_absolute() => target,
                Ok(target) => path.parent().unwrap_or(Path::new("")).join(target),
                Err(_) => path.to_path_buf(),
            }
        }),
        _ => path.to_path_buf(),
    }
}

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
        .suffix(".tmp")
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
    temp.persist(path).map_err(|e| e.error)?;
    note_written(path);
    Ok(())
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

/// Note that this process wrote `path` (or moved a file of its own there).
pub fn note_written(path: &Path) {
    let key = written_key(path);
    if let Ok(mut written) = WRITTEN.lock() {
        written.insert(key);
    }
}

/// Whether this process wrote `path`.
fn was_written(path: &Path) -> bool {
    let key = written_key(path);
    WRITTEN.lock().is_ok_and(|written| written.contains(&key))
}

pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically(path, |w| w.write_all(bytes))
}

/// An exclusive hold on a folder for as long as this value lives: two folio processes never
/// write into one folder at once. It is an OS file lock on `<folder>/.folio.lock`, so it dies
/// with its process: a killed run never leaves a lock that blocks the next one.
#[derive(Debug)]
pub struct FolderLock {
    _file: std::fs::File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{} is in use by another folio run ({holder}); wait for it to finish, or choose another output folder",
        folder.display()
    )]
    Busy { folder: std::path::PathBuf, holder: String },
    #[error(
        "cannot lock {}: its file system does not support file locks (on Lustre, mount it with -o flock): {source}",
        folder.display()
    )]
    Unsupported {
        folder: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot lock {}: {source}", folder.display())]
    Io {
        folder: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The lock file's name inside a locked folder.
pub const LOCK_FILE: &str = ".folio.lock";

/// Tries, 25 ms apart, before a lock that this process released counts as busy: half a second,
/// far longer than the instant between a child's fork and its exec.
const BUSY_RETRIES: u32 = 20;

impl FolderLock {
    /// Lock `folder` (created if missing), or fail at once if another process holds it.
    ///
    /// A lock that this very process took last, and has released, can still look held for an
    /// instant: a child that another thread is starting holds a copy of the lock's descriptor
    /// until it execs. Such a lock is tried again for a moment; one that another process holds
    /// fails at once.
    pub fn acquire(folder: &Path) -> Result<Self, LockError> {
        let ours = format!("pid {} on ", std::process::id());
        let mut tries = 0;
        loop {
            match Self::try_acquire(folder) {
                Err(LockError::Busy { holder, .. }) if holder.starts_with(&ours) && tries < BUSY_RETRIES => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                other => return other,
            }
        }
    }

    fn try_acquire(folder: &Path) -> Result<Self, LockError> {
        let io = |source| LockError::Io { folder: folder.to_path_buf(), source };
        std::fs::create_dir_all(folder).map_err(io)?;
        let path = folder.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = if holder.trim().is_empty() {
                    "unknown process".into()
                } else {
                    holder.trim().to_string()
                };
                return Err(LockError::Busy { folder: folder.to_path_buf(), holder });
            }
            Err(std::fs::TryLockError::Error(source)) if source.kind() == std::io::ErrorKind::Unsupported => {
                return Err(LockError::Unsupported { folder: folder.to_path_buf(), source });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(io(source)),
        }
        note_written(&path);
        // For people only: the OS lock, not this text, is what excludes other runs.
        file.set_len(0).map_err(io)?;
        let _ = writeln!(file, "pid {} on {}", std::process::id(), host_name());
        Ok(Self { _file: file })
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this machine".into())
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

/// Names a fresh claim moves past when other runs take them first: far more runs than start
/// in one instant, few enough that a folder that can never be claimed still ends in an error.
const FRESH_CLASHES: u32 = 64;

/// `base` if nothing is there yet, else `base-2`, `base-3`, ...: a default output folder that
/// never lands on an earlier run's.
pub fn fresh_folder(base: &Path) -> std::path::PathBuf {
    (1..)
        .map(|n| if n == 1 { base.to_path_buf() } else { format!("{}-{n}", base.display()).into() })
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .expect("some name is free")
}

/// A new, empty folder named as [`fresh_folder`] names it, made here: the name is taken by
/// making the folder, which the system does for one caller only, so two runs started at once
/// never share it.
pub fn reserve_fresh_folder(base: &Path) -> std::io::Result<std::path::PathBuf> {
    if let Some(parent) = base.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut clashes = 0;
    loop {
        let path = fresh_folder(base);
        match std::fs::create_dir(&path) {
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists && clashes < FRESH_CLASHES => {
                clashes += 1;
            }
            made => return made.map(|()| path),
        }
    }
}

/// A folder a command fills with its outputs, claimed before the work starts so that a clash is
/// reported at once rather than after it. An existing folder that holds anything is replaced
/// only with `force`, and then as a whole: the old one is set aside, and is deleted when
/// [`OutputFolder::finish`] is called, or put back if the command fails first. Old and new
/// outputs are never mixed (no stale `fold-3/` beside a two-fold report).
///
/// Only a folder that a claim marked ([`OUTPUT_MARK`]) can be replaced: `--out ~/research
/// --force` must never delete a folder of the user's own files.
///
/// A run killed while replacing (Ctrl-C, SIGKILL, a lost machine) runs no clean-up: the folder
/// holds its partial outputs and the old ones wait beside it, set aside. The next claim of the
/// folder finishes the failed run's clean-up first, putting the old outputs back, so an
/// interrupted replacement costs what a failed one does: nothing that was there before.
#[derive(Debug)]
pub struct OutputFolder {
    path: std::path::PathBuf,
    /// The folder as the command was asked for it, for messages: `--out` as the user wrote it,
    /// a link included, where `path` is where the link leads.
    named: std::path::PathBuf,
    set_aside: Option<std::path::PathBuf>,
    /// The claim made the folder: a command that fails before writing in it takes it away again.
    created: bool,
    /// The claim put [`OUTPUT_MARK`] there: a command that fails before writing in it takes the
    /// mark away again, leaving the folder as it found it.
    marked: bool,
    finished: bool,
    /// The files an earlier run of the same work left, when `--resume` reopened the folder:
    /// folio's outputs with those this run writes, where what a user had added is not.
    inherited: Vec<String>,
    /// The earlier outputs that an interrupted `--force` run set aside, when `--resume`
    /// continues that run: deleted once it finishes, as the interrupted run would have.
    continued_replacement: Option<(std::path::PathBuf, FolderLock)>,
    /// The kind of list the mark held when `--resume` reopened the folder, if it held one: a
    /// resumed run that fails lists its outputs so again, rather than leave the mark that names
    /// only a user's files (which would take any file added later for folio's).
    reopened_list: Option<&'static str>,
    _lock: Option<FolderLock>,
    /// The lock of the folder being replaced, held while it is set aside so that a claim of
    /// the same folder elsewhere knows it is not abandoned.
    _set_aside_lock: Option<FolderLock>,
}

/// A folder this process has claimed and not yet finished, for a run stopped by a signal
/// ([`settle_interrupted_claims`]).
#[derive(Debug, Clone)]
struct Claimed {
    folder: std::path::PathBuf,
    /// The files an earlier run of the same work left there ([`OutputFolder::reopen`]).
    inherited: Vec<String>,
    /// The claim made the folder.
    created: bool,
}

static CLAIMED: std::sync::Mutex<Vec<Claimed>> = std::sync::Mutex::new(Vec::new());

/// For a run stopped by a signal, settle each folder this process has claimed and not finished:
/// one it wrote nothing in is left as the claim found it (a folder the claim made goes, so a
/// default name is not used up by a run that wrote nothing); in any other, what it holds now is
/// listed as folio's partial outputs, so that a file a user adds afterwards is known for theirs
/// and `--force` will not delete it with them.
pub fn settle_interrupted_claims() {
    for claimed in CLAIMED.lock().map(|c| c.clone()).unwrap_or_default() {
        settle_interrupted(&claimed);
    }
}

fn settle_interrupted(Claimed { folder, inherited, created }: &Claimed) {
    // The process ends in a moment: its lock dies with it, and its file is clutter.
    let _ = std::fs::remove_file(folder.join(LOCK_FILE));
    if !take_back_if_empty(folder, true, *created) {
        let _ = list_outputs(folder, INTERRUPTED_HEADER, inherited);
    }
}

/// Leave a claimed `folder` that holds nothing of a command's as the claim found it: without
/// the mark (when `marked`, the claim put it there) and, when the claim `created` it, gone.
/// Whether it held nothing.
fn take_back_if_empty(folder: &Path, marked: bool, created: bool) -> bool {
    if !holds_outputs(folder).is_ok_and(|holds| !holds) {
        return false;
    }
    if marked {
        let _ = std::fs::remove_file(folder.join(OUTPUT_MARK));
        if created {
            let _ = std::fs::remove_dir(folder);
        }
    }
    true
}

fn forget_claim(path: &Path) {
    if let Ok(mut claimed) = CLAIMED.lock() {
        claimed.retain(|c| c.folder != path);
    }
}

fn remember_claim(path: &Path, inherited: &[String], created: bool) {
    if let Ok(mut claimed) = CLAIMED.lock() {
        claimed.push(Claimed { folder: path.to_path_buf(), inherited: inherited.to_vec(), created });
    }
}

/// Folders this process is replacing, with where their earlier outputs are set aside, for the
/// message of a run interrupted by a signal ([`replacements_in_progress`]).
static REPLACING: std::sync::Mutex<Vec<(std::path::PathBuf, std::path::PathBuf)>> =
    std::sync::Mutex::new(Vec::new());

/// The folders this process is replacing now, each with the folder its earlier outputs are set
/// aside in.
pub fn replacements_in_progress() -> Vec<(std::path::PathBuf, std::path::PathBuf)> {
    REPLACING.lock().map(|r| r.clone()).unwrap_or_default()
}

fn forget_replacement(path: &Path) {
    if let Ok(mut replacing) = REPLACING.lock() {
        replacing.retain(|(p, _)| p != path);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(
        "{} already holds outputs{}; pass --force to replace that folder, or choose another --out",
        path.display(),
        if *restored { " (put back: a run that was replacing them with --force was interrupted)" } else { "" }
    )]
    Occupied { path: std::path::PathBuf, restored: bool },
    #[error(
        "{} holds files that no folio command marked as its outputs ({}); --force replaces only a folder of \
         folio's outputs, never one of other files: choose another --out, or empty that folder",
        path.display(),
        files.join(", ")
    )]
    NotOurs { path: std::path::PathBuf, files: Vec<String> },
    #[error(
        "{} holds files that the folio command which wrote it did not write ({}); --force replaces only \
         that command's outputs, never a user's or another command's: move them out, or choose another --out",
        path.display(),
        files.join(", ")
    )]
    AddedByUser { path: std::path::PathBuf, files: Vec<String> },
    #[error(
        "{} holds the partial outputs of a run that was replacing it with --force and was stopped, and \
         files folio did not write ({}); the outputs it was replacing wait in {}: --resume continues the \
         stopped run (and keeps those files), or move them out and the earlier outputs come back",
        path.display(),
        files.join(", "),
        aside.display()
    )]
    StoppedReplacementHoldsOthers { path: std::path::PathBuf, aside: std::path::PathBuf, files: Vec<String> },
    #[error("{} does not exist: there is no run to continue there", path.display())]
    NothingThere { path: std::path::PathBuf },
    #[error("{} exists and is not a folder; choose another --out", path.display())]
    NotAFolder { path: std::path::PathBuf },
    #[error(
        "{} holds the folder folio runs in, which --force cannot set aside; choose another --out",
        path.display()
    )]
    HoldsWorkingFolder { path: std::path::PathBuf },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("cannot prepare {}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Whether the process runs inside `path` (or in it): such a folder cannot be moved aside.
fn holds_working_folder(path: &Path) -> bool {
    let (Ok(folder), Ok(here)) = (std::fs::canonicalize(path), std::env::current_dir()) else { return false };
    std::fs::canonicalize(here).is_ok_and(|here| here.starts_with(&folder))
}

impl OutputFolder {
    pub fn claim(path: &Path, force: bool) -> Result<Self, OutputError> {
        let named = path.to_path_buf();
        let path = &through_link(path);
        let io = |source| OutputError::Io { path: path.to_path_buf(), source };
        let restored = put_back_interrupted_replacement(path)?;
        let mut set_aside = None;
        let mut set_aside_lock = None;
        let created = std::fs::symlink_metadata(path).is_err();
        match std::fs::symlink_metadata(path) {
            Err(_) => {}
            Ok(meta) if !meta.is_dir() => return Err(OutputError::NotAFolder { path: path.to_path_buf() }),
            Ok(_) if !holds_outputs(path).map_err(io)? => {}
            Ok(_) if !path.join(OUTPUT_MARK).is_file() => {
                return Err(OutputError::NotOurs { path: path.to_path_buf(), files: some_entries(path) });
            }
            Ok(_) if !force => return Err(OutputError::Occupied { path: path.to_path_buf(), restored }),
            Ok(_) => {
                let added = added_by_user(path);
                if !added.is_empty() {
                    return Err(OutputError::AddedByUser { path: path.to_path_buf(), files: added });
                }
                if holds_working_folder(path) {
                    return Err(OutputError::HoldsWorkingFolder { path: path.to_path_buf() });
                }
                // Refused while another run writes there: its outputs are not ours to move. The
                // lock moves with the folder and is kept, which marks it as in use, not abandoned.
                let lock = FolderLock::acquire(path)?;
                let aside = aside_name(path, std::process::id());
                std::fs::rename(path, &aside).map_err(io)?;
                if let Ok(mut replacing) = REPLACING.lock() {
                    replacing.push((path.to_path_buf(), aside.clone()));
                }
                set_aside = Some(aside);
                set_aside_lock = Some(lock);
            }
        }
        let claimed = FolderLock::acquire(path)
            .map_err(OutputError::from)
            .and_then(|lock| Ok((lock, mark(path, &[]).map_err(io)?)));
        let (lock, marked) = match claimed {
            Ok(claimed) => claimed,
            Err(error) => {
                // Another run took the path in the moment it stood empty: the earlier outputs go
                // back if they can, and otherwise stay set aside, held until this process ends.
                if let Some(aside) = set_aside.take()
                    && std::fs::rename(&aside, path).is_ok()
                {
                    forget_replacement(path);
                }
                return Err(error);
            }
        };
        remember_claim(path, &[], created);
        Ok(Self {
            path: path.to_path_buf(),
            named,
            set_aside,
            created,
            marked,
            finished: false,
            inherited: Vec::new(),
            continued_replacement: None,
            reopened_list: None,
            _lock: Some(lock),
            _set_aside_lock: set_aside_lock,
        })
    }

    /// Claim a folder that an interrupted run left outputs in, to continue it: nothing there is
    /// set aside or removed, whatever becomes of this run, since what is there is the work it
    /// continues. Another run still writing there is refused, as [`OutputFolder::claim`] does,
    /// and so is a folder that no folio command marked: it is not a run to continue.
    ///
    /// Where the interrupted run was replacing earlier outputs (`--force`), this one continues
    /// the replacement: they stay set aside, and go once it finishes.
    pub fn reopen(path: &Path) -> Result<Self, OutputError> {
        let named = path.to_path_buf();
        let path = &through_link(path);
        let io = |source| OutputError::Io { path: path.to_path_buf(), source };
        match std::fs::symlink_metadata(path) {
            Err(_) => return Err(OutputError::NothingThere { path: path.to_path_buf() }),
            Ok(meta) if !meta.is_dir() => return Err(OutputError::NotAFolder { path: path.to_path_buf() }),
            Ok(_) if holds_outputs(path).map_err(io)? && !path.join(OUTPUT_MARK).is_file() => {
                return Err(OutputError::NotOurs { path: path.to_path_buf(), files: some_entries(path) });
            }
            Ok(_) => {}
        }
        let lock = FolderLock::acquire(path)?;
        let continued_replacement = abandoned_replacement(path);
        if let Some((aside, _)) = &continued_replacement
            && let Ok(mut replacing) = REPLACING.lock()
        {
            replacing.push((path.to_path_buf(), aside.clone()));
        }
        let users = unlisted_files(path);
        let reopened_list = MarkList::of(&mark_text(path)).relisted_as();
        let mut inherited = files_within(path).map_err(io)?;
        inherited.retain(|file| !users.contains(file));
        // Until this run lists its outputs, the mark names what it must never take for them.
        let marked = mark(path, &users).map_err(io)?;
        remember_claim(path, &inherited, false);
        Ok(Self {
            path: path.to_path_buf(),
            named,
            set_aside: None,
            created: false,
            marked,
            finished: false,
            inherited,
            continued_replacement,
            reopened_list,
            _lock: Some(lock),
            _set_aside_lock: None,
        })
    }

    /// Claim a new folder named after `base` ([`fresh_folder`]): a command's default output,
    /// which never replaces anything. The name is taken by making the folder
    /// ([`reserve_fresh_folder`]), so two runs started at once never share one, and the folder
    /// is this claim's: a command that fails before writing in it takes it away again.
    pub fn fresh(base: &Path) -> Result<Self, OutputError> {
        let path = reserve_fresh_folder(base)
            .map_err(|source| OutputError::Io { path: base.to_path_buf(), source })?;
        let mut claimed = Self::claim(&path, false).inspect_err(|_| {
            let _ = std::fs::remove_dir(&path);
        })?;
        claimed.created = true;
        forget_claim(&path);
        remember_claim(&path, &[], true);
        Ok(claimed)
    }

    /// The folder claimed for a command's `--out` before its work, else a fresh one named after
    /// `base`: a default that the command's results name, and so can only choose after it.
    pub fn or_fresh(claimed: Option<Self>, base: &Path) -> Result<Self, OutputError> {
        claimed.map_or_else(|| Self::fresh(base), Ok)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder as the command was asked for it: `--out` as the user wrote it (a link stays
    /// the link), or the fresh name it claimed.
    pub fn named(&self) -> &Path {
        &self.named
    }

    /// Whether the claim set earlier outputs aside (`--force` on a folder that held some).
    pub fn replaces_earlier_outputs(&self) -> bool {
        self.set_aside.is_some()
    }

    /// The command succeeded: the outputs it replaced are deleted.
    pub fn finish(mut self) {
        self.finished = true;
        forget_claim(&self.path);
        let _ = list_outputs(&self.path, LIST_HEADER, &self.inherited);
        self._lock = None;
        let _ = std::fs::remove_file(self.path.join(LOCK_FILE));
        let replaced = self.set_aside.take().or(self.continued_replacement.take().map(|(old, _)| old));
        if let Some(old) = replaced {
            let _ = std::fs::remove_dir_all(old);
            forget_replacement(&self.path);
        }
        self._set_aside_lock = None;
    }
}

impl Drop for OutputFolder {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // The command failed: what it had written goes, and the folder it replaced comes back.
        forget_claim(&self.path);
        forget_replacement(&self.path);
        if let Some(header) = self.reopened_list {
            let _ = list_outputs(&self.path, header, &self.inherited);
        }
        self._lock = None;
        if let Some(old) = self.set_aside.take() {
            let _ = std::fs::remove_dir_all(&self.path);
            let _ = std::fs::rename(old, &self.path);
        }
        // The folder back in place is as it was: the lock file the claim put in it goes too.
        self._set_aside_lock = None;
        let _ = std::fs::remove_file(self.path.join(LOCK_FILE));
        take_back_if_empty(&self.path, self.marked, self.created);
    }
}

/// Where the earlier outputs of `path` wait while process `pid` replaces it: a hidden sibling.
fn aside_name(path: &Path, pid: u32) -> std::path::PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.replaced-{pid}"))
}

/// Finish the clean-up of a run that was killed while replacing `path`: its partial outputs go
/// and the outputs it set aside come back, as if it had failed. A set-aside folder whose lock
/// is free has lost its run (a live run holds it). Several abandoned ones (only an older folio
/// could leave them) are left alone: which one held the last good outputs is unknowable.
/// Returns whether something was put back.
fn put_back_interrupted_replacement(path: &Path) -> Result<bool, OutputError> {
    let io = |source| OutputError::Io { path: path.to_path_buf(), source };
    let Some((aside, _aside_lock)) = abandoned_replacement(path) else { return Ok(false) };
    // Refused while another run writes into the folder now.
    let _lock = FolderLock::acquire(path)?;
    // Outputs that a command finished are never deleted for older ones: another run took the
    // folder while a replacement stood aside (two runs racing for one `--out`).
    if finished_outputs(path) {
        return Ok(false);
    }
    // Nor is a file a user added to the stopped run's folder.
    let added = added_by_user(path);
    if !added.is_empty() {
        return Err(OutputError::StoppedReplacementHoldsOthers {
            path: path.to_path_buf(),
            aside,
            files: added,
        });
    }
    std::fs::remove_dir_all(path).map_err(io)?;
    std::fs::rename(aside, path).map_err(io)?;
    Ok(true)
}

/// The earlier outputs of `path` that a killed `--force` run left set aside, locked, when there
/// is exactly one such folder and no live run holds it.
fn abandoned_replacement(path: &Path) -> Option<(std::path::PathBuf, FolderLock)> {
    let (name, parent) = (path.file_name()?, path.parent()?);
    let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
    let prefix = format!(".{}.replaced-", name.to_string_lossy());
    let mut abandoned = Vec::new();
    for entry in std::fs::read_dir(parent).ok()?.flatten() {
        let aside = entry.path();
        if !entry.file_name().to_string_lossy().starts_with(&prefix) || !aside.is_dir() {
            continue;
        }
        if let Ok(lock) = FolderLock::acquire(&aside) {
            abandoned.push((aside, lock));
        }
    }
    match abandoned.len() {
        1 => abandoned.pop(),
        _ => None,
    }
}

/// The file every claimed output folder holds: what `--force` may replace.
pub const OUTPUT_MARK: &str = ".folio-outputs";

/// Mark `folder` as claimed by a command at work, naming the `users` files in it that are not
/// folio's (those a user had added before a `--resume`); true when it held no mark before.
fn mark(folder: &Path, users: &[String]) -> std::io::Result<bool> {
    let mark = folder.join(OUTPUT_MARK);
    let was_there = mark.is_file();
    let named: String = users.iter().map(|file| format!("{file}\n")).collect();
    write_atomically(&mark, |w| write!(w, "{MARK_NOTE}{USERS_HEADER}{named}"))?;
    Ok(!was_there)
}

/// What [`OUTPUT_MARK`] says above the list of outputs that [`list_outputs`] adds to it.
const MARK_NOTE: &str = "folio wrote this folder: `--force` may replace it as a whole.\n";
/// Above the files of a command that finished, each by its path in the folder.
const LIST_HEADER: &str = "# every file folio wrote here; any other is a user's, and stops --force\n";
/// Above the files of a command stopped by a signal: its partial outputs.
const INTERRUPTED_HEADER: &str = "# every file folio had written here when its run was stopped; any other is a user's, and stops --force\n";
/// Above the files of a user's that a command at work found in its folder (a `--resume`'s).
const USERS_HEADER: &str =
    "# a user's files, never folio's (a command is at work here, or was stopped outright)\n";
/// Before a stopped run's list: when it was written, in seconds since 1970.
const STOPPED_AT: &str = "# stopped at ";
/// An older folio's list: names at the top of the folder only, each covering all below it.
const TOP_LEVEL_HEADER: &str = "# what folio wrote here; anything else is a user's, and stops --force\n";

/// Record in the mark, as folio's outputs, the files in `folder` (by their path there,
/// subfolders included) that this process wrote or that an earlier run of the same work left
/// (`inherited`), when a command that claimed it succeeds (`header` [`LIST_HEADER`]) or is
/// stopped ([`INTERRUPTED_HEADER`]): a file a user adds anywhere in it, before or after, is
/// then known for theirs, and `--force` leaves the folder alone rather than delete it with
/// folio's outputs.
fn list_outputs(folder: &Path, header: &str, inherited: &[String]) -> std::io::Result<()> {
    let mut files = files_within(folder)?;
    files.retain(|file| inherited.contains(file) || was_written(&folder.join(file)));
    files.sort();
    let listed: String = files.iter().map(|file| format!("{file}\n")).collect();
    let stopped_at = match header == INTERRUPTED_HEADER {
        true => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            format!("{STOPPED_AT}{}.{:09}\n", now.as_secs(), now.subsec_nanos())
        }
        false => String::new(),
    };
    write_atomically(&folder.join(OUTPUT_MARK), |w| write!(w, "{MARK_NOTE}{header}{stopped_at}{listed}"))
}

/// What a folder's mark says of the files in it, each kind with the lines that follow its header.
enum MarkList<'a> {
    /// A command finished there ([`LIST_HEADER`]): every file it wrote, by its path.
    Finished(&'a str),
    /// A command was stopped by a signal ([`INTERRUPTED_HEADER`]): its partial outputs.
    Stopped(&'a str),
    /// An older folio's list ([`TOP_LEVEL_HEADER`]): names at the top of the folder only.
    TopLevel(&'a str),
    /// A command at work, or stopped outright ([`USERS_HEADER`]): a user's files, never folio's.
    Users(&'a str),
    /// No list at all (a mark from before lists, or none).
    Bare,
}

impl<'a> MarkList<'a> {
    fn of(text: &'a str) -> Self {
        let after = |header: &str| text.split_once(header).map(|(_, lines)| lines);
        if let Some(lines) = after(LIST_HEADER) {
            MarkList::Finished(lines)
        } else if let Some(lines) = after(INTERRUPTED_HEADER) {
            MarkList::Stopped(lines)
        } else if let Some(lines) = after(TOP_LEVEL_HEADER) {
            MarkList::TopLevel(lines)
        } else if let Some(lines) = after(USERS_HEADER) {
            MarkList::Users(lines)
        } else {
            MarkList::Bare
        }
    }

    /// The header a command's own list of outputs takes after this one: a finished list (an
    /// older folio's included) stays finished, a stopped one stays stopped; none for the rest.
    fn relisted_as(&self) -> Option<&'static str> {
        match self {
            MarkList::Finished(_) | MarkList::TopLevel(_) => Some(LIST_HEADER),
            MarkList::Stopped(_) => Some(INTERRUPTED_HEADER),
            MarkList::Users(_) | MarkList::Bare => None,
        }
    }
}

/// The text of `folder`'s mark, empty when it has none.
fn mark_text(folder: &Path) -> String {
    std::fs::read_to_string(folder.join(OUTPUT_MARK)).unwrap_or_default()
}

/// Whether the mark of `folder` lists the outputs of a command that finished there.
fn finished_outputs(folder: &Path) -> bool {
    matches!(MarkList::of(&mark_text(folder)), MarkList::Finished(_) | MarkList::TopLevel(_))
}

/// Every file below `folder`, by its path there with `/` between names (a link counts as a
/// file, and is not followed), but for the folder's own lock and mark.
fn files_within(folder: &Path) -> std::io::Result<Vec<String>> {
    fn walk(dir: &Path, prefix: &str, files: &mut Vec<String>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)?.flatten() {
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&entry.path(), &format!("{name}/"), files)?;
            } else if prefix.is_empty() && (name == LOCK_FILE || name == OUTPUT_MARK) {
                continue;
            } else {
                files.push(name);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(folder, "", &mut files)?;
    Ok(files)
}

/// Add `path`, an output folio wrote into a finished command's folder or a folder inside it (a
/// redrawn picture, a page), to the list of the nearest folder above it that has one.
pub fn record_output(path: &Path) -> std::io::Result<()> {
    let Ok(path) = std::path::absolute(path) else { return Ok(()) };
    let Some(folder) = path.ancestors().skip(1).find(|folder| folder.join(OUTPUT_MARK).is_file()) else {
        return Ok(());
    };
    let Ok(name) = path.strip_prefix(folder) else { return Ok(()) };
    let name = name.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
    let mark = folder.join(OUTPUT_MARK);
    let text = std::fs::read_to_string(&mark)?;
    if MarkList::of(&text).relisted_as().is_none() || text.lines().any(|line| line == name) {
        return Ok(());
    }
    write_atomically(&mark, |w| w.write_all(format!("{text}{name}\n").as_bytes()))
}

/// The files in `folder`, subfolders included, that its mark's list of outputs does not name;
/// none when the mark has no list (a run killed outright, which could list nothing). A list of
/// an older folio's names only the top of the folder, each name covering all below it.
fn unlisted_files(folder: &Path) -> Vec<String> {
    let text = mark_text(folder);
    let (listed, top_level, stopped) = match MarkList::of(&text) {
        MarkList::Finished(listed) => (listed, false, false),
        MarkList::Stopped(listed) => (listed, false, true),
        MarkList::TopLevel(listed) => (listed, true, false),
        // A command at work, or stopped outright: all but a user's files are its own.
        MarkList::Users(users) => {
            return users.lines().filter(|file| folder.join(file).exists()).map(String::from).collect();
        }
        MarkList::Bare => return Vec::new(),
    };
    let stopped_at =
        listed.lines().find_map(|line| line.strip_prefix(STOPPED_AT)).and_then(seconds_since_1970);
    let listed: std::collections::HashSet<&str> = listed.lines().collect();
    let covered = |file: &str| match top_level {
        true => listed.contains(file.split('/').next().unwrap_or(file)),
        false => listed.contains(file),
    };
    // A stopped run's threads go on writing for the moment around its list (a file persisted
    // just before, noted just after, or written between the list and the end): a file changed
    // (made, written or moved in) then is its own. One changed well before is a user's added
    // while it ran, and one changed well after a user's added since.
    let last_writes = |file: &str| {
        stopped
            && stopped_at.is_some_and(|stopped_at| {
                changed_at(&folder.join(file)).is_some_and(|changed| {
                    changed <= stopped_at + LAST_WRITES && changed + LAST_WRITES >= stopped_at
                })
            })
    };
    let mut added: Vec<String> = files_within(folder)
        .unwrap_or_default()
        .into_iter()
        .filter(|file| !covered(file) && !last_writes(file))
        .collect();
    added.sort();
    added
}

/// A time written as seconds since 1970 with a fraction (`1765100000.123456789`).
fn seconds_since_1970(text: &str) -> Option<std::time::SystemTime> {
    let (seconds, nanos) = text.trim().split_once('.')?;
    let since = std::time::Duration::new(seconds.parse().ok()?, nanos.parse().ok()?);
    Some(std::time::UNIX_EPOCH + since)
}

/// How far from its list, before or after, a stopped run's last writes may land: its process
/// ends within milliseconds of the signal, so this leaves a wide margin, and a user adds files
/// earlier or later.
pub const LAST_WRITES: std::time::Duration = std::time::Duration::from_secs(1);

/// When `path` last changed: its status change time where the system keeps one, which a copy
/// that keeps the original's modification time (`cp -p`) or a move into the folder still sets.
fn changed_at(path: &Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let since_epoch =
            std::time::Duration::new(u64::try_from(meta.ctime()).ok()?, meta.ctime_nsec() as u32);
        Some(std::time::UNIX_EPOCH + since_epoch)
    }
    #[cfg(not(unix))]
    meta.modified().ok()
}

/// What stops `--force` in `folder`, for its refusal: the [`unlisted_files`], each folder of a
/// later folio command's outputs inside it named once (`stress/`, `seed-0/explain-2020-03-16/`),
/// the first few of them.
fn added_by_user(folder: &Path) -> Vec<String> {
    let unlisted = unlisted_files(folder);
    // A folder inside with a mark that the list does not name is a later command's; one whose
    // mark it names is the same command's (an eval's seed folders), and its files are judged
    // one by one.
    let nested_outputs = |file: &str| {
        let parts: Vec<&str> = file.split('/').collect();
        (1..parts.len())
            .map(|n| parts[..n].join("/"))
            .find(|dir| {
                let nested_mark = format!("{dir}/{OUTPUT_MARK}");
                folder.join(&nested_mark).is_file() && unlisted.contains(&nested_mark)
            })
            .map(|dir| format!("{dir}/ (a later folio command's outputs)"))
    };
    let mut added: Vec<String> = Vec::new();
    for file in unlisted.iter().cloned() {
        let entry = nested_outputs(&file).unwrap_or(file);
        if !added.contains(&entry) {
            added.push(entry);
        }
    }
    if added.len() > 5 {
        let more = added.len() - 5;
        added.truncate(5);
        added.push(format!("and {more} more"));
    }
    added
}

/// Whether `folder` holds anything besides a lock file and the mark.
fn holds_outputs(folder: &Path) -> std::io::Result<bool> {
    Ok(std::fs::read_dir(folder)?
        .flatten()
        .any(|e| e.file_name() != LOCK_FILE && e.file_name() != OUTPUT_MARK))
}

/// The first few names in `folder`, sorted, for an error that says what is there.
fn some_entries(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.retain(|name| name != LOCK_FILE);
    names.sort();
    if names.len() > 3 {
        let more = names.len() - 3;
        names.truncate(3);
        names.push(format!("and {more} more"));
    }
    names
}

/// The files folio's defaults and the README's first commands name, compiled in: an installed
/// binary (`cargo install --path .`) has no repository beside it, yet `folio train` with no
/// flags, `folio panel envs/default.toml envs/factor_etfs.toml`, `folio search --space
/// envs/tilt_search.toml` and every other `envs/` file the README names must still work. Paths
/// are as those commands name them, relative to the folder folio runs in.
const BUNDLED: &[(&str, &[u8])] = &[
    ("envs/default.toml", include_bytes!("../envs/default.toml")),
    ("envs/data/us_stocks_20_daily.csv", include_bytes!("../envs/data/us_stocks_20_daily.csv")),
    ("envs/tax_us.toml", include_bytes!("../envs/tax_us.toml")),
    ("envs/factor_etfs.toml", include_bytes!("../envs/factor_etfs.toml")),
    ("envs/data/us_factor_etfs_daily.csv", include_bytes!("../envs/data/us_factor_etfs_daily.csv")),
    ("envs/tilt_search.toml", include_bytes!("../envs/tilt_search.toml")),
    ("envs/olps_djia.toml", include_bytes!("../envs/olps_djia.toml")),
    ("envs/data/olps/djia.csv", include_bytes!("../envs/data/olps/djia.csv")),
    ("envs/risk_questionnaire.toml", include_bytes!("../envs/risk_questionnaire.toml")),
];

/// The bundled copy of `path`, if folio carries one.
pub fn bundled(path: &Path) -> Option<&'static [u8]> {
    let wanted: Vec<_> = path.components().filter(|c| *c != std::path::Component::CurDir).collect();
    BUNDLED.iter().find(|(name, _)| Path::new(name).components().eq(wanted.iter().copied())).map(|(_, b)| *b)
}

/// The content of `path`: the file on disk when there is one (it always wins), else folio's
/// bundled copy of a default file, else the error of reading it.
pub fn read_or_bundled(path: &Path) -> std::io::Result<std::borrow::Cow<'static, [u8]>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes.into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bundled(path).map(Into::into).ok_or(e),
        Err(e) => Err(e),
    }
}

/// [`read_or_bundled`] as text; bytes that are not UTF-8 are an error.
pub fn read_text_or_bundled(path: &Path) -> std::io::Result<String> {
    let bytes = read_or_bundled(path)?;
    String::from_utf8(bytes.into_owned())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()))
}

/// The path that leads from folder `from` to `to`, both absolute (`../data/x.csv`); `None` when
/// they share no root.
pub fn relative_path(from: &Path, to: &Path) -> Option<std::path::PathBuf> {
    if !from.is_absolute() || !to.is_absolute() {
        return None;
    }
    let (from, to): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let shared = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    if shared == 0 {
        return None;
    }
    let mut path = std::path::PathBuf::new();
    for _ in shared..from.len() {
        path.push("..");
    }
    path.extend(&to[shared..]);
    Some(path)
}

/// `path` with each `folder/..` pair taken out (`run/seed-0/../../data/x.csv` is
/// `data/x.csv`), where the shorter path names the same file: through a link, `..` leads
/// elsewhere than the lexical parent, and then `path` is kept as it is.
pub fn tidy(path: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut kept: Vec<Component> = Vec::new();
    for component in path.components() {
        match (component, kept.last()) {
            (Component::ParentDir, Some(Component::Normal(_))) => {
                kept.pop();
            }
            (Component::CurDir, _) => {}
            _ => kept.push(component),
        }
    }
    let tidied: std::path::PathBuf = kept.iter().collect();
    let same_file = matches!(
        (std::fs::canonicalize(path), std::fs::canonicalize(&tidied)),
        (Ok(a), Ok(b)) if a == b
    );
    if same_file { tidied } else { path.to_path_buf() }
}

/// Why a CBOR file folio wrote does not decode, in words: ciborium's own message for a file
/// that ends early is Rust's debug form of the I/O error.
pub fn cbor_reason(error: &ciborium::de::Error<std::io::Error>) -> String {
    use ciborium::de::Error;
    match error {
        Error::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => "the file ends early".into(),
        Error::Io(e) => e.to_string(),
        Error::Syntax(offset) => format!("not CBOR at byte {offset}"),
        Error::Semantic(Some(offset), reason) => format!("{reason} at byte {offset}"),
        Error::Semantic(None, reason) => reason.clone(),
        Error::RecursionLimitExceeded => "nested too deeply".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` threads released together, each running `work`: as runs started at one instant.
    fn all_at_once<T: Send + 'static>(count: usize, work: impl Fn() -> T + Send + Sync + 'static) -> Vec<T> {
        let start = std::sync::Arc::new(std::sync::Barrier::new(count));
        let work = std::sync::Arc::new(work);
        let threads: Vec<_> = (0..count)
            .map(|_| {
                let (start, work) = (start.clone(), work.clone());
                std::thread::spawn(move || {
                    start.wait();
                    work()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    }

    #[test]
    fn a_path_through_parent_folders_is_tidied_only_where_it_names_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("runs/seed-0")).unwrap();
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::write(root.join("data/x.csv"), "date,A\n").unwrap();
        let long = root.join("runs/seed-0/../../data/./x.csv");
        assert_eq!(tidy(&long), root.join("data/x.csv"));
        // Through a link, `..` is the link target's parent: the lexical answer would be wrong.
        std::fs::create_dir_all(root.join("elsewhere/deep")).unwrap();
        std::fs::create_dir_all(root.join("elsewhere/data")).unwrap();
        std::fs::write(root.join("elsewhere/data/x.csv"), "date,B\n").unwrap();
        std::os::unix::fs::symlink(root.join("elsewhere/deep"), root.join("link")).unwrap();
        let through = root.join("link/../data/x.csv");
        assert_eq!(tidy(&through), through, "it names elsewhere/data/x.csv, not data/x.csv");
        let missing = root.join("runs/../nothing.csv");
        assert_eq!(tidy(&missing), missing, "a path that names no file is left as given");
    }

    #[test]
    fn default_folders_taken_at_one_instant_are_all_different() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("checkpoints/run");
        let reserved = all_at_once(8, move || reserve_fresh_folder(&base).unwrap());
        let distinct: std::collections::BTreeSet<_> = reserved.iter().collect();
        assert_eq!(distinct.len(), 8, "{reserved:?}");
        assert!(reserved.iter().all(|path| path.is_dir()));
    }

    #[test]
    fn fresh_claims_made_at_one_instant_all_succeed_in_different_folders() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("walk-forward");
        // Each claim is kept until all are made, as runs that are still working.
        let claims = all_at_once(4, move || OutputFolder::fresh(&base));
        let paths: std::collections::BTreeSet<_> = claims
            .iter()
            .map(|claim| claim.as_ref().map(|c| c.path().to_path_buf()))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(paths.len(), 4, "{paths:?}");
        // Runs that fail before writing leave none of the folders their claims made.
        drop(claims);
        assert!(paths.iter().all(|path| !path.exists()), "{paths:?}");
    }

    /// What a folio command writes, as a file of its own (noted as this process's).
    fn output(path: &Path, text: &str) {
        write_bytes_atomically(path, text.as_bytes()).unwrap();
    }

    /// A file a user puts into a command's folder, before or while it runs or after it
    /// finished, stops `--force` from deleting it with folio's outputs; a picture folio adds
    /// later, in the folder or a folder inside it, is folio's, and does not.
    #[test]
    fn force_replaces_a_folder_of_outputs_but_never_a_file_a_user_added() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let claim = OutputFolder::claim(&out, false).unwrap();
        output(&out.join("report.json"), "{}");
        std::fs::write(out.join("while-it-ran.txt"), "mine").unwrap();
        output(&out.join("fold-1/result.cbor"), "r");
        claim.finish();
        // Drawn by another process (`folio plot`), which records it.
        for picture in ["walk_forward.png", "fold-1/training.png"] {
            std::fs::write(out.join(picture), "png").unwrap();
            record_output(&out.join(picture)).unwrap();
        }
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        let refused = OutputFolder::claim(&out, true).err().unwrap().to_string();
        assert!(refused.contains("did not write (notes.txt, while-it-ran.txt)"), "{refused}");
        assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");
        std::fs::remove_file(out.join("notes.txt")).unwrap();
        std::fs::remove_file(out.join("while-it-ran.txt")).unwrap();
        let replacing = OutputFolder::claim(&out, true).unwrap();
        assert!(replacing.replaces_earlier_outputs());
        replacing.finish();
        assert!(!out.join("report.json").exists(), "folio's outputs were replaced");
    }

    /// `--resume` continues only a folder that a folio command marked: a folder of a user's own
    /// files is refused and left as it was, mark-free. Reopened, a finished folder keeps what a
    /// user had added out of its outputs, whether the resumed run finishes or is stopped
    /// outright.
    #[test]
    fn a_resume_reopens_only_folios_folders_and_never_adopts_a_users_files() {
        let dir = tempfile::tempdir().unwrap();
        let research = dir.path().join("research");
        std::fs::create_dir(&research).unwrap();
        std::fs::write(research.join("notes.txt"), "mine").unwrap();
        let refused = OutputFolder::reopen(&research).unwrap_err().to_string();
        assert!(refused.contains("no folio command marked") && refused.contains("notes.txt"), "{refused}");
        assert!(!research.join(OUTPUT_MARK).exists() && !research.join(LOCK_FILE).exists());

        let out = dir.path().join("run");
        let claim = OutputFolder::claim(&out, false).unwrap();
        output(&out.join("report.json"), "{}");
        claim.finish();
        std::fs::write(out.join("NOTES.md"), "mine").unwrap();
        // Stopped outright while it resumes: its new outputs are its own, the notes are not.
        let stopped = OutputFolder::reopen(&out).unwrap();
        output(&out.join("fold-2/result.cbor"), "r");
        drop(stopped);
        assert_eq!(unlisted_files(&out), vec!["NOTES.md".to_string()]);
        let reopened = OutputFolder::reopen(&out).unwrap();
        output(&out.join("summary.md"), "#");
        reopened.finish();
        let refused = OutputFolder::claim(&out, true).unwrap_err().to_string();
        assert!(refused.contains("did not write (NOTES.md)"), "{refused}");
    }

    /// A `--resume` that fails (refused by its command, say) leaves the finished folder's list as
    /// it was, with anything it wrote added: a file a user adds afterwards is still theirs.
    #[test]
    fn a_failed_resume_keeps_the_folders_list() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let claim = OutputFolder::claim(&out, false).unwrap();
        output(&out.join("report.json"), "{}");
        claim.finish();
        let refused = OutputFolder::reopen(&out).unwrap();
        output(&out.join("fold-1/result.cbor"), "r");
        drop(refused);
        std::fs::write(out.join("later.txt"), "mine").unwrap();
        assert!(finished_outputs(&out));
        assert_eq!(unlisted_files(&out), vec!["later.txt".to_string()]);
    }

    /// Subfolders are checked file by file: a user's file inside one stops `--force`; a later
    /// folio command's folder inside is named once, as such, while a folder the same command
    /// claimed inside (an eval's `ensemble/`) has its files named. An older folio's list, which
    /// named only the top of the folder, still covers all below each name.
    #[test]
    fn force_sees_a_users_file_anywhere_in_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("wf");
        let claim = OutputFolder::claim(&out, false).unwrap();
        output(&out.join("fold-1/seed-0/best.bpk"), "net");
        let own = OutputFolder::claim(&out.join("ensemble"), false).unwrap();
        output(&out.join("ensemble/report.json"), "{}");
        own.finish();
        claim.finish();
        std::fs::write(out.join("fold-1/seed-0/analysis.ipynb"), "mine").unwrap();
        std::fs::write(out.join("ensemble/note.txt"), "mine").unwrap();
        let later = OutputFolder::claim(&out.join("stress"), false).unwrap();
        output(&out.join("stress/stress.json"), "{}");
        later.finish();
        let refused = OutputFolder::claim(&out, true).unwrap_err().to_string();
        assert!(refused.contains("fold-1/seed-0/analysis.ipynb"), "{refused}");
        assert!(refused.contains("ensemble/note.txt"), "{refused}");
        assert!(refused.contains("stress/ (a later folio command's outputs)"), "{refused}");
        assert!(out.join("fold-1/seed-0/analysis.ipynb").exists());

        std::fs::remove_file(out.join("fold-1/seed-0/analysis.ipynb")).unwrap();
        std::fs::remove_dir_all(out.join("stress")).unwrap();
        std::fs::remove_dir_all(out.join("ensemble")).unwrap();
        std::fs::write(out.join(OUTPUT_MARK), format!("{MARK_NOTE}{TOP_LEVEL_HEADER}fold-1\n")).unwrap();
        std::fs::write(out.join("fold-1/seed-0/last.bpk"), "net").unwrap();
        OutputFolder::claim(&out, true).unwrap().finish();
        assert!(!out.join("fold-1").exists(), "an older folio's outputs were replaced");
    }

    /// What a stopped run writes in the moment around its list is its own; a file changed well
    /// before (a user's, added while it ran) or well after (added since) is a user's. The moment is the one the list records: a picture recorded
    /// in it since (which rewrites the mark) does not move it.
    #[test]
    fn a_stopped_runs_last_writes_are_its_own_and_later_files_a_users() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("wf");
        let _claim = OutputFolder::claim(&out, false).unwrap();
        output(&out.join("report.json"), "{}");
        list_outputs(&out, INTERRUPTED_HEADER, &[]).unwrap();
        std::fs::write(out.join("best.bpk.pending"), "net").unwrap();
        assert_eq!(unlisted_files(&out), Vec::<String>::new());
        let mark = out.join(OUTPUT_MARK);
        let stopped_at = |when: std::time::SystemTime| {
            let text = std::fs::read_to_string(&mark).unwrap();
            let (before, after) = text.split_once(STOPPED_AT).unwrap();
            let since = when.duration_since(std::time::UNIX_EPOCH).unwrap();
            let rest = after.split_once('\n').unwrap().1;
            let stamp = format!("{}.{:09}", since.as_secs(), since.subsec_nanos());
            std::fs::write(&mark, format!("{before}{STOPPED_AT}{stamp}\n{rest}")).unwrap();
        };
        stopped_at(std::time::SystemTime::now() - 10 * LAST_WRITES);
        std::fs::write(out.join("plot.png"), "png").unwrap();
        record_output(&out.join("plot.png")).unwrap();
        assert_eq!(unlisted_files(&out), vec!["best.bpk.pending".to_string()], "long after the list");
        stopped_at(std::time::SystemTime::now() + 10 * LAST_WRITES);
        assert_eq!(unlisted_files(&out), vec!["best.bpk.pending".to_string()], "long before the list");
    }

    /// A stopped run's claim: a folder it made and wrote nothing in goes, so a default name is
    /// not used up; one it wrote in lists the files it wrote as its partial outputs, never a
    /// user's.
    #[test]
    fn a_stopped_run_leaves_no_empty_folder_and_lists_what_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("eval");
        let empty = OutputFolder::fresh(&base).unwrap();
        settle_interrupted(&Claimed {
            folder: empty.path().to_path_buf(),
            inherited: Vec::new(),
            created: true,
        });
        assert!(!empty.path().exists());
        drop(empty);

        let out = dir.path().join("wf");
        std::fs::create_dir(&out).unwrap();
        let claim = OutputFolder::claim(&out, false).unwrap();
        output(&out.join("fold-1/result.cbor"), "r");
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        settle_interrupted(&Claimed {
            folder: out.clone(),
            inherited: vec!["fold-0.cbor".into()],
            created: false,
        });
        let mark = std::fs::read_to_string(out.join(OUTPUT_MARK)).unwrap();
        assert!(mark.contains(INTERRUPTED_HEADER) && mark.ends_with("\nfold-1/result.cbor\n"), "{mark}");
        assert!(!mark.contains("notes.txt"), "{mark}");
        assert!(!out.join(LOCK_FILE).exists());
        drop(claim);
    }

    /// Two runs racing for one `--out`: the finished outputs of the one that took the folder are
    /// never deleted to put back what the other set aside.
    #[test]
    fn finished_outputs_are_never_deleted_to_put_back_older_ones() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("ev");
        let claim = OutputFolder::claim(&out, false).unwrap();
        output(&out.join("report.json"), "newer");
        claim.finish();
        let aside = dir.path().join(".ev.replaced-4242");
        std::fs::create_dir(&aside).unwrap();
        std::fs::write(aside.join("report.json"), "older").unwrap();
        let refused = OutputFolder::claim(&out, false).unwrap_err().to_string();
        assert!(refused.contains("already holds outputs") && !refused.contains("put back"), "{refused}");
        assert_eq!(std::fs::read_to_string(out.join("report.json")).unwrap(), "newer");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_stays_a_link_and_what_it_names_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared.jsonl");
        std::fs::write(&shared, "a\n").unwrap();
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(&shared, &link).unwrap();
        write_bytes_atomically(&link, b"b\n").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&shared).unwrap(), "b\n");
        // A relative link to a file not written yet gets the file, and stays a link.
        std::fs::create_dir(dir.path().join("team")).unwrap();
        let early = dir.path().join("early.jsonl");
        std::os::unix::fs::symlink("team/trials.jsonl", &early).unwrap();
        write_bytes_atomically(&early, b"c\n").unwrap();
        assert!(std::fs::symlink_metadata(&early).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(dir.path().join("team/trials.jsonl")).unwrap(), "c\n");
        // An output folder reached through a link is claimed where it is.
        let (real, linked) = (dir.path().join("real"), dir.path().join("out"));
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, &linked).unwrap();
        OutputFolder::claim(&linked, false).unwrap().finish();
        assert!(real.join(OUTPUT_MARK).is_file());
        assert!(std::fs::symlink_metadata(&linked).unwrap().file_type().is_symlink());
    }

    #[test]
    fn a_lock_of_this_process_released_a_moment_later_is_taken_and_one_kept_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let held = FolderLock::acquire(dir.path()).unwrap();
        // As a child forked by another thread holds this process's lock until it execs.
        let release = std::thread::spawn(move || {
            // Far inside the half second of retries, so a slow scheduler cannot fail the test.
            std::thread::sleep(std::time::Duration::from_millis(20));
            drop(held);
        });
        let taken = FolderLock::acquire(dir.path());
        release.join().unwrap();
        assert!(taken.is_ok(), "{:?}", taken.err());
        let Err(error) = FolderLock::acquire(dir.path()) else { panic!("a lock kept is busy") };
        assert!(matches!(error, LockError::Busy { .. }), "{error}");
    }
}
