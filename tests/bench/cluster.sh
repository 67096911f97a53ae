#!/bin/bash
# cluster.sh: cross-instance against same-instance routing, side by side in
# one run.  Starts a nats-server with JetStream and two msgd instances of
# one cluster, then runs msgsim alternately
#   same:  all nodes on instance A (two address entries, one daemon)
#   cross: nodes alternate between A and B; ring i -> i+1 always crosses
# for throughput (ring, N nodes, 64 B) and for latency (2 nodes, window 1),
# ROUNDS times each, and prints each run and the cross/same ratios.
#   ROUNDS=2 NODES=100 MESSAGES=20000 tests/bench/cluster.sh
# Copyright (c) 2026 The msgd authors.  ISC license: see COPYING.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
msgd=${MSGD:-$here/../src/msgd}
msgsim=${MSGSIM:-$here/../src/msgsim}
ROUNDS=${ROUNDS:-2} NODES=${NODES:-100} MESSAGES=${MESSAGES:-20000}
LAT_MESSAGES=${LAT_MESSAGES:-20000}
. "$here/msgd-lib.sh"

dir=$(mktemp -d /tmp/msgd-cluster-bench-XXXXXX)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nats-server -js -a 127.0.0.1 -p "$nport" -sd "$dir/js" -l "$dir/nats.log" &
pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$nport) 2>/dev/null && break; sleep 0.05; done

ports=()
for name in a b; do
    mkdir -p "$dir/$name"
    msgd_up "$dir/$name" "cluster = { nats = [ \"nats://127.0.0.1:$nport\" ]; name = \"$name\"; };
max_output_buffer = 67108864;"
    pids+=($pid)
    ports+=($port)
    for _ in $(seq 100); do grep -q cluster-up "$dir/$name/server.log" && break; sleep 0.05; done
done
A=127.0.0.1:${ports[0]} B=127.0.0.1:${ports[1]}
sleep 1.5 # heartbeats: each instance has heard the other

field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
run() { # label connects... -> prints "rate p50 p99"
    local label=$1; shift
    local out
    out=$("$msgsim" -q --json --id-prefix "$label$RANDOM-" "$@")
    [ "$(echo "$out" | field lost)" = 0 ] || { echo "loss in $label: $out" >&2; exit 1; }
    echo "$(echo "$out" | field msgs_per_s) $(echo "$out" | field p50) $(echo "$out" | field p99)"
}

echo "# msgd cluster bench: $(date -u +%FT%TZ), $(nproc) cores; ring N=$NODES x $MESSAGES, 64 B; latency: 2 nodes, window 1"
printf '%-6s %-10s %14s %12s %12s\n' round case msgs/s p50_us p99_us
declare -A sum
for r in $(seq "$ROUNDS"); do
    for c in same cross; do
        second=$([ $c = same ] && echo "$A" || echo "$B")
        read -r rate p50 p99 < <(run "t$c" --connect "$A" --connect "$second" \
            --nodes "$NODES" --messages "$MESSAGES" --pattern ring)
        printf '%-6s %-10s %14s %12s %12s\n' "$r" "$c-tput" "$rate" "$p50" "$p99"
        sum[$c-tput]=$(echo "${sum[$c-tput]:-0} + $rate" | bc -l)
        read -r rate p50 p99 < <(run "l$c" --connect "$A" --connect "$second" \
            --nodes 2 --window 1 --messages "$LAT_MESSAGES" --pattern ring)
        printf '%-6s %-10s %14s %12s %12s\n' "$r" "$c-lat" "$rate" "$p50" "$p99"
        sum[$c-p50]=$(echo "${sum[$c-p50]:-0} + $p50" | bc -l)
        sum[$c-p99]=$(echo "${sum[$c-p99]:-0} + $p99" | bc -l)
    done
done
printf 'cross/same: throughput %.2fx, latency p50 %.2fx, p99 %.2fx\n' \
    "$(echo "${sum[cross-tput]} / ${sum[same-tput]}" | bc -l)" \
    "$(echo "${sum[cross-p50]} / ${sum[same-p50]}" | bc -l)" \
    "$(echo "${sum[cross-p99]} / ${sum[same-p99]}" | bc -l)"
