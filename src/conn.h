/* conn.h: one client connection: its buffers, its state from accept to
 * close, and the counters shown by msgctl list.  A connection is closed in
 * steps (queue BYE, flush, half-close, drain, free) and is only freed at
 * the end of a loop pass, so nothing walking it ever sees it vanish.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_CONN_H
#define MSGD_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "outq.h"
#include "proto.h"
#include "server.h"
#include "transport.h"

enum conn_state {
    CONN_OPEN,      /* reading commands */
    CONN_CLOSING,   /* final BYE queued: flushing, no more reading */
    CONN_LINGER,    /* flushed and half-closed: discarding input until EOF */
    CONN_DEAD,      /* to be freed at the end of the pass */
    CONN_HANDSHAKE, /* the transport's opening exchange (TLS), not read */
    CONN_HELD, /* no connection: a session's stand-in, holding its id */
};

/* Why a connection ended; the names are client_log's disconnect reasons. */
enum conn_reason {
    CR_QUIT,
    CR_EOF,
    CR_IDLE,
    CR_KICKED,
    CR_SHUTDOWN,
    CR_PROTOCOL,
    CR_SLOW,
    CR_REPLACED,
    CR_ERROR,
    CR_AUTH_FAILED, /* max_failures failed AUTHs */
};

/* Why an open connection is not being read (besides a HELLO waiting). */
enum conn_block {
    BLOCK_NONE,
    BLOCK_RECEIVER, /* its messages wait for a receiver to drain */
    BLOCK_INPUT,    /* partial frames have taken max_input_total */
    BLOCK_RATE,     /* over its rate_limit until its bucket refills */
};

struct auth_job;
struct peer;
struct session;

/* What a connection has to do with security: its user, an AUTH being
 * checked, its rate bucket.  Made when first needed, so that a node of a
 * daemon without auth, acl or rate_limit pays for a pointer only. */
struct conn_sec {
    char *user;           /* authenticated (AUTH or certificate), or NULL */
    struct auth_job *job; /* an AUTH being checked, or NULL */
    uint32_t failures;    /* failed AUTHs on this connection */
    uint8_t by_cert;      /* user is the client certificate's CN */
    double msg_tokens, byte_tokens; /* rate_limit's buckets */
    int64_t refill_ms;
    struct timer rate_timer; /* reads again once the bucket refills */
    struct conn *c;
};

struct conn {
    struct ev ev; /* first: epoll hands this back */
    uint8_t state;
    uint8_t registered;
    uint8_t dirty;
    uint8_t idlen;
    uint8_t paused;   /* HELLO waits for its cluster reservation: no reading */
    uint8_t blocked;  /* not read either: enum conn_block */
    uint8_t heard;    /* some input was read */
    uint32_t events;  /* the events the connection waits for */
    uint32_t ev_mask; /* in force: events and what the transport waits for */
    const struct transport *tp; /* how it reads and writes (transport.h) */
    void *tp_st;                /* the transport's state; NULL for TCP */
    struct peer *peer;          /* its address's entry (peers.h) */
    struct conn_sec *sec;       /* NULL until needed */
    struct session *sess;       /* its session (sessions.h), or NULL */
    uint32_t in_len, in_cap, in_need;
    char *in; /* a partial frame carried between reads; NULL when none */
    LIST_ENTRY(conn) all_link;    /* srv.all */
    TAILQ_ENTRY(conn) reg_link;   /* the router's registration order */
    SLIST_ENTRY(conn) dirty_link; /* conn.c's dirty or dead list */
    struct timer timer; /* idle, then the flush and linger deadlines */
    struct outq out;
    int64_t progress_ms; /* last write progress, or when output began to wait */
    struct conn_list waiters; /* senders blocked until this one drains */
    /* The list this one is blocked in (a receiver's waiters, or conn.c's
     * gated or woken), NULL when none. */
    LIST_ENTRY(conn) wait_link;
    struct conn_list *wait_list;
    int64_t connected_ms, active_ms;
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
    uint64_t kv_rev; /* cluster: the revision of our key for this id */
    char id[PROTO_MAX_ID + 1];
    char addr[ADDR_STR_MAX];
    /* The idle_timeout announced in this node's OK, which it keeps when a
     * reload lowers the setting: 10 ms units rounded up (a year fits; in
     * what was the tail padding), 0 before OK, CONN_IDLE_NEVER for idle=0. */
    uint32_t idle_told;
    int64_t hold_until_ms; /* CONN_HELD: when the hold runs out */
};

#define CONN_IDLE_NEVER UINT32_MAX

/* Takes an accepted socket (already non-blocking and close-on-exec) that
 * speaks through tp.  NULL when it cannot: the caller closes fd. */
struct conn *conn_new(int fd, const char *addr, const struct transport *tp);
/* The name of c's transport: "tcp", "tls". */
const char *conn_transport(const struct conn *c);
/* c's security state, made when absent; NULL (and c closed) when memory
 * ran out. */
struct conn_sec *conn_sec(struct conn *c);
/* c's user, or NULL. */
const char *conn_user(const struct conn *c);
/* Counts a message of bytes against c's rate_limit; when the bucket runs
 * dry, c is not read until it refills (the frames wait in the socket). */
void conn_charge(struct conn *c, size_t bytes);
/* Queues bytes for c.  Returns 0, or -1 when c is not open or was just cut
 * off as a slow consumer. */
int conn_send(struct conn *c, const void *data, size_t n);
/* Queues one delivered message: header, payload, LF. */
int conn_deliver(struct conn *c, const char *hdr, size_t hlen,
                 const char *payload, size_t plen);
/* A SEND from from to to: as conn_deliver, with push-back.  Returns 1 when
 * to has no room for it yet: nothing is queued, and from is not read until
 * to drains (the frame stays unread with from).  After queueing, from is
 * also not read while to's queue is over the high-water mark. */
int conn_deliver_from(struct conn *from, struct conn *to, const char *hdr,
                      size_t hlen, const char *payload, size_t plen);
/* Queues the len bytes at off of a shared block (a broadcast's MSG, plen
 * bytes of payload). */
int conn_deliver_shared(struct conn *c, struct shared *sh, uint32_t off,
                        size_t len, size_t plen);
/* The same for a message already counted (a session's kept frame). */
int conn_deliver_shared_nocount(struct conn *c, struct shared *sh,
                                uint32_t off, size_t len);
/* Queues whole frames of sh past every output bound: a resumed session's
 * kept frames, whose memory is already held.  0, or -1 (c closed). */
int conn_queue_shared(struct conn *c, struct shared *sh, uint32_t off,
                      size_t len);
/* A stand-in for c's session while it is held: c's id, address, user and
 * counters, no socket, its timer set to session_hold.  Not registered yet
 * (router_swap does that).  NULL without memory. */
struct conn *conn_new_held(const struct conn *c);
/* Frees a stand-in at the end of the pass. */
void conn_drop_held(struct conn *c);
/* Logs that memory ran out for output. */
void conn_out_of_memory(void);
/* Queues "ERR code[ detail]". */
void conn_err(struct conn *c, enum proto_err err, const char *detail,
              size_t dlen);
/* Ends c: unregisters it, logs the disconnect, queues "BYE reason[ text]"
 * when the reason has one, and flushes before closing.  No effect unless c
 * is open. */
void conn_close(struct conn *c, enum conn_reason why, const char *text);
/* As conn_close, with what only the caller knows for the disconnect line:
 * the ERR code that ended a protocol-error (error), the instance a kick
 * came from (origin).  Either may be NULL. */
void conn_close_why(struct conn *c, enum conn_reason why, const char *text,
                    const char *error, const char *origin);
const char *conn_reason_name(enum conn_reason why);
/* Stops reading c: its HELLO waits for the cluster's reservation.  The
 * commands that arrive meanwhile wait in its input. */
void conn_pause(struct conn *c);
/* Ends a pause: runs the commands that arrived meanwhile and reads again. */
void conn_resume(struct conn *c);
/* Called by the loop once per pass, in this order. */
void conn_flush_dirty(void);
void conn_wake(void); /* reads again the connections that may go on */
void conn_reap(void);
/* Whether the loop has a flush or a reap to do before it may sleep. */
int conn_work_pending(void);
/* At exit: frees every connection without a word to it. */
void conn_free_all(void);
/* Re-arms every open connection's idle timer after idle_timeout changed. */
void conn_rearm_all(void);
/* Records that c was told the current idle_timeout (its OK went out). */
void conn_idle_announced(struct conn *c);

#endif
