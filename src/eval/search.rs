//! Hyperparameter search that cannot peek at its own verdict. The last `holdout_folds` folds of a
//! walk-forward are set aside: every point of the space is scored by a walk-forward over the
//! earlier folds only, on data cut before the held-out test windows begin, so no point's
//! training, selection or score ever saw them. The chosen point is then judged by a walk-forward
//! whose test windows are exactly the held-out folds, and its Deflated Sharpe Ratio counts every
//! trial the search made (each point's seeds) besides the verdict's own.

use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::EvalError;
use super::tasks::WalkForwardSpec;
use super::walk_forward::{WalkForwardReport, WalkForwardRequest, make_folds, walk_forward};
use crate::agent::DeviceChoice;
use crate::backtest::PolicyId;
use crate::data::InvalidSetting;
use crate::env::Market;
use crate::metrics::overfitting::{self, DeflatedSharpe, SharpeStats};
use crate::metrics::sharpe_difference::{SharpeDifference, sharpe_difference};
use crate::metrics::simple_returns;
use crate::progress::Progress;

/// How points are drawn from the space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampler {
    /// Every combination of the listed values.
    Grid,
    /// `points` independent draws.
    Random,
}

/// One parameter's values: a list (every value on a grid, one at random otherwise), or a range
/// drawn uniformly or log-uniformly (random sampling only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Domain {
    Values(Vec<serde_json::Value>),
    Uniform { uniform: [f64; 2] },
    LogUniform { log_uniform: [f64; 2] },
}

/// The search space file (TOML). Parameters are named by their path in the walk-forward
/// request: `train.learning_rate`, `train.net.kind`, `env.reward.risk_aversion`, ...
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSpace {
    pub sampler: Sampler,
    /// Points drawn by the random sampler.
    #[serde(default = "default_points")]
    pub points: usize,
    /// Seed of the random sampler.
    #[serde(default)]
    pub seed: u64,
    /// Folds at the end of the data that only the verdict sees.
    #[serde(default = "default_holdout")]
    pub holdout_folds: usize,
    /// How the scored points become one.
    #[serde(default)]
    pub rule: ChoiceRule,
    pub params: BTreeMap<String, Domain>,
}

/// How a search picks its point from the scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChoiceRule {
    /// The highest score.
    #[default]
    Best,
    /// The first point, in the order the space lists them, whose ensemble trails the best one's
    /// by at most one standard error of the gap (Ledoit and Wolf's test on the two stitched
    /// curves): Breiman's one-standard-error rule. List the points from the most cautious to the
    /// boldest (`tilt = [0.5, 1, 2, 4]`), and a bolder one is taken only when it wins by more
    /// than the noise in the scores.
    OneStandardError,
}

/// The most points a search runs: each is a walk-forward (half a minute for the default on two
/// cores), so more would take weeks, and a mistyped count should fail at once, not after hours.
pub const MAX_POINTS: usize = 10_000;

fn default_points() -> usize {
    20
}

fn default_holdout() -> usize {
    1
}

impl SearchSpace {
    /// A space file, checked as [`Self::points`] will draw it: a refusal names the file.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, crate::env::ConfigError> {
        let space: Self = toml::from_str(text).map_err(|e| crate::env::ConfigError::Parse {
            path: path.to_path_buf(),
            message: format!("invalid search space: {e}"),
        })?;
        space.check().map_err(|source| crate::env::ConfigError::setting(path, text, source))?;
        Ok(space)
    }

    /// The points to try, each a value per parameter.
    pub fn points(&self) -> Result<Vec<BTreeMap<String, serde_json::Value>>, InvalidSetting> {
        self.check()?;
        match self.sampler {
            Sampler::Grid => self.grid(),
            Sampler::Random => Ok(self.random()),
        }
    }

    /// Every parameter names something a point may change and has values to draw; the rule
    /// has an order to follow.
    fn check(&self) -> Result<(), InvalidSetting> {
        let refuse = |why: String| Err(InvalidSetting::new("search.params", why));
        for (name, domain) in &self.params {
            if let Some(why) = not_a_hyperparameter(name) {
                return refuse(format!("{name}: {why}"));
            }
            match domain {
                Domain::Values(values) if values.is_empty() => {
                    return refuse(format!("{name}: the list of values is empty"));
                }
                Domain::Values(values)
                    if let Some(twice) =
                        values.iter().enumerate().find_map(|(i, v)| values[..i].contains(v).then_some(v)) =>
                {
                    return refuse(format!(
                        "{name}: {twice} is listed twice, so the same point would train twice and count as two trials"
                    ));
                }
                Domain::Uniform { uniform: [a, b] } if !(a.is_finite() && b.is_finite() && a <= b) => {
                    return refuse(format!(
                        "{name}: uniform needs finite bounds, the lower first, got [{a}, {b}]"
                    ));
                }
                Domain::LogUniform { log_uniform: [a, b] } if !(*a > 0.0 && b.is_finite() && a <= b) => {
                    return refuse(format!(
                        "{name}: log_uniform needs positive finite bounds, the lower first, got [{a}, {b}]"
                    ));
                }
                _ => {}
            }
        }
        // `train.net` and `train.net.kind` would each set the kind, and which one won would
        // depend on the order they are applied in.
        let names: Vec<&String> = self.params.keys().collect();
        if let Some((outer, inner)) = names
            .iter()
            .flat_map(|a| names.iter().map(move |b| (*a, *b)))
            .find(|(a, b)| b.len() > a.len() && b.starts_with(a.as_str()) && b.as_bytes()[a.len()] == b'.')
        {
            return refuse(format!("{inner} is inside {outer}, which also sets it: keep one of them"));
        }
        let count = match self.sampler {
            Sampler::Random => Some(self.points),
            Sampler::Grid => self.params.values().try_fold(1usize, |count, domain| match domain {
                Domain::Values(values) => count.checked_mul(values.len()),
                _ => Some(count),
            }),
        };
        match count {
            Some(0) => {
                return Err(InvalidSetting::new(
                    "search.points",
                    "the search space has no point: points must be at least 1",
                ));
            }
            Some(n) if n <= MAX_POINTS => {}
            _ => {
                return Err(InvalidSetting::new(
                    "search.points",
                    format!(
                        "the search space has {} points, each a walk-forward of its own; at most {MAX_POINTS} are run: draw fewer, or split the grid",
                        count.map_or("more than 2^64".to_string(), |n| n.to_string())
                    ),
                ));
            }
        }
        if self.rule == ChoiceRule::OneStandardError
            && (self.sampler != Sampler::Grid || self.params.len() != 1)
        {
            return Err(InvalidSetting::new(
                "search.rule",
                "one_standard_error takes the first point, from the most cautious to the boldest, whose score is within one standard error of the best: it needs that order, a grid over one parameter listed from cautious to bold",
            ));
        }
        Ok(())
    }

    fn grid(&self) -> Result<Vec<BTreeMap<String, serde_json::Value>>, InvalidSetting> {
        let mut points = vec![BTreeMap::new()];
        for (name, domain) in &self.params {
            let Domain::Values(values) = domain else {
                let why = format!("{name}: a grid needs a list of values, not a range");
                return Err(InvalidSetting::new("search.params", why));
            };
            points = points
                .into_iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut p = p.clone();
                        p.insert(name.clone(), v.clone());
                        p
                    })
                })
                .collect();
        }
        Ok(points)
    }

    fn random(&self) -> Vec<BTreeMap<String, serde_json::Value>> {
        let mut rng = StdRng::seed_from_u64(self.seed);
        (0..self.points)
            .map(|_| {
                let mut draw = |domain: &Domain| match domain {
                    Domain::Values(values) => values[rng_index(&mut rng, values.len())].clone(),
                    Domain::Uniform { uniform: [a, b] } => serde_json::json!(a + (b - a) * unit(&mut rng)),
                    Domain::LogUniform { log_uniform: [a, b] } => {
                        serde_json::json!((a.ln() + (b.ln() - a.ln()) * unit(&mut rng)).exp())
                    }
                };
                let mut point = BTreeMap::new();
                for (name, domain) in &self.params {
                    let value = draw(domain);
                    point.insert(name.clone(), value);
                }
                point
            })
            .collect()
    }
}

fn unit(rng: &mut StdRng) -> f64 {
    rng.random::<f64>()
}

fn rng_index(rng: &mut StdRng, len: usize) -> usize {
    rng.random_range(0..len.max(1))
}

/// The request a search applies its points to, checked once before any is: a setting that the
/// config and flags got wrong on their own is theirs, named as the walk-forward names it, not
/// a misfit of the first point.
pub fn check_base(spec: &WalkForwardSpec) -> Result<(), EvalError> {
    spec.env.validate()?;
    spec.train.validate()?;
    Ok(())
}

/// `spec` with each parameter of `point` set at its path (see [`check_base`]).
pub fn apply(
    spec: &WalkForwardSpec,
    point: &BTreeMap<String, serde_json::Value>,
) -> Result<WalkForwardSpec, EvalError> {
    let mut value = serde_json::to_value(spec).expect("a walk-forward request serializes");
    for (name, new) in point {
        // A name is a path in the serialized request; `walk_forward.*`, the one table named
        // otherwise there (`config`), is the layout that `SearchSpace::check` refuses.
        let keys: Vec<&str> = name.split('.').collect();
        let (top, below) = keys.split_first().expect("split yields a key");
        let Some(mut slot) = value.get_mut(*top).filter(|_| !below.is_empty()) else {
            let why = format!("search parameter {name} names no setting of the walk-forward");
            return Err(InvalidSetting::new("search.params", why).into());
        };
        // A setting at its default is left out of the serialized request (the allocation
        // limits, `data.missing`): it is added, and every table's `deny_unknown_fields` then
        // refuses a name that is no setting.
        for key in below {
            let serde_json::Value::Object(table) = slot else {
                let why = format!("search parameter {name}: {key} is inside a value, not a table");
                return Err(InvalidSetting::new("search.params", why).into());
            };
            slot = table.entry(key.to_string()).or_insert_with(|| serde_json::json!({}));
        }
        *slot = new.clone();
    }
    let values: Vec<String> = point.iter().map(|(name, v)| format!("{name} = {v}")).collect();
    let misfit = |e: &dyn std::fmt::Display| {
        let why = format!("the point {} does not fit: {e}", values.join(", "));
        EvalError::from(InvalidSetting::new("search.params", why))
    };
    let applied: WalkForwardSpec = serde_json::from_value(value).map_err(|e| misfit(&e))?;
    // Checked here, where the point is known: the walk-forward could not name it. The request
    // without the point passed [`check_base`], so what fails now is the point's.
    applied.env.validate().map_err(|e| misfit(&e))?;
    applied.train.validate().map_err(|e| misfit(&e))?;
    if applied.env.features.features.contains(&crate::features::Feature::OracleNextReturn) {
        return Err(misfit(&"oracle_next_return sees tomorrow's return; only `folio probe` may use it"));
    }
    Ok(applied)
}

pub struct SearchRequest {
    pub spec: WalkForwardSpec,
    pub space: SearchSpace,
    pub out: PathBuf,
    pub jobs: usize,
    pub device: DeviceChoice,
    pub progress: Arc<dyn Progress>,
    /// Where every trial is recorded, the points' and the verdict's. The points' data are a
    /// shorter cut of the verdict's, so a later run on the full data counts them too (the
    /// search's own Deflated Sharpe Ratio counts them from its report, not the registry).
    pub registry: Option<PathBuf>,
    /// Continue the search an interrupted run left in `out`: each walk-forward it started (a
    /// point's, the verdict's) reads back the trainings it finished.
    pub resume: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PointResult {
    pub point: BTreeMap<String, serde_json::Value>,
    /// Stitched out-of-sample Sharpe ratio of the seeds' ensemble over the search folds.
    pub score: f64,
    pub folder: PathBuf,
    /// How far this point's ensemble trails the best-scoring point's over the same search
    /// periods (the best's Sharpe ratio minus this one's, annualized, with Ledoit and Wolf's
    /// standard error): the gap the one-standard-error rule weighs. `null` for the best point
    /// itself, and where the test cannot run (too few periods, a flat curve).
    pub behind_best: Option<SharpeDifference>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchReport {
    pub space: SearchSpace,
    /// The last data row the search saw: the end of the last search fold's test window.
    pub search_data_to: String,
    pub points: Vec<PointResult>,
    pub chosen: usize,
    /// Walk-forward of the chosen point whose test windows are the held-out folds.
    #[serde(skip)]
    pub verdict: WalkForwardReport,
    pub verdict_folder: PathBuf,
    /// The verdict's ensemble on the held-out folds against every trial: each point's seeds and
    /// the verdict's.
    pub deflated_sharpe: Option<DeflatedSharpe>,
    pub trials: usize,
    /// The probability of backtest overfitting of the choice among the points: how often the
    /// point whose ensemble looks best on some of the search folds' periods falls to or below the
    /// median on the others (Bailey et al.'s question about a search, over its configurations).
    pub backtest_overfitting: Option<overfitting::Pbo>,
    /// Why there is none: one point, or points whose ensembles all earned the same returns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backtest_overfitting_unavailable: Option<String>,
    pub summary: String,
}

/// The folder of every point's walk-forward, under a search's output (or plan) folder.
pub const POINTS: &str = "points";
/// The folder of the verdict's walk-forward.
pub const VERDICT: &str = "verdict";

/// The file that names a search in its folder: a hash of its space and its base request.
pub const SEARCH_ID_FILE: &str = "search.id";

/// Name the search in its folder, or, when resuming, check that the folder holds this very
/// search: one of another space would choose again among other points after its verdict may
/// have looked at the held-out folds. A folder from before searches were named is named now.
fn mark_search(request: &SearchRequest) -> Result<(), EvalError> {
    let spec = &request.spec;
    let id = crate::registry::hash_json(serde_json::json!({
        "space": request.space,
        "env": spec.env.without_data_path(),
        "train": spec.train,
        "config": spec.config,
        "rebalance": spec.rebalance,
    }));
    let path = request.out.join(SEARCH_ID_FILE);
    if request.resume
        && let Some(saved) = crate::files::read_stamp(&path)
            .map_err(|source| EvalError::Read { path: path.clone(), source })?
        && saved.trim() != id
    {
        return Err(EvalError::ResumesAnotherSearch { out: request.out.clone() });
    }
    std::fs::create_dir_all(&request.out)
        .map_err(|source| EvalError::Write { path: request.out.clone(), source })?;
    crate::files::write_bytes_atomically(&path, format!("{id}\n").as_bytes())
        .map_err(|source| EvalError::Write { path, source })
}

/// Point `point`'s walk-forward folder under `dir`.
pub fn point_dir(dir: &Path, point: usize) -> PathBuf {
    dir.join(POINTS).join(format!("point-{point}"))
}

/// Score every point on the search folds, pick one by the space's rule, judge it on the held-out folds.
pub fn search(request: SearchRequest) -> Result<SearchReport, EvalError> {
    check_base(&request.spec)?;
    let points = request.space.points()?;
    let (search_base, data_to) = search_data(&request.spec, &request.space)?;
    // Every point must fit before the first trains, and fit the verdict's request as well.
    let specs = points.iter().map(|point| apply(&search_base, point)).collect::<Result<Vec<_>, _>>()?;
    let mut verdict_specs = points
        .iter()
        .map(|point| verdict_spec(&request.spec, &request.space, point))
        .collect::<Result<Vec<_>, _>>()?;
    mark_search(&request)?;
    let mut scored = Vec::with_capacity(points.len());
    for (i, (point, spec)) in points.iter().zip(specs).enumerate() {
        let folder = point_dir(&request.out, i);
        let report = run(&request, spec, &folder, request.registry.clone())?;
        scored.push(ScoredPoint::new(point.clone(), folder, &report));
    }
    let chosen = choose(&scored, request.space.rule)?;
    let verdict_folder = request.out.join(VERDICT);
    let verdict =
        run(&request, verdict_specs.swap_remove(chosen), &verdict_folder, request.registry.clone())?;
    let periods_per_year = request.spec.env.data.periods_per_year;
    Ok(conclude_search(request.space, data_to, scored, periods_per_year, chosen, verdict, verdict_folder))
}

/// A point scored on the search folds, with the Sharpe ratios of its trials (its seeds) and the
/// per-period returns of its ensemble (what the one-standard-error rule compares).
pub struct ScoredPoint {
    pub result: PointResult,
    pub trial_sharpes: Vec<f64>,
    pub ensemble_returns: Vec<f64>,
}

impl ScoredPoint {
    pub fn new(
        point: BTreeMap<String, serde_json::Value>,
        folder: PathBuf,
        report: &WalkForwardReport,
    ) -> Self {
        let trial_sharpes = agent_returns(report).iter().map(|r| overfitting::sharpe_ratio(r)).collect();
        // A point is scored by what it would deploy: its seeds' ensemble.
        let score = report.overall.iter().find(|r| r.policy == PolicyId::Ensemble);
        let score = score.map(|r| r.metrics.sharpe).unwrap_or(f64::NAN);
        let ensemble_returns = returns_of(report, PolicyId::Ensemble).unwrap_or_default();
        Self {
            result: PointResult { point, score, folder, behind_best: None },
            trial_sharpes,
            ensemble_returns,
        }
    }
}

/// The point `rule` picks from the search scores (an undefined score ranks last).
pub fn choose(scored: &[ScoredPoint], rule: ChoiceRule) -> Result<usize, EvalError> {
    let scores: Vec<f64> = scored.iter().map(|p| p.result.score).collect();
    let best = best_score(&scores)
        .ok_or_else(|| InvalidSetting::new("search.params", "the search space has no point"))?;
    Ok(match rule {
        ChoiceRule::Best => best,
        // Per-period units: the comparison of a gap with its standard error needs no year.
        ChoiceRule::OneStandardError => (0..scored.len())
            .find(|&i| {
                i == best
                    || gap_to(scored, best, i, 1.0).is_some_and(|gap| gap.difference <= gap.standard_error)
            })
            .unwrap_or(best),
    })
}

/// How far point `i`'s ensemble trails point `best`'s over the same periods.
fn gap_to(scored: &[ScoredPoint], best: usize, i: usize, periods_per_year: f64) -> Option<SharpeDifference> {
    sharpe_difference(&scored[best].ensemble_returns, &scored[i].ensemble_returns, periods_per_year)
}

/// Every point's [`PointResult::behind_best`], annualized by `periods_per_year`.
fn record_gaps_to_best(scored: &mut [ScoredPoint], periods_per_year: f64) {
    let scores: Vec<f64> = scored.iter().map(|p| p.result.score).collect();
    let Some(best) = best_score(&scores) else { return };
    for i in (0..scored.len()).filter(|&i| i != best) {
        scored[i].result.behind_best = gap_to(scored, best, i, periods_per_year);
    }
}

/// The verdict's request: the chosen point on the whole data, its test windows the held-out folds.
pub fn verdict_spec(
    spec: &WalkForwardSpec,
    space: &SearchSpace,
    point: &BTreeMap<String, serde_json::Value>,
) -> Result<WalkForwardSpec, EvalError> {
    let mut verdict = apply(spec, point)?;
    verdict.config.folds = space.holdout_folds;
    Ok(verdict)
}

/// The search's report once the verdict is in: its Deflated Sharpe Ratio counts every trial.
pub fn conclude_search(
    space: SearchSpace,
    search_data_to: String,
    mut scored: Vec<ScoredPoint>,
    periods_per_year: f64,
    chosen: usize,
    verdict: WalkForwardReport,
    verdict_folder: PathBuf,
) -> SearchReport {
    let mut trial_sharpes: Vec<f64> = scored.iter().flat_map(|p| p.trial_sharpes.iter().copied()).collect();
    // The spread of the trials' Sharpe ratios is measured on one period, the search folds': the
    // verdict's seeds ran on the held-out folds, whose level differs, and mixing the two would
    // measure the change of period instead of the trials' spread. Every trial still counts.
    let verdict_sharpes: Vec<f64> =
        agent_returns(&verdict).iter().map(|r| overfitting::sharpe_ratio(r)).collect();
    let trials = trial_sharpes.len() + verdict_sharpes.len();
    let variance = overfitting::trial_sharpe_variance(trials, &trial_sharpes)
        .or_else(|| overfitting::trial_sharpe_variance(trials, &verdict_sharpes));
    trial_sharpes.extend(verdict_sharpes);
    // The verdict's headline, its ensemble, is what the Deflated Sharpe Ratio judges.
    let deflated_sharpe = returns_of(&verdict, PolicyId::Ensemble).zip(variance).and_then(|(r, variance)| {
        overfitting::deflated_sharpe_ratio(&SharpeStats::from_returns(&r), trials, variance).ok()
    });
    record_gaps_to_best(&mut scored, periods_per_year);
    let choice_pbo = points_pbo(&scored);
    let results: Vec<PointResult> = scored.into_iter().map(|p| p.result).collect();
    let statistics = SearchStatistics {
        deflated: deflated_sharpe.as_ref(),
        trials: trial_sharpes.len(),
        points_pbo: choice_pbo.as_ref(),
    };
    let summary = summary(&results, chosen, space.rule, &verdict, &statistics);
    let (backtest_overfitting, backtest_overfitting_unavailable) = match choice_pbo {
        Ok(pbo) => (Some(pbo), None),
        Err(why) => (None, Some(why.to_string())),
    };
    SearchReport {
        space,
        search_data_to,
        points: results,
        chosen,
        verdict,
        verdict_folder,
        deflated_sharpe,
        trials: trial_sharpes.len(),
        backtest_overfitting,
        backtest_overfitting_unavailable,
        summary,
    }
}

/// The PBO of picking among the points, from their ensembles' returns on the search folds (the
/// same periods for every point).
fn points_pbo(scored: &[ScoredPoint]) -> Result<overfitting::Pbo, overfitting::OverfittingError> {
    let ensembles: Vec<Vec<f64>> = scored.iter().map(|p| p.ensemble_returns.clone()).collect();
    let matrix = overfitting::returns_matrix(&ensembles)?;
    overfitting::probability_of_backtest_overfitting(matrix.view(), &overfitting::PboConfig::default())
}

/// What a search's summary says of its statistics beside the held-out verdict.
struct SearchStatistics<'a> {
    deflated: Option<&'a DeflatedSharpe>,
    trials: usize,
    /// The points' PBO, or why there is none.
    points_pbo: Result<&'a overfitting::Pbo, &'a overfitting::OverfittingError>,
}

/// Index of the highest score, the first of equal ones (the space's order), an undefined one
/// ranking last; `None` without scores.
fn best_score(scores: &[f64]) -> Option<usize> {
    (0..scores.len()).rev().max_by(|&a, &b| nan_low(scores[a]).total_cmp(&nan_low(scores[b])))
}

fn nan_low(x: f64) -> f64 {
    if x.is_nan() { f64::NEG_INFINITY } else { x }
}

/// The request the points are scored on: the data cut at the end of the last search fold's test
/// window, and the search folds only. The held-out test windows start where this data ends.
pub fn search_data(
    spec: &WalkForwardSpec,
    space: &SearchSpace,
) -> Result<(WalkForwardSpec, String), EvalError> {
    let (config, holdout) = (spec.config, space.holdout_folds);
    if holdout == 0 || holdout >= config.folds {
        let why = format!(
            "holdout_folds must be at least 1 and fewer than the walk-forward's {} folds",
            config.folds
        );
        return Err(InvalidSetting::new("search.holdout_folds", why).into());
    }
    let (market, selection) = Market::from_config(&spec.env)?;
    let folds = make_folds(market.n_periods(), market.first_observable(), &config)?;
    let last = folds[config.folds - holdout - 1].test.1;
    let mut spec = spec.clone();
    spec.env.data.to = Some(selection.file_stamp(last));
    spec.config.folds = config.folds - holdout;
    Ok((spec, market.panel.index.label(last)))
}

fn run(
    request: &SearchRequest,
    spec: WalkForwardSpec,
    out: &Path,
    registry: Option<PathBuf>,
) -> Result<WalkForwardReport, EvalError> {
    walk_forward(WalkForwardRequest {
        env: spec.env,
        train: spec.train,
        config: spec.config,
        out: out.to_path_buf(),
        jobs: request.jobs,
        device: request.device,
        progress: match out.file_name() {
            Some(point) => crate::progress::prefixed(request.progress.clone(), point.to_string_lossy()),
            None => request.progress.clone(),
        },
        registry,
        rebalance: spec.rebalance,
        resume: request.resume && super::walk_forward::started_in(out),
    })
}

/// Each seed's stitched out-of-sample per-period returns: the trials (the ensemble is not one;
/// it averages them).
fn agent_returns(report: &WalkForwardReport) -> Vec<Vec<f64>> {
    report
        .curves
        .series
        .iter()
        .filter(|(id, _)| matches!(id, PolicyId::Agent { .. }))
        .map(|(_, values)| simple_returns(values))
        .collect()
}

/// One policy's stitched out-of-sample per-period returns.
fn returns_of(report: &WalkForwardReport, policy: PolicyId) -> Option<Vec<f64>> {
    let (_, values) = report.curves.series.iter().find(|(id, _)| *id == policy)?;
    Some(simple_returns(values))
}

fn summary(
    points: &[PointResult],
    chosen: usize,
    rule: ChoiceRule,
    verdict: &WalkForwardReport,
    statistics: &SearchStatistics,
) -> String {
    let dsr = statistics.deflated.map(|d| format!("{:.3}", d.dsr)).unwrap_or_else(|| "undefined".into());
    let trials = statistics.trials;
    let picked = match rule {
        ChoiceRule::Best => format!("the best (point {chosen}, Sharpe {:.2})", points[chosen].score),
        ChoiceRule::OneStandardError => {
            let scores: Vec<f64> = points.iter().map(|p| p.score).collect();
            let best = best_score(&scores).unwrap_or(chosen);
            format!(
                "the first within one standard error of the best (point {chosen}, Sharpe {:.2}; the best, point {best}, {:.2})",
                points[chosen].score, points[best].score
            )
        }
    };
    let held_out = without_missing_statistics(&verdict.verdict);
    let choice = match statistics.points_pbo {
        Ok(pbo) => format!(
            "Choosing among the points on the search folds: {}",
            overfitting::verdict(None, Some(pbo))
        ),
        Err(why) => format!("No PBO of the choice among the points: {why}."),
    };
    format!(
        "{} points scored on the search folds; {picked} judged on {} held-out fold{} it never saw: {held_out} The search's Deflated Sharpe Ratio, over all {trials} trials with their spread taken on the search folds (the held-out walk-forward's own takes it on its seeds): {dsr}. {choice}",
        points.len(),
        verdict.folds.len(),
        if verdict.folds.len() == 1 { "" } else { "s" },
    )
}

/// Why a point may not set `name`, a path in the walk-forward request; `None` if it may.
fn not_a_hyperparameter(name: &str) -> Option<&'static str> {
    let under =
        |table: &str| name == table || name.strip_prefix(table).is_some_and(|rest| rest.starts_with('.'));
    // The data and the fold layout (`config` in the request, `[walk_forward]` in a config)
    // decide which folds are held out: a point that moved them would train on the verdict's
    // test windows.
    if under("env.data") || under("config") || under("walk_forward") {
        return Some(
            "the data and the fold layout decide what the search holds out, so a point cannot change them; set them in the config",
        );
    }
    if under("env.periods") || name == "env.episode.embargo" {
        return Some(
            "the walk-forward sets each fold's periods and embargo from [walk_forward], so a point would change nothing",
        );
    }
    // Choosing a seed by its score picks luck: the walk-forward averages its seeds instead.
    if under("train.seed") {
        return Some(
            "a seed is no hyperparameter: the search would pick the luckiest; set [walk_forward] seeds",
        );
    }
    None
}

/// The held-out walk-forward's verdict without its "no overfitting statistics": the search's
/// Deflated Sharpe Ratio, over every trial, follows it, so that sentence would no longer be true.
fn without_missing_statistics(verdict: &str) -> String {
    verdict.replace(&format!(" {}", overfitting::NO_STATISTICS), "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Normal};

    /// A scored point whose ensemble earned `returns`, scored by their per-period Sharpe ratio.
    fn scored(returns: Vec<f64>) -> ScoredPoint {
        let score = overfitting::sharpe_ratio(&returns);
        ScoredPoint {
            result: PointResult { point: BTreeMap::new(), score, folder: PathBuf::new(), behind_best: None },
            trial_sharpes: vec![score],
            ensemble_returns: returns,
        }
    }

    /// The choice among points has its PBO over their ensembles: a point ahead in every period
    /// is the in-sample best of every split and stays above the median out of sample; points
    /// that earned the same returns leave no choice to overfit.
    #[test]
    fn the_choice_among_points_has_a_pbo_over_their_ensembles() {
        let base: Vec<f64> = (0..200).map(|t| ((t * 7919) % 97) as f64 / 1000.0 - 0.048).collect();
        let shifted = |by: f64| base.iter().map(|r| r + by).collect::<Vec<f64>>();
        let points = [scored(shifted(-0.01)), scored(shifted(0.01)), scored(shifted(0.0))];
        let pbo = points_pbo(&points).unwrap();
        assert_eq!((pbo.configs, pbo.pbo), (3, 0.0));
        assert!(pbo.selected.iter().all(|&best| best == 1), "{:?}", pbo.selected);
        // Reversed in the second half, the first half's best is the worst there: every split
        // that picks it on one half loses on the other, unless it saw both halves' leader.
        let reversing: Vec<f64> = (0..200).map(|t| base[t] + if t < 100 { 0.01 } else { -0.01 }).collect();
        let pbo = points_pbo(&[scored(shifted(0.0)), scored(reversing), scored(shifted(-0.002))]).unwrap();
        assert!(pbo.pbo > 0.0, "{}", pbo.pbo);
        let identical = points_pbo(&[scored(base.clone()), scored(base.clone())]).unwrap_err();
        assert_eq!(identical, overfitting::OverfittingError::IdenticalConfigurations);
    }

    #[test]
    fn a_held_out_verdict_without_statistics_does_not_deny_the_searchs_dsr() {
        let headline = "Out of sample, the agent (one seed) has a Sharpe ratio of 0.80 against 0.85.";
        let verdict = format!("{headline} {}", overfitting::verdict(None, None));
        assert_eq!(without_missing_statistics(&verdict), headline);
        let with_pbo = format!("{headline} PBO 0.20: fine.");
        assert_eq!(without_missing_statistics(&with_pbo), with_pbo, "other statistics stay");
    }

    #[test]
    fn the_one_standard_error_rule_takes_the_first_point_within_noise_of_the_best() {
        // Three points over the same 1,000 periods: a cautious one, a bold one that scores a
        // little higher on mostly the same returns by luck alone, and a bolder one far ahead.
        let mut rng = StdRng::seed_from_u64(3);
        let noise = Normal::new(0.0, 0.01).unwrap();
        let common: Vec<f64> = (0..1000).map(|_| 0.0004 + noise.sample(&mut rng)).collect();
        let nudge = |shift: f64, spread: f64, rng: &mut StdRng| -> Vec<f64> {
            common.iter().map(|r| r + shift + spread * noise.sample(rng)).collect()
        };
        // Two draws with the same mean: whichever scores lower plays the cautious point.
        let (a, b) = (scored(nudge(0.0, 0.05, &mut rng)), scored(nudge(0.0, 0.05, &mut rng)));
        let (cautious, slightly_better) = if a.result.score < b.result.score { (a, b) } else { (b, a) };
        let far_better = scored(nudge(0.003, 0.05, &mut rng));
        let gap = |a: &ScoredPoint, b: &ScoredPoint| {
            sharpe_difference(&a.ensemble_returns, &b.ensemble_returns, 1.0).unwrap()
        };
        // The premise: the small gain is within one standard error, the large one far beyond.
        let small = gap(&slightly_better, &cautious);
        assert!(small.difference > 0.0 && small.difference < small.standard_error, "{small:?}");
        let large = gap(&far_better, &cautious);
        assert!(large.difference > 3.0 * large.standard_error, "{large:?}");

        let mut close = [cautious, slightly_better];
        // Each report writes the gap the rule weighed: the best point's none.
        record_gaps_to_best(&mut close, 1.0);
        assert_eq!(close[0].result.behind_best.as_ref().map(|g| g.difference), Some(small.difference));
        assert!(close[1].result.behind_best.is_none());
        // Annualized as the scores are: daily gaps and their errors grow by sqrt(252).
        record_gaps_to_best(&mut close, 252.0);
        let annual = close[0].result.behind_best.as_ref().unwrap();
        assert!((annual.difference - small.difference * 252f64.sqrt()).abs() < 1e-12, "{annual:?}");
        assert!((annual.standard_error - small.standard_error * 252f64.sqrt()).abs() < 1e-12, "{annual:?}");
        assert_eq!(choose(&close, ChoiceRule::Best).unwrap(), 1, "the highest score");
        assert_eq!(
            choose(&close, ChoiceRule::OneStandardError).unwrap(),
            0,
            "the cautious point, within noise"
        );
        let [cautious, _] = close;
        let apart = [cautious, far_better];
        assert_eq!(choose(&apart, ChoiceRule::OneStandardError).unwrap(), 1, "a gain beyond noise wins");
    }

    #[test]
    fn a_space_names_its_rule_or_takes_the_best() {
        let path = Path::new("space.toml");
        let plain = "sampler = \"grid\"\n[params]\n\"train.net.tilt\" = [0.5, 1.0]\n";
        assert_eq!(SearchSpace::from_toml(plain, path).unwrap().rule, ChoiceRule::Best);
        let cautious = format!("rule = \"one_standard_error\"\n{plain}");
        assert_eq!(SearchSpace::from_toml(&cautious, path).unwrap().rule, ChoiceRule::OneStandardError);
        // The bundled tilt search lists its tilts from the most cautious, as the rule needs.
        let bundled = Path::new("envs/tilt_search.toml");
        let tilt = SearchSpace::from_toml(&std::fs::read_to_string(bundled).unwrap(), bundled).unwrap();
        assert_eq!(tilt.rule, ChoiceRule::OneStandardError);
        let tilts: Vec<f64> =
            tilt.points().unwrap().iter().map(|p| p["train.net.tilt"].as_f64().unwrap()).collect();
        assert_eq!(tilts, [0.5, 1.0, 2.0, 4.0]);
        let unknown = format!("rule = \"median\"\n{plain}");
        assert!(SearchSpace::from_toml(&unknown, path).unwrap_err().to_string().contains("rule"));
    }

    /// What a point may not change, and domains with nothing to draw, are refused before any
    /// point trains, naming the parameter.
    #[test]
    fn a_space_that_could_see_the_held_out_folds_or_draw_nothing_is_refused() {
        let refusal = |space: &str| {
            let message = SearchSpace::from_toml(space, Path::new("space.toml")).unwrap_err().to_string();
            assert!(message.contains("space.toml"), "{message}");
            message
        };
        let grid = "sampler = \"grid\"\n[params]\n";
        let random = "sampler = \"random\"\n[params]\n";
        for (space, named) in [
            (format!("{grid}\"env.data.to\" = [\"2022-12-28\"]\n"), "env.data.to"),
            (format!("{grid}\"walk_forward.test_periods\" = [400]\n"), "walk_forward.test_periods"),
            // The request names the fold layout `config`; a whole table replaces the data's cut.
            (format!("{grid}\"config.test_periods\" = [300]\n"), "decide what the search holds out"),
            (format!("{grid}\"env.data\" = [{{ file = \"x.csv\" }}]\n"), "decide what the search holds out"),
            // What the walk-forward sets per fold would be a point that changes nothing.
            (format!("{grid}\"env.periods.train.from\" = [\"2005-01-03\"]\n"), "would change nothing"),
            (format!("{grid}\"env.episode.embargo\" = [5]\n"), "would change nothing"),
            (format!("{grid}\"train.seed\" = [1, 2]\n"), "pick the luckiest"),
            (format!("{grid}\"train.net.tilt\" = [1.0, 2.0, 1.0]\n"), "1.0 is listed twice"),
            (format!("{random}\"train.learning_rate\" = []\n"), "empty"),
            (format!("{random}\"train.learning_rate\" = {{ log_uniform = [0.0, 0.01] }}\n"), "positive"),
            (format!("{random}\"train.learning_rate\" = {{ uniform = [0.01, 0.001] }}\n"), "lower first"),
            (
                format!(
                    "rule = \"one_standard_error\"\n{grid}\"train.net.tilt\" = [1.0]\n\"train.steps\" = [10]\n"
                ),
                "one parameter",
            ),
            (format!("rule = \"one_standard_error\"\n{random}\"train.net.tilt\" = [1.0]\n"), "one parameter"),
            (
                format!("{grid}\"train.net\" = [{{ kind = \"mlp\" }}]\n\"train.net.kind\" = [\"eiie\"]\n"),
                "train.net.kind is inside train.net",
            ),
            // Counts that would run nothing, or run for years (or exhaust memory drawing points).
            (format!("points = 0\n{random}\"train.net.tilt\" = [1.0]\n"), "no point"),
            (format!("points = 1000000000\n{random}\"train.net.tilt\" = [1.0]\n"), "1000000000 points"),
            (
                format!(
                    "{grid}\"train.steps\" = [{}]\n\"train.patience\" = [{}]\n",
                    (0..101).map(|n| n.to_string()).collect::<Vec<_>>().join(","),
                    (0..100).map(|n| n.to_string()).collect::<Vec<_>>().join(",")
                ),
                "10100 points",
            ),
        ] {
            let message = refusal(&space);
            assert!(message.contains(named), "{space}: {message}");
        }
        // A count the file writes is named with its line.
        let message = refusal(
            &format!("{random}\"train.net.tilt\" = [1.0]\n").replace("[params]", "points = 0\n[params]"),
        );
        assert!(message.contains("space.toml, line 2: the search space has no point"), "{message}");
    }

    fn default_spec() -> WalkForwardSpec {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        WalkForwardSpec {
            env: crate::env::config::EnvConfig::load(&root.join("envs/default.toml")).unwrap(),
            train: crate::train::TrainConfig::default(),
            config: crate::eval::walk_forward::WalkForwardConfig::default(),
            rebalance: crate::backtest::rebalance::RebalanceRule::Every,
        }
    }

    /// Settings at their default are left out of the serialized request; a point may still set
    /// them, and a name that is no setting is refused, naming the point.
    #[test]
    fn a_point_sets_settings_left_at_their_default_and_refuses_names_that_are_none() {
        let spec = default_spec();
        assert!(spec.env.limits.is_none());
        let point = |name: &str, value: serde_json::Value| BTreeMap::from([(name.to_string(), value)]);
        let capped = apply(&spec, &point("env.limits.max_weight", serde_json::json!(0.2))).unwrap();
        assert_eq!(capped.env.limits.max_weight, 0.2);
        assert_eq!(capped.env.limits.min_cash, 0.0);
        let typo =
            apply(&spec, &point("env.limits.max_wieght", serde_json::json!(0.2))).unwrap_err().to_string();
        assert!(typo.contains("max_wieght") && typo.contains("env.limits.max_wieght = 0.2"), "{typo}");
        for name in ["foo.bar", "train", "train.steps.more"] {
            assert!(apply(&spec, &point(name, serde_json::json!(1))).is_err(), "{name}");
        }
    }

    #[test]
    fn equal_scores_go_to_the_first_point() {
        assert_eq!(best_score(&[0.5, 0.7, 0.7, f64::NAN]), Some(1));
        assert_eq!(best_score(&[f64::NAN, 0.1]), Some(1));
        assert_eq!(best_score(&[]), None);
    }
}
