#!/usr/bin/env bash
# Logger throughput: 1,000,000 lines of 100 bytes (100 MB) through
#   svkit   multilog t s16777215 n20 ./dir
#   djb     multilog t s16777215 n20 ./dir   (Debian daemontools)
#   runit   svlogd -tt ./dir
#   s6      s6-log t s16777215 n20 ./dir
#   limit   cat > file
# The input is piped in (`cat input | logger`, as a supervised logger reads
# a pipe). Input and output live on tmpfs (/dev/shm, or $BENCH_DIR) so the
# figures measure the loggers, not the disk. Runs are interleaved (svkit,
# djb, runit, s6, cat, then again) so that load from elsewhere hits every
# peer alike. Reports MB/s, CPU seconds per 100 MB and peak RSS as
# medians of $RUNS, with min/median/max on stderr, and checks every line
# arrived.
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/../.."
source scripts/bench-lib.sh
RUNS="${RUNS:-3}"
SVKIT_BIN="${SVKIT_BIN:-$PWD/target/release}"
LINES=1000000
base="${BENCH_DIR:-/dev/shm}"
[ -d "$base" ] && [ -w "$base" ] || base=/tmp
work=$(mktemp -d "$base/svkit-bench-multilog.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ ! -x /usr/bin/time ]; then
  echo "multilog: skipped: /usr/bin/time is missing"
  exit 0
fi
input="$work/input"
# 9-digit line number, a space, 89 x's, newline: 100 bytes a line.
awk -v n=$LINES 'BEGIN { x = sprintf("%89s", ""); gsub(/ /, "x", x);
  for (i = 0; i < n; i++) printf "%09d %s\n", i, x }' >"$input"
bytes=$(stat -c %s "$input")
echo "multilog: input $LINES lines, $bytes bytes, in $base"

# one NAME: runs the logger once; prints "MBps CPUsPer100MB RSSKB" or
# nothing when the output does not hold every line.
one() {
  local name=$1 out="$work/out-$1" t0 t1 stats lines
  rm -rf "$out"
  mkdir -p "$out"
  t0=$EPOCHREALTIME
  case $name in
    svkit) (cd "$out" && cat "$input" | /usr/bin/time -o "$work/time" -f '%U %S %M' \
            "$SVKIT_BIN/multilog" t s16777215 n20 ./dir) ;;
    djb)   (cd "$out" && cat "$input" | /usr/bin/time -o "$work/time" -f '%U %S %M' \
            /usr/bin/multilog t s16777215 n20 ./dir) ;;
    runit) mkdir -p "$out/dir"
           printf 's16777215\nn20\n' >"$out/dir/config"
           (cd "$out" && cat "$input" | /usr/bin/time -o "$work/time" -f '%U %S %M' \
            svlogd -tt ./dir) ;;
    s6)    (cd "$out" && cat "$input" | /usr/bin/time -o "$work/time" -f '%U %S %M' \
            s6-log t s16777215 n20 ./dir) ;;
    cat)   mkdir -p "$out/dir"
           cat "$input" | /usr/bin/time -o "$work/time" -f '%U %S %M' cat >"$out/dir/current" ;;
  esac
  t1=$EPOCHREALTIME
  lines=$(cat "$out"/dir/@* "$out"/dir/current | wc -l)
  if [ "$lines" -ne $LINES ]; then
    echo "multilog: $name wrote $lines lines, want $LINES" >&2
    rm -rf "$out"
    return 0
  fi
  read -r u s m <"$work/time"
  awk -v b="$bytes" -v t0="$t0" -v t1="$t1" -v u="$u" -v s="$s" -v m="$m" \
    'BEGIN { e = t1 - t0; printf "%.0f %.3f %d\n", b / 1e6 / e, (u + s) * 1e8 / b, m }'
  rm -rf "$out"
}

declare -A mbps cpu rss skip
names="svkit djb runit s6 cat"
for name in $names; do
  case $name in
    djb) [ -x /usr/bin/multilog ] && [ -d /usr/share/doc/daemontools ] || skip[$name]=1 ;;
    runit) have svlogd || skip[$name]=1 ;;
    s6) have s6-log || skip[$name]=1 ;;
  esac
  : >"$work/results-$name"
done
echo "multilog: load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq "$RUNS"); do
  for name in $names; do
    [ -z "${skip[$name]:-}" ] || continue
    one "$name" >>"$work/results-$name"
  done
done
echo "multilog: load after: $(cut -d' ' -f1-3 /proc/loadavg)"
# min/median/max of column $1 of a results file
mmm() { awk -v c="$1" '{print $c}' "$2" | sort -g | awk '{a[NR]=$1} END{ if (NR==0) print "-"; else printf "%s/%s/%s", a[1], (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2), a[NR] }'; }
for name in $names; do
  f="$work/results-$name"
  if [ -n "${skip[$name]:-}" ] || [ ! -s "$f" ]; then
    mbps[$name]=-; cpu[$name]=-; rss[$name]=-
    continue
  fi
  mbps[$name]=$(awk '{print $1}' "$f" | median)
  cpu[$name]=$(awk '{print $2}' "$f" | median)
  rss[$name]=$(awk '{print $3}' "$f" | median)
  echo "multilog: $name: MB/s $(mmm 1 "$f"), CPU s/100MB $(mmm 2 "$f"), peak RSS KB $(mmm 3 "$f") (min/median/max)"
done
# Ratios within each round (same load): svkit MB/s over the peer's.
for name in djb runit s6; do
  f="$work/results-$name"
  [ -s "$f" ] && [ -s "$work/results-svkit" ] || continue
  echo "multilog: svkit/$name MB/s per round: $(paste -d' ' "$work/results-svkit" "$f" | awk '{printf "%.2fx ", $1 / $4}')"
done

row "logger t s16777215 n20, 1M x 100 B" "MB/s" higher \
  "${mbps[svkit]}" "${mbps[djb]}" "${mbps[runit]}" "${mbps[s6]}" "${mbps[cat]}"
row "logger CPU per 100 MB" "s" lower \
  "${cpu[svkit]}" "${cpu[djb]}" "${cpu[runit]}" "${cpu[s6]}" "${cpu[cat]}"
row "logger peak RSS" "KB" lower \
  "${rss[svkit]}" "${rss[djb]}" "${rss[runit]}" "${rss[s6]}" "${rss[cat]}"
