/* control.h: the admin socket: a Unix-domain listener served by the same
 * event loop as the nodes, one request per connection (see admin.h), with
 * the caller's credentials from SO_PEERCRED.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_CONTROL_H
#define MSGD_CONTROL_H

#include <stddef.h>

#include "config.h"

/* Creates the socket at cfg->admin_socket (its directory too) with exactly
 * cfg->admin_socket_mode.  A stale socket is replaced; one where another
 * daemon answers is an error.  Returns 0 or -1 with err set. */
int control_open(const struct config *cfg, char *err, size_t errlen);
/* Stops accepting (at the start of a graceful stop). */
void control_stop_accepting(void);
/* Closes every admin connection and removes the socket file. */
void control_close(void);

#endif
