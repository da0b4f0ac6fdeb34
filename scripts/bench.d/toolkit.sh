#!/usr/bin/env bash
# The daemontools toolkit: tai64n on 100 MB of log lines (min / median /
# max of $TAI_RUNS runs, file input, output to /dev/null) against Debian's
# tai64n (target: at least 3x faster), and the cost per exec of setuidgid
# (median of 1000 hyperfine runs): a local account (read from
# /etc/passwd), an unknown one (getent runs), and Debian's for both.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench-lib.sh
BIN="${SVKIT_BIN:-$PWD/target/release}"
TAI_RUNS="${TAI_RUNS:-7}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# 100 MB of varied log lines (~65 bytes each)
awk 'BEGIN { srand(1); split("alpha beta gamma request GET /index.html 200 latency=12ms user=42 ok", w, " ")
  while (n < 104857600) { l = ""; k = 3 + int(rand() * 14)
    for (i = 0; i < k; i++) l = l (i ? " " : "") w[1 + int(rand() * 10)]
    print l; n += length(l) + 1 } }' > "$dir/in"

# min median max in ms of "$@" < in > /dev/null
tai_times() {
  for _ in $(seq "$TAI_RUNS"); do
    a=$(date +%s%N); "$@" < "$dir/in" > /dev/null; b=$(date +%s%N)
    echo $(( (b - a) / 1000000 ))
  done | sort -n | awk '{a[NR]=$1} END{print a[1], a[int((NR+1)/2)], a[NR]}'
}
read -r omin omed omax < <(tai_times "$BIN/tai64n")
echo "tai64n svkit, 100 MB: min $omin ms, median $omed ms, max $omax ms"
dmed=-
if [ -x /usr/bin/tai64n ] && [ -d /usr/share/doc/daemontools ]; then
  read -r dmin dmed dmax < <(tai_times /usr/bin/tai64n)
  echo "tai64n daemontools, 100 MB: min $dmin ms, median $dmed ms, max $dmax ms"
fi
row "tai64n, 100 MB of lines (median)" ms lower "$omed" "$dmed" - - "-"

if have hyperfine; then
  cost() {
    hyperfine -N --warmup 50 --runs 1000 -i --export-csv "$dir/h.csv" "$*" >/dev/null 2>&1
    awk -F, 'NR==2{printf "%.3f\n", $4*1000}' "$dir/h.csv"
  }
  ours_local=$(cost "$BIN/setuidgid" root /bin/true)
  ours_unknown=$(cost "$BIN/setuidgid" no-such-account-x /bin/true)
  djb_local=- djb_unknown=-
  if [ -x /usr/bin/setuidgid ] && [ -d /usr/share/doc/daemontools ]; then
    djb_local=$(cost /usr/bin/setuidgid root /bin/true)
    djb_unknown=$(cost /usr/bin/setuidgid no-such-account-x /bin/true)
  fi
  echo "exec of /bin/true alone: $(cost /bin/true) ms (median)"
  row "setuidgid root /bin/true (median)" ms lower "$ours_local" "$djb_local" - - "-"
  row "setuidgid unknown-name (getent runs)" ms lower "$ours_unknown" "$djb_unknown" - - "-"
else
  echo "setuidgid per-exec cost not measured: hyperfine is missing"
fi
