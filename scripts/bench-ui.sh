#!/usr/bin/env bash
# The web UI's performance figures (docs/performance.md, "The web UI"): ui_cluster serves a fake
# master (10,000 tasks on 100 agents, TASK_UPDATED events at RATE a second, HOT_SHARE of them on
# the 200 rows of the tasks page's first page), a fake Marathon (1,000 apps) and the UI; then
# bench/ui/measure.py measures in Debian's Chromium: the first HTML's size and first contentful
# paint of /, /ui/tasks and /ui/apps; long tasks while paging and sorting the tasks table; the
# time from an update's send to its row's new state on screen; the heap over MINUTES minutes.
# MARATHON_EVENTS=1: the fake Marathon says a status_update_event for each update too (as
# Marathon does), so the UI also reads the apps they name again while it is measured.
# Prints measure.py's JSON (and keeps it in $OUT, default ui-bench.json).
#
#   cargo build --release -p drover-bench --bin ui_cluster && scripts/bench-ui.sh
#   MINUTES=1 scripts/bench-ui.sh        # a quick look (the documented heap figure is 10)
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=${MINUTES:-10}
LATENCY_SECS=${LATENCY_SECS:-30}
LOADS=${LOADS:-5}
PAGES=${PAGES:-20}
RATE=${RATE:-200}
HOT_SHARE=${HOT_SHARE:-0.5}
TASKS=${TASKS:-10000}
APPS=${APPS:-1000}
BIN=${BIN:-target/release}
PYC=${PYC:-/tmp/drover-clients}
OUT=${OUT:-ui-bench.json}
MARATHON_EVENTS=${MARATHON_EVENTS:-0}

[ -x "$BIN/ui_cluster" ] ||
    { echo "missing $BIN/ui_cluster: cargo build --release -p drover-bench --bin ui_cluster" >&2; exit 1; }
[ -x "$PYC/ui/bin/python" ] || { echo "missing $PYC/ui: bash tests/clients/setup.sh" >&2; exit 1; }

work=$(mktemp -d /tmp/bench-ui.XXXXXX)
pid=
cleanup() {
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The first line of $2 matching $3, waiting up to $1 seconds for it.
wait_line() {
    local deadline=$((SECONDS + $1))
    while [ $SECONDS -lt $deadline ]; do
        if grep -m1 "$3" "$2" 2>/dev/null; then return 0; fi
        kill -0 "$pid" 2>/dev/null || { echo "ui_cluster exited" >&2; cat "$work/cluster.err" >&2; return 1; }
        sleep 0.2
    done
    echo "timed out waiting for '$3' in $2" >&2
    cat "$2" "$work/cluster.err" >&2
    return 1
}

echo "machine: $(nproc) cores, $(uname -r); $(uptime)" >&2
extra=()
[ "$MARATHON_EVENTS" = 0 ] || extra+=(--marathon-events)
DROVER_LOG=warn "$BIN/ui_cluster" --tasks "$TASKS" --apps "$APPS" --rate "$RATE" \
    --hot-share "$HOT_SHARE" --log "$work/sends.log" "${extra[@]}" \
    >"$work/cluster.out" 2>"$work/cluster.err" &
pid=$!
wait_line 120 "$work/cluster.out" '^ready: ' >&2
ui=$(grep -m1 '^ui: ' "$work/cluster.out" | awk '{print $2}')
master=$(grep -m1 '^master: ' "$work/cluster.out" | awk '{print $2}')

"$PYC/ui/bin/python" bench/ui/measure.py --url "$ui" --master "$master" --log "$work/sends.log" \
    --pid "$pid" --loads "$LOADS" --pages "$PAGES" --latency-secs "$LATENCY_SECS" --minutes "$MINUTES" \
    | tee "$OUT"
echo "load: $(uptime | sed 's/.*load average: //')" >&2
