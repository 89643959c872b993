//! A price file's header: its names, where its dates are, and which columns of a download hold
//! the prices read.

use super::*;

/// The header row: every column's name, and whether the first column holds dates.
pub(super) struct Header {
    pub(super) names: Vec<String>,
    /// Unnamed columns after the last name (trailing commas), dropped: a value in one of them is
    /// reported as a column without a name.
    pub(super) unnamed_tail: usize,
    pub(super) dated: bool,
    /// The first column numbers the rows (pandas writes its index so: a blank header or
    /// `period`/`index`), in an undated file.
    pub(super) numbered: bool,
    pub(super) line: u64,
    /// The columns read from a download of several fields per ticker.
    pub(super) download: Option<Download>,
    /// The order of day and month in dates written with slashes, when the column shows one.
    pub(super) slash_order: Option<SlashOrder>,
    /// Whether each asset's prices are read (all, when empty): the others' cells are left blank
    /// unread, so that a column a config does not select cannot stop it.
    pub(super) read: Vec<bool>,
}

/// Which columns of a download of several fields per ticker hold the prices read.
pub(super) struct Download {
    /// The file's columns kept, in order: the date column, then one per ticker.
    pub(super) columns: Vec<usize>,
    /// Cells in each of the file's rows.
    pub(super) width: usize,
    /// The field read, as the file spells it.
    pub(super) field: String,
}

/// Fields a price download has per ticker (yfinance's, with `actions=True`).
pub(super) const DOWNLOAD_FIELDS: [&str; 9] =
    ["open", "high", "low", "close", "adj close", "volume", "dividends", "stock splits", "capital gains"];

/// The fields that hold prices to read, best first: dividend-adjusted closes, then closes.
pub(super) const PRICE_FIELDS: [&str; 2] = ["adj close", "close"];

/// Whether a header cell names a date column: one of [`DATE_HEADERS`], or a name with the word
/// "date" or "dates" in it (`Dates` from Bloomberg, `Trade Date`, `trade_date`; not `Mandate`).
pub(super) fn is_date_header(name: &str) -> bool {
    DATE_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h))
        || name
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| word.eq_ignore_ascii_case("date") || word.eq_ignore_ascii_case("dates"))
}

/// Whether every cell after the first of a header row names a field of a download (at least one).
pub(super) fn are_download_fields(row: &[String]) -> bool {
    row.len() > 1 && row[1..].iter().all(|cell| DOWNLOAD_FIELDS.iter().any(|f| cell.eq_ignore_ascii_case(f)))
}

/// The best of `PRICE_FIELDS` among the cells after the first of a row of fields.
pub(super) fn price_field(row: &[String]) -> Option<&'static str> {
    PRICE_FIELDS.iter().copied().find(|field| row.iter().skip(1).any(|cell| cell.eq_ignore_ascii_case(field)))
}

impl Download {
    /// The kept cells of a row of the file.
    pub(super) fn select(
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
    pub(super) fn file_column(&self, j: usize) -> usize {
        self.download.as_ref().map_or(j, |d| d.columns[j]) + 1
    }

    /// Index of the first price column: 1 after a date or row-number column, else 0.
    pub(super) fn first_asset_column(&self) -> usize {
        usize::from(self.dated || self.numbered)
    }

    pub(super) fn assets(&self) -> &[String] {
        &self.names[self.first_asset_column()..]
    }

    /// Whether the prices of the `j`-th asset are read.
    pub(super) fn reads(&self, j: usize) -> bool {
        self.read.get(j).copied().unwrap_or(true)
    }
}

/// The first record: names that are present and unique, at least one of them an asset.
pub(super) fn read_header(
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
pub(super) fn refuse_values_for_names(path: &Path, line: u64, names: &[String]) -> Result<(), DataError> {
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
pub(super) fn read_download_header(
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
pub(super) fn ticker_columns(
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
pub(super) const DATE_HEADERS: [&str; 5] = ["date", "datetime", "timestamp", "time", "observation_date"];

/// What to do about a header that shows a common export format folio does not read.
pub(super) fn foreign_format(names: &[String]) -> Option<String> {
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
