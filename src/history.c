/* history.c: the closed-connection ring; fixed size, overwritten oldest
 * first, so it costs the same whatever the churn.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "history.h"

static struct closed_conn ring[HISTORY_SIZE];
static size_t head, count; /* head: where the next one goes */

void history_add(const struct closed_conn *c)
{
    ring[head] = *c;
    head = (head + 1) % HISTORY_SIZE;
    if (count < HISTORY_SIZE)
        count++;
}

const struct closed_conn *history_get(size_t i)
{
    if (i >= count)
        return NULL;
    return &ring[(head + HISTORY_SIZE - 1 - i) % HISTORY_SIZE];
}

size_t history_count(void)
{
    return count;
}
