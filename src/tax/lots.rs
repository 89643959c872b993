//! Tax lots of a share-level portfolio: purchases become lots, sales take lots in the order of
//! the lot method and realize short- or long-term gains, and the wash-sale rule (IRC section
//! 1091) disallows a loss when the same asset is bought within the window before or after the
//! sale, adding the loss to the replacement shares' basis and their holding period to the
//! replacement's (IRS Publication 550, "Wash Sales").
//!
//! Matching is share for share: a loss sale of `n` shares is washed by at most `n` replacement
//! shares, each replacement share absorbs one sold share's loss, and replacement shares are taken
//! in the order they were bought. Shares bought in the window before the sale wash it at once;
//! the rest of the loss waits for purchases in the window after it.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use std::collections::BTreeMap;

pub use super::config::LongTerm;
use super::config::LotMethod;
use super::netting::TermGains;

/// A sale taking at least this fraction of a lot's (or a position's) shares takes all of them,
/// so that rounding never leaves dust lots behind.
const WHOLE: f64 = 1.0 - 1e-12;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Term {
    Short,
    Long,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Buy,
    Sell,
    /// A loss disallowed by a purchase: the replacement shares split off into a lot of their own
    /// with the loss added to their basis.
    WashSale,
}

/// Why a trade happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Moving to the policy's target weights (and raising the cash for taxes due).
    Rebalance,
    /// Tax-loss harvesting: the losing lots sold, or the replacement bought.
    Harvest,
    /// Selling everything at the end to measure after-tax wealth.
    Liquidation,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Lot {
    pub id: usize,
    pub shares: f64,
    /// Cost basis of all the lot's shares: price paid plus purchase fee, plus any loss a wash
    /// sale added.
    pub basis: f64,
    pub bought: NaiveDate,
    /// Start of the holding period: the purchase date, or earlier when a wash sale tacked the
    /// sold shares' holding period on.
    pub held_since: NaiveDate,
    /// Shares that may still wash a loss sale.
    pub unwashed: f64,
}

impl Lot {
    pub fn cost_per_share(&self) -> f64 {
        self.basis / self.shares
    }
}

impl Term {
    pub fn label(self) -> &'static str {
        match self {
            Term::Short => "short",
            Term::Long => "long",
        }
    }
}

impl Action {
    pub fn label(self) -> &'static str {
        match self {
            Action::Buy => "buy",
            Action::Sell => "sell",
            Action::WashSale => "wash_sale",
        }
    }
}

impl Reason {
    pub fn label(self) -> &'static str {
        match self {
            Reason::Rebalance => "rebalance",
            Reason::Harvest => "harvest",
            Reason::Liquidation => "liquidation",
        }
    }
}

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LedgerEntry {
    pub date: NaiveDate,
    pub asset: usize,
    pub action: Action,
    pub reason: Reason,
    pub lot: usize,
    pub shares: f64,
    pub price: f64,
    /// Fee charged on this trade (its share of the decision's trading cost).
    pub fee: f64,
    /// Cash paid (buys, fee included) or received (sells, net of fee).
    pub cash: f64,
    /// Basis of the shares bought or sold; for a wash sale, the replacement lot's new basis.
    pub basis: f64,
    /// Gain realized and allowed (sells); negative for a loss.
    pub gain: f64,
    /// Loss disallowed by the wash-sale rule, as a positive amount.
    pub disallowed: f64,
    pub term: Option<Term>,
    /// Start of the lot's holding period: a buy's date; for a sale, the sold lot's, by which its
    /// term is decided; for a wash sale, the replacement lot's, with the sold shares' period
    /// tacked on.
    pub held_since: NaiveDate,
    /// Wash sales: the lot the replacement shares split from, and the sold lot whose loss moved.
    pub split_from: Option<usize>,
    pub washed_lot: Option<usize>,
}

/// What a sale brought in.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SaleOutcome {
    /// Cash received, net of the fee.
    pub cash: f64,
    /// Gains realized and allowed (losses negative).
    pub gain: f64,
    pub disallowed: f64,
}

/// What every lot taken by one sale shares.
struct Sale<'a> {
    asset: usize,
    date: NaiveDate,
    price: f64,
    reason: Reason,
    /// Every lot the sale takes: none of them can wash its losses.
    planned: &'a [usize],
}

/// The part of a loss sale not yet washed, waiting for purchases inside the window after it.
#[derive(Debug, Clone)]
struct PendingLoss {
    asset: usize,
    sold: NaiveDate,
    lot: usize,
    term: Term,
    shares: f64,
    loss_per_share: f64,
    held_days: i64,
}

/// The start of the holding period of replacement shares whose own period starts at
/// `held_since`, after a loss sale on `sold` of shares held `held_days`: it includes the sold
/// shares' period (IRC section 1223(3)), counting each day once. Bought after the sale, the
/// replacement starts `held_days` before its purchase; bought before it, the days both were held
/// already count, so it starts where the sold shares did, or at its own start if that is earlier.
fn tacked(held_since: NaiveDate, sold: NaiveDate, held_days: i64) -> NaiveDate {
    let held_together = (sold - held_since).num_days().max(0);
    held_since - chrono::Days::new((held_days - held_together).max(0) as u64)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LotRules {
    pub method: LotMethod,
    pub long_term: LongTerm,
    pub wash_sale_days: u32,
}

/// Every asset's open lots, the losses waiting on the wash-sale window, the gains realized per
/// calendar year, and the ledger of everything that happened.
#[derive(Debug, Clone)]
pub struct LotBook {
    rules: LotRules,
    lots: Vec<Vec<Lot>>,
    next_id: usize,
    pending: Vec<PendingLoss>,
    realized: BTreeMap<i32, TermGains>,
    pub entries: Vec<LedgerEntry>,
    /// Replacement purchases that washed a loss, and the losses they disallowed.
    pub wash_sales: usize,
    pub disallowed: f64,
}

impl LotBook {
    pub fn new(assets: usize, rules: LotRules) -> Self {
        Self {
            rules,
            lots: vec![Vec::new(); assets],
            next_id: 1,
            pending: Vec::new(),
            realized: BTreeMap::new(),
            entries: Vec::new(),
            wash_sales: 0,
            disallowed: 0.0,
        }
    }

    pub fn lots(&self, asset: usize) -> &[Lot] {
        &self.lots[asset]
    }

    pub fn shares(&self, asset: usize) -> f64 {
        self.lots[asset].iter().map(|l| l.shares).sum()
    }

    /// Gains realized in each calendar year, after wash sales.
    pub fn realized(&self) -> &BTreeMap<i32, TermGains> {
        &self.realized
    }

    /// Whether a lot of `asset` still held was bought in the wash-sale window before `date`,
    /// other than the lots in `except`: a loss sale now would be washed by it.
    pub fn bought_within_window(&self, asset: usize, date: NaiveDate, except: &[usize]) -> bool {
        self.lots[asset]
            .iter()
            .any(|l| !except.contains(&l.id) && l.unwashed > 0.0 && self.in_window(l.bought, date))
    }

    fn in_window(&self, earlier: NaiveDate, later: NaiveDate) -> bool {
        let days = (later - earlier).num_days();
        (0..=i64::from(self.rules.wash_sale_days)).contains(&days)
    }

    fn term(&self, held_since: NaiveDate, date: NaiveDate) -> Term {
        let long = match self.rules.long_term {
            // A date past the last day of a shorter month (29 February) ends on that month's last.
            // An anniversary past the calendar's end is never reached: a huge holding period
            // means "never long-term", not the reverse.
            LongTerm::Months(months) => held_since
                .checked_add_months(chrono::Months::new(months))
                .is_some_and(|anniversary| date > anniversary),
            LongTerm::Days(days) => (date - held_since).num_days() > i64::from(days),
        };
        if long { Term::Long } else { Term::Short }
    }

    fn record(&mut self, date: NaiveDate, term: Term, gain: f64) {
        let year = self.realized.entry(date.year()).or_default();
        match term {
            Term::Short => year.short_term += gain,
            Term::Long => year.long_term += gain,
        }
    }

    /// Buy `shares` of `asset` at `price`, paying `fee` on top, and wash any pending loss of the
    /// same asset sold within the window before. Returns the cash paid.
    pub fn buy(
        &mut self,
        asset: usize,
        date: NaiveDate,
        shares: f64,
        price: f64,
        fee: f64,
        reason: Reason,
    ) -> f64 {
        let id = self.next_id;
        self.next_id += 1;
        let cash = shares * price + fee;
        self.lots[asset].push(Lot {
            id,
            shares,
            basis: cash,
            bought: date,
            held_since: date,
            unwashed: shares,
        });
        self.entries.push(LedgerEntry {
            date,
            asset,
            action: Action::Buy,
            reason,
            lot: id,
            shares,
            price,
            fee,
            cash,
            basis: cash,
            gain: 0.0,
            disallowed: 0.0,
            term: None,
            held_since: date,
            split_from: None,
            washed_lot: None,
        });
        let wash_days = i64::from(self.rules.wash_sale_days);
        self.pending.retain(|p| p.shares > 0.0 && (date - p.sold).num_days() <= wash_days);
        let mut pending = std::mem::take(&mut self.pending);
        for loss in pending.iter_mut().filter(|p| p.asset == asset) {
            // Earlier matches may have split the new lot, or moved all of it.
            let Some(lot_index) = self.lots[asset].iter().position(|l| l.id == id) else { break };
            let available = self.lots[asset][lot_index].unwashed;
            if available <= 0.0 {
                break;
            }
            let matched = loss.shares.min(available);
            let disallowed = loss.loss_per_share * matched;
            loss.shares -= matched;
            // The loss was recorded in the sale's year; it is now disallowed there.
            self.record(loss.sold, loss.term, disallowed);
            let sold = (loss.sold, loss.held_days, loss.lot);
            self.wash(asset, lot_index, matched, disallowed, sold, (date, reason));
        }
        pending.retain(|p| p.shares > 0.0);
        self.pending = pending;
        cash
    }

    /// Move `matched` shares of lot `lot_index` of `asset` into a lot of their own whose basis
    /// carries `disallowed` and whose holding period takes on the sold shares' ([`tacked`]);
    /// `sold` is the loss sale's date, the sold lot's days held and its id. The ledger entry
    /// carries the date and the reason of the trade that washed the loss.
    fn wash(
        &mut self,
        asset: usize,
        lot_index: usize,
        matched: f64,
        disallowed: f64,
        (sale_date, held_days, washed_lot): (NaiveDate, i64, usize),
        (date, reason): (NaiveDate, Reason),
    ) {
        let source = &mut self.lots[asset][lot_index];
        let whole = matched >= source.shares * WHOLE;
        let moved_basis = if whole { source.basis } else { source.basis * matched / source.shares };
        let (bought, held_since, source_id) = (source.bought, source.held_since, source.id);
        if whole {
            self.lots[asset].remove(lot_index);
        } else {
            source.shares -= matched;
            source.basis -= moved_basis;
            source.unwashed = (source.unwashed - matched).max(0.0);
        }
        let id = self.next_id;
        self.next_id += 1;
        let lot = Lot {
            id,
            shares: matched,
            basis: moved_basis + disallowed,
            bought,
            held_since: tacked(held_since, sale_date, held_days),
            unwashed: 0.0,
        };
        self.entries.push(LedgerEntry {
            date,
            asset,
            action: Action::WashSale,
            reason,
            lot: id,
            shares: matched,
            price: 0.0,
            fee: 0.0,
            cash: 0.0,
            basis: lot.basis,
            gain: 0.0,
            disallowed,
            term: None,
            held_since: lot.held_since,
            split_from: Some(source_id),
            washed_lot: Some(washed_lot),
        });
        self.lots[asset].push(lot);
        self.wash_sales += 1;
        self.disallowed += disallowed;
    }

    /// Sell `shares` of `asset` at `price` for `fee`: first the lots in `first` (specific
    /// identification, for harvesting), then in the order of the lot method.
    #[allow(clippy::too_many_arguments)]
    pub fn sell(
        &mut self,
        asset: usize,
        date: NaiveDate,
        shares: f64,
        price: f64,
        fee: f64,
        reason: Reason,
        first: &[usize],
    ) -> SaleOutcome {
        let total = self.shares(asset);
        if total <= 0.0 || shares <= 0.0 {
            return SaleOutcome::default();
        }
        let plan = self.plan_sale(asset, shares, total, first);
        let sold: f64 = plan.iter().map(|(_, q)| q).sum();
        let planned: Vec<usize> = plan.iter().map(|(id, _)| *id).collect();
        let sale = Sale { asset, date, price, reason, planned: &planned };
        let mut outcome = SaleOutcome::default();
        for (id, take) in plan {
            let piece = self.sell_lot(&sale, id, take, fee * take / sold);
            outcome.cash += piece.cash;
            outcome.gain += piece.gain;
            outcome.disallowed += piece.disallowed;
        }
        outcome
    }

    /// The lots a sale of `shares` (of `total` held) takes, and how many shares of each: whole
    /// lots in [`LotBook::sale_order`] until the last, which may be taken in part. A sale of
    /// (nearly) every share takes every lot whole.
    fn plan_sale(&self, asset: usize, shares: f64, total: f64, first: &[usize]) -> Vec<(usize, f64)> {
        let all = shares >= total * WHOLE;
        let lots = &self.lots[asset];
        let mut plan: Vec<(usize, f64)> = Vec::new();
        let mut left = shares.min(total);
        // Rounding is measured against the sale, not the lot: a sale summed over many lots
        // (a harvest's value, say) can miss a small lot's last shares by more than that lot's
        // own rounding, or overshoot into the next lot. Either way the dust would be a lot of
        // its own, sold, washed and harvested like a real one.
        let rounding = shares * (1.0 - WHOLE);
        for index in self.sale_order(asset, first) {
            let lot = &lots[index];
            let whole = all || left >= lot.shares * WHOLE || lot.shares - left <= rounding;
            let take = if whole { lot.shares } else { left };
            plan.push((lot.id, take));
            left -= take;
            if !all && left <= rounding {
                break;
            }
        }
        plan
    }

    /// Indices of `asset`'s lots in the order a sale takes them: the lots in `first` in their
    /// order, then by the lot method (ties: the earlier purchase, then the lower id).
    fn sale_order(&self, asset: usize, first: &[usize]) -> Vec<usize> {
        let lots = &self.lots[asset];
        let mut order: Vec<usize> = (0..lots.len()).collect();
        let rank = |i: usize| first.iter().position(|&id| id == lots[i].id).unwrap_or(usize::MAX);
        match self.rules.method {
            LotMethod::Fifo => order.sort_by(|&a, &b| {
                (rank(a), lots[a].bought, lots[a].id).cmp(&(rank(b), lots[b].bought, lots[b].id))
            }),
            LotMethod::HighestCost => order.sort_by(|&a, &b| {
                rank(a)
                    .cmp(&rank(b))
                    .then(lots[b].cost_per_share().total_cmp(&lots[a].cost_per_share()))
                    .then((lots[a].bought, lots[a].id).cmp(&(lots[b].bought, lots[b].id)))
            }),
        }
        order
    }

    /// Sell `take` shares of lot `id` for `fee`: realize the gain, wash a loss against lots
    /// bought in the window before, and record the sale.
    fn sell_lot(&mut self, sale: &Sale<'_>, id: usize, take: f64, fee: f64) -> SaleOutcome {
        let (asset, date) = (sale.asset, sale.date);
        let (basis, held_since) = self.take_shares(asset, id, take);
        let cash = take * sale.price - fee;
        let gain = cash - basis;
        let term = self.term(held_since, date);
        let held_days = (date - held_since).num_days();
        let disallowed = if gain < 0.0 {
            self.wash_before(asset, (date, sale.reason), id, take, -gain / take, held_days, sale.planned)
        } else {
            0.0
        };
        let allowed = gain + disallowed;
        self.record(date, term, allowed);
        self.entries.push(LedgerEntry {
            date,
            asset,
            action: Action::Sell,
            reason: sale.reason,
            lot: id,
            shares: take,
            price: sale.price,
            fee,
            cash,
            basis,
            gain: allowed,
            disallowed,
            term: Some(term),
            held_since,
            split_from: None,
            washed_lot: None,
        });
        SaleOutcome { cash, gain: allowed, disallowed }
    }

    /// Take `take` shares out of lot `id` of `asset` (the whole lot when that is nearly all of
    /// it); their basis and the start of their holding period.
    fn take_shares(&mut self, asset: usize, id: usize, take: f64) -> (f64, NaiveDate) {
        let index = self.lots[asset].iter().position(|l| l.id == id).expect("planned lots are held");
        let lot = &mut self.lots[asset][index];
        let whole = take >= lot.shares * WHOLE;
        let basis = if whole { lot.basis } else { lot.basis * take / lot.shares };
        let held_since = lot.held_since;
        if whole {
            self.lots[asset].remove(index);
        } else {
            lot.shares -= take;
            lot.basis -= basis;
            lot.unwashed = lot.unwashed.min(lot.shares);
        }
        (basis, held_since)
    }

    /// Wash a loss of `loss_per_share` on `shares` sold from lot `sold_lot` against lots bought
    /// in the window before the sale (other than those sold now); the rest waits for purchases
    /// after it. Returns the loss disallowed now.
    #[allow(clippy::too_many_arguments)]
    fn wash_before(
        &mut self,
        asset: usize,
        (date, reason): (NaiveDate, Reason),
        sold_lot: usize,
        shares: f64,
        loss_per_share: f64,
        held_days: i64,
        planned: &[usize],
    ) -> f64 {
        let mut left = shares;
        let mut disallowed = 0.0;
        while left > shares * (1.0 - WHOLE) {
            let candidate = self.lots[asset]
                .iter()
                .enumerate()
                .filter(|(_, l)| {
                    !planned.contains(&l.id) && l.unwashed > 0.0 && self.in_window(l.bought, date)
                })
                .min_by_key(|(_, l)| (l.bought, l.id))
                .map(|(i, l)| (i, l.unwashed));
            let Some((index, available)) = candidate else { break };
            let matched = left.min(available);
            let amount = loss_per_share * matched;
            self.wash(asset, index, matched, amount, (date, held_days, sold_lot), (date, reason));
            disallowed += amount;
            left -= matched;
        }
        if left > shares * (1.0 - WHOLE) {
            let term = self.term(date - chrono::Days::new(held_days.max(0) as u64), date);
            self.pending.push(PendingLoss {
                asset,
                sold: date,
                lot: sold_lot,
                term,
                shares: left,
                loss_per_share,
                held_days,
            });
        }
        disallowed
    }
}
