#!/usr/bin/env bash
# The learner's targets (issue 16, docs/learner.md) measured in one command, each printed with
# its figures and whether it is met. A benchmark, not a test: it exits 0 whatever it finds, and a
# target that is not met is a finding to report, not a failure to hide.
#
#   scripts/learner-targets.sh                      the bundled dated markets and the planted one
#   scripts/learner-targets.sh my_market.toml ...   any configs instead (a market folio does not ship)
#
# For each config, `folio panel CONFIG --json` (the default walk-forward of that market, timed);
# then scripts/planted-target.sh at PHI for each data seed. Environment: PLANTED_PHI (default
# 0.5), PLANTED_SEEDS (default "21 22 23", "" to skip); PLANTED_SETTINGS (planted-target.sh)
# reaches the planted runs only, not the configs'. Everything runs in a temporary folder with
# its own trial registry, so nothing in the repository changes. About a minute on 2 cores.
set -euo pipefail

phi=${PLANTED_PHI:-0.5}
seeds=${PLANTED_SEEDS-21 22 23}
# Checked before the panels run, not after them.
[[ $phi =~ ^-?[0-9]*\.?[0-9]+$ ]] || { echo "$0: PLANTED_PHI must be a number, got '$phi'" >&2; exit 2; }
for seed in $seeds; do
    [[ $seed =~ ^[0-9]+$ ]] || { echo "$0: PLANTED_SEEDS must be whole numbers, got '$seed'" >&2; exit 2; }
done
repo=$(cd "$(dirname "$0")/.." && pwd)
# FOLIO names a folio binary to use (as for run-local.sh); without it, this checkout's is built.
folio=${FOLIO:-}
if [[ -z $folio ]]; then
    cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
    folio="$repo/target/release/folio"
fi
# planted-target.sh runs it from a temporary folder.
[[ $folio != */* || $folio = /* ]] || folio="$PWD/$folio"
export FOLIO="$folio"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ $# -eq 0 ]]; then
    set -- "$repo/envs/default.toml" "$repo/envs/factor_etfs.toml"
fi

index=0
for config in "$@"; do
    [[ -f "$config" ]] || { echo "error: $config: no such config" >&2; exit 2; }
    config=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")
    index=$((index + 1))
    echo "walk-forward of $config ..." >&2
    start=$(date +%s.%N)
    if ! "$folio" panel "$config" --out "$work/panel-$index" --registry "$work/trials.jsonl" --json \
        >"$work/panel-$index.json" 2>"$work/panel-$index.log"; then
        echo "error: folio panel $config failed:" >&2
        tail -5 "$work/panel-$index.log" >&2
        exit 1
    fi
    end=$(date +%s.%N)
    printf '%s\t%s\t%s\n' "$config" "$start" "$end" >>"$work/times.tsv"
done

for seed in $seeds; do
    echo "planted market, phi $phi, data seed $seed ..." >&2
    PLANTED_JSON="$work/planted-$seed.json" "$repo/scripts/planted-target.sh" "$phi" "$seed" >"$work/planted-$seed.txt"
done

python3 - "$work" "$repo/envs/default.toml" "$phi" $seeds <<'PY'
import json
import sys
from pathlib import Path

work, default_config, phi, seeds = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
seconds = {}
for line in (work / "times.tsv").read_text().splitlines():
    config, start, end = line.split("\t")
    seconds[config] = float(end) - float(start)
rows = []
for index, config in enumerate(seconds, start=1):
    (row,) = json.loads((work / f"panel-{index}.json").read_text())["rows"]
    row["config"], row["seconds"] = config, seconds[config]
    rows.append(row)

def verdict(ok):
    return "met" if ok else "NOT MET"

def pbo(row):
    return "none (identical seeds)" if row["pbo"] is None else f"{row['pbo']:.2f}"

print("market            tested                    agent  EW     gap     max DD agent / EW   PBO    kept reference  time")
for r in rows:
    gap = r["agent_sharpe"] - r["equal_weight_sharpe"]
    print(f"{r['market'][:17]:17} {r['tested'][0]} .. {r['tested'][1]}  {r['agent_sharpe']:5.2f}  "
          f"{r['equal_weight_sharpe']:5.2f}  {gap:+.3f}  {r['agent_max_drawdown']:6.1%} / {r['equal_weight_max_drawdown']:6.1%}   "
          f"{'none' if r['pbo'] is None else format(r['pbo'], '.2f'):6} {r['trainings_kept_reference']:3} of {r['trainings']:<3}     {r['seconds']:.0f} s")
print()

# The issue names the bundled dated markets, the configs run by default; given configs, the
# targets apply to every market among them.
print("1. On every market, the ensemble's Sharpe at least equal weight's minus 0.05 and its max")
print("   drawdown at most equal weight's plus 5 points:")
for r in rows:
    sharpe_ok = r["agent_sharpe"] >= r["equal_weight_sharpe"] - 0.05
    drawdown_ok = r["agent_max_drawdown"] <= r["equal_weight_max_drawdown"] + 0.05
    print(f"   {r['market']}: Sharpe {r['agent_sharpe']:.2f} vs {r['equal_weight_sharpe']:.2f}, "
          f"drawdown {r['agent_max_drawdown']:.1%} vs {r['equal_weight_max_drawdown']:.1%}: {verdict(sharpe_ok and drawdown_ok)}")

print("2. On at least one market, beats equal weight with PBO below 0.5:")
winners = [r for r in rows if r["beats_equal_weight"] and r["pbo"] is not None and r["pbo"] < 0.5]
for r in rows:
    p = "" if r["edge_p_value"] is None else f", p = {r['edge_p_value']:.2f}"
    print(f"   {r['market']}: beats equal weight {'yes' if r['beats_equal_weight'] else 'no'}{p}, PBO {pbo(r)}")
print(f"   {verdict(bool(winners))}")

if seeds:
    print(f"3. On the planted market (phi {phi}), at least half the oracle probe's Sharpe edge over equal weight:")
    shares = []
    for seed in seeds:
        # The edges unrounded: a share of 49.8% is not met, however it prints.
        edges = json.loads((work / f"planted-{seed}.json").read_text())
        if edges["oracle"] <= 0.005:
            print(f"   data seed {seed}: the oracle probe found no edge to keep: {verdict(False)}")
            shares.append(0.0)
            continue
        share = edges["agent"] / edges["oracle"]
        shares.append(share)
        context = ""
        if edges["tilt_bounded"] > 0.005:
            context = (
                f" (within the agent's tilt bound the best of a grid of policies that know the model keeps "
                f"{edges['tilt_bounded'] / edges['oracle']:.1%}; the agent reaches {edges['agent'] / edges['tilt_bounded']:.1%} of that)"
            )
        print(f"   data seed {seed}: {share:.2%}: {verdict(share >= 0.5)}{context}")
    met = sum(s >= 0.5 for s in shares)
    print(f"   met on {met} of {len(shares)} data seeds (mean {sum(shares) / len(shares):.1%}): {verdict(met == len(shares))}")

print("4. `folio walk-forward` with no arguments under 10 minutes:")
default = [r for r in rows if r["config"] == default_config]
if default:
    print(f"   {default[0]['seconds']:.0f} s: {verdict(default[0]['seconds'] < 600)}")
else:
    print("   the default config was not among the configs")
PY
