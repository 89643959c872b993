//! Environment steps per second on the bundled default data (20 assets + cash, window 50,
//! five features): one episode at a time, and 64 episodes batched. Each iteration steps every
//! lane once with an equal-weight action, resetting when the episodes end.

use std::path::Path;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use folio::env::config::EnvConfig;
use folio::env::{BatchEnv, CostModel, EnvSettings, Market};

fn market_and_settings(cost_model: CostModel) -> (Arc<Market>, EnvSettings, folio::env::DecisionRange) {
    let mut config = EnvConfig::load(Path::new("envs/default.toml")).expect("bundled config");
    config.costs.model = cost_model;
    let (market, _) = Market::from_config(&config).expect("bundled data");
    let market = Arc::new(market);
    let range = market.decision_range(&config.periods.train, 0).expect("training range");
    (market, EnvSettings::from_config(&config), range)
}

fn env_steps(c: &mut Criterion) {
    let mut group = c.benchmark_group("env_step");
    for cost_model in [CostModel::Proportional, CostModel::Exact] {
        let (market, settings, range) = market_and_settings(cost_model);
        for batch in [1usize, 64] {
            let mut env = BatchEnv::new(market.clone(), range, settings, batch, 0).unwrap();
            let width = env.action_len();
            let mut action = vec![1.0 / (width - 1) as f64; width];
            action[0] = 0.0;
            let actions = action.repeat(batch);
            env.reset();
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("{cost_model:?}").to_lowercase(), batch),
                &batch,
                |b, _| {
                    b.iter(|| {
                        if env.all_done() {
                            env.reset();
                        }
                        env.step(&actions).unwrap();
                        std::hint::black_box(env.observations());
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, env_steps);
criterion_main!(benches);
