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
use crate::backtest::{BacktestLog, PolicyId};
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

/// Replay `log`'s decisions on `panel` (the market the backtest ran on) in shares: at each
/// decision, pay the tax that fell due, choose the lots to harvest, trade to the target (selling
/// before buying), then follow the holdings' value to the next decision; at the end, measure
/// the tax owed and sell everything.
pub fn replay(
    panel: &PricePanel,
    log: &BacktestLog,
    costs: CostConfig,
    tax: &TaxConfig,
    mode: Mode,
) -> Result<LedgerRun, TaxError> {
    let (dates, first_row, end_row) = check_log(panel, log)?;
    let mut ledger = Ledger::new(panel, dates, costs, tax, mode, dates[first_row].year());
    for (k, (&row, target)) in log.decision_rows.iter().zip(&log.weights).enumerate() {
        ledger.decide(log.policy, row, target)?;
        let next_row = log.decision_rows.get(k + 1).copied().unwrap_or(end_row);
        ledger.record_closes(row, next_row);
    }
    Ok(ledger.finish(end_row))
}

/// The panel's dates, and the log's first and last rows, once the log is known to fit the panel
/// and every decision to be a valid allocation over cash and the panel's assets.
fn check_log<'a>(
    panel: &'a PricePanel,
    log: &BacktestLog,
) -> Result<(&'a [NaiveDate], usize, usize), TaxError> {
    let TimeIndex::Dates(dates) = &panel.index else {
        return Err(TaxError::Undated { path: panel.source.clone() });
    };
    let policy = log.policy;
    let (Some(&first_row), Some(&end_row)) = (log.rows.first(), log.rows.last()) else {
        return Err(TaxError::EmptyLog { policy });
    };
    if end_row >= panel.n_periods() || log.decision_rows.len() != log.weights.len() {
        return Err(TaxError::LogMismatch { policy });
    }
    let assets = panel.n_assets();
    for (&row, weights) in log.decision_rows.iter().zip(&log.weights) {
        let date = dates[row];
        if weights.len() != assets + 1 {
            return Err(TaxError::WeightCount { policy, date, weights: weights.len(), assets });
        }
        validate_action(weights).map_err(|source| TaxError::Weights { policy, date, source })?;
    }
    Ok((dates, first_row, end_row))
}

/// Everything a replay carries from one decision to the next.
struct Ledger<'a> {
    panel: &'a PricePanel,
    dates: &'a [NaiveDate],
    costs: CostConfig,
    tax: &'a TaxConfig,
    mode: Mode,
    book: LotBook,
    years: TaxYears,
    /// Per asset: sold by the harvester and kept out of the portfolio while the window is open.
    blocks: Vec<Option<Block>>,
    cash: f64,
    values: Vec<f64>,
    taxes_paid: f64,
    costs_paid: f64,
    harvested_losses: f64,
    harvested_lots: usize,
    rebuys_blocked: usize,
}

/// The portfolio at a decision before it trades.
struct Position {
    /// Value of each asset's shares.
    holdings: Vec<f64>,
    /// Cash plus holdings.
    value: f64,
    /// What is left for the target once the tax due is taken out.
    available: f64,
    /// Weights of cash (less the tax) and each asset in `available`.
    drifted: Vec<f64>,
}

/// The lots harvested at a decision, per asset, and what they are worth.
struct Harvest {
    lots: Vec<Vec<usize>>,
    value: Vec<f64>,
}

/// A decision's trades per asset: value bought (positive) or sold (negative), and the fee each
/// pays.
struct Trades {
    deltas: Vec<f64>,
    fees: Vec<f64>,
}

impl<'a> Ledger<'a> {
    fn new(
        panel: &'a PricePanel,
        dates: &'a [NaiveDate],
        costs: CostConfig,
        tax: &'a TaxConfig,
        mode: Mode,
        first_year: i32,
    ) -> Self {
        let n = panel.n_assets();
        let rules = LotRules {
            method: tax.lot_method,
            long_term: tax.long_term(),
            wash_sale_days: tax.harvest.wash_sale_days,
        };
        Self {
            panel,
            dates,
            costs,
            tax,
            mode,
            book: LotBook::new(n, rules),
            years: TaxYears { next: first_year, carry: Carryforward::default(), settled: Vec::new() },
            blocks: vec![None; n],
            cash: 1.0,
            values: vec![1.0],
            taxes_paid: 0.0,
            costs_paid: 0.0,
            harvested_losses: 0.0,
            harvested_lots: 0,
            rebuys_blocked: 0,
        }
    }

    fn n(&self) -> usize {
        self.panel.n_assets()
    }

    /// One decision at the close of `row`: the tax due, the harvest, the trades to `target`.
    fn decide(&mut self, policy: PolicyId, row: usize, target: &[f64]) -> Result<(), TaxError> {
        let date = self.dates[row];
        let tax_due = self.tax_due(date)?;
        let position = self.position(row, tax_due).ok_or_else(|| TaxError::TaxExceedsValue {
            policy,
            date,
            tax_due,
            value: self.value_at(row),
        })?;
        let harvest = self.choose_harvest(row, date);
        let (effective, mu) = self.hold_blocked(row, target, &position, &harvest);
        self.count_blocked_rebuys(date, target, &position, mu);
        let trades = self.trades(&effective, mu, &position, &harvest);
        self.pay_tax(tax_due);
        self.sell(row, &trades, &harvest);
        self.buy(row, &trades);
        self.costs_paid += trades.fees.iter().sum::<f64>();
        Ok(())
    }

    /// The tax of every year whose payment day has come by `date` and that is not yet settled.
    fn tax_due(&mut self, date: NaiveDate) -> Result<f64, TaxError> {
        if self.mode == Mode::PreTax {
            return Ok(0.0);
        }
        let mut due = 0.0;
        while self.years.next < date.year() && date >= self.tax.payment_day(self.years.next + 1)? {
            due += self.years.settle_through(self.years.next, &self.book, self.tax);
        }
        Ok(due)
    }

    fn holdings(&self, row: usize) -> Vec<f64> {
        let prices = self.panel.prices.row(row);
        (0..self.n()).map(|i| self.book.shares(i) * prices[i]).collect()
    }

    fn value_at(&self, row: usize) -> f64 {
        self.cash + self.holdings(row).iter().sum::<f64>()
    }

    /// The portfolio at `row` with `tax_due` set aside; none when the tax takes all of it.
    fn position(&self, row: usize, tax_due: f64) -> Option<Position> {
        let holdings = self.holdings(row);
        let value = self.cash + holdings.iter().sum::<f64>();
        let available = value - tax_due;
        if !(available > 0.0) {
            return None;
        }
        let mut drifted = Vec::with_capacity(holdings.len() + 1);
        drifted.push((self.cash - tax_due) / available);
        drifted.extend(holdings.iter().map(|h| h / available));
        Some(Position { holdings, value, available, drifted })
    }

    /// Harvest (harvesting ledgers only): the losing lots of assets not bought in the last
    /// window, each with the most correlated asset outside any window to hold its place.
    fn choose_harvest(&mut self, row: usize, date: NaiveDate) -> Harvest {
        let n = self.n();
        let mut lots: Vec<Vec<usize>> = vec![Vec::new(); n];
        if self.mode == Mode::Harvesting {
            self.expire_blocks(date);
            let prices = self.panel.prices.row(row);
            let candidates: Vec<(usize, Vec<usize>)> = (0..n)
                .map(|a| (a, harvestable_lots(&self.book, a, prices[a], date, &self.tax.harvest)))
                .filter(|(_, lots)| !lots.is_empty())
                .collect();
            let known = self.panel.prices.slice(s![..=row, ..]);
            // One replacement per harvested asset, never one already standing in for another:
            // pairing keeps a sell-off, when many assets are harvested within weeks, from piling
            // their weights onto the few assets left free.
            let blocks = &self.blocks;
            let mut excluded: Vec<bool> = (0..n)
                .map(|j| {
                    blocks[j].is_some()
                        || blocks.iter().flatten().any(|b| b.replacement == j)
                        || candidates.iter().any(|(a, _)| *a == j)
                })
                .collect();
            let window = self.tax.harvest.correlation_window;
            for (asset, asset_lots) in candidates {
                if let Some(replacement) = most_correlated(known, asset, window, |j| !excluded[j]) {
                    excluded[replacement] = true;
                    self.harvested_lots += asset_lots.len();
                    lots[asset] = asset_lots;
                    self.blocks[asset] = Some(Block { since: date, replacement });
                }
            }
        }
        let prices = self.panel.prices.row(row);
        let value = (0..n)
            .map(|a| {
                self.book
                    .lots(a)
                    .iter()
                    .filter(|l| lots[a].contains(&l.id))
                    .map(|l| l.shares * prices[a])
                    .sum()
            })
            .collect();
        Harvest { lots, value }
    }

    /// Lift the blocks whose wash-sale window has passed by `date`.
    fn expire_blocks(&mut self, date: NaiveDate) {
        let window_days = i64::from(self.tax.harvest.wash_sale_days);
        for block in self.blocks.iter_mut() {
            if block.is_some_and(|b| (date - b.since).num_days() > window_days) {
                *block = None;
            }
        }
    }

    /// The target, with every blocked asset held at no more than what it keeps and the excess
    /// moved to its replacement (or to cash when no replacement is free); and its `mu`.
    fn hold_blocked(
        &self,
        row: usize,
        target: &[f64],
        position: &Position,
        harvest: &Harvest,
    ) -> (Vec<f64>, f64) {
        let mut effective = target.to_vec();
        let mut mu = self.costs.remainder_factor(&position.drifted, &effective);
        for _ in 0..HOLD_ITERATIONS {
            effective.copy_from_slice(target);
            for asset in (0..self.n()).filter(|&a| self.blocks[a].is_some()) {
                let cap = (position.holdings[asset] - harvest.value[asset]) / (position.available * mu);
                if target[asset + 1] > cap {
                    effective[self.stand_in(row, asset)] += target[asset + 1] - cap;
                    effective[asset + 1] = cap;
                }
            }
            mu = self.costs.remainder_factor(&position.drifted, &effective);
        }
        (effective, mu)
    }

    /// Where the weight a blocked asset may not take goes (an index into the weights): its
    /// replacement while that is free, else the most correlated unblocked asset, else cash.
    fn stand_in(&self, row: usize, asset: usize) -> usize {
        match self.blocks[asset] {
            Some(b) if self.blocks[b.replacement].is_none() => b.replacement + 1,
            _ => most_correlated(
                self.panel.prices.slice(s![..=row, ..]),
                asset,
                self.tax.harvest.correlation_window,
                |j| self.blocks[j].is_none(),
            )
            .map_or(0, |j| j + 1),
        }
    }

    /// Count the blocked assets (blocked before today) the policy wanted more of.
    fn count_blocked_rebuys(&mut self, date: NaiveDate, target: &[f64], position: &Position, mu: f64) {
        self.rebuys_blocked += (0..self.n())
            .filter(|&a| {
                self.blocks[a].is_some_and(|b| b.since < date)
                    && target[a + 1] * position.available * mu > position.holdings[a] * (1.0 + 1e-9)
            })
            .count();
    }

    /// Trades in value to `effective`, every harvested lot sold at least, and each trade's share
    /// of the cost `V (1 - mu)`.
    fn trades(&self, effective: &[f64], mu: f64, position: &Position, harvest: &Harvest) -> Trades {
        let mut deltas: Vec<f64> = (0..self.n())
            .map(|a| {
                let delta = effective[a + 1] * position.available * mu - position.holdings[a];
                let blocked_buy = self.blocks[a].is_some() && delta > 0.0;
                if delta.abs() <= NEGLIGIBLE_TRADE * position.value || blocked_buy { 0.0 } else { delta }
            })
            .collect();
        for (a, delta) in deltas.iter_mut().enumerate() {
            // A blocked asset's cap is what it keeps after the harvest, so selling down to it
            // sells the harvested lots and, up to rounding, nothing else.
            let beyond_harvest = -harvest.value[a] - *delta;
            if !harvest.lots[a].is_empty() && beyond_harvest <= NEGLIGIBLE_TRADE * position.value {
                *delta = -harvest.value[a];
            }
        }
        let costs = self.costs;
        let charged: Vec<f64> = deltas
            .iter()
            .map(|&d| if d < 0.0 { costs.sell * -d } else { costs.buy * d / (1.0 - costs.buy) })
            .collect();
        let total_charged: f64 = charged.iter().sum();
        let cost = position.available * (1.0 - mu);
        let scale = if total_charged > 0.0 { cost / total_charged } else { 0.0 };
        let fees = charged.iter().map(|c| c * scale).collect();
        Trades { deltas, fees }
    }

    fn pay_tax(&mut self, tax_due: f64) {
        self.cash -= tax_due;
        self.taxes_paid += tax_due;
    }

    /// Every sale: the harvested lots first, by specific identification, then the rest of the
    /// asset's sale in the order of the lot method.
    fn sell(&mut self, row: usize, trades: &Trades, harvest: &Harvest) {
        let date = self.dates[row];
        let prices = self.panel.prices.row(row);
        for a in (0..self.n()).filter(|&a| trades.deltas[a] < 0.0) {
            let mut shares = -trades.deltas[a] / prices[a];
            let mut fee = trades.fees[a];
            if !harvest.lots[a].is_empty() {
                let harvest_shares = harvest.value[a] / prices[a];
                let harvest_fee = fee * harvest_shares / shares;
                let sale = self.book.sell(
                    a,
                    date,
                    harvest_shares,
                    prices[a],
                    harvest_fee,
                    Reason::Harvest,
                    &harvest.lots[a],
                );
                self.harvested_losses -= sale.gain;
                self.cash += sale.cash;
                shares -= harvest_shares;
                fee -= harvest_fee;
            }
            if shares > 0.0 {
                self.cash += self.book.sell(a, date, shares, prices[a], fee, Reason::Rebalance, &[]).cash;
            }
        }
    }

    fn buy(&mut self, row: usize, trades: &Trades) {
        let date = self.dates[row];
        let prices = self.panel.prices.row(row);
        for a in (0..self.n()).filter(|&a| trades.deltas[a] > 0.0) {
            let shares = trades.deltas[a] / prices[a];
            self.cash -= self.book.buy(a, date, shares, prices[a], trades.fees[a], Reason::Rebalance);
        }
    }

    /// Record the portfolio's value at every close after `row` up to `next_row`, holding the
    /// shares it has now.
    fn record_closes(&mut self, row: usize, next_row: usize) {
        let shares: Vec<f64> = (0..self.n()).map(|a| self.book.shares(a)).collect();
        for t in row + 1..=next_row {
            let held: f64 = shares.iter().enumerate().map(|(a, s)| s * self.panel.prices[[t, a]]).sum();
            self.values.push(self.cash + held);
        }
    }

    /// The figures at the last close `end_row`: wealth still invested and the tax owed on it,
    /// then the cash after selling everything and paying every tax.
    fn finish(mut self, end_row: usize) -> LedgerRun {
        let end = self.dates[end_row];
        let wealth = *self.values.last().expect("values start at 1");
        let tax_owed = match self.mode {
            Mode::PreTax => 0.0,
            _ => self.years.clone().settle_through(end.year(), &self.book, self.tax),
        };
        let proceeds = self.liquidate(end_row);
        let final_tax = match self.mode {
            Mode::PreTax => 0.0,
            _ => self.years.settle_through(end.year(), &self.book, self.tax),
        };
        let realized = self.book.realized().values().fold(TermGains::default(), |sum, year| TermGains {
            short_term: sum.short_term + year.short_term,
            long_term: sum.long_term + year.long_term,
        });
        LedgerRun {
            mode: self.mode,
            wealth,
            tax_owed,
            after_tax_wealth_held: wealth - tax_owed,
            after_tax_wealth_liquidated: proceeds - final_tax,
            taxes_paid: self.taxes_paid,
            taxes_total: self.taxes_paid + final_tax,
            realized,
            harvested_losses: self.harvested_losses,
            harvested_lots: self.harvested_lots,
            rebuys_blocked: self.rebuys_blocked,
            wash_sales: self.book.wash_sales,
            disallowed_losses: self.book.disallowed,
            costs: self.costs_paid,
            years: self.years.settled,
            entries: std::mem::take(&mut self.book.entries),
            values: self.values,
        }
    }

    /// Sell every lot at the close of `end_row`, paying the sale rate; the cash that leaves.
    fn liquidate(&mut self, end_row: usize) -> f64 {
        let end = self.dates[end_row];
        let mut proceeds = self.cash;
        for a in 0..self.n() {
            let shares = self.book.shares(a);
            if shares > 0.0 {
                let price = self.panel.prices[[end_row, a]];
                let fee = self.costs.sell * shares * price;
                proceeds += self.book.sell(a, end, shares, price, fee, Reason::Liquidation, &[]).cash;
            }
        }
        proceeds
    }
}
