# msgd-lib.sh: sourced by the scripts under tests/: start a throw-away
# msgd in the foreground on a free loopback port.
#   msgd_up DIR [EXTRA_SETTINGS] [PREFIX_CMD...]
# writes DIR/msgd.conf (logs, socket and pidfile in DIR, listen
# 127.0.0.1:0, plus EXTRA_SETTINGS), starts $msgd (optionally under
# PREFIX_CMD, e.g. taskset -c 0) and waits for its start event; sets
# $pid and $port.
# Copyright (c) 2026 The msgd authors.  ISC license: see COPYING.
msgd_up() {
    local d=$1 extra=${2:-}
    shift 2 || shift $#
    cat >"$d/msgd.conf" <<CONF
listen = [ "127.0.0.1:0" ];
server_log = "$d/server.log";
client_log = "$d/client.log";
admin_socket = "$d/admin.sock";
pidfile = "$d/msgd.pid";
log_stderr = false;
$extra
CONF
    rm -f "$d/server.log"
    "$@" "$msgd" -f -c "$d/msgd.conf" &
    pid=$!
    for _ in $(seq 200); do
        grep -q '"event":"start"' "$d/server.log" 2>/dev/null && break
        kill -0 $pid 2>/dev/null || { echo "msgd did not start" >&2; return 1; }
        sleep 0.05
    done
    port=$(grep -o '"listen":\["[^"]*' "$d/server.log" | sed 's/.*://')
}
