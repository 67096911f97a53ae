/* msgclient.c: libmsgclient, the client side of msgd's wire protocol.
 * Output is queued in one buffer and written by mc_flush; input is read
 * into one buffer and parsed an event at a time by mc_next_event, which
 * returns nothing until a whole event (a MSG with its payload, a NODES
 * with all its NODE lines) is there.  The blocking calls are built on the
 * same two functions; events they are not waiting for are copied aside
 * and handed out first by mc_next_event, so nothing is lost or reordered.
 * Over TLS the same buffers sit on tls.c's transport instead of the
 * socket.  An AUTH secret is tracked in the output buffer and wiped as
 * soon as it is written.
 * A session (mc_session_enable) adds a layer in the same places: SEND,
 * BCAST, PING and WHO also go into a journal (journal.c) until the server
 * confirms them; a dropped connection becomes MC_EV_DISCONNECTED instead
 * of MC_EV_CLOSED, and the next pump or mc_session_tick reconnects,
 * re-authenticates with the one kept copy of the secret, resumes, and
 * sends the journal's pending entries again.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "msgclient.h"
#include "msgclient-internal.h"
#include "journal.h"
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_MESSAGE 65536
#define MAX_LINE 2048 /* longest server line: BYE kicked with its reason */
#define READ_CHUNK 65536
/* Unhandled input beyond this is not read until events are drained: the
 * largest frame (max_message) plus room for a long WHO reply. */
#define SESSION_TRIM_EVERY 64 /* counted commands between trim PINGs */
#define SESSION_PING "mc-session-" /* reserved PING token prefix */
#define MAX_UNHANDLED(c) ((c)->max_message + (size_t)64 * 1024 * 1024)

/* An event kept aside by a blocking call, with copies of its strings. */
struct stash {
    struct stash *next;
    struct mc_event ev;
    char *blob;
    const char **nodes;
};

enum sess_state {
    SS_OFF,      /* no live session */
    SS_UP,       /* connected (HELLO sent or answered) */
    SS_DOWN,     /* the connection dropped; retry at retry_at */
    SS_RESUMING  /* reconnected, the resuming HELLO's OK not here yet */
};

/* A session's state across connections. */
struct sess {
    int enabled; /* mc_session_enable was called */
    enum sess_state state;
    struct mc_session_options o;
    char id[MC_MAX_ID + 1];
    char token[48]; /* "" until the OK */
    char *host, *port;  /* of the last mc_connect */
    struct mc_tls *tls; /* held (mct_hold), or NULL */
    /* The one kept copy of the AUTH credentials: secret is wiped
     * (explicit_bzero) before it is freed. */
    char *user, *secret;
    uint64_t delivered; /* highest seq handed on */
    uint64_t acked;     /* highest seq ACKed */
    uint64_t sent;      /* SEND and BCAST numbered in this session */
    uint64_t trim_at;   /* sent at the last trim PING */
    long ack_due;       /* when an ACK is due by time; -1 none */
    long retry_at;      /* SS_DOWN: the next attempt */
    int backoff;        /* ms; doubles per failure */
    int hide_auth;      /* the re-login's reply is ours, not the app's */
    int down_told;      /* MC_EV_DISCONNECTED handed out for this outage */
    struct mcj j;
    /* Events made up by the library, handed out before the next parse. */
    int pend_lost, pend_resumed;
    size_t pend_lost_n;
    char why[256];
    uint64_t rng;
    struct mc_session_stats st;
};

struct mc_client {
    int fd;
    int eof;             /* read saw EOF or an error */
    int broken;          /* the server broke the protocol */
    int closed_reported; /* MC_EV_CLOSED was handed out */
    struct mct_conn *tls; /* NULL: plain TCP */
    int read_wants_write; /* TLS: the last read needs the socket writable */
    int write_wants_read; /* TLS: the last write needs it readable */
    unsigned auth_pending; /* AUTHs sent, not answered yet */
    size_t max_message;
    double idle;
    long long server_max; /* max= of the OK line; 0 unknown */
    unsigned sync_seq;
    char err[256];
    char code[32]; /* mc_register's ERR code */

    char *out;
    size_t out_off, out_len, out_cap;
    /* out[sec_lo, sec_hi) holds AUTH secrets not yet written (sec_hi 0:
     * none); wiped once out_off passes sec_hi. */
    size_t sec_lo, sec_hi;
    char *in;
    size_t in_off, in_len, in_cap;

    char line[MAX_LINE + 1]; /* the current event's header, tokenized */
    const char **nodes;      /* the current NODES event */
    size_t nodes_cap;
    char *nodes_buf;
    size_t nodes_buf_cap;

    struct stash *stash, *stash_tail, *handed; /* handed: freed next call */
    struct sess s;
};

/* What an OK line says about a session. */
struct ok_info {
    const char *token; /* session=, or NULL */
    uint64_t lost;     /* lost= */
    uint64_t in;       /* in= */
    int has_in;
};

static int fail(struct mc_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int sess_live(const struct mc_client *c);
static int sess_deliver(struct mc_client *c, uint64_t seq);
static int sess_pong(struct mc_client *c, const char *token);
static int sess_ok(struct mc_client *c, const struct ok_info *ok,
                   struct mc_event *ev);
static int sess_bye(struct mc_client *c, struct mc_event *ev);
static int sess_made_up(struct mc_client *c, struct mc_event *ev);
static int sess_went_down(struct mc_client *c, struct mc_event *ev);
static int parse_u64(const char *s, uint64_t *out);
static int valid_id(const char *s);
static long now_ms(void);
static int queue(struct mc_client *c, int query, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct mc_client *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return -1;
}

int mc_valid_id(const char *s)
{
    return s != NULL && valid_id(s);
}

long long mc_server_max_message(const struct mc_client *c)
{
    return c->server_max;
}

/* 1..64 of A-Z a-z 0-9 . _ -; a plain loop, as it runs per message. */
static int valid_id_len(const char *s, size_t *len)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char ch = (unsigned char)s[n];
        if (n == MC_MAX_ID ||
            !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    *len = n;
    return n > 0;
}

static int valid_id(const char *s)
{
    size_t n;
    return valid_id_len(s, &n);
}

struct mc_client *mc_new(size_t max_message)
{
    struct mc_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->fd = -1;
    c->idle = -1;
    c->max_message = max_message ? max_message : DEFAULT_MAX_MESSAGE;
    return c;
}

static void free_stash(struct stash *s)
{
    if (s) {
        free(s->blob);
        free(s->nodes);
        free(s);
    }
}

/* Wipes the unsent secrets, if any (closing, or written at last). */
static void wipe_secret(struct mc_client *c)
{
    if (c->sec_hi > c->sec_lo)
        explicit_bzero(c->out + c->sec_lo, c->sec_hi - c->sec_lo);
    c->sec_lo = c->sec_hi = 0;
}

static void drop_connection(struct mc_client *c)
{
    mct_free(c->tls);
    c->tls = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->read_wants_write = c->write_wants_read = 0;
    wipe_secret(c);
}

/* A live session: the connection may be gone, but it comes back. */
static int sess_live(const struct mc_client *c)
{
    return c->s.state != SS_OFF;
}

static void sess_forget_secret(struct sess *s)
{
    if (s->secret) {
        explicit_bzero(s->secret, strlen(s->secret));
        free(s->secret);
    }
    free(s->user);
    s->secret = s->user = NULL;
}

/* Ends the session (QUIT, kick, replace, refused resume, mc_close):
 * what the journal holds will never be sent. */
static void sess_end(struct mc_client *c)
{
    c->s.state = SS_OFF;
    c->s.token[0] = '\0';
    c->s.pend_lost = c->s.pend_resumed = 0;
    mcj_free(&c->s.j);
}

void mc_free(struct mc_client *c)
{
    if (c == NULL)
        return;
    drop_connection(c);
    sess_end(c);
    sess_forget_secret(&c->s);
    free(c->s.host);
    free(c->s.port);
    mc_tls_free(c->s.tls);
    while (c->stash) {
        struct stash *s = c->stash;
        c->stash = s->next;
        free_stash(s);
    }
    free_stash(c->handed);
    free(c->out);
    free(c->in);
    free(c->nodes);
    free(c->nodes_buf);
    free(c);
}

/* Forgets everything about the previous connection. */
static void reset(struct mc_client *c)
{
    while (c->stash) {
        struct stash *s = c->stash;
        c->stash = s->next;
        free_stash(s);
    }
    c->stash_tail = NULL;
    free_stash(c->handed);
    c->handed = NULL;
    wipe_secret(c);
    c->out_off = c->out_len = c->in_off = c->in_len = 0;
    c->eof = c->broken = c->closed_reported = 0;
    c->auth_pending = 0;
    c->idle = -1;
    c->server_max = 0;
    c->err[0] = '\0';
}

void mc_close(struct mc_client *c)
{
    sess_end(c);
    drop_connection(c);
    c->eof = 1;
}

int mc_fd(const struct mc_client *c)
{
    return c->fd;
}

const char *mc_error(const struct mc_client *c)
{
    return c->err;
}

double mc_server_idle(const struct mc_client *c)
{
    return c->idle;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline (-1: none), for poll. */
static int left_ms(long deadline)
{
    if (deadline < 0)
        return -1;
    long left = deadline - now_ms();
    return left > 0 ? (int)left : 0;
}

/* A connected non-blocking TCP socket to host:port, or -1 (c->err). */
static int tcp_connect(struct mc_client *c, const char *host, const char *port,
                       long deadline)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
    int rc = getaddrinfo(host, port, &hints, &res), e = 0;

    if (rc != 0)
        return fail(c, "cannot connect to %s:%s: %s", host, port,
                    gai_strerror(rc));
    for (ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family,
                        ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
            errno != EINPROGRESS) {
            e = errno;
            close(fd);
            continue;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        socklen_t len = sizeof e;
        if (poll(&p, 1, left_ms(deadline)) != 1) {
            e = ETIMEDOUT;
            close(fd);
            continue;
        }
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len);
        if (e != 0) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        freeaddrinfo(res);
        return fd;
    }
    freeaddrinfo(res);
    return fail(c, "cannot connect to %s:%s: %s", host, port,
                strerror(e ? e : ECONNREFUSED));
}

/* Where the client connected, for a session's reconnects. */
static int remember(struct mc_client *c, const char *host, const char *port,
                    struct mc_tls *t)
{
    char *h = strdup(host), *p = strdup(port);
    if (h == NULL || p == NULL) {
        free(h);
        free(p);
        return fail(c, "out of memory");
    }
    free(c->s.host);
    free(c->s.port);
    c->s.host = h;
    c->s.port = p;
    mc_tls_free(c->s.tls);
    c->s.tls = mct_hold(t);
    sess_end(c); /* a connection of the caller's own starts afresh */
    return 0;
}

int mc_connect(struct mc_client *c, const char *host, const char *port,
               int timeout_ms)
{
    long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    int fd = tcp_connect(c, host, port, deadline);
    if (fd < 0)
        return -1;
    if (remember(c, host, port, NULL) < 0) {
        close(fd);
        return -1;
    }
    drop_connection(c);
    reset(c);
    c->fd = fd;
    return 0;
}

int mc_connect_tls(struct mc_client *c, const char *host, const char *port,
                   struct mc_tls *t, int timeout_ms)
{
    char hostport[300];
    if (t == NULL || !mc_tls_available())
        return fail(c, "TLS not built in (msgd was configured without "
                       "OpenSSL)");
    long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    int fd = tcp_connect(c, host, port, deadline);
    if (fd < 0)
        return -1;
    snprintf(hostport, sizeof hostport, "%s%s%s:%s",
             strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
             port);
    struct mct_conn *tc = mct_connect(t, fd, host, hostport,
                                      deadline < 0 ? -1 : left_ms(deadline),
                                      c->err, sizeof c->err);
    if (tc == NULL || remember(c, host, port, t) < 0) {
        mct_free(tc);
        close(fd);
        return -1;
    }
    drop_connection(c);
    reset(c);
    c->fd = fd;
    c->tls = tc;
    return 0;
}

int mc_pending(const struct mc_client *c)
{
    size_t n = c->tls ? mct_pending(c->tls) : 0;
    return n > 0x7fffffff ? 0x7fffffff : (int)n;
}

/* ---- output ---- */

static int reserve_out(struct mc_client *c, size_t n)
{
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + n <= c->out_cap)
        return 0;
    if (c->out_off > 0) { /* make room at the front first */
        size_t old_len = c->out_len;
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        if (c->sec_hi) { /* the moved secret leaves no copy behind */
            c->sec_lo -= c->out_off;
            c->sec_hi -= c->out_off;
            explicit_bzero(c->out + c->out_len, old_len - c->out_len);
        }
        c->out_off = 0;
        if (c->out_len + n <= c->out_cap)
            return 0;
    }
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + n)
        cap *= 2;
    char *p;
    if (c->sec_hi) { /* realloc would free a copy of the secret unwiped */
        if ((p = malloc(cap)) == NULL)
            return fail(c, "out of memory");
        memcpy(p, c->out, c->out_len);
        explicit_bzero(c->out, c->out_cap);
        free(c->out);
        memset(p + c->out_len, 0, cap - c->out_len);
    } else if ((p = realloc(c->out, cap)) != NULL) {
        /* Defined bytes throughout: the tests search it for secrets. */
        memset(p + c->out_cap, 0, cap - c->out_cap);
    } else {
        return fail(c, "out of memory");
    }
    c->out = p;
    c->out_cap = cap;
    return 0;
}

/* Queues a command line without payload (printf). */
/* In a session, a SEND/BCAST (num > 0) or a query (num 0) just put at
 * out[start, out_len) goes into the journal, and stays only there while
 * the connection is down or resuming. */
static int journal(struct mc_client *c, uint64_t num, size_t start)
{
    if (mcj_add(&c->s.j, num, c->out + start, c->out_len - start) < 0) {
        c->out_len = start;
        return fail(c, "out of memory");
    }
    if (c->s.state != SS_UP)
        c->out_len = start;
    return 0;
}

/* Queues a command line without payload (printf); query: a PING or WHO,
 * journaled in a session. */
static int queue(struct mc_client *c, int query, const char *fmt, ...)
{
    char hdr[1100]; /* a header line is at most 1024 bytes */
    va_list ap;
    int journaled = query && sess_live(c);
    if ((c->fd < 0 || c->eof) && !journaled)
        return fail(c, "not connected");
    va_start(ap, fmt);
    int h = vsnprintf(hdr, sizeof hdr, fmt, ap);
    va_end(ap);
    if (h < 0 || (size_t)h >= sizeof hdr)
        return fail(c, "command too long");
    if (reserve_out(c, (size_t)h) < 0)
        return -1;
    size_t start = c->out_len;
    memcpy(c->out + c->out_len, hdr, (size_t)h);
    c->out_len += (size_t)h;
    return journaled ? journal(c, 0, start) : 0;
}

int mc_hello(struct mc_client *c, const char *id)
{
    if (id == NULL || !valid_id(id))
        return fail(c, "invalid node id");
    if (c->s.enabled && !sess_live(c)) {
        if (queue(c, 0, "HELLO %s session\n", id) < 0)
            return -1;
        snprintf(c->s.id, sizeof c->s.id, "%s", id);
        c->s.state = SS_UP;
        c->s.token[0] = '\0';
        c->s.delivered = c->s.acked = c->s.sent = c->s.trim_at = 0;
        c->s.ack_due = -1;
        return 0;
    }
    return queue(c, 0, "HELLO %s\n", id);
}

/* "VERB[ to] len" LF, payload, LF, straight into the output buffer: the
 * per-message path, so no printf. */
static int queue_frame(struct mc_client *c, const char *verb, size_t vlen,
                       const char *to, size_t tlen, const void *data,
                       size_t len)
{
    char digits[24];
    size_t nd = 0;
    if ((c->fd < 0 || c->eof) && !sess_live(c))
        return fail(c, "not connected");
    if (len > c->max_message)
        return fail(c, "payload of %zu bytes is larger than %zu", len,
                    c->max_message);
    size_t v = len;
    do {
        digits[sizeof digits - 1 - nd++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    size_t total = vlen + (tlen ? tlen + 1 : 0) + 1 + nd + 1 + len + 1;
    if (reserve_out(c, total) < 0)
        return -1;
    char *p = c->out + c->out_len;
    memcpy(p, verb, vlen);
    p += vlen;
    if (tlen) {
        memcpy(p, to, tlen);
        p += tlen;
        *p++ = ' ';
    }
    memcpy(p, digits + sizeof digits - nd, nd);
    p += nd;
    *p++ = '\n';
    if (len)
        memcpy(p, data, len);
    p += len;
    *p++ = '\n';
    size_t start = c->out_len;
    c->out_len = (size_t)(p - c->out);
    if (!sess_live(c))
        return 0;
    if (journal(c, ++c->s.sent, start) < 0) {
        c->s.sent--;
        return -1;
    }
    /* A PING now and then: its PONG confirms what came before, which
     * the journal can then let go of. */
    if (c->s.state == SS_UP && c->s.sent - c->s.trim_at >= SESSION_TRIM_EVERY) {
        c->s.trim_at = c->s.sent;
        queue(c, 1, "PING " SESSION_PING "%llu\n",
              (unsigned long long)c->s.sent);
    }
    return 0;
}

int mc_send(struct mc_client *c, const char *to, const void *data, size_t len)
{
    size_t tlen;
    if (to == NULL || !valid_id_len(to, &tlen))
        return fail(c, "invalid node id");
    return queue_frame(c, "SEND ", 5, to, tlen, data, len);
}

int mc_bcast(struct mc_client *c, const void *data, size_t len)
{
    return queue_frame(c, "BCAST ", 6, NULL, 0, data, len);
}

int mc_who(struct mc_client *c)
{
    return queue(c, 1, "WHO\n");
}

int mc_ping(struct mc_client *c, const char *token)
{
    if (token == NULL || *token == '\0')
        return queue(c, 1, "PING\n");
    /* What the server would refuse: a space, or a control byte. */
    size_t n = 0;
    while (token[n] && token[n] != ' ' && (unsigned char)token[n] >= 0x20 &&
           token[n] != 0x7f)
        n++;
    if (n > 1000 || token[n] != '\0')
        return fail(c, "a PING token is one word");
    return queue(c, 1, "PING %s\n", token);
}

int mc_quit(struct mc_client *c)
{
    if (c->s.state == SS_DOWN)
        return fail(c, "not connected (reconnecting)");
    sess_end(c); /* QUIT ends a session at once */
    return queue(c, 0, "QUIT\n");
}

/* "AUTH user secret" LF, put straight into the output buffer (no copy on
 * the stack), with the secret's place noted for wipe_secret. */
static int queue_auth(struct mc_client *c, const char *user,
                      const char *secret);

int mc_auth(struct mc_client *c, const char *user, const char *secret)
{
    if (queue_auth(c, user, secret) < 0)
        return -1;
    if (c->s.enabled) { /* kept for the re-login after a reconnect */
        sess_forget_secret(&c->s);
        if ((c->s.user = strdup(user)) == NULL ||
            (c->s.secret = strdup(secret)) == NULL) {
            sess_forget_secret(&c->s);
            return fail(c, "out of memory");
        }
    }
    return 0;
}

static int queue_auth(struct mc_client *c, const char *user,
                      const char *secret)
{
    if (user == NULL || !valid_id(user))
        return fail(c, "invalid user name");
    size_t ulen = strlen(user), slen = secret ? strcspn(secret, "\r\n") : 0;
    if (slen == 0 || secret[slen] != '\0')
        return fail(c, "a secret is one line, not empty");
    if (5 + ulen + 1 + slen + 1 > 1024)
        return fail(c, "secret too long");
    if (c->fd < 0 || c->eof)
        return fail(c, "not connected");
    if (reserve_out(c, 5 + ulen + 1 + slen + 1) < 0)
        return -1;
    char *p = c->out + c->out_len;
    memcpy(p, "AUTH ", 5);
    memcpy(p + 5, user, ulen);
    p[5 + ulen] = ' ';
    size_t at = c->out_len + 5 + ulen + 1;
    memcpy(c->out + at, secret, slen);
    c->out[at + slen] = '\n';
    c->out_len = at + slen + 1;
    if (c->sec_hi == 0)
        c->sec_lo = at;
    c->sec_hi = at + slen;
    c->auth_pending++;
    return 0;
}

int mc_want_write(const struct mc_client *c)
{
    if (c->read_wants_write)
        return 1;
    return c->out_len > c->out_off && !c->write_wants_read;
}

/* One write of what is queued: >0 bytes, 0 not now, -1 failed. */
static long write_some(struct mc_client *c)
{
    size_t len = c->out_len - c->out_off;
    if (c->tls) {
        c->write_wants_read = 0;
        long n =
            mct_write(c->tls, c->out + c->out_off, len, c->err, sizeof c->err);
        if (n == MCT_WANT_READ)
            c->write_wants_read = 1;
        if (n == MCT_WANT_READ || n == MCT_WANT_WRITE)
            return 0;
        return n > 0 ? n : -1;
    }
    for (;;) {
        ssize_t n = send(c->fd, c->out + c->out_off, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return fail(c, "write: %s", strerror(errno));
    }
}

int mc_flush(struct mc_client *c)
{
    if (c->fd < 0)
        return sess_live(c) ? 0 : -1;
    if (c->read_wants_write) /* a TLS read waits for this */
        mc_read(c);
    while (c->out_len > c->out_off) {
        long n = write_some(c);
        if (n < 0) {
            c->eof = 1;
            return -1;
        }
        if (n == 0)
            return 1;
        c->out_off += (size_t)n;
        if (c->sec_hi && c->out_off >= c->sec_hi)
            wipe_secret(c); /* written: no longer needed */
    }
    c->out_off = c->out_len = 0;
    return 0;
}

/* ---- input ---- */

/* mc_read over TLS: one record from the socket, then whatever OpenSSL has
 * decrypted already while there is room (poll would not announce it). */
static int read_tls(struct mc_client *c)
{
    size_t got = 0;
    c->read_wants_write = c->write_wants_read = 0;
    for (;;) {
        long n = mct_read(c->tls, c->in + c->in_len, c->in_cap - c->in_len,
                          c->err, sizeof c->err);
        if (n > 0) {
            c->in_len += (size_t)n;
            got += (size_t)n;
            if (c->in_len < c->in_cap && mct_pending(c->tls) > 0)
                continue;
            return (int)(got > 0x7fffffff ? 0x7fffffff : got);
        }
        if (n == MCT_WANT_READ || n == MCT_WANT_WRITE) {
            c->read_wants_write = n == MCT_WANT_WRITE;
            return (int)(got > 0x7fffffff ? 0x7fffffff : got);
        }
        if (got > 0) /* the end is seen again at the next call */
            return (int)(got > 0x7fffffff ? 0x7fffffff : got);
        c->eof = 1;
        return -1;
    }
}

int mc_read(struct mc_client *c)
{
    if (c->eof || c->fd < 0)
        return c->fd < 0 && sess_live(c) ? 0 : -1;
    if (c->in_off > 0) { /* drop what was consumed */
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    if (c->in_len >= MAX_UNHANDLED(c))
        return 0; /* drain events first */
    if (c->in_cap - c->in_len < READ_CHUNK / 4) {
        size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK;
        char *p = realloc(c->in, cap);
        if (p == NULL) {
            c->eof = 1;
            return fail(c, "out of memory");
        }
        c->in = p;
        c->in_cap = cap;
    }
    if (c->tls)
        return read_tls(c);
    for (;;) {
        ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n > 0) {
            c->in_len += (size_t)n;
            return (int)(n > 0x7fffffff ? 0x7fffffff : n);
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        c->eof = 1;
        if (n < 0)
            fail(c, "read: %s", strerror(errno));
        else
            fail(c, "the server closed the connection");
        return -1;
    }
}

/* Splits the line at p into c->line with up to max tokens; the last token
 * takes the rest of the line (a BYE text, an ERR detail). */
static int tokenize(struct mc_client *c, const char *p, size_t len, char **tok,
                    int max)
{
    if (len > 0 && p[len - 1] == '\r')
        len--;
    memcpy(c->line, p, len);
    c->line[len] = '\0';
    int n = 0;
    char *s = c->line;
    while (n < max) {
        tok[n++] = s;
        if (n == max)
            break;
        char *sp = strchr(s, ' ');
        if (sp == NULL)
            break;
        *sp = '\0';
        s = sp + 1;
    }
    return n;
}

static int parse_size(const char *s, size_t *out)
{
    size_t v = 0;
    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (SIZE_MAX - 9) / 10)
            return -1;
        v = v * 10 + (size_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* A decimal up to a space or the end. */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return *s == '\0' || *s == ' ' ? 0 : -1;
}

static int protocol_error(struct mc_client *c, const char *what)
{
    fail(c, "protocol error from the server: %s", what);
    c->eof = c->broken = 1;
    return -1;
}

/* "300", "0.5": the number after idle=, read without the locale. */
static double parse_seconds(const char *s)
{
    double v = 0, scale = 1;
    int frac = 0;
    for (; *s && *s != ' '; s++) {
        if (*s == '.' && !frac) {
            frac = 1;
        } else if (*s >= '0' && *s <= '9') {
            if (frac)
                v += (scale /= 10) * (*s - '0');
            else
                v = v * 10 + (*s - '0');
        } else {
            return -1;
        }
    }
    return v;
}

/* A NODES block is handed out only once all its NODE lines are here. */
static int parse_nodes(struct mc_client *c, const char *start, size_t avail,
                       size_t hdr, size_t count, struct mc_event *ev)
{
    size_t off = hdr, bytes = 0;
    for (size_t i = 0; i < count; i++) {
        const char *lf = memchr(start + off, '\n', avail - off);
        if (lf == NULL)
            return avail - off > MAX_LINE ? protocol_error(c, "long NODE") : 0;
        size_t len = (size_t)(lf - (start + off));
        if (len < 6 || memcmp(start + off, "NODE ", 5) != 0)
            return protocol_error(c, "NODES without its NODE lines");
        bytes += len - 5 + 1;
        off += len + 1;
    }
    if (count > c->nodes_cap) {
        const char **n = realloc(c->nodes, count * sizeof *n);
        if (n == NULL)
            return fail(c, "out of memory");
        c->nodes = n;
        c->nodes_cap = count;
    }
    if (bytes > c->nodes_buf_cap) {
        char *b = realloc(c->nodes_buf, bytes);
        if (b == NULL)
            return fail(c, "out of memory");
        c->nodes_buf = b;
        c->nodes_buf_cap = bytes;
    }
    char *dst = c->nodes_buf;
    off = hdr;
    for (size_t i = 0; i < count; i++) {
        const char *lf = memchr(start + off, '\n', avail - off);
        size_t len = (size_t)(lf - (start + off)) - 5;
        if (len && start[off + 5 + len - 1] == '\r')
            len--;
        memcpy(dst, start + off + 5, len);
        dst[len] = '\0';
        c->nodes[i] = dst;
        dst += len + 1;
        off = (size_t)(lf - start) + 1;
    }
    ev->type = MC_EV_NODES;
    ev->nodes = c->nodes;
    ev->nnodes = count;
    c->in_off += off;
    return 1;
}

/* A MSG line and its payload at start, hdr bytes of header with the LF
 * (avail in all): the per-message path, split in place, copying only the
 * two ids.  1 (an event), 0 (incomplete), -1. */
static int parse_msg(struct mc_client *c, const char *start, size_t avail,
                     size_t hdr, struct mc_event *ev)
{
    const char *from = start + 4, *end = start + hdr - 1;
    if (end > from && end[-1] == '\r')
        end--;
    const char *sp1 = memchr(from, ' ', (size_t)(end - from));
    const char *to = sp1 ? sp1 + 1 : NULL;
    const char *sp2 = to ? memchr(to, ' ', (size_t)(end - to)) : NULL;
    size_t flen = sp1 ? (size_t)(sp1 - from) : 0;
    size_t tlen = sp2 ? (size_t)(sp2 - to) : 0;
    size_t n = 0;
    uint64_t seq = 0;
    const char *d = sp2 ? sp2 + 1 : end;
    if (sp2 == NULL || flen == 0 || flen > MC_MAX_ID || tlen == 0 ||
        tlen > MC_MAX_ID || d == end)
        return protocol_error(c, "malformed MSG");
    for (; d < end && *d != ' '; d++) {
        if (*d < '0' || *d > '9' || n > (SIZE_MAX - 9) / 10)
            return protocol_error(c, "malformed MSG");
        n = n * 10 + (size_t)(*d - '0');
    }
    if (d < end) { /* a session's sequence number */
        if (++d == end)
            return protocol_error(c, "malformed MSG");
        for (; d < end; d++) {
            if (*d < '0' || *d > '9' || seq > (UINT64_MAX - 9) / 10)
                return protocol_error(c, "malformed MSG");
            seq = seq * 10 + (uint64_t)(*d - '0');
        }
    }
    if (n > c->max_message)
        return protocol_error(c, "message larger than max_message");
    if (avail < hdr + n + 1)
        return 0;
    size_t fin = hdr + n;
    if (start[fin] == '\r') {
        if (avail < fin + 2)
            return 0;
        fin++;
    }
    if (start[fin] != '\n')
        return protocol_error(c, "payload not followed by LF");
    if (seq > 0 && sess_live(c) && !sess_deliver(c, seq)) {
        c->in_off += fin + 1; /* handed out before a reconnect */
        return 2;
    }
    memcpy(c->line, from, flen);
    c->line[flen] = '\0';
    memcpy(c->line + flen + 1, to, tlen);
    c->line[flen + 1 + tlen] = '\0';
    ev->type = MC_EV_MSG;
    ev->from = c->line;
    ev->to = c->line + flen + 1;
    ev->broadcast = tlen == 1 && *to == '*';
    ev->data = start + hdr;
    ev->len = n;
    c->in_off += fin + 1;
    return 1;
}

/* Parses one line or frame from the input buffer: 1 (an event), 2 (a
 * line to ignore), 0 (incomplete), -1. */
static int parse_one(struct mc_client *c, struct mc_event *ev)
{
    const char *start = c->in + c->in_off;
    size_t avail = c->in_len - c->in_off;
    char *tok[4] = {NULL};

    memset(ev, 0, sizeof *ev);
    ev->detail = "";
    ev->idle = -1;
    if (avail == 0)
        return 0;
    const char *lf = memchr(start, '\n', avail < MAX_LINE ? avail : MAX_LINE);
    if (lf == NULL)
        return avail >= MAX_LINE ? protocol_error(c, "line too long") : 0;
    size_t hdr = (size_t)(lf - start) + 1;
    size_t len = hdr - 1;

    if (len >= 4 && memcmp(start, "MSG ", 4) == 0)
        return parse_msg(c, start, avail, hdr, ev);
    if (len >= 6 && memcmp(start, "NODES ", 6) == 0) {
        size_t count;
        if (tokenize(c, start, len, tok, 2) != 2 ||
            parse_size(tok[1], &count) < 0)
            return protocol_error(c, "malformed NODES");
        int rc = parse_nodes(c, start, avail, hdr, count, ev);
        if (rc == 1 && sess_live(c))
            mcj_answer(&c->s.j);
        return rc;
    }
    if (len >= 4 && memcmp(start, "PONG", 4) == 0 &&
        (len == 4 || start[4] == ' ' || start[4] == '\r')) {
        /* The token is everything after "PONG ", byte for byte. */
        tokenize(c, start, len, tok, 1);
        ev->type = MC_EV_PONG;
        ev->data = c->line[4] == ' ' ? c->line + 5 : "";
        ev->len = strlen(ev->data);
        c->in_off += hdr;
        return sess_live(c) ? sess_pong(c, ev->data) : 1;
    }
    int n = tokenize(c, start, len, tok, 3);
    if (strcmp(tok[0], "OK") == 0 && n == 3 && c->auth_pending > 0 &&
        strcmp(tok[1], "auth") == 0 && valid_id(tok[2])) {
        /* "OK auth NAME" answers an AUTH; HELLO's OK for a node called
         * auth has key=value tokens, which no user name has. */
        c->auth_pending--;
        ev->type = MC_EV_AUTH;
        ev->id = tok[2];
        if (c->s.hide_auth) { /* the re-login after a reconnect */
            c->s.hide_auth = 0;
            c->in_off += hdr;
            return 2;
        }
    } else if (strcmp(tok[0], "OK") == 0 && n >= 2) {
        struct ok_info ok = {NULL, 0, 0, 0};
        ev->type = MC_EV_OK;
        ev->id = tok[1];
        /* Extra tokens are key=value; idle= is the one we know. */
        for (char *p = n == 3 ? tok[2] : NULL; p && *p;) {
            char *sp = strchr(p, ' ');
            if (sp)
                *sp = '\0';
            if (strncmp(p, "idle=", 5) == 0)
                ev->idle = c->idle = parse_seconds(p + 5);
            else if (strncmp(p, "max=", 4) == 0)
                c->server_max = (long long)parse_seconds(p + 4);
            else if (strncmp(p, "session=", 8) == 0)
                ok.token = p + 8;
            else if (strncmp(p, "lost=", 5) == 0)
                parse_u64(p + 5, &ok.lost);
            else if (strncmp(p, "in=", 3) == 0)
                ok.has_in = parse_u64(p + 3, &ok.in) == 0;
            p = sp ? sp + 1 : NULL;
        }
        c->in_off += hdr;
        return sess_live(c) ? sess_ok(c, &ok, ev) : 1;
    } else if (strcmp(tok[0], "ERR") == 0 && n >= 2) {
        if (c->auth_pending > 0 && strcmp(tok[1], "auth-failed") == 0)
            c->auth_pending--;
        ev->type = MC_EV_ERR;
        ev->code = tok[1];
        ev->detail = n == 3 ? tok[2] : "";
        if (c->s.state == SS_RESUMING) {
            /* The re-login or the resume refused: the session is over,
             * and so is this connection, which is not registered. */
            c->s.hide_auth = 0;
            sess_end(c);
            drop_connection(c);
            c->eof = 1;
            fail(c, "resume refused: %s", ev->code);
        }
    } else if (strcmp(tok[0], "BYE") == 0 && n >= 2) {
        ev->type = MC_EV_BYE;
        ev->code = tok[1];
        ev->detail = n == 3 ? tok[2] : "";
        if (sess_live(c)) {
            c->in_off += hdr;
            return sess_bye(c, ev);
        }
    } else {
        /* A verb of a later server: skipped, as msgd-protocol(7) asks. */
        c->in_off += hdr;
        return 2;
    }
    c->in_off += hdr;
    return 1;
}

/* Parses one event from the input buffer: 1, 0 (incomplete), -1. */
static int parse_event(struct mc_client *c, struct mc_event *ev)
{
    int rc;
    while ((rc = parse_one(c, ev)) == 2)
        ;
    return rc;
}

/* Copies ev and its strings so that it outlives the input buffer. */
static int stash_event(struct mc_client *c, const struct mc_event *ev)
{
    struct stash *s = calloc(1, sizeof *s);
    size_t need = 0;
    const char *strs[5] = {ev->id, ev->from, ev->to, ev->code, ev->detail};
    for (int i = 0; i < 5; i++)
        need += strs[i] ? strlen(strs[i]) + 1 : 0;
    need += ev->len + 1;
    for (size_t i = 0; i < ev->nnodes; i++)
        need += strlen(ev->nodes[i]) + 1;
    if (s == NULL || (s->blob = malloc(need)) == NULL ||
        (ev->nnodes &&
         (s->nodes = malloc(ev->nnodes * sizeof *s->nodes)) == NULL)) {
        free_stash(s);
        return fail(c, "out of memory");
    }
    s->ev = *ev;
    char *p = s->blob;
    const char **dst[5] = {&s->ev.id, &s->ev.from, &s->ev.to, &s->ev.code,
                           &s->ev.detail};
    for (int i = 0; i < 5; i++) {
        if (strs[i] == NULL)
            continue;
        size_t n = strlen(strs[i]) + 1;
        memcpy(p, strs[i], n);
        *dst[i] = p;
        p += n;
    }
    if (ev->len)
        memcpy(p, ev->data, ev->len);
    p[ev->len] = '\0';
    s->ev.data = p;
    p += ev->len + 1;
    for (size_t i = 0; i < ev->nnodes; i++) {
        size_t n = strlen(ev->nodes[i]) + 1;
        memcpy(p, ev->nodes[i], n);
        s->nodes[i] = p;
        p += n;
    }
    s->ev.nodes = s->nodes;
    if (c->stash_tail)
        c->stash_tail->next = s;
    else
        c->stash = s;
    c->stash_tail = s;
    return 0;
}

/* The next event from the socket's data, ignoring the stash. */
static int next_raw(struct mc_client *c, struct mc_event *ev)
{
    if (sess_made_up(c, ev))
        return 1;
    int rc = c->broken ? 0 : parse_event(c, ev);
    if (rc != 0)
        return rc;
    if (c->eof && sess_live(c))
        return sess_went_down(c, ev);
    if (c->eof && !c->closed_reported) {
        c->closed_reported = 1;
        memset(ev, 0, sizeof *ev);
        ev->type = MC_EV_CLOSED;
        ev->detail = c->err;
        ev->idle = -1;
        return 1;
    }
    return 0;
}

int mc_next_event(struct mc_client *c, struct mc_event *ev)
{
    free_stash(c->handed);
    c->handed = NULL;
    if (c->stash) {
        struct stash *s = c->stash;
        c->stash = s->next;
        if (c->stash == NULL)
            c->stash_tail = NULL;
        *ev = s->ev;
        c->handed = s;
        return 1;
    }
    return next_raw(c, ev);
}

/* Waits for the socket (writable while output is queued, readable),
 * flushing and reading; 1 progress, 0 timeout, -1 error. */
static int pump(struct mc_client *c, long deadline)
{
    int wait = left_ms(deadline);
    if (sess_live(c)) { /* an ACK due, or a reconnect */
        int t = mc_session_tick(c);
        if (t >= 0 && (wait < 0 || t < wait))
            wait = t;
        if (c->fd < 0) { /* down: sleep until the next attempt */
            if (wait > 0)
                poll(NULL, 0, wait);
            mc_session_tick(c);
            return c->fd < 0 && left_ms(deadline) == 0 ? 0 : 1;
        }
    }
    if (mc_want_write(c) && mc_flush(c) < 0) {
        c->eof = 1;
        return -1;
    }
    struct pollfd p = {.fd = c->fd,
                       .events = POLLIN | (mc_want_write(c) ? POLLOUT : 0)};
    int r = poll(&p, 1, wait);
    if (r < 0 && errno != EINTR)
        return fail(c, "poll: %s", strerror(errno));
    if (r <= 0)
        return 0;
    if (p.revents & POLLOUT && mc_flush(c) < 0) {
        c->eof = 1;
        return -1;
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR))
        mc_read(c);
    return 1;
}

int mc_wait_event(struct mc_client *c, struct mc_event *ev, int timeout_ms)
{
    long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    for (;;) {
        int rc = mc_next_event(c, ev);
        if (rc != 0)
            return rc;
        if (c->closed_reported)
            return fail(c, "connection closed");
        if (c->fd < 0 && !sess_live(c))
            return fail(c, "not connected");
        if (pump(c, deadline) == 0 && left_ms(deadline) == 0)
            return 0;
    }
}

/* Runs raw events until want(ev) says stop: 1 found, -1 error/timeout.
 * Everything else is stashed, in order. */
static int wait_for(struct mc_client *c,
                    int (*want)(struct mc_client *, const struct mc_event *,
                                void *),
                    void *arg, struct mc_event *ev, int timeout_ms)
{
    long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    for (;;) {
        int rc = next_raw(c, ev);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            if (ev->type == MC_EV_CLOSED) {
                c->closed_reported = 0; /* let the caller see it too */
                return -1;              /* c->err says why */
            }
            if (want(c, ev, arg))
                return 1;
            if (stash_event(c, ev) < 0)
                return -1;
            continue;
        }
        if (pump(c, deadline) == 0 && left_ms(deadline) == 0)
            return fail(c, "timed out");
    }
}

static int want_hello_reply(struct mc_client *c, const struct mc_event *ev,
                            void *arg)
{
    (void)c;
    (void)arg;
    return ev->type == MC_EV_OK || ev->type == MC_EV_ERR ||
           ev->type == MC_EV_BYE;
}

int mc_register(struct mc_client *c, const char *id, const char **code,
                int timeout_ms)
{
    struct mc_event ev;
    if (id == NULL || !valid_id(id)) { /* what the server would say */
        snprintf(c->code, sizeof c->code, "bad-id");
        if (code)
            *code = c->code;
        fail(c, "HELLO refused: bad-id");
        return 1;
    }
    if (mc_hello(c, id) < 0)
        return -1;
    if (wait_for(c, want_hello_reply, NULL, &ev, timeout_ms) < 0)
        return -1;
    if (ev.type == MC_EV_OK)
        return 0;
    snprintf(c->code, sizeof c->code, "%s", ev.code);
    if (code)
        *code = c->code;
    if (ev.type == MC_EV_BYE) {
        stash_event(c, &ev);
        return fail(c, "disconnected: %s", c->code);
    }
    fail(c, "HELLO refused: %s", c->code);
    return 1;
}

static int want_auth_reply(struct mc_client *c, const struct mc_event *ev,
                           void *arg)
{
    (void)c;
    (void)arg;
    return ev->type == MC_EV_AUTH || ev->type == MC_EV_ERR ||
           ev->type == MC_EV_BYE;
}

int mc_login(struct mc_client *c, const char *user, const char *secret,
             const char **code, int timeout_ms)
{
    struct mc_event ev;
    if (mc_auth(c, user, secret) < 0)
        return -1;
    if (wait_for(c, want_auth_reply, NULL, &ev, timeout_ms) < 0)
        return -1;
    if (ev.type == MC_EV_AUTH)
        return 0;
    snprintf(c->code, sizeof c->code, "%s", ev.code);
    if (code)
        *code = c->code;
    if (ev.type == MC_EV_BYE) {
        stash_event(c, &ev);
        return fail(c, "disconnected: %s", c->code);
    }
    fail(c, "AUTH refused: %s", c->code);
    return 1;
}

int mcx_test_out_buffer(const struct mc_client *c, const char **buf,
                        size_t *len)
{
    *buf = c->out;
    *len = c->out ? c->out_cap : 0;
    return 0;
}

struct sync_arg {
    char token[32];
    int errors;
};

static int want_pong(struct mc_client *c, const struct mc_event *ev, void *arg)
{
    struct sync_arg *a = arg;
    (void)c;
    if (ev->type == MC_EV_ERR)
        a->errors++;
    return ev->type == MC_EV_PONG && ev->len == strlen(a->token) &&
           memcmp(ev->data, a->token, ev->len) == 0;
}

int mc_sync(struct mc_client *c, int timeout_ms, int *errors)
{
    struct sync_arg a = {.errors = 0};
    struct mc_event ev;
    if (errors)
        *errors = 0;
    snprintf(a.token, sizeof a.token, "mc-sync-%u", ++c->sync_seq);
    if (mc_ping(c, a.token) < 0)
        return -1;
    int rc = wait_for(c, want_pong, &a, &ev, timeout_ms);
    if (errors)
        *errors = a.errors;
    return rc < 0 ? -1 : 0;
}

/* ---- sessions ---- */

int mc_session_enable(struct mc_client *c, const struct mc_session_options *o)
{
    static const struct mc_session_options none = {0};
    struct sess *s = &c->s;
    s->o = o ? *o : none;
    if (s->o.ack_every == 0)
        s->o.ack_every = 32;
    if (s->o.ack_ms == 0)
        s->o.ack_ms = 200;
    if (s->o.reconnect_min_ms <= 0)
        s->o.reconnect_min_ms = 100;
    if (s->o.reconnect_max_ms <= 0)
        s->o.reconnect_max_ms = 5000;
    if (s->o.reconnect_max_ms < s->o.reconnect_min_ms)
        s->o.reconnect_max_ms = s->o.reconnect_min_ms;
    if (s->o.connect_timeout_ms <= 0)
        s->o.connect_timeout_ms = 5000;
    s->backoff = s->o.reconnect_min_ms;
    s->rng = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32) ^
             (uint64_t)(uintptr_t)c;
    s->enabled = 1;
    return 0;
}

int mc_session_active(const struct mc_client *c)
{
    return sess_live(c);
}

void mc_session_stats(const struct mc_client *c, struct mc_session_stats *st)
{
    *st = c->s.st;
}

/* splitmix64: jitter needs no more than that. */
static uint64_t sess_rand(struct sess *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The next attempt in backoff/2 .. backoff ms ("equal jitter": never at
 * once, never all together), and the backoff doubles up to its cap. */
static void sess_schedule(struct mc_client *c)
{
    struct sess *s = &c->s;
    int half = s->backoff / 2;
    s->retry_at = now_ms() + half +
                  (long)(sess_rand(s) % (uint64_t)(s->backoff - half + 1));
    s->backoff = s->backoff > s->o.reconnect_max_ms / 2 ? s->o.reconnect_max_ms
                                                        : s->backoff * 2;
}

static void sess_ack(struct mc_client *c)
{
    struct sess *s = &c->s;
    s->ack_due = -1;
    if (s->delivered > s->acked && s->state == SS_UP &&
        queue(c, 0, "ACK %llu\n", (unsigned long long)s->delivered) == 0)
        s->acked = s->delivered;
}

/* A MSG with its seq: 1 hand it out, 0 a duplicate to hide. */
static int sess_deliver(struct mc_client *c, uint64_t seq)
{
    struct sess *s = &c->s;
    if (seq <= s->delivered) {
        s->st.duplicates++;
        return 0;
    }
    s->delivered = seq;
    if (s->delivered - s->acked >= s->o.ack_every)
        sess_ack(c);
    else if (s->ack_due < 0 && s->o.ack_ms > 0)
        s->ack_due = now_ms() + s->o.ack_ms;
    return 1;
}

/* A PONG answers the oldest PING (or WHO) in the journal; ours also
 * confirms the commands before it and is not handed out.  1 or 2. */
static int sess_pong(struct mc_client *c, const char *token)
{
    uint64_t n;
    mcj_answer(&c->s.j);
    if (strncmp(token, SESSION_PING, sizeof SESSION_PING - 1) != 0 ||
        parse_u64(token + sizeof SESSION_PING - 1, &n) < 0)
        return 1;
    mcj_confirm(&c->s.j, n);
    return 2;
}

static int resend_one(void *arg, const char *bytes, size_t len)
{
    struct mc_client *c = arg;
    if (reserve_out(c, len) < 0)
        return -1;
    memcpy(c->out + c->out_len, bytes, len);
    c->out_len += len;
    c->s.st.resent++;
    return 0;
}

struct renumber {
    struct mcj *to;
    uint64_t sent;
};

/* A SEND/BCAST begins with 'S' or 'B'; the rest are queries. */
static int renumber_one(void *arg, const char *bytes, size_t len)
{
    struct renumber *r = arg;
    uint64_t num = bytes[0] == 'S' || bytes[0] == 'B' ? ++r->sent : 0;
    return mcj_add(r->to, num, bytes, len);
}

/* An OK while a session is live: the first HELLO's, or a resume's.
 * 1 (ev handed out as is or changed), 2 (hidden). */
static int sess_ok(struct mc_client *c, const struct ok_info *ok,
                   struct mc_event *ev)
{
    struct sess *s = &c->s;
    if (s->state == SS_UP) { /* the answer to our first HELLO */
        if (ok->token == NULL) { /* sessions off at the server */
            sess_end(c);
            return 1;
        }
        snprintf(s->token, sizeof s->token, "%s", ok->token);
        if (ok->lost) { /* an earlier session of this id lost some */
            s->pend_lost = 1;
            s->pend_lost_n = (size_t)ok->lost;
            s->st.lost += ok->lost;
        }
        return 1;
    }
    if (s->state != SS_RESUMING)
        return 1;
    s->state = SS_UP;
    s->backoff = s->o.reconnect_min_ms;
    s->ack_due = -1;
    if (ok->token && strcmp(ok->token, s->token) == 0) {
        s->st.resumes++;
        if (ok->has_in)
            mcj_confirm(&s->j, ok->in);
        s->acked = s->delivered; /* the resume's ack= said so */
    } else {
        /* Too late: a new session.  Whatever the old one kept is gone
         * (lost= counts it); the commands not confirmed may or may not
         * have been read, and are sent again, renumbered for the new
         * count. */
        struct mcj fresh;
        struct renumber r = {&fresh, 0};
        mcj_init(&fresh);
        if (mcj_each(&s->j, renumber_one, &r) < 0) {
            mcj_free(&fresh);
            return fail(c, "out of memory");
        }
        mcj_free(&s->j);
        s->j = fresh;
        s->sent = s->trim_at = r.sent;
        s->delivered = s->acked = 0;
        int fresh_start = s->token[0] == '\0'; /* no OK before the drop */
        snprintf(s->token, sizeof s->token, "%s", ok->token ? ok->token : "");
        if (ok->token == NULL)
            sess_end(c); /* the server has turned sessions off since */
        if (!fresh_start) {
            s->st.new_sessions++;
            s->st.lost += ok->lost;
            s->pend_lost = 1;
            s->pend_lost_n = (size_t)ok->lost;
        }
    }
    if (mcj_each(&s->j, resend_one, c) < 0)
        return -1;
    s->pend_resumed = 1;
    return sess_made_up(c, ev) ? 1 : 2;
}

/* A BYE in a session: one that cuts the connection (idle timeout, slow
 * consumer) is hidden, as the library comes back; any other ends the
 * session and is handed out.  1 or 2. */
static int sess_bye(struct mc_client *c, struct mc_event *ev)
{
    static const char *const held[] = {"idle-timeout", "slow-consumer"};
    for (size_t i = 0; i < sizeof held / sizeof held[0]; i++) {
        if (strcmp(ev->code, held[i]) == 0) {
            snprintf(c->s.why, sizeof c->s.why, "the server said %s",
                     ev->code);
            return 2;
        }
    }
    sess_end(c);
    return 1;
}

/* The events the library makes up: LOST, then RESUMED. */
static int sess_made_up(struct mc_client *c, struct mc_event *ev)
{
    struct sess *s = &c->s;
    if (!s->pend_lost && !s->pend_resumed)
        return 0;
    memset(ev, 0, sizeof *ev);
    ev->detail = "";
    ev->idle = -1;
    ev->id = s->id;
    if (s->pend_lost) {
        s->pend_lost = 0;
        ev->type = MC_EV_LOST;
        ev->len = s->pend_lost_n;
    } else {
        s->pend_resumed = 0;
        ev->type = MC_EV_RESUMED;
        ev->idle = c->idle;
    }
    return 1;
}

/* The connection of a live session ended: close it, plan the
 * reconnect, and tell the application once per outage.  1 or 0. */
static int sess_went_down(struct mc_client *c, struct mc_event *ev)
{
    struct sess *s = &c->s;
    if (s->why[0] == '\0')
        snprintf(s->why, sizeof s->why, "%s",
                 c->err[0] ? c->err : "connection lost");
    drop_connection(c);
    c->eof = c->broken = 0;
    c->in_off = c->in_len = c->out_off = c->out_len = 0;
    c->auth_pending = 0;
    s->hide_auth = 0;
    s->state = SS_DOWN;
    s->ack_due = -1;
    sess_schedule(c);
    if (s->down_told)
        return 0;
    s->down_told = 1;
    s->st.disconnects++;
    memset(ev, 0, sizeof *ev);
    ev->type = MC_EV_DISCONNECTED;
    ev->detail = s->why;
    ev->idle = -1;
    return 1;
}

/* One reconnect: connect (and TLS), log in again, and ask to resume. */
static void sess_attempt(struct mc_client *c)
{
    struct sess *s = &c->s;
    long deadline = now_ms() + s->o.connect_timeout_ms;
    struct mct_conn *tc = NULL;
    int fd = tcp_connect(c, s->host, s->port, deadline);
    if (fd >= 0 && s->tls) {
        char hostport[300];
        snprintf(hostport, sizeof hostport, "%s:%s", s->host, s->port);
        tc = mct_connect(s->tls, fd, s->host, hostport, left_ms(deadline),
                         c->err, sizeof c->err);
        if (tc == NULL) {
            close(fd);
            fd = -1;
        }
    }
    if (fd < 0) {
        sess_schedule(c);
        return;
    }
    c->fd = fd;
    c->tls = tc;
    s->state = SS_RESUMING;
    if (s->user && queue_auth(c, s->user, s->secret) == 0)
        s->hide_auth = 1;
    if (s->token[0] == '\0') /* dropped before the first OK */
        queue(c, 0, "HELLO %s session\n", s->id);
    else
        queue(c, 0, "HELLO %s session=%s ack=%llu\n", s->id, s->token,
              (unsigned long long)s->delivered);
    s->why[0] = '\0';
    s->down_told = 0;
    if (mc_flush(c) < 0)
        c->eof = 1; /* seen as down again by the next event call */
}

int mc_session_tick(struct mc_client *c)
{
    struct sess *s = &c->s;
    if (!sess_live(c))
        return -1;
    long now = now_ms();
    if (s->state == SS_DOWN && now >= s->retry_at) {
        sess_attempt(c);
        now = now_ms();
    }
    if (s->ack_due >= 0 && now >= s->ack_due) {
        sess_ack(c);
        mc_flush(c);
    }
    long next = -1;
    if (s->state == SS_DOWN)
        next = s->retry_at - now;
    if (s->ack_due >= 0 && (next < 0 || s->ack_due - now < next))
        next = s->ack_due - now;
    return next < 0 ? -1 : next > 0x7fffffff ? 0x7fffffff : (int)next;
}
