/* listener.h: the listening sockets of the listen setting, and accept.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_LISTENER_H
#define MSGD_LISTENER_H

#include <stddef.h>
#include <sys/socket.h>

#include "proto.h"
#include "server.h"
#include "transport.h"

struct listener {
    struct ev ev;
    struct timer backoff;       /* accepting paused after EMFILE */
    const struct transport *tp; /* its connections' transport */
    /* As bound, e.g. "127.0.0.1:2004", "[::1]:2004", "tls://[::1]:2005". */
    char addr[ADDR_STR_MAX + 8];
};

/* Binds and listens on every address of cfg->listen, into srv.listeners.
 * Returns 0, or -1 with "ADDRESS: reason" in err. */
int listener_open_all(const struct config *cfg, char *err, size_t errlen);
void listener_close_all(void);
/* "1.2.3.4:5" or "[::1]:5" */
void listener_format_addr(const struct sockaddr *sa, char *out, size_t len);

#endif
