//! Checkpoints: `checkpoints/<run>/` holds the network weights (burn's burnpack format), the
//! optimizer state and the learner's own state (`learner.bin`) for `--resume`, the training log,
//! and `meta.json` with everything needed to use the weights again. A save is published as one
//! step through a journal (`publishing.json`): a crash mid-save leaves the old state or, once
//! the journal is written, the new one, which the next reader finishes; never a mix.

use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::agent::ActionHead;
use crate::agent::network::PolicyNet;
use crate::data::{PricePanel, read_assets};
use crate::env::config::EnvConfig;
use crate::env::{Market, ObservationLayout};
use crate::features::Normalizer;
use crate::files::write_bytes_atomically;
use crate::metrics::Metrics;
use crate::metrics::sharpe_difference::SharpeDifference;
use crate::train::TrainError;
use crate::train::config::TrainConfig;

pub const META: &str = "meta.json";
pub const BEST: &str = "best.bpk";
pub const LAST: &str = "last.bpk";
pub const OPTIMIZER: &str = "optimizer.bpk";
pub const LOG: &str = "train_log.csv";
/// The learner's own state (the direct learner's portfolio-vector memory), for `--resume`.
pub const LEARNER: &str = "learner.bin";
/// The journal of a publication in progress: its presence means the `.pending` files it lists
/// are complete and are the checkpoint's new state.
pub const JOURNAL: &str = "publishing.json";

const PENDING: &str = ".pending";

/// Whether a training saved a checkpoint in `dir`, or was publishing one when it was stopped:
/// something `--resume` continues rather than a folder to train into afresh.
pub fn saved_in(dir: &Path) -> bool {
    dir.join(META).exists() || dir.join(JOURNAL).exists()
}

/// Which of a checkpoint's networks to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Weights {
    /// The network validation chose: the one with the best validation score, or the untrained
    /// reference portfolio when training did not beat it ([`ReferenceTest`]).
    #[default]
    Best,
    /// The network as training left it.
    Last,
}

impl Weights {
    pub fn file_name(self) -> &'static str {
        match self {
            Weights::Best => BEST,
            Weights::Last => LAST,
        }
    }
}

/// Reports name the weights by their file, `best.bpk` or `last.bpk`.
impl Serialize for Weights {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.file_name())
    }
}

impl std::fmt::Display for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.file_name())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a checkpoint folder (it has no {META}): train one with `folio train`, which prints where it wrote it", dir.display())]
    Missing { dir: PathBuf },
    #[error("{} does not exist: give the folder that `folio train` wrote, which it prints", dir.display())]
    NotThere { dir: PathBuf },
    #[error("{} is a file, not a checkpoint folder: give the folder that `folio train` wrote, which it prints", dir.display())]
    NotAFolder { dir: PathBuf },
    #[error("{}: not a readable folio checkpoint: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("checkpoint {} does not fit this data: {reason}", path.display())]
    Mismatch { path: PathBuf, reason: String },
    #[error(
        "checkpoint {} was trained on {}, which is no longer there, nor where the checkpoint folder finds it after a move: pass --data with where the file is now",
        dir.display(),
        file.display()
    )]
    DataGone { dir: PathBuf, file: PathBuf },
    #[error("checkpoint {} cannot join this ensemble: {reason}", path.display())]
    CannotJoin { path: PathBuf, reason: String },
    #[error(
        "{} is not the data checkpoint {} was trained on (its prices differ from training's over the rows training and validation read); pass --data with the training file, or --allow-other-data to act on this one anyway",
        file.display(),
        dir.display()
    )]
    OtherData { dir: PathBuf, file: PathBuf },
    #[error(
        "{} observes {feature}, which sees the next period's return: it is the oracle probe's training, an \
         upper bound that `folio probe` reports, and nothing it does is out of sample; evaluate a checkpoint \
         that `folio train` or `folio walk-forward` wrote",
        dir.display()
    )]
    SeesTheFuture { dir: PathBuf, feature: &'static str },
}

/// The first and last rows (their dates) that training and validation read, and their
/// fingerprint ([`crate::data::PricePanel::fingerprint`] of those rows of the training assets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenRows {
    pub from: String,
    pub to: String,
    pub fingerprint: String,
}

impl SeenRows {
    /// Rows `first..=last` of `panel` (the training selection), when the panel is dated.
    pub fn of(panel: &PricePanel, first: usize, last: usize) -> Option<Self> {
        if !panel.index.is_dated() {
            return None;
        }
        let (from, to) = (panel.index.stamp(first), panel.index.stamp(last));
        let rows = panel.select(&panel.assets, Some(from), Some(to)).ok()?;
        Some(Self { from: from.to_string(), to: to.to_string(), fingerprint: rows.panel.fingerprint() })
    }

    /// Whether `panel` holds these rows, for `assets`, unchanged.
    fn held_by(&self, panel: &PricePanel, assets: &[String]) -> bool {
        let (Ok(from), Ok(to)) = (self.from.parse(), self.to.parse()) else { return false };
        panel
            .select(assets, Some(from), Some(to))
            .is_ok_and(|rows| rows.panel.fingerprint() == self.fingerprint)
    }
}

/// Which prices a checkpoint acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataChoice {
    /// Another price file with the same assets; default: the one the checkpoint was trained on.
    pub file: Option<PathBuf>,
    /// Act on prices that are not, over the training rows, the ones training loaded.
    pub allow_other: bool,
}

/// Everything needed to use a checkpoint again, and to know where it came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub folio_version: String,
    pub env: EnvConfig,
    pub train: TrainConfig,
    pub head: ActionHead,
    pub assets: Vec<String>,
    pub normalizer: Normalizer,
    /// Fingerprint of the price panel training loaded (assets, dates and prices).
    pub data_fingerprint: String,
    /// The rows training and validation read, on dated data: a file that holds them unchanged,
    /// with later rows added or changed, is the training data as far as the agent knows.
    /// Absent from checkpoints saved before folio recorded it, and on undated data, whose row
    /// numbers restart with each selection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_rows: Option<SeenRows>,
    /// The price file as training resolved it, absolute: `env.data.file` is as the config
    /// named it, relative to wherever training ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_file: Option<PathBuf>,
    /// The price file relative to the checkpoint folder, so that a project moved or copied as a
    /// whole still finds its data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_from_checkpoint: Option<PathBuf>,
    pub train_range: (String, String),
    pub validation_range: (String, String),
    pub seed: u64,
    pub progress: TrainingProgress,
    /// Validation metrics of the best network and of equal weight over the same period.
    pub validation: Option<ValidationRecord>,
    /// Names this trained agent, however often it is resumed: the registry counts it once.
    #[serde(default)]
    pub run_id: String,
    /// SHA-256 (hex) of each weight file, by file name: a flipped bit or a file from another
    /// save is refused on load. Checkpoints from before checksums have none and are not checked.
    #[serde(default)]
    pub checksums: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrainingProgress {
    pub updates: usize,
    pub env_steps: usize,
    pub best_update: Option<usize>,
    pub best_score: Option<f64>,
    pub validations_without_improvement: usize,
    /// The latest validation scores, at most `selection_window` of them, oldest first. A
    /// validation with no Sharpe ratio (prices that never move, one return) scores minus
    /// infinity, which JSON writes as `null`.
    #[serde(default, deserialize_with = "scores_from_json")]
    pub recent_scores: Vec<f64>,
    pub seconds: f64,
    /// Why training ended, when it has.
    pub stopped: Option<String>,
    /// The run ended as configured (its budget spent, or out of patience) and chose the network it
    /// deploys; false while it trains, when it diverged, and in checkpoints from before this field.
    #[serde(default)]
    pub finished: bool,
}

/// Validation scores as JSON holds them: `null` for the minus infinity of a validation with no
/// Sharpe ratio.
fn scores_from_json<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<f64>, D::Error> {
    let scores = Vec::<Option<f64>>::deserialize(deserializer)?;
    Ok(scores.into_iter().map(|score| score.unwrap_or(f64::NEG_INFINITY)).collect())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidationRecord {
    /// The kept network's: the best trained one, or the untrained reference when the
    /// [`ReferenceTest`] kept it.
    pub agent: Metrics,
    pub equal_weight: Metrics,
    /// How the best trained network fared against its untrained reference, when the run ended
    /// with an anchored network and `train.reference_gate` on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_test: Option<ReferenceTest>,
}

impl ValidationRecord {
    /// Whether the run deploys its untrained reference portfolio because training did not beat it.
    pub fn kept_reference(&self) -> bool {
        self.reference_test.as_ref().is_some_and(|test| test.kept_reference)
    }

    /// Whether it deploys its reference untested: the gap could not be tested ([`untested_gap`]),
    /// which says nothing of what training learned.
    pub fn kept_reference_untested(&self) -> bool {
        self.reference_test.as_ref().is_some_and(|test| test.kept_reference && test.gap.is_none())
    }
}

/// The end-of-training choice between the best trained network and the untrained one, which is
/// exactly the reference portfolio: the trained one is kept only when its validation Sharpe
/// beats the reference's by more than `margin` standard errors of the gap.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReferenceTest {
    /// The update of the trained network tested: a resumed run that finds no better one keeps
    /// the choice already made.
    pub trained_update: usize,
    pub trained: Metrics,
    pub reference: Metrics,
    /// `Sharpe(trained) - Sharpe(reference)` on the validation returns, and its test; `None`
    /// when the validation period is too short to test (then the reference is kept).
    pub gap: Option<SharpeDifference>,
    pub margin: f64,
    pub kept_reference: bool,
}

/// Why a gap on validation went untested, in words: the test needs
/// [`MIN_PERIODS`](crate::metrics::sharpe_difference::MIN_PERIODS) periods and two return
/// series that vary.
pub fn untested_gap() -> String {
    format!(
        "the validation period is too short to test the gap (under {} periods), or a return series does not vary",
        crate::metrics::sharpe_difference::MIN_PERIODS
    )
}

/// A margin in words: "1 standard error", "2 standard errors".
pub fn standard_errors(margin: f64) -> String {
    format!("{margin} standard error{}", if margin == 1.0 { "" } else { "s" })
}

impl ReferenceTest {
    /// The choice in words, e.g. "kept the untrained reference portfolio: the trained network
    /// (update 700) had validation Sharpe 1.18 against the reference's 1.05, a gap of +0.12
    /// (standard error 0.13), not more than 1 standard error".
    pub fn describe(&self) -> String {
        if self.kept_reference {
            format!("kept the untrained reference portfolio: {}", self.reason())
        } else {
            format!("kept the trained network: {}", self.reason())
        }
    }

    /// Why: the trained network's validation against the reference's, and the margin.
    pub fn reason(&self) -> String {
        let trained = format!("the trained network (update {})", self.trained_update);
        let sharpes = format!(
            "{trained} had validation Sharpe {:.2} against the reference's {:.2}",
            self.trained.sharpe, self.reference.sharpe
        );
        let evidence = match &self.gap {
            Some(gap) if gap.negligible() => format!("{sharpes}, a gap of {}", gap.describe()),
            Some(gap) => {
                format!(
                    "{sharpes}, a gap of {:+.2} (standard error {:.2})",
                    gap.difference, gap.standard_error
                )
            }
            None => format!("{trained} could not be tested: {}", untested_gap()),
        };
        let margin = standard_errors(self.margin);
        match (self.kept_reference, &self.gap) {
            (true, Some(gap)) if gap.negligible() => evidence,
            (true, Some(_)) => format!("{evidence}, not more than {margin}"),
            (true, None) => evidence,
            (false, _) => format!("{evidence}, more than {margin}"),
        }
    }
}

impl Meta {
    pub fn layout(&self) -> ObservationLayout {
        ObservationLayout {
            assets: self.assets.len(),
            features: self.env.features.features.len(),
            window: self.env.features.window,
            reference: self.env.features.reference.anchors(),
        }
    }

    /// Where the training data is now: found from the checkpoint folder as training left them
    /// (moved together), at the absolute path training resolved, else at the configured path
    /// (from the current folder, or folio's bundled copy of a default).
    pub fn training_data(&self, dir: &Path) -> PathBuf {
        let beside =
            self.data_from_checkpoint.as_ref().map(|relative| crate::files::tidy(&dir.join(relative)));
        [beside, self.data_file.clone()]
            .into_iter()
            .flatten()
            .find(|p| p.is_file())
            .unwrap_or_else(|| self.env.data.file.clone())
    }

    /// Whether `panel` holds the prices this checkpoint was trained on: the very panel, or the
    /// rows training and validation read, unchanged, with later rows added or changed (the
    /// everyday file that grows by a row a day).
    pub fn is_training_data(&self, panel: &PricePanel) -> bool {
        let whole = panel
            .select(&self.assets, self.env.data.from, self.env.data.to)
            .is_ok_and(|rows| rows.panel.fingerprint() == self.data_fingerprint);
        whole || self.seen_rows.as_ref().is_some_and(|seen| seen.held_by(panel, &self.assets))
    }

    /// The market this checkpoint acts on: `data.file` (default: the file it was trained on, over
    /// the same rows) for its assets, with its own feature normalization, checked to fit the
    /// network. Prices that differ from training's over the training rows are refused unless
    /// `data.allow_other` says to use them.
    pub fn market(&self, dir: &Path, data: &DataChoice) -> Result<Market, TrainError> {
        let file = data.file.clone().unwrap_or_else(|| self.training_data(dir));
        if data.file.is_none() && !file.is_file() && crate::files::bundled(&file).is_none() {
            return Err(CheckpointError::DataGone { dir: dir.to_path_buf(), file }.into());
        }
        // The config's selection, as training read it (and as the commands that read the config
        // read it, so that the file is parsed once).
        let raw = read_assets(&file, self.env.data.missing, &self.env.data.assets)?.panel;
        if !data.allow_other {
            // A file without the checkpoint's assets is refused for that, not as other data.
            raw.columns_named(&self.assets)?;
            if !self.is_training_data(&raw) {
                return Err(CheckpointError::OtherData { dir: dir.to_path_buf(), file }.into());
            }
        }
        let (from, to) = match data.file {
            Some(_) => (None, None),
            None => (self.env.data.from, self.env.data.to),
        };
        let selection = raw.select(&self.assets, from, to)?;
        let mut market =
            Market::new(selection.panel, &self.env.features, Some(self.normalizer.clone()), 0..0)?;
        market.ended_by = selection.ended_by;
        market.periods_per_year = self.env.data.periods_per_year;
        self.check_fits(dir, &market)?;
        Ok(market)
    }
    /// Whether this is `other`'s very training (the same run and seed, copied), not a training of
    /// its own.
    fn is_copy_of(&self, other: &Meta) -> bool {
        self.run_id == other.run_id && self.seed == other.seed
    }

    /// Refuse to put this checkpoint (at `dir`) in one ensemble with `first`'s (at `first_dir`):
    /// the members of an ensemble act on one observation and trade under one environment, so
    /// they must share its normalization, costs, limits and rules, as the seeds of one run do.
    pub fn check_joins(&self, dir: &Path, first: &Meta, first_dir: &Path) -> Result<(), CheckpointError> {
        let first_name = first_dir.display();
        let reason = if self.normalizer != first.normalizer {
            format!("its feature normalization differs from {first_name}'s: it was trained on other data")
        } else if self.env != first.env || self.assets != first.assets {
            let tables = [
                ("data", self.env.data != first.env.data || self.assets != first.assets),
                ("periods", self.env.periods != first.env.periods),
                ("features", self.env.features != first.env.features),
                ("costs", self.env.costs != first.env.costs),
                ("episode", self.env.episode != first.env.episode),
                ("reward", self.env.reward != first.env.reward),
                ("limits", self.env.limits != first.env.limits),
                ("risk_profile", self.env.risk_profile != first.env.risk_profile),
            ];
            let differ: Vec<String> = tables
                .iter()
                .filter(|(_, differs)| *differs)
                .map(|(table, _)| format!("[{table}]"))
                .collect();
            format!(
                "it was trained under another environment than {first_name}: its {} differ",
                differ.join(", ")
            )
        } else if self.is_copy_of(first) {
            copy_of(&first_name, self.seed)
        } else {
            return Ok(());
        };
        Err(CheckpointError::CannotJoin { path: dir.to_path_buf(), reason })
    }

    /// Refuse data the network was not trained for: other assets or another feature set.
    pub fn check_fits(&self, dir: &Path, market: &Market) -> Result<(), CheckpointError> {
        let mismatch = |reason: String| CheckpointError::Mismatch { path: dir.to_path_buf(), reason };
        if market.panel.assets != self.assets {
            return Err(mismatch(format!(
                "it was trained on assets [{}] but the data has [{}]",
                self.assets.join(", "),
                market.panel.assets.join(", ")
            )));
        }
        if market.feature_config != self.env.features {
            let describe = |features: &crate::features::FeatureConfig| {
                let names: Vec<&str> = features.features.iter().map(|f| f.name()).collect();
                format!(
                    "[{}] (window {}, reference {})",
                    names.join(", "),
                    features.window,
                    features.reference.name()
                )
            };
            let (trained, given) = (describe(&self.env.features), describe(&market.feature_config));
            let other = if trained == given { "; other [features] settings differ" } else { "" };
            return Err(mismatch(format!(
                "it was trained with features {trained} but the environment has {given}{other}"
            )));
        }
        Ok(())
    }
}

pub fn load_meta(dir: &Path) -> Result<Meta, CheckpointError> {
    check_folder(dir)?;
    let path = dir.join(META);
    let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => CheckpointError::Missing { dir: dir.to_path_buf() },
        _ => CheckpointError::Io { path: path.clone(), source },
    })?;
    let mut meta: Meta = serde_json::from_slice(&bytes)
        .map_err(|e| CheckpointError::Corrupt { path, reason: e.to_string() })?;
    // A best score of minus infinity (no validation had a Sharpe ratio) was written as `null`,
    // which reads back as no best at all; a resumed run would then take its next network as
    // better than the one kept.
    let progress = &mut meta.progress;
    if progress.best_update.is_some() && progress.best_score.is_none() {
        progress.best_score = Some(f64::NEG_INFINITY);
    }
    Ok(meta)
}

/// That `dir` is a folder: what a user gave as a checkpoint may be missing or a file, which the
/// system's "Not a directory" on its meta.json would not explain.
pub fn check_folder(dir: &Path) -> Result<(), CheckpointError> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(CheckpointError::NotThere { dir: dir.to_path_buf() })
        }
        Err(source) => Err(CheckpointError::Io { path: dir.to_path_buf(), source }),
        Ok(meta) if !meta.is_dir() => Err(CheckpointError::NotAFolder { dir: dir.to_path_buf() }),
        Ok(_) => Ok(()),
    }
}

/// A warning when any of `checkpoints` holds a training that never ended (a killed run not yet
/// resumed, or one still training): its weights are not those the finished run deploys, and the
/// reference gate has not judged them. A checkpoint whose meta.json cannot be read is left to the
/// load that reports it.
pub fn unfinished_training(checkpoints: &[PathBuf]) -> Option<String> {
    let unfinished: Vec<String> = checkpoints
        .iter()
        .filter(|dir| load_meta(dir).is_ok_and(|meta| meta.progress.stopped.is_none()))
        .map(|dir| dir.display().to_string())
        .collect();
    (!unfinished.is_empty()).then(|| {
        format!(
            "UNFINISHED: the training of {} has not ended (resuming the run that trains it, `folio \
             train --resume` or `folio walk-forward --resume`, finishes it), so these weights are not \
             those the finished run deploys.",
            unfinished.join(", ")
        )
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn pending(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{PENDING}"))
}

/// Publish a new state of the checkpoint in `dir`: `files` (name and content) and `meta`, which
/// records the weight files' checksums. Renaming files one at a time could leave new weights
/// beside old metadata, which `--resume` would then train again; so every file is first written
/// complete beside its destination, then one journal names them all (the commit), then they are
/// renamed into place. [`recover`] finishes a publication the journal names and discards any
/// other, so a reader sees the old state or the new one, never a mix.
pub fn publish(dir: &Path, files: &[(&str, Vec<u8>)], meta: &mut Meta) -> Result<(), CheckpointError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CheckpointError::Io { path, source }
    };
    for (name, bytes) in files.iter().filter(|(name, _)| *name != LOG) {
        meta.checksums.insert(name.to_string(), sha256_hex(bytes));
    }
    let json = serde_json::to_vec_pretty(meta).expect("meta serializes");
    let all: Vec<(&str, &[u8])> =
        files.iter().map(|(n, b)| (*n, b.as_slice())).chain([(META, json.as_slice())]).collect();
    for (name, bytes) in &all {
        let path = pending(dir, name);
        write_bytes_atomically(&path, bytes).map_err(io(&path))?;
    }
    let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
    let journal = dir.join(JOURNAL);
    write_bytes_atomically(&journal, &serde_json::to_vec(&names).expect("names serialize"))
        .map_err(io(&journal))?;
    roll_forward(dir, &names)
}

/// Move a committed publication's files into place; a file already moved is skipped, so this
/// can run again after a crash part-way through.
fn roll_forward(dir: &Path, names: &[&str]) -> Result<(), CheckpointError> {
    let io = |path: PathBuf| move |source| CheckpointError::Io { path, source };
    for name in names {
        let from = pending(dir, name);
        // Noted before the move, and noted where a killed process had already moved it: a
        // folder's journal must name every file the publication put in place.
        crate::files::note_written(&dir.join(name));
        if from.exists() {
            std::fs::rename(&from, dir.join(name)).map_err(io(from))?;
        }
    }
    // The renames must be on disk before the journal that would redo them disappears.
    if let Ok(folder) = std::fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    let journal = dir.join(JOURNAL);
    std::fs::remove_file(&journal).map_err(io(journal))
}

/// Every file a publication puts in place.
const PUBLISHED: [&str; 6] = [BEST, LAST, OPTIMIZER, LOG, LEARNER, META];

/// Whether `name` is a checkpoint's: one of its files, its journal, or what a publication leaves
/// on its way.
pub fn is_checkpoint_entry(name: &str) -> bool {
    PUBLISHED.contains(&name) || name == JOURNAL || is_publication_leftover(name)
}

/// Whether `name` is what a publication leaves on its way: a pending copy of a checkpoint file,
/// or the temporary file of an atomic write ([`crate::files::temporary_destination`], or
/// `.<file>.<random>.tmp` as older folios wrote it) of one, of a pending copy or of the journal.
/// Nothing else in a folder is touched by [`recover`]: it may be the user's.
fn is_publication_leftover(name: &str) -> bool {
    if let Some(file) = name.strip_suffix(PENDING) {
        return PUBLISHED.contains(&file);
    }
    let older = || {
        let (file, _random) = name.strip_prefix('.')?.strip_suffix(".tmp")?.rsplit_once('.')?;
        Some(file)
    };
    let Some(file) = crate::files::temporary_destination(name).or_else(older) else {
        return false;
    };
    file == JOURNAL
        || PUBLISHED.contains(&file)
        || file.strip_suffix(PENDING).is_some_and(|f| PUBLISHED.contains(&f))
}

/// Finish the publication a killed process committed, and remove what an uncommitted one and
/// interrupted atomic writes left behind. Only the holder of the folder's lock may call this:
/// a running save's pending files look just like abandoned ones.
pub fn recover(dir: &Path) -> Result<(), CheckpointError> {
    let journal = dir.join(JOURNAL);
    match std::fs::read(&journal) {
        Ok(bytes) => {
            // The journal is written atomically: unreadable means damaged, not half written.
            let corrupt = |reason: String| CheckpointError::Corrupt { path: journal.clone(), reason };
            let names: Vec<String> = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
            if let Some(name) = names.iter().find(|name| !PUBLISHED.contains(&name.as_str())) {
                return Err(corrupt(format!("it names {name}, which no checkpoint publishes")));
            }
            roll_forward(dir, &names.iter().map(String::as_str).collect::<Vec<_>>())?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(CheckpointError::Io { path: journal, source }),
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.flatten() {
        if is_publication_leftover(&entry.file_name().to_string_lossy()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// A checkpoint left mid-publication by a killed run is finished before it is read, unless a
/// live run holds the folder (then its own next save completes it).
fn recover_if_interrupted(dir: &Path) -> Result<(), CheckpointError> {
    if dir.join(JOURNAL).exists()
        && let Ok(_lock) = crate::files::FolderLock::acquire(dir)
    {
        recover(dir)?;
    }
    Ok(())
}

const CHANGED_AFTER_SAVE: &str =
    "its SHA-256 is not the one meta.json recorded, so the file was changed or damaged after it was saved";

/// The bytes of a checkpoint's file `name`, refused when they are not what `meta` recorded.
fn read_verified(dir: &Path, name: &str, meta: &Meta) -> Result<Vec<u8>, CheckpointError> {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|source| CheckpointError::Io { path: path.clone(), source })?;
    if let Some(expected) = meta.checksums.get(name)
        && sha256_hex(&bytes) != *expected
    {
        return Err(CheckpointError::Corrupt { path, reason: CHANGED_AFTER_SAVE.into() });
    }
    Ok(bytes)
}

/// The network's weights in burn's burnpack format.
pub fn net_bytes(net: &PolicyNet) -> Result<Vec<u8>, CheckpointError> {
    let corrupt = |reason: String| CheckpointError::Corrupt { path: PathBuf::from(BEST), reason };
    let mut store = BurnpackStore::from_bytes(None);
    net.save_into(&mut store).map_err(|e| corrupt(e.to_string()))?;
    Ok(store.get_bytes().map_err(|e| corrupt(e.to_string()))?.to_vec())
}

pub fn save_net(net: &PolicyNet, path: &Path) -> Result<(), CheckpointError> {
    write_bytes_atomically(path, &net_bytes(net)?)
        .map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })
}

/// Load weights into `net` (built from the checkpoint's config); missing, unused or misshapen
/// tensors are an error, never a partial load.
pub fn load_net(net: PolicyNet, path: &Path) -> Result<PolicyNet, CheckpointError> {
    let bytes =
        std::fs::read(path).map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })?;
    net_from_bytes(net, bytes, path)
}

fn net_from_bytes(mut net: PolicyNet, bytes: Vec<u8>, path: &Path) -> Result<PolicyNet, CheckpointError> {
    let corrupt = |reason: String| CheckpointError::Corrupt { path: path.to_path_buf(), reason };
    let mut store = BurnpackStore::from_bytes(Some(Bytes::from_bytes_vec(bytes)));
    let result = net.load_from(&mut store).map_err(|e| corrupt(e.to_string()))?;
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        return Err(corrupt(format!(
            "weights do not match the network: {} errors, missing {:?}, unused {:?}",
            result.errors.len(),
            result.missing.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            result.unused
        )));
    }
    if !super::step::all_finite(&net) {
        return Err(corrupt("it holds non-finite weights (NaN or infinity)".into()));
    }
    Ok(net)
}

/// The optimizer's state (Adam's moments), for `--resume`.
pub fn optimizer_bytes(optimizer: &ModuleOptimizer) -> Result<Vec<u8>, CheckpointError> {
    let corrupt = |reason: String| CheckpointError::Corrupt { path: PathBuf::from(OPTIMIZER), reason };
    let bytes = optimizer.into_bytes().map_err(|e| corrupt(e.to_string()))?;
    let bytes = in_name_order(bytes).map_err(|e| corrupt(format!("{e:?}")))?;
    Ok(bytes.to_vec())
}

/// The same burnpack with its tensors sorted by name. burn writes optimizer state in the order
/// of a hash map, which differs from process to process: sorted, one state is one set of bytes.
fn in_name_order(bytes: Bytes) -> Result<Bytes, burn_pack::Error> {
    let reader = burn_pack::Reader::from_bytes(bytes)?;
    let (scalars, metadata) = (reader.scalars().clone(), reader.metadata().clone());
    let mut tensors = reader.into_tensors()?;
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    let mut writer = burn_pack::Writer::new(tensors);
    for (key, value) in &scalars {
        writer = writer.with_scalar(key, *value);
    }
    for (key, value) in &metadata {
        writer = writer.with_metadata(key, value);
    }
    writer.into_bytes()
}

/// The learner state the checkpoint in `dir` saved, checked against `meta`; `None` for a
/// checkpoint saved without one.
pub fn load_learner_state(dir: &Path, meta: &Meta) -> Result<Option<Vec<u8>>, CheckpointError> {
    if !dir.join(LEARNER).exists() {
        // A run that resumed without the state it saved would go on from another point and end
        // elsewhere, without a word: only a checkpoint that never saved one goes on without.
        if meta.checksums.contains_key(LEARNER) {
            return Err(CheckpointError::Corrupt {
                path: dir.join(LEARNER),
                reason: format!(
                    "the file is missing, and {META} records that the run saved it: copy the whole \
                     checkpoint folder back, or train anew without --resume"
                ),
            });
        }
        return Ok(None);
    }
    read_verified(dir, LEARNER, meta).map(Some)
}

/// A resumed run's network and optimizer as the checkpoint in `dir` last saved them, each
/// checked against the checksums in `meta`.
pub fn load_last(
    dir: &Path,
    meta: &Meta,
    net: PolicyNet,
    optimizer: ModuleOptimizer,
) -> Result<(PolicyNet, ModuleOptimizer), CheckpointError> {
    let net = load_weights(dir, meta, Weights::Last, net)?;
    let path = dir.join(OPTIMIZER);
    let optimizer = optimizer
        .from_bytes(Bytes::from_bytes_vec(read_verified(dir, OPTIMIZER, meta)?))
        .map_err(|e| CheckpointError::Corrupt { path, reason: e.to_string() })?;
    Ok((net, optimizer))
}

/// The network a checkpoint saved as `which`, loaded into `net` (built from its config) and
/// checked against `meta`.
pub fn load_weights(
    dir: &Path,
    meta: &Meta,
    which: Weights,
    net: PolicyNet,
) -> Result<PolicyNet, CheckpointError> {
    let name = which.file_name();
    net_from_bytes(net, read_verified(dir, name, meta)?, &dir.join(name))
}

/// A checkpoint's network on `device`, ready to act.
/// The agent saved in `dir`, with its meta, for any use but a probe's: a policy that observes a
/// feature no decision can know yet (the oracle probe's) is refused, since no result of it could
/// be out of sample.
pub fn load_agent(dir: &Path, which: Weights, device: &Device) -> Result<(Meta, PolicyNet), CheckpointError> {
    let (meta, net) = load_probe_agent(dir, which, device)?;
    if let Some(feature) = meta.env.features.features.iter().find(|feature| !feature.is_causal()) {
        return Err(CheckpointError::SeesTheFuture { dir: dir.to_path_buf(), feature: feature.name() });
    }
    Ok((meta, net))
}

/// The agent saved in `dir`, whatever it observes: for `folio probe` alone, which trains the
/// oracle on tomorrow's returns to show that the learner can exploit an edge.
pub fn load_probe_agent(
    dir: &Path,
    which: Weights,
    device: &Device,
) -> Result<(Meta, PolicyNet), CheckpointError> {
    // A run still training publishes its files one rename at a time, so a reader between two
    // renames finds weights newer than the meta.json it read: it reads both again before it
    // calls the checkpoint damaged.
    let mut retries = 0;
    loop {
        match load_agent_once(dir, which, device) {
            Err(CheckpointError::Corrupt { reason, .. }) if reason == CHANGED_AFTER_SAVE && retries < 20 => {
                retries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            loaded => return loaded,
        }
    }
}

fn load_agent_once(
    dir: &Path,
    which: Weights,
    device: &Device,
) -> Result<(Meta, PolicyNet), CheckpointError> {
    recover_if_interrupted(dir)?;
    let meta = load_meta(dir)?;
    let layout = meta.layout();
    meta.train
        .net
        .validate(&layout)
        .map_err(|invalid| CheckpointError::Corrupt { path: dir.join(META), reason: invalid.to_string() })?;
    let net = load_weights(dir, &meta, which, meta.train.net.init(layout, device))?;
    Ok((meta, net))
}

/// Why a member that is `original`'s very training (seed `seed`) cannot join its ensemble.
fn copy_of(original: &dyn std::fmt::Display, seed: u64) -> String {
    format!("it is a copy of {original}'s training (seed {seed}): one seed counted twice")
}

/// The networks of `others`, to act in one ensemble with the checkpoint at `first_dir` (whose
/// meta is `first`): each must read `market` and share `first`'s normalization, as the seeds of
/// one run do.
pub fn load_members(
    others: &[PathBuf],
    which: Weights,
    first: &Meta,
    first_dir: &Path,
    market: &Market,
    device: &Device,
) -> Result<Vec<(Meta, PolicyNet)>, CheckpointError> {
    let mut members: Vec<(Meta, PolicyNet)> = Vec::with_capacity(others.len());
    for dir in others {
        let (other, net) = load_agent(dir, which, device)?;
        other.check_fits(dir, market)?;
        other.check_joins(dir, first, first_dir)?;
        // Copies among the others, too: each member must be a training of its own.
        if let Some(j) = members.iter().position(|(member, _)| other.is_copy_of(member)) {
            let reason = copy_of(&others[j].display(), other.seed);
            return Err(CheckpointError::CannotJoin { path: dir.clone(), reason });
        }
        members.push((other, net));
    }
    Ok(members)
}
