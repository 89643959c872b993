//! What an output folder says of itself: the mark that makes it folio's, and the list of the
//! files folio wrote in it (kept as a journal while a command works there), which is how a
//! user's file is told from an output.

use super::atomic::{append_line, is_temporary_name, was_written, write_atomically};
use super::lock::LOCK_FILE;
use super::paths::name_within;
use std::path::Path;

/// The file every claimed output folder holds: what `--force` may replace.
pub const OUTPUT_MARK: &str = ".folio-outputs";

/// Mark `folder` as claimed by a command at work, naming the `users` files in it that are not
/// folio's (those a user had added before a `--resume`) and starting the journal of what it
/// writes with the `written` files that are (those an earlier run of the same work left);
/// true when it held no mark before.
pub(super) fn mark(folder: &Path, users: &[String], written: &[String]) -> std::io::Result<bool> {
    let mark = folder.join(OUTPUT_MARK);
    let was_there = mark.is_file();
    let lines = |files: &[String]| files.iter().map(|file| format!("{file}\n")).collect::<String>();
    let (users, written) = (lines(users), lines(written));
    write_atomically(&mark, |w| write!(w, "{MARK_NOTE}{USERS_HEADER}{users}{JOURNAL_HEADER}{written}"))?;
    Ok(!was_there)
}

/// Add `file`, by its path in `folder`, to the journal of a command at work there: appended to
/// the mark, not rewritten, so that it costs one short write per output, and what a process
/// killed outright (which lists nothing) had written is still known for folio's. Without a mark
/// (the folder was given up) nothing is written.
pub(super) fn journal(folder: &Path, file: &str) -> std::io::Result<()> {
    append_line(&folder.join(OUTPUT_MARK), file)
}

/// What [`OUTPUT_MARK`] says above its list of outputs or its journal.
pub(super) const MARK_NOTE: &str = "folio wrote this folder: `--force` may replace it as a whole.\n";
/// Above the files of a command that finished, each by its path in the folder.
pub(super) const LIST_HEADER: &str =
    "# every file folio wrote here; any other is a user's, and stops --force\n";
/// Above the files of a command stopped by a signal, in an older folio's mark: its partial
/// outputs (folio now keeps the journal of a stopped run as it is).
pub(super) const INTERRUPTED_HEADER: &str = "# every file folio had written here when its run was stopped; any other is a user's, and stops --force\n";
/// Above the files of a user's that a command at work found in its folder (a `--resume`'s).
pub(super) const USERS_HEADER: &str =
    "# a user's files, never folio's (a command is at work here, or was stopped outright)\n";
/// Below them, the journal of a command at work: each file it writes, the first time it writes
/// it, and what a resume continues ([`journal`]).
pub(super) const JOURNAL_HEADER: &str = "# what folio has written here so far, each as it was written\n";
/// Before an older folio's stopped list: when it was written, in seconds since 1970.
pub(super) const STOPPED_AT: &str = "# stopped at ";
/// An older folio's list: names at the top of the folder only, each covering all below it.
pub(super) const TOP_LEVEL_HEADER: &str =
    "# what folio wrote here; anything else is a user's, and stops --force\n";

/// Record in the mark, as folio's outputs, the files in `folder` (by their path there,
/// subfolders included) that this process wrote or that an earlier run of the same work left
/// (`inherited`), when a command that claimed it succeeds: a file a user adds anywhere in it,
/// before or after, is then known for theirs, and `--force` leaves the folder alone rather than
/// delete it with folio's outputs.
pub(super) fn list_outputs(folder: &Path, inherited: &[String]) -> std::io::Result<()> {
    let mut files = files_within(folder)?;
    files.retain(|file| inherited.contains(file) || was_written(&folder.join(file)));
    files.sort();
    let listed: String = files.iter().map(|file| format!("{file}\n")).collect();
    write_atomically(&folder.join(OUTPUT_MARK), |w| write!(w, "{MARK_NOTE}{LIST_HEADER}{listed}"))
}

/// What a folder's mark says of the files in it, each kind with the lines that follow its header.
pub(super) enum MarkList<'a> {
    /// A command finished there ([`LIST_HEADER`]): every file it wrote, by its path.
    Finished(&'a str),
    /// A command an older folio ran was stopped by a signal ([`INTERRUPTED_HEADER`]): its
    /// partial outputs.
    Stopped(&'a str),
    /// An older folio's list ([`TOP_LEVEL_HEADER`]): names at the top of the folder only.
    TopLevel(&'a str),
    /// A command at work, or stopped outright ([`USERS_HEADER`]): a user's files, never folio's,
    /// and the journal of what it has written ([`JOURNAL_HEADER`]; an older folio kept none).
    Users { users: &'a str, journal: Option<&'a str> },
    /// No list at all (a mark from before lists, or none).
    Bare,
}

impl<'a> MarkList<'a> {
    /// The first line that is a header says what the lines after it are: a file named like a
    /// header further down is a name in the list, whatever a user called it.
    pub(super) fn of(text: &'a str) -> Self {
        let mut read = 0;
        for line in text.split_inclusive('\n') {
            read += line.len();
            let lines = &text[read..];
            match line {
                LIST_HEADER => return MarkList::Finished(lines),
                INTERRUPTED_HEADER => return MarkList::Stopped(lines),
                TOP_LEVEL_HEADER => return MarkList::TopLevel(lines),
                USERS_HEADER => return Self::users_then_journal(lines),
                _ => {}
            }
        }
        MarkList::Bare
    }

    /// The user's files and the journal below them. The journal's header is the last line of
    /// its text, since folio writes no file of that name and a user's may bear any.
    fn users_then_journal(lines: &'a str) -> Self {
        let header_at = lines
            .rmatch_indices(JOURNAL_HEADER)
            .map(|(at, _)| at)
            .find(|&at| at == 0 || lines[..at].ends_with('\n'));
        match header_at {
            Some(at) => {
                MarkList::Users { users: &lines[..at], journal: Some(&lines[at + JOURNAL_HEADER.len()..]) }
            }
            None => MarkList::Users { users: lines, journal: None },
        }
    }
}

/// The text of `folder`'s mark, empty when it has none.
pub(super) fn mark_text(folder: &Path) -> String {
    std::fs::read_to_string(folder.join(OUTPUT_MARK)).unwrap_or_default()
}

/// Whether the mark of `folder` lists the outputs of a command that finished there.
pub(super) fn finished_outputs(folder: &Path) -> bool {
    matches!(MarkList::of(&mark_text(folder)), MarkList::Finished(_) | MarkList::TopLevel(_))
}

/// Every file below `folder`, by its path there with `/` between names (a link counts as a
/// file, and is not followed), but for the folder's own lock and mark.
pub(super) fn files_within(folder: &Path) -> std::io::Result<Vec<String>> {
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

/// Add `path`, an output folio wrote into a command's folder or a folder inside it (a redrawn
/// picture, a page), to the list of the nearest folder above it that has one, or to the journal
/// of a command at work there or killed outright.
pub fn record_output(path: &Path) -> std::io::Result<()> {
    let Ok(path) = std::path::absolute(path) else { return Ok(()) };
    let Some(folder) = path.ancestors().skip(1).find(|folder| folder.join(OUTPUT_MARK).is_file()) else {
        return Ok(());
    };
    let Some(name) = name_within(folder, &path) else { return Ok(()) };
    let mark = folder.join(OUTPUT_MARK);
    let text = std::fs::read_to_string(&mark)?;
    let list = MarkList::of(&text);
    if text.lines().any(|line| line == name) {
        return Ok(());
    }
    match list {
        MarkList::Users { journal: Some(_), .. } => journal(folder, &name),
        MarkList::Finished(_) | MarkList::Stopped(_) | MarkList::TopLevel(_) => {
            write_atomically(&mark, |w| w.write_all(format!("{text}{name}\n").as_bytes()))
        }
        // An older folio's command at work, or a mark without a list: nothing to add it to.
        MarkList::Users { journal: None, .. } | MarkList::Bare => Ok(()),
    }
}

/// The files in `folder`, subfolders included, that its mark's list of outputs does not name,
/// or, for a command at work or killed outright (which lists nothing), that its journal does
/// not. An older folio's mark without a journal names a user's files instead, and one without
/// a list names none; an older folio's list names only the top of the folder, each name
/// covering all below it.
pub(super) fn unlisted_files(folder: &Path) -> Vec<String> {
    let text = mark_text(folder);
    let (listed, top_level, stopped) = match MarkList::of(&text) {
        MarkList::Finished(listed) => (listed, false, false),
        MarkList::Stopped(listed) => (listed, false, true),
        MarkList::TopLevel(listed) => (listed, true, false),
        // A command at work, or stopped outright: what its journal names is its own, and so are
        // the lock and temporary files it leaves (a resume removes those abandoned long enough),
        // while anything else was a user's before it started or added since.
        MarkList::Users { journal: Some(journal), .. } => {
            let journal: std::collections::HashSet<&str> = journal.lines().collect();
            let left_by_folio = |file: &str| {
                let name = file.rsplit('/').next().unwrap_or(file);
                name == LOCK_FILE || is_temporary_name(name)
            };
            let mut added = files_within(folder).unwrap_or_default();
            added.retain(|file| !journal.contains(file.as_str()) && !left_by_folio(file));
            added.sort();
            return added;
        }
        // An older folio's mark, with no journal: all but the user's files it names are its own.
        MarkList::Users { users, journal: None } => {
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
    // The threads of a run that an older folio listed at a signal went on writing for the
    // moment around the list (a file persisted just before, noted just after, or written
    // between the list and the end): a file changed (made, written or moved in) then is the
    // run's. One changed well before is a user's added while it ran, one changed well after a
    // user's added since.
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

/// How far from an older folio's stopped list, before or after, the run's last writes may have
/// landed: its process ended within milliseconds of the signal.
pub(super) const LAST_WRITES: std::time::Duration = std::time::Duration::from_secs(1);

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
pub(super) fn added_by_user(folder: &Path) -> Vec<String> {
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
pub(super) fn holds_outputs(folder: &Path) -> std::io::Result<bool> {
    Ok(std::fs::read_dir(folder)?
        .flatten()
        .any(|e| e.file_name() != LOCK_FILE && e.file_name() != OUTPUT_MARK))
}

/// The first few names in `folder`, sorted, for an error that says what is there.
pub(super) fn some_entries(folder: &Path) -> Vec<String> {
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
