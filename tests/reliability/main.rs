//! Nothing lost, nothing silently wrong: interrupted and concurrent runs, half-published
//! checkpoints, damaged weights and outputs that would overwrite what a user made.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

#[path = "../common/mod.rs"]
mod common;
use common::{folio_command, folio_in as folio, text};

use folio::agent::DeviceChoice;
use folio::data::synth::{SynthConfig, generate};
use folio::data::write_prices;
use folio::env::config::{DataConfig, EnvConfig, EpisodeConfig, Periods, Span};
use folio::env::{CostConfig, Limits, RewardConfig};
use folio::features::{Feature, FeatureConfig};
use folio::progress::{Progress, Task};
use folio::train::checkpoint::{self, BEST, LAST, Weights};
use folio::train::{
    Algo, PpoConfig, ReinforceConfig, TrainConfig, TrainOutcome, TrainRequest, train, train_seeds,
};

mod checkpoints;
mod concurrency;
mod deployed;
mod inputs;
mod outputs;
mod portability;
mod walk_forward;

/// A small synthetic market (3 assets, 400 rows) in `dir`: training up to row 299, validation after.
fn tiny_env(dir: &Path) -> EnvConfig {
    let panel =
        generate(&SynthConfig { assets: 3, periods: 400, seed: 5, ..SynthConfig::default() }).unwrap();
    let file = dir.join("prices.csv");
    write_prices(&panel, &file).unwrap();
    let folio::data::TimeIndex::Dates(dates) = &panel.index else { panic!("synthetic markets are dated") };
    let stamp = |row: usize| Some(folio::data::Stamp::Date(dates[row]));
    EnvConfig {
        data: DataConfig::new(file),
        periods: Periods {
            train: Span { from: None, to: stamp(299) },
            validation: Span { from: stamp(300), to: None },
            test: Span::default(),
        },
        features: FeatureConfig {
            window: 10,
            features: vec![Feature::LogReturn],
            ..FeatureConfig::default()
        },
        costs: CostConfig { buy: 0.001, sell: 0.001, ..CostConfig::default() },
        episode: EpisodeConfig { horizon: 30, rebalance_every: 1, embargo: 0, no_trade_band: 0.0 },
        reward: RewardConfig::LogReturn,
        limits: Limits::NONE,
        risk_profile: None,
    }
}

fn config(steps: usize) -> TrainConfig {
    TrainConfig { steps, validate_every: 5, ..TrainConfig::default() }
}

fn request(env: &EnvConfig, train: TrainConfig, out: &Path, resume: bool) -> TrainRequest {
    TrainRequest {
        env: env.clone(),
        train,
        out: out.to_path_buf(),
        device: DeviceChoice::Cpu,
        resume,
        progress: folio::progress::silent(),
    }
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// A config file over [`tiny_env`]'s market.
fn tiny_config(dir: &Path) -> PathBuf {
    let env = tiny_env(dir);
    let path = dir.join("tiny.toml");
    let mut table = toml::Table::try_from(&env).unwrap();
    table.remove("limits");
    let folds =
        "\n[walk_forward]\ntrain_periods = 100\nvalidation_periods = 40\ntest_periods = 40\nembargo = 2\n";
    std::fs::write(&path, toml::to_string(&table).unwrap() + folds).unwrap();
    path
}

/// [`tiny_config`] with `line` in a `[train]` table.
fn tiny_config_with_train(dir: &Path, line: &str) -> PathBuf {
    let config = tiny_config(dir);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n[train]\n{line}\n")).unwrap();
    config
}

/// Stops a run (as a kill would) once it has made `after` steps.
struct KillAfter(u64);

impl Progress for KillAfter {
    fn start(&self, _: &str, _: &str, _: u64, _: u64) -> Box<dyn Task> {
        Box::new(KillTask(self.0))
    }
}

struct KillTask(u64);

impl Task for KillTask {
    fn set_position(&self, done: u64) {
        if done >= self.0 {
            panic!("killed at {done} steps");
        }
    }
    fn advance(&self, _: u64) {}
    fn set_message(&self, _: String) {}
    fn finish(&self) {}
    fn abandon(&self) {}
}

/// The arguments of a walk-forward of `config` in 2 folds of 2 seeds, `steps` each, into `wf`,
/// recording in `trials.jsonl`, with `extra` flags.
fn two_fold_walk_forward(config: &Path, steps: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["walk-forward", "--config", config.to_str().unwrap(), "--steps", steps];
    args.extend(["--seeds", "2", "--folds", "2", "--jobs", "1", "--out", "wf", "--registry", "trials.jsonl"]);
    args.extend(extra);
    args.into_iter().map(String::from).collect()
}

/// Wait until a running walk-forward has written its first training's result.
fn wait_for_first_training(result: &Path) {
    let started = std::time::Instant::now();
    while !result.exists() {
        assert!(started.elapsed().as_secs() < 120, "the first training never finished");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
