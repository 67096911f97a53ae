/* control.c: the admin socket, after bgpd's control.c: probe before
 * unlinking, bind under the umask that gives the mode, credentials per
 * connection; and the dispatch of its requests.  Replies are JSON; a long
 * list (its snapshot and rows are ctllist.c's) is rendered a batch of rows at
 * a time as the socket drains, so a big list never stalls routing.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin.h"
#include "clientlog.h"
#include "cluster.h"
#include "conn.h"
#include "ctllist.h"
#include "fsutil.h"
#include "log.h"
#include "reload.h"
#include "router.h"
#include "server.h"
#ifdef HAVE_OPENSSL
#include "tls.h"
#endif

#define MAX_CLIENTS 64
/* Slots only root and the daemon's own uid may take, and what any other
 * uid may hold at once: a local user allowed to reach the socket cannot
 * lock the operator out by holding every slot. */
#define RESERVED_CLIENTS 16
#define MAX_PER_UID 8
#define ACCEPT_BACKOFF_MS 100 /* out of descriptors: retry this much later */
#define REQUEST_MS 5000       /* a client that says nothing is dropped */
#define REPLY_MS 60000        /* a reply not read by then is abandoned */
#define ROWS_PER_PASS 256
#define OUT_LOW 65536 /* render more rows only below this much pending */

struct ctl_client {
    struct ev ev;
    struct timer timer;
    LIST_ENTRY(ctl_client) link; /* clients */
    pid_t pid;
    uid_t uid;
    int answered; /* the request was read; no more input is taken */
    size_t in_len;
    struct outq out;
    struct ctl_list list; /* a list reply's rows still to render */
    char in[ADMIN_MAX_LINE + 1];
};

static struct ev listen_ev = {.fd = -1};
static char *sock_path;
static LIST_HEAD(, ctl_client) clients;
static int nclients;
static void on_accept_backoff(struct timer *t);
static struct timer accept_backoff = {.fn = on_accept_backoff};
static int accept_warned; /* the shortage was logged */

static void client_free(struct ctl_client *cl)
{
    LIST_REMOVE(cl, link);
    nclients--;
    server_disarm(&cl->timer);
    close(cl->ev.fd);
    outq_clear(&cl->out, &srv.pool);
    ctl_list_free(&cl->list);
    free(cl);
}

static void set_out(struct ctl_client *cl, int on)
{
    if (ev_mod(&cl->ev, on ? EPOLLOUT : 0) < 0) {
        ev_log_failure("admin connection dropped: cannot change its events");
        server_arm(&cl->timer, srv.now_ms); /* its timeout frees it */
    }
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

/* The admin line of a request.  What changes something (kick, reload,
 * reopen-logs) and every request refused before its command was known
 * (busy, bad-request, ...) is the audit trail: at info, whatever
 * log_level says.  What only reads (list, stats, cluster) is at debug: a
 * monitor polling stats would otherwise fill server_log.
 * instance: where a kick was forwarded, else NULL. */
static void log_admin_at(const struct ctl_client *cl,
                         const struct admin_req *req, const char *cmd,
                         enum admin_status st, const char *instance)
{
    struct jsonw *jw = req && !admin_cmd_mutates(req->cmd)
                           ? log_begin(LOG_SERVER, LOG_LVL_DEBUG, "admin")
                           : log_begin_audit(LOG_SERVER, "admin");
    if (jw == NULL)
        return;
    jw_uint(jw, "uid", cl->uid);
    jw_int(jw, "pid", cl->pid);
    jw_str(jw, "command", cmd);
    jw_str(jw, "outcome", admin_status_outcome(st));
    if (req && req->cmd == ADM_KICK) {
        if (req->id[0])
            jw_str(jw, "node", req->id);
        else
            jw_str(jw, "addr", req->addr);
        if (req->reason[0])
            jw_str(jw, "text", req->reason);
    }
    if (instance)
        jw_str(jw, "instance", instance);
    log_commit(jw);
}

static void log_admin(const struct ctl_client *cl, const struct admin_req *req,
                      const char *cmd, enum admin_status st)
{
    log_admin_at(cl, req, cmd, st, NULL);
}

/* An error reply's object for st, with msg, or the table's message when
 * msg is NULL. */
static void error_obj(struct jsonw *jw, char *buf, size_t cap,
                      enum admin_status st, const char *msg)
{
    jw_begin(jw, buf, cap);
    jw_int(jw, "version", ADMIN_VERSION);
    jw_bool(jw, "ok", 0);
    jw_str(jw, "code", admin_status_code(st));
    jw_str(jw, "error", msg ? msg : admin_status_message(st));
}

static void reply_error(struct ctl_client *cl, enum admin_status st,
                        const char *msg)
{
    char buf[1024];
    struct jsonw jw;
    error_obj(&jw, buf, sizeof buf, st, msg);
    put_obj(cl, &jw);
    put(cl, "\n", 1);
}

/* A refusal: the admin log line and the error object always come from one
 * status in one call, so that what the operator is told and what the log
 * says cannot part.  The object is left in jw over buf: refuse puts it on
 * the client's reply, and a connection turned away before it has a client
 * (busy) writes it straight to its socket. */
static void refusal(const struct ctl_client *cl, const struct admin_req *req,
                    const char *cmd, enum admin_status st, const char *msg,
                    struct jsonw *jw, char *buf, size_t cap)
{
    log_admin(cl, req, cmd, st);
    error_obj(jw, buf, cap, st, msg);
}

static void refuse(struct ctl_client *cl, const struct admin_req *req,
                   const char *cmd, enum admin_status st, const char *msg)
{
    char buf[1024];
    struct jsonw jw;
    refusal(cl, req, cmd, st, msg, &jw, buf, sizeof buf);
    put_obj(cl, &jw);
    put(cl, "\n", 1);
}

static const char OK_HEAD[] = "{\"version\":1,\"ok\":true,\"result\":";

static void reply_ok(struct ctl_client *cl, struct jsonw *result)
{
    long n = jw_finish(result);
    if (n <= 0) { /* never half a reply: the client could not parse it */
        reply_error(cl, ADMIN_E_ERROR, "the reply does not fit");
        return;
    }
    put(cl, OK_HEAD, sizeof OK_HEAD - 1);
    put(cl, result->buf, (size_t)n - 1);
    put(cl, "}\n", 2);
}

/* ---- list ---- */

/* put, as the writer ctllist.c renders through. */
static void put_list(void *arg, const char *s, size_t n)
{
    put(arg, s, n);
}

/* Renders rows while little is pending; the rest waits for EPOLLOUT. */
static void render_more(struct ctl_client *cl)
{
    while (!ctl_list_done(&cl->list) && cl->out.bytes < OUT_LOW)
        if (ctl_list_render(&cl->list, ROWS_PER_PASS, put_list, cl))
            put(cl, "}\n", 2);
}

/* ---- the other commands ---- */

/* Appends name to the JSON array being built in list[0..*n) of cap bytes
 * (a name that does not fit is left out). */
static void list_add(char *list, size_t *n, size_t cap, const char *name)
{
    size_t at = *n + (*n > 1) + 1; /* after the comma and the quote */
    long e =
        at < cap ? jw_escape(list + at, cap - at - 1, name, strlen(name)) : -1;
    if (e < 0)
        return;
    if (*n > 1)
        list[(*n)++] = ',';
    list[(*n)++] = '"';
    *n += (size_t)e;
    list[(*n)++] = '"';
}

/* Kicks the matching local connections; returns how many, and only then
 * adds "kicked" to jw. */
static int kick(const struct admin_req *req, struct jsonw *jw)
{
    char list[4096];
    size_t n = 0;
    int count = 0;
    list[n++] = '[';
    struct conn *c, *next;
    /* conn_close leaves c in srv.all until the reap: the walk may go on. */
    for (c = LIST_FIRST(&srv.all); c; c = next) {
        next = LIST_NEXT(c, all_link);
        if (c->state != CONN_OPEN && c->state != CONN_HELD)
            continue;
        if (req->id[0] ? !(c->registered && strcmp(c->id, req->id) == 0)
                       : !ctl_list_addr_matches(c->addr, req->addr))
            continue;
        list_add(list, &n, sizeof list - 1, c->registered ? c->id : c->addr);
        count++;
        conn_close(c, CR_KICKED, req->reason);
    }
    list[n++] = ']';
    if (count)
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
    jw_uint(jw, "sessions_held", srv.nheld);
    jw_uint(jw, "sessions_resumed", s->sessions_resumed);
    jw_uint(jw, "sessions_expired", s->sessions_expired);
    jw_uint(jw, "log_lines_lost", log_lost());
    jw_uint(jw, "log_lines_suppressed", clientlog_suppressed());
    cluster_stats(jw); /* the cluster_* keys, in a cluster only */
#ifdef HAVE_OPENSSL
    if (tls_ready()) { /* the tls_* keys, with a tls group only */
        const struct tls_stats *t = tls_stats();
        jw_uint(jw, "tls_handshakes", t->handshakes);
        jw_uint(jw, "tls_handshake_failures", t->handshake_failures);
        jw_uint(jw, "tls_ktls_send", t->ktls_send);
        jw_uint(jw, "tls_ktls_recv", t->ktls_recv);
    }
#endif
}

/* The reply to cluster: the array is written by cluster.c, into a buffer
 * kept out of the stack for its size. */
static void cluster_reply(struct ctl_client *cl, const struct admin_req *req,
                          const char *name)
{
    static char buf[CLUSTER_INSTANCES_JSON_MAX];
    if (cluster_self_name() == NULL) {
        refuse(cl, req, name, ADMIN_E_NO_CLUSTER, NULL);
        return;
    }
    size_t n = cluster_instances_json(buf, sizeof buf);
    if (n == 0) {
        refuse(cl, req, name, ADMIN_E_ERROR,
               "too many instances for one reply");
        return;
    }
    log_admin(cl, req, name, ADMIN_OK);
    put(cl, OK_HEAD, sizeof OK_HEAD - 1);
    put(cl, buf, n);
    put(cl, "}\n", 2);
}

static void handle(struct ctl_client *cl, const char *line, size_t len)
{
    struct admin_req req;
    enum admin_status st;
    /* stats with the cluster keys: an instance name may be 6 * 255 bytes
     * once escaped. */
    char err[CONFIG_ERR_MAX + 64], buf[4096];
    struct jsonw jw;

    cl->answered = 1;
    if (admin_parse(line, len, &req, &st, err, sizeof err) < 0) {
        refuse(cl, NULL, "?", st, err);
        return;
    }
    const char *name = admin_cmd_name(req.cmd);
    if (admin_cmd_mutates(req.cmd) && cl->uid != 0 && cl->uid != geteuid()) {
        refuse(cl, &req, name, ADMIN_E_PERMISSION, NULL);
        return;
    }
    jw_begin(&jw, buf, sizeof buf);
    switch (req.cmd) {
    case ADM_LIST:
        st = ctl_list_take(&cl->list, &req);
        if (st != ADMIN_OK) {
            refuse(cl, &req, name, st, NULL);
            return;
        }
        log_admin(cl, &req, name, ADMIN_OK);
        put(cl, OK_HEAD, sizeof OK_HEAD - 1);
        render_more(cl);
        return;
    case ADM_KICK: {
        if (kick(&req, &jw) > 0)
            break;
        /* Not here: the instance that holds the id kicks it, and the node
         * gets its BYE from there.  Only the hand-over is known here. */
        const char *inst = NULL;
        enum proto_err kerr = req.id[0]
                                  ? cluster_kick(req.id, req.reason, &inst)
                                  : PERR_UNKNOWN_NODE;
        if (kerr != PERR_NONE) {
            refuse(cl, &req, name,
                   kerr == PERR_CLUSTER_UNAVAILABLE
                       ? ADMIN_E_CLUSTER_UNAVAILABLE
                       : ADMIN_E_NOT_FOUND,
                   NULL);
            return;
        }
        char list[8 + 6 * sizeof req.id];
        size_t n = 0;
        list[n++] = '[';
        list_add(list, &n, sizeof list - 1, req.id);
        list[n++] = ']';
        jw_raw(&jw, "kicked", list, n);
        jw_str(&jw, "instance", inst);
        log_admin_at(cl, &req, name, ADMIN_FORWARDED, inst);
        reply_ok(cl, &jw);
        return;
    }
    case ADM_STATS:
        stats(&jw);
        break;
    case ADM_RELOAD: {
        /* As SIGHUP: the logs first, so the reload lands in the new file.
         * What could not be done is said to the operator, not only to
         * server_log. */
        char logs_err[sizeof err], warn[sizeof err + 32];
        int logs_rc = reload_logs(logs_err, sizeof logs_err);
        if (reload_config(err, sizeof err) < 0) {
            refuse(cl, &req, name, ADMIN_E_CONFIG, err);
            return;
        }
        jw_str(&jw, "file", reload_path());
        size_t wn = 0;
        char list[2 * sizeof warn + 8];
        list[wn++] = '[';
        if (*reload_warning())
            list_add(list, &wn, sizeof list - 1, reload_warning());
        if (logs_rc < 0) {
            snprintf(warn, sizeof warn, "logs not reopened: %s", logs_err);
            list_add(list, &wn, sizeof list - 1, warn);
        }
        list[wn++] = ']';
        jw_raw(&jw, "warnings", list, wn);
        break;
    }
    case ADM_REOPEN_LOGS:
        if (reload_logs(err, sizeof err) < 0) {
            refuse(cl, &req, name, ADMIN_E_ERROR, err);
            return;
        }
        jw_bool(&jw, "reopened", 1);
        break;
    case ADM_CLUSTER:
        cluster_reply(cl, &req, name);
        return;
    }
    log_admin(cl, &req, name, ADMIN_OK);
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
        if (ctl_list_done(&cl->list)) {
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
        /* went away without asking */
        log_admin(cl, NULL, "?", ADMIN_NO_REQUEST);
        client_free(cl);
        return;
    }
    cl->in_len += (size_t)n;
    char *lf = memchr(cl->in, '\n', cl->in_len);
    if (lf)
        handle(cl, cl->in, (size_t)(lf - cl->in));
    else if (cl->in_len == sizeof cl->in - 1) {
        cl->answered = 1;
        refuse(cl, NULL, "?", ADMIN_E_BAD_REQUEST, "request line too long");
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
        refuse(cl, NULL, "?", ADMIN_E_TIMEOUT, NULL);
        (void)outq_write(&cl->out, &srv.pool, cl->ev.fd);
    }
    client_free(cl);
}

/* Whether a connection of uid may take a slot now. */
static int slot_free(uid_t uid)
{
    if (uid == 0 || uid == geteuid())
        return nclients < MAX_CLIENTS;
    if (nclients >= MAX_CLIENTS - RESERVED_CLIENTS)
        return 0;
    int held = 0;
    for (struct ctl_client *c = LIST_FIRST(&clients); c; c = LIST_NEXT(c, link))
        held += c->uid == uid;
    return held < MAX_PER_UID;
}

static void on_accept_backoff(struct timer *t)
{
    (void)t;
    if (listen_ev.fd >= 0 && ev_mod(&listen_ev, EPOLLIN) < 0)
        ev_log_failure("admin socket: cannot resume accepting");
}

/* Out of descriptors (or memory): the pending client stays in the
 * kernel's queue, and accept is tried again in a while rather than at
 * every pass of the loop, which would spin.  Said once per shortage. */
static void pause_accept(int err)
{
    if (!accept_warned) {
        struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_WARN, "warning");
        if (jw) {
            jw_str(jw, "msg", "admin accept paused: out of descriptors");
            jw_str(jw, "error", strerror(err));
            log_commit(jw);
        }
        accept_warned = 1;
    }
    if (ev_mod(&listen_ev, 0) < 0)
        ev_log_failure("admin socket: cannot pause accepting");
    server_arm(&accept_backoff, srv.now_ms + ACCEPT_BACKOFF_MS);
}

static void on_accept(struct ev *ev, uint32_t events)
{
    (void)events;
    for (int i = 0; i < 16; i++) {
        int fd = accept4(ev->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM)
                pause_accept(errno);
            return;
        }
        accept_warned = 0;
        struct ucred cred = {.pid = 0, .uid = (uid_t)-1};
        socklen_t cl_len = sizeof cred;
        struct ctl_client *cl = NULL;
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl_len);
        if (!slot_free(cred.uid) || (cl = calloc(1, sizeof *cl)) == NULL) {
            char busy[256];
            struct jsonw jw;
            struct ctl_client who = {.pid = cred.pid, .uid = cred.uid};
            refusal(&who, NULL, "?", ADMIN_E_BUSY, NULL, &jw, busy,
                    sizeof busy);
            long n = jw_finish(&jw);
            if (n > 0)
                (void)!write(fd, busy, (size_t)n);
            close(fd);
            continue;
        }
        cl->ev.cb = on_client;
        cl->ev.fd = fd;
        cl->timer.fn = on_client_timer;
        cl->pid = cred.pid;
        cl->uid = cred.uid;
        if (ev_add(&cl->ev, EPOLLIN) < 0) {
            ev_log_failure("admin connection refused: cannot watch it");
            close(fd);
            free(cl);
            continue;
        }
        LIST_INSERT_HEAD(&clients, cl, link);
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
    /* The umask gives the socket its mode exactly as bind creates it: no
     * chmod by path afterwards, which a link planted in a directory the
     * service user owns could redirect to another file. */
    mode_t old = umask(~(mode_t)cfg->admin_socket_mode & 0777);
    int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    const char *why = NULL;
    if (rc < 0 || listen(fd, 64) < 0)
        why = strerror(errno);
    else
        fs_chown_socket(path, &why);
    if (why) {
        snprintf(err, errlen, "admin socket %s: %s", path, why);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    listen_ev.cb = on_accept;
    listen_ev.fd = fd;
    if (ev_add(&listen_ev, EPOLLIN) < 0) {
        snprintf(err, errlen, "admin socket %s: cannot watch it: %s", path,
                 strerror(errno));
        close(fd);
        listen_ev.fd = -1;
        return -1;
    }
    free(sock_path);
    sock_path = strdup(path);
    return 0;
}

void control_stop_accepting(void)
{
    server_disarm(&accept_backoff);
    if (listen_ev.fd >= 0 && ev_del(&listen_ev) < 0)
        ev_log_failure("admin socket: cannot stop accepting");
}

void control_close(void)
{
    server_disarm(&accept_backoff);
    while (!LIST_EMPTY(&clients))
        client_free(LIST_FIRST(&clients));
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
