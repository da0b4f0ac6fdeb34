#!/usr/bin/env bash
# supervise: idle RSS of one supervisor (svkit, daemontools' supervise,
# runit's runsv, s6-supervise) and restart reaction: time from `svc -t` to
# the new pid in supervise/status (svkit vs daemontools), medians of $RUNS.
# Installs nothing; skips peers that are missing; kills what it starts by pid.
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench-lib.sh
SVKIT_BIN="${SVKIT_BIN:-$PWD/target/release}"
RUNS="${RUNS:-3}"
work=$(mktemp -d /tmp/svkit-bench-supervise.XXXXXX)
pids=()
cleanup() {
  local p c
  for p in "${pids[@]}"; do
    for c in $(cat "/proc/$p/task/$p/children" 2>/dev/null); do kill -KILL "$c" 2>/dev/null; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  pids=()
}
trap 'cleanup; rm -rf "$work"' EXIT

mksvc() { # mksvc DIR: a service that sleeps
  mkdir -p "$1"
  printf '#!/bin/sh\nexec sleep 1000\n' >"$1/run"
  chmod 755 "$1/run"
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
status_pid() { od -An -tu4 -j12 -N4 "$1/supervise/status" 2>/dev/null | tr -d ' '; }

# wait_child SUPERVISOR_PID: until it has a child (at most 5 s)
wait_child() {
  local i
  for i in $(seq 500); do
    [ -n "$(cat "/proc/$1/task/$1/children" 2>/dev/null)" ] && return 0
    sleep 0.01
  done
  return 1
}

# rss PROGRAM: median idle RSS (KiB) of PROGRAM DIR with one running child
rss() {
  local prog=$1 r dir pid
  for r in $(seq "$RUNS"); do
    dir="$work/rss-$(basename "$prog")-$r"
    mksvc "$dir"
    "$prog" "$dir" </dev/null >/dev/null 2>&1 &
    pid=$!
    pids+=("$pid")
    wait_child "$pid" || { echo "no child for $prog" >&2; cleanup; continue; }
    sleep 0.5
    rss_kb "$pid"
    cleanup
  done | median
}

# restart PROGRAM: median ms from `t` on the control fifo to a new pid in status
restart() {
  local prog=$1 r dir pid old new t0 t1 i
  for r in $(seq "$RUNS"); do
    dir="$work/restart-$(basename "$(dirname "$prog")")-$r"
    mksvc "$dir"
    "$prog" "$dir" </dev/null >/dev/null 2>&1 &
    pid=$!
    pids+=("$pid")
    wait_child "$pid" || { cleanup; continue; }
    sleep 1.2 # past the one-start-per-second floor
    old=$(status_pid "$dir")
    t0=$(now_ms)
    printf t >"$dir/supervise/control"
    for i in $(seq 5000); do
      new=$(status_pid "$dir")
      [ -n "$new" ] && [ "$new" != 0 ] && [ "$new" != "$old" ] && break
    done
    t1=$(now_ms)
    echo $((t1 - t0))
    cleanup
  done | median
}

ours="$SVKIT_BIN/supervise"
[ -x "$ours" ] || { echo "no $ours: build with cargo build --release" >&2; exit 1; }
dt=-; rn=-; s6=-
have_dt=false
[ -x /usr/bin/supervise ] && [ -d /usr/share/doc/daemontools ] && have_dt=true

o=$(rss "$ours")
$have_dt && dt=$(rss /usr/bin/supervise)
have runsv && rn=$(rss "$(command -v runsv)")
have s6-supervise && s6=$(rss "$(command -v s6-supervise)")
lim=-
[ "$dt" != - ] && lim=$(awk -v d="$dt" 'BEGIN{printf "%.0f", d*1.5}')
row "supervise idle RSS (one service)" KiB lower "$o" "$dt" "$rn" "$s6" "$lim"

o=$(restart "$ours")
dt=-
$have_dt && dt=$(restart /usr/bin/supervise)
row "restart: svc -t to new pid in status" ms lower "$o" "$dt" - - 1100

# crashloop PROGRAM: CPU ms the supervisor itself uses in 3 s of a run
# that exits at once (restarted once per second)
crashloop() {
  local prog=$1 r dir pid tck
  tck=$(getconf CLK_TCK)
  for r in $(seq "$RUNS"); do
    dir="$work/crash-$(basename "$prog")-$r"
    mkdir -p "$dir"
    printf '#!/bin/sh\nexit 1\n' >"$dir/run"
    chmod 755 "$dir/run"
    "$prog" "$dir" </dev/null >/dev/null 2>&1 &
    pid=$!
    pids+=("$pid")
    sleep 3
    # schedstat's first field: ns on CPU (finer than stat's clock ticks)
    if [ -r "/proc/$pid/schedstat" ]; then
      awk '{printf "%.2f\n", $1 / 1e6}' "/proc/$pid/schedstat"
    else
      awk -v t="$tck" '{sub(/.*\) /, ""); split($0, f, " "); printf "%d\n", (f[12] + f[13]) * 1000 / t}' "/proc/$pid/stat"
    fi
    cleanup
  done | median
}

o=$(crashloop "$ours")
dt=-; rn=-; s6=-
$have_dt && dt=$(crashloop /usr/bin/supervise)
have runsv && rn=$(crashloop "$(command -v runsv)")
have s6-supervise && s6=$(crashloop "$(command -v s6-supervise)")
row "crash loop: supervisor CPU in 3 s" ms lower "$o" "$dt" "$rn" "$s6" 300
