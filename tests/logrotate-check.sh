#!/bin/bash
# logrotate-check.sh: runs the shipped logrotate snippet, as logrotate
# runs it (root, forced rotation), against a real msgd whose logs are in a
# temporary directory: msgd writes into the new files afterwards, and a
# pidfile aimed at another process does not make root signal it.  Run
# from a configured build directory, as root.
set -uo pipefail
[ "$(id -u)" -eq 0 ] || { echo "logrotate-check: needs root"; exit 77; }
command -v logrotate >/dev/null || { echo "logrotate-check: no logrotate"; exit 77; }
here=$(cd "$(dirname "$0")/.." && pwd)
build=$PWD
dir=$(mktemp -d /tmp/msgd-logrotate.XXXXXX)
victim=
cleanup() {
    [ -z "$victim" ] || kill "$victim" 2>/dev/null
    [ -z "${pid:-}" ] || kill "$pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/log"
cat >"$dir/msgd.conf" <<CONF
listen = [ "127.0.0.1:0" ];
server_log = "$dir/log/server.log";
client_log = "$dir/log/client.log";
admin_socket = "$dir/admin.sock";
pidfile = "$dir/msgd.pid";
log_stderr = false;
CONF
"$build/src/msgd" -f -c "$dir/msgd.conf" &
pid=$!
for _ in $(seq 100); do
    grep -q '"event":"start"' "$dir/log/server.log" 2>/dev/null && break
    sleep 0.05
done

# A process of root's that a forged pidfile names (the old snippet sent
# SIGUSR1 to it, which ends a sleep).
sleep 300 &
victim=$!
echo "$victim" >"$dir/msgd.pid.forged"

# The snippet as installed, aimed at this daemon's files and socket.
sed -e "s|/var/log/msgd/|$dir/log/|g" \
    -e "s|/run/msgd/msgd.pid|$dir/msgd.pid.forged|g" \
    -e "s|[^ ]*/msgctl reopen-logs|$build/src/msgctl -s $dir/admin.sock reopen-logs|" \
    "$build/etc/msgd.logrotate" >"$dir/logrotate.conf"
fail=0
check() { if eval "$2"; then echo "PASS: $1"; else echo "FAIL: $1"; fail=1; fi; }

logrotate -f -s "$dir/state" "$dir/logrotate.conf" 2>"$dir/lr.err"
lr=$?
check "logrotate ran the snippet without error" '[ $lr -eq 0 ]'
check "the logs were moved" '[ -f "$dir/log/server.log.1" ]'
# The reopen's own line is the first one written after it (a read-only
# command such as stats is logged at debug only).
check "msgd reopened them: its next lines are in the new file" \
    'grep -q "\"event\":\"log-reopen\",\"result\":\"ok\"" "$dir/log/server.log"'
check "the process a forged pidfile names was not signalled" 'kill -0 "$victim"'
check "msgd is still running" 'kill -0 "$pid"'
cat "$dir/lr.err"
exit $fail
