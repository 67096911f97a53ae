/* control.c: the admin socket, after bgpd's control.c: probe before
 * unlinking, bind under a umask then chmod, credentials per connection.
 * Replies are JSON; a long list is rendered a batch of rows at a time as
 * the socket drains, from a snapshot taken when the request came, so a
 * big list never stalls routing and never walks a freed connection. */
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin.h"
#include "conn.h"
#include "fsutil.h"
#include "history.h"
#include "log.h"
#include "reload.h"
#include "router.h"
#include "server.h"

#define MAX_CLIENTS 64
#define REQUEST_MS 5000 /* a client that says nothing is dropped */
#define REPLY_MS 60000  /* a reply not read by then is abandoned */
#define ROWS_PER_PASS 256
#define OUT_LOW 65536 /* render more rows only below this much pending */

struct row {
    char id[65];
    char addr[56];
    const char *reason; /* closed rows */
    int64_t connected_ms, idle_ms, closed_real_ms;
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
};

struct ctl_client {
    struct ev ev;
    struct timer timer;
    struct ctl_client *prev, *next;
    pid_t pid;
    uid_t uid;
    int answered; /* the request was read; no more input is taken */
    int closed_rows;
    size_t in_len;
    struct outq out;
    struct row *rows;
    size_t nrows, next_row;
    char in[ADMIN_MAX_LINE + 1];
};

static struct ev listen_ev = {.fd = -1};
static char *sock_path;
static struct ctl_client *clients;
static int nclients;

static void client_free(struct ctl_client *cl)
{
    if (cl->prev)
        cl->prev->next = cl->next;
    else
        clients = cl->next;
    if (cl->next)
        cl->next->prev = cl->prev;
    nclients--;
    server_disarm(&cl->timer);
    close(cl->ev.fd);
    outq_clear(&cl->out, &srv.pool);
    free(cl->rows);
    free(cl);
}

static void set_out(struct ctl_client *cl, int on)
{
    struct epoll_event ee = {.events = on ? EPOLLOUT : 0, .data.ptr = &cl->ev};
    epoll_ctl(srv.epfd, EPOLL_CTL_MOD, cl->ev.fd, &ee);
}

static void put(struct ctl_client *cl, const char *s, size_t n)
{
    if (outq_append(&cl->out, &srv.pool, s, n) < 0)
        outq_clear(&cl->out, &srv.pool); /* the reply is lost, not memory */
}

/* The body of a jsonw object, without its newline, appended to the reply. */
static void put_obj(struct ctl_client *cl, struct jsonw *jw)
{
    long n = jw_finish(jw);
    if (n > 0)
        put(cl, jw->buf, (size_t)n - 1);
}

static void log_admin(const struct ctl_client *cl, const struct admin_req *req,
                      const char *cmd, const char *outcome)
{
    struct jsonw *jw = log_begin_audit(LOG_SERVER, "admin");
    if (jw == NULL)
        return;
    jw_uint(jw, "uid", cl->uid);
    jw_int(jw, "pid", cl->pid);
    jw_str(jw, "command", cmd);
    jw_str(jw, "outcome", outcome);
    if (req && req->cmd == ADM_KICK) {
        if (req->id[0])
            jw_str(jw, "node", req->id);
        else
            jw_str(jw, "addr", req->addr);
    }
    log_commit(jw);
}

static void reply_error(struct ctl_client *cl, const char *code,
                        const char *msg)
{
    char buf[1024];
    struct jsonw jw;
    jw_begin(&jw, buf, sizeof buf);
    jw_int(&jw, "version", ADMIN_VERSION);
    jw_bool(&jw, "ok", 0);
    jw_str(&jw, "code", code);
    jw_str(&jw, "error", msg);
    put_obj(cl, &jw);
    put(cl, "\n", 1);
}

static const char OK_HEAD[] = "{\"version\":1,\"ok\":true,\"result\":";

static void reply_ok(struct ctl_client *cl, struct jsonw *result)
{
    put(cl, OK_HEAD, sizeof OK_HEAD - 1);
    put_obj(cl, result);
    put(cl, "}\n", 2);
}

/* ---- list ---- */

static int cmp_rows(const void *a, const void *b, void *arg)
{
    const struct row *x = a, *y = b;
    enum admin_sort sort = *(enum admin_sort *)arg;
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

/* An address filter matches "host:port" exactly or the host alone. */
static int addr_matches(const char *addr, const char *want)
{
    size_t n = strlen(want);
    if (strcmp(addr, want) == 0)
        return 1;
    return strncmp(addr, want, n) == 0 && addr[n] == ':' &&
           strchr(addr + n + 1, ':') == NULL;
}

static int keep_row(const struct admin_req *req, const struct row *r)
{
    if (req->prefix[0] && strncmp(r->id, req->prefix, strlen(req->prefix)))
        return 0;
    if (req->addr[0] && !addr_matches(r->addr, req->addr))
        return 0;
    if (req->min_idle_s > 0 && r->idle_ms < req->min_idle_s * 1000.0)
        return 0;
    return 1;
}

static void snapshot(struct ctl_client *cl, const struct admin_req *req)
{
    size_t cap = req->closed ? history_count() : router_count(), n = 0;
    struct row *rows = calloc(cap ? cap : 1, sizeof *rows);
    if (rows == NULL)
        return;
    if (req->closed) {
        const struct closed_conn *h;
        for (size_t i = 0; (h = history_get(i)) != NULL; i++) {
            struct row *r = &rows[n];
            memcpy(r->id, h->id, sizeof r->id);
            memcpy(r->addr, h->addr, sizeof r->addr);
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
        for (struct conn *c = router_first(); c && n < cap; c = c->reg_next) {
            struct row *r = &rows[n];
            memcpy(r->id, c->id, (size_t)c->idlen + 1);
            memcpy(r->addr, c->addr, sizeof r->addr);
            r->connected_ms = srv.now_ms - c->connected_ms;
            r->idle_ms = srv.now_ms - c->active_ms;
            r->msgs_in = c->msgs_in;
            r->msgs_out = c->msgs_out;
            r->bytes_in = c->bytes_in;
            r->bytes_out = c->bytes_out;
            n += keep_row(req, r);
        }
    }
    enum admin_sort sort = req->sort;
    if (sort != SORT_NONE)
        qsort_r(rows, n, sizeof *rows, cmp_rows, &sort);
    if (req->limit && n > req->limit)
        n = req->limit;
    cl->rows = rows;
    cl->nrows = n;
    cl->closed_rows = req->closed;
}

static void render_row(struct ctl_client *cl, const struct row *r)
{
    char buf[512], ts[32];
    struct jsonw jw;
    jw_begin(&jw, buf, sizeof buf);
    jw_str(&jw, "id", r->id[0] ? r->id : NULL);
    jw_str(&jw, "addr", r->addr);
    jw_double(&jw, "connected_s", (double)r->connected_ms / 1000.0);
    if (cl->closed_rows) {
        jw_timestamp(ts, r->closed_real_ms);
        jw_str(&jw, "closed_at", ts);
        jw_str(&jw, "reason", r->reason);
    } else {
        jw_double(&jw, "idle_s", (double)r->idle_ms / 1000.0);
    }
    jw_uint(&jw, "msgs_in", r->msgs_in);
    jw_uint(&jw, "msgs_out", r->msgs_out);
    jw_uint(&jw, "bytes_in", r->bytes_in);
    jw_uint(&jw, "bytes_out", r->bytes_out);
    put_obj(cl, &jw);
}

/* Renders rows while little is pending; the rest waits for EPOLLOUT. */
static void render_more(struct ctl_client *cl)
{
    while (cl->rows && cl->out.bytes < OUT_LOW) {
        size_t end = cl->next_row + ROWS_PER_PASS;
        if (end > cl->nrows)
            end = cl->nrows;
        for (size_t i = cl->next_row; i < end; i++) {
            if (i)
                put(cl, ",", 1);
            render_row(cl, &cl->rows[i]);
        }
        cl->next_row = end;
        if (end == cl->nrows) {
            put(cl, "]}\n", 3);
            free(cl->rows);
            cl->rows = NULL;
        }
    }
}

/* ---- the other commands ---- */

static int kick(const struct admin_req *req, struct jsonw *jw)
{
    char list[4096];
    size_t n = 0;
    int count = 0;
    list[n++] = '[';
    for (struct conn *c = srv.all, *next; c; c = next) {
        next = c->all_next;
        if (c->state != CONN_OPEN)
            continue;
        if (req->id[0] ? !(c->registered && strcmp(c->id, req->id) == 0)
                       : !addr_matches(c->addr, req->addr))
            continue;
        if (n < sizeof list - 80) {
            if (count)
                list[n++] = ',';
            list[n++] = '"';
            const char *name = c->registered ? c->id : c->addr;
            long e =
                jw_escape(list + n, sizeof list - n - 4, name, strlen(name));
            n += e > 0 ? (size_t)e : 0;
            list[n++] = '"';
        }
        count++;
        conn_close(c, CR_KICKED, req->reason);
    }
    list[n++] = ']';
    jw_raw(jw, "kicked", list, n);
    return count;
}

static void stats(struct jsonw *jw)
{
    const struct stats *s = &srv.stats;
    jw_double(jw, "uptime_s", (double)(srv.now_ms - srv.started_ms) / 1000.0);
    jw_uint(jw, "nodes", router_count());
    jw_uint(jw, "nodes_peak", s->nodes_peak);
    jw_uint(jw, "connections", srv.nconns);
    jw_uint(jw, "connections_total", s->connections_total);
    jw_uint(jw, "msgs_routed", s->msgs_routed);
    jw_uint(jw, "bytes_routed", s->bytes_routed);
    jw_uint(jw, "evictions", s->evictions);
    jw_uint(jw, "kicks", s->kicks);
    jw_uint(jw, "rejects", s->rejects);
    jw_uint(jw, "protocol_errors", s->protocol_errors);
    jw_uint(jw, "slow_consumers", s->slow_consumers);
    jw_uint(jw, "log_lines_lost", log_lost());
}

static void handle(struct ctl_client *cl, const char *line, size_t len)
{
    struct admin_req req;
    const char *code;
    char err[CONFIG_ERR_MAX + 64], buf[2048];
    struct jsonw jw;

    cl->answered = 1;
    if (admin_parse(line, len, &req, &code, err, sizeof err) < 0) {
        log_admin(cl, NULL, "?", code);
        reply_error(cl, code, err);
        return;
    }
    const char *name = admin_cmd_name(req.cmd);
    if (admin_cmd_mutates(req.cmd) && cl->uid != 0 && cl->uid != geteuid()) {
        log_admin(cl, &req, name, "permission-denied");
        reply_error(cl, "permission", "permission denied");
        return;
    }
    jw_begin(&jw, buf, sizeof buf);
    switch (req.cmd) {
    case ADM_LIST:
        snapshot(cl, &req);
        log_admin(cl, &req, name, cl->rows ? "ok" : "no-memory");
        if (cl->rows == NULL) {
            reply_error(cl, "no-memory", "out of memory");
            return;
        }
        put(cl, OK_HEAD, sizeof OK_HEAD - 1);
        put(cl, "[", 1);
        render_more(cl);
        return;
    case ADM_KICK:
        if (kick(&req, &jw) == 0) {
            log_admin(cl, &req, name, "not-found");
            reply_error(cl, "not-found", "no such node");
            return;
        }
        break;
    case ADM_STATS:
        stats(&jw);
        break;
    case ADM_RELOAD:
        /* As SIGHUP: the logs first, so the reload lands in the new file. */
        reload_logs(err, sizeof err);
        if (reload_config(err, sizeof err) < 0) {
            log_admin(cl, &req, name, "config-error");
            reply_error(cl, "config", err);
            return;
        }
        jw_str(&jw, "file", reload_path());
        break;
    case ADM_REOPEN_LOGS:
        if (reload_logs(err, sizeof err) < 0) {
            log_admin(cl, &req, name, "error");
            reply_error(cl, "error", err);
            return;
        }
        jw_bool(&jw, "reopened", 1);
        break;
    }
    log_admin(cl, &req, name, "ok");
    reply_ok(cl, &jw);
}

static void flush_client(struct ctl_client *cl)
{
    for (;;) {
        if (cl->out.bytes && outq_write(&cl->out, &srv.pool, cl->ev.fd) < 0 &&
            errno != EAGAIN && errno != EWOULDBLOCK) {
            client_free(cl);
            return;
        }
        if (cl->out.bytes)
            break;
        if (cl->rows == NULL) {
            if (cl->answered) /* all of the reply is out */
                client_free(cl);
            return;
        }
        render_more(cl);
    }
    set_out(cl, 1);
}

static void on_client(struct ev *ev, uint32_t events)
{
    struct ctl_client *cl = (struct ctl_client *)ev;

    if (cl->answered) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            flush_client(cl);
        return;
    }
    ssize_t n =
        read(cl->ev.fd, cl->in + cl->in_len, sizeof cl->in - 1 - cl->in_len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        log_admin(cl, NULL, "?", "no-request"); /* went away without asking */
        client_free(cl);
        return;
    }
    cl->in_len += (size_t)n;
    char *lf = memchr(cl->in, '\n', cl->in_len);
    if (lf)
        handle(cl, cl->in, (size_t)(lf - cl->in));
    else if (cl->in_len == sizeof cl->in - 1) {
        cl->answered = 1;
        log_admin(cl, NULL, "?", "bad-request");
        reply_error(cl, "bad-request", "request line too long");
    } else {
        return;
    }
    server_arm(&cl->timer, srv.now_ms + REPLY_MS);
    flush_client(cl);
}

static void on_client_timer(struct timer *t)
{
    struct ctl_client *cl =
        (struct ctl_client *)((char *)t - offsetof(struct ctl_client, timer));
    if (!cl->answered) {
        /* Best effort: tell it why before closing. */
        log_admin(cl, NULL, "?", "timeout");
        reply_error(cl, "timeout", "no request within 5 seconds");
        (void)outq_write(&cl->out, &srv.pool, cl->ev.fd);
    }
    client_free(cl);
}

static void on_accept(struct ev *ev, uint32_t events)
{
    (void)events;
    for (int i = 0; i < 16; i++) {
        int fd = accept4(ev->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct ucred cred = {.pid = 0, .uid = (uid_t)-1};
        socklen_t cl_len = sizeof cred;
        struct ctl_client *cl = NULL;
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl_len);
        if (nclients >= MAX_CLIENTS || (cl = calloc(1, sizeof *cl)) == NULL) {
            static const char busy[] =
                "{\"version\":1,\"ok\":false,\"code\":\"busy\","
                "\"error\":\"too many admin connections\"}\n";
            struct ctl_client who = {.pid = cred.pid, .uid = cred.uid};
            log_admin(&who, NULL, "?", "busy");
            (void)!write(fd, busy, sizeof busy - 1);
            close(fd);
            continue;
        }
        cl->ev.cb = on_client;
        cl->ev.fd = fd;
        cl->timer.fn = on_client_timer;
        cl->pid = cred.pid;
        cl->uid = cred.uid;
        struct epoll_event ee = {.events = EPOLLIN, .data.ptr = &cl->ev};
        epoll_ctl(srv.epfd, EPOLL_CTL_ADD, fd, &ee);
        cl->next = clients;
        if (clients)
            clients->prev = cl;
        clients = cl;
        nclients++;
        server_arm(&cl->timer, srv.now_ms + REQUEST_MS);
    }
}

/* Another daemon answering at path makes this one refuse; a socket nobody
 * answers on is a crashed daemon's, and goes. */
static int clear_stale(const char *path, const struct sockaddr_un *sa,
                       char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "admin socket %s: exists and is not a socket",
                 path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int rc = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
    int e = errno;
    close(fd);
    if (rc == 0 || e == EAGAIN) {
        snprintf(err, errlen,
                 "already running: another msgd answers on admin socket %s",
                 path);
        return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "admin socket %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int control_open(const struct config *cfg, char *err, size_t errlen)
{
    const char *path = cfg->admin_socket;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "admin socket %s: path too long", path);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (fs_make_parent(path) < 0) {
        snprintf(err, errlen, "admin socket %s: %s", path, strerror(errno));
        return -1;
    }
    if (clear_stale(path, &sa, err, errlen) < 0) {
        if (!*err)
            snprintf(err, errlen, "admin socket %s: %s", path, strerror(errno));
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    /* Bind under a tight umask, then set the mode exactly: the socket is
     * never reachable with looser permissions, whatever msgd's umask. */
    mode_t old = umask(0177);
    int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc < 0 || chmod(path, cfg->admin_socket_mode) < 0 ||
        listen(fd, 64) < 0) {
        snprintf(err, errlen, "admin socket %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    listen_ev.cb = on_accept;
    listen_ev.fd = fd;
    struct epoll_event ee = {.events = EPOLLIN, .data.ptr = &listen_ev};
    epoll_ctl(srv.epfd, EPOLL_CTL_ADD, fd, &ee);
    free(sock_path);
    sock_path = strdup(path);
    return 0;
}

void control_stop_accepting(void)
{
    if (listen_ev.fd >= 0)
        epoll_ctl(srv.epfd, EPOLL_CTL_DEL, listen_ev.fd, NULL);
}

void control_close(void)
{
    while (clients)
        client_free(clients);
    if (listen_ev.fd >= 0) {
        close(listen_ev.fd);
        listen_ev.fd = -1;
    }
    if (sock_path) {
        unlink(sock_path);
        free(sock_path);
        sock_path = NULL;
    }
}
