//! A walk-forward or a cluster task that is killed continues from the trainings it finished and
//! ends with what an unbroken run ends with.

use super::*;

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
    // A note the user leaves in the killed run's folder stays theirs through the resume.
    std::fs::write(resumed.join("wf/NOTES.txt"), "mine").unwrap();

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
    let replaced = run(args(&["--force"]), &resumed);
    assert!(
        !replaced.status.success() && text(&replaced).contains("did not write (NOTES.txt)"),
        "the note, and only the note, is the user's: {}",
        text(&replaced)
    );
    assert_eq!(std::fs::read_to_string(resumed.join("wf/NOTES.txt")).unwrap(), "mine");

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("wf")).unwrap();
    let nothing = run(args(&["--resume"]), &empty);
    assert!(
        !nothing.status.success() && text(&nothing).contains("holds no walk-forward to resume"),
        "{}",
        text(&nothing)
    );
    // An id it cannot read, in a folder a stopped folio run marked, is named as such, not taken
    // for no walk-forward.
    std::fs::write(empty.join("wf/.folio-outputs"), "").unwrap();
    std::fs::create_dir(empty.join("wf/walk-forward.id")).unwrap();
    let unreadable = run(args(&["--resume"]), &empty);
    assert!(
        !unreadable.status.success()
            && text(&unreadable).contains("cannot read")
            && text(&unreadable).contains("walk-forward.id"),
        "{}",
        text(&unreadable)
    );
    std::fs::remove_dir_all(empty.join("wf")).unwrap();
    let missing = run(args(&["--resume"]), &empty);
    assert!(!missing.status.success() && text(&missing).contains("does not exist"), "{}", text(&missing));
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
