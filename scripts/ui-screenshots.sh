#!/usr/bin/env bash
# Pictures of the web UI for the README: runs the browser tests (crates/drover/tests/ui*.rs) with
# DROVER_UI_SCREENSHOTS set, so each flow writes docs/ui/<page>.png (tests/clients/ui_browser.py's
# screenshot(); without the variable, as in CI, they write nothing). Needs what the tests need:
# chromium (apt) and the venvs of tests/clients/setup.sh, which this runs first. Extra arguments go
# to cargo nextest (or cargo test), e.g. a test name to picture one page.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/bin/chromium ] || { echo "error: /usr/bin/chromium is missing (apt-get install chromium)" >&2; exit 1; }
bash tests/clients/setup.sh
export DROVER_UI_SCREENSHOTS=$PWD/docs/ui
# A missing browser or venv fails instead of skipping, so no picture is silently left stale.
export DROVER_TESTS_NO_SKIP=1
tests=()
for f in crates/drover/tests/ui*.rs; do tests+=(--test "$(basename "$f" .rs)"); done
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run -p drover "${tests[@]}" "$@"
else
  cargo test -p drover "${tests[@]}" "$@"
fi
echo "screenshots in docs/ui:" >&2
ls -l docs/ui/*.png >&2
