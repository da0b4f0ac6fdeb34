#!/usr/bin/env bash
# invoker/booster: launch-to-exit latency of `invoker /bin/true` against
# plain fork+exec of /bin/true and against s6-sudo (s6-ipcserver +
# s6-sudod), median of 1000 runs each (median of $RUNS such medians); and
# the booster's RSS idle and with 100 live instances.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench-lib.sh
BIN="${SVKIT_BIN:-$PWD/target/release}"
RUNS="${RUNS:-3}"
N="${BENCH_LAUNCHES:-1000}"
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT

wait_sock() { for _ in $(seq 200); do [ -S "$1" ] && return 0; sleep 0.02; done; return 1; }

# median launch-to-exit time in ms of the command "$@", N runs
latency() {
  if have hyperfine; then
    hyperfine -N --warmup 20 --runs "$N" --export-csv "$dir/h.csv" "$*" >/dev/null 2>&1
    awk -F, 'NR==2{printf "%.3f\n", $4*1000}' "$dir/h.csv"
  else
    for _ in $(seq "$N"); do
      a=$(date +%s%N); "$@" >/dev/null 2>&1 || true; b=$(date +%s%N)
      echo $(( (b - a) / 1000 ))
    done | median | awk '{printf "%.3f\n", $1/1000}'
  fi
}
median_of_runs() { for _ in $(seq "$RUNS"); do latency "$@"; done | median; }

"$BIN/booster" -e "$dir/sock" 2>/dev/null &
pids+=($!); booster=$!
wait_sock "$dir/sock"
s6=-
if have s6-ipcserver && have s6-sudod && have s6-sudo; then
  s6-ipcserver "$dir/s6sock" s6-sudod /bin/true 2>/dev/null &
  pids+=($!); s6server=$!
  wait_sock "$dir/s6sock"
fi

plain=$(median_of_runs /bin/true)
inv=$(median_of_runs "$BIN/invoker" -s "$dir/sock" /bin/true)
[ -n "${s6server:-}" ] && s6=$(median_of_runs s6-sudo "$dir/s6sock")
limit=$(awk -v p="$plain" 'BEGIN{printf "%.3f", 2*p}')
row "launch-to-exit /bin/true: invoker (s6: s6-sudo); limit 2x fork+exec" ms lower "$inv" - - "$s6" "$limit"
row "launch-to-exit /bin/true: plain fork+exec (reference)" ms lower "$plain" - - - -
echo "invoker/fork+exec = $(awk -v a="$inv" -v b="$plain" 'BEGIN{printf "%.2f", a/b}')x; s6-sudo/invoker = $(awk -v a="$s6" -v b="$inv" 'BEGIN{ if (b+0>0 && a!="-") printf "%.2f", a/b; else print "-"}')x"

idle=$(rss_kb "$booster")
s6idle=-
[ -n "${s6server:-}" ] && s6idle=$(rss_kb "$s6server")
row "booster RSS idle (s6: s6-ipcserver)" KiB lower "$idle" - - "$s6idle" -
for _ in $(seq 100); do
  "$BIN/invoker" -s "$dir/sock" -n sleep 1000 >/dev/null 2>&1 </dev/null
done
live=$(grep -c . "$dir/sock.instances" || true)
row "booster RSS with $live live instances" KiB lower "$(rss_kb "$booster")" - - - -
