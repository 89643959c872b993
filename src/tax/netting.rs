//! A calendar year's capital gains tax from its realized gains, as US rules net them (IRS
//! Publication 550 and the Schedule D instructions):
//!
//! 1. short-term gains and losses are netted, and so are long-term ones, each after subtracting
//!    the loss of the same character carried in from earlier years;
//! 2. a net loss of one term offsets a net gain of the other;
//! 3. what remains taxable is taxed at the short- or long-term rate; a net loss left over is
//!    carried forward without limit of time and keeps its character (the capital loss carryover
//!    worksheet).
//!
//! The $3,000 of net loss that a person may deduct from ordinary income each year is left out:
//! folio knows nothing of the investor's other income, so every loss stays in the portfolio's
//! own carryforward.

use serde::Serialize;

/// Net realized gains of one year by term (losses negative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct TermGains {
    pub short_term: f64,
    pub long_term: f64,
}

/// Losses carried into a year, by character, as positive amounts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Carryforward {
    pub short_term: f64,
    pub long_term: f64,
}

/// One year's netting and tax.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct YearTax {
    pub year: i32,
    pub realized: TermGains,
    pub carried_in: Carryforward,
    /// Amounts taxed at each rate after netting.
    pub taxable: TermGains,
    pub tax: f64,
    pub carried_out: Carryforward,
}

/// Net `realized` against `carried_in` and tax what remains at `short_rate` and `long_rate`.
pub fn net_year(
    year: i32,
    realized: TermGains,
    carried_in: Carryforward,
    short_rate: f64,
    long_rate: f64,
) -> YearTax {
    let short = realized.short_term - carried_in.short_term;
    let long = realized.long_term - carried_in.long_term;
    let (taxable, carried_out) = match (short >= 0.0, long >= 0.0) {
        (true, true) => (TermGains { short_term: short, long_term: long }, Carryforward::default()),
        (false, false) => (TermGains::default(), Carryforward { short_term: -short, long_term: -long }),
        // A short-term loss offsets the long-term gain; what it cannot offset stays short-term.
        (false, true) if short + long >= 0.0 => {
            (TermGains { short_term: 0.0, long_term: short + long }, Carryforward::default())
        }
        (false, true) => (TermGains::default(), Carryforward { short_term: -(short + long), long_term: 0.0 }),
        (true, false) if short + long >= 0.0 => {
            (TermGains { short_term: short + long, long_term: 0.0 }, Carryforward::default())
        }
        (true, false) => (TermGains::default(), Carryforward { short_term: 0.0, long_term: -(short + long) }),
    };
    YearTax {
        year,
        realized,
        carried_in,
        taxable,
        tax: short_rate * taxable.short_term + long_rate * taxable.long_term,
        carried_out,
    }
}
