/* natslink.h: the NATS side of cluster support.  libnats runs its own
 * threads and its calls block (key-value requests wait for a reply), so
 * none of it runs in msgd's loop: the loop hands jobs to this module's
 * threads through lock-free queues and an eventfd each way, and gets
 * events back the same way.  Nothing here touches msgd's state.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_NATSLINK_H
#define MSGD_NATSLINK_H

#include <stddef.h>
#include <stdint.h>

#include "mpscq.h"

enum nl_kind {
    /* loop -> link */
    NL_PUBLISH, /* a = subject, b = payload */
    NL_RESERVE, /* a = key, b = owner value; flag: take over if held */
    NL_RELEASE, /* a = key; rev: delete only if still at this revision */
    /* link -> loop */
    NL_UP,         /* connected and set up (a = server URL) */
    NL_DOWN,       /* connection lost (a = why) */
    NL_DATA,       /* b = a batch for this instance */
    NL_HEARTBEAT,  /* b = a heartbeat */
    NL_DIR_RESET,  /* the directory is about to be sent again from scratch */
    NL_DIR_PUT,    /* a = key, b = owner value, rev */
    NL_DIR_DEL,    /* a = key */
    NL_DIR_READY,  /* the directory's initial values are all sent */
    NL_RESERVED,   /* token, status; rev; b = previous owner when taken over */
    NL_LOG,        /* status = log level, a = message, b = detail */
    NL_BUCKET_NEW, /* the id bucket was deleted and is made again (flag 1
                      by us): claim every id into it */
};

enum nl_status { NL_OK, NL_TAKEN, NL_UNAVAILABLE };

/* One job or event: a node of the queues, with two byte strings.  b is
 * allocated with room to grow, so that the loop can build a batch in place
 * (cap bytes from b). */
struct nl_msg {
    struct mpsc_node node; /* first */
    uint8_t kind;
    uint8_t flag;
    uint8_t status;
    uint64_t rev;
    uint64_t token;
    char *a, *b;
    size_t alen, blen, cap;
    char data[];
};

struct nl_msg *nl_msg_new(enum nl_kind kind, const char *a, size_t alen,
                          const char *b, size_t blen, size_t cap);
void nl_msg_free(struct nl_msg *m);

struct nl_config {
    const char *const *urls;
    int nurls;
    const char *bucket;       /* key-value bucket of node ids */
    const char *data_subject; /* this instance's batches arrive here */
    const char *hb_subject;   /* everyone's heartbeats */
    const char *name;         /* connection name, as NATS shows it */
    /* Credentials, at most one kind (paths; NULL when unset).  libnats
     * reads creds and nkey_seed again at every (re)connect; the token and
     * the password are read once, here. */
    const char *creds, *nkey_seed, *token_file, *user, *password_file;
    /* TLS to NATS: on with tls set or any tls:// URL.  ca NULL: the
     * system's CAs; cert and key: a client certificate. */
    int tls;
    const char *tls_ca, *tls_cert, *tls_key;
};

/* Starts the threads and begins connecting (in the background: NATS being
 * down at start is not an error).  Returns the eventfd the loop watches,
 * or -1 with err set. */
int nl_start(const struct nl_config *cfg, char *err, size_t errlen);
/* Hands a job over (loop side). */
void nl_submit(struct nl_msg *m);
/* Takes every pending event, oldest first (loop side). */
struct nl_msg *nl_take(void);
/* Reads the eventfd so that it can signal again; then call nl_take. */
void nl_clear_wakeup(void);
/* Bytes of jobs submitted and not yet done, and publishes that failed. */
uint64_t nl_pending_bytes(void);
uint64_t nl_publish_failures(void);
/* Finishes queued jobs for at most deadline_ms, then disconnects and joins
 * the threads. */
void nl_stop(int deadline_ms);

#endif
