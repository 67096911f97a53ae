/* msgclient.h: libmsgclient, the C client of msgd's wire protocol
 * (msgd-protocol(7)).  One struct mc_client per connection.  Usable two
 * ways:
 *
 *  - blocking, for simple programs: mc_connect, mc_register, mc_send ...,
 *    mc_wait_event, mc_sync;
 *  - non-blocking, from the caller's own poll/epoll loop: watch mc_fd()
 *    for reading (and for writing while mc_want_write()), call mc_read()
 *    and mc_flush() when ready, and drain events with mc_next_event().
 *
 * Commands are queued (never block); replies and messages come back as
 * events in the order the server sent them.  Errors are returned, never
 * printed; mc_error() says what went wrong last.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGCLIENT_H
#define MSGCLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MC_MAX_ID 64

enum mc_event_type {
    MC_EV_OK,   /* HELLO accepted: id = our id, idle = the server's idle_timeout
                 */
    MC_EV_MSG,  /* a message: from, to ("*" for a broadcast), data, len */
    MC_EV_ERR,  /* a refused command: code (e.g. "unknown-node"), detail */
    MC_EV_PONG, /* reply to PING: data/len = the token (len 0 if none) */
    MC_EV_NODES, /* reply to WHO: nodes[0..nnodes) */
    MC_EV_BYE,   /* the server is closing: code = reason, detail = text */
    MC_EV_CLOSED, /* the connection is gone (after BYE, or EOF/error) */
    MC_EV_AUTH,   /* AUTH accepted ("OK auth NAME"): id = the user name */
    /* Sessions only (mc_session_enable): */
    MC_EV_DISCONNECTED, /* the connection dropped; the library reconnects:
                         * detail = why.  mc_fd is -1 until it is back. */
    MC_EV_RESUMED,      /* connected again, session resumed: id = our id.
                         * mc_fd has changed.  Nothing was lost unless an
                         * MC_EV_LOST came just before. */
    MC_EV_LOST          /* messages to us were dropped by the server: len =
                         * how many (0 when a resume had to start a new
                         * session but the old one kept nothing) */
};

struct mc_event {
    enum mc_event_type type;
    const char *id;   /* OK; AUTH: the user */
    const char *from; /* MSG */
    const char *to;   /* MSG */
    int broadcast;    /* MSG: to is "*" */
    const void *data; /* MSG payload, PONG token */
    size_t len;
    const char *code;   /* ERR code, BYE reason */
    const char *detail; /* ERR detail, BYE text; "" when none */
    double idle;        /* OK: idle timeout in seconds, 0 = none, -1 unknown */
    const char *const *nodes; /* NODES */
    size_t nnodes;
};
/* Pointers in an event stay valid until the next call on the same client. */

struct mc_client;
struct mc_tls;

/* A new, unconnected client.  max_message: the largest payload it will
 * accept from the server, and send (0: 65536, the server's default). */
struct mc_client *mc_new(size_t max_message);
void mc_free(struct mc_client *c);

/* Connects to host:port (IPv4, IPv6 or a name), waiting at most timeout_ms
 * (-1: no limit).  The socket is non-blocking from then on.  0 or -1. */
int mc_connect(struct mc_client *c, const char *host, const char *port,
               int timeout_ms);
/* Closes the connection (the client can connect again; mc_free frees it).
 * Connecting again also forgets everything queued or received before. */
void mc_close(struct mc_client *c);
int mc_fd(const struct mc_client *c);

/* ---- TLS ---- */

/* 1 if this libmsgclient was built with TLS (OpenSSL); without it,
 * mc_tls_new fails with "TLS not built in". */
int mc_tls_available(void);

struct mc_tls_options {
    const char *ca_file;   /* PEM CAs to trust; NULL: the system's store */
    const char *cert_file; /* client certificate (PEM chain), or NULL */
    const char *key_file;  /* its private key; NULL: in cert_file */
    /* The name to verify and send as SNI; NULL: the host given to
     * mc_connect_tls (an IP address is checked against IP SANs). */
    const char *server_name;
    /* 1: accept any server certificate.  Anyone on the path can then read
     * and change the traffic, passwords included: for tests only. */
    int no_verify;
};

/* A TLS client context: the files are loaded once, here, and the result
 * serves any number of clients (and may be freed while they live).  NULL
 * on failure, with err filled ("cannot load CA file PATH: ..."). */
struct mc_tls *mc_tls_new(const struct mc_tls_options *o, char *err,
                          size_t errlen);
void mc_tls_free(struct mc_tls *t);
/* As mc_connect, then the TLS handshake, all within timeout_ms.  The
 * server's certificate and name are verified unless t says no_verify;
 * the error then reads "TLS handshake with HOST:PORT failed: certificate
 * verify failed (...)".  Everything else works as over TCP. */
int mc_connect_tls(struct mc_client *c, const char *host, const char *port,
                   struct mc_tls *t, int timeout_ms);
/* Bytes already received and decrypted but not yet taken by mc_read,
 * which poll(2) does not see: while it is not 0, call mc_read without
 * waiting for the descriptor.  Always 0 over plain TCP. */
int mc_pending(const struct mc_client *c);
/* Text of the last error, with its context (e.g. "cannot connect to
 * HOST:PORT: Connection refused", "protocol error from the server: ..."). */
const char *mc_error(const struct mc_client *c);

/* Queue commands; 0, or -1 if the arguments are invalid (bad id, payload
 * larger than max_message) or the connection is closed.  Nothing is sent
 * until mc_flush (or a blocking call). */
int mc_hello(struct mc_client *c, const char *id);
int mc_send(struct mc_client *c, const char *to, const void *data, size_t len);
int mc_bcast(struct mc_client *c, const void *data, size_t len);
int mc_who(struct mc_client *c);
/* token: NULL, or one word (no space, no control byte) of at most 1000
 * bytes */
int mc_ping(struct mc_client *c, const char *token);
int mc_quit(struct mc_client *c);
/* AUTH user secret (before HELLO).  user: 1 to 64 of A-Z a-z 0-9 . _ -;
 * secret: 1 byte or more, no CR, LF or NUL.  The reply is an MC_EV_AUTH
 * event, or MC_EV_ERR auth-failed.  The library wipes its copy of the
 * secret from its output buffer once written to the socket (or when the
 * connection closes); the caller's copy, the kernel's socket buffer and
 * the server are outside its reach. */
int mc_auth(struct mc_client *c, const char *user, const char *secret);

/* ---- non-blocking use ---- */

/* 1 while queued output is waiting to be written (or, over TLS, while a
 * read waits for the socket to be writable). */
int mc_want_write(const struct mc_client *c);
/* Writes what the socket takes: 0 all written, 1 some left, -1 error.
 * Over TLS, a write may wait for the socket to be readable (mc_read then
 * lets it go on); mc_want_write is 0 meanwhile. */
int mc_flush(struct mc_client *c);
/* Reads what is available with one read(2) (edge-triggered users call it
 * until it returns 0; over TLS, one record and what else is decrypted
 * already, and see mc_pending): >0 bytes read, 0 nothing now (EAGAIN, or
 * max_message + 64 MiB of events are waiting to be taken), -1 closed or
 * failed (an MC_EV_CLOSED event follows from mc_next_event). */
int mc_read(struct mc_client *c);
/* The next whole event received: 1 (ev filled), 0 none yet, -1 the server
 * broke the protocol (mc_error says how; an MC_EV_CLOSED follows). */
int mc_next_event(struct mc_client *c, struct mc_event *ev);

/* ---- blocking use ---- */

/* Flushes, then waits for the next event: 1, 0 on timeout, -1 on error. */
int mc_wait_event(struct mc_client *c, struct mc_event *ev, int timeout_ms);
/* HELLO and wait for its answer: 0 registered, 1 refused (ERR code in
 * *code if code is not NULL: "id-taken", "bad-id", "server-full", ...),
 * -1 error/timeout (or BYE: then *code is its reason).  Call it with no
 * other command awaiting a reply.  Events that arrive first are kept for
 * mc_next_event. */
int mc_register(struct mc_client *c, const char *id, const char **code,
                int timeout_ms);
/* AUTH and wait for its answer: 0 accepted, 1 refused (*code:
 * "auth-failed", or another ERR code), -1 error/timeout or BYE (*code is
 * its reason, e.g. "auth-failed" after too many failures).  As
 * mc_register: no other command awaiting a reply, earlier events kept. */
int mc_login(struct mc_client *c, const char *user, const char *secret,
             const char **code, int timeout_ms);
/* PING as a barrier: returns once every earlier command has been handled.
 * 0, or -1 on error/timeout.  Events before the PONG are kept for
 * mc_next_event, in order; *errors (if not NULL) counts the ERR among
 * them. */
int mc_sync(struct mc_client *c, int timeout_ms, int *errors);

/* ---- sessions: nothing lost across a reconnect ---- */

struct mc_session_options {
    unsigned ack_every;   /* ACK after this many messages (0: 32) */
    int ack_ms;           /* ... or this long after the first unACKed one
                           * (0: 200; -1: only by count) */
    int reconnect_min_ms; /* first retry after 0..this (0: 100) */
    int reconnect_max_ms; /* the backoff doubles up to this (0: 5000) */
    int connect_timeout_ms; /* one attempt: connect, TLS, (0: 5000) */
};

/* Asks for a session (msgd-protocol(7), SESSIONS): call it before mc_auth
 * or mc_login (whose credentials are then kept for re-login) and before
 * mc_hello or mc_register (which then send HELLO id session).  o: NULL
 * for the defaults.  From then on the library, by itself:
 *  - numbers every SEND and BCAST and keeps it until the server has
 *    confirmed it;
 *  - ACKs what it hands out, every ack_every messages or ack_ms;
 *  - when the connection drops (end of file, error, idle timeout, slow
 *    consumer), hands out MC_EV_DISCONNECTED and reconnects with
 *    exponential backoff and jitter (TLS and AUTH as the first time),
 *    resumes the session, hides messages already handed out, sends again
 *    the commands the server never read, and hands out MC_EV_RESUMED;
 *  - hands out MC_EV_LOST when the server reports messages lost (lost= in
 *    its OK), or when a resume comes too late and a new session starts.
 * mc_send and friends keep working while it is down: commands wait.
 * QUIT, a kick or a replace end the session (then MC_EV_BYE and
 * MC_EV_CLOSED as without one).  A server with sessions off
 * (session_hold = 0) answers without a token: the client goes on
 * without a session.  0, or -1 (out of memory). */
int mc_session_enable(struct mc_client *c, const struct mc_session_options *o);
/* For the non-blocking use: does what is due (an ACK by time; a
 * reconnect attempt, which may block up to connect_timeout_ms) and
 * returns the milliseconds until it wants to be called again (-1:
 * nothing planned).  Call it when that time has passed and after each
 * batch of events.  After a reconnect attempt mc_fd may have changed:
 * re-read it (and re-register it with epoll) after MC_EV_DISCONNECTED
 * and MC_EV_RESUMED, and whenever it differs from the one watched. */
int mc_session_tick(struct mc_client *c);
/* 1 while a session is live (connected or reconnecting), else 0. */
int mc_session_active(const struct mc_client *c);

struct mc_session_stats {
    unsigned long long disconnects; /* connections that dropped */
    unsigned long long resumes;     /* sessions resumed */
    unsigned long long new_sessions; /* resumes that got a new session */
    unsigned long long lost;        /* messages reported lost */
    unsigned long long duplicates;  /* redelivered messages hidden */
    unsigned long long resent;      /* commands sent again at a resume */
};
void mc_session_stats(const struct mc_client *c, struct mc_session_stats *s);

/* The idle timeout the server announced at HELLO (-1: unknown). */
double mc_server_idle(const struct mc_client *c);
/* The largest payload the server accepts (its max_message_size, announced
 * at HELLO; 0: unknown).  Sending more makes it close the connection. */
long long mc_server_max_message(const struct mc_client *c);
/* 1 if s is a node id: 1 to 64 of A-Z a-z 0-9 . _ - */
int mc_valid_id(const char *s);

#ifdef __cplusplus
}
#endif

#endif
