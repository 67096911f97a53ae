#!/bin/bash
# scale.sh: as many nodes as this machine's descriptor limit allows (20,000
# per process, not raisable: 19,000 nodes from two client processes), with
# routing still working and msgctl list answering; reports RSS per idle
# node.  A benchmark, not a test.  NODES (19000) sets the total.
# Copyright (c) 2026 The msgd authors.  ISC license: see COPYING.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
msgd=${MSGD:-$here/src/msgd}
msgctl=${MSGCTL:-$here/src/msgctl}
msgnode=${MSGNODE:-$here/src/msgnode}
bench=${BENCH_DIR:-$here/../shared/bench}
total=${NODES:-19000}
half=$((total / 2))
dir=$(mktemp -d /tmp/msgd-scale.XXXXXX)
trap 'kill $pid $rb1 $rb2 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
cc -O2 -o "$dir/relaybench" "$bench/relaybench.c" -lpthread
. "$here/tests/msgd-lib.sh"
msgd_up "$dir" "idle_timeout = 3600; max_nodes = 1000000;"
grep -o '"nofile_[a-z_]*":[0-9]*' "$dir/server.log" | tr '\n' ' '
echo
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
sleep 1
rss0=$(rss)
hold=$((40 + total / 1000))
"$dir/relaybench" --proto msgd -p "$port" -n "$half" --idle --server-pid "$pid" \
    --hold "$hold" -q >"$dir/rb1.out" 2>&1 &
rb1=$!
"$dir/relaybench" --proto msgd -p "$port" -n "$((total - half))" \
    --id-offset "$half" --idle --server-pid "$pid" --hold "$hold" -q \
    >"$dir/rb2.out" 2>&1 &
rb2=$!
for _ in $(seq 600); do
    n=$("$msgctl" -s "$dir/admin.sock" --json stats | grep -o '"nodes":[0-9]*' | cut -d: -f2)
    [ "$n" -ge "$total" ] && break
    sleep 0.2
done
sleep 3 # the pool and malloc give back what registration took
rss1=$(rss)
echo "nodes registered: $n (two client processes); descriptors: $(ls /proc/$pid/fd | wc -l)"
awk -v a="$rss0" -v b="$rss1" -v n="$n" \
    'BEGIN { printf "RSS %d kB -> %d kB: %.0f bytes per idle node\n", a, b, (b - a) * 1024 / n }'
t0=$(date +%s.%N)
rows=$("$msgctl" -s "$dir/admin.sock" list | wc -l)
t1=$(date +%s.%N)
awk -v r="$rows" -v a="$t0" -v b="$t1" \
    'BEGIN { printf "msgctl list: %d rows (with the header) in %.3f s\n", r, b - a }'
# Routing still works with everyone connected: a message to the last node.
"$msgnode" -p "$port" -i probe -t "n$((total - 1))" -m "still routing" &&
    echo "msgnode -t n$((total - 1)): delivered and accepted"
"$msgctl" -s "$dir/admin.sock" --json stats
