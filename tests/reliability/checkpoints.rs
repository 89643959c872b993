//! Trainings killed, resumed, or read while they publish keep every finished step and end as
//! an unbroken run ends; damaged checkpoints are refused.

use super::*;

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

/// What a publication of `from`'s checkpoint into `into` leaves when its process is killed after
/// the commit (every file written beside its destination, the journal naming them) and after the
/// first file was moved into place. Returns the names the journal holds.
fn killed_after_commit(from: &Path, into: &Path) -> [&'static str; 5] {
    let names = [LAST, checkpoint::OPTIMIZER, BEST, checkpoint::LOG, checkpoint::META];
    for name in names {
        std::fs::copy(from.join(name), into.join(format!("{name}.pending"))).unwrap();
    }
    std::fs::write(into.join(checkpoint::JOURNAL), serde_json::to_vec(&names).unwrap()).unwrap();
    std::fs::rename(into.join("last.bpk.pending"), into.join(LAST)).unwrap();
    names
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
    killed_after_commit(&late, &committed);
    let device = DeviceChoice::Cpu.device().unwrap();
    let (meta, _) = checkpoint::load_agent(&committed, Weights::Last, &device).unwrap();
    assert_eq!(meta.progress.updates, late_meta.progress.updates, "the committed state is the one read");
    assert!(!committed.join(checkpoint::JOURNAL).exists());

    // Killed before the commit: the pending files and stray temporaries are dropped, the old state stays.
    let uncommitted = dir.path().join("uncommitted");
    copy_folder(&early, &uncommitted);
    std::fs::copy(late.join(LAST), uncommitted.join("last.bpk.pending")).unwrap();
    std::fs::write(uncommitted.join(".meta.json.a1B2c3.folio-tmp"), b"half").unwrap();
    // An older folio's temporary name.
    std::fs::write(uncommitted.join(".meta.json.x1y2.tmp"), b"half").unwrap();
    let resumed = train(request(&env, config(400), &uncommitted, true)).unwrap();
    assert_eq!(
        resumed.updates, late_meta.progress.updates,
        "resumed from the old state, as never interrupted"
    );
    let leftovers: Vec<String> = std::fs::read_dir(&uncommitted)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pending") || n.ends_with(".tmp") || n.ends_with(".folio-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let log = std::fs::read_to_string(uncommitted.join(checkpoint::LOG)).unwrap();
    assert_eq!(log.lines().count(), 1 + late_meta.progress.updates, "no duplicated log rows");
}

/// A process killed after it moved a checkpoint file into place and before it noted it left the
/// file out of its output folder's journal. The resume that finishes the publication notes every
/// file the publication names, moved already or not, so the folder's list names them all and a
/// later `--force` never takes one for a user's file.
#[test]
fn a_publication_finished_by_a_resume_is_in_its_folders_list() {
    let dir = tempfile::tempdir().unwrap();
    let env = tiny_env(dir.path());
    let early = dir.path().join("early");
    train(request(&env, config(200), &early, false)).unwrap();
    let run = dir.path().join("wf");
    let seed = run.join("fold-1/seed-0");
    // The killed run's claim: its journal names none of what the copies below stand for.
    let killed = folio::files::OutputFolder::claim(&run, false).unwrap();
    copy_folder(&early, &seed);
    let names = killed_after_commit(&early, &seed);
    drop(killed);

    let resumed = folio::files::OutputFolder::reopen(&run).unwrap();
    checkpoint::recover(&seed).unwrap();
    resumed.finish();
    let mark = std::fs::read_to_string(run.join(folio::files::OUTPUT_MARK)).unwrap();
    for name in names {
        assert!(mark.lines().any(|line| line == format!("fold-1/seed-0/{name}")), "{name} is listed: {mark}");
    }
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
