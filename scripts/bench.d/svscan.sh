#!/usr/bin/env bash
# svscan benchmark: a scan directory of N (default 1000) services, each
# `printf x >> COUNT; exec sleep 86399`, under svkit's svscan, daemontools'
# svscan, runit's runsvdir and s6-svscan (whichever are installed and can
# hold N services). Figures:
#   - time from starting the scanner until the first and until all N `run`
#     scripts have started (COUNT's size), min/median/max over $RUNS runs
#     (default 3), the peers interleaved in a rotating order so load from
#     elsewhere hits them alike;
#   - total RSS and PSS of the scanner plus its supervisors once all are up,
#     and the scanner's own CPU time over $IDLE seconds (default 30) of idle
#     (from /proc/PID/schedstat), first run of each;
#   - with RESCAN=1, the scanner's CPU for one forced rescan (SIGALRM).
# Fairness on this kind of machine:
#   - the observer polls COUNT from a SCHED_FIFO python loop when run as
#     root (chrt), so 1000 runnable processes cannot starve the stopwatch;
#   - every tree is made before the first run and left in place until the
#     end, then $AGE seconds (default 35) pass before timing: on ext4 without
#     a journal, inode allocation skips inodes deleted in the last ~30 s one
#     by one, so a tree removed just before a run would slow whoever runs
#     next.
# Every process started is killed by pid (the scanner and all its
# descendants) after each run and on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench-lib.sh
N=${N:-1000}
IDLE=${IDLE:-30}
RUNS=${SVSCAN_RUNS:-${RUNS:-3}}
AGE=${AGE:-35}
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
  scanner=
}
cleanup() { kill_tree; rm -rf "$work"; }
trap cleanup EXIT

make_tree() { # dir
  mkdir -p "$1"
  : >"$1.count"
  for i in $(seq 1 "$N"); do
    mkdir "$1/s$i"
    printf '#!/bin/sh\nprintf x >>%s\nexec sleep %s\n' "$1.count" "$MARK" >"$1/s$i/run"
    chmod +x "$1/s$i/run"
  done
}

cmd_of() { # IMPL DIR -> the scanner's command line
  case $1 in
    svkit) echo "$SVKIT_BIN/svscan -c $N $2" ;;
    daemontools) echo "env PATH=/usr/bin:/bin /usr/bin/svscan $2" ;;
    runit) echo "env PATH=/usr/bin:/bin /usr/bin/runsvdir -P $2" ;;
    s6) echo "env PATH=/usr/bin:/bin /usr/bin/s6-svscan -c $((2 * N)) $2" ;;
  esac
}

# observe COUNTFILE CMD...: starts CMD; prints "FIRST_S ALL_S PID" once
# COUNTFILE holds N bytes (or after 300 s: "- - PID").
observe() {
  local rt=()
  [ "$(id -u)" = 0 ] && have chrt && rt=(chrt -f 1)
  "${rt[@]}" python3 - "$N" "$@" <<'EOF'
import os, sys, time, subprocess
n, cnt, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
null = os.open(os.devnull, os.O_RDWR)
def normal():
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdin=null, stdout=null, stderr=null, preexec_fn=normal)
first = None
while True:
    s = os.stat(cnt).st_size
    t = time.monotonic()
    if first is None and s >= 1:
        first = t
    if s >= n:
        print(f"{first - t0:.3f} {t - t0:.3f} {p.pid}")
        break
    if t - t0 > 300:
        print(f"- - {p.pid}")
        break
    time.sleep(0.002)
EOF
}

running() { pgrep -c -x -f "sleep $MARK" 2>/dev/null || true; }
cpu_ns() { awk '{print $1}' "/proc/$1/schedstat" 2>/dev/null || echo 0; }
tree_kb() { # FIELD: sum over scanner + direct children (the supervisors)
  local p
  for p in "$scanner" $(pgrep -P "$scanner"); do
    cat "/proc/$p/smaps_rollup" 2>/dev/null
  done | awk -v f="$1:" '$1 == f { t += $2 } END { print t + 0 }'
}
mmm() { # min/median/max of the numbers on stdin
  sort -g | awk '{a[NR]=$1} END { if (NR == 0) { print "-"; exit }
    m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2
    printf "%s/%.3f/%s\n", a[1], m, a[NR] }'
}

impls=()
for impl in svkit daemontools runit s6; do
  case $impl in
    svkit) [ -x "$SVKIT_BIN/svscan" ] || continue ;;
    daemontools) have /usr/bin/svscan && [ -d /usr/share/doc/daemontools ] && [ "$N" -le 1000 ] || continue ;;
    runit) have runsvdir && [ "$N" -le 1000 ] || continue ;;
    s6) have s6-svscan || continue ;;
  esac
  impls+=("$impl")
done
if [ "$(running)" != 0 ]; then
  echo "svscan bench: stray 'sleep $MARK' processes exist: not running"
  exit 0
fi
for r in $(seq 1 "$RUNS"); do
  for impl in "${impls[@]}"; do make_tree "$work/$impl-$r"; done
done
echo "svscan bench: $N services, $RUNS runs, ${#impls[@]} scanners; trees made, waiting ${AGE}s; load $(cut -d' ' -f1-3 /proc/loadavg)"
sleep "$AGE"

declare -A UP FIRST RSS PSS CPU RESCAN
k=${#impls[@]}
for r in $(seq 1 "$RUNS"); do
  for j in $(seq 0 $((k - 1))); do
    impl=${impls[$(((j + r - 1) % k))]}
    dir=$work/$impl-$r
    load=$(cut -d' ' -f1 /proc/loadavg)
    # shellcheck disable=SC2046
    read -r first all pid < <(observe "$dir.count" $(cmd_of "$impl" "$dir"))
    scanner=$pid
    echo "svscan bench: run $r $impl: first up ${first}s, all up ${all}s (load $load)"
    UP[$impl]="${UP[$impl]:-} $all"
    FIRST[$impl]="${FIRST[$impl]:-} $first"
    if [ "$r" = 1 ]; then
      sleep 1
      RSS[$impl]=$(awk -v k="$(tree_kb Rss)" 'BEGIN{printf "%.1f", k/1024}')
      PSS[$impl]=$(awk -v k="$(tree_kb Pss)" 'BEGIN{printf "%.1f", k/1024}')
      c0=$(cpu_ns "$scanner")
      sleep "$IDLE"
      c1=$(cpu_ns "$scanner")
      CPU[$impl]=$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.1f", (b-a)/1e6}')
      if [ "${RESCAN:-0}" = 1 ] && [ "$impl" = svkit ]; then
        c0=$(cpu_ns "$scanner")
        kill -ALRM "$scanner"
        sleep 2
        c1=$(cpu_ns "$scanner")
        RESCAN[$impl]=$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.1f", (b-a)/1e6}')
        echo "svscan bench: $impl: one forced rescan of $N directories: ${RESCAN[$impl]} ms CPU"
      fi
    fi
    kill_tree
  done
done

med() { printf '%s\n' $1 | median; }
for impl in "${impls[@]}"; do
  echo "svscan bench: $impl: all up min/median/max $(printf '%s\n' ${UP[$impl]} | mmm) s;" \
    "first up $(printf '%s\n' ${FIRST[$impl]} | mmm) s; rss ${RSS[$impl]} MiB; pss ${PSS[$impl]} MiB; idle cpu ${CPU[$impl]} ms"
done
v() { echo "${1:--}"; }
m() { [ -n "${1:-}" ] && med "$1" || echo -; }
row "svscan: $N services all up (median)" s lower "$(m "${UP[svkit]:-}")" "$(m "${UP[daemontools]:-}")" "$(m "${UP[runit]:-}")" "$(m "${UP[s6]:-}")" -
row "svscan: $N services, first up (median)" s lower "$(m "${FIRST[svkit]:-}")" "$(m "${FIRST[daemontools]:-}")" "$(m "${FIRST[runit]:-}")" "$(m "${FIRST[s6]:-}")" 0.05
row "svscan: RSS scanner+supervisors, $N services" MiB lower "$(v "${RSS[svkit]:-}")" "$(v "${RSS[daemontools]:-}")" "$(v "${RSS[runit]:-}")" "$(v "${RSS[s6]:-}")" -
row "svscan: PSS scanner+supervisors, $N services" MiB lower "$(v "${PSS[svkit]:-}")" "$(v "${PSS[daemontools]:-}")" "$(v "${PSS[runit]:-}")" "$(v "${PSS[s6]:-}")" -
row "svscan: scanner CPU over ${IDLE}s idle, $N services" ms lower "$(v "${CPU[svkit]:-}")" "$(v "${CPU[daemontools]:-}")" "$(v "${CPU[runit]:-}")" "$(v "${CPU[s6]:-}")" -
