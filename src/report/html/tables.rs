//! The page's tables: metrics of every policy, walk-forward folds and seeds, the spread across
//! seeds, cost sensitivity, and monthly returns.

use super::markup::{Cell, escape, number, percent, table};
use super::run::{PolicyRow, Run, Sensitivity, WalkForward};
use super::series::YearRow;
use crate::metrics::Spread;

/// Every policy's figures over the whole period, after costs: the agents first, hindsight
/// benchmarks marked.
pub fn metrics(run: &Run) -> String {
    let walk_forward = run.report.walk_forward.is_some();
    let mut header = vec![
        "policy",
        "final wealth",
        "CAGR",
        "volatility",
        "Sharpe",
        "PSR",
        "min TRL",
        "Sortino",
        "Calmar",
        "max drawdown",
        "turnover",
        "cost drag",
    ];
    if walk_forward {
        header.push("in-sample Sharpe");
    }
    let rows: Vec<(Option<&str>, Vec<Cell>)> = run
        .report
        .policies
        .iter()
        .map(|p| {
            let class = if Some(p.policy) == run.headline() {
                Some("headline")
            } else if p.policy.uses_hindsight() {
                Some("hindsight")
            } else {
                None
            };
            (class, metrics_row(p, walk_forward))
        })
        .collect();
    let mut out = table("metrics", &header, &rows);
    out.push_str(
        "<p class=\"note\">After costs. PSR: probability that the true Sharpe ratio is above zero; \
         min TRL: periods of returns such a track record needs for 95% confidence (Bailey and López de Prado 2012); \
         turnover: mean per decision; cost drag: costs as a yearly loss of return. \
         Hindsight benchmarks (shaded) chose with knowledge of the whole period and cannot be traded.</p>\n",
    );
    out
}

fn metrics_row(p: &PolicyRow, walk_forward: bool) -> Vec<Cell> {
    let m = &p.metrics;
    let mut cells = vec![
        Cell::text(p.policy.to_string()),
        Cell::num(number(m.final_wealth, 3)),
        Cell::num(percent(m.cagr, 2)),
        Cell::num(percent(m.annual_volatility, 2)),
        Cell::num(number(m.sharpe, 2)),
        Cell::num(number(m.psr, 3)),
        Cell::num(m.min_track_record.map_or("–".into(), |t| number(t.ceil(), 0))),
        Cell::num(number(m.sortino, 2)),
        Cell::num(number(m.calmar, 2)),
        Cell::num(percent(m.max_drawdown, 1)),
        Cell::num(number(m.mean_turnover, 3)),
        Cell::num(percent(m.annual_cost_drag, 2)),
    ];
    if walk_forward {
        cells.push(Cell::num(p.in_sample_sharpe.map_or("–".into(), |s| number(s, 2))));
    }
    cells
}

/// Each fold's periods and the median seed's Sharpe ratios beside equal weight's.
pub fn folds(wf: &WalkForward) -> String {
    let header = [
        "fold",
        "train",
        "validation",
        "test",
        "in-sample Sharpe",
        "out-of-sample Sharpe",
        "out-of-sample PSR",
        "equal-weight Sharpe",
        "beats equal weight",
    ];
    let rows: Vec<(Option<&str>, Vec<Cell>)> = wf
        .folds
        .iter()
        .enumerate()
        .map(|(k, f)| {
            let seed = f.seed(wf.median_seed);
            let agent = wf.headline_sharpe(f);
            let equal = f.equal_weight().map_or(f64::NAN, |e| e.sharpe);
            let span = |(a, b): &(String, String)| Cell::text(format!("{a} .. {b}"));
            let beats = if agent > equal { "yes" } else { "no" };
            (
                None,
                vec![
                    Cell::text((k + 1).to_string()),
                    span(&f.train),
                    span(&f.validation),
                    span(&f.test),
                    Cell::num(number(seed.map_or(f64::NAN, |s| s.in_sample.sharpe), 2)),
                    Cell::num(number(agent, 2)),
                    Cell::num(number(
                        f.ensemble.as_ref().map_or(seed.map_or(f64::NAN, |s| s.out_of_sample.psr), |e| e.psr),
                        3,
                    )),
                    Cell::num(number(equal, 2)),
                    Cell::text(beats),
                ],
            )
        })
        .collect();
    table("folds", &header, &rows)
}

/// Each seed's out-of-sample Sharpe ratio in each fold, and over the stitched test periods.
pub fn seeds(run: &Run, wf: &WalkForward) -> String {
    let mut seeds: Vec<u64> = wf.folds.iter().flat_map(|f| f.seeds.iter().map(|s| s.seed)).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let fold_names: Vec<String> = (1..=wf.folds.len()).map(|k| format!("fold {k}")).collect();
    let mut header = vec!["seed"];
    header.extend(fold_names.iter().map(String::as_str));
    header.push("stitched");
    let rows: Vec<(Option<&str>, Vec<Cell>)> = seeds
        .iter()
        .map(|&seed| {
            let mut cells = vec![Cell::text(seed.to_string())];
            for f in &wf.folds {
                cells.push(Cell::num(number(f.seed(seed).map_or(f64::NAN, |s| s.out_of_sample.sharpe), 2)));
            }
            let stitched = run.metrics(crate::backtest::PolicyId::Agent { seed: Some(seed) });
            cells.push(Cell::num(number(stitched.map_or(f64::NAN, |m| m.sharpe), 2)));
            let class = (seed == wf.median_seed).then_some("headline");
            (class, cells)
        })
        .collect();
    table("seeds", &header, &rows)
}

/// Median, interquartile range and range of the agents' stitched figures across seeds.
pub fn spread(wf: &WalkForward) -> String {
    let s = &wf.seed_spread;
    let rows: Vec<(Option<&str>, Vec<Cell>)> = [
        ("Sharpe", s.sharpe, false),
        ("CAGR", s.cagr, true),
        ("max drawdown", s.max_drawdown, true),
        ("final wealth", s.final_wealth, false),
    ]
    .into_iter()
    .filter_map(|(name, spread, pct)| spread.map(|sp| (None, spread_row(name, sp, pct))))
    .collect();
    table("spread", &["across seeds", "median", "lower quartile", "upper quartile", "min", "max"], &rows)
}

fn spread_row(name: &str, s: Spread, pct: bool) -> Vec<Cell> {
    let cell = |v: f64| Cell::num(if pct { percent(v, 2) } else { number(v, 3) });
    vec![Cell::text(name), cell(s.median), cell(s.q1), cell(s.q3), cell(s.min), cell(s.max)]
}

/// Each policy's CAGR across cost rates, and the agent's break-even cost.
pub fn costs(s: &Sensitivity, has_agent: bool) -> String {
    let names: Vec<String> = s.costs_bp.iter().map(|bp| format!("{} bp", number(*bp, 0))).collect();
    let mut header = vec!["CAGR at cost per trade"];
    header.extend(names.iter().map(String::as_str));
    let rows: Vec<(Option<&str>, Vec<Cell>)> = s
        .cagr
        .iter()
        .map(|(policy, cagr)| {
            let mut cells = vec![Cell::text(policy.to_string())];
            cells.extend(cagr.iter().map(|c| Cell::num(percent(c.unwrap_or(f64::NAN), 2))));
            (policy.is_agent().then_some("headline"), cells)
        })
        .collect();
    let mut out = table("costs", &header, &rows);
    if has_agent {
        out.push_str(&format!("<p class=\"note\">Break-even: {}.</p>\n", escape(&s.break_even.to_string())));
    }
    out
}

/// Calendar-month returns as a table whose cells are shaded green for gains and red for losses.
pub fn monthly(policy: &str, rows: &[YearRow]) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let scale = rows.iter().flat_map(|r| r.months.iter().flatten()).fold(1.0_f64, |m, v| m.max(v.abs()));
    let shade = |v: f64| {
        let a = (v.abs() / scale).min(1.0) * 0.55;
        let (r, g, b) = if v >= 0.0 { (44, 160, 44) } else { (214, 39, 40) };
        Cell::NumberHtml(format!(
            "<span class=\"heat\" style=\"background:rgba({r},{g},{b},{a:.2})\">{}</span>",
            number(v, 1)
        ))
    };
    let mut header = vec!["year"];
    header.extend(MONTHS);
    header.push("year");
    let body: Vec<(Option<&str>, Vec<Cell>)> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![Cell::text(r.year.to_string())];
            cells.extend(r.months.iter().map(|m| m.map_or(Cell::num(""), shade)));
            cells.push(Cell::num(number(r.total, 1)));
            (None, cells)
        })
        .collect();
    let mut out = format!(
        "<figure class=\"chart\" data-chart=\"monthly\"><figcaption>Monthly returns of {} (%)</figcaption>\n",
        escape(policy)
    );
    out.push_str(&table("monthly", &header, &body));
    out.push_str("</figure>\n");
    out
}
