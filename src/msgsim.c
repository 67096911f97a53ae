/* msgsim.c: msgd's simulator and load generator (msgsim(1)).
 *
 * N nodes, one connection each, all driven by one epoll loop in one thread
 * through libmsgclient's non-blocking interface.  Each node registers, then
 * sends M messages following a pattern (ring, random, broadcast).  Every
 * payload carries its sender, a per-sender sequence number, the send time
 * and a checksum, so receivers detect loss, duplication, corruption and
 * reordering; the run ends when every message has arrived, and every node
 * then leaves with QUIT.
 *
 * Flow control: each sender has a window of W slots.  A message holds a
 * slot, whose index travels in the payload, until all its copies have
 * arrived (N-1 of them for a broadcast), so a receipt finds its message in
 * O(1) and the server's queues stay bounded.
 *
 * A node that goes away mid-run takes its pending copies with it: those
 * are counted as lost to the disconnect, apart from real loss.  Copies to
 * it are settled at once (it reads nothing more); copies from it may still
 * be in the server's queues, so they are settled only after a barrier (a
 * PING to every live node, whose PONG comes after anything routed before).
 *
 * Without --connect, msgsim runs its own msgd in the foreground on a
 * loopback port with a throw-away configuration, and stops it at the end.
 * With several --connect addresses (instances of one cluster), node i
 * connects to address i mod N, and traffic starts only once a WHO through
 * each address lists every node: registration reaches the other instances
 * a little after the OK.  ERR cluster-unavailable (the cluster link down or
 * congested) is counted apart from loss; see "ERR cluster-unavailable".
 *
 * Over TLS (tls:// addresses, or --tls for our own msgd, which then gets
 * a throw-away CA and certificate from simcert.c) all nodes share one
 * client context.  With --user (or --auth for our own msgd) each node
 * queues AUTH before HELLO, so logging in overlaps connecting too.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "msgclient.h"
#ifdef HAVE_OPENSSL
#include "simcert.h"
#endif

#ifndef MSGD_SBINDIR
#define MSGD_SBINDIR "/usr/local/sbin"
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

/* Exit statuses (sysexits(3) where one fits). */

/* The payload: fields in host byte order (sender and receiver are both
 * this process), then filler up to --size. */
#define OFF_TAG 0   /* u32 run tag: strays from another run do not match */
#define OFF_SUM 4   /* u32 checksum of every other byte */
#define OFF_FROM 8  /* u32 sender index */
#define OFF_TO 12   /* u32 receiver index, BCAST_TO for a broadcast */
#define OFF_SEQ 16  /* u32 per-sender sequence number, from 1 */
#define OFF_SLOT 20 /* u32 the sender's window slot */
#define OFF_TIME 24 /* u64 send time, CLOCK_MONOTONIC ns */
#define HDR_SIZE 32
#define BCAST_TO UINT32_MAX
#define NO_NODE (UINT32_MAX - 1)

#define MAX_EVENTS 512
#define NS 1000000000ull
#define TICK_NS (NS / 4)      /* progress line and timer checks */
#define STALL_NS (5 * NS)     /* no progress for this long: stalled */
#define QUIT_WAIT_NS (5 * NS) /* for BYE quit from every node */
#define DRAIN_NS (2 * NS)     /* after ^C, for what is in flight */
#define CONNECT_TIMEOUT_MS 5000
#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 15000
#define MAX_NOTICES 10 /* anomalies reported one by one */
#define MAX_LISTED 20  /* disconnected nodes listed in the summary */
#define MAX_NODES 1000000
#define CONVERGE_NS (10 * NS)      /* for every instance to see every node */
#define WHO_RETRY_NS (NS / 50)     /* between WHOs while waiting for that */
#define CLUSTER_SETTLE_NS (1 * NS) /* see sweep() */

enum pattern { PAT_RING, PAT_RANDOM, PAT_BCAST };
static const char *const pattern_names[] = {"ring", "random", "broadcast"};

static struct {
    uint32_t nodes, messages, size, window;
    enum pattern pattern;
    const char *msgd, *id_prefix;
    int connect; /* --connect given: addrs holds them */
    uint64_t seed;
    double timeout_s;
    double duration_s; /* send for this long (0: until M are sent) */
    int timeout_set, messages_set;
    int json, quiet;
    int tls, auth;    /* our own msgd: a tls:// listener, an auth group */
    struct mc_tls_options tls_opt;
    int tls_opts;     /* --ca, --cert or --key given */
    const char *user, *password_file;
    int sessions;  /* --sessions: every node asks for one */
    double chaos;  /* --chaos: connections cut per second */
} opt = {
    .nodes = 10,
    .messages = 1000,
    .size = 64,
    .window = 64,
    .pattern = PAT_RING,
    .timeout_s = 60,
};

enum node_state { NS_HELLO, NS_READY, NS_QUITTING, NS_GONE };

/* One address nodes connect to (a --connect, or our own msgd's). */
struct addr {
    char *text;        /* HOST:PORT as given */
    char *buf;         /* a copy of text, split into host and port */
    char *host, *port; /* in buf */
    int tls;           /* tls://HOST:PORT */
    uint32_t nodes;    /* nodes connected through it */
    uint32_t seen;     /* our nodes in its last WHO */
    uint64_t who_at;   /* the next WHO goes out then */
    uint8_t who_out;   /* a WHO awaits its NODES */
    uint8_t converged; /* a WHO listed every node */
};

/* ERR cluster-unavailable for a sender's SENDs to one receiver (to =
 * BCAST_TO: for its BCASTs) with sequence numbers in (lo, hi], not yet
 * matched with the slots they leave pending.  The ERR names the receiver
 * but not the message; see "ERR cluster-unavailable" below. */
struct refusal {
    uint32_t to;
    uint32_t count;  /* refusals not matched yet */
    uint32_t lo, hi; /* hi: once closed */
    uint32_t epoch;  /* BCAST: the barrier after which local copies are in */
    int closed;      /* the fence PONG is in: count is complete */
};

struct refusals {
    struct refusal *e;
    uint32_t n, cap;
    uint32_t fence;    /* the sender's last sequence number before the fence */
    uint32_t answered; /* the fence of the last PONG */
    int fence_out;     /* the fence PING awaits its PONG */
};

struct slot {
    uint32_t seq;       /* 0: free */
    uint32_t to;        /* receiver index, or BCAST_TO */
    uint32_t remaining; /* copies still to arrive */
};

struct node {
    struct mc_client *mc; /* NULL once closed */
    struct slot *slots;   /* opt.window of them */
    uint32_t *free_slots; /* stack of free slot indices */
    uint32_t nfree;
    uint32_t sent;         /* messages sent, = the last sequence number */
    uint32_t live_pos;     /* index in live[] while registered */
    uint32_t barrier_seen; /* highest barrier PONG received */
    uint32_t settle_at;    /* gone sender: the barrier that settles it */
    uint32_t refused;      /* ERR unknown-node naming this node */
    uint64_t last_cmd;     /* for keep-alive PINGs */
    uint64_t settle_after; /* gone sender: and not before this time */
    struct refusals *cu;   /* ERR cluster-unavailable; NULL until one */
    uint8_t state;
    uint8_t sending;    /* may send more */
    uint8_t queued;     /* in readyq */
    uint8_t dirty;      /* in dirtyq */
    uint8_t out_armed;  /* EPOLLOUT is on */
    uint8_t bye_quit;   /* BYE quit after our QUIT */
    uint8_t in_live;    /* in live[] */
    uint8_t registered; /* got OK */
    uint8_t cu_listed;  /* in culist */
    uint8_t cu_check;   /* its refusals may match now */
    int fd;             /* the descriptor epoll watches (-1: none) */
    char *gone_code;    /* why it went away before we asked it to */
    char *gone_detail;
};

static struct node *nodes;
static char *ids; /* node i's id at ids + i * id_stride */
static size_t id_stride;
static uint32_t *live; /* registered nodes not gone, for random picks */
static uint32_t nlive;
static uint32_t *readyq; /* senders with room in their window */
static uint32_t nready;
static uint32_t *dirtyq; /* nodes with output to flush */
static uint32_t ndirty;
static uint32_t *gone_new; /* gone since the last sweep */
static uint32_t ngone_new;
static uint32_t *unsettled; /* gone senders waiting for a barrier */
static uint32_t nunsettled;
static uint32_t *pair_last; /* last sequence seen per receiver and sender */
static struct addr *addrs;  /* node i connects to addrs[i % naddrs] */
static uint32_t naddrs;
static uint32_t *culist; /* senders with closed refusals to match */
static uint32_t nculist;
static int barrier_moved; /* barrier_min() may have risen */
static unsigned char *txbuf;
static uint32_t run_tag, batch, barrier_epoch, open_conns;
static uint64_t rng_state;
static double server_idle; /* idle_timeout announced at HELLO */
static int epfd = -1;
static struct mc_tls *sim_tls; /* shared by every TLS node */
static char password[1024];    /* --password-file's, or --auth's */
static int show_progress, progress_shown;
static volatile sig_atomic_t interrupted;

enum phase { PH_REGISTER, PH_CONVERGE, PH_TRAFFIC, PH_QUIT, PH_END };
static enum phase phase = PH_REGISTER;

static struct {
    uint64_t sent, expected, delivered, lost, lost_disc, duplicated, corrupt,
        reordered, errors, unsent;
    uint64_t refused;      /* ERR cluster-unavailable to SEND or BCAST */
    uint64_t lost_refused; /* copies that will not come because of those */
    uint32_t registered, disconnected, quit_unclean, notices;
    /* --sessions, --chaos: connections cut (by RST, by FIN, after half a
     * SEND), dropped as the library saw it, resumed, and what it did. */
    uint64_t cuts, cuts_rst, cuts_fin, cuts_mid, drops, resumes,
        new_sessions, reported_lost, resent, dup_hidden;
    uint64_t chaos_next; /* the next cut (0: not planned yet) */
    uint64_t t_begin, t_start, t_last, t_end, t_progress, t_quit, t_drain;
    uint64_t t_converge, t_converged; /* the wait for every instance */
    double cpu_start, cpu_end;
    int timed_out, stalled, aborted;
    int unconverged;   /* an instance never listed every node */
    int duration_done; /* --duration passed: senders stopped, not failed */
    char abort_why[256];
} st;

/* ---- small helpers ---- */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t xrand(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* Uniform in [0, n) without a division. */
static uint32_t xrand_below(uint32_t n)
{
    return (uint32_t)(((xrand() >> 32) * (uint64_t)n) >> 32);
}

static const char *id_of(uint32_t i)
{
    return ids + (size_t)i * id_stride;
}

static uint32_t index_of(const struct node *n)
{
    return (uint32_t)(n - nodes);
}

static void clear_progress(void)
{
    if (progress_shown) {
        fputs("\r\033[K", stderr);
        progress_shown = 0;
    }
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Everything msgsim has to tell on stderr, with its name in front. */
static void say(const char *fmt, ...)
{
    va_list ap;
    clear_progress();
    va_start(ap, fmt);
    vwarnx(fmt, ap);
    va_end(ap);
}

static void anomaly(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line per anomaly for the first few: enough to start debugging
 * without burying the summary. */
static void anomaly(const char *fmt, ...)
{
    va_list ap;
    if (opt.quiet || ++st.notices > MAX_NOTICES)
        return;
    clear_progress();
    fputs("msgsim: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (st.notices == MAX_NOTICES)
        fputs(" (further anomalies are only counted)", stderr);
    fputc('\n', stderr);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL) {
        say("out of memory (%zu x %zu bytes)", n, size);
        exit(EXIT_FAILURE);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (p == NULL) {
        say("out of memory");
        exit(EXIT_FAILURE);
    }
    return p;
}

/* ---- latency histogram: log-linear, 2^HSUB sub-buckets per power of
 * two, so a percentile is off by less than 1 % ---- */

#define HSUB 7
#define HBUCKETS ((64 - HSUB + 1) << HSUB)
static uint64_t hist[HBUCKETS];
static uint64_t lat_n, lat_max;

static unsigned hist_index(uint64_t v)
{
    if (v < (1u << (HSUB + 1)))
        return (unsigned)v;
    unsigned e = 63 - (unsigned)__builtin_clzll(v);
    return ((e - HSUB) << HSUB) + (unsigned)(v >> (e - HSUB));
}

static double hist_mid(unsigned i)
{
    if (i < (1u << (HSUB + 1)))
        return i;
    unsigned q = i >> HSUB;
    uint64_t m = i - ((uint64_t)(q - 1) << HSUB);
    uint64_t lo = m << (q - 1), w = (uint64_t)1 << (q - 1);
    return (double)lo + (double)(w - 1) / 2.0;
}

static double hist_pct(double p)
{
    uint64_t acc = 0, target = (uint64_t)(p * (double)lat_n + 0.999999);
    if (lat_n == 0)
        return 0;
    if (target < 1)
        target = 1;
    for (unsigned i = 0; i < HBUCKETS; i++) {
        acc += hist[i];
        if (acc >= target) {
            double v = hist_mid(i);
            return v > (double)lat_max ? (double)lat_max : v;
        }
    }
    return (double)lat_max;
}

/* ---- payloads ---- */

#define FNV64_OFFSET 0xcbf29ce484222325ull
#define FNV64_PRIME 0x100000001b3ull

/* FNV-1a taken 8 bytes at a time (bytewise for the tail), over the whole
 * payload but the checksum field.  Each step is a bijection of the state,
 * so any change to one word changes the sum, and 4 KiB payloads cost an
 * eighth of the bytewise hash: the checker must not be the bottleneck. */
static uint32_t payload_sum(const unsigned char *p, size_t len)
{
    uint64_t w, h = FNV64_OFFSET;
    uint32_t tag;
    size_t i = OFF_FROM;

    memcpy(&tag, p + OFF_TAG, 4);
    h = (h ^ tag) * FNV64_PRIME;
    for (; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * FNV64_PRIME;
    }
    for (; i < len; i++)
        h = (h ^ p[i]) * FNV64_PRIME;
    return (uint32_t)(h ^ (h >> 32));
}

static void put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* ---- the event loop's bookkeeping ---- */

static void barrier(void);
static void on_nodes(struct addr *ad, const struct mc_event *ev, uint64_t now);
static void node_input(struct node *n, uint64_t now);

static void mark_dirty(struct node *n)
{
    if (!n->dirty && n->mc) {
        n->dirty = 1;
        dirtyq[ndirty++] = index_of(n);
    }
}

/* After a reconnect the library has a new descriptor: watch it. */
static void watch_fd(struct node *n)
{
    int fd = n->mc ? mc_fd(n->mc) : -1;
    if (fd == n->fd)
        return;
    n->fd = fd;
    n->out_armed = 0;
    if (fd < 0)
        return;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = index_of(n)};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    mark_dirty(n);
}

static void set_out(struct node *n, int on)
{
    if (n->out_armed == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0u),
                             .data.u32 = index_of(n)};
    epoll_ctl(epfd, EPOLL_CTL_MOD, mc_fd(n->mc), &ev);
    n->out_armed = (uint8_t)on;
}

/* A sender goes on the ready queue once `batch` slots are free (or all it
 * still has to send fits): each write then carries several messages. */
static void maybe_ready(struct node *n)
{
    if (!n->sending || n->queued)
        return;
    uint32_t left = opt.messages - n->sent;
    if (n->nfree >= (left < batch ? left : batch)) {
        n->queued = 1;
        readyq[nready++] = index_of(n);
    }
}

static void sender_stop(struct node *n)
{
    if (n->sending) {
        n->sending = 0;
        /* With --duration there is no count to fall short of. */
        if (opt.duration_s == 0)
            st.unsent += opt.messages - n->sent;
    }
}

static void slot_free(struct node *s, struct slot *sl)
{
    sl->seq = 0;
    s->free_slots[s->nfree++] = (uint32_t)(sl - s->slots);
    maybe_ready(s);
}

/* k copies of sl will never arrive, for a reason counted in *why (a node
 * went away, the server refused the message): no longer expected. */
static void settle(struct node *s, struct slot *sl, uint32_t k, uint64_t *why)
{
    sl->remaining -= k;
    st.expected -= k;
    *why += k;
    if (sl->remaining == 0)
        slot_free(s, sl);
}

static void live_remove(struct node *n)
{
    barrier_moved = 1; /* it may have been the one not to answer yet */
    uint32_t pos = n->live_pos, last = live[--nlive];
    live[pos] = last;
    nodes[last].live_pos = pos;
    n->in_live = 0;
}

/* What the library did for n's session, into the totals (before it is
 * freed). */
static void session_count(struct node *n)
{
    struct mc_session_stats ss;
    mc_session_stats(n->mc, &ss);
    st.drops += ss.disconnects;
    st.resumes += ss.resumes;
    st.new_sessions += ss.new_sessions;
    st.resent += ss.resent;
    st.dup_hidden += ss.duplicates;
}

static void node_close(struct node *n)
{
    if (n->mc == NULL)
        return;
    if (opt.sessions)
        session_count(n);
    epoll_ctl(epfd, EPOLL_CTL_DEL, mc_fd(n->mc), NULL);
    mc_free(n->mc);
    n->mc = NULL;
    open_conns--;
}

/* The node is no longer registered: by our QUIT (code "quit" after we
 * sent it), or disturbed (kicked, shutdown, closed...). */
static void node_gone(struct node *n, const char *code, const char *detail)
{
    if (n->state == NS_GONE)
        return;
    int asked = n->state == NS_QUITTING && n->bye_quit;
    if (n->in_live)
        live_remove(n);
    n->state = NS_GONE;
    sender_stop(n);
    gone_new[ngone_new++] = index_of(n);
    st.t_progress = mono_ns();
    if (asked)
        return;
    st.disconnected++;
    n->gone_code = xstrdup(code);
    n->gone_detail = xstrdup(detail);
    if (!opt.quiet)
        say("node %s disconnected: %s%s%s", id_of(index_of(n)), code,
            *detail ? " " : "", detail);
}

/* ---- receiving ---- */

static size_t pair_index(uint32_t to, uint32_t from)
{
    /* In a ring a receiver has one sender: one entry per receiver. */
    return opt.pattern == PAT_RING ? to : (size_t)to * opt.nodes + from;
}

static void on_msg(struct node *r, const struct mc_event *ev, uint64_t now)
{
    const unsigned char *p = ev->data;
    uint32_t ri = index_of(r), from, to, seq, si;
    uint64_t sent_at;

    if (ev->len != opt.size) {
        st.corrupt++;
        anomaly("corrupt: %s got %zu bytes from %s, not %u", id_of(ri), ev->len,
                ev->from, opt.size);
        return;
    }
    if (get32(p + OFF_TAG) != run_tag ||
        get32(p + OFF_SUM) != payload_sum(p, ev->len)) {
        st.corrupt++;
        anomaly("corrupt: %s got a message from %s with a bad checksum",
                id_of(ri), ev->from);
        return;
    }
    from = get32(p + OFF_FROM);
    to = get32(p + OFF_TO);
    seq = get32(p + OFF_SEQ);
    si = get32(p + OFF_SLOT);
    if (from >= opt.nodes || strcmp(ev->from, id_of(from)) != 0 ||
        (opt.pattern == PAT_BCAST
             ? (!ev->broadcast || to != BCAST_TO || from == ri)
             : (ev->broadcast || to != ri)) ||
        seq == 0 || seq > nodes[from].sent || si >= opt.window) {
        st.corrupt++;
        anomaly("corrupt: %s got a message from %s that does not match what "
                "was sent (sender %" PRIu32 ", receiver %" PRIu32
                ", sequence %" PRIu32 ")",
                id_of(ri), ev->from, from, to, seq);
        return;
    }
    struct node *s = &nodes[from];
    struct slot *sl = &s->slots[si];
    int pending = sl->seq == seq && sl->to == to;
    uint32_t *last = &pair_last[pair_index(ri, from)];
    if (seq <= *last) {
        /* Not above the last from this sender: late if its copy is still
         * expected, a duplicate if not. */
        if (!pending || seq == *last) {
            st.duplicated++;
            anomaly("duplicate: %s got message %" PRIu32 " of %s again",
                    id_of(ri), seq, id_of(from));
            return;
        }
        st.reordered++;
        anomaly("reordered: %s got message %" PRIu32 " of %s after %" PRIu32,
                id_of(ri), seq, id_of(from), *last);
    } else {
        *last = seq;
        if (!pending) {
            st.duplicated++;
            anomaly("duplicate: %s got message %" PRIu32
                    " of %s, which was no longer expected",
                    id_of(ri), seq, id_of(from));
            return;
        }
    }
    memcpy(&sent_at, p + OFF_TIME, 8);
    uint64_t lat = now > sent_at ? now - sent_at : 0;
    hist[hist_index(lat)]++;
    lat_n++;
    if (lat > lat_max)
        lat_max = lat;
    st.delivered++;
    st.t_last = st.t_progress = now;
    /* One pending fewer may be what its refusals wait for. */
    if (s->cu_listed)
        s->cu_check = 1;
    if (--sl->remaining == 0)
        slot_free(s, sl);
}

/* The index of the node with id s if it is one of ours, else NO_NODE. */
static uint32_t our_index(const char *s)
{
    size_t plen = strlen(opt.id_prefix);
    char *end;
    if (strncmp(s, opt.id_prefix, plen) != 0)
        return NO_NODE;
    const char *num = s + plen;
    if (*num < '0' || *num > '9')
        return NO_NODE;
    unsigned long i = strtoul(num, &end, 10);
    if (*end != '\0' || i >= opt.nodes || strcmp(id_of((uint32_t)i), s) != 0)
        return NO_NODE;
    return (uint32_t)i;
}

/* "ERR unknown-node X" for one of ours: X went away and we have not read
 * its BYE yet.  Counted apart; an error only if X never goes away. */
static int refused_for_ours(const struct mc_event *ev)
{
    uint32_t i;
    if (strcmp(ev->code, "unknown-node") != 0 ||
        (i = our_index(ev->detail)) == NO_NODE)
        return 0;
    if (phase == PH_TRAFFIC)
        nodes[i].refused++;
    return 1;
}

/* ---- ERR cluster-unavailable ----
 *
 * The server refuses a SEND or BCAST when its cluster link is down or
 * congested: a refused SEND goes nowhere, a refused BCAST reaches the
 * nodes of the sender's own instance only.  That is not loss, and the
 * sender's window must not wait for copies that will not come; but the ERR
 * names the receiver (for a SEND), not the message.  So refusals are
 * matched by counting.  The first ERR makes the sender send a PING (the
 * fence); the ERRs that come before its PONG are for messages between the
 * previous fence and this one, and once the PONG is in, all of them are.
 * When the sender has no more messages of that range pending to that
 * receiver than it had refusals for, the pending ones are the refused ones
 * (the others arrived).  Ranges are kept apart, so that a message lost in
 * the link's failure (accepted, never delivered: real loss) holds up only
 * the refusals of its own range.  For a BCAST, a barrier first makes sure
 * that its local copies are in. */

static struct refusal *refusal_add(struct refusals *cu)
{
    if (cu->n == cu->cap) {
        uint32_t cap = cu->cap ? cu->cap * 2 : 4;
        struct refusal *e = realloc(cu->e, cap * sizeof *e);
        if (e == NULL) {
            say("out of memory");
            exit(EXIT_FAILURE);
        }
        cu->e = e;
        cu->cap = cap;
    }
    cu->e[cu->n] = (struct refusal){.lo = cu->answered};
    return &cu->e[cu->n++];
}

static void on_unavailable(struct node *n, const struct mc_event *ev)
{
    st.refused++;
    anomaly("refused: %s got ERR cluster-unavailable%s%s", id_of(index_of(n)),
            *ev->detail ? " " : "", ev->detail);
    uint32_t to = BCAST_TO;
    if (opt.pattern != PAT_BCAST && (to = our_index(ev->detail)) == NO_NODE)
        return; /* not for one of our SENDs */
    if (n->cu == NULL)
        n->cu = xcalloc(1, sizeof *n->cu);
    struct refusals *cu = n->cu;
    struct refusal *rf = NULL;
    for (uint32_t k = 0; k < cu->n && rf == NULL; k++)
        if (!cu->e[k].closed && cu->e[k].to == to)
            rf = &cu->e[k];
    if (rf == NULL) {
        rf = refusal_add(cu);
        rf->to = to;
    }
    rf->count++;
    /* Past the traffic, reconcile_refusals settles them at the end. */
    if (phase == PH_TRAFFIC && n->state == NS_READY && !cu->fence_out &&
        mc_ping(n->mc, "f") == 0) {
        cu->fence_out = 1;
        cu->fence = n->sent;
        mark_dirty(n);
    }
}

/* The fence PONG: the refusals counted since the previous one are all in,
 * for messages after that one and up to this one. */
static void fence_done(struct node *n)
{
    struct refusals *cu = n->cu;
    int bcast = 0;
    if (cu == NULL || !cu->fence_out)
        return;
    cu->fence_out = 0;
    for (uint32_t k = 0; k < cu->n; k++) {
        struct refusal *rf = &cu->e[k];
        if (rf->closed)
            continue;
        rf->closed = 1;
        rf->hi = cu->fence;
        bcast |= rf->to == BCAST_TO;
    }
    cu->answered = cu->fence;
    if (phase != PH_TRAFFIC)
        return;
    if (bcast) {
        barrier();
        for (uint32_t k = 0; k < cu->n; k++)
            if (cu->e[k].hi == cu->fence)
                cu->e[k].epoch = barrier_epoch;
    }
    n->cu_check = 1;
    if (!n->cu_listed) {
        if (culist == NULL)
            culist = xcalloc(opt.nodes, sizeof *culist);
        n->cu_listed = 1;
        culist[nculist++] = index_of(n);
    }
}

static void on_err(struct node *n, const struct mc_event *ev)
{
    if (!n->registered) {
        /* The first refused AUTH or HELLO ends the run; the others say no
         * more (a HELLO after a refused AUTH gets auth-required). */
        if (!st.aborted && strcmp(ev->code, "auth-failed") == 0)
            snprintf(st.abort_why, sizeof st.abort_why,
                     "AUTH %s refused for node %s: auth-failed", opt.user,
                     id_of(index_of(n)));
        else if (!st.aborted)
            snprintf(st.abort_why, sizeof st.abort_why,
                     "HELLO %s refused: %s%s%s%s", id_of(index_of(n)), ev->code,
                     *ev->detail ? " " : "", ev->detail,
                     strcmp(ev->code, "id-taken") == 0
                         ? " (another run with this --id-prefix?)"
                         : "");
        st.aborted = 1;
        return;
    }
    if (strcmp(ev->code, "cluster-unavailable") == 0) {
        on_unavailable(n, ev);
        return;
    }
    /* Once nodes QUIT, messages still on their way to them are refused;
     * the run is over by then. */
    if (refused_for_ours(ev) ||
        (phase == PH_QUIT && strcmp(ev->code, "unknown-node") == 0))
        return;
    st.errors++;
    anomaly("error: %s got ERR %s%s%s", id_of(index_of(n)), ev->code,
            *ev->detail ? " " : "", ev->detail);
}

static void on_event(struct node *n, const struct mc_event *ev, uint64_t now)
{
    switch (ev->type) {
    case MC_EV_MSG:
        on_msg(n, ev, now);
        break;
    case MC_EV_OK:
        if (n->state == NS_HELLO) {
            n->state = NS_READY;
            n->registered = 1;
            n->live_pos = nlive;
            n->in_live = 1;
            live[nlive++] = index_of(n);
            st.registered++;
            st.t_progress = now;
            /* Instances may differ: keep the nodes alive for the
             * strictest. */
            if (ev->idle > 0 && (server_idle <= 0 || ev->idle < server_idle))
                server_idle = ev->idle;
        }
        break;
    case MC_EV_ERR:
        on_err(n, ev);
        break;
    case MC_EV_AUTH: /* HELLO, queued behind it, says the rest */
        break;
    case MC_EV_PONG:
        /* Barrier tokens are "b<epoch>"; keep-alives have none.  The
         * token is data/len, not a C string. */
        if (ev->len > 1 && ev->len < 16 && *(const char *)ev->data == 'b') {
            char tok[16];
            memcpy(tok, ev->data, ev->len);
            tok[ev->len] = '\0';
            unsigned long e = strtoul(tok + 1, NULL, 10);
            if (e > n->barrier_seen && e <= barrier_epoch) {
                n->barrier_seen = (uint32_t)e;
                barrier_moved = 1;
            }
        } else if (ev->len == 1 && *(const char *)ev->data == 'f') {
            fence_done(n);
        }
        break;
    case MC_EV_NODES:
        if (phase == PH_CONVERGE && index_of(n) < naddrs)
            on_nodes(&addrs[index_of(n)], ev, now);
        break;
    case MC_EV_BYE:
        if (n->state == NS_QUITTING && strcmp(ev->code, "quit") == 0)
            n->bye_quit = 1;
        node_gone(n, ev->code, ev->detail);
        break;
    case MC_EV_DISCONNECTED:
        /* The library closed the descriptor (so epoll forgot it) and
         * comes back by itself. */
        n->fd = -1;
        n->out_armed = 0;
        st.t_progress = now;
        break;
    case MC_EV_RESUMED:
        watch_fd(n);
        st.t_progress = now;
        break;
    case MC_EV_LOST:
        st.reported_lost += ev->len;
        anomaly("%s: the server reports %zu message%s lost",
                id_of(index_of(n)), ev->len, ev->len == 1 ? "" : "s");
        break;
    case MC_EV_CLOSED:
        if (n->state == NS_QUITTING && !n->bye_quit) {
            st.quit_unclean++;
            anomaly("%s: connection closed without BYE quit",
                    id_of(index_of(n)));
        }
        node_gone(n, "closed", ev->detail && *ev->detail ? ev->detail : "");
        node_close(n);
        break;
    }
}

/* Hands out every whole event received; closes the node when the library
 * reports the end of its connection. */
static void drain(struct node *n, uint64_t now)
{
    struct mc_event ev;
    while (n->mc) {
        int rc = mc_next_event(n->mc, &ev);
        if (rc == 0)
            return;
        if (rc < 0) {
            /* The library has given up on this connection. */
            char why[256];
            snprintf(why, sizeof why, "%s", mc_error(n->mc));
            node_gone(n, "protocol-error", why);
            node_close(n);
            return;
        }
        on_event(n, &ev, now);
    }
}

/* A session's library ACKs and resends on its own: flush what it
 * queued. */
static void drain_all(struct node *n, uint64_t now)
{
    drain(n, now);
    if (n->mc && mc_want_write(n->mc))
        mark_dirty(n);
}

static void node_input(struct node *n, uint64_t now)
{
    int rc = mc_read(n->mc);
    drain_all(n, now);
    /* TLS: records decrypted already, which epoll does not announce. */
    while (rc >= 0 && n->mc && mc_pending(n->mc) > 0) {
        rc = mc_read(n->mc);
        drain_all(n, now);
    }
    /* In a session, the library has said MC_EV_DISCONNECTED instead. */
    if (rc < 0 && n->mc && !mc_session_active(n->mc)) {
        node_gone(n, "closed", mc_error(n->mc));
        node_close(n);
    }
}

/* A write failed: read what the server said before it went (the BYE that
 * tells why), then give up on the node. */
static void write_failed(struct node *n, uint64_t now)
{
    char why[256];
    snprintf(why, sizeof why, "%s", mc_error(n->mc));
    while (n->mc && mc_read(n->mc) > 0)
        drain(n, now);
    if (n->mc)
        drain_all(n, now);
    if (n->mc && !mc_session_active(n->mc)) {
        node_gone(n, "error", why);
        node_close(n);
    }
}

static void flush_node(struct node *n, uint64_t now)
{
    int rc = mc_flush(n->mc);
    if (rc < 0)
        write_failed(n, now);
    else
        set_out(n, rc == 1);
}

static void flush_dirty(uint64_t now)
{
    for (uint32_t i = 0; i < ndirty; i++) {
        struct node *n = &nodes[dirtyq[i]];
        n->dirty = 0;
        if (n->mc)
            flush_node(n, now);
    }
    ndirty = 0;
}

/* ---- sending ---- */

/* The receiver of sender i's next message, NO_NODE if it has none left. */
static uint32_t next_to(uint32_t i)
{
    switch (opt.pattern) {
    case PAT_RING: {
        uint32_t to = (i + 1) % opt.nodes;
        return nodes[to].state == NS_READY ? to : NO_NODE;
    }
    case PAT_RANDOM: {
        if (nlive < 2)
            return NO_NODE;
        uint32_t k = xrand_below(nlive - 1);
        if (k >= nodes[i].live_pos)
            k++;
        return live[k];
    }
    case PAT_BCAST:
        return nlive < 2 ? NO_NODE : BCAST_TO;
    }
    return NO_NODE;
}

/* Fills n's free window slots: all the commands are queued before one
 * flush, and the clock is read once for the batch. */
static void generate(struct node *n, uint64_t now)
{
    uint32_t i = index_of(n), k = n->nfree, left = opt.messages - n->sent;
    if (k > left)
        k = left;
    put32(txbuf + OFF_FROM, i);
    memcpy(txbuf + OFF_TIME, &now, 8);
    for (uint32_t m = 0; m < k; m++) {
        uint32_t to = next_to(i);
        if (to == NO_NODE) {
            sender_stop(n);
            break;
        }
        uint32_t si = n->free_slots[n->nfree - 1], seq = n->sent + 1;
        put32(txbuf + OFF_TO, to);
        put32(txbuf + OFF_SEQ, seq);
        put32(txbuf + OFF_SLOT, si);
        put32(txbuf + OFF_SUM, payload_sum(txbuf, opt.size));
        int rc = to == BCAST_TO ? mc_bcast(n->mc, txbuf, opt.size)
                                : mc_send(n->mc, id_of(to), txbuf, opt.size);
        if (rc < 0) {
            /* Only a closed connection gets here; its reader says why. */
            anomaly("%s: cannot queue a message: %s", id_of(i),
                    mc_error(n->mc));
            sender_stop(n);
            break;
        }
        struct slot *sl = &n->slots[si];
        n->nfree--;
        sl->seq = seq;
        sl->to = to;
        sl->remaining = to == BCAST_TO ? nlive - 1 : 1;
        n->sent = seq;
        st.sent++;
        st.expected += sl->remaining;
    }
    if (n->sent == opt.messages)
        n->sending = 0;
    n->last_cmd = now;
    st.t_progress = now;
    mark_dirty(n);
}

static void generate_ready(uint64_t now)
{
    for (uint32_t i = 0; i < nready; i++) {
        struct node *n = &nodes[readyq[i]];
        n->queued = 0;
        if (n->sending && n->state == NS_READY)
            generate(n, now);
    }
    nready = 0;
}

/* ---- nodes that went away ---- */

static void barrier(void)
{
    char token[16];
    snprintf(token, sizeof token, "b%" PRIu32, ++barrier_epoch);
    for (uint32_t k = 0; k < nlive; k++) {
        struct node *n = &nodes[live[k]];
        if (mc_ping(n->mc, token) == 0)
            mark_dirty(n);
    }
}

/* Settles what the nodes gone since the last sweep leave pending.  Runs
 * before any new message is generated, so every slot it looks at was
 * sent while they still counted as receivers. */
static void sweep(void)
{
    if (ngone_new == 0)
        return;
    for (uint32_t s = 0; s < opt.nodes; s++) {
        struct node *n = &nodes[s];
        for (uint32_t w = 0; w < opt.window && n->nfree < opt.window; w++) {
            struct slot *sl = &n->slots[w];
            if (sl->seq == 0)
                continue;
            if (sl->to != BCAST_TO) {
                if (nodes[sl->to].state == NS_GONE)
                    settle(n, sl, sl->remaining, &st.lost_disc);
                continue;
            }
            /* A gone receiver got every broadcast up to its last one. */
            uint32_t k = 0;
            for (uint32_t g = 0; g < ngone_new; g++) {
                uint32_t r = gone_new[g];
                if (r != s && sl->seq > pair_last[pair_index(r, s)])
                    k++;
            }
            if (k)
                settle(n, sl, k, &st.lost_disc);
        }
    }
    int need_barrier = 0;
    for (uint32_t g = 0; g < ngone_new; g++) {
        struct node *n = &nodes[gone_new[g]];
        if (n->nfree < opt.window) {
            n->settle_at = barrier_epoch + 1;
            /* A PONG from one instance says nothing of messages still
             * crossing the cluster link to it: give those a moment. */
            n->settle_after = naddrs > 1 ? mono_ns() + CLUSTER_SETTLE_NS : 0;
            unsettled[nunsettled++] = gone_new[g];
            need_barrier = 1;
        }
        if (opt.pattern == PAT_RING) {
            uint32_t prev = (gone_new[g] + opt.nodes - 1) % opt.nodes;
            sender_stop(&nodes[prev]);
        }
    }
    if (nlive < 2)
        for (uint32_t k = 0; k < nlive; k++)
            sender_stop(&nodes[live[k]]);
    if (need_barrier && phase == PH_TRAFFIC)
        barrier();
    ngone_new = 0;
}

/* The last barrier every live node has answered. */
static uint32_t barrier_min(void)
{
    uint32_t min = UINT32_MAX;
    for (uint32_t k = 0; k < nlive; k++)
        if (nodes[live[k]].barrier_seen < min)
            min = nodes[live[k]].barrier_seen;
    return min;
}

/* Once every live node has answered the barrier that followed a sender's
 * end, whatever of it the server had routed has arrived: the rest never
 * will. */
static void settle_unsettled(uint64_t now)
{
    if (nunsettled == 0)
        return;
    uint32_t min = barrier_min();
    for (uint32_t u = 0; u < nunsettled;) {
        struct node *n = &nodes[unsettled[u]];
        if (n->settle_at > min || now < n->settle_after) {
            u++;
            continue;
        }
        for (uint32_t w = 0; w < opt.window; w++)
            if (n->slots[w].seq)
                settle(n, &n->slots[w], n->slots[w].remaining, &st.lost_disc);
        unsettled[u] = unsettled[--nunsettled];
    }
}

static int in_refusal(const struct slot *sl, const struct refusal *rf)
{
    return sl->seq && sl->to == rf->to && sl->seq > rf->lo &&
           (!rf->closed || sl->seq <= rf->hi);
}

/* Matches one range of a sender's refusals to its pending slots (see "ERR
 * cluster-unavailable" above). */
static void match_refusal(struct node *n, struct refusal *rf, uint32_t bmin)
{
    uint32_t k = 0;
    if (!rf->closed || rf->count == 0 ||
        (rf->to == BCAST_TO && bmin < rf->epoch))
        return;
    for (uint32_t w = 0; w < opt.window; w++)
        k += in_refusal(&n->slots[w], rf);
    if (k > rf->count) {
        /* Some accepted ones are on their way, or lost.  Unless the
         * receiver has had a later message from this sender: then none of
         * them will come (they arrive in order), and which of them count
         * as refused and which stay lost does not change the counts. */
        if (rf->to == BCAST_TO ||
            pair_last[pair_index(rf->to, index_of(n))] <= rf->hi)
            return;
    }
    for (uint32_t w = 0, left = rf->count; w < opt.window && left; w++)
        if (in_refusal(&n->slots[w], rf)) {
            settle(n, &n->slots[w], n->slots[w].remaining, &st.lost_refused);
            left--;
        }
    /* Fewer pending than refused: the rest were settled when their
     * receiver went away. */
    rf->count = 0;
}

/* Once a pass, for the senders whose refusals may match now: after their
 * fence PONG, a delivery of one of their messages, or (BCAST) a barrier
 * PONG. */
static void resolve_refusals(void)
{
    static uint32_t bmin; /* it only rises: a stale one is merely late */
    int moved = barrier_moved;
    if (moved)
        bmin = barrier_min();
    barrier_moved = 0;
    for (uint32_t u = 0; u < nculist;) {
        struct node *n = &nodes[culist[u]];
        struct refusals *cu = n->cu;
        uint32_t keep = 0, closed = 0;
        if (!n->cu_check && !moved && n->state != NS_GONE) {
            u++;
            continue;
        }
        n->cu_check = 0;
        /* A gone sender's slots are settled as lost to its disconnect. */
        for (uint32_t k = 0; k < cu->n && n->state != NS_GONE; k++)
            match_refusal(n, &cu->e[k], bmin);
        for (uint32_t k = 0; k < cu->n; k++)
            if (cu->e[k].count) {
                closed += cu->e[k].closed;
                cu->e[keep++] = cu->e[k];
            }
        cu->n = keep;
        if (closed && n->state != NS_GONE) {
            u++;
        } else {
            n->cu_listed = 0;
            culist[u] = culist[--nculist];
        }
    }
}

/* At the end nothing more will arrive: of a sender's pending copies in a
 * range, as many as it still had refusals for are refused rather than
 * lost. */
static void reconcile_refusals(void)
{
    for (uint32_t i = 0; i < opt.nodes; i++) {
        struct node *n = &nodes[i];
        if (n->cu == NULL)
            continue;
        for (uint32_t k = 0; k < n->cu->n; k++) {
            struct refusal *rf = &n->cu->e[k];
            for (uint32_t w = 0; w < opt.window && rf->count; w++) {
                struct slot *sl = &n->slots[w];
                if (in_refusal(sl, rf)) {
                    settle(n, sl, sl->remaining, &st.lost_refused);
                    rf->count--;
                }
            }
        }
        n->cu->n = 0;
    }
}

/* Keeps quiet nodes registered on a server with an idle_timeout. */
static void keep_alive(uint64_t now)
{
    if (server_idle <= 0)
        return;
    uint64_t every = (uint64_t)(server_idle * 1e9 / 3);
    for (uint32_t k = 0; k < nlive; k++) {
        struct node *n = &nodes[live[k]];
        if (n->state == NS_READY && now - n->last_cmd > every &&
            mc_ping(n->mc, NULL) == 0) {
            n->last_cmd = now;
            mark_dirty(n);
        }
    }
}

/* ---- the run ---- */

/* With several addresses, traffic waits until a WHO through each lists
 * every node of ours: an instance of a cluster learns of the nodes of the
 * others a little after their OK, and a SEND before that would get ERR
 * unknown-node.  Node a (< naddrs) is the first on address a and asks. */
static void start_converge(uint64_t now)
{
    phase = PH_CONVERGE;
    st.t_converge = st.t_progress = now;
    for (uint32_t a = 0; a < naddrs; a++)
        addrs[a].who_at = now;
}

static void on_nodes(struct addr *ad, const struct mc_event *ev, uint64_t now)
{
    uint32_t ours = 0;
    /* Count ours only: other clients may be registered too. */
    for (size_t k = 0; k < ev->nnodes; k++)
        if (our_index(ev->nodes[k]) != NO_NODE)
            ours++;
    ad->who_out = 0;
    ad->seen = ours;
    if (ours == opt.nodes)
        ad->converged = 1;
    else
        ad->who_at = now + WHO_RETRY_NS;
}

/* Sends the WHOs that are due; 1 once every address has seen every node,
 * -1 if the wait is over. */
static int converge(uint64_t now)
{
    uint32_t done = 0, worst = 0;
    for (uint32_t a = 0; a < naddrs; a++) {
        struct addr *ad = &addrs[a];
        struct node *n = &nodes[a];
        if (ad->converged) {
            done++;
            continue;
        }
        if (ad->seen <= addrs[worst].seen || addrs[worst].converged)
            worst = a;
        if (!ad->who_out && now >= ad->who_at && n->mc && mc_who(n->mc) == 0) {
            ad->who_out = 1;
            mark_dirty(n);
        }
    }
    if (done == naddrs) {
        st.t_converged = now;
        return 1;
    }
    if (now - st.t_converge < CONVERGE_NS)
        return 0;
    st.aborted = st.unconverged = 1;
    snprintf(st.abort_why, sizeof st.abort_why,
             "after %llu s, the msgd at %s lists %" PRIu32 " of the %" PRIu32
             " nodes (are the addresses instances of one cluster?)",
             (unsigned long long)(CONVERGE_NS / NS), addrs[worst].text,
             addrs[worst].seen, opt.nodes);
    say("%s", st.abort_why);
    return -1;
}

static void start_traffic(uint64_t now)
{
    phase = PH_TRAFFIC;
    st.t_start = st.t_progress = now;
    st.cpu_start = cpu_s();
    for (uint32_t i = 0; i < opt.nodes; i++) {
        nodes[i].sending = opt.messages > 0;
        nodes[i].last_cmd = now;
        maybe_ready(&nodes[i]);
    }
}

static void start_quit(uint64_t now)
{
    if (phase == PH_TRAFFIC || st.t_start == 0) {
        st.t_end = st.delivered && st.t_last > st.t_start ? st.t_last : now;
        st.cpu_end = cpu_s();
    }
    phase = PH_QUIT;
    st.t_quit = now;
    for (uint32_t i = 0; i < opt.nodes; i++) {
        struct node *n = &nodes[i];
        sender_stop(n);
        if (n->mc && n->state != NS_GONE && mc_quit(n->mc) == 0) {
            n->state = NS_QUITTING;
            mark_dirty(n);
        }
    }
}

static int traffic_done(void)
{
    if (st.expected != st.delivered || nunsettled || ngone_new)
        return 0;
    for (uint32_t k = 0; k < nlive; k++)
        if (nodes[live[k]].sending || mc_fd(nodes[live[k]].mc) < 0)
            return 0; /* (QUIT waits for a reconnecting node) */
    return 1;
}

/* ---- sessions and chaos ---- */

/* Cuts node n's connection under the library: half by RST (SO_LINGER 0,
 * and the socket closed by putting an unconnected one in its place, so
 * the library's descriptor stays valid), half by FIN (shutdown); half of
 * them after writing half a SEND, when the library's own output is at a
 * frame boundary (over TCP only: it would break a TLS record). */
static void chaos_cut(struct node *n, uint64_t now)
{
    int fd = mc_fd(n->mc);
    uint32_t r = xrand_below(4);
    if (fd < 0)
        return;
    if ((r & 2) && !mc_want_write(n->mc) && !addrs[index_of(n) % naddrs].tls) {
        static const char half[] = "SEND nobody 64\nhalf of the payload";
        if (write(fd, half, sizeof half - 1) > 0)
            st.cuts_mid++;
    }
    if (r & 1) {
        struct linger l = {.l_onoff = 1, .l_linger = 0};
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        if (s < 0 || dup2(s, fd) < 0) {
            if (s >= 0)
                close(s);
            return;
        }
        close(s);
        n->fd = -1; /* the socket epoll watched is gone */
        st.cuts_rst++;
    } else {
        shutdown(fd, SHUT_RDWR);
        st.cuts_fin++;
    }
    st.cuts++;
    node_input(n, now); /* the library sees it now, not at its next read */
}

/* Every tick: the library's timers (ACK by time, reconnects), and the
 * chaos's cuts, spread over random registered nodes. */
/* Cuts at random moments (exponential gaps, RATE a second on average),
 * checked on every turn of the loop, which waits no longer than the
 * next one. */
static void chaos(uint64_t now)
{
    if (opt.chaos <= 0 || phase != PH_TRAFFIC || nlive == 0)
        return;
    while (now >= st.chaos_next) {
        if (st.chaos_next) {
            struct node *n = &nodes[live[xrand_below(nlive)]];
            if (n->mc && n->state == NS_READY)
                chaos_cut(n, now);
        }
        double u = ((double)xrand_below(1u << 30) + 1) / (double)(1u << 30);
        st.chaos_next = now + (uint64_t)(-log(u) / opt.chaos * 1e9);
    }
}

static void sessions_tick(uint64_t now, uint64_t dt)
{
    if (!opt.sessions)
        return;
    (void)dt;
    for (uint32_t i = 0; i < opt.nodes; i++) {
        struct node *n = &nodes[i];
        if (n->mc == NULL || !mc_session_active(n->mc))
            continue;
        mc_session_tick(n->mc);
        watch_fd(n);
        drain_all(n, now);
    }
}



static void progress(uint64_t now)
{
    static uint64_t prev_t, prev_delivered;
    if (!show_progress || now - st.t_begin < NS)
        return;
    if (prev_t == 0 || prev_t < st.t_start)
        prev_t = st.t_start; /* the first rate: since traffic began */
    double dt = prev_t ? (double)(now - prev_t) / 1e9 : 0;
    double rate = dt > 0 ? (double)(st.delivered - prev_delivered) / dt : 0;
    prev_t = now;
    prev_delivered = st.delivered;
    if (phase == PH_REGISTER) {
        fprintf(stderr,
                "\rmsgsim: %.1f s  registered %" PRIu32 "/%" PRIu32 "\033[K",
                (double)(now - st.t_begin) / 1e9, st.registered, opt.nodes);
    } else if (phase == PH_CONVERGE) {
        uint32_t done = 0;
        for (uint32_t a = 0; a < naddrs; a++)
            done += addrs[a].converged;
        fprintf(stderr,
                "\rmsgsim: %.1f s  every node seen at %" PRIu32 "/%" PRIu32
                " addresses\033[K",
                (double)(now - st.t_begin) / 1e9, done, naddrs);
    } else if (phase == PH_TRAFFIC) {
        fprintf(stderr,
                "\rmsgsim: %.1f s  sent %" PRIu64 "/%" PRIu64
                "  delivered %" PRIu64 "/%" PRIu64 "  %.0f msgs/s\033[K",
                (double)(now - st.t_begin) / 1e9, st.sent,
                (uint64_t)opt.nodes * opt.messages, st.delivered, st.expected,
                rate);
    } else {
        return;
    }
    progress_shown = 1;
}

static void timers(uint64_t now)
{
    progress(now);
    if (phase == PH_QUIT || phase == PH_END)
        return;
    keep_alive(now);
    if (interrupted > 1 || (st.t_drain && now > st.t_drain)) {
        start_quit(now);
    } else if (interrupted && !st.t_drain) {
        /* Stop sending, let what is in flight arrive, then QUIT. */
        say("interrupted");
        st.t_drain = now + DRAIN_NS;
        for (uint32_t i = 0; i < opt.nodes; i++)
            sender_stop(&nodes[i]);
        if (phase == PH_REGISTER || phase == PH_CONVERGE)
            start_quit(now);
    } else if (opt.duration_s > 0 && !st.duration_done && st.t_begin &&
               now - st.t_begin > (uint64_t)(opt.duration_s * 1e9)) {
        /* Time is up: stop sending; what is in flight still counts. */
        st.duration_done = 1;
        for (uint32_t i = 0; i < opt.nodes; i++)
            nodes[i].sending = 0;
    } else if (now - st.t_begin > (uint64_t)(opt.timeout_s * 1e9)) {
        st.timed_out = 1;
        say("timed out after %g s", opt.timeout_s);
        start_quit(now);
    } else if (phase != PH_CONVERGE && now - st.t_progress > STALL_NS) {
        /* (The wait for the cluster has a limit of its own.) */
        st.stalled = 1;
        say("stalled: no progress for %llu s",
            (unsigned long long)(STALL_NS / NS));
        start_quit(now);
    }
}

static void run_loop(void)
{
    struct epoll_event evs[MAX_EVENTS];
    uint64_t next_tick = mono_ns() + TICK_NS;

    while (phase != PH_END) {
        uint64_t now = mono_ns();
        if (phase == PH_REGISTER || phase == PH_CONVERGE) {
            if (st.aborted || ngone_new) {
                if (!st.aborted) {
                    st.aborted = 1;
                    snprintf(st.abort_why, sizeof st.abort_why, "%s",
                             phase == PH_REGISTER
                                 ? "a node went away before all were "
                                   "registered"
                                 : "a node went away while waiting for "
                                   "every instance to see every node");
                }
                start_quit(now);
            } else if (phase == PH_REGISTER && st.registered == opt.nodes) {
                if (naddrs > 1)
                    start_converge(now);
                else
                    start_traffic(now);
            }
        }
        if (phase == PH_CONVERGE) {
            int rc = converge(now);
            if (rc > 0)
                start_traffic(now);
            else if (rc < 0)
                start_quit(now);
        }
        if (phase == PH_TRAFFIC) {
            sweep();
            settle_unsettled(now);
            if (nculist)
                resolve_refusals();
            generate_ready(now);
            if (traffic_done())
                start_quit(now);
        }
        if (phase == PH_QUIT) {
            ngone_new = 0;
            if (open_conns == 0) {
                phase = PH_END;
                break;
            }
            if (now - st.t_quit > QUIT_WAIT_NS) {
                for (uint32_t i = 0; i < opt.nodes; i++)
                    if (nodes[i].mc) {
                        st.quit_unclean++;
                        anomaly("%s: no BYE quit within %llu s", id_of(i),
                                (unsigned long long)(QUIT_WAIT_NS / NS));
                        node_close(&nodes[i]);
                    }
                phase = PH_END;
                break;
            }
        }
        if (now >= next_tick) {
            timers(now);
            sessions_tick(now, now + TICK_NS - next_tick);
            next_tick = now + TICK_NS;
        }
        chaos(now);
        flush_dirty(now);

        int timeout = nready ? 0 : (int)((next_tick - now) / 1000000) + 1;
        if (st.chaos_next && st.chaos_next < next_tick && phase == PH_TRAFFIC)
            timeout = st.chaos_next > now
                          ? (int)((st.chaos_next - now) / 1000000) + 1
                          : 0;
        if (phase == PH_CONVERGE && timeout > (int)(WHO_RETRY_NS / 1000000))
            timeout = (int)(WHO_RETRY_NS / 1000000);
        int n = epoll_wait(epfd, evs, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            say("epoll_wait: %s", strerror(errno));
            exit(EXIT_FAILURE);
        }
        for (int k = 0; k < n; k++) {
            struct node *nd = &nodes[evs[k].data.u32];
            now = mono_ns();
            if (nd->mc && (evs[k].events & EPOLLOUT))
                flush_node(nd, now);
            if (nd->mc && (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                node_input(nd, now);
        }
    }
    clear_progress();
}

/* ---- set-up ---- */

static int connect_all(void)
{
    for (uint32_t i = 0; i < opt.nodes; i++) {
        struct node *n = &nodes[i];
        /* Round robin: every address gets nodes/naddrs, give or take one,
         * and nodes a and a+1 of a ring sit on different instances. */
        struct addr *ad = &addrs[i % naddrs];
        if (interrupted)
            return -1;
        n->mc = mc_new(opt.size > 65536 ? opt.size : 65536);
        if (n->mc == NULL) {
            say("out of memory");
            return -1;
        }
        int rc = ad->tls ? mc_connect_tls(n->mc, ad->host, ad->port, sim_tls,
                                          CONNECT_TIMEOUT_MS)
                         : mc_connect(n->mc, ad->host, ad->port,
                                      CONNECT_TIMEOUT_MS);
        if (rc < 0) {
            if (i < naddrs)
                say("%s", mc_error(n->mc));
            else
                say("node %s: %s", id_of(i), mc_error(n->mc));
            mc_free(n->mc);
            n->mc = NULL;
            return -1;
        }
        open_conns++;
        ad->nodes++;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, mc_fd(n->mc), &ev) < 0) {
            say("epoll_ctl: %s", strerror(errno));
            return -1;
        }
        n->fd = mc_fd(n->mc);
        if (opt.sessions && mc_session_enable(n->mc, NULL) < 0) {
            say("out of memory");
            return -1;
        }
        if (opt.user && mc_auth(n->mc, opt.user, password) < 0) {
            say("node %s: %s", id_of(i), mc_error(n->mc));
            return -1;
        }
        mc_hello(n->mc, id_of(i));
        /* Registering overlaps connecting the next nodes. */
        if (mc_flush(n->mc) == 1)
            set_out(n, 1);
    }
    return 0;
}

/* Allocates everything the run needs up front: the loop mallocs nothing
 * per message. */
static void alloc_state(void)
{
    uint32_t n = opt.nodes, w = opt.window;
    nodes = xcalloc(n, sizeof *nodes);
    struct slot *slots = xcalloc((size_t)n * w, sizeof *slots);
    uint32_t *frees = xcalloc((size_t)n * w, sizeof *frees);
    for (uint32_t i = 0; i < n; i++) {
        nodes[i].slots = slots + (size_t)i * w;
        nodes[i].free_slots = frees + (size_t)i * w;
        for (uint32_t k = 0; k < w; k++)
            nodes[i].free_slots[k] = w - 1 - k;
        nodes[i].nfree = w;
    }
    live = xcalloc(n, sizeof *live);
    readyq = xcalloc(n, sizeof *readyq);
    dirtyq = xcalloc(n, sizeof *dirtyq);
    gone_new = xcalloc(n, sizeof *gone_new);
    unsettled = xcalloc(n, sizeof *unsettled);
    /* Pages of the pair table are only touched for pairs that talk. */
    pair_last =
        xcalloc(opt.pattern == PAT_RING ? n : (size_t)n * n, sizeof *pair_last);

    id_stride = strlen(opt.id_prefix) + 12;
    ids = xcalloc(n, id_stride);
    for (uint32_t i = 0; i < n; i++)
        snprintf(ids + (size_t)i * id_stride, id_stride, "%s%" PRIu32,
                 opt.id_prefix, i);

    txbuf = xcalloc(opt.size, 1);
    uint64_t x = opt.seed ^ 0x5eed;
    for (uint32_t k = HDR_SIZE; k < opt.size; k++)
        txbuf[k] = (unsigned char)splitmix64(&x);
    put32(txbuf + OFF_TAG, run_tag);
    batch = opt.window / 16 ? opt.window / 16 : 1;
}

/* ---- our own msgd ---- */

struct own_msgd {
    pid_t pid;
    int port;
    char path[PATH_MAX];
    char dir[128];
};

/* --msgd, then $MSGD, then the msgd beside our own executable (the build
 * tree), then the installed one. */
static const char *find_msgd(char *buf, size_t len)
{
    const char *env = getenv("MSGD");
    if (opt.msgd)
        return opt.msgd;
    if (env && *env)
        return env;
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n > 0) {
        buf[n] = '\0';
        char *slash = strrchr(buf, '/');
        if (slash && (size_t)(slash - buf) + sizeof "/msgd" <= len) {
            strcpy(slash, "/msgd");
            if (access(buf, X_OK) == 0)
                return buf;
        }
    }
    return MSGD_SBINDIR "/msgd";
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0, n;
    char *s = malloc(cap);
    while (s && (n = fread(s + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            char *t = realloc(s, cap *= 2);
            if (t == NULL) {
                free(s);
                s = NULL;
                break;
            }
            s = t;
        }
    }
    if (s)
        s[len] = '\0';
    fclose(f);
    return s;
}

/* The port from the "start" event of the server log, 0 if not there yet:
 * {"event":"start",...,"listen":["127.0.0.1:PORT"]}. */
static int logged_port(const char *log)
{
    char *s = slurp(log), *at, *l, *q;
    int port = 0;
    if (s && (at = strstr(s, "\"event\":\"start\"")) != NULL &&
        (l = strstr(at, "\"listen\":[\"")) != NULL &&
        (q = strchr(l + 11, '"')) != NULL) {
        while (q > l && q[-1] != ':')
            q--;
        port = atoi(q);
    }
    free(s);
    return port;
}

/* msgd's own words on why it failed, if it said anything. */
static void show_file(const char *path)
{
    char *s = slurp(path);
    if (s && *s)
        fprintf(stderr, "msgd said: %s%s", s,
                s[strlen(s) - 1] == '\n' ? "" : "\n");
    free(s);
}

static int remove_one(const char *path, const struct stat *sb, int flag,
                      struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_dir(const char *dir)
{
    nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

static int write_conf(const struct own_msgd *o, const char *conf)
{
    FILE *f = fopen(conf, "w");
    if (f == NULL)
        return -1;
    /* Limits: every node may hold a full window of every sender. */
    uint64_t out = (uint64_t)opt.nodes * opt.window * (opt.size + 160);
    if (out < 8388608)
        out = 8388608;
    if (out > INT32_MAX)
        out = INT32_MAX;
    if (opt.tls)
        fprintf(f,
                "tls = { cert = \"%s/server.crt\"; key = \"%s/server.key\"; "
                "};\n",
                o->dir, o->dir);
    if (opt.auth)
        fprintf(f, "auth = { users_file = \"%s/users\"; };\n", o->dir);
    fprintf(f,
            "# written by msgsim for one run\n"
            "listen = [ \"%s127.0.0.1:0\" ];\n"
            "admin_socket = \"%s/admin.sock\";\n"
            "pidfile = \"%s/msgd.pid\";\n"
            "server_log = \"%s/server.log\";\n"
            "client_log = \"%s/client.log\";\n"
            "idle_timeout = 0;\n"
            "max_nodes = %" PRIu32 ";\n"
            "max_message_size = %" PRIu32 ";\n"
            "max_output_buffer = %" PRIu64 ";\n",
            opt.tls ? "tls://" : "", o->dir, o->dir, o->dir, o->dir,
            opt.nodes + 64,
            opt.size > 65536 ? opt.size : 65536, out);
    return fclose(f);
}

/* --auth: a users file with one user, sim, whose random password every
 * node gives.  The hash is at libsodium's lowest cost: it guards nothing
 * but this run, and thousands of nodes log in at once. */
static int own_users(const struct own_msgd *o)
{
    unsigned char raw[18];
    char hash[crypto_pwhash_STRBYTES], path[256];
    if (sodium_init() < 0) {
        say("cannot initialise libsodium");
        return -1;
    }
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(password, sizeof password, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    if (crypto_pwhash_str(hash, password, strlen(password),
                          crypto_pwhash_OPSLIMIT_MIN,
                          crypto_pwhash_MEMLIMIT_MIN) != 0) {
        say("cannot hash the password: out of memory");
        return -1;
    }
    snprintf(path, sizeof path, "%s/users", o->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
    if (f == NULL || fprintf(f, "sim:%s\n", hash) < 0 || fclose(f) != 0) {
        say("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    opt.user = "sim";
    return 0;
}

/* --tls and --auth for our own msgd: its certificates (and the context
 * our nodes verify them with), its users file.  0, or -1 after saying
 * why. */
static int own_secure(const struct own_msgd *o)
{
    if (opt.auth && own_users(o) < 0)
        return -1;
    if (!opt.tls)
        return 0;
#ifdef HAVE_OPENSSL
    char err[512], ca[256];
    if (simcert_make(o->dir, err, sizeof err) < 0) {
        say("%s", err);
        return -1;
    }
    snprintf(ca, sizeof ca, "%s/ca.crt", o->dir);
    struct mc_tls_options t = {.ca_file = ca};
    if ((sim_tls = mc_tls_new(&t, err, sizeof err)) == NULL) {
        say("%s", err);
        return -1;
    }
    return 0;
#else
    say("--tls: TLS not built in (msgsim was built without OpenSSL)");
    return -1;
#endif
}

/* Starts msgd -f on 127.0.0.1:0 and reads the port it got; 0 or -1 after
 * saying why. */
static int own_start(struct own_msgd *o)
{
    char conf[256], log[256], errlog[256], exe[PATH_MAX];
    const char *tmp = getenv("TMPDIR");
    snprintf(o->path, sizeof o->path, "%s", find_msgd(exe, sizeof exe));
    if (access(o->path, X_OK) < 0) {
        say("cannot run msgd at %s: %s (use --msgd or --connect)", o->path,
            strerror(errno));
        return -1;
    }
    if (tmp == NULL || *tmp == '\0')
        tmp = "/tmp";
    if ((size_t)snprintf(o->dir, sizeof o->dir, "%s/msgsim-XXXXXX", tmp) >=
            sizeof o->dir ||
        strpbrk(tmp, "\"\\") || strlen(o->dir) > 80) {
        say("TMPDIR %s is not usable for msgd's files (too long, or quotes)",
            tmp);
        o->dir[0] = '\0';
        return -1;
    }
    if (mkdtemp(o->dir) == NULL) {
        say("cannot create a directory in %s: %s", tmp, strerror(errno));
        o->dir[0] = '\0';
        return -1;
    }
    snprintf(conf, sizeof conf, "%s/msgd.conf", o->dir);
    snprintf(log, sizeof log, "%s/server.log", o->dir);
    snprintf(errlog, sizeof errlog, "%s/msgd.stderr", o->dir);
    if (own_secure(o) < 0)
        return -1;
    if (write_conf(o, conf) < 0) {
        say("cannot write %s: %s", conf, strerror(errno));
        return -1;
    }
    int errfd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (errfd < 0 || nullfd < 0) {
        say("cannot open %s: %s", errlog, strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    o->pid = fork();
    if (o->pid < 0) {
        say("fork: %s", strerror(errno));
        return -1;
    }
    if (o->pid == 0) {
        /* Its own process group: ^C reaches msgsim, which then stops msgd
         * in order; and it goes if msgsim dies. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        dup2(nullfd, 0);
        dup2(nullfd, 1);
        dup2(errfd, 2);
        execl(o->path, "msgd", "-f", "-c", conf, (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", o->path, strerror(errno));
        _exit(127);
    }
    close(errfd);
    close(nullfd);
    uint64_t deadline = mono_ns() + (uint64_t)START_TIMEOUT_MS * 1000000;
    while (mono_ns() < deadline && !interrupted) {
        int status;
        if ((o->port = logged_port(log)) > 0)
            return 0;
        if (waitpid(o->pid, &status, WNOHANG) == o->pid) {
            o->pid = 0;
            say("msgd (%s) exited with status %d before it was ready", o->path,
                WIFEXITED(status) ? WEXITSTATUS(status)
                                  : 128 + WTERMSIG(status));
            show_file(errlog);
            return -1;
        }
        usleep(5000);
    }
    say("msgd (%s) did not log its start within %d s", o->path,
        START_TIMEOUT_MS / 1000);
    show_file(errlog);
    return -1;
}

/* SIGTERM and wait: msgd's exit status, 128+signal, or -1 if it had to be
 * killed. */
static int own_stop(struct own_msgd *o)
{
    int status = 0;
    if (o->pid <= 0)
        return -1;
    kill(o->pid, SIGTERM);
    uint64_t deadline = mono_ns() + (uint64_t)STOP_TIMEOUT_MS * 1000000;
    while (waitpid(o->pid, &status, WNOHANG) == 0) {
        if (mono_ns() > deadline) {
            say("msgd did not stop within %d s of SIGTERM; killed",
                STOP_TIMEOUT_MS / 1000);
            kill(o->pid, SIGKILL);
            waitpid(o->pid, &status, 0);
            o->pid = 0;
            return -1;
        }
        usleep(2000);
    }
    o->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- report ---- */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

struct result {
    double elapsed, rate, mbps, cpu_pct, p50, p99, max;
    int msgd_status; /* -2: not ours */
    int ok;
    char why[512];
};

static void add_why(struct result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_why(struct result *r, const char *fmt, ...)
{
    va_list ap;
    size_t len = strlen(r->why);
    if (len + 3 >= sizeof r->why)
        return;
    if (len)
        len += (size_t)snprintf(r->why + len, sizeof r->why - len, ", ");
    va_start(ap, fmt);
    vsnprintf(r->why + len, sizeof r->why - len, fmt, ap);
    va_end(ap);
}

static void judge(struct result *r)
{
    uint64_t refused = 0;
    reconcile_refusals();
    for (uint32_t i = 0; i < opt.nodes && opt.sessions; i++)
        if (nodes[i].mc)
            session_count(&nodes[i]);
    for (uint32_t i = 0; i < opt.nodes; i++)
        if (nodes[i].gone_code == NULL)
            refused += nodes[i].refused;
    /* ERR unknown-node for a node that never went away is a real error. */
    st.errors += refused;
    st.lost = st.expected - st.delivered;
    r->elapsed = st.t_end > st.t_start && st.t_start
                     ? (double)(st.t_end - st.t_start) / 1e9
                     : 0;
    r->rate = r->elapsed > 0 ? (double)st.delivered / r->elapsed : 0;
    r->mbps =
        r->elapsed > 0 ? (double)st.delivered * opt.size / r->elapsed / 1e6 : 0;
    r->cpu_pct = r->elapsed > 0 ? 100 * (st.cpu_end - st.cpu_start) /
                                      (r->elapsed > 0.001 ? r->elapsed : 1)
                                : 0;
    r->p50 = hist_pct(0.50) / 1e3;
    r->p99 = hist_pct(0.99) / 1e3;
    r->max = (double)lat_max / 1e3;
    if (st.aborted)
        add_why(r, "%s", st.abort_why);
    if (st.lost)
        add_why(r, "%" PRIu64 " lost", st.lost);
    if (st.duplicated)
        add_why(r, "%" PRIu64 " duplicated", st.duplicated);
    if (st.reported_lost)
        add_why(r, "%" PRIu64 " reported lost by the server",
                st.reported_lost);
    if (st.corrupt)
        add_why(r, "%" PRIu64 " corrupt", st.corrupt);
    if (st.reordered)
        add_why(r, "%" PRIu64 " reordered", st.reordered);
    if (st.errors)
        add_why(r, "%" PRIu64 " errors", st.errors);
    if (st.disconnected)
        add_why(r, "%" PRIu32 " node%s disconnected", st.disconnected,
                st.disconnected == 1 ? "" : "s");
    if (st.refused)
        add_why(r, "%" PRIu64 " refused (cluster-unavailable)", st.refused);
    if (st.unsent && !st.aborted)
        add_why(r, "%" PRIu64 " messages not sent", st.unsent);
    if (st.timed_out)
        add_why(r, "timed out");
    if (st.stalled)
        add_why(r, "stalled");
    if (interrupted)
        add_why(r, "interrupted");
    if (st.quit_unclean)
        add_why(r, "%" PRIu32 " node%s without BYE quit", st.quit_unclean,
                st.quit_unclean == 1 ? "" : "s");
    if (r->msgd_status != -2 && r->msgd_status != 0)
        add_why(r, "msgd exit status %d", r->msgd_status);
    r->ok = r->why[0] == '\0';
}

static void report_json(const struct result *r)
{
    printf("{\"pattern\":\"%s\",\"nodes\":%" PRIu32 ",\"messages\":%" PRIu32
           ",\"size\":%" PRIu32 ",\"window\":%" PRIu32 ",\"seed\":%" PRIu64
           ",\"seed_str\":\"%" PRIu64 "\"",
           pattern_names[opt.pattern], opt.nodes, opt.messages, opt.size,
           opt.window, opt.seed, opt.seed);
    printf(",\"sent\":%" PRIu64 ",\"expected\":%" PRIu64
           ",\"delivered\":%" PRIu64 ",\"lost\":%" PRIu64
           ",\"lost_disconnect\":%" PRIu64 ",\"duplicated\":%" PRIu64
           ",\"corrupt\":%" PRIu64 ",\"reordered\":%" PRIu64
           ",\"unsent\":%" PRIu64 ",\"refused\":%" PRIu64
           ",\"lost_refused\":%" PRIu64,
           st.sent, st.expected, st.delivered, st.lost, st.lost_disc,
           st.duplicated, st.corrupt, st.reordered, st.unsent, st.refused,
           st.lost_refused);
    printf(",\"elapsed_s\":%.6f,\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f"
           ",\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f}"
           ",\"gen_cpu_pct\":%.1f",
           r->elapsed, r->rate, r->mbps, r->p50, r->p99, r->max, r->cpu_pct);
    printf(",\"errors\":%" PRIu64 ",\"disconnected\":%" PRIu32
           ",\"disconnects\":[",
           st.errors, st.disconnected);
    int first = 1;
    for (uint32_t i = 0; i < opt.nodes; i++) {
        if (nodes[i].gone_code == NULL)
            continue;
        printf("%s{\"node\":", first ? "" : ",");
        json_string(stdout, id_of(i));
        printf(",\"reason\":");
        json_string(stdout, nodes[i].gone_code);
        printf(",\"detail\":");
        json_string(stdout, nodes[i].gone_detail);
        putchar('}');
        first = 0;
    }
    printf("],\"quit_unclean\":%" PRIu32 ",\"timed_out\":%s,\"stalled\":%s",
           st.quit_unclean, st.timed_out ? "true" : "false",
           st.stalled ? "true" : "false");
    if (opt.sessions)
        printf(",\"sessions\":{\"chaos\":%g,\"cuts\":%" PRIu64
               ",\"cuts_rst\":%" PRIu64 ",\"cuts_fin\":%" PRIu64
               ",\"cuts_mid_frame\":%" PRIu64 ",\"drops\":%" PRIu64
               ",\"resumes\":%" PRIu64 ",\"new_sessions\":%" PRIu64
               ",\"reported_lost\":%" PRIu64 ",\"resent\":%" PRIu64
               ",\"duplicates_hidden\":%" PRIu64 "}",
               opt.chaos, st.cuts, st.cuts_rst, st.cuts_fin, st.cuts_mid,
               st.drops, st.resumes, st.new_sessions, st.reported_lost,
               st.resent, st.dup_hidden);
    if (r->msgd_status != -2)
        printf(",\"msgd_status\":%d", r->msgd_status);
    if (opt.connect) {
        printf(",\"connect\":[");
        for (uint32_t a = 0; a < naddrs; a++) {
            printf("%s{\"addr\":", a ? "," : "");
            json_string(stdout, addrs[a].text);
            printf(",\"nodes\":%" PRIu32 "}", addrs[a].nodes);
        }
        putchar(']');
    }
    if (st.t_converged)
        printf(",\"converge_s\":%.6f",
               (double)(st.t_converged - st.t_converge) / 1e9);
    printf(",\"ok\":%s,\"problems\":", r->ok ? "true" : "false");
    json_string(stdout, r->why);
    printf("}\n");
}

static void report_text(const struct result *r)
{
    printf("msgsim: %s, %" PRIu32 " nodes x %" PRIu32 " messages of %" PRIu32
           " bytes, window %" PRIu32 ", seed %" PRIu64 "\n",
           pattern_names[opt.pattern], opt.nodes, opt.messages, opt.size,
           opt.window, opt.seed);
    for (uint32_t a = 0; a < naddrs && opt.connect; a++)
        printf("connect:       %s (%" PRIu32 " node%s)\n", addrs[a].text,
               addrs[a].nodes, addrs[a].nodes == 1 ? "" : "s");
    if (st.t_converged)
        printf("converged:     %.3f s\n",
               (double)(st.t_converged - st.t_converge) / 1e9);
    printf("sent:          %" PRIu64 "\n", st.sent);
    printf("expected:      %" PRIu64 "\n", st.expected);
    printf("delivered:     %" PRIu64 "\n", st.delivered);
    printf("lost:          %" PRIu64 "\n", st.lost);
    if (st.lost_disc)
        printf("lost to disconnects: %" PRIu64 "\n", st.lost_disc);
    printf("duplicated:    %" PRIu64 "\n", st.duplicated);
    printf("corrupt:       %" PRIu64 "\n", st.corrupt);
    printf("reordered:     %" PRIu64 "\n", st.reordered);
    if (st.refused)
        printf("refused:       %" PRIu64 " (ERR cluster-unavailable)\n",
               st.refused);
    if (st.lost_refused)
        printf("lost to refusals: %" PRIu64 "\n", st.lost_refused);
    if (st.unsent)
        printf("not sent:      %" PRIu64 "\n", st.unsent);
    if (opt.sessions) {
        printf("cuts:          %" PRIu64 " (%" PRIu64 " RST, %" PRIu64
               " FIN, %" PRIu64 " after half a SEND)\n",
               st.cuts, st.cuts_rst, st.cuts_fin, st.cuts_mid);
        printf("sessions:      %" PRIu64 " drops, %" PRIu64 " resumed, %" PRIu64
               " new, %" PRIu64 " reported lost, %" PRIu64
               " commands resent, %" PRIu64 " duplicates hidden\n",
               st.drops, st.resumes, st.new_sessions, st.reported_lost,
               st.resent, st.dup_hidden);
    }
    printf("errors:        %" PRIu64 "\n", st.errors);
    printf("disconnected:  %" PRIu32 "\n", st.disconnected);
    uint32_t listed = 0;
    for (uint32_t i = 0; i < opt.nodes; i++) {
        if (nodes[i].gone_code == NULL)
            continue;
        if (++listed > MAX_LISTED) {
            printf("  ... and %" PRIu32 " more\n",
                   st.disconnected - MAX_LISTED);
            break;
        }
        printf("  %s: %s%s%s\n", id_of(i), nodes[i].gone_code,
               *nodes[i].gone_detail ? " " : "", nodes[i].gone_detail);
    }
    printf("elapsed:       %.3f s\n", r->elapsed);
    printf("throughput:    %.0f msgs/s, %.2f MB/s\n", r->rate, r->mbps);
    printf("latency:       p50 %.1f us, p99 %.1f us, max %.1f us\n", r->p50,
           r->p99, r->max);
    printf("msgsim cpu:    %.0f%%\n", r->cpu_pct);
    if (r->ok)
        printf("result:        ok\n");
    else
        printf("result:        FAILED: %s\n", r->why);
}

/* ---- options ---- */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: msgsim [--nodes N] [--messages M] [--size BYTES]\n"
        "              [--pattern ring|random|broadcast] [--window W]\n"
        "              [--connect [tls://]HOST:PORT[,...] ... | --msgd PATH]\n"
        "              [--tls] [--ca FILE] [--cert FILE --key FILE] [--auth]\n"
        "              [--user NAME --password-file FILE]\n"
        "              [--id-prefix P] [--seed S] [--timeout SEC]\n"
        "              [--duration SEC] [--json] [-q] [-h] [-V]\n"
        "  -n, --nodes N        nodes, one connection each (default 10)\n"
        "  -m, --messages M     messages each node sends (default 1000)\n"
        "  -s, --size BYTES     payload size, at least %d (default 64)\n"
        "  -p, --pattern P      ring, random or broadcast (default ring)\n"
        "  -w, --window W       messages in flight per sender (default 64)\n"
        "  -c, --connect H:P    use a running msgd instead of starting one;\n"
        "                       repeat it, or list H:P,H:P, for instances\n"
        "                       of a cluster: node i uses address i mod N\n"
        "      --msgd PATH      the msgd to start\n"
        "      --id-prefix P    node ids are P0, P1, ... (default sim-PID-)\n"
        "      --seed S         seed for the random pattern and filler\n"
        "      --timeout SEC    give up after SEC seconds (default 60, or\n"
        "                       the duration + 60)\n"
        "      --duration SEC   send for SEC seconds (M becomes a limit)\n"
        "      --tls            own msgd: a tls:// listener with a throw-away\n"
        "                       CA; --connect: every address is tls://\n"
        "      --ca FILE        CA for tls:// addresses (default: the system's)\n"
        "      --cert FILE      client certificate, with --key FILE\n"
        "      --auth           own msgd: an auth group; every node logs in\n"
        "      --sessions       every node asks for a session and resumes it\n"
        "      --chaos RATE     with --sessions: cut RATE connections a second\n"
        "      --user NAME      --connect: every node logs in as NAME, with\n"
        "      --password-file FILE   the password on its first line\n"
        "      --json           print the summary as one JSON object\n"
        "  -q, --quiet          no progress line, no notices\n"
        "  -V, --version        print the version and exit\n"
        "  -h, --help           print this help and exit\n",
        HDR_SIZE);
}

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwarnx(fmt, ap);
    va_end(ap);
    fputs("try 'msgsim --help'\n", stderr);
    return EX_USAGE;
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* Splits HOST:PORT (or [V6]:PORT) in place. */
static int split_hostport(char *s, char **host, char **port)
{
    char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s || colon[1] == '\0')
        return -1;
    *colon = '\0';
    *port = colon + 1;
    *host = s;
    size_t n = strlen(s);
    if (s[0] == '[') {
        if (n < 3 || s[n - 1] != ']')
            return -1;
        s[n - 1] = '\0';
        *host = s + 1;
    }
    for (char *p = *port; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    return 0;
}

/* Adds the addresses of one --connect: HOST:PORT, or several separated by
 * commas (no host or port holds one).  0, or the usage error's status. */
static int add_connect(const char *arg)
{
    const char *p = arg;
    for (;;) {
        size_t len = strcspn(p, ",");
        char *text = xcalloc(len + 1, 1), *buf = xcalloc(len + 1, 1);
        memcpy(text, p, len);
        memcpy(buf, p, len);
        struct addr *grown = realloc(addrs, (naddrs + 1) * sizeof *addrs);
        if (grown == NULL) {
            say("out of memory");
            exit(EXIT_FAILURE);
        }
        addrs = grown;
        /* In the array before the check: reachable, not leaked, when the
         * usage error ends the program. */
        addrs[naddrs++] = (struct addr){.text = text, .buf = buf};
        struct addr *ad = &addrs[naddrs - 1];
        char *hp = buf;
        if (strncmp(buf, "tls://", 6) == 0) {
            ad->tls = 1;
            hp += 6;
        }
        if (split_hostport(hp, &ad->host, &ad->port) < 0)
            return usage_error("--connect: '%s' is not HOST:PORT (or "
                               "tls://HOST:PORT)",
                               text);
        if (p[len] == '\0')
            return 0;
        p += len + 1;
    }
}

enum {
    OPT_MSGD = 256,
    OPT_SEED,
    OPT_TIMEOUT,
    OPT_DURATION,
    OPT_JSON,
    OPT_ID_PREFIX,
    OPT_TLS,
    OPT_CA,
    OPT_CERT,
    OPT_KEY,
    OPT_USER,
    OPT_PASSWORD_FILE,
    OPT_AUTH,
    OPT_SESSIONS,
    OPT_CHAOS,
};

/* 0 to run, or the exit status. */
static int parse_options(int argc, char **argv, int *exit_now)
{
    static const struct option longs[] = {
        {"nodes", required_argument, NULL, 'n'},
        {"messages", required_argument, NULL, 'm'},
        {"size", required_argument, NULL, 's'},
        {"pattern", required_argument, NULL, 'p'},
        {"window", required_argument, NULL, 'w'},
        {"connect", required_argument, NULL, 'c'},
        {"msgd", required_argument, NULL, OPT_MSGD},
        {"id-prefix", required_argument, NULL, OPT_ID_PREFIX},
        {"seed", required_argument, NULL, OPT_SEED},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"json", no_argument, NULL, OPT_JSON},
        {"tls", no_argument, NULL, OPT_TLS},
        {"ca", required_argument, NULL, OPT_CA},
        {"cert", required_argument, NULL, OPT_CERT},
        {"key", required_argument, NULL, OPT_KEY},
        {"user", required_argument, NULL, OPT_USER},
        {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
        {"auth", no_argument, NULL, OPT_AUTH},
        {"sessions", no_argument, NULL, OPT_SESSIONS},
        {"chaos", required_argument, NULL, OPT_CHAOS},
        {"quiet", no_argument, NULL, 'q'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, seed_set = 0;
    char *end;

    *exit_now = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":n:m:s:p:w:c:qVh", longs, NULL)) !=
           -1) {
        switch (c) {
        case 'n':
            if (parse_u32(optarg, 2, MAX_NODES, &opt.nodes) < 0)
                return usage_error("--nodes: '%s' is not a number from 2 to %d",
                                   optarg, MAX_NODES);
            break;
        case 'm':
            if (parse_u32(optarg, 1, UINT32_MAX - 1, &opt.messages) < 0)
                return usage_error("--messages: '%s' is not a number from 1 "
                                   "to %" PRIu32,
                                   optarg, UINT32_MAX - 1);
            opt.messages_set = 1;
            break;
        case 's':
            if (parse_u32(optarg, HDR_SIZE, 1u << 30, &opt.size) < 0)
                return usage_error("--size: '%s' is not a number from %d "
                                   "(the header the checks need) to %u",
                                   optarg, HDR_SIZE, 1u << 30);
            break;
        case 'p':
            if (strcmp(optarg, "ring") == 0)
                opt.pattern = PAT_RING;
            else if (strcmp(optarg, "random") == 0)
                opt.pattern = PAT_RANDOM;
            else if (strcmp(optarg, "broadcast") == 0 ||
                     strcmp(optarg, "bcast") == 0)
                opt.pattern = PAT_BCAST;
            else
                return usage_error("--pattern: '%s' is not ring, random or "
                                   "broadcast",
                                   optarg);
            break;
        case 'w':
            if (parse_u32(optarg, 1, 65536, &opt.window) < 0)
                return usage_error("--window: '%s' is not a number from 1 to "
                                   "65536",
                                   optarg);
            break;
        case 'c':
            opt.connect = 1;
            if ((c = add_connect(optarg)) != 0)
                return c;
            break;
        case OPT_MSGD:
            opt.msgd = optarg;
            break;
        case OPT_ID_PREFIX:
            opt.id_prefix = optarg;
            break;
        case OPT_SEED:
            errno = 0;
            opt.seed = strtoull(optarg, &end, 0);
            if (errno || *end || *optarg == '\0' || *optarg == '-')
                return usage_error("--seed: '%s' is not a number", optarg);
            seed_set = 1;
            break;
        case OPT_TIMEOUT:
            errno = 0;
            opt.timeout_s = strtod(optarg, &end);
            if (errno || *end || *optarg == '\0' || !(opt.timeout_s > 0) ||
                opt.timeout_s > 1e7)
                return usage_error("--timeout: '%s' is not a positive number "
                                   "of seconds",
                                   optarg);
            opt.timeout_set = 1;
            break;
        case OPT_DURATION:
            errno = 0;
            opt.duration_s = strtod(optarg, &end);
            if (errno || *end || *optarg == '\0' || !(opt.duration_s > 0) ||
                opt.duration_s > 1e7)
                return usage_error("--duration: '%s' is not a positive "
                                   "number of seconds",
                                   optarg);
            break;
        case OPT_JSON:
            opt.json = 1;
            break;
        case OPT_TLS:
            opt.tls = 1;
            break;
        case OPT_CA:
            opt.tls_opt.ca_file = optarg;
            opt.tls_opts = 1;
            break;
        case OPT_CERT:
            opt.tls_opt.cert_file = optarg;
            opt.tls_opts = 1;
            break;
        case OPT_KEY:
            opt.tls_opt.key_file = optarg;
            opt.tls_opts = 1;
            break;
        case OPT_USER:
            opt.user = optarg;
            break;
        case OPT_PASSWORD_FILE:
            opt.password_file = optarg;
            break;
        case OPT_AUTH:
            opt.auth = 1;
            break;
        case OPT_SESSIONS:
            opt.sessions = 1;
            break;
        case OPT_CHAOS:
            errno = 0;
            opt.chaos = strtod(optarg, &end);
            if (errno || *end || *optarg == '\0' || !(opt.chaos >= 0) ||
                opt.chaos > 1e6)
                return usage_error("--chaos: '%s' is not a number of cuts "
                                   "per second",
                                   optarg);
            break;
        case 'q':
            opt.quiet = 1;
            break;
        case 'V':
            printf("msgsim %s\n", PACKAGE_VERSION);
            *exit_now = 1;
            return 0;
        case 'h':
            usage(stdout);
            *exit_now = 1;
            return 0;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    /* With --duration, M is only an upper bound, and the run may take
     * that long before the usual timeout starts to matter. */
    if (opt.duration_s > 0) {
        if (!opt.messages_set)
            opt.messages = UINT32_MAX - 1;
        if (!opt.timeout_set)
            opt.timeout_s = opt.duration_s + 60;
    }
    if (opt.connect && opt.msgd)
        return usage_error("--connect and --msgd exclude each other");
    if (opt.connect && opt.tls) /* --tls: every address is tls:// */
        for (uint32_t i = 0; i < naddrs; i++)
            addrs[i].tls = 1;
    int any_tls = opt.tls;
    for (uint32_t i = 0; i < naddrs; i++)
        any_tls |= addrs[i].tls;
    if (opt.tls_opts && !opt.connect)
        return usage_error("--ca, --cert and --key are for --connect "
                           "tls://...; with --tls, msgsim makes its own "
                           "msgd's certificates");
    if (opt.tls_opts && !any_tls)
        return usage_error("--ca, --cert and --key need a tls:// address "
                           "or --tls");
    if (opt.tls_opt.key_file && opt.tls_opt.cert_file == NULL)
        return usage_error("--key needs --cert");
    if (any_tls && !mc_tls_available())
        return usage_error("TLS not built in (msgsim was built without "
                           "OpenSSL)");
    if (opt.auth && opt.connect)
        return usage_error("--auth is for msgsim's own msgd; with --connect, "
                           "give --user and --password-file");
    if ((opt.user || opt.password_file) && !opt.connect)
        return usage_error("--user and --password-file are for --connect; "
                           "msgsim's own msgd takes --auth");
    if (opt.user && opt.password_file == NULL)
        return usage_error("--user needs --password-file");
    if (opt.password_file && opt.user == NULL)
        return usage_error("--password-file needs --user");
    if (opt.chaos > 0 && !opt.sessions)
        return usage_error("--chaos needs --sessions (without them a cut "
                           "loses what was in flight)");
    if (opt.user && !mc_valid_id(opt.user))
        return usage_error("--user: '%s' is not a user name (1-64 of A-Z a-z "
                           "0-9 . _ -)",
                           opt.user);
    if (naddrs > opt.nodes)
        return usage_error("--nodes: %" PRIu32 " nodes for %" PRIu32
                           " --connect addresses; each needs at least one",
                           opt.nodes, naddrs);
    if (!seed_set) {
        uint64_t x = mono_ns() ^ ((uint64_t)getpid() << 32);
        opt.seed = splitmix64(&x) >> 1;
    }
    return 0;
}

/* The node ids must be valid protocol ids: 1-64 of A-Z a-z 0-9 . _ - */
static int check_prefix(void)
{
    static char def[32];
    if (opt.id_prefix == NULL) {
        snprintf(def, sizeof def, "sim-%ld-", (long)getpid());
        opt.id_prefix = def;
    }
    size_t n = strlen(opt.id_prefix);
    char last[16];
    int digits = snprintf(last, sizeof last, "%" PRIu32, opt.nodes - 1);
    if (strspn(opt.id_prefix, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                              "qrstuvwxyz0123456789._-") != n)
        return usage_error("--id-prefix: '%s' has characters a node id "
                           "cannot hold (A-Z a-z 0-9 . _ -)",
                           opt.id_prefix);
    if (n + (size_t)digits > MC_MAX_ID)
        return usage_error("--id-prefix: '%s' makes ids longer than %d",
                           opt.id_prefix, MC_MAX_ID);
    return 0;
}

/* One descriptor per node, plus a few. */
static int raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 0;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur != RLIM_INFINITY &&
        (uint64_t)opt.nodes + 32 > (uint64_t)rl.rlim_cur) {
        say("%" PRIu32 " nodes need %" PRIu32
            " descriptors; the limit is %llu (ulimit -n)",
            opt.nodes, opt.nodes + 32, (unsigned long long)rl.rlim_cur);
        return -1;
    }
    return 0;
}

/* --connect: the TLS context and the password, loaded once for every
 * node.  0, or -1 after saying why (the files are the user's input). */
static int connect_setup(void)
{
    char err[512];
    int any_tls = 0;
    for (uint32_t i = 0; i < naddrs; i++)
        any_tls |= addrs[i].tls;
    if (any_tls && (sim_tls = mc_tls_new(&opt.tls_opt, err, sizeof err)) ==
                       NULL) {
        say("%s", err);
        return -1;
    }
    if (opt.password_file) {
        FILE *f = fopen(opt.password_file, "re");
        if (f == NULL) {
            say("cannot read the password file %s: %s", opt.password_file,
                strerror(errno));
            return -1;
        }
        setvbuf(f, NULL, _IONBF, 0);
        int ok = fgets(password, sizeof password, f) != NULL;
        fclose(f);
        password[strcspn(password, "\r\n")] = '\0';
        if (!ok || *password == '\0') {
            say("the password file %s is empty", opt.password_file);
            return -1;
        }
    }
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = interrupted + 1;
}

int main(int argc, char **argv)
{
    struct own_msgd own = {.pid = 0};
    struct result res = {.msgd_status = -2};
    static char loopback[] = "127.0.0.1", portbuf[16], text[32];
    static struct addr own_addr = {.host = loopback, .port = portbuf};
    int exit_now, rc;

    if ((rc = parse_options(argc, argv, &exit_now)) != 0 || exit_now)
        return rc;
    if ((rc = check_prefix()) != 0)
        return rc;

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    show_progress = !opt.quiet && isatty(STDERR_FILENO);
    if (raise_nofile() < 0)
        return EXIT_FAILURE;
    uint64_t x = opt.seed;
    rng_state = splitmix64(&x) | 1;
    x = mono_ns() ^ (uint64_t)getpid();
    run_tag = (uint32_t)splitmix64(&x);
    alloc_state();
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        say("epoll_create1: %s", strerror(errno));
        return EXIT_FAILURE;
    }

    if (opt.connect && connect_setup() < 0)
        return EX_NOINPUT;

    st.t_begin = mono_ns();
    if (!opt.connect) {
        if (own_start(&own) < 0) {
            own_stop(&own);
            if (own.dir[0])
                remove_dir(own.dir);
            return EX_UNAVAILABLE;
        }
        snprintf(portbuf, sizeof portbuf, "%d", own.port);
        snprintf(text, sizeof text, "127.0.0.1:%d", own.port);
        own_addr.text = text;
        own_addr.tls = opt.tls;
        addrs = &own_addr;
        naddrs = 1;
    }
    if (connect_all() < 0) {
        for (uint32_t i = 0; i < opt.nodes; i++)
            node_close(&nodes[i]);
        if (!opt.connect) {
            own_stop(&own);
            remove_dir(own.dir);
        }
        return interrupted ? EXIT_FAILURE : EX_UNAVAILABLE;
    }
    st.t_progress = mono_ns();
    run_loop();

    if (!opt.connect) {
        res.msgd_status = own_stop(&own);
        if (res.msgd_status == 0)
            remove_dir(own.dir);
        else
            say("msgd exited with status %d; its files are in %s",
                res.msgd_status, own.dir);
    }
    sodium_memzero(password, sizeof password);
    mc_tls_free(sim_tls);
    judge(&res);
    if (opt.json)
        report_json(&res);
    else
        report_text(&res);
    fflush(stdout);
    /* An instance that never saw every node is a set-up failure, as an
     * address that cannot be reached. */
    return res.ok ? 0 : st.unconverged ? EX_UNAVAILABLE : EXIT_FAILURE;
}
