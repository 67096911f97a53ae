/* sessions.c: the daemon's sessions (sessions.h).
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "sessions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "clientlog.h"
#include "conn.h"
#include "log.h"
#include "router.h"
#include "server.h"

/* Ended sessions that lost messages, remembered until their node comes
 * back to be told (or 4096 later ones push them out): a bound, not a
 * time, so that a node back after a week still hears what it missed. */
#define TOMBSTONES 4096

struct tombstone {
    uint8_t token[SESSION_TOKEN_BYTES];
    char id[PROTO_MAX_ID + 1];
    uint64_t lost;
};

static struct tombstone *tombs;
static size_t ntombs, next_tomb;

int sessions_enabled(void)
{
    return srv.cfg.session_hold > 0;
}

int sessions_open(struct conn *c, uint64_t lost)
{
    uint8_t token[SESSION_TOKEN_BYTES];
    if (getrandom(token, sizeof token, GRND_NONBLOCK) != (ssize_t)sizeof token)
        return -1; /* never a guessable token */
    struct session *s = malloc(sizeof *s);
    if (s == NULL)
        return -1;
    session_init(s, token);
    s->lost = lost;
    c->sess = s;
    return 0;
}

static void bury(const struct session *s, const char *id, uint64_t lost)
{
    if (lost == 0)
        return;
    if (tombs == NULL) {
        tombs = calloc(TOMBSTONES, sizeof *tombs);
        if (tombs == NULL)
            return; /* the loss is still logged */
    }
    struct tombstone *t = &tombs[next_tomb];
    memcpy(t->token, s->token, sizeof t->token);
    snprintf(t->id, sizeof t->id, "%s", id);
    t->lost = lost;
    next_tomb = (next_tomb + 1) % TOMBSTONES;
    if (ntombs < TOMBSTONES)
        ntombs++;
}

uint64_t sessions_tombstone_take(const char *token, size_t tlen, const char *id,
                                 size_t idlen)
{
    for (size_t i = 0; i < ntombs; i++) {
        struct tombstone *t = &tombs[i];
        if (t->lost && strlen(t->id) == idlen &&
            memcmp(t->id, id, idlen) == 0 &&
            session_token_matches(t->token, token, tlen)) {
            uint64_t lost = t->lost;
            t->lost = 0;
            return lost;
        }
    }
    return 0;
}

void sessions_ok_suffix(const struct conn *c, char *out, size_t outlen)
{
    out[0] = '\0';
    if (c->sess == NULL)
        return;
    char hex[PROTO_TOKEN_LEN + 1];
    session_token_hex(c->sess->token, hex);
    int n = snprintf(out, outlen, " session=%s", hex);
    if (c->sess->lost && n > 0 && (size_t)n < outlen)
        n += snprintf(out + n, outlen - (size_t)n, " lost=%llu",
                      (unsigned long long)c->sess->lost);
    if (c->sess->resumed && n > 0 && (size_t)n < outlen)
        snprintf(out + n, outlen - (size_t)n, " in=%llu",
                 (unsigned long long)c->sess->in);
}

static void log_event(const struct conn *c, enum clientlog_event ev,
                      const struct session *s, const char *key, uint64_t n)
{
    struct jsonw *jw = clientlog_begin(c->addr, LOG_LVL_INFO, ev);
    if (jw == NULL)
        return;
    jw_str(jw, "node", c->id);
    jw_uint(jw, "kept", s->count);
    if (key)
        jw_uint(jw, key, n);
    log_commit(jw);
}

static void free_session(struct session *s)
{
    session_clear(s, &srv.pool);
    free(s);
}

void sessions_end(struct conn *c)
{
    if (c->sess) {
        free_session(c->sess);
        c->sess = NULL;
    }
}

void sessions_take_over(struct conn *c, struct conn *old, uint64_t ack)
{
    struct session *s = old->sess;
    old->sess = NULL;
    session_ack(s, &srv.pool, ack);
    s->lost = 0;
    s->resumed = 1;
    c->sess = s;
    router_swap(old, c);
    if (old->state == CONN_HELD) {
        srv.nheld--;
        conn_drop_held(old);
    } else {
        conn_close(old, CR_REPLACED, NULL);
    }
    srv.stats.sessions_resumed++;
    log_event(c, CL_SESSION_RESUMED, s, "acked", s->acked);
}

void sessions_replay(struct conn *c)
{
    struct session *s = c->sess;
    for (uint64_t q = s->acked + 1; q < s->next_seq; q++) {
        const struct session_frame *f = session_frame(s, q);
        if (conn_queue_shared(c, f->sh, f->off, f->len) < 0)
            return;
    }
}

int sessions_ack(struct conn *c, uint64_t seq)
{
    return session_ack(c->sess, &srv.pool, seq) == SESSION_ACK_AHEAD ? -1 : 0;
}

/* The session of c (open or held) keeps more than session_buffer: it
 * ends, its kept messages and this one are lost, and the id is freed. */
static void overflow(struct conn *c)
{
    struct session *s = c->sess;
    uint64_t lost = s->count + 1;
    log_event(c, CL_SESSION_OVERFLOW, s, "lost", lost);
    bury(s, c->id, lost);
    c->sess = NULL;
    free_session(s);
    if (c->state == CONN_HELD) {
        srv.nheld--;
        router_unregister(c);
        router_forget(c);
        conn_drop_held(c);
    } else {
        conn_close(c, CR_SLOW, "session buffer full");
    }
}

int sessions_deliver(struct conn *c, const char *hdr, size_t hlen,
                     const char *payload, size_t plen)
{
    struct session *s = c->sess;
    if (s->bytes + hlen + 21 + plen + 1 > (uint64_t)srv.cfg.session_buffer) {
        overflow(c);
        return -1;
    }
    /* "MSG from to n\n" becomes "MSG from to n seq\n". */
    char line[PROTO_MAX_MSG_HEADER];
    memcpy(line, hdr, hlen - 1);
    int n = snprintf(line + hlen - 1, sizeof line - (hlen - 1), " %llu\n",
                     (unsigned long long)s->next_seq);
    struct shared *sh;
    uint32_t off;
    if (session_keep(s, &srv.pool, line, hlen - 1 + (size_t)n, payload, plen,
                     &sh, &off) < 0) {
        conn_out_of_memory();
        return -1;
    }
    c->msgs_out++;
    c->bytes_out += plen;
    if (c->state == CONN_HELD)
        return 0;
    return conn_deliver_shared_nocount(c, sh, off,
                                       hlen - 1 + (size_t)n + plen + 1);
}

int sessions_hold(struct conn *c)
{
    if (c->sess == NULL || !c->registered || !sessions_enabled())
        return 0;
    struct conn *h = conn_new_held(c);
    if (h == NULL) {
        sessions_end(c); /* no memory for a stand-in: the session ends */
        return 0;
    }
    h->sess = c->sess;
    c->sess = NULL;
    router_swap(c, h);
    srv.nheld++;
    log_event(h, CL_SESSION_HELD, h->sess, NULL, 0);
    return 1;
}

void sessions_expire(struct conn *held, const char *why)
{
    struct session *s = held->sess;
    held->sess = NULL;
    srv.nheld--;
    if (why == NULL)
        srv.stats.sessions_expired++;
    struct jsonw *jw =
        clientlog_begin(held->addr, LOG_LVL_INFO, CL_SESSION_EXPIRED);
    if (jw) {
        jw_str(jw, "node", held->id);
        jw_str(jw, "reason", why ? why : "hold-expired");
        jw_uint(jw, "lost", s->count);
        log_commit(jw);
    }
    bury(s, held->id, s->count);
    free_session(s);
    router_unregister(held);
    router_forget(held);
    conn_drop_held(held);
}

double sessions_seconds_left(const struct conn *held)
{
    int64_t left = held->hold_until_ms - srv.now_ms;
    return left > 0 ? (double)left / 1000.0 : 0;
}
