//! `folio search`: points scored on early folds only, the chosen one judged on held-out folds.

use std::path::Path;
use std::process::Command;

fn folio(args: &[&str]) -> std::process::Output {
    let output =
        Command::new(env!("CARGO_BIN_EXE_folio")).args(args).env_remove("FOLIO_REGISTRY").output().unwrap();
    assert!(
        output.status.success(),
        "folio {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn search_scores_points_before_the_held_out_folds_and_counts_every_trial() {
    let dir = tempfile::tempdir().unwrap();
    let prices = dir.path().join("prices.csv");
    folio(&["data", "synth", "--out", path(&prices), "--assets", "3", "--periods", "300", "--seed", "4"]);
    let config = dir.path().join("tiny.toml");
    std::fs::write(
        &config,
        "[data]\nfile = \"prices.csv\"\n\n[features]\nwindow = 10\nfeatures = [\"log_return\"]\n\n\
         [episode]\nhorizon = 30\n\n[walk_forward]\ntrain_periods = 100\nvalidation_periods = 40\n\
         test_periods = 40\nembargo = 2\nfolds = 3\nseeds = 2\n",
    )
    .unwrap();
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
    let score = |i: usize| points[i]["score"].as_f64().unwrap_or(f64::NEG_INFINITY);
    let chosen = report["chosen"].as_u64().unwrap() as usize;
    assert!(score(chosen) >= score(1 - chosen), "the best search score is chosen");
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
    assert_eq!(verdict["train"]["steps"], points[chosen]["point"]["train.steps"]);
}
