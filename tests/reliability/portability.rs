//! The bundled configs and data run from any folder and from the binary alone, and a moved
//! checkpoint still finds its data.

use super::*;

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
