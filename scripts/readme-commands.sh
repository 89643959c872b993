#!/usr/bin/env bash
# Runs the `folio ...` and `cargo run --release -- ...` commands of README.md's ```sh blocks as
# written, with small steps, in a temporary copy of the repository so that nothing here is
# overwritten. Too slow for `cargo test` (training and walk-forward runs take minutes even when
# small), so it is run on demand:   scripts/readme-commands.sh [--list]
#
# Commands that train run briefly (`--steps 200`, or a hundredth of the steps they name), so every
# training path runs. Skipped, and why, are printed at the end.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
folio="$repo/target/release/folio"

# README lines inside ```sh blocks that start a folio command, continuation lines joined.
commands=$(awk '/^```sh/{f=1;next} /^```/{f=0} f' "$repo/README.md" |
    sed -e ':a' -e '/\\$/N; s/\\\n//; ta' |
    grep -E '^(folio|cargo run --release --) ' | sed -e 's/[[:space:]]\+#.*$//')

# Why a command is not run: placeholders, other machines, or hours of work even when small.
skip_reason() {
    case "$1" in
        *"--checkpoint ..."*) echo "a placeholder checkpoint" ;;
        *"/shared/"*) echo "writes to a shared cluster folder" ;;
        *"folio search"*) echo "needs a space.toml the README only sketches" ;;
        *) return 1 ;;
    esac
}

if [[ "${1:-}" == "--list" ]]; then
    printf '%s\n' "$commands"
    exit 0
fi
cargo build --release --manifest-path "$repo/Cargo.toml" >&2 || exit 1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The tracked files only, as a fresh checkout has them (the commands come from the README as it
# is in the working tree, so commit before relying on a pass).
git -C "$repo" archive HEAD | tar -x -C "$work" || { echo "cannot copy the repository's HEAD into $work" >&2; exit 1; }
cd "$work" || exit 1
# Their 200-step trials must not join the user's registry, where they would count against every
# later Deflated Sharpe Ratio on the bundled data: each run records into the copy's own.
unset FOLIO_REGISTRY

failed=() skipped=()
while IFS= read -r line; do
    [[ -z "$line" ]] && continue
    if reason=$(skip_reason "$line"); then
        skipped+=("$line  ($reason)")
        continue
    fi
    cmd=${line/#cargo run --release --/folio}
    # Every command that trains (`a && b` too) runs briefly: a --steps it names is cut a
    # hundredfold, else 200 steps are added after the subcommand. A resume must still ask for
    # more steps than the run it continues has taken, and PPO takes whole rollouts of 1024.
    if [[ "$cmd" =~ --steps\ ([0-9]+) ]]; then
        cmd=${cmd//--steps ${BASH_REMATCH[1]}/--steps $((BASH_REMATCH[1] / 100 > 0 ? BASH_REMATCH[1] / 100 : 1))}
    else
        cmd=$(sed -E 's/folio (train|walk-forward)/folio \1 --steps 200/g' <<<"$cmd")
    fi
    cmd=${cmd//folio /"$folio" }
    echo "== $line" >&2
    if ! bash -c "$cmd" >"$work/out.log" 2>&1; then
        tail -5 "$work/out.log" >&2
        failed+=("$line")
    fi
done <<<"$commands"

printf 'skipped: %s\n' "${skipped[@]}"
if ((${#failed[@]})); then
    printf 'FAILED: %s\n' "${failed[@]}"
    exit 1
fi
echo "every README command ran"
