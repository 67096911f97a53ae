/* transport.c: the plain TCP transport, and the transports' last error.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "transport.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char last_error[256];

const char *transport_error(void)
{
    return last_error;
}

void transport_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

static ssize_t tcp_recv(void *st, int fd, void *buf, size_t len)
{
    (void)st;
    ssize_t n = read(fd, buf, len);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        transport_set_error("%s", strerror(errno));
    return n;
}

static ssize_t tcp_sendv(void *st, int fd, const struct iovec *iov, int n)
{
    (void)st;
    ssize_t w = writev(fd, iov, n);
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        transport_set_error("%s", strerror(errno));
    return w;
}

static void tcp_shutdown(void *st, int fd)
{
    (void)st;
    shutdown(fd, SHUT_WR);
}

const struct transport transport_tcp = {
    .name = "tcp",
    .recv = tcp_recv,
    .sendv = tcp_sendv,
    .shutdown = tcp_shutdown,
};
