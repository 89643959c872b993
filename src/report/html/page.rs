//! Whole pages: one run, or several side by side, with the stylesheet inline.

use serde_json::Value;

use super::markup::{Cell, escape, number, percent, table};
use super::run::{Kind, Run};
use super::verdict::headline;
use super::{Provenance, charts, tables, verdict};
use crate::backtest::PolicyId;

/// Styles for screen and print; system fonts only, nothing fetched.
const STYLE: &str = r#"
:root { color-scheme: light; }
body { margin: 0; background: #f6f6f4; color: #212121; font: 15px/1.5 'DejaVu Sans', Verdana, system-ui, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 32px 0 10px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 16px; margin: 20px 0 6px; }
.sub, .note { color: #555; font-size: 13px; }
.verdict { border-left: 6px solid #888; background: #fafafa; padding: 8px 18px 10px; margin-top: 16px; }
.verdict.beats { border-color: #2ca02c; background: #f1f9f1; }
.verdict.loses { border-color: #d62728; background: #fdf2f2; }
.verdict h2 { border: 0; margin: 6px 0 0; font-size: 14px; text-transform: uppercase; letter-spacing: .06em; color: #555; }
.verdict .headline { font-size: 22px; font-weight: bold; margin: 4px 0 8px; }
.verdict ul { margin: 4px 0; padding-left: 20px; }
.warnings li, .verdict details { color: #8a4b00; }
.verdict summary { cursor: pointer; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 6px 0; font-size: 13.5px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e6e6e6; text-align: left; white-space: nowrap; }
tbody th { font-weight: normal; }
thead th { border-bottom: 2px solid #bbb; vertical-align: bottom; white-space: normal; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.headline { font-weight: bold; background: #eef4fb; }
tr.hindsight { color: #666; background: #f7f7f7; }
table.monthly td { padding: 0; }
.heat { display: block; padding: 4px 8px; }
table.facts td { white-space: normal; word-break: break-all; }
figure.chart { margin: 18px 0; }
figure.chart svg { width: 100%; height: auto; max-width: 1200px; display: block; }
figure.missing p { color: #8a4b00; }
figcaption { font-weight: bold; margin-bottom: 4px; }
.scales > input { margin-left: 12px; }
.scales > div.log, .scales > input.log:checked ~ div.linear { display: none; }
.scales > input.log:checked ~ div.log { display: block; }
pre { background: #f6f6f6; padding: 10px; overflow-x: auto; font-size: 12px; }
code { font-size: 13px; }
article.run { border-top: 3px solid #444; margin-top: 36px; }
@media print { body { background: #fff; } main { max-width: none; padding: 0; } .scales > input, .scales > label { display: none; } }
"#;

/// `<!doctype html>` up to `<main>`, with a policy that lets the page load nothing at all: the
/// only pictures it may show are those written inside it (`data:`, as the weights chart embeds
/// its heat map of hundreds of assets).
fn head(title: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"folio {}\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        env!("CARGO_PKG_VERSION"),
        escape(title)
    )
}

const FOOT: &str = "</main>\n</body>\n</html>\n";

fn describe(run: &Run) -> String {
    format!(
        "{} of {}, {} .. {}",
        run.report.kind.describe(),
        run.folder.display(),
        run.report.from,
        run.report.to
    )
}

/// The page of one run.
pub fn single(run: &Run) -> String {
    let mut out = head(&format!("folio: {}", describe(run)));
    out.push_str(&format!(
        "<header><h1>folio tearsheet</h1><p class=\"sub\">{}</p></header>\n",
        escape(&describe(run))
    ));
    out.push_str(&body(run, "r1"));
    out.push_str(FOOT);
    out
}

/// One run's sections, their ids ending in `id`, in reading order.
fn body(run: &Run, id: &str) -> String {
    let expected = charts::expected(run).join(" ");
    let mut out = format!("<div class=\"run-body\" data-charts=\"{expected}\">\n");
    out.push_str(&verdict::section(run, &format!("verdict-{id}")));
    let heading = if run.report.agent.is_some() { "Agent and baselines" } else { "Policies" };
    out.push_str(&format!("<section id=\"metrics-{id}\">\n<h2>{heading}</h2>\n"));
    out.push_str(&tables::metrics(run));
    out.push_str("</section>\n");
    if let Some(wf) = &run.report.walk_forward {
        out.push_str(&format!(
            "<section id=\"folds-{id}\">\n<h2>Folds and seeds</h2>\n<h3>Folds ({})</h3>\n",
            if wf.has_ensemble() {
                format!("out of sample: the ensemble; in sample: the median seed {}", wf.median_seed)
            } else {
                format!("median seed {}", wf.median_seed)
            }
        ));
        out.push_str(&tables::folds(wf));
        out.push_str("<h3>Seeds: out-of-sample Sharpe ratio</h3>\n");
        out.push_str(&tables::seeds(run, wf));
        out.push_str(&tables::spread(wf));
        out.push_str("</section>\n");
    }
    if let Some(s) = &run.report.cost_sensitivity {
        out.push_str(&format!("<section id=\"costs-{id}\">\n<h2>Costs</h2>\n"));
        out.push_str(&tables::costs(s, run.report.agent.is_some()));
        out.push_str("</section>\n");
    }
    out.push_str(&format!("<section id=\"charts-{id}\">\n<h2>Pictures</h2>\n"));
    out.push_str(&charts::figures(run, id));
    out.push_str("</section>\n");
    out.push_str(&provenance(run, id));
    out.push_str("</div>\n");
    out
}

/// Where the run came from: data, costs, limits, seeds, version, command line, configs.
fn provenance(run: &Run, id: &str) -> String {
    let mut rows: Vec<(Option<&str>, Vec<Cell>)> = vec![
        (None, vec![Cell::text("run"), Cell::text(run.report.kind.describe())]),
        (None, vec![Cell::text("folder"), Cell::text(run.folder.display().to_string())]),
        (
            None,
            vec![
                Cell::text("period"),
                Cell::text(format!(
                    "{} .. {} ({} rows)",
                    run.report.from,
                    run.report.to,
                    run.equity.labels.len()
                )),
            ],
        ),
    ];
    let mut configs: Vec<(&str, &Value)> = Vec::new();
    for (key, value) in &run.report.facts {
        match value {
            Value::Object(_) if key == "limits" || key == "dsr_trials" || key == "costs" => {
                rows.push((None, vec![Cell::text(key.replace('_', " ")), Cell::text(compact(value))]))
            }
            Value::Object(_) | Value::Array(_) if value.to_string().len() > 200 => configs.push((key, value)),
            _ => rows.push((None, vec![Cell::text(key.replace('_', " ")), Cell::text(compact(value))])),
        }
    }
    if let Some(wf) = &run.report.walk_forward {
        let mut seeds: Vec<u64> = wf.folds.iter().flat_map(|f| f.seeds.iter().map(|s| s.seed)).collect();
        seeds.sort_unstable();
        seeds.dedup();
        let seeds: Vec<String> = seeds.iter().map(u64::to_string).collect();
        rows.push((
            None,
            vec![
                Cell::text("seeds"),
                Cell::text(format!("{} (median {})", seeds.join(", "), wf.median_seed)),
            ],
        ));
        configs.push(("walk-forward config", &wf.config));
        configs.push(("training config", &wf.train));
    }
    match &run.provenance {
        Some(p) => {
            rows.push((None, vec![Cell::text("folio version"), Cell::text(&p.folio_version)]));
            rows.push((None, vec![Cell::text("command line"), Cell::text(p.command_line.join(" "))]));
        }
        None => rows.push((
            None,
            vec![Cell::text("command line"), Cell::text("not recorded (no provenance.json in the folder)")],
        )),
    }
    let mut out = format!("<section class=\"provenance\" id=\"provenance-{id}\">\n<h2>Provenance</h2>\n");
    out.push_str(&table("facts", &[], &rows));
    for (name, value) in configs {
        let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
        out.push_str(&format!(
            "<details><summary>{}</summary><pre>{}</pre></details>\n",
            escape(name),
            escape(&pretty)
        ));
    }
    out.push_str("</section>\n");
    out
}

/// A JSON value in one line; strings without their quotes.
fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        v => v.to_string(),
    }
}

/// One page for several runs: a table of their verdicts side by side, then each run in full.
pub fn several(runs: &[Run], provenance: &Provenance) -> String {
    let mut out = head(&format!("folio: {} runs side by side", runs.len()));
    out.push_str(&format!(
        "<header><h1>folio tearsheet: {} runs</h1><p class=\"sub\">built by <code>{}</code></p></header>\n",
        runs.len(),
        escape(&provenance.command_line.join(" "))
    ));
    out.push_str(&comparison(runs));
    for (k, run) in runs.iter().enumerate() {
        let id = format!("r{}", k + 1);
        out.push_str(&format!(
            "<article class=\"run\" id=\"{id}\">\n<h2>Run {}: {}</h2>\n",
            k + 1,
            escape(&describe(run))
        ));
        out.push_str(&body(run, &id));
        out.push_str("</article>\n");
    }
    out.push_str(FOOT);
    out
}

/// Each run's verdict and headline figures in one table.
fn comparison(runs: &[Run]) -> String {
    let header = [
        "run",
        "kind",
        "period",
        "policy",
        "Sharpe",
        "equal-weight Sharpe",
        "CAGR",
        "max drawdown",
        "PSR",
        "DSR",
        "PBO",
        "verdict",
    ];
    let rows: Vec<(Option<&str>, Vec<Cell>)> = runs
        .iter()
        .enumerate()
        .map(|(k, run)| {
            let policy = run.headline();
            let m = policy.and_then(|p| run.metrics(p));
            let get = |f: fn(&crate::metrics::Metrics) -> f64| m.map_or(f64::NAN, f);
            let equal = run.metrics(PolicyId::EQUAL_WEIGHT).map_or(f64::NAN, |e| e.sharpe);
            let wf = run.report.walk_forward.as_ref();
            let dsr = wf.and_then(|w| w.deflated_sharpe.as_ref()).map_or(f64::NAN, |d| d.dsr);
            let pbo = wf.and_then(|w| w.backtest_overfitting.as_ref()).map_or(f64::NAN, |p| p.pbo);
            let link = format!("<a href=\"#r{}\">{}</a>", k + 1, escape(&run.folder.display().to_string()));
            let kind = match run.report.kind {
                Kind::Eval => "eval",
                Kind::WalkForward => "walk-forward",
                Kind::Backtest => "backtest",
            };
            let cells = vec![
                Cell::Html(link),
                Cell::text(kind),
                Cell::text(format!("{} .. {}", run.report.from, run.report.to)),
                Cell::text(policy.map_or("–".into(), |p| p.to_string())),
                Cell::num(number(get(|m| m.sharpe), 2)),
                Cell::num(number(equal, 2)),
                Cell::num(percent(get(|m| m.cagr), 2)),
                Cell::num(percent(get(|m| m.max_drawdown), 1)),
                Cell::num(number(get(|m| m.psr), 3)),
                Cell::num(number(dsr, 3)),
                Cell::num(number(pbo, 3)),
                Cell::text(headline(run).0.word()),
            ];
            (None, cells)
        })
        .collect();
    format!(
        "<section class=\"comparison\">\n<h2>Runs side by side</h2>\n{}</section>\n",
        table("metrics runs", &header, &rows)
    )
}
