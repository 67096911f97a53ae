/* tls.h: TLS for tls:// listeners: the server context built from the tls
 * group (msgd.conf(5), TLS), and the OpenSSL transport under connections.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_TLS_H
#define MSGD_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "transport.h"

/* Builds a context from t's files and puts it in force for the
 * connections accepted from now on; open ones keep theirs.  On failure
 * the one in force stays, and err says "PATH: what is wrong".  Returns 0
 * or -1. */
int tls_load(const struct config_tls *t, char *err, size_t errlen);
/* What tls_load checks (the files load, the key matches the certificate,
 * the certificate is valid now), without putting anything in force: for
 * msgd -t. */
int tls_check(const struct config_tls *t, char *err, size_t errlen);
/* Whether a context is in force. */
int tls_ready(void);
void tls_free(void);
/* "OpenSSL 3.0.x ..." */
const char *tls_library(void);

struct tls_stats {
    uint64_t handshakes; /* completed */
    uint64_t handshake_failures;
    uint64_t ktls_send; /* connections whose sending kTLS took over */
    uint64_t ktls_recv; /* ... and receiving */
};
const struct tls_stats *tls_stats(void);

/* The transport of connections accepted on tls:// listeners. */
extern const struct transport transport_tls;

#endif
