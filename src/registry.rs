//! The trial registry: one record per trained agent that `folio train` or `folio walk-forward`
//! has run, so that the Deflated Sharpe Ratio (Bailey and López de Prado 2014) counts the
//! trials actually tried on a data set, not a number the user types in.
//!
//! The registry is a JSON-lines file, [`DEFAULT_PATH`] unless the command line (`--registry`)
//! or the [`ENV_VAR`] environment variable names another. Each line is one [`TrialRecord`]:
//! when, which command, a hash of the configuration ([`config_hash`]), the data's fingerprint,
//! the seed, the folio version, the algorithm and network, the period its figures are for and
//! those figures, and where the agent was saved.
//!
//! **A shorter cut of the same history counts.** A trial on dated data also records its span
//! (assets, first and last date), and one on undated data its assets and number of rows, so a run
//! on a longer cut of that history (the full data after development runs cut at the validation
//! end, say) counts it among its trials when its own rows over that span (for undated data, its
//! first rows) hash to the trial's fingerprint ([`shorter_cuts_of`]). A trial on a longer
//! cut is not counted by a run on a shorter one: its fingerprint covers rows the shorter run
//! does not hold, so nothing can show that the rows they share are the same.
//!
//! **Appending never loses earlier records.** [`append`] takes an OS file lock on
//! `<registry>.lock` (so two folio processes never append at once, and a killed process's lock
//! dies with it; a process-wide mutex also orders the threads of one process), reads the whole file, refuses
//! to go on if any line is not a record (the error names the file and the line), and writes the
//! old lines byte for byte followed by the new ones to a temporary file that is renamed over the
//! registry ([`crate::files`]). A crash leaves either the old file or the new one, never half
//! of one. Only a live process holding the lock for longer than [`LOCK_WAIT`] makes an append
//! fail, with a message naming the lock file.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::data::{DataSpan, PricePanel, RowSpan};
use crate::env::config::{DataConfig, EnvConfig};
use crate::metrics::{self, Metrics, nan_if_null};
use crate::train::checkpoint::Meta;
use crate::train::{TrainConfig, TrainOutcome};

/// Where the registry lives unless `--registry` or [`ENV_VAR`] says otherwise.
pub const DEFAULT_PATH: &str = "checkpoints/trials.jsonl";

/// Environment variable naming the registry file.
pub const ENV_VAR: &str = "FOLIO_REGISTRY";

/// How long [`append`] waits for another process's lock before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("trial registry {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("trial registry {}, line {line}: not a trial record ({reason}); fix or remove that line", path.display())]
    Corrupt { path: PathBuf, line: usize, reason: String },
    #[error(
        "trial registry {}: {} is still held by another running folio after {} s; try again when it has finished",
        path.display(),
        lock.display(),
        LOCK_WAIT.as_secs()
    )]
    Locked { path: PathBuf, lock: PathBuf },
    #[error("trial registry {}: {why}", path.display())]
    Unusable { path: PathBuf, why: String },
    /// A training to record whose checkpoint cannot be read back.
    #[error(transparent)]
    Checkpoint(#[from] crate::train::checkpoint::CheckpointError),
}

/// The registry must be a plain file that folio may rewrite: appends write a new file and
/// rename it over the old one, which would replace a device (`--registry /dev/null` run as
/// root) and leave a pipe's reader waiting. `writing` adds that the file is not read-only, which
/// a rename would ignore.
fn usable(path: &Path, writing: bool) -> Result<(), RegistryError> {
    let unusable = |why: String| Err(RegistryError::Unusable { path: path.to_path_buf(), why });
    if path.as_os_str().to_string_lossy().ends_with(std::path::MAIN_SEPARATOR) {
        return unusable(format!(
            "names a folder (it ends with {}): give a file in it, such as {}",
            std::path::MAIN_SEPARATOR,
            path.join("trials.jsonl").display()
        ));
    }
    let Ok(metadata) = std::fs::metadata(path) else { return Ok(()) };
    if metadata.is_dir() {
        return unusable(format!(
            "is a folder: give a file in it, such as {}",
            path.join("trials.jsonl").display()
        ));
    }
    if !metadata.is_file() {
        return unusable(
            "is not a regular file (a device or a pipe): folio rewrites the registry to add trials; give a file (a scratch one, to keep a run's trials apart)".into(),
        );
    }
    if writing && metadata.permissions().readonly() {
        return unusable(
            "is read-only: folio rewrites it to add trials; make it writable, or give another --registry"
                .into(),
        );
    }
    Ok(())
}

/// The registry to use: the `--registry` flag if given, else [`ENV_VAR`] if set and not
/// empty, else [`DEFAULT_PATH`].
pub fn resolve(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| std::env::var_os(ENV_VAR).filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
}

/// The command that ran a trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrialCommand {
    Train,
    WalkForward,
}

impl std::fmt::Display for TrialCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TrialCommand::Train => "train",
            TrialCommand::WalkForward => "walk-forward",
        })
    }
}

/// Which kind of period a trial's figures were measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sample {
    /// `folio train`'s validation period, on which the kept network was selected.
    Validation,
    /// Walk-forward test windows, stitched: never seen by training or selection.
    OutOfSample,
}

/// A trial's figures over one period, after costs. Sharpe ratios with a zero risk-free rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub sample: Sample,
    /// First and last rows of the period (dates, or period numbers for undated data).
    pub period: (String, String),
    /// Number of returns.
    pub periods: usize,
    pub periods_per_year: f64,
    /// Annualized Sharpe ratio, as reports show it.
    #[serde(deserialize_with = "nan_if_null")]
    pub sharpe: f64,
    /// Per-period Sharpe ratio `mean / std`: what the Deflated Sharpe Ratio compares.
    #[serde(deserialize_with = "nan_if_null")]
    pub sharpe_per_period: f64,
    /// Mean per-period simple return.
    #[serde(deserialize_with = "nan_if_null")]
    pub mean: f64,
    /// Sample standard deviation (`n - 1`) of the per-period returns.
    #[serde(deserialize_with = "nan_if_null")]
    pub std: f64,
}

impl Figures {
    /// Figures of per-period simple returns.
    pub fn from_returns(
        sample: Sample,
        period: (String, String),
        returns: &[f64],
        periods_per_year: f64,
    ) -> Self {
        let mean = metrics::mean(returns);
        let std = metrics::sample_std(returns);
        let sharpe_per_period = metrics::sharpe(returns, 1.0);
        Self {
            sample,
            period,
            periods: returns.len(),
            periods_per_year,
            sharpe: sharpe_per_period * periods_per_year.sqrt(),
            sharpe_per_period,
            mean,
            std,
        }
    }

    /// Figures recovered from [`Metrics`] computed with a zero risk-free rate (as training
    /// validates): `std = vol / sqrt(P)`, per-period Sharpe `SR / sqrt(P)`, `mean = SR_p std`.
    pub fn from_metrics(
        sample: Sample,
        period: (String, String),
        m: &Metrics,
        periods_per_year: f64,
    ) -> Self {
        let root = periods_per_year.sqrt();
        let std = m.annual_volatility / root;
        let sharpe_per_period = crate::metrics::overfitting::per_period_sharpe(m.sharpe, periods_per_year);
        Self {
            sample,
            period,
            periods: m.periods,
            periods_per_year,
            sharpe: m.sharpe,
            sharpe_per_period,
            mean: sharpe_per_period * std,
            std,
        }
    }
}

/// One trained agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// When the trial was recorded, RFC 3339 in UTC.
    pub timestamp: String,
    pub command: TrialCommand,
    /// [`config_hash`] (or [`config_hash_with`]) of the configuration: the same for
    /// every seed of one configuration.
    pub config_hash: String,
    /// [`crate::data::PricePanel::fingerprint`] of the prices the trial saw.
    pub data_fingerprint: String,
    /// The price file, for people; the fingerprint is what counts.
    pub data: String,
    /// The assets and dates the fingerprint covers, for dated data: what finds this trial's
    /// rows again in a longer cut of the same history ([`shorter_cuts_of`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<DataSpan>,
    /// The assets and rows the fingerprint covers, for undated data: what finds this trial's rows
    /// again as the first rows of a longer cut ([`shorter_cuts_of`]). A field of its own, where
    /// `span` could have taken another shape, so that an older folio still reads the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<RowSpan>,
    pub seed: u64,
    pub folio_version: String,
    pub algo: String,
    pub net: String,
    pub figures: Figures,
    /// The checkpoint folder (for walk-forward, the run's folder holding `fold-*/seed-*`).
    pub checkpoint: PathBuf,
    /// The trained agent's [`Meta::run_id`], when one checkpoint holds it: a record whose run
    /// is already in the registry is not appended again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

impl TrialRecord {
    /// A record stamped now, with this folio's version, for `train`'s configuration and seed.
    pub fn new(
        command: TrialCommand,
        config_hash: String,
        data_fingerprint: String,
        env: &EnvConfig,
        train: &TrainConfig,
        figures: Figures,
        checkpoint: PathBuf,
    ) -> Self {
        Self {
            timestamp: now_rfc3339(),
            command,
            config_hash,
            data_fingerprint,
            data: env.data.file.display().to_string(),
            span: None,
            rows: None,
            seed: train.seed,
            folio_version: env!("CARGO_PKG_VERSION").to_string(),
            algo: label(&train.algo),
            net: label(&train.net.kind),
            figures,
            checkpoint,
            run_id: None,
        }
    }
}

impl TrialRecord {
    /// The record of a finished `folio train` run: its checkpoint's configuration, data and
    /// seed (as it actually ran, from `meta`) and its validation figures.
    pub fn of_training(meta: &Meta, outcome: &TrainOutcome, trained_on: Option<&PricePanel>) -> Self {
        let figures = Figures::from_metrics(
            Sample::Validation,
            outcome.validation_range.clone(),
            &outcome.validation.agent,
            meta.env.data.periods_per_year,
        );
        let record = TrialRecord::new(
            TrialCommand::Train,
            config_hash(&meta.env, &meta.train),
            meta.data_fingerprint.clone(),
            &meta.env,
            &meta.train,
            figures,
            outcome.checkpoint.clone(),
        );
        TrialRecord { run_id: (!meta.run_id.is_empty()).then(|| meta.run_id.clone()), ..record }
            .spanning(trained_on)
    }

    /// This record with the span of `panel`, the prices it trained on, by which a run on a longer
    /// cut of that history finds it: dates for dated data, first rows for undated.
    pub fn spanning(self, panel: Option<&PricePanel>) -> Self {
        let span = panel.and_then(PricePanel::span);
        let rows = panel.and_then(PricePanel::row_span);
        TrialRecord { span, rows, ..self }
    }
}

impl TrialRecord {
    /// Whether `other` records the same trial again: the same command, configuration, data, seed,
    /// folio version, sample and folder. Only the time differs (and, read back from JSON, perhaps
    /// the last bit of a figure), so the figures are not compared.
    pub fn same_trial(&self, other: &TrialRecord) -> bool {
        self.repeats(other) && self.checkpoint == other.checkpoint
    }

    /// Whether `other` is this trial run again, in this folder or another: the same command,
    /// configuration, data, seed, folio version and sample. Training is deterministic, so a
    /// repeat tried nothing new, and the Deflated Sharpe Ratio counts it once.
    pub fn repeats(&self, other: &TrialRecord) -> bool {
        (self.command, &self.config_hash, &self.data_fingerprint, self.seed, &self.folio_version)
            == (other.command, &other.config_hash, &other.data_fingerprint, other.seed, &other.folio_version)
            && (self.figures.sample, &self.figures.period, self.figures.periods)
                == (other.figures.sample, &other.figures.period, other.figures.periods)
    }
}

/// The serde name of a unit enum variant (`direct`, `eiie`), else its debug name in lower case.
fn label(value: &(impl Serialize + std::fmt::Debug)) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{value:?}").to_lowercase(),
    }
}

/// The current time as RFC 3339 in UTC with milliseconds, e.g. `2026-01-02T03:04:05.678Z`.
pub fn now_rfc3339() -> String {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// SHA-256 of a value's canonical JSON (object keys sorted), hex, first 16 bytes.
pub fn hash_json(value: serde_json::Value) -> String {
    // `serde_json::Value` keeps object keys sorted, so the text does not depend on the order in
    // which structs declare their fields.
    let text = value.to_string();
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(&digest[..16])
}

fn config_value(env: &EnvConfig, train: &TrainConfig) -> serde_json::Map<String, serde_json::Value> {
    // The seed is recorded beside the hash, so every seed of one configuration shares a hash.
    let train = TrainConfig { seed: 0, ..train.clone() };
    // The data enters by the fingerprint recorded beside the hash: one configuration spelled
    // three ways is not three trials.
    let env = env.without_data_path();
    let mut map = serde_json::Map::new();
    map.insert("env".into(), serde_json::to_value(&env).expect("env config serializes"));
    map.insert("train".into(), serde_json::to_value(&train).expect("train config serializes"));
    map
}

/// Hash of an environment and training configuration, the seed left out: sha256 of their
/// JSON, hex, first 16 bytes (32 characters). Any other change (steps, learning rate, costs,
/// periods, features, ...) changes it.
pub fn config_hash(env: &EnvConfig, train: &TrainConfig) -> String {
    hash_json(serde_json::Value::Object(config_value(env, train)))
}

/// [`config_hash`] with more of the run's configuration hashed beside the environment and the
/// training config: `(name, value)` pairs, such as a walk-forward's fold layout.
pub fn config_hash_with(env: &EnvConfig, train: &TrainConfig, extra: &[(&str, serde_json::Value)]) -> String {
    let mut map = config_value(env, train);
    for (name, value) in extra {
        map.insert((*name).into(), value.clone());
    }
    hash_json(serde_json::Value::Object(map))
}

/// Every record in the registry at `path`, in file order (oldest first); none if the file does
/// not exist. Blank lines are skipped; any other line that is not a record is an error naming
/// the file and the line.
pub fn read(path: &Path) -> Result<Vec<TrialRecord>, RegistryError> {
    usable(path, false)?;
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(RegistryError::Io { path: path.to_path_buf(), source }),
    }
}

fn parse(path: &Path, text: &str) -> Result<Vec<TrialRecord>, RegistryError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| RegistryError::Corrupt {
                path: path.to_path_buf(),
                line: i + 1,
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Orders appends among the threads of this process; the lock file orders processes.
static APPENDING: Mutex<()> = Mutex::new(());

/// Holds an OS lock on `<registry>.lock` while it lives. The lock dies with its process, so a
/// process killed while appending never blocks later ones; the file itself may stay.
struct LockFile {
    _file: std::fs::File,
}

impl LockFile {
    fn acquire(registry: &Path) -> Result<Self, RegistryError> {
        Self::acquire_within(registry, LOCK_WAIT)
    }

    /// The lock, waiting at most `wait` for another holder to let it go.
    fn acquire_within(registry: &Path, wait: Duration) -> Result<Self, RegistryError> {
        // Two links to one registry take one lock, beside the file they share.
        let registry = &crate::files::through_link(registry);
        let mut name =
            registry.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "trials.jsonl".into());
        name.push(".lock");
        let lock = registry.with_file_name(name);
        let io = |source| RegistryError::Io { path: registry.to_path_buf(), source };
        if let Some(folder) = lock.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(io)?;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)
            .map_err(io)?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if start.elapsed() >= wait {
                        return Err(RegistryError::Locked { path: registry.to_path_buf(), lock });
                    }
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(std::fs::TryLockError::Error(source)) => return Err(io(source)),
            }
        }
    }
}

/// Check, before any work that would be recorded, that the registry at `path` can be read and
/// appended to: a registry problem found after hours of training would otherwise cost the run.
pub fn check(path: &Path) -> Result<(), RegistryError> {
    usable(path, true)?;
    read(path)?;
    let _lock = LockFile::acquire(path)?;
    // Where appends write: beside the file a link names.
    let target = crate::files::through_link(path);
    let folder = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    tempfile::NamedTempFile::new_in(folder)
        .map_err(|source| RegistryError::Io { path: path.to_path_buf(), source })?;
    Ok(())
}

/// Append `records` to the registry at `path` (created with its folder if missing) and return
/// every record it now holds, oldest first. Earlier lines are kept byte for byte; see the
/// module documentation for the locking and the atomic write.
pub fn append(path: &Path, records: &[TrialRecord]) -> Result<Vec<TrialRecord>, RegistryError> {
    append_where(path, records, |_, _| true).map(|(all, _)| all)
}

/// Record the trainings of one `folio train` run (one per seed) as trials, each with the span of
/// the data it trained on, and count the trials the registry then holds on that data, shorter
/// cuts of it included.
pub fn record_trainings(
    path: &Path,
    data: &DataConfig,
    outcomes: &[TrainOutcome],
) -> Result<DataTrials, RegistryError> {
    // Read again for its span, by which a later run on a longer cut of this history counts these
    // trials, and for the trials on shorter cuts of it; a file changed since training began
    // gives no span rather than a wrong one.
    let panel = data.selection().ok().map(|selection| selection.panel);
    let fingerprint = panel.as_ref().map(|p| p.fingerprint());
    let records = outcomes
        .iter()
        .map(|outcome| {
            let meta = crate::train::checkpoint::load_meta(&outcome.checkpoint)?;
            let trained_on = panel.as_ref().filter(|_| fingerprint.as_ref() == Some(&meta.data_fingerprint));
            Ok(TrialRecord::of_training(&meta, outcome, trained_on))
        })
        .collect::<Result<Vec<_>, RegistryError>>()?;
    let all = append(path, &records)?;
    let cuts = panel.as_ref().map(|p| shorter_cuts_of(&all, p)).unwrap_or_default();
    let trained_on = records.first().map(|r| r.data_fingerprint.as_str()).unwrap_or_default();
    Ok(trials_on(&all, trained_on, &cuts, None))
}

/// [`append`] leaving out every record that repeats a trial the registry already holds (see
/// [`TrialRecord::same_trial`]): a cluster run merged twice, or a walk-forward rerun into the
/// same folder, counts its trials once. Returns every record, oldest first, and how many it
/// appended (the last ones).
pub fn append_new(path: &Path, records: &[TrialRecord]) -> Result<(Vec<TrialRecord>, usize), RegistryError> {
    append_where(path, records, |held, record| !held.iter().any(|h| h.same_trial(record)))
}

fn append_where(
    path: &Path,
    records: &[TrialRecord],
    keep: impl Fn(&[TrialRecord], &TrialRecord) -> bool,
) -> Result<(Vec<TrialRecord>, usize), RegistryError> {
    let _in_process = APPENDING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let _lock = LockFile::acquire(path)?;
    usable(path, true)?;
    let io = |source| RegistryError::Io { path: path.to_path_buf(), source };
    let mut text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(io(source)),
    };
    let mut all = parse(path, &text)?;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    // One trained agent is one trial, however often its run is resumed and recorded again.
    let known = |r: &TrialRecord| r.run_id.is_some() && all.iter().any(|a| a.run_id == r.run_id);
    let records: Vec<&TrialRecord> = records.iter().filter(|r| keep(&all, r) && !known(r)).collect();
    for record in &records {
        // serde_json writes NaN as null, which `nan_if_null` reads back as NaN.
        text.push_str(&serde_json::to_string(record).expect("trial record serializes"));
        text.push('\n');
    }
    crate::files::write_bytes_atomically(path, text.as_bytes()).map_err(io)?;
    let appended = records.len();
    all.extend(records.into_iter().cloned());
    Ok((all, appended))
}

/// Trials on one data set, for the Deflated Sharpe Ratio.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataTrials {
    pub data_fingerprint: String,
    /// Every trial recorded on this data: `N`.
    pub trials: usize,
    /// Of them, those on a shorter cut of this history ([`shorter_cuts_of`]).
    pub on_shorter_cuts: usize,
    /// Per-period Sharpe ratios of the trials that have one (a flat record has none): their
    /// sample variance is `V`.
    pub sharpe_per_period: Vec<f64>,
}

/// The fingerprints of the trials in `records` that ran on a shorter cut of `data`'s history:
/// `data` holds their span (their dates, or for undated data their number of first rows), and
/// its rows there hash to what they recorded. Each span is cut and hashed once, however many
/// trials share it.
pub fn shorter_cuts_of(records: &[TrialRecord], data: &PricePanel) -> Vec<String> {
    let own = data.fingerprint();
    let mut checked: Vec<(&DataSpan, Option<String>)> = Vec::new();
    let mut checked_rows: Vec<(&RowSpan, Option<String>)> = Vec::new();
    let mut cuts: Vec<String> = Vec::new();
    for record in records.iter().filter(|r| r.data_fingerprint != own) {
        let found = match (&record.span, &record.rows) {
            (Some(span), _) => once_per(&mut checked, span, |span| data.fingerprint_over(span)),
            (None, Some(rows)) => once_per(&mut checked_rows, rows, |rows| data.fingerprint_over_rows(rows)),
            (None, None) => continue,
        };
        if found.as_deref() == Some(record.data_fingerprint.as_str())
            && !cuts.contains(&record.data_fingerprint)
        {
            cuts.push(record.data_fingerprint.clone());
        }
    }
    cuts
}

/// `hash(key)`, computed once per key however many trials share it: cutting and hashing a span
/// of a long history is the costly step.
fn once_per<'a, K: PartialEq>(
    checked: &mut Vec<(&'a K, Option<String>)>,
    key: &'a K,
    hash: impl FnOnce(&K) -> Option<String>,
) -> Option<String> {
    if let Some((_, found)) = checked.iter().find(|(seen, _)| *seen == key) {
        return found.clone();
    }
    let found = hash(key);
    checked.push((key, found.clone()));
    found
}

/// The trials in `records` on the data with this fingerprint or on one of its `shorter_cuts`
/// ([`shorter_cuts_of`]), each counted once however many folders it was run into
/// ([`TrialRecord::repeats`]). Every one counts in `N`; with `measured_on`, only the Sharpe
/// ratios measured on that period as that sample make up `V`'s: a training's best validation and
/// a walk-forward's out-of-sample test are different periods, whose gap in level would pass for
/// the trials' spread.
pub fn trials_on(
    records: &[TrialRecord],
    data_fingerprint: &str,
    shorter_cuts: &[String],
    measured_on: Option<(Sample, &(String, String))>,
) -> DataTrials {
    let on_cut = |r: &TrialRecord| shorter_cuts.contains(&r.data_fingerprint);
    let on_data: Vec<&TrialRecord> = distinct(records)
        .into_iter()
        .filter(|r| r.data_fingerprint == data_fingerprint || on_cut(r))
        .collect();
    let comparable = |r: &&&TrialRecord| {
        measured_on.is_none_or(|(sample, period)| r.figures.sample == sample && r.figures.period == *period)
    };
    DataTrials {
        data_fingerprint: data_fingerprint.to_string(),
        trials: on_data.len(),
        on_shorter_cuts: on_data.iter().filter(|r| on_cut(r)).count(),
        sharpe_per_period: on_data
            .iter()
            .filter(comparable)
            .map(|r| r.figures.sharpe_per_period)
            .filter(|s| s.is_finite())
            .collect(),
    }
}

/// The first record of each trial, in file order: repeats of it ([`TrialRecord::repeats`]) left out.
fn distinct(records: &[TrialRecord]) -> Vec<&TrialRecord> {
    records.iter().zip(repeated(records)).filter(|(_, repeat)| !repeat).map(|(record, _)| record).collect()
}

/// For each record, whether an earlier one is the same trial (counted once, with the earlier).
pub fn repeated(records: &[TrialRecord]) -> Vec<bool> {
    let mut first: Vec<&TrialRecord> = Vec::new();
    records
        .iter()
        .map(|record| {
            let repeat = first.iter().any(|earlier| earlier.repeats(record));
            if !repeat {
                first.push(record);
            }
            repeat
        })
        .collect()
}

/// How many trials each data fingerprint has, in order of first appearance, repeats counted once.
pub fn count_by_data(records: &[TrialRecord]) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for r in distinct(records) {
        match counts.iter_mut().find(|(fp, _)| *fp == r.data_fingerprint) {
            Some((_, n)) => *n += 1,
            None => counts.push((r.data_fingerprint.clone(), 1)),
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry that a rewrite would replace, or that cannot take one, is refused before any
    /// work: a pipe (a device behaves alike, but making one needs root), a read-only file, a
    /// folder however it is written. A read-only registry can still be listed.
    #[test]
    fn a_registry_that_is_no_writable_plain_file_is_refused_up_front() {
        let dir = tempfile::tempdir().unwrap();
        let refusal = |path: &Path| check(path).unwrap_err().to_string();
        let pipe = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&pipe).status().unwrap();
        assert!(made.success());
        assert!(refusal(&pipe).contains("is not a regular file"), "{}", refusal(&pipe));
        assert!(read(&pipe).is_err(), "listing it does not wait for a writer");
        let frozen = dir.path().join("frozen.jsonl");
        std::fs::write(&frozen, "").unwrap();
        let mut permissions = std::fs::metadata(&frozen).unwrap().permissions();
        permissions.set_readonly(true);
        std::fs::set_permissions(&frozen, permissions).unwrap();
        assert!(refusal(&frozen).contains("is read-only"), "{}", refusal(&frozen));
        assert!(read(&frozen).is_ok(), "a read-only registry can be listed");
        let folder = dir.path().join("new");
        let slashed = PathBuf::from(format!("{}/", folder.display()));
        assert!(refusal(&slashed).contains("names a folder"), "{}", refusal(&slashed));
        assert!(!dir.path().join("new.lock").exists(), "refused before its lock was taken");
        std::fs::create_dir(&folder).unwrap();
        assert!(refusal(&folder).contains("is a folder: give a file in it"), "{}", refusal(&folder));
        assert!(check(&dir.path().join("fresh.jsonl")).is_ok());
    }

    fn env() -> EnvConfig {
        EnvConfig::load(Path::new(crate::env::config::DEFAULT_CONFIG)).expect("the bundled default loads")
    }

    fn record(seed: u64, sharpe_per_period: f64, fingerprint: &str) -> TrialRecord {
        let train = TrainConfig { seed, ..TrainConfig::default() };
        let env = env();
        let returns: Vec<f64> =
            (0..50).map(|i| 0.01 * ((i * 7 + seed as usize) % 5) as f64 - 0.018).collect();
        let mut figures =
            Figures::from_returns(Sample::Validation, ("a".into(), "b".into()), &returns, 252.0);
        figures.sharpe_per_period = sharpe_per_period;
        TrialRecord::new(
            TrialCommand::Train,
            config_hash(&env, &train),
            fingerprint.into(),
            &env,
            &train,
            figures,
            PathBuf::from(format!("checkpoints/run-s{seed}")),
        )
    }

    #[test]
    fn append_keeps_earlier_records_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/trials.jsonl");
        assert!(read(&path).unwrap().is_empty(), "a missing registry has no trials");
        let first = append(&path, &[record(0, 0.05, "aaa")]).unwrap();
        assert_eq!(first.len(), 1);
        let before = std::fs::read_to_string(&path).unwrap();
        let all = append(&path, &[record(1, 0.02, "aaa"), record(2, f64::NAN, "bbb")]).unwrap();
        assert_eq!(all.len(), 3);
        let after = std::fs::read_to_string(&path).unwrap();
        assert!(after.starts_with(&before), "earlier lines are kept as they were");
        assert_eq!(after.lines().count(), 3);
        let back = read(&path).unwrap();
        assert_eq!(back.iter().map(|r| r.seed).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(back[0], all[0]);
        assert!(back[2].figures.sharpe_per_period.is_nan(), "NaN survives as null");
        let lock = std::fs::File::open(path.with_file_name("trials.jsonl.lock")).unwrap();
        assert!(lock.try_lock().is_ok(), "the lock is released");
        let on_a = trials_on(&back, "aaa", &[], None);
        assert_eq!((on_a.trials, on_a.sharpe_per_period.clone()), (2, vec![0.05, 0.02]));
        let on_b = trials_on(&back, "bbb", &[], None);
        assert_eq!((on_b.trials, on_b.sharpe_per_period.len()), (1, 0));
        assert_eq!(count_by_data(&back), vec![("aaa".to_string(), 2), ("bbb".to_string(), 1)]);
        // The same trial run again into another folder tried nothing new: counted once.
        drop(lock);
        let again = TrialRecord { checkpoint: PathBuf::from("checkpoints/elsewhere"), ..back[0].clone() };
        let with_repeat = append(&path, &[again]).unwrap();
        assert_eq!(with_repeat.len(), 4, "recorded, as run");
        assert_eq!(trials_on(&with_repeat, "aaa", &[], None).trials, 2);
        assert_eq!(count_by_data(&with_repeat), vec![("aaa".to_string(), 2), ("bbb".to_string(), 1)]);
    }

    #[test]
    fn the_spread_of_sharpe_ratios_is_taken_over_one_period_and_sample() {
        let measured = |seed: u64, period: &str, sample: Sample, sharpe: f64| {
            let mut r = record(seed, sharpe, "aaa");
            r.figures.sample = sample;
            r.figures.period = (period.to_string(), "2022-12-28".to_string());
            r
        };
        let records = vec![
            measured(0, "2018-01-02", Sample::OutOfSample, 0.05),
            measured(1, "2015-01-02", Sample::Validation, 0.09),
            measured(2, "2018-01-02", Sample::OutOfSample, 0.04),
            measured(3, "2018-01-02", Sample::Validation, 0.08),
        ];
        let period = ("2018-01-02".to_string(), "2022-12-28".to_string());
        let trials = trials_on(&records, "aaa", &[], Some((Sample::OutOfSample, &period)));
        assert_eq!((trials.trials, trials.sharpe_per_period), (4, vec![0.05, 0.04]));
        assert_eq!(trials_on(&records, "aaa", &[], None).sharpe_per_period.len(), 4);
    }

    /// Trials on a shorter cut of the history count toward the longer one's `N`, once each; a
    /// cut whose prices differ, a longer cut, and a trial without a span do not.
    #[test]
    fn trials_on_a_shorter_cut_of_the_same_history_count_on_the_longer_one() {
        use crate::data::{PricePanel, Stamp, TimeIndex};
        let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2020, 1, d).unwrap();
        let prices = ndarray::Array2::from_shape_fn((6, 2), |(t, i)| 1.0 + 0.1 * t as f64 + i as f64);
        let longer = PricePanel::new(
            "a.csv",
            vec!["A".into(), "B".into()],
            TimeIndex::Dates((1..=6).map(day).collect()),
            prices,
        );
        let cut_at = |d: u32| longer.select(&[], None, Some(Stamp::Date(day(d)))).unwrap().panel;
        let on = |seed: u64, panel: &PricePanel| TrialRecord {
            span: panel.span(),
            ..record(seed, 0.05, &panel.fingerprint())
        };
        let (shorter, shortest) = (cut_at(4), cut_at(3));
        let mut edited = shorter.clone();
        edited.prices[[1, 1]] += 1e-9;
        // A cut that no spanned record shows to be one is not counted.
        let unspanned = TrialRecord { span: None, ..on(6, &cut_at(5)) };
        let records = vec![
            on(0, &longer),
            on(1, &shorter),
            on(2, &shorter),
            on(2, &shorter),
            on(3, &shortest),
            on(4, &edited),
            unspanned,
        ];
        let cuts = shorter_cuts_of(&records, &longer);
        assert_eq!(cuts, vec![shorter.fingerprint(), shortest.fingerprint()]);
        let trials = trials_on(&records, &longer.fingerprint(), &cuts, None);
        assert_eq!((trials.trials, trials.on_shorter_cuts), (4, 3), "the repeat of seed 2 counts once");
        assert_eq!(trials.sharpe_per_period.len(), 4);

        let from_shorter = shorter_cuts_of(&records, &shorter);
        assert_eq!(from_shorter, vec![shortest.fingerprint()], "the longer cut is not one of the shorter");
        let trials = trials_on(&records, &shorter.fingerprint(), &from_shorter, None);
        assert_eq!((trials.trials, trials.on_shorter_cuts), (3, 1));
    }

    /// Undated data have no dates to find a trial's rows by: a trial on the first rows of a
    /// history (a development run, a search's cut) counts on the whole of it; a cut of other
    /// prices, a later start, a longer cut and other assets do not.
    #[test]
    fn trials_on_the_first_rows_of_an_undated_history_count_on_all_of_it() {
        use crate::data::{PricePanel, Stamp, TimeIndex};
        let prices = ndarray::Array2::from_shape_fn((8, 2), |(t, i)| 1.0 + 0.1 * t as f64 + i as f64);
        let longer = PricePanel::new("a.csv", vec!["A".into(), "B".into()], TimeIndex::Periods(8), prices);
        let cut = |from: Option<usize>, to: usize| {
            longer.select(&[], from.map(Stamp::Period), Some(Stamp::Period(to))).unwrap().panel
        };
        let on =
            |seed: u64, panel: &PricePanel| record(seed, 0.05, &panel.fingerprint()).spanning(Some(panel));
        let (shorter, shortest, later) = (cut(None, 5), cut(None, 3), cut(Some(1), 5));
        let mut edited = shorter.clone();
        edited.prices[[1, 1]] += 1e-9;
        let mut renamed = shorter.clone();
        renamed.assets[1] = "C".into();
        let records = vec![
            on(0, &longer),
            on(1, &shorter),
            on(2, &shortest),
            on(3, &edited),
            on(4, &later),
            on(5, &renamed),
        ];
        assert!(records[1].span.is_none() && records[1].rows.is_some(), "{:?}", records[1].rows);
        let cuts = shorter_cuts_of(&records, &longer);
        assert_eq!(cuts, vec![shorter.fingerprint(), shortest.fingerprint()]);
        let trials = trials_on(&records, &longer.fingerprint(), &cuts, None);
        assert_eq!((trials.trials, trials.on_shorter_cuts), (3, 2));
        assert_eq!(shorter_cuts_of(&records, &shorter), vec![shortest.fingerprint()], "not the longer cut");
        // A record from before undated spans were kept reads back, and finds nothing.
        let line = serde_json::to_string(&record(7, 0.05, &shortest.fingerprint())).unwrap();
        assert!(!line.contains("\"rows\""), "{line}");
        let old: TrialRecord = serde_json::from_str(&line).unwrap();
        assert!(shorter_cuts_of(&[old], &longer).is_empty());
    }

    #[test]
    fn a_file_without_a_final_newline_still_appends_on_a_new_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trials.jsonl");
        let line = serde_json::to_string(&record(0, 0.1, "aaa")).unwrap();
        std::fs::write(&path, format!("{line}\n\n{line}")).unwrap();
        let all = append(&path, &[record(1, 0.2, "aaa")]).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(read(&path).unwrap().len(), 3);
    }

    #[test]
    fn concurrent_appends_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trials.jsonl");
        std::thread::scope(|scope| {
            for t in 0..4u64 {
                let path = &path;
                scope.spawn(move || {
                    for i in 0..5 {
                        append(path, &[record(10 * t + i, 0.01, "aaa")]).unwrap();
                    }
                });
            }
        });
        let mut seeds: Vec<u64> = read(&path).unwrap().iter().map(|r| r.seed).collect();
        seeds.sort();
        assert_eq!(seeds, (0..4).flat_map(|t| (0..5).map(move |i| 10 * t + i)).collect::<Vec<_>>());
    }

    #[test]
    fn a_corrupt_line_is_an_error_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trials.jsonl");
        let good = serde_json::to_string(&record(0, 0.1, "aaa")).unwrap();
        std::fs::write(&path, format!("{good}\n{good}\n{{\"timestamp\": \"oops\"\n")).unwrap();
        let error = read(&path).unwrap_err();
        assert!(matches!(error, RegistryError::Corrupt { line: 3, .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()) && message.contains("line 3"), "{message}");
        // Appending refuses to touch a registry it cannot read, and leaves it as it was.
        let before = std::fs::read(&path).unwrap();
        let error = append(&path, &[record(1, 0.1, "aaa")]).unwrap_err();
        assert!(error.to_string().contains("line 3"), "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn a_lock_held_too_long_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let registry = dir.path().join("trials.jsonl");
        let held = LockFile::acquire(&registry).unwrap();
        let Err(error) = LockFile::acquire_within(&registry, Duration::ZERO) else {
            panic!("the lock is held")
        };
        assert!(matches!(error, RegistryError::Locked { .. }), "{error:?}");
        assert!(error.to_string().contains(&format!("{}.lock", registry.display())), "{error}");
        drop(held);
        assert!(LockFile::acquire_within(&registry, Duration::ZERO).is_ok(), "free once let go");
    }

    #[test]
    fn config_hash_is_stable_ignores_the_seed_and_sees_any_change() {
        let env = env();
        let train = TrainConfig::default();
        let hash = config_hash(&env, &train);
        assert_eq!(hash.len(), 32, "16 bytes in hex");
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(hash, config_hash(&env.clone(), &train.clone()), "stable");
        assert_eq!(hash, config_hash(&env, &TrainConfig { seed: 7, ..train.clone() }), "seeds share a hash");
        for spelling in ["./prices.csv", "/elsewhere/prices.csv"] {
            let mut moved = env.clone();
            moved.data.file = spelling.into();
            assert_eq!(hash, config_hash(&moved, &train), "the data's path is not the configuration");
        }
        assert_ne!(hash, config_hash(&env, &TrainConfig { steps: train.steps + 1, ..train.clone() }));
        assert_ne!(
            hash,
            config_hash(&env, &TrainConfig { learning_rate: train.learning_rate * 2.0, ..train.clone() })
        );
        let mut other_env = env.clone();
        other_env.costs.buy += 0.0001;
        assert_ne!(hash, config_hash(&other_env, &train));
        let mut other_window = env.clone();
        other_window.features.window += 1;
        assert_ne!(hash, config_hash(&other_window, &train));
        let extra = config_hash_with(&env, &train, &[("walk_forward", serde_json::json!({"folds": 5}))]);
        assert_ne!(extra, hash);
        assert_eq!(
            extra,
            config_hash_with(&env, &train, &[("walk_forward", serde_json::json!({"folds": 5}))])
        );
        assert_ne!(
            extra,
            config_hash_with(&env, &train, &[("walk_forward", serde_json::json!({"folds": 2}))])
        );
    }

    #[test]
    fn figures_from_metrics_match_figures_from_returns() {
        let values = [1.0, 1.01, 0.995, 1.02, 1.03, 1.01, 1.04];
        let returns = metrics::simple_returns(&values);
        let m = metrics::compute(&values, &[], 0.0, &metrics::MetricsConfig::default());
        let span = ("0".to_string(), "6".to_string());
        let a = Figures::from_returns(Sample::Validation, span.clone(), &returns, 252.0);
        let b = Figures::from_metrics(Sample::Validation, span, &m, 252.0);
        assert_eq!(a.periods, b.periods);
        for (x, y) in [
            (a.sharpe, b.sharpe),
            (a.sharpe_per_period, b.sharpe_per_period),
            (a.mean, b.mean),
            (a.std, b.std),
        ] {
            assert!((x - y).abs() < 1e-12 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn the_flag_wins_over_the_default() {
        assert_eq!(resolve(Some("x/y.jsonl".into())), PathBuf::from("x/y.jsonl"));
    }
}
