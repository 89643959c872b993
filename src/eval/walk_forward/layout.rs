//! How a walk-forward cuts the data into folds: the config's windows, the folds they make, and
//! the layouts proposed (or fitted) when they do not fit the data.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::data::{Stamp, TimeIndex};
use crate::env::ConfigError;
use crate::env::config::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowMode {
    /// The training window keeps its length and slides forward.
    Rolling,
    /// The training window always starts at the beginning of the data.
    Expanding,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalkForwardConfig {
    pub mode: WindowMode,
    /// Periods in each training window (rolling mode; the minimum in expanding mode).
    pub train_periods: usize,
    /// Periods of the validation slice that picks the checkpoint.
    pub validation_periods: usize,
    /// Periods in each test window.
    pub test_periods: usize,
    /// Periods left out between training and validation and between validation and test.
    pub embargo: usize,
    /// Folds, counted back from the end of the data.
    pub folds: usize,
    /// Seeds trained per fold: each is a trial for the overfitting statistics.
    pub seeds: usize,
}

impl WindowMode {
    /// As a config writes it: `rolling` or `expanding`.
    pub fn name(self) -> &'static str {
        match self {
            WindowMode::Rolling => "rolling",
            WindowMode::Expanding => "expanding",
        }
    }
}

impl Default for WalkForwardConfig {
    fn default() -> Self {
        Self {
            mode: WindowMode::Rolling,
            train_periods: 5 * 252,
            validation_periods: 252,
            test_periods: 252,
            embargo: 5,
            folds: 5,
            seeds: 3,
        }
    }
}

impl WalkForwardConfig {
    /// folio's default layout for data with `periods_per_year` rows a year: five training years,
    /// a validation year (at least [`MIN_DEFAULT_VALIDATION`] periods) and a test year per fold,
    /// and an embargo of a trading week (at least one period), so that weekly or monthly data get
    /// years, not 252 of their rows.
    pub fn for_frequency(periods_per_year: f64) -> Self {
        let year = (periods_per_year.round() as usize).max(1);
        let embargo = ((periods_per_year * 5.0 / 252.0).round() as usize).max(1);
        Self {
            train_periods: 5 * year,
            validation_periods: year.max(MIN_DEFAULT_VALIDATION),
            test_periods: year,
            embargo,
            ..Self::default()
        }
    }

    /// A config file's `[walk_forward]` table over the defaults for its data's frequency
    /// ([`Self::for_frequency`]); unknown keys are errors naming `path`.
    pub fn from_table(
        table: Option<toml::Table>,
        path: &Path,
        periods_per_year: f64,
    ) -> Result<Self, ConfigError> {
        let defaults = Self::for_frequency(periods_per_year);
        let Some(table) = table else { return Ok(defaults) };
        let mut merged = toml::Table::try_from(defaults).expect("the layout serializes as a table");
        merged.extend(table);
        merged.try_into().map_err(|e: toml::de::Error| ConfigError::Parse {
            path: path.to_path_buf(),
            message: format!(
                "invalid [walk_forward] table: {}",
                crate::env::config::with_key_line_of(path, "walk_forward", e.to_string())
            ),
        })
    }

    /// What a config's `[walk_forward]` table chooses of the fold layout. A config that writes
    /// no window runs the default windows fitted to its data ([`Self::fitted_to`], or
    /// [`Self::fitted_keeping_folds`] when it chose the number of folds).
    pub fn layout_chosen(table: Option<&toml::Table>) -> LayoutChoice {
        let writes = |key: &str| table.is_some_and(|t| t.contains_key(key));
        LayoutChoice {
            windows: ["train_periods", "validation_periods", "test_periods", "embargo"]
                .into_iter()
                .any(writes),
            folds: writes("folds"),
        }
    }
}

/// The parts of the fold layout a config chose; the rest are folio's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutChoice {
    /// Any window's length or the embargo: a layout that runs as written, or fails naming what
    /// would fit.
    pub windows: bool,
    /// The number of folds, which a fitted default keeps.
    pub folds: bool,
}

/// Rows of one fold. Each span is `(first decision row, last price row)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fold {
    pub index: usize,
    pub train: (usize, usize),
    pub validation: (usize, usize),
    pub test: (usize, usize),
}

/// The folder of fold `index` (counted from 0) in a walk-forward's output: counted from 1, as
/// every report and message counts folds.
pub fn fold_folder(index: usize) -> String {
    format!("fold-{}", index + 1)
}

/// Folds that cannot be cut from the data.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FoldError {
    #[error(
        "walk_forward needs folds >= 1, test_periods >= 1, and validation and training of at least 2 periods"
    )]
    Empty,
    #[error(
        "walk_forward.embargo must be at least 1: each window starts on the row where the one before it ends, so without a gap validation's first decision sits on training's last row, inside the period whose statistics normalize training's features (and test's first on validation's last row)"
    )]
    NoEmbargo,
    #[error(
        "{} folds of {} test periods, with {} validation, {} training, {} embargo and {warmup} warm-up periods, need {needed} periods; the data has {periods}{}",
        config.folds,
        config.test_periods,
        config.validation_periods,
        config.train_periods,
        config.embargo,
        config.fitting(*periods, *warmup)
    )]
    TooLittleData { config: WalkForwardConfig, warmup: usize, needed: usize, periods: usize },
    #[error(
        "{algo} draws whole episodes from each fold's training rows: an episode of {horizon} decisions \
         every {every} periods ([episode] horizon and rebalance_every) needs {needed} periods, and fold \
         {fold}'s training holds {periods} ([walk_forward] train_periods): give train_periods at least \
         {needed}, or a shorter episode"
    )]
    EpisodeLongerThanTraining {
        algo: &'static str,
        horizon: usize,
        every: usize,
        needed: usize,
        fold: usize,
        periods: usize,
    },
}

impl WalkForwardConfig {
    /// Layouts like this one that fit `n_periods` rows, in the order an error proposes them: the
    /// same windows with fewer folds (at least 2), then the same folds with every window scaled
    /// down in proportion. None whose training window would be too short to learn from.
    fn layouts_that_fit(&self, n_periods: usize, warmup: usize) -> Vec<Self> {
        let gaps = warmup.saturating_add(self.embargo.saturating_mul(2)).saturating_add(1);
        let Some(room) = n_periods.checked_sub(gaps) else { return Vec::new() };
        let mut layouts = Vec::new();
        let fixed = self.validation_periods.saturating_add(self.train_periods);
        let folds = room.saturating_sub(fixed) / self.test_periods.max(1);
        if folds >= 2 {
            layouts.push(Self { folds, ..*self });
        }
        let windows = self.folds.saturating_mul(self.test_periods).saturating_add(fixed);
        // In 128 bits: a window as long as a config can write, times the room, overflows 64.
        let scale = |periods: usize| (periods as u128 * room as u128 / windows.max(1) as u128) as usize;
        let (train, validation, test) =
            (scale(self.train_periods), scale(self.validation_periods), scale(self.test_periods));
        if train >= MIN_SUGGESTED_TRAINING.min(self.train_periods / 2) && validation >= 2 && test >= 1 {
            layouts.push(Self {
                train_periods: train,
                validation_periods: validation,
                test_periods: test,
                ..*self
            });
        }
        layouts
    }

    /// What in `[walk_forward]` would fit `n_periods` rows ([`Self::layouts_that_fit`]), as
    /// the end of an error message.
    fn fitting(&self, n_periods: usize, warmup: usize) -> String {
        let options: Vec<String> = self
            .layouts_that_fit(n_periods, warmup)
            .iter()
            .map(|fit| {
                if fit.folds != self.folds {
                    format!("folds = {}", fit.folds)
                } else {
                    format!(
                        "train_periods = {}, validation_periods = {}, test_periods = {} (with {} folds)",
                        fit.train_periods, fit.validation_periods, fit.test_periods, fit.folds
                    )
                }
            })
            .collect();
        if !options.is_empty() {
            return format!("; in the config's [walk_forward], {} would fit", options.join(", or "));
        }
        match self.least_periods(warmup) {
            Some(least) => format!(
                "; that is too little for a walk-forward: a layout like this one fits {least} periods or more, \
                 {warmup} of them the features' warm-up (a shorter [features] window needs fewer)"
            ),
            None => "; that is too little for a walk-forward".into(),
        }
    }

    /// The fewest rows that some layout like this one fits ([`Self::layouts_that_fit`]), or
    /// `None` past any number of rows a file could hold.
    fn least_periods(&self, warmup: usize) -> Option<usize> {
        let fits = |n: usize| !self.layouts_that_fit(n, warmup).is_empty();
        // Fitting only grows with the rows: more room never shortens a window or drops a fold.
        let (mut short, mut long) = (0usize, 1usize << 40);
        if !fits(long) {
            return None;
        }
        while long - short > 1 {
            let middle = short + (long - short) / 2;
            if fits(middle) { long = middle } else { short = middle }
        }
        Some(long)
    }

    /// The layout to run on `n_periods` rows when this one, folio's default, is too long for
    /// them: of those that fit, the one that tests on the most periods (the scaled windows,
    /// wherever they fit); `None` when this one fits or nothing does. A config that writes no
    /// `[walk_forward]` has chosen no layout, and one that depends only on the data's length
    /// looks at no result.
    pub fn fitted_to(&self, n_periods: usize, warmup: usize) -> Option<Self> {
        if make_folds(n_periods, warmup, self).is_ok() {
            return None;
        }
        let layouts = self.layouts_that_fit(n_periods, warmup);
        let tested = |l: &Self| l.folds.saturating_mul(l.test_periods);
        let most = layouts.iter().map(tested).max()?;
        layouts.into_iter().find(|l| tested(l) == most)
    }

    /// [`Self::fitted_to`] for a number of folds the user chose (`--folds`) over folio's default
    /// windows: only the windows scale down, so the folds asked for are the folds run.
    pub fn fitted_keeping_folds(&self, n_periods: usize, warmup: usize) -> Option<Self> {
        if make_folds(n_periods, warmup, self).is_ok() {
            return None;
        }
        self.layouts_that_fit(n_periods, warmup).into_iter().find(|l| l.folds == self.folds)
    }

    /// The layout to run on `env`'s data when this one is folio's default: fitted to a market too
    /// short for it ([`Self::fitted_to`]; with `folds_chosen`, `--folds`, only its windows
    /// shrink, [`Self::fitted_keeping_folds`]), with a note that says so. Only for a config whose
    /// `[walk_forward]` writes no window: windows the user wrote run as written, or fail naming
    /// the layouts that would fit.
    pub fn fitted_to_data(
        self,
        env: &crate::env::config::EnvConfig,
        train: &crate::train::TrainConfig,
        folds_chosen: bool,
    ) -> Result<(Self, Option<String>), crate::data::DataError> {
        // The rows and the features' warm-up are all a layout depends on: no features are built.
        let selection = env.data.selection()?;
        let (n_periods, warmup) = (selection.panel.n_periods(), env.features.warmup());
        let fitted = match folds_chosen {
            true => self.fitted_keeping_folds(n_periods, warmup),
            false => self.fitted_to(n_periods, warmup),
        };
        Ok(match fitted {
            None => (self, None),
            Some(fitted) => {
                let mut note = format!(
                    "the data has {n_periods} periods, too few for the default walk-forward ({}); it runs {} \
                     (a [walk_forward] table in the config chooses another layout)",
                    self.describe(),
                    fitted.describe()
                );
                let least = crate::metrics::sharpe_difference::MIN_PERIODS;
                // The gate tests only an anchored network, which has a reference to keep.
                let gated = train.reference_gate && env.features.reference.anchors();
                if gated && fitted.validation_periods < least {
                    note.push_str(&format!(
                        ". Its validation windows are too short to test a trained network against its \
                         reference ({least} periods), so the reference gate ([train] reference_gate) keeps the reference \
                         in every one"
                    ));
                }
                (fitted, Some(note))
            }
        })
    }

    /// The layout in words: "3 folds of 252 test periods, each after 252 validation and 1260
    /// training periods".
    pub fn describe(&self) -> String {
        format!(
            "{} folds of {} test periods, each after {} validation and {} training periods",
            self.folds, self.test_periods, self.validation_periods, self.train_periods
        )
    }
}

/// The shortest training window a suggestion proposes: shorter ones fit the data but leave a
/// learner too little to learn from, and saying so beats suggesting them. A layout whose own
/// training window is short (monthly data's five years are 60 rows) may shrink to half of it.
const MIN_SUGGESTED_TRAINING: usize = 100;

/// The shortest validation window of a default layout: the reference gate's test of the Sharpe
/// gap needs [`crate::metrics::sharpe_difference::MIN_PERIODS`] periods, and a validation year of
/// monthly data (12) would leave every training untested, deploying the reference whatever it
/// learned. Three years of months leave the test some room.
const MIN_DEFAULT_VALIDATION: usize = 36;

/// Cut `n_periods` rows (the first `warmup` are history for features only) into folds whose
/// test windows tile the end of the data.
pub fn make_folds(
    n_periods: usize,
    warmup: usize,
    config: &WalkForwardConfig,
) -> Result<Vec<Fold>, FoldError> {
    let c = config;
    if c.folds == 0 || c.test_periods == 0 || c.validation_periods < 2 || c.train_periods < 2 {
        return Err(FoldError::Empty);
    }
    if c.embargo == 0 {
        return Err(FoldError::NoEmbargo);
    }
    // Saturating: windows as long as a config can write must read as too long, not wrap around.
    let needed = [c.embargo.saturating_mul(2), c.validation_periods, c.train_periods, warmup]
        .into_iter()
        .fold(c.folds.saturating_mul(c.test_periods), usize::saturating_add);
    let last = n_periods.saturating_sub(1);
    if needed > last {
        return Err(FoldError::TooLittleData {
            config: *c,
            warmup,
            needed: needed.saturating_add(1),
            periods: n_periods,
        });
    }
    let mut folds = Vec::with_capacity(c.folds);
    for k in 0..c.folds {
        let test_last = last - (c.folds - 1 - k) * c.test_periods;
        let test_first = test_last - c.test_periods;
        let validation_last = test_first - c.embargo;
        let validation_first = validation_last - c.validation_periods;
        let train_last = validation_first - c.embargo;
        let train_first = match c.mode {
            WindowMode::Rolling => train_last - c.train_periods,
            WindowMode::Expanding => warmup,
        };
        folds.push(Fold {
            index: k,
            train: (train_first, train_last),
            validation: (validation_first, validation_last),
            test: (test_first, test_last),
        });
    }
    Ok(folds)
}

pub(crate) fn stamp(index: &TimeIndex, row: usize) -> Stamp {
    index.stamp(row)
}

pub(super) fn span(index: &TimeIndex, (first, last): (usize, usize)) -> Span {
    Span { from: Some(stamp(index, first)), to: Some(stamp(index, last)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_layout_counts_years_in_the_datas_own_rows() {
        assert_eq!(WalkForwardConfig::for_frequency(252.0), WalkForwardConfig::default());
        let monthly = WalkForwardConfig::for_frequency(12.0);
        let windows =
            |c: WalkForwardConfig| (c.train_periods, c.validation_periods, c.test_periods, c.embargo);
        assert_eq!(windows(monthly), (60, 36, 12, 1), "validation long enough for the reference gate");
        assert_eq!(windows(WalkForwardConfig::for_frequency(52.0)), (260, 52, 52, 1));
        assert_eq!(windows(WalkForwardConfig::for_frequency(365.0)), (1825, 365, 365, 7));
        // A table that writes some keys keeps the frequency's defaults for the others.
        let table: toml::Table = toml::from_str("folds = 3\ntest_periods = 6").unwrap();
        let config = WalkForwardConfig::from_table(Some(table), Path::new("c.toml"), 12.0).unwrap();
        assert_eq!((config.folds, windows(config)), (3, (60, 36, 6, 1)));
        // Monthly data too short for five folds: every window scaled down, training to no less
        // than half its length.
        let fitted = monthly.fitted_to(60 + 36 + 12 * 3 + 2 + 1, 0).unwrap();
        assert_eq!((fitted.folds, windows(fitted)), (5, (50, 30, 10, 1)));
        let fitted = monthly.fitted_to(100, 0).unwrap();
        assert!(fitted.train_periods >= 30 && fitted.folds == 5, "{fitted:?}");
        assert_eq!(monthly.fitted_to(60, 0), None, "too little for a walk-forward");
        let table: toml::Table = toml::from_str("tests = 3").unwrap();
        let error = WalkForwardConfig::from_table(Some(table), Path::new("c.toml"), 12.0).unwrap_err();
        assert!(error.to_string().contains("tests"), "{error}");
    }

    #[test]
    fn data_too_short_for_the_folds_gets_a_config_that_fits() {
        let config = WalkForwardConfig::default();
        let error = make_folds(700, 69, &config).unwrap_err().to_string();
        assert_eq!(
            error,
            "5 folds of 252 test periods, with 252 validation, 1260 training, 5 embargo and 69 warm-up \
             periods, need 2852 periods; the data has 700; in the config's [walk_forward], train_periods \
             = 281, validation_periods = 56, test_periods = 56 (with 5 folds) would fit"
        );
        let scaled =
            WalkForwardConfig { train_periods: 281, validation_periods: 56, test_periods: 56, ..config };
        assert_eq!(make_folds(700, 69, &scaled).unwrap().len(), 5);
        // Fewer folds fit 2,300 rows as they are; the scaled windows fit them too.
        let error = make_folds(2300, 69, &config).unwrap_err().to_string();
        assert!(error.ends_with("folds = 2, or train_periods = 1009, validation_periods = 201, test_periods = 201 (with 5 folds) would fit"), "{error}");
        assert_eq!(make_folds(2300, 69, &WalkForwardConfig { folds: 2, ..config }).unwrap().len(), 2);
        let scaled =
            WalkForwardConfig { train_periods: 1009, validation_periods: 201, test_periods: 201, ..config };
        assert_eq!(make_folds(2300, 69, &scaled).unwrap().len(), 5);
        // Below a training window of 100 periods nothing is suggested.
        let error = make_folds(250, 69, &config).unwrap_err().to_string();
        assert!(
            error.ends_with(
                "the data has 250; that is too little for a walk-forward: a layout like this one fits 300 \
                 periods or more, 69 of them the features' warm-up (a shorter [features] window needs fewer)"
            ),
            "{error}"
        );
        assert!(make_folds(299, 69, &config).is_err() && config.fitted_to(299, 69).is_none());
        assert_eq!(make_folds(300, 69, &config.fitted_to(300, 69).unwrap()).unwrap().len(), 5);
        // Windows as long as a config can write are too long, not wrapped around to short ones.
        let huge = usize::MAX / 2 + 1;
        for long in [
            WalkForwardConfig { folds: usize::MAX, ..config },
            WalkForwardConfig { folds: 4, test_periods: huge, ..config },
            WalkForwardConfig { embargo: huge, ..config },
        ] {
            let error = make_folds(2300, 69, &long).unwrap_err();
            assert!(
                matches!(error, FoldError::TooLittleData { needed: usize::MAX, .. }),
                "{long:?}: {error}"
            );
            let fits = if long.folds == usize::MAX {
                "folds = 2 would fit"
            } else {
                "too little for a walk-forward"
            };
            assert!(error.to_string().ends_with(fits), "{error}");
            assert_eq!(long.fitted_keeping_folds(2300, 69), None, "{long:?}");
        }
    }

    #[test]
    fn the_default_layout_fitted_to_short_data_keeps_the_most_test_periods() {
        let config = WalkForwardConfig::default();
        assert_eq!(config.fitted_to(2852, 69), None, "the default fits as it is");
        assert_eq!(config.fitted_to(250, 69), None, "nothing fits");
        // Of "2 folds" and "5 scaled folds", the scaled ones test on 1,005 periods against 504.
        let fitted = config.fitted_to(2300, 69).unwrap();
        assert_eq!(
            (fitted.folds, fitted.train_periods, fitted.validation_periods, fitted.test_periods),
            (5, 1009, 201, 201)
        );
        assert_eq!((fitted.embargo, fitted.mode, fitted.seeds), (config.embargo, config.mode, config.seeds));
        // Where the windows cannot shrink without starving training (below half its length, or
        // 100 periods), fewer folds is all that fits.
        let short_training =
            WalkForwardConfig { train_periods: 150, validation_periods: 50, test_periods: 300, ..config };
        let fitted = short_training.fitted_to(900, 69).unwrap();
        assert_eq!((fitted.folds, fitted.train_periods, fitted.test_periods), (2, 150, 300));
        for n in [700, 1000, 2300, 2851] {
            let fitted = config.fitted_to(n, 69).unwrap();
            assert_eq!(make_folds(n, 69, &fitted).unwrap().len(), fitted.folds, "{n} rows");
        }
        // Folds a user asked for stay, and the windows shrink to make room for them.
        let two = WalkForwardConfig { folds: 2, ..config };
        let fitted = two.fitted_keeping_folds(1663, 69).unwrap();
        assert_eq!(fitted.folds, 2);
        assert!(fitted.train_periods < config.train_periods && fitted.test_periods < config.test_periods);
        assert_eq!(make_folds(1663, 69, &fitted).unwrap().len(), 2);
        assert_eq!(two.fitted_keeping_folds(2852, 69), None, "two default folds fit 2,852 rows");
    }

    /// Spans share their boundary row, so without an embargo validation's first decision would
    /// sit on training's last row, which training refuses (its features are normalized over its
    /// whole span, that row included).
    #[test]
    fn folds_without_an_embargo_are_refused() {
        let config = WalkForwardConfig { embargo: 0, ..WalkForwardConfig::default() };
        let error = make_folds(5000, 69, &config).unwrap_err();
        assert!(matches!(error, FoldError::NoEmbargo), "{error}");
        assert!(make_folds(5000, 69, &WalkForwardConfig { embargo: 1, ..config }).is_ok());
    }

    #[test]
    fn folds_never_let_test_touch_training_or_validation_plus_embargo() {
        for mode in [WindowMode::Rolling, WindowMode::Expanding] {
            let config = WalkForwardConfig {
                mode,
                train_periods: 300,
                validation_periods: 100,
                test_periods: 80,
                embargo: 7,
                folds: 6,
                seeds: 1,
            };
            let folds = make_folds(2000, 69, &config).unwrap();
            assert_eq!(folds.len(), 6);
            assert_eq!(folds.last().unwrap().test.1, 1999, "the last test window ends with the data");
            for (k, f) in folds.iter().enumerate() {
                assert!(f.train.0 >= 69, "training starts after the feature warm-up");
                assert!(
                    f.train.1 + config.embargo <= f.validation.0,
                    "fold {k}: training + embargo overlaps validation"
                );
                assert!(
                    f.validation.1 + config.embargo <= f.test.0,
                    "fold {k}: validation + embargo overlaps test"
                );
                assert_eq!(f.test.1 - f.test.0, 80);
                if mode == WindowMode::Rolling {
                    assert_eq!(f.train.1 - f.train.0, 300);
                } else {
                    assert_eq!(f.train.0, 69);
                }
                if k > 0 {
                    // Test windows tile: each starts where the previous ended.
                    assert_eq!(folds[k - 1].test.1, f.test.0);
                }
            }
            // No fold's test window overlaps any fold's own training or validation.
            for f in &folds {
                let test = f.test.0..=f.test.1;
                assert!(!test.contains(&f.train.1) && !test.contains(&f.validation.1));
            }
        }
    }
}
