//! Two runs never write into one folder or one registry at once, and a lock left by a killed
//! run blocks nothing.

use super::*;

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
