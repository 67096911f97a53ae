#!/bin/bash
# install-check.sh: make install into a staging directory, then check what
# a user of the installed package reads: the man pages name the paths the
# binaries use (no make variables left in them), and the logrotate snippet
# lands where logrotate looks.  Run from a configured build directory.
# Copyright (c) 2026 The msgd authors.  ISC license: see COPYING.
set -euo pipefail
stage=$(mktemp -d /tmp/msgd-install.XXXXXX)
trap 'rm -rf "$stage"' EXIT
make install DESTDIR="$stage" >/dev/null
fail=0
check() { if eval "$2"; then echo "PASS: $1"; else echo "FAIL: $1"; fail=1; fi; }

sbindir=$(sed -n 's/^sbindir = //p' Makefile)
prefix=$(sed -n 's/^prefix = //p' Makefile)
sbin=${sbindir//\$\{exec_prefix\}/$prefix}
sbin=${sbin//\$\{prefix\}/$prefix}
msgd="$stage$sbin/msgd"
conf=$("$msgd" -h | sed -n 's/.*(default \(.*\))$/\1/p')
man8=$(find "$stage" -name msgd.8)
man5=$(find "$stage" -name msgd.conf.5)

check "msgd -h names its configuration file" '[ -n "$conf" ]'
check "msgd(8) names that file" 'grep -q "^.Pa $conf" "$man8"'
check "msgd.conf(5) names that file" 'grep -q "$conf" "$man5"'
check "no make variables in installed pages" \
    '! grep -lE "\\\$\((prefix|exec_prefix|sysconfdir|sbindir|bindir|libdir|localstatedir)\)|@[a-z_]+@" $(find "$stage" -path "*/man/*" -type f)'
lr=$(sed -n 's/^logrotatedir = //p' Makefile)
case $prefix in
/usr | /usr/local)
    check "logrotate snippet in /etc/logrotate.d" \
        '[ -f "$stage/etc/logrotate.d/msgd" ] && [ "$lr" = /etc/logrotate.d ]' ;;
*)
    check "logrotate snippet under the prefix ($lr)" '[ -n "$(find "$stage" -path "*/logrotate.d/msgd")" ]' ;;
esac
check "msgd(8) names the logrotate snippet where it is" \
    'grep -q "^.It Pa ${lr//\$\{sysconfdir\}/.*}/msgd" "$man8"'
exit $fail
