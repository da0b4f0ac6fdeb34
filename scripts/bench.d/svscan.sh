#!/usr/bin/env bash
# svscan benchmark: a scan directory of N (default 1000) services, each
# `printf x >> COUNT; exec sleep 86399`, under svkit's svscan, daemontools'
# svscan, runit's runsvdir and s6-svscan (whichever are installed). Figures:
#   - time from starting the scanner until all N `run` scripts have started
#     (COUNT holds N bytes; polling a file size keeps the observer cheap),
#     medians of $RUNS runs;
#   - total RSS, and total PSS (shared pages divided among their users), of
#     the scanner plus its supervisors (supervise / runsv / s6-supervise)
#     once all are up (first run);
#   - the scanner's own CPU time over $IDLE seconds (default 30) of idle,
#     from /proc/PID/schedstat (ns), first run only.
# Every process started is killed by pid (the scanner and all its
# descendants) after each run and on exit. A 1000-service run costs ~45 s
# per peer (tree, start, 30 s idle, kill), so this script does ONE run per
# peer whatever $RUNS says (about 3 minutes in all); SVSCAN_RUNS=N asks for
# N runs of the all-up figure (medians), N=1000 and IDLE=30 are defaults.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench-lib.sh
N=${N:-1000}
IDLE=${IDLE:-30}
RUNS=${SVSCAN_RUNS:-1}
SVKIT_BIN=${SVKIT_BIN:-$PWD/target/release}
MARK=86399
work=$(mktemp -d /tmp/svkit-bench-svscan.XXXXXX)
scanner=

descendants() { # pid -> all descendant pids
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { kids[$2] = kids[$2] " " $1 }
    END { n = split(kids[root], q, " "); i = 1
          while (i <= n) { p = q[i++]; print p; m = split(kids[p], c, " "); for (j = 1; j <= m; j++) q[++n] = c[j] } }'
}

kill_tree() {
  [ -n "$scanner" ] || return 0
  local pids
  pids="$scanner $(descendants "$scanner" | tr '\n' ' ')"
  # shellcheck disable=SC2086
  kill -STOP $pids 2>/dev/null || true
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  wait "$scanner" 2>/dev/null || true
  scanner=
}
cleanup() { kill_tree; rm -rf "$work"; }
trap cleanup EXIT

make_tree() { # dir
  rm -rf "$1"
  mkdir -p "$1"
  : >"$1.count"
  for i in $(seq 1 "$N"); do
    mkdir "$1/s$i"
    printf '#!/bin/sh\nprintf x >>%s\nexec sleep %s\n' "$1.count" "$MARK" >"$1/s$i/run"
    chmod +x "$1/s$i/run"
  done
}

running() { pgrep -c -x -f "sleep $MARK" 2>/dev/null || true; }
started() { stat -c %s "$1.count" 2>/dev/null || echo 0; }

now_ns() { date +%s%N; }

# start IMPL DIR: sets $scanner
start() {
  case $1 in
    svkit) "$SVKIT_BIN/svscan" "$2" </dev/null >/dev/null 2>&1 & ;;
    daemontools) env PATH=/usr/bin:/bin /usr/bin/svscan "$2" </dev/null >/dev/null 2>&1 & ;;
    runit) env PATH=/usr/bin:/bin /usr/bin/runsvdir -P "$2" </dev/null >/dev/null 2>&1 & ;;
    s6) env PATH=/usr/bin:/bin /usr/bin/s6-svscan -c $((2 * N)) "$2" </dev/null >/dev/null 2>&1 & ;;
  esac
  scanner=$!
}

cpu_ns() { awk '{print $1}' "/proc/$1/schedstat" 2>/dev/null || echo 0; }

tree_kb() { # FIELD: sum over scanner + direct children (the supervisors)
  local p
  for p in "$scanner" $(pgrep -P "$scanner"); do
    cat "/proc/$p/smaps_rollup" 2>/dev/null
  done | awk -v f="$1:" '$1 == f { t += $2 } END { print t + 0 }'
}

declare -A UP RSS PSS CPU
for impl in svkit daemontools runit s6; do
  case $impl in
    svkit) [ -x "$SVKIT_BIN/svscan" ] || continue ;;
    daemontools) have /usr/bin/svscan && [ -d /usr/share/doc/daemontools ] || continue ;;
    runit) have runsvdir || continue ;;
    s6) have s6-svscan || continue ;;
  esac
  if [ "$(running)" != 0 ]; then
    echo "svscan bench: stray 'sleep $MARK' processes exist; skipping $impl"
    continue
  fi
  times=()
  for r in $(seq 1 "$RUNS"); do
    dir=$work/$impl-$r
    make_tree "$dir"
    t0=$(now_ns)
    start "$impl" "$dir"
    deadline=$((t0 + 120000000000))
    while [ "$(started "$dir")" -lt "$N" ]; do
      if [ "$(now_ns)" -gt "$deadline" ]; then
        echo "svscan bench: $impl: only $(started "$dir")/$N up after 120 s"
        break
      fi
      sleep 0.01
    done
    t1=$(now_ns)
    times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}')")
    if [ "$r" = 1 ]; then
      sleep 1
      RSS[$impl]=$(awk -v k="$(tree_kb Rss)" 'BEGIN{printf "%.1f", k/1024}')
      PSS[$impl]=$(awk -v k="$(tree_kb Pss)" 'BEGIN{printf "%.1f", k/1024}')
      c0=$(cpu_ns "$scanner")
      sleep "$IDLE"
      c1=$(cpu_ns "$scanner")
      CPU[$impl]=$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.1f", (b-a)/1e6}')
    fi
    kill_tree
    rm -rf "$dir" "$dir.count"
  done
  UP[$impl]=$(printf '%s\n' "${times[@]}" | median)
  echo "svscan bench: $impl: up ${times[*]} s; rss ${RSS[$impl]} MiB; pss ${PSS[$impl]} MiB; idle cpu ${CPU[$impl]} ms"
done

v() { echo "${1:--}"; }
row "svscan: $N services all up" s lower "$(v "${UP[svkit]:-}")" "$(v "${UP[daemontools]:-}")" "$(v "${UP[runit]:-}")" "$(v "${UP[s6]:-}")" -
row "svscan: RSS scanner+supervisors, $N services" MiB lower "$(v "${RSS[svkit]:-}")" "$(v "${RSS[daemontools]:-}")" "$(v "${RSS[runit]:-}")" "$(v "${RSS[s6]:-}")" -
row "svscan: PSS scanner+supervisors, $N services" MiB lower "$(v "${PSS[svkit]:-}")" "$(v "${PSS[daemontools]:-}")" "$(v "${PSS[runit]:-}")" "$(v "${PSS[s6]:-}")" -
row "svscan: scanner CPU over ${IDLE}s idle, $N services" ms lower "$(v "${CPU[svkit]:-}")" "$(v "${CPU[daemontools]:-}")" "$(v "${CPU[runit]:-}")" "$(v "${CPU[s6]:-}")" -
