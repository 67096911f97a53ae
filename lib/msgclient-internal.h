/* msgclient-internal.h: what libmsgclient shows its own tests only (not
 * exported from the shared library: its names do not start with mc_).
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGCLIENT_INTERNAL_H
#define MSGCLIENT_INTERNAL_H

#include <stddef.h>

struct mc_client;

/* The whole output buffer, len its capacity (not only the queued part):
 * for tests that check no secret is left in it. */
int mcx_test_out_buffer(const struct mc_client *c, const char **buf,
                        size_t *len);

#endif
