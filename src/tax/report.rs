//! `folio tax`: backtest an agent and baselines over a period as `folio eval` does, then replay
//! each one's decisions in tax lots without taxes (a check on the ledger), with taxes, and with
//! taxes and harvesting.

use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::TaxError;
use super::config::TaxConfig;
use super::ledger::{LedgerRun, Mode, replay};
use crate::agent::DeviceChoice;
use crate::agent::{AgentPolicy, EnsemblePolicy};
use crate::backtest::{BacktestLog, BaselineId, Policy, PolicyId, backtest};
use crate::baselines;
use crate::data::Stamp;
use crate::env::config::{EnvConfig, Span};
use crate::env::{EnvSettings, Market};
use crate::train::checkpoint;

/// Strategies replayed when none are named.
pub const DEFAULT_STRATEGIES: [BaselineId; 2] = [BaselineId::EqualWeight, BaselineId::BuyAndHold];

/// The ledger without taxes must retrace the backtest's wealth within this (relative) distance.
pub const LEDGER_TOLERANCE: f64 = 1e-9;

pub struct TaxRequest {
    pub tax: TaxConfig,
    pub tax_file: PathBuf,
    /// The environment config, when no checkpoint gives one.
    pub env_config: PathBuf,
    pub checkpoint: Option<PathBuf>,
    /// The other seeds of `checkpoint`'s run: each is replayed beside it, and all of them
    /// together as one ensemble, the average of their weights.
    pub other_seeds: Vec<PathBuf>,
    /// The baselines replayed; empty: [`DEFAULT_STRATEGIES`].
    pub strategies: Vec<BaselineId>,
    /// Period; default: the config's test period.
    pub from: Option<Stamp>,
    pub to: Option<Stamp>,
    pub device: DeviceChoice,
    /// The prices a checkpoint's agent acts on (its training file by default).
    pub data: checkpoint::DataChoice,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyTax {
    pub policy: PolicyId,
    /// Final wealth of the weight-based backtest, before any tax.
    pub pre_tax_wealth: f64,
    /// Largest relative distance between the untaxed ledger's wealth and the backtest's.
    pub ledger_gap: f64,
    pub after_tax: LedgerRun,
    pub harvesting: Option<LedgerRun>,
    /// After-tax liquidated wealth with harvesting minus without.
    pub harvest_benefit: Option<f64>,
    /// The harvesting ledger's final wealth with no tax at all (its trades replayed at zero
    /// rates), still invested, beside `pre_tax_wealth`: harvesting holds stand-ins for the
    /// assets it sells, so its path differs from the policy's before any tax.
    pub harvesting_pre_tax_wealth: Option<f64>,
    /// The part of `harvest_benefit` that is that path's: its liquidated wealth at zero rates
    /// minus the policy's. The rest of the benefit is what harvesting changed in taxes.
    pub harvest_path_effect: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaxReport {
    pub tax_config: PathBuf,
    pub tax: TaxConfig,
    pub data: PathBuf,
    pub checkpoint: Option<PathBuf>,
    pub assets: Vec<String>,
    pub from: String,
    pub to: String,
    pub periods: usize,
    pub costs: crate::env::CostConfig,
    pub rebalance_every: usize,
    /// Set when the checkpoint replayed is of a training that has not ended.
    pub unfinished: Option<String>,
    pub policies: Vec<PolicyTax>,
}

/// The first seed's agent alone, or every seed's beside their ensemble.
fn agents(
    other_seeds: &[PathBuf],
    (first_dir, first, net): (&Path, &checkpoint::Meta, crate::agent::network::PolicyNet),
    market: &Market,
    device: &burn::prelude::Device,
) -> Result<Vec<Box<dyn Policy>>, TaxError> {
    if other_seeds.is_empty() {
        return Ok(vec![Box::new(AgentPolicy::new(
            PolicyId::AGENT,
            net,
            first.head,
            market.layout(),
            device.clone(),
        ))]);
    }
    // The seeds join one ensemble, as eval and stress join them: one normalization, one environment.
    let others =
        checkpoint::load_members(other_seeds, checkpoint::Weights::Best, first, first_dir, market, device)?;
    let mut loaded = vec![(first.seed, net, first.head)];
    loaded.extend(others.into_iter().map(|(meta, net)| (meta.seed, net, meta.head)));
    let agent = |id, net, head| AgentPolicy::new(id, net, head, market.layout(), device.clone());
    let members = loaded.iter().map(|(_, net, head)| agent(PolicyId::AGENT, net.clone(), *head)).collect();
    let mut policies: Vec<Box<dyn Policy>> = loaded
        .into_iter()
        .map(|(seed, net, head)| {
            Box::new(agent(PolicyId::Agent { seed: Some(seed) }, net, head)) as Box<dyn Policy>
        })
        .collect();
    policies.push(Box::new(EnsemblePolicy::of_agents(members)));
    Ok(policies)
}

pub fn tax_report(request: TaxRequest) -> Result<TaxReport, TaxError> {
    let (env, market, mut policies): (EnvConfig, Arc<Market>, Vec<Box<dyn Policy>>) =
        match &request.checkpoint {
            Some(dir) => {
                let device = request.device.device()?;
                let (meta, net) = checkpoint::load_agent(dir, checkpoint::Weights::Best, &device)?;
                let market = Arc::new(meta.market(dir, &request.data)?);
                let agents = agents(&request.other_seeds, (dir, &meta, net), &market, &device)?;
                (meta.env.clone(), market, agents)
            }
            None => {
                let env = EnvConfig::load(&request.env_config)?;
                let (market, _) = Market::from_config(&env)?;
                (env, Arc::new(market), Vec::new())
            }
        };
    if !market.panel.index.is_dated() {
        return Err(TaxError::Undated { path: env.data.file.clone() });
    }
    let span = if request.from.is_some() || request.to.is_some() {
        Span { from: request.from, to: request.to }
    } else {
        env.periods.test
    };
    let range = market.decision_range(&span, 0)?;
    let strategies =
        if request.strategies.is_empty() { &DEFAULT_STRATEGIES[..] } else { &request.strategies };
    for &id in strategies {
        policies.push(baselines::baseline(id, &market, range, env.episode.rebalance_every)?);
    }
    let settings = EnvSettings::from_config(&env);
    let mut results = Vec::with_capacity(policies.len());
    for policy in policies.iter_mut() {
        let log = backtest(policy.as_mut(), &market, range, settings)?;
        results.push(policy_tax(&market, &log, &settings, &request.tax)?);
    }
    let index = &market.panel.index;
    let checkpoints: Vec<PathBuf> = request.checkpoint.iter().chain(&request.other_seeds).cloned().collect();
    Ok(TaxReport {
        unfinished: checkpoint::unfinished_training(&checkpoints),
        tax_config: request.tax_file,
        tax: request.tax,
        data: request.data.file.clone().unwrap_or_else(|| env.data.file.clone()),
        checkpoint: request.checkpoint,
        assets: market.panel.assets.clone(),
        from: index.label(range.first),
        to: index.label(range.last),
        periods: range.periods(),
        costs: settings.costs,
        rebalance_every: settings.episode.rebalance_every,
        policies: results,
    })
}

/// One policy's ledgers: untaxed (checked against the backtest), taxed, and harvesting.
pub fn policy_tax(
    market: &Market,
    log: &BacktestLog,
    settings: &EnvSettings,
    tax: &TaxConfig,
) -> Result<PolicyTax, TaxError> {
    let untaxed = replay(&market.panel, log, settings.costs, tax, Mode::PreTax)?;
    let ledger_gap =
        untaxed.values.iter().zip(&log.values).map(|(a, b)| (a - b).abs() / b).fold(0.0, f64::max);
    if !(ledger_gap <= LEDGER_TOLERANCE) {
        return Err(TaxError::LedgerGap { policy: log.policy, gap: ledger_gap });
    }
    let after_tax = replay(&market.panel, log, settings.costs, tax, Mode::AfterTax)?;
    let harvesting = if tax.harvest.enabled {
        Some(replay(&market.panel, log, settings.costs, tax, Mode::Harvesting)?)
    } else {
        None
    };
    let harvesting_untaxed = if tax.harvest.enabled {
        Some(replay(&market.panel, log, settings.costs, &tax.without_rates(), Mode::Harvesting)?)
    } else {
        None
    };
    let pre_tax_wealth = *log.values.last().expect("a backtest has values");
    Ok(PolicyTax {
        policy: log.policy,
        pre_tax_wealth,
        harvesting_pre_tax_wealth: harvesting_untaxed.as_ref().map(|h| h.wealth),
        harvest_path_effect: harvesting_untaxed
            .as_ref()
            .map(|h| h.after_tax_wealth_liquidated - untaxed.after_tax_wealth_liquidated),
        ledger_gap,
        harvest_benefit: harvesting
            .as_ref()
            .map(|h| h.after_tax_wealth_liquidated - after_tax.after_tax_wealth_liquidated),
        after_tax,
        harvesting,
    })
}
