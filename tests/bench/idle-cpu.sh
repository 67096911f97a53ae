#!/bin/bash
# idle-cpu.sh: the daemon's CPU time over a period with many idle nodes
# connected (idle_timeout = 3600), to show that idle nodes cost nothing
# per tick.  A benchmark, not a test.  NODES (10000) and SECS (60) set it.
# Copyright (c) 2026 The msgd authors.  ISC license: see COPYING.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
msgd=${MSGD:-$here/src/msgd}
nodes=${NODES:-10000}
secs=${SECS:-60}
bench=${BENCH_DIR:-$here/../shared/bench}
dir=$(mktemp -d /tmp/msgd-idle.XXXXXX)
pid=
# The pid may be reaped already: nothing in the trap may fail under -e.
cleanup() {
    [ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; } || true
    rm -rf "$dir"
}
trap cleanup EXIT

if [ ! -f "$bench/relaybench.c" ]; then
    echo "idle-cpu: skipped: needs relaybench.c from the shared bench" \
        "(BENCH_DIR=$bench has none)"
    exit 0
fi
cc -O2 -o "$dir/relaybench" "$bench/relaybench.c" -lpthread
. "$here/tests/msgd-lib.sh"
msgd_up "$dir" "idle_timeout = 3600; max_nodes = 100000;"
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)

"$dir/relaybench" --proto msgd -p "$port" -n "$nodes" --idle \
    --server-pid "$pid" --settle 2 --hold "$((secs + 4))" -q >"$dir/rb.out" &
rb=$!
sleep 3 # connect, register, settle
c0=$(cpu)
sleep "$secs"
c1=$(cpu)
wait $rb || true
rss=$(grep -o 'per node [0-9]* B' "$dir/rb.out" || true)
echo "idle nodes: $nodes  idle_timeout: 3600 s  window: $secs s"
awk -v c="$((c1 - c0))" -v hz="$hz" -v s="$secs" \
    'BEGIN { printf "msgd CPU time: %.3f s (%.4f%% of one core)\n", c / hz, 100 * c / hz / s }'
echo "msgd RSS: $rss"
