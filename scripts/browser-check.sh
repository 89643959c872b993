#!/usr/bin/env bash
# Opens an HTML report in headless Chromium and checks it (see browser-check.mjs): no network
# request, the verdict, the metrics table and every chart drawn; screenshots in OUT_DIR.
# Installs Debian's chromium when it is missing. Exit codes: 0 passed, 1 a check failed,
# 2 the browser could not be driven, 77 skipped (no chromium and no way to install it, or no node).
#
# Usage: scripts/browser-check.sh PAGE.html OUT_DIR [CHART ...]
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/install-chromium.sh" || exit 77
if ! command -v node >/dev/null 2>&1; then
    echo "node is missing: the browser check drives chromium with a small node script" >&2
    exit 77
fi
exec node "$here/browser-check.mjs" "$@"
