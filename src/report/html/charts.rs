//! The pictures of a run as inline SVG figures, each marked with `data-chart` so that a reader's
//! tools (and the browser test) can find it. A chart that cannot be drawn says why in its place.

use super::markup::escape;
use super::run::{Kind, Run};
use super::series::{monthly_returns, returns, rolling, rolling_window};
use super::tables;
use crate::backtest::{BaselineId, PolicyId};
use crate::report::plot::{self, PlotSize, Series};
use crate::report::{ReportError, pictured, pictured_among};

const SIZE: PlotSize = PlotSize { width: 1200, height: 700 };

/// Every picture of the run, in reading order.
pub fn figures(run: &Run, id: &str) -> String {
    let mut out = String::new();
    let title = format!("{} .. {}", run.report.from, run.report.to);
    let drawn = pictured_among(run.equity.columns.iter().filter_map(|(name, _)| name.parse().ok()));
    let series = wealth_series(run, |p| drawn(p) && (!p.is_agent() || Some(p) == run.headline()));
    let labels = &run.equity.labels;
    if run.report.kind == Kind::WalkForward {
        out.push_str(&walk_forward(run));
    }
    out.push_str(&equity(&title, labels, &series, id));
    out.push_str(&figure(
        "drawdown",
        plot::drawdown_svg(&format!("Drawdown, {title}"), labels, &series, SIZE),
    ));
    if let Some(w) = &run.weights {
        let who = if run.report.agent.is_some() {
            "Agent".to_string()
        } else {
            run.headline().map_or("Policy".into(), |p| p.to_string())
        };
        let names: Vec<String> = w.columns.iter().map(|(n, _)| n.clone()).collect();
        let rows: Vec<Vec<f64>> =
            (0..w.labels.len()).map(|i| w.columns.iter().map(|(_, c)| c[i]).collect()).collect();
        let chart = plot::weights_svg(&format!("{who} weights, {title}"), &w.labels, &names, &rows, 8, SIZE);
        out.push_str(&figure("weights", chart));
    }
    let compared = wealth_series(run, |p| Some(p) == run.headline() || p == PolicyId::EQUAL_WEIGHT);
    out.push_str(&rolling_figure(run, &title, &compared));
    out.push_str(&monthly(run));
    let returns: Vec<Series> = compared
        .iter()
        .map(|s| Series { values: returns(&s.values).iter().map(|r| 100.0 * r).collect(), ..s.clone() })
        .collect();
    out.push_str(&figure(
        "distribution",
        plot::distribution_svg(&format!("Returns per period, {title}"), &returns, SIZE),
    ));
    if let Some(costs) = cost_chart(run) {
        out.push_str(&costs);
    }
    out
}

/// The wealth columns of `equity.csv` whose policies `keep` accepts, the headline emphasized.
fn wealth_series(run: &Run, keep: impl Fn(PolicyId) -> bool) -> Vec<Series> {
    let headline = run.headline();
    run.equity
        .columns
        .iter()
        .filter_map(|(name, values)| {
            let policy: PolicyId = name.parse().ok()?;
            keep(policy).then(|| Series {
                name: name.clone(),
                values: values.clone(),
                emphasis: Some(policy) == headline,
            })
        })
        .collect()
}

/// A figure holding an SVG chart, or the reason it could not be drawn.
fn figure(name: &str, svg: Result<String, ReportError>) -> String {
    match svg {
        Ok(svg) => format!("<figure class=\"chart\" data-chart=\"{name}\">\n{svg}</figure>\n"),
        Err(e) => format!(
            "<figure class=\"chart missing\" data-chart=\"{name}\"><p>{}</p></figure>\n",
            escape(&e.to_string())
        ),
    }
}

/// Wealth on a linear and on a log scale, one shown at a time by two radio buttons (CSS only:
/// the page runs no script).
fn equity(title: &str, labels: &[String], series: &[Series], id: &str) -> String {
    let linear = plot::equity_svg(&format!("Wealth, {title}"), labels, series, false, SIZE);
    let log = plot::equity_svg(&format!("Wealth (log scale), {title}"), labels, series, true, SIZE);
    match (linear, log) {
        (Ok(linear), Ok(log)) => format!(
            "<figure class=\"chart scales\" data-chart=\"equity\">\n\
             <input type=\"radio\" name=\"scale-{id}\" id=\"linear-{id}\" class=\"linear\" checked><label for=\"linear-{id}\">linear</label>\
             <input type=\"radio\" name=\"scale-{id}\" id=\"log-{id}\" class=\"log\"><label for=\"log-{id}\">log scale</label>\n\
             <div class=\"linear\">{linear}</div>\n<div class=\"log\">{log}</div>\n</figure>\n"
        ),
        (linear, _) => figure("equity", linear),
    }
}

fn rolling_figure(run: &Run, title: &str, series: &[Series]) -> String {
    let periods_per_year = run.periods_per_year();
    let window = rolling_window(periods_per_year, run.equity.labels.len());
    let (mut sharpe, mut volatility) = (Vec::new(), Vec::new());
    for s in series {
        // Returns start at the second row; the first row has none.
        let (sh, vol) = rolling(&returns(&s.values), window, periods_per_year);
        sharpe.push(Series { values: [vec![f64::NAN], sh].concat(), ..s.clone() });
        volatility.push(Series { values: [vec![f64::NAN], vol].concat(), ..s.clone() });
    }
    let desc = format!("{window} periods");
    let chart = plot::rolling_svg(
        &format!("Rolling Sharpe ratio and volatility, {title}"),
        &run.equity.labels,
        &sharpe,
        &volatility,
        &desc,
        PlotSize { width: 1200, height: 760 },
    );
    figure("rolling", chart)
}

/// The headline policy's monthly returns, or why there are none.
fn monthly(run: &Run) -> String {
    let Some(headline) = run.headline() else { return String::new() };
    let Some(wealth) = run.wealth(headline) else { return String::new() };
    match monthly_returns(&run.equity.labels, wealth) {
        Some(rows) => tables::monthly(&headline.to_string(), &rows),
        None => "<p class=\"note\">No monthly returns: the market is undated (its rows are periods, not dates).</p>\n".into(),
    }
}

fn walk_forward(run: &Run) -> String {
    let Some(wf) = &run.report.walk_forward else { return String::new() };
    let series = wealth_series(run, pictured);
    let title = "Walk-forward: stitched out-of-sample wealth";
    figure("walk-forward", plot::walk_forward_svg(title, &run.equity.labels, &series, &wf.test_spans, SIZE))
}

/// CAGR against costs, for the policies the PNG shows: in an evaluation the agent and three
/// common baselines, in a walk-forward every policy it reports.
fn cost_chart(run: &Run) -> Option<String> {
    let s = run.report.cost_sensitivity.as_ref()?;
    let common =
        [BaselineId::EqualWeight, BaselineId::BuyAndHold, BaselineId::MinVariance].map(PolicyId::Baseline);
    let groups: Vec<(String, Vec<f64>)> = s
        .cagr
        .iter()
        .filter(|(id, _)| run.report.kind == Kind::WalkForward || id.is_agent() || common.contains(id))
        .map(|(id, cagr)| (id.to_string(), cagr.iter().map(|c| 100.0 * c.unwrap_or(f64::NAN)).collect()))
        .collect();
    let categories: Vec<String> = s.costs_bp.iter().map(|bp| format!("{bp} bp")).collect();
    let title = format!("CAGR against trading costs, {} .. {}", run.report.from, run.report.to);
    let chart =
        plot::bars_svg(&title, ("cost per trade (buys and sells)", "CAGR (%)"), &categories, &groups, SIZE);
    Some(figure("costs", chart))
}

/// The charts a page of `run` shows, by `data-chart` name: what a reader (or a test) should
/// find.
pub fn expected(run: &Run) -> Vec<&'static str> {
    let mut names = Vec::new();
    if run.report.kind == Kind::WalkForward {
        names.push("walk-forward");
    }
    names.extend(["equity", "drawdown"]);
    if run.weights.is_some() {
        names.push("weights");
    }
    names.push("rolling");
    if run
        .headline()
        .and_then(|h| run.wealth(h))
        .is_some_and(|w| monthly_returns(&run.equity.labels, w).is_some())
    {
        names.push("monthly");
    }
    names.push("distribution");
    if run.report.cost_sensitivity.is_some() {
        names.push("costs");
    }
    names
}
