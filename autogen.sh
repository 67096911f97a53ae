#!/bin/sh
# autogen.sh: generate configure and Makefile.in from a git checkout.
# Copyright (c) 2026 The msgd authors.  ISC license: see COPYING.
set -e
cd "$(dirname "$0")"
mkdir -p m4
exec autoreconf --install --force --warnings=all
