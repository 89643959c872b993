//! Whether a training folder may be written: a `--resume` continues only the run it names (the
//! same data, config and seeds, with a budget no smaller than what it spent), and a new training
//! writes only into a folder that holds nothing else. A refusal names what differs.

use std::path::Path;

use super::checkpoint::{self, Meta};
use super::{TrainConfig, TrainError};
use crate::env::config::EnvConfig;

/// A multi-seed `--resume` must name the run it continues: a folder holding one seed's
/// training itself, nothing at all, or seeds these flags do not ask for is another run (flags
/// forgotten or mistyped), and resuming it would train new seeds beside it.
pub(super) fn check_resumed_seeds(
    out: &Path,
    wanted: impl Iterator<Item = String>,
) -> Result<(), TrainError> {
    let mismatch = |why: String| Err(TrainError::ResumeMismatch { out: out.to_path_buf(), why });
    if checkpoint::saved_in(out) {
        return mismatch(
            "it holds one seed's training in the folder itself: resume it with --seeds 1".into(),
        );
    }
    let wanted: Vec<String> = wanted.collect();
    let mut present: Vec<String> = std::fs::read_dir(out)
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    present.retain(|name| {
        super::seed_of_folder(Path::new(name)).is_some() && checkpoint::saved_in(&out.join(name))
    });
    present.sort();
    if present.is_empty() {
        return mismatch("it holds no saved training to continue: run the command without --resume".into());
    }
    if let Some(other) = present.iter().find(|name| !wanted.contains(name)) {
        return mismatch(format!(
            "it holds {other}, which --seed and --seeds do not ask for ({} .. {}): resume with the flags it was \
             trained with",
            wanted[0],
            wanted[wanted.len() - 1]
        ));
    }
    Ok(())
}

/// The first thing, by name, in a folder a training would write into that is neither the
/// folder's lock nor `also_ours` (a new training's folder must hold nothing else once
/// [`checkpoint::recover`] has finished or removed what an interrupted save left).
pub(super) fn foreign_entry(out: &Path, also_ours: impl Fn(&str) -> bool) -> Option<String> {
    let ours =
        |name: &str| name == crate::files::LOCK_FILE || name == crate::files::OUTPUT_MARK || also_ours(name);
    let mut names: Vec<String> = std::fs::read_dir(out)
        .ok()?
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !ours(name))
        .collect();
    names.sort();
    names.into_iter().next()
}

/// A resumed run may go on for more steps or be more patient; anything else must match.
pub(super) fn check_resumable(saved: &Meta, fresh: &Meta, out: &Path) -> Result<(), TrainError> {
    check_same_run(saved, fresh, out)?;
    let spent = saved.progress.env_steps;
    if fresh.train.steps < spent {
        return Err(TrainError::ResumeMismatch {
            out: out.to_path_buf(),
            why: format!(
                "it has taken {spent} environment steps, more than the {} asked for now, which cannot \
                 undo them: ask for at least {spent}, or leave --steps out to finish its own budget of {}",
                fresh.train.steps, saved.train.steps
            ),
        });
    }
    Ok(())
}

/// The run asked for is the one saved, but for its budget and patience.
fn check_same_run(saved: &Meta, fresh: &Meta, out: &Path) -> Result<(), TrainError> {
    let comparable = |c: &TrainConfig| TrainConfig { steps: 0, patience: 0, ..c.clone() };
    // The fingerprint, not the data's path, is what must match.
    let comparable_env = EnvConfig::without_data_path;
    let (train, env) =
        ([&saved.train, &fresh.train].map(comparable), [&saved.env, &fresh.env].map(comparable_env));
    if saved.data_fingerprint == fresh.data_fingerprint && train[0] == train[1] && env[0] == env[1] {
        return Ok(());
    }
    // The configs decide; their JSON only names what differs.
    let mut differences = Vec::new();
    if saved.data_fingerprint != fresh.data_fingerprint {
        differences.push(format!(
            "on other data (fingerprint {}, now {})",
            short(&saved.data_fingerprint),
            short(&fresh.data_fingerprint)
        ));
    }
    let train = train.map(|c| serde_json::to_value(c).unwrap_or_default());
    let env = env.map(|e| serde_json::to_value(e).unwrap_or_default());
    settings_that_differ("train", &train[0], &train[1], &mut differences);
    settings_that_differ("env", &env[0], &env[1], &mut differences);
    if differences.is_empty() {
        differences.push("with another config".into());
    }
    // Another algorithm brings its own defaults: the first few name the flag to change back.
    const SHOWN: usize = 6;
    if differences.len() > SHOWN {
        let more = differences.len() - SHOWN;
        differences.truncate(SHOWN);
        differences.push(format!("and {more} more"));
    }
    Err(TrainError::NotResumable { out: out.to_path_buf(), differences: differences.join(", ") })
}

/// A fingerprint's first characters, as `folio trials --data` takes them.
fn short(fingerprint: &str) -> &str {
    fingerprint.get(..8).unwrap_or(fingerprint)
}

/// Each setting under `path` whose saved value differs from the one asked for now, as
/// `path.key = saved (now asked: value)`: a refused resume names what to change back. Lists of
/// one length are compared item by item (`env.features.features[2]`), and a long value is cut.
pub(crate) fn settings_that_differ(
    path: &str,
    saved: &serde_json::Value,
    now: &serde_json::Value,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    match (saved, now) {
        (Value::Object(saved), Value::Object(now)) => {
            let keys: std::collections::BTreeSet<&String> = saved.keys().chain(now.keys()).collect();
            for key in keys {
                let (a, b) = (saved.get(key).unwrap_or(&Value::Null), now.get(key).unwrap_or(&Value::Null));
                settings_that_differ(&format!("{path}.{key}"), a, b, out);
            }
        }
        (Value::Array(saved), Value::Array(now)) if saved.len() == now.len() => {
            for (i, (a, b)) in saved.iter().zip(now).enumerate() {
                settings_that_differ(&format!("{path}[{i}]"), a, b, out);
            }
        }
        (saved, now) if saved != now => {
            out.push(format!("with {path} = {} (now asked: {})", cut(saved), cut(now)));
        }
        _ => {}
    }
}

/// `value` as JSON, cut after 60 characters: a list of every ticker says nothing in a message.
fn cut(value: &serde_json::Value) -> String {
    const LONGEST: usize = 60;
    let text = value.to_string();
    match text.char_indices().nth(LONGEST) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    }
}
