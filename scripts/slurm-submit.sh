#!/usr/bin/env bash
# Run a folio plan on Slurm: one job array over the tasks not done yet (K at a time), then the
# merge as a job that starts only if every task succeeded (--dependency=afterok). Run it again
# after a failure or a cancelled task: it submits just the missing tasks, and the merge.
#
#   scripts/slurm-submit.sh PLAN [--parallel K] [-- EXTRA_SBATCH_ARGS...]
#
# PLAN must sit on a file system every node mounts, and so must the data it names. Array element
# %a runs the a-th missing task (its list is in PLAN/logs/array-*.txt). FOLIO names the
# folio binary (default: folio on PATH); MERGE_ARGS adds flags to `folio merge` (e.g. --registry).
# Prints the two job ids, tasks then merge.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 PLAN [--parallel K] [-- EXTRA_SBATCH_ARGS...]" >&2; exit 2; }
plan=$(cd "$1" && pwd)
shift
parallel=""
while [ $# -gt 0 ]; do
    case $1 in
        --parallel) [ $# -ge 2 ] || { echo "--parallel needs a number" >&2; exit 2; }
                    parallel="%$2"; shift 2 ;;
        --) shift; break ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
folio=${FOLIO:-folio}
folio=$(command -v "$folio") || { echo "no folio binary at '$folio': put folio on PATH or set FOLIO" >&2; exit 2; }
mkdir -p "$plan/logs"

missing=$("$folio" run-task "$plan" --missing)
dependency=()
tasks_job=none
if [ -n "$missing" ]; then
    # The array counts 0..k-1 and each element reads its task index from a list: a search's
    # verdict tasks are numbered after every scoring task, past Slurm's MaxArraySize (1001 by
    # default) in a large search, however few remain.
    list="$plan/logs/array-$(date +%Y%m%dT%H%M%S)-$$.txt"
    tr ',' '\n' <<<"$missing" >"$list"
    count=$(wc -l <"$list")
    tasks_job=$(sbatch --parsable --job-name=folio-task --array="0-$((count - 1))$parallel" \
        --output="$plan/logs/task-%A_%a.out" "$@" \
        --wrap="exec '$folio' run-task '$plan' --index \$(sed -n \"\$((SLURM_ARRAY_TASK_ID + 1))p\" '$list')")
    tasks_job=${tasks_job%%;*}
    # Without --kill-on-invalid-dep the merge would wait forever behind a failed task.
    dependency=(--dependency="afterok:$tasks_job" --kill-on-invalid-dep=yes)
fi
merge_job=$(sbatch --parsable --job-name=folio-merge "${dependency[@]}" \
    --output="$plan/logs/merge-%j.out" "$@" \
    --wrap="exec '$folio' merge '$plan' ${MERGE_ARGS:-}")
echo "$tasks_job ${merge_job%%;*}"
