//! Commands say what they deployed: a network trained to learn online, one row per strategy,
//! hindsight benchmarks alone, an ensemble of one run's seeds only.

use super::*;

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
