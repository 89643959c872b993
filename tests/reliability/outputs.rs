//! Outputs never replace a user's files, and a replacement that is interrupted puts back what it
//! set aside.

use super::*;

/// How many entries of `folder` have names starting with `prefix`.
fn entries_named(folder: &Path, prefix: &str) -> usize {
    std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .count()
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

    // Added the moment the run stopped, as its last writes land: still the user's.
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
