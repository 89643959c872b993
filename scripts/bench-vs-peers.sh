#!/usr/bin/env bash
# Runs folio's benchmarks and the Python peers' (../shared/bench/peers/run_all.sh) in the same
# session, and prints one table: row, folio figure, peer figure, ratio folio/peer.
# The machine is noisy: only ratios measured in one run mean anything.
#
# Usage: scripts/bench-vs-peers.sh [--quick]     (from the repository root or anywhere)
# Env:   FOLIO_PEERS=<peers folder>   (default ../shared/bench/peers)
#        FOLIO_PEERS_VENV=<venv>      (default ~/.cache/folio-peers, made by the peers' setup.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
peers=${FOLIO_PEERS:-$root/../shared/bench/peers}
venv=${FOLIO_PEERS_VENV:-$HOME/.cache/folio-peers}
quick=()
[ "${1:-}" = "--quick" ] && quick=(--quick)
command -v python3 >/dev/null || { echo "python3 is needed to join the tables" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== folio bench ($(date -u '+%F %H:%M') UTC, $(nproc) cores, $(uname -m))" >&2
cargo build --release --quiet
target/release/folio bench --json "${quick[@]}" >"$work/folio.json"

peer_note=""
if [ ! -x "$peers/run_all.sh" ]; then
    peer_note="peer benchmarks not found at $peers (set FOLIO_PEERS)"
elif [ ! -x "$venv/bin/python" ]; then
    peer_note="the peers' virtualenv $venv is missing: install it with  bash $peers/setup.sh"
else
    echo "== peers ($peers, venv $venv)" >&2
    if ! FOLIO_PEERS_VENV=$venv bash "$peers/run_all.sh" | tee "$work/peers.txt" >&2; then
        peer_note="the peer benchmarks failed (see above); peer columns may be incomplete"
    fi
fi
touch "$work/peers.txt"

python3 - "$work/folio.json" "$work/peers.txt" "$peer_note" <<'PY'
import json, re, sys
rows = json.load(open(sys.argv[1]))
peers = {}
for line in open(sys.argv[2]):
    line = re.sub(r"\s+\(min .*\)\s*$", "", line.rstrip())
    parts = line.split()
    if len(parts) < 3:
        continue
    try:
        value = float(parts[-2])
    except ValueError:
        continue
    peers[" ".join(parts[:-2])] = (value, parts[-1])

def fmt(v):
    return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.3e}"

head = ("row", "folio", "peer", "peer row", "folio/peer")
table = []
for r in rows:
    folio = f'{fmt(r["value"])} {r["unit"]}'
    # A folio row may stand beside several peers doing the same shape of work: one line each.
    for name in r["peers"] or [None]:
        peer = peers.get(name) if name else None
        if peer:
            ratio = r["value"] / peer[0]
            better = "faster" if (ratio > 1) == r["higher_is_better"] else "slower"
            table.append((r["what"], folio, f"{fmt(peer[0])} {peer[1]}", name, f"{ratio:.3g}x ({better})"))
        else:
            table.append((r["what"], folio, "-", name or "-", "-"))
widths = [max(len(row[i]) for row in table + [head]) for i in range(len(head))]
print()
print(" | ".join(h.ljust(w) for h, w in zip(head, widths)))
print("-+-".join("-" * w for w in widths))
for row in table:
    print(" | ".join(c.ljust(w) for c, w in zip(row, widths)))
if sys.argv[3]:
    print(f"\nnote: {sys.argv[3]}")
print("\nratio folio/peer: for steps/s and GFLOP/s above 1 means folio is faster; for s and ms below 1 does.")
PY
