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
        if self.assets.iter().any(|a| !a.annual_return.is_finite() || !a.annual_volatility.is_finite()) {
            writeln!(f, "-: too few periods to measure (a return needs two prices, a volatility three)")?;
        }
        Ok(())
    }
}
