//! Training configuration: one struct per algorithm, every field with a documented default.
//! A run's whole config is saved into its checkpoint's `meta.json`.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::agent::ActionHead;
use crate::agent::distribution::{DEFAULT_MAX_CONCENTRATION, DEFAULT_MIN_CONCENTRATION};
use crate::agent::network::NetConfig;
use crate::data::InvalidSetting;
use crate::env::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algo {
    /// Jiang, Xu and Liang (2017): gradient ascent on the mean log return net of costs, through
    /// the differentiable portfolio return, over mini-batches of consecutive periods.
    Direct,
    /// REINFORCE (Williams 1992) with a learned state-value baseline.
    Reinforce,
    /// Proximal Policy Optimization (Schulman et al. 2017) with GAE.
    Ppo,
}

impl Algo {
    /// As a config and `--algo` write it.
    pub fn name(self) -> &'static str {
        match self {
            Algo::Direct => "direct",
            Algo::Reinforce => "reinforce",
            Algo::Ppo => "ppo",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub algo: Algo,
    pub net: NetConfig,
    /// Environment steps to train for (one step = one portfolio decision in one episode).
    pub steps: usize,
    pub seed: u64,
    /// Adam's learning rate at the start of training.
    pub learning_rate: f64,
    pub schedule: LrSchedule,
    /// The learning rate at the end of training, as a fraction of the initial one
    /// (linear and cosine schedules).
    pub final_lr_fraction: f64,
    /// Updates between validations on the validation period.
    pub validate_every: usize,
    /// Stop after this many validations without a better validation Sharpe ratio; 0 never stops early.
    pub patience: usize,
    /// Validations whose Sharpe ratios are averaged to choose the best network: the network kept
    /// is the one at the end of the window with the highest mean, so a lucky spike, worth a
    /// `1 / selection_window` share, cannot win alone. 1 keeps the single best validation.
    pub selection_window: usize,
    /// Keep the untrained network, which is exactly its reference portfolio, unless the best
    /// trained network beats it on validation by more than `reference_margin` standard errors of
    /// the Sharpe gap (Ledoit and Wolf's HAC test) and by a gap the reports do not call negligible
    /// ([`crate::metrics::sharpe_difference::NEGLIGIBLE`]). An anchored agent can then lose to its
    /// reference only where validation was wrong, not where it saw nothing. Networks without a
    /// reference portfolio have nothing to fall back on and are kept as trained.
    pub reference_gate: bool,
    /// Standard errors of the gap the trained network must clear; 0 keeps it whenever its
    /// validation Sharpe is higher by more than a negligible gap. Two by default: the best of many
    /// validations, chosen and judged on the same periods, cleared one standard error in 4 of 24
    /// one-year folds of real development data and lost to equal weight out of sample in all 4
    /// (docs/learner.md, "Two standard errors"). A margin, not a significance level: without an
    /// edge, the best of 20 validations clears two standard errors 7% to 33% of the time
    /// (`scripts/gate-under-null.py`), and three bring that under 3%.
    pub reference_margin: f64,
    /// Rescale gradients whose global L2 norm exceeds this (`clip_grad_norm_`); 0 disables.
    pub max_grad_norm: f64,
    /// Direct policy-gradient steps after each test decision of `folio walk-forward`, on the
    /// data up to that decision ([`crate::train::online`]); 0 (the default) tests the trained
    /// network as it is.
    pub online_steps: usize,
    /// The learning rate of those steps.
    pub online_learning_rate: f64,
    pub direct: DirectConfig,
    pub reinforce: ReinforceConfig,
    pub ppo: PpoConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    Constant,
    Linear,
    Cosine,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            algo: Algo::Direct,
            net: NetConfig::default(),
            steps: 300_000,
            seed: 0,
            learning_rate: 1e-3,
            schedule: LrSchedule::Cosine,
            final_lr_fraction: 0.1,
            validate_every: 50,
            patience: 20,
            selection_window: 1,
            reference_gate: true,
            reference_margin: 2.0,
            max_grad_norm: 1.0,
            online_steps: 0,
            online_learning_rate: 1e-4,
            direct: DirectConfig::default(),
            reinforce: ReinforceConfig::default(),
            ppo: PpoConfig::default(),
        }
    }
}

impl TrainConfig {
    /// `seeds` runs take the seeds `seed`, `seed + 1`, ...: refused when the last of them is past
    /// the largest seed, rather than wrapping round to 0.
    pub fn check_seeds(&self, seeds: usize) -> Result<(), InvalidSetting> {
        match self.seed.checked_add(seeds.saturating_sub(1) as u64) {
            Some(_) => Ok(()),
            None => Err(InvalidSetting::new(
                "seed",
                format!(
                    "{seeds} seeds from {} run past the largest seed, {}: start lower",
                    self.seed,
                    u64::MAX
                ),
            )),
        }
    }

    /// Defaults that suit each algorithm, for a config that names only the algorithm.
    pub fn for_algo(algo: Algo) -> Self {
        match algo {
            Algo::Direct => Self::default(),
            Algo::Reinforce => {
                Self { algo, learning_rate: 3e-4, validate_every: 5, steps: 200_000, ..Self::default() }
            }
            Algo::Ppo => Self {
                algo,
                learning_rate: 3e-4,
                validate_every: 5,
                steps: 200_000,
                max_grad_norm: 0.5,
                ..Self::default()
            },
        }
    }

    /// The training config of a run: `algo`'s defaults ([`TrainConfig::for_algo`]), overlaid
    /// key by key by a config file's `[train]` table (nested tables such as `[train.ppo]` merge
    /// field by field), with `algo` (given on the command line, else the table's, else direct)
    /// winning over the table's. `path` names the file in errors; unknown keys are errors.
    pub fn from_table(
        table: Option<toml::Table>,
        algo: Option<Algo>,
        path: &Path,
    ) -> Result<Self, ConfigError> {
        let invalid = |what: &str, e: toml::de::Error| ConfigError::Parse {
            path: path.to_path_buf(),
            message: format!(
                "{what}: {}",
                crate::env::config::with_key_line_of(path, "train", e.to_string())
            ),
        };
        let table = table.unwrap_or_default();
        let algo = match (algo, table.get("algo")) {
            (Some(algo), _) => algo,
            (None, Some(value)) => value.clone().try_into().map_err(|e| invalid("[train] algo", e))?,
            (None, None) => Algo::Direct,
        };
        let mut merged = toml::Table::try_from(TrainConfig::for_algo(algo)).expect("train config serializes");
        merge_tables(&mut merged, table);
        merged.insert("algo".into(), toml::Value::try_from(algo).expect("algo serializes"));
        let config: Self = merged.try_into().map_err(|e| invalid("invalid [train] table", e))?;
        // Checked here, where the file's text can name the line; the command line's flags are
        // checked by their parsers.
        config.validate().map_err(|source| {
            let text = crate::files::read_text_or_bundled(path).unwrap_or_default();
            ConfigError::setting(path, &text, source)
        })?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if self.steps == 0 {
            return Err(InvalidSetting::new("train.steps", "train.steps must be at least 1"));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return Err(InvalidSetting::new(
                "train.learning_rate",
                format!("train.learning_rate must be in (0, 1], got {}", self.learning_rate),
            ));
        }
        if !(0.0..=1.0).contains(&self.final_lr_fraction) {
            return Err(InvalidSetting::new(
                "train.final_lr_fraction",
                "train.final_lr_fraction must be in [0, 1]",
            ));
        }
        if self.validate_every == 0 {
            return Err(InvalidSetting::new(
                "train.validate_every",
                "train.validate_every must be at least 1",
            ));
        }
        if self.selection_window == 0 {
            return Err(InvalidSetting::new(
                "train.selection_window",
                "train.selection_window must be at least 1 (1 keeps the single best validation)",
            ));
        }
        if !(self.reference_margin >= 0.0 && self.reference_margin.is_finite()) {
            return Err(InvalidSetting::new(
                "train.reference_margin",
                format!(
                    "train.reference_margin must be a finite number of standard errors, at least 0, got {}",
                    self.reference_margin
                ),
            ));
        }
        if !(self.max_grad_norm >= 0.0 && self.max_grad_norm.is_finite()) {
            return Err(InvalidSetting::new(
                "train.max_grad_norm",
                format!(
                    "train.max_grad_norm must be finite and at least 0 (0 turns clipping off), got {}",
                    self.max_grad_norm
                ),
            ));
        }
        if !(self.online_learning_rate > 0.0 && self.online_learning_rate <= 1.0) {
            return Err(InvalidSetting::new(
                "train.online_learning_rate",
                "train.online_learning_rate must be in (0, 1]",
            ));
        }
        self.validate_algorithm_tables()?;
        InvalidSetting::non_finite_in("train", self)
    }

    /// The `[train.direct]`, `[train.reinforce]` and `[train.ppo]` tables.
    fn validate_algorithm_tables(&self) -> Result<(), InvalidSetting> {
        let require = InvalidSetting::require;
        let (d, r, p) = (&self.direct, &self.reinforce, &self.ppo);
        let non_negative = "at least 0";
        require(
            d.turnover_penalty >= 0.0,
            "train.direct.turnover_penalty",
            non_negative,
            &d.turnover_penalty,
        )?;
        require(d.tilt_penalty >= 0.0, "train.direct.tilt_penalty", non_negative, &d.tilt_penalty)?;
        require(d.batch_periods >= 2, "train.direct.batch_periods", "at least 2", &d.batch_periods)?;
        require(
            (0.0..1.0).contains(&d.recency_bias),
            "train.direct.recency_bias",
            "in [0, 1)",
            &d.recency_bias,
        )?;
        require(r.episodes >= 1, "train.reinforce.episodes", "at least 1", &r.episodes)?;
        require((0.0..=1.0).contains(&r.gamma), "train.reinforce.gamma", "in [0, 1]", &r.gamma)?;
        require(p.envs >= 1, "train.ppo.envs", "at least 1", &p.envs)?;
        require(p.rollout_steps >= 1, "train.ppo.rollout_steps", "at least 1", &p.rollout_steps)?;
        require(p.epochs >= 1, "train.ppo.epochs", "at least 1", &p.epochs)?;
        // A minibatch of one standardizes every advantage to zero.
        require(p.minibatch >= 2, "train.ppo.minibatch", "at least 2", &p.minibatch)?;
        require((0.0..=1.0).contains(&p.gamma), "train.ppo.gamma", "in [0, 1]", &p.gamma)?;
        require((0.0..=1.0).contains(&p.gae_lambda), "train.ppo.gae_lambda", "in [0, 1]", &p.gae_lambda)?;
        require(p.clip > 0.0, "train.ppo.clip", "positive", &p.clip)?;
        DirichletSettings {
            table: "reinforce",
            names: [
                "train.reinforce.min_concentration",
                "train.reinforce.concentration",
                "train.reinforce.value_coef",
            ],
            min: r.min_concentration,
            max: r.max_concentration,
            concentration: r.concentration,
            value_coef: r.value_coef,
            entropy_coef: r.entropy_coef,
        }
        .check()?;
        DirichletSettings {
            table: "ppo",
            names: ["train.ppo.min_concentration", "train.ppo.concentration", "train.ppo.value_coef"],
            min: p.min_concentration,
            max: p.max_concentration,
            concentration: p.concentration,
            value_coef: p.value_coef,
            entropy_coef: p.entropy_coef,
        }
        .check()
    }

    /// The learning rate once `fraction_done` of the steps are behind: the schedule from
    /// `learning_rate` down to `learning_rate * final_lr_fraction`.
    pub fn learning_rate_at(&self, fraction_done: f64) -> f64 {
        let (start, end) = (self.learning_rate, self.learning_rate * self.final_lr_fraction);
        let f = fraction_done.clamp(0.0, 1.0);
        match self.schedule {
            LrSchedule::Constant => start,
            LrSchedule::Linear => start + (end - start) * f,
            LrSchedule::Cosine => end + 0.5 * (start - end) * (1.0 + (std::f64::consts::PI * f).cos()),
        }
    }

    /// Online learning steps the direct learner's objective, which scores the softmax of the
    /// network's scores: the weights every head trades but an unanchored Dirichlet's, whose mean
    /// is its normalized concentrations. It would optimize a portfolio that policy never holds.
    pub fn check_online(&self, anchored: bool) -> Result<(), InvalidSetting> {
        let unanchored_dirichlet =
            matches!(self.head(anchored), ActionHead::Dirichlet { anchored: None, .. });
        if self.online_steps > 0 && unanchored_dirichlet {
            return Err(InvalidSetting::new(
                "train.online_steps",
                format!(
                    "online learning optimizes softmax weights, which {} without a reference portfolio \
                     (features.reference = \"none\") does not trade: keep a reference, use the direct \
                     learner, or set online_steps = 0",
                    self.algo.name()
                ),
            ));
        }
        Ok(())
    }

    /// How the network's scores become weights; `anchored` when the observation carries a
    /// reference portfolio ([`crate::agent::network::PolicyNet::is_anchored`]).
    pub fn head(&self, anchored: bool) -> ActionHead {
        let dirichlet = |min_concentration, max_concentration, concentration| ActionHead::Dirichlet {
            min_concentration,
            max_concentration,
            anchored: anchored.then_some(concentration),
        };
        match self.algo {
            Algo::Direct => ActionHead::Softmax,
            Algo::Reinforce => dirichlet(
                self.reinforce.min_concentration,
                self.reinforce.max_concentration,
                self.reinforce.concentration,
            ),
            Algo::Ppo => {
                dirichlet(self.ppo.min_concentration, self.ppo.max_concentration, self.ppo.concentration)
            }
        }
    }
}

/// `over`'s keys into `base`, tables merged recursively, anything else replaced.
fn merge_tables(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Jiang, Xu and Liang (2017), section 5.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectConfig {
    /// Consecutive periods in one mini-batch (Jiang et al. use 50).
    pub batch_periods: usize,
    /// Probability parameter of the geometric distribution that picks a batch's start, favouring
    /// recent periods (Jiang et al.'s beta, 5e-5 there); 0 picks starts uniformly.
    pub recency_bias: f64,
    /// Weight of the mean turnover `sum |w_t - w'_t|` (buys plus sales) in the loss, on top of
    /// the costs the objective already pays: a brake on trading that the costs of one period
    /// understate.
    pub turnover_penalty: f64,
    /// Weight of `KL(w || w_ref)` in the loss, when the observation carries a reference
    /// portfolio: what a tilt away from the reference must earn to be worth taking.
    pub tilt_penalty: f64,
    /// Train on the environment's rebalancing schedule (`episode.rebalance_every`): between
    /// rebalancing dates a batch holds the drifted weights, trading and paying nothing, as
    /// evaluation does. Off by default: on the development data of the factor ETFs (weekly
    /// rebalancing) it raised turnover and lost to training on every period (docs/learner.md).
    pub hold_between_rebalances: bool,
}

impl Default for DirectConfig {
    fn default() -> Self {
        Self {
            batch_periods: 50,
            recency_bias: 0.0,
            turnover_penalty: 0.0,
            tilt_penalty: 0.0,
            hold_between_rebalances: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReinforceConfig {
    /// Episodes collected (in parallel) per update.
    pub episodes: usize,
    /// Discount factor of the returns. An allocation changes later rewards only through the
    /// weights it leaves (and so the next trade's costs), so a short horizon loses little and
    /// cuts the variance of Monte-Carlo returns sharply.
    pub gamma: f64,
    /// Weight of the baseline's squared error in the loss.
    pub value_coef: f64,
    /// Weight of the entropy bonus.
    pub entropy_coef: f64,
    pub min_concentration: f64,
    pub max_concentration: f64,
    /// The total concentration of an anchored policy's Dirichlet at the reference portfolio:
    /// higher explores less around the anchored weights.
    pub concentration: f64,
}

/// The settings of a Dirichlet head, checked together: concentrations are clamped to `[min, max]`
/// with no slope outside, and an anchored head gives each weight `w` a concentration
/// `concentration * w + min`, so a `max` below `concentration + min` would freeze the gradient
/// of every weight large enough.
struct DirichletSettings {
    /// `[train.reinforce]` or `[train.ppo]`, and its settings' full names.
    table: &'static str,
    names: [&'static str; 3],
    min: f64,
    max: f64,
    concentration: f64,
    value_coef: f64,
    entropy_coef: f64,
}

impl DirichletSettings {
    fn check(&self) -> Result<(), InvalidSetting> {
        let (table, [min_name, concentration_name, coef_name]) = (self.table, self.names);
        let (min, max, concentration) = (self.min, self.max, self.concentration);
        if !(min > 0.0 && min < max) {
            let why = format!(
                "{table}.min_concentration must be positive and below max_concentration, got {min} and {max}"
            );
            return Err(InvalidSetting::new(min_name, why));
        }
        if !(concentration > 0.0 && concentration + min <= max) {
            let why = format!(
                "{table}.concentration must be positive and at most max_concentration - min_concentration ({}), got {concentration}: a larger one clamps every large anchored weight, which then stops learning",
                max - min
            );
            return Err(InvalidSetting::new(concentration_name, why));
        }
        if !(self.value_coef >= 0.0 && self.entropy_coef >= 0.0) {
            let why = format!("{table}.value_coef and {table}.entropy_coef must be non-negative");
            return Err(InvalidSetting::new(coef_name, why));
        }
        Ok(())
    }
}

impl Default for ReinforceConfig {
    fn default() -> Self {
        Self {
            episodes: 8,
            gamma: 0.5,
            value_coef: 0.5,
            entropy_coef: 1e-3,
            min_concentration: DEFAULT_MIN_CONCENTRATION,
            max_concentration: DEFAULT_MAX_CONCENTRATION,
            concentration: 200.0,
        }
    }
}

/// Defaults follow CleanRL's `ppo_continuous_action.py` where they carry over.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PpoConfig {
    /// Parallel environments.
    pub envs: usize,
    /// Steps per environment per rollout.
    pub rollout_steps: usize,
    /// Passes over each rollout.
    pub epochs: usize,
    /// Samples per minibatch.
    pub minibatch: usize,
    /// Discount factor; lower than CleanRL's 0.99 for the reason given at `ReinforceConfig::gamma`.
    pub gamma: f64,
    pub gae_lambda: f64,
    /// Clipping range of the probability ratio.
    pub clip: f64,
    pub value_coef: f64,
    pub entropy_coef: f64,
    pub min_concentration: f64,
    pub max_concentration: f64,
    /// The total concentration of an anchored policy's Dirichlet at the reference portfolio:
    /// higher explores less around the anchored weights.
    pub concentration: f64,
}

impl Default for PpoConfig {
    fn default() -> Self {
        Self {
            envs: 8,
            rollout_steps: 128,
            epochs: 4,
            minibatch: 256,
            gamma: 0.9,
            gae_lambda: 0.95,
            clip: 0.2,
            value_coef: 0.5,
            entropy_coef: 1e-3,
            min_concentration: DEFAULT_MIN_CONCENTRATION,
            max_concentration: DEFAULT_MAX_CONCENTRATION,
            concentration: 200.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_learning_is_refused_where_it_would_optimize_weights_the_policy_never_trades() {
        let online = |algo| TrainConfig { online_steps: 3, ..TrainConfig::for_algo(algo) };
        assert!(online(Algo::Ppo).check_online(false).is_err(), "an unanchored Dirichlet trades its mean");
        assert!(online(Algo::Reinforce).check_online(false).is_err());
        assert!(online(Algo::Ppo).check_online(true).is_ok(), "an anchored one trades the softmax");
        assert!(online(Algo::Direct).check_online(false).is_ok());
        assert!(
            TrainConfig::for_algo(Algo::Ppo).check_online(false).is_ok(),
            "no online steps, nothing to refuse"
        );
    }

    fn table(text: &str) -> Option<toml::Table> {
        Some(toml::from_str(text).unwrap())
    }

    #[test]
    fn a_train_table_overlays_the_algorithms_defaults_field_by_field() {
        let path = Path::new("envs/x.toml");
        let config =
            TrainConfig::from_table(table("algo = \"ppo\"\nsteps = 5000\n[ppo]\nclip = 0.1"), None, path)
                .unwrap();
        let defaults = TrainConfig::for_algo(Algo::Ppo);
        assert_eq!(config.algo, Algo::Ppo);
        assert_eq!((config.steps, config.ppo.clip), (5000, 0.1));
        assert_eq!(config.ppo.epochs, defaults.ppo.epochs, "a partial [train.ppo] keeps the other fields");
        assert_eq!(config.learning_rate, defaults.learning_rate, "PPO's own defaults, not direct's");
        // The command line's algorithm wins over the table's, and brings its own defaults.
        let config = TrainConfig::from_table(table("algo = \"ppo\""), Some(Algo::Reinforce), path).unwrap();
        assert_eq!(config, TrainConfig::for_algo(Algo::Reinforce));
        assert_eq!(TrainConfig::from_table(None, None, path).unwrap(), TrainConfig::default());
    }

    /// Settings under which a Dirichlet learner would run and learn nothing are refused, naming
    /// them; the defaults leave every anchored weight's concentration below the clamp.
    #[test]
    fn dirichlet_settings_that_freeze_learning_are_refused() {
        for algo in [Algo::Ppo, Algo::Reinforce] {
            let defaults = TrainConfig::for_algo(algo);
            defaults.validate().unwrap();
            let (ppo, reinforce) = (defaults.ppo, defaults.reinforce);
            assert!(ppo.concentration + ppo.min_concentration <= ppo.max_concentration);
            assert!(reinforce.concentration + reinforce.min_concentration <= reinforce.max_concentration);
        }
        let refused = |config: TrainConfig, field: &str| {
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains(field), "{field}: {error}");
        };
        let base = TrainConfig::default();
        let ppo = |ppo: PpoConfig| TrainConfig { ppo, ..base.clone() };
        let reinforce = |reinforce: ReinforceConfig| TrainConfig { reinforce, ..base.clone() };
        refused(ppo(PpoConfig { max_concentration: 100.0, ..base.ppo }), "ppo.concentration");
        refused(ppo(PpoConfig { min_concentration: 0.0, ..base.ppo }), "ppo.min_concentration");
        refused(ppo(PpoConfig { minibatch: 1, ..base.ppo }), "ppo.minibatch");
        refused(ppo(PpoConfig { entropy_coef: -0.1, ..base.ppo }), "ppo.entropy_coef");
        refused(
            reinforce(ReinforceConfig { min_concentration: -1.0, ..base.reinforce }),
            "reinforce.min_concentration",
        );
        refused(
            reinforce(ReinforceConfig { concentration: 0.0, ..base.reinforce }),
            "reinforce.concentration",
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_naming_the_file() {
        let path = Path::new("envs/x.toml");
        for text in ["stepz = 3", "[ppo]\nclipp = 0.1", "algo = \"sac\"", "steps = \"many\""] {
            let error = TrainConfig::from_table(table(text), None, path).unwrap_err().to_string();
            assert!(error.contains("envs/x.toml") && error.contains("[train]"), "{text}: {error}");
        }
    }

    /// A refused training setting names the file and the line that writes it, as the
    /// environment's settings do.
    #[test]
    fn a_refused_train_setting_names_its_line() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("c.toml");
        let text =
            "[data]\nfile = \"p.csv\"\n\n[train]\nsteps = 100\n\n[train.ppo]\nepochs = 2\nclip = -0.5\n";
        std::fs::write(&path, text).unwrap();
        let train: toml::Table =
            toml::from_str::<toml::Table>(text).unwrap()["train"].as_table().unwrap().clone();
        let error = TrainConfig::from_table(Some(train), Some(Algo::Ppo), &path).unwrap_err().to_string();
        assert!(error.contains("c.toml, line 9: train.ppo.clip must be positive"), "{error}");
        // Without the file's text (a table built in code) the setting is still named.
        let error = TrainConfig::from_table(table("selection_window = 0"), None, Path::new("gone.toml"))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("config gone.toml: train.selection_window must be at least 1"), "{error}");
    }

    #[test]
    fn no_setting_may_be_infinite_or_nan() {
        let mut config = TrainConfig::default();
        config.ppo.clip = f64::INFINITY;
        let error = config.validate().unwrap_err().to_string();
        assert_eq!(error, "train.ppo.clip must be a finite number, got inf");
        // Each table's setting is refused by its own name.
        let mut config = TrainConfig::default();
        config.ppo.epochs = 0;
        assert_eq!(config.validate().unwrap_err().to_string(), "train.ppo.epochs must be at least 1, got 0");
        let mut config = TrainConfig::default();
        config.direct.tilt_penalty = -1.0;
        assert_eq!(config.validate().unwrap_err().setting, "train.direct.tilt_penalty");
        let config = TrainConfig { max_grad_norm: f64::INFINITY, ..TrainConfig::default() };
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains(
                "train.max_grad_norm must be finite and at least 0 (0 turns clipping off), got inf"
            ),
            "{error}"
        );
    }

    #[test]
    fn the_reference_margin_must_be_a_finite_non_negative_count_of_standard_errors() {
        for margin in [-0.5, f64::NAN, f64::INFINITY] {
            let config = TrainConfig { reference_margin: margin, ..TrainConfig::default() };
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains("train.reference_margin"), "{margin}: {error}");
        }
        for margin in [0.0, 1.0, 2.5] {
            assert!(TrainConfig { reference_margin: margin, ..TrainConfig::default() }.validate().is_ok());
        }
    }
}
