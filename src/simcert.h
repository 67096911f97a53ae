/* simcert.h: msgsim's throw-away certificates for its own msgd's tls://
 * listener (msgsim --tls): a CA and a server certificate for 127.0.0.1,
 * made with OpenSSL's API, never the openssl command.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_SIMCERT_H
#define MSGD_SIMCERT_H

#include <stddef.h>

/* Writes dir/ca.crt, dir/server.crt and dir/server.key (0600): EC P-256,
 * valid for a day, the server's with IP SAN 127.0.0.1.  0, or -1 with
 * err filled. */
int simcert_make(const char *dir, char *err, size_t errlen);

#endif
