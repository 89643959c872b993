//! `folio tax`'s outputs: `tax_report.json` and each policy's ledger as CSV, one line per trade
//! or wash-sale adjustment.

use std::path::Path;

use super::{ReportError, write_json};
use crate::files::write_atomically;
use crate::tax::lots::LedgerEntry;
use crate::tax::report::TaxReport;

/// `tax_report.json` and each policy's ledgers, `ledger-<policy>.csv` with taxes and, where
/// harvesting is enabled, `ledger-<policy>-harvest.csv`.
pub fn write_tax(out: &Path, report: &TaxReport) -> Result<(), ReportError> {
    write_json(&out.join("tax_report.json"), report)?;
    for policy in &report.policies {
        let stem = slug(&policy.policy.to_string());
        write_ledger_csv(&out.join(format!("ledger-{stem}.csv")), &report.assets, &policy.after_tax.entries)?;
        if let Some(harvesting) = &policy.harvesting {
            let path = out.join(format!("ledger-{stem}-harvest.csv"));
            write_ledger_csv(&path, &report.assets, &harvesting.entries)?;
        }
    }
    Ok(())
}

/// A policy name as a file name: `equal weight` -> `equal-weight`.
fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_string()
}

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
