#!/bin/bash
# logrotate-check.sh: runs the shipped logrotate snippet, as logrotate
# runs it (root, forced rotation), against a real msgd whose logs are in a
# temporary directory: msgd writes into the new files afterwards, and a
# pidfile aimed at another process does not make root signal it.  Twice:
# with msgd running as root, and with msgd started as root with
# user = "nobody", which must make its logs anew as nobody (and which
# refuses a log directory nobody cannot write).  Run from a configured
# build directory, as root.
# Copyright (c) 2026 The msgd authors.  ISC license: see COPYING.
set -uo pipefail
[ "$(id -u)" -eq 0 ] || { echo "logrotate-check: needs root"; exit 77; }
command -v logrotate >/dev/null || { echo "logrotate-check: no logrotate"; exit 77; }
build=$PWD
dir=$(mktemp -d /tmp/msgd-logrotate.XXXXXX)
chmod 755 "$dir" # nobody must reach its logs in there
victim=
pid=
cleanup() {
    [ -z "$victim" ] || kill "$victim" 2>/dev/null
    [ -z "$pid" ] || kill "$pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
fail=0
check() { if eval "$2"; then echo "PASS: $1"; else echo "FAIL: $1"; fail=1; fi; }
ctl() { "$build/src/msgctl" -s "$run/admin.sock" "$@"; }

# A process of root's that a forged pidfile names (the old snippet sent
# SIGUSR1 to it, which ends a sleep).
sleep 300 &
victim=$!

# write_conf NAME EXTRA: a configuration in $dir/NAME/.
write_conf() {
    run=$dir/$1
    log=$run/log
    mkdir -p "$run"
    chmod 755 "$run"
    cat >"$run/msgd.conf" <<CONF
listen = [ "127.0.0.1:0" ];
server_log = "$log/server.log";
client_log = "$log/client.log";
admin_socket = "$run/admin.sock";
pidfile = "$run/msgd.pid";
log_stderr = false;
$2
CONF
}

# rotate AS: starts msgd, rotates its logs with the snippet, checks.
rotate() {
    local as=$1
    "$build/src/msgd" -f -c "$run/msgd.conf" &
    pid=$!
    for _ in $(seq 100); do
        grep -q '"event":"start"' "$log/server.log" 2>/dev/null && break
        sleep 0.05
    done
    check "$as: msgd runs as $as" \
        '[ "$(stat -c %U /proc/$pid)" = "$as" ]'
    echo "$victim" >"$run/msgd.pid.forged"
    # The snippet as installed, aimed at this daemon's files and socket.
    sed -e "s|/var/log/msgd/|$log/|g" \
        -e "s|/run/msgd/msgd.pid|$run/msgd.pid.forged|g" \
        -e "s|[^ ]*/msgctl reopen-logs|$build/src/msgctl -s $run/admin.sock reopen-logs|" \
        "$build/etc/msgd.logrotate" >"$run/logrotate.conf"

    logrotate -f -s "$run/state" "$run/logrotate.conf" 2>"$run/lr.err"
    lr=$?
    check "$as: logrotate ran the snippet without error" '[ $lr -eq 0 ]'
    check "$as: the logs were moved" '[ -f "$log/server.log.1" ]'
    # The reopen's own line is the first one written after it.
    check "$as: msgd reopened them: its next lines are in the new file" \
        'grep -q "\"event\":\"log-reopen\",\"result\":\"ok\"" "$log/server.log"'
    # A later line (a kick is logged at info), and none in the old file.
    ctl kick no-such-node >/dev/null 2>&1
    sleep 0.2
    check "$as: later lines go to the new file, none to the rotated one" \
        'grep -q "\"command\":\"kick\"" "$log/server.log" &&
         ! grep -q "\"command\":\"kick\"" "$log/server.log.1"'
    check "$as: no line was lost" \
        'ctl --json stats | grep -q "\"log_lines_lost\":0,"'
    check "$as: the process a forged pidfile names was not signalled" \
        'kill -0 "$victim"'
    check "$as: msgd is still running" 'kill -0 "$pid"'
    cat "$run/lr.err"
    kill "$pid"
    wait "$pid"
    pid=
}

write_conf root ""
mkdir -p "$log"
rotate root

# Dropped to nobody: msgd makes its log directory and hands it to nobody.
write_conf nobody 'user = "nobody";'
rotate nobody
check "nobody: the new logs are nobody's" \
    '[ "$(stat -c %U "$log/server.log")" = nobody ]'

# A log directory of root's would make every reopen fail: refused.
write_conf rootdir 'user = "nobody";'
mkdir -p "$log"
"$build/src/msgd" -t -c "$run/msgd.conf" >"$run/t.out" 2>&1
t=$?
check "nobody: msgd -t refuses a log directory of root's" \
    '[ $t -eq 1 ] && grep -q "user nobody cannot write to directory $log" "$run/t.out"'
"$build/src/msgd" -c "$run/msgd.conf" >"$run/start.out" 2>&1
t=$?
check "nobody: and so does the start, saying why" \
    '[ $t -eq 1 ] && grep -q "cannot write to directory $log" "$run/start.out"'
[ $t -ne 0 ] || kill "$(cat "$run/msgd.pid")" # started after all: stop it
exit $fail
