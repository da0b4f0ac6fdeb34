#!/usr/bin/env bash
# invoker/booster: launch-to-exit latency of `invoker /bin/true` against
# plain fork+exec of /bin/true and against s6-sudo (s6-ipcserver +
# s6-sudod), interleaved in rounds so all three see the same load; RUNS
# runs of N launches each, reported as the median and as min/median/max
# (with the ratios taken within each run); and the booster's RSS idle and
# with 100 live instances.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench-lib.sh
BIN="${SVKIT_BIN:-$PWD/target/release}"
have hyperfine || { echo "booster: hyperfine not installed, skipped"; exit 0; }
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

load0=$(cut -d' ' -f1-3 /proc/loadavg)
"$BIN/booster" -e "$dir/sock" 2>/dev/null &
pids+=($!); booster=$!
wait_sock "$dir/sock"
s6=-
if have s6-ipcserver && have s6-sudod && have s6-sudo; then
  s6-ipcserver "$dir/s6sock" s6-sudod /bin/true 2>/dev/null &
  pids+=($!); s6server=$!
  wait_sock "$dir/s6sock"
fi

# One run = CHUNKS rounds; each round runs plain /bin/true, the invoker and
# s6-sudo back to back (hyperfine -N, N/CHUNKS launches each), so the three
# see the same load; a run's figure per command is the median of its rounds'
# medians, and its ratios are taken within the run.
CHUNKS="${BENCH_CHUNKS:-10}"
per=$(( N / CHUNKS )); [ "$per" -ge 5 ] || per=5
cmds=(/bin/true "$BIN/invoker -s $dir/sock /bin/true")
[ -n "${s6server:-}" ] && cmds+=("s6-sudo $dir/s6sock")
: >"$dir/runs"
for r in $(seq "$RUNS"); do
  : >"$dir/rounds"
  for _ in $(seq "$CHUNKS"); do
    hyperfine -N --warmup 5 --runs "$per" --export-csv "$dir/h.csv" "${cmds[@]}" >/dev/null 2>&1
    # one line per round: plain invoker [s6], medians in ms
    awk -F, 'NR>1{printf "%s%.4f", (NR>2?" ":""), $4*1000} END{print ""}' "$dir/h.csv" >>"$dir/rounds"
  done
  p=$(awk '{print $1}' "$dir/rounds" | median)
  i=$(awk '{print $2}' "$dir/rounds" | median)
  s=$(awk '{print ($3==""?"-":$3)}' "$dir/rounds" | median)
  echo "$p $i $s" >>"$dir/runs"
  echo "run $r: plain $p ms, invoker $i ms, s6-sudo $s ms; invoker/plain $(awk -v a="$i" -v b="$p" 'BEGIN{printf "%.2f", a/b}')x, s6-sudo/invoker $(awk -v a="$s" -v b="$i" 'BEGIN{ if (a!="-") printf "%.2f", a/b; else print "-"}')x"
done
col() { awk -v c="$1" '{print $c}' "$dir/runs"; }
mmm() { sort -g | awk '{a[NR]=$1} END{printf "%s/%s/%s", a[1], (NR%2?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2), a[NR]}'; }
plain=$(col 1 | median); inv=$(col 2 | median); s6=$(col 3 | median)
ratio=$(awk '{printf "%.3f\n", $2/$1}' "$dir/runs")
s6ratio=$(awk '$3!="-"{printf "%.3f\n", $3/$2}' "$dir/runs")
echo "load before/after: $load0 / $(cut -d' ' -f1-3 /proc/loadavg)"
echo "min/median/max over $RUNS runs: plain $(col 1 | mmm) ms; invoker $(col 2 | mmm) ms; s6-sudo $(col 3 | mmm) ms"
echo "invoker/fork+exec (within each run) min/median/max: $(echo "$ratio" | mmm)x; s6-sudo/invoker: $( [ -n "$s6ratio" ] && echo "$s6ratio" | mmm || echo -)x"
limit=$(awk -v p="$plain" 'BEGIN{printf "%.3f", 2*p}')
row "launch-to-exit /bin/true: invoker (s6: s6-sudo); limit 2x fork+exec" ms lower "$inv" - - "$s6" "$limit"
row "launch-to-exit /bin/true: plain fork+exec (reference)" ms lower "$plain" - - - -

idle=$(rss_kb "$booster")
s6idle=-
[ -n "${s6server:-}" ] && s6idle=$(rss_kb "$s6server")
row "booster RSS idle (s6: s6-ipcserver)" KiB lower "$idle" - - "$s6idle" -
for _ in $(seq 100); do
  "$BIN/invoker" -s "$dir/sock" -n sleep 1000 >/dev/null 2>&1 </dev/null
done
live=$(grep -c . "$dir/sock.instances" || true)
row "booster RSS with $live live instances" KiB lower "$(rss_kb "$booster")" - - - -
