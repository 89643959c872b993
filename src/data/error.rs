//! Errors of reading price data. Every variant names the file, line and column involved, so the
//! user never needs a backtrace.

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
