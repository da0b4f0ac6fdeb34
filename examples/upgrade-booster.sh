#!/bin/sh
# Upgrade walk-through for a supervised booster (docs/booster.md, recipe 2):
#   1. quiesce:  svc -1 SERVICE — the running instances get TERM (KILL after
#                the booster's -k), the socket stays, new launches still work;
#   2. wait:     booster-drain SERVICE/socket.instances — until every instance
#                listed before the quiesce is gone (pid + start time);
#   3. swap:     copy the new binaries beside the old and rename them into
#                place (atomic: a launch sees the old file or the new one);
#   4. restart:  svc -t SERVICE — the old booster stops (socket removed,
#                instances started meanwhile terminated), supervise starts
#                the new one at once; then wait until it is up and answers.
# usage: examples/upgrade-booster.sh SERVICE NEWBIN [BINDIR]
#   SERVICE  the booster's service directory (its run uses ./socket)
#   NEWBIN   directory holding the new booster, invoker, booster-drain
#            (and any application binaries to swap with them)
#   BINDIR   where the running ones live (default /usr/local/bin)
# Environment: DRAIN_TIMEOUT (default 30s), UP_TIMEOUT (default 10s).
# Exits 0 when the new booster answers; otherwise with the failing step's code.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 SERVICE NEWBIN [BINDIR]" >&2; exit 100; }
service=$1
newbin=$2
bindir=${3:-/usr/local/bin}
drain=${DRAIN_TIMEOUT:-30s}
up=${UP_TIMEOUT:-10s}

svok "$service" || { echo "$0: $service is not supervised" >&2; exit 111; }

echo "1. quiesce: svc -1 $service"
svc -1 "$service"

echo "2. wait for the old instances: booster-drain -T $drain"
booster-drain "$service/socket.instances" -T "$drain"

echo "3. swap binaries from $newbin into $bindir"
for f in "$newbin"/*; do
  [ -f "$f" ] || continue
  name=$(basename "$f")
  cp "$f" "$bindir/$name.new"
  chmod 755 "$bindir/$name.new"
  mv -f "$bindir/$name.new" "$bindir/$name"
  echo "   $bindir/$name"
done

echo "4. restart: svc -t $service, wait until up"
svc -wu -T "$up" -t "$service"
# up means started; the socket answers once the new booster has bound it
i=0
until "$bindir/invoker" -s "$service/socket" true 2>/dev/null; do
  i=$((i + 1))
  [ "$i" -lt 100 ] || { echo "$0: the new booster does not answer on $service/socket" >&2; exit 111; }
  sleep 0.1
done
svstat "$service"
echo "upgrade done"
