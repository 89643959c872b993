//! One wide price file from several tickers' own files (a download per ticker, as yfinance,
//! stooq or Kaggle sets give them), their dates joined. A ticker has no price on a date that
//! only others have: before its first date or after its last that is an asset not listed yet or
//! any more; in between it is a missing price, which a config refuses or carries forward as its
//! `[data] missing` says. A blank price inside a ticker's file means the same as a date the file
//! lacks.

use chrono::NaiveDate;
use ndarray::Array2;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::csv::{invalid, read_ticker};
use super::{DataError, PricePanel, TimeIndex};

/// Tickers' files joined into one panel.
#[derive(Debug)]
pub struct Combined {
    pub panel: PricePanel,
    /// The column each file's prices were read from (`Adj Close` over `Close` in a download of
    /// several fields), in the files' order: a user can see which was taken.
    pub columns: Vec<String>,
}

/// The panel of `files`, one asset each, named by its file's stem (`AAPL.csv` is AAPL), on
/// every date any of them has.
pub fn combine(files: &[PathBuf]) -> Result<Combined, DataError> {
    let mut tickers: Vec<(String, Vec<NaiveDate>, Vec<f64>)> = Vec::with_capacity(files.len());
    let mut columns = Vec::with_capacity(files.len());
    for (k, path) in files.iter().enumerate() {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(j) = files[..k].iter().position(|other| other.file_stem() == path.file_stem()) {
            return Err(invalid(
                path,
                None,
                None,
                format!(
                    "the file names the same ticker '{name}' as {}: each file is one ticker",
                    files[j].display()
                ),
            ));
        }
        // The combined file's first column is `date`: a ticker of that name could not sit beside it.
        if name == "date" {
            return Err(invalid(
                path,
                None,
                None,
                format!(
                    "the file's name makes a ticker called '{name}', the name of the combined file's date \
                     column: rename the file to its ticker's symbol"
                ),
            ));
        }
        let loaded = read_ticker(path, &name)?;
        columns.push(loaded.price_field.unwrap_or_else(|| name.clone()));
        let panel = loaded.panel;
        let TimeIndex::Dates(dates) = panel.index else {
            return Err(invalid(
                path,
                None,
                None,
                "the file has no dates, and tickers' files line up only by date".into(),
            ));
        };
        tickers.push((name, dates, panel.prices.column(0).to_vec()));
    }
    // A date on which no file has a price is no market day of this panel.
    let dates: Vec<NaiveDate> = tickers
        .iter()
        .flat_map(|(_, dates, prices)| {
            dates.iter().zip(prices).filter(|(_, p)| p.is_finite()).map(|(d, _)| *d)
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut prices = Array2::from_elem((dates.len(), tickers.len()), f64::NAN);
    for (j, (_, own_dates, own_prices)) in tickers.iter().enumerate() {
        for (date, price) in own_dates.iter().zip(own_prices).filter(|(_, p)| p.is_finite()) {
            let row = dates.binary_search(date).expect("every priced date is in the union");
            prices[[row, j]] = *price;
        }
    }
    let source = files.first().and_then(|f| f.parent()).unwrap_or(Path::new("."));
    let names = tickers.into_iter().map(|(name, _, _)| name).collect();
    Ok(Combined { panel: PricePanel::new(source, names, TimeIndex::Dates(dates), prices), columns })
}
