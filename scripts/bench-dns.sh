#!/usr/bin/env bash
# The DNS' queries per second on one core (docs/performance.md). A fake master (`dns_load
# master`) holds 10,000 RUNNING Marathon tasks; `drover dns` follows it pinned to core 0 and
# dnsperf asks it from core 1 (A, SRV, canonical and NXDOMAIN names, see bench/src/bin/dns_load.rs).
# Each round: dnsperf flat out with a few client settings, dnsperf held to 50k/s (latency below
# saturation), and the floor: the same dnsperf against a trivial responder on core 0.
# Prints QPS, latency (dnsperf's average and stddev), lost queries and the server's CPU use.
#
#   cargo build --release -p drover -p drover-bench && scripts/bench-dns.sh
#   ROUNDS=1 SECS=5 scripts/bench-dns.sh     # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
SECS=${SECS:-20}
TASKS=${TASKS:-10000}
APPS=${APPS:-2000}
SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
BIN=${BIN:-target/release}
# dnsperf settings tried flat out (-q: queries outstanding, -c: clients/sockets, -T: threads).
SETTINGS=${SETTINGS:-"-c 8|-c 8 -q 500|-c 32 -q 1000"}

for b in "$BIN/drover" "$BIN/dns_load"; do
    [ -x "$b" ] || { echo "missing $b: cargo build --release -p drover -p drover-bench" >&2; exit 1; }
done
command -v dnsperf >/dev/null || { echo "dnsperf is not installed" >&2; exit 1; }
command -v dig >/dev/null || { echo "dig is not installed" >&2; exit 1; }

work=$(mktemp -d /tmp/bench-dns.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The first line of $2 matching $3, waiting up to $1 seconds for it.
wait_line() {
    local deadline=$((SECONDS + $1))
    while [ $SECONDS -lt $deadline ]; do
        if grep -m1 "$3" "$2" 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    echo "timed out waiting for '$3' in $2" >&2
    cat "$2" >&2
    return 1
}

# CPU time (clock ticks, user + system) a process has used.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

# run LABEL PID PORT DNSPERF-OPTS...: one dnsperf run against PID listening on PORT.
run() {
    local label=$1 pid=$2 port=$3
    shift 3
    local t0 out t1
    t0=$(ticks "$pid")
    out=$(taskset -c "$CLIENT_CORE" dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" \
        -l "$SECS" "$@" 2>&1)
    t1=$(ticks "$pid")
    echo "$out" | awk -v label="$label" -v opts="$*" \
        -v cpu="$(( (t1 - t0) * 100 / HZ / SECS ))" '
        /Queries per second/ {qps = $4}
        /Average Latency/ {avg = $4 * 1000; gsub(/[(]/, "", $6); max = $8 * 1000}
        /Latency StdDev/ {sd = $4 * 1000}
        /Queries lost/ {lost = $3 " " $4}
        /Response codes/ {sub(/.*codes: */, ""); codes = $0}
        END {printf "%-8s %-28s %9.0f q/s  avg %6.3f ms  sd %6.3f ms  max %6.2f ms  lost %-14s server cpu %3d%%\n",
                    label, opts, qps, avg, sd, max, lost, cpu}'
}

echo "machine: $(nproc) cores, $(uname -r); $(uptime)"
"$BIN/dns_load" master --tasks "$TASKS" --apps "$APPS" --queries "$work/queries.txt" \
    >"$work/master.out" 2>"$work/master.err" &
pids+=($!)
master=$(wait_line 60 "$work/master.out" '^master: ' | sed 's#^master: http://##')
probe=$(wait_line 5 "$work/master.out" '^probe: ' | sed 's#^probe: ##')
grep '^state: ' "$work/master.out"

DROVER_LOG=warn taskset -c "$SERVER_CORE" "$BIN/drover" dns --master "$master" \
    --ip 127.0.0.1 --port 0 --http-port 0 >"$work/dns.out" 2>"$work/dns.err" &
dns_pid=$!
pids+=($dns_pid)
dns=$(wait_line 30 "$work/dns.out" '^dns: ' | awk '{print $2}')
port=${dns##*:}
start=$SECONDS
until [ -n "$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" "$probe" A)" ]; do
    [ $((SECONDS - start)) -lt 60 ] || { echo "the DNS never answered $probe" >&2; cat "$work/dns.err" >&2; exit 1; }
    sleep 0.1
done
echo "drover dns on $dns (core $SERVER_CORE) answers $probe after $((SECONDS - start)) s;" \
    "dnsperf on core $CLIENT_CORE, $SECS s a run"

taskset -c "$SERVER_CORE" "$BIN/dns_load" echo --listen 127.0.0.1:0 >"$work/echo.out" &
echo_pid=$!
pids+=($echo_pid)
echo_port=$(wait_line 10 "$work/echo.out" '^echo: ' | sed 's#.*:##')

IFS='|' read -r -a settings <<<"$SETTINGS"
for round in $(seq 1 "$ROUNDS"); do
    echo "--- round $round   (load: $(uptime | sed 's/.*load average: //'))"
    for s in "${settings[@]}"; do
        # shellcheck disable=SC2086
        run "dns" "$dns_pid" "$port" $s -Q 1000000
    done
    run "dns@50k" "$dns_pid" "$port" -c 8 -Q 50000
    for s in "${settings[@]}"; do
        # shellcheck disable=SC2086
        run "floor" "$echo_pid" "$echo_port" $s -Q 1000000
    done
done
echo "--- done   (load: $(uptime | sed 's/.*load average: //'))"
