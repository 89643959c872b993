//! Reading and writing wide price files: one row per period, one column per asset.
//!
//! Two layouts are accepted, told apart by the first header cell:
//! - dated: `date,AAPL,MSFT,...` with ISO dates (YYYY-MM-DD), strictly increasing (the first
//!   column may also be named `Datetime` or `timestamp`, or be unnamed, as pandas writes an
//!   unnamed date index);
//! - undated: `A,B,C,...` with prices only (the online-portfolio-selection data sets), whose
//!   rows are numbered as periods from 0.
//!
//! A blank cell means "no price", and so do the missing-value marks that spreadsheets, pandas
//! and FRED write (`NaN`, `NA`, `#N/A`, `null`, `.`, ...). No price is allowed before an asset's
//! first price (it started trading later) and after its last (it stopped). In between it is an
//! error unless the config says to carry the last price forward ([`MissingPrices`]).
//!
//! Dates are ISO (`YYYY-MM-DD`, or `YYYY/MM/DD`); a time of day after the date, as pandas and
//! yfinance write daily timestamps (`2020-01-02 00:00:00-05:00`), is read as that day. Dates with
//! slashes and the year last, as spreadsheets save them (`1/2/2020`), are read month first or day
//! first as the whole column shows (a number above 12 is a day), and refused where it does not.
//!
//! A download of several tickers as yfinance writes it (`df.to_csv()` of `yf.download([...])`: a
//! row of fields, `Price,Close,Close,High,...`, over a row of tickers, `Ticker,AAPL,MSFT,...`, and
//! a `Date,,,` row) is read as the wide file of its adjusted closes: the `Adj Close` columns where
//! there are any, else `Close` (adjusted already since yfinance 0.2.51).
//!
//! Cells are separated by commas, or by tabs in a file whose header has tabs and no comma (a
//! spreadsheet's "tab-separated" export). Blank cells at the right edge, beyond the last named
//! column, are the trailing commas some spreadsheets write, and are dropped.

use chrono::NaiveDate;

use super::dates::{SlashOrder, has_short_year, looks_like_date, parse_day, slash_order};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use super::{PricePanel, TimeIndex};
use crate::data::{DataError, Location};
use crate::files::write_atomically;

mod header;
mod listings;
mod rows;

use header::{Header, read_header};
use listings::{check_listings, check_returns};
use rows::read_rows;

/// The records after a header row, which a header that spans rows reads on into.
type Records<'a> = std::iter::Peekable<csv::StringRecordsIntoIter<&'a [u8]>>;

/// What a blank cell between an asset's first and last price means (`[data] missing`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingPrices {
    /// Refuse the file at the first such cell. A gap inside a listing is as often a broken
    /// download as a day the asset's exchange was closed, so nothing is filled unless asked.
    #[default]
    Error,
    /// Carry the asset's last price forward (pandas' `ffill`): over a missing period the asset
    /// earns nothing and trades at its last price, as over a holiday of its own exchange. It
    /// stays causal: a filled price is one the market had already shown.
    CarryForward,
}

impl MissingPrices {
    pub fn is_error(&self) -> bool {
        *self == MissingPrices::Error
    }
}

/// The missing prices of one asset that [`MissingPrices::CarryForward`] filled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CarriedForward {
    pub asset: String,
    /// How many cells were filled.
    pub cells: usize,
    /// The line of the first filled cell.
    pub first_line: u64,
    /// The most consecutive periods filled: the longest the asset's price stood still for it.
    pub longest_run: usize,
}

impl std::fmt::Display for CarriedForward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        write!(
            f,
            "{}: {} missing price{} from line {}, at most {} in a row",
            self.asset,
            self.cells,
            plural(self.cells),
            self.first_line,
            self.longest_run
        )
    }
}

/// A loaded price file and what was filled in it.
#[derive(Debug, Clone)]
pub struct LoadedPrices {
    pub panel: PricePanel,
    /// One entry per asset with missing prices inside its listing (none under
    /// [`MissingPrices::Error`], which refuses them).
    pub carried_forward: Vec<CarriedForward>,
    /// The field read from a download of several fields per ticker (`Adj Close` or `Close`);
    /// `None` for a plain wide file.
    pub price_field: Option<String>,
}

/// Load a price file that must have no missing price inside any asset's listing.
pub fn load_prices(path: &Path) -> Result<PricePanel, DataError> {
    read_prices(path, MissingPrices::Error).map(|loaded| loaded.panel)
}

/// Load a price file, treating missing prices inside a listing as `missing` says.
///
/// A command reads its config's file more than once as it starts (for the periods per year a
/// config leaves out, for the data warnings, for the fold layout, for the market), and parsing
/// is most of a read: about 0.4 s for 500 assets over 5,000 rows. The last file parsed is kept,
/// and handed out again while its path, its bytes, `missing` and the assets read are the same,
/// so a file that changed between two reads is read anew.
pub fn read_prices(path: &Path, missing: MissingPrices) -> Result<LoadedPrices, DataError> {
    read_assets(path, missing, &[])
}

/// Load the prices of the assets named `assets` (every asset when empty) from a price file, as
/// [`read_prices`] does. The file's other columns keep their names but are not read: their
/// cells are blank, and a column a config leaves out (a failed download's empty column, a
/// ticker with a bad cell) cannot stop it. The layout is still checked whole.
pub fn read_assets(
    path: &Path,
    missing: MissingPrices,
    assets: &[String],
) -> Result<LoadedPrices, DataError> {
    static LAST: Mutex<Option<(ParseKey, LoadedPrices)>> = Mutex::new(None);
    let bytes = read_bytes(path)?;
    let key = ParseKey::of(path, &bytes, missing, assets);
    if let Some((last_key, loaded)) = LAST.lock().unwrap_or_else(PoisonError::into_inner).as_ref()
        && *last_key == key
    {
        return Ok(loaded.clone());
    }
    let loaded = parse(path, &bytes, Some(missing), None, assets)?;
    *LAST.lock().unwrap_or_else(PoisonError::into_inner) = Some((key, loaded.clone()));
    Ok(loaded)
}

/// What a parse depends on: the path (the panel's source names it), a hash of the bytes and
/// their length, what a missing price means, and the assets read.
#[derive(Debug, PartialEq, Eq)]
struct ParseKey {
    path: PathBuf,
    length: usize,
    hash: u64,
    missing: MissingPrices,
    assets: Vec<String>,
}

impl ParseKey {
    fn of(path: &Path, bytes: &[u8], missing: MissingPrices, assets: &[String]) -> Self {
        let mut hasher = DefaultHasher::new();
        bytes.hash(&mut hasher);
        Self {
            path: path.to_path_buf(),
            length: bytes.len(),
            hash: hasher.finish(),
            missing,
            assets: assets.to_vec(),
        }
    }
}

/// A price file's bytes, from disk or, for a default that is compiled in, from the binary.
fn read_bytes(path: &Path) -> Result<std::borrow::Cow<'static, [u8]>, DataError> {
    crate::files::read_or_bundled(path).map_err(|source| DataError::Io { path: path.into(), source })
}

pub(super) fn invalid(
    path: &Path,
    line: Option<u64>,
    column: Option<(usize, &str)>,
    reason: String,
) -> DataError {
    DataError::Invalid {
        location: Location {
            file: path.to_path_buf(),
            line,
            column: column.map(|(n, name)| (n, name.to_string())),
        },
        reason,
    }
}

/// Read a price file's bytes: its header, then its price rows, then check that every asset's
/// prices run without gaps from its first to its last, or fill them as `missing` says.
#[cfg(test)]
pub(crate) fn parse_prices(
    path: &Path,
    bytes: &[u8],
    missing: MissingPrices,
) -> Result<LoadedPrices, DataError> {
    parse(path, bytes, Some(missing), None, &[])
}

/// Load one ticker's own price file as a panel of one asset named `name`: a date column and
/// either one price column, or the fields a download writes per day (`Open,High,Low,Close,Adj
/// Close,Volume`), of which the dividend-adjusted close is read, else the close. A download of
/// one ticker with its rows of fields and tickers reads as any download does.
///
/// A blank price inside the file stays blank (NaN): the file is one column of a wide file still
/// to be joined, where a blank and a date the file lacks mean the same thing, and the joined
/// file's config says what both do.
pub fn read_ticker(path: &Path, name: &str) -> Result<LoadedPrices, DataError> {
    let loaded = parse(path, &read_bytes(path)?, None, Some(name), &[])?;
    if loaded.panel.n_assets() != 1 {
        return Err(invalid(
            path,
            None,
            None,
            format!(
                "the file holds {} price columns ({}), not one ticker's prices",
                loaded.panel.n_assets(),
                loaded.panel.assets.join(", ")
            ),
        ));
    }
    Ok(loaded)
}

/// `missing`: what a blank inside a listing means; `None` leaves it blank. `wanted`: the assets
/// read, every one when empty.
fn parse(
    path: &Path,
    bytes: &[u8],
    missing: Option<MissingPrices>,
    one_ticker: Option<&str>,
    wanted: &[String],
) -> Result<LoadedPrices, DataError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(invalid(
            path,
            None,
            None,
            "the file is empty; expected a header row such as `date,AAPL,MSFT`".into(),
        ));
    }
    let delimiter = delimiter(bytes);
    let bytes = &*without_spaces_before_quotes(bytes, delimiter);
    let mut records = csv_reader(bytes, delimiter).into_records().peekable();
    let mut header = read_header(path, bytes, delimiter, &mut records, one_ticker)?;
    if !wanted.is_empty() {
        header.read = header.assets().iter().map(|asset| wanted.contains(asset)).collect();
    }
    let rows = read_rows(path, bytes, &mut header, records)?;
    let mut prices = Array2::from_shape_vec((rows.lines.len(), header.assets().len()), rows.values)
        .expect("rows were checked to have equal length");
    let carried_forward = check_listings(path, &header, &mut prices, &rows.lines, missing)?;
    check_returns(path, &header, &prices, &rows.lines)?;
    let index =
        if header.dated { TimeIndex::Dates(rows.dates) } else { TimeIndex::Periods(rows.lines.len()) };
    Ok(LoadedPrices {
        panel: PricePanel::new(path, header.assets().to_vec(), index, prices),
        carried_forward,
        price_field: header.download.map(|d| d.field),
    })
}

/// The reader of every pass over a price file: no header row (the header is read as a record,
/// so that it can span rows), rows of any length (checked with their line), cells trimmed.
fn csv_reader(bytes: &[u8], delimiter: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes)
}

/// `bytes` with the spaces between a separator (or a line's start) and a quote removed: `a, "b"`
/// is how many tools write CSV, and a CSV reader takes a quote only at a cell's very start, so
/// after a space it would keep the quotes in the cell and split a quoted `"5,270.40"` at its
/// comma. Such spaces are never data (cells are trimmed; a tab is a space only where it is not
/// the separator), and quoted cells are copied as they are, so nothing else changes; lines keep
/// their numbers. Borrowed when there is nothing to remove.
fn without_spaces_before_quotes(bytes: &[u8], delimiter: u8) -> std::borrow::Cow<'_, [u8]> {
    let is_space = |b: u8| b == b' ' || (b == b'\t' && delimiter != b'\t');
    let space_before_quote = bytes.windows(2).any(|pair| is_space(pair[0]) && pair[1] == b'"');
    if !space_before_quote {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    // A byte-order mark is not the first cell's start: the CSV reader drops it before reading.
    let bom = if bytes.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    out.extend_from_slice(&bytes[..bom]);
    let (mut cell_start, mut quoted) = (true, false);
    let mut i = bom;
    while i < bytes.len() {
        let b = bytes[i];
        if quoted {
            out.push(b);
            if b == b'"' {
                // `""` inside quotes is a quote; a lone one closes the cell's quotes.
                if bytes.get(i + 1) == Some(&b'"') {
                    out.push(b'"');
                    i += 1;
                } else {
                    quoted = false;
                }
            }
        } else if cell_start && is_space(b) {
            let after = bytes[i..].iter().position(|&c| !is_space(c)).map_or(bytes.len(), |k| i + k);
            if bytes.get(after) != Some(&b'"') {
                out.extend_from_slice(&bytes[i..after]);
                cell_start = false;
            }
            i = after;
            continue;
        } else {
            out.push(b);
            quoted = cell_start && b == b'"';
            cell_start = b == delimiter || b == b'\n' || b == b'\r';
        }
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

/// A tab when the first line that holds anything has tabs and no comma; else a comma.
fn delimiter(bytes: &[u8]) -> u8 {
    let first_line = bytes
        .split(|&b| b == b'\n')
        .find(|line| !line.iter().all(u8::is_ascii_whitespace))
        .unwrap_or_default();
    if first_line.contains(&b'\t') && !first_line.contains(&b',') { b'\t' } else { b',' }
}

/// The 1-based line and the byte offset where `record` starts. The csv reader reports where it
/// began looking for the record, which is before any empty lines it skipped on the way.
fn record_start(bytes: &[u8], record: &csv::StringRecord) -> (u64, usize) {
    let Some(position) = record.position() else { return (0, 0) };
    let mut line = position.line();
    let mut start = (position.byte() as usize).min(bytes.len());
    while let Some(&b) = bytes.get(start).filter(|&&b| b == b'\n' || b == b'\r') {
        line += u64::from(b == b'\n');
        start += 1;
    }
    (line, start)
}

fn csv_error(path: &Path, error: csv::Error) -> DataError {
    let line = error.position().map(|p| p.line());
    let reason = match error.kind() {
        csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8 text".to_string(),
        _ => error.to_string(),
    };
    invalid(path, line, None, reason)
}

/// Write a panel in the layout it was read from (dated or undated). Prices are written with
/// Rust's shortest round-trip formatting, so reading the file back gives bit-identical values.
pub fn write_prices(panel: &PricePanel, path: &Path) -> Result<(), DataError> {
    write_atomically(path, |out| {
        let mut writer = csv::Writer::from_writer(out);
        let mut header: Vec<&str> = Vec::with_capacity(panel.n_assets() + 1);
        if panel.index.is_dated() {
            header.push("date");
        }
        header.extend(panel.assets.iter().map(String::as_str));
        writer.write_record(&header)?;
        let mut row: Vec<String> = Vec::with_capacity(header.len());
        for t in 0..panel.n_periods() {
            row.clear();
            if let TimeIndex::Dates(dates) = &panel.index {
                row.push(dates[t].to_string());
            }
            row.extend(
                panel.prices.row(t).iter().map(|p| if p.is_finite() { p.to_string() } else { String::new() }),
            );
            writer.write_record(&row)?;
        }
        writer.flush()?;
        Ok::<(), std::io::Error>(())
    })
    .map_err(|source| DataError::Write { path: path.into(), source })
}
