//! The verdict in plain words: does the agent beat equal weight out of sample, after costs, and
//! how sure can one be (PSR, and for a walk-forward DSR and PBO). A loss is said plainly.

use super::markup::{escape, number, percent};
use super::run::{Kind, Run};
use crate::backtest::PolicyId;
use crate::metrics::Metrics;
use crate::metrics::sharpe_difference::Standing;

/// How the headline comes out, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Beats,
    /// Ahead of equal weight by a gap within noise: no edge shown.
    Ahead,
    /// The same Sharpe ratio as equal weight (an agent that deploys it).
    Matches,
    Loses,
    /// Nothing to compare: no agent, or no equal-weight portfolio.
    Alone,
}

impl Outcome {
    fn class(self) -> &'static str {
        match self {
            Outcome::Beats => "beats",
            Outcome::Loses => "loses",
            Outcome::Ahead | Outcome::Matches | Outcome::Alone => "alone",
        }
    }

    /// One word for the table of several runs.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Beats => "beats equal weight",
            Outcome::Ahead => "ahead of equal weight, within noise",
            Outcome::Matches => "matches equal weight",
            Outcome::Loses => "does not beat equal weight",
            Outcome::Alone => "no comparison",
        }
    }
}

/// The headline sentence and whether the agent won.
pub fn headline(run: &Run) -> (Outcome, String) {
    let equal = run.metrics(PolicyId::EQUAL_WEIGHT);
    let agent = run.report.agent.and_then(|a| run.metrics(a).map(|m| (a, m)));
    let in_sample = run.report.in_sample;
    let when = if in_sample { "on a period it was trained or selected on" } else { "out of sample" };
    match (agent, equal) {
        (Some((id, a)), Some(e)) => {
            let who = match id {
                PolicyId::Agent { seed: Some(seed) } if run.report.kind == Kind::WalkForward => {
                    format!("The agent (seed {seed}, the median seed)")
                }
                _ => "The agent".into(),
            };
            let edge = run.report.edge_over_equal_weight.as_ref();
            match Standing::of(a.sharpe, e.sharpe, edge) {
                Standing::Matches => (
                    Outcome::Matches,
                    format!(
                        "{who} matches equal weight {when}, after costs: the Sharpe ratios are the same."
                    ),
                ),
                Standing::Ahead if edge.is_none() => (
                    Outcome::Ahead,
                    format!(
                        "{who} is ahead of equal weight {when}, after costs, by a gap too short to test."
                    ),
                ),
                Standing::Ahead => (
                    Outcome::Ahead,
                    format!("{who} is ahead of equal weight {when}, after costs, by a gap within noise."),
                ),
                Standing::Beats => (Outcome::Beats, format!("{who} beats equal weight {when}, after costs.")),
                Standing::Behind => {
                    (Outcome::Loses, format!("{who} does not beat equal weight {when}, after costs."))
                }
            }
        }
        (Some((_, a)), None) => (
            Outcome::Alone,
            format!(
                "The agent's Sharpe ratio is {} {when}, after costs; there is no equal-weight portfolio to compare with.",
                number(a.sharpe, 2)
            ),
        ),
        (None, _) => (Outcome::Alone, no_agent(run)),
    }
}

fn no_agent(run: &Run) -> String {
    match &run.report.policies[..] {
        [] => "This run holds no policy.".into(),
        [one] => format!(
            "One policy, {}: Sharpe ratio {}, CAGR {} after costs. There is no agent in this run.",
            one.policy,
            number(one.metrics.sharpe, 2),
            percent(one.metrics.cagr, 1)
        ),
        all => {
            let causal = all.iter().filter(|p| !p.policy.uses_hindsight() && p.metrics.sharpe.is_finite());
            let best = causal.max_by(|a, b| a.metrics.sharpe.total_cmp(&b.metrics.sharpe));
            let best = best.map(|b| {
                format!(
                    " The highest Sharpe ratio without hindsight is {}'s, {}.",
                    b.policy,
                    number(b.metrics.sharpe, 2)
                )
            });
            format!(
                "No agent in this run: {} rule-based strategies after costs.{}",
                all.len(),
                best.unwrap_or_default()
            )
        }
    }
}

/// The verdict section: the headline, the figures behind it, the run's own verdict and its
/// warnings.
pub fn section(run: &Run, id: &str) -> String {
    let (outcome, text) = headline(run);
    let mut out = format!(
        "<section class=\"verdict {}\" id=\"{id}\">\n<h2>Verdict</h2>\n<p class=\"headline\">{}</p>\n<ul>\n",
        outcome.class(),
        escape(&text)
    );
    for line in evidence(run) {
        out.push_str(&format!("<li>{line}</li>\n"));
    }
    out.push_str("</ul>\n");
    if let Some(v) = &run.report.verdict {
        out.push_str(&format!("<p class=\"run-verdict\">In the report's words: {}</p>\n", escape(v)));
    }
    out.push_str(&warnings(&run.report.warnings));
    out.push_str("</section>\n");
    out
}

/// The warnings in a list; past a few, the rest folded away so that the verdict stays in view.
fn warnings(warnings: &[String]) -> String {
    const SHOWN: usize = 3;
    let item = |w: &String| format!("<li>Warning: {}</li>\n", escape(w));
    if warnings.is_empty() {
        return String::new();
    }
    let mut out = String::from("<ul class=\"warnings\">\n");
    warnings.iter().take(SHOWN).for_each(|w| out.push_str(&item(w)));
    out.push_str("</ul>\n");
    if warnings.len() > SHOWN {
        let more = warnings.len() - SHOWN;
        out.push_str(&format!("<details><summary>{more} more warnings</summary><ul class=\"warnings\">\n"));
        warnings.iter().skip(SHOWN).for_each(|w| out.push_str(&item(w)));
        out.push_str("</ul></details>\n");
    }
    out
}

/// The figures behind the headline, each as one line of HTML.
fn evidence(run: &Run) -> Vec<String> {
    let mut lines = Vec::new();
    let equal = run.metrics(PolicyId::EQUAL_WEIGHT);
    let Some(headline) = run.headline() else { return lines };
    let Some(m) = run.metrics(headline) else { return lines };
    let name = escape(&headline.to_string());
    if let Some(e) = equal.filter(|_| headline != PolicyId::EQUAL_WEIGHT) {
        let sharpe = apart(m.sharpe, e.sharpe);
        lines.push(format!(
            "Sharpe ratio <b>{}</b> against equal weight's <b>{}</b>; CAGR {} against {}; maximum drawdown {} against {}.",
            sharpe.0,
            sharpe.1,
            percent(m.cagr, 1),
            percent(e.cagr, 1),
            percent(m.max_drawdown, 1),
            percent(e.max_drawdown, 1)
        ));
    }
    if let Some(edge) = &run.report.edge_over_equal_weight {
        lines.push(if edge.negligible() {
            format!("The two Sharpe ratios are the same: a gap of {}.", escape(&edge.describe()))
        } else {
            format!(
                "The gap between the two Sharpe ratios is {}: a paired test on the same periods that allows for fat tails and serial dependence.",
                escape(&edge.describe())
            )
        });
    }
    lines.push(psr_line(&name, m, equal.filter(|_| headline != PolicyId::EQUAL_WEIGHT)));
    if let Some(wf) = &run.report.walk_forward {
        let beaten = wf
            .folds
            .iter()
            .filter(|f| f.equal_weight().is_some_and(|e| wf.headline_sharpe(f) > e.sharpe))
            .count();
        let who = if wf.has_ensemble() { "The ensemble" } else { "The median seed" };
        lines.push(format!(
            "{who} beat equal weight's Sharpe ratio in {beaten} of {}.",
            crate::report::count(wf.folds.len(), "test fold")
        ));
        lines.push(match &wf.deflated_sharpe {
            Some(d) => format!(
                "Deflated Sharpe Ratio <b>{}</b> over {}: the probability that the headline agent's true Sharpe ratio is above the best that luck alone gives that many trials.",
                number(d.dsr, 3),
                crate::report::count(d.trials, "trial")
            ),
            None => "Deflated Sharpe Ratio: not available (too few trials with a Sharpe ratio).".into(),
        });
        lines.push(match &wf.backtest_overfitting {
            Some(p) => format!(
                "Probability of backtest overfitting <b>{}</b>: how often the seed that looked best in sample fell below the median out of sample (CSCV over the seeds){}.",
                number(p.pbo, 3),
                p.configs.map_or(String::new(), |n| format!(
                    "; {n} seeds of equal skill would give {} on average",
                    number(crate::metrics::overfitting::pbo_without_skill(n), 2)
                ))
            ),
            None => format!(
                "Probability of backtest overfitting: not available ({}).",
                wf.backtest_overfitting_unavailable.as_deref().unwrap_or("it needs at least two seeds")
            ),
        });
    } else if run.report.kind == Kind::Eval {
        lines.push("DSR and PBO need many trials of the same strategy: <code>folio walk-forward</code> reports them.".into());
    }
    if let Some(s) = &run.report.cost_sensitivity
        && run.report.agent.is_some()
    {
        lines.push(format!("Costs: {}.", escape(&s.break_even.to_string())));
    }
    lines
}

/// Two numbers with the fewest decimals (two to four) that tell them apart, so that a loss by
/// 0.001 does not read as a tie.
fn apart(a: f64, b: f64) -> (String, String) {
    let mut decimals = 2;
    while decimals < 4 && number(a, decimals) == number(b, decimals) {
        decimals += 1;
    }
    (number(a, decimals), number(b, decimals))
}

fn psr_line(name: &str, m: &Metrics, equal: Option<&Metrics>) -> String {
    let compare = equal.map(|e| format!(" (equal weight's: {})", number(e.psr, 3))).unwrap_or_default();
    format!(
        "Probabilistic Sharpe Ratio of {name}: <b>{}</b>{compare}, the probability that its true Sharpe ratio is above zero given {} periods of returns, their skewness and kurtosis.",
        number(m.psr, 3),
        m.periods
    )
}
