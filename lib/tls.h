/* tls.h: libmsgclient's private TLS transport: one OpenSSL connection over
 * a connected non-blocking socket, under struct mc_client's buffers.  The
 * public side (struct mc_tls, the shared client context) is in
 * msgclient.h.  Without OpenSSL every call fails with "TLS not built in".
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGCLIENT_TLS_H
#define MSGCLIENT_TLS_H

#include <stddef.h>

struct mc_tls;
struct mct_conn;

/* What mct_read and mct_write return besides a byte count. */
#define MCT_EOF 0         /* the server closed (close_notify or TCP) */
#define MCT_ERROR (-1)    /* failed; err says why */
#define MCT_WANT_READ (-2)  /* retry once the socket is readable */
#define MCT_WANT_WRITE (-3) /* retry once the socket is writable */

/* Handshakes over fd (connected, non-blocking) within timeout_ms (-1: no
 * limit), verifying the server as t says and naming it host (the name
 * checked, and the SNI, unless t has a server_name).  hostport is for
 * messages.  NULL on failure, with err filled. */
struct mct_conn *mct_connect(struct mc_tls *t, int fd, const char *host,
                             const char *hostport, int timeout_ms, char *err,
                             size_t errlen);
/* One more reference to t, for a client that must reconnect with it
 * after the caller's mc_tls_free; mc_tls_free drops one. */
struct mc_tls *mct_hold(struct mc_tls *t);
long mct_read(struct mct_conn *tc, void *buf, size_t len, char *err,
              size_t errlen);
long mct_write(struct mct_conn *tc, const void *buf, size_t len, char *err,
               size_t errlen);
/* Decrypted bytes waiting in OpenSSL, which poll cannot see. */
size_t mct_pending(const struct mct_conn *tc);
/* Sends close_notify if the socket takes it now, and frees (the socket
 * stays open: the caller closes it). */
void mct_free(struct mct_conn *tc);

#endif
