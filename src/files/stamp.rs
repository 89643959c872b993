//! A folder's stamp: the small file a command writes where it starts, naming what runs there (a
//! walk-forward's id, a search's, a panel's markets), which `--resume` reads back so that a
//! folder of another run is refused rather than mixed with this one.

use std::path::Path;

/// The stamp at `path` as it was written, or `None` where there is none. Any other failure to
/// read it (no permission, a folder in its place, bytes that are not text) is an error: taken
/// for "no stamp", it would let a resume join a run it cannot check.
pub fn read_stamp(path: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_reads_back_as_written_and_only_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.id");
        assert_eq!(read_stamp(&path).unwrap(), None);
        std::fs::write(&path, "abc\n").unwrap();
        assert_eq!(read_stamp(&path).unwrap().as_deref(), Some("abc\n"));
        std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        assert!(read_stamp(&path).is_err(), "bytes that are not text are not 'no stamp'");
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(read_stamp(&path).is_err(), "a folder in the stamp's place is not 'no stamp'");
    }
}
