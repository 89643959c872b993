//! Claiming a command's output folder (a fresh one, one replaced as a whole with `--force`, or
//! one reopened with `--resume`), and leaving it as it was found when the command fails or is
//! stopped.

use super::atomic::{close_journal, is_temporary_name, open_journal};
use super::lock::{FolderLock, LOCK_FILE, LockError};
use super::mark::{
    OUTPUT_MARK, added_by_user, files_within, finished_outputs, holds_outputs, list_outputs, mark,
    some_entries, unlisted_files,
};
use super::paths::through_link;
use std::path::Path;

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
    /// `--resume` reopened a finished command's folder: a resumed run that fails lists its
    /// outputs as finished again, so that they are never deleted to put older ones back.
    reopened_finished: bool,
    lock: Option<FolderLock>,
    /// The lock of the folder being replaced, held while it is set aside so that a claim of
    /// the same folder elsewhere knows it is not abandoned.
    set_aside_lock: Option<FolderLock>,
}

/// A folder this process has claimed and not yet finished, for a run stopped by a signal
/// ([`settle_interrupted_claims`]).
#[derive(Debug, Clone)]
pub(super) struct Claimed {
    pub(super) folder: std::path::PathBuf,
    /// The claim made the folder.
    pub(super) created: bool,
}

static CLAIMED: std::sync::Mutex<Vec<Claimed>> = std::sync::Mutex::new(Vec::new());

/// For a run stopped by a signal, settle each folder this process has claimed and not finished:
/// one it wrote nothing in is left as the claim found it (a folder the claim made goes, so a
/// default name is not used up by a run that wrote nothing). In any other the mark stays as it
/// is: its journal names what the run wrote, and the threads still at work go on adding to it
/// until the process ends, so no moment of the stop leaves a file of the run's out of it, or
/// puts a user's file in (a list written at the signal did both, for the files that changed
/// within a second of it).
pub fn settle_interrupted_claims() {
    for claimed in CLAIMED.lock().map(|c| c.clone()).unwrap_or_default() {
        settle_interrupted(&claimed);
    }
}

pub(super) fn settle_interrupted(Claimed { folder, created }: &Claimed) {
    // The process ends in a moment: its lock dies with it, and its file is clutter.
    let _ = std::fs::remove_file(folder.join(LOCK_FILE));
    take_back_if_empty(folder, true, *created);
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
    close_journal(path);
}

impl Claimed {
    pub(super) fn new(folder: &Path, created: bool) -> Self {
        Claimed { folder: folder.to_path_buf(), created }
    }
}

fn remember_claim(path: &Path, created: bool) {
    if let Ok(mut claimed) = CLAIMED.lock() {
        claimed.push(Claimed::new(path, created));
    }
    open_journal(path, OUTPUT_MARK);
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
            .and_then(|lock| Ok((lock, mark(path, &[], &[]).map_err(io)?)));
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
        remember_claim(path, created);
        Ok(Self {
            path: path.to_path_buf(),
            named,
            set_aside,
            created,
            marked,
            finished: false,
            inherited: Vec::new(),
            continued_replacement: None,
            reopened_finished: false,
            lock: Some(lock),
            set_aside_lock,
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
        let reopened_finished = finished_outputs(path);
        let mut inherited = files_within(path).map_err(io)?;
        inherited.retain(|file| !users.contains(file));
        inherited.retain(|file| {
            !(is_abandoned_temporary(path, file) && std::fs::remove_file(path.join(file)).is_ok())
        });
        // Until this run lists its outputs, the mark names what it must never take for them, and
        // its journal starts with what it continues.
        let marked = mark(path, &users, &inherited).map_err(io)?;
        remember_claim(path, false);
        Ok(Self {
            path: path.to_path_buf(),
            named,
            set_aside: None,
            created: false,
            marked,
            finished: false,
            inherited,
            continued_replacement,
            reopened_finished,
            lock: Some(lock),
            set_aside_lock: None,
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
        remember_claim(&path, true);
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
        let _ = list_outputs(&self.path, &self.inherited);
        if let Some(lock) = self.lock.take() {
            lock.release();
        }
        let replaced = self.set_aside.take().or(self.continued_replacement.take().map(|(old, _)| old));
        if let Some(old) = replaced {
            let _ = std::fs::remove_dir_all(old);
            forget_replacement(&self.path);
        }
        self.set_aside_lock = None;
    }
}

/// How long after its last write a temporary file counts as abandoned: a live writer (`plot` and
/// `report`, which take no lock) renames its file within moments of writing it.
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether `file` (a path within `folder`, which this process holds) is the temporary copy of an
/// output that a run killed between writing and renaming it left behind. Not one in a folder
/// inside that holds its own lock or mark: another command's, which may be at work.
fn is_abandoned_temporary(folder: &Path, file: &str) -> bool {
    let file = Path::new(file);
    // Every file of the folder comes here: only a temporary one is worth a look at the disk.
    if !file.file_name().is_some_and(|name| is_temporary_name(&name.to_string_lossy())) {
        return false;
    }
    let another_commands =
        file.ancestors().skip(1).filter(|inner| !inner.as_os_str().is_empty()).any(|inner| {
            folder.join(inner).join(LOCK_FILE).exists() || folder.join(inner).join(OUTPUT_MARK).exists()
        });
    let written = std::fs::metadata(folder.join(file)).and_then(|meta| meta.modified());
    let quiet = written.is_ok_and(|at| at.elapsed().is_ok_and(|age| age >= ABANDONED_AFTER));
    !another_commands && quiet
}

impl Drop for OutputFolder {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // The command failed: what it had written goes, and the folder it replaced comes back.
        forget_claim(&self.path);
        forget_replacement(&self.path);
        if self.reopened_finished {
            let _ = list_outputs(&self.path, &self.inherited);
        }
        if let Some(lock) = self.lock.take() {
            lock.release();
        }
        if let Some(old) = self.set_aside.take() {
            let _ = std::fs::remove_dir_all(&self.path);
            let _ = std::fs::rename(old, &self.path);
        }
        // The folder back in place is as it was: the lock file the claim put in it goes too.
        if let Some(lock) = self.set_aside_lock.take() {
            lock.release();
        }
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
