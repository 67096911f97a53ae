/* clientlog.h: client_log lines about one connection, each (address,
 * event) pair within its budget (client_log_rate); what is held back is
 * counted in stats and said in one "suppressed" line a second.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_CLIENTLOG_H
#define MSGD_CLIENTLOG_H

#include <stdint.h>

#include "config.h"
#include "jsonw.h"

enum clientlog_event {
    CL_CONNECT,
    CL_REGISTER,
    CL_REJECT,
    CL_DISCONNECT,
    CL_AUTH,
    CL_FORBIDDEN,
    CL_SESSION_HELD,
    CL_SESSION_RESUMED,
    CL_SESSION_EXPIRED,
    CL_SESSION_OVERFLOW,
};

void clientlog_init(uint32_t rate);
void clientlog_set_rate(uint32_t rate);
/* As log_begin on client_log, with the address as the first key; NULL when
 * the level filters the line out or the address is over its budget. */
struct jsonw *clientlog_begin(const char *addr, enum log_level lvl,
                              enum clientlog_event ev);
/* Lines held back since start. */
uint64_t clientlog_suppressed(void);
/* Writes the summaries still pending (at stop). */
void clientlog_flush(void);

#endif
