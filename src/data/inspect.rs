//! A quick look at a price file: what it holds, over which periods, with which gaps, and how each
//! asset behaved. Backs `folio data inspect`.

use serde::Serialize;

use super::{PricePanel, TimeIndex};
use crate::stats::sample_std;

/// Calendar days between two consecutive rows above which `inspect` reports a gap: a weekend plus
/// a holiday spans at most four days, so five or more suggests missing data.
pub const GAP_DAYS: i64 = 5;

#[derive(Debug, Serialize)]
pub struct Inspection {
    pub source: String,
    pub periods: usize,
    pub first: String,
    pub last: String,
    pub gaps: Vec<Gap>,
    pub assets: Vec<AssetSummary>,
    /// One-day moves that look like data errors rather than markets.
    pub suspicious: Vec<Jump>,
}

/// A one-day price move that looks like a data error: a spike or an unadjusted split.
#[derive(Debug, Clone, Serialize)]
pub struct Jump {
    pub asset: String,
    /// The row whose price jumped.
    pub at: String,
    /// `p[t] / p[t-1]`.
    pub ratio: f64,
    pub why: String,
}

impl std::fmt::Display for Jump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}: price x{:.4} in one period, {}", self.asset, self.at, self.ratio, self.why)
    }
}

/// How many robust standard deviations (1.4826 x the median absolute log return) a one-day move
/// must span to be looked at; genuine crashes of liquid assets stay well inside it.
const JUMP_SIGMAS: f64 = 12.0;
/// The smallest log move taken for a spike when the next period reverses it: a doubling or halving.
const SPIKE: f64 = std::f64::consts::LN_2;
/// Split ratios a price file may have left unadjusted.
const SPLIT_RATIOS: [f64; 7] = [2.0, 3.0, 4.0, 5.0, 8.0, 10.0, 20.0];

/// One-day moves of each asset far outside its own distribution that are either reversed the
/// next period (a spike: a typo, a missing decimal point) or an exact split ratio such as 1/2
/// or 3 (a price not adjusted for a split). Either makes every strategy's figures fiction.
pub fn suspicious_jumps(panel: &PricePanel) -> Vec<Jump> {
    let mut jumps = Vec::new();
    for i in 0..panel.n_assets() {
        let prices = panel.asset_prices(i);
        let rows: Vec<usize> =
            (1..panel.n_periods()).filter(|&t| prices[t].is_finite() && prices[t - 1].is_finite()).collect();
        let returns: Vec<f64> = rows.iter().map(|&t| (prices[t] / prices[t - 1]).ln()).collect();
        let mut absolute: Vec<f64> = returns.iter().map(|r| r.abs()).collect();
        absolute.sort_by(f64::total_cmp);
        let Some(&median) = absolute.get(absolute.len() / 2) else { continue };
        let threshold = (JUMP_SIGMAS * 1.4826 * median).max(0.25);
        let mut after_spike = false;
        for (k, (&t, &r)) in rows.iter().zip(&returns).enumerate() {
            if r.abs() < threshold || std::mem::take(&mut after_spike) {
                continue;
            }
            let ratio = r.exp();
            // Markets do fall by a third and recover in two days (banks in January 2009); only a
            // doubling or halving undone almost exactly the next period is taken for a spike.
            let reversed = r.abs() >= SPIKE
                && returns
                    .get(k + 1)
                    .is_some_and(|&next| rows[k + 1] == t + 1 && (r + next).abs() < 0.25 * r.abs());
            after_spike = reversed;
            // Exact to 0.2%: looser, and real crashes (Apple's -52% in September 2000) match.
            let split = SPLIT_RATIOS.iter().find(|&&s| (r.abs() - s.ln()).abs() < 2e-3);
            let why = match (reversed, split) {
                (true, _) => "reversed the next period: a spike in the data?".to_string(),
                (false, Some(s)) => {
                    format!("an exact {s}:1 ratio: a split the prices are not adjusted for?")
                }
                (false, None) => continue,
            };
            jumps.push(Jump { asset: panel.assets[i].clone(), at: panel.index.label(t), ratio, why });
        }
    }
    jumps
}

#[derive(Debug, Serialize)]
pub struct Gap {
    pub after: String,
    pub before: String,
    pub calendar_days: i64,
}

#[derive(Debug, Serialize)]
pub struct AssetSummary {
    pub name: String,
    pub first: String,
    pub last: String,
    pub periods: usize,
    /// Compound annual growth rate over the asset's own listing: `(p_last / p_first)^(P / n) - 1`.
    pub annual_return: f64,
    /// Sample standard deviation of log returns times `sqrt(P)`.
    pub annual_volatility: f64,
}

pub fn inspect(panel: &PricePanel, periods_per_year: f64) -> Inspection {
    let last_row = panel.n_periods() - 1;
    let gaps = match &panel.index {
        TimeIndex::Dates(dates) => dates
            .windows(2)
            .filter_map(|pair| {
                let days = (pair[1] - pair[0]).num_days();
                (days >= GAP_DAYS).then(|| Gap {
                    after: pair[0].to_string(),
                    before: pair[1].to_string(),
                    calendar_days: days,
                })
            })
            .collect(),
        TimeIndex::Periods(_) => Vec::new(),
    };
    let assets = (0..panel.n_assets())
        .filter_map(|i| {
            let listing = panel.listing(i)?;
            let prices = panel.asset_prices(i);
            let n = listing.last - listing.first;
            let log_returns: Vec<f64> =
                (listing.first + 1..=listing.last).map(|t| (prices[t] / prices[t - 1]).ln()).collect();
            let total = prices[listing.last] / prices[listing.first];
            let annual_return = if n > 0 { total.powf(periods_per_year / n as f64) - 1.0 } else { f64::NAN };
            Some(AssetSummary {
                name: panel.assets[i].clone(),
                first: panel.index.label(listing.first),
                last: panel.index.label(listing.last),
                periods: n + 1,
                annual_return,
                annual_volatility: sample_std(&log_returns) * periods_per_year.sqrt(),
            })
        })
        .collect();
    Inspection {
        source: panel.source.display().to_string(),
        periods: panel.n_periods(),
        first: panel.index.label(0),
        last: panel.index.label(last_row),
        gaps,
        assets,
        suspicious: suspicious_jumps(panel),
    }
}

impl std::fmt::Display for Inspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}: {} assets, {} periods, {} .. {}",
            self.source,
            self.assets.len(),
            self.periods,
            self.first,
            self.last
        )?;
        if self.gaps.is_empty() {
            writeln!(f, "gaps: none (no two consecutive rows {GAP_DAYS} or more calendar days apart)")?;
        } else {
            writeln!(f, "gaps: {} of {GAP_DAYS} or more calendar days", self.gaps.len())?;
            for gap in self.gaps.iter().take(10) {
                writeln!(f, "  {} -> {} ({} days)", gap.after, gap.before, gap.calendar_days)?;
            }
            if self.gaps.len() > 10 {
                writeln!(f, "  ... and {} more", self.gaps.len() - 10)?;
            }
        }
        writeln!(
            f,
            "{:<10} {:>12} {:>12} {:>8} {:>12} {:>12}",
            "asset", "first", "last", "periods", "ann.return", "ann.vol"
        )?;
        let percent = |x: f64| if x.is_finite() { format!("{:.2}%", 100.0 * x) } else { "-".into() };
        for a in &self.assets {
            writeln!(
                f,
                "{:<10} {:>12} {:>12} {:>8} {:>12} {:>12}",
                a.name,
                a.first,
                a.last,
                a.periods,
                percent(a.annual_return),
                percent(a.annual_volatility)
            )?;
        }
        if self.suspicious.is_empty() {
            writeln!(f, "jumps: none that look like data errors")?;
        } else {
            writeln!(
                f,
                "jumps: {} that look like data errors; check them before training",
                self.suspicious.len()
            )?;
            for jump in &self.suspicious {
                writeln!(f, "  {jump}")?;
            }
        }
        if self.assets.iter().any(|a| !a.annual_return.is_finite() || !a.annual_volatility.is_finite()) {
            writeln!(f, "-: too few periods to measure (a return needs two prices, a volatility three)")?;
        }
        Ok(())
    }
}
