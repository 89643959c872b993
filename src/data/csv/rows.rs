//! A price file's rows: their dates in order, and their prices, each cell read or refused with
//! its line and column.

use super::*;

/// The price rows as read: their dates (dated files), each row's line for messages, and the
/// prices row after row with NaN for a blank cell.
pub(super) struct Rows {
    pub(super) dates: Vec<NaiveDate>,
    pub(super) lines: Vec<u64>,
    pub(super) values: Vec<f64>,
}

/// Every row after the header, blank lines skipped: as many fields as the header, dates that
/// strictly increase, prices that are numbers above zero or blank.
///
/// A first column with a blank name holds dates when its first cell is one: pandas writes an
/// unnamed date index so.
pub(super) fn read_rows(
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
pub(super) fn named_cells(
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
pub(super) fn check_row_number(
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
pub(super) fn is_blank_line(bytes: &[u8], start: usize, record: &csv::StringRecord) -> bool {
    let quoted = bytes[start..].iter().take_while(|&&b| b != b'\n' && b != b'\r').any(|&b| b == b'"');
    record.iter().all(|cell| cell.trim().is_empty()) && !quoted
}

/// The date of a row, which must come after the previous row's.
pub(super) fn next_date(
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
pub(super) const MISSING_MARKS: [&str; 12] =
    ["nan", "-nan", "na", "n/a", "#n/a", "#n/a n/a", "#na", "<na>", "null", "none", ".", "-"];

/// A cell's price: NaN when blank or marked missing, else a finite number above zero.
pub(super) fn parse_price(
    path: &Path,
    line: u64,
    column: (usize, &str),
    cell: &str,
) -> Result<f64, DataError> {
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
pub(super) fn without_thousands_separators(cell: &str) -> Option<String> {
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
