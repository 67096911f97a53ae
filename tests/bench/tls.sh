#!/bin/bash
# tls.sh: what TLS costs, side by side with plain TCP in one run: idle
# memory per node and handshakes per second of msgd's core (bench_tls),
# then msgsim's workloads a-d over plain TCP and over TLS, each against a
# fresh msgd pinned to CPU 0 with msgsim on CPU 1, and the ratio.  The
# certificates are made by tests/mkcerts.sh.  A benchmark, not a test: it
# prints figures.  SECS (5) sets each run's length, NODES (10000) the idle
# nodes, HANDSHAKES (5000) the handshakes.
# Copyright (c) 2026 The msgd authors.  ISC license: see COPYING.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
src=${SRCDIR:-$here}
msgd=${MSGD:-$here/src/msgd}
msgsim=${MSGSIM:-$here/src/msgsim}
bench_tls=${BENCH_TLS:-$here/tests/bench/bench_tls}
secs=${SECS:-5}
nodes=${NODES:-10000}
handshakes=${HANDSHAKES:-5000}
dir=$(mktemp -d /tmp/msgd-bench-tls.XXXXXX)
pid=
cleanup() {
    [ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; } || true
    rm -rf "$dir"
}
trap cleanup EXIT

sh "$src/tests/mkcerts.sh" "$dir/certs"

# Starts msgd with a plain and a TLS listener; sets pid, plain, tls.
start_msgd() {
    cat >"$dir/msgd.conf" <<CONF
listen = [ "127.0.0.1:0", "tls://127.0.0.1:0" ];
server_log = "$dir/server.log";
client_log = "$dir/client.log";
admin_socket = "$dir/admin.sock";
pidfile = "$dir/msgd.pid";
log_stderr = false;
log_level = "info";
idle_timeout = 0;
max_nodes = 100000;
max_output_buffer = 268435456L;
tls = { cert = "$dir/certs/server.crt"; key = "$dir/certs/server.key"; };
CONF
    rm -f "$dir/server.log"
    taskset -c 0 "$msgd" -f -c "$dir/msgd.conf" &
    pid=$!
    for _ in $(seq 200); do
        grep -q '"event":"start"' "$dir/server.log" 2>/dev/null && break
        kill -0 $pid 2>/dev/null || { echo "msgd did not start" >&2; exit 1; }
        sleep 0.05
    done
    local l
    l=$(grep -o '"listen":\[[^]]*' "$dir/server.log")
    plain=$(sed -E 's/.*\["[^"]*:([0-9]+)".*/\1/' <<<"$l")
    tls=$(sed -E 's/.*"tls:[^"]*:([0-9]+)".*/\1/' <<<"$l")
}
stop_msgd() {
    kill -TERM $pid
    wait $pid || true
    pid=
}

echo "== idle nodes and handshakes (NODES=$nodes, HANDSHAKES=$handshakes)"
start_msgd
taskset -c 1 "$bench_tls" "$pid" "$plain" "$tls" "$dir/certs/ca.crt" \
    "$nodes" "$handshakes"
if grep -q 'tls' /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null; then
    echo "  kTLS: the kernel offers it (msgctl stats: tls_ktls_send)"
else
    echo "  kTLS: not offered by this kernel (no tls in tcp_available_ulp)"
fi
stop_msgd

field() { { grep -o "\"$1\":[0-9.]*" "$dir/out.json" || true; } | head -1 | cut -d: -f2; }

# run NAME ARGS...: the workload over plain TCP, then over TLS.
run() {
    local name=$1 p t
    shift
    start_msgd
    taskset -c 1 "$msgsim" --connect "127.0.0.1:$plain" --duration "$secs" \
        --json -q "$@" >"$dir/out.json" || true
    p=$(field msgs_per_s)
    stop_msgd
    start_msgd
    taskset -c 1 "$msgsim" --connect "tls://127.0.0.1:$tls" \
        --ca "$dir/certs/ca.crt" --duration "$secs" --json -q "$@" \
        >"$dir/out.json" || true
    t=$(field msgs_per_s)
    stop_msgd
    printf '%-26s %12.0f %12.0f %7.2f\n' "$name" "${p:-0}" "${t:-0}" \
        "$(awk -v p="${p:-0}" -v t="${t:-0}" 'BEGIN { print (p > 0 ? t / p : 0) }')"
}
echo "== workloads, msgs/s (SECS=$secs each)"
printf '%-26s %12s %12s %7s\n' workload plain tls tls/plain
run "a ring N=100 S=64" --nodes 100 --size 64 --pattern ring
run "b random N=1000 S=64" --nodes 1000 --size 64 --pattern random
run "c ring N=100 S=4096" --nodes 100 --size 4096 --pattern ring
run "d ring N=2 S=64 W=1" --nodes 2 --size 64 --pattern ring --window 1
