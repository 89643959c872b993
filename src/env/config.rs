//! Environment configs: the TOML files under `envs/` say which data, assets and periods to use,
//! which features an agent sees, what trading costs, how often it rebalances and how it is
//! rewarded. Every field has a documented default, so a config names only what it changes.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::data::inspect::usual_frequency;
use crate::data::{DataError, InvalidSetting, MissingPrices, PricePanel, Selection, Stamp, read_assets};
use crate::env::ConfigError;
use crate::env::risk::RiskProfile;
use crate::env::{CostConfig, Limits, RewardConfig};
use crate::features::FeatureConfig;

/// Tables of a config file that belong to commands rather than to the environment.
#[derive(Debug, Clone, Default)]
pub struct Sections {
    pub train: Option<toml::Table>,
    pub walk_forward: Option<toml::Table>,
}

/// The config that runs when none is given.
pub const DEFAULT_CONFIG: &str = "envs/default.toml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvConfig {
    pub data: DataConfig,
    #[serde(default)]
    pub periods: Periods,
    #[serde(default)]
    pub features: FeatureConfig,
    #[serde(default)]
    pub costs: CostConfig,
    #[serde(default)]
    pub episode: EpisodeConfig,
    #[serde(default)]
    pub reward: RewardConfig,
    /// Allocation limits enforced on every decision (`[limits]`: `max_weight`, `min_cash`);
    /// omitted: none. Left out of the JSON when there are none, so that configs without limits
    /// keep the registry hash they had before limits existed.
    #[serde(default, skip_serializing_if = "Limits::is_none")]
    pub limits: Limits,
    /// The risk profile that set `reward` and `limits`, if one did (`risk_profile = "balanced"`
    /// in the file, or `--risk-profile` / `--risk-questionnaire`); see [`crate::env::risk`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_profile: Option<RiskProfile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// The price file; a relative path is taken relative to the config file's folder.
    pub file: PathBuf,
    /// Assets to trade, in order; empty means every column of the file.
    #[serde(default)]
    pub assets: Vec<String>,
    /// First and last rows of data to load (dates, or period numbers for undated files).
    /// Omitted: from the first row where every chosen asset trades, to the last row.
    #[serde(default)]
    pub from: Option<Stamp>,
    #[serde(default)]
    pub to: Option<Stamp>,
    /// Periods per year, for annualizing (252 for daily data). A config file that leaves it out
    /// gets the usual value for how often its dated rows come (see `periods_per_year_of_rows`).
    #[serde(default = "default_periods_per_year")]
    pub periods_per_year: f64,
    /// What a missing price inside an asset's listing means: an error (the default), or
    /// `carry_forward`. Left out of the file (and so out of the registry's hash) when it is
    /// the default, so configs written before it existed keep their hash.
    #[serde(default, skip_serializing_if = "MissingPrices::is_error")]
    pub missing: MissingPrices,
}

impl DataConfig {
    /// Every column of `file`, all its rows, daily, refusing missing prices: a config's `[data]`
    /// that names only its file.
    pub fn new(file: PathBuf) -> Self {
        Self {
            file,
            assets: Vec::new(),
            from: None,
            to: None,
            periods_per_year: default_periods_per_year(),
            missing: MissingPrices::default(),
        }
    }

    /// What a config that does not set `periods_per_year` annualizes by: the usual value for how
    /// often the file's dated rows come (52 for weekly rows, 12 for monthly...), so that a user's
    /// weekly file is not annualized as daily; 252 for undated rows, which say nothing of it, and
    /// for a file that does not load, whose error the run itself reports.
    pub fn periods_per_year_of_rows(&self) -> f64 {
        read_assets(&self.file, self.missing, &self.assets)
            .map_or_else(|_| default_periods_per_year(), |loaded| Self::periods_per_year_of(&loaded.panel))
    }

    /// What `panel` annualizes by when nothing says: the usual value for how often its dated
    /// rows come, else the daily 252.
    pub fn periods_per_year_of(panel: &PricePanel) -> f64 {
        usual_frequency(panel).map_or_else(default_periods_per_year, |(usual, _)| usual)
    }

    /// The file's prices, with missing ones treated as the config says. A config that selects
    /// every asset and stops on one asset's prices is told that leaving the asset out mends it,
    /// since the columns a config leaves out are not read.
    pub fn load_prices(&self) -> Result<PricePanel, DataError> {
        read_assets(&self.file, self.missing, &self.assets).map(|loaded| loaded.panel).map_err(|error| {
            match error {
                DataError::Invalid { location, reason }
                    if self.assets.is_empty() && location.column.as_ref().is_some_and(|(n, _)| *n > 1) =>
                {
                    let asset = location.column.as_ref().map_or("", |(_, name)| name.as_str());
                    let reason = format!(
                        "{reason} (or leave '{asset}' out: list the other assets in [data] assets, and its \
                     column is not read)"
                    );
                    DataError::Invalid { location, reason }
                }
                error => error,
            }
        })
    }

    /// The config's assets over its rows, as every market built from it sees them.
    pub fn selection(&self) -> Result<Selection, DataError> {
        self.load_prices()?.select(&self.assets, self.from, self.to)
    }
}

fn default_periods_per_year() -> f64 {
    252.0
}

/// A span of the data, both ends inclusive; an omitted end is open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Span {
    pub from: Option<Stamp>,
    pub to: Option<Stamp>,
}

/// Where training, validation (model selection) and test (final, untouched) decisions happen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Periods {
    #[serde(default)]
    pub train: Span,
    #[serde(default)]
    pub validation: Span,
    #[serde(default)]
    pub test: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EpisodeConfig {
    /// Decisions per episode; `0` runs over the whole range from its start.
    pub horizon: usize,
    /// Periods between decisions: the portfolio is rebalanced every `rebalance_every` periods and
    /// drifts with prices in between.
    pub rebalance_every: usize,
    /// Periods left out at both edges of a range, so that neighbouring ranges never share the
    /// prices around their border.
    pub embargo: usize,
    /// A no-trade band: at a decision the portfolio trades to the target only when some weight,
    /// cash included, has drifted more than this from it (`max_i |w'_i - w_i| > band`), and
    /// otherwise holds its drifted weights, paying nothing. `0` trades at every decision. The
    /// environment applies it, so training (every learner) and evaluation see the same rule; it
    /// is `folio eval --rebalance band:X` built into the config.
    pub no_trade_band: f64,
}

/// The longest rebalancing interval: four centuries of trading days, longer than any price file,
/// and short enough that buffers sized by it fit in memory.
pub const MAX_REBALANCE_EVERY: usize = 100_000;

impl EpisodeConfig {
    /// The checks a config load and an environment built from settings alone both make.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if !(1..=MAX_REBALANCE_EVERY).contains(&self.rebalance_every) {
            return Err(InvalidSetting::new(
                "episode.rebalance_every",
                format!(
                    "episode.rebalance_every must be from 1 to {MAX_REBALANCE_EVERY} periods, got {}",
                    self.rebalance_every
                ),
            ));
        }
        if self.horizon.checked_mul(self.rebalance_every).is_none() {
            return Err(InvalidSetting::new(
                "episode.horizon",
                format!(
                    "episode.horizon of {} decisions every {} periods spans more periods than a computer can count",
                    self.horizon, self.rebalance_every
                ),
            ));
        }
        let band = self.no_trade_band;
        if !(0.0..1.0).contains(&band) {
            return Err(InvalidSetting::new(
                "episode.no_trade_band",
                format!(
                    "episode.no_trade_band must be in [0, 1) (a weight drift, 0.05 = 5 percentage points), got {band}"
                ),
            ));
        }
        Ok(())
    }
}

impl Default for EpisodeConfig {
    fn default() -> Self {
        Self { horizon: 0, rebalance_every: 1, embargo: 0, no_trade_band: 0.0 }
    }
}

/// `message`, a serde error about one of a config's keys (which names the key's path as
/// "in `a.b`", and an unknown key as "unknown field `c`"), led by the line of that key in
/// `text`: a table parsed before it is deserialized keeps no positions. `table` is the [table]
/// the error's path starts in (`train` for the `[train]` table's own errors). Unchanged when
/// the key cannot be found.
pub fn with_key_line(text: &str, table: Option<&str>, message: String) -> String {
    match key_line(text, table, &message) {
        Some(line) => format!("line {line}: {message}"),
        None => message,
    }
}

/// [`with_key_line`] for an error in the `[table]` of the config file at `path`, read again: a
/// table handed on by [`EnvConfig::load_with_sections`] keeps no text. Unchanged when the file
/// cannot be read.
pub fn with_key_line_of(path: &Path, table: &str, message: String) -> String {
    match crate::files::read_text_or_bundled(path) {
        Ok(text) => with_key_line(&text, Some(table), message),
        Err(_) => message,
    }
}

/// The line of `text` that writes the dotted `setting` (`features.window`, `limits.max_weight`),
/// if any does.
pub fn setting_line(text: &str, setting: &str) -> Option<usize> {
    key_line(text, None, &format!("in `{setting}`"))
}

fn key_line(text: &str, table: Option<&str>, message: &str) -> Option<usize> {
    let quoted = |after: &str| -> Option<&str> {
        let rest = &message[message.find(after)? + after.len()..];
        Some(&rest[..rest.find('`')?])
    };
    let mut keys: Vec<&str> = table.into_iter().collect();
    if let Some(path) = quoted("in `") {
        keys.extend(path.split('.'));
    }
    if let Some(field) = quoted("unknown field `") {
        keys.push(field);
    }
    let root = toml::de::DeTable::parse(text).ok()?;
    let mut current = root.get_ref();
    let mut position = None;
    for (i, key) in keys.iter().enumerate() {
        let (name, value) = current.iter().find(|(name, _)| name.get_ref().as_ref() == *key)?;
        position = Some(name.span().start);
        if i + 1 < keys.len() {
            let toml::de::DeValue::Table(inner) = value.get_ref() else { return None };
            current = inner;
        }
    }
    Some(text[..position?].matches('\n').count() + 1)
}

impl EnvConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Ok(Self::load_with_sections(path)?.0)
    }

    /// Load the environment and hand back the file's other tables (`[train]`,
    /// `[walk_forward]`), for the commands that read them.
    pub fn load_with_sections(path: &Path) -> Result<(Self, Sections), ConfigError> {
        let text = crate::files::read_text_or_bundled(path)
            .map_err(|source| ConfigError::Io { path: path.into(), source })?;
        let parse = |e: toml::de::Error| {
            let mut message = e.to_string();
            if e.span().is_none() {
                message = with_key_line(&text, None, message);
            }
            if message.contains("unknown field") {
                // The usual cause: a line appended at the end lands in the last [table] above it.
                message.push_str(
                    "\n(a key belongs to the [table] whose header comes before it: top-level keys such as risk_profile go above the first [table])",
                );
            }
            ConfigError::Parse { path: path.into(), message }
        };
        let mut table: toml::Table = toml::from_str(&text).map_err(parse)?;
        let mut take = |name: &str| match table.remove(name) {
            None => Ok(None),
            Some(toml::Value::Table(t)) => Ok(Some(t)),
            Some(_) => {
                Err(ConfigError::Invalid { path: path.into(), message: format!("[{name}] must be a table") })
            }
        };
        let sections = Sections { train: take("train")?, walk_forward: take("walk_forward")? };
        let profile_clashes = ["reward", "limits"].into_iter().find(|t| table.contains_key(*t));
        if let (true, Some(clash)) = (table.contains_key("risk_profile"), profile_clashes) {
            return Err(ConfigError::Invalid {
                path: path.into(),
                message: format!(
                    "risk_profile sets the reward and the limits: remove the [{clash}] table or the risk_profile"
                ),
            });
        }
        // A written [features] table without `reference` means today's default, not the absence
        // that an old checkpoint's saved table means (see `FeatureConfig::reference`).
        if let Some(toml::Value::Table(features)) = table.get_mut("features") {
            features.entry("reference").or_insert_with(|| FeatureConfig::default().reference.name().into());
        }
        let frequency_written = match table.get("data") {
            Some(toml::Value::Table(data)) => data.contains_key("periods_per_year"),
            _ => false,
        };
        let mut config: EnvConfig = table.try_into().map_err(parse)?;
        if let Some(profile) = config.risk_profile {
            config.apply_risk_profile(profile);
        }
        if config.data.file.is_relative() {
            let folder = path.parent().unwrap_or(Path::new("."));
            config.data.file = folder.join(&config.data.file);
        }
        if !frequency_written {
            config.data.periods_per_year = config.data.periods_per_year_of_rows();
        }
        config.validate().map_err(|source| ConfigError::setting(path, &text, source))?;
        if config.features.features.contains(&crate::features::Feature::OracleNextReturn) {
            return Err(ConfigError::Invalid {
                path: path.into(),
                message: "feature oracle_next_return sees tomorrow's return: it exists only for the oracle \
                          probe (`folio probe`) and is refused in configs"
                    .into(),
            });
        }
        Ok((config, sections))
    }

    /// This config with no data path, for comparing or hashing configurations: the path is however
    /// a config or a command spelled it (`envs/x.csv`, `./envs/x.csv`, absolute, from another
    /// folder or a cluster plan), and the data's fingerprint, a hash of every price, is what
    /// names the data.
    pub fn without_data_path(&self) -> EnvConfig {
        let mut env = self.clone();
        env.data.file = PathBuf::new();
        env
    }

    /// Take the profile's reward and allocation limits, and record the profile.
    pub fn apply_risk_profile(&mut self, profile: RiskProfile) {
        self.reward = profile.reward();
        self.limits = profile.limits();
        self.risk_profile = Some(profile);
    }

    pub fn validate(&self) -> Result<(), InvalidSetting> {
        self.features.validate()?;
        self.costs.validate()?;
        self.reward.validate()?;
        self.limits.validate()?;
        self.episode.validate()?;
        let most = crate::data::inspect::MAX_PERIODS_PER_YEAR;
        if !(self.data.periods_per_year > 0.0 && self.data.periods_per_year <= most) {
            return Err(InvalidSetting::new(
                "data.periods_per_year",
                format!(
                    "data.periods_per_year must be positive and at most {most} (a row a second), got {}",
                    crate::data::readable(self.data.periods_per_year)
                ),
            ));
        }
        self.spans_in_order()?;
        InvalidSetting::non_finite_in("", self)
    }

    /// A period written backwards is refused by its table's name, before any data is read.
    fn spans_in_order(&self) -> Result<(), InvalidSetting> {
        let data = Span { from: self.data.from, to: self.data.to };
        let spans = [
            ("periods.train.from", "periods.train", &self.periods.train),
            ("periods.validation.from", "periods.validation", &self.periods.validation),
            ("periods.test.from", "periods.test", &self.periods.test),
            ("data.from", "data", &data),
        ];
        for (key, table, span) in spans {
            let same_kind = matches!(
                (span.from, span.to),
                (Some(Stamp::Date(_)), Some(Stamp::Date(_)))
                    | (Some(Stamp::Period(_)), Some(Stamp::Period(_)))
            );
            if let (Some(from), Some(to)) = (span.from, span.to)
                && same_kind
                && from > to
            {
                return Err(InvalidSetting::new(
                    key,
                    format!(
                        "{table}.from = {from} is after {table}.to = {to}: the period starts after it ends"
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every number of a config reaches a checkpoint's JSON, which has no infinity: one that a
    /// section's own checks let through is refused, named as the file writes it.
    #[test]
    fn a_non_finite_number_anywhere_in_the_config_is_named() {
        let mut env = EnvConfig::load(Path::new("envs/default.toml")).unwrap();
        assert_eq!(InvalidSetting::non_finite_in("", &env), Ok(()));
        env.costs.sell = f64::INFINITY;
        let error = InvalidSetting::non_finite_in("", &env).unwrap_err();
        assert_eq!(error.to_string(), "costs.sell must be a finite number, got inf");
        // Named by its key, which finds the line that writes it.
        assert_eq!(error.setting, "costs.sell");
    }

    /// A period written backwards names its table, as the file spells it.
    #[test]
    fn a_period_that_starts_after_it_ends_is_named() {
        let mut env = EnvConfig::load(Path::new("envs/default.toml")).unwrap();
        env.periods.validation.to = Some("2010-01-01".parse().unwrap());
        let error = env.validate().unwrap_err();
        assert_eq!(error.setting, "periods.validation.from");
        assert!(
            error.reason.starts_with(
                "periods.validation.from = 2015-01-01 is after periods.validation.to = 2010-01-01"
            )
        );
        env.periods.validation.to = None;
        env.data.from = Some(Stamp::Period(9));
        env.data.to = Some(Stamp::Period(3));
        assert_eq!(env.validate().unwrap_err().setting, "data.from");
        env.data.to = Some(Stamp::Period(9));
        assert_eq!(env.validate(), Ok(()), "a span of one stamp is not backwards");
    }

    /// Episode lengths whose products overflow, or whose buffers could not be allocated, are
    /// refused by name.
    #[test]
    fn an_episode_too_long_to_count_is_refused() {
        let refused = |horizon, rebalance_every| {
            let episode = EpisodeConfig { horizon, rebalance_every, ..EpisodeConfig::default() };
            episode.validate().unwrap_err().to_string()
        };
        assert!(
            refused(usize::MAX / 2, MAX_REBALANCE_EVERY)
                .starts_with("episode.horizon of 9223372036854775807 decisions")
        );
        assert!(refused(10, MAX_REBALANCE_EVERY + 1).starts_with("episode.rebalance_every must be from 1"));
        assert!(refused(10, 0).starts_with("episode.rebalance_every must be from 1"));
        // So is a year of more rows than seconds.
        let mut env = EnvConfig::load(Path::new("envs/default.toml")).unwrap();
        env.data.periods_per_year = 1e300;
        assert!(env.validate().unwrap_err().to_string().contains("a row a second), got 1e300"));
        let fine =
            EpisodeConfig { horizon: 50, rebalance_every: MAX_REBALANCE_EVERY, ..EpisodeConfig::default() };
        assert_eq!(fine.validate(), Ok(()));
    }

    /// A setting refused after parsing names the line that writes it, as a parse error does.
    #[test]
    fn a_refused_setting_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("envs/data/us_stocks_20_daily.csv");
        let path = dir.path().join("c.toml");
        let text = format!("[data]\nfile = {data:?}\n\n[features]\nwindow = 10\nclip = -1.0\n");
        std::fs::write(&path, text).unwrap();
        let error = EnvConfig::load(&path).unwrap_err().to_string();
        assert!(
            error.ends_with("c.toml, line 6: features.clip must be positive and finite, got -1"),
            "{error}"
        );
        // A table's check names the key at fault, and an infinity anywhere is found by its key.
        let text = format!(
            "[data]\nfile = {data:?}\n\n[reward]\nkind = \"mean_variance\"\nrisk_aversion = 2\neta = 0\n"
        );
        std::fs::write(&path, text).unwrap();
        let error = EnvConfig::load(&path).unwrap_err().to_string();
        assert!(error.contains("c.toml, line 7: reward.eta"), "{error}");
        let text =
            format!("[data]\nfile = {data:?}\n\n[reward]\nkind = \"drawdown_penalty\"\npenalty = inf\n");
        std::fs::write(&path, text).unwrap();
        let error = EnvConfig::load(&path).unwrap_err().to_string();
        assert!(error.contains("c.toml, line 6: reward.penalty must be finite"), "{error}");
    }

    #[test]
    fn a_key_s_error_names_its_line() {
        let text = "[data]\nfile = \"x.csv\"\n\n[periods.train]\nto = 5\n\n[features]\nwindow = \"5\"\n\n[train]\nsteps = 1\n";
        let line = |table: Option<&str>, message: &str| with_key_line(text, table, message.to_string());
        assert_eq!(
            line(None, "invalid type: string \"5\", expected usize\nin `features.window`"),
            "line 8: invalid type: string \"5\", expected usize\nin `features.window`"
        );
        assert!(line(None, "bad\nin `periods.train.to`").starts_with("line 5: "));
        assert!(line(None, "unknown field `window`, expected one of\nin `features`").starts_with("line 8: "));
        assert!(line(Some("train"), "invalid type\nin `steps`").starts_with("line 11: "));
        assert_eq!(
            line(None, "unknown field `nowhere`\nin `features`"),
            "unknown field `nowhere`\nin `features`"
        );
        assert_eq!(line(None, "no key named"), "no key named");
    }
}
