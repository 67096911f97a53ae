#!/bin/bash
# readme-walkthrough.sh: runs README's walkthroughs as written (Quick
# start, "Two people, two terminals", the nc session, msgctl) as a user
# who is not root, in a copy of the tree that user owns: what a new user
# does first must work without editing a path.  Run it as root (CI does);
# it drops to nobody with setpriv.  Prints one PASS or FAIL line a step.
# Copyright (c) 2026 The msgd authors.  ISC license: see COPYING.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
user=${WALK_USER:-nobody}
uid=$(id -u "$user")
[ "$(id -u)" -eq 0 ] || { echo "readme-walkthrough: needs root (drops to $user)"; exit 77; }

dir=$(mktemp -d /tmp/msgd-walk.XXXXXX)
udir=/tmp/msgd-$uid
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$dir" "$udir"
}
trap cleanup EXIT
rm -rf "$udir"
(cd "$here" && git ls-files -z | xargs -0 cp --parents -t "$dir") ||
    { echo "FAIL: copy the tree"; exit 1; }
chmod 755 "$dir"
chown -R "$user" "$dir"

# As the user, in the copy, with no runtime directory (a plain login).
as_user() {
    setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups \
        env -u XDG_RUNTIME_DIR HOME="$dir" bash -c "cd '$dir' && $1"
}
failed=0 passed=0
step() { # name, command; the command's output goes to $dir/NAME.out
    local name=$1
    if as_user "$2" >"$dir/$name.out" 2>&1; then
        echo "PASS: $name"
        passed=$((passed + 1))
    else
        echo "FAIL: $name"
        tail -n 30 "$dir/$name.out"
        failed=$((failed + 1))
    fi
}

step quick-start 'tools/install-deps && ./autogen.sh && ./configure && make &&
    src/msgsim --nodes 100 --messages 10000'

step config-check 'src/msgd -t -c etc/msgd.conf | grep -qx "etc/msgd.conf: ok"'

# Two people, two terminals: msgd in the foreground, bob listening,
# alice typing.
# (exec: $! is then msgd itself, to be stopped with SIGTERM.)
(exec setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups \
    env -u XDG_RUNTIME_DIR HOME="$dir" bash -c "cd '$dir' && exec src/msgd -f -c etc/msgd.conf") \
    >"$dir/msgd.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    grep -q '"event":"start"' "$udir/server.log" 2>/dev/null && break
    sleep 0.1
done
as_user 'exec src/msgnode -i bob < <(sleep 4; echo /quit)' >"$dir/bob.out" 2>&1 &
pids+=($!)
sleep 1
step two-people 'printf "/msg bob lunch?\n/who\n/quit\n" | src/msgnode -i alice |
    grep -q "nodes (2): .*alice" && sleep 1 && grep -q "alice: lunch?" '"$dir/bob.out"
step script-send 'src/msgnode -t bob -m "build done"'
step msgctl-list 'src/msgctl list | grep -q "^bob "'

# The nc session: bob and alice by hand.
step nc-session '{ printf "HELLO carol\nWHO\nPING x\n"; sleep 1; printf "QUIT\n"; } |
    nc -q 2 127.0.0.1 2004 > nc.out; grep -qx "OK carol idle=300 max=65536" nc.out &&
    grep -qx "PONG x" nc.out && grep -qx "BYE quit" nc.out'
step msgctl-stats 'src/msgctl stats | grep -q "^uptime"'

kill -TERM "${pids[0]}" 2>/dev/null
wait "${pids[0]}"
rc=$?
if [ $rc -eq 0 ] && grep -q '"event":"stop"' "$udir/server.log" &&
    [ ! -e "$udir/msgd.pid" ] && [ ! -e "$udir/admin.sock" ]; then
    echo "PASS: stop"
    passed=$((passed + 1))
else
    echo "FAIL: stop (exit $rc)"
    cat "$dir/msgd.out"
    failed=$((failed + 1))
fi
echo "readme-walkthrough: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
