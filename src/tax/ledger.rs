//! A share-level replay of a policy's decisions: the target weights it chose at each decision
//! become trades in shares, purchases become tax lots, sales realize gains, each calendar year's
//! tax is paid from the portfolio, and at the end everything is sold to measure after-tax wealth.
//!
//! Timing follows the environment's: at a decision at the close of row `t` the portfolio trades
//! at the prices of `t` from its drifted holdings to the target, paying the same transaction
//! remainder factor `mu` ([`CostConfig::remainder_factor`]), then holds its shares until the next
//! decision. Without taxes this is the weight-based backtest in shares, and its wealth matches it
//! to rounding (a test holds it to 1e-9).
//!
//! Taxes: the tax of year `Y` is netted by [`net_year`] and paid at the first decision on or
//! after the config's payment date in `Y + 1` (15 April by default), as a withdrawal that the
//! same trade to the target funds, so the weights stay the policy's and the sales go through the
//! lot method. Each decision's trading cost `V (1 - mu)` is split over its trades in proportion
//! to what Jiang et al.'s bookkeeping charges each (`c_s` of a sale's value, `c_p / (1 - c_p)` of
//! a purchase's): exactly those amounts under the exact cost model, scaled to `V (1 - mu)` under
//! the proportional one. Sale fees reduce the amount realized and purchase fees add to the basis.
//!
//! The policy's target weights are replayed as it chose them on the pre-tax path. Paying taxes
//! sells pro rata and leaves the weights as they were, so a policy that reads its own weights
//! (buy and hold, the agent's observation) would have chosen the same targets, up to the
//! departures that harvesting makes while a wash-sale window is open.

use chrono::{Datelike, NaiveDate};
use ndarray::s;
use serde::Serialize;

use super::TaxError;
use super::config::TaxConfig;
use super::harvest::{harvestable_lots, most_correlated};
use super::lots::{LedgerEntry, LotBook, LotRules, Reason};
use super::netting::{Carryforward, TermGains, YearTax, net_year};
use crate::backtest::BacktestLog;
use crate::data::{PricePanel, TimeIndex};
use crate::env::{CostConfig, validate_action};

/// Iterations of the fixed point between `mu` and the weight that holds a blocked asset's
/// shares unchanged; each shrinks the error by about the cost rate.
const HOLD_ITERATIONS: usize = 6;

/// A trade smaller than this fraction of the portfolio is rounding, not a decision.
const NEGLIGIBLE_TRADE: f64 = 1e-12;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// No taxes: the weight-based backtest in shares.
    PreTax,
    /// Taxes paid every year and at the end.
    AfterTax,
    /// Taxes, and tax-loss harvesting.
    Harvesting,
}

/// An asset the harvester sold at a loss: not bought again until the window has passed, its
/// place held by `replacement`.
#[derive(Debug, Clone, Copy)]
struct Block {
    since: NaiveDate,
    replacement: usize,
}

/// What a ledger replay measured.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerRun {
    pub mode: Mode,
    /// Portfolio value at the close of each row of the backtest log, after the taxes paid so far.
    #[serde(skip)]
    pub values: Vec<f64>,
    /// Wealth at the end, still invested, with the taxes paid along the way taken out.
    pub wealth: f64,
    /// Tax due on the gains realized by the end but not yet paid.
    pub tax_owed: f64,
    /// `wealth - tax_owed`: after-tax wealth if nothing more were sold.
    pub after_tax_wealth_held: f64,
    /// Cash after selling everything at the last close (paying its costs) and every tax due.
    pub after_tax_wealth_liquidated: f64,
    /// Taxes paid during the run, before the end.
    pub taxes_paid: f64,
    /// All taxes, the liquidation's included.
    pub taxes_total: f64,
    /// Net gains realized over the whole run, liquidation included, after wash sales.
    pub realized: TermGains,
    /// Losses realized by harvesting sales (positive), how many lots they sold, and how often the
    /// policy wanted to buy an asset the wash-sale window kept it from.
    pub harvested_losses: f64,
    pub harvested_lots: usize,
    pub rebuys_blocked: usize,
    /// Purchases that washed a loss, and the losses they disallowed (added to the basis).
    pub wash_sales: usize,
    pub disallowed_losses: f64,
    /// Trading costs paid, liquidation excluded (as in the backtest).
    pub costs: f64,
    /// Each year's netting and tax, the last settled at the liquidation.
    pub years: Vec<YearTax>,
    /// Every trade, the liquidation's included.
    #[serde(skip)]
    pub entries: Vec<LedgerEntry>,
}

/// Years settled so far and the losses they carry forward.
#[derive(Debug, Clone)]
struct TaxYears {
    next: i32,
    carry: Carryforward,
    settled: Vec<YearTax>,
}

impl TaxYears {
    /// Settle every year before `last_year` inclusive that is still open; returns their tax.
    fn settle_through(&mut self, last_year: i32, book: &LotBook, tax: &TaxConfig) -> f64 {
        let mut due = 0.0;
        while self.next <= last_year {
            let realized = book.realized().get(&self.next).copied().unwrap_or_default();
            let year = net_year(self.next, realized, self.carry, tax.short_term_rate, tax.long_term_rate);
            self.carry = year.carried_out;
            due += year.tax;
            self.settled.push(year);
            self.next += 1;
        }
        due
    }
}

/// Replay `log`'s decisions on `panel` (the market the backtest ran on) in shares.
pub fn replay(
    panel: &PricePanel,
    log: &BacktestLog,
    costs: CostConfig,
    tax: &TaxConfig,
    mode: Mode,
) -> Result<LedgerRun, TaxError> {
    let TimeIndex::Dates(dates) = &panel.index else {
        return Err(TaxError::Undated { path: panel.source.clone() });
    };
    let n = panel.n_assets();
    let (Some(&first_row), Some(&end_row)) = (log.rows.first(), log.rows.last()) else {
        return Err(TaxError::Invalid(format!("{}: the backtest log is empty", log.policy)));
    };
    if end_row >= panel.n_periods() || log.decision_rows.len() != log.weights.len() {
        return Err(TaxError::Invalid(format!(
            "{}: the backtest log does not fit the price panel",
            log.policy
        )));
    }
    for (&row, weights) in log.decision_rows.iter().zip(&log.weights) {
        if weights.len() != n + 1 {
            return Err(TaxError::Invalid(format!(
                "{} at {}: {} weights for cash and {n} assets",
                log.policy,
                dates[row],
                weights.len()
            )));
        }
        validate_action(weights)
            .map_err(|reason| TaxError::Invalid(format!("{} at {}: {reason}", log.policy, dates[row])))?;
    }
    let harvest = &tax.harvest;
    let rules = LotRules {
        method: tax.lot_method,
        long_term_days: tax.long_term_days,
        wash_sale_days: harvest.wash_sale_days,
    };
    let mut book = LotBook::new(n, rules);
    let mut years =
        TaxYears { next: dates[first_row].year(), carry: Carryforward::default(), settled: Vec::new() };
    let mut blocks: Vec<Option<Block>> = vec![None; n];
    let mut cash = 1.0;
    let mut values = vec![1.0];
    let (mut taxes_paid, mut costs_paid, mut harvested_losses) = (0.0, 0.0, 0.0);
    let (mut harvested_lots, mut rebuys_blocked) = (0usize, 0usize);

    for (k, (&row, target)) in log.decision_rows.iter().zip(&log.weights).enumerate() {
        let date = dates[row];
        let prices = panel.prices.row(row);
        let tax_due = match mode {
            Mode::PreTax => 0.0,
            Mode::AfterTax | Mode::Harvesting => {
                let mut due = 0.0;
                while years.next < date.year()
                    && date >= tax.payment_day(years.next + 1).map_err(TaxError::Invalid)?
                {
                    due += years.settle_through(years.next, &book, tax);
                }
                due
            }
        };
        let holdings: Vec<f64> = (0..n).map(|i| book.shares(i) * prices[i]).collect();
        let value = cash + holdings.iter().sum::<f64>();
        let available = value - tax_due;
        if !(available > 0.0) {
            return Err(TaxError::Invalid(format!(
                "{} at {date}: the tax due ({tax_due:.6}) exceeds the portfolio's value ({value:.6})",
                log.policy
            )));
        }
        let mut drifted = Vec::with_capacity(n + 1);
        drifted.push((cash - tax_due) / available);
        drifted.extend(holdings.iter().map(|h| h / available));

        // Harvest: the losing lots of assets not bought in the last window, each with the most
        // correlated asset outside any window to hold its place.
        let mut harvest_lots: Vec<Vec<usize>> = vec![Vec::new(); n];
        if mode == Mode::Harvesting {
            let window_days = i64::from(harvest.wash_sale_days);
            for block in blocks.iter_mut() {
                if block.is_some_and(|b| (date - b.since).num_days() > window_days) {
                    *block = None;
                }
            }
            let candidates: Vec<(usize, Vec<usize>)> = (0..n)
                .map(|a| (a, harvestable_lots(&book, a, prices[a], date, harvest)))
                .filter(|(_, lots)| !lots.is_empty())
                .collect();
            let known = panel.prices.slice(s![..=row, ..]);
            // One replacement per harvested asset, never one already standing in for another:
            // pairing keeps a sell-off, when many assets are harvested within weeks, from piling
            // their weights onto the few assets left free.
            let mut excluded: Vec<bool> = (0..n)
                .map(|j| {
                    blocks[j].is_some()
                        || blocks.iter().flatten().any(|b| b.replacement == j)
                        || candidates.iter().any(|(a, _)| *a == j)
                })
                .collect();
            for (asset, lots) in candidates {
                if let Some(replacement) =
                    most_correlated(known, asset, harvest.correlation_window, |j| !excluded[j])
                {
                    excluded[replacement] = true;
                    harvested_lots += lots.len();
                    harvest_lots[asset] = lots;
                    blocks[asset] = Some(Block { since: date, replacement });
                }
            }
        }
        let harvested_value: Vec<f64> = (0..n)
            .map(|a| {
                book.lots(a)
                    .iter()
                    .filter(|l| harvest_lots[a].contains(&l.id))
                    .map(|l| l.shares * prices[a])
                    .sum()
            })
            .collect();

        // The target, with every blocked asset held at no more than what it keeps and the excess
        // moved to its replacement (or to cash when no replacement is free).
        let mut effective = target.clone();
        let mut mu = costs.remainder_factor(&drifted, &effective);
        for _ in 0..HOLD_ITERATIONS {
            effective.clone_from(target);
            for asset in (0..n).filter(|&a| blocks[a].is_some()) {
                let cap = (holdings[asset] - harvested_value[asset]) / (available * mu);
                if target[asset + 1] > cap {
                    let destination = match blocks[asset] {
                        Some(b) if blocks[b.replacement].is_none() => b.replacement + 1,
                        _ => most_correlated(
                            panel.prices.slice(s![..=row, ..]),
                            asset,
                            harvest.correlation_window,
                            |j| blocks[j].is_none(),
                        )
                        .map_or(0, |j| j + 1),
                    };
                    effective[destination] += target[asset + 1] - cap;
                    effective[asset + 1] = cap;
                }
            }
            mu = costs.remainder_factor(&drifted, &effective);
        }
        rebuys_blocked += (0..n)
            .filter(|&a| {
                blocks[a].is_some_and(|b| b.since < date)
                    && target[a + 1] * available * mu > holdings[a] * (1.0 + 1e-9)
            })
            .count();

        // Trades in value, and each one's share of the cost V (1 - mu).
        let mut deltas: Vec<f64> = (0..n)
            .map(|a| {
                let delta = effective[a + 1] * available * mu - holdings[a];
                let blocked_buy = blocks[a].is_some() && delta > 0.0;
                if delta.abs() <= NEGLIGIBLE_TRADE * value || blocked_buy { 0.0 } else { delta }
            })
            .collect();
        for a in 0..n {
            if !harvest_lots[a].is_empty() {
                deltas[a] = deltas[a].min(-harvested_value[a]);
            }
        }
        let charged: Vec<f64> = deltas
            .iter()
            .map(|&d| if d < 0.0 { costs.sell * -d } else { costs.buy * d / (1.0 - costs.buy) })
            .collect();
        let total_charged: f64 = charged.iter().sum();
        let cost = available * (1.0 - mu);
        let scale = if total_charged > 0.0 { cost / total_charged } else { 0.0 };
        let fees: Vec<f64> = charged.iter().map(|c| c * scale).collect();

        cash -= tax_due;
        taxes_paid += tax_due;
        for a in (0..n).filter(|&a| deltas[a] < 0.0) {
            let mut shares = -deltas[a] / prices[a];
            let mut fee = fees[a];
            if !harvest_lots[a].is_empty() {
                let harvest_shares = harvested_value[a] / prices[a];
                let harvest_fee = fee * harvest_shares / shares;
                let sale = book.sell(
                    a,
                    date,
                    harvest_shares,
                    prices[a],
                    harvest_fee,
                    Reason::Harvest,
                    &harvest_lots[a],
                );
                harvested_losses -= sale.gain;
                cash += sale.cash;
                shares -= harvest_shares;
                fee -= harvest_fee;
            }
            if shares > 0.0 {
                cash += book.sell(a, date, shares, prices[a], fee, Reason::Rebalance, &[]).cash;
            }
        }
        for a in (0..n).filter(|&a| deltas[a] > 0.0) {
            cash -= book.buy(a, date, deltas[a] / prices[a], prices[a], fees[a], Reason::Rebalance);
        }
        costs_paid += fees.iter().sum::<f64>();

        let next_row = log.decision_rows.get(k + 1).copied().unwrap_or(end_row);
        let shares: Vec<f64> = (0..n).map(|a| book.shares(a)).collect();
        for t in row + 1..=next_row {
            let held: f64 = shares.iter().enumerate().map(|(a, s)| s * panel.prices[[t, a]]).sum();
            values.push(cash + held);
        }
    }

    let end = dates[end_row];
    let wealth = *values.last().expect("values start at 1");
    let tax_owed = match mode {
        Mode::PreTax => 0.0,
        _ => years.clone().settle_through(end.year(), &book, tax),
    };
    // Liquidate: sell every lot at the last close, paying the sale rate, then every tax due.
    let mut proceeds = cash;
    for a in 0..n {
        let shares = book.shares(a);
        if shares > 0.0 {
            let price = panel.prices[[end_row, a]];
            proceeds +=
                book.sell(a, end, shares, price, costs.sell * shares * price, Reason::Liquidation, &[]).cash;
        }
    }
    let final_tax = match mode {
        Mode::PreTax => 0.0,
        _ => years.settle_through(end.year(), &book, tax),
    };
    let realized = book.realized().values().fold(TermGains::default(), |sum, year| TermGains {
        short_term: sum.short_term + year.short_term,
        long_term: sum.long_term + year.long_term,
    });
    Ok(LedgerRun {
        mode,
        wealth,
        tax_owed,
        after_tax_wealth_held: wealth - tax_owed,
        after_tax_wealth_liquidated: proceeds - final_tax,
        taxes_paid,
        taxes_total: taxes_paid + final_tax,
        realized,
        harvested_losses,
        harvested_lots,
        rebuys_blocked,
        wash_sales: book.wash_sales,
        disallowed_losses: book.disallowed,
        costs: costs_paid,
        years: years.settled,
        entries: std::mem::take(&mut book.entries),
        values,
    })
}
