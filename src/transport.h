/* transport.h: the seam under a connection.  conn.c reads, writes and
 * shuts down through a struct transport, chosen per listener at accept:
 * plain TCP here, TLS in tls.c (and WebSocket framing later).  The parser,
 * router, cluster and admin code never learn which one a connection uses.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_TRANSPORT_H
#define MSGD_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* A transport's operations.  st is the connection's transport state (what
 * open returned; NULL for plain TCP), fd its socket.  recv and sendv
 * behave as read(2) and writev(2): bytes, 0 for end of input (recv), or
 * -1 with errno, EAGAIN when the socket must become ready first (see
 * wants).  Any other failure leaves a reason in transport_error(). */
struct transport {
    const char *name; /* "tcp", "tls": for logs and msgctl list */
    /* The state of a new connection on fd: NULL on failure (see
     * transport_error()).  Absent when the transport keeps none. */
    void *(*open)(int fd);
    /* Works on the opening exchange: 1 done, 0 not yet (see wants), -1
     * failed (transport_error() says why).  Absent: nothing to do. */
    int (*handshake)(void *st, int fd);
    ssize_t (*recv)(void *st, int fd, void *buf, size_t len);
    ssize_t (*sendv)(void *st, int fd, const struct iovec *iov, int n);
    /* Bytes already read from the socket and not yet returned by recv:
     * epoll will not report them.  Absent: none ever. */
    size_t (*pending)(void *st);
    /* Writes what the transport holds of earlier sendv calls: 0 when
     * nothing is left, -1 with errno (EAGAIN: later).  Absent: nothing is
     * ever held. */
    int (*drain)(void *st, int fd);
    /* The epoll events (EPOLLIN, EPOLLOUT) the transport itself waits
     * for, on top of what the connection wants.  Absent: none. */
    uint32_t (*wants)(void *st);
    /* The peer's verified identity (a client certificate's CN) into out:
     * 1, or 0 when it has none.  Absent: never one. */
    int (*peer_name)(void *st, char *out, size_t len);
    /* Ends the output side: no more sendv after it. */
    void (*shutdown)(void *st, int fd);
    void (*close)(void *st);
};

extern const struct transport transport_tcp;

/* Why the last failed call of a transport failed, for a log line: a
 * static string, valid until the next call. */
const char *transport_error(void);
/* For transports: sets what transport_error() returns (printf format). */
void transport_set_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif
