#!/bin/bash
# workloads.sh: msgd's throughput and latency in the workload shapes of
# ../shared/bench (a-d) plus a broadcast, driven by msgsim, msgd pinned to
# CPU 0 and msgsim to CPU 1.  A benchmark, not a test: it prints a table.
# SECS (5) sets each run's length.
# Copyright (c) 2026 The msgd authors.  ISC license: see COPYING.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
msgd=${MSGD:-$here/src/msgd}
msgsim=${MSGSIM:-$here/src/msgsim}
secs=${SECS:-5}
dir=$(mktemp -d /tmp/msgd-bench.XXXXXX)
pid=
# The pid may be reaped already: nothing in the trap may fail under -e.
cleanup() {
    [ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; } || true
    rm -rf "$dir"
}
trap cleanup EXIT

. "$here/tests/msgd-lib.sh"
start_msgd() {
    msgd_up "$dir" "idle_timeout = 0; max_nodes = 100000;
max_output_buffer = 268435456L;" taskset -c 0
}

field() { grep -o "\"$1\":[0-9.]*" "$dir/out.json" | head -1 | cut -d: -f2; }

printf '%-34s %11s %9s %10s %10s %5s\n' workload msgs/s MB/s p50_us p99_us lost
run() {
    local name=$1
    shift
    start_msgd
    taskset -c 1 "$msgsim" --connect "127.0.0.1:$port" --duration "$secs" \
        --json -q "$@" >"$dir/out.json" || true
    kill -TERM $pid
    wait $pid || true
    printf '%-34s %11.0f %9.1f %10.1f %10.1f %5s\n' "$name" \
        "$(field msgs_per_s)" "$(field mb_per_s)" "$(field p50)" \
        "$(field p99)" "$(field lost)"
}
run "a ring N=100 S=64" --nodes 100 --size 64 --pattern ring
run "b random N=1000 S=64" --nodes 1000 --size 64 --pattern random
run "c ring N=100 S=4096" --nodes 100 --size 4096 --pattern ring
run "d ring N=2 S=64 W=1" --nodes 2 --size 64 --pattern ring --window 1
run "broadcast N=100 S=1024" --nodes 100 --size 1024 --pattern broadcast --window 8
