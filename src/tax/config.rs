//! The tax rules a tax-aware backtest applies, read from a TOML file (`envs/tax_us.toml`).
//!
//! Defaults are US federal rates for a representative investor, not the top brackets: 24% on
//! net short-term gains (taxed as ordinary income; the 24% bracket covers a single filer's
//! taxable income of about $100k-$192k in 2024, IRS Rev. Proc. 2023-34) and 15% on net
//! long-term gains (the long-term rate for the same incomes). The top brackets (37% and 20%,
//! plus the 3.8% net investment income tax) would make every figure larger in the same
//! direction; state taxes are left out.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::data::InvalidSetting;
use crate::env::ConfigError;

/// The tax config used when none is given.
pub const DEFAULT_TAX_CONFIG: &str = "envs/tax_us.toml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaxConfig {
    /// Rate on a year's net short-term gain (0.24).
    pub short_term_rate: f64,
    /// Rate on a year's net long-term gain (0.15).
    pub long_term_rate: f64,
    /// A lot held more than this many calendar months is long-term (12: "more than one year",
    /// IRS Publication 550, counted from the day after the purchase through the day of the sale,
    /// so a sale on the purchase's anniversary is still short-term, leap day or not).
    pub long_term_months: u32,
    /// For a regime that counts days instead: a lot held more than this many days is
    /// long-term. Unset by default; when set, it replaces `long_term_months`, which the file
    /// must then not write.
    pub long_term_days: Option<u32>,
    /// Which lots a sale takes first.
    pub lot_method: LotMethod,
    /// Month and day (`MM-DD`) of the following year on which a year's tax is paid from the
    /// portfolio ("04-15", the US filing deadline). It must fall after the wash-sale window of
    /// 31 December has closed, so that a year's figures are final when its tax is paid.
    pub payment_date: String,
    pub harvest: HarvestConfig,
}

/// Lot selection for sales (IRS Publication 550, "Identifying the shares sold").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LotMethod {
    /// First in, first out: the oldest purchase first (the IRS default without instructions).
    Fifo,
    /// Specific identification of the lots with the highest cost per share first: the smallest
    /// gain (or largest loss) now.
    HighestCost,
}

/// The fewest trailing returns a harvest's replacement is chosen by: two returns correlate at
/// +1 or -1 whatever the assets.
pub const MIN_CORRELATION_RETURNS: usize = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HarvestConfig {
    /// Run a second, harvesting ledger beside the plain one and report the difference.
    pub enabled: bool,
    /// A lot is harvested when its price has fallen this fraction below its cost per share
    /// (0.05: 5%, far enough that a round trip's trading costs are a small part of the tax saved).
    pub loss_threshold: f64,
    /// Days before and after a loss sale in which buying the same asset disallows the loss
    /// (30, IRC section 1091). The wash-sale rule applies to every ledger, harvesting or not.
    pub wash_sale_days: u32,
    /// Periods of trailing returns over which the replacement asset's correlation is measured
    /// (63: about three months of daily data).
    pub correlation_window: usize,
}

impl Default for TaxConfig {
    fn default() -> Self {
        Self {
            short_term_rate: 0.24,
            long_term_rate: 0.15,
            long_term_months: 12,
            long_term_days: None,
            lot_method: LotMethod::Fifo,
            payment_date: "04-15".into(),
            harvest: HarvestConfig::default(),
        }
    }
}

impl Default for HarvestConfig {
    fn default() -> Self {
        Self { enabled: true, loss_threshold: 0.05, wash_sale_days: 30, correlation_window: 63 }
    }
}

/// How long a lot must be held to be long-term.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LongTerm {
    /// More than this many calendar months after the purchase: sold after the anniversary.
    Months(u32),
    /// More than this many days.
    Days(u32),
}

impl std::fmt::Display for LongTerm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LongTerm::Months(months) => write!(f, "{months} months"),
            LongTerm::Days(days) => write!(f, "{days} days"),
        }
    }
}

impl TaxConfig {
    /// The same rules at zero rates: the trades a ledger makes, with no tax paid on them.
    pub fn without_rates(&self) -> Self {
        Self { short_term_rate: 0.0, long_term_rate: 0.0, ..self.clone() }
    }

    /// The holding period in force: `long_term_days` where a regime sets it, else
    /// `long_term_months`.
    pub fn long_term(&self) -> LongTerm {
        match self.long_term_days {
            Some(days) => LongTerm::Days(days),
            None => LongTerm::Months(self.long_term_months),
        }
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = crate::files::read_text_or_bundled(path)
            .map_err(|source| ConfigError::Io { path: path.into(), source })?;
        let config: TaxConfig = toml::from_str(&text)
            .map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })?;
        config.validate().map_err(|source| ConfigError::setting(path, &text, source))?;
        // `long_term_months` has a default, so the parsed config cannot tell a file that wrote
        // both from one that wrote only the days: the file's own keys can.
        let keys = text.parse::<toml::Table>().unwrap_or_default();
        if keys.contains_key("long_term_months") && keys.contains_key("long_term_days") {
            return Err(ConfigError::setting(
                path,
                &text,
                InvalidSetting::new(
                    "long_term_days",
                    "long_term_months and long_term_days both set the holding period: keep one",
                ),
            ));
        }
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), InvalidSetting> {
        for (field, rate) in
            [("short_term_rate", self.short_term_rate), ("long_term_rate", self.long_term_rate)]
        {
            if !(0.0..1.0).contains(&rate) {
                return Err(InvalidSetting::new(field, format!("{field} must be in [0, 1), got {rate}")));
            }
        }
        // Zero would make every sale after its purchase day long-term: a regime without a
        // holding period has one rate, which equal rates say.
        let zero = match self.long_term() {
            LongTerm::Months(0) => Some("long_term_months"),
            LongTerm::Days(0) => Some("long_term_days"),
            _ => None,
        };
        if let Some(field) = zero {
            return Err(InvalidSetting::new(
                field,
                format!(
                    "{field} must be at least 1: a zero holding period makes every sale long-term; for a \
                     regime with one rate, set short_term_rate and long_term_rate equal"
                ),
            ));
        }
        self.payment_day(2001)?;
        let harvest = &self.harvest;
        if !(harvest.loss_threshold > 0.0 && harvest.loss_threshold < 1.0) {
            return Err(InvalidSetting::new(
                "harvest.loss_threshold",
                format!("harvest.loss_threshold must be in (0, 1), got {}", harvest.loss_threshold),
            ));
        }
        // A shorter window would never choose a replacement, and so never harvest.
        if harvest.correlation_window < MIN_CORRELATION_RETURNS {
            return Err(InvalidSetting::new(
                "harvest.correlation_window",
                format!(
                    "harvest.correlation_window must be at least {} periods (two returns correlate at +1 \
                     or -1 whatever the assets), got {}",
                    MIN_CORRELATION_RETURNS, harvest.correlation_window
                ),
            ));
        }
        Ok(())
    }

    /// The day in `year` on which the tax of `year - 1` is paid.
    pub fn payment_day(&self, year: i32) -> Result<NaiveDate, InvalidSetting> {
        let invalid = || {
            InvalidSetting::new(
                "payment_date",
                format!("payment_date must be a month and day MM-DD, got '{}'", self.payment_date),
            )
        };
        let (month, day) = self.payment_date.split_once('-').ok_or_else(invalid)?;
        let (month, day): (u32, u32) =
            (month.parse().map_err(|_| invalid())?, day.parse().map_err(|_| invalid())?);
        // 28 February stands in for 29 February in common years.
        let date = NaiveDate::from_ymd_opt(year, month, day)
            .or_else(|| (month == 2 && day == 29).then(|| NaiveDate::from_ymd_opt(year, 2, 28)).flatten())
            .ok_or_else(invalid)?;
        if date.ordinal() <= self.harvest.wash_sale_days {
            return Err(InvalidSetting::new(
                "payment_date",
                format!(
                    "payment_date {} falls inside the {}-day wash-sale window of the previous year's last sales, \
                     which could still change that year's losses",
                    self.payment_date, self.harvest.wash_sale_days
                ),
            ));
        }
        Ok(date)
    }
}
