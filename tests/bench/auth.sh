#!/bin/bash
# auth.sh: routing with and without a load of AUTHs being checked, in one
# run: msgsim's workload a (ring, 100 nodes, 64 B) against msgd alone,
# then again while bench_auth sends RATE (200) AUTHs a second, each
# checked by msgd's workers against an argon2id hash of AUTH_MEM_KIB
# (1024) KiB and AUTH_OPS (1) passes.  msgd on CPU 0, msgsim on CPU 1;
# the workers run where the kernel puts them.  A benchmark, not a test.
# Copyright (c) 2026 The msgd authors.  ISC license: see COPYING.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
msgd=${MSGD:-$here/src/msgd}
msgsim=${MSGSIM:-$here/src/msgsim}
bench_auth=${BENCH_AUTH:-$here/tests/bench/bench_auth}
secs=${SECS:-5}
rate=${RATE:-200}
dir=$(mktemp -d /tmp/msgd-bench-auth.XXXXXX)
pid=
load=
cleanup() {
    [ -z "$load" ] || kill "$load" 2>/dev/null || true
    [ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; } || true
    rm -rf "$dir"
}
trap cleanup EXIT

export MSGD_PASSWORD=bench-password
printf 'alice:%s\n' "$(printf '%s\n' "$MSGD_PASSWORD" |
    "$bench_auth" hash "${AUTH_MEM_KIB:-1024}" "${AUTH_OPS:-1}")" >"$dir/users"
. "$here/tests/msgd-lib.sh"
msgd_up "$dir" "idle_timeout = 0; max_nodes = 100000; hello_timeout = 0;
auth = { users_file = \"$dir/users\"; anonymous = true; };" taskset -c 0

field() { { grep -o "\"$1\":[0-9.]*" "$dir/out.json" || true; } | head -1 | cut -d: -f2; }
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
routing() {
    taskset -c 1 "$msgsim" --connect "127.0.0.1:$port" --duration "$secs" \
        --json -q --nodes 100 --size 64 --pattern ring >"$dir/out.json" || true
    field msgs_per_s
}
# Alone before and after the loaded run, so that a drift of the machine
# shows as a spread rather than as the load's effect.
routing >/dev/null # warm-up
c0=$(cpu)
alone=$(routing)
c1=$(cpu)
"$bench_auth" load "$port" alice "$rate" "$((secs + 1))" >"$dir/load.txt" &
load=$!
sleep 0.5
loaded=$(routing)
c2=$(cpu)
wait "$load" || true
load=
after=$(routing)
tck=$(getconf CLK_TCK)
printf '%-40s %12s\n' "routing (a: ring N=100 S=64)" "msgs/s"
printf '%-40s %12.0f\n' "alone" "${alone:-0}"
printf '%-40s %12.0f\n' "with $rate AUTHs/s being checked" "${loaded:-0}"
printf '%-40s %12.0f\n' "alone again" "${after:-0}"
awk -v a="${alone:-0}" -v b="${loaded:-0}" -v c="${after:-0}" \
    'BEGIN { printf "%-40s %12.2f\n", "ratio (loaded / mean alone)", (a + c > 0 ? 2 * b / (a + c) : 0) }'
cat "$dir/load.txt"
awk -v x="$((c1 - c0))" -v y="$((c2 - c1))" -v t="$tck" \
    'BEGIN { printf "msgd CPU (loop and workers): %.2f s alone, %.2f s loaded\n", x / t, y / t }'
