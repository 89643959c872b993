//! The default files compiled into the binary.

use std::path::Path;

/// The files folio's defaults and the README's first commands name, compiled in: an installed
/// binary (`cargo install --path .`) has no repository beside it, yet `folio train` with no
/// flags, `folio panel envs/default.toml envs/factor_etfs.toml`, `folio search --space
/// envs/tilt_search.toml` and every other `envs/` file the README names must still work. Paths
/// are as those commands name them, relative to the folder folio runs in.
const BUNDLED: &[(&str, &[u8])] = &[
    ("envs/default.toml", include_bytes!("../../envs/default.toml")),
    ("envs/data/us_stocks_20_daily.csv", include_bytes!("../../envs/data/us_stocks_20_daily.csv")),
    ("envs/tax_us.toml", include_bytes!("../../envs/tax_us.toml")),
    ("envs/factor_etfs.toml", include_bytes!("../../envs/factor_etfs.toml")),
    ("envs/data/us_factor_etfs_daily.csv", include_bytes!("../../envs/data/us_factor_etfs_daily.csv")),
    ("envs/tilt_search.toml", include_bytes!("../../envs/tilt_search.toml")),
    ("envs/olps_djia.toml", include_bytes!("../../envs/olps_djia.toml")),
    ("envs/data/olps/djia.csv", include_bytes!("../../envs/data/olps/djia.csv")),
    ("envs/risk_questionnaire.toml", include_bytes!("../../envs/risk_questionnaire.toml")),
];

/// The bundled copy of `path`, if folio carries one.
pub fn bundled(path: &Path) -> Option<&'static [u8]> {
    let wanted: Vec<_> = path.components().filter(|c| *c != std::path::Component::CurDir).collect();
    BUNDLED.iter().find(|(name, _)| Path::new(name).components().eq(wanted.iter().copied())).map(|(_, b)| *b)
}

/// The content of `path`: the file on disk when there is one (it always wins), else folio's
/// bundled copy of a default file, else the error of reading it.
pub fn read_or_bundled(path: &Path) -> std::io::Result<std::borrow::Cow<'static, [u8]>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes.into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bundled(path).map(Into::into).ok_or(e),
        Err(e) => Err(e),
    }
}

/// [`read_or_bundled`] as text; bytes that are not UTF-8 are an error.
pub fn read_text_or_bundled(path: &Path) -> std::io::Result<String> {
    let bytes = read_or_bundled(path)?;
    String::from_utf8(bytes.into_owned())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()))
}
