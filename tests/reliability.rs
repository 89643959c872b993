//! Nothing lost, nothing silently wrong: interrupted and concurrent runs, half-published
//! checkpoints, damaged weights and outputs that would overwrite what a user made.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

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

#[test]
fn resume_finishes_exactly_the_seeds_a_killed_run_left_unfinished() {
    let dir = tempfile::tempdir().unwrap();
    let env = tiny_env(dir.path());
    let out = dir.path().join("run");
    train_seeds(request(&env, config(400), &out, false), 3, 1).unwrap();
    let finished = checkpoint::load_meta(&out.join("seed-0")).unwrap();
    // As a kill leaves it: seed 2 had made its folder but saved nothing yet.
    std::fs::remove_dir_all(out.join("seed-2")).unwrap();
    std::fs::create_dir_all(out.join("seed-2")).unwrap();

    let restart = train_seeds(request(&env, config(400), &out, false), 3, 1).unwrap_err().to_string();
    assert!(restart.contains("seed-0 already holds a checkpoint; pass --resume"), "{restart}");
    let outcomes = train_seeds(request(&env, config(400), &out, true), 3, 1).unwrap();
    assert_eq!(outcomes.len(), 3);
    assert!(outcomes.iter().all(|o| o.env_steps >= 400), "every seed finished");
    let again = checkpoint::load_meta(&out.join("seed-0")).unwrap();
    assert_eq!(again.progress.updates, finished.progress.updates, "a finished seed is not trained again");
    assert_eq!(again.run_id, finished.run_id, "a resumed seed stays one trial");

    // A resume that names another run (flags forgotten or mistyped) trains nothing beside it.
    let mismatch = |out: &Path, seed: u64, seeds: usize| {
        let train = TrainConfig { seed, ..config(400) };
        train_seeds(request(&env, train, out, true), seeds, 1).unwrap_err().to_string()
    };
    let other_seeds = mismatch(&out, 5, 3);
    assert!(
        other_seeds.contains("it holds seed-0, which --seed and --seeds do not ask for"),
        "{other_seeds}"
    );
    assert!(!out.join("seed-5").exists());
    let single = dir.path().join("single");
    train_seeds(request(&env, config(400), &single, false), 1, 1).unwrap();
    let one = mismatch(&single, 0, 3);
    assert!(one.contains("one seed's training in the folder itself: resume it with --seeds 1"), "{one}");
    assert!(!single.join("seed-0").exists());
    let nothing = mismatch(&dir.path().join("nowhere"), 0, 3);
    assert!(nothing.contains("no saved training to continue"), "{nothing}");
    assert!(!dir.path().join("nowhere").exists());
}

#[test]
fn a_mixed_set_of_checkpoint_files_is_refused_not_trained_again() {
    let dir = tempfile::tempdir().unwrap();
    let env = tiny_env(dir.path());
    let (early, late) = (dir.path().join("early"), dir.path().join("late"));
    train(request(&env, config(200), &early, false)).unwrap();
    copy_folder(&early, &late);
    train(request(&env, config(400), &late, true)).unwrap();
    // A kill between the weight renames and the metadata rename, as a save one file at a time
    // could leave it: the later weights beside the earlier metadata.
    for name in [LAST, checkpoint::OPTIMIZER] {
        std::fs::copy(late.join(name), early.join(name)).unwrap();
    }
    let error = train(request(&env, config(400), &early, true)).unwrap_err().to_string();
    assert!(error.contains("last.bpk") && error.contains("SHA-256"), "{error}");
    let device = DeviceChoice::Cpu.device().unwrap();
    let error = checkpoint::load_agent(&early, Weights::Last, &device).unwrap_err().to_string();
    assert!(error.contains("changed or damaged"), "{error}");
}

#[test]
fn a_publication_killed_after_its_commit_is_finished_and_one_killed_before_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let env = tiny_env(dir.path());
    let (early, late) = (dir.path().join("early"), dir.path().join("late"));
    train(request(&env, config(200), &early, false)).unwrap();
    copy_folder(&early, &late);
    train(request(&env, config(400), &late, true)).unwrap();
    let late_meta = checkpoint::load_meta(&late).unwrap();

    // Killed after the journal was written and one file renamed: the next reader finishes it.
    let committed = dir.path().join("committed");
    copy_folder(&early, &committed);
    let names = [LAST, checkpoint::OPTIMIZER, BEST, checkpoint::LOG, checkpoint::META];
    for name in names {
        std::fs::copy(late.join(name), committed.join(format!("{name}.pending"))).unwrap();
    }
    std::fs::write(committed.join(checkpoint::JOURNAL), serde_json::to_vec(&names).unwrap()).unwrap();
    std::fs::rename(committed.join("last.bpk.pending"), committed.join(LAST)).unwrap();
    let device = DeviceChoice::Cpu.device().unwrap();
    let (meta, _) = checkpoint::load_agent(&committed, Weights::Last, &device).unwrap();
    assert_eq!(meta.progress.updates, late_meta.progress.updates, "the committed state is the one read");
    assert!(!committed.join(checkpoint::JOURNAL).exists());

    // Killed before the commit: the pending files and stray temporaries are dropped, the old state stays.
    let uncommitted = dir.path().join("uncommitted");
    copy_folder(&early, &uncommitted);
    std::fs::copy(late.join(LAST), uncommitted.join("last.bpk.pending")).unwrap();
    std::fs::write(uncommitted.join(".meta.json.x1y2.tmp"), b"half").unwrap();
    let resumed = train(request(&env, config(400), &uncommitted, true)).unwrap();
    assert_eq!(
        resumed.updates, late_meta.progress.updates,
        "resumed from the old state, as never interrupted"
    );
    let leftovers: Vec<String> = std::fs::read_dir(&uncommitted)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pending") || n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let log = std::fs::read_to_string(uncommitted.join(checkpoint::LOG)).unwrap();
    assert_eq!(log.lines().count(), 1 + late_meta.progress.updates, "no duplicated log rows");
}

/// Starts a second training into the same folder while the first one runs.
struct Intruder {
    second: Mutex<Option<TrainRequest>>,
    result: Mutex<Option<Result<TrainOutcome, String>>>,
}

impl Progress for Intruder {
    fn start(&self, _: &str, _: &str, _: u64, _: u64) -> Box<dyn Task> {
        if let Some(second) = self.second.lock().unwrap().take() {
            *self.result.lock().unwrap() = Some(train(second).map_err(|e| e.to_string()));
        }
        Box::new(folio::progress::Silent)
    }
}

#[test]
fn a_second_run_into_a_folder_in_use_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let env = tiny_env(dir.path());
    let out = dir.path().join("run");
    let intruder = Arc::new(Intruder {
        second: Mutex::new(Some(request(&env, config(200), &out, false))),
        result: Mutex::new(None),
    });
    let mut first = request(&env, config(200), &out, false);
    first.progress = intruder.clone();
    train(first).unwrap();
    let second = intruder.result.lock().unwrap().take().expect("the second run was tried");
    let error = second.expect_err("two runs into one folder");
    assert!(error.contains("in use by another folio run") && error.contains("pid"), "{error}");
}

#[test]
fn flipped_bits_and_non_finite_weights_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let env = tiny_env(dir.path());
    let out = dir.path().join("run");
    train(request(&env, config(200), &out, false)).unwrap();
    let device = DeviceChoice::Cpu.device().unwrap();
    let pristine = std::fs::read(out.join(BEST)).unwrap();

    let mut flipped = pristine.clone();
    let last = flipped.len() - 2;
    flipped[last] ^= 0x01;
    std::fs::write(out.join(BEST), &flipped).unwrap();
    let error = checkpoint::load_agent(&out, Weights::Best, &device).unwrap_err().to_string();
    assert!(error.contains("best.bpk") && error.contains("SHA-256"), "{error}");

    // A NaN saved as if it were a weight (the checksum agrees): refused all the same.
    let mut poisoned = pristine;
    let end = poisoned.len();
    poisoned[end - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    let path = dir.path().join("poisoned.bpk");
    std::fs::write(&path, &poisoned).unwrap();
    let (meta, _) = checkpoint::load_agent(&out, Weights::Last, &device).unwrap();
    let error =
        checkpoint::load_net(meta.train.net.init(meta.layout(), &device), &path).unwrap_err().to_string();
    assert!(error.contains("non-finite"), "{error}");
}

/// How many entries of `folder` have names starting with `prefix`.
fn entries_named(folder: &Path, prefix: &str) -> usize {
    std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .count()
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

#[test]
fn a_lock_left_by_a_killed_process_does_not_block_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("trials.jsonl");
    // What a process killed while appending leaves behind.
    std::fs::write(dir.path().join("trials.jsonl.lock"), "4242\n").unwrap();
    // The lock is the operating system's, held by no process now: the file left behind is free
    // at once (a wait would end in an error after 30 s, not in success).
    folio::registry::check(&registry).unwrap();
}

#[test]
fn a_broken_registry_stops_training_before_it_starts_and_a_resumed_run_is_one_trial() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let registry = dir.path().join("trials.jsonl");
    std::fs::write(&registry, "not a record\n").unwrap();
    let out = dir.path().join("run");
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "--config", config.to_str().unwrap(), "--steps", "200", "--seeds", "1"];
        args.extend(["--out", out.to_str().unwrap(), "--registry", registry.to_str().unwrap()]);
        args.extend(extra);
        folio(&args, dir.path())
    };
    let output = train(&[]);
    assert!(!output.status.success());
    assert!(text(&output).contains("line 1"), "{}", text(&output));
    assert!(!out.join(checkpoint::META).exists(), "nothing trained for a registry that cannot record it");

    std::fs::remove_file(&registry).unwrap();
    let output = train(&[]);
    assert!(output.status.success(), "{}", text(&output));
    let output = train(&["--resume"]);
    assert!(output.status.success(), "{}", text(&output));
    let lines = std::fs::read_to_string(&registry).unwrap().lines().count();
    assert_eq!(lines, 1, "resuming a finished run records no second trial");
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    // As `folio ... | head` after head has read what it wanted.
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_folio"))
        .args(["data", "inspect", "envs/data/us_factor_etfs_daily.csv"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked") && output.status.code() != Some(101), "{stderr}");
}

#[test]
fn outputs_never_replace_what_a_user_made_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let config = tiny_config(cwd);
    let config = config.to_str().unwrap();
    let run = |args: &[&str]| folio(args, cwd);
    let prices = std::fs::read(cwd.join("prices.csv")).unwrap();

    let output = run(&["data", "synth", "--out", "prices.csv", "--periods", "50"]);
    assert!(!output.status.success() && text(&output).contains("--force"), "{}", text(&output));
    assert_eq!(std::fs::read(cwd.join("prices.csv")).unwrap(), prices, "real prices kept");
    let output = run(&["data", "synth", "--out", "other.csv", "--periods", "50"]);
    assert!(output.status.success(), "{}", text(&output));
    let output = run(&["data", "synth", "--out", "other.csv", "--periods", "50", "--force"]);
    assert!(output.status.success(), "{}", text(&output));
    // Negative settings are numbers, not flags (a bear market's drift, a planted reversal).
    let negative = ["--drift", "-0.1", "--stress-drift", "-0.3", "--autocorrelation", "-0.2"];
    let output =
        run(&[&["data", "synth", "--out", "negative.csv", "--periods", "50"][..], &negative[..]].concat());
    assert!(output.status.success(), "{}", text(&output));

    let train = run(&["train", "--config", config, "--steps", "200", "--seeds", "1", "--out", "run"]);
    assert!(train.status.success(), "{}", text(&train));
    let output = run(&["plot", "run", "--out", "prices.csv"]);
    assert!(!output.status.success() && text(&output).contains(".png"), "{}", text(&output));
    assert_eq!(std::fs::read(cwd.join("prices.csv")).unwrap(), prices, "a CSV is not replaced by a PNG");
    // A training picture has no wealth axis: --log-scale is refused rather than ignored.
    let output = run(&["plot", "run", "--log-scale", "--out", "log.png"]);
    assert!(!output.status.success() && text(&output).contains("add --kind equity"), "{}", text(&output));

    // Checked before the work, and said in words.
    std::fs::write(cwd.join("taken"), "mine").unwrap();
    let output = run(&["eval", "--checkpoint", "run", "--out", "taken"]);
    assert!(text(&output).contains("taken exists and is not a folder"), "{}", text(&output));
    assert_eq!(std::fs::read_to_string(cwd.join("taken")).unwrap(), "mine");

    // A default training that fails before it writes anything leaves no folder to take the name
    // the next one should get.
    for seeds in ["1", "2"] {
        let failed =
            run(&["train", "--config", config, "--steps", "200", "--seeds", seeds, "--device", "cuda"]);
        assert!(!failed.status.success(), "{}", text(&failed));
        let left: Vec<_> = std::fs::read_dir(cwd.join("checkpoints")).map_or(Vec::new(), |entries| {
            entries
                .flatten()
                .map(|e| e.file_name())
                .filter(|name| name.to_string_lossy().starts_with("tiny"))
                .collect()
        });
        assert!(left.is_empty(), "{left:?}: {}", text(&failed));
    }

    // Default folders get a fresh name each run.
    for _ in 0..2 {
        let output = run(&["stress", "--checkpoint", "run"]);
        assert!(output.status.success(), "{}", text(&output));
        let output = run(&["tax", "--config", config, "--strategy", "equal-weight"]);
        assert!(output.status.success(), "{}", text(&output));
        let output =
            run(&["backtest", "--config", config, "--strategy", "equal-weight", "--compare-rebalancing"]);
        assert!(output.status.success(), "{}", text(&output));
    }
    assert!(cwd.join("run/stress").is_dir() && cwd.join("run/stress-2").is_dir());
    // A shock date without prices (a Saturday: synthetic rows fall on weekdays) shocks the next
    // day that has them, and the output says so.
    let report: serde_json::Value = serde_json::from_slice(
        &run(&["stress", "--checkpoint", "run", "--json", "--out", "stress-dated"]).stdout,
    )
    .unwrap();
    let middle: chrono::NaiveDate = report["shock_date"].as_str().unwrap().parse().unwrap();
    let monday =
        middle - chrono::Days::new(u64::from(chrono::Datelike::weekday(&middle).num_days_from_monday()));
    let saturday = (monday - chrono::Days::new(2)).to_string();
    let output =
        run(&["stress", "--checkpoint", "run", "--shock-date", &saturday, "--out", "stress-saturday"]);
    let expected = format!(
        "synthetic shocks on {monday} (--shock-date {saturday} has no prices: the next day that does)"
    );
    assert!(text(&output).contains(&expected), "{}", text(&output));
    // A date with prices is shocked as asked, without a note.
    let monday = monday.to_string();
    let output = run(&["stress", "--checkpoint", "run", "--shock-date", &monday, "--out", "stress-monday"]);
    let shown = text(&output);
    assert!(
        shown.contains(&format!("synthetic shocks on {monday} in")) && !shown.contains("no prices"),
        "{shown}"
    );
    let mut runs: Vec<String> = std::fs::read_dir(cwd.join("runs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    runs.sort();
    let numbered = |name: &String| runs.contains(name) && runs.contains(&format!("{name}-2"));
    assert_eq!(runs.len(), 4, "{runs:?}");
    assert!(numbered(&runs[0]) && numbered(&runs[2]), "{runs:?}");

    // A named folder that holds something is refused before any work, and kept.
    std::fs::create_dir(cwd.join("mine")).unwrap();
    std::fs::write(cwd.join("mine/keep.txt"), "mine").unwrap();
    std::fs::write(cwd.join("space.toml"), "sampler = \"grid\"\n\n[params]\n\"train.steps\" = [200, 400]\n")
        .unwrap();
    for command in [
        vec!["tax", "--config", config, "--out", "mine"],
        vec!["probe", "--config", config, "--steps", "200", "--out", "mine"],
        vec!["search", "--space", "space.toml", "--config", config, "--out", "mine"],
        vec![
            "backtest",
            "--config",
            config,
            "--strategy",
            "equal-weight",
            "--compare-rebalancing",
            "--out",
            "mine",
        ],
    ] {
        let output = run(&command);
        assert!(
            !output.status.success() && text(&output).contains("--force"),
            "{command:?}: {}",
            text(&output)
        );
        // --force replaces a folder of folio's outputs, never one of the user's files.
        let forced = run(&[&command[..], &["--force"]].concat());
        assert!(
            !forced.status.success()
                && text(&forced).contains("no folio command marked as its outputs (keep.txt)"),
            "{command:?} --force: {}",
            text(&forced)
        );
    }
    assert_eq!(std::fs::read_to_string(cwd.join("mine/keep.txt")).unwrap(), "mine");
    assert_eq!(std::fs::read_dir(cwd.join("mine")).unwrap().count(), 1);

    let walk = |folds: &str, extra: &[&str]| {
        let mut args = vec!["walk-forward", "--config", config, "--steps", "200", "--seeds", "1"];
        args.extend(["--folds", folds, "--jobs", "1"]);
        args.extend(extra);
        run(&args)
    };
    // Folds that do not fit are refused before any training: nothing to resume, no folder left.
    let output = walk("400", &["--out", "wf-too-many"]);
    assert!(!output.status.success() && !text(&output).contains("--resume"), "{}", text(&output));
    assert!(!cwd.join("wf-too-many").exists());
    let output = walk("3", &["--out", "wf"]);
    assert!(output.status.success(), "{}", text(&output));
    let output = walk("2", &["--out", "wf"]);
    assert!(!output.status.success() && text(&output).contains("--force"), "{}", text(&output));
    let output = walk("2", &["--out", "wf", "--force"]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        cwd.join("wf/fold-2").is_dir() && !cwd.join("wf/fold-3").exists(),
        "no stale fold beside the new report"
    );
    let leftovers = std::fs::read_dir(cwd)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("replaced"))
        .count();
    assert_eq!(leftovers, 0, "the replaced folder is gone once the new one is complete");

    // A page folio drew is drawn again; a user's file of that name needs --force.
    std::fs::write(cwd.join("notes.html"), "my notes").unwrap();
    let output = run(&["report", "wf", "--out", "notes.html"]);
    assert!(!output.status.success() && text(&output).contains("--force"), "{}", text(&output));
    assert_eq!(std::fs::read_to_string(cwd.join("notes.html")).unwrap(), "my notes");
    for _ in 0..2 {
        let output = run(&["report", "wf", "--out", "page.html"]);
        assert!(output.status.success(), "{}", text(&output));
    }
    let output = run(&["report", "wf", "--out", "notes.html", "--force"]);
    assert!(output.status.success(), "{}", text(&output));

    // The folder folio runs in cannot be set aside: refused in words, its outputs kept.
    std::fs::create_dir(cwd.join("here")).unwrap();
    let here = cwd.join("here");
    let output = folio(&["eval", "--checkpoint", "../run", "--out", "."], &here);
    assert!(output.status.success(), "{}", text(&output));
    let output = folio(&["eval", "--checkpoint", "../run", "--out", ".", "--force"], &here);
    assert!(!output.status.success() && text(&output).contains("folder folio runs in"), "{}", text(&output));
    assert!(here.join("report.json").is_file());

    // A training does not write over files that a folder holds and no training published.
    std::fs::create_dir(cwd.join("logs")).unwrap();
    std::fs::write(cwd.join("logs/train_log.csv"), "precious").unwrap();
    let output = run(&["train", "--config", config, "--steps", "200", "--seeds", "1", "--out", "logs"]);
    assert!(!output.status.success() && text(&output).contains("no folio training"), "{}", text(&output));
    assert_eq!(std::fs::read_to_string(cwd.join("logs/train_log.csv")).unwrap(), "precious");
    // Nor does it clear away files of the shapes its own saves leave behind, or any other file.
    let notes = cwd.join("notes");
    std::fs::create_dir(&notes).unwrap();
    let files = [
        (".vimrc.tmp", "a"),
        ("report.pending", "b"),
        ("publishing.json", "[\"report\"]"),
        ("thesis.docx", "c"),
    ];
    for (name, content) in files {
        std::fs::write(notes.join(name), content).unwrap();
    }
    for seeds in ["1", "2"] {
        let output =
            run(&["train", "--config", config, "--steps", "200", "--seeds", seeds, "--out", "notes"]);
        assert!(
            !output.status.success() && text(&output).contains("holds .vimrc.tmp, which no folio training"),
            "{}",
            text(&output)
        );
    }
    for (name, content) in files {
        assert_eq!(std::fs::read_to_string(notes.join(name)).unwrap(), content, "{name}");
    }
    assert!(!notes.join("report").exists() && !notes.join("seed-0").exists());

    let output = run(&["train", "--config", config, "--steps", "200", "--out", "notes/thesis.docx"]);
    assert!(text(&output).contains("thesis.docx exists and is not a folder"), "{}", text(&output));
    // Seeds past the largest one are refused, not wrapped round to 0.
    let output = run(&[
        "train",
        "--config",
        config,
        "--steps",
        "200",
        "--seed",
        "18446744073709551615",
        "--seeds",
        "2",
    ]);
    assert!(
        output.status.code() == Some(1) && text(&output).contains("run past the largest seed"),
        "{}",
        text(&output)
    );
}

/// `folio data combine` writes tickers' own files as one wide file a config can read, says what
/// the config needs for the dates some tickers lack, and never writes over a file unasked.
#[test]
fn tickers_files_combine_into_a_file_folio_reads() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::write(
        cwd.join("AAA.csv"),
        "Date,Open,Close,Volume\n2020-01-02,1,1.0,5\n2020-01-03,1,1.1,5\n2020-01-06,1,1.2,5\n",
    )
    .unwrap();
    std::fs::write(cwd.join("BBB.csv"), "date,close\n2020-01-02,2.0\n2020-01-06,2.2\n").unwrap();
    let combine = |extra: &[&str]| {
        let mut args = vec!["data", "combine", "AAA.csv", "BBB.csv", "--out", "wide.csv"];
        args.extend(extra);
        folio(&args, cwd)
    };
    let output = combine(&[]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("wrote wide.csv: 2 tickers (AAA, BBB) on 3 dates"), "{}", text(&output));
    // Which column of AAA's several was read, and BBB's only one.
    assert!(
        text(&output).contains("prices read from each file's column: AAA: Close, BBB: close"),
        "{}",
        text(&output)
    );
    assert!(
        text(&output).contains("BBB: 1 missing price") && text(&output).contains("carry_forward"),
        "{}",
        text(&output)
    );
    assert_eq!(
        std::fs::read_to_string(cwd.join("wide.csv")).unwrap(),
        "date,AAA,BBB\n2020-01-02,1,2\n2020-01-03,1.1,\n2020-01-06,1.2,2.2\n"
    );
    let refused = combine(&[]);
    assert!(!refused.status.success() && text(&refused).contains("--force"), "{}", text(&refused));
    assert!(combine(&["--force"]).status.success());
    // --force never replaces a file the command reads, however it is spelled.
    let own = folio(&["data", "combine", "AAA.csv", "BBB.csv", "--out", "./BBB.csv", "--force"], cwd);
    assert!(!own.status.success() && text(&own).contains("one of the files to combine"), "{}", text(&own));
    assert_eq!(
        std::fs::read_to_string(cwd.join("BBB.csv")).unwrap(),
        "date,close\n2020-01-02,2.0\n2020-01-06,2.2\n"
    );

    // A ticker named after its file can clash with the date column: refused, nothing written
    // over the earlier file.
    let before = std::fs::read(cwd.join("wide.csv")).unwrap();
    std::fs::copy(cwd.join("BBB.csv"), cwd.join("date.csv")).unwrap();
    let clash = folio(&["data", "combine", "AAA.csv", "date.csv", "--out", "wide.csv", "--force"], cwd);
    assert!(
        !clash.status.success()
            && text(&clash).contains("date.csv: the file's name makes a ticker called 'date'"),
        "{}",
        text(&clash)
    );
    // Tickers named Close and Open make a file that reads as one ticker's download.
    std::fs::copy(cwd.join("BBB.csv"), cwd.join("Close.csv")).unwrap();
    std::fs::copy(cwd.join("BBB.csv"), cwd.join("Open.csv")).unwrap();
    let clash = folio(&["data", "combine", "Close.csv", "Open.csv", "--out", "wide.csv", "--force"], cwd);
    assert!(!clash.status.success() && text(&clash).contains("rename the files"), "{}", text(&clash));
    assert_eq!(std::fs::read(cwd.join("wide.csv")).unwrap(), before);
    let left: Vec<_> = std::fs::read_dir(cwd).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(!left.iter().any(|name| name.to_string_lossy().contains("combining")), "{left:?}");
}

/// Settings that no price file could hold are refused in words: no panic, no file folio could
/// not read back.
#[test]
fn a_synthetic_market_past_what_a_file_holds_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    for (flags, says) in [
        (&["--periods", "50", "--volatility", "inf"][..], "finite"),
        (&["--periods", "50", "--drift", "1e308"][..], "no price file can hold"),
        (&["--periods", "300", "--seed", "2", "--volatility", "50"][..], "no price file can hold"),
        (&["--periods", "50", "--start", "+262142-12-29"][..], "the last date a price file can hold"),
        (&["--assets", "100000", "--periods", "100000"][..], "more than 50000000 prices"),
    ] {
        let output = folio(&[&["data", "synth", "--out", "s.csv"][..], flags].concat(), cwd);
        assert!(
            output.status.code() == Some(1) && text(&output).contains(says),
            "{flags:?}: {}",
            text(&output)
        );
        assert!(!cwd.join("s.csv").exists());
    }
}

/// A run killed while it replaces an output folder (`--force`) has set the folder's earlier
/// outputs aside and run no clean-up. Ctrl-C says where they are; the next run into the folder
/// puts them back before it does anything else, as a failed run would have.
#[cfg(unix)]
#[test]
fn an_interrupted_replacement_puts_the_earlier_outputs_back() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let config = tiny_config(cwd);
    let args = |steps: &str, extra: &[&str]| -> Vec<String> {
        let mut args = vec!["walk-forward", "--config", config.to_str().unwrap(), "--steps", steps];
        args.extend(["--seeds", "1", "--folds", "2", "--jobs", "1", "--out", "wf"]);
        args.extend(extra);
        args.into_iter().map(String::from).collect()
    };
    let run = |args: Vec<String>| folio(&args.iter().map(String::as_str).collect::<Vec<_>>(), cwd);
    let output = run(args("200", &[]));
    assert!(output.status.success(), "{}", text(&output));
    let report = std::fs::read(cwd.join("wf/report.json")).unwrap();
    let set_aside = || {
        std::fs::read_dir(cwd)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".wf.replaced-"))
            .count()
    };

    for signal in [libc::SIGKILL, libc::SIGINT] {
        // Long enough that the signal always lands in the middle of the work.
        let child = common::folio_command(
            &args("2000000", &["--force"]).iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .current_dir(cwd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
        let started = std::time::Instant::now();
        while set_aside() == 0 || !cwd.join("wf").exists() {
            assert!(started.elapsed().as_secs() < 60, "the run never set the old outputs aside");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // SAFETY: a plain kill(2) of the child this test started and has not yet waited for.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
        let killed = child.wait_with_output().unwrap();
        assert!(!killed.status.success());
        if signal == libc::SIGINT {
            assert_eq!(killed.status.code(), Some(130), "{}", text(&killed));
            assert!(
                text(&killed).contains("interrupted: wf holds this run's partial outputs")
                    && text(&killed).contains("comes back at the next folio command that writes to wf"),
                "{}",
                text(&killed)
            );
        }
        assert_eq!(set_aside(), 1, "the earlier outputs wait beside the folder");

        let refused = run(args("200", &[]));
        assert!(
            !refused.status.success() && text(&refused).contains("(put back: a run that was replacing them"),
            "{}",
            text(&refused)
        );
        assert_eq!(
            std::fs::read(cwd.join("wf/report.json")).unwrap(),
            report,
            "the earlier outputs are back"
        );
        assert_eq!(set_aside(), 0);
    }
    let output = run(args("200", &["--force"]));
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(set_aside(), 0, "nothing is left aside once a replacement completes");
}

/// The bundled default config with `extra` appended, its data path made absolute.
fn default_config_with(dir: &Path, extra: &str) -> PathBuf {
    let data = std::fs::canonicalize("envs/data/us_stocks_20_daily.csv").unwrap();
    let text = std::fs::read_to_string("envs/default.toml")
        .unwrap()
        .replace("\"data/us_stocks_20_daily.csv\"", &format!("{:?}", data.to_str().unwrap()));
    let path = dir.join("config.toml");
    std::fs::write(&path, text + extra).unwrap();
    path
}

#[test]
fn a_key_in_the_wrong_table_is_an_error_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    EnvConfig::load(&default_config_with(dir.path(), "")).unwrap();
    for (extra, key) in [("risk_profile = \"balanced\"\n", "risk_profile"), ("eta = 0.5\n", "eta")] {
        let error = EnvConfig::load(&default_config_with(dir.path(), extra)).unwrap_err().to_string();
        assert!(error.contains("config.toml") && error.contains(key), "{extra}: {error}");
    }
}

/// Only walk-forward learns online; the commands that act on a checkpoint trained for it say
/// that their figures are the saved network's.
#[test]
fn commands_on_an_online_trained_checkpoint_say_they_do_not_learn_online() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config_with_train(dir.path(), "online_steps = 2");
    let config = config.to_str().unwrap();
    let output =
        folio(&["train", "--config", config, "--steps", "200", "--seeds", "1", "--out", "run"], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    // eval says it in its verdict, which its report keeps.
    let output = folio(&["eval", "--checkpoint", "run", "--json"], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // A script finds the outputs from the JSON alone: the default folder is numbered when taken.
    let folder = Path::new(report["folder"].as_str().unwrap());
    assert!(folder.is_absolute() && folder.starts_with(dir.path().join("run")), "{}", folder.display());
    assert!(folder.join("report.json").exists());
    let verdict = report["verdict"].as_str().unwrap();
    assert!(
        verdict.contains("online_steps = 2, but this evaluation acts on its network as saved"),
        "{verdict}"
    );
    let output = folio(&["stress", "--checkpoint", "run"], dir.path());
    let shown = text(&output);
    assert!(shown.contains("online_steps = 2; stress acts on its network as saved"), "{shown}");
}

/// A strategy named twice (or again inside `all`) is one row of the report, not two.
#[test]
fn a_repeated_strategy_is_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let config = config.to_str().unwrap();
    let output = folio(
        &[
            "backtest",
            "--config",
            config,
            "--json",
            "--strategy",
            "equal-weight",
            "--strategy",
            "equal-weight",
        ],
        dir.path(),
    );
    assert!(output.status.success(), "{}", text(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["results"].as_array().unwrap().len(), 1, "{}", report["results"]);
}

/// A backtest of hindsight benchmarks alone, which crowded pictures leave out, is still drawn:
/// on its page and by `folio plot`.
#[test]
fn a_backtest_of_bcrp_alone_is_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let out = dir.path().join("bcrp");
    let output = folio(
        &[
            "backtest",
            "--config",
            config.to_str().unwrap(),
            "--strategy",
            "bcrp",
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(output.status.success(), "{}", text(&output));
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    let equity = page.split("data-chart=\"equity\"").nth(1).and_then(|rest| rest.split("</figure>").next());
    assert!(
        equity.is_some_and(|chart| chart.contains("BCRP")),
        "no curve of BCRP in the page's wealth chart"
    );
    let output = folio(&["plot", out.to_str().unwrap()], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    assert!(out.join("equity.png").is_file());
    // So is its comparison of rebalancing rules, and OLMAR's, whose turnover crowded charts omit.
    for strategy in ["bcrp", "olmar"] {
        let compared = dir.path().join(format!("{strategy}-rules"));
        let output = folio(
            &[
                "backtest",
                "--config",
                config.to_str().unwrap(),
                "--strategy",
                strategy,
                "--compare-rebalancing",
                "--out",
                compared.to_str().unwrap(),
            ],
            dir.path(),
        );
        assert!(output.status.success(), "{strategy}: {}", text(&output));
    }
}

/// A resumed run continues the seeds it was started with: `--resume` without `--seeds` on a
/// two-seed run must not add the default third seed, and other seeds are refused.
#[test]
fn a_resume_without_seeds_continues_the_runs_own_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let train = |extra: &[&str]| {
        let base = ["train", "--config", config.to_str().unwrap(), "--out", "run"];
        folio(&[&base[..], extra].concat(), dir.path())
    };
    let output = train(&["--steps", "200", "--seeds", "2", "--seed", "7"]);
    assert!(output.status.success(), "{}", text(&output));
    // A finished run holds nothing that looks like a run still at work in it.
    for folder in ["run", "run/seed-7", "run/seed-8"] {
        assert!(!dir.path().join(folder).join(folio::files::LOCK_FILE).exists(), "{folder}");
    }
    let output = train(&["--steps", "400", "--resume"]);
    assert!(output.status.success(), "{}", text(&output));
    let mut seeds: Vec<String> = std::fs::read_dir(dir.path().join("run"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("seed-"))
        .collect();
    seeds.sort();
    assert_eq!(seeds, ["seed-7", "seed-8"]);
    let steps = checkpoint::load_meta(&dir.path().join("run/seed-8")).unwrap().progress.env_steps;
    assert!(steps > 200, "the seeds trained on: {steps} steps");
    let output = train(&["--steps", "600", "--resume", "--seeds", "3"]);
    assert!(
        !output.status.success() && text(&output).contains("started with 2 seeds from 7"),
        "{}",
        text(&output)
    );
    // A finished run resumed without --steps keeps its own budget and trains nothing more,
    // where the config's default budget made it train on.
    let output = train(&["--resume"]);
    assert!(output.status.success(), "{}", text(&output));
    let after = checkpoint::load_meta(&dir.path().join("run/seed-8")).unwrap();
    assert_eq!((after.train.steps, after.progress.env_steps), (400, steps));
    // Fewer steps than it has taken cannot be asked for.
    let output = train(&["--steps", "100", "--resume"]);
    assert!(text(&output).contains("more than the 100 asked for now"), "{}", text(&output));
    // A single-seed run's folder is one seed's: resuming it needs no --seeds.
    let one = |extra: &[&str]| {
        let base = ["train", "--config", config.to_str().unwrap(), "--out", "one"];
        folio(&[&base[..], extra].concat(), dir.path())
    };
    let output = one(&["--steps", "200", "--seeds", "1"]);
    assert!(output.status.success(), "{}", text(&output));
    let output = one(&["--resume"]);
    assert!(output.status.success(), "{}", text(&output));
}

/// The seeds of an ensemble act on one observation and trade under one environment: a seed
/// folder of another run (other costs, another normalization) is refused by every command that
/// deploys the ensemble, rather than run under the first seed's settings.
#[test]
fn seeds_of_different_runs_do_not_join_one_ensemble() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let config = config.to_str().unwrap();
    let output =
        folio(&["train", "--config", config, "--steps", "200", "--seeds", "2", "--out", "run"], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    // An evaluation of the run writes a report per seed and the ensemble's, each in a folder of
    // its own: plot and report name them rather than a missing report.json.
    let output = folio(&["eval", "--checkpoint", "run", "--out", "evaluated"], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    for (command, verb) in [("plot", "plot"), ("report", "give")] {
        let output = folio(&[command, "evaluated"], dir.path());
        assert!(
            !output.status.success()
                && text(&output).contains(&format!(
                    "evaluated holds no report of its own but 3 in its folders: {verb} one of them, such as evaluated/ensemble"
                )),
            "{command}: {}",
            text(&output)
        );
    }
    let meta_path = dir.path().join("run/seed-1/meta.json");
    let original = std::fs::read_to_string(&meta_path).unwrap();
    let mut meta: serde_json::Value = serde_json::from_str(&original).unwrap();
    meta["env"]["costs"]["buy"] = 0.004.into();
    std::fs::write(&meta_path, serde_json::to_string(&meta).unwrap()).unwrap();
    for command in
        [["eval", "--checkpoint", "run"], ["tax", "--checkpoint", "run"], ["stress", "--checkpoint", "run"]]
    {
        let output = folio(&command, dir.path());
        let shown = text(&output);
        assert!(
            !output.status.success()
                && shown.contains("another environment")
                && shown.contains("its [costs] differ")
                && shown.contains("cannot join this ensemble"),
            "{command:?}: {shown}"
        );
    }
    let mut meta: serde_json::Value = serde_json::from_str(&original).unwrap();
    meta["normalizer"]["mean"][0] = 123.0.into();
    std::fs::write(&meta_path, serde_json::to_string(&meta).unwrap()).unwrap();
    let output = folio(&["tax", "--checkpoint", "run"], dir.path());
    assert!(!output.status.success() && text(&output).contains("normalization differs"), "{}", text(&output));
    // A copy of a seed is that seed counted twice, not another member.
    std::fs::write(&meta_path, &original).unwrap();
    std::fs::remove_dir_all(dir.path().join("run/seed-1")).unwrap();
    copy_folder(&dir.path().join("run/seed-0"), &dir.path().join("run/seed-1"));
    let output = folio(&["eval", "--checkpoint", "run"], dir.path());
    assert!(
        !output.status.success() && text(&output).contains("one seed counted twice"),
        "{}",
        text(&output)
    );
    // Seed folders other than those the run was started with are evaluated, and said to be.
    std::fs::remove_dir_all(dir.path().join("run/seed-1")).unwrap();
    let output = folio(&["eval", "--checkpoint", "run"], dir.path());
    assert!(
        output.status.success() && text(&output).contains("holds no checkpoint of seed 1"),
        "{}",
        text(&output)
    );
    let output = folio(
        &["train", "--config", config, "--steps", "200", "--seed", "5", "--seeds", "1", "--out", "other"],
        dir.path(),
    );
    assert!(output.status.success(), "{}", text(&output));
    std::fs::rename(dir.path().join("other"), dir.path().join("run/seed-5")).unwrap();
    let output = folio(&["eval", "--checkpoint", "run"], dir.path());
    let shown = text(&output);
    assert!(
        output.status.success() && shown.contains("started with seeds 0 to 1 and also holds seed-5"),
        "{shown}"
    );
}

/// A window the data cannot warm up is found only once the settings meet the data, deep in the
/// library; every command that read the config names the file to mend.
#[test]
fn settings_that_do_not_fit_the_data_name_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = default_config_with(dir.path(), "");
    let settings = std::fs::read_to_string(&config).unwrap();
    let window = settings.lines().find(|l| l.starts_with("window =")).unwrap();
    std::fs::write(&config, settings.replace(window, "window = 50000")).unwrap();
    let config = config.to_str().unwrap();
    for command in [
        vec!["env", "check", config],
        vec!["train", "--config", config, "--out", "run"],
        vec!["walk-forward", "--config", config, "--out", "wf"],
        vec!["probe", "--config", config, "--out", "probe"],
        vec!["search", "--space", "envs/tilt_search.toml", "--config", config, "--out", "search"],
    ] {
        let output = folio(&command, dir.path());
        let error = text(&output);
        assert!(
            !output.status.success()
                && error.contains(&format!("config {config}: "))
                && error.contains("50019"),
            "{command:?}: {error}"
        );
    }
}

/// `env check` says when training would refuse the config's periods (here a validation period
/// inside the training period, which defaults to all the data), and a period written backwards
/// is refused by its table and line before any data is read.
#[test]
fn env_check_warns_of_periods_training_would_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let config = default_config_with(dir.path(), "");
    let check = |config: &Path| {
        let output =
            folio(&["env", "check", config.to_str().unwrap(), "--episodes", "1", "--json"], dir.path());
        assert!(output.status.success(), "{}", text(&output));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()["training_refused"].clone()
    };
    assert_eq!(check(&config), serde_json::Value::Null);
    let settings = std::fs::read_to_string(&config).unwrap();
    let only_validation =
        settings.replacen("[periods.train]\nfrom = \"1990-01-02\"\nto = \"2014-12-31\"\n", "", 1);
    assert_ne!(only_validation, settings);
    std::fs::write(&config, &only_validation).unwrap();
    let refused = check(&config);
    assert!(
        refused.as_str().unwrap().contains("the validation period must start after training ends"),
        "{refused}"
    );

    let backwards = settings.replacen("to = \"2017-12-31\"", "to = \"2010-01-01\"", 1);
    std::fs::write(&config, &backwards).unwrap();
    let output = folio(&["env", "check", config.to_str().unwrap()], dir.path());
    let line = backwards.lines().position(|l| l == "to = \"2010-01-01\"").unwrap();
    assert!(
        !output.status.success()
            && text(&output)
                .contains("periods.validation.from = 2015-01-01 is after periods.validation.to = 2010-01-01"),
        "{}",
        text(&output)
    );
    assert!(text(&output).contains(&format!("line {}", line)), "the table's line: {}", text(&output));
}

#[test]
fn the_default_config_and_its_data_run_from_any_folder() {
    let dir = tempfile::tempdir().unwrap();
    let output = folio(&["env", "check", "--episodes", "1"], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    let output = folio(&["train", "--steps", "64", "--seeds", "1", "--out", "run"], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    // A file on disk at the default's path wins over the bundled copy.
    std::fs::create_dir_all(dir.path().join("envs")).unwrap();
    std::fs::write(dir.path().join("envs/default.toml"), "[data]\nfile = \"missing.csv\"\n").unwrap();
    let output = folio(&["env", "check"], dir.path());
    assert!(!output.status.success() && text(&output).contains("missing.csv"), "{}", text(&output));
}

/// Under a scheduler or `nohup`, stderr is a file, where a progress bar draws nothing: each task
/// writes lines instead, at most one every FOLIO_PROGRESS_SECONDS (30 by default) and one at its end.
#[test]
fn a_log_file_shows_progress_as_lines() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["train", "--steps", "64", "--seeds", "1", "--out"];
    let output = folio_command(&[&args[..], &["every"]].concat())
        .current_dir(dir.path())
        .env("FOLIO_PROGRESS_SECONDS", "0")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let of_training = |prefix: &str| -> Vec<String> {
        stderr.lines().filter(|l| l.starts_with("[00:") && l.contains(prefix)).map(String::from).collect()
    };
    let lines = of_training("every: ");
    assert!(lines.len() >= 2 && lines.iter().all(|l| l.contains("/64 steps")), "{stderr}");
    assert!(lines.last().unwrap().contains("every: finished after 00:00:"), "{stderr}");
    assert!(!lines[0].contains("finished"), "{stderr}");
    // By default a run this short writes only its end.
    let output = folio(&[&args[..], &["quiet"]].concat(), dir.path());
    assert!(output.status.success(), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("quiet: ")).collect();
    assert!(lines.len() == 1 && lines[0].contains("finished after"), "{stderr}");
}

/// The README's second market and its tilt search, named as the README names them, from a folder
/// that holds neither.
#[test]
fn the_bundled_factor_etfs_and_tilt_search_run_from_any_folder() {
    let dir = tempfile::tempdir().unwrap();
    let output = folio(&["env", "check", "envs/factor_etfs.toml", "--episodes", "1", "--json"], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    // `--config`, as every other command names it, checks the same market.
    let named = folio(
        &["env", "check", "--config", "envs/factor_etfs.toml", "--episodes", "1", "--json"],
        dir.path(),
    );
    assert!(named.status.success(), "{}", text(&named));
    let fingerprint = |output: &std::process::Output| {
        let checked: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        (checked["config"].clone(), checked["fingerprint"].clone())
    };
    assert_eq!(fingerprint(&named), fingerprint(&output));
    let planning = [
        "plan",
        "search",
        "--space",
        "envs/tilt_search.toml",
        "--config",
        "envs/factor_etfs.toml",
        "--out",
        "plan",
    ];
    let output = folio(&planning, dir.path());
    assert!(output.status.success(), "{}", text(&output));
    let plan = std::fs::read_to_string(dir.path().join("plan/search-plan.json")).unwrap();
    assert!(plan.contains("train.net.tilt") && plan.contains("us_factor_etfs_daily.csv"), "{plan}");
}

/// Every file under `envs/` that the README names is carried in the binary as the repository
/// holds it, so that the README's commands work where folio is installed without its sources.
#[test]
fn every_envs_file_the_readme_names_is_bundled() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let named: std::collections::BTreeSet<&str> = readme
        .split(|c: char| !(c.is_ascii_alphanumeric() || "_-./".contains(c)))
        .filter(|word| word.starts_with("envs/") && (word.ends_with(".toml") || word.ends_with(".csv")))
        .collect();
    assert!(named.len() >= 8, "{named:?}");
    for path in named {
        let bundled = folio::files::bundled(std::path::Path::new(path));
        assert_eq!(bundled, Some(&std::fs::read(path).unwrap()[..]), "{path} is not bundled as it is");
    }
    // Two of them, used from a folder that holds neither.
    let dir = tempfile::tempdir().unwrap();
    let djia = folio(&["env", "check", "envs/olps_djia.toml", "--episodes", "1", "--json"], dir.path());
    assert!(djia.status.success(), "{}", text(&djia));
    let answers =
        ["backtest", "--strategy", "equal-weight", "--risk-questionnaire", "envs/risk_questionnaire.toml"];
    let profiled = folio(&[&answers[..], &["--out", "bt"]].concat(), dir.path());
    assert!(profiled.status.success(), "{}", text(&profiled));
}

#[test]
fn a_moved_checkpoint_finds_its_data_and_other_data_needs_consent() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    let config = tiny_config(&a);
    let output = folio(
        &["train", "--config", config.to_str().unwrap(), "--steps", "200", "--seeds", "1", "--out", "run"],
        &a,
    );
    assert!(output.status.success(), "{}", text(&output));
    // The whole project moves, and the commands run from another folder.
    std::fs::rename(&a, &b).unwrap();
    let prices = std::fs::read_to_string(b.join("prices.csv")).unwrap();
    let date = prices.lines().nth(351).unwrap().split(',').next().unwrap();
    for args in [
        vec!["eval", "--checkpoint", "b/run"],
        vec!["stress", "--checkpoint", "b/run"],
        vec!["explain", "--checkpoint", "b/run", "--date", date],
    ] {
        let output = folio(&args, dir.path());
        assert!(output.status.success(), "{args:?}: {}", text(&output));
    }

    // Prices changed under the checkpoint: refused, unless the user says otherwise.
    let mut lines: Vec<String> = prices.lines().map(String::from).collect();
    let cells: Vec<&str> = lines[5].split(',').collect();
    lines[5] = format!("{},{},{}", cells[0], "123.0", cells[2..].join(","));
    std::fs::write(b.join("prices.csv"), lines.join("\n") + "\n").unwrap();
    let output = folio(&["eval", "--checkpoint", "b/run"], dir.path());
    assert!(text(&output).contains("is not the data checkpoint"), "{}", text(&output));
    // The training file grown by a later row is the training data as far as the agent knows:
    // evaluated through the new row, without --allow-other-data.
    let last: Vec<&str> = prices.lines().last().unwrap().split(',').collect();
    let next_day = chrono::NaiveDate::parse_from_str(last[0], "%Y-%m-%d").unwrap() + chrono::Days::new(1);
    let grown = format!("{prices}{next_day},{}\n", last[1..].join(","));
    std::fs::write(dir.path().join("grown.csv"), grown).unwrap();
    let output = folio(&["eval", "--checkpoint", "b/run", "--data", "grown.csv", "--json"], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (report["to"].as_str(), report["same_data_as_training"].as_bool()),
        (Some(&*next_day.to_string()), Some(true))
    );
    // A file without one of its assets is refused for that, not as other prices.
    let renamed = lines[0].replacen(",", ",X", 2);
    std::fs::write(dir.path().join("renamed.csv"), format!("{renamed}\n{}\n", lines[1..].join("\n")))
        .unwrap();
    let output = folio(&["stress", "--checkpoint", "b/run", "--data", "renamed.csv"], dir.path());
    assert!(text(&output).contains("is not in renamed.csv"), "{}", text(&output));
    let output = folio(&["eval", "--checkpoint", "b/run", "--allow-other-data", "--json"], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report["warning"].as_str().unwrap().contains("NOT THE TRAINING DATA"), "{}", report["warning"]);
    let verdict = report["verdict"].as_str().unwrap();
    assert!(
        verdict.contains("not the prices the agent was trained on") && !verdict.contains("in-sample"),
        "{verdict}"
    );
    // Nor do its pictures or its page, which read the saved report for it.
    let saved = dir.path().join("other-data.json");
    std::fs::write(&saved, &output.stdout).unwrap();
    assert!(!folio::report::saved::read_report(&saved).unwrap().in_sample);
    // Data moved away on its own: the checkpoint says so and how to point at it.
    std::fs::rename(b.join("prices.csv"), dir.path().join("elsewhere.csv")).unwrap();
    let output = folio(&["eval", "--checkpoint", "b/run"], dir.path());
    assert!(
        text(&output).contains("which is no longer there") && text(&output).contains("--data"),
        "{}",
        text(&output)
    );
    // Every command that may meet that message takes --data, as it advises (here the training
    // prices, moved; elsewhere.csv holds the changed ones).
    std::fs::write(dir.path().join("moved.csv"), &prices).unwrap();
    for command in [&["eval"][..], &["stress"], &["tax"], &["explain", "--date", date]] {
        let output =
            folio(&[command, &["--checkpoint", "b/run", "--data", "moved.csv"]].concat(), dir.path());
        assert!(output.status.success(), "{command:?}: {}", text(&output));
    }
}

#[test]
fn an_asset_that_stops_trading_early_is_named_not_silently_shrinking_the_market() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = tiny_env(dir.path());
    let text = std::fs::read_to_string(&env.data.file).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let asset = lines[0].split(',').nth(2).unwrap().to_string();
    for line in &mut lines[1 + 350..] {
        let mut cells: Vec<&str> = line.split(',').collect();
        cells[2] = "";
        *line = cells.join(",");
    }
    let last_date = lines[390].split(',').next().unwrap().to_string();
    std::fs::write(&env.data.file, lines.join("\n") + "\n").unwrap();
    env.periods.validation.to = Some(last_date.parse().unwrap());
    let error = train(request(&env, config(200), &dir.path().join("run"), false)).unwrap_err().to_string();
    assert!(
        error.contains(&format!("asset '{asset}' has no prices after")) && error.contains(&last_date),
        "{error}"
    );
}

#[test]
fn an_asset_that_starts_late_is_named_with_where_the_market_would_start_without_it() {
    // A late listing moves the whole market's start: the years before it are lost to every
    // asset. That was said only by `env check`; a training or walk-forward lost them silently.
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let file = dir.path().join("prices.csv");
    let mut lines: Vec<String> = std::fs::read_to_string(&file).unwrap().lines().map(String::from).collect();
    let asset = lines[0].split(',').nth(2).unwrap().to_string();
    for line in &mut lines[1..=40] {
        let mut cells: Vec<&str> = line.split(',').collect();
        cells[2] = "";
        *line = cells.join(",");
    }
    let date = |row: usize| lines[row + 1].split(',').next().unwrap().to_string();
    let note = format!(
        "note: asset '{asset}' has no prices before {}, so the market starts there although the file \
         starts at {}; leave it out (data.assets) to start at {}",
        date(40),
        date(0),
        date(0)
    );
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let output = folio(
        &["train", "--config", config.to_str().unwrap(), "--steps", "200", "--seeds", "1", "--out", "run"],
        dir.path(),
    );
    assert!(output.status.success(), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&note), "{}", text(&output));
}

/// With an embargo, decision ranges stop short of their spans' edges, but the normalization is
/// fitted on the whole training span: a validation span that starts inside it would be scaled by
/// statistics of rows after its first decisions, so it is refused, not just its decisions compared.
#[test]
fn a_validation_span_inside_the_training_span_is_refused_whatever_the_embargo() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = tiny_env(dir.path());
    let folio::data::TimeIndex::Dates(dates) = env.data.load_prices().unwrap().index else { panic!("dated") };
    env.episode.embargo = 15;
    env.periods.validation.from = Some(folio::data::Stamp::Date(dates[270]));
    let error =
        train(request(&env, config(64), &dir.path().join("overlap"), false)).err().unwrap().to_string();
    assert!(error.contains("must start after training ends"), "{error}");
    // Starting after the training span, its embargo is the only gap it needs.
    env.periods.validation.from = Some(folio::data::Stamp::Date(dates[300]));
    train(request(&env, config(64), &dir.path().join("apart"), false)).unwrap();
}

/// A config whose period lies outside its data is the config's mistake: the error names the
/// file and the table to fix, not only a span.
#[test]
fn a_period_outside_the_data_names_its_table_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = tiny_env(dir.path());
    let far = |text: &str| Some(folio::data::Stamp::Date(text.parse().unwrap()));
    env.periods.validation = Span { from: far("2099-01-01"), to: None };
    let file = dir.path().join("future.toml");
    std::fs::write(&file, toml::to_string(&env).unwrap()).unwrap();
    let output =
        folio(&["train", "--config", file.to_str().unwrap(), "--steps", "64", "--out", "run"], dir.path());
    let shown = text(&output);
    assert!(!output.status.success(), "{shown}");
    assert!(shown.contains("future.toml") && shown.contains("[periods.validation]"), "{shown}");
    assert!(shown.contains("2099-01-01"), "{shown}");

    // Training never reads the test period; the evaluation of it says where it came from.
    let mut env = tiny_env(dir.path());
    env.periods.test = Span { from: far("2099-01-01"), to: None };
    train(request(&env, config(64), &dir.path().join("run"), false)).unwrap();
    let output = folio(&["eval", "--checkpoint", "run"], dir.path());
    let shown = text(&output);
    assert!(!output.status.success(), "{shown}");
    assert!(shown.contains("[periods.test]") && shown.contains("--from"), "{shown}");
}

#[test]
fn too_few_periods_are_said_in_words_not_nan() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("one.csv"), "date,A,B\n2020-01-02,1.0,2.0\n").unwrap();
    let output = folio(&["data", "inspect", "one.csv"], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    let shown = text(&output);
    assert!(!shown.contains("NaN") && shown.contains("too few periods"), "{shown}");

    let config = tiny_config(dir.path());
    let output = folio(
        &["train", "--config", config.to_str().unwrap(), "--steps", "200", "--seeds", "1", "--out", "run"],
        dir.path(),
    );
    assert!(output.status.success(), "{}", text(&output));
    let prices = std::fs::read_to_string(dir.path().join("prices.csv")).unwrap();
    let date = |row: usize| prices.lines().nth(row + 1).unwrap().split(',').next().unwrap().to_string();
    let (from, to) = (date(350), date(351));
    let output = folio(&["eval", "--checkpoint", "run", "--from", &from, "--to", &to], dir.path());
    let shown = text(&output);
    assert!(shown.contains("Too few periods to measure") && !shown.contains("Sharpe ratio NaN"), "{shown}");
    assert!(output.status.success(), "{shown}");
    // Nor is one return raised to a year: no CAGR, Sortino or yearly cost drag from it.
    let output = folio(&["eval", "--checkpoint", "run", "--from", &from, "--to", &to, "--json"], dir.path());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let agent = &report["results"][0]["metrics"];
    assert!(
        agent["cagr"].is_null() && agent["sortino"].is_null() && agent["annual_cost_drag"].is_null(),
        "{agent}"
    );
}

#[test]
fn impossible_flags_are_errors_not_silently_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let config = config.to_str().unwrap();
    for command in ["train", "walk-forward", "search", "panel"] {
        let mut args = vec![command, "--jobs", "0", "--out", "run"];
        args.extend(match command {
            "panel" => vec![config],
            "search" => vec!["--space", "envs/tilt_search.toml", "--config", config],
            _ => vec!["--config", config],
        });
        let output = folio(&args, dir.path());
        assert!(!output.status.success() && text(&output).contains("--jobs"), "{command}: {}", text(&output));
    }
    // Zero folds or seeds are refused as the flags are read, not after a note about zero folds.
    for flags in
        [vec!["walk-forward", "--config", config, "--folds", "0"], vec!["panel", config, "--seeds", "0"]]
    {
        let output = folio(&flags, dir.path());
        let shown = text(&output);
        assert!(!output.status.success() && shown.contains("must be at least 1"), "{shown}");
        assert!(!shown.contains("0 folds") && !shown.contains("kept in"), "{shown}");
    }
    // Counts that would end the process (threads, memory) or run nothing are refused as read.
    for (flags, says) in [
        (vec!["train", "--config", config, "--jobs", "100000"], "at most 1024"),
        (vec!["train", "--config", config, "--steps", "0"], "at least 1"),
        (
            vec!["explain", "--checkpoint", "run", "--date", "2020-01-02", "--steps", "100000000"],
            "at most 100000",
        ),
        (vec!["env", "check", config, "--episodes", "0"], "at least 1"),
    ] {
        let output = folio(&flags, dir.path());
        assert!(!output.status.success() && text(&output).contains(says), "{flags:?}: {}", text(&output));
    }
    // A date for numbered rows, or a row number for dated ones, is said to be of the wrong kind
    // (it was "after the last row").
    let undated: String = (0..50).map(|t| format!("{},{}\n", 100 + t % 7, 50 + t % 5)).collect();
    std::fs::write(dir.path().join("undated.csv"), format!("A,B\n{undated}")).unwrap();
    for (flags, says) in [
        (
            vec!["backtest", "--data", "undated.csv", "--from", "2012-01-01", "--strategy", "equal-weight"],
            "is a date",
        ),
        (
            vec!["backtest", "--config", config, "--to", "5", "--strategy", "equal-weight"],
            "is a period number",
        ),
    ] {
        let output = folio(&flags, dir.path());
        assert!(!output.status.success() && text(&output).contains(says), "{flags:?}: {}", text(&output));
    }
    // The default rules of a comparison are those the data can run: no calendar on numbered rows.
    let args = [
        "backtest",
        "--data",
        "undated.csv",
        "--compare-rebalancing",
        "--strategy",
        "equal-weight",
        "--json",
    ];
    let output = folio(&[&args[..], &["--out", "rules"]].concat(), dir.path());
    assert!(output.status.success(), "{}", text(&output));
    let comparison: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rules = comparison["rules"].as_array().unwrap();
    assert!(rules.len() == 4 && !rules.iter().any(|r| r.to_string().contains("monthly")), "{rules:?}");
    // A folder where a file is written, or a file where a plan's folder goes, is refused in words
    // (a combine staged its file beside the folder and left it there).
    std::fs::create_dir_all(dir.path().join("a-folder")).unwrap();
    std::fs::write(dir.path().join("a-file"), "mine").unwrap();
    for (flags, says) in [
        (vec!["data", "synth", "--out", "a-folder", "--force"], "is a folder"),
        (vec!["plan", "walk-forward", "--config", config, "--out", "a-file"], "is not a folder"),
    ] {
        let output = folio(&flags, dir.path());
        assert!(!output.status.success() && text(&output).contains(says), "{flags:?}: {}", text(&output));
    }
    assert_eq!(std::fs::read_dir(dir.path().join("a-folder")).unwrap().count(), 0);
    assert_eq!(std::fs::read_to_string(dir.path().join("a-file")).unwrap(), "mine");
    // --force without --out would replace nothing: refused rather than ignored.
    let output = folio(&["walk-forward", "--config", config, "--force"], dir.path());
    assert!(!output.status.success() && text(&output).contains("--out"), "{}", text(&output));
    // --resume continues one folder, and replacing it at once means the opposite.
    let search = vec!["search", "--space", "envs/tilt_search.toml", "--config", config];
    for command in [vec!["walk-forward", "--config", config], vec!["panel", config], search] {
        let output = folio(&[&command[..], &["--resume"]].concat(), dir.path());
        assert!(!output.status.success() && text(&output).contains("--out"), "{}", text(&output));
        let output = folio(&[&command[..], &["--resume", "--force", "--out", "run"]].concat(), dir.path());
        assert!(
            !output.status.success() && text(&output).contains("cannot be used with"),
            "{}",
            text(&output)
        );
    }
    let output =
        folio(&["train", "--config", config, "--steps", "200", "--seeds", "1", "--out", "run"], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    // A checkpoint brings its own environment: a --config beside it would be ignored.
    let output = folio(&["tax", "--checkpoint", "run", "--config", config], dir.path());
    assert!(!output.status.success() && text(&output).contains("cannot be used with"), "{}", text(&output));
    let output = folio(&["plot", "no-such-run"], dir.path());
    assert!(
        !output.status.success() && text(&output).contains("no-such-run does not exist"),
        "{}",
        text(&output)
    );
    let output = folio(&["stress", "--checkpoint", "run", "--crash-fall", "1.5"], dir.path());
    assert!(!output.status.success() && text(&output).contains("crash_fall"), "{}", text(&output));
    // A negative size reaches the same check, not the parser's "unexpected argument '-0'".
    let output = folio(&["stress", "--checkpoint", "run", "--volatility-factor", "-3"], dir.path());
    assert!(text(&output).contains("stress size volatility_factor"), "{}", text(&output));
    let output = folio(&["eval", "--checkpoint", "run", "--to", "2099-01-01"], dir.path());
    assert!(
        !output.status.success() && text(&output).contains("after the data's last row"),
        "{}",
        text(&output)
    );
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

/// Trains `steps` in one go, and again killed after `kill_after` steps and resumed; both must
/// leave the same networks and log, bit for bit.
fn assert_resume_is_bit_identical(env: &EnvConfig, steps: TrainConfig, kill_after: u64, dir: &Path) {
    let (whole, killed) = (dir.join("whole"), dir.join("killed"));
    train(request(env, steps.clone(), &whole, false)).unwrap();
    let mut first = request(env, steps.clone(), &killed, false);
    first.progress = Arc::new(KillAfter(kill_after));
    let stopped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| train(first)));
    assert!(stopped.is_err(), "the first attempt was killed");
    let saved = checkpoint::load_meta(&killed).unwrap().progress;
    assert!(
        saved.updates > 0 && saved.env_steps < steps.steps,
        "killed part-way, after {} updates",
        saved.updates
    );
    train(request(env, steps.clone(), &killed, true)).unwrap();

    let device = DeviceChoice::Cpu.device().unwrap();
    for which in [Weights::Last, Weights::Best] {
        let weights = |dir: &Path| checkpoint::load_agent(dir, which, &device).unwrap().1.parameter_values();
        let (a, b) = (weights(&whole), weights(&killed));
        let same = a.iter().zip(&b).all(|(p, q)| p.iter().zip(q).all(|(u, v)| u.to_bits() == v.to_bits()));
        assert!(same && a.len() == b.len(), "{:?}: {which} differs after a resume", steps.algo);
    }
    let log = |dir: &Path| std::fs::read_to_string(dir.join(checkpoint::LOG)).unwrap();
    let rewards =
        |text: String| text.lines().map(|l| l.split(',').nth(4).unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(rewards(log(&whole)), rewards(log(&killed)), "{:?}: every update's reward", steps.algo);
}

/// An 800-step training into `out`, killed after 500 steps, as a lost machine leaves it.
fn kill_part_way(env: &EnvConfig, out: &Path) {
    let mut first = request(env, config(800), out, false);
    first.progress = Arc::new(KillAfter(500));
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| train(first))).is_err());
}

/// A resume rewrites the log from the rows it read back, so a log it cannot read whole must stop
/// it, naming the row, rather than lose the rows past the damage.
#[test]
fn a_resume_refuses_a_log_it_cannot_read_whole_and_leaves_it_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let env = tiny_env(dir.path());
    let out = dir.path().join("run");
    kill_part_way(&env, &out);
    let log = out.join(checkpoint::LOG);
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert!(lines.len() > 3, "a few updates were logged");
    let second_row = lines[2].clone();
    lines[2] = format!("not a number{}", &second_row[second_row.find(',').unwrap()..]);
    let damaged = lines.join("\n") + "\n";
    std::fs::write(&log, &damaged).unwrap();

    let error = train(request(&env, config(800), &out, true)).unwrap_err().to_string();
    assert!(error.contains("train_log.csv") && error.contains("line: 3"), "{error}");
    assert!(std::fs::read_to_string(&log).unwrap() == damaged, "the log is left as it was");

    std::fs::remove_file(&log).unwrap();
    train(request(&env, config(800), &out, true)).unwrap();
    let resumed = std::fs::read_to_string(&log).unwrap();
    assert!(resumed.lines().count() > 1, "a resume without a log starts a new one");
}

/// The learner's own state (the direct learner's portfolio memory) is part of what a resume
/// continues from: a checkpoint that saved it and lost it is refused, not resumed from elsewhere.
#[test]
fn a_resume_refuses_a_checkpoint_that_lost_its_learner_state() {
    let dir = tempfile::tempdir().unwrap();
    let env = tiny_env(dir.path());
    let out = dir.path().join("run");
    kill_part_way(&env, &out);
    std::fs::remove_file(out.join(checkpoint::LEARNER)).unwrap();
    let error = train(request(&env, config(800), &out, true)).unwrap_err().to_string();
    assert!(error.contains("learner.bin: not a readable folio checkpoint: the file is missing"), "{error}");
}

/// A checkpoint whose training was killed evaluates, and its verdict says that the weights are
/// not yet those the run deploys; resumed to its end, it says no more.
#[test]
fn an_evaluation_of_an_unfinished_training_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let env = tiny_env(dir.path());
    let out = dir.path().join("run");
    kill_part_way(&env, &out);
    let verdict = || {
        folio::eval::evaluate::evaluate(folio::eval::evaluate::EvalRequest::new(out.clone()))
            .unwrap()
            .report
            .verdict
    };
    let unfinished = verdict();
    assert!(
        unfinished.contains("UNFINISHED: the training of") && unfinished.contains("--resume"),
        "{unfinished}"
    );
    // Every command that acts on the checkpoint says so too, in the report it writes.
    let others = || {
        let rebalancing = folio::eval::evaluate::compare_rebalancing(
            folio::eval::evaluate::EvalRequest::new(out.clone()),
            &[],
        )
        .unwrap();
        let (stress, _) = folio::eval::stress::stress_checkpoints(folio::eval::stress::StressRequest {
            checkpoints: vec![out.clone()],
            weights: Weights::Best,
            scenarios: Vec::new(),
            from: None,
            to: None,
            shock_date: None,
            device: DeviceChoice::Cpu,
            data: checkpoint::DataChoice::default(),
        })
        .unwrap();
        let tax_file = PathBuf::from("envs/tax_us.toml");
        let tax = folio::tax::report::tax_report(folio::tax::report::TaxRequest {
            tax: folio::tax::config::TaxConfig::load(&tax_file).unwrap(),
            tax_file,
            env_config: PathBuf::new(),
            checkpoint: Some(out.clone()),
            other_seeds: Vec::new(),
            strategies: Vec::new(),
            from: None,
            to: None,
            device: DeviceChoice::Cpu,
            data: checkpoint::DataChoice::default(),
        })
        .unwrap();
        let explained = folio::eval::explain::explain(folio::eval::explain::ExplainRequest {
            checkpoint: out.clone(),
            ensemble: Vec::new(),
            weights: Weights::Best,
            date: None,
            from: env.periods.validation.from,
            to: None,
            method: folio::eval::explain::Method::GradientTimesInput,
            device: DeviceChoice::Cpu,
            data: checkpoint::DataChoice::default(),
        })
        .unwrap();
        [rebalancing.unfinished, stress.report.unfinished, tax.unfinished, explained.unfinished]
    };
    for warning in others() {
        assert!(warning.is_some_and(|w| w.contains("UNFINISHED: the training of")));
    }
    train(request(&env, config(800), &out, true)).unwrap();
    assert!(!verdict().contains("UNFINISHED"));
    assert_eq!(others(), [None, None, None, None]);
}

/// A checkpoint read while its run publishes new weights (an eval of a run still training) can
/// fall between two renames and find weights newer than the meta.json it read: it reads again,
/// and gets the new state whole, rather than calling the checkpoint damaged.
#[test]
fn a_checkpoint_read_between_two_renames_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let env = tiny_env(dir.path());
    let out = dir.path().join("run");
    train(request(&env, config(400), &out, false)).unwrap();
    let meta = std::fs::read(out.join(checkpoint::META)).unwrap();
    // The new weights are in place, the meta.json that records them not yet.
    let mut old_meta = checkpoint::load_meta(&out).unwrap();
    old_meta.checksums.insert(BEST.into(), "0".repeat(64));
    std::fs::write(out.join(checkpoint::META), serde_json::to_vec(&old_meta).unwrap()).unwrap();
    let publisher = {
        let out = out.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            folio::files::write_bytes_atomically(&out.join(checkpoint::META), &meta).unwrap();
        })
    };
    let device = DeviceChoice::Cpu.device().unwrap();
    let read = checkpoint::load_agent(&out, Weights::Best, &device);
    publisher.join().unwrap();
    read.unwrap();
    // A file that stays damaged is still refused, once the reads again have not mended it.
    std::fs::write(out.join(checkpoint::META), serde_json::to_vec(&old_meta).unwrap()).unwrap();
    let Err(error) = checkpoint::load_agent(&out, Weights::Best, &device) else { panic!("refused") };
    let error = error.to_string();
    assert!(error.contains("best.bpk") && error.contains("SHA-256"), "{error}");
}

#[test]
fn a_resumed_direct_run_is_bit_identical_to_one_never_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let env = tiny_env(dir.path());
    assert_resume_is_bit_identical(&env, config(800), 500, dir.path());
}

/// PPO continues its episodes from one rollout to the next, and both sample episode starts: a
/// resume must bring back the episodes mid-way (with the differential Sharpe ratio's running
/// moments) and the stream of starts.
#[test]
fn resumed_ppo_and_reinforce_runs_are_bit_identical_to_ones_never_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = tiny_env(dir.path());
    env.reward = RewardConfig::DifferentialSharpe { eta: 0.05 };
    let ppo = TrainConfig {
        algo: Algo::Ppo,
        validate_every: 3,
        ppo: PpoConfig { envs: 4, rollout_steps: 20, minibatch: 40, epochs: 2, ..PpoConfig::default() },
        ..config(800)
    };
    std::fs::create_dir_all(dir.path().join("ppo")).unwrap();
    assert_resume_is_bit_identical(&env, ppo, 500, &dir.path().join("ppo"));
    let reinforce = TrainConfig {
        algo: Algo::Reinforce,
        validate_every: 2,
        reinforce: ReinforceConfig { episodes: 3, ..ReinforceConfig::default() },
        ..config(1200)
    };
    std::fs::create_dir_all(dir.path().join("reinforce")).unwrap();
    assert_resume_is_bit_identical(&env, reinforce, 700, &dir.path().join("reinforce"));
}

#[test]
fn spikes_and_unadjusted_splits_are_flagged_with_asset_and_date() {
    let dir = tempfile::tempdir().unwrap();
    let env = tiny_env(dir.path());
    let prices = std::fs::read_to_string(&env.data.file).unwrap();
    let mut lines: Vec<String> = prices.lines().map(String::from).collect();
    let assets: Vec<String> = lines[0].split(',').skip(1).map(String::from).collect();
    let scale = |line: &mut String, column: usize, factor: f64| {
        let mut cells: Vec<String> = line.split(',').map(String::from).collect();
        cells[column] = (cells[column].parse::<f64>().unwrap() * factor).to_string();
        *line = cells.join(",");
    };
    // A x1000 typo on one day, and a 2:1 split (on a day without a move of its own) never
    // adjusted for.
    scale(&mut lines[101], 1, 1000.0);
    let price = |line: &str| line.split(',').nth(2).unwrap().parse::<f64>().unwrap();
    let factor = 0.5 * price(&lines[200]) / price(&lines[201]);
    for line in &mut lines[201..] {
        scale(line, 2, factor);
    }
    let (spike_day, split_day) = (
        lines[101].split(',').next().unwrap().to_string(),
        lines[201].split(',').next().unwrap().to_string(),
    );
    std::fs::write(&env.data.file, lines.join("\n") + "\n").unwrap();
    let output = folio(&["data", "inspect", "prices.csv"], dir.path());
    let shown = text(&output);
    assert!(shown.contains(&format!("{} on {spike_day}", assets[0])) && shown.contains("spike"), "{shown}");
    assert!(
        shown.contains(&format!("{} on {split_day}", assets[1])) && shown.contains("exact 2:1"),
        "{shown}"
    );
    let config = tiny_config_over(dir.path());
    let output = folio(
        &["train", "--config", config.to_str().unwrap(), "--steps", "64", "--seeds", "1", "--out", "run"],
        dir.path(),
    );
    assert!(text(&output).contains(&format!("warning: {} on {spike_day}", assets[0])), "{}", text(&output));
}

/// A config over the prices already in `dir`.
fn tiny_config_over(dir: &Path) -> PathBuf {
    let prices = std::fs::read(dir.join("prices.csv")).unwrap();
    let config = tiny_config(dir);
    std::fs::write(dir.join("prices.csv"), prices).unwrap();
    config
}

#[test]
fn a_multi_seed_eval_names_the_folders_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let output = folio(
        &["train", "--config", config.to_str().unwrap(), "--steps", "200", "--seeds", "2", "--out", "run"],
        dir.path(),
    );
    assert!(output.status.success(), "{}", text(&output));
    for _ in 0..2 {
        let output = folio(&["eval", "--checkpoint", "run"], dir.path());
        let shown = text(&output);
        assert!(output.status.success() && !shown.contains("<seed>") && shown.contains("seed-1"), "{shown}");
        // The ensemble's headline says whether its gap to equal weight is more than noise, or
        // too small to matter (seeds that kept their equal-weight reference).
        let headline =
            shown.lines().find(|l| l.starts_with("The ensemble's Sharpe ratio")).unwrap_or_default();
        let tested = headline.contains("Ledoit-Wolf HAC test") || headline.contains("too small to matter");
        assert!(tested && headline.contains("a gap of"), "{shown}");
        // With no test period, eval runs on the validation period, which chose the networks.
        assert!(
            headline.ends_with("The period is in-sample, so this says little about the future."),
            "{shown}"
        );
    }
    let evals = entries_named(&dir.path().join("run/seed-0"), "eval-");
    assert_eq!(evals, 2, "a second eval does not replace the first");
    // The ensemble's report names every network it averaged.
    assert_eq!(entries_named(&dir.path().join("run"), "ensemble-eval-"), 2, "named for its period, numbered");
    let first = std::fs::read_dir(dir.path().join("run"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("ensemble-eval-"))
        .min()
        .unwrap();
    let ensemble: serde_json::Value =
        serde_json::from_slice(&std::fs::read(first.join("report.json")).unwrap()).unwrap();
    let members = ensemble["ensemble_members"].as_array().map(|m| m.len());
    assert!(ensemble["checkpoint"].as_str().unwrap().ends_with("seed-0") && members == Some(1), "{ensemble}");

    // --out gathers the seeds' evaluations and the ensemble's in one folder.
    let output = folio(&["eval", "--checkpoint", "run", "--out", "evals"], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    for folder in ["seed-0", "seed-1", "ensemble"] {
        assert!(dir.path().join("evals").join(folder).join("report.json").is_file(), "{folder}");
    }
    assert_eq!(entries_named(&dir.path().join("run/seed-0"), "eval-"), 2, "nothing written beside the seeds");
    // A script is told where each went: the folder holding them all, each seed's, the ensemble's.
    let output = folio(&["eval", "--checkpoint", "run", "--out", "evals-json", "--json"], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let out = std::path::absolute(dir.path().join("evals-json")).unwrap();
    let named = |value: &serde_json::Value| std::path::PathBuf::from(value.as_str().unwrap());
    assert_eq!(named(&shown["folder"]), out);
    let folders: Vec<_> = shown["folders"].as_array().unwrap().iter().map(named).collect();
    assert_eq!(folders, vec![out.join("seed-0"), out.join("seed-1")]);
    assert_eq!(named(&shown["ensemble_folder"]), out.join("ensemble"));
    // Without --out they go beside the checkpoints, and no folder is the command's own.
    let output = folio(&["eval", "--checkpoint", "run", "--json"], dir.path());
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(shown["folder"].is_null() && shown["ensemble_folder"].is_string(), "{shown}");

    // Over one period no Sharpe ratio exists: the headline says so rather than print NaN.
    let prices = std::fs::read_to_string(dir.path().join("prices.csv")).unwrap();
    let days: Vec<&str> = prices.lines().rev().take(2).map(|l| l.split(',').next().unwrap()).collect();
    let output = folio(&["eval", "--checkpoint", "run", "--from", days[1], "--to", days[0]], dir.path());
    let shown = text(&output);
    assert!(
        output.status.success() && shown.contains("Too few periods") && !shown.contains("NaN"),
        "{shown}"
    );

    // Rebalancing rules compared on a run: on its ensemble, the policy it deploys.
    let output = folio(
        &["eval", "--checkpoint", "run", "--compare-rebalancing", "--rules", "every,monthly"],
        dir.path(),
    );
    let shown = text(&output);
    assert!(output.status.success() && shown.contains("agent (ensemble)"), "{shown}");
    assert!(!shown.contains("agent (seed"), "{shown}");
    let comparisons = entries_named(&dir.path().join("run"), "rebalancing-");
    assert_eq!(comparisons, 1, "{shown}");

    // A run folder has no picture of its own: plot names the folders that do.
    let output = folio(&["plot", "run"], dir.path());
    let shown = text(&output);
    assert!(!output.status.success() && shown.contains("seed-0") && shown.contains("ensemble"), "{shown}");
    // Nor a report: the page is made from the evaluations in it.
    let output = folio(&["report", "run"], dir.path());
    let shown = text(&output);
    assert!(!output.status.success() && shown.contains("run/ensemble"), "{shown}");
    let output = folio(&["report", "run/seed-1"], dir.path());
    let shown = text(&output);
    assert!(!output.status.success() && shown.contains("run/seed-1/eval-"), "{shown}");
}

#[test]
fn common_export_formats_are_read_or_get_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let load = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        folio::data::load_prices(&path)
    };
    // pandas' index column, blank or named, in an undated file.
    for header in ["", "period", "index"] {
        let panel = load("pandas.csv", &format!("{header},A,B\n0,1.0,2.0\n1,1.1,2.1\n2,1.2,2.2\n")).unwrap();
        assert_eq!((panel.assets.clone(), panel.n_periods()), (vec!["A".to_string(), "B".to_string()], 3));
    }
    // Spreadsheet exports: tab-separated, and trailing commas on the header, the rows or both.
    let dated = |panel: folio::data::PricePanel| {
        (panel.assets.clone(), panel.n_periods(), panel.asset_prices(1).to_vec())
    };
    let expected = (vec!["A".to_string(), "B".to_string()], 2, vec![2.0, 2.1]);
    for text in [
        "date\tA\tB\n2020-01-02\t1.0\t2.0\n2020-01-03\t1.1\t2.1\n",
        "date,A,B,\n2020-01-02,1.0,2.0,\n2020-01-03,1.1,2.1,\n",
        "date,A,B\n2020-01-02,1.0,2.0,,\n2020-01-03,1.1,2.1\n",
        "date,A,B,,\n2020-01-02,1.0,2.0\n2020-01-03,1.1,2.1,\n",
        // The empty rows a spreadsheet keeps below its data.
        "date,A,B\n2020-01-02,1.0,2.0\n2020-01-03,1.1,2.1\n,,\n,,,,\n",
    ] {
        assert_eq!(dated(load("export.csv", text).unwrap()), expected, "{text:?}");
    }
    // yfinance downloads of several tickers: the best price field, each ticker a column.
    let download = |text: &str| {
        let path = dir.path().join("download.csv");
        std::fs::write(&path, text).unwrap();
        folio::data::read_prices(&path, folio::data::MissingPrices::Error)
    };
    for (text, field) in [
        // yfinance 0.2.51 and later: named levels, closes adjusted already.
        (
            "Price,Close,Close,Volume,Volume\nTicker,A,B,A,B\nDate,,,,\n\
             2020-01-02,1.0,2.0,500,600\n2020-01-03,1.1,2.1,500,600\n",
            "Close",
        ),
        // Earlier versions: unnamed levels, and the dividend-adjusted closes beside the closes.
        (
            ",Adj Close,Adj Close,Close,Close\n,A,B,A,B\nDate,,,,\n\
             2020-01-02,1.0,2.0,9,9\n2020-01-03,1.1,2.1,9,9\n",
            "Adj Close",
        ),
        // group_by="ticker": the tickers first, and no row for the index's name.
        (
            "Ticker,A,A,B,B\nPrice,Open,Close,Open,Close\n\
             2020-01-02,7,1.0,7,2.0\n2020-01-03,7,1.1,7,2.1\n",
            "Close",
        ),
    ] {
        let loaded = download(text).unwrap();
        assert_eq!(dated(loaded.panel), expected, "{text:?}");
        assert_eq!(loaded.price_field.as_deref(), Some(field), "{text:?}");
    }
    let bad_cell = download("Price,Close,Close,Volume,Volume\nTicker,A,B,A,B\n2020-01-02,1.0,x,5,6\n");
    let bad_cell = bad_cell.unwrap_err().to_string();
    assert!(bad_cell.ends_with("download.csv, line 3, column 3 (B): 'x' is not a number"), "{bad_cell}");
    let no_close = download("Price,Open,Volume\nTicker,A,A\n2020-01-02,1.0,5\n").unwrap_err().to_string();
    assert!(no_close.contains("no closing prices (its fields: Open, Volume)"), "{no_close}");
    // pandas writes a Series of closes over an unnamed date index as `,Close`: that is one
    // column of dated prices, and its first row is a price, not a download's row of tickers.
    let series = download(",Close\n2020-01-02,1.0\n2020-01-03,1.1\n2020-01-06,1.2\n").unwrap();
    assert_eq!(series.panel.assets, ["Close"]);
    assert_eq!(series.panel.n_periods(), 3, "the first price is read, not taken for tickers");
    assert_eq!(series.price_field, None);
    let hint = |name: &str, text: &str| load(name, text).unwrap_err().to_string();
    let stray = hint("stray.csv", "date,A,B\n2020-01-02,1.0,2.0,7\n");
    assert!(stray.contains("line 2: the row has 4 fields but the header has 3"), "{stray}");
    let one_ticker =
        hint("AAPL.csv", "Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,74,75,73,75,73,1000\n");
    assert!(
        one_ticker.contains("one ticker's file of Open, High, Low, Close, Adj Close, Volume columns")
            && one_ticker.contains("folio data combine AAPL.csv MSFT.csv")
            && one_ticker.contains("['Adj Close'] for t"),
        "{one_ticker}"
    );
    let long = hint("long.csv", "date,tic,close\n2020-01-02,AAPL,75.1\n2020-01-02,MSFT,160.6\n");
    assert!(long.contains("long file") && long.contains("pivot"), "{long}");
    let semicolons = hint("semi.csv", "date;A;B\n2020-01-02;1,0;2,0\n");
    assert!(semicolons.contains("semicolon"), "{semicolons}");
    // A US spreadsheet's dates, month first: the 15th and 16th can only be days.
    let us = load("us.csv", "date,A\n03/15/2020,1.0\n03/16/2020,1.1\n").unwrap();
    assert_eq!(us.index.label(1), "2020-03-16");
    let slashes = hint("slash.csv", "date,A\n03/04/2020,1.0\n03/05/2020,1.1\n");
    assert!(
        slashes.contains("line 2") && slashes.contains("YYYY-MM-DD") && slashes.contains("ambiguous"),
        "{slashes}"
    );
    // FRED's and crypto exchanges' names for the date column.
    for name in ["observation_date", "time"] {
        let panel = load("named.csv", &format!("{name},A\n2020-01-02,1.0\n2020-01-03,1.1\n")).unwrap();
        assert_eq!(panel.index.label(1), "2020-01-03", "{name}");
    }
    // No header: the first row of values is not taken for names (it was, losing a row).
    for text in ["1,2,3\n1.1,2.1,3.1\n1.2,2.2,3.2\n", "2020-01-02,10,20\n2020-01-03,11,21\n"] {
        let error = hint("headless.csv", text);
        assert!(error.contains("line 1") && error.contains("not column names"), "{error}");
    }
    // pandas' index written before the date column: the dates are named where they stand.
    let index = hint("reset.csv", ",date,A\n0,2020-01-02,1.0\n1,2020-01-03,1.1\n");
    assert!(index.contains("column 2 (date)") && index.contains("index=False"), "{index}");
}

#[test]
fn the_readme_env_check_of_a_test_period_runs_as_written() {
    let output = folio(
        &["env", "check", "envs/factor_etfs.toml", "--period", "test", "--episodes", "4", "--json"],
        Path::new(env!("CARGO_MANIFEST_DIR")),
    );
    assert!(output.status.success(), "{}", text(&output));
    // The JSON carries the settings the table shows, every default filled in.
    let checked: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let settings = &checked["settings"];
    // envs/factor_etfs.toml's own window and costs.
    assert_eq!(
        (settings["costs"]["buy"].as_f64(), settings["features"]["window"].as_u64()),
        (Some(0.001), Some(30))
    );
    assert!(checked["observation_values"].as_u64().unwrap() > 0, "{checked}");
}

/// A walk-forward killed halfway keeps the trainings it finished: `--resume` reads them back
/// instead of training them again, trains the rest, and writes the report an uninterrupted run
/// writes, byte for byte. Resuming anything else is refused with a reason.
#[cfg(unix)]
#[test]
fn a_killed_walk_forward_resumes_from_the_trainings_it_finished() {
    let dir = tempfile::tempdir().unwrap();
    // Trainings that never stop early, so the kill lands while the second one runs.
    let config = tiny_config_with_train(dir.path(), "patience = 1000000");
    let args = |extra: &[&str]| two_fold_walk_forward(&config, "100000", extra);
    let run =
        |args: Vec<String>, cwd: &Path| folio(&args.iter().map(String::as_str).collect::<Vec<_>>(), cwd);
    let (whole, resumed) = (dir.path().join("whole"), dir.path().join("resumed"));
    std::fs::create_dir_all(&whole).unwrap();
    std::fs::create_dir_all(&resumed).unwrap();
    let output = run(args(&[]), &whole);
    assert!(output.status.success(), "{}", text(&output));

    let child = common::folio_command(&args(&[]).iter().map(String::as_str).collect::<Vec<_>>())
        .current_dir(&resumed)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_first_training(&resumed.join("wf/fold-1/seed-0.result.cbor"));
    // SAFETY: a plain kill(2) of the child this test started and has not yet waited for.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) }, 0);
    assert!(!child.wait_with_output().unwrap().status.success());
    assert!(!resumed.join("wf/report.json").exists(), "killed before its report");
    let finished_meta = resumed.join("wf/fold-1/seed-0").join(checkpoint::META);
    let finished_at = std::fs::metadata(&finished_meta).unwrap().modified().unwrap();

    let refused = run(args(&[]), &resumed);
    assert!(
        !refused.status.success() && text(&refused).contains("never finished: --resume continues it"),
        "{}",
        text(&refused)
    );
    let other = run(args(&["--resume", "--seed", "7"]), &resumed);
    assert!(
        !other.status.success()
            && text(&other).contains("holds a walk-forward with train.seed = 0 (now asked: 7)"),
        "{}",
        text(&other)
    );
    // The run is named by the build that started it (version and commit), which its task ids
    // hash too: another build's results could differ though the version number is the same.
    let settings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(resumed.join("wf/walk-forward.settings.json")).unwrap())
            .unwrap();
    assert_eq!(settings["folio_version"], folio::BUILD);
    let output = run(args(&["--resume"]), &resumed);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        std::fs::metadata(&finished_meta).unwrap().modified().unwrap(),
        finished_at,
        "the finished training was read back, not trained again"
    );
    for file in ["report.json", "summary.md", "equity.csv"] {
        assert_eq!(
            std::fs::read(resumed.join("wf").join(file)).unwrap(),
            std::fs::read(whole.join("wf").join(file)).unwrap(),
            "{file}"
        );
    }
    // Each seed is one trial, however often its walk-forward was resumed.
    let trials = |cwd: &Path| std::fs::read_to_string(cwd.join("trials.jsonl")).unwrap().lines().count();
    assert_eq!(trials(&resumed), trials(&whole));

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("wf")).unwrap();
    let nothing = run(args(&["--resume"]), &empty);
    assert!(
        !nothing.status.success() && text(&nothing).contains("holds no walk-forward to resume"),
        "{}",
        text(&nothing)
    );
    std::fs::remove_dir(empty.join("wf")).unwrap();
    let missing = run(args(&["--resume"]), &empty);
    assert!(!missing.status.success() && text(&missing).contains("does not exist"), "{}", text(&missing));
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

/// A `--force` run stopped by Ctrl-C lists what it had written, so files a user adds to its folder
/// afterwards (at the top or in a subfolder) stop both `--force` and the putting back of the
/// outputs it was replacing from deleting them. `--resume` continues the stopped run, not the
/// one it replaced, keeps the user's files out of its outputs, and deletes the replaced outputs
/// once it finishes.
#[test]
fn a_stopped_force_run_resumes_as_itself_and_never_takes_a_users_files_for_its_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let config = tiny_config_with_train(cwd, "patience = 1000000");
    let args = |steps: &str, extra: &[&str]| two_fold_walk_forward(&config, steps, extra);
    let run = |args: Vec<String>| folio(&args.iter().map(String::as_str).collect::<Vec<_>>(), cwd);
    let output = run(args("300", &[]));
    assert!(output.status.success(), "{}", text(&output));
    let earlier = std::fs::read(cwd.join("wf/report.json")).unwrap();

    let replacing = args("100000", &["--seed", "5", "--force"]);
    let child = common::folio_command(&replacing.iter().map(String::as_str).collect::<Vec<_>>())
        .current_dir(cwd)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_first_training(&cwd.join("wf/fold-1/seed-5.result.cbor"));
    // SAFETY: a plain kill(2) of the child this test started and has not yet waited for.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) }, 0);
    let stopped = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&stopped.stderr).to_string();
    assert!(said.contains("unless that command continues this run with --resume"), "{said}");
    let aside = || {
        std::fs::read_dir(cwd)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".wf.replaced-"))
    };
    assert!(aside(), "the outputs being replaced wait beside the folder");

    // Later than the stopped run's last writes could land.
    std::thread::sleep(folio::files::LAST_WRITES + std::time::Duration::from_millis(200));
    std::fs::write(cwd.join("wf/NOTES.md"), "mine").unwrap();
    std::fs::write(cwd.join("wf/fold-1/notes.md"), "mine too").unwrap();
    let users = |output: &std::process::Output| {
        let said = text(output);
        !output.status.success() && said.contains("NOTES.md") && said.contains("fold-1/notes.md")
    };
    let forced = run(args("300", &["--force"]));
    assert!(users(&forced), "{}", text(&forced));
    assert!(cwd.join("wf/NOTES.md").exists() && cwd.join("wf/fold-1/notes.md").exists() && aside());

    let resumed = run(args("100000", &["--seed", "5", "--resume"]));
    assert!(resumed.status.success(), "{}", text(&resumed));
    assert!(!aside(), "the replacement is finished");
    assert_ne!(std::fs::read(cwd.join("wf/report.json")).unwrap(), earlier, "the stopped run's, continued");
    assert_eq!(std::fs::read_to_string(cwd.join("wf/fold-1/notes.md")).unwrap(), "mine too");
    let forced = run(args("300", &["--force"]));
    assert!(users(&forced), "the user's files are not among the outputs: {}", text(&forced));
}

/// Where each training's progress starts: a resumed training starts where its checkpoint was
/// saved, a fresh one at zero.
struct TrainingStarts(Mutex<Vec<u64>>);

impl Progress for TrainingStarts {
    fn start(&self, _: &str, unit: &str, _: u64, position: u64) -> Box<dyn Task> {
        if unit == "steps" {
            self.0.lock().unwrap().push(position);
        }
        Box::new(KillTask(u64::MAX))
    }
}

/// Two folds of 40 test periods on `tiny_env`'s market, one seed each.
fn two_tiny_folds() -> folio::eval::walk_forward::WalkForwardConfig {
    use folio::eval::walk_forward::{WalkForwardConfig, WindowMode};
    WalkForwardConfig {
        mode: WindowMode::Rolling,
        train_periods: 100,
        validation_periods: 40,
        test_periods: 40,
        embargo: 2,
        folds: 2,
        seeds: 1,
    }
}

/// A walk-forward killed in the middle of its trainings continues them from their last saves
/// when resumed (rather than training them again), and still ends with what a run never stopped
/// ends with.
#[test]
fn a_resumed_walk_forward_continues_the_training_it_was_killed_in() {
    use folio::backtest::rebalance::RebalanceRule;
    use folio::eval::walk_forward::{WalkForwardRequest, walk_forward};
    let dir = tempfile::tempdir().unwrap();
    let env = tiny_env(dir.path());
    let request = |out: &str, progress: Arc<dyn Progress>, resume: bool| WalkForwardRequest {
        env: env.clone(),
        train: config(800),
        config: two_tiny_folds(),
        out: dir.path().join(out),
        jobs: 1,
        device: DeviceChoice::Cpu,
        progress,
        registry: None,
        rebalance: RebalanceRule::Every,
        resume,
    };
    let whole = walk_forward(request("whole", folio::progress::silent(), false)).unwrap();
    let killed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        walk_forward(request("killed", Arc::new(KillAfter(500)), false))
    }));
    assert!(killed.is_err(), "the first training was killed");
    let starts = Arc::new(TrainingStarts(Mutex::new(Vec::new())));
    let resumed = walk_forward(request("killed", starts.clone(), true)).unwrap();
    let starts = starts.0.lock().unwrap().clone();
    // Each fold's training was killed at step 500 (the pool runs on past one task's panic), and
    // each goes on from its last save instead of from the start.
    assert_eq!(starts.len(), 2, "one training per fold: {starts:?}");
    assert!(
        starts.iter().all(|&s| s > 0 && s < 800),
        "the killed trainings went on from their saves: {starts:?}"
    );
    // Everything but where the checkpoints are.
    let figures = |report: &folio::eval::walk_forward::WalkForwardReport| {
        let mut folds = serde_json::to_value(&report.folds).unwrap();
        for fold in folds.as_array_mut().unwrap() {
            for seed in fold["seeds"].as_array_mut().unwrap() {
                seed.as_object_mut().unwrap().remove("checkpoint");
            }
        }
        serde_json::to_string(&(&report.overall, folds, &report.verdict)).unwrap()
    };
    assert_eq!(figures(&resumed), figures(&whole));
    // A training that ran to its end but whose result was never saved is tested as it is, not
    // trained again (training it on would go past where it stopped). The other fold is read back.
    let checkpoint = dir.path().join("whole/fold-2/seed-0");
    let best = std::fs::metadata(checkpoint.join(BEST)).unwrap().modified().unwrap();
    std::fs::remove_file(dir.path().join("whole/fold-2/seed-0.result.cbor")).unwrap();
    let starts = Arc::new(TrainingStarts(Mutex::new(Vec::new())));
    let again = walk_forward(request("whole", starts.clone(), true)).unwrap();
    assert!(starts.0.lock().unwrap().is_empty(), "{:?}", starts.0.lock().unwrap());
    assert_eq!(std::fs::metadata(checkpoint.join(BEST)).unwrap().modified().unwrap(), best);
    assert_eq!(figures(&again), figures(&whole));
    assert!(dir.path().join("whole/fold-2/seed-0.result.cbor").exists(), "its result is saved now");
    // A diverged training saved a stop reason but never finished: it trains from the start.
    let meta_path = checkpoint.join(checkpoint::META);
    let mut meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    meta["progress"]["finished"] = false.into();
    meta["progress"]["stopped"] = "diverged at update 3: a network weight became non-finite".into();
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    std::fs::remove_file(dir.path().join("whole/fold-2/seed-0.result.cbor")).unwrap();
    let starts = Arc::new(TrainingStarts(Mutex::new(Vec::new())));
    let again = walk_forward(request("whole", starts.clone(), true)).unwrap();
    assert_eq!(*starts.0.lock().unwrap(), [0]);
    assert_eq!(figures(&again), figures(&whole));
}

/// A cluster task killed partway (a preempted node, a cancelled array job) continues its training
/// from the last save when the scheduler runs it again, and ends with the network an unbroken
/// task ends with.
#[test]
fn a_killed_cluster_task_continues_its_training_when_run_again() {
    use folio::backtest::rebalance::RebalanceRule;
    use folio::eval::tasks::{CHECKPOINT, TASKS, TaskRun, WalkForwardSpec, plan_walk_forward, run_task};
    let dir = tempfile::tempdir().unwrap();
    let spec = WalkForwardSpec {
        env: tiny_env(dir.path()),
        train: config(800),
        config: two_tiny_folds(),
        rebalance: RebalanceRule::Every,
    };
    let (whole, killed) = (dir.path().join("whole"), dir.path().join("killed"));
    let plan = plan_walk_forward(spec.clone(), &whole).unwrap();
    plan_walk_forward(spec, &killed).unwrap();
    run_task(&whole, 0, DeviceChoice::Cpu, folio::progress::silent()).unwrap();
    let interrupted =
        std::panic::catch_unwind(|| run_task(&killed, 0, DeviceChoice::Cpu, Arc::new(KillAfter(500))));
    assert!(interrupted.is_err(), "the task was killed");
    let starts = Arc::new(TrainingStarts(Mutex::new(Vec::new())));
    let rerun = run_task(&killed, 0, DeviceChoice::Cpu, starts.clone()).unwrap();
    assert!(matches!(rerun, TaskRun::Ran(_)));
    let starts = starts.0.lock().unwrap().clone();
    assert!(starts.len() == 1 && starts[0] > 0 && starts[0] < 800, "went on from its save: {starts:?}");
    let network = |plan_dir: &Path| {
        std::fs::read(plan_dir.join(TASKS).join(&plan.tasks[0].id).join(CHECKPOINT).join(BEST)).unwrap()
    };
    assert_eq!(network(&killed), network(&whole), "the same network as the unbroken task");
}

/// A run killed before its selection window filled has kept no network; resumed at a step
/// budget it has already spent, it judges its last network instead of panicking, and leaves a
/// checkpoint that evaluates.
#[test]
fn a_run_killed_before_it_kept_a_network_resumes_into_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let config = tiny_config(cwd);
    let text_config = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text_config + "\n[train]\nselection_window = 100000\nvalidate_every = 2\n")
        .unwrap();
    let config = config.to_str().unwrap();
    let train = |steps: &str, extra: &[&str]| {
        let args =
            [&["train", "--config", config, "--steps", steps, "--seeds", "1", "--out", "run"][..], extra]
                .concat();
        common::folio_command(&args).current_dir(cwd).output().unwrap()
    };
    let child = common::folio_command(&[
        "train", "--config", config, "--steps", "5000000", "--seeds", "1", "--out", "run",
    ])
    .current_dir(cwd)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let meta = cwd.join("run").join(folio::train::checkpoint::META);
    let started = std::time::Instant::now();
    while !meta.exists() {
        assert!(started.elapsed().as_secs() < 60, "the run never saved");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: a plain kill(2) of the child this test started and has not yet waited for.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) }, 0);
    child.wait_with_output().unwrap();
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert!(saved["validation"].is_null(), "nothing kept yet: {}", saved["validation"]);
    // A little more than meta.json said when read: the state a resume finds was once an update
    // further on (a CI run saw 300 steps against 200), and fewer steps than it took are refused.
    let steps = (saved["progress"]["env_steps"].as_u64().unwrap() + 2000).to_string();
    let resumed = train(&steps, &["--resume"]);
    assert!(resumed.status.success(), "{}", text(&resumed));
    let evaluated =
        common::folio_command(&["eval", "--checkpoint", "run"]).current_dir(cwd).output().unwrap();
    assert!(evaluated.status.success(), "{}", text(&evaluated));
}
