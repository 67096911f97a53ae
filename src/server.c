/* server.c: the event loop.  One epoll set; each pass reads the clocks
 * once, handles the ready descriptors, fires due timers, then writes all
 * queued output, frees closed connections and flushes the logs.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "server.h"

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "clientlog.h"
#include "cluster.h"
#include "conn.h"
#include "control.h"
#include "listener.h"
#include "log.h"
#include "peers.h"
#include "reload.h"
#include "router.h"

#define MAX_EVENTS 4096
#define RBUF_SIZE (256 * 1024)
#define POOL_CHUNKS 64

struct server srv = {.epfd = -1};

static struct ev sig_ev = {.fd = -1};

/* A second after the last busy pass, memory taken for traffic goes back:
 * the chunk pool's warm chunks and whatever malloc holds free. */
#define TRIM_MS 1000
static void on_trim(struct timer *t);
static struct timer trim_timer = {.fn = on_trim};

static void on_trim(struct timer *t)
{
    (void)t;
    chunk_pool_drain(&srv.pool);
    malloc_trim(0);
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void update_clock(void)
{
    srv.now_ms = clock_ms(CLOCK_MONOTONIC);
    srv.real_ms = clock_ms(CLOCK_REALTIME);
    log_set_clock(srv.real_ms);
}

static int ev_ctl(int op, struct ev *ev, uint32_t events)
{
    struct epoll_event ee = {.events = events, .data.ptr = ev};
    return epoll_ctl(srv.epfd, op, ev->fd, &ee);
}

int ev_add(struct ev *ev, uint32_t events)
{
    return ev_ctl(EPOLL_CTL_ADD, ev, events);
}

int ev_mod(struct ev *ev, uint32_t events)
{
    return ev_ctl(EPOLL_CTL_MOD, ev, events);
}

int ev_del(struct ev *ev)
{
    return ev_ctl(EPOLL_CTL_DEL, ev, 0);
}

void ev_log_failure(const char *what)
{
    int err = errno;
    struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_ERROR, "error");
    if (jw) {
        jw_str(jw, "msg", what);
        jw_str(jw, "error", strerror(err));
        log_commit(jw);
    }
}

void server_arm(struct timer *t, int64_t at_ms)
{
    tw_arm(&srv.wheel, &t->tw, (uint64_t)at_ms);
}

void server_disarm(struct timer *t)
{
    tw_cancel(&srv.wheel, &t->tw);
}

static void fire(struct tw_timer *tw, void *arg)
{
    struct timer *t = (struct timer *)tw;
    (void)arg;
    t->fn(t);
}

static int64_t idle_ms_of(double seconds)
{
    return (int64_t)ceil(seconds * 1000.0);
}

/* What "automatic" means for the two budgets: a share of the memory that
 * was available when msgd started (re-read at a reload would make the
 * budget shrink by what msgd itself holds). */
static uint64_t mem_available;

static uint64_t read_mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    unsigned long long kb = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

static size_t budget(int64_t set, uint64_t share, uint64_t lo, uint64_t hi)
{
    uint64_t v = share;
    if (set > 0)
        return (size_t)set;
    if (mem_available == 0)
        v = hi / 16; /* no /proc: a fixed middle value */
    return (size_t)(v < lo ? lo : v > hi ? hi : v);
}

#define MIB (1024ULL * 1024)

static void apply_bounds(const struct config *cfg)
{
    srv.out_budget =
        budget(cfg->max_output_total, mem_available / 4, 64 * MIB, 16384 * MIB);
    srv.in_budget =
        budget(cfg->max_input_total, mem_available / 8, 32 * MIB, 8192 * MIB);
    srv.write_deadline_ms = idle_ms_of(cfg->write_deadline);
}

void server_apply(const struct config *cfg)
{
    int64_t idle = idle_ms_of(cfg->idle_timeout);
    srv.cfg.idle_timeout = cfg->idle_timeout;
    srv.cfg.log_level = cfg->log_level;
    srv.cfg.max_nodes = cfg->max_nodes;
    srv.cfg.max_message_size = cfg->max_message_size;
    srv.cfg.max_output_buffer = cfg->max_output_buffer;
    srv.cfg.duplicate_id = cfg->duplicate_id;
    srv.cfg.client_log_rate = cfg->client_log_rate;
    srv.cfg.max_output_total = cfg->max_output_total;
    srv.cfg.write_deadline = cfg->write_deadline;
    srv.cfg.max_unregistered_input = cfg->max_unregistered_input;
    srv.cfg.max_input_total = cfg->max_input_total;
    apply_bounds(cfg);
    srv.handshake_ms = idle_ms_of(cfg->tls.handshake_timeout);
    srv.hello_ms = idle_ms_of(cfg->hello_timeout);
    srv.cfg.hello_timeout = cfg->hello_timeout;
    srv.cfg.max_connections_per_ip = cfg->max_connections_per_ip;
    srv.cfg.rate_limit = cfg->rate_limit;
    srv.cfg.session_hold = cfg->session_hold;
    srv.cfg.session_buffer = cfg->session_buffer;
    srv.cfg.auth.anonymous = cfg->auth.anonymous;
    srv.cfg.auth.max_failures = cfg->auth.max_failures;
    log_set_level(cfg->log_level);
    clientlog_set_rate((uint32_t)cfg->client_log_rate);
    if (idle != srv.idle_ms) {
        srv.idle_ms = idle;
        conn_rearm_all();
    }
}

static void log_signal_stop(int signo)
{
    server_stop(signo == SIGINT ? "SIGINT" : "SIGTERM");
}

static void on_signal(struct ev *ev, uint32_t events)
{
    struct signalfd_siginfo si;
    char err[CONFIG_ERR_MAX];
    (void)events;

    while (read(ev->fd, &si, sizeof si) == (ssize_t)sizeof si) {
        switch (si.ssi_signo) {
        case SIGTERM:
        case SIGINT:
            if (srv.stopping) {
                /* A second request: stop waiting for slow readers. */
                struct conn *c;
                LIST_FOREACH(c, &srv.all, all_link)
                if (c->state != CONN_DEAD)
                    c->state = CONN_LINGER, server_arm(&c->timer, 0);
            } else {
                log_signal_stop((int)si.ssi_signo);
            }
            break;
        case SIGHUP:
            /* Reopen first, so the reload is logged in the new file. */
            reload_logs(err, sizeof err);
            reload_config(err, sizeof err);
            break;
        case SIGUSR1:
            reload_logs(err, sizeof err);
            break;
        }
    }
}

static int init_signals(char *err, size_t errlen)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "signalfd: %s", strerror(errno));
        return -1;
    }
    sig_ev.cb = on_signal;
    sig_ev.fd = fd;
    /* Unwatched, no signal would ever stop or reload msgd. */
    if (ev_add(&sig_ev, EPOLLIN) < 0) {
        snprintf(err, errlen, "signalfd: cannot watch it: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int server_init(const struct config *cfg, char *err, size_t errlen)
{
    memset(&srv, 0, sizeof srv);
    sig_ev.fd = -1;
    srv.cfg = *cfg; /* takes ownership of cfg's strings */
    update_clock();
    srv.started_ms = srv.now_ms;
    srv.idle_ms = idle_ms_of(cfg->idle_timeout);
    srv.handshake_ms = idle_ms_of(cfg->tls.handshake_timeout);
    srv.hello_ms = idle_ms_of(cfg->hello_timeout);
    mem_available = read_mem_available();
    apply_bounds(cfg);
    log_set_level(cfg->log_level);
    tw_init(&srv.wheel, (uint64_t)srv.now_ms);
    clientlog_init((uint32_t)cfg->client_log_rate);
    chunk_pool_init(&srv.pool, POOL_CHUNKS);
    srv.rbuf_size = RBUF_SIZE;
    srv.rbuf = malloc(srv.rbuf_size);
    srv.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (srv.rbuf == NULL || srv.epfd < 0 || router_init() < 0 ||
        peers_init() < 0) {
        snprintf(err, errlen, "cannot initialise: %s", strerror(errno));
        return -1;
    }
    if (init_signals(err, errlen) < 0)
        return -1;
    return listener_open_all(cfg, err, errlen);
}

void server_stop(const char *reason)
{
    if (srv.stopping)
        return;
    srv.stopping = 1;
    srv.stop_reason = reason;
    listener_close_all();
    control_stop_accepting();
    cluster_leaving();
    struct conn *c;
    LIST_FOREACH(c, &srv.all, all_link)
    conn_close(c, CR_SHUTDOWN, NULL);
}

int server_run(void)
{
    struct epoll_event evs[MAX_EVENTS];

    while (!srv.stopping || srv.nconns > 0) {
        int timeout = -1;
        if (conn_work_pending()) {
            timeout = 0;
        } else {
            uint64_t next = tw_next(&srv.wheel);
            if (next != UINT64_MAX) {
                int64_t d = (int64_t)next - srv.now_ms;
                timeout = d < 0 ? 0 : d > 60000 ? 60000 : (int)d;
            }
        }
        int n = epoll_wait(srv.epfd, evs, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_ERROR, "error");
            if (jw) {
                jw_str(jw, "msg", "epoll_wait failed");
                jw_str(jw, "error", strerror(errno));
                log_commit(jw);
            }
            log_flush();
            return 1;
        }
        update_clock();
        for (int i = 0; i < n; i++) {
            struct ev *ev = evs[i].data.ptr;
            ev->cb(ev, evs[i].events);
        }
        if (n > 0)
            server_arm(&trim_timer, srv.now_ms + TRIM_MS);
        tw_advance(&srv.wheel, (uint64_t)srv.now_ms, fire, NULL);
        cluster_flush();
        conn_flush_dirty();
        conn_wake();
        conn_reap();
        log_flush();
    }
    return 0;
}

void server_free(void)
{
    server_disarm(&trim_timer);
    listener_close_all();
    conn_free_all();
    router_free();
    peers_free();
    chunk_pool_drain(&srv.pool);
    free(srv.rbuf);
    if (sig_ev.fd >= 0)
        close(sig_ev.fd);
    if (srv.epfd >= 0)
        close(srv.epfd);
    config_free(&srv.cfg);
}
