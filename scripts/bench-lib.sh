# Helpers sourced by scripts/bench.d/*.sh.
# median of numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END{ if (NR==0) {print "-"} else if (NR%2) {print a[(NR+1)/2]} else {printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2} }'; }
# row SCENARIO UNIT BETTER SVKIT DT RUNIT S6 LIMIT
row() { printf 'ROW\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@"; }
have() { command -v "$1" >/dev/null 2>&1; }
# RSS in KiB of a pid
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo -; }
