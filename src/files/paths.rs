//! Paths as folio reads and writes them: through links, relative to a folder, tidied.

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

/// `path`'s name in `folder` as a mark lists it and [`super::mark::files_within`] names it: its
/// parts below `folder` joined by `/` (`fold-1/seed-0/meta.json`), whatever the system's
/// separator. `None` outside `folder`, and for the folder itself.
pub(super) fn name_within(folder: &Path, path: &Path) -> Option<String> {
    let within = path.strip_prefix(folder).ok()?;
    let name = within.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
    (!name.is_empty()).then_some(name)
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
