//! A walk-forward split into tasks, run out of order and in separate processes, one of them
//! killed halfway, and merged: the merge writes what the single-process walk-forward writes.
//! Then the same on a real Slurm cluster on localhost (started by scripts/slurm-local.sh).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{folio_command, folio_in, folio_ok as folio, path, text};

/// A small synthetic market (300 weekdays, 3 assets) and a walk-forward config over it.
fn tiny_config(dir: &Path) -> PathBuf {
    let prices = dir.join("prices.csv");
    folio(&["data", "synth", "--out", path(&prices), "--assets", "3", "--periods", "300", "--seed", "4"]);
    let config = dir.join("tiny.toml");
    std::fs::write(
        &config,
        r#"[data]
file = "prices.csv"

[features]
window = 10
features = ["log_return"]

[episode]
horizon = 30

[walk_forward]
train_periods = 100
validation_periods = 40
test_periods = 40
embargo = 2
"#,
    )
    .unwrap();
    config
}

/// The flags of the request both runs make: 2 folds x 2 seeds, a few hundred steps.
fn request(config: &Path, steps: &str) -> Vec<String> {
    ["--config", path(config), "--steps", steps, "--folds", "2", "--seeds", "2"].map(String::from).to_vec()
}

/// `folio plan walk-forward` with `flags`, into `out`.
fn plan_args(flags: &[String], out: &Path) -> Vec<String> {
    let mut planning = vec!["plan".to_string(), "walk-forward".to_string()];
    planning.extend(flags.iter().cloned());
    planning.extend(["--out".to_string(), path(out).to_string()]);
    planning
}

fn args(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

/// `report.json` with the checkpoint and registry paths left out (they are other folders by
/// design); everything else must match. The data path matches here: the config's is absolute.
fn without_paths(file: &Path) -> serde_json::Value {
    let mut report: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    report["dsr_trials"]["registry"] = serde_json::Value::Null;
    for fold in report["folds"].as_array_mut().unwrap() {
        for seed in fold["seeds"].as_array_mut().unwrap() {
            seed["checkpoint"] = serde_json::Value::Null;
        }
    }
    report
}

/// The outputs of the two runs, byte for byte, but for the registry each names (two registries,
/// or the trials of both runs would count in each other's Deflated Sharpe Ratio).
fn assert_same_outputs((single, single_registry): (&Path, &Path), (merged, merged_registry): (&Path, &Path)) {
    assert_eq!(without_paths(&single.join("report.json")), without_paths(&merged.join("report.json")));
    let summary = |dir: &Path, registry: &Path| {
        std::fs::read_to_string(dir.join("summary.md")).unwrap().replace(path(registry), "REGISTRY")
    };
    assert_eq!(summary(single, single_registry), summary(merged, merged_registry));
    for name in ["equity.csv", "walk_forward.png", "cost_sensitivity.png"] {
        let (a, b) = (std::fs::read(single.join(name)).unwrap(), std::fs::read(merged.join(name)).unwrap());
        assert!(a == b, "{name} differs between the single-process run and the merge");
    }
}

/// Each task's checkpoint is byte for byte the one the single-process run saved for its fold
/// and seed: burn's parameter ids no longer make two saves of one seed differ.
fn assert_same_checkpoints(single: &Path, plan: &Path) {
    let plan_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(plan.join("plan.json")).unwrap()).unwrap();
    for task in plan_json["tasks"].as_array().unwrap() {
        let (fold, seed, id) = (&task["fold"], &task["seed"], task["id"].as_str().unwrap());
        // The plan counts folds from 0 as the report's JSON does; folders from 1, as its text.
        let ours = single.join(format!("fold-{}", fold.as_u64().unwrap() + 1)).join(format!("seed-{seed}"));
        let theirs = plan.join("tasks").join(id).join("checkpoint");
        for file in ["best.bpk", "last.bpk", "optimizer.bpk"] {
            let (a, b) = (std::fs::read(ours.join(file)).unwrap(), std::fs::read(theirs.join(file)).unwrap());
            assert!(a == b, "{file} of fold {fold}, seed {seed} differs");
        }
    }
}

fn task_ids(plan: &Path) -> Vec<String> {
    let plan_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(plan.join("plan.json")).unwrap()).unwrap();
    plan_json["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn tasks_run_in_any_order_and_killed_merge_into_the_single_process_report() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let flags = request(&config, "300");
    let (single, plan) = (dir.path().join("single"), dir.path().join("plan"));
    let mut walk = vec!["walk-forward".to_string()];
    walk.extend(flags.iter().cloned());
    walk.extend(["--jobs", "2", "--out", path(&single), "--registry"].map(String::from));
    let single_registry = dir.path().join("single.jsonl");
    walk.push(path(&single_registry).to_string());
    folio(&args(&walk));

    let planning = plan_args(&flags, &plan);
    folio(&args(&planning));
    folio(&args(&planning)); // planning the same request again is harmless
    let ids = task_ids(&plan);
    assert_eq!(ids.len(), 4, "2 folds x 2 seeds");
    assert_eq!(
        String::from_utf8_lossy(&folio(&["run-task", path(&plan), "--missing"]).stdout).trim(),
        "0,1,2,3"
    );

    // plan.json is a readable copy: mended, it would not be what the tasks run, so they refuse
    // it; reformatted, it says the same and is no edit.
    let readable = plan.join(folio::eval::tasks::PLAN_FILE);
    let written = std::fs::read_to_string(&readable).unwrap();
    std::fs::write(&readable, written.replacen("\"steps\": 300", "\"steps\": 100", 1)).unwrap();
    let refused = folio_command(&["run-task", path(&plan), "--index", "0"]).output().unwrap();
    assert!(
        !refused.status.success() && text(&refused).contains("plan.json no longer says what plan.cbor holds"),
        "{}",
        text(&refused)
    );
    let value: serde_json::Value = serde_json::from_str(&written).unwrap();
    std::fs::write(&readable, serde_json::to_string(&value).unwrap()).unwrap();
    // Nor may plan.cbor hold a request its task ids are not of: results would run under
    // another request's names (here both copies say 100 steps, the ids 300's).
    let exact = plan.join(folio::eval::tasks::PLAN_EXACT);
    let original = std::fs::read(&exact).unwrap();
    let mut edited = folio::eval::tasks::load_plan(&plan).unwrap();
    edited.walk_forward.train.steps = 100;
    let mut bytes = Vec::new();
    ciborium::into_writer(&edited, &mut bytes).unwrap();
    std::fs::write(&exact, bytes).unwrap();
    std::fs::write(&readable, serde_json::to_vec_pretty(&edited).unwrap()).unwrap();
    let refused = folio_command(&["run-task", path(&plan), "--index", "0"]).output().unwrap();
    assert!(
        !refused.status.success()
            && text(&refused).contains("its tasks are not those of the request it holds"),
        "{}",
        text(&refused)
    );
    std::fs::write(&exact, original).unwrap();
    std::fs::write(&readable, &written).unwrap();

    // Out of order, one index from the variable a Kubernetes Indexed Job sets.
    folio(&["run-task", path(&plan), "--index", "3"]);
    let output = folio_command(&["run-task", path(&plan)]).env("JOB_COMPLETION_INDEX", "1").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // Task 0 is killed halfway: a checkpoint folder and a torn result, nothing finished.
    let torn = plan.join("tasks").join(&ids[0]);
    std::fs::create_dir_all(torn.join("checkpoint")).unwrap();
    std::fs::write(torn.join("checkpoint").join("best.bpk"), b"half").unwrap();
    std::fs::write(torn.join("result.cbor"), [0xa2, 0x62]).unwrap();
    let registry = dir.path().join("merged.jsonl");
    let output = folio_command(&["merge", path(&plan), "--registry", path(&registry)]).output().unwrap();
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a merge with tasks missing fails");
    assert!(
        error.contains("2 of the 4 tasks") && error.contains(&ids[0]) && error.contains(&ids[2]),
        "{error}"
    );
    assert!(error.contains("tasks 0,2") && error.contains("run-task"), "{error}");
    // The torn result is named for what it is; a task that never ran is just listed.
    assert!(
        error.contains(&format!("{}): its result.cbor cannot be read (the file ends early)", ids[0])),
        "{error}"
    );
    assert!(error.contains(&format!("{}),", ids[2])) || error.contains(&format!("{}).", ids[2])), "{error}");
    assert!(!registry.exists(), "a failed merge records no trial");
    let missing = folio(&["run-task", path(&plan), "--missing"]);
    assert_eq!(
        String::from_utf8_lossy(&missing.stdout).trim(),
        "0,2",
        "stdout is the bare list scripts read"
    );
    // Why the torn task must run again goes to stderr; the task that never ran needs no reason.
    let reasons = String::from_utf8_lossy(&missing.stderr);
    assert!(reasons.contains(&format!("task 0 ({}): its result.cbor cannot be read", ids[0])), "{reasons}");
    assert!(!reasons.contains(&ids[2]), "{reasons}");
    let listed = folio(&["run-task", path(&plan), "--missing", "--json"]).stdout;
    assert_eq!(serde_json::from_slice::<Vec<usize>>(&listed).unwrap(), [0, 2], "--json prints JSON");

    for index in ["2", "0", "3"] {
        folio(&["run-task", path(&plan), "--index", index]);
    }
    let again = folio(&["run-task", path(&plan), "--index", "3"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already done"));
    let again: serde_json::Value =
        serde_json::from_slice(&folio(&["run-task", path(&plan), "--index", "3", "--json"]).stdout).unwrap();
    assert_eq!(
        (again["status"].as_str(), again["index"].as_u64()),
        (Some("already_done"), Some(3)),
        "{again}"
    );

    let merged = dir.path().join("merged");
    folio(&["merge", path(&plan), "--out", path(&merged), "--registry", path(&registry)]);
    assert_same_outputs((&single, &single_registry), (&merged, &registry));
    assert_same_checkpoints(&single, &plan);
    // Merged twice, the plan's trials count once: one per seed, as for the single run.
    folio(&["merge", path(&plan), "--registry", path(&registry)]);
    assert_eq!(std::fs::read_to_string(&registry).unwrap().lines().count(), 2);
    assert_same_outputs((&single, &single_registry), (&plan, &registry));

    // A registry that cannot be written fails the merge, as it fails a walk-forward: a merge that
    // exited 0 would lose the plan's trials without a word.
    let not_a_file = dir.path().join("registry-folder");
    std::fs::create_dir(&not_a_file).unwrap();
    let unmerged = dir.path().join("unmerged");
    let output =
        folio_command(&["merge", path(&plan), "--registry", path(&not_a_file), "--out", path(&unmerged)])
            .output()
            .unwrap();
    assert!(!output.status.success(), "a merge that cannot record its trials fails");
    assert!(String::from_utf8_lossy(&output.stderr).contains("registry-folder"));
    assert!(!unmerged.exists(), "and fails before its work, as a walk-forward does");

    // A task that does not exist, and data changed since planning, are refused in words.
    let failure = |args: &[&str]| {
        let output = folio_command(args).output().unwrap();
        assert!(!output.status.success(), "folio {args:?} should fail");
        String::from_utf8_lossy(&output.stderr).to_string()
    };
    assert!(failure(&["run-task", path(&plan), "--index", "4"]).contains("there is no task 4"));
    assert!(failure(&["run-task", path(&plan)]).contains("SLURM_ARRAY_TASK_ID"), "no index anywhere");
    let prices = dir.path().join("prices.csv");
    let text = std::fs::read_to_string(&prices).unwrap();
    std::fs::write(&prices, text.replacen(",1", ",2", 1)).unwrap();
    assert!(failure(&["run-task", path(&plan), "--index", "0"]).contains("the data changed"));
}

#[test]
fn a_task_never_runs_twice_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let plan = dir.path().join("plan");
    // Long enough that the first run is still training when the second starts.
    let planning = plan_args(&request(&config, "100000"), &plan);
    folio(&args(&planning));
    let lock = plan.join("tasks").join(&task_ids(&plan)[0]).join(".folio.lock");
    let mut first = folio_command(&["run-task", path(&plan), "--index", "0"]).spawn().unwrap();
    let start = Instant::now();
    // The holder writes its pid into the lock file only once it holds the lock.
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.contains("pid")) {
        assert!(start.elapsed() < Duration::from_secs(60), "the first run never took its lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = folio_command(&["run-task", path(&plan), "--index", "0"]).output().unwrap();
    let _ = first.kill();
    let _ = first.wait();
    let error = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "the second run of a running task fails");
    assert!(error.contains("task 0 of plan") && error.contains("running already"), "{error}");
    assert!(error.contains(&format!("pid {}", first.id())), "{error}");
}

/// A plan records the build that made it (version and commit), and a node running another
/// build refuses its tasks, naming both: its results could differ under the same version number.
#[test]
fn a_plan_refuses_a_node_running_another_build() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let plan = dir.path().join("plan");
    let planning = plan_args(&request(&config, "100"), &plan);
    folio(&args(&planning));
    // Messages count folds from 1, as the reports do (plan.json keeps the fold-N folders' index).
    let incomplete = folio_command(&["merge", path(&plan)]).output().unwrap();
    assert!(!incomplete.status.success());
    assert!(text(&incomplete).contains("0 (fold 1, seed 0,"), "{}", text(&incomplete));
    let version = folio_command(&["--version"]).output().unwrap();
    let build = text(&version).trim().trim_start_matches("folio ").to_string();
    assert_eq!(build, folio::BUILD);
    let readable: serde_json::Value =
        serde_json::from_slice(&std::fs::read(plan.join("plan.json")).unwrap()).unwrap();
    assert_eq!(readable["folio_version"], build.as_str());
    // The plan as another build would have written it: both copies.
    let mut recorded = folio::eval::tasks::load_plan(&plan).unwrap();
    recorded.folio_version = "0.1.0+another".into();
    let mut bytes = Vec::new();
    ciborium::into_writer(&recorded, &mut bytes).unwrap();
    std::fs::write(plan.join(folio::eval::tasks::PLAN_EXACT), bytes).unwrap();
    std::fs::write(plan.join(folio::eval::tasks::PLAN_FILE), serde_json::to_vec_pretty(&recorded).unwrap())
        .unwrap();
    let refused = folio_command(&["run-task", path(&plan), "--index", "0"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("0.1.0+another") && text(&refused).contains(&build),
        "{}",
        text(&refused)
    );

    // A plan cut short says so in words.
    let whole = std::fs::read(plan.join(folio::eval::tasks::PLAN_EXACT)).unwrap();
    std::fs::write(plan.join(folio::eval::tasks::PLAN_EXACT), &whole[..whole.len() / 2]).unwrap();
    let refused = folio_command(&["run-task", path(&plan), "--index", "0"]).output().unwrap();
    assert!(
        text(&refused).contains("plan.cbor: not a folio plan: the file ends early"),
        "{}",
        text(&refused)
    );

    // Neither a plan nor a merge writes into a folder of the user's own.
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("plan.json"), "my notes").unwrap();
    let planning = plan_args(&request(&config, "100"), &mine);
    let refused = folio_command(&args(&planning)).output().unwrap();
    assert!(!refused.status.success() && text(&refused).contains("not a folio plan"), "{}", text(&refused));
    let merged = folio_command(&["merge", path(&plan), "--out", path(&mine)]).output().unwrap();
    assert!(!merged.status.success() && text(&merged).contains("--force"), "{}", text(&merged));
    assert_eq!(std::fs::read_to_string(mine.join("plan.json")).unwrap(), "my notes");
    assert_eq!(std::fs::read_dir(&mine).unwrap().count(), 1);
}

/// The bundled default, planned in an empty folder and run from another: the plan names folio's
/// own copy of the data, which every working directory resolves alike, not a path under the
/// folder it was planned in.
#[test]
fn a_plan_of_the_bundled_default_runs_its_tasks_from_any_folder() {
    let (planned_in, run_in) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plan = planned_in.path().join("plan");
    let planning =
        ["plan", "walk-forward", "--steps", "200", "--folds", "1", "--seeds", "1", "--out", path(&plan)];
    let planned = folio_in(&planning, planned_in.path());
    assert!(planned.status.success(), "{}", text(&planned));
    let ran = folio_in(&["run-task", path(&plan), "--index", "0"], run_in.path());
    assert!(ran.status.success(), "{}", text(&ran));
    assert!(plan.join("tasks").join(&task_ids(&plan)[0]).join("result.cbor").exists());
    let merged = folio_in(&["merge", path(&plan)], run_in.path());
    assert!(merged.status.success(), "{}", text(&merged));
    assert!(plan.join("report.json").exists());
}

/// A single-node Slurm cluster on localhost, stopped (its daemons, by pid) when dropped.
struct SlurmLocal {
    dir: PathBuf,
    conf: PathBuf,
}

impl SlurmLocal {
    /// `None` when Slurm is missing and cannot be installed here (the script says why).
    fn start(dir: PathBuf) -> Option<Self> {
        // Ports of our own, so a cluster another test run started on this machine is not ours.
        let port = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let output = Command::new("scripts/slurm-local.sh")
            .args(["start", path(&dir)])
            .env("SLURM_LOCAL_CTLD_PORT", port().to_string())
            .env("SLURM_LOCAL_SLURMD_PORT", port().to_string())
            .output()
            .expect("scripts/slurm-local.sh runs");
        let said =
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        if output.status.code() == Some(3) {
            eprintln!("SKIPPED: no Slurm cluster on this machine: {said}");
            return None;
        }
        let cluster = SlurmLocal { conf: dir.join("slurm.conf"), dir };
        assert!(output.status.success(), "the local Slurm cluster did not start:\n{said}");
        Some(cluster)
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("SLURM_CONF", &self.conf);
        command
    }

    /// Wait until none of `jobs` is pending or running.
    fn wait_for(&self, jobs: &[&str], limit: Duration) {
        let start = Instant::now();
        loop {
            let listing =
                self.command("squeue").args(["-h", "-o", "%i %T", "-j", &jobs.join(",")]).output().unwrap();
            if String::from_utf8_lossy(&listing.stdout).trim().is_empty() {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "jobs {jobs:?} still queued:\n{}",
                String::from_utf8_lossy(&listing.stdout)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Submit the plan's missing tasks and its merge; the two job ids.
    fn submit(&self, plan: &Path, registry: &Path) -> (String, String) {
        let output = self
            .command("scripts/slurm-submit.sh")
            .arg(plan)
            .env("FOLIO", env!("CARGO_BIN_EXE_folio"))
            .env("MERGE_ARGS", format!("--registry {}", path(registry)))
            .env_remove("FOLIO_REGISTRY")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "slurm-submit.sh failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let ids = String::from_utf8_lossy(&output.stdout).trim().to_string();
        let (tasks, merge) = ids.split_once(' ').expect("two job ids");
        (tasks.to_string(), merge.to_string())
    }
}

impl Drop for SlurmLocal {
    fn drop(&mut self) {
        let _ = Command::new("scripts/slurm-local.sh").args(["stop", path(&self.dir)]).status();
    }
}

#[test]
fn a_real_slurm_cluster_runs_the_plan_reruns_a_cancelled_task_and_merges_it_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    // Long enough that a task can be caught running and cancelled.
    let flags = request(&config, "100000");
    let (single, plan) = (dir.path().join("single"), dir.path().join("plan"));
    let planning = plan_args(&flags, &plan);
    folio(&args(&planning));
    let ids = task_ids(&plan);

    let Some(cluster) = SlurmLocal::start(dir.path().join("slurm")) else { return };
    let registry = dir.path().join("merged.jsonl");
    let (tasks_job, merge_job) = cluster.submit(&plan, &registry);
    // Cancel the first task seen running: its checkpoint folder is there, its result not yet.
    let start = Instant::now();
    let cancelled = loop {
        let running = ids.iter().position(|id| {
            let task = plan.join("tasks").join(id);
            task.join("checkpoint").exists() && !task.join("result.cbor").exists()
        });
        if let Some(index) = running {
            let status = cluster.command("scancel").arg(format!("{tasks_job}_{index}")).status().unwrap();
            assert!(status.success());
            break index;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "no task of job {tasks_job} ever started");
        std::thread::sleep(Duration::from_millis(50));
    };
    cluster.wait_for(&[&tasks_job, &merge_job], Duration::from_secs(600));
    let missing =
        String::from_utf8_lossy(&folio(&["run-task", path(&plan), "--missing"]).stdout).trim().to_string();
    assert_eq!(missing, cancelled.to_string(), "only the cancelled task is missing");
    assert!(!plan.join("report.json").exists(), "the merge waits for every task");

    let (tasks_job, merge_job) = cluster.submit(&plan, &registry);
    cluster.wait_for(&[&tasks_job, &merge_job], Duration::from_secs(600));
    drop(cluster);
    assert!(plan.join("report.json").exists(), "the merge job ran; logs in {}", plan.join("logs").display());

    let mut walk = vec!["walk-forward".to_string()];
    walk.extend(flags.iter().cloned());
    walk.extend(["--jobs", "2", "--out", path(&single), "--registry"].map(String::from));
    let single_registry = dir.path().join("single.jsonl");
    walk.push(path(&single_registry).to_string());
    folio(&args(&walk));
    assert_same_outputs((&single, &single_registry), (&plan, &registry));
    assert_same_checkpoints(&single, &plan);
}

/// Two plans started into one new folder at once: the one that finds the folder locked is
/// refused, rather than written over the other, whose planner was told it succeeded. The lock
/// file a planner leaves is folio's own, not a file that makes the folder foreign.
#[test]
fn a_plan_into_a_folder_being_planned_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let plan = dir.path().join("plan");
    // A folder that holds no plan yet says so, for each command that reads one.
    std::fs::create_dir(&plan).unwrap();
    for command in [&["run-task", path(&plan), "--index", "0"][..], &["merge", path(&plan)]] {
        let output = folio_command(command).output().unwrap();
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && error.contains("is not a plan folder"), "{command:?}: {error}");
    }
    let planning = plan_args(&request(&config, "300"), &plan);
    let held = folio::files::FolderLock::acquire(&plan).unwrap();
    let output = folio_command(&args(&planning)).output().unwrap();
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && error.contains("in use by another folio run"), "{error}");
    assert!(!plan.join(folio::eval::tasks::PLAN_EXACT).exists());
    drop(held);
    folio(&args(&planning));
    assert!(plan.join(folio::eval::tasks::PLAN_EXACT).exists());
    // The local runner takes JOBS before the merge's flags, and says so when they come first.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/run-local.sh");
    let output = Command::new("bash").arg(&script).args([path(&plan), "--out", "merged"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("JOBS must be a positive number, got '--out'"), "{}", text(&output));
}
