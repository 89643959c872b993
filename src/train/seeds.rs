//! The layout of a multi-seed training run: `<run>/seeds.json` (the seeds it was started with)
//! and one checkpoint per seed in `<run>/seed-<s>`. Every command that trains, resumes,
//! evaluates or walks forward finds a run's seeds here.

use serde::Serialize;
use std::path::{Path, PathBuf};

use super::TrainError;
use super::checkpoint::{self, CheckpointError};

/// What a multi-seed run writes in its folder before any seed trains: the seeds it was asked
/// for. A seed's folder exists only once it has started, so without this a resume could not
/// tell a three-seed run stopped before its third seed from a two-seed run.
pub const SEEDS_FILE: &str = "seeds.json";

/// The seeds a multi-seed run in `out` was started with: its first seed and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PlannedSeeds {
    pub first: u64,
    pub seeds: usize,
}

impl PlannedSeeds {
    /// The seeds recorded in `out`; `None` for a folder without the record (a single-seed run,
    /// or one saved before folio kept it).
    pub fn of(out: &Path) -> Option<Self> {
        serde_json::from_slice(&std::fs::read(out.join(SEEDS_FILE)).ok()?).ok()
    }

    pub(super) fn write(self, out: &Path) -> Result<(), TrainError> {
        let path = out.join(SEEDS_FILE);
        crate::files::write_atomically(&path, |w| {
            serde_json::to_writer_pretty(&mut *w, &self).map_err(std::io::Error::other)
        })
        .map_err(|source| CheckpointError::Io { path, source }.into())
    }
}

/// The folder of seed `seed` in a multi-seed run: `<run>/seed-<seed>`.
pub fn seed_folder(run: &Path, seed: u64) -> PathBuf {
    run.join(seed_folder_name(seed))
}

/// `seed-<seed>`, the name of seed `seed`'s folder.
pub fn seed_folder_name(seed: u64) -> String {
    format!("seed-{seed}")
}

/// The seed that a folder named `seed-<s>` holds; `None` for any other name.
pub fn seed_of_folder(folder: &Path) -> Option<u64> {
    folder.file_name()?.to_str()?.strip_prefix("seed-")?.parse().ok()
}

/// The seed folders of a multi-seed run that hold a checkpoint, in seed order.
pub fn seed_folders(run: &Path) -> Vec<PathBuf> {
    let mut folders: Vec<(u64, PathBuf)> = std::fs::read_dir(run)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let seed = seed_of_folder(&entry.path())?;
            entry.path().join(checkpoint::META).exists().then(|| (seed, entry.path()))
        })
        .collect();
    folders.sort();
    folders.into_iter().map(|(_, path)| path).collect()
}
