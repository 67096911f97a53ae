/* conn.c: a connection from accept to free.  Reads go through the shared
 * read buffer; only a partial frame is kept per connection, so an idle
 * node holds no buffers.  Output is queued and written in one writev per
 * connection per loop pass.  Also the memory bounds that act on
 * connections: push-back on senders to a full receiver, the write
 * deadline, the daemon-wide output budget and the partial-frame budget.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "conn.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "clientlog.h"
#include "history.h"
#include "log.h"
#include "peers.h"
#include "router.h"
#include "sessions.h"
#include "users.h"

#define FLUSH_MS 5000  /* how long a closing connection may take to drain */
#define LINGER_MS 2000 /* how long input is discarded after the FIN */
/* A partial frame this small is copied into the shared buffer in front of
 * the next read, so that the read can be large. */
#define SMALL_CARRY 4096

static const char *const reason_names[] = {
    [CR_QUIT] = "quit",          [CR_EOF] = "eof",
    [CR_IDLE] = "idle-timeout",  [CR_KICKED] = "kicked",
    [CR_SHUTDOWN] = "shutdown",  [CR_PROTOCOL] = "protocol-error",
    [CR_SLOW] = "slow-consumer", [CR_REPLACED] = "replaced",
    [CR_ERROR] = "error",        [CR_AUTH_FAILED] = "auth-failed",
};

/* The BYE each way of ending sends; -1: none. */
static const int reason_bye[] = {
    [CR_QUIT] = BYE_QUIT,
    [CR_EOF] = -1,
    [CR_IDLE] = BYE_IDLE_TIMEOUT,
    [CR_KICKED] = BYE_KICKED,
    [CR_SHUTDOWN] = BYE_SHUTDOWN,
    [CR_PROTOCOL] = BYE_PROTOCOL_ERROR,
    [CR_SLOW] = BYE_SLOW_CONSUMER,
    [CR_REPLACED] = BYE_REPLACED,
    [CR_ERROR] = -1,
    [CR_AUTH_FAILED] = BYE_AUTH_FAILED,
};

const char *conn_reason_name(enum conn_reason why)
{
    return reason_names[why];
}

static void on_event(struct ev *ev, uint32_t events);
static void on_timer(struct timer *t);

/* Whether c's input is read now. */
static int reading(const struct conn *c)
{
    return !c->paused && !c->blocked;
}

/* ---- the lists of connections that are not read ---- */

/* Lists only this file walks live here; srv.all is walked by several
 * modules and lives in srv (README, Layout). */
static struct conn_list
    gated; /* not read until partial frames take less room */
static struct conn_list woken; /* to read again after this pass's flush */
static SLIST_HEAD(, conn) dirty =
    SLIST_HEAD_INITIALIZER(dirty); /* output queued since the last flush */
static SLIST_HEAD(, conn) dead =
    SLIST_HEAD_INITIALIZER(dead); /* to be freed at the end of the pass */

static void wait_in(struct conn *c, struct conn_list *list)
{
    c->wait_list = list;
    LIST_INSERT_HEAD(list, c, wait_link);
}

static void unwait(struct conn *c)
{
    if (c->wait_list == NULL)
        return;
    LIST_REMOVE(c, wait_link);
    c->wait_list = NULL;
}

/* Moves every connection of list to woken: read again after the flush. */
static void wake_list(struct conn_list *list)
{
    struct conn *w;
    while ((w = LIST_FIRST(list)) != NULL) {
        unwait(w);
        wait_in(w, &woken);
    }
}

static void mark_dead(struct conn *c);

/* ---- the transport (transport.h) ---- */

/* What c's transport waits for besides what c does. */
static uint32_t tp_wants(const struct conn *c)
{
    return c->tp->wants ? c->tp->wants(c->tp_st) : 0;
}

/* Input the transport has already taken from the socket, which epoll
 * will not report. */
static int tp_pending(const struct conn *c)
{
    return c->tp->pending && c->tp->pending(c->tp_st) > 0;
}

/* Whether output waits: in the queue, or held by the transport. */
static int output_waits(const struct conn *c)
{
    return c->out.bytes > 0 || (tp_wants(c) & EPOLLOUT);
}

/* Writes what the transport holds, then what the queue holds, as far as
 * the socket takes now: 0, or -1 with errno (EAGAIN: it is full). */
static int send_out(struct conn *c)
{
    if (c->tp->drain && c->tp->drain(c->tp_st, c->ev.fd) < 0)
        return -1;
    if (c->out.bytes > 0 &&
        outq_send(&c->out, &srv.pool, c->tp->sendv, c->tp_st, c->ev.fd) < 0)
        return -1;
    return 0;
}

const char *conn_transport(const struct conn *c)
{
    return c->tp->name;
}

/* events: what c waits for; the transport's own needs are added. */
static void set_events(struct conn *c, uint32_t events)
{
    uint32_t mask = events | tp_wants(c);
    c->events = events;
    if (c->ev_mask == mask)
        return;
    if (ev_mod(&c->ev, mask) < 0) {
        /* Its events would be wrong from now on (never woken, or woken
         * forever): the connection goes. */
        ev_log_failure("connection dropped: cannot change its epoll events");
        if (c->state == CONN_OPEN)
            conn_close(c, CR_ERROR, NULL);
        else
            mark_dead(c);
        return;
    }
    c->ev_mask = mask;
}

/* The idle timeout in force for c, in ms (0: never).  A node keeps what
 * its OK announced when a reload lowers the setting, so that a client
 * pinging at a fraction of it is never cut off; a raise (or 0) applies to
 * everyone at once.  A connection not registered was told nothing. */
static int64_t idle_ms(const struct conn *c)
{
    if (srv.idle_ms == 0 || c->idle_told == CONN_IDLE_NEVER)
        return 0;
    int64_t told = (int64_t)c->idle_told * 10;
    return told > srv.idle_ms ? told : srv.idle_ms;
}

void conn_idle_announced(struct conn *c)
{
    c->idle_told =
        srv.idle_ms == 0 ? CONN_IDLE_NEVER : (uint32_t)((srv.idle_ms + 9) / 10);
}

/* When c's timer must fire: its idle deadline and, while it is not
 * registered, hello_timeout after it connected; 0 for never. */
static int64_t deadline(const struct conn *c)
{
    int64_t ms = idle_ms(c), at = ms > 0 ? c->active_ms + ms : 0;
    if (!c->registered && srv.hello_ms > 0) {
        int64_t h = c->connected_ms + srv.hello_ms;
        if (at == 0 || h < at)
            at = h;
    }
    return at;
}

static void arm_idle(struct conn *c)
{
    int64_t at = deadline(c);
    if (at > 0)
        server_arm(&c->timer, at);
    else
        server_disarm(&c->timer);
}

/* ---- security state and rate limits ---- */

static void on_rate_timer(struct timer *t);
static void read_again(struct conn *c);
static void log_oom(const char *addr);

struct conn_sec *conn_sec(struct conn *c)
{
    if (c->sec == NULL) {
        c->sec = calloc(1, sizeof *c->sec);
        if (c->sec == NULL) {
            log_oom(c->addr);
            conn_close(c, CR_ERROR, NULL);
            return NULL;
        }
        c->sec->c = c;
        c->sec->rate_timer.fn = on_rate_timer;
    }
    return c->sec;
}

const char *conn_user(const struct conn *c)
{
    return c->sec ? c->sec->user : NULL;
}

static void refill(struct conn_sec *s, const struct config_rate *r)
{
    double cap_m = (double)r->messages * r->burst;
    double cap_b = (double)r->bytes * r->burst;
    if (s->refill_ms == 0) {
        s->msg_tokens = cap_m;
        s->byte_tokens = cap_b;
    } else {
        double dt = (double)(srv.now_ms - s->refill_ms) / 1000.0;
        s->msg_tokens += dt * (double)r->messages;
        s->byte_tokens += dt * (double)r->bytes;
        if (s->msg_tokens > cap_m)
            s->msg_tokens = cap_m;
        if (s->byte_tokens > cap_b)
            s->byte_tokens = cap_b;
    }
    s->refill_ms = srv.now_ms;
}

void conn_charge(struct conn *c, size_t bytes)
{
    const struct config_rate *r = &srv.cfg.rate_limit;
    if (r->messages == 0 && r->bytes == 0)
        return;
    struct conn_sec *s = conn_sec(c);
    if (s == NULL)
        return;
    refill(s, r);
    s->msg_tokens -= 1;
    s->byte_tokens -= (double)bytes;
    double wait = 0;
    if (r->messages && s->msg_tokens < 0)
        wait = -s->msg_tokens / (double)r->messages;
    if (r->bytes && s->byte_tokens < 0 &&
        -s->byte_tokens / (double)r->bytes > wait)
        wait = -s->byte_tokens / (double)r->bytes;
    /* Over its rate: not read until the bucket holds enough again, so
     * that TCP pushes back on the sender and nothing is dropped. */
    if (wait > 0 && c->blocked == BLOCK_NONE) {
        c->blocked = BLOCK_RATE;
        server_arm(&s->rate_timer, srv.now_ms + (int64_t)(wait * 1000.0) + 1);
    }
}

static void on_rate_timer(struct timer *t)
{
    struct conn_sec *s =
        (struct conn_sec *)((char *)t - offsetof(struct conn_sec, rate_timer));
    struct conn *c = s->c;
    if (c->state != CONN_OPEN || c->blocked != BLOCK_RATE)
        return;
    c->blocked = BLOCK_NONE;
    read_again(c);
}

/* Over max_connections_per_ip: refused at once, with a word when the
 * transport lets one be said before its handshake. */
static int over_per_ip(int fd, const char *addr, const struct transport *tp,
                       struct peer *p)
{
    int64_t limit = srv.cfg.max_connections_per_ip;
    if (limit == 0 || p == NULL || p->conns < (uint64_t)limit)
        return 0;
    srv.stats.rejects++;
    if (tp == &transport_tcp) {
        static const char line[] = "ERR server-full\n";
        (void)!write(fd, line, sizeof line - 1);
    }
    struct jsonw *jw = clientlog_begin(addr, LOG_LVL_INFO, CL_REJECT);
    if (jw) {
        jw_str(jw, "code", "per-ip-limit");
        log_commit(jw);
    }
    peers_done(p, srv.now_ms);
    return 1;
}

struct conn *conn_new(int fd, const char *addr, const struct transport *tp)
{
    struct peer *p = peers_get(addr);
    if (over_per_ip(fd, addr, tp, p))
        return NULL;
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        peers_done(p, srv.now_ms);
        return NULL;
    }
    c->ev.cb = on_event;
    c->ev.fd = fd;
    c->timer.fn = on_timer;
    c->tp = tp;
    if (tp->open && (c->tp_st = tp->open(fd)) == NULL) {
        struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_WARN, "warning");
        if (jw) {
            jw_str(jw, "msg", "connection refused");
            jw_str(jw, "addr", addr);
            jw_str(jw, "error", transport_error());
            log_commit(jw);
        }
        free(c);
        peers_done(p, srv.now_ms);
        return NULL;
    }
    c->state = tp->handshake ? CONN_HANDSHAKE : CONN_OPEN;
    c->events = c->ev_mask = EPOLLIN;
    if (ev_add(&c->ev, EPOLLIN) < 0) {
        ev_log_failure("connection refused: cannot watch it");
        if (tp->close)
            tp->close(c->tp_st);
        free(c);
        peers_done(p, srv.now_ms);
        return NULL;
    }
    c->peer = p;
    if (p)
        p->conns++;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    c->connected_ms = c->active_ms = srv.now_ms;
    LIST_INSERT_HEAD(&srv.all, c, all_link);
    srv.nconns++;
    srv.stats.connections_total++;
    if (c->state == CONN_HANDSHAKE)
        server_arm(&c->timer, srv.now_ms + srv.handshake_ms);
    else
        arm_idle(c);

    struct jsonw *jw = clientlog_begin(c->addr, LOG_LVL_INFO, CL_CONNECT);
    if (jw)
        log_commit(jw);
    return c;
}

static void mark_dirty(struct conn *c)
{
    if (!c->dirty) {
        c->dirty = 1;
        SLIST_INSERT_HEAD(&dirty, c, dirty_link);
    }
}

static void mark_dead(struct conn *c)
{
    outq_clear(&c->out, &srv.pool);
    server_disarm(&c->timer);
    c->state = CONN_DEAD;
    if (!c->dirty) {
        c->dirty = 1;
        SLIST_INSERT_HEAD(&dead, c, dirty_link);
    }
    /* A dirty connection is moved to the dead list by the flush. */
}

/* The daemon-wide output budget is spent: cut the open connections with
 * the most output pending, the largest first, until an eighth of it is
 * free again (so that this is not done at every append), and say so once. */
static void shed(void)
{
    size_t target = srv.out_budget - srv.out_budget / 8, held = srv.pool.held;
    unsigned cut = 0;

    while (srv.pool.held > target) {
        struct conn *big = NULL, *o;
        LIST_FOREACH(o, &srv.all, all_link)
        if (o->state == CONN_OPEN && o->out.bytes &&
            (big == NULL || o->out.bytes > big->out.bytes))
            big = o;
        if (big == NULL)
            break;
        conn_close(big, CR_SLOW, NULL);
        cut++;
    }
    struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_WARN, "warning");
    if (jw) {
        jw_str(jw, "msg", "max_output_total reached: largest queues cut");
        jw_uint(jw, "held", held);
        jw_uint(jw, "budget", srv.out_budget);
        jw_uint(jw, "cut", cut);
        log_commit(jw);
    }
}

/* Writes what the kernel takes of c's queue now: 0, or -1 (c cut). */
static int write_now(struct conn *c)
{
    if (output_waits(c) && send_out(c) < 0 && errno != EAGAIN &&
        errno != EWOULDBLOCK) {
        conn_close_why(c, CR_ERROR, NULL, transport_error(), NULL);
        return -1;
    }
    return 0;
}

/* Makes room for n more bytes under max_output_buffer and the output
 * budget, writing what the kernel will take now if that is what it takes.
 * Returns 0 or -1 (cut). */
static int make_room(struct conn *c, size_t n)
{
    uint64_t limit = (uint64_t)srv.cfg.max_output_buffer;
    if (c->state != CONN_OPEN)
        return -1;
    if (srv.pool.held >= srv.out_budget) {
        shed();
        if (c->state != CONN_OPEN)
            return -1;
    }
    if (c->out.bytes + n <= limit)
        return 0;
    if (write_now(c) < 0)
        return -1;
    if (c->out.bytes + n <= limit)
        return 0;
    conn_close(c, CR_SLOW, NULL);
    return -1;
}

/* frame: data begins a frame (a line, or a MSG header), which is where a
 * close that drops output may cut. */
static void log_oom(const char *addr)
{
    struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_ERROR, "error");
    if (jw) {
        jw_str(jw, "msg", "out of memory queueing output");
        jw_str(jw, "addr", addr);
        log_commit(jw);
    }
}

void conn_out_of_memory(void)
{
    log_oom(NULL);
}

static int append(struct conn *c, const void *data, size_t n, int frame)
{
    int rc = frame ? outq_append_frame(&c->out, &srv.pool, data, n)
                   : outq_append(&c->out, &srv.pool, data, n);
    if (rc < 0) {
        log_oom(c->addr);
        conn_close(c, CR_ERROR, NULL);
        return -1;
    }
    mark_dirty(c);
    return 0;
}

int conn_send(struct conn *c, const void *data, size_t n)
{
    if (make_room(c, n) < 0)
        return -1;
    return append(c, data, n, 1);
}

int conn_deliver(struct conn *c, const char *hdr, size_t hlen,
                 const char *payload, size_t plen)
{
    if (c->sess)
        return sessions_deliver(c, hdr, hlen, payload, plen);
    if (make_room(c, hlen + plen + 1) < 0)
        return -1;
    if (append(c, hdr, hlen, 1) < 0 || append(c, payload, plen, 0) < 0 ||
        append(c, "\n", 1, 0) < 0)
        return -1;
    c->msgs_out++;
    c->bytes_out += plen;
    return 0;
}

/* from stops being read until to drains (or goes). */
static void block_on(struct conn *from, struct conn *to)
{
    from->blocked = BLOCK_RECEIVER;
    wait_in(from, &to->waiters);
}

int conn_deliver_from(struct conn *from, struct conn *to, const char *hdr,
                      size_t hlen, const char *payload, size_t plen)
{
    uint64_t limit = (uint64_t)srv.cfg.max_output_buffer;
    size_t n = hlen + plen + 1;

    /* A receiver that reads is not cut for a burst: the sender waits. */
    if (to->state == CONN_OPEN && to->out.bytes > 0 &&
        to->out.bytes + n > limit) {
        if (write_now(to) < 0)
            return -1;
        if (to->out.bytes > 0 && to->out.bytes + n > limit) {
            block_on(from, to);
            return 1;
        }
    }
    if (conn_deliver(to, hdr, hlen, payload, plen) < 0)
        return -1;
    if (to->out.bytes >= limit / 2 && to->state == CONN_OPEN)
        block_on(from, to);
    return 0;
}

static int append_shared(struct conn *c, struct shared *sh, uint32_t off,
                         size_t len)
{
    if (outq_append_shared(&c->out, &srv.pool, sh, off, (uint32_t)len) < 0) {
        log_oom(c->addr);
        conn_close(c, CR_ERROR, NULL);
        return -1;
    }
    mark_dirty(c);
    return 0;
}

int conn_deliver_shared_nocount(struct conn *c, struct shared *sh,
                                uint32_t off, size_t len)
{
    if (make_room(c, len) < 0)
        return -1;
    return append_shared(c, sh, off, len);
}

int conn_queue_shared(struct conn *c, struct shared *sh, uint32_t off,
                      size_t len)
{
    if (c->state != CONN_OPEN)
        return -1;
    return append_shared(c, sh, off, len);
}

int conn_deliver_shared(struct conn *c, struct shared *sh, uint32_t off,
                        size_t len, size_t plen)
{
    if (c->sess) {
        /* Its own copy with its own sequence number. */
        size_t hlen = len - plen - 1;
        return sessions_deliver(c, sh->data + off, hlen,
                                sh->data + off + hlen, plen);
    }
    if (conn_deliver_shared_nocount(c, sh, off, len) < 0)
        return -1;
    c->msgs_out++;
    c->bytes_out += plen;
    return 0;
}

struct conn *conn_new_held(const struct conn *c)
{
    struct conn *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->ev.fd = -1;
    h->state = CONN_HELD;
    h->tp = c->tp; /* what it came over, for msgctl list */
    h->timer.fn = on_timer;
    if (conn_user(c)) {
        h->sec = calloc(1, sizeof *h->sec);
        if (h->sec == NULL || (h->sec->user = strdup(conn_user(c))) == NULL) {
            free(h->sec);
            free(h);
            return NULL;
        }
        h->sec->c = h;
        h->sec->by_cert = c->sec->by_cert;
        h->sec->rate_timer.fn = on_rate_timer;
    }
    memcpy(h->id, c->id, sizeof h->id);
    h->idlen = c->idlen;
    memcpy(h->addr, c->addr, sizeof h->addr);
    h->connected_ms = c->connected_ms;
    h->active_ms = c->active_ms;
    h->msgs_in = c->msgs_in;
    h->msgs_out = c->msgs_out;
    h->bytes_in = c->bytes_in;
    h->bytes_out = c->bytes_out;
    h->idle_told = c->idle_told;
    h->hold_until_ms = srv.now_ms + (int64_t)(srv.cfg.session_hold * 1000.0);
    server_arm(&h->timer, h->hold_until_ms);
    LIST_INSERT_HEAD(&srv.all, h, all_link);
    return h;
}

void conn_drop_held(struct conn *c)
{
    mark_dead(c);
}

void conn_err(struct conn *c, enum proto_err err, const char *detail,
              size_t dlen)
{
    char line[16 + 32 + PROTO_MAX_ID];
    const char *name = proto_err_name(err);
    size_t nlen = strlen(name), n = 0;

    if (dlen > PROTO_MAX_ID)
        dlen = 0;
    memcpy(line, "ERR ", 4);
    n = 4;
    memcpy(line + n, name, nlen);
    n += nlen;
    if (dlen) {
        line[n++] = ' ';
        memcpy(line + n, detail, dlen);
        n += dlen;
    }
    line[n++] = '\n';
    conn_send(c, line, n);
}

static void remember(const struct conn *c, enum conn_reason why)
{
    struct closed_conn h = {
        .reason = reason_names[why],
        .connected_ms = srv.now_ms - c->connected_ms,
        .closed_real_ms = srv.real_ms,
        .msgs_in = c->msgs_in,
        .msgs_out = c->msgs_out,
        .bytes_in = c->bytes_in,
        .bytes_out = c->bytes_out,
    };
    if (c->registered)
        memcpy(h.id, c->id, (size_t)c->idlen + 1);
    memcpy(h.addr, c->addr, sizeof h.addr);
    history_add(&h);
}

/* text: the kick's reason, as the BYE gives it; error and origin: see
 * conn_close_why.  Absent keys are left out, not null. */
static void log_disconnect(struct conn *c, enum conn_reason why,
                           const char *text, const char *error,
                           const char *origin)
{
    struct jsonw *jw = clientlog_begin(c->addr, LOG_LVL_INFO, CL_DISCONNECT);
    if (jw == NULL)
        return;
    jw_str(jw, "node", c->registered ? c->id : NULL);
    jw_str(jw, "reason", reason_names[why]);
    if (error)
        jw_str(jw, "error", error);
    if (text && *text)
        jw_str(jw, "text", text);
    if (origin)
        jw_str(jw, "origin", origin);
    jw_uint(jw, "msgs_in", c->msgs_in);
    jw_uint(jw, "msgs_out", c->msgs_out);
    jw_uint(jw, "bytes_in", c->bytes_in);
    jw_uint(jw, "bytes_out", c->bytes_out);
    log_commit(jw);
}

static void count(enum conn_reason why)
{
    switch (why) {
    case CR_IDLE:
        srv.stats.evictions++;
        break;
    case CR_KICKED:
        srv.stats.kicks++;
        break;
    case CR_PROTOCOL:
        srv.stats.protocol_errors++;
        break;
    case CR_SLOW:
        srv.stats.slow_consumers++;
        break;
    default:
        break;
    }
}

/* Drops c's queued output but the rest of the frame being written. */
static int drop_output(struct conn *c)
{
    return outq_keep_frame(&c->out, &srv.pool, proto_out_piece);
}

void conn_close(struct conn *c, enum conn_reason why, const char *text)
{
    conn_close_why(c, why, text, NULL, NULL);
}

void conn_close_why(struct conn *c, enum conn_reason why, const char *text,
                    const char *error, const char *origin)
{
    if (c->state == CONN_HANDSHAKE) {
        /* Nothing can be said to it yet: it just goes. */
        log_disconnect(c, why, text, error, origin);
        remember(c, why);
        count(why);
        mark_dead(c);
        return;
    }
    if (c->state == CONN_HELD) {
        /* A held session kicked, replaced or shut down: it ends. */
        count(why);
        sessions_expire(c, reason_names[why]);
        return;
    }
    if (c->state != CONN_OPEN)
        return;
    log_disconnect(c, why, text, error, origin);
    remember(c, why);
    count(why);
    /* A session outlives a connection that drops; QUIT, a kick, a
     * replace or a shutdown end it with the connection. */
    if (c->sess && (why == CR_QUIT || why == CR_KICKED || why == CR_REPLACED ||
                    why == CR_SHUTDOWN || !sessions_hold(c)))
        sessions_end(c);
    router_forget(c);
    if (c->sec) {
        auth_forget(c); /* an AUTH being checked is not answered */
        server_disarm(&c->sec->rate_timer);
    }
    c->paused = 0; /* a HELLO that waited is over */
    if (c->registered)
        router_unregister(c);
    /* The partial frame is freed with c: a command of c's being routed
     * may still point into it. */
    c->in_len = c->in_need = 0;
    unwait(c);
    c->blocked = BLOCK_NONE;
    wake_list(&c->waiters); /* their messages now meet an unknown node */

    if (why == CR_ERROR) {
        mark_dead(c);
        return;
    }
    /* A slow consumer's backlog is what got it cut; drop it so that the
     * BYE has a chance to get through, but not the rest of a frame already
     * begun on the wire: the client must be able to read up to the BYE.
     * If that rest cannot be sent by the flush deadline, neither is the
     * BYE. */
    int bye = reason_bye[why] >= 0;
    if (why == CR_SLOW && drop_output(c) < 0)
        bye = 0;
    c->state = CONN_CLOSING;
    if (bye) {
        char line[32 + 256];
        const char *name = proto_bye_name((enum proto_bye)reason_bye[why]);
        int n;
        if (text && *text)
            n = snprintf(line, sizeof line, "BYE %s %.255s\n", name, text);
        else
            n = snprintf(line, sizeof line, "BYE %s\n", name);
        if (n >= (int)sizeof line)
            n = (int)sizeof line - 1, line[n - 1] = '\n';
        if (outq_append_frame(&c->out, &srv.pool, line, (size_t)n) < 0)
            drop_output(c); /* no memory: at least free what can be */
    }
    server_arm(&c->timer, srv.now_ms + FLUSH_MS);
    set_events(c, 0);
    mark_dirty(c);
}

/* Runs every whole frame in data[0..len); returns the bytes consumed. */
static size_t run_frames(struct conn *c, const char *data, size_t len)
{
    size_t off = 0;
    uint64_t max_payload = (uint64_t)srv.cfg.max_message_size;

    while (off < len && c->state == CONN_OPEN) {
        struct proto_cmd cmd;
        switch (proto_parse(data + off, len - off, max_payload, &cmd)) {
        case PROTO_INCOMPLETE:
            c->in_need = (uint32_t)cmd.need;
            return off;
        case PROTO_COMMAND:
            c->active_ms = srv.now_ms;
            if (router_command(c, &cmd) > 0) {
                c->in_need = 0; /* held: it runs again when c is resumed */
                return off;
            }
            off += cmd.consumed;
            /* The rest waits for the HELLO's answer, or for a receiver. */
            if (!reading(c)) {
                c->in_need = 0;
                return off;
            }
            break;
        case PROTO_REFUSED:
            c->active_ms = srv.now_ms;
            off += cmd.consumed;
            conn_err(c, cmd.err, NULL, 0);
            break;
        case PROTO_FATAL:
            conn_err(c, cmd.err, NULL, 0);
            conn_close_why(c, CR_PROTOCOL, NULL, proto_err_name(cmd.err), NULL);
            return len;
        }
    }
    c->in_need = 0;
    return off;
}

enum { CARRY_OK, CARRY_NOMEM, CARRY_TOO_LARGE };

/* Keeps data[0..n), the start of a frame, for the next read.  Before
 * HELLO a frame may take max_unregistered_input bytes at most (the rest
 * of a read behind a HELLO that waits for the cluster is not a frame). */
static int carry(struct conn *c, const char *data, size_t n)
{
    size_t want = c->in_need > n ? c->in_need : n;
    if (want < PROTO_MAX_LINE)
        want = PROTO_MAX_LINE;
    if (!c->registered && !c->paused &&
        want > (uint64_t)srv.cfg.max_unregistered_input)
        return CARRY_TOO_LARGE;
    if (c->in_cap < want || c->in_cap > 2 * want + SMALL_CARRY) {
        char *p = malloc(want);
        if (p == NULL)
            return CARRY_NOMEM;
        memmove(p, data, n);
        free(c->in);
        srv.in_total += want - c->in_cap;
        c->in = p;
        c->in_cap = (uint32_t)want;
    } else if (data != c->in) {
        memmove(c->in, data, n);
    }
    c->in_len = (uint32_t)n;
    return CARRY_OK;
}

/* carry, or c's end when it cannot; 0 or -1 (closed). */
static int carry_or_close(struct conn *c, const char *data, size_t n)
{
    switch (carry(c, data, n)) {
    case CARRY_OK:
        return 0;
    case CARRY_TOO_LARGE:
        conn_err(c, PERR_TOO_LARGE, NULL, 0);
        conn_close(c, CR_PROTOCOL, NULL);
        return -1;
    default:
        conn_close(c, CR_ERROR, NULL);
        return -1;
    }
}

static void drop_carry(struct conn *c)
{
    srv.in_total -= c->in_cap;
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = c->in_need = 0;
}

static void on_readable(struct conn *c)
{
    char *data;
    size_t have = 0, room;
    ssize_t n;

    /* Partial frames have taken their budget: only those that hold one
     * are read (finishing it is what frees memory); the others wait. */
    if (c->in_len == 0 && srv.in_total >= srv.in_budget) {
        c->blocked = BLOCK_INPUT;
        wait_in(c, &gated);
        set_events(c, c->events & ~(uint32_t)EPOLLIN);
        return;
    }
    /* A small partial frame goes in front of a full-size read into the
     * shared buffer; a large one (a big payload arriving) is read into
     * place so that it is never copied more than once. */
    if (c->in_len == 0 ||
        (c->in_len <= SMALL_CARRY && c->in_need <= srv.rbuf_size)) {
        data = srv.rbuf;
        if (c->in_len) {
            memcpy(data, c->in, c->in_len);
            have = c->in_len;
        }
        room = srv.rbuf_size - have;
    } else {
        if (c->in_cap < c->in_need && carry_or_close(c, c->in, c->in_len) < 0)
            return;
        data = c->in;
        have = c->in_len;
        room = c->in_cap - have;
    }

    n = c->tp->recv(c->tp_st, c->ev.fd, data + have, room);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        conn_close_why(c, CR_ERROR, NULL, transport_error(), NULL);
        return;
    }
    /* A TLS client on a plain listener: its ClientHello would otherwise
     * read as a malformed command; say what it is. */
    if (!c->heard && n >= 3 && c->tp == &transport_tcp && data[0] == 0x16 &&
        data[1] == 0x03 && (unsigned char)data[2] <= 0x04) {
        conn_close_why(c, CR_PROTOCOL, NULL,
                       "a TLS handshake on a plain listener", NULL);
        return;
    }
    c->heard = 1;
    size_t len = have + (size_t)n;
    size_t used = run_frames(c, data, len);
    if (c->state != CONN_OPEN)
        return;
    if (used == len)
        drop_carry(c);
    else if (carry_or_close(c, data + used, len - used) < 0)
        return;
    if (n == 0)
        conn_close(c, CR_EOF, NULL);
    else if (!reading(c))
        set_events(c, c->events & ~(uint32_t)EPOLLIN);
}

/* Reads c, and again while its transport holds input already taken from
 * the socket (epoll would not report it). */
static void read_input(struct conn *c)
{
    do
        on_readable(c);
    while (c->state == CONN_OPEN && reading(c) && tp_pending(c));
}

void conn_pause(struct conn *c)
{
    c->paused = 1;
}

/* Reads c again (if it may be) after a pause or a block; see conn_resume. */
static void read_again(struct conn *c)
{
    if (c->state != CONN_OPEN || !reading(c))
        return;
    if (c->in_len) {
        size_t len = c->in_len;
        size_t used = run_frames(c, c->in, len);
        if (c->state != CONN_OPEN)
            return;
        if (used == len)
            drop_carry(c);
        else if (carry_or_close(c, c->in + used, len - used) < 0)
            return;
    }
    if (reading(c))
        set_events(c, c->events | EPOLLIN);
    else
        set_events(c, c->events & ~(uint32_t)EPOLLIN);
    if (c->state == CONN_OPEN && reading(c) && tp_pending(c))
        read_input(c);
}

void conn_resume(struct conn *c)
{
    c->paused = 0;
    read_again(c);
}

/* After the FIN, input is read and thrown away until EOF, so that closing
 * never resets the connection before the client has read our last line.
 * The bytes are not the protocol's, so they are read from the socket
 * itself, past the transport. */
static void on_linger_readable(struct conn *c)
{
    ssize_t n = read(c->ev.fd, srv.rbuf, srv.rbuf_size);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        mark_dead(c);
}

/* ---- the write deadline ---- */

/* While some connection waits to write, once a second (or at half the
 * deadline if shorter) those that wrote nothing for write_deadline are
 * cut.  A walk of every connection, but only while output waits. */
static void on_deadline(struct timer *t);
static struct timer deadline_timer = {.fn = on_deadline};
static int deadline_armed;

static int64_t deadline_period(void)
{
    int64_t d = srv.write_deadline_ms;
    return d < 2000 ? d / 2 + 1 : 1000;
}

static void arm_deadline(void)
{
    if (!deadline_armed && srv.write_deadline_ms > 0) {
        deadline_armed = 1;
        server_arm(&deadline_timer, srv.now_ms + deadline_period());
    }
}

static void on_deadline(struct timer *t)
{
    int waiting = 0;
    struct conn *c;
    (void)t;
    deadline_armed = 0;
    if (srv.write_deadline_ms == 0)
        return;
    LIST_FOREACH(c, &srv.all, all_link)
    {
        if (c->state != CONN_OPEN || !(c->events & EPOLLOUT))
            continue;
        if (srv.now_ms - c->progress_ms >= srv.write_deadline_ms)
            conn_close(c, CR_SLOW, NULL);
        else
            waiting = 1;
    }
    if (waiting)
        arm_deadline();
}

static void flush(struct conn *c)
{
    size_t before = c->out.bytes;
    if (output_waits(c) && send_out(c) < 0 && errno != EAGAIN &&
        errno != EWOULDBLOCK) {
        if (c->state == CONN_OPEN)
            conn_close_why(c, CR_ERROR, NULL, transport_error(), NULL);
        else
            mark_dead(c);
        return;
    }
    /* Senders held back for c go on once it is down to a quarter. */
    if (!LIST_EMPTY(&c->waiters) &&
        c->out.bytes <= (uint64_t)srv.cfg.max_output_buffer / 4)
        wake_list(&c->waiters);
    uint32_t in = c->state == CONN_OPEN && reading(c) ? EPOLLIN : 0;
    if (output_waits(c)) {
        /* Progress, or the start of a wait: the deadline counts from here. */
        if (c->out.bytes < before || !(c->events & EPOLLOUT))
            c->progress_ms = srv.now_ms;
        set_events(c, in | EPOLLOUT);
        arm_deadline();
        return;
    }
    if (c->state == CONN_CLOSING) {
        c->tp->shutdown(c->tp_st, c->ev.fd);
        c->state = CONN_LINGER;
        server_arm(&c->timer, srv.now_ms + LINGER_MS);
        set_events(c, EPOLLIN);
    } else if (c->state == CONN_OPEN) {
        set_events(c, in);
    }
}

/* ---- the transport's opening exchange ---- */

/* A handshake that failed or took too long: logged as a reject (code
 * tls-handshake) with the transport's reason, and the connection goes
 * without a word (there is no channel to say one on). */
static void handshake_failed(struct conn *c, const char *why)
{
    srv.stats.rejects++;
    struct jsonw *jw = clientlog_begin(c->addr, LOG_LVL_INFO, CL_REJECT);
    if (jw) {
        jw_str(jw, "code", "tls-handshake");
        jw_str(jw, "error", why);
        log_commit(jw);
    }
    conn_close_why(c, CR_ERROR, NULL, why, NULL);
}

static void handshake(struct conn *c)
{
    int r = c->tp->handshake(c->tp_st, c->ev.fd);
    if (r < 0) {
        handshake_failed(c, transport_error());
        return;
    }
    if (r == 0) {
        set_events(c, 0); /* the transport says which way it waits */
        return;
    }
    c->state = CONN_OPEN;
    c->active_ms = srv.now_ms;
    /* A verified client certificate names the user: no AUTH needed. */
    char cn[USERS_MAX_NAME + 2];
    if (c->tp->peer_name && c->tp->peer_name(c->tp_st, cn, sizeof cn) &&
        users_valid_name(cn))
        auth_certificate(c, cn);
    if (c->state != CONN_OPEN)
        return;
    arm_idle(c);
    set_events(c, EPOLLIN);
    if (tp_pending(c))
        read_input(c);
}

static void on_event(struct ev *ev, uint32_t events)
{
    struct conn *c = (struct conn *)ev;

    switch (c->state) {
    case CONN_OPEN:
        if (!reading(c)) {
            /* Not reading; a hang-up would otherwise be reported forever. */
            if (events & (EPOLLHUP | EPOLLERR))
                conn_close(c, CR_ERROR, NULL);
        } else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR) ||
                   ((events & EPOLLOUT) && tp_wants(c))) {
            /* (A TLS read may wait for the socket to be writable.) */
            read_input(c);
        }
        if (c->state == CONN_OPEN && (events & EPOLLOUT))
            flush(c);
        break;
    case CONN_CLOSING:
        flush(c);
        break;
    case CONN_LINGER:
        on_linger_readable(c);
        break;
    case CONN_DEAD:
        break;
    case CONN_HANDSHAKE:
        handshake(c);
        break;
    case CONN_HELD: /* has no descriptor */
        break;
    }
}

static void on_timer(struct timer *t)
{
    struct conn *c = (struct conn *)((char *)t - offsetof(struct conn, timer));

    switch (c->state) {
    case CONN_OPEN:
        /* Activity does not touch the wheel; the timer fires at the
         * earliest possible deadline and re-arms for what is left. */
        if (deadline(c) == 0)
            break;
        if (srv.now_ms >= deadline(c))
            conn_close(c, CR_IDLE, NULL);
        else
            arm_idle(c);
        break;
    case CONN_CLOSING:
    case CONN_LINGER:
        mark_dead(c);
        break;
    case CONN_DEAD:
        break;
    case CONN_HANDSHAKE:
        handshake_failed(c, "not done within handshake_timeout");
        break;
    case CONN_HELD:
        sessions_expire(c, NULL);
        break;
    }
}

int conn_work_pending(void)
{
    return !SLIST_EMPTY(&dirty) || !SLIST_EMPTY(&dead);
}

void conn_flush_dirty(void)
{
    struct conn *c;
    while ((c = SLIST_FIRST(&dirty)) != NULL) {
        SLIST_REMOVE_HEAD(&dirty, dirty_link);
        c->dirty = 0;
        if (c->state != CONN_DEAD)
            flush(c);
        if (c->state == CONN_DEAD && !c->dirty) {
            c->dirty = 1;
            SLIST_INSERT_HEAD(&dead, c, dirty_link);
        }
    }
}

void conn_reap(void)
{
    struct conn *c;
    while ((c = SLIST_FIRST(&dead)) != NULL) {
        SLIST_REMOVE_HEAD(&dead, dirty_link);
        if (c->ev.fd >= 0) { /* not a held session's stand-in */
            if (c->tp->close)
                c->tp->close(c->tp_st);
            close(c->ev.fd); /* also leaves the epoll set */
            srv.nconns--;
        }
        LIST_REMOVE(c, all_link);
        if (c->peer) {
            c->peer->conns--;
            peers_done(c->peer, srv.now_ms);
        }
        if (c->sec) {
            auth_forget(c);
            server_disarm(&c->sec->rate_timer);
            free(c->sec->user);
            free(c->sec);
        }
        if (c->sess) {
            if (c->state == CONN_HELD) /* freed at exit while held */
                srv.nheld--;
            sessions_end(c);
        }
        outq_clear(&c->out, &srv.pool);
        unwait(c);
        drop_carry(c);
        free(c);
    }
}

void conn_free_all(void)
{
    struct conn *c;
    SLIST_INIT(&dirty);
    SLIST_INIT(&dead);
    LIST_FOREACH(c, &srv.all, all_link)
    SLIST_INSERT_HEAD(&dead, c, dirty_link);
    conn_reap();
}

void conn_wake(void)
{
    /* A quarter of the partial-frame budget free again: all are read. */
    if (!LIST_EMPTY(&gated) &&
        srv.in_total <= srv.in_budget - srv.in_budget / 4)
        wake_list(&gated);
    struct conn *c;
    while ((c = LIST_FIRST(&woken)) != NULL) {
        unwait(c);
        c->blocked = BLOCK_NONE;
        read_again(c);
    }
}

void conn_rearm_all(void)
{
    struct conn *c;
    LIST_FOREACH(c, &srv.all, all_link)
    if (c->state == CONN_OPEN)
        arm_idle(c);
}
