//! Reading and writing wide price files: one row per period, one column per asset.
//!
//! Two layouts are accepted, told apart by the first header cell:
//! - dated: `date,AAPL,MSFT,...` with ISO dates (YYYY-MM-DD), strictly increasing;
//! - undated: `A,B,C,...` with prices only (the online-portfolio-selection data sets), whose
//!   rows are numbered as periods from 0.
//!
//! A blank cell means "no price": allowed before an asset's first price (it started trading
//! later) and after its last (it stopped), never in between.

use chrono::NaiveDate;
use ndarray::Array2;
use std::path::Path;

use super::{PricePanel, TimeIndex};
use crate::data::{DataError, Location};
use crate::files::write_atomically;

pub fn load_prices(path: &Path) -> Result<PricePanel, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io { path: path.into(), source })?;
    parse_prices(path, &bytes)
}

fn invalid(path: &Path, line: Option<u64>, column: Option<(usize, &str)>, reason: String) -> DataError {
    DataError::Invalid {
        location: Location {
            file: path.to_path_buf(),
            line,
            column: column.map(|(n, name)| (n, name.to_string())),
        },
        reason,
    }
}

pub(crate) fn parse_prices(path: &Path, bytes: &[u8]) -> Result<PricePanel, DataError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(invalid(
            path,
            None,
            None,
            "the file is empty; expected a header row such as `date,AAPL,MSFT`".into(),
        ));
    }
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(bytes);
    let mut records = reader.records();

    let header = match records.next() {
        Some(Ok(record)) => record,
        Some(Err(e)) => return Err(csv_error(path, e)),
        None => return Err(invalid(path, None, None, "the file is empty".into())),
    };
    let (header_line, _) = record_start(bytes, &header);
    let names: Vec<String> = header.iter().map(|s| s.trim_start_matches('\u{feff}').to_string()).collect();
    let dated = names.first().is_some_and(|n| n.eq_ignore_ascii_case("date"));
    let first_asset_column = usize::from(dated);
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(invalid(
                path,
                Some(header_line),
                Some((i + 1, "")),
                "the header cell is empty: every column needs a name".into(),
            ));
        }
        if let Some(j) = names[..i].iter().position(|n| n == name) {
            return Err(invalid(
                path,
                Some(header_line),
                Some((i + 1, name)),
                format!("duplicate column name '{name}' (also column {})", j + 1),
            ));
        }
    }
    let assets: Vec<String> = names[first_asset_column..].to_vec();
    if assets.is_empty() {
        return Err(invalid(path, Some(header_line), None, "the header names no asset columns".into()));
    }

    let mut dates: Vec<NaiveDate> = Vec::new();
    let mut lines: Vec<u64> = Vec::new();
    let mut values: Vec<f64> = Vec::new();
    for record in records {
        let record = record.map_err(|e| csv_error(path, e))?;
        let (line, start) = record_start(bytes, &record);
        let quoted = bytes[start..].iter().take_while(|&&b| b != b'\n' && b != b'\r').any(|&b| b == b'"');
        if record.len() == 1 && record.get(0) == Some("") && !quoted {
            continue; // a blank line (a lone `""` is a blank cell of a one-column file)
        }
        if record.len() != names.len() {
            return Err(invalid(
                path,
                Some(line),
                None,
                format!("the row has {} fields but the header has {}", record.len(), names.len()),
            ));
        }
        if dated {
            let text = &record[0];
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                invalid(
                    path,
                    Some(line),
                    Some((1, &names[0])),
                    format!("'{text}' is not an ISO date (YYYY-MM-DD)"),
                )
            })?;
            if let Some(&previous) = dates.last() {
                if date == previous {
                    return Err(invalid(
                        path,
                        Some(line),
                        Some((1, &names[0])),
                        format!(
                            "date {date} repeats the previous row (line {}); dates must be unique",
                            lines[lines.len() - 1]
                        ),
                    ));
                }
                if date < previous {
                    return Err(invalid(
                        path,
                        Some(line),
                        Some((1, &names[0])),
                        format!(
                            "date {date} comes before {previous} (line {}); dates must be strictly increasing",
                            lines[lines.len() - 1]
                        ),
                    ));
                }
            }
            dates.push(date);
        }
        for (j, cell) in record.iter().enumerate().skip(first_asset_column) {
            if cell.is_empty() {
                values.push(f64::NAN);
                continue;
            }
            let price: f64 = cell.parse().map_err(|_| {
                invalid(path, Some(line), Some((j + 1, &names[j])), format!("'{cell}' is not a number"))
            })?;
            if !price.is_finite() || price <= 0.0 {
                return Err(invalid(
                    path,
                    Some(line),
                    Some((j + 1, &names[j])),
                    format!("price {cell} is not allowed: prices must be finite and greater than zero"),
                ));
            }
            values.push(price);
        }
        lines.push(line);
    }
    if lines.is_empty() {
        return Err(invalid(
            path,
            Some(header_line),
            None,
            "the header is not followed by any price rows".into(),
        ));
    }

    let prices = Array2::from_shape_vec((lines.len(), assets.len()), values)
        .expect("rows were checked to have equal length");
    for (j, asset) in assets.iter().enumerate() {
        let column = prices.column(j);
        let Some(first) = column.iter().position(|p| p.is_finite()) else {
            return Err(invalid(
                path,
                None,
                Some((j + 1 + first_asset_column, asset)),
                "the column has no prices at all".into(),
            ));
        };
        let last = column.iter().rposition(|p| p.is_finite()).unwrap_or(first);
        if let Some(gap) = (first..=last).find(|&t| column[t].is_nan()) {
            return Err(invalid(
                path,
                Some(lines[gap]),
                Some((j + 1 + first_asset_column, asset)),
                format!(
                    "the price is missing although '{asset}' has prices before (line {}) and after (line {}); \
                     only leading or trailing cells may be blank",
                    lines[first], lines[last]
                ),
            ));
        }
    }

    let index = if dated { TimeIndex::Dates(dates) } else { TimeIndex::Periods(lines.len()) };
    Ok(PricePanel::new(path, assets, index, prices))
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
