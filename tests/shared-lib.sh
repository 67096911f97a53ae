#!/bin/sh
# tests/shared-lib.sh: libmsgclient as a package ships it.  Runs make
# install into a scratch DESTDIR, then checks: libmsgclient.so.0 with that
# soname, the development link and the static archive beside it; the
# shared library exports the mc_ API and nothing else; a program built with
# pkg-config links against the shared library and runs.  Run by make check
# (which sets MAKE, CC, CFLAGS and LDFLAGS), from the build directory.
# Copyright (c) 2026 The msgd authors.  ISC license: see COPYING.
set -eu

fail() {
    echo "shared-lib.sh: $*" >&2
    exit 1
}
for tool in nm objdump; do
    command -v "$tool" >/dev/null || { echo "no $tool: skipped"; exit 77; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/msgd-shlib-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
${MAKE:-make} -s install DESTDIR="$tmp" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "make install failed"; }

so=$(find "$tmp" -name libmsgclient.so.0 | head -n 1)
[ -n "$so" ] || fail "no libmsgclient.so.0 installed"
libdir=$(dirname "$so")
for f in libmsgclient.so libmsgclient.a pkgconfig/msgclient.pc; do
    [ -e "$libdir/$f" ] || fail "no $f installed beside libmsgclient.so.0"
done
header=$(find "$tmp" -name msgclient.h | head -n 1)
[ -n "$header" ] || fail "no msgclient.h installed"

soname=$(objdump -p "$so" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = libmsgclient.so.0 ] || fail "soname is '$soname'"

# Exported: every function the header declares, and nothing else.
nm -D --defined-only "$so" | awk '{ print $NF }' | sort -u >"$tmp/exported"
grep -o '\bmc_[a-z_]*(' "$header" | tr -d '(' | sort -u >"$tmp/declared"
others=$(grep -v '^mc_' "$tmp/exported" || true)
[ -z "$others" ] || fail "exports beyond the API: $(echo "$others" | tr "\n" " ")"
missing=$(comm -23 "$tmp/declared" "$tmp/exported")
[ -z "$missing" ] || fail "API not exported: $(echo "$missing" | tr "\n" " ")"
# The static archive carries the same API.
nm "$libdir/libmsgclient.a" | awk '$2 == "T" { print $3 }' | sort -u \
    >"$tmp/static"
missing=$(comm -23 "$tmp/declared" "$tmp/static")
[ -z "$missing" ] || fail "API missing from libmsgclient.a: $(echo "$missing" | tr "\n" " ")"

# A client built as a package's user would build it.
cat >"$tmp/client.c" <<'EOF'
#include <msgclient.h>
#include <stdio.h>

int main(void)
{
    struct mc_client *c = mc_new(0);
    int ok = c != NULL && mc_valid_id("alice") && !mc_valid_id("no way");
    mc_free(c);
    puts(ok ? "ok" : "wrong");
    return !ok;
}
EOF
# The staged msgclient.pc first; then the system's .pc files, for what it
# names in Requires.private (openssl, when TLS is built).
syspc=$(${PKG_CONFIG:-pkg-config} --variable pc_path pkg-config) || syspc=
PKG_CONFIG_SYSROOT_DIR=$tmp PKG_CONFIG_LIBDIR=$libdir/pkgconfig${syspc:+:$syspc}
export PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR
flags=$(${PKG_CONFIG:-pkg-config} --cflags --libs msgclient) ||
    fail "pkg-config msgclient failed"
# With the build's CFLAGS and LDFLAGS: a sanitizer build's library needs
# its runtime in the program too.
# shellcheck disable=SC2086 # flags are words
${CC:-cc} ${CFLAGS:-} -o "$tmp/client" "$tmp/client.c" ${LDFLAGS:-} $flags ||
    fail "cannot link a client with: $flags"
objdump -p "$tmp/client" | grep -q 'NEEDED *libmsgclient\.so\.0' ||
    fail "the client is not linked against libmsgclient.so.0"
out=$(LD_LIBRARY_PATH=$libdir "$tmp/client") || fail "the client failed"
[ "$out" = ok ] || fail "the client printed '$out'"
echo "libmsgclient.so.0: soname, mc_ exports, static archive, pkg-config: ok"
