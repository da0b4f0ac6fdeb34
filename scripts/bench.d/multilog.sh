#!/usr/bin/env bash
# Logger throughput: 1,000,000 lines of 100 bytes (100 MB) through
#   svkit   multilog t s16777215 n20 ./dir
#   djb     multilog t s16777215 n20 ./dir   (Debian daemontools)
#   runit   svlogd -tt ./dir
#   s6      s6-log t s16777215 n20 ./dir
#   limit   cat > file
# Input and output live on tmpfs (/dev/shm, or $BENCH_DIR) so the figures
# measure the loggers, not the disk. Reports MB/s, CPU seconds per 100 MB
# and peak RSS (medians of $RUNS), and checks every line arrived.
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
    svkit) (cd "$out" && /usr/bin/time -o "$work/time" -f '%U %S %M' \
            "$SVKIT_BIN/multilog" t s16777215 n20 ./dir <"$input") ;;
    djb)   (cd "$out" && /usr/bin/time -o "$work/time" -f '%U %S %M' \
            /usr/bin/multilog t s16777215 n20 ./dir <"$input") ;;
    runit) mkdir -p "$out/dir"
           printf 's16777215\nn20\n' >"$out/dir/config"
           (cd "$out" && /usr/bin/time -o "$work/time" -f '%U %S %M' \
            svlogd -tt ./dir <"$input") ;;
    s6)    (cd "$out" && /usr/bin/time -o "$work/time" -f '%U %S %M' \
            s6-log t s16777215 n20 ./dir <"$input") ;;
    cat)   mkdir -p "$out/dir"
           /usr/bin/time -o "$work/time" -f '%U %S %M' cat <"$input" >"$out/dir/current" ;;
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

declare -A mbps cpu rss
for name in svkit djb runit s6 cat; do
  case $name in
    djb) [ -x /usr/bin/multilog ] && [ -d /usr/share/doc/daemontools ] || { mbps[$name]=-; cpu[$name]=-; rss[$name]=-; continue; } ;;
    runit) have svlogd || { mbps[$name]=-; cpu[$name]=-; rss[$name]=-; continue; } ;;
    s6) have s6-log || { mbps[$name]=-; cpu[$name]=-; rss[$name]=-; continue; } ;;
  esac
  : >"$work/results"
  for _ in $(seq "$RUNS"); do one "$name" >>"$work/results"; done
  if [ ! -s "$work/results" ]; then
    mbps[$name]=-; cpu[$name]=-; rss[$name]=-
    continue
  fi
  mbps[$name]=$(awk '{print $1}' "$work/results" | median)
  cpu[$name]=$(awk '{print $2}' "$work/results" | median)
  rss[$name]=$(awk '{print $3}' "$work/results" | median)
  echo "multilog: $name: ${mbps[$name]} MB/s, ${cpu[$name]} CPU s/100MB, ${rss[$name]} KB peak RSS"
done

row "logger t s16777215 n20, 1M x 100 B" "MB/s" higher \
  "${mbps[svkit]}" "${mbps[djb]}" "${mbps[runit]}" "${mbps[s6]}" "${mbps[cat]}"
row "logger CPU per 100 MB" "s" lower \
  "${cpu[svkit]}" "${cpu[djb]}" "${cpu[runit]}" "${cpu[s6]}" "${cpu[cat]}"
row "logger peak RSS" "KB" lower \
  "${rss[svkit]}" "${rss[djb]}" "${rss[runit]}" "${rss[s6]}" "${rss[cat]}"
