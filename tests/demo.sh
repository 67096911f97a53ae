#!/bin/bash
# demo.sh: starts msgd in the foreground on a free loopback port with a
# throw-away configuration, has two nodes talk through it, prints what
# each node saw and the logs, and stops the daemon.
# Copyright (c) 2026 The msgd authors.  ISC license: see COPYING.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
msgd=${MSGD:-$here/src/msgd}
dir=$(mktemp -d /tmp/msgd-demo.XXXXXX)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT

. "$here/tests/msgd-lib.sh"
msgd_up "$dir"
echo "msgd (pid $pid) listening on 127.0.0.1:$port"

exec 3<>"/dev/tcp/127.0.0.1/$port" 4<>"/dev/tcp/127.0.0.1/$port"
printf 'HELLO bob\n' >&4
read -r -t 5 line <&4 && echo "bob   <- $line"
printf 'HELLO alice\nWHO\nSEND bob 11\nhello, bob!\nBCAST 8\nhi, all!\nPING done\n' >&3
echo "alice -> HELLO alice / WHO / SEND bob 11 / BCAST 8 / PING done"
while read -r -t 5 line <&3; do
    echo "alice <- $line"
    [ "$line" = "PONG done" ] && break
done
for _ in 1 2 3 4; do read -r -t 5 line <&4 && echo "bob   <- $line"; done
printf 'QUIT\n' >&3
read -r -t 5 line <&3 && echo "alice <- $line"
exec 3>&- 4>&-

kill -TERM $pid
wait $pid && echo "msgd stopped cleanly (exit 0)"
echo "--- server.log"
cat "$dir/server.log"
echo "--- client.log"
cat "$dir/client.log"
