#!/usr/bin/env bash
# The planted-signal target of the learner (docs/learner.md): on a synthetic market whose daily
# log returns carry PHI of the previous day's, how much of the oracle probe's Sharpe edge over
# equal weight the default ensemble agent keeps out of sample, beside the edge of the best of a
# grid of policies that know the planted model (scripts/planted-causal-bound.py: what a causal
# policy can reach at least, not a proof of the most), and of the best of them held to the
# agent's tilt bound. Everything runs in a temporary folder with its own registry, so nothing
# here changes.
#
#   scripts/planted-target.sh PHI [DATA_SEED]        e.g. scripts/planted-target.sh 0.3
#
# The oracle is measured on the walk-forward's own test windows (its validation period is their
# span, and it trains on everything before them for as many steps as each of the agent's
# trainings), so that both edges are over the same 1,000 periods. It picks its network on that
# period too, which flatters the oracle and makes the target harder, never easier.
#
# With PLANTED_JSON set, the edges are also written there as JSON, unrounded (what
# scripts/learner-targets.sh compares).
#
# PLANTED_SETTINGS, TOML appended to the planted config, measures another setting on the same
# market: PLANTED_SETTINGS=$'[train.net]\ntilt = 2' scripts/planted-target.sh 0.3 (tables the
# config below lacks: [train], [train.net], [episode], [reward], ...). The oracle
# probe runs the same config (a tilt binds it as it binds the agent), and the tilt-bounded
# policies are held to the tilt the agent ran with.
#
# About 10 s on 2 cores (2026-12-07): a 4-fold walk-forward with 3 seeds and one oracle training.
set -euo pipefail

phi=${1:?usage: scripts/planted-target.sh PHI [DATA_SEED]}
data_seed=${2:-21}
[[ $phi =~ ^-?[0-9]*\.?[0-9]+$ ]] || { echo "$0: PHI must be a number, got '$phi'" >&2; exit 2; }
[[ $data_seed =~ ^[0-9]+$ ]] || { echo "$0: DATA_SEED must be a whole number, got '$data_seed'" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
# FOLIO names a folio binary to use (as for run-local.sh); without it, this checkout's is built.
folio=${FOLIO:-}
if [[ -z $folio ]]; then
    cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
    folio="$repo/target/release/folio"
fi
# Both are read after the script moves into its temporary folder: relative ones name them from here.
[[ $folio != */* || $folio = /* ]] || folio="$PWD/$folio"
raw=${PLANTED_JSON:-}
[[ -z $raw || $raw = /* ]] || raw="$PWD/$raw"
export FOLIO="$folio"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# Independent assets with no drift, jumps or regimes: the lag-one autocorrelation is the only
# edge, so equal weight earns nothing but noise.
"$folio" data synth --assets 5 --periods 2500 --seed "$data_seed" --correlation 0 --drift 0 \
    --volatility 0.16 --switch-probability 0 --jumps-per-year 0 --autocorrelation "$phi" \
    --out planted.csv >/dev/null
cat >planted.toml <<'TOML'
[data]
file = "planted.csv"

[periods.train]
to = "2015-05-18"
[periods.validation]
from = "2015-05-19"
to = "2016-11-28"
[periods.test]
from = "2016-11-29"

[features]
window = 10
features = ["log_return"]

[costs]
buy = 0.0005
sell = 0.0005

[walk_forward]
train_periods = 1000
validation_periods = 250
test_periods = 250
folds = 4
TOML
printf '%s\n' "${PLANTED_SETTINGS:-}" >>planted.toml

"$folio" walk-forward --config planted.toml --out wf --registry trials.jsonl --json >wf.json 2>wf.log
# The oracle's config: validation over the walk-forward's test windows, training before them.
python3 - <<'PY'
import csv
import json

report = json.load(open("wf.json"))
first, last = report["folds"][0]["test"][0], report["folds"][-1]["test"][1]
dates = [row[0] for row in list(csv.reader(open("planted.csv")))[1:]]
before = dates[dates.index(first) - 1]
config = open("planted.toml").read()
periods = config[config.index("[periods.train]"):config.index("[features]")]
oracle = f'[periods.train]\nto = "{before}"\n[periods.validation]\nfrom = "{first}"\nto = "{last}"\n\n'
open("oracle.toml", "w").write(config.replace(periods, oracle))
open("oracle-steps.txt", "w").write(str(report["train"]["steps"]))
PY
# A failed oracle probe (no edge it can find) exits non-zero but still writes its result.
"$folio" probe --config oracle.toml --probe oracle --steps "$(cat oracle-steps.txt)" --json >probe.json 2>probe.log \
    || grep -q "probe failed: oracle" probe.log || { cat probe.log; exit 1; }
# The tilt-bounded policies are held to the tilt the agent ran with.
tilt=$(python3 -c 'import json; print(json.load(open("wf.json"))["train"]["net"]["tilt"])')
python3 "$repo/scripts/planted-causal-bound.py" planted.csv --phi "$phi" --cost 0.0005 --test 1000 --tilt "$tilt" >bound.txt

python3 - "$phi" "$data_seed" "$raw" <<'PY'
import json
import re
import sys

phi, seed, raw = sys.argv[1], sys.argv[2], sys.argv[3]
report = json.load(open("wf.json"))
rows = {str(row["policy"]): row["metrics"]["sharpe"] for row in report["overall"]}
agent, equal = rows["agent (ensemble)"], rows["equal weight"]
oracle = next(p for p in json.load(open("probe.json"))["probes"] if p["probe"] == "oracle")
bound = {}
for line in open("bound.txt").read().splitlines()[1:]:
    name, sharpe = re.match(r"\s*(.*?)\s+Sharpe\s+(\S+)", line).groups()
    bound[name] = float(sharpe)
causal = max(v for k, v in bound.items() if k != "equal weight" and not k.startswith("tilt-bounded"))
bounded = max(v for k, v in bound.items() if k.startswith("tilt-bounded"))
oracle_edge = oracle["agent_sharpe"] - oracle["equal_weight_sharpe"]
causal_edge = causal - bound["equal weight"]
bounded_edge = bounded - bound["equal weight"]
agent_edge = agent - equal
if raw:
    edges = {"agent": agent_edge, "oracle": oracle_edge, "model_aware": causal_edge, "tilt_bounded": bounded_edge}
    json.dump(edges, open(raw, "w"))
print(f"planted market: phi {phi}, data seed {seed}, 5 assets, 5 bp per side, 4 folds of 250 test periods")
print(f"  ensemble agent (walk-forward)   Sharpe {agent:6.2f}   equal weight {equal:5.2f}   edge {agent_edge:5.2f}")
print(f"  oracle probe (same periods)     Sharpe {oracle['agent_sharpe']:6.2f}   equal weight {oracle['equal_weight_sharpe']:5.2f}   edge {oracle_edge:5.2f}")
print(f"  best policy knowing the model   Sharpe {causal:6.2f}   equal weight {bound['equal weight']:5.2f}   edge {causal_edge:5.2f}")
print(f"  same, within the tilt bound     Sharpe {bounded:6.2f}   equal weight {bound['equal weight']:5.2f}   edge {bounded_edge:5.2f}")
def share(part, whole):
    # Without a planted signal (PHI 0) a causal policy has no edge to keep a share of.
    return f"{part / whole:.1%}" if whole > 0.005 else "- (no edge)"

print(f"  the agent keeps {share(agent_edge, oracle_edge)} of the oracle's edge (target: 50%) "
      f"and {share(agent_edge, causal_edge)} of the best model-aware policy's; that policy keeps {share(causal_edge, oracle_edge)} of the oracle's")
print(f"  within the tilt bound the best model-aware policy keeps {share(bounded_edge, oracle_edge)} of the oracle's edge; "
      f"the agent keeps {share(agent_edge, bounded_edge)} of that")
PY
