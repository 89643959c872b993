#!/usr/bin/env bash
# Installs Debian's Chromium for the browser check of report.html when it is missing. Exits 0
# when the browser the check drives ($CHROMIUM, else /usr/bin/chromium) is there afterwards, 77
# (skip) when it cannot be installed here: not root, no apt-get, or no package registry.
set -uo pipefail
browser=${CHROMIUM:-/usr/bin/chromium}
[ -x "$browser" ] && exit 0
if [ -n "${CHROMIUM:-}" ]; then
    echo "CHROMIUM=$CHROMIUM is not an executable browser" >&2
    exit 77
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium is missing and cannot be installed here (needs root and apt-get)" >&2
    exit 77
fi
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; then
    echo "apt-get could not install chromium" >&2
    exit 77
fi
[ -x "$browser" ] || exit 77
