/* listener.c: listening sockets.  Every address of the listen setting is
 * bound before the daemon reports ready; "*" means every IPv4 and IPv6
 * address (two sockets, IPv6 with V6ONLY so each family has its own).
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#ifdef HAVE_OPENSSL
#include "tls.h"
#endif

#define ACCEPTS_PER_EVENT 64
#define BACKOFF_MS 100

static int paused; /* accept is paused for lack of descriptors */
static int warned; /* the shortage was logged; cleared by the next accept */

void listener_format_addr(const struct sockaddr *sa, char *out, size_t len)
{
    char host[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        snprintf(out, len, "[%s]:%u", host, ntohs(s6->sin6_port));
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
        snprintf(out, len, "%s:%u", host, ntohs(s4->sin_port));
    } else {
        snprintf(out, len, "unix");
    }
}

static void set_accepting(int on)
{
    for (int i = 0; i < srv.nlisteners; i++) {
        struct listener *l = srv.listeners[i];
        /* Failing, the socket stays as it was: still accepting (a spin
         * until the back-off ends), or deaf until the next back-off. */
        if (ev_mod(&l->ev, on ? EPOLLIN : 0) < 0)
            ev_log_failure(on ? "cannot resume accepting"
                              : "cannot pause accepting");
    }
}

static void on_backoff(struct timer *t)
{
    (void)t;
    paused = 0;
    set_accepting(1);
}

/* Out of descriptors: the pending connection stays in the backlog and
 * level-triggered epoll would report it again at once, so stop listening
 * for a moment rather than spin. */
static void pause_accepting(struct listener *l, int err)
{
    if (!warned) {
        warned = 1;
        struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_WARN, "warning");
        if (jw) {
            jw_str(jw, "msg", "accept paused: out of descriptors");
            jw_str(jw, "error", strerror(err));
            jw_uint(jw, "connections", srv.nconns);
            log_commit(jw);
        }
    }
    paused = 1;
    set_accepting(0);
    server_arm(&l->backoff, srv.now_ms + BACKOFF_MS);
}

static void on_accept(struct ev *ev, uint32_t events)
{
    struct listener *l = (struct listener *)ev;
    (void)events;

    for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(l->ev.fd, (struct sockaddr *)&ss, &sl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM)
                pause_accepting(l, errno);
            return; /* EAGAIN, or a connection that died in the backlog */
        }
        if (warned) {
            warned = 0;
            struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_INFO, "warning");
            if (jw) {
                jw_str(jw, "msg", "accepting again");
                log_commit(jw);
            }
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char addr[ADDR_STR_MAX];
        listener_format_addr((struct sockaddr *)&ss, addr, sizeof addr);
        if (conn_new(fd, addr, l->tp) == NULL)
            close(fd);
    }
}

static int bind_one(const struct sockaddr *sa, socklen_t sl, char *err,
                    size_t errlen, const char *spec, const struct transport *tp)
{
    int fd =
        socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0)
        goto fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, sa, sl) < 0 || listen(fd, SOMAXCONN) < 0)
        goto fail;

    struct listener *l = calloc(1, sizeof *l);
    struct listener **v =
        realloc(srv.listeners, (size_t)(srv.nlisteners + 1) * sizeof *v);
    if (l == NULL || v == NULL) {
        free(l);
        if (v)
            srv.listeners = v;
        errno = ENOMEM;
        goto fail;
    }
    srv.listeners = v;
    l->ev.cb = on_accept;
    l->ev.fd = fd;
    l->backoff.fn = on_backoff;
    l->tp = tp;
    struct sockaddr_storage ss;
    socklen_t ssl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &ssl);
    const char *scheme = tp == &transport_tcp ? "" : "tls://";
    size_t n = strlen(scheme);
    memcpy(l->addr, scheme, n + 1);
    listener_format_addr((struct sockaddr *)&ss, l->addr + n,
                         sizeof l->addr - n);
    /* A socket bound but never watched would take connections that no
     * one accepts: refuse to start instead. */
    if (ev_add(&l->ev, EPOLLIN) < 0) {
        free(l);
        snprintf(err, errlen, "listen %s: cannot watch the socket: %s", spec,
                 strerror(errno));
        close(fd);
        return -1;
    }
    srv.listeners[srv.nlisteners++] = l;
    return 0;
fail:
    snprintf(err, errlen, "listen %s: %s", spec, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static unsigned bound_port(void)
{
    struct listener *l = srv.listeners[srv.nlisteners - 1];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(l->ev.fd, (struct sockaddr *)&ss, &sl);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int open_spec(const char *spec, char *err, size_t errlen)
{
    char host[256], portstr[8];
    unsigned port;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    const char *hostport;
    const struct transport *tp = &transport_tcp;

    if (config_listen_tls(spec, &hostport)) {
#ifdef HAVE_OPENSSL
        tp = &transport_tls;
#else
        snprintf(err, errlen, "listen %s: TLS support is not built in", spec);
        return -1;
#endif
    }
    if (config_parse_hostport(hostport, host, sizeof host, &port) < 0) {
        snprintf(err, errlen, "listen %s: not host:port", spec);
        return -1;
    }
    int first = srv.nlisteners;
    if (strcmp(host, "*") == 0) {
        /* Same port for both families, also when port 0 chose one. */
        struct sockaddr_in s4 = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port)};
        if (bind_one((struct sockaddr *)&s4, sizeof s4, err, errlen, spec, tp) <
            0)
            return -1;
        struct sockaddr_in6 s6 = {.sin6_family = AF_INET6,
                                  .sin6_port = htons((uint16_t)bound_port()),
                                  .sin6_addr = IN6ADDR_ANY_INIT};
        char e6[256];
        if (bind_one((struct sockaddr *)&s6, sizeof s6, e6, sizeof e6, spec,
                     tp) < 0 &&
            errno != EAFNOSUPPORT) {
            snprintf(err, errlen, "%s", e6);
            return -1;
        }
        return 0;
    }
    snprintf(portstr, sizeof portstr, "%u", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "listen %s: %s", spec, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (port == 0 && srv.nlisteners > first) {
            unsigned p = bound_port();
            if (ai->ai_family == AF_INET6)
                ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port =
                    htons((uint16_t)p);
            else
                ((struct sockaddr_in *)ai->ai_addr)->sin_port =
                    htons((uint16_t)p);
        }
        if (bind_one(ai->ai_addr, ai->ai_addrlen, err, errlen, spec, tp) < 0) {
            freeaddrinfo(res);
            return -1;
        }
    }
    freeaddrinfo(res);
    return 0;
}

int listener_open_all(const struct config *cfg, char *err, size_t errlen)
{
    for (int i = 0; i < cfg->n_listen; i++)
        if (open_spec(cfg->listen[i], err, errlen) < 0)
            return -1;
    return 0;
}

void listener_close_all(void)
{
    for (int i = 0; i < srv.nlisteners; i++) {
        server_disarm(&srv.listeners[i]->backoff);
        close(srv.listeners[i]->ev.fd);
        free(srv.listeners[i]);
    }
    free(srv.listeners);
    srv.listeners = NULL;
    srv.nlisteners = 0;
}
