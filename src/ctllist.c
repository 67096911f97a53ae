/* ctllist.c: the admin list command's snapshot and its rendering.  The rows
 * are copied out of the router's table (or the history ring, or the cluster's
 * directory) when the request comes, so rendering them later, as the socket
 * drains, never walks a connection that has gone.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "ctllist.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "conn.h"
#include "history.h"
#include "jsonw.h"
#include "router.h"
#include "server.h"
#include "sessions.h"

struct ctl_row {
    char id[PROTO_MAX_ID + 1];
    char addr[ADDR_STR_MAX];
    int remote; /* a node of another instance: only id and instance known */
    int tls;    /* came over TLS (a local, open node) */
    char user[PROTO_MAX_ID + 1]; /* its user, "" when none */
    uint32_t inst;               /* index into the list's instance names */
    const char *reason;          /* closed rows */
    const char *state;           /* live rows: "open", "session", "held" */
    uint64_t kept;               /* a session's unacknowledged messages */
    double hold_left_s;          /* held: seconds before it expires */
    int64_t connected_ms, idle_ms, closed_real_ms;
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
};

void ctl_list_free(struct ctl_list *l)
{
    free(l->rows);
    for (size_t i = 0; i < l->ninst; i++)
        free(l->inst_names[i]);
    free(l->inst_names);
    *l = (struct ctl_list){0};
}

int ctl_list_done(const struct ctl_list *l)
{
    return l->rows == NULL;
}

static int cmp_rows(const void *a, const void *b, void *arg)
{
    const struct ctl_row *x = a, *y = b;
    enum admin_sort sort = *(enum admin_sort *)arg;
    /* Another instance's node has only an id: for any other key it is
     * unknown, and unknowns come last. */
    if (sort != SORT_ID && x->remote != y->remote)
        return x->remote - y->remote;
    if (sort != SORT_ID && x->remote)
        return 0;
    switch (sort) {
    case SORT_ID:
        return strcmp(x->id, y->id);
    case SORT_ADDR:
        return strcmp(x->addr, y->addr);
    case SORT_IDLE:
        return (y->idle_ms > x->idle_ms) - (y->idle_ms < x->idle_ms);
    case SORT_CONNECTED:
        return (y->connected_ms > x->connected_ms) -
               (y->connected_ms < x->connected_ms);
    case SORT_MSGS: {
        uint64_t mx = x->msgs_in + x->msgs_out, my = y->msgs_in + y->msgs_out;
        return (my > mx) - (my < mx);
    }
    case SORT_NONE:
        break;
    }
    return 0;
}

int ctl_list_addr_matches(const char *addr, const char *want)
{
    size_t n = strlen(want);
    if (strcmp(addr, want) == 0)
        return 1;
    return strncmp(addr, want, n) == 0 && addr[n] == ':' &&
           strchr(addr + n + 1, ':') == NULL;
}

static int keep_row(const struct admin_req *req, const struct ctl_row *r)
{
    if (req->prefix[0] && strncmp(r->id, req->prefix, strlen(req->prefix)))
        return 0;
    /* Address and idle time of another instance's node are not known here,
     * so it cannot be shown to match. */
    if (r->remote && (req->addr[0] || req->min_idle_s > 0))
        return 0;
    if (req->addr[0] && !ctl_list_addr_matches(r->addr, req->addr))
        return 0;
    if (req->min_idle_s > 0 && r->idle_ms < req->min_idle_s * 1000.0)
        return 0;
    return 1;
}

/* The index of name among the list's instance names, added if new;
 * returns -1 when out of memory. */
static long inst_index(struct ctl_list *l, const char *name)
{
    /* The rows of one instance come together: look at the last name first. */
    for (size_t i = l->ninst; i-- > 0;)
        if (strcmp(l->inst_names[i], name) == 0)
            return (long)i;
    char **names =
        realloc(l->inst_names, (l->ninst + 1) * sizeof *l->inst_names);
    if (names == NULL)
        return -1;
    l->inst_names = names;
    if ((names[l->ninst] = strdup(name)) == NULL)
        return -1;
    return (long)l->ninst++;
}

struct remote_ctx {
    struct ctl_list *l;
    const struct admin_req *req;
    struct ctl_row *rows;
    size_t n, cap;
    int failed;
};

static int add_remote(void *arg, const struct cluster_node *node)
{
    struct remote_ctx *x = arg;
    if (x->n == x->cap) /* no more than were counted a moment ago */
        return -1;
    struct ctl_row *r = &x->rows[x->n];
    size_t len = strlen(node->id);
    if (len >= sizeof r->id)
        return 0;
    memset(r, 0, sizeof *r);
    memcpy(r->id, node->id, len + 1);
    r->remote = 1;
    if (!keep_row(x->req, r))
        return 0;
    long i = inst_index(x->l, node->instance);
    if (i < 0) {
        x->failed = 1;
        return -1;
    }
    r->inst = (uint32_t)i;
    x->n++;
    return 0;
}

/* Fills l with the rows req asks for; l->rows stays NULL when out of
 * memory. */
static void snapshot(struct ctl_list *l, const struct admin_req *req)
{
    size_t cap = req->closed ? history_count() : router_count(), n = 0;
    const char *self = cluster_self_name();
    if (req->cluster && self)
        cap += cluster_remote_count();
    struct ctl_row *rows = calloc(cap ? cap : 1, sizeof *rows);
    if (rows == NULL)
        return;
    /* Local rows are this instance's: index 0. */
    if (self && !req->closed && inst_index(l, self) < 0) {
        free(rows);
        ctl_list_free(l);
        return;
    }
    if (req->closed) {
        const struct closed_conn *h;
        for (size_t i = 0; (h = history_get(i)) != NULL; i++) {
            struct ctl_row *r = &rows[n];
            memcpy(r->id, h->id, PROTO_MAX_ID + 1);
            memcpy(r->addr, h->addr, ADDR_STR_MAX);
            r->reason = h->reason;
            r->connected_ms = h->connected_ms;
            r->closed_real_ms = h->closed_real_ms;
            r->msgs_in = h->msgs_in;
            r->msgs_out = h->msgs_out;
            r->bytes_in = h->bytes_in;
            r->bytes_out = h->bytes_out;
            n += keep_row(req, r);
        }
    } else {
        for (struct conn *c = router_first(); c && n < cap;
             c = router_next(c)) {
            struct ctl_row *r = &rows[n];
            memcpy(r->id, c->id, (size_t)c->idlen + 1);
            memcpy(r->addr, c->addr, ADDR_STR_MAX);
            r->tls = strcmp(conn_transport(c), "tls") == 0;
            r->state = c->state == CONN_HELD ? "held"
                       : c->sess             ? "session"
                                             : "open";
            r->kept = c->sess ? c->sess->count : 0;
            if (c->state == CONN_HELD)
                r->hold_left_s = sessions_seconds_left(c);
            snprintf(r->user, sizeof r->user, "%s",
                     conn_user(c) ? conn_user(c) : "");
            r->connected_ms = srv.now_ms - c->connected_ms;
            r->idle_ms = srv.now_ms - c->active_ms;
            r->msgs_in = c->msgs_in;
            r->msgs_out = c->msgs_out;
            r->bytes_in = c->bytes_in;
            r->bytes_out = c->bytes_out;
            n += keep_row(req, r);
        }
        if (req->cluster && self) {
            struct remote_ctx x = {l, req, rows, n, cap, 0};
            cluster_each_remote(add_remote, &x);
            if (x.failed) {
                free(rows);
                ctl_list_free(l);
                return;
            }
            n = x.n;
        }
    }
    enum admin_sort sort = req->sort;
    if (sort != SORT_NONE)
        qsort_r(rows, n, sizeof *rows, cmp_rows, &sort);
    if (req->limit && n > req->limit)
        n = req->limit;
    l->rows = rows;
    l->nrows = n;
    l->closed = req->closed;
}

enum admin_status ctl_list_take(struct ctl_list *l, const struct admin_req *req)
{
    if (req->cluster && cluster_self_name() == NULL)
        return ADMIN_E_NO_CLUSTER;
    snapshot(l, req);
    return l->rows ? ADMIN_OK : ADMIN_E_NO_MEMORY;
}

/* Another instance's node: what this instance does not know is null. */
static void render_remote(struct jsonw *jw)
{
    static const char *const unknown[] = {"addr",     "connected_s", "idle_s",
                                          "msgs_in",  "msgs_out",    "bytes_in",
                                          "bytes_out"};
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++)
        jw_null(jw, unknown[i]);
}

/* The body of a jsonw object, without its newline, through put. */
static void put_obj(ctl_list_put_fn *put, void *arg, struct jsonw *jw)
{
    long n = jw_finish(jw);
    if (n > 0)
        put(arg, jw->buf, (size_t)n - 1);
}

static void render_row(const struct ctl_list *l, const struct ctl_row *r,
                       ctl_list_put_fn *put, void *arg)
{
    char buf[2048], ts[32]; /* an instance name may take 6 * 255 escaped */
    struct jsonw jw;
    jw_begin(&jw, buf, sizeof buf);
    jw_str(&jw, "id", r->id[0] ? r->id : NULL);
    if (r->remote) {
        render_remote(&jw);
        jw_str(&jw, "instance", l->inst_names[r->inst]);
        put_obj(put, arg, &jw);
        return;
    }
    jw_str(&jw, "addr", r->addr);
    jw_double(&jw, "connected_s", (double)r->connected_ms / 1000.0);
    if (l->closed) {
        jw_timestamp(ts, r->closed_real_ms);
        jw_str(&jw, "closed_at", ts);
        jw_str(&jw, "reason", r->reason);
    } else {
        jw_bool(&jw, "tls", r->tls);
        jw_str(&jw, "user", r->user[0] ? r->user : NULL);
        jw_double(&jw, "idle_s", (double)r->idle_ms / 1000.0);
        jw_str(&jw, "state", r->state);
        if (strcmp(r->state, "open") != 0)
            jw_uint(&jw, "kept", r->kept);
        else
            jw_null(&jw, "kept");
        if (strcmp(r->state, "held") == 0)
            jw_double(&jw, "hold_left_s", r->hold_left_s);
        else
            jw_null(&jw, "hold_left_s");
    }
    jw_uint(&jw, "msgs_in", r->msgs_in);
    jw_uint(&jw, "msgs_out", r->msgs_out);
    jw_uint(&jw, "bytes_in", r->bytes_in);
    jw_uint(&jw, "bytes_out", r->bytes_out);
    if (l->inst_names)
        jw_str(&jw, "instance", l->inst_names[r->inst]);
    put_obj(put, arg, &jw);
}

int ctl_list_render(struct ctl_list *l, size_t max_rows, ctl_list_put_fn *put,
                    void *arg)
{
    if (l->rows == NULL)
        return 0;
    /* Every call with rows left renders at least one (max_rows > 0), so
     * only the first starts at row 0. */
    if (l->next_row == 0)
        put(arg, "[", 1);
    size_t end = l->next_row + max_rows;
    if (end > l->nrows)
        end = l->nrows;
    for (size_t i = l->next_row; i < end; i++) {
        if (i)
            put(arg, ",", 1);
        render_row(l, &l->rows[i], put, arg);
    }
    l->next_row = end;
    if (end < l->nrows)
        return 0;
    put(arg, "]", 1);
    ctl_list_free(l);
    return 1;
}
