//! `report.html` end to end: backtests written to folders, their pages read for what a reader
//! needs, several runs on one page, and the pages opened in headless Chromium.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use folio::backtest::BaselineId;
use folio::backtest::rebalance::RebalanceRule;
use folio::data::synth::{SynthConfig, generate};
use folio::data::write_prices;
use folio::env::EnvSettings;
use folio::env::config::EnvConfig;
use folio::eval::evaluate::{BaselineRequest, backtest_baselines};
use folio::report::backtest::write_backtest;
use folio::report::html::{Provenance, write_runs_page};

fn provenance() -> Provenance {
    Provenance { folio_version: "test".into(), command_line: vec!["folio".into(), "backtest".into()] }
}

/// A backtest of `strategies` on `data` (rows `from..=to`), written into `out`; the page's text.
fn backtest(out: &Path, data: &str, strategies: &[BaselineId], span: Option<(&str, &str)>) -> String {
    let config = EnvConfig::load(Path::new("envs/default.toml")).unwrap();
    let mut settings = EnvSettings::from_config(&config);
    settings.episode.horizon = 0;
    let (report, logs) = backtest_baselines(BaselineRequest {
        data: PathBuf::from(data),
        missing: Default::default(),
        assets: vec![],
        strategies: strategies.to_vec(),
        from: span.map(|s| s.0.parse().unwrap()),
        to: span.map(|s| s.1.parse().unwrap()),
        settings,
        periods_per_year: 252.0,
        rebalance: RebalanceRule::Every,
        features: Default::default(),
    })
    .unwrap();
    let page = write_backtest(out, &report, &logs, &provenance()).unwrap();
    assert_eq!(page, out.join("report.html"));
    std::fs::read_to_string(page).unwrap()
}

/// The charts a page announces for its first run.
fn announced(html: &str) -> Vec<String> {
    let start = html.find("data-charts=\"").expect("a run body") + "data-charts=\"".len();
    html[start..].split('"').next().unwrap().split(' ').map(String::from).collect()
}

/// Nothing in the page points outside it: no links, sources or imports but its own anchors.
fn assert_self_contained(html: &str) {
    for needle in ["src=", "@import", "url(", "<script", "<link", "http://", "https://"] {
        let hits: Vec<&str> =
            html.match_indices(needle).map(|(i, _)| &html[i..(i + 60).min(html.len())]).collect();
        let allowed = |h: &&str| h.starts_with("http://www.w3.org/2000/svg");
        assert!(hits.iter().all(allowed), "{needle}: {hits:?}");
    }
}

#[test]
fn a_dated_backtest_page_reads_verdict_first_and_draws_every_chart() {
    let dir = tempfile::tempdir().unwrap();
    let strategies =
        [BaselineId::EqualWeight, BaselineId::BuyAndHold, BaselineId::MinVariance, BaselineId::Bcrp];
    let html = backtest(
        dir.path(),
        "envs/data/us_stocks_20_daily.csv",
        &strategies,
        Some(("2019-01-02", "2020-12-31")),
    );
    assert_self_contained(&html);
    let order =
        ["class=\"verdict", "<table class=\"metrics\"", "data-chart=\"equity\"", "class=\"provenance\""];
    let at: Vec<usize> = order.iter().map(|s| html.find(s).unwrap_or_else(|| panic!("{s}"))).collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "verdict, metrics, pictures, provenance in that order: {at:?}"
    );
    assert_eq!(announced(&html), ["equity", "drawdown", "rolling", "monthly", "distribution"]);
    assert!(
        html.contains("No agent in this run: 4 rule-based strategies"),
        "a plain verdict without an agent"
    );
    assert!(html.contains("<td class=\"num\">"), "numbers right-aligned");
    assert!(html.contains("folio backtest"), "the command line in the provenance");
    // Two years of days on a 1200-pixel chart: far fewer points than periods, and a small file.
    assert!(html.len() < 400_000, "{} bytes", html.len());
}

#[test]
fn an_undated_single_policy_backtest_and_a_page_of_several_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (one, all) = (dir.path().join("one"), dir.path().join("all"));
    let html = backtest(&one, "envs/data/olps/djia.csv", &[BaselineId::EqualWeight], None);
    assert_self_contained(&html);
    assert!(html.contains("One policy, equal weight: Sharpe ratio"), "one policy alone has a verdict");
    assert!(html.contains("the market is undated"), "no calendar for periods");
    assert_eq!(announced(&html), ["equity", "drawdown", "weights", "rolling", "distribution"]);
    backtest(&all, "envs/data/olps/djia.csv", &[BaselineId::EqualWeight, BaselineId::Olmar], None);
    let both = dir.path().join("both.html");
    write_runs_page(&[one.clone(), all.clone()], &both, &provenance()).unwrap();
    let html = std::fs::read_to_string(&both).unwrap();
    assert_self_contained(&html);
    assert!(html.contains("Runs side by side") && html.contains("id=\"r1\"") && html.contains("id=\"r2\""));
    assert_eq!(html.matches("class=\"verdict").count(), 2);
    let missing =
        write_runs_page(&[dir.path().join("nothing")], &both, &provenance()).unwrap_err().to_string();
    assert!(missing.contains("nothing") && missing.contains("report.json"), "{missing}");
}

/// A saved folder's equity.csv must be the one its report.json describes: a file cut short, with
/// a wealth that is not positive, or with columns swapped, is refused by `folio report` (and
/// `folio plot`, which reads it the same way), where it was drawn beside figures it did not match.
#[test]
fn an_equity_file_that_does_not_match_its_report_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let strategies = [BaselineId::EqualWeight, BaselineId::BuyAndHold];
    backtest(dir.path(), "envs/data/olps/djia.csv", &strategies, None);
    let equity = dir.path().join("equity.csv");
    let intact = std::fs::read_to_string(&equity).unwrap();
    let page = dir.path().join("page.html");
    let refused = |text: &str| {
        std::fs::write(&equity, text).unwrap();
        let error = write_runs_page(&[dir.path().to_path_buf()], &page, &provenance()).unwrap_err();
        error.to_string()
    };
    let lines: Vec<&str> = intact.lines().collect();
    let cut = lines[..100].join("\n") + "\n";
    let error = refused(&cut);
    assert!(error.contains("equity.csv") && error.contains("holds 99 values"), "{error}");
    let negative =
        intact.replacen(&format!("\n{}\n", lines[5]), &format!("\n{}\n", lines[5].replace(',', ",-")), 1);
    let error = refused(&negative);
    assert!(error.contains("line 6, column equal weight: wealth must be a positive number"), "{error}");
    let swapped = intact.replacen("equal weight,buy and hold", "buy and hold,equal weight", 1);
    let error = refused(&swapped);
    assert!(error.contains("does not belong to this report"), "{error}");
    let dropped = intact.replacen("buy and hold", "something else", 1);
    assert!(refused(&dropped).contains("no column `buy and hold`"));
    std::fs::write(&equity, &intact).unwrap();
    write_runs_page(&[dir.path().to_path_buf()], &page, &provenance()).unwrap();
    let plot = common::folio_command(&["plot", common::path(dir.path())]).output().unwrap();
    assert!(plot.status.success(), "{}", common::text(&plot));
    // plot reads only what it draws and checks: a report written before later fields existed
    // (here, one holding its results alone) still draws.
    let report_json = dir.path().join("report.json");
    let full: serde_json::Value = serde_json::from_slice(&std::fs::read(&report_json).unwrap()).unwrap();
    std::fs::write(&report_json, serde_json::json!({"results": full["results"]}).to_string()).unwrap();
    let plot = common::folio_command(&["plot", common::path(dir.path())]).output().unwrap();
    assert!(plot.status.success(), "{}", common::text(&plot));
    std::fs::write(&equity, &cut).unwrap();
    let plot = common::folio_command(&["plot", common::path(dir.path()), "--force"]).output().unwrap();
    assert!(
        !plot.status.success() && common::text(&plot).contains("holds 99 values"),
        "{}",
        common::text(&plot)
    );
}

/// `scripts/browser-check.sh` on `page`: its exit code and output; `None` (with a message) when
/// this machine has no Chromium and cannot install one.
fn browser_check(page: &Path, shots: &Path) -> Option<(i32, String)> {
    let output = Command::new("bash").arg("scripts/browser-check.sh").arg(page).arg(shots).output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    match output.status.code() {
        Some(77) => {
            eprintln!("skipped the browser check: {text}");
            None
        }
        code => Some((code.unwrap_or(-1), text)),
    }
}

/// A screenshot that is a page, not a blank: many colours and some ink on white.
fn assert_not_blank(path: &Path) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file)).read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).unwrap();
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buffer[..info.buffer_size()].chunks_exact(channels).collect();
    let colours: std::collections::HashSet<&[u8]> = pixels.iter().copied().collect();
    let ink = pixels.iter().filter(|p| p[..3].iter().any(|&c| c < 200)).count() as f64 / pixels.len() as f64;
    assert!(
        colours.len() > 50 && ink > 0.01,
        "{}: {} colours, {:.2}% ink",
        path.display(),
        colours.len(),
        100.0 * ink
    );
}

#[test]
fn pages_open_in_headless_chromium_without_touching_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let (dated, undated) = (dir.path().join("dated"), dir.path().join("undated"));
    backtest(
        &dated,
        "envs/data/us_stocks_20_daily.csv",
        &[BaselineId::EqualWeight, BaselineId::BuyAndHold],
        Some(("2019-01-02", "2020-12-31")),
    );
    backtest(&undated, "envs/data/olps/djia.csv", &[BaselineId::EqualWeight], None);
    // Sixty assets: the weights chart adds its heat map, a picture inside the page.
    let (wide_csv, wide) = (dir.path().join("wide.csv"), dir.path().join("wide"));
    let panel = generate(&SynthConfig { assets: 60, periods: 300, ..SynthConfig::default() }).unwrap();
    write_prices(&panel, &wide_csv).unwrap();
    let html = backtest(&wide, wide_csv.to_str().unwrap(), &[BaselineId::InverseVolatility], None);
    assert_self_contained(&html);
    assert_eq!(html.matches("<image").count(), 1, "the heat map");
    let both = dir.path().join("both.html");
    write_runs_page(&[dated, undated, wide], &both, &provenance()).unwrap();
    let shots = dir.path().join("shots");
    let Some((code, text)) = browser_check(&both, &shots) else { return };
    assert_eq!(code, 0, "{text}");
    assert_not_blank(&shots.join("top.png"));
    assert_not_blank(&shots.join("full.png"));

    // The check itself: a page that asks for a picture from the network must fail it.
    let html = std::fs::read_to_string(&both).unwrap();
    let leaky = dir.path().join("leaky.html");
    let csp = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">";
    assert!(html.contains(csp));
    let with_image =
        html.replace(csp, "").replace("</main>", "<img src=\"http://example.com/pixel.png\"></main>");
    std::fs::write(&leaky, with_image).unwrap();
    let (code, text) = browser_check(&leaky, &dir.path().join("leaky")).unwrap();
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("network request: http://example.com/pixel.png"), "{text}");
}

/// Over one period no Sharpe ratio is defined: none is named the highest.
#[test]
fn an_undefined_sharpe_ratio_is_never_the_highest() {
    let dir = tempfile::tempdir().unwrap();
    let html = backtest(
        &dir.path().join("short"),
        "envs/data/us_stocks_20_daily.csv",
        &[BaselineId::EqualWeight, BaselineId::Olmar],
        Some(("2017-01-03", "2017-01-04")),
    );
    let sentence = html.find("The highest Sharpe ratio without hindsight").map(|i| &html[i..i + 120]);
    assert_eq!(sentence, None);
    assert!(html.contains("No agent in this run: 2 rule-based strategies after costs."));
    // Over a week the ratios are defined, and the highest is named.
    let html = backtest(
        &dir.path().join("week"),
        "envs/data/us_stocks_20_daily.csv",
        &[BaselineId::EqualWeight, BaselineId::Olmar],
        Some(("2017-01-03", "2017-01-10")),
    );
    assert!(html.contains("The highest Sharpe ratio without hindsight is "));
}
