//! One folio process at a time in a folder.

use super::atomic::note_written;
use std::io::Write;
use std::path::Path;

/// An exclusive hold on a folder for as long as this value lives: two folio processes never
/// write into one folder at once. It is an OS file lock on `<folder>/.folio.lock`, so it dies
/// with its process: a killed run never leaves a lock that blocks the next one. A run that
/// ends [`FolderLock::release`]s it, which takes the file away too.
#[derive(Debug)]
pub struct FolderLock {
    file: std::fs::File,
    path: std::path::PathBuf,
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

/// Tries before a lock file that keeps being taken away under a new lock counts as an error:
/// each time means another run released the folder in that instant.
const RELEASED_RETRIES: u32 = 20;

impl FolderLock {
    /// Lock `folder` (created if missing), or fail at once if another process holds it.
    ///
    /// A lock that this very process took last, and has released, can still look held for an
    /// instant: a child that another thread is starting holds a copy of the lock's descriptor
    /// until it execs. Such a lock is tried again for a moment; one that another process holds
    /// fails at once.
    pub fn acquire(folder: &Path) -> Result<Self, LockError> {
        let ours = format!("pid {} on ", std::process::id());
        let (mut tries, mut released) = (0, 0);
        loop {
            match Self::try_acquire(folder) {
                Err(LockError::Busy { holder, .. }) if holder.starts_with(&ours) && tries < BUSY_RETRIES => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                Ok(None) if released < RELEASED_RETRIES => released += 1,
                Ok(None) => {
                    let source =
                        std::io::Error::other("its lock file was taken away each time it was locked");
                    return Err(LockError::Io { folder: folder.to_path_buf(), source });
                }
                Ok(Some(lock)) => return Ok(lock),
                Err(error) => return Err(error),
            }
        }
    }

    /// End the hold and take the lock file away, so that a finished folder holds only its
    /// outputs. The file goes while it is still locked, and only if it is still this lock's:
    /// a run that opened it a moment before finds, once it holds it, that the folder's lock file
    /// is no longer the one it locked, and locks the folder anew ([`FolderLock::acquire`]).
    pub fn release(self) {
        if self.still_named() {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// Whether the lock file's path still names the file this lock holds.
    fn still_named(&self) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let (Ok(held), Ok(named)) = (self.file.metadata(), std::fs::metadata(&self.path)) else {
                return false;
            };
            held.dev() == named.dev() && held.ino() == named.ino()
        }
        #[cfg(not(unix))]
        self.path.exists()
    }

    /// The lock, or `None` when the file it locked had been taken away by a run releasing the
    /// folder in that instant (the lock is then on a file no other run will look at).
    fn try_acquire(folder: &Path) -> Result<Option<Self>, LockError> {
        let io = |source| LockError::Io { folder: folder.to_path_buf(), source };
        std::fs::create_dir_all(folder).map_err(io)?;
        let path = folder.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
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
        let mut lock = Self { file, path };
        if !lock.still_named() {
            return Ok(None);
        }
        note_written(&lock.path);
        // For people only: the OS lock, not this text, is what excludes other runs.
        lock.file.set_len(0).map_err(io)?;
        let _ = writeln!(lock.file, "pid {} on {}", std::process::id(), host_name());
        Ok(Some(lock))
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this machine".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Runs that lock and release one folder over and over never hold it at once. Between a
    /// run's open of the lock file and its lock, another run can release the folder and take
    /// that file away; the lock then holds a file nobody else will open, and the run must lock
    /// the folder anew rather than work beside the next run to create the file.
    #[test]
    fn runs_that_lock_and_release_one_folder_never_hold_it_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let (inside, overlaps) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    let mut holds = 0;
                    while holds < 500 {
                        match FolderLock::try_acquire(dir.path()) {
                            Ok(Some(lock)) => {
                                if inside.fetch_add(1, Ordering::SeqCst) > 0 {
                                    overlaps.fetch_add(1, Ordering::SeqCst);
                                }
                                std::thread::yield_now();
                                inside.fetch_sub(1, Ordering::SeqCst);
                                lock.release();
                                holds += 1;
                            }
                            // The file was taken away under the lock: try again, as acquire does.
                            Ok(None) => {}
                            Err(LockError::Busy { .. }) => std::thread::yield_now(),
                            Err(error) => panic!("{error}"),
                        }
                    }
                });
            }
        });
        assert_eq!(overlaps.load(Ordering::SeqCst), 0, "two runs held the folder at once");
    }
}
