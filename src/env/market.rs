//! The market an environment simulates: selected prices, their relatives with a cash column, and
//! the normalized causal features, shared read-only by every episode and environment.

use std::ops::Range;

use crate::data::{PricePanel, Selection, Stamp};
use crate::env::EnvError;
use crate::env::config::{EnvConfig, Span};
use crate::features::{FeatureConfig, FeatureSet, NormalizedFeatures, Normalizer};

#[derive(Debug, Clone)]
pub struct Market {
    pub panel: PricePanel,
    pub feature_config: FeatureConfig,
    pub normalizer: Normalizer,
    pub features: NormalizedFeatures,
    /// The asset that ended the market before its file did, if one did: periods that ask for rows
    /// past it name it instead of quietly ending early.
    pub ended_by: Option<crate::data::EarlyEnd>,
    /// How many of its rows make a year, for the rules that look back a year: its config's
    /// `periods_per_year` where a config built it, else what its dates say (252 undated).
    pub periods_per_year: f64,
    /// `[period][cash + assets]`: the reference portfolio for a decision at each row, when the
    /// features ask for one ([`crate::features::Reference`]).
    reference: Option<Vec<f64>>,
    /// `[period][cash + assets]`: row `t` holds `p[t] / p[t-1]` with cash first at 1.0; row 0 is
    /// all ones (there is no period before the first).
    relatives: Vec<f64>,
}

/// Rows of the market where an episode may act: decisions at the close of `first` up to before
/// `last`, whose price is the last one an episode uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionRange {
    pub first: usize,
    pub last: usize,
}

impl DecisionRange {
    /// Periods of price movement inside the range.
    pub fn periods(&self) -> usize {
        self.last - self.first
    }
}

/// Layout of an observation, a flat `f32` slice: the feature windows `[asset][feature][window]`
/// (oldest first), then the current (drifted) weights `[cash, asset 1, ..., asset N]`, then, when
/// `reference` is set, the reference portfolio in the same order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObservationLayout {
    pub assets: usize,
    pub features: usize,
    pub window: usize,
    pub reference: bool,
}

impl ObservationLayout {
    pub fn feature_len(&self) -> usize {
        self.assets * self.features * self.window
    }

    pub fn len(&self) -> usize {
        self.feature_len() + (self.assets + 1) * (1 + usize::from(self.reference))
    }

    /// Where the reference portfolio starts, when there is one.
    pub fn reference_offset(&self) -> Option<usize> {
        self.reference.then(|| self.feature_len() + self.assets + 1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Market {
    /// Build a market from a selected panel. The normalizer is fitted on rows `fit_rows` (the
    /// training period) unless one is given (a checkpoint's, reapplied to new data).
    pub fn new(
        panel: PricePanel,
        feature_config: &FeatureConfig,
        normalizer: Option<Normalizer>,
        fit_rows: Range<usize>,
    ) -> Result<Self, EnvError> {
        feature_config.validate()?;
        if panel.prices.iter().any(|p| !p.is_finite()) {
            return Err(EnvError::MissingPrices);
        }
        let raw = FeatureSet::compute(&panel, feature_config);
        let normalizer = normalizer.unwrap_or_else(|| raw.fit_normalizer(fit_rows));
        let features = raw.normalize(&normalizer)?;
        let reference = feature_config.reference.weights(&panel, feature_config);
        let width = panel.n_assets() + 1;
        let mut relatives = vec![1.0; panel.n_periods() * width];
        for t in 1..panel.n_periods() {
            for i in 0..panel.n_assets() {
                relatives[t * width + 1 + i] = panel.prices[[t, i]] / panel.prices[[t - 1, i]];
            }
        }
        let periods_per_year = crate::env::config::DataConfig::periods_per_year_of(&panel);
        Ok(Self {
            panel,
            feature_config: feature_config.clone(),
            normalizer,
            features,
            reference,
            relatives,
            ended_by: None,
            periods_per_year,
        })
    }

    /// Load the config's data, select its assets and rows, and fit the feature normalization on
    /// every row up to the training period's end: all of it is past by the first decision, and
    /// a longer history steadies the scaling of a short rolling window.
    pub fn from_config(config: &EnvConfig) -> Result<(Self, Selection), EnvError> {
        let selection = config.data.selection()?;
        let train_rows = span_rows(&selection.panel, &config.periods.train)?;
        let mut market = Market::new(selection.panel.clone(), &config.features, None, 0..train_rows.end)?;
        market.ended_by = selection.ended_by.clone();
        market.periods_per_year = config.data.periods_per_year;
        market.check_within(&config.periods.train)?;
        Ok((market, selection))
    }

    pub fn n_assets(&self) -> usize {
        self.panel.n_assets()
    }

    pub fn n_periods(&self) -> usize {
        self.panel.n_periods()
    }

    pub fn layout(&self) -> ObservationLayout {
        ObservationLayout {
            assets: self.n_assets(),
            features: self.features.n_features,
            window: self.features.window,
            reference: self.reference.is_some(),
        }
    }

    /// The reference portfolio for a decision at row `t`, cash first, if the market has one.
    pub fn reference(&self, t: usize) -> Option<&[f64]> {
        let width = self.n_assets() + 1;
        self.reference.as_ref().map(|r| &r[t * width..(t + 1) * width])
    }

    /// Relatives of period `t` with cash first: `[1, x_1, ..., x_N]`.
    pub fn relatives(&self, t: usize) -> &[f64] {
        let width = self.n_assets() + 1;
        &self.relatives[t * width..(t + 1) * width]
    }

    /// First row at which a complete observation exists.
    pub fn first_observable(&self) -> usize {
        self.feature_config.warmup()
    }

    /// The decision rows of a span, after the feature warm-up and with `embargo` periods left
    /// out at both edges.
    pub fn decision_range(&self, span: &Span, embargo: usize) -> Result<DecisionRange, EnvError> {
        self.check_within(span)?;
        let rows = span_rows(&self.panel, span)?;
        let first = rows.start.max(self.first_observable()) + embargo;
        let last = (rows.end - 1).saturating_sub(embargo);
        if first >= last {
            return Err(EnvError::NoDecisions {
                from: self.panel.index.label(rows.start),
                to: self.panel.index.label(rows.end - 1),
                warmup: self.first_observable(),
                embargo,
            });
        }
        Ok(DecisionRange { first, last })
    }

    /// A span that reaches past the market's end because an asset stopped trading early is an
    /// error naming that asset, not a period silently cut short.
    fn check_within(&self, span: &Span) -> Result<(), EnvError> {
        let Some(early) = &self.ended_by else { return Ok(()) };
        let past_end =
            |stamp: &Option<Stamp>| stamp.is_some_and(|s| self.panel.index.first_at_or_after(&s).is_none());
        if past_end(&span.from) || past_end(&span.to) {
            let stamp = span.to.or(span.from).expect("one end is past the data");
            return Err(EnvError::AssetEndsEarly { stamp: stamp.to_string(), early: early.clone() });
        }
        Ok(())
    }

    /// Write the observation for a decision at row `t` holding `weights` into `out`.
    pub fn write_observation(&self, t: usize, weights: &[f64], out: &mut [f32]) {
        let (features, tail) = out.split_at_mut(self.features.observation_len());
        self.features.write_window(t, features);
        let (current, reference) = tail.split_at_mut(weights.len());
        for (o, &w) in current.iter_mut().zip(weights) {
            *o = w as f32;
        }
        for (o, &w) in reference.iter_mut().zip(self.reference(t).unwrap_or_default()) {
            *o = w as f32;
        }
    }
}

/// Rows `[start, end)` of a panel covered by a span (both ends inclusive in the span).
pub fn span_rows(panel: &PricePanel, span: &Span) -> Result<Range<usize>, EnvError> {
    if let Some(why) = [span.from, span.to].iter().flatten().find_map(|s| panel.index.stamp_mismatch(s)) {
        return Err(EnvError::StampKind(why));
    }
    let last_row = panel.n_periods() - 1;
    let start = match span.from {
        None => 0,
        Some(stamp) => panel.index.first_at_or_after(&stamp).ok_or_else(|| EnvError::SpanAfterData {
            start: stamp.to_string(),
            last: panel.index.label(last_row),
        })?,
    };
    let end = match span.to {
        None => last_row,
        Some(stamp) => panel.index.last_at_or_before(&stamp).ok_or_else(|| EnvError::SpanBeforeData {
            end: stamp.to_string(),
            first: panel.index.label(0),
        })?,
    };
    if end <= start {
        let why = match (span.from, span.to) {
            (Some(from), Some(to)) if from > to => "starts after it ends".to_string(),
            _ if end == start => format!(
                "holds one row of the data ({}): a period needs two, a decision and the row it trades to",
                panel.index.label(start)
            ),
            _ => format!(
                "holds no row of the data, which has {} and then {}",
                panel.index.label(end),
                panel.index.label(start)
            ),
        };
        return Err(EnvError::SpanTooShort {
            from: span.from.map(|s| s.to_string()).unwrap_or("start".into()),
            to: span.to.map(|s| s.to_string()).unwrap_or("end".into()),
            why,
        });
    }
    Ok(start..end + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Stamp, TimeIndex};

    /// A period too short to trade says why: one row, no row (a weekend), or reversed ends.
    #[test]
    fn a_span_too_short_says_what_it_holds() {
        let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2024, 1, d).unwrap();
        // Thursday 4th, Friday 5th, Monday 8th, Tuesday 9th.
        let dates = vec![day(4), day(5), day(8), day(9)];
        let panel = PricePanel::new(
            "p.csv",
            vec!["A".into()],
            TimeIndex::Dates(dates),
            ndarray::Array2::from_elem((4, 1), 1.0),
        );
        let error = |from: u32, to: u32| {
            let span = Span { from: Some(Stamp::Date(day(from))), to: Some(Stamp::Date(day(to))) };
            span_rows(&panel, &span).unwrap_err().to_string()
        };
        assert_eq!(
            error(5, 5),
            "environment: span 2024-01-05 .. 2024-01-05 holds one row of the data (2024-01-05): a period needs two, a decision and the row it trades to"
        );
        assert_eq!(
            error(6, 7),
            "environment: span 2024-01-06 .. 2024-01-07 holds no row of the data, which has 2024-01-05 and then 2024-01-08"
        );
        assert_eq!(error(8, 5), "environment: span 2024-01-08 .. 2024-01-05 starts after it ends");
        let two = Span { from: Some(Stamp::Date(day(5))), to: Some(Stamp::Date(day(8))) };
        assert_eq!(span_rows(&panel, &two).unwrap(), 1..3);
    }
}
