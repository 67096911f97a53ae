#!/bin/bash
# soak.sh: msgd under sustained load and disturbance (not part of make
# check).  msgsim drives NODES verified nodes for DURATION seconds while,
# at random, raw clients are killed in the middle of a frame, msgsim's
# nodes are kicked with msgctl, msgctl list and stats run, and SIGHUP
# arrives.  Afterwards: no loss, duplication, corruption or reordering
# between nodes that stayed connected; descriptors and memory back to
# where they were; no error in the logs that was not caused on purpose.
#   DURATION=600 NODES=2000 tests/soak.sh
# Copyright (c) 2026 The msgd authors.  ISC license: see COPYING.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
msgd=${MSGD:-$here/src/msgd}
msgsim=${MSGSIM:-$here/src/msgsim}
msgctl=${MSGCTL:-$here/src/msgctl}
duration=${DURATION:-600}
nodes=${NODES:-2000}
dir=$(mktemp -d /tmp/msgd-soak.XXXXXX)
fail=0
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT

. "$here/tests/msgd-lib.sh"
msgd_up "$dir" "idle_timeout = 120; max_nodes = 100000;"
ctl() { "$msgctl" -s "$dir/admin.sock" "$@"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
fds() { ls "/proc/$pid/fd" | wc -l; }
sleep 1
rss0=$(rss) fds0=$(fds)
echo "soak: msgd pid $pid on port $port; $nodes nodes for $duration s"
echo "soak: baseline RSS ${rss0} kB, ${fds0} descriptors"

"$msgsim" --connect "127.0.0.1:$port" --nodes "$nodes" --duration "$duration" \
    --pattern random --id-prefix soak- --json -q >"$dir/sim.json" &
sim=$!

victims=0 kicks=0 lists=0 hups=0
# A raw client that registers, starts a frame and dies in the middle.
victim() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 0
        printf 'HELLO victim-%d\nSEND soak-1 100\nhalf a fr' "$1" >&3
        sleep 0.$((RANDOM % 9))
        kill -9 $BASHPID
    ) 2>/dev/null &
    disown $! # no job notice when it dies
}
while kill -0 $sim 2>/dev/null; do
    sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
    case $((RANDOM % 10)) in
    0 | 1 | 2 | 3) victims=$((victims + 1)); victim $victims ;;
    4) kicks=$((kicks + 1))
       ctl kick "soak-$((RANDOM % nodes))" soak test >/dev/null 2>&1 ;;
    5 | 6 | 7) lists=$((lists + 1))
       ctl list --sort idle --limit 20 >/dev/null && ctl --json stats >/dev/null ;;
    8 | 9) hups=$((hups + 1)); kill -HUP $pid ;;
    esac
done
wait $sim
sim_rc=$?

echo "soak: msgsim exit $sim_rc (1 is expected once nodes were kicked)"
cat "$dir/sim.json"
# Nothing lost between nodes that stayed connected.
for key in lost duplicated corrupt reordered; do
    v=$(grep -o "\"$key\":[0-9]*" "$dir/sim.json" | head -1 | cut -d: -f2)
    if [ "${v:-x}" != 0 ]; then
        echo "soak: FAIL $key = ${v:-missing}"
        fail=1
    fi
done
delivered=$(grep -o '"delivered":[0-9]*' "$dir/sim.json" | cut -d: -f2)
[ "${delivered:-0}" -gt 0 ] || { echo "soak: FAIL nothing delivered"; fail=1; }

# Back to baseline once the load is gone.
sleep 3
rss1=$(rss) fds1=$(fds)
echo "soak: after: RSS ${rss1} kB (baseline ${rss0}), ${fds1} descriptors (baseline ${fds0})"
if [ "$fds1" -ne "$fds0" ]; then echo "soak: FAIL descriptors leaked"; fail=1; fi
if [ "$rss1" -gt $((rss0 + 4096)) ]; then echo "soak: FAIL memory not given back"; fail=1; fi

# No error we did not cause: errors would be logged at level error.
if grep -q '"level":"error"' "$dir/server.log" "$dir/client.log"; then
    echo "soak: FAIL errors in the logs:"
    grep '"level":"error"' "$dir/server.log" "$dir/client.log" | head
    fail=1
fi
echo "soak: disturbances: $victims killed mid-frame, $kicks kicks, $lists list+stats, $hups SIGHUPs"
echo "soak: disconnect reasons:"
grep -o '"reason":"[a-z-]*"' "$dir/client.log" | sort | uniq -c
kill -TERM $pid
wait $pid
rc=$?
[ $rc -eq 0 ] || { echo "soak: FAIL msgd exit $rc"; fail=1; }
trap - EXIT
[ $fail -eq 0 ] && { echo "soak: PASS"; rm -rf "$dir"; } || echo "soak: logs kept in $dir"
exit $fail
