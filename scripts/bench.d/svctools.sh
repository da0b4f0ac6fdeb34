#!/usr/bin/env bash
# Per-call time of svstat and svc -h (1000 calls each, medians of $RUNS),
# svkit vs daemontools, runit (sv status / sv hup) and s6 (s6-svstat /
# s6-svc -h), each against its own running supervisor. Installs nothing;
# stops every process it started, by pid.
set -u
here="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=../bench-lib.sh
. "$here/bench-lib.sh"
BIN="${SVKIT_BIN:-$here/../target/release}"
RUNS="${RUNS:-3}"
CALLS="${CALLS:-1000}"
work="$(mktemp -d /tmp/svkit-bench-svctools.XXXXXX)"
pids=()

cleanup() {
  [ -x "$BIN/svc" ] && "$BIN/svc" -dx "$work"/svkit "$work"/dt 2>/dev/null
  have sv && sv exit "$work/runit" >/dev/null 2>&1
  have s6-svc && s6-svc -xd "$work/s6" 2>/dev/null
  sleep 0.3
  for p in "${pids[@]}"; do
    # The service process first (its pid from /proc children), then the supervisor.
    for c in $(cat "/proc/$p/task/$p/children" 2>/dev/null); do kill -9 "$c" 2>/dev/null; done
    kill -9 "$p" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

mksvc() {
  mkdir -p "$work/$1"
  printf '#!/bin/sh\ntrap "" HUP\nexec sleep 100000\n' >"$work/$1/run"
  chmod +x "$work/$1/run"
}

# start NAME PROGRAM: starts a supervisor on $work/NAME, records its pid.
start() {
  mksvc "$1"
  "$2" "$work/$1" </dev/null >/dev/null 2>&1 &
  pids+=($!)
}

# waitok CHECK...: up to 5 s for a supervisor to answer.
waitok() {
  for _ in $(seq 50); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# percall CMD...: microseconds per call of CMD, median of $RUNS x $CALLS.
percall() {
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s%N)
    for ((i = 0; i < CALLS; i++)); do "$@" >/dev/null 2>&1; done
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / CALLS / 1000 ))
  done | median
}

ours_svstat=- ours_svc=- dt_svstat=- dt_svc=- rn_svstat=- rn_svc=- s6_svstat=- s6_svc=-

if [ -x "$BIN/svstat" ]; then
  # Our tools against our supervise when it runs, else against djb's.
  start svkit "$BIN/supervise"
  if ! waitok "$BIN/svok" "$work/svkit"; then
    echo "svctools: our supervise did not start; timing our tools against djb's supervise"
    kill -9 "${pids[-1]}" 2>/dev/null
    rm -rf "$work/svkit"
    have supervise && start svkit "$(command -v supervise)" && waitok "$BIN/svok" "$work/svkit"
  fi
  ours_svstat=$(percall "$BIN/svstat" "$work/svkit")
  ours_svc=$(percall "$BIN/svc" -h "$work/svkit")
fi
if [ -x /usr/bin/svstat ] && [ -x /usr/bin/supervise ]; then
  start dt /usr/bin/supervise
  if waitok /usr/bin/svok "$work/dt"; then
    dt_svstat=$(percall /usr/bin/svstat "$work/dt")
    dt_svc=$(percall /usr/bin/svc -h "$work/dt")
  fi
fi
if have runsv && have sv; then
  start runit "$(command -v runsv)"
  if waitok sv status "$work/runit"; then
    rn_svstat=$(percall sv status "$work/runit")
    rn_svc=$(percall sv hup "$work/runit")
  fi
fi
if have s6-supervise && have s6-svstat; then
  start s6 "$(command -v s6-supervise)"
  if waitok s6-svok "$work/s6"; then
    s6_svstat=$(percall s6-svstat "$work/s6")
    s6_svc=$(percall s6-svc -h "$work/s6")
  fi
fi
echo "svctools: $CALLS calls per run, $RUNS runs; times include the shell's fork+exec"
row "svstat per call" us lower "$ours_svstat" "$dt_svstat" "$rn_svstat" "$s6_svstat" -
row "svc -h per call" us lower "$ours_svc" "$dt_svc" "$rn_svc" "$s6_svc" -
