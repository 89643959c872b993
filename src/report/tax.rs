//! The ledger of a tax-aware backtest as CSV: one line per trade or wash-sale adjustment.

use std::path::Path;

use super::ReportError;
use crate::files::write_atomically;
use crate::tax::lots::LedgerEntry;

/// `date,asset,action,reason,lot,shares,price,fee,cash,basis,gain,disallowed,term,held_since,split_from,washed_lot`
pub fn write_ledger_csv(path: &Path, assets: &[String], entries: &[LedgerEntry]) -> Result<(), ReportError> {
    let optional = |id: Option<usize>| id.map(|i| i.to_string()).unwrap_or_default();
    write_atomically(path, |w| {
        let mut writer = csv::Writer::from_writer(w);
        writer.write_record([
            "date",
            "asset",
            "action",
            "reason",
            "lot",
            "shares",
            "price",
            "fee",
            "cash",
            "basis",
            "gain",
            "disallowed",
            "term",
            "held_since",
            "split_from",
            "washed_lot",
        ])?;
        for e in entries {
            writer.write_record([
                e.date.to_string(),
                assets[e.asset].clone(),
                e.action.label().into(),
                e.reason.label().into(),
                e.lot.to_string(),
                e.shares.to_string(),
                e.price.to_string(),
                e.fee.to_string(),
                e.cash.to_string(),
                e.basis.to_string(),
                e.gain.to_string(),
                e.disallowed.to_string(),
                e.term.map(|t| t.label().to_string()).unwrap_or_default(),
                e.held_since.to_string(),
                optional(e.split_from),
                optional(e.washed_lot),
            ])?;
        }
        writer.flush()?;
        Ok(())
    })
    .map_err(|source| ReportError::Io { path: path.into(), source })
}
