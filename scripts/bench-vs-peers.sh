#!/usr/bin/env bash
# Runs the Python peers' benchmarks (../shared/bench/peers/run_all.sh, and
# scripts/peers_large_more.py for the large-universe baselines it leaves out) and folio's in the
# same session, and prints one table: row, folio figure, peer figure, ratio folio/peer.
# The peers run first: their large_universe.py writes the 500-asset market that folio's `large`
# group reads. The machine is noisy: only ratios measured in one run mean anything.
#
# Usage: scripts/bench-vs-peers.sh [--quick] [--only large]   (from the repository root or anywhere)
#        --quick: folio's side only runs shorter; the peers run in full (minutes).
#        --only large: the large-universe rows alone (large_universe.py, peers_large_more.py and
#        `folio bench --only large`), a few minutes instead of the whole suite.
# Env:   FOLIO_PEERS=<peers folder>   (default ../shared/bench/peers)
#        FOLIO_PEERS_VENV=<venv>      (default ~/.cache/folio-peers, made by the peers' setup.sh)
#        FOLIO_LARGE_CSV=<file>       (default /tmp/folio-large-universe.csv)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# Paths given relative to where the script was started, made absolute before any `cd`: folio
# runs from the repository root and the peers from their own folder, and both must see one file.
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
peers=$(absolute "${FOLIO_PEERS:-$root/../shared/bench/peers}")
venv=$(absolute "${FOLIO_PEERS_VENV:-$HOME/.cache/folio-peers}")
export FOLIO_LARGE_CSV=$(absolute "${FOLIO_LARGE_CSV:-/tmp/folio-large-universe.csv}")
cd "$root"
quick=()
only=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=(--quick) ;;
        --only) only=(--only "$2"); shift ;;
        *) echo "unknown argument $1 (expected --quick or --only large)" >&2; exit 2 ;;
    esac
    shift
done
command -v python3 >/dev/null || { echo "python3 is needed to join the tables" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
touch "$work/peers.txt"

peer_note=""
if [ ! -x "$peers/run_all.sh" ]; then
    peer_note="peer benchmarks not found at $peers (set FOLIO_PEERS)"
elif [ ! -x "$venv/bin/python" ]; then
    peer_note="the peers' virtualenv $venv is missing: install it with  bash $peers/setup.sh"
else
    echo "== peers ($peers, venv $venv)" >&2
    if [ "${only[1]:-}" = "large" ]; then
        run_peers() { (cd "$peers" && "$venv/bin/python" large_universe.py --csv "$FOLIO_LARGE_CSV"); }
    else
        run_peers() { FOLIO_PEERS_VENV=$venv bash "$peers/run_all.sh"; }
    fi
    if ! run_peers | tee "$work/peers.txt" >&2; then
        peer_note="the peer benchmarks failed (see above); peer columns may be incomplete"
    fi
    if [ -z "${only[1]:-}" ] || [ "${only[1]}" = "large" ]; then
        "$venv/bin/python" scripts/peers_large_more.py --csv "$FOLIO_LARGE_CSV" | tee -a "$work/peers.txt" >&2 ||
            peer_note="scripts/peers_large_more.py failed (see above); peer columns may be incomplete"
    fi
fi

echo "== folio bench ($(date -u '+%F %H:%M') UTC, $(nproc) cores, $(uname -m))" >&2
cargo build --release --quiet
target/release/folio bench --json "${quick[@]}" "${only[@]}" >"$work/folio.json"

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
            # Times: say how many times faster, the way the targets are written.
            speed = peer[0] / r["value"] if not r["higher_is_better"] else ratio
            table.append((r["what"], folio, f"{fmt(peer[0])} {peer[1]}", name,
                          f"{ratio:.3g}x ({better}; {speed:.3g}x the speed)"))
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
