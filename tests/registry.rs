//! The trial registry across real command-line runs: two `folio train` runs on the same data
//! are two trials, and `folio trials` counts them.

use std::path::Path;

mod common;
use common::{folio_ok as folio, path};

/// A small synthetic market (300 weekdays, 3 assets) and a config over it with a 10-period window.
fn tiny_config(dir: &Path) -> std::path::PathBuf {
    let prices = dir.join("prices.csv");
    folio(&["data", "synth", "--out", path(&prices), "--assets", "3", "--periods", "300", "--seed", "4"]);
    let text = std::fs::read_to_string(&prices).unwrap();
    let dates: Vec<&str> = text.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(dates.len(), 300);
    let config = dir.join("tiny.toml");
    std::fs::write(
        &config,
        format!(
            r#"[data]
file = "prices.csv"

[periods.train]
to = "{}"

[periods.validation]
from = "{}"
to = "{}"

[periods.test]
from = "{}"

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
            dates[199], dates[200], dates[249], dates[250]
        ),
    )
    .unwrap();
    config
}

/// A short walk-forward of `config` (2 folds, 2 seeds unless `more` says) into `out`, recording
/// in `registry`.
fn walk_forward(config: &Path, out: &Path, registry: &Path, more: &[&str]) -> std::process::Output {
    let mut args = vec!["walk-forward", "--config", path(config), "--steps", "300", "--folds", "2"];
    if !more.contains(&"--seeds") {
        args.extend(["--seeds", "2"]);
    }
    args.extend(["--jobs", "1", "--out", path(out), "--registry", path(registry)]);
    args.extend(more);
    folio(&args)
}

#[test]
fn two_training_runs_are_two_trials_on_their_data() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let registry = dir.path().join("trials.jsonl");
    for (seed, out) in [("1", "run-a"), ("2", "run-b")] {
        let out = dir.path().join(out);
        let output = folio(&[
            "train",
            "--config",
            path(&config),
            "--steps",
            "500",
            "--seed",
            seed,
            "--seeds",
            "1",
            "--out",
            path(&out),
            "--registry",
            path(&registry),
        ]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("PSR"), "the metrics table shows PSR:\n{stdout}");
        assert!(stdout.contains("recorded in"), "{stdout}");
    }
    assert_eq!(std::fs::read_to_string(&registry).unwrap().lines().count(), 2);

    let output = folio(&["trials", "--registry", path(&registry), "--json"]);
    let listing: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let trials = listing["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 2);
    let fingerprint = trials[0]["data_fingerprint"].as_str().unwrap();
    assert_eq!(trials[1]["data_fingerprint"].as_str().unwrap(), fingerprint, "the same data");
    assert_eq!(listing["by_data"][0]["data_fingerprint"].as_str().unwrap(), fingerprint);
    assert_eq!(listing["by_data"][0]["trials"].as_u64(), Some(2));
    assert_eq!(listing["by_data"].as_array().unwrap().len(), 1);
    // Same configuration, different seeds: one config hash, two seeds, newest last.
    assert_eq!(trials[0]["config_hash"], trials[1]["config_hash"]);
    assert_eq!((trials[0]["seed"].as_u64(), trials[1]["seed"].as_u64()), (Some(1), Some(2)));
    assert!(trials[0]["timestamp"].as_str().unwrap() <= trials[1]["timestamp"].as_str().unwrap());
    assert_eq!(trials[0]["command"], "train");
    assert_eq!(trials[0]["figures"]["sample"], "validation");
    assert_eq!(trials[0]["figures"]["periods"].as_u64(), Some(49), "validation rows 200..=249");

    // Filtering by a fingerprint prefix keeps them; another fingerprint has none.
    let output = folio(&["trials", "--registry", path(&registry), "--data", &fingerprint[..8], "--json"]);
    let listing: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listing["trials"].as_array().unwrap().len(), 2);
    let output = folio(&["trials", "--registry", path(&registry), "--data", "not-a-fingerprint", "--json"]);
    let listing: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listing["trials"].as_array().unwrap().len(), 0);
    let output = folio(&["trials", "--registry", path(&registry), "--data", "not-a-fingerprint"]);
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(shown.contains("none of the 2 trials") && shown.contains("not-a-fingerprint"), "{shown}");

    // The table names the count per data set.
    let output = folio(&["trials", "--registry", path(&registry)]);
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains(&format!("data {}", &fingerprint[..12])) && table.contains("2 trials"), "{table}");
    assert!(!table.contains("repeat"), "{table}");

    // A record written twice is listed twice, marked as the repeat it is, and counted once.
    let twice = dir.path().join("twice.jsonl");
    let lines = std::fs::read_to_string(&registry).unwrap();
    std::fs::write(&twice, format!("{lines}{}\n", lines.lines().next().unwrap())).unwrap();
    let output = folio(&["trials", "--registry", path(&twice), "--json"]);
    let listing: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listing["trials"].as_array().unwrap().len(), 3);
    assert_eq!(listing["repeats"], serde_json::json!([1]), "the copy sorts beside its original");
    assert_eq!(listing["by_data"][0]["trials"].as_u64(), Some(2));
    let table = String::from_utf8_lossy(&folio(&["trials", "--registry", path(&twice)]).stdout).to_string();
    let marked: Vec<&str> = table.lines().filter(|l| l.ends_with("(val) repeat")).collect();
    assert_eq!(marked.len(), 1, "{table}");
    assert!(table.contains("2 trials") && table.contains("counted once"), "{table}");

    // A walk-forward on the same data records one trial per seed, and its Deflated Sharpe Ratio
    // counts every trial on that data: the two trainings and its own two seeds.
    let output = walk_forward(&config, &dir.path().join("wf"), &registry, &["--json"]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["dsr_trials"]["trials"].as_u64(), Some(4), "{}", report["dsr_trials"]);
    assert_eq!(report["dsr_trials"]["this_run"].as_u64(), Some(2));
    assert_eq!(report["deflated_sharpe"]["trials"].as_u64(), Some(4));
    let output = folio(&["trials", "--registry", path(&registry), "--json"]);
    let listing: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listing["by_data"][0]["trials"].as_u64(), Some(4));
    let last = &listing["trials"][3];
    assert_eq!(
        (last["command"].as_str(), last["figures"]["sample"].as_str()),
        (Some("walk-forward"), Some("out_of_sample"))
    );
}

/// Trials on a shorter cut of a history (development runs cut before the test period, say) are
/// trials on the longer one too: its Deflated Sharpe Ratio counts them, and says so. A run on
/// the shorter cut does not count the longer one's.
#[test]
fn the_deflated_sharpe_ratio_counts_trials_on_a_shorter_cut_of_the_same_history() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let text = std::fs::read_to_string(&config).unwrap();
    let prices = std::fs::read_to_string(dir.path().join("prices.csv")).unwrap();
    let last_kept = prices.lines().nth(280).unwrap().split(',').next().unwrap().to_string();
    let cut = dir.path().join("cut.toml");
    std::fs::write(
        &cut,
        text.replace("file = \"prices.csv\"", &format!("file = \"prices.csv\"\nto = \"{last_kept}\"")),
    )
    .unwrap();
    let registry = dir.path().join("trials.jsonl");
    let train = |config: &Path, seed: &str, out: &str| {
        let output = folio(&[
            "train",
            "--config",
            path(config),
            "--steps",
            "300",
            "--seed",
            seed,
            "--seeds",
            "1",
            "--out",
            path(&dir.path().join(out)),
            "--registry",
            path(&registry),
        ]);
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    let shown = train(&cut, "1", "cut-run");
    assert!(shown.contains(": 1 trials on this data so far\n"), "{shown}");

    let out = dir.path().join("wf");
    let output = walk_forward(&config, &out, &registry, &[]);
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        shown.contains("1 earlier (1 of them on shorter cuts of this history), 2 from this run"),
        "{shown}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let counted = &report["dsr_trials"];
    assert_eq!(
        (counted["trials"].as_u64(), counted["on_shorter_cuts"].as_u64()),
        (Some(3), Some(1)),
        "{counted}"
    );
    assert_eq!(report["deflated_sharpe"]["trials"].as_u64(), Some(3));

    // The walk-forward's trials are on the longer cut: a training on the shorter one counts
    // only its own data's.
    let shown = train(&cut, "2", "cut-again");
    assert!(shown.contains(": 2 trials on this data so far\n"), "{shown}");
    let shown = train(&config, "3", "full-run");
    assert!(shown.contains(": 5 trials on this data so far, 2 of them on shorter cuts of it\n"), "{shown}");
    // The same walk-forward run again is the same two trials, counted once, and says so.
    let again = walk_forward(&config, &dir.path().join("wf-again"), &registry, &[]);
    let shown = String::from_utf8_lossy(&again.stdout);
    assert!(
        shown.contains(
            "3 earlier (2 of them on shorter cuts of this history), 2 from this run (2 of them recorded \
             before, by the same trainings run into another folder)"
        ),
        "{shown}"
    );

    // Each record holds the span its fingerprint covers: the walk-forward's, the whole file.
    let listing: serde_json::Value =
        serde_json::from_slice(&folio(&["trials", "--registry", path(&registry), "--json"]).stdout).unwrap();
    let last = prices.lines().last().unwrap().split(',').next().unwrap();
    let spans: Vec<(&str, &str)> = listing["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["command"].as_str().unwrap(), t["span"]["last"].as_str().unwrap()))
        .collect();
    assert_eq!(
        spans,
        [
            ("train", last_kept.as_str()),
            ("walk-forward", last),
            ("walk-forward", last),
            ("train", last_kept.as_str()),
            ("train", last),
            // The rerun's own records, in its own folder: repeats, which N counts once.
            ("walk-forward", last),
            ("walk-forward", last),
        ]
    );

    // The listing shows each data's dates, so the cuts can be told apart.
    let table =
        String::from_utf8_lossy(&folio(&["trials", "--registry", path(&registry)]).stdout).to_string();
    let first = prices.lines().nth(1).unwrap().split(',').next().unwrap();
    assert!(table.contains(&format!("{first}..{last_kept}): 2 trials")), "{table}");
}

/// Trials measured on other periods count in the DSR's `N` but cannot give its `V`: a one-seed
/// walk-forward after a training on the same data has no DSR, and says why, with the trials it
/// found.
#[test]
fn a_dsr_without_a_known_spread_is_missing_for_a_reason_it_states() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let registry = dir.path().join("trials.jsonl");
    folio(&[
        "train",
        "--config",
        path(&config),
        "--steps",
        "300",
        "--seeds",
        "1",
        "--out",
        path(&dir.path().join("run")),
        "--registry",
        path(&registry),
    ]);
    let out = dir.path().join("wf");
    let output = walk_forward(&config, &out, &registry, &["--seeds", "1"]);
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        shown
            .contains("No DSR: the registry holds 2 trials on this data, but only 1 measured a Sharpe ratio"),
        "{shown}"
    );
    assert!(shown.contains("Trials: every trial on this data in the registry"), "{shown}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert!(report["deflated_sharpe"].is_null());
    assert!(report["deflated_sharpe_unavailable"].as_str().unwrap().contains("run two or more seeds"));
}
