#!/usr/bin/env bash
# Run a folio plan on this machine, JOBS tasks at a time (default 2), then merge it: the same
# tasks and merge as on a cluster, with xargs -P as the scheduler. Tasks already done are
# skipped, so it also finishes a plan that a cluster left incomplete.
#
#   scripts/run-local.sh PLAN [JOBS] [MERGE_FLAGS...]
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 PLAN [JOBS] [MERGE_FLAGS...]" >&2; exit 2; }
plan=$1
jobs=${2:-2}
# Merge flags come after JOBS: without it, `--out DIR` would reach xargs as a job count.
[[ $jobs =~ ^[1-9][0-9]*$ ]] || {
    echo "$0: JOBS must be a positive number, got '$jobs' (usage: $0 PLAN [JOBS] [MERGE_FLAGS...])" >&2
    exit 2
}
shift $(( $# >= 2 ? 2 : 1 ))
folio=${FOLIO:-folio}

# grep finds no line once every task is done, and that is no failure: the merge still runs.
"$folio" run-task "$plan" --missing | tr ',' '\n' | { grep -v '^$' || true; } |
    xargs -r -P "$jobs" -I{} "$folio" run-task "$plan" --index {}
"$folio" merge "$plan" "$@"
