//! The dates of a price file's first column: ISO days, the slashed dates spreadsheets write
//! (month or day first, as the whole column shows), and pandas' daily timestamps.

use chrono::{NaiveDate, NaiveTime};

/// A row's day: `YYYY-MM-DD` or `YYYY/MM/DD`, or `M/D/YYYY` or `D/M/YYYY` in the order `slashes`
/// gives, optionally followed by a time of day (after a space or `T`) and a UTC offset, as pandas
/// writes a daily timestamp. `None` for anything else.
pub(super) fn parse_day(text: &str, slashes: Option<SlashOrder>) -> Option<(NaiveDate, bool)> {
    let (day, time) = split_time(text);
    // chrono's %Y takes a year of any number of digits, so `14-01-02` would be the year 14.
    let year_first = day.split(['-', '/']).next().is_some_and(|year| year.len() == 4);
    let date = year_first
        .then(|| {
            NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .or_else(|_| NaiveDate::parse_from_str(day, "%Y/%m/%d"))
                .ok()
        })
        .flatten()
        .or_else(|| {
            let (first, second, year) = slash_parts(day)?;
            let (month, day) = match slashes? {
                SlashOrder::MonthFirst => (first, second),
                SlashOrder::DayFirst => (second, first),
            };
            NaiveDate::from_ymd_opt(year, month, day)
        })?;
    match time {
        None => Some((date, false)),
        Some(time) => is_time_of_day(time).then_some((date, true)),
    }
}

/// Whether `text` reads as a date in either slash order: a cell that holds one, wherever it
/// stands, for saying where dates belong.
pub(super) fn looks_like_date(text: &str) -> bool {
    [SlashOrder::MonthFirst, SlashOrder::DayFirst]
        .into_iter()
        .any(|order| parse_day(text, Some(order)).is_some())
}

/// Whether `text` is a day written with a two-digit year (`14-01-02`, `1/2/14`), which folio
/// does not guess a century for.
pub(super) fn has_short_year(text: &str) -> bool {
    let parts: Vec<&str> = split_time(text).0.split(['-', '/']).collect();
    parts.len() == 3
        && parts.iter().all(|p| (1..=2).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit()))
}

/// A timestamp's day, and its time of day if it has one (after a space or `T`).
fn split_time(text: &str) -> (&str, Option<&str>) {
    match text.find([' ', 'T']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    }
}

/// Which number comes first in a date written `1/2/2020`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SlashOrder {
    /// `M/D/YYYY`, as US spreadsheets write dates.
    MonthFirst,
    /// `D/M/YYYY`, as most of the rest of the world does.
    DayFirst,
}

/// The numbers of a date written `A/B/YYYY` (one or two digits each for A and B).
fn slash_parts(day: &str) -> Option<(u32, u32, i32)> {
    let mut parts = day.split('/');
    let (a, b, year) = (parts.next()?, parts.next()?, parts.next()?);
    let short = |p: &str| (1..=2).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit());
    if parts.next().is_some()
        || !short(a)
        || !short(b)
        || year.len() != 4
        || !year.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    Some((a.parse().ok()?, b.parse().ok()?, year.parse().ok()?))
}

/// The order of the `A/B/YYYY` dates in a file's first column, read off the whole column: a
/// first number above 12 can only be a day, and so can a second one. A column where neither
/// ever exceeds 12 (under two weeks of daily rows, or dates on the first of each month) could be
/// read either way, and one where both do mixes the two; neither has an order (`None`), and its
/// dates are refused as ambiguous.
pub(super) fn slash_order(first_column: impl IntoIterator<Item = impl AsRef<str>>) -> Option<SlashOrder> {
    let (mut day_first, mut month_first) = (false, false);
    for cell in first_column {
        if let Some((a, b, _)) = slash_parts(split_time(cell.as_ref()).0) {
            day_first |= a > 12;
            month_first |= b > 12;
        }
    }
    match (month_first, day_first) {
        (true, false) => Some(SlashOrder::MonthFirst),
        (false, true) => Some(SlashOrder::DayFirst),
        _ => None,
    }
}

/// `HH:MM[:SS[.fff]]` with an optional `Z` or `+HH:MM` / `-HHMM` offset.
fn is_time_of_day(text: &str) -> bool {
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (clock, offset) = match text.rfind(['+', '-']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let clock_ok = NaiveTime::parse_from_str(clock, "%H:%M:%S%.f").is_ok()
        || NaiveTime::parse_from_str(clock, "%H:%M").is_ok();
    let offset_ok = offset.is_none_or(|o| {
        let digits: String = o.chars().filter(|c| *c != ':').collect();
        matches!(digits.len(), 2 | 4) && digits.chars().all(|c| c.is_ascii_digit())
    });
    clock_ok && offset_ok
}
