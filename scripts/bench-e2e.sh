#!/usr/bin/env bash
# The "End to end" and "Memory" figures of docs/performance.md: task throughput and launch
# latency seen by a real v1 scheduler (bench/src/bin/loadgen.rs), the master's resident memory
# per 1,000 running tasks and per 1,000 agents, and this machine's own fork/exec floor.
#
#   scripts/bench-e2e.sh [TASKS]      TASKS for the throughput runs, default 10000
#   scripts/bench-e2e.sh ha [ROUNDS]
#       only "The cost of HA": drover up (4 agents) with its embedded store and with --zk on a
#       local ZooKeeper (Debian's zookeeper, started here), ROUNDS (default 2) interleaved pairs
#       of the throughput run (TASKS, default 10000, 'true' tasks) and the latency run (1,000 at
#       100/s).
#   scripts/bench-e2e.sh stall [ROUNDS]
#       only "Reads never stall decisions": separate processes, 10,000 'exec sleep 3600' tasks
#       kept running, then ROUNDS (default 2) pairs of 1,000 launches at 100/s, without and with
#       a client fetching /master/state back to back (p99 ACCEPT -> TASK_RUNNING of each).
#       DROVER=<path> runs another drover binary (e.g. one built before a change) with the same
#       loadgen; run it for each binary in turn (A, B, A, B) to compare. NO_BUILD=1 skips the build.
#       AGENT_FLAGS is added to the agents' command line (e.g. '--cgroups-enable-cfs false').
#
# Release build first (CARGO_TARGET_DIR is honoured). Logs and work dirs go under $OUT
# (default /tmp/drover-bench-e2e/<timestamp>); everything it starts is stopped at the end.
# About 5 minutes after the build on 2 cores. Needs ~10,000 free pids for the memory run.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
# The named modes take TASKS for their throughput runs.
case "$N" in ha|stall) N=${TASKS:-10000} ;; esac
# 5,000 hollow agents hold 5,000 connections in the master and in loadgen.
ulimit -n 20000 2>/dev/null || echo "warning: open files limited to $(ulimit -n); the 5,000-agent run needs ~11,000" >&2
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(pwd)/target}
[ -n "${NO_BUILD:-}" ] || cargo build --release -p drover -p drover-bench
BIN=$CARGO_TARGET_DIR/release
DROVER=${DROVER:-$BIN/drover}
OUT=${OUT:-/tmp/drover-bench-e2e/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
RES='cpus:64;mem:65536;disk:1000;ports:[31000-32000]'
LOG="$OUT/results.txt"
PIDS=()

say() { echo "$*" | tee -a "$LOG"; }
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -INT "$p" 2>/dev/null || true; done
  sleep 2
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
  PIDS=()
}
trap cleanup EXIT

# Port a process of ours listens on (the master's, started with --port 0).
port_of() {
  for _ in $(seq 100); do
    p=$(ss -ltnp 2>/dev/null | grep "pid=$1," | awk '{print $4}' | sed 's/.*://' | head -1)
    [ -n "$p" ] && { echo "$p"; return; }
    sleep 0.1
  done
  echo "no listening port for pid $1" >&2; exit 1
}

# `drover up` (master and 4 agents in one process; no Marathon or jobs scheduler, whose frameworks
# would take offers).
start_up() {
  local w="$OUT/up-$1"; mkdir -p "$w"
  DROVER_LOG=warn "$DROVER" up --agents 4 --port 0 --agent-port 0 --work-dir "$w" --resources "$RES" \
    --no-marathon --no-jobs ${UP_FLAGS:-} >"$w/up.out" 2>"$w/up.err" &
  UP=$!; PIDS+=("$UP")
  for _ in $(seq 100); do grep -q "master: http" "$w/up.out" 2>/dev/null && break; sleep 0.1; done
  M=$(grep -o 'master: http://[0-9.:]*' "$w/up.out" | sed 's#master: http://##')
  sleep 1
}

# `drover master` and 4 `drover agent` processes, so the master's memory is its own.
start_split() {
  local w="$OUT/split-$1"; mkdir -p "$w"
  DROVER_LOG=warn "$DROVER" master --work-dir "$w/master" --ip 127.0.0.1 --port 0 >"$w/master.log" 2>&1 &
  MASTER=$!; PIDS+=("$MASTER")
  M=127.0.0.1:$(port_of "$MASTER")
  WATCH=$MASTER
  for i in 0 1 2 3; do
    DROVER_LOG=warn "$DROVER" agent --master "$M" --work-dir "$w/agent-$i" --ip 127.0.0.1 --port 0 \
      --resources "$RES" ${AGENT_FLAGS:-} >"$w/agent-$i.log" 2>&1 &
    PIDS+=("$!"); WATCH="$WATCH,$!"
  done
  sleep 2
}

run() { say "\$ loadgen $*"; "$BIN/loadgen" "$@" 2>>"$OUT/loadgen.err" | tee -a "$LOG"; say ""; }

# A metric of the master at $M.
metric() { curl -s "http://$M/metrics/snapshot" | python3 -c "import json,sys; print(int(json.load(sys.stdin).get('$1', 0)))"; }

# Reads never stall decisions: launches at 100/s with 10,000 tasks running, with and without a
# client polling /master/state (each fetch renders all 10,000 tasks).
stall() {
  local rounds=$1
  say "## Reads never stall decisions: $("$DROVER" --version 2>/dev/null || echo drover) at $DROVER"
  start_split stall
  say "10,000 'exec sleep 3600' tasks kept running by another framework (loadgen hold, 250 per ACCEPT)"
  "$BIN/loadgen" hold -n 10000 --batch 250 --cmd 'exec sleep 3600' --settle-secs 1 \
    --hold-secs 100000 --master "$M" >"$OUT/hold.out" 2>>"$OUT/loadgen.err" &
  HOLD=$!; PIDS+=("$HOLD")
  for _ in $(seq 600); do grep -q "all running" "$OUT/hold.out" && break; sleep 1; done
  cat "$OUT/hold.out" | tee -a "$LOG"
  say "master/tasks_running: $(metric master/tasks_running)"
  sleep 5
  # Each run's 1,000 tasks are killed when its framework leaves: let that end before the next.
  settle() {
    for _ in $(seq 120); do [ "$(metric master/tasks_running)" -le 10000 ] && break; sleep 1; done
    sleep 3
  }
  for i in $(seq "$rounds"); do
    run latency -n 1000 --rate 100 --master "$M" --watch-pids "$WATCH"; settle
    run latency -n 1000 --rate 100 --master "$M" --watch-pids "$WATCH" --state-poller; settle
  done
  # The hold framework goes (its tasks are killed); wait for the agents to have killed them.
  # (TERM: a background job of a script ignores INT.)
  kill -TERM "$HOLD" 2>/dev/null || true
  for _ in $(seq 300); do [ "$(metric master/tasks_running)" = 0 ] && break; sleep 1; done
  say "master/tasks_running after the hold framework left: $(metric master/tasks_running)"
  sleep 5
  cleanup
}

# One local ZooKeeper server (tickTime 2 s, its default), for the lifetime of the script.
zk_start() {
  local d="$OUT/zk"; mkdir -p "$d/data"
  local port; port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  printf 'tickTime=2000\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=srvr\n' \
    "$d/data" "$port" >"$d/zoo.cfg"
  java -Xmx256m -cp "/usr/share/java/zookeeper.jar:/usr/share/java/*:/etc/zookeeper/conf_example" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg" >"$d/zk.log" 2>&1 &
  ZKPID=$!
  trap 'cleanup; kill $ZKPID 2>/dev/null || true' EXIT
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port" && echo srvr >&3 && grep -q Mode <&3) 2>/dev/null && break
    sleep 0.2
  done
  ZK=127.0.0.1:$port
}

# Wait until the master at $M leads with its 4 agents (an HA master first wins its election).
wait_ready() {
  for _ in $(seq 150); do
    n=$(curl -s "http://$M/master/slaves" | python3 -c 'import json,sys; print(sum(1 for s in json.load(sys.stdin)["slaves"] if s["connected"]))' 2>/dev/null || echo 0)
    [ "$n" = 4 ] && return
    sleep 0.2
  done
  echo "the master at $M has not got its 4 agents" >&2; exit 1
}

if [ "${1:-}" = ha ]; then
  say "# drover HA cost benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)"
  lscpu | head -15 | tee -a "$LOG"
  zk_start
  say "ZooKeeper: one server at $ZK ($(java -version 2>&1 | head -1))"
  for i in $(seq "${2:-2}"); do
    for mode in embedded zk; do
      if [ $mode = zk ]; then UP_FLAGS="--zk zk://$ZK/drover-bench-$i/mesos --quorum 1"; else UP_FLAGS=""; fi
      export UP_FLAGS
      say "## $mode store, round $i: throughput, drover up: $N 'true' tasks"
      start_up "tp-$mode-$i"; wait_ready; run throughput -n "$N" --master "$M" --watch-pids "$UP"; cleanup
      say "## $mode store, round $i: latency, drover up: 1,000 'sleep 30' tasks at 100/s"
      start_up "lat-$mode-$i"; wait_ready; run latency -n 1000 --rate 100 --master "$M" --watch-pids "$UP"; cleanup
    done
  done
  say "Logs and work dirs: $OUT"
  exit 0
fi

if [ "${1:-}" = stall ]; then
  say "# drover stall benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)"
  lscpu | head -15 | tee -a "$LOG"
  stall "${2:-2}"
  say "Logs and work dirs: $OUT"
  exit 0
fi

say "# drover end-to-end benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)"
lscpu | head -15 | tee -a "$LOG"
free -g | tee -a "$LOG"
say ""

say "## Floor: fork/exec of 'true' from Rust on this machine"
run forkrate -n 2000 --parallel 1,2,4

say "## Throughput, drover up: $N 'true' tasks, as many per ACCEPT as fit"
start_up tp; run throughput -n "$N" --master "$M" --watch-pids "$UP"; cleanup

say "## Throughput, separate processes: $N 'true' tasks, 250 per ACCEPT"
start_split tp; run throughput -n "$N" --batch 250 --master "$M" --watch-pids "$WATCH"; cleanup

say "## Latency, drover up: 1,000 'sleep 30' tasks at 100/s, ACCEPT -> TASK_RUNNING"
start_up lat; run latency -n 1000 --rate 100 --master "$M" --watch-pids "$UP"; cleanup

say "## Latency, separate processes: 1,000 'sleep 30' tasks at 100/s and at 250/s"
start_split lat100; run latency -n 1000 --rate 100 --master "$M" --watch-pids "$WATCH"; cleanup
start_split lat250; run latency -n 1000 --rate 250 --master "$M" --watch-pids "$WATCH"; cleanup

say "## Memory: master VmRSS per 1,000 running tasks (5,000 'sleep 600', separate processes)"
start_split hold; run hold -n 5000 --batch 250 --settle-secs 12 --master "$M" --master-pid "$MASTER"; cleanup

for A in 1000 5000; do
  say "## Memory: master VmRSS per 1,000 agents ($A hollow agents heartbeating, master alone)"
  w="$OUT/hollow-$A"; mkdir -p "$w"
  DROVER_LOG=warn "$DROVER" master --work-dir "$w/master" --ip 127.0.0.1 --port 0 >"$w/master.log" 2>&1 &
  MASTER=$!; PIDS+=("$MASTER")
  M=127.0.0.1:$(port_of "$MASTER"); sleep 1
  run hollow --agents "$A" --master "$M" --master-pid "$MASTER" --settle-secs 10
  cleanup
done

say "Logs and work dirs: $OUT"
