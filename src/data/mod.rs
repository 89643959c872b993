//! Price data: a panel of asset prices over time, loaded from CSV, selected by assets and range,
//! and turned into the price relatives that drive the simulated market.
//!
//! Convention used everywhere in folio: `p[t][i]` is the close of asset `i` at period `t`, and the
//! price relative `x[t][i] = p[t][i] / p[t-1][i]` is what an allocation chosen at the close of
//! `t - 1` earns over period `t`.

pub mod combine;
mod csv;
mod dates;
mod error;
pub mod inspect;
pub mod synth;

pub use self::csv::{
    CarriedForward, LoadedPrices, MissingPrices, load_prices, read_assets, read_prices, read_ticker,
    write_prices,
};
pub use self::error::{DataError, InvalidSetting, InvalidStamp, Location};

use chrono::NaiveDate;
use ndarray::{Array2, ArrayView1, s};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// The time axis of a panel: calendar dates, or plain period numbers for data sets without dates
/// (the online-portfolio-selection benchmarks), numbered from 0.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeIndex {
    Dates(Vec<NaiveDate>),
    Periods(usize),
}

impl TimeIndex {
    pub fn len(&self) -> usize {
        match self {
            TimeIndex::Dates(dates) => dates.len(),
            TimeIndex::Periods(n) => *n,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_dated(&self) -> bool {
        matches!(self, TimeIndex::Dates(_))
    }

    /// Row `t` as a stamp that selects it: its date, or its period number.
    pub fn stamp(&self, t: usize) -> Stamp {
        match self {
            TimeIndex::Dates(dates) => Stamp::Date(dates[t]),
            TimeIndex::Periods(_) => Stamp::Period(t),
        }
    }

    /// Human-readable label of row `t`: an ISO date or a period number.
    pub fn label(&self, t: usize) -> String {
        match self {
            TimeIndex::Dates(dates) => dates[t].to_string(),
            TimeIndex::Periods(_) => t.to_string(),
        }
    }

    /// First row at or after `stamp`.
    pub fn first_at_or_after(&self, stamp: &Stamp) -> Option<usize> {
        match (self, stamp) {
            (TimeIndex::Dates(dates), Stamp::Date(d)) => {
                let i = dates.partition_point(|x| x < d);
                (i < dates.len()).then_some(i)
            }
            (TimeIndex::Periods(n), Stamp::Period(p)) => (*p < *n).then_some(*p),
            _ => None,
        }
    }

    /// Why `stamp` cannot name a row of this index, when it is of the other kind: a date for
    /// numbered periods, or a period number for dated rows (both lookups find no row then, and
    /// "after the last row" would be the wrong reason).
    pub fn stamp_mismatch(&self, stamp: &Stamp) -> Option<String> {
        match (self, stamp) {
            (TimeIndex::Dates(dates), Stamp::Period(_)) => Some(format!(
                "{stamp} is a period number, but the data is dated ({} .. {}): give a date",
                dates.first().map(|d| d.to_string()).unwrap_or_default(),
                dates.last().map(|d| d.to_string()).unwrap_or_default()
            )),
            (TimeIndex::Periods(n), Stamp::Date(_)) => Some(format!(
                "{stamp} is a date, but the data's rows are numbered periods (0 .. {}): give a period number",
                n.saturating_sub(1)
            )),
            _ => None,
        }
    }

    /// Last row at or before `stamp`.
    pub fn last_at_or_before(&self, stamp: &Stamp) -> Option<usize> {
        match (self, stamp) {
            (TimeIndex::Dates(dates), Stamp::Date(d)) => dates.partition_point(|x| x <= d).checked_sub(1),
            (TimeIndex::Periods(n), Stamp::Period(p)) => n.checked_sub(1).map(|last| last.min(*p)),
            _ => None,
        }
    }

    fn slice(&self, rows: std::ops::Range<usize>) -> TimeIndex {
        match self {
            TimeIndex::Dates(dates) => TimeIndex::Dates(dates[rows].to_vec()),
            TimeIndex::Periods(_) => TimeIndex::Periods(rows.len()),
        }
    }
}

/// A number as a message shows it: plain where it has few digits, else in exponent form (1e-300,
/// not three hundred zeros).
pub fn readable(x: f64) -> String {
    if x == 0.0 || (1e-6..1e15).contains(&x.abs()) { x.to_string() } else { format!("{x:e}") }
}

/// A point on a time axis as a user writes it: `2019-01-02` or, for undated data, `250`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(untagged)]
pub enum Stamp {
    Date(NaiveDate),
    Period(usize),
}

impl std::str::FromStr for Stamp {
    type Err = InvalidStamp;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(Stamp::Date(date));
        }
        text.parse::<usize>().map(Stamp::Period).map_err(|_| InvalidStamp { text: text.to_string() })
    }
}

impl std::fmt::Display for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stamp::Date(d) => write!(f, "{d}"),
            Stamp::Period(p) => write!(f, "period {p}"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Stamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(usize),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(Stamp::Period(n)),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Prices of several assets over time. Cells before an asset's first trade (or after its last)
/// are NaN; everything between is a finite positive price, as the loader guarantees.
#[derive(Debug, Clone)]
pub struct PricePanel {
    /// Where the prices came from, for messages (a path, or `synthetic`).
    pub source: PathBuf,
    pub assets: Vec<String>,
    pub index: TimeIndex,
    /// Rows are periods, columns are assets.
    pub prices: Array2<f64>,
}

/// The rows an asset has prices for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listing {
    pub first: usize,
    pub last: usize,
}

impl PricePanel {
    pub fn new(
        source: impl Into<PathBuf>,
        assets: Vec<String>,
        index: TimeIndex,
        prices: Array2<f64>,
    ) -> Self {
        assert_eq!(prices.nrows(), index.len(), "one price row per time stamp");
        assert_eq!(prices.ncols(), assets.len(), "one price column per asset");
        Self { source: source.into(), assets, index, prices }
    }

    pub fn n_periods(&self) -> usize {
        self.prices.nrows()
    }

    pub fn n_assets(&self) -> usize {
        self.prices.ncols()
    }

    pub fn asset_prices(&self, asset: usize) -> ArrayView1<'_, f64> {
        self.prices.column(asset)
    }

    /// First and last rows with a price for `asset`, or `None` if it never trades.
    pub fn listing(&self, asset: usize) -> Option<Listing> {
        let column = self.prices.column(asset);
        let first = column.iter().position(|p| p.is_finite())?;
        let last = column.iter().rposition(|p| p.is_finite())?;
        Some(Listing { first, last })
    }

    /// Keep the named assets (in the given order; all assets when `names` is empty) over the rows
    /// between `from` and `to` inclusive (the whole panel when omitted).
    ///
    /// Assets listed later than others are handled explicitly: without `from`, the range starts
    /// where every chosen asset trades and [`Selection::started_by`] names the asset that set the
    /// start; with an explicit `from` before an asset's first price it is an error naming the asset.
    pub fn select(
        &self,
        names: &[String],
        from: Option<Stamp>,
        to: Option<Stamp>,
    ) -> Result<Selection, DataError> {
        let columns = self.columns_named(names)?;
        let common = self.common_listing(&columns)?;
        let start = self.start_row(from, &common)?;
        let end = self.end_row(to, &common, &columns)?;
        if end <= start {
            return Err(DataError::Selection(format!(
                "the selected range {} .. {} of {} holds fewer than two periods",
                self.index.label(start.min(self.n_periods() - 1)),
                self.index.label(end.min(self.n_periods() - 1)),
                self.source.display()
            )));
        }
        let panel = self.cut(&columns, start..end + 1);
        let file_last = self.n_periods() - 1;
        let ends_at = |c: usize| self.listing(c).is_some_and(|l| l.last == end);
        // When every asset ends there (the file's last rows are blank), leaving one out gains
        // nothing, and a note naming one would say it does.
        let ended_by = (to.is_none() && end < file_last && !columns.iter().all(|&c| ends_at(c)))
            .then(|| columns.iter().find(|&&c| ends_at(c)))
            .flatten()
            .map(|&c| EarlyEnd {
                asset: self.assets[c].clone(),
                last: self.index.label(end),
                file_last: self.index.label(file_last),
            });
        let started_by = if from.is_none() { self.late_start(&columns, &common) } else { None };
        Ok(Selection { panel, started_by, ended_by, first_file_row: start })
    }

    /// The columns of the assets called `names`, in that order; every column when none are named.
    pub fn columns_named(&self, names: &[String]) -> Result<Vec<usize>, DataError> {
        if names.is_empty() {
            if self.n_assets() == 0 {
                return Err(DataError::Selection(format!("{} has no assets", self.source.display())));
            }
            return Ok((0..self.n_assets()).collect());
        }
        let mut columns = Vec::with_capacity(names.len());
        for name in names {
            let column = self.assets.iter().position(|a| a == name).ok_or_else(|| {
                DataError::Selection(format!(
                    "asset '{name}' is not in {} (it has: {})",
                    self.source.display(),
                    self.assets.join(", ")
                ))
            })?;
            if columns.contains(&column) {
                return Err(DataError::Selection(format!("asset '{name}' is selected twice")));
            }
            columns.push(column);
        }
        Ok(columns)
    }

    /// The rows where every one of `columns` has a price, and the asset that starts last.
    fn common_listing(&self, columns: &[usize]) -> Result<CommonListing, DataError> {
        let mut common = CommonListing { first: 0, last: usize::MAX, limited_by: None };
        for &c in columns {
            let listing = self.listing(c).ok_or_else(|| {
                DataError::Selection(format!(
                    "asset '{}' has no prices in {}",
                    self.assets[c],
                    self.source.display()
                ))
            })?;
            if listing.first > common.first {
                common.first = listing.first;
                common.limited_by = Some(self.assets[c].clone());
            }
            common.last = common.last.min(listing.last);
        }
        match self.listings_apart(columns, &common) {
            Some(error) => Err(error),
            None => Ok(common),
        }
    }

    /// Why assets whose listings share fewer than two rows make no market, when two of them are
    /// to blame: the one that starts last and the one that ends first, by name and date.
    fn listings_apart(&self, columns: &[usize], common: &CommonListing) -> Option<DataError> {
        if common.last > common.first {
            return None;
        }
        let ends_first = columns
            .iter()
            .filter_map(|&c| self.listing(c).map(|listing| (listing.last, c)))
            .min()
            .map(|(_, c)| self.assets[c].clone())?;
        let starts_last = common.limited_by.clone().filter(|late| *late != ends_first)?;
        // Two listings that meet on one day share that row alone.
        let relation = if common.first == common.last { "on the day of" } else { "after" };
        Some(DataError::Selection(format!(
            "the assets of {} share no two periods with prices: {starts_last} starts on {}, {relation} \
             {ends_first}'s last price on {}; leave one of them out (data.assets)",
            self.source.display(),
            self.index.label(common.first),
            self.index.label(common.last)
        )))
    }

    /// The assets that start last, when they start after the file's first row, and where the
    /// market would start without them.
    fn late_start(&self, columns: &[usize], common: &CommonListing) -> Option<LateStart> {
        common.limited_by.as_ref()?;
        let first = |c: usize| self.listing(c).map_or(0, |l| l.first);
        let (latest, others): (Vec<usize>, Vec<usize>) =
            columns.iter().partition(|&&c| first(c) == common.first);
        // Every asset starts there (the file's first rows are blank): none is late.
        if others.is_empty() {
            return None;
        }
        let without = others.iter().map(|&c| first(c)).max().unwrap_or(0);
        Some(LateStart {
            assets: latest.iter().map(|&c| self.assets[c].clone()).collect(),
            first: self.index.label(common.first),
            file_first: self.index.label(0),
            without: self.index.label(without),
        })
    }

    /// The first row: `from`'s, which must not come before an asset's first price, or the first
    /// row every asset trades.
    fn start_row(&self, from: Option<Stamp>, common: &CommonListing) -> Result<usize, DataError> {
        let Some(stamp) = from else { return Ok(common.first) };
        if let Some(why) = self.index.stamp_mismatch(&stamp) {
            return Err(DataError::Selection(format!("--from {why}")));
        }
        let row = self.index.first_at_or_after(&stamp).ok_or_else(|| {
            DataError::Selection(format!(
                "--from {stamp} is after the last row of {} ({})",
                self.source.display(),
                self.index.label(self.n_periods().saturating_sub(1))
            ))
        })?;
        if row < common.first {
            let asset = common.limited_by.clone().unwrap_or_default();
            return Err(DataError::Selection(format!(
                "asset '{asset}' has prices only from {}; the range starts at {}: \
                 start at {} or leave '{asset}' out",
                self.index.label(common.first),
                self.index.label(row),
                self.index.label(common.first),
            )));
        }
        Ok(row)
    }

    /// The last row: `to`'s, which must not come after an asset's last price, or the last row
    /// every asset trades.
    fn end_row(
        &self,
        to: Option<Stamp>,
        common: &CommonListing,
        columns: &[usize],
    ) -> Result<usize, DataError> {
        let Some(stamp) = to else { return Ok(common.last) };
        if let Some(why) = self.index.stamp_mismatch(&stamp) {
            return Err(DataError::Selection(format!("--to {why}")));
        }
        let row = self.index.last_at_or_before(&stamp).ok_or_else(|| {
            DataError::Selection(format!("--to {stamp} is before the first row of {}", self.source.display()))
        })?;
        if row > common.last {
            let asset = columns
                .iter()
                .find(|&&c| self.listing(c).is_some_and(|l| l.last == common.last))
                .map(|&c| self.assets[c].clone())
                .unwrap_or_default();
            return Err(DataError::Selection(format!(
                "asset '{asset}' has prices only up to {}; the range ends at {}",
                self.index.label(common.last),
                self.index.label(row)
            )));
        }
        Ok(row)
    }

    /// A panel of `columns` over `rows`.
    fn cut(&self, columns: &[usize], rows: std::ops::Range<usize>) -> PricePanel {
        let mut prices = Array2::zeros((rows.len(), columns.len()));
        for (j, &c) in columns.iter().enumerate() {
            prices.column_mut(j).assign(&self.prices.slice(s![rows.clone(), c]));
        }
        PricePanel {
            source: self.source.clone(),
            assets: columns.iter().map(|&c| self.assets[c].clone()).collect(),
            index: self.index.slice(rows),
            prices,
        }
    }

    /// Price relatives `x[t][i] = p[t][i] / p[t-1][i]` for `t = 1..T`; row `t-1` of the result
    /// belongs to period `t`. Requires a panel without missing prices (a [`Selection`]).
    pub fn relatives(&self) -> Array2<f64> {
        let t = self.n_periods();
        let now = self.prices.slice(s![1..t, ..]);
        let before = self.prices.slice(s![0..t - 1, ..]);
        &now / &before
    }

    /// Which rows of which assets this panel holds, when its rows are dated: what finds them again
    /// in a longer panel of the same history ([`PricePanel::fingerprint_over`]). Undated rows are
    /// numbered from the panel's own first row, so their numbers place nothing in a longer file
    /// ([`PricePanel::row_span`] finds them as its first rows instead).
    pub fn span(&self) -> Option<DataSpan> {
        match &self.index {
            TimeIndex::Dates(dates) => {
                Some(DataSpan { assets: self.assets.clone(), first: *dates.first()?, last: *dates.last()? })
            }
            TimeIndex::Periods(_) => None,
        }
    }

    /// The [`PricePanel::fingerprint`] of this panel's rows over `span`, when this panel holds
    /// those assets, in that order, and rows on both of its dates: what a trial on that shorter
    /// cut of this history recorded, if its prices are these.
    pub fn fingerprint_over(&self, span: &DataSpan) -> Option<String> {
        let TimeIndex::Dates(dates) = &self.index else { return None };
        if span.assets != self.assets {
            return None;
        }
        let first = dates.binary_search(&span.first).ok()?;
        let last = dates.binary_search(&span.last).ok()?;
        (first < last).then(|| self.fingerprint_of_rows(first..last + 1))
    }

    /// The assets and number of rows of an undated panel: what finds them again as the first rows
    /// of a longer panel of the same history ([`PricePanel::fingerprint_over_rows`]), as a
    /// development run or a search cuts its data (`data.to`) and a later run on the whole file
    /// does not.
    pub fn row_span(&self) -> Option<RowSpan> {
        match self.index {
            TimeIndex::Periods(periods) => Some(RowSpan { assets: self.assets.clone(), periods }),
            TimeIndex::Dates(_) => None,
        }
    }

    /// The [`PricePanel::fingerprint`] of this undated panel's first `span.periods` rows, when it
    /// holds those assets, in that order, and more rows than that: what a trial on that shorter
    /// cut recorded, if its prices are these. A cut that started at a later row is not found,
    /// and so not counted: the count can miss a trial, never take one from other prices.
    pub fn fingerprint_over_rows(&self, span: &RowSpan) -> Option<String> {
        let TimeIndex::Periods(periods) = self.index else { return None };
        (span.assets == self.assets && span.periods < periods)
            .then(|| self.fingerprint_of_rows(0..span.periods))
    }

    /// The [`PricePanel::fingerprint`] of `rows` of this panel, every asset kept.
    fn fingerprint_of_rows(&self, rows: std::ops::Range<usize>) -> String {
        self.cut(&(0..self.n_assets()).collect::<Vec<_>>(), rows).fingerprint()
    }

    /// A content hash of the panel as used (asset names, time stamps and every price bit), so a
    /// checkpoint can tell whether it is being evaluated on the data it was trained for.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        for asset in &self.assets {
            hasher.update(asset.as_bytes());
            hasher.update([0u8]);
        }
        match &self.index {
            TimeIndex::Dates(dates) => {
                for d in dates {
                    hasher.update(d.to_string().as_bytes());
                }
            }
            TimeIndex::Periods(n) => hasher.update((*n as u64).to_le_bytes()),
        }
        for p in &self.prices {
            hasher.update(p.to_le_bytes());
        }
        let digest = hasher.finalize();
        hex::encode(&digest[..16])
    }
}

/// The rows every selected asset trades in.
struct CommonListing {
    first: usize,
    last: usize,
    /// The asset whose late start sets `first`, when it is later than the panel's first row.
    limited_by: Option<String>,
}

/// The assets and the first and last dates of a dated panel: a trial records them beside its
/// data's fingerprint, so that a later run on a longer cut of the same history can count it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct DataSpan {
    pub assets: Vec<String>,
    pub first: NaiveDate,
    pub last: NaiveDate,
}

/// The assets and the number of rows of an undated panel, which a trial records for what
/// [`DataSpan`] does for dated ones ([`PricePanel::row_span`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct RowSpan {
    pub assets: Vec<String>,
    pub periods: usize,
}

/// A panel cut to the chosen assets and range, with every price present.
#[derive(Debug, Clone)]
pub struct Selection {
    pub panel: PricePanel,
    /// The assets whose late start set the first row, when the range was not given explicitly:
    /// every period before their first price is lost to every asset.
    pub started_by: Option<LateStart>,
    /// The asset whose early end set the last row, when the range was not given explicitly and
    /// the file goes on past it: every period after its last price is lost to every asset.
    pub ended_by: Option<EarlyEnd>,
    /// The file row of the selection's first row. An undated panel numbers its periods from
    /// its own first row, while `data.from` and `data.to` count the file's.
    pub first_file_row: usize,
}

impl Selection {
    /// The stamp that `data.to` (or `data.from`) gives to reach the selection's row `row`.
    pub fn file_stamp(&self, row: usize) -> Stamp {
        match &self.panel.index {
            TimeIndex::Dates(dates) => Stamp::Date(dates[row]),
            TimeIndex::Periods(_) => Stamp::Period(self.first_file_row + row),
        }
    }
}

/// Assets that start trading after the file starts, cutting the market's first years.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateStart {
    /// The assets with the latest first price (more than one when they start on the same row).
    pub assets: Vec<String>,
    /// Their first price's row label: the market's first row.
    pub first: String,
    /// The file's first row label.
    pub file_first: String,
    /// Where the market would start without them.
    pub without: String,
}

impl std::fmt::Display for LateStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = self.assets.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", ");
        let (subject, has, them) =
            if self.assets.len() == 1 { ("asset", "has", "it") } else { ("assets", "have", "them") };
        write!(
            f,
            "{subject} {names} {has} no prices before {}, so the market starts there although the file \
             starts at {}; leave {them} out (data.assets) to start at {}",
            self.first, self.file_first, self.without
        )
    }
}

/// An asset that stops trading before the file ends, cutting the market short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlyEnd {
    pub asset: String,
    /// Its last price's row label: the market's last row.
    pub last: String,
    /// The file's last row label.
    pub file_last: String,
}

impl std::fmt::Display for EarlyEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "asset '{}' has no prices after {}, so the market ends there although the file goes on to {}; \
             leave '{}' out (data.assets) to use the later rows",
            self.asset, self.last, self.file_last, self.asset
        )
    }
}
