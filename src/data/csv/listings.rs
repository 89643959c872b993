//! What the prices read must hold: no gap inside an asset's listing (unless the config fills it),
//! and a return between every two consecutive prices (a finite, positive ratio).

use super::*;

/// Every asset has a price somewhere, and no blank between its first price and its last unless
/// `missing` says to carry the last price forward over it, which this does, or is `None`, which
/// leaves the blanks.
pub(super) fn check_listings(
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
pub(super) fn check_returns(
    path: &Path,
    header: &Header,
    prices: &Array2<f64>,
    lines: &[u64],
) -> Result<(), DataError> {
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
                        crate::data::readable(after),
                        crate::data::readable(before),
                        lines[pair[0]]
                    ),
                ));
            }
        }
    }
    Ok(())
}
