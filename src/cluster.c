/* cluster.c: the loop's side of a cluster.  It keeps:
 *   - the instances heard of (heartbeats every second, and owners named in
 *     the id directory), each up, down (silent for HB_DEAD_MS) or left;
 *   - the directory of nodes held by other instances, fed by a watch on
 *     the key-value bucket, for SEND, BCAST and WHO;
 *   - the HELLOs waiting for their key-value reservation;
 *   - one outbound batch per instance, handed to the publisher at the end
 *     of each loop pass, so that one NATS message carries many frames and
 *     frames from one instance to another keep their order.
 * An instance silent for id_hold seconds has its ids deleted by the
 * others; each delete is conditional on the key's revision, so a late or
 * duplicate one cannot remove an id that has since moved on.  When the
 * bucket contradicts a node of ours (our key deleted, or written by
 * another instance: we were taken for dead during a pause), the bucket
 * wins: the id is claimed again, or the node gets BYE replaced.  A stall
 * of the loop is treated like a reconnect: every id is claimed again.
 *
 * Until NATS accounts and permissions keep strangers off the cluster's
 * subjects, what arrives there is checked: a message must come from a node
 * that the sending instance (named at the head of each batch) holds in the
 * directory; names and kick reasons carry no control characters (cwire.c);
 * at most CLUSTER_MAX_INSTANCES others are tracked; and the log lines that
 * others cause are rationed per second.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <unistd.h>

#include "conn.h"
#include "cwire.h"
#include "idtable.h"
#include "jsonw.h"
#include "log.h"
#include "natslink.h"
#include "preflight.h"
#include "router.h"
#include "server.h"

#define TICK_MS 1000
#define HB_DEAD_MS 3500       /* three heartbeats missed: down */
#define BATCH_CAP (64 * 1024) /* a batch is sent once this full */
#define OUT_LIMIT (64u << 20) /* bytes waiting for NATS before refusing */
#define STOP_DEADLINE_MS 3000 /* for releases at shutdown */
/* A message whose sender the directory does not show as the sending
 * instance's may be ahead of the directory: the sender's key reaches us
 * through the key-value watch, its messages through the instance's
 * subject, and the two paths race.  Such a message waits (in order behind
 * any other from the same sender) for the directory to catch up, and is
 * refused when it has not after HOLD_MS; HOLD_MAX and HOLD_BYTES bound
 * what waits, whatever a peer sends. */
#define HOLD_MS 3000
#define HOLD_MAX 4096
#define HOLD_BYTES (4u << 20)
/* Log lines that other instances cause (instance-up, instance-down, and
 * warnings about what they send), per kind and per second; the rest are
 * counted, and the count is logged once the second is over. */
#define LOG_BUDGET 10
/* The tick this much later than due: the loop was stopped (SIGSTOP, a
 * paused VM) or stalled.  The others may have declared this instance down
 * and freed its ids meanwhile while its NATS connection survived, so that
 * no reconnect tells it to claim them again: it does so now. */
#define STALL_MS 2000

enum inst_state { INST_UP, INST_DOWN, INST_LEFT };
static const char *const state_names[] = {"up", "down", "left"};

struct rnode;
struct inst;

/* Instances that hold no id, the one to forget first at the head: see
 * evictable(). */
TAILQ_HEAD(inst_list, inst);

struct inst {
    uint64_t inc;
    char name[CW_MAX_NAME + 1];
    char subject[96];
    enum inst_state state;
    int64_t last_seen_ms;
    int64_t reap_at_ms; /* next attempt to free its ids */
    long long hb_nodes; /* as its last heartbeat said */
    LIST_HEAD(, rnode) nodes;
    size_t nnodes;
    struct nl_msg *batch; /* FROM head and frames for it, not handed over */
    uint64_t batch_msgs, batch_bytes;
    LIST_ENTRY(inst) link;       /* cl.insts: every instance tracked */
    struct inst_list *idle;      /* the list it is on while it holds no id,
                                    else NULL */
    TAILQ_ENTRY(inst) idle_link; /* on that list */
};

struct rnode {
    char id[PROTO_MAX_ID + 1];
    uint8_t idlen;
    uint64_t rev;
    struct inst *inst;
    LIST_ENTRY(rnode) link; /* the instance's nodes */
};

/* A message from another instance waiting for the directory to show its
 * sender as that instance's: the whole record, header to final LF. */
struct held {
    STAILQ_ENTRY(held) link;
    uint64_t inc; /* the instance the batch came from */
    int64_t until_ms;
    size_t len;
    char rec[];
};

/* The messages waiting from one sender, oldest first. */
struct held_from {
    char id[PROTO_MAX_ID + 1];
    uint8_t idlen;
    STAILQ_HEAD(held_q, held) msgs;
    LIST_ENTRY(held_from)
    link; /* cl.held_list: all senders with messages
             waiting */
};

/* A per-second allowance of log lines; see LOG_BUDGET. */
struct budget {
    const char *what; /* for the summary line */
    int64_t second;
    unsigned used;
    uint64_t suppressed;
};

/* A HELLO waiting for its reservation.  c is NULL once the connection has
 * gone; the reservation, if it succeeds, is then released at once. */
struct pending {
    char id[PROTO_MAX_ID + 1];
    uint8_t idlen;
    uint64_t token;
    struct conn *c;
};

int cluster_enabled;

static struct {
    struct ev ev;
    struct timer tick;
    uint64_t inc;
    char name[CW_MAX_NAME + 1];
    char owner[CW_MAX_NAME + 32]; /* our value under each key */
    char prefix[64];
    char hb_subject[96];
    int up;        /* NATS connected and set up */
    int leaving;   /* stopping: no more heartbeats after the last one */
    int dir_ready; /* the directory's initial values are in */
    int64_t id_hold_ms;
    uint64_t next_token;
    LIST_HEAD(, inst) insts;
    size_t ninsts;            /* in insts: at most CLUSTER_MAX_INSTANCES */
    struct idtable by_inc;    /* incarnation (8 bytes) -> struct inst */
    struct inst_list idle[2]; /* holding no id: [0] not up, [1] up */
    struct idtable remote;    /* id -> struct rnode */
    struct idtable pending;   /* id -> struct pending */
    struct idtable held;      /* sender id -> struct held_from */
    LIST_HEAD(, held_from) held_list;
    size_t held_count, held_bytes;
    size_t remote_live; /* nodes of instances that are up */
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out, undeliverable;
    uint64_t msgs_refused, msgs_held, input_refused;
    struct budget inst_lines, peer_warnings, conflict_lines;
    int64_t last_tick_ms;
    uint64_t pub_failed_logged;
    int congested_logged;
} cl = {
    .ev = {.fd = -1},
    .idle = {TAILQ_HEAD_INITIALIZER(cl.idle[0]),
             TAILQ_HEAD_INITIALIZER(cl.idle[1])},
    .inst_lines = {.what = "instance-up and instance-down lines"},
    .peer_warnings = {.what = "warnings about what other instances sent"},
    .conflict_lines = {.what = "id-conflict lines"},
};

/* ---- logging ---- */

static void log_cluster(int level, const char *event, const char *k1,
                        const char *v1, const char *k2, const char *v2)
{
    struct jsonw *jw = log_begin(LOG_SERVER, level, event);
    if (jw == NULL)
        return;
    if (k1)
        jw_str(jw, k1, v1);
    if (k2)
        jw_str(jw, k2, v2);
    log_commit(jw);
}

/* Whether a line of b's kind may be written now; a refused one is counted
 * for budget_flush. */
static int budget_take(struct budget *b)
{
    int64_t sec = srv.now_ms / 1000;
    if (sec != b->second) {
        b->second = sec;
        b->used = 0;
    }
    if (b->used < LOG_BUDGET) {
        b->used++;
        return 1;
    }
    b->suppressed++;
    return 0;
}

/* Once its second is over: how many lines of b's kind were not written. */
static void budget_flush(struct budget *b)
{
    if (b->suppressed == 0 || srv.now_ms / 1000 == b->second)
        return;
    struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_WARN, "warning");
    if (jw) {
        jw_str(jw, "msg", "log lines suppressed: too many per second");
        jw_str(jw, "what", b->what);
        jw_uint(jw, "count", b->suppressed);
        log_commit(jw);
    }
    b->suppressed = 0;
}

/* instance-up or instance-down, within the budget. */
static void log_instance(int level, const char *event, const struct inst *i,
                         const char *why)
{
    if (budget_take(&cl.inst_lines))
        log_cluster(level, event, "instance", i->name, why ? "why" : NULL, why);
}

/* Something another instance (or whoever publishes on the cluster's
 * subjects) sent was refused. */
static void refused_input(const char *msg)
{
    cl.input_refused++;
    if (budget_take(&cl.peer_warnings))
        log_cluster(LOG_LVL_WARN, "warning", "msg", msg, NULL, NULL);
}

/* The directory contradicts a node of ours: what was done about it. */
static void log_conflict(const char *id, const char *other, const char *action)
{
    if (!budget_take(&cl.conflict_lines))
        return;
    struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_WARN, "id-conflict");
    if (jw == NULL)
        return;
    jw_str(jw, "id", id);
    if (other)
        jw_str(jw, "instance", other);
    jw_str(jw, "action", action);
    log_commit(jw);
}

/* ---- instances and the directory ---- */

/* Where an instance's batches go: PREFIX.i.<incarnation>. */
static void data_subject(char *out, size_t size, uint64_t inc)
{
    snprintf(out, size, "%s.i.%016llx", cl.prefix, (unsigned long long)inc);
}

/* Every heartbeat looks its sender up: by hash, so that a flood of them
 * costs the loop the same per heartbeat however many are tracked. */
static struct inst *inst_find(uint64_t inc)
{
    return idt_get(&cl.by_inc, (const char *)&inc, sizeof inc);
}

static void submit_batch(struct inst *i);
static void inst_free(struct inst *i);

static void idle_unlink(struct inst *i)
{
    struct inst_list *l = i->idle;
    if (l == NULL)
        return;
    TAILQ_REMOVE(l, i, idle_link);
    i->idle = NULL;
}

/* Puts i at the tail of the idle list for its state when it holds no id,
 * or takes it off when it does; called whenever its ids, its state or its
 * last heartbeat change, so that each list stays in the order its members
 * were last heard of or went idle, and eviction never walks the table. */
static void idle_update(struct inst *i)
{
    idle_unlink(i);
    if (i->nnodes)
        return;
    struct inst_list *l = &cl.idle[i->state == INST_UP];
    i->idle = l;
    TAILQ_INSERT_TAIL(l, i, idle_link);
}

/* The instance to forget when the table is full: one that holds no id
 * (so that no directory entry points to it), down or left before up, the
 * longest idle or silent first.  NULL when every one holds ids. */
static struct inst *evictable(void)
{
    struct inst *i = TAILQ_FIRST(&cl.idle[0]);
    return i ? i : TAILQ_FIRST(&cl.idle[1]);
}

static void set_state(struct inst *i, enum inst_state st)
{
    if (i->state == INST_UP && st != INST_UP)
        cl.remote_live -= i->nnodes;
    else if (i->state != INST_UP && st == INST_UP)
        cl.remote_live += i->nnodes;
    i->state = st;
    idle_update(i);
}

/* The instance of a heartbeat or directory owner, added when new.  A new
 * one counts as just seen: its ids are held for id_hold from now even if
 * it is never heard from. */
static struct inst *inst_get(const struct cw_owner *o)
{
    struct inst *i = inst_find(o->inc);
    if (i)
        return i;
    if (cl.ninsts >= CLUSTER_MAX_INSTANCES) {
        /* A flood of made-up incarnations must not grow the table; an
         * instance that holds ids is never pushed out by one. */
        struct inst *victim = evictable();
        if (victim == NULL)
            return NULL;
        submit_batch(victim);
        inst_free(victim);
    }
    i = calloc(1, sizeof *i);
    if (i == NULL)
        return NULL;
    i->inc = o->inc;
    if (idt_put(&cl.by_inc, (const char *)&i->inc, sizeof i->inc, i) < 0) {
        free(i);
        return NULL;
    }
    memcpy(i->name, o->name, o->name_len);
    i->name[o->name_len] = '\0';
    data_subject(i->subject, sizeof i->subject, o->inc);
    i->state = INST_DOWN;
    i->last_seen_ms = srv.now_ms;
    i->hb_nodes = -2; /* no heartbeat yet */
    LIST_INIT(&i->nodes);
    LIST_INSERT_HEAD(&cl.insts, i, link);
    cl.ninsts++;
    idle_update(i);
    return i;
}

static void inst_free(struct inst *i)
{
    idt_del(&cl.by_inc, (const char *)&i->inc, sizeof i->inc);
    idle_unlink(i);
    LIST_REMOVE(i, link);
    cl.ninsts--;
    nl_msg_free(i->batch);
    free(i);
}

static void rnode_unlink(struct rnode *r)
{
    struct inst *i = r->inst;
    LIST_REMOVE(r, link);
    i->nnodes--;
    if (i->state == INST_UP)
        cl.remote_live--;
    if (i->nnodes == 0)
        idle_update(i);
}

static void rnode_link(struct rnode *r, struct inst *i)
{
    r->inst = i;
    LIST_INSERT_HEAD(&i->nodes, r, link);
    if (i->nnodes++ == 0)
        idle_unlink(i);
    if (i->state == INST_UP)
        cl.remote_live++;
}

static void rnode_del(const char *id, size_t len)
{
    struct rnode *r = idt_del(&cl.remote, id, len);
    if (r) {
        rnode_unlink(r);
        free(r);
    }
}

static void dir_clear(void)
{
    struct inst *i;
    LIST_FOREACH(i, &cl.insts, link)
    {
        struct rnode *r;
        while ((r = LIST_FIRST(&i->nodes)) != NULL) {
            LIST_REMOVE(r, link);
            idt_del(&cl.remote, r->id, r->idlen);
            free(r);
        }
        i->nnodes = 0;
        if (i->idle == NULL)
            idle_update(i);
    }
    cl.remote_live = 0;
}

static void held_retry(const char *id, size_t len);

static void dir_put(const struct nl_msg *m)
{
    char id[PROTO_MAX_ID + 1];
    struct cw_owner o;
    int len = cw_key_decode(id, m->a, m->alen);
    if (len < 0 || cw_owner_parse(m->b, m->blen, &o) < 0) {
        refused_input("directory entry refused: not a node id and an owner "
                      "(or a name with control characters)");
        return;
    }
    if (o.inc == cl.inc) {
        rnode_del(id, (size_t)len);
        return;
    }
    struct inst *i = inst_get(&o);
    if (i == NULL) {
        refused_input("directory entry refused: too many instances");
        return;
    }
    struct conn *c = router_find(id, (size_t)len);
    if (c && c->kv_rev && m->rev > c->kv_rev) {
        /* The bucket is the source of truth: another instance holds the
         * key now (it freed ours while we seemed dead, or took it over
         * under duplicate_id = "replace", which is no conflict), so our
         * node gives way.  A node still unclaimed (kv_rev 0) is left to
         * its claim. */
        if (srv.cfg.duplicate_id != DUP_REPLACE)
            log_conflict(id, i->name, "replaced");
        router_key_lost(c);
    }
    struct rnode *r = idt_get(&cl.remote, id, (size_t)len);
    if (r == NULL) {
        r = calloc(1, sizeof *r);
        if (r == NULL)
            return;
        memcpy(r->id, id, (size_t)len + 1);
        r->idlen = (uint8_t)len;
        if (idt_put(&cl.remote, r->id, r->idlen, r) < 0) {
            free(r);
            return;
        }
    } else {
        rnode_unlink(r);
    }
    r->rev = m->rev;
    rnode_link(r, i);
    if (cl.held_count)
        held_retry(r->id, r->idlen);
}

static void submit_key_job(enum nl_kind kind, const char *id, size_t len,
                           uint64_t rev, uint64_t token, int flag);

static void dir_del(const struct nl_msg *m)
{
    char id[PROTO_MAX_ID + 1];
    int len = cw_key_decode(id, m->a, m->alen);
    if (len < 0)
        return;
    rnode_del(id, (size_t)len);
    /* The key of a node of ours was deleted after we claimed it (by
     * instances that took us for dead): claim it again.  If another
     * instance was quicker, the claim fails and our node gets BYE
     * replaced (reserved()).  An older delete, such as the release of an
     * earlier node with the same id, is no news. */
    struct conn *c = router_find(id, (size_t)len);
    if (c && c->kv_rev && m->rev > c->kv_rev && cl.up) {
        log_conflict(id, NULL, "reclaimed");
        submit_key_job(NL_RESERVE, id, (size_t)len, 0, 0, 0);
    }
}

static void heartbeat_in(const struct nl_msg *m)
{
    struct cw_owner o;
    long long nodes;
    if (cw_hb_parse(m->b, m->blen, &o, &nodes) < 0) {
        refused_input("heartbeat refused: malformed, a name with control "
                      "characters, or a node count out of range");
        return;
    }
    if (o.inc == cl.inc)
        return;
    struct inst *i = inst_get(&o);
    if (i == NULL) {
        refused_input("heartbeat refused: too many instances");
        return;
    }
    if (i->state == INST_LEFT)
        return; /* left is final: a restart comes with a new incarnation */
    i->last_seen_ms = srv.now_ms;
    if (i->idle)
        idle_update(i); /* heard of last: forgotten last */
    if (nodes < 0) {
        log_instance(LOG_LVL_INFO, "instance-down", i, "left");
        set_state(i, INST_LEFT);
        return;
    }
    i->hb_nodes = nodes;
    if (i->state != INST_UP) {
        log_instance(LOG_LVL_INFO, "instance-up", i, NULL);
        set_state(i, INST_UP);
    }
}

/* ---- outbound ---- */

static void submit_batch(struct inst *i)
{
    if (i->batch == NULL || i->batch->blen <= CW_HEAD_LEN)
        return;
    cl.msgs_out += i->batch_msgs;
    cl.bytes_out += i->batch_bytes;
    nl_submit(i->batch);
    i->batch = NULL;
    i->batch_msgs = i->batch_bytes = 0;
}

void cluster_flush(void)
{
    if (!cluster_enabled)
        return;
    for (struct inst *i = LIST_FIRST(&cl.insts); i; i = LIST_NEXT(i, link))
        submit_batch(i);
}

static int congested(void)
{
    if (nl_pending_bytes() < OUT_LIMIT)
        return 0;
    if (!cl.congested_logged) {
        cl.congested_logged = 1;
        log_cluster(LOG_LVL_WARN, "warning", "msg",
                    "cluster link congested: refusing remote messages", NULL,
                    NULL);
    }
    return 1;
}

/* Appends parts to i's batch; 0, or -1 when out of memory. */
static int batch_add(struct inst *i, const char *a, size_t alen, const char *b,
                     size_t blen, int lf)
{
    size_t need = alen + blen + (size_t)lf;
    struct nl_msg *m = i->batch;
    if (m && m->blen + need > m->cap) {
        submit_batch(i);
        m = NULL;
    }
    if (m == NULL) {
        m = nl_msg_new(NL_PUBLISH, i->subject, strlen(i->subject), NULL, 0,
                       CW_HEAD_LEN + (need > BATCH_CAP ? need : BATCH_CAP));
        if (m == NULL)
            return -1;
        /* Who sends it, for the receiver's check of each sender. */
        m->blen = cw_head_format(m->b, cl.inc);
        i->batch = m;
    }
    memcpy(m->b + m->blen, a, alen);
    if (blen) /* b may be NULL */
        memcpy(m->b + m->blen + alen, b, blen);
    if (lf)
        m->b[m->blen + alen + blen] = '\n';
    m->blen += need;
    return 0;
}

static int add_msg(struct inst *i, const char *hdr, size_t hlen,
                   const char *payload, size_t plen)
{
    if (batch_add(i, hdr, hlen, payload, plen, 1) < 0)
        return -1;
    i->batch_msgs++;
    i->batch_bytes += plen;
    return 0;
}

enum proto_err cluster_send(const char *to, size_t tolen, const char *hdr,
                            size_t hlen, const char *payload, size_t plen)
{
    if (!cluster_enabled)
        return PERR_UNKNOWN_NODE;
    struct rnode *r = idt_get(&cl.remote, to, tolen);
    if (r == NULL || r->inst->state != INST_UP)
        return PERR_UNKNOWN_NODE;
    if (!cl.up || congested() || add_msg(r->inst, hdr, hlen, payload, plen) < 0)
        return PERR_CLUSTER_UNAVAILABLE;
    return PERR_NONE;
}

enum proto_err cluster_bcast(const char *hdr, size_t hlen, const char *payload,
                             size_t plen)
{
    if (!cluster_enabled)
        return PERR_NONE;
    if (!cl.up || congested())
        return PERR_CLUSTER_UNAVAILABLE;
    enum proto_err err = PERR_NONE;
    for (struct inst *i = LIST_FIRST(&cl.insts); i; i = LIST_NEXT(i, link))
        if (i->state == INST_UP && add_msg(i, hdr, hlen, payload, plen) < 0)
            err = PERR_CLUSTER_UNAVAILABLE;
    return err;
}

static void publish_heartbeat(long long nodes)
{
    char hb[CW_MAX_NAME + 64];
    int n = cw_hb_format(hb, sizeof hb, cl.inc, nodes, cl.name);
    struct nl_msg *m = nl_msg_new(NL_PUBLISH, cl.hb_subject,
                                  strlen(cl.hb_subject), hb, (size_t)n, 0);
    if (m)
        nl_submit(m);
}

/* ---- reservations ---- */

static void submit_key_job(enum nl_kind kind, const char *id, size_t len,
                           uint64_t rev, uint64_t token, int flag)
{
    char key[CW_MAX_KEY + 1];
    size_t klen = cw_key_encode(key, id, len);
    int reserve = kind == NL_RESERVE;
    /* A reservation carries our owner value, and room for the one it may
     * take over to come back in. */
    struct nl_msg *m = nl_msg_new(kind, key, klen, reserve ? cl.owner : NULL,
                                  reserve ? strlen(cl.owner) : 0,
                                  reserve ? CW_MAX_NAME + 32 : 0);
    if (m == NULL)
        return;
    m->rev = rev;
    m->token = token;
    m->flag = (uint8_t)flag;
    nl_submit(m);
}

enum proto_err cluster_hello(struct conn *c)
{
    const char *id = c->id;
    size_t len = c->idlen;
    if (!cluster_enabled)
        return PERR_NONE;
    if (idt_get(&cl.pending, id, len))
        return PERR_ID_TAKEN;
    int replace = srv.cfg.duplicate_id == DUP_REPLACE;
    struct rnode *r = idt_get(&cl.remote, id, len);
    if (r && (!replace || !cl.up))
        return PERR_ID_TAKEN; /* the key-value store would say so too */
    /* Out of reach of NATS, local routing goes on: the id is registered
     * here now and claimed when the link is back (reassert_all), where an
     * id that another instance holds meanwhile loses (BYE replaced). */
    if (!cl.up)
        return PERR_NONE;
    struct pending *p = calloc(1, sizeof *p);
    if (p == NULL)
        return PERR_SERVER_FULL;
    memcpy(p->id, id, len);
    p->idlen = (uint8_t)len;
    p->token = ++cl.next_token;
    p->c = c;
    if (idt_put(&cl.pending, p->id, p->idlen, p) < 0) {
        free(p);
        return PERR_SERVER_FULL;
    }
    conn_pause(c);
    submit_key_job(NL_RESERVE, id, len, 0, p->token, replace);
    return PERR_NONE;
}

void cluster_forget(struct conn *c)
{
    if (!cluster_enabled)
        return;
    /* A HELLO still waiting has a pending entry for c (and no key yet). */
    struct pending *p = idt_get(&cl.pending, c->id, c->idlen);
    if (p && p->c == c)
        p->c = NULL;
    else if (c->kv_rev)
        submit_key_job(NL_RELEASE, c->id, c->idlen, c->kv_rev, 0, 0);
}

/* Tells the instance that held an id we took over to let its node go. */
static void drop_elsewhere(const char *id, size_t len, const char *old_owner,
                           size_t olen)
{
    struct cw_owner o;
    char line[16 + PROTO_MAX_ID];
    if (cw_owner_parse(old_owner, olen, &o) < 0 || o.inc == cl.inc)
        return;
    struct inst *i = inst_get(&o);
    if (i == NULL)
        return;
    size_t n = cw_control(line, sizeof line, CW_DROP, id, len, NULL);
    batch_add(i, line, n, NULL, 0, 0);
}

static void reserved(struct nl_msg *m)
{
    char id[PROTO_MAX_ID + 1];
    int len = cw_key_decode(id, m->a, m->alen);
    if (len < 0)
        return;
    struct pending *p = idt_get(&cl.pending, id, (size_t)len);
    if (m->token == 0 || p == NULL || p->token != m->token) {
        /* A reassertion after a reconnect (token 0). */
        struct conn *c = router_find(id, (size_t)len);
        if (m->token != 0 || c == NULL)
            return;
        if (m->status == NL_OK) {
            router_key_claimed(c, m->rev);
        } else if (m->status == NL_TAKEN) {
            log_conflict(id, NULL, "replaced");
            router_key_lost(c);
        }
        return;
    }
    idt_del(&cl.pending, id, (size_t)len);
    struct conn *c = p->c;
    free(p);
    if (c == NULL) {
        if (m->status == NL_OK)
            submit_key_job(NL_RELEASE, id, (size_t)len, m->rev, 0, 0);
        return;
    }
    if (m->status == NL_OK) {
        rnode_del(id, (size_t)len);
        if (m->blen)
            drop_elsewhere(id, (size_t)len, m->b, m->blen);
        router_hello_done(c, PERR_NONE, m->rev);
    } else {
        router_hello_done(
            c, m->status == NL_TAKEN ? PERR_ID_TAKEN : PERR_CLUSTER_UNAVAILABLE,
            0);
    }
    conn_resume(c);
}

/* After a (re)connect: our ids may have been lost with NATS' store, or
 * freed while we were out of reach; claim each again.  One taken by
 * another instance meanwhile loses its node here (BYE replaced). */
static void reassert_all(void)
{
    for (struct conn *c = router_first(); c; c = router_next(c))
        submit_key_job(NL_RESERVE, c->id, c->idlen, 0, 0, 0);
}

/* ---- inbound ---- */

static void deliver_msg(const struct cw_rec *r)
{
    cl.msgs_in++;
    cl.bytes_in += r->plen;
    if (r->to_len == 1 && r->to[0] == '*') {
        router_deliver_all(NULL, r->hdr, r->hlen, r->payload, r->plen);
        return;
    }
    struct conn *c = router_find(r->to, r->to_len);
    if (c)
        conn_deliver(c, r->hdr, r->hlen, r->payload, r->plen);
    else
        cl.undeliverable++;
}

/* Whether the directory shows id as held by instance inc. */
static int holds(uint64_t inc, const char *id, size_t len)
{
    struct rnode *r = idt_get(&cl.remote, id, len);
    return r && r->inst->inc == inc;
}

static void held_free(struct held_from *hf)
{
    LIST_REMOVE(hf, link);
    idt_del(&cl.held, hf->id, hf->idlen);
    free(hf);
}

/* Puts the record rec (len bytes, r parsed from it) from instance inc in
 * wait; refuses it when too much waits already. */
static void hold(uint64_t inc, const struct cw_rec *r, size_t len)
{
    if (cl.held_count >= HOLD_MAX || cl.held_bytes + len > HOLD_BYTES) {
        cl.msgs_refused++;
        return;
    }
    struct held_from *hf = idt_get(&cl.held, r->from, r->from_len);
    if (hf == NULL) {
        hf = calloc(1, sizeof *hf);
        if (hf == NULL) {
            cl.msgs_refused++;
            return;
        }
        memcpy(hf->id, r->from, r->from_len);
        hf->idlen = (uint8_t)r->from_len;
        if (idt_put(&cl.held, hf->id, hf->idlen, hf) < 0) {
            free(hf);
            cl.msgs_refused++;
            return;
        }
        STAILQ_INIT(&hf->msgs);
        LIST_INSERT_HEAD(&cl.held_list, hf, link);
    }
    struct held *h = malloc(sizeof *h + len);
    if (h == NULL) {
        if (STAILQ_EMPTY(&hf->msgs))
            held_free(hf);
        cl.msgs_refused++;
        return;
    }
    h->inc = inc;
    h->until_ms = srv.now_ms + HOLD_MS;
    h->len = len;
    memcpy(h->rec, r->hdr, len);
    STAILQ_INSERT_TAIL(&hf->msgs, h, link);
    cl.held_count++;
    cl.held_bytes += len;
    cl.msgs_held++;
}

/* Goes through what waits from one sender, oldest first: delivers what the
 * directory now shows as its instance's, refuses what has waited HOLD_MS
 * (all of it when stopping), keeps the rest.  Behind a message kept, the
 * later ones of the same instance stay too, so that one sender's messages
 * keep their order. */
static void held_release(struct held_from *hf, int stopping)
{
    uint64_t kept[4];
    size_t nkept = 0;
    int kept_many = 0;
    struct held_q keep = STAILQ_HEAD_INITIALIZER(keep);
    struct held *h;
    while ((h = STAILQ_FIRST(&hf->msgs)) != NULL) {
        STAILQ_REMOVE_HEAD(&hf->msgs, link);
        int behind = kept_many;
        for (size_t k = 0; k < nkept && !behind; k++)
            behind = kept[k] == h->inc;
        struct cw_rec r;
        int go = !stopping && !behind && holds(h->inc, hf->id, hf->idlen) &&
                 cw_next(h->rec, h->len, &r) == (long)h->len;
        if (go || stopping || srv.now_ms >= h->until_ms) {
            if (go)
                deliver_msg(&r);
            else
                cl.msgs_refused++;
            cl.held_count--;
            cl.held_bytes -= h->len;
            free(h);
            continue;
        }
        if (!behind) {
            if (nkept < sizeof kept / sizeof *kept)
                kept[nkept++] = h->inc;
            else
                kept_many = 1;
        }
        STAILQ_INSERT_TAIL(&keep, h, link);
    }
    STAILQ_CONCAT(&hf->msgs, &keep);
    if (STAILQ_EMPTY(&hf->msgs))
        held_free(hf);
}

static void held_retry(const char *id, size_t len)
{
    struct held_from *hf = idt_get(&cl.held, id, len);
    if (hf)
        held_release(hf, 0);
}

/* Once a second, and (with stopping) at the end. */
static void held_expire(int stopping)
{
    for (struct held_from *hf = LIST_FIRST(&cl.held_list), *next; hf;
         hf = next) {
        next = LIST_NEXT(hf, link);
        held_release(hf, stopping);
    }
}

/* A message from instance inc: delivered when the directory shows its
 * sender as inc's and nothing from that sender waits before it; else it
 * waits for the directory (see HOLD_MS). */
static void msg_in(uint64_t inc, const struct cw_rec *r, size_t len)
{
    if ((cl.held_count == 0 || !idt_get(&cl.held, r->from, r->from_len)) &&
        holds(inc, r->from, r->from_len))
        deliver_msg(r);
    else
        hold(inc, r, len);
}

static void deliver_batch(const char *buf, size_t len)
{
    struct cw_rec r;
    long n;
    char text[256];
    uint64_t inc;

    int head = cw_head_parse(buf, len, &inc);
    if (head < 0) {
        refused_input("batch refused: it does not say which instance sent it");
        return;
    }
    buf += head;
    len -= (size_t)head;
    while ((n = cw_next(buf, len, &r)) > 0) {
        buf += n;
        len -= (size_t)n;
        if (r.kind == CW_MSG) {
            msg_in(inc, &r, (size_t)n);
            continue;
        }
        if (r.kind == CW_REFUSED) {
            refused_input("kick refused: control characters in its reason");
            continue;
        }
        struct conn *c = router_find(r.to, r.to_len);
        if (c == NULL)
            continue;
        if (r.kind == CW_DROP) {
            router_key_lost(c);
        } else {
            size_t tl = r.text_len < sizeof text ? r.text_len : sizeof text - 1;
            memcpy(text, r.text ? r.text : "", tl);
            text[tl] = '\0';
            /* The disconnect line says where the kick came from. */
            struct inst *from = inst_find(inc);
            char hex[20];
            snprintf(hex, sizeof hex, "%016llx", (unsigned long long)inc);
            conn_close_why(c, CR_KICKED, text, NULL,
                           from ? from->name : hex); /* counted there */
        }
    }
    if (n < 0)
        refused_input("malformed batch from another instance: rest dropped");
}

/* The URL without "user:password@", which does not belong in a log. */
static const char *without_credentials(const char *url, char *buf, size_t size)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    const char *at = strchr(host, '@');
    if (at == NULL)
        return url;
    snprintf(buf, size, "%.*s%s", (int)(host - url), url, at + 1);
    return buf;
}

static void link_up(const char *url)
{
    char safe[256];
    url = without_credentials(url, safe, sizeof safe);
    /* Nobody could be heard while we were cut off: silence during our own
     * outage is no evidence, so every instance starts a fresh count. */
    for (struct inst *i = LIST_FIRST(&cl.insts); i; i = LIST_NEXT(i, link))
        i->last_seen_ms = srv.now_ms;
    cl.up = 1;
    cl.congested_logged = 0;
    log_cluster(LOG_LVL_INFO, "cluster-up", "nats", url, "instance", cl.name);
    publish_heartbeat((long long)router_count());
    reassert_all();
}

static void link_down(const char *why)
{
    if (!cl.up)
        return;
    cl.up = 0;
    log_cluster(LOG_LVL_WARN, "cluster-down", "why", why, NULL, NULL);
}

/* The id bucket was deleted under us and made again (by us: made): our
 * keys went with it, so each is claimed again. */
static void bucket_new(int made)
{
    log_cluster(LOG_LVL_WARN, "warning", "msg",
                made ? "the id bucket was missing: made again, ids claimed "
                       "again"
                     : "the id bucket was made again by another instance: "
                       "ids claimed again",
                NULL, NULL);
    if (cl.up)
        reassert_all();
}

static void on_events(struct ev *ev, uint32_t events)
{
    (void)ev, (void)events;
    nl_clear_wakeup();
    for (struct nl_msg *m = nl_take(), *next; m; m = next) {
        next = (struct nl_msg *)m->node.next;
        switch (m->kind) {
        case NL_UP:
            link_up(m->a);
            break;
        case NL_DOWN:
            link_down(m->a);
            break;
        case NL_DATA:
            deliver_batch(m->b, m->blen);
            break;
        case NL_HEARTBEAT:
            heartbeat_in(m);
            break;
        case NL_DIR_RESET:
            dir_clear();
            cl.dir_ready = 0;
            break;
        case NL_DIR_PUT:
            dir_put(m);
            break;
        case NL_DIR_DEL:
            dir_del(m);
            break;
        case NL_DIR_READY:
            cl.dir_ready = 1;
            break;
        case NL_RESERVED:
            reserved(m);
            break;
        case NL_BUCKET_NEW:
            bucket_new(m->flag);
            break;
        case NL_LOG:
            log_cluster(m->status,
                        m->status == LOG_LVL_ERROR ? "error" : "warning", "msg",
                        m->a, "error", m->b);
            break;
        }
        nl_msg_free(m);
    }
}

/* ---- the once-a-second tick ---- */

static void reap(struct inst *i)
{
    struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_INFO, "ids-freed");
    if (jw) {
        jw_str(jw, "instance", i->name);
        jw_uint(jw, "count", i->nnodes);
        log_commit(jw);
    }
    for (struct rnode *r = LIST_FIRST(&i->nodes); r; r = LIST_NEXT(r, link))
        submit_key_job(NL_RELEASE, r->id, r->idlen, r->rev, 0, 0);
}

/* After a stall, as after a reconnect: silence while we were stopped says
 * nothing about the others, and our ids may have been freed (and taken)
 * meanwhile, so each is claimed again. */
static void stalled(int64_t gap_ms)
{
    struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_WARN, "stall");
    if (jw) {
        jw_double(jw, "seconds", (double)gap_ms / 1000.0);
        jw_bool(jw, "reclaim", cl.up);
        log_commit(jw);
    }
    for (struct inst *i = LIST_FIRST(&cl.insts); i; i = LIST_NEXT(i, link))
        i->last_seen_ms = srv.now_ms;
    if (cl.up && !cl.leaving) {
        publish_heartbeat((long long)router_count());
        reassert_all();
    }
}

static void on_tick(struct timer *t)
{
    server_arm(t, srv.now_ms + TICK_MS);
    int64_t gap = srv.now_ms - cl.last_tick_ms;
    cl.last_tick_ms = srv.now_ms;
    if (gap > TICK_MS + STALL_MS)
        stalled(gap);
    if (cl.up && !cl.leaving)
        publish_heartbeat((long long)router_count());
    uint64_t failed = nl_publish_failures();
    if (failed != cl.pub_failed_logged) {
        struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_WARN, "warning");
        if (jw) {
            jw_str(jw, "msg",
                   "batches to other instances lost: NATS refused "
                   "them");
            jw_uint(jw, "count", failed - cl.pub_failed_logged);
            log_commit(jw);
        }
        cl.pub_failed_logged = failed;
    }
    if (cl.congested_logged && nl_pending_bytes() < OUT_LIMIT / 2)
        cl.congested_logged = 0;
    held_expire(0);
    budget_flush(&cl.inst_lines);
    budget_flush(&cl.peer_warnings);
    budget_flush(&cl.conflict_lines);
    for (struct inst *i = LIST_FIRST(&cl.insts), *next; i && cl.up; i = next) {
        next = LIST_NEXT(i, link);
        int64_t silent = srv.now_ms - i->last_seen_ms;
        if (i->state == INST_UP && silent > HB_DEAD_MS) {
            log_instance(LOG_LVL_WARN, "instance-down", i, "silent");
            set_state(i, INST_DOWN);
        }
        if (i->state == INST_UP || silent < cl.id_hold_ms)
            continue;
        if (i->nnodes == 0) {
            inst_free(i);
        } else if (cl.up && cl.dir_ready && srv.now_ms >= i->reap_at_ms) {
            reap(i);
            i->reap_at_ms = srv.now_ms + 5000; /* again if some remain */
        }
    }
}

/* ---- start and stop ---- */

int cluster_start(const char *default_name, char *err, size_t errlen)
{
    const struct config_cluster *cc = &srv.cfg.cluster;
    if (!cc->enabled)
        return 0;
    uint8_t seed[16] = {0};
    if (getrandom(&cl.inc, sizeof cl.inc, 0) != (ssize_t)sizeof cl.inc ||
        getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
        snprintf(err, errlen, "cluster: getrandom: %s", strerror(errno));
        return -1;
    }
    if (cc->name)
        snprintf(cl.name, sizeof cl.name, "%s", cc->name);
    else
        snprintf(cl.name, sizeof cl.name, "%s", default_name);
    /* The others refuse a name they could not show safely (cwire.c). */
    if (!cw_printable(cl.name, strlen(cl.name))) {
        snprintf(err, errlen, "cluster.name: no control characters allowed");
        return -1;
    }
    snprintf(cl.prefix, sizeof cl.prefix, "%s", cc->prefix);
    cw_owner_format(cl.owner, sizeof cl.owner, cl.inc, cl.name);
    cl.id_hold_ms = (int64_t)(cc->id_hold * 1000.0);
    if (idt_init(&cl.remote, seed) < 0 || idt_init(&cl.pending, seed) < 0 ||
        idt_init(&cl.held, seed) < 0 || idt_init(&cl.by_inc, seed) < 0) {
        snprintf(err, errlen, "cluster: out of memory");
        return -1;
    }

    char bucket[96], data[96];
    snprintf(bucket, sizeof bucket, "%s-ids", cl.prefix);
    data_subject(data, sizeof data, cl.inc);
    snprintf(cl.hb_subject, sizeof cl.hb_subject, "%s.hb", cl.prefix);
    struct nl_config nc = {
        .urls = (const char *const *)cc->nats,
        .nurls = cc->n_nats,
        .bucket = bucket,
        .data_subject = data,
        .hb_subject = cl.hb_subject,
        .name = cl.name,
        .creds = cc->creds,
        .nkey_seed = cc->nkey_seed,
        .token_file = cc->token_file,
        .user = cc->user,
        .password_file = cc->password_file,
        .tls = cc->tls.enabled,
        .tls_ca = cc->tls.ca,
        .tls_cert = cc->tls.cert,
        .tls_key = cc->tls.key,
    };
    for (int i = 0; i < cc->n_nats; i++)
        if (strncmp(cc->nats[i], "tls://", 6) == 0)
            nc.tls = 1;
    /* As the service user by now, who is the one libnats reads them as. */
    if (preflight_cluster_files(&srv.cfg, err, errlen) < 0)
        return -1;
    int fd = nl_start(&nc, err, errlen);
    if (fd < 0)
        return -1;
    cl.ev.fd = fd;
    cl.ev.cb = on_events;
    if (ev_add(&cl.ev, EPOLLIN) < 0) {
        snprintf(err, errlen, "cluster: epoll: %s", strerror(errno));
        return -1;
    }
    cl.tick.fn = on_tick;
    cl.last_tick_ms = srv.now_ms;
    server_arm(&cl.tick, srv.now_ms + TICK_MS);
    cluster_enabled = 1;
    return 0;
}

void cluster_leaving(void)
{
    if (cluster_enabled && cl.up)
        publish_heartbeat(-1);
    cl.leaving = 1;
}

void cluster_stop(void)
{
    if (!cluster_enabled)
        return;
    cluster_flush();
    server_disarm(&cl.tick);
    (void)ev_del(&cl.ev); /* at the end: a failure changes nothing */
    nl_stop(STOP_DEADLINE_MS);
    cl.ev.fd = -1;
    held_expire(1);
    dir_clear();
    while (!LIST_EMPTY(&cl.insts))
        inst_free(LIST_FIRST(&cl.insts));
    void *p;
    for (size_t at = 0; (p = idt_next(&cl.pending, &at)) != NULL;)
        free(p);
    idt_free(&cl.remote);
    idt_free(&cl.pending);
    idt_free(&cl.held);
    idt_free(&cl.by_inc);
    cluster_enabled = 0;
}

/* ---- for msgctl ---- */

size_t cluster_remote_count(void)
{
    return cluster_enabled ? cl.remote_live : 0;
}

void cluster_each_remote(int (*fn)(void *arg, const struct cluster_node *n),
                         void *arg)
{
    if (!cluster_enabled)
        return;
    for (struct inst *i = LIST_FIRST(&cl.insts); i; i = LIST_NEXT(i, link)) {
        if (i->state != INST_UP)
            continue;
        for (struct rnode *r = LIST_FIRST(&i->nodes); r;
             r = LIST_NEXT(r, link)) {
            struct cluster_node n = {r->id, i->name};
            if (fn(arg, &n) < 0)
                return;
        }
    }
}

enum proto_err cluster_kick(const char *id, const char *reason,
                            const char **instance)
{
    if (!cluster_enabled)
        return PERR_UNKNOWN_NODE;
    size_t len = strlen(id);
    struct rnode *r = idt_get(&cl.remote, id, len);
    if (r == NULL || r->inst->state != INST_UP)
        return PERR_UNKNOWN_NODE;
    *instance = r->inst->name;
    if (!cl.up)
        return PERR_CLUSTER_UNAVAILABLE;
    char line[16 + PROTO_MAX_ID + 256];
    size_t n = cw_control(line, sizeof line, CW_KICK, id, len, reason);
    if (batch_add(r->inst, line, n, NULL, 0, 0) < 0)
        return PERR_CLUSTER_UNAVAILABLE;
    return PERR_NONE;
}

const char *cluster_self_name(void)
{
    return cluster_enabled ? cl.name : NULL;
}

void cluster_stats(struct jsonw *jw)
{
    if (!cluster_enabled)
        return;
    size_t up = 1;
    for (struct inst *i = LIST_FIRST(&cl.insts); i; i = LIST_NEXT(i, link))
        up += i->state == INST_UP;
    jw_str(jw, "cluster_instance", cl.name);
    jw_bool(jw, "cluster_connected", cl.up);
    jw_uint(jw, "cluster_instances", up);
    jw_uint(jw, "cluster_nodes", router_count() + cl.remote_live);
    jw_uint(jw, "cluster_msgs_in", cl.msgs_in);
    jw_uint(jw, "cluster_msgs_out", cl.msgs_out);
    jw_uint(jw, "cluster_bytes_in", cl.bytes_in);
    jw_uint(jw, "cluster_bytes_out", cl.bytes_out);
    jw_uint(jw, "cluster_undeliverable", cl.undeliverable);
    jw_uint(jw, "cluster_msgs_held", cl.msgs_held);
    jw_uint(jw, "cluster_msgs_refused", cl.msgs_refused);
    jw_uint(jw, "cluster_input_refused", cl.input_refused);
    jw_uint(jw, "cluster_batches_lost", nl_publish_failures());
}

static size_t inst_json(char *buf, size_t cap, const char *name, uint64_t inc,
                        const char *state, int self, long long nodes,
                        double seen_s)
{
    char hex[24];
    struct jsonw jw;
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)inc);
    jw_begin(&jw, buf, cap);
    jw_str(&jw, "name", name);
    jw_str(&jw, "incarnation", hex);
    jw_str(&jw, "state", state);
    jw_bool(&jw, "self", self);
    if (nodes >= 0)
        jw_int(&jw, "nodes", nodes);
    else
        jw_null(&jw, "nodes");
    jw_double(&jw, "last_seen_s", seen_s);
    long n = jw_finish(&jw);
    return n > 0 ? (size_t)n - 1 : 0; /* without jw_finish's LF */
}

size_t cluster_instances_json(char *buf, size_t cap)
{
    size_t n = 0;
    if (cap < 4)
        return 0;
    buf[n++] = '[';
    if (cluster_enabled)
        n += inst_json(buf + n, cap - n - 2, cl.name, cl.inc,
                       cl.up ? "up" : "disconnected", 1,
                       (long long)router_count(), 0.0);
    for (struct inst *i = cluster_enabled ? LIST_FIRST(&cl.insts) : NULL; i;
         i = LIST_NEXT(i, link)) {
        if (cap - n < CLUSTER_INSTANCE_JSON_MAX + 2)
            return 0; /* the caller's buffer is too small for them all */
        if (n > 1)
            buf[n++] = ',';
        long long nodes = i->state == INST_UP && i->hb_nodes >= 0
                              ? i->hb_nodes
                              : (long long)i->nnodes;
        /* While we are cut off from NATS, nobody's state is known. */
        n += inst_json(buf + n, cap - n - 2, i->name, i->inc,
                       cl.up ? state_names[i->state] : "unknown", 0, nodes,
                       (double)(srv.now_ms - i->last_seen_ms) / 1000.0);
    }
    buf[n++] = ']';
    buf[n] = '\0';
    return n;
}
