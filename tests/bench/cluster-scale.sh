#!/bin/bash
# cluster-scale.sh: the largest cluster this machine holds: two msgd
# instances over one nats-server, each with PER nodes (default 19,000: one
# client process per instance, under the 20,000-descriptor cap).  Reports
# how long registration took (one key-value create per HELLO), RSS per
# node on each instance, list --cluster and a cross-instance delivery.
# Copyright (c) 2026 The msgd authors.  ISC license: see COPYING.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
msgd=${MSGD:-$here/src/msgd}
msgctl=${MSGCTL:-$here/src/msgctl}
msgnode=${MSGNODE:-$here/src/msgnode}
bench=${BENCH_DIR:-$here/../shared/bench}
per=${PER:-19000}
dir=$(mktemp -d /tmp/msgd-cscale.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
cc -O2 -o "$dir/relaybench" "$bench/relaybench.c" -lpthread
. "$here/tests/msgd-lib.sh"
nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nats-server -js -a 127.0.0.1 -p "$nport" -sd "$dir/js" -l "$dir/nats.log" &
pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$nport) 2>/dev/null && break; sleep 0.05; done
ports=() mpids=()
for name in a b; do
    mkdir -p "$dir/$name"
    msgd_up "$dir/$name" "idle_timeout = 3600; max_nodes = 1000000;
cluster = { nats = [ \"nats://127.0.0.1:$nport\" ]; name = \"$name\"; };"
    pids+=($pid) mpids+=($pid) ports+=($port)
    for _ in $(seq 100); do grep -q cluster-up "$dir/$name/server.log" && break; sleep 0.05; done
done
sleep 1.5
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
rss0a=$(rss "${mpids[0]}") rss0b=$(rss "${mpids[1]}")
hold=$((60 + per / 500))
t0=$(date +%s.%N)
for i in 0 1; do
    "$dir/relaybench" --proto msgd -p "${ports[$i]}" -n "$per" --id-offset $((i * per)) \
        --idle --server-pid "${mpids[$i]}" --hold "$hold" --timeout $((hold + 120)) -q \
        >"$dir/rb$i.out" 2>&1 &
    pids+=($!)
done
total=$((2 * per))
for _ in $(seq 1500); do
    n=$("$msgctl" -s "$dir/a/admin.sock" --json stats | grep -o '"cluster_nodes":[0-9]*' | cut -d: -f2)
    [ "${n:-0}" -ge "$total" ] && break
    sleep 0.2
done
t1=$(date +%s.%N)
sleep 3
rss1a=$(rss "${mpids[0]}") rss1b=$(rss "${mpids[1]}")
echo "cluster nodes seen by a: $n of $total, registered in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s"
for i in 0 1; do
    echo "instance $i: descriptors $(ls /proc/${mpids[$i]}/fd | wc -l)"
done
awk -v a="$rss0a" -v b="$rss1a" -v c="$rss0b" -v d="$rss1b" -v n="$per" 'BEGIN {
    printf "RSS a %d -> %d kB, b %d -> %d kB: %.0f and %.0f bytes per node (local + directory of the other)\n",
        a, b, c, d, (b - a) * 1024 / n, (d - c) * 1024 / n }'
t0=$(date +%s.%N)
rows=$("$msgctl" -s "$dir/a/admin.sock" list --cluster | wc -l)
t1=$(date +%s.%N)
awk -v r="$rows" -v a="$t0" -v b="$t1" 'BEGIN { printf "msgctl list --cluster on a: %d rows (with the header) in %.3f s\n", r, b - a }'
"$msgctl" -s "$dir/a/admin.sock" cluster
"$msgnode" -p "${ports[0]}" -i probe -t "n$((total - 1))" -m "across" &&
    echo "msgnode on a -t n$((total - 1)) (a node of b): delivered and accepted"
"$msgctl" -s "$dir/a/admin.sock" stats | tail -12
