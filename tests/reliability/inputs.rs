//! Bad inputs are refused in words that name the file, the table, the line or the asset, never
//! by a panic or a NaN.

use super::*;

/// `folio data combine` writes tickers' own files as one wide file a config can read, says what
/// the config needs for the dates some tickers lack, and never writes over a file unasked.
#[test]
fn tickers_files_combine_into_a_file_folio_reads() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::write(
        cwd.join("AAA.csv"),
        "Date,Open,Close,Volume\n2020-01-02,1,1.0,5\n2020-01-03,1,1.1,5\n2020-01-06,1,1.2,5\n",
    )
    .unwrap();
    std::fs::write(cwd.join("BBB.csv"), "date,close\n2020-01-02,2.0\n2020-01-06,2.2\n").unwrap();
    let combine = |extra: &[&str]| {
        let mut args = vec!["data", "combine", "AAA.csv", "BBB.csv", "--out", "wide.csv"];
        args.extend(extra);
        folio(&args, cwd)
    };
    let output = combine(&[]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("wrote wide.csv: 2 tickers (AAA, BBB) on 3 dates"), "{}", text(&output));
    // Which column of AAA's several was read, and BBB's only one.
    assert!(
        text(&output).contains("prices read from each file's column: AAA: Close, BBB: close"),
        "{}",
        text(&output)
    );
    assert!(
        text(&output).contains("BBB: 1 missing price") && text(&output).contains("carry_forward"),
        "{}",
        text(&output)
    );
    assert_eq!(
        std::fs::read_to_string(cwd.join("wide.csv")).unwrap(),
        "date,AAA,BBB\n2020-01-02,1,2\n2020-01-03,1.1,\n2020-01-06,1.2,2.2\n"
    );
    let refused = combine(&[]);
    assert!(!refused.status.success() && text(&refused).contains("--force"), "{}", text(&refused));
    assert!(combine(&["--force"]).status.success());
    // --force never replaces a file the command reads, however it is spelled.
    let own = folio(&["data", "combine", "AAA.csv", "BBB.csv", "--out", "./BBB.csv", "--force"], cwd);
    assert!(!own.status.success() && text(&own).contains("one of the files to combine"), "{}", text(&own));
    assert_eq!(
        std::fs::read_to_string(cwd.join("BBB.csv")).unwrap(),
        "date,close\n2020-01-02,2.0\n2020-01-06,2.2\n"
    );

    // A ticker named after its file can clash with the date column: refused, nothing written
    // over the earlier file.
    let before = std::fs::read(cwd.join("wide.csv")).unwrap();
    std::fs::copy(cwd.join("BBB.csv"), cwd.join("date.csv")).unwrap();
    let clash = folio(&["data", "combine", "AAA.csv", "date.csv", "--out", "wide.csv", "--force"], cwd);
    assert!(
        !clash.status.success()
            && text(&clash).contains("date.csv: the file's name makes a ticker called 'date'"),
        "{}",
        text(&clash)
    );
    // Tickers named Close and Open make a file that reads as one ticker's download.
    std::fs::copy(cwd.join("BBB.csv"), cwd.join("Close.csv")).unwrap();
    std::fs::copy(cwd.join("BBB.csv"), cwd.join("Open.csv")).unwrap();
    let clash = folio(&["data", "combine", "Close.csv", "Open.csv", "--out", "wide.csv", "--force"], cwd);
    assert!(!clash.status.success() && text(&clash).contains("rename the files"), "{}", text(&clash));
    assert_eq!(std::fs::read(cwd.join("wide.csv")).unwrap(), before);
    let left: Vec<_> = std::fs::read_dir(cwd).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(!left.iter().any(|name| name.to_string_lossy().contains("combining")), "{left:?}");
}

/// Settings that no price file could hold are refused in words: no panic, no file folio could
/// not read back.
#[test]
fn a_synthetic_market_past_what_a_file_holds_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    for (flags, says) in [
        (&["--periods", "50", "--volatility", "inf"][..], "finite"),
        (&["--periods", "50", "--drift", "1e308"][..], "no price file can hold"),
        (&["--periods", "300", "--seed", "2", "--volatility", "50"][..], "no price file can hold"),
        (&["--periods", "50", "--start", "+262142-12-29"][..], "the last date a price file can hold"),
        (&["--assets", "100000", "--periods", "100000"][..], "more than 50000000 prices"),
    ] {
        let output = folio(&[&["data", "synth", "--out", "s.csv"][..], flags].concat(), cwd);
        assert!(
            output.status.code() == Some(1) && text(&output).contains(says),
            "{flags:?}: {}",
            text(&output)
        );
        assert!(!cwd.join("s.csv").exists());
    }
}

/// The bundled default config with `extra` appended, its data path made absolute.
fn default_config_with(dir: &Path, extra: &str) -> PathBuf {
    let data = std::fs::canonicalize("envs/data/us_stocks_20_daily.csv").unwrap();
    let text = std::fs::read_to_string("envs/default.toml")
        .unwrap()
        .replace("\"data/us_stocks_20_daily.csv\"", &format!("{:?}", data.to_str().unwrap()));
    let path = dir.join("config.toml");
    std::fs::write(&path, text + extra).unwrap();
    path
}

#[test]
fn a_key_in_the_wrong_table_is_an_error_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    EnvConfig::load(&default_config_with(dir.path(), "")).unwrap();
    for (extra, key) in [("risk_profile = \"balanced\"\n", "risk_profile"), ("eta = 0.5\n", "eta")] {
        let error = EnvConfig::load(&default_config_with(dir.path(), extra)).unwrap_err().to_string();
        assert!(error.contains("config.toml") && error.contains(key), "{extra}: {error}");
    }
}

/// A window the data cannot warm up is found only once the settings meet the data, deep in the
/// library; every command that read the config names the file to mend.
#[test]
fn settings_that_do_not_fit_the_data_name_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = default_config_with(dir.path(), "");
    let settings = std::fs::read_to_string(&config).unwrap();
    let window = settings.lines().find(|l| l.starts_with("window =")).unwrap();
    std::fs::write(&config, settings.replace(window, "window = 50000")).unwrap();
    let config = config.to_str().unwrap();
    for command in [
        vec!["env", "check", config],
        vec!["train", "--config", config, "--out", "run"],
        vec!["walk-forward", "--config", config, "--out", "wf"],
        vec!["probe", "--config", config, "--out", "probe"],
        vec!["search", "--space", "envs/tilt_search.toml", "--config", config, "--out", "search"],
    ] {
        let output = folio(&command, dir.path());
        let error = text(&output);
        assert!(
            !output.status.success()
                && error.contains(&format!("config {config}: "))
                && error.contains("50019"),
            "{command:?}: {error}"
        );
    }
}

/// `env check` says when training would refuse the config's periods (here a validation period
/// inside the training period, which defaults to all the data), and a period written backwards
/// is refused by its table and line before any data is read.
#[test]
fn env_check_warns_of_periods_training_would_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let config = default_config_with(dir.path(), "");
    let check = |config: &Path| {
        let output =
            folio(&["env", "check", config.to_str().unwrap(), "--episodes", "1", "--json"], dir.path());
        assert!(output.status.success(), "{}", text(&output));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()["training_refused"].clone()
    };
    assert_eq!(check(&config), serde_json::Value::Null);
    let settings = std::fs::read_to_string(&config).unwrap();
    let only_validation =
        settings.replacen("[periods.train]\nfrom = \"1990-01-02\"\nto = \"2014-12-31\"\n", "", 1);
    assert_ne!(only_validation, settings);
    std::fs::write(&config, &only_validation).unwrap();
    let refused = check(&config);
    assert!(
        refused.as_str().unwrap().contains("the validation period must start after training ends"),
        "{refused}"
    );

    let backwards = settings.replacen("to = \"2017-12-31\"", "to = \"2010-01-01\"", 1);
    std::fs::write(&config, &backwards).unwrap();
    let output = folio(&["env", "check", config.to_str().unwrap()], dir.path());
    let line = backwards.lines().position(|l| l == "to = \"2010-01-01\"").unwrap();
    assert!(
        !output.status.success()
            && text(&output)
                .contains("periods.validation.from = 2015-01-01 is after periods.validation.to = 2010-01-01"),
        "{}",
        text(&output)
    );
    assert!(text(&output).contains(&format!("line {}", line)), "the table's line: {}", text(&output));
}

#[test]
fn an_asset_that_stops_trading_early_is_named_not_silently_shrinking_the_market() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = tiny_env(dir.path());
    let text = std::fs::read_to_string(&env.data.file).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let asset = lines[0].split(',').nth(2).unwrap().to_string();
    for line in &mut lines[1 + 350..] {
        let mut cells: Vec<&str> = line.split(',').collect();
        cells[2] = "";
        *line = cells.join(",");
    }
    let last_date = lines[390].split(',').next().unwrap().to_string();
    std::fs::write(&env.data.file, lines.join("\n") + "\n").unwrap();
    env.periods.validation.to = Some(last_date.parse().unwrap());
    let error = train(request(&env, config(200), &dir.path().join("run"), false)).unwrap_err().to_string();
    assert!(
        error.contains(&format!("asset '{asset}' has no prices after")) && error.contains(&last_date),
        "{error}"
    );
}

#[test]
fn an_asset_that_starts_late_is_named_with_where_the_market_would_start_without_it() {
    // A late listing moves the whole market's start: the years before it are lost to every
    // asset. That was said only by `env check`; a training or walk-forward lost them silently.
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let file = dir.path().join("prices.csv");
    let mut lines: Vec<String> = std::fs::read_to_string(&file).unwrap().lines().map(String::from).collect();
    let asset = lines[0].split(',').nth(2).unwrap().to_string();
    for line in &mut lines[1..=40] {
        let mut cells: Vec<&str> = line.split(',').collect();
        cells[2] = "";
        *line = cells.join(",");
    }
    let date = |row: usize| lines[row + 1].split(',').next().unwrap().to_string();
    let note = format!(
        "note: asset '{asset}' has no prices before {}, so the market starts there although the file \
         starts at {}; leave it out (data.assets) to start at {}",
        date(40),
        date(0),
        date(0)
    );
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let output = folio(
        &["train", "--config", config.to_str().unwrap(), "--steps", "200", "--seeds", "1", "--out", "run"],
        dir.path(),
    );
    assert!(output.status.success(), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&note), "{}", text(&output));
}

/// With an embargo, decision ranges stop short of their spans' edges, but the normalization is
/// fitted on the whole training span: a validation span that starts inside it would be scaled by
/// statistics of rows after its first decisions, so it is refused, not just its decisions compared.
#[test]
fn a_validation_span_inside_the_training_span_is_refused_whatever_the_embargo() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = tiny_env(dir.path());
    let folio::data::TimeIndex::Dates(dates) = env.data.load_prices().unwrap().index else { panic!("dated") };
    env.episode.embargo = 15;
    env.periods.validation.from = Some(folio::data::Stamp::Date(dates[270]));
    let error =
        train(request(&env, config(64), &dir.path().join("overlap"), false)).err().unwrap().to_string();
    assert!(error.contains("must start after training ends"), "{error}");
    // Starting after the training span, its embargo is the only gap it needs.
    env.periods.validation.from = Some(folio::data::Stamp::Date(dates[300]));
    train(request(&env, config(64), &dir.path().join("apart"), false)).unwrap();
}

/// A config whose period lies outside its data is the config's mistake: the error names the
/// file and the table to fix, not only a span.
#[test]
fn a_period_outside_the_data_names_its_table_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = tiny_env(dir.path());
    let far = |text: &str| Some(folio::data::Stamp::Date(text.parse().unwrap()));
    env.periods.validation = Span { from: far("2099-01-01"), to: None };
    let file = dir.path().join("future.toml");
    std::fs::write(&file, toml::to_string(&env).unwrap()).unwrap();
    let output =
        folio(&["train", "--config", file.to_str().unwrap(), "--steps", "64", "--out", "run"], dir.path());
    let shown = text(&output);
    assert!(!output.status.success(), "{shown}");
    assert!(shown.contains("future.toml") && shown.contains("[periods.validation]"), "{shown}");
    assert!(shown.contains("2099-01-01"), "{shown}");

    // Training never reads the test period; the evaluation of it says where it came from.
    let mut env = tiny_env(dir.path());
    env.periods.test = Span { from: far("2099-01-01"), to: None };
    train(request(&env, config(64), &dir.path().join("run"), false)).unwrap();
    let output = folio(&["eval", "--checkpoint", "run"], dir.path());
    let shown = text(&output);
    assert!(!output.status.success(), "{shown}");
    assert!(shown.contains("[periods.test]") && shown.contains("--from"), "{shown}");
}

#[test]
fn too_few_periods_are_said_in_words_not_nan() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("one.csv"), "date,A,B\n2020-01-02,1.0,2.0\n").unwrap();
    let output = folio(&["data", "inspect", "one.csv"], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    let shown = text(&output);
    assert!(!shown.contains("NaN") && shown.contains("too few periods"), "{shown}");

    let config = tiny_config(dir.path());
    let output = folio(
        &["train", "--config", config.to_str().unwrap(), "--steps", "200", "--seeds", "1", "--out", "run"],
        dir.path(),
    );
    assert!(output.status.success(), "{}", text(&output));
    let prices = std::fs::read_to_string(dir.path().join("prices.csv")).unwrap();
    let date = |row: usize| prices.lines().nth(row + 1).unwrap().split(',').next().unwrap().to_string();
    let (from, to) = (date(350), date(351));
    let output = folio(&["eval", "--checkpoint", "run", "--from", &from, "--to", &to], dir.path());
    let shown = text(&output);
    assert!(shown.contains("Too few periods to measure") && !shown.contains("Sharpe ratio NaN"), "{shown}");
    assert!(output.status.success(), "{shown}");
    // Nor is one return raised to a year: no CAGR, Sortino or yearly cost drag from it.
    let output = folio(&["eval", "--checkpoint", "run", "--from", &from, "--to", &to, "--json"], dir.path());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let agent = &report["results"][0]["metrics"];
    assert!(
        agent["cagr"].is_null() && agent["sortino"].is_null() && agent["annual_cost_drag"].is_null(),
        "{agent}"
    );
}

#[test]
fn impossible_flags_are_errors_not_silently_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let config = config.to_str().unwrap();
    for command in ["train", "walk-forward", "search", "panel"] {
        let mut args = vec![command, "--jobs", "0", "--out", "run"];
        args.extend(match command {
            "panel" => vec![config],
            "search" => vec!["--space", "envs/tilt_search.toml", "--config", config],
            _ => vec!["--config", config],
        });
        let output = folio(&args, dir.path());
        assert!(!output.status.success() && text(&output).contains("--jobs"), "{command}: {}", text(&output));
    }
    // Zero folds or seeds are refused as the flags are read, not after a note about zero folds.
    for flags in
        [vec!["walk-forward", "--config", config, "--folds", "0"], vec!["panel", config, "--seeds", "0"]]
    {
        let output = folio(&flags, dir.path());
        let shown = text(&output);
        assert!(!output.status.success() && shown.contains("must be at least 1"), "{shown}");
        assert!(!shown.contains("0 folds") && !shown.contains("kept in"), "{shown}");
    }
    // Counts that would end the process (threads, memory) or run nothing are refused as read.
    for (flags, says) in [
        (vec!["train", "--config", config, "--jobs", "100000"], "at most 1024"),
        (vec!["train", "--config", config, "--steps", "0"], "at least 1"),
        (
            vec!["explain", "--checkpoint", "run", "--date", "2020-01-02", "--steps", "100000000"],
            "at most 100000",
        ),
        (vec!["env", "check", config, "--episodes", "0"], "at least 1"),
    ] {
        let output = folio(&flags, dir.path());
        assert!(!output.status.success() && text(&output).contains(says), "{flags:?}: {}", text(&output));
    }
    // A date for numbered rows, or a row number for dated ones, is said to be of the wrong kind
    // (it was "after the last row").
    let undated: String = (0..50).map(|t| format!("{},{}\n", 100 + t % 7, 50 + t % 5)).collect();
    std::fs::write(dir.path().join("undated.csv"), format!("A,B\n{undated}")).unwrap();
    for (flags, says) in [
        (
            vec!["backtest", "--data", "undated.csv", "--from", "2012-01-01", "--strategy", "equal-weight"],
            "is a date",
        ),
        (
            vec!["backtest", "--config", config, "--to", "5", "--strategy", "equal-weight"],
            "is a period number",
        ),
    ] {
        let output = folio(&flags, dir.path());
        assert!(!output.status.success() && text(&output).contains(says), "{flags:?}: {}", text(&output));
    }
    // The default rules of a comparison are those the data can run: no calendar on numbered rows.
    let args = [
        "backtest",
        "--data",
        "undated.csv",
        "--compare-rebalancing",
        "--strategy",
        "equal-weight",
        "--json",
    ];
    let output = folio(&[&args[..], &["--out", "rules"]].concat(), dir.path());
    assert!(output.status.success(), "{}", text(&output));
    let comparison: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rules = comparison["rules"].as_array().unwrap();
    assert!(rules.len() == 4 && !rules.iter().any(|r| r.to_string().contains("monthly")), "{rules:?}");
    // A folder where a file is written, or a file where a plan's folder goes, is refused in words
    // (a combine staged its file beside the folder and left it there).
    std::fs::create_dir_all(dir.path().join("a-folder")).unwrap();
    std::fs::write(dir.path().join("a-file"), "mine").unwrap();
    for (flags, says) in [
        (vec!["data", "synth", "--out", "a-folder", "--force"], "is a folder"),
        (vec!["plan", "walk-forward", "--config", config, "--out", "a-file"], "is not a folder"),
    ] {
        let output = folio(&flags, dir.path());
        assert!(!output.status.success() && text(&output).contains(says), "{flags:?}: {}", text(&output));
    }
    assert_eq!(std::fs::read_dir(dir.path().join("a-folder")).unwrap().count(), 0);
    assert_eq!(std::fs::read_to_string(dir.path().join("a-file")).unwrap(), "mine");
    // --force without --out would replace nothing: refused rather than ignored.
    let output = folio(&["walk-forward", "--config", config, "--force"], dir.path());
    assert!(!output.status.success() && text(&output).contains("--out"), "{}", text(&output));
    // --resume continues one folder, and replacing it at once means the opposite.
    let search = vec!["search", "--space", "envs/tilt_search.toml", "--config", config];
    for command in [vec!["walk-forward", "--config", config], vec!["panel", config], search] {
        let output = folio(&[&command[..], &["--resume"]].concat(), dir.path());
        assert!(!output.status.success() && text(&output).contains("--out"), "{}", text(&output));
        let output = folio(&[&command[..], &["--resume", "--force", "--out", "run"]].concat(), dir.path());
        assert!(
            !output.status.success() && text(&output).contains("cannot be used with"),
            "{}",
            text(&output)
        );
    }
    let output =
        folio(&["train", "--config", config, "--steps", "200", "--seeds", "1", "--out", "run"], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    // A checkpoint brings its own environment: a --config beside it would be ignored.
    let output = folio(&["tax", "--checkpoint", "run", "--config", config], dir.path());
    assert!(!output.status.success() && text(&output).contains("cannot be used with"), "{}", text(&output));
    let output = folio(&["plot", "no-such-run"], dir.path());
    assert!(
        !output.status.success() && text(&output).contains("no-such-run does not exist"),
        "{}",
        text(&output)
    );
    let output = folio(&["stress", "--checkpoint", "run", "--crash-fall", "1.5"], dir.path());
    assert!(!output.status.success() && text(&output).contains("crash_fall"), "{}", text(&output));
    // A negative size reaches the same check, not the parser's "unexpected argument '-0'".
    let output = folio(&["stress", "--checkpoint", "run", "--volatility-factor", "-3"], dir.path());
    assert!(text(&output).contains("stress size volatility_factor"), "{}", text(&output));
    let output = folio(&["eval", "--checkpoint", "run", "--to", "2099-01-01"], dir.path());
    assert!(
        !output.status.success() && text(&output).contains("after the data's last row"),
        "{}",
        text(&output)
    );
}

#[test]
fn spikes_and_unadjusted_splits_are_flagged_with_asset_and_date() {
    let dir = tempfile::tempdir().unwrap();
    let env = tiny_env(dir.path());
    let prices = std::fs::read_to_string(&env.data.file).unwrap();
    let mut lines: Vec<String> = prices.lines().map(String::from).collect();
    let assets: Vec<String> = lines[0].split(',').skip(1).map(String::from).collect();
    let scale = |line: &mut String, column: usize, factor: f64| {
        let mut cells: Vec<String> = line.split(',').map(String::from).collect();
        cells[column] = (cells[column].parse::<f64>().unwrap() * factor).to_string();
        *line = cells.join(",");
    };
    // A x1000 typo on one day, and a 2:1 split (on a day without a move of its own) never
    // adjusted for.
    scale(&mut lines[101], 1, 1000.0);
    let price = |line: &str| line.split(',').nth(2).unwrap().parse::<f64>().unwrap();
    let factor = 0.5 * price(&lines[200]) / price(&lines[201]);
    for line in &mut lines[201..] {
        scale(line, 2, factor);
    }
    let (spike_day, split_day) = (
        lines[101].split(',').next().unwrap().to_string(),
        lines[201].split(',').next().unwrap().to_string(),
    );
    std::fs::write(&env.data.file, lines.join("\n") + "\n").unwrap();
    let output = folio(&["data", "inspect", "prices.csv"], dir.path());
    let shown = text(&output);
    assert!(shown.contains(&format!("{} on {spike_day}", assets[0])) && shown.contains("spike"), "{shown}");
    assert!(
        shown.contains(&format!("{} on {split_day}", assets[1])) && shown.contains("exact 2:1"),
        "{shown}"
    );
    let config = tiny_config_over(dir.path());
    let output = folio(
        &["train", "--config", config.to_str().unwrap(), "--steps", "64", "--seeds", "1", "--out", "run"],
        dir.path(),
    );
    assert!(text(&output).contains(&format!("warning: {} on {spike_day}", assets[0])), "{}", text(&output));
}

/// A config over the prices already in `dir`.
fn tiny_config_over(dir: &Path) -> PathBuf {
    let prices = std::fs::read(dir.join("prices.csv")).unwrap();
    let config = tiny_config(dir);
    std::fs::write(dir.join("prices.csv"), prices).unwrap();
    config
}

#[test]
fn common_export_formats_are_read_or_get_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let load = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        folio::data::load_prices(&path)
    };
    // pandas' index column, blank or named, in an undated file.
    for header in ["", "period", "index"] {
        let panel = load("pandas.csv", &format!("{header},A,B\n0,1.0,2.0\n1,1.1,2.1\n2,1.2,2.2\n")).unwrap();
        assert_eq!((panel.assets.clone(), panel.n_periods()), (vec!["A".to_string(), "B".to_string()], 3));
    }
    // Spreadsheet exports: tab-separated, and trailing commas on the header, the rows or both.
    let dated = |panel: folio::data::PricePanel| {
        (panel.assets.clone(), panel.n_periods(), panel.asset_prices(1).to_vec())
    };
    let expected = (vec!["A".to_string(), "B".to_string()], 2, vec![2.0, 2.1]);
    for text in [
        "date\tA\tB\n2020-01-02\t1.0\t2.0\n2020-01-03\t1.1\t2.1\n",
        "date,A,B,\n2020-01-02,1.0,2.0,\n2020-01-03,1.1,2.1,\n",
        "date,A,B\n2020-01-02,1.0,2.0,,\n2020-01-03,1.1,2.1\n",
        "date,A,B,,\n2020-01-02,1.0,2.0\n2020-01-03,1.1,2.1,\n",
        // The empty rows a spreadsheet keeps below its data.
        "date,A,B\n2020-01-02,1.0,2.0\n2020-01-03,1.1,2.1\n,,\n,,,,\n",
    ] {
        assert_eq!(dated(load("export.csv", text).unwrap()), expected, "{text:?}");
    }
    // yfinance downloads of several tickers: the best price field, each ticker a column.
    let download = |text: &str| {
        let path = dir.path().join("download.csv");
        std::fs::write(&path, text).unwrap();
        folio::data::read_prices(&path, folio::data::MissingPrices::Error)
    };
    for (text, field) in [
        // yfinance 0.2.51 and later: named levels, closes adjusted already.
        (
            "Price,Close,Close,Volume,Volume\nTicker,A,B,A,B\nDate,,,,\n\
             2020-01-02,1.0,2.0,500,600\n2020-01-03,1.1,2.1,500,600\n",
            "Close",
        ),
        // Earlier versions: unnamed levels, and the dividend-adjusted closes beside the closes.
        (
            ",Adj Close,Adj Close,Close,Close\n,A,B,A,B\nDate,,,,\n\
             2020-01-02,1.0,2.0,9,9\n2020-01-03,1.1,2.1,9,9\n",
            "Adj Close",
        ),
        // group_by="ticker": the tickers first, and no row for the index's name.
        (
            "Ticker,A,A,B,B\nPrice,Open,Close,Open,Close\n\
             2020-01-02,7,1.0,7,2.0\n2020-01-03,7,1.1,7,2.1\n",
            "Close",
        ),
    ] {
        let loaded = download(text).unwrap();
        assert_eq!(dated(loaded.panel), expected, "{text:?}");
        assert_eq!(loaded.price_field.as_deref(), Some(field), "{text:?}");
    }
    let bad_cell = download("Price,Close,Close,Volume,Volume\nTicker,A,B,A,B\n2020-01-02,1.0,x,5,6\n");
    let bad_cell = bad_cell.unwrap_err().to_string();
    assert!(bad_cell.ends_with("download.csv, line 3, column 3 (B): 'x' is not a number"), "{bad_cell}");
    let no_close = download("Price,Open,Volume\nTicker,A,A\n2020-01-02,1.0,5\n").unwrap_err().to_string();
    assert!(no_close.contains("no closing prices (its fields: Open, Volume)"), "{no_close}");
    // pandas writes a Series of closes over an unnamed date index as `,Close`: that is one
    // column of dated prices, and its first row is a price, not a download's row of tickers.
    let series = download(",Close\n2020-01-02,1.0\n2020-01-03,1.1\n2020-01-06,1.2\n").unwrap();
    assert_eq!(series.panel.assets, ["Close"]);
    assert_eq!(series.panel.n_periods(), 3, "the first price is read, not taken for tickers");
    assert_eq!(series.price_field, None);
    let hint = |name: &str, text: &str| load(name, text).unwrap_err().to_string();
    let stray = hint("stray.csv", "date,A,B\n2020-01-02,1.0,2.0,7\n");
    assert!(stray.contains("line 2: the row has 4 fields but the header has 3"), "{stray}");
    let one_ticker =
        hint("AAPL.csv", "Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,74,75,73,75,73,1000\n");
    assert!(
        one_ticker.contains("one ticker's file of Open, High, Low, Close, Adj Close, Volume columns")
            && one_ticker.contains("folio data combine AAPL.csv MSFT.csv")
            && one_ticker.contains("['Adj Close'] for t"),
        "{one_ticker}"
    );
    let long = hint("long.csv", "date,tic,close\n2020-01-02,AAPL,75.1\n2020-01-02,MSFT,160.6\n");
    assert!(long.contains("long file") && long.contains("pivot"), "{long}");
    let semicolons = hint("semi.csv", "date;A;B\n2020-01-02;1,0;2,0\n");
    assert!(semicolons.contains("semicolon"), "{semicolons}");
    // A US spreadsheet's dates, month first: the 15th and 16th can only be days.
    let us = load("us.csv", "date,A\n03/15/2020,1.0\n03/16/2020,1.1\n").unwrap();
    assert_eq!(us.index.label(1), "2020-03-16");
    let slashes = hint("slash.csv", "date,A\n03/04/2020,1.0\n03/05/2020,1.1\n");
    assert!(
        slashes.contains("line 2") && slashes.contains("YYYY-MM-DD") && slashes.contains("ambiguous"),
        "{slashes}"
    );
    // FRED's and crypto exchanges' names for the date column.
    for name in ["observation_date", "time"] {
        let panel = load("named.csv", &format!("{name},A\n2020-01-02,1.0\n2020-01-03,1.1\n")).unwrap();
        assert_eq!(panel.index.label(1), "2020-01-03", "{name}");
    }
    // No header: the first row of values is not taken for names (it was, losing a row).
    for text in ["1,2,3\n1.1,2.1,3.1\n1.2,2.2,3.2\n", "2020-01-02,10,20\n2020-01-03,11,21\n"] {
        let error = hint("headless.csv", text);
        assert!(error.contains("line 1") && error.contains("not column names"), "{error}");
    }
    // pandas' index written before the date column: the dates are named where they stand.
    let index = hint("reset.csv", ",date,A\n0,2020-01-02,1.0\n1,2020-01-03,1.1\n");
    assert!(index.contains("column 2 (date)") && index.contains("index=False"), "{index}");
}

/// A network anchored on a reference tilts among the assets only: with one asset it cannot
/// change the portfolio, and training says so before it starts, naming the references that do
/// act on one asset. Unanchored, it can time the asset against cash, and nothing is said.
#[test]
fn one_asset_under_an_anchored_policy_is_noted_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let prices = dir.path().join("prices.csv");
    let panel = folio::data::load_prices(&prices).unwrap();
    let one = folio::data::PricePanel::new(
        "one",
        vec![panel.assets[0].clone()],
        panel.index.clone(),
        panel.prices.slice(ndarray::s![.., 0..1]).to_owned(),
    );
    write_prices(&one, &prices).unwrap();
    let train = |config: &Path, out: &str| {
        let args = ["train", "--config", config.to_str().unwrap(), "--steps", "64", "--out", out];
        text(&folio(&[&args[..], &["--registry", "trials.jsonl"]].concat(), dir.path()))
    };
    let noted = "one asset and a reference portfolio (features.reference)";
    let anchored = train(&config, "anchored");
    assert!(anchored.contains(noted) && anchored.contains("reference = \"none\""), "{anchored}");
    assert!(anchored.contains("\"volatility_managed\" times it"), "{anchored}");
    let with_reference = |reference: &str| {
        let mut table: toml::Table = std::fs::read_to_string(&config).unwrap().parse().unwrap();
        table["features"].as_table_mut().unwrap().insert("reference".into(), reference.into());
        let path = dir.path().join(format!("{reference}.toml"));
        std::fs::write(&path, toml::to_string(&table).unwrap()).unwrap();
        path
    };
    // Anchored on the volatility-managed reference, the note proposes no other.
    let managed = train(&with_reference("volatility_managed"), "managed");
    assert!(managed.contains(noted) && !managed.contains("\"volatility_managed\" times it"), "{managed}");
    let unanchored = train(&with_reference("none"), "unanchored");
    assert!(
        !unanchored.contains(noted) && dir.path().join("unanchored/seed-0/best.bpk").exists(),
        "{unanchored}"
    );
}
