/* server.h: the daemon's state, one per process: the epoll loop, clocks,
 * the timer wheel, the chunk pool, the running settings and the counters
 * that msgctl stats reports.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_SERVER_H
#define MSGD_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "config.h"
#include "outq.h"
#include "timerwheel.h"

struct conn;
struct listener;

/* A list of connections (<sys/queue.h>). */
LIST_HEAD(conn_list, conn);

/* Something epoll reports on; the first member of every registered object. */
struct ev {
    void (*cb)(struct ev *ev, uint32_t events);
    int fd;
};

/* A wheel timer with its own handler. */
struct timer {
    struct tw_timer tw;
    void (*fn)(struct timer *t);
};

struct stats {
    uint64_t connections_total;
    uint64_t nodes_peak;
    uint64_t msgs_routed;
    uint64_t bytes_routed;
    uint64_t evictions;
    uint64_t kicks;
    uint64_t rejects;
    uint64_t protocol_errors;
    uint64_t slow_consumers;
    uint64_t sessions_resumed;
    uint64_t sessions_expired;
};

struct server {
    int epfd;
    struct config cfg; /* the running settings */
    int64_t now_ms;    /* CLOCK_MONOTONIC, read once per loop pass */
    int64_t real_ms;   /* CLOCK_REALTIME, for logs */
    int64_t started_ms;
    int64_t idle_ms;      /* idle_timeout in ms, 0 = never */
    int64_t handshake_ms; /* tls.handshake_timeout in ms */
    int64_t hello_ms;     /* hello_timeout in ms, 0 = none */
    struct tw wheel;      /* ticks are now_ms */
    struct chunk_pool pool;
    struct stats stats;

    struct conn_list all; /* every connection (walked by several modules) */
    size_t nconns;
    size_t nheld; /* sessions held without a connection (in all too) */

    /* Memory bounds (msgd.conf(5), MEMORY BOUNDS), in force: */
    size_t out_budget;         /* max_output_total, or its automatic value */
    size_t in_budget;          /* max_input_total, or its automatic value */
    int64_t write_deadline_ms; /* 0 = never */
    size_t in_total;           /* bytes of partial frames held (in_cap) */

    struct listener **listeners;
    int nlisteners;

    char *rbuf; /* the shared read buffer */
    size_t rbuf_size;

    int stopping;
    const char *stop_reason;
};

extern struct server srv;

/* The only way to the epoll set (as ae.c is the only file of Redis that
 * touches epoll): each returns 0, or -1 with errno set, so that a
 * descriptor is never silently left unwatched; what that means is the
 * caller's to decide (close it, or refuse to start). */
int ev_add(struct ev *ev, uint32_t events);
int ev_mod(struct ev *ev, uint32_t events);
int ev_del(struct ev *ev);
/* Logs an ev_* failure (errno) at error level: what says what is lost. */
void ev_log_failure(const char *what);

void server_arm(struct timer *t, int64_t at_ms);
void server_disarm(struct timer *t);

int server_init(const struct config *cfg, char *err, size_t errlen);
/* Runs the loop until a stop signal has been handled and every connection
 * is gone.  Returns the exit status. */
int server_run(void);
void server_free(void);
/* Begins a graceful stop: listeners closed, BYE shutdown to everyone. */
void server_stop(const char *reason);
/* Applies runtime settings (idle_timeout, log_level, limits) to a running
 * server. */
void server_apply(const struct config *cfg);

#endif
