/* history.h: a bounded ring of recently closed connections, for
 * `msgctl list --closed`: who they were and why they ended.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_HISTORY_H
#define MSGD_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define HISTORY_SIZE 1024

struct closed_conn {
    char id[PROTO_MAX_ID + 1]; /* empty: never registered */
    char addr[ADDR_STR_MAX];
    const char *reason;
    int64_t connected_ms; /* how long it was connected */
    int64_t closed_real_ms;
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
};

void history_add(const struct closed_conn *c);
/* The i-th most recent (0 = newest); NULL past the end. */
const struct closed_conn *history_get(size_t i);
size_t history_count(void);

#endif
