//! Checkpoints: `checkpoints/<run>/` holds the network weights (burn's burnpack format), the
//! optimizer state for `--resume`, and `meta.json` with everything needed to use the weights
//! again. Every file is written to a temporary name and renamed, so a crash mid-save leaves the
//! previous checkpoint intact.

use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::agent::ActionHead;
use crate::agent::network::PolicyNet;
use crate::data::load_prices;
use crate::env::config::EnvConfig;
use crate::env::{Market, ObservationLayout};
use crate::features::Normalizer;
use crate::files::write_bytes_atomically;
use crate::metrics::Metrics;
use crate::train::TrainError;
use crate::train::config::TrainConfig;

pub const META: &str = "meta.json";
pub const BEST: &str = "best.bpk";
pub const LAST: &str = "last.bpk";
pub const OPTIMIZER: &str = "optimizer.bpk";
pub const LOG: &str = "train_log.csv";

/// Which of a checkpoint's networks to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Weights {
    /// The network with the best validation score.
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
    #[error("{}: not a readable folio checkpoint: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("checkpoint {} does not fit this data: {reason}", path.display())]
    Mismatch { path: PathBuf, reason: String },
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
    pub train_range: (String, String),
    pub validation_range: (String, String),
    pub seed: u64,
    pub progress: TrainingProgress,
    /// Validation metrics of the best network and of equal weight over the same period.
    pub validation: Option<ValidationRecord>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrainingProgress {
    pub updates: usize,
    pub env_steps: usize,
    pub best_update: Option<usize>,
    pub best_score: Option<f64>,
    pub validations_without_improvement: usize,
    /// The latest validation scores, at most `selection_window` of them, oldest first.
    #[serde(default)]
    pub recent_scores: Vec<f64>,
    pub seconds: f64,
    /// Why training ended, when it has.
    pub stopped: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidationRecord {
    pub agent: Metrics,
    pub equal_weight: Metrics,
}

impl Meta {
    pub fn layout(&self) -> ObservationLayout {
        ObservationLayout {
            assets: self.assets.len(),
            features: self.env.features.features.len(),
            window: self.env.features.window,
            reference: self.env.features.reference != crate::features::Reference::None,
        }
    }

    /// The market this checkpoint acts on: `data` (default: the file it was trained on, over the
    /// same rows) for its assets, with its own feature normalization, checked to fit the network.
    pub fn market(&self, dir: &Path, data: Option<&Path>) -> Result<Market, TrainError> {
        let raw = load_prices(data.unwrap_or(&self.env.data.file))?;
        let (from, to) = match data {
            Some(_) => (None, None),
            None => (self.env.data.from, self.env.data.to),
        };
        let selection = raw.select(&self.assets, from, to)?;
        let market = Market::new(selection.panel, &self.env.features, Some(self.normalizer.clone()), 0..0)?;
        self.check_fits(dir, &market)?;
        Ok(market)
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
            return Err(mismatch(format!(
                "it was trained with features {:?} (window {}) but the environment has {:?} (window {})",
                self.env.features.features,
                self.env.features.window,
                market.feature_config.features,
                market.feature_config.window
            )));
        }
        Ok(())
    }
}

pub fn save_meta(dir: &Path, meta: &Meta) -> Result<(), CheckpointError> {
    let path = dir.join(META);
    let json = serde_json::to_vec_pretty(meta).expect("meta serializes");
    write_bytes_atomically(&path, &json).map_err(|source| CheckpointError::Io { path, source })
}

pub fn load_meta(dir: &Path) -> Result<Meta, CheckpointError> {
    let path = dir.join(META);
    let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => CheckpointError::Missing { dir: dir.to_path_buf() },
        _ => CheckpointError::Io { path: path.clone(), source },
    })?;
    serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Corrupt { path, reason: e.to_string() })
}

pub fn save_net(net: &PolicyNet, path: &Path) -> Result<(), CheckpointError> {
    let corrupt = |reason: String| CheckpointError::Corrupt { path: path.to_path_buf(), reason };
    let mut store = BurnpackStore::from_bytes(None);
    net.save_into(&mut store).map_err(|e| corrupt(e.to_string()))?;
    let bytes = store.get_bytes().map_err(|e| corrupt(e.to_string()))?;
    write_bytes_atomically(path, &bytes)
        .map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })
}

/// Load weights into `net` (built from the checkpoint's config); missing, unused or misshapen
/// tensors are an error, never a partial load.
pub fn load_net(mut net: PolicyNet, path: &Path) -> Result<PolicyNet, CheckpointError> {
    let corrupt = |reason: String| CheckpointError::Corrupt { path: path.to_path_buf(), reason };
    let bytes =
        std::fs::read(path).map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })?;
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
    Ok(net)
}

pub fn save_optimizer(optimizer: &ModuleOptimizer, path: &Path) -> Result<(), CheckpointError> {
    let corrupt = |reason: String| CheckpointError::Corrupt { path: path.to_path_buf(), reason };
    let bytes = optimizer.into_bytes().map_err(|e| corrupt(e.to_string()))?;
    let bytes = in_name_order(bytes).map_err(|e| corrupt(format!("{e:?}")))?;
    write_bytes_atomically(path, &bytes)
        .map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })
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

pub fn load_optimizer(optimizer: ModuleOptimizer, path: &Path) -> Result<ModuleOptimizer, CheckpointError> {
    let bytes =
        std::fs::read(path).map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })?;
    optimizer
        .from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| CheckpointError::Corrupt { path: path.to_path_buf(), reason: e.to_string() })
}

/// A checkpoint's network on `device`, ready to act.
pub fn load_agent(dir: &Path, which: Weights, device: &Device) -> Result<(Meta, PolicyNet), CheckpointError> {
    let meta = load_meta(dir)?;
    let layout = meta.layout();
    meta.train
        .net
        .validate(&layout)
        .map_err(|invalid| CheckpointError::Corrupt { path: dir.join(META), reason: invalid.to_string() })?;
    let net = load_net(meta.train.net.init(layout, device), &dir.join(which.file_name()))?;
    Ok((meta, net))
}
