/* router.c: registration and delivery.  The id table maps ids to
 * connections; a list keeps registration order for WHO and BCAST.  A
 * receiver cut off during a broadcast only leaves the list: it is freed at
 * the end of the pass, so the walk's saved next pointer stays valid.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "router.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "acl.h"
#include "auth.h"
#include "cluster.h"
#include "clientlog.h"
#include "conn.h"
#include "idtable.h"
#include "log.h"
#include "server.h"
#include "sessions.h"

static struct idtable table;
/* Registered nodes in registration order (for WHO and broadcasts).  A
 * broadcast's walk keeps its next stop in walk_next, which
 * router_unregister moves on when it takes that node out. */
static TAILQ_HEAD(, conn) order = TAILQ_HEAD_INITIALIZER(order);
static struct conn *walk_next;

int router_init(void)
{
    uint8_t seed[16];
    if (getrandom(seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        memset(seed, 0x5a, sizeof seed); /* weaker, never fatal */
    TAILQ_INIT(&order);
    walk_next = NULL;
    return idt_init(&table, seed);
}

void router_free(void)
{
    idt_free(&table);
}

size_t router_count(void)
{
    return table.count;
}

struct conn *router_first(void)
{
    return TAILQ_FIRST(&order);
}

struct conn *router_next(const struct conn *c)
{
    return TAILQ_NEXT(c, reg_link);
}

struct conn *router_find(const char *id, size_t len)
{
    return idt_get(&table, id, len);
}

void router_key_claimed(struct conn *c, uint64_t rev)
{
    c->kv_rev = rev;
}

void router_key_lost(struct conn *c)
{
    c->kv_rev = 0;
    conn_close(c, CR_REPLACED, NULL);
}

void router_forget(struct conn *c)
{
    cluster_forget(c);
    c->kv_rev = 0;
}

void router_unregister(struct conn *c)
{
    if (!c->registered)
        return;
    idt_del(&table, c->id, c->idlen);
    if (walk_next == c)
        walk_next = TAILQ_NEXT(c, reg_link);
    TAILQ_REMOVE(&order, c, reg_link);
    c->registered = 0;
}

void router_swap(struct conn *old, struct conn *c)
{
    /* The key is c's id from now on: the table keeps a pointer to it. */
    idt_del(&table, old->id, old->idlen);
    memcpy(c->id, old->id, (size_t)old->idlen + 1);
    c->idlen = old->idlen;
    (void)idt_put(&table, c->id, c->idlen, c); /* a slot was just freed */
    TAILQ_INSERT_AFTER(&order, old, c, reg_link);
    if (walk_next == old)
        walk_next = c;
    TAILQ_REMOVE(&order, old, reg_link);
    c->registered = 1;
    old->registered = 0;
    c->kv_rev = old->kv_rev;
    old->kv_rev = 0;
}

static void log_reject(struct conn *c, enum proto_err err, const char *id,
                       size_t len)
{
    srv.stats.rejects++;
    struct jsonw *jw = clientlog_begin(c->addr, LOG_LVL_INFO, CL_REJECT);
    if (jw == NULL)
        return;
    jw_str(jw, "code", proto_err_name(err));
    if (id)
        jw_strn(jw, "node", id, len);
    log_commit(jw);
}

static void refuse_hello(struct conn *c, enum proto_err err, const char *id,
                         size_t len, int echo)
{
    sessions_end(c); /* one opened for this HELLO */
    log_reject(c, err, id, len);
    conn_err(c, err, echo ? id : NULL, echo ? len : 0);
}

/* "OK id idle=S max=N", and a session's token (and what it lost, and at
 * a resume how many of its messages came in). */
static void send_ok(struct conn *c)
{
    char line[256 + PROTO_MAX_ID];
    char idle[400], sess[128];
    jw_fmt_double(idle, sizeof idle, srv.cfg.idle_timeout);
    sessions_ok_suffix(c, sess, sizeof sess);
    if (c->sess)
        c->sess->resumed = 0;
    int n = snprintf(line, sizeof line, "OK %s idle=%.20s max=%lld%s\n", c->id,
                     idle, (long long)srv.cfg.max_message_size, sess);
    conn_send(c, line, (size_t)n);
    conn_idle_announced(c);
}

/* Puts c (its id in c->id) in the table and answers OK. */
static void do_register(struct conn *c)
{
    if (idt_put(&table, c->id, c->idlen, c) < 0) {
        router_forget(c);
        refuse_hello(c, PERR_SERVER_FULL, c->id, c->idlen, 0);
        return;
    }
    c->registered = 1;
    TAILQ_INSERT_TAIL(&order, c, reg_link);
    if (table.count > srv.stats.nodes_peak)
        srv.stats.nodes_peak = table.count;

    send_ok(c);

    struct jsonw *jw = clientlog_begin(c->addr, LOG_LVL_INFO, CL_REGISTER);
    if (jw) {
        jw_str(jw, "node", c->id);
        log_commit(jw);
    }
}

/* ---- authorization (msgd.conf(5), AUTHORIZATION) ---- */

/* Whether the acl lets c do verb to target; when it does not, c is told
 * "ERR forbidden VERB TARGET" and the refusal is logged. */
static int allowed(struct conn *c, const char *verb, const char *target,
                   size_t tlen)
{
    const struct acl *acl = &srv.cfg.acl;
    if (acl_open(acl))
        return 1;
    const char *user = conn_user(c);
    const struct acl_rule *r = acl_rule_for(acl, user);
    int ok = strcmp(verb, "HELLO") == 0
                 ? acl_may_register(r, user, target, tlen)
             : strcmp(verb, "SEND") == 0 ? acl_may_send(r, user, target, tlen)
                                         : acl_may_bcast(r);
    if (ok)
        return 1;
    char what[16 + PROTO_MAX_ID];
    int n = snprintf(what, sizeof what, "%s %.*s", verb, (int)tlen, target);
    conn_err(c, PERR_FORBIDDEN, what, (size_t)n);
    struct jsonw *jw = clientlog_begin(c->addr, LOG_LVL_INFO, CL_FORBIDDEN);
    if (jw) {
        jw_str(jw, "user", user);
        jw_str(jw, "node", c->registered ? c->id : NULL);
        jw_str(jw, "command", verb);
        jw_strn(jw, "target", target, tlen);
        log_commit(jw);
    }
    return 0;
}

static int same_user(const struct conn *a, const struct conn *b)
{
    const char *x = conn_user(a), *y = conn_user(b);
    return x == y || (x && y && strcmp(x, y) == 0);
}

/* AUTH before HELLO: checked off the loop, c paused meanwhile. */
static void auth(struct conn *c, const struct proto_cmd *cmd)
{
    char *secret = (char *)cmd->secret; /* in our own read buffer */
    if (c->registered || conn_user(c) || !auth_enabled()) {
        enum proto_err err = c->registered  ? PERR_ALREADY_REGISTERED
                             : conn_user(c) ? PERR_BAD_COMMAND
                                            : PERR_AUTH_FAILED;
        memset(secret, 0, cmd->secret_len);
        conn_err(c, err, NULL, 0);
        return;
    }
    auth_request(c, cmd->arg, cmd->arg_len, secret, cmd->secret_len);
}

/* HELLO id session=TOKEN ack=SEQ with the right token: c takes over the
 * session (held, or still open on another connection) and gets what its
 * node has not acknowledged. */
static void resume(struct conn *c, struct conn *old, uint64_t ack)
{
    if (ack >= old->sess->next_seq) {
        conn_err(c, PERR_BAD_COMMAND, NULL, 0); /* never sent: a bug */
        return;
    }
    sessions_take_over(c, old, ack);
    send_ok(c);
    sessions_replay(c);
}

static void hello(struct conn *c, const struct proto_cmd *cmd)
{
    const char *id = cmd->arg;
    size_t len = cmd->arg_len;

    if (c->registered) {
        conn_err(c, PERR_ALREADY_REGISTERED, NULL, 0);
        return;
    }

    if (!auth_may_hello(c)) {
        refuse_hello(c, PERR_AUTH_REQUIRED, id, len, 0);
        return;
    }
    if (!proto_valid_id(id, len)) {
        refuse_hello(c, PERR_BAD_ID, id, len, 0);
        return;
    }
    if (!allowed(c, "HELLO", id, len))
        return;
    struct conn *old = router_find(id, len);
    if (cmd->session == PROTO_SESS_RESUME && sessions_enabled()) {
        if (old && old->sess && same_user(old, c) &&
            session_token_matches(old->sess->token, cmd->token,
                                  cmd->token_len)) {
            resume(c, old, cmd->seq);
            return;
        }
        if (old) {
            refuse_hello(c, PERR_ID_TAKEN, id, len, 1);
            return;
        }
    }
    /* Replacing a live id is for its own user only. */
    if (old && (srv.cfg.duplicate_id == DUP_REJECT || !same_user(old, c))) {
        refuse_hello(c, PERR_ID_TAKEN, id, len, 1);
        return;
    }
    if (cmd->session != PROTO_SESS_NONE && sessions_enabled()) {
        /* A new session; a resume of one that ended hears what it lost. */
        uint64_t lost = cmd->session == PROTO_SESS_RESUME
                            ? sessions_tombstone_take(cmd->token,
                                                      cmd->token_len, id, len)
                            : 0;
        if (sessions_open(c, lost) < 0) {
            refuse_hello(c, PERR_SERVER_FULL, id, len, 0);
            return;
        }
    }
    uint64_t kv_rev = 0;
    if (old) {
        /* Taken over here: the cluster's key stays ours, with the new
         * connection. */
        kv_rev = old->kv_rev;
        old->kv_rev = 0;
        conn_close(old, CR_REPLACED, NULL);
    } else if (router_count() >= (size_t)srv.cfg.max_nodes) {
        refuse_hello(c, PERR_SERVER_FULL, id, len, 0);
        return;
    } else if (cluster_enabled) {
        /* The cluster reads the id from c; a refusal leaves it there, as
         * it leaves one after a HELLO that waited and failed. */
        memcpy(c->id, id, len);
        c->id[len] = '\0';
        c->idlen = (uint8_t)len;
        enum proto_err err = cluster_hello(c);
        if (err != PERR_NONE) {
            refuse_hello(c, err, id, len, err == PERR_ID_TAKEN);
            return;
        }
        if (c->paused)
            return; /* until router_hello_done */
    }
    memcpy(c->id, id, len);
    c->id[len] = '\0';
    c->idlen = (uint8_t)len;
    c->kv_rev = kv_rev;
    do_register(c);
}

void router_hello_done(struct conn *c, enum proto_err err, uint64_t kv_rev)
{
    if (c->state != CONN_OPEN)
        return;
    if (err == PERR_NONE) {
        c->kv_rev = kv_rev;
        if (router_find(c->id, c->idlen) == NULL) {
            do_register(c);
            return;
        }
        /* Registered here meanwhile (cluster_hello's pending entry should
         * prevent it): the reservation goes back. */
        router_forget(c);
        err = PERR_ID_TAKEN;
    }
    refuse_hello(c, err, c->id, c->idlen, err == PERR_ID_TAKEN);
}

static void log_message(const struct conn *from, const char *to, size_t tlen,
                        size_t bytes)
{
    struct jsonw *jw = log_begin(LOG_CLIENT, LOG_LVL_DEBUG, "message");
    if (jw == NULL)
        return;
    jw_str(jw, "from", from->id);
    jw_strn(jw, "to", to, tlen);
    jw_uint(jw, "bytes", bytes);
    log_commit(jw);
}

static void accepted(struct conn *c, size_t bytes)
{
    conn_charge(c, bytes);
    c->msgs_in++;
    c->bytes_in += bytes;
    srv.stats.msgs_routed++;
    srv.stats.bytes_routed += bytes;
}

/* 1 when the frame is held for a full receiver (not consumed). */
static int send_one(struct conn *c, const struct proto_cmd *cmd)
{
    if (!allowed(c, "SEND", cmd->arg, cmd->arg_len))
        return 0;
    struct conn *to = router_find(cmd->arg, cmd->arg_len);
    if (to == NULL) {
        int valid = proto_valid_id(cmd->arg, cmd->arg_len);
        enum proto_err err = PERR_UNKNOWN_NODE;
        if (valid && cluster_enabled) {
            char hdr[PROTO_MAX_MSG_HEADER];
            size_t hlen = proto_msg_header(hdr, c->id, c->idlen, cmd->arg,
                                           cmd->arg_len, cmd->payload_len);
            err = cluster_send(cmd->arg, cmd->arg_len, hdr, hlen, cmd->payload,
                               cmd->payload_len);
            if (err == PERR_NONE) {
                accepted(c, cmd->payload_len);
                if (log_wants(LOG_LVL_DEBUG))
                    log_message(c, cmd->arg, cmd->arg_len, cmd->payload_len);
                return 0;
            }
        }
        conn_err(c, err, valid ? cmd->arg : NULL, valid ? cmd->arg_len : 0);
        return 0;
    }
    char hdr[PROTO_MAX_MSG_HEADER];
    size_t hlen = proto_msg_header(hdr, c->id, c->idlen, to->id, to->idlen,
                                   cmd->payload_len);
    if (conn_deliver_from(c, to, hdr, hlen, cmd->payload, cmd->payload_len) > 0)
        return 1;
    accepted(c, cmd->payload_len);
    if (log_wants(LOG_LVL_DEBUG))
        log_message(c, to->id, to->idlen, cmd->payload_len);
    return 0;
}

void router_deliver_all(struct conn *skip, const char *hdr, size_t hlen,
                        const char *payload, size_t plen)
{
    /* The frame is built once, in a shared block, and every receiver's
     * queue refers to it (or to the run of frames it ends), whatever its
     * size: what a broadcast costs does not grow with its receivers. */
    uint32_t off;
    struct shared *sh = outq_share(&srv.pool, hdr, hlen, payload, plen, &off);
    if (sh == NULL) {
        conn_out_of_memory();
        return;
    }
    /* A receiver cut meanwhile (by the output budget, maybe not the one
     * being delivered to) leaves the list, and walk_next steps over it. */
    for (struct conn *to = TAILQ_FIRST(&order); to; to = walk_next) {
        walk_next = TAILQ_NEXT(to, reg_link);
        if (to != skip)
            conn_deliver_shared(to, sh, off, hlen + plen + 1, plen);
    }
    walk_next = NULL;
    outq_share_done(&srv.pool, sh);
}

static void broadcast(struct conn *c, const struct proto_cmd *cmd)
{
    if (!allowed(c, "BCAST", "*", 1))
        return;
    accepted(c, cmd->payload_len);
    if (log_wants(LOG_LVL_DEBUG))
        log_message(c, "*", 1, cmd->payload_len);
    char hdr[PROTO_MAX_MSG_HEADER];
    size_t hlen =
        proto_msg_header(hdr, c->id, c->idlen, "*", 1, cmd->payload_len);
    router_deliver_all(c, hdr, hlen, cmd->payload, cmd->payload_len);
    /* Local nodes have it either way; the sender learns when the other
     * instances may not. */
    if (cluster_enabled &&
        cluster_bcast(hdr, hlen, cmd->payload, cmd->payload_len) != PERR_NONE)
        conn_err(c, PERR_CLUSTER_UNAVAILABLE, NULL, 0);
}

struct who_walk {
    struct conn *c;
    int failed;
};

static int who_line(struct conn *c, const char *id, size_t len)
{
    char line[8 + PROTO_MAX_ID];
    memcpy(line, "NODE ", 5);
    memcpy(line + 5, id, len);
    line[5 + len] = '\n';
    return conn_send(c, line, 6 + len);
}

static int who_remote(void *arg, const struct cluster_node *n)
{
    struct who_walk *w = arg;
    if (who_line(w->c, n->id, strlen(n->id)) < 0)
        return w->failed = -1;
    return 0;
}

/* Local nodes in registration order, then those of other instances. */
static void who(struct conn *c)
{
    char line[32];
    int n = snprintf(line, sizeof line, "NODES %zu\n",
                     router_count() + cluster_remote_count());
    if (conn_send(c, line, (size_t)n) < 0)
        return;
    for (struct conn *o = TAILQ_FIRST(&order); o; o = TAILQ_NEXT(o, reg_link))
        if (who_line(c, o->id, o->idlen) < 0)
            return;
    struct who_walk w = {c, 0};
    cluster_each_remote(who_remote, &w);
}

static void ping(struct conn *c, const struct proto_cmd *cmd)
{
    char line[PROTO_MAX_LINE + 8];
    size_t n = 4;
    memcpy(line, "PONG", 4);
    if (cmd->arg) {
        line[n++] = ' ';
        memcpy(line + n, cmd->arg, cmd->arg_len);
        n += cmd->arg_len;
    }
    line[n++] = '\n';
    conn_send(c, line, n);
}

int router_command(struct conn *c, const struct proto_cmd *cmd)
{
    switch (cmd->verb) {
    case PROTO_HELLO:
        hello(c, cmd);
        return 0;
    case PROTO_PING:
        ping(c, cmd);
        return 0;
    case PROTO_QUIT:
        conn_close(c, CR_QUIT, NULL);
        return 0;
    case PROTO_AUTH:
        auth(c, cmd);
        return 0;
    case PROTO_ACK:
        if (!c->registered)
            conn_err(c, PERR_NOT_REGISTERED, NULL, 0);
        else if (c->sess == NULL || sessions_ack(c, cmd->seq) < 0)
            conn_err(c, PERR_BAD_COMMAND, NULL, 0);
        return 0;
    case PROTO_SEND:
    case PROTO_BCAST:
    case PROTO_WHO:
        break;
    }
    if (!c->registered) {
        conn_err(c, PERR_NOT_REGISTERED, NULL, 0);
        return 0;
    }
    if (cmd->verb == PROTO_WHO) {
        who(c);
        return 0;
    }
    if (cmd->verb == PROTO_SEND) {
        if (send_one(c, cmd) > 0)
            return 1; /* not read yet: counted when it is */
    } else {
        broadcast(c, cmd);
    }
    if (c->sess)
        c->sess->in++;
    return 0;
}
