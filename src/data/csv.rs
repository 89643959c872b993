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

/// The header row: every column's name, and whether the first column holds dates.
struct Header {
    names: Vec<String>,
    /// Unnamed columns after the last name (trailing commas), dropped: a value in one of them is
    /// reported as a column without a name.
    unnamed_tail: usize,
    dated: bool,
    /// The first column numbers the rows (pandas writes its index so: a blank header or
    /// `period`/`index`), in an undated file.
    numbered: bool,
    line: u64,
    /// The columns read from a download of several fields per ticker.
    download: Option<Download>,
    /// The order of day and month in dates written with slashes, when the column shows one.
    slash_order: Option<SlashOrder>,
    /// Whether each asset's prices are read (all, when empty): the others' cells are left blank
    /// unread, so that a column a config does not select cannot stop it.
    read: Vec<bool>,
}

/// Which columns of a download of several fields per ticker hold the prices read.
struct Download {
    /// The file's columns kept, in order: the date column, then one per ticker.
    columns: Vec<usize>,
    /// Cells in each of the file's rows.
    width: usize,
    /// The field read, as the file spells it.
    field: String,
}

/// Fields a price download has per ticker (yfinance's, with `actions=True`).
const DOWNLOAD_FIELDS: [&str; 9] =
    ["open", "high", "low", "close", "adj close", "volume", "dividends", "stock splits", "capital gains"];

/// The fields that hold prices to read, best first: dividend-adjusted closes, then closes.
const PRICE_FIELDS: [&str; 2] = ["adj close", "close"];

/// Whether a header cell names a date column: one of [`DATE_HEADERS`], or a name with the word
/// "date" or "dates" in it (`Dates` from Bloomberg, `Trade Date`, `trade_date`; not `Mandate`).
fn is_date_header(name: &str) -> bool {
    DATE_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h))
        || name
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| word.eq_ignore_ascii_case("date") || word.eq_ignore_ascii_case("dates"))
}

/// Whether every cell after the first of a header row names a field of a download (at least one).
fn are_download_fields(row: &[String]) -> bool {
    row.len() > 1 && row[1..].iter().all(|cell| DOWNLOAD_FIELDS.iter().any(|f| cell.eq_ignore_ascii_case(f)))
}

/// The best of `PRICE_FIELDS` among the cells after the first of a row of fields.
fn price_field(row: &[String]) -> Option<&'static str> {
    PRICE_FIELDS.iter().copied().find(|field| row.iter().skip(1).any(|cell| cell.eq_ignore_ascii_case(field)))
}

impl Download {
    /// The kept cells of a row of the file.
    fn select(
        &self,
        path: &Path,
        line: u64,
        record: &csv::StringRecord,
    ) -> Result<csv::StringRecord, DataError> {
        if record.len() != self.width {
            return Err(invalid(
                path,
                Some(line),
                None,
                format!("the row has {} fields but the header has {}", record.len(), self.width),
            ));
        }
        Ok(self.columns.iter().map(|&c| &record[c]).collect())
    }
}

impl Header {
    /// The file's column number (from 1) of the `j`-th column kept.
    fn file_column(&self, j: usize) -> usize {
        self.download.as_ref().map_or(j, |d| d.columns[j]) + 1
    }

    /// Index of the first price column: 1 after a date or row-number column, else 0.
    fn first_asset_column(&self) -> usize {
        usize::from(self.dated || self.numbered)
    }

    fn assets(&self) -> &[String] {
        &self.names[self.first_asset_column()..]
    }

    /// Whether the prices of the `j`-th asset are read.
    fn reads(&self, j: usize) -> bool {
        self.read.get(j).copied().unwrap_or(true)
    }
}

/// The price rows as read: their dates (dated files), each row's line for messages, and the
/// prices row after row with NaN for a blank cell.
struct Rows {
    dates: Vec<NaiveDate>,
    lines: Vec<u64>,
    values: Vec<f64>,
}

type Records<'a> = std::iter::Peekable<csv::StringRecordsIntoIter<&'a [u8]>>;

/// The first record: names that are present and unique, at least one of them an asset.
fn read_header(
    path: &Path,
    bytes: &[u8],
    delimiter: u8,
    records: &mut Records<'_>,
    one_ticker: Option<&str>,
) -> Result<Header, DataError> {
    let header = match records.next() {
        Some(Ok(record)) => record,
        Some(Err(e)) => return Err(csv_error(path, e)),
        None => return Err(invalid(path, None, None, "the file is empty".into())),
    };
    let (line, _) = record_start(bytes, &header);
    let mut names: Vec<String> = header.iter().map(str::to_string).collect();
    let ticker_columns =
        one_ticker.map(|name| ticker_columns(path, line, &mut names, name)).transpose()?.flatten();
    if let Some(hint) = foreign_format(&names) {
        return Err(invalid(path, Some(line), None, hint));
    }
    refuse_values_for_names(path, line, &names)?;
    let download = match ticker_columns {
        Some(columns) => Some(columns),
        None => read_download_header(path, &mut names, line, records)?,
    };
    let unnamed_tail = if download.is_some() {
        0
    } else {
        names.iter().rev().take_while(|n| n.is_empty()).count().min(names.len().saturating_sub(1))
    };
    names.truncate(names.len() - unnamed_tail);
    let numbered = names.len() > 1
        && names.first().is_some_and(|n| {
            n.is_empty() || ["period", "index", "unnamed: 0"].contains(&n.to_ascii_lowercase().as_str())
        });
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() && !(i == 0 && numbered) {
            return Err(invalid(
                path,
                Some(line),
                Some((i + 1, "")),
                "the header cell is empty: every column needs a name".into(),
            ));
        }
        if let Some(j) = names[..i].iter().position(|n| n == name) {
            return Err(invalid(
                path,
                Some(line),
                Some((i + 1, name)),
                format!("duplicate column name '{name}' (also column {})", j + 1),
            ));
        }
    }
    let dated = names.first().is_some_and(|n| is_date_header(n));
    let header = Header {
        names,
        unnamed_tail,
        dated,
        numbered,
        line,
        download,
        read: Vec::new(),
        slash_order: slash_order(
            csv_reader(bytes, delimiter)
                .records()
                .flatten()
                .filter_map(|record| record.get(0).map(str::to_owned)),
        ),
    };
    if header.assets().is_empty() {
        return Err(invalid(path, Some(line), None, "the header names no asset columns".into()));
    }
    Ok(header)
}

/// A first line of numbers and dates is a file without a header: taken for names, it would
/// lose its first row and name the assets after its prices.
fn refuse_values_for_names(path: &Path, line: u64, names: &[String]) -> Result<(), DataError> {
    if names.len() > 1 && names.iter().all(|n| n.trim().parse::<f64>().is_ok() || looks_like_date(n.trim())) {
        return Err(invalid(
            path,
            Some(line),
            None,
            format!(
                "the first line holds values ({}), not column names: a price file starts with a header \
                 line, `date,ASSET1,ASSET2,...`",
                names.iter().take(3).map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    Ok(())
}

/// A header of several rows, as pandas writes a download of several fields per ticker: a row of
/// fields (`Price,Close,Close,High,...`, or a blank first cell) over a row of tickers
/// (`Ticker,AAPL,MSFT,...`), then, if the index has a name, a row holding only it (`Date,,,`).
/// yfinance's `group_by="ticker"` puts the tickers first. On such a header `names` becomes the
/// wide file's (the date column, then the tickers of the field read), and the rows are read
/// through the returned selection. `None`, with nothing read, for any other header.
fn read_download_header(
    path: &Path,
    names: &mut Vec<String>,
    line: u64,
    records: &mut Records<'_>,
) -> Result<Option<Download>, DataError> {
    let first_cell = names.first().map(|n| n.to_ascii_lowercase()).unwrap_or_default();
    let fields_first = are_download_fields(names) && ["price", ""].contains(&first_cell.as_str());
    if !fields_first && first_cell != "ticker" {
        return Ok(None);
    }
    // pandas writes `,Close` over an unnamed date index too: a download's fields stand over a
    // row of tickers, whose first cell is `Ticker` or blank, never over a price row.
    let next_first_cell = match records.peek() {
        Some(Ok(record)) => record.get(0).map(|cell| cell.trim().to_ascii_lowercase()),
        _ => None,
    };
    if fields_first && !matches!(next_first_cell.as_deref(), Some("" | "ticker")) {
        return Ok(None);
    }
    let second: Vec<String> = match records.next() {
        Some(Ok(record)) => record.iter().map(str::to_string).collect(),
        Some(Err(e)) => return Err(csv_error(path, e)),
        None => Vec::new(),
    };
    let (fields, tickers) = match fields_first {
        true => (names.clone(), second),
        false if are_download_fields(&second) => (second, names.clone()),
        false => {
            return Err(invalid(
                path,
                Some(line),
                Some((1, "Ticker")),
                "a row of tickers must be followed by a row of fields (Close, Adj Close, ...), as a \
                 download of several tickers has them"
                    .into(),
            ));
        }
    };
    if tickers.len() != fields.len() {
        return Err(invalid(
            path,
            Some(line + 1),
            None,
            format!(
                "the row of tickers has {} fields but the row of fields has {}",
                tickers.len(),
                fields.len()
            ),
        ));
    }
    let Some(wanted) = price_field(&fields) else {
        return Err(invalid(
            path,
            Some(line),
            None,
            format!(
                "this download has no closing prices (its fields: {}); save it with its Close or Adj Close \
                 columns",
                fields[1..].join(", ")
            ),
        ));
    };
    let mut columns = vec![0];
    columns.extend((1..fields.len()).filter(|&c| fields[c].eq_ignore_ascii_case(wanted)));
    // The first column is unnamed here; its name, if the index has one, is on the row after
    // (skipped by `read_rows`), and its first cell tells dates from row numbers.
    *names = columns.iter().map(|&c| if c == 0 { String::new() } else { tickers[c].clone() }).collect();
    let field = fields[columns[1]].clone();
    Ok(Some(Download { columns, width: fields.len(), field }))
}

/// The price column of one ticker's own file named `name`: the only column after the dates, or
/// of a download's fields per day the adjusted close, else the close. `names` becomes the date
/// column's and `name`. `None` for any other header (a download with rows of fields and
/// tickers, or a wide file), which is read as such.
fn ticker_columns(
    path: &Path,
    line: u64,
    names: &mut Vec<String>,
    name: &str,
) -> Result<Option<Download>, DataError> {
    let dated = names.first().is_some_and(|n| is_date_header(n));
    if !dated || names.len() < 2 || (names.len() > 2 && !are_download_fields(names)) {
        return Ok(None);
    }
    let column = match names.len() {
        2 => 1,
        _ => price_field(names)
            .and_then(|field| names.iter().skip(1).position(|n| n.eq_ignore_ascii_case(field)).map(|k| k + 1))
            .ok_or_else(|| {
                invalid(
                    path,
                    Some(line),
                    None,
                    format!("no Close or Adj Close column to read (its columns: {})", names[1..].join(", ")),
                )
            })?,
    };
    let download = Download { columns: vec![0, column], width: names.len(), field: names[column].clone() };
    *names = vec![names[0].clone(), name.to_string()];
    Ok(Some(download))
}

/// First header cells that name a date column (pandas and yfinance write `Date` or `Datetime`,
/// FRED `observation_date`, crypto exchanges `time` or `timestamp`).
const DATE_HEADERS: [&str; 5] = ["date", "datetime", "timestamp", "time", "observation_date"];

/// What to do about a header that shows a common export format folio does not read.
fn foreign_format(names: &[String]) -> Option<String> {
    let lower: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    let has = |options: &[&str]| lower.iter().any(|n| options.contains(&n.as_str()));
    if names.len() == 1 && names[0].contains(';') {
        return Some(
            "the header is one field holding ';': this looks like a semicolon-separated file; folio reads \
             commas, so save it with ',' as the separator (pandas: df.to_csv(path))"
                .into(),
        );
    }
    if names.first().is_some_and(|n| is_date_header(n)) && names.len() > 2 && are_download_fields(names) {
        let close = if price_field(names) == Some("adj close") { "Adj Close" } else { "Close" };
        return Some(format!(
            "this looks like one ticker's file of {} columns; folio reads one price column per asset: \
             put each ticker's closes in one file with `folio data combine AAPL.csv MSFT.csv ... --out \
             prices.csv` (or pandas: pd.concat({{t: pd.read_csv(f'{{t}}.csv', index_col=0)['{close}'] for t \
             in tickers}}, axis=1).to_csv(path))",
            names[1..].join(", ")
        ));
    }
    if has(&["tic", "ticker", "symbol", "asset"]) && has(&["close", "adj close", "adj_close", "price"]) {
        return Some(
            "this looks like a long file (one row per date and asset); folio reads a wide one, with a \
             date column and one price column per asset: pivot it first (pandas: \
             df.pivot(index='date', columns='tic', values='close').to_csv(path))"
                .into(),
        );
    }
    None
}

/// Every row after the header, blank lines skipped: as many fields as the header, dates that
/// strictly increase, prices that are numbers above zero or blank.
///
/// A first column with a blank name holds dates when its first cell is one: pandas writes an
/// unnamed date index so.
fn read_rows(
    path: &Path,
    bytes: &[u8],
    header: &mut Header,
    records: Records<'_>,
) -> Result<Rows, DataError> {
    let mut rows = Rows { dates: Vec::new(), lines: Vec::new(), values: Vec::new() };
    for record in records {
        let record = record.map_err(|e| csv_error(path, e))?;
        let (line, start) = record_start(bytes, &record);
        if is_blank_line(bytes, start, &record) {
            continue;
        }
        let Some(record) = named_cells(path, line, header, record, rows.lines.is_empty())? else {
            continue;
        };
        if rows.lines.is_empty()
            && header.numbered
            && record.get(0).and_then(|c| parse_day(c, header.slash_order)).is_some()
        {
            header.numbered = false;
            header.dated = true;
        }
        if header.dated {
            let date = next_date(path, line, header, &record[0], &rows)?;
            rows.dates.push(date);
        }
        if header.numbered {
            check_row_number(path, line, header, &record[0], rows.lines.len())?;
        }
        for (j, cell) in record.iter().enumerate().skip(header.first_asset_column()) {
            if !header.reads(j - header.first_asset_column()) {
                rows.values.push(f64::NAN);
                continue;
            }
            rows.values.push(parse_price(path, line, (header.file_column(j), &header.names[j]), cell)?);
        }
        rows.lines.push(line);
    }
    if rows.lines.is_empty() {
        return Err(invalid(
            path,
            Some(header.line),
            None,
            "the header is not followed by any price rows".into(),
        ));
    }
    Ok(rows)
}

/// A row's cells as the header names them: a download's columns picked out, blank cells right of
/// the last named column (trailing commas, not data) dropped, and then exactly one cell per name.
/// `None` for the row pandas writes under a download's header to name its index (`Date,,,`),
/// which holds no prices.
fn named_cells(
    path: &Path,
    line: u64,
    header: &Header,
    record: csv::StringRecord,
    first_row: bool,
) -> Result<Option<csv::StringRecord>, DataError> {
    let record = match &header.download {
        Some(_)
            if first_row
                && record.get(0).and_then(|c| parse_day(c, header.slash_order)).is_none()
                && record.iter().skip(1).all(str::is_empty) =>
        {
            return Ok(None);
        }
        Some(download) => download.select(path, line, &record)?,
        None => record,
    };
    let named = header.names.len();
    let record: csv::StringRecord = match record
        .iter()
        .enumerate()
        .skip(named)
        .find(|(_, cell)| !cell.is_empty())
    {
        Some((k, cell)) if k < named + header.unnamed_tail => {
            return Err(invalid(
                path,
                Some(header.line),
                Some((k + 1, "")),
                format!(
                    "the header cell is empty: every column needs a name (line {line} holds '{cell}' in it)"
                ),
            ));
        }
        None if record.len() > named => record.iter().take(named).collect(),
        _ => record,
    };
    if record.len() != named {
        return Err(invalid(
            path,
            Some(line),
            None,
            format!("the row has {} fields but the header has {named}", record.len()),
        ));
    }
    Ok(Some(record))
}

/// A row-number column counts 0, 1, 2, ... (or from 1); anything else is not an index to drop.
fn check_row_number(
    path: &Path,
    line: u64,
    header: &Header,
    text: &str,
    row: usize,
) -> Result<(), DataError> {
    let counts = |first: usize| text.parse::<usize>().is_ok_and(|n| n == first + row);
    if counts(0) || counts(1) {
        return Ok(());
    }
    Err(invalid(
        path,
        Some(line),
        Some((1, header.names[0].as_str())),
        format!(
            "'{text}' is not row number {row}: a first column named '{}' is taken for a row index (as pandas \
             writes one) and must count up from 0 or 1; name it after an asset if it holds prices",
            header.names[0]
        ),
    ))
}

/// A line with nothing on it, or only separators (`,,,`: the empty rows a spreadsheet keeps
/// below its data). A lone `""` is not one: it is a blank cell of a one-column file.
fn is_blank_line(bytes: &[u8], start: usize, record: &csv::StringRecord) -> bool {
    let quoted = bytes[start..].iter().take_while(|&&b| b != b'\n' && b != b'\r').any(|&b| b == b'"');
    record.iter().all(|cell| cell.trim().is_empty()) && !quoted
}

/// The date of a row, which must come after the previous row's.
fn next_date(
    path: &Path,
    line: u64,
    header: &Header,
    text: &str,
    rows: &Rows,
) -> Result<NaiveDate, DataError> {
    let column = Some((1, header.names[0].as_str()));
    let (date, timed) = parse_day(text, header.slash_order).ok_or_else(|| {
        let hint = if has_short_year(text) {
            "; its year has two digits, and folio does not guess the century: write years in full \
             (2014-01-02, or 1/2/2014)"
        } else if text.contains('/') && header.slash_order.is_none() {
            "; its dates with '/' are ambiguous (no day in the column is above 12, or both orders \
             occur): write them as YYYY-MM-DD (pandas: df.to_csv(path, date_format='%Y-%m-%d'))"
        } else {
            ""
        };
        invalid(
            path,
            Some(line),
            column,
            format!("'{text}' is not a date (YYYY-MM-DD, or M/D/YYYY or D/M/YYYY){hint}"),
        )
    })?;
    let (Some(&previous), Some(&previous_line)) = (rows.dates.last(), rows.lines.last()) else {
        return Ok(date);
    };
    if date == previous {
        let intraday = if timed {
            "; a dated file holds one row per day: for intraday bars, drop the date column and \
             number the rows instead (an undated file)"
        } else {
            ""
        };
        return Err(invalid(
            path,
            Some(line),
            column,
            format!(
                "date {date} repeats the previous row (line {previous_line}); dates must be unique{intraday}"
            ),
        ));
    }
    if date < previous {
        let newest_first = if rows.dates.len() == 1 {
            // One row read so far cannot tell a file that runs newest first from one swapped row.
            "; if the file runs newest first, sort it oldest first (pandas: \
             df.sort_index().to_csv(path))"
        } else {
            ""
        };
        return Err(invalid(
            path,
            Some(line),
            column,
            format!(
                "date {date} comes before {previous} (line {previous_line}); dates must be strictly \
                 increasing{newest_first}"
            ),
        ));
    }
    Ok(date)
}

/// What spreadsheets, pandas (its default `na_values`), Bloomberg and FRED write for a missing
/// value, compared without regard to case.
const MISSING_MARKS: [&str; 12] =
    ["nan", "-nan", "na", "n/a", "#n/a", "#n/a n/a", "#na", "<na>", "null", "none", ".", "-"];

/// A cell's price: NaN when blank or marked missing, else a finite number above zero.
fn parse_price(path: &Path, line: u64, column: (usize, &str), cell: &str) -> Result<f64, DataError> {
    if cell.is_empty() || MISSING_MARKS.iter().any(|mark| cell.eq_ignore_ascii_case(mark)) {
        return Ok(f64::NAN);
    }
    let price: f64 =
        cell.parse().ok().or_else(|| without_thousands_separators(cell)?.parse().ok()).ok_or_else(|| {
            let hint = if looks_like_date(cell) {
                "; this column holds dates, which folio reads from the first column (named date, \
                 Datetime, timestamp, time, observation_date or a name with the word date in it, or \
                 unnamed): move it there, or name it so, and drop a column of row numbers before \
                 it (pandas writes one unless to_csv(index=False))"
            } else {
                ""
            };
            invalid(path, Some(line), Some(column), format!("'{cell}' is not a number{hint}"))
        })?;
    if !price.is_finite() || price <= 0.0 {
        return Err(invalid(
            path,
            Some(line),
            Some(column),
            format!("price {cell} is not allowed: prices must be finite and greater than zero"),
        ));
    }
    if !price.is_normal() {
        // A subnormal float has lost precision, and the next price over it is an infinite return.
        return Err(invalid(
            path,
            Some(line),
            Some(column),
            // As a number, not as written: a subnormal written out in full is hundreds of digits.
            format!(
                "price {price:e} is too close to zero to compute with: the smallest is {:e}",
                f64::MIN_POSITIVE
            ),
        ));
    }
    Ok(price)
}

/// A number written with commas between groups of three digits (`"1,234.50"`, as spreadsheets
/// and web exports quote prices), without them; `None` for anything else, so that a comma
/// meaning a decimal point (`1,5`) is never read as a thousands separator.
fn without_thousands_separators(cell: &str) -> Option<String> {
    let (whole, fraction) = cell.split_once('.').unwrap_or((cell, ""));
    let mut groups = whole.split(',');
    let lead = groups.next()?;
    let digits = |g: &str| !g.is_empty() && g.bytes().all(|c| c.is_ascii_digit());
    let grouped = (1..=3).contains(&lead.len())
        && digits(lead)
        && whole.contains(',')
        && groups.all(|g| g.len() == 3 && digits(g))
        && (fraction.is_empty() || digits(fraction));
    grouped.then(|| cell.replace(',', ""))
}

/// Every asset has a price somewhere, and no blank between its first price and its last unless
/// `missing` says to carry the last price forward over it, which this does, or is `None`, which
/// leaves the blanks.
fn check_listings(
    path: &Path,
    header: &Header,
    prices: &mut Array2<f64>,
    lines: &[u64],
    missing: Option<MissingPrices>,
) -> Result<Vec<CarriedForward>, DataError> {
    let mut carried_forward = Vec::new();
    for (j, asset) in header.assets().iter().enumerate().filter(|&(j, _)| header.reads(j)) {
        let column_number = header.file_column(j + header.first_asset_column());
        let mut column = prices.column_mut(j);
        let Some(first) = column.iter().position(|p| p.is_finite()) else {
            return Err(invalid(
                path,
                None,
                Some((column_number, asset)),
                "the column has no prices at all".into(),
            ));
        };
        let Some(missing) = missing else { continue };
        let last = column.iter().rposition(|p| p.is_finite()).unwrap_or(first);
        let Some(gap) = (first..=last).find(|&t| column[t].is_nan()) else { continue };
        if missing.is_error() {
            return Err(invalid(
                path,
                Some(lines[gap]),
                Some((column_number, asset)),
                format!(
                    "the price is missing although '{asset}' has prices before (line {}) and after (line {}); \
                     only leading or trailing cells may be blank, unless the config's [data] says \
                     missing = \"carry_forward\" to carry the last price forward",
                    lines[first], lines[last]
                ),
            ));
        }
        let (mut cells, mut run, mut longest_run) = (0, 0, 0);
        for t in gap..=last {
            if column[t].is_nan() {
                column[t] = column[t - 1];
                cells += 1;
                run += 1;
                longest_run = longest_run.max(run);
            } else {
                run = 0;
            }
        }
        carried_forward.push(CarriedForward {
            asset: asset.clone(),
            cells,
            first_line: lines[gap],
            longest_run,
        });
    }
    Ok(carried_forward)
}

/// Every price over the one before it is a finite ratio: two prices that are each finite and
/// positive (1e-300, then 1e10) can still make a return no float holds, and every strategy's
/// wealth after it infinite.
fn check_returns(path: &Path, header: &Header, prices: &Array2<f64>, lines: &[u64]) -> Result<(), DataError> {
    for (j, asset) in header.assets().iter().enumerate().filter(|&(j, _)| header.reads(j)) {
        let column = prices.column(j);
        let listed: Vec<usize> = (0..column.len()).filter(|&t| column[t].is_finite()).collect();
        for pair in listed.windows(2) {
            let (before, after) = (column[pair[0]], column[pair[1]]);
            let ratio = after / before;
            if !(ratio.is_finite() && ratio > 0.0) {
                return Err(invalid(
                    path,
                    Some(lines[pair[1]]),
                    Some((header.file_column(j + header.first_asset_column()), asset)),
                    format!(
                        "price {} after {} (line {}) is a return too large to compute with: is a cell in the wrong units?",
                        super::readable(after),
                        super::readable(before),
                        lines[pair[0]]
                    ),
                ));
            }
        }
    }
    Ok(())
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
