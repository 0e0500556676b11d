#!/usr/bin/env bash
# Render an `lstmae report` page in headless Chromium and save a full-page screenshot, to
# check by eye that the page displays (tables, embedded figures) without any network.
#
#   scripts/screenshot_report.sh REPORT.html [OUT.png] [HEIGHT]
#
# Needs chromium (Debian: apt-get install -y chromium). Not used by the test suite, which
# validates the HTML structure with Python's html.parser instead.
set -euo pipefail
report=${1:?usage: $0 REPORT.html [OUT.png] [HEIGHT]}
out=${2:-${report%.html}.png}
height=${3:-4200}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [[ -z "$browser" ]]; then
    echo "screenshot_report: no chromium found (apt-get install -y chromium)" >&2
    exit 1
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
    --user-data-dir="$profile" --window-size="1300,$height" \
    --screenshot="$(realpath -m "$out")" "file://$(realpath "$report")" 2>/dev/null
echo "wrote $out"
