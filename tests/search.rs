//! `folio search`: points scored on early folds only, the chosen one judged on held-out folds.
//! `folio panel`: one walk-forward per market, in one table.

use folio::backtest::rebalance::RebalanceRule;
use folio::data::Stamp;
use folio::env::Market;
use folio::env::config::EnvConfig;
use folio::eval::search::{SearchSpace, search_data};
use folio::eval::tasks::WalkForwardSpec;
use folio::eval::walk_forward::{WalkForwardConfig, WindowMode, make_folds};
use folio::metrics::sharpe_difference::NEGLIGIBLE;
use folio::train::TrainConfig;
use std::path::Path;
use std::process::Command;

mod common;
use common::{folio_command, folio_ok as folio, path, text};

/// A synthetic market of 3 assets and `periods` weekdays at `out`, from data seed `seed`;
/// `extra` flags for `folio data synth` (`--force` to write over one).
fn synth(out: &Path, periods: &str, seed: &str, extra: &[&str]) {
    let args = ["data", "synth", "--out", path(out), "--assets", "3", "--periods", periods, "--seed", seed];
    folio(&[&args[..], extra].concat());
}

/// A synthetic market of 300 weekdays and 3 assets in `dir`, and a config of 3 small folds with
/// `seeds` seeds over it.
fn tiny_search_config(dir: &Path, seeds: usize) -> std::path::PathBuf {
    let prices = dir.join("prices.csv");
    synth(&prices, "300", "4", &[]);
    let config = dir.join("tiny.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\nfile = \"prices.csv\"\n\n[features]\nwindow = 10\nfeatures = [\"log_return\"]\n\n\
             [episode]\nhorizon = 30\n\n[walk_forward]\ntrain_periods = 100\nvalidation_periods = 40\n\
             test_periods = 40\nembargo = 2\nfolds = 3\nseeds = {seeds}\n"
        ),
    )
    .unwrap();
    config
}

#[test]
fn search_scores_points_before_the_held_out_folds_and_counts_every_trial() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_search_config(dir.path(), 2);
    // Trained networks deployed whatever validation says, so that the points' ensembles differ
    // and the choice between them has a PBO.
    let mut toml = std::fs::read_to_string(&config).unwrap();
    toml.push_str("\n[train]\nreference_gate = false\n");
    std::fs::write(&config, toml).unwrap();
    let space = dir.path().join("space.toml");
    std::fs::write(
        &space,
        "sampler = \"grid\"\nholdout_folds = 1\n\n[params]\n\"train.steps\" = [200, 400]\n",
    )
    .unwrap();
    let out = dir.path().join("search");
    let registry = dir.path().join("trials.jsonl");
    let args = ["search", "--space", path(&space), "--config", path(&config), "--jobs", "2"];
    folio(&[&args[..], &["--out", path(&out), "--registry", path(&registry)]].concat());

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("search.json")).unwrap()).unwrap();
    let points = report["points"].as_array().unwrap();
    assert_eq!(points.len(), 2, "a grid of two values");
    let score = |i: usize| points[i]["score"].as_f64().expect("each point's score is defined");
    let chosen = report["chosen"].as_u64().unwrap() as usize;
    assert!(score(chosen) >= score(1 - chosen), "the best search score is chosen");
    // The other point's gap to the best, as the one-standard-error rule would weigh it.
    assert!(points[chosen]["behind_best"].is_null());
    let behind = &points[1 - chosen]["behind_best"];
    let difference = behind["difference"].as_f64().expect("a gap where the test can run");
    assert!((difference - (score(chosen) - score(1 - chosen))).abs() < 0.02, "{behind}");
    assert!(behind["standard_error"].as_f64().unwrap() >= 0.0, "{behind}");
    // Each point: 2 search folds x 2 seeds; the verdict: 1 held-out fold x 2 seeds.
    let verdict: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("verdict").join("report.json")).unwrap()).unwrap();
    assert_eq!(verdict["folds"].as_array().unwrap().len(), 1);
    for i in 0..2 {
        let point = out.join("points").join(format!("point-{i}"));
        assert_eq!(
            std::fs::read_dir(&point)
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("fold-"))
                .count(),
            2
        );
    }
    // The search's data ends where the held-out test window begins: it never saw a return of it.
    assert_eq!(report["search_data_to"], verdict["folds"][0]["test"][0]);
    assert_eq!(
        report["trials"].as_u64(),
        Some(2 * 2 + 2),
        "the DSR counts every point's seeds and the verdict's"
    );
    assert_eq!(report["deflated_sharpe"]["trials"].as_u64(), Some(6));
    let dsr = report["deflated_sharpe"]["dsr"].as_f64().unwrap();
    assert!(
        report["summary"].as_str().unwrap().contains(&format!(
            "The search's Deflated Sharpe Ratio, over all 6 trials with their spread taken on the search folds \
             (the held-out walk-forward's own takes it on its seeds): {dsr:.3}."
        )),
        "{}",
        report["summary"]
    );
    // The choice between the two points has its PBO over their ensembles on the search folds.
    assert_eq!(report["backtest_overfitting"]["configs"].as_u64(), Some(2), "{}", report["summary"]);
    let pbo = report["backtest_overfitting"]["pbo"].as_f64().unwrap();
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("Choosing among the points on the search folds: PBO {pbo:.2}")),
        "{}",
        report["summary"]
    );
    assert_eq!(verdict["train"]["steps"], points[chosen]["point"]["train.steps"]);
    // Every trial is in the registry, the points' on the search's shorter cut of the data, so
    // the verdict's own DSR, like any later run on the full data, counts them.
    let listing = folio(&["trials", "--registry", path(&registry), "--json"]);
    let listing: serde_json::Value = serde_json::from_slice(&listing.stdout).unwrap();
    assert_eq!(listing["trials"].as_array().unwrap().len(), 6);
    let counted = &verdict["dsr_trials"];
    assert_eq!(
        (counted["trials"].as_u64(), counted["on_shorter_cuts"].as_u64()),
        (Some(6), Some(4)),
        "{counted}"
    );

    // As if stopped while the second point trained: --resume reads back what was finished.
    let written = std::fs::read(out.join("search.json")).unwrap();
    std::fs::remove_file(out.join("search.json")).unwrap();
    std::fs::remove_dir_all(out.join("verdict")).unwrap();
    std::fs::remove_file(out.join("points/point-1/fold-2/seed-1.result.cbor")).unwrap();
    let finished = out.join("points/point-0/fold-1/seed-0/meta.json");
    let finished_at = std::fs::metadata(&finished).unwrap().modified().unwrap();
    let refused = folio_command(&[&args[..], &["--out", path(&out), "--registry", path(&registry)]].concat())
        .output()
        .unwrap();
    assert!(
        !refused.status.success() && text(&refused).contains("holds a search that never finished: --resume"),
        "{}",
        text(&refused)
    );
    // Resumed with another space (one value fewer), it would choose again after its verdict
    // may have seen the held-out fold: refused.
    let narrower = dir.path().join("narrower.toml");
    std::fs::write(&narrower, "sampler = \"grid\"\nholdout_folds = 1\n\n[params]\n\"train.steps\" = [200]\n")
        .unwrap();
    let other = ["search", "--space", path(&narrower), "--config", path(&config), "--jobs", "2"];
    let refused = folio_command(
        &[&other[..], &["--out", path(&out), "--registry", path(&registry), "--resume"]].concat(),
    )
    .output()
    .unwrap();
    assert!(
        !refused.status.success() && text(&refused).contains("holds a search of another space or request"),
        "{}",
        text(&refused)
    );
    // A name it cannot read is not taken for a folder from before searches were named.
    let id = std::fs::read(out.join("search.id")).unwrap();
    std::fs::remove_file(out.join("search.id")).unwrap();
    std::fs::create_dir(out.join("search.id")).unwrap();
    let resume = [&args[..], &["--out", path(&out), "--registry", path(&registry), "--resume"]].concat();
    let refused = folio_command(&resume).output().unwrap();
    assert!(
        !refused.status.success()
            && text(&refused).contains("cannot read")
            && text(&refused).contains("search.id"),
        "{}",
        text(&refused)
    );
    std::fs::remove_dir(out.join("search.id")).unwrap();
    std::fs::write(out.join("search.id"), id).unwrap();
    folio(&[&args[..], &["--out", path(&out), "--registry", path(&registry), "--resume"]].concat());
    assert_eq!(std::fs::read(out.join("search.json")).unwrap(), written);
    assert_eq!(
        std::fs::metadata(&finished).unwrap().modified().unwrap(),
        finished_at,
        "read back, not retrained"
    );

    search_as_a_plan_writes_the_same_report(dir.path(), (&space, &config), &report);
}

/// A point that cannot run is refused before any point trains, naming it.
#[test]
fn a_search_refuses_a_bad_point_before_the_first_one_trains() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_search_config(dir.path(), 1);
    let space = dir.path().join("space.toml");
    std::fs::write(&space, "sampler = \"grid\"\n[params]\n\"train.net.kind\" = [\"mlp\", \"bogus\"]\n")
        .unwrap();
    let out = dir.path().join("search");
    let failed =
        folio_command(&["search", "--space", path(&space), "--config", path(&config), "--out", path(&out)])
            .output()
            .unwrap();
    assert!(!failed.status.success());
    assert!(text(&failed).contains("train.net.kind = \"bogus\""), "{}", text(&failed));
    assert!(!out.join("points").exists(), "no point trained");
    // A value the config's own checks refuse is the space's mistake too: the space is named,
    // with the point, not the config that never held the value.
    std::fs::write(&space, "sampler = \"grid\"\n[params]\n\"env.features.window\" = [5, 0]\n").unwrap();
    let failed =
        folio_command(&["search", "--space", path(&space), "--config", path(&config), "--out", path(&out)])
            .output()
            .unwrap();
    let message = text(&failed);
    assert!(!failed.status.success());
    assert!(message.contains("search space") && message.contains("space.toml"), "{message}");
    assert!(message.contains("env.features.window = 0") && message.contains("at least 1"), "{message}");
    assert!(!message.contains(&format!("config {}", path(&config))), "{message}");
    assert!(!out.join("points").exists(), "no point trained");
    // Its plan for a cluster says the same.
    let plan = dir.path().join("plan");
    let planning =
        ["plan", "search", "--space", path(&space), "--config", path(&config), "--out", path(&plan)];
    let message = text(&folio_command(&planning).output().unwrap());
    assert!(message.contains("search space") && message.contains("env.features.window = 0"), "{message}");
    // A point may not turn on the feature that sees tomorrow's return.
    std::fs::write(
        &space,
        "sampler = \"grid\"\n[params]\n\"env.features.features\" = [[\"log_return\", \"oracle_next_return\"]]\n",
    )
    .unwrap();
    let search = ["search", "--space", path(&space), "--config", path(&config), "--out", path(&out)];
    let message = text(&folio_command(&search).output().unwrap());
    assert!(message.contains("oracle_next_return sees tomorrow's return"), "{message}");
    // A setting the config gets wrong on its own is not the space's mistake.
    std::fs::write(&space, "sampler = \"grid\"\n[params]\n\"train.net.tilt\" = [0.5]\n").unwrap();
    let text_of_config = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text_of_config}\n[train]\nvalidate_every = 0\n")).unwrap();
    let message = text(&folio_command(&search).output().unwrap());
    assert!(
        message.contains("train.validate_every must be at least 1") && !message.contains("space"),
        "{message}"
    );
    std::fs::write(&config, text_of_config).unwrap();
    assert!(!out.join("points").exists(), "no point trained");

    // So is a trial registry that cannot be read, by search and panel alike, as by walk-forward.
    std::fs::write(&space, "sampler = \"grid\"\n[params]\n\"train.steps\" = [100]\n").unwrap();
    let registry = dir.path().join("trials.jsonl");
    std::fs::write(&registry, "not json\n").unwrap();
    let out = dir.path().join("refused");
    let search = ["search", "--space", path(&space), "--config", path(&config), "--out", path(&out)];
    let panel = ["panel", path(&config), "--out", path(&out)];
    for args in [&search[..], &panel[..]] {
        let failed = folio_command(&[args, &["--registry", path(&registry)]].concat()).output().unwrap();
        assert!(!failed.status.success(), "{args:?}");
        assert!(text(&failed).contains("trials.jsonl"), "{args:?}: {}", text(&failed));
        assert!(!out.exists(), "{args:?}: nothing trained");
    }
}

/// Undated data that start at the file's period 100 number their own periods from 0, while
/// `data.to` counts the file's: the search's data must end at the last search fold's test
/// window all the same, not 100 periods before it.
/// Undated data too: the points ran on the search's cut, the first rows of the file, and the
/// verdict's DSR on the whole file counts their trials as on a shorter cut of it.
#[test]
fn an_undated_searchs_verdict_counts_the_points_trials() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_search_config(dir.path(), 2);
    let dated = std::fs::read_to_string(dir.path().join("prices.csv")).unwrap();
    let undated: String =
        dated.lines().map(|line| line.split_once(',').unwrap().1.to_string() + "\n").collect();
    std::fs::write(dir.path().join("prices.csv"), undated).unwrap();
    let space = dir.path().join("space.toml");
    std::fs::write(
        &space,
        "sampler = \"grid\"\nholdout_folds = 1\n\n[params]\n\"train.steps\" = [200, 400]\n",
    )
    .unwrap();
    let (out, registry) = (dir.path().join("search"), dir.path().join("trials.jsonl"));
    let args = ["search", "--space", path(&space), "--config", path(&config), "--out", path(&out)];
    folio(&[&args[..], &["--registry", path(&registry)]].concat());
    let verdict: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("verdict").join("report.json")).unwrap()).unwrap();
    let counted = &verdict["dsr_trials"];
    assert_eq!(
        (counted["trials"].as_u64(), counted["on_shorter_cuts"].as_u64()),
        (Some(6), Some(4)),
        "{counted}"
    );
}

#[test]
fn an_undated_search_cuts_its_data_where_its_last_search_fold_ends() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut env = EnvConfig::load(&root.join("envs/olps_djia.toml")).unwrap();
    env.periods = Default::default();
    let config = WalkForwardConfig {
        mode: WindowMode::Rolling,
        train_periods: 150,
        validation_periods: 50,
        test_periods: 50,
        embargo: 1,
        folds: 3,
        seeds: 1,
    };
    let space = SearchSpace::from_toml(
        "sampler = \"grid\"\n[params]\n\"train.steps\" = [100]\n",
        Path::new("s.toml"),
    )
    .unwrap();
    for from in [None, Some(Stamp::Period(100))] {
        env.data.from = from;
        let spec = WalkForwardSpec {
            env: env.clone(),
            train: TrainConfig::default(),
            config,
            rebalance: RebalanceRule::Every,
        };
        let (market, _) = Market::from_config(&env).unwrap();
        let folds = make_folds(market.n_periods(), market.first_observable(), &config).unwrap();
        let (cut, _) = search_data(&spec, &space).unwrap();
        let (cut_market, _) = Market::from_config(&cut.env).unwrap();
        assert_eq!(cut_market.n_periods(), folds[1].test.1 + 1, "from {from:?}");
    }
}

/// The same search as a plan: its tasks run out of order, one process each, and two merges (the
/// first chooses the point and plans the verdict) write the `search.json` that `folio search` did.
fn search_as_a_plan_writes_the_same_report(
    dir: &Path,
    (space, config): (&Path, &Path),
    single: &serde_json::Value,
) {
    let plan = dir.join("plan");
    let planning = ["plan", "search", "--space", path(space), "--config", path(config), "--out", path(&plan)];
    folio(&planning);
    folio(&planning); // planning the same search again is harmless
    let missing = |plan: &Path| {
        String::from_utf8_lossy(&folio(&["run-task", path(plan), "--missing"]).stdout).trim().to_string()
    };
    assert_eq!(missing(&plan), "0,1,2,3,4,5,6,7", "2 points x 2 search folds x 2 seeds");
    for index in ["7", "2", "5"] {
        folio(&["run-task", path(&plan), "--index", index]);
    }
    let verdicts = Command::new(env!("CARGO_BIN_EXE_folio"))
        .args(["run-task", path(&plan), "--index", "8"])
        .output()
        .unwrap();
    assert!(
        !verdicts.status.success()
            && String::from_utf8_lossy(&verdicts.stderr).contains("task 8 would be one of the verdict's"),
        "{}",
        String::from_utf8_lossy(&verdicts.stderr)
    );
    let early = Command::new(env!("CARGO_BIN_EXE_folio")).args(["merge", path(&plan)]).output().unwrap();
    assert!(!early.status.success(), "a merge with scoring tasks missing fails");
    assert!(String::from_utf8_lossy(&early.stderr).contains("5 of the 8 tasks"));
    for index in ["0", "6", "1", "3", "4"] {
        folio(&["run-task", path(&plan), "--index", index]);
    }
    let registry = dir.join("plan-trials.jsonl");
    let merge = ["merge", path(&plan), "--registry", path(&registry)];
    let chosen = String::from_utf8_lossy(&folio(&merge).stdout).to_string();
    assert!(chosen.contains(&format!("point {} chosen", single["chosen"])), "{chosen}");
    assert_eq!(missing(&plan), "8,9", "the verdict's tasks: 1 held-out fold x 2 seeds");
    assert!(!plan.join("search.json").exists(), "no report before the verdict");
    // A scoring result lost once the verdict is planned is this plan's task to rerun, not a
    // point folder's to merge by hand (which would record the search's trials).
    let point = plan.join("points/point-0");
    let first: serde_json::Value =
        serde_json::from_slice(&std::fs::read(point.join("plan.json")).unwrap()).unwrap();
    let id = first["tasks"][0]["id"].as_str().unwrap();
    std::fs::remove_file(point.join("tasks").join(id).join("result.cbor")).unwrap();
    let lost = Command::new(env!("CARGO_BIN_EXE_folio")).args(["merge", path(&plan)]).output().unwrap();
    let error = String::from_utf8_lossy(&lost.stderr);
    assert!(
        !lost.status.success()
            && error.contains(&format!("of the 8 tasks of plan {} are not done", plan.display())),
        "{error}"
    );
    assert_eq!(missing(&plan), "0");
    folio(&["run-task", path(&plan), "--index", "0"]);
    folio(&["run-task", path(&plan), "--index", "9"]);
    folio(&["run-task", path(&plan), "--index", "8"]);
    folio(&merge);
    let recorded = std::fs::read_to_string(&registry).unwrap().lines().count();
    assert_eq!(recorded, 6, "the points' trials and the verdict's, each once");
    let mut merged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(plan.join("search.json")).unwrap()).unwrap();
    let mut single = single.clone();
    // Only the folders differ, by design.
    for report in [&mut merged, &mut single] {
        report["verdict_folder"] = serde_json::Value::Null;
        for point in report["points"].as_array_mut().unwrap() {
            point["folder"] = serde_json::Value::Null;
        }
    }
    assert_eq!(merged, single);
    assert!(plan.join("verdict").join("report.json").exists());
}

#[test]
fn a_panel_walks_forward_on_every_market_and_development_never_sees_the_test_period() {
    let dir = tempfile::tempdir().unwrap();
    let mut configs = Vec::new();
    // A dated market and an undated one (prices only, periods counted from 0).
    for (name, seed, to_train, to_validation) in
        [("one", "4", "\"2010-10-08\"", "\"2011-02-25\""), ("two", "5", "200", "300")]
    {
        let prices = dir.path().join(format!("{name}.csv"));
        synth(&prices, "400", seed, &[]);
        if name == "two" {
            let text = std::fs::read_to_string(&prices).unwrap();
            let undated: Vec<&str> = text.lines().map(|l| l.split_once(',').unwrap().1).collect();
            std::fs::write(&prices, undated.join("\n") + "\n").unwrap();
        }
        let config = dir.path().join(format!("{name}.toml"));
        // Without the gate, market one's seeds trade apart and have a PBO; with it, market two's
        // mostly deploy their reference.
        let gate = if name == "one" { "\n[train]\nreference_gate = false\n" } else { "" };
        std::fs::write(
            &config,
            format!(
                "[data]\nfile = \"{name}.csv\"\n\n[periods.train]\nto = {to_train}\n[periods.validation]\nto = {to_validation}\n\
                 [features]\nwindow = 10\nfeatures = [\"log_return\"]\n\n\
                 [episode]\nhorizon = 30\n\n[walk_forward]\ntrain_periods = 100\nvalidation_periods = 40\n\
                 test_periods = 40\nembargo = 2\nfolds = 2\nseeds = 2\n{gate}"
            ),
        )
        .unwrap();
        configs.push(config);
    }
    let out = dir.path().join("panel");
    let registry = dir.path().join("trials.jsonl");
    // A market whose folds cannot fit its data fails the panel before any market trains, naming
    // its config, even when it comes last.
    let too_many_folds = dir.path().join("three.toml");
    let two = std::fs::read_to_string(&configs[1]).unwrap();
    std::fs::write(&too_many_folds, two.replace("folds = 2", "folds = 9")).unwrap();
    let failed = folio_command(&["panel", path(&configs[0]), path(&too_many_folds), "--out", path(&out)])
        .args(["--registry", path(&registry), "--steps", "300"])
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert!(text(&failed).contains("three.toml: 9 folds"), "{}", text(&failed));
    assert!(!out.join("one").exists(), "the first market did not train");
    // So does a training setting that every training would refuse.
    let bad_rate = dir.path().join("four.toml");
    std::fs::write(&bad_rate, two.clone() + "\n[train]\nlearning_rate = 2.0\n").unwrap();
    let failed = folio_command(&["panel", path(&configs[0]), path(&bad_rate), "--out", path(&out)])
        .args(["--registry", path(&registry), "--steps", "300"])
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert!(
        text(&failed).contains("four.toml") && text(&failed).contains("train.learning_rate"),
        "{}",
        text(&failed)
    );
    assert!(!out.join("one").exists(), "the first market did not train");
    // The same config twice, however spelled, is one market, refused before anything trains.
    let spelled_again = dir.path().join(".").join("one.toml");
    let failed = folio_command(&["panel", path(&configs[0]), path(&spelled_again), "--out", path(&out)])
        .args(["--registry", path(&registry), "--steps", "300"])
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert!(text(&failed).contains("are the same config"), "{}", text(&failed));
    assert!(!out.join("one").exists(), "the first market did not train");
    // So is folio's bundled default named twice from a folder without it.
    let failed = common::folio_in(&["panel", "envs/default.toml", "./envs/default.toml"], dir.path());
    assert!(text(&failed).contains("are the same config"), "{}", text(&failed));
    // A second config named one.toml, in another folder, gets its own row and folder.
    let again = dir.path().join("again");
    std::fs::create_dir(&again).unwrap();
    std::fs::copy(dir.path().join("one.csv"), again.join("one.csv")).unwrap();
    // Annualized as weekly though its rows are daily: its report says so, the others do not.
    // It writes no fold layout, so it runs the default one fitted to its data.
    let written_layout =
        "train_periods = 100\nvalidation_periods = 40\ntest_periods = 40\nembargo = 2\nfolds = 2\n";
    let weekly = std::fs::read_to_string(&configs[0])
        .unwrap()
        .replace("[data]\n", "[data]\nperiods_per_year = 52\n")
        .replace(written_layout, "");
    std::fs::write(again.join("one.toml"), weekly).unwrap();
    let again = again.join("one.toml");
    let mut args = vec!["panel", path(&configs[0]), path(&configs[1]), path(&again), "--development"];
    args.extend([
        "--steps",
        "300",
        "--jobs",
        "2",
        "--out",
        path(&out),
        "--registry",
        path(&registry),
        "--json",
    ]);
    let output = folio(&args);
    assert!(
        // Named as its row and folder are: the second config of stem `one` is market `one-2`.
        text(&output).contains("one-2: note: the data has")
            && text(&output).matches("note: the data has").count() == 1,
        "{}",
        text(&output)
    );
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown["folder"].as_str(), Some(path(&std::path::absolute(&out).unwrap())));
    assert_eq!(shown["failed"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        shown["market_folders"][2].as_str(),
        Some(path(&std::path::absolute(out.join("one-2")).unwrap()))
    );
    let rows = shown["rows"].as_array().unwrap();
    assert_eq!(
        rows.iter().map(|r| r["market"].as_str().unwrap()).collect::<Vec<_>>(),
        ["one", "two", "one-2"]
    );
    for (row, end) in rows.iter().zip(["2011-02-25", "300"]) {
        // Development data end with validation: the last test window ends there.
        assert_eq!(row["tested"][1].as_str(), Some(end), "{row}");
        assert!(!row["best_baseline"].as_str().unwrap().contains("hindsight"));
        // A beat is a lead, and a clear lead is a beat; a lead of rounding (an agent that kept
        // its equal-weight reference) is none.
        let lead = row["agent_sharpe"].as_f64().unwrap() - row["equal_weight_sharpe"].as_f64().unwrap();
        let beats = row["beats_equal_weight"].as_bool().unwrap();
        assert!(!beats || lead > 0.0, "{row}");
        assert!(beats || lead < 0.01, "{row}");
    }
    for (market, warned) in [("one", false), ("two", false), ("one-2", true)] {
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join(market).join("report.json")).unwrap()).unwrap();
        let verdict = report["verdict"].as_str().unwrap();
        assert_eq!(verdict.contains("set periods_per_year = 252"), warned, "{market}: {verdict}");
    }
    for file in
        ["panel.json", "panel.md", "report.html", "one/report.json", "two/report.json", "one-2/report.json"]
    {
        assert!(out.join(file).exists(), "{file}");
    }
    assert!(std::fs::read_to_string(out.join("panel.md")).unwrap().contains("no test period was seen"));
    assert!(!out.join("panel-failures.json").exists(), "no market failed");
    // A second panel into the same folder is refused, and the first one's outputs stay.
    let before = std::fs::read(out.join("panel.json")).unwrap();
    let refused = folio_command(&["panel", path(&configs[1]), "--out", path(&out)])
        .args(["--registry", path(&registry), "--steps", "300"])
        .output()
        .unwrap();
    assert!(!refused.status.success() && text(&refused).contains("--force"), "{}", text(&refused));
    assert_eq!(std::fs::read(out.join("panel.json")).unwrap(), before);
    for row in rows {
        // Each market's gap to equal weight is tested, and a gap of rounding gets no p-value.
        let gap = row["agent_sharpe"].as_f64().unwrap() - row["equal_weight_sharpe"].as_f64().unwrap();
        match row["edge_p_value"].as_f64() {
            Some(p) => assert!((0.0..=1.0).contains(&p) && gap.abs() >= NEGLIGIBLE, "{row}"),
            None => assert!(gap.abs() < NEGLIGIBLE, "{row}"),
        }
        // 2 seeds in each fold; the count of reference-keeping trainings is the market report's.
        let market = row["market"].as_str().unwrap();
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join(market).join("report.json")).unwrap()).unwrap();
        let folds = report["folds"].as_array().unwrap().len();
        assert_eq!(row["trainings"], 2 * folds, "{row}");
        // The written layouts run as written; the default is fitted to the data, keeping its 5 folds.
        assert_eq!(folds, if market == "one-2" { 5 } else { 2 }, "{market}");
        let kept: Vec<&serde_json::Value> = report["folds"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| f["seeds"].as_array().unwrap())
            .filter(|s| s["kept_reference"] == true)
            .collect();
        assert_eq!(row["trainings_kept_reference"], kept.len(), "{row}");
        // Market two runs the gate on a market with no edge: some training keeps its reference.
        assert!(market != "two" || !kept.is_empty(), "{row}");
        // A seed trading its reference on purpose raises no collapse warning.
        for seed in kept {
            assert_eq!(seed["warnings"], serde_json::json!([]), "{seed}");
        }
    }
    assert!(
        std::fs::read_to_string(out.join("panel.md")).unwrap().contains("trainings that kept the reference")
    );
    // Each market's page puts its PBO beside what seeds of equal skill give (two seeds: 1/2).
    let page = std::fs::read_to_string(out.join("one").join("report.html")).unwrap();
    assert!(page.contains("2 seeds of equal skill would give 0.50 on average"), "the PBO's no-skill value");
}

/// A config that writes no window runs folio's default windows fitted to its data, keeping a
/// number of folds it chose (in `[walk_forward]` or by `--folds`); windows the user wrote run as
/// written, or fail naming what fits.
#[test]
fn a_config_without_a_fold_layout_runs_the_default_fitted_to_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let prices = dir.path().join("short.csv");
    synth(&prices, "700", "4", &[]);
    let plan = |walk_forward: &str, extra: &[&str]| {
        let config = dir.path().join("short.toml");
        std::fs::write(&config, format!("[data]\nfile = \"short.csv\"\n{walk_forward}")).unwrap();
        let out = tempfile::tempdir().unwrap();
        folio_command(&["plan", "walk-forward", "--config", path(&config), "--json", "--out"])
            .arg(out.path().join("plan"))
            .args(extra)
            .output()
            .unwrap()
    };
    for (walk_forward, seeds) in [("", 3), ("\n[walk_forward]\nseeds = 2\n", 2)] {
        let output = plan(walk_forward, &[]);
        assert!(output.status.success(), "{}", text(&output));
        assert!(
            text(&output).contains("too few for the default walk-forward (5 folds of 252"),
            "{}",
            text(&output)
        );
        let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let config = &plan["walk_forward"]["config"];
        assert_eq!((config["folds"].as_u64(), config["seeds"].as_u64()), (Some(5), Some(seeds)), "{config}");
        let train = config["train_periods"].as_u64().unwrap();
        assert!((100..1260).contains(&train), "{config}");
        assert!(!text(&output).contains("too short to test"), "56 validation periods test the gap");
    }
    // Fitted to 300 rows, validation windows of 20 periods leave the reference gate nothing to test.
    synth(&prices, "300", "4", &["--force"]);
    let output = plan("", &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("20 validation")
            && text(&output).contains("Its validation windows are too short to test"),
        "{}",
        text(&output)
    );
    // Without the gate, or without a reference to keep, there is nothing to say.
    for ungated in ["\n[train]\nreference_gate = false\n", "\n[features]\nreference = \"none\"\n"] {
        let output = plan(ungated, &[]);
        assert!(output.status.success(), "{}", text(&output));
        assert!(
            text(&output).contains("20 validation") && !text(&output).contains("too short to test"),
            "{ungated}: {}",
            text(&output)
        );
    }
    let chosen = [("\n[walk_forward]\nfolds = 2\n", &[][..]), ("", &["--folds", "2"][..])];
    for (walk_forward, extra) in chosen {
        let output = plan(walk_forward, extra);
        assert!(output.status.success(), "{}", text(&output));
        let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let config = &plan["walk_forward"]["config"];
        assert_eq!(config["folds"].as_u64(), Some(2), "{config}");
        assert!((100..1260).contains(&config["train_periods"].as_u64().unwrap()), "{config}");
    }
    for walk_forward in
        ["\n[walk_forward]\ntrain_periods = 1260\n", "\n[walk_forward]\nembargo = 5\nfolds = 5\n"]
    {
        let output = plan(walk_forward, &[]);
        assert!(!output.status.success() && text(&output).contains("would fit"), "{}", text(&output));
    }
}

/// A market that fails once the panel runs (here its data lived in an earlier output folder,
/// which --force replaces) does not stop the markets after it, and a failed replacement puts the
/// earlier folder back with the user's file in it.
#[test]
fn a_market_failing_at_run_time_leaves_the_others_running_and_the_replaced_folder_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join(folio::files::OUTPUT_MARK), "").unwrap();
    let (kept, moved) = (dir.path().join("kept.csv"), out.join("moved.csv"));
    synth(&kept, "400", "4", &[]);
    synth(&moved, "400", "5", &[]);
    let before = std::fs::read(&moved).unwrap();
    let config = |name: &str, data: &Path| {
        let config = dir.path().join(format!("{name}.toml"));
        let text = format!(
            "[data]\nfile = \"{}\"\n[periods.train]\nto = \"2010-10-08\"\n[periods.validation]\nto = \"2011-02-25\"\n\
             [features]\nwindow = 10\nfeatures = [\"log_return\"]\n[episode]\nhorizon = 30\n\
             [walk_forward]\ntrain_periods = 100\nvalidation_periods = 40\ntest_periods = 40\nembargo = 2\nfolds = 2\nseeds = 1\n",
            path(data)
        );
        std::fs::write(&config, text).unwrap();
        config
    };
    let (first, second) = (config("first", &moved), config("second", &kept));
    let output = folio_command(&["panel", path(&first), path(&second), "--out", path(&out), "--force"])
        .args(["--steps", "100", "--registry", path(&dir.path().join("trials.jsonl"))])
        .output()
        .unwrap();
    let shown = text(&output);
    assert!(!output.status.success(), "{shown}");
    let failed = shown.find("first: failed: cannot read").expect(&shown);
    let next = shown.find("second: walk-forward into").expect(&shown);
    assert!(failed < next, "the second market ran after the first failed: {shown}");
    assert!(shown.contains("1 of 2 markets failed (first), so") && shown.contains("is put back"), "{shown}");
    assert_eq!(std::fs::read(&moved).unwrap(), before, "the user's file is back where it was");
    let mut left: Vec<_> = std::fs::read_dir(&out).unwrap().flatten().map(|e| e.file_name()).collect();
    left.sort();
    assert_eq!(
        left,
        [folio::files::OUTPUT_MARK, "moved.csv"],
        "nothing of the failed run is left in the folder"
    );
}

/// A market of 400 synthetic weekdays and 3 assets (`prices.csv` in `dir`, written once) and its
/// config `dir/<name>.toml`, 2 small folds of 1 seed, with `extra` settings appended.
fn small_market(dir: &Path, name: &str, extra: &str) -> std::path::PathBuf {
    let data = dir.join("prices.csv");
    if !data.exists() {
        synth(&data, "400", "4", &[]);
    }
    let config = dir.join(format!("{name}.toml"));
    let text = "[data]\nfile = \"prices.csv\"\n[periods.train]\nto = \"2010-10-08\"\n[periods.validation]\nto = \"2011-02-25\"\n\
         [features]\nwindow = 10\nfeatures = [\"log_return\"]\n[episode]\nhorizon = 30\n\
         [walk_forward]\ntrain_periods = 100\nvalidation_periods = 40\ntest_periods = 40\nembargo = 2\nfolds = 2\nseeds = 1\n";
    std::fs::write(&config, format!("{text}{extra}")).unwrap();
    config
}

/// A panel in which one market fails keeps the others' table and every training they finished;
/// once the cause is mended, `--resume` reads those back and runs only what is missing.
#[test]
fn a_partial_panel_keeps_what_finished_and_resume_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (first, second) = (small_market(dir.path(), "first", ""), small_market(dir.path(), "second", ""));
    let registry = dir.path().join("trials.jsonl");
    let panel = |extra: &[&str]| {
        folio_command(&["panel", path(&first), path(&second), "--out", path(&out), "--steps", "100"])
            .args(["--registry", path(&registry)])
            .args(extra)
            .output()
            .unwrap()
    };
    // The second market cannot write its folder: a file stands where it goes, in a folder that
    // a stopped folio run marked (a folder of a user's own files is no run to resume).
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join(".folio-outputs"), "").unwrap();
    std::fs::write(out.join("second"), "in the way").unwrap();
    let output = panel(&["--resume"]);
    let shown = text(&output);
    assert!(!output.status.success() && shown.contains("second: failed: cannot write"), "{shown}");
    assert!(shown.contains("1 of 2 markets failed (second); the table in"), "{shown}");
    assert!(shown.contains("with --resume (and --out"), "{shown}");
    let rows = |file: &str| -> Vec<String> {
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join(file)).unwrap()).unwrap();
        json.as_array().unwrap().iter().map(|r| r["market"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(rows("panel.json"), ["first"]);
    assert_eq!(rows("panel-failures.json"), ["second"]);
    let trained = out.join("first/fold-1/seed-0/meta.json");
    let trained_at = std::fs::metadata(&trained).unwrap().modified().unwrap();

    std::fs::remove_file(out.join("second")).unwrap();
    let output = panel(&["--resume"]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(rows("panel.json"), ["first", "second"]);
    assert!(!out.join("panel-failures.json").exists(), "the mended failure is no longer reported");
    assert_eq!(
        std::fs::metadata(&trained).unwrap().modified().unwrap(),
        trained_at,
        "the first market's training was read back, not trained again"
    );
    // Resumed with another set of markets, it would leave one it dropped beside a table without it.
    let output = folio_command(&["panel", path(&first), "--out", path(&out), "--steps", "100", "--resume"])
        .args(["--registry", path(&registry)])
        .output()
        .unwrap();
    assert!(
        !output.status.success() && text(&output).contains("started with the markets first, second"),
        "{}",
        text(&output)
    );
    assert_eq!(rows("panel.json"), ["first", "second"], "the panel is as it was");
    // Its list of markets damaged, it cannot tell which markets it was started with, and says so.
    std::fs::write(out.join("panel-markets.json"), "[\"first\", \"sec").unwrap();
    let output = panel(&["--resume"]);
    assert!(
        !output.status.success()
            && text(&output).contains("cannot read the markets this panel was started with from")
            && text(&output).contains("panel-markets.json: EOF while parsing"),
        "{}",
        text(&output)
    );
    assert_eq!(rows("panel.json"), ["first", "second"], "the panel is as it was");
}

/// A market whose trials the registry did not take (here it turned unreadable while the market
/// trained) fails the panel once the table is written, as a walk-forward fails, naming the
/// market; `--resume`, once the registry is mended, records them.
#[test]
fn a_panel_whose_trials_went_unrecorded_says_so_and_resume_records_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let config = small_market(dir.path(), "one", "[train]\npatience = 0\n");
    let registry = dir.path().join("trials.jsonl");
    let panel = |extra: &[&str]| {
        folio_command(&["panel", path(&config), "--out", path(&out), "--steps", "300000"])
            .args(["--registry", path(&registry)])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let running = panel(&[]);
    // Once the market has started (past the registry's check; without patience its trainings
    // take their whole budget, seconds), a line no record reads.
    let started = out.join("one").join("walk-forward.id");
    let since = std::time::Instant::now();
    while !started.exists() {
        assert!(since.elapsed().as_secs() < 120, "the market never started");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::fs::write(&registry, "not a record\n").unwrap();
    let output = running.wait_with_output().unwrap();
    let shown = text(&output);
    assert!(!output.status.success(), "{shown}");
    assert!(shown.contains("one: its trials are not recorded: trial registry"), "{shown}");
    assert!(
        shown.contains("but the trials of one are not recorded") && shown.contains("--resume"),
        "{shown}"
    );
    assert!(out.join("panel.json").exists(), "the table is written");
    std::fs::write(&registry, "").unwrap();
    let output = panel(&["--resume"]).wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(std::fs::read_to_string(&registry).unwrap().lines().count(), 1, "its one seed, one trial");
}
