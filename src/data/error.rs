//! Errors of reading price data and of settings. Every variant names the file, line and column,
//! or the setting, involved, so the user never needs a backtrace.

use std::path::PathBuf;

/// Where in an input file a problem sits. Lines and columns are 1-based, as editors show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: Option<u64>,
    /// 1-based column number and the column's header name when it has one.
    pub column: Option<(usize, String)>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some((number, name)) = &self.column {
            if name.is_empty() {
                write!(f, ", column {number}")?;
            } else {
                write!(f, ", column {number} ({name})")?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{location}: {reason}")]
    Invalid { location: Location, reason: String },
    #[error("{0}")]
    Selection(String),
}

/// A setting outside what it allows, in any layer's config (synthetic markets, features,
/// environments, risk questionnaires, tax rules): the lowest layer with a config defines it so
/// that every layer above can share it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct InvalidSetting {
    /// The key as a config file spells it (`limits.max_weight`), for code that reacts to one
    /// setting and for finding the line that writes it.
    pub setting: std::borrow::Cow<'static, str>,
    /// The sentence a user reads: it names the setting, the value given and what it must be.
    pub reason: String,
}

impl InvalidSetting {
    pub fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        Self { setting: setting.into(), reason: reason.into() }
    }

    /// `setting` refused unless `ok`, in the words every check uses: `{setting} must be
    /// {allowed}, got {value}`.
    pub fn require(
        ok: bool,
        setting: &'static str,
        allowed: &str,
        value: &dyn std::fmt::Display,
    ) -> Result<(), Self> {
        if ok {
            return Ok(());
        }
        Err(Self::new(setting, format!("{setting} must be {allowed}, got {value}")))
    }

    /// The first number of `config` that is NaN or infinite. Checkpoints and reports are JSON,
    /// which holds neither: a setting that passed its own checks as infinite (`max_grad_norm =
    /// inf`) would train a checkpoint that cannot be read back. Keys are named as a config file
    /// writes them: under `table.` (`train.ppo.clip`), or at the top level for an empty `table`
    /// (an environment's `costs.buy`). A config that does not serialize as TOML is not checked.
    pub fn non_finite_in(table: &'static str, config: &impl serde::Serialize) -> Result<(), Self> {
        fn first(value: &toml::Value, path: String) -> Option<(String, f64)> {
            let under = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
            match value {
                toml::Value::Float(x) if !x.is_finite() => Some((path, *x)),
                toml::Value::Table(entries) => entries.iter().find_map(|(k, v)| first(v, under(k))),
                toml::Value::Array(items) => {
                    items.iter().enumerate().find_map(|(i, v)| first(v, format!("{path}[{i}]")))
                }
                _ => None,
            }
        }
        let Ok(value) = toml::Value::try_from(config) else { return Ok(()) };
        match first(&value, table.to_string()) {
            Some((path, x)) => {
                Err(Self { reason: format!("{path} must be a finite number, got {x}"), setting: path.into() })
            }
            None => Ok(()),
        }
    }
}

/// Text that is no point on a time axis (a flag such as `--from`, or a config's period bound).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is neither an ISO date (YYYY-MM-DD) nor a period number")]
pub struct InvalidStamp {
    pub text: String,
}
