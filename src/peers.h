/* peers.h: what msgd keeps per peer address (the host, without the port):
 * its open connections, for max_connections_per_ip, and its recent failed
 * AUTHs, for the delay that slows a password guesser.  A table with a
 * bound; an entry goes when it holds nothing.  Pure: no I/O.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_PEERS_H
#define MSGD_PEERS_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define PEERS_MAX 262144 /* entries; past it, failures go uncounted */

struct peer {
    uint32_t conns;    /* open connections */
    uint32_t failures; /* failed AUTHs, decaying: see peers_failed */
    int64_t fail_ms;   /* the last one */
    uint16_t hostlen;
    char host[ADDR_STR_MAX];
};

int peers_init(void);
void peers_free(void);
/* "1.2.3.4:5" -> "1.2.3.4", "[::1]:5" -> "::1" (len bytes, NUL ended). */
void peers_host(const char *addr, char *host, size_t len);
/* The entry of addr's host, made when absent (NULL only when the table is
 * full or memory is short). */
struct peer *peers_get(const char *addr);
/* Drops p if it holds nothing any more; call after changing it. */
void peers_done(struct peer *p, int64_t now_ms);
/* Counts a failed AUTH at now_ms and returns how long its reply should
 * wait: 0 for the first few, then doubling up to 4 s.  Failures older than
 * ten minutes are forgotten. */
int64_t peers_failed(struct peer *p, int64_t now_ms);
/* A successful AUTH forgets the address's failures. */
void peers_succeeded(struct peer *p);
size_t peers_count(void);

#endif
